//! The event record as users see it (CONTRACT §1): data and metadata exactly as stored,
//! envelope timestamps in the deployment's time zone.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use chrono_tz::Tz;
use partyedu_store::RecordedEvent;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::value::RawValue;
use uuid::Uuid;

/// A stored event (CONTRACT §1).
#[derive(Serialize, JsonSchema)]
pub struct Record<'a> {
    pub event_id: Uuid,
    pub position: i64,
    pub stream: &'a str,
    pub version: i64,
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub schema_version: i32,
    pub occurred_at: String,
    pub recorded_at: String,
    pub actor: &'a str,
    pub data: &'a RawValue,
    pub metadata: &'a RawValue,
}

/// RFC 3339 with the zone's offset and always milliseconds (finer digits are cut, not rounded):
/// every timestamp the API returns has this one precision (CONTRACT §6), so an event without a
/// date of its own shows `occurred_at` equal to `recorded_at`.
pub fn local_timestamp(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::Millis, false)
}

/// A timestamp with an offset as the API returns it: milliseconds, the offset kept.
pub fn timestamp_text(at: &DateTime<FixedOffset>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, false)
}

/// `#[serde(serialize_with)]` for timestamps in answers: [`timestamp_text`].
pub(crate) mod millis {
    use chrono::{DateTime, FixedOffset};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(at: &DateTime<FixedOffset>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::timestamp_text(at))
    }

    pub fn option<S: Serializer>(
        at: &Option<DateTime<FixedOffset>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => serialize(at, s),
            None => s.serialize_none(),
        }
    }
}

impl<'a> Record<'a> {
    pub fn new(event: &'a RecordedEvent, tz: Tz) -> Self {
        Self {
            event_id: event.event_id,
            position: event.position,
            stream: &event.stream,
            version: event.version,
            event_type: &event.event_type,
            schema_version: event.schema_version,
            occurred_at: local_timestamp(event.occurred_at, tz),
            recorded_at: local_timestamp(event.recorded_at, tz),
            actor: &event.actor,
            data: &event.data,
            metadata: &event.metadata,
        }
    }
}

/// One NDJSON line (with its newline) for an event.
pub fn ndjson_line(event: &RecordedEvent, tz: Tz) -> String {
    let mut line = serde_json::to_string(&Record::new(event, tz))
        .expect("a record of strings, numbers and raw JSON always serialises");
    line.push('\n');
    line
}
