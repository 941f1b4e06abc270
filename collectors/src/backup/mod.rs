//! The backup restore test collector (A.8.13, A.5.30).
//!
//! For each configured backup set it finds the newest snapshot (restic),
//! archive (borg) or dump (PostgreSQL `pg_dump -Fc`/`-Fd`), restores it (or a
//! sample of its files) into a fresh sandbox directory that it creates and
//! always removes, verifies what came back against the snapshot's own
//! metadata (file list and sizes), the tool's data verification (`restic
//! check --read-data-subset`, `borg check --verify-data`) and canary files
//! of known SHA-256, and measures how long the restore took. A PostgreSQL
//! dump is restored into a scratch database on a configured server, checked
//! with sanity queries (row counts) and dropped. Original paths and
//! databases are never written: restores go to the sandbox or the scratch
//! database only.
//!
//! Secrets (repository passwords, database passwords) come from a file or an
//! environment variable, are handed to the tool in its environment only, and
//! are never part of the observation or an error message.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use evident_policies::backup::{
    Backend, BackupObservation, CanaryResult, Problem, ProblemKind, RestoreTest, SOURCE,
};
use evident_policies::host::{ProbeError, ProbeErrorKind};
use evident_policies::{Observation, Target};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::SettingProblem;

mod files;
mod postgres;
pub mod run;

/// A canary file: a file of known content kept in the backed-up paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    /// Its path inside the snapshot (as the backed-up host saw it, e.g. `/srv/data/canary.txt`).
    pub path: String,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// A sanity query on a restored database: a table and its minimum row count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SanityQuery {
    /// `schema.table` or `table` (letters, digits and `_` only).
    pub table: String,
    /// The restored table must have at least this many rows.
    pub min_rows: u64,
}

/// One backup set to test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSet {
    /// Name of the set, unique within the instance.
    pub name: String,
    /// `restic`, `borg` or `postgres`.
    pub backend: Backend,
    /// The repository (restic, borg) or the dump file or directory (postgres).
    pub repository: String,
    /// File holding the repository password (restic, borg) or the database password (postgres).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Name of an environment variable holding that password instead.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Paths that matter (restic, borg): the sample is drawn from files under them. Default: all.
    #[serde(default)]
    pub paths: Vec<String>,
    /// The newest snapshot may be at most this many hours old.
    pub rpo_hours: u64,
    /// The restore must finish within this many seconds.
    pub rto_target_seconds: u64,
    /// Number of files to restore and verify (restic, borg); 0 restores everything. Default: 100.
    #[serde(default = "default_sample_size")]
    pub sample_size: usize,
    /// Canary files that must come back with exactly this content.
    #[serde(default)]
    pub canaries: Vec<Canary>,
    /// Share of pack data `restic check --read-data-subset` reads. Default: `5%`.
    #[serde(default)]
    pub read_data_subset: Option<String>,
    /// The backup tool: a program name or path (`restic`, `borg`, `pg_restore`). Default: the backend's.
    #[serde(default)]
    pub program: Option<String>,
    /// PostgreSQL: the server's host or socket directory (else libpq's `PGHOST`).
    #[serde(default)]
    pub host: Option<String>,
    /// PostgreSQL: the server's port (else `PGPORT`).
    #[serde(default)]
    pub port: Option<u16>,
    /// PostgreSQL: the role that creates, fills and drops the scratch database (else `PGUSER`).
    #[serde(default)]
    pub user: Option<String>,
    /// PostgreSQL: the database to connect to for CREATE/DROP DATABASE. Default: `postgres`.
    #[serde(default)]
    pub maintenance_database: Option<String>,
    /// PostgreSQL: the name of the database the dump must be of; checked, never written.
    #[serde(default)]
    pub database: Option<String>,
    /// PostgreSQL: sanity queries on the restored database.
    #[serde(default)]
    pub sanity: Vec<SanityQuery>,
}

fn default_sample_size() -> usize {
    100
}

