//! CONTRACT §4 without a database: a deliberately plain fold of event records into the three
//! core statistics (coverage, coverage members, lecture tallies), the headlines' reach and a
//! member's history, written straight from the contract and independent of the production code
//! (`crates/projections`, `crates/server`, the store). It is the tests' oracle, and what
//! `partyedu verify --figure` recomputes an exported figure with ([`check`]). It uses `serde`,
//! `serde_json`, `toml` (a rule set's text), `sha2` (its content hash) and `chrono-tz` (only for
//! the zone's offsets); it is slow (every query re-reads the whole log) and meant to be
//! obviously right, not fast.
//!
//! Input: records in the export format (`{"event_id", "position", "type", "occurred_at",
//! "recorded_at", "data", …}`). They are sorted by `position` here (stable), so callers may pass
//! them in any order; `as_of` keeps only records with `position <= as_of`.
//!
//! Time zone: the free functions take the deployment zone `Asia/Shanghai` (no daylight saving
//! time since 1991); [`World::fold_in`] takes any [`Zone`].
//!
//! Rule sets are data ([`RuleSpec`], read from a rule set's text or JSON); [`Rules`] names the
//! two that CONTRACT §4 defines, written out from the contract's words.
//!
//! Readings of the contract (where §4 is silent or ambiguous, the reading a user would expect):
//! 1. An activity counts in year Y when its local date is in Y, whether or not that date is after
//!    the reference date (validation allows dates up to local today + 1; the contract only says
//!    "activities belong to the year of their local occurrence date").
//! 2. A member's credited records in Y count in full even when some were made while the member
//!    belonged to another branch, or during an earlier enrolment interval of Y; the member is
//!    counted once, under the branch of the reference date.
//! 3. Frail and mobile status are changed only by events that speak of them: `MemberEnrolled`
//!    (its `frail`, and "not mobile"), `MemberCareStatusChanged`, `MemberWentMobile`,
//!    `MemberReturned`. `MemberLeft` / `MemberReenrolled` leave them as they were. Branch is set by
//!    `MemberEnrolled`, `MemberTransferred` and `MemberReenrolled`. "Latest effective on or before
//!    d" = greatest (effective date, position) with effective date <= d.
//! 4. `MemberLeft` on d ends every open role on d (held on d, as for `RoleEnded`). A `RoleEnded`
//!    for a role that is not open (e.g. one a production `MemberLeft` already closed) is ignored.
//! 5. A role held "in Y" is a role whose interval [assigned, ended] meets [Y-01-01, reference
//!    date]. Roles count at any org for the groups and rule groups (`org=` only selects members by
//!    branch), and they count whether or not the member is still enrolled.
//! 6. A voided `AttendanceAmended` is as if never made: the member it added does not see the class
//!    in their history at all, and the member it removed sees it again. Amendments that stand are
//!    applied in position order (remove `removed`, add `added`).
//! 7. `leaders` need >= 56 credited hours (after the online cap) and at least one credited (attended,
//!    not voided) class of form `concentrated` in Y. Exempt members (frail under cn-2019-hours,
//!    everybody under reach-all) have `required_hours` 0. In general: the first of the rule
//!    set's groups the member falls in (frail on the reference date; held one of its roles at
//!    any org in Y; everybody) sets the requirement, hours after the online cap and a number of
//!    credited concentrated classes, or "reached".
//! 8. Coverage: with `org=`, rows are for the root and its descendants that were established on or
//!    before the reference date (an unknown or not yet established root gives no rows); a member
//!    counts in the row of every org unit on the path from their branch (on the reference date) up
//!    to the root. Without `org=`, every established org unit has rows.
//! 9. Coverage members: with `org=`, members whose branch on the reference date is in the subtree.
//! 10. Lecture tallies: a lecture counts in Y by its local date; with `org=`, when its
//!     `audience_org_id` is the root or a descendant. `roles` are the role names (any role, including
//!     `party_group_leader`) held at any org on at least one counted lecture's date.
//!     `leader_lectures` counts lectures whose speaker held `subdistrict_leader` (at any org) on the
//!     lecture's date. `missing` lists every member (enrolled or not on the reference date) who held
//!     `subdistrict_leader` or `community_secretary` in Y (at an org in the subtree with `org=`) and
//!     is not a speaker of a counted lecture.
//! 11. History: with `year=`, both `entries` and `years` are limited to that year. Entries are ordered
//!     by their instant (date-only records at local midnight), ties by position. `occurred_at` of a
//!     class / lecture is the record envelope's `occurred_at` (falling back to the data timestamp)
//!     rendered in the zone (+08:00) with milliseconds; of any other kind local midnight
//!     (`YYYY-MM-DDT00:00:00.000+08:00`).
//! 12. History titles: class and lecture: their `title`; home visit: its `note`, else its purposes
//!     joined with `,`; online study: the `platform`; org-life meeting: its `kind`; mobile contact:
//!     its `note`, else its `channel` (see [`entry_title`]). `study_hours` is 0 for meetings and
//!     contacts. An entry has `void_reason` only when voided.
//! 13. History `years`: every year from the year of the member's first enrolment up to the running
//!     year (`today.0`) whose reference date (Dec 31, or `today` for the running year) lies in an
//!     enrolment interval. An unknown member has no history (`None`).
//! 14. Numbers: hours are JSON integers when whole, otherwise floats (e.g. `26`, `1.25`); rates are
//!     always floats (`1.0`, `0.3333`). Use [`normalize_numbers`] to compare with another producer.
//! 15. Evidence (the events behind a figure, [`World::registry_events`],
//!     [`World::credited_events`], [`World::org_events`]): a member's registry events are those
//!     of [`REGISTRY_TYPES`] up to the as-of point; credited records are named by their
//!     recording event (a class's `ClassHeld`, also for an attendee added by amendment).

