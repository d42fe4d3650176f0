//! The oracle (`tests/oracle/mod.rs`) against hand-worked numbers. Every expected value below was
//! worked out by hand from the scenario's events and CONTRACT §4 (the reasoning is in the comments),
//! not computed by the oracle. No database is needed.

mod oracle;

use oracle::scenarios::*;
use oracle::{Rules, coverage, coverage_members, lecture_tallies, member_history};
use serde_json::{Value, json};

const Y2024_END: (i32, u32, u32) = (2024, 12, 31);
/// "Today" for histories: 2025 is then the running year with reference date 2025-06-30.
const TODAY: (i32, u32, u32) = (2025, 6, 30);

/// Hand-worked counts of one coverage row: in_scope, reached, compliant, and the two rates
/// (`None` = null).
type Counts = (i64, i64, i64, Option<f64>, Option<f64>);

/// An expected coverage row.
fn row(org: &str, group: &str, (s, r, c, rr, cr): Counts) -> Value {
    json!({"org_id": org, "group": group, "in_scope": s, "reached": r, "compliant": c,
           "reached_rate": rr, "compliant_rate": cr})
}

fn assert_rows(actual: &[Value], expected: &[Value]) {
    assert_eq!(actual, expected);
}

/// The six rows of one org, groups in the contract's order.
fn org_rows(org: &str, groups: [Counts; 6]) -> Vec<Value> {
    oracle::GROUPS
        .iter()
        .zip(groups)
        .map(|(g, counts)| row(org, g, counts))
        .collect()
}

const EMPTY: Counts = (0, 0, 0, None, None);

fn position_of(records: &[Value], ty: &str) -> i64 {
    records.iter().find(|r| r["type"] == ty).unwrap()["position"]
        .as_i64()
        .unwrap()
}

/// Position and event id of the event recording `record_id` (its `class_id`, `lecture_id`, …).
fn recorded(records: &[Value], key: &str, record_id: &str) -> (i64, String) {
    let r = records
        .iter()
        .find(|r| r["data"][key] == record_id && r["type"] != "AttendanceAmended")
        .unwrap();
    (
        r["position"].as_i64().unwrap(),
        r["event_id"].as_str().unwrap().to_owned(),
    )
}

fn member_ids(members: &[Value]) -> Vec<&str> {
    members
        .iter()
        .map(|m| m["member_id"].as_str().unwrap())
        .collect()
}

#[test]
fn dates_hours_and_rates() {
    // 2024-12-31T20:00:00Z is 2025-01-01 04:00 at +08:00; 15:59:59Z is 23:59:59 on Dec 31.
    assert_eq!(
        oracle::local_date("2024-12-31T20:00:00Z"),
        Some((2025, 1, 1))
    );
    assert_eq!(
        oracle::local_date("2024-12-31T15:59:59Z"),
        Some((2024, 12, 31))
    );
    assert_eq!(
        oracle::local_date("2024-12-31T16:00:00Z"),
        Some((2025, 1, 1))
    );
    // 01:00 at -05:00 is 06:00Z, 14:00 local on the same day.
    assert_eq!(
        oracle::local_date("2024-03-05T01:00:00-05:00"),
        Some((2024, 3, 5))
    );
    // 2024 is a leap year: 23:30 on Feb 28 at -05:00 is 04:30Z Feb 29, 12:30 local Feb 29.
    assert_eq!(
        oracle::local_date("2024-02-28T23:30:00.250-05:00"),
        Some((2024, 2, 29))
    );
    assert_eq!(
        oracle::format_local(oracle::parse_timestamp("2024-12-31T20:00:00Z").unwrap()),
        "2025-01-01T04:00:00.000+08:00"
    );
    assert_eq!(oracle::days_from_civil((1970, 1, 1)), 0);
    assert_eq!(oracle::days_from_civil((2000, 3, 1)), 11_017);
    assert_eq!(oracle::civil_from_days(11_017), (2000, 3, 1));
    for (v, h) in [
        (json!(0.75), 75),
        (json!(15.25), 1525),
        (json!(5.7), 570),
        (json!(0.3), 30),
        (json!(3), 300),
        (json!("1.10"), 110),
    ] {
        assert_eq!(oracle::hundredths(&v), h, "{v}");
    }
    // 1/3 = 0.33333… → 0.3333; 2/3 = 0.66666… → 0.6667; 1/32 = 0.03125 → half-up 0.0313;
    // 1/8 = 0.125 exactly.
    assert_eq!(oracle::rate_json(1, 3), json!(0.3333));
    assert_eq!(oracle::rate_json(2, 3), json!(0.6667));
    assert_eq!(oracle::rate_json(1, 32), json!(0.0313));
    assert_eq!(oracle::rate_json(1, 8), json!(0.125));
    assert_eq!(oracle::rate_json(0, 0), Value::Null);
    assert_eq!(oracle::hours_json(2600), json!(26));
    assert_eq!(oracle::hours_json(125), json!(1.25));
}

