//! The statistics of CONTRACT §4, computed from the facts tables as of a log position, under a
//! rule set chosen per query.
//!
//! Every query loads the facts it needs for one year and one reference date (a few rows per
//! member), then applies the rule set in plain Rust: the rule set never shapes what is stored,
//! so `rules=OTHER` is as cheap and as exact as the live one.

use crate::rules::{CreditSource, Members, Requirement, RuleSet};
use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{Acquire, PgConnection, Postgres, Row};
use std::collections::{BTreeMap, BTreeSet};

/// The reporting groups, in the order rows are listed.
pub const GROUPS: [&str; 6] = [
    "all",
    "committee",
    "grid_secretary",
    "frail",
    "mobile",
    "ordinary",
];

const LEADER_ROLES: [&str; 2] = ["subdistrict_leader", "community_secretary"];

/// What every statistic is asked for.
#[derive(Clone, Debug)]
pub struct Scope {
    pub generation: i32,
    /// Facts as of this log position.
    pub as_of: i64,
    pub year: i32,
    pub reference_date: NaiveDate,
    /// The org subtree; `None` for everything.
    pub org: Option<String>,
}

/// The reference date of `year` seen from `anchor` (today, or the as-of point's date): the
/// anchor itself in its own year, else the year's last day.
pub fn reference_date(year: i32, anchor: NaiveDate) -> NaiveDate {
    if year == anchor.year() {
        anchor
    } else {
        NaiveDate::from_ymd_opt(year, 12, 31).expect("every year has a 31 December")
    }
}

#[derive(Clone, Debug)]
struct Org {
    parent: Option<String>,
    established_on: NaiveDate,
}

#[derive(Clone, Debug)]
pub(crate) struct MemberAt {
    pub(crate) branch: String,
    pub(crate) frail: bool,
    pub(crate) mobile: bool,
}

#[derive(Clone, Debug)]
struct RoleSpan {
    member: String,
    role: String,
    org: String,
    from: NaiveDate,
    until: Option<NaiveDate>,
}

impl RoleSpan {
    fn held_on(&self, day: NaiveDate) -> bool {
        self.from <= day && self.until.is_none_or(|until| until >= day)
    }

    /// Held on at least one day of the year up to the reference date.
    fn held_in(&self, year: i32, reference: NaiveDate) -> bool {
        let start = NaiveDate::from_ymd_opt(year, 1, 1).expect("1 January exists");
        self.from <= reference && self.until.is_none_or(|until| until >= start)
    }
}

/// One credited-or-not record of a member.
#[derive(Clone, Debug)]
struct Participation {
    member: String,
    kind: String,
    hours: i64,
    form: Option<String>,
    home_study: bool,
    voided: bool,
}

/// Which rule-set source a participation is, if any.
fn source_of(p: &Participation) -> Option<CreditSource> {
    match p.kind.as_str() {
        "class" => Some(CreditSource::Class),
        "party_lecture" => Some(CreditSource::PartyLecture),
        "home_visit" if p.home_study => Some(CreditSource::HomeStudyDelivery),
        "online_study" => Some(CreditSource::OnlineStudy),
        "org_life_meeting" => Some(CreditSource::OrgLifeMeeting),
        _ => None,
    }
}

fn credited(p: &Participation, rules: &RuleSet) -> bool {
    !p.voided && source_of(p).is_some_and(|s| rules.credits(s))
}

/// A member's standing in a year under a rule set.
#[derive(Clone, Debug, PartialEq)]
pub struct Standing {
    pub credited_centi: i64,
    pub required_centi: i64,
    pub reached: bool,
    pub compliant: bool,
}

