//! Record proofs: one record, its RFC 9162 inclusion proof and the signed
//! checkpoint it is proven against, in one JSON file an auditor can verify
//! alone (format `evident-record-proof/v1`, see `docs/evidence-format.md`).
//!
//! The file is the canonical JSON (sorted keys, no insignificant whitespace)
//! of one object followed by one LF. [`RecordProof::from_json_bytes`] accepts
//! only that exact byte sequence, so any change to the file, even one that
//! leaves its meaning intact (re-indenting, upper-case hex, another escape),
//! is refused.

use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::ledger::{Ledger, LedgerError};
use crate::merkle::{leaf_hash, verify_inclusion, Hash};
use crate::record::{Record, SCHEMA_VERSION};
use crate::signing::{canonical_public_key_pem, key_id_of_pem, SignatureError};

/// Value of the `format` member of a record proof file.
pub const RECORD_PROOF_FORMAT: &str = "evident-record-proof/v1";

/// A record with everything needed to verify it offline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordProof {
    /// The record id (must equal the `record_id` inside `record`).
    pub record_id: String,
    /// The record's canonical JSON, exactly the bytes hashed into the leaf.
    pub record: String,
    /// 0-based leaf index of the record.
    pub leaf_index: u64,
    /// RFC 9162 inclusion proof (audit path), from the leaf upwards.
    pub inclusion_proof: Vec<Hash>,
    /// The signed checkpoint body (`evident-checkpoint/v1`).
    pub checkpoint: String,
    /// DER ECDSA P-256/SHA-256 signature over `checkpoint`.
    pub checkpoint_signature: Vec<u8>,
    /// The signer's public key, canonical PEM.
    pub public_key_pem: String,
    /// When the checkpoint is signed by a key the agent rotated to: the
    /// proof of each rotation record (in order) against a checkpoint signed
    /// by the key it retires, so that a verifier pinning the first key can
    /// follow the chain. Empty otherwise (and in the nested proofs).
    pub key_rotations: Vec<RecordProof>,
}

/// Why a record proof did not verify (or could not be read).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProofCheckError {
    /// The file is not JSON of the expected shape.
    #[error("not a record proof file: {0}")]
    Json(String),
    /// The `format` member is not `evident-record-proof/v1`.
    #[error("format is {0:?}, expected {RECORD_PROOF_FORMAT:?}")]
    WrongFormat(String),
    /// A member is not validly encoded (hex, base64).
    #[error("member {member}: {reason}")]
    BadEncoding {
        /// The member.
        member: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The bytes are not the canonical serialisation of their content.
    #[error("the file is not in canonical form (sorted keys, no whitespace, lowercase hex, one final LF): it was edited or re-encoded")]
    NotCanonical,
    /// The public key is not a P-256 public key, or not in canonical PEM.
    #[error("public_key_pem: {0}")]
    PublicKey(String),
    /// The trusted key given by the caller is not a valid public key.
    #[error("the trusted key is not a PEM ECDSA P-256 public key")]
    InvalidTrustedKey,
    /// The checkpoint body does not parse.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The checkpoint names a key other than the file's public key.
    #[error("the checkpoint is signed by key {checkpoint_key_id} but the file's public key has id {file_key_id}")]
    KeyIdMismatch {
        /// Key id in the checkpoint body.
        checkpoint_key_id: String,
        /// Key id of `public_key_pem`.
        file_key_id: String,
    },
    /// The checkpoint is signed by a key other than the trusted one.
    #[error("the checkpoint is signed by key {key_id}, not by the trusted key {trusted_key_id}")]
    UntrustedKey {
        /// Key id in the checkpoint.
        key_id: String,
        /// The trusted key's id.
        trusted_key_id: String,
    },
    /// The checkpoint signature does not verify.
    #[error("the checkpoint signature does not verify: {0}")]
    BadSignature(SignatureError),
    /// The leaf index is outside the checkpoint's tree.
    #[error("leaf index {index} is outside the checkpoint's tree of {tree_size} records")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The checkpoint's size.
        tree_size: u64,
    },
    /// The record's leaf hash is not included at that index under the root.
    #[error("record #{index} is not included in the checkpoint's tree of {tree_size} records with root {root}: the record, its index or the proof was changed")]
    NotIncluded {
        /// The leaf index.
        index: u64,
        /// The checkpoint's size.
        tree_size: u64,
        /// The checkpoint's root (hex).
        root: String,
    },
    /// The record is not a valid v1 record.
    #[error("the record is not a valid v1 record: {0}")]
    InvalidRecord(String),
    /// The record is valid but its bytes are not its canonical encoding.
    #[error("the record is not in canonical JSON")]
    NonCanonicalRecord,
    /// A key rotation proof in `key_rotations` does not link the chain.
    #[error("key_rotations: {0}")]
    InvalidRotation(String),
    /// The `record_id` member differs from the id inside the record.
    #[error("record_id is {member:?} but the record's id is {record:?}")]
    RecordIdMismatch {
        /// The `record_id` member.
        member: String,
        /// The id inside the record.
        record: String,
    },
}

