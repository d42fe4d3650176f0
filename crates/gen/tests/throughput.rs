//! How fast the generator writes, and how many events a member-year makes. Ignored by default
//! (it writes millions of events); run it in release:
//!
//! ```sh
//! CARGO_TARGET_DIR=/work/target-gen cargo test --release -p partyedu-gen --test throughput -- --ignored --nocapture
//! ```
//!
//! `GEN_MEMBERS` and `GEN_YEARS` change the size (default 100,000 members over 5 years).

mod common;

use std::io::{self, Write};
use std::time::Instant;

/// Counts the bytes written and drops them.
struct Counting(u64);

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
#[ignore = "writes about 10 million events; run in release with --ignored --nocapture"]
fn throughput_of_a_hundred_thousand_members_over_five_years() {
    let var = |name: &str, default: usize| {
        std::env::var(name).map_or(default, |v| v.parse().expect("a number"))
    };
    let (members, years) = (var("GEN_MEMBERS", 100_000), var("GEN_YEARS", 5) as u32);
    let config = common::config(members, years, 1);
    let mut out = Counting(0);
    let started = Instant::now();
    let summary = partyedu_gen::generate(&config, &mut out).unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let member_years = (members * years as usize) as f64;
    println!(
        "members={members} years={years}: {} events, {:.1} MB, {:.1} s, {:.0} events/s, {:.1} events per member-year, {:.0} bytes per event",
        summary.events,
        out.0 as f64 / 1e6,
        elapsed,
        summary.events as f64 / elapsed,
        summary.events as f64 / member_years,
        out.0 as f64 / summary.events as f64,
    );
    for (name, count) in &summary.by_type {
        println!("{name:>24} {count:>10}");
    }
    assert!(summary.events as f64 / elapsed >= 300_000.0);
}
