//! `partyedu-bench`: the event store's append against the raw PostgreSQL ceiling (the default
//! mode, `appends`), and the projections' rebuild throughput, read ceiling and live lag
//! (`projections`), recording through HTTP (`recording`), and the verifiable log's costs
//! (`audit`).
//!
//! Appends: one run, against a freshly created database: sequential single-event appends, 16
//! concurrent writers, batches of 100, each next to a plain INSERT into a table of the same
//! columns and indexes (the ceiling); append time as a stream grows; the cost of the gap-safe
//! positions. Store and ceiling of a shape alternate in rounds (ceiling, store, store, ceiling,
//! …) so that the ratios compare runs taken close together on a shared machine. See
//! `BENCHMARKS.md`.

mod audit;
mod child;
mod history;
mod latency;
mod projections;
mod recording;
mod shapes;
mod soak;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use partyedu_store::canonical::to_canonical_string;
use partyedu_store::{AppendBatch, EventStore, ExpectedVersion, PositionSource};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shapes::Sample;
use sqlx::PgPool;
use sqlx::migrate::MigrateDatabase;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(
    about = "Benchmark of the partyedu event store and projections against raw PostgreSQL",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    /// Without a mode: the append benchmark with these options.
    #[command(flatten)]
    appends: Args,
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// The event store's append against the raw INSERT ceiling (the default mode).
    Appends(Args),
    /// Load a generated history, then measure the raw read ceiling, the store's read path, a
    /// full rebuild of the facts projection (in a child process) and the live projector's lag.
    Projections(projections::Args),
    /// The verifiable log's costs: the tree extender's overhead on appends, building and
    /// verifying the tree against the raw read rate, proof latency, commit-to-checkpoint delay.
    Audit(audit::Args),
    /// One event per request through HTTP, 1 and 16 clients, beside the raw 16-client INSERT
    /// ceiling of the same run.
    Recording(recording::Args),
    /// The real server as a child: appends and queries at steady rates through HTTP for a
    /// while, one rebuild and one rule switch in the middle; errors, p99s, resident memory.
    Soak(soak::Args),
    /// A generated city-scale history imported by the real binary, `serve` as a child: its
    /// time to ready and memory, then every dashboard endpoint's latency while appends run,
    /// beside a trivial authenticated endpoint measured the same way.
    Latency(latency::Args),
    /// Internal: one rebuild in this process, reported as one JSON line (run by `projections`).
    #[command(hide = true)]
    RebuildOnly(projections::RebuildArgs),
}

#[derive(clap::Args, Debug)]
struct Args {
    /// The database to (re)create and measure in; it is dropped first.
    #[arg(long, default_value = "postgres://root@localhost:5432/partyedu_bench")]
    database_url: String,
    /// Divide every count by 10 (the stream-growth fill stays at its full size).
    #[arg(long)]
    quick: bool,
    /// Alternating rounds each side of a shape is split into.
    #[arg(long, default_value_t = 8)]
    rounds: u64,
}

pub(crate) const WRITERS: u64 = 16;
const BATCH: u64 = 100;
const GROWTH_FILL: u64 = 100_000;
/// Appends per growth chunk: versions 1..=20 of a fresh stream (lengths 0..19, around 10).
const GROWTH_CHUNK: u64 = 20;

struct Counts {
    singles: u64,
    batches: u64,
    growth: u64,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.mode.unwrap_or(Mode::Appends(cli.appends)) {
        Mode::Appends(args) => appends(args).await,
        Mode::Projections(args) => projections::run(args).await,
        Mode::Recording(args) => recording::run(args).await,
        Mode::Audit(args) => audit::run(args).await,
        Mode::Soak(args) => soak::run(args).await,
        Mode::Latency(args) => latency::run(args).await,
        Mode::RebuildOnly(args) => projections::rebuild_only(args).await,
    }
}

/// A freshly created database (dropped first when it exists) with the store's migrations
/// applied; returns a one-connection admin pool on it.
pub(crate) async fn fresh_database(url: &str) -> Result<PgPool> {
    if sqlx::Postgres::database_exists(url).await? {
        sqlx::Postgres::force_drop_database(url).await?;
    }
    sqlx::Postgres::create_database(url).await?;
    let admin = connect_pool(url, 1).await.context("connecting")?;
    partyedu_store::MIGRATOR.run(&admin).await?;
    Ok(admin)
}

