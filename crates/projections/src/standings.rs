//! Materialised standings: every member's standing and the coverage counts, for each rule set
//! kept materialised and each year in view, maintained by the facts projector in the
//! transaction of its checkpoint (migration `0005_standings.sql`).
//!
//! A view is (generation, rule set hash, year, reference date). The facts stay the truth: a
//! view's rows are computed from them with the same code as a query from the facts
//! ([`YearFacts::standings`]), only for the members a batch touched, so the two paths cannot
//! drift apart. Rows are versioned by log position, so a reader gets the rows valid at its
//! as-of position whatever commits meanwhile; a reader whose position the view cannot answer
//! (not built yet, or versions pruned) answers from the facts.
//!
//! A view is built in chunks of members, each in a transaction of its own at the projector's
//! checkpoint, between batches: folding never waits for a whole build. A chunk-built view is
//! kept up to date for the members it already holds; it is ready once every member is in.

use crate::query::{CoverageRow, GROUPS, Gap, GapMember, OrgTree, Scope, YearFacts, hours, rate};
use crate::rules::RuleSet;
use chrono::{Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use sqlx::{PgConnection, Row};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

/// Members added to a view per build step.
const BUILD_CHUNK: i64 = 500;
/// Closed versions are kept while the checkpoint that closed them is younger than this:
/// longer than any request may run (the server's limit is 30 s); a request as of an older
/// position answers from the facts. (Positions are sparse, so the window is one of time.)
const KEEP: Duration = Duration::from_secs(60);

/// What identifies a view within a generation.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ViewKey {
    rules_hash: String,
    year: i32,
    reference_date: NaiveDate,
}

/// A registered view and how far it is built.
#[derive(Clone, Debug)]
struct View {
    key: ViewKey,
    built_through: Option<String>,
    ready: bool,
}

impl View {
    /// Whether the view holds `member` (built, or in a built chunk).
    fn holds(&self, member: &str) -> bool {
        self.ready || self.built_through.as_deref().is_some_and(|b| member <= b)
    }
}

/// A member's row in a view.
#[derive(Clone, Debug, PartialEq)]
struct Standing {
    branch: String,
    name: String,
    groups: Vec<String>,
    credited_centi: i64,
    required_centi: i64,
    reached: bool,
    compliant: bool,
}

/// The views the live projector keeps: for each of its rule sets, this year and the years
/// before it, with their reference dates seen from today in the service's time zone.
pub struct Materialiser {
    rule_sets: Vec<RuleSet>,
    tz: Tz,
    /// How many years, this one included.
    years: i32,
    synced_on: Option<NaiveDate>,
    /// The checkpoints of the last [`KEEP`], oldest first: what pruning may forget.
    checkpoints: VecDeque<(Instant, i64)>,
}

impl Materialiser {
    pub fn new(rule_sets: Vec<RuleSet>, tz: Tz, years: u32) -> Self {
        Self {
            rule_sets,
            tz,
            years: i32::try_from(years.max(1)).unwrap_or(i32::MAX),
            synced_on: None,
            checkpoints: VecDeque::new(),
        }
    }

    fn today(&self) -> NaiveDate {
        Utc::now().with_timezone(&self.tz).date_naive()
    }

    fn rules(&self, hash: &str) -> Option<&RuleSet> {
        self.rule_sets.iter().find(|r| r.hash == hash)
    }

    /// Whether the set of wanted views may have changed since the last [`Self::sync`] (a new
    /// day moves the reference dates).
    pub(crate) fn needs_sync(&self) -> bool {
        self.synced_on != Some(self.today())
    }

    /// Whether versions closed more than [`KEEP`] ago wait to be pruned.
    pub(crate) fn prune_due(&self) -> bool {
        self.checkpoints.len() > 1
            && self
                .checkpoints
                .front()
                .is_some_and(|(at, _)| at.elapsed() > KEEP)
    }

