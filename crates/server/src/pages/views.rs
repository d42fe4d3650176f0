//! The page handlers: each asks the query layer for its statistic, as the JSON API does, and
//! lays it out as figures, a chart and tables.

use super::basis::{PageBasis, member_names, resolve};
use super::svg::{self, Bar, Category};
use super::{
    Cell, Ctx, Figure, LANG_COOKIE, Lang, Link, OrPage, PageError, Row, SigninForm, TOKEN_COOKIE,
    Table, View, caller_of_token, enc, html, respond,
};
use crate::AppState;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone};
use partyedu_projections::engine;
use partyedu_projections::ledgers;
use partyedu_projections::query::{self, GROUPS, Gap};
use serde::Deserialize;
use serde_json::Value as Json;
use std::collections::BTreeMap;

type Page = Result<Response, PageError>;

fn hours(v: &Json) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

fn share(v: &Json) -> Option<f64> {
    v.as_f64()
}

/// A statistics page: header with basis and the basis controls.
fn stats_view(
    ctx: &Ctx,
    state: &AppState,
    basis: &PageBasis,
    title: &str,
    keep: &[&str],
    groups: bool,
) -> View {
    let mut view = View::new(ctx, title);
    view.basis = Some(basis.view(ctx));
    view.controls = Some(basis.controls(ctx, state, keep, groups));
    view
}

fn member_href(ctx: &Ctx, id: &str) -> String {
    ctx.link(
        &format!("/members/{}", enc(id)),
        &[("org", ""), ("group", "")],
    )
}

fn event_href(id: &uuid::Uuid) -> String {
    format!("/log/events/{id}")
}

/// `GET /`: the year's headline figures, each a link to what it counts.
pub(crate) async fn overview(State(state): State<AppState>, ctx: Ctx) -> Page {
    let basis = resolve(&state, &ctx).await?;
    let figures = ledgers::headlines(&state.reads, &basis.scope, &basis.rules)
        .await
        .page(&ctx)?;
    let mut view = stats_view(&ctx, &state, &basis, "page.overview", &[], false);
    let targets = [
        ("classes", ctx.link("/ledgers/classes", &[])),
        (
            "field_trips",
            ctx.link("/ledgers/classes", &[("form", "field_trip")]),
        ),
        ("party_lectures", ctx.link("/lectures", &[])),
        ("leader_lectures", ctx.link("/lectures", &[])),
        ("members", ctx.link("/coverage", &[])),
        ("members_reached", ctx.link("/coverage", &[])),
        ("home_visits", ctx.link("/ledgers/frail", &[])),
        ("wishes_claimed", ctx.link("/ledgers/wishes", &[])),
        ("wishes_fulfilled", ctx.link("/ledgers/wishes", &[])),
    ];
    let mut table = Table::new(
        &ctx,
        "headlines",
        ctx.t("page.overview"),
        &["col.title", "col.value"],
    );
    for (key, href) in targets {
        let n = figures[key].as_i64().unwrap_or(0);
        let label = ctx.t(&format!("fig.{key}")).to_owned();
        view.figures.push(Figure {
            label: label.clone(),
            value: ctx.lang.int(n),
            href: href.clone(),
        });
        table.push(vec![Cell::text(label), Cell::int(ctx.lang, n).link(href)]);
    }
    view.tables.push(table);
    respond(&ctx, view)
}

fn coverage_cells(
    ctx: &Ctx,
    row: &query::CoverageRow,
    org_cell: Cell,
    group_cell: Option<Cell>,
) -> Vec<Cell> {
    let lang = ctx.lang;
    let gaps = |status: &str| {
        ctx.link(
            &format!("/gaps/{status}"),
            &[("org", &row.org_id), ("group", row.group)],
        )
    };
    let mut cells = vec![org_cell];
    cells.extend(group_cell);
    cells.extend([
        Cell::int(lang, row.in_scope)
            .link(ctx.link("/coverage", &[("org", &row.org_id), ("group", row.group)])),
        Cell::int(lang, row.reached).link(gaps("unreached")),
        Cell::rate(lang, share(&row.reached_rate)),
        Cell::int(lang, row.compliant).link(gaps("noncompliant")),
        Cell::rate(lang, share(&row.compliant_rate)),
        Cell::int(lang, row.in_scope - row.reached)
            .link(gaps("unreached"))
            .class("num gap"),
        Cell::int(lang, row.in_scope - row.compliant)
            .link(gaps("noncompliant"))
            .class("num gap"),
    ]);
    cells
}

const COVERAGE_HEADERS: [&str; 8] = [
    "col.in_scope",
    "col.reached",
    "col.reached_rate",
    "col.compliant",
    "col.compliant_rate",
    "col.unreached",
    "col.noncompliant",
    "",
];