/// What `restic check --read-data-subset` accepts: `n/t` (1 <= n <= t),
/// a percentage in (0, 100], or a size with a K, M, G or T suffix.
fn valid_read_data_subset(s: &str) -> bool {
    if let Some((n, t)) = s.split_once('/') {
        return matches!((n.parse::<u64>(), t.parse::<u64>()), (Ok(n), Ok(t)) if n >= 1 && n <= t);
    }
    if let Some(p) = s.strip_suffix('%') {
        return p
            .parse::<f64>()
            .is_ok_and(|p| p.is_finite() && p > 0.0 && p <= 100.0);
    }
    match s.char_indices().last() {
        Some((i, unit)) if "KMGTkmgt".contains(unit) => s[..i].parse::<u64>().is_ok_and(|n| n > 0),
        _ => false,
    }
}

impl BackupSet {
    /// Problems with the set's configuration, each with the key it is about.
    pub fn problems(&self) -> Vec<SettingProblem> {
        let name = &self.name;
        let mut out = Vec::new();
        match (&self.password_file, &self.password_env) {
            (Some(_), Some(_)) => out.push(SettingProblem::new(
                "password_env",
                format!("backup set {name}: set password_file or password_env, not both"),
            )),
            (None, None) if self.backend != Backend::Postgres => out.push(SettingProblem::new(
                "password_file",
                format!("backup set {name}: password_file or password_env is required"),
            )),
            _ => {}
        }
        if self.rpo_hours == 0 {
            out.push(SettingProblem::new(
                "rpo_hours",
                format!("backup set {name}: rpo_hours must be at least 1"),
            ));
        }
        if self.rto_target_seconds == 0 {
            out.push(SettingProblem::new(
                "rto_target_seconds",
                format!("backup set {name}: rto_target_seconds must be at least 1"),
            ));
        }
        if let Some(subset) = &self.read_data_subset {
            if self.backend != Backend::Restic {
                out.push(SettingProblem::new(
                    "read_data_subset",
                    format!("backup set {name}: read_data_subset applies to restic only"),
                ));
            } else if !valid_read_data_subset(subset) {
                out.push(SettingProblem::new(
                    "read_data_subset",
                    format!("backup set {name}: read_data_subset {subset:?} must be a share such as `5%`, `1/10` or a size such as `500M`"),
                ));
            }
        }
        for (i, c) in self.canaries.iter().enumerate() {
            if c.sha256.len() != 64 || !c.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                out.push(SettingProblem::item(
                    "canaries",
                    i,
                    format!(
                        "backup set {name}: canary {} needs a 64-digit hex sha256",
                        c.path
                    ),
                ));
            }
        }
        if self.backend == Backend::Postgres {
            for (i, s) in self.sanity.iter().enumerate() {
                if postgres::quote_table(&s.table).is_none() {
                    out.push(SettingProblem::item(
                        "sanity",
                        i,
                        format!("backup set {name}: sanity table {:?} must be `table` or `schema.table` of letters, digits and _", s.table),
                    ));
                }
            }
            if !self.canaries.is_empty() || !self.paths.is_empty() {
                out.push(SettingProblem::new(
                    if self.canaries.is_empty() {
                        "paths"
                    } else {
                        "canaries"
                    },
                    format!("backup set {name}: canaries and paths apply to restic and borg only"),
                ));
            }
        } else if !self.sanity.is_empty() {
            out.push(SettingProblem::new(
                "sanity",
                format!("backup set {name}: sanity queries apply to postgres only"),
            ));
        }
        out
    }

    fn program(&self) -> String {
        self.program.clone().unwrap_or_else(|| {
            match self.backend {
                Backend::Restic => "restic",
                Backend::Borg => "borg",
                _ => "pg_restore",
            }
            .to_string()
        })
    }
}

/// What one backup collector instance tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSettings {
    /// The sets.
    pub sets: Vec<BackupSet>,
    /// Directory in which the sandbox directories are created (default: the system temp dir).
    pub sandbox_parent: PathBuf,
    /// All sets must be done within this time; each tool call gets what is left.
    pub time_limit: Duration,
}

/// Test every set; never fails as a whole (each failure is recorded in its set).
pub fn collect(settings: &BackupSettings, target: Target, now: DateTime<Utc>) -> Observation {
    let deadline = Instant::now() + settings.time_limit;
    let sets = settings
        .sets
        .iter()
        .map(|set| test_set(set, &settings.sandbox_parent, deadline, now))
        .collect();
    Observation::new(SOURCE, target, now, &BackupObservation { sets })
}

/// The test of one set, in progress.
pub(crate) struct Ctx<'a> {
    pub set: &'a BackupSet,
    pub result: RestoreTest,
    pub deadline: Instant,
    /// The secret, read from its file or environment variable.
    pub secret: Option<String>,
    pub now: DateTime<Utc>,
}

