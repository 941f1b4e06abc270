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
use crate::record::{format_time, KeyRotationRecord, Record, SCHEMA_VERSION};
use crate::rotation::{resolve, ChainKey, KeyVerdict};
use crate::signing::key_id_of_pem;

/// One problem found by [`verify_ledger`]. The `code` of each variant (its
/// snake_case name) is stable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Problem {
    /// Leaf indexes jump: the records `from..to` are missing (one problem
    /// per gap).
    IndexGap {
        /// First missing index.
        from: u64,
        /// End (exclusive) of the missing indexes.
        to: u64,
    },
    /// Checkpoint sequence numbers jump: the checkpoints `from..to` were
    /// deleted (one problem per gap).
    CheckpointGap {
        /// First missing sequence number.
        from: i64,
        /// End (exclusive).
        to: i64,
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
    /// A checkpoint is signed by a key that was rotated away from earlier.
    RetiredKey {
        /// Checkpoint size.
        tree_size: u64,
        /// Key id named.
        key_id: String,
        /// The key current at that point.
        current_key_id: String,
    },
    /// A checkpoint is signed by another key than the current one, and no
    /// rotation record hands over to it.
    KeyChangedWithoutRotation {
        /// Checkpoint size.
        tree_size: u64,
        /// Key id named.
        key_id: String,
        /// The key current at that point.
        current_key_id: String,
    },
    /// A stored RFC 3161 token is not over its checkpoint's body (or does
    /// not parse), or belongs to no checkpoint.
    TimestampMismatch {
        /// The checkpoint's sequence number.
        seq: i64,
        /// Why.
        reason: String,
    },
    /// A key rotation record cannot take effect.
    InvalidRotation {
        /// Leaf index.
        index: u64,
        /// Record id.
        record_id: String,
        /// Why.
        reason: String,
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
            Problem::CheckpointGap { .. } => "checkpoint_gap",
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
            Problem::RetiredKey { .. } => "retired_key",
            Problem::KeyChangedWithoutRotation { .. } => "key_changed_without_rotation",
            Problem::InvalidRotation { .. } => "invalid_rotation",
            Problem::TimestampMismatch { .. } => "timestamp_mismatch",
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::IndexGap { from, to } if to.saturating_sub(*from) == 1 => write!(
                f,
                "record #{from} is missing (leaf indexes jump from #{} to #{to})",
                from.saturating_sub(1)
            ),
            Problem::IndexGap { from, to } => write!(
                f,
                "records #{from}..#{} are missing (leaf indexes jump from #{} to #{to})",
                to.saturating_sub(1),
                from.saturating_sub(1)
            ),
            Problem::CheckpointGap { from, to } if to - from == 1 => write!(
                f,
                "checkpoint #{from} is missing (deleted; sequence numbers jump from #{} to #{to})",
                from - 1
            ),
            Problem::CheckpointGap { from, to } => write!(
                f,
                "checkpoints #{from}..#{} are missing (deleted; sequence numbers jump from #{} to #{to})",
                to - 1,
                from - 1
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
                "checkpoint at size {tree_size}: signed by key {key_id}, not by the trusted key {trusted_key_id} (or a key it was rotated to)"
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
            Problem::RetiredKey { tree_size, key_id, current_key_id } => write!(
                f,
                "checkpoint at size {tree_size}: signed by key {key_id}, which was rotated away from; the current key is {current_key_id}"
            ),
            Problem::KeyChangedWithoutRotation { tree_size, key_id, current_key_id } => write!(
                f,
                "checkpoint at size {tree_size}: signed by key {key_id}, but the ledger is signed by {current_key_id} and no rotation record hands over to {key_id}"
            ),
            Problem::InvalidRotation { index, record_id, reason } => {
                write!(f, "record #{index} ({record_id}): key rotation cannot take effect: {reason}")
            }
            Problem::TimestampMismatch { seq, reason } => {
                write!(f, "timestamp token of checkpoint #{seq}: {reason}")
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
    /// The signing keys in the order they were current (the first one, then
    /// one per rotation that took effect).
    pub key_chain: Vec<ChainKey>,
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
            "key_chain": self.key_chain.iter().map(|k| serde_json::json!({
                "key_id": k.key_id,
                "rotation_index": k.rotation_index,
                "rotation_record_id": k.rotation_record_id,
            })).collect::<Vec<_>>(),
            "problems": problems,
        })
    }
}

