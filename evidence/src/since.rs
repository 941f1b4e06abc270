//! Consistency of the current ledger with a checkpoint saved earlier (for
//! example at the last audit): does the ledger still extend it, with nothing
//! removed, rewritten, reordered or duplicated?
//!
//! The answer is an RFC 9162 consistency proof from the saved checkpoint to
//! the ledger's latest signed checkpoint, generated from the current records
//! (leaf hashes recomputed from their bytes) and verified. When it fails,
//! [`verify_since_checkpoint`] names what it can: a ledger shorter than the
//! saved tree, missing leaf indexes, records whose bytes no longer match the
//! leaf hash stored when they were appended, repeated record ids, and a swap
//! or move among the last records the saved checkpoint covers that
//! reproduces its root.
//!
//! Only what is trusted locates a change: the saved checkpoint (the
//! auditor's own copy) and recomputation from the records. The ledger's own
//! checkpoints are not, since whoever rewrote the records could have
//! re-signed them. What cannot be determined is said so: the saved
//! checkpoint holds one root, not the records, so a record rewritten
//! together with its stored leaf hash is located only to the records the
//! saved checkpoint covers.

use std::collections::HashMap;

use serde::Serialize;

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::ledger::{Ledger, LedgerError};
use crate::merkle::{
    leaf_hash, root_from_leaf_hashes, verify_consistency, Frontier, Hash, MerkleTree,
};
use crate::record::format_time;
use crate::rotation::{resolve, KeyVerdict};
use crate::signing::key_id_of_pem;

/// The last this many records the saved checkpoint covers are searched for
/// a swap or a move that reproduces its root (O(n³) hashes in this size).
pub const REORDER_SEARCH_LIMIT: u64 = 48;

/// Where the key that verified the saved checkpoint came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum KeySource {
    /// The key the caller trusts (obtained out of band): pinned.
    Trusted,
    /// The ledger's own key table: not pinned (whoever can rewrite the
    /// ledger can replace it).
    LedgerKeyTable,
    /// The `checkpoint.pub.pem` saved with the checkpoint: not pinned.
    CheckpointFile,
}

/// How a range of records was reordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reordering {
    /// Two records exchanged places.
    Swap,
    /// One record was taken out and put back elsewhere.
    Move,
}

/// One problem found by [`verify_since_checkpoint`]. The `code` of each
/// variant (its snake_case name) is stable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SinceProblem {
    /// The saved checkpoint's signature does not verify.
    SavedSignatureInvalid {
        /// Key id named in the saved checkpoint.
        key_id: String,
        /// Why.
        reason: String,
    },
    /// No key to check the saved checkpoint's signature with.
    SavedKeyUnavailable {
        /// Key id named in the saved checkpoint.
        key_id: String,
    },
    /// The ledger holds fewer records than the saved checkpoint covers.
    Truncated {
        /// Records in the ledger.
        records: u64,
        /// Size of the saved checkpoint.
        saved_size: u64,
    },
    /// The first `saved_size` records no longer hash to the saved root.
    PrefixMismatch {
        /// Size of the saved checkpoint.
        saved_size: u64,
        /// The saved root (hex).
        saved_root: String,
        /// Root of the current first `saved_size` records (hex).
        current_root: String,
    },
    /// The ledger has no checkpoint to prove consistency to.
    NoLatestCheckpoint,
    /// The ledger's latest checkpoint does not verify.
    LatestCheckpointInvalid {
        /// Its size (from the size column when the body does not parse).
        tree_size: u64,
        /// Why.
        reason: String,
    },
    /// The ledger's latest checkpoint is smaller than the saved one.
    LatestCheckpointBehind {
        /// Its size.
        tree_size: u64,
        /// Size of the saved checkpoint.
        saved_size: u64,
    },
    /// The ledger's latest checkpoint covers more records than it holds.
    LatestCheckpointBeyondLedger {
        /// Its size.
        tree_size: u64,
        /// Records in the ledger.
        records: u64,
    },
    /// The ledger's latest checkpoint's root is not the root of its records.
    LatestCheckpointMismatch {
        /// Its size.
        tree_size: u64,
    },
    /// The consistency proof from the saved checkpoint to the latest one
    /// does not verify.
    ConsistencyProofFailed {
        /// Saved size.
        first: u64,
        /// Latest checkpoint size.
        second: u64,
    },
    /// Records after the latest checkpoint are not covered by a signature.
    UncheckpointedRecords {
        /// First uncovered index.
        from: u64,
        /// End (exclusive).
        to: u64,
    },
    /// Leaf indexes jump: the records in between are missing.
    RecordsMissing {
        /// First missing index.
        from: u64,
        /// End (exclusive) of the missing indexes.
        to: u64,
    },
    /// The record's bytes no longer match the leaf hash stored when it was
    /// appended.
    RecordRewritten {
        /// Leaf index.
        index: u64,
        /// Record id.
        record_id: String,
    },
    /// A record id appears more than once.
    DuplicateRecord {
        /// Leaf index of the repeat.
        index: u64,
        /// Leaf index of the first occurrence.
        first_index: u64,
        /// The record id.
        record_id: String,
    },
    /// Records were reordered: undoing this reproduces the signed root.
    Reordered {
        /// Swap or move.
        kind: Reordering,
        /// For a swap, the first record; for a move, where the record was.
        index: u64,
        /// For a swap, the second record; for a move, where it is now.
        other_index: u64,
        /// For a swap, the record now at `index`; for a move, the moved record.
        record_id: String,
    },
    /// The first change lies in records `from..to` and cannot be located
    /// more closely from what is trusted: the root at `to` (the saved
    /// checkpoint's) no longer matches, and nothing trusted matches after
    /// `from`. The ledger's own checkpoints are not used to narrow it.
    ChangedRange {
        /// First record that may have changed.
        from: u64,
        /// End (exclusive).
        to: u64,
        /// What still matches at `from`: `empty` (size 0, nothing is known
        /// to match).
        matches: String,
        /// Which checkpoint no longer matches at `to`: `saved`.
        differs: String,
    },
}

