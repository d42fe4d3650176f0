//! SIGKILL in the middle of the long-running commands, several trials each, through the real
//! binary: `partyedu import` (an interrupted import leaves a prefix of whole transactions, and
//! running it again stores exactly the rest) and `partyedu rebuild` (the live generation keeps
//! answering the same figures, and running it again completes to the same figures).
//!
//! Kill points are drawn at random within the measured length of an uninterrupted run; the seed
//! is printed and `PARTYEDU_KILL_SEED` replays it. `PARTYEDU_KILL_TRIALS` (default 3) sets the
//! trials per command: the soak runs in BENCHMARKS.md set it higher. (A kill of `serve` during
//! appends is tests/failover.rs.)

mod common;

use common::Server;
use serde_json::Value;
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Events per import transaction (crates/server/src/transfer.rs).
const IMPORT_CHUNK: usize = 10_000;

fn trials() -> usize {
    std::env::var("PARTYEDU_KILL_TRIALS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(3)
}

/// A small xorshift generator: the kill points need no more, and the seed is printed.
struct Draw(u64);

impl Draw {
    fn new() -> Draw {
        let seed = std::env::var("PARTYEDU_KILL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .subsec_nanos() as u64
                    | 1
            });
        eprintln!("kill points: PARTYEDU_KILL_SEED={seed}");
        Draw(seed)
    }

    /// A fraction in [lo, hi).
    fn fraction(&mut self, lo: f64, hi: f64) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + (hi - lo) * ((self.0 >> 11) as f64 / (1u64 << 53) as f64)
    }
}

fn partyedu(url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_partyedu"));
    command.env("DATABASE_URL", url).env("RUST_LOG", "warn");
    command
}

fn run(url: &str, args: &[&str]) -> Output {
    let output = partyedu(url).args(args).output().expect("partyedu runs");
    assert!(
        output.status.success(),
        "partyedu {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn spawn(url: &str, args: &[&str]) -> Child {
    partyedu(url)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("partyedu starts")
}

/// Kills `child` with SIGKILL after `after`; returns whether it was still running then.
async fn kill_after(mut child: Child, after: Duration) -> bool {
    tokio::time::sleep(after).await;
    let running = child.try_wait().expect("waitable").is_none();
    child.kill().ok();
    child.wait().expect("the child exits");
    running
}

/// A generated history in the target directory, made once per process.
fn history(members: u32, years: u32) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("crash-history-{members}x{years}.ndjson"));
    if !path.exists() {
        let output = Command::new(env!("CARGO_BIN_EXE_partyedu"))
            .args(["gen", "--members", &members.to_string(), "--years"])
            .arg(years.to_string())
            .args(["--until", "2024-12-31"])
            .env("RUST_LOG", "warn")
            .output()
            .expect("partyedu gen runs");
        assert!(output.status.success());
        let scratch = path.with_extension("part");
        std::fs::write(&scratch, &output.stdout).unwrap();
        std::fs::rename(&scratch, &path).unwrap();
    }
    path
}

/// The log as (event id, type, data), in order.
async fn log_of(url: &str) -> Vec<(String, String, Value)> {
    let pool = PgPool::connect(url).await.expect("connecting");
    let has_log: bool = sqlx::query_scalar("SELECT to_regclass('events') IS NOT NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    let rows: Vec<(String, String, String)> = if has_log {
        sqlx::query_as("SELECT event_id::text, type, data::text FROM events ORDER BY position")
            .fetch_all(&pool)
            .await
            .unwrap()
    } else {
        Vec::new()
    };
    pool.close().await;
    rows.into_iter()
        .map(|(id, ty, data)| (id, ty, serde_json::from_str(&data).unwrap()))
        .collect()
}

async fn drop_database(pool: &PgPool, url: &str) {
    let options: sqlx::postgres::PgConnectOptions = url.parse().expect("a URL");
    let name = options.get_database().expect("a database name").to_owned();
    assert!(name.starts_with("partyedu_test_"), "{name}");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(pool)
    .await
    .unwrap();
}

