//! The validation rules of CONTRACT §2, given/when/then: given stored events, when a batch is
//! proposed, then it is accepted, or refused at a path with a kind. No database.
//!
//! Every case starts from the same small world (see [`world`]); "today" is 2024-06-15 in
//! Asia/Shanghai.

use partyedu_domain::time::DEFAULT_TZ;
use partyedu_domain::{
    Date, Decided, Event, Id, Proposed, REASONS, Rejection, RejectionKind, State, StoredFact,
};
use serde_json::{Value, json};
use uuid::Uuid;

use RejectionKind::{Conflict, Invalid};

// ---- event builders -------------------------------------------------------------------------

fn ev(type_name: &str, data: Value) -> Event {
    Event::parse(type_name, data).unwrap_or_else(|e| panic!("test event {type_name}: {e}"))
}

/// The same event with its data edited.
fn with(event: Event, edit: impl FnOnce(&mut Value)) -> Event {
    let mut data = event.data();
    edit(&mut data);
    ev(event.type_name(), data)
}

fn org(id: &str, kind: &str, parent: Option<&str>, on: &str) -> Event {
    ev(
        "OrgUnitEstablished",
        json!({"org_id": id, "name": id, "kind": kind, "parent_id": parent, "established_on": on}),
    )
}

fn enrol(member: &str, branch: &str, on: &str) -> Event {
    ev(
        "MemberEnrolled",
        json!({"member_id": member, "name": member, "branch_id": branch, "membership": "full",
               "joined_on": "2000-07-01", "enrolled_on": on, "birth_year": 1960,
               "employment": "retired", "frail": false, "hardship": false}),
    )
}

/// A member registry event of the shape `{member_id, <date_field>: on, ...extra}`.
fn registry(type_name: &str, member: &str, date_field: &str, on: &str, extra: Value) -> Event {
    let mut data = json!({"member_id": member, date_field: on});
    data.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    ev(type_name, data)
}

fn left(member: &str, on: &str) -> Event {
    registry("MemberLeft", member, "on", on, json!({"reason": "other"}))
}

fn went_mobile(member: &str, since: &str) -> Event {
    registry(
        "MemberWentMobile",
        member,
        "since",
        since,
        json!({"destination": "Shenzhen", "reason": "work"}),
    )
}

fn returned(member: &str, on: &str) -> Event {
    registry("MemberReturned", member, "on", on, json!({}))
}

fn buddy(member: &str, buddy: &str, since: &str) -> Event {
    registry(
        "BuddyAssigned",
        member,
        "since",
        since,
        json!({"buddy_id": buddy}),
    )
}

fn role(type_name: &str, member: &str, org: &str, on: &str) -> Event {
    registry(
        type_name,
        member,
        "on",
        on,
        json!({"role": "grid_secretary", "org_id": org}),
    )
}

fn transfer(member: &str, to: &str, on: &str) -> Event {
    registry(
        "MemberTransferred",
        member,
        "on",
        on,
        json!({"to_branch_id": to}),
    )
}

fn reenrol(member: &str, branch: &str, on: &str) -> Event {
    registry(
        "MemberReenrolled",
        member,
        "on",
        on,
        json!({"branch_id": branch}),
    )
}

fn class(id: &str, starts_at: &str, attendees: &[&str]) -> Event {
    ev(
        "ClassHeld",
        json!({"class_id": id, "title": "Theory class", "form": "concentrated",
               "organizer_org_id": "SD", "venue_id": "V1", "starts_at": starts_at,
               "duration_minutes": 120, "study_hours": 2, "lecturer_ids": ["L1"],
               "attendee_ids": attendees}),
    )
}

fn amend(class_id: &str, added: &[&str], removed: &[&str]) -> Event {
    ev(
        "AttendanceAmended",
        json!({"class_id": class_id, "added": added, "removed": removed, "reason": "sign-in sheet"}),
    )
}

fn lecture(id: &str, speaker: &str, given_at: &str, attendees: &[&str]) -> Event {
    ev(
        "PartyLectureGiven",
        json!({"lecture_id": id, "speaker_id": speaker, "title": "Party lecture",
               "audience_org_id": "CM", "given_at": given_at, "duration_minutes": 60,
               "study_hours": 1, "attendee_ids": attendees}),
    )
}

fn visit(id: &str, member: &str, visitors: &[&str], on: &str) -> Event {
    ev(
        "HomeVisitMade",
        json!({"visit_id": id, "member_id": member, "visitor_ids": visitors, "visited_on": on,
               "purposes": ["home_study_delivery"], "study_hours": 1}),
    )
}

fn online(id: &str, member: &str, on: &str) -> Event {
    ev(
        "OnlineStudyLogged",
        json!({"log_id": id, "member_id": member, "platform": "xuexi_qiangguo",
               "studied_on": on, "study_hours": 0.5}),
    )
}

fn contact(id: &str, member: &str, by: &str, on: &str) -> Event {
    ev(
        "MobileMemberContacted",
        json!({"contact_id": id, "member_id": member, "contacted_by": by,
               "contacted_on": on, "channel": "phone"}),
    )
}

fn meeting(id: &str, on: &str, attendees: &[&str], excused: &[&str]) -> Event {
    ev(
        "OrgLifeMeetingHeld",
        json!({"meeting_id": id, "branch_id": "GB1", "kind": "themed_party_day", "held_on": on,
               "attendee_ids": attendees, "excused_ids": excused}),
    )
}

/// A micro-wish lifecycle event of the shape `{wish_id, <type's date field>: on, ...extra}`.
fn wish(type_name: &str, id: &str, on: &str, extra: Value) -> Event {
    let date_field = match type_name {
        "MicroWishPosted" => "posted_on",
        "MicroWishClaimed" => "claimed_on",
        "MicroWishReleased" => "released_on",
        "MicroWishFulfilled" => "fulfilled_on",
        _ => "withdrawn_on",
    };
    let mut data = json!({"wish_id": id, date_field: on});
    data.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    ev(type_name, data)
}

