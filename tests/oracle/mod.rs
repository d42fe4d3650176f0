//! The test oracle: a deliberately plain fold of event records into the three core statistics
//! of CONTRACT §4 (coverage, coverage members, lecture tallies) and a member's history, written
//! straight from the contract and independent of the production code (`crates/projections`,
//! `crates/server`). It uses only `std` and `serde_json`; it is slow (every query re-reads the
//! whole log) and meant to be obviously right, not fast.
//!
//! Input: records in the export format (`{"event_id", "position", "type", "occurred_at",
//! "recorded_at", "data", …}`). They are sorted by `position` here (stable), so callers may pass
//! them in any order; `as_of` keeps only records with `position <= as_of`.
//!
//! Time zone: the deployment zone is `Asia/Shanghai`, which has had no daylight saving time since
//! 1991, so it is treated as the fixed offset UTC+08:00 throughout ([`LOCAL_OFFSET_SECONDS`]).
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
//!    everybody under reach-all) have `required_hours` 0.
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
//!     rendered in +08:00 with milliseconds; of any other kind `YYYY-MM-DDT00:00:00.000+08:00`.
//! 12. History titles: class and lecture: their `title`; home visit: its `note`, else its purposes
//!     joined with `,`; online study: the `platform`; org-life meeting: its `kind`; mobile contact:
//!     its `note`, else its `channel` (see [`entry_title`]). `study_hours` is 0 for meetings and
//!     contacts. An entry has `void_reason` only when voided.
//! 13. History `years`: every year from the year of the member's first enrolment up to the running
//!     year (`today.0`) whose reference date (Dec 31, or `today` for the running year) lies in an
//!     enrolment interval. An unknown member has no history (`None`).
//! 14. Numbers: hours are JSON integers when whole, otherwise floats (e.g. `26`, `1.25`); rates are
//!     always floats (`1.0`, `0.3333`). Use [`normalize_numbers`] to compare with another producer.

// This module is also compiled into other test binaries (that replay the scenarios against the
// real API), which do not use every function here.
#![allow(dead_code)]

pub mod scenarios;

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// A calendar date `(year, month, day)`; tuples compare in calendar order.
pub type Date = (i32, u32, u32);

/// The deployment time zone, Asia/Shanghai, as a fixed offset (no DST since 1991).
pub const LOCAL_OFFSET_SECONDS: i64 = 8 * 3600;

/// The two shipped rule sets of CONTRACT §4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rules {
    /// `cn-2019-hours`: frail exempt (compliant when reached); leaders >= 56 h incl. one
    /// concentrated class; everyone else >= 32 h.
    Cn2019Hours,
    /// `reach-all`: everyone exempt, compliant when reached.
    ReachAll,
}

/// Reporting groups, in the contract's order.
pub const GROUPS: [&str; 6] = [
    "all",
    "committee",
    "grid_secretary",
    "frail",
    "mobile",
    "ordinary",
];

/// Roles that make a member one of the `leaders` of cn-2019-hours.
const LEADER_ROLES: [&str; 5] = [
    "subdistrict_leader",
    "community_secretary",
    "committee_member",
    "grid_secretary",
    "branch_secretary",
];

/// The yearly cap on `OnlineStudyLogged` hours, in hundredths (16 h), in both shipped rule sets.
const ONLINE_CAP: i64 = 1600;
const LEADER_HOURS: i64 = 5600;
const GENERAL_HOURS: i64 = 3200;

// ---------------------------------------------------------------------------------------------
// Dates, timestamps and hours
// ---------------------------------------------------------------------------------------------

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub fn days_from_civil((y, m, d): Date) -> i64 {
    let y = i64::from(if m <= 2 { y - 1 } else { y });
    let (m, d) = (i64::from(m), i64::from(d));
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> Date {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as i32, m as u32, d as u32)
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let date = (
        digits(&s[0..4])? as i32,
        digits(&s[5..7])?,
        digits(&s[8..10])?,
    );
    if date.1 == 0 || date.1 > 12 || date.2 == 0 || date.2 > 31 {
        return None;
    }
    Some(date)
}

