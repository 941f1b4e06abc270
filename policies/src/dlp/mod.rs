//! Data leakage prevention (A.8.12): the `dlp.scan` observation and its check.
//!
//! The `dlp` collector scans file trees, git histories and S3 objects for
//! secrets and personal data. Its observation carries, per scanned location, the
//! counters of the scan, the number of new findings per rule (findings not
//! accepted by the baseline or the allowlist) and a bounded sample of them
//! (rule, path, line, commit, redacted preview, keyed fingerprint: never a
//! value). A location that could not be scanned in full is `error`: a scan
//! with holes is not evidence that nothing leaked.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Check, CheckMeta, Finding, Observation, Severity, Status};
use crate::reason::ReasonCode;

/// The observation source.
pub const SOURCE: &str = "dlp.scan";

/// The DLP checks.
pub static CHECKS: &[Check] = &[NO_NEW_EXPOSURE];

/// What a scan looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ScopeKind {
    /// A file tree.
    Files,
    /// Every blob reachable from the refs of a git repository.
    GitHistory,
    /// The objects of an S3 bucket under a prefix (`s3://bucket/prefix`).
    S3,
}

/// One new finding, without its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlpFindingRef {
    /// Rule id.
    pub rule_id: String,
    /// Path (relative to the location).
    pub path: String,
    /// 1-based line.
    pub line: u64,
    /// Commit that introduced it (git history).
    pub commit: Option<String>,
    /// First and last characters at most.
    pub preview: String,
    /// Keyed HMAC-SHA256 fingerprint of the value.
    pub fingerprint: String,
}

/// The scan of one location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlpScope {
    /// File tree or git history.
    pub kind: ScopeKind,
    /// The path scanned.
    pub location: String,
    /// Files or blobs scanned.
    pub scanned: u64,
    /// Bytes scanned.
    pub bytes: u64,
    /// Skipped: binary, too large, archives, excluded by the
    /// configuration, symbolic links, and FIFOs, sockets or devices.
    pub skipped: u64,
    /// Findings suppressed by the allowlist.
    pub allowlisted: u64,
    /// Findings accepted by the baseline.
    pub baselined: u64,
    /// New findings per rule id.
    pub new_by_rule: BTreeMap<String, u64>,
    /// The first new findings (at most [`MAX_LISTED`]).
    pub findings: Vec<DlpFindingRef>,
    /// What could not be scanned (at most [`MAX_LISTED`] messages).
    pub errors: Vec<String>,
    /// Number of errors in total.
    pub error_count: u64,
}

/// Findings and errors listed per location at most.
pub const MAX_LISTED: usize = 50;

/// What the `dlp` collector saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlpObservation {
    /// Ids of the rules in force.
    pub rules: Vec<String>,
    /// Entries in the baseline.
    pub baseline_entries: u64,
    /// One per scanned location.
    pub scopes: Vec<DlpScope>,
}

/// Metadata of [`NO_NEW_EXPOSURE`].
pub const NO_NEW_EXPOSURE_META: CheckMeta = CheckMeta {
    id: "dlp_sensitive_data_not_exposed",
    title: "No new secrets or personal data in scanned files and git history",
    severity: Severity::High,
    controls: &["A.8.12"],
    source: SOURCE,
    rationale: "Credentials and personal data left in shared file trees or in a repository's \
                history leak to everyone who can read them, long after the file is deleted. \
                Scanning for them, and accepting known findings only deliberately (baseline), \
                is a data leakage prevention measure.",
    remediation: "Revoke and rotate every exposed credential first, then remove it (for git \
                  history, rewrite it or treat the value as public). Move personal data out \
                  of the tree. A finding that is not sensitive goes into the allowlist or the \
                  baseline, with the reason recorded in review.",
    max_age_days: 7,
};

/// Nothing new beyond the baseline is found.
pub const NO_NEW_EXPOSURE: Check = Check {
    meta: NO_NEW_EXPOSURE_META,
    evaluate: evaluate_scan,
};

