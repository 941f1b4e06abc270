//! Network and web filtering in AWS: security groups open to the world on
//! administrative ports, VPC flow logs, Route 53 Resolver DNS Firewall rule
//! groups that block, and AWS Network Firewall per VPC. The `aws.network`
//! observation and its checks.
//!
//! The collector reads each covered region once (VPCs, security groups, flow
//! logs, DNS Firewall associations with their rule groups' rules, Network
//! Firewall firewalls) and every check reads that one observation. Findings
//! are per VPC or per security group, named by the ARNs AWS documents
//! (`arn:<partition>:ec2:<region>:<account>:vpc/<id>` and
//! `…:security-group/<id>`); a region with no VPC is `not_applicable`; a read
//! that failed is `error` for every resource that needed it.

use serde::{Deserialize, Serialize};

use super::{account_arn, error_finding, AwsError, Reading};
use crate::model::{Check, CheckMeta, Finding, Observation, Severity, Status};
use crate::reason::ReasonCode;

/// The observation source of these checks.
pub const SOURCE: &str = "aws.network";

/// Settings of the network checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkSettings {
    /// TCP ports of remote administration that no security group may open to
    /// the world (`0.0.0.0/0` or `::/0`); a rule for all protocols (`-1`) or a
    /// TCP port range covering one of them counts as opening it.
    pub admin_ports: Vec<u16>,
}

/// The default administrative ports: SSH, Telnet, the Docker API (plain and
/// TLS), RDP, VNC, WinRM (HTTP and HTTPS) and the Kubernetes API server.
pub const DEFAULT_ADMIN_PORTS: &[u16] = &[22, 23, 2375, 2376, 3389, 5900, 5985, 5986, 6443];

impl Default for NetworkSettings {
    fn default() -> Self {
        NetworkSettings {
            admin_ports: DEFAULT_ADMIN_PORTS.to_vec(),
        }
    }
}

/// What the AWS collector read of one account's networks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkObservation {
    /// The account id.
    pub account_id: String,
    /// The partition.
    pub partition: String,
    /// The settings the checks apply (recorded with the evidence).
    pub settings: NetworkSettings,
    /// One entry per covered region.
    pub regions: Vec<RegionNetwork>,
}

/// The networks of one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionNetwork {
    /// The region.
    pub region: String,
    /// The VPCs (DescribeVpcs).
    pub vpcs: Reading<Vec<Vpc>>,
    /// The security groups (DescribeSecurityGroups).
    pub security_groups: Reading<Vec<SecurityGroup>>,
    /// The flow logs (DescribeFlowLogs).
    pub flow_logs: Reading<Vec<FlowLog>>,
    /// Route 53 Resolver DNS Firewall: associations and the rules of the associated groups.
    pub dns_firewall: Reading<DnsFirewall>,
    /// AWS Network Firewall firewalls (ListFirewalls, then DescribeFirewall for each).
    pub network_firewalls: Reading<Vec<NetworkFirewall>>,
}

/// One VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vpc {
    /// `VpcId`.
    pub id: String,
    /// `IsDefault`: the region's default VPC.
    pub is_default: bool,
}

/// One security group and its inbound rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroup {
    /// `GroupId`.
    pub id: String,
    /// `GroupName`.
    pub name: String,
    /// `VpcId`.
    pub vpc_id: Option<String>,
    /// `IpPermissions`: the inbound rules.
    pub ingress: Vec<IngressRule>,
}

/// One inbound rule (`IpPermission`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressRule {
    /// `IpProtocol`: `tcp`, `udp`, `icmp`, `icmpv6`, a protocol number, or `-1` for all.
    pub protocol: String,
    /// `FromPort` (for ICMP: the type; `-1` or absent: all).
    pub from_port: Option<i32>,
    /// `ToPort` (for ICMP: the code; `-1` or absent: all).
    pub to_port: Option<i32>,
    /// `IpRanges[].CidrIp`.
    pub ipv4_ranges: Vec<String>,
    /// `Ipv6Ranges[].CidrIpv6`.
    pub ipv6_ranges: Vec<String>,
    /// `PrefixListIds[].PrefixListId` (not expanded).
    pub prefix_lists: Vec<String>,
    /// `UserIdGroupPairs[].GroupId`: other security groups allowed.
    pub groups: Vec<String>,
}

impl IngressRule {
    /// Whether the rule lets TCP traffic to `port` in.
    pub fn covers_tcp_port(&self, port: u16) -> bool {
        match self.protocol.to_ascii_lowercase().as_str() {
            "-1" | "all" => true,
            "tcp" | "6" => {
                let from = self.from_port.filter(|p| *p >= 0).unwrap_or(0);
                let to = self.to_port.filter(|p| *p >= 0).unwrap_or(65535);
                let p = i32::from(port);
                from <= p && p <= to
            }
            _ => false,
        }
    }

    /// The sources of the rule that are the whole internet (a `/0` CIDR).
    pub fn world_sources(&self) -> Vec<&str> {
        self.ipv4_ranges
            .iter()
            .chain(&self.ipv6_ranges)
            .map(String::as_str)
            .filter(|c| c.trim().ends_with("/0"))
            .collect()
    }

