//! Statement of Applicability: all 93 controls with their applicability,
//! justification and an implementation status derived from evidence.
//!
//! Pure: the caller reads decisions and finding records from the ledger.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use evident_evidence::record::{AttestationKind, AttestationRecord, FindingRecord, Status};
use serde::Serialize;

use crate::catalog::{self, Control};

/// Max evidence age for a check this build no longer knows.
pub const DEFAULT_MAX_AGE_DAYS: u32 = 30;

/// The applicability decision for one control.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// `Some(true)` applicable, `Some(false)` excluded, `None` undecided.
    pub applicable: Option<bool>,
    /// Justification of the inclusion or exclusion.
    pub justification: Option<String>,
}

/// Implementation status of a control, derived from its latest evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Implementation {
    /// Every latest finding is fresh and passing.
    Passing,
    /// A fresh latest finding fails.
    Failing,
    /// A fresh latest finding is an error (and none fails).
    Error,
    /// Some latest evidence is older than its check's maximum age.
    Stale,
    /// Every latest finding says the checks do not apply to the resources seen.
    NotApplicable,
    /// Failing or erring, but every such result is covered by an unexpired
    /// risk acceptance. Not passing.
    Accepted,
    /// No check has evaluated the control.
    NotEvaluated,
}

impl Implementation {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Implementation::Passing => "passing",
            Implementation::Failing => "failing",
            Implementation::Error => "error",
            Implementation::Stale => "stale",
            Implementation::NotApplicable => "not_applicable",
            Implementation::Accepted => "accepted",
            Implementation::NotEvaluated => "not_evaluated",
        }
    }
}

/// One row of the SoA.
#[derive(Debug, Clone, Serialize)]
pub struct SoaRow {
    /// Control id, `A.8.5`.
    pub control: String,
    /// Theme name.
    pub theme: &'static str,
    /// Short title.
    pub title: String,
    /// Applicability decision.
    pub applicable: Option<bool>,
    /// Justification.
    pub justification: Option<String>,
    /// Status derived from the latest evidence.
    pub implementation: Implementation,
    /// Time of the newest evidence behind the status.
    pub last_evidence_at: Option<DateTime<Utc>>,
    /// Record ids of the latest findings behind the status.
    pub record_ids: Vec<String>,
}

/// Build the SoA as it stands at `at`, from the decisions in force then and
/// every finding record recorded up to then (later records are ignored).
pub fn build(
    decisions: &BTreeMap<String, Decision>,
    findings: &[FindingRecord],
    at: DateTime<Utc>,
) -> Vec<SoaRow> {
    build_with_attestations(decisions, findings, &[], at)
}

/// [`build`], also counting manual evidence (an unexpired attestation makes
/// a control without automated evidence passing; an expired one, stale) and
/// risk acceptances (a control whose failing or erring results are all
/// covered by unexpired acceptances shows as `accepted`, never as passing).
pub fn build_with_attestations(
    decisions: &BTreeMap<String, Decision>,
    findings: &[FindingRecord],
    attestations: &[AttestationRecord],
    at: DateTime<Utc>,
) -> Vec<SoaRow> {
    let attestations: Vec<&AttestationRecord> = attestations
        .iter()
        .filter(|a| a.recorded_at <= at)
        .collect();
    // Latest finding per (check, target, resource).
    let mut latest: BTreeMap<(&str, &str, &str), &FindingRecord> = BTreeMap::new();
    for f in findings.iter().filter(|f| f.recorded_at <= at) {
        let key = (
            f.check_id.as_str(),
            f.target.id.as_str(),
            f.resource_id.as_str(),
        );
        match latest.get(&key) {
            Some(prev) if prev.recorded_at > f.recorded_at => {}
            _ => {
                latest.insert(key, f);
            }
        }
    }
    let mut by_control: BTreeMap<&str, Vec<&FindingRecord>> = BTreeMap::new();
    for f in latest.values() {
        for c in &f.controls {
            by_control.entry(c.as_str()).or_default().push(f);
        }
    }
    catalog::controls()
        .iter()
        .map(|c| {
            let mut r = row(c, decisions.get(&c.id), by_control.get(c.id.as_str()), at);
            apply_attestations(&mut r, by_control.get(c.id.as_str()), &attestations, at);
            r
        })
        .collect()
}

