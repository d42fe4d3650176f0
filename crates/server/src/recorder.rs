//! Recording: a batch of proposed events is judged against the current state of the log and
//! appended atomically, or refused whole.
//!
//! Cross-stream rules ("enrolled on the date", "the wish is open", "the id is unused") are not
//! protected by per-stream versions, so every recording takes one transaction-scoped advisory
//! lock, brings its in-memory [`State`] up to date from the log inside that transaction,
//! decides, appends and commits. Recording volume is small; the lock makes two claims of one
//! wish a sequence in which the second sees the first. Every instance keeps its own state and
//! catches up under the lock, so several instances may record against one database.
//!
//! Recordings that arrive while another holds the lock share its successor's transaction (a
//! group commit): they are judged one after another against the state as the earlier ones
//! leave it, each answered with its own result or refusal, and committed together. A refusal
//! is judged in memory and touches no other's; a failed commit acknowledges none of the group.

use chrono::{DateTime, Utc};
use partyedu_domain::{Date, Decided, Event, Id, Proposed, Rejection, State, StoredFact, Upcaster};
use partyedu_store::canonical::to_canonical_string;
use partyedu_store::{
    AppendBatch, AppendError, Appended, EventStore, MAX_BATCH, NewEvent, RecordedEvent,
};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::{Mutex, oneshot};
use uuid::Uuid;

/// The advisory lock every recording holds until it commits ("partyedu" in ASCII).
const RECORDING_LOCK: i64 = 0x7061_7274_7965_6475;

/// One event as submitted: the parsed event and what the envelope keeps of the request.
#[derive(Clone, Debug)]
pub struct Submitted {
    pub event: Event,
    pub event_id: Option<Uuid>,
    /// Who records it: the credential's name (an import keeps the original actor).
    pub actor: String,
    /// An import keeps the original `occurred_at`; otherwise it follows from the event.
    pub occurred_at: Option<DateTime<Utc>>,
    pub metadata: Map<String, Value>,
}

/// A batch to record.
#[derive(Clone, Debug, Default)]
pub struct Submission {
    pub events: Vec<Submitted>,
    /// The org subtree the recorder may touch; `None` for everything.
    pub scope: Option<Id>,
    /// Already made unique per credential by the caller.
    pub idempotency_key: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("the batch was refused")]
    Rejected(Vec<Rejection>),
    /// Every place a scoped recording reaches outside its subtree (at least one).
    #[error("{}", .0.first().map(ScopeProblem::message).unwrap_or_default())]
    OutOfScope(Vec<ScopeProblem>),
    #[error(transparent)]
    Append(#[from] AppendError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("stored event at position {position} cannot be read: {problem}")]
    Unreadable { position: i64, problem: String },
    /// The group commit this recording shared failed; nothing of the group was stored (or,
    /// when the connection broke at the commit, nothing is known to be: a retry with the same
    /// idempotency key stores it once either way).
    #[error("the shared commit failed, nothing was stored: {why}")]
    GroupFailed {
        why: String,
        /// The failure was the database being unreachable (see
        /// [`crate::error::database_unreachable`]), not the recording.
        unreachable: bool,
    },
}

impl RecordError {
    /// Whether the recording failed because the database could not be reached.
    pub fn database_unreachable(&self) -> bool {
        match self {
            RecordError::Database(err) | RecordError::Append(AppendError::Database(err)) => {
                crate::error::database_unreachable(err)
            }
            RecordError::GroupFailed { unreachable, .. } => *unreachable,
            _ => false,
        }
    }

    fn group_failed(why: impl Into<String>, unreachable: bool) -> Self {
        RecordError::GroupFailed {
            why: why.into(),
            unreachable,
        }
    }
}

/// An event of a scoped recording that reaches an org unit outside the recorder's subtree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeProblem {
    /// The event's index in the batch.
    pub index: usize,
    /// The org unit outside the scope.
    pub org: Id,
    /// The scope: the root of the recorder's subtree.
    pub root: Id,
    /// Whether the log knows `org` (an unknown one is not within any scope).
    pub known: bool,
    /// The member of the event through whom `org` is reached (their branch), if it is.
    pub member: Option<Id>,
}

impl ScopeProblem {
    /// What the API says (the first problem's, as its error message).
    pub fn message(&self) -> String {
        let ScopeProblem {
            index, org, root, ..
        } = self;
        if self.known {
            format!("events[{index}] touches org unit `{org}`, outside this token's scope `{root}`")
        } else {
            format!(
                "events[{index}] names org unit `{org}`, which is not within this token's scope `{root}`"
            )
        }
    }
}

