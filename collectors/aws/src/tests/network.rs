//! Networks and web filtering. EC2 (VPCs, security groups, flow logs) and
//! AWS Network Firewall come from the real moto server, which serves them;
//! Route 53 Resolver DNS Firewall is not served by moto 5.2.5, so its
//! pass/fail cases come from the local stub (`super::stub`), which answers
//! with the JSON 1.1 shapes the Route 53 Resolver API reference documents
//! (ListFirewallRuleGroupAssociations, ListFirewallRules) and the EC2 query
//! XML shapes of the EC2 API reference.

use std::time::Duration;

use aws_sdk_ec2::types::{
    FlowLogsResourceType, IpPermission, IpRange, Ipv6Range, LogDestinationType, TrafficType,
};
use evident_policies::aws::iam::IamSettings;
use evident_policies::aws::network::NetworkObservation;
use evident_policies::aws::{AwsErrorKind, Reading};
use evident_policies::{Observation, ReasonCode, Status};

use super::moto::{
    findings, fresh_account, moto_url, payload, s3, seed_config, settings as moto_settings,
};
use super::stub::{self, caller_identity, Reply};
use crate::{AccountSpec, AwsCollector, AwsSettings};

const ACCT: &str = "111122223333";

/// `(resource, status, code)` of the finding on the resource ending in `suffix`.
fn on(list: &[(String, Status, ReasonCode)], suffix: &str) -> (Status, ReasonCode) {
    let hits: Vec<_> = list
        .iter()
        .filter(|(r, _, _)| r.ends_with(suffix))
        .collect();
    assert_eq!(hits.len(), 1, "{suffix}: {list:?}");
    (hits[0].1, hits[0].2)
}

async fn create_vpc(ec2: &aws_sdk_ec2::Client, cidr: &str) -> String {
    ec2.create_vpc()
        .cidr_block(cidr)
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_string()
}

async fn create_sg(ec2: &aws_sdk_ec2::Client, vpc: &str, name: &str, rule: IpPermission) -> String {
    let id = ec2
        .create_security_group()
        .group_name(name)
        .description("evident test")
        .vpc_id(vpc)
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();
    ec2.authorize_security_group_ingress()
        .group_id(&id)
        .ip_permissions(rule)
        .send()
        .await
        .unwrap();
    id
}

fn tcp(from: i32, to: i32, v4: Option<&str>, v6: Option<&str>) -> IpPermission {
    let mut p = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(from)
        .to_port(to);
    if let Some(c) = v4 {
        p = p.ip_ranges(IpRange::builder().cidr_ip(c).build());
    }
    if let Some(c) = v6 {
        p = p.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(c).build());
    }
    p.build()
}