    /// `tcp 0-65535`, `all traffic`, …, for a reason text.
    pub fn describe(&self) -> String {
        match self.protocol.as_str() {
            "-1" => "all traffic".to_string(),
            p => match (self.from_port, self.to_port) {
                (Some(a), Some(b)) if a == b => format!("{p} {a}"),
                (Some(a), Some(b)) => format!("{p} {a}-{b}"),
                _ => format!("{p} all ports"),
            },
        }
    }
}

/// One VPC flow log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowLog {
    /// `FlowLogId`.
    pub id: String,
    /// `ResourceId`: the VPC, subnet or network interface logged.
    pub resource_id: String,
    /// `FlowLogStatus` (`ACTIVE`).
    pub status: Option<String>,
    /// `DeliverLogsStatus` (`SUCCESS`, `FAILED`, `ACCESS_ERROR`).
    pub deliver_logs_status: Option<String>,
    /// `TrafficType` (`ACCEPT`, `REJECT`, `ALL`).
    pub traffic_type: Option<String>,
    /// `LogDestinationType` (`cloud-watch-logs`, `s3`, `kinesis-data-firehose`).
    pub destination_type: Option<String>,
}

impl FlowLog {
    /// Active and not failing delivery.
    pub fn is_active(&self) -> bool {
        self.status.as_deref() == Some("ACTIVE")
            && !matches!(
                self.deliver_logs_status.as_deref(),
                Some("FAILED") | Some("ACCESS_ERROR")
            )
    }
}

/// Route 53 Resolver DNS Firewall in one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsFirewall {
    /// Rule group associations (ListFirewallRuleGroupAssociations).
    pub associations: Vec<DnsFirewallAssociation>,
    /// The rules of every associated rule group (ListFirewallRules).
    pub rule_groups: Vec<DnsFirewallRuleGroup>,
}

/// One rule group association with a VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsFirewallAssociation {
    /// `Id`.
    pub id: String,
    /// `VpcId`.
    pub vpc_id: String,
    /// `FirewallRuleGroupId`.
    pub rule_group_id: String,
    /// `Name`.
    pub name: Option<String>,
    /// `Priority`.
    pub priority: Option<i32>,
    /// `Status` (`COMPLETE`, `UPDATING`, `DELETING`).
    pub status: Option<String>,
}

/// The rules of one rule group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsFirewallRuleGroup {
    /// `FirewallRuleGroupId`.
    pub id: String,
    /// Its rules.
    pub rules: Reading<Vec<DnsFirewallRule>>,
}

/// One DNS Firewall rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsFirewallRule {
    /// `Name`.
    pub name: Option<String>,
    /// `Priority`.
    pub priority: Option<i32>,
    /// `Action`: `ALLOW`, `BLOCK` or `ALERT`.
    pub action: String,
}

/// One AWS Network Firewall firewall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkFirewall {
    /// `FirewallName`.
    pub name: String,
    /// `FirewallArn`.
    pub arn: String,
    /// `VpcId`; `None` for a firewall attached to a transit gateway.
    pub vpc_id: Option<String>,
    /// `FirewallPolicyArn`.
    pub policy_arn: String,
    /// The policy's name (the last part of its ARN).
    pub policy_name: String,
    /// `FirewallStatus.Status` (`PROVISIONING`, `READY`, `DELETING`).
    pub status: String,
}

/// Each VPC is covered by a DNS Firewall rule group that blocks.
pub const DNS_FIREWALL_BLOCKING: Check = Check {
    meta: CheckMeta {
        id: "aws_vpc_dns_firewall_blocking",
        title: "Each VPC has a Route 53 Resolver DNS Firewall rule group with blocking rules",
        severity: Severity::Medium,
        controls: &["A.8.23"],
        source: SOURCE,
        rationale: "Web filtering: DNS Firewall stops workloads from resolving malicious or unwanted domains; a rule group whose rules only allow or alert filters nothing.",
        remediation: "Associate with the VPC a DNS Firewall rule group with at least one BLOCK rule (for example on the AWS managed threat domain lists), directly or through Firewall Manager.",
        max_age_days: 7,
    },
    evaluate: eval_dns_firewall,
};

/// Each VPC has an AWS Network Firewall.
pub const NETWORK_FIREWALL_PRESENT: Check = Check {
    meta: CheckMeta {
        id: "aws_vpc_network_firewall_present",
        title: "Each VPC has an AWS Network Firewall",
        severity: Severity::Medium,
        controls: &["A.8.23", "A.8.20"],
        source: SOURCE,
        rationale: "Web filtering: a network firewall in the VPC can filter outbound web traffic by domain and inspect traffic to and from the internet.",
        remediation: "Deploy an AWS Network Firewall in the VPC with a firewall policy (stateful domain lists or Suricata rules) and route the subnets' traffic through its endpoints.",
        max_age_days: 7,
    },
    evaluate: eval_network_firewall,
};

