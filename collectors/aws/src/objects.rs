//! Reading S3 objects (for the DLP scanner): ListObjectsV2 paging and
//! GetObject streaming through one account's connection, with the same
//! settings as the collector (profile or assumed role with its external id,
//! `endpoint_url`, region, attempts, call timeout). Every failure is an
//! [`AwsError`] classified as the collector's are.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use evident_policies::aws::{AwsError, AwsErrorKind};

use crate::error::{classify, malformed};
use crate::{account_config, AccountSpec, AwsSettings};

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The key.
    pub key: String,
    /// Its size in bytes (`None` when the listing does not give it).
    pub size: Option<u64>,
}

/// One page of a ListObjectsV2 listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPage {
    /// The objects of the page.
    pub objects: Vec<ObjectInfo>,
    /// The continuation token of the next page, if there is one.
    pub next: Option<String>,
}

/// A connection to one account's S3, in one region.
#[derive(Debug, Clone)]
pub struct S3Reader {
    client: aws_sdk_s3::Client,
    conf: aws_config::SdkConfig,
    path_style: bool,
    region: String,
    timeout: Duration,
}

impl S3Reader {
    /// Connect to the account of `account` with the connection settings of
    /// `settings` (its first region is the home region). Credentials are
    /// resolved on the first call; an unreadable external id fails here.
    pub async fn connect(
        settings: &AwsSettings,
        account: &AccountSpec,
    ) -> Result<S3Reader, AwsError> {
        let region = settings
            .regions
            .first()
            .cloned()
            .unwrap_or_else(|| "us-east-1".into());
        let conf = account_config(settings, account, &region)
            .await
            .map_err(|message| AwsError {
                kind: AwsErrorKind::RequestFailed,
                operation: "external id".into(),
                region: region.clone(),
                code: None,
                message,
            })?;
        let path_style = settings.endpoint_url.is_some();
        Ok(S3Reader {
            client: client(&conf, path_style),
            conf,
            path_style,
            region,
            timeout: Duration::from_secs(settings.call_timeout_seconds.max(1)),
        })
    }

    /// The region calls go to.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The same connection in another region.
    pub fn in_region(&self, region: &str) -> S3Reader {
        let conf = self
            .conf
            .clone()
            .into_builder()
            .region(aws_config::Region::new(region.to_string()))
            .build();
        S3Reader {
            client: client(&conf, self.path_style),
            conf,
            path_style: self.path_style,
            region: region.to_string(),
            timeout: self.timeout,
        }
    }

    /// The region of a bucket (GetBucketLocation). On failure the home
    /// region is kept: the bucket's own calls then fail with their reason
    /// if it is wrong.
    pub async fn for_bucket(&self, bucket: &str) -> S3Reader {
        match self
            .client
            .get_bucket_location()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(out) => {
                let region = match out.location_constraint().map(|c| c.as_str()) {
                    None | Some("") => "us-east-1".to_string(),
                    Some("EU") => "eu-west-1".to_string(),
                    Some(r) => r.to_string(),
                };
                if region == self.region {
                    self.clone()
                } else {
                    self.in_region(&region)
                }
            }
            Err(e) => {
                let e = classify("s3:GetBucketLocation", &self.region, &e);
                tracing::debug!(bucket, error = %e.describe(), "bucket region unknown");
                self.clone()
            }
        }
    }

    /// One page of the objects under `prefix` (ListObjectsV2).
    pub async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        token: Option<String>,
    ) -> Result<ObjectPage, AwsError> {
        let op = "s3:ListBucket";
        let mut req = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token);
        if !prefix.is_empty() {
            req = req.prefix(prefix);
        }
        let out = req
            .send()
            .await
            .map_err(|e| classify(op, &self.region, &e))?;
        let mut objects = Vec::with_capacity(out.contents().len());
        for o in out.contents() {
            let Some(key) = o.key() else {
                return Err(malformed(
                    op,
                    &self.region,
                    "an object of the listing has no Key",
                ));
            };
            objects.push(ObjectInfo {
                key: key.to_string(),
                size: o.size().and_then(|n| u64::try_from(n).ok()),
            });
        }
        let next = match (out.is_truncated(), out.next_continuation_token()) {
            (Some(true), Some(t)) if !t.is_empty() => Some(t.to_string()),
            (Some(true), _) => {
                return Err(malformed(
                    op,
                    &self.region,
                    "a truncated listing has no NextContinuationToken",
                ))
            }
            _ => None,
        };
        Ok(ObjectPage { objects, next })
    }

    /// Open an object for reading (GetObject); its body is streamed.
    pub async fn open(&self, bucket: &str, key: &str) -> Result<ObjectBody, AwsError> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify("s3:GetObject", &self.region, &e))?;
        Ok(ObjectBody {
            declared: out.content_length().and_then(|n| u64::try_from(n).ok()),
            body: out.body,
            read: 0,
            region: self.region.clone(),
            timeout: self.timeout,
        })
    }
}

fn client(conf: &aws_config::SdkConfig, path_style: bool) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(conf)
            .force_path_style(path_style)
            .build(),
    )
}

/// The body of an object being read.
#[derive(Debug)]
pub struct ObjectBody {
    body: ByteStream,
    declared: Option<u64>,
    read: u64,
    region: String,
    timeout: Duration,
}

impl ObjectBody {
    /// The Content-Length of the answer, if it had one.
    pub fn declared_len(&self) -> Option<u64> {
        self.declared
    }

    /// The next piece of the body, `None` at its end. A piece that does not
    /// come within the call timeout, a broken connection or a body shorter
    /// or longer than its Content-Length is an error.
    pub async fn next_piece(&mut self) -> Result<Option<bytes::Bytes>, AwsError> {
        let op = "s3:GetObject";
        let piece = match tokio::time::timeout(self.timeout, self.body.next()).await {
            Err(_) => {
                return Err(AwsError {
                    kind: AwsErrorKind::Timeout,
                    operation: op.into(),
                    region: self.region.clone(),
                    code: None,
                    message: format!(
                        "no data of the object's body within {} s",
                        self.timeout.as_secs()
                    ),
                })
            }
            Ok(p) => p,
        };
        match piece {
            Some(Ok(b)) => {
                self.read += b.len() as u64;
                if self.declared.is_some_and(|d| self.read > d) {
                    return Err(malformed(
                        op,
                        &self.region,
                        "the body is longer than its Content-Length",
                    ));
                }
                Ok(Some(b))
            }
            Some(Err(e)) => Err(AwsError {
                kind: AwsErrorKind::RequestFailed,
                operation: op.into(),
                region: self.region.clone(),
                code: None,
                message: crate::error::truncate(format!(
                    "reading the object's body failed: {}",
                    crate::error::source_chain(&e)
                )),
            }),
            None => match self.declared {
                Some(d) if d != self.read => Err(malformed(
                    op,
                    &self.region,
                    format!("the body ended after {} of {d} bytes", self.read),
                )),
                _ => Ok(None),
            },
        }
    }
}
