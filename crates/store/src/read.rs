//! Reading the log: one stream in version order, or the global order from a position.
//!
//! # Why the global order is gap-safe
//! A position is `xid * 65536 + n`, where `xid` is the 64-bit id of the transaction that wrote
//! the event. Readers only return positions below `pg_snapshot_xmin(pg_current_snapshot()) *
//! 65536`, the *safe frontier*: every transaction with an xid below the snapshot's xmin has
//! finished, so every event below the frontier that will ever exist is already visible, and any
//! transaction still open or yet to start has an xid of at least xmin, so its events land at or
//! above the frontier. A reader that has seen position N therefore never meets a new event below
//! N, however late a transaction commits.
//!
//! The cost: positions are sparse, and the frontier waits for every open transaction in the
//! cluster that holds an xid, so one long write transaction delays every reader (not the
//! writers). Sessions therefore run with `idle_in_transaction_session_timeout`.

use crate::EventStore;
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use sqlx::Row;
use sqlx::postgres::PgRow;
use tracing::instrument;
use uuid::Uuid;

/// A stored event, with its data and metadata exactly as stored (canonical JSON text).
#[derive(Clone, Debug)]
pub struct RecordedEvent {
    pub event_id: Uuid,
    pub position: i64,
    pub stream: String,
    pub version: i64,
    pub event_type: String,
    pub schema_version: i32,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub actor: String,
    pub data: Box<RawValue>,
    pub metadata: Box<RawValue>,
}

/// One page of the global log.
#[derive(Debug)]
pub struct Page {
    pub events: Vec<RecordedEvent>,
    /// Where the next read continues: past the last event returned, or past everything below
    /// the safe frontier when the page was not full (all of that is final).
    pub next_after: i64,
}

/// The columns of a [`RecordedEvent`]; a macro so that queries stay `&'static str`.
macro_rules! columns {
    () => {
        "event_id, position, stream, version, type, schema_version, occurred_at, recorded_at, \
         actor, data::text AS data, metadata::text AS metadata"
    };
}

fn decode(row: &PgRow) -> Result<RecordedEvent, sqlx::Error> {
    let json = |name: &str| -> Result<Box<RawValue>, sqlx::Error> {
        let text: String = row.try_get(name)?;
        RawValue::from_string(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
    };
    Ok(RecordedEvent {
        event_id: row.try_get("event_id")?,
        position: row.try_get("position")?,
        stream: row.try_get("stream")?,
        version: row.try_get("version")?,
        event_type: row.try_get("type")?,
        schema_version: row.try_get("schema_version")?,
        occurred_at: row.try_get("occurred_at")?,
        recorded_at: row.try_get("recorded_at")?,
        actor: row.try_get("actor")?,
        data: json("data")?,
        metadata: json("metadata")?,
    })
}

impl EventStore {
    /// Up to `limit` events after position `after`, below the safe frontier, in position order;
    /// only those of the given types when `types` is given.
    #[instrument(skip(self, types))]
    pub async fn read_all(
        &self,
        after: i64,
        limit: i64,
        types: Option<&[String]>,
    ) -> Result<Page, sqlx::Error> {
        // The frontier and the rows come from one statement, hence one snapshot.
        let sql = concat!(
            "WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint * 65536 \
                        AS frontier) \
             SELECT h.frontier, e.* FROM h LEFT JOIN LATERAL (SELECT ",
            columns!(),
            " FROM events \
                 WHERE position > $1 AND position < h.frontier \
                   AND ($3::text[] IS NULL OR type = ANY($3)) \
                 ORDER BY position LIMIT $2) e ON true"
        );
        let rows = sqlx::query(sql)
            .bind(after)
            .bind(limit)
            .bind(types)
            .fetch_all(&self.pool)
            .await?;
        let frontier: i64 = match rows.first() {
            Some(row) => row.try_get("frontier")?,
            None => {
                return Ok(Page {
                    events: Vec::new(),
                    next_after: after,
                });
            }
        };
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            if row.try_get::<Option<i64>, _>("position")?.is_some() {
                events.push(decode(row)?);
            }
        }
        let next_after = match events.last() {
            Some(last) if events.len() as i64 >= limit => last.position,
            _ => after.max(frontier - 1),
        };
        Ok(Page { events, next_after })
    }

    /// Every committed event after `after`, ignoring the safe frontier, read on the caller's
    /// connection. Only correct for a caller that holds a lock every writer of the events it
    /// cares about takes before writing (the recording lock): then no such writer is in flight.
    pub async fn read_committed_after(
        &self,
        conn: &mut sqlx::PgConnection,
        after: i64,
    ) -> Result<Vec<RecordedEvent>, sqlx::Error> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM events WHERE position > $1 ORDER BY position"
        );
        let rows = sqlx::query(sql).bind(after).fetch_all(conn).await?;
        rows.iter().map(decode).collect()
    }

    /// The events of one stream with versions above `after_version`, in version order.
    #[instrument(skip(self))]
    pub async fn read_stream(
        &self,
        stream: &str,
        after_version: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, sqlx::Error> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM events WHERE stream = $1 AND version > $2 ORDER BY version LIMIT $3"
        );
        let rows = sqlx::query(sql)
            .bind(stream)
            .bind(after_version)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(decode).collect()
    }

    /// The highest position committed so far (0 for an empty log); it may still be above the
    /// safe frontier while older transactions are open.
    pub async fn head_position(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COALESCE(max(position), 0)::bigint FROM events")
            .fetch_one(&self.pool)
            .await
    }

    /// The latest version of a stream, 0 when it has no events.
    pub async fn stream_version(&self, stream: &str) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COALESCE(max(version), 0)::bigint FROM events WHERE stream = $1")
            .bind(stream)
            .fetch_one(&self.pool)
            .await
    }

    /// Stored events by id, in position order (ids not stored are left out).
    pub async fn events_by_id(&self, ids: &[Uuid]) -> Result<Vec<RecordedEvent>, sqlx::Error> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM events WHERE event_id = ANY($1) ORDER BY position"
        );
        let rows = sqlx::query(sql).bind(ids).fetch_all(&self.pool).await?;
        rows.iter().map(decode).collect()
    }
}
