//! Judging a batch of proposed events against the state (`decide` of the decider shape): every
//! validation rule of CONTRACT §2. A rejection names the field (`events[2].data.study_hours`),
//! the problem, and whether it was judged from the request alone (`Invalid`, HTTP 400) or
//! against stored state (`Conflict`, HTTP 409).

use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use uuid::Uuid;

use crate::events::{Event, ParseError};
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
    pub problem: String,
    pub kind: RejectionKind,
}

impl ParseError {
    /// This parse error as the rejection of event `index` of a batch (always `Invalid`).
    pub fn in_batch(self, index: usize) -> Rejection {
        Rejection {
            path: format!("events[{index}].{}", self.path),
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
                    rejections.push(Rejection {
                        path: format!("events[{index}].event_id"),
                        problem: format!(
                            "event id {id} is already stored with other content ({})",
                            stored.event.type_name()
                        ),
                        kind: RejectionKind::Conflict,
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

    fn reject(&mut self, kind: RejectionKind, field: &str, problem: impl Into<String>) {
        self.found.push(Rejection {
            path: format!("events[{}].data.{field}", self.index),
            problem: problem.into(),
            kind,
        });
    }

    fn invalid(&mut self, field: &str, problem: impl Into<String>) {
        self.reject(RejectionKind::Invalid, field, problem);
    }

    fn conflict(&mut self, field: &str, problem: impl Into<String>) {
        self.reject(RejectionKind::Conflict, field, problem);
    }

    /// No date may lie beyond local tomorrow (clients a little ahead of the server's clock,
    /// or recording in the evening for an event the next morning, still pass).
    fn not_ahead(&mut self, field: &str, date: Date) {
        let limit = self.today.next_day();
        if date > limit {
            self.invalid(
                field,
                format!(
                    "{date} is later than tomorrow ({limit}); future events cannot be recorded"
                ),
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
            self.invalid(
                "study_hours",
                "must be more than 0 for classes and lectures",
            );
        }
    }

    fn birth_year(&mut self, year: Option<u16>) {
        let latest = self.today.year();
        if let Some(year) = year
            && !(1900..=latest).contains(&i32::from(year))
        {
            self.invalid("birth_year", format!("must lie between 1900 and {latest}"));
        }
    }

    fn fresh_id(&mut self, event: &Event) {
        if let Some((kind, id, field)) = created_id(event)
            && self.state.is_id_used(kind, id)
        {
            self.conflict(
                field,
                format!(
                    "{} id {id} is already used (ids stay used, also after a void)",
                    kind.label()
                ),
            );
        }
    }

    /// A reference that must exist and have started (`verb`) on or before `date`.
    fn dated_ref(
        &mut self,
        field: &str,
        what: &str,
        id: &Id,
        started: Option<Date>,
        date: Date,
        verb: &str,
    ) {
        match started {
            None => self.conflict(field, format!("unknown {what} {id}")),
            Some(on) if on > date => {
                self.conflict(
                    field,
                    format!("{what} {id} was only {verb} on {on}, after {date}"),
                );
            }
            Some(_) => {}
        }
    }

    fn org_by(&mut self, field: &str, id: &Id, date: Date) -> Option<&'s OrgUnit> {
        let org = self.state.org_units.get(id);
        self.dated_ref(
            field,
            "org unit",
            id,
            org.map(|o| o.established_on),
            date,
            "established",
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
                format!(
                    "{id} is a {}; members belong to a grid_branch or party_group",
                    org.kind
                ),
            );
        }
    }

    fn venue_by(&mut self, field: &str, id: Option<&Id>, date: Date) {
        if let Some(id) = id {
            let opened = self.state.venues.get(id).copied();
            self.dated_ref(field, "venue", id, opened, date, "opened");
        }
    }

    fn enrolled(&mut self, field: &str, id: &Id, date: Date) -> Option<&'s Member> {
        let Some(member) = self.state.members.get(id) else {
            self.conflict(field, format!("unknown member {id}"));
            return None;
        };
        if !member.enrolled_on(date) {
            self.conflict(field, format!("member {id} is not enrolled on {date}"));
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
            self.conflict("member_id", format!("unknown member {id}"));
            return None;
        };
        if date < member.last_registry_on {
            self.conflict(
                date_field,
                format!(
                    "{date} is before the member's latest registry event ({}); a member's registry events are recorded in date order",
                    member.last_registry_on
                ),
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
            self.conflict("wish_id", format!("unknown micro-wish {id}"));
            return None;
        };
        let closed = match wish.status {
            WishStatus::Fulfilled => Some("fulfilled"),
            WishStatus::Withdrawn => Some("withdrawn"),
            _ => None,
        };
        if let Some(closed) = closed {
            self.conflict(
                "wish_id",
                format!("micro-wish {id} was {closed}; nothing happens to it after that"),
            );
            return None;
        }
        if date < wish.last_on {
            self.conflict(
                date_field,
                format!(
                    "{date} is before the wish's previous step on {}",
                    wish.last_on
                ),
            );
        }
        Some(wish)
    }

    fn wish_status(&mut self, wish: &Wish, wanted: &str, ok: bool) {
        if !ok {
            let now = match &wish.status {
                WishStatus::Claimed { by } => format!("claimed by {by}"),
                _ => "open".to_owned(),
            };
            self.conflict(
                "wish_id",
                format!("the micro-wish must be {wanted}, but it is {now}"),
            );
        }
    }

    /// Refuses a member named in both lists; the path names the entry in `second`.
    fn disjoint(&mut self, first_field: &str, first: &[Id], second_field: &str, second: &[Id]) {
        for (i, id) in second.iter().enumerate() {
            if first.contains(id) {
                self.invalid(
                    &format!("{second_field}[{i}]"),
                    format!("member {id} is also in {first_field}"),
                );
            }
        }
    }

    fn not_same(&mut self, field: &str, a: &Id, b: &Id, problem: &str) {
        if a == b {
            self.invalid(field, problem);
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
                        format!("a {kind} needs a parent; only a subdistrict is a root"),
                    ),
                    (Some(parent_id), kind) => {
                        if let Some(parent) = self.org_by("parent_id", parent_id, e.established_on)
                            && parent.kind.rank() >= kind.rank()
                        {
                            self.conflict(
                                "parent_id",
                                format!(
                                    "a {kind} cannot sit under a {} ({parent_id})",
                                    parent.kind
                                ),
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
                        format!("member {} is already a full member", e.member_id),
                    );
                }
            }
            MemberTransferred(e) => {
                if let Some(member) = self.enrolled_registry(&e.member_id, "on", e.on)
                    && member.branch == e.to_branch_id
                {
                    self.conflict(
                        "to_branch_id",
                        format!(
                            "member {} already belongs to {}",
                            e.member_id, e.to_branch_id
                        ),
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
                        format!(
                            "member {} takes part in an activity on {last}, on or after leaving on {}; void those records first",
                            e.member_id, e.on
                        ),
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
                        format!("member {} is already mobile", e.member_id),
                    );
                }
            }
            MemberReturned(e) => {
                if let Some(member) = self.enrolled_registry(&e.member_id, "on", e.on)
                    && !member.mobile
                {
                    self.conflict("member_id", format!("member {} is not mobile", e.member_id));
                }
            }
            BuddyAssigned(e) => {
                self.not_same(
                    "buddy_id",
                    &e.buddy_id,
                    &e.member_id,
                    "a member cannot be their own buddy",
                );
                if let Some(member) = self.enrolled_registry(&e.member_id, "since", e.since)
                    && !member.mobile
                {
                    self.conflict(
                        "member_id",
                        format!(
                            "member {} is not mobile; only mobile members get a buddy",
                            e.member_id
                        ),
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
                        format!(
                            "member {} already holds {} at {}",
                            e.member_id, e.role, e.org_id
                        ),
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
                        format!(
                            "member {} does not hold {} at {}",
                            e.member_id, e.role, e.org_id
                        ),
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
                        format!(
                            "member {} is enrolled; only a member who left can be re-enrolled",
                            e.member_id
                        ),
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
                        "lecturer",
                        id,
                        enlisted,
                        date,
                        "enlisted",
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
                    "a member cannot contact themselves",
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
                    self.wish_status(wish, "open", wish.status == WishStatus::Open);
                }
                self.enrolled("member_id", &e.member_id, e.claimed_on);
            }
            MicroWishReleased(e) => {
                if let Some(wish) = self.live_wish(&e.wish_id, "released_on", e.released_on) {
                    match &wish.status {
                        WishStatus::Claimed { by } if *by != e.member_id => self.conflict(
                            "member_id",
                            format!("only the claimer {by} can release the micro-wish"),
                        ),
                        status => self.wish_status(
                            wish,
                            "claimed",
                            matches!(status, WishStatus::Claimed { .. }),
                        ),
                    }
                }
            }
            MicroWishFulfilled(e) => {
                if let Some(wish) = self.live_wish(&e.wish_id, "fulfilled_on", e.fulfilled_on) {
                    self.wish_status(
                        wish,
                        "claimed",
                        matches!(wish.status, WishStatus::Claimed { .. }),
                    );
                }
            }
            MicroWishWithdrawn(e) => {
                if let Some(wish) = self.live_wish(&e.wish_id, "withdrawn_on", e.withdrawn_on) {
                    self.wish_status(wish, "open", wish.status == WishStatus::Open);
                }
            }
            RecordVoided(e) => self.judge_void(e.event_id),
        }
    }

    fn judge_correction(&mut self, e: &crate::events::MemberDetailsCorrected) {
        if e.name.is_none() && e.birth_year.is_none() {
            self.invalid(
                "name",
                "a correction names at least one of name and birth_year",
            );
            return;
        }
        self.birth_year(e.birth_year);
        let Some(member) = self.state.members.get(&e.member_id) else {
            self.conflict("member_id", format!("unknown member {}", e.member_id));
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
            self.conflict(
                field,
                "the correction changes nothing: the member's details are already so",
            );
        }
    }

    fn judge_amendment(&mut self, e: &crate::events::AttendanceAmended) {
        if e.added.is_empty() && e.removed.is_empty() {
            self.invalid("added", "an amendment adds or removes at least one member");
        }
        self.disjoint("added", &e.added, "removed", &e.removed);
        let Some(class) = self.state.classes.get(&e.class_id) else {
            self.conflict("class_id", format!("unknown class {}", e.class_id));
            return;
        };
        if class.voided {
            self.conflict("class_id", format!("class {} is voided", e.class_id));
            return;
        }
        for (i, id) in e.added.iter().enumerate() {
            let field = format!("added[{i}]");
            if class.attendees.contains(id) {
                self.conflict(&field, format!("member {id} already attends the class"));
            } else {
                self.enrolled(&field, id, class.date);
            }
        }
        for (i, id) in e.removed.iter().enumerate() {
            if !class.attendees.contains(id) {
                self.conflict(
                    &format!("removed[{i}]"),
                    format!("member {id} does not attend the class"),
                );
            }
        }
    }

    fn judge_void(&mut self, target: Uuid) {
        let Some(fact) = self.state.events.get(&target) else {
            self.conflict("event_id", format!("no stored event has id {target}"));
            return;
        };
        if fact.voided {
            self.conflict("event_id", format!("event {target} is already voided"));
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
                        format!("the amendment's class {} is voided", amendment.class_id),
                    );
                } else if class.amendments.last() != Some(&Some(target)) {
                    self.conflict(
                        "event_id",
                        "only a class's latest standing attendance amendment can be voided; void the later ones first",
                    );
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
                                format!("undoing it would bring back member {id}, who is not enrolled on {}", class.date),
                            );
                        }
                    }
                }
            }
            other => self.conflict(
                "event_id",
                format!(
                    "a {} cannot be voided; {}",
                    other.type_name(),
                    void_alternative(other)
                ),
            ),
        }
    }
}

/// How a record that cannot be voided is corrected instead.
fn void_alternative(event: &Event) -> &'static str {
    match event {
        Event::MicroWishPosted(_)
        | Event::MicroWishClaimed(_)
        | Event::MicroWishReleased(_)
        | Event::MicroWishFulfilled(_)
        | Event::MicroWishWithdrawn(_) => "micro-wish mistakes are corrected by a release",
        Event::RecordVoided(_) => "a void is final",
        Event::StudyListIssued(_) => "issue a corrected study list",
        _ => "registry mistakes are corrected by registry events",
    }
}
