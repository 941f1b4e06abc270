//! AWS Config: a configuration recorder that is recording, with the scope it
//! records, and a delivery channel, in every covered region. The
//! `aws.config` observation and its check.
//!
//! Only customer-managed recorders count: a service-linked recorder (one
//! with a service principal) records what another AWS service needs, not the
//! account's configuration history.

use serde::{Deserialize, Serialize};

use super::{account_arn, error_finding, Reading};
use crate::model::{Check, CheckMeta, Finding, Observation, Severity, Status};
use crate::reason::ReasonCode;

/// The observation source of this check.
pub const SOURCE: &str = "aws.config";

/// Settings of the AWS Config check (`[collectors.aws.config_recorder]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigRecorderSettings {
    /// The recorder must record all supported resource types; with `false`
    /// a recorder limited to listed types (or excluding some) passes, and
    /// the finding states its scope.
    pub require_all_resource_types: bool,
}

impl Default for ConfigRecorderSettings {
    fn default() -> Self {
        ConfigRecorderSettings {
            require_all_resource_types: true,
        }
    }
}

/// What the AWS collector read of one account's AWS Config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigObservation {
    /// The account id.
    pub account_id: String,
    /// The partition.
    pub partition: String,
    /// The settings the check applies.
    pub settings: ConfigRecorderSettings,
    /// One entry per covered region.
    pub regions: Vec<RegionConfig>,
}

/// AWS Config in one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionConfig {
    /// The region.
    pub region: String,
    /// DescribeConfigurationRecorders.
    pub recorders: Reading<Vec<Recorder>>,
    /// DescribeConfigurationRecorderStatus.
    pub statuses: Reading<Vec<RecorderStatus>>,
    /// DescribeDeliveryChannels.
    pub delivery_channels: Reading<Vec<DeliveryChannel>>,
}

/// One configuration recorder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recorder {
    /// `name`.
    pub name: String,
    /// `arn`, when the service returns it.
    pub arn: Option<String>,
    /// `recordingGroup.allSupported` (`true` when the group is absent, the documented default).
    pub all_supported: bool,
    /// `recordingGroup.includeGlobalResourceTypes`.
    pub include_global_resource_types: bool,
    /// `recordingGroup.resourceTypes`: the listed types when not all are recorded.
    pub resource_types: Vec<String>,
    /// `recordingGroup.exclusionByResourceTypes.resourceTypes`.
    pub excluded_resource_types: Vec<String>,
    /// `recordingGroup.recordingStrategy.useOnly`.
    pub strategy: Option<String>,
    /// `servicePrincipal` of a service-linked recorder.
    pub service_principal: Option<String>,
}

/// The status of one recorder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecorderStatus {
    /// `name`.
    pub name: String,
    /// `recording`.
    pub recording: bool,
    /// `lastStatus`: `Pending`, `Success` or `Failure`.
    pub last_status: Option<String>,
    /// `lastErrorCode`.
    pub last_error_code: Option<String>,
}

/// One delivery channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryChannel {
    /// `name`.
    pub name: String,
    /// `s3BucketName`.
    pub s3_bucket_name: Option<String>,
}

/// A recorder is recording with a delivery channel.
pub const RECORDER_RECORDING: Check = Check {
    meta: CheckMeta {
        id: "aws_config_recorder_recording",
        title: "AWS Config records resource configuration in every covered region",
        severity: Severity::Medium,
        controls: &["A.8.9"],
        source: SOURCE,
        rationale: "Configuration management needs a history of how resources were configured; the AWS Config recorder keeps it and the delivery channel stores it.",
        remediation: "Set up AWS Config in the region: a recorder of all resource types, a delivery channel to an S3 bucket, and start recording.",
        max_age_days: 7,
    },
    evaluate: eval_recording,
};

fn scope(r: &Recorder) -> String {
    if r.all_supported
        && r.strategy
            .as_deref()
            .is_none_or(|s| s == "ALL_SUPPORTED_RESOURCE_TYPES")
    {
        format!(
            "all supported resource types ({} global resource types)",
            if r.include_global_resource_types {
                "with"
            } else {
                "without"
            }
        )
    } else if !r.excluded_resource_types.is_empty() {
        format!(
            "all resource types except {}",
            r.excluded_resource_types.join(", ")
        )
    } else if r.resource_types.is_empty() {
        "no resource type".to_string()
    } else {
        format!("only {}", r.resource_types.join(", "))
    }
}

