//! Appending batches of events: one statement per batch, atomically.

use crate::canonical::to_canonical_string;
use crate::error::unique_violation;
use crate::{AppendError, EventStore, MAX_BATCH};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, Row};
use std::collections::HashMap;
use std::fmt;
use tracing::instrument;
use uuid::Uuid;

/// What the writer believes a stream's version to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must have no events yet.
    NoStream,
    /// The stream's latest version must be exactly this.
    Exact(i64),
}

impl ExpectedVersion {
    /// The SQL encoding: NULL for any, 0 for no stream, N for exactly N.
    fn as_sql(self) -> Option<i64> {
        match self {
            Self::Any => None,
            Self::NoStream => Some(0),
            Self::Exact(n) => Some(n),
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any version"),
            Self::NoStream => f.write_str("no stream"),
            Self::Exact(n) => write!(f, "version {n}"),
        }
    }
}

/// One event to append.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// A client-supplied id; the store assigns a UUIDv7 when absent.
    pub event_id: Option<Uuid>,
    pub stream: String,
    pub event_type: String,
    pub schema_version: i32,
    /// When it happened; `None` takes the recording time (`recorded_at`) exactly.
    pub occurred_at: Option<DateTime<Utc>>,
    pub actor: String,
    pub data: Value,
    pub metadata: Value,
}

/// A batch of events for one or more streams, stored all or nothing.
#[derive(Clone, Debug, Default)]
pub struct AppendBatch {
    pub events: Vec<NewEvent>,
    /// Expected versions; a stream of the batch not named here is appended at any version.
    pub expected: Vec<(String, ExpectedVersion)>,
    /// A retry with the same key returns the original result and stores nothing.
    pub idempotency_key: Option<String>,
    /// What makes a retry "the same request" for the key; computed from the batch when absent
    /// (a caller whose request is more than the batch it appends supplies its own).
    pub fingerprint: Option<Vec<u8>>,
}

/// Where an appended event landed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    pub event_id: Uuid,
    pub position: i64,
    pub stream: String,
    pub version: i64,
    pub recorded_at: DateTime<Utc>,
}

/// The batch as arrays, one per column, for the single `UNNEST` statement.
struct Columns {
    streams: Vec<String>,
    expected: Vec<Option<i64>>,
    event_ids: Vec<Uuid>,
    stream_index: Vec<i32>,
    types: Vec<String>,
    schema_versions: Vec<i32>,
    occurred_at: Vec<Option<DateTime<Utc>>>,
    actors: Vec<String>,
    data: Vec<String>,
    metadata: Vec<String>,
    request_hash: Vec<u8>,
}

impl Columns {
    fn build(batch: &AppendBatch) -> Result<Self, AppendError> {
        let count = batch.events.len();
        if count == 0 || count > MAX_BATCH {
            return Err(AppendError::BatchSize { count });
        }
        // Streams in order of first mention; an explicit expectation wins over the implicit
        // "any" of a stream that events name.
        let mut index: HashMap<&str, i32> = HashMap::new();
        let mut streams = Vec::new();
        let mut expected = Vec::new();
        let named = batch.expected.iter().map(|(s, v)| (s.as_str(), *v));
        let implied = batch
            .events
            .iter()
            .map(|e| (e.stream.as_str(), ExpectedVersion::Any));
        for (name, version) in named.chain(implied) {
            match index.get(name) {
                Some(&i) if version != ExpectedVersion::Any => {
                    expected[(i - 1) as usize] = version.as_sql();
                }
                Some(_) => {}
                None => {
                    streams.push(name.to_owned());
                    expected.push(version.as_sql());
                    index.insert(name, streams.len() as i32);
                }
            }
        }
        let mut columns = Self {
            stream_index: Vec::with_capacity(count),
            event_ids: Vec::with_capacity(count),
            types: Vec::with_capacity(count),
            schema_versions: Vec::with_capacity(count),
            occurred_at: Vec::with_capacity(count),
            actors: Vec::with_capacity(count),
            data: Vec::with_capacity(count),
            metadata: Vec::with_capacity(count),
            // Only a keyed append needs a fingerprint; hashing costs ~1 ms per 100 events.
            request_hash: match (&batch.fingerprint, &batch.idempotency_key) {
                (Some(fingerprint), _) => fingerprint.clone(),
                (None, Some(_)) => request_hash(batch),
                (None, None) => Vec::new(),
            },
            streams,
            expected,
        };
        for event in &batch.events {
            columns.stream_index.push(index[event.stream.as_str()]);
            columns
                .event_ids
                .push(event.event_id.unwrap_or_else(Uuid::now_v7));
            columns.types.push(event.event_type.clone());
            columns.schema_versions.push(event.schema_version);
            columns.occurred_at.push(event.occurred_at);
            columns.actors.push(event.actor.clone());
            columns.data.push(to_canonical_string(&event.data));
            columns.metadata.push(to_canonical_string(&event.metadata));
        }
        Ok(columns)
    }
}

