//! Upcasting: brings a stored event's data from the schema version it was written in to the
//! current one, so that the rest of the code only ever sees current types. The log is never
//! rewritten; old payloads are translated on read, one version step at a time.
//!
//! To change an event type: bump its version in the `catalog!` list in `events.rs`, add a
//! step from the old version to [`Upcaster::standard`], commit the new schema file
//! (`UPDATE_SCHEMAS=1`), and note it in `events/CHANGELOG.md`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::events::{Event, ParseError};

/// Turns data of one version into data of the next version.
pub type Step = fn(Value) -> Result<Value, String>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpcastError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("{type_name} v{version} is newer than this build knows (v{current})")]
    TooNew {
        type_name: String,
        version: u32,
        current: u32,
    },
    #[error("no upcaster for {type_name} from v{version}")]
    MissingStep { type_name: String, version: u32 },
    #[error("upcasting {type_name} from v{version} failed: {problem}")]
    StepFailed {
        type_name: String,
        version: u32,
        problem: String,
    },
    #[error("after upcasting, {0}")]
    Parse(#[from] ParseError),
    #[error("stored data is not readable: {0}")]
    Malformed(String),
}

/// A table of steps, one per (event type, version it upgrades from).
#[derive(Debug, Clone, Default)]
pub struct Upcaster {
    steps: BTreeMap<(String, u32), Step>,
}

impl Upcaster {
    /// The steps this build ships. Every type is still at v1, so there are none yet.
    pub fn standard() -> Self {
        Upcaster::default()
    }

    /// Adds the step that upgrades `type_name` data from `from_version` to `from_version + 1`.
    pub fn with_step(mut self, type_name: &str, from_version: u32, step: Step) -> Self {
        self.steps
            .insert((type_name.to_owned(), from_version), step);
        self
    }

    /// Brings `data`, written as `type_name` at `version`, up to `current`.
    fn upcast_to(
        &self,
        type_name: &str,
        version: u32,
        current: u32,
        mut data: Value,
    ) -> Result<Value, UpcastError> {
        if version > current {
            return Err(UpcastError::TooNew {
                type_name: type_name.to_owned(),
                version,
                current,
            });
        }
        for from in version..current {
            let step = self
                .steps
                .get(&(type_name.to_owned(), from))
                .ok_or_else(|| UpcastError::MissingStep {
                    type_name: type_name.to_owned(),
                    version: from,
                })?;
            data = step(data).map_err(|problem| UpcastError::StepFailed {
                type_name: type_name.to_owned(),
                version: from,
                problem,
            })?;
        }
        Ok(data)
    }

    /// Brings `data`, written as `type_name` at `version`, up to the type's current version.
    pub fn upcast(&self, type_name: &str, version: u32, data: Value) -> Result<Value, UpcastError> {
        let current = Event::schema_version_of(type_name)
            .ok_or_else(|| UpcastError::UnknownType(type_name.to_owned()))?;
        self.upcast_to(type_name, version, current, data)
    }

    /// Reads a stored event: upcast, then parse as the current type.
    pub fn read(&self, type_name: &str, version: u32, data: Value) -> Result<Event, UpcastError> {
        let data = self.upcast(type_name, version, data)?;
        Ok(Event::parse(type_name, data)?)
    }

    /// Reads a stored event as the log keeps it: its data as JSON text and its schema version
    /// as stored.
    pub fn read_stored_text(
        &self,
        type_name: &str,
        version: i32,
        data: &str,
    ) -> Result<Event, UpcastError> {
        let version = u32::try_from(version).map_err(|e| UpcastError::Malformed(e.to_string()))?;
        let data: Value =
            serde_json::from_str(data).map_err(|e| UpcastError::Malformed(e.to_string()))?;
        self.read(type_name, version, data)
    }
}

/// [`Upcaster::upcast`] with the shipped steps.
pub fn upcast(type_name: &str, schema_version: u32, data: Value) -> Result<Value, UpcastError> {
    Upcaster::standard().upcast(type_name, schema_version, data)
}

/// Reads a stored event of any known version as the current [`Event`].
pub fn read_stored(
    type_name: &str,
    schema_version: u32,
    data: Value,
) -> Result<Event, UpcastError> {
    Upcaster::standard().read(type_name, schema_version, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A made-up v0 of `OnlineStudyLogged` that said `hours` and `day` and had no platform.
    fn online_study_v0_to_v1(mut data: Value) -> Result<Value, String> {
        let object = data.as_object_mut().ok_or("data is not an object")?;
        let hours = object.remove("hours").ok_or("no `hours`")?;
        let day = object.remove("day").ok_or("no `day`")?;
        object.insert("study_hours".into(), hours);
        object.insert("studied_on".into(), day);
        object.insert("platform".into(), json!("other"));
        Ok(data)
    }

    fn v0_payload() -> Value {
        json!({"log_id": "L-1", "member_id": "M-1", "day": "2024-05-01", "hours": 1.5})
    }

    #[test]
    fn a_v0_payload_reads_back_as_v1() {
        let upcaster =
            Upcaster::standard().with_step("OnlineStudyLogged", 0, online_study_v0_to_v1);
        let event = upcaster.read("OnlineStudyLogged", 0, v0_payload()).unwrap();
        assert_eq!(
            event.data(),
            json!({"log_id": "L-1", "member_id": "M-1", "platform": "other",
                   "studied_on": "2024-05-01", "study_hours": 1.5})
        );
    }

    #[test]
    fn current_data_passes_unchanged_and_gaps_are_errors() {
        let v1 = json!({"member_id": "M-1", "on": "2024-05-01"});
        assert_eq!(upcast("MemberReturned", 1, v1.clone()), Ok(v1.clone()));
        assert!(matches!(
            upcast("OnlineStudyLogged", 0, v0_payload()),
            Err(UpcastError::MissingStep { version: 0, .. })
        ));
        assert!(matches!(
            upcast("MemberReturned", 2, v1.clone()),
            Err(UpcastError::TooNew { .. })
        ));
        assert!(matches!(
            upcast("MemberVanished", 1, v1),
            Err(UpcastError::UnknownType(_))
        ));
    }

    #[test]
    fn steps_chain_across_versions() {
        fn add_a(mut data: Value) -> Result<Value, String> {
            data["a"] = json!(true);
            Ok(data)
        }
        fn add_b(mut data: Value) -> Result<Value, String> {
            data["b"] = json!(true);
            Ok(data)
        }
        let upcaster = Upcaster::standard()
            .with_step("Synthetic", 1, add_a)
            .with_step("Synthetic", 2, add_b);
        assert_eq!(
            upcaster.upcast_to("Synthetic", 1, 3, json!({})),
            Ok(json!({"a": true, "b": true}))
        );
    }
}
