//! Figures with their evidence (`?evidence=true`, docs/contract.md "Verifiable figures"): a
//! statistic that carries the signed checkpoint covering its as-of position and, for each
//! figure, the members it counts and the events behind them, so that `partyedu verify
//! --figure` can check the export against the checkpoint and recompute the figure offline.
//!
//! [`attach`] wraps a statistic's handler: it answers the request as an as-of answer (as of
//! the read models' position when no other is asked, so that the reference date comes from the
//! log), then adds the evidence to that answer. Who a figure counts is taken from the
//! production statistics themselves (their member lists); the events behind each member are
//! read from the read models' facts (credited participations) and from the log (registry
//! events). Nothing here decides a figure.

use crate::AppState;
use crate::error::ApiError;
use crate::reads::ReadConn;
use axum::Json;
use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate};
use partyedu_projections::RuleSet;
use partyedu_projections::engine::FACTS;
use partyedu_projections::query::{self, Gap, GapMember, Scope};
use partyedu_projections::rules::{CreditSource, Group, Members, Requirement};
use serde_json::{Map, Value, json};
use sqlx::Row;
use sqlx::postgres::PgConnection;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// The `evidence.format` of an answer with evidence.
pub(crate) const FORMAT: &str = "partyedu-figure-evidence/1";

/// The registry events behind a member's place in the statistics (population, branch, frail,
/// mobile, roles): the same list as `partyedu_figures::REGISTRY_TYPES`, by the catalog.
const REGISTRY_TYPES: [&str; 9] = [
    "MemberEnrolled",
    "MemberReenrolled",
    "MemberLeft",
    "MemberTransferred",
    "MemberCareStatusChanged",
    "MemberWentMobile",
    "MemberReturned",
    "RoleAssigned",
    "RoleEnded",
];

/// The statistics that offer evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Statistic {
    Coverage,
    CoverageMembers,
    Headlines,
    MemberHistory,
}

impl Statistic {
    fn name(self) -> &'static str {
        match self {
            Statistic::Coverage => "coverage",
            Statistic::CoverageMembers => "coverage_members",
            Statistic::Headlines => "headlines",
            Statistic::MemberHistory => "member_history",
        }
    }
}

/// What an answer with evidence is about, from the answer itself.
struct Asked {
    statistic: Statistic,
    scope: Scope,
    rules: RuleSet,
    offset: usize,
    limit: Option<usize>,
    /// `unreached` or `noncompliant` (member lists).
    status: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// The checkpoint
// ---------------------------------------------------------------------------------------------

/// The records at or before `as_of` are the tree's first `records` leaves (the last at
/// `last_position`), when the tree reaches that far.
async fn leaves_upto(
    conn: &mut PgConnection,
    as_of: i64,
) -> Result<Option<(u64, i64)>, sqlx::Error> {
    let leaf: Option<(i64, i64)> = sqlx::query_as(
        "SELECT leaf_index, position FROM audit_leaves WHERE position <= $1 \
         ORDER BY position DESC LIMIT 1",
    )
    .bind(as_of)
    .fetch_optional(&mut *conn)
    .await?;
    let (records, last) = leaf.map_or((0, 0), |(index, position)| (index as u64 + 1, position));
    // The tree is the log's prefix in position order: it covers `as_of` unless an event lies
    // between its last leaf so far and `as_of`.
    let beyond: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM events WHERE position > $1 AND position <= $2)",
    )
    .bind(last)
    .bind(as_of)
    .fetch_one(&mut *conn)
    .await?;
    Ok((!beyond).then_some((records, last)))
}

