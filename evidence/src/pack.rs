//! Evidence packs: a directory an auditor verifies offline with standard
//! tools (`sha256sum -c`, `openssl dgst`) and with `evident-verify pack`.
//!
//! The layout (normative description: `docs/evidence-format.md`):
//!
//! ```text
//! VERIFY.md                 how to check the pack, with the exact commands
//! SHA256SUMS                sha256sum(1) lines over every other file
//! SHA256SUMS.sig            DER ECDSA P-256/SHA-256 signature over SHA256SUMS
//! signer.pub.pem            the key that signed SHA256SUMS.sig
//! checkpoint/               the ledger's latest signed checkpoint (the pack's)
//! leaf-hashes.txt           every leaf hash up to the pack checkpoint (hex, one a line)
//! records.jsonl             the records of the period, canonical JSON, one a line
//! soa-decisions.jsonl       every SoA decision recorded up to the end of the period
//! proofs/<index>.json       a record proof (evident-record-proof/v1) per record above
//! observations/<hex>.json   the observations the period's findings cite
//! keys/<key id>.pem         every signing key of the chain
//! key-rotations/<index>.json  proof of each rotation record under the old key's checkpoint
//! since-checkpoint/         (optional) the auditor's saved checkpoint
//! consistency.json          (optional) RFC 9162 consistency proof from it
//! <extra files>             added by the caller (SoA exports, OSCAL, drift report)
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::canonical::sha256_digest;
use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::ledger::{Ledger, LedgerError};
use crate::merkle::{leaf_hash, verify_consistency, verify_inclusion, Hash, MerkleTree};
use crate::proof::{verify_record_proof, RecordProof};
use crate::record::{format_time, Record};
use crate::rotation::check_rotation_record;
use crate::signing::{canonical_public_key_pem, key_id_of_pem, verify_signature, Signer};
use crate::timestamp::{check_token, TOKEN_FILE};

/// The checksum file.
pub const SUMS_FILE: &str = "SHA256SUMS";
/// Its detached signature.
pub const SUMS_SIG_FILE: &str = "SHA256SUMS.sig";
/// The public key of the signature over `SHA256SUMS`.
pub const SIGNER_KEY_FILE: &str = "signer.pub.pem";
/// Instructions for the auditor.
pub const VERIFY_FILE: &str = "VERIFY.md";

/// Names the pack writes itself; [`PackBuilder::add_file`] refuses them.
const RESERVED: &[&str] = &[
    SUMS_FILE,
    SUMS_SIG_FILE,
    SIGNER_KEY_FILE,
    VERIFY_FILE,
    "checkpoint",
    "leaf-hashes.txt",
    "records.jsonl",
    "soa-decisions.jsonl",
    "proofs",
    "observations",
    "keys",
    "key-rotations",
    "since-checkpoint",
    "consistency.json",
    "timestamps",
    TSA_CA_FILE,
];

/// The TSA's CA certificate, when the agent was configured with one.
pub const TSA_CA_FILE: &str = "tsa-ca.pem";

/// A pack error (writing, or reading a pack so broken it cannot be checked).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackError {
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A checkpoint failed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// An extra file's name is not a plain relative path or is reserved.
    #[error("cannot add {0:?} to a pack: names must be relative paths of plain components, not one of the pack's own files")]
    BadFileName(String),
    /// The same extra file was added twice.
    #[error("{0:?} was added to the pack twice")]
    DuplicateFile(String),
    /// The output directory exists and is not empty.
    #[error("{0} exists and is not empty")]
    OutputNotEmpty(PathBuf),
    /// The ledger has no checkpoint, or its latest one does not match its records.
    #[error("cannot pack this ledger: {0}; run `evident verify`")]
    Unpackable(String),
    /// The signer failed.
    #[error("signing SHA256SUMS: {0}")]
    Sign(String),
    /// An archive name that does not end in `.tar.gz` or `.tgz`.
    #[error("{0}: a pack archive's name must end in .tar.gz or .tgz")]
    BadArchiveName(PathBuf),
    /// A tarball that cannot be read safely.
    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PackError + '_ {
    move |source| PackError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a written pack contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackSummary {
    /// Records of the period.
    pub records: u64,
    /// SoA decisions up to the end of the period.
    pub soa_decisions: u64,
    /// Observations included.
    pub observations: u64,
    /// Size of the pack checkpoint.
    pub tree_size: u64,
    /// Files listed in `SHA256SUMS`.
    pub files: u64,
    /// RFC 3161 tokens included (of the pack checkpoint and of the
    /// period's timestamped checkpoints).
    pub timestamps: u64,
}

/// Builds an evidence pack from a ledger.
#[derive(Debug)]
pub struct PackBuilder<'a> {
    ledger: &'a Ledger,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    since: Option<Checkpoint>,
    extra: BTreeMap<String, Vec<u8>>,
    tsa_ca: Option<Vec<u8>>,
}

/// The consistency proof file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyFile {
    first_size: u64,
    first_root: String,
    second_size: u64,
    second_root: String,
    proof: Vec<String>,
}

fn valid_name(name: &str) -> bool {
    let p = Path::new(name);
    !name.is_empty()
        && !name.contains('\\')
        && !name.contains('\n')
        && p.components().all(|c| matches!(c, Component::Normal(_)))
        && p.components()
            .next()
            .is_some_and(|c| !RESERVED.contains(&c.as_os_str().to_string_lossy().as_ref()))
}

impl<'a> PackBuilder<'a> {
    /// A pack of the records recorded in `[from, to)`.
    pub fn new(ledger: &'a Ledger, from: DateTime<Utc>, to: DateTime<Utc>) -> PackBuilder<'a> {
        PackBuilder {
            ledger,
            from,
            to,
            since: None,
            extra: BTreeMap::new(),
            tsa_ca: None,
        }
    }

    /// Also include the auditor's saved checkpoint and the consistency proof
    /// from it to the pack's checkpoint.
    pub fn since_checkpoint(mut self, saved: Checkpoint) -> PackBuilder<'a> {
        self.since = Some(saved);
        self
    }

