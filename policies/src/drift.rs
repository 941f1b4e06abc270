//! Drift between audits: how each check's result on each resource changed
//! over a period. Pure: the caller reads finding records from the ledger.
//!
//! A *series* is every finding of one check on one resource of one target,
//! in recording order. Within the period we report its transitions (status
//! changes), the intervals it spent failing (`fail` or `error`), whether it
//! is failing now and since when, whether its evidence went stale (no result
//! within the check's maximum age), and whether the resource appeared or
//! disappeared (its check ran on the target without it).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use evident_evidence::record::{FindingRecord, Status};
use serde::Serialize;

use crate::soa::DEFAULT_MAX_AGE_DAYS;

/// Identity of a series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SeriesKey {
    /// Check id.
    pub check_id: String,
    /// Target id (host, account, organisation).
    pub target: String,
    /// Resource id.
    pub resource_id: String,
}

impl SeriesKey {
    /// The key of a finding record.
    pub fn of(f: &FindingRecord) -> SeriesKey {
        SeriesKey {
            check_id: f.check_id.clone(),
            target: f.target.id.clone(),
            resource_id: f.resource_id.clone(),
        }
    }
}

/// One status change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// When the new status was recorded.
    pub at: DateTime<Utc>,
    /// Previous status (`None`: first result ever).
    pub from: Option<Status>,
    /// New status.
    pub to: Status,
    /// The record that shows it.
    pub record_id: String,
    /// Its reason.
    pub reason: String,
}

/// A period spent failing (`fail` or `error`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureInterval {
    /// First failing result.
    pub from: DateTime<Utc>,
    /// First passing (or not applicable) result after it; `None` while ongoing.
    pub until: Option<DateTime<Utc>>,
    /// Length in seconds (to the end of the period while ongoing).
    pub seconds: i64,
}

/// The drift of one series over the period.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesDrift {
    /// Which check on which resource.
    #[serde(flatten)]
    pub key: SeriesKey,
    /// Controls the check evidences.
    pub controls: Vec<String>,
    /// Status changes recorded within the period (the first result counts
    /// when the series began within it).
    pub transitions: Vec<Transition>,
    /// Failure intervals overlapping the period (clipped to it).
    pub failures: Vec<FailureInterval>,
    /// Latest status at the end of the period.
    pub current: Option<Status>,
    /// Since when the latest status has held.
    pub current_since: Option<DateTime<Utc>>,
    /// When the evidence went stale (no result within the check's max age), if it did.
    pub stale_since: Option<DateTime<Utc>>,
    /// First seen within the period.
    pub appeared_at: Option<DateTime<Utc>>,
    /// Last seen before a later run of its check on the same target that no
    /// longer reported it.
    pub disappeared_at: Option<DateTime<Utc>>,
}

impl SeriesDrift {
    /// Whether anything happened to the series in the period.
    pub fn changed(&self) -> bool {
        !self.transitions.is_empty()
            || !self.failures.is_empty()
            || self.stale_since.is_some()
            || self.appeared_at.is_some()
            || self.disappeared_at.is_some()
    }
}

fn failing(s: Status) -> bool {
    matches!(s, Status::Fail | Status::Error)
}

