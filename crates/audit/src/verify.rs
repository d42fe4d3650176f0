//! Verifying the database: re-hash every stored row, rebuild the tree from the rows alone and
//! compare it with the signed checkpoints; locate and classify where the rows and the tree part.
//!
//! Nothing stored is taken on trust for the verdict: the rows are re-hashed, the recomputed
//! roots are compared with signed checkpoint notes (signatures checked when a key is given).
//! The stored leaves (leaf → position, event id, leaf hash) serve only to say *where* and *how*
//! the log broke, by merging them with the rows in position order:
//! - a row at a leaf's position that hashes differently is **changed** — or **reordered** when
//!   it is another leaf's event (two swapped events give two such breaks);
//! - a leaf whose position has no row is **missing** (deleted) — or **reordered** when its event
//!   is at another position now; when the log simply ends there, it is **truncated**;
//! - a row at a position no leaf has is **inserted** — or **reordered** when it is a leaf's
//!   event moved there.
//!
//! Should the stored tree have been rewritten along with the rows, the rows and the stored
//! leaves agree, but a recomputed root does not match its signed checkpoint: the break is then
//! reported as **unlocated**, between the last checkpoint that held and the first that did not.
//!
//! With `from`, the tree's left part before `from` is taken from the stored subtrees; a wrong
//! stored subtree there still shows, as a checkpoint whose root does not match.

use crate::AuditError;
use crate::checkpoint::{TreeHead, parse_checkpoint_unverified, verify_checkpoint};
use crate::leaf::leaf_bytes;
use crate::merkle::{Frontier, Hash, leaf_hash};
use crate::note::{NoteError, Verifier};
use crate::report::{Break, BreakKind, CheckpointFailure, DatabaseReport};
use crate::tree::{stored_frontier, stored_root, tree_state};
use partyedu_store::{EventStore, RecordedEvent};
use sqlx::{PgPool, Row};
use std::collections::VecDeque;
use tracing::instrument;
use uuid::Uuid;

/// Verification stops after this many breaks: past that the report would only repeat itself.
pub const MAX_BREAKS: usize = 100;
const PAGE: i64 = 5_000;

/// The rows of the log in position order, read page by page below the safe frontier.
struct Rows<'a> {
    store: &'a EventStore,
    after: i64,
    buf: VecDeque<RecordedEvent>,
    at_end: bool,
}

impl Rows<'_> {
    async fn peek(&mut self) -> Result<Option<&RecordedEvent>, AuditError> {
        if self.buf.is_empty() && !self.at_end {
            let page = self.store.read_all(self.after, PAGE, None).await?;
            self.at_end = (page.events.len() as i64) < PAGE;
            if let Some(last) = page.events.last() {
                self.after = last.position;
            }
            self.buf.extend(page.events);
        }
        Ok(self.buf.front())
    }
}

/// A stored leaf with its stored leaf hash (level-0 node).
struct StoredLeaf {
    index: u64,
    position: i64,
    event_id: Uuid,
    hash: Option<Hash>,
}

struct Leaves<'a> {
    pool: &'a PgPool,
    next: u64,
    end: u64,
    max_position: i64,
    buf: VecDeque<StoredLeaf>,
}

impl Leaves<'_> {
    async fn peek(&mut self) -> Result<Option<&StoredLeaf>, AuditError> {
        if self.buf.is_empty() && self.next < self.end {
            let rows = sqlx::query(
                "SELECT l.leaf_index, l.position, l.event_id, n.hash FROM audit_leaves l \
                 LEFT JOIN audit_nodes n ON n.level = 0 AND n.idx = l.leaf_index \
                 WHERE l.leaf_index >= $1 AND l.leaf_index < $2 AND l.position <= $3 \
                 ORDER BY l.leaf_index LIMIT $4",
            )
            .bind(self.next as i64)
            .bind(self.end as i64)
            .bind(self.max_position)
            .bind(PAGE)
            .fetch_all(self.pool)
            .await?;
            if rows.is_empty() {
                self.next = self.end;
            }
            for row in rows {
                let index = row.try_get::<i64, _>("leaf_index")? as u64;
                let hash: Option<Vec<u8>> = row.try_get("hash")?;
                self.next = index + 1;
                self.buf.push_back(StoredLeaf {
                    index,
                    position: row.try_get("position")?,
                    event_id: row.try_get("event_id")?,
                    hash: hash.as_deref().and_then(Hash::from_slice),
                });
            }
        }
        Ok(self.buf.front())
    }
}

/// A checkpoint to compare with, or why it cannot be.
enum Signed {
    Head(TreeHead),
    Skipped,
    Failed(CheckpointFailure),
}

