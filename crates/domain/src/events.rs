//! The v1 event catalog (CONTRACT §2) as Rust types, and the [`Event`] enum over them: parsing
//! from `(type, data)` with errors that name the JSON path, the stream each event belongs to, its
//! `occurred_at`, and the org units and members it names.

use chrono::{DateTime, FixedOffset, Utc};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::num::NonZeroU32;
use uuid::Uuid;

use crate::kinds::*;
use crate::time;
use crate::values::{Date, Id, NonEmptySet, StudyHours, Text, Timestamp, UniqueList};

/// Declares the data structs' shared derives: every `data` object refuses unknown fields.
macro_rules! event_data {
    ($($(#[$meta:meta])* pub struct $name:ident { $($body:tt)* })+) => {
        $(
            $(#[$meta])*
            #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
            #[serde(deny_unknown_fields)]
            pub struct $name { $($body)* }
        )+
    };
}

event_data! {
    /// An org unit (subdistrict, community, grid branch or party group) comes into being.
    pub struct OrgUnitEstablished {
        pub org_id: Id,
        pub name: Text,
        pub kind: OrgKind,
        /// The unit above this one; null only for a subdistrict, the root of a tree.
        pub parent_id: Option<Id>,
        pub established_on: Date,
    }

    /// A party member is put on the subdistrict's rolls, in a grid branch or party group.
    pub struct MemberEnrolled {
        pub member_id: Id,
        pub name: Text,
        pub branch_id: Id,
        pub membership: Membership,
        /// When the member joined the party.
        pub joined_on: Date,
        /// When the member came onto these rolls: the start of the first enrolment interval.
        pub enrolled_on: Date,
        /// From 1900 to this year.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "crate::values::whole::option_u16"
        )]
        #[schemars(range(min = 1900))]
        pub birth_year: Option<u16>,
        pub employment: Employment,
        pub frail: bool,
        pub hardship: bool,
    }

    /// A probationary member becomes a full member.
    pub struct MemberBecameFull {
        pub member_id: Id,
        pub on: Date,
    }

    /// A member moves to another branch.
    pub struct MemberTransferred {
        pub member_id: Id,
        pub to_branch_id: Id,
        pub on: Date,
    }

    /// A member leaves the rolls; gone on `on`. Ends their roles and buddy pairings that day.
    pub struct MemberLeft {
        pub member_id: Id,
        pub on: Date,
        pub reason: LeaveReason,
    }

    /// A member's frail / hardship status (困弱党员) changes.
    pub struct MemberCareStatusChanged {
        pub member_id: Id,
        pub frail: bool,
        pub hardship: bool,
        pub on: Date,
    }

    /// A member goes away for work, business or study (流动党员).
    pub struct MemberWentMobile {
        pub member_id: Id,
        pub since: Date,
        pub destination: Text,
        pub reason: MobileReason,
    }

    /// A mobile member is back.
    pub struct MemberReturned {
        pub member_id: Id,
        pub on: Date,
    }

    /// A mobile member (`member_id`) gets a buddy who keeps in touch with them.
    pub struct BuddyAssigned {
        pub member_id: Id,
        pub buddy_id: Id,
        pub since: Date,
    }

    /// A member takes up a role at an org unit.
    pub struct RoleAssigned {
        pub member_id: Id,
        pub role: Role,
        pub org_id: Id,
        pub on: Date,
    }

    /// A member's role at an org unit ends; the role is still held on `on`.
    pub struct RoleEnded {
        pub member_id: Id,
        pub role: Role,
        pub org_id: Id,
        pub on: Date,
    }

    /// A place of study opens: the party school, a teaching point, a learning point.
    pub struct VenueOpened {
        pub venue_id: Id,
        pub name: Text,
        pub kind: VenueKind,
        pub org_id: Id,
        pub opened_on: Date,
    }

    /// A lecturer joins the local lecturer team.
    pub struct LecturerEnlisted {
        pub lecturer_id: Id,
        pub name: Text,
        pub kind: LecturerKind,
        /// The lecturer's own member record, when the lecturer is a member here.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub member_id: Option<Id>,
        pub enlisted_on: Date,
    }

    /// An org unit takes a new name.
    pub struct OrgUnitRenamed {
        pub org_id: Id,
        pub name: Text,
        pub on: Date,
    }

    /// A clerical mistake in a member's details is corrected; it holds for every date.
    pub struct MemberDetailsCorrected {
        pub member_id: Id,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub name: Option<Text>,
        /// From 1900 to this year.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "crate::values::whole::option_u16"
        )]
        #[schemars(range(min = 1900))]
        pub birth_year: Option<u16>,
        pub reason: Text,
    }

    /// A member who left comes back onto the rolls, in the given branch.
    pub struct MemberReenrolled {
        pub member_id: Id,
        pub branch_id: Id,
        pub on: Date,
    }

    /// A class (班次) was held: one session of a training course, with its attendees.
    pub struct ClassHeld {
        pub class_id: Id,
        pub title: Text,
        pub form: ClassForm,
        pub organizer_org_id: Id,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub venue_id: Option<Id>,
        pub starts_at: Timestamp,
        #[serde(deserialize_with = "crate::values::whole::non_zero_u32")]
        pub duration_minutes: NonZeroU32,
        /// Credited study hours, more than 0.
        #[schemars(extend("exclusiveMinimum" = 0))]
        pub study_hours: StudyHours,
        pub lecturer_ids: UniqueList<Id>,
        pub attendee_ids: UniqueList<Id>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub campaign: Option<Text>,
    }

    /// A class's attendance list is corrected: members added and removed.
    pub struct AttendanceAmended {
        pub class_id: Id,
        pub added: UniqueList<Id>,
        pub removed: UniqueList<Id>,
        pub reason: Text,
    }

    /// A party lecture (专题党课) was given by a member to an org unit's members.
    pub struct PartyLectureGiven {
        pub lecture_id: Id,
        /// The member who gave it.
        pub speaker_id: Id,
        pub title: Text,
        pub audience_org_id: Id,
        pub given_at: Timestamp,
        #[serde(deserialize_with = "crate::values::whole::non_zero_u32")]
        pub duration_minutes: NonZeroU32,
        /// Credited study hours, more than 0.
        #[schemars(extend("exclusiveMinimum" = 0))]
        pub study_hours: StudyHours,
        pub attendee_ids: UniqueList<Id>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub venue_id: Option<Id>,
    }

    /// Members visited a member at home (送学上门, 送书到家, care visits).
    pub struct HomeVisitMade {
        pub visit_id: Id,
        /// The member visited.
        pub member_id: Id,
        pub visitor_ids: UniqueList<Id>,
        pub visited_on: Date,
        pub purposes: NonEmptySet<VisitPurpose>,
        pub study_hours: StudyHours,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub note: Option<Text>,
    }

    /// A member studied on an online platform.
    pub struct OnlineStudyLogged {
        pub log_id: Id,
        pub member_id: Id,
        pub platform: StudyPlatform,
        pub studied_on: Date,
        pub study_hours: StudyHours,
    }

    /// A mobile member was contacted by another member.
    pub struct MobileMemberContacted {
        pub contact_id: Id,
        pub member_id: Id,
        pub contacted_by: Id,
        pub contacted_on: Date,
        pub channel: ContactChannel,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub note: Option<Text>,
    }

    /// An organisational-life meeting (三会一课, themed party day) was held.
    pub struct OrgLifeMeetingHeld {
        pub meeting_id: Id,
        pub branch_id: Id,
        pub kind: MeetingKind,
        pub held_on: Date,
        pub attendee_ids: UniqueList<Id>,
        pub excused_ids: UniqueList<Id>,
    }

    /// A recommended study list was issued.
    pub struct StudyListIssued {
        pub list_id: Id,
        pub title: Text,
        pub issued_on: Date,
        pub items: Vec<StudyListItem>,
    }

    /// A micro-wish (微心愿) was posted in a grid.
    pub struct MicroWishPosted {
        pub wish_id: Id,
        /// The org unit (grid) that posted it.
        pub grid_id: Id,
        pub title: Text,
        pub category: WishCategory,
        pub posted_on: Date,
    }

    /// A member claimed an open micro-wish.
    pub struct MicroWishClaimed {
        pub wish_id: Id,
        pub member_id: Id,
        pub claimed_on: Date,
    }

    /// The claimer gave a micro-wish back; it is open again.
    pub struct MicroWishReleased {
        pub wish_id: Id,
        pub member_id: Id,
        pub released_on: Date,
        pub reason: Text,
    }

    /// A claimed micro-wish was fulfilled; it counts as done on this date.
    pub struct MicroWishFulfilled {
        pub wish_id: Id,
        pub fulfilled_on: Date,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub note: Option<Text>,
    }

    /// An open micro-wish was withdrawn.
    pub struct MicroWishWithdrawn {
        pub wish_id: Id,
        pub withdrawn_on: Date,
        pub reason: Text,
    }

    /// A recorded activity (or a class's latest standing attendance amendment) is voided; it
    /// stays in the log and counts for nothing.
    pub struct RecordVoided {
        /// The voided event's `event_id`.
        pub event_id: Uuid,
        pub reason: Text,
    }

    /// One entry of a study list.
    pub struct StudyListItem {
        pub title: Text,
        /// Free text, e.g. `speech`, `document`, `book`.
        pub kind: Text,
    }
}

