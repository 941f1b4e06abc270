//! S3: account-level Block Public Access (S3 Control) and, per bucket, its
//! Block Public Access, policy status, public ACL grants and default encryption.

use aws_sdk_s3::types::{Permission, Type};
use aws_sdk_s3control::config::endpoint::{EndpointFuture, Params, ResolveEndpoint};
use aws_smithy_types::endpoint::Endpoint;
use evident_policies::aws::s3::{BlockPublicAccess, Bucket, S3Observation};
use evident_policies::aws::Reading;
use futures_util::StreamExt;

use crate::error::{classify, code_of, malformed};
use crate::Ctx;

/// Buckets inspected at the same time within one account.
const BUCKET_CONCURRENCY: usize = 8;

/// The ACL grantee groups that make a bucket public.
const PUBLIC_GROUPS: &[(&str, &str)] = &[
    (
        "http://acs.amazonaws.com/groups/global/AllUsers",
        "AllUsers",
    ),
    (
        "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
        "AuthenticatedUsers",
    ),
];

/// With `endpoint_url` set, S3 Control goes to that endpoint as it is: the
/// SDK's rules would otherwise put the account id in front of its host name.
#[derive(Debug)]
pub(crate) struct FixedEndpoint(pub(crate) String);

impl ResolveEndpoint for FixedEndpoint {
    fn resolve_endpoint<'a>(&'a self, _params: &'a Params) -> EndpointFuture<'a> {
        EndpointFuture::ready(Ok(Endpoint::builder().url(self.0.clone()).build()))
    }
}

pub(crate) async fn observe(ctx: &Ctx) -> S3Observation {
    let (account_block, buckets) = tokio::join!(account_block(ctx), buckets(ctx));
    S3Observation {
        account_id: ctx.account_id.clone(),
        partition: ctx.partition.clone(),
        region: ctx.region.clone(),
        account_block,
        buckets,
    }
}

fn client(ctx: &Ctx, region: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(&ctx.conf_in(region))
        .force_path_style(ctx.settings.endpoint_url.is_some())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

fn block_of(
    c: Option<&aws_sdk_s3control::types::PublicAccessBlockConfiguration>,
) -> Option<BlockPublicAccess> {
    c.map(|c| BlockPublicAccess {
        block_public_acls: c.block_public_acls().unwrap_or(false),
        ignore_public_acls: c.ignore_public_acls().unwrap_or(false),
        block_public_policy: c.block_public_policy().unwrap_or(false),
        restrict_public_buckets: c.restrict_public_buckets().unwrap_or(false),
    })
}

async fn account_block(ctx: &Ctx) -> Reading<Option<BlockPublicAccess>> {
    let op = "s3:GetAccountPublicAccessBlock";
    let mut conf = aws_sdk_s3control::config::Builder::from(&ctx.conf);
    if let Some(url) = &ctx.settings.endpoint_url {
        conf = conf.endpoint_resolver(FixedEndpoint(url.clone()));
    }
    let client = aws_sdk_s3control::Client::from_conf(conf.build());
    match client
        .get_public_access_block()
        .account_id(&ctx.account_id)
        .send()
        .await
    {
        Ok(out) => match out.public_access_block_configuration() {
            Some(c) => Reading::Ok(block_of(Some(c))),
            None => Reading::Error(malformed(
                op,
                &ctx.region,
                "no PublicAccessBlockConfiguration in the answer",
            )),
        },
        Err(e) if code_of(&e) == Some("NoSuchPublicAccessBlockConfiguration") => Reading::Ok(None),
        Err(e) => Reading::Error(classify(op, &ctx.region, &e)),
    }
}

async fn buckets(ctx: &Ctx) -> Reading<Vec<Bucket>> {
    let op = "s3:ListAllMyBuckets";
    let home = client(ctx, &ctx.region);
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = match home
            .list_buckets()
            .set_continuation_token(token.take())
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) => return Reading::Error(classify(op, &ctx.region, &e)),
        };
        for b in out.buckets() {
            let Some(name) = b.name() else {
                return Reading::Error(malformed(op, &ctx.region, "a bucket has no Name"));
            };
            names.push((name.to_string(), b.bucket_region().map(str::to_string)));
        }
        match out.continuation_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    let list = futures_util::stream::iter(names)
        .map(|(name, region)| bucket(ctx, &home, name, region))
        .buffered(BUCKET_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    Reading::Ok(list)
}

