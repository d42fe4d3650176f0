//! The tree in PostgreSQL: complete subtrees by (level, index), leaf → event map, the cursor
//! row, signed checkpoints (migration `0004_audit.sql`), and the proofs served from them.
//!
//! Appends never touch these tables. [`extend_tree`] reads committed events below the safe
//! frontier (`EventStore::read_all`, so no event that commits late is ever skipped or put out of
//! order), hashes them, and in one transaction per batch moves the one-row cursor by
//! compare-and-set and inserts the new leaves and every subtree they complete. A crash before
//! the commit leaves nothing; the next run starts from the cursor again. Two extenders (several
//! server instances) may race: the second's compare-and-set waits for the first's commit, then
//! matches no row and its batch is dropped, so nothing is ever added twice.
//!
//! Any root or proof is the fold of at most ~2·log₂ n stored subtrees ([`crate::merkle`]), read
//! in one statement.

use crate::AuditError;
use crate::checkpoint::{Checkpoint, TreeHead, parse_checkpoint_unverified};
use crate::leaf::{LeafRecord, leaf_bytes};
use crate::merkle::{
    Frontier, Hash, NodeId, consistency_ranges, hashes_for, inclusion_ranges, leaf_hash, nodes_for,
    range_hash, subtrees,
};
use crate::note::{Signer, Verifier};
use crate::offline::{PROOF_FORMAT, ProofFile};
use chrono::{DateTime, Utc};
use partyedu_store::EventStore;
use serde::Serialize;
use sqlx::{PgPool, Row};
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;
use tracing::instrument;
use uuid::Uuid;

/// Events per extension transaction: large enough to keep up with bulk imports, small enough
/// that the transaction (which holds back every reader's frontier while open) stays short.
const EXTEND_BATCH: i64 = 10_000;

/// The cursor row: how many leaves the tree has and the position of the last.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TreeState {
    pub size: u64,
    pub last_position: i64,
}

pub(crate) async fn tree_state(pool: &PgPool) -> Result<TreeState, sqlx::Error> {
    let row = sqlx::query("SELECT size, last_position FROM audit_tree")
        .fetch_one(pool)
        .await?;
    Ok(TreeState {
        size: row.try_get::<i64, _>("size")? as u64,
        last_position: row.try_get("last_position")?,
    })
}

/// The number of leaves in the stored tree.
pub async fn tree_size(store: &EventStore) -> Result<u64, AuditError> {
    Ok(tree_state(store.pool()).await?.size)
}

/// Reads the given subtrees in one statement; absent ones are left out.
pub(crate) async fn read_nodes(
    pool: &PgPool,
    ids: &[NodeId],
) -> Result<HashMap<NodeId, Hash>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let levels: Vec<i16> = ids.iter().map(|id| i16::from(id.level)).collect();
    let indexes: Vec<i64> = ids.iter().map(|id| id.index as i64).collect();
    let rows = sqlx::query(
        "SELECT n.level, n.idx, n.hash FROM audit_nodes n \
         JOIN UNNEST($1::smallint[], $2::bigint[]) AS want(level, idx) \
           ON n.level = want.level AND n.idx = want.idx",
    )
    .bind(&levels)
    .bind(&indexes)
    .fetch_all(pool)
    .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let level: i16 = row.try_get("level")?;
        let index: i64 = row.try_get("idx")?;
        let hash: Vec<u8> = row.try_get("hash")?;
        if let Some(hash) = Hash::from_slice(&hash) {
            out.insert(
                NodeId {
                    level: level as u8,
                    index: index as u64,
                },
                hash,
            );
        }
    }
    Ok(out)
}

/// The frontier (right edge) of the stored tree of `size` leaves.
pub(crate) async fn stored_frontier(pool: &PgPool, size: u64) -> Result<Frontier, AuditError> {
    let nodes = read_nodes(pool, &subtrees(0..size)).await?;
    Ok(Frontier::from_nodes(size, &|id| nodes.get(&id).copied())?)
}

