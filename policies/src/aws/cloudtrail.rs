//! CloudTrail: a multi-region trail logging management events, log file
//! validation, encryption and delivery to CloudWatch Logs. The
//! `aws.cloudtrail` observation and its checks.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{account_arn, error_finding, Reading};
use crate::model::{Check, CheckMeta, Finding, Observation, Severity, Status};
use crate::reason::ReasonCode;

/// The observation source of these checks.
pub const SOURCE: &str = "aws.cloudtrail";

/// The trails seen from one account (DescribeTrails with shadow trails, so
/// multi-region and organisation trails created elsewhere are included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudTrailObservation {
    /// The account id.
    pub account_id: String,
    /// The partition.
    pub partition: String,
    /// The region DescribeTrails was called in.
    pub region: String,
    /// The trails.
    pub trails: Reading<Vec<Trail>>,
}

/// One trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trail {
    /// `TrailARN`.
    pub arn: String,
    /// `Name`.
    pub name: String,
    /// `HomeRegion`.
    pub home_region: String,
    /// `IsMultiRegionTrail`.
    pub multi_region: bool,
    /// `IsOrganizationTrail`.
    pub organization_trail: bool,
    /// `LogFileValidationEnabled`.
    pub log_file_validation: bool,
    /// `KmsKeyId`, when the logs are encrypted with KMS.
    pub kms_key_id: Option<String>,
    /// `CloudWatchLogsLogGroupArn`.
    pub cloudwatch_log_group_arn: Option<String>,
    /// GetTrailStatus.
    pub status: Reading<TrailStatus>,
    /// GetEventSelectors reduced to management events.
    pub management_events: Reading<ManagementEvents>,
}

/// GetTrailStatus, the fields the checks use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrailStatus {
    /// `IsLogging`.
    pub is_logging: bool,
    /// `LatestCloudWatchLogsDeliveryTime`.
    pub latest_cloudwatch_delivery: Option<DateTime<Utc>>,
}

/// Which management events the trail's selectors record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagementEvents {
    /// Read-only management events.
    pub read: bool,
    /// Write management events.
    pub write: bool,
}

/// A multi-region trail logs management events.
pub const MULTI_REGION_LOGGING: Check = Check {
    meta: CheckMeta {
        id: "aws_cloudtrail_multi_region_logging",
        title: "A multi-region CloudTrail trail logs all management events",
        severity: Severity::High,
        controls: &["A.8.15", "A.8.16"],
        source: SOURCE,
        rationale: "Without an account-wide record of API activity, misuse cannot be detected or investigated.",
        remediation: "Create a multi-region trail (or an organisation trail) recording read and write management events, and start logging.",
        max_age_days: 7,
    },
    evaluate: eval_multi_region,
};

/// Trails validate their log files.
pub const LOG_VALIDATION_ENABLED: Check = Check {
    meta: CheckMeta {
        id: "aws_cloudtrail_log_validation_enabled",
        title: "CloudTrail trails validate their log files",
        severity: Severity::Medium,
        controls: &["A.8.15"],
        source: SOURCE,
        rationale: "Digest files show whether a log file was changed or deleted after delivery.",
        remediation: "Enable log file validation on the trail.",
        max_age_days: 7,
    },
    evaluate: eval_validation,
};

/// Trails encrypt their logs with KMS.
pub const LOGS_ENCRYPTED: Check = Check {
    meta: CheckMeta {
        id: "aws_cloudtrail_logs_encrypted",
        title: "CloudTrail trails encrypt their logs with a KMS key",
        severity: Severity::Medium,
        controls: &["A.8.15", "A.8.24"],
        source: SOURCE,
        rationale:
            "A customer-managed key separates who may read the logs from who may read the bucket.",
        remediation: "Set a KMS key on the trail (SSE-KMS).",
        max_age_days: 7,
    },
    evaluate: eval_encrypted,
};

/// Trails deliver to CloudWatch Logs.
pub const CLOUDWATCH_DELIVERY: Check = Check {
    meta: CheckMeta {
        id: "aws_cloudtrail_cloudwatch_delivery_enabled",
        title: "CloudTrail trails deliver to CloudWatch Logs",
        severity: Severity::Low,
        controls: &["A.8.16"],
        source: SOURCE,
        rationale: "Delivery to CloudWatch Logs lets metric filters and alarms monitor API activity as it happens.",
        remediation: "Configure a CloudWatch Logs log group and role on the trail.",
        max_age_days: 7,
    },
    evaluate: eval_cloudwatch,
};

