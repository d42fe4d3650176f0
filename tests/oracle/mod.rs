//! The tests' oracle is `partyedu-figures` (crates/figures): a plain fold of the records into
//! CONTRACT §4, independent of the production code, which `partyedu verify --figure` uses as
//! well. This module gives it the name the tests use, with the scenarios beside it.

// Compiled into several test binaries, which do not use every item.
#![allow(dead_code, unused_imports)]

pub use partyedu_figures::*;

pub mod scenarios;