fn posted(id: &str, on: &str) -> Event {
    wish(
        "MicroWishPosted",
        id,
        on,
        json!({"grid_id": "GB1", "title": "Clear the stairwell", "category": "volunteer_service"}),
    )
}

fn claimed(id: &str, member: &str, on: &str) -> Event {
    wish("MicroWishClaimed", id, on, json!({"member_id": member}))
}

fn released(id: &str, member: &str, on: &str) -> Event {
    wish(
        "MicroWishReleased",
        id,
        on,
        json!({"member_id": member, "reason": "away"}),
    )
}

fn fulfilled(id: &str, on: &str) -> Event {
    wish("MicroWishFulfilled", id, on, json!({}))
}

fn withdrawn(id: &str, on: &str) -> Event {
    wish("MicroWishWithdrawn", id, on, json!({"reason": "solved"}))
}

fn void(target: Uuid) -> Event {
    ev(
        "RecordVoided",
        json!({"event_id": target, "reason": "recorded twice"}),
    )
}

// ---- the world and the given/when/then harness ----------------------------------------------

fn date(text: &str) -> Date {
    text.parse().unwrap()
}

fn id(text: &str) -> Id {
    text.parse().unwrap()
}

const TODAY: &str = "2024-06-15";

/// The id of the `n`-th event a case's `given` stores.
fn given_id(n: u128) -> Uuid {
    Uuid::from_u128(1000 + n)
}

/// SD (subdistrict) → CM (community) → GB1, GB2 (grid branches, GB2 only from 2023) → PG1
/// (party group in GB1); members M1–M3 full and M4 probationary in GB1 since 2020; venue V1 and
/// lecturer L1 since 2021.
fn world() -> State {
    let history = [
        org("SD", "subdistrict", None, "2020-01-01"),
        org("CM", "community", Some("SD"), "2020-01-01"),
        org("GB1", "grid_branch", Some("CM"), "2020-01-01"),
        org("GB2", "grid_branch", Some("CM"), "2023-01-01"),
        org("PG1", "party_group", Some("GB1"), "2020-01-01"),
        enrol("M1", "GB1", "2020-01-01"),
        enrol("M2", "GB1", "2020-01-01"),
        enrol("M3", "GB1", "2020-01-01"),
        with(enrol("M4", "GB1", "2020-01-01"), |d| {
            d["membership"] = json!("probationary")
        }),
        ev(
            "VenueOpened",
            json!({"venue_id": "V1", "name": "Party school", "kind": "party_school",
                   "org_id": "SD", "opened_on": "2021-01-01"}),
        ),
        ev(
            "LecturerEnlisted",
            json!({"lecturer_id": "L1", "name": "Li", "kind": "veteran_member",
                   "member_id": "M3", "enlisted_on": "2021-01-01"}),
        ),
    ];
    let mut state = State::new(DEFAULT_TZ);
    store(&mut state, history, 1);
    state
}

fn store(state: &mut State, events: impl IntoIterator<Item = Event>, first_id: u128) {
    for (n, event) in (first_id..).zip(events) {
        state.evolve(&StoredFact {
            event_id: Uuid::from_u128(n),
            position: i64::try_from(n).unwrap(),
            event,
        });
    }
}

fn given(events: impl IntoIterator<Item = Event>) -> State {
    let mut state = world();
    store(&mut state, events, given_id(0).as_u128());
    state
}

fn when(
    state: &State,
    events: impl IntoIterator<Item = Event>,
) -> Result<Vec<Decided>, Vec<Rejection>> {
    let batch = events
        .into_iter()
        .map(|event| Proposed {
            event,
            event_id: None,
        })
        .collect();
    state.decide(batch, date(TODAY))
}

#[track_caller]
fn accepted(state: &State, events: impl IntoIterator<Item = Event>) -> Vec<Decided> {
    when(state, events).unwrap_or_else(|r| panic!("expected acceptance, got {r:#?}"))
}

/// Then: refused, with a rejection at `path` (inside `events[0].data.` unless it starts with
/// `events[`) of `kind`, and none at other events.
#[track_caller]
fn refused(
    state: &State,
    events: impl IntoIterator<Item = Event>,
    path: &str,
    kind: RejectionKind,
) {
    let rejections = when(state, events).expect_err("expected a rejection");
    let path = if path.starts_with("events[") {
        path.to_owned()
    } else {
        format!("events[0].data.{path}")
    };
    let event = &path[..=path.find(']').expect("events[i]")];
    for r in &rejections {
        worded_from_its_reason(r);
    }
    assert!(
        rejections.iter().any(|r| r.path == path && r.kind == kind)
            && rejections.iter().all(|r| r.path.starts_with(event)),
        "expected a {kind:?} at {path}, got {rejections:#?}"
    );
}

/// A rejection's problem is its reason's English wording, with every value the wording names.
#[track_caller]
fn worded_from_its_reason(r: &Rejection) {
    let (_, template) = REASONS
        .iter()
        .find(|(code, _)| *code == r.reason.code)
        .unwrap_or_else(|| panic!("{} is not a reason code", r.reason.code));
    assert_eq!(r.problem, r.reason.english());
    let named =
        partyedu_domain::decide::fill(template, |name| r.reason.get(name).map(|_| String::new()));
    assert!(!named.contains('{'), "{r:?} lacks a value of `{template}`");
}

// ---- references exist, and existed on the date that uses them --------------------------------

