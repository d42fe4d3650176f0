//! The statistics over HTTP on hand-checked histories.

use crate::fixture::{Api, class, ev};
use axum::http::StatusCode;
use partyedu_projections::Projector;
use partyedu_store::EventStore;
use serde_json::{Value, json};
use sqlx::PgPool;

/// Folds everything recorded so far into the read models, with the standings of every
/// shipped rule set materialised as `serve` keeps them, and for every year back to 2024 (the
/// hand-checked histories' year): their figures come from the materialised standings.
pub async fn project(pool: &PgPool) {
    let store = EventStore::new(pool.clone());
    let generation = partyedu_projections::ensure_projection(&store)
        .await
        .unwrap();
    let tz = chrono_tz::Asia::Shanghai;
    let rule_sets = partyedu_projections::RuleBook::shipped()
        .sets()
        .cloned()
        .collect();
    let mut projector = Projector::new(store, tz, generation)
        .await
        .unwrap()
        .with_materialised(rule_sets, tz, years_back_to(2024));
    let head = EventStore::new(pool.clone()).head_position().await.unwrap();
    while projector.position() < head {
        projector.catch_up().await.unwrap();
    }
    while projector.build_views_step().await.unwrap() {}
}

/// How many years up to this one reach back to `year`.
fn years_back_to(year: i32) -> u32 {
    let this_year =
        chrono::Datelike::year(&chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai));
    u32::try_from(this_year - year + 1).unwrap_or(1)
}

