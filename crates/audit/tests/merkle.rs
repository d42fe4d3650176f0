//! The crate's tree against a second, deliberately plain implementation of RFC 9162 §2.1
//! (recursive, over the leaves themselves), against the published RFC 6962 test vectors of
//! transparency-dev/merkle, and against broken proofs.

use partyedu_audit::merkle::{MemoryTree, ProofError, verify_consistency, verify_inclusion};
use partyedu_audit::{Hash, empty_root, leaf_hash};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

/// The independent implementation, written from RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1 only.
mod plain {
    use super::*;

    fn sha(parts: &[&[u8]]) -> [u8; 32] {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().into()
    }

    fn k_of(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    /// MTH(D[n]).
    pub fn mth(d: &[Vec<u8>]) -> [u8; 32] {
        match d.len() {
            0 => sha(&[]),
            1 => sha(&[&[0], &d[0]]),
            n => {
                let k = k_of(n);
                sha(&[&[1], &mth(&d[..k]), &mth(&d[k..])])
            }
        }
    }

    /// PATH(m, D[n]).
    pub fn path(m: usize, d: &[Vec<u8>]) -> Vec<[u8; 32]> {
        let n = d.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = k_of(n);
        if m < k {
            let mut p = path(m, &d[..k]);
            p.push(mth(&d[k..]));
            p
        } else {
            let mut p = path(m - k, &d[k..]);
            p.push(mth(&d[..k]));
            p
        }
    }

    fn subproof(m: usize, d: &[Vec<u8>], b: bool) -> Vec<[u8; 32]> {
        let n = d.len();
        if m == n {
            return if b { Vec::new() } else { vec![mth(d)] };
        }
        let k = k_of(n);
        if m <= k {
            let mut p = subproof(m, &d[..k], b);
            p.push(mth(&d[k..]));
            p
        } else {
            let mut p = subproof(m - k, &d[k..], false);
            p.push(mth(&d[..k]));
            p
        }
    }

    /// PROOF(m, D[n]) for 0 < m < n.
    pub fn proof(m: usize, d: &[Vec<u8>]) -> Vec<[u8; 32]> {
        subproof(m, d, true)
    }
}

fn hashes(raw: Vec<[u8; 32]>) -> Vec<Hash> {
    raw.into_iter().map(Hash).collect()
}

fn tree_of(leaves: &[Vec<u8>]) -> MemoryTree {
    let mut tree = MemoryTree::new();
    for leaf in leaves {
        tree.push_leaf(leaf);
    }
    tree
}

fn random_leaves(rng: &mut StdRng, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|_| {
            let len = rng.random_range(0..40);
            (0..len).map(|_| rng.random()).collect()
        })
        .collect()
}