    /// Include the TSA's CA certificate (PEM) as `tsa-ca.pem`, for the
    /// `openssl ts -verify` commands of `VERIFY.md`.
    pub fn tsa_ca(mut self, pem: Vec<u8>) -> PackBuilder<'a> {
        self.tsa_ca = Some(pem);
        self
    }

    /// Add a file (SoA export, OSCAL document, drift report, ...) under
    /// `name`, a relative path such as `soa/soa.csv`. It is listed in
    /// `SHA256SUMS` like every other file.
    pub fn add_file(&mut self, name: &str, bytes: Vec<u8>) -> Result<(), PackError> {
        if !valid_name(name) {
            return Err(PackError::BadFileName(name.to_string()));
        }
        if self.extra.insert(name.to_string(), bytes).is_some() {
            return Err(PackError::DuplicateFile(name.to_string()));
        }
        Ok(())
    }

    /// Write the pack into the directory `out` (created; must be empty if
    /// it exists) and sign `SHA256SUMS` with `signer`.
    pub fn write_dir(&self, out: &Path, signer: &dyn Signer) -> Result<PackSummary, PackError> {
        if out.exists() && fs::read_dir(out).map_err(io(out))?.next().is_some() {
            return Err(PackError::OutputNotEmpty(out.to_path_buf()));
        }
        let (files, summary, _) = self.build(signer, None)?;
        for (name, bytes) in &files {
            let path = out.join(name);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(io(parent))?;
            }
            fs::write(&path, bytes).map_err(io(&path))?;
        }
        Ok(summary)
    }

    /// Write the pack as a gzip tarball `out` (`NAME.tar.gz` or `NAME.tgz`;
    /// must not exist) whose entries all lie under the directory `NAME/`.
    /// The same pack gives the same bytes: sorted entries, the pack
    /// checkpoint's time as every mtime, uid/gid 0, modes 0644 and 0755.
    pub fn write_tar_gz(&self, out: &Path, signer: &dyn Signer) -> Result<PackSummary, PackError> {
        let Some(top) = crate::archive::archive_stem(out) else {
            return Err(PackError::BadArchiveName(out.to_path_buf()));
        };
        let (files, summary, mtime) = self.build(signer, Some(&top))?;
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(out)
            .map_err(|source| {
                if source.kind() == std::io::ErrorKind::AlreadyExists {
                    PackError::OutputNotEmpty(out.to_path_buf())
                } else {
                    PackError::Io {
                        path: out.to_path_buf(),
                        source,
                    }
                }
            })?;
        let written =
            crate::archive::write_tar_gz(file, &top, &files, mtime).and_then(|f| f.sync_all());
        if let Err(source) = written {
            let _ = fs::remove_file(out);
            return Err(PackError::Io {
                path: out.to_path_buf(),
                source,
            });
        }
        Ok(summary)
    }

    /// Write the pack to `out`: a gzip tarball when its name ends in
    /// `.tar.gz` or `.tgz`, else a directory.
    pub fn write(&self, out: &Path, signer: &dyn Signer) -> Result<PackSummary, PackError> {
        if crate::archive::archive_stem(out).is_some() {
            self.write_tar_gz(out, signer)
        } else {
            self.write_dir(out, signer)
        }
    }

    /// Every file of the pack, its summary, and the pack checkpoint's time
    /// (as seconds since the epoch, for archive mtimes).
    #[allow(clippy::type_complexity)]
    fn build(
        &self,
        signer: &dyn Signer,
        archive: Option<&str>,
    ) -> Result<(BTreeMap<String, Vec<u8>>, PackSummary, u64), PackError> {
        let l = self.ledger;
        let Some(cp) = l.latest_checkpoint()? else {
            return Err(PackError::Unpackable("the ledger has no checkpoint".into()));
        };
        let leaves = l.stored_leaves()?;
        let tree = MerkleTree::from_leaves(leaves.iter().map(|x| x.bytes.as_slice()));
        if cp.tree_size != tree.len() || tree.root(cp.tree_size).ok() != Some(cp.root_hash) {
            return Err(PackError::Unpackable(
                "its latest checkpoint does not match its records".into(),
            ));
        }
        let Some(cp_pem) = cp.public_key_pem.clone() else {
            return Err(PackError::Unpackable(format!(
                "the key {} of its latest checkpoint is not in the ledger",
                cp.key_id
            )));
        };
        let cp_pem = canonical_public_key_pem(&cp_pem).map_err(CheckpointError::from)?;
        let checkpoints = l.checkpoints()?;

        let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let proof_of = |index: u64, bytes: &[u8], against: &Checkpoint, pem: &str| {
            let record = String::from_utf8(bytes.to_vec())
                .map_err(|_| PackError::Unpackable(format!("record #{index} is not UTF-8")))?;
            let record_id = Record::from_bytes(bytes)
                .map_err(|e| PackError::Unpackable(format!("record #{index}: {e}")))?
                .record_id()
                .to_string();
            let body = String::from_utf8(against.body.clone())
                .map_err(|_| PackError::Unpackable("checkpoint body is not UTF-8".into()))?;
            Ok::<_, PackError>(RecordProof {
                record_id,
                record,
                leaf_index: index,
                inclusion_proof: tree
                    .inclusion_proof(index, against.tree_size)
                    .map_err(LedgerError::from)?,
                checkpoint: body,
                checkpoint_signature: against.signature.clone(),
                public_key_pem: pem.to_string(),
                key_rotations: Vec::new(),
            })
        };

        let mut records = Vec::new();
        let mut soa = Vec::new();
        let mut digests = BTreeSet::new();
        let mut proved = BTreeSet::new();
        let mut rotations = Vec::new();
        for leaf in &leaves {
            let rec = Record::from_bytes(&leaf.bytes).map_err(|e| {
                PackError::Unpackable(format!("record #{} does not parse: {e}", leaf.index))
            })?;
            let at = rec.recorded_at();
            let in_period = at >= self.from && at < self.to;
            if in_period {
                records.extend_from_slice(&leaf.bytes);
                records.push(b'\n');
                proved.insert(leaf.index);
                if let Record::Finding(f) = &rec {
                    digests.insert(f.observation_digest.clone());
                }
            }
            if let Record::SoaDecision(_) = &rec {
                if at < self.to {
                    soa.extend_from_slice(&leaf.bytes);
                    soa.push(b'\n');
                    proved.insert(leaf.index);
                }
            }
            if let Record::KeyRotation(k) = &rec {
                rotations.push((leaf.index, k.clone()));
            }
        }
        let n_records = records.iter().filter(|&&b| b == b'\n').count() as u64;
        let n_soa = soa.iter().filter(|&&b| b == b'\n').count() as u64;
        // Each rotation proven under the first checkpoint covering it
        // (signed by the key it retires), carried in every record proof so
        // that `evident-verify record --key <first key>` follows the chain.
        let mut rotation_proofs = Vec::new();
        for (index, k) in &rotations {
            let Some(under) = checkpoints.iter().find(|c| c.tree_size > *index) else {
                continue;
            };
            let pem = under.public_key_pem.clone().ok_or_else(|| {
                PackError::Unpackable(format!("key {} is not in the ledger", under.key_id))
            })?;
            let pem = canonical_public_key_pem(&pem).map_err(CheckpointError::from)?;
            let p = proof_of(*index, &leaves[*index as usize].bytes, under, &pem)?;
            rotation_proofs.push((*index, p, k.clone()));
        }
        for &index in &proved {
            let mut p = proof_of(index, &leaves[index as usize].bytes, &cp, &cp_pem)?;
            p.key_rotations = rotation_proofs.iter().map(|(_, r, _)| r.clone()).collect();
            files.insert(format!("proofs/{index:08}.json"), p.to_json_bytes());
        }
        files.insert("records.jsonl".into(), records);
        files.insert("soa-decisions.jsonl".into(), soa);
        for d in &digests {
            let bytes = l.observation(d)?.ok_or_else(|| {
                PackError::Unpackable(format!("observation {d} is not in the ledger"))
            })?;
            let hex = d.strip_prefix("sha256:").unwrap_or(d);
            files.insert(format!("observations/{hex}.json"), bytes);
        }

        // Keys: every stored key, and each rotation proven under the old key.
        for (kid, pem) in l.public_keys()? {
            files.insert(format!("keys/{kid}.pem"), pem.into_bytes());
        }
        for (index, p, k) in &rotation_proofs {
            files.insert(format!("key-rotations/{index:08}.json"), p.to_json_bytes());
            files.insert(
                format!("keys/{}.pem", k.new_key_id),
                k.new_public_key_pem.clone().into_bytes(),
            );
        }

        files.insert("checkpoint/checkpoint".into(), cp.body.clone());
        files.insert("checkpoint/checkpoint.sig".into(), cp.signature.clone());
        files.insert(
            "checkpoint/checkpoint.pub.pem".into(),
            cp_pem.clone().into_bytes(),
        );
        let mut hashes = String::with_capacity(65 * leaves.len());
        for h in tree.leaf_hashes() {
            hashes.push_str(&hex::encode(h));
            hashes.push('\n');
        }
        files.insert("leaf-hashes.txt".into(), hashes.into_bytes());

        if let Some(saved) = &self.since {
            let proof = if saved.tree_size <= tree.len() {
                tree.consistency_proof(saved.tree_size, cp.tree_size)
                    .map_err(LedgerError::from)?
            } else {
                Vec::new()
            };
            let c = ConsistencyFile {
                first_size: saved.tree_size,
                first_root: saved.root_hex(),
                second_size: cp.tree_size,
                second_root: cp.root_hex(),
                proof: proof.iter().map(hex::encode).collect(),
            };
            let mut bytes = crate::canonical::to_canonical(&c);
            bytes.push(b'\n');
            files.insert("consistency.json".into(), bytes);
            files.insert("since-checkpoint/checkpoint".into(), saved.body.clone());
            files.insert(
                "since-checkpoint/checkpoint.sig".into(),
                saved.signature.clone(),
            );
            if let Some(pem) = &saved.public_key_pem {
                files.insert(
                    "since-checkpoint/checkpoint.pub.pem".into(),
                    pem.clone().into_bytes(),
                );
            }
        }
        // RFC 3161 tokens: the pack checkpoint's, and those of the
        // period's other checkpoints (each with its checkpoint).
        let mut n_timestamps = 0u64;
        let tokens: HashMap<i64, Vec<u8>> = l.timestamps()?.into_iter().collect();
        let latest_seq = l.latest_checkpoint_seq()?;
        let mut pack_cp_token = false;
        if let Some(token) = latest_seq.and_then(|s| tokens.get(&s)) {
            files.insert(format!("checkpoint/{TOKEN_FILE}"), token.clone());
            n_timestamps += 1;
            pack_cp_token = true;
        }
        for row in l.stored_checkpoints()? {
            let Some(token) = tokens.get(&row.seq) else {
                continue;
            };
            if Some(row.seq) == latest_seq {
                continue;
            }
            let Ok(c) = Checkpoint::parse(&row.body, row.signature.clone()) else {
                continue;
            };
            if c.time < self.from || c.time >= self.to || c.tree_size > tree.len() {
                continue;
            }
            let dir = format!("timestamps/{:08}-{}", c.tree_size, row.seq);
            files.insert(format!("{dir}/checkpoint"), row.body.clone());
            files.insert(format!("{dir}/checkpoint.sig"), row.signature.clone());
            files.insert(format!("{dir}/{TOKEN_FILE}"), token.clone());
            n_timestamps += 1;
        }
        if let Some(ca) = &self.tsa_ca {
            files.insert(TSA_CA_FILE.into(), ca.clone());
        }
        for (name, bytes) in &self.extra {
            files.insert(name.clone(), bytes.clone());
        }
        files.insert(
            SIGNER_KEY_FILE.into(),
            signer.public_key_pem().as_bytes().to_vec(),
        );
        let example = proved.iter().next().map(|i| format!("proofs/{i:08}.json"));
        files.insert(
            VERIFY_FILE.into(),
            verify_md(
                self,
                &cp,
                signer.key_id(),
                example.as_deref(),
                self.since.is_some(),
                archive,
                VerifyTimestamps {
                    pack_checkpoint: pack_cp_token,
                    others: n_timestamps - u64::from(pack_cp_token),
                    ca_included: self.tsa_ca.is_some(),
                },
            )
            .into_bytes(),
        );

        let mut sums = String::new();
        for (name, bytes) in &files {
            sums.push_str(&hex::encode(Sha256::digest(bytes)));
            sums.push_str("  ");
            sums.push_str(name);
            sums.push('\n');
        }
        let sig = signer
            .sign(sums.as_bytes())
            .map_err(|e| PackError::Sign(e.to_string()))?;
        verify_signature(signer.public_key_pem(), sums.as_bytes(), &sig)
            .map_err(|e| PackError::Sign(e.to_string()))?;
        let n_files = files.len() as u64;
        files.insert(SUMS_FILE.into(), sums.into_bytes());
        files.insert(SUMS_SIG_FILE.into(), sig);
        let summary = PackSummary {
            records: n_records,
            soa_decisions: n_soa,
            observations: digests.len() as u64,
            tree_size: cp.tree_size,
            files: n_files,
            timestamps: n_timestamps,
        };
        Ok((files, summary, cp.time.timestamp().max(0) as u64))
    }
}

