//! IAM: fetch the account-wide documents once, reduce them to the
//! `aws.iam` observation.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_iam::types::{
    AssignmentStatusType, EntityType, FeatureType, ReportStateType, SummaryKeyType,
};
use chrono::{DateTime, Utc};
use evident_policies::aws::iam::{
    AccountSummary, CredentialReport, IamObservation, PasswordPolicy, PrivilegedUser,
    RootCredentialsManagement,
};
use evident_policies::aws::policy_document::{grants_full_access, is_administrator_access_arn};
use evident_policies::aws::{account_arn, AwsError, Reading};

use crate::error::{classify, code_of, malformed};
use crate::{credential_report, Ctx, OrgView};

/// Polls of GenerateCredentialReport before giving up (IAM generates it in seconds).
const REPORT_POLLS: u32 = 10;

pub(crate) async fn observe(ctx: &Ctx) -> IamObservation {
    let client = aws_sdk_iam::Client::new(&ctx.conf);
    let (
        credential_report,
        privileged_users,
        account_summary,
        root_virtual_mfa,
        password_policy,
        root_credentials_management,
    ) = tokio::join!(
        report(ctx, &client),
        privileged(ctx, &client),
        summary(ctx, &client),
        root_virtual_mfa(ctx, &client),
        password_policy(ctx, &client),
        root_management(ctx, &client),
    );
    IamObservation {
        account_id: ctx.account_id.clone(),
        partition: ctx.partition.clone(),
        region: ctx.region.clone(),
        settings: ctx.settings.iam.clone(),
        credential_report,
        privileged_users,
        account_summary,
        root_virtual_mfa,
        password_policy,
        root_credentials_management,
    }
}

fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

async fn report(ctx: &Ctx, client: &aws_sdk_iam::Client) -> Reading<CredentialReport> {
    let r = &ctx.region;
    let mut delay = Duration::from_millis(200);
    for attempt in 0..REPORT_POLLS {
        match client.generate_credential_report().send().await {
            Ok(out) if out.state() == Some(&ReportStateType::Complete) => break,
            Ok(_) if attempt + 1 == REPORT_POLLS => {
                return Reading::Error(malformed(
                    "iam:GenerateCredentialReport",
                    r,
                    format!("the report was not complete after {REPORT_POLLS} polls"),
                ));
            }
            Ok(_) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Reading::Error(classify("iam:GenerateCredentialReport", r, &e)),
        }
    }
    let out = match client.get_credential_report().send().await {
        Ok(o) => o,
        Err(e) => return Reading::Error(classify("iam:GetCredentialReport", r, &e)),
    };
    let Some(generated) = out.generated_time().and_then(to_chrono) else {
        return Reading::Error(malformed(
            "iam:GetCredentialReport",
            r,
            "the report has no GeneratedTime",
        ));
    };
    let Some(content) = out.content() else {
        return Reading::Error(malformed(
            "iam:GetCredentialReport",
            r,
            "the report has no Content",
        ));
    };
    match credential_report::parse(content.as_ref(), generated) {
        Ok(rep) => Reading::Ok(rep),
        Err(e) => Reading::Error(malformed("iam:GetCredentialReport", r, e.to_string())),
    }
}

/// A policy document as IAM returns it: URL-encoded JSON (RFC 3986).
fn document(raw: &str) -> Option<serde_json::Value> {
    serde_json::from_str(raw).ok().or_else(|| {
        let decoded = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .ok()?;
        serde_json::from_str(&decoded).ok()
    })
}

