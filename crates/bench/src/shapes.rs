//! The measured shapes: each side (store or raw ceiling) runs a fixed count and returns a sample.

use anyhow::{Context, Result, bail};
use chrono::Utc;
use hdrhistogram::Histogram;
use partyedu_store::{AppendBatch, AppendError, EventStore, ExpectedVersion, NewEvent};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Events per stream in the single-event shapes: a class stream holds a handful of events.
pub const STREAM_LEN: u64 = 10;
pub const EVENT_TYPE: &str = "ClassHeld";
pub const ACTOR: &str = "user:bench";

/// What one run of one side measured.
pub struct Sample {
    pub events: u64,
    pub wall: Duration,
    /// Latency per call (one append, one INSERT), in microseconds.
    pub hist: Histogram<u64>,
    /// Version conflicts reported by the store (must stay 0).
    pub conflicts: u64,
}

impl Sample {
    pub fn new() -> Self {
        Self {
            events: 0,
            wall: Duration::ZERO,
            hist: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds"),
            conflicts: 0,
        }
    }

    pub fn record(&mut self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.hist.saturating_record(micros.max(1));
    }

    pub fn merge(&mut self, other: &Sample) {
        self.events += other.events;
        self.wall += other.wall;
        self.conflicts += other.conflicts;
        self.hist.add(&other.hist).expect("same histogram bounds");
    }

    pub fn rate(&self) -> f64 {
        self.events as f64 / self.wall.as_secs_f64()
    }

    pub fn p50_ms(&self) -> f64 {
        self.hist.value_at_quantile(0.50) as f64 / 1000.0
    }

    pub fn p99_ms(&self) -> f64 {
        self.hist.value_at_quantile(0.99) as f64 / 1000.0
    }

    pub fn mean_ms(&self) -> f64 {
        self.hist.mean() / 1000.0
    }
}

/// A realistic `ClassHeld` payload: title, start, 2.5 study hours, 20 attendees.
pub fn payload() -> Value {
    let attendees: Vec<String> = (0..20)
        .map(|i| format!("M-FS-{:04}", 102 + i * 37))
        .collect();
    json!({
        "class_id": "C-2024-017",
        "title": "习近平新时代中国特色社会主义思想培训学习班（第三期）",
        "form": "concentrated",
        "organizer_org_id": "SD-FSXQ",
        "venue_id": "V-SCHOOL",
        "starts_at": "2024-03-05T09:00:00+08:00",
        "duration_minutes": 180,
        "study_hours": 2.5,
        "lecturer_ids": ["L-01", "L-07"],
        "attendee_ids": attendees,
        "campaign": "今冬明春党员集中培训"
    })
}

pub fn metadata() -> Value {
    json!({ "correlation_id": Uuid::now_v7().to_string() })
}

pub fn new_event(stream: &str, payload: &Value) -> NewEvent {
    NewEvent {
        event_id: None,
        stream: stream.to_owned(),
        event_type: EVENT_TYPE.to_owned(),
        schema_version: 1,
        occurred_at: Some(Utc::now()),
        actor: ACTOR.to_owned(),
        data: payload.clone(),
        metadata: metadata(),
    }
}

/// The stream and version of the i-th single event of a run: streams of `STREAM_LEN` events.
fn slot(tag: &str, i: u64) -> (String, i64) {
    (
        format!("class:{tag}-{}", i / STREAM_LEN),
        (i % STREAM_LEN + 1) as i64,
    )
}

fn expect_before(version: i64) -> ExpectedVersion {
    if version == 1 {
        ExpectedVersion::NoStream
    } else {
        ExpectedVersion::Exact(version - 1)
    }
}

fn single(stream: String, version: i64, payload: &Value) -> AppendBatch {
    AppendBatch {
        events: vec![new_event(&stream, payload)],
        expected: vec![(stream, expect_before(version))],
        ..AppendBatch::default()
    }
}

fn is_conflict(err: &AppendError) -> bool {
    matches!(
        err,
        AppendError::VersionConflict { .. } | AppendError::ConcurrentAppend
    )
}

