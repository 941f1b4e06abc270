//! IAM: root credentials, MFA of console and privileged users, the password
//! policy and credential age. The `aws.iam` observation and its checks.
//!
//! The collector fetches account-wide documents once (credential report,
//! account authorization details, account summary, virtual MFA devices,
//! password policy, the organization's root access features) and the checks
//! evaluate every user from them.
//!
//! Centrally managed root credentials: when the account is a member of an
//! organization with IAM `RootCredentialsManagement` enabled and the account
//! summary shows that its root user holds no MFA device, access key or
//! signing certificate, the two root MFA checks are `not_applicable` (reason
//! `aws_root_credentials_centrally_managed`): there is no root credential to
//! put a second factor on, and root work goes through the management
//! account's short-lived root sessions. Anything less is not enough: a root
//! that still holds a key or certificate, the management account itself, an
//! organization without the feature, a member that cannot see the setting
//! and a failed `ListOrganizationsFeatures` all leave the MFA verdict a
//! `fail` (with the reason), never a pass; the access key check is
//! unaffected and fails a root key whatever the organization says.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{account_arn, Reading};
use crate::model::{Check, CheckMeta, Finding, Observation, Severity, Status};
use crate::reason::ReasonCode;

/// The observation source of these checks.
pub const SOURCE: &str = "aws.iam";

/// What the AWS collector read of one account's IAM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamObservation {
    /// The account id.
    pub account_id: String,
    /// The partition (`aws`, `aws-us-gov`, `aws-cn`).
    pub partition: String,
    /// The region the IAM calls went to.
    pub region: String,
    /// The thresholds the checks apply (from the configuration).
    pub settings: IamSettings,
    /// The credential report.
    pub credential_report: Reading<CredentialReport>,
    /// Users with full administrative access, from GetAccountAuthorizationDetails.
    pub privileged_users: Reading<Vec<PrivilegedUser>>,
    /// GetAccountSummary's root flags.
    pub account_summary: Reading<AccountSummary>,
    /// Whether a virtual MFA device is assigned to the root user (ListVirtualMFADevices).
    pub root_virtual_mfa: Reading<bool>,
    /// The password policy; `None` when the account has none (NoSuchEntity).
    pub password_policy: Reading<Option<PasswordPolicy>>,
    /// Whether the organization manages this account's root credentials
    /// centrally (IAM ListOrganizationsFeatures, seen from this account or,
    /// for a member found by organization discovery, from the account that
    /// discovered it).
    pub root_credentials_management: Reading<RootCredentialsManagement>,
}

/// Centralized root access as it applies to one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", deny_unknown_fields)]
#[non_exhaustive]
pub enum RootCredentialsManagement {
    /// The organization has `RootCredentialsManagement` enabled and this
    /// account is one of its members, not the management account.
    CentralMember {
        /// The organization id (`o-…`).
        organization_id: String,
        /// Whose ListOrganizationsFeatures showed it: `this account` or
        /// `the discovering account <id>`.
        seen_from: String,
    },
    /// This account's root credentials are not managed centrally (why).
    NotCentral {
        /// E.g. `the account is not in an organization`.
        why: String,
    },
    /// This account cannot tell (why): a member cannot read its
    /// organization's root access features.
    Unknown {
        /// E.g. `AccountNotManagementOrDelegatedAdministrator`.
        why: String,
    },
}

/// Thresholds of the IAM checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IamSettings {
    /// Minimum password length the policy must require.
    pub min_password_length: u32,
    /// The policy must require symbols, numbers, upper- and lower-case letters.
    pub require_character_classes: bool,
    /// The policy must expire passwords after at most this many days (`None`: no requirement).
    pub max_password_age_days: Option<u32>,
    /// The policy must prevent reuse of at least this many passwords (`None`: no requirement).
    pub password_reuse_prevention: Option<u32>,
    /// Active access keys must be rotated within this many days.
    pub access_key_max_age_days: u32,
    /// Enabled credentials unused for this many days fail.
    pub credential_unused_days: u32,
}

impl Default for IamSettings {
    fn default() -> Self {
        IamSettings {
            min_password_length: 14,
            require_character_classes: true,
            max_password_age_days: None,
            password_reuse_prevention: Some(24),
            access_key_max_age_days: 90,
            credential_unused_days: 45,
        }
    }
}

/// A time field of the credential report, with its documented special values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportTime {
    /// A timestamp.
    At(DateTime<Utc>),
    /// `N/A`: never (e.g. a password never used, a key that does not exist).
    NotApplicable,
    /// `no_information`: no data (e.g. use before tracking began in 2014/2015).
    NoInformation,
    /// `not_supported`: the field does not apply (the root user's password fields).
    NotSupported,
}

impl ReportTime {
    /// The timestamp, if any.
    pub fn at(self) -> Option<DateTime<Utc>> {
        match self {
            ReportTime::At(t) => Some(t),
            _ => None,
        }
    }
}

/// One access key column group of a credential report row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportAccessKey {
    /// `access_key_N_active`.
    pub active: bool,
    /// `access_key_N_last_rotated` (creation or last rotation).
    pub last_rotated: ReportTime,
    /// `access_key_N_last_used_date`.
    pub last_used: ReportTime,
}

/// One row of the credential report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialRow {
    /// `user`; `<root_account>` for the root user.
    pub user: String,
    /// `arn`.
    pub arn: String,
    /// `user_creation_time`.
    pub user_creation_time: ReportTime,
    /// `password_enabled`; `None` when `not_supported` (root).
    pub password_enabled: Option<bool>,
    /// `password_last_used`.
    pub password_last_used: ReportTime,
    /// `password_last_changed`.
    pub password_last_changed: ReportTime,
    /// `mfa_active`.
    pub mfa_active: bool,
    /// `access_key_1_*` and `access_key_2_*`.
    pub access_keys: [ReportAccessKey; 2],
}

