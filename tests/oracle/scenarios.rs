//! Small, hand-checkable histories for the oracle tests (`tests/oracle_scenarios.rs`), also meant to
//! be replayed against the real API: every event is valid under the catalog's validation rules
//! (org tree subdistrict → community → grid_branch established 2019-01-01, members enrolled
//! 2020-01-01 before any activity, no future dates, `study_hours > 0` for classes and lectures,
//! registry events of a member in date order, MemberLeft after the member's activities).
//!
//! Every id of scenario `x` starts with `x-`, and event ids are UUIDs whose first group is the
//! scenario's number, so all scenarios can be recorded into one database without clashes; query
//! them with `org=x-SD` (or a subtree of it). Each record carries the envelope fields of the export
//! format (`position` 1, 2, … within the scenario, `stream`, `version`, `occurred_at`, …);
//! [`as_post_events`] turns a history into the body of `POST /api/v1/events` (client event ids kept,
//! so the voids' targets match).

use super::{format_local, parse_timestamp};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Builds a history: records with positions 1, 2, 3, ….
pub struct Log {
    scenario: u32,
    records: Vec<Value>,
    versions: BTreeMap<String, u64>,
    stream_of_event: BTreeMap<String, String>,
}

/// A study-hours value: an integer when whole (`3`), else a decimal (`0.75`).
fn hours(h: f64) -> Value {
    if h.fract() == 0.0 {
        json!(h as i64)
    } else {
        json!(h)
    }
}

fn minutes(h: f64) -> i64 {
    ((h * 60.0).round() as i64).max(1)
}

impl Log {
    pub fn new(scenario: u32) -> Log {
        Log {
            scenario,
            records: Vec::new(),
            versions: BTreeMap::new(),
            stream_of_event: BTreeMap::new(),
        }
    }

    pub fn records(self) -> Vec<Value> {
        self.records
    }

    /// Appends an event; returns its event id.
    pub fn push(&mut self, ty: &str, data: Value) -> String {
        let position = self.records.len() as i64 + 1;
        let event_id = format!("{:08x}-0000-4000-8000-{:012x}", self.scenario, position);
        let s = |k: &str| data[k].as_str().unwrap_or_default().to_owned();
        let stream = match ty {
            "OrgUnitEstablished" | "OrgUnitRenamed" => format!("org:{}", s("org_id")),
            "ClassHeld" | "AttendanceAmended" => format!("class:{}", s("class_id")),
            "PartyLectureGiven" => format!("lecture:{}", s("lecture_id")),
            "HomeVisitMade" => format!("visit:{}", s("visit_id")),
            "OrgLifeMeetingHeld" => format!("meeting:{}", s("meeting_id")),
            "VenueOpened" => format!("venue:{}", s("venue_id")),
            "LecturerEnlisted" => format!("lecturer:{}", s("lecturer_id")),
            "StudyListIssued" => format!("study-list:{}", s("list_id")),
            "RecordVoided" => self
                .stream_of_event
                .get(&s("event_id"))
                .cloned()
                .expect("a void targets an earlier event of the scenario"),
            t if t.starts_with("MicroWish") => format!("wish:{}", s("wish_id")),
            _ => format!("member:{}", s("member_id")),
        };
        let version = {
            let v = self.versions.entry(stream.clone()).or_insert(0);
            *v += 1;
            *v
        };
        // Stored "now": long after every date of the scenarios, one second per position.
        let recorded_at = format_local((
            parse_timestamp("2026-01-05T10:00:00+08:00").unwrap().0 + position,
            0,
        ));
        let occurred_at = match ty {
            "ClassHeld" => format_local(parse_timestamp(&s("starts_at")).unwrap()),
            "PartyLectureGiven" => format_local(parse_timestamp(&s("given_at")).unwrap()),
            "RecordVoided" | "AttendanceAmended" | "MemberDetailsCorrected" => recorded_at.clone(),
            _ => {
                let keys = [
                    "on",
                    "since",
                    "enrolled_on",
                    "established_on",
                    "opened_on",
                    "enlisted_on",
                    "visited_on",
                    "studied_on",
                    "contacted_on",
                    "held_on",
                    "issued_on",
                    "posted_on",
                    "claimed_on",
                    "released_on",
                    "fulfilled_on",
                    "withdrawn_on",
                ];
                let date = keys
                    .iter()
                    .find_map(|k| data[*k].as_str())
                    .expect("a dated event");
                format!("{date}T00:00:00+08:00")
            }
        };
        self.stream_of_event
            .insert(event_id.clone(), stream.clone());
        self.records.push(json!({
            "event_id": event_id,
            "position": position,
            "stream": stream,
            "version": version,
            "type": ty,
            "schema_version": 1,
            "occurred_at": occurred_at,
            "recorded_at": recorded_at,
            "actor": "oracle-scenarios",
            "data": data,
            "metadata": {},
        }));
        event_id
    }