/// The drift of every series between `since` and `until`, from all finding
/// records (those after `until` are ignored).
pub fn drift(
    findings: &[FindingRecord],
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<SeriesDrift> {
    let mut series: BTreeMap<SeriesKey, Vec<&FindingRecord>> = BTreeMap::new();
    // Runs of a check on a target: the times at which it reported anything.
    let mut runs: BTreeMap<(&str, &str), BTreeSet<DateTime<Utc>>> = BTreeMap::new();
    for f in findings.iter().filter(|f| f.recorded_at <= until) {
        series.entry(SeriesKey::of(f)).or_default().push(f);
        runs.entry((f.check_id.as_str(), f.target.id.as_str()))
            .or_default()
            .insert(f.recorded_at);
    }
    let mut out = Vec::new();
    for (key, mut items) in series {
        items.sort_by_key(|f| f.recorded_at);
        let max_age = Duration::days(i64::from(
            crate::check(&key.check_id).map_or(DEFAULT_MAX_AGE_DAYS, |c| c.meta.max_age_days),
        ));
        let mut transitions = Vec::new();
        let mut failures = Vec::new();
        let mut prev: Option<Status> = None;
        let mut current_since = None;
        let mut fail_start: Option<DateTime<Utc>> = None;
        for f in &items {
            if prev != Some(f.status) {
                if f.recorded_at >= since {
                    transitions.push(Transition {
                        at: f.recorded_at,
                        from: prev,
                        to: f.status,
                        record_id: f.record_id.clone(),
                        reason: f.reason.clone(),
                    });
                }
                current_since = Some(f.recorded_at);
                match (prev.is_some_and(failing), failing(f.status)) {
                    (false, true) => fail_start = Some(f.recorded_at),
                    (true, false) => {
                        if let Some(start) = fail_start.take() {
                            if f.recorded_at >= since {
                                let from = start.max(since);
                                failures.push(FailureInterval {
                                    from,
                                    until: Some(f.recorded_at),
                                    seconds: (f.recorded_at - from).num_seconds(),
                                });
                            }
                        }
                    }
                    _ => {}
                }
                prev = Some(f.status);
            }
        }
        if let Some(start) = fail_start {
            let from = start.max(since);
            failures.push(FailureInterval {
                from,
                until: None,
                seconds: (until - from).num_seconds().max(0),
            });
        }
        let last = items.last().map(|f| f.recorded_at);
        let stale_since = last
            .map(|t| t + max_age)
            .filter(|stale| *stale <= until && *stale >= since);
        let first = items.first().map(|f| f.recorded_at);
        let appeared_at = first.filter(|t| *t >= since);
        let disappeared_at = last.filter(|t| {
            runs.get(&(key.check_id.as_str(), key.target.as_str()))
                .and_then(|r| r.iter().next_back())
                .is_some_and(|latest_run| latest_run > t && *latest_run >= since)
        });
        out.push(SeriesDrift {
            controls: items.last().map(|f| f.controls.clone()).unwrap_or_default(),
            transitions,
            failures,
            current: prev,
            current_since,
            stale_since,
            appeared_at,
            disappeared_at,
            key,
        });
    }
    out
}

/// Only the transitions recorded by the newest run: the status of each
/// series in `new` compared with its latest status before (`previous`).
/// This is what notifications are sent for. A first result counts only when
/// it fails (a new resource that fails is news; one that passes is not).
pub fn new_transitions(
    previous: &BTreeMap<SeriesKey, Status>,
    new: &[FindingRecord],
) -> Vec<(SeriesKey, Option<Status>, Status)> {
    new.iter()
        .filter_map(|f| {
            let key = SeriesKey::of(f);
            let before = previous.get(&key).copied();
            let news = match before {
                Some(b) => b != f.status,
                None => failing(f.status),
            };
            news.then_some((key, before, f.status))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use evident_evidence::record::{Severity, Target, TargetKind, FRAMEWORK, SCHEMA_VERSION};

    fn f(id: &str, resource: &str, status: Status, hour: u32) -> FindingRecord {
        let t = Utc
            .with_ymd_and_hms(2026, 11, 2, hour, 0, 0)
            .single()
            .expect("valid");
        FindingRecord {
            schema_version: SCHEMA_VERSION,
            record_id: id.into(),
            run_id: format!("run-{hour}"),
            agent_id: "a".into(),
            framework: FRAMEWORK.into(),
            controls: vec!["A.8.5".into()],
            check_id: "some_check_x".into(),
            severity: Severity::High,
            target: Target {
                kind: TargetKind::Host,
                id: "h".into(),
            },
            resource_id: resource.into(),
            status,
            reason_code: "x".into(),
            reason: format!("{status} at {hour}"),
            observed_at: t,
            recorded_at: t,
            tool_version: "t".into(),
            observation_digest: "sha256:00".into(),
        }
    }

    fn h(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, hour, 0, 0)
            .single()
            .expect("valid")
    }

    #[test]
    fn pass_fail_fail_pass_is_one_failure_interval_and_three_transitions() {
        let recs = vec![
            f("1", "r", Status::Pass, 1),
            f("2", "r", Status::Fail, 2),
            f("3", "r", Status::Fail, 3),
            f("4", "r", Status::Pass, 5),
        ];
        let d = drift(&recs, h(0), h(6));
        assert_eq!(d.len(), 1);
        let s = &d[0];
        let tos: Vec<(Option<Status>, Status)> =
            s.transitions.iter().map(|t| (t.from, t.to)).collect();
        assert_eq!(
            tos,
            vec![
                (None, Status::Pass),
                (Some(Status::Pass), Status::Fail),
                (Some(Status::Fail), Status::Pass)
            ]
        );
        assert_eq!(
            s.failures,
            vec![FailureInterval {
                from: h(2),
                until: Some(h(5)),
                seconds: 3 * 3600
            }]
        );
        assert_eq!(s.current, Some(Status::Pass));
        assert_eq!(s.current_since, Some(h(5)));
        assert_eq!(s.appeared_at, Some(h(1)));
        assert_eq!(s.disappeared_at, None);
    }

    #[test]
    fn an_ongoing_failure_runs_to_the_end_and_periods_clip() {
        let recs = vec![
            f("1", "r", Status::Pass, 1),
            f("2", "r", Status::Error, 2),
            f("3", "r", Status::Fail, 3),
        ];
        let d = drift(&recs, h(0), h(10));
        assert_eq!(
            d[0].failures,
            vec![FailureInterval {
                from: h(2),
                until: None,
                seconds: 8 * 3600
            }]
        );
        assert_eq!(d[0].current_since, Some(h(3)));
        // A period starting after the failure began: clipped, no appearance.
        let d = drift(&recs, h(4), h(10));
        assert_eq!(
            d[0].failures,
            vec![FailureInterval {
                from: h(4),
                until: None,
                seconds: 6 * 3600
            }]
        );
        assert!(d[0].transitions.is_empty());
        assert_eq!(d[0].appeared_at, None);
    }

    #[test]
    fn disappeared_resources_and_stale_evidence() {
        let recs = vec![
            f("1", "a", Status::Pass, 1),
            f("2", "b", Status::Pass, 1),
            f("3", "a", Status::Pass, 2),
        ];
        let d = drift(&recs, h(0), h(3));
        let b = d.iter().find(|s| s.key.resource_id == "b").expect("b");
        assert_eq!(b.disappeared_at, Some(h(1)));
        let a = d.iter().find(|s| s.key.resource_id == "a").expect("a");
        assert_eq!(a.disappeared_at, None);
        // Default max age 30 days: stale 30 days after the last result.
        let later = h(2) + Duration::days(31);
        let d = drift(&recs, h(0), later);
        let a = d.iter().find(|s| s.key.resource_id == "a").expect("a");
        assert_eq!(a.stale_since, Some(h(2) + Duration::days(30)));
    }

    #[test]
    fn new_transitions_ignore_unchanged_results_and_first_passes() {
        let mut prev = BTreeMap::new();
        let r = f("2", "r", Status::Fail, 2);
        prev.insert(SeriesKey::of(&r), Status::Pass);
        let unchanged = f("3", "s", Status::Pass, 2);
        prev.insert(SeriesKey::of(&unchanged), Status::Pass);
        let first_pass = f("4", "t", Status::Pass, 2);
        let first_fail = f("5", "u", Status::Fail, 2);
        let got = new_transitions(
            &prev,
            &[r.clone(), unchanged, first_pass, first_fail.clone()],
        );
        // A new resource that fails is news; one that passes is not.
        assert_eq!(
            got,
            vec![
                (SeriesKey::of(&r), Some(Status::Pass), Status::Fail),
                (SeriesKey::of(&first_fail), None, Status::Fail)
            ]
        );
    }
}
