//! The ledgers (台账) administrators work from: frail members and their home visits, mobile
//! members and their contacts, the micro-wish board, the class register, and a year's headline
//! figures. Lists are ordered by id, never ranked: they show gaps, not league tables.

use crate::query::{Scope, YearFacts, hours};
use crate::rules::RuleSet;
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{Acquire, PgConnection, Postgres, Row};
use std::collections::BTreeMap;

/// A participation kind a ledger follows; spelled into its query, so that the planner can
/// use the partial index of these kinds (a bound parameter would hide it from a generic plan).
#[derive(Clone, Copy)]
enum Followed {
    HomeVisit,
    MobileContact,
}

/// The latest valid, non-voided record of `kind` per member on or before the reference date.
async fn last_record_dates(
    conn: &mut PgConnection,
    scope: &Scope,
    kind: Followed,
) -> sqlx::Result<BTreeMap<String, NaiveDate>> {
    let kind = match kind {
        Followed::HomeVisit => "home_visit",
        Followed::MobileContact => "mobile_contact",
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT member_id, max(occurred_on) AS last FROM rm_participations \
         WHERE generation = $1 AND kind = '{kind}' AND occurred_on <= $2 AND from_pos <= $3 \
           AND (to_pos IS NULL OR to_pos > $3) AND (voided_pos IS NULL OR voided_pos > $3) \
         GROUP BY member_id"
    )))
    .bind(scope.generation)
    .bind(scope.reference_date)
    .bind(scope.as_of)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("member_id")?, r.try_get("last")?)))
    .collect()
}

#[derive(Serialize)]
pub struct FrailVisit {
    pub member_id: String,
    pub name: String,
    pub org_id: String,
    pub last_visit_on: Option<NaiveDate>,
    /// Days from the last visit to the reference date; null when never visited.
    pub days_since: Option<i64>,
    /// Past the rule set's threshold, or never visited.
    pub overdue: bool,
}

/// Frail members on the reference date with their last home visit.
pub async fn frail_visits(
    db: impl Acquire<'_, Database = Postgres>,
    scope: &Scope,
    rules: &RuleSet,
) -> sqlx::Result<Vec<FrailVisit>> {
    let mut conn = db.acquire().await?;
    frail_visits_on(&mut conn, scope, rules).await
}

/// [`frail_visits`] on a connection the caller holds.
pub async fn frail_visits_on(
    conn: &mut PgConnection,
    scope: &Scope,
    rules: &RuleSet,
) -> sqlx::Result<Vec<FrailVisit>> {
    let facts = YearFacts::load_registry(&mut *conn, scope).await?;
    let last = last_record_dates(&mut *conn, scope, Followed::HomeVisit).await?;
    let threshold = i64::from(rules.rules.ledgers.frail_visit_overdue_days);
    Ok(facts
        .population
        .iter()
        .filter(|(_, at)| at.frail && facts.orgs.within(&at.branch, scope.org.as_ref()))
        .map(|(id, at)| {
            let last_visit_on = last.get(id).copied();
            let days_since = last_visit_on.map(|d| (scope.reference_date - d).num_days());
            FrailVisit {
                member_id: id.clone(),
                name: facts.names.get(id).cloned().unwrap_or_default(),
                org_id: at.branch.clone(),
                last_visit_on,
                days_since,
                overdue: days_since.is_none_or(|days| days > threshold),
            }
        })
        .collect())
}

#[derive(Serialize)]
pub struct MobileContact {
    pub member_id: String,
    pub name: String,
    pub org_id: String,
    pub since: Option<NaiveDate>,
    pub destination: Option<String>,
    pub buddy_id: Option<String>,
    pub last_contact_on: Option<NaiveDate>,
    /// Days from the last contact (or from going away, if never contacted).
    pub days_since: Option<i64>,
    pub overdue: bool,
}

/// Mobile members on the reference date with their buddy and last contact.
pub async fn mobile_contacts(
    db: impl Acquire<'_, Database = Postgres>,
    scope: &Scope,
    rules: &RuleSet,
) -> sqlx::Result<Vec<MobileContact>> {
    let mut conn = db.acquire().await?;
    mobile_contacts_on(&mut conn, scope, rules).await
}