    /// Notes that the views stand at `position` now, and deletes the versions closed before
    /// the checkpoint of [`KEEP`] ago.
    pub(crate) async fn prune_behind(
        &mut self,
        conn: &mut PgConnection,
        generation: i32,
        position: i64,
    ) -> sqlx::Result<()> {
        let now = Instant::now();
        if self.checkpoints.back().is_none_or(|(_, p)| *p != position) {
            self.checkpoints.push_back((now, position));
        }
        let mut below = None;
        while let Some((at, old)) = self.checkpoints.front().copied()
            && now.duration_since(at) > KEEP
        {
            below = Some(old);
            if self.checkpoints.len() == 1 {
                // The newest stays: the next prune needs a point to start from.
                break;
            }
            self.checkpoints.pop_front();
        }
        if let Some(below) = below {
            prune(&mut *conn, generation, below).await?;
        }
        Ok(())
    }

    /// Registers the wanted views of `generation` that are missing and drops the others (a
    /// past reference date, a rule set no longer loaded), in the caller's transaction.
    pub(crate) async fn sync(
        &mut self,
        conn: &mut PgConnection,
        generation: i32,
    ) -> sqlx::Result<()> {
        let today = self.today();
        let mut wanted = Vec::new();
        for rules in &self.rule_sets {
            for year in (0..self.years).map(|back| today.year() - back) {
                wanted.push((rules.hash.clone(), rules.id().to_owned(), year));
            }
        }
        let stale: Vec<(String, i32, NaiveDate)> = sqlx::query(
            "SELECT rules_hash, year, reference_date FROM rm_views WHERE generation = $1",
        )
        .bind(generation)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("rules_hash")?,
                r.try_get("year")?,
                r.try_get("reference_date")?,
            ))
        })
        .collect::<sqlx::Result<Vec<_>>>()?
        .into_iter()
        .filter(|(hash, year, on)| {
            !wanted.iter().any(|(h, _, y)| {
                h == hash && y == year && *on == crate::query::reference_date(*y, today)
            })
        })
        .collect();
        for (hash, year, on) in stale {
            // The view's row goes first: a reader re-checks it after reading rows, so none
            // trusts rows that are being deleted.
            for table in ["rm_views", "rm_standings", "rm_coverage"] {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM {table} WHERE generation = $1 AND rules_hash = $2 AND year = $3 \
                     AND reference_date = $4"
                )))
                .bind(generation)
                .bind(&hash)
                .bind(year)
                .bind(on)
                .execute(&mut *conn)
                .await?;
            }
            tracing::info!(generation, rules_hash = %hash, year, %on, "dropped a materialised view");
        }
        for (hash, id, year) in wanted {
            sqlx::query(
                "INSERT INTO rm_views (generation, rules_hash, year, reference_date, rules_id) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(generation)
            .bind(&hash)
            .bind(year)
            .bind(crate::query::reference_date(year, today))
            .bind(&id)
            .execute(&mut *conn)
            .await?;
        }
        self.synced_on = Some(today);
        Ok(())
    }

    async fn views(&self, conn: &mut PgConnection, generation: i32) -> sqlx::Result<Vec<View>> {
        sqlx::query(
            "SELECT rules_hash, year, reference_date, built_through, ready_from IS NOT NULL AS ready \
             FROM rm_views WHERE generation = $1 ORDER BY year DESC, rules_hash",
        )
        .bind(generation)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok(View {
                key: ViewKey {
                    rules_hash: r.try_get("rules_hash")?,
                    year: r.try_get("year")?,
                    reference_date: r.try_get("reference_date")?,
                },
                built_through: r.try_get("built_through")?,
                ready: r.try_get("ready")?,
            })
        })
        .collect::<sqlx::Result<Vec<_>>>()
        .map(|views| {
            views
                .into_iter()
                .filter(|v| self.rules(&v.key.rules_hash).is_some())
                .collect()
        })
    }

    /// Brings every view of `generation` up to `position` for the members a batch touched;
    /// the caller's transaction is the batch's.
    pub(crate) async fn maintain(
        &mut self,
        conn: &mut PgConnection,
        generation: i32,
        touched: &BTreeSet<String>,
        position: i64,
    ) -> sqlx::Result<()> {
        if !touched.is_empty() {
            let views = self.views(&mut *conn, generation).await?;
            for (year, on, views) in by_year(&views) {
                let members: Vec<String> = touched
                    .iter()
                    .filter(|m| views.iter().any(|v| v.holds(m)))
                    .cloned()
                    .collect();
                if !members.is_empty() {
                    self.recompute(
                        &mut *conn,
                        generation,
                        position,
                        (year, on),
                        &views,
                        &members,
                    )
                    .await?;
                }
            }
        }
        self.prune_behind(&mut *conn, generation, position).await
    }

    /// Adds the next chunk of members to the first view not built (and to every view of the
    /// same year built as far); false when every view is built.
    pub(crate) async fn build_step(
        &mut self,
        conn: &mut PgConnection,
        generation: i32,
        position: i64,
    ) -> sqlx::Result<bool> {
        let views = self.views(&mut *conn, generation).await?;
        let Some(first) = views.iter().find(|v| !v.ready).cloned() else {
            return Ok(false);
        };
        let peers: Vec<View> = views
            .into_iter()
            .filter(|v| {
                !v.ready
                    && v.key.year == first.key.year
                    && v.key.reference_date == first.key.reference_date
                    && v.built_through == first.built_through
            })
            .collect();
        let members: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT member_id FROM rm_member_registry \
             WHERE generation = $1 AND position <= $2 AND ($3::text IS NULL OR member_id > $3) \
             ORDER BY member_id LIMIT $4",
        )
        .bind(generation)
        .bind(position)
        .bind(&first.built_through)
        .bind(BUILD_CHUNK)
        .fetch_all(&mut *conn)
        .await?;
        // Rows for the chunk as if every view already held it.
        let building: Vec<View> = peers
            .iter()
            .map(|v| View {
                ready: true,
                ..v.clone()
            })
            .collect();
        let year = (first.key.year, first.key.reference_date);
        self.recompute(&mut *conn, generation, position, year, &building, &members)
            .await?;
        let done = (members.len() as i64) < BUILD_CHUNK;
        for view in &peers {
            sqlx::query(
                "UPDATE rm_views SET built_through = COALESCE($5, built_through), \
                   members_built = members_built + $6, \
                   ready_from = CASE WHEN $7 THEN $8 END \
                 WHERE generation = $1 AND rules_hash = $2 AND year = $3 AND reference_date = $4",
            )
            .bind(generation)
            .bind(&view.key.rules_hash)
            .bind(view.key.year)
            .bind(view.key.reference_date)
            .bind(members.last())
            .bind(members.len() as i64)
            .bind(done)
            .bind(position)
            .execute(&mut *conn)
            .await?;
            if done {
                tracing::info!(
                    generation,
                    rules_hash = %view.key.rules_hash,
                    year = view.key.year,
                    position,
                    "materialised view ready"
                );
            }
        }
        Ok(true)
    }

    /// Recomputes `members` from the facts at `position` in `views` (all of one year and
    /// reference date), writing the standings and coverage counts that changed.
    async fn recompute(
        &self,
        conn: &mut PgConnection,
        generation: i32,
        position: i64,
        (year, reference_date): (i32, NaiveDate),
        views: &[View],
        members: &[String],
    ) -> sqlx::Result<()> {
        let scope = Scope {
            generation,
            as_of: position,
            year,
            reference_date,
            org: None,
        };
        let facts = YearFacts::load(&mut *conn, &scope, Some(members)).await?;
        for view in views {
            let Some(rules) = self.rules(&view.key.rules_hash) else {
                continue;
            };
            let held: Vec<String> = members.iter().filter(|m| view.holds(m)).cloned().collect();
            let new: BTreeMap<String, Standing> = facts
                .standings(&scope, rules)
                .into_iter()
                .filter(|m| view.holds(&m.member_id))
                .map(|m| {
                    (
                        m.member_id,
                        Standing {
                            branch: m.branch,
                            name: m.name,
                            groups: m.groups.iter().map(|g| (*g).to_owned()).collect(),
                            credited_centi: m.standing.credited_centi,
                            required_centi: m.standing.required_centi,
                            reached: m.standing.reached,
                            compliant: m.standing.compliant,
                        },
                    )
                })
                .collect();
            let old = current_rows(&mut *conn, generation, &view.key, &held).await?;
            let changed: Vec<&String> =
                held.iter().filter(|m| old.get(*m) != new.get(*m)).collect();
            if changed.is_empty() {
                continue;
            }
            let mut deltas: BTreeMap<(String, String), [i64; 3]> = BTreeMap::new();
            for member in &changed {
                for (row, sign) in [(old.get(*member), -1), (new.get(*member), 1)] {
                    let Some(row) = row else { continue };
                    for org in facts.orgs.chain(&row.branch) {
                        for group in
                            std::iter::once("all").chain(row.groups.iter().map(String::as_str))
                        {
                            let d = deltas.entry((org.clone(), group.to_owned())).or_default();
                            d[0] += sign;
                            d[1] += sign * i64::from(row.reached);
                            d[2] += sign * i64::from(row.compliant);
                        }
                    }
                }
            }
            write_standings(&mut *conn, generation, &view.key, position, &changed, &new).await?;
            write_coverage(&mut *conn, generation, &view.key, position, &deltas).await?;
        }
        Ok(())
    }
}

