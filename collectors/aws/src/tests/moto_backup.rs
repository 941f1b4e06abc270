//! RDS, AWS Config and AWS Backup plans against moto, which serves them
//! (DescribeDBInstances/Clusters, the Config recorder, status and delivery
//! channel APIs, ListBackupPlans). moto 5.2.5 does not serve backup
//! selections, recovery points, restore testing or Macie2's timestamps
//! faithfully: those come from the stub (`super::backup_stub`); here their
//! checks must at least never pass.

use aws_sdk_config::types::{ConfigurationRecorder, DeliveryChannel, RecordingGroup, ResourceType};
use evident_policies::aws::rds::RdsObservation;
use evident_policies::aws::Reading;
use evident_policies::{ReasonCode, Status};

use super::moto::{findings, fresh_account, payload, seed_config, settings};
use crate::AwsCollector;

/// Checks whose calls moto 5.2.5 does not serve faithfully, so that they
/// are `error` against it; the stub tests decide them.
pub const NOT_SERVED_BY_MOTO: &[&str] = &[
    "aws_backup_recovery_points_within_rpo",
    "aws_backup_restore_tests_recent",
    "aws_macie_enabled",
    "aws_macie_automated_discovery_enabled",
];

async fn db(rds: &aws_sdk_rds::Client, id: &str, retention: i32, multi_az: bool) {
    rds.create_db_instance()
        .db_instance_identifier(id)
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .allocated_storage(20)
        .master_username("evident")
        .master_user_password("not-a-real-secret-1")
        .backup_retention_period(retention)
        .multi_az(multi_az)
        .send()
        .await
        .unwrap();
}

