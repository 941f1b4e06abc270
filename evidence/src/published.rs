//! Checkpoints published off the agent's host, and the check of a ledger or
//! pack against them.
//!
//! Once a signed checkpoint has left the host (a directory on another
//! machine's file system, a write-once bucket, an HTTP witness), whoever
//! later gains root on the agent's host cannot rewrite the history it
//! covers: a rewritten ledger no longer hashes to the published root at
//! that size, and [`check_against`] says so.
//!
//! A directory of published checkpoints holds, for each tree size `N`:
//!
//! ```text
//! checkpoint-<N, 20 digits>       the checkpoint body (exactly the signed bytes)
//! checkpoint-<N, 20 digits>.sig   its detached DER signature
//! checkpoint-<N, 20 digits>.tst   its RFC 3161 token, once it has one
//! key-<key id>.pub.pem            each signing key (a hint; pin your own copy)
//! ```
//!
//! Files are written atomically (temporary file, then a hard link that fails
//! when the name exists) and never overwritten. A checkpoint of the same
//! size and root as one already published (an empty run signs the same tree
//! again) is the same tree head: the first file is kept. One of the same
//! size with another root is a forked history and an error.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::checkpoint::Checkpoint;
use crate::merkle::{Frontier, Hash};
use crate::timestamp::check_token;

/// A publication error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Another checkpoint of the same size, with another root, is already
    /// published: the ledger's history forked.
    #[error("{path} already holds a checkpoint of tree size {tree_size} with root {published_root}, this one has root {root}: the ledger's history was rewritten (or two ledgers publish to one directory); nothing was overwritten")]
    Conflict {
        /// The published file.
        path: PathBuf,
        /// The tree size.
        tree_size: u64,
        /// Root already published (hex).
        published_root: String,
        /// Root of the checkpoint offered (hex).
        root: String,
    },
}

/// What [`publish_to_dir`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Published {
    /// The checkpoint (and its token, when given) was written.
    Written,
    /// The same bytes were already there; anything missing was added.
    AlreadyThere,
    /// A checkpoint of the same tree head (size and root) was already
    /// there, signed at another time; it was kept.
    SameTreeHead,
}

/// The body file name for a tree size.
pub fn file_stem(tree_size: u64) -> String {
    format!("checkpoint-{tree_size:020}")
}

/// Write `tmp` then link it to `path` unless `path` exists. Returns whether
/// it was written.
fn write_new(path: &Path, bytes: &[u8]) -> Result<bool, PublishError> {
    let io = |source| PublishError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile_in(dir).map_err(io)?;
    tmp.1.write_all(bytes).map_err(io)?;
    tmp.1.sync_all().map_err(io)?;
    let linked = fs::hard_link(&tmp.0, path);
    let _ = fs::remove_file(&tmp.0);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io(e)),
    }
}

/// A new temporary file in `dir` (name starting with `.`).
fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, fs::File)> {
    use rand_core::RngCore;
    for _ in 0..16 {
        let name = format!(".tmp-{:016x}", rand_core::OsRng.next_u64());
        let path = dir.join(name);
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("cannot create a temporary file"))
}

/// Publish `cp` (and its `token`) into `dir` (created if missing); see the
/// module docs for the layout and the rules.
pub fn publish_to_dir(
    dir: &Path,
    cp: &Checkpoint,
    token: Option<&[u8]>,
) -> Result<Published, PublishError> {
    fs::create_dir_all(dir).map_err(|source| PublishError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let stem = file_stem(cp.tree_size);
    let body_path = dir.join(&stem);
    if let Some(pem) = &cp.public_key_pem {
        write_new(
            &dir.join(format!("key-{}.pub.pem", cp.key_id)),
            pem.as_bytes(),
        )?;
    }
    let existing = match fs::read(&body_path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(PublishError::Io {
                path: body_path,
                source,
            })
        }
    };
    let extras = |token: Option<&[u8]>| -> Result<(), PublishError> {
        write_new(&dir.join(format!("{stem}.sig")), &cp.signature)?;
        if let Some(t) = token {
            write_new(&dir.join(format!("{stem}.tst")), t)?;
        }
        Ok(())
    };
    match existing {
        Some(b) if b == cp.body => {
            extras(token)?;
            Ok(Published::AlreadyThere)
        }
        Some(b) => match Checkpoint::parse(&b, Vec::new()) {
            Ok(other) if other.tree_size == cp.tree_size && other.root_hash == cp.root_hash => {
                Ok(Published::SameTreeHead)
            }
            other => Err(PublishError::Conflict {
                path: body_path,
                tree_size: cp.tree_size,
                published_root: other
                    .map(|o| o.root_hex())
                    .unwrap_or_else(|e| format!("(unreadable: {e})")),
                root: cp.root_hex(),
            }),
        },
        None => {
            // Signature and token first: a body on disk always has them.
            extras(token)?;
            if write_new(&body_path, &cp.body)? {
                Ok(Published::Written)
            } else {
                // Someone published the same size meanwhile: judge again.
                publish_to_dir(dir, cp, token)
            }
        }
    }
}