/// Parses an RFC 3339 timestamp with offset into (seconds since the epoch in UTC, nanoseconds).
pub fn parse_timestamp(s: &str) -> Option<(i64, u32)> {
    let date = parse_date(s.get(0..10)?)?;
    if !matches!(s.as_bytes().get(10)?, b'T' | b't' | b' ') {
        return None;
    }
    let time = s.get(11..19)?;
    let tb = time.as_bytes();
    if tb[2] != b':' || tb[5] != b':' {
        return None;
    }
    let (h, mi, se) = (
        digits(&time[0..2])?,
        digits(&time[3..5])?,
        digits(&time[6..8])?,
    );
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        let mut f = frac[..n].to_string();
        f.truncate(9);
        while f.len() < 9 {
            f.push('0');
        }
        nanos = digits(&f)?;
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            sign * i64::from(digits(&rest[1..3])? * 3600 + digits(&rest[4..6])? * 60)
        }
    };
    let secs = days_from_civil(date) * 86_400 + i64::from(h * 3600 + mi * 60 + se) - offset;
    Some((secs, nanos))
}

/// The local (UTC+08:00) date of an RFC 3339 timestamp.
pub fn local_date(timestamp: &str) -> Option<Date> {
    let (secs, _) = parse_timestamp(timestamp)?;
    Some(civil_from_days(
        (secs + LOCAL_OFFSET_SECONDS).div_euclid(86_400),
    ))
}

/// Renders an instant in the deployment zone as the API returns timestamps (CONTRACT §6):
/// `YYYY-MM-DDTHH:MM:SS.fff+08:00`, always milliseconds, finer digits cut.
pub fn format_local((secs, nanos): (i64, u32)) -> String {
    let local = secs + LOCAL_OFFSET_SECONDS;
    let (y, m, d) = civil_from_days(local.div_euclid(86_400));
    let t = local.rem_euclid(86_400);
    let frac = format!(".{:03}", nanos / 1_000_000);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}+08:00",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

/// `YYYY-MM-DD`.
pub fn date_string((y, m, d): Date) -> String {
    format!("{y:04}-{m:02}-{d:02}")
}

/// The instant of local midnight starting a date.
fn local_midnight(date: Date) -> (i64, u32) {
    (days_from_civil(date) * 86_400 - LOCAL_OFFSET_SECONDS, 0)
}

/// `study_hours` (a decimal with at most two places) as integer hundredths, exactly: the number is
/// read from its decimal text, not through binary floating point.
pub fn hundredths(v: &Value) -> i64 {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return 0,
    };
    parse_hundredths(&text).unwrap_or_else(|| {
        let f: f64 = text.parse().unwrap_or(0.0);
        (f * 100.0).round() as i64
    })
}

fn parse_hundredths(text: &str) -> Option<i64> {
    let (neg, t) = match text.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, text),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // At most two places are allowed; digits beyond the second are zeros in valid data.
    let frac = frac.trim_end_matches('0');
    if frac.len() > 2 {
        return None;
    }
    let mut f = frac.to_string();
    while f.len() < 2 {
        f.push('0');
    }
    let value = int.parse::<i64>().ok()? * 100 + f.parse::<i64>().ok()?;
    Some(if neg { -value } else { value })
}

/// Hundredths of an hour as a JSON number: an integer when whole, else a float (`26`, `1.25`).
pub fn hours_json(h: i64) -> Value {
    if h % 100 == 0 {
        json!(h / 100)
    } else {
        json!(h as f64 / 100.0)
    }
}

/// `num / den` rounded half-up to 4 places, computed on integers; `null` when `den` is 0.
pub fn rate_json(num: i64, den: i64) -> Value {
    if den == 0 {
        return Value::Null;
    }
    let scaled = (num * 10_000 * 2 + den) / (2 * den);
    json!(scaled as f64 / 10_000.0)
}