impl Ctx<'_> {
    pub fn problem(&mut self, kind: ProblemKind, message: impl Into<String>) {
        self.result.problems.push(Problem {
            kind,
            message: message.into(),
        });
    }

    /// Time left for the next tool call (at least one second).
    pub fn left(&self) -> Duration {
        self.deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(1))
    }

    /// Record a tool that could not run: not installed is `error`, a timeout fails.
    pub fn run_error(&mut self, what: &str, e: run::RunError) {
        match e {
            run::RunError::NotInstalled(_) => {
                self.result.error = Some(ProbeError::new(
                    ProbeErrorKind::ToolUnavailable,
                    e.to_string(),
                ))
            }
            run::RunError::Spawn(..) => {
                self.result.error = Some(ProbeError::new(
                    ProbeErrorKind::ToolUnavailable,
                    e.to_string(),
                ))
            }
            run::RunError::Timeout(..) => {
                self.problem(ProblemKind::RestoreFailed, format!("{what}: {e}"))
            }
        }
    }
}

fn test_set(
    set: &BackupSet,
    sandbox_parent: &Path,
    deadline: Instant,
    now: DateTime<Utc>,
) -> RestoreTest {
    let result = RestoreTest {
        name: set.name.clone(),
        backend: set.backend,
        repository: redact_repository(&set.repository),
        snapshot: None,
        rpo_hours: set.rpo_hours,
        rto_target_seconds: set.rto_target_seconds,
        restore_millis: None,
        items_restored: 0,
        bytes_restored: 0,
        verified: Vec::new(),
        canaries: Vec::new(),
        sanity: Vec::new(),
        problems: Vec::new(),
        error: None,
    };
    let mut ctx = Ctx {
        set,
        result,
        deadline,
        secret: None,
        now,
    };
    match read_secret(set) {
        Ok(s) => ctx.secret = s,
        Err(e) => {
            ctx.result.error = Some(e);
            return ctx.result;
        }
    }
    // The sandbox: created here, removed when `sandbox` drops, whatever happens.
    let sandbox = match tempfile::Builder::new()
        .prefix("evident-restore-")
        .tempdir_in(sandbox_parent)
    {
        Ok(d) => d,
        Err(e) => {
            ctx.result.error = Some(ProbeError::new(
                ProbeErrorKind::Unreadable,
                format!(
                    "cannot create a sandbox in {}: {e}",
                    sandbox_parent.display()
                ),
            ));
            return ctx.result;
        }
    };
    match set.backend {
        Backend::Postgres => postgres::test(&mut ctx, sandbox.path()),
        _ => files::test(&mut ctx, sandbox.path()),
    }
    if let Err(e) = sandbox.close() {
        ctx.problem(
            ProblemKind::RestoreFailed,
            format!("the sandbox could not be removed: {e}"),
        );
    }
    ctx.result
}

/// The set's password, from its file (first line) or environment variable.
fn read_secret(set: &BackupSet) -> Result<Option<String>, ProbeError> {
    if let Some(path) = &set.password_file {
        // The whole first line, untrimmed: a restic password may end in spaces.
        let bytes = evident_evidence::secret_file::read_secret_file(path).map_err(|e| {
            let kind = if e.is_permission_denied() {
                ProbeErrorKind::PermissionDenied
            } else {
                ProbeErrorKind::Unreadable
            };
            ProbeError::new(kind, format!("password file {e}"))
        })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            ProbeError::new(
                ProbeErrorKind::Unreadable,
                format!("password file {} is not UTF-8 text", path.display()),
            )
        })?;
        return Ok(Some(text.lines().next().unwrap_or_default().to_string()));
    }
    if let Some(var) = &set.password_env {
        return match std::env::var(var) {
            Ok(v) => Ok(Some(v)),
            Err(_) => Err(ProbeError::new(
                ProbeErrorKind::Unreadable,
                format!("environment variable {var} (the password) is not set"),
            )),
        };
    }
    Ok(None)
}

/// SHA-256 of a file, hex.
pub(crate) fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