/// What a verified record proof establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRecord {
    /// The record.
    pub record: Record,
    /// Its leaf index.
    pub leaf_index: u64,
    /// The checkpoint it is included in (signature verified).
    pub checkpoint: Checkpoint,
    /// Whether the signature was checked with a key the caller trusts
    /// (`true`) or only with the key carried in the file (`false`, which
    /// proves integrity but not who signed).
    pub key_pinned: bool,
}

/// The JSON shape of the file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofFile {
    format: String,
    record_id: String,
    record: String,
    leaf_index: u64,
    inclusion_proof: Vec<String>,
    checkpoint: String,
    checkpoint_signature: String,
    public_key_pem: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    key_rotations: Vec<ProofFile>,
}

fn to_file(p: &RecordProof) -> ProofFile {
    ProofFile {
        format: RECORD_PROOF_FORMAT.to_string(),
        record_id: p.record_id.clone(),
        record: p.record.clone(),
        leaf_index: p.leaf_index,
        inclusion_proof: p.inclusion_proof.iter().map(hex::encode).collect(),
        checkpoint: p.checkpoint.clone(),
        checkpoint_signature: base64_encode(&p.checkpoint_signature),
        public_key_pem: p.public_key_pem.clone(),
        key_rotations: p.key_rotations.iter().map(to_file).collect(),
    }
}

fn from_file(file: ProofFile) -> Result<RecordProof, ProofCheckError> {
    if file.format != RECORD_PROOF_FORMAT {
        return Err(ProofCheckError::WrongFormat(file.format));
    }
    let inclusion_proof = file
        .inclusion_proof
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let mut out = [0u8; 32];
            hex::decode_to_slice(h, &mut out).map_err(|_| ProofCheckError::BadEncoding {
                member: "inclusion_proof",
                reason: format!("item {i} is not 64 hex digits"),
            })?;
            Ok(out)
        })
        .collect::<Result<Vec<Hash>, ProofCheckError>>()?;
    let checkpoint_signature =
        base64_decode(&file.checkpoint_signature).ok_or_else(|| ProofCheckError::BadEncoding {
            member: "checkpoint_signature",
            reason: "not canonical base64 (RFC 4648, standard alphabet, padded)".into(),
        })?;
    Ok(RecordProof {
        record_id: file.record_id,
        record: file.record,
        leaf_index: file.leaf_index,
        inclusion_proof,
        checkpoint: file.checkpoint,
        checkpoint_signature,
        public_key_pem: file.public_key_pem,
        key_rotations: file
            .key_rotations
            .into_iter()
            .map(from_file)
            .collect::<Result<_, _>>()?,
    })
}

