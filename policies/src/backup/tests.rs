#![allow(clippy::unwrap_used)]
use super::*;
use crate::host::test_support::{now, obs, summary};
use crate::host::ProbeErrorKind;

fn good() -> RestoreTest {
    RestoreTest {
        name: "files".into(),
        backend: Backend::Restic,
        repository: "/srv/restic".into(),
        snapshot: Some(Snapshot {
            id: "9fa91c11".into(),
            time: now() - Duration::hours(2),
        }),
        rpo_hours: 24,
        rto_target_seconds: 600,
        restore_millis: Some(1500),
        items_restored: 12,
        bytes_restored: 4096,
        verified: vec!["restic check --read-data-subset=10%".into()],
        canaries: vec![CanaryResult {
            path: "/data/canary".into(),
            expected_sha256: "ab".repeat(32),
            actual_sha256: Some("AB".repeat(32)),
        }],
        sanity: vec![],
        problems: vec![],
        error: None,
    }
}

fn eval(sets: Vec<RestoreTest>) -> Vec<Finding> {
    (RESTORE_TEST_PASSED.evaluate)(&obs(SOURCE, &BackupObservation { sets }))
}

#[test]
fn verified_restore_passes_with_duration() {
    let f = eval(vec![good()]);
    assert_eq!(
        summary(&f),
        vec![(
            "restic:files".into(),
            Status::Pass,
            ReasonCode::BackupRestoreVerified
        )]
    );
    assert!(f[0].reason.contains("in 1.5s"), "{}", f[0].reason);
}

#[test]
fn stale_snapshot_fails() {
    let mut s = good();
    s.snapshot.as_mut().unwrap().time = now() - Duration::hours(30);
    let f = eval(vec![s]);
    assert_eq!(f[0].status, Status::Fail);
    assert_eq!(f[0].reason_code, ReasonCode::BackupSnapshotStale);
    assert!(f[0].reason.contains("30 hours old"), "{}", f[0].reason);
}

#[test]
fn canary_mismatch_and_missing_fail() {
    let mut s = good();
    s.canaries[0].actual_sha256 = Some("cd".repeat(32));
    let f = eval(vec![s.clone()]);
    assert_eq!(f[0].reason_code, ReasonCode::BackupContentMismatch);
    assert!(f[0].reason.contains("/data/canary"));
    s.canaries[0].actual_sha256 = None;
    let f = eval(vec![s]);
    assert_eq!(f[0].reason_code, ReasonCode::BackupFileMissing);
}

#[test]
fn recorded_problem_fails_with_its_code() {
    let mut s = good();
    s.problems.push(Problem {
        kind: ProblemKind::RepositoryCorrupted,
        message: "restic check: pack 1234 damaged".into(),
    });
    let f = eval(vec![s]);
    assert_eq!(f[0].status, Status::Fail);
    assert_eq!(f[0].reason_code, ReasonCode::BackupRepositoryCorrupted);
    assert!(f[0].reason.contains("pack 1234"));
}

#[test]
fn rto_exceeded_and_sanity_fail() {
    let mut s = good();
    s.restore_millis = Some(700_000);
    assert_eq!(eval(vec![s])[0].reason_code, ReasonCode::BackupRtoExceeded);
    let mut s = good();
    s.backend = Backend::Postgres;
    s.sanity = vec![SanityResult {
        table: "public.orders".into(),
        min_rows: 10,
        rows: Some(3),
    }];
    let f = eval(vec![s]);
    assert_eq!(f[0].reason_code, ReasonCode::BackupSanityQueryFailed);
    assert!(f[0].reason.contains("public.orders: 3 rows"));
}

#[test]
fn no_snapshot_or_no_restore_is_not_a_pass() {
    let mut s = good();
    s.snapshot = None;
    assert_eq!(eval(vec![s])[0].status, Status::Fail);
    let mut s = good();
    s.restore_millis = None;
    assert_eq!(eval(vec![s])[0].status, Status::Fail);
}

#[test]
fn tool_missing_is_error_and_empty_config_is_error() {
    let mut s = good();
    s.error = Some(ProbeError::new(
        ProbeErrorKind::ToolUnavailable,
        "restic is not installed",
    ));
    let f = eval(vec![s]);
    assert_eq!(f[0].status, Status::Error);
    assert_eq!(f[0].reason_code, ReasonCode::ToolUnavailable);
    assert_eq!(eval(vec![])[0].status, Status::Error);
    let bad = obs(SOURCE, &"x");
    assert_eq!(
        (RESTORE_TEST_PASSED.evaluate)(&bad)[0].reason_code,
        ReasonCode::ObservationMalformed
    );
}