/// The signed checkpoint an answer as of `as_of` carries: the smallest stored one covering it
/// (signed by this server's key, when it has one); when none does, one signed now.
async fn checkpoint(
    state: &AppState,
    conn: &mut PgConnection,
    as_of: i64,
) -> Result<Map<String, Value>, ApiError> {
    let key = state.audit.as_deref();
    let mut upto = leaves_upto(conn, as_of).await?;
    if upto.is_none()
        && let Some(key) = key
    {
        // The read models have folded `as_of`, so the safe frontier is past it.
        crate::audit::checkpoint_now(&state.store, key).await?;
        upto = leaves_upto(conn, as_of).await?;
    }
    let Some((records, last_position)) = upto else {
        return Err(match key {
            None => crate::audit::no_audit_key(),
            Some(_) => ApiError::lagging(as_of),
        });
    };
    let verifier = key.map(|k| k.signer.verifier());
    let stored: Option<String> = sqlx::query_scalar(
        "SELECT note FROM audit_checkpoints WHERE size >= $1 ORDER BY size, id LIMIT 1",
    )
    .bind(records as i64)
    .fetch_optional(&mut *conn)
    .await?;
    let by_this_key = |note: &str| {
        verifier
            .as_ref()
            .is_none_or(|v| partyedu_audit::verify_checkpoint(note, v).is_ok())
    };
    let note = match (stored, key) {
        (Some(note), _) if by_this_key(&note) => note,
        (_, Some(key)) => crate::audit::checkpoint_now(&state.store, key).await?.note,
        (_, None) => return Err(crate::audit::no_audit_key()),
    };
    let size = partyedu_audit::parse_checkpoint_unverified(&note)
        .map_err(partyedu_audit::AuditError::from)?
        .size;
    let mut map = Map::new();
    map.insert("records".to_owned(), json!(records));
    map.insert("last_position".to_owned(), json!(last_position));
    map.insert("checkpoint_size".to_owned(), json!(size));
    map.insert("checkpoint".to_owned(), json!(note));
    Ok(map)
}

/// The fields every answer's evidence has: format, statistic, page, zone, the rule set in full,
/// the as-of point's place in the tree and the signed checkpoint.
async fn base(
    state: &AppState,
    conn: &mut PgConnection,
    request: &Asked,
) -> Result<Map<String, Value>, ApiError> {
    let rules = &request.rules;
    let mut map = Map::new();
    map.insert("format".to_owned(), json!(FORMAT));
    map.insert("statistic".to_owned(), json!(request.statistic.name()));
    map.insert("offset".to_owned(), json!(request.offset));
    map.insert("limit".to_owned(), json!(request.limit));
    map.insert("time_zone".to_owned(), json!(state.tz.name()));
    map.insert(
        "rule_set".to_owned(),
        json!({
            "id": rules.id(),
            "version": rules.rules.version,
            "hash": rules.hash,
            "rules": rules.rules,
        }),
    );
    map.extend(checkpoint(state, conn, request.scope.as_of).await?);
    Ok(map)
}

// ---------------------------------------------------------------------------------------------
// The events behind members and org units
// ---------------------------------------------------------------------------------------------

/// Each member's registry events at or before `as_of`, in log order.
async fn registry_events(
    conn: &mut PgConnection,
    as_of: i64,
    members: &BTreeSet<String>,
) -> Result<BTreeMap<String, Vec<Uuid>>, sqlx::Error> {
    let streams: Vec<String> = members.iter().map(|m| format!("member:{m}")).collect();
    let rows = sqlx::query(
        "SELECT data->>'member_id' AS member_id, event_id FROM events \
         WHERE stream = ANY($1) AND position <= $2 AND type = ANY($3) ORDER BY position",
    )
    .bind(&streams)
    .bind(as_of)
    .bind(&REGISTRY_TYPES[..])
    .fetch_all(&mut *conn)
    .await?;
    let mut out: BTreeMap<String, Vec<Uuid>> = BTreeMap::new();
    for row in rows {
        let member: Option<String> = row.try_get("member_id")?;
        out.entry(member.unwrap_or_default())
            .or_default()
            .push(row.try_get("event_id")?);
    }
    Ok(out)
}

/// The rule-set source a participation fact is.
fn source(kind: &str, home_study: bool) -> Option<CreditSource> {
    match kind {
        "class" => Some(CreditSource::Class),
        "party_lecture" => Some(CreditSource::PartyLecture),
        "home_visit" if home_study => Some(CreditSource::HomeStudyDelivery),
        "online_study" => Some(CreditSource::OnlineStudy),
        "org_life_meeting" => Some(CreditSource::OrgLifeMeeting),
        _ => None,
    }
}

