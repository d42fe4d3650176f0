//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the whole API.
//!
//! Documented must equal enforced. Request, response and event schemas are generated
//! (schemars) from the very types the handlers deserialise and serialise, with the ranges,
//! lengths and patterns the handlers check written on those types; the operation table below
//! names every parameter an operation reads, whether it is required, and every status an
//! operation answers — each error in the contract's error shape. Where a type cannot carry what
//! its handler enforces (the statistics' shared query, answers built as JSON), this module states
//! it, and tests hold the two together: every field of a query type is a documented parameter or
//! deliberately left out, the answers validate against their schemas (`tests/api_fuzz.rs` fuzzes
//! the whole document). What no schema can state — a position beyond the log's head, a time in
//! the future, a date after tomorrow, two parameters that exclude each other — is said in the
//! descriptions and answered `400`.
//!
//! The document depends on the instance in two places: the rule sets it has loaded (the values of
//! `rules` and of `PUT /api/v1/rules/live`) and its batch limit.

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
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use partyedu_domain::Event;
use partyedu_projections::RuleBook;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};
use std::sync::LazyLock;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/openapi.json",
        get(|State(state): State<AppState>| async move { Json(document_for(&state)) }),
    )
}

/// The document of an instance with the shipped rule sets and the default limits.
static SHIPPED: LazyLock<Value> = LazyLock::new(|| {
    let book = RuleBook::shipped();
    let ids: Vec<&str> = book.ids().collect();
    build(&ids, crate::Limits::default().max_batch_events)
});

/// The document as `state`'s instance enforces it.
fn document_for(state: &AppState) -> Value {
    let ids: Vec<&str> = state.stats.book.ids().collect();
    let max_batch = state.limits.max_batch_events;
    let schemas = &SHIPPED["components"]["schemas"];
    if schemas["RuleSetId"]["enum"] == json!(ids)
        && schemas["RecordRequest"]["properties"]["events"]["maxItems"] == json!(max_batch)
    {
        return SHIPPED.clone();
    }
    build(&ids, max_batch)
}

/// The document of an instance with the shipped rule sets and the default limits (for the
/// generated reference, `docs/api.md`).
pub(crate) fn document() -> Value {
    SHIPPED.clone()
}