pub mod check;
mod rules;
mod values;

pub use rules::{
    Credit, Group, GroupMembers, Requirement, RuleSpec, Rules, SHIPPED, Source, content_hash,
    shipped_by_hash,
};
pub use values::*;

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Reporting groups, in the contract's order.
pub const GROUPS: [&str; 6] = [
    "all",
    "committee",
    "grid_secretary",
    "frail",
    "mobile",
    "ordinary",
];

/// The registry events of a member that the statistics read: they decide whether the member
/// is in the population on a date, under which branch, frail or mobile, and which roles they
/// held. (`MemberBecameFull`, `BuddyAssigned` and `MemberDetailsCorrected` change no figure.)
pub const REGISTRY_TYPES: [&str; 9] = [
    "MemberEnrolled",
    "MemberReenrolled",
    "MemberLeft",
    "MemberTransferred",
    "MemberCareStatusChanged",
    "MemberWentMobile",
    "MemberReturned",
    "RoleAssigned",
    "RoleEnded",
];

// ---------------------------------------------------------------------------------------------
// The fold
// ---------------------------------------------------------------------------------------------

struct Org {
    parent: Option<String>,
    established: Date,
    /// The `OrgUnitEstablished` event.
    event_id: String,
}

struct RoleSpan {
    role: String,
    org: String,
    from: Date,
    /// The last day held (a role ending on d is held on d); `None` while open.
    to: Option<Date>,
}

impl RoleSpan {
    fn held_on(&self, d: Date) -> bool {
        self.from <= d && self.to.is_none_or(|t| t >= d)
    }

    /// Held on at least one day of [first, last].
    fn held_between(&self, first: Date, last: Date) -> bool {
        self.from <= last && self.to.is_none_or(|t| t >= first)
    }
}

#[derive(Default)]
struct Member {
    name: String,
    /// Enrolment intervals `[from, until)`.
    intervals: Vec<(Date, Option<Date>)>,
    /// (effective date, position, value) of every registry event that sets the value.
    branch: Vec<(Date, i64, String)>,
    frail: Vec<(Date, i64, bool)>,
    mobile: Vec<(Date, i64, bool)>,
    roles: Vec<RoleSpan>,
    /// Every registry event of the member the fold read, in position order (see
    /// [`REGISTRY_TYPES`]).
    registry: Vec<String>,
}

/// The value of the latest event effective on or before `d` (ties by position).
fn latest<T: Clone>(events: &[(Date, i64, T)], d: Date) -> Option<T> {
    events
        .iter()
        .filter(|(eff, _, _)| *eff <= d)
        .max_by_key(|(eff, pos, _)| (*eff, *pos))
        .map(|(_, _, v)| v.clone())
}

impl Member {
    fn enrolled_on(&self, d: Date) -> bool {
        self.intervals
            .iter()
            .any(|(from, until)| *from <= d && until.is_none_or(|u| d < u))
    }

    fn branch_on(&self, d: Date) -> Option<String> {
        latest(&self.branch, d)
    }

    fn frail_on(&self, d: Date) -> bool {
        latest(&self.frail, d).unwrap_or(false)
    }

    fn mobile_on(&self, d: Date) -> bool {
        latest(&self.mobile, d).unwrap_or(false)
    }