fn standing(
    participations: &[&Participation],
    frail: bool,
    roles_in_year: &BTreeSet<String>,
    rules: &RuleSet,
) -> Standing {
    let mut hours = 0;
    let mut online = 0;
    let mut reached = false;
    let mut concentrated = 0;
    for p in participations.iter().filter(|p| credited(p, rules)) {
        reached = true;
        if p.kind == "online_study" {
            online += p.hours;
        } else {
            hours += p.hours;
        }
        if p.kind == "class" && p.form.as_deref() == Some("concentrated") {
            concentrated += 1;
        }
    }
    let online = rules
        .online_cap_centi()
        .map_or(online, |cap| online.min(cap));
    let credited_centi = hours + online;
    let group = rules.rules.groups.iter().find(|g| match g.members {
        Members::Frail => frail,
        Members::Roles => g.roles.iter().any(|r| roles_in_year.contains(r.as_str())),
        Members::All => true,
    });
    let (required_centi, compliant) = match group {
        Some(g) if g.requirement == Requirement::Hours => {
            let required = i64::from(g.min_hours) * 100;
            let enough =
                credited_centi >= required && concentrated >= i64::from(g.min_concentrated_classes);
            (required, enough)
        }
        _ => (0, reached),
    };
    Standing {
        credited_centi,
        required_centi,
        reached,
        compliant,
    }
}

/// The org tree as of a position.
pub(crate) struct OrgTree(BTreeMap<String, Org>);

impl OrgTree {
    pub(crate) async fn load(
        conn: &mut PgConnection,
        generation: i32,
        as_of: i64,
    ) -> sqlx::Result<Self> {
        let orgs = sqlx::query(
            "SELECT org_id, parent_id, established_on FROM rm_org_units \
             WHERE generation = $1 AND position <= $2",
        )
        .bind(generation)
        .bind(as_of)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("org_id")?,
                Org {
                    parent: r.try_get("parent_id")?,
                    established_on: r.try_get("established_on")?,
                },
            ))
        })
        .collect::<sqlx::Result<_>>()?;
        Ok(Self(orgs))
    }

    /// `org` and its ancestors.
    pub(crate) fn chain(&self, org: &str) -> Vec<String> {
        let mut chain = vec![org.to_owned()];
        let mut current = org.to_owned();
        while let Some(parent) = self.0.get(&current).and_then(|o| o.parent.clone()) {
            if chain.contains(&parent) {
                break;
            }
            chain.push(parent.clone());
            current = parent;
        }
        chain
    }

    /// Whether `org` lies in the subtree under `root` (everything when `root` is `None`).
    pub(crate) fn within(&self, org: &str, root: Option<&String>) -> bool {
        root.is_none_or(|root| self.chain(org).contains(root))
    }

    /// The org units established on the reference date inside the subtree.
    pub(crate) fn units(&self, scope: &Scope) -> Vec<String> {
        self.0
            .iter()
            .filter(|(_, o)| o.established_on <= scope.reference_date)
            .map(|(id, _)| id.clone())
            .filter(|id| self.within(id, scope.org.as_ref()))
            .collect()
    }

    /// Every unit in the subtree under `root`, established or not.
    pub(crate) fn subtree(&self, root: Option<&String>) -> Vec<String> {
        self.0
            .keys()
            .filter(|id| self.within(id, root))
            .cloned()
            .collect()
    }

    /// Where the units' chains end: every member's branch lies under exactly one of them.
    pub(crate) fn roots(&self) -> Vec<String> {
        let ends: BTreeSet<String> = self
            .0
            .keys()
            .filter_map(|id| self.chain(id).pop())
            .collect();
        ends.into_iter().collect()
    }
}

/// Everything one year's statistics need, as of a position.
pub(crate) struct YearFacts {
    pub(crate) orgs: OrgTree,
    pub(crate) population: BTreeMap<String, MemberAt>,
    pub(crate) names: BTreeMap<String, String>,
    roles: Vec<RoleSpan>,
    participations: Vec<Participation>,
}

impl YearFacts {
    pub(crate) async fn load(
        conn: &mut PgConnection,
        scope: &Scope,
        members: Option<&[String]>,
    ) -> sqlx::Result<Self> {
        Self::load_with(conn, scope, members, true).await
    }

