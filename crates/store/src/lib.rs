//! The PostgreSQL event store of partyedu.
//!
//! It is generic over payloads: an event is a stream name, a type name, a schema version and
//! JSON data; it knows no domain type. What it guarantees:
//! - appends are atomic, one SQL statement per batch (version checks and every row together);
//! - positions form a gap-safe global order (see [`read`] and `README.md` beside this crate);
//! - stored events are immutable (database triggers refuse UPDATE, DELETE, TRUNCATE);
//! - an idempotency key makes a retried append return its original result.

mod append;
pub mod canonical;
mod error;
mod notify;
pub mod read;
mod subscribe;

pub use append::{AppendBatch, Appended, ExpectedVersion, NewEvent, PositionSource};
pub use error::AppendError;
pub use read::{Page, RecordedEvent};
pub use subscribe::Subscription;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::time::Duration;

/// The schema migrations; every crate that tests against the store uses this migrator.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The largest batch one append takes: positions within a transaction are `xid * 65536 + n`.
pub const MAX_BATCH: usize = 65_535;

/// The NOTIFY channel appends announce themselves on.
pub const CHANNEL: &str = "partyedu_events";

/// A handle on the event store; cheap to clone.
#[derive(Clone, Debug)]
pub struct EventStore {
    pool: PgPool,
    notifier: notify::Notifier,
    position_source: PositionSource,
}

impl EventStore {
    /// Wraps an existing pool (e.g. a test's fresh database).
    pub fn new(pool: PgPool) -> Self {
        let notifier = notify::Notifier::spawn(pool.clone());
        Self {
            pool,
            notifier,
            position_source: PositionSource::TransactionId,
        }
    }

    /// The same store with positions from another source; only the benchmark uses this.
    #[doc(hidden)]
    pub fn with_position_source(mut self, source: PositionSource) -> Self {
        self.position_source = source;
        self
    }

    /// The pool the store was built on.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Wakes subscribers (in every process, through NOTIFY) after events were committed by a
    /// caller's own transaction, see [`EventStore::append_in`].
    pub fn announce_commit(&self) {
        self.notifier.announce();
    }
}

/// Pool settings for a service or a benchmark.
///
/// The health-check ping sqlx runs on every acquire costs a round trip per append (measured:
/// 20–33% of a single-event append); a broken connection surfaces as an error on first use instead
/// and is then dropped from the pool.
pub fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(false)
}

/// Connect options with the session settings the store relies on.
///
/// `idle_in_transaction_session_timeout` bounds how long a forgotten open transaction can hold
/// back the read horizon of every reader.
pub fn connect_options(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    Ok(session_options(url.parse()?))
}

/// `options` with the session settings the store relies on (see [`connect_options`]).
pub fn session_options(options: PgConnectOptions) -> PgConnectOptions {
    options.options([("idle_in_transaction_session_timeout", "60000")])
}

/// Creates the database `options` names, through the server's `postgres` database, when
/// connecting to it says it does not exist.
async fn create_database_if_missing(options: &PgConnectOptions) -> Result<(), sqlx::Error> {
    use sqlx::{Connection, PgConnection};
    match PgConnection::connect_with(options).await {
        Ok(connection) => connection.close().await,
        Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some("3D000") => {
            let name = options
                .get_database()
                .unwrap_or_default()
                .replace('"', "\"\"");
            tracing::info!(database = name, "creating the database");
            let mut admin =
                PgConnection::connect_with(&options.clone().database("postgres")).await?;
            let created = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut admin)
                .await;
            admin.close().await?;
            match created {
                // Another process created it first.
                Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some("42P04") => Ok(()),
                other => other.map(drop),
            }
        }
        Err(err) => Err(err),
    }
}

/// How many of this build's migrations the database has not applied (successfully) yet.
pub async fn migrations_pending(pool: &PgPool) -> Result<usize, sqlx::Error> {
    let applied: Vec<i64> =
        match sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await
        {
            Ok(versions) => versions,
            // No migration table yet: nothing applied.
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42P01") => Vec::new(),
            Err(err) => return Err(err),
        };
    Ok(MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration() && !applied.contains(&m.version))
        .count())
}

/// Creates the database `options` names when it does not exist, then applies the migrations.
pub async fn prepare_database(options: &PgConnectOptions) -> Result<PgPool, sqlx::Error> {
    create_database_if_missing(options).await?;
    let pool = pool_options(16)
        .connect_with(session_options(options.clone()))
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}