fn evaluate_scan(obs: &Observation) -> Vec<Finding> {
    let meta = &NO_NEW_EXPOSURE_META;
    let data: DlpObservation = match obs.payload() {
        Ok(d) => d,
        Err(e) => return vec![Finding::malformed(meta, obs, &e)],
    };
    if data.scopes.is_empty() {
        return vec![Finding::new(
            meta,
            "dlp",
            Status::Error,
            ReasonCode::DlpScanIncomplete,
            "the scan covered no location",
        )];
    }
    data.scopes
        .iter()
        .map(|s| {
            let what = match s.kind {
                ScopeKind::Files => format!("files under {}", s.location),
                ScopeKind::GitHistory => format!("git history of {}", s.location),
                ScopeKind::S3 => format!("objects in {}", s.location),
            };
            let resource = match s.kind {
                ScopeKind::Files | ScopeKind::S3 => s.location.clone(),
                ScopeKind::GitHistory => format!("git:{}", s.location),
            };
            let counters = format!(
                "{} scanned ({} bytes), {} skipped, {} allowlisted, {} in the baseline",
                s.scanned, s.bytes, s.skipped, s.allowlisted, s.baselined
            );
            if s.error_count > 0 {
                return Finding::new(
                    meta,
                    resource,
                    Status::Error,
                    ReasonCode::DlpScanIncomplete,
                    format!(
                        "{what}: {} item(s) could not be scanned (first: {}); {counters}",
                        s.error_count,
                        s.errors.first().map_or("", String::as_str)
                    ),
                );
            }
            let total: u64 = s.new_by_rule.values().sum();
            if total > 0 {
                let per_rule = s
                    .new_by_rule
                    .iter()
                    .map(|(r, n)| format!("{r} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Finding::new(
                    meta,
                    resource,
                    Status::Fail,
                    ReasonCode::DlpNewFindings,
                    format!("{what}: {total} new finding(s): {per_rule}; {counters}"),
                );
            }
            Finding::new(
                meta,
                resource,
                Status::Pass,
                ReasonCode::DlpNothingNew,
                format!("{what}: nothing new found; {counters}"),
            )
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::host::test_support::obs;

    fn scope(kind: ScopeKind) -> DlpScope {
        DlpScope {
            kind,
            location: "/srv/share".into(),
            scanned: 10,
            bytes: 1000,
            skipped: 1,
            allowlisted: 0,
            baselined: 2,
            new_by_rule: BTreeMap::new(),
            findings: vec![],
            errors: vec![],
            error_count: 0,
        }
    }

    fn run(d: &DlpObservation) -> Vec<(String, Status, ReasonCode, String)> {
        (NO_NEW_EXPOSURE.evaluate)(&obs(SOURCE, d))
            .into_iter()
            .map(|f| (f.resource_id, f.status, f.reason_code, f.reason))
            .collect()
    }

    fn base() -> DlpObservation {
        DlpObservation {
            rules: vec!["github-token".into()],
            baseline_entries: 2,
            scopes: vec![scope(ScopeKind::Files), scope(ScopeKind::GitHistory)],
        }
    }

    #[test]
    fn nothing_new_passes() {
        let r = run(&base());
        assert_eq!(r.len(), 2);
        assert!(r
            .iter()
            .all(|f| f.1 == Status::Pass && f.2 == ReasonCode::DlpNothingNew));
        assert_eq!(r[1].0, "git:/srv/share");
        assert!(r[0].3.contains("2 in the baseline"), "{}", r[0].3);
    }

    #[test]
    fn new_findings_fail_with_counts_per_rule() {
        let mut d = base();
        d.scopes[1].new_by_rule.insert("github-token".into(), 2);
        d.scopes[1].new_by_rule.insert("iban".into(), 1);
        let r = run(&d);
        assert_eq!(r[0].1, Status::Pass);
        assert_eq!((r[1].1, r[1].2), (Status::Fail, ReasonCode::DlpNewFindings));
        assert!(
            r[1].3.contains("3 new finding(s): github-token 2, iban 1"),
            "{}",
            r[1].3
        );
    }

    #[test]
    fn s3_scopes_pass_fail_and_error_by_their_url() {
        let mut d = base();
        d.scopes = vec![scope(ScopeKind::S3); 3];
        for (i, s) in d.scopes.iter_mut().enumerate() {
            s.location = format!("s3://bucket-{i}/logs/");
        }
        d.scopes[1].new_by_rule.insert("aws-access-key".into(), 2);
        d.scopes[2].error_count = 1;
        d.scopes[2].errors = vec!["s3://bucket-2/logs/: not scanned in full".into()];
        let r = run(&d);
        assert_eq!(r[0].0, "s3://bucket-0/logs/");
        assert_eq!((r[0].1, r[0].2), (Status::Pass, ReasonCode::DlpNothingNew));
        assert_eq!((r[1].1, r[1].2), (Status::Fail, ReasonCode::DlpNewFindings));
        assert!(
            r[1].3.starts_with("objects in s3://bucket-1/logs/: 2 new"),
            "{}",
            r[1].3
        );
        assert_eq!(
            (r[2].1, r[2].2),
            (Status::Error, ReasonCode::DlpScanIncomplete)
        );
        assert!(r[2].3.contains("not scanned in full"), "{}", r[2].3);
    }

    #[test]
    fn incomplete_scan_is_error() {
        let mut d = base();
        d.scopes[0].error_count = 3;
        d.scopes[0].errors = vec!["/srv/share/x: Permission denied".into()];
        d.scopes[0].new_by_rule.insert("iban".into(), 1);
        let r = run(&d);
        assert_eq!(
            (r[0].1, r[0].2),
            (Status::Error, ReasonCode::DlpScanIncomplete)
        );
        d.scopes.clear();
        assert_eq!(run(&d)[0].1, Status::Error);
        let mut o = obs(SOURCE, &base());
        o.data = serde_json::json!({"scopes": 1});
        let f = (NO_NEW_EXPOSURE.evaluate)(&o);
        assert_eq!(f[0].reason_code, ReasonCode::ObservationMalformed);
    }
}