/// A pool of `n` connections with the store's settings.
pub(crate) async fn connect_pool(url: &str, n: u32) -> Result<PgPool> {
    Ok(partyedu_store::pool_options(n)
        .connect_with(partyedu_store::connect_options(url)?)
        .await?)
}

async fn appends(args: Args) -> Result<()> {
    let div = if args.quick { 10 } else { 1 };
    let counts = Counts {
        singles: 20_000 / div,
        batches: 2_000 / div,
        growth: 2_000 / div,
    };
    let rounds = args.rounds.max(1);
    let url = args.database_url.as_str();

    let admin = fresh_database(url).await?;
    create_raw_table(&admin).await?;
    sqlx::query("CREATE SEQUENCE bench_position_seq START 1099511627776")
        .execute(&admin)
        .await?;

    let pool = |n: u32| connect_pool(url, n);
    // One appending client; the store gets a second connection for its background NOTIFY task.
    let store1 = EventStore::new(pool(2).await?);
    let raw1 = pool(1).await?;
    let store16 = EventStore::new(pool(WRITERS as u32 + 1).await?);
    let raw16 = pool(WRITERS as u32).await?;
    let store_seq =
        EventStore::new(pool(2).await?).with_position_source(PositionSource::UnsafeSequence);

    let payload = shapes::payload();
    let payload_bytes = to_canonical_string(&payload).len();
    let metadata_bytes = to_canonical_string(&shapes::metadata()).len();
    let shared = Arc::new(payload.clone());

    let mut out = String::new();
    header(
        &mut out,
        &admin,
        &args,
        &counts,
        rounds,
        payload_bytes,
        metadata_bytes,
    )
    .await?;
    print!("{out}");
    let mut report = String::new();
    let mut aims = Vec::new();

    // 1. Sequential single-event appends, one client.
    let label = "1. sequential single-event append, 1 client";
    let load = loadavg();
    let (c, s) = alternate(
        &admin,
        rounds,
        counts.singles,
        async |n, tag: String| shapes::raw_sequential(&raw1, &payload, n, &tag).await,
        async |n, tag: String| shapes::store_sequential(&store1, &payload, n, &tag).await,
    )
    .await?;
    let ratio = section(
        &mut report,
        label,
        &load,
        "raw INSERT",
        &c,
        "store append",
        &s,
    );
    aims.push(Aim::at_least(
        "sequential ≥ 0.7× 1-client ceiling",
        ratio,
        0.7,
        None,
    ));

    // 2. 16 concurrent writers on distinct streams.
    let label = "2. 16 concurrent single-event writers, distinct streams";
    let load = loadavg();
    let (c, s) = alternate(
        &admin,
        rounds,
        counts.singles,
        async |n, tag: String| shapes::raw_concurrent(&raw16, &shared, WRITERS, n, &tag).await,
        async |n, tag: String| shapes::store_concurrent(&store16, &shared, WRITERS, n, &tag).await,
    )
    .await?;
    let ratio = section(
        &mut report,
        label,
        &load,
        "raw INSERT ×16",
        &c,
        "store append ×16",
        &s,
    );
    let conflicts: u64 = s.iter().map(|x| x.conflicts).sum();
    let _ = writeln!(report, "   conflicts reported by the store: {conflicts}");
    aims.push(Aim::at_least(
        "16 writers ≥ 0.7× 16-client ceiling, 0 conflicts",
        ratio,
        0.7,
        Some(conflicts),
    ));

    // 3. Batches of 100 events, one stream each, one client.
    let label = "3. batches of 100 events (one new stream each), 1 client";
    let load = loadavg();
    let (c, s) = alternate(
        &admin,
        rounds,
        counts.batches,
        async |n, tag: String| shapes::raw_batches(&raw1, &payload, BATCH, n, &tag).await,
        async |n, tag: String| shapes::store_batches(&store1, &payload, BATCH, n, &tag).await,
    )
    .await?;
    let ratio = section(
        &mut report,
        label,
        &load,
        "raw INSERT…UNNEST",
        &c,
        "store append(100)",
        &s,
    );
    let _ = writeln!(report, "   (latency columns are per batch of {BATCH})");
    aims.push(Aim::at_least(
        "100-event batches ≥ 0.8× UNNEST ceiling",
        ratio,
        0.8,
        None,
    ));

    // 5. Append time as one stream grows.
    let label = "5. single-event append to ONE stream: length ~10 vs ~100,000";
    let load = loadavg();
    let (short, long, fill_secs) = growth(&admin, &store1, &payload, counts.growth).await?;
    let _ = writeln!(report, "\n{label}   [load before: {load}]");
    let _ = writeln!(
        report,
        "   fill: {GROWTH_FILL} events in batches of 1,000 through the store, {fill_secs:.1} s; \
         then {} chunks of {GROWTH_CHUNK} appends per side, alternating",
        counts.growth / GROWTH_CHUNK
    );
    row_header(&mut report);
    row(&mut report, "stream len 0..19", &short);
    row(&mut report, "stream len 100k+", &long);
    let growth_ratio = long.mean_ms() / short.mean_ms();
    let _ = writeln!(
        report,
        "   mean append: {:.3} ms at ~10, {:.3} ms at ~100k: ratio {growth_ratio:.3} \
         (p50 ratio {:.3})",
        short.mean_ms(),
        long.mean_ms(),
        long.p50_ms() / short.p50_ms()
    );
    aims.push(Aim::at_most(
        "append at 100k ≤ 1.2× append at 10",
        growth_ratio,
        1.2,
    ));

    // 6. The gap-safe positions against a plain sequence.
    let label = "6. gap-safe positions: xid-derived (default) vs plain sequence";
    let load = loadavg();
    let (q, d) = alternate(
        &admin,
        rounds,
        counts.singles,
        async |n, tag: String| shapes::store_sequential(&store_seq, &payload, n, &tag).await,
        async |n, tag: String| shapes::store_sequential(&store1, &payload, n, &tag).await,
    )
    .await?;
    let ratio = section(
        &mut report,
        label,
        &load,
        "store, sequence",
        &q,
        "store, xid (dflt)",
        &d,
    );
    let overhead = (1.0 / ratio - 1.0) * 100.0;
    let (qa, da) = (merged(&q), merged(&d));
    let _ = writeln!(
        report,
        "   overhead of the gap-safe positions: {overhead:+.1}% in wall time per event \
         (mean latency {:+.1}%, p50 {:+.1}%)",
        (da.mean_ms() / qa.mean_ms() - 1.0) * 100.0,
        (da.p50_ms() / qa.p50_ms() - 1.0) * 100.0,
    );
    aims.push(Aim::at_most("gap-safe overhead ≤ 10%", overhead, 10.0));

    // Close every pool first: a backend reports its counters when it exits (idle ones only
    // every 10 s).
    for p in [
        &raw1,
        &raw16,
        store1.pool(),
        store16.pool(),
        store_seq.pool(),
    ] {
        p.close().await;
    }
    server_counters(&mut report, &admin, url, &payload, counts.singles / 10).await?;

    // Client-side work the store does per append (CPU shared with the server on this machine).
    client_work(&mut report, &payload);

    let _ = writeln!(report, "\nAims");
    for aim in &aims {
        let _ = writeln!(report, "   {aim}");
    }
    let _ = writeln!(report, "\nload average at the end: {}", loadavg());
    print!("{report}");
    Ok(())
}

