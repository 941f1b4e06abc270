//! The `dlp` collector and `evident scan` on S3 objects, against the real
//! moto server of this test binary (see `aws.rs`), seeded with boto3 with
//! the labelled corpus in a fresh account reached by assuming a role.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use crate::aws::{moto_url, SECRET};
use crate::dlp::{assert_no_values, expected, sarif_validator, setup, Setup};
use crate::support::*;

/// Upload every file under a directory as `corpus/<relative path>`.
const SEED: &str = r#"
import sys, os, boto3
url, acct, bucket, root = sys.argv[1:5]
base = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="AKIAE2EBASE000000000", aws_secret_access_key="x")
c = boto3.client("sts", **base).assume_role(RoleArn=f"arn:aws:iam::{acct}:role/seed", RoleSessionName="seed")["Credentials"]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"], config=boto3.session.Config(s3={"addressing_style": "path"}))
s3.create_bucket(Bucket=bucket)
for d, _, files in os.walk(root):
    for f in files:
        p = os.path.join(d, f)
        s3.upload_file(p, bucket, "corpus/" + os.path.relpath(p, root))
"#;

fn seed(s: &Setup, acct: &str, bucket: &str) {
    let out = Command::new("python3")
        .args(["-c", SEED, moto_url(), acct, bucket])
        .arg(s.sb.dir.path().join("corpus"))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "seeding failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `evident` with base credentials for moto and nothing of this machine's AWS setup.
fn evident_aws() -> Command {
    let mut c = evident();
    c.env("AWS_ACCESS_KEY_ID", "AKIAE2ETESTBASE00000")
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
    c
}

#[test]
fn s3_location_records_the_a812_finding_and_scan_prints_valid_sarif_for_objects() {
    let s = setup();
    let acct = "230000000001";
    let bucket = format!("dlp-{acct}");
    seed(&s, acct, &bucket);
    let url = moto_url();
    let role = format!("arn:aws:iam::{acct}:role/EvidentReadOnly");
    let cfg = |name: &str, b: &str| {
        s.sb.write(
            name,
            &format!(
                "[[collectors.dlp]]\nfingerprint_key_file = \"{}\"\nenable_rules = [\"us-ssn\"]\n\n\
                 [[collectors.dlp.s3]]\nrole_arn = \"{role}\"\nendpoint_url = \"{url}\"\nmax_attempts = 1\n\
                 buckets = [{{ bucket = \"{b}\", prefix = \"corpus/\" }}]\n",
                s.key.display()
            ),
        )
    };
    let data = s.sb.data();
    let collect = |cfg: &std::path::Path| {
        run(evident_aws()
            .arg("--config")
            .arg(cfg)
            .arg("--data-dir")
            .arg(&data)
            .args(["-vv", "collect", "--format", "json"]))
    };

    // `evident collect`: fail with the counts per rule, on the s3:// location.
    let o = collect(&cfg("s3.toml", &bucket));
    assert_code(&o, 0);
    for text in [stdout(&o), stderr(&o)] {
        assert_no_values(&s.corpus, &text);
        assert!(!text.contains(SECRET));
    }
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let f: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["check_id"] == "dlp_sensitive_data_not_exposed")
        .collect();
    assert_eq!(f.len(), 1, "{v:#}");
    assert_eq!(f[0]["resource_id"], format!("s3://{bucket}/corpus/"));
    assert_eq!(f[0]["status"], "fail", "{v:#}");
    assert_eq!(f[0]["reason_code"], "dlp_new_findings");
    assert!(f[0]["controls"]
        .as_array()
        .is_some_and(|c| c.iter().any(|x| x == "A.8.12")));
    let mut per_rule: BTreeMap<&str, u64> = BTreeMap::new();
    for p in &s.corpus.planted {
        *per_rule.entry(p.rule_id).or_default() += 1;
    }
    let counts = per_rule
        .iter()
        .map(|(r, n)| format!("{r} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let reason = f[0]["reason"].as_str().expect("reason");
    assert!(
        reason.contains(&format!(
            "objects in s3://{bucket}/corpus/: {} new finding(s): {counts}",
            s.corpus.planted.len()
        )),
        "{reason}"
    );
    // No found value and no credential in the ledger; it verifies.
    let db = std::fs::read(data.join("evidence.db")).expect("ledger");
    let db = String::from_utf8_lossy(&db);
    assert_no_values(&s.corpus, &db);
    assert!(!db.contains(SECRET));
    assert_code(
        &run(evident_aws()
            .arg("--config")
            .arg(cfg("s3.toml", &bucket))
            .arg("--data-dir")
            .arg(&data)
            .arg("verify")),
        0,
    );

    // A bucket that does not exist is `error`, not `pass`.
    let o = collect(&cfg("absent.toml", &format!("absent-{acct}")));
    assert_code(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let f = &v["findings"][0];
    assert_eq!(f["status"], "error", "{v:#}");
    assert_eq!(f["reason_code"], "dlp_scan_incomplete");
    assert!(
        f["reason"]
            .as_str()
            .is_some_and(|r| r.contains("NoSuchBucket")),
        "{f:#}"
    );

    // `evident scan s3://…`: SARIF 2.1.0 that validates, every planted item
    // at its object's URI and line, nothing else.
    let key = s.key.to_str().expect("utf-8");
    let location = format!("s3://{bucket}/corpus/");
    let scan = |format: &str| {
        run(evident_aws()
            .arg("--config")
            .arg(example_config())
            .arg("--data-dir")
            .arg(&data)
            .args(["--format", format, "scan", "--enable-rule", "us-ssn"])
            .args(["--fingerprint-key", key, "--aws-endpoint-url", url])
            .args(["--aws-role-arn", &role, &location]))
    };
    let o = scan("sarif");
    assert_code(&o, 3);
    assert_no_values(&s.corpus, &stdout(&o));
    assert_no_values(&s.corpus, &stderr(&o));
    let sarif: serde_json::Value = serde_json::from_slice(&o.stdout).expect("sarif json");
    let validator = sarif_validator();
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "SARIF invalid: {errors:#?}");
    let got: BTreeSet<(String, String, u64)> = sarif["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let loc = &r["locations"][0]["physicalLocation"];
            let uri = loc["artifactLocation"]["uri"].as_str().expect("uri");
            (
                r["ruleId"].as_str().expect("ruleId").to_string(),
                uri.strip_prefix(&location)
                    .unwrap_or_else(|| panic!("{uri} is not under {location}"))
                    .to_string(),
                loc["region"]["startLine"].as_u64().expect("line"),
            )
        })
        .collect();
    assert_eq!(got, expected(&s.corpus));
    assert_eq!(
        sarif["runs"][0]["invocations"][0]["executionSuccessful"],
        true
    );

    // The same secrets have the same fingerprints in objects and in files.
    let fingerprints = |o: &std::process::Output, strip: &str| -> BTreeMap<(String, u64), String> {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        v["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| {
                let path = f["path"].as_str().expect("path");
                (
                    (
                        path.strip_prefix(strip).unwrap_or(path).to_string(),
                        f["line"].as_u64().expect("line"),
                    ),
                    f["fingerprint"].as_str().expect("fp").to_string(),
                )
            })
            .collect()
    };
    let o = scan("json");
    assert_code(&o, 3);
    let in_s3 = fingerprints(&o, "corpus/");
    let corpus = s.sb.dir.path().join("corpus");
    let o = s.sb.evident(&[
        "--format",
        "json",
        "scan",
        "--enable-rule",
        "us-ssn",
        "--fingerprint-key",
        key,
        corpus.to_str().expect("utf-8"),
    ]);
    assert_code(&o, 3);
    let in_files = fingerprints(&o, "");
    assert_eq!(in_s3.len(), s.corpus.planted.len());
    assert_eq!(in_s3, in_files);
}