    /// The org tree, the population and names only (no roles, no participations): what the
    /// ledgers need of the registry.
    pub(crate) async fn load_registry(
        conn: &mut PgConnection,
        scope: &Scope,
    ) -> sqlx::Result<Self> {
        Self::load_with(conn, scope, None, false).await
    }

    async fn load_with(
        conn: &mut PgConnection,
        scope: &Scope,
        members: Option<&[String]>,
        activity: bool,
    ) -> sqlx::Result<Self> {
        let g = scope.generation;
        let p = scope.as_of;
        let orgs = OrgTree::load(&mut *conn, g, p).await?;
        let population = sqlx::query(
            "SELECT * FROM (SELECT DISTINCT ON (member_id) member_id, enrolled, branch_id, frail, mobile \
               FROM rm_member_registry WHERE generation = $1 AND position <= $2 AND effective_on <= $3 \
                 AND ($4::text[] IS NULL OR member_id = ANY($4)) \
               ORDER BY member_id, effective_on DESC, position DESC) latest WHERE enrolled",
        )
        .bind(g)
        .bind(p)
        .bind(scope.reference_date)
        .bind(members)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("member_id")?,
                MemberAt {
                    branch: r.try_get("branch_id")?,
                    frail: r.try_get("frail")?,
                    mobile: r.try_get("mobile")?,
                },
            ))
        })
        .collect::<sqlx::Result<_>>()?;
        let names = sqlx::query(
            "SELECT DISTINCT ON (member_id) member_id, name FROM rm_member_names \
             WHERE generation = $1 AND position <= $2 AND ($3::text[] IS NULL OR member_id = ANY($3)) \
             ORDER BY member_id, position DESC",
        )
        .bind(g)
        .bind(p)
        .bind(members)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("member_id")?, r.try_get("name")?)))
        .collect::<sqlx::Result<_>>()?;
        if !activity {
            return Ok(Self {
                orgs,
                population,
                names,
                roles: Vec::new(),
                participations: Vec::new(),
            });
        }
        let roles = load_roles(&mut *conn, g, p, members).await?;
        let participations = sqlx::query(
            "SELECT member_id, kind, hours_centi, form, home_study, \
               (voided_pos IS NOT NULL AND voided_pos <= $3) AS voided \
             FROM rm_participations WHERE generation = $1 AND year = $2 AND from_pos <= $3 \
               AND (to_pos IS NULL OR to_pos > $3) AND ($4::text[] IS NULL OR member_id = ANY($4))",
        )
        .bind(g)
        .bind(scope.year)
        .bind(p)
        .bind(members)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok(Participation {
                member: r.try_get("member_id")?,
                kind: r.try_get("kind")?,
                hours: i64::from(r.try_get::<i32, _>("hours_centi")?),
                form: r.try_get("form")?,
                home_study: r.try_get("home_study")?,
                voided: r.try_get("voided")?,
            })
        })
        .collect::<sqlx::Result<_>>()?;
        Ok(Self {
            orgs,
            population,
            names,
            roles,
            participations,
        })
    }

    fn roles_in_year(&self, member: &str, scope: &Scope) -> BTreeSet<String> {
        self.roles
            .iter()
            .filter(|r| r.member == member && r.held_in(scope.year, scope.reference_date))
            .map(|r| r.role.clone())
            .collect()
    }

    fn groups_of(&self, member: &str, at: &MemberAt, scope: &Scope) -> Vec<&'static str> {
        let roles = self.roles_in_year(member, scope);
        let has = |names: &[&str]| names.iter().any(|n| roles.contains(*n));
        let mut groups = Vec::new();
        if has(&["community_secretary", "committee_member"]) {
            groups.push("committee");
        }
        if has(&["grid_secretary", "branch_secretary"]) {
            groups.push("grid_secretary");
        }
        if at.frail {
            groups.push("frail");
        }
        if at.mobile {
            groups.push("mobile");
        }
        if groups.is_empty() && !roles.contains("subdistrict_leader") {
            groups.push("ordinary");
        }
        groups
    }

    /// Every member of the population with their groups and standing.
    pub(crate) fn standings(&self, scope: &Scope, rules: &RuleSet) -> Vec<MemberStanding> {
        let mut by_member: BTreeMap<&str, Vec<&Participation>> = BTreeMap::new();
        for p in &self.participations {
            by_member.entry(p.member.as_str()).or_default().push(p);
        }
        self.population
            .iter()
            .map(|(id, at)| {
                let records = by_member.get(id.as_str()).map(Vec::as_slice).unwrap_or(&[]);
                MemberStanding {
                    member_id: id.clone(),
                    name: self.names.get(id).cloned().unwrap_or_default(),
                    branch: at.branch.clone(),
                    groups: self.groups_of(id, at, scope),
                    standing: standing(records, at.frail, &self.roles_in_year(id, scope), rules),
                }
            })
            .collect()
    }
}

