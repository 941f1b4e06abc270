//! AWS Backup: per covered region, the backup plans with their selections,
//! the vaults with the newest recovery point of each resource, and the
//! restore testing plans with their recent restore jobs.

use std::collections::BTreeMap;

use aws_sdk_backup::types::Condition;
use chrono::{DateTime, Duration, Utc};
use evident_policies::aws::backup::{
    BackupObservation, BackupPlan, RecoveryPoint, RegionBackup, ResourcePoints, RestoreJob,
    RestoreTestingPlan, Selection, Vault,
};
use evident_policies::aws::Reading;

use crate::error::{classify, malformed};
use crate::Ctx;

pub(crate) async fn observe(ctx: &Ctx, now: DateTime<Utc>) -> BackupObservation {
    let regions = futures_util::future::join_all(
        ctx.settings
            .regions
            .iter()
            .map(|region| observe_region(ctx, region, now)),
    )
    .await;
    BackupObservation {
        account_id: ctx.account_id.clone(),
        partition: ctx.partition.clone(),
        settings: ctx.settings.backup.clone(),
        regions,
    }
}

async fn observe_region(ctx: &Ctx, region: &str, now: DateTime<Utc>) -> RegionBackup {
    let client = aws_sdk_backup::Client::new(&ctx.conf_in(region));
    let (plans, vaults, restore_testing_plans) = tokio::join!(
        plans(&client, region),
        vaults(&client, region),
        restore_testing(ctx, &client, region, now)
    );
    RegionBackup {
        region: region.to_string(),
        plans,
        vaults,
        restore_testing_plans,
    }
}

/// A smithy timestamp as UTC.
pub(crate) fn utc(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

fn tags(list: &[Condition]) -> impl Iterator<Item = String> + '_ {
    list.iter()
        .map(|c| format!("{}={}", c.condition_key(), c.condition_value()))
}

async fn plans(client: &aws_sdk_backup::Client, region: &str) -> Reading<Vec<BackupPlan>> {
    let op = "backup:ListBackupPlans";
    let mut listed = Vec::new();
    let mut pages = client.list_backup_plans().into_paginator().send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(p) => listed.extend(p.backup_plans_list().iter().cloned()),
            Err(e) => return Reading::Error(classify(op, region, &e)),
        }
    }
    let mut out = Vec::new();
    for p in listed {
        let (Some(id), Some(arn)) = (p.backup_plan_id(), p.backup_plan_arn()) else {
            return Reading::Error(malformed(
                op,
                region,
                "a backup plan has no BackupPlanId or BackupPlanArn",
            ));
        };
        out.push(BackupPlan {
            id: id.to_string(),
            name: p.backup_plan_name().unwrap_or(id).to_string(),
            arn: arn.to_string(),
            selections: selections(client, id, region).await,
        });
    }
    Reading::Ok(out)
}

async fn selections(
    client: &aws_sdk_backup::Client,
    plan_id: &str,
    region: &str,
) -> Reading<Vec<Selection>> {
    let mut ids = Vec::new();
    let mut pages = client
        .list_backup_selections()
        .backup_plan_id(plan_id)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(p) => {
                for s in p.backup_selections_list() {
                    let Some(id) = s.selection_id() else {
                        return Reading::Error(malformed(
                            "backup:ListBackupSelections",
                            region,
                            format!("a selection of plan {plan_id} has no SelectionId"),
                        ));
                    };
                    ids.push(id.to_string());
                }
            }
            Err(e) => return Reading::Error(classify("backup:ListBackupSelections", region, &e)),
        }
    }
    let op = "backup:GetBackupSelection";
    let mut out = Vec::new();
    for id in ids {
        let got = match client
            .get_backup_selection()
            .backup_plan_id(plan_id)
            .selection_id(&id)
            .send()
            .await
        {
            Ok(g) => g,
            Err(e) => return Reading::Error(classify(op, region, &e)),
        };
        let Some(sel) = got.backup_selection() else {
            return Reading::Error(malformed(
                op,
                region,
                format!("selection {id} of plan {plan_id} has no BackupSelection"),
            ));
        };
        let mut tag_conditions: Vec<String> = tags(sel.list_of_tags()).collect();
        if let Some(c) = sel.conditions() {
            for (kind, list) in [
                ("=", c.string_equals()),
                ("!=", c.string_not_equals()),
                ("~", c.string_like()),
                ("!~", c.string_not_like()),
            ] {
                for p in list {
                    tag_conditions.push(format!(
                        "{}{kind}{}",
                        p.condition_key().unwrap_or_default(),
                        p.condition_value().unwrap_or_default()
                    ));
                }
            }
        }
        out.push(Selection {
            name: sel.selection_name().to_string(),
            id,
            resources: sel.resources().to_vec(),
            not_resources: sel.not_resources().to_vec(),
            tag_conditions,
        });
    }
    Reading::Ok(out)
}

