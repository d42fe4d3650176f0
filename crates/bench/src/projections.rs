//! `partyedu-bench projections`: a generated history loaded through `EventStore::append`, then,
//! in the same run: the raw read ceiling (`COPY … TO STDOUT` + decoding every payload into an
//! `Event`), the store's own read path, a full rebuild of the facts projection in a child
//! process (so that its peak RSS is the rebuild's alone), and the live projector's lag behind a
//! steady stream of single-event appends.

use crate::history::{self, Loaded};
use crate::shapes::Sample;
use crate::{Aim, connect_pool, environment, fresh_database, loadavg};
use anyhow::{Context, Result, anyhow, bail, ensure};
use futures::TryStreamExt;
use partyedu_domain::{Event, Upcaster};
use partyedu_projections::engine::{self, RunOptions};
use partyedu_projections::{Projector, ensure_projection};
use partyedu_store::{AppendBatch, EventStore, NewEvent, RecordedEvent};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::postgres::PgConnection;
use sqlx::{Connection, PgPool};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

const TZ: chrono_tz::Tz = partyedu_domain::time::DEFAULT_TZ;
/// Events per page of the store's read path, as the projector reads them.
const PAGE: i64 = 2_000;
/// What `partyedu serve` gives the projector.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// The live generation's checkpoint.
const LIVE_CHECKPOINT: &str = "SELECT c.position FROM rm_checkpoints c JOIN rm_projections p \
     ON c.name = p.name AND c.generation = p.live_generation";
const COPY_SQL: &str = "COPY (SELECT event_id, position, type, data FROM events ORDER BY position) \
     TO STDOUT (FORMAT binary)";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The database to (re)create and measure in; it is dropped first (for every size).
    #[arg(
        long,
        default_value = "postgres://root@localhost:5432/partyedu_bench_proj"
    )]
    database_url: String,
    /// About how many events to generate; repeat for several sizes, each on a fresh database
    /// (default 1,000,000; 100,000 with --quick).
    #[arg(long)]
    events: Vec<u64>,
    /// A short live-lag phase (10 s) and, without --events, a history of 100,000 events.
    #[arg(long)]
    quick: bool,
    /// Events per append while loading.
    #[arg(long, default_value_t = 5_000)]
    batch: usize,
    /// Single-event appends per second during the live-lag phase.
    #[arg(long, default_value_t = 200)]
    lag_rate: u64,
    /// Seconds of the live-lag phase (default 30; 10 with --quick).
    #[arg(long)]
    lag_secs: Option<u64>,
}

#[derive(clap::Args, Debug)]
pub struct RebuildArgs {
    #[arg(long)]
    database_url: String,
    /// Fold with the same calls `catch_up` makes (`read_all`, then `Projector::apply`), timing
    /// each, and time decoding each page separately once more.
    #[arg(long)]
    phases: bool,
}

