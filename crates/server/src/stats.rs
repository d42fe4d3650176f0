//! The statistics endpoints (CONTRACT §4) and the projections' status.
//!
//! Every answer names the rule set it was computed under, the log position it reflects and
//! its reference date. Viewers and auditors see their own org subtree: `org` defaults to the
//! token's scope and may not leave it; a member's history needs a scope covering the member.

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::error::{ApiError, Detail};
use crate::evidence::{self, Statistic};
use crate::extract::Params;
use crate::reads::ReadConn;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use partyedu_projections::RuleSet;
use partyedu_projections::engine::{self, FACTS};
use partyedu_projections::ledgers;
use partyedu_projections::query::{self, Gap, Scope};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::postgres::PgConnection;
use std::time::Duration;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/coverage",
            get(|s, r| evidence::attach(Statistic::Coverage, s, r, coverage)),
        )
        .route(
            "/api/v1/coverage/members",
            get(|s, r| evidence::attach(Statistic::CoverageMembers, s, r, coverage_members)),
        )
        .route("/api/v1/lectures/tallies", get(lecture_tallies))
        .route(
            "/api/v1/members/{id}/history",
            get(|s, r| evidence::attach(Statistic::MemberHistory, s, r, member_history)),
        )
        .route("/api/v1/ledgers/frail-visits", get(frail_visits))
        .route("/api/v1/ledgers/mobile-contacts", get(mobile_contacts))
        .route("/api/v1/ledgers/wishes", get(wish_board))
        .route("/api/v1/ledgers/classes", get(class_register))
        .route(
            "/api/v1/headlines",
            get(|s, r| evidence::attach(Statistic::Headlines, s, r, headlines)),
        )
        .route("/api/v1/projections", get(projections))
        .route("/metrics", get(crate::metrics::metrics))
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
    /// Answer as of this log position (at most the log's head).
    as_of_position: Option<i64>,
    /// Answer as of this time (RFC 3339, not in the future): the last position recorded at or
    /// before it; 0 before the first event. Not together with `as_of_position`.
    #[schemars(with = "Option<chrono::DateTime<chrono::FixedOffset>>")]
    as_of: Option<String>,
    /// Wait (up to 5 s) until the read models have reached this position (at most the log's
    /// head), else `503 lagging`.
    min_position: Option<i64>,
    /// `unreached` or `noncompliant` (member lists only).
    status: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
    /// `true`: the answer carries its evidence for `partyedu verify --figure` (coverage,
    /// coverage members, headlines and a member's history only): the signed checkpoint
    /// covering its as-of position and the members and events behind each figure. It is an
    /// as-of answer (as of the read models' position when no other is asked), so that its
    /// reference date comes from the log.
    evidence: Option<bool>,
}

/// What an answer was computed from.
struct Basis {
    scope: Scope,
    rules: RuleSet,
    anchor: NaiveDate,
    /// `recorded_at` of the as-of position's event (the last at or before it); none at 0.
    recorded_at: Option<DateTime<Utc>>,
    tz: chrono_tz::Tz,
}

