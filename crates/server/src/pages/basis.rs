//! A page's basis: year, org subtree, rule set and as-of position, resolved as the JSON API
//! resolves them (`stats.rs`), plus the org tree to name units and drill down.

use super::{BasisView, Choice, Controls, Ctx, OrPage, PageError};
use crate::AppState;
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc};
use partyedu_projections::RuleSet;
use partyedu_projections::engine::FACTS;
use partyedu_projections::query::{self, GROUPS, Scope};
use sqlx::{PgPool, Row};
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub(crate) struct OrgUnit {
    pub id: String,
    pub kind: String,
    pub parent: Option<String>,
    pub name: String,
}

/// The org tree as of a position.
#[derive(Clone, Debug, Default)]
pub(crate) struct OrgIndex(BTreeMap<String, OrgUnit>);

impl OrgIndex {
    pub async fn load(pool: &PgPool, generation: i32, as_of: i64) -> sqlx::Result<OrgIndex> {
        let rows = sqlx::query(
            "SELECT u.org_id, u.kind, u.parent_id, \
               (SELECT n.name FROM rm_org_names n WHERE n.generation = u.generation \
                  AND n.org_id = u.org_id AND n.position <= $2 ORDER BY n.position DESC LIMIT 1) AS name \
             FROM rm_org_units u WHERE u.generation = $1 AND u.position <= $2",
        )
        .bind(generation)
        .bind(as_of)
        .fetch_all(pool)
        .await?;
        let mut units = BTreeMap::new();
        for r in &rows {
            let id: String = r.try_get("org_id")?;
            let name: Option<String> = r.try_get("name")?;
            units.insert(
                id.clone(),
                OrgUnit {
                    name: name.unwrap_or_else(|| id.clone()),
                    id,
                    kind: r.try_get("kind")?,
                    parent: r.try_get("parent_id")?,
                },
            );
        }
        Ok(OrgIndex(units))
    }

    pub fn get(&self, id: &str) -> Option<&OrgUnit> {
        self.0.get(id)
    }

    /// The unit's name, or its id when unknown.
    pub fn name(&self, id: &str) -> String {
        self.0
            .get(id)
            .map_or_else(|| id.to_owned(), |u| u.name.clone())
    }

    /// Whether `org` lies in the subtree of `root` (itself included).
    pub fn within(&self, org: &str, root: &str) -> bool {
        let mut at = Some(org);
        let mut steps = 0;
        while let Some(id) = at {
            if id == root {
                return true;
            }
            at = self.0.get(id).and_then(|u| u.parent.as_deref());
            steps += 1;
            if steps > 64 {
                return false;
            }
        }
        false
    }

    /// The units directly under `id`, by id.
    pub fn children(&self, id: &str) -> Vec<&OrgUnit> {
        self.0
            .values()
            .filter(|u| u.parent.as_deref() == Some(id))
            .collect()
    }

    /// The units without a parent, by id.
    pub fn roots(&self) -> Vec<&OrgUnit> {
        self.0.values().filter(|u| u.parent.is_none()).collect()
    }

    /// Every unit in the subtree of `root` (all when `None`), in tree order (depth first, by id).
    pub fn subtree(&self, root: Option<&str>) -> Vec<&OrgUnit> {
        let mut out = Vec::new();
        let mut stack: Vec<&OrgUnit> = match root {
            Some(r) => self.0.get(r).into_iter().collect(),
            None => self.roots().into_iter().rev().collect(),
        };
        while let Some(unit) = stack.pop() {
            out.push(unit);
            let mut children = self.children(&unit.id);
            children.reverse();
            stack.extend(children);
        }
        out
    }
}

/// What a page's figures are computed from.
pub(crate) struct PageBasis {
    pub scope: Scope,
    pub rules: RuleSet,
    pub live: RuleSet,
    pub anchor: NaiveDate,
    /// `as_of_position` when the URL gave one.
    pub given_as_of: Option<i64>,
    /// When the event at the as-of position was recorded.
    pub as_of_time: Option<DateTime<FixedOffset>>,
    pub orgs: OrgIndex,
    /// The reporting group the URL chose (`all` by default).
    pub group: &'static str,
}

