//! One collection run: collectors → observations → checks → evidence records
//! → one ledger append with its signed checkpoint.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use evident_collectors::host::HostCollector;
use evident_evidence::checkpoint::Checkpoint;
use evident_evidence::ledger::Ledger;
use evident_evidence::record::{
    FindingRecord, Record, SoaDecisionRecord, FRAMEWORK, SCHEMA_VERSION,
};
use evident_evidence::signing::Signer;
use evident_policies::{Finding, Observation, ReasonCode, Status};

use crate::config::Config;

/// `evident <version>`, written into every record.
pub fn tool_version() -> String {
    format!("evident {}", env!("CARGO_PKG_VERSION"))
}

/// A source of the current time, injected so runs are testable.
pub trait Clock {
    /// The current time, UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// What one run recorded.
#[derive(Debug)]
pub struct RunOutcome {
    /// The run's id.
    pub run_id: String,
    /// The finding records appended, in order.
    pub findings: Vec<FindingRecord>,
    /// How many SoA decision records were appended.
    pub soa_changes: usize,
    /// The checkpoint signed for the run.
    pub checkpoint: Checkpoint,
}

/// Something reported while a run progresses (for a terminal).
pub type Progress<'a> = &'a mut dyn FnMut(&str);

/// Run every enabled collector once and append the evidence.
pub fn run_once(
    cfg: &Config,
    agent_id: &str,
    ledger: &mut Ledger,
    signer: &dyn Signer,
    clock: &dyn Clock,
    progress: Progress<'_>,
) -> Result<RunOutcome, evident_evidence::ledger::LedgerError> {
    let run_id = uuid::Uuid::now_v7().to_string();
    let mut observations: Vec<Observation> = Vec::new();
    let mut pending: Vec<(
        usize,
        Finding,
        &'static [&'static str],
        evident_policies::Severity,
    )> = Vec::new();

    for spanned in &cfg.collectors.host {
        let inst = spanned.get_ref();
        if !inst.enabled {
            tracing::info!(collector = %inst.name, "collector disabled; skipped");
            continue;
        }
        progress(&format!("collecting host {:?}", inst.name));
        let started = std::time::Instant::now();
        let collector = HostCollector::new(&inst.settings());
        let seen = collector.collect(clock.now());
        let selected = |id: &str| {
            inst.checks
                .as_ref()
                .is_none_or(|list| list.iter().any(|c| c.get_ref() == id))
        };
        for obs in seen {
            let idx = observations.len();
            for check in
                evident_policies::checks_for_source(&obs.source).filter(|c| selected(c.meta.id))
            {
                let mut found = (check.evaluate)(&obs);
                if found.is_empty() {
                    // Fail closed: a check that says nothing must not make its
                    // controls silently disappear.
                    found.push(Finding::new(
                        &check.meta,
                        obs.source.clone(),
                        Status::Error,
                        ReasonCode::ObservationMalformed,
                        "the check produced no finding for this observation",
                    ));
                }
                for f in found {
                    pending.push((idx, f, check.meta.controls, check.meta.severity));
                }
            }
            observations.push(obs);
        }
        tracing::info!(
            collector = %inst.name,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "collector finished"
        );
    }

    let recorded_at = clock.now();
    let digests: Vec<(String, Vec<u8>)> = observations
        .iter()
        .map(|o| {
            let bytes = o.to_canonical();
            (evident_evidence::canonical::sha256_digest(&bytes), bytes)
        })
        .collect();
    let mut findings = Vec::with_capacity(pending.len());
    for (idx, f, controls, severity) in pending {
        let obs = &observations[idx];
        findings.push(FindingRecord {
            schema_version: SCHEMA_VERSION,
            record_id: uuid::Uuid::now_v7().to_string(),
            run_id: run_id.clone(),
            agent_id: agent_id.to_string(),
            framework: FRAMEWORK.to_string(),
            controls: controls.iter().map(|c| c.to_string()).collect(),
            check_id: f.check_id.to_string(),
            severity,
            target: obs.target.clone(),
            resource_id: f.resource_id,
            status: f.status,
            reason_code: f.reason_code.as_str().to_string(),
            reason: f.reason,
            observed_at: obs.collected_at,
            recorded_at,
            tool_version: tool_version(),
            observation_digest: digests[idx].0.clone(),
        });
    }

    let soa = soa_changes(cfg, ledger, agent_id, &run_id, recorded_at)?;
    let soa_changes = soa.len();
    let mut records: Vec<Record> = soa.into_iter().map(Record::SoaDecision).collect();
    records.extend(findings.iter().cloned().map(Record::Finding));
    progress(&format!("recording {} records", records.len()));
    let checkpoint = ledger.append_run(&digests, &records, signer, agent_id, recorded_at)?;
    Ok(RunOutcome {
        run_id,
        findings,
        soa_changes,
        checkpoint,
    })
}

/// The latest SoA decision per control recorded in the ledger.
pub fn recorded_decisions(
    ledger: &Ledger,
    at: Option<DateTime<Utc>>,
) -> Result<BTreeMap<String, evident_policies::soa::Decision>, evident_evidence::ledger::LedgerError>
{
    let mut out = BTreeMap::new();
    for (_, rec) in ledger.records()? {
        if let Record::SoaDecision(d) = rec {
            if at.is_some_and(|at| d.recorded_at > at) {
                continue;
            }
            out.insert(
                d.control.clone(),
                evident_policies::soa::Decision {
                    applicable: d.applicable,
                    justification: d.justification.clone(),
                },
            );
        }
    }
    Ok(out)
}

/// The configured decision per control (every catalog control; undecided ones empty).
pub fn configured_decisions(cfg: &Config) -> BTreeMap<String, evident_policies::soa::Decision> {
    let configured = cfg.soa_decisions();
    evident_policies::catalog::controls()
        .iter()
        .map(|c| {
            let d = configured
                .get(&c.id)
                .map_or_else(Default::default, |(a, j)| evident_policies::soa::Decision {
                    applicable: Some(*a),
                    justification: j.clone(),
                });
            (c.id.clone(), d)
        })
        .collect()
}

/// Decision records for every control whose configured decision differs from
/// the latest one recorded (an undecided control with nothing recorded is no change).
fn soa_changes(
    cfg: &Config,
    ledger: &Ledger,
    agent_id: &str,
    run_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<SoaDecisionRecord>, evident_evidence::ledger::LedgerError> {
    let recorded = recorded_decisions(ledger, None)?;
    Ok(configured_decisions(cfg)
        .into_iter()
        .filter(|(id, d)| match recorded.get(id) {
            Some(prev) => prev != d,
            None => d.applicable.is_some() || d.justification.is_some(),
        })
        .map(|(control, d)| SoaDecisionRecord {
            schema_version: SCHEMA_VERSION,
            record_id: uuid::Uuid::now_v7().to_string(),
            run_id: run_id.to_string(),
            agent_id: agent_id.to_string(),
            framework: FRAMEWORK.to_string(),
            control,
            applicable: d.applicable,
            justification: d.justification,
            recorded_at: now,
            tool_version: tool_version(),
        })
        .collect())
}
