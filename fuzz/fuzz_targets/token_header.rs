//! An `Authorization` header of any bytes, through the real router's token check. The
//! database is never reached for a malformed header; for a well-formed one the lookup fails
//! fast (the pool points nowhere) and must answer in the error shape, never panic.
#![no_main]

use axum::body::Body;
use axum::http::{HeaderValue, Request};
use libfuzzer_sys::fuzz_target;
use partyedu_server::{AppState, Limits, Stats};
use std::sync::OnceLock;
use tower::ServiceExt;

fn setup() -> &'static (tokio::runtime::Runtime, axum::Router) {
    static SETUP: OnceLock<(tokio::runtime::Runtime, axum::Router)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let app = runtime.block_on(async {
            let options =
                partyedu_store::connect_options("postgres://fuzz@127.0.0.1:1/none").expect("a URL");
            let pool = partyedu_store::pool_options(1)
                .acquire_timeout(std::time::Duration::from_millis(50))
                .connect_lazy_with(options);
            let state = AppState::new(
                partyedu_store::EventStore::new(pool),
                chrono_tz::Asia::Shanghai,
                Limits::default(),
                Stats::shipped(),
            );
            partyedu_server::app(state)
        });
        (runtime, app)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(header) = HeaderValue::from_bytes(data) else {
        return;
    };
    let (runtime, app) = setup();
    let request = Request::get("/api/v1/rules")
        .header("authorization", header)
        .body(Body::empty())
        .unwrap();
    let response = runtime.block_on(app.clone().oneshot(request)).unwrap();
    let status = response.status().as_u16();
    assert!(
        status == 401 || status == 500 || status == 503,
        "a token that cannot be looked up: {status}"
    );
});
