//! The collector against moto (`moto_server`, installed by `.ci/run`).
//! Each test assumes a role in an account id of its own, which moto keeps
//! apart, so tests share one server without resetting it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use evident_policies::aws::cloudtrail::CloudTrailObservation;
use evident_policies::aws::iam::{IamObservation, IamSettings};
use evident_policies::aws::s3::S3Observation;
use evident_policies::aws::Reading;
use evident_policies::{Observation, ReasonCode, Status};

use crate::{AccountSpec, AwsCollector, AwsSettings};

/// The secret of the base credentials; tests assert it never shows up.
pub const BASE_SECRET: &str = "evidentTESTsecretKEYvalue0123456789abcdef";

/// Start a moto server on a free loopback port with these extra environment
/// variables and wait until it answers. It runs under a shell that kills it
/// when our end of its stdin closes: drop the returned stdin (or let the test
/// binary exit) to stop it.
pub fn spawn_moto(env: &[(&str, &str)]) -> (String, std::process::ChildStdin) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "moto_server -H 127.0.0.1 -p {port} >/dev/null 2>&1 & pid=$!; read _; kill $pid"
        ))
        .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .spawn()
        .expect("moto_server (pip install 'moto[s3]==5.2.5' flask flask-cors)");
    let stdin = child.stdin.take().unwrap();
    // The shell is reaped by init once it exits; nothing waits for it here.
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
        assert!(
            Instant::now() < deadline,
            "moto_server did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    (format!("http://127.0.0.1:{port}"), stdin)
}

/// Start moto once per test binary, kept until the binary exits.
pub fn moto_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let (url, stdin) = spawn_moto(&[]);
        // Keep stdin open for the life of the process.
        std::mem::forget(stdin);
        // Base credentials for the default chain (moto accepts any); no
        // profile files, no instance metadata.
        std::env::set_var("AWS_ACCESS_KEY_ID", "AKIAEVIDENTTESTBASE0");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", BASE_SECRET);
        std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/evident-test-aws-config");
        std::env::set_var(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/evident-test-aws-credentials",
        );
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::remove_var("AWS_PROFILE");
        std::env::remove_var("AWS_SESSION_TOKEN");
        url
    })
}

/// A fresh 12-digit account id for one test.
pub fn fresh_account() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    format!(
        "{:012}",
        200_000_000_000 + u64::from(std::process::id()) * 1000 + n
    )
}

/// The role assumed in an account.
pub fn role_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/evident-test")
}

/// SDK config acting in `account` (assumed role) through moto.
pub async fn seed_config(account: &str) -> SdkConfig {
    let url = moto_url();
    let base = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .load()
        .await;
    let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn(account))
        .session_name("seed")
        .region(Region::new("us-east-1"))
        .configure(&base)
        .build()
        .await;
    base.into_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(provider),
        )
        .build()
}

/// Collector settings naming these accounts through moto.
pub fn settings(accounts: &[&str]) -> AwsSettings {
    AwsSettings {
        accounts: accounts
            .iter()
            .map(|a| AccountSpec {
                profile: None,
                role_arn: Some(role_arn(a)),
                external_id_env: None,
                external_id_file: None,
            })
            .collect(),
        organization: None,
        regions: vec!["us-east-1".into()],
        endpoint_url: Some(moto_url().to_string()),
        concurrency: 2,
        max_attempts: 1,
        call_timeout_seconds: 20,
        iam: IamSettings::default(),
        backup: Default::default(),
        config_recorder: Default::default(),
        network: Default::default(),
    }
}

pub fn s3(conf: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(conf)
            .force_path_style(true)
            .build(),
    )
}