/// Why `(type, data)` could not become an [`Event`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct ParseError {
    pub kind: ParseErrorKind,
    /// `type`, `data`, or a path into data such as `data.attendee_ids[3]`.
    pub path: String,
    pub problem: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseErrorKind {
    UnknownType,
    UnknownField,
    MissingField,
    BadValue,
}

/// Parses one data struct, turning serde's error into a [`ParseError`] that names the path.
fn parse_data<T: serde::de::DeserializeOwned>(data: Value) -> Result<T, ParseError> {
    // serde's derived structs also accept a list of positional values; data is an object only.
    if !data.is_object() {
        return Err(ParseError {
            kind: ParseErrorKind::BadValue,
            path: "data".into(),
            problem: format!("data must be a JSON object, got {}", json_kind(&data)),
        });
    }
    serde_path_to_error::deserialize(data).map_err(|error| {
        let segments = error.path().to_string();
        let problem = error.into_inner().to_string();
        let mut path = match segments.as_str() {
            "." => "data".to_owned(),
            inner if inner.starts_with('[') => format!("data{inner}"),
            inner => format!("data.{inner}"),
        };
        // serde reports a missing field at the enclosing object; its message (stable since
        // serde 1.0) names the field, which belongs in the path. Unknown fields already have
        // their key in the path.
        let kind = if problem.starts_with("unknown field `") {
            ParseErrorKind::UnknownField
        } else if let Some(name) = problem
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            path = format!("{path}.{name}");
            ParseErrorKind::MissingField
        } else {
            ParseErrorKind::BadValue
        };
        ParseError {
            kind,
            path,
            problem,
        }
    })
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Where an event is appended. A void goes to the stream of the event it voids, which only
/// the state knows: see [`crate::State::stream_of`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamRef {
    Named(String),
    OfEvent(Uuid),
}