/// Views grouped by (year, reference date): the facts are loaded once per group.
fn by_year(views: &[View]) -> Vec<(i32, NaiveDate, Vec<View>)> {
    let mut groups: BTreeMap<(i32, NaiveDate), Vec<View>> = BTreeMap::new();
    for v in views {
        groups
            .entry((v.key.year, v.key.reference_date))
            .or_default()
            .push(v.clone());
    }
    groups
        .into_iter()
        .map(|((year, on), views)| (year, on, views))
        .collect()
}

async fn current_rows(
    conn: &mut PgConnection,
    generation: i32,
    key: &ViewKey,
    members: &[String],
) -> sqlx::Result<BTreeMap<String, Standing>> {
    sqlx::query(
        "SELECT member_id, branch_id, name, groups, credited_centi, required_centi, reached, \
           compliant FROM rm_standings WHERE generation = $1 AND rules_hash = $2 AND year = $3 \
           AND reference_date = $4 AND member_id = ANY($5) AND to_pos IS NULL",
    )
    .bind(generation)
    .bind(&key.rules_hash)
    .bind(key.year)
    .bind(key.reference_date)
    .bind(members)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok((
            r.try_get("member_id")?,
            Standing {
                branch: r.try_get("branch_id")?,
                name: r.try_get("name")?,
                groups: r.try_get("groups")?,
                credited_centi: r.try_get("credited_centi")?,
                required_centi: r.try_get("required_centi")?,
                reached: r.try_get("reached")?,
                compliant: r.try_get("compliant")?,
            },
        ))
    })
    .collect()
}