/// A table of the same columns, constraints and indexes as `events`, without triggers, with a
/// `bigserial` position.
pub(crate) async fn create_raw_table(pool: &PgPool) -> Result<()> {
    for sql in [
        "CREATE TABLE raw_events (
            position        bigserial   PRIMARY KEY,
            event_id        uuid        NOT NULL UNIQUE,
            stream          text        NOT NULL,
            version         bigint      NOT NULL CHECK (version >= 1),
            type            text        NOT NULL,
            schema_version  integer     NOT NULL CHECK (schema_version >= 1),
            occurred_at     timestamptz NOT NULL,
            recorded_at     timestamptz NOT NULL DEFAULT now(),
            actor           text        NOT NULL,
            data            json        NOT NULL,
            metadata        json        NOT NULL,
            CONSTRAINT raw_events_stream_version UNIQUE (stream, version)
        )",
        "CREATE INDEX raw_events_type_position ON raw_events (type, position)",
    ] {
        sqlx::query(sql).execute(pool).await?;
    }
    Ok(())
}

/// Warms both sides up, then runs `rounds` rounds of `total / rounds` per side, alternating the
/// order (ceiling first in even rounds, store first in odd ones), with a CHECKPOINT before each
/// round so that no side pays for the other's dirty pages.
pub(crate) async fn alternate<A, B>(
    admin: &PgPool,
    rounds: u64,
    total: u64,
    mut ceiling: A,
    mut store: B,
) -> Result<(Vec<Sample>, Vec<Sample>)>
where
    A: AsyncFnMut(u64, String) -> Result<Sample>,
    B: AsyncFnMut(u64, String) -> Result<Sample>,
{
    let stamp = Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id());
    let tag = format!("{:x}{:x}", stamp, rand_tag());
    let warm = (total / 10).max(WRITERS);
    ceiling(warm, format!("{tag}-cw")).await?;
    store(warm, format!("{tag}-sw")).await?;
    let per = total / rounds;
    let (mut cs, mut ss) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        checkpoint(admin).await?;
        if r % 2 == 0 {
            cs.push(ceiling(per, format!("{tag}-c{r}")).await?);
            ss.push(store(per, format!("{tag}-s{r}")).await?);
        } else {
            ss.push(store(per, format!("{tag}-s{r}")).await?);
            cs.push(ceiling(per, format!("{tag}-c{r}")).await?);
        }
    }
    Ok((cs, ss))
}

