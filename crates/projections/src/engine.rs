//! The projection engine: follows the store's safe frontier from a checkpoint and folds each
//! batch and its checkpoint in one transaction — no event applied twice or missed, also across
//! crashes.
//!
//! Several `partyedu serve` processes may run against one database; exactly one of them runs
//! the projector at a time. Leadership is a session advisory lock held on a connection of the
//! leader's own (when the process dies, PostgreSQL drops the connection and the lock, and a
//! follower takes over within a poll interval). The lock alone fences nothing written through
//! other connections, so every batch also compares-and-sets the checkpoint row
//! (`SELECT … FOR UPDATE`): a batch that finds the checkpoint moved by someone else is rolled
//! back and the projector steps down.

use crate::facts::{Fact, FactsFold};
use crate::rules::RuleSet;
use crate::standings::Materialiser;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use partyedu_domain::{Event, Upcaster};
use partyedu_store::{EventStore, RecordedEvent};
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};
use std::future::Future;
use std::time::Duration;

/// What the live projector of this process last did, as it does it: `/metrics` serves it
/// without asking the database.
pub mod progress {
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

    static LEADING: AtomicBool = AtomicBool::new(false);
    static GENERATION: AtomicI64 = AtomicI64::new(0);
    static CHECKPOINT: AtomicI64 = AtomicI64::new(0);
    /// `recorded_at` of the checkpoint's event, in Unix milliseconds (0: none).
    static CHECKPOINT_RECORDED_MS: AtomicI64 = AtomicI64::new(0);
    static EVENTS_FOLDED: AtomicI64 = AtomicI64::new(0);
    /// Whether the last batch emptied what the log had below its frontier.
    static CAUGHT_UP: AtomicBool = AtomicBool::new(false);

    /// The live projector of this process, when it leads.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Live {
        pub generation: i32,
        pub checkpoint: i64,
        pub checkpoint_recorded_ms: Option<i64>,
        /// Events this process has folded since it started.
        pub events_folded: i64,
        pub caught_up: bool,
    }

    /// `None` unless this process leads the projection now.
    pub fn live() -> Option<Live> {
        LEADING.load(Ordering::Acquire).then(|| Live {
            generation: GENERATION.load(Ordering::Relaxed) as i32,
            checkpoint: CHECKPOINT.load(Ordering::Relaxed),
            checkpoint_recorded_ms: Some(CHECKPOINT_RECORDED_MS.load(Ordering::Relaxed))
                .filter(|ms| *ms != 0),
            events_folded: EVENTS_FOLDED.load(Ordering::Relaxed),
            caught_up: CAUGHT_UP.load(Ordering::Relaxed),
        })
    }

    pub(crate) fn lead(generation: i32, checkpoint: i64) {
        GENERATION.store(i64::from(generation), Ordering::Relaxed);
        CHECKPOINT.store(checkpoint, Ordering::Relaxed);
        CAUGHT_UP.store(false, Ordering::Relaxed);
        LEADING.store(true, Ordering::Release);
    }

    pub(crate) fn folded(checkpoint: i64, recorded_ms: i64, events: usize, caught_up: bool) {
        CHECKPOINT.store(checkpoint, Ordering::Relaxed);
        CHECKPOINT_RECORDED_MS.store(recorded_ms, Ordering::Relaxed);
        EVENTS_FOLDED.fetch_add(events as i64, Ordering::Relaxed);
        CAUGHT_UP.store(caught_up, Ordering::Relaxed);
    }

    pub(crate) fn step_down() {
        LEADING.store(false, Ordering::Release);
    }
}

/// The projection that holds the statistics' facts.
pub const FACTS: &str = "facts";

/// "partyedu" in ASCII, plus one: the lock key of the facts projector's leadership.
const LEADER_LOCK: i64 = 0x7061_7274_7965_6476;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("stored event at position {position} cannot be read: {problem}")]
    Unreadable { position: i64, problem: String },
    #[error("the checkpoint of generation {generation} was moved or dropped by someone else")]
    LostLeadership { generation: i32 },
}