impl CredentialRow {
    /// The user name of the root row.
    pub const ROOT: &'static str = "<root_account>";

    /// Whether this is the root user's row.
    pub fn is_root(&self) -> bool {
        self.user == Self::ROOT
    }
}

/// The credential report, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialReport {
    /// `GeneratedTime` of GetCredentialReport.
    pub generated_at: DateTime<Utc>,
    /// Every row, root included when the report has it.
    pub rows: Vec<CredentialRow>,
}

/// A user with full administrative access and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivilegedUser {
    /// User name.
    pub name: String,
    /// User ARN.
    pub arn: String,
    /// What grants it, e.g. `managed policy arn:aws:iam::aws:policy/AdministratorAccess via group admins`.
    pub granted_by: Vec<String>,
}

/// The root flags of GetAccountSummary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSummary {
    /// `AccountMFAEnabled` is 1.
    pub root_mfa_enabled: bool,
    /// `AccountAccessKeysPresent` is 1.
    pub root_access_keys_present: bool,
    /// `AccountSigningCertificatesPresent` is 1; `None` when the summary does not have the key.
    #[serde(default)]
    pub root_signing_certificates_present: Option<bool>,
}

/// The account password policy (GetAccountPasswordPolicy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordPolicy {
    /// `MinimumPasswordLength`.
    pub minimum_length: u32,
    /// `RequireSymbols`.
    pub require_symbols: bool,
    /// `RequireNumbers`.
    pub require_numbers: bool,
    /// `RequireUppercaseCharacters`.
    pub require_uppercase: bool,
    /// `RequireLowercaseCharacters`.
    pub require_lowercase: bool,
    /// `MaxPasswordAge`, days.
    pub max_age_days: Option<u32>,
    /// `PasswordReusePrevention`.
    pub reuse_prevention: Option<u32>,
}

const CONTROLS_MFA: &[&str] = &["A.8.5", "A.5.17", "A.8.2"];

/// Root user has MFA.
pub const ROOT_MFA_ENABLED: Check = Check {
    meta: CheckMeta {
        id: "aws_iam_root_mfa_enabled",
        title: "The AWS root user has MFA",
        severity: Severity::Critical,
        controls: CONTROLS_MFA,
        source: SOURCE,
        rationale: "The root user can do anything in the account; a password alone is one phishing away from losing it.",
        remediation: "Sign in as root and assign an MFA device (IAM > Security credentials), preferably a hardware key.",
        max_age_days: 7,
    },
    evaluate: eval_root_mfa,
};

/// Root user's MFA is a hardware device.
pub const ROOT_HARDWARE_MFA: Check = Check {
    meta: CheckMeta {
        id: "aws_iam_root_hardware_mfa_enabled",
        title: "The AWS root user's MFA is a hardware device",
        severity: Severity::Medium,
        controls: CONTROLS_MFA,
        source: SOURCE,
        rationale: "A virtual MFA app lives on a phone that can be lost or cloned; a hardware key for root is kept in a safe.",
        remediation: "Replace root's virtual MFA device with a FIDO security key or hardware TOTP token.",
        max_age_days: 7,
    },
    evaluate: eval_root_hardware_mfa,
};

/// Root user has no access keys.
pub const ROOT_ACCESS_KEYS_ABSENT: Check = Check {
    meta: CheckMeta {
        id: "aws_iam_root_access_keys_absent",
        title: "The AWS root user has no access keys",
        severity: Severity::Critical,
        controls: &["A.8.2", "A.5.17", "A.5.18"],
        source: SOURCE,
        rationale:
            "Root access keys give unrestricted programmatic access that no policy can limit.",
        remediation: "Delete the root user's access keys; use IAM roles for automation.",
        max_age_days: 7,
    },
    evaluate: eval_root_access_keys,
};

/// Console users have MFA.
pub const CONSOLE_USERS_MFA: Check = Check {
    meta: CheckMeta {
        id: "aws_iam_console_users_mfa_enabled",
        title: "IAM users with a console password have MFA",
        severity: Severity::High,
        controls: &["A.8.5", "A.5.17"],
        source: SOURCE,
        rationale:
            "A console password without a second factor is the commonest way into a cloud account.",
        remediation: "Assign an MFA device to each listed user, or remove their console password.",
        max_age_days: 7,
    },
    evaluate: eval_console_users_mfa,
};

/// Privileged users have MFA.
pub const PRIVILEGED_USERS_MFA: Check = Check {
    meta: CheckMeta {
        id: "aws_iam_privileged_users_mfa_enabled",
        title: "IAM users with administrative access have MFA",
        severity: Severity::Critical,
        controls: &["A.8.2", "A.8.5", "A.5.18"],
        source: SOURCE,
        rationale: "Privileged access rights need stronger authentication than ordinary ones.",
        remediation: "Assign MFA to each listed administrator, or move administration to roles assumed with MFA.",
        max_age_days: 7,
    },
    evaluate: eval_privileged_mfa,
};

/// Password policy meets the configured minimums.
pub const PASSWORD_POLICY_STRONG: Check = Check {
    meta: CheckMeta {
        id: "aws_iam_password_policy_strong",
        title: "The IAM password policy meets the configured minimums",
        severity: Severity::Medium,
        controls: &["A.5.17"],
        source: SOURCE,
        rationale: "Rules for authentication information include password length and complexity.",
        remediation: "Set the account password policy (IAM > Account settings) to at least the configured minimums.",
        max_age_days: 30,
    },
    evaluate: eval_password_policy,
};