fn headers_with(first: &[&'static str]) -> Vec<&'static str> {
    first
        .iter()
        .copied()
        .chain(COVERAGE_HEADERS.iter().copied().filter(|h| !h.is_empty()))
        .collect()
}

/// `GET /coverage?org=&group=`: coverage of the org unit and the units below it, with a chart;
/// every count opens the members behind it.
pub(crate) async fn coverage(State(state): State<AppState>, ctx: Ctx) -> Page {
    let basis = resolve(&state, &ctx).await?;
    let rows = query::coverage(&state.reads, &basis.scope, &basis.rules)
        .await
        .page(&ctx)?;
    let lang = ctx.lang;
    let group = basis.group;
    let current = basis.current_org().unwrap_or_default();
    let mut view = stats_view(&ctx, &state, &basis, "page.coverage", &[], true);
    view.notes.push(ctx.t("note.coverage").to_owned());
    view.notes.push(ctx.t("note.coverage_links").to_owned());
    if let Some(parent) = basis.orgs.get(&current).and_then(|u| u.parent.clone())
        && ctx
            .caller
            .scope
            .as_ref()
            .is_none_or(|s| basis.orgs.within(&parent, s.as_str()))
    {
        view.links.push(Link {
            label: format!("↑ {}: {}", ctx.t("note.up"), basis.orgs.name(&parent)),
            href: ctx.link("/coverage", &[("org", &parent)]),
        });
    }
    let find = |org: &str, g: &str| rows.iter().find(|r| r.org_id == org && r.group == g);
    let children = basis.orgs.children(&current);
    let units: Vec<String> = std::iter::once(current.clone())
        .chain(children.iter().map(|u| u.id.clone()))
        .collect();

    let mut by_unit = Table::new(
        &ctx,
        "units",
        &format!(
            "{} · {}",
            ctx.t("note.children"),
            lang.value("group", group)
        ),
        &headers_with(&["col.org", "col.org_id"]),
    );
    let mut categories = Vec::new();
    for unit in &units {
        let Some(row) = find(unit, group) else {
            continue;
        };
        let name = basis.orgs.name(unit);
        let kind = basis
            .orgs
            .get(unit)
            .map(|u| lang.value("orgkind", &u.kind))
            .unwrap_or_default();
        let drill = ctx.link("/coverage", &[("org", unit)]);
        let org_cell = Cell::text(format!("{name} · {kind}")).link(drill.clone());
        let mut cells = coverage_cells(&ctx, row, org_cell, None);
        cells.insert(1, Cell::text(unit.clone()));
        by_unit.rows.push(Row {
            cells,
            class: if *unit == current { "current" } else { "" },
        });
        categories.push(Category {
            label: name,
            href: drill,
            bars: vec![
                Bar {
                    share: share(&row.reached_rate).unwrap_or(0.0),
                    text: lang.rate(share(&row.reached_rate)),
                    href: ctx.link("/gaps/unreached", &[("org", unit), ("group", group)]),
                },
                Bar {
                    share: share(&row.compliant_rate).unwrap_or(0.0),
                    text: lang.rate(share(&row.compliant_rate)),
                    href: ctx.link("/gaps/noncompliant", &[("org", unit), ("group", group)]),
                },
            ],
        });
    }
    view.chart = Some(svg::bars(
        &format!("{} · {}", ctx.t("note.chart"), lang.value("group", group)),
        &[ctx.t("col.reached_rate"), ctx.t("col.compliant_rate")],
        &categories,
    ));
    let mut by_group = Table::new(
        &ctx,
        "groups",
        &format!("{} · {}", ctx.t("note.by_group"), basis.orgs.name(&current)),
        &headers_with(&["col.group"]),
    );
    for g in GROUPS {
        if let Some(row) = find(&current, g) {
            let cell =
                Cell::text(lang.value("group", g)).link(ctx.link("/coverage", &[("group", g)]));
            by_group.rows.push(Row {
                cells: coverage_cells(&ctx, row, cell, None),
                class: if g == group { "current" } else { "" },
            });
        }
    }
    // Every unit of the subtree × group, for the spreadsheet (and the whole picture).
    let mut all = Table::new(
        &ctx,
        "all",
        ctx.t("page.coverage"),
        &headers_with(&["col.org", "col.org_id", "col.group"]),
    );
    for unit in basis.orgs.subtree(Some(&current)) {
        for g in GROUPS {
            if let Some(row) = find(&unit.id, g) {
                let org_cell =
                    Cell::text(unit.name.clone()).link(ctx.link("/coverage", &[("org", &unit.id)]));
                let mut cells = coverage_cells(
                    &ctx,
                    row,
                    org_cell,
                    Some(Cell::text(lang.value("group", g))),
                );
                cells.insert(1, Cell::text(unit.id.clone()));
                all.push(cells);
            }
        }
    }
    view.tables.extend([by_unit, by_group, all]);
    respond(&ctx, view)
}

/// `GET /gaps/{unreached|noncompliant}?org=&group=`: the members behind a gap, by org unit
/// and member id.
pub(crate) async fn gaps(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(status): Path<String>,
) -> Page {
    let gap = match status.as_str() {
        "unreached" => Gap::Unreached,
        "noncompliant" => Gap::Noncompliant,
        _ => return Err(PageError::new(ctx.lang, StatusCode::NOT_FOUND)),
    };
    let basis = resolve(&state, &ctx).await?;
    let lang = ctx.lang;
    let mut members = query::coverage_members(&state.reads, &basis.scope, &basis.rules, gap)
        .await
        .page(&ctx)?;
    members.retain(|m| basis.group == "all" || m.groups.contains(&basis.group));
    members.sort_by(|a, b| (&a.org_id, &a.member_id).cmp(&(&b.org_id, &b.member_id)));
    let title = format!("page.{status}");
    let mut view = stats_view(&ctx, &state, &basis, &title, &[], true);
    view.notes.push(format!(
        "{}: {} · {}",
        ctx.t("basis.group"),
        lang.value("group", basis.group),
        ctx.t("list.order")
    ));
    let mut table = Table::new(
        &ctx,
        "members",
        ctx.t(&title),
        &[
            "col.org",
            "col.org_id",
            "col.member_id",
            "col.name",
            "col.groups",
            "col.credited_hours",
            "col.required_hours",
        ],
    );
    let year = basis.scope.year.to_string();
    for m in &members {
        let history = member_href(&ctx, &m.member_id);
        let groups: Vec<String> = m.groups.iter().map(|g| lang.value("group", g)).collect();
        table.push(vec![
            Cell::text(basis.orgs.name(&m.org_id)),
            Cell::text(m.org_id.clone()),
            Cell::text(m.member_id.clone()).link(history.clone()),
            Cell::text(m.name.clone()).link(history.clone()),
            Cell::text(groups.join("、")),
            Cell::num(lang, hours(&m.credited_hours)).link(ctx.link(
                &format!("/members/{}", enc(&m.member_id)),
                &[("org", ""), ("group", ""), ("year", &year)],
            )),
            Cell::num(lang, hours(&m.required_hours)),
        ]);
    }
    view.tables.push(table);
    respond(&ctx, view)
}

/// `GET /lectures`: party lectures per speaker (by member id), and the leaders without one.
pub(crate) async fn lectures(State(state): State<AppState>, ctx: Ctx) -> Page {
    let basis = resolve(&state, &ctx).await?;
    let lang = ctx.lang;
    let tallies = query::lecture_tallies(&state.reads, &basis.scope)
        .await
        .page(&ctx)?;
    let names = member_names(&state.reads, &basis.scope, &tallies.missing)
        .await
        .page(&ctx)?;
    let mut view = stats_view(&ctx, &state, &basis, "page.lectures", &[], false);
    for (key, label) in [
        ("lectures", "fig.party_lectures"),
        ("leader_lectures", "fig.leader_lectures"),
    ] {
        view.figures.push(Figure {
            label: ctx.t(label).to_owned(),
            value: lang.int(tallies.totals[key].as_i64().unwrap_or(0)),
            href: "#speakers".to_owned(),
        });
    }
    view.figures.push(Figure {
        label: ctx.t("note.missing_lecture").to_owned(),
        value: lang.int(tallies.missing.len() as i64),
        href: "#missing".to_owned(),
    });
    view.notes.push(ctx.t("list.order").to_owned());
    let mut speakers = Table::new(
        &ctx,
        "speakers",
        ctx.t("col.speaker"),
        &[
            "col.member_id",
            "col.name",
            "col.roles",
            "col.lectures",
            "col.study_hours",
            "col.unique_attendees",
        ],
    );
    for s in &tallies.speakers {
        let href = member_href(&ctx, &s.member_id);
        let roles: Vec<String> = s.roles.iter().map(|r| lang.value("role", r)).collect();
        speakers.push(vec![
            Cell::text(s.member_id.clone()).link(href.clone()),
            Cell::text(s.name.clone()).link(href),
            Cell::text(roles.join("、")),
            Cell::int(lang, s.lectures),
            Cell::num(lang, hours(&s.study_hours)),
            Cell::int(lang, s.unique_attendees),
        ]);
    }
    let mut missing = Table::new(
        &ctx,
        "missing",
        ctx.t("note.missing_lecture"),
        &["col.member_id", "col.name"],
    );
    for id in &tallies.missing {
        let href = member_href(&ctx, id);
        missing.push(vec![
            Cell::text(id.clone()).link(href.clone()),
            Cell::text(names.get(id).cloned().unwrap_or_default()).link(href),
        ]);
    }
    view.tables.extend([speakers, missing]);
    respond(&ctx, view)
}

fn overdue_cell(ctx: &Ctx, overdue: bool) -> Cell {
    if overdue {
        Cell::text(format!("⚠ {}", ctx.t("overdue"))).class("overdue")
    } else {
        Cell::text(ctx.t("no"))
    }
}

/// `GET /ledgers/frail`: frail members and their last home visit, overdue ones marked.
pub(crate) async fn frail(State(state): State<AppState>, ctx: Ctx) -> Page {
    let basis = resolve(&state, &ctx).await?;
    let lang = ctx.lang;
    let mut rows = ledgers::frail_visits(&state.reads, &basis.scope, &basis.rules)
        .await
        .page(&ctx)?;
    rows.sort_by(|a, b| (&a.org_id, &a.member_id).cmp(&(&b.org_id, &b.member_id)));
    let mut view = stats_view(&ctx, &state, &basis, "page.frail", &[], false);
    view.notes.push(format!(
        "{} ({})",
        ctx.t("note.frail"),
        basis.rules.rules.ledgers.frail_visit_overdue_days
    ));
    let mut table = Table::new(
        &ctx,
        "frail",
        ctx.t("page.frail"),
        &[
            "col.org",
            "col.member_id",
            "col.name",
            "col.last_visit",
            "col.days_since",
            "col.overdue",
        ],
    );
    for r in &rows {
        let href = member_href(&ctx, &r.member_id);
        table.rows.push(Row {
            cells: vec![
                Cell::text(basis.orgs.name(&r.org_id)),
                Cell::text(r.member_id.clone()).link(href.clone()),
                Cell::text(r.name.clone()).link(href),
                match r.last_visit_on {
                    Some(d) => Cell::date(lang, Some(d)),
                    None => Cell::text(ctx.t("never")),
                },
                r.days_since
                    .map_or_else(|| Cell::text(""), |d| Cell::int(lang, d)),
                overdue_cell(&ctx, r.overdue),
            ],
            class: if r.overdue { "overdue" } else { "" },
        });
    }
    view.tables.push(table);
    respond(&ctx, view)
}

/// `GET /ledgers/mobile`: mobile members, their buddy and last contact.
pub(crate) async fn mobile(State(state): State<AppState>, ctx: Ctx) -> Page {
    let basis = resolve(&state, &ctx).await?;
    let lang = ctx.lang;
    let mut rows = ledgers::mobile_contacts(&state.reads, &basis.scope, &basis.rules)
        .await
        .page(&ctx)?;
    rows.sort_by(|a, b| (&a.org_id, &a.member_id).cmp(&(&b.org_id, &b.member_id)));
    let buddies: Vec<String> = rows.iter().filter_map(|r| r.buddy_id.clone()).collect();
    let names = member_names(&state.reads, &basis.scope, &buddies)
        .await
        .page(&ctx)?;
    let mut view = stats_view(&ctx, &state, &basis, "page.mobile", &[], false);
    view.notes.push(format!(
        "{} ({})",
        ctx.t("note.mobile"),
        basis.rules.rules.ledgers.mobile_contact_overdue_days
    ));
    let mut table = Table::new(
        &ctx,
        "mobile",
        ctx.t("page.mobile"),
        &[
            "col.org",
            "col.member_id",
            "col.name",
            "col.since",
            "col.destination",
            "col.buddy",
            "col.last_contact",
            "col.days_since",
            "col.overdue",
        ],
    );
    for r in &rows {
        let href = member_href(&ctx, &r.member_id);
        let buddy = match &r.buddy_id {
            Some(id) => Cell::text(format!(
                "{} ({id})",
                names.get(id).cloned().unwrap_or_default()
            ))
            .link(member_href(&ctx, id)),
            None => Cell::text(""),
        };
        table.rows.push(Row {
            cells: vec![
                Cell::text(basis.orgs.name(&r.org_id)),
                Cell::text(r.member_id.clone()).link(href.clone()),
                Cell::text(r.name.clone()).link(href),
                Cell::date(lang, r.since),
                Cell::text(r.destination.clone().unwrap_or_default()),
                buddy,
                match r.last_contact_on {
                    Some(d) => Cell::date(lang, Some(d)),
                    None => Cell::text(ctx.t("never")),
                },
                r.days_since
                    .map_or_else(|| Cell::text(""), |d| Cell::int(lang, d)),
                overdue_cell(&ctx, r.overdue),
            ],
            class: if r.overdue { "overdue" } else { "" },
        });
    }
    view.tables.push(table);
    respond(&ctx, view)
}

const WISH_COLUMNS: [&str; 6] = [
    "open",
    "claimed",
    "fulfilled",
    "withdrawn",
    "claimed_in_year",
    "fulfilled_in_year",
];

/// `GET /ledgers/wishes`: the micro-wish board, by category and by grid.
pub(crate) async fn wishes(State(state): State<AppState>, ctx: Ctx) -> Page {
    let basis = resolve(&state, &ctx).await?;
    let lang = ctx.lang;
    let board = ledgers::wish_board(&state.reads, &basis.scope)
        .await
        .page(&ctx)?;
    let mut view = stats_view(&ctx, &state, &basis, "page.wishes", &[], false);
    for key in WISH_COLUMNS {
        view.figures.push(Figure {
            label: ctx.t(&format!("col.{key}")).to_owned(),
            value: lang.int(board["totals"][key].as_i64().unwrap_or(0)),
            href: "#grids".to_owned(),
        });
    }
    let headers = |first: &'static str| -> Vec<&'static str> {
        std::iter::once(first)
            .chain(WISH_COLUMNS.iter().map(|k| match *k {
                "open" => "col.open",
                "claimed" => "col.claimed",
                "fulfilled" => "col.fulfilled",
                "withdrawn" => "col.withdrawn",
                "claimed_in_year" => "col.claimed_in_year",
                _ => "col.fulfilled_in_year",
            }))
            .collect()
    };
    let counts = |row: &Json| -> Vec<Cell> {
        WISH_COLUMNS
            .iter()
            .map(|k| Cell::int(lang, row[*k].as_i64().unwrap_or(0)))
            .collect()
    };
    let mut grids = Table::new(
        &ctx,
        "grids",
        ctx.t("note.wish_by_grid"),
        &headers("col.grid"),
    );
    for row in board["by_grid"].as_array().into_iter().flatten() {
        let grid = row["grid_id"].as_str().unwrap_or_default();
        let mut cells = vec![
            Cell::text(format!("{} ({grid})", basis.orgs.name(grid)))
                .link(ctx.link("/ledgers/wishes", &[("org", grid)])),
        ];
        cells.extend(counts(row));
        grids.push(cells);
    }
    let mut categories = Table::new(
        &ctx,
        "categories",
        ctx.t("note.wish_by_category"),
        &headers("col.category"),
    );
    for row in board["by_category"].as_array().into_iter().flatten() {
        let mut cells = vec![Cell::text(
            lang.value("category", row["category"].as_str().unwrap_or_default()),
        )];
        cells.extend(counts(row));
        categories.push(cells);
    }
    view.tables.extend([grids, categories]);
    respond(&ctx, view)
}

fn local_date(text: &str) -> Option<NaiveDate> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|at| at.date_naive())
}