/// What makes two requests "the same batch" for an idempotency key: streams, expectations,
/// types, schema versions, data and any client-supplied event ids. Metadata (a correlation id)
/// and derived timestamps may differ between a request and its retry.
fn request_hash(batch: &AppendBatch) -> Vec<u8> {
    let expected: Vec<Value> = batch
        .expected
        .iter()
        .map(|(stream, version)| json!([stream, version.as_sql()]))
        .collect();
    let events: Vec<Value> = batch
        .events
        .iter()
        .map(|e| json!([e.event_id, e.stream, e.event_type, e.schema_version, e.data]))
        .collect();
    let text = to_canonical_string(&json!([expected, events]));
    Sha256::digest(text.as_bytes()).to_vec()
}

/// The one statement of an append. It checks every stream's expected version, takes the
/// positions `xid * 65536 + n` of the writing transaction (continuing after any events this
/// transaction appended before), records the idempotency key and inserts every row; when a check
/// fails or the key exists, it inserts nothing and says why.
macro_rules! append_sql {
    ($position_base:literal, $streams:expr, $version:expr, $join:expr) => {
        concat!(
            r#"
WITH streams AS ("#,
            $streams,
            r#"), checked AS (
    SELECT COALESCE(bool_and(expected IS NULL OR expected = current), true) AS ok FROM streams
), prior AS (
    -- A key already stored means a retry: its original result is returned, whatever the
    -- streams' versions are now.
    SELECT EXISTS (SELECT 1 FROM idempotency_keys WHERE key = $11) AS key_exists
), base AS (
    SELECT COALESCE((SELECT max(position) + 1 FROM events
                     WHERE position >= x.lo AND position < x.lo + 65536), x.lo) AS first
    FROM (SELECT "#,
            $position_base,
            r#" * 65536 AS lo) x
    WHERE (SELECT ok FROM checked) AND NOT (SELECT key_exists FROM prior)
), key_row AS (
    INSERT INTO idempotency_keys (key, request_hash, first_position, event_count)
    SELECT $11, $12, b.first, cardinality($3::uuid[]) FROM base b WHERE $11::text IS NOT NULL
    ON CONFLICT (key) DO NOTHING
    RETURNING key
), inserted AS (
    INSERT INTO events (position, event_id, stream, version, type, schema_version,
                        occurred_at, actor, data, metadata)
    SELECT b.first + n.ord - 1, n.event_id, s.stream, "#,
            $version,
            r#",
           n.type, n.schema_version, COALESCE(n.occurred_at, now()), n.actor, n.data::json, n.metadata::json
    FROM unnest($3::uuid[], $4::int[], $5::text[], $6::int[], $7::timestamptz[],
                $8::text[], $9::text[], $10::text[])
             WITH ORDINALITY AS n(event_id, sidx, type, schema_version, occurred_at,
                                  actor, data, metadata, ord)
    "#,
            $join,
            r#"
    CROSS JOIN base b
    WHERE $11::text IS NULL OR EXISTS (SELECT 1 FROM key_row)
    RETURNING position, version
)
SELECT (SELECT ok FROM checked) AS ok,
       (SELECT key_exists FROM prior) AS key_exists,
       ARRAY(SELECT position FROM inserted ORDER BY position) AS positions,
       ARRAY(SELECT version FROM inserted ORDER BY position) AS versions,
       now() AS recorded_at,
       ARRAY(SELECT idx::int FROM streams
             WHERE NOT (expected IS NULL OR expected = current) ORDER BY idx) AS failed,
       ARRAY(SELECT current FROM streams
             WHERE NOT (expected IS NULL OR expected = current) ORDER BY idx) AS failed_current
"#
        )
    };
}

/// The shapes of the statement: any number of streams, or one stream (most appends), which
/// needs no unnest of the streams, no join and no window over the events.
macro_rules! many_streams {
    ($position_base:literal) => {
        append_sql!(
            $position_base,
            "SELECT s.idx, s.stream, s.expected,
           COALESCE((SELECT e.version FROM events e WHERE e.stream = s.stream
                     ORDER BY e.version DESC LIMIT 1), 0) AS current
    FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS s(stream, expected, idx)",
            "s.current + row_number() OVER (PARTITION BY n.sidx ORDER BY n.ord)",
            "JOIN streams s ON s.idx = n.sidx"
        )
    };
}

macro_rules! one_stream {
    ($position_base:literal) => {
        append_sql!(
            $position_base,
            "SELECT 1::bigint AS idx, ($1::text[])[1] AS stream, ($2::bigint[])[1] AS expected,
           COALESCE((SELECT e.version FROM events e WHERE e.stream = ($1::text[])[1]
                     ORDER BY e.version DESC LIMIT 1), 0) AS current",
            "s.current + n.ord",
            "CROSS JOIN streams s"
        )
    };
}

const APPEND_SQL: &str = many_streams!("pg_current_xact_id()::text::bigint");
const APPEND_ONE_STREAM_SQL: &str = one_stream!("pg_current_xact_id()::text::bigint");

/// The same statements with positions from a sequence: NOT gap-safe, only there so that the
/// benchmark can measure what the transaction-id positions cost.
const SEQUENCE_APPEND_SQL: &str = many_streams!("nextval('bench_position_seq')");
const SEQUENCE_APPEND_ONE_STREAM_SQL: &str = one_stream!("nextval('bench_position_seq')");

/// Where positions come from.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PositionSource {
    /// `xid8 × 65536 + n`: gap-safe (see `read`).
    #[default]
    TransactionId,
    /// A plain sequence (`bench_position_seq`, which the caller creates): readers can skip
    /// late commits. For measuring the cost of the gap-safe order only.
    UnsafeSequence,
}