/// [`mobile_contacts`] on a connection the caller holds.
pub async fn mobile_contacts_on(
    conn: &mut PgConnection,
    scope: &Scope,
    rules: &RuleSet,
) -> sqlx::Result<Vec<MobileContact>> {
    let facts = YearFacts::load_registry(&mut *conn, scope).await?;
    let last = last_record_dates(&mut *conn, scope, Followed::MobileContact).await?;
    let away: BTreeMap<String, (NaiveDate, String)> = sqlx::query(
        "SELECT DISTINCT ON (member_id) member_id, since, destination FROM rm_mobility \
         WHERE generation = $1 AND position <= $2 AND since <= $3 \
         ORDER BY member_id, position DESC",
    )
    .bind(scope.generation)
    .bind(scope.as_of)
    .bind(scope.reference_date)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok((
            r.try_get("member_id")?,
            (r.try_get("since")?, r.try_get("destination")?),
        ))
    })
    .collect::<sqlx::Result<_>>()?;
    let buddies: BTreeMap<String, String> = sqlx::query(
        "SELECT DISTINCT ON (member_id) member_id, buddy_id FROM rm_buddies \
         WHERE generation = $1 AND position <= $2 AND since <= $3 \
           AND (ended_pos IS NULL OR ended_pos > $2) ORDER BY member_id, position DESC",
    )
    .bind(scope.generation)
    .bind(scope.as_of)
    .bind(scope.reference_date)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("member_id")?, r.try_get("buddy_id")?)))
    .collect::<sqlx::Result<_>>()?;
    let threshold = i64::from(rules.rules.ledgers.mobile_contact_overdue_days);
    Ok(facts
        .population
        .iter()
        .filter(|(_, at)| at.mobile && facts.orgs.within(&at.branch, scope.org.as_ref()))
        .map(|(id, at)| {
            let (since, destination) = away.get(id).cloned().unzip();
            let last_contact_on = last.get(id).copied();
            let days_since = last_contact_on
                .or(since)
                .map(|d| (scope.reference_date - d).num_days());
            MobileContact {
                member_id: id.clone(),
                name: facts.names.get(id).cloned().unwrap_or_default(),
                org_id: at.branch.clone(),
                since,
                destination,
                buddy_id: buddies.get(id).cloned(),
                last_contact_on,
                days_since,
                overdue: days_since.is_some_and(|days| days > threshold),
            }
        })
        .collect())
}

/// A wish as of the reference date, with what happened to it in the year.
struct WishState {
    grid: String,
    category: String,
    /// `open`, `claimed`, `fulfilled` or `withdrawn` on the reference date.
    status: &'static str,
    claimed_in_year: bool,
    fulfilled_in_year: bool,
}

async fn wishes(conn: &mut PgConnection, scope: &Scope) -> sqlx::Result<Vec<WishState>> {
    let orgs = crate::query::OrgTree::load(&mut *conn, scope.generation, scope.as_of).await?;
    let rows = sqlx::query(
        "SELECT w.wish_id, w.grid_id, w.category, s.step, s.on_date FROM rm_wishes w \
         LEFT JOIN rm_wish_steps s ON s.generation = w.generation AND s.wish_id = w.wish_id \
           AND s.position <= $2 AND s.on_date <= $3 \
         WHERE w.generation = $1 AND w.position <= $2 AND w.posted_on <= $3 \
         ORDER BY w.wish_id, s.position",
    )
    .bind(scope.generation)
    .bind(scope.as_of)
    .bind(scope.reference_date)
    .fetch_all(&mut *conn)
    .await?;
    let mut states: BTreeMap<String, WishState> = BTreeMap::new();
    for r in &rows {
        let id: String = r.try_get("wish_id")?;
        let grid: String = r.try_get("grid_id")?;
        if !orgs.within(&grid, scope.org.as_ref()) {
            continue;
        }
        let state = match states.entry(id) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => e.insert(WishState {
                grid,
                category: r.try_get("category")?,
                status: "open",
                claimed_in_year: false,
                fulfilled_in_year: false,
            }),
        };
        let Some(step) = r.try_get::<Option<String>, _>("step")? else {
            continue;
        };
        let on: NaiveDate = r.try_get("on_date")?;
        let in_year = chrono::Datelike::year(&on) == scope.year;
        state.status = match step.as_str() {
            "claimed" => {
                state.claimed_in_year |= in_year;
                "claimed"
            }
            "fulfilled" => {
                // Done counts by fulfilment date, not claim date.
                state.fulfilled_in_year |= in_year;
                "fulfilled"
            }
            "withdrawn" => "withdrawn",
            _ => "open",
        };
    }
    Ok(states.into_values().collect())
}

