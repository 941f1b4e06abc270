//! The S3 locations of `[[collectors.dlp]]` (`[[collectors.dlp.s3]]`) and
//! of `evident scan s3://…`: objects listed and read through an AWS
//! connection configured as `[[collectors.aws]]` accounts are, scanned by
//! the same engine as files. Opt-in; needs the `aws` cargo feature.

use std::path::PathBuf;

use evident_collectors::SettingProblem;

#[cfg(feature = "aws")]
use evident_dlp::{ScanOptions, ScanReport};

#[cfg(feature = "aws")]
use crate::kinds::dlp::Prepared;

/// One bucket to scan, optionally under a key prefix.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Bucket {
    /// The bucket's name.
    pub bucket: String,
    /// Only keys starting with this. Default: "" (the whole bucket).
    #[serde(default)]
    pub prefix: String,
}

/// `[[collectors.dlp.s3]]`: buckets of one AWS account, with the connection
/// settings of `[[collectors.aws]]` and the limits of one run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Source {
    /// The buckets (and prefixes) to scan. Required.
    pub buckets: Vec<S3Bucket>,
    /// A named profile of the shared config/credentials files. Default: the standard chain.
    pub profile: Option<String>,
    /// A role to assume (with the profile's or the default chain's credentials).
    pub role_arn: Option<String>,
    /// Name of an environment variable holding the role's external id.
    pub external_id_env: Option<String>,
    /// A file holding the role's external id.
    pub external_id_file: Option<PathBuf>,
    /// The home region (a bucket elsewhere is found by GetBucketLocation). Default: us-east-1.
    #[serde(default = "default_region")]
    pub region: String,
    /// Send every call to this endpoint (an emulator such as moto). Default: AWS.
    pub endpoint_url: Option<String>,
    /// Attempts per API call (the SDK's standard retries). Default: 3.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Limit in seconds of one API call attempt, and of a stall while reading an object. Default: 30.
    #[serde(default = "default_call_timeout")]
    pub call_timeout_seconds: u64,
    /// Skip objects larger than this many MiB. Default: 64.
    #[serde(default = "default_max_object_mb")]
    pub max_object_size_mb: u64,
    /// Objects read per run over all the buckets; beyond it the location is `error`. Default: 100000.
    #[serde(default = "default_max_objects")]
    pub max_objects: u64,
    /// MiB read per run over all the buckets; beyond it the location is `error`. Default: 10240.
    #[serde(default = "default_max_total_mb")]
    pub max_total_mb: u64,
    /// Objects read at the same time. Default: 8.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Skip keys ending with one of these (case-insensitive), e.g. `[".parquet", ".jpg"]`. Default: [].
    #[serde(default)]
    pub skip_suffixes: Vec<String>,
}

fn default_region() -> String {
    "us-east-1".to_string()
}
fn default_max_attempts() -> u32 {
    3
}
fn default_call_timeout() -> u64 {
    30
}
fn default_max_object_mb() -> u64 {
    64
}
fn default_max_objects() -> u64 {
    100_000
}
fn default_max_total_mb() -> u64 {
    10_240
}
fn default_concurrency() -> usize {
    8
}

impl S3Source {
    /// A source for `evident scan`: defaults, with the given connection.
    pub fn ad_hoc(buckets: Vec<S3Bucket>) -> S3Source {
        S3Source {
            buckets,
            profile: None,
            role_arn: None,
            external_id_env: None,
            external_id_file: None,
            region: default_region(),
            endpoint_url: None,
            max_attempts: default_max_attempts(),
            call_timeout_seconds: default_call_timeout(),
            max_object_size_mb: default_max_object_mb(),
            max_objects: default_max_objects(),
            max_total_mb: default_max_total_mb(),
            concurrency: default_concurrency(),
            skip_suffixes: Vec::new(),
        }
    }

