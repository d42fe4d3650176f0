//! The HTTP API against a real PostgreSQL (a fresh database per test), driven through the
//! router without a socket. The end-to-end tests of the real process are in the repository's
//! top-level `tests/`.

mod access;
mod fixture;
mod openapi;
mod recording;
mod statistics;
mod transfer;

/// The URL of a new database beside the test's own (Postgres cuts names at 63 bytes, so a
/// fresh short name rather than a suffix).
pub fn fixture_database_url(pool: &sqlx::PgPool, purpose: &str) -> String {
    let opts = pool.connect_options();
    format!(
        "postgres://{}@{}:{}/partyedu_{purpose}_{}",
        opts.get_username(),
        opts.get_host(),
        opts.get_port(),
        uuid::Uuid::now_v7().simple()
    )
}
