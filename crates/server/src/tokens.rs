//! Token administration over HTTP (admins only): create, list, revoke.

use crate::AppState;
use crate::auth::{self, Caller, Role, TokenError};
use crate::error::{ApiError, Detail};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use partyedu_domain::Id;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tokens", get(list).post(create))
        .route("/api/v1/tokens/{name}", delete(revoke))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateToken {
    /// Names are never reused, also after a revocation (`409`).
    #[schemars(pattern(r"^[A-Za-z0-9._:-]{1,64}$"))]
    name: String,
    role: Role,
    /// An org subtree; absent for the whole subdistrict.
    org: Option<Id>,
}

fn token_error(err: TokenError) -> ApiError {
    match err {
        TokenError::NameTaken(_) => ApiError::conflict(
            err.to_string(),
            vec![Detail {
                path: "name".to_owned(),
                problem: "already used".to_owned(),
            }],
        ),
        TokenError::BadName => ApiError::invalid_at("name", err.to_string()),
        TokenError::BadScope(_) => ApiError::invalid_at("org", err.to_string()),
        TokenError::UnknownScope(_) => ApiError::conflict(
            err.to_string(),
            vec![Detail {
                path: "org".to_owned(),
                problem: "no established org unit has this id".to_owned(),
            }],
        ),
        TokenError::NotFound(_) => ApiError::not_found(err.to_string()),
        TokenError::Database(err) => ApiError::from(err),
    }
}

/// `POST /api/v1/tokens`: the new token's value is in the answer, and nowhere else.
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CreateToken>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(&[])?;
    let Json(request) = body.map_err(|r| ApiError::invalid_at("body", r.body_text()))?;
    let org = request.org.as_ref().map(|o| o.to_string());
    let token = auth::create_token(
        state.store.pool(),
        &request.name,
        request.role,
        org.as_deref(),
        &caller.name,
    )
    .await
    .map_err(token_error)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"name": request.name, "role": request.role, "org_scope": org, "token": token})),
    ))
}

/// `GET /api/v1/tokens`: every token, with who created and revoked it and when.
async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(&[])?;
    let tokens = auth::list_tokens(state.store.pool(), state.tz).await?;
    Ok(Json(json!({ "tokens": tokens })))
}

/// `DELETE /api/v1/tokens/{name}`: revokes at once, on every instance.
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&[])?;
    auth::revoke_token(state.store.pool(), &name, &caller.name)
        .await
        .map_err(token_error)?;
    Ok(Json(json!({"revoked": name})))
}