/// The stored checkpoints above a size, in size order, read page by page.
struct Checkpoints<'a> {
    pool: &'a PgPool,
    verifier: Option<&'a Verifier>,
    after: (i64, i64),
    buf: VecDeque<(u64, Signed)>,
    at_end: bool,
}

impl Checkpoints<'_> {
    async fn peek_size(&mut self) -> Result<Option<u64>, AuditError> {
        if self.buf.is_empty() && !self.at_end {
            let rows = sqlx::query(
                "SELECT id, size, note FROM audit_checkpoints WHERE (size, id) > ($1, $2) \
                 ORDER BY size, id LIMIT $3",
            )
            .bind(self.after.0)
            .bind(self.after.1)
            .bind(PAGE)
            .fetch_all(self.pool)
            .await?;
            self.at_end = (rows.len() as i64) < PAGE;
            for row in rows {
                let (id, size): (i64, i64) = (row.try_get("id")?, row.try_get("size")?);
                let note: String = row.try_get("note")?;
                self.after = (size, id);
                let size = size as u64;
                let signed = self.judge(size, &note);
                self.buf.push_back((size, signed));
            }
        }
        Ok(self.buf.front().map(|(size, _)| *size))
    }

    fn judge(&self, size: u64, note: &str) -> Signed {
        let head = match self.verifier {
            Some(verifier) => match verify_checkpoint(note, verifier) {
                Ok(head) => head,
                // Signed by another key only (an old or a witness's): not ours to judge.
                Err(NoteError::NoSignature(_)) => return Signed::Skipped,
                Err(err) => {
                    return Signed::Failed(CheckpointFailure {
                        size,
                        problem: err.to_string(),
                    });
                }
            },
            None => match parse_checkpoint_unverified(note) {
                Ok(head) => head,
                Err(err) => {
                    return Signed::Failed(CheckpointFailure {
                        size,
                        problem: err.to_string(),
                    });
                }
            },
        };
        if head.size != size {
            return Signed::Failed(CheckpointFailure {
                size,
                problem: format!("the stored size disagrees with the note's {}", head.size),
            });
        }
        Signed::Head(head)
    }
}

/// Where the stored leaf of an event is: `(leaf index, position)`.
async fn leaf_of(pool: &PgPool, event_id: Uuid) -> Result<Option<(u64, i64)>, AuditError> {
    let row = sqlx::query("SELECT leaf_index, position FROM audit_leaves WHERE event_id = $1")
        .bind(event_id)
        .fetch_optional(pool)
        .await?;
    Ok(match row {
        Some(row) => Some((
            row.try_get::<i64, _>("leaf_index")? as u64,
            row.try_get("position")?,
        )),
        None => None,
    })
}

/// Where the row of an event is now.
async fn row_position_of(pool: &PgPool, event_id: Uuid) -> Result<Option<i64>, AuditError> {
    Ok(
        sqlx::query_scalar("SELECT position FROM events WHERE event_id = $1")
            .bind(event_id)
            .fetch_optional(pool)
            .await?,
    )
}

/// The running verification: the tree rebuilt from the rows and what has been found.
struct Check<'a> {
    pool: &'a PgPool,
    frontier: Frontier,
    report: DatabaseReport,
    /// The largest checkpoint size that held so far, and the position of the first row after it.
    last_good: u64,
    after_good_position: Option<i64>,
    /// The first checkpoint that did not hold: (size, the rows' first position after the last
    /// that did).
    first_bad: Option<(u64, Option<i64>)>,
}