/// Creates the projection's bookkeeping rows when missing; returns the live generation.
pub async fn ensure_projection(store: &EventStore) -> Result<i32, sqlx::Error> {
    let pool = store.pool();
    sqlx::query(
        "INSERT INTO rm_projections (name, live_generation) VALUES ($1, 1) ON CONFLICT DO NOTHING",
    )
    .bind(FACTS)
    .execute(pool)
    .await?;
    let live: i32 =
        sqlx::query_scalar("SELECT live_generation FROM rm_projections WHERE name = $1")
            .bind(FACTS)
            .fetch_one(pool)
            .await?;
    sqlx::query(
        "INSERT INTO rm_checkpoints (name, generation, position) VALUES ($1, $2, 0) \
         ON CONFLICT DO NOTHING",
    )
    .bind(FACTS)
    .bind(live)
    .execute(pool)
    .await?;
    Ok(live)
}

/// Folds the log into one generation of the facts tables.
pub struct Projector {
    store: EventStore,
    upcaster: Upcaster,
    generation: i32,
    fold: FactsFold,
    /// The checkpoint this projector last wrote or read.
    position: i64,
    batch_size: i64,
    /// The materialised standings this projector keeps, if any (the live one in `serve`).
    materialiser: Option<Materialiser>,
}

impl Projector {
    /// A projector for `generation`, resuming from its checkpoint.
    pub async fn new(store: EventStore, tz: Tz, generation: i32) -> Result<Self, EngineError> {
        let position: i64 = sqlx::query_scalar(
            "SELECT position FROM rm_checkpoints WHERE name = $1 AND generation = $2",
        )
        .bind(FACTS)
        .bind(generation)
        .fetch_one(store.pool())
        .await?;
        Ok(Self {
            store,
            upcaster: Upcaster::standard(),
            generation,
            fold: FactsFold::new(tz, generation),
            position,
            batch_size: 2_000,
            materialiser: None,
        })
    }

    /// Keeps the materialised standings of `rule_sets` (for `years` years up to this one, seen
    /// from today in `tz`) in every batch, and builds them between batches
    /// ([`Self::build_views_step`]).
    pub fn with_materialised(mut self, rule_sets: Vec<RuleSet>, tz: Tz, years: u32) -> Self {
        self.materialiser = Some(Materialiser::new(rule_sets, tz, years));
        self
    }

    /// Whether the wanted views may have changed (a new day) or old versions wait to be
    /// pruned.
    fn views_due(&self) -> bool {
        self.materialiser
            .as_ref()
            .is_some_and(|m| m.needs_sync() || m.prune_due())
    }

    /// One step of keeping the views: registers and drops views as the day asks, then adds a
    /// chunk of members to a view still being built, in a transaction of its own at the
    /// checkpoint. Returns whether a build is still under way.
    pub async fn build_views_step(&mut self) -> Result<bool, EngineError> {
        let Some(materialiser) = self.materialiser.as_mut() else {
            return Ok(false);
        };
        let mut tx = self.store.pool().begin().await?;
        lock_checkpoint(&mut tx, self.generation, self.position).await?;
        if materialiser.needs_sync() {
            materialiser.sync(&mut tx, self.generation).await?;
        }
        let worked = materialiser
            .build_step(&mut tx, self.generation, self.position)
            .await?;
        materialiser
            .prune_behind(&mut tx, self.generation, self.position)
            .await?;
        tx.commit().await?;
        Ok(worked)
    }

    pub fn position(&self) -> i64 {
        self.position
    }

    /// Events folded per transaction (default 2,000).
    pub fn with_batch_size(mut self, events: i64) -> Self {
        self.batch_size = events.max(1);
        self
    }

    /// Folds the next batch below the safe frontier, if any; returns how many events it
    /// folded (0: caught up). Tests drain with this deterministically.
    pub async fn try_run_once(&mut self) -> Result<usize, EngineError> {
        let page = self
            .store
            .read_all(self.position, self.batch_size, None)
            .await?;
        if page.events.is_empty() {
            return Ok(0);
        }
        self.apply(&page.events).await?;
        Ok(page.events.len())
    }