#[test]
fn the_empty_tree_is_the_hash_of_nothing() {
    assert_eq!(
        hex::encode(empty_root().0),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(MemoryTree::new().root(0).unwrap(), empty_root());
}

#[test]
fn agrees_with_the_plain_implementation_on_random_trees() {
    let mut rng = StdRng::seed_from_u64(6962);
    for _ in 0..40 {
        let n = rng.random_range(1..=300);
        let leaves = random_leaves(&mut rng, n);
        let tree = tree_of(&leaves);
        for size in [1, n / 3 + 1, n / 2 + 1, n - 1, n] {
            let size = size.clamp(1, n);
            let root = tree.root(size as u64).unwrap();
            assert_eq!(root.0, plain::mth(&leaves[..size]), "root of {size}");
            for _ in 0..4 {
                let m = rng.random_range(0..size);
                let path = tree.inclusion_proof(m as u64, size as u64).unwrap();
                assert_eq!(
                    path,
                    hashes(plain::path(m, &leaves[..size])),
                    "PATH({m}, {size})"
                );
                verify_inclusion(m as u64, size as u64, &leaf_hash(&leaves[m]), &path, &root)
                    .unwrap();
            }
            let from = rng.random_range(1..=size);
            let proof = tree.consistency_proof(from as u64, size as u64).unwrap();
            let want = if from == size {
                Vec::new()
            } else {
                hashes(plain::proof(from, &leaves[..size]))
            };
            assert_eq!(proof, want, "PROOF({from}, {size})");
            let from_root = tree.root(from as u64).unwrap();
            verify_consistency(from as u64, size as u64, &from_root, &root, &proof).unwrap();
        }
    }
}

#[test]
fn every_proof_of_small_trees_verifies_and_matches() {
    let mut rng = StdRng::seed_from_u64(9162);
    let leaves = random_leaves(&mut rng, 70);
    let tree = tree_of(&leaves);
    for size in 1..=70usize {
        let root = tree.root(size as u64).unwrap();
        for m in 0..size {
            let path = tree.inclusion_proof(m as u64, size as u64).unwrap();
            assert_eq!(path, hashes(plain::path(m, &leaves[..size])));
            verify_inclusion(m as u64, size as u64, &leaf_hash(&leaves[m]), &path, &root).unwrap();
        }
        for from in 1..size {
            let proof = tree.consistency_proof(from as u64, size as u64).unwrap();
            assert_eq!(proof, hashes(plain::proof(from, &leaves[..size])));
            let from_root = tree.root(from as u64).unwrap();
            verify_consistency(from as u64, size as u64, &from_root, &root, &proof).unwrap();
        }
    }
}

/// The vectors of transparency-dev/merkle `proof/verify_test.go` (from the certificate
/// transparency C++ tests).
mod vectors {
    use super::*;

    pub fn h(text: &str) -> Hash {
        Hash(hex::decode(text).unwrap().try_into().unwrap())
    }

    pub fn leaves() -> Vec<Vec<u8>> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|l| hex::decode(l).unwrap())
        .collect()
    }

    /// Roots of the trees of sizes 1 to 8.
    pub const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    pub fn root(size: u64) -> Hash {
        h(ROOTS[size as usize - 1])
    }

    /// (leaf index, tree size, path).
    pub fn inclusion() -> Vec<(u64, u64, Vec<Hash>)> {
        vec![
            (
                0,
                8,
                vec![
                    h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
                ],
            ),
            (
                5,
                8,
                vec![
                    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                    h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
                ],
            ),
            (
                2,
                3,
                vec![h(
                    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
                )],
            ),
            (
                1,
                5,
                vec![
                    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                ],
            ),
        ]
    }

    /// (size 1, size 2, proof).
    pub fn consistency() -> Vec<(u64, u64, Vec<Hash>)> {
        vec![
            (1, 1, vec![]),
            (
                1,
                8,
                vec![
                    h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
                ],
            ),
            (
                6,
                8,
                vec![
                    h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                    h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
                ],
            ),
            (
                2,
                5,
                vec![
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                ],
            ),
            (
                6,
                7,
                vec![
                    h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                    h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
                    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
                ],
            ),
        ]
    }
}

#[test]
fn published_roots_and_proofs_are_reproduced() {
    let leaves = vectors::leaves();
    let tree = tree_of(&leaves);
    for size in 1..=8 {
        assert_eq!(tree.root(size).unwrap(), vectors::root(size), "root {size}");
    }
    for (index, size, path) in vectors::inclusion() {
        assert_eq!(tree.inclusion_proof(index, size).unwrap(), path);
        let leaf = leaf_hash(&leaves[index as usize]);
        verify_inclusion(index, size, &leaf, &path, &vectors::root(size)).unwrap();
    }
    for (from, to, proof) in vectors::consistency() {
        assert_eq!(tree.consistency_proof(from, to).unwrap(), proof);
        verify_consistency(from, to, &vectors::root(from), &vectors::root(to), &proof).unwrap();
    }
}

fn flipped(proof: &[Hash], i: usize) -> Vec<Hash> {
    let mut p = proof.to_vec();
    p[i].0[0] ^= 8;
    p
}

