//! Verification without a database: an export file against signed checkpoints, and a
//! self-contained inclusion proof file.
//!
//! An export (`partyedu export`, NDJSON, the whole log from the start) is re-hashed record by
//! record; leaf `i` is line `i + 1` (a blank line is an unreadable record). The checkpoint text may hold one checkpoint or several (as
//! `GET /api/v1/audit/checkpoints` lists them); each is checked against the root of that many
//! records, so that with several the break is narrowed to the records between the last that
//! held and the first that did not. The export may run past the largest checkpoint: the records
//! after it are not covered and not read.

use crate::AuditError;
use crate::checkpoint::{TreeHead, split_checkpoints, verify_checkpoint};
use crate::leaf::{LeafRecord, leaf_bytes_from_export};
use crate::merkle::{Frontier, Hash, leaf_hash, verify_inclusion};
use crate::note::Verifier;
use crate::report::{Break, BreakKind, ExportReport};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::BufRead;
use uuid::Uuid;

/// The `format` of an inclusion proof file.
pub const PROOF_FORMAT: &str = "partyedu-inclusion-proof/1";

/// A self-contained inclusion proof: one record, its place in a signed tree, the signed
/// checkpoint and the key that signed it (README: "Proof files").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProofFile {
    pub format: String,
    /// The record as its leaf shows it (timestamps in UTC milliseconds; a record as exported, in
    /// any zone, is accepted too).
    pub record: Value,
    pub leaf_index: u64,
    pub tree_size: u64,
    /// Base64 hashes, leaf side first (RFC 9162 §2.1.3.1).
    pub audit_path: Vec<Hash>,
    /// The signed checkpoint note of `tree_size` leaves.
    pub checkpoint: String,
    /// The verifier key text that signed it.
    pub public_key: String,
}

/// What a valid proof file proved.
#[derive(Clone, Debug, Serialize)]
pub struct InclusionReport {
    pub event_id: Uuid,
    pub position: i64,
    pub leaf_index: u64,
    pub tree_size: u64,
    pub origin: String,
    /// The name of the key that signed the checkpoint; compare the key with the operator's
    /// published one when no trusted key was given.
    pub key_name: String,
}

/// Checks a proof file. With `trusted_key` (a verifier key text), the file's key must be that
/// key; without, the proof only shows that the file is consistent with the key it names.
pub fn verify_inclusion_proof(
    proof_json: &str,
    trusted_key: Option<&str>,
) -> Result<InclusionReport, AuditError> {
    let file: ProofFile =
        serde_json::from_str(proof_json).map_err(|e| AuditError::ProofFile(e.to_string()))?;
    if file.format != PROOF_FORMAT {
        return Err(AuditError::ProofFile(format!(
            "format `{}`, this verifier reads `{PROOF_FORMAT}`",
            file.format
        )));
    }
    let key = Verifier::from_text(&file.public_key)?;
    if let Some(trusted) = trusted_key
        && Verifier::from_text(trusted)? != key
    {
        return Err(AuditError::KeyMismatch);
    }
    let head = verify_checkpoint(&file.checkpoint, &key)?;
    if head.size != file.tree_size {
        return Err(AuditError::ProofFile(format!(
            "the proof is for size {}, the checkpoint for {}",
            file.tree_size, head.size
        )));
    }
    let record = LeafRecord::from_export(&file.record)
        .map_err(|e| AuditError::ProofFile(format!("record: {e}")))?;
    verify_inclusion(
        file.leaf_index,
        file.tree_size,
        &leaf_hash(&record.to_bytes()),
        &file.audit_path,
        &head.root,
    )?;
    Ok(InclusionReport {
        event_id: record.event_id,
        position: record.position,
        leaf_index: file.leaf_index,
        tree_size: file.tree_size,
        origin: head.origin,
        key_name: key.name().to_owned(),
    })
}

fn export_break(kind: BreakKind, line: u64, position: Option<i64>, detail: String) -> Break {
    Break {
        kind,
        position,
        leaf_index: Some(line - 1),
        event_id: None,
        line: Some(line),
        detail,
    }
}

/// Checks an export against one or more signed checkpoints (all signatures must verify with
/// `verifier_key`). An unreadable key or checkpoint is an error; a log that does not match is a
/// report whose `first_break` names the line and position.
pub fn verify_export(
    export: impl BufRead,
    checkpoint_text: &str,
    verifier_key: &str,
) -> Result<ExportReport, AuditError> {
    let verifier = Verifier::from_text(verifier_key)?;
    let mut heads: Vec<TreeHead> = split_checkpoints(checkpoint_text)
        .into_iter()
        .map(|note| verify_checkpoint(note, &verifier))
        .collect::<Result<_, _>>()?;
    if heads.is_empty() {
        return Err(AuditError::NoCheckpoints);
    }
    heads.sort_by_key(|h| h.size);
    let mut report = ExportReport {
        origin: heads[heads.len() - 1].origin.clone(),
        checkpoint_sizes: heads.iter().map(|h| h.size).collect(),
        records_checked: 0,
        first_break: None,
    };
    let target = heads[heads.len() - 1].size;
    let mut pending = heads.iter().peekable();
    // An empty tree needs no record.
    while pending.next_if(|h| h.size == 0).is_some() {}

    let mut frontier = Frontier::default();
    let mut last_good = 0u64;
    let mut first_of_range: Option<i64> = None;
    let mut previous_position: Option<i64> = None;
    let mut lines = export.lines();
    let mut line_no = 0u64;
    while frontier.size() < target {
        let Some(line) = lines.next() else {
            report.first_break = Some(export_break(
                BreakKind::Truncated,
                line_no + 1,
                None,
                format!(
                    "the export ends after {} records, the checkpoint covers {target}",
                    frontier.size()
                ),
            ));
            return Ok(report);
        };
        let line = line?;
        line_no += 1;
        let record: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                let b = export_break(BreakKind::Unreadable, line_no, None, e.to_string());
                report.first_break = Some(b);
                return Ok(report);
            }
        };
        let position = record.get("position").and_then(Value::as_i64);
        let leaf = match leaf_bytes_from_export(&record) {
            Ok(leaf) => leaf,
            Err(e) => {
                let b = export_break(BreakKind::Unreadable, line_no, position, e.to_string());
                report.first_break = Some(b);
                return Ok(report);
            }
        };
        // Positions only grow; a record out of order is reported where it stands.
        if let (Some(prev), Some(pos)) = (previous_position, position)
            && pos <= prev
        {
            let detail = format!("position {pos} after {prev}");
            report.first_break = Some(export_break(
                BreakKind::Reordered,
                line_no,
                position,
                detail,
            ));
            return Ok(report);
        }
        previous_position = position;
        if frontier.size() == last_good {
            first_of_range = position;
        }
        frontier.push(leaf_hash(&leaf), |_, _| {});
        report.records_checked += 1;
        while let Some(head) = pending.next_if(|h| h.size == frontier.size()) {
            if frontier.root() == head.root {
                last_good = head.size;
            } else {
                let detail = format!(
                    "the records give another root than the checkpoint of size {}: the break \
                     lies in lines {} .. {}",
                    head.size,
                    last_good + 1,
                    head.size
                );
                let b = export_break(BreakKind::Unlocated, last_good + 1, first_of_range, detail);
                report.first_break = Some(b);
                return Ok(report);
            }
        }
    }
    Ok(report)
}
