//! The verifiable log of partyedu: an RFC 6962 / RFC 9162 Merkle tree over the event log in
//! global order, signed checkpoints (C2SP `tlog-checkpoint` in a `signed-note`), inclusion and
//! consistency proofs, and verifiers that re-hash what they check.
//!
//! - [`merkle`]: the tree's hashing, proofs and verification, no IO;
//! - [`leaf`]: the bytes a leaf commits to (the canonical record, UTC milliseconds);
//! - [`note`], [`checkpoint`]: Ed25519 keys, signed notes, checkpoints;
//! - [`tree`]: the tree stored in PostgreSQL, extended behind the safe frontier, and proofs;
//! - [`verify`]: re-hashing the database and locating where it breaks;
//! - [`offline`]: checking an export or a proof file without a database.
//!
//! `README.md` beside this crate describes the formats.

pub mod checkpoint;
pub mod leaf;
pub mod merkle;
pub mod note;
pub mod offline;
pub mod report;
pub mod tree;
pub mod verify;

pub use checkpoint::{
    Checkpoint, TreeHead, parse_checkpoint_unverified, split_checkpoints, verify_checkpoint,
};
pub use leaf::{LeafRecord, leaf_bytes, leaf_bytes_from_export};
pub use merkle::{Hash, ProofError, empty_root, leaf_hash, node_hash};
pub use note::{NoteError, Signer, Verifier, generate_key};
pub use offline::{
    InclusionReport, PROOF_FORMAT, ProofFile, verify_export, verify_inclusion_proof,
};
pub use report::{Break, BreakKind, CheckpointFailure, DatabaseReport, ExportReport};
pub use tree::{
    ConsistencyProof, InclusionProof, checkpoint_at, checkpoints, consistency_proof, extend_tree,
    inclusion_proof, inclusion_proof_file, latest_checkpoint, root_at, run_tree_extender,
    sign_checkpoint, tree_size,
};
pub use verify::verify_database;

use uuid::Uuid;

/// What the audit functions can fail with; a failed *check* is a report, not an error.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Proof(#[from] ProofError),
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error("event {0} is not in the tree (yet)")]
    NotInTree(Uuid),
    #[error("no signed checkpoint of size {0}")]
    NoCheckpoint(u64),
    #[error("no signed checkpoint yet")]
    NoCheckpoints,
    #[error("the tree has {tree} leaves, not {size}")]
    BeyondTree { size: u64, tree: u64 },
    #[error("the proof file: {0}")]
    ProofFile(String),
    #[error("the public key in the proof file is not the one given")]
    KeyMismatch,
    #[error("reading the export: {0}")]
    Io(#[from] std::io::Error),
}