#[derive(Serialize, Default)]
pub struct WishCounts {
    pub open: i64,
    pub claimed: i64,
    pub fulfilled: i64,
    pub withdrawn: i64,
    /// Wishes claimed in the year (a claim released and claimed again counts once).
    pub claimed_in_year: i64,
    /// Wishes fulfilled in the year: "done" by fulfilment date.
    pub fulfilled_in_year: i64,
}

impl WishCounts {
    fn add(&mut self, wish: &WishState) {
        match wish.status {
            "open" => self.open += 1,
            "claimed" => self.claimed += 1,
            "fulfilled" => self.fulfilled += 1,
            _ => self.withdrawn += 1,
        }
        self.claimed_in_year += i64::from(wish.claimed_in_year);
        self.fulfilled_in_year += i64::from(wish.fulfilled_in_year);
    }
}

/// The micro-wish board: status on the reference date and the year's claims and fulfilments,
/// in total, by category and by grid.
pub async fn wish_board(
    db: impl Acquire<'_, Database = Postgres>,
    scope: &Scope,
) -> sqlx::Result<Value> {
    let mut conn = db.acquire().await?;
    wish_board_on(&mut conn, scope).await
}

/// [`wish_board`] on a connection the caller holds.
pub async fn wish_board_on(conn: &mut PgConnection, scope: &Scope) -> sqlx::Result<Value> {
    let mut totals = WishCounts::default();
    let mut by_category: BTreeMap<String, WishCounts> = BTreeMap::new();
    let mut by_grid: BTreeMap<String, WishCounts> = BTreeMap::new();
    for wish in wishes(&mut *conn, scope).await? {
        totals.add(&wish);
        by_category
            .entry(wish.category.clone())
            .or_default()
            .add(&wish);
        by_grid.entry(wish.grid.clone()).or_default().add(&wish);
    }
    let listed = |map: BTreeMap<String, WishCounts>, key: &str| -> Vec<Value> {
        map.into_iter()
            .map(|(k, counts)| {
                let mut row = serde_json::to_value(counts).expect("counts serialise");
                row[key] = json!(k);
                row
            })
            .collect()
    };
    Ok(json!({
        "totals": totals,
        "by_category": listed(by_category, "category"),
        "by_grid": listed(by_grid, "grid_id"),
    }))
}

#[derive(Serialize)]
pub struct RegisteredClass {
    pub class_id: String,
    pub title: String,
    pub form: String,
    pub organizer_org_id: String,
    pub venue_id: Option<String>,
    pub occurred_at: String,
    pub study_hours: Value,
    pub attendees: i64,
    pub voided: bool,
}

/// The class register of the year: every class organised in the subtree, in date order, with
/// its attendance after amendments.
pub async fn class_register(
    db: impl Acquire<'_, Database = Postgres>,
    scope: &Scope,
) -> sqlx::Result<Vec<RegisteredClass>> {
    let mut conn = db.acquire().await?;
    class_register_on(&mut conn, scope).await
}