/// One checkpoint read from a published directory.
#[derive(Debug, Clone)]
pub struct PublishedCheckpoint {
    /// The body file's name.
    pub file: String,
    /// The checkpoint (signature attached, public key from the directory
    /// when there is one).
    pub checkpoint: Checkpoint,
    /// Its token, when published.
    pub token: Option<Vec<u8>>,
}

/// Read every published checkpoint in `dir`, sorted by tree size. A body
/// that does not parse or lacks its signature is an error: a published
/// directory is evidence, and a broken file in it must be looked at.
pub fn read_published_dir(dir: &Path) -> Result<Vec<PublishedCheckpoint>, PublishError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PublishError::Io { path, source }
    };
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(digits) = name.strip_prefix("checkpoint-") else {
            continue;
        };
        if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let path = entry.path();
        let body = fs::read(&path).map_err(io(&path))?;
        let sig_path = dir.join(format!("{name}.sig"));
        let signature = fs::read(&sig_path).map_err(io(&sig_path))?;
        let mut checkpoint = Checkpoint::parse(&body, signature).map_err(|e| PublishError::Io {
            path: path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
        })?;
        if digits != format!("{:020}", checkpoint.tree_size) {
            return Err(PublishError::Io {
                path,
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "the file name does not match the tree size {}",
                        checkpoint.tree_size
                    ),
                ),
            });
        }
        let key_path = dir.join(format!("key-{}.pub.pem", checkpoint.key_id));
        checkpoint.public_key_pem = fs::read_to_string(key_path).ok();
        let token_path = dir.join(format!("{name}.tst"));
        let token = match fs::read(&token_path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(PublishError::Io {
                    path: token_path,
                    source,
                })
            }
        };
        out.push(PublishedCheckpoint {
            file: name,
            checkpoint,
            token,
        });
    }
    out.sort_by_key(|p| p.checkpoint.tree_size);
    Ok(out)
}

/// One problem found by [`check_against`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishedProblem {
    /// Stable code.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

/// The result of [`check_against`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct PublishedReport {
    /// Published checkpoints compared with the ledger.
    pub checked: u64,
    /// Published checkpoints beyond the ledger's size (not checked, for a pack).
    pub beyond: u64,
    /// Every problem found.
    pub problems: Vec<PublishedProblem>,
}

