//! S3: account-level Block Public Access, per-bucket public exposure and
//! default encryption. The `aws.s3` observation and its checks.
//!
//! A bucket is public when its policy is public (GetBucketPolicyStatus) and
//! neither the account's nor the bucket's `RestrictPublicBuckets` is on, or
//! when its ACL grants to everyone or to any authenticated AWS user and
//! neither `IgnorePublicAcls` is on. A setting that could not be read counts
//! as unknown: the verdict is `error` unless the known settings decide it.

use serde::{Deserialize, Serialize};

use super::{account_arn, error_finding, AwsError, Reading};
use crate::model::{Check, CheckMeta, Finding, Observation, Severity, Status};
use crate::reason::ReasonCode;

/// The observation source of these checks.
pub const SOURCE: &str = "aws.s3";

/// What the AWS collector read of one account's S3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Observation {
    /// The account id.
    pub account_id: String,
    /// The partition.
    pub partition: String,
    /// The region ListBuckets and S3 Control were called in.
    pub region: String,
    /// Account-level Block Public Access (S3 Control); `None` when not configured.
    pub account_block: Reading<Option<BlockPublicAccess>>,
    /// The buckets.
    pub buckets: Reading<Vec<Bucket>>,
}

/// The four Block Public Access flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockPublicAccess {
    /// `BlockPublicAcls`.
    pub block_public_acls: bool,
    /// `IgnorePublicAcls`.
    pub ignore_public_acls: bool,
    /// `BlockPublicPolicy`.
    pub block_public_policy: bool,
    /// `RestrictPublicBuckets`.
    pub restrict_public_buckets: bool,
}

impl BlockPublicAccess {
    /// Whether all four are on.
    pub fn all(&self) -> bool {
        self.block_public_acls
            && self.ignore_public_acls
            && self.block_public_policy
            && self.restrict_public_buckets
    }
}

/// One bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    /// Name.
    pub name: String,
    /// ARN (`arn:aws:s3:::name`).
    pub arn: String,
    /// The bucket's region.
    pub region: String,
    /// Bucket-level Block Public Access; `None` when not configured.
    pub block: Reading<Option<BlockPublicAccess>>,
    /// `IsPublic` of GetBucketPolicyStatus; `None` when the bucket has no policy.
    pub policy_public: Reading<Option<bool>>,
    /// ACL grants to the AllUsers or AuthenticatedUsers groups, as `group:permission`.
    pub public_acl_grants: Reading<Vec<String>>,
    /// Default encryption algorithm (`AES256`, `aws:kms`, …); `None` when none is configured.
    pub encryption: Reading<Option<String>>,
}

/// All four account-level flags on.
pub const ACCOUNT_PUBLIC_ACCESS_BLOCKED: Check = Check {
    meta: CheckMeta {
        id: "aws_s3_account_public_access_blocked",
        title: "S3 Block Public Access is on for the whole account",
        severity: Severity::High,
        controls: &["A.8.12", "A.8.3"],
        source: SOURCE,
        rationale: "The account-level block stops any bucket, present or future, from being opened to the internet by mistake.",
        remediation: "Turn on all four account-level S3 Block Public Access settings (S3 > Block Public Access settings for this account).",
        max_age_days: 7,
    },
    evaluate: eval_account_block,
};

/// No bucket is public.
pub const BUCKETS_NOT_PUBLIC: Check = Check {
    meta: CheckMeta {
        id: "aws_s3_buckets_not_public",
        title: "S3 buckets are not public",
        severity: Severity::Critical,
        controls: &["A.8.12", "A.8.3"],
        source: SOURCE,
        rationale: "A public bucket leaks whatever is put in it.",
        remediation: "Remove the public policy statements or ACL grants, or turn on Block Public Access for the bucket or the account.",
        max_age_days: 7,
    },
    evaluate: eval_public,
};

/// Buckets have default encryption.
pub const BUCKETS_DEFAULT_ENCRYPTED: Check = Check {
    meta: CheckMeta {
        id: "aws_s3_buckets_default_encrypted",
        title: "S3 buckets have default encryption",
        severity: Severity::Medium,
        controls: &["A.8.24"],
        source: SOURCE,
        rationale: "Default encryption protects objects at rest whatever the uploader asked for.",
        remediation: "Set default encryption (SSE-S3 or SSE-KMS) on the bucket.",
        max_age_days: 7,
    },
    evaluate: eval_encryption,
};

