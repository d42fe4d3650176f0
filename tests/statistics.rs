//! Every statistic equals what the independent oracle (`crates/figures`, a plain fold written
//! from CONTRACT §4) computes from the same log: on hand-checked scenarios and on generated
//! histories of several seeds, under both shipped rule sets, now and as of earlier positions;
//! and every figure answered with evidence is what the oracle recomputes, evidence included.

mod oracle;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use chrono::{Datelike, NaiveDate};
use oracle::{Rules, normalize_numbers};
use partyedu_projections::Projector;
use partyedu_server::auth::{Role, create_token};
use partyedu_server::recorder::Recorder;
use partyedu_server::transfer::{export, import};
use partyedu_server::{AppState, Limits, Stats};
use partyedu_store::EventStore;
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt;

const TZ: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

struct Harness {
    app: Router,
    pool: PgPool,
    token: String,
}

impl Harness {
    async fn new(pool: PgPool) -> Self {
        let store = EventStore::new(pool.clone());
        let token = create_token(&pool, "oracle", Role::Admin, None, "test")
            .await
            .unwrap();
        // A key, so that answers with evidence can carry a signed checkpoint.
        let signer = partyedu_audit::Signer::generate("partyedu/test").unwrap();
        let state = AppState::new(store, TZ, Limits::default(), Stats::shipped()).with_audit(
            partyedu_server::audit::AuditKey::new(signer, "partyedu/test"),
        );
        Self {
            app: partyedu_server::app(state),
            pool,
            token,
        }
    }

    async fn send(&self, request: Request<Body>) -> Value {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(status.is_success(), "{status}: {body}");
        body
    }

    async fn get(&self, uri: &str) -> Value {
        let request = Request::get(uri)
            .header("authorization", format!("Bearer {}", self.token))
            .body(Body::empty())
            .unwrap();
        self.send(request).await
    }

    async fn post(&self, body: Value) {
        let request = Request::post("/api/v1/events")
            .header("authorization", format!("Bearer {}", self.token))
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(request).await;
    }