/// The hashes of the given ranges of the stored tree (a proof), in one read.
async fn stored_hashes(
    pool: &PgPool,
    ranges: &[std::ops::Range<u64>],
) -> Result<Vec<Hash>, AuditError> {
    let nodes = read_nodes(pool, &nodes_for(ranges)).await?;
    Ok(hashes_for(ranges, &nodes)?)
}

/// The root of the stored tree's first `size` leaves, from its complete subtrees.
pub(crate) async fn stored_root(pool: &PgPool, size: u64) -> Result<Hash, AuditError> {
    let nodes = read_nodes(pool, &subtrees(0..size)).await?;
    Ok(range_hash(0..size, &|id| nodes.get(&id).copied())?)
}

fn check_size(size: u64, tree: u64) -> Result<(), AuditError> {
    if size > tree {
        return Err(AuditError::BeyondTree { size, tree });
    }
    Ok(())
}

/// The root of the stored tree's first `size` leaves.
pub async fn root_at(store: &EventStore, size: u64) -> Result<Hash, AuditError> {
    check_size(size, tree_size(store).await?)?;
    stored_root(store.pool(), size).await
}

/// Extends the tree by at most one batch; the new size.
async fn extend_batch(store: &EventStore, limit: i64) -> Result<(u64, usize), AuditError> {
    let pool = store.pool();
    let state = tree_state(pool).await?;
    let page = store.read_all(state.last_position, limit, None).await?;
    let Some(last) = page.events.last() else {
        return Ok((state.size, 0));
    };
    let last_position = last.position;
    let mut frontier = stored_frontier(pool, state.size).await?;

    // Hash outside the transaction: it holds an xid, and with it every reader's frontier.
    let n = page.events.len();
    let (mut leaf_indexes, mut positions, mut event_ids) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut levels, mut node_indexes, mut hashes) = (
        Vec::with_capacity(2 * n),
        Vec::with_capacity(2 * n),
        Vec::with_capacity(2 * n),
    );
    for event in &page.events {
        leaf_indexes.push(frontier.size() as i64);
        positions.push(event.position);
        event_ids.push(event.event_id);
        frontier.push(leaf_hash(&leaf_bytes(event)), |id, hash| {
            levels.push(i16::from(id.level));
            node_indexes.push(id.index as i64);
            hashes.push(hash.0.to_vec());
        });
    }

    let mut tx = pool.begin().await?;
    let moved = sqlx::query(
        "UPDATE audit_tree SET size = $1, last_position = $2, updated_at = now() \
         WHERE size = $3 AND last_position = $4",
    )
    .bind(frontier.size() as i64)
    .bind(last_position)
    .bind(state.size as i64)
    .bind(state.last_position)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 0 {
        // Another extender committed this batch first; ours is dropped, nothing was written.
        tx.rollback().await?;
        tracing::debug!("another extender moved the tree first");
        return Ok((tree_state(pool).await?.size, 0));
    }
    sqlx::query(
        "INSERT INTO audit_leaves (leaf_index, position, event_id) \
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::uuid[])",
    )
    .bind(&leaf_indexes)
    .bind(&positions)
    .bind(&event_ids)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO audit_nodes (level, idx, hash) \
         SELECT * FROM UNNEST($1::smallint[], $2::bigint[], $3::bytea[])",
    )
    .bind(&levels)
    .bind(&node_indexes)
    .bind(&hashes)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((frontier.size(), n))
}

/// Brings the tree up to the log's safe frontier, batch by batch; the new size.
#[instrument(skip_all)]
pub async fn extend_tree(store: &EventStore) -> Result<u64, AuditError> {
    loop {
        let (size, added) = extend_batch(store, EXTEND_BATCH).await?;
        if added < EXTEND_BATCH as usize {
            return Ok(size);
        }
    }
}

fn checkpoint_from_row(row: &sqlx::postgres::PgRow) -> Result<Checkpoint, AuditError> {
    let note: String = row.try_get("note")?;
    let head = parse_checkpoint_unverified(&note)?;
    Ok(Checkpoint {
        head,
        note,
        created_at: row.try_get::<Option<DateTime<Utc>>, _>("created_at")?,
    })
}

