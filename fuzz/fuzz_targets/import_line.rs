//! One NDJSON import line, through `transfer::import` as `partyedu import` runs it. A second
//! line that is never valid follows it, so every file is refused after every line was parsed
//! and validated, and no database is ever reached (the pool is lazy and points nowhere).
#![no_main]

use libfuzzer_sys::fuzz_target;
use partyedu_server::recorder::Recorder;
use partyedu_server::transfer;
use std::sync::OnceLock;

fn setup() -> &'static (tokio::runtime::Runtime, Recorder) {
    static SETUP: OnceLock<(tokio::runtime::Runtime, Recorder)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let recorder = runtime.block_on(async {
            let options =
                partyedu_store::connect_options("postgres://fuzz@127.0.0.1:1/none").expect("a URL");
            let pool = partyedu_store::pool_options(1).connect_lazy_with(options);
            Recorder::new(
                partyedu_store::EventStore::new(pool),
                chrono_tz::Asia::Shanghai,
            )
        });
        (runtime, recorder)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let file = format!("{}\n{{\n", line.replace(['\n', '\r'], " "));
    let (runtime, recorder) = setup();
    let result = runtime.block_on(transfer::import(
        recorder,
        file.as_bytes(),
        "fuzz",
        |_, _| {},
    ));
    assert!(
        matches!(result, Err(transfer::ImportError::Refused(_))),
        "the file has a refused line"
    );
});
