//! The rule sets over HTTP: which exist, which is live, and switching the live one.
//!
//! The live rule set is one row shared by every instance; switching it changes no stored
//! data (the read models hold rule-independent facts), so every answer after the switch is
//! computed under the new rules and no answer is ever computed under a mix.

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use axum::extract::State;
use axum::routing::{get, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use partyedu_projections::RuleSet;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/rules", get(list))
        .route("/api/v1/rules/live", put(switch))
}

/// The live rule set: the shared selection, else this instance's configured default.
pub(crate) async fn live(state: &AppState) -> Result<RuleSet, ApiError> {
    let mut conn = state.store.pool().acquire().await?;
    live_on(state, &mut conn).await
}

/// [`live`], read through `db` (a statistic's bounded read connection).
pub(crate) async fn live_on(
    state: &AppState,
    conn: &mut sqlx::PgConnection,
) -> Result<RuleSet, ApiError> {
    let selected: Option<String> = sqlx::query_scalar("SELECT rule_set FROM rule_selection")
        .fetch_optional(conn)
        .await?;
    let id = selected.unwrap_or_else(|| state.stats.live.clone());
    state.stats.book.get(&id).cloned().ok_or_else(|| {
        ApiError::internal(&format!(
            "the live rule set `{id}` is not loaded on this instance"
        ))
    })
}

fn describe(set: &RuleSet, live: bool) -> Value {
    json!({"id": set.id(), "version": set.rules.version, "hash": set.hash,
           "source": set.rules.source, "live": live})
}

/// `GET /api/v1/rules`: every loaded rule set, and who made the live one live, when.
async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Viewer, Role::Auditor])?;
    let live = live(&state).await?;
    let selection = sqlx::query("SELECT changed_at, changed_by FROM rule_selection")
        .fetch_optional(state.store.pool())
        .await?;
    let (changed_at, changed_by) = match selection {
        Some(row) => (
            Some(crate::local_timestamp(
                row.try_get::<DateTime<Utc>, _>("changed_at")?,
                state.tz,
            )),
            Some(row.try_get::<String, _>("changed_by")?),
        ),
        None => (None, None),
    };
    let sets: Vec<Value> = state
        .stats
        .book
        .ids()
        .filter_map(|id| state.stats.book.get(id))
        .map(|set| describe(set, set.id() == live.id()))
        .collect();
    Ok(Json(json!({
        "rule_sets": sets,
        "live": {"id": live.id(), "changed_at": changed_at, "changed_by": changed_by},
    })))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SwitchRules {
    /// The id of a loaded rule set.
    id: String,
}

/// `PUT /api/v1/rules/live`: makes another rule set live, for every instance at once.
async fn switch(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<SwitchRules>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&[])?;
    let Json(request) = body.map_err(|r| ApiError::invalid_at("body", r.body_text()))?;
    let set = state.stats.book.get(&request.id).ok_or_else(|| {
        ApiError::invalid_at(
            "id",
            format!(
                "no rule set `{}`; known: {}",
                request.id,
                state.stats.book.ids().collect::<Vec<_>>().join(", ")
            ),
        )
    })?;
    sqlx::query(
        "INSERT INTO rule_selection (rule_set, changed_by) VALUES ($1, $2) \
         ON CONFLICT (singleton) DO UPDATE SET rule_set = $1, changed_by = $2, changed_at = now()",
    )
    .bind(set.id())
    .bind(&caller.name)
    .execute(state.store.pool())
    .await?;
    tracing::info!(
        rule_set = set.id(),
        by = caller.name,
        "live rule set switched"
    );
    Ok(Json(describe(set, true)))
}