/// Active access keys are rotated.
pub const ACCESS_KEYS_ROTATED: Check = Check {
    meta: CheckMeta {
        id: "aws_iam_access_keys_rotated",
        title: "Active IAM access keys are younger than the allowed age",
        severity: Severity::Medium,
        controls: &["A.5.17", "A.8.5"],
        source: SOURCE,
        rationale: "Long-lived keys accumulate exposure in scripts, laptops and logs.",
        remediation:
            "Rotate the listed keys (create a new one, switch, deactivate and delete the old one).",
        max_age_days: 7,
    },
    evaluate: eval_access_keys_rotated,
};

/// Unused credentials are disabled.
pub const UNUSED_CREDENTIALS_DISABLED: Check = Check {
    meta: CheckMeta {
        id: "aws_iam_unused_credentials_disabled",
        title: "IAM credentials unused for the allowed period are disabled",
        severity: Severity::Medium,
        controls: &["A.5.18", "A.8.2"],
        source: SOURCE,
        rationale: "Access rights no longer used should be removed.",
        remediation: "Remove the password or deactivate the access keys of the listed users.",
        max_age_days: 7,
    },
    evaluate: eval_unused_credentials,
};

fn parse(meta: &CheckMeta, obs: &Observation) -> Result<IamObservation, Vec<Finding>> {
    obs.payload()
        .map_err(|e| vec![Finding::malformed(meta, obs, &e)])
}

fn root_arn(d: &IamObservation) -> String {
    account_arn(&d.partition, &d.account_id)
}

fn single(
    meta: &CheckMeta,
    resource: String,
    status: Status,
    code: ReasonCode,
    reason: String,
) -> Vec<Finding> {
    vec![Finding::new(meta, resource, status, code, reason)]
}

fn eval_root_mfa(obs: &Observation) -> Vec<Finding> {
    let meta = &ROOT_MFA_ENABLED.meta;
    let d = match parse(meta, obs) {
        Ok(d) => d,
        Err(f) => return f,
    };
    let arn = root_arn(&d);
    let summary = match d.account_summary.or_error(meta, &arn) {
        Ok(s) => s,
        Err(f) => return vec![f],
    };
    if summary.root_mfa_enabled {
        single(
            meta,
            arn,
            Status::Pass,
            ReasonCode::AwsRootMfaEnabled,
            format!(
                "account {}: the root user has MFA (AccountMFAEnabled = 1)",
                d.account_id
            ),
        )
    } else {
        match central_exemption(&d, summary) {
            Ok(why) => single(
                meta,
                arn,
                Status::NotApplicable,
                ReasonCode::AwsRootCredentialsCentrallyManaged,
                format!("account {}: root MFA does not apply: {why}", d.account_id),
            ),
            Err(note) => single(
                meta,
                arn,
                Status::Fail,
                ReasonCode::AwsRootMfaDisabled,
                format!(
                    "account {}: the root user has no MFA (AccountMFAEnabled = 0); {note}",
                    d.account_id
                ),
            ),
        }
    }
}

/// Whether root MFA does not apply because the organization manages this
/// member's root credentials centrally and root holds none (called when
/// `AccountMFAEnabled` is 0). `Ok`: the reason it does not apply; `Err`: why
/// the exemption does not hold, for the fail reason. A failed read never
/// exempts.
fn central_exemption(d: &IamObservation, summary: &AccountSummary) -> Result<String, String> {
    match &d.root_credentials_management {
        Reading::Error(e) => Err(format!(
            "whether the organization manages root credentials centrally could not be read: {}",
            e.describe()
        )),
        Reading::Ok(RootCredentialsManagement::NotCentral { why }) => {
            Err(format!("root credentials are not managed centrally: {why}"))
        }
        Reading::Ok(RootCredentialsManagement::Unknown { why }) => Err(format!(
            "whether root credentials are managed centrally is not visible here: {why}"
        )),
        Reading::Ok(RootCredentialsManagement::CentralMember {
            organization_id,
            seen_from,
        }) => {
            let mut held = Vec::new();
            if summary.root_access_keys_present {
                held.push("access keys (AccountAccessKeysPresent = 1)");
            }
            match summary.root_signing_certificates_present {
                Some(false) => {}
                Some(true) => held.push("signing certificates (AccountSigningCertificatesPresent = 1)"),
                None => held.push("possibly signing certificates (the account summary has no AccountSigningCertificatesPresent)"),
            }
            if held.is_empty() {
                Ok(format!(
                    "organization {organization_id} manages member root credentials centrally \
                     (RootCredentialsManagement, seen from {seen_from}) and the root user has no MFA device, \
                     access key or signing certificate (a root password is not visible from a member account)"
                ))
            } else {
                Err(format!(
                    "organization {organization_id} manages member root credentials centrally, but this root user still has {}",
                    held.join(" and ")
                ))
            }
        }
    }
}