/// What a response carries.
#[derive(Clone, Copy)]
enum Content {
    /// JSON of a component schema.
    Json(&'static str),
    /// JSON of a component schema, or NDJSON records with `Accept: application/x-ndjson`.
    JsonOrNdjson(&'static str),
    /// JSON of a component schema, or text with `Accept: text/plain`.
    JsonOrText(&'static str),
    /// `text/plain`.
    Text,
}

/// A query parameter: its name, whether it is required, and where its schema comes from.
struct Param {
    name: &'static str,
    required: bool,
}

const fn param(name: &'static str) -> Param {
    Param {
        name,
        required: false,
    }
}

const fn required(name: &'static str) -> Param {
    Param {
        name,
        required: true,
    }
}

/// One documented operation.
pub(crate) struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    summary: &'static str,
    /// Who may call it; empty for everyone.
    roles: &'static str,
    /// The query type (a component schema) and the parameters of it the operation reads.
    query: Option<(&'static str, &'static [Param])>,
    /// The optional `X-Correlation-Id` header.
    correlation_id: bool,
    request: Option<&'static str>,
    /// Status and body of the success response.
    success: (u16, &'static str, Content),
    /// Every other status it answers, each in the error shape.
    errors: &'static [u16],
    /// Other answers not in the error shape (a probe's).
    also: &'static [(u16, &'static str, Content)],
}

/// The parameters of the statistics (`StatsQuery`), `status` aside.
const STATS: &[Param] = &[
    required("year"),
    param("org"),
    param("rules"),
    param("as_of_position"),
    param("as_of"),
    param("min_position"),
    param("limit"),
    param("offset"),
];

/// [`STATS`] and `evidence` (the figures `partyedu verify --figure` checks).
const WITH_EVIDENCE: &[Param] = &[
    required("year"),
    param("org"),
    param("rules"),
    param("as_of_position"),
    param("as_of"),
    param("min_position"),
    param("limit"),
    param("offset"),
    param("evidence"),
];

/// [`WITH_EVIDENCE`] with `year` optional (a member's history).
const HISTORY: &[Param] = &[
    param("year"),
    param("org"),
    param("rules"),
    param("as_of_position"),
    param("as_of"),
    param("min_position"),
    param("limit"),
    param("offset"),
    param("evidence"),
];

/// [`WITH_EVIDENCE`] and the gap asked for.
const GAPS: &[Param] = &[
    required("year"),
    required("status"),
    param("org"),
    param("rules"),
    param("as_of_position"),
    param("as_of"),
    param("min_position"),
    param("limit"),
    param("offset"),
    param("evidence"),
];

/// A statistic: read by viewers, auditors and admins within their scope, `400` for a bad
/// parameter (also a position beyond the log's head), `503` when lagging or cut by the time
/// limit or without a database.
const STATISTIC_ERRORS: &[u16] = &[400, 401, 403, 500, 503];

const WITHIN_SCOPE: &str = "viewer, auditor, admin (within the token's scope)";
const WHOLE_SUBDISTRICT: &str = "auditor, admin (whole-subdistrict tokens)";

pub(crate) const OPERATIONS: &[Operation] = &[
    Operation {
        method: "get",
        path: "/healthz",
        summary: "The process is up",
        roles: "",
        query: None,
        correlation_id: false,
        request: None,
        success: (200, "the process is up", Content::Json("Health")),
        errors: &[],
        also: &[],
    },
    Operation {
        method: "get",
        path: "/readyz",
        summary: "The database is reachable and migrated (503 otherwise)",
        roles: "",
        query: None,
        correlation_id: false,
        request: None,
        success: (200, "ready", Content::Json("Readiness")),
        errors: &[],
        also: &[(
            503,
            "not ready: the database is unreachable or migrations are pending",
            Content::Json("Readiness"),
        )],
    },
    Operation {
        method: "post",
        path: "/api/v1/events",
        summary: "Record a batch of events, atomically (CONTRACT §3)",
        roles: "recorder, admin",
        query: None,
        correlation_id: true,
        request: Some("RecordRequest"),
        success: (201, "stored", Content::Json("EventsPage")),
        errors: &[400, 401, 403, 409, 413, 500, 503],
        also: &[],
    },
    Operation {
        method: "get",
        path: "/api/v1/events",
        summary: "The log in position order; NDJSON with `Accept: application/x-ndjson`",
        roles: WHOLE_SUBDISTRICT,
        query: Some(("LogQuery", &[param("after"), param("limit"), param("type")])),
        correlation_id: false,
        request: None,
        success: (
            200,
            "one page of the log (NDJSON: every record up to the safe frontier, or `limit`)",
            Content::JsonOrNdjson("EventsPage"),
        ),
        errors: &[400, 401, 403, 500, 503],
        also: &[],
    },
    Operation {
        method: "get",
        path: "/api/v1/streams/{stream}",
        summary: "One stream in version order; NDJSON with `Accept: application/x-ndjson`",
        roles: WHOLE_SUBDISTRICT,
        query: None,
        correlation_id: false,
        request: None,
        success: (200, "the stream", Content::JsonOrNdjson("EventsPage")),
        errors: &[400, 401, 403, 404, 500, 503],
        also: &[],
    },
    Operation {
        method: "get",
        path: "/api/v1/tokens",
        summary: "Every token, with who created and revoked it and when",
        roles: "admin",
        query: None,
        correlation_id: false,
        request: None,
        success: (200, "every token", Content::Json("TokenList")),
        errors: &[401, 403, 500, 503],
        also: &[],
    },
    Operation {
        method: "post",
        path: "/api/v1/tokens",
        summary: "Create a token; its value is in this answer only",
        roles: "admin",
        query: None,
        correlation_id: false,
        request: Some("CreateToken"),
        success: (201, "created", Content::Json("CreatedToken")),
        errors: &[400, 401, 403, 409, 500, 503],
        also: &[],
    },
    Operation {
        method: "delete",
        path: "/api/v1/tokens/{name}",
        summary: "Revoke a token",
        roles: "admin",
        query: None,
        correlation_id: false,
        request: None,
        success: (200, "revoked", Content::Json("RevokedToken")),
        errors: &[400, 401, 403, 404, 500, 503],
        also: &[],
    },
    Operation {
        method: "get",
        path: "/api/v1/coverage",
        summary: "Reached and compliant members per org unit and reporting group (CONTRACT §4)",
        roles: WITHIN_SCOPE,
        query: Some(("StatsQuery", WITH_EVIDENCE)),
        correlation_id: false,
        request: None,
        success: (200, "the coverage rows", Content::Json("CoverageAnswer")),
        errors: STATISTIC_ERRORS,
        also: &[],
    },
    Operation {
        method: "get",
        path: "/api/v1/coverage/members",
        summary: "The members behind the gaps: `status=unreached` or `noncompliant`",
        roles: WITHIN_SCOPE,
        query: Some(("StatsQuery", GAPS)),
        correlation_id: false,
        request: None,
        success: (200, "the members", Content::Json("GapMembersAnswer")),
        errors: STATISTIC_ERRORS,
        also: &[],
    },
    Operation {
        method: "get",
        path: "/api/v1/lectures/tallies",
        summary: "Party lectures per speaker, totals, and leaders who gave none",
        roles: WITHIN_SCOPE,
        query: Some(("StatsQuery", STATS)),
        correlation_id: false,
        request: None,
        success: (200, "the tallies", Content::Json("LectureTalliesAnswer")),
        errors: STATISTIC_ERRORS,
        also: &[],
    },
    Operation {
        method: "get",
        path: "/api/v1/members/{id}/history",
        summary: "A member's study records and yearly standing",
        roles: "viewer, auditor, admin (a scope covering the member)",
        query: Some(("StatsQuery", HISTORY)),
        correlation_id: false,
        request: None,
        success: (
            200,
            "the member's history",
            Content::Json("MemberHistoryAnswer"),
        ),
        errors: &[400, 401, 403, 404, 500, 503],
        also: &[],
    },
    Operation {
        method: "get",
        path: "/api/v1/ledgers/frail-visits",
        summary: "Frail members with their last home visit; overdue past the rule set's threshold",
        roles: WITHIN_SCOPE,
        query: Some(("StatsQuery", STATS)),
        correlation_id: false,
        request: None,
        success: (200, "the ledger", Content::Json("FrailVisitsAnswer")),
        errors: STATISTIC_ERRORS,
        also: &[],
    },
    Operation {
        method: "get",
        path: "/api/v1/ledgers/mobile-contacts",
        summary: "Mobile members with their buddy and last contact; overdue past the threshold",
        roles: WITHIN_SCOPE,
        query: Some(("StatsQuery", STATS)),
        correlation_id: false,
        request: None,
        success: (200, "the ledger", Content::Json("MobileContactsAnswer")),
        errors: STATISTIC_ERRORS,
        also: &[],
    },
    Operation {
        method: "get",
        path: "/api/v1/ledgers/wishes",
        summary: "The micro-wish board: open, claimed, fulfilled (by fulfilment date), by category and grid",
        roles: WITHIN_SCOPE,
        query: Some(("StatsQuery", STATS)),
        correlation_id: false,
        request: None,
        success: (200, "the board", Content::Json("WishBoardAnswer")),
        errors: STATISTIC_ERRORS,
        also: &[],
    },
    Operation {
        method: "get",
        path: "/api/v1/ledgers/classes",
        summary: "The class register of the year",
        roles: WITHIN_SCOPE,
        query: Some(("StatsQuery", STATS)),
        correlation_id: false,
        request: None,
        success: (200, "the register", Content::Json("ClassRegisterAnswer")),
        errors: STATISTIC_ERRORS,
        also: &[],
    },
    Operation {
        method: "get",
        path: "/api/v1/headlines",
        summary: "The year's headline figures: classes, field trips, lectures, reach, visits, wishes",
        roles: WITHIN_SCOPE,
        query: Some(("StatsQuery", WITH_EVIDENCE)),
        correlation_id: false,
        request: None,
        success: (200, "the figures", Content::Json("HeadlinesAnswer")),
        errors: STATISTIC_ERRORS,
        also: &[],
    },
    Operation {
        method: "get",
        path: "/api/v1/rules",
        summary: "The loaded rule sets (id, version, content hash, source) and the live one",
        roles: "viewer, auditor, admin",
        query: None,
        correlation_id: false,
        request: None,
        success: (200, "the rule sets", Content::Json("RuleSetsAnswer")),
        errors: &[401, 403, 500, 503],
        also: &[],
    },
    Operation {
        method: "put",
        path: "/api/v1/rules/live",
        summary: "Switch the live rule set for every instance; recorded with who and when",
        roles: "admin",
        query: None,
        correlation_id: false,
        request: Some("SwitchRules"),
        success: (200, "the rule set now live", Content::Json("RuleSetInfo")),
        errors: &[400, 401, 403, 500, 503],
        also: &[],
    },
    Operation {
        method: "get",
        path: "/api/v1/projections",
        summary: "Each projection's checkpoint, lag and rule set",
        roles: "viewer, auditor, admin",
        query: None,
        correlation_id: false,
        request: None,
        success: (200, "the projections", Content::Json("ProjectionsAnswer")),
        errors: &[401, 403, 500, 503],
        also: &[],
    },
    Operation {
        method: "get",
        path: "/api/v1/audit/key",
        summary: "The operator's Ed25519 verifier key text, `text/plain` (503 `no_audit_key` without a configured key)",
        roles: WHOLE_SUBDISTRICT,
        query: None,
        correlation_id: false,
        request: None,
        success: (200, "the verifier key and a newline", Content::Text),
        errors: &[401, 403, 500, 503],
        also: &[],
    },
    Operation {
        method: "get",
        path: "/api/v1/audit/checkpoints",
        summary: "Signed tree heads, smallest first; with `Accept: text/plain` the C2SP checkpoint notes one after another",
        roles: WHOLE_SUBDISTRICT,
        query: Some((
            "CheckpointsQuery",
            &[param("after"), param("limit"), param("latest")],
        )),
        correlation_id: false,
        request: None,
        success: (
            200,
            "the checkpoints",
            Content::JsonOrText("CheckpointList"),
        ),
        errors: &[400, 401, 403, 500, 503],
        also: &[],
    },
    Operation {
        method: "get",
        path: "/api/v1/audit/proof/inclusion",
        summary: "An event's RFC 9162 inclusion proof; with its checkpoint and key, a proof file for `partyedu verify --proof`",
        roles: WHOLE_SUBDISTRICT,
        query: Some(("InclusionQuery", &[required("event_id"), param("size")])),
        correlation_id: false,
        request: None,
        success: (200, "the proof", Content::Json("InclusionAnswer")),
        errors: &[400, 401, 403, 404, 500, 503],
        also: &[],
    },
    Operation {
        method: "get",
        path: "/api/v1/audit/proof/consistency",
        summary: "An RFC 9162 consistency proof: the tree of `to` leaves extends the tree of `from`",
        roles: WHOLE_SUBDISTRICT,
        query: Some(("ConsistencyQuery", &[required("from"), param("to")])),
        correlation_id: false,
        request: None,
        success: (200, "the proof", Content::Json("ConsistencyAnswer")),
        errors: &[400, 401, 403, 404, 500, 503],
        also: &[],
    },
    Operation {
        method: "get",
        path: "/api/v1/audit/verify",
        summary: "The server re-hashes its log and checks it against the signed checkpoints",
        roles: WHOLE_SUBDISTRICT,
        query: Some(("VerifyQuery", &[param("from"), param("to")])),
        correlation_id: false,
        request: None,
        success: (200, "what the check found", Content::Json("VerifyAnswer")),
        errors: &[400, 401, 403, 500, 503],
        also: &[],
    },
    Operation {
        method: "get",
        path: "/api/v1/audit/records/{event_id}",
        summary: "A record, who recorded it, what it corrected, what corrected it, and its inclusion proof",
        roles: WHOLE_SUBDISTRICT,
        query: None,
        correlation_id: false,
        request: None,
        success: (200, "the record's trail", Content::Json("RecordTrail")),
        errors: &[400, 401, 403, 404, 500, 503],
        also: &[],
    },
    Operation {
        method: "get",
        path: "/metrics",
        summary: "Requests answered, projection checkpoints and lag in Prometheus text format",
        roles: "",
        query: None,
        correlation_id: false,
        request: None,
        success: (200, "the metrics", Content::Text),
        errors: &[],
        also: &[],
    },
    Operation {
        method: "get",
        path: "/api/v1/openapi.json",
        summary: "This document",
        roles: "",
        query: None,
        correlation_id: false,
        request: None,
        success: (200, "this document", Content::Json("OpenApiDocument")),
        errors: &[],
        also: &[],
    },
];

/// The schema of a path parameter.
fn path_parameter(name: &str) -> Value {
    match name {
        "stream" => json!({"type": "string",
            "pattern": "^[a-z][a-z-]*:[A-Za-z0-9._:-]{1,64}$",
            "description": "A stream: its kind and an id, e.g. `class:C-2024-017` (CONTRACT §2); \
                            `404` for one that does not exist."}),
        "name" => json!({"$ref": "#/components/schemas/Id",
            "description": "A token's name; `404` for none active by that name."}),
        "id" => json!({"$ref": "#/components/schemas/Id",
            "description": "A member id; `404` for a member the log does not know."}),
        "event_id" => json!({"type": "string", "format": "uuid",
            "description": "An event id; `404` for none stored."}),
        other => panic!("no schema for the path parameter `{other}`"),
    }
}

/// What [`StatsQuery`] cannot carry itself (its handlers check them): the ranges and values
/// of each parameter.
fn stats_parameter(name: &str, generated: &Value) -> Value {
    let description = generated["description"].clone();
    let mut schema = match name {
        "year" => json!({"type": "integer", "minimum": 1900, "maximum": 9999}),
        "org" => json!({"type": "string"}),
        "rules" => json!({"$ref": "#/components/schemas/RuleSetId"}),
        "as_of_position" | "min_position" => {
            json!({"type": "integer", "minimum": 0, "maximum": i64::MAX})
        }
        "as_of" => json!({"type": "string", "format": "date-time"}),
        "status" => json!({"type": "string", "enum": ["unreached", "noncompliant"]}),
        "evidence" => json!({"type": "boolean"}),
        "limit" | "offset" => json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}),
        other => panic!("StatsQuery's `{other}` is not documented: say what it takes here"),
    };
    if !description.is_null() {
        schema["description"] = description;
    }
    schema
}

