//! The AWS collector for `evident`: read-only calls through the official AWS
//! SDK for Rust, one set of observations per account.
//!
//! An instance names accounts (by profile, or by a role to assume with an
//! optional external id) and optionally discovers the member accounts of an
//! AWS Organization, assuming a named role in each. Accounts are collected
//! concurrently up to a bound; every observation's target is the account id.
//! A failed call never aborts the run: it is recorded in the observation
//! ([`evident_policies::aws::Reading::Error`]) and the checks report `error`.
//! Every API action the collector calls is listed in [`actions::ACTIONS`],
//! which a test keeps equal to `deploy/aws/evident-read-only-policy.json`.
//!
//! [`objects`] lists and streams S3 objects through the same connection
//! settings, and [`s3_dlp`] feeds them to the `evident-dlp` scanner (opt-in:
//! the `s3` locations of a `[[collectors.dlp]]` instance, `evident scan s3://…`).
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use chrono::{DateTime, Utc};
use evident_policies::aws::backup::BackupSettings;
use evident_policies::aws::config::ConfigRecorderSettings;
use evident_policies::aws::iam::IamSettings;
use evident_policies::aws::network::NetworkSettings;
use evident_policies::aws::{
    backup as backup_policy, cloudtrail as ct_policy, config as config_policy,
    guardduty as gd_policy, iam as iam_policy, macie as macie_policy, network as net_policy,
    rds as rds_policy, s3 as s3_policy,
};
use evident_policies::aws::{AwsError, AwsErrorKind, Reading};
use evident_policies::{Observation, Target, TargetKind};
use serde::{Deserialize, Serialize};

pub mod actions;
mod backup;
mod cloudtrail;
mod config;
pub mod credential_report;
mod error;
mod guardduty;
mod iam;
mod macie;
mod network;
pub mod objects;
mod rds;
mod s3;
pub mod s3_dlp;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;

/// One account to collect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSpec {
    /// A named profile of the shared config/credentials files. Default: the standard chain.
    pub profile: Option<String>,
    /// A role to assume (with the profile's or the default chain's credentials).
    pub role_arn: Option<String>,
    /// Name of an environment variable holding the external id of the role.
    pub external_id_env: Option<String>,
    /// A file holding the external id of the role (trailing newline ignored).
    pub external_id_file: Option<PathBuf>,
}

/// Organizations discovery: the active member accounts, each through a named role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationDiscovery {
    /// The role name to assume in each member account (e.g. `EvidentReadOnly`).
    pub role_name: String,
    /// Name of an environment variable holding the external id of that role.
    pub external_id_env: Option<String>,
    /// A file holding the external id of that role.
    pub external_id_file: Option<PathBuf>,
}

/// Settings of an AWS collector instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    /// The accounts.
    pub accounts: Vec<AccountSpec>,
    /// Discover member accounts through AWS Organizations (called with the
    /// default chain's credentials, which must be in the management or a
    /// delegated administrator account).
    pub organization: Option<OrganizationDiscovery>,
    /// Regions to cover; the first is where global services (IAM, S3 listing, CloudTrail listing) are called;
    /// GuardDuty, Backup, RDS, Macie and Config are read in each.
    pub regions: Vec<String>,
    /// Send every call to this endpoint instead of AWS's (tests, emulators).
    pub endpoint_url: Option<String>,
    /// Accounts collected at the same time.
    pub concurrency: usize,
    /// Attempts per call, including the first (the SDK's standard retry strategy).
    pub max_attempts: u32,
    /// Limit of one call attempt, seconds.
    pub call_timeout_seconds: u64,
    /// Thresholds of the IAM checks.
    pub iam: IamSettings,
    /// Thresholds of the AWS Backup and RDS checks.
    pub backup: BackupSettings,
    /// What the AWS Config check requires of the recorder.
    pub config_recorder: ConfigRecorderSettings,
    /// Settings of the network checks (administrative ports).
    pub network: NetworkSettings,
}

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings {
            accounts: Vec::new(),
            organization: None,
            regions: vec!["us-east-1".to_string()],
            endpoint_url: None,
            concurrency: 4,
            max_attempts: 3,
            call_timeout_seconds: 30,
            iam: IamSettings::default(),
            backup: BackupSettings::default(),
            config_recorder: ConfigRecorderSettings::default(),
            network: NetworkSettings::default(),
        }
    }
}

