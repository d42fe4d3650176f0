//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the whole API.
//!
//! Request, response and event schemas are generated (schemars) from the very types the
//! handlers deserialise and serialise, so they cannot drift from the code; the operation table
//! below is checked against the router by a test that calls every documented operation.

use crate::AppState;
use crate::audit::{
    CheckpointList, CheckpointsQuery, ConsistencyAnswer, ConsistencyQuery, InclusionAnswer,
    InclusionQuery, RecordTrail, VerifyAnswer, VerifyQuery,
};
use crate::auth::TokenInfo;
use crate::error::ErrorBody;
use crate::log::{EventsPage, LogQuery};
use crate::recording::RecordRequest;
use crate::rules::SwitchRules;
use crate::stats::StatsQuery;
use crate::tokens::CreateToken;
use axum::routing::get;
use axum::{Json, Router};
use partyedu_domain::Event;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};
use std::sync::LazyLock;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/openapi.json",
        get(|| async { Json(DOCUMENT.clone()) }),
    )
}

static DOCUMENT: LazyLock<Value> = LazyLock::new(document);

/// One documented operation.
pub(crate) struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    summary: &'static str,
    /// Who may call it; empty for everyone.
    roles: &'static str,
    query: Option<&'static str>,
    request: Option<&'static str>,
    /// Status and body schema of the success response.
    response: (u16, Option<&'static str>),
}