/// Check the ledger whose leaf hashes (recomputed from the records, or
/// verified against a signed root) are `leaf_hashes` against published
/// checkpoints: each one's signature verifies with `key_for(key id)`, its
/// token (if any) is over its body, and the first `size` leaves hash to its
/// root. A published checkpoint larger than the ledger is a problem when
/// `beyond_is_truncation` (a ledger must reach everything it published),
/// else only counted (a pack made earlier).
pub fn check_against(
    published: &[PublishedCheckpoint],
    leaf_hashes: &[Hash],
    beyond_is_truncation: bool,
    key_for: impl Fn(&str) -> Option<String>,
) -> PublishedReport {
    let mut r = PublishedReport::default();
    let mut sorted: Vec<&PublishedCheckpoint> = published.iter().collect();
    sorted.sort_by_key(|p| p.checkpoint.tree_size);
    let mut frontier = Frontier::new();
    let mut roots: Vec<(u64, Hash)> = Vec::new();
    {
        // Roots at each published size, in one pass over the leaves.
        let mut sizes = sorted
            .iter()
            .map(|p| p.checkpoint.tree_size)
            .filter(|s| *s <= leaf_hashes.len() as u64)
            .peekable();
        if sizes.peek() == Some(&0) {
            roots.push((0, frontier.root()));
        }
        for h in leaf_hashes {
            frontier.push(*h);
            while sizes.peek().is_some_and(|s| *s < frontier.len()) {
                sizes.next();
            }
            if sizes.peek() == Some(&frontier.len()) {
                roots.push((frontier.len(), frontier.root()));
            }
        }
    }
    for p in sorted {
        let cp = &p.checkpoint;
        match key_for(&cp.key_id) {
            Some(k) => {
                if let Err(e) = cp.verify_with(&k) {
                    r.problems.push(PublishedProblem {
                        code: "published_signature_invalid",
                        message: format!("{}: {e}", p.file),
                    });
                }
            }
            None => r.problems.push(PublishedProblem {
                code: "published_key_unknown",
                message: format!(
                    "{}: signed by key {}, not a trusted key of this ledger",
                    p.file, cp.key_id
                ),
            }),
        }
        if let Some(t) = &p.token {
            if let Err(e) = check_token(t, &cp.body) {
                r.problems.push(PublishedProblem {
                    code: "published_timestamp_invalid",
                    message: format!("{}.tst: {e}", p.file),
                });
            }
        }
        if cp.tree_size > leaf_hashes.len() as u64 {
            if beyond_is_truncation {
                r.problems.push(PublishedProblem {
                    code: "published_truncated",
                    message: format!(
                        "{}: {} records were published, the ledger holds {}: records were removed",
                        p.file,
                        cp.tree_size,
                        leaf_hashes.len()
                    ),
                });
            } else {
                r.beyond += 1;
            }
            continue;
        }
        r.checked += 1;
        let root = roots
            .iter()
            .find(|(s, _)| *s == cp.tree_size)
            .map(|(_, h)| *h);
        if root != Some(cp.root_hash) {
            r.problems.push(PublishedProblem {
                code: "published_root_mismatch",
                message: format!(
                    "{}: the first {} records no longer hash to the published root {}: records covered by a published checkpoint were changed, removed, reordered or inserted",
                    p.file,
                    cp.tree_size,
                    cp.root_hex()
                ),
            });
        }
    }
    r
}