    /// Every problem of this source's settings, each with the key it is about.
    pub fn problems(&self) -> Vec<SettingProblem> {
        let mut out = Vec::new();
        if !cfg!(feature = "aws") {
            out.push(SettingProblem::new(
                "buckets",
                "s3 locations need evident built with the `aws` feature",
            ));
        }
        if self.buckets.is_empty() {
            out.push(SettingProblem::new(
                "buckets",
                "an s3 location needs at least one entry in buckets",
            ));
        }
        for (i, b) in self.buckets.iter().enumerate() {
            let n = &b.bucket;
            let ok = (3..=63).contains(&n.len())
                && n.bytes().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-'
                })
                && n.starts_with(|c: char| c.is_ascii_alphanumeric())
                && n.ends_with(|c: char| c.is_ascii_alphanumeric());
            if !ok {
                out.push(SettingProblem::item(
                    "buckets",
                    i,
                    format!("{n:?} is not an S3 bucket name"),
                ));
            }
        }
        if let Some(arn) = &self.role_arn {
            let parts: Vec<&str> = arn.split(':').collect();
            if parts.len() != 6
                || parts[0] != "arn"
                || parts[2] != "iam"
                || parts[4].len() != 12
                || !parts[5].starts_with("role/")
            {
                out.push(SettingProblem::new(
                    "role_arn",
                    format!(
                        "role_arn {arn:?} is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)"
                    ),
                ));
            }
        } else if self.external_id_env.is_some() || self.external_id_file.is_some() {
            out.push(SettingProblem::new(
                if self.external_id_env.is_some() {
                    "external_id_env"
                } else {
                    "external_id_file"
                },
                "an external id needs a role_arn",
            ));
        }
        if self.external_id_env.is_some() && self.external_id_file.is_some() {
            out.push(SettingProblem::new(
                "external_id_file",
                "give the external id as external_id_env or external_id_file, not both",
            ));
        }
        if let Some(p) = &self.external_id_file {
            if !p.is_absolute() {
                out.push(SettingProblem::new(
                    "external_id_file",
                    format!("{:?} must be an absolute path", p.display().to_string()),
                ));
            }
        }
        if self.region.is_empty()
            || !self
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            out.push(SettingProblem::new(
                "region",
                format!(
                    "region {:?} is not a region name such as us-east-1",
                    self.region
                ),
            ));
        }
        if let Some(url) = &self.endpoint_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                out.push(SettingProblem::new(
                    "endpoint_url",
                    format!("endpoint_url {url:?} must start with http:// or https://"),
                ));
            }
        }
        for (name, v) in [
            ("max_attempts", u64::from(self.max_attempts)),
            ("call_timeout_seconds", self.call_timeout_seconds),
            ("max_object_size_mb", self.max_object_size_mb),
            ("max_objects", self.max_objects),
            ("max_total_mb", self.max_total_mb),
            ("concurrency", self.concurrency as u64),
        ] {
            if v == 0 {
                out.push(SettingProblem::new(
                    name,
                    format!("{name} must be at least 1"),
                ));
            }
        }
        if let Some(i) = self.skip_suffixes.iter().position(String::is_empty) {
            out.push(SettingProblem::item(
                "skip_suffixes",
                i,
                "skip_suffixes must not hold an empty suffix",
            ));
        }
        out
    }

    /// `s3://bucket/prefix` of each bucket.
    pub fn urls(&self) -> Vec<String> {
        self.buckets
            .iter()
            .map(|b| format!("s3://{}/{}", b.bucket, b.prefix))
            .collect()
    }
}

/// Scan the buckets of every source: one report per bucket and prefix,
/// keyed by `s3://bucket/prefix`. The scans run on a thread of their own
/// with its own async runtime (the caller may be inside one, or not); the
/// engine's options other than the object size limit are `base`'s.
#[cfg(feature = "aws")]
pub fn scan_sources(
    sources: &[S3Source],
    prepared: &Prepared,
    base: &ScanOptions,
) -> Vec<(String, ScanReport)> {
    use evident_collector_aws::s3_dlp::{scan_locations, S3Location, S3ScanLimits};
    use evident_collector_aws::{AccountSpec, AwsSettings};

    let failed_all = |why: &str| -> Vec<(String, ScanReport)> {
        sources
            .iter()
            .flat_map(S3Source::urls)
            .map(|url| {
                let mut r = ScanReport::default();
                r.errors.push(evident_dlp::ScanError {
                    path: url.clone(),
                    message: why.to_string(),
                });
                (url, r)
            })
            .collect()
    };
    let run = || -> Vec<(String, ScanReport)> {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => return failed_all(&format!("cannot start the async runtime: {e}")),
        };
        rt.block_on(async {
            let mut out = Vec::new();
            for src in sources {
                let settings = AwsSettings {
                    accounts: Vec::new(),
                    organization: None,
                    regions: vec![src.region.clone()],
                    endpoint_url: src.endpoint_url.clone(),
                    concurrency: 1,
                    max_attempts: src.max_attempts,
                    call_timeout_seconds: src.call_timeout_seconds,
                    iam: Default::default(),
                    backup: Default::default(),
                    config_recorder: Default::default(),
                    network: Default::default(),
                };
                let account = AccountSpec {
                    profile: src.profile.clone(),
                    role_arn: src.role_arn.clone(),
                    external_id_env: src.external_id_env.clone(),
                    external_id_file: src.external_id_file.clone(),
                };
                let locations: Vec<S3Location> = src
                    .buckets
                    .iter()
                    .map(|b| S3Location {
                        bucket: b.bucket.clone(),
                        prefix: b.prefix.clone(),
                    })
                    .collect();
                let limits = S3ScanLimits {
                    max_objects: src.max_objects,
                    max_bytes: src.max_total_mb.saturating_mul(1 << 20),
                    concurrency: src.concurrency,
                    skip_suffixes: src.skip_suffixes.clone(),
                };
                let options = ScanOptions {
                    max_file_size: src.max_object_size_mb.saturating_mul(1 << 20),
                    ..base.clone()
                };
                let scan = prepared.scan(&options);
                out.extend(scan_locations(&settings, &account, &locations, &limits, &scan).await);
            }
            out
        })
    };
    std::thread::scope(|s| {
        s.spawn(run)
            .join()
            .unwrap_or_else(|_| failed_all("the S3 scan thread panicked"))
    })
}
