//! `[[collectors.aws]]`: AWS accounts, through the official SDK with read-only credentials.

use chrono::{DateTime, Utc};
use evident_collector_aws::{AccountSpec, AwsCollector, AwsSettings, OrganizationDiscovery};
use evident_policies::aws::backup::BackupSettings;
use evident_policies::aws::config::ConfigRecorderSettings;
use evident_policies::aws::iam::IamSettings;
use evident_policies::aws::network::NetworkSettings;
use evident_policies::{Observation, Target, TargetKind};

use crate::config::{Place, Problem};
use crate::daemon::{BoxFut, RunFailure};
use crate::instances::Kind;

crate::collector_instance! {
    /// `[[collectors.aws]]`: AWS accounts (IAM, CloudTrail, S3, GuardDuty, Backup, RDS, Macie, Config, networks).
    pub struct AwsInstance {
        /// The accounts, each by profile and/or a role ARN to assume. Default: none.
        #[serde(default)]
        pub accounts: Vec<AccountSpec>,
        /// Discover the active member accounts of an AWS Organization and assume a named role in each.
        pub organization: Option<OrganizationDiscovery>,
        /// Regions to cover; the first is where global services are called. Default: `["us-east-1"]`.
        #[serde(default = "default_regions")]
        pub regions: Vec<String>,
        /// Send every call to this endpoint (an emulator such as moto). Default: AWS.
        pub endpoint_url: Option<String>,
        /// Accounts collected at the same time. Default: 4.
        #[serde(default = "default_concurrency")]
        pub concurrency: usize,
        /// Attempts per API call (the SDK's standard retries). Default: 3.
        #[serde(default = "default_max_attempts")]
        pub max_attempts: u32,
        /// Limit in seconds of one API call attempt. Default: 30.
        #[serde(default = "default_call_timeout")]
        pub call_timeout_seconds: u64,
        /// Thresholds of the IAM checks.
        #[serde(default)]
        pub iam: IamSettings,
        /// Thresholds of the AWS Backup and RDS checks (`[collectors.aws.backup]`).
        #[serde(default)]
        pub backup: BackupSettings,
        /// What the AWS Config check requires of the recorder (`[collectors.aws.config_recorder]`).
        #[serde(default)]
        pub config_recorder: ConfigRecorderSettings,
        /// Settings of the network checks (administrative ports).
        #[serde(default)]
        pub network: NetworkSettings,
    }
}

fn default_regions() -> Vec<String> {
    vec!["us-east-1".to_string()]
}
fn default_concurrency() -> usize {
    4
}
fn default_max_attempts() -> u32 {
    3
}
fn default_call_timeout() -> u64 {
    30
}

impl AwsInstance {
    /// The collector's settings.
    pub fn settings(&self) -> AwsSettings {
        AwsSettings {
            accounts: self.accounts.clone(),
            organization: self.organization.clone(),
            regions: self.regions.clone(),
            endpoint_url: self.endpoint_url.clone(),
            concurrency: self.concurrency,
            max_attempts: self.max_attempts,
            call_timeout_seconds: self.call_timeout_seconds,
            iam: self.iam.clone(),
            backup: self.backup.clone(),
            config_recorder: self.config_recorder.clone(),
            network: self.network.clone(),
        }
    }
}

impl Kind for AwsInstance {
    const KIND: &'static str = "aws";

