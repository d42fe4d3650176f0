//! RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification, without IO.
//!
//! The tree over `n` leaves is the one of RFC 9162 §2.1.1: `MTH({}) = SHA-256()`,
//! `MTH({d}) = SHA-256(0x00 ‖ d)`, and for `n > 1` with `k` the largest power of two below `n`,
//! `MTH(D[n]) = SHA-256(0x01 ‖ MTH(D[0:k]) ‖ MTH(D[k:n]))`.
//!
//! Storage works with *complete subtrees*: node `(level, index)` is the root of the perfect
//! subtree over leaves `index·2^level .. (index+1)·2^level`. Once written such a node never changes
//! while the log grows, so it can be stored append-only. Every subtree RFC 9162 talks about
//! (`D[a:b]` with `a` aligned to a power of two at least `b − a`) is the right fold of at most
//! log₂ n complete subtrees ([`subtrees`]); proofs are therefore computed in two steps that the
//! in-memory tree and the PostgreSQL node store share: the proof algorithms below name the
//! ranges whose hashes they need ([`inclusion_ranges`], [`consistency_ranges`]), the caller
//! fetches the complete subtrees of those ranges in one read, and [`range_hash`] folds them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

/// A SHA-256 hash: a leaf hash, a node hash or a tree root.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// Standard base64 with padding, as in checkpoints and proofs.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    pub fn from_base64(text: &str) -> Result<Self, ProofError> {
        let bytes = BASE64
            .decode(text.trim())
            .map_err(|_| ProofError::BadHash(text.to_owned()))?;
        Self::from_slice(&bytes).ok_or_else(|| ProofError::BadHash(text.to_owned()))
    }

    /// `None` unless `bytes` is exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        Some(Self(bytes.try_into().ok()?))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", hex::encode(self.0))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

// Hashes travel as base64 text in JSON (HTTP answers, proof files), as in checkpoints.
impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

/// Why a proof was refused, or could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("a consistency proof goes from a smaller tree to a larger one, not {from} to {to}")]
    SizesOutOfOrder { from: u64, to: u64 },
    #[error("the proof has {got} hashes where this one needs {want}")]
    WrongLength { got: usize, want: usize },
    #[error("the proof does not lead to the expected root hash")]
    RootMismatch,
    #[error("`{0}` is not a base64 SHA-256 hash")]
    BadHash(String),
    #[error("the tree has {tree} leaves, not {size}")]
    BeyondTree { size: u64, tree: u64 },
    #[error("the node store has no hash for subtree {0:?}")]
    MissingNode(NodeId),
}

/// The empty tree's root: SHA-256 of the empty string (RFC 9162 §2.1.1).
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

/// `SHA-256(0x00 ‖ leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(leaf);
    Hash(h.finalize().into())
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// A complete subtree: leaves `index·2^level .. (index+1)·2^level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u8,
    pub index: u64,
}

impl NodeId {
    pub fn leaves(&self) -> Range<u64> {
        let lo = self.index << self.level;
        lo..lo + (1u64 << self.level)
    }
}

/// The largest power of two strictly below `n` (`n > 1`).
fn split_point(n: u64) -> u64 {
    debug_assert!(n > 1);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The complete subtrees whose right fold is `MTH(D[range])`, largest (leftmost) first.
///
/// `range.start` must be aligned to a power of two at least the range's length, as every
/// subtree of the RFC 9162 construction is; then the decomposition follows the binary digits
/// of the length.
pub fn subtrees(range: Range<u64>) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut lo = range.start;
    while lo < range.end {
        let remaining = range.end - lo;
        let mut level = 63 - remaining.leading_zeros();
        // Alignment limits the block too (only for ranges outside the construction).
        if lo != 0 {
            level = level.min(lo.trailing_zeros());
        }
        out.push(NodeId {
            level: level as u8,
            index: lo >> level,
        });
        lo += 1u64 << level;
    }
    out
}

/// `MTH(D[range])` from the hashes of its complete subtrees (see [`subtrees`]).
pub fn range_hash(
    range: Range<u64>,
    node: &impl Fn(NodeId) -> Option<Hash>,
) -> Result<Hash, ProofError> {
    if range.is_empty() {
        return Ok(empty_root());
    }
    let parts = subtrees(range);
    let mut iter = parts.iter().rev();
    let last = *iter.next().expect("a non-empty range has a subtree");
    let mut acc = node(last).ok_or(ProofError::MissingNode(last))?;
    for &id in iter {
        acc = node_hash(&node(id).ok_or(ProofError::MissingNode(id))?, &acc);
    }
    Ok(acc)
}

