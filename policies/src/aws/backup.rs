//! AWS Backup: plans and the resources they select, recovery points against
//! the recovery point objective, and restore testing. The `aws.backup`
//! observation and its checks.
//!
//! The collector reads, in every covered region: the backup plans and their
//! selections (ListBackupPlans, ListBackupSelections, GetBackupSelection);
//! the vaults and, per protected resource, its newest recovery point
//! (ListBackupVaults, ListRecoveryPointsByBackupVault); the restore testing
//! plans and their recent restore jobs (ListRestoreTestingPlans,
//! ListRestoreJobs). A plan that selects nothing protects nothing; a restore
//! testing plan without a finished, successful recent restore job is not a
//! pass.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{account_arn, error_finding, Reading};
use crate::model::{Check, CheckMeta, Finding, Observation, Severity, Status};
use crate::reason::ReasonCode;

/// The observation source of these checks.
pub const SOURCE: &str = "aws.backup";

/// Thresholds of the backup checks (`[collectors.aws.backup]`), RDS included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupSettings {
    /// Recovery point objective: the newest completed recovery point of
    /// every protected resource must be at most this many hours old.
    pub rpo_hours: u32,
    /// RPOs for particular resources, plans or vaults, in hours, keyed by a
    /// resource ARN, a backup plan name or a vault name (most specific wins:
    /// resource, then plan, then vault, then `rpo_hours`).
    pub rpo_hours_by: BTreeMap<String, u32>,
    /// The latest finished restore job of each restore testing plan must be
    /// at most this many days old.
    pub restore_test_max_age_days: u32,
    /// RDS instances and clusters must keep automated backups this many days.
    pub rds_min_retention_days: u32,
}

impl Default for BackupSettings {
    fn default() -> Self {
        BackupSettings {
            rpo_hours: 24,
            rpo_hours_by: BTreeMap::new(),
            restore_test_max_age_days: 31,
            rds_min_retention_days: 7,
        }
    }
}

impl BackupSettings {
    /// The RPO in hours that applies to a resource whose newest recovery
    /// point came from `plan` into `vault`.
    pub fn rpo_for(&self, resource_arn: &str, plan: Option<&str>, vault: &str) -> u32 {
        self.rpo_hours_by
            .get(resource_arn)
            .or_else(|| plan.and_then(|p| self.rpo_hours_by.get(p)))
            .or_else(|| self.rpo_hours_by.get(vault))
            .copied()
            .unwrap_or(self.rpo_hours)
    }
}

/// What the AWS collector read of one account's AWS Backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupObservation {
    /// The account id.
    pub account_id: String,
    /// The partition.
    pub partition: String,
    /// The thresholds the checks apply (from the configuration).
    pub settings: BackupSettings,
    /// One entry per covered region.
    pub regions: Vec<RegionBackup>,
}

/// AWS Backup in one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionBackup {
    /// The region.
    pub region: String,
    /// The backup plans.
    pub plans: Reading<Vec<BackupPlan>>,
    /// The backup vaults with the newest recovery point of each resource.
    pub vaults: Reading<Vec<Vault>>,
    /// The restore testing plans with their recent restore jobs.
    pub restore_testing_plans: Reading<Vec<RestoreTestingPlan>>,
}

/// One backup plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupPlan {
    /// `BackupPlanId`.
    pub id: String,
    /// `BackupPlanName`.
    pub name: String,
    /// `BackupPlanArn`.
    pub arn: String,
    /// Its resource selections.
    pub selections: Reading<Vec<Selection>>,
}

/// One resource selection (GetBackupSelection).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    /// `SelectionId`.
    pub id: String,
    /// `SelectionName`.
    pub name: String,
    /// `Resources`: ARNs or ARN patterns (`*` selects everything).
    pub resources: Vec<String>,
    /// `NotResources`: ARNs or patterns excluded.
    pub not_resources: Vec<String>,
    /// Tag conditions (`ListOfTags` and `Conditions`), as `KEY=VALUE` strings.
    pub tag_conditions: Vec<String>,
}

impl Selection {
    /// Whether the selection can select anything at all.
    pub fn selects_something(&self) -> bool {
        !self.resources.is_empty() || !self.tag_conditions.is_empty()
    }
}

/// One backup vault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vault {
    /// `BackupVaultName`.
    pub name: String,
    /// `BackupVaultArn`.
    pub arn: String,
    /// Per resource with recovery points in the vault, the newest ones.
    pub resources: Reading<Vec<ResourcePoints>>,
}