impl SinceProblem {
    /// The stable code of this problem.
    pub fn code(&self) -> &'static str {
        match self {
            SinceProblem::SavedSignatureInvalid { .. } => "saved_signature_invalid",
            SinceProblem::SavedKeyUnavailable { .. } => "saved_key_unavailable",
            SinceProblem::Truncated { .. } => "truncated",
            SinceProblem::PrefixMismatch { .. } => "prefix_mismatch",
            SinceProblem::NoLatestCheckpoint => "no_latest_checkpoint",
            SinceProblem::LatestCheckpointInvalid { .. } => "latest_checkpoint_invalid",
            SinceProblem::LatestCheckpointBehind { .. } => "latest_checkpoint_behind",
            SinceProblem::LatestCheckpointBeyondLedger { .. } => "latest_checkpoint_beyond_ledger",
            SinceProblem::LatestCheckpointMismatch { .. } => "latest_checkpoint_mismatch",
            SinceProblem::ConsistencyProofFailed { .. } => "consistency_proof_failed",
            SinceProblem::UncheckpointedRecords { .. } => "uncheckpointed_records",
            SinceProblem::RecordsMissing { .. } => "records_missing",
            SinceProblem::RecordRewritten { .. } => "record_rewritten",
            SinceProblem::DuplicateRecord { .. } => "duplicate_record",
            SinceProblem::Reordered { .. } => "reordered",
            SinceProblem::ChangedRange { .. } => "changed_range",
        }
    }
}

fn range(from: u64, to: u64) -> String {
    if to == from + 1 {
        format!("#{from}")
    } else {
        format!("#{from}..#{}", to.saturating_sub(1))
    }
}

impl std::fmt::Display for SinceProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SinceProblem::SavedSignatureInvalid { key_id, reason } => {
                write!(f, "the saved checkpoint's signature does not verify with key {key_id}: {reason}")
            }
            SinceProblem::SavedKeyUnavailable { key_id } => write!(
                f,
                "no public key to check the saved checkpoint with (key {key_id} is neither given, in the ledger, nor saved with the checkpoint)"
            ),
            SinceProblem::Truncated { records, saved_size } => write!(
                f,
                "ledger has {records} records, the saved checkpoint covers {saved_size}: records {} were removed",
                range(*records, *saved_size)
            ),
            SinceProblem::PrefixMismatch { saved_size, saved_root, current_root } => write!(
                f,
                "the first {saved_size} records hash to {current_root}, not to the saved root {saved_root}: records covered by the saved checkpoint were changed, removed, reordered or inserted"
            ),
            SinceProblem::NoLatestCheckpoint => {
                write!(f, "the ledger has no signed checkpoint to prove consistency to")
            }
            SinceProblem::LatestCheckpointInvalid { tree_size, reason } => {
                write!(f, "the ledger's latest checkpoint (size {tree_size}) does not verify: {reason}")
            }
            SinceProblem::LatestCheckpointBehind { tree_size, saved_size } => write!(
                f,
                "the ledger's latest checkpoint covers {tree_size} records, fewer than the saved checkpoint ({saved_size}): later checkpoints were removed"
            ),
            SinceProblem::LatestCheckpointBeyondLedger { tree_size, records } => write!(
                f,
                "ledger has {records} records, its own latest checkpoint covers {tree_size}: records were removed after it was signed"
            ),
            SinceProblem::LatestCheckpointMismatch { tree_size } => write!(
                f,
                "the ledger's latest checkpoint (size {tree_size}) does not match its records"
            ),
            SinceProblem::ConsistencyProofFailed { first, second } => write!(
                f,
                "the consistency proof from the saved checkpoint (size {first}) to the ledger's latest checkpoint (size {second}) does not verify"
            ),
            SinceProblem::UncheckpointedRecords { from, to } => write!(
                f,
                "records {} are not covered by any signed checkpoint",
                range(*from, *to)
            ),
            SinceProblem::RecordsMissing { from, to } => write!(
                f,
                "records {} are missing (leaf indexes jump from #{} to #{to})",
                range(*from, *to),
                from.saturating_sub(1)
            ),
            SinceProblem::RecordRewritten { index, record_id } => write!(
                f,
                "record #{index} ({record_id}) was rewritten: its bytes no longer match the leaf hash stored when it was appended"
            ),
            SinceProblem::DuplicateRecord { index, first_index, record_id } => write!(
                f,
                "record #{index} duplicates record #{first_index} (record id {record_id} appears twice)"
            ),
            SinceProblem::Reordered { kind: Reordering::Swap, index, other_index, record_id } => write!(
                f,
                "records #{index} ({record_id}) and #{other_index} were swapped: swapping them back reproduces the signed root"
            ),
            SinceProblem::Reordered { kind: Reordering::Move, index, other_index, record_id } => write!(
                f,
                "record {record_id} was moved from #{index} to #{other_index}: moving it back reproduces the signed root"
            ),
            SinceProblem::ChangedRange { from, to, matches, differs } => {
                let m = match matches.as_str() {
                    "empty" => "nothing before it is known to match".to_string(),
                    "saved" => format!("the first {from} records still match the saved checkpoint"),
                    other => format!("the first {from} records still match ({other})"),
                };
                let d = match differs.as_str() {
                    "saved" => format!("the first {to} records no longer match the saved checkpoint"),
                    other => format!("the first {to} records no longer match ({other})"),
                };
                write!(
                    f,
                    "the first change is in records {}: {m}; {d}. It cannot be located more closely from the saved checkpoint, which holds one root for them; the ledger's own checkpoints are not relied on, as whoever rewrote the records could have re-signed them. Compare with the original records (an earlier evidence pack or record proof)",
                    range(*from, *to)
                )
            }
        }
    }
}

/// The consistency proof shown in a [`SinceReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyEvidence {
    /// Size of the saved checkpoint.
    pub first_size: u64,
    /// Root of the saved checkpoint.
    pub first_root: Hash,
    /// Size of the ledger's latest checkpoint.
    pub second_size: u64,
    /// Root of the ledger's latest checkpoint.
    pub second_root: Hash,
    /// The RFC 9162 consistency proof, generated from the current records.
    pub proof: Vec<Hash>,
    /// Whether `verify_consistency` accepted it.
    pub verified: bool,
}

