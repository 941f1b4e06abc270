//! Stage 1 readiness: the checks an auditor makes before the certification
//! audit's first stage, in one view. Pure: the caller gathers the inputs.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use evident_evidence::record::{AttestationKind, AttestationRecord};
use serde::Serialize;

use crate::soa::{lint, Implementation, SoaRow};

/// The documented information ISO/IEC 27001:2022 requires (clause, title).
pub const MANDATORY_DOCUMENTS: &[(&str, &str)] = &[
    ("4.3", "Scope of the ISMS"),
    ("5.2", "Information security policy"),
    ("6.1.2", "Information security risk assessment process"),
    (
        "6.1.3",
        "Information security risk treatment process and plan",
    ),
    ("6.1.3 d", "Statement of Applicability"),
    ("6.2", "Information security objectives"),
    ("7.2", "Evidence of competence"),
    ("8.1", "Operational planning and control"),
    ("8.2", "Results of information security risk assessments"),
    ("9.2", "Internal audit programme and results"),
    ("9.3", "Results of management reviews"),
    ("10.1", "Nonconformities and corrective actions"),
];

/// Controls whose manual evidence counts as incident or event records.
pub const INCIDENT_CONTROLS: &[&str] = &["A.5.24", "A.5.25", "A.5.26", "A.5.27", "A.5.28"];

/// A configured document, as the caller found it.
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    /// Clause, e.g. `4.3`.
    pub clause: String,
    /// Where it is (path or URL).
    pub location: String,
    /// `Some(false)` when a local file is missing; `None` when not checkable (URL).
    pub present: Option<bool>,
    /// Date of the last review, if any.
    pub last_review: Option<NaiveDate>,
    /// How often it must be reviewed.
    pub review_interval_days: u32,
}

/// One problem that makes the ISMS not ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// Area: `documents`, `soa`, `evidence`, `controls`, `incidents`.
    pub area: &'static str,
    /// Stable code.
    pub code: &'static str,
    /// Clause or control concerned.
    pub subject: String,
    /// For a person.
    pub message: String,
}

/// Everything missing, overdue or failing, in one list; empty means ready.
pub fn assess(
    documents: &[Document],
    rows: &[SoaRow],
    attestations: &[AttestationRecord],
    incident_period_days: u32,
    now: DateTime<Utc>,
) -> Vec<Gap> {
    let mut gaps = Vec::new();
    let mut gap = |area, code, subject: &str, message: String| {
        gaps.push(Gap {
            area,
            code,
            subject: subject.to_string(),
            message,
        })
    };
    for (clause, title) in MANDATORY_DOCUMENTS {
        match documents.iter().find(|d| d.clause == *clause) {
            None => gap(
                "documents",
                "document_missing",
                clause,
                format!("{title}: not listed in [[readiness.document]]"),
            ),
            Some(d) => {
                if d.present == Some(false) {
                    gap(
                        "documents",
                        "document_not_found",
                        clause,
                        format!("{title}: {} does not exist", d.location),
                    );
                }
                match d.last_review {
                    None => gap(
                        "documents",
                        "document_never_reviewed",
                        clause,
                        format!("{title}: no review date"),
                    ),
                    Some(day) => {
                        let due = day + Duration::days(i64::from(d.review_interval_days));
                        if due < now.date_naive() {
                            gap(
                                "documents",
                                "document_review_overdue",
                                clause,
                                format!("{title}: last reviewed {day}, review was due {due}"),
                            );
                        }
                    }
                }
            }
        }
    }
    for issue in lint(rows) {
        match issue.code {
            "no_decision" | "missing_justification" | "excluded_with_evidence" => {
                gap("soa", issue.code, &issue.control, issue.message)
            }
            _ => gap("controls", issue.code, &issue.control, issue.message),
        }
    }
    for r in rows.iter().filter(|r| r.applicable == Some(true)) {
        if r.implementation == Implementation::NotEvaluated {
            gap(
                "evidence",
                "no_evidence",
                &r.control,
                format!("{} is applicable but has no evidence", r.title),
            );
        }
    }
    let since = now - Duration::days(i64::from(incident_period_days));
    let incidents = attestations.iter().any(|a| {
        a.kind == AttestationKind::Evidence
            && a.recorded_at >= since
            && a.recorded_at <= now
            && a.control
                .as_deref()
                .is_some_and(|c| INCIDENT_CONTROLS.contains(&c))
    });
    if !incidents {
        gap(
            "incidents",
            "no_incident_records",
            "A.5.24–A.5.28",
            format!("no incident or event record in the last {incident_period_days} days; auditors read zero incidents as a red flag (record them with `evident attest --control A.5.24 …`)"),
        );
    }
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soa::{build_with_attestations, Decision};
    use chrono::TimeZone;
    use evident_evidence::record::{FRAMEWORK, SCHEMA_VERSION};
    use std::collections::BTreeMap;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
            .single()
            .expect("valid")
    }

    fn all_documents() -> Vec<Document> {
        MANDATORY_DOCUMENTS
            .iter()
            .map(|(c, _)| Document {
                clause: c.to_string(),
                location: "https://isms.example/doc".into(),
                present: None,
                last_review: NaiveDate::from_ymd_opt(2026, 6, 1),
                review_interval_days: 365,
            })
            .collect()
    }

    fn incident(days_ago: i64) -> AttestationRecord {
        AttestationRecord {
            schema_version: SCHEMA_VERSION,
            record_id: "i1".into(),
            run_id: "r".into(),
            agent_id: "a".into(),
            framework: FRAMEWORK.into(),
            kind: AttestationKind::Evidence,
            control: Some("A.5.24".into()),
            check_id: None,
            file: None,
            note: "incident log".into(),
            attested_by: "alice".into(),
            expires_at: now() + Duration::days(365),
            recorded_at: now() - Duration::days(days_ago),
            tool_version: "t".into(),
        }
    }

    fn decided_rows(att: &[AttestationRecord]) -> Vec<SoaRow> {
        let decisions: BTreeMap<String, Decision> = crate::catalog::controls()
            .iter()
            .map(|c| {
                // Incident management applies; the rest is excluded here, so
                // it needs no evidence.
                (
                    c.id.clone(),
                    Decision {
                        applicable: Some(c.id == "A.5.24"),
                        justification: Some("reason".into()),
                    },
                )
            })
            .collect();
        build_with_attestations(&decisions, &[], att, now())
    }

    #[test]
    fn ready_when_everything_is_in_place() {
        let att = vec![incident(30)];
        assert_eq!(
            assess(&all_documents(), &decided_rows(&att), &att, 365, now()),
            vec![]
        );
    }

    #[test]
    fn each_gap_is_named() {
        let mut docs = all_documents();
        docs.retain(|d| d.clause != "9.2");
        docs[0].present = Some(false);
        docs[1].last_review = NaiveDate::from_ymd_opt(2024, 1, 1);
        docs[2].last_review = None;
        let mut rows = decided_rows(&[]);
        rows[0].applicable = Some(true);
        rows[0].justification = None;
        let gaps = assess(&docs, &rows, &[incident(400)], 365, now());
        let codes: Vec<&str> = gaps.iter().map(|g| g.code).collect();
        for want in [
            "document_missing",
            "document_not_found",
            "document_review_overdue",
            "document_never_reviewed",
            "missing_justification",
            "no_evidence",
            "no_incident_records",
        ] {
            assert!(codes.contains(&want), "{want} missing from {codes:?}");
        }
        assert!(gaps
            .iter()
            .any(|g| g.code == "document_missing" && g.subject == "9.2"));
    }
}