impl RecordProof {
    /// The proof file: canonical JSON followed by one LF.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        let mut out = crate::canonical::to_canonical(&to_file(self));
        out.push(b'\n');
        out
    }

    /// Read a proof file. Accepts only the exact bytes
    /// [`RecordProof::to_json_bytes`] would write for its content; does not
    /// verify the proof (see [`verify_record_proof`]).
    pub fn from_json_bytes(bytes: &[u8]) -> Result<RecordProof, ProofCheckError> {
        let file: ProofFile =
            serde_json::from_slice(bytes).map_err(|e| ProofCheckError::Json(e.to_string()))?;
        let proof = from_file(file)?;
        if proof.to_json_bytes() != bytes {
            return Err(ProofCheckError::NotCanonical);
        }
        Ok(proof)
    }
}

/// Follow `proof.key_rotations` from the trusted key; the PEM of `key_id`
/// when the chain reaches it.
fn chain_key(
    proof: &RecordProof,
    trusted_pem: &str,
    trusted_key_id: &str,
    key_id: &str,
) -> Result<Option<String>, ProofCheckError> {
    let (mut cur_kid, mut cur_pem) = (trusted_key_id.to_string(), trusted_pem.to_string());
    for rot in &proof.key_rotations {
        if !rot.key_rotations.is_empty() {
            return Err(ProofCheckError::InvalidRotation(
                "a rotation proof carries rotations itself".into(),
            ));
        }
        let signed_by = Checkpoint::parse(rot.checkpoint.as_bytes(), Vec::new())?.key_id;
        if signed_by != cur_kid {
            // The chain does not start at (or continue from) this key.
            return Ok(None);
        }
        let v = verify_record_proof(rot, Some(&cur_pem))
            .map_err(|e| ProofCheckError::InvalidRotation(format!("{}: {e}", rot.record_id)))?;
        match v.record {
            Record::KeyRotation(k) if k.previous_key_id == cur_kid => {
                crate::rotation::check_rotation_record(&k).map_err(|e| {
                    ProofCheckError::InvalidRotation(format!("{}: {e}", k.record_id))
                })?;
                cur_kid = k.new_key_id;
                cur_pem = k.new_public_key_pem;
            }
            _ => {
                return Err(ProofCheckError::InvalidRotation(format!(
                    "{} is not a rotation from key {cur_kid}",
                    rot.record_id
                )))
            }
        }
        if cur_kid == key_id {
            return Ok(Some(cur_pem));
        }
    }
    Ok(None)
}