/// The result of [`verify_since_checkpoint`].
#[derive(Debug, Clone)]
pub struct SinceReport {
    /// The saved checkpoint.
    pub saved: Checkpoint,
    /// Where the key that checked the saved checkpoint came from (`None`
    /// when no key was available).
    pub key_source: Option<KeySource>,
    /// Records in the current ledger.
    pub records: u64,
    /// The ledger's latest checkpoint, when it parses.
    pub latest: Option<Checkpoint>,
    /// The consistency proof, when one could be generated.
    pub consistency: Option<ConsistencyEvidence>,
    /// Every problem found.
    pub problems: Vec<SinceProblem>,
}

impl SinceReport {
    /// Whether the ledger provably extends the saved checkpoint and nothing
    /// else is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// Whether the saved checkpoint was checked with a key the caller trusts.
    pub fn key_pinned(&self) -> bool {
        self.key_source == Some(KeySource::Trusted)
    }

    /// The report as JSON (problems carry `code`, `message` and their fields).
    pub fn to_json(&self) -> serde_json::Value {
        let problems: Vec<serde_json::Value> = self
            .problems
            .iter()
            .map(|p| {
                let mut v = serde_json::to_value(p)
                    .unwrap_or_else(|_| serde_json::json!({ "code": p.code() }));
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("message".into(), p.to_string().into());
                }
                v
            })
            .collect();
        let cp = |c: &Checkpoint| {
            serde_json::json!({
                "tree_size": c.tree_size,
                "root": c.root_hex(),
                "time": format_time(c.time),
                "agent": c.agent_id,
                "key_id": c.key_id,
            })
        };
        serde_json::json!({
            "ok": self.is_ok(),
            "saved_checkpoint": cp(&self.saved),
            "key_source": self.key_source,
            "key_pinned": self.key_pinned(),
            "records": self.records,
            "latest_checkpoint": self.latest.as_ref().map(cp),
            "consistency_proof": self.consistency.as_ref().map(|c| serde_json::json!({
                "first_size": c.first_size,
                "first_root": hex::encode(c.first_root),
                "second_size": c.second_size,
                "second_root": hex::encode(c.second_root),
                "proof": c.proof.iter().map(hex::encode).collect::<Vec<_>>(),
                "verified": c.verified,
            })),
            "problems": problems,
        })
    }
}

impl std::fmt::Display for SinceReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.saved;
        writeln!(
            f,
            "saved checkpoint: size {}, root {}, time {}, key {}",
            s.tree_size,
            s.root_hex(),
            format_time(s.time),
            s.key_id
        )?;
        let key = match self.key_source {
            Some(KeySource::Trusted) => "checked with the trusted key",
            Some(KeySource::LedgerKeyTable) => {
                "checked with the key stored in the ledger (not pinned: pass --key)"
            }
            Some(KeySource::CheckpointFile) => {
                "checked with checkpoint.pub.pem saved beside it (not pinned: pass --key)"
            }
            None => "no key available",
        };
        writeln!(f, "saved signature:  {key}")?;
        match &self.latest {
            Some(c) => writeln!(
                f,
                "latest checkpoint: size {}, root {}, time {}",
                c.tree_size,
                c.root_hex(),
                format_time(c.time)
            )?,
            None => writeln!(f, "latest checkpoint: none")?,
        }
        writeln!(f, "records now:      {}", self.records)?;
        if let Some(c) = &self.consistency {
            writeln!(
                f,
                "consistency proof {} -> {} ({} hashes): {}",
                c.first_size,
                c.second_size,
                c.proof.len(),
                if c.verified { "verified" } else { "FAILED" }
            )?;
            for h in &c.proof {
                writeln!(f, "  {}", hex::encode(h))?;
            }
        }
        if self.is_ok() {
            writeln!(
                f,
                "result:           OK, the ledger extends the saved checkpoint"
            )
        } else {
            writeln!(f, "result:           {} problem(s)", self.problems.len())?;
            for p in &self.problems {
                writeln!(f, "  [{}] {p}", p.code())?;
            }
            Ok(())
        }
    }
}

/// Just the record id, for spotting duplicates without a full parse.
#[derive(serde::Deserialize)]
struct IdOnly {
    record_id: String,
}

