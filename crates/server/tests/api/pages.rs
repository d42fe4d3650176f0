//! The dashboard's pages against a real PostgreSQL: every page renders in both languages,
//! figures equal the JSON API's, scopes hold, user text is escaped, exports are safe and
//! readable.

use crate::fixture::{Api, class, ev};
use crate::statistics::project;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::json;
use sqlx::PgPool;
use tower::ServiceExt;

pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub(crate) async fn send(api: &Api, request: Request<Body>) -> Reply {
    let response = api.app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

/// A page as the holder of token `who` sees it (the token in the sign-in cookie).
pub(crate) async fn page(api: &Api, who: &str, uri: &str) -> Reply {
    let request = Request::builder()
        .uri(uri)
        .header(header::COOKIE, format!("pe_token={}", api.token(who)))
        .body(Body::empty())
        .unwrap();
    send(api, request).await
}

/// The seeded subdistrict, a class MA1 attended, and two members in GB whose names are
/// hostile: one is markup, one a spreadsheet formula.
async fn dashboard(pool: PgPool) -> Api {
    let api = Api::seeded(pool.clone()).await;
    let hostile = |id: &str, name: &str| {
        ev(
            "MemberEnrolled",
            json!({"member_id": id, "name": name, "branch_id": "GB",
                   "membership": "full", "joined_on": "2000-07-01", "enrolled_on": "2020-01-01",
                   "employment": "in_service", "frail": false, "hardship": false}),
        )
    };
    let (status, body) = api
        .post_events(
            "recorder",
            json!({"events": [
                class("C-1", "CA", &["MA1"]),
                hostile("MX1", "<script>alert(1)</script>"),
                hostile("MX2", "=1+1"),
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    project(&pool).await;
    api
}

async fn first_event_id(api: &Api) -> String {
    let (_, body) = api.get("admin", "/api/v1/events?limit=1").await;
    body["events"][0]["event_id"].as_str().unwrap().to_owned()
}

const PAGES: &[&str] = &[
    "/?year=2024",
    "/coverage?year=2024",
    "/coverage?year=2024&org=CA&group=all",
    "/gaps/unreached?year=2024",
    "/gaps/noncompliant?year=2024&group=ordinary",
    "/lectures?year=2024",
    "/ledgers/frail?year=2024",
    "/ledgers/mobile?year=2024",
    "/ledgers/wishes?year=2024",
    "/ledgers/classes?year=2024",
    "/members/MA1",
    "/members/MA1?year=2024",
    "/status",
    "/whatif?year=2024",
    "/whatif?year=2024&changed=1",
    "/log",
    "/log?type=ClassHeld&from=2020-01-01",
    "/log?stream=class:C-1",
];

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn every_page_renders_for_an_admin_in_both_languages(pool: PgPool) {
    let api = dashboard(pool).await;
    let event = format!("/log/events/{}", first_event_id(&api).await);
    let pages: Vec<&str> = PAGES.iter().copied().chain([event.as_str()]).collect();
    for (lang, marker, word) in [
        ("zh-CN", "lang=\"zh-CN\"", "统计"),
        ("en", "lang=\"en\"", "Sign out"),
    ] {
        for path in &pages {
            let sep = if path.contains('?') { '&' } else { '?' };
            let reply = page(&api, "admin", &format!("{path}{sep}lang={lang}")).await;
            let text = reply.text();
            assert_eq!(reply.status, StatusCode::OK, "{path} in {lang}: {text}");
            assert!(text.contains(marker), "{path} is not in {lang}");
            assert!(
                text.contains(word) || *path == "/status",
                "{path} lacks `{word}`"
            );
            assert!(
                !text.contains("⟦missing label⟧"),
                "{path} in {lang} lacks a label"
            );
            let csp = reply.headers[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap();
            assert!(csp.contains("default-src 'self'"), "{csp}");
            assert!(
                text.contains("data-role=\"admin\""),
                "{path} does not say the role"
            );
        }
    }
    // The basis is stated on statistics pages.
    let text = page(&api, "admin", "/coverage?year=2024&lang=en")
        .await
        .text();
    for part in ["cn-2019-hours", "2024", "log position", "whole subdistrict"] {
        assert!(text.contains(part), "basis lacks {part}");
    }
    let css = page(&api, "admin", "/assets/app.css").await;
    assert!(css.text().contains("table-header-group"));
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn signing_in_keeps_the_token_in_a_strict_http_only_cookie(pool: PgPool) {
    let api = dashboard(pool).await;
    // No cookie: to the sign-in form, remembering where.
    let reply = send(
        &api,
        Request::builder()
            .uri("/coverage?year=2024")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let to = reply.headers[header::LOCATION].to_str().unwrap();
    assert!(to.starts_with("/signin?next=%2Fcoverage"), "{to}");
    let form = send(
        &api,
        Request::builder().uri(to).body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.text().contains("name=\"token\""));

    let post = |body: String| {
        Request::builder()
            .method(Method::POST)
            .uri("/signin")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap()
    };
    let bad = send(&api, post("token=pe_nonsense&next=%2F".to_owned())).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(bad.headers.get(header::SET_COOKIE).is_none());

    let good = send(
        &api,
        post(format!(
            "token={}&next=%2Fcoverage%3Fyear%3D2024",
            api.token("viewer")
        )),
    )
    .await;
    assert_eq!(good.status, StatusCode::SEE_OTHER);
    assert_eq!(good.headers[header::LOCATION], "/coverage?year=2024");
    let cookie = good.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with(&format!("pe_token={}", api.token("viewer"))));
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    // Elsewhere than this site is never a place to go back to.
    let away = send(
        &api,
        post(format!(
            "token={}&next=%2F%2Fevil.example",
            api.token("viewer")
        )),
    )
    .await;
    assert_eq!(away.headers[header::LOCATION], "/");

    // The API's header works too; a recorder's token reads no statistics.
    let request = Request::builder()
        .uri("/?year=2024")
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", api.token("auditor")),
        )
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&api, request).await.status, StatusCode::OK);
    assert_eq!(
        page(&api, "recorder", "/").await.status,
        StatusCode::FORBIDDEN
    );

    // Signing out forgets the cookie.
    let out = send(
        &api,
        Request::builder()
            .method(Method::POST)
            .uri("/signout")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(
        out.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );

    // The language is remembered in a cookie.
    let en = page(&api, "viewer", "/?year=2024&lang=en").await;
    let lang_cookie = en.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(lang_cookie.starts_with("pe_lang=en"), "{lang_cookie}");
    let request = Request::builder()
        .uri("/?year=2024")
        .header(
            header::COOKIE,
            format!("pe_token={}; pe_lang=en", api.token("viewer")),
        )
        .body(Body::empty())
        .unwrap();
    assert!(send(&api, request).await.text().contains("lang=\"en\""));
}

/// Parses the exported CSV (after the BOM, title and basis rows) into rows of fields; the
/// fixture's values hold no commas or quotes.
fn csv_rows(reply: &Reply) -> Vec<Vec<String>> {
    let text = reply.text();
    text.trim_start_matches('\u{feff}')
        .lines()
        .skip(2)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn coverage_figures_equal_the_api_and_open_the_members_they_count(pool: PgPool) {
    let api = dashboard(pool).await;
    let (status, body) = api.get("admin", "/api/v1/coverage?year=2024").await;
    assert_eq!(status, StatusCode::OK);
    let export = page(
        &api,
        "admin",
        "/coverage?year=2024&lang=en&format=csv&table=all",
    )
    .await;
    assert_eq!(export.status, StatusCode::OK);
    let rows = csv_rows(&export);
    assert_eq!(
        rows[0][..6],
        [
            "Org unit",
            "Org id",
            "Group",
            "Members",
            "Reached",
            "Reached %"
        ]
    );
    let group_label = |g: &str| match g {
        "all" => "All members",
        "committee" => "Committee members",
        "grid_secretary" => "Grid branch secretaries",
        "frail" => "Frail members",
        "mobile" => "Mobile members",
        _ => "Ordinary members",
    };
    let api_rows = body["rows"].as_array().unwrap();
    assert_eq!(rows.len() - 1, api_rows.len());
    for r in api_rows {
        let org = r["org_id"].as_str().unwrap();
        let group = group_label(r["group"].as_str().unwrap());
        let row = rows
            .iter()
            .find(|row| row[1] == org && row[2] == group)
            .unwrap_or_else(|| panic!("no row {org}/{group}"));
        let n = |i: usize| row[i].parse::<i64>().unwrap();
        assert_eq!(n(3), r["in_scope"].as_i64().unwrap(), "{org}/{group}");
        assert_eq!(n(4), r["reached"].as_i64().unwrap(), "{org}/{group}");
        assert_eq!(n(6), r["compliant"].as_i64().unwrap(), "{org}/{group}");
    }

    // The page shows the same figures, and the gap figure links to its members.
    let html = page(&api, "admin", "/coverage?year=2024&org=SD")
        .await
        .text();
    assert!(html.contains("<svg"), "no chart");
    let link = "href=\"/gaps/unreached?group=all&#38;org=CB&#38;year=2024\"";
    assert!(html.contains(&format!("{link}>3</a>")), "{html}");
    // SD all: 5 members, 1 reached.
    assert!(html.contains("href=\"/gaps/unreached?group=all&#38;org=SD&#38;year=2024\">4</a>"));

    // Following the figure lists exactly as many members, by org and id.
    let gaps = page(
        &api,
        "admin",
        "/gaps/unreached?group=all&org=CB&year=2024&format=csv",
    )
    .await;
    let listed = csv_rows(&gaps);
    let ids: Vec<&str> = listed[1..].iter().map(|r| r[2].as_str()).collect();
    assert_eq!(ids, ["MB1", "MX1", "MX2"]);
    // And a member's hours open the history, whose records open their stored events.
    let gap_html = page(&api, "admin", "/gaps/noncompliant?year=2024&org=CA")
        .await
        .text();
    assert!(
        gap_html.contains("href=\"/members/MA1?year=2024\">2.5</a>"),
        "{gap_html}"
    );
    let history = page(&api, "admin", "/members/MA1?year=2024").await.text();
    assert!(history.contains("href=\"/log/events/"), "{history}");
    assert!(history.contains("专题培训"));
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn a_scoped_viewer_sees_only_its_subtree(pool: PgPool) {
    let api = dashboard(pool).await;
    for path in PAGES.iter().filter(|p| !p.starts_with("/log")) {
        let reply = page(&api, "viewer-ca", path).await;
        let text = reply.text();
        assert_eq!(reply.status, StatusCode::OK, "{path}: {text}");
        for outside in ["CB 名称", "GB 名称", "MB1", "MX1", "党员MB1"] {
            assert!(!text.contains(outside), "{path} shows {outside}");
        }
        assert!(
            text.contains("data-scope>CA<"),
            "{path} does not say the scope"
        );
        assert!(!text.contains("href=\"/log\""), "{path} offers the log");
    }
    let csv = page(
        &api,
        "viewer-ca",
        "/coverage?year=2024&format=csv&table=all",
    )
    .await;
    assert!(!csv.text().contains("CB"), "{}", csv.text());
    for path in [
        "/log",
        "/log?stream=member:MA1",
        "/log/events/00000000-0000-0000-0000-000000000000",
        "/coverage?year=2024&org=CB",
        "/members/MB1",
    ] {
        assert_eq!(
            page(&api, "viewer-ca", path).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    // A scoped auditor does not read the log either.
    assert_eq!(
        page(&api, "auditor-ca", "/log").await.status,
        StatusCode::FORBIDDEN
    );
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn user_text_is_escaped_and_exports_are_guarded(pool: PgPool) {
    let api = dashboard(pool).await;
    let html = page(&api, "admin", "/gaps/unreached?year=2024")
        .await
        .text();
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
            || html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{html}"
    );
    assert!(!html.contains("<script>alert(1)"));

    let csv = page(&api, "admin", "/gaps/unreached?year=2024&format=csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(&csv.body[..3], b"\xEF\xBB\xBF");
    let text = csv.text();
    assert!(text.contains(",'=1+1,"), "{text}");
    assert!(!text.contains(",=1+1"));
    assert!(
        text.contains("cn-2019-hours"),
        "the basis is in the header rows"
    );
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn xlsx_reads_back_with_headers_in_the_page_language(pool: PgPool) {
    use calamine::{Data, Reader, Xlsx};
    let api = dashboard(pool).await;
    for (lang, headers) in [
        ("zh-CN", ["组织", "组织编号", "党员编号", "姓名"]),
        ("en", ["Org unit", "Org id", "Member id", "Name"]),
    ] {
        let reply = page(
            &api,
            "admin",
            &format!("/gaps/unreached?year=2024&format=xlsx&lang={lang}"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK);
        let mut book: Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(reply.body)).unwrap();
        let range = book.worksheet_range("members").unwrap();
        let cell = |r: u32, c: u32| range.get_value((r, c)).cloned().unwrap_or(Data::Empty);
        assert!(matches!(cell(1, 0), Data::String(s) if s.contains("cn-2019-hours")));
        for (c, h) in headers.iter().enumerate() {
            assert_eq!(cell(2, c as u32), Data::String((*h).to_owned()));
        }
        let ids: Vec<Data> = (3..range.end().unwrap().0 + 1)
            .map(|r| cell(r, 2))
            .collect();
        assert!(ids.contains(&Data::String("MX2".to_owned())));
        let names: Vec<Data> = (3..range.end().unwrap().0 + 1)
            .map(|r| cell(r, 3))
            .collect();
        // The formula name is text, not a formula.
        assert!(
            names.contains(&Data::String("=1+1".to_owned())),
            "{names:?}"
        );
    }
    // Dates are dates.
    let frail = page(&api, "admin", "/ledgers/classes?year=2024&format=xlsx").await;
    let mut book: Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(frail.body)).unwrap();
    let range = book.worksheet_range("classes").unwrap();
    assert!(
        matches!(range.get_value((3, 0)), Some(Data::DateTime(_))),
        "{:?}",
        range.get_value((3, 0))
    );
}

/// What a reply holds as text: the body, or every cell of every sheet of an XLSX.
fn readable(reply: &Reply) -> String {
    use calamine::{Reader, Xlsx};
    if !reply.body.starts_with(b"PK") {
        return reply.text();
    }
    let mut book: Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(reply.body.clone())).unwrap();
    let mut text = String::new();
    for name in book.sheet_names() {
        let range = book.worksheet_range(&name).unwrap();
        for cell in range.cells() {
            text.push_str(&cell.2.to_string());
            text.push('\n');
        }
    }
    text
}

/// The export links (CSV and XLSX of each table) a page offers.
fn exports(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|href| href.replace("&#38;", "&").replace("&amp;", "&"))
        .filter(|href| href.contains("format=csv") || href.contains("format=xlsx"))
        .collect()
}

/// Role × page × scope, exports included: each token reaches what its role allows and nothing
/// else, a scoped token sees nothing outside its subtree on any page or in any spreadsheet, and
/// without a token every page sends to the sign-in.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn every_page_and_export_by_role_and_scope(pool: PgPool) {
    let api = dashboard(pool).await;
    let event = format!("/log/events/{}", first_event_id(&api).await);
    let outside_pages = ["/coverage?year=2024&org=CB", "/members/MB1"];
    let record_pages = ["/record", "/record/upload", "/record/class"];
    let mut pages: Vec<&str> = PAGES.to_vec();
    pages.push(&event);
    pages.extend(outside_pages);
    pages.extend(record_pages);
    let tokens = [
        "admin",
        "recorder",
        "recorder-ca",
        "viewer",
        "viewer-ca",
        "auditor",
        "auditor-ca",
    ];
    let (mut requests, mut exported, mut escapes) = (0, 0, Vec::new());
    for who in tokens {
        let scoped = who.ends_with("-ca");
        let role = who.trim_end_matches("-ca");
        for path in &pages {
            let expected = if record_pages.contains(path) {
                matches!(role, "admin" | "recorder")
            } else if path.starts_with("/log") {
                matches!(role, "admin" | "auditor") && !scoped
            } else if outside_pages.contains(path) {
                role != "recorder" && !scoped
            } else {
                role != "recorder"
            };
            let reply = page(&api, who, path).await;
            requests += 1;
            let want = if expected {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            if reply.status != want {
                escapes.push(format!("{who} {path}: {} (want {want})", reply.status));
                continue;
            }
            let mut replies = vec![(path.to_string(), reply)];
            if expected {
                for href in exports(&replies[0].1.text()) {
                    let export = page(&api, who, &href).await;
                    requests += 1;
                    exported += 1;
                    if export.status != StatusCode::OK {
                        escapes.push(format!("{who} {href}: {}", export.status));
                    }
                    replies.push((href, export));
                }
            }
            if scoped {
                for (uri, reply) in &replies {
                    let text = readable(reply);
                    for outside in ["CB 名称", "GB 名称", "MB1", "MX1", "党员MB1"] {
                        if text.contains(outside) {
                            escapes.push(format!("{who} {uri} shows {outside}"));
                        }
                    }
                }
            }
        }
    }
    for path in &pages {
        let request = axum::http::Request::builder()
            .uri(*path)
            .body(Body::empty())
            .unwrap();
        let reply = send(&api, request).await;
        requests += 1;
        if reply.status != StatusCode::SEE_OTHER
            || !reply.headers[header::LOCATION]
                .to_str()
                .unwrap()
                .starts_with("/signin")
        {
            escapes.push(format!("no token, {path}: {}", reply.status));
        }
    }
    assert!(exported > 50, "only {exported} exports offered");
    // The figure BENCHMARKS.md records (cargo nextest run --no-capture shows it).
    eprintln!(
        "role × page × scope: {requests} requests, {exported} exports, {} escapes",
        escapes.len()
    );
    assert!(escapes.is_empty(), "{escapes:#?}");
}
