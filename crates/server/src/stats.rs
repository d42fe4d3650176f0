//! The statistics endpoints (CONTRACT §4) and the projections' status.
//!
//! Every answer names the rule set it was computed under, the log position it reflects and
//! its reference date. Viewers and auditors see their own org subtree: `org` defaults to the
//! token's scope and may not leave it; a member's history needs a scope covering the member.

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::error::{ApiError, Detail};
use crate::extract::Params;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{Datelike, NaiveDate, Utc};
use partyedu_projections::RuleSet;
use partyedu_projections::engine::{self, FACTS};
use partyedu_projections::ledgers;
use partyedu_projections::query::{self, Gap, Scope};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row;
use std::time::Duration;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/coverage", get(coverage))
        .route("/api/v1/coverage/members", get(coverage_members))
        .route("/api/v1/lectures/tallies", get(lecture_tallies))
        .route("/api/v1/members/{id}/history", get(member_history))
        .route("/api/v1/ledgers/frail-visits", get(frail_visits))
        .route("/api/v1/ledgers/mobile-contacts", get(mobile_contacts))
        .route("/api/v1/ledgers/wishes", get(wish_board))
        .route("/api/v1/ledgers/classes", get(class_register))
        .route("/api/v1/headlines", get(headlines))
        .route("/api/v1/projections", get(projections))
        .route("/metrics", get(metrics))
}

/// How long `min_position` / `as_of_position` wait for the read models.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// The parameters every statistic takes.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatsQuery {
    /// The calendar year (local time); optional only for a member's history.
    year: Option<i32>,
    /// An org subtree; defaults to the token's scope.
    org: Option<String>,
    /// Another rule set than the live one (what-if).
    rules: Option<String>,
    /// Answer as of this log position.
    as_of_position: Option<i64>,
    /// Wait (up to 5 s) until the read models have reached this position.
    min_position: Option<i64>,
    /// `unreached` or `noncompliant` (member lists only).
    status: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

/// What an answer was computed from.
struct Basis {
    scope: Scope,
    rules: RuleSet,
    anchor: NaiveDate,
}

impl Basis {
    fn envelope(&self) -> serde_json::Map<String, Value> {
        let mut map = serde_json::Map::new();
        map.insert(
            "rule_set".to_owned(),
            json!({"id": self.rules.id(), "version": self.rules.rules.version, "hash": self.rules.hash}),
        );
        map.insert("as_of".to_owned(), json!({"position": self.scope.as_of}));
        map.insert(
            "reference_date".to_owned(),
            json!(self.scope.reference_date.to_string()),
        );
        map.insert("year".to_owned(), json!(self.scope.year));
        map.insert("org".to_owned(), json!(self.scope.org));
        map
    }
}

fn statistics_reader(caller: &Caller) -> Result<(), ApiError> {
    caller.require(&[Role::Viewer, Role::Auditor])
}

/// The org the caller may ask about: its scope by default, and nothing outside it.
async fn effective_org(
    state: &AppState,
    caller: &Caller,
    org: Option<String>,
    generation: i32,
    as_of: i64,
) -> Result<Option<String>, ApiError> {
    let Some(scope) = &caller.scope else {
        return Ok(org);
    };
    let scope = scope.as_str();
    let Some(org) = org else {
        return Ok(Some(scope.to_owned()));
    };
    if org == scope || in_subtree(state, &org, scope, generation, as_of).await? {
        Ok(Some(org))
    } else {
        Err(ApiError::forbidden(format!(
            "org `{org}` is outside this token's scope `{scope}`"
        )))
    }
}

/// Whether `org` lies under `root` in the org tree as of `as_of`.
async fn in_subtree(
    state: &AppState,
    org: &str,
    root: &str,
    generation: i32,
    as_of: i64,
) -> Result<bool, ApiError> {
    let found: bool = sqlx::query_scalar(
        "WITH RECURSIVE up(org_id, parent_id) AS ( \
           SELECT org_id, parent_id FROM rm_org_units WHERE generation = $1 AND position <= $2 AND org_id = $3 \
           UNION SELECT o.org_id, o.parent_id FROM rm_org_units o JOIN up ON o.org_id = up.parent_id \
             WHERE o.generation = $1 AND o.position <= $2) \
         SELECT EXISTS (SELECT 1 FROM up WHERE org_id = $4)",
    )
    .bind(generation)
    .bind(as_of)
    .bind(org)
    .bind(root)
    .fetch_one(state.store.pool())
    .await?;
    Ok(found)
}