/// A group commit takes at most this many events (positions are `xid * 65536 + n`).
const GROUP_EVENTS: usize = 60_000;

/// How one recording of a group went.
enum Step {
    /// Appended in the group's transaction: stored if the group commits.
    Appended(Vec<Appended>),
    /// Stored before (an idempotent retry), or nothing new to store.
    Original(Vec<Appended>),
    /// Refused without touching the transaction.
    Refused(RecordError),
    /// A statement failed: the transaction, and the group, are lost.
    Broken(RecordError),
}

/// The answer of a recording, when its group has given it.
fn ready(
    answer: &mut oneshot::Receiver<Result<Vec<Appended>, RecordError>>,
) -> Option<Result<Vec<Appended>, RecordError>> {
    match answer.try_recv() {
        Ok(result) => Some(result),
        Err(oneshot::error::TryRecvError::Empty) => None,
        // Every group answers all it takes; this only guards against an endless wait.
        Err(oneshot::error::TryRecvError::Closed) => Some(Err(RecordError::group_failed(
            "its group ended without an answer",
            false,
        ))),
    }
}

/// A recording waiting for its group commit, and where its answer goes.
struct Pending {
    submission: Submission,
    reply: oneshot::Sender<Result<Vec<Appended>, RecordError>>,
}

/// Events per page when a starting process folds the log.
const WARM_UP_PAGE: i64 = 10_000;

/// Records batches; one per process, shared by every request.
#[derive(Clone)]
pub struct Recorder {
    store: EventStore,
    /// Held by whoever records (the group's leader), imports and warm-ups.
    state: Arc<Mutex<State>>,
    /// Recordings not yet taken into a group.
    queue: Arc<std::sync::Mutex<Vec<Pending>>>,
    upcaster: Arc<Upcaster>,
    tz: chrono_tz::Tz,
}

impl Recorder {
    pub fn new(store: EventStore, tz: chrono_tz::Tz) -> Self {
        Self::with_upcaster(store, tz, Upcaster::standard())
    }

    /// A recorder that reads stored events through `upcaster` (tests add steps for made-up
    /// older versions).
    pub fn with_upcaster(store: EventStore, tz: chrono_tz::Tz, upcaster: Upcaster) -> Self {
        Self {
            store,
            state: Arc::new(Mutex::new(State::new(tz))),
            queue: Arc::default(),
            upcaster: Arc::new(upcaster),
            tz,
        }
    }

    /// The deployment's time zone.
    pub fn tz(&self) -> chrono_tz::Tz {
        self.tz
    }

    /// Every member's id and current name, from the log as it stands (for sheets that name
    /// members by name).
    pub async fn roster(&self) -> Result<crate::sheets::Roster, RecordError> {
        self.warm_up().await?;
        let state = self.state.lock().await;
        Ok(crate::sheets::Roster::new(state.members().map(
            |(id, member)| (id.to_string(), member.name.to_string()),
        )))
    }

    /// Enrolled members within the subtree of `scope` (every one when `None`) whose id or name
    /// contains `text` (ignoring case), by id, at most `limit`: (id, name, branch).
    pub async fn find_members(
        &self,
        text: &str,
        scope: Option<&Id>,
        limit: usize,
    ) -> Result<Vec<(String, String, String)>, RecordError> {
        self.warm_up().await?;
        let needle = text.trim().to_lowercase();
        if needle.is_empty() {
            return Ok(Vec::new());
        }
        let state = self.state.lock().await;
        let mut found: Vec<(String, String, String)> = state
            .members()
            .filter(|(_, m)| m.is_enrolled())
            .filter(|(_, m)| scope.is_none_or(|root| state.in_subtree(&m.branch, root)))
            .filter(|(id, m)| {
                id.as_str().to_lowercase().contains(&needle)
                    || m.name.as_str().to_lowercase().contains(&needle)
            })
            .map(|(id, m)| (id.to_string(), m.name.to_string(), m.branch.to_string()))
            .collect();
        found.sort();
        found.truncate(limit);
        Ok(found)
    }

    /// Judges `submission` as [`Self::record`] would against the log as it stands, and stores
    /// nothing (a preview; a recording made meanwhile may still change the verdict).
    pub async fn check(&self, submission: &Submission) -> Result<(), RecordError> {
        self.warm_up().await?;
        let state = self.state.lock().await;
        judge(&state, submission).map(|_| ())
    }