async fn load_roles(
    conn: &mut PgConnection,
    generation: i32,
    as_of: i64,
    members: Option<&[String]>,
) -> sqlx::Result<Vec<RoleSpan>> {
    sqlx::query(
        "SELECT member_id, role, org_id, from_date, \
           CASE WHEN ended_pos <= $2 THEN until_date END AS until_date \
         FROM rm_roles WHERE generation = $1 AND position <= $2 \
           AND ($3::text[] IS NULL OR member_id = ANY($3))",
    )
    .bind(generation)
    .bind(as_of)
    .bind(members)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(RoleSpan {
            member: r.try_get("member_id")?,
            role: r.try_get("role")?,
            org: r.try_get("org_id")?,
            from: r.try_get("from_date")?,
            until: r.try_get("until_date")?,
        })
    })
    .collect()
}

pub(crate) struct MemberStanding {
    pub(crate) member_id: String,
    pub(crate) name: String,
    pub(crate) branch: String,
    pub(crate) groups: Vec<&'static str>,
    pub(crate) standing: Standing,
}

/// Hours in hundredths as a JSON number (2.5, 32).
/// A stored timestamp text as answers give it: milliseconds always, the offset kept. Rows
/// folded before the fold wrote milliseconds read the same as rows folded after.
pub fn millis(text: String) -> String {
    match chrono::DateTime::parse_from_rfc3339(&text) {
        Ok(at) => at.to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
        Err(_) => text,
    }
}

pub fn hours(centi: i64) -> Value {
    if centi % 100 == 0 {
        json!(centi / 100)
    } else {
        json!(centi as f64 / 100.0)
    }
}