/// Verify a record proof: the public key (canonical PEM, key id = SHA-256 of
/// its DER SubjectPublicKeyInfo, equal to the key id in the checkpoint), the
/// checkpoint signature (with `trusted_key_pem` when given, which must then
/// be the signer), the inclusion of the record's leaf hash at its index under
/// the checkpoint root, and that the record is a canonical v1 record whose id
/// is `record_id`. The first failure is returned.
pub fn verify_record_proof(
    proof: &RecordProof,
    trusted_key_pem: Option<&str>,
) -> Result<VerifiedRecord, ProofCheckError> {
    let pem = canonical_public_key_pem(&proof.public_key_pem)
        .map_err(|e| ProofCheckError::PublicKey(e.to_string()))?;
    if pem != proof.public_key_pem {
        return Err(ProofCheckError::PublicKey(
            "not in canonical PEM form (64-character lines, LF endings, final LF)".into(),
        ));
    }
    let file_key_id = key_id_of_pem(&pem).map_err(|e| ProofCheckError::PublicKey(e.to_string()))?;

    let mut checkpoint = Checkpoint::parse(
        proof.checkpoint.as_bytes(),
        proof.checkpoint_signature.clone(),
    )?;
    if checkpoint.key_id != file_key_id {
        return Err(ProofCheckError::KeyIdMismatch {
            checkpoint_key_id: checkpoint.key_id,
            file_key_id,
        });
    }
    let (key_pinned, verify_with) = match trusted_key_pem {
        Some(trusted) => {
            let trusted_key_id =
                key_id_of_pem(trusted).map_err(|_| ProofCheckError::InvalidTrustedKey)?;
            if trusted_key_id == checkpoint.key_id {
                (true, trusted.to_string())
            } else {
                match chain_key(proof, trusted, &trusted_key_id, &checkpoint.key_id)? {
                    Some(k) => (true, k),
                    None => {
                        return Err(ProofCheckError::UntrustedKey {
                            key_id: checkpoint.key_id,
                            trusted_key_id,
                        })
                    }
                }
            }
        }
        None => (false, pem.clone()),
    };
    let verify_with = verify_with.as_str();
    checkpoint.verify_with(verify_with).map_err(|e| match e {
        CheckpointError::Signature(s) => ProofCheckError::BadSignature(s),
        other => ProofCheckError::Checkpoint(other),
    })?;
    checkpoint.public_key_pem = Some(verify_with.to_string());

    if proof.leaf_index >= checkpoint.tree_size {
        return Err(ProofCheckError::IndexOutOfRange {
            index: proof.leaf_index,
            tree_size: checkpoint.tree_size,
        });
    }
    let leaf = leaf_hash(proof.record.as_bytes());
    if !verify_inclusion(
        proof.leaf_index,
        checkpoint.tree_size,
        &leaf,
        &proof.inclusion_proof,
        &checkpoint.root_hash,
    ) {
        return Err(ProofCheckError::NotIncluded {
            index: proof.leaf_index,
            tree_size: checkpoint.tree_size,
            root: checkpoint.root_hex(),
        });
    }

    let record = Record::from_bytes(proof.record.as_bytes())
        .map_err(|e| ProofCheckError::InvalidRecord(e.to_string()))?;
    let version = record.schema_version();
    if version != SCHEMA_VERSION {
        return Err(ProofCheckError::InvalidRecord(format!(
            "schema version {version}, expected {SCHEMA_VERSION}"
        )));
    }
    if record.to_canonical() != proof.record.as_bytes() {
        return Err(ProofCheckError::NonCanonicalRecord);
    }
    if record.record_id() != proof.record_id {
        return Err(ProofCheckError::RecordIdMismatch {
            member: proof.record_id.clone(),
            record: record.record_id().to_string(),
        });
    }
    Ok(VerifiedRecord {
        record,
        leaf_index: proof.leaf_index,
        checkpoint,
        key_pinned,
    })
}

/// Build the proof of the record `record_id` against the latest checkpoint
/// that covers it. The proof is verified before it is returned, so a ledger
/// whose record, leaf hashes, checkpoint or key disagree yields an error,
/// never a proof that fails later.
pub fn prove_record(ledger: &Ledger, record_id: &str) -> Result<RecordProof, LedgerError> {
    let leaf = ledger
        .stored_leaf_by_id(record_id)?
        .ok_or_else(|| LedgerError::RecordNotFound(record_id.to_string()))?;
    let index = leaf.index;
    let checkpoint = ledger
        .checkpoints()?
        .into_iter()
        .rev()
        .find(|c| c.tree_size > index)
        .ok_or_else(|| LedgerError::NotCheckpointed {
            record_id: record_id.to_string(),
            index,
        })?;
    build_proof(ledger, leaf, checkpoint, true)
}

