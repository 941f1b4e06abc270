//! The embedded ledger: one SQLite file holding the append-only Merkle log of
//! records, the observations they cite (stored once, by digest), the signed
//! checkpoints and the public keys that signed them.
//!
//! The file is opened in WAL mode with `synchronous=FULL`. Each run is appended
//! in one transaction together with its checkpoint, so after a crash the ledger
//! is either in the state before the run or after it. Triggers refuse any
//! `UPDATE` or `DELETE` on the four tables; they are a guard against mistakes,
//! not a security boundary: [`crate::verify`] is what detects tampering.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::canonical::sha256_digest;
use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::merkle::{leaf_hash, Frontier, Hash, MerkleTree, ProofError};
use crate::record::{format_time, Record, SCHEMA_VERSION};
use crate::signing::{key_id_of_pem, verify_signature, Signer};

/// Schema version of the SQLite file, stored in `PRAGMA user_version`.
pub const LEDGER_SCHEMA_VERSION: i64 = 1;

/// `PRAGMA application_id` of a ledger file (ASCII "EVID").
pub const LEDGER_APPLICATION_ID: i64 = 0x4556_4944;

const SCHEMA: &str = r#"
CREATE TABLE leaves (
    idx         INTEGER PRIMARY KEY,
    record_id   TEXT NOT NULL,
    record_type TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    leaf_hash   BLOB NOT NULL,
    record      BLOB NOT NULL
);
CREATE UNIQUE INDEX leaves_record_id ON leaves(record_id);
CREATE INDEX leaves_recorded_at ON leaves(recorded_at);
CREATE INDEX leaves_key_rotations ON leaves(idx) WHERE record_type = 'key_rotation';
CREATE TABLE observations (
    digest      TEXT PRIMARY KEY,
    observation BLOB NOT NULL
);
CREATE TABLE checkpoints (
    seq         INTEGER PRIMARY KEY,
    tree_size   INTEGER NOT NULL,
    body        BLOB NOT NULL,
    signature   BLOB NOT NULL
);
CREATE TABLE keys (
    key_id         TEXT PRIMARY KEY,
    public_key_pem TEXT NOT NULL,
    added_at       TEXT NOT NULL
);
CREATE TRIGGER leaves_no_update BEFORE UPDATE ON leaves BEGIN SELECT RAISE(ABORT, 'ledger leaves are append-only'); END;
CREATE TRIGGER leaves_no_delete BEFORE DELETE ON leaves BEGIN SELECT RAISE(ABORT, 'ledger leaves are append-only'); END;
CREATE TRIGGER observations_no_update BEFORE UPDATE ON observations BEGIN SELECT RAISE(ABORT, 'observations are append-only'); END;
CREATE TRIGGER observations_no_delete BEFORE DELETE ON observations BEGIN SELECT RAISE(ABORT, 'observations are append-only'); END;
CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
CREATE TRIGGER keys_no_update BEFORE UPDATE ON keys BEGIN SELECT RAISE(ABORT, 'keys are append-only'); END;
CREATE TRIGGER keys_no_delete BEFORE DELETE ON keys BEGIN SELECT RAISE(ABORT, 'keys are append-only'); END;
"#;

/// Tables added after schema version 1 was released, created on every
/// writable open (`IF NOT EXISTS`): RFC 3161 tokens of checkpoints, and
/// which checkpoints were published to which sink. Both append-only.
const SCHEMA_ADDITIONS: &str = r#"
CREATE TABLE IF NOT EXISTS timestamps (
    checkpoint_seq INTEGER PRIMARY KEY,
    token          BLOB NOT NULL,
    gen_time       TEXT NOT NULL,
    added_at       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS publications (
    sink           TEXT NOT NULL,
    checkpoint_seq INTEGER NOT NULL,
    with_token     INTEGER NOT NULL,
    published_at   TEXT NOT NULL,
    PRIMARY KEY (sink, checkpoint_seq, with_token)
);
CREATE TRIGGER IF NOT EXISTS timestamps_no_update BEFORE UPDATE ON timestamps BEGIN SELECT RAISE(ABORT, 'timestamps are append-only'); END;
CREATE TRIGGER IF NOT EXISTS timestamps_no_delete BEFORE DELETE ON timestamps BEGIN SELECT RAISE(ABORT, 'timestamps are append-only'); END;
CREATE TRIGGER IF NOT EXISTS publications_no_update BEFORE UPDATE ON publications BEGIN SELECT RAISE(ABORT, 'publications are append-only'); END;
CREATE TRIGGER IF NOT EXISTS publications_no_delete BEFORE DELETE ON publications BEGIN SELECT RAISE(ABORT, 'publications are append-only'); END;
"#;

/// A checkpoint that still has to be timestamped or published.
#[derive(Debug, Clone)]
pub struct PendingCheckpoint {
    /// Its sequence number in the ledger.
    pub seq: i64,
    /// The checkpoint, with its public key attached when known.
    pub checkpoint: Checkpoint,
    /// Its RFC 3161 token, when it has one.
    pub token: Option<Vec<u8>>,
}

/// A ledger error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// SQLite failed.
    #[error("ledger database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The ledger file does not exist (read-only open).
    #[error("ledger {0} does not exist")]
    NotFound(PathBuf),
    /// A new ledger file could not be created.
    #[error("cannot create ledger {}: {message}", path.display())]
    Create {
        /// The ledger file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// An existing ledger cannot be read as it is.
    #[error("cannot read ledger {}: {message}", path.display())]
    Unreadable {
        /// The ledger file.
        path: PathBuf,
        /// Why, and what to do.
        message: String,
    },
    /// The file is an SQLite database but not an evident ledger.
    #[error("{0} is not an evident ledger")]
    NotALedger(PathBuf),
    /// The file was written by a newer version of evident.
    #[error("ledger {path} has schema version {found}; this build supports up to {supported}, upgrade evident")]
    UnsupportedSchemaVersion {
        /// The ledger file.
        path: PathBuf,
        /// Version found.
        found: i64,
        /// Highest version supported.
        supported: i64,
    },
    /// A record id is already in the ledger or repeated in the run.
    #[error("record id {0} is already in the ledger or repeated in this run")]
    DuplicateRecordId(String),
    /// A finding cites an observation that is neither given nor stored.
    #[error("record {record_id} cites observation {digest}, which is neither in this run nor in the ledger")]
    MissingObservation {
        /// The finding's record id.
        record_id: String,
        /// The digest cited.
        digest: String,
    },
    /// An observation was given under a digest that is not its own.
    #[error("observation given as {digest} hashes to {actual}")]
    ObservationDigestMismatch {
        /// Digest it was given under.
        digest: String,
        /// Its actual digest.
        actual: String,
    },
    /// A record has a schema version this build does not write.
    #[error("record {record_id} has schema version {found}, expected {SCHEMA_VERSION}")]
    UnsupportedRecordVersion {
        /// The record id.
        record_id: String,
        /// Version found.
        found: u32,
    },
    /// A stored record does not parse.
    #[error("stored record at index {index} ({record_id}) does not parse: {source}")]
    CorruptRecord {
        /// Leaf index.
        index: u64,
        /// Record id column.
        record_id: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The stored data is inconsistent (run `evident-verify` for details).
    #[error("ledger is inconsistent: {0}; run `evident-verify ledger` for a full report")]
    Corrupt(String),
    /// The signer's key id is not the id of its public key.
    #[error("signer claims key id {claimed} but its public key has id {actual}")]
    SignerKeyIdMismatch {
        /// Key id the signer reports.
        claimed: String,
        /// Key id computed from its public key.
        actual: String,
    },
    /// The signer produced a signature that does not verify.
    #[error("the signer produced a signature that does not verify with its public key")]
    BadSignerSignature,
    /// Checkpoint construction or parsing failed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// No record with this id is in the ledger.
    #[error("no record with id {0} in the ledger")]
    RecordNotFound(String),
    /// The record is in the ledger but no checkpoint covers it yet.
    #[error("record {record_id} (#{index}) is not covered by any signed checkpoint yet")]
    NotCheckpointed {
        /// The record id.
        record_id: String,
        /// Its leaf index.
        index: u64,
    },
    /// A proof was asked for a size or index the ledger does not have.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// Records past the latest checkpoint (or records without any
    /// checkpoint): a run is appended in one transaction with its
    /// checkpoint, so only a change made outside evident leaves these.
    #[error("records #{from}..#{} are not covered by any signed checkpoint: the ledger was changed outside evident; refusing to sign over them, run `evident verify`", to.saturating_sub(1))]
    UncoveredRecords {
        /// First uncovered leaf index.
        from: u64,
        /// End (exclusive).
        to: u64,
    },
    /// The signer's key is not the key the ledger is signed by, and no
    /// rotation record hands over to it.
    #[error("the signing key changed: the ledger is signed by {ledger_key_id}, the key file is {signer_key_id}; restore the key or rotate it with `evident key rotate`")]
    SigningKeyChanged {
        /// Key id of the ledger's latest checkpoint.
        ledger_key_id: String,
        /// Key id of the signer offered.
        signer_key_id: String,
    },
    /// The ledger's key was rotated away from the signer's key.
    #[error("the ledger's signing key was rotated to {rotated_to}, but the key file is {signer_key_id}; install the new key")]
    KeyRotatedAway {
        /// Key id the ledger expects now.
        rotated_to: String,
        /// Key id of the signer offered.
        signer_key_id: String,
    },
    /// A timestamp token does not belong to its checkpoint.
    #[error("timestamp token for checkpoint #{seq}: {source}")]
    Timestamp {
        /// The checkpoint's sequence number.
        seq: i64,
        /// What is wrong with the token.
        #[source]
        source: crate::timestamp::TimestampError,
    },
    /// No checkpoint has this sequence number.
    #[error("no checkpoint #{0} in the ledger")]
    CheckpointNotFound(i64),
    /// A key rotation record is not valid for this ledger and signer.
    #[error("key rotation record {record_id}: {reason}")]
    InvalidRotation {
        /// The record id.
        record_id: String,
        /// What is wrong.
        reason: String,
    },
}

/// One stored leaf, as read back without interpretation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLeaf {
    /// The `idx` column (0-based leaf index).
    pub index: u64,
    /// The `record_id` column.
    pub record_id: String,
    /// The `record_type` column.
    pub record_type: String,
    /// The `recorded_at` column.
    pub recorded_at: String,
    /// The `leaf_hash` column.
    pub leaf_hash: Vec<u8>,
    /// The stored record bytes (canonical JSON).
    pub bytes: Vec<u8>,
}

/// One stored checkpoint row, uninterpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Insertion order.
    pub seq: i64,
    /// The `tree_size` column.
    pub tree_size: i64,
    /// The body.
    pub body: Vec<u8>,
    /// The DER signature.
    pub signature: Vec<u8>,
}

