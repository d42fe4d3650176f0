//! `soak`: the real `partyedu serve` as a child process on a fresh database, appends at a
//! steady rate and statistics queries at another through HTTP for a while, with one full
//! rebuild (`partyedu rebuild`, a second process) and one rule switch (`PUT
//! /api/v1/rules/live`) in the middle. Reports errors (any answer but the expected status),
//! p50/p99/max latency of appends and queries, and the server's resident memory (VmRSS from
//! /proc) sampled over the run.

use crate::child::{self, Server, Tally, timed};
use anyhow::{Result, bail};
use chrono::{Datelike, Duration as Days, Utc};
use serde_json::json;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The database to (re)create and run in; it is dropped first.
    #[arg(
        long,
        default_value = "postgres://root@localhost:5432/partyedu_bench_soak"
    )]
    database_url: String,
    /// The partyedu binary to run (build it first: `cargo build --release`).
    #[arg(long, default_value = "target/release/partyedu")]
    binary: String,
    /// Length of the run, in seconds.
    #[arg(long, default_value_t = 600)]
    seconds: u64,
    /// Appends (one event per request) per second.
    #[arg(long, default_value_t = 50)]
    appends_per_second: u64,
    /// Statistics queries per second.
    #[arg(long, default_value_t = 20)]
    queries_per_second: u64,
}

const MEMBERS: usize = 200;
/// The dashboard's questions about this year (`{year}`), whose read models are materialised: an
/// earlier year is answered from the facts, exact but slower, and is not what a dashboard asks
/// 20 times a second.
const QUERIES: &[&str] = &[
    "/api/v1/coverage?year={year}",
    "/api/v1/ledgers/classes?year={year}&limit=50",
    "/api/v1/lectures/tallies?year={year}",
    "/api/v1/headlines?year={year}",
    "/api/v1/coverage/members?year={year}&status=unreached&limit=50",
];