/// Seeded in moto: a VPC with an active flow log to S3 and a Network Firewall;
/// a VPC whose flow log cannot deliver (its log group does not exist); the
/// default VPC with neither; security groups open to the world on 22, on a
/// range covering 3389 (IPv6), on all traffic, and on 443 only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_checks_on_a_seeded_moto_account() {
    let acct = fresh_account();
    let conf = seed_config(&acct).await;
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let logged = create_vpc(&ec2, "10.1.0.0/16").await;
    let failing = create_vpc(&ec2, "10.2.0.0/16").await;
    let bucket = format!("flow-logs-{acct}");
    s3(&conf)
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    ec2.create_flow_logs()
        .resource_type(FlowLogsResourceType::Vpc)
        .resource_ids(&logged)
        .traffic_type(TrafficType::All)
        .log_destination_type(LogDestinationType::S3)
        .log_destination(format!("arn:aws:s3:::{bucket}"))
        .send()
        .await
        .unwrap();
    ec2.create_flow_logs()
        .resource_type(FlowLogsResourceType::Vpc)
        .resource_ids(&failing)
        .traffic_type(TrafficType::All)
        .log_destination_type(LogDestinationType::CloudWatchLogs)
        .log_group_name("no-such-group")
        .deliver_logs_permission_arn(format!("arn:aws:iam::{acct}:role/flow-logs"))
        .send()
        .await
        .unwrap();
    let ssh = create_sg(&ec2, &logged, "ssh", tcp(22, 22, Some("0.0.0.0/0"), None)).await;
    let rdp6 = create_sg(&ec2, &logged, "range", tcp(3000, 4000, None, Some("::/0"))).await;
    let all = create_sg(
        &ec2,
        &failing,
        "all",
        IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build(),
    )
    .await;
    let web = create_sg(&ec2, &logged, "web", tcp(443, 443, Some("0.0.0.0/0"), None)).await;
    let private = create_sg(
        &ec2,
        &logged,
        "admin-net",
        tcp(22, 22, Some("10.0.0.0/8"), None),
    )
    .await;
    aws_sdk_networkfirewall::Client::new(&conf)
        .create_firewall()
        .firewall_name("edge")
        .firewall_policy_arn(format!(
            "arn:aws:network-firewall:us-east-1:{acct}:firewall-policy/egress-filter"
        ))
        .vpc_id(&logged)
        .subnet_mappings(
            aws_sdk_networkfirewall::types::SubnetMapping::builder()
                .subnet_id("subnet-00000001")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let obs = AwsCollector::new(moto_settings(&[&acct]))
        .collect(chrono::Utc::now())
        .await
        .unwrap();
    let net: NetworkObservation = payload(&obs, "aws.network", &acct);
    assert_eq!(net.regions.len(), 1);
    let Reading::Ok(vpcs) = &net.regions[0].vpcs else {
        panic!("{:?}", net.regions[0].vpcs)
    };
    assert!(vpcs.iter().any(|v| v.is_default), "{vpcs:?}");
    let default_vpc = vpcs.iter().find(|v| v.is_default).unwrap().id.clone();
    let Reading::Ok(fws) = &net.regions[0].network_firewalls else {
        panic!("{:?}", net.regions[0].network_firewalls)
    };
    assert_eq!(fws[0].policy_name, "egress-filter");

    let vpc_arn = |id: &str| format!("arn:aws:ec2:us-east-1:{acct}:vpc/{id}");
    let sg_arn = |id: &str| format!("arn:aws:ec2:us-east-1:{acct}:security-group/{id}");

    let sgs = findings(
        &obs,
        &acct,
        "aws_ec2_security_groups_admin_ports_restricted",
    );
    let open = (Status::Fail, ReasonCode::AwsSecurityGroupAdminPortOpen);
    let closed = (
        Status::Pass,
        ReasonCode::AwsSecurityGroupAdminPortsRestricted,
    );
    assert_eq!(on(&sgs, &sg_arn(&ssh)), open);
    assert_eq!(on(&sgs, &sg_arn(&rdp6)), open);
    assert_eq!(on(&sgs, &sg_arn(&all)), open);
    assert_eq!(on(&sgs, &sg_arn(&web)), closed);
    assert_eq!(on(&sgs, &sg_arn(&private)), closed);
    // The default groups moto creates for each VPC allow only their own members.
    assert!(
        sgs.iter().filter(|(_, s, _)| *s == Status::Fail).count() == 3,
        "{sgs:?}"
    );

    let flow = findings(&obs, &acct, "aws_vpc_flow_logs_enabled");
    assert_eq!(
        on(&flow, &vpc_arn(&logged)),
        (Status::Pass, ReasonCode::AwsVpcFlowLogsActive)
    );
    assert_eq!(
        on(&flow, &vpc_arn(&failing)),
        (Status::Fail, ReasonCode::AwsVpcFlowLogsInactive)
    );
    assert_eq!(
        on(&flow, &vpc_arn(&default_vpc)),
        (Status::Fail, ReasonCode::AwsVpcFlowLogsMissing)
    );

    let nfw = findings(&obs, &acct, "aws_vpc_network_firewall_present");
    assert_eq!(
        on(&nfw, &vpc_arn(&logged)),
        (Status::Pass, ReasonCode::AwsNetworkFirewallPresent)
    );
    assert_eq!(
        on(&nfw, &vpc_arn(&failing)),
        (Status::Fail, ReasonCode::AwsNetworkFirewallAbsent)
    );

    // moto does not serve DNS Firewall: an error for every VPC, never a pass.
    let dns = findings(&obs, &acct, "aws_vpc_dns_firewall_blocking");
    assert_eq!(dns.len(), vpcs.len(), "{dns:?}");
    assert!(dns.iter().all(|(_, s, _)| *s == Status::Error), "{dns:?}");
    let Reading::Error(e) = &net.regions[0].dns_firewall else {
        panic!("{:?}", net.regions[0].dns_firewall)
    };
    assert_eq!(
        e.operation,
        "route53resolver:ListFirewallRuleGroupAssociations"
    );
}