    /// Folds the whole log, then returns it as exported records (with their real positions).
    async fn project_and_export(&self) -> Vec<Value> {
        let store = EventStore::new(self.pool.clone());
        let generation = partyedu_projections::ensure_projection(&store)
            .await
            .unwrap();
        let mut projector = Projector::new(store.clone(), TZ, generation).await.unwrap();
        let head = store.head_position().await.unwrap();
        while projector.position() < head {
            projector.catch_up().await.unwrap();
        }
        let mut out = Vec::new();
        export(&store, 0, None, TZ, &mut out).await.unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn today() -> NaiveDate {
    chrono::Utc::now().with_timezone(&TZ).date_naive()
}

fn reference(year: i32) -> oracle::Date {
    let d = partyedu_projections::query::reference_date(year, today());
    (d.year(), d.month(), d.day())
}

fn same(what: &str, actual: &Value, expected: &Value) {
    let (a, e) = (normalize_numbers(actual), normalize_numbers(expected));
    if a != e {
        panic!(
            "{what} differs from the oracle\n  api:    {}\n  oracle: {}",
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&e).unwrap()
        );
    }
}

/// Compares every statistic for one org subtree and year, as of `as_of` (or now).
async fn compare(h: &Harness, records: &[Value], org: Option<&str>, year: i32, as_of: Option<i64>) {
    let mut query = format!("year={year}");
    if let Some(org) = org {
        query += &format!("&org={org}");
    }
    if let Some(position) = as_of {
        query += &format!("&as_of_position={position}");
    }
    // An as-of answer's reference date comes from the as-of point: only past years are
    // compared as of, where it is 31 December either way.
    let reference = reference(year);
    for (rules, id) in [
        (Rules::Cn2019Hours, "cn-2019-hours"),
        (Rules::ReachAll, "reach-all"),
    ] {
        let what = format!("{id} {year} org={org:?} as_of={as_of:?}");
        let body = h.get(&format!("/api/v1/coverage?{query}&rules={id}")).await;
        let expected = oracle::coverage(records, year, org, rules, reference, as_of);
        same(&format!("coverage {what}"), &body["rows"], &json!(expected));
        for status in ["unreached", "noncompliant"] {
            let body = h
                .get(&format!(
                    "/api/v1/coverage/members?{query}&rules={id}&status={status}"
                ))
                .await;
            let expected =
                oracle::coverage_members(records, year, org, rules, reference, as_of, status);
            same(
                &format!("{status} members {what}"),
                &body["members"],
                &json!(expected),
            );
        }
    }
    let body = h.get(&format!("/api/v1/lectures/tallies?{query}")).await;
    let expected = oracle::lecture_tallies(records, year, org, reference, as_of);
    same(
        &format!("lecture tallies {year} org={org:?}"),
        &json!({"speakers": body["speakers"], "totals": body["totals"], "missing": body["missing"]}),
        &expected,
    );
}

async fn compare_histories(h: &Harness, records: &[Value], members: &[String]) {
    let t = today();
    for member in members {
        let body = h.get(&format!("/api/v1/members/{member}/history")).await;
        let expected = oracle::member_history(
            records,
            member,
            None,
            Rules::Cn2019Hours,
            (t.year(), t.month(), t.day()),
            None,
        )
        .expect("the oracle knows the member");
        same(
            &format!("history of {member}"),
            &json!({"entries": body["entries"], "years": body["years"]}),
            &expected,
        );
    }
}

fn members_of(records: &[Value], prefix: &str) -> Vec<String> {
    records
        .iter()
        .filter(|r| r["type"] == "MemberEnrolled")
        .map(|r| r["data"]["member_id"].as_str().unwrap().to_owned())
        .filter(|m| m.starts_with(prefix))
        .collect()
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn hand_checked_scenarios_match_the_oracle(pool: PgPool) {
    let h = Harness::new(pool).await;
    let scenarios = oracle::scenarios::all();
    for (_, records) in &scenarios {
        h.post(oracle::scenarios::as_post_events(records)).await;
    }
    let log = h.project_and_export().await;
    for (name, _) in &scenarios {
        let org = format!("{name}-SD");
        for year in [2023, 2024, 2025, today().year()] {
            compare(&h, &log, Some(&org), year, None).await;
        }
        compare_histories(&h, &log, &members_of(&log, &format!("{name}-"))).await;
    }
    // As of every position of scenario j (a void and what came before it).
    let positions: Vec<i64> = log
        .iter()
        .filter(|r| r["stream"].as_str().is_some())
        .map(|r| r["position"].as_i64().unwrap())
        .collect();
    for position in positions.iter().rev().take(6) {
        compare(&h, &log, Some("j-SD"), 2024, Some(*position)).await;
    }
}

/// A generated history of `members` over two years, imported through the validating path,
/// compared with the oracle everywhere, now and as of the middle of the log.
async fn generated_history_matches_the_oracle(pool: PgPool, members: usize, seed: u64) {
    let h = Harness::new(pool.clone()).await;
    let until = NaiveDate::from_ymd_opt(2025, 12, 31).unwrap();
    let mut file = Vec::new();
    partyedu_gen::generate(
        &partyedu_gen::GenConfig::new(members, 2, seed, until),
        &mut file,
    )
    .unwrap();
    let recorder = Recorder::new(EventStore::new(pool.clone()), TZ);
    import(&recorder, file.as_slice(), "cli:test", |_, _| {})
        .await
        .unwrap();
    let log = h.project_and_export().await;
    let communities: Vec<String> = log
        .iter()
        .filter(|r| r["type"] == "OrgUnitEstablished" && r["data"]["kind"] == "community")
        .map(|r| r["data"]["org_id"].as_str().unwrap().to_owned())
        .take(2)
        .collect();
    for year in [2024, 2025] {
        compare(&h, &log, None, year, None).await;
        for community in &communities {
            compare(&h, &log, Some(community), year, None).await;
        }
    }
    let middle = log[log.len() / 2]["position"].as_i64().unwrap();
    compare(&h, &log, None, 2024, Some(middle)).await;
    let sample: Vec<String> = members_of(&log, "").into_iter().step_by(7).collect();
    compare_histories(&h, &log, &sample).await;
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn generated_history_seed_3(pool: PgPool) {
    generated_history_matches_the_oracle(pool, 120, 3).await;
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn generated_history_seed_11(pool: PgPool) {
    generated_history_matches_the_oracle(pool, 200, 11).await;
}

/// `serve --demo`'s history reproduces the source article's table (DOMAIN.md) through the
/// API, for the running year and the one before: 47 classes of which 20-odd field trips and
/// 10-odd forums and competitions, 30-odd leader lectures, more than 4,000 members reached,
/// 60-odd home visits, 40-odd wishes claimed; 10 lecturers, 1 party school, 2 on-site teaching
/// points and 6 communities with their learning points, under the article's names; and a
/// compliance rate of a working subdistrict (most, not all).
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn the_demo_reaches_the_articles_figures(pool: PgPool) {
    let h = Harness::new(pool.clone()).await;
    let until = NaiveDate::from_ymd_opt(2025, 12, 3).unwrap();
    let mut file = Vec::new();
    partyedu_gen::generate(&partyedu_gen::GenConfig::demo(until), &mut file).unwrap();
    let recorder = Recorder::new(EventStore::new(pool.clone()), TZ);
    import(&recorder, file.as_slice(), "demo", |_, _| {})
        .await
        .unwrap();
    let log = h.project_and_export().await;
    let of = |kind: &str, field: &str, value: &str| {
        log.iter()
            .filter(|r| r["type"] == kind && r["data"][field] == value)
            .count()
    };
    assert_eq!(
        log.iter()
            .filter(|r| r["type"] == "LecturerEnlisted")
            .count(),
        10
    );
    assert_eq!(of("OrgUnitEstablished", "kind", "community"), 6);
    assert_eq!(of("VenueOpened", "kind", "party_school"), 1);
    assert_eq!(of("VenueOpened", "kind", "onsite_teaching_point"), 2);
    assert_eq!(of("VenueOpened", "kind", "community_learning_point"), 6);
    let text = serde_json::to_string(&log).unwrap();
    for name in ["浮山后四小区", "印记浮山", "浮山后一社区"] {
        assert!(text.contains(name), "the article's {name} is missing");
    }
    assert!(of("OnlineStudyLogged", "platform", "lighthouse_classroom") > 0);
    assert!(of("OnlineStudyLogged", "platform", "xuexi_qiangguo") > 0);
    let subdistrict = log
        .iter()
        .find(|r| r["type"] == "OrgUnitEstablished" && r["data"]["kind"] == "subdistrict")
        .map(|r| r["data"]["org_id"].clone())
        .unwrap();

    for year in [2024, 2025] {
        let body = h.get(&format!("/api/v1/headlines?year={year}")).await;
        let f = &body["figures"];
        let at_least = |name: &str, floor: i64| {
            let value = f[name].as_i64().unwrap();
            assert!(
                value >= floor,
                "{year}: {name} = {value}, the article has {floor}+"
            );
        };
        assert_eq!(f["classes"], 47, "{year}: {f}");
        at_least("field_trips", 20);
        at_least("leader_lectures", 30);
        at_least("members_reached", 4_000);
        at_least("home_visits", 60);
        at_least("wishes_claimed", 40);
        let register = h.get(&format!("/api/v1/ledgers/classes?year={year}")).await;
        let forums = register["classes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["form"] == "forum" || c["form"] == "competition")
            .filter(|c| c["voided"] != true)
            .count();
        assert!(forums >= 10, "{year}: {forums} forums and competitions");
        let coverage = h.get(&format!("/api/v1/coverage?year={year}")).await;
        let all = coverage["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["group"] == "all" && r["org_id"] == subdistrict)
            .unwrap_or_else(|| panic!("{year}: no subdistrict row"))
            .clone();
        let rate = all["compliant_rate"].as_f64().unwrap();
        println!("{year}: {f} compliant {rate}");
        assert!(
            (0.6..=0.95).contains(&rate),
            "{year}: {rate} of members meet their hours; a working subdistrict shows most, not all"
        );
    }
}

/// Drops every `position` field: positions are assigned anew when a log is imported.
fn without_positions(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| key.as_str() != "position")
                .map(|(key, v)| (key.clone(), without_positions(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_positions).collect()),
        other => other.clone(),
    }
}

/// Time travel: at points P through a generated history, every statistic and ledger answered
/// `as_of_position=P` equals the same statistic of a database into which only the log up to P
/// was imported and projected afresh.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn as_of_answers_equal_a_fresh_projection_of_the_truncated_log(pool: PgPool) {
    let h = Harness::new(pool.clone()).await;
    let until = NaiveDate::from_ymd_opt(2025, 12, 31).unwrap();
    let mut file = Vec::new();
    partyedu_gen::generate(&partyedu_gen::GenConfig::new(150, 2, 5, until), &mut file).unwrap();
    let recorder = Recorder::new(EventStore::new(pool.clone()), TZ);
    import(&recorder, file.as_slice(), "cli:test", |_, _| {})
        .await
        .unwrap();
    let log = h.project_and_export().await;
    let reads = [
        "/api/v1/coverage?year=2025",
        "/api/v1/coverage?year=2024&rules=reach-all",
        "/api/v1/coverage/members?year=2025&status=noncompliant",
        "/api/v1/coverage/members?year=2025&status=unreached",
        "/api/v1/lectures/tallies?year=2025",
        "/api/v1/ledgers/frail-visits?year=2025",
        "/api/v1/ledgers/mobile-contacts?year=2025",
        "/api/v1/ledgers/wishes?year=2025",
        "/api/v1/ledgers/classes?year=2025",
        "/api/v1/headlines?year=2025",
    ];
    // Points in 2025 (the running year of neither database: both take 31 December).
    for (k, share) in [(1, 0.55), (2, 0.8), (3, 0.97)] {
        let cut = (log.len() as f64 * share) as usize;
        let position = log[cut]["position"].as_i64().unwrap();
        let prefix: String = log[..=cut].iter().map(|r| format!("{r}\n")).collect();
        let url = partyedu_testkit::sibling_database_url(&pool);
        let other = partyedu_store::prepare_database(&url.parse().unwrap())
            .await
            .unwrap();
        let truncated = Harness::new(other.clone()).await;
        let recorder = Recorder::new(EventStore::new(other.clone()), TZ);
        import(&recorder, prefix.as_bytes(), "cli:test", |_, _| {})
            .await
            .unwrap();
        truncated.project_and_export().await;
        for read in reads {
            let then = h.get(&format!("{read}&as_of_position={position}")).await;
            let fresh = truncated.get(read).await;
            for key in ["as_of", "rule_set", "reference_date"] {
                assert!(then.get(key).is_some(), "{read}: no {key}");
            }
            let strip = |v: &Value| {
                let mut v = without_positions(v);
                if let Some(map) = v.as_object_mut() {
                    map.remove("as_of");
                }
                v
            };
            assert_eq!(
                strip(&then),
                strip(&fresh),
                "point {k} (position {position}): {read} as of differs from the truncated log's"
            );
        }
        other.close().await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            url.split('/').nth(3).unwrap().split('?').next().unwrap()
        )))
        .execute(&pool)
        .await
        .ok();
    }
}

/// `path` answered with `evidence=true` is what the oracle recomputes from `records` (the whole
/// log, in order): every number, member list and event-id set (`partyedu verify --figure`'s
/// check, without the export and checkpoint part).
async fn evidence_holds(h: &Harness, records: &[Value], path: &str) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let body = h.get(&format!("{path}{sep}evidence=true")).await;
    let size = body["evidence"]["checkpoint_size"].as_u64().unwrap() as usize;
    let report = oracle::check::check_figure(&body, records, size)
        .unwrap_or_else(|problem| panic!("{path}: {problem}"));
    let differences: Vec<String> = report.differences.iter().map(|d| d.to_string()).collect();
    assert!(
        report.holds(),
        "{path}: {} of {} differ\n{}",
        differences.len(),
        report.compared,
        differences.join("\n")
    );
    assert!(
        report.compared > 5,
        "{path}: only {} compared",
        report.compared
    );
}