/// Each member's credited records as of the scope's position (standing, not voided, a source
/// the rule set credits) in `year` (every year: `None`), by their recording events, in log
/// order.
async fn credited_events(
    conn: &mut PgConnection,
    scope: &Scope,
    year: Option<i32>,
    rules: &RuleSet,
    members: &BTreeSet<String>,
) -> Result<BTreeMap<String, Vec<Uuid>>, sqlx::Error> {
    let ids: Vec<&str> = members.iter().map(String::as_str).collect();
    let rows = sqlx::query(
        "SELECT DISTINCT member_id, event_id, event_position, kind, home_study \
         FROM rm_participations WHERE generation = $1 AND ($2::integer IS NULL OR year = $2) \
           AND from_pos <= $3 AND (to_pos IS NULL OR to_pos > $3) \
           AND (voided_pos IS NULL OR voided_pos > $3) AND member_id = ANY($4) \
         ORDER BY event_position",
    )
    .bind(scope.generation)
    .bind(year)
    .bind(scope.as_of)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut out: BTreeMap<String, Vec<Uuid>> = BTreeMap::new();
    for row in rows {
        let kind: String = row.try_get("kind")?;
        if !source(&kind, row.try_get("home_study")?).is_some_and(|s| rules.credits(s)) {
            continue;
        }
        let list = out.entry(row.try_get("member_id")?).or_default();
        let event: Uuid = row.try_get("event_id")?;
        if !list.contains(&event) {
            list.push(event);
        }
    }
    Ok(out)
}

/// `evidence.members`: for each member, their registry events and credited records.
async fn members_evidence(
    conn: &mut PgConnection,
    scope: &Scope,
    year: Option<i32>,
    rules: &RuleSet,
    members: &BTreeSet<String>,
) -> Result<Value, sqlx::Error> {
    let mut registry = registry_events(conn, scope.as_of, members).await?;
    let mut credited = credited_events(conn, scope, year, rules, members).await?;
    let map: Map<String, Value> = members
        .iter()
        .map(|m| {
            (
                m.clone(),
                json!({
                    "registry": registry.remove(m).unwrap_or_default(),
                    "credited": credited.remove(m).unwrap_or_default(),
                }),
            )
        })
        .collect();
    Ok(Value::Object(map))
}

/// The org tree as of a position: parent and `OrgUnitEstablished` event of every org unit.
struct Orgs(BTreeMap<String, (Option<String>, Uuid)>);

impl Orgs {
    async fn load(conn: &mut PgConnection, scope: &Scope) -> Result<Self, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT o.org_id, o.parent_id, e.event_id FROM rm_org_units o \
               JOIN events e ON e.position = o.position \
             WHERE o.generation = $1 AND o.position <= $2",
        )
        .bind(scope.generation)
        .bind(scope.as_of)
        .fetch_all(&mut *conn)
        .await?;
        let mut orgs = BTreeMap::new();
        for row in rows {
            orgs.insert(
                row.try_get("org_id")?,
                (row.try_get("parent_id")?, row.try_get("event_id")?),
            );
        }
        Ok(Self(orgs))
    }

    /// `org` and its ancestors.
    fn chain<'a>(&'a self, org: &'a str) -> Vec<&'a str> {
        let mut chain = vec![org];
        let mut current = org;
        while let Some((Some(parent), _)) = self.0.get(current) {
            if chain.contains(&parent.as_str()) {
                break;
            }
            chain.push(parent);
            current = parent;
        }
        chain
    }

    /// `evidence.org_units`: the org units of the subtree with their `OrgUnitEstablished`.
    fn evidence(&self, root: Option<&str>) -> Value {
        let map: Map<String, Value> = self
            .0
            .iter()
            .filter(|(id, _)| root.is_none_or(|r| self.chain(id).contains(&r)))
            .map(|(id, (_, event))| (id.clone(), json!(event)))
            .collect();
        Value::Object(map)
    }
}

// ---------------------------------------------------------------------------------------------
// Who the figures count, from the production statistics
// ---------------------------------------------------------------------------------------------

/// The rule set with one requirement no member meets: its non-compliant list is the whole
/// population of the scope (branch, groups, credited hours as under `rules`), listed by the
/// production statistics themselves. Its hash is its own, so no materialised read model of
/// `rules` is taken for it.
fn nobody_complies(rules: &RuleSet) -> RuleSet {
    let mut listing = rules.clone();
    listing.rules.groups = vec![Group {
        name: "evidence-listing".to_owned(),
        members: Members::All,
        roles: Vec::new(),
        requirement: Requirement::Hours,
        min_hours: u32::MAX,
        min_concentrated_classes: u32::MAX,
    }];
    listing.hash = format!("{}+evidence-listing", rules.hash);
    listing
}

/// The members the scope's statistics count, with who of them is unreached and who
/// non-compliant, as the production statistics list them.
struct Standings {
    population: Vec<GapMember>,
    unreached: BTreeSet<String>,
    noncompliant: BTreeSet<String>,
}

