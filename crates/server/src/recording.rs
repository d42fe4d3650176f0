//! `POST /api/v1/events`: recording a batch over HTTP.
//!
//! The body is read with a size limit, parsed into the contract's envelope with JSON paths in
//! every error, each event parsed into its domain type, and the batch handed to the
//! [`Recorder`](crate::recorder::Recorder).

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::error::{ApiError, Detail};
use crate::log::EventsPage;
use crate::record::Record;
use crate::recorder::{RecordError, Submission, Submitted};
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use partyedu_domain::{Event, RejectionKind};
use partyedu_store::AppendError;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/events", post(record_events))
}

/// The request body of `POST /api/v1/events`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordRequest {
    events: Vec<EventInput>,
    idempotency_key: Option<String>,
}

/// One event to record: its type, its data (the schema of that type, see
/// `components/schemas/<Type>.v1`), and optionally a client-chosen id.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct EventInput {
    #[serde(rename = "type")]
    event_type: String,
    data: Value,
    event_id: Option<Uuid>,
}

/// Idempotency keys are client strings; bounded so that a key cannot be used to store junk.
const MAX_KEY_LEN: usize = 200;

async fn record_events(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Recorder])?;
    let bytes = to_bytes(body, state.limits.max_body_bytes)
        .await
        .map_err(|_| {
            ApiError::payload_too_large(format!(
                "the request body is larger than {} bytes",
                state.limits.max_body_bytes
            ))
        })?;
    let stored = record_body(&state, &caller, &bytes, correlation_id(&headers)?).await?;
    let page = EventsPage {
        events: stored.iter().map(|e| Record::new(e, state.tz)).collect(),
        next_after: None,
    };
    Ok((StatusCode::CREATED, Json(page)).into_response())
}

/// Why [`record_request`] stored nothing: the request cannot be read, or the recorder refused
/// it (kept whole, so that the dashboard can word each rejection in its page's language).
pub(crate) enum Refused {
    Request(ApiError),
    Record(RecordError),
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> ApiError {
        match refused {
            Refused::Request(err) => err,
            Refused::Record(err) => record_error(err),
        }
    }
}

/// Parses a request body of `POST /api/v1/events` and records it for `caller`: the one path by
/// which the API and the dashboard's forms record (same validation, scope and idempotency).
pub(crate) async fn record_body(
    state: &AppState,
    caller: &Caller,
    bytes: &[u8],
    correlation: Option<String>,
) -> Result<Vec<partyedu_store::RecordedEvent>, ApiError> {
    Ok(record_request(state, caller, bytes, correlation).await?)
}

/// [`record_body`] with its refusal as it came: an event that does not parse is a rejection
/// of the batch like the recorder's (both answer `400 invalid_request`).
pub(crate) async fn record_request(
    state: &AppState,
    caller: &Caller,
    bytes: &[u8],
    correlation: Option<String>,
) -> Result<Vec<partyedu_store::RecordedEvent>, Refused> {
    let request = parse_request(bytes, state.limits.max_batch_events).map_err(Refused::Request)?;
    let mut metadata = Map::new();
    if let Some(id) = correlation {
        metadata.insert("correlation_id".to_owned(), Value::String(id));
    }
    if let Some(key) = &request.idempotency_key {
        metadata.insert("idempotency_key".to_owned(), Value::String(key.clone()));
    }
    let mut events = Vec::with_capacity(request.events.len());
    let mut rejections = Vec::new();
    for (index, input) in request.events.into_iter().enumerate() {
        match Event::parse(&input.event_type, input.data) {
            Ok(event) => events.push(Submitted {
                event,
                event_id: input.event_id,
                actor: caller.name.clone(),
                occurred_at: None,
                metadata: metadata.clone(),
            }),
            Err(err) => rejections.push(err.in_batch(index)),
        }
    }
    if !rejections.is_empty() {
        return Err(Refused::Record(RecordError::Rejected(rejections)));
    }
    let submission = Submission {
        events,
        scope: caller.scope.clone(),
        // Keys are scoped to the credential: two clients may pick the same key.
        idempotency_key: request
            .idempotency_key
            .map(|key| format!("{}:{key}", caller.name)),
    };
    state
        .recorder
        .record(submission)
        .await
        .map_err(Refused::Record)
}

fn parse_request(bytes: &[u8], max_events: usize) -> Result<RecordRequest, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let request: RecordRequest =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
            let path = err.path().to_string();
            ApiError::invalid_at(
                if path == "." { String::new() } else { path },
                err.inner().to_string(),
            )
        })?;
    deserializer
        .end()
        .map_err(|err| ApiError::invalid_at("", err.to_string()))?;
    if request.events.is_empty() {
        return Err(ApiError::invalid_at(
            "events",
            "a batch holds at least one event",
        ));
    }
    if request.events.len() > max_events {
        return Err(ApiError::payload_too_large(format!(
            "a batch holds at most {max_events} events, this one holds {}",
            request.events.len()
        )));
    }
    if let Some(key) = &request.idempotency_key
        && (key.is_empty() || key.chars().count() > MAX_KEY_LEN || key.contains('\0'))
    {
        return Err(ApiError::invalid_at(
            "idempotency_key",
            format!("must be 1 to {MAX_KEY_LEN} characters, none of them U+0000"),
        ));
    }
    Ok(request)
}

fn correlation_id(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("x-correlation-id") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(id) if !id.is_empty() && id.len() <= MAX_KEY_LEN => Ok(Some(id.to_owned())),
        _ => Err(ApiError::invalid_at(
            "X-Correlation-Id",
            format!("must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
        )),
    }
}

/// A refused batch is a 400 when anything in it can be judged from the request alone, a 409
/// when it is only the stored state that refuses it.
pub(crate) fn record_error(err: RecordError) -> ApiError {
    match err {
        RecordError::Rejected(rejections) => {
            let invalid = rejections.iter().any(|r| r.kind == RejectionKind::Invalid);
            let details = rejections
                .into_iter()
                .map(|r| Detail {
                    path: r.path,
                    problem: r.problem,
                })
                .collect();
            if invalid {
                ApiError::invalid("the batch has invalid events", details)
            } else {
                ApiError::conflict("the batch conflicts with the recorded state", details)
            }
        }
        err @ RecordError::OutOfScope(_) => ApiError::forbidden(err.to_string()),
        RecordError::Append(AppendError::IdempotencyKeyReused(_)) => ApiError::conflict(
            "this idempotency key was used for a different batch",
            vec![Detail {
                path: "idempotency_key".to_owned(),
                problem: "already used for a different batch".to_owned(),
            }],
        ),
        RecordError::Append(
            err @ (AppendError::DuplicateEventId(_)
            | AppendError::VersionConflict { .. }
            | AppendError::ConcurrentAppend),
        ) => ApiError::conflict(err.to_string(), Vec::new()),
        RecordError::Append(err @ AppendError::BatchSize { .. }) => {
            ApiError::payload_too_large(err.to_string())
        }
        RecordError::Database(err) | RecordError::Append(AppendError::Database(err)) => {
            ApiError::from(err)
        }
        err @ RecordError::GroupFailed {
            unreachable: true, ..
        } => {
            tracing::warn!(error = %err, "a recording's database went away");
            ApiError::database_unavailable(
                "the database cannot be reached now (it may be restarting); retry with the same \
                 idempotency key, which stores the batch once",
            )
        }
        other => ApiError::internal(&other),
    }
}
