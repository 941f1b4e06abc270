//! Offline verification of a whole ledger.
//!
//! Everything is recomputed from the stored record bytes: leaf hashes, the
//! Merkle root at each checkpoint's size, and observation digests. Stored
//! leaf hashes are only compared, never trusted. Every problem found is
//! reported, not just the first.
//!
//! Without a trusted key, checkpoint signatures are checked against the public
//! keys stored in the ledger itself, which proves internal consistency only:
//! someone able to rewrite the file could also replace the keys. Pass the
//! agent's public key (obtained out of band) to establish who signed.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Serialize;

use crate::canonical::sha256_digest;
use crate::checkpoint::Checkpoint;
use crate::ledger::{record_type_of, Ledger, LedgerError};
use crate::merkle::{leaf_hash, Hash, MerkleTree};
use crate::record::{format_time, Record, SCHEMA_VERSION};
use crate::signing::{key_id_of_pem, verify_signature};

/// One problem found by [`verify_ledger`]. The `code` of each variant (its
/// snake_case name) is stable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Problem {
    /// Leaf indexes are not 0, 1, 2, ...: a leaf was removed or inserted.
    IndexGap {
        /// Position in index order.
        position: u64,
        /// Index stored there.
        found_index: u64,
    },
    /// The stored leaf hash is not the hash of the stored record bytes.
    LeafHashMismatch {
        /// Leaf index.
        index: u64,
        /// Record id (from the index column).
        record_id: String,
    },
    /// The stored bytes are not a valid v1 record.
    UnparseableRecord {
        /// Leaf index.
        index: u64,
        /// Record id (from the index column).
        record_id: String,
        /// Why it does not parse.
        error: String,
    },
    /// The record parses but its bytes are not its canonical encoding.
    NonCanonicalRecord {
        /// Leaf index.
        index: u64,
        /// Record id.
        record_id: String,
    },
    /// The record's schema version is not one this verifier knows.
    UnsupportedRecordVersion {
        /// Leaf index.
        index: u64,
        /// Record id.
        record_id: String,
        /// Version found.
        version: u32,
    },
    /// A query column (`record_id`, `record_type`, `recorded_at`) disagrees with the record.
    ColumnMismatch {
        /// Leaf index.
        index: u64,
        /// Record id (from the record).
        record_id: String,
        /// The column.
        column: String,
    },
    /// The same record id appears twice.
    DuplicateRecordId {
        /// Leaf index of the repeat.
        index: u64,
        /// Record id.
        record_id: String,
        /// Leaf index of the first occurrence.
        first_index: u64,
    },
    /// A finding cites an observation that is not stored.
    MissingObservation {
        /// Leaf index.
        index: u64,
        /// Record id.
        record_id: String,
        /// Digest cited.
        digest: String,
    },
    /// A stored observation does not hash to its digest.
    ObservationDigestMismatch {
        /// Digest it is stored under.
        digest: String,
        /// Digest of its bytes.
        actual: String,
    },
    /// A stored public key is invalid or its id is not its key id.
    BadStoredKey {
        /// Key id it is stored under.
        key_id: String,
    },
    /// A checkpoint body does not parse, or its size column disagrees with it.
    MalformedCheckpoint {
        /// Position of the checkpoint in signing order (1-based).
        seq: i64,
        /// The size column.
        tree_size: i64,
        /// What is wrong.
        error: String,
    },
    /// A checkpoint is signed by a key the ledger does not hold.
    UnknownKey {
        /// Checkpoint size.
        tree_size: u64,
        /// Key id named.
        key_id: String,
    },
    /// A checkpoint is signed by a key other than the trusted one.
    UntrustedKey {
        /// Checkpoint size.
        tree_size: u64,
        /// Key id named.
        key_id: String,
        /// The trusted key's id.
        trusted_key_id: String,
    },
    /// A checkpoint's signature does not verify.
    BadSignature {
        /// Checkpoint size.
        tree_size: u64,
        /// Key id named.
        key_id: String,
    },
    /// A checkpoint covers more leaves than the ledger holds (truncation).
    CheckpointBeyondLedger {
        /// Checkpoint size.
        tree_size: u64,
        /// Leaves present.
        leaves: u64,
    },
    /// A checkpoint's root differs from the root recomputed from the records.
    RootMismatch {
        /// Checkpoint size.
        tree_size: u64,
        /// First leaf of the suspect range (size of the previous good checkpoint).
        from: u64,
        /// End (exclusive) of the suspect range.
        to: u64,
    },
    /// A checkpoint covers fewer leaves than an earlier one.
    CheckpointSizeDecreased {
        /// Checkpoint size.
        tree_size: u64,
        /// Size of the checkpoint before it.
        previous: u64,
    },
    /// Leaves after the last checkpoint: not covered by any signature.
    UncheckpointedLeaves {
        /// First uncovered leaf.
        from: u64,
        /// End (exclusive).
        to: u64,
    },
}