/// What a rebuild child reports, one JSON line on its standard output.
#[derive(Debug, Serialize, Deserialize)]
struct RebuildReport {
    generation: i32,
    begin_secs: f64,
    events: u64,
    batches: u64,
    secs: f64,
    client_cpu: f64,
    server_cpu: f64,
    vmhwm_kib: u64,
    phases: Option<Phases>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Phases {
    read_secs: f64,
    read_server_cpu: f64,
    decode_secs: f64,
    apply_secs: f64,
    apply_server_cpu: f64,
}

/// One pass over the log.
pub(crate) struct Pass {
    pub(crate) events: u64,
    pub(crate) wall: Duration,
    client_cpu: f64,
    server_cpu: f64,
}

impl Pass {
    pub(crate) fn rate(&self) -> f64 {
        self.events as f64 / self.wall.as_secs_f64()
    }
}

pub async fn run(args: Args) -> Result<()> {
    let sizes = match (args.events.is_empty(), args.quick) {
        (false, _) => args.events.clone(),
        (true, false) => vec![1_000_000],
        (true, true) => vec![100_000],
    };
    let lag_secs = args.lag_secs.unwrap_or(if args.quick { 10 } else { 30 });
    let url = args.database_url.as_str();
    for (i, &size) in sizes.iter().enumerate() {
        let mut out = String::new();
        let admin = fresh_database(url).await?;
        let _ = writeln!(
            out,
            "partyedu-bench projections{} --events {size}",
            if args.quick { " --quick" } else { "" }
        );
        environment(&mut out, &admin, url).await?;
        let _ = writeln!(
            out,
            "method:    load = generator thread → batches of {} → EventStore::append (no \
             validation); raw = one connection, {COPY_SQL}, rows parsed from the binary COPY \
             stream, data decoded with serde_json::from_slice + Event::parse; store read = \
             read_all pages of {PAGE} + the projector's decode (serde_json::from_str + \
             Upcaster::read); rebuild = child process: begin_rebuild, Projector::new, catch_up \
             (batches of 2,000), its own VmHWM; raw runs before and after the rebuild, the ratio \
             uses both; CPU = utime+stime of this process (client) and of the connection's \
             backend (server) from /proc; live lag = after swapping the rebuilt generation in, \
             engine::run in this process (own pool of 4, poll {} ms) while one task appends \
             {} OnlineStudyLogged events/s, one per append, for {lag_secs} s; lag = from the \
             append's return to a poll (every 1 ms, own connection) seeing the live checkpoint \
             at or past its position{}",
            args.batch,
            POLL_INTERVAL.as_millis(),
            args.lag_rate,
            if i == 0 {
                "; then a second rebuild with each phase timed (first size only)"
            } else {
                ""
            }
        );
        print!("{out}");
        measure(&args, &admin, url, size, lag_secs, i == 0).await?;
        admin.close().await;
    }
    Ok(())
}

async fn measure(
    args: &Args,
    admin: &PgPool,
    url: &str,
    size: u64,
    lag_secs: u64,
    phases: bool,
) -> Result<()> {
    let mut out = String::new();
    let members = history::members_for(size);

    // 1. Load.
    let load_before = loadavg();
    let store = EventStore::new(connect_pool(url, 2).await?);
    let self0 = cpu_secs("self");
    let Loaded {
        summary,
        wall,
        batches,
    } = history::load(&store, members, args.batch).await?;
    let load_cpu = cpu_secs("self") - self0;
    store.pool().close().await;
    sqlx::query("VACUUM (ANALYZE) events")
        .execute(admin)
        .await?;
    sqlx::query("CHECKPOINT").execute(admin).await?;
    let table_mb: i64 =
        sqlx::query_scalar("SELECT pg_total_relation_size('events')::bigint / 1048576")
            .fetch_one(admin)
            .await?;
    let online = summary
        .by_type
        .get("OnlineStudyLogged")
        .copied()
        .unwrap_or(0);
    let _ = writeln!(
        out,
        "\nhistory:   {} events ({members} members × {} years, seed {}, until {}), {:.0}% \
         OnlineStudyLogged; events table {table_mb} MB after VACUUM ANALYZE",
        summary.events,
        history::YEARS,
        history::SEED,
        history::until(),
        online as f64 * 100.0 / summary.events as f64,
    );
    let _ = writeln!(
        out,
        "   {:<44} {:>9} {:>8} {:>10} {:>7} {:>7} {:>7}   load before",
        "step", "events", "wall s", "events/s", "× raw", "cli CPU", "srv CPU"
    );
    let step = |out: &mut String, name: &str, pass: &Pass, ratio: Option<f64>, load: &str| {
        let ratio = ratio.map_or_else(|| "".to_owned(), |r| format!("{r:.3}"));
        let server = if pass.server_cpu.is_nan() {
            "-".to_owned()
        } else {
            format!("{:.1}", pass.server_cpu)
        };
        let _ = writeln!(
            out,
            "   {:<44} {:>9} {:>8.1} {:>10.0} {:>7} {:>7.1} {:>7}   {load}",
            name,
            pass.events,
            pass.wall.as_secs_f64(),
            pass.rate(),
            ratio,
            pass.client_cpu,
            server,
        );
    };
    let load_pass = Pass {
        events: summary.events,
        wall,
        client_cpu: load_cpu,
        server_cpu: f64::NAN,
    };

    // 2. The raw ceiling and the store's read path.
    let raw1_load = loadavg();
    let raw1 = raw_copy(url).await?;
    let read_load = loadavg();
    let read = store_read(url).await?;
    // 3. The rebuild, alone in a child process.
    let rebuild_load = loadavg();
    let rebuild = rebuild_child(url, false).await?;
    let raw2_load = loadavg();
    let raw2 = raw_copy(url).await?;
    for pass in [&raw1, &read, &raw2] {
        ensure!(
            pass.events == summary.events,
            "a pass read {} events of {}",
            pass.events,
            summary.events
        );
    }
    ensure!(
        rebuild.events == summary.events,
        "the rebuild folded {} events of {}",
        rebuild.events,
        summary.events
    );
    let raw_rate = (raw1.events + raw2.events) as f64 / (raw1.wall + raw2.wall).as_secs_f64();
    let rebuild_pass = Pass {
        events: rebuild.events,
        wall: Duration::from_secs_f64(rebuild.secs),
        client_cpu: rebuild.client_cpu,
        server_cpu: rebuild.server_cpu,
    };
    step(
        &mut out,
        &format!("load: append, batches of {}", args.batch),
        &load_pass,
        None,
        &load_before,
    );
    step(
        &mut out,
        "raw: COPY binary + Event::parse (before)",
        &raw1,
        Some(raw1.rate() / raw_rate),
        &raw1_load,
    );
    step(
        &mut out,
        "store: read_all(2000) + decode",
        &read,
        Some(read.rate() / raw_rate),
        &read_load,
    );
    step(
        &mut out,
        "rebuild: catch_up, child process",
        &rebuild_pass,
        Some(rebuild_pass.rate() / raw_rate),
        &rebuild_load,
    );
    step(
        &mut out,
        "raw: COPY binary + Event::parse (after)",
        &raw2,
        Some(raw2.rate() / raw_rate),
        &raw2_load,
    );
    let rebuild_ratio = rebuild_pass.rate() / raw_rate;
    let rss_mib = rebuild.vmhwm_kib as f64 / 1024.0;
    let _ = writeln!(
        out,
        "   raw rate (both passes together): {raw_rate:.0} events/s; load {batches} appends, \
         {:.0} events/s; rebuild: generation {}, {} transactions, begin_rebuild {:.1} s (not in \
         the rate), peak RSS of the child (VmHWM) {rss_mib:.1} MiB",
        load_pass.rate(),
        rebuild.generation,
        rebuild.batches,
        rebuild.begin_secs,
    );
    print!("{out}");
    out.clear();

    // 4. Live lag: the rebuilt generation goes live, the projector follows the appends.
    engine::swap(&EventStore::new(admin.clone()), rebuild.generation).await?;
    let lag_load = loadavg();
    let lag = live_lag(admin, url, args.lag_rate, lag_secs).await?;
    let _ = writeln!(
        out,
        "   live lag [load before: {lag_load}]: {} appends in {:.1} s ({:.0}/s), append p50 \
         {:.2} ms p99 {:.2} ms; checkpoint lag p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {} \
         never seen within 10 s",
        lag.appends.events,
        lag.appends.wall.as_secs_f64(),
        lag.appends.rate(),
        lag.appends.p50_ms(),
        lag.appends.p99_ms(),
        lag.lags.p50_ms(),
        lag.lags.p99_ms(),
        lag.lags.hist.max() as f64 / 1000.0,
        lag.unobserved,
    );

    // Aims.
    let lag_p99 = if lag.unobserved > 0 {
        f64::INFINITY
    } else {
        lag.lags.p99_ms()
    };
    let _ = writeln!(out, "   aims:");
    let rss_figure = format!(
        "{rss_mib:.1} MiB at {} events{}",
        summary.events,
        if size < 10_000_000 {
            " (aim is for 10M)"
        } else {
            ""
        }
    );
    for aim in [
        Aim::new(
            "rebuild ≥ 0.4× the raw rate",
            format!("{rebuild_ratio:.3}×"),
            rebuild_ratio >= 0.4,
        ),
        Aim::new(
            "peak RSS ≤ 1 GiB at 10M events",
            rss_figure,
            size < 10_000_000 || rss_mib <= 1024.0,
        ),
        Aim::new(
            "live lag p99 ≤ 100 ms",
            format!("{:.2} ms", lag.lags.p99_ms()),
            lag_p99 <= 100.0,
        ),
    ] {
        let _ = writeln!(out, "   {aim}");
    }
    print!("{out}");
    out.clear();

    // A profile: a second rebuild with its phases timed.
    if phases {
        let load = loadavg();
        let report = rebuild_child(url, true).await?;
        let p = report
            .phases
            .as_ref()
            .context("the child timed no phases")?;
        let n = report.events as f64;
        let us = |secs: f64| secs * 1e6 / n;
        let _ = writeln!(
            out,
            "   phases [load before: {load}] (generation {}, {} events, {:.1} s, {:.0} events/s \
             incl. the extra decode): per event: read_all {:.1} µs (server CPU {:.1}), decode \
             {:.1} µs (timed again outside apply), apply = decode + fold + flush + checkpoint + \
             commit {:.1} µs (server CPU {:.1}); client CPU {:.1} µs, server CPU {:.1} µs; \
             VmHWM {:.1} MiB",
            report.generation,
            report.events,
            report.secs,
            n / report.secs,
            us(p.read_secs),
            us(p.read_server_cpu),
            us(p.decode_secs),
            us(p.apply_secs),
            us(p.apply_server_cpu),
            us(report.client_cpu),
            us(report.server_cpu),
            report.vmhwm_kib as f64 / 1024.0,
        );
        statements(&mut out, &summary.by_type, report.batches, report.events);
        engine::drop_generation(&EventStore::new(admin.clone()), report.generation).await?;
    }
    let _ = writeln!(out, "   load average at the end: {}", loadavg());
    print!("{out}");
    Ok(())
}

/// Statements the fold sends, counted from the event types by the rules of
/// `crates/projections/src/facts.rs` (a model, not a trace; a fresh fold finds every member's
/// registry state and every class in its caches, so it sends no SELECT for them).
fn statements(
    out: &mut String,
    by_type: &std::collections::BTreeMap<&'static str, u64>,
    batches: u64,
    events: u64,
) {
    let count = |t: &str| by_type.get(t).copied().unwrap_or(0);
    // One INSERT or UPDATE each.
    let single: u64 = [
        "OrgUnitEstablished",
        "RoleAssigned",
        "RoleEnded",
        "ClassHeld",
        "PartyLectureGiven",
    ]
    .iter()
    .map(|t| count(t))
    .sum();
    // A flush (up to 4 INSERT … unnest) and then 1 UPDATE; amendments only when they remove.
    let left = count("MemberLeft");
    let amended = count("AttendanceAmended");
    // A flush, then 3 + 1 UPDATEs and 1 INSERT … SELECT.
    let voided = count("RecordVoided");
    let per_event = single + left + amended + 5 * voided;
    let flushes = left + amended + voided + batches;
    // read_all, BEGIN, SELECT … FOR UPDATE, UPDATE checkpoint, COMMIT.
    let per_batch = 5 * batches;
    let _ = writeln!(
        out,
        "   statements (model of facts.rs): {per_event} per-event INSERT/UPDATEs ({:.1} per \
         1,000 events; ClassHeld, PartyLectureGiven, roles, org units, MemberLeft, amendments \
         (at most), 5 per RecordVoided), {flushes} flushes of up to 4 INSERT … unnest each \
         ({:.1} per 1,000 events), {per_batch} per-batch statements ({batches} batches)",
        per_event as f64 * 1000.0 / events as f64,
        flushes as f64 * 1000.0 / events as f64,
    );
}

/// User + system CPU seconds of a process (`self` or a pid), from `/proc/<pid>/stat`.
fn cpu_secs(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // Fields after the command name (which may hold spaces): state is field 3, utime 14.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return f64::NAN;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        // USER_HZ is 100 on Linux.
        (Some(user), Some(system)) => (user + system) / 100.0,
        _ => f64::NAN,
    }
}