/// The recovery points of one resource in one vault, reduced to the newest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcePoints {
    /// `ResourceArn`.
    pub resource_arn: String,
    /// `ResourceType` (e.g. `EBS`, `RDS`).
    pub resource_type: Option<String>,
    /// The newest recovery point whose status is `COMPLETED`.
    pub latest_completed: Option<RecoveryPoint>,
    /// The newest recovery point whatever its status.
    pub latest: RecoveryPoint,
    /// How many recovery points the vault holds for the resource.
    pub count: u64,
}

/// One recovery point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryPoint {
    /// `RecoveryPointArn`.
    pub arn: String,
    /// `Status` (`COMPLETED`, `PARTIAL`, `DELETING`, `EXPIRED`, …).
    pub status: String,
    /// `CreationDate`.
    pub created_at: DateTime<Utc>,
    /// `CreatedBy.BackupPlanName`, when a plan made it.
    pub plan_name: Option<String>,
}

/// One restore testing plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreTestingPlan {
    /// `RestoreTestingPlanName`.
    pub name: String,
    /// `RestoreTestingPlanArn`.
    pub arn: String,
    /// `LastExecutionTime`; `None` when it never ran.
    pub last_execution: Option<DateTime<Utc>>,
    /// Its restore jobs created within the lookback window
    /// (`restore_test_max_age_days`), newest first.
    pub jobs: Reading<Vec<RestoreJob>>,
}

/// One restore job of a restore testing plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreJob {
    /// `RestoreJobId`.
    pub id: String,
    /// `Status`: `PENDING`, `RUNNING`, `COMPLETED`, `ABORTED` or `FAILED`.
    pub status: String,
    /// `StatusMessage`.
    pub status_message: Option<String>,
    /// `CreationDate`.
    pub created_at: DateTime<Utc>,
    /// `CompletionDate`.
    pub completed_at: Option<DateTime<Utc>>,
    /// `ValidationStatus`: `FAILED`, `SUCCESSFUL`, `TIMED_OUT` or `VALIDATING`.
    pub validation_status: Option<String>,
    /// `SourceResourceArn`: the resource whose recovery point was restored.
    pub source_resource_arn: Option<String>,
}

impl RestoreJob {
    /// Finished, one way or the other.
    pub fn finished(&self) -> bool {
        matches!(self.status.as_str(), "COMPLETED" | "FAILED" | "ABORTED")
    }

    /// Completed, and validation (when it ran) did not fail or time out.
    pub fn succeeded(&self) -> bool {
        self.status == "COMPLETED"
            && !matches!(
                self.validation_status.as_deref(),
                Some("FAILED") | Some("TIMED_OUT")
            )
    }
}

const CONTROLS: &[&str] = &["A.8.13"];

/// Every backup plan selects resources.
pub const PLANS_SELECT_RESOURCES: Check = Check {
    meta: CheckMeta {
        id: "aws_backup_plans_select_resources",
        title: "AWS Backup plans exist and select resources",
        severity: Severity::High,
        controls: CONTROLS,
        source: SOURCE,
        rationale: "Backup copies are taken according to an agreed policy; an AWS Backup plan protects only the resources its selections assign to it.",
        remediation: "Create a backup plan in the region and assign resources to it (by ARN or by tag).",
        max_age_days: 7,
    },
    evaluate: eval_plans,
};

/// Every protected resource has a recovery point within its RPO.
pub const RECOVERY_POINTS_WITHIN_RPO: Check = Check {
    meta: CheckMeta {
        id: "aws_backup_recovery_points_within_rpo",
        title: "Every backed-up resource has a completed recovery point within the RPO",
        severity: Severity::High,
        controls: CONTROLS,
        source: SOURCE,
        rationale: "A backup older than the recovery point objective loses more data than the organisation accepted.",
        remediation: "Look at the failed or missing backup jobs of the resource and its plan's schedule; run an on-demand backup.",
        max_age_days: 2,
    },
    evaluate: eval_recovery_points,
};

/// Restores are tested recently and succeed.
pub const RESTORE_TESTS_RECENT: Check = Check {
    meta: CheckMeta {
        id: "aws_backup_restore_tests_recent",
        title: "AWS Backup restore testing ran recently and its restores succeeded",
        severity: Severity::High,
        controls: CONTROLS,
        source: SOURCE,
        rationale: "Backups are regularly tested; only a restore shows that a backup can be used.",
        remediation: "Create a restore testing plan with selections for the protected resource types, and look at failed restore jobs.",
        max_age_days: 7,
    },
    evaluate: eval_restore_tests,
};

