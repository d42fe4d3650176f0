//! Judging a batch of proposed events against the state (`decide` of the decider shape): every
//! validation rule of CONTRACT §2. A rejection names the field (`events[2].data.study_hours`),
//! the problem (in English, and as a [`Reason`]: a stable code and its values, for clients that
//! word it in another language), and whether it was judged from the request alone (`Invalid`,
//! HTTP 400) or against stored state (`Conflict`, HTTP 409).

use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use uuid::Uuid;

use crate::events::{Event, ParseError, ParseErrorKind};
use crate::kinds::{Membership, OrgKind};
use crate::state::{Member, OrgUnit, State, Wish, WishStatus, created_id};
use crate::time::local_date;
use crate::values::{Date, Id, StudyHours, Timestamp};

/// An event a client asks to record, already parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposed {
    pub event: Event,
    /// The client-supplied event id, kept when stored.
    pub event_id: Option<Uuid>,
}

/// An accepted event, ready to append.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub event: Event,
    pub event_id: Option<Uuid>,
    pub stream: String,
    /// `None` for events without a date of their own: they take their `recorded_at`.
    pub occurred_at: Option<DateTime<FixedOffset>>,
    /// The event id is already stored with this very content: an idempotent retry, to be
    /// answered with the stored record and not appended again.
    pub already_stored: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionKind {
    /// Judged from the request alone (HTTP 400).
    Invalid,
    /// Judged against stored state (HTTP 409).
    Conflict,
}

/// One reason a batch is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct Rejection {
    /// Where in the request, e.g. `events[2].data.attendee_ids[3]`.
    pub path: String,
    /// The English wording of `reason` (what the API sends).
    pub problem: String,
    pub kind: RejectionKind,
    /// The same as a stable code and the values it names, for wording it in another language.
    pub reason: Reason,
}

/// Why something is refused, as a client can word it in its own language: a stable code
/// (`not_enrolled`) and the values its wording names (`id`, `date`). [`Reason::english`] is
/// the wording the API sends as the `problem`; [`REASONS`] has every code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    pub code: &'static str,
    pub args: Vec<(&'static str, String)>,
}

impl Reason {
    pub fn new(code: &'static str) -> Reason {
        debug_assert!(
            REASONS.iter().any(|(c, _)| *c == code),
            "reason code {code} is not in REASONS"
        );
        Reason {
            code,
            args: Vec::new(),
        }
    }

    /// The same with value `name` (a placeholder `{name}` of the wording).
    pub fn arg(mut self, name: &'static str, value: impl std::fmt::Display) -> Reason {
        self.args.push((name, value.to_string()));
        self
    }

    /// The value of `name`, if the reason names it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The English wording: its code's template in [`REASONS`] with the values filled in.
    pub fn english(&self) -> String {
        let template = REASONS
            .iter()
            .find(|(c, _)| *c == self.code)
            .map_or("{detail}", |(_, t)| t);
        fill(template, |name| self.get(name).map(str::to_owned))
    }
}