/// Closes the current rows of `changed` and inserts their new ones (none for a member who
/// left the population), valid from `position`.
async fn write_standings(
    conn: &mut PgConnection,
    generation: i32,
    key: &ViewKey,
    position: i64,
    changed: &[&String],
    new: &BTreeMap<String, Standing>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE rm_standings SET to_pos = $6 WHERE generation = $1 AND rules_hash = $2 \
           AND year = $3 AND reference_date = $4 AND member_id = ANY($5) AND to_pos IS NULL",
    )
    .bind(generation)
    .bind(&key.rules_hash)
    .bind(key.year)
    .bind(key.reference_date)
    .bind(changed)
    .bind(position)
    .execute(&mut *conn)
    .await?;
    let rows: Vec<(&String, &Standing)> = changed
        .iter()
        .filter_map(|m| new.get(*m).map(|s| (*m, s)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&Standing) -> String| rows.iter().map(|(_, s)| f(s)).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO rm_standings (generation, rules_hash, year, reference_date, member_id, \
           branch_id, name, groups, credited_centi, required_centi, reached, compliant, from_pos) \
         SELECT $1, $2, $3, $4, m, b, n, string_to_array(g, ','), c, r, re, co, $13 \
         FROM unnest($5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], \
           $10::bigint[], $11::bool[], $12::bool[]) AS u(m, b, n, g, c, r, re, co)",
    )
    .bind(generation)
    .bind(&key.rules_hash)
    .bind(key.year)
    .bind(key.reference_date)
    .bind(rows.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>())
    .bind(column(|s| s.branch.clone()))
    .bind(column(|s| s.name.clone()))
    // Group names are identifiers without commas.
    .bind(column(|s| s.groups.join(",")))
    .bind(
        rows.iter()
            .map(|(_, s)| s.credited_centi)
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|(_, s)| s.required_centi)
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|(_, s)| s.reached).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, s)| s.compliant).collect::<Vec<_>>())
    .bind(position)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Applies count deltas per (org unit, group): the current row is closed and a new one with
