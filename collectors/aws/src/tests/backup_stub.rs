//! AWS Backup recovery points, restore jobs and restore testing, and Macie2
//! (its timestamps and automated discovery), which moto 5.2.5 does not serve
//! faithfully: the local stub (`super::stub`) answers with the REST-JSON
//! shapes the AWS Backup and Amazon Macie API references document. Faults on
//! these services end as `error` with their reason while the rest goes on.

use std::time::Duration;

use chrono::Utc;
use evident_policies::aws::backup::BackupObservation;
use evident_policies::aws::macie::MacieObservation;
use evident_policies::aws::Reading;
use evident_policies::{Observation, ReasonCode, Status};

use super::moto::{findings, payload};
use super::stub::{self, caller_identity, json_error, json_ok, Reply};
use crate::{AccountSpec, AwsCollector, AwsSettings};

const ACCT: &str = "111122223333";
const VOL_A: &str = "arn:aws:ec2:us-east-1:111122223333:volume/vol-0aaaaaaaaaaaaaaaa";
const VOL_B: &str = "arn:aws:ec2:us-east-1:111122223333:volume/vol-0bbbbbbbbbbbbbbbb";
const DB: &str = "arn:aws:rds:us-east-1:111122223333:db:orders";

fn settings(url: &str) -> AwsSettings {
    // Base credentials come from the environment set by the moto harness.
    let _ = super::moto::moto_url();
    AwsSettings {
        accounts: vec![AccountSpec {
            profile: None,
            role_arn: None,
            external_id_env: None,
            external_id_file: None,
        }],
        regions: vec!["us-east-1".into()],
        endpoint_url: Some(url.to_string()),
        concurrency: 1,
        max_attempts: 1,
        call_timeout_seconds: 1,
        ..AwsSettings::default()
    }
}

/// Epoch seconds `hours` ago (REST-JSON timestamps of AWS Backup).
fn ago(hours: i64) -> i64 {
    (Utc::now() - chrono::Duration::hours(hours)).timestamp()
}