/// One single-event append per call from one client; streams of `STREAM_LEN`, exact versions.
pub async fn store_sequential(
    store: &EventStore,
    payload: &Value,
    n: u64,
    tag: &str,
) -> Result<Sample> {
    let mut sample = Sample::new();
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        let (stream, version) = slot(tag, i);
        match store.append(&single(stream, version, payload)).await {
            Ok(_) => {}
            Err(err) if is_conflict(&err) => sample.conflicts += 1,
            Err(err) => return Err(err).context("store append"),
        }
        sample.record(t.elapsed());
    }
    sample.wall = start.elapsed();
    sample.events = n;
    Ok(sample)
}

const RAW_INSERT: &str = "INSERT INTO raw_events \
    (event_id, stream, version, type, schema_version, occurred_at, actor, data, metadata) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8::json, $9::json)";

async fn raw_insert(pool: &PgPool, stream: &str, version: i64, payload: &Value) -> Result<()> {
    sqlx::query(RAW_INSERT)
        .bind(Uuid::now_v7())
        .bind(stream)
        .bind(version)
        .bind(EVENT_TYPE)
        .bind(1i32)
        .bind(Utc::now())
        .bind(ACTOR)
        .bind(serde_json::to_string(payload)?)
        .bind(serde_json::to_string(&metadata())?)
        .execute(pool)
        .await
        .context("raw insert")?;
    Ok(())
}

/// The ceiling of `store_sequential`: a plain single-row INSERT of the same row.
pub async fn raw_sequential(pool: &PgPool, payload: &Value, n: u64, tag: &str) -> Result<Sample> {
    let mut sample = Sample::new();
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        let (stream, version) = slot(tag, i);
        raw_insert(pool, &stream, version, payload).await?;
        sample.record(t.elapsed());
    }
    sample.wall = start.elapsed();
    sample.events = n;
    Ok(sample)
}

/// `writers` tasks running `run(events, tag)` at once, `n` events in all; their samples merged.
async fn concurrently<F, Fut>(writers: u64, n: u64, tag: &str, run: F) -> Result<Sample>
where
    F: Fn(u64, String) -> Fut,
    Fut: std::future::Future<Output = Result<Sample>> + Send + 'static,
{
    let per_writer = n / writers;
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| tokio::spawn(run(per_writer, format!("{tag}-w{w}"))))
        .collect();
    let mut all = Sample::new();
    for task in tasks {
        all.merge(&task.await??);
    }
    all.wall = start.elapsed();
    Ok(all)
}

/// `writers` tasks, each appending single events to its own streams; `n` events in all.
pub async fn store_concurrent(
    store: &EventStore,
    payload: &Arc<Value>,
    writers: u64,
    n: u64,
    tag: &str,
) -> Result<Sample> {
    concurrently(writers, n, tag, |count, tag| {
        let (store, payload) = (store.clone(), Arc::clone(payload));
        async move { store_sequential(&store, &payload, count, &tag).await }
    })
    .await
}

/// The ceiling of `store_concurrent`: the same writers doing plain INSERTs.
pub async fn raw_concurrent(
    pool: &PgPool,
    payload: &Arc<Value>,
    writers: u64,
    n: u64,
    tag: &str,
) -> Result<Sample> {
    concurrently(writers, n, tag, |count, tag| {
        let (pool, payload) = (pool.clone(), Arc::clone(payload));
        async move { raw_sequential(&pool, &payload, count, &tag).await }
    })
    .await
}

/// Batches of `size` events, each batch a new stream (expected: no stream), one client.
pub async fn store_batches(
    store: &EventStore,
    payload: &Value,
    size: u64,
    batches: u64,
    tag: &str,
) -> Result<Sample> {
    let mut sample = Sample::new();
    let start = Instant::now();
    for b in 0..batches {
        let t = Instant::now();
        let stream = format!("class:{tag}-{b}");
        let batch = AppendBatch {
            events: (0..size).map(|_| new_event(&stream, payload)).collect(),
            expected: vec![(stream, ExpectedVersion::NoStream)],
            ..AppendBatch::default()
        };
        match store.append(&batch).await {
            Ok(_) => {}
            Err(err) if is_conflict(&err) => sample.conflicts += 1,
            Err(err) => return Err(err).context("store batch append"),
        }
        sample.record(t.elapsed());
    }
    sample.wall = start.elapsed();
    sample.events = size * batches;
    Ok(sample)
}

