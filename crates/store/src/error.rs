//! The store's errors: what a caller can act on is typed; the rest is the database's error.

use crate::ExpectedVersion;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("stream `{stream}` is at version {actual}, the append expected {expected}")]
    VersionConflict {
        stream: String,
        expected: ExpectedVersion,
        actual: i64,
    },
    /// Another append to one of the batch's streams committed first, inside a caller's
    /// transaction (which is then aborted and must be retried whole).
    #[error("a concurrent append to the same stream committed first")]
    ConcurrentAppend,
    #[error("event id {0} is already stored")]
    DuplicateEventId(Uuid),
    #[error("idempotency key `{0}` was already used for a different batch")]
    IdempotencyKeyReused(String),
    #[error("a batch holds between 1 and {max} events, this one holds {count}", max = crate::MAX_BATCH)]
    BatchSize { count: usize },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Which unique constraint a Postgres `23505` came from, if any.
pub(crate) fn unique_violation(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            Some(db.constraint().unwrap_or_default().to_owned())
        }
        _ => None,
    }
}