/// Declares the [`Event`] enum over the data structs with their current schema versions.
macro_rules! catalog {
    ($($name:ident = $version:literal),+ $(,)?) => {
        /// One event of the catalog, parsed.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Event {
            $($name($name)),+
        }

        $(
            impl From<$name> for Event {
                fn from(data: $name) -> Event {
                    Event::$name(data)
                }
            }
        )+

        impl Event {
            /// Every event type with its current schema version, in catalog order.
            pub const TYPES: &'static [(&'static str, u32)] = &[$((stringify!($name), $version)),+];

            /// Parses `data` as an event of type `type_name` at the current schema version
            /// (stored events of older versions go through [`crate::upcast()`] first).
            pub fn parse(type_name: &str, data: Value) -> Result<Event, ParseError> {
                match type_name {
                    $(stringify!($name) => parse_data(data).map(Event::$name),)+
                    other => Err(ParseError {
                        kind: ParseErrorKind::UnknownType,
                        path: "type".into(),
                        problem: format!("unknown event type {other:?}"),
                    }),
                }
            }

            pub fn type_name(&self) -> &'static str {
                match self {
                    $(Event::$name(_) => stringify!($name)),+
                }
            }

            /// The data object, as stored.
            pub fn data(&self) -> Value {
                let value = match self {
                    $(Event::$name(data) => serde_json::to_value(data)),+
                };
                // The data types serialise only strings, numbers, booleans, lists and
                // string-keyed objects, which cannot fail.
                value.expect("event data serialises to JSON")
            }

            /// The JSON Schema of each type's data at its current version.
            pub fn schemas() -> Vec<(&'static str, u32, schemars::Schema)> {
                vec![$((stringify!($name), $version, schemars::schema_for!($name))),+]
            }
        }
    };
}