/// Canary results for files restored under `root` (paths relative to it).
pub(crate) fn check_canaries(ctx: &mut Ctx<'_>, root: &Path) {
    for c in &ctx.set.canaries {
        let file = root.join(c.path.trim_start_matches('/'));
        let actual = sha256_file(&file).ok();
        ctx.result.canaries.push(CanaryResult {
            path: c.path.clone(),
            expected_sha256: c.sha256.to_ascii_lowercase(),
            actual_sha256: actual,
        });
    }
    if !ctx.set.canaries.is_empty() {
        ctx.result.verified.push(format!(
            "SHA-256 of {} canary files",
            ctx.set.canaries.len()
        ));
    }
}

#[cfg(test)]
mod tests;

/// The repository location without any `user:password@` part, for evidence
/// and messages (restic accepts credentials inside REST and S3 URLs).
pub(crate) fn redact_repository(repo: &str) -> String {
    let Some(scheme_end) = repo.find("://") else {
        return repo.to_string();
    };
    let rest = &repo[scheme_end + 3..];
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => format!("{}***@{}", &repo[..scheme_end + 3], &rest[at + 1..]),
        None => repo.to_string(),
    }
}

#[cfg(test)]
mod redact_tests {
    use super::redact_repository;

    #[test]
    fn credentials_in_repository_urls_are_redacted() {
        assert_eq!(
            redact_repository("rest:https://alice:s3cret@backup.example:8000/repo"),
            "rest:https://***@backup.example:8000/repo"
        );
        assert_eq!(
            redact_repository("/srv/backup/restic"),
            "/srv/backup/restic"
        );
        assert_eq!(
            redact_repository("sftp:user@host:/srv/repo"),
            "sftp:user@host:/srv/repo"
        );
        assert_eq!(
            redact_repository("s3:https://s3.example/bucket/a@b"),
            "s3:https://s3.example/bucket/a@b"
        );
    }
}

#[cfg(test)]
mod problem_tests {
    use super::*;

    fn restic_set() -> BackupSet {
        BackupSet {
            name: "files".into(),
            backend: Backend::Restic,
            repository: "/srv/backup/restic".into(),
            password_file: Some(PathBuf::from("/etc/evident/restic.pw")),
            password_env: None,
            paths: vec![],
            rpo_hours: 24,
            rto_target_seconds: 3600,
            sample_size: 5,
            canaries: vec![],
            read_data_subset: None,
            program: None,
            host: None,
            port: None,
            user: None,
            maintenance_database: None,
            database: None,
            sanity: vec![],
        }
    }

    #[test]
    fn a_sound_set_has_no_problems() {
        assert_eq!(restic_set().problems(), Vec::new());
    }

    #[test]
    fn zero_rpo_and_rto_are_problems() {
        let mut s = restic_set();
        s.rpo_hours = 0;
        s.rto_target_seconds = 0;
        let p = s.problems();
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].key, "rpo_hours", "{p:?}");
        assert!(p[0].message.contains("rpo_hours"), "{p:?}");
        assert_eq!(p[1].key, "rto_target_seconds", "{p:?}");
        assert!(p[1].message.contains("rto_target_seconds"), "{p:?}");
    }

    #[test]
    fn a_bad_canary_is_a_problem_of_that_element() {
        let mut s = restic_set();
        s.canaries = vec![
            Canary {
                path: "a".into(),
                sha256: "ab".repeat(32),
            },
            Canary {
                path: "b".into(),
                sha256: "zz".into(),
            },
        ];
        let p = s.problems();
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!((p[0].key, p[0].index), ("canaries", Some(1)), "{p:?}");
        assert!(p[0].message.contains("canary b"), "{p:?}");
    }

    #[test]
    fn read_data_subset_accepts_restic_forms_only() {
        for good in ["5%", "100%", "0.5%", "1/10", "10/10", "500M", "2G", "100k"] {
            assert!(valid_read_data_subset(good), "{good}");
        }
        for bad in [
            "banana", "", "0%", "101%", "NaN%", "0/5", "6/5", "1/", "M", "0M", "5", "-1%", "5X",
        ] {
            assert!(!valid_read_data_subset(bad), "{bad}");
        }
        let mut s = restic_set();
        s.read_data_subset = Some("banana".into());
        assert_eq!(s.problems()[0].key, "read_data_subset");
        assert!(s.problems()[0].message.contains("read_data_subset"));
        s.backend = Backend::Borg;
        s.read_data_subset = Some("5%".into());
        assert!(s.problems()[0].message.contains("restic only"));
    }
}
