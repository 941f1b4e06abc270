//! RDS: automated backup retention and Multi-AZ of DB instances and
//! clusters. The `aws.rds` observation and its checks.
//!
//! An instance that belongs to a cluster (Aurora, Multi-AZ DB clusters) is
//! judged through its cluster, which holds the backup retention and the
//! Multi-AZ setting; a read replica's backups are those of its source.

use serde::{Deserialize, Serialize};

use super::{account_arn, error_finding, Reading};
use crate::model::{Check, CheckMeta, Finding, Observation, Severity, Status};
use crate::reason::ReasonCode;

/// The observation source of these checks.
pub const SOURCE: &str = "aws.rds";

/// What the AWS collector read of one account's RDS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RdsObservation {
    /// The account id.
    pub account_id: String,
    /// The partition.
    pub partition: String,
    /// Minimum backup retention in days (`[collectors.aws.backup]` `rds_min_retention_days`).
    pub min_retention_days: u32,
    /// One entry per covered region.
    pub regions: Vec<RegionRds>,
}

/// RDS in one region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionRds {
    /// The region.
    pub region: String,
    /// DescribeDBInstances.
    pub instances: Reading<Vec<DbInstance>>,
    /// DescribeDBClusters.
    pub clusters: Reading<Vec<DbCluster>>,
}

/// One DB instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbInstance {
    /// `DBInstanceIdentifier`.
    pub id: String,
    /// `DBInstanceArn`.
    pub arn: String,
    /// `Engine`.
    pub engine: String,
    /// `BackupRetentionPeriod`, days (0: automated backups off).
    pub backup_retention_days: i32,
    /// `MultiAZ`.
    pub multi_az: bool,
    /// `DBClusterIdentifier`, when the instance belongs to a cluster.
    pub cluster_id: Option<String>,
    /// `ReadReplicaSourceDBInstanceIdentifier`, when it is a read replica.
    pub replica_of: Option<String>,
}

/// One DB cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbCluster {
    /// `DBClusterIdentifier`.
    pub id: String,
    /// `DBClusterArn`.
    pub arn: String,
    /// `Engine`.
    pub engine: String,
    /// `BackupRetentionPeriod`, days.
    pub backup_retention_days: i32,
    /// `MultiAZ`.
    pub multi_az: bool,
}

/// Automated backups are kept long enough.
pub const BACKUP_RETENTION: Check = Check {
    meta: CheckMeta {
        id: "aws_rds_backup_retention_sufficient",
        title: "RDS automated backups are kept for at least the configured days",
        severity: Severity::High,
        controls: &["A.8.13"],
        source: SOURCE,
        rationale: "Automated backups with enough retention allow point-in-time recovery of the database.",
        remediation: "Raise the backup retention period of the DB instance or cluster (Modify > Backup retention period).",
        max_age_days: 7,
    },
    evaluate: eval_retention,
};

/// Databases are Multi-AZ.
pub const MULTI_AZ: Check = Check {
    meta: CheckMeta {
        id: "aws_rds_multi_az_enabled",
        title: "RDS DB instances and clusters are Multi-AZ",
        severity: Severity::Medium,
        controls: &["A.8.14"],
        source: SOURCE,
        rationale: "Redundancy of information processing facilities: a Multi-AZ deployment survives the loss of one availability zone.",
        remediation: "Convert the DB instance to a Multi-AZ deployment, or add a reader in another zone to the cluster.",
        max_age_days: 7,
    },
    evaluate: eval_multi_az,
};

/// What one resource is judged on.
struct Judged<'a> {
    arn: &'a str,
    what: String,
    retention: i32,
    multi_az: bool,
    replica_of: Option<&'a str>,
}