async fn bucket(
    ctx: &Ctx,
    home: &aws_sdk_s3::Client,
    name: String,
    region: Option<String>,
) -> Bucket {
    let region = match region {
        Some(r) => r,
        None => match home.get_bucket_location().bucket(&name).send().await {
            Ok(out) => match out.location_constraint().map(|c| c.as_str()) {
                None | Some("") => "us-east-1".to_string(),
                Some("EU") => "eu-west-1".to_string(),
                Some(r) => r.to_string(),
            },
            // The bucket's own calls then go to the home region; S3 answers
            // or redirects, and an error is recorded per reading.
            Err(e) => {
                let e = classify("s3:GetBucketLocation", &ctx.region, &e);
                tracing::debug!(bucket = %name, error = %e.describe(), "bucket region unknown");
                ctx.region.clone()
            }
        },
    };
    let c = client(ctx, &region);
    let r = region.as_str();
    let (block, policy_public, public_acl_grants, encryption) = tokio::join!(
        async {
            match c.get_public_access_block().bucket(&name).send().await {
                Ok(out) => Reading::Ok(out.public_access_block_configuration().map(|c| {
                    BlockPublicAccess {
                        block_public_acls: c.block_public_acls().unwrap_or(false),
                        ignore_public_acls: c.ignore_public_acls().unwrap_or(false),
                        block_public_policy: c.block_public_policy().unwrap_or(false),
                        restrict_public_buckets: c.restrict_public_buckets().unwrap_or(false),
                    }
                })),
                Err(e) if code_of(&e) == Some("NoSuchPublicAccessBlockConfiguration") => {
                    Reading::Ok(None)
                }
                Err(e) => Reading::Error(classify("s3:GetBucketPublicAccessBlock", r, &e)),
            }
        },
        async {
            match c.get_bucket_policy_status().bucket(&name).send().await {
                // A 200 without PolicyStatus.IsPublic cannot be read as "not public".
                Ok(out) => match out.policy_status().and_then(|s| s.is_public()) {
                    Some(public) => Reading::Ok(Some(public)),
                    None => Reading::Error(crate::error::malformed(
                        "s3:GetBucketPolicyStatus",
                        r,
                        "the response has no PolicyStatus.IsPublic",
                    )),
                },
                Err(e) if code_of(&e) == Some("NoSuchBucketPolicy") => Reading::Ok(None),
                Err(e) => Reading::Error(classify("s3:GetBucketPolicyStatus", r, &e)),
            }
        },
        async {
            match c.get_bucket_acl().bucket(&name).send().await {
                Ok(out) => Reading::Ok(
                    out.grants()
                        .iter()
                        .filter_map(|g| {
                            let grantee = g.grantee()?;
                            if grantee.r#type() != &Type::Group {
                                return None;
                            }
                            let uri = grantee.uri()?;
                            let (_, label) = PUBLIC_GROUPS.iter().find(|(u, _)| *u == uri)?;
                            let perm = g.permission().map(Permission::as_str).unwrap_or("unknown");
                            Some(format!("{label}:{perm}"))
                        })
                        .collect(),
                ),
                Err(e) => Reading::Error(classify("s3:GetBucketAcl", r, &e)),
            }
        },
        async {
            match c.get_bucket_encryption().bucket(&name).send().await {
                Ok(out) => {
                    let alg = out.server_side_encryption_configuration().and_then(|c| {
                        c.rules().iter().find_map(|rule| {
                            rule.apply_server_side_encryption_by_default()
                                .map(|d| d.sse_algorithm().as_str().to_string())
                        })
                    });
                    Reading::Ok(alg)
                }
                Err(e) if code_of(&e) == Some("ServerSideEncryptionConfigurationNotFoundError") => {
                    Reading::Ok(None)
                }
                Err(e) => Reading::Error(classify("s3:GetEncryptionConfiguration", r, &e)),
            }
        },
    );
    Bucket {
        arn: format!("arn:{}:s3:::{name}", ctx.partition),
        name,
        region,
        block,
        policy_public,
        public_acl_grants,
        encryption,
    }
}
