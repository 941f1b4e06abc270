//! Faults and APIs moto does not serve faithfully, through the local stub
//! (`super::stub`), which answers with the shapes AWS documents.

use std::time::Duration;

use evident_policies::aws::iam::{IamObservation, IamSettings, ReportTime};
use evident_policies::aws::Reading;
use evident_policies::{Observation, ReasonCode, Status};

use super::moto::{findings, payload};
use super::stub::{self, caller_identity, query_error, query_ok, Reply};
use crate::{AccountSpec, AwsCollector, AwsSettings};

const ACCT: &str = "111122223333";

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
        organization: None,
        regions: vec!["us-east-1".into()],
        endpoint_url: Some(url.to_string()),
        concurrency: 1,
        max_attempts: 1,
        call_timeout_seconds: 1,
        iam: IamSettings::default(),
        network: Default::default(),
    }
}

const SUMMARY_MFA_ON: &str = "<SummaryMap><entry><key>AccountMFAEnabled</key><value>1</value></entry><entry><key>AccountAccessKeysPresent</key><value>0</value></entry><entry><key>Users</key><value>2</value></entry></SummaryMap>";

const ACCOUNT_BLOCK_ALL: &str = "<PublicAccessBlockConfiguration xmlns=\"http://awss3control.amazonaws.com/doc/2018-08-20/\"><BlockPublicAcls>true</BlockPublicAcls><IgnorePublicAcls>true</IgnorePublicAcls><BlockPublicPolicy>true</BlockPublicPolicy><RestrictPublicBuckets>true</RestrictPublicBuckets></PublicAccessBlockConfiguration>";

const NO_BUCKETS: &str = "<ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>abc</ID></Owner><Buckets></Buckets></ListAllMyBucketsResult>";

fn one(obs: &[Observation], check: &str) -> (Status, ReasonCode) {
    let f = findings(obs, ACCT, check);
    assert_eq!(f.len(), 1, "{check}: {f:?}");
    (f[0].1, f[0].2)
}

/// Throttling, a 5xx HTML page, AccessDenied, a timeout and a malformed body,
/// each on a different call: each ends as `error` with its reason, and the
/// checks whose calls succeeded still decide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_is_an_error_and_the_run_goes_on() {
    let s = stub::start(|req| {
        Some(match req.operation().as_str() {
            "GetCallerIdentity" => caller_identity(ACCT),
            "GenerateCredentialReport" => query_error(400, "Throttling", "Rate exceeded"),
            "GetAccountAuthorizationDetails" => Reply::Http(200, "text/xml", "<GetAccountAuthorizationDetailsResponse><GetAccountAuthorizationDetailsResult><UserDetailList><member><UserName>x".into()),
            "GetAccountSummary" => query_ok("GetAccountSummary", SUMMARY_MFA_ON),
            "ListVirtualMFADevices" => Reply::Silence(Duration::from_secs(4)),
            "GetAccountPasswordPolicy" => query_error(403, "AccessDenied", "User: arn:aws:iam::111122223333:user/evident is not authorized to perform: iam:GetAccountPasswordPolicy"),
            "DescribeTrails" => Reply::Http(503, "text/html", "<html><body>Service Unavailable</body></html>".into()),
            "GET /v20180820/configuration/publicAccessBlock" => Reply::Http(200, "application/xml", ACCOUNT_BLOCK_ALL.into()),
            op if op.starts_with("GET /") && !op.contains("v20180820") => Reply::Http(200, "application/xml", NO_BUCKETS.into()),
            _ => return None,
        })
    });
    let obs = AwsCollector::new(settings(&s.url))
        .collect(chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        obs.len(),
        crate::SOURCES.len(),
        "{:?}",
        s.seen.lock().unwrap()
    );

    assert_eq!(
        one(&obs, "aws_iam_console_users_mfa_enabled"),
        (Status::Error, ReasonCode::AwsThrottled)
    );
    assert_eq!(
        one(&obs, "aws_iam_access_keys_rotated"),
        (Status::Error, ReasonCode::AwsThrottled)
    );
    assert_eq!(
        one(&obs, "aws_iam_privileged_users_mfa_enabled"),
        (Status::Error, ReasonCode::AwsMalformedResponse)
    );
    assert_eq!(
        one(&obs, "aws_iam_root_hardware_mfa_enabled"),
        (Status::Error, ReasonCode::AwsTimeout)
    );
    assert_eq!(
        one(&obs, "aws_iam_password_policy_strong"),
        (Status::Error, ReasonCode::AwsAccessDenied)
    );
    assert_eq!(
        one(&obs, "aws_cloudtrail_multi_region_logging"),
        (Status::Error, ReasonCode::AwsServiceError)
    );
    // The calls that worked still decide.
    assert_eq!(
        one(&obs, "aws_iam_root_mfa_enabled"),
        (Status::Pass, ReasonCode::AwsRootMfaEnabled)
    );
    assert_eq!(
        one(&obs, "aws_s3_account_public_access_blocked"),
        (Status::Pass, ReasonCode::AwsS3AccountBlockOn)
    );
    assert_eq!(
        one(&obs, "aws_s3_buckets_not_public").0,
        Status::NotApplicable
    );

    let iam: IamObservation = payload(&obs, "aws.iam", ACCT);
    let Reading::Error(e) = &iam.password_policy else {
        panic!()
    };
    assert_eq!(e.code.as_deref(), Some("AccessDenied"));
    assert_eq!(e.operation, "iam:GetAccountPasswordPolicy");
}