/// Why a collection could not start at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AwsCollectError {
    /// Organizations discovery failed; no account list.
    #[error("organizations discovery failed: {}", .0.describe())]
    Discovery(AwsError),
    /// Nothing to collect.
    #[error("no accounts configured and no organization discovery")]
    NoAccounts,
}

impl AwsCollectError {
    /// Worth retrying (throttling, timeouts, no answer).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            AwsCollectError::Discovery(e) if matches!(
                e.kind,
                AwsErrorKind::Throttled | AwsErrorKind::Timeout | AwsErrorKind::RequestFailed | AwsErrorKind::ServiceError
            )
        )
    }
}

/// The AWS collector.
#[derive(Debug, Clone)]
pub struct AwsCollector {
    settings: Arc<AwsSettings>,
}

/// Every observation source the collector produces.
pub const SOURCES: &[&str] = &[
    iam_policy::SOURCE,
    ct_policy::SOURCE,
    s3_policy::SOURCE,
    gd_policy::SOURCE,
    backup_policy::SOURCE,
    rds_policy::SOURCE,
    macie_policy::SOURCE,
    config_policy::SOURCE,
    net_policy::SOURCE,
];

/// What one account is reached with, once resolved.
#[derive(Debug, Clone)]
struct Account {
    /// A label for the target when the account id is unknown (role ARN's account, or `profile:<name>`).
    label: String,
    spec: AccountSpec,
    /// For an account found by organization discovery: what the discovering
    /// account saw of the organization.
    org_view: Option<Arc<OrgView>>,
}

/// What the discovering account sees of its organization, fetched once per
/// run and shared by the discovered members (which may not read it themselves).
#[derive(Debug)]
pub(crate) struct OrgView {
    /// The discovering account's id.
    pub discoverer: String,
    /// ListOrganizationsFeatures: organization id, `RootCredentialsManagement` enabled.
    pub features: Reading<(String, bool)>,
    /// DescribeOrganization's management account id.
    pub management_account_id: Reading<String>,
}

impl AwsCollector {
    /// A collector with these settings.
    pub fn new(settings: AwsSettings) -> AwsCollector {
        AwsCollector {
            settings: Arc::new(settings),
        }
    }