pub(crate) const OPERATIONS: &[Operation] = &[
    Operation {
        method: "get",
        path: "/healthz",
        summary: "The process is up",
        roles: "",
        query: None,
        request: None,
        response: (200, None),
    },
    Operation {
        method: "get",
        path: "/readyz",
        summary: "The database is reachable and migrated (503 otherwise)",
        roles: "",
        query: None,
        request: None,
        response: (200, None),
    },
    Operation {
        method: "post",
        path: "/api/v1/events",
        summary: "Record a batch of events, atomically (CONTRACT §3)",
        roles: "recorder, admin",
        query: None,
        request: Some("RecordRequest"),
        response: (201, Some("EventsPage")),
    },
    Operation {
        method: "get",
        path: "/api/v1/events",
        summary: "The log in position order; NDJSON with `Accept: application/x-ndjson`",
        roles: "auditor, admin (whole-subdistrict tokens)",
        query: Some("LogQuery"),
        request: None,
        response: (200, Some("EventsPage")),
    },
    Operation {
        method: "get",
        path: "/api/v1/streams/{stream}",
        summary: "One stream in version order; NDJSON with `Accept: application/x-ndjson`",
        roles: "auditor, admin (whole-subdistrict tokens)",
        query: None,
        request: None,
        response: (200, Some("EventsPage")),
    },
    Operation {
        method: "get",
        path: "/api/v1/tokens",
        summary: "Every token, with who created and revoked it and when",
        roles: "admin",
        query: None,
        request: None,
        response: (200, None),
    },
    Operation {
        method: "post",
        path: "/api/v1/tokens",
        summary: "Create a token; its value is in this answer only",
        roles: "admin",
        query: None,
        request: Some("CreateToken"),
        response: (201, None),
    },
    Operation {
        method: "delete",
        path: "/api/v1/tokens/{name}",
        summary: "Revoke a token",
        roles: "admin",
        query: None,
        request: None,
        response: (200, None),
    },
    Operation {
        method: "get",
        path: "/api/v1/coverage",
        summary: "Reached and compliant members per org unit and reporting group (CONTRACT §4)",
        roles: "viewer, auditor, admin (within the token's scope)",
        query: Some("StatsQuery"),
        request: None,
        response: (200, None),
    },
    Operation {
        method: "get",
        path: "/api/v1/coverage/members",
        summary: "The members behind the gaps: `status=unreached` or `noncompliant`",
        roles: "viewer, auditor, admin (within the token's scope)",
        query: Some("StatsQuery"),
        request: None,
        response: (200, None),
    },
    Operation {
        method: "get",
        path: "/api/v1/lectures/tallies",
        summary: "Party lectures per speaker, totals, and leaders who gave none",
        roles: "viewer, auditor, admin (within the token's scope)",
        query: Some("StatsQuery"),
        request: None,
        response: (200, None),
    },
    Operation {
        method: "get",
        path: "/api/v1/members/{id}/history",
        summary: "A member's study records and yearly standing",
        roles: "viewer, auditor, admin (a scope covering the member)",
        query: Some("StatsQuery"),
        request: None,
        response: (200, None),
    },
    Operation {
        method: "get",
        path: "/api/v1/ledgers/frail-visits",
        summary: "Frail members with their last home visit; overdue past the rule set's threshold",
        roles: "viewer, auditor, admin (within the token's scope)",
        query: Some("StatsQuery"),
        request: None,
        response: (200, None),
    },
    Operation {
        method: "get",
        path: "/api/v1/ledgers/mobile-contacts",
        summary: "Mobile members with their buddy and last contact; overdue past the threshold",
        roles: "viewer, auditor, admin (within the token's scope)",
        query: Some("StatsQuery"),
        request: None,
        response: (200, None),
    },
    Operation {
        method: "get",
        path: "/api/v1/ledgers/wishes",
        summary: "The micro-wish board: open, claimed, fulfilled (by fulfilment date), by category and grid",
        roles: "viewer, auditor, admin (within the token's scope)",
        query: Some("StatsQuery"),
        request: None,
        response: (200, None),
    },
    Operation {
        method: "get",
        path: "/api/v1/ledgers/classes",
        summary: "The class register of the year",
        roles: "viewer, auditor, admin (within the token's scope)",
        query: Some("StatsQuery"),
        request: None,
        response: (200, None),
    },
    Operation {
        method: "get",
        path: "/api/v1/headlines",
        summary: "The year's headline figures: classes, field trips, lectures, reach, visits, wishes",
        roles: "viewer, auditor, admin (within the token's scope)",
        query: Some("StatsQuery"),
        request: None,
        response: (200, None),
    },
    Operation {
        method: "get",
        path: "/api/v1/rules",
        summary: "The loaded rule sets (id, version, content hash, source) and the live one",
        roles: "viewer, auditor, admin",
        query: None,
        request: None,
        response: (200, None),
    },
    Operation {
        method: "put",
        path: "/api/v1/rules/live",
        summary: "Switch the live rule set for every instance; recorded with who and when",
        roles: "admin",
        query: None,
        request: Some("SwitchRules"),
        response: (200, None),
    },
    Operation {
        method: "get",
        path: "/api/v1/projections",
        summary: "Each projection's checkpoint, lag and rule set",
        roles: "viewer, auditor, admin",
        query: None,
        request: None,
        response: (200, None),
    },
    Operation {
        method: "get",
        path: "/api/v1/audit/key",
        summary: "The operator's Ed25519 verifier key text, `text/plain` (503 without a configured key)",
        roles: "auditor, admin (whole-subdistrict tokens)",
        query: None,
        request: None,
        response: (200, None),
    },
    Operation {
        method: "get",
        path: "/api/v1/audit/checkpoints",
        summary: "Signed tree heads, smallest first; with `Accept: text/plain` the C2SP checkpoint notes one after another",
        roles: "auditor, admin (whole-subdistrict tokens)",
        query: Some("CheckpointsQuery"),
        request: None,
        response: (200, Some("CheckpointList")),
    },
    Operation {
        method: "get",
        path: "/api/v1/audit/proof/inclusion",
        summary: "An event's RFC 9162 inclusion proof; with its checkpoint and key, a proof file for `partyedu verify --proof`",
        roles: "auditor, admin (whole-subdistrict tokens)",
        query: Some("InclusionQuery"),
        request: None,
        response: (200, Some("InclusionAnswer")),
    },
    Operation {
        method: "get",
        path: "/api/v1/audit/proof/consistency",
        summary: "An RFC 9162 consistency proof: the tree of `to` leaves extends the tree of `from`",
        roles: "auditor, admin (whole-subdistrict tokens)",
        query: Some("ConsistencyQuery"),
        request: None,
        response: (200, Some("ConsistencyAnswer")),
    },
    Operation {
        method: "get",
        path: "/api/v1/audit/verify",
        summary: "The server re-hashes its log and checks it against the signed checkpoints",
        roles: "auditor, admin (whole-subdistrict tokens)",
        query: Some("VerifyQuery"),
        request: None,
        response: (200, Some("VerifyAnswer")),
    },
    Operation {
        method: "get",
        path: "/api/v1/audit/records/{event_id}",
        summary: "A record, who recorded it, what it corrected, what corrected it, and its inclusion proof",
        roles: "auditor, admin (whole-subdistrict tokens)",
        query: None,
        request: None,
        response: (200, Some("RecordTrail")),
    },
    Operation {
        method: "get",
        path: "/metrics",
        summary: "Projection checkpoints and lag in Prometheus text format",
        roles: "",
        query: None,
        request: None,
        response: (200, None),
    },
    Operation {
        method: "get",
        path: "/api/v1/openapi.json",
        summary: "This document",
        roles: "",
        query: None,
        request: None,
        response: (200, None),
    },
];