/// What `VERIFY.md` says about timestamps.
struct VerifyTimestamps {
    pack_checkpoint: bool,
    others: u64,
    ca_included: bool,
}

#[allow(clippy::too_many_arguments)]
fn verify_md(
    b: &PackBuilder<'_>,
    cp: &Checkpoint,
    signer_key_id: &str,
    example: Option<&str>,
    since: bool,
    archive: Option<&str>,
    ts: VerifyTimestamps,
) -> String {
    let unpack = match archive {
        Some(name) => format!(
            "## 0. Unpack\n\n\
             This pack was delivered as `{name}.tar.gz`. Its entries all lie under `{name}/`; \
             unpack it and run every command below inside that directory:\n\n\
             ```sh\n\
             tar xzf {name}.tar.gz\n\
             cd {name}\n\
             ```\n\n\
             (`evident-verify pack {name}.tar.gz` also checks the tarball directly, without unpacking: \
             it refuses absolute paths, `..`, links and oversized entries.)\n\n"
        ),
        None => String::new(),
    };
    let mut s = format!(
        "# Evidence pack\n\n\
         Records recorded from {from} (inclusive) to {to} (exclusive), agent `{agent}`, \
         proven against the ledger checkpoint of size {size} (root `{root}`, signed {time} \
         by key `{kid}`).\n\n\
         The signature over `SHA256SUMS` is by key `{signer_key_id}` (`signer.pub.pem`). \
         Compare this key id with the agent's key id you obtained out of band, or use your \
         own copy of the public key in place of `signer.pub.pem` below.\n\n\
         {unpack}\
         ## 1. Every file is intact\n\n\
         Run in this directory:\n\n\
         ```sh\n\
         sha256sum -c SHA256SUMS\n\
         ```\n\n\
         Every line must say `OK`. Files not listed in `SHA256SUMS` are not part of the pack.\n\n\
         ## 2. The checksums are signed by the agent\n\n\
         ```sh\n\
         openssl dgst -sha256 -verify signer.pub.pem -signature SHA256SUMS.sig SHA256SUMS\n\
         ```\n\n\
         It must print `Verified OK`. The ledger checkpoint is checked the same way:\n\n\
         ```sh\n\
         openssl dgst -sha256 -verify checkpoint/checkpoint.pub.pem -signature checkpoint/checkpoint.sig checkpoint/checkpoint\n\
         ```\n\n\
         ## 3. One sampled record is in the signed ledger\n\n\
         Each record of `records.jsonl` and `soa-decisions.jsonl` has a proof file \
         `proofs/<leaf index>.json` with its inclusion proof against the checkpoint:\n\n\
         ```sh\n\
         evident-verify record {example} --key agent.pub.pem\n\
         ```\n\n\
         (`agent.pub.pem`: the agent's public key obtained out of band.)\n\n\
         ## 4. Everything at once\n\n\
         ```sh\n\
         evident-verify pack . --key agent.pub.pem{since_arg}\n\
         ```\n\n\
         checks the checksums and their signature, the checkpoint, every proof, that \
         `records.jsonl` and `soa-decisions.jsonl` are exactly the proven records, the \
         observations the findings cite, `leaf-hashes.txt` against the checkpoint root, \
         the key rotation chain, and, with `--since-checkpoint DIR` (the checkpoint you kept \
         at the last audit), that the ledger extends it with nothing removed or rewritten.\n",
        from = format_time(b.from),
        to = format_time(b.to),
        agent = cp.agent_id,
        size = cp.tree_size,
        root = cp.root_hex(),
        time = format_time(cp.time),
        kid = cp.key_id,
        example = example.unwrap_or("proofs/00000000.json"),
        since_arg = if since {
            " --since-checkpoint since-checkpoint"
        } else {
            ""
        },
    );
    if since {
        s.push_str(
            "\n`consistency.json` holds the RFC 9162 consistency proof from the checkpoint in \
             `since-checkpoint/` to the pack checkpoint; pass your own saved copy to \
             `--since-checkpoint` rather than the one in the pack.\n",
        );
    }
    if ts.pack_checkpoint || ts.others > 0 {
        let ca = TSA_CA_FILE;
        s.push_str(&format!(
            "\n## 5. Trusted timestamps (RFC 3161)\n\n\
             A `checkpoint.tst` file is the DER timestamp token a time-stamping authority (TSA) \
             issued over SHA-256 of the checkpoint body next to it: it proves that the checkpoint, \
             and so every record it covers, existed at the token's time. Check it with the TSA's \
             CA certificate ({ca_note}):\n\n\
             ```sh\n",
            ca_note = if ts.ca_included {
                "`tsa-ca.pem` is the copy the agent was configured with; prefer your own copy obtained from the TSA"
            } else {
                "obtain it from the TSA and save it as `tsa-ca.pem`"
            }
        ));
        if ts.pack_checkpoint {
            s.push_str(&format!(
                "openssl ts -verify -data checkpoint/checkpoint -in checkpoint/checkpoint.tst -token_in -CAfile {ca}\n"
            ));
        }
        if ts.others > 0 {
            s.push_str(&format!(
                "for d in timestamps/*/; do openssl ts -verify -data \"$d\"checkpoint -in \"$d\"checkpoint.tst -token_in -CAfile {ca}; done\n"
            ));
        }
        s.push_str(
            "```\n\n\
             Each must print `Verification: OK`. Add `-untrusted <intermediate.pem>` when the TSA \
             certificate is issued by an intermediate CA. `openssl ts -reply -in checkpoint/checkpoint.tst \
             -token_in -text` shows the token's time, policy and serial number.",
        );
        if ts.others > 0 {
            s.push_str(
                " `timestamps/<size>-<seq>/` holds the period's other timestamped checkpoints; \
                 `evident-verify pack` checks that each one's root is the root of the first \
                 `<size>` leaves of `leaf-hashes.txt`, so each token dates part of this very ledger.",
            );
        }
        s.push('\n');
    }
    s
}