/// How often an append whose streams are all "any version" is retried after losing a race for
/// the next version number. Every loss means another writer made progress, so this bounds
/// starvation, not failure: 16 was seen exhausted by 4 writers on a busy 2-core machine.
const ANY_VERSION_RETRIES: usize = 256;

enum Attempt {
    Stored(Vec<Appended>),
    KeyExists,
}

impl EventStore {
    /// Appends a batch atomically in its own transaction, in one round trip, and wakes
    /// subscribers after it commits.
    #[instrument(skip_all, fields(events = batch.events.len()))]
    pub async fn append(&self, batch: &AppendBatch) -> Result<Vec<Appended>, AppendError> {
        let columns = Columns::build(batch)?;
        let mut attempt = 0;
        loop {
            let mut conn = self.pool.acquire().await?;
            let result = run_append(self.position_source, &mut conn, batch, &columns).await;
            match result {
                Ok(Attempt::Stored(appended)) => {
                    self.announce_commit();
                    return Ok(appended);
                }
                Ok(Attempt::KeyExists) => {
                    return self.original_result(&mut conn, batch, &columns).await;
                }
                Err(AppendError::ConcurrentAppend) if attempt < ANY_VERSION_RETRIES => {
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Appends a batch inside the caller's transaction (for decisions taken under a lock in the
    /// same transaction). Call [`EventStore::announce_commit`] after the commit. A lost race
    /// for a version is [`AppendError::ConcurrentAppend`] and aborts the transaction; an
    /// existing idempotency key is reported as [`AppendError::IdempotencyKeyReused`] unless the
    /// batch is the same, in which case the original result is returned.
    pub async fn append_in(
        &self,
        conn: &mut PgConnection,
        batch: &AppendBatch,
    ) -> Result<Vec<Appended>, AppendError> {
        let columns = Columns::build(batch)?;
        match run_append(self.position_source, conn, batch, &columns).await? {
            Attempt::Stored(appended) => Ok(appended),
            Attempt::KeyExists => self.original_result(conn, batch, &columns).await,
        }
    }

    async fn original_result(
        &self,
        conn: &mut PgConnection,
        batch: &AppendBatch,
        columns: &Columns,
    ) -> Result<Vec<Appended>, AppendError> {
        let key = batch.idempotency_key.as_deref().unwrap_or_default();
        self.idempotent_result(conn, key, &columns.request_hash)
            .await?
            .ok_or(AppendError::Database(sqlx::Error::RowNotFound))
    }

    /// What an append with idempotency key `key` stored, if there was one: the original result
    /// when `fingerprint` matches, [`AppendError::IdempotencyKeyReused`] when it does not.
    pub async fn idempotent_result(
        &self,
        conn: &mut PgConnection,
        key: &str,
        fingerprint: &[u8],
    ) -> Result<Option<Vec<Appended>>, AppendError> {
        let Some(row) = sqlx::query(
            "SELECT request_hash, first_position, event_count FROM idempotency_keys WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?
        else {
            return Ok(None);
        };
        let hash: Vec<u8> = row.try_get("request_hash")?;
        if hash != fingerprint {
            return Err(AppendError::IdempotencyKeyReused(key.to_owned()));
        }
        let first: i64 = row.try_get("first_position")?;
        let count: i32 = row.try_get("event_count")?;
        let rows = sqlx::query(
            "SELECT event_id, position, stream, version, recorded_at FROM events \
             WHERE position >= $1 AND position < $2 ORDER BY position",
        )
        .bind(first)
        .bind(first + i64::from(count))
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Appended {
                    event_id: r.try_get("event_id")?,
                    position: r.try_get("position")?,
                    stream: r.try_get("stream")?,
                    version: r.try_get("version")?,
                    recorded_at: r.try_get("recorded_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map(Some)
            .map_err(AppendError::from)
    }
}

async fn run_append(
    source: PositionSource,
    conn: &mut PgConnection,
    batch: &AppendBatch,
    c: &Columns,
) -> Result<Attempt, AppendError> {
    let sql = match (source, c.streams.len() == 1) {
        (PositionSource::TransactionId, false) => APPEND_SQL,
        (PositionSource::TransactionId, true) => APPEND_ONE_STREAM_SQL,
        (PositionSource::UnsafeSequence, false) => SEQUENCE_APPEND_SQL,
        (PositionSource::UnsafeSequence, true) => SEQUENCE_APPEND_ONE_STREAM_SQL,
    };
    let row = sqlx::query(sql)
        .bind(&c.streams)
        .bind(&c.expected)
        .bind(&c.event_ids)
        .bind(&c.stream_index)
        .bind(&c.types)
        .bind(&c.schema_versions)
        .bind(&c.occurred_at)
        .bind(&c.actors)
        .bind(&c.data)
        .bind(&c.metadata)
        .bind(&batch.idempotency_key)
        .bind(&c.request_hash)
        .fetch_one(&mut *conn)
        .await
        .map_err(|err| classify(err, c))?;
    if row.try_get::<bool, _>("key_exists")? {
        return Ok(Attempt::KeyExists);
    }
    if !row.try_get::<bool, _>("ok")? {
        let failed: Vec<i32> = row.try_get("failed")?;
        let current: Vec<i64> = row.try_get("failed_current")?;
        let i = (failed[0] - 1) as usize;
        return Err(AppendError::VersionConflict {
            stream: c.streams[i].clone(),
            expected: match c.expected[i] {
                Some(0) => ExpectedVersion::NoStream,
                Some(n) => ExpectedVersion::Exact(n),
                None => ExpectedVersion::Any,
            },
            actual: current[0],
        });
    }
    let positions: Vec<i64> = row.try_get("positions")?;
    if positions.is_empty() {
        // The key was stored by a concurrent append that committed while this one waited.
        return Ok(Attempt::KeyExists);
    }
    let versions: Vec<i64> = row.try_get("versions")?;
    let recorded_at: DateTime<Utc> = row.try_get("recorded_at")?;
    Ok(Attempt::Stored(
        positions
            .into_iter()
            .zip(versions)
            .enumerate()
            .map(|(i, (position, version))| Appended {
                event_id: c.event_ids[i],
                position,
                stream: c.streams[(c.stream_index[i] - 1) as usize].clone(),
                version,
                recorded_at,
            })
            .collect(),
    ))
}

/// Unique violations become typed errors: a lost race for a stream version, or an event id
/// that is already stored.
fn classify(err: sqlx::Error, c: &Columns) -> AppendError {
    match unique_violation(&err).as_deref() {
        Some("events_stream_version") => AppendError::ConcurrentAppend,
        Some("events_event_id_key") => {
            let id = duplicate_id(&err, c).unwrap_or_default();
            AppendError::DuplicateEventId(id)
        }
        _ => AppendError::Database(err),
    }
}

/// The id named in Postgres' "Key (event_id)=(…) already exists." detail.
fn duplicate_id(err: &sqlx::Error, c: &Columns) -> Option<Uuid> {
    let sqlx::Error::Database(db) = err else {
        return None;
    };
    let detail = db
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?
        .detail()?;
    c.event_ids
        .iter()
        .find(|id| detail.contains(&id.to_string()))
        .copied()
}