/// `template` with each `{name}` replaced by `value(name)` (kept as written when `None`), in
/// one pass: a value holding braces is not filled in again.
pub fn fill(template: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close)
                if after[..close]
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_') =>
            {
                let name = &after[..close];
                match value(name) {
                    Some(v) => out.push_str(&v),
                    None => out.push_str(&rest[open..open + close + 2]),
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every reason code with its English wording. The codes are stable (clients key their own
/// wording on them); a wording may name the reason's values as `{name}`. The codes of parse
/// errors (the first group) carry serde's or the value type's own message as `{detail}`.
pub const REASONS: &[(&str, &str)] = &[
    ("unknown_type", "{detail}"),
    ("unknown_field", "{detail}"),
    ("missing_field", "{detail}"),
    ("wrong_type", "{detail}"),
    ("unknown_choice", "{detail}"),
    ("bad_id", "{detail}"),
    ("blank_text", "{detail}"),
    ("text_too_long", "{detail}"),
    ("bad_hours", "{detail}"),
    ("bad_date", "{detail}"),
    ("bad_timestamp", "{detail}"),
    ("repeated", "{detail}"),
    ("empty_list", "{detail}"),
    ("bad_value", "{detail}"),
    (
        "event_id_reused",
        "event id {id} is already stored with other content ({type})",
    ),
    (
        "future_date",
        "{date} is later than tomorrow ({limit}); future events cannot be recorded",
    ),
    ("zero_hours", "must be more than 0 for classes and lectures"),
    ("birth_year_range", "must lie between 1900 and {latest}"),
    (
        "id_used",
        "{what} id {id} is already used (ids stay used, also after a void)",
    ),
    ("unknown_org", "unknown org unit {id}"),
    ("unknown_venue", "unknown venue {id}"),
    ("unknown_lecturer", "unknown lecturer {id}"),
    (
        "org_not_established",
        "org unit {id} was only established on {on}, after {date}",
    ),
    (
        "venue_not_opened",
        "venue {id} was only opened on {on}, after {date}",
    ),
    (
        "lecturer_not_enlisted",
        "lecturer {id} was only enlisted on {on}, after {date}",
    ),
    (
        "not_a_branch",
        "{id} is a {orgkind}; members belong to a grid_branch or party_group",
    ),
    ("unknown_member", "unknown member {id}"),
    ("not_enrolled", "member {id} is not enrolled on {date}"),
    (
        "registry_order",
        "{date} is before the member's latest registry event ({last}); a member's registry events are recorded in date order",
    ),
    ("unknown_wish", "unknown micro-wish {id}"),
    (
        "wish_fulfilled",
        "micro-wish {id} was fulfilled; nothing happens to it after that",
    ),
    (
        "wish_withdrawn",
        "micro-wish {id} was withdrawn; nothing happens to it after that",
    ),
    (
        "wish_order",
        "{date} is before the wish's previous step on {last}",
    ),
    (
        "wish_not_open",
        "the micro-wish must be open, but it is claimed by {by}",
    ),
    (
        "wish_not_claimed",
        "the micro-wish must be claimed, but it is open",
    ),
    (
        "not_the_claimer",
        "only the claimer {by} can release the micro-wish",
    ),
    ("in_both_lists", "member {id} is also in {field}"),
    ("own_buddy", "a member cannot be their own buddy"),
    ("self_contact", "a member cannot contact themselves"),
    (
        "parent_needed",
        "a {orgkind} needs a parent; only a subdistrict is a root",
    ),
    (
        "parent_rank",
        "a {orgkind} cannot sit under a {parent_orgkind} ({parent})",
    ),
    ("already_full", "member {id} is already a full member"),
    ("same_branch", "member {id} already belongs to {branch}"),
    (
        "activity_after_leaving",
        "member {id} takes part in an activity on {last}, on or after leaving on {on}; void those records first",
    ),
    ("already_mobile", "member {id} is already mobile"),
    ("not_mobile", "member {id} is not mobile"),
    (
        "buddy_not_mobile",
        "member {id} is not mobile; only mobile members get a buddy",
    ),
    ("role_held", "member {id} already holds {role} at {org}"),
    ("role_not_held", "member {id} does not hold {role} at {org}"),
    (
        "still_enrolled",
        "member {id} is enrolled; only a member who left can be re-enrolled",
    ),
    (
        "correction_empty",
        "a correction names at least one of name and birth_year",
    ),
    (
        "correction_unchanged",
        "the correction changes nothing: the member's details are already so",
    ),
    (
        "amendment_empty",
        "an amendment adds or removes at least one member",
    ),
    ("unknown_class", "unknown class {id}"),
    ("class_voided", "class {id} is voided"),
    ("already_attends", "member {id} already attends the class"),
    ("not_attending", "member {id} does not attend the class"),
    ("unknown_event", "no stored event has id {id}"),
    ("already_voided", "event {id} is already voided"),
    (
        "amended_class_voided",
        "the amendment's class {id} is voided",
    ),
    (
        "not_latest_amendment",
        "only a class's latest standing attendance amendment can be voided; void the later ones first",
    ),
    (
        "undo_brings_back",
        "undoing it would bring back member {id}, who is not enrolled on {date}",
    ),
    (
        "not_voidable_wish",
        "a {type} cannot be voided; micro-wish mistakes are corrected by a release",
    ),
    (
        "not_voidable_void",
        "a {type} cannot be voided; a void is final",
    ),
    (
        "not_voidable_list",
        "a {type} cannot be voided; issue a corrected study list",
    ),
    (
        "not_voidable_registry",
        "a {type} cannot be voided; registry mistakes are corrected by registry events",
    ),
];

impl ParseError {
    /// Its reason: what kind of parse error, and for a bad value, what its message (the value
    /// type's own, or serde's) says is wrong. The message is the reason's `detail`.
    pub fn reason(&self) -> Reason {
        let p = self.problem.as_str();
        let code = match self.kind {
            ParseErrorKind::UnknownType => "unknown_type",
            ParseErrorKind::UnknownField => "unknown_field",
            ParseErrorKind::MissingField => "missing_field",
            ParseErrorKind::BadValue => {
                if p.starts_with("an id ") {
                    "bad_id"
                } else if p.starts_with("must not be blank") {
                    "blank_text"
                } else if p.starts_with("must have at most") {
                    "text_too_long"
                } else if p.starts_with("study hours must be") {
                    "bad_hours"
                } else if p.starts_with("expected a date") {
                    "bad_date"
                } else if p.starts_with("expected an RFC 3339 timestamp") {
                    "bad_timestamp"
                } else if p.contains("appears more than once in the list") {
                    "repeated"
                } else if p.starts_with("must hold at least one element") {
                    "empty_list"
                } else if p.starts_with("unknown variant") {
                    "unknown_choice"
                } else if p.starts_with("invalid type") || p.starts_with("data must be") {
                    "wrong_type"
                } else {
                    "bad_value"
                }
            }
        };
        Reason::new(code).arg("detail", p)
    }

    /// This parse error as the rejection of event `index` of a batch (always `Invalid`).
    pub fn in_batch(self, index: usize) -> Rejection {
        Rejection {
            path: format!("events[{index}].{}", self.path),
            reason: self.reason(),
            problem: self.problem,
            kind: RejectionKind::Invalid,
        }
    }
}

impl State {
    /// Applies what [`State::decide`] accepted as if it were stored (its positions not known
    /// yet), so that the next batch of one group commit is judged after it. Apply it to a
    /// copy: the state itself folds the events, with their positions, from the log.
    pub fn accept(&mut self, decided: &[Decided]) {
        for d in decided.iter().filter(|d| !d.already_stored) {
            self.apply(&d.event, d.event_id);
        }
    }

    /// Judges a batch in order: each event sees the ones before it. All or nothing: either
    /// every event is accepted, or the rejections of all events are returned. Later events
    /// are judged as if the earlier ones had been accepted, so one mistake is reported once.
    /// `today` is the local date of the recording (events may be dated up to one day ahead).
    pub fn decide(
        &self,
        batch: Vec<Proposed>,
        today: Date,
    ) -> Result<Vec<Decided>, Vec<Rejection>> {
        let mut scratch = self.clone();
        let mut decided = Vec::with_capacity(batch.len());
        let mut rejections = Vec::new();
        for (index, Proposed { event, event_id }) in batch.into_iter().enumerate() {
            if let Some(id) = event_id
                && let Some(stored) = scratch.events.get(&id)
            {
                if stored.event == event {
                    decided.push(Decided {
                        stream: stored.stream.clone(),
                        occurred_at: event.own_occurred_at(scratch.tz),
                        event,
                        event_id,
                        already_stored: true,
                    });
                } else {
                    let reason = Reason::new("event_id_reused")
                        .arg("id", id)
                        .arg("type", stored.event.type_name());
                    rejections.push(Rejection {
                        path: format!("events[{index}].event_id"),
                        problem: reason.english(),
                        kind: RejectionKind::Conflict,
                        reason,
                    });
                }
                continue;
            }
            let found = Judge::new(&scratch, today, index).judge(&event);
            let stream = scratch.stream_of(&event);
            scratch.apply(&event, event_id);
            match stream {
                Some(stream) if found.is_empty() => decided.push(Decided {
                    stream,
                    occurred_at: event.own_occurred_at(scratch.tz),
                    event,
                    event_id,
                    already_stored: false,
                }),
                _ => rejections.extend(found),
            }
        }
        if rejections.is_empty() {
            Ok(decided)
        } else {
            Err(rejections)
        }
    }
}

/// Judges one event, collecting every problem found.
struct Judge<'s> {
    state: &'s State,
    today: Date,
    index: usize,
    found: Vec<Rejection>,
}

impl<'s> Judge<'s> {
    fn new(state: &'s State, today: Date, index: usize) -> Self {
        Judge {
            state,
            today,
            index,
            found: Vec::new(),
        }
    }

    fn reject(&mut self, kind: RejectionKind, field: &str, reason: Reason) {
        self.found.push(Rejection {
            path: format!("events[{}].data.{field}", self.index),
            problem: reason.english(),
            kind,
            reason,
        });
    }

    fn invalid(&mut self, field: &str, reason: Reason) {
        self.reject(RejectionKind::Invalid, field, reason);
    }

    fn conflict(&mut self, field: &str, reason: Reason) {
        self.reject(RejectionKind::Conflict, field, reason);
    }

    /// No date may lie beyond local tomorrow (clients a little ahead of the server's clock,
    /// or recording in the evening for an event the next morning, still pass).
    fn not_ahead(&mut self, field: &str, date: Date) {
        let limit = self.today.next_day();
        if date > limit {
            self.invalid(
                field,
                Reason::new("future_date")
                    .arg("date", date)
                    .arg("limit", limit),
            );
        }
    }

    /// [`Self::not_ahead`] for a timestamp, returning its local date.
    fn local_date(&mut self, field: &str, at: Timestamp) -> Date {
        let date = local_date(at, self.state.tz);
        self.not_ahead(field, date);
        date
    }

    fn positive_hours(&mut self, hours: StudyHours) {
        if hours.is_zero() {
            self.invalid("study_hours", Reason::new("zero_hours"));
        }
    }

    fn birth_year(&mut self, year: Option<u16>) {
        let latest = self.today.year();
        if let Some(year) = year
            && !(1900..=latest).contains(&i32::from(year))
        {
            self.invalid(
                "birth_year",
                Reason::new("birth_year_range").arg("latest", latest),
            );
        }
    }

    fn fresh_id(&mut self, event: &Event) {
        if let Some((kind, id, field)) = created_id(event)
            && self.state.is_id_used(kind, id)
        {
            self.conflict(
                field,
                Reason::new("id_used")
                    .arg("what", kind.label())
                    .arg("id", id),
            );
        }
    }

    /// A reference that must exist (else `unknown`) and have started on or before `date`
    /// (else `late`).
    fn dated_ref(
        &mut self,
        field: &str,
        (unknown, late): (&'static str, &'static str),
        id: &Id,
        started: Option<Date>,
        date: Date,
    ) {
        match started {
            None => self.conflict(field, Reason::new(unknown).arg("id", id)),
            Some(on) if on > date => {
                self.conflict(
                    field,
                    Reason::new(late)
                        .arg("id", id)
                        .arg("on", on)
                        .arg("date", date),
                );
            }
            Some(_) => {}
        }
    }

    fn org_by(&mut self, field: &str, id: &Id, date: Date) -> Option<&'s OrgUnit> {
        let org = self.state.org_units.get(id);
        self.dated_ref(
            field,
            ("unknown_org", "org_not_established"),
            id,
            org.map(|o| o.established_on),
            date,
        );
        org.filter(|o| o.established_on <= date)
    }

    /// An org unit members can belong to, existing on `date`.
    fn branch_by(&mut self, field: &str, id: &Id, date: Date) {
        if let Some(org) = self.org_by(field, id, date)
            && !org.kind.holds_members()
        {
            self.conflict(
                field,
                Reason::new("not_a_branch")
                    .arg("id", id)
                    .arg("orgkind", org.kind),
            );
        }
    }

    fn venue_by(&mut self, field: &str, id: Option<&Id>, date: Date) {
        if let Some(id) = id {
            let opened = self.state.venues.get(id).copied();
            self.dated_ref(
                field,
                ("unknown_venue", "venue_not_opened"),
                id,
                opened,
                date,
            );
        }
    }

    fn enrolled(&mut self, field: &str, id: &Id, date: Date) -> Option<&'s Member> {
        let Some(member) = self.state.members.get(id) else {
            self.conflict(field, Reason::new("unknown_member").arg("id", id));
            return None;
        };
        if !member.enrolled_on(date) {
            self.conflict(
                field,
                Reason::new("not_enrolled").arg("id", id).arg("date", date),
            );
        }
        Some(member)
    }

    fn all_enrolled<'a>(&mut self, field: &str, ids: impl IntoIterator<Item = &'a Id>, date: Date) {
        for (i, id) in ids.into_iter().enumerate() {
            self.enrolled(&format!("{field}[{i}]"), id, date);
        }
    }

    /// A registry event of an existing member, dated no earlier than the member's latest one.
    fn registry(&mut self, id: &Id, date_field: &str, date: Date) -> Option<&'s Member> {
        self.not_ahead(date_field, date);
        let Some(member) = self.state.members.get(id) else {
            self.conflict("member_id", Reason::new("unknown_member").arg("id", id));
            return None;
        };
        if date < member.last_registry_on {
            self.conflict(
                date_field,
                Reason::new("registry_order")
                    .arg("date", date)
                    .arg("last", member.last_registry_on),
            );
        }
        Some(member)
    }

    /// [`Self::registry`] for a member who must be enrolled on the event's date.
    fn enrolled_registry(&mut self, id: &Id, date_field: &str, date: Date) -> Option<&'s Member> {
        self.registry(id, date_field, date)?;
        self.enrolled("member_id", id, date)
    }

    /// A wish that is neither fulfilled nor withdrawn, with `date` not before its last step.
    fn live_wish(&mut self, id: &Id, date_field: &str, date: Date) -> Option<&'s Wish> {
        self.not_ahead(date_field, date);
        let Some(wish) = self.state.wishes.get(id) else {
            self.conflict("wish_id", Reason::new("unknown_wish").arg("id", id));
            return None;
        };
        let closed = match wish.status {
            WishStatus::Fulfilled => Some("wish_fulfilled"),
            WishStatus::Withdrawn => Some("wish_withdrawn"),
            _ => None,
        };
        if let Some(closed) = closed {
            self.conflict("wish_id", Reason::new(closed).arg("id", id));
            return None;
        }
        if date < wish.last_on {
            self.conflict(
                date_field,
                Reason::new("wish_order")
                    .arg("date", date)
                    .arg("last", wish.last_on),
            );
        }
        Some(wish)
    }

    /// Refuses the step unless `ok`: the wish is claimed where it must be open, or open
    /// where it must be claimed (a closed wish was refused before).
    fn wish_status(&mut self, wish: &Wish, ok: bool) {
        if !ok {
            let reason = match &wish.status {
                WishStatus::Claimed { by } => Reason::new("wish_not_open").arg("by", by),
                _ => Reason::new("wish_not_claimed"),
            };
            self.conflict("wish_id", reason);
        }
    }

    /// Refuses a member named in both lists; the path names the entry in `second`.
    fn disjoint(&mut self, first_field: &str, first: &[Id], second_field: &str, second: &[Id]) {
        for (i, id) in second.iter().enumerate() {
            if first.contains(id) {
                self.invalid(
                    &format!("{second_field}[{i}]"),
                    Reason::new("in_both_lists")
                        .arg("id", id)
                        .arg("field", first_field),
                );
            }
        }
    }

    fn not_same(&mut self, field: &str, a: &Id, b: &Id, code: &'static str) {
        if a == b {
            self.invalid(field, Reason::new(code));
        }
    }

    fn judge(mut self, event: &Event) -> Vec<Rejection> {
        self.fresh_id(event);
        self.judge_rules(event);
        self.found
    }

    fn judge_rules(&mut self, event: &Event) {
        use Event::*;
        match event {
            OrgUnitEstablished(e) => {
                self.not_ahead("established_on", e.established_on);
                match (&e.parent_id, e.kind) {
                    (None, OrgKind::Subdistrict) => {}
                    (None, kind) => self.invalid(
                        "parent_id",
                        Reason::new("parent_needed").arg("orgkind", kind),
                    ),
                    (Some(parent_id), kind) => {
                        if let Some(parent) = self.org_by("parent_id", parent_id, e.established_on)
                            && parent.kind.rank() >= kind.rank()
                        {
                            self.conflict(
                                "parent_id",
                                Reason::new("parent_rank")
                                    .arg("orgkind", kind)
                                    .arg("parent_orgkind", parent.kind)
                                    .arg("parent", parent_id),
                            );
                        }
                    }
                }
            }
            MemberEnrolled(e) => {
                self.not_ahead("enrolled_on", e.enrolled_on);
                self.not_ahead("joined_on", e.joined_on);
                self.birth_year(e.birth_year);
                self.branch_by("branch_id", &e.branch_id, e.enrolled_on);
            }
            MemberBecameFull(e) => {
                if let Some(member) = self.enrolled_registry(&e.member_id, "on", e.on)
                    && member.membership == Membership::Full
                {
                    self.conflict(
                        "member_id",
                        Reason::new("already_full").arg("id", &e.member_id),
                    );
                }
            }
            MemberTransferred(e) => {
                if let Some(member) = self.enrolled_registry(&e.member_id, "on", e.on)
                    && member.branch == e.to_branch_id
                {
                    self.conflict(
                        "to_branch_id",
                        Reason::new("same_branch")
                            .arg("id", &e.member_id)
                            .arg("branch", &e.to_branch_id),
                    );
                }
                self.branch_by("to_branch_id", &e.to_branch_id, e.on);
            }
            MemberLeft(e) => {
                if let Some(member) = self.enrolled_registry(&e.member_id, "on", e.on)
                    && let Some(last) = member.last_activity_on().filter(|&last| last >= e.on)
                {
                    self.conflict(
                        "on",
                        Reason::new("activity_after_leaving")
                            .arg("id", &e.member_id)
                            .arg("last", last)
                            .arg("on", e.on),
                    );
                }
            }
            MemberCareStatusChanged(e) => {
                self.enrolled_registry(&e.member_id, "on", e.on);
            }
            MemberWentMobile(e) => {
                if let Some(member) = self.enrolled_registry(&e.member_id, "since", e.since)
                    && member.mobile
                {
                    self.conflict(
                        "member_id",
                        Reason::new("already_mobile").arg("id", &e.member_id),
                    );
                }
            }
            MemberReturned(e) => {
                if let Some(member) = self.enrolled_registry(&e.member_id, "on", e.on)
                    && !member.mobile
                {
                    self.conflict(
                        "member_id",
                        Reason::new("not_mobile").arg("id", &e.member_id),
                    );
                }
            }
            BuddyAssigned(e) => {
                self.not_same("buddy_id", &e.buddy_id, &e.member_id, "own_buddy");
                if let Some(member) = self.enrolled_registry(&e.member_id, "since", e.since)
                    && !member.mobile
                {
                    self.conflict(
                        "member_id",
                        Reason::new("buddy_not_mobile").arg("id", &e.member_id),
                    );
                }
                self.enrolled("buddy_id", &e.buddy_id, e.since);
            }
            RoleAssigned(e) => {
                if let Some(member) = self.enrolled_registry(&e.member_id, "on", e.on)
                    && member.roles.contains(&(e.role, e.org_id.clone()))
                {
                    self.conflict(
                        "role",
                        Reason::new("role_held")
                            .arg("id", &e.member_id)
                            .arg("role", e.role)
                            .arg("org", &e.org_id),
                    );
                }
                self.org_by("org_id", &e.org_id, e.on);
            }
            RoleEnded(e) => {
                if let Some(member) = self.registry(&e.member_id, "on", e.on)
                    && !member.roles.contains(&(e.role, e.org_id.clone()))
                {
                    self.conflict(
                        "role",
                        Reason::new("role_not_held")
                            .arg("id", &e.member_id)
                            .arg("role", e.role)
                            .arg("org", &e.org_id),
                    );
                }
            }
            VenueOpened(e) => {
                self.not_ahead("opened_on", e.opened_on);
                self.org_by("org_id", &e.org_id, e.opened_on);
            }
            LecturerEnlisted(e) => {
                self.not_ahead("enlisted_on", e.enlisted_on);
                if let Some(member_id) = &e.member_id {
                    self.enrolled("member_id", member_id, e.enlisted_on);
                }
            }
            OrgUnitRenamed(e) => {
                self.not_ahead("on", e.on);
                self.org_by("org_id", &e.org_id, e.on);
            }
            MemberDetailsCorrected(e) => self.judge_correction(e),
            MemberReenrolled(e) => {
                if let Some(member) = self.registry(&e.member_id, "on", e.on)
                    && member.is_enrolled()
                {
                    self.conflict(
                        "member_id",
                        Reason::new("still_enrolled").arg("id", &e.member_id),
                    );
                }
                self.branch_by("branch_id", &e.branch_id, e.on);
            }
            ClassHeld(e) => {
                let date = self.local_date("starts_at", e.starts_at);
                self.positive_hours(e.study_hours);
                self.org_by("organizer_org_id", &e.organizer_org_id, date);
                self.venue_by("venue_id", e.venue_id.as_ref(), date);
                for (i, id) in e.lecturer_ids.iter().enumerate() {
                    let enlisted = self.state.lecturers.get(id).copied();
                    self.dated_ref(
                        &format!("lecturer_ids[{i}]"),
                        ("unknown_lecturer", "lecturer_not_enlisted"),
                        id,
                        enlisted,
                        date,
                    );
                }
                self.all_enrolled("attendee_ids", &e.attendee_ids, date);
            }
            AttendanceAmended(e) => self.judge_amendment(e),
            PartyLectureGiven(e) => {
                let date = self.local_date("given_at", e.given_at);
                self.positive_hours(e.study_hours);
                self.enrolled("speaker_id", &e.speaker_id, date);
                self.org_by("audience_org_id", &e.audience_org_id, date);
                self.venue_by("venue_id", e.venue_id.as_ref(), date);
                self.all_enrolled("attendee_ids", &e.attendee_ids, date);
            }
            HomeVisitMade(e) => {
                self.not_ahead("visited_on", e.visited_on);
                self.disjoint(
                    "member_id",
                    std::slice::from_ref(&e.member_id),
                    "visitor_ids",
                    &e.visitor_ids,
                );
                self.enrolled("member_id", &e.member_id, e.visited_on);
                self.all_enrolled("visitor_ids", &e.visitor_ids, e.visited_on);
            }
            OnlineStudyLogged(e) => {
                self.not_ahead("studied_on", e.studied_on);
                self.enrolled("member_id", &e.member_id, e.studied_on);
            }
            MobileMemberContacted(e) => {
                self.not_ahead("contacted_on", e.contacted_on);
                self.not_same(
                    "contacted_by",
                    &e.contacted_by,
                    &e.member_id,
                    "self_contact",
                );
                self.enrolled("member_id", &e.member_id, e.contacted_on);
                self.enrolled("contacted_by", &e.contacted_by, e.contacted_on);
            }
            OrgLifeMeetingHeld(e) => {
                self.not_ahead("held_on", e.held_on);
                self.disjoint(
                    "attendee_ids",
                    &e.attendee_ids,
                    "excused_ids",
                    &e.excused_ids,
                );
                self.org_by("branch_id", &e.branch_id, e.held_on);
                self.all_enrolled("attendee_ids", &e.attendee_ids, e.held_on);
                self.all_enrolled("excused_ids", &e.excused_ids, e.held_on);
            }
            StudyListIssued(e) => self.not_ahead("issued_on", e.issued_on),
            MicroWishPosted(e) => {
                self.not_ahead("posted_on", e.posted_on);
                self.org_by("grid_id", &e.grid_id, e.posted_on);
            }
            MicroWishClaimed(e) => {
                if let Some(wish) = self.live_wish(&e.wish_id, "claimed_on", e.claimed_on) {
                    self.wish_status(wish, wish.status == WishStatus::Open);
                }
                self.enrolled("member_id", &e.member_id, e.claimed_on);
            }
            MicroWishReleased(e) => {
                if let Some(wish) = self.live_wish(&e.wish_id, "released_on", e.released_on) {
                    match &wish.status {
                        WishStatus::Claimed { by } if *by != e.member_id => {
                            self.conflict("member_id", Reason::new("not_the_claimer").arg("by", by))
                        }
                        status => {
                            self.wish_status(wish, matches!(status, WishStatus::Claimed { .. }))
                        }
                    }
                }
            }
            MicroWishFulfilled(e) => {
                if let Some(wish) = self.live_wish(&e.wish_id, "fulfilled_on", e.fulfilled_on) {
                    self.wish_status(wish, matches!(wish.status, WishStatus::Claimed { .. }));
                }
            }
            MicroWishWithdrawn(e) => {
                if let Some(wish) = self.live_wish(&e.wish_id, "withdrawn_on", e.withdrawn_on) {
                    self.wish_status(wish, wish.status == WishStatus::Open);
                }
            }
            RecordVoided(e) => self.judge_void(e.event_id),
        }
    }

    fn judge_correction(&mut self, e: &crate::events::MemberDetailsCorrected) {
        if e.name.is_none() && e.birth_year.is_none() {
            self.invalid("name", Reason::new("correction_empty"));
            return;
        }
        self.birth_year(e.birth_year);
        let Some(member) = self.state.members.get(&e.member_id) else {
            self.conflict(
                "member_id",
                Reason::new("unknown_member").arg("id", &e.member_id),
            );
            return;
        };
        let changes_name = e.name.as_ref().is_some_and(|name| *name != member.name);
        let changes_year = e
            .birth_year
            .is_some_and(|year| Some(year) != member.birth_year);
        if !changes_name && !changes_year {
            let field = if e.name.is_some() {
                "name"
            } else {
                "birth_year"
            };
            self.conflict(field, Reason::new("correction_unchanged"));
        }
    }

    fn judge_amendment(&mut self, e: &crate::events::AttendanceAmended) {
        if e.added.is_empty() && e.removed.is_empty() {
            self.invalid("added", Reason::new("amendment_empty"));
        }
        self.disjoint("added", &e.added, "removed", &e.removed);
        let Some(class) = self.state.classes.get(&e.class_id) else {
            self.conflict(
                "class_id",
                Reason::new("unknown_class").arg("id", &e.class_id),
            );
            return;
        };
        if class.voided {
            self.conflict(
                "class_id",
                Reason::new("class_voided").arg("id", &e.class_id),
            );
            return;
        }
        for (i, id) in e.added.iter().enumerate() {
            let field = format!("added[{i}]");
            if class.attendees.contains(id) {
                self.conflict(&field, Reason::new("already_attends").arg("id", id));
            } else {
                self.enrolled(&field, id, class.date);
            }
        }
        for (i, id) in e.removed.iter().enumerate() {
            if !class.attendees.contains(id) {
                self.conflict(
                    &format!("removed[{i}]"),
                    Reason::new("not_attending").arg("id", id),
                );
            }
        }
    }

    fn judge_void(&mut self, target: Uuid) {
        let Some(fact) = self.state.events.get(&target) else {
            self.conflict("event_id", Reason::new("unknown_event").arg("id", target));
            return;
        };
        if fact.voided {
            self.conflict("event_id", Reason::new("already_voided").arg("id", target));
            return;
        }
        match &fact.event {
            Event::ClassHeld(_)
            | Event::PartyLectureGiven(_)
            | Event::HomeVisitMade(_)
            | Event::OnlineStudyLogged(_)
            | Event::MobileMemberContacted(_)
            | Event::OrgLifeMeetingHeld(_) => {}
            Event::AttendanceAmended(amendment) => {
                let Some(class) = self.state.classes.get(&amendment.class_id) else {
                    return;
                };
                if class.voided {
                    self.conflict(
                        "event_id",
                        Reason::new("amended_class_voided").arg("id", &amendment.class_id),
                    );
                } else if class.amendments.last() != Some(&Some(target)) {
                    self.conflict("event_id", Reason::new("not_latest_amendment"));
                } else {
                    // Undoing the amendment brings the removed members back to the class.
                    for id in &amendment.removed {
                        if self
                            .state
                            .members
                            .get(id)
                            .is_some_and(|m| !m.enrolled_on(class.date))
                        {
                            self.conflict(
                                "event_id",
                                Reason::new("undo_brings_back")
                                    .arg("id", id)
                                    .arg("date", class.date),
                            );
                        }
                    }
                }
            }
            other => self.conflict(
                "event_id",
                Reason::new(void_alternative(other)).arg("type", other.type_name()),
            ),
        }
    }
}

/// The refusal of a void of `event`, which says how it is corrected instead.
fn void_alternative(event: &Event) -> &'static str {
    match event {
        Event::MicroWishPosted(_)
        | Event::MicroWishClaimed(_)
        | Event::MicroWishReleased(_)
        | Event::MicroWishFulfilled(_)
        | Event::MicroWishWithdrawn(_) => "not_voidable_wish",
        Event::RecordVoided(_) => "not_voidable_void",
        Event::StudyListIssued(_) => "not_voidable_list",
        _ => "not_voidable_registry",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes_are_unique_and_worded() {
        let mut codes: Vec<&str> = REASONS.iter().map(|(c, _)| *c).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), REASONS.len(), "a code appears twice");
        assert!(REASONS.iter().all(|(_, t)| !t.trim().is_empty()));
    }

    #[test]
    fn wording_fills_each_value_once() {
        let reason = Reason::new("not_enrolled")
            .arg("id", "M{date}")
            .arg("date", "2024-03-05");
        assert_eq!(
            reason.english(),
            "member M{date} is not enrolled on 2024-03-05"
        );
        assert_eq!(
            fill("{a} {b} {", |n| (n == "a").then(|| "x".into())),
            "x {b} {"
        );
    }
}
