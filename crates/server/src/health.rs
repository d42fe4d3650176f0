//! Liveness and readiness probes for load balancers and orchestrators.

use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The process is up and serving HTTP.
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The database answers and every migration this build knows is applied.
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match partyedu_store::migrations_pending(state.store.pool()).await {
        Ok(0) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Ok(pending) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "migrations_pending", "pending": pending})),
        ),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "database_unreachable"})),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use partyedu_store::EventStore;
    use sqlx::PgPool;
    use tower::ServiceExt;

    async fn status_of(pool: PgPool, uri: &str) -> StatusCode {
        let app = crate::app(AppState::new(
            EventStore::new(pool),
            chrono_tz::Asia::Shanghai,
            crate::Limits::default(),
            crate::Stats::shipped(),
        ));
        let request = Request::get(uri).body(Body::empty()).unwrap();
        app.oneshot(request).await.unwrap().status()
    }

    #[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
    async fn ready_when_migrated(pool: PgPool) {
        assert_eq!(status_of(pool.clone(), "/healthz").await, StatusCode::OK);
        assert_eq!(status_of(pool, "/readyz").await, StatusCode::OK);
    }

    #[partyedu_testkit::db_test(migrations = false)]
    async fn not_ready_before_migrations(pool: PgPool) {
        assert_eq!(status_of(pool.clone(), "/healthz").await, StatusCode::OK);
        assert_eq!(
            status_of(pool, "/readyz").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
