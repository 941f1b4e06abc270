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

/// Seed one account's networks with boto3: a VPC with an active flow log to
/// S3, an AWS Network Firewall and a security group open to the world on SSH;
/// a security group open only on HTTPS; moto's default VPC has neither flow
/// log nor firewall.
const SEED_NETWORK: &str = r#"
import sys, boto3
url, a = sys.argv[1], sys.argv[2]
base = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="AKIAE2EBASE000000000", aws_secret_access_key="x")
c = boto3.client("sts", **base).assume_role(RoleArn=f"arn:aws:iam::{a}:role/evident", RoleSessionName="seed")["Credentials"]
s = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
ec2 = boto3.client("ec2", **s)
vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
boto3.client("s3", config=boto3.session.Config(s3={"addressing_style": "path"}), **s).create_bucket(Bucket=f"flow-{a}")
ec2.create_flow_logs(ResourceIds=[vpc], ResourceType="VPC", TrafficType="ALL", LogDestinationType="s3", LogDestination=f"arn:aws:s3:::flow-{a}")
def sg(name, port):
    g = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=g, IpPermissions=[{"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    return g
ssh, web = sg("ssh-open", 22), sg("web", 443)
boto3.client("network-firewall", **s).create_firewall(FirewallName="edge", FirewallPolicyArn=f"arn:aws:network-firewall:us-east-1:{a}:firewall-policy/egress", VpcId=vpc, SubnetMappings=[{"SubnetId": "subnet-00000001"}])
default = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v["IsDefault"]][0]
print(vpc, default, ssh, web)
"#;

#[test]
fn collect_records_network_and_web_filtering_verdicts_on_an_emulated_account() {
    let url = moto_url();
    let a = "210000004501";
    let seeded = Command::new("python3")
        .args(["-c", SEED_NETWORK, url, a])
        .output()
        .expect("python3");
    assert!(
        seeded.status.success(),
        "seeding failed: {}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    let ids = String::from_utf8_lossy(&seeded.stdout).into_owned();
    let ids: Vec<&str> = ids.split_whitespace().collect();
    let [vpc, default_vpc, ssh, web] = ids[..] else {
        panic!("seed printed {ids:?}")
    };

    let sb = Sandbox::new();
    let cfg = sb.write(
        "config.toml",
        &format!(
            "[[collectors.aws]]\nname = \"aws-net\"\nendpoint_url = \"{url}\"\nmax_attempts = 1\nretries = 0\n\n\
             [collectors.aws.network]\nadmin_ports = [22, 3389]\n\n\
             [[collectors.aws.accounts]]\nrole_arn = \"arn:aws:iam::{a}:role/EvidentReadOnly\"\n"
        ),
    );
    let data = sb.data();
    let o = run(evident()
        .arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(&data)
        .args(["collect", "--format", "json"])
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
    let find = |check: &str, resource: &str| -> (String, String) {
        let hits: Vec<&serde_json::Value> = findings
            .iter()
            .filter(|f| f["check_id"] == check && f["resource_id"] == resource)
            .collect();
        assert_eq!(hits.len(), 1, "{check} {resource}: {findings:#?}");
        assert_eq!(hits[0]["target"]["id"], a);
        (
            hits[0]["status"].as_str().expect("status").to_string(),
            hits[0]["reason"].as_str().expect("reason").to_string(),
        )
    };
    let vpc_arn = |id: &str| format!("arn:aws:ec2:us-east-1:{a}:vpc/{id}");
    let sg_arn = |id: &str| format!("arn:aws:ec2:us-east-1:{a}:security-group/{id}");

    let (status, reason) = find(
        "aws_ec2_security_groups_admin_ports_restricted",
        &sg_arn(ssh),
    );
    assert_eq!(status, "fail");
    assert!(
        reason.contains("22 (SSH)") && reason.contains("0.0.0.0/0"),
        "{reason}"
    );
    assert_eq!(
        find(
            "aws_ec2_security_groups_admin_ports_restricted",
            &sg_arn(web)
        )
        .0,
        "pass"
    );
    assert_eq!(find("aws_vpc_flow_logs_enabled", &vpc_arn(vpc)).0, "pass");
    assert_eq!(
        find("aws_vpc_flow_logs_enabled", &vpc_arn(default_vpc)).0,
        "fail"
    );
    let (status, reason) = find("aws_vpc_network_firewall_present", &vpc_arn(vpc));
    assert_eq!(status, "pass");
    assert!(
        reason.contains("edge") && reason.contains("policy egress"),
        "{reason}"
    );
    assert_eq!(
        find("aws_vpc_network_firewall_present", &vpc_arn(default_vpc)).0,
        "fail"
    );
    // moto does not serve Route 53 Resolver DNS Firewall: fail closed.
    let (status, reason) = find("aws_vpc_dns_firewall_blocking", &vpc_arn(vpc));
    assert_eq!(status, "error");
    assert!(
        reason.contains("route53resolver:ListFirewallRuleGroupAssociations"),
        "{reason}"
    );
    for f in findings {
        assert!(!f.to_string().contains(SECRET));
    }
    assert!(!stderr(&o).contains(SECRET));
}

#[test]
fn invalid_aws_settings_are_all_reported() {
    let sb = Sandbox::new();
    let cfg = sb.write(
        "config.toml",
        "[[collectors.aws]]\nregions = []\nconcurrency = 0\nendpoint_url = \"127.0.0.1:5000\"\n\n\
         [collectors.aws.network]\nadmin_ports = []\n\n\
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
        "network.admin_ports must name at least one port",
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
}

/// Seed with boto3: account C with a DB instance kept 7 days and Multi-AZ, one
/// kept 1 day in a single zone, and an AWS Config recorder of all resource
/// types that is recording with a delivery channel; account D none of these,
/// and Macie disabled.
const SEED_DATA: &str = r#"
import sys, boto3
url, c, d = sys.argv[1], sys.argv[2], sys.argv[3]
base = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="AKIAE2EBASE000000000", aws_secret_access_key="x")
def session(acct):
    k = boto3.client("sts", **base).assume_role(RoleArn=f"arn:aws:iam::{acct}:role/evident", RoleSessionName="seed")["Credentials"]
    return dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id=k["AccessKeyId"], aws_secret_access_key=k["SecretAccessKey"], aws_session_token=k["SessionToken"])
s = session(c)
rds = boto3.client("rds", **s)
for name, days, multi in [("orders", 7, True), ("scratch", 1, False)]:
    rds.create_db_instance(DBInstanceIdentifier=name, DBInstanceClass="db.t3.micro", Engine="postgres", AllocatedStorage=20, MasterUsername="evident", MasterUserPassword="not-a-real-secret-1", BackupRetentionPeriod=days, MultiAZ=multi)
cfg = boto3.client("config", **s)
cfg.put_configuration_recorder(ConfigurationRecorder={"name": "default", "roleARN": f"arn:aws:iam::{c}:role/config", "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True}})
cfg.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": "config-history"})
cfg.start_configuration_recorder(ConfigurationRecorderName="default")
boto3.client("macie2", **session(d)).disable_macie()
"#;

#[test]
fn collect_records_rds_config_backup_and_macie_verdicts_on_moto() {
    let url = moto_url();
    let (c, d) = ("210000000011", "210000000012");
    let seeded = Command::new("python3")
        .args(["-c", SEED_DATA, url, c, d])
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
            "[[collectors.aws]]\nname = \"aws-data\"\nendpoint_url = \"{url}\"\nmax_attempts = 1\nretries = 0\n\n\
             [collectors.aws.backup]\nrds_min_retention_days = 7\nrpo_hours = 24\n\n\
             [[collectors.aws.accounts]]\nrole_arn = \"arn:aws:iam::{c}:role/EvidentReadOnly\"\n\n\
             [[collectors.aws.accounts]]\nrole_arn = \"arn:aws:iam::{d}:role/EvidentReadOnly\"\n"
        ),
    );
    let o = run(evident()
        .arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(sb.data())
        .args(["collect", "--format", "json"])
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
    let find = |acct: &str, check: &str, resource: &str| -> String {
        let hits: Vec<&serde_json::Value> = findings
            .iter()
            .filter(|f| {
                f["target"]["id"] == acct && f["check_id"] == check && f["resource_id"] == resource
            })
            .collect();
        assert_eq!(hits.len(), 1, "{acct} {check} {resource}: {findings:#?}");
        hits[0]["status"].as_str().expect("status").to_string()
    };
    let db = |id: &str| format!("arn:aws:rds:us-east-1:{c}:db:{id}");
    assert_eq!(
        find(c, "aws_rds_backup_retention_sufficient", &db("orders")),
        "pass"
    );
    assert_eq!(
        find(c, "aws_rds_backup_retention_sufficient", &db("scratch")),
        "fail"
    );
    assert_eq!(find(c, "aws_rds_multi_az_enabled", &db("orders")), "pass");
    assert_eq!(find(c, "aws_rds_multi_az_enabled", &db("scratch")), "fail");
    assert_eq!(
        find(
            c,
            "aws_config_recorder_recording",
            &format!("arn:aws:config:us-east-1:{c}:configuration-recorder/default")
        ),
        "pass"
    );
    let root = |acct: &str| format!("arn:aws:iam::{acct}:root");
    for acct in [c, d] {
        // No AWS Backup plan in either account.
        assert_eq!(
            find(acct, "aws_backup_plans_select_resources", &root(acct)),
            "fail"
        );
    }
    assert_eq!(find(d, "aws_config_recorder_recording", &root(d)), "fail");
    assert_eq!(
        find(d, "aws_rds_backup_retention_sufficient", &root(d)),
        "not_applicable"
    );
    assert_eq!(find(d, "aws_macie_enabled", &root(d)), "fail");
    // Checks whose calls moto does not serve faithfully never pass.
    for check in [
        "aws_backup_recovery_points_within_rpo",
        "aws_backup_restore_tests_recent",
        "aws_macie_automated_discovery_enabled",
    ] {
        for acct in [c, d] {
            assert!(
                findings
                    .iter()
                    .any(|f| f["check_id"] == check && f["target"]["id"] == acct),
                "{check} has no finding for {acct}"
            );
            assert!(
                !findings
                    .iter()
                    .any(|f| f["check_id"] == check && f["status"] == "pass"),
                "{check} passed on moto"
            );
        }
    }
    assert!(!stdout(&o).contains(SECRET) && !stderr(&o).contains(SECRET));
}

#[test]
fn invalid_backup_thresholds_are_all_reported() {
    let sb = Sandbox::new();
    let cfg = sb.write(
        "config.toml",
        "[[collectors.aws]]\n\n[[collectors.aws.accounts]]\nprofile = \"audit\"\n\n\
         [collectors.aws.backup]\nrpo_hours = 0\nrestore_test_max_age_days = 0\nrds_min_retention_days = 40\n\n\
         [collectors.aws.backup.rpo_hours_by]\n\"arn:aws:rds:us-east-1:111122223333:db:orders\" = 0\n",
    );
    let o = sb.evident_with(&cfg, &["validate"]);
    assert_code(&o, 2);
    let err = stderr(&o);
    for needle in [
        "backup.rpo_hours must be at least 1",
        "backup.restore_test_max_age_days must be at least 1",
        "backup.rds_min_retention_days 40 must be between 1 and 35",
        "db:orders",
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
    // An unknown threshold is refused, not ignored.
    let cfg = sb.write(
        "config2.toml",
        "[[collectors.aws]]\n\n[[collectors.aws.accounts]]\nprofile = \"audit\"\n\n[collectors.aws.backup]\nrpo_minutes = 5\n",
    );
    let o = sb.evident_with(&cfg, &["validate"]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("rpo_minutes"), "{}", stderr(&o));
}