/// A short random-enough tag so that every run uses streams of its own.
fn rand_tag() -> u32 {
    uuid::Uuid::now_v7().as_u128() as u32
}

async fn checkpoint(admin: &PgPool) -> Result<()> {
    sqlx::query("CHECKPOINT").execute(admin).await?;
    Ok(())
}

/// Appends around stream length 10 (fresh streams, versions 1..=20) and around 100,000 (one
/// stream filled first), in alternating chunks.
async fn growth(
    admin: &PgPool,
    store: &EventStore,
    payload: &Value,
    per_side: u64,
) -> Result<(Sample, Sample, f64)> {
    let tag = format!("g{:x}", rand_tag());
    let long = format!("class:{tag}-long");
    let started = Instant::now();
    shapes::fill_stream(store, payload, &long, GROWTH_FILL).await?;
    let fill_secs = started.elapsed().as_secs_f64();
    sqlx::query("ANALYZE events").execute(admin).await?;
    checkpoint(admin).await?;
    // Warm-up on both.
    let mut scratch = Sample::new();
    let mut long_len = GROWTH_FILL;
    shapes::append_run(
        store,
        payload,
        &format!("class:{tag}-warm"),
        0,
        GROWTH_CHUNK,
        &mut scratch,
    )
    .await?;
    shapes::append_run(store, payload, &long, long_len, GROWTH_CHUNK, &mut scratch).await?;
    long_len += GROWTH_CHUNK;
    let (mut short, mut at_long) = (Sample::new(), Sample::new());
    for r in 0..per_side / GROWTH_CHUNK {
        let stream = format!("class:{tag}-short{r}");
        if r % 2 == 0 {
            shapes::append_run(store, payload, &stream, 0, GROWTH_CHUNK, &mut short).await?;
            shapes::append_run(store, payload, &long, long_len, GROWTH_CHUNK, &mut at_long).await?;
        } else {
            shapes::append_run(store, payload, &long, long_len, GROWTH_CHUNK, &mut at_long).await?;
            shapes::append_run(store, payload, &stream, 0, GROWTH_CHUNK, &mut short).await?;
        }
        long_len += GROWTH_CHUNK;
    }
    Ok((short, at_long, fill_secs))
}

fn merged(samples: &[Sample]) -> Sample {
    let mut all = Sample::new();
    for s in samples {
        all.merge(s);
    }
    all
}

fn row_header(out: &mut String) {
    let _ = writeln!(
        out,
        "   {:<20} {:>8} {:>8} {:>10} {:>8} {:>8}   events/s per round",
        "side", "events", "wall s", "events/s", "p50 ms", "p99 ms"
    );
}

fn row(out: &mut String, name: &str, s: &Sample) {
    let _ = writeln!(
        out,
        "   {:<20} {:>8} {:>8.2} {:>10.0} {:>8.3} {:>8.3}",
        name,
        s.events,
        s.wall.as_secs_f64(),
        s.rate(),
        s.p50_ms(),
        s.p99_ms()
    );
}

fn rounds_row(out: &mut String, name: &str, samples: &[Sample]) {
    let all = merged(samples);
    let per_round: Vec<String> = samples.iter().map(|s| format!("{:.0}", s.rate())).collect();
    let _ = writeln!(
        out,
        "   {:<20} {:>8} {:>8.2} {:>10.0} {:>8.3} {:>8.3}   {}",
        name,
        all.events,
        all.wall.as_secs_f64(),
        all.rate(),
        all.p50_ms(),
        all.p99_ms(),
        per_round.join(" ")
    );
}

