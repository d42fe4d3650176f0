//! The audit interface over HTTP (CONTRACT §6): key, checkpoints, proofs checked with the
//! audit crate's own verifiers, the server's self-check, and a record's trail.

use crate::fixture::{Api, class, ev};
use axum::http::{Method, StatusCode};
use partyedu_audit::merkle::verify_consistency;
use partyedu_audit::{Hash, verify_checkpoint, verify_inclusion_proof};
use partyedu_server::{AppState, Limits, Stats};
use partyedu_store::EventStore;
use serde_json::{Value, json};
use sqlx::PgPool;

fn hashes(value: &Value) -> Vec<Hash> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|h| Hash::from_base64(h.as_str().unwrap()).unwrap())
        .collect()
}

async fn event_id_of(api: &Api, event_type: &str) -> String {
    let id: uuid::Uuid = sqlx::query_scalar(
        "SELECT event_id FROM events WHERE type = $1 ORDER BY position DESC LIMIT 1",
    )
    .bind(event_type)
    .fetch_one(&api.pool)
    .await
    .unwrap();
    id.to_string()
}

/// Proofs from the API verify with the crate's verifiers against signed checkpoints.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn proofs_verify_against_signed_checkpoints(pool: PgPool) {
    let api = Api::seeded(pool).await;
    let first = api.checkpoint().await;
    let (status, _) = api
        .post_events(
            "admin",
            json!({"events": [class("C-1", "CA", &["MA1", "MA2"])]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let second = api.checkpoint().await;
    assert!(second.head.size > first.head.size);

    let (status, key) = api.get("auditor", "/api/v1/audit/key").await;
    assert_eq!(status, StatusCode::OK);
    let key = key.as_str().unwrap().to_owned();
    assert!(
        key.ends_with('\n') && key.starts_with("partyedu/test+"),
        "{key:?}"
    );
    let verifier = partyedu_audit::Verifier::from_text(&key).unwrap();

    // The list, as JSON and as the notes themselves.
    let (status, list) = api.get("auditor", "/api/v1/audit/checkpoints").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let listed = list["checkpoints"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1]["note"], second.note.as_str());
    assert_eq!(listed[1]["size"], second.head.size);
    assert_eq!(listed[1]["root_hash"], second.head.root.to_base64());
    let (_, latest) = api
        .get("auditor", "/api/v1/audit/checkpoints?latest=true")
        .await;
    assert_eq!(latest["checkpoints"][0]["note"], second.note.as_str());
    let (_, after) = api
        .get(
            "auditor",
            &format!("/api/v1/audit/checkpoints?after={}", first.head.size),
        )
        .await;
    assert_eq!(after["checkpoints"].as_array().unwrap().len(), 1);
    let text = api
        .text("auditor", "/api/v1/audit/checkpoints", "text/plain")
        .await;
    assert_eq!(text, format!("{}{}", first.note, second.note));

    // Inclusion: the answer is a proof file.
    let class_id = event_id_of(&api, "ClassHeld").await;
    let (status, proof) = api
        .get(
            "auditor",
            &format!("/api/v1/audit/proof/inclusion?event_id={class_id}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{proof}");
    assert_eq!(proof["tree_size"], second.head.size);
    assert_eq!(proof["checkpoint"], second.note.as_str());
    let report = verify_inclusion_proof(&proof.to_string(), Some(&key)).unwrap();
    assert_eq!(report.event_id.to_string(), class_id);
    // A record the first checkpoint covers, proved in it.
    let org_id: uuid::Uuid =
        sqlx::query_scalar("SELECT event_id FROM events ORDER BY position LIMIT 1")
            .fetch_one(&api.pool)
            .await
            .unwrap();
    let (_, old) = api
        .get(
            "auditor",
            &format!(
                "/api/v1/audit/proof/inclusion?event_id={org_id}&size={}",
                first.head.size
            ),
        )
        .await;
    verify_inclusion_proof(&old.to_string(), Some(&key)).unwrap();
    // Not in the tree of that size: 404; beyond the tree: 400.
    let (status, body) = api
        .get(
            "auditor",
            &format!(
                "/api/v1/audit/proof/inclusion?event_id={class_id}&size={}",
                first.head.size
            ),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = api
        .get(
            "auditor",
            &format!("/api/v1/audit/proof/inclusion?event_id={class_id}&size=99999"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api
        .get(
            "auditor",
            &format!(
                "/api/v1/audit/proof/inclusion?event_id={}",
                uuid::Uuid::now_v7()
            ),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Consistency between the two signed heads, checked against their signed roots.
    let (status, consistency) = api
        .get(
            "auditor",
            &format!("/api/v1/audit/proof/consistency?from={}", first.head.size),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{consistency}");
    assert_eq!(consistency["to"], second.head.size);
    let old_head =
        verify_checkpoint(consistency["from_checkpoint"].as_str().unwrap(), &verifier).unwrap();
    let new_head =
        verify_checkpoint(consistency["to_checkpoint"].as_str().unwrap(), &verifier).unwrap();
    verify_consistency(
        old_head.size,
        new_head.size,
        &old_head.root,
        &new_head.root,
        &hashes(&consistency["proof"]),
    )
    .unwrap();
    let (status, _) = api
        .get(
            "auditor",
            &format!(
                "/api/v1/audit/proof/consistency?from={}&to={}",
                second.head.size, first.head.size
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "sizes out of order");

    // The server's own check holds.
    let (status, verified) = api.get("auditor", "/api/v1/audit/verify").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["checkpoints_checked"], 2);
}

/// The trail of a voided class shows its void, and the void shows what it voided; an
/// amendment names its class; who recorded each, with the token's role.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn the_trail_of_a_voided_class(pool: PgPool) {
    let api = Api::seeded(pool).await;
    let (status, body) = api
        .call(
            Method::POST,
            "/api/v1/events",
            Some("recorder"),
            Some(
                json!({"events": [class("C-9", "CA", &["MA1"])], "idempotency_key": "batch-9"})
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let class_id = body["events"][0]["event_id"].as_str().unwrap().to_owned();
    let amend = ev(
        "AttendanceAmended",
        json!({"class_id": "C-9", "added": ["MA2"], "removed": [], "reason": "漏记"}),
    );
    let void = ev(
        "RecordVoided",
        json!({"event_id": class_id, "reason": "重复录入"}),
    );
    let (status, body) = api
        .post_events("admin", json!({"events": [amend, void]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let amend_id = body["events"][0]["event_id"].as_str().unwrap().to_owned();
    let void_id = body["events"][1]["event_id"].as_str().unwrap().to_owned();

    // Before any checkpoint there is no proof yet.
    let (status, trail) = api
        .get("auditor", &format!("/api/v1/audit/records/{class_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{trail}");
    assert!(trail["inclusion_proof"].is_null());
    api.checkpoint().await;

    let (_, trail) = api
        .get("auditor", &format!("/api/v1/audit/records/{class_id}"))
        .await;
    assert_eq!(trail["record"]["event_id"], class_id.as_str());
    assert_eq!(trail["record"]["type"], "ClassHeld");
    assert_eq!(trail["actor"], "recorder");
    assert_eq!(trail["token"]["name"], "recorder");
    assert_eq!(trail["token"]["role"], "recorder");
    assert_eq!(trail["idempotency_key"], "batch-9");
    assert_eq!(trail["recorded_at"], trail["record"]["recorded_at"]);
    assert!(trail["corrects"].is_null());
    let by = trail["corrected_by"].as_array().unwrap();
    assert_eq!(by.len(), 2, "{trail}");
    assert_eq!(by[0]["kind"], "attendance_amendment");
    assert_eq!(by[0]["record"]["event_id"], amend_id.as_str());
    assert_eq!(by[1]["kind"], "void");
    assert_eq!(by[1]["record"]["event_id"], void_id.as_str());
    assert_eq!(by[1]["reason"], "重复录入");
    let key = api.text("auditor", "/api/v1/audit/key", "text/plain").await;
    verify_inclusion_proof(&trail["inclusion_proof"].to_string(), Some(&key)).unwrap();

    let (_, trail) = api
        .get("auditor", &format!("/api/v1/audit/records/{void_id}"))
        .await;
    assert_eq!(trail["token"]["role"], "admin");
    assert_eq!(trail["corrects"]["kind"], "void");
    assert_eq!(trail["corrects"]["record"]["event_id"], class_id.as_str());
    assert_eq!(trail["corrects"]["reason"], "重复录入");
    assert_eq!(trail["corrected_by"], json!([]));

    let (_, trail) = api
        .get("auditor", &format!("/api/v1/audit/records/{amend_id}"))
        .await;
    assert_eq!(trail["corrects"]["kind"], "attendance_amendment");
    assert_eq!(trail["corrects"]["record"]["event_id"], class_id.as_str());

    let (status, _) = api.get("auditor", "/api/v1/audit/records/not-a-uuid").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api
        .get(
            "auditor",
            &format!("/api/v1/audit/records/{}", uuid::Uuid::now_v7()),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Without an operator key the key endpoint says so (503); the tree still serves proofs of a
/// given size, and the self-check runs with signatures unchecked.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn without_a_key(pool: PgPool) {
    let store = EventStore::new(pool.clone());
    let state = AppState::new(
        store.clone(),
        chrono_tz::Asia::Shanghai,
        Limits::default(),
        Stats::shipped(),
    );
    let api = Api::with_state(pool, state).await;
    let (status, body) = api
        .post_events(
            "admin",
            json!({"events": [crate::fixture::subdistrict()[0].clone()]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = api.get("auditor", "/api/v1/audit/key").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "no_audit_key");
    let (status, _) = api
        .get("auditor", "/api/v1/audit/proof/consistency?from=0")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no checkpoint to default to");
    // The safe frontier is cluster-wide: other tests' transactions may hold it back a moment.
    while partyedu_audit::extend_tree(&store).await.unwrap() < 1 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (status, body) = api
        .get("auditor", "/api/v1/audit/proof/consistency?from=0&to=1")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = api.get("auditor", "/api/v1/audit/verify").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["ok"], true);
    assert!(body["public_key"].is_null());
}