/// `GET /ledgers/classes[?form=]`: the class register in date order.
pub(crate) async fn classes(State(state): State<AppState>, ctx: Ctx) -> Page {
    let basis = resolve(&state, &ctx).await?;
    let lang = ctx.lang;
    let mut classes = ledgers::class_register(&state.reads, &basis.scope)
        .await
        .page(&ctx)?;
    if let Some(form) = ctx.param("form") {
        classes.retain(|c| c.form == form);
    }
    let mut view = stats_view(&ctx, &state, &basis, "page.classes", &["form"], false);
    if let Some(form) = ctx.param("form") {
        view.notes.push(format!(
            "{}: {}",
            ctx.t("filter.form"),
            lang.value("form", form)
        ));
        view.links.push(Link {
            label: format!("{}: {}", ctx.t("filter.form"), ctx.t("filter.any")),
            href: ctx.link("/ledgers/classes", &[]),
        });
    }
    let mut table = Table::new(
        &ctx,
        "classes",
        ctx.t("page.classes"),
        &[
            "col.occurred_at",
            "col.class_id",
            "col.title",
            "col.form",
            "col.organizer",
            "col.venue",
            "col.study_hours",
            "col.attendees",
            "col.voided",
        ],
    );
    for c in &classes {
        let mut id = Cell::text(c.class_id.clone());
        if ctx.reads_log() {
            id = id.link(format!(
                "/log?stream={}",
                enc(&format!("class:{}", c.class_id))
            ));
        }
        let mut when = Cell::date(lang, local_date(&c.occurred_at));
        when.text = lang.timestamp(&c.occurred_at);
        table.rows.push(Row {
            cells: vec![
                when,
                id,
                Cell::text(c.title.clone()),
                Cell::text(lang.value("form", &c.form))
                    .link(ctx.link("/ledgers/classes", &[("form", &c.form)])),
                Cell::text(basis.orgs.name(&c.organizer_org_id)),
                Cell::text(c.venue_id.clone().unwrap_or_default()),
                Cell::num(lang, hours(&c.study_hours)),
                Cell::int(lang, c.attendees),
                Cell::yes_no(lang, c.voided),
            ],
            class: if c.voided { "voided" } else { "" },
        });
    }
    view.tables.push(table);
    respond(&ctx, view)
}