    /// Folds every event below the safe frontier.
    pub async fn catch_up(&mut self) -> Result<usize, EngineError> {
        let mut total = 0;
        loop {
            match self.try_run_once().await? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    }

    /// Folds `events` (in position order, all after the checkpoint) and moves the checkpoint
    /// to the last of them, in one transaction.
    pub async fn apply(&mut self, events: &[RecordedEvent]) -> Result<(), EngineError> {
        let parsed = events
            .iter()
            .map(|stored| self.read(stored))
            .collect::<Result<Vec<_>, _>>()?;
        let facts: Vec<Fact> = events
            .iter()
            .zip(&parsed)
            .map(|(stored, event)| Fact {
                event_id: stored.event_id,
                position: stored.position,
                event,
            })
            .collect();
        let last = events.last().expect("apply takes a non-empty batch");
        let mut tx = self.store.pool().begin().await?;
        let result = async {
            lock_checkpoint(&mut tx, self.generation, self.position).await?;
            self.fold.apply(&mut tx, &facts).await?;
            let touched = self.fold.take_touched();
            if let Some(materialiser) = self.materialiser.as_mut() {
                materialiser
                    .maintain(&mut tx, self.generation, &touched, last.position)
                    .await?;
            }
            sqlx::query(
                "UPDATE rm_checkpoints SET position = $3, event_recorded_at = $4, updated_at = now(), \
                   events_folded = events_folded + $5 WHERE name = $1 AND generation = $2",
            )
            .bind(FACTS)
            .bind(self.generation)
            .bind(last.position)
            .bind(last.recorded_at)
            .bind(events.len() as i64)
            .execute(&mut *tx)
            .await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                tx.commit().await?;
                self.position = last.position;
                Ok(())
            }
            Err(err) => {
                // The batch's rows are rolled back: so must be what the fold cached of them.
                self.fold.reset();
                Err(err)
            }
        }
    }

    fn read(&self, stored: &RecordedEvent) -> Result<Event, EngineError> {
        self.upcaster
            .read_stored_text(&stored.event_type, stored.schema_version, stored.data.get())
            .map_err(|e| EngineError::Unreadable {
                position: stored.position,
                problem: e.to_string(),
            })
    }
}

/// Locks the generation's checkpoint row for the caller's transaction and checks that it is
/// where this projector left it: a batch that finds it moved steps down instead.
async fn lock_checkpoint(
    conn: &mut PgConnection,
    generation: i32,
    position: i64,
) -> Result<(), EngineError> {
    let current: Option<i64> = sqlx::query_scalar(
        "SELECT position FROM rm_checkpoints WHERE name = $1 AND generation = $2 FOR UPDATE",
    )
    .bind(FACTS)
    .bind(generation)
    .fetch_optional(&mut *conn)
    .await?;
    if current != Some(position) {
        return Err(EngineError::LostLeadership { generation });
    }
    Ok(())
}

/// The years `serve` keeps materialised: this one and the last (the dashboard's comparison).
/// Other years are answered from the facts.
pub const MATERIALISED_YEARS: u32 = 2;

/// How the background projector runs.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub tz: Tz,
    /// How often a follower tries to become the leader, and how often a leader polls besides
    /// its wake-ups.
    pub poll_interval: Duration,
    /// The rule sets whose standings the leader keeps materialised.
    pub materialise: Vec<RuleSet>,
}

/// Runs the facts projector in this process whenever it can be the leader, until `shutdown`.
pub async fn run(
    store: EventStore,
    database: sqlx::postgres::PgConnectOptions,
    options: RunOptions,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let attempt = lead(&store, &database, &options);
        tokio::select! {
            () = &mut shutdown => {
                progress::step_down();
                return;
            }
            result = attempt => {
                progress::step_down();
                if let Err(err) = result {
                    tracing::warn!(error = %err, "projector stopped; retrying");
                }
            }
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(options.poll_interval) => {}
        }
    }
}