/// `part / whole` rounded half-up to 4 places, from the exact fraction; null for 0 / 0.
pub fn rate(part: i64, whole: i64) -> Value {
    if whole == 0 {
        return Value::Null;
    }
    let ten_thousandths = (part * 20_000 + whole) / (2 * whole);
    json!(ten_thousandths as f64 / 10_000.0)
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CoverageRow {
    pub org_id: String,
    pub group: &'static str,
    pub in_scope: i64,
    pub reached: i64,
    pub compliant: i64,
    pub reached_rate: Value,
    pub compliant_rate: Value,
}

/// Coverage rows: one per (org unit in the subtree, reporting group), zeros included.
pub async fn coverage(
    db: impl Acquire<'_, Database = Postgres>,
    scope: &Scope,
    rules: &RuleSet,
) -> sqlx::Result<Vec<CoverageRow>> {
    let mut conn = db.acquire().await?;
    coverage_on(&mut conn, scope, rules).await
}

/// [`coverage`] on a connection the caller holds: from the materialised standings when they
/// answer this as-of position, else from the facts.
pub async fn coverage_on(
    conn: &mut PgConnection,
    scope: &Scope,
    rules: &RuleSet,
) -> sqlx::Result<Vec<CoverageRow>> {
    match crate::standings::coverage(&mut *conn, scope, rules).await? {
        Some(rows) => Ok(rows),
        None => coverage_from_facts(conn, scope, rules).await,
    }
}

/// [`coverage`] computed from the facts, whatever is materialised.
pub async fn coverage_from_facts(
    conn: &mut PgConnection,
    scope: &Scope,
    rules: &RuleSet,
) -> sqlx::Result<Vec<CoverageRow>> {
    let facts = YearFacts::load(&mut *conn, scope, None).await?;
    let units = facts.orgs.units(scope);
    let mut counts: BTreeMap<(&str, &str), (i64, i64, i64)> = BTreeMap::new();
    for m in facts.standings(scope, rules) {
        for org in facts.orgs.chain(&m.branch) {
            let Some(unit) = units.iter().find(|u| **u == org) else {
                continue;
            };
            for group in std::iter::once("all").chain(m.groups.iter().copied()) {
                let entry = counts.entry((unit.as_str(), group)).or_default();
                entry.0 += 1;
                entry.1 += i64::from(m.standing.reached);
                entry.2 += i64::from(m.standing.compliant);
            }
        }
    }
    Ok(units
        .iter()
        .flat_map(|unit| GROUPS.iter().map(move |group| (unit, *group)))
        .map(|(unit, group)| {
            let (in_scope, reached, compliant) = counts
                .get(&(unit.as_str(), group))
                .copied()
                .unwrap_or_default();
            CoverageRow {
                org_id: unit.clone(),
                group,
                in_scope,
                reached,
                compliant,
                reached_rate: rate(reached, in_scope),
                compliant_rate: rate(compliant, in_scope),
            }
        })
        .collect())
}

/// Which gap a member list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gap {
    Unreached,
    Noncompliant,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GapMember {
    pub member_id: String,
    pub name: String,
    pub org_id: String,
    pub groups: Vec<&'static str>,
    pub credited_hours: Value,
    pub required_hours: Value,
}

/// The members behind the gaps, by member id.
pub async fn coverage_members(
    db: impl Acquire<'_, Database = Postgres>,
    scope: &Scope,
    rules: &RuleSet,
    gap: Gap,
) -> sqlx::Result<Vec<GapMember>> {
    let mut conn = db.acquire().await?;
    coverage_members_on(&mut conn, scope, rules, gap).await
}

/// [`coverage_members`] on a connection the caller holds.
pub async fn coverage_members_on(
    conn: &mut PgConnection,
    scope: &Scope,
    rules: &RuleSet,
    gap: Gap,
) -> sqlx::Result<Vec<GapMember>> {
    coverage_members_page_on(conn, scope, rules, gap, 0, None).await
}

/// One page of [`coverage_members`] (`offset` members skipped, at most `limit`): from the
/// materialised standings when they answer this as-of position, else from the facts.
pub async fn coverage_members_page_on(
    conn: &mut PgConnection,
    scope: &Scope,
    rules: &RuleSet,
    gap: Gap,
    offset: usize,
    limit: Option<usize>,
) -> sqlx::Result<Vec<GapMember>> {
    if let Some(members) =
        crate::standings::gap_members(&mut *conn, scope, rules, gap, offset, limit).await?
    {
        return Ok(members);
    }
    let members = coverage_members_from_facts(conn, scope, rules, gap).await?;
    Ok(members
        .into_iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .collect())
}

/// [`coverage_members`] computed from the facts, whatever is materialised.
pub async fn coverage_members_from_facts(
    conn: &mut PgConnection,
    scope: &Scope,
    rules: &RuleSet,
    gap: Gap,
) -> sqlx::Result<Vec<GapMember>> {
    let facts = YearFacts::load(&mut *conn, scope, None).await?;
    Ok(facts
        .standings(scope, rules)
        .into_iter()
        .filter(|m| facts.orgs.within(&m.branch, scope.org.as_ref()))
        .filter(|m| match gap {
            Gap::Unreached => !m.standing.reached,
            Gap::Noncompliant => !m.standing.compliant,
        })
        .map(|m| GapMember {
            groups: m.groups.into_iter().filter(|g| *g != "all").collect(),
            credited_hours: hours(m.standing.credited_centi),
            required_hours: hours(m.standing.required_centi),
            member_id: m.member_id,
            name: m.name,
            org_id: m.branch,
        })
        .collect())
}

#[derive(Serialize)]
pub struct Speaker {
    pub member_id: String,
    pub name: String,
    pub lectures: i64,
    pub study_hours: Value,
    pub unique_attendees: i64,
    pub roles: Vec<String>,
}

#[derive(Serialize)]
pub struct Tallies {
    pub speakers: Vec<Speaker>,
    pub totals: Value,
    pub missing: Vec<String>,
}

/// Party lecture tallies per speaker, with the leaders who gave none.
pub async fn lecture_tallies(
    db: impl Acquire<'_, Database = Postgres>,
    scope: &Scope,
) -> sqlx::Result<Tallies> {
    let mut conn = db.acquire().await?;
    lecture_tallies_on(&mut conn, scope).await
}

pub async fn lecture_tallies_on(conn: &mut PgConnection, scope: &Scope) -> sqlx::Result<Tallies> {
    let g = scope.generation;
    let p = scope.as_of;
    let orgs = OrgTree::load(&mut *conn, g, p).await?;
    let in_subtree = |org: &str| orgs.within(org, scope.org.as_ref());
    let lectures: Vec<(String, String, String, NaiveDate, i64)> = sqlx::query(
        "SELECT lecture_id, speaker_id, audience_org_id, given_on, hours_centi FROM rm_lectures \
         WHERE generation = $1 AND year = $2 AND position <= $3 \
           AND (voided_pos IS NULL OR voided_pos > $3) ORDER BY position",
    )
    .bind(g)
    .bind(scope.year)
    .bind(p)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok((
            r.try_get("lecture_id")?,
            r.try_get("speaker_id")?,
            r.try_get("audience_org_id")?,
            r.try_get("given_on")?,
            i64::from(r.try_get::<i32, _>("hours_centi")?),
        ))
    })
    .collect::<sqlx::Result<Vec<(String, String, String, NaiveDate, i64)>>>()?
    .into_iter()
    .filter(|(_, _, audience, _, _)| in_subtree(audience.as_str()))
    .collect();
    let ids: Vec<&str> = lectures.iter().map(|l| l.0.as_str()).collect();
    let attendance: Vec<(String, String)> = sqlx::query(
        "SELECT record_id, member_id FROM rm_participations WHERE generation = $1 \
           AND kind = 'party_lecture' AND record_id = ANY($2) AND from_pos <= $3 \
           AND (to_pos IS NULL OR to_pos > $3)",
    )
    .bind(g)
    .bind(&ids)
    .bind(p)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("record_id")?, r.try_get("member_id")?)))
    .collect::<sqlx::Result<_>>()?;
    let mut attendees_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (record, member) in &attendance {
        attendees_of.entry(record).or_default().push(member);
    }
    let roles = load_roles(&mut *conn, g, p, None).await?;
    let speaker_ids: Vec<&str> = lectures.iter().map(|l| l.1.as_str()).collect();
    let names: BTreeMap<String, String> = sqlx::query(
        "SELECT DISTINCT ON (member_id) member_id, name FROM rm_member_names \
         WHERE generation = $1 AND position <= $2 AND member_id = ANY($3) \
         ORDER BY member_id, position DESC",
    )
    .bind(g)
    .bind(p)
    .bind(&speaker_ids)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("member_id")?, r.try_get("name")?)))
    .collect::<sqlx::Result<_>>()?;

    struct Acc {
        lectures: i64,
        hours: i64,
        attendees: BTreeSet<String>,
        roles: BTreeSet<String>,
    }
    let mut speakers: BTreeMap<String, Acc> = BTreeMap::new();
    let mut leader_lectures = 0;
    for (lecture_id, speaker, _, on, centi) in &lectures {
        let held: Vec<&RoleSpan> = roles
            .iter()
            .filter(|r| &r.member == speaker && r.held_on(*on))
            .collect();
        if held.iter().any(|r| r.role == "subdistrict_leader") {
            leader_lectures += 1;
        }
        let acc = speakers.entry(speaker.clone()).or_insert_with(|| Acc {
            lectures: 0,
            hours: 0,
            attendees: BTreeSet::new(),
            roles: BTreeSet::new(),
        });
        acc.lectures += 1;
        acc.hours += centi;
        acc.roles.extend(held.iter().map(|r| r.role.clone()));
        acc.attendees.extend(
            attendees_of
                .get(lecture_id.as_str())
                .into_iter()
                .flatten()
                .map(|member| (*member).to_owned()),
        );
    }
    let missing: BTreeSet<String> = roles
        .iter()
        .filter(|r| LEADER_ROLES.contains(&r.role.as_str()))
        .filter(|r| r.held_in(scope.year, scope.reference_date) && in_subtree(&r.org))
        .filter(|r| !speakers.contains_key(&r.member))
        .map(|r| r.member.clone())
        .collect();
    let totals = json!({
        "lectures": lectures.len(),
        "speakers": speakers.len(),
        "leader_lectures": leader_lectures,
    });
    Ok(Tallies {
        speakers: speakers
            .into_iter()
            .map(|(id, acc)| Speaker {
                name: names.get(&id).cloned().unwrap_or_default(),
                member_id: id,
                lectures: acc.lectures,
                study_hours: hours(acc.hours),
                unique_attendees: acc.attendees.len() as i64,
                roles: acc.roles.into_iter().collect(),
            })
            .collect(),
        totals,
        missing: missing.into_iter().collect(),
    })
}