/// the sums starts at `position`.
async fn write_coverage(
    conn: &mut PgConnection,
    generation: i32,
    key: &ViewKey,
    position: i64,
    deltas: &BTreeMap<(String, String), [i64; 3]>,
) -> sqlx::Result<()> {
    let deltas: Vec<(&(String, String), &[i64; 3])> =
        deltas.iter().filter(|(_, d)| **d != [0; 3]).collect();
    if deltas.is_empty() {
        return Ok(());
    }
    let orgs: Vec<&str> = deltas.iter().map(|((o, _), _)| o.as_str()).collect();
    let groups: Vec<&str> = deltas.iter().map(|((_, g), _)| g.as_str()).collect();
    let closed: BTreeMap<(String, String), [i64; 3]> = sqlx::query(
        "UPDATE rm_coverage c SET to_pos = $7 FROM unnest($5::text[], $6::text[]) AS d(org_id, grp) \
         WHERE c.generation = $1 AND c.rules_hash = $2 AND c.year = $3 AND c.reference_date = $4 \
           AND c.org_id = d.org_id AND c.grp = d.grp AND c.to_pos IS NULL \
         RETURNING c.org_id, c.grp, c.in_scope, c.reached, c.compliant",
    )
    .bind(generation)
    .bind(&key.rules_hash)
    .bind(key.year)
    .bind(key.reference_date)
    .bind(&orgs)
    .bind(&groups)
    .bind(position)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(count_row)
    .collect::<sqlx::Result<_>>()?;
    let sums: Vec<[i64; 3]> = deltas
        .iter()
        .map(|(k, d)| {
            let before = closed.get(*k).copied().unwrap_or_default();
            [before[0] + d[0], before[1] + d[1], before[2] + d[2]]
        })
        .collect();
    sqlx::query(
        "INSERT INTO rm_coverage (generation, rules_hash, year, reference_date, org_id, grp, \
           in_scope, reached, compliant, from_pos) \
         SELECT $1, $2, $3, $4, * , $10 FROM unnest($5::text[], $6::text[], $7::bigint[], \
           $8::bigint[], $9::bigint[])",
    )
    .bind(generation)
    .bind(&key.rules_hash)
    .bind(key.year)
    .bind(key.reference_date)
    .bind(&orgs)
    .bind(&groups)
    .bind(sums.iter().map(|s| s[0]).collect::<Vec<_>>())
    .bind(sums.iter().map(|s| s[1]).collect::<Vec<_>>())
    .bind(sums.iter().map(|s| s[2]).collect::<Vec<_>>())
    .bind(position)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes versions closed before `below` and says so in the views, in one transaction.
async fn prune(conn: &mut PgConnection, generation: i32, below: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE rm_views SET pruned_below = $2 WHERE generation = $1 AND pruned_below < $2",
    )
    .bind(generation)
    .bind(below)
    .execute(&mut *conn)
    .await?;
    for table in ["rm_standings", "rm_coverage"] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE generation = $1 AND to_pos IS NOT NULL AND to_pos < $2"
        )))
        .bind(generation)
        .bind(below)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Whether the view of (`scope`, `rules`) can answer as of `scope.as_of`: built by then, and