/// Prints a shape's two sides and returns the ratio of the second's rate to the first's.
fn section(
    out: &mut String,
    label: &str,
    load: &str,
    a_name: &str,
    a: &[Sample],
    b_name: &str,
    b: &[Sample],
) -> f64 {
    let _ = writeln!(out, "\n{label}   [load before: {load}]");
    row_header(out);
    rounds_row(out, a_name, a);
    rounds_row(out, b_name, b);
    let ratio = merged(b).rate() / merged(a).rate();
    let per_round: Vec<f64> = a.iter().zip(b).map(|(x, y)| y.rate() / x.rate()).collect();
    let lo = per_round.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = per_round.iter().copied().fold(0.0, f64::max);
    let _ = writeln!(
        out,
        "   ratio {b_name} / {a_name}: {ratio:.3} (per round {lo:.3} … {hi:.3})"
    );
    ratio
}

/// An aim of a benchmark with the measured figure: printed PASS or SHORT.
pub(crate) struct Aim {
    text: &'static str,
    figure: String,
    pass: bool,
}

impl Aim {
    pub(crate) fn new(text: &'static str, figure: String, pass: bool) -> Self {
        Self { text, figure, pass }
    }

    fn at_least(text: &'static str, ratio: f64, target: f64, conflicts: Option<u64>) -> Self {
        let pass = ratio >= target && conflicts.unwrap_or(0) == 0;
        let figure = match conflicts {
            Some(c) => format!("{ratio:.3}×, {c} conflicts"),
            None => format!("{ratio:.3}×"),
        };
        Self { text, figure, pass }
    }

    fn at_most(text: &'static str, value: f64, target: f64) -> Self {
        let figure = if text.contains('%') {
            format!("{value:+.1}%")
        } else {
            format!("{value:.3}×")
        };
        Self {
            text,
            figure,
            pass: value <= target,
        }
    }
}

impl std::fmt::Display for Aim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = if self.pass { "PASS " } else { "SHORT" };
        write!(f, "{verdict} {:<50} measured {}", self.text, self.figure)
    }
}

pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

async fn header(
    out: &mut String,
    admin: &PgPool,
    args: &Args,
    counts: &Counts,
    rounds: u64,
    payload_bytes: usize,
    metadata_bytes: usize,
) -> Result<()> {
    let _ = writeln!(
        out,
        "partyedu-bench{}",
        if args.quick { " --quick" } else { "" }
    );
    environment(out, admin, &args.database_url).await?;
    let _ = writeln!(
        out,
        "payload:   ClassHeld v1, {payload_bytes} bytes of canonical JSON data (20 attendees, \
         study_hours 2.5) + {metadata_bytes} bytes of metadata {{\"correlation_id\": …}}"
    );
    let _ = writeln!(
        out,
        "counts:    {} single events per side per shape (streams of {} events, exact expected \
         versions), {} batches of {BATCH} per side, {WRITERS} writers; growth: fill {GROWTH_FILL}, \
         {} appends per side",
        counts.singles,
        shapes::STREAM_LEN,
        counts.batches,
        counts.growth
    );
    let _ = writeln!(
        out,
        "method:    each shape warms both sides up (1/10 of the count), then runs {rounds} \
         rounds of count/{rounds} per side, alternating ceiling/store order, CHECKPOINT before \
         each round; events/s = events / summed wall time; latency per call from hdrhistogram; \
         ceiling = same rows via plain sqlx INSERT into raw_events (same columns, constraints, \
         indexes; bigserial position; no triggers); pools: store 1 client = 2 connections \
         (its NOTIFY task gets one), raw 1; store 16 writers = 17, raw 16"
    );
    Ok(())
}

/// The machine, the server, its settings, the database and the load: the head of every report.
pub(crate) async fn environment(out: &mut String, admin: &PgPool, url: &str) -> Result<()> {
    let version: String = sqlx::query_scalar("SELECT version()")
        .fetch_one(admin)
        .await?;
    let mut settings = Vec::new();
    for name in [
        "synchronous_commit",
        "fsync",
        "shared_buffers",
        "wal_level",
        "plan_cache_mode",
    ] {
        let value: String = sqlx::query_scalar("SELECT current_setting($1)")
            .bind(name)
            .fetch_one(admin)
            .await?;
        settings.push(format!("{name}={value}"));
    }
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let _ = writeln!(out, "machine:   nproc {cpus}, {cpu_model}");
    let _ = writeln!(out, "postgres:  {version}");
    let _ = writeln!(out, "settings:  {}", settings.join(", "));
    let _ = writeln!(
        out,
        "database:  {} (dropped and recreated, migrations applied, client and server on one host)",
        url
    );
    let _ = writeln!(out, "load:      {} at start (1/5/15 min)", loadavg());
    Ok(())
}

