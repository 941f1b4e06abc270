//! Backup restore tests (A.8.13 information backup, A.5.30 ICT readiness):
//! the `backup.restore_test` observation and its check.
//!
//! The backup collector restores the newest snapshot of each configured
//! backup set (restic, borg, or a PostgreSQL dump) into a sandbox and records
//! what it saw: the snapshot, what was restored, how long it took, what was
//! verified and every problem. The check decides: any problem is `fail`
//! (naming it), a tool that is missing or state the agent cannot read is
//! `error`, and a restore that verified cleanly within the RPO and the RTO
//! target is `pass`.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::host::ProbeError;
use crate::model::{Check, CheckMeta, Finding, Observation, Severity, Status};
use crate::reason::ReasonCode;

/// The observation source of this check.
pub const SOURCE: &str = "backup.restore_test";

/// The backup checks.
pub static CHECKS: &[Check] = &[RESTORE_TEST_PASSED];

/// What the backup collector saw for one instance: one entry per backup set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupObservation {
    /// One restore test per configured backup set.
    pub sets: Vec<RestoreTest>,
}

/// The backup tool of a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Backend {
    /// A restic repository.
    Restic,
    /// A borg repository.
    Borg,
    /// A PostgreSQL logical dump (`pg_dump -Fc` file or `-Fd` directory).
    Postgres,
}

/// The newest snapshot (restic), archive (borg) or dump (PostgreSQL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// Its id (restic snapshot id, borg archive name, or the dump's SHA-256 prefix).
    pub id: String,
    /// When it was taken.
    #[serde(with = "chrono::serde::ts_seconds")]
    pub time: DateTime<Utc>,
}

/// A problem found by a restore test; any problem fails the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProblemKind {
    /// The repository refused the password or passphrase.
    PasswordRejected,
    /// The repository or dump is damaged (the tool's data verification or restore failed on integrity).
    RepositoryCorrupted,
    /// The repository holds no snapshot at all.
    NoSnapshot,
    /// The newest snapshot is older than the RPO.
    SnapshotStale,
    /// A file expected in the snapshot (a canary) is not there, or a file did not come back.
    FileMissing,
    /// A restored file differs from the snapshot's metadata or a canary's expected SHA-256.
    ContentMismatch,
    /// A sanity query on the restored database failed or found too few rows.
    SanityQueryFailed,
    /// The restore took longer than the RTO target.
    RtoExceeded,
    /// The restore failed for another reason.
    RestoreFailed,
}

impl ProblemKind {
    /// The reason code of a finding caused by this problem.
    pub fn reason_code(self) -> ReasonCode {
        match self {
            ProblemKind::PasswordRejected => ReasonCode::BackupPasswordRejected,
            ProblemKind::RepositoryCorrupted => ReasonCode::BackupRepositoryCorrupted,
            ProblemKind::NoSnapshot => ReasonCode::BackupSnapshotMissing,
            ProblemKind::SnapshotStale => ReasonCode::BackupSnapshotStale,
            ProblemKind::FileMissing => ReasonCode::BackupFileMissing,
            ProblemKind::ContentMismatch => ReasonCode::BackupContentMismatch,
            ProblemKind::SanityQueryFailed => ReasonCode::BackupSanityQueryFailed,
            ProblemKind::RtoExceeded => ReasonCode::BackupRtoExceeded,
            ProblemKind::RestoreFailed => ReasonCode::BackupRestoreFailed,
        }
    }
}

/// One problem of a restore test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    /// What kind.
    pub kind: ProblemKind,
    /// What exactly, e.g. `canary /srv/data/canary.txt: SHA-256 ab12… expected cd34…`.
    pub message: String,
}

/// A canary file and what its restored copy hashed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryResult {
    /// Path inside the snapshot.
    pub path: String,
    /// Expected SHA-256 (hex).
    pub expected_sha256: String,
    /// SHA-256 of the restored copy; absent when it did not come back.
    pub actual_sha256: Option<String>,
}

