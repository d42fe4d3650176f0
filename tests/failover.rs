//! Two `partyedu serve` processes on one database: one runs the projection; when it dies the
//! other takes over, and nothing is lost or counted twice.

mod common;

use common::Server;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::process::Command;
use std::time::Duration;

fn admin_token(url: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_partyedu"))
        .args(["token", "create", "--role", "admin", "--name", "admin"])
        .env("DATABASE_URL", url)
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned()
}

fn class(id: &str, attendees: &[String]) -> Value {
    json!({"type": "ClassHeld", "data": {"class_id": id, "title": "培训", "form": "concentrated",
        "organizer_org_id": "SD", "starts_at": "2024-03-05T09:00:00+08:00", "duration_minutes": 60,
        "study_hours": 1, "lecturer_ids": [], "attendee_ids": attendees}})
}

/// Records through `server` and returns the position of the last stored event.
async fn record(server: &Server, token: &str, events: Vec<Value>) -> i64 {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/events", server.base_url))
        .bearer_auth(token)
        .json(&json!({"events": events}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["events"].as_array().unwrap().last().unwrap()["position"]
        .as_i64()
        .unwrap()
}

/// SD's "all" row once the read models have reached `position` (waiting as a client would).
async fn coverage_at(server: &Server, token: &str, position: i64) -> Value {
    for _ in 0..60 {
        let response = reqwest::Client::new()
            .get(format!(
                "{}/api/v1/coverage?year=2024&org=SD&min_position={position}",
                server.base_url
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            let body: Value = response.json().await.unwrap();
            return body["rows"][0].clone();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the read models never reached {position}");
}

#[partyedu_testkit::db_test(migrations = false)]
async fn the_other_instance_takes_over_the_projection(pool: PgPool) {
    let url = partyedu_testkit::database_url(&pool);
    let mut first = Server::start(&url);
    first.wait_for_log("leading the facts projection");
    let mut second = Server::start(&url);
    let token = admin_token(&url);

    let members: Vec<String> = (0..10).map(|i| format!("M{i}")).collect();
    let mut setup = vec![
        json!({"type": "OrgUnitEstablished", "data": {"org_id": "SD", "name": "街道",
        "kind": "subdistrict", "parent_id": null, "established_on": "2019-01-01"}}),
        json!({"type": "OrgUnitEstablished", "data": {"org_id": "G1", "name": "网格",
        "kind": "grid_branch", "parent_id": "SD", "established_on": "2019-01-01"}}),
    ];
    setup.extend(members.iter().map(|m| json!({"type": "MemberEnrolled", "data": {"member_id": m,
        "name": format!("党员{m}"), "branch_id": "G1", "membership": "full", "joined_on": "2000-01-01",
        "enrolled_on": "2020-01-01", "employment": "in_service", "frail": false, "hardship": false}})));
    record(&first, &token, setup).await;
    let position = record(&first, &token, vec![class("C-1", &members[..4])]).await;
    let row = coverage_at(&second, &token, position).await;
    assert_eq!(
        (row["in_scope"].as_i64(), row["reached"].as_i64()),
        (Some(10), Some(4))
    );

    first.crash();
    let position = record(&second, &token, vec![class("C-2", &members[3..7])]).await;
    second.wait_for_log("leading the facts projection");
    let row = coverage_at(&second, &token, position).await;
    assert_eq!(row["reached"], 7, "{row}");

    // Every attendance folded exactly once.
    let rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM rm_participations p JOIN rm_projections r \
           ON r.live_generation = p.generation WHERE p.kind = 'class'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(rows, 8);
}
