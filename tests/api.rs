//! End-to-end: the real `partyedu` process records, reads and refuses over HTTP, and its
//! command line creates tokens, exports and imports.

mod common;

use common::Server;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::migrate::MigrateDatabase;
use std::process::Command;

/// Runs `partyedu ARGS` against `url` and returns its standard output.
fn cli(url: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_partyedu"))
        .args(args)
        .env("DATABASE_URL", url)
        .output()
        .expect("the partyedu binary runs");
    assert!(
        output.status.success(),
        "partyedu {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `token create` prints the token alone on its last line.
fn new_token(url: &str, role: &str, name: &str) -> String {
    let out = cli(url, &["token", "create", "--role", role, "--name", name]);
    let token = out.lines().last().unwrap().trim().to_owned();
    assert!(token.starts_with("pe_") && !token.contains(' '), "{out}");
    token
}

fn org(id: &str, kind: &str, parent: Option<&str>) -> Value {
    json!({"type": "OrgUnitEstablished", "data": {"org_id": id, "name": id, "kind": kind,
        "parent_id": parent, "established_on": "2019-01-01"}})
}

#[partyedu_testkit::db_test(migrations = false)]
async fn records_reads_and_refuses_over_http(pool: PgPool) {
    let url = partyedu_testkit::database_url(&pool);
    let mut server = Server::start(&url);
    let recorder = new_token(&url, "recorder", "office-fushan");
    let auditor = new_token(&url, "auditor", "inspector");
    let client = reqwest::Client::new();
    let post = |token: &str, body: Value| {
        client
            .post(format!("{}/api/v1/events", server.base_url))
            .bearer_auth(token)
            .json(&body)
            .send()
    };

    let batch = json!({"events": [
        org("SD", "subdistrict", None),
        org("CA", "community", Some("SD")),
        org("GA", "grid_branch", Some("CA")),
        {"type": "MemberEnrolled", "data": {"member_id": "M1", "name": "王建国", "branch_id": "GA",
            "membership": "full", "joined_on": "1972-07-01", "enrolled_on": "2019-03-10",
            "employment": "retired", "frail": true, "hardship": false}},
        {"type": "HomeVisitMade", "data": {"visit_id": "HV-1", "member_id": "M1", "visitor_ids": [],
            "visited_on": "2024-07-01", "purposes": ["home_study_delivery"], "study_hours": 1}},
    ]});
    let response = post(&recorder, batch).await.unwrap();
    let status = response.status();
    let stored: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{stored}");
    assert_eq!(stored["events"].as_array().unwrap().len(), 5);
    assert_eq!(stored["events"][4]["actor"], "office-fushan");

    // Refused: bad input (400), a conflict with the log (409), no credential (401), wrong role (403).
    let bad = json!({"events": [{"type": "HomeVisitMade", "data": {"visit_id": "HV-2", "member_id": "M1",
        "visitor_ids": [], "visited_on": "2024-07-02", "purposes": [], "study_hours": 1}}]});
    let response = post(&recorder, bad).await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"]["details"][0]["path"],
        "events[0].data.purposes"
    );
    let again = json!({"events": [{"type": "HomeVisitMade", "data": {"visit_id": "HV-1", "member_id": "M1",
        "visitor_ids": [], "visited_on": "2024-07-02", "purposes": ["care_visit"], "study_hours": 0}}]});
    assert_eq!(post(&recorder, again.clone()).await.unwrap().status(), 409);
    assert_eq!(post(&auditor, again).await.unwrap().status(), 403);
    let response = client
        .post(format!("{}/api/v1/events", server.base_url))
        .json(&json!({"events": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // Read back: the stream as JSON, the log as NDJSON (waiting for the safe frontier, which
    // other tests' open transactions on this server may hold back for a moment).
    let stream: Value = client
        .get(format!("{}/api/v1/streams/visit:HV-1", server.base_url))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        stream["events"][0]["data"]["purposes"],
        json!(["home_study_delivery"])
    );
    let mut lines = Vec::new();
    for _ in 0..200 {
        let text = client
            .get(format!("{}/api/v1/events?after=0", server.base_url))
            .bearer_auth(&auditor)
            .header("accept", "application/x-ndjson")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        lines = text.lines().map(str::to_owned).collect();
        if lines.len() == 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(lines.len(), 5);
    let positions: Vec<i64> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["position"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]));

    // The command line lists who made the tokens.
    let listed = cli(&url, &["token", "list"]);
    assert!(
        listed.contains("office-fushan") && listed.contains("inspector"),
        "{listed}"
    );
    assert!(
        !listed.contains(&recorder),
        "token values are never shown again"
    );

    // What another rule set would change, once the projection has caught up: M2's two hours
    // reach but do not comply under cn-2019-hours, and comply under reach-all.
    let more = json!({"events": [
        {"type": "MemberEnrolled", "data": {"member_id": "M2", "name": "李秀英", "branch_id": "GA",
            "membership": "full", "joined_on": "1990-07-01", "enrolled_on": "2019-03-10",
            "employment": "in_service", "frail": false, "hardship": false}},
        {"type": "ClassHeld", "data": {"class_id": "C1", "title": "专题培训", "form": "concentrated",
            "organizer_org_id": "SD", "starts_at": "2024-03-05T09:00:00+08:00", "duration_minutes": 120,
            "study_hours": 2, "lecturer_ids": [], "attendee_ids": ["M2"]}},
    ]});
    let response = post(&recorder, more).await.unwrap();
    let stored: Value = response.json().await.unwrap();
    let last = stored["events"][1]["position"].as_i64().unwrap();
    let viewer = new_token(&url, "viewer", "dashboard");
    let coverage = client
        .get(format!(
            "{}/api/v1/coverage?year=2024&min_position={last}",
            server.base_url
        ))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(coverage.status(), 200);
    let diff = cli(
        &url,
        &[
            "rebuild",
            "--rules",
            "reach-all",
            "--diff",
            "--year",
            "2024",
        ],
    );
    let sd = diff
        .lines()
        .find(|l| l.starts_with("SD ") && l.contains(" all "))
        .unwrap_or_else(|| panic!("no SD/all line in\n{diff}"));
    assert!(sd.contains("1 → 2 /2"), "{sd}");
    assert!(diff.contains("rows would change"), "{diff}");
    assert!(server.terminate());
}

#[partyedu_testkit::db_test(migrations = false)]
async fn export_and_import_on_the_command_line(pool: PgPool) {
    let url = partyedu_testkit::database_url(&pool);
    let server = Server::start(&url);
    let admin = new_token(&url, "admin", "admin");
    let events =
        json!({"events": [org("SD", "subdistrict", None), org("CA", "community", Some("SD"))]});
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/events", server.base_url))
        .bearer_auth(&admin)
        .json(&events)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let exported = cli(&url, &["export"]);
    assert_eq!(exported.lines().count(), 2);

    let dir = std::env::temp_dir().join(format!("partyedu-e2e-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("log.ndjson");
    std::fs::write(&file, &exported).unwrap();
    let target = partyedu_testkit::sibling_database_url(&pool);
    let file = file.to_str().unwrap();
    assert!(cli(&target, &["import", file]).contains("imported 2 new event(s)"));
    assert!(cli(&target, &["import", file]).contains("imported 0 new event(s)"));
    let ids = |text: &str| -> Vec<Value> {
        text.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["event_id"].clone())
            .collect()
    };
    assert_eq!(ids(&cli(&target, &["export"])), ids(&exported));

    let broken = dir.join("broken.ndjson");
    std::fs::write(
        &broken,
        format!("{exported}{{\"type\": \"Nope\", \"data\": {{}}}}\n"),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_partyedu"))
        .args(["import", broken.to_str().unwrap()])
        .env("DATABASE_URL", &target)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 3: type:"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
    sqlx::Postgres::force_drop_database(&target).await.unwrap();
}

/// `token create --org ""` (an unset shell variable) or an org nobody established is refused
/// with the reason, and makes no token: it must never become a token for the whole subdistrict.
#[partyedu_testkit::db_test(migrations = false)]
async fn a_token_scope_must_name_an_org_unit(pool: PgPool) {
    let url = partyedu_testkit::database_url(&pool);
    for org in ["", "NOPE"] {
        let output = Command::new(env!("CARGO_BIN_EXE_partyedu"))
            .args([
                "token", "create", "--role", "recorder", "--name", "r1", "--org", org,
            ])
            .env("DATABASE_URL", &url)
            .output()
            .expect("the partyedu binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "--org {org:?} was accepted");
        assert!(stderr.contains("org scope"), "--org {org:?}: {stderr}");
    }
    let listed = cli(&url, &["token", "list"]);
    assert!(!listed.contains("r1"), "{listed}");
}