/// The `record_type` value stored for a record.
pub fn record_type_of(record: &Record) -> &'static str {
    record.record_type()
}

/// An open ledger file.
#[derive(Debug)]
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
    append_cache: Option<AppendCache>,
}

/// What an append needs from the previous one on the same handle.
#[derive(Debug)]
struct AppendCache {
    /// `PRAGMA data_version` after the last commit of this handle.
    data_version: i64,
    /// `seq` of the checkpoint this handle signed last.
    checkpoint_seq: i64,
    /// Frontier of the tree at that checkpoint.
    frontier: Frontier,
}

/// Whether SQLite refused a read-only open for want of write access (to
/// create the WAL index) rather than because the file is bad.
fn is_read_only_refusal(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen)
    )
}

/// `path` as the path part of an SQLite `file:` URI (`%`, `?` and `#`
/// escaped).
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3f"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out
}

/// Create an empty ledger at `path` unless one appears there meanwhile.
fn create_atomically(path: &Path) -> Result<(), LedgerError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "ledger".into());
    // Unique per process and per call: threads of one process may race too.
    static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{name}.creating-{}-{serial}", std::process::id()));
    let io = |e: std::io::Error| LedgerError::Create {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    // A leftover of the same name from an earlier crash is no ledger.
    let _ = std::fs::remove_file(&tmp);
    let built = (|| {
        {
            let f = std::fs::File::create(&tmp).map_err(io)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                f.set_permissions(std::fs::Permissions::from_mode(0o600))
                    .map_err(io)?;
            }
        }
        let conn = Connection::open(&tmp)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(LedgerError::Corrupt(format!(
                "could not enable WAL mode (got {mode})"
            )));
        }
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {SCHEMA} {SCHEMA_ADDITIONS} \
             PRAGMA application_id = {LEDGER_APPLICATION_ID}; \
             PRAGMA user_version = {LEDGER_SCHEMA_VERSION}; COMMIT;"
        ))?;
        // Closing the last connection folds the WAL into the file.
        conn.close().map_err(|(_, e)| LedgerError::Sqlite(e))?;
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(()),
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            // A file system without hard links: a rename, which is atomic
            // for readers but could replace a ledger created in between.
            Err(_) if !path.exists() => std::fs::rename(&tmp, path).map_err(io),
            Err(_) => Ok(()),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    built
}

fn hash_from_blob(blob: &[u8], index: u64) -> Result<Hash, LedgerError> {
    blob.try_into().map_err(|_| {
        LedgerError::Corrupt(format!("stored leaf hash at index {index} is not 32 bytes"))
    })
}

impl Ledger {
    /// Open the ledger at `path`, creating the file and its schema if missing.
    ///
    /// A new ledger is built under a temporary name beside `path` (mode 0600
    /// on Unix) and linked into place only once its schema is committed, so
    /// a reader never sees a half-created ledger, and two processes creating
    /// it at once end up sharing one.
    pub fn open(path: impl AsRef<Path>) -> Result<Ledger, LedgerError> {
        let path = path.as_ref().to_path_buf();
        if !path.exists() {
            create_atomically(&path)?;
        }
        let mut conn = Connection::open(&path)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(LedgerError::Corrupt(format!(
                "could not enable WAL mode (got {mode})"
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == 0 {
            let tables: i64 =
                tx.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))?;
            if tables != 0 {
                return Err(LedgerError::NotALedger(path));
            }
            tx.execute_batch(SCHEMA)?;
            tx.pragma_update(None, "application_id", LEDGER_APPLICATION_ID)?;
            tx.pragma_update(None, "user_version", LEDGER_SCHEMA_VERSION)?;
        } else if version <= LEDGER_SCHEMA_VERSION {
            // Ledgers created before key rotation existed lack this index.
            tx.execute_batch(
                "CREATE INDEX IF NOT EXISTS leaves_key_rotations ON leaves(idx) WHERE record_type = 'key_rotation';",
            )?;
        }
        if version <= LEDGER_SCHEMA_VERSION {
            tx.execute_batch(SCHEMA_ADDITIONS)?;
        }
        tx.commit()?;
        let ledger = Ledger {
            conn,
            path,
            append_cache: None,
        };
        ledger.check_header()?;
        Ok(ledger)
    }

    /// Open an existing ledger for reading only. Never creates a file.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Ledger, LedgerError> {
        let path = path.as_ref().to_path_buf();
        if !path.is_file() {
            return Err(LedgerError::NotFound(path));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        match Ledger::read_only_with(&path, &path.to_string_lossy(), flags) {
            Err(LedgerError::Sqlite(e)) if is_read_only_refusal(&e) => {
                // A ledger in WAL mode needs its `-shm` file: without write
                // access to the file or its directory (an auditor's copy,
                // read-only media, another user) SQLite cannot make one.
                // With no pending write-ahead log the file alone is the
                // whole ledger, and SQLite can read it as immutable.
                let wal = PathBuf::from(format!("{}-wal", path.display()));
                if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
                    return Err(LedgerError::Unreadable {
                        path: path.clone(),
                        message: format!(
                            "it cannot be read without write access while {} holds writes not yet folded into it; \
                             read it as the agent's user, or copy the ledger file and its -wal file to a writable place",
                            wal.display()
                        ),
                    });
                }
                Ledger::read_only_with(
                    &path,
                    &format!("file:{}?immutable=1", uri_path(&path)),
                    flags | OpenFlags::SQLITE_OPEN_URI,
                )
            }
            other => other,
        }
    }