    /// Held one of `roles` on at least one day of `year` up to `reference`, at an org accepted by
    /// `at`.
    fn held_in_year(
        &self,
        roles: &[&str],
        year: i32,
        reference: Date,
        at: impl Fn(&str) -> bool,
    ) -> bool {
        self.roles.iter().any(|s| {
            roles.contains(&s.role.as_str())
                && at(&s.org)
                && s.held_between((year, 1, 1), reference)
        })
    }

    fn roles_on(&self, d: Date) -> impl Iterator<Item = &str> {
        self.roles
            .iter()
            .filter(move |s| s.held_on(d))
            .map(|s| s.role.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Class,
    PartyLecture,
    HomeVisit,
    OnlineStudy,
    OrgLifeMeeting,
    MobileContact,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Class => "class",
            Kind::PartyLecture => "party_lecture",
            Kind::HomeVisit => "home_visit",
            Kind::OnlineStudy => "online_study",
            Kind::OrgLifeMeeting => "org_life_meeting",
            Kind::MobileContact => "mobile_contact",
        }
    }
}

struct Activity {
    kind: Kind,
    record_id: String,
    /// The recording event (`ClassHeld`, `PartyLectureGiven`, …).
    event_id: String,
    position: i64,
    title: String,
    date: Date,
    instant: (i64, u32),
    occurred_at: String,
    hours: i64,
    /// Attendees after amendments, or the subject (visited, logging, contacted member).
    participants: Vec<String>,
    concentrated: bool,
    speaker: Option<String>,
    audience_org: Option<String>,
    /// The rule-set source it is, if any (a home visit only with `home_study_delivery`);
    /// whether it credits is the rule set's to say, and voids aside.
    source: Option<Source>,
    void_reason: Option<String>,
}

impl Activity {
    /// A credited record under `rules`: a source the rule set credits, not voided.
    fn credited(&self, rules: &RuleSpec) -> bool {
        self.void_reason.is_none() && self.source.is_some_and(|s| rules.credits(s))
    }
}

