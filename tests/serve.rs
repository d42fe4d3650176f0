//! End-to-end: the real `partyedu serve` process against a real PostgreSQL.

mod common;

use common::Server;
use sqlx::PgPool;
use sqlx::migrate::MigrateDatabase;

async fn get_status(url: String) -> u16 {
    reqwest::get(url).await.unwrap().status().as_u16()
}

/// The server migrates the database it is given, answers its probes, and stops cleanly on
/// SIGTERM.
#[partyedu_testkit::db_test(migrations = false)]
async fn serves_probes_and_stops_on_sigterm(pool: PgPool) {
    let mut server = Server::start(&partyedu_testkit::database_url(&pool));
    assert_eq!(
        get_status(format!("{}/healthz", server.base_url)).await,
        200
    );
    assert_eq!(get_status(format!("{}/readyz", server.base_url)).await, 200);
    assert!(server.terminate(), "a clean exit after SIGTERM");
    server.wait_for_log("stopped");
    let pending = partyedu_store::migrations_pending(&pool).await.unwrap();
    assert_eq!(pending, 0);
}

/// A database that does not exist yet is created.
#[partyedu_testkit::db_test(migrations = false)]
async fn creates_a_missing_database(pool: PgPool) {
    // A name of its own (Postgres cuts names at 63 bytes, so no suffix on the test's name).
    let url = partyedu_testkit::sibling_database_url(&pool);
    sqlx::Postgres::drop_database(&url).await.ok();
    let mut server = Server::start(&url);
    assert_eq!(get_status(format!("{}/readyz", server.base_url)).await, 200);
    assert!(server.terminate());
    assert!(sqlx::Postgres::database_exists(&url).await.unwrap());
    sqlx::Postgres::force_drop_database(&url).await.unwrap();
}