fn apply_attestations(
    r: &mut SoaRow,
    evidence: Option<&Vec<&FindingRecord>>,
    attestations: &[&AttestationRecord],
    at: DateTime<Utc>,
) {
    let control = r.control.clone();
    // Manual evidence: the latest attestation for the control.
    let latest = attestations
        .iter()
        .filter(|a| {
            a.kind == AttestationKind::Evidence && a.control.as_deref() == Some(control.as_str())
        })
        .max_by_key(|a| a.recorded_at);
    if let Some(latest) = latest {
        let fresh = at < latest.expires_at;
        r.record_ids.push(latest.record_id.clone());
        r.last_evidence_at = r.last_evidence_at.max(Some(latest.recorded_at));
        r.implementation = match (r.implementation, fresh) {
            (Implementation::NotEvaluated | Implementation::NotApplicable, true) => {
                Implementation::Passing
            }
            (
                Implementation::NotEvaluated
                | Implementation::NotApplicable
                | Implementation::Passing,
                false,
            ) => Implementation::Stale,
            (other, _) => other,
        };
    }
    // Risk acceptances: every failing or erring latest result covered.
    if matches!(
        r.implementation,
        Implementation::Failing | Implementation::Error
    ) {
        let active: Vec<&&AttestationRecord> = attestations
            .iter()
            .filter(|a| a.kind == AttestationKind::RiskAcceptance && at < a.expires_at)
            .collect();
        let covered = |f: &FindingRecord| {
            active.iter().any(|a| {
                a.control.as_deref() == Some(r.control.as_str())
                    || a.check_id.as_deref() == Some(f.check_id.as_str())
            })
        };
        let failing: Vec<&&FindingRecord> = evidence
            .map(|v| {
                v.iter()
                    .filter(|f| matches!(f.status, Status::Fail | Status::Error))
                    .collect()
            })
            .unwrap_or_default();
        if !failing.is_empty() && failing.iter().all(|f| covered(f)) {
            r.implementation = Implementation::Accepted;
            for a in active.iter().filter(|a| {
                a.control.as_deref() == Some(r.control.as_str())
                    || failing
                        .iter()
                        .any(|f| a.check_id.as_deref() == Some(f.check_id.as_str()))
            }) {
                r.record_ids.push(a.record_id.clone());
            }
        }
    }
}

fn max_age(check_id: &str) -> Duration {
    let days = crate::check(check_id).map_or(DEFAULT_MAX_AGE_DAYS, |c| c.meta.max_age_days);
    Duration::days(i64::from(days))
}

fn row(
    control: &Control,
    decision: Option<&Decision>,
    evidence: Option<&Vec<&FindingRecord>>,
    at: DateTime<Utc>,
) -> SoaRow {
    let relevant: Vec<&FindingRecord> = evidence
        .map(|v| {
            v.iter()
                .copied()
                .filter(|f| f.status != Status::NotApplicable)
                .collect()
        })
        .unwrap_or_default();
    let fresh = |f: &FindingRecord| at - f.recorded_at <= max_age(&f.check_id);
    let all: Vec<&FindingRecord> = evidence.map(|v| v.to_vec()).unwrap_or_default();
    let implementation = if all.is_empty() {
        Implementation::NotEvaluated
    } else if relevant.is_empty() {
        Implementation::NotApplicable
    } else if relevant
        .iter()
        .filter(|f| fresh(f))
        .any(|f| f.status == Status::Fail)
    {
        Implementation::Failing
    } else if relevant
        .iter()
        .filter(|f| fresh(f))
        .any(|f| f.status == Status::Error)
    {
        Implementation::Error
    } else if !relevant.iter().all(|f| fresh(f)) {
        Implementation::Stale
    } else {
        Implementation::Passing
    };
    // The records behind the status: the applicable ones, or, when nothing
    // applied, the not-applicable findings that say so.
    let behind = if relevant.is_empty() { &all } else { &relevant };
    let mut record_ids: Vec<String> = behind.iter().map(|f| f.record_id.clone()).collect();
    record_ids.sort();
    let decision = decision.cloned().unwrap_or_default();
    SoaRow {
        control: control.id.clone(),
        theme: control.theme.as_str(),
        title: control.title.clone(),
        applicable: decision.applicable,
        justification: decision.justification,
        implementation,
        last_evidence_at: behind.iter().map(|f| f.recorded_at).max(),
        record_ids,
    }
}

