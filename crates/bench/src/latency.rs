//! `latency`: every dashboard query through HTTP at a city's scale, while appends run.
//!
//! A generated history (`partyedu gen --members N --years Y`) is imported by the real binary
//! into a fresh database (or the one given is kept with `--keep`), `partyedu serve` is started
//! as a child, and its time to ready and resident memory are read. Then, with appends at a steady
//! rate in the background (one `ClassHeld` of five members a request, open loop), each endpoint
//! in turn is asked by one client, closed loop, for a fixed time: the JSON API's statistics and
//! ledgers with their default first page, the dashboard's pages, and a trivial authenticated
//! endpoint (`GET /api/v1/audit/key`) measured the same way at the start and at the end — the
//! floor that HTTP, authentication and the client cost on this machine.

use crate::child::{self, Server, Tally, ms, timed};
use anyhow::{Context, Result, bail};
use chrono::{Datelike, Duration as Days, Utc};
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The database to measure in; dropped and refilled unless `--keep`.
    #[arg(
        long,
        default_value = "postgres://root@localhost:5432/partyedu_bench_latency"
    )]
    database_url: String,
    /// The partyedu binary to run (build it first: `cargo build --release`).
    #[arg(long, default_value = "target/release/partyedu")]
    binary: String,
    /// Members of the generated history.
    #[arg(long, default_value_t = 20_000)]
    members: usize,
    /// Years of the generated history, ending today.
    #[arg(long, default_value_t = 2)]
    years: u32,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Measure the database as it is (a history imported by an earlier run).
    #[arg(long)]
    keep: bool,
    /// How long each endpoint is asked, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds_per_endpoint: u64,
    /// Appends (one event per request) per second while the queries run.
    #[arg(long, default_value_t = 50)]
    appends_per_second: u64,
    /// How long `serve` may take to start listening, in seconds.
    #[arg(long, default_value_t = 1800)]
    start_within: u64,
}

const TRIVIAL: &str = "/api/v1/audit/key";

/// The dashboard's questions: `{year}` and `{member}` are filled in.
const ENDPOINTS: &[&str] = &[
    "/api/v1/coverage?year={year}",
    "/api/v1/coverage/members?year={year}&status=unreached&limit=50",
    "/api/v1/coverage/members?year={year}&status=noncompliant&limit=50",
    "/api/v1/headlines?year={year}",
    "/api/v1/lectures/tallies?year={year}",
    "/api/v1/ledgers/classes?year={year}&limit=50",
    "/api/v1/ledgers/frail-visits?year={year}&limit=50",
    "/api/v1/ledgers/mobile-contacts?year={year}&limit=50",
    "/api/v1/ledgers/wishes?year={year}&limit=50",
    "/api/v1/members/{member}/history?year={year}",
    "/?year={year}",
    "/coverage?year={year}",
    "/gaps/unreached?year={year}",
    "/gaps/noncompliant?year={year}",
    "/lectures?year={year}",
    "/ledgers/frail?year={year}",
    "/ledgers/mobile?year={year}",
    "/ledgers/wishes?year={year}",
    "/ledgers/classes?year={year}",
    "/members/{member}?year={year}",
];