fn parse(meta: &CheckMeta, obs: &Observation) -> Result<(BackupObservation, String), Vec<Finding>> {
    let d: BackupObservation = obs
        .payload()
        .map_err(|e| vec![Finding::malformed(meta, obs, &e)])?;
    let acct = account_arn(&d.partition, &d.account_id);
    if d.regions.is_empty() {
        return Err(vec![Finding::new(
            meta,
            acct,
            Status::Error,
            ReasonCode::ObservationMalformed,
            "no region was covered",
        )]);
    }
    Ok((d, acct))
}

fn eval_plans(obs: &Observation) -> Vec<Finding> {
    let meta = &PLANS_SELECT_RESOURCES.meta;
    let (d, acct) = match parse(meta, obs) {
        Ok(x) => x,
        Err(f) => return f,
    };
    let mut out = Vec::new();
    for r in &d.regions {
        let plans = match r.plans.or_error(meta, &acct) {
            Ok(p) => p,
            Err(f) => {
                out.push(f);
                continue;
            }
        };
        if plans.is_empty() {
            out.push(Finding::new(
                meta,
                &acct,
                Status::Fail,
                ReasonCode::AwsNoBackupPlans,
                format!(
                    "account {}, region {}: no AWS Backup plan",
                    d.account_id, r.region
                ),
            ));
            continue;
        }
        for p in plans {
            let prefix = format!(
                "account {}, region {}: backup plan {}",
                d.account_id, r.region, p.name
            );
            let sels = match &p.selections {
                Reading::Ok(s) => s,
                Reading::Error(e) => {
                    out.push(error_finding(meta, &p.arn, e));
                    continue;
                }
            };
            let useful: Vec<&Selection> = sels.iter().filter(|s| s.selects_something()).collect();
            if useful.is_empty() {
                out.push(Finding::new(
                    meta,
                    &p.arn,
                    Status::Fail,
                    ReasonCode::AwsBackupPlanWithoutSelection,
                    format!(
                        "{prefix} selects no resources ({} selections, none naming a resource or tag)",
                        sels.len()
                    ),
                ));
            } else {
                let what: Vec<String> = useful
                    .iter()
                    .map(|s| {
                        let mut parts = Vec::new();
                        if !s.resources.is_empty() {
                            parts.push(format!("resources {}", s.resources.join(", ")));
                        }
                        if !s.tag_conditions.is_empty() {
                            parts.push(format!("tags {}", s.tag_conditions.join(", ")));
                        }
                        if !s.not_resources.is_empty() {
                            parts.push(format!("except {}", s.not_resources.join(", ")));
                        }
                        format!("{}: {}", s.name, parts.join("; "))
                    })
                    .collect();
                out.push(Finding::new(
                    meta,
                    &p.arn,
                    Status::Pass,
                    ReasonCode::AwsBackupPlanSelectsResources,
                    format!("{prefix} selects {}", what.join(" | ")),
                ));
            }
        }
    }
    out
}

/// A resource's newest completed recovery point across the region's vaults.
struct Newest<'a> {
    vault: &'a Vault,
    points: &'a ResourcePoints,
}