async fn privileged(ctx: &Ctx, client: &aws_sdk_iam::Client) -> Reading<Vec<PrivilegedUser>> {
    let op = "iam:GetAccountAuthorizationDetails";
    let mut pages = client
        .get_account_authorization_details()
        .filter(EntityType::User)
        .filter(EntityType::Group)
        .filter(EntityType::LocalManagedPolicy)
        // The largest page IAM serves: fewer round trips in large accounts.
        .max_items(1000)
        .into_paginator()
        .send();
    // Customer managed policies whose default version grants full access.
    let mut admin_policies = BTreeSet::new();
    // Group name -> what makes it privileged.
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // (name, arn, groups, direct grants)
    let mut users: Vec<(String, String, Vec<String>, Vec<String>)> = Vec::new();
    let mut managed_of_users: Vec<Vec<String>> = Vec::new();
    let mut managed_of_groups: Vec<(String, Vec<String>)> = Vec::new();
    // IAM always sends the lists asked for, empty or not: an answer without
    // them is unreadable, not an account without administrators.
    let (mut saw_users, mut saw_groups) = (false, false);
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) => return Reading::Error(classify(op, &ctx.region, &e)),
        };
        saw_users |= page.user_detail_list.is_some();
        saw_groups |= page.group_detail_list.is_some();
        for p in page.policies() {
            let Some(arn) = p.arn() else { continue };
            let default = p
                .policy_version_list()
                .iter()
                .find(|v| v.is_default_version());
            let Some(doc) = default.and_then(|v| v.document()) else {
                return Reading::Error(malformed(
                    op,
                    &ctx.region,
                    format!("policy {arn} has no default version document"),
                ));
            };
            match document(doc) {
                Some(d) if grants_full_access(&d) => {
                    admin_policies.insert(arn.to_string());
                }
                Some(_) => {}
                None => {
                    return Reading::Error(malformed(
                        op,
                        &ctx.region,
                        format!("the document of policy {arn} is not JSON"),
                    ))
                }
            }
        }
        for g in page.group_detail_list() {
            let name = g.group_name().unwrap_or_default().to_string();
            let mut why = Vec::new();
            for p in g.group_policy_list() {
                match p.policy_document().map(document) {
                    Some(Some(d)) if grants_full_access(&d) => why.push(format!(
                        "inline policy {} of group {name}",
                        p.policy_name().unwrap_or_default()
                    )),
                    Some(Some(_)) => {}
                    _ => {
                        return Reading::Error(malformed(
                            op,
                            &ctx.region,
                            format!("an inline policy of group {name} is not JSON"),
                        ))
                    }
                }
            }
            groups.entry(name.clone()).or_default().extend(why);
            managed_of_groups.push((
                name,
                g.attached_managed_policies()
                    .iter()
                    .filter_map(|a| a.policy_arn().map(str::to_string))
                    .collect(),
            ));
        }
        for u in page.user_detail_list() {
            let (Some(name), Some(arn)) = (u.user_name(), u.arn()) else {
                return Reading::Error(malformed(op, &ctx.region, "a user has no name or ARN"));
            };
            let mut why = Vec::new();
            for p in u.user_policy_list() {
                match p.policy_document().map(document) {
                    Some(Some(d)) if grants_full_access(&d) => why.push(format!(
                        "inline policy {}",
                        p.policy_name().unwrap_or_default()
                    )),
                    Some(Some(_)) => {}
                    _ => {
                        return Reading::Error(malformed(
                            op,
                            &ctx.region,
                            format!("an inline policy of user {name} is not JSON"),
                        ))
                    }
                }
            }
            users.push((
                name.to_string(),
                arn.to_string(),
                u.group_list().to_vec(),
                why,
            ));
            managed_of_users.push(
                u.attached_managed_policies()
                    .iter()
                    .filter_map(|a| a.policy_arn().map(str::to_string))
                    .collect(),
            );
        }
    }
    if !(saw_users && saw_groups) {
        return Reading::Error(malformed(
            op,
            &ctx.region,
            "the answer has no UserDetailList or no GroupDetailList",
        ));
    }
    let is_admin = |arn: &str| is_administrator_access_arn(arn) || admin_policies.contains(arn);
    for (name, managed) in managed_of_groups {
        let why = groups.entry(name.clone()).or_default();
        why.extend(
            managed
                .iter()
                .filter(|a| is_admin(a))
                .map(|a| format!("managed policy {a} via group {name}")),
        );
    }
    let mut out = Vec::new();
    for ((name, arn, member_of, mut why), managed) in users.into_iter().zip(managed_of_users) {
        why.extend(
            managed
                .iter()
                .filter(|a| is_admin(a))
                .map(|a| format!("managed policy {a}")),
        );
        for g in &member_of {
            if let Some(gw) = groups.get(g) {
                why.extend(gw.iter().cloned());
            }
        }
        if !why.is_empty() {
            out.push(PrivilegedUser {
                name,
                arn,
                granted_by: why,
            });
        }
    }
    Reading::Ok(out)
}