/// Adds `T`'s schema under `name`, hoisting its `$defs` into the shared components.
fn add_schema<T: JsonSchema>(components: &mut Map<String, Value>, name: &str) {
    let schema = SchemaGenerator::default().into_root_schema_for::<T>();
    add_value(components, name, schema.to_value());
}

fn add_value(components: &mut Map<String, Value>, name: &str, mut schema: Value) {
    if let Some(Value::Object(defs)) = schema.as_object_mut().and_then(|o| o.remove("$defs")) {
        for (def_name, mut def) in defs {
            rewrite_refs(&mut def);
            components.insert(def_name, def);
        }
    }
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
    }
    rewrite_refs(&mut schema);
    components.insert(name.to_owned(), schema);
}

/// `#/$defs/X` → `#/components/schemas/X`.
fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                match item {
                    Value::String(target) if key == "$ref" => {
                        if let Some(name) = target.strip_prefix("#/$defs/") {
                            *target = format!("#/components/schemas/{name}");
                        }
                    }
                    other => rewrite_refs(other),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

pub(crate) fn document() -> Value {
    let mut components = Map::new();
    add_schema::<RecordRequest>(&mut components, "RecordRequest");
    add_schema::<EventsPage>(&mut components, "EventsPage");
    add_schema::<LogQuery>(&mut components, "LogQuery");
    add_schema::<CreateToken>(&mut components, "CreateToken");
    add_schema::<TokenInfo>(&mut components, "TokenInfo");
    add_schema::<ErrorBody>(&mut components, "ErrorBody");
    add_schema::<StatsQuery>(&mut components, "StatsQuery");
    add_schema::<SwitchRules>(&mut components, "SwitchRules");
    add_schema::<CheckpointsQuery>(&mut components, "CheckpointsQuery");
    add_schema::<CheckpointList>(&mut components, "CheckpointList");
    add_schema::<InclusionQuery>(&mut components, "InclusionQuery");
    add_schema::<InclusionAnswer>(&mut components, "InclusionAnswer");
    add_schema::<ConsistencyQuery>(&mut components, "ConsistencyQuery");
    add_schema::<ConsistencyAnswer>(&mut components, "ConsistencyAnswer");
    add_schema::<VerifyQuery>(&mut components, "VerifyQuery");
    add_schema::<VerifyAnswer>(&mut components, "VerifyAnswer");
    add_schema::<RecordTrail>(&mut components, "RecordTrail");
    for (name, version, schema) in Event::schemas() {
        add_value(
            &mut components,
            &format!("{name}.v{version}"),
            schema.to_value(),
        );
    }

    let mut paths = Map::new();
    for op in OPERATIONS {
        let mut operation = json!({
            "summary": op.summary,
            "description": if op.roles.is_empty() {
                "No credential needed.".to_owned()
            } else {
                format!("Bearer token with role: {}.", op.roles)
            },
            "responses": {
                op.response.0.to_string(): match op.response.1 {
                    Some(schema) => json!({"description": "success",
                        "content": {"application/json": {"schema": reference(schema)}}}),
                    None => json!({"description": "success"}),
                },
                "default": {"description": "an error",
                    "content": {"application/json": {"schema": reference("ErrorBody")}}},
            },
        });
        let mut parameters: Vec<Value> = Vec::new();
        for segment in op.path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                parameters.push(json!({"name": name, "in": "path", "required": true,
                    "schema": {"type": "string"}}));
            }
        }
        if let Some(query) = op.query
            && let Some(properties) = components[query]["properties"].as_object()
        {
            for (name, schema) in properties {
                parameters.push(json!({"name": name, "in": "query", "schema": schema}));
            }
        }
        if !parameters.is_empty() {
            operation["parameters"] = Value::Array(parameters);
        }
        if let Some(request) = op.request {
            operation["requestBody"] = json!({"required": true,
                "content": {"application/json": {"schema": reference(request)}}});
        }
        if !op.roles.is_empty() {
            operation["security"] = json!([{"bearer": []}]);
        }
        paths
            .entry(op.path)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("path items are objects")
            .insert(op.method.to_owned(), operation);
    }

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "partyedu",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Party-member education records and statistics. The contract: CONTRACT.md.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    })
}
