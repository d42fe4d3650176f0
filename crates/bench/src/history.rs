//! Loading a generated history into the store: the generator runs on a thread of its own and
//! hands batches of store events to the appending task, so that generating, parsing and
//! appending overlap. The generator's histories are valid, so they go straight to the store
//! (the bulk path `crates/projections/tests/engine.rs` takes), not through the recording path.

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, NaiveDate, Utc};
use partyedu_domain::{Event, StreamRef};
use partyedu_gen::{GenConfig, GenSummary};
use partyedu_store::{AppendBatch, EventStore, NewEvent};
use serde_json::{Value, json};
use std::io::{self, Write};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use uuid::Uuid;

/// Events per member-year the generator makes (its own measurement: 10.6 M events for
/// 100,000 members over 5 years).
const EVENTS_PER_MEMBER_YEAR: f64 = 21.2;
/// Years of every benchmark history.
pub const YEARS: u32 = 5;
pub const SEED: u64 = 20_251_126;

/// The last day of every benchmark history.
pub fn until() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 30).expect("a valid date")
}

/// The members that make a history of about `events` events over [`YEARS`] years.
pub fn members_for(events: u64) -> usize {
    ((events as f64 / (EVENTS_PER_MEMBER_YEAR * f64::from(YEARS))).round() as usize).max(10)
}

/// What a load did.
pub struct Loaded {
    pub summary: GenSummary,
    pub wall: Duration,
    pub batches: u64,
}

/// Generates the history of `members` members and appends it in batches of `batch` events.
pub async fn load(store: &EventStore, members: usize, batch: usize) -> Result<Loaded> {
    let config = GenConfig::new(members, YEARS, SEED, until());
    let (tx, mut rx) = mpsc::channel::<Vec<NewEvent>>(4);
    let started = Instant::now();
    let generator = std::thread::spawn(move || -> io::Result<GenSummary> {
        let mut sink = Batcher::new(batch, tx);
        let summary = partyedu_gen::generate(&config, &mut sink)?;
        sink.finish()?;
        Ok(summary)
    });
    let mut batches = 0u64;
    while let Some(events) = rx.recv().await {
        store
            .append(&AppendBatch {
                events,
                ..AppendBatch::default()
            })
            .await
            .with_context(|| format!("appending batch {batches}"))?;
        batches += 1;
    }
    let summary = generator
        .join()
        .map_err(|_| anyhow!("the generator thread panicked"))?
        .context("generating")?;
    Ok(Loaded {
        summary,
        wall: started.elapsed(),
        batches,
    })
}

/// Splits the generator's NDJSON into records, turns each into a store event and sends them on
/// in batches.
struct Batcher {
    line: Vec<u8>,
    events: Vec<NewEvent>,
    size: usize,
    tx: mpsc::Sender<Vec<NewEvent>>,
}

impl Batcher {
    fn new(size: usize, tx: mpsc::Sender<Vec<NewEvent>>) -> Self {
        Self {
            line: Vec::new(),
            events: Vec::with_capacity(size),
            size,
            tx,
        }
    }

    fn send(&mut self) -> io::Result<()> {
        let full = std::mem::replace(&mut self.events, Vec::with_capacity(self.size));
        self.tx
            .blocking_send(full)
            .map_err(|_| io::Error::other("the appending task stopped"))
    }

    fn finish(mut self) -> io::Result<()> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.events
                .push(store_event(&line).map_err(io::Error::other)?);
        }
        if !self.events.is_empty() {
            self.send()?;
        }
        Ok(())
    }
}

impl Write for Batcher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let event = if self.line.is_empty() {
                store_event(&rest[..end])
            } else {
                self.line.extend_from_slice(&rest[..end]);
                let line = std::mem::take(&mut self.line);
                store_event(&line)
            };
            self.events.push(event.map_err(io::Error::other)?);
            if self.events.len() >= self.size {
                self.send()?;
            }
            rest = &rest[end + 1..];
        }
        self.line.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One NDJSON record as a store event, as `crates/projections/tests/engine.rs` builds them.
fn store_event(line: &[u8]) -> Result<NewEvent> {
    let mut record: Value = serde_json::from_slice(line)?;
    let text = |record: &Value, field: &str| -> Result<String> {
        record[field]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("record without {field}"))
    };
    let event_type = text(&record, "type")?;
    let event = Event::parse(&event_type, record["data"].take())?;
    let occurred_at = DateTime::parse_from_rfc3339(&text(&record, "occurred_at")?)?;
    Ok(NewEvent {
        event_id: Some(text(&record, "event_id")?.parse::<Uuid>()?),
        stream: stream_of(&event),
        event_type,
        schema_version: record["schema_version"]
            .as_i64()
            .and_then(|v| i32::try_from(v).ok())
            .unwrap_or(1),
        occurred_at: Some(occurred_at.with_timezone(&Utc)),
        actor: text(&record, "actor")?,
        data: event.data(),
        metadata: json!({}),
    })
}

/// The stream names do not matter to the facts; voids share one stream here.
fn stream_of(event: &Event) -> String {
    match event.stream() {
        StreamRef::Named(name) => name,
        StreamRef::OfEvent(_) => "voids".to_owned(),
    }
}