/// One problem found by [`verify_pack`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackProblem {
    /// Stable code.
    pub code: &'static str,
    /// What is wrong, for a person.
    pub message: String,
}

/// The result of [`verify_pack`].
#[derive(Debug, Clone, Default)]
pub struct PackReport {
    /// Files checked against `SHA256SUMS`.
    pub files: u64,
    /// Records proven.
    pub records: u64,
    /// The pack checkpoint's size, when it parses.
    pub tree_size: Option<u64>,
    /// The key id that signed the pack checkpoint, when it parses.
    pub checkpoint_key_id: Option<String>,
    /// Whether signatures were checked with the caller's key (or keys it
    /// was rotated to).
    pub key_pinned: bool,
    /// Whether the pack was checked against a saved checkpoint.
    pub since_checked: bool,
    /// Timestamp tokens that match their checkpoints.
    pub timestamps: u64,
    /// Published checkpoints checked against the pack's ledger, when asked.
    pub published_checked: Option<u64>,
    /// Every problem found.
    pub problems: Vec<PackProblem>,
}

impl PackReport {
    /// Whether everything verified.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The report as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ok": self.is_ok(),
            "files": self.files,
            "records": self.records,
            "tree_size": self.tree_size,
            "checkpoint_key_id": self.checkpoint_key_id,
            "key_pinned": self.key_pinned,
            "since_checkpoint": self.since_checked,
            "timestamps": self.timestamps,
            "published_checked": self.published_checked,
            "problems": self.problems,
        })
    }
}