const RAW_UNNEST: &str = "INSERT INTO raw_events \
    (event_id, stream, version, type, schema_version, occurred_at, actor, data, metadata) \
    SELECT e, s, v, t, sv, o, a, d::json, m::json \
    FROM UNNEST($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::int[], \
                $6::timestamptz[], $7::text[], $8::text[], $9::text[]) \
         AS u(e, s, v, t, sv, o, a, d, m)";

/// The ceiling of `store_batches`: one `INSERT … SELECT FROM UNNEST(…)` per batch.
pub async fn raw_batches(
    pool: &PgPool,
    payload: &Value,
    size: u64,
    batches: u64,
    tag: &str,
) -> Result<Sample> {
    let mut sample = Sample::new();
    let start = Instant::now();
    let len = size as usize;
    for b in 0..batches {
        let t = Instant::now();
        let stream = format!("class:{tag}-{b}");
        let mut ids = Vec::with_capacity(len);
        let mut streams = Vec::with_capacity(len);
        let mut versions = Vec::with_capacity(len);
        let mut types = Vec::with_capacity(len);
        let mut schema_versions = Vec::with_capacity(len);
        let mut occurred = Vec::with_capacity(len);
        let mut actors = Vec::with_capacity(len);
        let mut data = Vec::with_capacity(len);
        let mut meta = Vec::with_capacity(len);
        for v in 1..=size {
            ids.push(Uuid::now_v7());
            streams.push(stream.clone());
            versions.push(v as i64);
            types.push(EVENT_TYPE.to_owned());
            schema_versions.push(1i32);
            occurred.push(Utc::now());
            actors.push(ACTOR.to_owned());
            data.push(serde_json::to_string(payload)?);
            meta.push(serde_json::to_string(&metadata())?);
        }
        sqlx::query(RAW_UNNEST)
            .bind(&ids)
            .bind(&streams)
            .bind(&versions)
            .bind(&types)
            .bind(&schema_versions)
            .bind(&occurred)
            .bind(&actors)
            .bind(&data)
            .bind(&meta)
            .execute(pool)
            .await
            .context("raw unnest insert")?;
        sample.record(t.elapsed());
    }
    sample.wall = start.elapsed();
    sample.events = size * batches;
    Ok(sample)
}

/// Fills one stream to `fill` events with batches of 1,000 through the store.
pub async fn fill_stream(
    store: &EventStore,
    payload: &Value,
    stream: &str,
    fill: u64,
) -> Result<()> {
    let mut version = 0u64;
    while version < fill {
        let size = (fill - version).min(1_000);
        let batch = AppendBatch {
            events: (0..size).map(|_| new_event(stream, payload)).collect(),
            expected: vec![(
                stream.to_owned(),
                if version == 0 {
                    ExpectedVersion::NoStream
                } else {
                    ExpectedVersion::Exact(version as i64)
                },
            )],
            ..AppendBatch::default()
        };
        store
            .append(&batch)
            .await
            .context("filling the long stream")?;
        version += size;
    }
    Ok(())
}

/// `count` single-event appends to `stream`, which holds `from` events; returns the sample.
pub async fn append_run(
    store: &EventStore,
    payload: &Value,
    stream: &str,
    from: u64,
    count: u64,
    sample: &mut Sample,
) -> Result<()> {
    let start = Instant::now();
    for i in 0..count {
        let t = Instant::now();
        let version = (from + i + 1) as i64;
        match store
            .append(&single(stream.to_owned(), version, payload))
            .await
        {
            Ok(appended) if appended[0].version == version => {}
            Ok(appended) => bail!(
                "{stream}: expected version {version}, got {}",
                appended[0].version
            ),
            Err(err) if is_conflict(&err) => sample.conflicts += 1,
            Err(err) => return Err(err).context("growth append"),
        }
        sample.record(t.elapsed());
    }
    sample.wall += start.elapsed();
    sample.events += count;
    Ok(())
}