impl Standings {
    async fn load(
        conn: &mut PgConnection,
        scope: &Scope,
        rules: &RuleSet,
    ) -> Result<Self, sqlx::Error> {
        let ids = |list: Vec<GapMember>| list.into_iter().map(|m| m.member_id).collect();
        let population = query::coverage_members_on(
            &mut *conn,
            scope,
            &nobody_complies(rules),
            Gap::Noncompliant,
        )
        .await?;
        let unreached =
            ids(query::coverage_members_on(&mut *conn, scope, rules, Gap::Unreached).await?);
        let noncompliant =
            ids(query::coverage_members_on(&mut *conn, scope, rules, Gap::Noncompliant).await?);
        Ok(Self {
            population,
            unreached,
            noncompliant,
        })
    }
}

fn ids<'a>(members: impl Iterator<Item = &'a GapMember>) -> Vec<&'a str> {
    members.map(|m| m.member_id.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// Answering with evidence
// ---------------------------------------------------------------------------------------------

/// The read models' position now (their live generation's checkpoint) and that generation.
async fn folded(conn: &mut PgConnection) -> Result<(i32, i64), sqlx::Error> {
    let row: Option<(i32, i64)> = sqlx::query_as(
        "SELECT p.live_generation, c.position FROM rm_projections p \
           JOIN rm_checkpoints c ON c.name = p.name AND c.generation = p.live_generation \
         WHERE p.name = $1",
    )
    .bind(FACTS)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.unwrap_or((1, 0)))
}

/// The query string's pairs, as written (keys and values still encoded).
fn pairs(query: &str) -> Vec<(&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect()
}

/// The value of a query parameter, as written.
fn param<'a>(asked: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    asked.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
}

/// Answers `request` with `handler`, and with `evidence=true` as an as-of answer carrying its
/// evidence. Without `evidence=true` the handler answers alone, exactly as before.
pub(crate) async fn attach<H, T>(
    statistic: Statistic,
    State(state): State<AppState>,
    request: Request,
    handler: H,
) -> Response
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let query = request.uri().query().unwrap_or_default().to_owned();
    let asked = pairs(&query);
    if !asked.iter().any(|&(k, v)| k == "evidence" && v == "true") {
        return handler.call(request, state).await;
    }
    match with_evidence(statistic, &state, request, &asked, handler).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn with_evidence<H, T>(
    statistic: Statistic,
    state: &AppState,
    request: Request,
    asked: &[(&str, &str)],
    handler: H,
) -> Result<Response, ApiError>
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let param = |name: &str| param(asked, name);
    // The handler answers as of a position: the one asked, else where the read models are
    // (at least `min_position`).
    let mut pairs: Vec<String> = asked
        .iter()
        .filter(|(k, _)| *k != "evidence")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if param("as_of_position").is_none() && param("as_of").is_none() {
        let mut reads = ReadConn::acquire(state).await?;
        let position = folded(reads.conn()).await;
        reads.release();
        let min = param("min_position").and_then(|m| m.parse::<i64>().ok());
        pairs.push(format!(
            "as_of_position={}",
            position?.1.max(min.unwrap_or(0))
        ));
    }
    let (mut parts, body) = request.into_parts();
    let uri = format!("{}?{}", parts.uri.path(), pairs.join("&"));
    parts.uri = uri
        .parse()
        .map_err(|_| ApiError::invalid_at("query", "not a valid query string"))?;
    let response = handler
        .call(Request::from_parts(parts, body), state.clone())
        .await;
    if response.status() != StatusCode::OK {
        return Ok(response);
    }
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let mut answer: Value = serde_json::from_slice(&bytes).map_err(|e| ApiError::internal(&e))?;

    let mut reads = ReadConn::acquire(state).await?;
    let result = async {
        let conn = reads.conn();
        let asked = asked_of(state, conn, statistic, &answer, asked).await?;
        add(state, conn, &asked, &mut answer).await
    }
    .await;
    reads.release();
    result?;
    Ok(Json(answer).into_response())
}