catalog! {
    OrgUnitEstablished = 1,
    MemberEnrolled = 1,
    MemberBecameFull = 1,
    MemberTransferred = 1,
    MemberLeft = 1,
    MemberCareStatusChanged = 1,
    MemberWentMobile = 1,
    MemberReturned = 1,
    BuddyAssigned = 1,
    RoleAssigned = 1,
    RoleEnded = 1,
    VenueOpened = 1,
    LecturerEnlisted = 1,
    OrgUnitRenamed = 1,
    MemberDetailsCorrected = 1,
    MemberReenrolled = 1,
    ClassHeld = 1,
    AttendanceAmended = 1,
    PartyLectureGiven = 1,
    HomeVisitMade = 1,
    OnlineStudyLogged = 1,
    MobileMemberContacted = 1,
    OrgLifeMeetingHeld = 1,
    StudyListIssued = 1,
    MicroWishPosted = 1,
    MicroWishClaimed = 1,
    MicroWishReleased = 1,
    MicroWishFulfilled = 1,
    MicroWishWithdrawn = 1,
    RecordVoided = 1,
}

/// The date or time an event is about, before it is turned into `occurred_at`.
enum When {
    At(Timestamp),
    On(Date),
    /// No date of its own: `recorded_at` stands in.
    Recorded,
}

impl Event {
    /// The current schema version of a type, `None` for an unknown type.
    pub fn schema_version_of(type_name: &str) -> Option<u32> {
        Event::TYPES
            .iter()
            .find(|(name, _)| *name == type_name)
            .map(|&(_, version)| version)
    }

    /// The stream this event is appended to (CONTRACT §2).
    pub fn stream(&self) -> StreamRef {
        use Event::*;
        let named = |prefix: &str, id: &Id| StreamRef::Named(format!("{prefix}:{id}"));
        match self {
            OrgUnitEstablished(e) => named("org", &e.org_id),
            OrgUnitRenamed(e) => named("org", &e.org_id),
            MemberEnrolled(e) => named("member", &e.member_id),
            MemberBecameFull(e) => named("member", &e.member_id),
            MemberTransferred(e) => named("member", &e.member_id),
            MemberLeft(e) => named("member", &e.member_id),
            MemberCareStatusChanged(e) => named("member", &e.member_id),
            MemberWentMobile(e) => named("member", &e.member_id),
            MemberReturned(e) => named("member", &e.member_id),
            BuddyAssigned(e) => named("member", &e.member_id),
            RoleAssigned(e) => named("member", &e.member_id),
            RoleEnded(e) => named("member", &e.member_id),
            MemberDetailsCorrected(e) => named("member", &e.member_id),
            MemberReenrolled(e) => named("member", &e.member_id),
            OnlineStudyLogged(e) => named("member", &e.member_id),
            MobileMemberContacted(e) => named("member", &e.member_id),
            VenueOpened(e) => named("venue", &e.venue_id),
            LecturerEnlisted(e) => named("lecturer", &e.lecturer_id),
            ClassHeld(e) => named("class", &e.class_id),
            AttendanceAmended(e) => named("class", &e.class_id),
            PartyLectureGiven(e) => named("lecture", &e.lecture_id),
            HomeVisitMade(e) => named("visit", &e.visit_id),
            OrgLifeMeetingHeld(e) => named("meeting", &e.meeting_id),
            StudyListIssued(e) => named("study-list", &e.list_id),
            MicroWishPosted(e) => named("wish", &e.wish_id),
            MicroWishClaimed(e) => named("wish", &e.wish_id),
            MicroWishReleased(e) => named("wish", &e.wish_id),
            MicroWishFulfilled(e) => named("wish", &e.wish_id),
            MicroWishWithdrawn(e) => named("wish", &e.wish_id),
            RecordVoided(e) => StreamRef::OfEvent(e.event_id),
        }
    }