/// No security group opens an administrative port to the world.
pub const SECURITY_GROUPS_ADMIN_PORTS_RESTRICTED: Check = Check {
    meta: CheckMeta {
        id: "aws_ec2_security_groups_admin_ports_restricted",
        title: "No security group opens an administrative port to the internet",
        severity: Severity::High,
        controls: &["A.8.20", "A.8.22"],
        source: SOURCE,
        rationale: "Remote administration services (SSH, RDP, WinRM, …) open to 0.0.0.0/0 or ::/0 are scanned and brute-forced within minutes; networks are to be segregated and administration reached through a restricted path.",
        remediation: "Replace the 0.0.0.0/0 or ::/0 source of the listed rules by the administration network's CIDR or a security group, or use Systems Manager Session Manager instead of open ports.",
        max_age_days: 7,
    },
    evaluate: eval_security_groups,
};

/// Each VPC has an active flow log.
pub const FLOW_LOGS_ENABLED: Check = Check {
    meta: CheckMeta {
        id: "aws_vpc_flow_logs_enabled",
        title: "Each VPC has an active flow log",
        severity: Severity::Medium,
        controls: &["A.8.20", "A.8.16"],
        source: SOURCE,
        rationale: "Flow logs record the traffic of the network, so that it can be monitored and incidents investigated.",
        remediation: "Create a flow log for the VPC (traffic type ALL) to CloudWatch Logs or S3, and fix its delivery permissions if delivery fails.",
        max_age_days: 7,
    },
    evaluate: eval_flow_logs,
};

/// What a region's findings are about.
struct Scope<'a> {
    account_id: &'a str,
    partition: &'a str,
    region: &'a str,
}

impl Scope<'_> {
    fn vpc_arn(&self, id: &str) -> String {
        format!(
            "arn:{}:ec2:{}:{}:vpc/{id}",
            self.partition, self.region, self.account_id
        )
    }
    fn sg_arn(&self, id: &str) -> String {
        format!(
            "arn:{}:ec2:{}:{}:security-group/{id}",
            self.partition, self.region, self.account_id
        )
    }
    fn prefix(&self) -> String {
        format!("account {}, region {}", self.account_id, self.region)
    }
}

fn parse(meta: &CheckMeta, obs: &Observation) -> Result<NetworkObservation, Vec<Finding>> {
    let d: NetworkObservation = obs
        .payload()
        .map_err(|e| vec![Finding::malformed(meta, obs, &e)])?;
    if d.regions.is_empty() {
        return Err(vec![Finding::new(
            meta,
            account_arn(&d.partition, &d.account_id),
            Status::Error,
            ReasonCode::ObservationMalformed,
            "no region was covered",
        )]);
    }
    Ok(d)
}

/// Run `judge` on every VPC of every region, with the part of the region it needs.
fn each_vpc<T>(
    meta: &CheckMeta,
    obs: &Observation,
    part: fn(&RegionNetwork) -> &Reading<T>,
    judge: impl Fn(&Scope, &str, &T) -> Finding,
) -> Vec<Finding> {
    let d = match parse(meta, obs) {
        Ok(d) => d,
        Err(f) => return f,
    };
    let acct = account_arn(&d.partition, &d.account_id);
    let mut out = Vec::new();
    for r in &d.regions {
        let scope = Scope {
            account_id: &d.account_id,
            partition: &d.partition,
            region: &r.region,
        };
        let vpcs = match &r.vpcs {
            Reading::Ok(v) => v,
            Reading::Error(e) => {
                out.push(error_finding(meta, &acct, e));
                continue;
            }
        };
        if vpcs.is_empty() {
            out.push(Finding::new(
                meta,
                &acct,
                Status::NotApplicable,
                ReasonCode::ComponentAbsent,
                format!("{}: no VPCs", scope.prefix()),
            ));
            continue;
        }
        for vpc in vpcs {
            let arn = scope.vpc_arn(&vpc.id);
            out.push(match part(r) {
                Reading::Ok(x) => judge(&scope, &arn, x),
                Reading::Error(e) => vpc_error(meta, &scope, &arn, &vpc.id, e),
            });
        }
    }
    out
}

fn vpc_error(meta: &CheckMeta, scope: &Scope, arn: &str, vpc: &str, e: &AwsError) -> Finding {
    let mut f = error_finding(meta, arn, e);
    f.reason = format!("{}: VPC {vpc}: {}", scope.prefix(), e.describe());
    f
}