/// A copy of `v` with every number turned into a float, so that `26` and `26.0` compare equal.
pub fn normalize_numbers(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64().unwrap_or(f64::NAN)),
        Value::Array(a) => Value::Array(a.iter().map(normalize_numbers).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), normalize_numbers(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// The fold
// ---------------------------------------------------------------------------------------------

struct Org {
    parent: Option<String>,
    established: Date,
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
    /// A source the shipped rule sets credit (classes, lectures, online study, home visits with
    /// `home_study_delivery`), ignoring voids.
    creditable: bool,
    void_reason: Option<String>,
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
    /// Folds the records with `position <= as_of` (all of them when `None`).
    pub fn fold(records: &[Value], as_of: Option<i64>) -> World {
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
            match ty {
                "OrgUnitEstablished" => {
                    world.orgs.insert(
                        str_of(&d["org_id"]),
                        Org {
                            parent: d["parent_id"].as_str().map(str::to_owned),
                            established: date_of(&d["established_on"]),
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
                        date: local_date(&ts).unwrap_or((0, 1, 1)),
                        instant,
                        occurred_at: format_local(
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
                        creditable: true,
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
                    let creditable = match kind {
                        Kind::HomeVisit => strings(&d["purposes"])
                            .iter()
                            .any(|p| p == "home_study_delivery"),
                        Kind::OnlineStudy => true,
                        _ => false,
                    };
                    world.activities.push(Activity {
                        kind,
                        record_id: str_of(&d[id_key]),
                        event_id,
                        position: pos,
                        title: entry_title(kind, d),
                        date,
                        instant: local_midnight(date),
                        occurred_at: format!("{}T00:00:00.000+08:00", date_string(date)),
                        hours: hundredths(&d["study_hours"]),
                        participants,
                        concentrated: false,
                        speaker: None,
                        audience_org: None,
                        creditable,
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

    fn evaluate(&self, id: &str, year: i32, reference: Date, rules: Rules) -> Evaluation {
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
        let leader = m.held_in_year(&LEADER_ROLES, year, reference, any);

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
        let (mut reached, mut concentrated) = (false, false);
        for a in self.credited_records(id, year) {
            reached = true;
            if a.kind == Kind::OnlineStudy {
                online += a.hours;
            } else {
                other += a.hours;
            }
            concentrated |= a.concentrated;
        }
        let credited = other + online.min(ONLINE_CAP);

        let (required, compliant) = match rules {
            Rules::ReachAll => (0, reached),
            Rules::Cn2019Hours if frail => (0, reached),
            Rules::Cn2019Hours if leader => {
                (LEADER_HOURS, credited >= LEADER_HOURS && concentrated)
            }
            Rules::Cn2019Hours => (GENERAL_HOURS, credited >= GENERAL_HOURS),
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
    ) -> impl Iterator<Item = &'a Activity> + 'a {
        self.activities.iter().filter(move |a| {
            a.void_reason.is_none()
                && a.creditable
                && a.date.0 == year
                && a.participants.iter().any(|p| p == id)
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The queries
// ---------------------------------------------------------------------------------------------

/// `GET /api/v1/coverage`: `rows` as a list of
/// `{org_id, group, in_scope, reached, compliant, reached_rate, compliant_rate}`.
pub fn coverage(
    records: &[Value],
    year: i32,
    org: Option<&str>,
    rules: Rules,
    reference_date: Date,
    as_of: Option<i64>,
) -> Vec<Value> {
    let world = World::fold(records, as_of);
    let evaluated: Vec<(String, Evaluation)> = world
        .population(reference_date)
        .into_iter()
        .map(|(id, _, branch)| (branch, world.evaluate(id, year, reference_date, rules)))
        .collect();

    let mut rows = Vec::new();
    for (org_id, o) in &world.orgs {
        if o.established > reference_date || !world.in_optional_subtree(org_id, org) {
            continue;
        }
        for group in GROUPS {
            let (mut in_scope, mut reached, mut compliant) = (0i64, 0i64, 0i64);
            for (branch, e) in &evaluated {
                if !world.in_subtree(branch, org_id) {
                    continue;
                }
                if group != "all" && !e.groups.contains(&group) {
                    continue;
                }
                in_scope += 1;
                reached += i64::from(e.reached);
                compliant += i64::from(e.compliant);
            }
            rows.push(json!({
                "org_id": org_id,
                "group": group,
                "in_scope": in_scope,
                "reached": reached,
                "compliant": compliant,
                "reached_rate": rate_json(reached, in_scope),
                "compliant_rate": rate_json(compliant, in_scope),
            }));
        }
    }
    rows
}

/// `GET /api/v1/coverage/members?status=unreached|noncompliant`: `members` as a list of
/// `{member_id, name, org_id, groups, credited_hours, required_hours}`, by member id.
pub fn coverage_members(
    records: &[Value],
    year: i32,
    org: Option<&str>,
    rules: Rules,
    reference_date: Date,
    as_of: Option<i64>,
    status: &str,
) -> Vec<Value> {
    assert!(
        status == "unreached" || status == "noncompliant",
        "unknown status {status}"
    );
    let world = World::fold(records, as_of);
    let mut out = Vec::new();
    for (id, m, branch) in world.population(reference_date) {
        if !world.in_optional_subtree(&branch, org) {
            continue;
        }
        let e = world.evaluate(id, year, reference_date, rules);
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

/// `GET /api/v1/lectures/tallies`: `{speakers, totals: {lectures, speakers, leader_lectures},
/// missing}`.
pub fn lecture_tallies(
    records: &[Value],
    year: i32,
    org: Option<&str>,
    reference_date: Date,
    as_of: Option<i64>,
) -> Value {
    let world = World::fold(records, as_of);

    #[derive(Default)]
    struct Tally {
        lectures: i64,
        hours: i64,
        attendees: BTreeSet<String>,
        roles: BTreeSet<String>,
    }
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let (mut lectures, mut leader_lectures) = (0i64, 0i64);
    for a in &world.activities {
        let counted = a.kind == Kind::PartyLecture
            && a.void_reason.is_none()
            && a.date.0 == year
            && a.audience_org
                .as_deref()
                .is_some_and(|o| world.in_optional_subtree(o, org));
        if !counted {
            continue;
        }
        let speaker = a.speaker.clone().unwrap_or_default();
        let roles_then: Vec<String> = world
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
                "name": world.members.get(id).map(|m| m.name.clone()).unwrap_or_default(),
                "lectures": t.lectures,
                "study_hours": hours_json(t.hours),
                "unique_attendees": t.attendees.len(),
                "roles": t.roles.iter().collect::<Vec<_>>(),
            })
        })
        .collect();
    let missing: Vec<&String> = world
        .members
        .iter()
        .filter(|(id, m)| {
            !tallies.contains_key(*id)
                && m.held_in_year(
                    &["subdistrict_leader", "community_secretary"],
                    year,
                    reference_date,
                    |o| world.in_optional_subtree(o, org),
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

/// `GET /api/v1/members/{id}/history[?year=]`: `{entries, years}`; `None` for a member the log
/// (up to `as_of`) does not know. `today` is the running year's reference date.
pub fn member_history(
    records: &[Value],
    member_id: &str,
    year: Option<i32>,
    rules: Rules,
    today: Date,
    as_of: Option<i64>,
) -> Option<Value> {
    let world = World::fold(records, as_of);
    let member = world.members.get(member_id)?;

    let mut mine: Vec<&Activity> = world
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
                "credited": a.creditable && a.void_reason.is_none(),
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
        let e = world.evaluate(member_id, y, reference, rules);
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