/// The ranges whose hashes form the inclusion proof of leaf `index` in a tree of `size`
/// leaves, in proof order: RFC 9162 §2.1.3.1 `PATH(m, D[n])`, producing ranges for hashes.
pub fn inclusion_ranges(index: u64, size: u64) -> Result<Vec<Range<u64>>, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    fn path(m: u64, lo: u64, hi: u64, out: &mut Vec<Range<u64>>) {
        let n = hi - lo;
        if n == 1 {
            return;
        }
        let k = split_point(n);
        if m < k {
            path(m, lo, lo + k, out);
            out.push(lo + k..hi);
        } else {
            path(m - k, lo + k, hi, out);
            out.push(lo..lo + k);
        }
    }
    let mut out = Vec::new();
    path(index, 0, size, &mut out);
    Ok(out)
}

/// The ranges whose hashes form the consistency proof from `from` to `to` leaves, in proof
/// order: RFC 9162 §2.1.4.1 `PROOF(m, D[n]) = SUBPROOF(m, D[n], true)`; empty when
/// `from` is 0 or equals `to` (nothing to prove).
pub fn consistency_ranges(from: u64, to: u64) -> Result<Vec<Range<u64>>, ProofError> {
    if from > to {
        return Err(ProofError::SizesOutOfOrder { from, to });
    }
    fn subproof(m: u64, lo: u64, hi: u64, whole: bool, out: &mut Vec<Range<u64>>) {
        let n = hi - lo;
        if m == n {
            if !whole {
                out.push(lo..hi);
            }
            return;
        }
        let k = split_point(n);
        if m <= k {
            subproof(m, lo, lo + k, whole, out);
            out.push(lo + k..hi);
        } else {
            subproof(m - k, lo + k, hi, false, out);
            out.push(lo..lo + k);
        }
    }
    let mut out = Vec::new();
    if from > 0 && from < to {
        subproof(from, 0, to, true, &mut out);
    }
    Ok(out)
}

