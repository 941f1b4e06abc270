//! Merkle tree hashing, inclusion and consistency proofs as in RFC 9162
//! (Certificate Transparency v2), section 2.1.
//!
//! * leaf hash: `SHA-256(0x00 || leaf bytes)`
//! * interior node: `SHA-256(0x01 || left || right)`
//! * hash of the empty tree: `SHA-256("")`
//!
//! [`MerkleTree`] keeps every level of perfect subtrees in memory, so the root
//! of any prefix and any proof cost O(log n) hashes once the tree is built,
//! and building it from n leaf hashes costs n - 1 hashes.

use sha2::{Digest, Sha256};

/// A SHA-256 output.
pub type Hash = [u8; 32];

/// Errors from proof construction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The requested tree size is larger than the tree.
    #[error("tree size {requested} is larger than the tree ({available} leaves)")]
    SizeTooLarge {
        /// Size asked for.
        requested: u64,
        /// Leaves available.
        available: u64,
    },
    /// The leaf index is not inside the tree of the requested size.
    #[error("leaf index {index} is not inside a tree of size {size}")]
    IndexOutOfRange {
        /// Leaf index asked for.
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// A consistency proof was asked from a larger to a smaller tree.
    #[error("no consistency proof from size {first} to the smaller size {second}")]
    SizesOutOfOrder {
        /// Earlier size.
        first: u64,
        /// Later size.
        second: u64,
    },
}

/// `SHA-256(0x00 || data)`: the hash of one leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// `SHA-256("")`: the root hash of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The root hash (RFC 9162 MTH) of a tree whose leaf hashes are given,
/// computed level by level in n - 1 node hashes.
pub fn root_from_leaf_hashes(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return empty_root();
    }
    let mut level: Vec<Hash> = leaves.to_vec();
    while level.len() > 1 {
        // Pair adjacent nodes; an odd last node is carried up unchanged,
        // which yields exactly the left-balanced tree of RFC 9162.
        let next: Vec<Hash> = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => node_hash(l, r),
                [single] => *single,
                _ => unreachable!("chunks(2) yields one or two items"),
            })
            .collect();
        level = next;
    }
    level[0]
}

/// The largest power of two strictly smaller than `n` (requires `n >= 2`).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// An in-memory Merkle tree over a list of leaf hashes.
///
/// `levels[0]` are the leaf hashes; `levels[j][i]` is the hash of the perfect
/// subtree covering leaves `i * 2^j .. (i + 1) * 2^j`.
#[derive(Debug, Clone)]
pub struct MerkleTree {
    levels: Vec<Vec<Hash>>,
}

impl Default for MerkleTree {
    fn default() -> Self {
        MerkleTree {
            levels: vec![Vec::new()],
        }
    }
}

impl MerkleTree {
    /// Build the tree from leaf hashes (see [`leaf_hash`]).
    pub fn from_leaf_hashes(leaves: Vec<Hash>) -> MerkleTree {
        let mut levels = vec![leaves];
        loop {
            let below = &levels[levels.len() - 1];
            if below.len() < 2 {
                break;
            }
            let up: Vec<Hash> = below
                .chunks_exact(2)
                .map(|pair| node_hash(&pair[0], &pair[1]))
                .collect();
            levels.push(up);
        }
        MerkleTree { levels }
    }

