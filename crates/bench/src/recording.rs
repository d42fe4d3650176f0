//! `recording`: one event per request through HTTP — the real router and recorder on a
//! loopback socket, HTTP/1.1 keep-alive clients in the same process — with 1 and 16 clients,
//! beside the raw 16-client INSERT ceiling measured in the same run (alternating rounds), and
//! an authenticated read that touches no read model (`GET /api/v1/rules`) as the HTTP floor.
//!
//! Every recording takes the recording lock, catches up, decides, appends and commits; the
//! recorder groups the recordings that queue behind the lock into one transaction, so 16
//! clients should not record fewer events a second than one.

use crate::shapes::{self, Sample};
use crate::{Aim, WRITERS, alternate, connect_pool, create_raw_table, fresh_database, loadavg};
use anyhow::{Context, Result, bail};
use partyedu_server::auth::{Role, create_token};
use partyedu_server::{AppState, Limits, Stats};
use partyedu_store::EventStore;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The database to (re)create and measure in; it is dropped first.
    #[arg(
        long,
        default_value = "postgres://root@localhost:5432/partyedu_bench_recording"
    )]
    database_url: String,
    /// Requests per side of each shape, split over the rounds.
    #[arg(long, default_value_t = 8_000)]
    requests: u64,
    /// Alternating rounds.
    #[arg(long, default_value_t = 4)]
    rounds: u64,
}

/// A running API and a client for it.
struct Api {
    base: String,
    token: String,
    client: reqwest::Client,
    /// Distinct ids for the logs recorded.
    next: Arc<AtomicU64>,
}

