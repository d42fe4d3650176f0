//! The OpenAPI document describes the API that is actually routed.

use crate::fixture::Api;
use axum::http::{Method, StatusCode};
use sqlx::PgPool;

/// Every documented operation reaches a handler: not axum's fallback 404 (which has no JSON
/// error body) nor 405; and the catalog's event schemas are in it.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn every_documented_operation_is_routed(pool: PgPool) {
    let api = Api::seeded(pool).await;
    let (status, doc) = api
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 7);
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let uri = path
                .replace("{stream}", "org:SD")
                .replace("{name}", "nobody");
            let method: Method = method.to_uppercase().parse().unwrap();
            let (status, body) = api.call(method.clone(), &uri, Some("admin"), None).await;
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
            if status == StatusCode::NOT_FOUND {
                assert_eq!(
                    body["error"]["code"], "not_found",
                    "{method} {uri} is not routed"
                );
            }
        }
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "ClassHeld.v1",
        "RecordVoided.v1",
        "RecordRequest",
        "EventsPage",
        "ErrorBody",
    ] {
        assert!(schemas.contains_key(name), "{name} missing");
    }
    let text = doc.to_string();
    assert!(
        !text.contains("#/$defs/"),
        "every reference resolves inside the document"
    );
}

/// The token role and the member role are two enums: each has its own schema, and
/// `CreateToken.role` points at the token's.
#[test]
fn the_token_role_is_not_the_member_role() {
    let doc = partyedu_server::openapi_document();
    let schemas = &doc["components"]["schemas"];
    let target = schemas["CreateToken"]["properties"]["role"]["$ref"]
        .as_str()
        .expect("CreateToken.role is a reference");
    let name = target
        .strip_prefix("#/components/schemas/")
        .expect("a local reference");
    assert_eq!(name, "TokenRole");
    let values = |schema: &serde_json::Value| -> Vec<String> {
        let mut values: Vec<String> = match schema["enum"].as_array() {
            Some(values) => values
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect(),
            None => schema["oneOf"]
                .as_array()
                .expect("an enum or a oneOf of constants")
                .iter()
                .flat_map(|v| {
                    v["enum"]
                        .as_array()
                        .cloned()
                        .unwrap_or_else(|| vec![v["const"].clone()])
                })
                .map(|v| v.as_str().unwrap().to_owned())
                .collect(),
        };
        values.sort();
        values
    };
    assert_eq!(
        values(&schemas[name]),
        ["admin", "auditor", "recorder", "viewer"]
    );
    assert!(
        values(&schemas["Role"]).contains(&"subdistrict_leader".to_owned()),
        "the member role keeps its name"
    );
}

/// An error axum answers itself — a route that does not exist, a method a route does not take,
/// a path segment that is not UTF-8 — has the API's error shape too, its status and `Allow`
/// kept.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn errors_outside_the_handlers_have_the_error_shape(pool: PgPool) {
    let api = Api::new(pool).await;
    for (method, uri, status, code) in [
        (
            Method::GET,
            "/api/v1/nothing-here",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::PATCH,
            "/api/v1/events",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Method::GET,
            "/api/v1/members/%FF/history",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ] {
        let request = axum::http::Request::builder()
            .method(method.clone())
            .uri(uri)
            .header("authorization", format!("Bearer {}", api.token("admin")))
            .body(axum::body::Body::empty())
            .unwrap();
        let response = tower::ServiceExt::oneshot(api.app.clone(), request)
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{method} {uri}");
        let allow = response.headers().get("allow").cloned();
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{method} {uri}"
        );
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"]["code"], code, "{method} {uri}: {body}");
        assert!(body["error"]["message"].is_string(), "{body}");
        assert!(body["error"]["details"].is_array(), "{body}");
        if status == StatusCode::METHOD_NOT_ALLOWED {
            let allow = allow.expect("405 keeps Allow");
            assert!(allow.to_str().unwrap().contains("POST"), "{allow:?}");
        }
    }
}

/// The document states what this instance enforces: the rule sets it has loaded (the values of
/// `rules` and of `PUT /api/v1/rules/live`) and its batch limit.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn the_document_states_this_instances_rule_sets_and_batch_limit(pool: PgPool) {
    let state = partyedu_server::AppState::new(
        partyedu_store::EventStore::new(pool.clone()),
        chrono_tz::Asia::Shanghai,
        partyedu_server::Limits {
            max_batch_events: 7,
            ..partyedu_server::Limits::default()
        },
        partyedu_server::Stats::shipped(),
    );
    let ids: Vec<String> = state.stats.book.ids().map(str::to_owned).collect();
    let api = Api::with_state(pool, state).await;
    let (status, doc) = api
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["RuleSetId"]["enum"], serde_json::json!(ids));
    assert_eq!(
        schemas["RecordRequest"]["properties"]["events"]["maxItems"],
        7
    );
    let shipped = partyedu_server::openapi_document();
    assert_eq!(
        shipped["components"]["schemas"]["RecordRequest"]["properties"]["events"]["maxItems"],
        partyedu_server::Limits::default().max_batch_events
    );
    // A batch one over the limit is 413, as documented.
    let events: Vec<serde_json::Value> = (0..8)
        .map(|i| {
            crate::fixture::ev(
                "OrgUnitEstablished",
                serde_json::json!({"org_id": format!("O{i}"), "name": "x", "kind": "subdistrict",
                    "parent_id": null, "established_on": "2019-01-01"}),
            )
        })
        .collect();
    let (status, body) = api
        .post_events("admin", serde_json::json!({ "events": events }))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
}

/// Found by the API fuzzer. A name holding U+0000 was stored and stopped the read models at
/// it (PostgreSQL's text cannot hold it): it is refused, as are such an idempotency key and
/// event type filter (they were `500`). And `60.0`, a JSON Schema `integer` as documented, was
/// refused for `duration_minutes`: it is taken, and stored as `60`.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn what_the_fuzzer_found_in_recordings(pool: PgPool) {
    let api = Api::seeded(pool).await;
    let before = api.event_count().await;
    let named = |name: &str| {
        serde_json::json!({"events": [crate::fixture::ev("OrgUnitEstablished", serde_json::json!({
            "org_id": "SX", "name": name, "kind": "subdistrict", "parent_id": null,
            "established_on": "2019-01-01"}))]})
    };
    let (status, body) = api.post_events("admin", named("a\u{0}b")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["details"][0]["path"], "events[0].data.name");
    let mut keyed = named("ok");
    keyed["idempotency_key"] = serde_json::json!("k\u{0}");
    let (status, body) = api.post_events("admin", keyed).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["details"][0]["path"], "idempotency_key");
    // A key of 200 characters is 200 characters, however many bytes.
    let mut keyed = named("ok");
    keyed["idempotency_key"] = serde_json::json!("键".repeat(200));
    let (status, body) = api.post_events("admin", keyed).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = api.get("admin", "/api/v1/events?type=a%00").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = api.get("admin", "/api/v1/streams/a%00b").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(api.event_count().await, before + 1);

    let mut class = crate::fixture::class("C-FLOAT", "CA", &["MA1"]);
    class["data"]["duration_minutes"] = serde_json::json!(60.0);
    let (status, body) = api
        .post_events("admin", serde_json::json!({ "events": [class] }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["events"][0]["data"]["duration_minutes"], 60);
    assert!(
        body["events"][0]["data"]["duration_minutes"].is_u64(),
        "{body}"
    );
}
