//! Faults and APIs moto does not serve faithfully, through the local stub
//! (`super::stub`), which answers with the shapes AWS documents.

use std::time::Duration;

use evident_policies::aws::iam::{
    IamObservation, IamSettings, ReportTime, RootCredentialsManagement,
};
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
        backup: Default::default(),
        config_recorder: Default::default(),
        network: Default::default(),
    }
}

const SUMMARY_MFA_ON: &str = "<SummaryMap><entry><key>AccountMFAEnabled</key><value>1</value></entry><entry><key>AccountAccessKeysPresent</key><value>0</value></entry><entry><key>Users</key><value>2</value></entry></SummaryMap>";

const ACCOUNT_BLOCK_ALL: &str = "<PublicAccessBlockConfiguration xmlns=\"http://awss3control.amazonaws.com/doc/2018-08-20/\"><BlockPublicAcls>true</BlockPublicAcls><IgnorePublicAcls>true</IgnorePublicAcls><BlockPublicPolicy>true</BlockPublicPolicy><RestrictPublicBuckets>true</RestrictPublicBuckets></PublicAccessBlockConfiguration>";

const NO_BUCKETS: &str = "<ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>abc</ID></Owner><Buckets></Buckets></ListAllMyBucketsResult>";

/// One collection, now, of the stub's account at `url`.
async fn collect(url: &str) -> Vec<Observation> {
    AwsCollector::new(settings(url))
        .collect(chrono::Utc::now())
        .await
        .unwrap()
}

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
    let obs = collect(&s.url).await;
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
    let obs = collect(&s.url).await;
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
    let obs = collect(&s.url).await;
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

// --- Centralized root access (IAM ListOrganizationsFeatures) -----------------
// moto answers ListOrganizationsFeatures with 500 NotImplemented and its
// account summary has no root credential flags of note, so these tests use
// the stub with the shapes of the IAM API reference (ListOrganizationsFeatures,
// GetAccountSummary), the Organizations API reference (ListAccounts,
// DescribeOrganization) and STS (AssumeRole).

const ORG: &str = "o-aa111bb222";
const MANAGEMENT: &str = "999988887777";

/// The access key id in a SigV4 `Authorization` header.
fn access_key(req: &stub::Request) -> String {
    req.headers
        .get("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').next())
        .unwrap_or_default()
        .to_string()
}

fn summary(mfa: u8, keys: u8, certs: u8) -> Reply {
    query_ok(
        "GetAccountSummary",
        &format!("<SummaryMap><entry><key>AccountMFAEnabled</key><value>{mfa}</value></entry><entry><key>AccountAccessKeysPresent</key><value>{keys}</value></entry><entry><key>AccountSigningCertificatesPresent</key><value>{certs}</value></entry><entry><key>Users</key><value>0</value></entry></SummaryMap>"),
    )
}

fn features_enabled() -> Reply {
    query_ok(
        "ListOrganizationsFeatures",
        &format!("<OrganizationId>{ORG}</OrganizationId><EnabledFeatures><member>RootCredentialsManagement</member><member>RootSessions</member></EnabledFeatures>"),
    )
}

fn not_management() -> Reply {
    query_error(
        400,
        "AccountNotManagementOrDelegatedAdministratorException",
        "The request was rejected because the account making the request is not the management account or delegated administrator account for centralized root access.",
    )
}

fn json(body: String) -> Reply {
    Reply::Http(200, "application/x-amz-json-1.1", body)
}

fn describe_organization() -> Reply {
    json(format!("{{\"Organization\":{{\"Id\":\"{ORG}\",\"Arn\":\"arn:aws:organizations::{MANAGEMENT}:organization/{ORG}\",\"FeatureSet\":\"ALL\",\"MasterAccountArn\":\"arn:aws:organizations::{MANAGEMENT}:account/{ORG}/{MANAGEMENT}\",\"MasterAccountId\":\"{MANAGEMENT}\",\"MasterAccountEmail\":\"management@example.invalid\"}}}}"))
}

/// The root findings of one account: (MFA, hardware MFA, access keys).
fn root_verdicts(obs: &[Observation], account: &str) -> [(Status, ReasonCode); 3] {
    let one = |check: &str| {
        let f = findings(obs, account, check);
        assert_eq!(f.len(), 1, "{check}: {f:?}");
        assert_eq!(f[0].0, format!("arn:aws:iam::{account}:root"));
        (f[0].1, f[0].2)
    };
    [
        one("aws_iam_root_mfa_enabled"),
        one("aws_iam_root_hardware_mfa_enabled"),
        one("aws_iam_root_access_keys_absent"),
    ]
}

/// A delegated administrator for centralized root access (its own
/// ListOrganizationsFeatures works, DescribeOrganization names another
/// management account) whose root holds nothing: root MFA does not apply.
/// The same account with a root access key fails the key check and both MFA
/// checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn central_root_management_seen_by_a_delegated_administrator() {
    for keys in [0, 1] {
        let s = stub::start(move |req| {
            Some(match req.operation().as_str() {
                "GetCallerIdentity" => caller_identity(ACCT),
                "GetAccountSummary" => summary(0, keys, 0),
                "ListOrganizationsFeatures" => features_enabled(),
                "DescribeOrganization" => describe_organization(),
                _ => return None,
            })
        });
        let obs = collect(&s.url).await;
        let got = root_verdicts(&obs, ACCT);
        if keys == 0 {
            assert_eq!(
                got,
                [
                    (
                        Status::NotApplicable,
                        ReasonCode::AwsRootCredentialsCentrallyManaged
                    ),
                    (
                        Status::NotApplicable,
                        ReasonCode::AwsRootCredentialsCentrallyManaged
                    ),
                    (Status::Pass, ReasonCode::AwsRootAccessKeysAbsent),
                ]
            );
            let iam: IamObservation = payload(&obs, "aws.iam", ACCT);
            assert!(
                matches!(&iam.root_credentials_management, Reading::Ok(RootCredentialsManagement::CentralMember { organization_id, .. }) if organization_id == ORG),
                "{:?}",
                iam.root_credentials_management
            );
        } else {
            assert_eq!(
                got,
                [
                    (Status::Fail, ReasonCode::AwsRootMfaDisabled),
                    (Status::Fail, ReasonCode::AwsRootMfaDisabled),
                    (Status::Fail, ReasonCode::AwsRootAccessKeysPresent),
                ]
            );
        }
    }
}