/// A sanity query on a restored database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SanityResult {
    /// The table, `schema.table` or `table`.
    pub table: String,
    /// The minimum row count required.
    pub min_rows: u64,
    /// The row count found; absent when the query failed.
    pub rows: Option<u64>,
}

/// The result of one backup set's restore test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreTest {
    /// The set's name from the configuration.
    pub name: String,
    /// The backup tool.
    pub backend: Backend,
    /// The repository or dump location (never a password).
    pub repository: String,
    /// The newest snapshot, when one was found.
    pub snapshot: Option<Snapshot>,
    /// The RPO: the newest snapshot may be at most this many hours old.
    pub rpo_hours: u64,
    /// The RTO target in seconds for the restore.
    pub rto_target_seconds: u64,
    /// Measured duration of the restore, in milliseconds, when it ran.
    pub restore_millis: Option<u64>,
    /// Files (or, for PostgreSQL, tables) restored.
    pub items_restored: u64,
    /// Bytes restored.
    pub bytes_restored: u64,
    /// What was verified, one line each (e.g. `restic check --read-data-subset=10%`).
    pub verified: Vec<String>,
    /// Canary files.
    pub canaries: Vec<CanaryResult>,
    /// Sanity queries (PostgreSQL).
    pub sanity: Vec<SanityResult>,
    /// Problems found; any problem fails the set.
    pub problems: Vec<Problem>,
    /// Set when the test could not run (tool missing, secret unreadable): `error`.
    pub error: Option<ProbeError>,
}

/// Metadata of [`RESTORE_TEST_PASSED`].
pub const RESTORE_TEST_PASSED_META: CheckMeta = CheckMeta {
    id: "backup_restore_test_passed",
    title: "The newest backup restores, verifies and is within the RPO and RTO",
    severity: Severity::High,
    controls: &["A.8.13", "A.5.30"],
    source: SOURCE,
    rationale: "A backup that is not restored is not known to work: a wrong passphrase, a \
                damaged repository or a job that stopped running only shows when data is \
                needed. Restoring a sample regularly and comparing it with known content \
                proves the backups can be used within the recovery objectives.",
    remediation: "Read the finding's reason: fix the backup job when the newest snapshot is \
                  older than the RPO, repair or recreate a damaged repository (and take a \
                  new full backup), correct the stored passphrase, and investigate missing \
                  or changed files or tables before the backup is needed.",
    max_age_days: 7,
};

/// Every configured backup set restores and verifies.
pub const RESTORE_TEST_PASSED: Check = Check {
    meta: RESTORE_TEST_PASSED_META,
    evaluate: evaluate_restore,
};

fn evaluate_restore(obs: &Observation) -> Vec<Finding> {
    let meta = &RESTORE_TEST_PASSED_META;
    let data: BackupObservation = match obs.payload() {
        Ok(d) => d,
        Err(e) => return vec![Finding::malformed(meta, obs, &e)],
    };
    if data.sets.is_empty() {
        return vec![Finding::new(
            meta,
            "backup",
            Status::Error,
            ReasonCode::ComponentAbsent,
            "no backup set is configured, so no restore was tested",
        )];
    }
    data.sets
        .iter()
        .map(|set| evaluate_set(meta, set, obs.collected_at))
        .collect()
}

