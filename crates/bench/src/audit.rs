//! `audit`: what the verifiable log costs, against ceilings measured in the same run.
//!
//! 1. Appends, 16 concurrent single-event writers, with and without the tree extender running
//!    beside them (as `serve` runs it, every second), alternating rounds: the overhead.
//! 2. A generated history loaded through the store; then the raw read ceiling (binary COPY +
//!    decoding every payload), building the tree over it (`extend_tree`), and `verify_database`
//!    (which re-hashes every stored row and recomputes every signed root).
//! 3. Inclusion proofs of random events against the latest checkpoint: latency.
//! 4. Appends at 50/s while the extender runs: the delay from an append's commit to the first
//!    signed checkpoint that covers it.

use crate::history;
use crate::projections::raw_copy;
use crate::shapes::{self, Sample};
use crate::{Aim, WRITERS, alternate, connect_pool, fresh_database, loadavg};
use anyhow::{Context, Result, ensure};
use partyedu_audit::{Signer, extend_tree, inclusion_proof, latest_checkpoint, sign_checkpoint};
use partyedu_store::EventStore;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ORIGIN: &str = "partyedu/bench";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The database to (re)create and measure in; it is dropped first.
    #[arg(
        long,
        default_value = "postgres://root@localhost:5432/partyedu_bench_audit"
    )]
    database_url: String,
    /// About how many events the loaded history has.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Appends per side of the overhead shape.
    #[arg(long, default_value_t = 16_000)]
    appends: u64,
    /// Inclusion proofs to time.
    #[arg(long, default_value_t = 2_000)]
    proofs: u64,
}

/// Runs `shape` with the tree extender signing beside it.
async fn with_extender<T>(
    store: &EventStore,
    signer: &Signer,
    shape: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let extender = tokio::spawn(partyedu_audit::run_tree_extender(
        store.clone(),
        signer.clone(),
        ORIGIN.to_owned(),
        Duration::from_secs(1),
        async move {
            let mut stopped = stopped;
            let _ = stopped.wait_for(|s| *s).await;
        },
    ));
    let result = shape.await;
    let _ = stop.send(true);
    extender.await.context("the extender task")?;
    result
}

