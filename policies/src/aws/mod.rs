//! Checks on AWS accounts. Observation payload types live here too, so that
//! the AWS collector (crate `evident-collector-aws`) and the checks share one
//! definition.
//!
//! Each source is fetched once per account and run by the collector; every
//! observation's target is the account (`TargetKind::Account`, the account
//! id), and every finding's resource is an ARN:
//! - [`iam`]: `aws.iam`, the credential report, account authorization
//!   details, account summary, root's virtual MFA and the password policy;
//! - [`cloudtrail`]: `aws.cloudtrail`, the trails seen from the account with
//!   their status and event selectors;
//! - [`s3`]: `aws.s3`, account-level Block Public Access and each bucket's
//!   Block Public Access, policy status, ACL grants and default encryption;
//! - [`guardduty`]: `aws.guardduty`, the GuardDuty detectors of every covered region;
//! - [`backup`]: `aws.backup`, AWS Backup plans and selections, the newest
//!   recovery point of each resource, restore testing plans and their jobs;
//! - [`rds`]: `aws.rds`, RDS DB instances and clusters (retention, Multi-AZ);
//! - [`macie`]: `aws.macie`, the Macie session and automated discovery;
//! - [`config`]: `aws.config`, AWS Config recorders, their status and delivery channels.
//! - [`network`]: `aws.network`, per covered region the VPCs, security groups,
//!   flow logs, DNS Firewall associations and rules, and Network Firewalls.
//!
//! A call that failed is recorded in the payload as [`Reading::Error`] and the
//! checks that need it report `error` (fail closed).

use serde::{Deserialize, Serialize};

use crate::model::{Check, CheckMeta, Finding, Status};
use crate::reason::ReasonCode;

pub mod backup;
pub mod cloudtrail;
pub mod config;
pub mod guardduty;
pub mod iam;
pub mod macie;
pub mod network;
pub mod policy_document;
pub mod rds;
pub mod s3;

/// The AWS checks.
pub static CHECKS: &[Check] = &[
    iam::ROOT_MFA_ENABLED,
    iam::ROOT_HARDWARE_MFA,
    iam::ROOT_ACCESS_KEYS_ABSENT,
    iam::CONSOLE_USERS_MFA,
    iam::PRIVILEGED_USERS_MFA,
    iam::PASSWORD_POLICY_STRONG,
    iam::ACCESS_KEYS_ROTATED,
    iam::UNUSED_CREDENTIALS_DISABLED,
    cloudtrail::MULTI_REGION_LOGGING,
    cloudtrail::LOG_VALIDATION_ENABLED,
    cloudtrail::LOGS_ENCRYPTED,
    cloudtrail::CLOUDWATCH_DELIVERY,
    s3::ACCOUNT_PUBLIC_ACCESS_BLOCKED,
    s3::BUCKETS_NOT_PUBLIC,
    s3::BUCKETS_DEFAULT_ENCRYPTED,
    guardduty::ENABLED,
    backup::PLANS_SELECT_RESOURCES,
    backup::RECOVERY_POINTS_WITHIN_RPO,
    backup::RESTORE_TESTS_RECENT,
    rds::BACKUP_RETENTION,
    rds::MULTI_AZ,
    macie::ENABLED,
    macie::AUTOMATED_DISCOVERY,
    config::RECORDER_RECORDING,
    network::DNS_FIREWALL_BLOCKING,
    network::NETWORK_FIREWALL_PRESENT,
    network::SECURITY_GROUPS_ADMIN_PORTS_RESTRICTED,
    network::FLOW_LOGS_ENABLED,
];

/// How an AWS API call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AwsErrorKind {
    /// Denied (`AccessDenied`, `AccessDeniedException`, `UnauthorizedOperation`, HTTP 403).
    AccessDenied,
    /// Throttled (`Throttling`, `ThrottlingException`, `TooManyRequestsException`, `SlowDown`, HTTP 429).
    Throttled,
    /// A server error (HTTP 5xx) or an unexpected service error.
    ServiceError,
    /// No answer within the call timeout.
    Timeout,
    /// The answer could not be parsed.
    Malformed,
    /// No answer at all (connection, DNS, TLS, credentials).
    RequestFailed,
}

impl AwsErrorKind {
    /// The reason code of an `error` finding caused by this kind of failure.
    pub fn reason_code(self) -> ReasonCode {
        match self {
            AwsErrorKind::AccessDenied => ReasonCode::AwsAccessDenied,
            AwsErrorKind::Throttled => ReasonCode::AwsThrottled,
            AwsErrorKind::ServiceError => ReasonCode::AwsServiceError,
            AwsErrorKind::Timeout => ReasonCode::AwsTimeout,
            AwsErrorKind::Malformed => ReasonCode::AwsMalformedResponse,
            AwsErrorKind::RequestFailed => ReasonCode::AwsRequestFailed,
        }
    }
}

/// A failed AWS API call, recorded in the observation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsError {
    /// What kind of failure.
    pub kind: AwsErrorKind,
    /// The operation, e.g. `iam:GenerateCredentialReport`.
    pub operation: String,
    /// The region the call went to.
    pub region: String,
    /// The AWS error code, when the service sent one (e.g. `AccessDenied`).
    pub code: Option<String>,
    /// Human-readable description (never a credential).
    pub message: String,
}

impl AwsError {
    /// `operation in region: code: message`, for a reason text.
    pub fn describe(&self) -> String {
        match &self.code {
            Some(code) => format!(
                "{} in {} failed: {code}: {}",
                self.operation, self.region, self.message
            ),
            None => format!(
                "{} in {} failed: {}",
                self.operation, self.region, self.message
            ),
        }
    }
}

/// The outcome of one read: the value, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reading<T> {
    /// The value read.
    Ok(T),
    /// The call failed.
    Error(AwsError),
}

impl<T> Reading<T> {
    /// The value, or the `error` finding for `meta` on `resource`.
    pub fn or_error(&self, meta: &CheckMeta, resource: &str) -> Result<&T, Finding> {
        match self {
            Reading::Ok(v) => Ok(v),
            Reading::Error(e) => Err(error_finding(meta, resource, e)),
        }
    }

    /// The value, if read.
    pub fn ok(&self) -> Option<&T> {
        match self {
            Reading::Ok(v) => Some(v),
            Reading::Error(_) => None,
        }
    }
}

/// The `error` finding for a failed call.
pub fn error_finding(meta: &CheckMeta, resource: &str, e: &AwsError) -> Finding {
    Finding::new(
        meta,
        resource,
        Status::Error,
        e.kind.reason_code(),
        e.describe(),
    )
}

/// The ARN naming an account as a whole: `arn:<partition>:iam::<account>:root`.
pub fn account_arn(partition: &str, account_id: &str) -> String {
    format!("arn:{partition}:iam::{account_id}:root")
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Helpers shared by the AWS checks' unit tests.
    use crate::model::{Observation, Target, TargetKind};

    pub use crate::host::test_support::{now, summary};

    /// An observation of `source` for account 111122223333, collected at [`now`].
    pub fn obs<T: serde::Serialize>(source: &str, data: &T) -> Observation {
        Observation::new(
            source,
            Target {
                kind: TargetKind::Account,
                id: "111122223333".into(),
            },
            now(),
            data,
        )
    }

    /// A failed read.
    pub fn err<T>(kind: super::AwsErrorKind) -> super::Reading<T> {
        super::Reading::Error(super::AwsError {
            kind,
            operation: "test:Op".into(),
            region: "us-east-1".into(),
            code: Some("Code".into()),
            message: "it failed".into(),
        })
    }
}
