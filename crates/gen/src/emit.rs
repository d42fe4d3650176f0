//! Writing events as NDJSON records (CONTRACT §1, without the store-assigned `position`,
//! `stream`, `version` and `recorded_at`): the envelope, event ids drawn from the seed, and the
//! tally of what was written.

use std::io::{self, Write};

use chrono::{DateTime, FixedOffset, NaiveDate, SecondsFormat};
use chrono_tz::Tz;
use partyedu_domain::time::local_midnight;
use partyedu_domain::{Date, Event};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use crate::GenSummary;

/// When an event occurred, as its envelope shows it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Occurred {
    /// The current day at local midnight: every event dated by a date of its own.
    Midnight,
    /// A class's or lecture's start, or the recording time of an event without a date.
    At(DateTime<FixedOffset>),
}

/// Serialises an event's data straight from its struct: the serde impl that [`Event::data`]
/// uses, minus the intermediate `Value` (which would also sort the keys). The match is
/// exhaustive, so a new event type fails to compile here until it is listed.
macro_rules! write_data {
    ($event:expr, $out:expr, [$($name:ident),+ $(,)?]) => {
        match $event {
            $(Event::$name(data) => serde_json::to_writer($out, data),)+
        }
    };
}

fn write_data(event: &Event, out: &mut Vec<u8>) -> serde_json::Result<()> {
    write_data!(
        event,
        out,
        [
            OrgUnitEstablished,
            MemberEnrolled,
            MemberBecameFull,
            MemberTransferred,
            MemberLeft,
            MemberCareStatusChanged,
            MemberWentMobile,
            MemberReturned,
            BuddyAssigned,
            RoleAssigned,
            RoleEnded,
            VenueOpened,
            LecturerEnlisted,
            OrgUnitRenamed,
            MemberDetailsCorrected,
            MemberReenrolled,
            ClassHeld,
            AttendanceAmended,
            PartyLectureGiven,
            HomeVisitMade,
            OnlineStudyLogged,
            MobileMemberContacted,
            OrgLifeMeetingHeld,
            StudyListIssued,
            MicroWishPosted,
            MicroWishClaimed,
            MicroWishReleased,
            MicroWishFulfilled,
            MicroWishWithdrawn,
            RecordVoided,
        ]
    )
}

/// Writes one record a line to the caller's writer.
pub(crate) struct Emitter<'w, W: Write> {
    out: &'w mut W,
    /// Event ids have their own stream of randomness, so that they do not shift the story.
    ids: StdRng,
    tz: Tz,
    line: Vec<u8>,
    midnight: DateTime<FixedOffset>,
    /// `midnight`, formatted once a day rather than once an event.
    midnight_text: String,
    summary: GenSummary,
}

impl<'w, W: Write> Emitter<'w, W> {
    pub(crate) fn new(out: &'w mut W, seed: u64, tz: Tz, first_day: NaiveDate) -> Self {
        let mut emitter = Emitter {
            out,
            ids: StdRng::seed_from_u64(seed ^ 0x6576_656e_745f_6964),
            tz,
            line: Vec::with_capacity(4096),
            midnight: DateTime::default(),
            midnight_text: String::new(),
            summary: GenSummary::default(),
        };
        emitter.set_day(first_day);
        emitter
    }

    /// The day the following [`Occurred::Midnight`] events are dated.
    pub(crate) fn set_day(&mut self, day: NaiveDate) {
        self.midnight = local_midnight(Date::from_naive(day), self.tz);
        self.midnight_text = self.midnight.to_rfc3339_opts(SecondsFormat::Secs, true);
    }

    pub(crate) fn summary(self) -> GenSummary {
        self.summary
    }

    /// Writes one event; returns its event id, for a later void.
    pub(crate) fn emit(
        &mut self,
        event: impl Into<Event>,
        occurred: Occurred,
        actor: &str,
    ) -> io::Result<Uuid> {
        let event = event.into();
        let occurred_at = match occurred {
            Occurred::Midnight => self.midnight,
            Occurred::At(at) => at,
        };
        // The envelope must say what the store would derive from the data (CONTRACT §1).
        debug_assert!(
            event
                .own_occurred_at(self.tz)
                .is_none_or(|own| own == occurred_at),
            "{} occurred_at {occurred_at} differs from its data",
            event.type_name()
        );
        let type_name = event.type_name();
        let event_id = uuid::Builder::from_random_bytes(self.ids.random()).into_uuid();
        let line = &mut self.line;
        line.clear();
        line.extend_from_slice(b"{\"event_id\":\"");
        line.extend_from_slice(
            event_id
                .hyphenated()
                .encode_lower(&mut Uuid::encode_buffer())
                .as_bytes(),
        );
        line.extend_from_slice(b"\",\"type\":\"");
        line.extend_from_slice(type_name.as_bytes());
        let version = Event::schema_version_of(type_name).unwrap_or(1);
        write!(line, "\",\"schema_version\":{version},\"occurred_at\":\"")?;
        match occurred {
            Occurred::Midnight => line.extend_from_slice(self.midnight_text.as_bytes()),
            Occurred::At(at) => {
                line.extend_from_slice(at.to_rfc3339_opts(SecondsFormat::Secs, true).as_bytes());
            }
        }
        line.extend_from_slice(b"\",\"actor\":");
        serde_json::to_writer(&mut *line, actor)?;
        line.extend_from_slice(b",\"data\":");
        write_data(&event, line)?;
        line.extend_from_slice(b",\"metadata\":{}}\n");
        self.out.write_all(line)?;
        self.summary.events += 1;
        *self.summary.by_type.entry(type_name).or_default() += 1;
        Ok(event_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use partyedu_domain::events::MemberBecameFull;

    #[test]
    fn data_is_what_the_domain_serialises_in_field_order() {
        let event = Event::from(MemberBecameFull {
            member_id: "M-000001".parse().unwrap(),
            on: "2024-03-05".parse().unwrap(),
        });
        let mut out = Vec::new();
        write_data(&event, &mut out).unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"member_id":"M-000001","on":"2024-03-05"}"#
        );
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&out).unwrap(),
            event.data()
        );
    }
}