#[test]
fn referenced_org_units_exist_and_are_established_by_the_date() {
    let state = world();
    accepted(
        &state,
        [with(class("C1", "2023-03-05T09:00:00+08:00", &[]), |d| {
            d["organizer_org_id"] = json!("GB2")
        })],
    );
    refused(
        &state,
        [with(class("C1", "2022-03-05T09:00:00+08:00", &[]), |d| {
            d["organizer_org_id"] = json!("GB2")
        })],
        "organizer_org_id",
        Conflict,
    );
    refused(
        &state,
        [with(class("C1", "2024-03-05T09:00:00+08:00", &[]), |d| {
            d["organizer_org_id"] = json!("XX")
        })],
        "organizer_org_id",
        Conflict,
    );
    refused(
        &state,
        [with(
            lecture("P1", "M1", "2024-03-05T09:00:00+08:00", &[]),
            |d| d["audience_org_id"] = json!("XX"),
        )],
        "audience_org_id",
        Conflict,
    );
    refused(
        &state,
        [with(meeting("G1", "2024-03-05", &[], &[]), |d| {
            d["branch_id"] = json!("XX")
        })],
        "branch_id",
        Conflict,
    );
    refused(
        &state,
        [with(posted("W1", "2022-05-01"), |d| {
            d["grid_id"] = json!("GB2")
        })],
        "grid_id",
        Conflict,
    );
    refused(
        &state,
        [role("RoleAssigned", "M1", "XX", "2024-03-01")],
        "org_id",
        Conflict,
    );
    refused(
        &state,
        [ev(
            "OrgUnitRenamed",
            json!({"org_id": "GB2", "name": "New", "on": "2022-12-31"}),
        )],
        "org_id",
        Conflict,
    );
    accepted(
        &state,
        [ev(
            "OrgUnitRenamed",
            json!({"org_id": "GB2", "name": "New", "on": "2023-01-01"}),
        )],
    );
    refused(
        &state,
        [ev(
            "VenueOpened",
            json!({"venue_id": "V2", "name": "Room", "kind": "community_learning_point", "org_id": "GB2", "opened_on": "2022-01-01"}),
        )],
        "org_id",
        Conflict,
    );
}

#[test]
fn venues_and_lecturers_exist_and_are_opened_or_enlisted_by_the_date() {
    let state = world();
    let before_opening = with(class("C1", "2020-06-01T09:00:00+08:00", &[]), |d| {
        d["lecturer_ids"] = json!([]);
    });
    refused(&state, [before_opening], "venue_id", Conflict);
    refused(
        &state,
        [with(class("C1", "2024-03-05T09:00:00+08:00", &[]), |d| {
            d["venue_id"] = json!("V9")
        })],
        "venue_id",
        Conflict,
    );
    refused(
        &state,
        [with(class("C1", "2024-03-05T09:00:00+08:00", &[]), |d| {
            d["lecturer_ids"] = json!(["L1", "L9"])
        })],
        "lecturer_ids[1]",
        Conflict,
    );
    refused(
        &state,
        [with(
            lecture("P1", "M1", "2024-03-05T09:00:00+08:00", &[]),
            |d| d["venue_id"] = json!("V9"),
        )],
        "venue_id",
        Conflict,
    );
    let before_enlisting = with(class("C1", "2020-06-01T09:00:00+08:00", &[]), |d| {
        d.as_object_mut().unwrap().remove("venue_id");
    });
    refused(&state, [before_enlisting], "lecturer_ids[0]", Conflict);
}

#[test]
fn org_units_hang_under_an_existing_higher_level_parent() {
    let state = world();
    accepted(
        &state,
        [org("GB3", "grid_branch", Some("CM"), "2024-01-01")],
    );
    accepted(&state, [org("SD2", "subdistrict", None, "2024-01-01")]);
    refused(
        &state,
        [org("GB3", "grid_branch", None, "2024-01-01")],
        "parent_id",
        Invalid,
    );
    refused(
        &state,
        [org("CM2", "community", Some("GB1"), "2024-01-01")],
        "parent_id",
        Conflict,
    );
    refused(
        &state,
        [org("GB3", "grid_branch", Some("XX"), "2024-01-01")],
        "parent_id",
        Conflict,
    );
    refused(
        &state,
        [org("PG2", "party_group", Some("GB2"), "2022-01-01")],
        "parent_id",
        Conflict,
    );
}

// ---- members in activities are enrolled on the activity's date --------------------------------

#[test]
fn every_member_in_an_activity_is_enrolled_on_its_date() {
    let state = given([left("M2", "2024-03-01")]);
    let at = "2024-03-05T09:00:00+08:00";
    accepted(
        &state,
        [class("C1", "2024-02-29T09:00:00+08:00", &["M1", "M2"])],
    );
    refused(
        &state,
        [class("C1", at, &["M1", "M2"])],
        "attendee_ids[1]",
        Conflict,
    );
    refused(
        &state,
        [class("C1", at, &["M9"])],
        "attendee_ids[0]",
        Conflict,
    );
    refused(
        &state,
        [lecture("P1", "M2", at, &[])],
        "speaker_id",
        Conflict,
    );
    refused(
        &state,
        [lecture("P1", "M1", at, &["M3", "M2"])],
        "attendee_ids[1]",
        Conflict,
    );
    refused(
        &state,
        [visit("H1", "M2", &["M1"], "2024-03-05")],
        "member_id",
        Conflict,
    );
    refused(
        &state,
        [visit("H1", "M1", &["M2"], "2024-03-05")],
        "visitor_ids[0]",
        Conflict,
    );
    refused(
        &state,
        [online("O1", "M2", "2024-03-05")],
        "member_id",
        Conflict,
    );
    refused(
        &state,
        [contact("K1", "M1", "M2", "2024-03-05")],
        "contacted_by",
        Conflict,
    );
    refused(
        &state,
        [contact("K1", "M2", "M1", "2024-03-05")],
        "member_id",
        Conflict,
    );
    refused(
        &state,
        [meeting("G1", "2024-03-05", &["M1"], &["M2"])],
        "excused_ids[0]",
        Conflict,
    );
    refused(
        &state,
        [
            posted("W1", "2024-03-02"),
            claimed("W1", "M2", "2024-03-05"),
        ],
        "events[1].data.member_id",
        Conflict,
    );
    refused(
        &state,
        [
            with(enrol("M5", "GB1", "2024-01-01"), |_| ()),
            went_mobile("M5", "2024-01-02"),
            buddy("M5", "M2", "2024-03-05"),
        ],
        "events[2].data.buddy_id",
        Conflict,
    );
}

