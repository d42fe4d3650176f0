//! Signed tree heads in the C2SP `tlog-checkpoint` format, inside a signed note.
//!
//! The note's text is three lines: the origin (which log this is, e.g.
//! `partyedu/fushan-subdistrict`), the tree size in decimal, and the root hash in standard
//! base64; then the blank line and the signatures ([`crate::note`]). Several checkpoints in one
//! text (as a list of them is served or saved) are simply one note after the other, each
//! ending with its signature lines; [`split_checkpoints`] takes them apart.

use crate::merkle::Hash;
use crate::note::{self, NoteError, Signer, Verifier};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// What a checkpoint commits to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TreeHead {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

/// A stored (or received) signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    pub head: TreeHead,
    /// The signed note, byte for byte.
    pub note: String,
    /// When the database stored it (not part of what is signed).
    pub created_at: Option<DateTime<Utc>>,
}

impl TreeHead {
    /// The note text of the checkpoint.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        )
    }

    /// Parses a checkpoint's note text (extension lines after the third are allowed and ignored).
    pub fn parse_body(body: &str) -> Result<Self, NoteError> {
        let mut lines = body.lines();
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or(NoteError::Malformed("a checkpoint starts with its origin"))?;
        let size = lines
            .next()
            .filter(|l| l.bytes().all(|b| b.is_ascii_digit()) && (*l == "0" || !l.starts_with('0')))
            .and_then(|l| l.parse::<u64>().ok())
            .ok_or(NoteError::Malformed(
                "the second line is the tree size in decimal",
            ))?;
        let root = lines
            .next()
            .and_then(|l| Hash::from_base64(l).ok().filter(|h| h.to_base64() == l))
            .ok_or(NoteError::Malformed(
                "the third line is the base64 root hash",
            ))?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }

    /// Signs the tree head: the checkpoint note.
    pub fn sign(&self, signer: &Signer) -> Result<String, NoteError> {
        if self.origin.is_empty() || self.origin.contains('\n') {
            return Err(NoteError::Malformed("the origin is one non-empty line"));
        }
        signer.sign_note(&self.body())
    }
}

/// The tree head of a checkpoint note whose signature by `verifier` verifies.
pub fn verify_checkpoint(note: &str, verifier: &Verifier) -> Result<TreeHead, NoteError> {
    TreeHead::parse_body(note::open_note(note, verifier)?)
}

/// The tree head of a well-formed checkpoint note, signatures unchecked.
pub fn parse_checkpoint_unverified(note: &str) -> Result<TreeHead, NoteError> {
    TreeHead::parse_body(note::note_text_unverified(note)?)
}

/// The notes of a text holding one or more checkpoints one after another.
pub fn split_checkpoints(text: &str) -> Vec<&str> {
    let mut notes = Vec::new();
    let mut start = 0;
    let mut in_signatures = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let is_signature = line.starts_with('\u{2014}');
        if in_signatures && !is_signature {
            notes.push(&text[start..offset]);
            start = offset;
            in_signatures = false;
        }
        if is_signature {
            in_signatures = true;
        }
        offset += line.len();
    }
    if start < text.len() && !text[start..].trim().is_empty() {
        notes.push(&text[start..]);
    }
    // Blank lines between notes (as people paste them) are not part of either note.
    notes
        .into_iter()
        .map(|n| n.trim_start_matches('\n'))
        .filter(|n| !n.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_line_takes_no_leading_zeros_or_signs() {
        let root = crate::merkle::empty_root().to_base64();
        assert!(TreeHead::parse_body(&format!("o\n12\n{root}\n")).is_ok());
        assert!(TreeHead::parse_body(&format!("o\n012\n{root}\n")).is_err());
        assert!(TreeHead::parse_body(&format!("o\n+12\n{root}\n")).is_err());
        assert!(TreeHead::parse_body(&format!("o\n12\n{root}x\n")).is_err());
    }
}
