//! RDS: the DB instances and clusters of every covered region.

use evident_policies::aws::rds::{DbCluster, DbInstance, RdsObservation, RegionRds};
use evident_policies::aws::Reading;

use crate::error::{classify, malformed};
use crate::Ctx;

pub(crate) async fn observe(ctx: &Ctx) -> RdsObservation {
    let regions =
        futures_util::future::join_all(ctx.settings.regions.iter().map(|region| async move {
            let client = aws_sdk_rds::Client::new(&ctx.conf_in(region));
            let (instances, clusters) =
                tokio::join!(instances(&client, region), clusters(&client, region));
            RegionRds {
                region: region.clone(),
                instances,
                clusters,
            }
        }))
        .await;
    RdsObservation {
        account_id: ctx.account_id.clone(),
        partition: ctx.partition.clone(),
        min_retention_days: ctx.settings.backup.rds_min_retention_days,
        regions,
    }
}

async fn instances(client: &aws_sdk_rds::Client, region: &str) -> Reading<Vec<DbInstance>> {
    let op = "rds:DescribeDBInstances";
    let mut out = Vec::new();
    let mut pages = client.describe_db_instances().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) => return Reading::Error(classify(op, region, &e)),
        };
        for i in page.db_instances() {
            let (Some(id), Some(arn), Some(retention), Some(multi_az)) = (
                i.db_instance_identifier(),
                i.db_instance_arn(),
                i.backup_retention_period(),
                i.multi_az(),
            ) else {
                return Reading::Error(malformed(
                    op,
                    region,
                    "a DB instance lacks DBInstanceIdentifier, DBInstanceArn, BackupRetentionPeriod or MultiAZ",
                ));
            };
            out.push(DbInstance {
                id: id.to_string(),
                arn: arn.to_string(),
                engine: i.engine().unwrap_or("unknown").to_string(),
                backup_retention_days: retention,
                multi_az,
                cluster_id: i.db_cluster_identifier().map(str::to_string),
                replica_of: i
                    .read_replica_source_db_instance_identifier()
                    .map(str::to_string),
            });
        }
    }
    Reading::Ok(out)
}

async fn clusters(client: &aws_sdk_rds::Client, region: &str) -> Reading<Vec<DbCluster>> {
    let op = "rds:DescribeDBClusters";
    let mut out = Vec::new();
    let mut pages = client.describe_db_clusters().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) => return Reading::Error(classify(op, region, &e)),
        };
        for c in page.db_clusters() {
            let (Some(id), Some(arn), Some(retention)) = (
                c.db_cluster_identifier(),
                c.db_cluster_arn(),
                c.backup_retention_period(),
            ) else {
                return Reading::Error(malformed(
                    op,
                    region,
                    "a DB cluster lacks DBClusterIdentifier, DBClusterArn or BackupRetentionPeriod",
                ));
            };
            out.push(DbCluster {
                id: id.to_string(),
                arn: arn.to_string(),
                engine: c.engine().unwrap_or("unknown").to_string(),
                backup_retention_days: retention,
                // Absent for cluster kinds without the flag: not Multi-AZ (fail, never pass).
                multi_az: c.multi_az().unwrap_or(false),
            });
        }
    }
    Reading::Ok(out)
}
