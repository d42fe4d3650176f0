//! Bounded reads (CONTRACT §6 "Time limits"): every read statement of the statistics and log
//! endpoints runs on the read pool, whose sessions carry `statement_timeout`, so a statement
//! that runs too long is cut by PostgreSQL and answers `503 timeout`; and a statistic's query is
//! cancelled when its request is dropped — the client went away (hyper drops the handler) or
//! the request's own time limit cut it.
//!
//! Why a guard: when a sqlx query future is dropped mid-statement, sqlx returns the connection
//! to its pool only after draining the statement's results (its release ping waits for them),
//! so the statement runs on to its end. [`ReadConn`] instead takes a connection that was
//! dropped mid-request out of the pool (nobody else can then reach that backend), asks
//! PostgreSQL to cancel its statement (`pg_cancel_backend`) and closes it. PostgreSQL's
//! `client_connection_check_interval` (set on the read sessions where the server has it, 14 and
//! later) is the second line: a backend whose client socket is gone stops on its own.

use crate::error::ApiError;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgPoolOptions};
use sqlx::{PgPool, Postgres};
use std::time::Duration;

/// Time limits of the service. The defaults suit a dashboard: a statistic that needs more than
/// 10 s is a bug or an overload, and answering `503 timeout` is better than holding a
/// connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Longest one read statement of the statistics and log endpoints may run (PostgreSQL's
    /// `statement_timeout` on the read sessions); past it the request answers `503 timeout`.
    /// Below a millisecond counts as one millisecond (0 would switch the limit off).
    pub statement: Duration,
    /// Longest a request may take until its answer starts (a streamed body, such as the
    /// NDJSON log, then flows on, each page bounded by `statement`); past it `503 timeout`.
    pub request: Duration,
    /// Longest a client may take to send a request's headers, also while a kept-alive
    /// connection waits for the next request; past it the connection is closed.
    pub header_read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            statement: Duration::from_secs(10),
            request: Duration::from_secs(30),
            header_read: Duration::from_secs(20),
        }
    }
}

/// `statement_timeout` in PostgreSQL's unit (ms), never 0.
fn millis(limit: Duration) -> String {
    limit.as_millis().clamp(1, i32::MAX as u128).to_string()
}

/// The application name of the read sessions (`pg_stat_activity.application_name`).
pub const READ_APPLICATION: &str = "partyedu-reads";

/// A pool for reads beside `primary`: the same database and size, sessions named
/// [`READ_APPLICATION`] with `statement_timeout` set. Connects lazily.
pub(crate) fn read_pool(primary: &PgPool, timeouts: &Timeouts) -> PgPool {
    let options = (*primary.connect_options())
        .clone()
        .application_name(READ_APPLICATION)
        .options([("statement_timeout", millis(timeouts.statement))]);
    PgPoolOptions::new()
        .max_connections(primary.options().get_max_connections())
        .acquire_timeout(primary.options().get_acquire_timeout())
        .test_before_acquire(false)
        .after_connect(|conn, _| {
            Box::pin(async move {
                if conn.server_version_num().is_some_and(|v| v >= 140_000) {
                    // Best effort: without it, the guard's cancel still stops the statement.
                    let _ = sqlx::query("SET client_connection_check_interval = 1000")
                        .execute(&mut *conn)
                        .await;
                }
                Ok(())
            })
        })
        .connect_lazy_with(options)
}

/// A read-pool connection for one request, cancelled when the request is dropped before
/// [`ReadConn::release`].
pub(crate) struct ReadConn {
    conn: Option<PoolConnection<Postgres>>,
    pid: i32,
    /// Where a cancel is sent from (not the read pool: its statement limit may be tiny).
    primary: PgPool,
}

impl ReadConn {
    pub(crate) async fn acquire(state: &crate::AppState) -> Result<Self, ApiError> {
        let mut conn = state.reads.acquire().await?;
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut *conn)
            .await?;
        Ok(Self {
            conn: Some(conn),
            pid,
            primary: state.store.pool().clone(),
        })
    }

    pub(crate) fn conn(&mut self) -> &mut PgConnection {
        self.conn.as_mut().expect("a connection until released")
    }

    /// The request is done with it (answered or refused): back to the pool as usual.
    pub(crate) fn release(mut self) {
        drop(self.conn.take());
    }
}

impl Drop for ReadConn {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        // Dropped mid-request: its statement may still run. Out of the pool with it, so the
        // cancel below can reach no one else's statement, then cancel and close.
        let raw = conn.detach();
        let (pool, pid) = (self.primary.clone(), self.pid);
        tracing::debug!(pid, "request dropped: cancelling its read");
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(err) = sqlx::query("SELECT pg_cancel_backend($1)")
                    .bind(pid)
                    .execute(&pool)
                    .await
                {
                    tracing::warn!(error = %err, pid, "could not cancel a dropped request's read");
                }
                drop(raw);
            });
        }
    }
}
