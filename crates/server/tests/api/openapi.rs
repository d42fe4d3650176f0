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