/// Organization discovery from the management account: the member, which
/// may not call ListOrganizationsFeatures itself, gets the management
/// account's view (RootCredentialsManagement on) and its credential-less root
/// is not_applicable; the management account's own root, also without MFA,
/// still fails (its root is never managed centrally). With the discovering
/// account's ListOrganizationsFeatures denied, the member fails too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn central_root_management_through_discovery_and_its_denial() {
    for denied in [false, true] {
        let s = stub::start(move |req| {
            let key = access_key(req);
            // Assumed-role keys name the account: ASIA<account id>.
            let caller = key.strip_prefix("ASIA").unwrap_or(MANAGEMENT).to_string();
            Some(match req.operation().as_str() {
                "GetCallerIdentity" => caller_identity(&caller),
                "AssumeRole" => {
                    let account = req
                        .body
                        .split("RoleArn=arn%3Aaws%3Aiam%3A%3A")
                        .nth(1)
                        .map(|r| r[..12].to_string())
                        .unwrap_or_default();
                    query_ok("AssumeRole", &format!("<Credentials><AccessKeyId>ASIA{account}</AccessKeyId><SecretAccessKey>assumed-secret</SecretAccessKey><SessionToken>assumed-token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROAEXAMPLE:evident</AssumedRoleId><Arn>arn:aws:sts::{account}:assumed-role/EvidentReadOnly/evident</Arn></AssumedRoleUser>"))
                }
                "ListAccounts" => json(format!("{{\"Accounts\":[{{\"Id\":\"{ACCT}\",\"Arn\":\"arn:aws:organizations::{MANAGEMENT}:account/{ORG}/{ACCT}\",\"Email\":\"member@example.invalid\",\"Name\":\"member\",\"Status\":\"ACTIVE\",\"State\":\"ACTIVE\"}},{{\"Id\":\"{MANAGEMENT}\",\"Arn\":\"arn:aws:organizations::{MANAGEMENT}:account/{ORG}/{MANAGEMENT}\",\"Email\":\"management@example.invalid\",\"Name\":\"management\",\"Status\":\"ACTIVE\",\"State\":\"ACTIVE\"}}]}}")),
                "DescribeOrganization" => describe_organization(),
                "GetAccountSummary" => summary(0, 0, 0),
                "ListOrganizationsFeatures" if caller == ACCT => not_management(),
                "ListOrganizationsFeatures" if denied => query_error(403, "AccessDenied", "User: arn:aws:iam::999988887777:user/evident is not authorized to perform: iam:ListOrganizationsFeatures"),
                "ListOrganizationsFeatures" => features_enabled(),
                _ => return None,
            })
        });
        let mut st = settings(&s.url);
        st.accounts.clear();
        st.organization = Some(crate::OrganizationDiscovery {
            role_name: "EvidentReadOnly".into(),
            external_id_env: None,
            external_id_file: None,
        });
        let obs = AwsCollector::new(st)
            .collect(chrono::Utc::now())
            .await
            .unwrap();
        let member = root_verdicts(&obs, ACCT);
        let management = root_verdicts(&obs, MANAGEMENT);
        if denied {
            assert_eq!(member[0], (Status::Fail, ReasonCode::AwsRootMfaDisabled));
            assert_eq!(member[1], (Status::Fail, ReasonCode::AwsRootMfaDisabled));
            let iam: IamObservation = payload(&obs, "aws.iam", ACCT);
            let Reading::Error(e) = &iam.root_credentials_management else {
                panic!("{:?}", iam.root_credentials_management)
            };
            assert_eq!(e.code.as_deref(), Some("AccessDenied"));
        } else {
            assert_eq!(
                member[0],
                (
                    Status::NotApplicable,
                    ReasonCode::AwsRootCredentialsCentrallyManaged
                )
            );
            let f = evident_policies::check("aws_iam_root_mfa_enabled").unwrap();
            let o = obs
                .iter()
                .find(|o| o.source == "aws.iam" && o.target.id == ACCT)
                .unwrap();
            let reason = &(f.evaluate)(o)[0].reason;
            assert!(
                reason.contains(&format!("the discovering account {MANAGEMENT}")),
                "{reason}"
            );
        }
        assert_eq!(
            management[0],
            (Status::Fail, ReasonCode::AwsRootMfaDisabled),
            "the management account's root is never exempt"
        );
        assert_eq!(
            management[2],
            (Status::Pass, ReasonCode::AwsRootAccessKeysAbsent)
        );
    }
}