    fn when(&self) -> When {
        use Event::*;
        match self {
            ClassHeld(e) => When::At(e.starts_at),
            PartyLectureGiven(e) => When::At(e.given_at),
            OrgUnitEstablished(e) => When::On(e.established_on),
            MemberEnrolled(e) => When::On(e.enrolled_on),
            MemberBecameFull(e) => When::On(e.on),
            MemberTransferred(e) => When::On(e.on),
            MemberLeft(e) => When::On(e.on),
            MemberCareStatusChanged(e) => When::On(e.on),
            MemberWentMobile(e) => When::On(e.since),
            MemberReturned(e) => When::On(e.on),
            BuddyAssigned(e) => When::On(e.since),
            RoleAssigned(e) => When::On(e.on),
            RoleEnded(e) => When::On(e.on),
            VenueOpened(e) => When::On(e.opened_on),
            LecturerEnlisted(e) => When::On(e.enlisted_on),
            OrgUnitRenamed(e) => When::On(e.on),
            MemberReenrolled(e) => When::On(e.on),
            HomeVisitMade(e) => When::On(e.visited_on),
            OnlineStudyLogged(e) => When::On(e.studied_on),
            MobileMemberContacted(e) => When::On(e.contacted_on),
            OrgLifeMeetingHeld(e) => When::On(e.held_on),
            StudyListIssued(e) => When::On(e.issued_on),
            MicroWishPosted(e) => When::On(e.posted_on),
            MicroWishClaimed(e) => When::On(e.claimed_on),
            MicroWishReleased(e) => When::On(e.released_on),
            MicroWishFulfilled(e) => When::On(e.fulfilled_on),
            MicroWishWithdrawn(e) => When::On(e.withdrawn_on),
            MemberDetailsCorrected(_) | AttendanceAmended(_) | RecordVoided(_) => When::Recorded,
        }
    }

    /// The event's own local date: its effective date, the local date of its timestamp, or
    /// `None` for the events without a date of their own (`RecordVoided`,
    /// `AttendanceAmended` — which takes its class's date, see
    /// [`crate::State::activity_date`] — and `MemberDetailsCorrected`).
    pub fn date(&self, tz: Tz) -> Option<Date> {
        match self.when() {
            When::At(at) => Some(time::local_date(at, tz)),
            When::On(date) => Some(date),
            When::Recorded => None,
        }
    }

    /// `occurred_at` as CONTRACT §1 defines it, in the deployment's time zone: the activity's
    /// timestamp, the effective date at local midnight, or `recorded_at` for events without a
    /// date of their own.
    pub fn occurred_at(&self, recorded_at: DateTime<Utc>, tz: Tz) -> DateTime<FixedOffset> {
        self.own_occurred_at(tz)
            .unwrap_or_else(|| time::in_zone(recorded_at, tz))
    }

    /// `occurred_at` when the event has a date of its own, else `None` (it takes `recorded_at`).
    pub fn own_occurred_at(&self, tz: Tz) -> Option<DateTime<FixedOffset>> {
        match self.when() {
            When::At(at) => Some(time::in_zone(at.datetime(), tz)),
            When::On(date) => Some(time::local_midnight(date, tz)),
            When::Recorded => None,
        }
    }

    /// The members who take part in an activity (attendees, speaker, visitors and the
    /// visited, the logging or contacted member and the contact, meeting attendees and
    /// excused); empty for registry, wish and correction events.
    pub fn participants(&self) -> Vec<&Id> {
        use Event::*;
        match self {
            ClassHeld(e) => e.attendee_ids.iter().collect(),
            PartyLectureGiven(e) => std::iter::once(&e.speaker_id)
                .chain(&e.attendee_ids)
                .collect(),
            HomeVisitMade(e) => std::iter::once(&e.member_id)
                .chain(&e.visitor_ids)
                .collect(),
            OnlineStudyLogged(e) => vec![&e.member_id],
            MobileMemberContacted(e) => vec![&e.member_id, &e.contacted_by],
            OrgLifeMeetingHeld(e) => e.attendee_ids.iter().chain(&e.excused_ids).collect(),
            _ => Vec::new(),
        }
    }

    /// Every member the event names in its data.
    pub fn named_members(&self) -> Vec<&Id> {
        use Event::*;
        match self {
            MemberEnrolled(e) => vec![&e.member_id],
            MemberBecameFull(e) => vec![&e.member_id],
            MemberTransferred(e) => vec![&e.member_id],
            MemberLeft(e) => vec![&e.member_id],
            MemberCareStatusChanged(e) => vec![&e.member_id],
            MemberWentMobile(e) => vec![&e.member_id],
            MemberReturned(e) => vec![&e.member_id],
            BuddyAssigned(e) => vec![&e.member_id, &e.buddy_id],
            RoleAssigned(e) => vec![&e.member_id],
            RoleEnded(e) => vec![&e.member_id],
            MemberDetailsCorrected(e) => vec![&e.member_id],
            MemberReenrolled(e) => vec![&e.member_id],
            LecturerEnlisted(e) => e.member_id.iter().collect(),
            AttendanceAmended(e) => e.added.iter().chain(&e.removed).collect(),
            MicroWishClaimed(e) => vec![&e.member_id],
            MicroWishReleased(e) => vec![&e.member_id],
            _ => self.participants(),
        }
    }