impl Problem {
    /// The stable code of this problem.
    pub fn code(&self) -> &'static str {
        match self {
            Problem::IndexGap { .. } => "index_gap",
            Problem::LeafHashMismatch { .. } => "leaf_hash_mismatch",
            Problem::UnparseableRecord { .. } => "unparseable_record",
            Problem::NonCanonicalRecord { .. } => "non_canonical_record",
            Problem::UnsupportedRecordVersion { .. } => "unsupported_record_version",
            Problem::ColumnMismatch { .. } => "column_mismatch",
            Problem::DuplicateRecordId { .. } => "duplicate_record_id",
            Problem::MissingObservation { .. } => "missing_observation",
            Problem::ObservationDigestMismatch { .. } => "observation_digest_mismatch",
            Problem::BadStoredKey { .. } => "bad_stored_key",
            Problem::MalformedCheckpoint { .. } => "malformed_checkpoint",
            Problem::UnknownKey { .. } => "unknown_key",
            Problem::UntrustedKey { .. } => "untrusted_key",
            Problem::BadSignature { .. } => "bad_signature",
            Problem::CheckpointBeyondLedger { .. } => "checkpoint_beyond_ledger",
            Problem::RootMismatch { .. } => "root_mismatch",
            Problem::CheckpointSizeDecreased { .. } => "checkpoint_size_decreased",
            Problem::UncheckpointedLeaves { .. } => "uncheckpointed_leaves",
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::IndexGap { position, found_index } => write!(
                f,
                "leaf indexes are not contiguous: expected index {position}, found {found_index} (a record was removed or inserted)"
            ),
            Problem::LeafHashMismatch { index, record_id } => {
                write!(f, "record #{index} ({record_id}): stored bytes do not match the stored leaf hash (record changed)")
            }
            Problem::UnparseableRecord { index, record_id, error } => {
                write!(f, "record #{index} ({record_id}): not a valid v1 record: {error}")
            }
            Problem::NonCanonicalRecord { index, record_id } => {
                write!(f, "record #{index} ({record_id}): stored bytes are not canonical JSON")
            }
            Problem::UnsupportedRecordVersion { index, record_id, version } => {
                write!(f, "record #{index} ({record_id}): schema version {version} is not supported")
            }
            Problem::ColumnMismatch { index, record_id, column } => {
                write!(f, "record #{index} ({record_id}): the {column} column disagrees with the record")
            }
            Problem::DuplicateRecordId { index, record_id, first_index } => {
                write!(f, "record #{index} ({record_id}): record id already used by record #{first_index}")
            }
            Problem::MissingObservation { index, record_id, digest } => {
                write!(f, "record #{index} ({record_id}): observation {digest} is not in the ledger")
            }
            Problem::ObservationDigestMismatch { digest, actual } => {
                write!(f, "observation {digest}: stored bytes hash to {actual} (observation changed)")
            }
            Problem::BadStoredKey { key_id } => {
                write!(f, "public key {key_id}: invalid, or its key id is not {key_id}")
            }
            Problem::MalformedCheckpoint { seq, tree_size, error } => {
                write!(f, "checkpoint #{seq} (size column {tree_size}): {error}")
            }
            Problem::UnknownKey { tree_size, key_id } => {
                write!(f, "checkpoint at size {tree_size}: signed by key {key_id}, which is not in the ledger")
            }
            Problem::UntrustedKey { tree_size, key_id, trusted_key_id } => write!(
                f,
                "checkpoint at size {tree_size}: signed by key {key_id}, not by the trusted key {trusted_key_id}"
            ),
            Problem::BadSignature { tree_size, key_id } => {
                write!(f, "checkpoint at size {tree_size}: signature does not verify with key {key_id}")
            }
            Problem::CheckpointBeyondLedger { tree_size, leaves } => write!(
                f,
                "checkpoint at size {tree_size}: the ledger holds only {leaves} records (records were removed)"
            ),
            Problem::RootMismatch { tree_size, from, to } => write!(
                f,
                "checkpoint at size {tree_size}: root does not match the records; records #{from}..#{} changed, were reordered or replaced",
                to.saturating_sub(1)
            ),
            Problem::CheckpointSizeDecreased { tree_size, previous } => {
                write!(f, "checkpoint at size {tree_size}: smaller than the checkpoint before it (size {previous})")
            }
            Problem::UncheckpointedLeaves { from, to } => write!(
                f,
                "records #{from}..#{} are not covered by any signed checkpoint",
                to.saturating_sub(1)
            ),
        }
    }
}