impl std::fmt::Display for PackReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "contents:     {} files, {} proven records, checkpoint size {}",
            self.files,
            self.records,
            self.tree_size
                .map_or_else(|| "?".to_string(), |s| s.to_string())
        )?;
        writeln!(
            f,
            "key:          {}{}",
            if self.key_pinned {
                "pinned (--key)"
            } else {
                "keys carried in the pack (not pinned: pass --key)"
            },
            self.checkpoint_key_id
                .as_deref()
                .map(|k| format!("; checkpoint signed by {k}"))
                .unwrap_or_default()
        )?;
        if self.timestamps > 0 {
            writeln!(
                f,
                "timestamps:   {} RFC 3161 token(s) over their checkpoints (check the TSA's signature with `openssl ts -verify`, see VERIFY.md)",
                self.timestamps
            )?;
        }
        if let Some(n) = self.published_checked {
            writeln!(
                f,
                "published:    {n} published checkpoint(s) checked against the pack's ledger"
            )?;
        }
        if self.is_ok() && !self.key_pinned {
            writeln!(
                f,
                "result:       OK, UNPINNED: consistent with the keys carried in the pack only, which \
                 whoever made it could have replaced; compare the checkpoint's key id above with the \
                 agent's key id obtained out of band, or pass --key"
            )
        } else if self.is_ok() {
            writeln!(f, "result:       OK, signed by the trusted key")
        } else {
            writeln!(f, "result:       {} problem(s)", self.problems.len())?;
            for p in &self.problems {
                writeln!(f, "  [{}] {}", p.code, p.message)?;
            }
            Ok(())
        }
    }
}

fn list_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), PackError> {
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let ft = entry.file_type().map_err(io(&path))?;
        if ft.is_dir() {
            list_files(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

/// Verify the pack in directory `dir`. With `trusted_key_pem`, signatures
/// must be by that key or a key it was rotated to (through the pack's
/// rotation proofs); with `saved`, the pack's ledger must extend that
/// checkpoint. Returns `Err` only when `dir` cannot be read at all.
pub fn verify_pack(
    path: &Path,
    saved: Option<&Checkpoint>,
    trusted_key_pem: Option<&str>,
) -> Result<PackReport, PackError> {
    verify_pack_with(
        path,
        &PackVerifyOptions {
            saved,
            trusted_key_pem,
            published: None,
        },
    )
}

/// What [`verify_pack_with`] checks a pack against.
#[derive(Debug, Clone, Copy, Default)]
pub struct PackVerifyOptions<'a> {
    /// The checkpoint the auditor saved at the last audit.
    pub saved: Option<&'a Checkpoint>,
    /// The agent's public key, obtained out of band.
    pub trusted_key_pem: Option<&'a str>,
    /// Checkpoints published off the agent's host (see [`crate::published`]):
    /// each must be a prefix of the pack's ledger.
    pub published: Option<&'a [crate::published::PublishedCheckpoint]>,
}

/// Verify the pack at `path`: a directory, or a gzip tarball written by
/// [`PackBuilder::write_tar_gz`] (read in memory, safely). Returns `Err`
/// only when the pack cannot be read at all.
pub fn verify_pack_with(
    path: &Path,
    opts: &PackVerifyOptions<'_>,
) -> Result<PackReport, PackError> {
    let all = if path.is_dir() {
        let mut present = Vec::new();
        list_files(path, path, &mut present)?;
        let mut all = BTreeMap::new();
        for name in present {
            let bytes = fs::read(path.join(&name)).map_err(io(&path.join(&name)))?;
            all.insert(name, bytes);
        }
        all
    } else if path.is_file() {
        crate::archive::read_tar_gz(path)?
    } else {
        return Err(PackError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not a pack directory or tarball",
            ),
        });
    };
    Ok(verify_files(&all, opts))
}