async fn summary(ctx: &Ctx, client: &aws_sdk_iam::Client) -> Reading<AccountSummary> {
    let op = "iam:GetAccountSummary";
    let out = match client.get_account_summary().send().await {
        Ok(o) => o,
        Err(e) => return Reading::Error(classify(op, &ctx.region, &e)),
    };
    let Some(map) = out.summary_map() else {
        return Reading::Error(malformed(op, &ctx.region, "no SummaryMap"));
    };
    let flag = |k: &SummaryKeyType| -> Result<bool, AwsError> {
        match map.get(k) {
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            other => Err(malformed(
                op,
                &ctx.region,
                format!("{} is {other:?}, not 0 or 1", k.as_str()),
            )),
        }
    };
    // Absent is recorded as unknown (it only matters for the central root
    // management exemption, which then does not hold); a present key with a
    // value other than 0 or 1 is malformed.
    let certs = match map.get(&SummaryKeyType::AccountSigningCertificatesPresent) {
        None => Ok(None),
        Some(_) => flag(&SummaryKeyType::AccountSigningCertificatesPresent).map(Some),
    };
    match (
        flag(&SummaryKeyType::AccountMfaEnabled),
        flag(&SummaryKeyType::AccountAccessKeysPresent),
        certs,
    ) {
        (Ok(mfa), Ok(keys), Ok(certs)) => Reading::Ok(AccountSummary {
            root_mfa_enabled: mfa,
            root_access_keys_present: keys,
            root_signing_certificates_present: certs,
        }),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Reading::Error(e),
    }
}

async fn root_virtual_mfa(ctx: &Ctx, client: &aws_sdk_iam::Client) -> Reading<bool> {
    let root = account_arn(&ctx.partition, &ctx.account_id);
    let mut pages = client
        .list_virtual_mfa_devices()
        .assignment_status(AssignmentStatusType::Assigned)
        .max_items(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                return Reading::Error(classify("iam:ListVirtualMFADevices", &ctx.region, &e))
            }
        };
        let suffix = ":mfa/root-account-mfa-device";
        if page.virtual_mfa_devices().iter().any(|d| {
            d.user().map(|u| u.arn()) == Some(root.as_str())
                || d.serial_number()
                    .starts_with(&format!("arn:{}:iam::{}:", ctx.partition, ctx.account_id))
                    && d.serial_number().ends_with(suffix)
        }) {
            return Reading::Ok(true);
        }
    }
    Reading::Ok(false)
}

async fn password_policy(
    ctx: &Ctx,
    client: &aws_sdk_iam::Client,
) -> Reading<Option<PasswordPolicy>> {
    let op = "iam:GetAccountPasswordPolicy";
    match client.get_account_password_policy().send().await {
        Ok(out) => {
            let Some(p) = out.password_policy() else {
                return Reading::Error(malformed(
                    op,
                    &ctx.region,
                    "no PasswordPolicy in the answer",
                ));
            };
            let nonneg = |v: Option<i32>| v.and_then(|x| u32::try_from(x).ok()).filter(|x| *x > 0);
            Reading::Ok(Some(PasswordPolicy {
                minimum_length: nonneg(p.minimum_password_length()).unwrap_or(0),
                require_symbols: p.require_symbols(),
                require_numbers: p.require_numbers(),
                require_uppercase: p.require_uppercase_characters(),
                require_lowercase: p.require_lowercase_characters(),
                max_age_days: nonneg(p.max_password_age()),
                reuse_prevention: nonneg(p.password_reuse_prevention()),
            }))
        }
        Err(e) if code_of(&e) == Some("NoSuchEntity") => Reading::Ok(None),
        Err(e) => Reading::Error(classify(op, &ctx.region, &e)),
    }
}

/// Centralized root access for this account: IAM ListOrganizationsFeatures
/// with the account's credentials; for a member (which may not call it),
/// what the discovering account saw, if the account was discovered.
async fn root_management(
    ctx: &Ctx,
    client: &aws_sdk_iam::Client,
) -> Reading<RootCredentialsManagement> {
    let op = "iam:ListOrganizationsFeatures";
    let r = &ctx.region;
    let out = match client.list_organizations_features().send().await {
        Ok(o) => o,
        Err(e) => {
            let not_central =
                |why: &str| Reading::Ok(RootCredentialsManagement::NotCentral { why: why.into() });
            return match code_of(&e) {
                Some(
                    "AccountNotManagementOrDelegatedAdministratorException"
                    | "AccountNotManagementOrDelegatedAdministrator",
                ) => member_view(ctx),
                Some("OrganizationNotFoundException" | "OrganizationNotFound") => {
                    not_central("the account is not in an organization")
                }
                Some(
                    "OrganizationNotInAllFeaturesModeException"
                    | "OrganizationNotInAllFeaturesMode",
                ) => not_central("the organization does not have all features enabled"),
                Some("ServiceAccessNotEnabledException" | "ServiceAccessNotEnabled") => {
                    not_central("trusted access for IAM is not enabled in the organization")
                }
                _ => Reading::Error(classify(op, r, &e)),
            };
        }
    };
    // The call works only in the management account or a delegated
    // administrator for centralized root access.
    let Some(org) = out.organization_id() else {
        return Reading::Error(malformed(op, r, "no OrganizationId in the answer"));
    };
    if !out
        .enabled_features()
        .contains(&FeatureType::RootCredentialsManagement)
    {
        return Reading::Ok(RootCredentialsManagement::NotCentral {
            why: format!("organization {org} does not have RootCredentialsManagement enabled"),
        });
    }
    let known = ctx
        .org_view
        .as_ref()
        .and_then(|v| v.management_account_id.ok().cloned());
    let management = match known {
        Some(id) => id,
        None => match management_account(ctx).await {
            Ok(id) => id,
            Err(e) => return Reading::Error(e),
        },
    };
    if management == ctx.account_id {
        Reading::Ok(RootCredentialsManagement::NotCentral {
            why: format!(
                "this is the management account of organization {org}, whose root is never managed centrally"
            ),
        })
    } else {
        Reading::Ok(RootCredentialsManagement::CentralMember {
            organization_id: org.to_string(),
            seen_from: "this account (a delegated administrator for centralized root access)"
                .into(),
        })
    }
}