/// [`class_register`] on a connection the caller holds.
pub async fn class_register_on(
    conn: &mut PgConnection,
    scope: &Scope,
) -> sqlx::Result<Vec<RegisteredClass>> {
    let orgs = crate::query::OrgTree::load(&mut *conn, scope.generation, scope.as_of).await?;
    let rows = sqlx::query(
        "SELECT c.class_id, c.title, c.form, c.organizer_org_id, c.venue_id, c.occurred_at, \
           c.hours_centi, (c.voided_pos IS NOT NULL AND c.voided_pos <= $3) AS voided, \
           (SELECT count(*) FROM rm_participations p WHERE p.generation = c.generation \
              AND p.kind = 'class' AND p.record_id = c.class_id AND p.from_pos <= $3 \
              AND (p.to_pos IS NULL OR p.to_pos > $3)) AS attendees \
         FROM rm_classes c WHERE c.generation = $1 AND c.year = $2 AND c.position <= $3 \
         ORDER BY c.occurred_on, c.occurred_at, c.class_id",
    )
    .bind(scope.generation)
    .bind(scope.year)
    .bind(scope.as_of)
    .fetch_all(&mut *conn)
    .await?;
    let mut register = Vec::with_capacity(rows.len());
    for r in &rows {
        let organizer: String = r.try_get("organizer_org_id")?;
        if !orgs.within(&organizer, scope.org.as_ref()) {
            continue;
        }
        register.push(RegisteredClass {
            class_id: r.try_get("class_id")?,
            title: r.try_get("title")?,
            form: r.try_get("form")?,
            organizer_org_id: organizer,
            venue_id: r.try_get("venue_id")?,
            occurred_at: crate::query::millis(r.try_get("occurred_at")?),
            study_hours: hours(i64::from(r.try_get::<i32, _>("hours_centi")?)),
            attendees: r.try_get("attendees")?,
            voided: r.try_get("voided")?,
        });
    }
    Ok(register)
}

/// The year's headline figures (the article's table): classes, field trips, party lectures and
/// those by subdistrict leaders, members reached, home visits, wishes claimed and fulfilled.
pub async fn headlines(
    db: impl Acquire<'_, Database = Postgres>,
    scope: &Scope,
    rules: &RuleSet,
) -> sqlx::Result<Value> {
    let mut conn = db.acquire().await?;
    headlines_on(&mut conn, scope, rules).await
}

/// [`headlines`] on a connection the caller holds.
pub async fn headlines_on(
    conn: &mut PgConnection,
    scope: &Scope,
    rules: &RuleSet,
) -> sqlx::Result<Value> {
    let classes: Vec<RegisteredClass> = class_register_on(&mut *conn, scope)
        .await?
        .into_iter()
        .filter(|c| !c.voided)
        .collect();
    let tallies = crate::query::lecture_tallies_on(&mut *conn, scope).await?;
    let count = match crate::standings::headcount(&mut *conn, scope, rules).await? {
        Some(count) => count,
        None => headcount_from_facts(&mut *conn, scope, rules).await?,
    };
    let wishes = wishes(&mut *conn, scope).await?;
    Ok(json!({
        "classes": classes.len(),
        "field_trips": classes.iter().filter(|c| c.form == "field_trip").count(),
        "party_lectures": tallies.totals["lectures"],
        "leader_lectures": tallies.totals["leader_lectures"],
        "members": count.members,
        "members_reached": count.reached,
        "home_visits": count.home_visits,
        "wishes_claimed": wishes.iter().filter(|w| w.claimed_in_year).count(),
        "wishes_fulfilled": wishes.iter().filter(|w| w.fulfilled_in_year).count(),
    }))
}

/// [`crate::standings::Headcount`] computed from the facts, whatever is materialised.
pub async fn headcount_from_facts(
    conn: &mut PgConnection,
    scope: &Scope,
    rules: &RuleSet,
) -> sqlx::Result<crate::standings::Headcount> {
    let facts = YearFacts::load(&mut *conn, scope, None).await?;
    let standings = facts.standings(scope, rules);
    let in_subtree: Vec<_> = standings
        .iter()
        .filter(|m| facts.orgs.within(&m.branch, scope.org.as_ref()))
        .collect();
    let home_visits: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT record_id) FROM rm_participations WHERE generation = $1 \
           AND kind = 'home_visit' AND year = $2 AND from_pos <= $3 \
           AND (voided_pos IS NULL OR voided_pos > $3) AND member_id = ANY($4)",
    )
    .bind(scope.generation)
    .bind(scope.year)
    .bind(scope.as_of)
    .bind(
        in_subtree
            .iter()
            .map(|m| m.member_id.as_str())
            .collect::<Vec<_>>(),
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(crate::standings::Headcount {
        members: in_subtree.len() as i64,
        reached: in_subtree.iter().filter(|m| m.standing.reached).count() as i64,
        home_visits,
    })
}