/// Signs the current tree head with `signer` under `origin` and stores the checkpoint (the same
/// head signed again by the same key is the same note, stored once).
#[instrument(skip_all, fields(origin = origin))]
pub async fn sign_checkpoint(
    store: &EventStore,
    signer: &Signer,
    origin: &str,
) -> Result<Checkpoint, AuditError> {
    let pool = store.pool();
    let size = tree_state(pool).await?.size;
    let root = stored_root(pool, size).await?;
    let head = TreeHead {
        origin: origin.to_owned(),
        size,
        root,
    };
    let note = head.sign(signer)?;
    sqlx::query(
        "INSERT INTO audit_checkpoints (size, root_hash, note) VALUES ($1, $2, $3) \
         ON CONFLICT (note) DO NOTHING",
    )
    .bind(size as i64)
    .bind(root.0.to_vec())
    .bind(&note)
    .execute(pool)
    .await?;
    let row = sqlx::query("SELECT note, created_at FROM audit_checkpoints WHERE note = $1")
        .bind(&note)
        .fetch_one(pool)
        .await?;
    checkpoint_from_row(&row)
}

/// Up to `limit` stored checkpoints of sizes above `after`, smallest first.
pub async fn checkpoints(
    store: &EventStore,
    after: u64,
    limit: i64,
) -> Result<Vec<Checkpoint>, AuditError> {
    let rows = sqlx::query(
        "SELECT note, created_at FROM audit_checkpoints WHERE size > $1 \
         ORDER BY size, id LIMIT $2",
    )
    .bind(after as i64)
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(checkpoint_from_row).collect()
}

/// The checkpoint of the largest size (the latest signed of that size).
pub async fn latest_checkpoint(store: &EventStore) -> Result<Option<Checkpoint>, AuditError> {
    let row = sqlx::query(
        "SELECT note, created_at FROM audit_checkpoints ORDER BY size DESC, id DESC LIMIT 1",
    )
    .fetch_optional(store.pool())
    .await?;
    row.as_ref().map(checkpoint_from_row).transpose()
}

/// The latest stored checkpoint of exactly `size` leaves.
pub async fn checkpoint_at(
    store: &EventStore,
    size: u64,
) -> Result<Option<Checkpoint>, AuditError> {
    let row = sqlx::query(
        "SELECT note, created_at FROM audit_checkpoints WHERE size = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(size as i64)
    .fetch_optional(store.pool())
    .await?;
    row.as_ref().map(checkpoint_from_row).transpose()
}

/// An event's inclusion proof (RFC 9162 §2.1.3) in the tree of `tree_size` leaves.
#[derive(Clone, Debug, Serialize)]
pub struct InclusionProof {
    pub event_id: Uuid,
    pub position: i64,
    pub leaf_index: u64,
    pub tree_size: u64,
    pub leaf_hash: Hash,
    pub audit_path: Vec<Hash>,
    /// The root the path leads to; compare it with a signed checkpoint of `tree_size`.
    pub root: Hash,
    /// The record as its leaf shows it (UTC milliseconds).
    pub record: serde_json::Value,
}

/// A consistency proof (RFC 9162 §2.1.4) between two sizes of the tree.
#[derive(Clone, Debug, Serialize)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    pub from_root: Hash,
    pub to_root: Hash,
    pub proof: Vec<Hash>,
}

async fn signed_size(store: &EventStore, size: Option<u64>) -> Result<u64, AuditError> {
    match size {
        Some(size) => Ok(size),
        None => Ok(latest_checkpoint(store)
            .await?
            .ok_or(AuditError::NoCheckpoints)?
            .head
            .size),
    }
}

