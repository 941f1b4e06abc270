//! `evident collect` on AWS accounts emulated by a real moto server (started
//! by this test binary on a free loopback port, stopped when it exits),
//! seeded with boto3 (the official AWS SDK for Python, installed with moto).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::*;

/// The base credentials' secret; it must appear in no output and no evidence.
pub const SECRET: &str = "e2eSECRETkeyMUSTnotLEAKanywhere0123456789";

/// The moto server of this test binary (started on first use).
pub fn moto_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "moto_server -H 127.0.0.1 -p {port} >/dev/null 2>&1 & pid=$!; read _; kill $pid"
            ))
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .stdin(Stdio::piped())
            .spawn()
            .expect("moto_server (pip install 'moto[s3]==5.2.5' flask flask-cors)");
        // Its stdin stays open until this test binary exits; then the shell kills moto.
        std::mem::forget(child.stdin.take());
        std::mem::forget(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                let _ = s.write_all(b"GET /moto-api/ HTTP/1.0\r\n\r\n");
                let mut buf = [0u8; 12];
                if s.read(&mut buf).map(|n| n > 0).unwrap_or(false) {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(200));
        }
        format!("http://127.0.0.1:{port}")
    })
}

/// Seed with boto3: account A as in the issue's acceptance (console user
/// without MFA, an administrator through a group without MFA, a public
/// bucket, a multi-region trail that is logging), account B one user.
const SEED: &str = r#"
import sys, boto3, json
url, a, b = sys.argv[1], sys.argv[2], sys.argv[3]
base = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="AKIAE2EBASE000000000", aws_secret_access_key="x")
def session(acct):
    c = boto3.client("sts", **base).assume_role(RoleArn=f"arn:aws:iam::{acct}:role/evident", RoleSessionName="seed")["Credentials"]
    return dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
s = session(a)
iam = boto3.client("iam", **s)
for u in ["nomfa", "groupadmin"]:
    iam.create_user(UserName=u)
    iam.create_login_profile(UserName=u, Password="Correct-Horse-9!")
iam.create_group(GroupName="admins")
iam.attach_group_policy(GroupName="admins", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
iam.add_user_to_group(GroupName="admins", UserName="groupadmin")
s3 = boto3.client("s3", config=boto3.session.Config(s3={"addressing_style": "path"}), **s)
for n in [f"trail-{a}", f"public-{a}"]:
    s3.create_bucket(Bucket=n)
s3.put_bucket_policy(Bucket=f"public-{a}", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::public-{a}/*"}]}))
ct = boto3.client("cloudtrail", **s)
ct.create_trail(Name="audit", S3BucketName=f"trail-{a}", IsMultiRegionTrail=True)
ct.start_logging(Name="audit")
iam_b = boto3.client("iam", **session(b))
iam_b.create_user(UserName="only-in-b")
"#;

#[test]
fn collect_on_two_emulated_accounts_records_correct_verdicts_without_leaking_credentials() {
    let url = moto_url();
    let (a, b) = ("210000000001", "210000000002");
    let seeded = Command::new("python3")
        .args(["-c", SEED, url, a, b])
        .output()
        .expect("python3");
    assert!(
        seeded.status.success(),
        "seeding failed: {}",
        String::from_utf8_lossy(&seeded.stderr)
    );

    let sb = Sandbox::new();
    let cfg = sb.write(
        "config.toml",
        &format!(
            "[[collectors.aws]]\nname = \"aws-test\"\nendpoint_url = \"{url}\"\nmax_attempts = 1\nretries = 0\n\n\
             [[collectors.aws.accounts]]\nrole_arn = \"arn:aws:iam::{a}:role/EvidentReadOnly\"\n\n\
             [[collectors.aws.accounts]]\nrole_arn = \"arn:aws:iam::{b}:role/EvidentReadOnly\"\n"
        ),
    );
    let data = sb.data();
    let o = run(evident()
        .arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(&data)
        .args(["-vv", "collect", "--format", "json"])
        .env("AWS_ACCESS_KEY_ID", "AKIAE2ETESTBASE00000")
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN"));
    assert_code(&o, 0);
    let out: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let findings = out["findings"].as_array().expect("findings");
    let find = |acct: &str, check: &str, resource_end: &str| -> String {
        let hits: Vec<&serde_json::Value> = findings
            .iter()
            .filter(|f| {
                f["target"]["id"] == acct
                    && f["check_id"] == check
                    && f["resource_id"]
                        .as_str()
                        .is_some_and(|r| r.ends_with(resource_end))
            })
            .collect();
        assert_eq!(hits.len(), 1, "{acct} {check} {resource_end}: {hits:#?}");
        hits[0]["status"].as_str().expect("status").to_string()
    };
    assert_eq!(
        find(a, "aws_iam_console_users_mfa_enabled", "user/nomfa"),
        "fail"
    );
    assert_eq!(
        find(a, "aws_iam_privileged_users_mfa_enabled", "user/groupadmin"),
        "fail"
    );
    assert_eq!(
        find(a, "aws_s3_buckets_not_public", &format!(":::public-{a}")),
        "fail"
    );
    assert_eq!(
        find(a, "aws_s3_buckets_not_public", &format!(":::trail-{a}")),
        "pass"
    );
    assert_eq!(
        find(a, "aws_cloudtrail_multi_region_logging", ":trail/audit"),
        "pass"
    );
    assert_eq!(
        find(a, "aws_s3_account_public_access_blocked", ":root"),
        "fail"
    );
    // B is kept apart: its own user, no trail, nothing of A.
    assert_eq!(
        find(b, "aws_iam_console_users_mfa_enabled", ":root"),
        "pass"
    );
    assert_eq!(
        find(b, "aws_cloudtrail_multi_region_logging", ":root"),
        "fail"
    );
    for f in findings.iter().filter(|f| f["target"]["id"] == b) {
        assert!(!f.to_string().contains(a), "{f:#}");
        assert_eq!(f["target"]["kind"], "account");
    }
    // Every AWS check produced findings for both accounts.
    let checks = run(evident().args(["checks"]));
    for line in stdout(&checks).lines().filter(|l| l.starts_with("aws_")) {
        let id = line.split_whitespace().next().expect("id");
        for acct in [a, b] {
            assert!(
                findings
                    .iter()
                    .any(|f| f["check_id"] == id && f["target"]["id"] == acct),
                "{id} has no finding for {acct}"
            );
        }
    }
    // No credential value in logs, output or the ledger.
    assert!(!stdout(&o).contains(SECRET));
    assert!(!stderr(&o).contains(SECRET));
    for entry in std::fs::read_dir(&data).expect("data dir") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            let bytes = std::fs::read(&path).expect("read");
            assert!(
                !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                "{} contains the secret key",
                path.display()
            );
        }
    }
    assert_code(&sb.evident_with(&cfg, &["verify"]), 0);
}

#[test]
fn invalid_aws_settings_are_all_reported() {
    let sb = Sandbox::new();
    let cfg = sb.write(
        "config.toml",
        "[[collectors.aws]]\nregions = []\nconcurrency = 0\nendpoint_url = \"127.0.0.1:5000\"\n\n\
         [[collectors.aws.accounts]]\nrole_arn = \"arn:aws:iam::1:user/x\"\nexternal_id_env = \"A\"\nexternal_id_file = \"/x\"\n",
    );
    let o = sb.evident_with(&cfg, &["validate"]);
    assert_code(&o, 2);
    let err = stderr(&o);
    for needle in [
        "regions must name at least one region",
        "concurrency must be at least 1",
        "endpoint_url",
        "is not an IAM role ARN",
        "not both",
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
}