/// The title of a history entry (reading 12). One place to change if production differs.
fn entry_title(kind: Kind, data: &Value) -> String {
    let s = |k: &str| data[k].as_str().map(str::to_owned);
    match kind {
        Kind::Class | Kind::PartyLecture => s("title").unwrap_or_default(),
        Kind::HomeVisit => s("note").unwrap_or_else(|| strings(&data["purposes"]).join(", ")),
        Kind::OnlineStudy => s("platform").unwrap_or_default(),
        Kind::OrgLifeMeeting => s("kind").unwrap_or_default(),
        Kind::MobileContact => s("note").unwrap_or_else(|| s("channel").unwrap_or_default()),
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn date_of(v: &Value) -> Date {
    v.as_str().and_then(parse_date).unwrap_or((0, 1, 1))
}

/// The state folded from the log up to `as_of`.
pub struct World {
    orgs: BTreeMap<String, Org>,
    members: BTreeMap<String, Member>,
    activities: Vec<Activity>,
    zone: Zone,
}

/// What the rule set says about one member in one year.
struct Evaluation {
    /// Reporting groups other than `all`, in the contract's order.
    groups: Vec<&'static str>,
    credited: i64,
    required: i64,
    reached: bool,
    compliant: bool,
}

impl World {
    /// Folds the records with `position <= as_of` (all of them when `None`), in Asia/Shanghai.
    pub fn fold(records: &[Value], as_of: Option<i64>) -> World {
        World::fold_in(records, as_of, Zone::SHANGHAI)
    }

    /// Folds the records with `position <= as_of` (all of them when `None`), calendar dates
    /// taken in `zone`.
    pub fn fold_in(records: &[Value], as_of: Option<i64>, zone: Zone) -> World {
        let mut recs: Vec<&Value> = records
            .iter()
            .filter(|r| as_of.is_none_or(|a| r["position"].as_i64().unwrap_or(i64::MAX) <= a))
            .collect();
        recs.sort_by_key(|r| r["position"].as_i64().unwrap_or(0));

        // Voids first: the target's event id -> reason (of the first void).
        let mut voids: BTreeMap<String, String> = BTreeMap::new();
        for r in &recs {
            if r["type"] == "RecordVoided" {
                voids
                    .entry(str_of(&r["data"]["event_id"]))
                    .or_insert_with(|| str_of(&r["data"]["reason"]));
            }
        }

        let mut world = World {
            orgs: BTreeMap::new(),
            members: BTreeMap::new(),
            activities: Vec::new(),
            zone,
        };
        // Standing amendments, in position order: (class_id, added, removed).
        let mut amendments: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();

        for r in &recs {
            let ty = r["type"].as_str().unwrap_or_default();
            let d = &r["data"];
            let pos = r["position"].as_i64().unwrap_or(0);
            let event_id = str_of(&r["event_id"]);
            let member_id = str_of(&d["member_id"]);
            let void_reason = voids.get(&event_id).cloned();
            if REGISTRY_TYPES.contains(&ty) {
                world
                    .members
                    .entry(member_id.clone())
                    .or_default()
                    .registry
                    .push(event_id.clone());
            }
            match ty {
                "OrgUnitEstablished" => {
                    world.orgs.insert(
                        str_of(&d["org_id"]),
                        Org {
                            parent: d["parent_id"].as_str().map(str::to_owned),
                            established: date_of(&d["established_on"]),
                            event_id: event_id.clone(),
                        },
                    );
                }
                "MemberEnrolled" => {
                    let on = date_of(&d["enrolled_on"]);
                    let m = world.members.entry(member_id).or_default();
                    m.name = str_of(&d["name"]);
                    m.intervals.push((on, None));
                    m.branch.push((on, pos, str_of(&d["branch_id"])));
                    m.frail
                        .push((on, pos, d["frail"].as_bool().unwrap_or(false)));
                    m.mobile.push((on, pos, false));
                }
                "MemberReenrolled" => {
                    let on = date_of(&d["on"]);
                    let m = world.members.entry(member_id).or_default();
                    m.intervals.push((on, None));
                    m.branch.push((on, pos, str_of(&d["branch_id"])));
                }
                "MemberLeft" => {
                    let on = date_of(&d["on"]);
                    let m = world.members.entry(member_id).or_default();
                    for interval in m.intervals.iter_mut().filter(|i| i.1.is_none()) {
                        interval.1 = Some(on);
                    }
                    for span in m.roles.iter_mut().filter(|s| s.to.is_none()) {
                        span.to = Some(on);
                    }
                }
                "MemberTransferred" => {
                    let m = world.members.entry(member_id).or_default();
                    m.branch
                        .push((date_of(&d["on"]), pos, str_of(&d["to_branch_id"])));
                }
                "MemberCareStatusChanged" => {
                    let m = world.members.entry(member_id).or_default();
                    m.frail.push((
                        date_of(&d["on"]),
                        pos,
                        d["frail"].as_bool().unwrap_or(false),
                    ));
                }
                "MemberWentMobile" => {
                    let m = world.members.entry(member_id).or_default();
                    m.mobile.push((date_of(&d["since"]), pos, true));
                }
                "MemberReturned" => {
                    let m = world.members.entry(member_id).or_default();
                    m.mobile.push((date_of(&d["on"]), pos, false));
                }
                "RoleAssigned" => {
                    let m = world.members.entry(member_id).or_default();
                    m.roles.push(RoleSpan {
                        role: str_of(&d["role"]),
                        org: str_of(&d["org_id"]),
                        from: date_of(&d["on"]),
                        to: None,
                    });
                }
                "RoleEnded" => {
                    let m = world.members.entry(member_id).or_default();
                    let (role, org) = (str_of(&d["role"]), str_of(&d["org_id"]));
                    if let Some(span) = m
                        .roles
                        .iter_mut()
                        .find(|s| s.role == role && s.org == org && s.to.is_none())
                    {
                        span.to = Some(date_of(&d["on"]));
                    }
                }
                "MemberDetailsCorrected" => {
                    if let Some(name) = d["name"].as_str() {
                        world.members.entry(member_id).or_default().name = name.to_owned();
                    }
                }
                // A voided amendment is as if never made (falls through to `_`).
                "AttendanceAmended" if void_reason.is_none() => {
                    amendments.push((
                        str_of(&d["class_id"]),
                        strings(&d["added"]),
                        strings(&d["removed"]),
                    ));
                }
                "ClassHeld" | "PartyLectureGiven" => {
                    let (kind, id_key, ts_key) = if ty == "ClassHeld" {
                        (Kind::Class, "class_id", "starts_at")
                    } else {
                        (Kind::PartyLecture, "lecture_id", "given_at")
                    };
                    let ts = str_of(&d[ts_key]);
                    let instant = parse_timestamp(&ts).unwrap_or((0, 0));
                    world.activities.push(Activity {
                        kind,
                        record_id: str_of(&d[id_key]),
                        event_id,
                        position: pos,
                        title: entry_title(kind, d),
                        date: zone.local_date(&ts).unwrap_or((0, 1, 1)),
                        instant,
                        occurred_at: zone.format(
                            r["occurred_at"]
                                .as_str()
                                .and_then(parse_timestamp)
                                .unwrap_or(instant),
                        ),
                        hours: hundredths(&d["study_hours"]),
                        participants: strings(&d["attendee_ids"]),
                        concentrated: kind == Kind::Class && d["form"] == "concentrated",
                        speaker: d["speaker_id"].as_str().map(str::to_owned),
                        audience_org: d["audience_org_id"].as_str().map(str::to_owned),
                        source: Some(if kind == Kind::Class {
                            Source::Class
                        } else {
                            Source::PartyLecture
                        }),
                        void_reason,
                    });
                }
                "HomeVisitMade"
                | "OnlineStudyLogged"
                | "OrgLifeMeetingHeld"
                | "MobileMemberContacted" => {
                    let (kind, id_key, date_key) = match ty {
                        "HomeVisitMade" => (Kind::HomeVisit, "visit_id", "visited_on"),
                        "OnlineStudyLogged" => (Kind::OnlineStudy, "log_id", "studied_on"),
                        "OrgLifeMeetingHeld" => (Kind::OrgLifeMeeting, "meeting_id", "held_on"),
                        _ => (Kind::MobileContact, "contact_id", "contacted_on"),
                    };
                    let date = date_of(&d[date_key]);
                    let participants = if kind == Kind::OrgLifeMeeting {
                        strings(&d["attendee_ids"])
                    } else {
                        vec![member_id]
                    };
                    let source = match kind {
                        Kind::HomeVisit => strings(&d["purposes"])
                            .iter()
                            .any(|p| p == "home_study_delivery")
                            .then_some(Source::HomeStudyDelivery),
                        Kind::OnlineStudy => Some(Source::OnlineStudy),
                        Kind::OrgLifeMeeting => Some(Source::OrgLifeMeeting),
                        _ => None,
                    };
                    let instant = zone.midnight(date);
                    world.activities.push(Activity {
                        kind,
                        record_id: str_of(&d[id_key]),
                        event_id,
                        position: pos,
                        title: entry_title(kind, d),
                        date,
                        instant,
                        occurred_at: zone.format(instant),
                        hours: hundredths(&d["study_hours"]),
                        participants,
                        concentrated: false,
                        speaker: None,
                        audience_org: None,
                        source,
                        void_reason,
                    });
                }
                _ => {}
            }
        }

        for (class_id, added, removed) in amendments {
            for a in world
                .activities
                .iter_mut()
                .filter(|a| a.kind == Kind::Class && a.record_id == class_id)
            {
                a.participants.retain(|p| !removed.contains(p));
                for m in &added {
                    if !a.participants.contains(m) {
                        a.participants.push(m.clone());
                    }
                }
            }
        }
        world
    }

    /// `node` is `root` or one of its descendants.
    fn in_subtree(&self, node: &str, root: &str) -> bool {
        let mut current = Some(node.to_owned());
        for _ in 0..10_000 {
            match current {
                None => return false,
                Some(c) if c == root => return true,
                Some(c) => current = self.orgs.get(&c).and_then(|o| o.parent.clone()),
            }
        }
        false
    }

    fn in_optional_subtree(&self, node: &str, root: Option<&str>) -> bool {
        root.is_none_or(|r| self.in_subtree(node, r))
    }

    /// Members enrolled on the reference date, with their branch on that date.
    fn population(&self, reference: Date) -> Vec<(&str, &Member, String)> {
        self.members
            .iter()
            .filter(|(_, m)| m.enrolled_on(reference))
            .filter_map(|(id, m)| m.branch_on(reference).map(|b| (id.as_str(), m, b)))
            .collect()
    }

    fn evaluate(&self, id: &str, year: i32, reference: Date, rules: &RuleSpec) -> Evaluation {
        let m = &self.members[id];
        let any = |_: &str| true;
        let committee = m.held_in_year(
            &["community_secretary", "committee_member"],
            year,
            reference,
            any,
        );
        let grid = m.held_in_year(
            &["grid_secretary", "branch_secretary"],
            year,
            reference,
            any,
        );
        let frail = m.frail_on(reference);
        let mobile = m.mobile_on(reference);
        let subdistrict_leader = m.held_in_year(&["subdistrict_leader"], year, reference, any);
        let ordinary = !(committee || grid || frail || mobile || subdistrict_leader);

        let mut groups = Vec::new();
        for (flag, name) in [
            (committee, "committee"),
            (grid, "grid_secretary"),
            (frail, "frail"),
            (mobile, "mobile"),
            (ordinary, "ordinary"),
        ] {
            if flag {
                groups.push(name);
            }
        }

        let (mut other, mut online) = (0i64, 0i64);
        let (mut reached, mut concentrated) = (false, 0u32);
        for a in self.credited_records(id, year, rules) {
            reached = true;
            if a.kind == Kind::OnlineStudy {
                online += a.hours;
            } else {
                other += a.hours;
            }
            concentrated += u32::from(a.concentrated);
        }
        let credited = other + rules.online_cap().map_or(online, |cap| online.min(cap));

        // The first requirement group, in the rule set's order, the member falls in.
        let group = rules.groups.iter().find(|g| match g.members {
            GroupMembers::Frail => frail,
            GroupMembers::Roles => {
                let roles: Vec<&str> = g.roles.iter().map(String::as_str).collect();
                m.held_in_year(&roles, year, reference, any)
            }
            GroupMembers::All => true,
        });
        let (required, compliant) = match group {
            Some(g) if g.requirement == Requirement::Hours => {
                let required = i64::from(g.min_hours) * 100;
                let enough = credited >= required && concentrated >= g.min_concentrated_classes;
                (required, enough)
            }
            _ => (0, reached),
        };
        Evaluation {
            groups,
            credited,
            required,
            reached,
            compliant,
        }
    }

    /// The member's credited, non-voided records whose local date is in `year`.
    fn credited_records<'a>(
        &'a self,
        id: &'a str,
        year: i32,
        rules: &'a RuleSpec,
    ) -> impl Iterator<Item = &'a Activity> + 'a {
        self.activities.iter().filter(move |a| {
            a.credited(rules) && a.date.0 == year && a.participants.iter().any(|p| p == id)
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The queries
// ---------------------------------------------------------------------------------------------

/// The members behind one coverage row: who it counts, who of them is reached, who compliant
/// (member ids, in id order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowMembers {
    pub in_scope: Vec<String>,
    pub reached: Vec<String>,
    pub compliant: Vec<String>,
}

impl World {
    /// The zone the world's calendar dates are taken in.
    pub fn zone(&self) -> Zone {
        self.zone
    }

    /// Coverage rows with the members behind each: `(row, members)`, rows as
    /// [`coverage`] gives them.
    pub fn coverage_with_members(
        &self,
        year: i32,
        org: Option<&str>,
        rules: &RuleSpec,
        reference_date: Date,
    ) -> Vec<(Value, RowMembers)> {
        let evaluated: Vec<(&str, String, Evaluation)> = self
            .population(reference_date)
            .into_iter()
            .map(|(id, _, branch)| (id, branch, self.evaluate(id, year, reference_date, rules)))
            .collect();

        let mut rows = Vec::new();
        for (org_id, o) in &self.orgs {
            if o.established > reference_date || !self.in_optional_subtree(org_id, org) {
                continue;
            }
            for group in GROUPS {
                let mut members = RowMembers::default();
                for (id, branch, e) in &evaluated {
                    if !self.in_subtree(branch, org_id) {
                        continue;
                    }
                    if group != "all" && !e.groups.contains(&group) {
                        continue;
                    }
                    members.in_scope.push((*id).to_owned());
                    if e.reached {
                        members.reached.push((*id).to_owned());
                    }
                    if e.compliant {
                        members.compliant.push((*id).to_owned());
                    }
                }
                let (in_scope, reached, compliant) = (
                    members.in_scope.len() as i64,
                    members.reached.len() as i64,
                    members.compliant.len() as i64,
                );
                let row = json!({
                    "org_id": org_id,
                    "group": group,
                    "in_scope": in_scope,
                    "reached": reached,
                    "compliant": compliant,
                    "reached_rate": rate_json(reached, in_scope),
                    "compliant_rate": rate_json(compliant, in_scope),
                });
                rows.push((row, members));
            }
        }
        rows
    }

    /// `GET /api/v1/coverage/members` (see [`coverage_members`]).
    pub fn coverage_members(
        &self,
        year: i32,
        org: Option<&str>,
        rules: &RuleSpec,
        reference_date: Date,
        status: &str,
    ) -> Vec<Value> {
        assert!(
            status == "unreached" || status == "noncompliant",
            "unknown status {status}"
        );
        let mut out = Vec::new();
        for (id, m, branch) in self.population(reference_date) {
            if !self.in_optional_subtree(&branch, org) {
                continue;
            }
            let e = self.evaluate(id, year, reference_date, rules);
            let listed = if status == "unreached" {
                !e.reached
            } else {
                !e.compliant
            };
            if listed {
                out.push(json!({
                    "member_id": id,
                    "name": m.name,
                    "org_id": branch,
                    "groups": e.groups,
                    "credited_hours": hours_json(e.credited),
                    "required_hours": hours_json(e.required),
                }));
            }
        }
        out
    }

    /// The members of the population in the subtree (all of it when `org` is `None`), and
    /// those of them reached: what the headlines' `members` and `members_reached` count.
    pub fn reach(
        &self,
        year: i32,
        org: Option<&str>,
        rules: &RuleSpec,
        reference_date: Date,
    ) -> (Vec<String>, Vec<String>) {
        let (mut members, mut reached) = (Vec::new(), Vec::new());
        for (id, _, branch) in self.population(reference_date) {
            if !self.in_optional_subtree(&branch, org) {
                continue;
            }
            members.push(id.to_owned());
            if self.evaluate(id, year, reference_date, rules).reached {
                reached.push(id.to_owned());
            }
        }
        (members, reached)
    }

    /// `GET /api/v1/lectures/tallies` (see [`lecture_tallies`]).
    pub fn lecture_tallies(&self, year: i32, org: Option<&str>, reference_date: Date) -> Value {
        #[derive(Default)]
        struct Tally {
            lectures: i64,
            hours: i64,
            attendees: BTreeSet<String>,
            roles: BTreeSet<String>,
        }
        let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
        let (mut lectures, mut leader_lectures) = (0i64, 0i64);
        for a in &self.activities {
            let counted = a.kind == Kind::PartyLecture
                && a.void_reason.is_none()
                && a.date.0 == year
                && a.audience_org
                    .as_deref()
                    .is_some_and(|o| self.in_optional_subtree(o, org));
            if !counted {
                continue;
            }
            let speaker = a.speaker.clone().unwrap_or_default();
            let roles_then: Vec<String> = self
                .members
                .get(&speaker)
                .map(|m| m.roles_on(a.date).map(str::to_owned).collect())
                .unwrap_or_default();
            lectures += 1;
            leader_lectures += i64::from(roles_then.iter().any(|r| r == "subdistrict_leader"));
            let t = tallies.entry(speaker).or_default();
            t.lectures += 1;
            t.hours += a.hours;
            t.attendees.extend(a.participants.iter().cloned());
            t.roles.extend(roles_then);
        }

        let speakers: Vec<Value> = tallies
            .iter()
            .map(|(id, t)| {
                json!({
                    "member_id": id,
                    "name": self.members.get(id).map(|m| m.name.clone()).unwrap_or_default(),
                    "lectures": t.lectures,
                    "study_hours": hours_json(t.hours),
                    "unique_attendees": t.attendees.len(),
                    "roles": t.roles.iter().collect::<Vec<_>>(),
                })
            })
            .collect();
        let missing: Vec<&String> = self
            .members
            .iter()
            .filter(|(id, m)| {
                !tallies.contains_key(*id)
                    && m.held_in_year(
                        &["subdistrict_leader", "community_secretary"],
                        year,
                        reference_date,
                        |o| self.in_optional_subtree(o, org),
                    )
            })
            .map(|(id, _)| id)
            .collect();
        json!({
            "speakers": speakers,
            "totals": {
                "lectures": lectures,
                "speakers": tallies.len(),
                "leader_lectures": leader_lectures,
            },
            "missing": missing,
        })
    }

    /// `GET /api/v1/members/{id}/history` (see [`member_history`]).
    pub fn member_history(
        &self,
        member_id: &str,
        year: Option<i32>,
        rules: &RuleSpec,
        today: Date,
    ) -> Option<Value> {
        let member = self.members.get(member_id)?;

        let mut mine: Vec<&Activity> = self
            .activities
            .iter()
            .filter(|a| a.participants.iter().any(|p| p == member_id))
            .filter(|a| year.is_none_or(|y| a.date.0 == y))
            .collect();
        mine.sort_by_key(|a| (a.instant, a.position));
        let entries: Vec<Value> = mine
            .iter()
            .map(|a| {
                let mut e = json!({
                    "occurred_at": a.occurred_at,
                    "kind": a.kind.name(),
                    "record_id": a.record_id,
                    "title": a.title,
                    "study_hours": hours_json(a.hours),
                    "credited": a.credited(rules),
                    "position": a.position,
                    "event_id": a.event_id,
                    "voided": a.void_reason.is_some(),
                });
                if let Some(reason) = &a.void_reason {
                    e["void_reason"] = json!(reason);
                }
                e
            })
            .collect();

        let first_year = member
            .intervals
            .iter()
            .map(|(from, _)| from.0)
            .min()
            .unwrap_or(today.0 + 1);
        let mut years = Vec::new();
        for y in first_year..=today.0 {
            if year.is_some_and(|wanted| wanted != y) {
                continue;
            }
            let reference = if y == today.0 { today } else { (y, 12, 31) };
            if !member.enrolled_on(reference) {
                continue;
            }
            let e = self.evaluate(member_id, y, reference, rules);
            years.push(json!({
                "year": y,
                "credited_hours": hours_json(e.credited),
                "required_hours": hours_json(e.required),
                "reached": e.reached,
                "compliant": e.compliant,
            }));
        }
        Some(json!({"entries": entries, "years": years}))
    }

    // -----------------------------------------------------------------------------------------
    // Evidence: the events behind a figure
    // -----------------------------------------------------------------------------------------

    /// A member's registry events (of [`REGISTRY_TYPES`]) as folded, in position order; `None`
    /// for a member the log does not know.
    pub fn registry_events(&self, member_id: &str) -> Option<&[String]> {
        self.members.get(member_id).map(|m| m.registry.as_slice())
    }

    /// The recording events of a member's credited records (not voided, a source `rules`
    /// credits, attended after amendments or the member's own) whose local date's year `years`
    /// accepts, in position order.
    pub fn credited_events(
        &self,
        member_id: &str,
        rules: &RuleSpec,
        years: impl Fn(i32) -> bool,
    ) -> Vec<String> {
        let mut found: Vec<(i64, &str)> = self
            .activities
            .iter()
            .filter(|a| {
                a.credited(rules)
                    && years(a.date.0)
                    && a.participants.iter().any(|p| p == member_id)
            })
            .map(|a| (a.position, a.event_id.as_str()))
            .collect();
        found.sort();
        found.dedup();
        found.into_iter().map(|(_, id)| id.to_owned()).collect()
    }

    /// The `OrgUnitEstablished` event of every org unit of the subtree (all when `org` is
    /// `None`), by org id.
    pub fn org_events(&self, org: Option<&str>) -> BTreeMap<String, String> {
        self.orgs
            .iter()
            .filter(|(id, _)| self.in_optional_subtree(id, org))
            .map(|(id, o)| (id.clone(), o.event_id.clone()))
            .collect()
    }
}

/// `GET /api/v1/coverage`: `rows` as a list of
/// `{org_id, group, in_scope, reached, compliant, reached_rate, compliant_rate}`.
pub fn coverage(
    records: &[Value],
    year: i32,
    org: Option<&str>,
    rules: impl Into<RuleSpec>,
    reference_date: Date,
    as_of: Option<i64>,
) -> Vec<Value> {
    World::fold(records, as_of)
        .coverage_with_members(year, org, &rules.into(), reference_date)
        .into_iter()
        .map(|(row, _)| row)
        .collect()
}

/// `GET /api/v1/coverage/members?status=unreached|noncompliant`: `members` as a list of
/// `{member_id, name, org_id, groups, credited_hours, required_hours}`, by member id.
pub fn coverage_members(
    records: &[Value],
    year: i32,
    org: Option<&str>,
    rules: impl Into<RuleSpec>,
    reference_date: Date,
    as_of: Option<i64>,
    status: &str,
) -> Vec<Value> {
    World::fold(records, as_of).coverage_members(year, org, &rules.into(), reference_date, status)
}

/// `GET /api/v1/lectures/tallies`: `{speakers, totals: {lectures, speakers, leader_lectures},
/// missing}`.
pub fn lecture_tallies(
    records: &[Value],
    year: i32,
    org: Option<&str>,
    reference_date: Date,
    as_of: Option<i64>,
) -> Value {
    World::fold(records, as_of).lecture_tallies(year, org, reference_date)
}

/// `GET /api/v1/members/{id}/history[?year=]`: `{entries, years}`; `None` for a member the log
/// (up to `as_of`) does not know. `today` is the running year's reference date.
pub fn member_history(
    records: &[Value],
    member_id: &str,
    year: Option<i32>,
    rules: impl Into<RuleSpec>,
    today: Date,
    as_of: Option<i64>,
) -> Option<Value> {
    World::fold(records, as_of).member_history(member_id, year, &rules.into(), today)
}