pub async fn run(args: Args) -> Result<()> {
    if !args.keep {
        import(&args).await?;
    }
    let token = child::admin_token(&args.binary, &args.database_url, "latency")?;
    let started = Instant::now();
    let server = Server::start(
        &args.binary,
        &args.database_url,
        Duration::from_secs(args.start_within),
    )?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let base = server.base.clone();
    loop {
        let ready = client.get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let to_ready = started.elapsed();
    let rss_ready = server.rss_kib().unwrap_or(0);
    let year = Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).year();
    // Ready is reachable; measured is caught up, with this year's views built for the live
    // rule set (until then a query is answered from the facts: exact, slower).
    let status = loop {
        let status: Value = client
            .get(format!("{base}/api/v1/projections"))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        let p = &status["projections"][0];
        let live = &p["rule_set"]["hash"];
        let views_ready = p["materialised"].as_array().is_some_and(|views| {
            views
                .iter()
                .any(|v| &v["hash"] == live && v["year"] == year && v["ready"] == true)
        });
        if p["lag_events"] == 0 && views_ready {
            break p.clone();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let to_caught_up = started.elapsed();
    println!(
        "latency: {} members, {} years (seed {}), checkpoint {}, load {}",
        args.members,
        args.years,
        args.seed,
        status["checkpoint"],
        crate::loadavg()
    );
    println!(
        "serve: ready {:.1} s after start (VmRSS {:.0} MiB), caught up with {year}'s views built \
         {:.1} s after start (VmRSS {:.0} MiB)",
        to_ready.as_secs_f64(),
        rss_ready as f64 / 1024.0,
        to_caught_up.as_secs_f64(),
        server.rss_kib().unwrap_or(0) as f64 / 1024.0
    );

    let sample = members(&client, &base, &token, year).await?;
    let member = sample[0]["member_id"].as_str().context("a member id")?;

    // Appends in the background, open loop, until the queries are done.
    let appends = Arc::new(Mutex::new(Tally::new()));
    let stop = Arc::new(tokio::sync::Notify::new());
    let appender = tokio::spawn(append_steadily(
        client.clone(),
        base.clone(),
        token.clone(),
        sample.clone(),
        args.appends_per_second,
        appends.clone(),
        stop.clone(),
    ));

    let each = Duration::from_secs(args.seconds_per_endpoint);
    let mut rows = Vec::new();
    let mut paths = vec![TRIVIAL.to_owned()];
    paths.extend(ENDPOINTS.iter().map(|p| {
        p.replace("{year}", &year.to_string())
            .replace("{member}", member)
    }));
    paths.push(TRIVIAL.to_owned());
    for path in &paths {
        let tally = Arc::new(Mutex::new(Tally::new()));
        // Two unmeasured requests: the first answer of a page may build what later ones reuse.
        for _ in 0..2 {
            timed(
                client.get(format!("{base}{path}")).bearer_auth(&token),
                200,
                Arc::new(Mutex::new(Tally::new())),
            )
            .await;
        }
        let at = Instant::now();
        while at.elapsed() < each {
            timed(
                client.get(format!("{base}{path}")).bearer_auth(&token),
                200,
                tally.clone(),
            )
            .await;
        }
        let tally = Arc::try_unwrap(tally)
            .map_err(|_| anyhow::anyhow!("the tally is still shared"))?
            .into_inner();
        rows.push((path.clone(), tally));
    }
    stop.notify_one();
    appender.await?;
    let rss_end = server.rss_kib().unwrap_or(0);
    drop(server);

    let floor = rows
        .iter()
        .filter(|(p, _)| p == TRIVIAL)
        .map(|(_, t)| t.hist.value_at_quantile(0.99))
        .max()
        .unwrap_or(1)
        .max(1);
    println!(
        "\n| endpoint (one client, closed loop, {} s each) | requests | errors | p50 ms | p99 ms | max ms | p99 ÷ trivial p99 |",
        args.seconds_per_endpoint
    );
    println!("|---|---|---|---|---|---|---|");
    let mut failed = Vec::new();
    for (path, t) in &rows {
        println!(
            "| `{path}` | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            t.hist.len(),
            t.errors.len(),
            ms(t.hist.value_at_quantile(0.5)),
            ms(t.hist.value_at_quantile(0.99)),
            ms(t.hist.max()),
            t.hist.value_at_quantile(0.99) as f64 / floor as f64
        );
        if let Some(e) = t.errors.first() {
            failed.push(format!("{path}: {e}"));
        }
    }
    let appends = appends.lock().await;
    println!(
        "\nappends at {}/s meanwhile: {}",
        args.appends_per_second,
        appends.summary()
    );
    failed.extend(
        appends
            .errors
            .iter()
            .take(3)
            .map(|e| format!("append: {e}")),
    );
    println!(
        "serve VmRSS at the end: {:.0} MiB; load {}",
        rss_end as f64 / 1024.0,
        crate::loadavg()
    );
    if !failed.is_empty() {
        bail!("errors:\n{}", failed.join("\n"));
    }
    Ok(())
}

/// Generates the history with the binary's `gen` and imports it with its `import`, timing both.
async fn import(args: &Args) -> Result<()> {
    crate::fresh_database(&args.database_url)
        .await?
        .close()
        .await;
    let file = std::env::temp_dir().join(format!(
        "partyedu-latency-{}-{}-{}.ndjson",
        args.members, args.years, args.seed
    ));
    let at = Instant::now();
    let status = Command::new(&args.binary)
        .args([
            "gen",
            "--members",
            &args.members.to_string(),
            "--years",
            &args.years.to_string(),
            "--seed",
            &args.seed.to_string(),
        ])
        .stdout(std::fs::File::create(&file)?)
        .status()?;
    if !status.success() {
        bail!("gen failed");
    }
    println!("gen: {:.1} s", at.elapsed().as_secs_f64());
    let at = Instant::now();
    let status = Command::new(&args.binary)
        .arg("import")
        .arg(&file)
        .env("DATABASE_URL", &args.database_url)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("import failed");
    }
    println!("import: {:.1} s", at.elapsed().as_secs_f64());
    std::fs::remove_file(&file).ok();
    Ok(())
}

/// Members of the year, with the branch each belongs to: the attendees of the appends.
async fn members(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    year: i32,
) -> Result<Vec<Value>> {
    let page: Value = client
        .get(format!(
            "{base}/api/v1/coverage/members?year={year}&status=noncompliant&limit=50"
        ))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    let members = page["members"].as_array().cloned().unwrap_or_default();
    if members.len() < 5 {
        bail!("the history has fewer than 5 noncompliant members this year: {page}");
    }
    Ok(members)
}

/// One `ClassHeld` of five members of `sample` a tick, organised by the first one's branch,
/// held yesterday, until `stop`.
async fn append_steadily(
    client: reqwest::Client,
    base: String,
    token: String,
    sample: Vec<Value>,
    per_second: u64,
    tally: Arc<Mutex<Tally>>,
    stop: Arc<tokio::sync::Notify>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1) / per_second.max(1) as u32);
    let yesterday = (Utc::now() - Days::days(1)).date_naive();
    let run = format!("{:x}", Utc::now().timestamp_millis());
    let mut tasks = Vec::new();
    for n in 0usize.. {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.notified() => break,
        }
        let attendees: Vec<&Value> = (0..5)
            .map(|k| &sample[(n * 7 + k) % sample.len()]["member_id"])
            .collect();
        let organiser = &sample[n % sample.len()]["org_id"];
        let body = json!({"idempotency_key": format!("latency-{run}-{n}"), "events": [{
            "type": "ClassHeld", "data": {
                "class_id": format!("LAT-{run}-{n}"), "title": "学习", "form": "concentrated",
                "organizer_org_id": organiser, "starts_at": format!("{yesterday}T09:00:00+08:00"),
                "duration_minutes": 60, "study_hours": 1, "lecturer_ids": [],
                "attendee_ids": attendees}}]});
        tasks.push(tokio::spawn(timed(
            client
                .post(format!("{base}/api/v1/events"))
                .bearer_auth(&token)
                .json(&body),
            201,
            tally.clone(),
        )));
        tasks.retain(|t| !t.is_finished());
    }
    for task in tasks {
        task.await.ok();
    }
}
