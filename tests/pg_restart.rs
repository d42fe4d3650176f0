//! PostgreSQL restarted under load: a private cluster of the test's own (the machine's shared
//! server is left alone), `partyedu serve` on it, clients recording with idempotency keys in a
//! loop and readers reading the log and a statistic, and `pg_ctl restart -m fast` in the middle.
//! The service is ready again within 10 s; every answer is a success or `503 unavailable` in
//! the contract's error shape with `Retry-After` — never a 500, a bare status or a hang past the
//! time limit; and every acknowledged event is stored exactly once.

mod common;

use common::Server;
use partyedu_database::{Cluster, Lease};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CLIENTS: usize = 4;
/// Longer than the server's request time limit (30 s): a request still open then hangs.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(40);

/// The test's cluster: released (stopped) and removed however the test ends.
struct Private {
    lease: Option<Lease>,
    dir: std::path::PathBuf,
}

impl Drop for Private {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take() {
            lease.release();
        }
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

const READERS: usize = 2;

#[derive(Default, Debug)]
struct Outcomes {
    acknowledged: u64,
    /// Refusals in the contract's error shape, by status and code.
    clean: BTreeMap<String, u64>,
    /// Anything else: no error shape, a transport failure, a timeout.
    unclean: Vec<String>,
}

impl Outcomes {
    /// Files a refusal: clean when in the error shape, and when `503 unavailable`, with a
    /// `Retry-After` in seconds.
    fn refused(&mut self, status: u16, retry_after: Option<&str>, text: &str) {
        let parsed: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        match error_shape(&parsed) {
            Some(code)
                if code == "unavailable"
                    && retry_after.is_none_or(|s| s.parse::<u32>().is_err()) =>
            {
                self.unclean
                    .push(format!("{status} {code} without Retry-After: {text}"))
            }
            Some(code) => *self.clean.entry(format!("{status} {code}")).or_default() += 1,
            None => self.unclean.push(format!("{status}: {text}")),
        }
    }

