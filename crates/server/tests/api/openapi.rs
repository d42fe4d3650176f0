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