fn eval_root_hardware_mfa(obs: &Observation) -> Vec<Finding> {
    let meta = &ROOT_HARDWARE_MFA.meta;
    let d = match parse(meta, obs) {
        Ok(d) => d,
        Err(f) => return f,
    };
    let arn = root_arn(&d);
    let summary = match d.account_summary.or_error(meta, &arn) {
        Ok(s) => s,
        Err(f) => return vec![f],
    };
    if !summary.root_mfa_enabled {
        return match central_exemption(&d, summary) {
            Ok(why) => single(
                meta,
                arn,
                Status::NotApplicable,
                ReasonCode::AwsRootCredentialsCentrallyManaged,
                format!("account {}: root MFA does not apply: {why}", d.account_id),
            ),
            Err(note) => single(
                meta,
                arn,
                Status::Fail,
                ReasonCode::AwsRootMfaDisabled,
                format!(
                    "account {}: the root user has no MFA at all; {note}",
                    d.account_id
                ),
            ),
        };
    }
    match d.root_virtual_mfa.or_error(meta, &arn) {
        Err(f) => vec![f],
        Ok(true) => single(
            meta,
            arn,
            Status::Fail,
            ReasonCode::AwsRootMfaVirtual,
            format!(
                "account {}: the root user's MFA is a virtual device",
                d.account_id
            ),
        ),
        Ok(false) => single(
            meta,
            arn,
            Status::Pass,
            ReasonCode::AwsRootMfaHardware,
            format!(
                "account {}: the root user has MFA and no virtual MFA device is assigned to it",
                d.account_id
            ),
        ),
    }
}

fn eval_root_access_keys(obs: &Observation) -> Vec<Finding> {
    let meta = &ROOT_ACCESS_KEYS_ABSENT.meta;
    let d = match parse(meta, obs) {
        Ok(d) => d,
        Err(f) => return f,
    };
    let arn = root_arn(&d);
    let summary = match d.account_summary.or_error(meta, &arn) {
        Ok(s) => s,
        Err(f) => return vec![f],
    };
    if summary.root_access_keys_present {
        single(
            meta,
            arn,
            Status::Fail,
            ReasonCode::AwsRootAccessKeysPresent,
            format!(
                "account {}: the root user has access keys (AccountAccessKeysPresent = 1){}",
                d.account_id,
                match &d.root_credentials_management {
                    Reading::Ok(RootCredentialsManagement::CentralMember {
                        organization_id,
                        ..
                    }) => format!(
                        ", despite central root credentials management in organization {organization_id}"
                    ),
                    _ => String::new(),
                }
            ),
        )
    } else {
        single(
            meta,
            arn,
            Status::Pass,
            ReasonCode::AwsRootAccessKeysAbsent,
            format!("account {}: the root user has no access keys", d.account_id),
        )
    }
}

/// The report's rows of IAM users (root excluded), or the error finding.
fn user_rows<'a>(
    meta: &CheckMeta,
    d: &'a IamObservation,
) -> Result<&'a CredentialReport, Vec<Finding>> {
    d.credential_report
        .or_error(meta, &root_arn(d))
        .map_err(|f| vec![f])
}

fn eval_console_users_mfa(obs: &Observation) -> Vec<Finding> {
    let meta = &CONSOLE_USERS_MFA.meta;
    let d = match parse(meta, obs) {
        Ok(d) => d,
        Err(f) => return f,
    };
    let report = match user_rows(meta, &d) {
        Ok(r) => r,
        Err(f) => return f,
    };
    let generated = report.generated_at.to_rfc3339();
    let out: Vec<Finding> = report
        .rows
        .iter()
        .filter(|r| !r.is_root() && r.password_enabled == Some(true))
        .map(|r| {
            if r.mfa_active {
                Finding::new(meta, &r.arn, Status::Pass, ReasonCode::AwsUserMfaEnabled,
                    format!("account {}: console user {} has MFA (credential report of {generated})", d.account_id, r.user))
            } else {
                Finding::new(meta, &r.arn, Status::Fail, ReasonCode::AwsConsoleUserWithoutMfa,
                    format!("account {}: console user {} has a password and no MFA (credential report of {generated})", d.account_id, r.user))
            }
        })
        .collect();
    if out.is_empty() {
        return single(
            meta,
            root_arn(&d),
            Status::Pass,
            ReasonCode::AwsNoConsoleUsers,
            format!(
                "account {}: no IAM user has a console password (credential report of {generated})",
                d.account_id
            ),
        );
    }
    out
}

fn eval_privileged_mfa(obs: &Observation) -> Vec<Finding> {
    let meta = &PRIVILEGED_USERS_MFA.meta;
    let d = match parse(meta, obs) {
        Ok(d) => d,
        Err(f) => return f,
    };
    let acct = root_arn(&d);
    let users = match d.privileged_users.or_error(meta, &acct) {
        Ok(u) => u,
        Err(f) => return vec![f],
    };
    if users.is_empty() {
        return single(
            meta,
            acct,
            Status::Pass,
            ReasonCode::AwsNoPrivilegedUsers,
            format!(
                "account {}: no IAM user has full administrative access",
                d.account_id
            ),
        );
    }
    let report = match user_rows(meta, &d) {
        Ok(r) => r,
        Err(f) => return f,
    };
    users
        .iter()
        .map(|u| {
            let grants = u.granted_by.join("; ");
            match report.rows.iter().find(|r| r.arn == u.arn) {
                None => Finding::new(
                    meta,
                    &u.arn,
                    Status::Error,
                    ReasonCode::AwsMalformedResponse,
                    format!(
                        "account {}: administrator {} is missing from the credential report of {}",
                        d.account_id,
                        u.name,
                        report.generated_at.to_rfc3339()
                    ),
                ),
                Some(r) if r.mfa_active => Finding::new(
                    meta,
                    &u.arn,
                    Status::Pass,
                    ReasonCode::AwsPrivilegedUserMfa,
                    format!(
                        "account {}: administrator {} has MFA ({grants})",
                        d.account_id, u.name
                    ),
                ),
                Some(_) => Finding::new(
                    meta,
                    &u.arn,
                    Status::Fail,
                    ReasonCode::AwsPrivilegedUserWithoutMfa,
                    format!(
                        "account {}: administrator {} has no MFA ({grants})",
                        d.account_id, u.name
                    ),
                ),
            }
        })
        .collect()
}