pub async fn run(args: Args) -> Result<()> {
    crate::fresh_database(&args.database_url)
        .await?
        .close()
        .await;
    let token = child::admin_token(&args.binary, &args.database_url, "soak")?;
    let server = Server::start(&args.binary, &args.database_url, Duration::from_secs(60))?;
    let pid = server.pid;
    let base = server.base.clone();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(40))
        .build()?;

    let mut seed = vec![
        json!({"type": "OrgUnitEstablished", "data": {"org_id": "SD", "name": "街道",
            "kind": "subdistrict", "parent_id": null, "established_on": "2019-01-01"}}),
        json!({"type": "OrgUnitEstablished", "data": {"org_id": "G1", "name": "网格",
            "kind": "grid_branch", "parent_id": "SD", "established_on": "2019-01-01"}}),
    ];
    seed.extend((0..MEMBERS).map(|m| {
        json!({"type": "MemberEnrolled", "data": {
        "member_id": format!("M{m}"), "name": format!("党员{m}"), "branch_id": "G1",
        "membership": "full", "joined_on": "2000-01-01", "enrolled_on": "2020-01-01",
        "employment": "in_service", "frail": false, "hardship": false}})
    }));
    let response = client
        .post(format!("{base}/api/v1/events"))
        .bearer_auth(&token)
        .json(&json!({"events": seed}))
        .send()
        .await?;
    if response.status() != 201 {
        bail!("seeding: {} {}", response.status(), response.text().await?);
    }

    let today = Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    let year = today.year().to_string();
    let held = format!("{}T09:00:00+08:00", today - Days::days(1));
    let appends = Arc::new(Mutex::new(Tally::new()));
    let queries = Arc::new(Mutex::new(Tally::new()));
    let started = Instant::now();
    let total = Duration::from_secs(args.seconds);
    let mut rss = vec![(0u64, server.rss_kib().unwrap_or(0))];
    let mut append_tick =
        tokio::time::interval(Duration::from_secs(1) / args.appends_per_second.max(1) as u32);
    let mut query_tick =
        tokio::time::interval(Duration::from_secs(1) / args.queries_per_second.max(1) as u32);
    let mut sample_tick = tokio::time::interval(Duration::from_secs(10));
    let mut n = 0u64;
    let mut q = 0usize;
    let mut rebuild: Option<tokio::task::JoinHandle<Result<(Duration, bool)>>> = None;
    let mut switched = None;
    let mut tasks = Vec::new();
    while started.elapsed() < total {
        tokio::select! {
            _ = append_tick.tick() => {
                n += 1;
                let id = format!("C-{n}");
                let attendees: Vec<String> = (0..5).map(|k| format!("M{}", (n as usize * 7 + k * 31) % MEMBERS)).collect();
                let body = json!({"idempotency_key": format!("soak-{n}"), "events": [{"type": "ClassHeld", "data": {
                    "class_id": id, "title": "培训", "form": "concentrated", "organizer_org_id": "SD",
                    "starts_at": held, "duration_minutes": 60, "study_hours": 1,
                    "lecturer_ids": [], "attendee_ids": attendees}}]});
                tasks.push(tokio::spawn(timed(client.post(format!("{base}/api/v1/events")).bearer_auth(&token).json(&body), 201, appends.clone())));
            }
            _ = query_tick.tick() => {
                q += 1;
                let path = QUERIES[q % QUERIES.len()].replace("{year}", &year);
                tasks.push(tokio::spawn(timed(client.get(format!("{base}{path}")).bearer_auth(&token), 200, queries.clone())));
            }
            _ = sample_tick.tick() => {
                rss.push((started.elapsed().as_secs(), server.rss_kib().unwrap_or(0)));
                tasks.retain(|t| !t.is_finished());
            }
        }
        if rebuild.is_none() && started.elapsed() >= total / 2 {
            let binary = args.binary.clone();
            let url = args.database_url.clone();
            rebuild = Some(tokio::task::spawn_blocking(move || {
                let at = Instant::now();
                let status = Command::new(binary)
                    .arg("rebuild")
                    .env("DATABASE_URL", url)
                    .env("RUST_LOG", "warn")
                    .stdout(Stdio::null())
                    .status()?;
                Ok((at.elapsed(), status.success()))
            }));
        }
        if switched.is_none() && started.elapsed() >= total / 2 + Duration::from_secs(5) {
            let answer = client
                .put(format!("{base}/api/v1/rules/live"))
                .bearer_auth(&token)
                .json(&json!({"id": "no-online-credit"}))
                .send()
                .await?;
            switched = Some((started.elapsed().as_secs(), answer.status().as_u16()));
        }
    }
    for task in tasks {
        task.await?;
    }
    rss.push((started.elapsed().as_secs(), server.rss_kib().unwrap_or(0)));
    let rebuild = match rebuild {
        Some(handle) => Some(handle.await??),
        None => None,
    };
    drop(server);

    let appends = appends.lock().await;
    let queries = queries.lock().await;
    println!(
        "soak: {} s, appends {}/s, queries {}/s, server pid {pid}, load {}",
        args.seconds,
        args.appends_per_second,
        args.queries_per_second,
        crate::loadavg()
    );
    for (name, t) in [("appends", &*appends), ("queries", &*queries)] {
        println!("{name}: {}", t.summary());
        for e in t.errors.iter().take(5) {
            println!("  error: {e}");
        }
    }
    match rebuild {
        Some((took, ok)) => println!(
            "rebuild at {} s: {:.1} s, ok: {ok}",
            args.seconds / 2,
            took.as_secs_f64()
        ),
        None => println!("rebuild: not reached"),
    }
    println!("rule switch (at s, status): {switched:?}");
    let line: Vec<String> = rss
        .iter()
        .map(|(s, k)| format!("{s}s:{:.1}MiB", *k as f64 / 1024.0))
        .collect();
    println!("server VmRSS: {}", line.join(" "));
    if !appends.errors.is_empty()
        || !queries.errors.is_empty()
        || rebuild.is_some_and(|(_, ok)| !ok)
        || switched.is_some_and(|(_, status)| status != 200)
    {
        bail!("the soak had errors");
    }
    Ok(())
}