fn prepare<'a>(
    meta: &CheckMeta,
    obs: &Observation,
    d: &'a mut Option<CloudTrailObservation>,
) -> Result<(&'a CloudTrailObservation, String), Vec<Finding>> {
    let data: CloudTrailObservation = obs
        .payload()
        .map_err(|e| vec![Finding::malformed(meta, obs, &e)])?;
    let acct = account_arn(&data.partition, &data.account_id);
    let data = d.insert(data);
    if let Reading::Error(e) = &data.trails {
        return Err(vec![error_finding(meta, &acct, e)]);
    }
    Ok((data, acct))
}

fn trails(d: &CloudTrailObservation) -> &[Trail] {
    d.trails.ok().map(Vec::as_slice).unwrap_or_default()
}

fn eval_multi_region(obs: &Observation) -> Vec<Finding> {
    let meta = &MULTI_REGION_LOGGING.meta;
    let mut holder = None;
    let (d, acct) = match prepare(meta, obs, &mut holder) {
        Ok(x) => x,
        Err(f) => return f,
    };
    let mut first_error = None;
    for t in trails(d).iter().filter(|t| t.multi_region) {
        let logging = match &t.status {
            Reading::Ok(s) => s.is_logging,
            Reading::Error(e) => {
                first_error.get_or_insert(e);
                continue;
            }
        };
        let events = match &t.management_events {
            Reading::Ok(m) => *m,
            Reading::Error(e) => {
                first_error.get_or_insert(e);
                continue;
            }
        };
        if logging && events.read && events.write {
            let org = if t.organization_trail {
                " (organisation trail)"
            } else {
                ""
            };
            return vec![Finding::new(meta, &t.arn, Status::Pass, ReasonCode::AwsTrailMultiRegionLogging,
                format!("account {}: trail {}{org}, home region {}, is multi-region, logging, and records read and write management events", d.account_id, t.name, t.home_region))];
        }
    }
    if let Some(e) = first_error {
        return vec![error_finding(meta, &acct, e)];
    }
    if trails(d).is_empty() {
        return vec![Finding::new(
            meta,
            acct,
            Status::Fail,
            ReasonCode::AwsNoTrails,
            format!(
                "account {}: no CloudTrail trail seen from {}",
                d.account_id, d.region
            ),
        )];
    }
    vec![Finding::new(meta, acct, Status::Fail, ReasonCode::AwsNoMultiRegionTrail,
        format!("account {}: none of the {} trails is multi-region, logging and recording all management events", d.account_id, trails(d).len()))]
}

fn per_trail(
    meta: &CheckMeta,
    obs: &Observation,
    judge: impl Fn(&Trail) -> (Status, ReasonCode, String),
) -> Vec<Finding> {
    let mut holder = None;
    let (d, acct) = match prepare(meta, obs, &mut holder) {
        Ok(x) => x,
        Err(f) => return f,
    };
    if trails(d).is_empty() {
        return vec![Finding::new(
            meta,
            acct,
            Status::Fail,
            ReasonCode::AwsNoTrails,
            format!(
                "account {}: no CloudTrail trail seen from {}",
                d.account_id, d.region
            ),
        )];
    }
    trails(d)
        .iter()
        .map(|t| {
            let (status, code, what) = judge(t);
            Finding::new(
                meta,
                &t.arn,
                status,
                code,
                format!(
                    "account {}, region {}: trail {} {what}",
                    d.account_id, t.home_region, t.name
                ),
            )
        })
        .collect()
}

fn eval_validation(obs: &Observation) -> Vec<Finding> {
    per_trail(&LOG_VALIDATION_ENABLED.meta, obs, |t| {
        if t.log_file_validation {
            (
                Status::Pass,
                ReasonCode::AwsTrailLogValidationEnabled,
                "validates its log files".into(),
            )
        } else {
            (
                Status::Fail,
                ReasonCode::AwsTrailLogValidationDisabled,
                "does not validate its log files".into(),
            )
        }
    })
}

fn eval_encrypted(obs: &Observation) -> Vec<Finding> {
    per_trail(&LOGS_ENCRYPTED.meta, obs, |t| match &t.kms_key_id {
        Some(k) => (
            Status::Pass,
            ReasonCode::AwsTrailEncrypted,
            format!("encrypts with {k}"),
        ),
        None => (
            Status::Fail,
            ReasonCode::AwsTrailNotEncrypted,
            "has no KMS key".into(),
        ),
    })
}

