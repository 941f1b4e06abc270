//! Signed checkpoints (tree heads).
//!
//! A checkpoint is a small UTF-8 text body and a detached DER ECDSA signature
//! over exactly those bytes. The body has LF line endings, a trailing LF, and
//! these lines in this order:
//!
//! ```text
//! evident-checkpoint/v1
//! agent <agent_id>
//! size <tree size, decimal>
//! root <root hash, 64 lowercase hex>
//! time <UTC RFC 3339, whole seconds, Z>
//! key <key id, 64 lowercase hex>
//! ```

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

use crate::merkle::Hash;
use crate::record::format_time;
use crate::signing::{key_id_of_pem, verify_signature, SignError, SignatureError, Signer};

/// First line of every checkpoint body of this format.
pub const CHECKPOINT_HEADER: &str = "evident-checkpoint/v1";

/// File name of the checkpoint body in a checkpoint directory.
pub const BODY_FILE: &str = "checkpoint";
/// File name of the detached DER signature in a checkpoint directory.
pub const SIGNATURE_FILE: &str = "checkpoint.sig";
/// File name of the signer's public key (PEM) in a checkpoint directory.
pub const PUBLIC_KEY_FILE: &str = "checkpoint.pub.pem";

/// A checkpoint error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The body does not follow the format; `line` is 1-based (0: whole body).
    #[error("malformed checkpoint body (line {line}): {reason}")]
    Malformed {
        /// The offending line, 1-based; 0 when the problem is the body as a whole.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The agent id cannot be written into a checkpoint.
    #[error("agent id {0:?} is not usable in a checkpoint (must be non-empty, without whitespace or control characters)")]
    InvalidAgentId(String),
    /// Signing failed.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The signature or public key is bad.
    #[error("checkpoint signature: {0}")]
    Signature(#[from] SignatureError),
    /// The public key's id differs from the key id in the body.
    #[error("checkpoint names key {expected} but the public key given has id {actual}")]
    WrongKey {
        /// Key id in the body.
        expected: String,
        /// Key id of the key offered.
        actual: String,
    },
    /// No public key was given or found.
    #[error("no public key to verify the checkpoint with")]
    NoPublicKey,
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// A signed tree head of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The agent that signed it.
    pub agent_id: String,
    /// Number of leaves covered.
    pub tree_size: u64,
    /// Merkle root of the first `tree_size` leaves.
    pub root_hash: Hash,
    /// When it was signed (whole seconds).
    pub time: DateTime<Utc>,
    /// Key id of the signing key.
    pub key_id: String,
    /// The exact signed body.
    pub body: Vec<u8>,
    /// DER-encoded ECDSA P-256/SHA-256 signature over `body`.
    pub signature: Vec<u8>,
    /// The signer's public key (PEM), when known. Not part of the signed body.
    pub public_key_pem: Option<String>,
}

fn valid_agent_id(a: &str) -> bool {
    !a.is_empty() && !a.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn is_lower_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The body text for these fields.
pub fn format_body(
    agent_id: &str,
    tree_size: u64,
    root: &Hash,
    time: DateTime<Utc>,
    key_id: &str,
) -> String {
    format!(
        "{CHECKPOINT_HEADER}\nagent {agent_id}\nsize {tree_size}\nroot {}\ntime {}\nkey {key_id}\n",
        hex::encode(root),
        format_time(time)
    )
}

impl Checkpoint {
    /// Build and sign a checkpoint. `time` is truncated to whole seconds.
    pub fn sign(
        agent_id: &str,
        tree_size: u64,
        root_hash: Hash,
        time: DateTime<Utc>,
        signer: &dyn Signer,
    ) -> Result<Checkpoint, CheckpointError> {
        if !valid_agent_id(agent_id) {
            return Err(CheckpointError::InvalidAgentId(agent_id.to_string()));
        }
        let time = time.trunc_subsecs(0);
        let body = format_body(agent_id, tree_size, &root_hash, time, signer.key_id()).into_bytes();
        let signature = signer.sign(&body)?;
        Ok(Checkpoint {
            agent_id: agent_id.to_string(),
            tree_size,
            root_hash,
            time,
            key_id: signer.key_id().to_string(),
            body,
            signature,
            public_key_pem: Some(signer.public_key_pem().to_string()),
        })
    }

    /// Parse a body strictly and attach its signature (not verified here).
    pub fn parse(body: &[u8], signature: Vec<u8>) -> Result<Checkpoint, CheckpointError> {
        let bad = |line: usize, reason: &str| CheckpointError::Malformed {
            line,
            reason: reason.to_string(),
        };
        let text = std::str::from_utf8(body).map_err(|_| bad(0, "not UTF-8"))?;
        if text.contains('\r') {
            return Err(bad(
                0,
                "contains a carriage return (line endings must be LF)",
            ));
        }
        let Some(text) = text.strip_suffix('\n') else {
            return Err(bad(0, "does not end with a line feed"));
        };
        let lines: Vec<&str> = text.split('\n').collect();
        if lines.len() != 6 {
            return Err(bad(0, &format!("has {} lines, expected 6", lines.len())));
        }
        if lines[0] != CHECKPOINT_HEADER {
            return Err(bad(1, &format!("expected `{CHECKPOINT_HEADER}`")));
        }
        let field = |i: usize, name: &str| -> Result<&str, CheckpointError> {
            lines[i]
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(' '))
                .ok_or_else(|| bad(i + 1, &format!("expected `{name} <value>`")))
        };
        let agent_id = field(1, "agent")?;
        if !valid_agent_id(agent_id) {
            return Err(bad(
                2,
                "agent id is empty or contains whitespace or control characters",
            ));
        }
        let size = field(2, "size")?;
        let tree_size: u64 = size
            .parse()
            .ok()
            .filter(|n: &u64| n.to_string() == size)
            .ok_or_else(|| {
                bad(
                    3,
                    "size is not a decimal number without sign or leading zeros",
                )
            })?;
        let root = field(3, "root")?;
        if !is_lower_hex64(root) {
            return Err(bad(4, "root is not 64 lowercase hex digits"));
        }
        let mut root_hash = [0u8; 32];
        hex::decode_to_slice(root, &mut root_hash).map_err(|_| bad(4, "root is not hex"))?;
        let time_s = field(4, "time")?;
        let time = NaiveDateTime::parse_from_str(time_s, "%Y-%m-%dT%H:%M:%SZ")
            .ok()
            .map(|t| t.and_utc())
            .filter(|t| format_time(*t) == time_s)
            .ok_or_else(|| {
                bad(
                    5,
                    "time is not UTC RFC 3339 with whole seconds and `Z` (2024-01-31T12:00:00Z)",
                )
            })?;
        let key_id = field(5, "key")?;
        if !is_lower_hex64(key_id) {
            return Err(bad(6, "key id is not 64 lowercase hex digits"));
        }
        Ok(Checkpoint {
            agent_id: agent_id.to_string(),
            tree_size,
            root_hash,
            time,
            key_id: key_id.to_string(),
            body: body.to_vec(),
            signature,
            public_key_pem: None,
        })
    }

    /// The root hash as 64 lowercase hex digits.
    pub fn root_hex(&self) -> String {
        hex::encode(self.root_hash)
    }

    /// Verify the signature over the body with `public_key_pem`, after checking
    /// that its key id is the one named in the body.
    pub fn verify_with(&self, public_key_pem: &str) -> Result<(), CheckpointError> {
        let actual = key_id_of_pem(public_key_pem)?;
        if actual != self.key_id {
            return Err(CheckpointError::WrongKey {
                expected: self.key_id.clone(),
                actual,
            });
        }
        verify_signature(public_key_pem, &self.body, &self.signature)?;
        Ok(())
    }

    /// Verify with `trusted_key_pem` if given, else with the attached public key.
    /// Only the former establishes who signed.
    pub fn verify(&self, trusted_key_pem: Option<&str>) -> Result<(), CheckpointError> {
        match trusted_key_pem.or(self.public_key_pem.as_deref()) {
            Some(pem) => self.verify_with(pem),
            None => Err(CheckpointError::NoPublicKey),
        }
    }

    /// Write `checkpoint`, `checkpoint.sig` and, when known, `checkpoint.pub.pem`
    /// into `dir` (created if missing). Each file is replaced atomically.
    pub fn write_to_dir(&self, dir: impl AsRef<Path>) -> Result<(), CheckpointError> {
        let dir = dir.as_ref();
        fs::create_dir_all(dir).map_err(|source| CheckpointError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        write_atomic(&dir.join(BODY_FILE), &self.body)?;
        write_atomic(&dir.join(SIGNATURE_FILE), &self.signature)?;
        if let Some(pem) = &self.public_key_pem {
            write_atomic(&dir.join(PUBLIC_KEY_FILE), pem.as_bytes())?;
        }
        Ok(())
    }

    /// Read a checkpoint directory written by [`Checkpoint::write_to_dir`].
    /// The public key file is optional. The signature is not verified.
    pub fn read_from_dir(dir: impl AsRef<Path>) -> Result<Checkpoint, CheckpointError> {
        let dir = dir.as_ref();
        let read = |name: &str| {
            let path = dir.join(name);
            fs::read(&path).map_err(|source| CheckpointError::Io { path, source })
        };
        let body = read(BODY_FILE)?;
        let signature = read(SIGNATURE_FILE)?;
        let mut cp = Checkpoint::parse(&body, signature)?;
        match fs::read_to_string(dir.join(PUBLIC_KEY_FILE)) {
            Ok(pem) => cp.public_key_pem = Some(pem),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(CheckpointError::Io {
                    path: dir.join(PUBLIC_KEY_FILE),
                    source,
                })
            }
        }
        Ok(cp)
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let io = |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::MemorySigner;
    use chrono::TimeZone;

    fn sample(signer: &MemorySigner) -> Checkpoint {
        let t = Utc
            .with_ymd_and_hms(2025, 3, 1, 12, 30, 5)
            .single()
            .expect("time")
            + chrono::Duration::milliseconds(700);
        Checkpoint::sign("host-1.example", 42, [0xab; 32], t, signer).expect("sign")
    }

    #[test]
    fn body_has_exact_format() {
        let s = MemorySigner::generate().expect("gen");
        let cp = sample(&s);
        let expected = format!(
            "evident-checkpoint/v1\nagent host-1.example\nsize 42\nroot {}\ntime 2025-03-01T12:30:05Z\nkey {}\n",
            "ab".repeat(32),
            s.key_id()
        );
        assert_eq!(String::from_utf8(cp.body.clone()).expect("utf8"), expected);
        cp.verify(None).expect("verifies");
        cp.verify(Some(s.public_key_pem()))
            .expect("verifies with trusted key");
        let parsed = Checkpoint::parse(&cp.body, cp.signature.clone()).expect("parse");
        assert_eq!(parsed.tree_size, 42);
        assert_eq!(parsed.root_hash, [0xab; 32]);
        assert_eq!(parsed.time, cp.time);
        assert_eq!(parsed.key_id, s.key_id());
        assert_eq!(parsed.agent_id, "host-1.example");
    }

    #[test]
    fn wrong_key_or_changed_body_fails() {
        let s = MemorySigner::generate().expect("gen");
        let other = MemorySigner::generate().expect("gen");
        let cp = sample(&s);
        assert!(matches!(
            cp.verify(Some(other.public_key_pem())),
            Err(CheckpointError::WrongKey { .. })
        ));
        let mut changed = cp.clone();
        changed.body = String::from_utf8(cp.body.clone())
            .expect("utf8")
            .replace("size 42", "size 43")
            .into_bytes();
        assert!(matches!(
            changed.verify(None),
            Err(CheckpointError::Signature(SignatureError::Mismatch))
        ));
        assert!(Checkpoint::sign("has space", 1, [0; 32], Utc::now(), &s).is_err());
        assert!(Checkpoint::sign("", 1, [0; 32], Utc::now(), &s).is_err());
    }

    #[test]
    fn parser_is_strict() {
        let s = MemorySigner::generate().expect("gen");
        let good = String::from_utf8(sample(&s).body).expect("utf8");
        let root = "ab".repeat(32);
        let cases: Vec<String> = vec![
            good.replace('\n', "\r\n"),
            good.trim_end().to_string(),
            format!("{good}\n"),
            good.replace("evident-checkpoint/v1", "evident-checkpoint/v2"),
            good.replace("size 42", "size 042"),
            good.replace("size 42", "size +42"),
            good.replace("size 42", "size  42"),
            good.replace("size 42", "size -1"),
            good.replace("size 42", "Size 42"),
            good.replace(&root, &root.to_uppercase()),
            good.replace(&root, &root[..62]),
            good.replace("2025-03-01T12:30:05Z", "2025-03-01T12:30:05.000Z"),
            good.replace("2025-03-01T12:30:05Z", "2025-03-01T12:30:05+00:00"),
            good.replace("2025-03-01T12:30:05Z", "2025-02-30T12:30:05Z"),
            good.replace("agent host-1.example", "agent "),
            good.replace("agent host-1.example", "agent a b"),
            good.replace(s.key_id(), &s.key_id().to_uppercase()),
            good.replacen("agent", "agentx", 1),
            // Lines swapped.
            {
                let l: Vec<&str> = good.lines().collect();
                format!(
                    "{}\n{}\n{}\n{}\n{}\n{}\n",
                    l[0], l[2], l[1], l[3], l[4], l[5]
                )
            },
            format!("{good}extra value\n"),
        ];
        for c in cases {
            let err = Checkpoint::parse(c.as_bytes(), vec![]).expect_err(&c);
            assert!(
                err.to_string().starts_with("malformed checkpoint body"),
                "{err}"
            );
        }
        assert!(Checkpoint::parse(&[0xff, 0xfe], vec![]).is_err());
        Checkpoint::parse(good.as_bytes(), vec![]).expect("good parses");
    }

    #[test]
    fn directory_round_trip() {
        let s = MemorySigner::generate().expect("gen");
        let cp = sample(&s);
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("cp");
        cp.write_to_dir(&dir).expect("write");
        let back = Checkpoint::read_from_dir(&dir).expect("read");
        assert_eq!(back, cp);
        back.verify(None).expect("verify");
        assert_eq!(fs::read(dir.join("checkpoint")).expect("read"), cp.body);
        fs::remove_file(dir.join(PUBLIC_KEY_FILE)).expect("rm");
        let no_key = Checkpoint::read_from_dir(&dir).expect("read");
        assert!(matches!(
            no_key.verify(None),
            Err(CheckpointError::NoPublicKey)
        ));
        no_key.verify(Some(s.public_key_pem())).expect("verify");
        assert!(Checkpoint::read_from_dir(tmp.path().join("missing")).is_err());
    }
}
