//! Time limits (CONTRACT §6, issues 7 and 11): a read statement past its limit and a request
//! past its limit answer `503 timeout` in the error shape; a request that is dropped — cut by
//! its limit, or its client gone — leaves no statement running; a client that sends no headers
//! is disconnected.
//!
//! A statement is made slow the honest way: the test holds a lock the statistic's reads need.

use crate::fixture::Api;
use axum::http::StatusCode;
use partyedu_server::{AppState, Limits, READ_APPLICATION, Stats, Timeouts};
use partyedu_store::EventStore;
use sqlx::PgPool;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn state(pool: &PgPool, timeouts: Timeouts) -> AppState {
    AppState::new(
        EventStore::new(pool.clone()),
        chrono_tz::Asia::Shanghai,
        Limits::default(),
        Stats::shipped(),
    )
    .with_timeouts(timeouts)
}

/// Holds an exclusive lock on the participations until dropped (rolled back).
async fn block_participations(pool: &PgPool) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE rm_participations IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

/// Read statements of this database's read sessions that are running now.
async fn running_reads(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
           AND application_name = $1 AND state = 'active' AND query LIKE '%rm_participations%'",
    )
    .bind(READ_APPLICATION)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn wait_for_reads(pool: &PgPool, want: impl Fn(i64) -> bool, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if want(running_reads(pool).await) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn a_read_statement_past_its_limit_answers_503_timeout(pool: PgPool) {
    let timeouts = Timeouts {
        statement: Duration::from_millis(200),
        ..Timeouts::default()
    };
    let mut api = Api::with_state(pool.clone(), state(&pool, timeouts)).await;
    let lock = block_participations(&pool).await;
    let started = Instant::now();
    let (status, body) = api.get("viewer", "/api/v1/coverage?year=2024").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "timeout", "{body}");
    assert!(
        body["error"]["details"].is_array(),
        "the error shape: {body}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(lock);
    let (status, body) = api.get("viewer", "/api/v1/coverage?year=2024").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A limit of 1 ms, as an operator may set it, cuts the log's reads as well.
    let timeouts = Timeouts {
        statement: Duration::from_millis(1),
        ..Timeouts::default()
    };
    api.app = partyedu_server::app(state(&pool, timeouts));
    let lock = block_participations(&pool).await;
    let (status, body) = api.get("viewer", "/api/v1/ledgers/classes?year=2024").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "timeout", "{body}");
    drop(lock);
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .unwrap();
    let (status, body) = api.get("auditor", "/api/v1/events").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "timeout", "{body}");
    tx.rollback().await.unwrap();
}

/// The request's own limit answers in the error shape, and the statement it was waiting on is
/// cancelled, not left to run (the lock is still held when it is checked).
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn a_request_past_its_limit_answers_503_and_its_statement_stops(pool: PgPool) {
    let timeouts = Timeouts {
        request: Duration::from_millis(500),
        ..Timeouts::default()
    };
    let api = Api::with_state(pool.clone(), state(&pool, timeouts)).await;
    let lock = block_participations(&pool).await;
    let (status, body) = api.get("viewer", "/api/v1/coverage?year=2024").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "timeout", "{body}");
    assert!(
        wait_for_reads(&pool, |n| n == 0, Duration::from_secs(3)).await,
        "the cut request's statement still runs"
    );
    drop(lock);
}

/// Through a real socket: a client that hangs up mid-request leaves no statement running; one
/// that never finishes its headers is disconnected.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn a_client_that_goes_away_leaves_no_query_running(pool: PgPool) {
    let timeouts = Timeouts {
        header_read: Duration::from_millis(300),
        ..Timeouts::default()
    };
    let api = Api::with_state(pool.clone(), state(&pool, timeouts)).await;
    let token = api.token("viewer").to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(partyedu_server::serve(
        listener,
        state(&pool, timeouts),
        async move {
            let _ = stopped.await;
        },
    ));

    let lock = block_participations(&pool).await;
    let mut client = tokio::net::TcpStream::connect(address).await.unwrap();
    client
        .write_all(
            format!(
                "GET /api/v1/coverage?year=2024 HTTP/1.1\r\nHost: test\r\n\
                 Authorization: Bearer {token}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    assert!(
        wait_for_reads(&pool, |n| n == 1, Duration::from_secs(5)).await,
        "the request's statement waits on the lock"
    );
    drop(client);
    assert!(
        wait_for_reads(&pool, |n| n == 0, Duration::from_secs(3)).await,
        "the statement of a request whose client went away still runs"
    );
    drop(lock);

    // Half a request line, then nothing: the server closes the connection.
    let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: te")
        .await
        .unwrap();
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(3), slow.read_to_end(&mut buffer)).await;
    assert!(
        read.is_ok(),
        "a client that sends no headers is not disconnected"
    );

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// A database pool with no connection to spare (every one in use past the acquire timeout)
/// answers `503 unavailable` in the error shape with `Retry-After`, not `500` (issue 11): the
/// request was fine and may be sent again. Reads and recordings alike; the API recovers as
/// soon as a connection is free.
#[partyedu_testkit::db_test(migrator = "partyedu_store::MIGRATOR")]
async fn an_exhausted_pool_answers_503_unavailable_with_retry_after(pool: PgPool) {
    let small = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_millis(500))
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    let api = Api::with_state(pool.clone(), state(&small, Timeouts::default())).await;
    let send = |method: &str, uri: &str, token: &str, body: Option<String>| {
        let request = axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {}", api.token(token)))
            .header("content-type", "application/json")
            .body(body.map(axum::body::Body::from).unwrap_or_default())
            .unwrap();
        let app = api.app.clone();
        async move {
            use tower::ServiceExt;
            let response = app.oneshot(request).await.unwrap();
            let status = response.status();
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            (status, retry_after, body)
        }
    };
    let class = serde_json::json!({"events": [{"type": "OrgUnitEstablished", "data": {
        "org_id": "SD", "name": "街道", "kind": "subdistrict", "parent_id": null,
        "established_on": "2019-01-01"}}]})
    .to_string();

    let held = small.acquire().await.unwrap();
    for (method, uri, token, body) in [
        ("GET", "/api/v1/coverage?year=2024", "viewer", None),
        ("GET", "/api/v1/events", "auditor", None),
        ("POST", "/api/v1/events", "recorder", Some(class.clone())),
        ("GET", "/api/v1/tokens", "admin", None),
    ] {
        let started = Instant::now();
        let (status, retry_after, body) = send(method, uri, token, body).await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{method} {uri}: {body}"
        );
        assert_eq!(
            body["error"]["code"], "unavailable",
            "{method} {uri}: {body}"
        );
        assert!(body["error"]["message"].is_string(), "{body}");
        assert!(body["error"]["details"].is_array(), "{body}");
        let seconds: u64 = retry_after
            .expect("Retry-After on 503 unavailable")
            .parse()
            .expect("Retry-After in seconds");
        assert!(seconds >= 1, "{seconds}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    drop(held);
    let (status, retry_after, body) =
        send("POST", "/api/v1/events", "recorder", Some(class.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(retry_after, None);
    let (status, _, body) = send("GET", "/api/v1/coverage?year=2024", "viewer", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