/// (a) The void of a-C1 (3 h, M1 and M2) leaves only a-C2 (2 h, M1): M1 reached with 2 h, M2
/// unreached; nobody has 32 h.
#[test]
fn a_void_of_a_class_removes_its_hours_and_reach() {
    let rec = scenario_a();
    let rows = coverage(
        &rec,
        2024,
        Some("a-G1"),
        Rules::Cn2019Hours,
        Y2024_END,
        None,
    );
    // all: M1, M2 → in 2, reached 1 (M1), compliant 0; both ordinary.
    assert_rows(
        &rows,
        &org_rows(
            "a-G1",
            [
                (2, 1, 0, Some(0.5), Some(0.0)),
                EMPTY,
                EMPTY,
                EMPTY,
                EMPTY,
                (2, 1, 0, Some(0.5), Some(0.0)),
            ],
        ),
    );
    // Without org: 4 orgs × 6 groups, orgs in string order a-CM < a-G1 < a-G2 < a-SD.
    let all_rows = coverage(&rec, 2024, None, Rules::Cn2019Hours, Y2024_END, None);
    assert_eq!(all_rows.len(), 24);
    let orgs: Vec<&str> = all_rows
        .iter()
        .step_by(6)
        .map(|r| r["org_id"].as_str().unwrap())
        .collect();
    assert_eq!(orgs, ["a-CM", "a-G1", "a-G2", "a-SD"]);
    assert_rows(&all_rows[12..18], &org_rows("a-G2", [EMPTY; 6]));
    assert_rows(
        &all_rows[18..19],
        &org_rows(
            "a-SD",
            [
                (2, 1, 0, Some(0.5), Some(0.0)),
                EMPTY,
                EMPTY,
                EMPTY,
                EMPTY,
                EMPTY,
            ],
        )[..1],
    );

    let unreached = coverage_members(
        &rec,
        2024,
        None,
        Rules::Cn2019Hours,
        Y2024_END,
        None,
        "unreached",
    );
    assert_eq!(
        unreached,
        vec![
            json!({"member_id": "a-M2", "name": "Member a-M2", "org_id": "a-G1",
                    "groups": ["ordinary"], "credited_hours": 0, "required_hours": 32})
        ]
    );
    let noncompliant = coverage_members(
        &rec,
        2024,
        Some("a-CM"),
        Rules::Cn2019Hours,
        Y2024_END,
        None,
        "noncompliant",
    );
    assert_eq!(
        noncompliant,
        vec![
            json!({"member_id": "a-M1", "name": "Member a-M1", "org_id": "a-G1",
                   "groups": ["ordinary"], "credited_hours": 2, "required_hours": 32}),
            json!({"member_id": "a-M2", "name": "Member a-M2", "org_id": "a-G1",
                   "groups": ["ordinary"], "credited_hours": 0, "required_hours": 32}),
        ]
    );

    // M1's history shows the voided class, not credited, with the reason.
    let (p1, e1) = recorded(&rec, "class_id", "a-C1");
    let (p2, e2) = recorded(&rec, "class_id", "a-C2");
    let h = member_history(&rec, "a-M1", Some(2024), Rules::Cn2019Hours, TODAY, None).unwrap();
    assert_eq!(
        h,
        json!({"entries": [
            {"occurred_at": "2024-03-05T09:00:00.000+08:00", "kind": "class", "record_id": "a-C1",
             "title": "Class a-C1", "study_hours": 3, "credited": false, "position": p1,
             "event_id": e1, "voided": true, "void_reason": "duplicate entry"},
            {"occurred_at": "2024-04-10T14:00:00.000+08:00", "kind": "class", "record_id": "a-C2",
             "title": "Class a-C2", "study_hours": 2, "credited": true, "position": p2,
             "event_id": e2, "voided": false}],
         "years": [{"year": 2024, "credited_hours": 2, "required_hours": 32, "reached": true,
                    "compliant": false}]})
    );
}

