//! DLP scanning of S3 objects: against moto (a real S3 emulator) with the
//! labelled corpus of `evident-dlp` seeded as objects, and faults through
//! the local stub (S3 REST-XML error shapes as AWS documents them).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use evident_dlp::testcorpus::{self, Corpus};
use evident_dlp::{Allowlist, Baseline, Fingerprinter, RuleSelection, Scan, ScanOptions, Scanner};

use super::moto::{fresh_account, moto_url, s3, seed_config, settings, BASE_SECRET};
use super::stub::{self, Reply};
use crate::s3_dlp::{scan_locations, S3Location, S3ScanLimits};
use crate::{AccountSpec, AwsSettings};

fn scanner() -> Scanner {
    let rules = RuleSelection {
        enable: vec!["us-ssn".into()],
        ..Default::default()
    }
    .load()
    .unwrap();
    Scanner::new(rules, Fingerprinter::new(&[7u8; 32]).unwrap()).unwrap()
}

fn session(sc: &Scanner) -> Scan<'_> {
    Scan {
        scanner: sc,
        options: ScanOptions {
            max_file_size: 1 << 20,
            ..Default::default()
        },
        allowlist: Allowlist::default(),
        baseline: Baseline::default(),
    }
}

fn account(settings: &AwsSettings) -> AccountSpec {
    settings.accounts[0].clone()
}

fn loc(bucket: &str, prefix: &str) -> S3Location {
    S3Location {
        bucket: bucket.into(),
        prefix: prefix.into(),
    }
}