/// Waits until the read models reach `min`, then returns (live generation, checkpoint).
async fn reached(state: &AppState, min: i64) -> Result<(i32, i64), ApiError> {
    let deadline = tokio::time::Instant::now() + MAX_WAIT;
    loop {
        let row = sqlx::query(
            "SELECT p.live_generation, c.position FROM rm_projections p JOIN rm_checkpoints c \
               ON c.name = p.name AND c.generation = p.live_generation WHERE p.name = $1",
        )
        .bind(FACTS)
        .fetch_optional(state.store.pool())
        .await?;
        let (generation, position) = match row {
            Some(row) => (row.try_get("live_generation")?, row.try_get("position")?),
            None => (1, 0),
        };
        if position >= min {
            return Ok((generation, position));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::lagging(position));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn basis(
    state: &AppState,
    caller: &Caller,
    params: &StatsQuery,
    year_required: bool,
) -> Result<Basis, ApiError> {
    statistics_reader(caller)?;
    let rules = match params.rules.as_deref() {
        None => crate::rules::live(state).await?,
        Some(id) => state.stats.book.get(id).cloned().ok_or_else(|| {
            ApiError::invalid_at(
                "rules",
                format!(
                    "no rule set `{id}`; known: {}",
                    state.stats.book.ids().collect::<Vec<_>>().join(", ")
                ),
            )
        })?,
    };
    for (name, value) in [
        ("as_of_position", params.as_of_position),
        ("min_position", params.min_position),
    ] {
        if value.is_some_and(|v| v < 0) {
            return Err(ApiError::invalid_at(name, "must be 0 or a log position"));
        }
    }
    let wanted = params.as_of_position.max(params.min_position).unwrap_or(0);
    let (generation, checkpoint) = reached(state, wanted).await?;
    let as_of = params.as_of_position.unwrap_or(checkpoint);
    let anchor = match params.as_of_position {
        Some(position) => {
            let recorded: Option<chrono::DateTime<Utc>> = sqlx::query_scalar(
                "SELECT recorded_at FROM events WHERE position <= $1 ORDER BY position DESC LIMIT 1",
            )
            .bind(position)
            .fetch_optional(state.store.pool())
            .await?;
            recorded.unwrap_or_else(Utc::now)
        }
        None => Utc::now(),
    }
    .with_timezone(&state.tz)
    .date_naive();
    let year = match params.year {
        Some(year) if (1900..=9999).contains(&year) => year,
        Some(_) => return Err(ApiError::invalid_at("year", "a year from 1900 to 9999")),
        None if year_required => return Err(ApiError::invalid_at("year", "required")),
        None => anchor.year(),
    };
    let org = effective_org(state, caller, params.org.clone(), generation, as_of).await?;
    Ok(Basis {
        scope: Scope {
            generation,
            as_of,
            year,
            reference_date: query::reference_date(year, anchor),
            org,
        },
        rules,
        anchor,
    })
}

/// Applies `offset` / `limit` to a complete, ordered list.
fn page<T>(items: Vec<T>, params: &StatsQuery) -> Vec<T> {
    items
        .into_iter()
        .skip(params.offset.unwrap_or(0))
        .take(params.limit.unwrap_or(usize::MAX))
        .collect()
}

fn answer(
    mut envelope: serde_json::Map<String, Value>,
    key: &str,
    value: impl Serialize,
) -> Response {
    envelope.insert(
        key.to_owned(),
        serde_json::to_value(value).expect("statistics serialise to JSON"),
    );
    Json(Value::Object(envelope)).into_response()
}

/// `GET /api/v1/coverage?year=`: reached and compliant counts per org unit and group.
async fn coverage(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<StatsQuery>,
) -> Result<Response, ApiError> {
    let basis = basis(&state, &caller, &params, true).await?;
    let rows = query::coverage(state.store.pool(), &basis.scope, &basis.rules).await?;
    Ok(answer(basis.envelope(), "rows", page(rows, &params)))
}

/// `GET /api/v1/coverage/members?year=&status=`: the members behind the gaps.
async fn coverage_members(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<StatsQuery>,
) -> Result<Response, ApiError> {
    let gap = match params.status.as_deref() {
        Some("unreached") => Gap::Unreached,
        Some("noncompliant") => Gap::Noncompliant,
        _ => {
            return Err(ApiError::invalid_at(
                "status",
                "`unreached` or `noncompliant`",
            ));
        }
    };
    let basis = basis(&state, &caller, &params, true).await?;
    let members =
        query::coverage_members(state.store.pool(), &basis.scope, &basis.rules, gap).await?;
    Ok(answer(basis.envelope(), "members", page(members, &params)))
}

/// `GET /api/v1/lectures/tallies?year=`: party lectures per speaker.
async fn lecture_tallies(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<StatsQuery>,
) -> Result<Response, ApiError> {
    let basis = basis(&state, &caller, &params, true).await?;
    let mut tallies = query::lecture_tallies(state.store.pool(), &basis.scope).await?;
    tallies.speakers = page(tallies.speakers, &params);
    let mut envelope = basis.envelope();
    envelope.insert("totals".to_owned(), tallies.totals);
    envelope.insert("missing".to_owned(), json!(tallies.missing));
    Ok(answer(envelope, "speakers", tallies.speakers))
}

/// `GET /api/v1/members/{id}/history[?year=]`: one member's records and yearly standing.
async fn member_history(
    State(state): State<AppState>,
    caller: Caller,
    Path(member): Path<String>,
    Params(params): Params<StatsQuery>,
) -> Result<Response, ApiError> {
    let basis = basis(&state, &caller, &params, false).await?;
    if let Some(scope) = &caller.scope {
        // Personal data: only for a token whose scope covers the member's branch.
        let branch: Option<String> = sqlx::query_scalar(
            "SELECT branch_id FROM rm_member_registry WHERE generation = $1 AND position <= $2 \
               AND member_id = $3 ORDER BY effective_on DESC, position DESC LIMIT 1",
        )
        .bind(basis.scope.generation)
        .bind(basis.scope.as_of)
        .bind(&member)
        .fetch_optional(state.store.pool())
        .await?;
        let covered = match &branch {
            Some(branch) => {
                in_subtree(
                    &state,
                    branch,
                    scope.as_str(),
                    basis.scope.generation,
                    basis.scope.as_of,
                )
                .await?
            }
            None => false,
        };
        if !covered {
            return Err(ApiError::forbidden(format!(
                "member `{member}` is outside this token's scope `{scope}`"
            )));
        }
    }
    let history = query::member_history(
        state.store.pool(),
        basis.scope.generation,
        basis.scope.as_of,
        &member,
        params.year,
        basis.anchor,
        &basis.rules,
    )
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no member `{member}`")))?;
    let mut envelope = basis.envelope();
    envelope.insert("member_id".to_owned(), json!(member));
    envelope.insert("year".to_owned(), json!(params.year));
    envelope.insert("years".to_owned(), json!(history.years));
    Ok(answer(envelope, "entries", page(history.entries, &params)))
}

/// `GET /api/v1/ledgers/frail-visits?year=`: frail members, their last home visit, and who is
/// overdue past the rule set's threshold.
async fn frail_visits(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<StatsQuery>,
) -> Result<Response, ApiError> {
    let basis = basis(&state, &caller, &params, true).await?;
    let rows = ledgers::frail_visits(state.store.pool(), &basis.scope, &basis.rules).await?;
    let mut envelope = basis.envelope();
    envelope.insert(
        "overdue_after_days".to_owned(),
        json!(basis.rules.rules.ledgers.frail_visit_overdue_days),
    );
    Ok(answer(envelope, "members", page(rows, &params)))
}

/// `GET /api/v1/ledgers/mobile-contacts?year=`: mobile members, their buddy and last contact.
async fn mobile_contacts(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<StatsQuery>,
) -> Result<Response, ApiError> {
    let basis = basis(&state, &caller, &params, true).await?;
    let rows = ledgers::mobile_contacts(state.store.pool(), &basis.scope, &basis.rules).await?;
    let mut envelope = basis.envelope();
    envelope.insert(
        "overdue_after_days".to_owned(),
        json!(basis.rules.rules.ledgers.mobile_contact_overdue_days),
    );
    Ok(answer(envelope, "members", page(rows, &params)))
}

/// `GET /api/v1/ledgers/wishes?year=`: the micro-wish board.
async fn wish_board(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<StatsQuery>,
) -> Result<Response, ApiError> {
    let basis = basis(&state, &caller, &params, true).await?;
    let board = ledgers::wish_board(state.store.pool(), &basis.scope).await?;
    Ok(answer(basis.envelope(), "board", board))
}

/// `GET /api/v1/ledgers/classes?year=`: the class register.
async fn class_register(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<StatsQuery>,
) -> Result<Response, ApiError> {
    let basis = basis(&state, &caller, &params, true).await?;
    let classes = ledgers::class_register(state.store.pool(), &basis.scope).await?;
    Ok(answer(basis.envelope(), "classes", page(classes, &params)))
}

/// `GET /api/v1/headlines?year=`: the year's headline figures.
async fn headlines(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<StatsQuery>,
) -> Result<Response, ApiError> {
    let basis = basis(&state, &caller, &params, true).await?;
    let figures = ledgers::headlines(state.store.pool(), &basis.scope, &basis.rules).await?;
    Ok(answer(basis.envelope(), "figures", figures))
}

/// `GET /api/v1/projections`: where each projection stands.
async fn projections(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    statistics_reader(&caller)?;
    let status = engine::status(&state.store).await?;
    let live = crate::rules::live(&state).await.ok();
    Ok(Json(json!({"projections": [{
        "name": status.name,
        "generation": status.generation,
        "checkpoint": status.checkpoint,
        "lag_events": status.lag_events,
        "lag_seconds": status.lag_seconds,
        "updated_at": status.updated_at.map(|at| crate::local_timestamp(at, state.tz)),
        "rule_set": live.map(|r| json!({"id": r.id(), "version": r.rules.version, "hash": r.hash})),
        "rebuild": status.rebuild.map(|r| json!({
            "generation": r.generation,
            "position": r.position,
            "target_position": r.target_position,
            "events_folded": r.events_folded,
            "target_events": r.target_events,
            "progress": r.progress(),
        })),
    }]}))
    .into_response())
}

/// `GET /metrics`: the same in Prometheus text format.
async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let status = engine::status(&state.store).await?;
    let head = state.store.head_position().await?;
    let mut body = format!(
        "# HELP partyedu_projection_checkpoint Last log position folded into the read models.\n\
         # TYPE partyedu_projection_checkpoint gauge\n\
         partyedu_projection_checkpoint{{projection=\"{name}\"}} {checkpoint}\n\
         # HELP partyedu_projection_lag_events Events in the log not yet folded in.\n\
         # TYPE partyedu_projection_lag_events gauge\n\
         partyedu_projection_lag_events{{projection=\"{name}\"}} {lag_events}\n\
         # HELP partyedu_projection_lag_seconds Age of the oldest event not yet folded in.\n\
         # TYPE partyedu_projection_lag_seconds gauge\n\
         partyedu_projection_lag_seconds{{projection=\"{name}\"}} {lag_seconds}\n\
         # HELP partyedu_log_head_position Highest committed log position.\n\
         # TYPE partyedu_log_head_position gauge\n\
         partyedu_log_head_position {head}\n",
        name = status.name,
        checkpoint = status.checkpoint,
        lag_events = status.lag_events,
        lag_seconds = status.lag_seconds,
    );
    if let Ok(rules) = crate::rules::live(&state).await {
        body += &format!(
            "# HELP partyedu_rule_set_info The live rule set.\n\
             # TYPE partyedu_rule_set_info gauge\n\
             partyedu_rule_set_info{{id=\"{}\",version=\"{}\",hash=\"{}\"}} 1\n",
            rules.id(),
            rules.rules.version,
            rules.hash
        );
    }
    if let Some(rebuild) = &status.rebuild {
        body += &format!(
            "# HELP partyedu_projection_rebuild_progress Share of the log a rebuild has folded.\n\
             # TYPE partyedu_projection_rebuild_progress gauge\n\
             partyedu_projection_rebuild_progress{{projection=\"{}\",generation=\"{}\"}} {}\n",
            status.name,
            rebuild.generation,
            rebuild.progress()
        );
    }
    Ok((
        StatusCode::OK,
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        body,
    )
        .into_response())
}

impl ApiError {
    /// 503: the read models have not reached the position asked for.
    pub fn lagging(reached: i64) -> Self {
        ApiError::unavailable(
            "lagging",
            format!("the read models have reached position {reached} only"),
            vec![Detail {
                path: "position".to_owned(),
                problem: reached.to_string(),
            }],
        )
    }
}