/// `GET /members/{id}[?year=]`: a member's study history (学习档案); every entry opens its
/// stored event.
pub(crate) async fn history(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(member): Path<String>,
) -> Page {
    let basis = resolve(&state, &ctx).await?;
    let lang = ctx.lang;
    let pool = &state.reads;
    if let Some(scope) = &ctx.caller.scope {
        // Personal data: only for a scope covering the member's branch (as the API decides).
        let branch: Option<String> = sqlx::query_scalar(
            "SELECT branch_id FROM rm_member_registry WHERE generation = $1 AND position <= $2 \
               AND member_id = $3 ORDER BY effective_on DESC, position DESC LIMIT 1",
        )
        .bind(basis.scope.generation)
        .bind(basis.scope.as_of)
        .bind(&member)
        .fetch_optional(pool)
        .await
        .page(&ctx)?;
        if !branch.is_some_and(|b| basis.orgs.within(&b, scope.as_str())) {
            return Err(PageError::new(lang, StatusCode::FORBIDDEN));
        }
    }
    let year = ctx.param("year").and_then(|y| y.parse::<i32>().ok());
    let history = query::member_history(
        pool,
        basis.scope.generation,
        basis.scope.as_of,
        &member,
        year,
        basis.anchor,
        &basis.rules,
    )
    .await
    .page(&ctx)?
    .ok_or_else(|| PageError::new(lang, StatusCode::NOT_FOUND))?;
    let names = member_names(pool, &basis.scope, std::slice::from_ref(&member))
        .await
        .page(&ctx)?;
    let mut view = stats_view(&ctx, &state, &basis, "page.history", &[], false);
    view.title = format!(
        "{} · {} ({member})",
        ctx.t("page.history"),
        names.get(&member).cloned().unwrap_or_default()
    );
    let mut years = Table::new(
        &ctx,
        "years",
        ctx.t("note.years"),
        &[
            "col.year",
            "col.credited_hours",
            "col.required_hours",
            "col.reached",
            "col.compliant",
        ],
    );
    for y in &history.years {
        years.push(vec![
            Cell::text(y.year.to_string()).link(ctx.link(
                &format!("/members/{}", enc(&member)),
                &[("org", ""), ("group", ""), ("year", &y.year.to_string())],
            )),
            Cell::num(lang, hours(&y.credited_hours)).link("#entries"),
            Cell::num(lang, hours(&y.required_hours)),
            Cell::yes_no(lang, y.reached),
            Cell::yes_no(lang, y.compliant),
        ]);
    }
    let mut entries = Table::new(
        &ctx,
        "entries",
        ctx.t("note.entries"),
        &[
            "col.occurred_at",
            "col.kind",
            "col.record",
            "col.title",
            "col.study_hours",
            "col.credited",
            "col.voided",
            "col.void_reason",
            "col.position",
        ],
    );
    for e in &history.entries {
        let mut position = Cell::position(e.position);
        if ctx.reads_log() {
            position = position.link(event_href(&e.event_id));
        }
        let mut when = Cell::date(lang, local_date(&e.occurred_at));
        when.text = lang.timestamp(&e.occurred_at);
        entries.rows.push(Row {
            cells: vec![
                when,
                Cell::text(lang.value("kind", &e.kind)),
                Cell::text(e.record_id.clone()),
                Cell::text(e.title.clone()),
                Cell::num(lang, hours(&e.study_hours)),
                Cell::yes_no(lang, e.credited),
                Cell::yes_no(lang, e.voided),
                Cell::text(e.void_reason.clone().unwrap_or_default()),
                position,
            ],
            class: if e.voided { "voided" } else { "" },
        });
    }
    view.tables.extend([years, entries]);
    respond(&ctx, view)
}

