//! Amazon Macie: enabled, with automated sensitive data discovery, in every
//! covered region. The `aws.macie` observation and its checks.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{account_arn, error_finding, Reading};
use crate::model::{Check, CheckMeta, Finding, Observation, Severity, Status};
use crate::reason::ReasonCode;

/// The observation source of these checks.
pub const SOURCE: &str = "aws.macie";

/// What the AWS collector read of one account's Macie.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MacieObservation {
    /// The account id.
    pub account_id: String,
    /// The partition.
    pub partition: String,
    /// One entry per covered region.
    pub regions: Vec<RegionMacie>,
}

/// Macie in one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionMacie {
    /// The region.
    pub region: String,
    /// GetMacieSession; `None` when Macie is not enabled in the region
    /// (Macie answers `AccessDeniedException` "Macie is not enabled").
    pub session: Reading<Option<MacieSession>>,
    /// GetAutomatedDiscoveryConfiguration; `None` when not asked (Macie not enabled).
    pub automated_discovery: Option<Reading<AutomatedDiscovery>>,
}

/// The Macie session of the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MacieSession {
    /// `status`: `ENABLED` or `PAUSED`.
    pub status: String,
    /// `createdAt`.
    pub created_at: Option<DateTime<Utc>>,
    /// `updatedAt`.
    pub updated_at: Option<DateTime<Utc>>,
}

/// The automated sensitive data discovery configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutomatedDiscovery {
    /// `status`: `ENABLED` or `DISABLED`.
    pub status: String,
    /// `firstEnabledAt`.
    pub first_enabled_at: Option<DateTime<Utc>>,
    /// `lastUpdatedAt`.
    pub last_updated_at: Option<DateTime<Utc>>,
    /// `disabledAt`.
    pub disabled_at: Option<DateTime<Utc>>,
}

/// Macie is enabled.
pub const ENABLED: Check = Check {
    meta: CheckMeta {
        id: "aws_macie_enabled",
        title: "Amazon Macie is enabled in every covered region",
        severity: Severity::Medium,
        controls: &["A.8.12"],
        source: SOURCE,
        rationale: "Data leakage prevention needs to know where sensitive data is; Macie finds it in S3 and reports its exposure.",
        remediation: "Enable Amazon Macie in the region (or from the organisation's delegated Macie administrator).",
        max_age_days: 7,
    },
    evaluate: eval_enabled,
};

/// Automated sensitive data discovery is on.
pub const AUTOMATED_DISCOVERY: Check = Check {
    meta: CheckMeta {
        id: "aws_macie_automated_discovery_enabled",
        title: "Macie automated sensitive data discovery is enabled",
        severity: Severity::Medium,
        controls: &["A.8.12"],
        source: SOURCE,
        rationale: "Automated discovery keeps sampling every bucket, so new sensitive data is found without a hand-made job.",
        remediation: "Turn on automated sensitive data discovery in Macie (Settings > Automated discovery).",
        max_age_days: 7,
    },
    evaluate: eval_discovery,
};

fn parse(meta: &CheckMeta, obs: &Observation) -> Result<(MacieObservation, String), Vec<Finding>> {
    let d: MacieObservation = obs
        .payload()
        .map_err(|e| vec![Finding::malformed(meta, obs, &e)])?;
    let acct = account_arn(&d.partition, &d.account_id);
    if d.regions.is_empty() {
        return Err(vec![Finding::new(
            meta,
            acct,
            Status::Error,
            ReasonCode::ObservationMalformed,
            "no region was covered",
        )]);
    }
    Ok((d, acct))
}

/// The ARN naming Macie in a region (the session has none of its own).
fn macie_arn(d: &MacieObservation, region: &str) -> String {
    format!(
        "arn:{}:macie2:{region}:{}:session",
        d.partition, d.account_id
    )
}

fn eval_enabled(obs: &Observation) -> Vec<Finding> {
    let meta = &ENABLED.meta;
    let (d, acct) = match parse(meta, obs) {
        Ok(x) => x,
        Err(f) => return f,
    };
    d.regions
        .iter()
        .map(|r| {
            let prefix = format!("account {}, region {}", d.account_id, r.region);
            match &r.session {
                Reading::Error(e) => error_finding(meta, &acct, e),
                Reading::Ok(None) => Finding::new(
                    meta,
                    &acct,
                    Status::Fail,
                    ReasonCode::AwsMacieDisabled,
                    format!("{prefix}: Macie is not enabled"),
                ),
                Reading::Ok(Some(s)) if s.status == "ENABLED" => Finding::new(
                    meta,
                    macie_arn(&d, &r.region),
                    Status::Pass,
                    ReasonCode::AwsMacieEnabled,
                    format!(
                        "{prefix}: Macie is enabled{}",
                        s.created_at
                            .map(|t| format!(" (since {})", t.to_rfc3339()))
                            .unwrap_or_default()
                    ),
                ),
                Reading::Ok(Some(s)) => Finding::new(
                    meta,
                    macie_arn(&d, &r.region),
                    Status::Fail,
                    ReasonCode::AwsMacieDisabled,
                    format!("{prefix}: Macie is {}", s.status),
                ),
            }
        })
        .collect()
}

