//! One error shape for every response: `{"error": {"code", "message", "details": [{path, problem}]}}`.
//!
//! Handlers return [`ApiError`]; lower layers' errors convert into it here, so status codes are
//! decided in one place. A 500 is logged with its cause and never shows it to the caller. A
//! database that cannot be reached — the pool gave no connection in time, the connection broke,
//! the server is shutting down or restarting — is `503 unavailable` with `Retry-After`: the
//! request was fine and may simply be sent again (a recording with the same idempotency key is
//! stored once).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::Serialize;

/// One thing wrong with a request: where (a JSON path) and what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Detail {
    pub path: String,
    pub problem: String,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Vec<Detail>,
    /// Seconds for a `Retry-After` header.
    retry_after: Option<u32>,
}

/// The `Retry-After` of `503 unavailable`, in seconds: a pool frees up, or a restarted
/// database accepts connections again, within moments.
pub const RETRY_AFTER_SECONDS: u32 = 1;

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
        }
    }

    /// 400: what can be judged from the request alone.
    pub fn invalid(message: impl Into<String>, details: Vec<Detail>) -> Self {
        Self {
            details,
            ..Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
        }
    }

    /// 400 about one place in the request.
    pub fn invalid_at(path: impl Into<String>, problem: impl Into<String>) -> Self {
        let problem = problem.into();
        Self::invalid(
            problem.clone(),
            vec![Detail {
                path: path.into(),
                problem,
            }],
        )
    }

    /// 409: judged against stored state.
    pub fn conflict(message: impl Into<String>, details: Vec<Detail>) -> Self {
        Self {
            details,
            ..Self::new(StatusCode::CONFLICT, "conflict", message)
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 503 with its own code (e.g. `lagging`).
    pub fn unavailable(
        code: &'static str,
        message: impl Into<String>,
        details: Vec<Detail>,
    ) -> Self {
        Self {
            details,
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
        }
    }

    /// 503 `unavailable`, with `Retry-After`: the database cannot serve the request now (no
    /// connection came free in time, or the connection broke); the same request may be sent
    /// again.
    pub fn database_unavailable(message: impl Into<String>) -> Self {
        Self {
            retry_after: Some(RETRY_AFTER_SECONDS),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
        }
    }

    /// 503 `timeout`: cut by the server's time limit (CONTRACT §6).
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "timeout", message)
    }

    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    /// 500: the cause goes to the log, not to the caller.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has the cause",
        )
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error's code (`invalid_request`, `unavailable`, …).
    pub fn code(&self) -> &'static str {
        self.code
    }
}

/// The body of every error response.
#[derive(Serialize, JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorInfo,
}

#[derive(Serialize, JsonSchema)]
pub struct ErrorInfo {
    /// `invalid_request`, `conflict`, `unauthorized`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `payload_too_large`, `lagging`, `timeout`, `unavailable`,
    /// `no_audit_key` or `internal`.
    pub code: &'static str,
    pub message: String,
    pub details: Vec<Detail>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorInfo {
                code: self.code,
                message: self.message,
                details: self.details,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Middleware: an error answer of an `/api/` route that is not in the error shape — axum's own
/// (a route that does not exist, a method it does not have, an extractor's rejection such as a
/// path segment that is not UTF-8) — is given the shape, its status and headers (`Allow`)
/// kept, so that every error of the API is `{"error": {code, message, details}}`.
pub(crate) async fn error_shape(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !api || json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let code = match status {
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "invalid_request",
    };
    let message = if text.is_empty() {
        match status {
            StatusCode::NOT_FOUND => "no such route".to_owned(),
            StatusCode::METHOD_NOT_ALLOWED => {
                "the route does not take this method; `Allow` lists those it takes".to_owned()
            }
            s => s.canonical_reason().unwrap_or("error").to_owned(),
        }
    } else {
        text
    };
    let mut shaped = ApiError::new(status, code, message).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            shaped.headers_mut().insert(name, value.clone());
        }
    }
    shaped
}

/// Whether `err` says the database cannot be reached now rather than that the request or the
/// code is wrong: the pool gave no connection in time or is closed, the connection broke (I/O,
/// TLS, a cut protocol stream), or PostgreSQL refuses or ends sessions while it shuts down,
/// restarts or is out of connections (SQLSTATE class 08, 57P01–57P03, 53300).
pub fn database_unreachable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        // 57014 query_canceled: the read sessions' `statement_timeout` cut the statement.
        if let sqlx::Error::Database(db) = &err
            && db.code().as_deref() == Some("57014")
        {
            tracing::warn!(error = %db, "a read statement ran past its time limit");
            return Self::timeout(
                "the query ran past the server's time limit; narrow it (org, year, limit) or retry later",
            );
        }
        // 22021 character_not_in_repertoire: text PostgreSQL cannot hold (U+0000) in a value
        // the request gave, e.g. a path segment or a query parameter.
        if let sqlx::Error::Database(db) = &err
            && matches!(db.code().as_deref(), Some("22021" | "22P05"))
        {
            return Self::invalid(
                "the request holds a character the database cannot store (U+0000)",
                Vec::new(),
            );
        }
        if matches!(err, sqlx::Error::PoolTimedOut) {
            tracing::warn!("no database connection came free in time");
            return Self::database_unavailable(
                "the server has no free database connection now (it is busy); retry in a moment",
            );
        }
        if database_unreachable(&err) {
            tracing::warn!(error = %err, "the database is unreachable");
            return Self::database_unavailable(
                "the database cannot be reached now (it may be restarting); retry in a moment — \
                 a recording retried with the same idempotency key is stored once",
            );
        }
        Self::internal(&err)
    }
}