    pub fn upcaster(&self) -> &Upcaster {
        &self.upcaster
    }

    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// Judges and stores `submission` whole, or refuses it whole. Returns the stored records
    /// in the order submitted (for an event id already stored with the same content, the
    /// stored record).
    pub async fn record(&self, submission: Submission) -> Result<Vec<RecordedEvent>, RecordError> {
        let named: Vec<Uuid> = submission
            .events
            .iter()
            .filter_map(|s| s.event_id)
            .collect();
        let (reply, mut answer) = oneshot::channel();
        self.lock_queue().push(Pending { submission, reply });
        // Whoever holds the state records every queued recording, ours among them or not; a
        // waiter that finds its answer ready when it gets the lock has nothing left to do.
        let appended = loop {
            if let Some(result) = ready(&mut answer) {
                break result;
            }
            let mut state = self.state.clone().lock_owned().await;
            if let Some(result) = ready(&mut answer) {
                break result;
            }
            let group = self.next_group();
            // On a task of its own: a client that hangs up must not cut short a transaction
            // that carries other clients' recordings (nor leave them unsure of its commit).
            let recorder = self.clone();
            let _ =
                tokio::spawn(async move { recorder.record_group(&mut state, group).await }).await;
        }?;
        self.records(&appended, &named).await
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        // A panic while holding this lock cannot leave the queue half-changed (push/drain).
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The oldest queued recordings, up to [`GROUP_EVENTS`] events (at least one, if any).
    fn next_group(&self) -> Vec<Pending> {
        let mut queue = self.lock_queue();
        let mut events = 0;
        let take = queue
            .iter()
            .take_while(|p| {
                events += p.submission.events.len();
                events <= GROUP_EVENTS
            })
            .count()
            .max(1)
            .min(queue.len());
        queue.drain(..take).collect()
    }

    /// Judges and appends `group` in one transaction, in order, and answers each.
    async fn record_group(&self, state: &mut State, group: Vec<Pending>) {
        let mut waiting: VecDeque<Pending> = group.into();
        let mut judged: Vec<(Pending, Step)> = Vec::new();
        let committed = async {
            let mut tx = self.store.pool().begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(RECORDING_LOCK)
                .execute(&mut *tx)
                .await?;
            self.catch_up(&mut tx, state).await?;
            // Each recording is judged after the accepted ones before it, on a copy: the state
            // itself folds them from the log once they are committed.
            let mut scratch = state.clone();
            while let Some(pending) = waiting.pop_front() {
                let step = self
                    .record_one(&mut tx, &mut scratch, &pending.submission)
                    .await;
                if let Step::Broken(err) = step {
                    // The transaction is aborted: the group fails with it.
                    let failed =
                        RecordError::group_failed(err.to_string(), err.database_unreachable());
                    judged.push((pending, Step::Broken(err)));
                    return Err(failed);
                }
                judged.push((pending, step));
            }
            tx.commit().await?;
            Ok::<_, RecordError>(())
        }
        .await;
        let failure = committed.err().map(|e| match e {
            RecordError::GroupFailed { why, unreachable } => (why, unreachable),
            other => (other.to_string(), other.database_unreachable()),
        });
        match &failure {
            None => self.store.announce_commit(),
            Some((why, _)) => tracing::warn!(error = why, "a group commit failed"),
        }
        let failed = |failure: &Option<(String, bool)>| {
            let (why, unreachable) = failure.clone().unwrap_or_default();
            RecordError::group_failed(why, unreachable)
        };
        for (pending, step) in judged {
            let answer = match (step, &failure) {
                (Step::Appended(_), Some(_)) => Err(failed(&failure)),
                (Step::Appended(appended) | Step::Original(appended), _) => Ok(appended),
                (Step::Refused(err) | Step::Broken(err), _) => Err(err),
            };
            let _ = pending.reply.send(answer);
        }
        // Those the group did not reach before it failed.
        for pending in waiting {
            let _ = pending.reply.send(Err(failed(&failure)));
        }
    }

    /// One recording of a group: its idempotent original, or judged on `scratch` and appended
    /// in the group's transaction (then accepted into `scratch` for the next one).
    async fn record_one(
        &self,
        tx: &mut sqlx::PgConnection,
        scratch: &mut State,
        submission: &Submission,
    ) -> Step {
        let fingerprint = fingerprint(&submission.events);
        if let Some(key) = &submission.idempotency_key {
            match self.store.idempotent_result(tx, key, &fingerprint).await {
                Ok(Some(original)) => return Step::Original(original),
                Ok(None) => {}
                Err(err @ AppendError::Database(_)) => return Step::Broken(err.into()),
                Err(err) => return Step::Refused(err.into()),
            }
        }
        let (decided, new_events) = match judge(scratch, submission) {
            Ok(judged) => judged,
            Err(err) => return Step::Refused(err),
        };
        if new_events.is_empty() {
            return Step::Original(Vec::new());
        }
        let batch = AppendBatch {
            events: new_events,
            expected: Vec::new(),
            idempotency_key: submission.idempotency_key.clone(),
            fingerprint: Some(fingerprint),
        };
        match self.store.append_in(tx, &batch).await {
            Ok(appended) => {
                scratch.accept(&decided);
                Step::Appended(appended)
            }
            // Judged before any statement: the transaction is untouched.
            Err(err @ AppendError::BatchSize { .. }) => Step::Refused(err.into()),
            Err(err) => Step::Broken(err.into()),
        }
    }

    /// The stored records of a recording: what it appended, and the already stored events
    /// the batch named by id, in position order.
    async fn records(
        &self,
        appended: &[Appended],
        named: &[Uuid],
    ) -> Result<Vec<RecordedEvent>, RecordError> {
        let mut ids: Vec<Uuid> = appended.iter().map(|a| a.event_id).collect();
        ids.extend(named);
        ids.sort_unstable();
        ids.dedup();
        Ok(self.store.events_by_id(&ids).await?)
    }

    /// Brings the state up to date without recording (e.g. at start, so that the first
    /// request does not pay for reading the whole log).
    pub async fn warm_up(&self) -> Result<(), RecordError> {
        let mut state = self.state.lock().await;
        // The log up to the safe frontier page by page, holding no lock or transaction (a
        // long log takes longer to fold than a session may sit idle in a transaction), then
        // the rest under the lock as every recording catches up.
        loop {
            let after = state.position().unwrap_or(0);
            let page = self.store.read_all(after, WARM_UP_PAGE, None).await?;
            if page.events.is_empty() {
                break;
            }
            for stored in &page.events {
                let event = self.read(stored)?;
                state.evolve(&StoredFact {
                    event_id: stored.event_id,
                    position: stored.position,
                    event,
                });
            }
        }
        let mut tx = self.store.pool().begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock_shared($1)")
            .bind(RECORDING_LOCK)
            .execute(&mut *tx)
            .await?;
        self.catch_up(&mut tx, &mut state).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a batch too large for one transaction (an import): judged whole first, then
    /// appended in transactions of at most `chunk` events while this process holds the
    /// recording lock on a connection of its own, so no other recording interleaves.
    /// Interrupted, it leaves a prefix stored; since every event keeps its id, running the same
    /// import again stores exactly the rest. `progress` hears (stored, total).
    pub async fn record_in_chunks(
        &self,
        submission: Submission,
        chunk: usize,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<usize, RecordError> {
        let chunk = chunk.clamp(1, MAX_BATCH);
        let mut state = self.state.lock().await;
        let mut lock = self.store.pool().acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(RECORDING_LOCK)
            .execute(&mut *lock)
            .await?;
        let result = async {
            self.catch_up(&mut lock, &mut state).await?;
            let (_, new_events) = judge(&state, &submission)?;
            let total = new_events.len();
            progress(0, total);
            let mut stored = 0;
            for part in new_events.chunks(chunk) {
                let mut tx = self.store.pool().begin().await?;
                let batch = AppendBatch {
                    events: part.to_vec(),
                    ..AppendBatch::default()
                };
                self.store.append_in(&mut tx, &batch).await?;
                tx.commit().await?;
                self.store.announce_commit();
                stored += part.len();
                progress(stored, total);
            }
            Ok(total)
        }
        .await;
        // Dropping the connection would release the lock too, but it goes back to the pool.
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(RECORDING_LOCK)
            .execute(&mut *lock)
            .await?;
        result
    }

    /// Folds every event committed since the state's position into it. Correct only under
    /// the recording lock: every writer of domain events holds it until commit, so none is in
    /// flight and no committed event is below a position already folded.
    async fn catch_up(
        &self,
        conn: &mut sqlx::PgConnection,
        state: &mut State,
    ) -> Result<(), RecordError> {
        let after = state.position().unwrap_or(0);
        for stored in self.store.read_committed_after(conn, after).await? {
            let event = self.read(&stored)?;
            state.evolve(&StoredFact {
                event_id: stored.event_id,
                position: stored.position,
                event,
            });
        }
        Ok(())
    }

    /// A stored event as the current domain type (upcast from its schema version).
    pub fn read(&self, stored: &RecordedEvent) -> Result<Event, RecordError> {
        self.upcaster
            .read_stored_text(&stored.event_type, stored.schema_version, stored.data.get())
            .map_err(|e| RecordError::Unreadable {
                position: stored.position,
                problem: e.to_string(),
            })
    }
}

/// Decides a submission against `state` and checks the recorder's scope; returns what was
/// decided and the events to append (an event id already stored with the same content is not
/// appended again).
fn judge(
    state: &State,
    submission: &Submission,
) -> Result<(Vec<Decided>, Vec<NewEvent>), RecordError> {
    let tz = state.tz();
    let today = Date::from_naive(Utc::now().with_timezone(&tz).date_naive());
    let proposed = submission
        .events
        .iter()
        .map(|s| Proposed {
            event: s.event.clone(),
            event_id: s.event_id,
        })
        .collect();
    let decided = state
        .decide(proposed, today)
        .map_err(RecordError::Rejected)?;
    if let Some(root) = &submission.scope {
        check_scope(state, root, &decided)?;
    }
    let new_events = decided
        .iter()
        .zip(&submission.events)
        .filter(|(d, _)| !d.already_stored)
        .map(|(d, s)| new_event(d, s))
        .collect();
    Ok((decided, new_events))
}

/// A recorder scoped to an org subtree touches only org units inside it and members whose
/// branch is inside it. Members the state does not know yet are enrolled by this batch, in a
/// branch that is itself checked. Every event reaching outside is named (a sheet shows each
/// at its row), an org unit reached through members once per member.
fn check_scope(state: &State, root: &Id, decided: &[Decided]) -> Result<(), RecordError> {
    let mut problems = Vec::new();
    for (index, d) in decided.iter().enumerate() {
        let scope = state.scope_of(&d.event);
        let named = d.event.named_org_units();
        let outside = |org: &&Id| !state.in_subtree(org, root) && state.org_unit(org).is_some();
        let unknown = |org: &&Id| state.org_unit(org).is_none() && !batch_establishes(decided, org);
        let known = scope.org_units.iter().filter(outside).map(|o| (o, true));
        let unknown = scope.org_units.iter().filter(unknown).map(|o| (o, false));
        for (org, known) in known.chain(unknown) {
            let problem = |member: Option<&Id>| ScopeProblem {
                index,
                org: org.clone(),
                root: root.clone(),
                known,
                member: member.cloned(),
            };
            let through: Vec<&Id> = scope
                .members
                .iter()
                .filter(|m| state.member(m).is_some_and(|m| &m.branch == org))
                .collect();
            if through.is_empty() || named.contains(&org) {
                problems.push(problem(None));
            }
            problems.extend(through.into_iter().map(|m| problem(Some(m))));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(RecordError::OutOfScope(problems))
    }
}

/// Whether the batch itself establishes `org` (its parent is then checked in turn).
fn batch_establishes(decided: &[Decided], org: &Id) -> bool {
    decided
        .iter()
        .any(|d| matches!(&d.event, Event::OrgUnitEstablished(e) if &e.org_id == org))
}

fn new_event(decided: &Decided, submitted: &Submitted) -> NewEvent {
    let occurred_at = submitted
        .occurred_at
        .or_else(|| decided.occurred_at.map(|at| at.with_timezone(&Utc)));
    NewEvent {
        event_id: decided.event_id,
        stream: decided.stream.clone(),
        event_type: decided.event.type_name().to_owned(),
        schema_version: Event::schema_version_of(decided.event.type_name()).unwrap_or(1) as i32,
        occurred_at,
        actor: submitted.actor.clone(),
        data: decided.event.data(),
        metadata: Value::Object(submitted.metadata.clone()),
    }
}

/// What makes a retried request the same request: every submitted event's type, canonical
/// data and client-supplied id, in order.
fn fingerprint(events: &[Submitted]) -> Vec<u8> {
    let items: Vec<Value> = events
        .iter()
        .map(|s| json!([s.event.type_name(), s.event.data(), s.event_id]))
        .collect();
    Sha256::digest(to_canonical_string(&Value::Array(items)).as_bytes()).to_vec()
}
