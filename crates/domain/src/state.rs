//! The facts needed to judge new events, folded from the log (`evolve` of the decider shape):
//! the registry (org units, members and their enrolment intervals, venues, lecturers), the
//! activities that later events refer to (classes and their attendance, wishes), every id used
//! per kind, and every stored event id with its stream and voided flag.

// Persistent maps: `decide` judges a batch on a copy of the state, and these copy in O(1)
// (structure is shared until written), so a request does not pay for the size of the log.
use imbl::{HashMap, HashSet};
use std::collections::{BTreeMap, BTreeSet};

use chrono_tz::Tz;
use uuid::Uuid;

use crate::events::{Event, StreamRef};
use crate::kinds::{Membership, OrgKind, Role};
use crate::values::{Date, Id, Text};

/// One event as stored in the log, for [`State::evolve`].
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFact {
    pub event_id: Uuid,
    pub position: i64,
    pub event: Event,
}

/// The kinds of client-chosen ids. An id once used for its kind stays used, also after a void.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdKind {
    OrgUnit,
    Member,
    Venue,
    Lecturer,
    Class,
    Lecture,
    Visit,
    OnlineStudyLog,
    Contact,
    Meeting,
    StudyList,
    Wish,
}

impl IdKind {
    pub fn label(self) -> &'static str {
        match self {
            IdKind::OrgUnit => "org unit",
            IdKind::Member => "member",
            IdKind::Venue => "venue",
            IdKind::Lecturer => "lecturer",
            IdKind::Class => "class",
            IdKind::Lecture => "party lecture",
            IdKind::Visit => "home visit",
            IdKind::OnlineStudyLog => "online study log",
            IdKind::Contact => "mobile member contact",
            IdKind::Meeting => "meeting",
            IdKind::StudyList => "study list",
            IdKind::Wish => "micro-wish",
        }
    }
}