async fn vaults(client: &aws_sdk_backup::Client, region: &str) -> Reading<Vec<Vault>> {
    let op = "backup:ListBackupVaults";
    let mut listed = Vec::new();
    let mut pages = client.list_backup_vaults().into_paginator().send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(p) => {
                for v in p.backup_vault_list() {
                    let (Some(name), Some(arn)) = (v.backup_vault_name(), v.backup_vault_arn())
                    else {
                        return Reading::Error(malformed(
                            op,
                            region,
                            "a vault has no BackupVaultName or BackupVaultArn",
                        ));
                    };
                    listed.push((name.to_string(), arn.to_string()));
                }
            }
            Err(e) => return Reading::Error(classify(op, region, &e)),
        }
    }
    let mut out = Vec::new();
    for (name, arn) in listed {
        let resources = recovery_points(client, &name, region).await;
        out.push(Vault {
            name,
            arn,
            resources,
        });
    }
    Reading::Ok(out)
}

/// The recovery points of a vault, reduced per resource to the newest
/// completed one and the newest of any status.
async fn recovery_points(
    client: &aws_sdk_backup::Client,
    vault: &str,
    region: &str,
) -> Reading<Vec<ResourcePoints>> {
    let op = "backup:ListRecoveryPointsByBackupVault";
    let mut by: BTreeMap<String, ResourcePoints> = BTreeMap::new();
    let mut pages = client
        .list_recovery_points_by_backup_vault()
        .backup_vault_name(vault)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) => return Reading::Error(classify(op, region, &e)),
        };
        for rp in page.recovery_points() {
            let (Some(arn), Some(resource), Some(created), Some(status)) = (
                rp.recovery_point_arn(),
                rp.resource_arn(),
                rp.creation_date().and_then(utc),
                rp.status(),
            ) else {
                return Reading::Error(malformed(
                    op,
                    region,
                    format!("a recovery point in vault {vault} lacks RecoveryPointArn, ResourceArn, CreationDate or Status"),
                ));
            };
            let point = RecoveryPoint {
                arn: arn.to_string(),
                status: status.as_str().to_string(),
                created_at: created,
                plan_name: rp
                    .created_by()
                    .and_then(|c| c.backup_plan_name())
                    .map(str::to_string),
            };
            let completed = point.status == "COMPLETED";
            let e = by
                .entry(resource.to_string())
                .or_insert_with(|| ResourcePoints {
                    resource_arn: resource.to_string(),
                    resource_type: rp.resource_type().map(str::to_string),
                    latest_completed: None,
                    latest: point.clone(),
                    count: 0,
                });
            e.count += 1;
            if point.created_at > e.latest.created_at {
                e.latest = point.clone();
            }
            if completed
                && e.latest_completed
                    .as_ref()
                    .is_none_or(|c| point.created_at > c.created_at)
            {
                e.latest_completed = Some(point);
            }
        }
    }
    Reading::Ok(by.into_values().collect())
}

async fn restore_testing(
    ctx: &Ctx,
    client: &aws_sdk_backup::Client,
    region: &str,
    now: DateTime<Utc>,
) -> Reading<Vec<RestoreTestingPlan>> {
    let op = "backup:ListRestoreTestingPlans";
    let mut listed = Vec::new();
    let mut pages = client.list_restore_testing_plans().into_paginator().send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(p) => listed.extend(p.restore_testing_plans().iter().cloned()),
            Err(e) => return Reading::Error(classify(op, region, &e)),
        }
    }
    // Jobs older than the allowed age cannot make a plan pass; ask only
    // for the recent ones (one extra day for clock skew).
    let since = now - Duration::days(i64::from(ctx.settings.backup.restore_test_max_age_days) + 1);
    let since = aws_smithy_types::DateTime::from_secs(since.timestamp());
    let mut out = Vec::new();
    for p in listed {
        let arn = p.restore_testing_plan_arn();
        let name = p.restore_testing_plan_name();
        if arn.is_empty() || name.is_empty() {
            return Reading::Error(malformed(
                op,
                region,
                "a restore testing plan has no RestoreTestingPlanArn or RestoreTestingPlanName",
            ));
        }
        out.push(RestoreTestingPlan {
            name: name.to_string(),
            arn: arn.to_string(),
            last_execution: p.last_execution_time().and_then(utc),
            jobs: restore_jobs(client, arn, since, region).await,
        });
    }
    Reading::Ok(out)
}

async fn restore_jobs(
    client: &aws_sdk_backup::Client,
    plan_arn: &str,
    since: aws_smithy_types::DateTime,
    region: &str,
) -> Reading<Vec<RestoreJob>> {
    let op = "backup:ListRestoreJobs";
    let mut out = Vec::new();
    let mut pages = client
        .list_restore_jobs()
        .by_restore_testing_plan_arn(plan_arn)
        .by_created_after(since)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) => return Reading::Error(classify(op, region, &e)),
        };
        for j in page.restore_jobs() {
            let (Some(id), Some(status), Some(created)) = (
                j.restore_job_id(),
                j.status(),
                j.creation_date().and_then(utc),
            ) else {
                return Reading::Error(malformed(
                    op,
                    region,
                    format!(
                        "a restore job of {plan_arn} lacks RestoreJobId, Status or CreationDate"
                    ),
                ));
            };
            out.push(RestoreJob {
                id: id.to_string(),
                status: status.as_str().to_string(),
                status_message: j.status_message().map(str::to_string),
                created_at: created,
                completed_at: j.completion_date().and_then(utc),
                validation_status: j.validation_status().map(|v| v.as_str().to_string()),
                source_resource_arn: j.source_resource_arn().map(str::to_string),
            });
        }
    }
    out.sort_by_key(|j| std::cmp::Reverse(j.created_at));
    Reading::Ok(out)
}
