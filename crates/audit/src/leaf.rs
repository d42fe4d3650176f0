//! The leaf bytes: what the tree commits to for each event (CONTRACT §6 "Audit").
//!
//! A leaf is the RFC 8785 canonical JSON of the record as `GET /api/v1/events` returns it —
//! `position, event_id, stream, version, type, schema_version, occurred_at, recorded_at, actor,
//! data, metadata` — except that both timestamps are written in UTC with exactly three
//! fractional digits (`2024-03-05T03:42:10.412Z`), so that a verifier needs no time-zone table.
//! The store keeps microseconds; the leaf keeps milliseconds, **truncated** (never rounded), so
//! that the database side and an export rendered in any zone, at any precision of a millisecond
//! or finer, produce the same bytes. Both ways in ([`leaf_bytes`] from a stored event,
//! [`leaf_bytes_from_export`] from an exported line) build one [`LeafRecord`] and serialise it
//! in one place.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use partyedu_store::RecordedEvent;
use partyedu_store::canonical::to_canonical_string;
use serde_json::{Map, Value};
use uuid::Uuid;

/// Why an exported record cannot be turned into a leaf.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeafError {
    #[error("the record is not a JSON object")]
    NotAnObject,
    #[error("the record has no `{0}`")]
    Missing(&'static str),
    #[error("`{field}` is not {expected}")]
    Invalid {
        field: &'static str,
        expected: &'static str,
    },
}

/// The fields of a leaf, normalised (UTC timestamps truncated to milliseconds).
#[derive(Clone, Debug, PartialEq)]
pub struct LeafRecord {
    pub position: i64,
    pub event_id: Uuid,
    pub stream: String,
    pub version: i64,
    pub event_type: String,
    pub schema_version: i64,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub actor: String,
    pub data: Value,
    pub metadata: Value,
}

/// A timestamp as the leaf writes it: UTC, milliseconds truncated, `Z`.
pub fn leaf_timestamp(at: DateTime<Utc>) -> String {
    at.trunc_subsecs(3)
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses stored JSON text. Stored text is always JSON within the I-JSON range (the recorder
/// refuses other numbers); should text outside it ever be met, it is hashed as a JSON string of
/// itself, so that every row still has a leaf and a changed row still changes it.
fn stored_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

impl LeafRecord {
    pub fn from_event(event: &RecordedEvent) -> Self {
        Self {
            position: event.position,
            event_id: event.event_id,
            stream: event.stream.clone(),
            version: event.version,
            event_type: event.event_type.clone(),
            schema_version: i64::from(event.schema_version),
            occurred_at: event.occurred_at,
            recorded_at: event.recorded_at,
            actor: event.actor.clone(),
            data: stored_json(event.data.get()),
            metadata: stored_json(event.metadata.get()),
        }
    }

    /// From one exported (or API-returned) record; timestamps may carry any offset and
    /// precision. Fields other than the eleven are ignored: the contract may add fields to the
    /// record, the leaf stays what it is.
    pub fn from_export(record: &Value) -> Result<Self, LeafError> {
        let obj = record.as_object().ok_or(LeafError::NotAnObject)?;
        let field = |name: &'static str| obj.get(name).ok_or(LeafError::Missing(name));
        let int = |name: &'static str| {
            field(name)?.as_i64().ok_or(LeafError::Invalid {
                field: name,
                expected: "an integer",
            })
        };
        let string = |name: &'static str| {
            field(name)?
                .as_str()
                .map(str::to_owned)
                .ok_or(LeafError::Invalid {
                    field: name,
                    expected: "a string",
                })
        };
        let time = |name: &'static str| {
            DateTime::parse_from_rfc3339(&string(name)?)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| LeafError::Invalid {
                    field: name,
                    expected: "an RFC 3339 timestamp",
                })
        };
        let event_id = Uuid::parse_str(&string("event_id")?).map_err(|_| LeafError::Invalid {
            field: "event_id",
            expected: "a UUID",
        })?;
        Ok(Self {
            position: int("position")?,
            event_id,
            stream: string("stream")?,
            version: int("version")?,
            event_type: string("type")?,
            schema_version: int("schema_version")?,
            occurred_at: time("occurred_at")?,
            recorded_at: time("recorded_at")?,
            actor: string("actor")?,
            data: field("data")?.clone(),
            metadata: field("metadata")?.clone(),
        })
    }

    /// The record as the leaf shows it, as a JSON object (also the `record` of a proof file).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("position".into(), self.position.into());
        m.insert("event_id".into(), self.event_id.to_string().into());
        m.insert("stream".into(), self.stream.clone().into());
        m.insert("version".into(), self.version.into());
        m.insert("type".into(), self.event_type.clone().into());
        m.insert("schema_version".into(), self.schema_version.into());
        m.insert(
            "occurred_at".into(),
            leaf_timestamp(self.occurred_at).into(),
        );
        m.insert(
            "recorded_at".into(),
            leaf_timestamp(self.recorded_at).into(),
        );
        m.insert("actor".into(), self.actor.clone().into());
        m.insert("data".into(), self.data.clone());
        m.insert("metadata".into(), self.metadata.clone());
        Value::Object(m)
    }

    /// The leaf bytes: the canonical JSON of [`LeafRecord::to_json`].
    pub fn to_bytes(&self) -> Vec<u8> {
        to_canonical_string(&self.to_json()).into_bytes()
    }
}

