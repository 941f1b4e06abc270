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

/// The examples in `docs/evidence-format.md`, byte for byte.
pub const DOC_FINDING: &str = r#"{"agent_id":"agent-1","check_id":"host_sshd_root_login_disabled","controls":["A.8.5","A.8.9"],"framework":"iso27001:2022","observation_digest":"sha256:0dc7ce95d2ce7d31dce89b9c714c19aecf4f2aced73aa1a3bb2e54e51ef83a22","observed_at":"2025-01-02T03:04:05Z","reason":"PermitRootLogin is no","reason_code":"root_login_disabled","record_id":"0192f3c4-7a1e-7cc1-9d2b-5a4f0e3b8a11","record_type":"finding","recorded_at":"2025-01-02T03:04:05Z","resource_id":"sshd","run_id":"run-1","schema_version":1,"severity":"high","status":"pass","target":{"id":"web-1","kind":"host"},"tool_version":"evident 0.1.0"}"#;
/// See [`DOC_FINDING`].
pub const DOC_SOA: &str = r#"{"agent_id":"agent-1","applicable":false,"control":"A.7.4","framework":"iso27001:2022","justification":"no physical premises","record_id":"0192f3c4-7a1e-7cc1-9d2b-5a4f0e3b8a12","record_type":"soa_decision","recorded_at":"2025-01-02T03:04:05Z","run_id":"run-1","schema_version":1,"tool_version":"evident 0.1.0"}"#;

#[test]
fn documented_examples_match_the_code() {
    use crate::merkle::{leaf_hash, node_hash};
    let (d, o) = observation(1);
    assert_eq!(
        d,
        "sha256:0dc7ce95d2ce7d31dce89b9c714c19aecf4f2aced73aa1a3bb2e54e51ef83a22"
    );
    assert_eq!(
        o,
        br#"{"host":"web-1","n":1,"sshd":{"PermitRootLogin":"no"}}"#
    );
    let f = finding("0192f3c4-7a1e-7cc1-9d2b-5a4f0e3b8a11", &d);
    let s = soa("0192f3c4-7a1e-7cc1-9d2b-5a4f0e3b8a12");
    assert_eq!(f.to_canonical(), DOC_FINDING.as_bytes());
    assert_eq!(s.to_canonical(), DOC_SOA.as_bytes());
    assert_eq!(
        Record::from_bytes(DOC_FINDING.as_bytes()).expect("parses"),
        f
    );
    let (lf, ls) = (
        leaf_hash(DOC_FINDING.as_bytes()),
        leaf_hash(DOC_SOA.as_bytes()),
    );
    assert_eq!(
        hex::encode(lf),
        "f0fbf47526a57f73cffd8a570bd3511a1bbb03cb20113f154b557b0b77dc2813"
    );
    assert_eq!(
        hex::encode(ls),
        "42be6b4d1f124bad8bebda1e191bc078f7fe1e39c9ca473ff9c3e2ecef7bcd4c"
    );
    assert_eq!(
        hex::encode(node_hash(&lf, &ls)),
        "1959819e63dacf80b841d4b97bf8764e414099425b4c9a96ac083ad773f5de5e"
    );
}

#[test]
fn unknown_members_are_rejected() {
    let with_extra = DOC_FINDING.replacen('{', r#"{"extra":1,"#, 1);
    assert!(Record::from_bytes(with_extra.as_bytes()).is_err());
    let with_extra = DOC_SOA.replacen('{', r#"{"extra":1,"#, 1);
    assert!(Record::from_bytes(with_extra.as_bytes()).is_err());
    let no_type = DOC_SOA.replace(r#""record_type":"soa_decision","#, "");
    assert!(Record::from_bytes(no_type.as_bytes()).is_err());
}
