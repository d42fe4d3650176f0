//! Every generated event is valid: replayed in output order through one domain `State`, in
//! batches as a client would record them, nothing is refused; and each envelope says what the
//! store would derive from the data.

mod common;

use chrono::{DateTime, FixedOffset};
use partyedu_domain::{Date, Event, Proposed, State, StoredFact, Timestamp, time::local_date};
use serde_json::{Value, json};
use uuid::Uuid;

const BATCH: usize = 200;

/// Replays a history; panics with the first refused event and its line.
fn replay(members: usize, years: u32, seed: u64) {
    let config = common::config(members, years, seed);
    let (bytes, summary) = common::history(&config);
    let today = Date::from_naive(config.until);
    let mut state = State::new(config.tz);
    let mut position = 0_i64;
    let mut batch: Vec<(usize, Value, Proposed)> = Vec::with_capacity(BATCH);
    let mut flush = |batch: &mut Vec<(usize, Value, Proposed)>| {
        let proposed = batch.iter().map(|(_, _, p)| p.clone()).collect();
        match state.decide(proposed, today) {
            Ok(decided) => {
                for d in decided {
                    position += 1;
                    let event_id = d.event_id.expect("generated events carry their ids");
                    state.evolve(&StoredFact {
                        event_id,
                        position,
                        event: d.event,
                    });
                }
            }
            Err(rejections) => {
                let first = &rejections[0];
                let index: usize = first.path["events[".len()..]
                    .split(']')
                    .next()
                    .and_then(|i| i.parse().ok())
                    .expect("rejections name the event");
                let (line, record, _) = &batch[index];
                panic!(
                    "members={members} years={years} seed={seed}: line {line} refused: {first}\n{record}"
                );
            }
        }
        batch.clear();
    };
    let mut count = 0;
    for (line, record) in common::records(&bytes) {
        let event = check_envelope(line, &record, &config);
        let event_id = record["event_id"].as_str().unwrap().parse().unwrap();
        let proposed = Proposed {
            event,
            event_id: Some(event_id),
        };
        batch.push((line, record, proposed));
        if batch.len() == BATCH {
            flush(&mut batch);
        }
        count += 1;
    }
    flush(&mut batch);
    assert_eq!(count, summary.events, "the summary counts every line");
    assert!(
        summary.events > 100,
        "a non-trivial history: {}",
        summary.events
    );
}

/// Checks one record's envelope against CONTRACT §1 and returns its parsed event.
fn check_envelope(line: usize, record: &Value, config: &partyedu_gen::GenConfig) -> Event {
    let fields: Vec<&str> = record
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "actor",
        "data",
        "event_id",
        "metadata",
        "occurred_at",
        "schema_version",
        "type",
    ];
    expected.sort_unstable();
    assert_eq!(fields, expected, "line {line}");
    let type_name = record["type"].as_str().unwrap();
    let event = Event::parse(type_name, record["data"].clone())
        .unwrap_or_else(|e| panic!("line {line}: {e}\n{record}"));
    assert_eq!(
        record["schema_version"],
        json!(Event::schema_version_of(type_name).unwrap())
    );
    assert_eq!(record["metadata"], json!({}));
    assert!(!record["actor"].as_str().unwrap().is_empty());
    record["event_id"]
        .as_str()
        .unwrap()
        .parse::<Uuid>()
        .unwrap();
    let text = record["occurred_at"].as_str().unwrap();
    assert!(text.ends_with("+08:00"), "line {line}: {text}");
    let occurred_at = DateTime::<FixedOffset>::parse_from_rfc3339(text).unwrap();
    if let Some(own) = event.own_occurred_at(config.tz) {
        assert_eq!(
            occurred_at, own,
            "line {line}: occurred_at is the event's own"
        );
    }
    // Nothing is dated after `until`: neither the envelope nor the data.
    let until = Date::from_naive(config.until);
    assert!(
        local_date(Timestamp::from_datetime(occurred_at), config.tz) <= until,
        "line {line}"
    );
    assert!(
        event.date(config.tz).is_none_or(|d| d <= until),
        "line {line}"
    );
    event
}

#[test]
fn a_tiny_history_is_valid() {
    replay(20, 1, 1);
    replay(20, 1, 2);
}

#[test]
fn a_small_history_of_three_years_is_valid() {
    replay(300, 3, 7);
}

#[test]
fn a_larger_history_is_valid() {
    replay(2000, 2, 42);
}

#[test]
fn a_history_cut_mid_year_ends_at_until() {
    let mut config = common::config(150, 2, 5);
    config.until = "2025-05-14".parse().unwrap();
    let (bytes, _) = common::history(&config);
    let last = common::records(&bytes).last().unwrap().1;
    let first = common::records(&bytes).next().unwrap().1;
    assert!(
        first["occurred_at"]
            .as_str()
            .unwrap()
            .starts_with("2024-01-01")
    );
    assert!(last["occurred_at"].as_str().unwrap() <= "2025-05-14T23:59:59+08:00");
    assert!(last["occurred_at"].as_str().unwrap() >= "2025-05-01");
}

#[test]
fn occurred_at_never_decreases() {
    let (bytes, _) = common::history(&common::config(300, 2, 3));
    let mut previous = String::new();
    for (line, record) in common::records(&bytes) {
        let at = record["occurred_at"].as_str().unwrap().to_owned();
        assert!(at >= previous, "line {line}: {at} after {previous}");
        previous = at;
    }
}