    /// Build the tree from the leaves' bytes.
    pub fn from_leaves<I, B>(leaves: I) -> MerkleTree
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        MerkleTree::from_leaf_hashes(leaves.into_iter().map(|b| leaf_hash(b.as_ref())).collect())
    }

    /// Number of leaves.
    pub fn len(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// Whether the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.levels[0].is_empty()
    }

    /// The leaf hashes.
    pub fn leaf_hashes(&self) -> &[Hash] {
        &self.levels[0]
    }

    /// Append one leaf hash, updating the cached levels in O(log n).
    pub fn push(&mut self, leaf: Hash) {
        self.levels[0].push(leaf);
        let mut j = 0;
        while self.levels[j].len().is_multiple_of(2) {
            let n = self.levels[j].len();
            let parent = node_hash(&self.levels[j][n - 2], &self.levels[j][n - 1]);
            if self.levels.len() == j + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[j + 1].push(parent);
            j += 1;
        }
    }

    /// Hash of the subtree over leaves `start..end`, where the range is one
    /// that appears in the RFC 9162 recursion (`start` is a multiple of a
    /// power of two at least `end - start`).
    fn subtree(&self, start: u64, end: u64) -> Hash {
        let n = end - start;
        if n == 0 {
            return empty_root();
        }
        if n.is_power_of_two() && start.is_multiple_of(n) {
            let j = n.trailing_zeros() as usize;
            return self.levels[j][(start >> j) as usize];
        }
        let k = split_point(n);
        node_hash(
            &self.subtree(start, start + k),
            &self.subtree(start + k, end),
        )
    }

    fn check_size(&self, size: u64) -> Result<(), ProofError> {
        if size > self.len() {
            return Err(ProofError::SizeTooLarge {
                requested: size,
                available: self.len(),
            });
        }
        Ok(())
    }

    /// The root hash of the first `size` leaves.
    pub fn root(&self, size: u64) -> Result<Hash, ProofError> {
        self.check_size(size)?;
        Ok(self.subtree(0, size))
    }

    /// The frontier (compact range) of the first `size` leaves.
    pub fn frontier(&self, size: u64) -> Result<Frontier, ProofError> {
        self.check_size(size)?;
        let mut nodes = Vec::new();
        let mut start = 0u64;
        for j in (0..64u32).rev() {
            let width = 1u64 << j;
            if size & width != 0 {
                nodes.push(self.levels[j as usize][(start >> j) as usize]);
                start += width;
            }
        }
        Ok(Frontier { size, nodes })
    }

    /// The root hash of the whole tree.
    pub fn current_root(&self) -> Hash {
        self.subtree(0, self.len())
    }

    /// The inclusion proof (audit path, RFC 9162 section 2.1.3.1) of leaf
    /// `index` in the tree of the first `size` leaves, ordered from the leaf
    /// upwards.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(size)?;
        if index >= size {
            return Err(ProofError::IndexOutOfRange { index, size });
        }
        let mut path = Vec::new();
        self.path(index, 0, size, &mut path);
        Ok(path)
    }

    /// PATH(m, D[start:end]) appended to `out` (deepest first).
    fn path(&self, m: u64, start: u64, end: u64, out: &mut Vec<Hash>) {
        let n = end - start;
        if n <= 1 {
            return;
        }
        let k = split_point(n);
        if m < k {
            self.path(m, start, start + k, out);
            out.push(self.subtree(start + k, end));
        } else {
            self.path(m - k, start + k, end, out);
            out.push(self.subtree(start, start + k));
        }
    }

    /// The consistency proof (RFC 9162 section 2.1.4.1) between the tree of
    /// the first `first` leaves and the tree of the first `second` leaves.
    /// Empty when `first == 0` or `first == second`.
    pub fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(second)?;
        if first > second {
            return Err(ProofError::SizesOutOfOrder { first, second });
        }
        let mut proof = Vec::new();
        if first > 0 && first < second {
            self.subproof(first, 0, second, true, &mut proof);
        }
        Ok(proof)
    }

    /// SUBPROOF(m, D[start:end], b) appended to `out`.
    fn subproof(&self, m: u64, start: u64, end: u64, b: bool, out: &mut Vec<Hash>) {
        let n = end - start;
        if m == n {
            if !b {
                out.push(self.subtree(start, end));
            }
            return;
        }
        let k = split_point(n);
        if m <= k {
            self.subproof(m, start, start + k, b, out);
            out.push(self.subtree(start + k, end));
        } else {
            self.subproof(m - k, start + k, end, false, out);
            out.push(self.subtree(start, start + k));
        }
    }
}

/// The compact range `[0, n)` of a tree: the roots of the perfect subtrees
/// in the binary decomposition of `n`, largest (leftmost) first.
///
/// It is all that is needed to append leaves (O(1) amortised hashes each)
/// and to compute the current root (O(log n) hashes) without the leaves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    nodes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Number of leaves covered.
    pub fn len(&self) -> u64 {
        self.size
    }

    /// Whether no leaf is covered.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// The perfect subtree roots, largest (leftmost) first.
    pub fn nodes(&self) -> &[Hash] {
        &self.nodes
    }

    /// Append one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut s = self.size;
        // Each trailing 1 bit of the old size is a perfect subtree of the
        // same height as the one being carried: merge them.
        while s & 1 == 1 {
            match self.nodes.pop() {
                Some(left) => h = node_hash(&left, &h),
                None => break,
            }
            s >>= 1;
        }
        self.nodes.push(h);
        self.size += 1;
    }

    /// The RFC 9162 root of the leaves covered.
    pub fn root(&self) -> Hash {
        let mut it = self.nodes.iter().rev();
        let Some(last) = it.next() else {
            return empty_root();
        };
        it.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

/// Verify an inclusion proof (RFC 9162 section 2.1.3.2): that the leaf with
/// hash `leaf` is at `index` in the tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && r == *root
}

