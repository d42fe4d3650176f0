//! One error shape for every response: `{"error": {"code", "message", "details": [{path, problem}]}}`.
//!
//! Handlers return [`ApiError`]; lower layers' errors convert into it here, so status codes are
//! decided in one place. A 500 is logged with its cause and never shows it to the caller.

use axum::Json;
use axum::http::StatusCode;
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
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
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
}

/// The body of every error response.
#[derive(Serialize, JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorInfo,
}

#[derive(Serialize, JsonSchema)]
pub struct ErrorInfo {
    /// `invalid_request`, `conflict`, `unauthorized`, `forbidden`, `not_found`,
    /// `payload_too_large`, `lagging`, `timeout` or `internal`.
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
        (self.status, Json(body)).into_response()
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
        Self::internal(&err)
    }
}