pub async fn run(args: Args) -> Result<()> {
    let url = args.database_url.as_str();
    let admin = fresh_database(url).await?;
    let store = EventStore::new(connect_pool(url, WRITERS as u32 + 2).await?);
    let signer = Signer::generate("bench")?;
    let verifier = signer.verifier();
    let payload = Arc::new(shapes::payload());
    let mut out = String::new();
    let mut aims = Vec::new();
    let _ = writeln!(
        out,
        "partyedu-bench audit: {} cores, load before: {}",
        std::thread::available_parallelism().map_or(0, |p| p.get()),
        loadavg()
    );

    // 1. The extender's cost to appends.
    let (plain, beside) = alternate(
        &admin,
        4,
        args.appends,
        async |n, tag: String| shapes::store_concurrent(&store, &payload, WRITERS, n, &tag).await,
        async |n, tag: String| {
            with_extender(
                &store,
                &signer,
                shapes::store_concurrent(&store, &payload, WRITERS, n, &tag),
            )
            .await
        },
    )
    .await?;
    let merged = |s: &[Sample]| {
        let mut all = Sample::new();
        for x in s {
            all.merge(x);
        }
        all
    };
    let (plain, beside) = (merged(&plain), merged(&beside));
    let overhead = (plain.rate() / beside.rate() - 1.0) * 100.0;
    let _ = writeln!(
        out,
        "\n1. 16 concurrent single-event appends, {} a side in 4 alternating rounds\n   \
         without the extender {:.0}/s (p99 {:.2} ms), with it {:.0}/s (p99 {:.2} ms): \
         overhead {overhead:+.1}%",
        args.appends,
        plain.rate(),
        plain.p99_ms(),
        beside.rate(),
        beside.p99_ms()
    );
    aims.push(Aim::new(
        "tree maintenance overhead on appends ≤ 5%",
        format!("{overhead:+.1}%"),
        overhead <= 5.0,
    ));

    // 2. A history, the raw read ceiling, building the tree, verifying it.
    extend_tree(&store).await?;
    let loaded = history::load(&store, history::members_for(args.events), 1_000).await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&admin)
        .await?;
    let _ = writeln!(
        out,
        "\n2. history of {} events loaded in {:.1} s; {total} events in the log",
        loaded.summary.events,
        loaded.wall.as_secs_f64()
    );
    let raw = raw_copy(url).await?;
    let raw_rate = raw.rate();
    let started = Instant::now();
    let size = extend_tree(&store).await?;
    let build = started.elapsed();
    sign_checkpoint(&store, &signer, ORIGIN).await?;
    let started = Instant::now();
    let report = partyedu_audit::verify_database(&store, Some(&verifier), None, None).await?;
    let verify = started.elapsed();
    ensure!(
        report.ok(),
        "the honest log did not verify: {:?}",
        report.first_break()
    );
    let verify_rate = report.rows_checked as f64 / verify.as_secs_f64();
    let _ = writeln!(
        out,
        "   raw read ceiling (binary COPY + decode): {raw_rate:.0} events/s\n   \
         tree built over {size} leaves in {:.1} s: {:.0} leaves/s ({:.2}× raw)\n   \
         verify_database re-hashed {} rows, {} checkpoints, in {:.1} s: {verify_rate:.0} \
         rows/s ({:.2}× raw)",
        build.as_secs_f64(),
        size as f64 / build.as_secs_f64(),
        size as f64 / build.as_secs_f64() / raw_rate,
        report.rows_checked,
        report.checkpoints_checked,
        verify.as_secs_f64(),
        verify_rate / raw_rate
    );
    aims.push(Aim::new(
        "verify ≥ 0.5× the raw read rate",
        format!("{:.2}×", verify_rate / raw_rate),
        verify_rate >= 0.5 * raw_rate,
    ));

    // 3. Inclusion proofs of random events.
    let ids: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT event_id FROM events ORDER BY random() LIMIT $1")
            .bind(args.proofs as i64)
            .fetch_all(&admin)
            .await?;
    let mut proofs = Sample::new();
    let started = Instant::now();
    for id in &ids {
        let t = Instant::now();
        std::hint::black_box(inclusion_proof(&store, *id, None).await?);
        proofs.record(t.elapsed());
    }
    proofs.events = ids.len() as u64;
    proofs.wall = started.elapsed();
    let _ = writeln!(
        out,
        "\n3. {} inclusion proofs of random events in a tree of {size}: p50 {:.2} ms, p99 {:.2} ms",
        ids.len(),
        proofs.p50_ms(),
        proofs.p99_ms()
    );
    aims.push(Aim::new(
        "inclusion proof p99 ≤ 5 ms",
        format!("{:.2} ms", proofs.p99_ms()),
        proofs.p99_ms() <= 5.0,
    ));

    // 4. From commit to a signed checkpoint, appends at 50/s.
    let base = extend_tree(&store).await?;
    sign_checkpoint(&store, &signer, ORIGIN).await?;
    let appended = 250u64;
    let delays = with_extender(&store, &signer, async {
        let mut committed = Vec::new();
        let mut delays = Sample::new();
        let mut next = 0usize;
        let started = Instant::now();
        for i in 0..appended {
            let due = started + Duration::from_millis(20 * i);
            tokio::time::sleep_until(due.into()).await;
            store
                .append(&partyedu_store::AppendBatch {
                    events: vec![shapes::new_event(&format!("signed-{i}"), &payload)],
                    ..Default::default()
                })
                .await?;
            committed.push(Instant::now());
            next = covered(&store, base, &committed, next, &mut delays).await?;
        }
        while next < committed.len() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            next = covered(&store, base, &committed, next, &mut delays).await?;
        }
        delays.events = appended;
        Ok(delays)
    })
    .await?;
    let _ = writeln!(
        out,
        "\n4. {appended} appends at 50/s with the extender (1 s interval): commit → signed \
         checkpoint p50 {:.0} ms, p99 {:.0} ms",
        delays.p50_ms(),
        delays.p99_ms()
    );
    aims.push(Aim::new(
        "every event under a signed checkpoint within 5 s, p99",
        format!("{:.0} ms", delays.p99_ms()),
        delays.p99_ms() <= 5_000.0,
    ));

    let _ = writeln!(out, "\nAims");
    for aim in &aims {
        let _ = writeln!(out, "   {aim}");
    }
    let _ = writeln!(out, "\nload average at the end: {}", loadavg());
    print!("{out}");
    Ok(())
}

/// Records the delay of every appended event the latest checkpoint now covers (the `i`-th
/// append is leaf `base + i`: nothing else appends meanwhile); returns the first not covered.
async fn covered(
    store: &EventStore,
    base: u64,
    committed: &[Instant],
    mut next: usize,
    delays: &mut Sample,
) -> Result<usize> {
    let size = latest_checkpoint(store).await?.map_or(0, |c| c.head.size);
    while next < committed.len() && base + (next as u64) < size {
        delays.record(committed[next].elapsed());
        next += 1;
    }
    Ok(next)
}
