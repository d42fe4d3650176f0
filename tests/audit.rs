//! End-to-end: the real process signs checkpoints of its log, serves proofs that the audit
//! crate's verifiers accept and record trails, and its command line checkpoints, exports and
//! verifies — an export offline with no database anywhere, the database after a superuser
//! changed a row, and exported figures recomputed offline from an export.

mod common;
mod oracle;

use common::Server;
use partyedu_audit::merkle::verify_consistency;
use partyedu_audit::{Hash, Verifier, verify_checkpoint, verify_inclusion_proof};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ORIGIN: &str = "partyedu/e2e";

fn scratch_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("partyedu-{name}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `partyedu` against `url`, with its data directory (where the generated key lives) `data`.
fn partyedu(url: &str, data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_partyedu"));
    command
        .env("DATABASE_URL", url)
        .env("PARTYEDU_DATA_DIR", data)
        .env("PARTYEDU_AUDIT_ORIGIN", ORIGIN)
        .env_remove("PARTYEDU_AUDIT_KEY")
        .env_remove("PARTYEDU_AUDIT_KEY_FILE");
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("the partyedu binary runs")
}

/// Runs `partyedu ARGS` and returns its standard output; it must succeed.
fn cli(url: &str, data: &Path, args: &[&str]) -> String {
    let output = run(partyedu(url, data).args(args));
    assert!(
        output.status.success(),
        "partyedu {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn new_token(url: &str, data: &Path, role: &str, name: &str) -> String {
    let out = cli(
        url,
        data,
        &["token", "create", "--role", role, "--name", name],
    );
    out.lines().last().unwrap().trim().to_owned()
}

fn serve(url: &str, data: &Path) -> Server {
    Server::start_with(partyedu(url, data), &[])
}

fn org(id: &str, kind: &str, parent: Option<&str>) -> Value {
    json!({"type": "OrgUnitEstablished", "data": {"org_id": id, "name": format!("Unit {id}"),
        "kind": kind, "parent_id": parent, "established_on": "2019-01-01"}})
}

fn member(id: &str) -> Value {
    json!({"type": "MemberEnrolled", "data": {"member_id": id, "name": "Wang Jianguo",
        "branch_id": "GA", "membership": "full", "joined_on": "1972-07-01",
        "enrolled_on": "2019-03-10", "employment": "retired", "frail": false, "hardship": false}})
}

fn class(id: &str) -> Value {
    json!({"type": "ClassHeld", "data": {"class_id": id, "title": "Lecture", "form": "concentrated",
        "organizer_org_id": "CA", "starts_at": "2024-03-05T09:00:00+08:00",
        "duration_minutes": 120, "study_hours": 2.5, "lecturer_ids": [], "attendee_ids": ["M1"]}})
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn post(&self, events: Vec<Value>) -> Value {
        let response = self
            .http
            .post(format!("{}/api/v1/events", self.base))
            .bearer_auth(&self.token)
            .json(&json!({"events": events}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    async fn text(&self, path: &str) -> String {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("accept", "text/plain")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.text().await.unwrap()
    }

    /// The latest checkpoint once the server has signed one of at least `size` leaves.
    async fn checkpoint_covering(&self, size: u64) -> Value {
        for _ in 0..600 {
            let list = self.get("/api/v1/audit/checkpoints?latest=true").await;
            if let Some(latest) = list["checkpoints"].get(0)
                && latest["size"].as_u64().unwrap() >= size
            {
                return latest.clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("no checkpoint of {size} leaves was signed");
    }
}

impl Client {
    /// Waits until the read models have folded `position` (the safe frontier is cluster-wide,
    /// so another test's open transaction may hold them back longer than `min_position` waits).
    async fn folded(&self, position: i64) {
        for _ in 0..600 {
            let status = self.get("/api/v1/projections").await;
            if status["projections"][0]["checkpoint"].as_i64().unwrap_or(0) >= position {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the read models did not reach position {position}");
    }
}

fn hashes(value: &Value) -> Vec<Hash> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|h| Hash::from_base64(h.as_str().unwrap()).unwrap())
        .collect()
}

/// The running server signs checkpoints by itself; its proofs verify with the crate's
/// verifiers against the published key, and a voided class's trail shows its void.
#[partyedu_testkit::db_test(migrations = false)]
async fn the_server_signs_its_log_and_proves_it(pool: PgPool) {
    let url = partyedu_testkit::database_url(&pool);
    let data = scratch_dir("audit-http");
    let server = serve(&url, &data);
    assert!(
        data.join("audit-key").exists(),
        "with nothing configured, a key is generated into the data directory"
    );
    let client = Client {
        http: reqwest::Client::new(),
        base: server.base_url.clone(),
        token: new_token(&url, &data, "admin", "office"),
    };
    let auditor = Client {
        token: new_token(&url, &data, "auditor", "inspector"),
        http: client.http.clone(),
        base: client.base.clone(),
    };

    client
        .post(vec![
            org("SD", "subdistrict", None),
            org("CA", "community", Some("SD")),
            org("GA", "grid_branch", Some("CA")),
            member("M1"),
        ])
        .await;
    let first = auditor.checkpoint_covering(4).await;
    let held = client.post(vec![class("C-1")]).await;
    let class_id = held["events"][0]["event_id"].as_str().unwrap().to_owned();
    let voided = client
        .post(vec![json!({"type": "RecordVoided",
            "data": {"event_id": class_id, "reason": "recorded twice"}})])
        .await;
    let void_id = voided["events"][0]["event_id"].as_str().unwrap().to_owned();
    let latest = auditor.checkpoint_covering(6).await;

    let key = auditor.text("/api/v1/audit/key").await;
    let verifier = Verifier::from_text(&key).unwrap();
    let head = verify_checkpoint(latest["note"].as_str().unwrap(), &verifier).unwrap();
    assert_eq!(head.origin, ORIGIN);
    assert_eq!(head.size, 6);

    let proof = auditor
        .get(&format!(
            "/api/v1/audit/proof/inclusion?event_id={class_id}"
        ))
        .await;
    let proved = verify_inclusion_proof(&proof.to_string(), Some(&key)).unwrap();
    assert_eq!(proved.event_id.to_string(), class_id);
    assert_eq!(proved.tree_size, 6);

    let old = verify_checkpoint(first["note"].as_str().unwrap(), &verifier).unwrap();
    let consistency = auditor
        .get(&format!(
            "/api/v1/audit/proof/consistency?from={}&to={}",
            old.size, head.size
        ))
        .await;
    verify_consistency(
        old.size,
        head.size,
        &old.root,
        &head.root,
        &hashes(&consistency["proof"]),
    )
    .unwrap();

    let trail = auditor
        .get(&format!("/api/v1/audit/records/{class_id}"))
        .await;
    assert_eq!(trail["actor"], "office");
    assert_eq!(trail["token"]["role"], "admin");
    assert_eq!(trail["corrected_by"][0]["kind"], "void");
    assert_eq!(
        trail["corrected_by"][0]["record"]["event_id"],
        void_id.as_str()
    );
    verify_inclusion_proof(&trail["inclusion_proof"].to_string(), Some(&key)).unwrap();
    let trail = auditor
        .get(&format!("/api/v1/audit/records/{void_id}"))
        .await;
    assert_eq!(trail["corrects"]["record"]["event_id"], class_id.as_str());
    assert_eq!(trail["corrects"]["record"]["type"], "ClassHeld");

    let verified = auditor.get("/api/v1/audit/verify").await;
    assert_eq!(verified["ok"], true, "{verified}");
    drop(server);
    std::fs::remove_dir_all(&data).ok();
}

/// `partyedu checkpoint` until it signs `size` leaves (the safe frontier is cluster-wide, so
/// another test's open transaction may hold it back a moment); the note.
fn checkpoint_of(url: &str, data: &Path, size: u64) -> String {
    for _ in 0..600 {
        let note = cli(url, data, &["checkpoint"]);
        let signed: u64 = note.lines().nth(1).unwrap().parse().unwrap();
        if signed >= size {
            assert_eq!(signed, size);
            return note;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("no checkpoint of {size} leaves");
}

/// A loopback port where nothing listens.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `partyedu verify ARGS` where no database can be reached.
fn verify_without_database(data: &Path, args: &[&str]) -> Output {
    let nowhere = format!("postgres://partyedu@127.0.0.1:{}/partyedu", closed_port());
    let mut command = partyedu(&nowhere, data);
    command
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", closed_port().to_string())
        .env("PARTYEDU_DATA_DIR", data.join("nothing-here"))
        .arg("verify")
        .args(args);
    run(&mut command)
}

/// An export, a checkpoint from the command line and the key from the API verify offline with
/// nothing listening where the database would be; one byte changed is found at its line.
#[partyedu_testkit::db_test(migrations = false)]
async fn an_export_verifies_offline(pool: PgPool) {
    let url = partyedu_testkit::database_url(&pool);
    let data = scratch_dir("audit-offline");
    let server = serve(&url, &data);
    let client = Client {
        http: reqwest::Client::new(),
        base: server.base_url.clone(),
        token: new_token(&url, &data, "admin", "office"),
    };
    let events = vec![
        org("SD", "subdistrict", None),
        org("CA", "community", Some("SD")),
        org("GA", "grid_branch", Some("CA")),
        member("M1"),
        class("C-1"),
    ];
    // One event, one checkpoint: the list of them locates a change to its line.
    let mut latest = String::new();
    for (n, event) in events.into_iter().enumerate() {
        client.post(vec![event]).await;
        latest = checkpoint_of(&url, &data, n as u64 + 1);
    }
    let files = scratch_dir("audit-files");
    let export = files.join("export.ndjson");
    std::fs::write(&export, cli(&url, &data, &["export"])).unwrap();
    let checkpoint = files.join("checkpoint.txt");
    std::fs::write(&checkpoint, &latest).unwrap();
    let all = files.join("checkpoints.txt");
    let listed = client.text("/api/v1/audit/checkpoints").await;
    assert!(listed.ends_with(&latest), "{listed}");
    std::fs::write(&all, listed).unwrap();
    let key = files.join("key.txt");
    std::fs::write(&key, client.text("/api/v1/audit/key").await).unwrap();
    drop(server);

    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let offline = |export: &Path, checkpoint: &Path| {
        verify_without_database(
            &data,
            &[
                "--file",
                &path(export),
                "--checkpoint",
                &path(checkpoint),
                "--public-key",
                &path(&key),
            ],
        )
    };
    let output = offline(&export, &checkpoint);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("5 record(s) re-hashed"), "{stdout}");
    assert!(offline(&export, &all).status.success());

    // One byte of line 3's data changed ("Unit GA" → "Unit GB").
    let text = std::fs::read_to_string(&export).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert!(lines[2].contains("Unit GA"), "{}", lines[2]);
    lines[2] = lines[2].replace("Unit GA", "Unit GB");
    let changed = files.join("changed.ndjson");
    std::fs::write(&changed, lines.join("\n") + "\n").unwrap();
    let output = offline(&changed, &all);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("at line 3"), "{stderr}");
    let output = offline(&changed, &checkpoint);
    assert!(!output.status.success(), "one checkpoint finds it too");

    // A proof file checks offline as well, and a key other than its own is refused.
    let proof = files.join("proof.json");
    let conn = &pool;
    let event: uuid::Uuid =
        sqlx::query_scalar("SELECT event_id FROM events ORDER BY position LIMIT 1 OFFSET 3")
            .fetch_one(conn)
            .await
            .unwrap();
    let server = serve(&url, &data);
    let auditor = Client {
        http: reqwest::Client::new(),
        base: server.base_url.clone(),
        token: client.token.clone(),
    };
    let answer = auditor
        .get(&format!("/api/v1/audit/proof/inclusion?event_id={event}"))
        .await;
    std::fs::write(&proof, answer.to_string()).unwrap();
    let output = verify_without_database(
        &data,
        &["--proof", &path(&proof), "--public-key", &path(&key)],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let other = files.join("other-key.txt");
    let (_, other_key) = partyedu_audit::generate_key("partyedu/other").unwrap();
    std::fs::write(&other, other_key).unwrap();
    let output = verify_without_database(
        &data,
        &["--proof", &path(&proof), "--public-key", &path(&other)],
    );
    assert!(!output.status.success());
    drop(server);
    std::fs::remove_dir_all(&data).ok();
    std::fs::remove_dir_all(&files).ok();
}

/// `partyedu verify` passes on an honest database and, after a superuser changed a row with
/// the immutability trigger disabled, exits non-zero naming the position.
#[partyedu_testkit::db_test(migrations = false)]
async fn verify_finds_a_superuser_tampering(pool: PgPool) {
    let url = partyedu_testkit::database_url(&pool);
    let data = scratch_dir("audit-tamper");
    let log = data.join("log.ndjson");
    let generated = cli(
        &url,
        &data,
        &[
            "gen",
            "--members",
            "20",
            "--years",
            "1",
            "--until",
            "2024-12-31",
        ],
    );
    std::fs::write(&log, generated).unwrap();
    cli(&url, &data, &["import", log.to_str().unwrap()]);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    checkpoint_of(&url, &data, count as u64);
    let honest = cli(&url, &data, &["verify"]);
    assert!(honest.contains("the log verifies"), "{honest}");

    let position: i64 =
        sqlx::query_scalar("SELECT position FROM events ORDER BY position OFFSET 7 LIMIT 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    sqlx::query("ALTER TABLE events DISABLE TRIGGER events_no_update_delete")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE events SET actor = 'intruder' WHERE position = $1")
        .bind(position)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE events ENABLE TRIGGER events_no_update_delete")
        .execute(&pool)
        .await
        .unwrap();
    let output = run(partyedu(&url, &data).arg("verify"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!("changed at position {position}")),
        "{stderr}"
    );
    // Only a range that leaves the row out passes.
    let output = run(partyedu(&url, &data).args(["verify", "--from", &(position + 1).to_string()]));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::remove_dir_all(&data).ok();
}

/// A statistic's path with `evidence=true`, as of at least `position`.
fn with_evidence(path: &str, position: i64) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}evidence=true&min_position={position}")
}

/// Figures with evidence, saved as the API answers them, verify offline (`partyedu verify
/// --figure`, no database anywhere) against an export and a checkpoint: coverage (whole, paged,
/// the running year), a gap list, the headlines and a member's history. One figure changed in
/// the file is reported where it differs, with what the records give; an export with one
/// event removed fails the checkpoint check before any figure is recomputed.
#[partyedu_testkit::db_test(migrations = false)]
async fn an_exported_figure_verifies_offline(pool: PgPool) {
    let url = partyedu_testkit::database_url(&pool);
    let data = scratch_dir("audit-figure");
    let server = serve(&url, &data);
    let client = Client {
        http: reqwest::Client::new(),
        base: server.base_url.clone(),
        token: new_token(&url, &data, "auditor", "inspector"),
    };
    let recorder = Client {
        http: reqwest::Client::new(),
        base: server.base_url.clone(),
        token: new_token(&url, &data, "admin", "office"),
    };
    // The oracle's hand-checked scenarios: voids, an amendment and its void, transfers, leaving
    // and re-enrolment, roles, frail members, the online cap, a year boundary, lectures.
    let mut last = 0;
    for (_, records) in oracle::scenarios::all() {
        let body = oracle::scenarios::as_post_events(&records);
        let stored = recorder
            .post(body["events"].as_array().unwrap().clone())
            .await;
        last = stored["events"].as_array().unwrap().last().unwrap()["position"]
            .as_i64()
            .unwrap();
    }
    client.folded(last).await;
    let running_year = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y")
        .to_string();
    let figures = [
        ("coverage", "/api/v1/coverage?year=2024".to_owned()),
        (
            "coverage-page",
            "/api/v1/coverage?year=2024&org=b-SD&offset=2&limit=9".to_owned(),
        ),
        (
            "coverage-reach-all",
            "/api/v1/coverage?year=2024&rules=reach-all".to_owned(),
        ),
        (
            "coverage-running",
            format!("/api/v1/coverage?year={running_year}&org=d-SD"),
        ),
        (
            "noncompliant",
            "/api/v1/coverage/members?year=2024&status=noncompliant".to_owned(),
        ),
        (
            "headlines",
            "/api/v1/headlines?year=2024&org=f-SD".to_owned(),
        ),
        ("history", "/api/v1/members/b-M3/history".to_owned()),
        (
            "history-2024",
            "/api/v1/members/d-M3/history?year=2024".to_owned(),
        ),
    ];
    let files = scratch_dir("audit-figure-files");
    let mut saved = Vec::new();
    for (name, path) in &figures {
        let answer = client.get(&with_evidence(path, last)).await;
        let evidence = &answer["evidence"];
        assert_eq!(evidence["format"], "partyedu-figure-evidence/1", "{name}");
        assert!(
            evidence["checkpoint"]
                .as_str()
                .unwrap()
                .contains("partyedu/e2e"),
            "{name}: {evidence}"
        );
        assert!(
            answer["as_of"]["position"].as_i64().unwrap() >= last,
            "{name}"
        );
        let file = files.join(format!("{name}.json"));
        std::fs::write(&file, serde_json::to_string_pretty(&answer).unwrap()).unwrap();
        saved.push((*name, file, answer));
    }
    // A coverage row names the members it counts, and each of them their events.
    let coverage = &saved[0].2;
    let row = coverage["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["org_id"] == "b-SD" && r["group"] == "all")
        .unwrap();
    assert_eq!(row["in_scope"], 3, "{row}");
    assert_eq!(row["evidence"]["in_scope"], json!(["b-M1", "b-M2", "b-M3"]));
    assert_eq!(row["evidence"]["reached"], json!(["b-M1", "b-M2"]));
    let m1 = &coverage["evidence"]["members"]["b-M1"];
    assert_eq!(m1["registry"].as_array().unwrap().len(), 1, "{m1}");
    assert_eq!(m1["credited"].as_array().unwrap().len(), 1, "{m1}");
    // Statistics without evidence say so.
    let response = client
        .http
        .get(format!(
            "{}/api/v1/lectures/tallies?year=2024&evidence=true",
            client.base
        ))
        .bearer_auth(&client.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let export = files.join("export.ndjson");
    std::fs::write(&export, cli(&url, &data, &["export"])).unwrap();
    let checkpoint = files.join("checkpoint.txt");
    std::fs::write(
        &checkpoint,
        client.text("/api/v1/audit/checkpoints?latest=true").await,
    )
    .unwrap();
    let key = files.join("key.txt");
    std::fs::write(&key, client.text("/api/v1/audit/key").await).unwrap();
    drop(server);

    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let offline = |figure: &Path, export: &Path| {
        let output = verify_without_database(
            &data,
            &[
                "--figure",
                &path(figure),
                "--file",
                &path(export),
                "--checkpoint",
                &path(&checkpoint),
                "--public-key",
                &path(&key),
            ],
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    };
    for (name, file, _) in &saved {
        let (ok, text) = offline(file, &export);
        assert!(ok, "{name}: {text}");
        assert!(text.contains("the figure verifies"), "{name}: {text}");
    }

    // One figure changed: b-SD's `all` row reached 2 → 3.
    let mut changed = coverage.clone();
    let index = changed["rows"]
        .as_array()
        .unwrap()
        .iter()
        .position(|r| r["org_id"] == "b-SD" && r["group"] == "all")
        .unwrap();
    changed["rows"][index]["reached"] = json!(3);
    let changed_file = files.join("changed.json");
    std::fs::write(&changed_file, changed.to_string()).unwrap();
    let (ok, text) = offline(&changed_file, &export);
    assert!(!ok, "{text}");
    let expected = format!(
        "rows[{index}] (org b-SD, group all).reached: the records give 2, the figure says 3"
    );
    assert!(text.contains(&expected), "{text}");
    assert!(text.contains("1 of "), "exactly one value differs: {text}");

    // A member dropped from a row's evidence is named.
    let mut dropped = coverage.clone();
    dropped["rows"][index]["evidence"]["reached"] = json!(["b-M1"]);
    std::fs::write(&changed_file, dropped.to_string()).unwrap();
    let (ok, text) = offline(&changed_file, &export);
    assert!(!ok);
    assert!(text.contains("missing from the figure: b-M2"), "{text}");

    // One event removed from the export: the checkpoint check fails, no figure is recomputed.
    let exported = std::fs::read_to_string(&export).unwrap();
    let mut shorter: Vec<&str> = exported.lines().collect();
    shorter.remove(7);
    let shorter_file = files.join("shorter.ndjson");
    std::fs::write(&shorter_file, shorter.join("\n") + "\n").unwrap();
    let (ok, text) = offline(&saved[0].1, &shorter_file);
    assert!(!ok, "{text}");
    assert!(text.contains("does not verify"), "{text}");
    assert!(!text.contains("the figure verifies"), "{text}");
    assert!(!text.contains("differs:"), "{text}");

    std::fs::remove_dir_all(&data).ok();
    std::fs::remove_dir_all(&files).ok();
}
