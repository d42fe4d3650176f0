//! RFC 8785 canonical JSON: any JSON value canonicalizes, the result parses back to the same
//! value, and canonicalizing it again changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use partyedu_store::canonical::to_canonical_string;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let canonical = to_canonical_string(&value);
    let back: Value = serde_json::from_str(&canonical).expect("canonical JSON parses");
    assert_eq!(
        to_canonical_string(&back),
        canonical,
        "canonical form is stable"
    );
});