fn number<T: std::str::FromStr>(ctx: &Ctx, name: &str) -> Result<Option<T>, PageError> {
    ctx.param(name)
        .map(|v| v.parse::<T>().map_err(|_| PageError::bad_request(ctx.lang)))
        .transpose()
}

/// The live generation and its checkpoint (as `stats.rs` reads them).
async fn checkpoint(pool: &PgPool) -> sqlx::Result<(i32, i64)> {
    let row = sqlx::query(
        "SELECT p.live_generation, c.position FROM rm_projections p JOIN rm_checkpoints c \
           ON c.name = p.name AND c.generation = p.live_generation WHERE p.name = $1",
    )
    .bind(FACTS)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some(row) => (row.try_get("live_generation")?, row.try_get("position")?),
        None => (1, 0),
    })
}

/// Resolves year, org, rules and as-of for `ctx`, within the caller's scope.
pub(crate) async fn resolve(state: &AppState, ctx: &Ctx) -> Result<PageBasis, PageError> {
    let pool = &state.reads;
    let live = crate::rules::live(state).await.page(ctx)?;
    let rules = match ctx.param("rules") {
        None => live.clone(),
        Some(id) => state
            .stats
            .book
            .get(id)
            .cloned()
            .ok_or_else(|| PageError::bad_request(ctx.lang))?,
    };
    let given_as_of: Option<i64> = number(ctx, "as_of_position")?;
    if given_as_of.is_some_and(|p| p < 0) {
        return Err(PageError::bad_request(ctx.lang));
    }
    // `min_position` (read your own writes): wait up to 5 s for the read models to reach it.
    let min: Option<i64> = number(ctx, "min_position")?;
    let mut waited = 0;
    let (generation, reached) = loop {
        let (generation, reached) = checkpoint(pool).await.page(ctx)?;
        if min.is_none_or(|m| reached >= m) {
            break (generation, reached);
        }
        if waited >= 50 {
            return Err(PageError::new(
                ctx.lang,
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
            ));
        }
        waited += 1;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    if given_as_of.is_some_and(|p| p > reached) {
        return Err(PageError::new(
            ctx.lang,
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
        ));
    }
    let as_of = given_as_of.unwrap_or(reached);
    let recorded: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT recorded_at FROM events WHERE position <= $1 ORDER BY position DESC LIMIT 1",
    )
    .bind(as_of)
    .fetch_optional(pool)
    .await
    .page(ctx)?;
    let as_of_time = recorded.map(|at| at.with_timezone(&state.tz).fixed_offset());
    let anchor = match given_as_of {
        Some(_) => recorded.unwrap_or_else(Utc::now),
        None => Utc::now(),
    }
    .with_timezone(&state.tz)
    .date_naive();
    let year = match number::<i32>(ctx, "year")? {
        Some(y) if (1900..=9999).contains(&y) => y,
        Some(_) => return Err(PageError::bad_request(ctx.lang)),
        None => anchor.year(),
    };
    let orgs = OrgIndex::load(pool, generation, as_of).await.page(ctx)?;
    let org = match (&ctx.caller.scope, ctx.param("org")) {
        (None, org) => org.map(str::to_owned),
        (Some(scope), None) => Some(scope.as_str().to_owned()),
        (Some(scope), Some(org)) if orgs.within(org, scope.as_str()) => Some(org.to_owned()),
        (Some(_), Some(_)) => {
            return Err(PageError::new(ctx.lang, axum::http::StatusCode::FORBIDDEN));
        }
    };
    let group = match ctx.param("group") {
        None => "all",
        Some(g) => GROUPS
            .iter()
            .copied()
            .find(|known| *known == g)
            .ok_or_else(|| PageError::bad_request(ctx.lang))?,
    };
    Ok(PageBasis {
        scope: Scope {
            generation,
            as_of,
            year,
            reference_date: query::reference_date(year, anchor),
            org,
        },
        rules,
        live,
        anchor,
        given_as_of,
        as_of_time,
        orgs,
        group,
    })
}

impl PageBasis {
    /// The org the page is about: the chosen one, else the tree's root.
    pub fn current_org(&self) -> Option<String> {
        self.scope
            .org
            .clone()
            .or_else(|| self.orgs.roots().first().map(|u| u.id.clone()))
    }

