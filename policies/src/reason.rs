//! Stable, machine-readable reason codes carried by every finding.
//!
//! A code never changes meaning once released; `docs/reason-codes.md` lists
//! them and a test snapshots the set, so a rename is a visible decision.

use serde::Serialize;

macro_rules! reason_codes {
    ($( $(#[doc = $doc:literal])* $variant:ident = $code:literal ),+ $(,)?) => {
        /// Why a finding has its status.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[non_exhaustive]
        pub enum ReasonCode {
            $( $(#[doc = $doc])* #[serde(rename = $code)] $variant, )+
        }

        impl ReasonCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ReasonCode] = &[ $( ReasonCode::$variant ),+ ];

            /// The stable string written into evidence records.
            pub fn as_str(self) -> &'static str {
                match self { $( ReasonCode::$variant => $code ),+ }
            }

            /// The documentation of the code.
            pub fn description(self) -> &'static str {
                match self { $( ReasonCode::$variant => concat!($($doc),+).trim_ascii() ),+ }
            }
        }
    };
}

reason_codes! {
    // --- generic ---
    /// The observation could not be interpreted by the check (collector bug or corrupted data).
    ObservationMalformed = "observation_malformed",
    /// The state could not be read because the agent lacks privileges (for example it needs root).
    PermissionDenied = "permission_denied",
    /// The state could not be read for another reason (I/O error, unexpected format).
    Unreadable = "unreadable",
    /// A program the check relies on is not installed or failed to run.
    ToolUnavailable = "tool_unavailable",
    /// The component the check examines is not present on this target.
    ComponentAbsent = "component_absent",
    /// The collector did not finish within its run timeout, so nothing was observed.
    CollectorTimeout = "collector_timeout",
    /// The collector failed as a whole (after its retries), so nothing was observed.
    CollectorFailed = "collector_failed",

    // --- host: sshd ---
    /// sshd does not accept password or keyboard-interactive authentication.
    SshPasswordAuthDisabled = "ssh_password_auth_disabled",
    /// sshd accepts password or keyboard-interactive authentication.
    SshPasswordAuthEnabled = "ssh_password_auth_enabled",
    /// sshd refuses root logins, or allows them with keys only.
    SshRootLoginRestricted = "ssh_root_login_restricted",
    /// sshd permits root logins with a password.
    SshRootLoginPermitted = "ssh_root_login_permitted",
    /// sshd permits empty passwords.
    SshEmptyPasswordsPermitted = "ssh_empty_passwords_permitted",
    /// sshd refuses accounts with empty passwords.
    SshEmptyPasswordsRefused = "ssh_empty_passwords_refused",

    // --- host: time synchronisation ---
    /// The kernel reports the clock as synchronised.
    TimeSynchronized = "time_synchronized",
    /// The kernel reports the clock as not synchronised.
    TimeNotSynchronized = "time_not_synchronized",
    /// No time synchronisation daemon is running.
    TimeDaemonNotRunning = "time_daemon_not_running",
    /// An NTP or PTP daemon is running.
    TimeDaemonRunning = "time_daemon_running",

    // --- host: updates ---
    /// No security update is pending.
    UpdatesNoneSecurityPending = "updates_none_security_pending",
    /// One or more security updates are pending.
    UpdatesSecurityPending = "updates_security_pending",
    /// The package index is older than the allowed age, so pending updates cannot be known.
    UpdatesIndexStale = "updates_index_stale",
    /// No package index from a security archive is present.
    UpdatesIndexMissing = "updates_index_missing",

    // --- host: logging ---
    /// The systemd journal is kept on disk across reboots.
    JournalPersistent = "journal_persistent",
    /// The systemd journal is kept in memory only (or not at all) and is lost at reboot.
    JournalNotPersistent = "journal_not_persistent",
    /// A syslog or audit daemon (or a persistent systemd journal) is running.
    LogDaemonRunning = "log_daemon_running",
    /// No syslog or audit daemon runs and no persistent systemd journal is collected.
    LogDaemonNotRunning = "log_daemon_not_running",
    /// auditd is installed and its rule files define at least one watch or syscall rule.
    AuditRulesPresent = "audit_rules_present",
    /// auditd is installed but its rule files define no watch or syscall rule.
    AuditRulesAbsent = "audit_rules_absent",

    // --- host: disk encryption ---
    /// The file system lies on a dm-crypt device or is an encrypting file system.
    FilesystemEncrypted = "filesystem_encrypted",
    /// The file system lies on a block device stack without any dm-crypt layer.
    FilesystemNotEncrypted = "filesystem_not_encrypted",
    /// The block device under the file system could not be classified, so its encryption is unknown.
    FilesystemDeviceUnknown = "filesystem_device_unknown",

    // --- host: firewall ---
    /// Every enabled IP family passes through an input filter whose default verdict is drop or reject.
    FirewallDefaultDeny = "firewall_default_deny",
    /// Inbound packets are filtered, but for at least one enabled IP family the default verdict is accept.
    FirewallInboundOpen = "firewall_inbound_open",
    /// No packet filter hooked at input exists, or no firewall tool is installed.
    FirewallAbsent = "firewall_absent",

    // --- host: malware protection ---
    /// A malware protection engine runs and its newest signatures are within the allowed age.
    MalwareSignaturesFresh = "malware_signatures_fresh",
    /// A malware protection engine runs but its newest signatures are older than the allowed age.
    MalwareSignaturesStale = "malware_signatures_stale",
    /// A malware protection engine runs but it has no signature database at all.
    MalwareSignaturesMissing = "malware_signatures_missing",
    /// A malware protection engine runs, but the age of its signatures cannot be read.
    MalwareSignaturesUnknown = "malware_signatures_unknown",
    /// No malware protection engine is running.
    MalwareProtectionAbsent = "malware_protection_absent",

    // --- backup: restore tests ---
    /// The newest backup was restored into a sandbox and verified, within the RPO and the RTO target.
    BackupRestoreVerified = "backup_restore_verified",
    /// The backup repository refused the configured password or passphrase.
    BackupPasswordRejected = "backup_password_rejected",
    /// The backup repository or dump is damaged: data verification or the restore failed on integrity.
    BackupRepositoryCorrupted = "backup_repository_corrupted",
    /// The backup repository holds no snapshot.
    BackupSnapshotMissing = "backup_snapshot_missing",
    /// The newest snapshot is older than the RPO.
    BackupSnapshotStale = "backup_snapshot_stale",
    /// A file expected in the backup (a canary or a sampled file) did not come back.
    BackupFileMissing = "backup_file_missing",
    /// A restored file differs from the snapshot's metadata or from a canary's expected SHA-256.
    BackupContentMismatch = "backup_content_mismatch",
    /// A sanity query on the restored database failed or found fewer rows than required.
    BackupSanityQueryFailed = "backup_sanity_query_failed",
    /// The restore took longer than the RTO target.
    BackupRtoExceeded = "backup_rto_exceeded",
    /// The restore failed for another reason (see the finding's text).
    BackupRestoreFailed = "backup_restore_failed",

    // --- web filtering ---
    /// Every canary was blocked and every control name or URL got through.
    WebfilterCanariesBlocked = "webfilter_canaries_blocked",
    /// At least one canary that policy says must be blocked got through.
    WebfilterCanaryAllowed = "webfilter_canary_allowed",
    /// The resolver or proxy failed the control names or URL too, so its blocking proves nothing.
    WebfilterFilterBroken = "webfilter_filter_broken",
    /// A canary query or request got no usable answer, so whether it is blocked is unknown.
    WebfilterNoAnswer = "webfilter_no_answer",
    // --- github: errors and plan limits ---
    /// The GitHub token lacks the permission (or the role, e.g. organisation owner) to read this state.
    GithubInsufficientPermission = "github_insufficient_permission",
    /// GitHub answered 404 for the organisation, repository or endpoint, and nothing else could disambiguate it.
    GithubNotFound = "github_not_found",
    /// The feature is not available on the organisation's GitHub plan, so the measure is not in place.
    GithubUnavailableOnPlan = "github_unavailable_on_plan",
    /// GitHub answered with a server error or an unexpected status.
    GithubApiError = "github_api_error",
    /// A GitHub response body could not be interpreted.
    GithubResponseMalformed = "github_response_malformed",
    /// GitHub kept throttling the requests beyond the run's time budget.
    GithubRateLimited = "github_rate_limited",

    // --- github: organisation ---
    /// The organisation requires two-factor authentication of its members.
    Github2faRequired = "github_2fa_required",
    /// The organisation does not require two-factor authentication.
    Github2faNotRequired = "github_2fa_not_required",
    /// No member (or outside collaborator) of the organisation has two-factor authentication disabled.
    GithubUsers2faEnabled = "github_users_2fa_enabled",
    /// One or more members (or outside collaborators) have two-factor authentication disabled.
    GithubUsers2faDisabled = "github_users_2fa_disabled",
    /// The number of organisation owners is within the configured maximum.
    GithubOwnersWithinLimit = "github_owners_within_limit",
    /// The organisation has more owners than the configured maximum.
    GithubOwnersOverLimit = "github_owners_over_limit",

    // --- github: repositories ---
    /// The repository is archived (read-only), so change controls do not apply.
    GithubRepoArchived = "github_repo_archived",
    /// The repository has no commits (its default branch does not exist yet).
    GithubRepoEmpty = "github_repo_empty",
    /// The default branch is protected as required (reviews, approvals, stale reviews dismissed, admins included, force pushes and deletions blocked).
    GithubBranchProtected = "github_branch_protected",
    /// The default branch is not protected, or its protection lacks a required setting.
    GithubBranchUnprotected = "github_branch_unprotected",
    /// Secret scanning and push protection are enabled on the repository.
    GithubSecretScanningEnabled = "github_secret_scanning_enabled",
    /// Secret scanning or push protection is disabled on the repository.
    GithubSecretScanningDisabled = "github_secret_scanning_disabled",
    /// Dependabot vulnerability alerts are enabled on the repository.
    GithubDependabotEnabled = "github_dependabot_enabled",
    /// Dependabot vulnerability alerts are disabled on the repository.
    GithubDependabotDisabled = "github_dependabot_disabled",
    /// No open alert is older than the allowed age.
    GithubAlertsWithinAge = "github_alerts_within_age",
    /// One or more open alerts are older than the allowed age.
    GithubAlertsOverdue = "github_alerts_overdue",
    /// The alerts cannot exist because the feature that raises them is disabled on the repository.
    GithubAlertsFeatureDisabled = "github_alerts_feature_disabled",
    // --- data leakage prevention ---
    /// The DLP scan found no secret or personal data beyond the baseline and the allowlist.
    DlpNothingNew = "dlp_nothing_new",
    /// The DLP scan found secrets or personal data not accepted by the baseline or the allowlist.
    DlpNewFindings = "dlp_new_findings",
    /// Part of the location could not be scanned (unreadable files, git failure), so the scan proves nothing.
    DlpScanIncomplete = "dlp_scan_incomplete",
    // --- aws: API errors ---
    /// An AWS API call was denied (AccessDenied, UnauthorizedOperation, missing permission in the read-only policy).
    AwsAccessDenied = "aws_access_denied",
    /// An AWS API call was throttled (Throttling, TooManyRequests, SlowDown) and the retries ran out.
    AwsThrottled = "aws_throttled",
    /// An AWS API call answered with a server error (HTTP 5xx) or an error the collector does not expect.
    AwsServiceError = "aws_service_error",
    /// An AWS API call did not answer within the call timeout.
    AwsTimeout = "aws_timeout",
    /// An AWS API response could not be parsed (malformed body, unexpected shape or value).
    AwsMalformedResponse = "aws_malformed_response",
    /// An AWS API call failed before an answer (connection refused, DNS, TLS, credentials).
    AwsRequestFailed = "aws_request_failed",

    // --- aws: IAM ---
    /// The root user has an MFA device.
    AwsRootMfaEnabled = "aws_root_mfa_enabled",
    /// The root user has no MFA device.
    AwsRootMfaDisabled = "aws_root_mfa_disabled",
    /// The root user's MFA is a hardware device (no virtual MFA device is assigned to root).
    AwsRootMfaHardware = "aws_root_mfa_hardware",
    /// The root user's MFA is a virtual (software) device.
    AwsRootMfaVirtual = "aws_root_mfa_virtual",
    /// The root user has no access keys.
    AwsRootAccessKeysAbsent = "aws_root_access_keys_absent",
    /// The root user has at least one access key.
    AwsRootAccessKeysPresent = "aws_root_access_keys_present",
    /// The account is a member of an organization that manages member root credentials centrally (IAM `RootCredentialsManagement`) and its root user holds no MFA device, access key or signing certificate: root MFA does not apply.
    AwsRootCredentialsCentrallyManaged = "aws_root_credentials_centrally_managed",
    /// The IAM user has an active MFA device.
    AwsUserMfaEnabled = "aws_user_mfa_enabled",
    /// The IAM user can sign in to the console (has a password) but has no active MFA device.
    AwsConsoleUserWithoutMfa = "aws_console_user_without_mfa",
    /// No IAM user has a console password.
    AwsNoConsoleUsers = "aws_no_console_users",
    /// The IAM user has full administrative access (AdministratorAccess or an Allow of `*` on `*`) and no active MFA device.
    AwsPrivilegedUserWithoutMfa = "aws_privileged_user_without_mfa",
    /// The IAM user has full administrative access and an active MFA device.
    AwsPrivilegedUserMfa = "aws_privileged_user_mfa",
    /// No IAM user has full administrative access.
    AwsNoPrivilegedUsers = "aws_no_privileged_users",
    /// The account password policy meets every configured minimum.
    AwsPasswordPolicyStrong = "aws_password_policy_strong",
    /// The account password policy misses at least one configured minimum.
    AwsPasswordPolicyWeak = "aws_password_policy_weak",
    /// The account has no password policy (AWS defaults apply).
    AwsPasswordPolicyMissing = "aws_password_policy_missing",
    /// Every active access key was rotated within the allowed age.
    AwsAccessKeysRotated = "aws_access_keys_rotated",
    /// An active access key is older than the allowed age.
    AwsAccessKeyTooOld = "aws_access_key_too_old",
    /// Every enabled credential (password, active access key) was used within the allowed period.
    AwsCredentialsUsed = "aws_credentials_used",
    /// An enabled credential has not been used within the allowed period.
    AwsCredentialUnused = "aws_credential_unused",

    // --- aws: CloudTrail ---
    /// A multi-region trail is logging and records read and write management events.
    AwsTrailMultiRegionLogging = "aws_trail_multi_region_logging",
    /// No multi-region trail is logging all management events.
    AwsNoMultiRegionTrail = "aws_no_multi_region_trail",
    /// The account has no trail at all.
    AwsNoTrails = "aws_no_trails",
    /// The trail validates its log files (digest files).
    AwsTrailLogValidationEnabled = "aws_trail_log_validation_enabled",
    /// The trail does not validate its log files.
    AwsTrailLogValidationDisabled = "aws_trail_log_validation_disabled",
    /// The trail encrypts its log files with a KMS key.
    AwsTrailEncrypted = "aws_trail_encrypted",
    /// The trail does not encrypt its log files with a KMS key.
    AwsTrailNotEncrypted = "aws_trail_not_encrypted",
    /// The trail delivers to CloudWatch Logs.
    AwsTrailCloudwatchDelivery = "aws_trail_cloudwatch_delivery",
    /// The trail does not deliver to CloudWatch Logs.
    AwsTrailNoCloudwatchDelivery = "aws_trail_no_cloudwatch_delivery",

    // --- aws: S3 ---
    /// All four account-level S3 Block Public Access settings are on.
    AwsS3AccountBlockOn = "aws_s3_account_block_on",
    /// At least one account-level S3 Block Public Access setting is off, or none is configured.
    AwsS3AccountBlockIncomplete = "aws_s3_account_block_incomplete",
    /// Neither the bucket policy nor the ACL make the bucket public (after account and bucket Block Public Access).
    AwsS3BucketNotPublic = "aws_s3_bucket_not_public",
    /// The bucket policy or ACL make the bucket public and no Block Public Access setting neutralises it.
    AwsS3BucketPublic = "aws_s3_bucket_public",
    /// The bucket has default encryption.
    AwsS3BucketEncrypted = "aws_s3_bucket_encrypted",
    /// The bucket has no default encryption configuration.
    AwsS3BucketNotEncrypted = "aws_s3_bucket_not_encrypted",

    // --- aws: GuardDuty ---
    /// An enabled GuardDuty detector exists in the region.
    AwsGuardDutyEnabled = "aws_guardduty_enabled",
    /// No enabled GuardDuty detector exists in the region.
    AwsGuardDutyDisabled = "aws_guardduty_disabled",

    // --- aws: Backup, RDS ---
    /// The AWS Backup plan has a selection naming resources (by ARN or pattern) or tags.
    AwsBackupPlanSelectsResources = "aws_backup_plan_selects_resources",
    /// The AWS Backup plan has no selection that names a resource or a tag, so it protects nothing.
    AwsBackupPlanWithoutSelection = "aws_backup_plan_without_selection",
    /// The region has no AWS Backup plan.
    AwsNoBackupPlans = "aws_no_backup_plans",
    /// The resource's newest completed recovery point is within its recovery point objective.
    AwsRecoveryPointWithinRpo = "aws_recovery_point_within_rpo",
    /// The resource's newest completed recovery point is older than its recovery point objective.
    AwsRecoveryPointTooOld = "aws_recovery_point_too_old",
    /// No completed recovery point exists (for a resource a plan selects, or in the region at all).
    AwsNoRecoveryPoint = "aws_no_recovery_point",
    /// The latest finished restore job of every resource of the restore testing plan succeeded, recently enough.
    AwsRestoreTestPassed = "aws_restore_test_passed",
    /// A latest restore job of the restore testing plan failed, was aborted, or failed validation.
    AwsRestoreTestFailed = "aws_restore_test_failed",
    /// The restore testing plan's latest finished restore job is older than allowed, or it has none in that period.
    AwsRestoreTestTooOld = "aws_restore_test_too_old",
    /// The restore testing plan has never run a restore job.
    AwsRestoreNeverTested = "aws_restore_never_tested",
    /// The region has no restore testing plan, so no backup is restore-tested.
    AwsNoRestoreTestingPlans = "aws_no_restore_testing_plans",
    /// The RDS DB instance or cluster keeps automated backups at least the configured days.
    AwsRdsRetentionSufficient = "aws_rds_retention_sufficient",
    /// The RDS DB instance or cluster keeps automated backups fewer days than configured (or none).
    AwsRdsRetentionTooShort = "aws_rds_retention_too_short",
    /// The RDS DB instance is a read replica; the automated backups of its source apply.
    AwsRdsReadReplica = "aws_rds_read_replica",
    /// The RDS DB instance or cluster is Multi-AZ.
    AwsRdsMultiAz = "aws_rds_multi_az",
    /// The RDS DB instance or cluster runs in a single availability zone.
    AwsRdsSingleAz = "aws_rds_single_az",

    // --- aws: Macie ---
    /// Amazon Macie is enabled in the region.
    AwsMacieEnabled = "aws_macie_enabled",
    /// Amazon Macie is not enabled (or is paused) in the region.
    AwsMacieDisabled = "aws_macie_disabled",
    /// Macie automated sensitive data discovery is enabled in the region.
    AwsMacieDiscoveryEnabled = "aws_macie_discovery_enabled",
    /// Macie automated sensitive data discovery is disabled, or Macie itself is not enabled.
    AwsMacieDiscoveryDisabled = "aws_macie_discovery_disabled",

    // --- aws: Config ---
    /// An AWS Config recorder is recording (in the required scope) with a delivery channel.
    AwsConfigRecorderRecording = "aws_config_recorder_recording",
    /// The AWS Config recorder is stopped, or its last recording failed.
    AwsConfigRecorderNotRecording = "aws_config_recorder_not_recording",
    /// The region has no customer-managed AWS Config recorder.
    AwsConfigNoRecorder = "aws_config_no_recorder",
    /// The AWS Config recorder records only some resource types, and all are required.
    AwsConfigRecorderScopeLimited = "aws_config_recorder_scope_limited",
    /// The AWS Config recorder has no delivery channel, so nothing is delivered.
    AwsConfigNoDeliveryChannel = "aws_config_no_delivery_channel",
    // --- aws: network and web filtering ---
    /// A DNS Firewall rule group with at least one BLOCK rule is associated with the VPC.
    AwsDnsFirewallBlocking = "aws_dns_firewall_blocking",
    /// DNS Firewall rule groups are associated with the VPC, but none has a BLOCK rule (only ALLOW or ALERT).
    AwsDnsFirewallNotBlocking = "aws_dns_firewall_not_blocking",
    /// No DNS Firewall rule group is associated with the VPC.
    AwsDnsFirewallAbsent = "aws_dns_firewall_absent",
    /// An AWS Network Firewall in the VPC is READY.
    AwsNetworkFirewallPresent = "aws_network_firewall_present",
    /// No AWS Network Firewall is in the VPC.
    AwsNetworkFirewallAbsent = "aws_network_firewall_absent",
    /// The VPC's AWS Network Firewalls are not READY (provisioning or deleting).
    AwsNetworkFirewallNotReady = "aws_network_firewall_not_ready",
    /// The security group opens no administrative port to 0.0.0.0/0 or ::/0.
    AwsSecurityGroupAdminPortsRestricted = "aws_security_group_admin_ports_restricted",
    /// The security group opens an administrative port to 0.0.0.0/0 or ::/0 (directly, by a port range or all traffic).
    AwsSecurityGroupAdminPortOpen = "aws_security_group_admin_port_open",
    /// The VPC has an active flow log that is delivering.
    AwsVpcFlowLogsActive = "aws_vpc_flow_logs_active",
    /// The VPC has no flow log.
    AwsVpcFlowLogsMissing = "aws_vpc_flow_logs_missing",
    /// The VPC's flow logs are not active or fail to deliver.
    AwsVpcFlowLogsInactive = "aws_vpc_flow_logs_inactive",
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_documented() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ReasonCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate reason code {s}");
            assert!(
                s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{s} is not snake_case"
            );
            assert!(!code.description().is_empty(), "{s} has no description");
        }
    }
}

/// The reason-code reference, as written to `docs/reason-codes.md`.
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "# Reason codes\n\nEvery finding carries one of these stable, machine-readable codes. A code never\nchanges meaning once released; new ones may be added. This file is generated from\n`policies/src/reason.rs` and checked by a test (`EVIDENT_BLESS=1 cargo test -p evident-policies`\nrewrites it after a deliberate change).\n\n| code | meaning |\n|---|---|\n",
    );
    for code in ReasonCode::ALL {
        out.push_str(&format!(
            "| `{}` | {} |\n",
            code.as_str(),
            code.description()
        ));
    }
    out
}

#[cfg(test)]
mod snapshot {
    /// The set of codes is a public interface: renaming or removing one must be
    /// a visible decision, made by regenerating the reference.
    #[test]
    fn reason_code_reference_matches_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/reason-codes.md");
        let want = super::reference_markdown();
        if std::env::var_os("EVIDENT_BLESS").is_some() {
            std::fs::write(path, &want).expect("write docs/reason-codes.md");
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/reason-codes.md is out of date with ReasonCode; review the change and run EVIDENT_BLESS=1 cargo test -p evident-policies"
        );
    }
}