/// What the store computes in the client for an append, whatever the server does: canonical
/// text of data and metadata for every append, and a SHA-256 request hash for keyed appends
/// only (the bench's appends carry no key, so they do not pay it). This reproduces
/// `request_hash` in `crates/store/src/append.rs` to size it.
fn client_work(out: &mut String, payload: &Value) {
    let reps = 2_000u32;
    let meta = shapes::metadata();
    let time = |f: &dyn Fn() -> usize| {
        let start = Instant::now();
        let mut sink = 0usize;
        for _ in 0..reps {
            sink = sink.wrapping_add(f());
        }
        std::hint::black_box(sink);
        start.elapsed().as_secs_f64() * 1e6 / f64::from(reps)
    };
    let canon = time(&|| to_canonical_string(payload).len() + to_canonical_string(&meta).len());
    let plain = time(&|| {
        serde_json::to_string(payload).map_or(0, |s| s.len())
            + serde_json::to_string(&meta).map_or(0, |s| s.len())
    });
    // The body of `request_hash` in crates/store/src/append.rs, on the bench's events.
    let hash = |n: usize| {
        let batch = AppendBatch {
            events: (0..n)
                .map(|_| shapes::new_event("class:x-1", payload))
                .collect(),
            expected: vec![("class:x-1".to_owned(), ExpectedVersion::NoStream)],
            ..AppendBatch::default()
        };
        time(&|| {
            let expected: Vec<Value> = batch
                .expected
                .iter()
                .map(|(stream, _)| json!([stream, 0]))
                .collect();
            let events: Vec<Value> = batch
                .events
                .iter()
                .map(|e| json!([e.event_id, e.stream, e.event_type, e.schema_version, e.data]))
                .collect();
            let text = to_canonical_string(&json!([expected, events]));
            Sha256::digest(text.as_bytes()).len()
        })
    };
    let (h1, h100) = (hash(1), hash(100));
    let _ = writeln!(
        out,
        "\nclient-side CPU per append (µs, this process, {reps} reps)\n   \
         canonical data+metadata per event {canon:.1} (serde_json::to_string: {plain:.1}); \
         request hash (keyed appends only; not paid by the shapes above): 1 event {h1:.1}, \
         100 events {h100:.1}"
    );
}

/// Transactions committed in this database and WAL written (cluster-wide) per event, for
/// sequential single events: raw INSERT against store append. Backends report their counters
/// about a second after going idle, hence the pauses.
async fn server_counters(
    out: &mut String,
    admin: &PgPool,
    url: &str,
    payload: &Value,
    n: u64,
) -> Result<()> {
    async fn snapshot(admin: &PgPool) -> Result<[f64; 4]> {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let row: (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()), \
                    wal_records, wal_bytes::bigint, wal_sync FROM pg_stat_wal",
        )
        .fetch_one(admin)
        .await?;
        Ok([row.0 as f64, row.1 as f64, row.2 as f64, row.3 as f64])
    }
    let _ = writeln!(
        out,
        "\nserver counters per event, {n} sequential single events per side, each on fresh \
         connections closed afterwards (commits: this database; WAL: whole cluster, so other \
         tenants add to it)"
    );
    let _ = writeln!(
        out,
        "   {:<20} {:>10} {:>12} {:>12} {:>12}",
        "side", "commits", "WAL records", "WAL bytes", "WAL syncs"
    );
    for side in ["raw INSERT", "store append"] {
        let pool = partyedu_store::pool_options(2)
            .connect_with(partyedu_store::connect_options(url)?)
            .await?;
        let before = snapshot(admin).await?;
        let tag = format!("diag{:x}", rand_tag());
        if side == "raw INSERT" {
            shapes::raw_sequential(&pool, payload, n, &tag).await?;
        } else {
            let store = EventStore::new(pool.clone());
            shapes::store_sequential(&store, payload, n, &tag).await?;
        }
        pool.close().await;
        let after = snapshot(admin).await?;
        let per = |i: usize| (after[i] - before[i]) / n as f64;
        let _ = writeln!(
            out,
            "   {:<20} {:>10.2} {:>12.2} {:>12.0} {:>12.2}",
            side,
            per(0),
            per(1),
            per(2),
            per(3)
        );
    }
    Ok(())
}
