//! Shared by the generator's tests: generating a history into memory and reading it back.

// Each test binary uses a part of this module.
#![allow(dead_code)]

use chrono::NaiveDate;
use partyedu_gen::{GenConfig, GenSummary, generate};
use serde_json::Value;

/// The last day of the histories under test, unless a test says otherwise.
pub fn until() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 12, 31).unwrap()
}

pub fn config(members: usize, years: u32, seed: u64) -> GenConfig {
    GenConfig::new(members, years, seed, until())
}

pub fn history(config: &GenConfig) -> (Vec<u8>, GenSummary) {
    let mut out = Vec::new();
    let summary = generate(config, &mut out).expect("writing to memory cannot fail");
    (out, summary)
}

/// The records of an NDJSON history, each with its 1-based line number.
pub fn records(bytes: &[u8]) -> impl Iterator<Item = (usize, Value)> + '_ {
    bytes
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .enumerate()
        .map(|(i, line)| {
            let record = serde_json::from_slice(line).unwrap_or_else(|e| {
                panic!("line {}: {e}: {}", i + 1, String::from_utf8_lossy(line))
            });
            (i + 1, record)
        })
}