/// Records `events` as the recorder, expecting them stored; returns the stored records.
async fn record(api: &Api, events: Vec<Value>) -> Value {
    let (status, body) = api.post_events("recorder", json!({"events": events})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

fn row<'a>(body: &'a Value, org: &str, group: &str) -> &'a Value {
    body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["org_id"] == org && r["group"] == group)
        .unwrap_or_else(|| panic!("no row {org}/{group} in {body}"))
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn coverage_counts_reach_and_compliance(pool: PgPool) {
    let api = Api::seeded(pool.clone()).await;
    // MA1 attends a 2.5 h class; MA2 and MB1 are not reached.
    record(&api, vec![class("C-1", "CA", &["MA1"])]).await;
    project(&pool).await;
    let (status, body) = api.get("viewer", "/api/v1/coverage?year=2024").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rule_set"]["id"], "cn-2019-hours");
    assert_eq!(body["reference_date"], "2024-12-31");
    let sd = row(&body, "SD", "all");
    assert_eq!(
        (
            sd["in_scope"].as_i64(),
            sd["reached"].as_i64(),
            sd["compliant"].as_i64()
        ),
        (Some(3), Some(1), Some(0))
    );
    assert_eq!(sd["reached_rate"], json!(0.3333));
    let ga = row(&body, "GA", "all");
    assert_eq!(ga["in_scope"], 2);
    assert_eq!(ga["reached_rate"], json!(0.5));
    assert_eq!(row(&body, "GB", "ordinary")["reached"], 0);
    // 5 org units × 6 groups, by org then group.
    assert_eq!(body["rows"].as_array().unwrap().len(), 30);

    // Under reach-all, MA1 is compliant.
    let (_, body) = api
        .get("viewer", "/api/v1/coverage?year=2024&rules=reach-all")
        .await;
    assert_eq!(row(&body, "SD", "all")["compliant"], 1);
    assert_eq!(body["rule_set"]["id"], "reach-all");

    let (_, body) = api
        .get(
            "viewer",
            "/api/v1/coverage/members?year=2024&status=unreached",
        )
        .await;
    let ids: Vec<&str> = body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["member_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["MA2", "MB1"]);
    let (_, body) = api
        .get(
            "viewer",
            "/api/v1/coverage/members?year=2024&status=noncompliant",
        )
        .await;
    let ma1 = &body["members"][0];
    assert_eq!(ma1["member_id"], "MA1");
    assert_eq!(ma1["credited_hours"], json!(2.5));
    assert_eq!(ma1["required_hours"], json!(32));
    assert_eq!(ma1["groups"], json!(["ordinary"]));
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn scoped_viewers_stay_in_their_subtree(pool: PgPool) {
    let api = Api::seeded(pool.clone()).await;
    project(&pool).await;
    let (status, body) = api.get("viewer-ca", "/api/v1/coverage?year=2024").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let orgs: std::collections::BTreeSet<&str> = body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["org_id"].as_str().unwrap())
        .collect();
    assert_eq!(orgs.into_iter().collect::<Vec<_>>(), vec!["CA", "GA"]);
    let (status, _) = api
        .get("viewer-ca", "/api/v1/coverage?year=2024&org=CB")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api.get("viewer-ca", "/api/v1/members/MB1/history").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api.get("viewer-ca", "/api/v1/members/MA1/history").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.get("recorder", "/api/v1/coverage?year=2024").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn reads_wait_for_their_own_writes_or_say_lagging(pool: PgPool) {
    let api = Api::seeded(pool.clone()).await;
    let stored = record(&api, vec![class("C-1", "CA", &["MA1"])]).await;
    let position = stored["events"][0]["position"].as_i64().unwrap();
    // Nothing projects: the wait runs out.
    let (status, body) = api
        .get(
            "viewer",
            &format!("/api/v1/coverage?year=2024&min_position={position}"),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "lagging");
    project(&pool).await;
    let (status, body) = api
        .get(
            "viewer",
            &format!("/api/v1/coverage?year=2024&min_position={position}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["as_of"]["position"].as_i64().unwrap() >= position);
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn history_and_as_of_show_voids(pool: PgPool) {
    let api = Api::seeded(pool.clone()).await;
    let stored = record(&api, vec![class("C-1", "CA", &["MA1"])]).await;
    let before_void = stored["events"][0]["position"].as_i64().unwrap();
    let void = ev(
        "RecordVoided",
        json!({"event_id": stored["events"][0]["event_id"], "reason": "重复录入"}),
    );
    let (status, _) = api.post_events("recorder", json!({"events": [void]})).await;
    assert_eq!(status, StatusCode::CREATED);
    project(&pool).await;

    let (_, now) = api.get("auditor", "/api/v1/coverage?year=2024").await;
    assert_eq!(row(&now, "SD", "all")["reached"], 0);
    let (_, then) = api
        .get(
            "auditor",
            &format!("/api/v1/coverage?year=2024&as_of_position={before_void}"),
        )
        .await;
    assert_eq!(row(&then, "SD", "all")["reached"], 1);
    assert_eq!(then["as_of"]["position"], before_void);

    let (status, history) = api
        .get("auditor", "/api/v1/members/MA1/history?year=2024")
        .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let entry = &history["entries"][0];
    assert_eq!(entry["kind"], "class");
    assert_eq!(entry["record_id"], "C-1");
    assert_eq!(entry["voided"], true);
    assert_eq!(entry["void_reason"], "重复录入");
    assert_eq!(entry["credited"], false);
    assert_eq!(entry["occurred_at"], "2024-03-05T09:00:00.000+08:00");
    assert_eq!(history["years"][0]["reached"], false);
    let (status, _) = api.get("auditor", "/api/v1/members/NOBODY/history").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A rebuild builds a new generation beside the live one: queries keep answering from the
/// live one, whole, until the swap, then from the new one.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn the_live_figures_are_served_during_a_rebuild_and_the_new_after_the_swap(pool: PgPool) {
    use partyedu_projections::engine;
    let api = Api::seeded(pool.clone()).await;
    let (status, _) = api
        .post_events(
            "recorder",
            json!({"events": [class("C-1", "CA", &["MA1", "MB1"])]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    project(&pool).await;
    let (_, before) = api.get("viewer", "/api/v1/coverage?year=2024").await;
    assert_eq!(row(&before, "SD", "all")["reached"], 2);

    let store = EventStore::new(pool.clone());
    let rebuilt = engine::begin_rebuild(&store).await.unwrap();
    let mut projector = Projector::new(store.clone(), chrono_tz::Asia::Shanghai, rebuilt)
        .await
        .unwrap()
        .with_batch_size(4);
    projector.try_run_once().await.unwrap();
    let (_, during) = api.get("viewer", "/api/v1/coverage?year=2024").await;
    assert_eq!(
        during["rows"], before["rows"],
        "the half-built generation is not served"
    );
    let (_, status) = api.get("viewer", "/api/v1/projections").await;
    let rebuild = &status["projections"][0]["rebuild"];
    assert_eq!(rebuild["generation"], rebuilt);
    assert!(rebuild["progress"].as_f64().unwrap() < 1.0, "{status}");
    assert_eq!(status["projections"][0]["rule_set"]["id"], "cn-2019-hours");

    // `/metrics` serves what its background task last read (every 2 s), never a query of its
    // own: wait for the reading that sees the rebuild.
    let metrics = metrics_with(&api, "partyedu_projection_rebuild_progress{").await;
    assert!(
        metrics.contains("partyedu_projection_rebuild_progress{projection=\"facts\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("partyedu_rule_set_info{id=\"cn-2019-hours\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("partyedu_projection_lag_events{projection=\"facts\"} 0"),
        "{metrics}"
    );

    projector.catch_up().await.unwrap();
    engine::swap(&store, rebuilt).await.unwrap();
    let (_, after) = api.get("viewer", "/api/v1/coverage?year=2024").await;
    assert_eq!(after["rows"], before["rows"]);
    let (_, status) = api.get("viewer", "/api/v1/projections").await;
    assert_eq!(status["projections"][0]["generation"], rebuilt);
    assert!(status["projections"][0]["rebuild"].is_null());
}

/// The ledgers on a small year worked out by hand (reference date 2024-12-31).
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn ledgers_show_visits_contacts_wishes_and_classes(pool: PgPool) {
    let api = Api::seeded(pool.clone()).await;
    let mut field_trip = class("C-2", "CB", &["MB1"]);
    field_trip["data"]["form"] = json!("field_trip");
    field_trip["data"]["starts_at"] = json!("2024-04-10T09:00:00+08:00");
    let mut voided = class("C-3", "CA", &["MA1", "MA2"]);
    voided["data"]["starts_at"] = json!("2024-09-01T09:00:00+08:00");
    voided["event_id"] = json!("0192f7c4-5e2a-7b31-9c1d-4a6f2e8b0d99");
    let wish = |t: &str, data: Value| ev(t, data);
    let events = json!({"events": [
        ev("MemberCareStatusChanged", json!({"member_id": "MA2", "frail": true, "hardship": false, "on": "2024-01-10"})),
        ev("HomeVisitMade", json!({"visit_id": "HV-1", "member_id": "MA2", "visitor_ids": ["MA1"],
            "visited_on": "2024-06-01", "purposes": ["home_study_delivery"], "study_hours": 1})),
        ev("MemberWentMobile", json!({"member_id": "MB1", "since": "2024-02-01", "destination": "深圳", "reason": "work"})),
        ev("BuddyAssigned", json!({"member_id": "MB1", "buddy_id": "MA1", "since": "2024-02-02"})),
        ev("MobileMemberContacted", json!({"contact_id": "CT-1", "member_id": "MB1", "contacted_by": "MA1",
            "contacted_on": "2024-03-01", "channel": "phone"})),
        class("C-1", "CA", &["MA1"]),
        field_trip,
        voided,
        ev("RecordVoided", json!({"event_id": "0192f7c4-5e2a-7b31-9c1d-4a6f2e8b0d99", "reason": "重复"})),
        ev("PartyLectureGiven", json!({"lecture_id": "PL-1", "speaker_id": "MA1", "title": "党课",
            "audience_org_id": "SD", "given_at": "2024-08-16T14:30:00+08:00", "duration_minutes": 90,
            "study_hours": 1.5, "attendee_ids": ["MA2"]})),
        wish("MicroWishClaimed", json!({"wish_id": "W1", "member_id": "MA1", "claimed_on": "2024-05-03"})),
        wish("MicroWishReleased", json!({"wish_id": "W1", "member_id": "MA1", "released_on": "2024-05-04", "reason": "出差"})),
        wish("MicroWishClaimed", json!({"wish_id": "W1", "member_id": "MA2", "claimed_on": "2024-05-05"})),
        wish("MicroWishFulfilled", json!({"wish_id": "W1", "fulfilled_on": "2024-12-20"})),
        wish("MicroWishPosted", json!({"wish_id": "W2", "grid_id": "GB", "title": "商户走访", "category": "merchant_visit", "posted_on": "2024-06-01"})),
        wish("MicroWishWithdrawn", json!({"wish_id": "W2", "withdrawn_on": "2024-06-10", "reason": "已解决"})),
        wish("MicroWishPosted", json!({"wish_id": "W3", "grid_id": "GA", "title": "网格巡查", "category": "grid_patrol", "posted_on": "2024-07-01"})),
        wish("MicroWishClaimed", json!({"wish_id": "W3", "member_id": "MA1", "claimed_on": "2024-07-02"})),
    ]});
    let (status, body) = api.post_events("recorder", events).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    project(&pool).await;

    let (_, frail) = api
        .get("viewer", "/api/v1/ledgers/frail-visits?year=2024")
        .await;
    // 2024-06-01 → 2024-12-31: 213 days, past the 90 of cn-2019-hours.
    assert_eq!(
        frail["members"],
        json!([{"member_id": "MA2", "name": "党员MA2", "org_id": "GA",
        "last_visit_on": "2024-06-01", "days_since": 213, "overdue": true}])
    );
    assert_eq!(frail["overdue_after_days"], 90);

    let (_, mobile) = api
        .get("viewer", "/api/v1/ledgers/mobile-contacts?year=2024")
        .await;
    // 2024-03-01 → 2024-12-31: 305 days, past 182.
    assert_eq!(
        mobile["members"],
        json!([{"member_id": "MB1", "name": "党员MB1", "org_id": "GB",
        "since": "2024-02-01", "destination": "深圳", "buddy_id": "MA1", "last_contact_on": "2024-03-01",
        "days_since": 305, "overdue": true}])
    );
    let (_, board) = api.get("viewer", "/api/v1/ledgers/wishes?year=2024").await;
    let totals = &board["board"]["totals"];
    assert_eq!(
        totals,
        &json!({"open": 0, "claimed": 1, "fulfilled": 1, "withdrawn": 1,
        "claimed_in_year": 2, "fulfilled_in_year": 1})
    );
    let ga = board["board"]["by_grid"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["grid_id"] == "GA")
        .unwrap();
    assert_eq!(
        (
            ga["claimed"].as_i64(),
            ga["fulfilled"].as_i64(),
            ga["claimed_in_year"].as_i64()
        ),
        (Some(1), Some(1), Some(2))
    );

    let (_, register) = api.get("viewer", "/api/v1/ledgers/classes?year=2024").await;
    let listed: Vec<(String, i64, bool)> = register["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["class_id"].as_str().unwrap().to_owned(),
                c["attendees"].as_i64().unwrap(),
                c["voided"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            ("C-1".to_owned(), 1, false),
            ("C-2".to_owned(), 1, false),
            ("C-3".to_owned(), 2, true)
        ]
    );

    let (_, headlines) = api.get("viewer", "/api/v1/headlines?year=2024").await;
    assert_eq!(
        headlines["figures"],
        json!({"classes": 2, "field_trips": 1, "party_lectures": 1,
        "leader_lectures": 0, "members": 3, "members_reached": 3, "home_visits": 1,
        "wishes_claimed": 2, "wishes_fulfilled": 1})
    );
    let (_, scoped) = api.get("viewer-ca", "/api/v1/headlines?year=2024").await;
    assert_eq!(
        scoped["figures"],
        json!({"classes": 1, "field_trips": 0, "party_lectures": 0,
        "leader_lectures": 0, "members": 2, "members_reached": 2, "home_visits": 1,
        "wishes_claimed": 2, "wishes_fulfilled": 1})
    );
}

/// Switching the live rule set: answers before the switch use the old rules, every answer
/// after it the new ones, on every instance (the selection is one shared row).
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn switching_the_live_rule_set_changes_the_figures_at_once(pool: PgPool) {
    let api = Api::seeded(pool.clone()).await;
    record(&api, vec![class("C-1", "CA", &["MA1"])]).await;
    project(&pool).await;
    let (_, before) = api.get("viewer", "/api/v1/coverage?year=2024").await;
    assert_eq!(before["rule_set"]["id"], "cn-2019-hours");
    assert_eq!(row(&before, "SD", "all")["compliant"], 0);

    let switch = |token: &'static str, id: &'static str| {
        let api = &api;
        async move {
            api.call(
                axum::http::Method::PUT,
                "/api/v1/rules/live",
                Some(token),
                Some(json!({"id": id}).to_string()),
            )
            .await
        }
    };
    assert_eq!(switch("viewer", "reach-all").await.0, StatusCode::FORBIDDEN);
    let (status, body) = switch("admin", "no-such-rules").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = switch("admin", "reach-all").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (_, after) = api.get("viewer", "/api/v1/coverage?year=2024").await;
    assert_eq!(after["rule_set"]["id"], "reach-all");
    assert_eq!(row(&after, "SD", "all")["compliant"], 1);
    // What-if still answers under any rule set without touching the live one.
    let (_, what_if) = api
        .get("viewer", "/api/v1/coverage?year=2024&rules=cn-2019-hours")
        .await;
    assert_eq!(what_if["rows"], before["rows"]);
    let (_, rules) = api.get("auditor", "/api/v1/rules").await;
    assert_eq!(rules["live"]["id"], "reach-all");
    assert_eq!(rules["live"]["changed_by"], "admin");
    let ids: Vec<&str> = rules["rule_sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["cn-2019-hours", "no-online-credit", "reach-all"]);
}

/// CONTRACT §6 "Positions": a position beyond the log's head is the caller's mistake (`400`
/// naming the head, at once); `as_of=` names the last position recorded at or before a time;
/// every answer says the position and its `recorded_at`.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn positions_beyond_the_head_are_refused_and_as_of_takes_a_time(pool: PgPool) {
    let api = Api::seeded(pool.clone()).await;
    let stored = record(&api, vec![class("C-1", "CA", &["MA1"])]).await;
    let class_event = &stored["events"][0];
    let position = class_event["position"].as_i64().unwrap();
    let head = EventStore::new(pool.clone()).head_position().await.unwrap();
    assert_eq!(head, position);

    // Nothing is projected yet: a position beyond the head is refused without waiting.
    for name in ["min_position", "as_of_position"] {
        let started = std::time::Instant::now();
        let (status, body) = api
            .get(
                "viewer",
                &format!("/api/v1/coverage?year=2024&{name}={}", head + 1),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert_eq!(body["error"]["code"], "invalid_request");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&head.to_string()),
            "{body}"
        );
        assert_eq!(body["error"]["details"][0]["path"], name);
        assert!(
            body["error"]["details"][0]["problem"]
                .as_str()
                .unwrap()
                .contains(&format!("head at position {head}")),
            "{body}"
        );
    }
    project(&pool).await;

    // Every statistic answers with the position and its event's recorded_at.
    let recorded_at = class_event["recorded_at"].clone();
    for uri in [
        "/api/v1/coverage?year=2024",
        "/api/v1/coverage/members?year=2024&status=unreached",
        "/api/v1/lectures/tallies?year=2024",
        "/api/v1/members/MA1/history",
        "/api/v1/ledgers/frail-visits?year=2024",
        "/api/v1/ledgers/mobile-contacts?year=2024",
        "/api/v1/ledgers/wishes?year=2024",
        "/api/v1/ledgers/classes?year=2024",
        "/api/v1/headlines?year=2024",
    ] {
        let (status, body) = api.get("auditor", uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        assert_eq!(body["as_of"]["position"], position, "{uri}");
        assert_eq!(body["as_of"]["recorded_at"], recorded_at, "{uri}");
        let (_, body) = api
            .get(
                "auditor",
                &format!(
                    "{uri}{}as_of_position={position}",
                    if uri.contains('?') { '&' } else { '?' }
                ),
            )
            .await;
        assert_eq!(body["as_of"]["recorded_at"], recorded_at, "{uri}");
    }

    // as_of: the recorded_at an answer gave names its own event.
    let at = recorded_at.as_str().unwrap();
    let (status, body) = api
        .get(
            "viewer",
            &format!(
                "/api/v1/coverage?year=2024&as_of={}",
                at.replace('+', "%2B")
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["as_of"]["position"], position);
    assert_eq!(body["as_of"]["recorded_at"], recorded_at);
    assert_eq!(row(&body, "SD", "all")["reached"], 1);
    // A moment before it: the log as it stood, without the class.
    let before =
        chrono::DateTime::parse_from_rfc3339(at).unwrap() - chrono::Duration::milliseconds(1);
    let (_, body) = api
        .get(
            "viewer",
            &format!(
                "/api/v1/coverage?year=2024&as_of={}",
                before.to_rfc3339().replace('+', "%2B")
            ),
        )
        .await;
    assert!(
        body["as_of"]["position"].as_i64().unwrap() < position,
        "{body}"
    );
    assert_eq!(row(&body, "SD", "all")["reached"], 0);
    // Before the first event: position 0, nothing yet.
    let (status, body) = api
        .get(
            "viewer",
            "/api/v1/coverage?year=2024&as_of=2000-01-01T00:00:00Z",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["as_of"], json!({"position": 0, "recorded_at": null}));
    assert_eq!(body["rows"], json!([]));

    // A time in the future, a time that is none, and both forms at once are refused.
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    for query in [
        format!("as_of={}", future.replace('+', "%2B")),
        "as_of=yesterday".to_owned(),
        format!("as_of=2024-06-01T00:00:00Z&as_of_position={position}"),
    ] {
        let (status, body) = api
            .get("viewer", &format!("/api/v1/coverage?year=2024&{query}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["details"][0]["path"], "as_of", "{query}");
    }
}

/// `/metrics` counts requests by route (the pattern, not the path) and status, and serves the
/// projection's figures from what the process holds; label values are escaped.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn metrics_count_requests_by_route_and_status(pool: PgPool) {
    let api = Api::seeded(pool.clone()).await;
    project(&pool).await;
    api.get("viewer", "/api/v1/coverage?year=2024").await;
    api.get("viewer", "/api/v1/coverage?year=2024").await;
    api.get("viewer", "/api/v1/members/MA1/history").await;
    api.get("recorder", "/api/v1/coverage?year=2024").await;
    let head = EventStore::new(pool.clone()).head_position().await.unwrap();
    let text = metrics_with(
        &api,
        &format!("partyedu_projection_checkpoint{{projection=\"facts\"}} {head}\n"),
    )
    .await;
    for line in [
        "partyedu_http_requests_total{route=\"/api/v1/coverage\",status=\"200\"} 2",
        "partyedu_http_requests_total{route=\"/api/v1/coverage\",status=\"403\"} 1",
        "partyedu_http_requests_total{route=\"/api/v1/members/{id}/history\",status=\"200\"} 1",
        "partyedu_rule_set_info{id=\"cn-2019-hours\",",
    ] {
        assert!(text.contains(line), "no `{line}` in\n{text}");
    }
    assert!(
        text.contains(&format!(
            "partyedu_projection_checkpoint{{projection=\"facts\"}} {head}\n"
        )),
        "{text}"
    );
    assert!(!text.contains("MA1"), "ids in paths never become labels");
}

/// `/metrics` once it contains `wanted` (the background task reads every 2 s), or after 10 s.
async fn metrics_with(api: &Api, wanted: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, body) = api
            .call(axum::http::Method::GET, "/metrics", None, None)
            .await;
        assert_eq!(status, StatusCode::OK);
        let text = body.as_str().unwrap().to_owned();
        if text.contains(wanted) || std::time::Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