fn stub_settings(url: &str, regions: &[&str]) -> AwsSettings {
    // Base credentials come from the environment set by the moto harness.
    let _ = moto_url();
    AwsSettings {
        accounts: vec![AccountSpec {
            profile: None,
            role_arn: None,
            external_id_env: None,
            external_id_file: None,
        }],
        organization: None,
        regions: regions.iter().map(|r| r.to_string()).collect(),
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

const EC2_NS: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";
const RID: &str = "<requestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</requestId>";

/// An EC2 query-protocol answer (`<{op}Response>` with the request id).
fn ec2_ok(op: &str, inner: &str) -> Reply {
    Reply::Http(
        200,
        "text/xml;charset=UTF-8",
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><{op}Response xmlns=\"{EC2_NS}\">{RID}{inner}</{op}Response>"),
    )
}

/// An EC2 error (`<Response><Errors><Error>…`), as the EC2 API reference documents it.
fn ec2_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::Http(
        status,
        "text/xml;charset=UTF-8",
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestID></Response>"),
    )
}

fn vpc_set(ids: &[&str]) -> String {
    let items: String = ids
        .iter()
        .map(|id| format!("<item><vpcId>{id}</vpcId><state>available</state><cidrBlock>10.0.0.0/16</cidrBlock><dhcpOptionsId>dopt-7a8b9c2d</dhcpOptionsId><instanceTenancy>default</instanceTenancy><isDefault>false</isDefault><ownerId>{ACCT}</ownerId></item>"))
        .collect();
    format!("<vpcSet>{items}</vpcSet>")
}

fn json11(body: &str) -> Reply {
    Reply::Http(200, "application/x-amz-json-1.1", body.to_string())
}

fn json_error(status: u16, kind: &str, message: &str) -> Reply {
    Reply::Http(
        status,
        "application/x-amz-json-1.1",
        format!("{{\"__type\":\"{kind}\",\"message\":\"{message}\"}}"),
    )
}

fn association(id: &str, vpc: &str, group: &str) -> String {
    format!(
        "{{\"Id\":\"{id}\",\"Arn\":\"arn:aws:route53resolver:us-east-1:{ACCT}:firewall-rule-group-association/{id}\",\"FirewallRuleGroupId\":\"{group}\",\"VpcId\":\"{vpc}\",\"Name\":\"assoc-{vpc}\",\"Priority\":101,\"MutationProtection\":\"DISABLED\",\"Status\":\"COMPLETE\",\"StatusMessage\":\"Finished rule group association update\",\"CreatorRequestId\":\"2021-05-25 21:40:46.546\",\"CreationTime\":\"2021-05-25T21:47:48.755768Z\",\"ModificationTime\":\"2021-05-25T21:47:48.755768Z\"}}"
    )
}

fn rule(group: &str, name: &str, priority: u32, action: &str) -> String {
    format!(
        "{{\"FirewallRuleGroupId\":\"{group}\",\"FirewallDomainListId\":\"rslvr-fdl-9e956e9ffEXAMPLE\",\"Name\":\"{name}\",\"Priority\":{priority},\"Action\":\"{action}\",\"CreatorRequestId\":\"2021-05-25 21:40:46.546\",\"CreationTime\":\"2021-05-25T21:44:00.346093Z\",\"ModificationTime\":\"2021-05-25T21:44:00.346093Z\"}}"
    )
}

fn one(obs: &[Observation], check: &str) -> Vec<(String, Status, ReasonCode)> {
    findings(obs, ACCT, check)
}