/// `GET /status`: the projections' checkpoint, lag and rebuild progress.
pub(crate) async fn status(State(state): State<AppState>, ctx: Ctx) -> Page {
    let lang = ctx.lang;
    let status = engine::status(&state.store).await.page(&ctx)?;
    let live = crate::rules::live(&state).await.page(&ctx)?;
    let head = state.store.head_position().await.page(&ctx)?;
    let mut view = View::new(&ctx, "page.projections");
    let mut table = Table::new(
        &ctx,
        "status",
        ctx.t("page.projections"),
        &["col.title", "col.value"],
    );
    let rebuild = status.rebuild.as_ref().map_or_else(
        || ctx.t("note.rebuild_none").to_owned(),
        |r| {
            format!(
                "#{} · {} / {} · {}",
                r.generation,
                lang.int(r.events_folded),
                lang.int(r.target_events),
                lang.rate(Some(r.progress()))
            )
        },
    );
    let rows: Vec<(&str, Cell)> = vec![
        ("col.projection", Cell::text(status.name)),
        (
            "col.generation",
            Cell::int(lang, i64::from(status.generation)),
        ),
        ("col.checkpoint", Cell::position(status.checkpoint)),
        ("basis.position", Cell::position(head)),
        ("col.lag_events", Cell::int(lang, status.lag_events)),
        (
            "col.lag_seconds",
            Cell::num(lang, status.lag_seconds.max(0.0).round()),
        ),
        (
            "col.updated_at",
            Cell::text(
                status
                    .updated_at
                    .map(|at| lang.datetime(at.with_timezone(&state.tz).fixed_offset()))
                    .unwrap_or_default(),
            ),
        ),
        (
            "basis.rules",
            Cell::text(format!(
                "{} v{} ({})",
                live.id(),
                live.rules.version,
                &live.hash
            )),
        ),
        ("col.rebuild", Cell::text(rebuild)),
    ];
    for (key, cell) in rows {
        table.push(vec![Cell::text(ctx.t(key)), cell]);
    }
    view.tables.push(table);
    respond(&ctx, view)
}