fn eval_recovery_points(obs: &Observation) -> Vec<Finding> {
    let meta = &RECOVERY_POINTS_WITHIN_RPO.meta;
    let (d, acct) = match parse(meta, obs) {
        Ok(x) => x,
        Err(f) => return f,
    };
    let now = obs.collected_at;
    let mut out = Vec::new();
    for r in &d.regions {
        let vaults = match r.vaults.or_error(meta, &acct) {
            Ok(v) => v,
            Err(f) => {
                out.push(f);
                continue;
            }
        };
        // Per resource: the vault entry with the newest completed point
        // (else the newest point of any status).
        let mut by_resource: BTreeMap<&str, Newest> = BTreeMap::new();
        let mut vault_errors = Vec::new();
        for v in vaults {
            let list = match &v.resources {
                Reading::Ok(l) => l,
                Reading::Error(e) => {
                    vault_errors.push((v, e));
                    continue;
                }
            };
            for p in list {
                let key = p.resource_arn.as_str();
                let better = match by_resource.get(key) {
                    None => true,
                    Some(cur) => {
                        let a = p.latest_completed.as_ref().map(|x| x.created_at);
                        let b = cur.points.latest_completed.as_ref().map(|x| x.created_at);
                        a > b || (a == b && p.latest.created_at > cur.points.latest.created_at)
                    }
                };
                if better {
                    by_resource.insert(
                        key,
                        Newest {
                            vault: v,
                            points: p,
                        },
                    );
                }
            }
        }
        for (v, e) in &vault_errors {
            out.push(error_finding(meta, &v.arn, e));
        }
        // Resources a plan names explicitly but no vault holds a point of.
        let mut selected: Vec<String> = Vec::new();
        if let Reading::Ok(plans) = &r.plans {
            for p in plans {
                if let Reading::Ok(sels) = &p.selections {
                    for s in sels {
                        for res in &s.resources {
                            if res.starts_with("arn:")
                                && !res.contains('*')
                                && !s.not_resources.contains(res)
                                && !selected.contains(res)
                            {
                                selected.push(res.clone());
                            }
                        }
                    }
                }
            }
        }
        if vault_errors.is_empty() {
            for res in selected
                .iter()
                .filter(|s| !by_resource.contains_key(s.as_str()))
            {
                out.push(Finding::new(
                    meta,
                    res,
                    Status::Fail,
                    ReasonCode::AwsNoRecoveryPoint,
                    format!(
                        "account {}, region {}: {res} is selected by a backup plan but has no recovery point in any vault",
                        d.account_id, r.region
                    ),
                ));
            }
        }
        if by_resource.is_empty() && vault_errors.is_empty() && selected.is_empty() {
            out.push(Finding::new(
                meta,
                &acct,
                Status::Fail,
                ReasonCode::AwsNoRecoveryPoint,
                format!(
                    "account {}, region {}: no recovery point in any of {} backup vaults",
                    d.account_id,
                    r.region,
                    vaults.len()
                ),
            ));
        }
        for (res, n) in &by_resource {
            let plan = n
                .points
                .latest_completed
                .as_ref()
                .and_then(|p| p.plan_name.as_deref())
                .or(n.points.latest.plan_name.as_deref());
            let rpo = d.settings.rpo_for(res, plan, &n.vault.name);
            let prefix = format!(
                "account {}, region {}: {res} (vault {}{})",
                d.account_id,
                r.region,
                n.vault.name,
                plan.map(|p| format!(", plan {p}")).unwrap_or_default()
            );
            match &n.points.latest_completed {
                None => out.push(Finding::new(
                    meta,
                    *res,
                    Status::Fail,
                    ReasonCode::AwsNoRecoveryPoint,
                    format!(
                        "{prefix} has no completed recovery point; the newest ({}) is {} from {}",
                        n.points.latest.arn,
                        n.points.latest.status,
                        n.points.latest.created_at.to_rfc3339()
                    ),
                )),
                Some(p) => {
                    let age = now - p.created_at;
                    let hours = age.num_hours();
                    if age > Duration::hours(i64::from(rpo)) {
                        out.push(Finding::new(
                            meta,
                            *res,
                            Status::Fail,
                            ReasonCode::AwsRecoveryPointTooOld,
                            format!(
                                "{prefix}: the newest completed recovery point {} is {hours} hours old (RPO {rpo} hours)",
                                p.arn
                            ),
                        ));
                    } else {
                        out.push(Finding::new(
                            meta,
                            *res,
                            Status::Pass,
                            ReasonCode::AwsRecoveryPointWithinRpo,
                            format!(
                                "{prefix}: the newest completed recovery point {} is {hours} hours old (RPO {rpo} hours)",
                                p.arn
                            ),
                        ));
                    }
                }
            }
        }
    }
    out
}