fn parse(meta: &CheckMeta, obs: &Observation) -> Result<(S3Observation, String), Vec<Finding>> {
    let d: S3Observation = obs
        .payload()
        .map_err(|e| vec![Finding::malformed(meta, obs, &e)])?;
    let acct = account_arn(&d.partition, &d.account_id);
    Ok((d, acct))
}

fn eval_account_block(obs: &Observation) -> Vec<Finding> {
    let meta = &ACCOUNT_PUBLIC_ACCESS_BLOCKED.meta;
    let (d, acct) = match parse(meta, obs) {
        Ok(x) => x,
        Err(f) => return f,
    };
    let block = match d.account_block.or_error(meta, &acct) {
        Ok(b) => *b,
        Err(f) => return vec![f],
    };
    let (status, code, what) = match block {
        None => (Status::Fail, ReasonCode::AwsS3AccountBlockIncomplete, "no account-level Block Public Access is configured".to_string()),
        Some(b) if b.all() => (Status::Pass, ReasonCode::AwsS3AccountBlockOn, "all four account-level Block Public Access settings are on".to_string()),
        Some(b) => (Status::Fail, ReasonCode::AwsS3AccountBlockIncomplete, format!(
            "account-level Block Public Access is incomplete: BlockPublicAcls={}, IgnorePublicAcls={}, BlockPublicPolicy={}, RestrictPublicBuckets={}",
            b.block_public_acls, b.ignore_public_acls, b.block_public_policy, b.restrict_public_buckets)),
    };
    vec![Finding::new(
        meta,
        acct,
        status,
        code,
        format!("account {}: {what}", d.account_id),
    )]
}