/// `GET /whatif?other=RULES[&changed=1]`: coverage under the page's rule set (the live one by
/// default) and another, per org unit × group, changed cells marked.
pub(crate) async fn whatif(State(state): State<AppState>, ctx: Ctx) -> Page {
    let basis = resolve(&state, &ctx).await?;
    let lang = ctx.lang;
    let other_id = ctx
        .param("other")
        .map(str::to_owned)
        .or_else(|| {
            state
                .stats
                .book
                .ids()
                .find(|id| *id != basis.rules.id())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| basis.rules.id().to_owned());
    let other = state
        .stats
        .book
        .get(&other_id)
        .cloned()
        .ok_or_else(|| PageError::bad_request(lang))?;
    let pool = &state.reads;
    let (mine, theirs) = tokio::try_join!(
        query::coverage(pool, &basis.scope, &basis.rules),
        query::coverage(pool, &basis.scope, &other)
    )
    .page(&ctx)?;
    let only_changed = ctx.param("changed") == Some("1");
    let mut view = stats_view(
        &ctx,
        &state,
        &basis,
        "page.whatif",
        &["other", "changed"],
        false,
    );
    view.notes.push(ctx.t("note.whatif").to_owned());
    let choices: Vec<Link> = state
        .stats
        .book
        .ids()
        .filter(|id| *id != basis.rules.id())
        .map(|id| Link {
            label: format!("{}: {id}", ctx.t("filter.other")),
            href: ctx.here(&[("other", id)]),
        })
        .collect();
    view.links.extend(choices);
    view.links.push(if only_changed {
        Link {
            label: ctx.t("note.show_all").to_owned(),
            href: ctx.here(&[("changed", "")]),
        }
    } else {
        Link {
            label: ctx.t("note.only_changed").to_owned(),
            href: ctx.here(&[("changed", "1")]),
        }
    });
    let live_label = format!("{} v{}", basis.rules.id(), basis.rules.rules.version);
    let other_label = format!("{} v{}", other.id(), other.rules.version);
    let mut table = Table::new(
        &ctx,
        "whatif",
        &format!("{live_label} → {other_label}"),
        &["col.org", "col.org_id", "col.group", "col.in_scope"],
    );
    for h in ["col.reached", "col.compliant"] {
        table.headers.push(format!("{} · {live_label}", ctx.t(h)));
        table.headers.push(format!("{} · {other_label}", ctx.t(h)));
    }
    table.headers.push(ctx.t("col.changed").to_owned());
    let mut changed_cells = 0;
    let order: BTreeMap<&str, usize> = basis
        .orgs
        .subtree(None)
        .iter()
        .enumerate()
        .map(|(i, u)| (u.id.as_str(), i))
        .collect();
    let mut pairs: Vec<(&query::CoverageRow, &query::CoverageRow)> =
        mine.iter().zip(theirs.iter()).collect();
    pairs.sort_by_key(|(a, _)| {
        (
            order.get(a.org_id.as_str()).copied().unwrap_or(usize::MAX),
            GROUPS.iter().position(|g| *g == a.group),
        )
    });
    for (a, b) in pairs {
        let reached_changed = a.reached != b.reached;
        let compliant_changed = a.compliant != b.compliant;
        changed_cells += usize::from(reached_changed) + usize::from(compliant_changed);
        if only_changed && !reached_changed && !compliant_changed {
            continue;
        }
        let mark = |c: Cell, changed: bool| if changed { c.class("num changed") } else { c };
        let gaps = |status: &str, rules: &str| {
            ctx.link(
                &format!("/gaps/{status}"),
                &[("org", &a.org_id), ("group", a.group), ("rules", rules)],
            )
        };
        table.rows.push(Row {
            cells: vec![
                Cell::text(basis.orgs.name(&a.org_id)),
                Cell::text(a.org_id.clone()),
                Cell::text(lang.value("group", a.group)),
                Cell::int(lang, a.in_scope),
                mark(
                    Cell::int(lang, a.reached).link(gaps("unreached", basis.rules.id())),
                    reached_changed,
                ),
                mark(
                    Cell::int(lang, b.reached).link(gaps("unreached", other.id())),
                    reached_changed,
                ),
                mark(
                    Cell::int(lang, a.compliant).link(gaps("noncompliant", basis.rules.id())),
                    compliant_changed,
                ),
                mark(
                    Cell::int(lang, b.compliant).link(gaps("noncompliant", other.id())),
                    compliant_changed,
                ),
                if reached_changed || compliant_changed {
                    Cell::text(format!("● {}", ctx.t("changed"))).class("changed")
                } else {
                    Cell::text("")
                },
            ],
            class: if reached_changed || compliant_changed {
                "changed"
            } else {
                ""
            },
        });
    }
    view.figures.push(Figure {
        label: ctx.t("note.whatif_changed").to_owned(),
        value: lang.int(changed_cells as i64),
        href: ctx.here(&[("changed", "1")]),
    });
    view.tables.push(table);
    respond(&ctx, view)
}

fn auditor(ctx: &Ctx) -> Result<(), PageError> {
    if ctx.reads_log() {
        Ok(())
    } else {
        Err(PageError::new(ctx.lang, StatusCode::FORBIDDEN))
    }
}

const LOG_ROWS: i64 = 100;

/// `GET /log?type=&stream=&from=&after=`: the log for auditors, 100 events a page.
pub(crate) async fn log(State(state): State<AppState>, ctx: Ctx) -> Page {
    auditor(&ctx)?;
    let lang = ctx.lang;
    let pool = &state.reads;
    let event_type = ctx.param("type");
    let stream = ctx.param("stream");
    let mut after: i64 = match ctx.param("after") {
        Some(a) => a.parse().map_err(|_| PageError::bad_request(lang))?,
        None => 0,
    };
    if let Some(from) = ctx.param("from") {
        let day = NaiveDate::parse_from_str(from, "%Y-%m-%d")
            .map_err(|_| PageError::bad_request(lang))?;
        let start = state
            .tz
            .from_local_datetime(&day.and_time(NaiveTime::MIN))
            .earliest()
            .map(|at| at.with_timezone(&chrono::Utc))
            .ok_or_else(|| PageError::bad_request(lang))?;
        let first: Option<i64> = sqlx::query_scalar(
            "SELECT position FROM events WHERE recorded_at >= $1 ORDER BY position LIMIT 1",
        )
        .bind(start)
        .fetch_optional(pool)
        .await
        .page(&ctx)?;
        after = after.max(first.map_or(i64::MAX - 1, |p| p - 1));
    }
    let types = event_type.map(|t| vec![t.to_owned()]);
    let (events, next) = match stream {
        Some(stream) => {
            let mut events = state
                .store
                .read_stream(stream, 0, i64::MAX)
                .await
                .page(&ctx)?;
            events.retain(|e| e.position > after && event_type.is_none_or(|t| e.event_type == t));
            events.truncate(LOG_ROWS as usize);
            let next = (events.len() as i64 == LOG_ROWS).then(|| events.last().map(|e| e.position));
            (events, next.flatten())
        }
        None => {
            let page = state
                .store
                .read_all(after, LOG_ROWS, types.as_deref())
                .await
                .page(&ctx)?;
            let next = (page.events.len() as i64 == LOG_ROWS).then_some(page.next_after);
            (page.events, next)
        }
    };
    let mut view = View::new(&ctx, "page.log");
    view.notes.push(ctx.t("note.log_scope").to_owned());
    view.log_filter = Some(super::LogFilter {
        types: partyedu_domain::Event::TYPES
            .iter()
            .map(|(t, _)| super::Choice {
                value: (*t).to_owned(),
                label: (*t).to_owned(),
                selected: event_type == Some(*t),
            })
            .collect(),
        stream: stream.unwrap_or_default().to_owned(),
        from: ctx.param("from").unwrap_or_default().to_owned(),
        after: ctx.param("after").unwrap_or_default().to_owned(),
    });
    if let Some(next) = next {
        view.links.push(Link {
            label: format!("{} →", ctx.t("list.next")),
            href: ctx.here(&[("after", &next.to_string()), ("from", "")]),
        });
    }
    let mut table = Table::new(
        &ctx,
        "events",
        ctx.t("page.log"),
        &[
            "col.position",
            "col.occurred_at",
            "col.recorded_at",
            "col.stream",
            "col.version",
            "col.type",
            "col.actor",
            "col.event_id",
        ],
    );
    for e in &events {
        let recorded = e.recorded_at.with_timezone(&state.tz).fixed_offset();
        let mut when = Cell::date(lang, Some(recorded.date_naive()));
        when.text = lang.datetime(recorded);
        table.push(vec![
            Cell::position(e.position).link(event_href(&e.event_id)),
            {
                let at = e.occurred_at.with_timezone(&state.tz).fixed_offset();
                let mut cell = Cell::date(lang, Some(at.date_naive()));
                cell.text = lang.datetime(at);
                cell
            },
            when,
            Cell::text(e.stream.clone()).link(format!("/log?stream={}", enc(&e.stream))),
            Cell::int(lang, e.version),
            Cell::text(e.event_type.clone()).link(ctx.here(&[("type", &e.event_type)])),
            Cell::text(e.actor.clone()),
            Cell::text(e.event_id.to_string()).link(event_href(&e.event_id)),
        ]);
    }
    view.tables.push(table);
    respond(&ctx, view)
}

/// `GET /log/events/{id}`: one stored event, as stored.
pub(crate) async fn event(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Page {
    auditor(&ctx)?;
    let lang = ctx.lang;
    let id: uuid::Uuid = id
        .parse()
        .map_err(|_| PageError::new(lang, StatusCode::NOT_FOUND))?;
    let event = state
        .store
        .events_by_id(&[id])
        .await
        .page(&ctx)?
        .into_iter()
        .next()
        .ok_or_else(|| PageError::new(lang, StatusCode::NOT_FOUND))?;
    let mut view = View::new(&ctx, "page.event");
    let record = crate::Record::new(&event, state.tz);
    let mut table = Table::new(
        &ctx,
        "event",
        ctx.t("page.event"),
        &["col.title", "col.value"],
    );
    let rows = [
        ("col.event_id", Cell::text(record.event_id.to_string())),
        ("col.position", Cell::position(record.position)),
        (
            "col.stream",
            Cell::text(record.stream).link(format!("/log?stream={}", enc(record.stream))),
        ),
        ("col.version", Cell::int(lang, record.version)),
        ("col.type", Cell::text(record.event_type)),
        ("col.occurred_at", Cell::text(record.occurred_at.clone())),
        ("col.recorded_at", Cell::text(record.recorded_at.clone())),
        ("col.actor", Cell::text(record.actor)),
    ];
    for (key, cell) in rows {
        table.push(vec![Cell::text(ctx.t(key)), cell]);
    }
    view.tables.push(table);
    let pretty = |raw: &serde_json::value::RawValue| {
        serde_json::from_str::<Json>(raw.get())
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| raw.get().to_owned())
    };
    view.pre
        .push((ctx.t("col.data").to_owned(), pretty(record.data)));
    view.pre
        .push((ctx.t("col.metadata").to_owned(), pretty(record.metadata)));
    view.links.push(Link {
        label: ctx.t("note.record_api").to_owned(),
        href: format!("/api/v1/audit/records/{id}"),
    });
    let data: Json = serde_json::from_str(record.data.get()).unwrap_or_default();
    view.forms = super::forms::corrections(&ctx, record.event_type, &id.to_string(), &data);
    respond(&ctx, view)
}

fn lang_of(headers: &HeaderMap, uri: &Uri) -> Lang {
    let from_query = uri.query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "lang")
            .and_then(|(_, v)| Lang::parse(v))
    });
    from_query
        .or_else(|| {
            headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|kv| kv.trim().split_once('='))
                .find(|(k, _)| *k == LANG_COOKIE)
                .and_then(|(_, v)| Lang::parse(v))
        })
        .unwrap_or(Lang::Zh)
}