impl Check<'_> {
    fn found(
        &mut self,
        kind: BreakKind,
        leaf: Option<&StoredLeaf>,
        row: Option<&RecordedEvent>,
        detail: String,
    ) {
        self.report.breaks.push(Break {
            kind,
            position: row.map(|r| r.position).or(leaf.map(|l| l.position)),
            leaf_index: leaf.map(|l| l.index),
            event_id: row.map(|r| r.event_id).or(leaf.map(|l| l.event_id)),
            line: None,
            detail,
        });
    }

    /// Adds a row to the rebuilt tree and compares every checkpoint of the size reached.
    async fn push_row(
        &mut self,
        row: &RecordedEvent,
        checkpoints: &mut Checkpoints<'_>,
    ) -> Result<(), AuditError> {
        if self.frontier.size() == self.last_good {
            self.after_good_position = Some(row.position);
        }
        self.frontier.push(leaf_hash(&leaf_bytes(row)), |_, _| {});
        self.report.rows_checked += 1;
        let size = self.frontier.size();
        while let Some(cp_size) = checkpoints.peek_size().await? {
            if cp_size > size {
                break;
            }
            let (_, signed) = checkpoints.buf.pop_front().expect("peeked");
            self.judge_checkpoint(cp_size, signed, cp_size == size);
        }
        Ok(())
    }

    fn judge_checkpoint(&mut self, size: u64, signed: Signed, reached: bool) {
        match signed {
            Signed::Skipped => self.report.checkpoints_skipped += 1,
            Signed::Failed(failure) => self.report.checkpoint_failures.push(failure),
            Signed::Head(head) if reached => {
                self.report.checkpoints_checked += 1;
                let root = self.frontier.root();
                if root == head.root {
                    if self.first_bad.is_none() {
                        self.last_good = size;
                        self.after_good_position = None;
                    }
                } else {
                    self.report.checkpoint_failures.push(CheckpointFailure {
                        size,
                        problem: format!(
                            "the rows give root {root}, the checkpoint says {}",
                            head.root
                        ),
                    });
                    self.first_bad
                        .get_or_insert((size, self.after_good_position));
                }
            }
            // Sizes at or below where a `from` check starts are not reached by it.
            Signed::Head(_) => {}
        }
    }

    /// A row at a leaf's position that hashes differently from the leaf.
    async fn mismatch(&mut self, row: &RecordedEvent, leaf: &StoredLeaf) -> Result<(), AuditError> {
        if row.event_id != leaf.event_id
            && let Some((index, position)) = leaf_of(self.pool, row.event_id).await?
        {
            let detail = format!(
                "event {} of leaf {index} (position {position}) stands here instead of {}",
                row.event_id, leaf.event_id
            );
            self.found(BreakKind::Reordered, Some(leaf), Some(row), detail);
        } else {
            let detail = if leaf.hash.is_none() {
                "the tree has no hash for this leaf".to_owned()
            } else if row.event_id != leaf.event_id {
                format!("the row's event_id was {}", leaf.event_id)
            } else {
                "the row hashes differently from its leaf".to_owned()
            };
            self.found(BreakKind::Changed, Some(leaf), Some(row), detail);
        }
        Ok(())
    }

    /// A row at a position that no leaf has.
    async fn unaccounted_row(&mut self, row: &RecordedEvent) -> Result<(), AuditError> {
        if let Some((index, position)) = leaf_of(self.pool, row.event_id).await? {
            let detail = format!("the event of leaf {index} moved here from position {position}");
            let leaf = StoredLeaf {
                index,
                position: row.position,
                event_id: row.event_id,
                hash: None,
            };
            self.found(BreakKind::Reordered, Some(&leaf), Some(row), detail);
        } else {
            let detail = "a row that no leaf of the tree accounts for".to_owned();
            self.found(BreakKind::Inserted, None, Some(row), detail);
        }
        Ok(())
    }

    /// A leaf whose position has no row.
    async fn rowless_leaf(&mut self, leaf: &StoredLeaf) -> Result<(), AuditError> {
        match row_position_of(self.pool, leaf.event_id).await? {
            Some(now) => {
                let detail = format!("the event of this leaf is at position {now} now");
                self.found(BreakKind::Reordered, Some(leaf), None, detail);
            }
            None => {
                let detail = "the leaf's event has no row".to_owned();
                self.found(BreakKind::Missing, Some(leaf), None, detail);
            }
        }
        Ok(())
    }
}