async fn backend_pid(conn: &mut PgConnection) -> Result<String> {
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(conn)
        .await?;
    Ok(pid.to_string())
}

async fn connect(url: &str) -> Result<PgConnection> {
    Ok(PgConnection::connect_with(&partyedu_store::connect_options(url)?).await?)
}

/// The ceiling: every event's id, position, type and data in position order through
/// `COPY … TO STDOUT (FORMAT binary)`, each payload decoded into an `Event`.
pub(crate) async fn raw_copy(url: &str) -> Result<Pass> {
    let mut conn = connect(url).await?;
    let backend = backend_pid(&mut conn).await?;
    let (client0, server0) = (cpu_secs("self"), cpu_secs(&backend));
    let started = Instant::now();
    let mut parser = CopyBinary::default();
    let mut last = i64::MIN;
    {
        let mut stream = conn.copy_out_raw(COPY_SQL).await?;
        while let Some(chunk) = stream.try_next().await? {
            parser.feed(&chunk, |row| {
                ensure!(row.position > last, "positions out of order");
                last = row.position;
                let id = uuid::Uuid::from_slice(row.event_id)?;
                let data: Value = serde_json::from_slice(row.data)?;
                let event = Event::parse(row.event_type, data)
                    .with_context(|| format!("event {id} at {}", row.position))?;
                std::hint::black_box(&event);
                Ok(())
            })?;
        }
    }
    ensure!(parser.done, "the COPY stream ended without its trailer");
    let wall = started.elapsed();
    let server_cpu = cpu_secs(&backend) - server0;
    conn.close().await?;
    Ok(Pass {
        events: parser.rows,
        wall,
        client_cpu: cpu_secs("self") - client0,
        server_cpu,
    })
}