fn eval_cloudwatch(obs: &Observation) -> Vec<Finding> {
    per_trail(&CLOUDWATCH_DELIVERY.meta, obs, |t| {
        match &t.cloudwatch_log_group_arn {
            Some(g) => (
                Status::Pass,
                ReasonCode::AwsTrailCloudwatchDelivery,
                format!("delivers to {g}"),
            ),
            None => (
                Status::Fail,
                ReasonCode::AwsTrailNoCloudwatchDelivery,
                "does not deliver to CloudWatch Logs".into(),
            ),
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::aws::test_support::{err, obs};
    use crate::aws::AwsErrorKind;

    fn trail(multi: bool, logging: bool) -> Trail {
        Trail {
            arn: "arn:aws:cloudtrail:us-east-1:111122223333:trail/main".into(),
            name: "main".into(),
            home_region: "us-east-1".into(),
            multi_region: multi,
            organization_trail: false,
            log_file_validation: true,
            kms_key_id: None,
            cloudwatch_log_group_arn: None,
            status: Reading::Ok(TrailStatus {
                is_logging: logging,
                latest_cloudwatch_delivery: None,
            }),
            management_events: Reading::Ok(ManagementEvents {
                read: true,
                write: true,
            }),
        }
    }

    fn data(trails: Reading<Vec<Trail>>) -> CloudTrailObservation {
        CloudTrailObservation {
            account_id: "111122223333".into(),
            partition: "aws".into(),
            region: "us-east-1".into(),
            trails,
        }
    }

    fn codes(c: &Check, d: &CloudTrailObservation) -> Vec<(Status, ReasonCode)> {
        (c.evaluate)(&obs(SOURCE, d))
            .into_iter()
            .map(|f| (f.status, f.reason_code))
            .collect()
    }

    #[test]
    fn multi_region_logging_pass_fail_error() {
        assert_eq!(
            codes(
                &MULTI_REGION_LOGGING,
                &data(Reading::Ok(vec![trail(true, true)]))
            ),
            [(Status::Pass, ReasonCode::AwsTrailMultiRegionLogging)]
        );
        assert_eq!(
            codes(
                &MULTI_REGION_LOGGING,
                &data(Reading::Ok(vec![trail(false, true)]))
            ),
            [(Status::Fail, ReasonCode::AwsNoMultiRegionTrail)]
        );
        assert_eq!(
            codes(
                &MULTI_REGION_LOGGING,
                &data(Reading::Ok(vec![trail(true, false)]))
            ),
            [(Status::Fail, ReasonCode::AwsNoMultiRegionTrail)]
        );
        assert_eq!(
            codes(&MULTI_REGION_LOGGING, &data(Reading::Ok(vec![]))),
            [(Status::Fail, ReasonCode::AwsNoTrails)]
        );
        let mut write_only = trail(true, true);
        write_only.management_events = Reading::Ok(ManagementEvents {
            read: false,
            write: true,
        });
        assert_eq!(
            codes(&MULTI_REGION_LOGGING, &data(Reading::Ok(vec![write_only])))[0].0,
            Status::Fail
        );
        let mut unknown = trail(true, true);
        unknown.status = err(AwsErrorKind::AccessDenied);
        assert_eq!(
            codes(&MULTI_REGION_LOGGING, &data(Reading::Ok(vec![unknown]))),
            [(Status::Error, ReasonCode::AwsAccessDenied)]
        );
        assert_eq!(
            codes(&MULTI_REGION_LOGGING, &data(err(AwsErrorKind::Throttled))),
            [(Status::Error, ReasonCode::AwsThrottled)]
        );
    }

    #[test]
    fn per_trail_checks_pass_fail_error() {
        let mut good = trail(true, true);
        good.kms_key_id = Some("arn:aws:kms:us-east-1:111122223333:key/k".into());
        good.cloudwatch_log_group_arn =
            Some("arn:aws:logs:us-east-1:111122223333:log-group:ct".into());
        let mut bad = trail(true, true);
        bad.log_file_validation = false;
        let d = data(Reading::Ok(vec![good, bad]));
        assert_eq!(
            codes(&LOG_VALIDATION_ENABLED, &d)
                .iter()
                .map(|x| x.0)
                .collect::<Vec<_>>(),
            [Status::Pass, Status::Fail]
        );
        assert_eq!(
            codes(&LOGS_ENCRYPTED, &d)
                .iter()
                .map(|x| x.0)
                .collect::<Vec<_>>(),
            [Status::Pass, Status::Fail]
        );
        assert_eq!(
            codes(&CLOUDWATCH_DELIVERY, &d)
                .iter()
                .map(|x| x.0)
                .collect::<Vec<_>>(),
            [Status::Pass, Status::Fail]
        );
        for c in [LOG_VALIDATION_ENABLED, LOGS_ENCRYPTED, CLOUDWATCH_DELIVERY] {
            assert_eq!(
                codes(&c, &data(err(AwsErrorKind::Timeout))),
                [(Status::Error, ReasonCode::AwsTimeout)]
            );
            assert_eq!(codes(&c, &data(Reading::Ok(vec![])))[0].0, Status::Fail);
        }
    }
}