#[test]
fn a_member_who_leaves_on_a_day_is_gone_that_day_and_back_when_reenrolled() {
    let state = given([left("M2", "2024-03-01"), reenrol("M2", "GB2", "2024-04-01")]);
    refused(
        &state,
        [online("O1", "M2", "2024-03-01")],
        "member_id",
        Conflict,
    );
    accepted(&state, [online("O1", "M2", "2024-02-29")]);
    refused(
        &state,
        [online("O1", "M2", "2024-03-31")],
        "member_id",
        Conflict,
    );
    accepted(&state, [online("O1", "M2", "2024-04-01")]);
    refused(
        &state,
        [online("O1", "M5", "2024-04-01")],
        "member_id",
        Conflict,
    );
}

// ---- values judged from the request alone ----------------------------------------------------

#[test]
fn classes_and_lectures_credit_more_than_zero_hours_other_records_may_credit_zero() {
    let state = world();
    let at = "2024-03-05T09:00:00+08:00";
    refused(
        &state,
        [with(class("C1", at, &[]), |d| d["study_hours"] = json!(0))],
        "study_hours",
        Invalid,
    );
    refused(
        &state,
        [with(lecture("P1", "M1", at, &[]), |d| {
            d["study_hours"] = json!(0)
        })],
        "study_hours",
        Invalid,
    );
    accepted(
        &state,
        [with(visit("H1", "M1", &["M2"], "2024-03-05"), |d| {
            d["study_hours"] = json!(0)
        })],
    );
    accepted(
        &state,
        [with(online("O1", "M1", "2024-03-05"), |d| {
            d["study_hours"] = json!(0)
        })],
    );
    accepted(
        &state,
        [with(class("C1", at, &[]), |d| d["study_hours"] = json!(24))],
    );
}

#[test]
fn nothing_is_dated_later_than_local_tomorrow() {
    let state = world();
    accepted(&state, [online("O1", "M1", "2024-06-16")]);
    refused(
        &state,
        [online("O1", "M1", "2024-06-17")],
        "studied_on",
        Invalid,
    );
    // 15:00Z on the 16th is 23:00 on the 16th in Shanghai; 16:00Z is already the 17th.
    accepted(&state, [class("C1", "2024-06-16T15:00:00Z", &[])]);
    refused(
        &state,
        [class("C1", "2024-06-16T16:00:00Z", &[])],
        "starts_at",
        Invalid,
    );
    refused(
        &state,
        [lecture("P1", "M1", "2024-06-17T09:00:00+08:00", &[])],
        "given_at",
        Invalid,
    );
    refused(
        &state,
        [org("GB3", "grid_branch", Some("CM"), "2024-06-17")],
        "established_on",
        Invalid,
    );
    refused(
        &state,
        [with(enrol("M5", "GB1", "2024-01-01"), |d| {
            d["joined_on"] = json!("2030-01-01")
        })],
        "joined_on",
        Invalid,
    );
    refused(&state, [transfer("M1", "GB2", "2024-07-01")], "on", Invalid);
    refused(&state, [posted("W1", "2024-07-01")], "posted_on", Invalid);
}

#[test]
fn birth_years_are_plausible() {
    let state = world();
    refused(
        &state,
        [with(enrol("M5", "GB1", "2024-01-01"), |d| {
            d["birth_year"] = json!(1850)
        })],
        "birth_year",
        Invalid,
    );
    refused(
        &state,
        [with(enrol("M5", "GB1", "2024-01-01"), |d| {
            d["birth_year"] = json!(2025)
        })],
        "birth_year",
        Invalid,
    );
}

#[test]
fn a_member_is_not_paired_with_or_visited_by_themselves() {
    let state = given([went_mobile("M1", "2024-01-01")]);
    refused(
        &state,
        [buddy("M1", "M1", "2024-02-01")],
        "buddy_id",
        Invalid,
    );
    refused(
        &state,
        [contact("K1", "M1", "M1", "2024-02-01")],
        "contacted_by",
        Invalid,
    );
    refused(
        &state,
        [visit("H1", "M1", &["M2", "M1"], "2024-02-01")],
        "visitor_ids[1]",
        Invalid,
    );
    refused(
        &state,
        [meeting("G1", "2024-02-01", &["M1", "M2"], &["M2"])],
        "excused_ids[0]",
        Invalid,
    );
}

// ---- ids --------------------------------------------------------------------------------------

#[test]
fn an_id_once_used_for_its_kind_stays_used_also_after_a_void() {
    let state = given([
        class("C1", "2024-03-05T09:00:00+08:00", &["M1"]),
        void(given_id(0)),
    ]);
    refused(
        &state,
        [class("C1", "2024-03-06T09:00:00+08:00", &["M1"])],
        "class_id",
        Conflict,
    );
    refused(
        &state,
        [enrol("M1", "GB1", "2024-01-01")],
        "member_id",
        Conflict,
    );
    refused(
        &state,
        [org("GB1", "grid_branch", Some("CM"), "2024-01-01")],
        "org_id",
        Conflict,
    );
    refused(
        &state,
        [
            online("O1", "M1", "2024-03-05"),
            online("O1", "M2", "2024-03-05"),
        ],
        "events[1].data.log_id",
        Conflict,
    );
    // Ids are per kind: a lecture may share a class's id.
    accepted(
        &state,
        [lecture("C1", "M1", "2024-03-05T09:00:00+08:00", &[])],
    );
}

