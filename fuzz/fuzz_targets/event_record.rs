//! An event record as a POST body's element carries it: `{"type": …, "data": …}` decoded by
//! the domain (`Event::parse`), and the whole body as the batch endpoint reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let records = match value.get("events") {
        Some(Value::Array(events)) => events.clone(),
        _ => vec![value],
    };
    for record in records {
        let Some(type_name) = record.get("type").and_then(Value::as_str) else {
            continue;
        };
        let data = record.get("data").cloned().unwrap_or(Value::Null);
        let _ = partyedu_domain::Event::parse(type_name, data);
    }
});