    /// The observation sources.
    pub fn sources() -> &'static [&'static str] {
        SOURCES
    }

    /// Collect every account: one observation per source and account.
    pub async fn collect(&self, now: DateTime<Utc>) -> Result<Vec<Observation>, AwsCollectError> {
        let mut accounts: Vec<Account> = self
            .settings
            .accounts
            .iter()
            .map(|spec| Account {
                label: label_of(spec),
                spec: spec.clone(),
                org_view: None,
            })
            .collect();
        if let Some(org) = &self.settings.organization {
            accounts.extend(self.discover(org).await?);
        }
        if accounts.is_empty() {
            return Err(AwsCollectError::NoAccounts);
        }
        let limit = Arc::new(tokio::sync::Semaphore::new(
            self.settings.concurrency.max(1),
        ));
        let labels: Vec<String> = accounts.iter().map(|a| a.label.clone()).collect();
        let mut set = tokio::task::JoinSet::new();
        for (i, account) in accounts.into_iter().enumerate() {
            let settings = self.settings.clone();
            let limit = limit.clone();
            set.spawn(async move {
                // Invariant: the semaphore is never closed.
                #[allow(clippy::expect_used)]
                let _permit = limit.acquire_owned().await.expect("semaphore open");
                (i, collect_account(&settings, &account, now).await)
            });
        }
        let mut per_account = Vec::new();
        let mut task_error = None;
        while let Some(done) = set.join_next().await {
            match done {
                Ok(x) => per_account.push(x),
                Err(e) => {
                    tracing::error!(error = %e, "an AWS account task failed");
                    task_error = Some(e.to_string());
                }
            }
        }
        // Fail closed: an account whose task died still gets error findings.
        if let Some(why) = task_error {
            let region = self
                .settings
                .regions
                .first()
                .cloned()
                .unwrap_or_else(|| "us-east-1".into());
            for (i, label) in labels.iter().enumerate() {
                if !per_account.iter().any(|(j, _)| *j == i) {
                    let e = error::malformed(
                        "collect",
                        &region,
                        format!("the collection task of this account failed: {why}"),
                    );
                    per_account.push((i, all_failed(label, &region, e, &self.settings, now)));
                }
            }
        }
        // Stable order: as configured, then discovered.
        per_account.sort_by_key(|(i, _)| *i);
        Ok(per_account.into_iter().flat_map(|(_, obs)| obs).collect())
    }

    async fn discover(&self, org: &OrganizationDiscovery) -> Result<Vec<Account>, AwsCollectError> {
        let region = self
            .settings
            .regions
            .first()
            .cloned()
            .unwrap_or_else(|| "us-east-1".into());
        let conf = base_loader(&self.settings, &region).load().await;
        let client = aws_sdk_organizations::Client::new(&conf);
        let mut pages = client.list_accounts().into_paginator().send();
        let mut out = Vec::new();
        let mut view = None;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                AwsCollectError::Discovery(error::classify(
                    "organizations:ListAccounts",
                    &region,
                    &e,
                ))
            })?;
            for a in page.accounts() {
                let active = a
                    .state()
                    .map(|s| s.as_str() == "ACTIVE")
                    .unwrap_or_else(|| {
                        #[allow(deprecated)]
                        let st = a.status().map(|s| s.as_str() == "ACTIVE");
                        st.unwrap_or(false)
                    });
                let (Some(id), Some(arn)) = (a.id(), a.arn()) else {
                    continue;
                };
                if !active {
                    continue;
                }
                let partition = arn.split(':').nth(1).unwrap_or("aws");
                let spec = AccountSpec {
                    profile: None,
                    role_arn: Some(format!("arn:{partition}:iam::{id}:role/{}", org.role_name)),
                    external_id_env: org.external_id_env.clone(),
                    external_id_file: org.external_id_file.clone(),
                };
                if self
                    .settings
                    .accounts
                    .iter()
                    .any(|s| s.role_arn == spec.role_arn)
                {
                    continue;
                }
                if view.is_none() {
                    view = Some(Arc::new(iam::org_view(&conf, &region).await));
                }
                out.push(Account {
                    label: id.to_string(),
                    spec,
                    org_view: view.clone(),
                });
            }
        }
        Ok(out)
    }
}

fn label_of(spec: &AccountSpec) -> String {
    if let Some(arn) = &spec.role_arn {
        if let Some(id) = arn.split(':').nth(4).filter(|s| !s.is_empty()) {
            return id.to_string();
        }
    }
    match &spec.profile {
        Some(p) => format!("profile:{p}"),
        None => "default".to_string(),
    }
}

/// The SDK config loader with the instance's retry, timeout and endpoint settings.
fn base_loader(settings: &AwsSettings, region: &str) -> aws_config::ConfigLoader {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts.max(1)))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(
                    settings.call_timeout_seconds.clamp(1, 10),
                ))
                .operation_attempt_timeout(Duration::from_secs(
                    settings.call_timeout_seconds.max(1),
                ))
                .build(),
        );
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader
}

/// Read an external id from its env var or file. The value is never logged.
fn external_id(env: &Option<String>, file: &Option<PathBuf>) -> Result<Option<String>, String> {
    if let Some(var) = env {
        return std::env::var(var)
            .map(Some)
            .map_err(|_| format!("environment variable {var} (external id) is not set"));
    }
    if let Some(path) = file {
        return std::fs::read_to_string(path)
            .map(|s| Some(s.trim_end_matches(['\n', '\r']).to_string()))
            .map_err(|e| format!("cannot read the external id file {}: {e}", path.display()));
    }
    Ok(None)
}