fn eval_restore_tests(obs: &Observation) -> Vec<Finding> {
    let meta = &RESTORE_TESTS_RECENT.meta;
    let (d, acct) = match parse(meta, obs) {
        Ok(x) => x,
        Err(f) => return f,
    };
    let now = obs.collected_at;
    let max_days = d.settings.restore_test_max_age_days;
    let max = Duration::days(i64::from(max_days));
    let mut out = Vec::new();
    for r in &d.regions {
        let plans = match r.restore_testing_plans.or_error(meta, &acct) {
            Ok(p) => p,
            Err(f) => {
                out.push(f);
                continue;
            }
        };
        if plans.is_empty() {
            out.push(Finding::new(
                meta,
                &acct,
                Status::Fail,
                ReasonCode::AwsNoRestoreTestingPlans,
                format!(
                    "account {}, region {}: no restore testing plan, so no backup is restore-tested",
                    d.account_id, r.region
                ),
            ));
            continue;
        }
        for p in plans {
            let prefix = format!(
                "account {}, region {}: restore testing plan {}",
                d.account_id, r.region, p.name
            );
            let jobs = match &p.jobs {
                Reading::Ok(j) => j,
                Reading::Error(e) => {
                    out.push(error_finding(meta, &p.arn, e));
                    continue;
                }
            };
            let when = |j: &RestoreJob| j.completed_at.unwrap_or(j.created_at);
            // The latest finished job of each restored resource.
            let mut latest: BTreeMap<&str, &RestoreJob> = BTreeMap::new();
            for j in jobs.iter().filter(|j| j.finished()) {
                let key = j.source_resource_arn.as_deref().unwrap_or("");
                if latest.get(key).is_none_or(|cur| when(j) > when(cur)) {
                    latest.insert(key, j);
                }
            }
            let running = jobs.iter().filter(|j| !j.finished()).count();
            let newest = latest.values().map(|j| when(j)).max();
            let failed: Vec<String> = latest
                .values()
                .filter(|j| !j.succeeded())
                .map(|j| {
                    let mut s = format!(
                        "job {} of {} is {}",
                        j.id,
                        j.source_resource_arn
                            .as_deref()
                            .unwrap_or("an unnamed resource"),
                        j.status
                    );
                    if let Some(v) = &j.validation_status {
                        s.push_str(&format!(" (validation {v})"));
                    }
                    if let Some(m) = &j.status_message {
                        s.push_str(&format!(": {m}"));
                    }
                    s
                })
                .collect();
            let finding = match newest {
                None => {
                    let (code, what) = match p.last_execution {
                        None => (
                            ReasonCode::AwsRestoreNeverTested,
                            "has never run a restore job".to_string(),
                        ),
                        Some(t) => (
                            ReasonCode::AwsRestoreTestTooOld,
                            format!(
                                "has no finished restore job in the last {max_days} days (last execution {})",
                                t.to_rfc3339()
                            ),
                        ),
                    };
                    let running = if running > 0 {
                        format!("; {running} restore jobs still running")
                    } else {
                        String::new()
                    };
                    Finding::new(meta, &p.arn, Status::Fail, code, format!("{prefix} {what}{running}"))
                }
                Some(_) if !failed.is_empty() => Finding::new(
                    meta,
                    &p.arn,
                    Status::Fail,
                    ReasonCode::AwsRestoreTestFailed,
                    format!("{prefix}: the latest restore failed: {}", failed.join("; ")),
                ),
                Some(t) if now - t > max => Finding::new(
                    meta,
                    &p.arn,
                    Status::Fail,
                    ReasonCode::AwsRestoreTestTooOld,
                    format!(
                        "{prefix}: the latest finished restore job is from {} ({} days ago, at most {max_days})",
                        t.to_rfc3339(),
                        (now - t).num_days()
                    ),
                ),
                Some(t) => Finding::new(
                    meta,
                    &p.arn,
                    Status::Pass,
                    ReasonCode::AwsRestoreTestPassed,
                    format!(
                        "{prefix}: the latest restore of each of {} resources succeeded, the newest on {} ({} days ago)",
                        latest.len(),
                        t.to_rfc3339(),
                        (now - t).num_days()
                    ),
                ),
            };
            out.push(finding);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::aws::test_support::{err, now, obs};
    use crate::aws::AwsErrorKind;

    fn region(
        plans: Reading<Vec<BackupPlan>>,
        vaults: Reading<Vec<Vault>>,
        rtp: Reading<Vec<RestoreTestingPlan>>,
    ) -> RegionBackup {
        RegionBackup {
            region: "us-east-1".into(),
            plans,
            vaults,
            restore_testing_plans: rtp,
        }
    }

    fn data(regions: Vec<RegionBackup>) -> BackupObservation {
        BackupObservation {
            account_id: "111122223333".into(),
            partition: "aws".into(),
            settings: BackupSettings::default(),
            regions,
        }
    }

    fn plan(name: &str, selections: Reading<Vec<Selection>>) -> BackupPlan {
        BackupPlan {
            id: format!("id-{name}"),
            name: name.into(),
            arn: format!("arn:aws:backup:us-east-1:111122223333:backup-plan:id-{name}"),
            selections,
        }
    }

    fn selection(resources: &[&str], tags: &[&str]) -> Selection {
        Selection {
            id: "s1".into(),
            name: "sel".into(),
            resources: resources.iter().map(|s| s.to_string()).collect(),
            not_resources: vec![],
            tag_conditions: tags.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn point(hours_ago: i64, status: &str, plan: Option<&str>) -> RecoveryPoint {
        RecoveryPoint {
            arn: format!("arn:aws:backup:us-east-1:111122223333:recovery-point:rp-{hours_ago}"),
            status: status.into(),
            created_at: now() - Duration::hours(hours_ago),
            plan_name: plan.map(str::to_string),
        }
    }

    fn resource(
        arn: &str,
        completed: Option<RecoveryPoint>,
        latest: RecoveryPoint,
    ) -> ResourcePoints {
        ResourcePoints {
            resource_arn: arn.into(),
            resource_type: Some("EBS".into()),
            latest_completed: completed,
            latest,
            count: 3,
        }
    }

    fn vault(name: &str, resources: Reading<Vec<ResourcePoints>>) -> Vault {
        Vault {
            name: name.into(),
            arn: format!("arn:aws:backup:us-east-1:111122223333:backup-vault:{name}"),
            resources,
        }
    }

    fn job(
        id: &str,
        status: &str,
        days_ago: i64,
        validation: Option<&str>,
        res: &str,
    ) -> RestoreJob {
        RestoreJob {
            id: id.into(),
            status: status.into(),
            status_message: None,
            created_at: now() - Duration::days(days_ago) - Duration::hours(1),
            completed_at: (status != "RUNNING").then(|| now() - Duration::days(days_ago)),
            validation_status: validation.map(str::to_string),
            source_resource_arn: Some(res.into()),
        }
    }

    fn rtp(name: &str, last: Option<i64>, jobs: Reading<Vec<RestoreJob>>) -> RestoreTestingPlan {
        RestoreTestingPlan {
            name: name.into(),
            arn: format!("arn:aws:backup:us-east-1:111122223333:restore-testing-plan:{name}"),
            last_execution: last.map(|d| now() - Duration::days(d)),
            jobs,
        }
    }

    fn codes(c: &Check, d: &BackupObservation) -> Vec<(Status, ReasonCode)> {
        (c.evaluate)(&obs(SOURCE, d))
            .into_iter()
            .map(|f| (f.status, f.reason_code))
            .collect()
    }

    const VOL: &str = "arn:aws:ec2:us-east-1:111122223333:volume/vol-1";

    #[test]
    fn plans_pass_fail_error() {
        let d = data(vec![
            region(
                Reading::Ok(vec![
                    plan("by-arn", Reading::Ok(vec![selection(&[VOL], &[])])),
                    plan(
                        "by-tag",
                        Reading::Ok(vec![selection(&[], &["backup=daily"])]),
                    ),
                    plan("empty", Reading::Ok(vec![])),
                    plan("blank", Reading::Ok(vec![selection(&[], &[])])),
                    plan("denied", err(AwsErrorKind::AccessDenied)),
                ]),
                Reading::Ok(vec![]),
                Reading::Ok(vec![]),
            ),
            RegionBackup {
                region: "eu-west-1".into(),
                ..region(
                    Reading::Ok(vec![]),
                    Reading::Ok(vec![]),
                    Reading::Ok(vec![]),
                )
            },
            region(
                err(AwsErrorKind::Throttled),
                Reading::Ok(vec![]),
                Reading::Ok(vec![]),
            ),
        ]);
        let f = (PLANS_SELECT_RESOURCES.evaluate)(&obs(SOURCE, &d));
        let got: Vec<(Status, ReasonCode)> = f.iter().map(|f| (f.status, f.reason_code)).collect();
        assert_eq!(
            got,
            [
                (Status::Pass, ReasonCode::AwsBackupPlanSelectsResources),
                (Status::Pass, ReasonCode::AwsBackupPlanSelectsResources),
                (Status::Fail, ReasonCode::AwsBackupPlanWithoutSelection),
                (Status::Fail, ReasonCode::AwsBackupPlanWithoutSelection),
                (Status::Error, ReasonCode::AwsAccessDenied),
                (Status::Fail, ReasonCode::AwsNoBackupPlans),
                (Status::Error, ReasonCode::AwsThrottled),
            ]
        );
        assert_eq!(
            f[0].resource_id,
            "arn:aws:backup:us-east-1:111122223333:backup-plan:id-by-arn"
        );
        assert!(f[0].reason.contains(VOL), "{}", f[0].reason);
        assert!(f[5].reason.contains("eu-west-1") && f[5].reason.contains("111122223333"));
    }

    #[test]
    fn recovery_points_against_the_rpo() {
        let old = "arn:aws:ec2:us-east-1:111122223333:volume/vol-old";
        let partial = "arn:aws:ec2:us-east-1:111122223333:volume/vol-partial";
        let copied = "arn:aws:ec2:us-east-1:111122223333:volume/vol-copied";
        let never = "arn:aws:ec2:us-east-1:111122223333:volume/vol-never";
        let d = data(vec![region(
            Reading::Ok(vec![plan(
                "p",
                Reading::Ok(vec![selection(
                    &[VOL, never, "arn:aws:ec2:*:*:volume/*"],
                    &[],
                )]),
            )]),
            Reading::Ok(vec![
                vault(
                    "main",
                    Reading::Ok(vec![
                        resource(
                            VOL,
                            Some(point(3, "COMPLETED", Some("p"))),
                            point(1, "PARTIAL", Some("p")),
                        ),
                        resource(
                            old,
                            Some(point(30, "COMPLETED", None)),
                            point(30, "COMPLETED", None),
                        ),
                        resource(partial, None, point(2, "PARTIAL", None)),
                        resource(
                            copied,
                            Some(point(40, "COMPLETED", None)),
                            point(40, "COMPLETED", None),
                        ),
                    ]),
                ),
                // A newer copy in another vault decides for that resource.
                vault(
                    "copies",
                    Reading::Ok(vec![resource(
                        copied,
                        Some(point(5, "COMPLETED", None)),
                        point(5, "COMPLETED", None),
                    )]),
                ),
            ]),
            Reading::Ok(vec![]),
        )]);
        let f = (RECOVERY_POINTS_WITHIN_RPO.evaluate)(&obs(SOURCE, &d));
        let by = |arn: &str| {
            let x = f
                .iter()
                .find(|x| x.resource_id == arn)
                .unwrap_or_else(|| panic!("{arn}: {f:?}"));
            (x.status, x.reason_code)
        };
        assert_eq!(
            by(VOL),
            (Status::Pass, ReasonCode::AwsRecoveryPointWithinRpo)
        );
        assert_eq!(by(old), (Status::Fail, ReasonCode::AwsRecoveryPointTooOld));
        assert_eq!(by(partial), (Status::Fail, ReasonCode::AwsNoRecoveryPoint));
        assert_eq!(
            by(copied),
            (Status::Pass, ReasonCode::AwsRecoveryPointWithinRpo)
        );
        assert_eq!(by(never), (Status::Fail, ReasonCode::AwsNoRecoveryPoint));
        assert_eq!(f.len(), 5, "{f:?}");
        assert!(f
            .iter()
            .find(|x| x.resource_id == copied)
            .unwrap()
            .reason
            .contains("vault copies"));

        // A per-resource, per-plan or per-vault RPO overrides the default.
        let mut d2 = d.clone();
        d2.settings.rpo_hours_by.insert(old.into(), 48);
        d2.settings.rpo_hours_by.insert("p".into(), 2);
        d2.settings.rpo_hours_by.insert("copies".into(), 4);
        let f2 = (RECOVERY_POINTS_WITHIN_RPO.evaluate)(&obs(SOURCE, &d2));
        let by2 = |arn: &str| f2.iter().find(|x| x.resource_id == arn).unwrap().status;
        assert_eq!(by2(old), Status::Pass);
        assert_eq!(by2(VOL), Status::Fail);
        assert_eq!(by2(copied), Status::Fail);
    }

    #[test]
    fn recovery_points_none_and_errors() {
        let none = data(vec![region(
            Reading::Ok(vec![]),
            Reading::Ok(vec![vault("v", Reading::Ok(vec![]))]),
            Reading::Ok(vec![]),
        )]);
        assert_eq!(
            codes(&RECOVERY_POINTS_WITHIN_RPO, &none),
            [(Status::Fail, ReasonCode::AwsNoRecoveryPoint)]
        );
        let listing = data(vec![region(
            Reading::Ok(vec![]),
            err(AwsErrorKind::Timeout),
            Reading::Ok(vec![]),
        )]);
        assert_eq!(
            codes(&RECOVERY_POINTS_WITHIN_RPO, &listing),
            [(Status::Error, ReasonCode::AwsTimeout)]
        );
        // One unreadable vault is an error, and no selected resource is
        // declared missing while a vault could not be read.
        let one_bad = data(vec![region(
            Reading::Ok(vec![plan("p", Reading::Ok(vec![selection(&[VOL], &[])]))]),
            Reading::Ok(vec![vault("v", err(AwsErrorKind::Malformed))]),
            Reading::Ok(vec![]),
        )]);
        assert_eq!(
            codes(&RECOVERY_POINTS_WITHIN_RPO, &one_bad),
            [(Status::Error, ReasonCode::AwsMalformedResponse)]
        );
    }

    #[test]
    fn restore_tests_pass_fail_error() {
        let other = "arn:aws:ec2:us-east-1:111122223333:volume/vol-2";
        let d = data(vec![
            region(
                Reading::Ok(vec![]),
                Reading::Ok(vec![]),
                Reading::Ok(vec![
                    rtp(
                        "good",
                        Some(2),
                        Reading::Ok(vec![
                            job("j1", "COMPLETED", 2, Some("SUCCESSFUL"), VOL),
                            // An older failure superseded by the newer success.
                            job("j0", "FAILED", 9, None, VOL),
                            job("j2", "COMPLETED", 3, None, other),
                        ]),
                    ),
                    rtp(
                        "failed",
                        Some(1),
                        Reading::Ok(vec![
                            job("j3", "FAILED", 1, None, VOL),
                            job("j4", "COMPLETED", 1, None, other),
                        ]),
                    ),
                    rtp(
                        "invalid",
                        Some(1),
                        Reading::Ok(vec![job("j5", "COMPLETED", 1, Some("FAILED"), VOL)]),
                    ),
                    rtp("never", None, Reading::Ok(vec![])),
                    rtp(
                        "stale",
                        Some(60),
                        Reading::Ok(vec![job("j6", "COMPLETED", 40, None, VOL)]),
                    ),
                    rtp("quiet", Some(60), Reading::Ok(vec![])),
                    rtp(
                        "running",
                        Some(0),
                        Reading::Ok(vec![job("j7", "RUNNING", 0, None, VOL)]),
                    ),
                    rtp("denied", Some(1), err(AwsErrorKind::AccessDenied)),
                ]),
            ),
            RegionBackup {
                region: "eu-west-1".into(),
                ..region(
                    Reading::Ok(vec![]),
                    Reading::Ok(vec![]),
                    Reading::Ok(vec![]),
                )
            },
            region(
                Reading::Ok(vec![]),
                Reading::Ok(vec![]),
                err(AwsErrorKind::ServiceError),
            ),
        ]);
        let f = (RESTORE_TESTS_RECENT.evaluate)(&obs(SOURCE, &d));
        let got: Vec<(Status, ReasonCode)> = f.iter().map(|f| (f.status, f.reason_code)).collect();
        assert_eq!(
            got,
            [
                (Status::Pass, ReasonCode::AwsRestoreTestPassed),
                (Status::Fail, ReasonCode::AwsRestoreTestFailed),
                (Status::Fail, ReasonCode::AwsRestoreTestFailed),
                (Status::Fail, ReasonCode::AwsRestoreNeverTested),
                (Status::Fail, ReasonCode::AwsRestoreTestTooOld),
                (Status::Fail, ReasonCode::AwsRestoreTestTooOld),
                (Status::Fail, ReasonCode::AwsRestoreTestTooOld),
                (Status::Error, ReasonCode::AwsAccessDenied),
                (Status::Fail, ReasonCode::AwsNoRestoreTestingPlans),
                (Status::Error, ReasonCode::AwsServiceError),
            ]
        );
        assert!(f[1].reason.contains("j3"), "{}", f[1].reason);
        assert!(f[6].reason.contains("still running"), "{}", f[6].reason);
        assert_eq!(
            f[0].resource_id,
            "arn:aws:backup:us-east-1:111122223333:restore-testing-plan:good"
        );
    }

    #[test]
    fn malformed_observation_is_an_error() {
        let o = obs(SOURCE, &serde_json::json!({"account_id": 1}));
        for c in [
            PLANS_SELECT_RESOURCES,
            RECOVERY_POINTS_WITHIN_RPO,
            RESTORE_TESTS_RECENT,
        ] {
            let f = (c.evaluate)(&o);
            assert_eq!(f.len(), 1);
            assert_eq!(f[0].status, Status::Error);
        }
        let empty = data(vec![]);
        assert_eq!(
            codes(&PLANS_SELECT_RESOURCES, &empty),
            [(Status::Error, ReasonCode::ObservationMalformed)]
        );
    }
}
