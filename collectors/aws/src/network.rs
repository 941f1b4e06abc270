//! Networks and web filtering: per covered region, one read of the VPCs,
//! security groups and flow logs (EC2), the Route 53 Resolver DNS Firewall
//! associations and the rules of the associated groups, and the AWS Network
//! Firewall firewalls. The four network checks all read this one observation.

use std::collections::BTreeSet;

use evident_policies::aws::network::{
    DnsFirewall, DnsFirewallAssociation, DnsFirewallRule, DnsFirewallRuleGroup, FlowLog,
    IngressRule, NetworkFirewall, NetworkObservation, RegionNetwork, SecurityGroup, Vpc,
};
use evident_policies::aws::Reading;
use futures_util::future::join_all;

use crate::error::{classify, malformed};
use crate::Ctx;

pub(crate) async fn observe(ctx: &Ctx) -> NetworkObservation {
    let regions = join_all(ctx.settings.regions.iter().map(|r| region(ctx, r))).await;
    NetworkObservation {
        account_id: ctx.account_id.clone(),
        partition: ctx.partition.clone(),
        settings: ctx.settings.network.clone(),
        regions,
    }
}

async fn region(ctx: &Ctx, region: &str) -> RegionNetwork {
    let conf = ctx.conf_in(region);
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let resolver = aws_sdk_route53resolver::Client::new(&conf);
    let nfw = aws_sdk_networkfirewall::Client::new(&conf);
    let (vpcs, security_groups, flow_logs, dns_firewall, network_firewalls) = tokio::join!(
        vpcs(&ec2, region),
        security_groups(&ec2, region),
        flow_logs(&ec2, region),
        dns_firewall(&resolver, region),
        network_firewalls(&nfw, region),
    );
    RegionNetwork {
        region: region.to_string(),
        vpcs,
        security_groups,
        flow_logs,
        dns_firewall,
        network_firewalls,
    }
}

async fn vpcs(client: &aws_sdk_ec2::Client, region: &str) -> Reading<Vec<Vpc>> {
    const OP: &str = "ec2:DescribeVpcs";
    let mut out = Vec::new();
    let mut pages = client.describe_vpcs().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) => return Reading::Error(classify(OP, region, &e)),
        };
        for v in page.vpcs() {
            let Some(id) = v.vpc_id() else {
                return Reading::Error(malformed(OP, region, "a VPC has no VpcId"));
            };
            out.push(Vpc {
                id: id.to_string(),
                is_default: v.is_default().unwrap_or(false),
            });
        }
    }
    Reading::Ok(out)
}

async fn security_groups(
    client: &aws_sdk_ec2::Client,
    region: &str,
) -> Reading<Vec<SecurityGroup>> {
    const OP: &str = "ec2:DescribeSecurityGroups";
    let mut out = Vec::new();
    let mut pages = client.describe_security_groups().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) => return Reading::Error(classify(OP, region, &e)),
        };
        for g in page.security_groups() {
            let Some(id) = g.group_id() else {
                return Reading::Error(malformed(OP, region, "a security group has no GroupId"));
            };
            let mut ingress = Vec::new();
            for p in g.ip_permissions() {
                let Some(protocol) = p.ip_protocol() else {
                    return Reading::Error(malformed(
                        OP,
                        region,
                        format!("an inbound rule of security group {id} has no IpProtocol"),
                    ));
                };
                ingress.push(IngressRule {
                    protocol: protocol.to_string(),
                    from_port: p.from_port(),
                    to_port: p.to_port(),
                    ipv4_ranges: p
                        .ip_ranges()
                        .iter()
                        .filter_map(|r| r.cidr_ip().map(str::to_string))
                        .collect(),
                    ipv6_ranges: p
                        .ipv6_ranges()
                        .iter()
                        .filter_map(|r| r.cidr_ipv6().map(str::to_string))
                        .collect(),
                    prefix_lists: p
                        .prefix_list_ids()
                        .iter()
                        .filter_map(|r| r.prefix_list_id().map(str::to_string))
                        .collect(),
                    groups: p
                        .user_id_group_pairs()
                        .iter()
                        .filter_map(|r| r.group_id().map(str::to_string))
                        .collect(),
                });
            }
            out.push(SecurityGroup {
                id: id.to_string(),
                name: g.group_name().unwrap_or_default().to_string(),
                vpc_id: g.vpc_id().map(str::to_string),
                ingress,
            });
        }
    }
    Reading::Ok(out)
}