async fn recorder(conf: &aws_config::SdkConfig, group: RecordingGroup, start: bool, channel: bool) {
    let cfg = aws_sdk_config::Client::new(conf);
    cfg.put_configuration_recorder()
        .configuration_recorder(
            ConfigurationRecorder::builder()
                .name("default")
                .role_arn("arn:aws:iam::123456789012:role/config")
                .recording_group(group)
                .build(),
        )
        .send()
        .await
        .unwrap();
    if channel {
        cfg.put_delivery_channel()
            .delivery_channel(
                DeliveryChannel::builder()
                    .name("default")
                    .s3_bucket_name("config-history")
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    if start {
        cfg.start_configuration_recorder()
            .configuration_recorder_name("default")
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rds_config_and_backup_plans_have_correct_verdicts_on_moto() {
    let acct = fresh_account();
    let conf = seed_config(&acct).await;
    let rds = aws_sdk_rds::Client::new(&conf);
    db(&rds, "orders", 7, true).await;
    db(&rds, "scratch", 1, false).await;
    recorder(
        &conf,
        RecordingGroup::builder()
            .all_supported(true)
            .include_global_resource_types(true)
            .build(),
        true,
        true,
    )
    .await;

    let obs = AwsCollector::new(settings(&[&acct]))
        .collect(chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(obs.len(), crate::SOURCES.len());
    let arn = |id: &str| format!("arn:aws:rds:us-east-1:{acct}:db:{id}");
    let retention = findings(&obs, &acct, "aws_rds_backup_retention_sufficient");
    assert_eq!(
        retention,
        vec![
            (
                arn("orders"),
                Status::Pass,
                ReasonCode::AwsRdsRetentionSufficient
            ),
            (
                arn("scratch"),
                Status::Fail,
                ReasonCode::AwsRdsRetentionTooShort
            ),
        ]
    );
    let multi = findings(&obs, &acct, "aws_rds_multi_az_enabled");
    assert_eq!(
        multi,
        vec![
            (arn("orders"), Status::Pass, ReasonCode::AwsRdsMultiAz),
            (arn("scratch"), Status::Fail, ReasonCode::AwsRdsSingleAz),
        ]
    );
    let r: RdsObservation = payload(&obs, "aws.rds", &acct);
    let Reading::Ok(list) = &r.regions[0].instances else {
        panic!("{:?}", r.regions[0].instances)
    };
    assert_eq!(list[0].engine, "postgres");

    let cfg = findings(&obs, &acct, "aws_config_recorder_recording");
    assert_eq!(cfg.len(), 1, "{cfg:?}");
    assert_eq!(
        (cfg[0].1, cfg[0].2),
        (Status::Pass, ReasonCode::AwsConfigRecorderRecording),
        "{cfg:?}"
    );
    assert!(cfg[0].0.contains(&acct), "{cfg:?}");

    // No backup plan in this account: a fail, not a pass and not an error.
    assert_eq!(
        findings(&obs, &acct, "aws_backup_plans_select_resources"),
        vec![(
            format!("arn:aws:iam::{acct}:root"),
            Status::Fail,
            ReasonCode::AwsNoBackupPlans
        )]
    );
    // What moto does not serve faithfully never passes.
    for check in NOT_SERVED_BY_MOTO {
        let f = findings(&obs, &acct, check);
        assert!(
            !f.is_empty() && f.iter().all(|x| x.1 != Status::Pass),
            "{check}: {f:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_or_limited_recorders_and_missing_databases_on_moto() {
    // A recorder of one resource type, recording, with a channel.
    let limited = fresh_account();
    let conf = seed_config(&limited).await;
    recorder(
        &conf,
        RecordingGroup::builder()
            .all_supported(false)
            .include_global_resource_types(false)
            .resource_types(ResourceType::from("AWS::S3::Bucket"))
            .build(),
        true,
        true,
    )
    .await;
    // A recorder never started.
    let stopped = fresh_account();
    let conf = seed_config(&stopped).await;
    recorder(
        &conf,
        RecordingGroup::builder().all_supported(true).build(),
        false,
        true,
    )
    .await;
    // Nothing at all.
    let bare = fresh_account();
    let _ = seed_config(&bare).await;

    let mut s = settings(&[&limited, &stopped, &bare]);
    s.concurrency = 3;
    let obs = AwsCollector::new(s.clone())
        .collect(chrono::Utc::now())
        .await
        .unwrap();
    let code = |acct: &str| {
        let f = findings(&obs, acct, "aws_config_recorder_recording");
        assert_eq!(f.len(), 1, "{f:?}");
        (f[0].1, f[0].2)
    };
    assert_eq!(
        code(&limited),
        (Status::Fail, ReasonCode::AwsConfigRecorderScopeLimited)
    );
    assert_eq!(
        code(&stopped),
        (Status::Fail, ReasonCode::AwsConfigRecorderNotRecording)
    );
    assert_eq!(code(&bare), (Status::Fail, ReasonCode::AwsConfigNoRecorder));
    for check in [
        "aws_rds_backup_retention_sufficient",
        "aws_rds_multi_az_enabled",
    ] {
        let f = findings(&obs, &bare, check);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].1, f[0].2),
            (Status::NotApplicable, ReasonCode::ComponentAbsent)
        );
    }

    // With a limited scope allowed, the same recorder passes and states its scope.
    s.accounts.truncate(1);
    s.config_recorder.require_all_resource_types = false;
    let obs = AwsCollector::new(s)
        .collect(chrono::Utc::now())
        .await
        .unwrap();
    let c = evident_policies::check("aws_config_recorder_recording").unwrap();
    let o = obs
        .iter()
        .find(|o| o.source == c.meta.source && o.target.id == limited)
        .unwrap();
    let f = (c.evaluate)(o);
    assert_eq!(f[0].status, Status::Pass, "{f:?}");
    assert!(
        f[0].reason.contains("only AWS::S3::Bucket"),
        "{}",
        f[0].reason
    );
}

/// moto serves ListBackupPlans but not ListBackupSelections: a plan whose
/// selections cannot be read is an error, never a pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_plan_with_unreadable_selections_is_an_error_on_moto() {
    let acct = fresh_account();
    let conf = seed_config(&acct).await;
    let backup = aws_sdk_backup::Client::new(&conf);
    let plan = backup
        .create_backup_plan()
        .backup_plan(
            aws_sdk_backup::types::BackupPlanInput::builder()
                .backup_plan_name("daily")
                .rules(
                    aws_sdk_backup::types::BackupRuleInput::builder()
                        .rule_name("daily")
                        .target_backup_vault_name("Default")
                        .schedule_expression("cron(0 5 ? * * *)")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let obs = AwsCollector::new(settings(&[&acct]))
        .collect(chrono::Utc::now())
        .await
        .unwrap();
    let f = findings(&obs, &acct, "aws_backup_plans_select_resources");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, plan.backup_plan_arn().unwrap());
    assert_eq!(f[0].1, Status::Error, "{f:?}");
}