    fn read_only_with(path: &Path, name: &str, flags: OpenFlags) -> Result<Ledger, LedgerError> {
        let conn = Connection::open_with_flags(name, flags)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        let ledger = Ledger {
            conn,
            path: path.to_path_buf(),
            append_cache: None,
        };
        ledger.check_header()?;
        Ok(ledger)
    }

    fn check_header(&self) -> Result<(), LedgerError> {
        let app: i64 = self
            .conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))?;
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if app != LEDGER_APPLICATION_ID || version == 0 {
            return Err(LedgerError::NotALedger(self.path.clone()));
        }
        if version > LEDGER_SCHEMA_VERSION {
            return Err(LedgerError::UnsupportedSchemaVersion {
                path: self.path.clone(),
                found: version,
                supported: LEDGER_SCHEMA_VERSION,
            });
        }
        Ok(())
    }

    /// The ledger file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one run in a single transaction: store `observations`
    /// (`(digest, canonical bytes)`; already stored ones are kept), append
    /// `records` as leaves in order, register the signer's public key if new,
    /// and sign and store a checkpoint over the new tree. Either all of it is
    /// stored or nothing is. An empty `records` still yields a checkpoint.
    ///
    /// Refuses: an observation whose bytes do not hash to its digest; a finding
    /// citing an observation neither given nor stored; a record id already in
    /// the ledger or repeated; a record of another schema version; a signer
    /// whose key id or signature does not match its public key; and a ledger
    /// whose stored leaf hashes no longer match its latest checkpoint.
    pub fn append_run(
        &mut self,
        observations: &[(String, Vec<u8>)],
        records: &[Record],
        signer: &dyn Signer,
        agent_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Checkpoint, LedgerError> {
        let pem = signer.public_key_pem().to_string();
        let actual_kid = key_id_of_pem(&pem).map_err(CheckpointError::from)?;
        if actual_kid != signer.key_id() {
            return Err(LedgerError::SignerKeyIdMismatch {
                claimed: signer.key_id().to_string(),
                actual: actual_kid,
            });
        }
        let mut given: HashSet<&str> = HashSet::new();
        for (digest, bytes) in observations {
            let actual = sha256_digest(bytes);
            if &actual != digest {
                return Err(LedgerError::ObservationDigestMismatch {
                    digest: digest.clone(),
                    actual,
                });
            }
            given.insert(digest);
        }

        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;

        let mut seen: HashSet<&str> = HashSet::new();
        {
            let mut exists = tx.prepare_cached("SELECT 1 FROM leaves WHERE record_id = ?1")?;
            let mut obs_exists =
                tx.prepare_cached("SELECT 1 FROM observations WHERE digest = ?1")?;
            for r in records {
                let id = r.record_id();
                let version = r.schema_version();
                if let Record::KeyRotation(k) = r {
                    check_rotation(k, signer.key_id())?;
                }
                if version != SCHEMA_VERSION {
                    return Err(LedgerError::UnsupportedRecordVersion {
                        record_id: id.to_string(),
                        found: version,
                    });
                }
                if !seen.insert(id) || exists.exists([id])? {
                    return Err(LedgerError::DuplicateRecordId(id.to_string()));
                }
                if let Record::Finding(f) = r {
                    let d = f.observation_digest.as_str();
                    if !given.contains(d) && !obs_exists.exists([d])? {
                        return Err(LedgerError::MissingObservation {
                            record_id: id.to_string(),
                            digest: d.to_string(),
                        });
                    }
                }
            }
        }

        // The frontier of the current tree. Reused from this handle's last
        // append when no other connection has written since (`data_version`
        // unchanged) and the latest checkpoint is the one this handle signed;
        // otherwise rebuilt from every stored leaf hash and checked against
        // the latest checkpoint, so that we never sign on top of a ledger that
        // no longer matches it.
        let data_version: i64 = tx.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        let latest_row = latest_checkpoint_row(&tx)?;
        let cached = self.append_cache.take().filter(|c| {
            c.data_version == data_version
                && latest_row.as_ref().is_some_and(|row| {
                    row.seq == c.checkpoint_seq && row.tree_size as u64 == c.frontier.len()
                })
        });
        // Never sign over leaves that no checkpoint covers.
        let max_idx: Option<i64> = tx.query_row("SELECT MAX(idx) FROM leaves", [], |r| r.get(0))?;
        let stored = max_idx.map_or(0, |m| m + 1) as u64;
        let covered = latest_row.as_ref().map_or(0, |r| r.tree_size.max(0) as u64);
        if stored > covered {
            return Err(LedgerError::UncoveredRecords {
                from: covered,
                to: stored,
            });
        }
        // Never sign with a key the ledger did not hand over to.
        if let Some(row) = &latest_row {
            let latest = Checkpoint::parse(&row.body, row.signature.clone())?;
            let expected = current_key_id(&tx, &latest.key_id)?;
            if expected != signer.key_id() {
                return Err(if expected == latest.key_id {
                    LedgerError::SigningKeyChanged {
                        ledger_key_id: expected,
                        signer_key_id: signer.key_id().to_string(),
                    }
                } else {
                    LedgerError::KeyRotatedAway {
                        rotated_to: expected,
                        signer_key_id: signer.key_id().to_string(),
                    }
                });
            }
        }
        let mut frontier = match cached {
            Some(c) => c.frontier,
            None => {
                let tree = MerkleTree::from_leaf_hashes(load_leaf_hashes(&tx)?);
                let max_idx: Option<i64> =
                    tx.query_row("SELECT MAX(idx) FROM leaves", [], |r| r.get(0))?;
                if max_idx.map_or(0, |m| m + 1) as u64 != tree.len() {
                    return Err(LedgerError::Corrupt(
                        "leaf indexes are not contiguous".into(),
                    ));
                }
                if let Some(last) = &latest_row {
                    let cp = Checkpoint::parse(&last.body, last.signature.clone())?;
                    if cp.tree_size > tree.len() || tree.root(cp.tree_size)? != cp.root_hash {
                        return Err(LedgerError::Corrupt(format!(
                            "stored leaves do not match the latest checkpoint (size {})",
                            cp.tree_size
                        )));
                    }
                }
                tree.frontier(tree.len())?
            }
        };

        {
            let mut ins = tx.prepare_cached(
                "INSERT OR IGNORE INTO observations (digest, observation) VALUES (?1, ?2)",
            )?;
            for (digest, bytes) in observations {
                ins.execute(params![digest, bytes])?;
            }
            let mut ins = tx.prepare_cached(
                "INSERT INTO leaves (idx, record_id, record_type, recorded_at, leaf_hash, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for r in records {
                let bytes = r.to_canonical();
                let h = leaf_hash(&bytes);
                let idx = frontier.len() as i64;
                ins.execute(params![
                    idx,
                    r.record_id(),
                    record_type_of(r),
                    format_time(r.recorded_at()),
                    &h[..],
                    bytes
                ])?;
                frontier.push(h);
            }
        }

        let stored_pem: Option<String> = tx
            .query_row(
                "SELECT public_key_pem FROM keys WHERE key_id = ?1",
                [signer.key_id()],
                |r| r.get(0),
            )
            .optional()?;
        match stored_pem {
            None => {
                tx.execute(
                    "INSERT INTO keys (key_id, public_key_pem, added_at) VALUES (?1, ?2, ?3)",
                    params![signer.key_id(), pem, format_time(now)],
                )?;
            }
            Some(p) if key_id_of_pem(&p).ok().as_deref() == Some(signer.key_id()) => {}
            Some(_) => {
                return Err(LedgerError::Corrupt(format!(
                    "stored public key for key id {} does not have that id",
                    signer.key_id()
                )))
            }
        }

        let cp = Checkpoint::sign(agent_id, frontier.len(), frontier.root(), now, signer)?;
        if verify_signature(&pem, &cp.body, &cp.signature).is_err() {
            return Err(LedgerError::BadSignerSignature);
        }
        tx.execute(
            "INSERT INTO checkpoints (tree_size, body, signature) VALUES (?1, ?2, ?3)",
            params![cp.tree_size as i64, cp.body, cp.signature],
        )?;
        let checkpoint_seq = tx.last_insert_rowid();
        tx.commit()?;
        // Our own commits do not change `data_version`; another connection's do.
        let data_version: i64 = self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?;
        self.append_cache = Some(AppendCache {
            data_version,
            checkpoint_seq,
            frontier,
        });
        Ok(cp)
    }

    /// Rotate the ledger's signing key from `old` to the key whose public
    /// key is `new_public_key_pem`: append one run holding a
    /// [`KeyRotationRecord`](crate::record::KeyRotationRecord), signed by
    /// `old` (its checkpoint is the rotation's signature). Every later run
    /// must be signed by the new key. Refuses what [`Ledger::append_run`]
    /// refuses, in particular an `old` that is not the ledger's current key.
    pub fn rotate_key(
        &mut self,
        old: &dyn Signer,
        new_public_key_pem: &str,
        agent_id: &str,
        tool_version: &str,
        now: DateTime<Utc>,
    ) -> Result<Checkpoint, LedgerError> {
        let pem = crate::signing::canonical_public_key_pem(new_public_key_pem)
            .map_err(CheckpointError::from)?;
        let new_key_id = key_id_of_pem(&pem).map_err(CheckpointError::from)?;
        let record = Record::KeyRotation(crate::record::KeyRotationRecord {
            schema_version: SCHEMA_VERSION,
            record_id: format!("key-rotation-{new_key_id}"),
            run_id: format!("key-rotation-{}", format_time(now)),
            agent_id: agent_id.to_string(),
            previous_key_id: old.key_id().to_string(),
            new_key_id,
            new_public_key_pem: pem,
            recorded_at: now,
            tool_version: tool_version.to_string(),
        });
        self.append_run(&[], &[record], old, agent_id, now)
    }

    /// The key the next checkpoint must be signed with (`None` before the
    /// first checkpoint): the latest checkpoint's key, followed along the
    /// rotation records that hand over from it.
    pub fn current_key_id(&self) -> Result<Option<String>, LedgerError> {
        match latest_checkpoint_row(&self.conn)? {
            Some(row) => {
                let cp = Checkpoint::parse(&row.body, row.signature)?;
                Ok(Some(current_key_id(&self.conn, &cp.key_id)?))
            }
            None => Ok(None),
        }
    }

    /// The key rotation records, in leaf order, with their leaf index.
    pub fn key_rotations(
        &self,
    ) -> Result<Vec<(u64, crate::record::KeyRotationRecord)>, LedgerError> {
        Ok(self
            .records_of_type("key_rotation")?
            .into_iter()
            .filter_map(|(i, r)| match r {
                Record::KeyRotation(k) => Some((i, k)),
                _ => None,
            })
            .collect())
    }

    /// The records whose `record_type` column is `record_type` (e.g.
    /// `soa_decision`), in leaf order: only those rows are read and parsed.
    pub fn records_of_type(&self, record_type: &str) -> Result<Vec<(u64, Record)>, LedgerError> {
        self.records_of_type_below(record_type, i64::MAX)
    }

    /// Like [`Ledger::records_of_type`], but only the records the latest
    /// checkpoint covers (see [`Ledger::checkpointed_size`]): what reports
    /// read.
    pub fn checkpointed_records_of_type(
        &self,
        record_type: &str,
    ) -> Result<Vec<(u64, Record)>, LedgerError> {
        let size = i64::try_from(self.checkpointed_size()?).unwrap_or(i64::MAX);
        self.records_of_type_below(record_type, size)
    }

    fn records_of_type_below(
        &self,
        record_type: &str,
        below: i64,
    ) -> Result<Vec<(u64, Record)>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT idx, record_id, record_type, recorded_at, leaf_hash, record FROM leaves WHERE record_type = ?1 AND idx < ?2 ORDER BY idx",
        )?;
        let mut rows = stmt.query(params![record_type, below])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let leaf = StoredLeaf {
                index: r.get::<_, i64>(0)? as u64,
                record_id: r.get(1)?,
                record_type: r.get(2)?,
                recorded_at: r.get(3)?,
                leaf_hash: r.get(4)?,
                bytes: r.get(5)?,
            };
            out.push(parse_leaf(leaf)?);
        }
        Ok(out)
    }

    /// The number of leaves the latest checkpoint covers (0 without one).
    /// Reports read only these: a leaf beyond it is signed by nobody, and
    /// could have been inserted by anyone able to write the file.
    pub fn checkpointed_size(&self) -> Result<u64, LedgerError> {
        Ok(self.latest_checkpoint()?.map_or(0, |c| c.tree_size))
    }

    /// Number of leaves.
    pub fn len(&self) -> Result<u64, LedgerError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM leaves", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// Whether the ledger has no leaves.
    pub fn is_empty(&self) -> Result<bool, LedgerError> {
        Ok(self.len()? == 0)
    }

    /// All records in leaf order, with their leaf index.
    pub fn records(&self) -> Result<Vec<(u64, Record)>, LedgerError> {
        self.stored_leaves()?.into_iter().map(parse_leaf).collect()
    }

    /// All stored record bytes in leaf order, with their leaf index.
    pub fn records_raw(&self) -> Result<Vec<(u64, Vec<u8>)>, LedgerError> {
        Ok(self
            .stored_leaves()?
            .into_iter()
            .map(|l| (l.index, l.bytes))
            .collect())
    }

    /// All stored leaf rows, uninterpreted, in index order.
    pub fn stored_leaves(&self) -> Result<Vec<StoredLeaf>, LedgerError> {
        let mut out = Vec::new();
        self.for_each_stored_leaf(|l| {
            out.push(l);
            Ok(())
        })?;
        Ok(out)
    }

    /// Call `f` on each stored leaf row in index order without holding them all.
    pub fn for_each_stored_leaf(
        &self,
        mut f: impl FnMut(StoredLeaf) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT idx, record_id, record_type, recorded_at, leaf_hash, record FROM leaves ORDER BY idx",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            f(StoredLeaf {
                index: r.get::<_, i64>(0)? as u64,
                record_id: r.get(1)?,
                record_type: r.get(2)?,
                recorded_at: r.get(3)?,
                leaf_hash: r.get(4)?,
                bytes: r.get(5)?,
            })?;
        }
        Ok(())
    }

    /// The record with this id and its leaf index, if any.
    pub fn record_by_id(&self, record_id: &str) -> Result<Option<(u64, Record)>, LedgerError> {
        self.stored_leaf_by_id(record_id)?
            .map(parse_leaf)
            .transpose()
    }

    /// The stored leaf row of the record with this id, uninterpreted.
    pub fn stored_leaf_by_id(&self, record_id: &str) -> Result<Option<StoredLeaf>, LedgerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT idx, record_id, record_type, recorded_at, leaf_hash, record FROM leaves WHERE record_id = ?1",
                [record_id],
                |r| {
                    Ok(StoredLeaf {
                        index: r.get::<_, i64>(0)? as u64,
                        record_id: r.get(1)?,
                        record_type: r.get(2)?,
                        recorded_at: r.get(3)?,
                        leaf_hash: r.get(4)?,
                        bytes: r.get(5)?,
                    })
                },
            )
            .optional()?)
    }

    /// The stored leaf hashes in index order.
    pub fn leaf_hashes(&self) -> Result<Vec<Hash>, LedgerError> {
        load_leaf_hashes(&self.conn)
    }

    /// The Merkle tree over the stored leaf hashes (for roots and proofs).
    pub fn tree(&self) -> Result<MerkleTree, LedgerError> {
        Ok(MerkleTree::from_leaf_hashes(self.leaf_hashes()?))
    }

    /// Inclusion proof of leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LedgerError> {
        Ok(self.tree()?.inclusion_proof(index, size)?)
    }

    /// Consistency proof between the trees of the first `first` and `second` leaves.
    pub fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>, LedgerError> {
        Ok(self.tree()?.consistency_proof(first, second)?)
    }

    /// The most recent checkpoint, if any, with its public key attached.
    pub fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, LedgerError> {
        latest_checkpoint_row(&self.conn)?
            .map(|row| self.checkpoint_from_row(row))
            .transpose()
    }

    /// All checkpoints in the order they were signed, with public keys attached.
    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>, LedgerError> {
        self.stored_checkpoints()?
            .into_iter()
            .map(|row| self.checkpoint_from_row(row))
            .collect()
    }

    /// All stored checkpoint rows, uninterpreted, in the order they were signed.
    pub fn stored_checkpoints(&self) -> Result<Vec<StoredCheckpoint>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, tree_size, body, signature FROM checkpoints ORDER BY seq")?;
        let rows = stmt.query_map([], row_to_checkpoint)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn checkpoint_from_row(&self, row: StoredCheckpoint) -> Result<Checkpoint, LedgerError> {
        let mut cp = Checkpoint::parse(&row.body, row.signature)?;
        cp.public_key_pem = self.public_key(&cp.key_id)?;
        Ok(cp)
    }

    /// The stored bytes of the observation with this digest (`sha256:<hex>`).
    pub fn observation(&self, digest: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT observation FROM observations WHERE digest = ?1",
                [digest],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Number of stored observations.
    pub fn observation_count(&self) -> Result<u64, LedgerError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM observations", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// Call `f` on each stored `(digest, bytes)` observation, in digest order.
    pub fn for_each_observation(
        &self,
        mut f: impl FnMut(String, Vec<u8>) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT digest, observation FROM observations ORDER BY digest")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            f(r.get(0)?, r.get(1)?)?;
        }
        Ok(())
    }

    /// Whether an observation with this digest is stored.
    pub fn has_observation(&self, digest: &str) -> Result<bool, LedgerError> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM observations WHERE digest = ?1")?
            .exists([digest])?)
    }

    /// All registered public keys as `(key id, PEM)`, in the order added.
    pub fn public_keys(&self) -> Result<Vec<(String, String)>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT key_id, public_key_pem FROM keys ORDER BY added_at, key_id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The public key (PEM) registered under `key_id`.
    pub fn public_key(&self, key_id: &str) -> Result<Option<String>, LedgerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT public_key_pem FROM keys WHERE key_id = ?1",
                [key_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn has_table(&self, name: &str) -> Result<bool, LedgerError> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?
            .exists([name])?)
    }

    /// The stored checkpoint row with this sequence number.
    pub fn stored_checkpoint(&self, seq: i64) -> Result<Option<StoredCheckpoint>, LedgerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT seq, tree_size, body, signature FROM checkpoints WHERE seq = ?1",
                [seq],
                row_to_checkpoint,
            )
            .optional()?)
    }

    /// Store the RFC 3161 token of checkpoint `seq`, after checking that
    /// its message imprint is SHA-256 of the checkpoint body. A checkpoint
    /// keeps the first token stored for it; storing another is a no-op.
    /// Returns whether the token was stored.
    pub fn add_timestamp(
        &self,
        seq: i64,
        token: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        let row = self
            .stored_checkpoint(seq)?
            .ok_or(LedgerError::CheckpointNotFound(seq))?;
        let info = crate::timestamp::check_token(token, &row.body)
            .map_err(|source| LedgerError::Timestamp { seq, source })?;
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO timestamps (checkpoint_seq, token, gen_time, added_at) VALUES (?1, ?2, ?3, ?4)",
            params![seq, token, format_time(info.gen_time), format_time(now)],
        )?;
        Ok(n == 1)
    }

    /// Every stored token as `(checkpoint seq, token)`, in checkpoint order.
    pub fn timestamps(&self) -> Result<Vec<(i64, Vec<u8>)>, LedgerError> {
        if !self.has_table("timestamps")? {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare("SELECT checkpoint_seq, token FROM timestamps ORDER BY checkpoint_seq")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The token of checkpoint `seq`, if it has one.
    pub fn timestamp_of(&self, seq: i64) -> Result<Option<Vec<u8>>, LedgerError> {
        if !self.has_table("timestamps")? {
            return Ok(None);
        }
        Ok(self
            .conn
            .query_row(
                "SELECT token FROM timestamps WHERE checkpoint_seq = ?1",
                [seq],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The sequence number of the latest checkpoint.
    pub fn latest_checkpoint_seq(&self) -> Result<Option<i64>, LedgerError> {
        Ok(latest_checkpoint_row(&self.conn)?.map(|r| r.seq))
    }

    /// Checkpoints without a timestamp token, newest first (the one packs
    /// use is timestamped first; a backlog drains run by run), at most `limit`.
    pub fn checkpoints_without_timestamp(
        &self,
        limit: usize,
    ) -> Result<Vec<PendingCheckpoint>, LedgerError> {
        self.pending_where(
            "SELECT c.seq, c.tree_size, c.body, c.signature FROM checkpoints c
             WHERE NOT EXISTS (SELECT 1 FROM timestamps t WHERE t.checkpoint_seq = c.seq)
             ORDER BY c.seq DESC LIMIT ?1",
            params![limit as i64],
        )
    }

    /// How many checkpoints have no timestamp token.
    pub fn count_without_timestamp(&self) -> Result<u64, LedgerError> {
        let n: i64 = if self.has_table("timestamps")? {
            self.conn.query_row(
                "SELECT COUNT(*) FROM checkpoints c WHERE NOT EXISTS (SELECT 1 FROM timestamps t WHERE t.checkpoint_seq = c.seq)",
                [],
                |r| r.get(0),
            )?
        } else {
            self.conn
                .query_row("SELECT COUNT(*) FROM checkpoints", [], |r| r.get(0))?
        };
        Ok(n as u64)
    }

    /// Checkpoints still to publish to `sink`, oldest first, at most
    /// `limit`: those never published there, and those published before
    /// their token was obtained (to publish the token).
    pub fn unpublished(
        &self,
        sink: &str,
        limit: usize,
    ) -> Result<Vec<PendingCheckpoint>, LedgerError> {
        self.pending_where(
            "SELECT c.seq, c.tree_size, c.body, c.signature FROM checkpoints c
             WHERE NOT EXISTS (SELECT 1 FROM publications p WHERE p.sink = ?1 AND p.checkpoint_seq = c.seq)
                OR (EXISTS (SELECT 1 FROM timestamps t WHERE t.checkpoint_seq = c.seq)
                    AND NOT EXISTS (SELECT 1 FROM publications p WHERE p.sink = ?1 AND p.checkpoint_seq = c.seq AND p.with_token = 1))
             ORDER BY c.seq LIMIT ?2",
            params![sink, limit as i64],
        )
    }

    /// How many checkpoints [`Ledger::unpublished`] would return without a limit.
    pub fn count_unpublished(&self, sink: &str) -> Result<u64, LedgerError> {
        Ok(self.unpublished(sink, usize::MAX >> 1)?.len() as u64)
    }

    /// Record that checkpoint `seq` was published to `sink` (with its token or not).
    pub fn mark_published(
        &self,
        sink: &str,
        seq: i64,
        with_token: bool,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO publications (sink, checkpoint_seq, with_token, published_at) VALUES (?1, ?2, ?3, ?4)",
            params![sink, seq, with_token as i64, format_time(now)],
        )?;
        Ok(())
    }

    fn pending_where(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<PendingCheckpoint>, LedgerError> {
        if !self.has_table("timestamps")? || !self.has_table("publications")? {
            return Err(LedgerError::Corrupt(
                "the ledger lacks the timestamps and publications tables; open it for writing once"
                    .into(),
            ));
        }
        let rows: Vec<StoredCheckpoint> = {
            let mut stmt = self.conn.prepare(sql)?;
            let rows = stmt.query_map(params, row_to_checkpoint)?;
            rows.collect::<Result<_, _>>()?
        };
        rows.into_iter()
            .map(|row| {
                let seq = row.seq;
                let token = self.timestamp_of(seq)?;
                Ok(PendingCheckpoint {
                    seq,
                    checkpoint: self.checkpoint_from_row(row)?,
                    token,
                })
            })
            .collect()
    }
}

/// Check a rotation record about to be appended with `signer_key_id`.
fn check_rotation(
    k: &crate::record::KeyRotationRecord,
    signer_key_id: &str,
) -> Result<(), LedgerError> {
    let bad = |reason: String| LedgerError::InvalidRotation {
        record_id: k.record_id.clone(),
        reason,
    };
    if k.previous_key_id != signer_key_id {
        return Err(bad(format!(
            "it retires key {} but the run is signed by {signer_key_id}",
            k.previous_key_id
        )));
    }
    crate::rotation::check_rotation_record(k).map_err(bad)
}

/// The rotation records of the ledger, in leaf order, as
/// `(leaf index, previous key id, new key id)`; records that do not parse are
/// skipped (the verifier reports them).
fn rotations(conn: &Connection) -> Result<Vec<(u64, String, String)>, LedgerError> {
    let mut stmt = conn.prepare_cached(
        "SELECT idx, record FROM leaves WHERE record_type = 'key_rotation' ORDER BY idx",
    )?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let idx: i64 = r.get(0)?;
        let bytes: Vec<u8> = r.get(1)?;
        if let Ok(Record::KeyRotation(k)) = Record::from_bytes(&bytes) {
            out.push((idx as u64, k.previous_key_id, k.new_key_id));
        }
    }
    Ok(out)
}

/// The key the next checkpoint must be signed with: the latest checkpoint's
/// key, followed along the rotation records that hand over from it.
fn current_key_id(conn: &Connection, latest_key_id: &str) -> Result<String, LedgerError> {
    let mut current = latest_key_id.to_string();
    for (_, previous, new) in rotations(conn)? {
        if previous == current {
            current = new;
        }
    }
    Ok(current)
}

fn parse_leaf(l: StoredLeaf) -> Result<(u64, Record), LedgerError> {
    match Record::from_bytes(&l.bytes) {
        Ok(r) => Ok((l.index, r)),
        Err(source) => Err(LedgerError::CorruptRecord {
            index: l.index,
            record_id: l.record_id,
            source,
        }),
    }
}

fn row_to_checkpoint(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredCheckpoint> {
    Ok(StoredCheckpoint {
        seq: r.get(0)?,
        tree_size: r.get(1)?,
        body: r.get(2)?,
        signature: r.get(3)?,
    })
}

fn latest_checkpoint_row(conn: &Connection) -> Result<Option<StoredCheckpoint>, LedgerError> {
    Ok(conn
        .query_row(
            "SELECT seq, tree_size, body, signature FROM checkpoints ORDER BY seq DESC LIMIT 1",
            [],
            row_to_checkpoint,
        )
        .optional()?)
}

fn load_leaf_hashes(conn: &Connection) -> Result<Vec<Hash>, LedgerError> {
    let mut stmt = conn.prepare_cached("SELECT idx, leaf_hash FROM leaves ORDER BY idx")?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let idx: i64 = r.get(0)?;
        let blob: Vec<u8> = r.get(1)?;
        out.push(hash_from_blob(&blob, idx as u64)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{empty_root, verify_consistency, verify_inclusion};
    use crate::signing::{MemorySigner, SignError};
    use crate::test_support::{finding, observation, soa, t0};

    struct FailingSigner<'a>(&'a MemorySigner);
    impl Signer for FailingSigner<'_> {
        fn key_id(&self) -> &str {
            self.0.key_id()
        }
        fn public_key_pem(&self) -> &str {
            self.0.public_key_pem()
        }
        fn sign(&self, _msg: &[u8]) -> Result<Vec<u8>, SignError> {
            Err(SignError::Backend("hardware token unplugged".into()))
        }
    }

    #[test]
    fn a_ledger_being_created_is_never_seen_half_made_and_concurrent_creators_share_one() {
        for round in 0..20 {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("l.db");
            let (p1, p2) = (path.clone(), path.clone());
            let creators: Vec<_> = [p1, p2]
                .into_iter()
                .map(|p| std::thread::spawn(move || Ledger::open(p).map(|_| ())))
                .collect();
            // A reader polling meanwhile sees no file or a whole ledger.
            let mut seen_ledger = false;
            for _ in 0..200 {
                match Ledger::open_read_only(&path) {
                    Ok(_) => seen_ledger = true,
                    Err(LedgerError::NotFound(_)) => {}
                    Err(e) => panic!("round {round}: a reader saw {e}"),
                }
            }
            for c in creators {
                c.join().expect("thread").expect("create");
            }
            assert!(seen_ledger || Ledger::open_read_only(&path).is_ok());
            let mut l = Ledger::open(&path).expect("open");
            let signer = MemorySigner::generate().expect("key");
            l.append_run(&[], &[], &signer, "agent", t0())
                .expect("append");
            // Only the ledger and SQLite's own files are left behind.
            for entry in std::fs::read_dir(dir.path()).expect("dir") {
                let name = entry
                    .expect("entry")
                    .file_name()
                    .into_string()
                    .expect("utf8");
                assert!(name.starts_with("l.db"), "left behind: {name}");
            }
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "a new ledger is for its owner only");
            }
        }
    }

    fn state(l: &Ledger) -> (u64, usize, u64) {
        (
            l.len().expect("len"),
            l.checkpoints().expect("cps").len(),
            l.observation_count().expect("obs"),
        )
    }

    #[test]
    fn append_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ledger.db");
        let signer = MemorySigner::generate().expect("key");
        let mut l = Ledger::open(&path).expect("open");
        assert_eq!(l.len().expect("len"), 0);
        assert!(l.latest_checkpoint().expect("latest").is_none());

        let (d1, o1) = observation(1);
        let (d2, o2) = observation(2);
        let recs = vec![finding("r1", &d1), soa("r2"), finding("r3", &d2)];
        let cp = l
            .append_run(
                &[(d1.clone(), o1.clone()), (d2.clone(), o2.clone())],
                &recs,
                &signer,
                "agent-1",
                t0(),
            )
            .expect("append");
        assert_eq!(cp.tree_size, 3);
        cp.verify(Some(signer.public_key_pem())).expect("signed");
        assert_eq!(
            cp.root_hash,
            MerkleTree::from_leaves(recs.iter().map(|r| r.to_canonical())).current_root()
        );

        // Second run reuses a stored observation.
        let cp2 = l
            .append_run(&[], &[finding("r4", &d1)], &signer, "agent-1", t0())
            .expect("append 2");
        assert_eq!(cp2.tree_size, 4);
        drop(l);

        let l = Ledger::open_read_only(&path).expect("open ro");
        assert_eq!(l.len().expect("len"), 4);
        let all = l.records().expect("records");
        assert_eq!(all.len(), 4);
        assert_eq!(all[1], (1, recs[1].clone()));
        assert_eq!(
            l.records_raw().expect("raw")[2],
            (2, recs[2].to_canonical())
        );
        assert_eq!(
            l.record_by_id("r3").expect("by id"),
            Some((2, recs[2].clone()))
        );
        assert_eq!(l.record_by_id("nope").expect("by id"), None);
        assert_eq!(l.observation(&d2).expect("obs"), Some(o2));
        assert_eq!(l.observation("sha256:00").expect("obs"), None);
        assert_eq!(l.observation_count().expect("count"), 2);
        assert_eq!(
            l.public_keys().expect("keys"),
            vec![(
                signer.key_id().to_string(),
                signer.public_key_pem().to_string()
            )]
        );
        let cps = l.checkpoints().expect("cps");
        assert_eq!(cps.len(), 2);
        assert_eq!(cps[0].body, cp.body);
        let latest = l.latest_checkpoint().expect("latest").expect("some");
        assert_eq!(latest.body, cp2.body);
        assert_eq!(
            latest.public_key_pem.as_deref(),
            Some(signer.public_key_pem())
        );

        // Proofs from the ledger verify against the checkpoints.
        let proof = l.consistency_proof(3, 4).expect("consistency");
        assert!(verify_consistency(
            3,
            4,
            &cp.root_hash,
            &cp2.root_hash,
            &proof
        ));
        for i in 0..4 {
            let p = l.inclusion_proof(i, 4).expect("inclusion");
            let leaf = leaf_hash(&l.records_raw().expect("raw")[i as usize].1);
            assert!(verify_inclusion(i, 4, &leaf, &p, &cp2.root_hash));
        }
    }

    #[test]
    fn empty_run_is_still_attested() {
        let dir = tempfile::tempdir().expect("tempdir");
        let signer = MemorySigner::generate().expect("key");
        let mut l = Ledger::open(dir.path().join("l.db")).expect("open");
        let cp = l
            .append_run(&[], &[], &signer, "agent-1", t0())
            .expect("append");
        assert_eq!(cp.tree_size, 0);
        assert_eq!(cp.root_hash, empty_root());
        let cp = l
            .append_run(&[], &[], &signer, "agent-1", t0())
            .expect("append");
        assert_eq!(cp.tree_size, 0);
        assert_eq!(state(&l), (0, 2, 0));
    }

    #[test]
    fn rejected_runs_leave_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let signer = MemorySigner::generate().expect("key");
        let mut l = Ledger::open(dir.path().join("l.db")).expect("open");
        let (d1, o1) = observation(1);
        let (d2, o2) = observation(2);
        l.append_run(
            &[(d1.clone(), o1.clone())],
            &[finding("a", &d1)],
            &signer,
            "agent-1",
            t0(),
        )
        .expect("first");
        let before = state(&l);

        let err = l
            .append_run(
                &[(d2.clone(), o2.clone())],
                &[soa("b"), finding("c", &observation(9).0)],
                &signer,
                "agent-1",
                t0(),
            )
            .expect_err("missing observation");
        assert!(
            matches!(err, LedgerError::MissingObservation { ref record_id, .. } if record_id == "c"),
            "{err}"
        );
        let err = l
            .append_run(&[], &[soa("a")], &signer, "agent-1", t0())
            .expect_err("dup across runs");
        assert!(matches!(err, LedgerError::DuplicateRecordId(ref id) if id == "a"));
        let err = l
            .append_run(&[], &[soa("x"), soa("x")], &signer, "agent-1", t0())
            .expect_err("dup in run");
        assert!(matches!(err, LedgerError::DuplicateRecordId(_)));
        let err = l
            .append_run(
                &[(d1.clone(), o2.clone())],
                &[soa("y")],
                &signer,
                "agent-1",
                t0(),
            )
            .expect_err("digest mismatch");
        assert!(matches!(err, LedgerError::ObservationDigestMismatch { .. }));
        let err = l
            .append_run(
                &[(d2.clone(), o2.clone())],
                &[soa("z")],
                &signer,
                "bad agent",
                t0(),
            )
            .expect_err("bad agent id");
        assert!(matches!(
            err,
            LedgerError::Checkpoint(CheckpointError::InvalidAgentId(_))
        ));
        // Failure at the very end (signing), after leaves were inserted.
        let failing = FailingSigner(&signer);
        let err = l
            .append_run(
                &[(d2.clone(), o2.clone())],
                &[finding("d", &d2)],
                &failing,
                "agent-1",
                t0(),
            )
            .expect_err("sign fails");
        assert!(err.to_string().contains("unplugged"));
        assert_eq!(state(&l), before);
        assert_eq!(l.public_keys().expect("keys").len(), 1);
        assert_eq!(l.observation(&d2).expect("obs"), None);
    }

    #[test]
    fn read_only_open_never_creates_and_works_on_read_only_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("l.db");
        assert!(matches!(
            Ledger::open_read_only(&path),
            Err(LedgerError::NotFound(_))
        ));
        assert!(!path.exists());
        let signer = MemorySigner::generate().expect("key");
        let mut l = Ledger::open(&path).expect("open");
        l.append_run(&[], &[soa("a")], &signer, "agent-1", t0())
            .expect("append");
        drop(l);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).expect("chmod");
        let l = Ledger::open_read_only(&path).expect("read-only open");
        assert_eq!(l.len().expect("len"), 1);
    }

    #[test]
    fn refuses_newer_schema_and_foreign_databases() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("l.db");
        drop(Ledger::open(&path).expect("open"));
        Connection::open(&path)
            .expect("raw")
            .pragma_update(None, "user_version", 2)
            .expect("bump");
        for r in [Ledger::open(&path), Ledger::open_read_only(&path)] {
            let err = r.expect_err("newer");
            assert!(
                matches!(err, LedgerError::UnsupportedSchemaVersion { found: 2, .. }),
                "{err}"
            );
        }
        let other = dir.path().join("other.db");
        Connection::open(&other)
            .expect("raw")
            .execute_batch("CREATE TABLE t (x);")
            .expect("table");
        assert!(matches!(
            Ledger::open(&other),
            Err(LedgerError::NotALedger(_))
        ));
        assert!(matches!(
            Ledger::open_read_only(&other),
            Err(LedgerError::NotALedger(_))
        ));
    }

    #[test]
    fn pragmas_and_append_only_triggers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("l.db");
        let signer = MemorySigner::generate().expect("key");
        let mut l = Ledger::open(&path).expect("open");
        l.append_run(&[], &[soa("a")], &signer, "agent-1", t0())
            .expect("append");
        let mode: String = l
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "wal");
        let sync: i64 = l
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .expect("sync");
        assert_eq!(sync, 2, "FULL");
        assert!(l
            .conn
            .execute("UPDATE leaves SET record = x'00'", [])
            .is_err());
        assert!(l.conn.execute("DELETE FROM leaves", []).is_err());
        assert!(l.conn.execute("DELETE FROM checkpoints", []).is_err());
        assert!(l.conn.execute("DELETE FROM keys", []).is_err());
        assert_eq!(l.len().expect("len"), 1);
    }

    #[test]
    fn refuses_to_sign_over_a_rewritten_ledger() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("l.db");
        let signer = MemorySigner::generate().expect("key");
        let mut l = Ledger::open(&path).expect("open");
        l.append_run(&[], &[soa("a"), soa("b")], &signer, "agent-1", t0())
            .expect("append");
        // Tampering comes from another connection (the sqlite3 shell, say).
        Connection::open(&path)
            .expect("raw")
            .execute_batch("DROP TRIGGER leaves_no_update; UPDATE leaves SET leaf_hash = zeroblob(32) WHERE idx = 1;")
            .expect("tamper");
        let err = l
            .append_run(&[], &[soa("c")], &signer, "agent-1", t0())
            .expect_err("refuses");
        assert!(matches!(err, LedgerError::Corrupt(_)), "{err}");
    }

    /// Insert a leaf behind the ledger's back (as an editor of the file would).
    fn forge_leaf(path: &Path, idx: u64, rec: &Record) {
        let bytes = rec.to_canonical();
        Connection::open(path)
            .expect("raw")
            .execute(
                "INSERT INTO leaves (idx, record_id, record_type, recorded_at, leaf_hash, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    idx as i64,
                    rec.record_id(),
                    rec.record_type(),
                    format_time(rec.recorded_at()),
                    &leaf_hash(&bytes)[..],
                    bytes
                ],
            )
            .expect("forge");
    }

    #[test]
    fn regression_append_run_refuses_records_past_the_latest_checkpoint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("l.db");
        let signer = MemorySigner::generate().expect("key");
        let mut l = Ledger::open(&path).expect("open");
        l.append_run(&[], &[soa("a"), soa("b")], &signer, "agent-1", t0())
            .expect("append");
        forge_leaf(&path, 2, &soa("forged"));
        forge_leaf(&path, 3, &soa("forged-2"));
        for _ in 0..2 {
            let err = l
                .append_run(&[], &[soa("c")], &signer, "agent-1", t0())
                .expect_err("refuses");
            assert!(
                matches!(err, LedgerError::UncoveredRecords { from: 2, to: 4 }),
                "{err}"
            );
            let msg = err.to_string();
            assert!(
                msg.contains("#2..#3") && msg.contains("evident verify"),
                "{msg}"
            );
            assert_eq!(l.checkpoints().expect("cps").len(), 1, "nothing signed");
        }
        // A fresh handle refuses too.
        let mut l = Ledger::open(&path).expect("reopen");
        assert!(matches!(
            l.append_run(&[], &[soa("c")], &signer, "agent-1", t0()),
            Err(LedgerError::UncoveredRecords { from: 2, to: 4 })
        ));
    }

    #[test]
    fn regression_append_run_refuses_records_without_any_checkpoint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("l.db");
        let signer = MemorySigner::generate().expect("key");
        let mut l = Ledger::open(&path).expect("open");
        forge_leaf(&path, 0, &soa("forged"));
        let err = l
            .append_run(&[], &[soa("a")], &signer, "agent-1", t0())
            .expect_err("refuses");
        assert!(
            matches!(err, LedgerError::UncoveredRecords { from: 0, to: 1 }),
            "{err}"
        );
        assert!(l.checkpoints().expect("cps").is_empty());
    }

    #[test]
    fn regression_append_run_refuses_a_changed_signing_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("l.db");
        let a = MemorySigner::generate().expect("key");
        let b = MemorySigner::generate().expect("key");
        let mut l = Ledger::open(&path).expect("open");
        l.append_run(&[], &[soa("a")], &a, "agent-1", t0())
            .expect("append");
        let err = l
            .append_run(&[], &[soa("b")], &b, "agent-1", t0())
            .expect_err("refuses");
        assert!(
            matches!(err, LedgerError::SigningKeyChanged { ref ledger_key_id, ref signer_key_id }
                if ledger_key_id == a.key_id() && signer_key_id == b.key_id()),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "the signing key changed: the ledger is signed by {}, the key file is {}; restore the key or rotate it with `evident key rotate`",
                a.key_id(),
                b.key_id()
            )
        );
        assert_eq!(state(&l), (1, 1, 0));
        assert_eq!(l.public_keys().expect("keys").len(), 1, "B not registered");
        // A fresh handle refuses too.
        let mut l = Ledger::open(&path).expect("reopen");
        assert!(matches!(
            l.append_run(&[], &[soa("b")], &b, "agent-1", t0()),
            Err(LedgerError::SigningKeyChanged { .. })
        ));
    }

    #[test]
    fn rotation_hands_the_ledger_over_to_the_new_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("l.db");
        let a = MemorySigner::generate().expect("key");
        let b = MemorySigner::generate().expect("key");
        let c = MemorySigner::generate().expect("key");
        let mut l = Ledger::open(&path).expect("open");
        l.append_run(&[], &[soa("a")], &a, "agent-1", t0())
            .expect("append");
        // Only the current key can rotate.
        assert!(matches!(
            l.rotate_key(&b, c.public_key_pem(), "agent-1", "evident test", t0()),
            Err(LedgerError::SigningKeyChanged { .. })
        ));
        let cp = l
            .rotate_key(&a, b.public_key_pem(), "agent-1", "evident test", t0())
            .expect("rotate");
        assert_eq!(
            cp.key_id,
            a.key_id(),
            "the rotation is signed by the old key"
        );
        assert_eq!(
            l.current_key_id().expect("current").as_deref(),
            Some(b.key_id())
        );
        let err = l
            .append_run(&[], &[soa("b")], &a, "agent-1", t0())
            .expect_err("old key refused");
        assert!(
            matches!(err, LedgerError::KeyRotatedAway { ref rotated_to, .. } if rotated_to == b.key_id()),
            "{err}"
        );
        let cp = l
            .append_run(&[], &[soa("b")], &b, "agent-1", t0())
            .expect("new key");
        assert_eq!(cp.key_id, b.key_id());
        let rots = l.key_rotations().expect("rotations");
        assert_eq!(rots.len(), 1);
        assert_eq!(rots[0].0, 1);
        // A rotation record that does not retire the signer's key is refused.
        let mut bad = rots[0].1.clone();
        bad.record_id = "bad".into();
        assert!(matches!(
            l.append_run(&[], &[Record::KeyRotation(bad)], &b, "agent-1", t0()),
            Err(LedgerError::InvalidRotation { .. })
        ));
    }

    #[test]
    fn timestamps_are_checked_stored_once_and_publications_track_tokens() {
        use crate::timestamp::test_tsa::OpensslTsa;
        use crate::timestamp::{check_response, TimestampRequest};
        let dir = tempfile::tempdir().expect("tempdir");
        let signer = MemorySigner::generate().expect("key");
        let mut l = Ledger::open(dir.path().join("l.db")).expect("open");
        l.append_run(&[], &[soa("a")], &signer, "agent-1", t0())
            .expect("run 1");
        l.append_run(&[], &[soa("b")], &signer, "agent-1", t0())
            .expect("run 2");
        let pending = l.checkpoints_without_timestamp(10).expect("pending");
        assert_eq!(
            pending.iter().map(|p| p.seq).collect::<Vec<_>>(),
            vec![2, 1],
            "newest first"
        );
        assert_eq!(l.count_without_timestamp().expect("count"), 2);
        assert_eq!(l.unpublished("share", 10).expect("unpublished").len(), 2);

        let tsa = OpensslTsa::new();
        let token_for = |body: &[u8]| {
            let req = TimestampRequest::for_data(body, None);
            let resp = tsa.reply(&req.to_der().expect("der"));
            check_response(&resp, &req, body).expect("granted").0
        };
        let t2 = token_for(&pending[0].checkpoint.body);
        // A token for another checkpoint is refused and nothing is stored.
        let err = l.add_timestamp(1, &t2, t0()).expect_err("wrong imprint");
        assert!(
            matches!(err, LedgerError::Timestamp { seq: 1, .. }),
            "{err}"
        );
        assert!(matches!(
            l.add_timestamp(99, &t2, t0()),
            Err(LedgerError::CheckpointNotFound(99))
        ));
        assert!(l.add_timestamp(2, &t2, t0()).expect("stored"));
        assert!(!l.add_timestamp(2, &t2, t0()).expect("kept once"));
        assert_eq!(l.timestamp_of(2).expect("token"), Some(t2.clone()));
        assert_eq!(l.count_without_timestamp().expect("count"), 1);
        assert!(
            l.conn.execute("DELETE FROM timestamps", []).is_err(),
            "append-only"
        );

        // Published without the token, then the token arrives: pending again.
        l.mark_published("share", 1, false, t0()).expect("mark");
        l.mark_published("share", 2, true, t0()).expect("mark");
        assert!(l.unpublished("share", 10).expect("unpublished").is_empty());
        assert_eq!(l.count_unpublished("other").expect("count"), 2);
        let t1 = token_for(&l.stored_checkpoint(1).expect("cp").expect("some").body);
        l.add_timestamp(1, &t1, t0()).expect("stored");
        let again = l.unpublished("share", 10).expect("unpublished");
        assert_eq!(again.len(), 1);
        assert_eq!(
            (again[0].seq, again[0].token.as_deref()),
            (1, Some(&t1[..]))
        );
        l.mark_published("share", 1, true, t0()).expect("mark");
        assert_eq!(l.count_unpublished("share").expect("count"), 0);
        drop(l);
        // A read-only handle sees the same.
        let ro = Ledger::open_read_only(dir.path().join("l.db")).expect("ro");
        assert_eq!(ro.timestamps().expect("tokens").len(), 2);
    }
}