/// The SDK config of one account in `region`.
async fn account_config(
    settings: &AwsSettings,
    spec: &AccountSpec,
    region: &str,
) -> Result<SdkConfig, String> {
    let mut loader = base_loader(settings, region);
    if let Some(p) = &spec.profile {
        loader = loader.profile_name(p);
    }
    let base = loader.load().await;
    let Some(role) = &spec.role_arn else {
        return Ok(base);
    };
    let mut builder = aws_config::sts::AssumeRoleProvider::builder(role)
        .session_name("evident")
        .region(Region::new(region.to_string()))
        .configure(&base);
    if let Some(id) = external_id(&spec.external_id_env, &spec.external_id_file)? {
        builder = builder.external_id(id);
    }
    let provider = builder.build().await;
    Ok(base
        .into_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(provider),
        )
        .build())
}

/// What the account's calls share.
pub(crate) struct Ctx {
    pub conf: SdkConfig,
    pub settings: Arc<AwsSettings>,
    pub region: String,
    pub account_id: String,
    pub partition: String,
    /// The discovering account's view of the organization (discovered accounts only).
    pub org_view: Option<Arc<OrgView>>,
}

impl Ctx {
    /// The same config in another region.
    pub fn conf_in(&self, region: &str) -> SdkConfig {
        self.conf
            .clone()
            .into_builder()
            .region(Region::new(region.to_string()))
            .build()
    }
}

async fn collect_account(
    settings: &Arc<AwsSettings>,
    account: &Account,
    now: DateTime<Utc>,
) -> Vec<Observation> {
    let region = settings
        .regions
        .first()
        .cloned()
        .unwrap_or_else(|| "us-east-1".into());
    let failed = |e: AwsError| all_failed(&account.label, &region, e, settings, now);
    let conf = match account_config(settings, &account.spec, &region).await {
        Ok(c) => c,
        Err(message) => {
            return failed(AwsError {
                kind: AwsErrorKind::RequestFailed,
                operation: "external id".into(),
                region: region.clone(),
                code: None,
                message,
            });
        }
    };
    let sts = aws_sdk_sts::Client::new(&conf);
    let who = match sts.get_caller_identity().send().await {
        Ok(w) => w,
        Err(e) => return failed(error::classify("sts:GetCallerIdentity", &region, &e)),
    };
    let (Some(account_id), Some(arn)) = (who.account(), who.arn()) else {
        return failed(error::malformed(
            "sts:GetCallerIdentity",
            &region,
            "no Account or Arn in the answer",
        ));
    };
    let partition = arn.split(':').nth(1).unwrap_or("aws").to_string();
    tracing::debug!(
        account = account_id,
        principal = arn,
        "collecting AWS account"
    );
    let ctx = Ctx {
        conf,
        settings: settings.clone(),
        region,
        account_id: account_id.to_string(),
        partition,
        org_view: account.org_view.clone(),
    };
    let target = Target {
        kind: TargetKind::Account,
        id: ctx.account_id.clone(),
    };
    let (iam, trails, s3, gd, bk, rds, macie, cfg, net) = tokio::join!(
        iam::observe(&ctx),
        cloudtrail::observe(&ctx),
        s3::observe(&ctx),
        guardduty::observe(&ctx),
        backup::observe(&ctx, now),
        rds::observe(&ctx),
        macie::observe(&ctx),
        config::observe(&ctx),
        network::observe(&ctx)
    );
    vec![
        Observation::new(iam_policy::SOURCE, target.clone(), now, &iam),
        Observation::new(ct_policy::SOURCE, target.clone(), now, &trails),
        Observation::new(s3_policy::SOURCE, target.clone(), now, &s3),
        Observation::new(gd_policy::SOURCE, target.clone(), now, &gd),
        Observation::new(backup_policy::SOURCE, target.clone(), now, &bk),
        Observation::new(rds_policy::SOURCE, target.clone(), now, &rds),
        Observation::new(macie_policy::SOURCE, target.clone(), now, &macie),
        Observation::new(config_policy::SOURCE, target.clone(), now, &cfg),
        Observation::new(net_policy::SOURCE, target, now, &net),
    ]
}

/// One value per covered region.
fn per_region<T>(regions: &[String], f: impl Fn(String) -> T) -> Vec<T> {
    regions.iter().cloned().map(f).collect()
}