/// The verdict on one set.
fn evaluate_set(meta: &CheckMeta, set: &RestoreTest, now: DateTime<Utc>) -> Finding {
    let resource = format!("{}:{}", backend_name(set.backend), set.name);
    if let Some(err) = &set.error {
        return Finding::new(
            meta,
            resource,
            Status::Error,
            err.kind.reason_code(),
            format!(
                "restore test of {} could not run: {}",
                set.name, err.message
            ),
        );
    }
    let mut problems = set.problems.clone();
    if let Some(snap) = &set.snapshot {
        let age = now.signed_duration_since(snap.time);
        let rpo = Duration::hours(i64::try_from(set.rpo_hours).unwrap_or(i64::MAX / 7200));
        if age > rpo
            && !problems
                .iter()
                .any(|p| p.kind == ProblemKind::SnapshotStale)
        {
            problems.push(Problem {
                kind: ProblemKind::SnapshotStale,
                message: format!(
                    "newest snapshot {} is {} hours old, RPO is {} hours",
                    snap.id,
                    age.num_hours(),
                    set.rpo_hours
                ),
            });
        }
    } else if problems.is_empty() {
        problems.push(Problem {
            kind: ProblemKind::NoSnapshot,
            message: "no snapshot found".into(),
        });
    }
    if let Some(ms) = set.restore_millis {
        if ms > set.rto_target_seconds.saturating_mul(1000)
            && !problems.iter().any(|p| p.kind == ProblemKind::RtoExceeded)
        {
            problems.push(Problem {
                kind: ProblemKind::RtoExceeded,
                message: format!(
                    "restore took {:.1}s, RTO target is {}s",
                    ms as f64 / 1000.0,
                    set.rto_target_seconds
                ),
            });
        }
    } else if problems.is_empty() {
        problems.push(Problem {
            kind: ProblemKind::RestoreFailed,
            message: "no restore was measured".into(),
        });
    }
    for c in &set.canaries {
        match &c.actual_sha256 {
            None if !mentions(&problems, &c.path) => problems.push(Problem {
                kind: ProblemKind::FileMissing,
                message: format!("canary {} did not come back", c.path),
            }),
            Some(h)
                if !h.eq_ignore_ascii_case(&c.expected_sha256) && !mentions(&problems, &c.path) =>
            {
                problems.push(Problem {
                    kind: ProblemKind::ContentMismatch,
                    message: format!(
                        "canary {}: SHA-256 {h}, expected {}",
                        c.path, c.expected_sha256
                    ),
                });
            }
            _ => {}
        }
    }
    for s in &set.sanity {
        let ok = s.rows.is_some_and(|r| r >= s.min_rows);
        if !ok && !mentions(&problems, &s.table) {
            problems.push(Problem {
                kind: ProblemKind::SanityQueryFailed,
                message: match s.rows {
                    Some(r) => format!(
                        "table {}: {r} rows, at least {} required",
                        s.table, s.min_rows
                    ),
                    None => format!("table {}: count failed", s.table),
                },
            });
        }
    }
    let snap = set
        .snapshot
        .as_ref()
        .map(|s| {
            format!(
                "snapshot {} of {}",
                s.id,
                s.time.format("%Y-%m-%d %H:%M:%SZ")
            )
        })
        .unwrap_or_else(|| "no snapshot".into());
    if let Some(first) = problems.first() {
        let all: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        return Finding::new(
            meta,
            resource,
            Status::Fail,
            first.kind.reason_code(),
            format!(
                "restore test of {} ({snap}) failed: {}",
                set.name,
                all.join("; ")
            ),
        );
    }
    let ms = set.restore_millis.unwrap_or_default();
    Finding::new(
        meta,
        resource,
        Status::Pass,
        ReasonCode::BackupRestoreVerified,
        format!(
            "{snap} restored {} items ({} bytes) in {:.1}s (RTO target {}s, RPO {}h); verified: {}",
            set.items_restored,
            set.bytes_restored,
            ms as f64 / 1000.0,
            set.rto_target_seconds,
            set.rpo_hours,
            set.verified.join("; ")
        ),
    )
}

fn mentions(problems: &[Problem], what: &str) -> bool {
    problems.iter().any(|p| p.message.contains(what))
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Restic => "restic",
        Backend::Borg => "borg",
        Backend::Postgres => "postgres",
    }
}

#[cfg(test)]
mod tests;