impl std::fmt::Display for VerifyReport {
    /// The human report both `evident verify` and `evident-verify` print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "contents:     {} records, {} checkpoints, {} observations, {} keys",
            self.records, self.checkpoints, self.observations, self.keys
        )?;
        match &self.trusted_key_id {
            Some(k) => writeln!(f, "trusted key:  {k}")?,
            None => writeln!(
                f,
                "trusted key:  none (signatures checked against keys stored in the ledger; pass --key)"
            )?,
        }
        if self.key_chain.len() > 1 {
            for k in &self.key_chain[1..] {
                writeln!(
                    f,
                    "key rotated:  to {} by record #{} ({})",
                    k.key_id,
                    k.rotation_index.unwrap_or_default(),
                    k.rotation_record_id.as_deref().unwrap_or("")
                )?;
            }
        }
        match &self.latest_verified {
            Some(c) => writeln!(
                f,
                "latest verified checkpoint: size {}, root {}, time {}, key {}",
                c.tree_size,
                c.root_hex(),
                format_time(c.time),
                c.key_id
            )?,
            None => writeln!(f, "latest verified checkpoint: none")?,
        }
        if self.is_ok() && self.trusted_key_id.is_none() {
            writeln!(
                f,
                "result:       OK, UNPINNED: consistent with the keys stored in the ledger only, which \
                 whoever wrote it could have replaced; compare the key id above with the agent's key id \
                 obtained out of band, or pass --key"
            )
        } else if self.is_ok() {
            writeln!(f, "result:       OK, signed by the trusted key")
        } else {
            writeln!(f, "result:       {} problem(s)", self.problems.len())?;
            for p in &self.problems {
                writeln!(f, "  [{}] {p}", p.code())?;
            }
            Ok(())
        }
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
    let mut next_index = 0u64;
    let mut rotations: Vec<(u64, KeyRotationRecord)> = Vec::new();
    ledger.for_each_stored_leaf(|leaf| {
        if leaf.index != next_index {
            problems.push(Problem::IndexGap {
                from: next_index.min(leaf.index),
                to: leaf.index.max(next_index),
            });
        }
        next_index = leaf.index.saturating_add(1);
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
        let version = record.schema_version();
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
        if let Record::KeyRotation(k) = &record {
            rotations.push((index, k.clone()));
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

    // Checkpoints: parse them all, decide which key verifies each (following
    // rotation records), then check sizes and roots.
    let rows = ledger.stored_checkpoints()?;
    let mut parsed: Vec<Checkpoint> = Vec::new();
    let mut next_seq = 1i64;
    for row in &rows {
        if row.seq != next_seq {
            problems.push(Problem::CheckpointGap {
                from: next_seq.min(row.seq),
                to: row.seq.max(next_seq),
            });
        }
        next_seq = row.seq.saturating_add(1);
        match Checkpoint::parse(&row.body, row.signature.clone()) {
            Ok(cp) => {
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
                parsed.push(cp);
            }
            Err(e) => problems.push(Problem::MalformedCheckpoint {
                seq: row.seq,
                tree_size: row.tree_size,
                error: e.to_string(),
            }),
        }
    }
    let root_matches = |cp: &Checkpoint| {
        cp.tree_size <= leaves && tree.root(cp.tree_size).is_ok_and(|r| r == cp.root_hash)
    };
    let pinned = match (&trusted_key_id, trusted_key_pem) {
        (Some(k), Some(p)) => Some((k.as_str(), p)),
        _ => None,
    };
    let resolution = resolve(pinned, &keys, &rotations, &parsed, |i| {
        root_matches(&parsed[i])
    });
    for bad in &resolution.bad_rotations {
        problems.push(Problem::InvalidRotation {
            index: bad.index,
            record_id: bad.record_id.clone(),
            reason: bad.reason.clone(),
        });
    }

    let mut good_sizes: Vec<u64> = Vec::new();
    let mut latest_verified = None;
    let mut previous: Option<u64> = None;
    let mut max_size = 0u64;
    for (cp, verdict) in parsed.into_iter().zip(resolution.verdicts) {
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

        let key_id = cp.key_id.clone();
        let pem = match verdict {
            KeyVerdict::Ok(pem) => Some(pem),
            KeyVerdict::BadSignature => {
                problems.push(Problem::BadSignature {
                    tree_size: size,
                    key_id,
                });
                None
            }
            KeyVerdict::UnknownKey => {
                problems.push(Problem::UnknownKey {
                    tree_size: size,
                    key_id,
                });
                None
            }
            KeyVerdict::Untrusted { expected } => {
                problems.push(Problem::UntrustedKey {
                    tree_size: size,
                    key_id,
                    trusted_key_id: expected,
                });
                None
            }
            KeyVerdict::Retired { current } => {
                problems.push(Problem::RetiredKey {
                    tree_size: size,
                    key_id,
                    current_key_id: current,
                });
                None
            }
            KeyVerdict::NotRotatedTo { current } => {
                problems.push(Problem::KeyChangedWithoutRotation {
                    tree_size: size,
                    key_id,
                    current_key_id: current,
                });
                None
            }
        };

        let root_ok = if size > leaves {
            problems.push(Problem::CheckpointBeyondLedger {
                tree_size: size,
                leaves,
            });
            false
        } else {
            let ok = root_matches(&cp);
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
        if pem.is_some() && root_ok {
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
    // RFC 3161 tokens: each over the body of its checkpoint.
    for (seq, token) in ledger.timestamps()? {
        let reason = match rows.iter().find(|r| r.seq == seq) {
            None => Some("no checkpoint has this sequence number".to_string()),
            Some(row) => crate::timestamp::check_token(&token, &row.body)
                .err()
                .map(|e| e.to_string()),
        };
        if let Some(reason) = reason {
            problems.push(Problem::TimestampMismatch { seq, reason });
        }
    }

    Ok(VerifyReport {
        records: leaves,
        checkpoints: rows.len() as u64,
        observations: observations.len() as u64,
        keys: stored_keys.len() as u64,
        trusted_key_id,
        latest_verified,
        key_chain: resolution.chain,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::{MemorySigner, Signer};
    use crate::test_support::{finding, observation, soa, t0};
    use proptest::prelude::*;
    use rusqlite::Connection;
    use std::path::PathBuf;

    /// Open the file behind the ledger's back, lift the guards, run `sql`.
    fn tamper(path: &Path, sql: &str) {
        let c = Connection::open(path).expect("raw open");
        c.execute_batch(
            "DROP TRIGGER IF EXISTS leaves_no_update; DROP TRIGGER IF EXISTS leaves_no_delete;
             DROP TRIGGER IF EXISTS observations_no_update; DROP TRIGGER IF EXISTS observations_no_delete;
             DROP TRIGGER IF EXISTS checkpoints_no_update; DROP TRIGGER IF EXISTS checkpoints_no_delete;
             DROP TRIGGER IF EXISTS keys_no_update; DROP TRIGGER IF EXISTS keys_no_delete;
             DROP INDEX IF EXISTS leaves_record_id;",
        )
        .expect("drop guards");
        c.execute_batch(sql).expect("tamper sql");
    }

    /// A ledger with two runs: [f0, s1, f2] then [s3, f4].
    fn two_runs(signer: &MemorySigner) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ledger.db");
        let mut l = Ledger::open(&path).expect("open");
        let (d1, o1) = observation(1);
        let (d2, o2) = observation(2);
        l.append_run(
            &[(d1.clone(), o1)],
            &[finding("f0", &d1), soa("s1"), finding("f2", &d1)],
            signer,
            "agent-1",
            t0(),
        )
        .expect("run 1");
        l.append_run(
            &[(d2.clone(), o2)],
            &[soa("s3"), finding("f4", &d2)],
            signer,
            "agent-1",
            t0(),
        )
        .expect("run 2");
        (dir, path)
    }

    fn verify(path: &Path, key: Option<&str>) -> VerifyReport {
        verify_ledger_path(path, key).expect("verify runs")
    }

    #[test]
    fn clean_ledger_verifies() {
        let signer = MemorySigner::generate().expect("key");
        let (_d, path) = two_runs(&signer);
        let r = verify(&path, Some(signer.public_key_pem()));
        assert!(r.is_ok(), "{:?}", r.problems);
        assert_eq!(
            (r.records, r.checkpoints, r.observations, r.keys),
            (5, 2, 2, 1)
        );
        assert_eq!(r.latest_verified.as_ref().map(|c| c.tree_size), Some(5));
        assert_eq!(r.trusted_key_id.as_deref(), Some(signer.key_id()));
        assert!(verify(&path, None).is_ok());
        assert_eq!(r.to_json()["ok"], true);
    }

    /// `two_runs` signed by `old`, a rotation to `new` (record #5, under
    /// the old key's checkpoint at size 6), then a run signed by `new`.
    fn rotated(old: &MemorySigner, new: &MemorySigner) -> (tempfile::TempDir, PathBuf) {
        let (d, path) = two_runs(old);
        let mut l = Ledger::open(&path).expect("open");
        l.rotate_key(old, new.public_key_pem(), "agent-1", "evident test", t0())
            .expect("rotate");
        l.append_run(&[], &[soa("s6")], new, "agent-1", t0())
            .expect("run 4");
        (d, path)
    }

    #[test]
    fn key_rotation_verifies_and_trusted_key_is_enforced() {
        let old = MemorySigner::generate().expect("key");
        let new = MemorySigner::generate().expect("key");
        let (_d, path) = rotated(&old, &new);
        let r = verify(&path, None);
        assert!(r.is_ok(), "{:?}", r.problems);
        assert_eq!(r.keys, 2);
        // Pinning the old key trusts the new one through the rotation record.
        let r = verify(&path, Some(old.public_key_pem()));
        assert!(r.is_ok(), "{:?}", r.problems);
        assert_eq!(r.latest_verified.as_ref().map(|c| c.tree_size), Some(7));
        assert_eq!(
            r.latest_verified.as_ref().map(|c| c.key_id.as_str()),
            Some(new.key_id())
        );
        let chain: Vec<&str> = r.key_chain.iter().map(|k| k.key_id.as_str()).collect();
        assert_eq!(chain, vec![old.key_id(), new.key_id()]);
        assert_eq!(r.key_chain[1].rotation_index, Some(5));
        assert!(r.to_string().contains("key rotated:"), "{r}");
        // Pinning the new key does not vouch for what the old key signed.
        let r = verify(&path, Some(new.public_key_pem()));
        assert_eq!(r.problems.len(), 3, "{:?}", r.problems);
        assert!(r
            .problems
            .iter()
            .all(|p| matches!(p, Problem::UntrustedKey { .. })));
        let stranger = MemorySigner::generate().expect("key");
        let r = verify(&path, Some(stranger.public_key_pem()));
        assert_eq!(r.problems.len(), 4);
        assert!(r.latest_verified.is_none());
        assert!(verify_ledger_path(&path, Some("garbage")).is_err());
    }

    /// Sign a checkpoint over the current records with `signer` and store it
    /// behind the ledger's back.
    fn forge_checkpoint(path: &Path, signer: &MemorySigner) {
        let l = Ledger::open_read_only(path).expect("open");
        let tree = l.tree().expect("tree");
        let cp = Checkpoint::sign("agent-1", tree.len(), tree.current_root(), t0(), signer)
            .expect("sign");
        drop(l);
        tamper(
            path,
            &format!(
                "INSERT OR IGNORE INTO keys VALUES ('{}', '{}', '2025-01-01T00:00:00Z');
                 INSERT INTO checkpoints (tree_size, body, signature) VALUES ({}, x'{}', x'{}');",
                signer.key_id(),
                signer.public_key_pem(),
                cp.tree_size,
                hex::encode(&cp.body),
                hex::encode(&cp.signature)
            ),
        );
    }

    #[test]
    fn key_change_without_rotation_is_reported() {
        let a = MemorySigner::generate().expect("key");
        let b = MemorySigner::generate().expect("key");
        let (_d, path) = two_runs(&a);
        forge_checkpoint(&path, &b);
        let r = verify(&path, None);
        assert_eq!(
            r.problems,
            vec![Problem::KeyChangedWithoutRotation {
                tree_size: 5,
                key_id: b.key_id().into(),
                current_key_id: a.key_id().into(),
            }]
        );
        assert_eq!(
            r.latest_verified.as_ref().map(|c| c.key_id.as_str()),
            Some(a.key_id())
        );
    }

    #[test]
    fn checkpoint_by_a_retired_key_is_reported() {
        let old = MemorySigner::generate().expect("key");
        let new = MemorySigner::generate().expect("key");
        let (_d, path) = rotated(&old, &new);
        forge_checkpoint(&path, &old);
        for key in [None, Some(old.public_key_pem())] {
            let r = verify(&path, key);
            assert_eq!(
                r.problems,
                vec![Problem::RetiredKey {
                    tree_size: 7,
                    key_id: old.key_id().into(),
                    current_key_id: new.key_id().into(),
                }]
            );
        }
    }

    #[test]
    fn rotation_under_a_checkpoint_of_another_key_is_refused() {
        let a = MemorySigner::generate().expect("key");
        let b = MemorySigner::generate().expect("key");
        let c = MemorySigner::generate().expect("key");
        let (_d, path) = rotated(&a, &b);
        // A forged rotation B -> C appended after the fact and covered by a
        // checkpoint signed by A (retired) does not hand over to C.
        let (_, rot) = Ledger::open_read_only(&path)
            .expect("open")
            .key_rotations()
            .expect("rotations")
            .remove(0);
        let forged = Record::KeyRotation(crate::record::KeyRotationRecord {
            record_id: "forged-rotation".into(),
            previous_key_id: a.key_id().into(),
            new_key_id: c.key_id().into(),
            new_public_key_pem: c.public_key_pem().into(),
            ..rot
        });
        let bytes = forged.to_canonical();
        tamper(
            &path,
            &format!(
                "INSERT INTO leaves VALUES (7, 'forged-rotation', 'key_rotation', '2025-01-02T03:04:05Z', x'{}', x'{}');",
                hex::encode(leaf_hash(&bytes)),
                hex::encode(&bytes)
            ),
        );
        forge_checkpoint(&path, &a);
        forge_checkpoint(&path, &c);
        let r = verify(&path, Some(a.public_key_pem()));
        let codes: Vec<&str> = r.problems.iter().map(|p| p.code()).collect();
        assert_eq!(
            codes,
            vec!["retired_key", "untrusted_key"],
            "{:?}",
            r.problems
        );
        assert_eq!(r.key_chain.len(), 2);
    }

    #[test]
    fn regression_deleted_middle_record_is_one_gap() {
        let signer = MemorySigner::generate().expect("key");
        let (_d, path) = two_runs(&signer);
        tamper(&path, "DELETE FROM leaves WHERE idx = 1;");
        let r = verify(&path, None);
        let gaps: Vec<&Problem> = r
            .problems
            .iter()
            .filter(|p| p.code() == "index_gap")
            .collect();
        assert_eq!(gaps, vec![&Problem::IndexGap { from: 1, to: 2 }]);
        assert!(
            gaps[0].to_string().starts_with("record #1 is missing"),
            "{}",
            gaps[0]
        );

        let (_d, path) = two_runs(&signer);
        tamper(&path, "DELETE FROM leaves WHERE idx IN (0, 2, 3);");
        let r = verify(&path, None);
        let gaps: Vec<&Problem> = r
            .problems
            .iter()
            .filter(|p| p.code() == "index_gap")
            .collect();
        assert_eq!(
            gaps,
            vec![
                &Problem::IndexGap { from: 0, to: 1 },
                &Problem::IndexGap { from: 2, to: 4 }
            ]
        );
        assert!(
            gaps[1]
                .to_string()
                .starts_with("records #2..#3 are missing"),
            "{}",
            gaps[1]
        );
    }

    #[test]
    fn regression_deleted_checkpoint_is_a_seq_gap() {
        let signer = MemorySigner::generate().expect("key");
        let (_d, path) = two_runs(&signer);
        Ledger::open(&path)
            .expect("open")
            .append_run(&[], &[soa("s5")], &signer, "agent-1", t0())
            .expect("run 3");
        tamper(&path, "DELETE FROM checkpoints WHERE seq = 2;");
        let r = verify(&path, Some(signer.public_key_pem()));
        assert_eq!(r.problems, vec![Problem::CheckpointGap { from: 2, to: 3 }]);
        assert!(r.problems[0]
            .to_string()
            .contains("checkpoint #2 is missing"));
    }

    #[test]
    fn changed_record_is_named() {
        let signer = MemorySigner::generate().expect("key");
        let (_d, path) = two_runs(&signer);
        tamper(&path, "UPDATE leaves SET record = CAST(replace(CAST(record AS TEXT), '\"pass\"', '\"fail\"') AS BLOB) WHERE idx = 2;");
        let r = verify(&path, None);
        assert!(
            r.problems.contains(&Problem::LeafHashMismatch {
                index: 2,
                record_id: "f2".into()
            }),
            "{:?}",
            r.problems
        );
        assert!(r.problems.contains(&Problem::RootMismatch {
            tree_size: 3,
            from: 0,
            to: 3
        }));
        assert!(r.problems.contains(&Problem::RootMismatch {
            tree_size: 5,
            from: 0,
            to: 5
        }));
        let msg = r.problems[0].to_string();
        assert!(msg.contains("#2") && msg.contains("f2"), "{msg}");
        assert!(r.latest_verified.is_none());
    }

    #[test]
    fn rewritten_record_and_hash_names_the_range() {
        let signer = MemorySigner::generate().expect("key");
        let (_d, path) = two_runs(&signer);
        // Replace record 4 consistently (bytes and cached hash): only the root shows it.
        let forged = finding("f4", &observation(1).0).to_canonical();
        let h = hex::encode(leaf_hash(&forged));
        tamper(
            &path,
            &format!(
                "UPDATE leaves SET record = x'{}', leaf_hash = x'{h}' WHERE idx = 4;",
                hex::encode(&forged)
            ),
        );
        let r = verify(&path, None);
        assert_eq!(
            r.problems,
            vec![Problem::RootMismatch {
                tree_size: 5,
                from: 3,
                to: 5
            }]
        );
        assert!(
            r.problems[0].to_string().contains("#3..#4"),
            "{}",
            r.problems[0]
        );
        assert_eq!(r.latest_verified.as_ref().map(|c| c.tree_size), Some(3));
    }

    #[test]
    fn unparseable_non_canonical_and_column_lies_are_named() {
        let signer = MemorySigner::generate().expect("key");
        let (_d, path) = two_runs(&signer);
        tamper(
            &path,
            "UPDATE leaves SET record = CAST('{\"oops\":1}' AS BLOB) WHERE idx = 1;
             UPDATE leaves SET record = CAST(CAST(record AS TEXT) || ' ' AS BLOB) WHERE idx = 3;
             UPDATE leaves SET record_id = 'other' WHERE idx = 0;",
        );
        let r = verify(&path, None);
        let codes: Vec<&str> = r.problems.iter().map(|p| p.code()).collect();
        assert!(codes.contains(&"unparseable_record"), "{codes:?}");
        assert!(codes.contains(&"non_canonical_record"), "{codes:?}");
        assert!(codes.contains(&"column_mismatch"), "{codes:?}");
        assert!(r.problems.iter().any(|p| p
            .to_string()
            .starts_with("record #1 (s1): not a valid v1 record")));
    }

    #[test]
    fn observations_changed_or_missing() {
        let signer = MemorySigner::generate().expect("key");
        let (_d, path) = two_runs(&signer);
        let (d1, _) = observation(1);
        let (d2, _) = observation(2);
        tamper(
            &path,
            &format!(
                "UPDATE observations SET observation = x'00' WHERE digest = '{d1}';
                 DELETE FROM observations WHERE digest = '{d2}';"
            ),
        );
        let r = verify(&path, None);
        assert!(r.problems.iter().any(
            |p| matches!(p, Problem::ObservationDigestMismatch { digest, .. } if *digest == d1)
        ));
        assert!(r.problems.contains(&Problem::MissingObservation {
            index: 4,
            record_id: "f4".into(),
            digest: d2
        }));
        assert_eq!(r.observations, 1);
    }

    #[test]
    fn truncation_forged_signature_and_unknown_key() {
        let signer = MemorySigner::generate().expect("key");
        let (_d, path) = two_runs(&signer);
        tamper(&path, "DELETE FROM leaves WHERE idx >= 2;");
        let r = verify(&path, None);
        assert_eq!(
            r.problems,
            vec![
                Problem::CheckpointBeyondLedger {
                    tree_size: 3,
                    leaves: 2
                },
                Problem::CheckpointBeyondLedger {
                    tree_size: 5,
                    leaves: 2
                }
            ]
        );

        let (_d, path) = two_runs(&signer);
        tamper(
            &path,
            "UPDATE checkpoints SET signature = x'3006020101020101' WHERE seq = 2;",
        );
        let r = verify(&path, None);
        assert_eq!(
            r.problems,
            vec![Problem::BadSignature {
                tree_size: 5,
                key_id: signer.key_id().into()
            }]
        );
        assert_eq!(r.latest_verified.as_ref().map(|c| c.tree_size), Some(3));

        let (_d, path) = two_runs(&signer);
        tamper(&path, "DELETE FROM keys;");
        let r = verify(&path, None);
        assert_eq!(r.problems.len(), 2);
        assert!(matches!(
            r.problems[0],
            Problem::UnknownKey { tree_size: 3, .. }
        ));
        // A trusted key still verifies them.
        assert!(verify(&path, Some(signer.public_key_pem())).is_ok());

        let (_d, path) = two_runs(&signer);
        tamper(
            &path,
            "UPDATE checkpoints SET body = CAST('evident-checkpoint/v1\n' AS BLOB) WHERE seq = 1;",
        );
        let r = verify(&path, None);
        assert!(
            matches!(r.problems[0], Problem::MalformedCheckpoint { seq: 1, .. }),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn leaves_without_checkpoint_are_reported() {
        let signer = MemorySigner::generate().expect("key");
        let (_d, path) = two_runs(&signer);
        let extra = soa("s9").to_canonical();
        tamper(
            &path,
            &format!(
                "INSERT INTO leaves VALUES (5, 's9', 'soa_decision', '2025-01-02T03:04:05Z', x'{}', x'{}');",
                hex::encode(leaf_hash(&extra)),
                hex::encode(&extra)
            ),
        );
        let r = verify(&path, None);
        assert_eq!(
            r.problems,
            vec![Problem::UncheckpointedLeaves { from: 5, to: 6 }]
        );
    }

    // ---- property tests -------------------------------------------------

    /// One record to append: finding citing observation `obs`, or SoA decision.
    #[derive(Debug, Clone)]
    enum Gen {
        Finding { obs: u8 },
        Soa,
    }

    fn runs_strategy() -> impl Strategy<Value = Vec<Vec<Gen>>> {
        let rec = prop_oneof![
            (0u8..4).prop_map(|obs| Gen::Finding { obs }),
            Just(Gen::Soa)
        ];
        prop::collection::vec(prop::collection::vec(rec, 0..5), 1..5)
            .prop_filter("at least one record", |runs| {
                runs.iter().any(|r| !r.is_empty())
            })
    }

    /// Build a ledger from the runs; returns its path and number of leaves.
    fn build(dir: &Path, runs: &[Vec<Gen>], signer: &MemorySigner) -> (PathBuf, u64) {
        let path = dir.join("ledger.db");
        let mut l = Ledger::open(&path).expect("open");
        let mut n = 0u64;
        for (run_no, run) in runs.iter().enumerate() {
            let mut obs = Vec::new();
            let mut recs = Vec::new();
            for g in run {
                let id = format!("rec-{n}");
                n += 1;
                recs.push(match g {
                    Gen::Finding { obs: o } => {
                        let (d, b) = observation(u64::from(*o));
                        obs.push((d.clone(), b));
                        finding(&id, &d)
                    }
                    Gen::Soa => soa(&id),
                });
            }
            let now = t0() + chrono::Duration::seconds(run_no as i64);
            l.append_run(&obs, &recs, signer, "agent-1", now)
                .expect("append");
        }
        (path, n)
    }

    #[derive(Debug, Clone)]
    enum Tamper {
        FlipByte {
            leaf: usize,
            pos: usize,
            bit: u8,
            fix_hash: bool,
        },
        Drop {
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
        Truncate {
            keep: usize,
        },
    }

    fn tamper_strategy() -> impl Strategy<Value = Tamper> {
        prop_oneof![
            (any::<usize>(), any::<usize>(), 0u8..8, any::<bool>()).prop_map(
                |(leaf, pos, bit, fix_hash)| Tamper::FlipByte {
                    leaf,
                    pos,
                    bit,
                    fix_hash
                }
            ),
            (any::<usize>(), any::<bool>())
                .prop_map(|(leaf, renumber)| Tamper::Drop { leaf, renumber }),
            (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Tamper::Swap { a, b }),
            (any::<usize>(), prop::option::of(any::<usize>()))
                .prop_map(|(leaf, over)| Tamper::Duplicate { leaf, over }),
            any::<usize>().prop_map(|keep| Tamper::Truncate { keep }),
        ]
    }

    fn row(c: &Connection, idx: u64) -> (String, String, String, Vec<u8>, Vec<u8>) {
        c.query_row(
            "SELECT record_id, record_type, recorded_at, leaf_hash, record FROM leaves WHERE idx = ?1",
            [idx as i64],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .expect("row")
    }

    fn put(c: &Connection, idx: u64, row: &(String, String, String, Vec<u8>, Vec<u8>)) {
        c.execute(
            "INSERT OR REPLACE INTO leaves (idx, record_id, record_type, recorded_at, leaf_hash, record)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![idx as i64, row.0, row.1, row.2, row.3, row.4],
        )
        .expect("put");
    }

    /// Apply a tampering; returns false if it is a no-op for this ledger.
    fn apply(path: &Path, n: u64, t: &Tamper) -> bool {
        tamper(path, "");
        let c = Connection::open(path).expect("raw");
        match *t {
            Tamper::FlipByte {
                leaf,
                pos,
                bit,
                fix_hash,
            } => {
                let i = leaf as u64 % n;
                let mut r = row(&c, i);
                let p = pos % r.4.len();
                r.4[p] ^= 1 << bit;
                if fix_hash {
                    r.3 = leaf_hash(&r.4).to_vec();
                }
                put(&c, i, &r);
            }
            Tamper::Drop { leaf, renumber } => {
                let i = (leaf as u64 % n) as i64;
                c.execute("DELETE FROM leaves WHERE idx = ?1", [i])
                    .expect("delete");
                if renumber {
                    c.execute("UPDATE leaves SET idx = -idx WHERE idx > ?1", [i])
                        .expect("renumber");
                    c.execute("UPDATE leaves SET idx = -idx - 1 WHERE idx < 0", [])
                        .expect("renumber");
                }
            }
            Tamper::Swap { a, b } => {
                let (a, b) = (a as u64 % n, b as u64 % n);
                if a == b {
                    return false;
                }
                let (ra, rb) = (row(&c, a), row(&c, b));
                put(&c, a, &rb);
                put(&c, b, &ra);
            }
            Tamper::Duplicate { leaf, over } => {
                let i = leaf as u64 % n;
                let r = row(&c, i);
                match over {
                    None => put(&c, n, &r),
                    Some(o) => {
                        let o = o as u64 % n;
                        if o == i {
                            return false;
                        }
                        put(&c, o, &r);
                    }
                }
            }
            Tamper::Truncate { keep } => {
                let k = keep as u64 % n;
                c.execute("DELETE FROM leaves WHERE idx >= ?1", [k as i64])
                    .expect("truncate");
            }
        }
        true
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        #[test]
        fn any_sequence_of_appends_verifies(runs in runs_strategy()) {
            let dir = tempfile::tempdir().expect("tempdir");
            let signer = MemorySigner::generate().expect("key");
            let (path, n) = build(dir.path(), &runs, &signer);
            let r = verify(&path, Some(signer.public_key_pem()));
            prop_assert!(r.is_ok(), "{:?}", r.problems);
            prop_assert_eq!(r.records, n);
            prop_assert_eq!(r.checkpoints, runs.len() as u64);
            prop_assert_eq!(r.latest_verified.map(|c| c.tree_size), Some(n));

            // Consecutive checkpoints are consistent; every record is included.
            let l = Ledger::open_read_only(&path).expect("open");
            let cps = l.checkpoints().expect("cps");
            let tree = l.tree().expect("tree");
            for w in cps.windows(2) {
                let p = tree.consistency_proof(w[0].tree_size, w[1].tree_size).expect("proof");
                prop_assert!(crate::merkle::verify_consistency(
                    w[0].tree_size, w[1].tree_size, &w[0].root_hash, &w[1].root_hash, &p));
            }
            let last = &cps[cps.len() - 1];
            for (i, bytes) in l.records_raw().expect("raw") {
                let p = tree.inclusion_proof(i, n).expect("proof");
                prop_assert!(crate::merkle::verify_inclusion(i, n, &leaf_hash(&bytes), &p, &last.root_hash));
            }
        }

        #[test]
        fn any_tampering_is_detected(runs in runs_strategy(), t in tamper_strategy()) {
            let dir = tempfile::tempdir().expect("tempdir");
            let signer = MemorySigner::generate().expect("key");
            let (path, n) = build(dir.path(), &runs, &signer);
            if apply(&path, n, &t) {
                let r = verify(&path, Some(signer.public_key_pem()));
                prop_assert!(!r.is_ok(), "undetected: {:?}", t);
                // An appended duplicate leaves the last checkpoint valid for its prefix.
                if !matches!(t, Tamper::Duplicate { over: None, .. }) {
                    prop_assert!(r.latest_verified.map_or(0, |c| c.tree_size) < n);
                }
            }
        }
    }
}