/// Only a path on this site: no scheme, no other host.
fn safe_next(next: &str) -> String {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

fn signin_page(lang: Lang, next: &str, error: bool) -> Response {
    let mut view = View::bare(lang, lang.t("page.signin").to_owned());
    view.lang_href = format!("/signin?lang={}&next={}", lang.other().code(), enc(next));
    view.signin = Some(SigninForm {
        next: next.to_owned(),
        error,
    });
    html(&view)
}

/// `GET /signin`: the token form.
pub(crate) async fn signin_form(
    headers: HeaderMap,
    uri: Uri,
    axum::extract::Query(q): axum::extract::Query<BTreeMap<String, String>>,
) -> Response {
    let lang = lang_of(&headers, &uri);
    let next = safe_next(q.get("next").map_or("/", String::as_str));
    let mut response = signin_page(lang, &next, false);
    if q.contains_key("lang") {
        let cookie = format!(
            "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Strict; HttpOnly",
            lang.code()
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

#[derive(Deserialize)]
pub(crate) struct SigninBody {
    token: String,
    next: Option<String>,
}

/// `POST /signin`: checks the token through the API's lookup and keeps it in an HttpOnly,
/// SameSite=Strict cookie.
pub(crate) async fn signin(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Form(body): Form<SigninBody>,
) -> Response {
    let lang = lang_of(&headers, &uri);
    let next = safe_next(body.next.as_deref().unwrap_or("/"));
    let token = body.token.trim();
    let valid = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_graphic())
        && caller_of_token(&state, token).await.is_ok();
    if !valid {
        let mut response = signin_page(lang, &next, true);
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        return response;
    }
    let cookie = format!("{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
    let mut response = Redirect::to(&next).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// `POST /signout`: forgets the token cookie.
pub(crate) async fn signout() -> Response {
    let mut response = Redirect::to("/signin").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("pe_token=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"),
    );
    response
}