/// Seed: console user without MFA, console user with MFA, an admin through
/// a group without MFA, a multi-region trail that is logging, a public and a
/// private bucket.
pub async fn seed_standard(account: &str) {
    let conf = seed_config(account).await;
    let iam = aws_sdk_iam::Client::new(&conf);
    for u in ["nomfa", "withmfa", "groupadmin", "keyonly"] {
        iam.create_user().user_name(u).send().await.unwrap();
    }
    for u in ["nomfa", "withmfa", "groupadmin"] {
        iam.create_login_profile()
            .user_name(u)
            .password("Correct-Horse-9!")
            .send()
            .await
            .unwrap();
    }
    let dev = iam
        .create_virtual_mfa_device()
        .virtual_mfa_device_name("withmfa")
        .send()
        .await
        .unwrap();
    let serial = dev
        .virtual_mfa_device()
        .unwrap()
        .serial_number()
        .to_string();
    iam.enable_mfa_device()
        .user_name("withmfa")
        .serial_number(&serial)
        .authentication_code1("123456")
        .authentication_code2("654321")
        .send()
        .await
        .unwrap();
    iam.create_group()
        .group_name("admins")
        .send()
        .await
        .unwrap();
    iam.attach_group_policy()
        .group_name("admins")
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .unwrap();
    iam.add_user_to_group()
        .group_name("admins")
        .user_name("groupadmin")
        .send()
        .await
        .unwrap();
    iam.create_access_key()
        .user_name("keyonly")
        .send()
        .await
        .unwrap();

    let s3 = s3(&conf);
    for b in [
        format!("trail-{account}"),
        format!("public-{account}"),
        format!("private-{account}"),
    ] {
        s3.create_bucket().bucket(&b).send().await.unwrap();
    }
    let public = format!("public-{account}");
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{public}/*"}}]}}"#
    );
    s3.put_bucket_policy()
        .bucket(&public)
        .policy(policy)
        .send()
        .await
        .unwrap();

    aws_sdk_guardduty::Client::new(&conf)
        .create_detector()
        .enable(true)
        .send()
        .await
        .unwrap();
    let ct = aws_sdk_cloudtrail::Client::new(&conf);
    ct.create_trail()
        .name("org-audit")
        .s3_bucket_name(format!("trail-{account}"))
        .is_multi_region_trail(true)
        .enable_log_file_validation(true)
        .send()
        .await
        .unwrap();
    ct.start_logging().name("org-audit").send().await.unwrap();
}

pub fn payload<T: serde::de::DeserializeOwned>(
    obs: &[Observation],
    source: &str,
    account: &str,
) -> T {
    let o = obs
        .iter()
        .find(|o| o.source == source && o.target.id == account)
        .unwrap_or_else(|| panic!("no {source} for {account}"));
    o.payload().unwrap()
}

/// `(resource, status, code)` of a check's findings on the account's observation.
pub fn findings(
    obs: &[Observation],
    account: &str,
    check: &str,
) -> Vec<(String, Status, ReasonCode)> {
    let c = evident_policies::check(check).unwrap();
    let o = obs
        .iter()
        .find(|o| o.source == c.meta.source && o.target.id == account)
        .unwrap();
    (c.evaluate)(o)
        .into_iter()
        .map(|f| (f.resource_id, f.status, f.reason_code))
        .collect()
}

fn status_of(list: &[(String, Status, ReasonCode)], resource_suffix: &str) -> Status {
    list.iter()
        .find(|(r, _, _)| r.ends_with(resource_suffix))
        .unwrap_or_else(|| panic!("no finding on {resource_suffix}: {list:?}"))
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_account_has_correct_verdicts() {
    let acct = fresh_account();
    seed_standard(&acct).await;
    let obs = AwsCollector::new(settings(&[&acct]))
        .collect(chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(obs.len(), crate::SOURCES.len());
    assert!(obs.iter().all(|o| o.target.id == acct));

    let iam: IamObservation = payload(&obs, "aws.iam", &acct);
    let Reading::Ok(report) = &iam.credential_report else {
        panic!("{:?}", iam.credential_report)
    };
    assert!(report.rows.iter().any(|r| r.user == "nomfa"));

    let console = findings(&obs, &acct, "aws_iam_console_users_mfa_enabled");
    assert_eq!(status_of(&console, "user/nomfa"), Status::Fail);
    assert_eq!(status_of(&console, "user/withmfa"), Status::Pass);
    assert!(
        !console.iter().any(|(r, _, _)| r.ends_with("user/keyonly")),
        "{console:?}"
    );

    let admins = findings(&obs, &acct, "aws_iam_privileged_users_mfa_enabled");
    assert_eq!(
        admins,
        vec![(
            format!("arn:aws:iam::{acct}:user/groupadmin"),
            Status::Fail,
            ReasonCode::AwsPrivilegedUserWithoutMfa
        )]
    );

    let trail = findings(&obs, &acct, "aws_cloudtrail_multi_region_logging");
    assert_eq!(trail[0].1, Status::Pass, "{trail:?}");
    assert!(
        trail[0]
            .0
            .starts_with(&format!("arn:aws:cloudtrail:us-east-1:{acct}:trail/")),
        "{trail:?}"
    );
    assert_eq!(
        findings(&obs, &acct, "aws_cloudtrail_log_validation_enabled")[0].1,
        Status::Pass
    );
    assert_eq!(
        findings(&obs, &acct, "aws_cloudtrail_logs_encrypted")[0].1,
        Status::Fail
    );

    let public = findings(&obs, &acct, "aws_s3_buckets_not_public");
    assert_eq!(
        status_of(&public, &format!(":::public-{acct}")),
        Status::Fail
    );
    assert_eq!(
        status_of(&public, &format!(":::private-{acct}")),
        Status::Pass
    );
    assert_eq!(
        findings(&obs, &acct, "aws_s3_account_public_access_blocked")[0].1,
        Status::Fail
    );
    assert_eq!(
        findings(&obs, &acct, "aws_iam_password_policy_strong")[0].2,
        ReasonCode::AwsPasswordPolicyMissing
    );

    // Every check of the collector's sources decided something on this
    // account; none is an error except those whose calls moto does not serve
    // faithfully (tested against the stub in `backup_stub`, and Route 53
    // Resolver DNS Firewall in `tests::network`).
    for c in evident_policies::checks()
        .into_iter()
        .filter(|c| crate::SOURCES.contains(&c.meta.source))
    {
        let f = findings(&obs, &acct, c.meta.id);
        assert!(!f.is_empty(), "{} said nothing", c.meta.id);
        if super::moto_backup::NOT_SERVED_BY_MOTO.contains(&c.meta.id)
            || c.meta.id == "aws_vpc_dns_firewall_blocking"
        {
            continue;
        }
        assert!(
            f.iter().all(|x| x.1 != Status::Error),
            "{}: {f:?}",
            c.meta.id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_level_block_covers_the_public_bucket() {
    let acct = fresh_account();
    seed_standard(&acct).await;
    let conf = seed_config(&acct).await;
    let control = aws_sdk_s3control::Client::from_conf(
        aws_sdk_s3control::config::Builder::from(&conf)
            .endpoint_resolver(crate::s3::FixedEndpoint(moto_url().to_string()))
            .build(),
    );
    control
        .put_public_access_block()
        .account_id(&acct)
        .public_access_block_configuration(
            aws_sdk_s3control::types::PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let obs = AwsCollector::new(settings(&[&acct]))
        .collect(chrono::Utc::now())
        .await
        .unwrap();
    let s3: S3Observation = payload(&obs, "aws.s3", &acct);
    assert!(
        matches!(s3.account_block, Reading::Ok(Some(b)) if b.all()),
        "{:?}",
        s3.account_block
    );
    assert_eq!(
        findings(&obs, &acct, "aws_s3_account_public_access_blocked")[0].1,
        Status::Pass
    );
    let public = findings(&obs, &acct, "aws_s3_buckets_not_public");
    assert_eq!(
        status_of(&public, &format!(":::public-{acct}")),
        Status::Pass,
        "{public:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accounts_in_one_run_are_kept_apart() {
    let a = fresh_account();
    let b = fresh_account();
    seed_standard(&a).await;
    // Account b: one console user with MFA-less password, no trail, no buckets.
    let conf = seed_config(&b).await;
    let iam = aws_sdk_iam::Client::new(&conf);
    iam.create_user()
        .user_name("only-in-b")
        .send()
        .await
        .unwrap();
    iam.create_login_profile()
        .user_name("only-in-b")
        .password("Correct-Horse-9!")
        .send()
        .await
        .unwrap();

    let obs = AwsCollector::new(settings(&[&a, &b]))
        .collect(chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(obs.len(), 2 * crate::SOURCES.len());
    let console_b = findings(&obs, &b, "aws_iam_console_users_mfa_enabled");
    assert_eq!(
        console_b,
        vec![(
            format!("arn:aws:iam::{b}:user/only-in-b"),
            Status::Fail,
            ReasonCode::AwsConsoleUserWithoutMfa
        )]
    );
    let console_a = findings(&obs, &a, "aws_iam_console_users_mfa_enabled");
    assert!(
        console_a
            .iter()
            .all(|(r, _, _)| r.starts_with(&format!("arn:aws:iam::{a}:"))),
        "{console_a:?}"
    );
    assert_eq!(
        findings(&obs, &b, "aws_guardduty_detector_enabled")[0].2,
        ReasonCode::AwsGuardDutyDisabled
    );
    assert_eq!(
        findings(&obs, &a, "aws_guardduty_detector_enabled")[0].1,
        Status::Pass
    );
    assert_eq!(
        findings(&obs, &b, "aws_cloudtrail_multi_region_logging")[0].2,
        ReasonCode::AwsNoTrails
    );
    assert_eq!(
        findings(&obs, &a, "aws_cloudtrail_multi_region_logging")[0].1,
        Status::Pass
    );
    let trails_b: CloudTrailObservation = payload(&obs, "aws.cloudtrail", &b);
    assert_eq!(trails_b.account_id, b);
    // No observation mentions the base secret.
    for o in &obs {
        assert!(!serde_json::to_string(&o.data)
            .unwrap()
            .contains(BASE_SECRET));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_assume_role_is_an_error_for_that_account_only() {
    let good = fresh_account();
    seed_standard(&good).await;
    let mut s = settings(&[&good]);
    // An external id that is read from a variable nobody set: the account
    // cannot be reached, the run goes on with the other.
    s.accounts.push(AccountSpec {
        profile: None,
        role_arn: Some(role_arn("999999999999")),
        external_id_env: Some("EVIDENT_TEST_UNSET_EXTERNAL_ID".into()),
        external_id_file: None,
    });
    let obs = AwsCollector::new(s)
        .collect(chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(obs.len(), 2 * crate::SOURCES.len());
    let bad = findings(&obs, "999999999999", "aws_iam_root_mfa_enabled");
    assert_eq!(bad[0].1, Status::Error);
    assert_eq!(
        findings(&obs, &good, "aws_cloudtrail_multi_region_logging")[0].1,
        Status::Pass
    );
}

/// Organizations discovery: the management account (the default chain's,
/// moto's default account) lists its members; each is reached through the
/// named role and collected as an account of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_members_are_discovered_and_collected() {
    let url = moto_url();
    let base = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .load()
        .await;
    let org = aws_sdk_organizations::Client::new(&base);
    org.create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    let created = org
        .create_account()
        .account_name("member")
        .email("member@example.invalid")
        .send()
        .await
        .unwrap();
    let status_id = created
        .create_account_status()
        .unwrap()
        .id()
        .unwrap()
        .to_string();
    let member = org
        .describe_create_account_status()
        .create_account_request_id(status_id)
        .send()
        .await
        .unwrap()
        .create_account_status()
        .unwrap()
        .account_id()
        .unwrap()
        .to_string();
    // Seed the member through the role discovery will assume.
    let provider = aws_config::sts::AssumeRoleProvider::builder(format!(
        "arn:aws:iam::{member}:role/EvidentReadOnly"
    ))
    .session_name("seed")
    .region(Region::new("us-east-1"))
    .configure(&base)
    .build()
    .await;
    let conf = base
        .clone()
        .into_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(provider),
        )
        .build();
    let iam = aws_sdk_iam::Client::new(&conf);
    iam.create_user()
        .user_name("member-user")
        .send()
        .await
        .unwrap();
    iam.create_login_profile()
        .user_name("member-user")
        .password("Correct-Horse-9!")
        .send()
        .await
        .unwrap();

    let mut s = settings(&[]);
    s.organization = Some(crate::OrganizationDiscovery {
        role_name: "EvidentReadOnly".into(),
        external_id_env: None,
        external_id_file: None,
    });
    let obs = AwsCollector::new(s)
        .collect(chrono::Utc::now())
        .await
        .unwrap();
    let accounts: std::collections::BTreeSet<&str> =
        obs.iter().map(|o| o.target.id.as_str()).collect();
    assert!(accounts.contains(member.as_str()), "{accounts:?}");
    let console = findings(&obs, &member, "aws_iam_console_users_mfa_enabled");
    assert_eq!(
        console,
        vec![(
            format!("arn:aws:iam::{member}:user/member-user"),
            Status::Fail,
            ReasonCode::AwsConsoleUserWithoutMfa
        )]
    );
}