fn eval_discovery(obs: &Observation) -> Vec<Finding> {
    let meta = &AUTOMATED_DISCOVERY.meta;
    let (d, acct) = match parse(meta, obs) {
        Ok(x) => x,
        Err(f) => return f,
    };
    d.regions
        .iter()
        .map(|r| {
            let prefix = format!("account {}, region {}", d.account_id, r.region);
            let arn = macie_arn(&d, &r.region);
            match (&r.session, &r.automated_discovery) {
                (Reading::Error(e), _) => error_finding(meta, &acct, e),
                (Reading::Ok(s), _) if s.as_ref().is_none_or(|s| s.status != "ENABLED") => {
                    Finding::new(
                        meta,
                        &acct,
                        Status::Fail,
                        ReasonCode::AwsMacieDiscoveryDisabled,
                        format!("{prefix}: Macie is not enabled, so nothing is discovered"),
                    )
                }
                (_, None) => Finding::new(
                    meta,
                    &arn,
                    Status::Error,
                    ReasonCode::ObservationMalformed,
                    format!("{prefix}: the automated discovery configuration was not read"),
                ),
                (_, Some(Reading::Error(e))) => error_finding(meta, &arn, e),
                (_, Some(Reading::Ok(a))) if a.status == "ENABLED" => Finding::new(
                    meta,
                    &arn,
                    Status::Pass,
                    ReasonCode::AwsMacieDiscoveryEnabled,
                    format!(
                        "{prefix}: automated sensitive data discovery is enabled{}",
                        a.first_enabled_at
                            .map(|t| format!(" (since {})", t.to_rfc3339()))
                            .unwrap_or_default()
                    ),
                ),
                (_, Some(Reading::Ok(a))) => Finding::new(
                    meta,
                    &arn,
                    Status::Fail,
                    ReasonCode::AwsMacieDiscoveryDisabled,
                    format!(
                        "{prefix}: automated sensitive data discovery is {}{}",
                        a.status,
                        a.disabled_at
                            .map(|t| format!(" (since {})", t.to_rfc3339()))
                            .unwrap_or_default()
                    ),
                ),
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::aws::test_support::{err, obs};
    use crate::aws::AwsErrorKind;

    fn session(status: &str) -> Reading<Option<MacieSession>> {
        Reading::Ok(Some(MacieSession {
            status: status.into(),
            created_at: None,
            updated_at: None,
        }))
    }

    fn discovery(status: &str) -> Option<Reading<AutomatedDiscovery>> {
        Some(Reading::Ok(AutomatedDiscovery {
            status: status.into(),
            first_enabled_at: None,
            last_updated_at: None,
            disabled_at: None,
        }))
    }

    type RegionReadings = (
        Reading<Option<MacieSession>>,
        Option<Reading<AutomatedDiscovery>>,
    );

    fn data(regions: Vec<RegionReadings>) -> MacieObservation {
        MacieObservation {
            account_id: "111122223333".into(),
            partition: "aws".into(),
            regions: regions
                .into_iter()
                .enumerate()
                .map(|(i, (session, automated_discovery))| RegionMacie {
                    region: format!("region-{i}"),
                    session,
                    automated_discovery,
                })
                .collect(),
        }
    }

    fn got(c: &Check, d: &MacieObservation) -> Vec<(Status, ReasonCode)> {
        (c.evaluate)(&obs(SOURCE, d))
            .into_iter()
            .map(|f| (f.status, f.reason_code))
            .collect()
    }

    #[test]
    fn enabled_and_discovery_pass_fail_error() {
        let d = data(vec![
            (session("ENABLED"), discovery("ENABLED")),
            (session("ENABLED"), discovery("DISABLED")),
            (session("PAUSED"), None),
            (Reading::Ok(None), None),
            (err(AwsErrorKind::AccessDenied), None),
            (session("ENABLED"), Some(err(AwsErrorKind::Malformed))),
        ]);
        assert_eq!(
            got(&ENABLED, &d),
            [
                (Status::Pass, ReasonCode::AwsMacieEnabled),
                (Status::Pass, ReasonCode::AwsMacieEnabled),
                (Status::Fail, ReasonCode::AwsMacieDisabled),
                (Status::Fail, ReasonCode::AwsMacieDisabled),
                (Status::Error, ReasonCode::AwsAccessDenied),
                (Status::Pass, ReasonCode::AwsMacieEnabled),
            ]
        );
        assert_eq!(
            got(&AUTOMATED_DISCOVERY, &d),
            [
                (Status::Pass, ReasonCode::AwsMacieDiscoveryEnabled),
                (Status::Fail, ReasonCode::AwsMacieDiscoveryDisabled),
                (Status::Fail, ReasonCode::AwsMacieDiscoveryDisabled),
                (Status::Fail, ReasonCode::AwsMacieDiscoveryDisabled),
                (Status::Error, ReasonCode::AwsAccessDenied),
                (Status::Error, ReasonCode::AwsMalformedResponse),
            ]
        );
        let f = (ENABLED.evaluate)(&obs(SOURCE, &d));
        assert_eq!(
            f[0].resource_id,
            "arn:aws:macie2:region-0:111122223333:session"
        );
        assert!(f[3].reason.contains("region-3") && f[3].reason.contains("111122223333"));
        // An enabled session whose discovery was never asked is an error, not a pass.
        let unasked = data(vec![(session("ENABLED"), None)]);
        assert_eq!(got(&AUTOMATED_DISCOVERY, &unasked)[0].0, Status::Error);
        assert_eq!(got(&ENABLED, &data(vec![]))[0].0, Status::Error);
    }
}