/// Check that the current ledger extends `saved` (see the module docs).
///
/// The saved checkpoint's signature is checked with `trusted_key_pem` when
/// given, else with the ledger's key of that key id, else with the public
/// key saved beside it; only the first pins who signed. The ledger's own
/// checkpoints are checked with the trusted key, or with its key table.
///
/// Returns `Err` only when the ledger cannot be read or the trusted key is
/// not a valid public key; every finding is in the report.
pub fn verify_since_checkpoint(
    ledger: &Ledger,
    saved: &Checkpoint,
    trusted_key_pem: Option<&str>,
) -> Result<SinceReport, LedgerError> {
    let trusted_key_id = match trusted_key_pem {
        Some(pem) => Some(key_id_of_pem(pem).map_err(CheckpointError::from)?),
        None => None,
    };
    let mut problems = Vec::new();
    let mut diagnosis = Vec::new();

    // 1. The saved checkpoint's signature (checked after step 3 when it is
    // signed by a key the trusted key was rotated to).
    let ledger_key = ledger.public_key(&saved.key_id)?;
    let (key_source, key) = match (trusted_key_pem, &ledger_key, &saved.public_key_pem) {
        (Some(k), _, _) => (Some(KeySource::Trusted), Some(k.to_string())),
        (None, Some(k), _) => (Some(KeySource::LedgerKeyTable), Some(k.clone())),
        (None, None, Some(k)) => (Some(KeySource::CheckpointFile), Some(k.clone())),
        (None, None, None) => (None, None),
    };
    let check_saved = |key: Option<&str>, problems: &mut Vec<SinceProblem>| match key {
        Some(k) => {
            if let Err(e) = saved.verify_with(k) {
                problems.push(SinceProblem::SavedSignatureInvalid {
                    key_id: saved.key_id.clone(),
                    reason: e.to_string(),
                });
            }
        }
        None => problems.push(SinceProblem::SavedKeyUnavailable {
            key_id: saved.key_id.clone(),
        }),
    };
    let saved_by_rotated_key = trusted_key_id.as_ref().is_some_and(|t| *t != saved.key_id);
    if !saved_by_rotated_key {
        check_saved(key.as_deref(), &mut problems);
    }

    // 2. The current records: leaf hashes recomputed from their bytes.
    let mut hashes: Vec<Hash> = Vec::new();
    // The leaf hashes stored when the records were appended (`None` when
    // the column does not hold a hash).
    let mut stored: Vec<Option<Hash>> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    let mut first_seen: HashMap<String, u64> = HashMap::new();
    ledger.for_each_stored_leaf(|leaf| {
        let position = hashes.len() as u64;
        if leaf.index > position {
            diagnosis.push(SinceProblem::RecordsMissing {
                from: position,
                to: leaf.index,
            });
        }
        let h = leaf_hash(&leaf.bytes);
        let record_id = serde_json::from_slice::<IdOnly>(&leaf.bytes)
            .map(|r| r.record_id)
            .unwrap_or(leaf.record_id);
        if leaf.leaf_hash != h {
            diagnosis.push(SinceProblem::RecordRewritten {
                index: position,
                record_id: record_id.clone(),
            });
        }
        match first_seen.get(&record_id) {
            Some(&first_index) => diagnosis.push(SinceProblem::DuplicateRecord {
                index: position,
                first_index,
                record_id: record_id.clone(),
            }),
            None => {
                first_seen.insert(record_id.clone(), position);
            }
        }
        hashes.push(h);
        stored.push(Hash::try_from(leaf.leaf_hash.as_slice()).ok());
        ids.push(record_id);
        Ok(())
    })?;
    let n = hashes.len() as u64;
    let tree = MerkleTree::from_leaf_hashes(hashes);
    let m = saved.tree_size;

    // 3. The ledger's own checkpoints, with their signatures checked by the
    // trusted key or the keys it was rotated to (or, unpinned, the ledger's
    // key table followed along its rotation records).
    let keys: HashMap<String, String> = ledger.public_keys()?.into_iter().collect();
    let rows = ledger.stored_checkpoints()?;
    let mut latest_unparsed: Option<(u64, String)> = None;
    let mut parsed: Vec<Checkpoint> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        match Checkpoint::parse(&row.body, row.signature.clone()) {
            Ok(cp) => parsed.push(cp),
            Err(e) if i + 1 == rows.len() => {
                latest_unparsed = Some((row.tree_size.max(0) as u64, e.to_string()));
            }
            Err(_) => {}
        }
    }
    let rotations = ledger.key_rotations().unwrap_or_default();
    let pinned = match (&trusted_key_id, trusted_key_pem) {
        (Some(k), Some(p)) => Some((k.as_str(), p)),
        _ => None,
    };
    let resolution = resolve(pinned, &keys, &rotations, &parsed, |i| {
        let c = &parsed[i];
        c.tree_size <= n && tree.root(c.tree_size).is_ok_and(|r| r == c.root_hash)
    });
    if saved_by_rotated_key {
        let chained = resolution
            .chain
            .iter()
            .find(|k| k.key_id == saved.key_id)
            .map(|k| k.public_key_pem.as_str());
        // Without a chain link to its key, the trusted key is what it fails against.
        check_saved(chained.or(key.as_deref()), &mut problems);
    }
    let mut ledger_cps: Vec<(Checkpoint, Result<(), String>)> = Vec::new();
    for (mut cp, verdict) in parsed.into_iter().zip(resolution.verdicts) {
        let ok = match verdict {
            KeyVerdict::Ok(pem) => {
                cp.public_key_pem = Some(pem);
                Ok(())
            }
            KeyVerdict::BadSignature => Err(format!(
                "signature does not verify with key {}",
                cp.key_id
            )),
            KeyVerdict::UnknownKey => Err(format!("key {} is not in the ledger", cp.key_id)),
            KeyVerdict::Untrusted { expected } => Err(format!(
                "signed by key {}, not by the trusted key {expected} (or a key it was rotated to)",
                cp.key_id
            )),
            KeyVerdict::Retired { current } => Err(format!(
                "signed by key {}, which was rotated away from (current key {current})",
                cp.key_id
            )),
            KeyVerdict::NotRotatedTo { current } => Err(format!(
                "signed by key {}, but the ledger is signed by {current} and no rotation record hands over to it",
                cp.key_id
            )),
        };
        ledger_cps.push((cp, ok));
    }
    let latest = if latest_unparsed.is_some() {
        None
    } else {
        ledger_cps.last().cloned()
    };

    // 4. The saved prefix.
    let prefix_ok = if n < m {
        problems.push(SinceProblem::Truncated {
            records: n,
            saved_size: m,
        });
        false
    } else {
        // Invariant: m <= n, so root(m) exists.
        let current = tree.root(m).unwrap_or_default();
        if current != saved.root_hash {
            problems.push(SinceProblem::PrefixMismatch {
                saved_size: m,
                saved_root: saved.root_hex(),
                current_root: hex::encode(current),
            });
            false
        } else {
            true
        }
    };

    // 5. The consistency proof to the ledger's latest checkpoint.
    let mut consistency = None;
    match (&latest, latest_unparsed) {
        (_, Some((tree_size, reason))) => {
            problems.push(SinceProblem::LatestCheckpointInvalid { tree_size, reason })
        }
        (None, None) => problems.push(SinceProblem::NoLatestCheckpoint),
        (Some((cp, sig)), None) => {
            let l = cp.tree_size;
            if let Err(reason) = sig {
                problems.push(SinceProblem::LatestCheckpointInvalid {
                    tree_size: l,
                    reason: reason.clone(),
                });
            }
            if l < m {
                problems.push(SinceProblem::LatestCheckpointBehind {
                    tree_size: l,
                    saved_size: m,
                });
            } else if l > n {
                problems.push(SinceProblem::LatestCheckpointBeyondLedger {
                    tree_size: l,
                    records: n,
                });
            } else {
                let proof = tree.consistency_proof(m, l)?;
                let verified = verify_consistency(m, l, &saved.root_hash, &cp.root_hash, &proof);
                if tree.root(l)? != cp.root_hash {
                    problems.push(SinceProblem::LatestCheckpointMismatch { tree_size: l });
                }
                if !verified {
                    problems.push(SinceProblem::ConsistencyProofFailed {
                        first: m,
                        second: l,
                    });
                }
                consistency = Some(ConsistencyEvidence {
                    first_size: m,
                    first_root: saved.root_hash,
                    second_size: l,
                    second_root: cp.root_hash,
                    proof,
                    verified,
                });
            }
        }
    }
    let covered = ledger_cps
        .iter()
        .map(|(c, _)| c.tree_size)
        .max()
        .unwrap_or(0);
    if covered < n {
        problems.push(SinceProblem::UncheckpointedRecords {
            from: covered,
            to: n,
        });
    }

    // 6. Locate the change, relying only on what is trusted: the saved
    // checkpoint and the records themselves. Not on the ledger's own
    // checkpoints: whoever rewrote records the saved checkpoint covers could
    // also have re-signed the checkpoints after the rewrite, and such a
    // forged checkpoint matches the rewritten records, which would place the
    // change after where it really is.
    if !prefix_ok && n >= m {
        // Stored leaf hashes that reproduce the saved root are the hashes
        // the records had when it was signed: each `record_rewritten` then
        // names a changed record exactly, and there is nothing to add.
        let stored_authentic = stored[..m as usize]
            .iter()
            .copied()
            .collect::<Option<Vec<Hash>>>()
            .is_some_and(|h| root_from_leaf_hashes(&h) == saved.root_hash);
        if !stored_authentic {
            // A swap or a move among the last records the saved checkpoint
            // covers that reproduces its root is certain, wherever the window
            // starts (the root is checked, not assumed).
            let lo = m.saturating_sub(REORDER_SEARCH_LIMIT);
            match find_reordering(&tree, lo, m, &saved.root_hash, &ids) {
                Some(p) => diagnosis.push(p),
                None => diagnosis.push(SinceProblem::ChangedRange {
                    from: 0,
                    to: m,
                    matches: "empty".into(),
                    differs: "saved".into(),
                }),
            }
        }
    }
    problems.extend(diagnosis);

    Ok(SinceReport {
        saved: saved.clone(),
        key_source,
        records: n,
        latest: latest.map(|(c, _)| c),
        consistency,
        problems,
    })
}

