//! The statistics of partyedu: the projection engine, the read models it maintains, the rule
//! sets that define what counts, and the queries that answer CONTRACT §4.

pub mod engine;
mod facts;
pub mod ledgers;
pub mod query;
pub mod rules;
pub mod standings;

pub use engine::{Projector, RunOptions, ensure_projection};
pub use rules::{RuleBook, RuleSet};
