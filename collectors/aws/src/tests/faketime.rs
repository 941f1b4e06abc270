//! Age-based IAM checks against moto running under libfaketime (Debian
//! package `faketime`, installed by `.ci/run`). moto stamps users, login
//! profiles and access keys with its own clock, so the test moves that clock
//! back by rewriting libfaketime's timestamp file, creates credentials "in
//! the past", moves it back to the present, and runs the collector (real
//! clock), which must see them as old.
//!
//! What moto's credential report does with faked time (measured with moto
//! 5.2.5): `user_creation_time`, `password_last_changed` (moto writes the
//! user's creation time there) and `access_key_N_last_rotated` carry the
//! faked times; `password_last_used` is `no_information` and an unused
//! key's `last_used_date` is `N/A`; `GeneratedTime` is a constant
//! (2015-02-02T20:02:02Z) whatever the clock. The collector records that
//! time and the checks measure age against the collection time.

use std::path::{Path, PathBuf};

use aws_config::{BehaviorVersion, Region};
use chrono::{Duration, Utc};
use evident_policies::aws::iam::IamObservation;
use evident_policies::aws::Reading;
use evident_policies::{ReasonCode, Status};

use super::moto::{findings, payload, spawn_moto};
use crate::{AccountSpec, AwsCollector, AwsSettings};

/// moto's default account, used with the base credentials: assumed-role
/// credentials would expire "in the past" for the SDK's real clock.
const ACCT: &str = "123456789012";

/// libfaketime from Debian's `faketime` package, wherever the architecture puts it.
fn libfaketime() -> PathBuf {
    let found = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.exists());
    found.expect("libfaketime.so.1 under /usr/lib/*/faketime (apt-get install faketime)")
}

/// Set moto's clock offset (libfaketime syntax, e.g. `-200d`, `+0`):
/// written whole and renamed, so moto never reads a half-written file.
fn set_clock(file: &Path, offset: &str) {
    let tmp = file.with_extension("new");
    std::fs::write(&tmp, format!("{offset}\n")).unwrap();
    std::fs::rename(&tmp, file).unwrap();
}

/// A user with a console password and an access key, stamped with moto's clock.
async fn make(iam: &aws_sdk_iam::Client, user: &str) {
    iam.create_user().user_name(user).send().await.unwrap();
    iam.create_login_profile()
        .user_name(user)
        .password("Correct-Horse-9!")
        .send()
        .await
        .unwrap();
    iam.create_access_key()
        .user_name(user)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_keys_and_unused_credentials_from_moto_under_faketime() {
    // Base credentials in the environment (set by the shared harness).
    let _ = super::moto::moto_url();
    let dir = std::env::temp_dir().join(format!("evident-faketime-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let clock = dir.join("faketime.rc");
    set_clock(&clock, "+0");
    let lib = libfaketime();
    let (url, moto) = spawn_moto(&[
        ("LD_PRELOAD", lib.to_str().unwrap()),
        ("FAKETIME_TIMESTAMP_FILE", clock.to_str().unwrap()),
        // Read the file on every clock call, so that a rewrite takes effect at once.
        ("FAKETIME_NO_CACHE", "1"),
        // Timeouts and sleeps inside moto keep the real monotonic clock.
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
    ]);
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&url)
        .load()
        .await;
    let iam = aws_sdk_iam::Client::new(&conf);
    set_clock(&clock, "-200d");
    make(&iam, "old").await;
    set_clock(&clock, "-10d");
    make(&iam, "recent").await;
    set_clock(&clock, "+0");

    let settings = AwsSettings {
        accounts: vec![AccountSpec {
            profile: None,
            role_arn: None,
            external_id_env: None,
            external_id_file: None,
        }],
        endpoint_url: Some(url.clone()),
        max_attempts: 1,
        call_timeout_seconds: 20,
        ..AwsSettings::default()
    };
    let now = Utc::now();
    let obs = AwsCollector::new(settings).collect(now).await.unwrap();
    drop(moto);
    let _ = std::fs::remove_dir_all(&dir);

    // The report carries the faked creation times.
    let data: IamObservation = payload(&obs, "aws.iam", ACCT);
    let Reading::Ok(report) = &data.credential_report else {
        panic!("{:?}", data.credential_report)
    };
    let created = |user: &str| {
        let row = report.rows.iter().find(|r| r.user == user).unwrap();
        let key = row.access_keys[0].last_rotated.at().unwrap();
        let age = now - row.user_creation_time.at().unwrap();
        (age, now - key)
    };
    let (user_age, key_age) = created("old");
    for age in [user_age, key_age] {
        assert!(
            age > Duration::days(199) && age < Duration::days(201),
            "moto did not take the faked time: {age}"
        );
    }
    let (user_age, key_age) = created("recent");
    for age in [user_age, key_age] {
        assert!(age > Duration::days(9) && age < Duration::days(11), "{age}");
    }

    let keys = findings(&obs, ACCT, "aws_iam_access_keys_rotated");
    let of = |list: &[(String, Status, ReasonCode)], suffix: &str| {
        list.iter()
            .find(|(r, _, _)| r.ends_with(suffix))
            .map(|(_, s, c)| (*s, *c))
            .unwrap_or_else(|| panic!("no finding on {suffix}: {list:?}"))
    };
    assert_eq!(
        of(&keys, "user/old#access_key_1"),
        (Status::Fail, ReasonCode::AwsAccessKeyTooOld)
    );
    assert_eq!(
        of(&keys, "user/recent#access_key_1"),
        (Status::Pass, ReasonCode::AwsAccessKeysRotated)
    );
    let unused = findings(&obs, ACCT, "aws_iam_unused_credentials_disabled");
    assert_eq!(
        of(&unused, "user/old"),
        (Status::Fail, ReasonCode::AwsCredentialUnused)
    );
    assert_eq!(
        of(&unused, "user/recent"),
        (Status::Pass, ReasonCode::AwsCredentialsUsed)
    );
}