/// The proof of `leaf` against `checkpoint`; with `with_rotations`, also
/// the proofs of the key rotations the checkpoint covers, each against the
/// first checkpoint covering it (signed by the key it retires).
fn build_proof(
    ledger: &Ledger,
    leaf: crate::ledger::StoredLeaf,
    checkpoint: Checkpoint,
    with_rotations: bool,
) -> Result<RecordProof, LedgerError> {
    let index = leaf.index;
    let record_id = leaf.record_id.clone();
    let record_id = record_id.as_str();
    let pem = checkpoint.public_key_pem.clone().ok_or_else(|| {
        LedgerError::Corrupt(format!(
            "the key {} that signed the checkpoint at size {} is not in the ledger",
            checkpoint.key_id, checkpoint.tree_size
        ))
    })?;
    let public_key_pem = canonical_public_key_pem(&pem).map_err(|e| {
        LedgerError::Corrupt(format!("stored public key {}: {e}", checkpoint.key_id))
    })?;
    let record = String::from_utf8(leaf.bytes)
        .map_err(|_| LedgerError::Corrupt(format!("record #{index} is not UTF-8")))?;
    let body = String::from_utf8(checkpoint.body.clone())
        .map_err(|_| LedgerError::Corrupt("checkpoint body is not UTF-8".into()))?;
    let inclusion_proof = ledger.inclusion_proof(index, checkpoint.tree_size)?;
    let mut key_rotations = Vec::new();
    if with_rotations {
        let checkpoints = ledger.checkpoints()?;
        for (rot_index, rot) in ledger.key_rotations()? {
            if rot_index >= checkpoint.tree_size {
                continue;
            }
            let (Some(rot_leaf), Some(under)) = (
                ledger.stored_leaf_by_id(&rot.record_id)?,
                checkpoints.iter().find(|c| c.tree_size > rot_index),
            ) else {
                continue;
            };
            key_rotations.push(build_proof(ledger, rot_leaf, under.clone(), false)?);
        }
    }
    let proof = RecordProof {
        record_id: record_id.to_string(),
        record,
        leaf_index: index,
        inclusion_proof,
        checkpoint: body,
        checkpoint_signature: checkpoint.signature,
        public_key_pem,
        key_rotations,
    };
    verify_record_proof(&proof, None).map_err(|e| {
        LedgerError::Corrupt(format!(
            "the proof of record {record_id} does not verify: {e}"
        ))
    })?;
    Ok(proof)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// RFC 4648 base64, standard alphabet, with padding.
fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(B64[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Strict inverse of [`base64_encode`]: `None` unless `s` is exactly the
/// encoding of some byte string (padding present, unused bits zero).
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let value = |c: u8| B64.iter().position(|&x| x == c).map(|p| p as u32);
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for (ci, chunk) in s.chunks(4).enumerate() {
        let last = ci + 1 == s.len() / 4;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    // Canonical: re-encoding gives the same text (rejects non-zero unused bits).
    (base64_encode(&out).as_bytes() == s).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::{MemorySigner, Signer};
    use crate::test_support::{finding, observation, soa, t0};
    use proptest::prelude::*;

    #[test]
    fn base64_round_trip_and_strictness() {
        for (raw, enc) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(raw), enc);
            assert_eq!(base64_decode(enc).as_deref(), Some(raw));
        }
        for bad in ["Zg", "Zh==", "Zg=a", "Z===", "Zm9v\n", "Zg==Zg==", "Zm-v"] {
            assert_eq!(base64_decode(bad), None, "{bad}");
        }
    }

    /// A ledger with three runs; returns the ledger and its signer.
    fn ledger() -> (tempfile::TempDir, Ledger, MemorySigner) {
        let dir = tempfile::tempdir().expect("tempdir");
        let signer = MemorySigner::generate().expect("key");
        let mut l = Ledger::open(dir.path().join("l.db")).expect("open");
        let (d, o) = observation(1);
        l.append_run(
            &[(d.clone(), o)],
            &[finding("f0", &d), soa("s1"), finding("f2", &d)],
            &signer,
            "agent-1",
            t0(),
        )
        .expect("run 1");
        l.append_run(&[], &[soa("s3")], &signer, "agent-1", t0())
            .expect("run 2");
        l.append_run(&[], &[soa("s4"), soa("s5")], &signer, "agent-1", t0())
            .expect("run 3");
        (dir, l, signer)
    }

    #[test]
    fn every_record_proves_and_round_trips() {
        let (_d, l, signer) = ledger();
        for (i, id) in ["f0", "s1", "f2", "s3", "s4", "s5"].iter().enumerate() {
            let p = prove_record(&l, id).expect("prove");
            assert_eq!(p.leaf_index, i as u64);
            let bytes = p.to_json_bytes();
            assert!(bytes.ends_with(b"}\n"));
            let back = RecordProof::from_json_bytes(&bytes).expect("parse");
            assert_eq!(back, p);
            let v = verify_record_proof(&back, Some(signer.public_key_pem())).expect("verify");
            assert!(v.key_pinned);
            assert_eq!(v.record.record_id(), *id);
            assert_eq!(v.checkpoint.tree_size, 6, "latest checkpoint");
            let v = verify_record_proof(&back, None).expect("verify");
            assert!(!v.key_pinned);
        }
        assert!(matches!(
            prove_record(&l, "nope"),
            Err(LedgerError::RecordNotFound(_))
        ));
    }

    #[test]
    fn wrong_key_and_changed_fields_fail_with_reasons() {
        let (_d, l, _signer) = ledger();
        let p = prove_record(&l, "f2").expect("prove");
        let stranger = MemorySigner::generate().expect("key");
        assert!(matches!(
            verify_record_proof(&p, Some(stranger.public_key_pem())),
            Err(ProofCheckError::UntrustedKey { .. })
        ));
        assert!(matches!(
            verify_record_proof(&p, Some("garbage")),
            Err(ProofCheckError::InvalidTrustedKey)
        ));

        let mut q = p.clone();
        q.public_key_pem = stranger.public_key_pem().to_string();
        assert!(matches!(
            verify_record_proof(&q, None),
            Err(ProofCheckError::KeyIdMismatch { .. })
        ));
        let mut q = p.clone();
        q.leaf_index = 1;
        assert!(matches!(
            verify_record_proof(&q, None),
            Err(ProofCheckError::NotIncluded { index: 1, .. })
        ));
        let mut q = p.clone();
        q.leaf_index = 6;
        assert!(matches!(
            verify_record_proof(&q, None),
            Err(ProofCheckError::IndexOutOfRange { .. })
        ));
        let mut q = p.clone();
        q.record = q.record.replace("\"pass\"", "\"fail\"");
        let e = verify_record_proof(&q, None).expect_err("changed record");
        assert!(e.to_string().contains("not included"), "{e}");
        let mut q = p.clone();
        q.record_id = "f0".into();
        assert!(matches!(
            verify_record_proof(&q, None),
            Err(ProofCheckError::RecordIdMismatch { .. })
        ));
        let mut q = p.clone();
        q.checkpoint = q.checkpoint.replace("size 6", "size 7");
        assert!(matches!(
            verify_record_proof(&q, None),
            Err(ProofCheckError::BadSignature(_))
        ));
        let mut q = p.clone();
        q.inclusion_proof.pop();
        assert!(matches!(
            verify_record_proof(&q, None),
            Err(ProofCheckError::NotIncluded { .. })
        ));
        let mut q = p.clone();
        q.public_key_pem = q.public_key_pem.replace('\n', "\r\n");
        assert!(matches!(
            verify_record_proof(&q, None),
            Err(ProofCheckError::PublicKey(_))
        ));

        let bytes = p.to_json_bytes();
        let text = String::from_utf8(bytes.clone()).expect("utf8");
        let pretty = serde_json::to_vec_pretty(
            &serde_json::from_slice::<serde_json::Value>(&bytes).expect("json"),
        )
        .expect("pretty");
        assert!(matches!(
            RecordProof::from_json_bytes(&pretty),
            Err(ProofCheckError::NotCanonical)
        ));
        let v2 = text.replace(RECORD_PROOF_FORMAT, "evident-record-proof/v2");
        assert!(matches!(
            RecordProof::from_json_bytes(v2.as_bytes()),
            Err(ProofCheckError::WrongFormat(_))
        ));
        let extra = text.replacen('{', "{\"extra\":1,", 1);
        assert!(matches!(
            RecordProof::from_json_bytes(extra.as_bytes()),
            Err(ProofCheckError::Json(_))
        ));
    }

    #[test]
    fn a_record_after_the_last_checkpoint_has_no_proof() {
        let (d, l, _signer) = ledger();
        drop(l);
        let path = d.path().join("l.db");
        let extra = soa("s6").to_canonical();
        let c = rusqlite::Connection::open(&path).expect("raw");
        c.execute(
            "INSERT INTO leaves VALUES (6, 's6', 'soa_decision', '2025-01-02T03:04:05Z', ?1, ?2)",
            rusqlite::params![&leaf_hash(&extra)[..], extra],
        )
        .expect("insert");
        let l = Ledger::open_read_only(&path).expect("open");
        assert!(matches!(
            prove_record(&l, "s6"),
            Err(LedgerError::NotCheckpointed { index: 6, .. })
        ));
        // A record whose bytes were changed in place yields no proof.
        c.execute_batch(
            "DROP TRIGGER leaves_no_update; UPDATE leaves SET record = CAST(replace(CAST(record AS TEXT), 'A.7.4', 'A.7.5') AS BLOB) WHERE idx = 1;",
        )
        .expect("tamper");
        let e = prove_record(&l, "s1").expect_err("tampered");
        assert!(matches!(e, LedgerError::Corrupt(_)), "{e}");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Any single-byte change to a proof file fails parsing or verification.
        #[test]
        fn any_single_byte_change_fails(pos in any::<prop::sample::Index>(), new in any::<u8>()) {
            thread_local! {
                static FILE: (Vec<u8>, String) = {
                    let (_d, l, signer) = ledger();
                    let p = prove_record(&l, "f2").expect("prove");
                    (p.to_json_bytes(), signer.public_key_pem().to_string())
                };
            }
            let (mut bytes, key) = FILE.with(|f| f.clone());
            let i = pos.index(bytes.len());
            prop_assume!(bytes[i] != new);
            bytes[i] = new;
            let outcome = RecordProof::from_json_bytes(&bytes)
                .and_then(|p| verify_record_proof(&p, None));
            prop_assert!(outcome.is_err(), "byte {} changed to {:#04x} still verifies", i, new);
            let outcome = RecordProof::from_json_bytes(&bytes)
                .and_then(|p| verify_record_proof(&p, Some(&key)));
            prop_assert!(outcome.is_err());
        }
    }

    #[test]
    fn every_single_byte_flip_fails() {
        // Exhaustive over positions (one flip value each), beside the proptest.
        let (_d, l, _signer) = ledger();
        let bytes = prove_record(&l, "s4").expect("prove").to_json_bytes();
        for i in 0..bytes.len() {
            for flip in [0x01u8, 0x20] {
                let mut b = bytes.clone();
                b[i] ^= flip;
                let outcome =
                    RecordProof::from_json_bytes(&b).and_then(|p| verify_record_proof(&p, None));
                assert!(
                    outcome.is_err(),
                    "flip {flip:#x} at byte {i} still verifies"
                );
            }
        }
    }

    #[test]
    fn proof_after_rotation_follows_the_chain_from_the_old_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = MemorySigner::generate().expect("key");
        let new = MemorySigner::generate().expect("key");
        let mut l = Ledger::open(dir.path().join("l.db")).expect("open");
        l.append_run(&[], &[soa("a")], &old, "agent-1", t0())
            .expect("run");
        l.rotate_key(&old, new.public_key_pem(), "agent-1", "evident test", t0())
            .expect("rotate");
        l.append_run(&[], &[soa("b")], &new, "agent-1", t0())
            .expect("run");
        for id in ["a", "b"] {
            let p = prove_record(&l, id).expect("prove");
            assert_eq!(p.key_rotations.len(), 1);
            let bytes = p.to_json_bytes();
            let p = RecordProof::from_json_bytes(&bytes).expect("round trip");
            let v = verify_record_proof(&p, Some(old.public_key_pem())).expect("old key pinned");
            assert!(v.key_pinned);
            assert_eq!(v.checkpoint.key_id, new.key_id());
            assert!(verify_record_proof(&p, Some(new.public_key_pem())).is_ok());
            let stranger = MemorySigner::generate().expect("key");
            assert!(matches!(
                verify_record_proof(&p, Some(stranger.public_key_pem())),
                Err(ProofCheckError::UntrustedKey { .. })
            ));
            // Without the chain, the old key does not vouch for the new one.
            let mut bare = p.clone();
            bare.key_rotations.clear();
            assert!(matches!(
                verify_record_proof(&bare, Some(old.public_key_pem())),
                Err(ProofCheckError::UntrustedKey { .. })
            ));
        }
    }
}