/// The credential report's root row and special values: moto's report has no
/// root row, so the stub serves a report shaped as the IAM user guide
/// documents it ("Getting credential reports for your AWS account").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_report_root_row_and_special_values_from_documented_shape() {
    let csv = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n\
<root_account>,arn:aws:iam::111122223333:root,2019-01-01T00:00:00+00:00,not_supported,2026-01-01T10:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n\
dana,arn:aws:iam::111122223333:user/dana,2020-01-01T00:00:00+00:00,true,no_information,2020-01-01T00:00:00+00:00,N/A,false,true,2020-01-02T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n";
    let content = aws_smithy_types::base64::encode(csv);
    // An inline policy granting `*` on `*`, URL-encoded as IAM returns documents.
    let doc = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D";
    let details = format!("<UserDetailList><member><Path>/</Path><UserName>dana</UserName><UserId>AIDADANA</UserId><Arn>arn:aws:iam::111122223333:user/dana</Arn><CreateDate>2020-01-01T00:00:00Z</CreateDate><GroupList/><AttachedManagedPolicies/><UserPolicyList><member><PolicyName>everything</PolicyName><PolicyDocument>{doc}</PolicyDocument></member></UserPolicyList></member></UserDetailList><GroupDetailList/><RoleDetailList/><Policies/><IsTruncated>false</IsTruncated>");
    let s = stub::start(move |req| {
        Some(match req.operation().as_str() {
            "GetCallerIdentity" => caller_identity(ACCT),
            "GenerateCredentialReport" => query_ok("GenerateCredentialReport", "<State>COMPLETE</State><Description>ready</Description>"),
            "GetCredentialReport" => query_ok("GetCredentialReport", &format!("<Content>{content}</Content><ReportFormat>text/csv</ReportFormat><GeneratedTime>2026-01-02T03:04:05Z</GeneratedTime>")),
            "GetAccountAuthorizationDetails" => query_ok("GetAccountAuthorizationDetails", &details),
            "GetAccountSummary" => query_ok("GetAccountSummary", SUMMARY_MFA_ON),
            "ListVirtualMFADevices" => query_ok("ListVirtualMFADevices", "<VirtualMFADevices><member><SerialNumber>arn:aws:iam::111122223333:mfa/root-account-mfa-device</SerialNumber><User><Path>/</Path><UserName>root</UserName><UserId>111122223333</UserId><Arn>arn:aws:iam::111122223333:root</Arn><CreateDate>2019-01-01T00:00:00Z</CreateDate></User></member></VirtualMFADevices><IsTruncated>false</IsTruncated>"),
            "GetAccountPasswordPolicy" => query_error(404, "NoSuchEntity", "The Password Policy with domain name 111122223333 cannot be found."),
            "DescribeTrails" => Reply::Http(200, "application/x-amz-json-1.1", "{\"trailList\":[]}".into()),
            "GET /v20180820/configuration/publicAccessBlock" => Reply::Http(404, "application/xml", "<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchPublicAccessBlockConfiguration</Code><Message>The public access block configuration was not found</Message></Error><RequestId>R</RequestId><HostId>H</HostId></ErrorResponse>".into()),
            op if op.starts_with("GET /") => Reply::Http(200, "application/xml", NO_BUCKETS.into()),
            _ => return None,
        })
    });
    let obs = AwsCollector::new(settings(&s.url))
        .collect(chrono::Utc::now())
        .await
        .unwrap();
    let iam: IamObservation = payload(&obs, "aws.iam", ACCT);
    let Reading::Ok(report) = &iam.credential_report else {
        panic!("{:?}", iam.credential_report)
    };
    assert_eq!(
        report.generated_at.to_rfc3339(),
        "2026-01-02T03:04:05+00:00"
    );
    assert!(report.rows[0].is_root());
    assert_eq!(
        report.rows[0].password_last_changed,
        ReportTime::NotSupported
    );
    assert_eq!(report.rows[1].password_last_used, ReportTime::NoInformation);

    assert_eq!(
        one(&obs, "aws_iam_console_users_mfa_enabled"),
        (Status::Fail, ReasonCode::AwsConsoleUserWithoutMfa)
    );
    assert_eq!(
        one(&obs, "aws_iam_privileged_users_mfa_enabled"),
        (Status::Fail, ReasonCode::AwsPrivilegedUserWithoutMfa)
    );
    assert_eq!(
        one(&obs, "aws_iam_root_hardware_mfa_enabled"),
        (Status::Fail, ReasonCode::AwsRootMfaVirtual)
    );
    assert_eq!(
        one(&obs, "aws_iam_password_policy_strong"),
        (Status::Fail, ReasonCode::AwsPasswordPolicyMissing)
    );
    assert_eq!(
        one(&obs, "aws_iam_access_keys_rotated"),
        (Status::Fail, ReasonCode::AwsAccessKeyTooOld)
    );
    assert_eq!(
        one(&obs, "aws_iam_unused_credentials_disabled"),
        (Status::Fail, ReasonCode::AwsCredentialUnused)
    );
    assert_eq!(
        one(&obs, "aws_s3_account_public_access_blocked"),
        (Status::Fail, ReasonCode::AwsS3AccountBlockIncomplete)
    );
    assert_eq!(
        one(&obs, "aws_cloudtrail_multi_region_logging"),
        (Status::Fail, ReasonCode::AwsNoTrails)
    );
}

/// A report that does not parse is an error, never a pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_credential_report_is_an_error() {
    let content = aws_smithy_types::base64::encode("user,arn\nonly,two\n");
    let s = stub::start(move |req| {
        Some(match req.operation().as_str() {
            "GetCallerIdentity" => caller_identity(ACCT),
            "GenerateCredentialReport" => query_ok("GenerateCredentialReport", "<State>COMPLETE</State>"),
            "GetCredentialReport" => query_ok("GetCredentialReport", &format!("<Content>{content}</Content><ReportFormat>text/csv</ReportFormat><GeneratedTime>2026-01-02T03:04:05Z</GeneratedTime>")),
            _ => return None,
        })
    });
    let obs = AwsCollector::new(settings(&s.url))
        .collect(chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        one(&obs, "aws_iam_console_users_mfa_enabled"),
        (Status::Error, ReasonCode::AwsMalformedResponse)
    );
    // Unserved calls (404 HTML) are errors too, not passes.
    assert_eq!(one(&obs, "aws_iam_root_mfa_enabled").0, Status::Error);
    assert_eq!(
        one(&obs, "aws_s3_buckets_default_encrypted").0,
        Status::Error
    );
}