    pub fn org_label(&self, ctx: &Ctx) -> String {
        match &self.scope.org {
            Some(org) => format!("{} ({org})", self.orgs.name(org)),
            None => ctx.t("auth.whole").to_owned(),
        }
    }

    pub fn view(&self, ctx: &Ctx) -> BasisView {
        let lang = ctx.lang;
        let org = self.org_label(ctx);
        let year = self.scope.year.to_string();
        let rules = format!(
            "{} ({} {})",
            self.rules.id(),
            ctx.t("basis.version"),
            self.rules.rules.version
        );
        let when = self
            .as_of_time
            .map(|at| lang.datetime(at))
            .unwrap_or_default();
        let live = if self.given_as_of.is_none() {
            format!(" ({})", ctx.t("basis.live"))
        } else {
            String::new()
        };
        let as_of = format!(
            "{} #{} · {when}{live}",
            ctx.t("basis.position"),
            self.scope.as_of
        );
        let reference_date = lang.date(self.scope.reference_date);
        let line = format!(
            "{}: {org} · {}: {year} · {}: {rules} · {}: {as_of} · {}: {reference_date}",
            ctx.t("basis.org"),
            ctx.t("basis.year"),
            ctx.t("basis.rules"),
            ctx.t("basis.as_of"),
            ctx.t("basis.reference_date"),
        );
        BasisView {
            org,
            year,
            rules,
            as_of,
            reference_date,
            line,
        }
    }

    /// The basis form of a statistics page; `keep` names page parameters to carry along.
    pub fn controls(&self, ctx: &Ctx, state: &AppState, keep: &[&str], groups: bool) -> Controls {
        let root = ctx.caller.scope.as_ref().map(|s| s.as_str().to_owned());
        let chosen = self.scope.org.clone().unwrap_or_default();
        let mut orgs: Vec<Choice> = Vec::new();
        if root.is_none() {
            orgs.push(Choice {
                value: String::new(),
                label: ctx.t("auth.whole").to_owned(),
                selected: chosen.is_empty(),
            });
        }
        for unit in self.orgs.subtree(root.as_deref()) {
            orgs.push(Choice {
                label: format!("{} ({})", unit.name, unit.id),
                selected: unit.id == chosen,
                value: unit.id.clone(),
            });
        }
        let groups = if groups {
            GROUPS
                .iter()
                .map(|g| Choice {
                    value: (*g).to_owned(),
                    label: ctx.lang.value("group", g),
                    selected: *g == self.group,
                })
                .collect()
        } else {
            Vec::new()
        };
        let rules = state
            .stats
            .book
            .ids()
            .filter_map(|id| state.stats.book.get(id))
            .map(|set| Choice {
                value: set.id().to_owned(),
                label: if set.id() == self.live.id() {
                    format!("{} v{} ✓", set.id(), set.rules.version)
                } else {
                    format!("{} v{}", set.id(), set.rules.version)
                },
                selected: set.id() == self.rules.id(),
            })
            .collect();
        Controls {
            action: ctx.path.clone(),
            hidden: keep
                .iter()
                .filter_map(|k| ctx.param(k).map(|v| ((*k).to_owned(), v.to_owned())))
                .collect(),
            year: self.scope.year.to_string(),
            orgs,
            groups,
            rules,
            as_of: self.given_as_of.map(|p| p.to_string()).unwrap_or_default(),
            reset: ctx.path.clone(),
        }
    }
}

/// Current names of `ids` as of the basis.
pub(crate) async fn member_names(
    pool: &PgPool,
    scope: &Scope,
    ids: &[String],
) -> sqlx::Result<BTreeMap<String, String>> {
    sqlx::query(
        "SELECT DISTINCT ON (member_id) member_id, name FROM rm_member_names \
         WHERE generation = $1 AND position <= $2 AND member_id = ANY($3) \
         ORDER BY member_id, position DESC",
    )
    .bind(scope.generation)
    .bind(scope.as_of)
    .bind(ids)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("member_id")?, r.try_get("name")?)))
    .collect()
}