/// A member collected on its own (no discovery) cannot see the setting, and
/// a denied ListOrganizationsFeatures is recorded as the error: root without
/// MFA fails in both cases, it never passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_without_the_organization_view_or_denied_is_not_exempt() {
    for denied in [false, true] {
        let s = stub::start(move |req| {
            Some(match req.operation().as_str() {
                "GetCallerIdentity" => caller_identity(ACCT),
                "GetAccountSummary" => summary(0, 0, 0),
                "ListOrganizationsFeatures" if denied => query_error(
                    403,
                    "AccessDenied",
                    "not authorized to perform: iam:ListOrganizationsFeatures",
                ),
                "ListOrganizationsFeatures" => not_management(),
                _ => return None,
            })
        });
        let obs = collect(&s.url).await;
        let got = root_verdicts(&obs, ACCT);
        assert_eq!(got[0], (Status::Fail, ReasonCode::AwsRootMfaDisabled));
        assert_eq!(got[1], (Status::Fail, ReasonCode::AwsRootMfaDisabled));
        let iam: IamObservation = payload(&obs, "aws.iam", ACCT);
        if denied {
            assert!(
                matches!(&iam.root_credentials_management, Reading::Error(e) if e.kind == evident_policies::aws::AwsErrorKind::AccessDenied),
                "{:?}",
                iam.root_credentials_management
            );
        } else {
            assert!(
                matches!(
                    &iam.root_credentials_management,
                    Reading::Ok(RootCredentialsManagement::Unknown { .. })
                ),
                "{:?}",
                iam.root_credentials_management
            );
        }
    }
}

/// An answer to GetAccountAuthorizationDetails without its lists (HTTP 200,
/// an empty result element) is unreadable: the privileged-users check is
/// `error`, never "no IAM user has full administrative access". IAM sends
/// the lists it was asked for even when they are empty, as the stub does in
/// the documented-shape test above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_details_without_their_lists_are_an_error_not_a_pass() {
    let s = stub::start(|req| {
        Some(match req.operation().as_str() {
            "GetCallerIdentity" => caller_identity(ACCT),
            "GetAccountAuthorizationDetails" => query_ok("GetAccountAuthorizationDetails", ""),
            _ => return None,
        })
    });
    let obs = collect(&s.url).await;
    let iam: IamObservation = payload(&obs, "aws.iam", ACCT);
    let Reading::Error(e) = &iam.privileged_users else {
        panic!("{:?}", iam.privileged_users)
    };
    assert_eq!(e.operation, "iam:GetAccountAuthorizationDetails");
    assert!(e.message.contains("UserDetailList"), "{e:?}");
    let (status, _) = one(&obs, "aws_iam_privileged_users_mfa_enabled");
    assert_eq!(status, Status::Error);
}