/// Becomes the leader if no one else is, then projects until an error.
async fn lead(
    store: &EventStore,
    database: &sqlx::postgres::PgConnectOptions,
    options: &RunOptions,
) -> Result<(), EngineError> {
    let mut lock = PgConnection::connect_with(database).await?;
    let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(LEADER_LOCK)
        .fetch_one(&mut lock)
        .await?;
    if !leader {
        return Ok(());
    }
    let generation = ensure_projection(store).await?;
    let mut projector = Projector::new(store.clone(), options.tz, generation)
        .await?
        .with_materialised(options.materialise.clone(), options.tz, MATERIALISED_YEARS);
    tracing::info!(
        generation,
        position = projector.position(),
        "leading the facts projection"
    );
    progress::lead(generation, projector.position());
    let mut subscription = store
        .subscribe(
            projector.position(),
            projector.batch_size,
            options.poll_interval,
        )
        .await?;
    // Views are registered once the backlog is folded: a catch-up of a long log is faster
    // folded first and its views built after than kept batch by batch.
    let mut building = false;
    loop {
        // While a view is being built, folding comes first and a chunk of the build fills
        // each pause; otherwise the wait is long, waking now and then to notice a new day.
        // (`next_batch` moves its cursor only when it returns events: safe to time out.)
        let wait = if building {
            Duration::from_millis(10)
        } else {
            Duration::from_secs(5)
        };
        let mut caught_up = true;
        if let Ok(events) = tokio::time::timeout(wait, subscription.next_batch()).await {
            let events = events?;
            projector.apply(&events).await?;
            caught_up = (events.len() as i64) < projector.batch_size;
            if let Some(last) = events.last() {
                progress::folded(
                    last.position,
                    last.recorded_at.timestamp_millis(),
                    events.len(),
                    caught_up,
                );
            }
            // A leader whose lock connection died is no leader any more; and after a swap the
            // live generation is another one, which this projector does not write.
            let live: i32 =
                sqlx::query_scalar("SELECT live_generation FROM rm_projections WHERE name = $1")
                    .bind(FACTS)
                    .fetch_one(&mut lock)
                    .await?;
            if live != generation {
                tracing::info!(
                    generation = live,
                    "the live generation changed; following it"
                );
                return Ok(());
            }
        }
        if caught_up && (building || projector.views_due()) {
            building = projector.build_views_step().await?;
        }
    }
}

/// Starts a rebuild: a new generation of the facts tables, built from position 0 beside the
/// live one, which keeps serving. Returns the new generation.
///
/// A rebuild interrupted by a crash is resumed, not restarted: its generation and checkpoint
/// are still there, and the live generation was never touched.
pub async fn begin_rebuild(store: &EventStore) -> Result<i32, sqlx::Error> {
    ensure_projection(store).await?;
    let unfinished: Option<i32> = sqlx::query_scalar(
        "SELECT c.generation FROM rm_checkpoints c JOIN rm_projections p ON p.name = c.name \
         WHERE c.name = $1 AND c.target_position IS NOT NULL AND c.generation <> p.live_generation \
         ORDER BY c.generation DESC LIMIT 1",
    )
    .bind(FACTS)
    .fetch_optional(store.pool())
    .await?;
    if let Some(generation) = unfinished {
        return Ok(generation);
    }
    let head = store.head_position().await?;
    sqlx::query_scalar(
        "INSERT INTO rm_checkpoints (name, generation, position, target_position, target_events) \
         SELECT $1, max(generation) + 1, 0, $2, \
           (SELECT count(*) FROM events WHERE position <= $2) \
         FROM rm_checkpoints WHERE name = $1 \
         RETURNING generation",
    )
    .bind(FACTS)
    .bind(head)
    .fetch_one(store.pool())
    .await
}

#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("generation {generation} is at position {position}, behind the live one at {live}")]
    Behind {
        generation: i32,
        position: i64,
        live: i64,
    },
}

/// Makes `generation` the live one, atomically, once it has caught up with the live one; then
/// removes the old generation's rows. Queries switch at the commit: before it they read the old
/// generation whole, after it the new one whole.
pub async fn swap(store: &EventStore, generation: i32) -> Result<(), SwapError> {
    let mut tx = store.pool().begin().await?;
    let row = sqlx::query(
        "SELECT p.live_generation, live.position AS live_position, new.position AS new_position \
         FROM rm_projections p \
         JOIN rm_checkpoints live ON live.name = p.name AND live.generation = p.live_generation \
         JOIN rm_checkpoints new ON new.name = p.name AND new.generation = $2 \
         WHERE p.name = $1 FOR UPDATE OF p",
    )
    .bind(FACTS)
    .bind(generation)
    .fetch_one(&mut *tx)
    .await?;
    let old: i32 = row.try_get("live_generation")?;
    let live: i64 = row.try_get("live_position")?;
    let position: i64 = row.try_get("new_position")?;
    if position < live {
        return Err(SwapError::Behind {
            generation,
            position,
            live,
        });
    }
    sqlx::query("UPDATE rm_projections SET live_generation = $2 WHERE name = $1")
        .bind(FACTS)
        .bind(generation)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE rm_checkpoints SET target_position = NULL, target_events = NULL \
         WHERE name = $1 AND generation = $2",
    )
    .bind(FACTS)
    .bind(generation)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    drop_generation(store, old).await?;
    tracing::info!(from = old, to = generation, "swapped the facts generation");
    Ok(())
}