impl Basis {
    fn envelope(&self) -> serde_json::Map<String, Value> {
        let mut map = serde_json::Map::new();
        map.insert(
            "rule_set".to_owned(),
            json!({"id": self.rules.id(), "version": self.rules.rules.version, "hash": self.rules.hash}),
        );
        map.insert(
            "as_of".to_owned(),
            json!({
                "position": self.scope.as_of,
                "recorded_at": self.recorded_at.map(|at| crate::local_timestamp(at, self.tz)),
            }),
        );
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
    conn: &mut PgConnection,
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
    if org == scope || in_subtree(conn, &org, scope, generation, as_of).await? {
        Ok(Some(org))
    } else {
        Err(ApiError::forbidden(format!(
            "org `{org}` is outside this token's scope `{scope}`"
        )))
    }
}

/// Whether `org` lies under `root` in the org tree as of `as_of`.
async fn in_subtree(
    conn: &mut PgConnection,
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
    .fetch_one(&mut *conn)
    .await?;
    Ok(found)
}

/// Where the read models stand: the live generation, its checkpoint and the checkpoint
/// event's `recorded_at`.
struct Reached {
    generation: i32,
    position: i64,
    recorded_at: Option<DateTime<Utc>>,
}

/// Waits until the read models reach `min` (a position the log has: the caller checked).
async fn reached(conn: &mut PgConnection, min: i64) -> Result<Reached, ApiError> {
    let deadline = tokio::time::Instant::now() + MAX_WAIT;
    loop {
        let row = sqlx::query(
            "SELECT p.live_generation, c.position, c.event_recorded_at FROM rm_projections p \
               JOIN rm_checkpoints c ON c.name = p.name AND c.generation = p.live_generation \
             WHERE p.name = $1",
        )
        .bind(FACTS)
        .fetch_optional(&mut *conn)
        .await?;
        let reached = match row {
            Some(row) => Reached {
                generation: row.try_get("live_generation")?,
                position: row.try_get("position")?,
                recorded_at: row.try_get("event_recorded_at")?,
            },
            None => Reached {
                generation: 1,
                position: 0,
                recorded_at: None,
            },
        };
        if reached.position >= min {
            return Ok(reached);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::lagging(reached.position));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// 400: `position` (of the parameter `name`) was never written.
fn beyond_head(name: &str, position: i64, head: i64) -> ApiError {
    let problem = format!("position {position} is beyond the log's head at position {head}");
    ApiError::invalid(
        format!("{name}: {problem}"),
        vec![Detail {
            path: name.to_owned(),
            problem,
        }],
    )
}

/// The as-of point a request names: `as_of_position`, or the last position recorded at or
/// before `as_of` (0 before the first event); `None` for the current answer. Positions beyond
/// the log's head are the caller's mistake (CONTRACT §6).
async fn as_of_point(
    conn: &mut PgConnection,
    params: &StatsQuery,
) -> Result<(Option<i64>, Option<DateTime<Utc>>), ApiError> {
    for (name, value) in [
        ("as_of_position", params.as_of_position),
        ("min_position", params.min_position),
    ] {
        if value.is_some_and(|v| v < 0) {
            return Err(ApiError::invalid_at(name, "must be 0 or a log position"));
        }
    }
    let at = match params.as_of.as_deref() {
        None => None,
        Some(_) if params.as_of_position.is_some() => {
            return Err(ApiError::invalid_at(
                "as_of",
                "give `as_of` or `as_of_position`, not both",
            ));
        }
        Some(text) => {
            let at = DateTime::parse_from_rfc3339(text)
                .map_err(|_| {
                    ApiError::invalid_at(
                        "as_of",
                        "an RFC 3339 time with an offset, e.g. 2024-06-30T18:00:00+08:00",
                    )
                })?
                .with_timezone(&Utc);
            if at > Utc::now() {
                return Err(ApiError::invalid_at(
                    "as_of",
                    "is in the future: the log cannot say how it will stand",
                ));
            }
            Some(at)
        }
    };
    if params.as_of_position.is_some() || params.min_position.is_some() {
        let head: i64 = sqlx::query_scalar("SELECT COALESCE(max(position), 0)::bigint FROM events")
            .fetch_one(&mut *conn)
            .await?;
        for (name, value) in [
            ("as_of_position", params.as_of_position),
            ("min_position", params.min_position),
        ] {
            if let Some(position) = value
                && position > head
            {
                return Err(beyond_head(name, position, head));
            }
        }
    }
    let position = match at {
        Some(at) => Some(
            sqlx::query_scalar::<_, i64>(
                // At the precision timestamps are returned with: a `recorded_at` as an answer gave it
                // names its own event.
                "SELECT COALESCE(max(position), 0)::bigint FROM events \
                 WHERE date_trunc('milliseconds', recorded_at) <= $1",
            )
            .bind(at)
            .fetch_one(&mut *conn)
            .await?,
        ),
        None => params.as_of_position,
    };
    Ok((position, at))
}

async fn basis(
    state: &AppState,
    conn: &mut PgConnection,
    caller: &Caller,
    params: &StatsQuery,
    year_required: bool,
) -> Result<Basis, ApiError> {
    statistics_reader(caller)?;
    if params.evidence == Some(true) {
        // The statistics that offer evidence answer it before their handler runs.
        return Err(ApiError::invalid_at(
            "evidence",
            "offered by coverage, coverage/members, headlines and a member's history",
        ));
    }
    let rules = match params.rules.as_deref() {
        None => crate::rules::live_on(state, &mut *conn).await?,
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
    let (as_of_position, as_of_time) = as_of_point(conn, params).await?;
    let wanted = as_of_position.max(params.min_position).unwrap_or(0);
    let reached = reached(conn, wanted).await?;
    let (as_of, recorded_at) = match as_of_position {
        Some(position) => {
            let recorded: Option<DateTime<Utc>> = sqlx::query_scalar(
                "SELECT recorded_at FROM events WHERE position <= $1 ORDER BY position DESC LIMIT 1",
            )
            .bind(position)
            .fetch_optional(&mut *conn)
            .await?;
            (position, recorded)
        }
        None => (reached.position, reached.recorded_at),
    };
    // The anchor of an as-of answer is the as-of point's `recorded_at` (reproducible forever);
    // before the first event, the time asked for.
    let anchor = match as_of_position {
        Some(_) => recorded_at.or(as_of_time).unwrap_or_else(Utc::now),
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
    let org = effective_org(conn, caller, params.org.clone(), reached.generation, as_of).await?;
    Ok(Basis {
        scope: Scope {
            generation: reached.generation,
            as_of,
            year,
            reference_date: query::reference_date(year, anchor),
            org,
        },
        rules,
        anchor,
        recorded_at,
        tz: state.tz,
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
    let mut reads = ReadConn::acquire(&state).await?;
    let result = async {
        let conn = reads.conn();
        let basis = basis(&state, conn, &caller, &params, true).await?;
        let rows = query::coverage_on(&mut *conn, &basis.scope, &basis.rules).await?;
        Ok(answer(basis.envelope(), "rows", page(rows, &params)))
    }
    .await;
    reads.release();
    result
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
    let mut reads = ReadConn::acquire(&state).await?;
    let result = async {
        let conn = reads.conn();
        let basis = basis(&state, conn, &caller, &params, true).await?;
        let members = query::coverage_members_page_on(
            &mut *conn,
            &basis.scope,
            &basis.rules,
            gap,
            params.offset.unwrap_or(0),
            params.limit,
        )
        .await?;
        Ok(answer(basis.envelope(), "members", members))
    }
    .await;
    reads.release();
    result
}

/// `GET /api/v1/lectures/tallies?year=`: party lectures per speaker.
async fn lecture_tallies(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<StatsQuery>,
) -> Result<Response, ApiError> {
    let mut reads = ReadConn::acquire(&state).await?;
    let result = async {
        let conn = reads.conn();
        let basis = basis(&state, conn, &caller, &params, true).await?;
        let mut tallies = query::lecture_tallies_on(&mut *conn, &basis.scope).await?;
        tallies.speakers = page(tallies.speakers, &params);
        let mut envelope = basis.envelope();
        envelope.insert("totals".to_owned(), tallies.totals);
        envelope.insert("missing".to_owned(), json!(tallies.missing));
        Ok(answer(envelope, "speakers", tallies.speakers))
    }
    .await;
    reads.release();
    result
}

/// `GET /api/v1/members/{id}/history[?year=]`: one member's records and yearly standing.
async fn member_history(
    State(state): State<AppState>,
    caller: Caller,
    Path(member): Path<String>,
    Params(params): Params<StatsQuery>,
) -> Result<Response, ApiError> {
    let mut reads = ReadConn::acquire(&state).await?;
    let result = async {
        let conn = reads.conn();
        let basis = basis(&state, conn, &caller, &params, false).await?;
        if let Some(scope) = &caller.scope {
            // Personal data: only for a token whose scope covers the member's branch.
            let branch: Option<String> = sqlx::query_scalar(
                "SELECT branch_id FROM rm_member_registry WHERE generation = $1 AND position <= $2 \
                   AND member_id = $3 ORDER BY effective_on DESC, position DESC LIMIT 1",
            )
            .bind(basis.scope.generation)
            .bind(basis.scope.as_of)
            .bind(&member)
            .fetch_optional(&mut *conn)
            .await?;
            let covered = match &branch {
                Some(branch) => {
                    in_subtree(
                        conn,
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
        let history = query::member_history_on(
            &mut *conn,
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
    .await;
    reads.release();
    result
}

/// `GET /api/v1/ledgers/frail-visits?year=`: frail members, their last home visit, and who is
/// overdue past the rule set's threshold.
async fn frail_visits(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<StatsQuery>,
) -> Result<Response, ApiError> {
    let mut reads = ReadConn::acquire(&state).await?;
    let result = async {
        let conn = reads.conn();
        let basis = basis(&state, conn, &caller, &params, true).await?;
        let rows = ledgers::frail_visits_on(&mut *conn, &basis.scope, &basis.rules).await?;
        let mut envelope = basis.envelope();
        envelope.insert(
            "overdue_after_days".to_owned(),
            json!(basis.rules.rules.ledgers.frail_visit_overdue_days),
        );
        Ok(answer(envelope, "members", page(rows, &params)))
    }
    .await;
    reads.release();
    result
}

/// `GET /api/v1/ledgers/mobile-contacts?year=`: mobile members, their buddy and last contact.
async fn mobile_contacts(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<StatsQuery>,
) -> Result<Response, ApiError> {
    let mut reads = ReadConn::acquire(&state).await?;
    let result = async {
        let conn = reads.conn();
        let basis = basis(&state, conn, &caller, &params, true).await?;
        let rows = ledgers::mobile_contacts_on(&mut *conn, &basis.scope, &basis.rules).await?;
        let mut envelope = basis.envelope();
        envelope.insert(
            "overdue_after_days".to_owned(),
            json!(basis.rules.rules.ledgers.mobile_contact_overdue_days),
        );
        Ok(answer(envelope, "members", page(rows, &params)))
    }
    .await;
    reads.release();
    result
}

/// `GET /api/v1/ledgers/wishes?year=`: the micro-wish board.
async fn wish_board(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<StatsQuery>,
) -> Result<Response, ApiError> {
    let mut reads = ReadConn::acquire(&state).await?;
    let result = async {
        let conn = reads.conn();
        let basis = basis(&state, conn, &caller, &params, true).await?;
        let board = ledgers::wish_board_on(&mut *conn, &basis.scope).await?;
        Ok(answer(basis.envelope(), "board", board))
    }
    .await;
    reads.release();
    result
}

/// `GET /api/v1/ledgers/classes?year=`: the class register.
async fn class_register(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<StatsQuery>,
) -> Result<Response, ApiError> {
    let mut reads = ReadConn::acquire(&state).await?;
    let result = async {
        let conn = reads.conn();
        let basis = basis(&state, conn, &caller, &params, true).await?;
        let classes = ledgers::class_register_on(&mut *conn, &basis.scope).await?;
        Ok(answer(basis.envelope(), "classes", page(classes, &params)))
    }
    .await;
    reads.release();
    result
}

/// `GET /api/v1/headlines?year=`: the year's headline figures.
async fn headlines(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<StatsQuery>,
) -> Result<Response, ApiError> {
    let mut reads = ReadConn::acquire(&state).await?;
    let result = async {
        let conn = reads.conn();
        let basis = basis(&state, conn, &caller, &params, true).await?;
        let figures = ledgers::headlines_on(&mut *conn, &basis.scope, &basis.rules).await?;
        Ok(answer(basis.envelope(), "figures", figures))
    }
    .await;
    reads.release();
    result
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
        "materialised": status.views.iter().map(|v| json!({
            "rule_set": v.rules_id,
            "hash": v.rules_hash,
            "year": v.year,
            "reference_date": v.reference_date,
            "members_built": v.members_built,
            "ready": v.ready_from.is_some(),
            "ready_from_position": v.ready_from,
        })).collect::<Vec<_>>(),
    }]}))
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