#[derive(Serialize)]
pub struct HistoryEntry {
    pub occurred_at: String,
    pub kind: String,
    pub record_id: String,
    pub title: String,
    pub study_hours: Value,
    pub credited: bool,
    pub position: i64,
    pub event_id: uuid::Uuid,
    pub voided: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub void_reason: Option<String>,
}

#[derive(Serialize)]
pub struct HistoryYear {
    pub year: i32,
    pub credited_hours: Value,
    pub required_hours: Value,
    pub reached: bool,
    pub compliant: bool,
}

#[derive(Serialize)]
pub struct History {
    pub entries: Vec<HistoryEntry>,
    pub years: Vec<HistoryYear>,
}

/// A member's study history: every record they took part in, and their standing per year in
/// which they were in the population. `anchor` is the date the reference dates are seen from
/// (today, or the as-of point's date); `year` narrows both lists.
pub async fn member_history(
    db: impl Acquire<'_, Database = Postgres>,
    generation: i32,
    as_of: i64,
    member: &str,
    year: Option<i32>,
    anchor: NaiveDate,
    rules: &RuleSet,
) -> sqlx::Result<Option<History>> {
    let mut conn = db.acquire().await?;
    member_history_on(&mut conn, generation, as_of, member, year, anchor, rules).await
}