/// The inclusion proof of an event in the tree of `size` leaves (`None`: the latest signed
/// checkpoint's size). The proof is made from stored hashes; its leaf hash is recomputed from
/// the stored row, so a changed row yields a proof that does not verify.
#[instrument(skip(store))]
pub async fn inclusion_proof(
    store: &EventStore,
    event_id: Uuid,
    size: Option<u64>,
) -> Result<InclusionProof, AuditError> {
    let pool = store.pool();
    let size = signed_size(store, size).await?;
    check_size(size, tree_state(pool).await?.size)?;
    let leaf_index: i64 =
        sqlx::query_scalar("SELECT leaf_index FROM audit_leaves WHERE event_id = $1")
            .bind(event_id)
            .fetch_optional(pool)
            .await?
            .ok_or(AuditError::NotInTree(event_id))?;
    let leaf_index = leaf_index as u64;
    if leaf_index >= size {
        return Err(AuditError::NotInTree(event_id));
    }
    let event = store
        .events_by_id(&[event_id])
        .await?
        .pop()
        .ok_or(AuditError::NotInTree(event_id))?;
    let mut ranges = inclusion_ranges(leaf_index, size)?;
    ranges.push(0..size);
    let mut hashes = stored_hashes(pool, &ranges).await?;
    let root = hashes.pop().expect("the root's range was asked for");
    let record = LeafRecord::from_event(&event);
    Ok(InclusionProof {
        event_id,
        position: event.position,
        leaf_index,
        tree_size: size,
        leaf_hash: leaf_hash(&record.to_bytes()),
        audit_path: hashes,
        root,
        record: record.to_json(),
    })
}

/// The consistency proof from the tree of `from` leaves to the tree of `to` leaves.
#[instrument(skip(store))]
pub async fn consistency_proof(
    store: &EventStore,
    from: u64,
    to: u64,
) -> Result<ConsistencyProof, AuditError> {
    let pool = store.pool();
    check_size(to, tree_state(pool).await?.size)?;
    let mut ranges = consistency_ranges(from, to)?;
    ranges.push(0..from);
    ranges.push(0..to);
    let mut hashes = stored_hashes(pool, &ranges).await?;
    let to_root = hashes.pop().expect("asked for");
    let from_root = hashes.pop().expect("asked for");
    Ok(ConsistencyProof {
        from,
        to,
        from_root,
        to_root,
        proof: hashes,
    })
}

/// A self-contained proof file for one event against the stored checkpoint of `size` (`None`:
/// the latest), with `verifier`'s key (the one that signed the checkpoint) inside.
pub async fn inclusion_proof_file(
    store: &EventStore,
    event_id: Uuid,
    size: Option<u64>,
    verifier: &Verifier,
) -> Result<ProofFile, AuditError> {
    let size = signed_size(store, size).await?;
    let checkpoint = checkpoint_at(store, size)
        .await?
        .ok_or(AuditError::NoCheckpoint(size))?;
    let proof = inclusion_proof(store, event_id, Some(size)).await?;
    Ok(ProofFile {
        format: PROOF_FORMAT.to_owned(),
        record: proof.record,
        leaf_index: proof.leaf_index,
        tree_size: proof.tree_size,
        audit_path: proof.audit_path,
        checkpoint: checkpoint.note,
        public_key: verifier.to_text(),
    })
}

/// Keeps the tree at the safe frontier and signs a checkpoint whenever it has grown, every
/// `interval` until `shutdown` completes. Errors are logged and retried at the next tick: a
/// database hiccup must not stop the log from being signed afterwards. Any number of instances
/// may run this at once (see the module documentation); they sign identical notes.
pub async fn run_tree_extender(
    store: EventStore,
    signer: Signer,
    origin: String,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut signed: Option<u64> = None;
    loop {
        match extend_and_sign(&store, &signer, &origin, signed).await {
            Ok(size) => signed = Some(size),
            Err(err) => tracing::warn!(error = %err, "extending or signing the audit tree"),
        }
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// One tick of [`run_tree_extender`]: the size signed now (or already signed before).
async fn extend_and_sign(
    store: &EventStore,
    signer: &Signer,
    origin: &str,
    signed: Option<u64>,
) -> Result<u64, AuditError> {
    let size = extend_tree(store).await?;
    if signed != Some(size) {
        let checkpoint = sign_checkpoint(store, signer, origin).await?;
        tracing::debug!(size = checkpoint.head.size, "signed a checkpoint");
        return Ok(checkpoint.head.size);
    }
    Ok(size)
}
