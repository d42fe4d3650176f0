//! The same config gives the same bytes; another seed another history.

mod common;

#[test]
fn same_config_same_bytes() {
    let config = common::config(500, 2, 11);
    let (first, first_summary) = common::history(&config);
    let (second, second_summary) = common::history(&config);
    assert!(first == second, "two runs of one config differ");
    assert_eq!(first_summary, second_summary);
}

#[test]
fn another_seed_another_history() {
    let (first, _) = common::history(&common::config(500, 2, 11));
    let (second, _) = common::history(&common::config(500, 2, 12));
    assert!(first != second);
}