/// Verify a pack's files (relative name to bytes).
fn verify_files(all: &BTreeMap<String, Vec<u8>>, opts: &PackVerifyOptions<'_>) -> PackReport {
    let saved = opts.saved;
    let trusted_key_pem = opts.trusted_key_pem;
    let mut r = PackReport {
        key_pinned: trusted_key_pem.is_some(),
        since_checked: saved.is_some(),
        ..PackReport::default()
    };
    let mut problem = |code: &'static str, message: String| {
        r.problems.push(PackProblem { code, message });
    };
    let read = |name: &str| all.get(name).cloned();
    let present: Vec<String> = all.keys().cloned().collect();

    // 1. SHA256SUMS covers every file, and every file matches.
    let sums = read(SUMS_FILE).unwrap_or_default();
    let mut listed: HashMap<String, String> = HashMap::new();
    for (i, line) in String::from_utf8_lossy(&sums).lines().enumerate() {
        match line.split_once("  ") {
            Some((h, name)) if h.len() == 64 && valid_path(name) => {
                listed.insert(name.to_string(), h.to_string());
            }
            _ => problem(
                "sums_malformed",
                format!("SHA256SUMS line {}: not `<sha256>  <file>`", i + 1),
            ),
        }
    }
    if sums.is_empty() {
        problem("sums_missing", "SHA256SUMS is missing or empty".into());
    }
    let mut contents: HashMap<String, Vec<u8>> = HashMap::new();
    for name in &present {
        if name == SUMS_FILE || name == SUMS_SIG_FILE {
            continue;
        }
        let bytes = read(name).unwrap_or_default();
        match listed.get(name) {
            None => problem(
                "file_not_listed",
                format!("{name} is not listed in SHA256SUMS"),
            ),
            Some(h) if *h != hex::encode(Sha256::digest(&bytes)) => problem(
                "file_changed",
                format!("{name} does not match its SHA-256 in SHA256SUMS"),
            ),
            Some(_) => {}
        }
        contents.insert(name.clone(), bytes);
    }
    let mut missing: Vec<&String> = listed
        .keys()
        .filter(|n| !contents.contains_key(*n))
        .collect();
    missing.sort();
    for name in missing {
        problem(
            "file_missing",
            format!("{name} is listed in SHA256SUMS but missing"),
        );
    }
    r.files = contents.len() as u64;
    let text = |name: &str| {
        contents
            .get(name)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };

    // 2. The key chain: start at the trusted key (or the first key the pack
    // shows), follow each rotation proven under the key it retires.
    let mut rot_names: Vec<&String> = contents
        .keys()
        .filter(|n| n.starts_with("key-rotations/"))
        .collect();
    rot_names.sort();
    let pack_cp_pem = text("checkpoint/checkpoint.pub.pem");
    let mut chain: Vec<(String, String)> = Vec::new();
    let start = match trusted_key_pem {
        Some(p) => Some(p.to_string()),
        None => rot_names
            .first()
            .and_then(|n| RecordProof::from_json_bytes(&contents[*n]).ok())
            .map(|p| p.public_key_pem)
            .or_else(|| pack_cp_pem.clone()),
    };
    if let Some(pem) = &start {
        match key_id_of_pem(pem) {
            Ok(kid) => chain.push((kid, pem.clone())),
            Err(e) => problem("bad_key", format!("the starting key: {e}")),
        }
    }
    for name in rot_names {
        let Some((cur_kid, cur_pem)) = chain.last().cloned() else {
            break;
        };
        let outcome = RecordProof::from_json_bytes(&contents[name])
            .map_err(|e| e.to_string())
            .and_then(|p| verify_record_proof(&p, Some(&cur_pem)).map_err(|e| e.to_string()));
        match outcome {
            Ok(v) => match v.record {
                Record::KeyRotation(k) if k.previous_key_id == cur_kid => {
                    match check_rotation_record(&k) {
                        Ok(()) => chain.push((k.new_key_id, k.new_public_key_pem)),
                        Err(e) => problem("invalid_rotation", format!("{name}: {e}")),
                    }
                }
                Record::KeyRotation(k) => problem(
                    "invalid_rotation",
                    format!(
                        "{name}: retires key {} but the current key is {cur_kid}",
                        k.previous_key_id
                    ),
                ),
                _ => problem(
                    "invalid_rotation",
                    format!("{name}: not a key rotation record"),
                ),
            },
            Err(e) => problem("invalid_rotation", format!("{name}: {e}")),
        }
    }
    let chain_pem = |kid: &str| chain.iter().find(|(k, _)| k == kid).map(|(_, p)| p.clone());

    // 3. SHA256SUMS.sig.
    match (text(SIGNER_KEY_FILE), read(SUMS_SIG_FILE)) {
        (Some(pem), Some(sig)) => {
            let kid = key_id_of_pem(&pem).unwrap_or_default();
            // Pinned or not, the signer must be in the key chain: the
            // trusted key and its rotations, or (unpinned) the pack
            // checkpoint's key and its rotations. Otherwise anyone could
            // re-sign changed derived files (soa.csv, drift, OSCAL) with a
            // key of their own while the checkpoint still names the agent.
            match chain_pem(&kid) {
                Some(k) if verify_signature(&k, &sums, &sig).is_ok() => {}
                Some(_) => problem(
                    "sums_signature_invalid",
                    "SHA256SUMS.sig does not verify".into(),
                ),
                None if trusted_key_pem.is_some() => problem(
                    "untrusted_key",
                    format!("SHA256SUMS is signed by key {kid}, not by the trusted key or a key it was rotated to"),
                ),
                None => problem(
                    "untrusted_key",
                    format!("SHA256SUMS is signed by key {kid}, not by the key of the pack's checkpoint or a key it was rotated to"),
                ),
            }
        }
        _ => problem(
            "sums_signature_missing",
            "SHA256SUMS.sig or signer.pub.pem is missing".into(),
        ),
    }

    // 4. The pack checkpoint.
    let cp = match (
        contents.get("checkpoint/checkpoint"),
        contents.get("checkpoint/checkpoint.sig"),
    ) {
        (Some(body), Some(sig)) => match Checkpoint::parse(body, sig.clone()) {
            Ok(cp) => Some(cp),
            Err(e) => {
                problem("checkpoint_invalid", e.to_string());
                None
            }
        },
        _ => {
            problem("checkpoint_missing", "checkpoint/ is incomplete".into());
            None
        }
    };
    let cp_key = cp.as_ref().and_then(|cp| match chain_pem(&cp.key_id) {
        Some(k) => Some(k),
        None if trusted_key_pem.is_none() => pack_cp_pem.clone(),
        None => None,
    });
    if let Some(cp) = &cp {
        r.tree_size = Some(cp.tree_size);
        r.checkpoint_key_id = Some(cp.key_id.clone());
        match &cp_key {
            Some(k) => {
                if let Err(e) = cp.verify_with(k) {
                    problem("checkpoint_invalid", e.to_string());
                }
            }
            None => problem(
                "untrusted_key",
                format!(
                    "the checkpoint is signed by key {}, not by the trusted key or a key it was rotated to",
                    cp.key_id
                ),
            ),
        }
    }

    // 5. Leaf hashes: their root is the checkpoint's.
    let mut leaf_hashes: Vec<Hash> = Vec::new();
    if let Some(t) = text("leaf-hashes.txt") {
        for (i, line) in t.lines().enumerate() {
            let mut h = [0u8; 32];
            if hex::decode_to_slice(line, &mut h).is_err() {
                problem(
                    "leaf_hashes_malformed",
                    format!("leaf-hashes.txt line {}", i + 1),
                );
            }
            leaf_hashes.push(h);
        }
    } else {
        problem("leaf_hashes_missing", "leaf-hashes.txt is missing".into());
    }
    let tree = MerkleTree::from_leaf_hashes(leaf_hashes);
    if let Some(cp) = &cp {
        if tree.len() != cp.tree_size || tree.root(cp.tree_size).ok() != Some(cp.root_hash) {
            problem(
                "leaf_hashes_mismatch",
                "leaf-hashes.txt does not hash to the checkpoint root".into(),
            );
        }
    }

    // 6. Every proof, against the pack checkpoint; records and SoA files are
    // exactly the proven records.
    let mut proven: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut proof_names: Vec<&String> = contents
        .keys()
        .filter(|n| n.starts_with("proofs/"))
        .collect();
    proof_names.sort();
    // The pack checkpoint's signature was checked once above; each proof
    // must carry exactly that checkpoint, so only its inclusion is left.
    let cp_ok = cp_key
        .as_deref()
        .is_some_and(|k| cp.as_ref().is_some_and(|c| c.verify_with(k).is_ok()));
    for name in proof_names {
        let outcome = RecordProof::from_json_bytes(&contents[name])
            .map_err(|e| e.to_string())
            .and_then(|p| {
                let Some(c) = cp.as_ref().filter(|_| cp_ok) else {
                    return Err("the pack checkpoint does not verify".to_string());
                };
                if c.body != p.checkpoint.as_bytes()
                    || c.signature != p.checkpoint_signature
                    || key_id_of_pem(&p.public_key_pem).ok().as_deref() != Some(c.key_id.as_str())
                {
                    return Err("proven against another checkpoint than the pack's".into());
                }
                check_inclusion(&p, c).map(|()| (p.record.into_bytes(), p.leaf_index))
            });
        match outcome {
            Ok((bytes, index)) => {
                if tree.leaf_hashes().get(index as usize) != Some(&leaf_hash(&bytes)) {
                    problem(
                        "proof_invalid",
                        format!("{name}: leaf hash not in leaf-hashes.txt"),
                    );
                }
                proven.insert(bytes, index);
            }
            Err(e) => problem("proof_invalid", format!("{name}: {e}")),
        }
    }
    r.records = proven.len() as u64;
    let mut cited = BTreeSet::new();
    for file in ["records.jsonl", "soa-decisions.jsonl"] {
        let Some(bytes) = contents.get(file) else {
            problem("file_missing", format!("{file} is missing"));
            continue;
        };
        for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            if !proven.contains_key(line) {
                problem(
                    "record_not_proven",
                    format!("{file} line {}: no proof in proofs/ for this record", i + 1),
                );
            }
            if let Ok(Record::Finding(f)) = Record::from_bytes(line) {
                cited.insert(f.observation_digest);
            }
        }
    }

    // 7. Observations.
    for d in cited {
        let hex = d.strip_prefix("sha256:").unwrap_or(&d);
        match contents.get(&format!("observations/{hex}.json")) {
            Some(b) if sha256_digest(b) == d => {}
            Some(_) => problem(
                "observation_changed",
                format!("observations/{hex}.json does not hash to {d}"),
            ),
            None => problem(
                "observation_missing",
                format!("observation {d} is not in the pack"),
            ),
        }
    }

    // 8. The auditor's saved checkpoint: the pack's ledger extends it.
    if let (Some(saved), Some(cp)) = (saved, &cp) {
        let key = match trusted_key_pem {
            Some(_) => chain_pem(&saved.key_id),
            None => saved.public_key_pem.clone(),
        };
        match key {
            Some(k) if saved.verify_with(&k).is_ok() => {}
            _ => problem(
                "saved_checkpoint_invalid",
                format!(
                    "the saved checkpoint's signature does not verify with {}",
                    if trusted_key_pem.is_some() {
                        "the trusted key or a key it was rotated to"
                    } else {
                        "the key saved beside it"
                    }
                ),
            ),
        }
        if saved.tree_size > cp.tree_size {
            problem(
                "truncated",
                format!(
                    "the pack's ledger has {} records, the saved checkpoint covers {}: records were removed",
                    cp.tree_size, saved.tree_size
                ),
            );
        } else if tree.root(saved.tree_size).ok() != Some(saved.root_hash) {
            problem(
                "not_consistent",
                format!(
                    "the first {} records of the pack's ledger do not hash to the saved root: records covered by the saved checkpoint were changed, removed, reordered or inserted",
                    saved.tree_size
                ),
            );
        }
        if let Some(bytes) = contents.get("consistency.json") {
            let ok = serde_json::from_slice::<ConsistencyFile>(bytes)
                .ok()
                .and_then(|c| {
                    let proof: Option<Vec<Hash>> = c
                        .proof
                        .iter()
                        .map(|h| {
                            let mut o = [0u8; 32];
                            hex::decode_to_slice(h, &mut o).ok().map(|_| o)
                        })
                        .collect();
                    Some(
                        c.first_size == saved.tree_size
                            && c.second_size == cp.tree_size
                            && verify_consistency(
                                saved.tree_size,
                                cp.tree_size,
                                &saved.root_hash,
                                &cp.root_hash,
                                &proof?,
                            ),
                    )
                })
                .unwrap_or(false);
            if !ok {
                problem(
                    "consistency_proof_failed",
                    "consistency.json does not prove that the pack checkpoint extends the saved checkpoint".into(),
                );
            }
        }
    }
    // 9. Timestamp tokens: each is over its checkpoint's body; each other
    // timestamped checkpoint is signed by a key of the chain and is a
    // prefix of the pack's ledger.
    if let (Some(token), Some(cp)) = (contents.get(&format!("checkpoint/{TOKEN_FILE}")), &cp) {
        match check_token(token, &cp.body) {
            Ok(_) => r.timestamps += 1,
            Err(e) => problem("timestamp_invalid", format!("checkpoint/{TOKEN_FILE}: {e}")),
        }
    }
    let ts_dirs: BTreeSet<String> = contents
        .keys()
        .filter_map(|n| n.strip_prefix("timestamps/"))
        .filter_map(|rest| rest.split_once('/'))
        .map(|(d, _)| d.to_string())
        .collect();
    let pack_key = |kid: &str| {
        chain_pem(kid).or_else(|| {
            if trusted_key_pem.is_none() {
                text(&format!("keys/{kid}.pem"))
            } else {
                None
            }
        })
    };
    for d in ts_dirs {
        let get = |f: &str| contents.get(&format!("timestamps/{d}/{f}"));
        let (Some(body), Some(sig), Some(token)) =
            (get("checkpoint"), get("checkpoint.sig"), get(TOKEN_FILE))
        else {
            problem(
                "timestamp_invalid",
                format!("timestamps/{d}/ lacks checkpoint, checkpoint.sig or {TOKEN_FILE}"),
            );
            continue;
        };
        let c = match Checkpoint::parse(body, sig.clone()) {
            Ok(c) => c,
            Err(e) => {
                problem(
                    "timestamped_checkpoint_invalid",
                    format!("timestamps/{d}/: {e}"),
                );
                continue;
            }
        };
        match pack_key(&c.key_id) {
            Some(k) => {
                if let Err(e) = c.verify_with(&k) {
                    problem("timestamped_checkpoint_invalid", format!("timestamps/{d}/: {e}"));
                }
            }
            None => problem(
                "untrusted_key",
                format!(
                    "timestamps/{d}/checkpoint is signed by key {}, not by the trusted key or a key it was rotated to",
                    c.key_id
                ),
            ),
        }
        if c.tree_size > tree.len() || tree.root(c.tree_size).ok() != Some(c.root_hash) {
            problem(
                "timestamped_checkpoint_mismatch",
                format!(
                    "timestamps/{d}/checkpoint (size {}) is not a prefix of the pack's ledger",
                    c.tree_size
                ),
            );
        }
        match check_token(token, body) {
            Ok(_) => r.timestamps += 1,
            Err(e) => problem(
                "timestamp_invalid",
                format!("timestamps/{d}/{TOKEN_FILE}: {e}"),
            ),
        }
    }

    // 10. Checkpoints published off the host: each one the pack's ledger
    // reaches must be a prefix of it (later ones cannot be checked here).
    if let Some(published) = opts.published {
        let report =
            crate::published::check_against(published, tree.leaf_hashes(), false, pack_key);
        r.published_checked = Some(report.checked);
        for p in report.problems {
            problem(p.code, p.message);
        }
    }
    r
}