fn vpc_id_of(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

fn eval_dns_firewall(obs: &Observation) -> Vec<Finding> {
    let meta = &DNS_FIREWALL_BLOCKING.meta;
    each_vpc(
        meta,
        obs,
        |r| &r.dns_firewall,
        |scope, arn, fw| {
            let vpc = vpc_id_of(arn);
            let prefix = format!("{}: VPC {vpc}", scope.prefix());
            let assocs: Vec<&DnsFirewallAssociation> = fw
                .associations
                .iter()
                .filter(|a| a.vpc_id == vpc && a.status.as_deref() != Some("DELETING"))
                .collect();
            if assocs.is_empty() {
                return Finding::new(
                    meta,
                    arn,
                    Status::Fail,
                    ReasonCode::AwsDnsFirewallAbsent,
                    format!("{prefix} has no DNS Firewall rule group associated"),
                );
            }
            let mut blocking = Vec::new();
            let mut not_blocking = Vec::new();
            let mut unknown: Vec<(String, Option<&AwsError>)> = Vec::new();
            for a in &assocs {
                match fw.rule_groups.iter().find(|g| g.id == a.rule_group_id) {
                    None => unknown.push((a.rule_group_id.clone(), None)),
                    Some(g) => match &g.rules {
                        Reading::Error(e) => unknown.push((a.rule_group_id.clone(), Some(e))),
                        Reading::Ok(rules) => {
                            let blocks = rules.iter().filter(|r| r.action == "BLOCK").count();
                            if blocks > 0 {
                                blocking
                                    .push(format!("{} ({blocks} BLOCK rules)", a.rule_group_id));
                            } else {
                                let mut actions: Vec<&str> =
                                    rules.iter().map(|r| r.action.as_str()).collect();
                                actions.sort_unstable();
                                actions.dedup();
                                not_blocking.push(if actions.is_empty() {
                                    format!("{} (no rules)", a.rule_group_id)
                                } else {
                                    format!("{} (only {})", a.rule_group_id, actions.join("/"))
                                });
                            }
                        }
                    },
                }
            }
            if !blocking.is_empty() {
                return Finding::new(
                    meta,
                    arn,
                    Status::Pass,
                    ReasonCode::AwsDnsFirewallBlocking,
                    format!(
                        "{prefix} is filtered by DNS Firewall rule group {}",
                        blocking.join(", ")
                    ),
                );
            }
            if let Some((group, e)) = unknown.first() {
                return match e {
                Some(e) => {
                    let mut f = error_finding(meta, arn, e);
                    f.reason = format!(
                        "{prefix}: the rules of DNS Firewall rule group {group} could not be read: {}",
                        e.describe()
                    );
                    f
                }
                None => Finding::new(
                    meta,
                    arn,
                    Status::Error,
                    ReasonCode::ObservationMalformed,
                    format!("{prefix}: the rules of DNS Firewall rule group {group} were not recorded"),
                ),
            };
            }
            Finding::new(
                meta,
                arn,
                Status::Fail,
                ReasonCode::AwsDnsFirewallNotBlocking,
                format!(
                    "{prefix}: the associated DNS Firewall rule groups have no BLOCK rule: {}",
                    not_blocking.join(", ")
                ),
            )
        },
    )
}

fn eval_network_firewall(obs: &Observation) -> Vec<Finding> {
    let meta = &NETWORK_FIREWALL_PRESENT.meta;
    each_vpc(
        meta,
        obs,
        |r| &r.network_firewalls,
        |scope, arn, fws| {
            let vpc = vpc_id_of(arn);
            let prefix = format!("{}: VPC {vpc}", scope.prefix());
            let here: Vec<&NetworkFirewall> = fws
                .iter()
                .filter(|f| f.vpc_id.as_deref() == Some(vpc))
                .collect();
            let show = |f: &NetworkFirewall| {
                format!("{} (policy {}, {})", f.name, f.policy_name, f.status)
            };
            let ready: Vec<String> = here
                .iter()
                .filter(|f| f.status == "READY")
                .map(|f| show(f))
                .collect();
            if !ready.is_empty() {
                Finding::new(
                    meta,
                    arn,
                    Status::Pass,
                    ReasonCode::AwsNetworkFirewallPresent,
                    format!("{prefix} has AWS Network Firewall {}", ready.join(", ")),
                )
            } else if here.is_empty() {
                Finding::new(
                    meta,
                    arn,
                    Status::Fail,
                    ReasonCode::AwsNetworkFirewallAbsent,
                    format!("{prefix} has no AWS Network Firewall"),
                )
            } else {
                Finding::new(
                    meta,
                    arn,
                    Status::Fail,
                    ReasonCode::AwsNetworkFirewallNotReady,
                    format!(
                        "{prefix}: no AWS Network Firewall is READY: {}",
                        here.iter().map(|f| show(f)).collect::<Vec<_>>().join(", ")
                    ),
                )
            }
        },
    )
}

fn eval_flow_logs(obs: &Observation) -> Vec<Finding> {
    let meta = &FLOW_LOGS_ENABLED.meta;
    each_vpc(
        meta,
        obs,
        |r| &r.flow_logs,
        |scope, arn, logs| {
            let vpc = vpc_id_of(arn);
            let prefix = format!("{}: VPC {vpc}", scope.prefix());
            let here: Vec<&FlowLog> = logs.iter().filter(|l| l.resource_id == vpc).collect();
            let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "unknown".into());
            let show = |l: &FlowLog| {
                format!(
                    "{} (status {}, delivery {}, traffic {}, to {})",
                    l.id,
                    opt(&l.status),
                    opt(&l.deliver_logs_status),
                    opt(&l.traffic_type),
                    opt(&l.destination_type)
                )
            };
            let active: Vec<String> = here
                .iter()
                .filter(|l| l.is_active())
                .map(|l| show(l))
                .collect();
            if !active.is_empty() {
                Finding::new(
                    meta,
                    arn,
                    Status::Pass,
                    ReasonCode::AwsVpcFlowLogsActive,
                    format!("{prefix} has active flow log {}", active.join(", ")),
                )
            } else if here.is_empty() {
                Finding::new(
                    meta,
                    arn,
                    Status::Fail,
                    ReasonCode::AwsVpcFlowLogsMissing,
                    format!("{prefix} has no flow log"),
                )
            } else {
                Finding::new(
                    meta,
                    arn,
                    Status::Fail,
                    ReasonCode::AwsVpcFlowLogsInactive,
                    format!(
                        "{prefix}: no flow log is active and delivering: {}",
                        here.iter().map(|l| show(l)).collect::<Vec<_>>().join(", ")
                    ),
                )
            }
        },
    )
}