/// Re-hashes the stored rows with positions in `from ..= to` (the whole log by default),
/// rebuilds the tree from them and compares it with the stored signed checkpoints (their
/// signatures checked with `verifier` when given), and reports every break found.
#[instrument(skip(store, verifier))]
pub async fn verify_database(
    store: &EventStore,
    verifier: Option<&Verifier>,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<DatabaseReport, AuditError> {
    let pool = store.pool();
    let state = tree_state(pool).await?;
    let start_leaf = match from {
        Some(from) => sqlx::query_scalar::<_, i64>(
            "SELECT leaf_index FROM audit_leaves WHERE position >= $1 ORDER BY position LIMIT 1",
        )
        .bind(from)
        .fetch_optional(pool)
        .await?
        .map_or(state.size, |i| i as u64),
        None => 0,
    };
    let max_checkpoint: i64 =
        sqlx::query_scalar("SELECT COALESCE(max(size), 0)::bigint FROM audit_checkpoints")
            .fetch_one(pool)
            .await?;
    // Without `to`, every checkpoint must be covered by rows, also one the stored tree no
    // longer reaches (its leaves removed along with the rows).
    let needed = match to {
        Some(_) => 0,
        None => state.size.max(max_checkpoint as u64),
    };
    let end_position = to.unwrap_or(state.last_position);

    let mut rows = Rows {
        store,
        // Positions start at 1: a `from` at or below it re-hashes from the start.
        after: from.map_or(0, |f| f.saturating_sub(1).max(0)),
        buf: VecDeque::new(),
        at_end: false,
    };
    let mut leaves = Leaves {
        pool,
        next: start_leaf,
        end: state.size,
        max_position: end_position,
        buf: VecDeque::new(),
    };
    let mut checkpoints = Checkpoints {
        pool,
        verifier,
        after: (start_leaf as i64, i64::MAX),
        buf: VecDeque::new(),
        at_end: false,
    };
    let mut check = Check {
        pool,
        frontier: stored_frontier(pool, start_leaf).await?,
        report: DatabaseReport {
            from,
            to,
            tree_size: state.size,
            ..DatabaseReport::default()
        },
        last_good: start_leaf,
        after_good_position: None,
        first_bad: None,
    };

    loop {
        if check.report.breaks.len() >= MAX_BREAKS {
            check.report.incomplete = true;
            break;
        }
        let size = check.frontier.size();
        let row = rows
            .peek()
            .await?
            .filter(|r| r.position <= end_position || size < needed)
            .cloned();
        let leaf_position = leaves.peek().await?.map(|l| l.position);
        match (row, leaf_position) {
            (None, None) => break,
            (Some(row), Some(at)) if row.position == at => {
                let leaf = leaves.buf.pop_front().expect("peeked");
                rows.buf.pop_front();
                if leaf.hash != Some(leaf_hash(&leaf_bytes(&row))) {
                    check.mismatch(&row, &leaf).await?;
                }
                check.push_row(&row, &mut checkpoints).await?;
            }
            (Some(row), at) if at.is_none_or(|at| row.position < at) => {
                rows.buf.pop_front();
                // Rows past the stored tree are only read to reach a checkpoint it lacks.
                if row.position <= state.last_position {
                    check.unaccounted_row(&row).await?;
                }
                check.push_row(&row, &mut checkpoints).await?;
            }
            // What is left: a leaf before the next row, or after the last.
            (row, _) => {
                let leaf = leaves.buf.pop_front().expect("a leaf was peeked");
                if row.is_none() && rows.buf.is_empty() && rows.at_end {
                    let left = state.size - leaf.index;
                    let detail =
                        format!("the log ends before this leaf: {left} leaves have no row");
                    check.found(BreakKind::Truncated, Some(&leaf), None, detail);
                    break;
                }
                check.rowless_leaf(&leaf).await?;
            }
        }
    }

    // Checkpoints the rows never reached: the log is shorter than what was signed.
    if to.is_none() && !check.report.incomplete {
        let reached = check.frontier.size();
        while let Some(size) = checkpoints.peek_size().await? {
            let (_, signed) = checkpoints.buf.pop_front().expect("peeked");
            if let Signed::Head(_) = signed {
                check.report.checkpoint_failures.push(CheckpointFailure {
                    size,
                    problem: format!("the log has only {reached} events under this checkpoint"),
                });
                if check.report.breaks.is_empty() {
                    check.found(
                        BreakKind::Truncated,
                        None,
                        None,
                        format!("the log ends after leaf {reached}, a checkpoint covers {size}"),
                    );
                }
            } else {
                check.judge_checkpoint(size, signed, false);
            }
        }
    }

    if check.report.breaks.is_empty()
        && let Some((size, position)) = check.first_bad
    {
        let detail = format!(
            "the rows agree with the stored tree, but not with the checkpoint of size {size}: \
             the break lies in leaves {} .. {}",
            check.last_good,
            size - 1
        );
        check.report.breaks.push(Break {
            kind: BreakKind::Unlocated,
            position,
            leaf_index: Some(check.last_good),
            event_id: None,
            line: None,
            detail,
        });
    }

    check_stored_tree(pool, &state, &mut check.report, verifier).await?;
    Ok(check.report)
}

/// The stored subtrees (what proofs are served from) must give the latest checkpoint's root.
async fn check_stored_tree(
    pool: &PgPool,
    state: &crate::tree::TreeState,
    report: &mut DatabaseReport,
    verifier: Option<&Verifier>,
) -> Result<(), AuditError> {
    let row = sqlx::query(
        "SELECT note FROM audit_checkpoints WHERE size <= $1 ORDER BY size DESC, id DESC LIMIT 1",
    )
    .bind(state.size as i64)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(()) };
    let note: String = row.try_get("note")?;
    let head = match verifier {
        Some(v) => verify_checkpoint(&note, v).ok(),
        None => parse_checkpoint_unverified(&note).ok(),
    };
    // A checkpoint that does not parse or verify is reported already.
    let Some(head) = head else { return Ok(()) };
    let stored = stored_root(pool, head.size).await;
    if !matches!(stored, Ok(root) if root == head.root) {
        report.checkpoint_failures.push(CheckpointFailure {
            size: head.size,
            problem: "the stored tree's subtrees do not give this checkpoint's root: \
                      proofs served from it will not verify"
                .to_owned(),
        });
    }
    Ok(())
}