/// no version valid then pruned. Readers ask before and again after reading rows.
async fn answers(conn: &mut PgConnection, scope: &Scope, rules: &RuleSet) -> sqlx::Result<bool> {
    let usable: Option<bool> = sqlx::query_scalar(
        "SELECT ready_from <= $5 AND pruned_below <= $5 FROM rm_views WHERE generation = $1 \
           AND rules_hash = $2 AND year = $3 AND reference_date = $4",
    )
    .bind(scope.generation)
    .bind(&rules.hash)
    .bind(scope.year)
    .bind(scope.reference_date)
    .bind(scope.as_of)
    .fetch_optional(&mut *conn)
    .await?
    .flatten();
    Ok(usable == Some(true))
}

/// The coverage counts valid at the as-of position, by (org unit, group).
async fn counts(
    conn: &mut PgConnection,
    scope: &Scope,
    rules: &RuleSet,
    orgs: Option<&[String]>,
) -> sqlx::Result<BTreeMap<(String, String), [i64; 3]>> {
    sqlx::query(
        "SELECT org_id, grp, in_scope, reached, compliant FROM rm_coverage \
         WHERE generation = $1 AND rules_hash = $2 AND year = $3 AND reference_date = $4 \
           AND from_pos <= $5 AND (to_pos IS NULL OR to_pos > $5) \
           AND ($6::text[] IS NULL OR org_id = ANY($6))",
    )
    .bind(scope.generation)
    .bind(&rules.hash)
    .bind(scope.year)
    .bind(scope.reference_date)
    .bind(scope.as_of)
    .bind(orgs)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(count_row)
    .collect()
}

/// Coverage rows from the view, or `None` when it cannot answer this as-of position.
pub async fn coverage(
    conn: &mut PgConnection,
    scope: &Scope,
    rules: &RuleSet,
) -> sqlx::Result<Option<Vec<CoverageRow>>> {
    if !answers(&mut *conn, scope, rules).await? {
        return Ok(None);
    }
    let orgs = OrgTree::load(&mut *conn, scope.generation, scope.as_of).await?;
    let units = orgs.units(scope);
    let counts = counts(&mut *conn, scope, rules, Some(&units)).await?;
    if !answers(&mut *conn, scope, rules).await? {
        return Ok(None);
    }
    Ok(Some(
        units
            .iter()
            .flat_map(|unit| GROUPS.iter().map(move |group| (unit, *group)))
            .map(|(unit, group)| {
                let [in_scope, reached, compliant] = counts
                    .get(&(unit.clone(), group.to_owned()))
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
            .collect(),
    ))
}

/// The members behind a gap from the view, in member id order, `offset` and `limit` applied;
/// `None` when it cannot answer this as-of position.
pub async fn gap_members(
    conn: &mut PgConnection,
    scope: &Scope,
    rules: &RuleSet,
    gap: Gap,
    offset: usize,
    limit: Option<usize>,
) -> sqlx::Result<Option<Vec<GapMember>>> {
    if !answers(&mut *conn, scope, rules).await? {
        return Ok(None);
    }
    let branches = match &scope.org {
        None => None,
        Some(_) => Some(
            OrgTree::load(&mut *conn, scope.generation, scope.as_of)
                .await?
                .subtree(scope.org.as_ref()),
        ),
    };
    let column = match gap {
        Gap::Unreached => "reached",
        Gap::Noncompliant => "compliant",
    };
    let members = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT member_id, name, branch_id, groups, credited_centi, required_centi \
         FROM rm_standings WHERE generation = $1 AND rules_hash = $2 AND year = $3 \
           AND reference_date = $4 AND from_pos <= $5 AND (to_pos IS NULL OR to_pos > $5) \
           AND NOT {column} AND ($6::text[] IS NULL OR branch_id = ANY($6)) \
         ORDER BY member_id OFFSET $7 LIMIT $8"
    )))
    .bind(scope.generation)
    .bind(&rules.hash)
    .bind(scope.year)
    .bind(scope.reference_date)
    .bind(scope.as_of)
    .bind(branches)
    .bind(offset as i64)
    .bind(limit.map(|l| l as i64))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        let groups: Vec<String> = r.try_get("groups")?;
        Ok(GapMember {
            member_id: r.try_get("member_id")?,
            name: r.try_get("name")?,
            org_id: r.try_get("branch_id")?,
            groups: groups.iter().filter_map(|g| static_group(g)).collect(),
            credited_hours: hours(r.try_get("credited_centi")?),
            required_hours: hours(r.try_get("required_centi")?),
        })
    })
    .collect::<sqlx::Result<Vec<_>>>()?;
    if !answers(&mut *conn, scope, rules).await? {
        return Ok(None);
    }
    Ok(Some(members))
}