/// Three-valued or.
fn or3(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

/// Three-valued and.
fn and3(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

fn flag(r: &Reading<Option<BlockPublicAccess>>, f: fn(&BlockPublicAccess) -> bool) -> Option<bool> {
    match r {
        Reading::Ok(Some(b)) => Some(f(b)),
        Reading::Ok(None) => Some(false),
        Reading::Error(_) => None,
    }
}

fn eval_public(obs: &Observation) -> Vec<Finding> {
    let meta = &BUCKETS_NOT_PUBLIC.meta;
    let (d, acct) = match parse(meta, obs) {
        Ok(x) => x,
        Err(f) => return f,
    };
    let buckets = match d.buckets.or_error(meta, &acct) {
        Ok(b) => b,
        Err(f) => return vec![f],
    };
    if buckets.is_empty() {
        return vec![Finding::new(
            meta,
            acct,
            Status::NotApplicable,
            ReasonCode::ComponentAbsent,
            format!("account {}: no S3 buckets", d.account_id),
        )];
    }
    buckets
        .iter()
        .map(|b| {
            let restrict = or3(flag(&d.account_block, |x| x.restrict_public_buckets), flag(&b.block, |x| x.restrict_public_buckets));
            let ignore = or3(flag(&d.account_block, |x| x.ignore_public_acls), flag(&b.block, |x| x.ignore_public_acls));
            let policy_public = match &b.policy_public {
                Reading::Ok(p) => Some(p.unwrap_or(false)),
                Reading::Error(_) => None,
            };
            let acl_public = b.public_acl_grants.ok().map(|g| !g.is_empty());
            let via_policy = and3(policy_public, restrict.map(|r| !r));
            let via_acl = and3(acl_public, ignore.map(|i| !i));
            let prefix = format!("account {}, region {}: bucket {}", d.account_id, b.region, b.name);
            match or3(via_policy, via_acl) {
                Some(true) => {
                    let mut how = Vec::new();
                    if via_policy == Some(true) {
                        how.push("its bucket policy is public and RestrictPublicBuckets is off at account and bucket level".to_string());
                    }
                    if via_acl == Some(true) {
                        let grants = b.public_acl_grants.ok().map(|g| g.join(", ")).unwrap_or_default();
                        how.push(format!("its ACL grants {grants} and IgnorePublicAcls is off at account and bucket level"));
                    }
                    Finding::new(meta, &b.arn, Status::Fail, ReasonCode::AwsS3BucketPublic, format!("{prefix} is public: {}", how.join("; ")))
                }
                Some(false) => Finding::new(meta, &b.arn, Status::Pass, ReasonCode::AwsS3BucketNotPublic,
                    format!("{prefix} is not public (policy public: {}, public ACL grants: {}, RestrictPublicBuckets: {}, IgnorePublicAcls: {})",
                        show(policy_public), show(acl_public), show(restrict), show(ignore))),
                None => {
                    let errors: Vec<&AwsError> = [
                        error_of(&d.account_block),
                        error_of(&b.block),
                        error_of(&b.policy_public),
                        error_of(&b.public_acl_grants),
                    ]
                    .into_iter()
                    .flatten()
                    .collect();
                    match errors.first() {
                        Some(e) => {
                            let mut f = error_finding(meta, &b.arn, e);
                            f.reason = format!("{prefix}: exposure unknown: {}", errors.iter().map(|e| e.describe()).collect::<Vec<_>>().join("; "));
                            f
                        }
                        // Unknown always comes from an error; kept total for safety.
                        None => Finding::new(meta, &b.arn, Status::Error, ReasonCode::AwsMalformedResponse, format!("{prefix}: exposure unknown")),
                    }
                }
            }
        })
        .collect()
}

fn show(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    }
}

fn error_of<T>(r: &Reading<T>) -> Option<&AwsError> {
    match r {
        Reading::Error(e) => Some(e),
        Reading::Ok(_) => None,
    }
}

fn eval_encryption(obs: &Observation) -> Vec<Finding> {
    let meta = &BUCKETS_DEFAULT_ENCRYPTED.meta;
    let (d, acct) = match parse(meta, obs) {
        Ok(x) => x,
        Err(f) => return f,
    };
    let buckets = match d.buckets.or_error(meta, &acct) {
        Ok(b) => b,
        Err(f) => return vec![f],
    };
    if buckets.is_empty() {
        return vec![Finding::new(
            meta,
            acct,
            Status::NotApplicable,
            ReasonCode::ComponentAbsent,
            format!("account {}: no S3 buckets", d.account_id),
        )];
    }
    buckets
        .iter()
        .map(|b| {
            let prefix = format!(
                "account {}, region {}: bucket {}",
                d.account_id, b.region, b.name
            );
            match &b.encryption {
                Reading::Error(e) => error_finding(meta, &b.arn, e),
                Reading::Ok(Some(alg)) => Finding::new(
                    meta,
                    &b.arn,
                    Status::Pass,
                    ReasonCode::AwsS3BucketEncrypted,
                    format!("{prefix} encrypts by default with {alg}"),
                ),
                Reading::Ok(None) => Finding::new(
                    meta,
                    &b.arn,
                    Status::Fail,
                    ReasonCode::AwsS3BucketNotEncrypted,
                    format!("{prefix} has no default encryption"),
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

    const ALL: BlockPublicAccess = BlockPublicAccess {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };

    fn bucket(policy_public: Option<bool>, grants: Vec<String>) -> Bucket {
        Bucket {
            name: "b".into(),
            arn: "arn:aws:s3:::b".into(),
            region: "us-east-1".into(),
            block: Reading::Ok(None),
            policy_public: Reading::Ok(policy_public),
            public_acl_grants: Reading::Ok(grants),
            encryption: Reading::Ok(Some("AES256".into())),
        }
    }

    fn data(
        account_block: Reading<Option<BlockPublicAccess>>,
        buckets: Vec<Bucket>,
    ) -> S3Observation {
        S3Observation {
            account_id: "111122223333".into(),
            partition: "aws".into(),
            region: "us-east-1".into(),
            account_block,
            buckets: Reading::Ok(buckets),
        }
    }

    fn statuses(c: &Check, d: &S3Observation) -> Vec<Status> {
        (c.evaluate)(&obs(SOURCE, d))
            .into_iter()
            .map(|f| f.status)
            .collect()
    }

    #[test]
    fn account_block_pass_fail_error() {
        assert_eq!(
            statuses(
                &ACCOUNT_PUBLIC_ACCESS_BLOCKED,
                &data(Reading::Ok(Some(ALL)), vec![])
            ),
            [Status::Pass]
        );
        let mut three = ALL;
        three.restrict_public_buckets = false;
        assert_eq!(
            statuses(
                &ACCOUNT_PUBLIC_ACCESS_BLOCKED,
                &data(Reading::Ok(Some(three)), vec![])
            ),
            [Status::Fail]
        );
        assert_eq!(
            statuses(
                &ACCOUNT_PUBLIC_ACCESS_BLOCKED,
                &data(Reading::Ok(None), vec![])
            ),
            [Status::Fail]
        );
        assert_eq!(
            statuses(
                &ACCOUNT_PUBLIC_ACCESS_BLOCKED,
                &data(err(AwsErrorKind::AccessDenied), vec![])
            ),
            [Status::Error]
        );
    }

    #[test]
    fn public_bucket_fails_unless_a_block_covers_it() {
        let by_policy = bucket(Some(true), vec![]);
        let by_acl = bucket(None, vec!["AllUsers:READ".into()]);
        let private = bucket(Some(false), vec![]);
        let d = data(
            Reading::Ok(None),
            vec![by_policy.clone(), by_acl.clone(), private.clone()],
        );
        assert_eq!(
            statuses(&BUCKETS_NOT_PUBLIC, &d),
            [Status::Fail, Status::Fail, Status::Pass]
        );
        // The account-level block covers both.
        let covered = data(
            Reading::Ok(Some(ALL)),
            vec![by_policy.clone(), by_acl.clone()],
        );
        assert_eq!(
            statuses(&BUCKETS_NOT_PUBLIC, &covered),
            [Status::Pass, Status::Pass]
        );
        // The bucket-level block covers the ACL only when IgnorePublicAcls is on.
        let mut acl_blocked = by_acl.clone();
        acl_blocked.block = Reading::Ok(Some(BlockPublicAccess {
            ignore_public_acls: true,
            ..BlockPublicAccess {
                block_public_acls: false,
                ignore_public_acls: false,
                block_public_policy: false,
                restrict_public_buckets: false,
            }
        }));
        assert_eq!(
            statuses(
                &BUCKETS_NOT_PUBLIC,
                &data(Reading::Ok(None), vec![acl_blocked])
            ),
            [Status::Pass]
        );
    }

    #[test]
    fn unknown_exposure_is_error_unless_decided() {
        let mut unknown_policy = bucket(None, vec![]);
        unknown_policy.policy_public = err(AwsErrorKind::Throttled);
        let f = (BUCKETS_NOT_PUBLIC.evaluate)(&obs(
            SOURCE,
            &data(Reading::Ok(None), vec![unknown_policy.clone()]),
        ));
        assert_eq!(
            (f[0].status, f[0].reason_code),
            (Status::Error, ReasonCode::AwsThrottled)
        );
        // The account block decides it whatever the policy says.
        assert_eq!(
            statuses(
                &BUCKETS_NOT_PUBLIC,
                &data(Reading::Ok(Some(ALL)), vec![unknown_policy])
            ),
            [Status::Pass]
        );
        // An unreadable account block with a public ACL: unknown.
        assert_eq!(
            statuses(
                &BUCKETS_NOT_PUBLIC,
                &data(
                    err(AwsErrorKind::Timeout),
                    vec![bucket(None, vec!["AllUsers:READ".into()])]
                )
            ),
            [Status::Error]
        );
        let mut listing = data(Reading::Ok(None), vec![]);
        listing.buckets = err(AwsErrorKind::ServiceError);
        assert_eq!(statuses(&BUCKETS_NOT_PUBLIC, &listing), [Status::Error]);
    }

    #[test]
    fn default_encryption_pass_fail_error() {
        let mut plain = bucket(None, vec![]);
        plain.encryption = Reading::Ok(None);
        let mut unknown = bucket(None, vec![]);
        unknown.encryption = err(AwsErrorKind::AccessDenied);
        let d = data(
            Reading::Ok(None),
            vec![bucket(None, vec![]), plain, unknown],
        );
        assert_eq!(
            statuses(&BUCKETS_DEFAULT_ENCRYPTED, &d),
            [Status::Pass, Status::Fail, Status::Error]
        );
    }
}