/// What the handler's answer was computed for: its scope, rule set and page.
async fn asked_of(
    state: &AppState,
    conn: &mut PgConnection,
    statistic: Statistic,
    answer: &Value,
    query: &[(&str, &str)],
) -> Result<Asked, ApiError> {
    let param = |name: &str| param(query, name);
    let inconsistent = |what: &str| {
        ApiError::internal(&format!(
            "the answer to attach evidence to has no usable `{what}`"
        ))
    };
    let id = answer["rule_set"]["id"]
        .as_str()
        .ok_or_else(|| inconsistent("rule_set.id"))?;
    let rules = state
        .stats
        .book
        .get(id)
        .filter(|r| answer["rule_set"]["hash"] == r.hash.as_str())
        .cloned()
        .ok_or_else(|| inconsistent("rule_set"))?;
    let reference_date: NaiveDate = answer["reference_date"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| inconsistent("reference_date"))?;
    let (generation, _) = folded(conn).await?;
    let number = |name: &str| param(name).and_then(|v| v.parse::<usize>().ok());
    Ok(Asked {
        statistic,
        scope: Scope {
            generation,
            as_of: answer["as_of"]["position"]
                .as_i64()
                .ok_or_else(|| inconsistent("as_of.position"))?,
            // A history without `year=` is computed for the reference date's year.
            year: answer["year"]
                .as_i64()
                .map_or(reference_date.year(), |y| y as i32),
            reference_date,
            org: answer["org"].as_str().map(str::to_owned),
        },
        rules,
        offset: number("offset").unwrap_or(0),
        limit: number("limit"),
        status: param("status").map(str::to_owned),
    })
}

fn member_ids(list: &Value, key: &str) -> BTreeSet<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m[key].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Adds the evidence to a statistic's answer.
async fn add(
    state: &AppState,
    conn: &mut PgConnection,
    asked: &Asked,
    answer: &mut Value,
) -> Result<(), ApiError> {
    let scope = &asked.scope;
    let rules = &asked.rules;
    let mut evidence = base(state, conn, asked).await?;
    let counted: BTreeSet<String> = match asked.statistic {
        Statistic::Coverage => {
            let orgs = Orgs::load(conn, scope).await?;
            let standings = Standings::load(conn, scope, rules).await?;
            // Each member with the org units they count under: their branch and its ancestors.
            let placed: Vec<(&GapMember, Vec<&str>)> = standings
                .population
                .iter()
                .map(|m| (m, orgs.chain(&m.org_id)))
                .collect();
            let mut counted = BTreeSet::new();
            for row in answer["rows"].as_array_mut().into_iter().flatten() {
                let org_id = row["org_id"].as_str().unwrap_or_default().to_owned();
                let group = row["group"].as_str().unwrap_or_default().to_owned();
                let in_scope: Vec<&GapMember> = placed
                    .iter()
                    .filter(|(_, chain)| chain.contains(&org_id.as_str()))
                    .map(|(m, _)| *m)
                    .filter(|m| group == "all" || m.groups.contains(&group.as_str()))
                    .collect();
                let reached = ids(in_scope
                    .iter()
                    .copied()
                    .filter(|m| !standings.unreached.contains(&m.member_id)));
                let compliant = ids(in_scope
                    .iter()
                    .copied()
                    .filter(|m| !standings.noncompliant.contains(&m.member_id)));
                let in_scope = ids(in_scope.into_iter());
                counted.extend(in_scope.iter().map(|m| (*m).to_owned()));
                row["evidence"] = json!({
                    "in_scope": in_scope,
                    "reached": reached,
                    "compliant": compliant,
                });
            }
            evidence.insert("org_units".to_owned(), orgs.evidence(scope.org.as_deref()));
            counted
        }
        Statistic::CoverageMembers => {
            evidence.insert("status".to_owned(), json!(asked.status));
            let orgs = Orgs::load(conn, scope).await?;
            evidence.insert("org_units".to_owned(), orgs.evidence(scope.org.as_deref()));
            member_ids(&answer["members"], "member_id")
        }
        Statistic::Headlines => {
            let orgs = Orgs::load(conn, scope).await?;
            let standings = Standings::load(conn, scope, rules).await?;
            let members = ids(standings.population.iter());
            let reached = ids(standings
                .population
                .iter()
                .filter(|m| !standings.unreached.contains(&m.member_id)));
            answer["figures"]["evidence"] = json!({"members": members, "members_reached": reached});
            evidence.insert("org_units".to_owned(), orgs.evidence(scope.org.as_deref()));
            members.iter().map(|m| (*m).to_owned()).collect()
        }
        Statistic::MemberHistory => {
            let member = answer["member_id"].as_str().unwrap_or_default().to_owned();
            evidence.insert("member_id".to_owned(), json!(member));
            BTreeSet::from([member])
        }
    };
    // A history spans every year in view; the other statistics their year.
    let year = match asked.statistic {
        Statistic::MemberHistory => answer["year"].as_i64().map(|y| y as i32),
        _ => Some(scope.year),
    };
    evidence.insert(
        "members".to_owned(),
        members_evidence(conn, scope, year, rules, &counted).await?,
    );
    answer["evidence"] = Value::Object(evidence);
    Ok(())
}