/// The headline counts of the population in a subtree.
#[derive(Clone, Debug, PartialEq)]
pub struct Headcount {
    pub members: i64,
    pub reached: i64,
    /// Home visits (records) to members of the population, not voided.
    pub home_visits: i64,
}

/// [`Headcount`] from the view: members and reached from the counts of the subtree's top
/// units ('all' counts every member whose branch lies under the unit), home visits joined to
/// the view's population; `None` when it cannot answer this as-of position.
pub async fn headcount(
    conn: &mut PgConnection,
    scope: &Scope,
    rules: &RuleSet,
) -> sqlx::Result<Option<Headcount>> {
    if !answers(&mut *conn, scope, rules).await? {
        return Ok(None);
    }
    let orgs = OrgTree::load(&mut *conn, scope.generation, scope.as_of).await?;
    let (tops, branches) = match &scope.org {
        Some(org) => (vec![org.clone()], Some(orgs.subtree(Some(org)))),
        None => (orgs.roots(), None),
    };
    let counts = counts(&mut *conn, scope, rules, Some(&tops)).await?;
    let home_visits: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT p.record_id) FROM rm_participations p JOIN rm_standings s \
           ON s.generation = p.generation AND s.rules_hash = $2 AND s.year = p.year \
           AND s.reference_date = $4 AND s.member_id = p.member_id AND s.from_pos <= $5 \
           AND (s.to_pos IS NULL OR s.to_pos > $5) \
         WHERE p.generation = $1 AND p.kind = 'home_visit' AND p.year = $3 AND p.from_pos <= $5 \
           AND (p.voided_pos IS NULL OR p.voided_pos > $5) \
           AND ($6::text[] IS NULL OR s.branch_id = ANY($6))",
    )
    .bind(scope.generation)
    .bind(&rules.hash)
    .bind(scope.year)
    .bind(scope.reference_date)
    .bind(scope.as_of)
    .bind(branches)
    .fetch_one(&mut *conn)
    .await?;
    if !answers(&mut *conn, scope, rules).await? {
        return Ok(None);
    }
    let (members, reached) = counts
        .iter()
        .filter(|((_, g), _)| g == "all")
        .fold((0, 0), |(n, r), (_, c)| (n + c[0], r + c[1]));
    Ok(Some(Headcount {
        members,
        reached,
        home_visits,
    }))
}

/// How far a materialised view is built, for status pages and metrics.
#[derive(Clone, Debug, serde::Serialize, sqlx::FromRow)]
pub struct ViewStatus {
    pub rules_id: String,
    pub rules_hash: String,
    pub year: i32,
    pub reference_date: NaiveDate,
    pub members_built: i64,
    /// The position from which it answers; `None` while it is being built.
    pub ready_from: Option<i64>,
}

/// The materialised views of `generation`.
pub async fn views_status(
    db: impl sqlx::PgExecutor<'_>,
    generation: i32,
) -> sqlx::Result<Vec<ViewStatus>> {
    sqlx::query_as(
        "SELECT rules_id, rules_hash, year, reference_date, members_built, ready_from \
         FROM rm_views WHERE generation = $1 ORDER BY year DESC, rules_id",
    )
    .bind(generation)
    .fetch_all(db)
    .await
}

/// A coverage row as (org unit, group) → [in scope, reached, compliant].
fn count_row(r: &sqlx::postgres::PgRow) -> sqlx::Result<((String, String), [i64; 3])> {
    Ok((
        (r.try_get("org_id")?, r.try_get("grp")?),
        [
            r.try_get("in_scope")?,
            r.try_get("reached")?,
            r.try_get("compliant")?,
        ],
    ))
}

/// The group names as the statistics spell them.
fn static_group(name: &str) -> Option<&'static str> {
    GROUPS.iter().copied().find(|g| *g == name)
}