    // --- registry -----------------------------------------------------------------------------

    /// `{p}-SD` (subdistrict) → `{p}-CM` (community) → `{p}-G1`, `{p}-G2` (grid branches), all
    /// established 2019-01-01, and a lecturer `{p}-L1`.
    pub fn standard_orgs(&mut self, p: &str) {
        let sd = format!("{p}-SD");
        let cm = format!("{p}-CM");
        self.org(&sd, "subdistrict", None);
        self.org(&cm, "community", Some(&sd));
        self.org(&format!("{p}-G1"), "grid_branch", Some(&cm));
        self.org(&format!("{p}-G2"), "grid_branch", Some(&cm));
        self.push(
            "LecturerEnlisted",
            json!({"lecturer_id": format!("{p}-L1"), "name": "Lecturer", "kind": "expert",
                   "enlisted_on": "2019-01-01"}),
        );
    }

    pub fn org(&mut self, id: &str, kind: &str, parent: Option<&str>) {
        self.push(
            "OrgUnitEstablished",
            json!({"org_id": id, "name": format!("Org {id}"), "kind": kind,
                   "parent_id": parent, "established_on": "2019-01-01"}),
        );
    }

    /// Enrolled 2020-01-01 in `branch`; named `Member {id}`.
    pub fn member(&mut self, id: &str, branch: &str, frail: bool) {
        self.push(
            "MemberEnrolled",
            json!({"member_id": id, "name": format!("Member {id}"), "branch_id": branch,
                   "membership": "full", "joined_on": "2010-07-01", "enrolled_on": "2020-01-01",
                   "employment": "other", "frail": frail, "hardship": false}),
        );
    }

    pub fn transfer(&mut self, id: &str, to: &str, on: &str) {
        self.push(
            "MemberTransferred",
            json!({"member_id": id, "to_branch_id": to, "on": on}),
        );
    }

    pub fn left(&mut self, id: &str, on: &str, reason: &str) {
        self.push(
            "MemberLeft",
            json!({"member_id": id, "on": on, "reason": reason}),
        );
    }

    pub fn reenrolled(&mut self, id: &str, branch: &str, on: &str) {
        self.push(
            "MemberReenrolled",
            json!({"member_id": id, "branch_id": branch, "on": on}),
        );
    }

    pub fn care_status(&mut self, id: &str, frail: bool, on: &str) {
        self.push(
            "MemberCareStatusChanged",
            json!({"member_id": id, "frail": frail, "hardship": false, "on": on}),
        );
    }

    pub fn went_mobile(&mut self, id: &str, since: &str) {
        self.push(
            "MemberWentMobile",
            json!({"member_id": id, "since": since, "destination": "深圳", "reason": "work"}),
        );
    }

    pub fn role(&mut self, id: &str, role: &str, org: &str, on: &str) {
        self.push(
            "RoleAssigned",
            json!({"member_id": id, "role": role, "org_id": org, "on": on}),
        );
    }

    pub fn role_ended(&mut self, id: &str, role: &str, org: &str, on: &str) {
        self.push(
            "RoleEnded",
            json!({"member_id": id, "role": role, "org_id": org, "on": on}),
        );
    }

    // --- activities ---------------------------------------------------------------------------