/// Verify a consistency proof (RFC 9162 section 2.1.4.2): that the tree of
/// `first` leaves with root `first_root` is a prefix of the tree of `second`
/// leaves with root `second_root`.
///
/// Edge cases the RFC leaves to the caller: when `first == second` the proof
/// must be empty and the roots equal; when `first == 0` the proof must be
/// empty and `first_root` must be the empty-tree hash.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> bool {
    if first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if first == 0 {
        return proof.is_empty() && *first_root == empty_root();
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let mut f_n = first - 1;
    let mut s_n = second - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut fr = path[0];
    let mut sr = path[0];
    for c in &path[1..] {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    fr == *first_root && sr == *second_root && s_n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u64) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("leaf {i}").into_bytes()).collect()
    }

    /// RFC 9162 MTH, written recursively straight from the definition.
    fn mth(d: &[Vec<u8>]) -> Hash {
        match d.len() {
            0 => empty_root(),
            1 => leaf_hash(&d[0]),
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }

    fn hex32(s: &str) -> Hash {
        let v = hex::decode(s).expect("hex");
        v.try_into().expect("32 bytes")
    }

    #[test]
    fn frontier_matches_tree_roots() {
        let d = leaves(70);
        let tree = MerkleTree::from_leaves(&d);
        let mut f = Frontier::new();
        assert_eq!(f.root(), empty_root());
        for (i, leaf) in d.iter().enumerate() {
            assert_eq!(tree.frontier(i as u64).expect("frontier"), f);
            f.push(leaf_hash(leaf));
            assert_eq!(f.len(), i as u64 + 1);
            assert_eq!(f.root(), mth(&d[..=i]));
            assert_eq!(f.nodes().len() as u32, f.len().count_ones());
        }
        assert!(tree.frontier(71).is_err());
    }

    #[test]
    fn empty_tree_is_sha256_of_nothing() {
        assert_eq!(
            empty_root(),
            hex32("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(
            MerkleTree::from_leaf_hashes(vec![]).root(0),
            Ok(empty_root())
        );
        assert_eq!(root_from_leaf_hashes(&[]), empty_root());
    }

    #[test]
    fn leaf_hash_of_empty_leaf() {
        // SHA-256 of the single byte 0x00.
        assert_eq!(
            leaf_hash(b""),
            hex32("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        );
    }

    #[test]
    fn hand_computed_small_trees() {
        let d = leaves(3);
        let (a, b, c) = (leaf_hash(&d[0]), leaf_hash(&d[1]), leaf_hash(&d[2]));
        let t = MerkleTree::from_leaves(&d);
        assert_eq!(t.root(1), Ok(a));
        assert_eq!(t.root(2), Ok(node_hash(&a, &b)));
        assert_eq!(t.root(3), Ok(node_hash(&node_hash(&a, &b), &c)));
        // Inclusion of c in size 3: [H(a,b)]; of a: [b, c].
        assert_eq!(t.inclusion_proof(2, 3), Ok(vec![node_hash(&a, &b)]));
        assert_eq!(t.inclusion_proof(0, 3), Ok(vec![b, c]));
        // Consistency 2 -> 3: [c] (H(a,b) is the first root, implicit).
        assert_eq!(t.consistency_proof(2, 3), Ok(vec![c]));
        // Consistency 1 -> 3: [b, c].
        assert_eq!(t.consistency_proof(1, 3), Ok(vec![b, c]));
    }

    #[test]
    fn rfc_example_tree_of_seven() {
        // The seven-leaf example of RFC 9162 section 2.1.5.
        let d = leaves(7);
        let h: Vec<Hash> = d.iter().map(|x| leaf_hash(x)).collect();
        let t = MerkleTree::from_leaves(&d);
        let (g, hh, i, j, k, l) = (h[0], h[1], h[2], h[3], h[4], h[5]);
        let a = node_hash(&g, &hh);
        let b = node_hash(&i, &j);
        let c = node_hash(&k, &l);
        let dd = h[6];
        let e = node_hash(&a, &b);
        let f = node_hash(&c, &dd);
        // Names follow this test's variables; the RFC figure calls the leaves
        // a..f, d6 and the nodes g..l.
        assert_eq!(t.inclusion_proof(0, 7), Ok(vec![hh, b, f]));
        assert_eq!(t.inclusion_proof(3, 7), Ok(vec![i, a, f]));
        assert_eq!(t.inclusion_proof(4, 7), Ok(vec![l, dd, e]));
        assert_eq!(t.inclusion_proof(6, 7), Ok(vec![c, e]));
        // Consistency proofs from the RFC: (3,7) = [c(i), d(j), g(a), l(f)].
        assert_eq!(t.consistency_proof(3, 7), Ok(vec![i, j, a, f]));
        assert_eq!(t.consistency_proof(4, 7), Ok(vec![f]));
        assert_eq!(t.consistency_proof(6, 7), Ok(vec![c, dd, e]));
    }

    #[test]
    fn roots_match_recursive_definition_and_incremental_push() {
        let d = leaves(70);
        let t = MerkleTree::from_leaves(&d);
        let mut inc = MerkleTree::default();
        for n in 0..=70u64 {
            let expect = mth(&d[..n as usize]);
            assert_eq!(t.root(n), Ok(expect), "size {n}");
            assert_eq!(inc.current_root(), expect, "incremental size {n}");
            let hashes: Vec<Hash> = d[..n as usize].iter().map(|x| leaf_hash(x)).collect();
            assert_eq!(root_from_leaf_hashes(&hashes), expect);
            if n < 70 {
                inc.push(leaf_hash(&d[n as usize]));
            }
        }
        assert_eq!(
            t.root(71),
            Err(ProofError::SizeTooLarge {
                requested: 71,
                available: 70
            })
        );
    }

    #[test]
    fn every_inclusion_proof_up_to_40_verifies_and_tampering_fails() {
        let d = leaves(40);
        let t = MerkleTree::from_leaves(&d);
        for n in 1..=40u64 {
            let root = t.root(n).expect("root");
            for m in 0..n {
                let leaf = leaf_hash(&d[m as usize]);
                let proof = t.inclusion_proof(m, n).expect("proof");
                assert!(verify_inclusion(m, n, &leaf, &proof, &root), "m={m} n={n}");
                // Wrong leaf, index, root.
                let other = leaf_hash(b"other");
                assert!(!verify_inclusion(m, n, &other, &proof, &root));
                if n > 1 {
                    assert!(!verify_inclusion((m + 1) % n, n, &leaf, &proof, &root));
                }
                assert!(!verify_inclusion(m, n, &leaf, &proof, &other));
                // Each proof element flipped, one dropped, one extra.
                for x in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[x][0] ^= 1;
                    assert!(!verify_inclusion(m, n, &leaf, &bad, &root));
                }
                if !proof.is_empty() {
                    assert!(!verify_inclusion(
                        m,
                        n,
                        &leaf,
                        &proof[..proof.len() - 1],
                        &root
                    ));
                }
                let mut longer = proof.clone();
                longer.push(other);
                assert!(!verify_inclusion(m, n, &leaf, &longer, &root));
            }
            assert!(t.inclusion_proof(n, n).is_err());
        }
    }

    #[test]
    fn every_consistency_proof_up_to_40_verifies_and_tampering_fails() {
        let d = leaves(40);
        let t = MerkleTree::from_leaves(&d);
        let bogus = leaf_hash(b"bogus");
        for n in 0..=40u64 {
            let rn = t.root(n).expect("root");
            for m in 0..=n {
                let rm = t.root(m).expect("root");
                let proof = t.consistency_proof(m, n).expect("proof");
                assert!(verify_consistency(m, n, &rm, &rn, &proof), "m={m} n={n}");
                if m == n || m == 0 {
                    assert!(proof.is_empty());
                    assert!(!verify_consistency(m, n, &bogus, &rn, &proof) || m == n && n == 0);
                    continue;
                }
                assert!(!verify_consistency(m, n, &bogus, &rn, &proof));
                assert!(!verify_consistency(m, n, &rm, &bogus, &proof));
                assert!(!verify_consistency(m, n, &rm, &rn, &[]));
                for x in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[x][31] ^= 0x80;
                    assert!(
                        !verify_consistency(m, n, &rm, &rn, &bad),
                        "m={m} n={n} x={x}"
                    );
                }
                let mut longer = proof.clone();
                longer.push(bogus);
                assert!(!verify_consistency(m, n, &rm, &rn, &longer));
                assert!(!verify_consistency(
                    m,
                    n,
                    &rm,
                    &rn,
                    &proof[..proof.len() - 1]
                ));
                // A different later tree with the same size is not consistent.
                let mut d2 = d[..n as usize].to_vec();
                d2[(m - 1) as usize] = b"rewritten".to_vec();
                let rn2 = mth(&d2);
                assert!(!verify_consistency(m, n, &rm, &rn2, &proof));
            }
        }
        assert!(t.consistency_proof(5, 4).is_err());
        assert!(t.consistency_proof(5, 41).is_err());
    }

    #[test]
    fn hundred_thousand_leaves_is_cheap() {
        let hashes: Vec<Hash> = (0..100_000u32)
            .map(|i| leaf_hash(&i.to_be_bytes()))
            .collect();
        let direct = root_from_leaf_hashes(&hashes);
        let t = MerkleTree::from_leaf_hashes(hashes);
        assert_eq!(t.current_root(), direct);
        let proof = t.inclusion_proof(77_777, 100_000).expect("proof");
        assert!(verify_inclusion(
            77_777,
            100_000,
            &leaf_hash(&77_777u32.to_be_bytes()),
            &proof,
            &direct
        ));
    }
}