/// DNS Firewall verdicts per VPC from the documented response shapes: a VPC
/// whose group has a BLOCK rule passes (rules on a second page, after a
/// NextToken), one whose group only allows and alerts fails, one with no
/// association fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_firewall_verdicts_from_documented_shapes() {
    let s = stub::start(|req| {
        let body = req.body.as_str();
        Some(match req.operation().as_str() {
            "GetCallerIdentity" => caller_identity(ACCT),
            "DescribeVpcs" => ec2_ok(
                "DescribeVpcs",
                &vpc_set(&["vpc-block", "vpc-alert", "vpc-none"]),
            ),
            "DescribeSecurityGroups" => ec2_ok("DescribeSecurityGroups", "<securityGroupInfo/>"),
            "DescribeFlowLogs" => ec2_ok("DescribeFlowLogs", "<flowLogSet/>"),
            "ListFirewalls" => Reply::Http(
                200,
                "application/x-amz-json-1.0",
                "{\"Firewalls\":[]}".into(),
            ),
            "ListFirewallRuleGroupAssociations" if body.contains("page-2") => json11(&format!(
                "{{\"FirewallRuleGroupAssociations\":[{}]}}",
                association("rslvr-frgassoc-2", "vpc-alert", "rslvr-frg-alert")
            )),
            "ListFirewallRuleGroupAssociations" => json11(&format!(
                "{{\"FirewallRuleGroupAssociations\":[{}],\"NextToken\":\"page-2\"}}",
                association("rslvr-frgassoc-1", "vpc-block", "rslvr-frg-block")
            )),
            "ListFirewallRules" if body.contains("rslvr-frg-block") && body.contains("rules-2") => {
                json11(&format!(
                    "{{\"FirewallRules\":[{}]}}",
                    rule("rslvr-frg-block", "block-malware", 200, "BLOCK")
                ))
            }
            "ListFirewallRules" if body.contains("rslvr-frg-block") => json11(&format!(
                "{{\"FirewallRules\":[{}],\"NextToken\":\"rules-2\"}}",
                rule("rslvr-frg-block", "allow-corp", 100, "ALLOW")
            )),
            "ListFirewallRules" if body.contains("rslvr-frg-alert") => json11(&format!(
                "{{\"FirewallRules\":[{},{}]}}",
                rule("rslvr-frg-alert", "allow-corp", 100, "ALLOW"),
                rule("rslvr-frg-alert", "alert-all", 200, "ALERT")
            )),
            _ => return None,
        })
    });
    let obs = AwsCollector::new(stub_settings(&s.url, &["us-east-1"]))
        .collect(chrono::Utc::now())
        .await
        .unwrap();
    let dns = one(&obs, "aws_vpc_dns_firewall_blocking");
    let arn = |v: &str| format!("arn:aws:ec2:us-east-1:{ACCT}:vpc/{v}");
    assert_eq!(
        on(&dns, &arn("vpc-block")),
        (Status::Pass, ReasonCode::AwsDnsFirewallBlocking)
    );
    assert_eq!(
        on(&dns, &arn("vpc-alert")),
        (Status::Fail, ReasonCode::AwsDnsFirewallNotBlocking)
    );
    assert_eq!(
        on(&dns, &arn("vpc-none")),
        (Status::Fail, ReasonCode::AwsDnsFirewallAbsent)
    );
    let net: NetworkObservation = payload(&obs, "aws.network", ACCT);
    let Reading::Ok(fw) = &net.regions[0].dns_firewall else {
        panic!("{:?}", net.regions[0].dns_firewall)
    };
    assert_eq!(fw.associations.len(), 2);
    let block = fw
        .rule_groups
        .iter()
        .find(|g| g.id == "rslvr-frg-block")
        .unwrap();
    assert!(
        matches!(&block.rules, Reading::Ok(r) if r.len() == 2),
        "{block:?}"
    );
    // The other checks decided on the same read.
    assert_eq!(
        on(&one(&obs, "aws_vpc_flow_logs_enabled"), &arn("vpc-none")).1,
        ReasonCode::AwsVpcFlowLogsMissing
    );
    assert_eq!(
        one(&obs, "aws_ec2_security_groups_admin_ports_restricted")[0].1,
        Status::NotApplicable
    );
}

