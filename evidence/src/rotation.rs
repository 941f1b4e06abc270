//! Signing-key rotation: which key may sign which checkpoint.
//!
//! A ledger starts with one key (the first checkpoint's, or the key the
//! verifier pins). A [`KeyRotationRecord`] hands over from the key that is
//! current to a new one; it takes effect when the first checkpoint that
//! covers it verifies, and that checkpoint must be signed by the key it
//! retires: the old key's signature over the tree root that includes the
//! record is the rotation's signature. From then on checkpoints are signed by
//! the new key; a checkpoint signed by a retired key is a problem. Old keys
//! stay verifiable: checkpoints signed before the rotation are checked with
//! the key that was current then.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::checkpoint::Checkpoint;
use crate::record::KeyRotationRecord;
use crate::signing::{canonical_public_key_pem, key_id_of_pem, verify_signature};

/// One key of the chain, in the order they were current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainKey {
    /// Key id.
    pub key_id: String,
    /// The public key, PEM.
    pub public_key_pem: String,
    /// Leaf index of the rotation record that introduced it (`None` for the
    /// first key).
    pub rotation_index: Option<u64>,
    /// Record id of that rotation record.
    pub rotation_record_id: Option<String>,
}

/// Why a checkpoint's key was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyVerdict {
    /// Signed by the key current at that point; the signature verifies.
    Ok(String),
    /// The signature does not verify with the current key.
    BadSignature,
    /// Unpinned, first key: the ledger's key table does not hold it.
    UnknownKey,
    /// Pinned: neither the trusted key nor a key it rotated to.
    Untrusted {
        /// The key expected at that point.
        expected: String,
    },
    /// A key that was rotated away from earlier.
    Retired {
        /// The key current at that point.
        current: String,
    },
    /// Unpinned: a different key without a rotation record handing over to it.
    NotRotatedTo {
        /// The key current at that point.
        current: String,
    },
}

/// A rotation record that cannot take effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRotation {
    /// Leaf index.
    pub index: u64,
    /// Record id.
    pub record_id: String,
    /// Why.
    pub reason: String,
}

/// The outcome of [`resolve`].
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    /// For each checkpoint given, in order.
    pub verdicts: Vec<KeyVerdict>,
    /// The keys, in the order they became current.
    pub chain: Vec<ChainKey>,
    /// Rotation records that could not take effect.
    pub bad_rotations: Vec<BadRotation>,
}

/// Check a rotation record's own content: the new key is a canonical P-256
/// PEM whose key id is `new_key_id`, and differs from the old one.
pub fn check_rotation_record(k: &KeyRotationRecord) -> Result<(), String> {
    let canonical = canonical_public_key_pem(&k.new_public_key_pem)
        .map_err(|e| format!("new public key: {e}"))?;
    if canonical != k.new_public_key_pem {
        return Err("new public key is not in canonical PEM form".into());
    }
    let kid = key_id_of_pem(&canonical).map_err(|e| format!("new public key: {e}"))?;
    if kid != k.new_key_id {
        return Err(format!(
            "new_key_id is {} but the new public key has id {kid}",
            k.new_key_id
        ));
    }
    if kid == k.previous_key_id {
        return Err("the new key is the old key".into());
    }
    Ok(())
}

/// Decide, for each checkpoint in signing order, which key verifies it.
///
/// `pinned` is the key the caller trusts (`(key id, PEM)`); without it the
/// first checkpoint's key is taken from `key_table`. `rotations` are the
/// ledger's rotation records with their leaf indexes, in leaf order.
/// `root_ok(i)` says whether checkpoint `i`'s root matches the records (a
/// rotation takes effect only under a checkpoint that fully verifies).
pub fn resolve(
    pinned: Option<(&str, &str)>,
    key_table: &HashMap<String, String>,
    rotations: &[(u64, KeyRotationRecord)],
    checkpoints: &[Checkpoint],
    root_ok: impl Fn(usize) -> bool,
) -> Resolution {
    let mut out = Resolution::default();
    let mut current: Option<(String, String)> = pinned.map(|(k, p)| (k.to_string(), p.to_string()));
    if let Some((k, p)) = &current {
        out.chain.push(ChainKey {
            key_id: k.clone(),
            public_key_pem: p.clone(),
            rotation_index: None,
            rotation_record_id: None,
        });
    }
    let mut retired: HashSet<String> = HashSet::new();
    let mut pending = 0usize;
    for (i, cp) in checkpoints.iter().enumerate() {
        let verdict = match &current {
            None => match key_table.get(&cp.key_id) {
                Some(pem) => {
                    current = Some((cp.key_id.clone(), pem.clone()));
                    out.chain.push(ChainKey {
                        key_id: cp.key_id.clone(),
                        public_key_pem: pem.clone(),
                        rotation_index: None,
                        rotation_record_id: None,
                    });
                    check_sig(cp, pem)
                }
                None => KeyVerdict::UnknownKey,
            },
            Some((kid, pem)) if *kid == cp.key_id => check_sig(cp, pem),
            Some((kid, _)) if retired.contains(&cp.key_id) => KeyVerdict::Retired {
                current: kid.clone(),
            },
            Some((kid, _)) if pinned.is_some() => KeyVerdict::Untrusted {
                expected: kid.clone(),
            },
            Some((kid, _)) => KeyVerdict::NotRotatedTo {
                current: kid.clone(),
            },
        };
        if matches!(verdict, KeyVerdict::Ok(_)) && root_ok(i) {
            // Apply the rotations this checkpoint covers for the first time.
            while pending < rotations.len() && rotations[pending].0 < cp.tree_size {
                let (index, rec) = &rotations[pending];
                pending += 1;
                let bad = |reason: String| BadRotation {
                    index: *index,
                    record_id: rec.record_id.clone(),
                    reason,
                };
                let Some((kid, _)) = &current else { break };
                if rec.new_key_id == cp.key_id && rec.previous_key_id != cp.key_id {
                    // Already past it: the verifier pinned the new key, which
                    // vouches for what it signed, not for the old key.
                    continue;
                }
                if rec.previous_key_id != cp.key_id || *kid != cp.key_id {
                    out.bad_rotations.push(bad(format!(
                        "it retires key {} but the checkpoint covering it is signed by {}",
                        rec.previous_key_id, cp.key_id
                    )));
                    continue;
                }
                if let Err(reason) = check_rotation_record(rec) {
                    out.bad_rotations.push(bad(reason));
                    continue;
                }
                retired.insert(kid.clone());
                current = Some((rec.new_key_id.clone(), rec.new_public_key_pem.clone()));
                out.chain.push(ChainKey {
                    key_id: rec.new_key_id.clone(),
                    public_key_pem: rec.new_public_key_pem.clone(),
                    rotation_index: Some(*index),
                    rotation_record_id: Some(rec.record_id.clone()),
                });
            }
        }
        out.verdicts.push(verdict);
    }
    out
}

fn check_sig(cp: &Checkpoint, pem: &str) -> KeyVerdict {
    match verify_signature(pem, &cp.body, &cp.signature) {
        Ok(()) => KeyVerdict::Ok(pem.to_string()),
        Err(_) => KeyVerdict::BadSignature,
    }
}