/// A bucket in a fresh account holding the corpus under `corpus/`, plus a
/// binary object, an archive, an excluded suffix and an oversized object,
/// each holding a planted token.
async fn seed(account: &str, corpus: &Corpus, bucket: &str) {
    let c = s3(&seed_config(account).await);
    c.create_bucket().bucket(bucket).send().await.unwrap();
    let token = "ghp_x7Kq2LmP9vR4sT1wY6zB3nC8dF5gH0jJ2aE4";
    let mut objects: Vec<(String, Vec<u8>)> = corpus
        .files
        .iter()
        .map(|(p, content)| (format!("corpus/{p}"), content.clone().into_bytes()))
        .collect();
    objects.push((
        "corpus/bin/blob.dat".into(),
        [b"\0\x01\x02".as_slice(), token.as_bytes()].concat(),
    ));
    objects.push(("corpus/dist/app.zip".into(), token.as_bytes().to_vec()));
    objects.push((
        "corpus/data/table.PARQUET".into(),
        token.as_bytes().to_vec(),
    ));
    let mut big = format!("{token}\n").into_bytes();
    big.resize((1 << 20) + 1, b'a');
    objects.push(("corpus/big.log".into(), big));
    // Outside the prefix: not scanned.
    objects.push(("other/t.txt".into(), token.as_bytes().to_vec()));
    for (key, body) in objects {
        c.put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_objects_are_scanned_like_files_with_the_same_fingerprints() {
    let acct = fresh_account();
    let bucket = format!("dlp-{acct}");
    let corpus = testcorpus::generate(2027);
    seed(&acct, &corpus, &bucket).await;

    let sc = scanner();
    let scan = session(&sc);
    let settings = settings(&[&acct]);
    let limits = S3ScanLimits {
        concurrency: 3,
        skip_suffixes: vec![".parquet".into()],
        ..Default::default()
    };
    let reports = scan_locations(
        &settings,
        &account(&settings),
        &[loc(&bucket, "corpus/")],
        &limits,
        &scan,
    )
    .await;
    assert_eq!(reports.len(), 1);
    let (url, r) = &reports[0];
    assert_eq!(url, &format!("s3://{bucket}/corpus/"));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    // Every planted item with its object key and line; no look-alike.
    let want: BTreeSet<(String, String, u64)> = corpus
        .planted
        .iter()
        .map(|p| (p.rule_id.to_string(), format!("corpus/{}", p.path), p.line))
        .collect();
    let got: BTreeSet<(String, String, u64)> = r
        .findings
        .iter()
        .map(|f| (f.rule_id.clone(), f.path.clone(), f.line))
        .collect();
    assert_eq!(got, want);
    assert_eq!(r.findings.len(), want.len());
    assert!(r
        .findings
        .iter()
        .all(|f| f.root == format!("s3://{bucket}")));
    assert_eq!(r.stats.scanned, corpus.files.len() as u64);
    assert_eq!(
        (
            r.stats.skipped_binary,
            r.stats.skipped_archive,
            r.stats.skipped_excluded,
            r.stats.skipped_size
        ),
        (1, 1, 1, 1)
    );
    let bytes: u64 = corpus.files.iter().map(|(_, c)| c.len() as u64).sum();
    assert_eq!(r.stats.bytes, bytes);
    // No found value in the report.
    let text = serde_json::to_string(r).unwrap();
    for p in &corpus.planted {
        assert!(!text.contains(&p.value), "{} leaked", p.rule_id);
    }
    for d in &corpus.decoys {
        assert!(!text.contains(d.as_str()), "look-alike {d} reported");
    }
    assert!(!text.contains(BASE_SECRET));

    // The same secrets in files have the same fingerprints.
    let dir = tempfile_dir();
    corpus.write(&dir).unwrap();
    let files = scan.run(std::slice::from_ref(&dir), &[], None);
    let by_place = |fs: &[evident_dlp::Finding], strip: &str| -> BTreeMap<(String, u64), String> {
        fs.iter()
            .map(|f| {
                (
                    (f.path.trim_start_matches(strip).to_string(), f.line),
                    f.fingerprint.clone(),
                )
            })
            .collect()
    };
    let from_files = by_place(&files.findings, "");
    assert_eq!(from_files.len(), want.len());
    assert_eq!(by_place(&r.findings, "corpus/"), from_files);
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "evident-s3dlp-{}-{}",
        std::process::id(),
        fresh_account()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_limits_and_a_missing_bucket_are_errors_not_passes() {
    let acct = fresh_account();
    let bucket = format!("lim-{acct}");
    let c = s3(&seed_config(&acct).await);
    c.create_bucket().bucket(&bucket).send().await.unwrap();
    for i in 0..5 {
        c.put_object()
            .bucket(&bucket)
            .key(format!("k{i}.txt"))
            .body(b"nothing to see here\n".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    let sc = scanner();
    let scan = session(&sc);
    let settings = settings(&[&acct]);
    let acc = account(&settings);
    let run = |limits: S3ScanLimits, locs: Vec<S3Location>| {
        let (settings, acc, scan) = (&settings, &acc, &scan);
        async move { scan_locations(settings, acc, &locs, &limits, scan).await }
    };
    // Within the limits: complete, nothing found.
    let r = run(S3ScanLimits::default(), vec![loc(&bucket, "")]).await;
    assert!(r[0].1.errors.is_empty(), "{:?}", r[0].1.errors);
    assert_eq!(r[0].1.stats.scanned, 5);
    // Two objects per run: the rest is not scanned, and that is an error.
    let r = run(
        S3ScanLimits {
            max_objects: 2,
            ..Default::default()
        },
        vec![loc(&bucket, ""), loc(&bucket, "k4")],
    )
    .await;
    assert_eq!(r[0].1.stats.scanned, 2);
    assert_eq!(r[0].1.errors.len(), 1);
    assert!(
        r[0].1.errors[0].message.starts_with("not scanned in full"),
        "{:?}",
        r[0].1.errors
    );
    // The limit is per run: the second location gets nothing either.
    assert_eq!(r[1].1.stats.scanned, 0);
    assert_eq!(r[1].1.errors.len(), 1);
    // A byte budget of 50: two objects of 20 bytes, then the cut.
    let r = run(
        S3ScanLimits {
            max_bytes: 50,
            ..Default::default()
        },
        vec![loc(&bucket, "")],
    )
    .await;
    assert_eq!(r[0].1.stats.scanned, 2);
    assert!(
        r[0].1.errors[0].message.contains("50 bytes"),
        "{:?}",
        r[0].1.errors
    );
    // A bucket that does not exist.
    let r = run(
        S3ScanLimits::default(),
        vec![loc(&format!("absent-{acct}"), "")],
    )
    .await;
    assert_eq!(r[0].1.errors.len(), 1);
    let e = &r[0].1.errors[0];
    assert_eq!(e.path, format!("s3://absent-{acct}/"));
    assert!(
        e.message.contains("s3:ListBucket") && e.message.contains("NoSuchBucket"),
        "{e:?}"
    );
}

const ERR_DENIED: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>4442587FB7D0A2F9</RequestId><HostId>EXAMPLEhostid</HostId></Error>";
const ERR_SLOWDOWN: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>4442587FB7D0A2F9</RequestId><HostId>EXAMPLEhostid</HostId></Error>";
const ERR_INTERNAL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>4442587FB7D0A2F9</RequestId><HostId>EXAMPLEhostid</HostId></Error>";
const LOCATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>";

/// A ListObjectsV2 page (`ListBucketResult`) of `(key, size)`.
fn listing(bucket: &str, objects: &[(&str, usize)], next: Option<&str>) -> Reply {
    let contents: String = objects
        .iter()
        .map(|(k, n)| format!("<Contents><Key>{k}</Key><LastModified>2026-11-02T10:00:00.000Z</LastModified><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>{n}</Size><StorageClass>STANDARD</StorageClass></Contents>"))
        .collect();
    let trunc = match next {
        Some(t) => format!(
            "<IsTruncated>true</IsTruncated><NextContinuationToken>{t}</NextContinuationToken>"
        ),
        None => "<IsTruncated>false</IsTruncated>".into(),
    };
    Reply::Http(
        200,
        "application/xml",
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>{bucket}</Name><Prefix></Prefix><KeyCount>{}</KeyCount><MaxKeys>1000</MaxKeys>{trunc}{contents}</ListBucketResult>", objects.len()),
    )
}

fn stub_settings(url: &str) -> AwsSettings {
    // Base credentials come from the environment the moto harness sets.
    let _ = moto_url();
    AwsSettings {
        accounts: vec![AccountSpec {
            profile: None,
            role_arn: None,
            external_id_env: None,
            external_id_file: None,
        }],
        organization: None,
        regions: vec!["us-east-1".into()],
        endpoint_url: Some(url.to_string()),
        concurrency: 1,
        max_attempts: 1,
        call_timeout_seconds: 1,
        iam: Default::default(),
        backup: Default::default(),
        config_recorder: Default::default(),
        network: Default::default(),
    }
}

const TOKEN: &str = "ghp_x7Kq2LmP9vR4sT1wY6zB3nC8dF5gH0jJ2aE4";

/// A two-page listing is followed; every faulty object and bucket is an
/// error with its reason while the readable objects are still scanned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_s3_fault_is_an_error_with_its_reason_and_the_rest_is_scanned() {
    let body = format!("x\n{TOKEN}\n");
    let n = body.len();
    let stub = stub::start(move |req| {
        let op = req.operation();
        let (path, query) = op.split_once('?').unwrap_or((op.as_str(), ""));
        // Path style: bucket-level calls go to `/bucket/`.
        let path = path.trim_end_matches('/');
        Some(match (path, query) {
            (_, "location") => Reply::Http(200, "application/xml", LOCATION.into()),
            ("GET /denied", q) if q.contains("list-type=2") => {
                Reply::Http(403, "application/xml", ERR_DENIED.into())
            }
            ("GET /slow", q) if q.contains("list-type=2") => {
                Reply::Http(503, "application/xml", ERR_SLOWDOWN.into())
            }
            ("GET /broken", q) if q.contains("list-type=2") => {
                Reply::Http(500, "application/xml", ERR_INTERNAL.into())
            }
            ("GET /garbled", q) if q.contains("list-type=2") => Reply::Http(
                200,
                "application/xml",
                "<ListBucketResult><Contents><Key>a".into(),
            ),
            ("GET /mixed", q)
                if q.contains("list-type=2") && q.contains("continuation-token=p2") =>
            {
                listing("mixed", &[("p2/found.txt", n), ("p2/short.txt", 100)], None)
            }
            ("GET /mixed", q) if q.contains("list-type=2") => listing(
                "mixed",
                &[
                    ("ok.txt", n),
                    ("denied.txt", 10),
                    ("throttled.txt", 10),
                    ("error.txt", 10),
                    ("silent.txt", 10),
                    ("stalled.txt", 100),
                ],
                Some("p2"),
            ),
            ("GET /mixed/ok.txt" | "GET /mixed/p2/found.txt", _) => {
                Reply::Http(200, "text/plain", body.clone())
            }
            ("GET /mixed/denied.txt", _) => Reply::Http(403, "application/xml", ERR_DENIED.into()),
            ("GET /mixed/throttled.txt", _) => {
                Reply::Http(503, "application/xml", ERR_SLOWDOWN.into())
            }
            ("GET /mixed/error.txt", _) => Reply::Http(500, "application/xml", ERR_INTERNAL.into()),
            ("GET /mixed/silent.txt", _) => Reply::Silence(Duration::from_secs(4)),
            ("GET /mixed/stalled.txt", _) => Reply::Partial {
                body: "the first bytes".into(),
                declared: 100,
                wait: Duration::from_secs(4),
            },
            ("GET /mixed/p2/short.txt", _) => Reply::Partial {
                body: "only this much".into(),
                declared: 100,
                wait: Duration::ZERO,
            },
            _ => return None,
        })
    });
    let sc = scanner();
    let scan = session(&sc);
    let settings = stub_settings(&stub.url);
    let locs: Vec<S3Location> = ["denied", "slow", "broken", "garbled", "mixed"]
        .iter()
        .map(|b| loc(b, ""))
        .collect();
    let r = scan_locations(
        &settings,
        &account(&settings),
        &locs,
        &S3ScanLimits::default(),
        &scan,
    )
    .await;
    let seen = stub.seen.lock().unwrap().clone();
    let only = |i: usize| -> String {
        assert_eq!(
            r[i].1.errors.len(),
            1,
            "{}: {:?} {seen:?}",
            r[i].0,
            r[i].1.errors
        );
        assert_eq!(r[i].1.errors[0].path, r[i].0);
        r[i].1.errors[0].message.clone()
    };
    assert!(only(0).contains("AccessDenied"), "{}", only(0));
    assert!(only(1).contains("SlowDown"), "{}", only(1));
    assert!(only(2).contains("InternalError"), "{}", only(2));
    // A cut-off listing: unreadable, or read as an object without a Size;
    // either way an error of the listing, and nothing is read.
    let g = &r[3].1;
    assert_eq!(g.errors.len(), 1, "{:?}", g.errors);
    assert!(g.errors[0].path.starts_with("s3://garbled/"));
    assert!(
        g.errors[0].message.contains("s3:ListBucket"),
        "{:?}",
        g.errors
    );
    for (_, rep) in &r[..4] {
        assert!(rep.findings.is_empty() && rep.stats.scanned == 0);
    }
    // The mixed bucket: two pages; two objects scanned, each fault its own error.
    let m = &r[4].1;
    assert_eq!(m.stats.scanned, 2, "{m:?}");
    let found: Vec<&str> = m.findings.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(found, ["ok.txt", "p2/found.txt"]);
    assert_eq!(m.findings[0].line, 2);
    let errors: BTreeMap<&str, &str> = m
        .errors
        .iter()
        .map(|e| (e.path.as_str(), e.message.as_str()))
        .collect();
    let want = [
        ("s3://mixed/denied.txt", "AccessDenied"),
        ("s3://mixed/error.txt", "InternalError"),
        ("s3://mixed/p2/short.txt", "s3:GetObject"),
        ("s3://mixed/silent.txt", "s3:GetObject"),
        ("s3://mixed/stalled.txt", "s3:GetObject"),
        ("s3://mixed/throttled.txt", "SlowDown"),
    ];
    assert_eq!(errors.len(), want.len(), "{errors:#?}");
    for (path, needle) in want {
        let msg = errors
            .get(path)
            .unwrap_or_else(|| panic!("{path}: {errors:#?}"));
        assert!(msg.contains(needle), "{path}: {msg}");
    }
    assert!(
        errors["s3://mixed/stalled.txt"].contains("no data"),
        "{errors:#?}"
    );
    let text = serde_json::to_string(&r).unwrap();
    assert!(!text.contains(TOKEN) && !text.contains(BASE_SECRET));
}