fn port_name(port: u16) -> Option<&'static str> {
    Some(match port {
        22 => "SSH",
        23 => "Telnet",
        2375 | 2376 => "Docker API",
        3389 => "RDP",
        5900 => "VNC",
        5985 | 5986 => "WinRM",
        6443 => "Kubernetes API",
        _ => return None,
    })
}

fn eval_security_groups(obs: &Observation) -> Vec<Finding> {
    let meta = &SECURITY_GROUPS_ADMIN_PORTS_RESTRICTED.meta;
    let d = match parse(meta, obs) {
        Ok(d) => d,
        Err(f) => return f,
    };
    let acct = account_arn(&d.partition, &d.account_id);
    let ports = &d.settings.admin_ports;
    let mut out = Vec::new();
    for r in &d.regions {
        let scope = Scope {
            account_id: &d.account_id,
            partition: &d.partition,
            region: &r.region,
        };
        let groups = match &r.security_groups {
            Reading::Ok(g) => g,
            Reading::Error(e) => {
                out.push(error_finding(meta, &acct, e));
                continue;
            }
        };
        if groups.is_empty() {
            out.push(Finding::new(
                meta,
                &acct,
                Status::NotApplicable,
                ReasonCode::ComponentAbsent,
                format!("{}: no security groups", scope.prefix()),
            ));
            continue;
        }
        for g in groups {
            let arn = scope.sg_arn(&g.id);
            let prefix = format!(
                "{}: security group {} ({}{})",
                scope.prefix(),
                g.id,
                g.name,
                g.vpc_id
                    .as_deref()
                    .map(|v| format!(", {v}"))
                    .unwrap_or_default()
            );
            let mut open = Vec::new();
            for rule in &g.ingress {
                let world = rule.world_sources();
                if world.is_empty() {
                    continue;
                }
                let hit: Vec<String> = ports
                    .iter()
                    .filter(|p| rule.covers_tcp_port(**p))
                    .map(|p| match port_name(*p) {
                        Some(n) => format!("{p} ({n})"),
                        None => p.to_string(),
                    })
                    .collect();
                if !hit.is_empty() {
                    open.push(format!(
                        "TCP {} open to {} by rule {}",
                        hit.join(", "),
                        world.join(" and "),
                        rule.describe()
                    ));
                }
            }
            out.push(if open.is_empty() {
                Finding::new(
                    meta,
                    &arn,
                    Status::Pass,
                    ReasonCode::AwsSecurityGroupAdminPortsRestricted,
                    format!(
                        "{prefix} opens none of the administrative ports {} to the internet",
                        ports
                            .iter()
                            .map(u16::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            } else {
                Finding::new(
                    meta,
                    &arn,
                    Status::Fail,
                    ReasonCode::AwsSecurityGroupAdminPortOpen,
                    format!("{prefix}: {}", open.join("; ")),
                )
            });
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::aws::test_support::{err, obs};
    use crate::aws::AwsErrorKind;

    fn vpc(id: &str) -> Vpc {
        Vpc {
            id: id.into(),
            is_default: false,
        }
    }

    fn region(name: &str, vpcs: Vec<Vpc>) -> RegionNetwork {
        RegionNetwork {
            region: name.into(),
            vpcs: Reading::Ok(vpcs),
            security_groups: Reading::Ok(vec![]),
            flow_logs: Reading::Ok(vec![]),
            dns_firewall: Reading::Ok(DnsFirewall {
                associations: vec![],
                rule_groups: vec![],
            }),
            network_firewalls: Reading::Ok(vec![]),
        }
    }

    fn data(regions: Vec<RegionNetwork>) -> NetworkObservation {
        NetworkObservation {
            account_id: "111122223333".into(),
            partition: "aws".into(),
            settings: NetworkSettings::default(),
            regions,
        }
    }

    fn run(c: &Check, d: &NetworkObservation) -> Vec<(String, Status, ReasonCode)> {
        (c.evaluate)(&obs(SOURCE, d))
            .into_iter()
            .map(|f| (f.resource_id, f.status, f.reason_code))
            .collect()
    }

    fn rule(protocol: &str, from: Option<i32>, to: Option<i32>, cidrs: &[&str]) -> IngressRule {
        IngressRule {
            protocol: protocol.into(),
            from_port: from,
            to_port: to,
            ipv4_ranges: cidrs
                .iter()
                .filter(|c| !c.contains(':'))
                .map(|c| c.to_string())
                .collect(),
            ipv6_ranges: cidrs
                .iter()
                .filter(|c| c.contains(':'))
                .map(|c| c.to_string())
                .collect(),
            prefix_lists: vec![],
            groups: vec![],
        }
    }

    fn sg(id: &str, ingress: Vec<IngressRule>) -> SecurityGroup {
        SecurityGroup {
            id: id.into(),
            name: format!("name-{id}"),
            vpc_id: Some("vpc-1".into()),
            ingress,
        }
    }

    #[test]
    fn rule_coverage_of_ports_ranges_and_all_protocols() {
        assert!(rule("tcp", Some(22), Some(22), &[]).covers_tcp_port(22));
        assert!(!rule("tcp", Some(80), Some(443), &[]).covers_tcp_port(22));
        assert!(rule("tcp", Some(0), Some(65535), &[]).covers_tcp_port(3389));
        assert!(rule("6", Some(3000), Some(4000), &[]).covers_tcp_port(3389));
        assert!(rule("-1", None, None, &[]).covers_tcp_port(22));
        assert!(!rule("udp", Some(0), Some(65535), &[]).covers_tcp_port(22));
        assert!(!rule("icmp", Some(-1), Some(-1), &[]).covers_tcp_port(22));
        assert_eq!(
            rule("tcp", None, None, &["10.0.0.0/8", "0.0.0.0/0", "::/0"]).world_sources(),
            ["0.0.0.0/0", "::/0"]
        );
    }

    #[test]
    fn security_groups_pass_fail_error_not_applicable() {
        let mut r = region("us-east-1", vec![vpc("vpc-1")]);
        r.security_groups = Reading::Ok(vec![
            // Open to the world on 443 only, and 22 to a private range: pass.
            sg(
                "sg-ok",
                vec![
                    rule("tcp", Some(443), Some(443), &["0.0.0.0/0"]),
                    rule("tcp", Some(22), Some(22), &["10.0.0.0/8"]),
                ],
            ),
            sg(
                "sg-ssh",
                vec![rule("tcp", Some(22), Some(22), &["0.0.0.0/0"])],
            ),
            sg(
                "sg-range6",
                vec![rule("tcp", Some(3000), Some(4000), &["::/0"])],
            ),
            sg("sg-all", vec![rule("-1", None, None, &["0.0.0.0/0"])]),
        ]);
        let mut empty = region("eu-west-1", vec![]);
        empty.security_groups = Reading::Ok(vec![]);
        let mut denied = region("ap-south-1", vec![vpc("vpc-2")]);
        denied.security_groups = err(AwsErrorKind::AccessDenied);
        let got = run(
            &SECURITY_GROUPS_ADMIN_PORTS_RESTRICTED,
            &data(vec![r, empty, denied]),
        );
        let statuses: Vec<(Status, ReasonCode)> = got.iter().map(|g| (g.1, g.2)).collect();
        assert_eq!(
            statuses,
            [
                (
                    Status::Pass,
                    ReasonCode::AwsSecurityGroupAdminPortsRestricted
                ),
                (Status::Fail, ReasonCode::AwsSecurityGroupAdminPortOpen),
                (Status::Fail, ReasonCode::AwsSecurityGroupAdminPortOpen),
                (Status::Fail, ReasonCode::AwsSecurityGroupAdminPortOpen),
                (Status::NotApplicable, ReasonCode::ComponentAbsent),
                (Status::Error, ReasonCode::AwsAccessDenied),
            ]
        );
        assert_eq!(
            got[1].0,
            "arn:aws:ec2:us-east-1:111122223333:security-group/sg-ssh"
        );
        let f = (SECURITY_GROUPS_ADMIN_PORTS_RESTRICTED.evaluate)(&obs(
            SOURCE,
            &data(vec![{
                let mut r = region("us-east-1", vec![]);
                r.security_groups = Reading::Ok(vec![sg(
                    "sg-range6",
                    vec![rule("tcp", Some(3000), Some(4000), &["::/0"])],
                )]);
                r
            }]),
        ));
        assert!(f[0].reason.contains("3389 (RDP)"), "{}", f[0].reason);
        assert!(f[0].reason.contains("::/0"), "{}", f[0].reason);
        assert!(f[0].reason.contains("111122223333"), "{}", f[0].reason);
    }

    #[test]
    fn admin_ports_are_configurable() {
        let mut r = region("us-east-1", vec![]);
        r.security_groups = Reading::Ok(vec![sg(
            "sg-pg",
            vec![rule("tcp", Some(5432), Some(5432), &["0.0.0.0/0"])],
        )]);
        let mut d = data(vec![r]);
        assert_eq!(
            run(&SECURITY_GROUPS_ADMIN_PORTS_RESTRICTED, &d)[0].1,
            Status::Pass
        );
        d.settings.admin_ports = vec![22, 5432];
        assert_eq!(
            run(&SECURITY_GROUPS_ADMIN_PORTS_RESTRICTED, &d)[0].1,
            Status::Fail
        );
    }

    fn log(id: &str, resource: &str, status: &str, delivery: &str) -> FlowLog {
        FlowLog {
            id: id.into(),
            resource_id: resource.into(),
            status: Some(status.into()),
            deliver_logs_status: Some(delivery.into()),
            traffic_type: Some("ALL".into()),
            destination_type: Some("s3".into()),
        }
    }

    #[test]
    fn flow_logs_pass_fail_error_not_applicable() {
        let mut r = region(
            "us-east-1",
            vec![vpc("vpc-on"), vpc("vpc-none"), vpc("vpc-failing")],
        );
        r.flow_logs = Reading::Ok(vec![
            log("fl-1", "vpc-on", "ACTIVE", "SUCCESS"),
            log("fl-2", "subnet-9", "ACTIVE", "SUCCESS"),
            log("fl-3", "vpc-failing", "ACTIVE", "FAILED"),
        ]);
        let mut denied = region("eu-west-1", vec![vpc("vpc-x")]);
        denied.flow_logs = err(AwsErrorKind::Throttled);
        let mut no_vpcs = region("ap-south-1", vec![]);
        no_vpcs.flow_logs = err(AwsErrorKind::Throttled);
        let mut vpcs_err = region("sa-east-1", vec![]);
        vpcs_err.vpcs = err(AwsErrorKind::ServiceError);
        let got = run(
            &FLOW_LOGS_ENABLED,
            &data(vec![r, denied, no_vpcs, vpcs_err]),
        );
        let statuses: Vec<(Status, ReasonCode)> = got.iter().map(|g| (g.1, g.2)).collect();
        assert_eq!(
            statuses,
            [
                (Status::Pass, ReasonCode::AwsVpcFlowLogsActive),
                (Status::Fail, ReasonCode::AwsVpcFlowLogsMissing),
                (Status::Fail, ReasonCode::AwsVpcFlowLogsInactive),
                (Status::Error, ReasonCode::AwsThrottled),
                (Status::NotApplicable, ReasonCode::ComponentAbsent),
                (Status::Error, ReasonCode::AwsServiceError),
            ]
        );
        assert_eq!(got[0].0, "arn:aws:ec2:us-east-1:111122223333:vpc/vpc-on");
        assert_eq!(got[3].0, "arn:aws:ec2:eu-west-1:111122223333:vpc/vpc-x");
        assert_eq!(got[5].0, "arn:aws:iam::111122223333:root");
    }

    fn assoc(vpc: &str, group: &str, status: &str) -> DnsFirewallAssociation {
        DnsFirewallAssociation {
            id: format!("rslvr-frgassoc-{vpc}-{group}"),
            vpc_id: vpc.into(),
            rule_group_id: group.into(),
            name: None,
            priority: Some(101),
            status: Some(status.into()),
        }
    }

    fn group(id: &str, actions: &[&str]) -> DnsFirewallRuleGroup {
        DnsFirewallRuleGroup {
            id: id.into(),
            rules: Reading::Ok(
                actions
                    .iter()
                    .enumerate()
                    .map(|(i, a)| DnsFirewallRule {
                        name: Some(format!("r{i}")),
                        priority: Some(i as i32 + 1),
                        action: a.to_string(),
                    })
                    .collect(),
            ),
        }
    }

    #[test]
    fn dns_firewall_pass_fail_error_not_applicable() {
        let mut r = region(
            "us-east-1",
            vec![
                vpc("vpc-block"),
                vpc("vpc-alert"),
                vpc("vpc-none"),
                vpc("vpc-deleting"),
                vpc("vpc-unknown"),
            ],
        );
        let mut unreadable = group("rslvr-frg-3", &[]);
        unreadable.rules = err(AwsErrorKind::AccessDenied);
        r.dns_firewall = Reading::Ok(DnsFirewall {
            associations: vec![
                assoc("vpc-block", "rslvr-frg-2", "COMPLETE"),
                assoc("vpc-block", "rslvr-frg-1", "COMPLETE"),
                assoc("vpc-alert", "rslvr-frg-2", "COMPLETE"),
                assoc("vpc-deleting", "rslvr-frg-1", "DELETING"),
                assoc("vpc-unknown", "rslvr-frg-3", "COMPLETE"),
            ],
            rule_groups: vec![
                group("rslvr-frg-1", &["ALLOW", "BLOCK"]),
                group("rslvr-frg-2", &["ALLOW", "ALERT"]),
                unreadable,
            ],
        });
        let mut failed = region("eu-west-1", vec![vpc("vpc-e")]);
        failed.dns_firewall = err(AwsErrorKind::Timeout);
        let got = run(
            &DNS_FIREWALL_BLOCKING,
            &data(vec![r, failed, region("ap-south-1", vec![])]),
        );
        let statuses: Vec<(Status, ReasonCode)> = got.iter().map(|g| (g.1, g.2)).collect();
        assert_eq!(
            statuses,
            [
                (Status::Pass, ReasonCode::AwsDnsFirewallBlocking),
                (Status::Fail, ReasonCode::AwsDnsFirewallNotBlocking),
                (Status::Fail, ReasonCode::AwsDnsFirewallAbsent),
                (Status::Fail, ReasonCode::AwsDnsFirewallAbsent),
                (Status::Error, ReasonCode::AwsAccessDenied),
                (Status::Error, ReasonCode::AwsTimeout),
                (Status::NotApplicable, ReasonCode::ComponentAbsent),
            ]
        );
        assert_eq!(got[0].0, "arn:aws:ec2:us-east-1:111122223333:vpc/vpc-block");
        let f = (DNS_FIREWALL_BLOCKING.evaluate)(&obs(
            SOURCE,
            &data(vec![{
                let mut r = region("us-east-1", vec![vpc("vpc-alert")]);
                r.dns_firewall = Reading::Ok(DnsFirewall {
                    associations: vec![assoc("vpc-alert", "rslvr-frg-2", "COMPLETE")],
                    rule_groups: vec![group("rslvr-frg-2", &["ALLOW", "ALERT"])],
                });
                r
            }]),
        ));
        assert!(f[0].reason.contains("only ALERT/ALLOW"), "{}", f[0].reason);
    }

    #[test]
    fn a_group_without_recorded_rules_is_an_error() {
        let mut r = region("us-east-1", vec![vpc("vpc-1")]);
        r.dns_firewall = Reading::Ok(DnsFirewall {
            associations: vec![assoc("vpc-1", "rslvr-frg-9", "COMPLETE")],
            rule_groups: vec![],
        });
        assert_eq!(
            run(&DNS_FIREWALL_BLOCKING, &data(vec![r]))[0].1,
            Status::Error
        );
    }

    fn fw(name: &str, vpc: Option<&str>, status: &str) -> NetworkFirewall {
        NetworkFirewall {
            name: name.into(),
            arn: format!("arn:aws:network-firewall:us-east-1:111122223333:firewall/{name}"),
            vpc_id: vpc.map(str::to_string),
            policy_arn: "arn:aws:network-firewall:us-east-1:111122223333:firewall-policy/egress"
                .into(),
            policy_name: "egress".into(),
            status: status.into(),
        }
    }

    #[test]
    fn network_firewall_pass_fail_error_not_applicable() {
        let mut r = region(
            "us-east-1",
            vec![vpc("vpc-fw"), vpc("vpc-none"), vpc("vpc-provisioning")],
        );
        r.network_firewalls = Reading::Ok(vec![
            fw("edge", Some("vpc-fw"), "READY"),
            fw("tgw", None, "READY"),
            fw("new", Some("vpc-provisioning"), "PROVISIONING"),
        ]);
        let mut failed = region("eu-west-1", vec![vpc("vpc-e")]);
        failed.network_firewalls = err(AwsErrorKind::Malformed);
        let got = run(
            &NETWORK_FIREWALL_PRESENT,
            &data(vec![r, failed, region("ap-south-1", vec![])]),
        );
        let statuses: Vec<(Status, ReasonCode)> = got.iter().map(|g| (g.1, g.2)).collect();
        assert_eq!(
            statuses,
            [
                (Status::Pass, ReasonCode::AwsNetworkFirewallPresent),
                (Status::Fail, ReasonCode::AwsNetworkFirewallAbsent),
                (Status::Fail, ReasonCode::AwsNetworkFirewallNotReady),
                (Status::Error, ReasonCode::AwsMalformedResponse),
                (Status::NotApplicable, ReasonCode::ComponentAbsent),
            ]
        );
        let f = (NETWORK_FIREWALL_PRESENT.evaluate)(&obs(
            SOURCE,
            &data(vec![{
                let mut r = region("us-east-1", vec![vpc("vpc-fw")]);
                r.network_firewalls = Reading::Ok(vec![fw("edge", Some("vpc-fw"), "READY")]);
                r
            }]),
        ));
        assert!(f[0].reason.contains("policy egress"), "{}", f[0].reason);
    }

    #[test]
    fn no_region_or_a_bad_payload_is_an_error() {
        for c in [
            &DNS_FIREWALL_BLOCKING,
            &NETWORK_FIREWALL_PRESENT,
            &SECURITY_GROUPS_ADMIN_PORTS_RESTRICTED,
            &FLOW_LOGS_ENABLED,
        ] {
            assert_eq!(run(c, &data(vec![]))[0].1, Status::Error, "{}", c.meta.id);
            let bad = (c.evaluate)(&obs(SOURCE, &serde_json::json!({"regions": 3})));
            assert_eq!(bad[0].status, Status::Error, "{}", c.meta.id);
        }
    }
}