    fn sources(&self) -> &'static [&'static str] {
        AwsCollector::sources()
    }

    fn target(&self) -> Target {
        Target {
            kind: TargetKind::Account,
            id: self.name.clone().unwrap_or_else(|| "aws".to_string()),
        }
    }

    fn validate(&self, at: &Place<'_>, problems: &mut Vec<Problem>) {
        let mut bad = |place: Place<'_>, m: String| problems.push(place.problem(&m));
        if self.accounts.is_empty() && self.organization.is_none() {
            bad(
                at.key("accounts"),
                "name at least one entry in accounts, or an organization to discover".into(),
            );
        }
        if self.regions.is_empty() {
            bad(
                at.key("regions"),
                "regions must name at least one region".into(),
            );
        }
        for (i, r) in self.regions.iter().enumerate() {
            if r.is_empty()
                || !r
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                bad(
                    at.key("regions").item(i),
                    format!("region {r:?} is not a region name such as us-east-1"),
                );
            }
        }
        if self.concurrency == 0 {
            bad(
                at.key("concurrency"),
                "concurrency must be at least 1".into(),
            );
        }
        if self.max_attempts == 0 {
            bad(
                at.key("max_attempts"),
                "max_attempts must be at least 1".into(),
            );
        }
        if self.call_timeout_seconds == 0 {
            bad(
                at.key("call_timeout_seconds"),
                "call_timeout_seconds must be at least 1".into(),
            );
        }
        if let Some(url) = &self.endpoint_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bad(
                    at.key("endpoint_url"),
                    format!("endpoint_url {url:?} must start with http:// or https://"),
                );
            }
        }
        for (i, a) in self.accounts.iter().enumerate() {
            let account = at.key("accounts").item(i);
            if let Some(arn) = &a.role_arn {
                let parts: Vec<&str> = arn.split(':').collect();
                if parts.len() != 6
                    || parts[0] != "arn"
                    || parts[2] != "iam"
                    || parts[4].len() != 12
                    || !parts[5].starts_with("role/")
                {
                    bad(account.key("role_arn"), format!("role_arn {arn:?} is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)"));
                }
            } else if a.external_id_env.is_some() || a.external_id_file.is_some() {
                let key = if a.external_id_env.is_some() {
                    "external_id_env"
                } else {
                    "external_id_file"
                };
                bad(account.key(key), "an external id needs a role_arn".into());
            }
            if a.external_id_env.is_some() && a.external_id_file.is_some() {
                bad(
                    account.key("external_id_file"),
                    "give the external id as external_id_env or external_id_file, not both".into(),
                );
            }
        }
        let backup = at.key("backup");
        if self.backup.rpo_hours == 0 {
            bad(
                backup.key("rpo_hours"),
                "backup.rpo_hours must be at least 1".into(),
            );
        }
        for (key, hours) in &self.backup.rpo_hours_by {
            if *hours == 0 {
                bad(
                    backup.key("rpo_hours_by").key(key),
                    format!("backup.rpo_hours_by.{key:?} must be at least 1"),
                );
            }
        }
        if self.backup.restore_test_max_age_days == 0 {
            bad(
                backup.key("restore_test_max_age_days"),
                "backup.restore_test_max_age_days must be at least 1".into(),
            );
        }
        if !(1..=35).contains(&self.backup.rds_min_retention_days) {
            bad(
                backup.key("rds_min_retention_days"),
                format!(
                    "backup.rds_min_retention_days {} must be between 1 and 35 (the RDS maximum)",
                    self.backup.rds_min_retention_days
                ),
            );
        }
        let admin_ports = at.key("network").key("admin_ports");
        if self.network.admin_ports.is_empty() {
            bad(
                admin_ports.clone(),
                "network.admin_ports must name at least one port".into(),
            );
        }
        if let Some(i) = self.network.admin_ports.iter().position(|p| *p == 0) {
            bad(
                admin_ports.item(i),
                "network.admin_ports: 0 is not a port".into(),
            );
        }
        if let Some(o) = &self.organization {
            let org = at.key("organization");
            if o.role_name.is_empty() || o.role_name.contains([':', '/']) {
                bad(
                    org.key("role_name"),
                    format!(
                        "organization.role_name {:?} must be a role name, not an ARN or path",
                        o.role_name
                    ),
                );
            }
            if o.external_id_env.is_some() && o.external_id_file.is_some() {
                bad(org.key("external_id_file"), "give the organization's external id as external_id_env or external_id_file, not both".into());
            }
        }
    }

    fn collect(&self, now: DateTime<Utc>) -> BoxFut<Result<Vec<Observation>, RunFailure>> {
        let collector = AwsCollector::new(self.settings());
        Box::pin(async move {
            collector.collect(now).await.map_err(|e| RunFailure {
                transient: e.is_transient(),
                message: e.to_string(),
            })
        })
    }
}