/// Stored count in `imported N new event(s)`.
fn imported(output: &Output) -> usize {
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("imported "))
        .unwrap_or_else(|| panic!("no `imported` line in {text:?}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[partyedu_testkit::db_test(migrations = false)]
async fn an_import_killed_at_random_points_leaves_a_prefix_and_resumes_to_the_same_log(
    pool: PgPool,
) {
    // Two transactions: 10,000 events, then the rest.
    let file = history(600, 1);
    let file_arg = file.to_str().unwrap();
    let lines = std::fs::read_to_string(&file).unwrap().lines().count();
    assert!(lines > IMPORT_CHUNK, "{lines} events: one transaction only");

    // The reference: one uninterrupted import, timed to place the kills.
    let reference_url = partyedu_testkit::database_url(&pool);
    let started = Instant::now();
    let output = run(&reference_url, &["import", file_arg]);
    let full = started.elapsed();
    assert_eq!(imported(&output), lines);
    let reference = log_of(&reference_url).await;
    assert_eq!(reference.len(), lines);

    let mut draw = Draw::new();
    let mut prefixes = Vec::new();
    for trial in 0..trials() {
        let url = partyedu_testkit::sibling_database_url(&pool);
        // Migrations first, so that the kill lands in the import itself.
        run(&url, &["projections"]);
        let spawned = Instant::now();
        let child = spawn(&url, &["import", file_arg]);
        // Even trials: anywhere in the run (validation included); odd trials: once the first
        // transaction is seen committed, so that the kill lands in or after the second.
        let at = if trial % 2 == 0 {
            full.mul_f64(draw.fraction(0.3, 1.0))
        } else {
            let watch = PgPool::connect(&url).await.unwrap();
            while sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events")
                .fetch_one(&watch)
                .await
                .unwrap()
                == 0
                && spawned.elapsed() < full * 4
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            watch.close().await;
            spawned.elapsed() + full.mul_f64(draw.fraction(0.0, 0.1))
        };
        let interrupted = kill_after(child, at.saturating_sub(spawned.elapsed())).await;

        let after_kill = log_of(&url).await;
        let n = after_kill.len();
        assert!(
            n == lines || n % IMPORT_CHUNK == 0,
            "trial {trial}: {n} events stored: a partial transaction"
        );
        assert_eq!(
            after_kill[..],
            reference[..n],
            "trial {trial}: not a prefix"
        );

        let output = run(&url, &["import", file_arg]);
        assert_eq!(
            imported(&output),
            lines - n,
            "trial {trial}: the re-run stores exactly the rest"
        );
        let resumed = log_of(&url).await;
        assert_eq!(resumed, reference, "trial {trial}: the final log differs");
        let mut ids: Vec<&str> = resumed.iter().map(|(id, _, _)| id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), lines, "trial {trial}: an event id twice");
        eprintln!(
            "trial {trial}: killed after {at:?} (of {full:?}; running: {interrupted}), \
             {n} of {lines} stored, the re-run stored {}",
            lines - n
        );
        prefixes.push(n);
        drop_database(&pool, &url).await;
    }
    eprintln!("import kills: prefixes {prefixes:?}");
}

/// The figures compared across rebuilds: a statistic and a ledger, as JSON.
async fn figures(server: &Server, token: &str, head: i64) -> Vec<Value> {
    let client = reqwest::Client::new();
    let mut out = Vec::new();
    for path in [
        "/api/v1/coverage?year=2024",
        "/api/v1/ledgers/classes?year=2024&limit=1000",
        "/api/v1/lectures/tallies?year=2024",
    ] {
        let url = format!("{}{path}&min_position={head}", server.base_url);
        let response = client.get(&url).bearer_auth(token).send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        out.push(body);
    }
    out
}

fn admin_token(url: &str) -> String {
    let output = run(
        url,
        &[
            "token",
            "create",
            "--role",
            "admin",
            "--name",
            "crash-admin",
        ],
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned()
}

async fn live_generation(pool: &PgPool) -> i32 {
    sqlx::query_scalar("SELECT live_generation FROM rm_projections WHERE name = 'facts'")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[partyedu_testkit::db_test(migrations = false)]
async fn a_rebuild_killed_mid_way_leaves_the_live_figures_and_resumes_to_the_same_figures(
    pool: PgPool,
) {
    let url = partyedu_testkit::database_url(&pool);
    let file = history(300, 1);
    run(&url, &["import", file.to_str().unwrap()]);
    let token = admin_token(&url);
    let server = Server::start(&url);
    let head: i64 = sqlx::query_scalar("SELECT max(position) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    // The live generation, folded incrementally by the server's projector.
    let live = figures(&server, &token, head).await;
    assert!(
        live[0]["rows"].as_array().is_some_and(|r| !r.is_empty()),
        "{}",
        live[0]
    );

    // One uninterrupted rebuild: equal figures, and its length places the kills.
    let started = Instant::now();
    run(&url, &["rebuild"]);
    let full = started.elapsed();
    assert_eq!(
        figures(&server, &token, head).await,
        live,
        "a fresh rebuild"
    );

    let mut draw = Draw::new();
    let mut interrupted_runs = 0;
    for trial in 0..trials() {
        let before = live_generation(&pool).await;
        let at = full.mul_f64(draw.fraction(0.1, 0.9));
        let interrupted = kill_after(spawn(&url, &["rebuild"]), at).await;
        let unfinished: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM rm_checkpoints c JOIN rm_projections p ON p.name = c.name \
             WHERE c.target_position IS NOT NULL AND c.generation <> p.live_generation",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        let swapped = live_generation(&pool).await != before;
        assert_eq!(
            figures(&server, &token, head).await,
            live,
            "trial {trial}: the live generation's figures after the kill"
        );

        run(&url, &["rebuild"]);
        assert_ne!(live_generation(&pool).await, before, "trial {trial}");
        assert_eq!(
            figures(&server, &token, head).await,
            live,
            "trial {trial}: the resumed rebuild's figures"
        );
        if interrupted && !swapped {
            interrupted_runs += 1;
        }
        eprintln!(
            "trial {trial}: killed after {at:?} (of {full:?}; running: {interrupted}, \
             swapped before the kill: {swapped}, unfinished generations left: {unfinished})"
        );
    }
    eprintln!("rebuild kills: {interrupted_runs} of {} mid-way", trials());
}