/// The record of `p` is a canonical record with id `p.record_id`, included
/// at `p.leaf_index` under `cp`'s root.
fn check_inclusion(p: &RecordProof, cp: &Checkpoint) -> Result<(), String> {
    if p.leaf_index >= cp.tree_size
        || !verify_inclusion(
            p.leaf_index,
            cp.tree_size,
            &leaf_hash(p.record.as_bytes()),
            &p.inclusion_proof,
            &cp.root_hash,
        )
    {
        return Err(format!(
            "record #{} is not included in the checkpoint",
            p.leaf_index
        ));
    }
    let r = Record::from_bytes(p.record.as_bytes()).map_err(|e| e.to_string())?;
    if r.to_canonical() != p.record.as_bytes() || r.record_id() != p.record_id {
        return Err("the record is not canonical or its id differs".into());
    }
    Ok(())
}

fn valid_path(name: &str) -> bool {
    !name.is_empty()
        && Path::new(name)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::MemorySigner;
    use crate::test_support::{finding, observation, soa, t0};

    fn ledger(dir: &Path, signer: &MemorySigner) -> Ledger {
        let mut l = Ledger::open(dir.join("l.db")).expect("open");
        let (d, o) = observation(1);
        l.append_run(
            &[(d.clone(), o)],
            &[finding("f0", &d), soa("s1"), finding("f2", &d)],
            signer,
            "agent-1",
            t0(),
        )
        .expect("run");
        l
    }

    fn window() -> (DateTime<Utc>, DateTime<Utc>) {
        (
            t0() - chrono::Duration::days(1),
            t0() + chrono::Duration::days(1),
        )
    }

    #[test]
    fn add_file_refuses_reserved_and_escaping_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let signer = MemorySigner::generate().expect("key");
        let l = ledger(dir.path(), &signer);
        let (from, to) = window();
        let mut b = PackBuilder::new(&l, from, to);
        for bad in [
            "",
            "../x",
            "/etc/passwd",
            "SHA256SUMS",
            "proofs/x.json",
            "a/../b",
            "a\\b",
        ] {
            assert!(
                matches!(b.add_file(bad, vec![]), Err(PackError::BadFileName(_))),
                "{bad:?}"
            );
        }
        b.add_file("soa/soa.csv", b"control,status\n".to_vec())
            .expect("ok");
        assert!(matches!(
            b.add_file("soa/soa.csv", vec![]),
            Err(PackError::DuplicateFile(_))
        ));
        let out = dir.path().join("pack");
        let s = b.write_dir(&out, &signer).expect("write");
        assert_eq!((s.records, s.soa_decisions, s.observations), (3, 1, 1));
        let sums = fs::read_to_string(out.join(SUMS_FILE)).expect("sums");
        assert!(sums.contains("  soa/soa.csv\n"), "{sums}");
        let r = verify_pack(&out, None, Some(signer.public_key_pem())).expect("verify");
        assert!(r.is_ok(), "{r}");
        fs::write(out.join("soa/soa.csv"), "control,status\nA.5.1,pass\n").expect("write");
        let r = verify_pack(&out, None, Some(signer.public_key_pem())).expect("verify");
        assert_eq!(
            r.problems.iter().map(|p| p.code).collect::<Vec<_>>(),
            vec!["file_changed"]
        );
        // The output directory must be empty.
        assert!(matches!(
            b.write_dir(&out, &signer),
            Err(PackError::OutputNotEmpty(_))
        ));
    }

    #[test]
    fn derived_files_re_signed_by_another_key_fail_pinned_or_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let signer = MemorySigner::generate().expect("key");
        let l = ledger(dir.path(), &signer);
        let (from, to) = window();
        let out = dir.path().join("pack");
        let mut b = PackBuilder::new(&l, from, to);
        b.add_file("soa.csv", b"A.8.20,not_evaluated\n".to_vec())
            .expect("add");
        b.write_dir(&out, &signer).expect("write");
        assert!(verify_pack(&out, None, None).expect("verify").is_ok());
        // Forge the SoA, recompute its sum and re-sign SHA256SUMS with a
        // key of one's own, leaving the agent's checkpoint as it was.
        let soa_csv = out.join("soa.csv");
        let forged = fs::read_to_string(&soa_csv)
            .expect("soa.csv")
            .replace("not_evaluated", "passing");
        fs::write(&soa_csv, &forged).expect("forge");
        let sums = fs::read_to_string(out.join(SUMS_FILE)).expect("sums");
        let new_hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(forged.as_bytes()));
        let sums: String = sums
            .lines()
            .map(|line| match line.split_once("  ") {
                Some((_, "soa.csv")) => format!("{new_hash}  soa.csv\n"),
                _ => format!("{line}\n"),
            })
            .collect();
        fs::write(out.join(SUMS_FILE), &sums).expect("sums");
        let forger = MemorySigner::generate().expect("key");
        fs::write(
            out.join(SUMS_SIG_FILE),
            forger.sign(sums.as_bytes()).expect("sign"),
        )
        .expect("sig");
        fs::write(out.join(SIGNER_KEY_FILE), forger.public_key_pem()).expect("pem");
        for pinned in [None, Some(signer.public_key_pem())] {
            let r = verify_pack(&out, None, pinned).expect("verify");
            let codes: Vec<&str> = r.problems.iter().map(|p| p.code).collect();
            assert!(codes.contains(&"untrusted_key"), "{pinned:?}: {codes:?}");
            assert!(!r.is_ok());
            assert!(r.to_string().contains(forger.key_id()), "{r}");
        }
    }

    #[test]
    fn pack_after_a_key_rotation_verifies_with_the_old_key_pinned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = MemorySigner::generate().expect("key");
        let new = MemorySigner::generate().expect("key");
        let mut l = ledger(dir.path(), &old);
        let saved = l.latest_checkpoint().expect("cp").expect("some");
        l.rotate_key(&old, new.public_key_pem(), "agent-1", "evident test", t0())
            .expect("rotate");
        l.append_run(&[], &[soa("s9")], &new, "agent-1", t0())
            .expect("new key");
        let (from, to) = window();
        let out = dir.path().join("pack");
        PackBuilder::new(&l, from, to)
            .since_checkpoint(saved.clone())
            .write_dir(&out, &new)
            .expect("write");
        assert!(out.join("key-rotations/00000003.json").is_file());
        let r = verify_pack(&out, Some(&saved), Some(old.public_key_pem())).expect("verify");
        assert!(r.is_ok(), "{r}");
        let r = verify_pack(&out, Some(&saved), None).expect("verify");
        assert!(r.is_ok(), "{r}");
        // Each record proof carries the chain: checkable with the old key alone.
        let p = RecordProof::from_json_bytes(
            &fs::read(out.join("proofs/00000004.json")).expect("read"),
        )
        .expect("proof");
        assert_eq!(p.key_rotations.len(), 1);
        let v = verify_record_proof(&p, Some(old.public_key_pem())).expect("chain");
        assert!(v.key_pinned);
        assert_eq!(v.checkpoint.key_id, new.key_id());
        // A stranger's key trusts nothing in it.
        let stranger = MemorySigner::generate().expect("key");
        let r = verify_pack(&out, Some(&saved), Some(stranger.public_key_pem())).expect("verify");
        let codes: Vec<&str> = r.problems.iter().map(|p| p.code).collect();
        assert!(codes.contains(&"untrusted_key"), "{codes:?}");
        assert!(codes.contains(&"saved_checkpoint_invalid"), "{codes:?}");
    }
}