async fn flow_logs(client: &aws_sdk_ec2::Client, region: &str) -> Reading<Vec<FlowLog>> {
    const OP: &str = "ec2:DescribeFlowLogs";
    let mut out = Vec::new();
    let mut pages = client.describe_flow_logs().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) => return Reading::Error(classify(OP, region, &e)),
        };
        for l in page.flow_logs() {
            let (Some(id), Some(resource)) = (l.flow_log_id(), l.resource_id()) else {
                return Reading::Error(malformed(
                    OP,
                    region,
                    "a flow log has no FlowLogId or ResourceId",
                ));
            };
            out.push(FlowLog {
                id: id.to_string(),
                resource_id: resource.to_string(),
                status: l.flow_log_status().map(str::to_string),
                deliver_logs_status: l.deliver_logs_status().map(str::to_string),
                traffic_type: l.traffic_type().map(|t| t.as_str().to_string()),
                destination_type: l.log_destination_type().map(|t| t.as_str().to_string()),
            });
        }
    }
    Reading::Ok(out)
}

async fn dns_firewall(
    client: &aws_sdk_route53resolver::Client,
    region: &str,
) -> Reading<DnsFirewall> {
    const OP: &str = "route53resolver:ListFirewallRuleGroupAssociations";
    let mut associations = Vec::new();
    let mut pages = client
        .list_firewall_rule_group_associations()
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) => return Reading::Error(classify(OP, region, &e)),
        };
        for a in page.firewall_rule_group_associations() {
            let (Some(id), Some(vpc), Some(group)) =
                (a.id(), a.vpc_id(), a.firewall_rule_group_id())
            else {
                return Reading::Error(malformed(
                    OP,
                    region,
                    "a rule group association has no Id, VpcId or FirewallRuleGroupId",
                ));
            };
            associations.push(DnsFirewallAssociation {
                id: id.to_string(),
                vpc_id: vpc.to_string(),
                rule_group_id: group.to_string(),
                name: a.name().map(str::to_string),
                priority: a.priority(),
                status: a.status().map(|s| s.as_str().to_string()),
            });
        }
    }
    // Each associated group once, however many VPCs share it.
    let groups: BTreeSet<&str> = associations
        .iter()
        .map(|a| a.rule_group_id.as_str())
        .collect();
    let rule_groups = join_all(groups.into_iter().map(|g| async move {
        DnsFirewallRuleGroup {
            id: g.to_string(),
            rules: rules_of(client, region, g).await,
        }
    }))
    .await;
    Reading::Ok(DnsFirewall {
        associations,
        rule_groups,
    })
}

async fn rules_of(
    client: &aws_sdk_route53resolver::Client,
    region: &str,
    group: &str,
) -> Reading<Vec<DnsFirewallRule>> {
    const OP: &str = "route53resolver:ListFirewallRules";
    let mut out = Vec::new();
    let mut pages = client
        .list_firewall_rules()
        .firewall_rule_group_id(group)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) => return Reading::Error(classify(OP, region, &e)),
        };
        for r in page.firewall_rules() {
            let Some(action) = r.action() else {
                return Reading::Error(malformed(
                    OP,
                    region,
                    format!("a rule of DNS Firewall rule group {group} has no Action"),
                ));
            };
            out.push(DnsFirewallRule {
                name: r.name().map(str::to_string),
                priority: r.priority(),
                action: action.as_str().to_string(),
            });
        }
    }
    Reading::Ok(out)
}

async fn network_firewalls(
    client: &aws_sdk_networkfirewall::Client,
    region: &str,
) -> Reading<Vec<NetworkFirewall>> {
    const LIST: &str = "network-firewall:ListFirewalls";
    const DESCRIBE: &str = "network-firewall:DescribeFirewall";
    let mut arns = Vec::new();
    let mut pages = client.list_firewalls().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) => return Reading::Error(classify(LIST, region, &e)),
        };
        for f in page.firewalls() {
            let Some(arn) = f.firewall_arn() else {
                return Reading::Error(malformed(LIST, region, "a firewall has no FirewallArn"));
            };
            arns.push(arn.to_string());
        }
    }
    let mut out = Vec::new();
    for arn in arns {
        let d = match client.describe_firewall().firewall_arn(&arn).send().await {
            Ok(d) => d,
            Err(e) => return Reading::Error(classify(DESCRIBE, region, &e)),
        };
        let (Some(fw), Some(status)) = (d.firewall(), d.firewall_status()) else {
            return Reading::Error(malformed(
                DESCRIBE,
                region,
                format!("firewall {arn} has no Firewall or FirewallStatus"),
            ));
        };
        let policy_arn = fw.firewall_policy_arn().to_string();
        let policy_name = policy_arn
            .rsplit_once(":firewall-policy/")
            .map(|(_, n)| n.to_string())
            .unwrap_or_else(|| policy_arn.clone());
        out.push(NetworkFirewall {
            name: fw
                .firewall_name()
                .map(str::to_string)
                .unwrap_or_else(|| arn.rsplit('/').next().unwrap_or(&arn).to_string()),
            arn: arn.clone(),
            vpc_id: Some(fw.vpc_id())
                .filter(|v| !v.is_empty())
                .map(str::to_string),
            policy_arn,
            policy_name,
            status: status.status().as_str().to_string(),
        });
    }
    Reading::Ok(out)
}