/// Removes a generation that is no longer live (an old one, or an abandoned rebuild).
pub async fn drop_generation(store: &EventStore, generation: i32) -> Result<(), sqlx::Error> {
    let mut tx = store.pool().begin().await?;
    // The checkpoint row first: deleting it waits for a batch in flight on that generation and
    // makes every later one fail its compare-and-set, so no row lands after the deletes below.
    sqlx::query("DELETE FROM rm_checkpoints WHERE name = $1 AND generation = $2")
        .bind(FACTS)
        .bind(generation)
        .execute(&mut *tx)
        .await?;
    for table in FACT_TABLES.iter().chain(&VIEW_TABLES) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE generation = $1"
        )))
        .bind(generation)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// Every table of the facts projection.
pub const FACT_TABLES: [&str; 12] = [
    "rm_org_units",
    "rm_org_names",
    "rm_member_registry",
    "rm_member_names",
    "rm_roles",
    "rm_participations",
    "rm_lectures",
    "rm_classes",
    "rm_mobility",
    "rm_buddies",
    "rm_wishes",
    "rm_wish_steps",
];

/// The materialised standings' tables (crates/projections/src/standings.rs): derived from the
/// facts, so not among them.
pub const VIEW_TABLES: [&str; 3] = ["rm_views", "rm_standings", "rm_coverage"];

/// A rebuild under way: its generation, how far it is and how far it has to go.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Rebuild {
    pub generation: i32,
    pub position: i64,
    pub target_position: i64,
    pub events_folded: i64,
    pub target_events: i64,
}

impl Rebuild {
    /// The share of the log present at the start that is folded, 0 to 1.
    pub fn progress(&self) -> f64 {
        if self.target_events == 0 {
            1.0
        } else {
            (self.events_folded as f64 / self.target_events as f64).min(1.0)
        }
    }
}

/// Where a projection stands, for status pages and metrics.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Status {
    pub name: &'static str,
    pub generation: i32,
    pub checkpoint: i64,
    pub lag_events: i64,
    pub lag_seconds: f64,
    pub updated_at: Option<DateTime<Utc>>,
    pub rebuild: Option<Rebuild>,
    /// The live generation's materialised standings and how far each is built.
    pub views: Vec<crate::standings::ViewStatus>,
}

/// The live generation's progress against the log, and any rebuild under way.
pub async fn status(store: &EventStore) -> Result<Status, sqlx::Error> {
    ensure_projection(store).await?;
    let row = sqlx::query(
        "SELECT p.live_generation, c.position, c.updated_at, \
           (SELECT count(*) FROM events e WHERE e.position > c.position) AS lag_events, \
           (SELECT EXTRACT(EPOCH FROM now() - min(e.recorded_at)) FROM events e \
              WHERE e.position > c.position)::float8 AS lag_seconds \
         FROM rm_projections p JOIN rm_checkpoints c \
           ON c.name = p.name AND c.generation = p.live_generation \
         WHERE p.name = $1",
    )
    .bind(FACTS)
    .fetch_one(store.pool())
    .await?;
    let rebuild = sqlx::query(
        "SELECT generation, position, target_position, events_folded, target_events \
         FROM rm_checkpoints \
         WHERE name = $1 AND target_position IS NOT NULL ORDER BY generation DESC LIMIT 1",
    )
    .bind(FACTS)
    .fetch_optional(store.pool())
    .await?
    .map(|r| {
        Ok::<_, sqlx::Error>(Rebuild {
            generation: r.try_get("generation")?,
            position: r.try_get("position")?,
            target_position: r.try_get("target_position")?,
            events_folded: r.try_get("events_folded")?,
            target_events: r.try_get::<Option<i64>, _>("target_events")?.unwrap_or(0),
        })
    })
    .transpose()?;
    let generation: i32 = row.try_get("live_generation")?;
    Ok(Status {
        name: FACTS,
        generation,
        views: crate::standings::views_status(store.pool(), generation).await?,
        checkpoint: row.try_get("position")?,
        lag_events: row.try_get("lag_events")?,
        lag_seconds: row.try_get::<Option<f64>, _>("lag_seconds")?.unwrap_or(0.0),
        updated_at: row.try_get("updated_at")?,
        rebuild,
    })
}
