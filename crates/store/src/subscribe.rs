//! Following the log: a subscription returns every event exactly once, in position order.
//!
//! It wakes on LISTEN/NOTIFY and polls as well, because LISTEN loses notifications across
//! reconnects and because the safe frontier can be held back by a transaction that sends none.

use crate::{CHANNEL, EventStore, RecordedEvent};
use sqlx::postgres::PgListener;
use std::time::Duration;

/// A cursor over the global log that waits for new events.
pub struct Subscription {
    store: EventStore,
    after: i64,
    batch_size: i64,
    poll_interval: Duration,
    listener: Option<PgListener>,
}

/// After a wake-up that found nothing (the frontier was still held back by a transaction about
/// to commit), look again soon rather than a whole poll interval later.
const RETRY_AFTER_WAKE: Duration = Duration::from_millis(5);

impl EventStore {
    /// Follows the log from after position `after`.
    pub async fn subscribe(
        &self,
        after: i64,
        batch_size: i64,
        poll_interval: Duration,
    ) -> Result<Subscription, sqlx::Error> {
        let mut listener = PgListener::connect_with(self.pool()).await?;
        listener.listen(CHANNEL).await?;
        Ok(Subscription {
            store: self.clone(),
            after,
            batch_size,
            poll_interval,
            listener: Some(listener),
        })
    }
}

impl Subscription {
    /// The position of the last event handed out (or the start).
    pub fn position(&self) -> i64 {
        self.after
    }

    /// The next events in position order; waits until there is at least one.
    pub async fn next_batch(&mut self) -> Result<Vec<RecordedEvent>, sqlx::Error> {
        let mut wait = self.poll_interval;
        loop {
            let page = self
                .store
                .read_all(self.after, self.batch_size, None)
                .await?;
            self.after = page.next_after;
            if !page.events.is_empty() {
                return Ok(page.events);
            }
            let woken = self.wait_for_wake(wait).await;
            wait = if woken {
                RETRY_AFTER_WAKE
            } else {
                self.poll_interval
            };
        }
    }

    /// Waits for a notification or the timeout; true when a notification came.
    async fn wait_for_wake(&mut self, timeout: Duration) -> bool {
        let Some(listener) = self.listener.as_mut() else {
            tokio::time::sleep(timeout).await;
            return false;
        };
        match tokio::time::timeout(timeout, listener.recv()).await {
            Ok(Ok(_)) => true,
            Ok(Err(err)) => {
                // sqlx reconnects on the next recv; until then polling carries on.
                tracing::warn!(error = %err, "event notifications interrupted");
                false
            }
            Err(_) => false,
        }
    }
}