/// The result of [`verify_ledger`].
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// Number of records (leaves).
    pub records: u64,
    /// Number of checkpoints.
    pub checkpoints: u64,
    /// Number of stored observations.
    pub observations: u64,
    /// Number of registered public keys.
    pub keys: u64,
    /// Key id of the trusted key, when one was given.
    pub trusted_key_id: Option<String>,
    /// The latest checkpoint whose signature and root both verified.
    pub latest_verified: Option<Checkpoint>,
    /// Every problem found.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// Whether no problem was found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
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
        serde_json::json!({
            "ok": self.is_ok(),
            "records": self.records,
            "checkpoints": self.checkpoints,
            "observations": self.observations,
            "keys": self.keys,
            "trusted_key_id": self.trusted_key_id,
            "latest_verified_checkpoint": self.latest_verified.as_ref().map(|c| serde_json::json!({
                "tree_size": c.tree_size,
                "root": c.root_hex(),
                "time": format_time(c.time),
                "agent": c.agent_id,
                "key_id": c.key_id,
            })),
            "problems": problems,
        })
    }
}

/// Open the ledger at `path` read-only and verify it (see [`verify_ledger`]).
pub fn verify_ledger_path(
    path: impl AsRef<Path>,
    trusted_key_pem: Option<&str>,
) -> Result<VerifyReport, LedgerError> {
    verify_ledger(&Ledger::open_read_only(path)?, trusted_key_pem)
}