/// The instances outside clusters and the clusters of a region, and the
/// `error` findings of what could not be read (what was read is still judged).
fn judged<'a>(meta: &CheckMeta, acct: &str, r: &'a RegionRds) -> (Vec<Judged<'a>>, Vec<Finding>) {
    let mut errors = Vec::new();
    let mut out = Vec::new();
    match &r.instances {
        Reading::Ok(list) => {
            for i in list.iter().filter(|i| i.cluster_id.is_none()) {
                out.push(Judged {
                    arn: &i.arn,
                    what: format!("DB instance {} ({})", i.id, i.engine),
                    retention: i.backup_retention_days,
                    multi_az: i.multi_az,
                    replica_of: i.replica_of.as_deref(),
                });
            }
        }
        Reading::Error(e) => errors.push(error_finding(meta, acct, e)),
    }
    match &r.clusters {
        Reading::Ok(list) => {
            for c in list {
                out.push(Judged {
                    arn: &c.arn,
                    what: format!("DB cluster {} ({})", c.id, c.engine),
                    retention: c.backup_retention_days,
                    multi_az: c.multi_az,
                    replica_of: None,
                });
            }
        }
        Reading::Error(e) => errors.push(error_finding(meta, acct, e)),
    }
    (out, errors)
}

fn each(
    meta: &CheckMeta,
    obs: &Observation,
    judge: impl Fn(&RdsObservation, &RegionRds, &Judged) -> Finding,
) -> Vec<Finding> {
    let d: RdsObservation = match obs.payload() {
        Ok(d) => d,
        Err(e) => return vec![Finding::malformed(meta, obs, &e)],
    };
    let acct = account_arn(&d.partition, &d.account_id);
    if d.regions.is_empty() {
        return vec![Finding::new(
            meta,
            acct,
            Status::Error,
            ReasonCode::ObservationMalformed,
            "no region was covered",
        )];
    }
    let mut out = Vec::new();
    for r in &d.regions {
        let (list, errors) = judged(meta, &acct, r);
        if list.is_empty() && errors.is_empty() {
            out.push(Finding::new(
                meta,
                &acct,
                Status::NotApplicable,
                ReasonCode::ComponentAbsent,
                format!(
                    "account {}, region {}: no RDS DB instances or clusters",
                    d.account_id, r.region
                ),
            ));
        }
        out.extend(list.iter().map(|j| judge(&d, r, j)));
        out.extend(errors);
    }
    out
}

fn eval_retention(obs: &Observation) -> Vec<Finding> {
    let meta = &BACKUP_RETENTION.meta;
    each(meta, obs, |d, r, j| {
        let prefix = format!("account {}, region {}: {}", d.account_id, r.region, j.what);
        let min = i64::from(d.min_retention_days);
        if let Some(src) = j.replica_of {
            return Finding::new(
                meta,
                j.arn,
                Status::NotApplicable,
                ReasonCode::AwsRdsReadReplica,
                format!(
                    "{prefix} is a read replica of {src}; the source's automated backups apply"
                ),
            );
        }
        if i64::from(j.retention) >= min && j.retention > 0 {
            Finding::new(
                meta,
                j.arn,
                Status::Pass,
                ReasonCode::AwsRdsRetentionSufficient,
                format!(
                    "{prefix} keeps automated backups {} days (at least {min})",
                    j.retention
                ),
            )
        } else if j.retention <= 0 {
            Finding::new(
                meta,
                j.arn,
                Status::Fail,
                ReasonCode::AwsRdsRetentionTooShort,
                format!("{prefix} has automated backups turned off (retention 0 days, at least {min} required)"),
            )
        } else {
            Finding::new(
                meta,
                j.arn,
                Status::Fail,
                ReasonCode::AwsRdsRetentionTooShort,
                format!(
                    "{prefix} keeps automated backups {} days (at least {min} required)",
                    j.retention
                ),
            )
        }
    })
}