    /// Every org unit the event names in its data (the unit itself, parents, branches,
    /// organisers, audiences, grids).
    pub fn named_org_units(&self) -> Vec<&Id> {
        use Event::*;
        match self {
            OrgUnitEstablished(e) => std::iter::once(&e.org_id).chain(&e.parent_id).collect(),
            OrgUnitRenamed(e) => vec![&e.org_id],
            MemberEnrolled(e) => vec![&e.branch_id],
            MemberTransferred(e) => vec![&e.to_branch_id],
            MemberReenrolled(e) => vec![&e.branch_id],
            RoleAssigned(e) => vec![&e.org_id],
            RoleEnded(e) => vec![&e.org_id],
            VenueOpened(e) => vec![&e.org_id],
            ClassHeld(e) => vec![&e.organizer_org_id],
            PartyLectureGiven(e) => vec![&e.audience_org_id],
            OrgLifeMeetingHeld(e) => vec![&e.branch_id],
            MicroWishPosted(e) => vec![&e.grid_id],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn class_data() -> Value {
        json!({
            "class_id": "C-1", "title": "Theory", "form": "concentrated",
            "organizer_org_id": "SD", "starts_at": "2024-12-31T20:00:00Z",
            "duration_minutes": 90, "study_hours": 2.5,
            "lecturer_ids": [], "attendee_ids": ["M1", "M2"]
        })
    }

    fn error_for(type_name: &str, edit: impl FnOnce(&mut Value)) -> ParseError {
        let mut data = class_data();
        edit(&mut data);
        Event::parse(type_name, data).unwrap_err()
    }

    #[test]
    fn parse_errors_name_the_path_and_the_kind() {
        let cases: Vec<(ParseError, ParseErrorKind, &str)> = vec![
            (
                error_for("ClassHeld", |d| d["study_hours"] = json!(1.234)),
                ParseErrorKind::BadValue,
                "data.study_hours",
            ),
            (
                error_for("ClassHeld", |d| {
                    d["attendee_ids"] = json!(["M1", "M2", "M3", "M1"])
                }),
                ParseErrorKind::BadValue,
                "data.attendee_ids[3]",
            ),
            (
                error_for("ClassHeld", |d| d["colour"] = json!("red")),
                ParseErrorKind::UnknownField,
                "data.colour",
            ),
            (
                error_for("ClassHeld", |d| {
                    d.as_object_mut().unwrap().remove("title");
                }),
                ParseErrorKind::MissingField,
                "data.title",
            ),
            (
                error_for("ClassHeld", |d| {
                    d["starts_at"] = json!("2024-12-31T20:00:00")
                }),
                ParseErrorKind::BadValue,
                "data.starts_at",
            ),
            (
                error_for("ClassHeld", |d| d["duration_minutes"] = json!(0)),
                ParseErrorKind::BadValue,
                "data.duration_minutes",
            ),
            (
                error_for("ClassHeld", |d| *d = json!([1])),
                ParseErrorKind::BadValue,
                "data",
            ),
            (
                error_for("ClassTaught", |_| ()),
                ParseErrorKind::UnknownType,
                "type",
            ),
        ];
        for (error, kind, path) in cases {
            assert_eq!((error.kind, error.path.as_str()), (kind, path), "{error}");
        }
    }

    #[test]
    fn a_class_belongs_to_its_local_date_and_stream() {
        let event = Event::parse("ClassHeld", class_data()).unwrap();
        assert_eq!(event.type_name(), "ClassHeld");
        assert_eq!(event.stream(), StreamRef::Named("class:C-1".into()));
        assert_eq!(
            event.date(chrono_tz::Asia::Shanghai),
            Some("2025-01-01".parse().unwrap())
        );
        assert_eq!(
            event
                .occurred_at(Utc::now(), chrono_tz::Asia::Shanghai)
                .to_rfc3339(),
            "2025-01-01T04:00:00+08:00"
        );
        assert_eq!(event.data(), class_data());
    }

    #[test]
    fn dateless_events_occur_when_recorded() {
        let event = Event::parse(
            "RecordVoided",
            json!({"event_id": Uuid::nil(), "reason": "typo"}),
        )
        .unwrap();
        let recorded = "2024-03-05T03:42:10Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            event
                .occurred_at(recorded, chrono_tz::Asia::Shanghai)
                .to_rfc3339(),
            "2024-03-05T11:42:10+08:00"
        );
        assert_eq!(event.stream(), StreamRef::OfEvent(Uuid::nil()));
    }
}
