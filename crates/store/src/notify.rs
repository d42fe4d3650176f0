//! Wake-ups for subscribers in every process.
//!
//! `NOTIFY` inside an append transaction would take PostgreSQL's cluster-wide notification lock
//! until commit and so serialise every commit. Instead each process announces its commits from
//! one background task, after they are committed; announcements that arrive while one is being
//! sent, or within [`MIN_INTERVAL`] after it, are folded into the next, so a stream of appends
//! costs at most one NOTIFY (a transaction of its own) per interval, not one per append.

use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::mpsc;

/// The shortest time between two NOTIFYs of one process: the most a subscriber's wake-up is
/// delayed by folding.
const MIN_INTERVAL: Duration = Duration::from_millis(2);

#[derive(Clone, Debug)]
pub(crate) struct Notifier {
    wake: mpsc::Sender<()>,
}

impl Notifier {
    /// Starts the announcing task; it ends when the last store handle is dropped.
    pub(crate) fn spawn(pool: PgPool) -> Self {
        let (wake, mut pending) = mpsc::channel::<()>(1);
        tokio::spawn(async move {
            while pending.recv().await.is_some() {
                if let Err(err) = sqlx::query("SELECT pg_notify($1, '')")
                    .bind(crate::CHANNEL)
                    .execute(&pool)
                    .await
                {
                    // Subscribers fall back to polling; a lost wake-up only delays them.
                    tracing::warn!(error = %err, "could not announce appended events");
                }
                tokio::time::sleep(MIN_INTERVAL).await;
            }
        });
        Self { wake }
    }

    /// Asks for one NOTIFY; a no-op when one is already pending.
    pub(crate) fn announce(&self) {
        let _ = self.wake.try_send(());
    }
}