fn eval_multi_az(obs: &Observation) -> Vec<Finding> {
    let meta = &MULTI_AZ.meta;
    each(meta, obs, |d, r, j| {
        let prefix = format!("account {}, region {}: {}", d.account_id, r.region, j.what);
        if j.multi_az {
            Finding::new(
                meta,
                j.arn,
                Status::Pass,
                ReasonCode::AwsRdsMultiAz,
                format!("{prefix} is Multi-AZ"),
            )
        } else {
            Finding::new(
                meta,
                j.arn,
                Status::Fail,
                ReasonCode::AwsRdsSingleAz,
                format!("{prefix} runs in a single availability zone"),
            )
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::aws::test_support::{err, obs};
    use crate::aws::AwsErrorKind;

    fn inst(id: &str, retention: i32, multi_az: bool) -> DbInstance {
        DbInstance {
            id: id.into(),
            arn: format!("arn:aws:rds:us-east-1:111122223333:db:{id}"),
            engine: "postgres".into(),
            backup_retention_days: retention,
            multi_az,
            cluster_id: None,
            replica_of: None,
        }
    }

    fn data(
        instances: Reading<Vec<DbInstance>>,
        clusters: Reading<Vec<DbCluster>>,
    ) -> RdsObservation {
        RdsObservation {
            account_id: "111122223333".into(),
            partition: "aws".into(),
            min_retention_days: 7,
            regions: vec![RegionRds {
                region: "us-east-1".into(),
                instances,
                clusters,
            }],
        }
    }

    fn got(c: &Check, d: &RdsObservation) -> Vec<(String, Status, ReasonCode)> {
        (c.evaluate)(&obs(SOURCE, d))
            .into_iter()
            .map(|f| (f.resource_id, f.status, f.reason_code))
            .collect()
    }

    #[test]
    fn retention_and_multi_az_pass_fail() {
        let mut member = inst("aurora-1", 1, false);
        member.cluster_id = Some("aurora".into());
        let mut replica = inst("replica", 0, false);
        replica.replica_of = Some("good".into());
        let cluster = DbCluster {
            id: "aurora".into(),
            arn: "arn:aws:rds:us-east-1:111122223333:cluster:aurora".into(),
            engine: "aurora-postgresql".into(),
            backup_retention_days: 14,
            multi_az: true,
        };
        let d = data(
            Reading::Ok(vec![
                inst("good", 7, true),
                inst("short", 3, false),
                inst("off", 0, true),
                member,
                replica,
            ]),
            Reading::Ok(vec![cluster]),
        );
        let arn = |id: &str| format!("arn:aws:rds:us-east-1:111122223333:db:{id}");
        assert_eq!(
            got(&BACKUP_RETENTION, &d),
            [
                (
                    arn("good"),
                    Status::Pass,
                    ReasonCode::AwsRdsRetentionSufficient
                ),
                (
                    arn("short"),
                    Status::Fail,
                    ReasonCode::AwsRdsRetentionTooShort
                ),
                (
                    arn("off"),
                    Status::Fail,
                    ReasonCode::AwsRdsRetentionTooShort
                ),
                (
                    arn("replica"),
                    Status::NotApplicable,
                    ReasonCode::AwsRdsReadReplica
                ),
                (
                    "arn:aws:rds:us-east-1:111122223333:cluster:aurora".into(),
                    Status::Pass,
                    ReasonCode::AwsRdsRetentionSufficient
                ),
            ]
        );
        let m: Vec<Status> = got(&MULTI_AZ, &d).into_iter().map(|x| x.1).collect();
        assert_eq!(
            m,
            [
                Status::Pass,
                Status::Fail,
                Status::Pass,
                Status::Fail,
                Status::Pass
            ]
        );
        let f = (BACKUP_RETENTION.evaluate)(&obs(SOURCE, &d));
        assert!(
            f[1].reason.contains("111122223333")
                && f[1].reason.contains("us-east-1")
                && f[1].reason.contains("3 days")
        );
    }

    #[test]
    fn none_is_not_applicable_and_errors_are_errors() {
        let none = data(Reading::Ok(vec![]), Reading::Ok(vec![]));
        assert_eq!(got(&BACKUP_RETENTION, &none)[0].1, Status::NotApplicable);
        assert_eq!(got(&MULTI_AZ, &none)[0].1, Status::NotApplicable);
        let bad = data(err(AwsErrorKind::Throttled), Reading::Ok(vec![]));
        assert_eq!(
            got(&BACKUP_RETENTION, &bad),
            [(
                "arn:aws:iam::111122223333:root".into(),
                Status::Error,
                ReasonCode::AwsThrottled
            )]
        );
        let bad_clusters = data(
            Reading::Ok(vec![inst("good", 7, true)]),
            err(AwsErrorKind::AccessDenied),
        );
        let m: Vec<Status> = got(&MULTI_AZ, &bad_clusters)
            .into_iter()
            .map(|x| x.1)
            .collect();
        assert_eq!(m, [Status::Pass, Status::Error]);
        let o = obs(SOURCE, &serde_json::json!({"regions": "x"}));
        assert_eq!(
            (MULTI_AZ.evaluate)(&o)[0].reason_code,
            ReasonCode::ObservationMalformed
        );
    }
}