/// (b) b-C1 (4 h): M1, M2; the amendment makes it M1, M3; its void makes it M1, M2 again.
#[test]
fn b_amendment_and_its_void() {
    let rec = scenario_b();
    let amended = position_of(&rec, "AttendanceAmended");
    let (class_pos, class_event) = recorded(&rec, "class_id", "b-C1");
    let g1_all = |as_of| {
        coverage(
            &rec,
            2024,
            Some("b-G1"),
            Rules::Cn2019Hours,
            Y2024_END,
            as_of,
        )[0]
        .clone()
    };
    let unreached = |as_of| {
        member_ids(&coverage_members(
            &rec,
            2024,
            None,
            Rules::Cn2019Hours,
            Y2024_END,
            as_of,
            "unreached",
        ))
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>()
    };
    let entries = |m: &str, as_of| {
        member_history(&rec, m, Some(2024), Rules::Cn2019Hours, TODAY, as_of).unwrap()["entries"]
            .clone()
    };

    // Before the amendment: M1, M2 reached (2 of 3; 2/3 = 0.6667), M3 not; 4 h < 32: none compliant.
    assert_rows(
        &[g1_all(Some(amended - 1))],
        &[row("b-G1", "all", (3, 2, 0, Some(0.6667), Some(0.0)))],
    );
    assert_eq!(unreached(Some(amended - 1)), ["b-M3"]);

    // With the amendment standing: M1, M3 reached; M2 unreached.
    assert_rows(
        &[g1_all(Some(amended))],
        &[row("b-G1", "all", (3, 2, 0, Some(0.6667), Some(0.0)))],
    );
    assert_eq!(unreached(Some(amended)), ["b-M2"]);
    // M3 sees the class under the ClassHeld event's position and id; M2 no longer does.
    assert_eq!(
        entries("b-M3", Some(amended)),
        json!([{"occurred_at": "2024-05-06T09:00:00.000+08:00", "kind": "class", "record_id": "b-C1",
                "title": "Class b-C1", "study_hours": 4, "credited": true, "position": class_pos,
                "event_id": class_event, "voided": false}])
    );
    assert_eq!(entries("b-M2", Some(amended)), json!([]));

    // After the void of the amendment (the current log): as if never made.
    assert_rows(
        &[g1_all(None)],
        &[row("b-G1", "all", (3, 2, 0, Some(0.6667), Some(0.0)))],
    );
    assert_eq!(unreached(None), ["b-M3"]);
    assert_eq!(entries("b-M3", None), json!([]));
    assert_eq!(entries("b-M2", None).as_array().unwrap().len(), 1);
    assert_eq!(entries("b-M2", None)[0]["credited"], json!(true));
}

