//! Recording over HTTP: validation, atomicity, idempotency, limits, concurrency, upcasting.

use crate::fixture::{Api, class, ev, paths};
use axum::http::{Method, StatusCode};
use chrono::{Duration, Utc};
use partyedu_domain::Upcaster;
use partyedu_server::{AppState, Limits, Stats};
use partyedu_store::{AppendBatch, EventStore, NewEvent};
use serde_json::{Value, json};
use sqlx::PgPool;

/// Each case: a batch that breaks one rule of CONTRACT §2, the status it must get, and the
/// path its error must name. The domain's own tests (crates/domain/tests/rules.rs) judge every
/// rule; these show the HTTP layer turns each kind of refusal into the right status and
/// stores nothing of the batch.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn every_kind_of_violation_is_refused_and_nothing_is_stored(pool: PgPool) {
    let api = Api::seeded(pool).await;
    let (status, _) = api
        .post_events(
            "admin",
            json!({"events": [class("C-USED", "CA", &["MA1"])]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, stored) = api
        .post_events(
            "admin",
            json!({"events": [class("C-VOID", "CA", &["MA1"])]}),
        )
        .await;
    let voidable = stored["events"][0]["event_id"].clone();
    let void = |id: &Value| {
        ev(
            "RecordVoided",
            json!({"event_id": id, "reason": "重复录入"}),
        )
    };
    let (status, body) = api
        .post_events("admin", json!({"events": [void(&voidable)]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let with = |field: &str, value: Value| {
        let mut event = class("C-NEW", "CA", &["MA1"]);
        event["data"][field] = value;
        event
    };
    let far_ahead = (Utc::now() + Duration::days(3))
        .format("%Y-%m-%dT09:00:00+08:00")
        .to_string();
    let bad = StatusCode::BAD_REQUEST;
    let conflict = StatusCode::CONFLICT;
    let cases: Vec<(&str, Vec<Value>, StatusCode, &str)> = vec![
        (
            "zero class hours",
            vec![with("study_hours", json!(0))],
            bad,
            "events[0].data.study_hours",
        ),
        (
            "over 24 hours",
            vec![with("study_hours", json!(24.5))],
            bad,
            "events[0].data.study_hours",
        ),
        (
            "three decimals",
            vec![with("study_hours", json!(1.234))],
            bad,
            "events[0].data.study_hours",
        ),
        (
            "zero minutes",
            vec![with("duration_minutes", json!(0))],
            bad,
            "events[0].data.duration_minutes",
        ),
        (
            "too far ahead",
            vec![with("starts_at", json!(far_ahead))],
            bad,
            "events[0].data.starts_at",
        ),
        (
            "no offset",
            vec![with("starts_at", json!("2024-03-05T09:00:00"))],
            bad,
            "events[0].data.starts_at",
        ),
        (
            "bad id",
            vec![with("class_id", json!("C 1/x"))],
            bad,
            "events[0].data.class_id",
        ),
        (
            "listed twice",
            vec![with("attendee_ids", json!(["MA1", "MA1"]))],
            bad,
            "events[0].data.attendee_ids",
        ),
        (
            "unknown field",
            vec![with("bogus", json!(1))],
            bad,
            "events[0].data.bogus",
        ),
        (
            "unknown type",
            vec![ev("ClassCancelled", json!({}))],
            bad,
            "events[0].type",
        ),
        (
            "bad second event",
            vec![
                class("C-OK", "CA", &["MA1"]),
                with("study_hours", json!(-1)),
            ],
            bad,
            "events[1].data.study_hours",
        ),
        (
            "unknown org unit",
            vec![class("C-NEW", "NOPE", &["MA1"])],
            conflict,
            "events[0].data.organizer_org_id",
        ),
        (
            "unknown member",
            vec![class("C-NEW", "CA", &["NOBODY"])],
            conflict,
            "events[0].data.attendee_ids[0]",
        ),
        (
            "not yet enrolled",
            vec![with("starts_at", json!("2019-06-01T09:00:00+08:00"))],
            conflict,
            "events[0].data.attendee_ids[0]",
        ),
        (
            "org not yet established",
            vec![with("starts_at", json!("2018-06-01T09:00:00+08:00"))],
            conflict,
            "events[0].data.organizer_org_id",
        ),
        (
            "id already used",
            vec![class("C-USED", "CA", &["MA2"])],
            conflict,
            "events[0].data.class_id",
        ),
        (
            "void of a voided event",
            vec![void(&voidable)],
            conflict,
            "events[0].data.event_id",
        ),
        (
            "amendment adds an attendee",
            vec![ev(
                "AttendanceAmended",
                json!({"class_id": "C-USED", "added": ["MA1"], "removed": [], "reason": "核对"}),
            )],
            conflict,
            "events[0].data.added[0]",
        ),
        (
            "release by a non-claimer",
            vec![ev(
                "MicroWishReleased",
                json!({"wish_id": "W1", "member_id": "MA1", "released_on": "2024-05-04", "reason": "x"}),
            )],
            conflict,
            "events[0]",
        ),
        (
            "branch is a community",
            vec![ev(
                "MemberEnrolled",
                json!({"member_id": "MX", "name": "某", "branch_id": "CA", "membership": "full", "joined_on": "2000-01-01", "enrolled_on": "2021-01-01", "employment": "other", "frail": false, "hardship": false}),
            )],
            conflict,
            "events[0].data.branch_id",
        ),
        (
            "registry out of date order",
            vec![ev(
                "MemberTransferred",
                json!({"member_id": "MA1", "to_branch_id": "GB", "on": "2019-12-01"}),
            )],
            conflict,
            "events[0].data.on",
        ),
        (
            "valid first, conflicting second",
            vec![
                class("C-OK", "CA", &["MA1"]),
                class("C-USED", "CA", &["MA1"]),
            ],
            conflict,
            "events[1].data.class_id",
        ),
    ];
    for (name, events, status, path) in cases {
        let before = api.event_count().await;
        let (got, body) = api.post_events("recorder", json!({"events": events})).await;
        assert_eq!(got, status, "{name}: {body}");
        let named = paths(&body);
        assert!(
            named.iter().any(|p| p.starts_with(path)),
            "{name}: expected a detail at {path}, got {named:?}"
        );
        assert_eq!(
            api.event_count().await,
            before,
            "{name}: something was stored"
        );
    }
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn malformed_requests_name_the_place(pool: PgPool) {
    let api = Api::seeded(pool).await;
    let before = api.event_count().await;
    let send = |body: &str| {
        api.call(
            Method::POST,
            "/api/v1/events",
            Some("recorder"),
            Some(body.to_owned()),
        )
    };
    let (status, body) = send("{\"events\": [").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request");
    let (status, body) =
        send(r#"{"events": [{"type": "ClassHeld", "data": {}, "extra": 1}]}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(paths(&body), vec!["events[0].extra"]);
    let (status, body) =
        send(r#"{"events": [{"type": "ClassHeld", "data": {}, "event_id": "nope"}]}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(paths(&body), vec!["events[0].event_id"]);
    let (status, body) = send(r#"{"events": []}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(paths(&body), vec!["events"]);
    let (status, body) =
        send(r#"{"events": [{"type": "ClassHeld", "data": {"class_id": "C"}}]}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(paths(&body)[0].starts_with("events[0].data."), "{body}");
    assert_eq!(api.event_count().await, before);
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn idempotency_keys_return_the_original_result(pool: PgPool) {
    let api = Api::seeded(pool).await;
    let request = json!({"events": [class("C-1", "CA", &["MA1"])], "idempotency_key": "retry-1"});
    let (status, first) = api.post_events("recorder", request.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let count = api.event_count().await;
    let (status, again) = api.post_events("recorder", request).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again, first);
    assert_eq!(api.event_count().await, count);

    // The same key with other events is refused.
    let other = json!({"events": [class("C-2", "CA", &["MA1"])], "idempotency_key": "retry-1"});
    let (status, body) = api.post_events("recorder", other.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(paths(&body), vec!["idempotency_key"]);
    // Keys belong to their credential: another token may use the same key.
    let (status, body) = api.post_events("admin", other).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn client_event_ids_are_kept_and_retries_are_no_ops(pool: PgPool) {
    let api = Api::seeded(pool).await;
    let id = "0192f7c4-5e2a-7b31-9c1d-4a6f2e8b0d17";
    let mut event = class("C-1", "CA", &["MA1"]);
    event["event_id"] = json!(id);
    // A batch may void an event it records itself.
    let void = ev("RecordVoided", json!({"event_id": id, "reason": "录错"}));
    let (status, first) = api
        .post_events("recorder", json!({"events": [event.clone(), void]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["events"][0]["event_id"], id);
    assert_eq!(first["events"][1]["stream"], "class:C-1");

    let count = api.event_count().await;
    let (status, again) = api
        .post_events("recorder", json!({"events": [event.clone()]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["events"][0], first["events"][0]);
    assert_eq!(api.event_count().await, count);

    event["data"]["title"] = json!("另一个标题");
    let (status, body) = api
        .post_events("recorder", json!({"events": [event]}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(paths(&body), vec!["events[0].event_id"]);
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn the_envelope_keeps_actor_correlation_and_local_times(pool: PgPool) {
    let api = Api::seeded(pool).await;
    let request = axum::http::Request::post("/api/v1/events")
        .header("authorization", format!("Bearer {}", api.token("recorder")))
        .header("x-correlation-id", "req-42")
        .body(axum::body::Body::from(
            json!({"events": [ev("ClassHeld", json!({"class_id": "C-Y", "title": "跨年", "form": "online",
                "organizer_org_id": "SD", "starts_at": "2024-12-31T20:00:00Z", "duration_minutes": 30,
                "study_hours": 0.5, "lecturer_ids": [], "attendee_ids": ["MB1"]}))]})
            .to_string(),
        ))
        .unwrap();
    let response = tower::ServiceExt::oneshot(api.app.clone(), request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    let record = &body["events"][0];
    assert_eq!(record["actor"], "recorder");
    assert_eq!(record["metadata"]["correlation_id"], "req-42");
    // The activity's time in the deployment's zone: it is 2025 locally.
    assert_eq!(record["occurred_at"], "2025-01-01T04:00:00.000+08:00");
    assert!(record["recorded_at"].as_str().unwrap().ends_with("+08:00"));
    // Data exactly as stored: canonical, as the client sent it otherwise.
    assert_eq!(record["data"]["starts_at"], "2024-12-31T20:00:00Z");
    assert_eq!(record["data"]["study_hours"], json!(0.5));
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn oversized_requests_get_413(pool: PgPool) {
    let limits = Limits {
        max_body_bytes: 4_000,
        max_batch_events: 3,
    };
    let state = AppState::new(
        EventStore::new(pool.clone()),
        chrono_tz::Asia::Shanghai,
        limits,
        Stats::shipped(),
    );
    let api = Api::with_state(pool, state).await;
    let many: Vec<Value> = (0..4)
        .map(|i| class(&format!("C-{i}"), "CA", &["MA1"]))
        .collect();
    let (status, body) = api.post_events("admin", json!({"events": many})).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");
    let mut big = class("C-BIG", "CA", &["MA1"]);
    big["data"]["title"] = json!("x".repeat(5_000));
    let (status, body) = api.post_events("admin", json!({"events": [big]})).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(api.event_count().await, 0);
}

/// 32 members claim one open wish at once: exactly one claim is stored.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn of_32_concurrent_claims_exactly_one_wins(pool: PgPool) {
    let api = Api::seeded(pool).await;
    let members: Vec<Value> = (0..32)
        .map(|i| {
            ev("MemberEnrolled", json!({"member_id": format!("MC{i}"), "name": format!("党员{i}"),
                "branch_id": "GA", "membership": "full", "joined_on": "2001-07-01",
                "enrolled_on": "2021-01-01", "employment": "in_service", "frail": false, "hardship": false}))
        })
        .collect();
    let (status, _) = api.post_events("admin", json!({"events": members})).await;
    assert_eq!(status, StatusCode::CREATED);
    let api = std::sync::Arc::new(api);
    let claims: Vec<_> = (0..32)
        .map(|i| {
            let api = api.clone();
            tokio::spawn(async move {
                let claim = ev("MicroWishClaimed", json!({"wish_id": "W1", "member_id": format!("MC{i}"), "claimed_on": "2024-05-03"}));
                api.post_events("recorder", json!({"events": [claim]})).await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for claim in claims {
        statuses.push(claim.await.unwrap().0);
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        31,
        "{statuses:?}"
    );
    let (_, log) = api.get("auditor", "/api/v1/streams/wish:W1").await;
    assert_eq!(log["events"].as_array().unwrap().len(), 2);
}

/// A stored event of an older schema version is returned by the log as stored, and judged
/// upcast: here a made-up v0 `MemberEnrolled` that called the branch `branch`.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn older_schema_versions_are_read_upcast(pool: PgPool) {
    fn v0_to_v1(mut data: Value) -> Result<Value, String> {
        let object = data.as_object_mut().ok_or("not an object")?;
        let branch = object.remove("branch").ok_or("no branch")?;
        object.insert("branch_id".to_owned(), branch);
        Ok(data)
    }
    let store = EventStore::new(pool.clone());
    let upcaster = Upcaster::standard().with_step("MemberEnrolled", 0, v0_to_v1);
    let mut state = AppState::new(
        store.clone(),
        chrono_tz::Asia::Shanghai,
        Limits::default(),
        Stats::shipped(),
    );
    state.recorder =
        partyedu_server::recorder::Recorder::with_upcaster(store.clone(), state.tz, upcaster);
    let api = Api::with_state(pool, state).await;
    let (status, _) = api
        .post_events("admin", json!({"events": crate::fixture::subdistrict()}))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let old = NewEvent {
        event_id: None,
        stream: "member:OLD".to_owned(),
        event_type: "MemberEnrolled".to_owned(),
        schema_version: 0,
        occurred_at: None,
        actor: "legacy".to_owned(),
        data: json!({"member_id": "OLD", "name": "老党员", "branch": "GA", "membership": "full",
            "joined_on": "1960-07-01", "enrolled_on": "2015-01-01", "employment": "retired",
            "frail": true, "hardship": false}),
        metadata: json!({}),
    };
    store
        .append(&AppendBatch {
            events: vec![old],
            ..AppendBatch::default()
        })
        .await
        .unwrap();

    // Validation sees the upcast member: enrolled in GA, so it may attend.
    let (status, body) = api
        .post_events(
            "recorder",
            json!({"events": [class("C-1", "CA", &["OLD"])]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The log returns it as stored.
    let (_, log) = api.get("auditor", "/api/v1/streams/member:OLD").await;
    assert_eq!(log["events"][0]["schema_version"], 0);
    assert_eq!(log["events"][0]["data"]["branch"], "GA");
}

/// Whether `text` is a timestamp as the API returns them: RFC 3339, milliseconds, an offset.
fn has_millis(text: &str) -> bool {
    let b = text.as_bytes();
    chrono::DateTime::parse_from_rfc3339(text).is_ok()
        && b.len() == 29
        && b[19] == b'.'
        && b[20..23].iter().all(u8::is_ascii_digit)
        && matches!(b[23], b'+' | b'-')
}

/// CONTRACT §6: every timestamp the API returns carries milliseconds, so an event without a
/// date of its own (a void) shows `occurred_at` equal to `recorded_at`; a date-only event is at
/// local midnight with `.000`.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn every_timestamp_the_api_returns_has_milliseconds(pool: PgPool) {
    let api = Api::seeded(pool.clone()).await;
    let (status, stored) = api
        .post_events("admin", json!({"events": [class("C-1", "CA", &["MA1"])]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    let void = ev(
        "RecordVoided",
        json!({"event_id": stored["events"][0]["event_id"], "reason": "重复录入"}),
    );
    let (status, voided) = api.post_events("admin", json!({"events": [void]})).await;
    assert_eq!(status, StatusCode::CREATED, "{voided}");
    let record = &voided["events"][0];
    assert_eq!(record["occurred_at"], record["recorded_at"], "{record}");

    // Streams, not the global log: that stops at the cluster's oldest open transaction, and
    // other databases' tests may hold one.
    let mut events = Vec::new();
    for stream in ["org:SD", "member:MA1", "class:C-1"] {
        let (status, page) = api
            .get("auditor", &format!("/api/v1/streams/{stream}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        events.extend(page["events"].as_array().unwrap().iter().cloned());
    }
    for event in &events {
        for field in ["occurred_at", "recorded_at"] {
            let text = event[field].as_str().unwrap();
            assert!(has_millis(text), "{field} {text} of {event}");
        }
    }
    assert_eq!(events[0]["type"], "OrgUnitEstablished");
    assert_eq!(events[0]["occurred_at"], "2019-01-01T00:00:00.000+08:00");
    let stored_void = events.iter().find(|e| e["type"] == "RecordVoided").unwrap();
    assert_eq!(stored_void["occurred_at"], stored_void["recorded_at"]);
    assert_eq!(stored_void["recorded_at"], record["recorded_at"]);

    // Tokens, the rule selection and the projections' status alike.
    let (status, _) = api
        .call(
            Method::PUT,
            "/api/v1/rules/live",
            Some("admin"),
            Some(json!({"id": "reach-all"}).to_string()),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, rules) = api.get("admin", "/api/v1/rules").await;
    assert!(
        has_millis(rules["live"]["changed_at"].as_str().unwrap()),
        "{rules}"
    );
    let (status, _) = api
        .call(
            Method::DELETE,
            "/api/v1/tokens/viewer-ca",
            Some("admin"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, tokens) = api.get("admin", "/api/v1/tokens").await;
    for token in tokens["tokens"].as_array().unwrap() {
        assert!(has_millis(token["created_at"].as_str().unwrap()), "{token}");
        if let Some(at) = token["revoked_at"].as_str() {
            assert!(has_millis(at), "{token}");
        }
    }
    crate::statistics::project(&pool).await;
    let (_, status) = api.get("viewer", "/api/v1/projections").await;
    let updated = status["projections"][0]["updated_at"].as_str().unwrap();
    assert!(has_millis(updated), "{status}");
    // A history's entries, and the class register, too.
    let (_, history) = api
        .get("auditor", "/api/v1/members/MA1/history?year=2024")
        .await;
    assert_eq!(
        history["entries"][0]["occurred_at"],
        "2024-03-05T09:00:00.000+08:00"
    );
    let (_, register) = api
        .get("auditor", "/api/v1/ledgers/classes?year=2024")
        .await;
    assert_eq!(
        register["classes"][0]["occurred_at"],
        "2024-03-05T09:00:00.000+08:00"
    );
}