/// ISO 8601 `hours` ago (Macie2 timestamps).
fn iso_ago(hours: i64) -> String {
    (Utc::now() - chrono::Duration::hours(hours))
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn plan_arn(id: &str) -> String {
    format!("arn:aws:backup:us-east-1:{ACCT}:backup-plan:{id}")
}

fn rtp_arn(name: &str) -> String {
    format!("arn:aws:backup:us-east-1:{ACCT}:restore-testing-plan:{name}-8f3e2b1a")
}

fn recovery_point(
    id: &str,
    resource: &str,
    rtype: &str,
    status: &str,
    hours: i64,
    plan: Option<&str>,
) -> String {
    let created_by = match plan {
        Some(p) => format!(
            r#","CreatedBy":{{"BackupPlanId":"{p}-id","BackupPlanArn":"{}","BackupPlanName":"{p}","BackupPlanVersion":"ZjQ2ZTI5YTQt","BackupRuleId":"rule-1"}}"#,
            plan_arn(&format!("{p}-id"))
        ),
        None => String::new(),
    };
    format!(
        r#"{{"RecoveryPointArn":"arn:aws:ec2:us-east-1::snapshot/snap-{id}","BackupVaultName":"Default","BackupVaultArn":"arn:aws:backup:us-east-1:{ACCT}:backup-vault:Default","ResourceArn":"{resource}","ResourceType":"{rtype}"{created_by},"IamRoleArn":"arn:aws:iam::{ACCT}:role/service-role/AWSBackupDefaultServiceRole","Status":"{status}","CreationDate":{},"CompletionDate":{},"BackupSizeInBytes":8589934592,"IsEncrypted":true,"IsParent":false}}"#,
        ago(hours),
        ago(hours) + 600
    )
}

fn restore_job(
    id: &str,
    plan: &str,
    resource: &str,
    status: &str,
    hours: i64,
    validation: Option<&str>,
) -> String {
    let validation = validation
        .map(|v| format!(r#","ValidationStatus":"{v}""#))
        .unwrap_or_default();
    let message = if status == "FAILED" {
        r#","StatusMessage":"Insufficient capacity in the availability zone""#
    } else {
        ""
    };
    format!(
        r#"{{"AccountId":"{ACCT}","RestoreJobId":"{id}","RecoveryPointArn":"arn:aws:ec2:us-east-1::snapshot/snap-{id}","SourceResourceArn":"{resource}","CreationDate":{},"CompletionDate":{},"Status":"{status}"{message},"PercentDone":"100.00%","IamRoleArn":"arn:aws:iam::{ACCT}:role/service-role/AWSBackupDefaultServiceRole","ResourceType":"EBS","CreatedBy":{{"RestoreTestingPlanArn":"{}"}}{validation},"DeletionStatus":"SUCCESSFUL","IsParent":false}}"#,
        ago(hours + 1),
        ago(hours),
        rtp_arn(plan)
    )
}

fn one(obs: &[Observation], check: &str, resource: &str) -> (Status, ReasonCode) {
    let f = findings(obs, ACCT, check);
    let hit: Vec<_> = f.iter().filter(|x| x.0 == resource).collect();
    assert_eq!(hit.len(), 1, "{check} on {resource}: {f:?}");
    (hit[0].1, hit[0].2)
}

/// Plans with and without selections, paginated recovery points against the
/// RPO, restore testing plans whose latest job passed, failed or never ran,
/// Macie enabled with automated discovery off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_macie_verdicts_from_documented_shapes() {
    let s = stub::start(|req| {
        let op = req.operation();
        let path = op
            .split_once(' ')
            .map(|x| x.1)
            .unwrap_or_default()
            .to_string();
        Some(match op.as_str() {
            "GetCallerIdentity" => caller_identity(ACCT),
            _ if path == "/backup/plans" => json_ok(&format!(
                r#"{{"BackupPlansList":[{{"BackupPlanArn":"{}","BackupPlanId":"daily-id","BackupPlanName":"daily","CreationDate":{},"VersionId":"ZjQ2ZTI5YTQt","LastExecutionDate":{}}},{{"BackupPlanArn":"{}","BackupPlanId":"empty-id","BackupPlanName":"empty","CreationDate":{},"VersionId":"MmE5YzUxNjYt"}}]}}"#,
                plan_arn("daily-id"),
                ago(900),
                ago(2),
                plan_arn("empty-id"),
                ago(900)
            )),
            _ if path == "/backup/plans/daily-id/selections" => json_ok(&format!(
                r#"{{"BackupSelectionsList":[{{"SelectionId":"sel-1","SelectionName":"volumes","BackupPlanId":"daily-id","CreationDate":{},"IamRoleArn":"arn:aws:iam::{ACCT}:role/service-role/AWSBackupDefaultServiceRole"}}]}}"#,
                ago(900)
            )),
            _ if path == "/backup/plans/empty-id/selections" => {
                json_ok(r#"{"BackupSelectionsList":[]}"#)
            }
            _ if path == "/backup/plans/daily-id/selections/sel-1" => json_ok(&format!(
                r#"{{"BackupPlanId":"daily-id","SelectionId":"sel-1","CreationDate":{},"BackupSelection":{{"SelectionName":"volumes","IamRoleArn":"arn:aws:iam::{ACCT}:role/service-role/AWSBackupDefaultServiceRole","Resources":["{VOL_A}","{VOL_B}"],"ListOfTags":[{{"ConditionType":"STRINGEQUALS","ConditionKey":"backup","ConditionValue":"daily"}}],"NotResources":[]}}}}"#,
                ago(900)
            )),
            _ if path == "/backup-vaults" => json_ok(&format!(
                r#"{{"BackupVaultList":[{{"BackupVaultName":"Default","BackupVaultArn":"arn:aws:backup:us-east-1:{ACCT}:backup-vault:Default","CreationDate":{},"NumberOfRecoveryPoints":4,"Locked":false}}]}}"#,
                ago(900)
            )),
            // Two pages: the paginator must follow NextToken.
            _ if path == "/backup-vaults/Default/recovery-points" => json_ok(&format!(
                r#"{{"RecoveryPoints":[{},{}],"NextToken":"page-2"}}"#,
                recovery_point("a-new", VOL_A, "EBS", "COMPLETED", 2, Some("daily")),
                recovery_point("a-old", VOL_A, "EBS", "COMPLETED", 26, Some("daily")),
            )),
            _ if path == "/backup-vaults/Default/recovery-points?nextToken=page-2" => {
                json_ok(&format!(
                    r#"{{"RecoveryPoints":[{},{},{}]}}"#,
                    recovery_point("b", VOL_B, "EBS", "COMPLETED", 50, Some("daily")),
                    recovery_point("b-partial", VOL_B, "EBS", "PARTIAL", 1, Some("daily")),
                    recovery_point("db", DB, "RDS", "COMPLETED", 1, None),
                ))
            }
            _ if path == "/restore-testing/plans" => json_ok(&format!(
                r#"{{"RestoreTestingPlans":[{},{},{}]}}"#,
                format_args!(
                    r#"{{"CreationTime":{},"LastExecutionTime":{},"LastUpdateTime":{},"RestoreTestingPlanArn":"{}","RestoreTestingPlanName":"weekly","ScheduleExpression":"cron(0 1 ? * SUN *)","ScheduleExpressionTimezone":"Etc/UTC","StartWindowHours":24}}"#,
                    ago(900),
                    ago(72),
                    ago(900),
                    rtp_arn("weekly")
                ),
                format_args!(
                    r#"{{"CreationTime":{},"LastExecutionTime":{},"RestoreTestingPlanArn":"{}","RestoreTestingPlanName":"broken","ScheduleExpression":"cron(0 1 ? * SUN *)","StartWindowHours":24}}"#,
                    ago(900),
                    ago(24),
                    rtp_arn("broken")
                ),
                format_args!(
                    r#"{{"CreationTime":{},"RestoreTestingPlanArn":"{}","RestoreTestingPlanName":"never","ScheduleExpression":"cron(0 1 ? * SUN *)","StartWindowHours":24}}"#,
                    ago(10),
                    rtp_arn("never")
                ),
            )),
            _ if path.starts_with("/restore-jobs?") => {
                let jobs = if path.contains("weekly") {
                    restore_job(
                        "job-w1",
                        "weekly",
                        VOL_A,
                        "COMPLETED",
                        72,
                        Some("SUCCESSFUL"),
                    )
                } else if path.contains("broken") {
                    format!(
                        "{},{}",
                        restore_job("job-b2", "broken", VOL_A, "FAILED", 24, None),
                        restore_job("job-b1", "broken", VOL_A, "COMPLETED", 200, None)
                    )
                } else {
                    String::new()
                };
                json_ok(&format!(r#"{{"RestoreJobs":[{jobs}]}}"#))
            }
            _ if path == "/macie" => json_ok(&format!(
                r#"{{"createdAt":"{}","findingPublishingFrequency":"FIFTEEN_MINUTES","serviceRole":"arn:aws:iam::{ACCT}:role/aws-service-role/macie.amazonaws.com/AWSServiceRoleForAmazonMacie","status":"ENABLED","updatedAt":"{}"}}"#,
                iso_ago(900),
                iso_ago(24)
            )),
            _ if path == "/automated-discovery/configuration" => json_ok(&format!(
                r#"{{"autoEnableOrganizationMembers":"NONE","classificationScopeId":"117aff7ed76b59a59c0000e5e1f3c7b4","disabledAt":"{}","firstEnabledAt":"{}","lastUpdatedAt":"{}","sensitivityInspectionTemplateId":"9e8a2f5c0b6d4e1f","status":"DISABLED"}}"#,
                iso_ago(48),
                iso_ago(900),
                iso_ago(48)
            )),
            _ => return None,
        })
    });
    let obs = AwsCollector::new(settings(&s.url))
        .collect(Utc::now())
        .await
        .unwrap();
    let seen = s.seen.lock().unwrap().clone();

    // The restore jobs were asked by plan and for the lookback window only.
    let jobs_calls: Vec<&String> = seen
        .iter()
        .filter(|o| o.starts_with("GET /restore-jobs"))
        .collect();
    assert_eq!(jobs_calls.len(), 3, "{seen:?}");
    assert!(
        jobs_calls
            .iter()
            .all(|c| c.contains("restoreTestingPlanArn=arn%3Aaws%3Abackup")
                && c.contains("createdAfter=")),
        "{jobs_calls:?}"
    );

    assert_eq!(
        one(
            &obs,
            "aws_backup_plans_select_resources",
            &plan_arn("daily-id")
        ),
        (Status::Pass, ReasonCode::AwsBackupPlanSelectsResources)
    );
    assert_eq!(
        one(
            &obs,
            "aws_backup_plans_select_resources",
            &plan_arn("empty-id")
        ),
        (Status::Fail, ReasonCode::AwsBackupPlanWithoutSelection)
    );

    let bk: BackupObservation = payload(&obs, "aws.backup", ACCT);
    let Reading::Ok(vaults) = &bk.regions[0].vaults else {
        panic!("{:?}", bk.regions[0].vaults)
    };
    let Reading::Ok(points) = &vaults[0].resources else {
        panic!("{:?}", vaults[0].resources)
    };
    // Both pages were read and reduced to one entry per resource.
    assert_eq!(points.len(), 3, "{points:?}");
    let b = points.iter().find(|p| p.resource_arn == VOL_B).unwrap();
    assert_eq!(b.count, 2);
    assert_eq!(b.latest.status, "PARTIAL");
    assert!(b.latest_completed.as_ref().unwrap().arn.ends_with("snap-b"));

    assert_eq!(
        one(&obs, "aws_backup_recovery_points_within_rpo", VOL_A),
        (Status::Pass, ReasonCode::AwsRecoveryPointWithinRpo)
    );
    assert_eq!(
        one(&obs, "aws_backup_recovery_points_within_rpo", VOL_B),
        (Status::Fail, ReasonCode::AwsRecoveryPointTooOld)
    );
    assert_eq!(
        one(&obs, "aws_backup_recovery_points_within_rpo", DB),
        (Status::Pass, ReasonCode::AwsRecoveryPointWithinRpo)
    );

    assert_eq!(
        one(&obs, "aws_backup_restore_tests_recent", &rtp_arn("weekly")),
        (Status::Pass, ReasonCode::AwsRestoreTestPassed)
    );
    assert_eq!(
        one(&obs, "aws_backup_restore_tests_recent", &rtp_arn("broken")),
        (Status::Fail, ReasonCode::AwsRestoreTestFailed)
    );
    assert_eq!(
        one(&obs, "aws_backup_restore_tests_recent", &rtp_arn("never")),
        (Status::Fail, ReasonCode::AwsRestoreNeverTested)
    );

    let macie_arn = format!("arn:aws:macie2:us-east-1:{ACCT}:session");
    assert_eq!(
        one(&obs, "aws_macie_enabled", &macie_arn),
        (Status::Pass, ReasonCode::AwsMacieEnabled)
    );
    assert_eq!(
        one(&obs, "aws_macie_automated_discovery_enabled", &macie_arn),
        (Status::Fail, ReasonCode::AwsMacieDiscoveryDisabled)
    );
    let macie: MacieObservation = payload(&obs, "aws.macie", ACCT);
    let Some(Reading::Ok(disc)) = &macie.regions[0].automated_discovery else {
        panic!("{:?}", macie.regions[0].automated_discovery)
    };
    assert!(disc.disabled_at.is_some() && disc.first_enabled_at.is_some());
}

/// Throttling, a 5xx page, a denial, a timeout and a malformed body on the
/// new services: each is an `error` with its reason, and the rest decide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_rds_macie_config_faults_are_errors_and_the_rest_goes_on() {
    let s = stub::start(|req| {
        let op = req.operation();
        let path = op
            .split_once(' ')
            .map(|x| x.1)
            .unwrap_or_default()
            .to_string();
        Some(match op.as_str() {
            "GetCallerIdentity" => caller_identity(ACCT),
            _ if path == "/backup/plans" => json_error(429, "ThrottlingException", "Rate exceeded"),
            _ if path == "/backup-vaults" => Reply::Http(200, "application/json", r#"{"BackupVaultList":[{"BackupVaultName":"Default","#.into()),
            _ if path == "/restore-testing/plans" => Reply::Http(503, "text/html", "<html><body>Service Unavailable</body></html>".into()),
            _ if path == "/macie" => json_error(403, "AccessDeniedException", "User: arn:aws:iam::111122223333:user/evident is not authorized to perform: macie2:GetMacieSession"),
            "DescribeDBInstances" => Reply::Silence(Duration::from_secs(4)),
            "DescribeDBClusters" => stub::query_ok("DescribeDBClusters", "<DBClusters/>"),
            "DescribeConfigurationRecorders" => json_ok(r#"{"ConfigurationRecorders":[{"name":"default","roleARN":"arn:aws:iam::111122223333:role/config","recordingGroup":{"allSupported":true,"includeGlobalResourceTypes":true,"resourceTypes":[]}}]}"#),
            "DescribeConfigurationRecorderStatus" => json_ok(r#"{"ConfigurationRecordersStatus":[{"name":"default","lastStartTime":1700000000,"recording":true,"lastStatus":"Success","lastStatusChangeTime":1700000300}]}"#),
            "DescribeDeliveryChannels" => json_ok(r#"{"DeliveryChannels":[{"name":"default","s3BucketName":"config-bucket-111122223333"}]}"#),
            _ => return None,
        })
    });
    let obs = AwsCollector::new(settings(&s.url))
        .collect(Utc::now())
        .await
        .unwrap();
    assert_eq!(obs.len(), crate::SOURCES.len());
    let acct = format!("arn:aws:iam::{ACCT}:root");
    assert_eq!(
        one(&obs, "aws_backup_plans_select_resources", &acct),
        (Status::Error, ReasonCode::AwsThrottled)
    );
    assert_eq!(
        one(&obs, "aws_backup_recovery_points_within_rpo", &acct),
        (Status::Error, ReasonCode::AwsMalformedResponse)
    );
    assert_eq!(
        one(&obs, "aws_backup_restore_tests_recent", &acct),
        (Status::Error, ReasonCode::AwsServiceError)
    );
    // A denial that is not "Macie is not enabled" is an error, never a fail or pass.
    assert_eq!(
        one(&obs, "aws_macie_enabled", &acct),
        (Status::Error, ReasonCode::AwsAccessDenied)
    );
    assert_eq!(
        one(&obs, "aws_macie_automated_discovery_enabled", &acct),
        (Status::Error, ReasonCode::AwsAccessDenied)
    );
    assert_eq!(
        one(&obs, "aws_rds_backup_retention_sufficient", &acct),
        (Status::Error, ReasonCode::AwsTimeout)
    );
    assert_eq!(
        one(&obs, "aws_rds_multi_az_enabled", &acct),
        (Status::Error, ReasonCode::AwsTimeout)
    );
    // The calls that worked still decide.
    assert_eq!(
        one(
            &obs,
            "aws_config_recorder_recording",
            &format!("arn:aws:config:us-east-1:{ACCT}:configuration-recorder/default")
        ),
        (Status::Pass, ReasonCode::AwsConfigRecorderRecording)
    );
    let bk: BackupObservation = payload(&obs, "aws.backup", ACCT);
    let Reading::Error(e) = &bk.regions[0].plans else {
        panic!()
    };
    assert_eq!(e.operation, "backup:ListBackupPlans");
    assert_eq!(e.code.as_deref(), Some("ThrottlingException"));
}

/// Macie answers AccessDeniedException "Macie is not enabled" where it is
/// off: that is a fail (not an error), and discovery is not asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn macie_not_enabled_fails_and_discovery_is_not_asked() {
    let s = stub::start(|req| {
        let op = req.operation();
        Some(match op.as_str() {
            "GetCallerIdentity" => caller_identity(ACCT),
            "GET /macie" => json_error(403, "AccessDeniedException", "Macie is not enabled."),
            _ => return None,
        })
    });
    let obs = AwsCollector::new(settings(&s.url))
        .collect(Utc::now())
        .await
        .unwrap();
    let acct = format!("arn:aws:iam::{ACCT}:root");
    assert_eq!(
        one(&obs, "aws_macie_enabled", &acct),
        (Status::Fail, ReasonCode::AwsMacieDisabled)
    );
    assert_eq!(
        one(&obs, "aws_macie_automated_discovery_enabled", &acct),
        (Status::Fail, ReasonCode::AwsMacieDiscoveryDisabled)
    );
    let seen = s.seen.lock().unwrap().clone();
    assert!(seen.iter().any(|o| o == "GET /macie"), "{seen:?}");
    assert!(
        !seen.iter().any(|o| o.contains("automated-discovery")),
        "{seen:?}"
    );
}