/// The leaf bytes of a stored event.
pub fn leaf_bytes(record: &RecordedEvent) -> Vec<u8> {
    LeafRecord::from_event(record).to_bytes()
}

/// The leaf bytes of one exported record (a parsed NDJSON line of `partyedu export`).
pub fn leaf_bytes_from_export(record: &Value) -> Result<Vec<u8>, LeafError> {
    Ok(LeafRecord::from_export(record)?.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;
    use serde_json::value::RawValue;

    fn stored() -> RecordedEvent {
        RecordedEvent {
            event_id: Uuid::parse_str("0192f7c4-0000-7000-8000-000000000001").unwrap(),
            position: 1841,
            stream: "class:C-2024-017".into(),
            version: 1,
            event_type: "ClassHeld".into(),
            schema_version: 1,
            occurred_at: Utc.with_ymd_and_hms(2024, 3, 5, 1, 0, 0).unwrap(),
            // 412.999 ms: truncation keeps 412.
            recorded_at: Utc.with_ymd_and_hms(2024, 3, 5, 3, 42, 10).unwrap()
                + chrono::Duration::microseconds(412_999),
            actor: "office-fushan".into(),
            data: RawValue::from_string(r#"{"b":[1,2.5],"a":"党课"}"#.into()).unwrap(),
            metadata: RawValue::from_string("{}".into()).unwrap(),
        }
    }

    #[test]
    fn leaf_is_the_canonical_record_in_utc_milliseconds() {
        let bytes = String::from_utf8(leaf_bytes(&stored())).unwrap();
        assert_eq!(
            bytes,
            concat!(
                r#"{"actor":"office-fushan","data":{"a":"党课","b":[1,2.5]},"#,
                r#""event_id":"0192f7c4-0000-7000-8000-000000000001","metadata":{},"#,
                r#""occurred_at":"2024-03-05T01:00:00.000Z","position":1841,"#,
                r#""recorded_at":"2024-03-05T03:42:10.412Z","schema_version":1,"#,
                r#""stream":"class:C-2024-017","type":"ClassHeld","version":1}"#
            )
        );
    }

    #[test]
    fn an_export_line_in_local_time_gives_the_same_leaf() {
        let line = json!({
            "event_id": "0192F7C4-0000-7000-8000-000000000001", "position": 1841,
            "stream": "class:C-2024-017", "version": 1, "type": "ClassHeld",
            "schema_version": 1, "occurred_at": "2024-03-05T09:00:00+08:00",
            "recorded_at": "2024-03-05T11:42:10.412999+08:00", "actor": "office-fushan",
            "data": {"a": "党课", "b": [1, 2.5]}, "metadata": {}, "a_later_field": true
        });
        assert_eq!(
            leaf_bytes_from_export(&line).unwrap(),
            leaf_bytes(&stored())
        );
    }

    #[test]
    fn an_export_line_without_a_field_is_refused() {
        let mut line = LeafRecord::from_event(&stored()).to_json();
        line.as_object_mut().unwrap().remove("actor");
        assert_eq!(
            leaf_bytes_from_export(&line),
            Err(LeafError::Missing("actor"))
        );
    }
}
