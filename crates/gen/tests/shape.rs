//! The generated history has the article's shape (DOMAIN.md "Figures", for about 4,000
//! members), and every event type of the catalog occurs.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use partyedu_domain::Event;
use serde_json::Value;

/// What a history of one year shows, read back from its records.
#[derive(Debug, Default)]
struct Shape {
    classes_by_form: BTreeMap<String, usize>,
    lectures: usize,
    home_visits: usize,
    wishes_fulfilled: usize,
    wishes_claimed: usize,
    enrolled_at_end: usize,
    frail_at_end: usize,
    retired_at_end: usize,
    mobile_at_end: usize,
    /// Members enrolled at the end with a credited record (class, lecture, home study
    /// delivery or online study) in the history, voided ones included.
    reached_at_end: usize,
    online_over_cap: usize,
}

fn ids(value: &Value) -> impl Iterator<Item = &str> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
}

fn shape(bytes: &[u8]) -> Shape {
    let mut shape = Shape::default();
    let mut enrolled = HashSet::new();
    let mut frail = HashSet::new();
    let mut retired = HashSet::new();
    let mut mobile = HashSet::new();
    let mut reached = HashSet::new();
    let mut online_hours: HashMap<String, f64> = HashMap::new();
    for (_, record) in common::records(bytes) {
        let data = &record["data"];
        let member = data["member_id"].as_str().map(str::to_owned);
        match record["type"].as_str().unwrap() {
            "MemberEnrolled" => {
                let member = member.unwrap();
                if data["frail"] == true {
                    frail.insert(member.clone());
                }
                if data["employment"] == "retired" {
                    retired.insert(member.clone());
                }
                enrolled.insert(member);
            }
            "MemberReenrolled" => {
                enrolled.insert(member.unwrap());
            }
            "MemberLeft" => {
                let member = member.unwrap();
                enrolled.remove(&member);
                mobile.remove(&member);
            }
            "MemberCareStatusChanged" => {
                let member = member.unwrap();
                if data["frail"] == true {
                    frail.insert(member);
                } else {
                    frail.remove(&member);
                }
            }
            "MemberWentMobile" => {
                mobile.insert(member.unwrap());
            }
            "MemberReturned" => {
                mobile.remove(&member.unwrap());
            }
            "ClassHeld" => {
                *shape
                    .classes_by_form
                    .entry(data["form"].as_str().unwrap().to_owned())
                    .or_default() += 1;
                reached.extend(ids(&data["attendee_ids"]).map(str::to_owned));
            }
            "PartyLectureGiven" => {
                shape.lectures += 1;
                reached.extend(ids(&data["attendee_ids"]).map(str::to_owned));
            }
            "HomeVisitMade" => {
                shape.home_visits += 1;
                if ids(&data["purposes"]).any(|p| p == "home_study_delivery") {
                    reached.insert(member.unwrap());
                }
            }
            "OnlineStudyLogged" => {
                let member = member.unwrap();
                *online_hours.entry(member.clone()).or_default() +=
                    data["study_hours"].as_f64().unwrap();
                reached.insert(member);
            }
            "MicroWishClaimed" => shape.wishes_claimed += 1,
            "MicroWishFulfilled" => shape.wishes_fulfilled += 1,
            _ => {}
        }
    }
    shape.enrolled_at_end = enrolled.len();
    shape.frail_at_end = enrolled.intersection(&frail).count();
    shape.retired_at_end = enrolled.intersection(&retired).count();
    shape.mobile_at_end = mobile.len();
    shape.reached_at_end = enrolled.intersection(&reached).count();
    shape.online_over_cap = online_hours.values().filter(|&&h| h > 16.0).count();
    shape
}

#[test]
fn a_year_of_four_thousand_members_has_the_articles_shape() {
    let (bytes, summary) = common::history(&common::config(4000, 1, 2024));
    let shape = shape(&bytes);
    println!("{shape:#?}\n{summary:#?}");
    let classes: usize = shape.classes_by_form.values().sum();
    assert!((38..=56).contains(&classes), "47 classes ±20%: {classes}");
    assert_eq!(shape.classes_by_form.len(), 7, "every class form");
    assert!(shape.classes_by_form["field_trip"] >= 15);
    assert!(shape.lectures >= 30, "party lectures: {}", shape.lectures);
    assert!(
        shape.home_visits >= 60,
        "home visits: {}",
        shape.home_visits
    );
    assert!(
        shape.wishes_fulfilled >= 40,
        "fulfilled: {}",
        shape.wishes_fulfilled
    );
    assert!(
        shape.wishes_claimed >= 40,
        "claimed: {}",
        shape.wishes_claimed
    );
    let end = shape.enrolled_at_end as f64;
    assert!(
        (3600.0..=4400.0).contains(&end),
        "about 4,000 members: {end}"
    );
    let share = |n: usize| n as f64 / end;
    assert!(
        (0.2..=0.3).contains(&share(shape.retired_at_end)),
        "~25% retired"
    );
    assert!(
        (0.05..=0.08).contains(&share(shape.frail_at_end)),
        "5–8% frail"
    );
    assert!(
        (0.02..=0.06).contains(&share(shape.mobile_at_end)),
        "3–5% mobile"
    );
    assert!(share(shape.reached_at_end) >= 0.85, "most members reached");
    assert!(
        shape.online_over_cap > 0,
        "some study online beyond the cap"
    );
}

#[test]
fn every_event_type_occurs() {
    let mut seen = BTreeSet::new();
    let mut voided = BTreeSet::new();
    for (members, years, seed) in [(20, 1, 1), (300, 3, 7), (2000, 2, 42), (4000, 1, 2024)] {
        let (bytes, summary) = common::history(&common::config(members, years, seed));
        seen.extend(summary.by_type.keys().copied());
        let mut types: HashMap<String, String> = HashMap::new();
        for (_, record) in common::records(&bytes) {
            let type_name = record["type"].as_str().unwrap().to_owned();
            if type_name == "RecordVoided" {
                voided.insert(types[record["data"]["event_id"].as_str().unwrap()].clone());
            }
            types.insert(record["event_id"].as_str().unwrap().to_owned(), type_name);
        }
    }
    let missing: Vec<&str> = Event::TYPES
        .iter()
        .map(|&(name, _)| name)
        .filter(|name| !seen.contains(name))
        .collect();
    assert!(missing.is_empty(), "never generated: {missing:?}");
    for target in [
        "ClassHeld",
        "PartyLectureGiven",
        "HomeVisitMade",
        "OnlineStudyLogged",
        "MobileMemberContacted",
        "OrgLifeMeetingHeld",
        "AttendanceAmended",
    ] {
        assert!(voided.contains(target), "no {target} voided: {voided:?}");
    }
}

#[test]
fn a_tiny_history_is_not_trivial() {
    let (_, summary) = common::history(&common::config(20, 1, 1));
    println!("{summary:#?}");
    for kind in [
        "ClassHeld",
        "PartyLectureGiven",
        "HomeVisitMade",
        "OnlineStudyLogged",
        "OrgLifeMeetingHeld",
        "MicroWishFulfilled",
    ] {
        assert!(summary.by_type.contains_key(kind), "no {kind}");
    }
}
