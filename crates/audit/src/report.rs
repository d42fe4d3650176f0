//! What the verifiers report: where the log breaks and how.

use serde::Serialize;
use std::fmt;
use uuid::Uuid;

/// How a stored log differs from the one the tree and its checkpoints commit to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The row at a leaf's position hashes differently: a field of it was changed.
    Changed,
    /// A leaf's event has no row any more (and is not elsewhere): deleted.
    Missing,
    /// A row that no leaf accounts for: inserted.
    Inserted,
    /// An event of the tree is at another position than its leaf says: moved or swapped.
    Reordered,
    /// The log ends before the tree (or a checkpoint) does: the tail was removed.
    Truncated,
    /// A checkpoint's root does not match, but no single row could be blamed (the stored tree
    /// itself was rewritten too, or an export was edited): the break lies between
    /// `position` and the checkpoint's size.
    Unlocated,
    /// A record could not be read at all (export files only).
    Unreadable,
}

impl fmt::Display for BreakKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self {
            Self::Changed => "changed",
            Self::Missing => "missing",
            Self::Inserted => "inserted",
            Self::Reordered => "reordered",
            Self::Truncated => "truncated",
            Self::Unlocated => "unlocated",
            Self::Unreadable => "unreadable",
        };
        f.write_str(word)
    }
}

/// One place where the log breaks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Break {
    pub kind: BreakKind,
    /// The position where it breaks: the leaf's position, or the row's for an inserted one.
    pub position: Option<i64>,
    /// The leaf (0-based index in the tree) concerned, when there is one.
    pub leaf_index: Option<u64>,
    pub event_id: Option<Uuid>,
    /// The 1-based line of an export file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    pub detail: String,
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(line) = self.line {
            write!(f, " at line {line}")?;
        }
        if let Some(position) = self.position {
            write!(f, " at position {position}")?;
        }
        if let Some(leaf) = self.leaf_index {
            write!(f, " (leaf {leaf})")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// A stored checkpoint that does not hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckpointFailure {
    pub size: u64,
    pub problem: String,
}

/// The outcome of [`crate::verify_database`].
#[derive(Clone, Debug, Default, Serialize)]
pub struct DatabaseReport {
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Leaves in the stored tree when the check started.
    pub tree_size: u64,
    /// Rows re-hashed.
    pub rows_checked: u64,
    /// Checkpoints whose root was recomputed from the rows and compared.
    pub checkpoints_checked: u64,
    /// Checkpoints ignored because no key was given for them or they are signed by another key.
    pub checkpoints_skipped: u64,
    /// Every break found, in position order (at most [`crate::verify::MAX_BREAKS`]).
    pub breaks: Vec<Break>,
    pub checkpoint_failures: Vec<CheckpointFailure>,
    /// The check stopped early at the limit of breaks.
    pub incomplete: bool,
}

impl DatabaseReport {
    pub fn ok(&self) -> bool {
        self.breaks.is_empty() && self.checkpoint_failures.is_empty()
    }

    pub fn first_break(&self) -> Option<&Break> {
        self.breaks.first()
    }
}

/// The outcome of [`crate::verify_export`].
#[derive(Clone, Debug, Serialize)]
pub struct ExportReport {
    pub origin: String,
    /// The sizes of the checkpoints checked, ascending.
    pub checkpoint_sizes: Vec<u64>,
    /// Records hashed (at most the largest checkpoint's size).
    pub records_checked: u64,
    /// The first break, if any.
    pub first_break: Option<Break>,
}

impl ExportReport {
    pub fn ok(&self) -> bool {
        self.first_break.is_none()
    }
}