/// A member account's view: the discovering account's, when there is one.
fn member_view(ctx: &Ctx) -> Reading<RootCredentialsManagement> {
    let Some(view) = &ctx.org_view else {
        return Reading::Ok(RootCredentialsManagement::Unknown {
            why: "a member account cannot read its organization's root access features \
                  (AccountNotManagementOrDelegatedAdministrator); collect it through \
                  organization discovery from the management account to take them into account"
                .into(),
        });
    };
    match (&view.features, &view.management_account_id) {
        (Reading::Error(e), _) | (_, Reading::Error(e)) => Reading::Error(e.clone()),
        (Reading::Ok((org, _)), Reading::Ok(m)) if *m == ctx.account_id => {
            Reading::Ok(RootCredentialsManagement::NotCentral {
                why: format!(
                    "this is the management account of organization {org}, whose root is never managed centrally"
                ),
            })
        }
        (Reading::Ok((org, true)), _) => Reading::Ok(RootCredentialsManagement::CentralMember {
            organization_id: org.clone(),
            seen_from: format!("the discovering account {}", view.discoverer),
        }),
        (Reading::Ok((org, false)), _) => Reading::Ok(RootCredentialsManagement::NotCentral {
            why: format!("organization {org} does not have RootCredentialsManagement enabled"),
        }),
    }
}

/// The management account id (Organizations DescribeOrganization).
async fn management_account(ctx: &Ctx) -> Result<String, AwsError> {
    let op = "organizations:DescribeOrganization";
    let client = aws_sdk_organizations::Client::new(&ctx.conf);
    let out = client
        .describe_organization()
        .send()
        .await
        .map_err(|e| classify(op, &ctx.region, &e))?;
    out.organization()
        .and_then(|o| o.master_account_id())
        .map(str::to_string)
        .ok_or_else(|| malformed(op, &ctx.region, "no Organization.MasterAccountId"))
}

/// What the discovering credentials see of the organization: the root access
/// features (organization id, RootCredentialsManagement enabled) and the
/// management account. Fetched once per run.
pub(crate) async fn org_view(conf: &aws_config::SdkConfig, region: &str) -> OrgView {
    let iam = aws_sdk_iam::Client::new(conf);
    let sts = aws_sdk_sts::Client::new(conf);
    let orgs = aws_sdk_organizations::Client::new(conf);
    let (features, org, who) = tokio::join!(
        iam.list_organizations_features().send(),
        orgs.describe_organization().send(),
        sts.get_caller_identity().send(),
    );
    let features = match features {
        Ok(out) => match out.organization_id() {
            Some(id) => Reading::Ok((
                id.to_string(),
                out.enabled_features()
                    .contains(&FeatureType::RootCredentialsManagement),
            )),
            None => Reading::Error(malformed(
                "iam:ListOrganizationsFeatures",
                region,
                "no OrganizationId in the answer",
            )),
        },
        Err(e) => Reading::Error(classify("iam:ListOrganizationsFeatures", region, &e)),
    };
    let management_account_id = match org {
        Ok(out) => match out.organization().and_then(|o| o.master_account_id()) {
            Some(id) => Reading::Ok(id.to_string()),
            None => Reading::Error(malformed(
                "organizations:DescribeOrganization",
                region,
                "no Organization.MasterAccountId",
            )),
        },
        Err(e) => Reading::Error(classify("organizations:DescribeOrganization", region, &e)),
    };
    let discoverer = who
        .ok()
        .and_then(|w| w.account().map(str::to_string))
        .unwrap_or_else(|| "(unknown)".into());
    OrgView {
        discoverer,
        features,
        management_account_id,
    }
}