#[test]
fn a_stored_event_id_is_an_idempotent_no_op_with_the_same_content_and_a_conflict_otherwise() {
    let event = online("O1", "M1", "2024-03-05");
    let state = given([event.clone()]);
    let propose = |event: Event| {
        vec![Proposed {
            event,
            event_id: Some(given_id(0)),
        }]
    };
    let decided = state.decide(propose(event), date(TODAY)).unwrap();
    assert!(decided[0].already_stored);
    assert_eq!(decided[0].stream, "member:M1");
    let rejections = state
        .decide(propose(online("O1", "M1", "2024-03-06")), date(TODAY))
        .unwrap_err();
    assert_eq!(
        (rejections[0].path.as_str(), rejections[0].kind),
        ("events[0].event_id", Conflict)
    );
}

// ---- registry ---------------------------------------------------------------------------------

#[test]
fn a_members_registry_events_come_in_date_order() {
    let state = given([transfer("M1", "GB2", "2024-03-01")]);
    refused(&state, [went_mobile("M1", "2024-02-29")], "since", Conflict);
    refused(
        &state,
        [registry(
            "MemberCareStatusChanged",
            "M1",
            "on",
            "2024-02-01",
            json!({"frail": true, "hardship": false}),
        )],
        "on",
        Conflict,
    );
    accepted(
        &state,
        [registry(
            "MemberCareStatusChanged",
            "M1",
            "on",
            "2024-03-01",
            json!({"frail": true, "hardship": false}),
        )],
    );
    // Other members keep their own order.
    accepted(&state, [went_mobile("M2", "2024-02-01")]);
    refused(
        &state,
        [went_mobile("M9", "2024-02-01")],
        "member_id",
        Conflict,
    );
}

#[test]
fn members_belong_to_grid_branches_or_party_groups() {
    let state = world();
    accepted(&state, [enrol("M5", "PG1", "2024-01-01")]);
    refused(
        &state,
        [enrol("M5", "CM", "2024-01-01")],
        "branch_id",
        Conflict,
    );
    refused(
        &state,
        [enrol("M5", "GB2", "2022-01-01")],
        "branch_id",
        Conflict,
    );
    refused(
        &state,
        [transfer("M1", "CM", "2024-01-01")],
        "to_branch_id",
        Conflict,
    );
    let gone = given([left("M1", "2024-01-01")]);
    refused(
        &gone,
        [reenrol("M1", "SD", "2024-02-01")],
        "branch_id",
        Conflict,
    );
}

#[test]
fn a_transfer_goes_to_another_existing_branch() {
    let state = world();
    accepted(&state, [transfer("M1", "GB2", "2024-01-01")]);
    refused(
        &state,
        [transfer("M1", "GB1", "2024-01-01")],
        "to_branch_id",
        Conflict,
    );
    refused(
        &state,
        [transfer("M1", "GB9", "2024-01-01")],
        "to_branch_id",
        Conflict,
    );
}

#[test]
fn only_a_probationary_member_becomes_full() {
    let state = world();
    accepted(
        &state,
        [registry(
            "MemberBecameFull",
            "M4",
            "on",
            "2024-01-01",
            json!({}),
        )],
    );
    refused(
        &state,
        [registry(
            "MemberBecameFull",
            "M1",
            "on",
            "2024-01-01",
            json!({}),
        )],
        "member_id",
        Conflict,
    );
}

#[test]
fn a_role_is_assigned_only_when_not_held_and_ended_only_when_held() {
    let state = given([role("RoleAssigned", "M1", "GB1", "2024-01-01")]);
    refused(
        &state,
        [role("RoleAssigned", "M1", "GB1", "2024-02-01")],
        "role",
        Conflict,
    );
    accepted(&state, [role("RoleAssigned", "M1", "PG1", "2024-02-01")]);
    accepted(&state, [role("RoleEnded", "M1", "GB1", "2024-02-01")]);
    refused(
        &state,
        [role("RoleEnded", "M2", "GB1", "2024-02-01")],
        "role",
        Conflict,
    );
    accepted(
        &state,
        [
            role("RoleEnded", "M1", "GB1", "2024-02-01"),
            role("RoleAssigned", "M1", "GB1", "2024-03-01"),
        ],
    );
}

#[test]
fn member_left_happens_once_per_enrolment_and_ends_roles_and_buddy_pairings() {
    let state = given([
        role("RoleAssigned", "M1", "GB1", "2024-01-01"),
        went_mobile("M2", "2024-01-01"),
        buddy("M2", "M1", "2024-01-02"),
        left("M1", "2024-02-01"),
    ]);
    refused(&state, [left("M1", "2024-03-01")], "member_id", Conflict);
    refused(
        &state,
        [role("RoleEnded", "M1", "GB1", "2024-03-01")],
        "role",
        Conflict,
    );
    assert_eq!(state.member(&id("M2")).unwrap().buddy, None);
    assert!(state.member(&id("M1")).unwrap().roles.is_empty());
    let back = given([left("M1", "2024-02-01"), reenrol("M1", "GB1", "2024-03-01")]);
    accepted(&back, [left("M1", "2024-04-01")]);
}

#[test]
fn member_left_is_refused_before_an_activity_of_the_member_until_it_is_voided() {
    let state = given([class("C1", "2024-03-05T09:00:00+08:00", &["M1"])]);
    refused(&state, [left("M1", "2024-03-01")], "on", Conflict);
    refused(&state, [left("M1", "2024-03-05")], "on", Conflict);
    accepted(&state, [left("M1", "2024-03-06")]);
    accepted(&state, [void(given_id(0)), left("M1", "2024-03-01")]);
    // An activity recorded earlier in the same batch counts too.
    refused(
        &world(),
        [online("O1", "M2", "2024-03-05"), left("M2", "2024-03-01")],
        "events[1].data.on",
        Conflict,
    );
    // A member removed from the class by an amendment no longer takes part in it.
    accepted(
        &state,
        [amend("C1", &[], &["M1"]), left("M1", "2024-03-01")],
    );
}