    fn add(&mut self, other: Outcomes) {
        self.acknowledged += other.acknowledged;
        for (k, v) in other.clean {
            *self.clean.entry(k).or_default() += v;
        }
        self.unclean.extend(other.unclean);
    }
}

fn error_shape(body: &Value) -> Option<String> {
    let error = body.get("error")?;
    let code = error.get("code")?.as_str()?;
    error.get("message")?.as_str()?;
    error.get("details")?.as_array()?;
    Some(code.to_owned())
}

async fn post(client: &reqwest::Client, base: &str, token: &str, body: &Value) -> (u16, Value) {
    let response = client
        .post(format!("{base}/api/v1/events"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("the seed is recorded");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn class(id: &str) -> Value {
    json!({"type": "ClassHeld", "data": {"class_id": id, "title": "培训", "form": "concentrated",
        "organizer_org_id": "SD", "starts_at": "2024-03-05T09:00:00+08:00", "duration_minutes": 60,
        "study_hours": 1, "lecturer_ids": [], "attendee_ids": ["M1"]}})
}

/// One client: key after key, each retried (same key, same batch) until acknowledged.
async fn client_loop(
    base: String,
    token: String,
    n: usize,
    stop: Arc<AtomicBool>,
    acks: Arc<AtomicU64>,
) -> (Outcomes, Vec<String>) {
    let client = reqwest::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap();
    let mut outcomes = Outcomes::default();
    let mut acknowledged = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let id = format!("C-{n}-{i}");
        let body = json!({"events": [class(&id)], "idempotency_key": format!("key-{id}")});
        loop {
            let sent = client
                .post(format!("{base}/api/v1/events"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await;
            match sent {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = retry_after(&response);
                    let text = response.text().await.unwrap_or_default();
                    if status == 201 {
                        outcomes.acknowledged += 1;
                        acks.fetch_add(1, Ordering::Relaxed);
                        acknowledged.push(id.clone());
                        break;
                    }
                    outcomes.refused(status, retry_after.as_deref(), &text);
                }
                Err(err) => outcomes.unclean.push(format!("transport: {err:?}")),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        i += 1;
    }
    (outcomes, acknowledged)
}

fn retry_after(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// One reader: the log's first page and a statistic, in turn, until stopped; counts `200`s
/// as acknowledged.
async fn reader_loop(base: String, token: String, stop: Arc<AtomicBool>) -> Outcomes {
    let client = reqwest::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap();
    let mut outcomes = Outcomes::default();
    let uris = ["/api/v1/events?limit=20", "/api/v1/coverage?year=2024"];
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let uri = uris[i % uris.len()];
        i += 1;
        match client
            .get(format!("{base}{uri}"))
            .bearer_auth(&token)
            .send()
            .await
        {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = retry_after(&response);
                let text = response.text().await.unwrap_or_default();
                if status == 200 {
                    outcomes.acknowledged += 1;
                } else {
                    outcomes.refused(status, retry_after.as_deref(), &text);
                }
            }
            Err(err) => outcomes.unclean.push(format!("transport: {uri}: {err:?}")),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_loses_nothing_acknowledged() {
    let dir = std::env::temp_dir().join(format!("partyedu-pg-restart-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    let cluster = Cluster::new(dir.clone()).expect("PostgreSQL's server binaries");
    let lease = tokio::task::spawn_blocking(move || cluster.acquire())
        .await
        .unwrap()
        .expect("the private cluster starts");
    let cluster = lease.cluster().clone();
    let _private = Private {
        lease: Some(lease),
        dir,
    };
    let url = partyedu_database::url_of(&cluster.connect_options("partyedu"));

    let output = Command::new(env!("CARGO_BIN_EXE_partyedu"))
        .args(["token", "create", "--role", "admin", "--name", "admin"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let token = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let mut command = Command::new(env!("CARGO_BIN_EXE_partyedu"));
    command.env("DATABASE_URL", &url);
    let server = Server::start_with(command, &[]);
    let base = server.base_url.clone();
    let http = reqwest::Client::new();
    let seed = json!({"events": [
        {"type": "OrgUnitEstablished", "data": {"org_id": "SD", "name": "街道",
            "kind": "subdistrict", "parent_id": null, "established_on": "2019-01-01"}},
        {"type": "OrgUnitEstablished", "data": {"org_id": "G1", "name": "网格",
            "kind": "grid_branch", "parent_id": "SD", "established_on": "2019-01-01"}},
        {"type": "MemberEnrolled", "data": {"member_id": "M1", "name": "党员",
            "branch_id": "G1", "membership": "full", "joined_on": "2000-01-01",
            "enrolled_on": "2020-01-01", "employment": "in_service", "frail": false,
            "hardship": false}}]});
    let (status, body) = post(&http, &base, &token, &seed).await;
    assert_eq!(status, 201, "{body}");

    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            tokio::spawn(client_loop(
                base.clone(),
                token.clone(),
                n,
                stop.clone(),
                acks.clone(),
            ))
        })
        .collect();
    let readers: Vec<_> = (0..READERS)
        .map(|_| tokio::spawn(reader_loop(base.clone(), token.clone(), stop.clone())))
        .collect();
    let wait_for_acks = |target: u64| {
        let acks = acks.clone();
        async move {
            let since = Instant::now();
            while acks.load(Ordering::Relaxed) < target {
                assert!(
                    since.elapsed() < Duration::from_secs(60),
                    "no progress: {} acknowledged",
                    acks.load(Ordering::Relaxed)
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_for_acks(40).await;

    let restart_began = Instant::now();
    let restarting = cluster.clone();
    tokio::task::spawn_blocking(move || restarting.restart())
        .await
        .unwrap()
        .expect("the cluster restarts");
    let restarted = Instant::now();
    let ready = loop {
        let answer = http
            .get(format!("{base}/readyz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        if answer.is_ok_and(|a| a.status() == 200) {
            break restarted.elapsed();
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(10),
            "/readyz is not 200 within 10 s of the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let during = acks.load(Ordering::Relaxed);
    wait_for_acks(during + 40).await;
    stop.store(true, Ordering::Relaxed);

    let mut total = Outcomes::default();
    let mut acknowledged = BTreeSet::new();
    for client in clients {
        let (outcomes, ids) = client.await.unwrap();
        total.add(outcomes);
        acknowledged.extend(ids);
    }
    let mut reads = Outcomes::default();
    for reader in readers {
        reads.add(reader.await.unwrap());
    }
    eprintln!(
        "restart took {:?}; ready {ready:?} after it; recordings: {} acknowledged, refusals \
         {:?}, unclean {:?}; reads: {} answered, refusals {:?}, unclean {:?}",
        restarted - restart_began,
        total.acknowledged,
        total.clean,
        total.unclean,
        reads.acknowledged,
        reads.clean,
        reads.unclean,
    );
    for outcomes in [&total, &reads] {
        assert!(
            outcomes.unclean.is_empty(),
            "answers outside the contract: {:?}",
            outcomes.unclean
        );
        // A request the restart cut is the database's absence, not the server's fault: 503
        // `unavailable` (with Retry-After, checked above), never `500 internal`.
        let other: Vec<_> = outcomes
            .clean
            .keys()
            .filter(|k| k.as_str() != "503 unavailable")
            .collect();
        assert!(
            other.is_empty(),
            "refusals other than 503 unavailable: {:?}",
            outcomes.clean
        );
    }
    assert!(reads.acknowledged > 0, "the readers got no answer");

    let pool = sqlx::PgPool::connect_with(cluster.connect_options("partyedu"))
        .await
        .unwrap();
    let stored: Vec<(String, i64)> = sqlx::query_as(
        "SELECT data->>'class_id', count(*) FROM events WHERE type = 'ClassHeld' GROUP BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    let twice: Vec<_> = stored.iter().filter(|(_, n)| *n != 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    let stored: BTreeSet<String> = stored.into_iter().map(|(id, _)| id).collect();
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    // Every batch was retried until acknowledged, so nothing is stored unacknowledged either.
    assert_eq!(stored, acknowledged);
    drop(server);
}
