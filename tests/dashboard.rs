//! The dashboard in headless Chromium, driven through chromedriver (Debian's `chromium` and
//! `chromium-driver`; no browser is downloaded): the real binary serves a small subdistrict,
//! the browser signs in, checks the coverage figure against the API's, follows it to the
//! members and a member to a stored event, switches the language, fetches an XLSX and reads it
//! back, saves a screenshot of every page (under the target directory's `tmp/dashboard/`), and
//! fails on any request that is not to 127.0.0.1. Skipped, saying so, when chromedriver or
//! chromium is missing.

mod common;

use common::Server;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::{Client, ClientBuilder, Locator};
use partyedu_server::auth::{Role, create_token};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1366,1000",
];

fn found(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_driver(chromedriver: &Path) -> (Driver, String) {
    let port = free_port();
    let driver = Driver(
        Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if reqwest::get(format!("{url}/status")).await.is_ok() {
            return (driver, url);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer on {url}");
}

fn events() -> Value {
    let org = |id: &str, name: &str, kind: &str, parent: Option<&str>| {
        json!({"type": "OrgUnitEstablished", "data": {"org_id": id, "name": name, "kind": kind,
               "parent_id": parent, "established_on": "2019-01-01"}})
    };
    let member = |id: &str, name: &str, branch: &str| {
        json!({"type": "MemberEnrolled", "data": {"member_id": id, "name": name,
               "branch_id": branch, "membership": "full", "joined_on": "2000-07-01",
               "enrolled_on": "2020-01-01", "employment": "in_service", "frail": false,
               "hardship": false}})
    };
    json!({"events": [
        org("SD", "浮山新区街道", "subdistrict", None),
        org("CA", "浮山后一社区", "community", Some("SD")),
        org("CB", "浮山后二社区", "community", Some("SD")),
        org("GA", "第一网格党支部", "grid_branch", Some("CA")),
        org("GB", "第二网格党支部", "grid_branch", Some("CB")),
        member("MA1", "张伟", "GA"),
        member("MA2", "王芳", "GA"),
        member("MB1", "李娜", "GB"),
        {"type": "VenueOpened", "data": {"venue_id": "V1", "name": "街道党校",
         "kind": "party_school", "org_id": "SD", "opened_on": "2019-01-01"}},
        {"type": "ClassHeld", "data": {"class_id": "C-1", "title": "专题培训",
         "form": "concentrated", "organizer_org_id": "CA", "venue_id": "V1",
         "starts_at": "2024-03-05T09:00:00+08:00", "duration_minutes": 120, "study_hours": 2.5,
         "lecturer_ids": [], "attendee_ids": ["MA1"]}},
    ]})
}

/// Every request the page made (navigation and resources) went to `base`.
async fn only_loopback(client: &Client, base: &str) {
    let names = client
        .execute(
            "return [location.href].concat(performance.getEntriesByType('resource').map(e => e.name));",
            vec![],
        )
        .await
        .unwrap();
    for name in names.as_array().unwrap() {
        let name = name.as_str().unwrap();
        assert!(
            name.starts_with(base) || name.starts_with("data:") || name == "about:blank",
            "a request left the host: {name}"
        );
    }
}

/// The page's own accessibility checks (no axe-core: nothing is downloaded): the document says
/// its language; every form control has a label, every link and button a name, every table a
/// name, every chart a text alternative; no positive `tabindex` reorders the keyboard's path.
async fn labelled(client: &Client, path: &str) {
    let problems = client
        .execute(
            "const name = e => (e.getAttribute('aria-label') || e.textContent || e.title || '').trim();
             const named = e => name(e) || e.getAttribute('aria-labelledby');
             return [].concat(
               document.documentElement.lang ? [] : ['html without lang'],
               [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                 .filter(e => !(e.labels && e.labels.length) && !e.closest('label'))
                 .map(e => 'control without a label: ' + e.name),
               [...document.querySelectorAll('a[href], button')]
                 .filter(e => !named(e) && !e.querySelector('img[alt], svg[aria-label]'))
                 .map(e => 'link or button without a name: ' + e.outerHTML.slice(0, 80)),
               [...document.querySelectorAll('table')]
                 .filter(e => !e.caption && !e.getAttribute('aria-label')
                              && !e.closest('section[aria-labelledby]'))
                 .map(e => 'table without a name: ' + e.outerHTML.slice(0, 80)),
               [...document.querySelectorAll('svg, img')]
                 .filter(e => !e.closest('a, button') || e.tagName === 'IMG')
                 .filter(e => e.getAttribute('aria-hidden') !== 'true')
                 .filter(e => !(e.getAttribute('aria-label') || e.getAttribute('alt')
                                || e.querySelector('title') || e.getAttribute('aria-labelledby')))
                 .map(e => 'chart without a text alternative: ' + e.outerHTML.slice(0, 80)),
               [...document.querySelectorAll('[tabindex]')]
                 .filter(e => parseInt(e.getAttribute('tabindex'), 10) > 0)
                 .map(e => 'positive tabindex: ' + e.outerHTML.slice(0, 80)),
             );",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(problems, json!([]), "{path}: accessibility");
}

/// On a page just opened, the first Tab lands on the skip link to the content.
async fn first_tab_skips_to_main(client: &Client, path: &str) {
    let tab = '\u{E004}';
    client
        .perform_actions(
            KeyActions::new("keyboard".to_owned())
                .then(KeyAction::Down { value: tab })
                .then(KeyAction::Up { value: tab }),
        )
        .await
        .unwrap();
    let focused = client
        .execute(
            "const e = document.activeElement; return e.matches('a.skip[href=\"#main\"]')
               && !!document.getElementById('main');",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        focused,
        json!(true),
        "{path}: the first Tab is not the skip link to #main"
    );
}

async fn shoot(client: &Client, dir: &Path, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

async fn cells(client: &Client, selector: &str) -> Vec<String> {
    let script = format!(
        "return [...document.querySelector('{selector}').cells].map(c => c.textContent.trim());"
    );
    serde_json::from_value(client.execute(&script, vec![]).await.unwrap()).unwrap()
}

/// chromedriver and chromium, or `None` (saying so) when missing outside CI.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let (Some(chromedriver), Some(chromium)) = (
        found("chromedriver"),
        found("chromium").or_else(|| found("chromium-browser")),
    ) else {
        // CI installs them (.ci/run), so there a missing browser is a failure, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "the browser test needs Debian's chromium and chromium-driver"
        );
        eprintln!("skipped: the browser test needs Debian's chromium and chromium-driver");
        return None;
    };
    Some((chromedriver, chromium))
}

/// A headless Chromium session, and the directory for its screenshots.
async fn session(chromedriver: &Path, chromium: &Path) -> (Driver, Client, PathBuf) {
    let (driver, driver_url) = start_driver(chromedriver).await;
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        json!({"binary": chromium, "args": FLAGS}),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver_url)
        .await
        .expect("a chromium session");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&shots).unwrap();
    (driver, client, shots)
}

#[partyedu_testkit::db_test(migrations = false)]
async fn the_dashboard_in_headless_chromium(pool: PgPool) {
    let Some((chromedriver, chromium)) = browser() else {
        return;
    };
    let server = Server::start(&partyedu_testkit::database_url(&pool));
    let base = server.base_url.clone();
    let token = create_token(&pool, "browser", Role::Admin, None, "test")
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let api = |path: &str| {
        http.get(format!("{base}{path}"))
            .header("authorization", format!("Bearer {token}"))
    };
    let stored = http
        .post(format!("{base}/api/v1/events"))
        .header("authorization", format!("Bearer {token}"))
        .json(&events())
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 201);
    let head: i64 = sqlx::query_scalar("SELECT max(position) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    let coverage: Value = api(&format!("/api/v1/coverage?year=2024&min_position={head}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sd = coverage["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["org_id"] == "SD" && r["group"] == "all")
        .unwrap()
        .clone();

    let (_driver, client, shots) = session(&chromedriver, &chromium).await;

    // Signing in.
    client
        .goto(&format!("{base}/coverage?year=2024"))
        .await
        .unwrap();
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/signin")
    );
    labelled(&client, "/signin").await;
    shoot(&client, &shots, "signin").await;
    client
        .find(Locator::Css("input[name=token]"))
        .await
        .unwrap()
        .send_keys(&token)
        .await
        .unwrap();
    client
        .find(Locator::Css("form.signin button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(client.current_url().await.unwrap().path(), "/coverage");

    // The coverage figures equal the API's.
    let row = cells(&client, "section[aria-labelledby=units] tbody tr.current").await;
    assert_eq!(row[1], "SD");
    assert_eq!(row[2], sd["in_scope"].to_string());
    assert_eq!(row[3], sd["reached"].to_string());
    assert_eq!(row[5], sd["compliant"].to_string());
    only_loopback(&client, &base).await;
    shoot(&client, &shots, "coverage").await;

    // The not-reached figure opens exactly the members it counts.
    let unreached = sd["in_scope"].as_i64().unwrap() - sd["reached"].as_i64().unwrap();
    client
        .find(Locator::Css(
            "section[aria-labelledby=units] tbody tr.current td:nth-child(8) a",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(
        client.current_url().await.unwrap().path(),
        "/gaps/unreached"
    );
    let listed = client
        .find_all(Locator::Css("section[aria-labelledby=members] tbody tr"))
        .await
        .unwrap();
    assert_eq!(listed.len() as i64, unreached);

    // A member's hours open the history, and a record its stored event.
    client
        .goto(&format!("{base}/gaps/noncompliant?year=2024&org=CA"))
        .await
        .unwrap();
    client
        .find(Locator::Css("a[href='/members/MA1?year=2024']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(client.current_url().await.unwrap().path(), "/members/MA1");
    shoot(&client, &shots, "history").await;
    client
        .find(Locator::Css(
            "section[aria-labelledby=entries] tbody a[href^='/log/events/']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(
        client
            .source()
            .await
            .unwrap()
            .contains("\"class_id\": \"C-1\"")
    );
    shoot(&client, &shots, "event").await;

    // Switching the language, remembered on the next page.
    client.goto(&format!("{base}/?year=2024")).await.unwrap();
    client
        .find(Locator::Css("a.lang"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .goto(&format!("{base}/lectures?year=2024"))
        .await
        .unwrap();
    let lang = client
        .execute("return document.documentElement.lang;", vec![])
        .await
        .unwrap();
    assert_eq!(lang, json!("en"));
    assert!(client.source().await.unwrap().contains("Sign out"));

    // An XLSX fetched by the page reads back with English headers.
    let bytes = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/gaps/unreached?year=2024&format=xlsx')
               .then(r => r.arrayBuffer())
               .then(b => done(Array.from(new Uint8Array(b))));",
            vec![],
        )
        .await
        .unwrap();
    let bytes: Vec<u8> = serde_json::from_value(bytes).unwrap();
    use calamine::{Data, Reader, Xlsx};
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let range = book.worksheet_range("members").unwrap();
    assert_eq!(
        range.get_value((2, 2)),
        Some(&Data::String("Member id".to_owned()))
    );

    // Every page, in both languages: labelled controls, nothing from elsewhere, a screenshot.
    let event_id: String =
        sqlx::query_scalar("SELECT event_id::text FROM events ORDER BY position LIMIT 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    let pages = [
        ("overview", "/?year=2024".to_owned()),
        ("coverage-ca", "/coverage?year=2024&org=CA".to_owned()),
        ("unreached", "/gaps/unreached?year=2024".to_owned()),
        ("noncompliant", "/gaps/noncompliant?year=2024".to_owned()),
        ("lectures", "/lectures?year=2024".to_owned()),
        ("frail", "/ledgers/frail?year=2024".to_owned()),
        ("mobile", "/ledgers/mobile?year=2024".to_owned()),
        ("wishes", "/ledgers/wishes?year=2024".to_owned()),
        ("classes", "/ledgers/classes?year=2024".to_owned()),
        ("history-ma1", "/members/MA1".to_owned()),
        ("status", "/status".to_owned()),
        ("whatif", "/whatif?year=2024".to_owned()),
        ("log", "/log".to_owned()),
        ("event-first", format!("/log/events/{event_id}")),
    ];
    for lang in ["zh-CN", "en"] {
        for (name, path) in &pages {
            let sep = if path.contains('?') { '&' } else { '?' };
            client
                .goto(&format!("{base}{path}{sep}lang={lang}"))
                .await
                .unwrap();
            first_tab_skips_to_main(&client, path).await;
            let title = client
                .find(Locator::Css("h1"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(!title.is_empty(), "{path}: no title");
            assert!(!client.source().await.unwrap().contains("⟦missing label⟧"));
            labelled(&client, path).await;
            only_loopback(&client, &base).await;
            shoot(&client, &shots, &format!("{name}.{lang}")).await;
        }
    }
    // Signing out.
    client
        .find(Locator::Css("form.signout button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client.goto(&format!("{base}/")).await.unwrap();
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/signin")
    );
    client.close().await.unwrap();
    drop(server);
}

async fn event_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Sets the class form's fields (as typing them would) and submits it, `clicks` times at once.
async fn submit_class(client: &Client, hours: &str, attendees: &str, clicks: usize) {
    let script = "
        const [hours, attendees, clicks] = arguments;
        const form = document.querySelector('form.record');
        const set = (name, value) => { form.elements[name].value = value; };
        set('title', '党的二十届三中全会精神专题班');
        set('form', 'concentrated');
        set('venue_id', 'V1');
        set('organizer_org_id', 'CA');
        set('starts_at', '2024-04-10T09:00');
        set('duration_minutes', '180');
        set('study_hours', hours);
        set('attendee_ids', attendees);
        const button = form.querySelector('button[type=submit]');
        for (let i = 0; i < clicks; i++) button.click();
        return true;";
    client
        .execute(script, vec![json!(hours), json!(attendees), json!(clicks)])
        .await
        .unwrap();
}

/// Waits for the page after a submit: one with `selector`.
async fn wait_for(client: &Client, selector: &str) {
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("no {selector}: {e}"));
}

/// Recording in the browser: a class with 30 attendees pasted as names; a bad value is shown at
/// its field and stores nothing; a double submit stores once; the class is in the coverage and
/// in a member's history, read at its position.
#[partyedu_testkit::db_test(migrations = false)]
async fn recording_a_class_in_headless_chromium(pool: PgPool) {
    let Some((chromedriver, chromium)) = browser() else {
        return;
    };
    let server = Server::start(&partyedu_testkit::database_url(&pool));
    let base = server.base_url.clone();
    let token = create_token(&pool, "browser", Role::Admin, None, "test")
        .await
        .unwrap();
    let mut batch = events();
    let names: Vec<String> = (1..=30).map(|i| format!("学员{i:02}")).collect();
    for (i, name) in names.iter().enumerate() {
        batch["events"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "MemberEnrolled", "data": {
            "member_id": format!("MN{:02}", i + 1), "name": name, "branch_id": "GA",
            "membership": "full", "joined_on": "2000-07-01", "enrolled_on": "2020-01-01",
            "employment": "in_service", "frail": false, "hardship": false}}));
    }
    let stored = reqwest::Client::new()
        .post(format!("{base}/api/v1/events"))
        .header("authorization", format!("Bearer {token}"))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 201);
    let before = event_count(&pool).await;
    // The form's organisers and branches come from the read models: read them at the log's
    // head, as a page opened after recording does.
    let head: i64 = sqlx::query_scalar("SELECT max(position) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();

    let (_driver, client, shots) = session(&chromedriver, &chromium).await;
    client
        .goto(&format!("{base}/record/class?lang=en&min_position={head}"))
        .await
        .unwrap();
    client
        .find(Locator::Css("input[name=token]"))
        .await
        .unwrap()
        .send_keys(&token)
        .await
        .unwrap();
    client
        .find(Locator::Css("form.signin button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&client, "form.record").await;
    labelled(&client, "/record/class").await;
    shoot(&client, &shots, "record-class").await;
    let pasted = names.join("\n");

    // Attendees found without script: a search typed and run, two of its matches ticked and
    // added to the list; Enter in the search field searches too, storing nothing.
    let attendees = "return document.querySelector('[name=attendee_ids]').value;";
    client
        .find(Locator::Css("input[name=member_q]"))
        .await
        .unwrap()
        .send_keys("学员0")
        .await
        .unwrap();
    client
        .find(Locator::Css("button[name=do][value=search]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&client, "fieldset.matches").await;
    let ticks = client
        .find_all(Locator::Css("input[name=pick_member]"))
        .await
        .unwrap();
    assert_eq!(ticks.len(), 9, "学员01…09");
    ticks[0].clone().click().await.unwrap();
    ticks[1].clone().click().await.unwrap();
    client
        .find(Locator::Css("button[name=do][value=pick]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let mut listed = json!("");
    for _ in 0..100 {
        listed = client.execute(attendees, vec![]).await.unwrap();
        if listed != json!("") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(listed, json!("MN01\nMN02"));
    client
        .find(Locator::Css("input[name=member_q]"))
        .await
        .unwrap()
        .send_keys("学员3\u{E007}")
        .await
        .unwrap();
    wait_for(&client, "fieldset.matches").await;
    let ticks = client
        .find_all(Locator::Css("input[name=pick_member]"))
        .await
        .unwrap();
    assert_eq!(ticks.len(), 1, "学员30");
    assert_eq!(client.execute(attendees, vec![]).await.unwrap(), listed);
    shoot(&client, &shots, "record-class-search").await;
    assert_eq!(event_count(&pool).await, before);

    // A bad value: shown at its field, in the page's language; nothing stored.
    submit_class(&client, "0", &pasted, 1).await;
    wait_for(&client, "[data-field=study_hours] ul.error").await;
    let error = client
        .find(Locator::Css("[data-field=study_hours] ul.error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(error.contains("Refused"), "{error}");
    let invalid = client
        .execute(
            "return document.querySelector('[name=study_hours]').getAttribute('aria-invalid');",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(invalid, json!("true"));
    shoot(&client, &shots, "record-class-refused").await;
    assert_eq!(event_count(&pool).await, before);

    // Fixed and double-clicked: stored once.
    submit_class(&client, "3", &pasted, 2).await;
    wait_for(&client, "section[aria-labelledby=stored]").await;
    shoot(&client, &shots, "record-class-stored").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(event_count(&pool).await, before + 1);

    // Its coverage, read at its position: SD's reached are MA1 (C-1) and the 30.
    let coverage = client
        .find(Locator::Css("ul.links a[href^='/coverage']"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(coverage.contains("min_position="), "{coverage}");
    let history = client
        .find(Locator::Css("ul.links a[href^='/members/MN17']"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    client.goto(&format!("{base}{coverage}")).await.unwrap();
    let row = cells(&client, "section[aria-labelledby=units] tbody tr.current").await;
    assert_eq!(row[1], "SD");
    assert_eq!(row[3], "31", "{row:?}");
    shoot(&client, &shots, "record-class-coverage").await;
    client.goto(&format!("{base}{history}")).await.unwrap();
    let text = client
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("党的二十届三中全会精神专题班"), "{text}");
    only_loopback(&client, &base).await;
    client.close().await.unwrap();
    drop(server);
}