/// The id an event creates, its kind, and the data field that holds it.
pub(crate) fn created_id(event: &Event) -> Option<(IdKind, &Id, &'static str)> {
    use Event::*;
    Some(match event {
        OrgUnitEstablished(e) => (IdKind::OrgUnit, &e.org_id, "org_id"),
        MemberEnrolled(e) => (IdKind::Member, &e.member_id, "member_id"),
        VenueOpened(e) => (IdKind::Venue, &e.venue_id, "venue_id"),
        LecturerEnlisted(e) => (IdKind::Lecturer, &e.lecturer_id, "lecturer_id"),
        ClassHeld(e) => (IdKind::Class, &e.class_id, "class_id"),
        PartyLectureGiven(e) => (IdKind::Lecture, &e.lecture_id, "lecture_id"),
        HomeVisitMade(e) => (IdKind::Visit, &e.visit_id, "visit_id"),
        OnlineStudyLogged(e) => (IdKind::OnlineStudyLog, &e.log_id, "log_id"),
        MobileMemberContacted(e) => (IdKind::Contact, &e.contact_id, "contact_id"),
        OrgLifeMeetingHeld(e) => (IdKind::Meeting, &e.meeting_id, "meeting_id"),
        StudyListIssued(e) => (IdKind::StudyList, &e.list_id, "list_id"),
        MicroWishPosted(e) => (IdKind::Wish, &e.wish_id, "wish_id"),
        _ => return None,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgUnit {
    pub kind: OrgKind,
    pub parent: Option<Id>,
    pub established_on: Date,
}

/// `[from, until)`: enrolled from `from`, gone on `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enrolment {
    pub from: Date,
    pub until: Option<Date>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: Text,
    pub birth_year: Option<u16>,
    /// The branch of the latest registry event.
    pub branch: Id,
    pub membership: Membership,
    pub enrolments: Vec<Enrolment>,
    pub mobile: bool,
    pub buddy: Option<Id>,
    /// Roles held now, with the org unit they are held at.
    pub roles: BTreeSet<(Role, Id)>,
    /// The date of the latest registry event; new ones may not be dated earlier.
    pub last_registry_on: Date,
    /// How many non-voided activities the member takes part in, per date.
    pub activity_dates: BTreeMap<Date, usize>,
}

impl Member {
    pub fn enrolled_on(&self, date: Date) -> bool {
        self.enrolments
            .iter()
            .any(|e| e.from <= date && e.until.is_none_or(|until| date < until))
    }

    /// Enrolled now, i.e. the latest enrolment interval is open.
    pub fn is_enrolled(&self) -> bool {
        self.enrolments.last().is_some_and(|e| e.until.is_none())
    }

    pub fn last_activity_on(&self) -> Option<Date> {
        self.activity_dates.last_key_value().map(|(&date, _)| date)
    }

    fn count_activity(&mut self, date: Date, taking_part: bool) {
        if taking_part {
            *self.activity_dates.entry(date).or_default() += 1;
        } else if let Some(count) = self.activity_dates.get_mut(&date) {
            *count -= 1;
            if *count == 0 {
                self.activity_dates.remove(&date);
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// The local date of `starts_at`: an amendment's date too.
    pub date: Date,
    pub organizer: Id,
    /// Attendance after the standing amendments.
    pub attendees: BTreeSet<Id>,
    pub voided: bool,
    /// The standing (not voided) amendments, oldest first; `None` for one proposed in the
    /// current batch without a client-chosen event id.
    pub amendments: Vec<Option<Uuid>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WishStatus {
    Open,
    Claimed { by: Id },
    Fulfilled,
    Withdrawn,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wish {
    pub grid: Id,
    pub posted_on: Date,
    pub status: WishStatus,
    /// The date of the latest lifecycle event.
    pub last_on: Date,
}

/// What the state knows of each stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFact {
    pub event: Event,
    pub stream: String,
    pub voided: bool,
}

/// The org units and members an event touches, for the server's scope checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Named in the data, or reached through a referenced record (a class's organiser, a
    /// wish's grid, a voided event's scope).
    pub org_units: BTreeSet<Id>,
    pub members: BTreeSet<Id>,
}

/// Everything needed to judge a new event. Build it with [`State::new`], feed it the log in
/// position order with [`State::evolve`], then [`State::decide`] batches.
#[derive(Debug, Clone)]
pub struct State {
    pub(crate) tz: Tz,
    pub(crate) position: Option<i64>,
    pub(crate) org_units: HashMap<Id, OrgUnit>,
    pub(crate) members: HashMap<Id, Member>,
    /// Venue id → opening date.
    pub(crate) venues: HashMap<Id, Date>,
    /// Lecturer id → enlisting date.
    pub(crate) lecturers: HashMap<Id, Date>,
    pub(crate) classes: HashMap<Id, Class>,
    pub(crate) wishes: HashMap<Id, Wish>,
    pub(crate) used_ids: HashSet<(IdKind, Id)>,
    pub(crate) events: HashMap<Uuid, EventFact>,
}

impl State {
    /// An empty state for a deployment in time zone `tz` (activities' dates are local dates).
    pub fn new(tz: Tz) -> Self {
        State {
            tz,
            position: None,
            org_units: HashMap::new(),
            members: HashMap::new(),
            venues: HashMap::new(),
            lecturers: HashMap::new(),
            classes: HashMap::new(),
            wishes: HashMap::new(),
            used_ids: HashSet::new(),
            events: HashMap::new(),
        }
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The position of the last stored event folded in.
    pub fn position(&self) -> Option<i64> {
        self.position
    }

    pub fn org_unit(&self, id: &Id) -> Option<&OrgUnit> {
        self.org_units.get(id)
    }

    pub fn member(&self, id: &Id) -> Option<&Member> {
        self.members.get(id)
    }

    /// Every member ever enrolled, in no particular order.
    pub fn members(&self) -> impl Iterator<Item = (&Id, &Member)> {
        self.members.iter()
    }

    pub fn class(&self, id: &Id) -> Option<&Class> {
        self.classes.get(id)
    }

    pub fn wish(&self, id: &Id) -> Option<&Wish> {
        self.wishes.get(id)
    }

    pub fn event(&self, event_id: &Uuid) -> Option<&EventFact> {
        self.events.get(event_id)
    }

    pub fn is_id_used(&self, kind: IdKind, id: &Id) -> bool {
        self.used_ids.contains(&(kind, id.clone()))
    }

    /// Whether `org` is `root` or lies below it.
    pub fn in_subtree(&self, org: &Id, root: &Id) -> bool {
        let mut current = Some(org);
        // The hierarchy is acyclic (a parent exists before its child), but bound the walk
        // anyway so a corrupt log cannot hang a request.
        for _ in 0..=self.org_units.len() {
            match current {
                Some(id) if id == root => return true,
                Some(id) => current = self.org_units.get(id).and_then(|o| o.parent.as_ref()),
                None => return false,
            }
        }
        false
    }

    /// The stream `event` is appended to; for a void, the voided event's stream (`None` when
    /// that event is unknown).
    pub fn stream_of(&self, event: &Event) -> Option<String> {
        match event.stream() {
            StreamRef::Named(name) => Some(name),
            StreamRef::OfEvent(id) => self.events.get(&id).map(|fact| fact.stream.clone()),
        }
    }

    /// The local date an activity belongs to; an attendance amendment takes its class's date.
    pub fn activity_date(&self, event: &Event) -> Option<Date> {
        match event {
            Event::AttendanceAmended(e) => self.classes.get(&e.class_id).map(|c| c.date),
            other => other.date(self.tz),
        }
    }

    /// The org units and members `event` touches: those it names, those of the records it
    /// refers to, and the current branch of every member touched.
    pub fn scope_of(&self, event: &Event) -> Scope {
        let mut scope = Scope::default();
        self.collect_scope(event, &mut scope);
        let branches = scope
            .members
            .iter()
            .filter_map(|m| self.members.get(m).map(|member| member.branch.clone()))
            .collect::<Vec<_>>();
        scope.org_units.extend(branches);
        scope
    }

    fn collect_scope(&self, event: &Event, scope: &mut Scope) {
        scope
            .org_units
            .extend(event.named_org_units().into_iter().cloned());
        scope
            .members
            .extend(event.named_members().into_iter().cloned());
        let referenced_org = match event {
            Event::AttendanceAmended(e) => self.classes.get(&e.class_id).map(|c| &c.organizer),
            Event::MicroWishClaimed(e) => self.wishes.get(&e.wish_id).map(|w| &w.grid),
            Event::MicroWishReleased(e) => self.wishes.get(&e.wish_id).map(|w| &w.grid),
            Event::MicroWishFulfilled(e) => self.wishes.get(&e.wish_id).map(|w| &w.grid),
            Event::MicroWishWithdrawn(e) => self.wishes.get(&e.wish_id).map(|w| &w.grid),
            Event::RecordVoided(e) => {
                if let Some(target) = self.events.get(&e.event_id) {
                    self.collect_scope(&target.event, scope);
                }
                None
            }
            _ => None,
        };
        scope.org_units.extend(referenced_org.cloned());
    }

    /// Folds one stored event in. Stored events were validated when recorded; this never
    /// fails, and skips what it cannot relate (so a log written under older rules still loads).
    pub fn evolve(&mut self, stored: &StoredFact) {
        self.position = Some(stored.position);
        self.apply(&stored.event, Some(stored.event_id));
    }

    /// Applies an event, stored or accepted earlier in the batch being decided.
    pub(crate) fn apply(&mut self, event: &Event, event_id: Option<Uuid>) {
        if let Some((kind, id, _)) = created_id(event) {
            self.used_ids.insert((kind, id.clone()));
        }
        if let Some(event_id) = event_id
            && let Some(stream) = self.stream_of(event)
        {
            let fact = EventFact {
                event: event.clone(),
                stream,
                voided: false,
            };
            self.events.insert(event_id, fact);
        }
        self.apply_registry(event);
        self.apply_activity(event, event_id);
    }

    fn apply_registry(&mut self, event: &Event) {
        use Event::*;
        match event {
            OrgUnitEstablished(e) => {
                let unit = OrgUnit {
                    kind: e.kind,
                    parent: e.parent_id.clone(),
                    established_on: e.established_on,
                };
                self.org_units.insert(e.org_id.clone(), unit);
            }
            MemberEnrolled(e) => {
                let member = Member {
                    name: e.name.clone(),
                    birth_year: e.birth_year,
                    branch: e.branch_id.clone(),
                    membership: e.membership,
                    enrolments: vec![Enrolment {
                        from: e.enrolled_on,
                        until: None,
                    }],
                    mobile: false,
                    buddy: None,
                    roles: BTreeSet::new(),
                    last_registry_on: e.enrolled_on,
                    activity_dates: BTreeMap::new(),
                };
                self.members.insert(e.member_id.clone(), member);
            }
            MemberLeft(e) => {
                self.update_member(&e.member_id, e.on, |m| {
                    if let Some(last) = m.enrolments.last_mut() {
                        last.until = Some(e.on);
                    }
                    m.roles.clear();
                    m.buddy = None;
                    // Leaving changes neither frail nor mobile (CONTRACT §6): a member who
                    // re-enrols while still away is mobile until `MemberReturned`.
                });
                let paired: Vec<Id> = self
                    .members
                    .iter()
                    .filter(|(_, m)| m.buddy.as_ref() == Some(&e.member_id))
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in paired {
                    if let Some(member) = self.members.get_mut(&id) {
                        member.buddy = None;
                    }
                }
            }
            MemberBecameFull(e) => self.update_member(&e.member_id, e.on, |m| {
                m.membership = Membership::Full;
            }),
            MemberTransferred(e) => self.update_member(&e.member_id, e.on, |m| {
                m.branch = e.to_branch_id.clone();
            }),
            MemberCareStatusChanged(e) => self.update_member(&e.member_id, e.on, |_| ()),
            MemberWentMobile(e) => self.update_member(&e.member_id, e.since, |m| m.mobile = true),
            MemberReturned(e) => self.update_member(&e.member_id, e.on, |m| {
                m.mobile = false;
                m.buddy = None;
            }),
            BuddyAssigned(e) => self.update_member(&e.member_id, e.since, |m| {
                m.buddy = Some(e.buddy_id.clone());
            }),
            RoleAssigned(e) => self.update_member(&e.member_id, e.on, |m| {
                m.roles.insert((e.role, e.org_id.clone()));
            }),
            RoleEnded(e) => self.update_member(&e.member_id, e.on, |m| {
                m.roles.remove(&(e.role, e.org_id.clone()));
            }),
            MemberReenrolled(e) => self.update_member(&e.member_id, e.on, |m| {
                m.enrolments.push(Enrolment {
                    from: e.on,
                    until: None,
                });
                m.branch = e.branch_id.clone();
            }),
            MemberDetailsCorrected(e) => {
                if let Some(member) = self.members.get_mut(&e.member_id) {
                    if let Some(name) = &e.name {
                        member.name = name.clone();
                    }
                    if e.birth_year.is_some() {
                        member.birth_year = e.birth_year;
                    }
                }
            }
            VenueOpened(e) => {
                self.venues.insert(e.venue_id.clone(), e.opened_on);
            }
            LecturerEnlisted(e) => {
                self.lecturers.insert(e.lecturer_id.clone(), e.enlisted_on);
            }
            _ => {}
        }
    }

    /// A dated registry event of a member: moves the member's registry date forward.
    fn update_member(&mut self, id: &Id, on: Date, change: impl FnOnce(&mut Member)) {
        if let Some(member) = self.members.get_mut(id) {
            member.last_registry_on = member.last_registry_on.max(on);
            change(member);
        }
    }

    fn apply_activity(&mut self, event: &Event, event_id: Option<Uuid>) {
        use Event::*;
        match event {
            ClassHeld(e) => {
                let class = Class {
                    date: crate::time::local_date(e.starts_at, self.tz),
                    organizer: e.organizer_org_id.clone(),
                    attendees: e.attendee_ids.iter().cloned().collect(),
                    voided: false,
                    amendments: Vec::new(),
                };
                self.classes.insert(e.class_id.clone(), class);
            }
            AttendanceAmended(e) => {
                self.amend(&e.class_id, &e.added, &e.removed);
                if let Some(class) = self.classes.get_mut(&e.class_id) {
                    class.amendments.push(event_id);
                }
                return;
            }
            MicroWishPosted(e) => {
                let wish = Wish {
                    grid: e.grid_id.clone(),
                    posted_on: e.posted_on,
                    status: WishStatus::Open,
                    last_on: e.posted_on,
                };
                self.wishes.insert(e.wish_id.clone(), wish);
            }
            MicroWishClaimed(e) => self.move_wish(
                &e.wish_id,
                e.claimed_on,
                WishStatus::Claimed {
                    by: e.member_id.clone(),
                },
            ),
            MicroWishReleased(e) => self.move_wish(&e.wish_id, e.released_on, WishStatus::Open),
            MicroWishFulfilled(e) => {
                self.move_wish(&e.wish_id, e.fulfilled_on, WishStatus::Fulfilled);
            }
            MicroWishWithdrawn(e) => {
                self.move_wish(&e.wish_id, e.withdrawn_on, WishStatus::Withdrawn);
            }
            RecordVoided(e) => {
                self.void(e.event_id);
                return;
            }
            _ => {}
        }
        if let Some(date) = event.date(self.tz) {
            self.count_activity(event.participants(), date, true);
        }
    }

    fn move_wish(&mut self, id: &Id, on: Date, status: WishStatus) {
        if let Some(wish) = self.wishes.get_mut(id) {
            wish.status = status;
            wish.last_on = wish.last_on.max(on);
        }
    }

    fn count_activity<'a>(
        &mut self,
        members: impl IntoIterator<Item = &'a Id>,
        date: Date,
        taking_part: bool,
    ) {
        for id in members {
            if let Some(member) = self.members.get_mut(id) {
                member.count_activity(date, taking_part);
            }
        }
    }

    /// Adds and removes attendees of a class (an amendment, or the undoing of one).
    fn amend<'a>(
        &mut self,
        class_id: &Id,
        added: impl IntoIterator<Item = &'a Id> + Clone,
        removed: impl IntoIterator<Item = &'a Id> + Clone,
    ) {
        // A voided class's attendance no longer counts for anything.
        let Some(class) = self.classes.get_mut(class_id).filter(|c| !c.voided) else {
            return;
        };
        class.attendees.extend(added.clone().into_iter().cloned());
        for id in removed.clone() {
            class.attendees.remove(id);
        }
        let date = class.date;
        self.count_activity(added, date, true);
        self.count_activity(removed, date, false);
    }

    fn void(&mut self, target: Uuid) {
        let Some(fact) = self.events.get_mut(&target) else {
            return;
        };
        fact.voided = true;
        let voided = fact.event.clone();
        match &voided {
            Event::ClassHeld(e) => {
                if let Some(class) = self.classes.get_mut(&e.class_id) {
                    class.voided = true;
                    let (attendees, date) = (class.attendees.clone(), class.date);
                    self.count_activity(&attendees, date, false);
                }
            }
            Event::AttendanceAmended(e) => {
                self.amend(&e.class_id, &e.removed, &e.added);
                if let Some(class) = self.classes.get_mut(&e.class_id) {
                    class.amendments.retain(|id| *id != Some(target));
                }
            }
            other => {
                if let Some(date) = other.date(self.tz) {
                    self.count_activity(other.participants(), date, false);
                }
            }
        }
    }
}