fn eval_recording(obs: &Observation) -> Vec<Finding> {
    let meta = &RECORDER_RECORDING.meta;
    let d: ConfigObservation = match obs.payload() {
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
    d.regions.iter().map(|r| region(&d, &acct, r)).collect()
}

fn region(d: &ConfigObservation, acct: &str, r: &RegionConfig) -> Finding {
    let meta = &RECORDER_RECORDING.meta;
    let prefix = format!("account {}, region {}", d.account_id, r.region);
    let recorders = match &r.recorders {
        Reading::Ok(list) => list,
        Reading::Error(e) => return error_finding(meta, acct, e),
    };
    let own: Vec<&Recorder> = recorders
        .iter()
        .filter(|x| x.service_principal.is_none())
        .collect();
    if own.is_empty() {
        return Finding::new(
            meta,
            acct,
            Status::Fail,
            ReasonCode::AwsConfigNoRecorder,
            format!(
                "{prefix}: no AWS Config configuration recorder{}",
                if recorders.is_empty() {
                    String::new()
                } else {
                    format!(" (only {} service-linked)", recorders.len())
                }
            ),
        );
    }
    // Invariant: `own` is not empty (checked above).
    let rec = own[0];
    let arn = rec.arn.clone().unwrap_or_else(|| {
        format!(
            "arn:{}:config:{}:{}:configuration-recorder/{}",
            d.partition, r.region, d.account_id, rec.name
        )
    });
    let statuses = match &r.statuses {
        Reading::Ok(s) => s,
        Reading::Error(e) => return error_finding(meta, &arn, e),
    };
    let Some(status) = statuses.iter().find(|s| s.name == rec.name) else {
        return Finding::new(
            meta,
            &arn,
            Status::Error,
            ReasonCode::AwsMalformedResponse,
            format!("{prefix}: recorder {} has no status", rec.name),
        );
    };
    if !status.recording {
        return Finding::new(
            meta,
            &arn,
            Status::Fail,
            ReasonCode::AwsConfigRecorderNotRecording,
            format!("{prefix}: recorder {} is stopped", rec.name),
        );
    }
    if status
        .last_status
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("failure"))
    {
        return Finding::new(
            meta,
            &arn,
            Status::Fail,
            ReasonCode::AwsConfigRecorderNotRecording,
            format!(
                "{prefix}: recorder {} is on but its last recording failed{}",
                rec.name,
                status
                    .last_error_code
                    .as_deref()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default()
            ),
        );
    }
    let channels = match &r.delivery_channels {
        Reading::Ok(c) => c,
        Reading::Error(e) => return error_finding(meta, &arn, e),
    };
    let Some(channel) = channels.first() else {
        return Finding::new(
            meta,
            &arn,
            Status::Fail,
            ReasonCode::AwsConfigNoDeliveryChannel,
            format!(
                "{prefix}: recorder {} is recording but there is no delivery channel",
                rec.name
            ),
        );
    };
    let scope_text = scope(rec);
    let all = scope_text.starts_with("all supported");
    let where_to = channel
        .s3_bucket_name
        .as_deref()
        .map(|b| format!(" to s3://{b}"))
        .unwrap_or_default();
    if !all && d.settings.require_all_resource_types {
        return Finding::new(
            meta,
            &arn,
            Status::Fail,
            ReasonCode::AwsConfigRecorderScopeLimited,
            format!(
                "{prefix}: recorder {} records {scope_text}, not all supported resource types",
                rec.name
            ),
        );
    }
    Finding::new(
        meta,
        &arn,
        Status::Pass,
        ReasonCode::AwsConfigRecorderRecording,
        format!(
            "{prefix}: recorder {} is recording {scope_text}, delivered by channel {}{where_to}",
            rec.name, channel.name
        ),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::aws::test_support::{err, obs};
    use crate::aws::AwsErrorKind;

    fn recorder(all: bool, types: &[&str]) -> Recorder {
        Recorder {
            name: "default".into(),
            arn: None,
            all_supported: all,
            include_global_resource_types: true,
            resource_types: types.iter().map(|s| s.to_string()).collect(),
            excluded_resource_types: vec![],
            strategy: None,
            service_principal: None,
        }
    }

    fn status(recording: bool, last: &str) -> RecorderStatus {
        RecorderStatus {
            name: "default".into(),
            recording,
            last_status: Some(last.into()),
            last_error_code: None,
        }
    }

    fn channel() -> Reading<Vec<DeliveryChannel>> {
        Reading::Ok(vec![DeliveryChannel {
            name: "default".into(),
            s3_bucket_name: Some("config-bucket".into()),
        }])
    }

    fn rc(
        recorders: Reading<Vec<Recorder>>,
        statuses: Reading<Vec<RecorderStatus>>,
        delivery_channels: Reading<Vec<DeliveryChannel>>,
    ) -> RegionConfig {
        RegionConfig {
            region: "us-east-1".into(),
            recorders,
            statuses,
            delivery_channels,
        }
    }

    fn got(regions: Vec<RegionConfig>, require_all: bool) -> Vec<(Status, ReasonCode)> {
        let d = ConfigObservation {
            account_id: "111122223333".into(),
            partition: "aws".into(),
            settings: ConfigRecorderSettings {
                require_all_resource_types: require_all,
            },
            regions,
        };
        (RECORDER_RECORDING.evaluate)(&obs(SOURCE, &d))
            .into_iter()
            .map(|f| (f.status, f.reason_code))
            .collect()
    }

    #[test]
    fn recorder_pass_fail_error() {
        let ok = || Reading::Ok(vec![recorder(true, &[])]);
        let limited = || Reading::Ok(vec![recorder(false, &["AWS::S3::Bucket"])]);
        let mut linked = recorder(true, &[]);
        linked.service_principal = Some("config-conforms.amazonaws.com".into());
        let cases = vec![
            rc(ok(), Reading::Ok(vec![status(true, "Success")]), channel()),
            rc(ok(), Reading::Ok(vec![status(false, "Success")]), channel()),
            rc(ok(), Reading::Ok(vec![status(true, "Failure")]), channel()),
            rc(
                ok(),
                Reading::Ok(vec![status(true, "Success")]),
                Reading::Ok(vec![]),
            ),
            rc(
                Reading::Ok(vec![]),
                Reading::Ok(vec![]),
                Reading::Ok(vec![]),
            ),
            rc(
                Reading::Ok(vec![linked]),
                Reading::Ok(vec![]),
                Reading::Ok(vec![]),
            ),
            rc(
                limited(),
                Reading::Ok(vec![status(true, "Success")]),
                channel(),
            ),
            rc(
                err(AwsErrorKind::AccessDenied),
                Reading::Ok(vec![]),
                channel(),
            ),
            rc(ok(), err(AwsErrorKind::Throttled), channel()),
            rc(
                ok(),
                Reading::Ok(vec![status(true, "Success")]),
                err(AwsErrorKind::ServiceError),
            ),
            rc(ok(), Reading::Ok(vec![]), channel()),
        ];
        assert_eq!(
            got(cases, true),
            [
                (Status::Pass, ReasonCode::AwsConfigRecorderRecording),
                (Status::Fail, ReasonCode::AwsConfigRecorderNotRecording),
                (Status::Fail, ReasonCode::AwsConfigRecorderNotRecording),
                (Status::Fail, ReasonCode::AwsConfigNoDeliveryChannel),
                (Status::Fail, ReasonCode::AwsConfigNoRecorder),
                (Status::Fail, ReasonCode::AwsConfigNoRecorder),
                (Status::Fail, ReasonCode::AwsConfigRecorderScopeLimited),
                (Status::Error, ReasonCode::AwsAccessDenied),
                (Status::Error, ReasonCode::AwsThrottled),
                (Status::Error, ReasonCode::AwsServiceError),
                (Status::Error, ReasonCode::AwsMalformedResponse),
            ]
        );
        // A stated, limited scope passes when the configuration allows it.
        let f = got(
            vec![rc(
                limited(),
                Reading::Ok(vec![status(true, "Success")]),
                channel(),
            )],
            false,
        );
        assert_eq!(f, [(Status::Pass, ReasonCode::AwsConfigRecorderRecording)]);
    }

    #[test]
    fn reason_names_account_region_scope_and_arn() {
        let d = ConfigObservation {
            account_id: "111122223333".into(),
            partition: "aws".into(),
            settings: ConfigRecorderSettings::default(),
            regions: vec![rc(
                Reading::Ok(vec![recorder(
                    false,
                    &["AWS::S3::Bucket", "AWS::IAM::Role"],
                )]),
                Reading::Ok(vec![status(true, "Success")]),
                channel(),
            )],
        };
        let f = (RECORDER_RECORDING.evaluate)(&obs(SOURCE, &d));
        assert_eq!(
            f[0].resource_id,
            "arn:aws:config:us-east-1:111122223333:configuration-recorder/default"
        );
        assert!(
            f[0].reason.contains("only AWS::S3::Bucket, AWS::IAM::Role"),
            "{}",
            f[0].reason
        );
        assert!(f[0].reason.contains("111122223333") && f[0].reason.contains("us-east-1"));
        let o = obs(SOURCE, &serde_json::json!([]));
        assert_eq!(
            (RECORDER_RECORDING.evaluate)(&o)[0].reason_code,
            ReasonCode::ObservationMalformed
        );
    }
}