/// Every complete subtree the given ranges need, each once.
pub fn nodes_for(ranges: &[Range<u64>]) -> Vec<NodeId> {
    let mut ids: Vec<NodeId> = ranges.iter().flat_map(|r| subtrees(r.clone())).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Folds each range's subtrees into the range's hash: the proof itself.
pub fn hashes_for(
    ranges: &[Range<u64>],
    nodes: &HashMap<NodeId, Hash>,
) -> Result<Vec<Hash>, ProofError> {
    let lookup = |id: NodeId| nodes.get(&id).copied();
    ranges
        .iter()
        .map(|r| range_hash(r.clone(), &lookup))
        .collect()
}

/// Verifies an inclusion proof: RFC 9162 §2.1.3.2.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    path: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let want = inclusion_ranges(index, size)?.len();
    if path.len() != want {
        return Err(ProofError::WrongLength {
            got: path.len(),
            want,
        });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if snode == 0 {
            return Err(ProofError::WrongLength {
                got: path.len(),
                want,
            });
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode == 0 && r == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Verifies a consistency proof: RFC 9162 §2.1.4.2, with the trivial cases the algorithm
/// leaves out (`from == 0`: any tree extends the empty one; `from == to`: the roots are
/// equal) answered as transparency-dev/merkle does: only by an empty proof.
pub fn verify_consistency(
    from: u64,
    to: u64,
    from_root: &Hash,
    to_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    let want = consistency_ranges(from, to)?.len();
    if proof.len() != want {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            want,
        });
    }
    if from == 0 {
        return Ok(());
    }
    if from == to {
        return if from_root == to_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    // Step 2: a power-of-two first tree is itself a node of the second; its hash leads.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if from.is_power_of_two() {
        path.push(*from_root);
    }
    path.extend_from_slice(proof);
    let (mut fnode, mut snode) = (from - 1, to - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if snode == 0 {
            return Err(ProofError::WrongLength {
                got: proof.len(),
                want,
            });
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode == 0 && fr == *from_root && sr == *to_root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// The right edge of a growing tree: the complete subtrees of `D[0:size]`, largest first.
///
/// Appending a leaf merges equal-sized subtrees; every node that becomes complete is handed
/// back so that a node store can keep it. This is how the extender, the database verifier and
/// the offline verifier all compute roots in O(log n) memory.
#[derive(Clone, Debug, Default)]
pub struct Frontier {
    size: u64,
    nodes: Vec<(NodeId, Hash)>,
}

impl Frontier {
    /// The frontier of a tree of `size` leaves from its complete subtrees ([`subtrees`]`(0..size)`).
    pub fn from_nodes(
        size: u64,
        node: &impl Fn(NodeId) -> Option<Hash>,
    ) -> Result<Self, ProofError> {
        let nodes = subtrees(0..size)
            .into_iter()
            .map(|id| node(id).map(|h| (id, h)).ok_or(ProofError::MissingNode(id)))
            .collect::<Result<_, _>>()?;
        Ok(Self { size, nodes })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash; `completed` receives every node that is now complete (the leaf
    /// itself first, then its ancestors bottom-up).
    pub fn push(&mut self, leaf: Hash, mut completed: impl FnMut(NodeId, Hash)) {
        let mut id = NodeId {
            level: 0,
            index: self.size,
        };
        let mut hash = leaf;
        completed(id, hash);
        while let Some(&(left_id, left)) = self.nodes.last() {
            if left_id.level != id.level {
                break;
            }
            self.nodes.pop();
            hash = node_hash(&left, &hash);
            id = NodeId {
                level: id.level + 1,
                index: left_id.index >> 1,
            };
            completed(id, hash);
        }
        self.nodes.push((id, hash));
        self.size += 1;
    }

    /// `MTH(D[0:size])`.
    pub fn root(&self) -> Hash {
        let mut iter = self.nodes.iter().rev();
        match iter.next() {
            None => empty_root(),
            Some(&(_, last)) => iter.fold(last, |acc, (_, left)| node_hash(left, &acc)),
        }
    }
}

/// A whole tree in memory, stored the way the database stores it (complete subtrees by
/// level and index): for tests, tools and small logs.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    frontier: Frontier,
    nodes: HashMap<NodeId, Hash>,
}

impl MemoryTree {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the leaf with these bytes (hashing them as a leaf).
    pub fn push_leaf(&mut self, leaf: &[u8]) {
        self.push_hash(leaf_hash(leaf));
    }

    /// Appends a leaf by its leaf hash.
    pub fn push_hash(&mut self, leaf: Hash) {
        let nodes = &mut self.nodes;
        self.frontier.push(leaf, |id, h| {
            nodes.insert(id, h);
        });
    }

    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    fn lookup(&self) -> impl Fn(NodeId) -> Option<Hash> + '_ {
        |id| self.nodes.get(&id).copied()
    }

    /// The root of the first `size` leaves.
    pub fn root(&self, size: u64) -> Result<Hash, ProofError> {
        self.check_size(size)?;
        range_hash(0..size, &self.lookup())
    }

    /// The audit path of leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(size)?;
        hashes_for(&inclusion_ranges(index, size)?, &self.nodes)
    }

    /// The consistency proof from the first `from` leaves to the first `to`.
    pub fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(to)?;
        hashes_for(&consistency_ranges(from, to)?, &self.nodes)
    }

    fn check_size(&self, size: u64) -> Result<(), ProofError> {
        if size > self.size() {
            return Err(ProofError::BeyondTree {
                size,
                tree: self.size(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtrees_follow_the_binary_digits_of_the_size() {
        let ids = subtrees(0..13);
        let ranges: Vec<_> = ids.iter().map(NodeId::leaves).collect();
        assert_eq!(ranges, vec![0..8, 8..12, 12..13]);
        assert_eq!(subtrees(8..11).len(), 2);
        assert!(subtrees(5..5).is_empty());
    }

    #[test]
    fn split_point_is_the_largest_power_of_two_below() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(8), 4);
        assert_eq!(split_point(9), 8);
    }

    #[test]
    fn frontier_completes_nodes_bottom_up() {
        let mut f = Frontier::default();
        let mut done = Vec::new();
        for i in 0..4u8 {
            f.push(leaf_hash(&[i]), |id, _| done.push(id));
        }
        let levels: Vec<(u8, u64)> = done.iter().map(|id| (id.level, id.index)).collect();
        assert_eq!(
            levels,
            vec![(0, 0), (0, 1), (1, 0), (0, 2), (0, 3), (1, 1), (2, 0)]
        );
    }
}