/// Faults on the network calls, each an `error` with its reason while the
/// calls that worked still decide: in us-east-1 DescribeSecurityGroups is
/// throttled (RequestLimitExceeded), DescribeFlowLogs answers a 5xx HTML page,
/// ListFirewallRules a malformed body and ListFirewalls nothing in time; in
/// eu-west-1 DescribeVpcs is denied (UnauthorizedOperation) and
/// ListFirewallRuleGroupAssociations is throttled (JSON ThrottlingException).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_faults_are_errors_and_the_rest_decides() {
    let s = stub::start(|req| {
        let eu = req
            .headers
            .get("authorization")
            .is_some_and(|a| a.contains("/eu-west-1/"));
        Some(match (eu, req.operation().as_str()) {
            (_, "GetCallerIdentity") => caller_identity(ACCT),
            (false, "DescribeVpcs") => ec2_ok("DescribeVpcs", &vpc_set(&["vpc-1"])),
            (true, "DescribeVpcs") => ec2_error(403, "UnauthorizedOperation", "You are not authorized to perform this operation."),
            (false, "DescribeSecurityGroups") => ec2_error(503, "RequestLimitExceeded", "Request limit exceeded."),
            (true, "DescribeSecurityGroups") => ec2_ok("DescribeSecurityGroups", &format!(
                "<securityGroupInfo><item><ownerId>{ACCT}</ownerId><groupId>sg-903004f8</groupId><groupName>ssh</groupName><groupDescription>ssh</groupDescription><vpcId>vpc-eu</vpcId><ipPermissions><item><ipProtocol>tcp</ipProtocol><fromPort>22</fromPort><toPort>22</toPort><groups/><ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges><ipv6Ranges/><prefixListIds/></item></ipPermissions><ipPermissionsEgress/></item></securityGroupInfo>"
            )),
            (false, "DescribeFlowLogs") => Reply::Http(500, "text/html", "<html><body>Internal Server Error</body></html>".into()),
            (true, "DescribeFlowLogs") => ec2_ok("DescribeFlowLogs", "<flowLogSet/>"),
            (false, "ListFirewallRuleGroupAssociations") => json11(&format!(
                "{{\"FirewallRuleGroupAssociations\":[{}]}}",
                association("rslvr-frgassoc-1", "vpc-1", "rslvr-frg-1")
            )),
            (true, "ListFirewallRuleGroupAssociations") => json_error(400, "ThrottlingException", "Rate exceeded"),
            (_, "ListFirewallRules") => json11("{\"FirewallRules\":[{\"Action\":"),
            (false, "ListFirewalls") => Reply::Silence(Duration::from_secs(4)),
            (true, "ListFirewalls") => Reply::Http(200, "application/x-amz-json-1.0", "{\"Firewalls\":[]}".into()),
            _ => return None,
        })
    });
    let obs = AwsCollector::new(stub_settings(&s.url, &["us-east-1", "eu-west-1"]))
        .collect(chrono::Utc::now())
        .await
        .unwrap();
    let vpc1 = format!("arn:aws:ec2:us-east-1:{ACCT}:vpc/vpc-1");
    let root = format!("arn:aws:iam::{ACCT}:root");
    let codes = |check: &str| -> Vec<(String, Status, ReasonCode)> { one(&obs, check) };

    assert_eq!(
        codes("aws_ec2_security_groups_admin_ports_restricted"),
        vec![
            (root.clone(), Status::Error, ReasonCode::AwsThrottled),
            (
                format!("arn:aws:ec2:eu-west-1:{ACCT}:security-group/sg-903004f8"),
                Status::Fail,
                ReasonCode::AwsSecurityGroupAdminPortOpen
            ),
        ]
    );
    assert_eq!(
        codes("aws_vpc_flow_logs_enabled"),
        vec![
            (vpc1.clone(), Status::Error, ReasonCode::AwsServiceError),
            (root.clone(), Status::Error, ReasonCode::AwsAccessDenied),
        ]
    );
    assert_eq!(
        codes("aws_vpc_dns_firewall_blocking"),
        vec![
            (
                vpc1.clone(),
                Status::Error,
                ReasonCode::AwsMalformedResponse
            ),
            (root.clone(), Status::Error, ReasonCode::AwsAccessDenied),
        ]
    );
    assert_eq!(
        codes("aws_vpc_network_firewall_present"),
        vec![
            (vpc1, Status::Error, ReasonCode::AwsTimeout),
            (root, Status::Error, ReasonCode::AwsAccessDenied),
        ]
    );

    let net: NetworkObservation = payload(&obs, "aws.network", ACCT);
    let Reading::Error(e) = &net.regions[1].vpcs else {
        panic!("{:?}", net.regions[1].vpcs)
    };
    assert_eq!(e.kind, AwsErrorKind::AccessDenied);
    assert_eq!(e.code.as_deref(), Some("UnauthorizedOperation"));
    assert_eq!(
        (e.operation.as_str(), e.region.as_str()),
        ("ec2:DescribeVpcs", "eu-west-1")
    );
    let Reading::Error(e) = &net.regions[1].dns_firewall else {
        panic!("{:?}", net.regions[1].dns_firewall)
    };
    assert_eq!(e.kind, AwsErrorKind::Throttled);
    // The reason of an error finding says which call failed where.
    let f = (evident_policies::check("aws_vpc_flow_logs_enabled")
        .unwrap()
        .evaluate)(obs.iter().find(|o| o.source == "aws.network").unwrap());
    assert!(
        f[0].reason.contains("ec2:DescribeFlowLogs in us-east-1"),
        "{}",
        f[0].reason
    );
}