/// Verify everything in `ledger`. With `trusted_key_pem`, only checkpoints
/// signed by that key are accepted.
///
/// Returns `Err` only when the ledger cannot be read at all, or the trusted
/// key is not a valid public key; every integrity problem is in the report.
pub fn verify_ledger(
    ledger: &Ledger,
    trusted_key_pem: Option<&str>,
) -> Result<VerifyReport, LedgerError> {
    let trusted_key_id = match trusted_key_pem {
        Some(pem) => Some(key_id_of_pem(pem).map_err(crate::checkpoint::CheckpointError::from)?),
        None => None,
    };
    let mut problems = Vec::new();

    // Observations.
    let mut observations: HashSet<String> = HashSet::new();
    ledger.for_each_observation(|digest, bytes| {
        let actual = sha256_digest(&bytes);
        if actual != digest {
            problems.push(Problem::ObservationDigestMismatch {
                digest: digest.clone(),
                actual,
            });
        }
        observations.insert(digest);
        Ok(())
    })?;

    // Leaves.
    let mut hashes: Vec<Hash> = Vec::new();
    let mut ids: HashMap<String, u64> = HashMap::new();
    ledger.for_each_stored_leaf(|leaf| {
        let position = hashes.len() as u64;
        if leaf.index != position {
            problems.push(Problem::IndexGap {
                position,
                found_index: leaf.index,
            });
        }
        let index = leaf.index;
        let h = leaf_hash(&leaf.bytes);
        hashes.push(h);
        if leaf.leaf_hash != h {
            problems.push(Problem::LeafHashMismatch {
                index,
                record_id: leaf.record_id.clone(),
            });
        }
        let record = match Record::from_bytes(&leaf.bytes) {
            Ok(r) => r,
            Err(e) => {
                problems.push(Problem::UnparseableRecord {
                    index,
                    record_id: leaf.record_id,
                    error: e.to_string(),
                });
                return Ok(());
            }
        };
        let record_id = record.record_id().to_string();
        if record.to_canonical() != leaf.bytes {
            problems.push(Problem::NonCanonicalRecord {
                index,
                record_id: record_id.clone(),
            });
        }
        let version = match &record {
            Record::Finding(f) => f.schema_version,
            Record::SoaDecision(s) => s.schema_version,
        };
        if version != SCHEMA_VERSION {
            problems.push(Problem::UnsupportedRecordVersion {
                index,
                record_id: record_id.clone(),
                version,
            });
        }
        for (column, ok) in [
            ("record_id", leaf.record_id == record_id),
            ("record_type", leaf.record_type == record_type_of(&record)),
            (
                "recorded_at",
                leaf.recorded_at == format_time(record.recorded_at()),
            ),
        ] {
            if !ok {
                problems.push(Problem::ColumnMismatch {
                    index,
                    record_id: record_id.clone(),
                    column: column.into(),
                });
            }
        }
        if let Record::Finding(f) = &record {
            if !observations.contains(&f.observation_digest) {
                problems.push(Problem::MissingObservation {
                    index,
                    record_id: record_id.clone(),
                    digest: f.observation_digest.clone(),
                });
            }
        }
        match ids.get(&record_id) {
            Some(&first_index) => problems.push(Problem::DuplicateRecordId {
                index,
                record_id,
                first_index,
            }),
            None => {
                ids.insert(record_id, index);
            }
        }
        Ok(())
    })?;
    let leaves = hashes.len() as u64;
    let tree = MerkleTree::from_leaf_hashes(hashes);

    // Keys.
    let stored_keys = ledger.public_keys()?;
    let mut keys: HashMap<String, String> = HashMap::new();
    for (key_id, pem) in &stored_keys {
        if key_id_of_pem(pem).ok().as_deref() != Some(key_id.as_str()) {
            problems.push(Problem::BadStoredKey {
                key_id: key_id.clone(),
            });
        } else {
            keys.insert(key_id.clone(), pem.clone());
        }
    }

    // Checkpoints.
    let rows = ledger.stored_checkpoints()?;
    let mut good_sizes: Vec<u64> = Vec::new();
    let mut latest_verified = None;
    let mut previous: Option<u64> = None;
    let mut max_size = 0u64;
    for row in &rows {
        let cp = match Checkpoint::parse(&row.body, row.signature.clone()) {
            Ok(cp) => cp,
            Err(e) => {
                problems.push(Problem::MalformedCheckpoint {
                    seq: row.seq,
                    tree_size: row.tree_size,
                    error: e.to_string(),
                });
                continue;
            }
        };
        if cp.tree_size as i64 != row.tree_size {
            problems.push(Problem::MalformedCheckpoint {
                seq: row.seq,
                tree_size: row.tree_size,
                error: format!(
                    "size column disagrees with the signed size {}",
                    cp.tree_size
                ),
            });
        }
        let size = cp.tree_size;
        if let Some(prev) = previous {
            if size < prev {
                problems.push(Problem::CheckpointSizeDecreased {
                    tree_size: size,
                    previous: prev,
                });
            }
        }
        previous = Some(size);
        max_size = max_size.max(size);

        let pem = match (&trusted_key_id, trusted_key_pem) {
            (Some(tid), Some(tpem)) => {
                if &cp.key_id != tid {
                    problems.push(Problem::UntrustedKey {
                        tree_size: size,
                        key_id: cp.key_id.clone(),
                        trusted_key_id: tid.clone(),
                    });
                    None
                } else {
                    Some(tpem.to_string())
                }
            }
            _ => match keys.get(&cp.key_id) {
                Some(p) => Some(p.clone()),
                None => {
                    problems.push(Problem::UnknownKey {
                        tree_size: size,
                        key_id: cp.key_id.clone(),
                    });
                    None
                }
            },
        };
        let mut sig_ok = false;
        if let Some(pem) = &pem {
            if verify_signature(pem, &cp.body, &cp.signature).is_ok() {
                sig_ok = true;
            } else {
                problems.push(Problem::BadSignature {
                    tree_size: size,
                    key_id: cp.key_id.clone(),
                });
            }
        }

        let root_ok = if size > leaves {
            problems.push(Problem::CheckpointBeyondLedger {
                tree_size: size,
                leaves,
            });
            false
        } else {
            // Invariant: size <= leaves was just checked, so root() cannot fail.
            let ok = tree.root(size).map(|r| r == cp.root_hash).unwrap_or(false);
            if !ok {
                let from = good_sizes
                    .iter()
                    .copied()
                    .filter(|&s| s < size)
                    .max()
                    .unwrap_or(0);
                problems.push(Problem::RootMismatch {
                    tree_size: size,
                    from,
                    to: size,
                });
            }
            ok
        };
        if sig_ok && root_ok {
            good_sizes.push(size);
            let mut cp = cp;
            cp.public_key_pem = pem;
            latest_verified = Some(cp);
        }
    }
    if max_size < leaves {
        problems.push(Problem::UncheckpointedLeaves {
            from: max_size,
            to: leaves,
        });
    }

    Ok(VerifyReport {
        records: leaves,
        checkpoints: rows.len() as u64,
        observations: observations.len() as u64,
        keys: stored_keys.len() as u64,
        trusted_key_id,
        latest_verified,
        problems,
    })
}