/// (c) Counted at the branch of the reference date only.
#[test]
fn c_transfer_moves_the_row_to_the_new_branch() {
    let rec = scenario_c();
    let rows = coverage(&rec, 2024, None, Rules::Cn2019Hours, Y2024_END, None);
    // On 2024-12-31: M1 in c-G2 (since 07-01), M2 in c-G1 (since 12-31, the reference date).
    // Both attended c-C1 (10 h): reached, not compliant (10 < 32), ordinary.
    let one = (1, 1, 0, Some(1.0), Some(0.0));
    let two = (2, 2, 0, Some(1.0), Some(0.0));
    let mut expected = org_rows("c-CM", [two, EMPTY, EMPTY, EMPTY, EMPTY, two]);
    expected.extend(org_rows("c-G1", [one, EMPTY, EMPTY, EMPTY, EMPTY, one]));
    expected.extend(org_rows("c-G2", [one, EMPTY, EMPTY, EMPTY, EMPTY, one]));
    expected.extend(org_rows("c-SD", [two, EMPTY, EMPTY, EMPTY, EMPTY, two]));
    assert_rows(&rows, &expected);

    let members = coverage_members(
        &rec,
        2024,
        None,
        Rules::Cn2019Hours,
        Y2024_END,
        None,
        "noncompliant",
    );
    let placed: Vec<(&str, &str)> = members
        .iter()
        .map(|m| {
            (
                m["member_id"].as_str().unwrap(),
                m["org_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(placed, [("c-M1", "c-G2"), ("c-M2", "c-G1")]);
    assert_eq!(members[0]["credited_hours"], json!(10));

    // With reference date 2024-12-30 (as if 2024 were running), M2 is still in c-G2: c-G1 empty.
    let g1 = coverage(
        &rec,
        2024,
        Some("c-G1"),
        Rules::Cn2019Hours,
        (2024, 12, 30),
        None,
    );
    assert_rows(&g1, &org_rows("c-G1", [EMPTY; 6]));
    // 2023 (reference 2023-12-31): M1 in c-G1, M2 in c-G2, nobody reached in 2023.
    let g1_2023 = coverage(
        &rec,
        2023,
        Some("c-G1"),
        Rules::Cn2019Hours,
        (2023, 12, 31),
        None,
    );
    assert_rows(
        &g1_2023[..1],
        &[row("c-G1", "all", (1, 0, 0, Some(0.0), Some(0.0)))],
    );
    let m1 = &coverage_members(
        &rec,
        2023,
        Some("c-G1"),
        Rules::Cn2019Hours,
        (2023, 12, 31),
        None,
        "unreached",
    )[0];
    assert_eq!(m1["member_id"], "c-M1");
}

/// (d) Population = enrolled on the reference date.
#[test]
fn d_leaving_and_reenrolment() {
    let rec = scenario_d();
    // 2024-12-31: M1 left 06-30 (out), M4 left 12-31 (gone on that day: out), M2 in d-G1,
    // M3 re-enrolled into d-G2 on 09-01 (in). M2: 8 + 5 = 13 h; M3: 5 h; both reached, not compliant.
    let rows = coverage(
        &rec,
        2024,
        Some("d-CM"),
        Rules::Cn2019Hours,
        Y2024_END,
        None,
    );
    let one = (1, 1, 0, Some(1.0), Some(0.0));
    let two = (2, 2, 0, Some(1.0), Some(0.0));
    let mut expected = org_rows("d-CM", [two, EMPTY, EMPTY, EMPTY, EMPTY, two]);
    expected.extend(org_rows("d-G1", [one, EMPTY, EMPTY, EMPTY, EMPTY, one]));
    expected.extend(org_rows("d-G2", [one, EMPTY, EMPTY, EMPTY, EMPTY, one]));
    assert_rows(&rows, &expected);
    let nc = coverage_members(
        &rec,
        2024,
        None,
        Rules::Cn2019Hours,
        Y2024_END,
        None,
        "noncompliant",
    );
    assert_eq!(member_ids(&nc), ["d-M2", "d-M3"]);
    assert_eq!(nc[0]["credited_hours"], json!(13));
    assert_eq!(nc[1]["credited_hours"], json!(5));
    assert_eq!(nc[1]["org_id"], json!("d-G2"));

    // Reference 2024-12-30: M4 still enrolled (d-G1; 8 h): d-G1 all = M2, M4.
    let g1 = coverage(
        &rec,
        2024,
        Some("d-G1"),
        Rules::Cn2019Hours,
        (2024, 12, 30),
        None,
    );
    assert_rows(
        &g1[..1],
        &[row("d-G1", "all", (2, 2, 0, Some(1.0), Some(0.0)))],
    );

    // 2023: M3 left 2023-05-01 → out; M1, M2, M4 in d-G1, nobody reached in 2023.
    let g1_2023 = coverage(
        &rec,
        2023,
        Some("d-G1"),
        Rules::Cn2019Hours,
        (2023, 12, 31),
        None,
    );
    assert_rows(
        &g1_2023[..1],
        &[row("d-G1", "all", (3, 0, 0, Some(0.0), Some(0.0)))],
    );

    // M3's years: enrolled on Dec 31 of 2020–2022, not 2023, yes 2024, and on 2025-06-30.
    let h = member_history(&rec, "d-M3", None, Rules::Cn2019Hours, TODAY, None).unwrap();
    let y = |year: i32, credited: i64, reached: bool| {
        json!({"year": year, "credited_hours": credited, "required_hours": 32,
               "reached": reached, "compliant": false})
    };
    assert_eq!(
        h["years"],
        json!([
            y(2020, 0, false),
            y(2021, 0, false),
            y(2022, 0, false),
            y(2024, 5, true),
            y(2025, 0, false)
        ])
    );
    assert_eq!(h["entries"].as_array().unwrap().len(), 1);
    assert_eq!(h["entries"][0]["record_id"], "d-C2");
    // M1: 2020–2023 only (gone on 2024-12-31 and on 2025-06-30); the 2024 class still shows.
    let h1 = member_history(&rec, "d-M1", None, Rules::Cn2019Hours, TODAY, None).unwrap();
    let years: Vec<i64> = h1["years"]
        .as_array()
        .unwrap()
        .iter()
        .map(|y| y["year"].as_i64().unwrap())
        .collect();
    assert_eq!(years, [2020, 2021, 2022, 2023]);
    assert_eq!(h1["entries"][0]["record_id"], "d-C1");
}

/// (e) Roles in Y up to the reference date.
#[test]
fn e_role_changes() {
    let rec = scenario_e();
    // 2024 groups: M1 committee (role to 03-15) → leader 56 h; M2 ordinary (role from 2025);
    // M3 grid_secretary → leader; M4 ordinary; M5 grid_secretary (branch_secretary ended
    // 2024-01-01: held on that day) → leader.
    // Hours: M1 C1+C2+C3 = 60 incl. concentrated → compliant; M2 C1+C2 = 40 ≥ 32 → compliant;
    // M3 C2+C3+C4 = 60 but no concentrated class → not; M4 20 → not; M5 0, unreached.
    let rows = coverage(
        &rec,
        2024,
        Some("e-G1"),
        Rules::Cn2019Hours,
        Y2024_END,
        None,
    );
    assert_rows(
        &rows,
        &org_rows(
            "e-G1",
            [
                (5, 4, 2, Some(0.8), Some(0.4)),
                (1, 1, 1, Some(1.0), Some(1.0)),
                (2, 1, 0, Some(0.5), Some(0.0)),
                EMPTY,
                EMPTY,
                (2, 2, 1, Some(1.0), Some(0.5)),
            ],
        ),
    );
    let nc = coverage_members(
        &rec,
        2024,
        None,
        Rules::Cn2019Hours,
        Y2024_END,
        None,
        "noncompliant",
    );
    let m = |id: &str, group: &str, credited: i64, required: i64| {
        json!({"member_id": id, "name": format!("Member {id}"), "org_id": "e-G1",
               "groups": [group], "credited_hours": credited, "required_hours": required})
    };
    assert_eq!(
        nc,
        vec![
            m("e-M3", "grid_secretary", 60, 56),
            m("e-M4", "ordinary", 20, 32),
            m("e-M5", "grid_secretary", 0, 56)
        ]
    );

    // reach-all: compliant = reached (4 of 5), nobody required.
    let rows = coverage(&rec, 2024, Some("e-G1"), Rules::ReachAll, Y2024_END, None);
    assert_rows(
        &rows,
        &org_rows(
            "e-G1",
            [
                (5, 4, 4, Some(0.8), Some(0.8)),
                (1, 1, 1, Some(1.0), Some(1.0)),
                (2, 1, 1, Some(0.5), Some(0.5)),
                EMPTY,
                EMPTY,
                (2, 2, 2, Some(1.0), Some(1.0)),
            ],
        ),
    );
    let nc = coverage_members(
        &rec,
        2024,
        None,
        Rules::ReachAll,
        Y2024_END,
        None,
        "noncompliant",
    );
    assert_eq!(nc, vec![m("e-M5", "grid_secretary", 0, 0)]);

    // 2025 on 2025-01-01: M2's role (from 01-02) not yet held, M1's and M5's ended in 2024:
    // committee 0; grid_secretary = M3; ordinary = M1, M2, M4, M5. Nobody reached in 2025.
    let rows = coverage(
        &rec,
        2025,
        Some("e-G1"),
        Rules::Cn2019Hours,
        (2025, 1, 1),
        None,
    );
    assert_rows(
        &rows,
        &org_rows(
            "e-G1",
            [
                (5, 0, 0, Some(0.0), Some(0.0)),
                EMPTY,
                (1, 0, 0, Some(0.0), Some(0.0)),
                EMPTY,
                EMPTY,
                (4, 0, 0, Some(0.0), Some(0.0)),
            ],
        ),
    );
    // 2025 on 2025-12-31: M2 committee (and a leader: 56 h); ordinary = M1, M4, M5.
    let rows = coverage(
        &rec,
        2025,
        Some("e-G1"),
        Rules::Cn2019Hours,
        (2025, 12, 31),
        None,
    );
    assert_eq!(rows[1]["in_scope"], json!(1));
    assert_eq!(rows[2]["in_scope"], json!(1));
    assert_eq!(rows[5]["in_scope"], json!(3));
    let m2 = coverage_members(
        &rec,
        2025,
        None,
        Rules::Cn2019Hours,
        (2025, 12, 31),
        None,
        "unreached",
    )
    .into_iter()
    .find(|m| m["member_id"] == "e-M2")
    .unwrap();
    assert_eq!(m2["groups"], json!(["committee"]));
    assert_eq!(m2["required_hours"], json!(56));
}

/// (f) Frail members are exempt: compliant when reached by a credited record.
#[test]
fn f_frail_exemption() {
    let rec = scenario_f();
    // Frail on 2024-12-31: M1, M2 (enrolled frail), M4 (since 10-01). M3 ordinary.
    // Reached: M1 only (0 h home_study_delivery visit). M2's care_visit is not credited; M3 was
    // only the visitor. Compliant: M1 (exempt, reached).
    let rows = coverage(
        &rec,
        2024,
        Some("f-G1"),
        Rules::Cn2019Hours,
        Y2024_END,
        None,
    );
    assert_rows(
        &rows,
        &org_rows(
            "f-G1",
            [
                (4, 1, 1, Some(0.25), Some(0.25)),
                EMPTY,
                EMPTY,
                (3, 1, 1, Some(0.3333), Some(0.3333)),
                EMPTY,
                (1, 0, 0, Some(0.0), Some(0.0)),
            ],
        ),
    );
    let m = |id: &str, group: &str, required: i64| {
        json!({"member_id": id, "name": format!("Member {id}"), "org_id": "f-G1",
               "groups": [group], "credited_hours": 0, "required_hours": required})
    };
    let unreached = coverage_members(
        &rec,
        2024,
        None,
        Rules::Cn2019Hours,
        Y2024_END,
        None,
        "unreached",
    );
    assert_eq!(
        unreached,
        vec![
            m("f-M2", "frail", 0),
            m("f-M3", "ordinary", 32),
            m("f-M4", "frail", 0)
        ]
    );
    let noncompliant = coverage_members(
        &rec,
        2024,
        None,
        Rules::Cn2019Hours,
        Y2024_END,
        None,
        "noncompliant",
    );
    assert_eq!(noncompliant, unreached);
    let unreached_all = coverage_members(
        &rec,
        2024,
        None,
        Rules::ReachAll,
        Y2024_END,
        None,
        "unreached",
    );
    assert_eq!(
        unreached_all,
        vec![
            m("f-M2", "frail", 0),
            m("f-M3", "ordinary", 0),
            m("f-M4", "frail", 0)
        ]
    );

    let (p1, e1) = recorded(&rec, "visit_id", "f-HV1");
    let h1 = member_history(&rec, "f-M1", Some(2024), Rules::Cn2019Hours, TODAY, None).unwrap();
    assert_eq!(
        h1,
        json!({"entries": [{"occurred_at": "2024-07-01T00:00:00.000+08:00", "kind": "home_visit",
                            "record_id": "f-HV1", "title": "送学上门", "study_hours": 0,
                            "credited": true, "position": p1, "event_id": e1, "voided": false}],
               "years": [{"year": 2024, "credited_hours": 0, "required_hours": 0,
                          "reached": true, "compliant": true}]})
    );
    let h2 = member_history(&rec, "f-M2", Some(2024), Rules::Cn2019Hours, TODAY, None).unwrap();
    assert_eq!(h2["entries"][0]["title"], "care_visit");
    assert_eq!(h2["entries"][0]["study_hours"], json!(1));
    assert_eq!(h2["entries"][0]["credited"], json!(false));
    assert_eq!(
        h2["years"],
        json!([{"year": 2024, "credited_hours": 0, "required_hours": 0, "reached": false, "compliant": false}])
    );
    // The visitor's history is empty.
    let h3 = member_history(&rec, "f-M3", Some(2024), Rules::Cn2019Hours, TODAY, None).unwrap();
    assert_eq!(h3["entries"], json!([]));
}

/// (g) Online study capped at 16 h a year; a class of form `online` is not capped.
#[test]
fn g_online_cap() {
    let rec = scenario_g();
    // M1: online 8 + 8 + 4 = 20 → 16; classes 6 + 4 = 10; credited 26 < 32; mobile → not ordinary.
    // M2: online 15.25 + 0.75 + 2.5 = 18.5 → 16; classes 6 + 4 + 5.7 + 0.3 = 16; 32 ≥ 32: compliant.
    let rows = coverage(
        &rec,
        2024,
        Some("g-G1"),
        Rules::Cn2019Hours,
        Y2024_END,
        None,
    );
    assert_rows(
        &rows,
        &org_rows(
            "g-G1",
            [
                (2, 2, 1, Some(1.0), Some(0.5)),
                EMPTY,
                EMPTY,
                EMPTY,
                (1, 1, 0, Some(1.0), Some(0.0)),
                (1, 1, 1, Some(1.0), Some(1.0)),
            ],
        ),
    );
    let nc = coverage_members(
        &rec,
        2024,
        None,
        Rules::Cn2019Hours,
        Y2024_END,
        None,
        "noncompliant",
    );
    assert_eq!(
        nc,
        vec![
            json!({"member_id": "g-M1", "name": "Member g-M1", "org_id": "g-G1",
                    "groups": ["mobile"], "credited_hours": 26, "required_hours": 32})
        ]
    );

    // M1's 2024 history, by occurrence: OL1 03-01, OL2 05-01, C1 06-01 09:00, OL3 08-01,
    // C2 09-01 20:00 — every one credited (the cap does not change `credited`).
    let h = member_history(&rec, "g-M1", Some(2024), Rules::Cn2019Hours, TODAY, None).unwrap();
    let summary: Vec<(String, String, Value, bool)> = h["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["occurred_at"].as_str().unwrap().to_owned(),
                e["record_id"].as_str().unwrap().to_owned(),
                e["study_hours"].clone(),
                e["credited"].as_bool().unwrap(),
            )
        })
        .collect();
    let s = |at: &str, id: &str, h: i64| (at.to_owned(), id.to_owned(), json!(h), true);
    assert_eq!(
        summary,
        vec![
            s("2024-03-01T00:00:00.000+08:00", "g-OL1", 8),
            s("2024-05-01T00:00:00.000+08:00", "g-OL2", 8),
            s("2024-06-01T09:00:00.000+08:00", "g-C1", 6),
            s("2024-08-01T00:00:00.000+08:00", "g-OL3", 4),
            s("2024-09-01T20:00:00.000+08:00", "g-C2", 4),
        ]
    );
    assert_eq!(h["entries"][0]["kind"], "online_study");
    assert_eq!(h["entries"][0]["title"], "lighthouse_classroom");
    assert_eq!(
        h["years"],
        json!([{"year": 2024, "credited_hours": 26, "required_hours": 32, "reached": true, "compliant": false}])
    );
    // 2023: only OL4 (10 h, 2023-12-31); not mobile on 2023-12-31 → ordinary, 32 required.
    let h = member_history(&rec, "g-M1", Some(2023), Rules::Cn2019Hours, TODAY, None).unwrap();
    assert_eq!(
        h["years"],
        json!([{"year": 2023, "credited_hours": 10, "required_hours": 32, "reached": true, "compliant": false}])
    );
    // M2's 2024 total is an exact 32 (summed in hundredths).
    let h = member_history(&rec, "g-M2", Some(2024), Rules::Cn2019Hours, TODAY, None).unwrap();
    assert_eq!(h["years"][0]["credited_hours"], json!(32));
    assert_eq!(h["years"][0]["compliant"], json!(true));
    let c3 = h["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["record_id"] == "g-C3")
        .unwrap();
    assert_eq!(c3["study_hours"], json!(5.7));
}

/// (h) Years are local (UTC+08:00) years.
#[test]
fn h_year_boundary() {
    let rec = scenario_h();
    // h-C2 (2 h, M1) is local 2024-12-31 23:59:59 → 2024; h-C1 (3 h, M1 and M2) is local
    // 2025-01-01 04:00 → 2025.
    // 2024: M1 reached (2 h), M2 unreached.
    let rows = coverage(
        &rec,
        2024,
        Some("h-G1"),
        Rules::Cn2019Hours,
        Y2024_END,
        None,
    );
    assert_rows(
        &rows[..1],
        &[row("h-G1", "all", (2, 1, 0, Some(0.5), Some(0.0)))],
    );
    let un = coverage_members(
        &rec,
        2024,
        None,
        Rules::Cn2019Hours,
        Y2024_END,
        None,
        "unreached",
    );
    assert_eq!(member_ids(&un), ["h-M2"]);
    // 2025: both reached by h-C1 (3 h each).
    let rows = coverage(
        &rec,
        2025,
        Some("h-G1"),
        Rules::Cn2019Hours,
        (2025, 12, 31),
        None,
    );
    assert_rows(
        &rows[..1],
        &[row("h-G1", "all", (2, 2, 0, Some(1.0), Some(0.0)))],
    );
    let nc = coverage_members(
        &rec,
        2025,
        None,
        Rules::Cn2019Hours,
        (2025, 12, 31),
        None,
        "noncompliant",
    );
    assert_eq!(nc[0]["credited_hours"], json!(3));
    assert_eq!(nc[1]["credited_hours"], json!(3));

    // M1's history: h-C2 before h-C1 (by time, although recorded after), in local time.
    let h = member_history(&rec, "h-M1", None, Rules::Cn2019Hours, TODAY, None).unwrap();
    let at: Vec<(&str, &str)> = h["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["record_id"].as_str().unwrap(),
                e["occurred_at"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        at,
        [
            ("h-C2", "2024-12-31T23:59:59.000+08:00"),
            ("h-C1", "2025-01-01T04:00:00.000+08:00")
        ]
    );
    let credited: Vec<(i64, Value)> = h["years"]
        .as_array()
        .unwrap()
        .iter()
        .map(|y| (y["year"].as_i64().unwrap(), y["credited_hours"].clone()))
        .collect();
    assert_eq!(
        credited,
        vec![
            (2020, json!(0)),
            (2021, json!(0)),
            (2022, json!(0)),
            (2023, json!(0)),
            (2024, json!(2)),
            (2025, json!(3))
        ]
    );
    let h2024 = member_history(&rec, "h-M1", Some(2024), Rules::Cn2019Hours, TODAY, None).unwrap();
    assert_eq!(h2024["entries"].as_array().unwrap().len(), 1);
    assert_eq!(h2024["entries"][0]["record_id"], "h-C2");
}

/// (i) Lecture tallies.
#[test]
fn i_lecture_tallies() {
    let rec = scenario_i();
    // 2024, counted (PL2 voided): PL1 S1 (2 h; M1 M2), PL3 S1 (1 h; M1 S1), PL4 S2 (1.25 h;
    // M1 S1), PL5 S3 (0.5 h; M2).
    // S1: 2 lectures, 3 h, attendees {M1, M2, S1} = 3; roles on 03-10: subdistrict_leader,
    //     grid_secretary (01-01 … 03-10: ending on the day, held that day); on 09-10:
    //     subdistrict_leader.
    // S2: 1, 1.25 h, {M1, S1} = 2, no roles. S3: 1, 0.5 h, {M2} = 1, no role yet on 07-01.
    // leader_lectures: PL1, PL3 (S1 subdistrict_leader); PL5 not (S3's role starts 08-01) = 2.
    // missing: subdistrict_leader / community_secretary in 2024: S1, S3 (speakers), CS (none);
    //     CS0 ended 2023-12-31 → not in 2024.
    let speaker = |id: &str, lectures: i64, hours: Value, unique: i64, roles: Value| {
        json!({"member_id": id, "name": format!("Member {id}"), "lectures": lectures,
               "study_hours": hours, "unique_attendees": unique, "roles": roles})
    };
    let s1 = speaker(
        "i-S1",
        2,
        json!(3),
        3,
        json!(["grid_secretary", "subdistrict_leader"]),
    );
    let s2 = speaker("i-S2", 1, json!(1.25), 2, json!([]));
    let s3 = speaker("i-S3", 1, json!(0.5), 1, json!([]));
    assert_eq!(
        lecture_tallies(&rec, 2024, None, Y2024_END, None),
        json!({"speakers": [s1, s2, s3],
               "totals": {"lectures": 4, "speakers": 3, "leader_lectures": 2},
               "missing": ["i-CS"]})
    );
    // org=i-CM: audiences CM (PL1), G2 (PL3), G1 (PL4) count; PL5's audience SD does not.
    // missing: roles at orgs under CM: CS (community_secretary at CM); S1/S3's roles are at SD.
    assert_eq!(
        lecture_tallies(&rec, 2024, Some("i-CM"), Y2024_END, None),
        json!({"speakers": [s1, s2],
               "totals": {"lectures": 3, "speakers": 2, "leader_lectures": 2},
               "missing": ["i-CS"]})
    );
    // org=i-G1: only PL4 (PL2 voided); no missing role at G1.
    assert_eq!(
        lecture_tallies(&rec, 2024, Some("i-G1"), Y2024_END, None),
        json!({"speakers": [s2],
               "totals": {"lectures": 1, "speakers": 1, "leader_lectures": 0},
               "missing": []})
    );
    // 2023: PL0 by CS (1 h; M1), CS a community_secretary then. Missing: S1 (leader since
    // 2023-01-01) and CS0 (secretary until 2023-12-31).
    assert_eq!(
        lecture_tallies(&rec, 2023, None, (2023, 12, 31), None),
        json!({"speakers": [speaker("i-CS", 1, json!(1), 1, json!(["community_secretary"]))],
               "totals": {"lectures": 1, "speakers": 1, "leader_lectures": 0},
               "missing": ["i-CS0", "i-S1"]})
    );
    // Before the void of PL2: S1 has 3 lectures, 4.5 h, attendees {M1, M2, M3, S1} = 4.
    let before = position_of(&rec, "RecordVoided") - 1;
    let t = lecture_tallies(&rec, 2024, None, Y2024_END, Some(before));
    assert_eq!(
        t["speakers"][0],
        speaker(
            "i-S1",
            3,
            json!(4.5),
            4,
            json!(["grid_secretary", "subdistrict_leader"])
        )
    );
    assert_eq!(
        t["totals"],
        json!({"lectures": 5, "speakers": 3, "leader_lectures": 3})
    );
}

/// (j) The same query before and after a void.
#[test]
fn j_as_of_before_and_after_a_void() {
    let rec = scenario_j();
    let void_pos = position_of(&rec, "RecordVoided");
    let (c1_pos, _) = recorded(&rec, "class_id", "j-C1");
    let (c2_pos, c2_event) = recorded(&rec, "class_id", "j-C2");
    let all = |as_of| {
        coverage(
            &rec,
            2024,
            Some("j-G1"),
            Rules::Cn2019Hours,
            Y2024_END,
            as_of,
        )[0]
        .clone()
    };
    let nc = |as_of| {
        coverage_members(
            &rec,
            2024,
            None,
            Rules::Cn2019Hours,
            Y2024_END,
            as_of,
            "noncompliant",
        )
    };

    // Before C1 is recorded: nobody reached.
    assert_rows(
        &[all(Some(c1_pos - 1))],
        &[row("j-G1", "all", (2, 0, 0, Some(0.0), Some(0.0)))],
    );
    // Before the void: M1 20 + 12 = 32 → compliant; M2 20 → not.
    assert_rows(
        &[all(Some(void_pos - 1))],
        &[row("j-G1", "all", (2, 2, 1, Some(1.0), Some(0.5)))],
    );
    assert_eq!(member_ids(&nc(Some(void_pos - 1))), ["j-M2"]);
    // At the void and on the current log: M1 back to 20 h → nobody compliant.
    for as_of in [Some(void_pos), None] {
        assert_rows(
            &[all(as_of)],
            &[row("j-G1", "all", (2, 2, 0, Some(1.0), Some(0.0)))],
        );
        let members = nc(as_of);
        assert_eq!(member_ids(&members), ["j-M1", "j-M2"]);
        assert_eq!(members[0]["credited_hours"], json!(20));
    }

    let c2 = |as_of| {
        member_history(&rec, "j-M1", Some(2024), Rules::Cn2019Hours, TODAY, as_of).unwrap()["entries"][1].clone()
    };
    let mut expected = json!({"occurred_at": "2024-04-01T09:00:00.000+08:00", "kind": "class",
        "record_id": "j-C2", "title": "Class j-C2", "study_hours": 12, "credited": true,
        "position": c2_pos, "event_id": c2_event, "voided": false});
    assert_eq!(c2(Some(void_pos - 1)), expected);
    expected["credited"] = json!(false);
    expected["voided"] = json!(true);
    expected["void_reason"] = json!("the class did not take place");
    assert_eq!(c2(None), expected);
}
