//! Concurrent recordings share commits: each is answered as if it had been alone, and a
//! failed commit acknowledges none of its group.

use crate::fixture::{Api, class};
use axum::http::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::sync::Arc;

/// What a recording of class `n` is: valid (MA1 attends), refused (an unknown member attends),
/// or a retry of an earlier one under the same idempotency key.
fn request(n: usize) -> (Value, StatusCode) {
    match n % 4 {
        1 => (
            json!({"events": [class(&format!("C-{n}"), "CA", &["NOBODY"])]}),
            StatusCode::CONFLICT,
        ),
        3 => (
            json!({"events": [class("C-KEYED", "CA", &["MA2"])], "idempotency_key": "same"}),
            StatusCode::CREATED,
        ),
        _ => (
            json!({"events": [class(&format!("C-{n}"), "CA", &["MA1"])]}),
            StatusCode::CREATED,
        ),
    }
}

/// Sends `requests` at once; returns each one's status and body, in order.
async fn all_at_once(api: &Arc<Api>, requests: Vec<Value>) -> Vec<(StatusCode, Value)> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|body| {
            let api = api.clone();
            tokio::spawn(async move { api.post_events("recorder", body).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

/// 24 recordings at once, a quarter of them refused and a quarter retries under one key:
/// each gets exactly the answer it would have had alone, the refusals store nothing and harm
/// none, the keyed ones store once; and recordings did share transactions (positions are
/// `xid * 65536 + n`).
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn concurrent_recordings_share_commits_and_are_answered_alone(pool: PgPool) {
    let api = Arc::new(Api::seeded(pool.clone()).await);
    let before = api.event_count().await;
    let (bodies, expected): (Vec<Value>, Vec<StatusCode>) = (0..24).map(request).unzip();
    let answers = all_at_once(&api, bodies).await;
    let mut keyed = BTreeSet::new();
    let mut transactions = Vec::new();
    for (n, ((status, body), want)) in answers.iter().zip(&expected).enumerate() {
        assert_eq!(status, want, "request {n}: {body}");
        if *status == StatusCode::CREATED {
            let stored = &body["events"][0];
            let id = stored["data"]["class_id"].as_str().unwrap();
            if n % 4 == 3 {
                keyed.insert(stored["event_id"].as_str().unwrap().to_owned());
            } else {
                assert_eq!(id, format!("C-{n}"));
            }
            transactions.push(stored["position"].as_i64().unwrap() >> 16);
        } else {
            assert_eq!(body["error"]["code"], "conflict", "request {n}: {body}");
        }
    }
    assert_eq!(
        keyed.len(),
        1,
        "the keyed retries all answer the one stored event"
    );
    // 12 valid classes, one keyed class: 13 stored.
    assert_eq!(api.event_count().await, before + 13);
    let distinct: BTreeSet<i64> = transactions.iter().copied().collect();
    assert!(
        distinct.len() < 13,
        "no two recordings shared a transaction: {transactions:?}"
    );
}

/// A commit that fails (here a deferred trigger refuses a class titled "boom" at commit
/// time, as a crash or a lost connection at that moment would) stores nothing of its group
/// and acknowledges none of it: every 201 is stored, every other answer is not.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn a_failed_commit_acknowledges_none_of_its_group(pool: PgPool) {
    let api = Arc::new(Api::seeded(pool.clone()).await);
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.data::text LIKE '%boom%' THEN RAISE EXCEPTION 'boom at commit'; END IF; \
         RETURN NULL; END $$; \
         CREATE CONSTRAINT TRIGGER refuse_boom AFTER INSERT ON events \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_boom();",
    )
    .execute(&pool)
    .await
    .unwrap();
    let before = api.event_count().await;
    let bodies: Vec<Value> = (0..16)
        .map(|n| {
            let mut event = class(&format!("C-{n}"), "CA", &["MA1"]);
            if n % 5 == 2 {
                event["data"]["title"] = json!("boom");
            }
            json!({"events": [event]})
        })
        .collect();
    let answers = all_at_once(&api, bodies).await;
    let mut acknowledged = 0;
    for (n, (status, body)) in answers.iter().enumerate() {
        let stored: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE type = 'ClassHeld' AND data->>'class_id' = $1",
        )
        .bind(format!("C-{n}"))
        .fetch_one(&pool)
        .await
        .unwrap();
        if *status == StatusCode::CREATED {
            acknowledged += 1;
            assert_eq!(stored, 1, "request {n} was acknowledged but not stored");
        } else {
            assert_eq!(
                stored, 0,
                "request {n} was refused ({status}) but stored: {body}"
            );
            assert!(body["error"]["code"].is_string(), "the error shape: {body}");
        }
        if n % 5 == 2 {
            assert_ne!(*status, StatusCode::CREATED, "request {n} must fail");
        }
    }
    assert_eq!(api.event_count().await, before + acknowledged);
}