#[test]
fn going_mobile_and_returning_alternate() {
    let state = given([went_mobile("M1", "2024-01-01")]);
    refused(
        &state,
        [went_mobile("M1", "2024-02-01")],
        "member_id",
        Conflict,
    );
    accepted(&state, [returned("M1", "2024-02-01")]);
    refused(
        &world(),
        [returned("M1", "2024-02-01")],
        "member_id",
        Conflict,
    );
}

/// Leaving changes neither frail nor mobile (CONTRACT §6): a member who leaves while away and
/// re-enrols is still mobile until `MemberReturned`.
#[test]
fn leaving_keeps_a_member_mobile_until_they_return() {
    let state = given([
        went_mobile("M1", "2024-01-01"),
        left("M1", "2024-02-01"),
        reenrol("M1", "GB1", "2024-03-01"),
    ]);
    assert!(state.member(&id("M1")).unwrap().mobile);
    refused(
        &state,
        [went_mobile("M1", "2024-03-02")],
        "member_id",
        Conflict,
    );
    accepted(&state, [buddy("M1", "M2", "2024-03-02")]);
    accepted(&state, [returned("M1", "2024-03-02")]);
    // Back home: mobile no more.
    refused(
        &state,
        [
            returned("M1", "2024-03-02"),
            went_mobile("M1", "2024-03-03"),
            returned("M1", "2024-03-04"),
            returned("M1", "2024-03-05"),
        ],
        "events[3].data.member_id",
        Conflict,
    );
    // And one who left while at home is not mobile after re-enrolling.
    let home = given([left("M2", "2024-02-01"), reenrol("M2", "GB1", "2024-03-01")]);
    assert!(!home.member(&id("M2")).unwrap().mobile);
    refused(&home, [returned("M2", "2024-03-02")], "member_id", Conflict);
}

#[test]
fn a_buddy_is_assigned_only_to_a_mobile_member() {
    let state = given([went_mobile("M1", "2024-01-01")]);
    accepted(&state, [buddy("M1", "M2", "2024-01-02")]);
    refused(
        &world(),
        [buddy("M1", "M2", "2024-01-02")],
        "member_id",
        Conflict,
    );
    refused(
        &state,
        [buddy("M1", "M9", "2024-01-02")],
        "buddy_id",
        Conflict,
    );
    refused(
        &state,
        [
            returned("M1", "2024-01-02"),
            buddy("M1", "M2", "2024-01-03"),
        ],
        "events[1].data.member_id",
        Conflict,
    );
}

#[test]
fn only_a_member_who_left_is_reenrolled() {
    let state = given([left("M1", "2024-01-01")]);
    accepted(&state, [reenrol("M1", "GB2", "2024-02-01")]);
    refused(
        &world(),
        [reenrol("M1", "GB2", "2024-02-01")],
        "member_id",
        Conflict,
    );
    refused(&state, [reenrol("M1", "GB2", "2023-12-31")], "on", Conflict);
}

#[test]
fn a_details_correction_changes_at_least_one_field() {
    let state = world();
    let correct = |extra: Value| {
        let mut data = json!({"member_id": "M1", "reason": "typo"});
        data.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        ev("MemberDetailsCorrected", data)
    };
    accepted(&state, [correct(json!({"name": "M1 Wang"}))]);
    accepted(&state, [correct(json!({"name": "M1", "birth_year": 1961}))]);
    refused(&state, [correct(json!({}))], "name", Invalid);
    refused(
        &state,
        [correct(json!({"name": "M1", "birth_year": 1960}))],
        "name",
        Conflict,
    );
    refused(
        &state,
        [correct(json!({"birth_year": 1960}))],
        "birth_year",
        Conflict,
    );
    refused(
        &state,
        [with(correct(json!({"name": "X"})), |d| {
            d["member_id"] = json!("M9")
        })],
        "member_id",
        Conflict,
    );
}

#[test]
fn a_lecturers_member_is_enrolled_when_enlisted() {
    let state = world();
    let lecturer = |member: &str| {
        ev(
            "LecturerEnlisted",
            json!({"lecturer_id": "L2", "name": "Zhang", "kind": "exemplar", "member_id": member, "enlisted_on": "2024-01-01"}),
        )
    };
    accepted(&state, [lecturer("M1")]);
    refused(&state, [lecturer("M9")], "member_id", Conflict);
}

// ---- micro-wishes -----------------------------------------------------------------------------

#[test]
fn a_wish_is_claimed_while_open_by_one_member_and_released_only_by_its_claimer() {
    let open = given([posted("W1", "2024-05-01")]);
    accepted(&open, [claimed("W1", "M1", "2024-05-02")]);
    refused(
        &open,
        [claimed("W9", "M1", "2024-05-02")],
        "wish_id",
        Conflict,
    );
    let taken = given([
        posted("W1", "2024-05-01"),
        claimed("W1", "M1", "2024-05-02"),
    ]);
    refused(
        &taken,
        [claimed("W1", "M2", "2024-05-03")],
        "wish_id",
        Conflict,
    );
    refused(
        &taken,
        [released("W1", "M2", "2024-05-03")],
        "member_id",
        Conflict,
    );
    accepted(
        &taken,
        [
            released("W1", "M1", "2024-05-03"),
            claimed("W1", "M2", "2024-05-04"),
        ],
    );
    refused(
        &open,
        [released("W1", "M1", "2024-05-03")],
        "wish_id",
        Conflict,
    );
}