/// [`member_history`] on a connection the caller holds.
pub async fn member_history_on(
    conn: &mut PgConnection,
    generation: i32,
    as_of: i64,
    member: &str,
    year: Option<i32>,
    anchor: NaiveDate,
    rules: &RuleSet,
) -> sqlx::Result<Option<History>> {
    let known: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM rm_member_registry WHERE generation = $1 AND position <= $2 \
           AND member_id = $3)",
    )
    .bind(generation)
    .bind(as_of)
    .bind(member)
    .fetch_one(&mut *conn)
    .await?;
    if !known {
        return Ok(None);
    }
    let rows = sqlx::query(
        "SELECT kind, record_id, event_id, event_position, occurred_at, year, title, hours_centi, \
           form, home_study, (voided_pos IS NOT NULL AND voided_pos <= $2) AS voided, \
           CASE WHEN voided_pos <= $2 THEN void_reason END AS void_reason \
         FROM rm_participations WHERE generation = $1 AND member_id = $3 AND from_pos <= $2 \
           AND (to_pos IS NULL OR to_pos > $2) AND ($4::int IS NULL OR year = $4)",
    )
    .bind(generation)
    .bind(as_of)
    .bind(member)
    .bind(year)
    .fetch_all(&mut *conn)
    .await?;
    let mut entries = Vec::with_capacity(rows.len());
    for r in &rows {
        let participation = Participation {
            member: member.to_owned(),
            kind: r.try_get("kind")?,
            hours: i64::from(r.try_get::<i32, _>("hours_centi")?),
            form: r.try_get("form")?,
            home_study: r.try_get("home_study")?,
            voided: r.try_get("voided")?,
        };
        entries.push(HistoryEntry {
            occurred_at: millis(r.try_get("occurred_at")?),
            credited: credited(&participation, rules),
            kind: participation.kind,
            record_id: r.try_get("record_id")?,
            title: r.try_get("title")?,
            study_hours: hours(participation.hours),
            position: r.try_get("event_position")?,
            event_id: r.try_get("event_id")?,
            voided: participation.voided,
            void_reason: r.try_get("void_reason")?,
        });
    }
    entries.sort_by(|a, b| {
        let at = |e: &HistoryEntry| chrono::DateTime::parse_from_rfc3339(&e.occurred_at).ok();
        at(a).cmp(&at(b)).then(a.position.cmp(&b.position))
    });

    let first_year: Option<NaiveDate> = sqlx::query_scalar(
        "SELECT min(effective_on) FROM rm_member_registry WHERE generation = $1 AND position <= $2 \
           AND member_id = $3",
    )
    .bind(generation)
    .bind(as_of)
    .bind(member)
    .fetch_one(&mut *conn)
    .await?;
    let span = first_year.map_or(anchor.year(), |d| d.year())..=anchor.year();
    let mut years = Vec::new();
    for y in span.filter(|y| year.is_none_or(|wanted| wanted == *y)) {
        let scope = Scope {
            generation,
            as_of,
            year: y,
            reference_date: reference_date(y, anchor),
            org: None,
        };
        let facts = YearFacts::load(&mut *conn, &scope, Some(&[member.to_owned()])).await?;
        if let Some(m) = facts.standings(&scope, rules).into_iter().next() {
            years.push(HistoryYear {
                year: y,
                credited_hours: hours(m.standing.credited_centi),
                required_hours: hours(m.standing.required_centi),
                reached: m.standing.reached,
                compliant: m.standing.compliant,
            });
        }
    }
    Ok(Some(History { entries, years }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_round_half_up_from_the_exact_fraction() {
        assert_eq!(rate(1, 3), json!(0.3333));
        assert_eq!(rate(2, 3), json!(0.6667));
        // 1/8 = 0.125 exactly; 0.00005 steps: 1/20000 rounds up to 0.0001.
        assert_eq!(rate(1, 20_000), json!(0.0001));
        assert_eq!(rate(1, 40_000), json!(0.0));
        assert_eq!(rate(3, 3), json!(1.0));
        assert_eq!(rate(0, 0), Value::Null);
    }

    #[test]
    fn hours_print_as_decimals() {
        assert_eq!(hours(250).to_string(), "2.5");
        assert_eq!(hours(3200).to_string(), "32");
        assert_eq!(hours(25).to_string(), "0.25");
    }
}
