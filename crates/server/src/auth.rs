//! Bearer-token access control: who may call what, within which org subtree.
//!
//! Tokens are random 256-bit secrets shown once; only their SHA-256 is stored. Every request
//! looks its token up (one indexed query), so a revocation takes effect at once on every
//! instance. Token values never reach the log.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{DateTime, FixedOffset, Utc};
use partyedu_domain::Id;
use rand::RngCore;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Row};
use std::fmt;
use std::str::FromStr;

/// What a token may do: `recorder` records events; `viewer` reads statistics; `auditor` reads
/// everything and changes nothing (the log, audit endpoints, all statistics); `admin` does
/// everything, including rebuilds and tokens.
///
/// Its schema is `TokenRole` (the member roles of the event catalog are `Role`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "TokenRole")]
pub enum Role {
    Recorder,
    Viewer,
    Auditor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Recorder, Role::Viewer, Role::Auditor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Recorder => "recorder",
            Role::Viewer => "viewer",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role `{s}`: one of recorder, viewer, auditor, admin"))
    }
}

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The token's name: the `actor` of what it records.
    pub name: String,
    pub role: Role,
    /// The org subtree it may act in; `None` for everything. Always an established org unit:
    /// a stored scope that is not one denies the request rather than widening it.
    pub scope: Option<Id>,
}

impl Caller {
    /// Refuses with 403 unless the caller holds one of `roles` (admin always passes).
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if self.role == Role::Admin || roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "the {} role may not do this",
                self.role
            )))
        }
    }

    /// Refuses with 403 unless the caller's scope is the whole subdistrict.
    pub fn require_unscoped(&self) -> Result<(), ApiError> {
        match &self.scope {
            None => Ok(()),
            Some(org) => Err(ApiError::forbidden(format!(
                "this needs a token for the whole subdistrict; this one is scoped to `{org}`"
            ))),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized("an `Authorization: Bearer` token is required")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header is not `Bearer <token>`")
            })?;
        let row = sqlx::query(
            "SELECT name, role, org_scope FROM api_tokens \
             WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash(token.trim()))
        .fetch_optional(state.store.pool())
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown or revoked token"))?;
        let role: String = row.try_get("role")?;
        let scope: Option<String> = row.try_get("org_scope")?;
        let scope = match scope {
            None => None,
            // Fail closed: a scope that cannot be read, or names no org unit, grants nothing.
            Some(text) => Some(
                established_org(state.store.pool(), &text)
                    .await?
                    .ok_or_else(|| {
                        ApiError::forbidden(format!(
                            "this token's org scope `{text}` is not an established org unit, \
                             so it grants nothing; revoke it and create one with a valid scope"
                        ))
                    })?,
            ),
        };
        Ok(Caller {
            name: row.try_get("name")?,
            role: role.parse().map_err(|e: String| ApiError::internal(&e))?,
            scope,
        })
    }
}

/// The org unit `text` names, when it is an id and the log has established it.
async fn established_org(pool: &PgPool, text: &str) -> Result<Option<Id>, sqlx::Error> {
    let Ok(id) = text.parse::<Id>() else {
        return Ok(None);
    };
    // Streams are `org:{org_id}` (CONTRACT §2) and open with `OrgUnitEstablished`.
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM events \
         WHERE stream = 'org:' || $1 AND version = 1 AND type = 'OrgUnitEstablished')",
    )
    .bind(id.as_str())
    .fetch_one(pool)
    .await?;
    Ok(exists.then_some(id))
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A token as listed: never its value.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct TokenInfo {
    pub name: String,
    pub role: Role,
    pub org_scope: Option<String>,
    #[serde(serialize_with = "crate::record::millis::serialize")]
    pub created_at: DateTime<FixedOffset>,
    pub created_by: String,
    #[serde(serialize_with = "crate::record::millis::option")]
    pub revoked_at: Option<DateTime<FixedOffset>>,
    pub revoked_by: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("a token named `{0}` exists or existed; names are never reused")]
    NameTaken(String),
    #[error("no active token is named `{0}`")]
    NotFound(String),
    #[error("a token name is 1–64 characters of A–Z, a–z, 0–9 and `._:-`")]
    BadName,
    #[error("the org scope `{0}` is not an org id: 1–64 characters of A–Z, a–z, 0–9 and `._:-`")]
    BadScope(String),
    #[error("the org scope `{0}` names no established org unit")]
    UnknownScope(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Ids and names share the contract's id alphabet.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

/// Creates a token and returns its value (the only time it is shown). A scope must name an
/// established org unit: an empty or mistyped one would otherwise be a token for nothing, or
/// (read loosely) for everything.
pub async fn create_token(
    pool: &PgPool,
    name: &str,
    role: Role,
    org_scope: Option<&str>,
    created_by: &str,
) -> Result<String, TokenError> {
    if !valid_name(name) {
        return Err(TokenError::BadName);
    }
    if let Some(org) = org_scope {
        if org.parse::<Id>().is_err() {
            return Err(TokenError::BadScope(org.to_owned()));
        }
        if established_org(pool, org).await?.is_none() {
            return Err(TokenError::UnknownScope(org.to_owned()));
        }
    }
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let token = format!("pe_{}", hex::encode(secret));
    let inserted = sqlx::query(
        "INSERT INTO api_tokens (name, role, org_scope, token_hash, created_by) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(role.as_str())
    .bind(org_scope)
    .bind(hash(&token))
    .bind(created_by)
    .execute(pool)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(TokenError::NameTaken(name.to_owned()));
    }
    tracing::info!(token = name, %role, by = created_by, "token created");
    Ok(token)
}

/// Revokes an active token.
pub async fn revoke_token(pool: &PgPool, name: &str, revoked_by: &str) -> Result<(), TokenError> {
    let updated = sqlx::query(
        "UPDATE api_tokens SET revoked_at = now(), revoked_by = $2 \
         WHERE name = $1 AND revoked_at IS NULL",
    )
    .bind(name)
    .bind(revoked_by)
    .execute(pool)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(TokenError::NotFound(name.to_owned()));
    }
    tracing::info!(token = name, by = revoked_by, "token revoked");
    Ok(())
}

/// Every token ever created, by name, with who created and revoked it and when (in the
/// deployment's time zone).
pub async fn list_tokens(pool: &PgPool, tz: chrono_tz::Tz) -> Result<Vec<TokenInfo>, sqlx::Error> {
    let local = |at: DateTime<Utc>| at.with_timezone(&tz).fixed_offset();
    let rows = sqlx::query(
        "SELECT name, role, org_scope, created_at, created_by, revoked_at, revoked_by \
         FROM api_tokens ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let role: String = r.try_get("role")?;
            Ok(TokenInfo {
                name: r.try_get("name")?,
                role: role
                    .parse()
                    .map_err(|e: String| sqlx::Error::Decode(e.into()))?,
                org_scope: r.try_get("org_scope")?,
                created_at: local(r.try_get("created_at")?),
                created_by: r.try_get("created_by")?,
                revoked_at: r
                    .try_get::<Option<DateTime<Utc>>, _>("revoked_at")?
                    .map(local),
                revoked_by: r.try_get("revoked_by")?,
            })
        })
        .collect()
}
