//! DLP scanning of S3 objects: the objects of each configured bucket and
//! prefix are listed ([`S3Reader::list`]), read as streams
//! ([`S3Reader::open`]) a bounded number at a time, and their bytes fed to
//! the `evident-dlp` engine ([`evident_dlp::ObjectScan`]), which knows
//! nothing of AWS. One report per location (`s3://bucket/prefix`).
//!
//! Fail closed: a bucket that cannot be listed, an object that cannot be
//! read, and a run cut short by its limits each leave an error in the
//! location's report, so its check is `error`, never `pass`.

use std::sync::atomic::{AtomicU64, Ordering};

use evident_dlp::{ObjectScan, Scan, ScanReport, Skip};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::objects::S3Reader;
use crate::{AccountSpec, AwsSettings};

/// One bucket to scan, optionally under a key prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Location {
    /// The bucket name.
    pub bucket: String,
    /// Only keys starting with this. Default: the whole bucket.
    #[serde(default)]
    pub prefix: String,
}

impl S3Location {
    /// `s3://bucket/prefix`.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// Parse `s3://bucket[/prefix]`.
    pub fn parse(url: &str) -> Option<S3Location> {
        let rest = url.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return None;
        }
        Some(S3Location {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }
}

/// Limits and options of one S3 scan run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3ScanLimits {
    /// Objects read per run, over all locations; the rest is not scanned
    /// and the location is `error` ("not scanned in full").
    pub max_objects: u64,
    /// Bytes read per run, over all locations (as listed sizes).
    pub max_bytes: u64,
    /// Objects read at the same time.
    pub concurrency: usize,
    /// Keys ending with one of these (ASCII case-insensitive) are skipped.
    pub skip_suffixes: Vec<String>,
}

impl Default for S3ScanLimits {
    fn default() -> Self {
        S3ScanLimits {
            max_objects: 100_000,
            max_bytes: 10 << 30,
            concurrency: 8,
            skip_suffixes: Vec::new(),
        }
    }
}

/// What is left of a run's limits.
struct Budget {
    objects: AtomicU64,
    bytes: AtomicU64,
}

/// Scan the objects of `locations` in the account of `account`, reached
/// with the connection settings of `settings`. `scan` holds the compiled
/// rules, suppressions and the options shared with the file scanner
/// (archives, the size limit of one object). One report per location, in
/// order.
pub async fn scan_locations(
    settings: &AwsSettings,
    account: &AccountSpec,
    locations: &[S3Location],
    limits: &S3ScanLimits,
    scan: &Scan<'_>,
) -> Vec<(String, ScanReport)> {
    let budget = Budget {
        objects: AtomicU64::new(limits.max_objects),
        bytes: AtomicU64::new(limits.max_bytes),
    };
    let home = match S3Reader::connect(settings, account).await {
        Ok(r) => r,
        Err(e) => {
            let why = e.describe();
            return locations
                .iter()
                .map(|l| {
                    let objects = scan.objects(&format!("s3://{}", l.bucket));
                    objects.error(&l.url(), &why);
                    (l.url(), objects.finish())
                })
                .collect();
        }
    };
    let mut out = Vec::with_capacity(locations.len());
    for l in locations {
        let objects = scan.objects(&format!("s3://{}", l.bucket));
        let reader = home.for_bucket(&l.bucket).await;
        location(&reader, l, limits, &budget, &objects).await;
        out.push((l.url(), objects.finish()));
    }
    out
}

async fn location(
    reader: &S3Reader,
    l: &S3Location,
    limits: &S3ScanLimits,
    budget: &Budget,
    objects: &ObjectScan<'_, '_>,
) {
    let url = l.url();
    let mut token: Option<String> = None;
    loop {
        let page = match reader.list(&l.bucket, &l.prefix, token.take()).await {
            Ok(p) => p,
            Err(e) => {
                objects.error(&url, &e.describe());
                return;
            }
        };
        let mut todo = Vec::new();
        let mut cut: Option<String> = None;
        for o in page.objects {
            let lower = o.key.to_ascii_lowercase();
            if limits
                .skip_suffixes
                .iter()
                .any(|s| lower.ends_with(&s.to_ascii_lowercase()))
            {
                objects.skipped(Skip::Excluded);
                continue;
            }
            let Some(size) = o.size else {
                objects.error(
                    &format!("s3://{}/{}", l.bucket, o.key),
                    "s3:ListBucket: the listing gives no Size for this object",
                );
                continue;
            };
            if let Some(why) = objects.skip_of(&o.key, Some(size)) {
                objects.skipped(why);
                continue;
            }
            if !take(&budget.objects, 1) {
                cut = Some(format!(
                    "not scanned in full: the run's limit of {} objects was reached",
                    limits.max_objects
                ));
                break;
            }
            if !take(&budget.bytes, size) {
                cut = Some(format!(
                    "not scanned in full: the run's limit of {} bytes was reached",
                    limits.max_bytes
                ));
                break;
            }
            todo.push(o.key);
        }
        futures_util::stream::iter(todo)
            .map(|key| object(reader, &l.bucket, key, objects))
            .buffer_unordered(limits.concurrency.max(1))
            .collect::<Vec<()>>()
            .await;
        if let Some(why) = cut {
            objects.error(&url, &why);
            return;
        }
        match page.next {
            Some(t) => token = Some(t),
            None => return,
        }
    }
}

/// Take `n` from a budget; false (and nothing taken) when it has less.
fn take(budget: &AtomicU64, n: u64) -> bool {
    budget
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
            left.checked_sub(n)
        })
        .is_ok()
}

/// Read one object in pieces into the scanner; memory stays bounded by the
/// stream scanner's window whatever the object's size.
async fn object(reader: &S3Reader, bucket: &str, key: String, objects: &ObjectScan<'_, '_>) {
    let loc = format!("s3://{bucket}/{key}");
    let mut body = match reader.open(bucket, &key).await {
        Ok(b) => b,
        Err(e) => return objects.error(&loc, &e.describe()),
    };
    let max = objects.max_size();
    if body.declared_len().is_some_and(|n| n > max) {
        return objects.skipped(Skip::Size);
    }
    let mut stream = objects.stream();
    loop {
        match body.next_piece().await {
            Ok(Some(piece)) => {
                if stream.bytes() + piece.len() as u64 > max {
                    return objects.skipped(Skip::Size);
                }
                if !stream.push(&piece) {
                    return objects.skipped(Skip::Binary);
                }
            }
            Ok(None) => break,
            Err(e) => return objects.error(&loc, &e.describe()),
        }
    }
    objects.record(&key, stream);
}
