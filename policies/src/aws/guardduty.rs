//! GuardDuty: threat detection enabled in every covered region. The
//! `aws.guardduty` observation and its check.

use serde::{Deserialize, Serialize};

use super::{account_arn, error_finding, Reading};
use crate::model::{Check, CheckMeta, Finding, Observation, Severity, Status};
use crate::reason::ReasonCode;

/// The observation source of this check.
pub const SOURCE: &str = "aws.guardduty";

/// The GuardDuty detectors of one account in each covered region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardDutyObservation {
    /// The account id.
    pub account_id: String,
    /// The partition.
    pub partition: String,
    /// One entry per covered region.
    pub regions: Vec<RegionDetectors>,
}

/// The detectors of one region (ListDetectors, then GetDetector for each).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionDetectors {
    /// The region.
    pub region: String,
    /// The detectors.
    pub detectors: Reading<Vec<Detector>>,
}

/// One detector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Detector {
    /// Detector id.
    pub id: String,
    /// `Status` is `ENABLED`.
    pub enabled: bool,
}

/// GuardDuty is enabled in each covered region.
pub const ENABLED: Check = Check {
    meta: CheckMeta {
        id: "aws_guardduty_detector_enabled",
        title: "GuardDuty is enabled in every covered region",
        severity: Severity::High,
        controls: &["A.8.16", "A.8.7"],
        source: SOURCE,
        rationale: "Networks, systems and applications are monitored for anomalous behaviour; GuardDuty watches API calls, DNS and flow logs for known threats.",
        remediation: "Enable GuardDuty in the listed regions (or through the organisation's delegated administrator).",
        max_age_days: 7,
    },
    evaluate: eval_enabled,
};

fn eval_enabled(obs: &Observation) -> Vec<Finding> {
    let meta = &ENABLED.meta;
    let d: GuardDutyObservation = match obs.payload() {
        Ok(d) => d,
        Err(e) => return vec![Finding::malformed(meta, obs, &e)],
    };
    let acct = account_arn(&d.partition, &d.account_id);
    if d.regions.is_empty() {
        return vec![Finding::new(
            meta,
            acct,
            Status::Error,
            ReasonCode::ObservationMalformed,
            "no region was covered",
        )];
    }
    d.regions
        .iter()
        .map(|r| match &r.detectors {
            Reading::Error(e) => error_finding(meta, &acct, e),
            Reading::Ok(list) => match list.iter().find(|x| x.enabled) {
                Some(det) => Finding::new(
                    meta,
                    format!(
                        "arn:{}:guardduty:{}:{}:detector/{}",
                        d.partition, r.region, d.account_id, det.id
                    ),
                    Status::Pass,
                    ReasonCode::AwsGuardDutyEnabled,
                    format!(
                        "account {}, region {}: detector {} is enabled",
                        d.account_id, r.region, det.id
                    ),
                ),
                None => Finding::new(
                    meta,
                    acct.clone(),
                    Status::Fail,
                    ReasonCode::AwsGuardDutyDisabled,
                    format!(
                        "account {}, region {}: no enabled GuardDuty detector ({} detectors)",
                        d.account_id,
                        r.region,
                        list.len()
                    ),
                ),
            },
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::aws::test_support::{err, obs};
    use crate::aws::AwsErrorKind;

    fn data(regions: Vec<(&str, Reading<Vec<Detector>>)>) -> GuardDutyObservation {
        GuardDutyObservation {
            account_id: "111122223333".into(),
            partition: "aws".into(),
            regions: regions
                .into_iter()
                .map(|(r, detectors)| RegionDetectors {
                    region: r.into(),
                    detectors,
                })
                .collect(),
        }
    }

    #[test]
    fn enabled_per_region_pass_fail_error() {
        let d = data(vec![
            (
                "us-east-1",
                Reading::Ok(vec![Detector {
                    id: "d1".into(),
                    enabled: true,
                }]),
            ),
            (
                "eu-west-1",
                Reading::Ok(vec![Detector {
                    id: "d2".into(),
                    enabled: false,
                }]),
            ),
            ("ap-south-1", Reading::Ok(vec![])),
            ("sa-east-1", err(AwsErrorKind::AccessDenied)),
        ]);
        let f = (ENABLED.evaluate)(&obs(SOURCE, &d));
        let got: Vec<(Status, ReasonCode)> = f.iter().map(|f| (f.status, f.reason_code)).collect();
        assert_eq!(
            got,
            [
                (Status::Pass, ReasonCode::AwsGuardDutyEnabled),
                (Status::Fail, ReasonCode::AwsGuardDutyDisabled),
                (Status::Fail, ReasonCode::AwsGuardDutyDisabled),
                (Status::Error, ReasonCode::AwsAccessDenied),
            ]
        );
        assert_eq!(
            f[0].resource_id,
            "arn:aws:guardduty:us-east-1:111122223333:detector/d1"
        );
        assert!(f[1].reason.contains("eu-west-1"));
    }
}