/// Check `ledger` against published checkpoints (see [`check_against`]):
/// leaf hashes are recomputed from the stored records. With
/// `trusted_key_pem`, a published checkpoint must be signed by that key or a
/// key the ledger's rotation records hand over to from it; without it, by a
/// key of the ledger's key table, else the key published beside it (which
/// proves consistency, not origin).
pub fn check_ledger_against(
    ledger: &crate::ledger::Ledger,
    published: &[PublishedCheckpoint],
    trusted_key_pem: Option<&str>,
) -> Result<PublishedReport, crate::ledger::LedgerError> {
    let mut hashes = Vec::new();
    ledger.for_each_stored_leaf(|leaf| {
        hashes.push(crate::merkle::leaf_hash(&leaf.bytes));
        Ok(())
    })?;
    let mut keys: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    match trusted_key_pem {
        Some(pem) => {
            let mut current = crate::signing::key_id_of_pem(pem)
                .map_err(crate::checkpoint::CheckpointError::from)?;
            keys.insert(current.clone(), pem.to_string());
            for (_, k) in ledger.key_rotations()? {
                if k.previous_key_id == current {
                    current = k.new_key_id.clone();
                    keys.insert(k.new_key_id, k.new_public_key_pem);
                }
            }
        }
        None => {
            for p in published {
                if let Some(pem) = &p.checkpoint.public_key_pem {
                    keys.insert(p.checkpoint.key_id.clone(), pem.clone());
                }
            }
            keys.extend(ledger.public_keys()?);
        }
    }
    Ok(check_against(published, &hashes, true, |kid| {
        keys.get(kid).cloned()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{leaf_hash, MerkleTree};
    use crate::signing::{MemorySigner, Signer};
    use crate::test_support::t0;

    fn cp(signer: &MemorySigner, leaves: &[Hash], size: u64, secs: i64) -> Checkpoint {
        let tree = MerkleTree::from_leaf_hashes(leaves.to_vec());
        Checkpoint::sign(
            "agent-1",
            size,
            tree.root(size).expect("root"),
            t0() + chrono::Duration::seconds(secs),
            signer,
        )
        .expect("sign")
    }

    #[test]
    fn publish_never_overwrites_and_reports_a_fork() {
        let s = MemorySigner::generate().expect("key");
        let leaves: Vec<Hash> = (0..5u8).map(|i| leaf_hash(&[i])).collect();
        let d = tempfile::tempdir().expect("tempdir");
        let dir = d.path().join("pub");
        let a = cp(&s, &leaves, 3, 0);
        assert_eq!(
            publish_to_dir(&dir, &a, None).expect("a"),
            Published::Written
        );
        assert_eq!(
            publish_to_dir(&dir, &a, Some(b"tok")).expect("again"),
            Published::AlreadyThere
        );
        assert_eq!(
            fs::read(dir.join(format!("{}.tst", file_stem(3)))).expect("token added"),
            b"tok"
        );
        // The same tree signed again later: the first file is kept.
        let again = cp(&s, &leaves, 3, 60);
        assert_eq!(
            publish_to_dir(&dir, &again, None).expect("same head"),
            Published::SameTreeHead
        );
        assert_eq!(fs::read(dir.join(file_stem(3))).expect("body"), a.body);
        // Another root at size 3: a fork, and nothing is overwritten.
        let mut other = leaves.clone();
        other[1] = leaf_hash(b"rewritten");
        let fork = cp(&s, &other, 3, 120);
        let err = publish_to_dir(&dir, &fork, None).expect_err("fork");
        assert!(
            matches!(err, PublishError::Conflict { tree_size: 3, .. }),
            "{err}"
        );
        assert_eq!(fs::read(dir.join(file_stem(3))).expect("body"), a.body);
        assert!(!fs::read_dir(&dir).expect("ls").any(|e| e
            .expect("e")
            .file_name()
            .to_string_lossy()
            .starts_with(".tmp")));

        publish_to_dir(&dir, &cp(&s, &leaves, 5, 180), None).expect("5");
        let published = read_published_dir(&dir).expect("read");
        assert_eq!(
            published
                .iter()
                .map(|p| p.checkpoint.tree_size)
                .collect::<Vec<_>>(),
            vec![3, 5]
        );
        let key = |_: &str| Some(s.public_key_pem().to_string());
        // The tok token is garbage: reported.
        let r = check_against(&published, &leaves, true, key);
        assert_eq!(r.checked, 2);
        assert_eq!(
            r.problems.iter().map(|p| p.code).collect::<Vec<_>>(),
            vec!["published_timestamp_invalid"]
        );
        fs::remove_file(dir.join(format!("{}.tst", file_stem(3)))).expect("rm");
        let published = read_published_dir(&dir).expect("read");
        assert!(check_against(&published, &leaves, true, key)
            .problems
            .is_empty());
        // A rewritten ledger, a truncated one, a stranger's key.
        let r = check_against(&published, &other, true, key);
        assert_eq!(
            r.problems.iter().map(|p| p.code).collect::<Vec<_>>(),
            vec!["published_root_mismatch", "published_root_mismatch"]
        );
        let r = check_against(&published, &leaves[..4], true, key);
        assert_eq!(
            r.problems.iter().map(|p| p.code).collect::<Vec<_>>(),
            vec!["published_truncated"]
        );
        let r = check_against(&published, &leaves[..4], false, key);
        assert!(r.problems.is_empty());
        assert_eq!((r.checked, r.beyond), (1, 1));
        let stranger = MemorySigner::generate().expect("key");
        let r = check_against(&published, &leaves, true, |_| {
            Some(stranger.public_key_pem().to_string())
        });
        assert_eq!(r.problems.len(), 2);
        assert!(r
            .problems
            .iter()
            .all(|p| p.code == "published_signature_invalid"));
        let r = check_against(&published, &leaves, true, |_| None);
        assert!(r.problems.iter().all(|p| p.code == "published_key_unknown"));
        // An empty published checkpoint (size 0) checks too.
        let empty = cp(&s, &leaves, 0, 240);
        publish_to_dir(&dir, &empty, None).expect("0");
        let published = read_published_dir(&dir).expect("read");
        let r = check_against(&published, &leaves, true, key);
        assert_eq!((r.checked, r.problems.len()), (3, 0), "{:?}", r.problems);
        let _ = s.key_id();
    }
}
