//! Reading the log over HTTP: the global order and single streams, as JSON or NDJSON.
//!
//! Only auditors and admins read the raw log, and only with a whole-subdistrict token: the
//! log carries personal data of every member, which a scoped token may not see.

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::extract::Params;
use crate::record::{Record, ndjson_line};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::stream;
use partyedu_store::RecordedEvent;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/events", get(read_log))
        .route("/api/v1/streams/{stream}", get(read_stream))
}

const DEFAULT_LIMIT: i64 = 1_000;
const MAX_LIMIT: i64 = 10_000;
const NDJSON: &str = "application/x-ndjson";

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogQuery {
    /// Only events after this position (default 0: from the first).
    #[serde(default)]
    #[schemars(range(min = 0))]
    after: i64,
    /// At most this many events (default 1000 as JSON, every one as NDJSON).
    #[schemars(range(min = 1, max = 10_000))]
    limit: Option<i64>,
    /// Comma-separated event types (a type the catalog does not have matches nothing).
    #[serde(rename = "type")]
    #[schemars(pattern(r"^[^\x00]*$"))]
    types: Option<String>,
}

/// `{"events": [...]}`, with where to continue when it is one page of the log.
#[derive(Serialize, JsonSchema)]
pub(crate) struct EventsPage<'a> {
    pub events: Vec<Record<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<i64>,
}

fn wants_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(NDJSON))
}

fn ndjson_response(body: Body) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON))],
        body,
    )
        .into_response()
}

fn auditor(caller: &Caller) -> Result<(), ApiError> {
    caller.require(&[Role::Auditor])?;
    caller.require_unscoped()
}

/// `GET /api/v1/events?after=N&limit=L&type=A,B`: the log in position order. JSON answers one
/// page with `next_after`; NDJSON without a `limit` streams everything up to the safe frontier.
async fn read_log(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Params(query): Params<LogQuery>,
) -> Result<Response, ApiError> {
    auditor(&caller)?;
    if query.after < 0 {
        return Err(ApiError::invalid_at("after", "must be 0 or a position"));
    }
    if let Some(limit) = query.limit
        && !(1..=MAX_LIMIT).contains(&limit)
    {
        return Err(ApiError::invalid_at(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    if query.types.as_deref().is_some_and(|t| t.contains('\0')) {
        return Err(ApiError::invalid_at("type", "must not contain U+0000"));
    }
    let types: Option<Vec<String>> = query
        .types
        .map(|t| t.split(',').map(|s| s.trim().to_owned()).collect());
    if wants_ndjson(&headers) {
        return Ok(ndjson_response(log_stream(
            state,
            query.after,
            query.limit,
            types,
        )));
    }
    let page = state
        .log
        .read_all(
            query.after,
            query.limit.unwrap_or(DEFAULT_LIMIT),
            types.as_deref(),
        )
        .await?;
    Ok(Json(EventsPage {
        events: page
            .events
            .iter()
            .map(|e| Record::new(e, state.tz))
            .collect(),
        next_after: Some(page.next_after),
    })
    .into_response())
}

/// The log from `after` as an NDJSON body, read page by page while it is sent.
fn log_stream(state: AppState, after: i64, limit: Option<i64>, types: Option<Vec<String>>) -> Body {
    struct Cursor {
        after: i64,
        left: i64,
        done: bool,
    }
    let start = Cursor {
        after,
        left: limit.unwrap_or(i64::MAX),
        done: false,
    };
    let pages = stream::unfold(start, move |mut cursor| {
        let state = state.clone();
        let types = types.clone();
        async move {
            if cursor.done || cursor.left == 0 {
                return None;
            }
            let want = cursor.left.min(DEFAULT_LIMIT);
            let page = match state
                .log
                .read_all(cursor.after, want, types.as_deref())
                .await
            {
                Ok(page) => page,
                Err(err) => {
                    // Headers are gone already: end the body early, the cause goes to the log.
                    tracing::error!(error = %err, "log stream interrupted");
                    return Some((Err(std::io::Error::other("log read failed")), cursor));
                }
            };
            cursor.done = (page.events.len() as i64) < want;
            cursor.left -= page.events.len() as i64;
            cursor.after = page.next_after;
            let text: String = page
                .events
                .iter()
                .map(|e| ndjson_line(e, state.tz))
                .collect();
            Some((Ok(text), cursor))
        }
    });
    Body::from_stream(pages)
}

/// `GET /api/v1/streams/{stream}`: one stream in version order.
async fn read_stream(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(stream): Path<String>,
) -> Result<Response, ApiError> {
    auditor(&caller)?;
    let events: Vec<RecordedEvent> = state.log.read_stream(&stream, 0, i64::MAX).await?;
    if events.is_empty() {
        return Err(ApiError::not_found(format!("no stream `{stream}`")));
    }
    if wants_ndjson(&headers) {
        let text: String = events.iter().map(|e| ndjson_line(e, state.tz)).collect();
        return Ok(ndjson_response(Body::from(text)));
    }
    Ok(Json(EventsPage {
        events: events.iter().map(|e| Record::new(e, state.tz)).collect(),
        next_after: None,
    })
    .into_response())
}