/// The statistics offering evidence, for one year and org subtree, under both rule sets.
async fn evidence_everywhere(h: &Harness, records: &[Value], year: i32, org: Option<&str>) {
    let org = org.map_or(String::new(), |o| format!("&org={o}"));
    for rules in ["cn-2019-hours", "reach-all"] {
        let q = format!("year={year}{org}&rules={rules}");
        evidence_holds(h, records, &format!("/api/v1/coverage?{q}")).await;
        for status in ["unreached", "noncompliant"] {
            evidence_holds(
                h,
                records,
                &format!("/api/v1/coverage/members?{q}&status={status}"),
            )
            .await;
        }
        evidence_holds(h, records, &format!("/api/v1/headlines?{q}")).await;
    }
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn figures_with_evidence_are_what_the_oracle_recomputes(pool: PgPool) {
    let h = Harness::new(pool.clone()).await;
    let scenarios = oracle::scenarios::all();
    for (_, records) in &scenarios {
        h.post(oracle::scenarios::as_post_events(records)).await;
    }
    let log = h.project_and_export().await;
    for (name, _) in &scenarios {
        let org = format!("{name}-SD");
        for year in [2024, today().year()] {
            evidence_everywhere(&h, &log, year, Some(&org)).await;
        }
        for member in members_of(&log, &format!("{name}-")) {
            let history = format!("/api/v1/members/{member}/history");
            evidence_holds(&h, &log, &history).await;
            evidence_holds(&h, &log, &format!("{history}?year=2024&rules=reach-all")).await;
        }
    }
    evidence_everywhere(&h, &log, 2024, None).await;
    // Pages, and as of every position of scenario j (a void and what came before it).
    evidence_holds(&h, &log, "/api/v1/coverage?year=2024&offset=7&limit=11").await;
    evidence_holds(&h, &log, "/api/v1/members/b-M1/history?limit=1").await;
    let positions: Vec<i64> = log
        .iter()
        .filter(|r| {
            r["stream"]
                .as_str()
                .is_some_and(|s| s.starts_with("class:j"))
        })
        .map(|r| r["position"].as_i64().unwrap())
        .collect();
    for position in positions {
        for path in [
            "/api/v1/coverage?year=2024&org=j-SD&",
            "/api/v1/members/j-M1/history?",
        ] {
            evidence_holds(&h, &log, &format!("{path}as_of_position={position}")).await;
        }
    }

    // A generated history: whole subdistrict, two years, as of its middle too.
    let until = NaiveDate::from_ymd_opt(2025, 12, 31).unwrap();
    let mut file = Vec::new();
    partyedu_gen::generate(&partyedu_gen::GenConfig::new(120, 2, 3, until), &mut file).unwrap();
    let url = partyedu_testkit::sibling_database_url(&pool);
    let other = partyedu_store::prepare_database(&url.parse().unwrap())
        .await
        .unwrap();
    let generated = Harness::new(other.clone()).await;
    let recorder = Recorder::new(EventStore::new(other.clone()), TZ);
    import(&recorder, file.as_slice(), "cli:test", |_, _| {})
        .await
        .unwrap();
    let log = generated.project_and_export().await;
    for year in [2024, 2025] {
        evidence_everywhere(&generated, &log, year, None).await;
    }
    let middle = log[log.len() / 2]["position"].as_i64().unwrap();
    evidence_holds(
        &generated,
        &log,
        &format!("/api/v1/coverage?year=2024&as_of_position={middle}"),
    )
    .await;
    for member in members_of(&log, "").into_iter().step_by(17) {
        evidence_holds(
            &generated,
            &log,
            &format!("/api/v1/members/{member}/history"),
        )
        .await;
    }
    other.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
        url.split('/').nth(3).unwrap().split('?').next().unwrap()
    )))
    .execute(&pool)
    .await
    .ok();
}
