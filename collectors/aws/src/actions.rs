//! The IAM actions the collector calls: exactly those of
//! `deploy/aws/evident-read-only-policy.json` (a test keeps the two, and the
//! operation names in the code, in step).

/// Every action, sorted.
pub const ACTIONS: &[&str] = &[
    "backup:GetBackupSelection",
    "backup:ListBackupPlans",
    "backup:ListBackupSelections",
    "backup:ListBackupVaults",
    "backup:ListRecoveryPointsByBackupVault",
    "backup:ListRestoreJobs",
    "backup:ListRestoreTestingPlans",
    "cloudtrail:DescribeTrails",
    "cloudtrail:GetEventSelectors",
    "cloudtrail:GetTrailStatus",
    "config:DescribeConfigurationRecorderStatus",
    "config:DescribeConfigurationRecorders",
    "config:DescribeDeliveryChannels",
    "ec2:DescribeFlowLogs",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcs",
    "guardduty:GetDetector",
    "guardduty:ListDetectors",
    "iam:GenerateCredentialReport",
    "iam:GetAccountAuthorizationDetails",
    "iam:GetAccountPasswordPolicy",
    "iam:GetAccountSummary",
    "iam:GetCredentialReport",
    "iam:ListOrganizationsFeatures",
    "iam:ListVirtualMFADevices",
    "macie2:GetAutomatedDiscoveryConfiguration",
    "macie2:GetMacieSession",
    "network-firewall:DescribeFirewall",
    "network-firewall:ListFirewalls",
    "organizations:DescribeOrganization",
    "organizations:ListAccounts",
    "rds:DescribeDBClusters",
    "rds:DescribeDBInstances",
    "route53resolver:ListFirewallRuleGroupAssociations",
    "route53resolver:ListFirewallRules",
    "s3:GetAccountPublicAccessBlock",
    "s3:GetBucketAcl",
    "s3:GetBucketLocation",
    "s3:GetBucketPolicyStatus",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetEncryptionConfiguration",
    // Only DLP scanning of S3 objects (opt-in) reads objects and lists keys.
    "s3:GetObject",
    "s3:ListAllMyBuckets",
    "s3:ListBucket",
    "sts:GetCallerIdentity",
];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::ACTIONS;
    use std::collections::BTreeSet;
    use std::path::Path;

    fn manifest(rel: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
    }

    #[test]
    fn policy_file_lists_exactly_the_actions() {
        let text =
            std::fs::read_to_string(manifest("../../deploy/aws/evident-read-only-policy.json"))
                .unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut in_policy = BTreeSet::new();
        for st in doc["Statement"].as_array().unwrap() {
            assert_eq!(st["Effect"], "Allow");
            for a in st["Action"].as_array().unwrap() {
                let a = a.as_str().unwrap();
                assert!(
                    !a.contains('*'),
                    "wildcard action {a} in the read-only policy"
                );
                in_policy.insert(a.to_string());
            }
        }
        let in_code: BTreeSet<String> = ACTIONS.iter().map(|s| s.to_string()).collect();
        assert_eq!(in_policy, in_code);
        let mut sorted = ACTIONS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, ACTIONS, "keep ACTIONS sorted");
    }

    /// Every `"service:Action"` literal in the collector's source (`src/*.rs`,
    /// tests excluded) is an
    /// action it calls (operation names of recorded errors), and every listed
    /// action appears in the source.
    #[test]
    fn source_uses_exactly_the_actions() {
        let mut used = BTreeSet::new();
        for entry in std::fs::read_dir(manifest("src")).unwrap() {
            let path = entry.unwrap().path();
            if !path.is_file() || path.file_name().and_then(|n| n.to_str()) == Some("actions.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for lit in text.split('"').skip(1).step_by(2) {
                let Some((svc, action)) = lit.split_once(':') else {
                    continue;
                };
                if [
                    "iam",
                    "s3",
                    "sts",
                    "cloudtrail",
                    "organizations",
                    "guardduty",
                    "backup",
                    "rds",
                    "macie2",
                    "config",
                    "ec2",
                    "route53resolver",
                    "network-firewall",
                ]
                .contains(&svc)
                    && !action.is_empty()
                    && action.chars().all(|c| c.is_ascii_alphanumeric())
                    && action.starts_with(|c: char| c.is_ascii_uppercase())
                {
                    used.insert(lit.to_string());
                }
            }
        }
        let listed: BTreeSet<String> = ACTIONS.iter().map(|s| s.to_string()).collect();
        assert_eq!(used, listed);
    }
    #[test]
    fn cloudformation_role_grants_exactly_the_actions() {
        let text =
            std::fs::read_to_string(manifest("../../deploy/aws/evident-cross-account-role.yaml"))
                .unwrap();
        // Every statement's Action list (the read-only one, and the opt-in
        // one of DLP object reads).
        let lists: Vec<&str> = text.split("Action:\n").skip(1).collect();
        assert!(!lists.is_empty(), "the role policy's Action lists");
        let listed: BTreeSet<String> = lists
            .iter()
            .flat_map(|after| {
                after
                    .lines()
                    .map(str::trim)
                    .take_while(|l| l.starts_with("- "))
                    .map(|l| l.trim_start_matches("- ").to_string())
            })
            .collect();
        let in_code: BTreeSet<String> = ACTIONS.iter().map(|s| s.to_string()).collect();
        assert_eq!(listed, in_code);
    }
}