/// A problem `evident soa --check` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SoaIssue {
    /// The control.
    pub control: String,
    /// Stable code: `no_decision`, `missing_justification`,
    /// `excluded_with_evidence`, `failing`, `error`, `stale`.
    pub code: &'static str,
    /// What is wrong, for a person.
    pub message: String,
}

/// Lint a SoA: controls without a decision or justification, excluded
/// controls that nevertheless have evidence, and applicable controls whose
/// latest evidence fails, errs or is older than its checks' maximum age.
pub fn lint(rows: &[SoaRow]) -> Vec<SoaIssue> {
    let mut out = Vec::new();
    let mut push = |r: &SoaRow, code: &'static str, message: String| {
        out.push(SoaIssue {
            control: r.control.clone(),
            code,
            message,
        })
    };
    for r in rows {
        let justified = r
            .justification
            .as_deref()
            .is_some_and(|j| !j.trim().is_empty());
        match r.applicable {
            None => push(
                r,
                "no_decision",
                "no applicability decision and no justification".into(),
            ),
            Some(a) if !justified => push(
                r,
                "missing_justification",
                format!(
                    "{} without a justification",
                    if a { "included" } else { "excluded" }
                ),
            ),
            _ => {}
        }
        match (r.applicable, r.implementation) {
            (Some(false), imp) if imp != Implementation::NotApplicable && !r.record_ids.is_empty() => push(
                r,
                "excluded_with_evidence",
                format!(
                    "excluded, yet {} check result(s) evidence it (e.g. record {}); include it or stop collecting",
                    r.record_ids.len(),
                    r.record_ids[0]
                ),
            ),
            (Some(true), Implementation::Failing) => {
                push(r, "failing", "applicable and its latest evidence fails".into())
            }
            (Some(true), Implementation::Error) => push(
                r,
                "error",
                "applicable and its latest evidence is an error (the check could not decide)".into(),
            ),
            (Some(true), Implementation::Stale) => push(
                r,
                "stale",
                format!(
                    "applicable and its latest evidence ({}) is older than its checks' maximum age",
                    r.last_evidence_at
                        .map(evident_evidence::record::format_time)
                        .unwrap_or_default()
                ),
            ),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use evident_evidence::record::AttestationKind;
    use evident_evidence::record::{Severity, Target, TargetKind, FRAMEWORK, SCHEMA_VERSION};

    fn finding(id: &str, check: &str, control: &str, status: Status, day: u32) -> FindingRecord {
        let t = Utc
            .with_ymd_and_hms(2026, 1, day, 12, 0, 0)
            .single()
            .expect("valid date");
        FindingRecord {
            schema_version: SCHEMA_VERSION,
            record_id: id.into(),
            run_id: "run".into(),
            agent_id: "agent".into(),
            framework: FRAMEWORK.into(),
            controls: vec![control.into()],
            check_id: check.into(),
            severity: Severity::High,
            target: Target {
                kind: TargetKind::Host,
                id: "h".into(),
            },
            resource_id: "r".into(),
            status,
            reason_code: "x".into(),
            reason: "x".into(),
            observed_at: t,
            recorded_at: t,
            tool_version: "evident test".into(),
            observation_digest: "sha256:00".into(),
        }
    }

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, day, 13, 0, 0)
            .single()
            .expect("valid date")
    }

    fn status_of(rows: &[SoaRow], id: &str) -> Implementation {
        rows.iter()
            .find(|r| r.control == id)
            .map(|r| r.implementation)
            .expect("row")
    }

    #[test]
    fn covers_all_93_controls_and_defaults_to_not_evaluated() {
        let rows = build(&BTreeMap::new(), &[], at(1));
        assert_eq!(rows.len(), 93);
        assert!(rows
            .iter()
            .all(|r| r.implementation == Implementation::NotEvaluated));
        assert!(rows.iter().all(|r| r.applicable.is_none()));
    }

    #[test]
    fn latest_finding_decides_and_later_records_are_ignored() {
        // "unknown_check" has the default max age of 30 days.
        let f = vec![
            finding("1", "unknown_check", "A.8.5", Status::Fail, 1),
            finding("2", "unknown_check", "A.8.5", Status::Pass, 2),
            finding("3", "unknown_check", "A.8.5", Status::Fail, 5),
        ];
        assert_eq!(
            status_of(&build(&BTreeMap::new(), &f, at(1)), "A.8.5"),
            Implementation::Failing
        );
        let rows = build(&BTreeMap::new(), &f, at(3));
        assert_eq!(status_of(&rows, "A.8.5"), Implementation::Passing);
        let row = rows.iter().find(|r| r.control == "A.8.5").expect("row");
        assert_eq!(row.record_ids, vec!["2".to_string()]);
        assert_eq!(
            status_of(&build(&BTreeMap::new(), &f, at(6)), "A.8.5"),
            Implementation::Failing
        );
    }

    #[test]
    fn error_stale_and_not_applicable() {
        let f = vec![finding("1", "unknown_check", "A.8.8", Status::Error, 1)];
        assert_eq!(
            status_of(&build(&BTreeMap::new(), &f, at(2)), "A.8.8"),
            Implementation::Error
        );
        let f = vec![finding("1", "unknown_check", "A.8.8", Status::Pass, 1)];
        let later = at(1) + Duration::days(31);
        assert_eq!(
            status_of(&build(&BTreeMap::new(), &f, later), "A.8.8"),
            Implementation::Stale
        );
        let f = vec![finding(
            "1",
            "unknown_check",
            "A.8.8",
            Status::NotApplicable,
            1,
        )];
        let rows = build(&BTreeMap::new(), &f, at(2));
        assert_eq!(status_of(&rows, "A.8.8"), Implementation::NotApplicable);
        let row = rows.iter().find(|r| r.control == "A.8.8").expect("row");
        assert_eq!(row.record_ids, vec!["1".to_string()]);
    }

    #[test]
    fn lint_names_every_kind_of_problem() {
        let mut d = BTreeMap::new();
        let decide = |a: bool, j: Option<&str>| Decision {
            applicable: Some(a),
            justification: j.map(String::from),
        };
        d.insert("A.5.1".to_string(), decide(true, Some("policy")));
        d.insert("A.5.2".to_string(), decide(true, None));
        d.insert("A.7.4".to_string(), decide(false, Some("no premises")));
        d.insert("A.8.5".to_string(), decide(true, Some("ssh")));
        d.insert("A.8.8".to_string(), decide(true, Some("updates")));
        d.insert("A.8.17".to_string(), decide(true, Some("clocks")));
        d.insert("A.8.15".to_string(), decide(true, Some("logs")));
        let f = vec![
            finding("1", "zeroth_check", "A.7.4", Status::Pass, 1),
            finding("2", "unknown_check", "A.8.5", Status::Fail, 1),
            finding("3", "other_check", "A.8.8", Status::Error, 1),
            finding("4", "third_check", "A.8.17", Status::Pass, 1),
            finding("5", "fourth_check", "A.8.15", Status::Pass, 20),
        ];
        let issues = lint(&build(&d, &f, at(1) + Duration::days(31)));
        let of = |c: &str| -> Vec<&str> {
            issues
                .iter()
                .filter(|i| i.control == c)
                .map(|i| i.code)
                .collect()
        };
        assert_eq!(of("A.5.1"), Vec::<&str>::new());
        assert_eq!(of("A.5.2"), vec!["missing_justification"]);
        assert_eq!(of("A.5.3"), vec!["no_decision"]);
        assert_eq!(of("A.7.4"), vec!["excluded_with_evidence"]);
        // Older than 30 days: a failing or erring result is stale, not failing.
        assert_eq!(of("A.8.5"), vec!["stale"]);
        assert_eq!(of("A.8.17"), vec!["stale"]);
        assert_eq!(of("A.8.15"), Vec::<&str>::new());
        let fresh = lint(&build(&d, &f, at(2)));
        let of = |c: &str| -> Vec<&str> {
            fresh
                .iter()
                .filter(|i| i.control == c)
                .map(|i| i.code)
                .collect()
        };
        assert_eq!(of("A.8.5"), vec!["failing"]);
        assert_eq!(of("A.8.8"), vec!["error"]);
        assert_eq!(of("A.8.17"), Vec::<&str>::new());
    }

    fn attestation(
        id: &str,
        kind: AttestationKind,
        control: Option<&str>,
        check: Option<&str>,
        day: u32,
        days: i64,
    ) -> AttestationRecord {
        let t = Utc
            .with_ymd_and_hms(2026, 1, day, 12, 0, 0)
            .single()
            .expect("valid date");
        AttestationRecord {
            schema_version: SCHEMA_VERSION,
            record_id: id.into(),
            run_id: "run".into(),
            agent_id: "agent".into(),
            framework: FRAMEWORK.into(),
            kind,
            control: control.map(String::from),
            check_id: check.map(String::from),
            file: None,
            note: "n".into(),
            attested_by: "alice".into(),
            expires_at: t + Duration::days(days),
            recorded_at: t,
            tool_version: "t".into(),
        }
    }

    #[test]
    fn manual_evidence_counts_until_it_expires() {
        let a = vec![attestation(
            "a1",
            AttestationKind::Evidence,
            Some("A.6.3"),
            None,
            1,
            10,
        )];
        let rows = build_with_attestations(&BTreeMap::new(), &[], &a, at(5));
        assert_eq!(status_of(&rows, "A.6.3"), Implementation::Passing);
        assert_eq!(
            rows.iter()
                .find(|r| r.control == "A.6.3")
                .expect("row")
                .record_ids,
            vec!["a1"]
        );
        let rows = build_with_attestations(&BTreeMap::new(), &[], &a, at(12));
        assert_eq!(status_of(&rows, "A.6.3"), Implementation::Stale);
        // Not yet recorded at that date.
        let rows = build_with_attestations(&BTreeMap::new(), &[], &a, at(1) - Duration::days(1));
        assert_eq!(status_of(&rows, "A.6.3"), Implementation::NotEvaluated);
    }

    #[test]
    fn an_accepted_failure_is_accepted_not_passing_until_expiry() {
        let f = vec![finding("1", "unknown_check", "A.8.8", Status::Fail, 1)];
        let by_check = vec![attestation(
            "r1",
            AttestationKind::RiskAcceptance,
            None,
            Some("unknown_check"),
            1,
            5,
        )];
        let rows = build_with_attestations(&BTreeMap::new(), &f, &by_check, at(2));
        assert_eq!(status_of(&rows, "A.8.8"), Implementation::Accepted);
        let rows = build_with_attestations(&BTreeMap::new(), &f, &by_check, at(7));
        assert_eq!(status_of(&rows, "A.8.8"), Implementation::Failing);
        // An acceptance of another check covers nothing here.
        let other = vec![attestation(
            "r2",
            AttestationKind::RiskAcceptance,
            None,
            Some("other_check"),
            1,
            5,
        )];
        let rows = build_with_attestations(&BTreeMap::new(), &f, &other, at(2));
        assert_eq!(status_of(&rows, "A.8.8"), Implementation::Failing);
        // By control.
        let by_control = vec![attestation(
            "r3",
            AttestationKind::RiskAcceptance,
            Some("A.8.8"),
            None,
            1,
            5,
        )];
        let rows = build_with_attestations(&BTreeMap::new(), &f, &by_control, at(2));
        assert_eq!(status_of(&rows, "A.8.8"), Implementation::Accepted);
    }

    #[test]
    fn decisions_are_carried() {
        let mut d = BTreeMap::new();
        d.insert(
            "A.7.4".to_string(),
            Decision {
                applicable: Some(false),
                justification: Some("no premises".into()),
            },
        );
        let rows = build(&d, &[], at(1));
        let r = rows.iter().find(|r| r.control == "A.7.4").expect("row");
        assert_eq!(r.applicable, Some(false));
        assert_eq!(r.justification.as_deref(), Some("no premises"));
    }
}