/// Try every swap and every single move within `lo..hi`; return the first
/// that makes the root of the first `hi` leaves equal to `root`.
fn find_reordering(
    tree: &MerkleTree,
    lo: u64,
    hi: u64,
    root: &Hash,
    ids: &[String],
) -> Option<SinceProblem> {
    let base = tree.frontier(lo).ok()?;
    let window: Vec<Hash> = tree.leaf_hashes()[lo as usize..hi as usize].to_vec();
    let root_of = |leaves: &[Hash]| {
        let mut f: Frontier = base.clone();
        for h in leaves {
            f.push(*h);
        }
        f.root()
    };
    let w = window.len();
    let id = |i: usize| ids.get(lo as usize + i).cloned().unwrap_or_default();
    for a in 0..w {
        for b in a + 1..w {
            let mut c = window.clone();
            c.swap(a, b);
            if root_of(&c) == *root {
                return Some(SinceProblem::Reordered {
                    kind: Reordering::Swap,
                    index: lo + a as u64,
                    other_index: lo + b as u64,
                    record_id: id(a),
                });
            }
        }
    }
    for from in 0..w {
        for to in 0..w {
            // A move to an adjacent place is a swap, already tried.
            if from.abs_diff(to) <= 1 {
                continue;
            }
            // Current order has the record at `to`; it was at `from`.
            let mut c = window.clone();
            let h = c.remove(to);
            c.insert(from, h);
            if root_of(&c) == *root {
                return Some(SinceProblem::Reordered {
                    kind: Reordering::Move,
                    index: lo + from as u64,
                    other_index: lo + to as u64,
                    record_id: id(to),
                });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::{MemorySigner, Signer};
    use crate::test_support::{observation, soa, t0};
    use proptest::prelude::*;
    use rusqlite::Connection;
    use std::path::{Path, PathBuf};

    /// Open the file behind the ledger's back, lift the guards, run `sql`.
    fn tamper(path: &Path, sql: &str) {
        let c = Connection::open(path).expect("raw open");
        c.execute_batch(
            "DROP TRIGGER IF EXISTS leaves_no_update; DROP TRIGGER IF EXISTS leaves_no_delete;
             DROP TRIGGER IF EXISTS checkpoints_no_delete; DROP INDEX IF EXISTS leaves_record_id;",
        )
        .expect("drop guards");
        c.execute_batch(sql).expect("tamper sql");
    }

    /// Runs of `sizes[i]` SoA records each (ids `r<n>`); returns the path
    /// and the checkpoints.
    fn build(dir: &Path, sizes: &[usize], signer: &MemorySigner) -> (PathBuf, Vec<Checkpoint>) {
        let path = dir.join("ledger.db");
        let mut l = Ledger::open(&path).expect("open");
        let mut n = 0;
        let mut cps = Vec::new();
        for (run, &size) in sizes.iter().enumerate() {
            let recs: Vec<_> = (n..n + size).map(|i| soa(&format!("r{i}"))).collect();
            n += size;
            let now = t0() + chrono::Duration::seconds(run as i64);
            cps.push(
                l.append_run(&[], &recs, signer, "agent-1", now)
                    .expect("append"),
            );
        }
        (path, cps)
    }

    fn since(path: &Path, saved: &Checkpoint, key: Option<&str>) -> SinceReport {
        let l = Ledger::open_read_only(path).expect("open");
        verify_since_checkpoint(&l, saved, key).expect("runs")
    }

    fn codes(r: &SinceReport) -> Vec<&'static str> {
        r.problems.iter().map(|p| p.code()).collect()
    }

    #[test]
    fn growth_verifies_with_a_consistency_proof() {
        let signer = MemorySigner::generate().expect("key");
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, cps) = build(dir.path(), &[3, 2, 4], &signer);
        for saved in &cps {
            let r = since(&path, saved, Some(signer.public_key_pem()));
            assert!(r.is_ok(), "{r}");
            assert!(r.key_pinned());
            let c = r.consistency.as_ref().expect("proof");
            assert!(c.verified);
            assert_eq!((c.first_size, c.second_size), (saved.tree_size, 9));
            assert!(verify_consistency(
                c.first_size,
                c.second_size,
                &c.first_root,
                &c.second_root,
                &c.proof
            ));
            assert_eq!(r.to_json()["ok"], true);
        }
        // Key sources: ledger key table, then the file saved beside it.
        let r = since(&path, &cps[0], None);
        assert_eq!(r.key_source, Some(KeySource::LedgerKeyTable));
        assert!(r.is_ok() && !r.key_pinned());
        tamper(&path, "DROP TRIGGER keys_no_delete; DELETE FROM keys;");
        let r = since(&path, &cps[0], None);
        assert_eq!(r.key_source, Some(KeySource::CheckpointFile));
        // The ledger's own checkpoints cannot be checked without a key.
        assert!(codes(&r).contains(&"latest_checkpoint_invalid"), "{r}");
        let mut no_key = cps[0].clone();
        no_key.public_key_pem = None;
        let r = since(&path, &no_key, None);
        assert_eq!(r.key_source, None);
        assert!(codes(&r).contains(&"saved_key_unavailable"));
        assert!(since(&path, &no_key, Some(signer.public_key_pem())).is_ok());
    }

    #[test]
    fn rotation_chain_is_followed_from_the_pinned_old_key() {
        let old = MemorySigner::generate().expect("key");
        let new = MemorySigner::generate().expect("key");
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, cps) = build(dir.path(), &[3, 2], &old);
        let mut l = Ledger::open(&path).expect("open");
        l.rotate_key(&old, new.public_key_pem(), "agent-1", "evident test", t0())
            .expect("rotate");
        let after = l
            .append_run(&[], &[soa("n1")], &new, "agent-1", t0())
            .expect("new key");
        l.append_run(&[], &[soa("n2")], &new, "agent-1", t0())
            .expect("new key");
        drop(l);
        // Saved before the rotation, pinned old key: the new key's latest
        // checkpoint is trusted through the rotation record.
        let r = since(&path, &cps[0], Some(old.public_key_pem()));
        assert!(r.is_ok(), "{r}");
        assert_eq!(
            r.latest.as_ref().map(|c| c.key_id.as_str()),
            Some(new.key_id())
        );
        // Saved after the rotation (signed by the new key), old key pinned.
        let r = since(&path, &after, Some(old.public_key_pem()));
        assert!(r.is_ok(), "{r}");
        // A stranger's key trusts neither.
        let stranger = MemorySigner::generate().expect("key");
        let r = since(&path, &after, Some(stranger.public_key_pem()));
        assert!(codes(&r).contains(&"saved_signature_invalid"), "{r}");
        assert!(codes(&r).contains(&"latest_checkpoint_invalid"), "{r}");
        // Truncation after the saved checkpoint still fails.
        tamper(&path, "DELETE FROM leaves WHERE idx >= 6;");
        let r = since(&path, &after, Some(old.public_key_pem()));
        assert!(!r.is_ok(), "{r}");
    }

    #[test]
    fn forged_or_foreign_saved_checkpoint_fails() {
        let signer = MemorySigner::generate().expect("key");
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, cps) = build(dir.path(), &[3, 2], &signer);
        let stranger = MemorySigner::generate().expect("key");
        let r = since(&path, &cps[0], Some(stranger.public_key_pem()));
        assert!(codes(&r).contains(&"saved_signature_invalid"), "{r}");
        let mut forged = cps[0].clone();
        forged.body = String::from_utf8(forged.body)
            .expect("utf8")
            .replace("size 3", "size 2")
            .into_bytes();
        forged.tree_size = 2;
        let r = since(&path, &forged, None);
        assert!(codes(&r).contains(&"saved_signature_invalid"), "{r}");
        let l = Ledger::open_read_only(&path).expect("open");
        assert!(verify_since_checkpoint(&l, &cps[0], Some("garbage")).is_err());
    }

    #[test]
    fn truncation_is_named() {
        let signer = MemorySigner::generate().expect("key");
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, cps) = build(dir.path(), &[3, 2, 2], &signer);
        tamper(&path, "DELETE FROM leaves WHERE idx >= 4;");
        let r = since(&path, &cps[1], Some(signer.public_key_pem()));
        assert_eq!(
            r.problems[0],
            SinceProblem::Truncated {
                records: 4,
                saved_size: 5
            }
        );
        let msg = r.problems[0].to_string();
        assert!(
            msg.starts_with("ledger has 4 records, the saved checkpoint covers 5"),
            "{msg}"
        );
        assert!(codes(&r).contains(&"latest_checkpoint_beyond_ledger"));
        assert!(r.consistency.is_none());
        // The removed records are named; no range is drawn from the
        // ledger's own checkpoints.
        assert!(!codes(&r).contains(&"changed_range"), "{r}");
    }

    #[test]
    fn rewritten_records_are_named() {
        let signer = MemorySigner::generate().expect("key");
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, cps) = build(dir.path(), &[3, 3, 2], &signer);
        // Bytes only: the stored leaf hash gives it away.
        tamper(&path, "UPDATE leaves SET record = CAST(replace(CAST(record AS TEXT), 'A.7.4', 'A.7.5') AS BLOB) WHERE idx = 4;");
        let r = since(&path, &cps[1], None);
        assert!(codes(&r).contains(&"prefix_mismatch"), "{r}");
        assert!(codes(&r).contains(&"consistency_proof_failed"), "{r}");
        assert!(r.problems.contains(&SinceProblem::RecordRewritten {
            index: 4,
            record_id: "r4".into()
        }));
        // The stored leaf hashes still reproduce the saved root, so the
        // rewritten record is named exactly: no range to add.
        assert!(!codes(&r).contains(&"changed_range"), "{r}");
        assert!(!r.consistency.as_ref().expect("proof").verified);

        // Bytes and stored hash together: only the range can be named.
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, cps) = build(dir.path(), &[3, 3, 2], &signer);
        let forged = {
            let mut r = soa("r4");
            if let crate::record::Record::SoaDecision(s) = &mut r {
                s.justification = Some("rewritten".into());
            }
            r.to_canonical()
        };
        tamper(
            &path,
            &format!(
                "UPDATE leaves SET record = x'{}', leaf_hash = x'{}' WHERE idx = 4;",
                hex::encode(&forged),
                hex::encode(leaf_hash(&forged))
            ),
        );
        let r = since(&path, &cps[2], Some(signer.public_key_pem()));
        assert!(!codes(&r).contains(&"record_rewritten"), "{r}");
        assert!(
            r.problems.contains(&SinceProblem::ChangedRange {
                from: 0,
                to: 8,
                matches: "empty".into(),
                differs: "saved".into()
            }),
            "{r}"
        );
        assert!(r
            .to_string()
            .contains("the first change is in records #0..#7"));
        assert!(r.to_string().contains("cannot be located more closely"));
    }

    /// Like `build`, with record `rewritten` altered: the ledger whoever
    /// holds the signing key could write to replace the real one, every
    /// checkpoint re-signed over the altered records.
    fn build_forged(
        dir: &Path,
        sizes: &[usize],
        signer: &MemorySigner,
        rewritten: usize,
    ) -> PathBuf {
        let path = dir.join("forged.db");
        let mut l = Ledger::open(&path).expect("open");
        let mut n = 0;
        for (run, &size) in sizes.iter().enumerate() {
            let recs: Vec<_> = (n..n + size)
                .map(|i| {
                    let mut r = soa(&format!("r{i}"));
                    if i == rewritten {
                        if let crate::record::Record::SoaDecision(s) = &mut r {
                            s.justification = Some("rewritten".into());
                        }
                    }
                    r
                })
                .collect();
            n += size;
            let now = t0() + chrono::Duration::seconds(run as i64);
            l.append_run(&[], &recs, signer, "agent-1", now)
                .expect("append");
        }
        path
    }

    #[test]
    fn a_rewrite_with_forged_later_checkpoints_is_not_located_by_them() {
        let signer = MemorySigner::generate().expect("key");
        let dir = tempfile::tempdir().expect("tempdir");
        // The auditor saved the checkpoint at size 6 of the real ledger.
        let (_, cps) = build(dir.path(), &[2, 2, 2, 2], &signer);
        let saved = &cps[2];
        assert_eq!(saved.tree_size, 6);
        // Record #1 rewritten, and the checkpoints at 2, 4, 6 and 8 re-signed
        // over the rewritten records: each matches them.
        let forged = build_forged(dir.path(), &[2, 2, 2, 2], &signer, 1);
        for key in [None, Some(signer.public_key_pem())] {
            let r = since(&forged, saved, key);
            assert!(codes(&r).contains(&"prefix_mismatch"), "{r}");
            // Not #6..#7 (after the forged checkpoint at 6) nor #2..#5:
            // only the records the saved checkpoint covers, all of them.
            let ranges: Vec<_> = r
                .problems
                .iter()
                .filter(|p| p.code() == "changed_range")
                .collect();
            assert_eq!(
                ranges,
                [&SinceProblem::ChangedRange {
                    from: 0,
                    to: 6,
                    matches: "empty".into(),
                    differs: "saved".into()
                }],
                "{r}"
            );
            assert!(!codes(&r).contains(&"reordered"), "{r}");
        }

        // A rewrite of the last record the saved checkpoint covers: the
        // range still holds it.
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, cps) = build(dir.path(), &[2, 2, 2, 2], &signer);
        let forged = build_forged(dir.path(), &[2, 2, 2, 2], &signer, 5);
        let r = since(&forged, &cps[2], None);
        assert!(
            r.problems.contains(&SinceProblem::ChangedRange {
                from: 0,
                to: 6,
                matches: "empty".into(),
                differs: "saved".into()
            }),
            "{r}"
        );
    }

    #[test]
    fn swaps_moves_duplicates_and_gaps_are_named() {
        let signer = MemorySigner::generate().expect("key");
        let key = Some(signer.public_key_pem());
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, cps) = build(dir.path(), &[2, 5, 1], &signer);
        tamper(
            &path,
            "UPDATE leaves SET idx = -1 WHERE idx = 3;
             UPDATE leaves SET idx = 3 WHERE idx = 5;
             UPDATE leaves SET idx = 5 WHERE idx = -1;",
        );
        let r = since(&path, &cps[1], key);
        assert!(
            r.problems.contains(&SinceProblem::Reordered {
                kind: Reordering::Swap,
                index: 3,
                other_index: 5,
                record_id: "r5".into()
            }),
            "{r}"
        );

        // A move: r2 taken out and put after r5.
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, cps) = build(dir.path(), &[2, 5, 1], &signer);
        tamper(
            &path,
            "UPDATE leaves SET idx = -1 WHERE idx = 2;
             UPDATE leaves SET idx = idx - 1 WHERE idx IN (3, 4, 5);
             UPDATE leaves SET idx = 5 WHERE idx = -1;",
        );
        let r = since(&path, &cps[1], key);
        assert!(
            r.problems.contains(&SinceProblem::Reordered {
                kind: Reordering::Move,
                index: 2,
                other_index: 5,
                record_id: "r2".into()
            }),
            "{r}"
        );

        // A duplicate over another record, and a gap.
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, cps) = build(dir.path(), &[2, 5, 1], &signer);
        tamper(
            &path,
            "UPDATE leaves SET (record_id, record, leaf_hash) = (SELECT record_id, record, leaf_hash FROM leaves WHERE idx = 1) WHERE idx = 4;
             DELETE FROM leaves WHERE idx = 6;",
        );
        let r = since(&path, &cps[1], key);
        assert!(
            r.problems.contains(&SinceProblem::DuplicateRecord {
                index: 4,
                first_index: 1,
                record_id: "r1".into()
            }),
            "{r}"
        );
        assert!(r
            .problems
            .contains(&SinceProblem::RecordsMissing { from: 6, to: 7 }));
        assert!(r.to_string().contains("records #6 are missing"));
    }

    #[test]
    fn rolled_back_checkpoints_are_named() {
        let signer = MemorySigner::generate().expect("key");
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, cps) = build(dir.path(), &[2, 2], &signer);
        tamper(
            &path,
            "DELETE FROM leaves WHERE idx >= 2; DELETE FROM checkpoints WHERE seq = 2;",
        );
        let r = since(&path, &cps[1], None);
        assert!(codes(&r).contains(&"truncated"));
        assert!(codes(&r).contains(&"latest_checkpoint_behind"), "{r}");
        tamper(&path, "DELETE FROM checkpoints;");
        let r = since(&path, &cps[1], None);
        assert!(codes(&r).contains(&"no_latest_checkpoint"), "{r}");
    }

    // ---- property tests -------------------------------------------------

    #[derive(Debug, Clone)]
    enum Tamper {
        Truncate {
            keep: usize,
        },
        Rewrite {
            leaf: usize,
            pos: usize,
            fix_hash: bool,
        },
        Remove {
            leaf: usize,
            renumber: bool,
        },
        Swap {
            a: usize,
            b: usize,
        },
        Duplicate {
            leaf: usize,
            over: Option<usize>,
        },
    }

    fn tamper_strategy() -> impl Strategy<Value = Tamper> {
        prop_oneof![
            any::<usize>().prop_map(|keep| Tamper::Truncate { keep }),
            (any::<usize>(), any::<usize>(), any::<bool>()).prop_map(|(leaf, pos, fix_hash)| {
                Tamper::Rewrite {
                    leaf,
                    pos,
                    fix_hash,
                }
            }),
            (any::<usize>(), any::<bool>())
                .prop_map(|(leaf, renumber)| Tamper::Remove { leaf, renumber }),
            (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Tamper::Swap { a, b }),
            (any::<usize>(), prop::option::of(any::<usize>()))
                .prop_map(|(leaf, over)| Tamper::Duplicate { leaf, over }),
        ]
    }

    /// Apply `t` to the first `m` records of a ledger of `n`; returns the
    /// codes of which at least one must be reported, or `None` for a no-op.
    fn apply(path: &Path, m: u64, n: u64, t: &Tamper) -> Option<Vec<&'static str>> {
        tamper(path, "");
        let c = Connection::open(path).expect("raw");
        let pick = |x: usize| x as u64 % m;
        match *t {
            Tamper::Truncate { keep } => {
                c.execute("DELETE FROM leaves WHERE idx >= ?1", [pick(keep) as i64])
                    .expect("truncate");
                Some(vec!["truncated"])
            }
            Tamper::Rewrite {
                leaf,
                pos,
                fix_hash,
            } => {
                let i = pick(leaf) as i64;
                let mut bytes: Vec<u8> = c
                    .query_row("SELECT record FROM leaves WHERE idx = ?1", [i], |r| {
                        r.get(0)
                    })
                    .expect("row");
                let p = pos % bytes.len();
                bytes[p] ^= 0x01;
                c.execute(
                    "UPDATE leaves SET record = ?1 WHERE idx = ?2",
                    rusqlite::params![bytes, i],
                )
                .expect("rewrite");
                if fix_hash {
                    c.execute(
                        "UPDATE leaves SET leaf_hash = ?1 WHERE idx = ?2",
                        rusqlite::params![&leaf_hash(&bytes)[..], i],
                    )
                    .expect("fix hash");
                    Some(vec!["prefix_mismatch"])
                } else {
                    Some(vec!["record_rewritten"])
                }
            }
            Tamper::Remove { leaf, renumber } => {
                let i = pick(leaf) as i64;
                c.execute("DELETE FROM leaves WHERE idx = ?1", [i])
                    .expect("delete");
                if renumber {
                    c.execute("UPDATE leaves SET idx = idx - 1 WHERE idx > ?1", [i])
                        .expect("renumber");
                    Some(vec!["prefix_mismatch", "truncated"])
                } else {
                    // Removing the last record leaves no gap: it is truncation.
                    Some(vec!["records_missing", "truncated"])
                }
            }
            Tamper::Swap { a, b } => {
                let (a, b) = (pick(a) as i64, pick(b) as i64);
                if a == b {
                    return None;
                }
                c.execute_batch(&format!(
                    "UPDATE leaves SET idx = -1 WHERE idx = {a};
                     UPDATE leaves SET idx = {a} WHERE idx = {b};
                     UPDATE leaves SET idx = {b} WHERE idx = -1;"
                ))
                .expect("swap");
                Some(vec!["prefix_mismatch"])
            }
            Tamper::Duplicate { leaf, over } => {
                let i = pick(leaf) as i64;
                let target = match over {
                    Some(o) if pick(o) as i64 != i => pick(o) as i64,
                    Some(_) => return None,
                    None => n as i64,
                };
                c.execute(
                    "INSERT OR REPLACE INTO leaves (idx, record_id, record_type, recorded_at, leaf_hash, record)
                     SELECT ?1, record_id, record_type, recorded_at, leaf_hash, record FROM leaves WHERE idx = ?2",
                    [target, i],
                )
                .expect("duplicate");
                Some(vec!["duplicate_record"])
            }
        }
    }

    fn sizes_strategy() -> impl Strategy<Value = Vec<usize>> {
        prop::collection::vec(0usize..5, 2..6)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn appended_only_growth_passes(sizes in sizes_strategy(), k in any::<prop::sample::Index>()) {
            let signer = MemorySigner::generate().expect("key");
            let dir = tempfile::tempdir().expect("tempdir");
            let (path, cps) = build(dir.path(), &sizes, &signer);
            let saved = &cps[k.index(cps.len())];
            let r = since(&path, saved, Some(signer.public_key_pem()));
            prop_assert!(r.is_ok(), "{}", r);
            prop_assert!(r.consistency.as_ref().is_some_and(|c| c.verified));
        }

        #[test]
        fn tampering_before_a_saved_checkpoint_is_detected_and_named(
            sizes in sizes_strategy(),
            k in any::<prop::sample::Index>(),
            t in tamper_strategy(),
        ) {
            let signer = MemorySigner::generate().expect("key");
            let dir = tempfile::tempdir().expect("tempdir");
            let (path, cps) = build(dir.path(), &sizes, &signer);
            let saved = &cps[k.index(cps.len())];
            let m = saved.tree_size;
            let n = cps[cps.len() - 1].tree_size;
            prop_assume!(m > 0);
            if let Some(expected) = apply(&path, m, n, &t) {
                let r = since(&path, saved, Some(signer.public_key_pem()));
                prop_assert!(!r.is_ok(), "undetected: {:?}", t);
                let found = codes(&r);
                prop_assert!(
                    expected.iter().any(|e| found.contains(e)),
                    "{:?}: expected one of {:?}, got {:?}", t, expected, found
                );
            }
        }
    }

    #[test]
    fn observations_do_not_matter_here() {
        // Findings cite observations; the since-check looks only at leaves.
        let signer = MemorySigner::generate().expect("key");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("l.db");
        let mut l = Ledger::open(&path).expect("open");
        let (d, o) = observation(1);
        let cp = l
            .append_run(
                &[(d.clone(), o)],
                &[crate::test_support::finding("f", &d)],
                &signer,
                "agent-1",
                t0(),
            )
            .expect("append");
        assert!(verify_since_checkpoint(&l, &cp, None)
            .expect("runs")
            .is_ok());
    }
}