fn eval_password_policy(obs: &Observation) -> Vec<Finding> {
    let meta = &PASSWORD_POLICY_STRONG.meta;
    let d = match parse(meta, obs) {
        Ok(d) => d,
        Err(f) => return f,
    };
    let arn = root_arn(&d);
    let policy = match d.password_policy.or_error(meta, &arn) {
        Ok(Some(p)) => p,
        Ok(None) => {
            return single(
                meta,
                arn,
                Status::Fail,
                ReasonCode::AwsPasswordPolicyMissing,
                format!("account {}: no password policy is set", d.account_id),
            )
        }
        Err(f) => return vec![f],
    };
    let s = &d.settings;
    let mut gaps = Vec::new();
    if policy.minimum_length < s.min_password_length {
        gaps.push(format!(
            "minimum length {} < {}",
            policy.minimum_length, s.min_password_length
        ));
    }
    if s.require_character_classes {
        for (on, name) in [
            (policy.require_symbols, "symbols"),
            (policy.require_numbers, "numbers"),
            (policy.require_uppercase, "upper-case letters"),
            (policy.require_lowercase, "lower-case letters"),
        ] {
            if !on {
                gaps.push(format!("{name} not required"));
            }
        }
    }
    if let Some(max) = s.max_password_age_days {
        match policy.max_age_days {
            Some(a) if a <= max => {}
            Some(a) => gaps.push(format!("passwords expire after {a} days > {max}")),
            None => gaps.push(format!(
                "passwords never expire (at most {max} days required)"
            )),
        }
    }
    if let Some(min) = s.password_reuse_prevention {
        let have = policy.reuse_prevention.unwrap_or(0);
        if have < min {
            gaps.push(format!("reuse prevention {have} < {min}"));
        }
    }
    if gaps.is_empty() {
        single(
            meta,
            arn,
            Status::Pass,
            ReasonCode::AwsPasswordPolicyStrong,
            format!(
                "account {}: the password policy meets the configured minimums",
                d.account_id
            ),
        )
    } else {
        single(
            meta,
            arn,
            Status::Fail,
            ReasonCode::AwsPasswordPolicyWeak,
            format!(
                "account {}: the password policy falls short: {}",
                d.account_id,
                gaps.join(", ")
            ),
        )
    }
}

fn days_before(now: DateTime<Utc>, then: DateTime<Utc>) -> i64 {
    (now - then).num_days()
}

fn eval_access_keys_rotated(obs: &Observation) -> Vec<Finding> {
    let meta = &ACCESS_KEYS_ROTATED.meta;
    let d = match parse(meta, obs) {
        Ok(d) => d,
        Err(f) => return f,
    };
    let report = match user_rows(meta, &d) {
        Ok(r) => r,
        Err(f) => return f,
    };
    let max = i64::from(d.settings.access_key_max_age_days);
    let mut out = Vec::new();
    for r in &report.rows {
        for (i, key) in r.access_keys.iter().enumerate() {
            if !key.active {
                continue;
            }
            let resource = format!("{}#access_key_{}", r.arn, i + 1);
            match key.last_rotated.at() {
                None => out.push(Finding::new(
                    meta,
                    resource,
                    Status::Error,
                    ReasonCode::AwsMalformedResponse,
                    format!(
                        "account {}: active access key {} of {} has no rotation time",
                        d.account_id,
                        i + 1,
                        r.user
                    ),
                )),
                Some(t) => {
                    let age = days_before(obs.collected_at, t);
                    if age > max {
                        out.push(Finding::new(
                            meta,
                            resource,
                            Status::Fail,
                            ReasonCode::AwsAccessKeyTooOld,
                            format!(
                                "account {}: access key {} of {} is {age} days old (at most {max})",
                                d.account_id,
                                i + 1,
                                r.user
                            ),
                        ));
                    } else {
                        out.push(Finding::new(
                            meta,
                            resource,
                            Status::Pass,
                            ReasonCode::AwsAccessKeysRotated,
                            format!(
                                "account {}: access key {} of {} is {age} days old",
                                d.account_id,
                                i + 1,
                                r.user
                            ),
                        ));
                    }
                }
            }
        }
    }
    if out.is_empty() {
        out.push(Finding::new(
            meta,
            root_arn(&d),
            Status::Pass,
            ReasonCode::AwsAccessKeysRotated,
            format!("account {}: no active access keys", d.account_id),
        ));
    }
    out
}