#[test]
fn a_wish_is_fulfilled_while_claimed_and_withdrawn_while_open_and_then_closed() {
    let open = given([posted("W1", "2024-05-01")]);
    let taken = given([
        posted("W1", "2024-05-01"),
        claimed("W1", "M1", "2024-05-02"),
    ]);
    accepted(&taken, [fulfilled("W1", "2024-05-03")]);
    refused(&open, [fulfilled("W1", "2024-05-03")], "wish_id", Conflict);
    accepted(&open, [withdrawn("W1", "2024-05-03")]);
    refused(&taken, [withdrawn("W1", "2024-05-03")], "wish_id", Conflict);
    let done = given([
        posted("W1", "2024-05-01"),
        claimed("W1", "M1", "2024-05-02"),
        fulfilled("W1", "2024-05-03"),
    ]);
    refused(
        &done,
        [released("W1", "M1", "2024-05-04")],
        "wish_id",
        Conflict,
    );
    let gone = given([posted("W1", "2024-05-01"), withdrawn("W1", "2024-05-02")]);
    refused(
        &gone,
        [claimed("W1", "M1", "2024-05-04")],
        "wish_id",
        Conflict,
    );
}

#[test]
fn no_wish_lifecycle_date_is_earlier_than_the_previous_one() {
    let taken = given([
        posted("W1", "2024-05-01"),
        claimed("W1", "M1", "2024-05-05"),
    ]);
    refused(
        &given([posted("W1", "2024-05-01")]),
        [claimed("W1", "M1", "2024-04-30")],
        "claimed_on",
        Conflict,
    );
    refused(
        &taken,
        [released("W1", "M1", "2024-05-04")],
        "released_on",
        Conflict,
    );
    refused(
        &taken,
        [fulfilled("W1", "2024-05-04")],
        "fulfilled_on",
        Conflict,
    );
    accepted(&taken, [fulfilled("W1", "2024-05-05")]);
}

// ---- attendance amendments --------------------------------------------------------------------

#[test]
fn an_amendment_adds_non_attendees_and_removes_attendees_of_a_standing_class() {
    let state = given([class("C1", "2024-03-05T09:00:00+08:00", &["M1", "M2"])]);
    accepted(&state, [amend("C1", &["M3"], &["M2"])]);
    refused(&state, [amend("C1", &["M2"], &[])], "added[0]", Conflict);
    refused(&state, [amend("C1", &[], &["M3"])], "removed[0]", Conflict);
    refused(
        &state,
        [amend("C1", &["M3"], &["M3"])],
        "removed[0]",
        Invalid,
    );
    refused(&state, [amend("C1", &[], &[])], "added", Invalid);
    refused(&state, [amend("C9", &["M3"], &[])], "class_id", Conflict);
    refused(&state, [amend("C1", &["M9"], &[])], "added[0]", Conflict);
    let voided = given([
        class("C1", "2024-03-05T09:00:00+08:00", &["M1"]),
        void(given_id(0)),
    ]);
    refused(&voided, [amend("C1", &["M3"], &[])], "class_id", Conflict);
}

#[test]
fn an_amendment_takes_its_classs_date_for_enrolment() {
    let state = given([
        class("C1", "2024-03-05T09:00:00+08:00", &["M1"]),
        left("M3", "2024-03-05"),
    ]);
    refused(&state, [amend("C1", &["M3"], &[])], "added[0]", Conflict);
    let amendment = amend("C1", &["M2"], &[]);
    assert_eq!(state.activity_date(&amendment), Some(date("2024-03-05")));
}

// ---- voids ------------------------------------------------------------------------------------

#[test]
fn a_void_targets_an_existing_voidable_event_not_yet_voided() {
    let activities = [
        class("C1", "2024-03-05T09:00:00+08:00", &["M1"]),
        lecture("P1", "M1", "2024-03-05T09:00:00+08:00", &[]),
        visit("H1", "M1", &["M2"], "2024-03-05"),
        online("O1", "M1", "2024-03-05"),
        contact("K1", "M1", "M2", "2024-03-05"),
        meeting("G1", "2024-03-05", &["M1"], &[]),
        posted("W1", "2024-03-05"),
        enrol("M5", "GB1", "2024-01-01"),
    ];
    let state = given(activities);
    for n in 0..6 {
        accepted(&state, [void(given_id(n))]);
    }
    refused(&state, [void(given_id(6))], "event_id", Conflict);
    refused(&state, [void(given_id(7))], "event_id", Conflict);
    refused(
        &state,
        [void(Uuid::from_u128(99_999))],
        "event_id",
        Conflict,
    );
    refused(
        &state,
        [void(given_id(0)), void(given_id(0))],
        "events[1].data.event_id",
        Conflict,
    );
    let voided_void = given([online("O1", "M1", "2024-03-05"), void(given_id(0))]);
    refused(&voided_void, [void(given_id(1))], "event_id", Conflict);
}

#[test]
fn only_a_classs_latest_standing_amendment_is_voided_and_that_undoes_it() {
    let state = given([
        class("C1", "2024-03-05T09:00:00+08:00", &["M1", "M2"]),
        amend("C1", &["M3"], &[]),
        amend("C1", &[], &["M2"]),
    ]);
    refused(&state, [void(given_id(1))], "event_id", Conflict);
    let decided = accepted(&state, [void(given_id(2)), void(given_id(1))]);
    assert_eq!(decided[0].stream, "class:C1");
    // After both undos, M2 attends again and M3 does not.
    refused(
        &state,
        [
            void(given_id(2)),
            void(given_id(1)),
            amend("C1", &["M2"], &[]),
        ],
        "events[2].data.added[0]",
        Conflict,
    );
    accepted(
        &state,
        [
            void(given_id(2)),
            void(given_id(1)),
            amend("C1", &["M3"], &[]),
        ],
    );
}

#[test]
fn undoing_an_amendment_cannot_bring_back_a_member_no_longer_enrolled() {
    let state = given([
        class("C1", "2024-03-05T09:00:00+08:00", &["M1", "M2"]),
        amend("C1", &[], &["M2"]),
        left("M2", "2024-03-01"),
    ]);
    refused(&state, [void(given_id(1))], "event_id", Conflict);
}

