//! The pure core of `partyedu`: the event catalog, the value types it is made of, and the
//! decider that judges new events against the facts of the log.
//!
//! No IO, no async, no clock: callers pass the time zone and "today".
//!
//! - [`values`]: ids, study hours, dates and timestamps that cannot hold bad values;
//! - [`kinds`]: the closed vocabularies (org kinds, roles, class forms, …);
//! - [`events`]: the event types, parsing from `(type, data)`, streams, `occurred_at`;
//! - [`time`]: local dates and years in the deployment's time zone;
//! - [`state`]: the facts folded from the log (`evolve`);
//! - [`decide`]: the validation rules (`decide`) and their rejections;
//! - [`upcast`](mod@upcast): reading stored events of older schema versions.

pub mod decide;
pub mod events;
pub mod kinds;
pub mod state;
pub mod time;
pub mod upcast;
pub mod values;

pub use decide::{Decided, Proposed, REASONS, Reason, Rejection, RejectionKind};
pub use events::{Event, ParseError, ParseErrorKind, StreamRef};
pub use state::{IdKind, Scope, State, StoredFact};
pub use upcast::{UpcastError, Upcaster, read_stored, upcast};
pub use values::{Date, Id, StudyHours, Text, Timestamp, TotalHours, UniqueList};
