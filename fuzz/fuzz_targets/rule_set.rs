//! A rule-set file (TOML) as `--rules-dir` loads it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = partyedu_projections::rules::RuleSet::parse("fuzz.toml", text);
    }
});