    /// A class titled `Class {id}`, organised by `{p}-SD` with lecturer `{p}-L1` (p = the id's
    /// prefix before the first `-`).
    pub fn class(
        &mut self,
        id: &str,
        form: &str,
        starts_at: &str,
        h: f64,
        attendees: &[&str],
    ) -> String {
        let p = id.split('-').next().unwrap();
        self.push(
            "ClassHeld",
            json!({"class_id": id, "title": format!("Class {id}"), "form": form,
                   "organizer_org_id": format!("{p}-SD"), "starts_at": starts_at,
                   "duration_minutes": minutes(h), "study_hours": hours(h),
                   "lecturer_ids": [format!("{p}-L1")], "attendee_ids": attendees}),
        )
    }

    pub fn amend(
        &mut self,
        class_id: &str,
        added: &[&str],
        removed: &[&str],
        reason: &str,
    ) -> String {
        self.push(
            "AttendanceAmended",
            json!({"class_id": class_id, "added": added, "removed": removed, "reason": reason}),
        )
    }

    /// A party lecture titled `Lecture {id}`.
    pub fn lecture(
        &mut self,
        id: &str,
        speaker: &str,
        audience: &str,
        given_at: &str,
        h: f64,
        attendees: &[&str],
    ) -> String {
        self.push(
            "PartyLectureGiven",
            json!({"lecture_id": id, "speaker_id": speaker, "title": format!("Lecture {id}"),
                   "audience_org_id": audience, "given_at": given_at,
                   "duration_minutes": minutes(h), "study_hours": hours(h),
                   "attendee_ids": attendees}),
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub fn visit(
        &mut self,
        id: &str,
        member: &str,
        visitor: &str,
        on: &str,
        purposes: &[&str],
        h: f64,
        note: Option<&str>,
    ) -> String {
        let mut data = json!({"visit_id": id, "member_id": member, "visitor_ids": [visitor],
                              "visited_on": on, "purposes": purposes, "study_hours": hours(h)});
        if let Some(note) = note {
            data["note"] = json!(note);
        }
        self.push("HomeVisitMade", data)
    }

    pub fn online(&mut self, id: &str, member: &str, on: &str, h: f64) -> String {
        self.push(
            "OnlineStudyLogged",
            json!({"log_id": id, "member_id": member, "platform": "lighthouse_classroom",
                   "studied_on": on, "study_hours": hours(h)}),
        )
    }

    pub fn void(&mut self, event_id: &str, reason: &str) -> String {
        self.push(
            "RecordVoided",
            json!({"event_id": event_id, "reason": reason}),
        )
    }
}

/// The body of `POST /api/v1/events` recording a history: `{"events": [{type, data, event_id}]}`.
pub fn as_post_events(records: &[Value]) -> Value {
    let events: Vec<Value> = records
        .iter()
        .map(|r| json!({"type": r["type"], "data": r["data"], "event_id": r["event_id"]}))
        .collect();
    json!({ "events": events })
}

/// (a) Two members of a-G1; class a-C1 (concentrated, 3 h, both) is voided; a-C2 (seminar, 2 h,
/// a-M1 only) stands.
pub fn scenario_a() -> Vec<Value> {
    let mut log = Log::new(0xa);
    log.standard_orgs("a");
    log.member("a-M1", "a-G1", false);
    log.member("a-M2", "a-G1", false);
    let c1 = log.class(
        "a-C1",
        "concentrated",
        "2024-03-05T09:00:00+08:00",
        3.0,
        &["a-M1", "a-M2"],
    );
    log.class(
        "a-C2",
        "seminar",
        "2024-04-10T14:00:00+08:00",
        2.0,
        &["a-M1"],
    );
    log.void(&c1, "duplicate entry");
    log.records()
}

/// (b) b-C1 (concentrated, 4 h) attended by b-M1, b-M2; an amendment adds b-M3 and removes b-M2;
/// then the amendment is voided.
pub fn scenario_b() -> Vec<Value> {
    let mut log = Log::new(0xb);
    log.standard_orgs("b");
    log.member("b-M1", "b-G1", false);
    log.member("b-M2", "b-G1", false);
    log.member("b-M3", "b-G1", false);
    log.class(
        "b-C1",
        "concentrated",
        "2024-05-06T09:00:00+08:00",
        4.0,
        &["b-M1", "b-M2"],
    );
    let amendment = log.amend("b-C1", &["b-M3"], &["b-M2"], "sign-in sheet checked");
    log.void(&amendment, "the sign-in sheet was the wrong one");
    log.records()
}

/// (c) c-M1 (c-G1) and c-M2 (c-G2) attend c-C1 (10 h) in February 2024; c-M1 moves to c-G2 on
/// 2024-07-01, c-M2 to c-G1 on 2024-12-31 (the reference date itself).
pub fn scenario_c() -> Vec<Value> {
    let mut log = Log::new(0xc);
    log.standard_orgs("c");
    log.member("c-M1", "c-G1", false);
    log.member("c-M2", "c-G2", false);
    log.class(
        "c-C1",
        "concentrated",
        "2024-02-20T09:00:00+08:00",
        10.0,
        &["c-M1", "c-M2"],
    );
    log.transfer("c-M1", "c-G2", "2024-07-01");
    log.transfer("c-M2", "c-G1", "2024-12-31");
    log.records()
}

/// (d) d-M1 leaves 2024-06-30; d-M2 stays; d-M3 left 2023-05-01 and is re-enrolled into d-G2 on
/// 2024-09-01; d-M4 leaves on 2024-12-31. d-C1 (8 h, 2024-03-01: M1, M2, M4), d-C2 (5 h,
/// 2024-10-10: M2, M3).
pub fn scenario_d() -> Vec<Value> {
    let mut log = Log::new(0xd);
    log.standard_orgs("d");
    for m in ["d-M1", "d-M2", "d-M3", "d-M4"] {
        log.member(m, "d-G1", false);
    }
    log.left("d-M3", "2023-05-01", "transferred_out");
    log.reenrolled("d-M3", "d-G2", "2024-09-01");
    log.class(
        "d-C1",
        "concentrated",
        "2024-03-01T09:00:00+08:00",
        8.0,
        &["d-M1", "d-M2", "d-M4"],
    );
    log.class(
        "d-C2",
        "seminar",
        "2024-10-10T09:00:00+08:00",
        5.0,
        &["d-M2", "d-M3"],
    );
    log.left("d-M1", "2024-06-30", "other");
    log.left("d-M4", "2024-12-31", "deceased");
    log.records()
}

/// (e) Roles: e-M1 committee_member (e-CM) 2022-01-01 … 2024-03-15; e-M2 community_secretary
/// from 2025-01-02; e-M3 grid_secretary (e-G1) from 2021-07-01; e-M4 none; e-M5
/// branch_secretary (e-G1) 2021-01-01 … 2024-01-01. Four 20 h classes in 2024:
/// C1 concentrated (M1, M2, M4), C2 seminar (M1, M2, M3), C3 field_trip (M1, M3), C4 seminar (M3).
pub fn scenario_e() -> Vec<Value> {
    let mut log = Log::new(0xe);
    log.standard_orgs("e");
    for m in ["e-M1", "e-M2", "e-M3", "e-M4", "e-M5"] {
        log.member(m, "e-G1", false);
    }
    log.role("e-M5", "branch_secretary", "e-G1", "2021-01-01");
    log.role("e-M3", "grid_secretary", "e-G1", "2021-07-01");
    log.role("e-M1", "committee_member", "e-CM", "2022-01-01");
    log.role_ended("e-M5", "branch_secretary", "e-G1", "2024-01-01");
    log.role_ended("e-M1", "committee_member", "e-CM", "2024-03-15");
    log.class(
        "e-C1",
        "concentrated",
        "2024-04-01T09:00:00+08:00",
        20.0,
        &["e-M1", "e-M2", "e-M4"],
    );
    log.class(
        "e-C2",
        "seminar",
        "2024-05-01T09:00:00+08:00",
        20.0,
        &["e-M1", "e-M2", "e-M3"],
    );
    log.class(
        "e-C3",
        "field_trip",
        "2024-06-01T09:00:00+08:00",
        20.0,
        &["e-M1", "e-M3"],
    );
    log.class(
        "e-C4",
        "seminar",
        "2024-07-01T09:00:00+08:00",
        20.0,
        &["e-M3"],
    );
    log.role("e-M2", "community_secretary", "e-CM", "2025-01-02");
    log.records()
}

/// (f) Frail: f-M1 (frail) gets a 0 h home-study visit; f-M2 (frail) a 1 h care visit only; f-M3
/// (not frail) is the visitor; f-M4 becomes frail on 2024-10-01 and gets nothing.
pub fn scenario_f() -> Vec<Value> {
    let mut log = Log::new(0xf);
    log.standard_orgs("f");
    log.member("f-M1", "f-G1", true);
    log.member("f-M2", "f-G1", true);
    log.member("f-M3", "f-G1", false);
    log.member("f-M4", "f-G1", false);
    log.visit(
        "f-HV1",
        "f-M1",
        "f-M3",
        "2024-07-01",
        &["home_study_delivery"],
        0.0,
        Some("送学上门"),
    );
    log.visit(
        "f-HV2",
        "f-M2",
        "f-M3",
        "2024-08-01",
        &["care_visit"],
        1.0,
        None,
    );
    log.care_status("f-M4", true, "2024-10-01");
    log.records()
}

/// (g) Online cap: g-M1 (mobile since 2024-02-01) logs 8 + 8 + 4 h online in 2024 (and 10 h on
/// 2023-12-31); g-M2 logs 15.25 + 0.75 + 2.5 h. Classes: C1 seminar 6 h (M1, M2), C2 form
/// `online` 4 h (M1, M2), C3 seminar 5.7 h (M2), C4 seminar 0.3 h (M2).
pub fn scenario_g() -> Vec<Value> {
    let mut log = Log::new(0x10);
    log.standard_orgs("g");
    log.member("g-M1", "g-G1", false);
    log.member("g-M2", "g-G1", false);
    log.online("g-OL4", "g-M1", "2023-12-31", 10.0);
    log.went_mobile("g-M1", "2024-02-01");
    log.online("g-OL1", "g-M1", "2024-03-01", 8.0);
    log.online("g-OL2", "g-M1", "2024-05-01", 8.0);
    log.online("g-OL3", "g-M1", "2024-08-01", 4.0);
    log.online("g-OL5", "g-M2", "2024-04-01", 15.25);
    log.online("g-OL6", "g-M2", "2024-04-02", 0.75);
    log.online("g-OL7", "g-M2", "2024-10-01", 2.5);
    log.class(
        "g-C1",
        "seminar",
        "2024-06-01T09:00:00+08:00",
        6.0,
        &["g-M1", "g-M2"],
    );
    log.class(
        "g-C2",
        "online",
        "2024-09-01T20:00:00+08:00",
        4.0,
        &["g-M1", "g-M2"],
    );
    log.class(
        "g-C3",
        "seminar",
        "2024-11-01T09:00:00+08:00",
        5.7,
        &["g-M2"],
    );
    log.class(
        "g-C4",
        "seminar",
        "2024-11-02T09:00:00+08:00",
        0.3,
        &["g-M2"],
    );
    log.records()
}

/// (h) Year boundary: h-C1 at 2024-12-31T20:00:00Z (local 2025-01-01 04:00; 3 h; M1, M2) is
/// recorded before h-C2 at 2024-12-31T15:59:59Z (local 2024-12-31 23:59:59; 2 h; M1).
pub fn scenario_h() -> Vec<Value> {
    let mut log = Log::new(0x11);
    log.standard_orgs("h");
    log.member("h-M1", "h-G1", false);
    log.member("h-M2", "h-G1", false);
    log.class(
        "h-C1",
        "concentrated",
        "2024-12-31T20:00:00Z",
        3.0,
        &["h-M1", "h-M2"],
    );
    log.class("h-C2", "seminar", "2024-12-31T15:59:59Z", 2.0, &["h-M1"]);
    log.records()
}

/// (i) Lecture tallies. Roles: i-S1 subdistrict_leader (i-SD) from 2023-01-01 and grid_secretary
/// (i-G2) 2024-01-01 … 2024-03-10 (PL1's date); i-CS0 community_secretary (i-CM) 2020-06-01 …
/// 2023-12-31; i-CS community_secretary (i-CM) from 2022-01-01; i-S3 subdistrict_leader (i-SD)
/// from 2024-08-01. Lectures: PL0 by CS in 2023; in 2024 PL1 (S1 → CM, 2 h, M1 M2), PL2 (S1 → G1,
/// 1.5 h, M2 M3, voided), PL3 (S1 → G2, 1 h, M1 S1), PL4 (S2 → G1, 1.25 h, M1 S1), PL5 (S3 → SD,
/// 0.5 h, M2, before S3's role).
pub fn scenario_i() -> Vec<Value> {
    let mut log = Log::new(0x12);
    log.standard_orgs("i");
    for m in [
        "i-CS", "i-CS0", "i-M1", "i-M2", "i-M3", "i-S1", "i-S2", "i-S3",
    ] {
        log.member(m, "i-G1", false);
    }
    log.role("i-CS0", "community_secretary", "i-CM", "2020-06-01");
    log.role("i-CS", "community_secretary", "i-CM", "2022-01-01");
    log.role("i-S1", "subdistrict_leader", "i-SD", "2023-01-01");
    log.lecture(
        "i-PL0",
        "i-CS",
        "i-CM",
        "2023-11-01T14:30:00+08:00",
        1.0,
        &["i-M1"],
    );
    log.role_ended("i-CS0", "community_secretary", "i-CM", "2023-12-31");
    log.role("i-S1", "grid_secretary", "i-G2", "2024-01-01");
    log.lecture(
        "i-PL1",
        "i-S1",
        "i-CM",
        "2024-03-10T14:30:00+08:00",
        2.0,
        &["i-M1", "i-M2"],
    );
    log.role_ended("i-S1", "grid_secretary", "i-G2", "2024-03-10");
    log.lecture(
        "i-PL4",
        "i-S2",
        "i-G1",
        "2024-05-05T14:30:00+08:00",
        1.25,
        &["i-M1", "i-S1"],
    );
    let pl2 = log.lecture(
        "i-PL2",
        "i-S1",
        "i-G1",
        "2024-06-10T14:30:00+08:00",
        1.5,
        &["i-M2", "i-M3"],
    );
    log.lecture(
        "i-PL5",
        "i-S3",
        "i-SD",
        "2024-07-01T09:00:00+08:00",
        0.5,
        &["i-M2"],
    );
    log.role("i-S3", "subdistrict_leader", "i-SD", "2024-08-01");
    log.lecture(
        "i-PL3",
        "i-S1",
        "i-G2",
        "2024-09-10T14:30:00+08:00",
        1.0,
        &["i-M1", "i-S1"],
    );
    log.void(&pl2, "wrong speaker");
    log.records()
}

/// (j) as_of: j-C1 (concentrated 20 h, M1 M2), j-C2 (seminar 12 h, M1), then a void of j-C2.
pub fn scenario_j() -> Vec<Value> {
    let mut log = Log::new(0x13);
    log.standard_orgs("j");
    log.member("j-M1", "j-G1", false);
    log.member("j-M2", "j-G1", false);
    log.class(
        "j-C1",
        "concentrated",
        "2024-03-01T09:00:00+08:00",
        20.0,
        &["j-M1", "j-M2"],
    );
    let c2 = log.class(
        "j-C2",
        "seminar",
        "2024-04-01T09:00:00+08:00",
        12.0,
        &["j-M1"],
    );
    log.void(&c2, "the class did not take place");
    log.records()
}

/// All scenarios, by letter.
pub fn all() -> Vec<(&'static str, Vec<Value>)> {
    vec![
        ("a", scenario_a()),
        ("b", scenario_b()),
        ("c", scenario_c()),
        ("d", scenario_d()),
        ("e", scenario_e()),
        ("f", scenario_f()),
        ("g", scenario_g()),
        ("h", scenario_h()),
        ("i", scenario_i()),
        ("j", scenario_j()),
    ]
}