/// One row of the COPY: id, position, type, data.
struct CopyRow<'a> {
    event_id: &'a [u8],
    position: i64,
    event_type: &'a str,
    data: &'a [u8],
}

/// A parser of PostgreSQL's binary COPY format, fed the stream's chunks as they come.
#[derive(Default)]
struct CopyBinary {
    pending: Vec<u8>,
    header: bool,
    done: bool,
    rows: u64,
}

const COPY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

impl CopyBinary {
    fn feed(&mut self, chunk: &[u8], mut row: impl FnMut(CopyRow<'_>) -> Result<()>) -> Result<()> {
        self.pending.extend_from_slice(chunk);
        let buf = self.pending.as_slice();
        let mut at = 0;
        if !self.header {
            // Signature, flags, header extension length, extension.
            if buf.len() < 19 {
                return Ok(());
            }
            ensure!(&buf[..11] == COPY_SIGNATURE, "not a binary COPY stream");
            let extension = be_i32(&buf[15..19]) as usize;
            if buf.len() < 19 + extension {
                return Ok(());
            }
            at = 19 + extension;
            self.header = true;
        }
        while !self.done && buf.len() >= at + 2 {
            let fields = i16::from_be_bytes([buf[at], buf[at + 1]]);
            if fields == -1 {
                self.done = true;
                at += 2;
                break;
            }
            ensure!(fields == 4, "a row of {fields} fields");
            let mut cursor = at + 2;
            let mut values: [&[u8]; 4] = [&[]; 4];
            let mut complete = true;
            for value in &mut values {
                if buf.len() < cursor + 4 {
                    complete = false;
                    break;
                }
                let len = be_i32(&buf[cursor..cursor + 4]);
                ensure!(len >= 0, "a NULL in the log");
                let len = len as usize;
                if buf.len() < cursor + 4 + len {
                    complete = false;
                    break;
                }
                *value = &buf[cursor + 4..cursor + 4 + len];
                cursor += 4 + len;
            }
            if !complete {
                break;
            }
            let [event_id, position, event_type, data] = values;
            row(CopyRow {
                event_id,
                position: i64::from_be_bytes(position.try_into()?),
                event_type: std::str::from_utf8(event_type)?,
                data,
            })?;
            self.rows += 1;
            at = cursor;
        }
        self.pending.drain(..at);
        Ok(())
    }
}

fn be_i32(bytes: &[u8]) -> i32 {
    i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// The projector's decoding of a stored event (`Projector::read` in
/// `crates/projections/src/engine.rs`, which is private).
fn decode(upcaster: &Upcaster, stored: &RecordedEvent) -> Result<Event> {
    let data: Value = serde_json::from_str(stored.data.get())?;
    let version = u32::try_from(stored.schema_version)?;
    Ok(upcaster.read(&stored.event_type, version, data)?)
}

/// The store's read path: `read_all` pages from the start, each event decoded as the projector
/// decodes it.
async fn store_read(url: &str) -> Result<Pass> {
    let pool = connect_pool(url, 1).await?;
    let backend = backend_pid(&mut *pool.acquire().await?).await?;
    let store = EventStore::new(pool);
    let upcaster = Upcaster::standard();
    let (client0, server0) = (cpu_secs("self"), cpu_secs(&backend));
    let started = Instant::now();
    let (mut after, mut events) = (0i64, 0u64);
    loop {
        let page = store.read_all(after, PAGE, None).await?;
        let Some(last) = page.events.last() else {
            break;
        };
        after = last.position;
        for stored in &page.events {
            std::hint::black_box(decode(&upcaster, stored)?);
        }
        events += page.events.len() as u64;
    }
    let wall = started.elapsed();
    let server_cpu = cpu_secs(&backend) - server0;
    store.pool().close().await;
    Ok(Pass {
        events,
        wall,
        client_cpu: cpu_secs("self") - client0,
        server_cpu,
    })
}

/// Runs `rebuild-only` in a child process of this binary and reads its report.
async fn rebuild_child(url: &str, phases: bool) -> Result<RebuildReport> {
    let exe = std::env::current_exe()?;
    let mut command = tokio::process::Command::new(exe);
    command
        .arg("rebuild-only")
        .arg("--database-url")
        .arg(url)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    if phases {
        command.arg("--phases");
    }
    let output = command
        .output()
        .await
        .context("running the rebuild child")?;
    if !output.status.success() {
        bail!("the rebuild child failed: {}", output.status);
    }
    let stdout = String::from_utf8(output.stdout)?;
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("REBUILD "))
        .ok_or_else(|| anyhow!("the rebuild child reported nothing: {stdout}"))?;
    Ok(serde_json::from_str(line)?)
}

/// The child: one full rebuild into a new generation on one connection, then its report.
pub async fn rebuild_only(args: RebuildArgs) -> Result<()> {
    // One connection: read_all and the fold's transactions take turns on it, so its backend's
    // CPU is the rebuild's server side.
    let pool = connect_pool(&args.database_url, 1).await?;
    let backend = backend_pid(&mut *pool.acquire().await?).await?;
    let store = EventStore::new(pool);
    let started = Instant::now();
    let generation = engine::begin_rebuild(&store).await?;
    let mut projector = Projector::new(store.clone(), TZ, generation).await?;
    let begin_secs = started.elapsed().as_secs_f64();
    let (client0, server0) = (cpu_secs("self"), cpu_secs(&backend));
    let started = Instant::now();
    let (events, batches, phases) = if args.phases {
        let (events, batches, phases) = fold_timed(&store, &mut projector, &backend).await?;
        (events, batches, Some(phases))
    } else {
        let events = projector.catch_up().await? as u64;
        // catch_up folds pages of 2,000 (the projector's default batch size).
        (events, events.div_ceil(PAGE as u64), None)
    };
    let secs = started.elapsed().as_secs_f64();
    let report = RebuildReport {
        generation,
        begin_secs,
        events,
        batches,
        secs,
        client_cpu: cpu_secs("self") - client0,
        server_cpu: cpu_secs(&backend) - server0,
        vmhwm_kib: vmhwm_kib(),
        phases,
    };
    println!("REBUILD {}", serde_json::to_string(&report)?);
    Ok(())
}

/// What `Projector::catch_up` does (`read_all` after the checkpoint, then `apply`), with each
/// call timed, and each page decoded once more on its own to size decoding.
async fn fold_timed(
    store: &EventStore,
    projector: &mut Projector,
    backend: &str,
) -> Result<(u64, u64, Phases)> {
    let upcaster = Upcaster::standard();
    let mut phases = Phases::default();
    let (mut events, mut batches) = (0u64, 0u64);
    loop {
        let (t, cpu) = (Instant::now(), cpu_secs(backend));
        let page = store.read_all(projector.position(), PAGE, None).await?;
        phases.read_secs += t.elapsed().as_secs_f64();
        phases.read_server_cpu += cpu_secs(backend) - cpu;
        if page.events.is_empty() {
            return Ok((events, batches, phases));
        }
        let t = Instant::now();
        for stored in &page.events {
            std::hint::black_box(decode(&upcaster, stored)?);
        }
        phases.decode_secs += t.elapsed().as_secs_f64();
        let (t, cpu) = (Instant::now(), cpu_secs(backend));
        projector.apply(&page.events).await?;
        phases.apply_secs += t.elapsed().as_secs_f64();
        phases.apply_server_cpu += cpu_secs(backend) - cpu;
        events += page.events.len() as u64;
        batches += 1;
    }
}

/// This process's peak resident set, from `/proc/self/status`.
fn vmhwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

struct Lag {
    appends: Sample,
    lags: Sample,
    unobserved: usize,
}

/// `rate` single-event appends per second for `secs` seconds while `engine::run` follows the
/// log; the time from each append's return until the live checkpoint covers it.
async fn live_lag(admin: &PgPool, url: &str, rate: u64, secs: u64) -> Result<Lag> {
    let members: Vec<String> = sqlx::query_scalar(
        "SELECT data->>'member_id' FROM events WHERE type = 'MemberEnrolled' \
         ORDER BY position LIMIT 500",
    )
    .fetch_all(admin)
    .await?;
    ensure!(!members.is_empty(), "no member to log study for");
    let projector_store = EventStore::new(connect_pool(url, 4).await?);
    ensure_projection(&projector_store).await?;
    let (stop, stopped) = oneshot::channel::<()>();
    let projector = tokio::spawn(engine::run(
        projector_store,
        partyedu_store::connect_options(url)?,
        RunOptions {
            tz: TZ,
            poll_interval: POLL_INTERVAL,
            materialise: Vec::new(),
        },
        async move {
            let _ = stopped.await;
        },
    ));
    // Let it take the lead and subscribe.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let writer = EventStore::new(connect_pool(url, 2).await?);
    let (tx, rx) = mpsc::unbounded_channel::<(i64, Instant)>();
    let poller = tokio::spawn(poll_checkpoint(url.to_owned(), rx));
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let total = rate * secs;
    let mut appends = Sample::new();
    let started = Instant::now();
    for i in 0..total {
        ticker.tick().await;
        let member = &members[i as usize % members.len()];
        let event = Event::parse(
            "OnlineStudyLogged",
            json!({
                "log_id": format!("OS-BENCH-{i:07}"),
                "member_id": member,
                "platform": "xuexi_qiangguo",
                "studied_on": "2025-06-30",
                "study_hours": 0.5,
            }),
        )?;
        let batch = AppendBatch {
            events: vec![NewEvent {
                event_id: None,
                stream: format!("member:{member}"),
                event_type: event.type_name().to_owned(),
                schema_version: 1,
                occurred_at: None,
                actor: "user:bench".to_owned(),
                data: event.data(),
                metadata: json!({}),
            }],
            ..AppendBatch::default()
        };
        let t = Instant::now();
        let appended = writer.append(&batch).await?;
        let done = Instant::now();
        appends.record(done - t);
        tx.send((appended[0].position, done))
            .map_err(|_| anyhow!("the checkpoint poller stopped"))?;
    }
    appends.wall = started.elapsed();
    appends.events = total;
    drop(tx);
    let (lags, unobserved) = poller.await??;
    let _ = stop.send(());
    projector.await?;
    writer.pool().close().await;
    Ok(Lag {
        appends,
        lags,
        unobserved,
    })
}

/// Polls the live checkpoint every millisecond on a connection of its own; records, for every
/// appended position it is sent, the time from the append's return until the checkpoint is at
/// or past it. Gives up 10 s after the last append.
async fn poll_checkpoint(
    url: String,
    mut appended: mpsc::UnboundedReceiver<(i64, Instant)>,
) -> Result<(Sample, usize)> {
    let mut conn = connect(&url).await?;
    let mut pending = VecDeque::new();
    let mut lags = Sample::new();
    let mut deadline = None;
    loop {
        loop {
            match appended.try_recv() {
                Ok(item) => pending.push_back(item),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    deadline.get_or_insert_with(|| Instant::now() + Duration::from_secs(10));
                    break;
                }
            }
        }
        if let Some(deadline) = deadline
            && (pending.is_empty() || Instant::now() > deadline)
        {
            break;
        }
        if !pending.is_empty() {
            let checkpoint: i64 = sqlx::query_scalar(LIVE_CHECKPOINT)
                .fetch_one(&mut conn)
                .await?;
            let now = Instant::now();
            while let Some(&(position, at)) = pending.front() {
                if position > checkpoint {
                    break;
                }
                lags.record(now - at);
                lags.events += 1;
                pending.pop_front();
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    conn.close().await?;
    Ok((lags, pending.len()))
}