/// A query parameter's schema: the generated property, without `null` (an absent parameter is
/// how one says none).
fn query_parameter(query: &str, name: &str, generated: &Value) -> Value {
    if query == "StatsQuery" {
        return stats_parameter(name, generated);
    }
    let mut schema = generated.clone();
    if let Some(Value::Array(types)) = schema.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            schema["type"] = types[0].clone();
        }
    }
    if let Some(Value::Array(any_of)) = schema.get("anyOf").cloned() {
        let kept: Vec<Value> = any_of
            .into_iter()
            .filter(|s| s.get("type") != Some(&json!("null")))
            .collect();
        if kept.len() == 1 {
            let object = schema.as_object_mut().expect("a schema object");
            object.remove("anyOf");
            for (k, v) in kept[0].as_object().into_iter().flatten() {
                object.insert(k.clone(), v.clone());
            }
        }
    }
    schema
}

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

/// Makes the range of every integer schema of a sized format explicit (`int32`, `uint64`, …):
/// a value outside it does not deserialise, so it is refused, and a fuzzer generating from the
/// document must know.
fn bound_integers(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let range = match map.get("format").and_then(Value::as_str) {
                Some("int8") => Some((json!(i8::MIN), json!(i8::MAX))),
                Some("uint8") => Some((json!(0), json!(u8::MAX))),
                Some("int16") => Some((json!(i16::MIN), json!(i16::MAX))),
                Some("uint16") => Some((json!(0), json!(u16::MAX))),
                Some("int32") => Some((json!(i32::MIN), json!(i32::MAX))),
                Some("uint32") => Some((json!(0), json!(u32::MAX))),
                Some("int64") => Some((json!(i64::MIN), json!(i64::MAX))),
                Some("uint64" | "uint") => Some((json!(0), json!(u64::MAX))),
                _ => None,
            };
            if let Some((min, max)) = range {
                map.entry("minimum").or_insert(min);
                map.entry("maximum").or_insert(max);
            }
            map.values_mut().for_each(bound_integers);
        }
        Value::Array(items) => items.iter_mut().for_each(bound_integers),
        _ => {}
    }
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// An object schema whose listed properties are all required; others may be added later.
fn object(properties: Value) -> Value {
    let required: Vec<&String> = properties.as_object().expect("properties").keys().collect();
    json!({"type": "object", "properties": properties, "required": required})
}