/// Observations of an account that could not be reached: every part is the error.
fn all_failed(
    label: &str,
    region: &str,
    e: AwsError,
    settings: &AwsSettings,
    now: DateTime<Utc>,
) -> Vec<Observation> {
    tracing::warn!(account = label, error = %e.describe(), "AWS account unreachable");
    let target = Target {
        kind: TargetKind::Account,
        id: label.to_string(),
    };
    let partition = "aws".to_string();
    let iam = iam_policy::IamObservation {
        account_id: label.to_string(),
        partition: partition.clone(),
        region: region.to_string(),
        settings: settings.iam.clone(),
        credential_report: Reading::Error(e.clone()),
        privileged_users: Reading::Error(e.clone()),
        account_summary: Reading::Error(e.clone()),
        root_virtual_mfa: Reading::Error(e.clone()),
        password_policy: Reading::Error(e.clone()),
        root_credentials_management: Reading::Error(e.clone()),
    };
    let trails = ct_policy::CloudTrailObservation {
        account_id: label.to_string(),
        partition: partition.clone(),
        region: region.to_string(),
        trails: Reading::Error(e.clone()),
    };
    let s3 = s3_policy::S3Observation {
        account_id: label.to_string(),
        partition: partition.clone(),
        region: region.to_string(),
        account_block: Reading::Error(e.clone()),
        buckets: Reading::Error(e.clone()),
    };
    let net = net_policy::NetworkObservation {
        account_id: label.to_string(),
        partition: partition.clone(),
        settings: settings.network.clone(),
        regions: per_region(&settings.regions, |region| net_policy::RegionNetwork {
            region,
            vpcs: Reading::Error(e.clone()),
            security_groups: Reading::Error(e.clone()),
            flow_logs: Reading::Error(e.clone()),
            dns_firewall: Reading::Error(e.clone()),
            network_firewalls: Reading::Error(e.clone()),
        }),
    };
    let gd = gd_policy::GuardDutyObservation {
        account_id: label.to_string(),
        partition: partition.clone(),
        regions: per_region(&settings.regions, |region| gd_policy::RegionDetectors {
            region,
            detectors: Reading::Error(e.clone()),
        }),
    };
    let bk = backup_policy::BackupObservation {
        account_id: label.to_string(),
        partition: partition.clone(),
        settings: settings.backup.clone(),
        regions: per_region(&settings.regions, |region| backup_policy::RegionBackup {
            region,
            plans: Reading::Error(e.clone()),
            vaults: Reading::Error(e.clone()),
            restore_testing_plans: Reading::Error(e.clone()),
        }),
    };
    let rds = rds_policy::RdsObservation {
        account_id: label.to_string(),
        partition: partition.clone(),
        min_retention_days: settings.backup.rds_min_retention_days,
        regions: per_region(&settings.regions, |region| rds_policy::RegionRds {
            region,
            instances: Reading::Error(e.clone()),
            clusters: Reading::Error(e.clone()),
        }),
    };
    let macie = macie_policy::MacieObservation {
        account_id: label.to_string(),
        partition: partition.clone(),
        regions: per_region(&settings.regions, |region| macie_policy::RegionMacie {
            region,
            session: Reading::Error(e.clone()),
            automated_discovery: None,
        }),
    };
    let cfg = config_policy::ConfigObservation {
        account_id: label.to_string(),
        partition,
        settings: settings.config_recorder.clone(),
        regions: per_region(&settings.regions, |region| config_policy::RegionConfig {
            region,
            recorders: Reading::Error(e.clone()),
            statuses: Reading::Error(e.clone()),
            delivery_channels: Reading::Error(e.clone()),
        }),
    };
    vec![
        Observation::new(iam_policy::SOURCE, target.clone(), now, &iam),
        Observation::new(ct_policy::SOURCE, target.clone(), now, &trails),
        Observation::new(s3_policy::SOURCE, target.clone(), now, &s3),
        Observation::new(gd_policy::SOURCE, target.clone(), now, &gd),
        Observation::new(backup_policy::SOURCE, target.clone(), now, &bk),
        Observation::new(rds_policy::SOURCE, target.clone(), now, &rds),
        Observation::new(macie_policy::SOURCE, target.clone(), now, &macie),
        Observation::new(config_policy::SOURCE, target.clone(), now, &cfg),
        Observation::new(net_policy::SOURCE, target, now, &net),
    ]
}