fn eval_unused_credentials(obs: &Observation) -> Vec<Finding> {
    let meta = &UNUSED_CREDENTIALS_DISABLED.meta;
    let d = match parse(meta, obs) {
        Ok(d) => d,
        Err(f) => return f,
    };
    let report = match user_rows(meta, &d) {
        Ok(r) => r,
        Err(f) => return f,
    };
    let limit = Duration::days(i64::from(d.settings.credential_unused_days));
    let cutoff = obs.collected_at - limit;
    let mut out = Vec::new();
    for r in report.rows.iter().filter(|r| !r.is_root()) {
        let mut stale = Vec::new();
        let mut any = false;
        if r.password_enabled == Some(true) {
            any = true;
            // Never used: count from when the password was set.
            let last = r
                .password_last_used
                .at()
                .or(r.password_last_changed.at())
                .or(r.user_creation_time.at());
            if last.is_none_or(|t| t < cutoff) {
                stale.push("console password".to_string());
            }
        }
        for (i, key) in r.access_keys.iter().enumerate().filter(|(_, k)| k.active) {
            any = true;
            let last = key.last_used.at().or(key.last_rotated.at());
            if last.is_none_or(|t| t < cutoff) {
                stale.push(format!("access key {}", i + 1));
            }
        }
        if !any {
            continue;
        }
        if stale.is_empty() {
            out.push(Finding::new(
                meta,
                &r.arn,
                Status::Pass,
                ReasonCode::AwsCredentialsUsed,
                format!(
                    "account {}: every enabled credential of {} was used in the last {} days",
                    d.account_id,
                    r.user,
                    limit.num_days()
                ),
            ));
        } else {
            out.push(Finding::new(
                meta,
                &r.arn,
                Status::Fail,
                ReasonCode::AwsCredentialUnused,
                format!(
                    "account {}: {} of {} unused for more than {} days",
                    d.account_id,
                    stale.join(" and "),
                    r.user,
                    limit.num_days()
                ),
            ));
        }
    }
    if out.is_empty() {
        out.push(Finding::new(
            meta,
            root_arn(&d),
            Status::Pass,
            ReasonCode::AwsCredentialsUsed,
            format!(
                "account {}: no IAM user has an enabled credential",
                d.account_id
            ),
        ));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::aws::test_support::{err, now, obs, summary};
    use crate::aws::AwsErrorKind;

    fn t(days_ago: i64) -> ReportTime {
        ReportTime::At(now() - Duration::days(days_ago))
    }

    fn no_key() -> ReportAccessKey {
        ReportAccessKey {
            active: false,
            last_rotated: ReportTime::NotApplicable,
            last_used: ReportTime::NotApplicable,
        }
    }

    fn row(user: &str, password: bool, mfa: bool) -> CredentialRow {
        CredentialRow {
            user: user.into(),
            arn: format!("arn:aws:iam::111122223333:user/{user}"),
            user_creation_time: t(10),
            password_enabled: Some(password),
            password_last_used: if password {
                t(1)
            } else {
                ReportTime::NotApplicable
            },
            password_last_changed: if password {
                t(10)
            } else {
                ReportTime::NotApplicable
            },
            mfa_active: mfa,
            access_keys: [no_key(), no_key()],
        }
    }

    fn base(rows: Vec<CredentialRow>) -> IamObservation {
        IamObservation {
            account_id: "111122223333".into(),
            partition: "aws".into(),
            region: "us-east-1".into(),
            settings: IamSettings::default(),
            credential_report: Reading::Ok(CredentialReport {
                generated_at: now(),
                rows,
            }),
            privileged_users: Reading::Ok(vec![]),
            account_summary: Reading::Ok(AccountSummary {
                root_mfa_enabled: true,
                root_access_keys_present: false,
                root_signing_certificates_present: Some(false),
            }),
            root_virtual_mfa: Reading::Ok(false),
            password_policy: Reading::Ok(Some(PasswordPolicy {
                minimum_length: 14,
                require_symbols: true,
                require_numbers: true,
                require_uppercase: true,
                require_lowercase: true,
                max_age_days: None,
                reuse_prevention: Some(24),
            })),
            root_credentials_management: Reading::Ok(RootCredentialsManagement::NotCentral {
                why: "the account is not in an organization".into(),
            }),
        }
    }

    fn run(check: &Check, d: &IamObservation) -> Vec<(String, Status, ReasonCode)> {
        summary(&(check.evaluate)(&obs(SOURCE, d)))
    }

    fn statuses(check: &Check, d: &IamObservation) -> Vec<Status> {
        run(check, d).into_iter().map(|x| x.1).collect()
    }

    #[test]
    fn root_mfa_pass_fail_error() {
        let mut d = base(vec![]);
        assert_eq!(statuses(&ROOT_MFA_ENABLED, &d), [Status::Pass]);
        d.account_summary = Reading::Ok(AccountSummary {
            root_mfa_enabled: false,
            root_access_keys_present: false,
            root_signing_certificates_present: Some(false),
        });
        assert_eq!(
            run(&ROOT_MFA_ENABLED, &d)[0].2,
            ReasonCode::AwsRootMfaDisabled
        );
        assert_eq!(
            run(&ROOT_MFA_ENABLED, &d)[0].0,
            "arn:aws:iam::111122223333:root"
        );
        d.account_summary = err(AwsErrorKind::AccessDenied);
        assert_eq!(run(&ROOT_MFA_ENABLED, &d)[0].1, Status::Error);
        assert_eq!(run(&ROOT_MFA_ENABLED, &d)[0].2, ReasonCode::AwsAccessDenied);
    }

    #[test]
    fn root_hardware_mfa_pass_fail_error() {
        let mut d = base(vec![]);
        assert_eq!(statuses(&ROOT_HARDWARE_MFA, &d), [Status::Pass]);
        d.root_virtual_mfa = Reading::Ok(true);
        assert_eq!(
            run(&ROOT_HARDWARE_MFA, &d)[0].2,
            ReasonCode::AwsRootMfaVirtual
        );
        d.root_virtual_mfa = err(AwsErrorKind::Throttled);
        assert_eq!(run(&ROOT_HARDWARE_MFA, &d)[0].2, ReasonCode::AwsThrottled);
        d.account_summary = Reading::Ok(AccountSummary {
            root_mfa_enabled: false,
            root_access_keys_present: false,
            root_signing_certificates_present: Some(false),
        });
        assert_eq!(run(&ROOT_HARDWARE_MFA, &d)[0].1, Status::Fail);
    }

    #[test]
    fn root_access_keys_pass_fail_error() {
        let mut d = base(vec![]);
        assert_eq!(statuses(&ROOT_ACCESS_KEYS_ABSENT, &d), [Status::Pass]);
        d.account_summary = Reading::Ok(AccountSummary {
            root_mfa_enabled: true,
            root_access_keys_present: true,
            root_signing_certificates_present: Some(false),
        });
        assert_eq!(statuses(&ROOT_ACCESS_KEYS_ABSENT, &d), [Status::Fail]);
        d.account_summary = err(AwsErrorKind::ServiceError);
        assert_eq!(statuses(&ROOT_ACCESS_KEYS_ABSENT, &d), [Status::Error]);
    }

    fn central() -> Reading<RootCredentialsManagement> {
        Reading::Ok(RootCredentialsManagement::CentralMember {
            organization_id: "o-exampleorgid".into(),
            seen_from: "this account".into(),
        })
    }

    fn no_root_credentials() -> Reading<AccountSummary> {
        Reading::Ok(AccountSummary {
            root_mfa_enabled: false,
            root_access_keys_present: false,
            root_signing_certificates_present: Some(false),
        })
    }

    #[test]
    fn centrally_managed_member_root_without_credentials_is_not_applicable() {
        let mut d = base(vec![]);
        d.account_summary = no_root_credentials();
        d.root_credentials_management = central();
        for c in [&ROOT_MFA_ENABLED, &ROOT_HARDWARE_MFA] {
            let f = (c.evaluate)(&obs(SOURCE, &d));
            assert_eq!(f.len(), 1);
            assert_eq!(f[0].status, Status::NotApplicable, "{}", c.meta.id);
            assert_eq!(
                f[0].reason_code,
                ReasonCode::AwsRootCredentialsCentrallyManaged
            );
            assert!(f[0].reason.contains("o-exampleorgid"), "{}", f[0].reason);
        }
        assert_eq!(statuses(&ROOT_ACCESS_KEYS_ABSENT, &d), [Status::Pass]);
        // MFA present: the plain verdicts, whatever the organization says.
        d.account_summary = Reading::Ok(AccountSummary {
            root_mfa_enabled: true,
            root_access_keys_present: false,
            root_signing_certificates_present: Some(false),
        });
        assert_eq!(
            run(&ROOT_MFA_ENABLED, &d)[0].2,
            ReasonCode::AwsRootMfaEnabled
        );
    }

    #[test]
    fn centrally_managed_root_that_still_has_credentials_fails() {
        let mut d = base(vec![]);
        d.root_credentials_management = central();
        d.account_summary = Reading::Ok(AccountSummary {
            root_mfa_enabled: false,
            root_access_keys_present: true,
            root_signing_certificates_present: Some(false),
        });
        let keys = (ROOT_ACCESS_KEYS_ABSENT.evaluate)(&obs(SOURCE, &d));
        assert_eq!(keys[0].status, Status::Fail);
        assert_eq!(keys[0].reason_code, ReasonCode::AwsRootAccessKeysPresent);
        assert!(keys[0]
            .reason
            .contains("despite central root credentials management"));
        assert_eq!(
            run(&ROOT_MFA_ENABLED, &d)[0],
            (
                "arn:aws:iam::111122223333:root".into(),
                Status::Fail,
                ReasonCode::AwsRootMfaDisabled
            )
        );
        assert_eq!(statuses(&ROOT_HARDWARE_MFA, &d), [Status::Fail]);
        // A signing certificate, or a summary that cannot show certificates, is not "no credentials".
        for certs in [Some(true), None] {
            d.account_summary = Reading::Ok(AccountSummary {
                root_mfa_enabled: false,
                root_access_keys_present: false,
                root_signing_certificates_present: certs,
            });
            assert_eq!(statuses(&ROOT_MFA_ENABLED, &d), [Status::Fail], "{certs:?}");
        }
    }

    #[test]
    fn root_exemption_needs_a_readable_central_setting() {
        let mut d = base(vec![]);
        d.account_summary = no_root_credentials();
        for m in [
            err(AwsErrorKind::AccessDenied),
            err(AwsErrorKind::ServiceError),
            Reading::Ok(RootCredentialsManagement::Unknown {
                why: "AccountNotManagementOrDelegatedAdministrator".into(),
            }),
            Reading::Ok(RootCredentialsManagement::NotCentral {
                why: "this is the management account".into(),
            }),
        ] {
            d.root_credentials_management = m.clone();
            let f = (ROOT_MFA_ENABLED.evaluate)(&obs(SOURCE, &d));
            assert_eq!(f[0].status, Status::Fail, "{m:?}");
            assert_eq!(f[0].reason_code, ReasonCode::AwsRootMfaDisabled);
            assert_eq!(statuses(&ROOT_HARDWARE_MFA, &d), [Status::Fail], "{m:?}");
        }
        d.root_credentials_management = err(AwsErrorKind::AccessDenied);
        let f = (ROOT_MFA_ENABLED.evaluate)(&obs(SOURCE, &d));
        assert!(f[0].reason.contains("could not be read"), "{}", f[0].reason);
        // The summary itself unreadable: error, central management or not.
        d.root_credentials_management = central();
        d.account_summary = err(AwsErrorKind::Throttled);
        assert_eq!(statuses(&ROOT_MFA_ENABLED, &d), [Status::Error]);
        assert_eq!(statuses(&ROOT_HARDWARE_MFA, &d), [Status::Error]);
    }

    #[test]
    fn console_users_without_mfa_fail_one_by_one() {
        let mut root = row(CredentialRow::ROOT, false, false);
        root.password_enabled = None;
        let d = base(vec![
            root,
            row("alice", true, true),
            row("bob", true, false),
            row("svc", false, false),
        ]);
        let got = run(&CONSOLE_USERS_MFA, &d);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0],
            (
                "arn:aws:iam::111122223333:user/alice".into(),
                Status::Pass,
                ReasonCode::AwsUserMfaEnabled
            )
        );
        assert_eq!(
            got[1],
            (
                "arn:aws:iam::111122223333:user/bob".into(),
                Status::Fail,
                ReasonCode::AwsConsoleUserWithoutMfa
            )
        );
        let none = base(vec![row("svc", false, false)]);
        assert_eq!(
            run(&CONSOLE_USERS_MFA, &none)[0].2,
            ReasonCode::AwsNoConsoleUsers
        );
        let mut broken = base(vec![]);
        broken.credential_report = err(AwsErrorKind::Malformed);
        assert_eq!(
            run(&CONSOLE_USERS_MFA, &broken)[0].2,
            ReasonCode::AwsMalformedResponse
        );
    }

    #[test]
    fn privileged_users_without_mfa_fail() {
        let mut d = base(vec![row("admin", false, false), row("boss", true, true)]);
        assert_eq!(
            run(&PRIVILEGED_USERS_MFA, &d)[0].2,
            ReasonCode::AwsNoPrivilegedUsers
        );
        d.privileged_users = Reading::Ok(vec![
            PrivilegedUser {
                name: "admin".into(),
                arn: "arn:aws:iam::111122223333:user/admin".into(),
                granted_by: vec!["group admins".into()],
            },
            PrivilegedUser {
                name: "boss".into(),
                arn: "arn:aws:iam::111122223333:user/boss".into(),
                granted_by: vec!["inline policy all".into()],
            },
        ]);
        assert_eq!(
            statuses(&PRIVILEGED_USERS_MFA, &d),
            [Status::Fail, Status::Pass]
        );
        d.credential_report = err(AwsErrorKind::Throttled);
        assert_eq!(statuses(&PRIVILEGED_USERS_MFA, &d), [Status::Error]);
        d.privileged_users = err(AwsErrorKind::AccessDenied);
        assert_eq!(statuses(&PRIVILEGED_USERS_MFA, &d), [Status::Error]);
    }

    #[test]
    fn password_policy_against_minimums() {
        let mut d = base(vec![]);
        assert_eq!(statuses(&PASSWORD_POLICY_STRONG, &d), [Status::Pass]);
        if let Reading::Ok(Some(p)) = &mut d.password_policy {
            p.minimum_length = 8;
            p.require_symbols = false;
        }
        let f = (PASSWORD_POLICY_STRONG.evaluate)(&obs(SOURCE, &d));
        assert_eq!(f[0].status, Status::Fail);
        assert!(
            f[0].reason.contains("minimum length 8 < 14") && f[0].reason.contains("symbols"),
            "{}",
            f[0].reason
        );
        d.password_policy = Reading::Ok(None);
        assert_eq!(
            run(&PASSWORD_POLICY_STRONG, &d)[0].2,
            ReasonCode::AwsPasswordPolicyMissing
        );
        d.password_policy = err(AwsErrorKind::Timeout);
        assert_eq!(
            run(&PASSWORD_POLICY_STRONG, &d)[0].2,
            ReasonCode::AwsTimeout
        );
    }

    #[test]
    fn access_key_age() {
        let mut u = row("ci", false, false);
        u.access_keys[0] = ReportAccessKey {
            active: true,
            last_rotated: t(200),
            last_used: t(1),
        };
        u.access_keys[1] = ReportAccessKey {
            active: true,
            last_rotated: t(3),
            last_used: ReportTime::NotApplicable,
        };
        let d = base(vec![u]);
        let got = run(&ACCESS_KEYS_ROTATED, &d);
        assert_eq!(got[0].1, Status::Fail);
        assert!(got[0].0.ends_with("#access_key_1"));
        assert_eq!(got[1].1, Status::Pass);
        let mut e = base(vec![]);
        e.credential_report = err(AwsErrorKind::RequestFailed);
        assert_eq!(statuses(&ACCESS_KEYS_ROTATED, &e), [Status::Error]);
    }

    #[test]
    fn unused_credentials() {
        let mut old = row("old", true, true);
        old.password_last_used = ReportTime::NoInformation;
        old.password_last_changed = t(400);
        let mut keyed = row("keyed", false, false);
        keyed.access_keys[0] = ReportAccessKey {
            active: true,
            last_rotated: t(100),
            last_used: t(2),
        };
        let d = base(vec![old, keyed, row("fresh", true, true)]);
        assert_eq!(
            statuses(&UNUSED_CREDENTIALS_DISABLED, &d),
            [Status::Fail, Status::Pass, Status::Pass]
        );
        let mut e = base(vec![]);
        e.credential_report = err(AwsErrorKind::Malformed);
        assert_eq!(statuses(&UNUSED_CREDENTIALS_DISABLED, &e), [Status::Error]);
    }

    #[test]
    fn malformed_payload_is_error() {
        let o = obs(SOURCE, &serde_json::json!({"account_id": 1}));
        for c in [ROOT_MFA_ENABLED, CONSOLE_USERS_MFA, PRIVILEGED_USERS_MFA] {
            assert_eq!((c.evaluate)(&o)[0].status, Status::Error);
        }
    }
}