#[test]
fn a_batch_may_void_an_event_it_records_itself_under_a_client_event_id() {
    let state = world();
    let client_id = Uuid::from_u128(42);
    let batch = vec![
        Proposed {
            event: online("O1", "M1", "2024-03-05"),
            event_id: Some(client_id),
        },
        Proposed {
            event: void(client_id),
            event_id: None,
        },
    ];
    let decided = state.decide(batch, date(TODAY)).unwrap();
    assert_eq!(decided[1].stream, "member:M1");
    assert_eq!(decided[1].occurred_at, None, "a void takes its recorded_at");
}

// ---- batches ----------------------------------------------------------------------------------

#[test]
fn later_events_of_a_batch_see_earlier_ones() {
    let decided = accepted(
        &world(),
        [
            enrol("M5", "GB1", "2024-01-01"),
            class("C1", "2024-03-05T09:00:00+08:00", &["M5"]),
        ],
    );
    assert_eq!(decided[1].stream, "class:C1");
    assert_eq!(
        decided[1].occurred_at.map(|at| at.to_rfc3339()),
        Some("2024-03-05T09:00:00+08:00".to_owned())
    );
    assert_eq!(
        decided[0].occurred_at.map(|at| at.to_rfc3339()),
        Some("2024-01-01T00:00:00+08:00".to_owned())
    );
}

#[test]
fn a_batch_is_refused_whole_with_every_problem_named() {
    let rejections = when(
        &world(),
        [
            online("O1", "M1", "2024-03-05"),
            online("O2", "M9", "2024-03-05"),
            with(class("C1", "2024-03-05T09:00:00+08:00", &[]), |d| {
                d["study_hours"] = json!(0)
            }),
        ],
    )
    .unwrap_err();
    let found: Vec<(&str, RejectionKind)> = rejections
        .iter()
        .map(|r| (r.path.as_str(), r.kind))
        .collect();
    assert_eq!(
        found,
        [
            ("events[1].data.member_id", Conflict),
            ("events[2].data.study_hours", Invalid)
        ]
    );
}

#[test]
fn parse_errors_become_invalid_rejections_at_their_batch_index() {
    let error = Event::parse("OnlineStudyLogged", json!({"log_id": "O1", "member_id": "M1", "platform": "other", "studied_on": "2024-03-05", "study_hours": 1.234}))
        .unwrap_err();
    let rejection = error.in_batch(2);
    assert_eq!(
        (rejection.path.as_str(), rejection.kind),
        ("events[2].data.study_hours", Invalid)
    );
    // Its reason is the value type's: a client can word it without reading the message.
    assert_eq!(rejection.reason.code, "bad_hours");
    assert_eq!(rejection.problem, rejection.reason.english());
    let code =
        |type_name: &str, data: Value| Event::parse(type_name, data).unwrap_err().reason().code;
    let online = |edit: Value| {
        let mut data = json!({"log_id": "O1", "member_id": "M1", "platform": "other",
                              "studied_on": "2024-03-05", "study_hours": 1});
        data.as_object_mut()
            .unwrap()
            .extend(edit.as_object().unwrap().clone());
        data
    };
    assert_eq!(
        code(
            "OnlineStudyLogged",
            online(json!({"studied_on": "2024-02-30"}))
        ),
        "bad_date"
    );
    assert_eq!(
        code("OnlineStudyLogged", online(json!({"log_id": "O 1"}))),
        "bad_id"
    );
    assert_eq!(
        code("OnlineStudyLogged", online(json!({"platform": "tv"}))),
        "unknown_choice"
    );
    assert_eq!(
        code("OnlineStudyLogged", online(json!({"study_hours": 25}))),
        "bad_hours"
    );
    assert_eq!(
        code("OnlineStudyLogged", online(json!({"extra": 1}))),
        "unknown_field"
    );
    assert_eq!(
        code("OnlineStudyLogged", json!({"log_id": "O1"})),
        "missing_field"
    );
    assert_eq!(code("NoSuchType", json!({})), "unknown_type");
    let class = |edit: Value| {
        let mut data = json!({"class_id": "C1", "title": "T", "form": "concentrated",
            "organizer_org_id": "G1", "starts_at": "2024-03-05T09:00:00+08:00",
            "duration_minutes": 60, "study_hours": 1, "lecturer_ids": [], "attendee_ids": ["M1"]});
        data.as_object_mut()
            .unwrap()
            .extend(edit.as_object().unwrap().clone());
        data
    };
    assert_eq!(
        code("ClassHeld", class(json!({"title": " "}))),
        "blank_text"
    );
    assert_eq!(
        code("ClassHeld", class(json!({"starts_at": "2024-03-05"}))),
        "bad_timestamp"
    );
    assert_eq!(
        code("ClassHeld", class(json!({"attendee_ids": ["M1", "M1"]}))),
        "repeated"
    );
    assert_eq!(
        code("ClassHeld", class(json!({"duration_minutes": "x"}))),
        "wrong_type"
    );
}

// ---- scope and streams for the server ---------------------------------------------------------

#[test]
fn scope_reaches_through_referenced_records_and_member_branches() {
    let state = given([
        class("C1", "2024-03-05T09:00:00+08:00", &["M1"]),
        transfer("M2", "GB2", "2024-01-01"),
        posted("W1", "2024-03-01"),
    ]);
    let scope = state.scope_of(&amend("C1", &["M2"], &[]));
    assert_eq!(scope.org_units, [id("GB2"), id("SD")].into_iter().collect());
    assert_eq!(scope.members, [id("M2")].into_iter().collect());
    let scope = state.scope_of(&void(given_id(0)));
    assert_eq!(scope.org_units, [id("GB1"), id("SD")].into_iter().collect());
    let scope = state.scope_of(&claimed("W1", "M3", "2024-03-02"));
    assert_eq!(scope.org_units, [id("GB1")].into_iter().collect());
    assert!(state.in_subtree(&id("PG1"), &id("CM")));
    assert!(!state.in_subtree(&id("CM"), &id("GB1")));
    assert_eq!(
        state.stream_of(&void(given_id(0))),
        Some("class:C1".to_owned())
    );
    assert_eq!(state.position(), Some(1002));
}