#[test]
fn broken_inclusion_proofs_are_refused() {
    let leaves = vectors::leaves();
    let some = vectors::h("abacaba000000000000000000000000000000000000000000060061e00123456");
    for (index, size, path) in vectors::inclusion() {
        let leaf = leaf_hash(&leaves[index as usize]);
        let root = vectors::root(size);
        let refused = |i: u64, s: u64, leaf: &Hash, p: &[Hash], r: &Hash| {
            verify_inclusion(i, s, leaf, p, r).is_err()
        };
        assert!(refused(index.wrapping_sub(1), size, &leaf, &path, &root));
        assert!(refused(index + 1, size, &leaf, &path, &root));
        assert!(refused(index ^ 2, size, &leaf, &path, &root));
        assert!(refused(index, size * 2, &leaf, &path, &root));
        assert!(refused(index, size / 2, &leaf, &path, &root));
        assert!(refused(index, size, &leaf_hash(b"WrongLeaf"), &path, &root));
        assert!(refused(index, size, &leaf, &path, &empty_root()));
        assert!(refused(index, size, &leaf, &path, &some));
        let mut longer = path.clone();
        longer.push(root);
        assert!(matches!(
            verify_inclusion(index, size, &leaf, &longer, &root),
            Err(ProofError::WrongLength { .. })
        ));
        let mut preceded = vec![root];
        preceded.extend_from_slice(&path);
        assert!(refused(index, size, &leaf, &preceded, &root));
        for i in 0..path.len() {
            assert!(
                refused(index, size, &leaf, &flipped(&path, i), &root),
                "flip {i}"
            );
        }
        assert!(matches!(
            verify_inclusion(index, size, &leaf, &path[..path.len() - 1], &root),
            Err(ProofError::WrongLength { .. })
        ));
        if path.len() > 1 {
            let mut inserted = vec![path[0], some];
            inserted.extend_from_slice(&path[1..]);
            assert!(refused(index, size, &leaf, &inserted, &root));
        }
    }
    // Sizes and indexes that admit no proof at all.
    for (index, size) in [(0, 0), (1, 0), (1, 1), (2, 1)] {
        assert!(verify_inclusion(index, size, &some, &[], &empty_root()).is_err());
    }
}

#[test]
fn broken_consistency_proofs_are_refused() {
    let some = vectors::h("abacaba000000000000000000000000000000000000000000060061e00123456");
    for (from, to, proof) in vectors::consistency() {
        if proof.is_empty() {
            continue;
        }
        let (r1, r2) = (vectors::root(from), vectors::root(to));
        let refused = |f: u64, t: u64, a: &Hash, b: &Hash, p: &[Hash]| {
            verify_consistency(f, t, a, b, p).is_err()
        };
        assert!(refused(from - 1, to, &r1, &r2, &proof));
        assert!(refused(from + 1, to, &r1, &r2, &proof));
        assert!(refused(from ^ 2, to, &r1, &r2, &proof));
        assert!(refused(from, to * 2, &r1, &r2, &proof));
        assert!(refused(from, to / 2, &r1, &r2, &proof));
        assert!(refused(from, to, &some, &r2, &proof));
        assert!(refused(from, to, &r1, &some, &proof));
        assert!(refused(from, to, &r2, &r1, &proof));
        assert!(refused(from, to, &r1, &r2, &[]));
        for extra in [r1, r2] {
            let mut longer = proof.clone();
            longer.push(extra);
            assert!(refused(from, to, &r1, &r2, &longer));
            let mut preceded = vec![extra];
            preceded.extend_from_slice(&proof);
            assert!(refused(from, to, &r1, &r2, &preceded));
        }
        assert!(refused(from, to, &r1, &r2, &proof[..proof.len() - 1]));
        for i in 0..proof.len() {
            assert!(refused(from, to, &r1, &r2, &flipped(&proof, i)), "flip {i}");
        }
    }
    // The trivial cases: only an empty proof, and for equal sizes only equal roots.
    let (a, b) = (vectors::root(1), vectors::root(2));
    assert!(verify_consistency(0, 0, &a, &a, &[]).is_ok());
    assert!(verify_consistency(0, 1, &a, &b, &[]).is_ok());
    assert!(verify_consistency(1, 1, &b, &b, &[]).is_ok());
    assert!(verify_consistency(1, 1, &a, &b, &[]).is_err());
    assert!(verify_consistency(1, 0, &a, &b, &[]).is_err());
    assert!(verify_consistency(2, 1, &a, &b, &[]).is_err());
    assert!(verify_consistency(1, 2, &a, &b, &[]).is_err());
    assert!(verify_consistency(0, 1, &a, &b, &[empty_root()]).is_err());
    assert!(verify_consistency(1, 1, &b, &b, &[empty_root()]).is_err());
}