fn nullable(schema: Value) -> Value {
    json!({"anyOf": [schema, {"type": "null"}]})
}

fn count() -> Value {
    json!({"type": "integer", "minimum": 0})
}

fn hours() -> Value {
    json!({"type": "number", "minimum": 0})
}

fn date() -> Value {
    json!({"type": "string", "format": "date"})
}

fn timestamp() -> Value {
    json!({"type": "string", "format": "date-time"})
}

fn list(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

/// The answer of a statistic: the envelope every one carries, and its own `fields`.
fn statistic(description: &str, fields: Value) -> Value {
    let mut properties = json!({
        "rule_set": reference("RuleSetRef"),
        "as_of": object(json!({
            "position": count(),
            "recorded_at": nullable(timestamp()),
        })),
        "reference_date": date(),
        "year": {"type": "integer"},
        "org": {"type": ["string", "null"]},
    });
    for (k, v) in fields.as_object().expect("fields") {
        properties[k] = v.clone();
    }
    let mut schema = object(properties);
    schema["description"] = json!(description);
    schema
}

/// The schemas of the answers the handlers build as JSON.
fn answer_schemas(components: &mut Map<String, Value>) {
    let groups = [
        "all",
        "committee",
        "grid_secretary",
        "frail",
        "mobile",
        "ordinary",
    ];
    let member = |extra: Value| {
        let mut properties = json!({
            "member_id": {"type": "string"},
            "name": {"type": "string"},
            "org_id": {"type": "string"},
        });
        for (k, v) in extra.as_object().expect("fields") {
            properties[k] = v.clone();
        }
        object(properties)
    };
    let rate = json!({"type": ["number", "null"], "minimum": 0, "maximum": 1});
    let wish_counts = |key: Option<&str>| {
        let mut properties = json!({
            "open": count(), "claimed": count(), "fulfilled": count(), "withdrawn": count(),
            "claimed_in_year": count(), "fulfilled_in_year": count(),
        });
        if let Some(key) = key {
            properties[key] = json!({"type": "string"});
        }
        object(properties)
    };
    let schemas = [
        ("Health", object(json!({"status": {"const": "ok"}}))),
        (
            "Readiness",
            json!({"type": "object", "required": ["status"], "properties": {
                "status": {"enum": ["ready", "migrations_pending", "database_unreachable"]},
                "pending": {"type": "integer", "minimum": 1,
                            "description": "Migrations not yet applied (`migrations_pending`)."}}}),
        ),
        (
            "RuleSetId",
            json!({"type": "string", "description": "The id of a rule set this instance has loaded."}),
        ),
        (
            "RuleSetRef",
            object(json!({
                "id": {"type": "string"},
                "version": {"type": "integer"},
                "hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            })),
        ),
        (
            "RuleSetInfo",
            object(json!({
                "id": {"type": "string"},
                "version": {"type": "integer"},
                "hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "source": {"type": "string"},
                "live": {"type": "boolean"},
            })),
        ),
        (
            "RuleSetsAnswer",
            object(json!({
                "rule_sets": list(reference("RuleSetInfo")),
                "live": object(json!({
                    "id": {"type": "string"},
                    "changed_at": nullable(timestamp()),
                    "changed_by": {"type": ["string", "null"]},
                })),
            })),
        ),
        (
            "ProjectionsAnswer",
            object(json!({"projections": list(object(json!({
                "name": {"type": "string"},
                "generation": {"type": "integer"},
                "checkpoint": {"type": "integer"},
                "lag_events": {"type": "integer"},
                "lag_seconds": {"type": ["number", "null"]},
                "updated_at": nullable(timestamp()),
                "rule_set": nullable(reference("RuleSetRef")),
                "rebuild": {"type": ["object", "null"]},
            })))})),
        ),
        (
            "TokenList",
            object(json!({"tokens": list(reference("TokenInfo"))})),
        ),
        (
            "CreatedToken",
            object(json!({
                "name": {"type": "string"},
                "role": reference("TokenRole"),
                "org_scope": {"type": ["string", "null"]},
                "token": {"type": "string", "description": "The bearer token: shown here only."},
            })),
        ),
        (
            "RevokedToken",
            object(json!({"revoked": {"type": "string"}})),
        ),
        (
            "OpenApiDocument",
            json!({"type": "object", "required": ["openapi", "info", "paths"]}),
        ),
        (
            "CoverageAnswer",
            statistic(
                "Reached and compliant members per org unit and reporting group (CONTRACT §4).",
                json!({"rows": list(object(json!({
                    "org_id": {"type": "string"},
                    "group": {"enum": groups},
                    "in_scope": count(),
                    "reached": count(),
                    "compliant": count(),
                    "reached_rate": rate,
                    "compliant_rate": rate,
                })))}),
            ),
        ),
        (
            "GapMembersAnswer",
            statistic(
                "The members behind the gaps.",
                json!({"members": list(member(json!({
                    "groups": list(json!({"enum": &groups[1..]})),
                    "credited_hours": hours(),
                    "required_hours": hours(),
                })))}),
            ),
        ),
        (
            "LectureTalliesAnswer",
            statistic(
                "Party lectures per speaker, totals, and the leaders who gave none.",
                json!({
                    "speakers": list(object(json!({
                        "member_id": {"type": "string"},
                        "name": {"type": "string"},
                        "lectures": count(),
                        "study_hours": hours(),
                        "unique_attendees": count(),
                        "roles": list(json!({"type": "string"})),
                    }))),
                    "totals": object(json!({
                        "lectures": count(), "speakers": count(), "leader_lectures": count(),
                    })),
                    "missing": list(json!({"type": "string"})),
                }),
            ),
        ),
        ("MemberHistoryAnswer", {
            let mut schema = statistic(
                "A member's records and yearly standing.",
                json!({
                    "member_id": {"type": "string"},
                    "entries": list(json!({
                        "type": "object",
                        "required": ["occurred_at", "kind", "record_id", "title",
                                     "study_hours", "credited", "position", "event_id",
                                     "voided"],
                        "properties": {
                            "occurred_at": timestamp(),
                            "kind": {"enum": ["class", "party_lecture", "home_visit",
                                              "online_study", "org_life_meeting",
                                              "mobile_contact"]},
                            "record_id": {"type": "string"},
                            "title": {"type": "string"},
                            "study_hours": hours(),
                            "credited": {"type": "boolean"},
                            "position": {"type": "integer"},
                            "event_id": {"type": "string", "format": "uuid"},
                            "voided": {"type": "boolean"},
                            "void_reason": {"type": "string"},
                        },
                    })),
                    "years": list(object(json!({
                        "year": {"type": "integer"},
                        "credited_hours": hours(),
                        "required_hours": hours(),
                        "reached": {"type": "boolean"},
                        "compliant": {"type": "boolean"},
                    }))),
                }),
            );
            schema["properties"]["year"] = json!({"type": ["integer", "null"]});
            schema
        }),
        (
            "FrailVisitsAnswer",
            statistic(
                "Frail members and their last home visit.",
                json!({
                    "overdue_after_days": count(),
                    "members": list(member(json!({
                        "last_visit_on": nullable(date()),
                        "days_since": {"type": ["integer", "null"]},
                        "overdue": {"type": "boolean"},
                    }))),
                }),
            ),
        ),
        (
            "MobileContactsAnswer",
            statistic(
                "Mobile members, their buddy and last contact.",
                json!({
                    "overdue_after_days": count(),
                    "members": list(member(json!({
                        "since": nullable(date()),
                        "destination": {"type": ["string", "null"]},
                        "buddy_id": {"type": ["string", "null"]},
                        "last_contact_on": nullable(date()),
                        "days_since": {"type": ["integer", "null"]},
                        "overdue": {"type": "boolean"},
                    }))),
                }),
            ),
        ),
        (
            "WishBoardAnswer",
            statistic(
                "The micro-wish board.",
                json!({"board": object(json!({
                    "totals": wish_counts(None),
                    "by_category": list(wish_counts(Some("category"))),
                    "by_grid": list(wish_counts(Some("grid_id"))),
                }))}),
            ),
        ),
        (
            "ClassRegisterAnswer",
            statistic(
                "The class register.",
                json!({"classes": list(object(json!({
                    "class_id": {"type": "string"},
                    "title": {"type": "string"},
                    "form": reference("ClassForm"),
                    "organizer_org_id": {"type": "string"},
                    "venue_id": {"type": ["string", "null"]},
                    "occurred_at": timestamp(),
                    "study_hours": hours(),
                    "attendees": count(),
                    "voided": {"type": "boolean"},
                })))}),
            ),
        ),
        (
            "HeadlinesAnswer",
            statistic(
                "The year's headline figures (counts).",
                json!({"figures": {"type": "object",
                    "properties": {"evidence": {"type": "object",
                        "description": "With `evidence=true`: who each figure counts."}},
                    "additionalProperties": {"type": "integer", "minimum": 0}}}),
            ),
        ),
    ];
    for (name, mut schema) in schemas {
        if [
            "CoverageAnswer",
            "GapMembersAnswer",
            "HeadlinesAnswer",
            "MemberHistoryAnswer",
        ]
        .contains(&name)
        {
            schema["properties"]["evidence"] = json!({"type": "object",
                "description": "With `evidence=true`: the signed checkpoint covering the as-of \
                                position, the rule set, the members and events behind each \
                                figure, for `partyedu verify --figure`."});
        }
        components.insert(name.to_owned(), schema);
    }
}

/// The request body of `POST /api/v1/events`, from its type, with what its parser checks: each
/// event one of the catalog's types with that type's data, a batch of 1 to `max_batch` events
/// (more is `413`), an idempotency key of 1 to 200 characters.
fn record_request_schema(components: &mut Map<String, Value>, max_batch: usize) {
    let types: Vec<&str> = Event::TYPES.iter().map(|(name, _)| *name).collect();
    let by_type: Vec<Value> = Event::TYPES
        .iter()
        .map(|(name, version)| {
            json!({
                "title": name,
                "properties": {
                    "type": {"const": name},
                    "data": reference(&format!("{name}.v{version}")),
                },
            })
        })
        .collect();
    components.insert(
        "EventInput".to_owned(),
        json!({
            "description": "One event to record: its type, the data of that type and optionally \
                            a client-chosen id.",
            "type": "object",
            "additionalProperties": false,
            "required": ["type", "data"],
            "properties": {
                "type": {"enum": types, "description": "An event type of the catalog."},
                "data": {"type": "object",
                         "description": "The data of `type`: `components/schemas/<Type>.v1`."},
                "event_id": {"type": ["string", "null"], "format": "uuid",
                             "description": "A client-chosen id; the store assigns one when absent."},
            },
            "oneOf": by_type,
        }),
    );
    let request = &mut components["RecordRequest"];
    request["properties"]["events"]["minItems"] = json!(1);
    request["properties"]["events"]["maxItems"] = json!(max_batch);
    request["properties"]["idempotency_key"] = json!({
        "type": ["string", "null"], "minLength": 1, "maxLength": 200, "pattern": "^[^\\x00]*$",
        "description": "1–200 characters (not U+0000), scoped to the credential: a retry with \
                        the same key and batch answers the original result; with another \
                        batch it is `409`."});
    request["properties"]["events"]["description"] = json!(format!(
        "Stored atomically, in order; later events may refer to earlier ones. More than \
         {max_batch} events is `413`."
    ));
}

/// Each status an operation can answer, with its description.
fn error_response(status: u16) -> Value {
    let description = match status {
        400 => {
            "`invalid_request`: a parameter, header or body the API refuses; `details` names \
             each problem by its path"
        }
        401 => {
            "`unauthorized`: no token, a malformed `Authorization` header, an unknown or revoked token"
        }
        403 => "`forbidden`: outside the token's role or scope",
        404 => "`not_found`: no such resource",
        409 => "`conflict`: refused against the stored state",
        413 => "`payload_too_large`: the body or the batch is over the limit",
        500 => "`internal`: a fault of the server; its log has the cause",
        503 => {
            "`unavailable` (the database cannot serve now; `Retry-After` says when to retry), \
             `timeout` (cut by the server's time limit), `lagging` (the read models have not \
             reached `min_position` / `as_of_position` within 5 s), `no_audit_key`"
        }
        other => panic!("no description for {other}"),
    };
    let mut response = json!({"description": description,
        "content": {"application/json": {"schema": reference("ErrorBody")}}});
    if status == 503 {
        response["headers"] = json!({"Retry-After": {
            "description": "Seconds to wait before retrying (with `unavailable`).",
            "schema": {"type": "integer", "minimum": 0}}});
    }
    response
}

fn success_response(description: &str, content: Content) -> Value {
    let json_body = |name: &str| json!({"schema": reference(name)});
    let content = match content {
        Content::Json(name) => json!({"application/json": json_body(name)}),
        Content::JsonOrNdjson(name) => json!({
            "application/json": json_body(name),
            "application/x-ndjson": {"schema": {"type": "string",
                "description": "One `Record` a line."}},
        }),
        Content::JsonOrText(name) => json!({
            "application/json": json_body(name),
            "text/plain": {"schema": {"type": "string"}},
        }),
        Content::Text => json!({"text/plain": {"schema": {"type": "string"}}}),
    };
    json!({"description": description, "content": content})
}

fn build(rule_sets: &[&str], max_batch: usize) -> Value {
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
    for schema in components.values_mut() {
        bound_integers(schema);
    }
    answer_schemas(&mut components);
    record_request_schema(&mut components, max_batch);
    components["RuleSetId"]["enum"] = json!(rule_sets);
    components["SwitchRules"]["properties"]["id"] = json!({"allOf": [reference("RuleSetId")],
        "description": "The id of a loaded rule set."});

    let mut paths = Map::new();
    for op in OPERATIONS {
        let mut responses = Map::new();
        responses.insert(
            op.success.0.to_string(),
            success_response(op.success.1, op.success.2),
        );
        for status in op.errors {
            responses.insert(status.to_string(), error_response(*status));
        }
        for (status, description, content) in op.also {
            responses.insert(status.to_string(), success_response(description, *content));
        }
        let mut operation = json!({
            "summary": op.summary,
            "description": if op.roles.is_empty() {
                "No credential needed.".to_owned()
            } else {
                format!("Bearer token with role: {}.", op.roles)
            },
            "responses": responses,
        });
        let mut parameters: Vec<Value> = Vec::new();
        for segment in op.path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                parameters.push(json!({"name": name, "in": "path", "required": true,
                    "schema": path_parameter(name)}));
            }
        }
        if let Some((query, params)) = op.query {
            let properties = components[query]["properties"].clone();
            for p in params {
                let generated = properties.get(p.name).unwrap_or_else(|| {
                    panic!(
                        "{} {}: `{}` is no field of {query}",
                        op.method, op.path, p.name
                    )
                });
                parameters.push(
                    json!({"name": p.name, "in": "query", "required": p.required,
                    "schema": query_parameter(query, p.name, generated)}),
                );
            }
        }
        if op.correlation_id {
            parameters.push(
                json!({"name": "X-Correlation-Id", "in": "header", "required": false,
                "description": "Stored as `metadata.correlation_id` of every event of the batch.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 200,
                           "pattern": "^[!-~]([\\t -~]*[!-~])?$",
                           "description": "1–200 visible ASCII characters."}}),
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Parameters a query type has that an operation reading it deliberately does not
    /// document: `status` means something to the member lists only (others ignore it), and
    /// `evidence` to the four statistics that offer it (the others refuse `evidence=true`).
    fn left_out(path: &str, query: &str, field: &str) -> bool {
        let evidence = [
            "/api/v1/coverage",
            "/api/v1/coverage/members",
            "/api/v1/headlines",
            "/api/v1/members/{id}/history",
        ];
        query == "StatsQuery"
            && match field {
                "status" => path != "/api/v1/coverage/members",
                "evidence" => !evidence.contains(&path),
                _ => false,
            }
    }

    /// Every field of an operation's query type is one of its documented parameters (or left
    /// out on purpose), so a field added to a query type cannot go undocumented.
    #[test]
    fn every_query_field_is_documented() {
        let doc = document();
        for op in OPERATIONS {
            let Some((query, params)) = op.query else {
                continue;
            };
            let fields = doc["components"]["schemas"][query]["properties"]
                .as_object()
                .unwrap();
            for field in fields.keys() {
                assert!(
                    params.iter().any(|p| p.name == field) || left_out(op.path, query, field),
                    "{} {}: `{field}` of {query} is not documented",
                    op.method,
                    op.path
                );
            }
        }
    }

    /// Every response of every operation has a body schema; every error is the error shape.
    #[test]
    fn every_response_is_documented_with_its_body() {
        let doc = document();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                assert!(!responses.contains_key("default"), "{method} {path}");
                for (status, response) in responses {
                    let content = response["content"].as_object();
                    assert!(
                        content.is_some_and(|c| !c.is_empty()),
                        "{method} {path} {status}: no body"
                    );
                    if (status.starts_with('4') || status.starts_with('5')) && path != "/readyz" {
                        assert_eq!(
                            response["content"]["application/json"]["schema"]["$ref"],
                            "#/components/schemas/ErrorBody",
                            "{method} {path} {status}"
                        );
                    }
                }
                if operation.get("security").is_some() {
                    assert!(responses.contains_key("401"), "{method} {path}");
                    assert!(responses.contains_key("403"), "{method} {path}");
                }
                if operation.get("parameters").is_some() || operation.get("requestBody").is_some() {
                    assert!(responses.contains_key("400"), "{method} {path}");
                }
            }
        }
    }
}
