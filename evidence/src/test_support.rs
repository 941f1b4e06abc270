//! Builders shared by the unit tests.

use chrono::{DateTime, TimeZone, Utc};

use crate::canonical::{sha256_digest, to_canonical};
use crate::record::{
    FindingRecord, Record, Severity, SoaDecisionRecord, Status, Target, TargetKind, FRAMEWORK,
    SCHEMA_VERSION,
};

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5)
        .single()
        .expect("valid time")
}

/// A canonical observation and its digest.
pub fn observation(n: u64) -> (String, Vec<u8>) {
    let bytes = to_canonical(
        &serde_json::json!({ "host": "web-1", "sshd": { "PermitRootLogin": "no" }, "n": n }),
    );
    (sha256_digest(&bytes), bytes)
}

pub fn finding(id: &str, digest: &str) -> Record {
    Record::Finding(FindingRecord {
        schema_version: SCHEMA_VERSION,
        record_id: id.to_string(),
        run_id: "run-1".into(),
        agent_id: "agent-1".into(),
        framework: FRAMEWORK.into(),
        controls: vec!["A.8.5".into(), "A.8.9".into()],
        check_id: "host_sshd_root_login_disabled".into(),
        severity: Severity::High,
        target: Target {
            kind: TargetKind::Host,
            id: "web-1".into(),
        },
        resource_id: "sshd".into(),
        status: Status::Pass,
        reason_code: "root_login_disabled".into(),
        reason: "PermitRootLogin is no".into(),
        observed_at: t0(),
        recorded_at: t0(),
        tool_version: "evident 0.1.0".into(),
        observation_digest: digest.to_string(),
    })
}

pub fn soa(id: &str) -> Record {
    Record::SoaDecision(SoaDecisionRecord {
        schema_version: SCHEMA_VERSION,
        record_id: id.to_string(),
        run_id: "run-1".into(),
        agent_id: "agent-1".into(),
        framework: FRAMEWORK.into(),
        control: "A.7.4".into(),
        applicable: Some(false),
        justification: Some("no physical premises".into()),
        recorded_at: t0(),
        tool_version: "evident 0.1.0".into(),
    })
}