impl Api {
    async fn start(url: &str) -> Result<Api> {
        let pool = connect_pool(url, 16).await?;
        let store = EventStore::new(pool.clone());
        let token = create_token(&pool, "bench", Role::Admin, None, "bench").await?;
        let state = AppState::new(
            store,
            chrono_tz::Asia::Shanghai,
            Limits::default(),
            Stats::shipped(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(partyedu_server::serve(
            listener,
            state,
            std::future::pending(),
        ));
        let api = Api {
            base,
            token,
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()?,
            next: Arc::new(AtomicU64::new(0)),
        };
        let subdistrict = json!({"events": [
            {"type": "OrgUnitEstablished", "data": {"org_id": "SD", "name": "浮山新区街道",
                "kind": "subdistrict", "parent_id": null, "established_on": "2019-01-01"}},
            {"type": "OrgUnitEstablished", "data": {"org_id": "GA", "name": "第一网格",
                "kind": "grid_branch", "parent_id": "SD", "established_on": "2019-01-01"}},
            {"type": "MemberEnrolled", "data": {"member_id": "M1", "name": "王建国",
                "branch_id": "GA", "membership": "full", "joined_on": "1990-07-01",
                "enrolled_on": "2019-03-10", "employment": "retired", "frail": false,
                "hardship": false}}
        ]});
        api.post(&subdistrict).await?;
        Ok(api)
    }

    async fn post(&self, body: &Value) -> Result<()> {
        let response = self
            .client
            .post(format!("{}/api/v1/events", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        if response.status() != 201 {
            bail!("{}: {}", response.status(), response.text().await?);
        }
        Ok(())
    }

    /// One online study log of M1, with an id of its own.
    fn recording(&self) -> Value {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        json!({"events": [{"type": "OnlineStudyLogged", "data": {"log_id": format!("L{n}"),
            "member_id": "M1", "platform": "xuexi_qiangguo", "studied_on": "2024-05-03",
            "study_hours": "0.5"}}]})
    }

    /// `n` requests from `clients` concurrent clients; `record` posts, else reads the rules.
    async fn run(self: &Arc<Self>, clients: u64, n: u64, record: bool) -> Result<Sample> {
        let start = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let api = Arc::clone(self);
                let count = n / clients + u64::from(c < n % clients);
                tokio::spawn(async move {
                    let mut sample = Sample::new();
                    for _ in 0..count {
                        let t = Instant::now();
                        if record {
                            api.post(&api.recording()).await?;
                        } else {
                            let response = api
                                .client
                                .get(format!("{}/api/v1/rules", api.base))
                                .bearer_auth(&api.token)
                                .send()
                                .await?;
                            if !response.status().is_success() {
                                bail!("rules: {}", response.status());
                            }
                            response.bytes().await?;
                        }
                        sample.record(t.elapsed());
                    }
                    sample.events = count;
                    Ok::<_, anyhow::Error>(sample)
                })
            })
            .collect();
        let mut all = Sample::new();
        for task in tasks {
            all.merge(&task.await.context("a client task")??);
        }
        all.wall = start.elapsed();
        Ok(all)
    }
}

pub async fn run(args: Args) -> Result<()> {
    let url = args.database_url.as_str();
    let admin = fresh_database(url).await?;
    create_raw_table(&admin).await?;
    let raw16 = connect_pool(url, WRITERS as u32).await?;
    let api = Arc::new(Api::start(url).await?);
    let payload = Arc::new(shapes::payload());
    let rounds = args.rounds.max(1);
    let n = args.requests;

    let mut out = String::new();
    let _ = writeln!(
        out,
        "partyedu-bench recording: {n} requests a side, {rounds} alternating rounds, one \
         OnlineStudyLogged a request (one member stream), HTTP/1.1 keep-alive over loopback, \
         server and clients in one process on {} cores; load before: {}",
        std::thread::available_parallelism().map_or(0, |p| p.get()),
        loadavg()
    );
    let (c16, h16) = alternate(
        &admin,
        rounds,
        n,
        async |n, tag: String| shapes::raw_concurrent(&raw16, &payload, WRITERS, n, &tag).await,
        async |n, _tag: String| api.run(WRITERS, n, true).await,
    )
    .await?;
    let (_, h1) = alternate(
        &admin,
        rounds,
        n / 4,
        async |n, _tag: String| api.run(1, n, false).await,
        async |n, _tag: String| api.run(1, n, true).await,
    )
    .await?;
    let floor = [api.run(WRITERS, n, false).await?];
    let merged = |s: &[Sample]| {
        let mut all = Sample::new();
        for x in s {
            all.merge(x);
        }
        all
    };
    let (c16, h16, h1, floor) = (merged(&c16), merged(&h16), merged(&h1), merged(&floor));
    let _ = writeln!(
        out,
        "\n{:<34} {:>10} {:>9} {:>9} {:>9}",
        "shape", "per s", "p50 ms", "p99 ms", "mean ms"
    );
    for (name, s) in [
        ("raw INSERT ×16 (ceiling)", &c16),
        ("POST /api/v1/events, 16 clients", &h16),
        ("POST /api/v1/events, 1 client", &h1),
        ("GET /api/v1/rules, 16 clients", &floor),
    ] {
        let _ = writeln!(
            out,
            "{name:<34} {:>10.0} {:>9.2} {:>9.2} {:>9.2}",
            s.rate(),
            s.p50_ms(),
            s.p99_ms(),
            s.mean_ms()
        );
    }
    let ratio = h16.rate() / c16.rate();
    let _ = writeln!(out, "\nAims");
    let _ = writeln!(
        out,
        "   {}",
        Aim::new(
            "16 clients ≥ 0.7× the raw 16-client INSERT ceiling",
            format!("{ratio:.3}"),
            ratio >= 0.7
        )
    );
    let _ = writeln!(
        out,
        "   {}",
        Aim::new(
            "16 clients never below 1 client",
            format!("{:.0} vs {:.0} per s", h16.rate(), h1.rate()),
            h16.rate() >= h1.rate()
        )
    );
    let _ = writeln!(out, "\nload average at the end: {}", loadavg());
    print!("{out}");
    Ok(())
}
