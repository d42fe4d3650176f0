//! Tests against a real PostgreSQL, with nothing configured: a fresh database per test.
//!
//! The server is found as the `partyedu` binary finds it (`DATABASE_URL`, else libpq's default
//! address, else a private cluster — here in the system's temporary directory, since test data
//! is disposable). One private cluster serves the whole run, however many test processes it has
//! (nextest runs one per test): the process that started it leaves a stopper behind that stops
//! it once no test process has used it for a few seconds.
//!
//! Each test gets a database of its own, named `partyedu_test_<unix time>_<random>`, dropped
//! when the test passes and kept for inspection when it fails; kept ones older than three hours
//! are dropped by later runs.

pub use partyedu_testkit_macros::db_test;

use partyedu_database::{Database, Settings};
use rand::Rng;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection, PgPool};
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::OnceCell;

/// Failed tests' databases older than this are dropped by later runs.
const KEEP_FAILED: Duration = Duration::from_secs(3 * 3600);
const PREFIX: &str = "partyedu_test_";

/// Runs one `#[db_test]`: a fresh database, migrated by `migrator` when given.
pub fn run<F, Fut>(migrator: Option<&'static Migrator>, test: F)
where
    F: FnOnce(PgPool) -> Fut,
    Fut: Future<Output = ()>,
{
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a test runtime")
        .block_on(async {
            let (pool, name) = fresh_database(migrator).await;
            test(pool.clone()).await;
            pool.close().await;
            drop_database(&name).await;
        });
}

/// The URL of the database behind a test's pool, for a child process's `DATABASE_URL`.
pub fn database_url(pool: &PgPool) -> String {
    partyedu_database::url_of(&pool.connect_options())
}

/// Where the test server is, found once per process; it stays held until the process exits.
async fn server() -> &'static Database {
    static SERVER: OnceCell<Database> = OnceCell::const_new();
    SERVER
        .get_or_init(|| async {
            let mut settings = Settings::from_env("postgres");
            settings.cluster_dir = Some(
                std::env::var_os("PARTYEDU_TEST_DATA_DIR")
                    .map(std::path::PathBuf::from)
                    .unwrap_or_else(|| std::env::temp_dir().join("partyedu-test-pg")),
            );
            let database = partyedu_database::locate(&settings)
                .await
                .unwrap_or_else(|err| panic!("no PostgreSQL for the tests: {err}"));
            database.stop_when_idle(Duration::from_secs(5));
            if let Some(note) = database.private_cluster_note() {
                eprintln!("tests: {note}");
            }
            database
        })
        .await
}

async fn maintenance() -> PgConnection {
    let options: PgConnectOptions = server().await.options().clone().database("postgres");
    PgConnection::connect_with(&options)
        .await
        .expect("connecting to the test server's `postgres` database")
}

/// The URL of another, not yet created database on the test's server, named so that a later
/// run drops it if the test leaves it behind.
pub fn sibling_database_url(pool: &PgPool) -> String {
    let (name, _) = new_name();
    partyedu_database::url_of(&pool.connect_options().as_ref().clone().database(&name))
}

/// A fresh database name and the time it carries. Only digits and hex after the prefix: safe
/// to splice into CREATE/DROP DATABASE, and short of PostgreSQL's 63-byte cut.
fn new_name() -> (String, u64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs();
    let name = format!("{PREFIX}{now}_{:016x}", rand::rng().random::<u64>());
    (name, now)
}

async fn fresh_database(migrator: Option<&'static Migrator>) -> (PgPool, String) {
    let (name, now) = new_name();
    let mut admin = maintenance().await;
    drop_stale(&mut admin, now).await;
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("creating the test database");
    admin.close().await.ok();
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .connect_with(server().await.options().clone().database(&name))
        .await
        .expect("connecting to the test database");
    if let Some(migrator) = migrator {
        migrator
            .run(&pool)
            .await
            .expect("migrating the test database");
    }
    (pool, name)
}

/// Drops the kept databases of tests that failed long enough ago.
async fn drop_stale(admin: &mut PgConnection, now: u64) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1")
            .bind(format!("{PREFIX}%"))
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for name in names {
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        let created = name[PREFIX.len()..]
            .split('_')
            .next()
            .and_then(|t| t.parse::<u64>().ok());
        if created.is_some_and(|t| t + KEEP_FAILED.as_secs() < now) {
            let _ = admin
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await;
        }
    }
}

async fn drop_database(name: &str) {
    let mut admin = maintenance().await;
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .await
        .expect("dropping the test database");
    admin.close().await.ok();
}
