//! One collection run: collectors → observations → checks → evidence records
//! → one ledger append with its signed checkpoint.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use evident_evidence::checkpoint::Checkpoint;
use evident_evidence::ledger::{Ledger, LedgerError};
use evident_evidence::record::{
    FindingRecord, Record, SoaDecisionRecord, FRAMEWORK, SCHEMA_VERSION,
};
use evident_evidence::signing::Signer;
use evident_policies::drift::SeriesKey;
use evident_policies::{Finding, Observation, ReasonCode, Severity, Status, Target};

use crate::config::Config;
use crate::daemon::{BoxFut, CommitSummary, Job, RunFailure, Runner};
use crate::instances::AnyInstance;

/// `evident <version>`, written into every record.
pub fn tool_version() -> String {
    format!("evident {}", env!("CARGO_PKG_VERSION"))
}

/// A source of the current time, injected so runs are testable.
pub trait Clock: Send + Sync {
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
    /// Status changes the run recorded (what notifications are sent for).
    pub transitions: Vec<crate::notify::Event>,
    /// Timestamping and publication after the checkpoint (`None`: none
    /// configured, or not run for this outcome).
    pub after: Option<crate::publish::AfterOutcome>,
}

/// Something reported while a run progresses (for a terminal).
pub type Progress<'a> = &'a mut dyn FnMut(&str);

/// A finding with the metadata of the check that produced it.
#[derive(Debug, Clone)]
struct Evaluated {
    observation: usize,
    finding: Finding,
    controls: &'static [&'static str],
    severity: Severity,
}

/// What collection produced, before anything is recorded: observations and
/// the findings of the checks on them. Building it does no ledger I/O, so a
/// collection that is abandoned (timeout, shutdown) leaves nothing behind.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    observations: Vec<Observation>,
    findings: Vec<Evaluated>,
    /// Findings without an observation (e.g. a collector that failed as a whole).
    orphan: Vec<(Target, Evaluated)>,
}

/// Evaluate the checks an instance selects on what its collector observed.
pub fn evaluate(inst: AnyInstance<'_>, seen: Vec<Observation>) -> Batch {
    let common = inst.common();
    let mut batch = Batch::default();
    for obs in seen {
        let idx = batch.observations.len();
        for check in
            evident_policies::checks_for_source(&obs.source).filter(|c| common.selects(c.meta.id))
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
            batch
                .findings
                .extend(found.into_iter().map(|finding| Evaluated {
                    observation: idx,
                    finding,
                    controls: check.meta.controls,
                    severity: check.meta.severity,
                }));
        }
        batch.observations.push(obs);
    }
    batch
}

/// The batch recorded when a collector instance could not run at all (timed
/// out, or failed after its retries): one `error` finding per check it would
/// have run, so its controls show the failure instead of going quiet.
pub fn failure(inst: AnyInstance<'_>, code: ReasonCode, reason: &str) -> Batch {
    let common = inst.common();
    let target = inst.target();
    let mut batch = Batch::default();
    for check in evident_policies::checks()
        .into_iter()
        .filter(|c| inst.sources().contains(&c.meta.source) && common.selects(c.meta.id))
    {
        let finding = Finding::new(
            &check.meta,
            inst.name().to_string(),
            Status::Error,
            code,
            reason,
        );
        batch.orphan.push((
            target.clone(),
            Evaluated {
                observation: usize::MAX,
                finding,
                controls: check.meta.controls,
                severity: check.meta.severity,
            },
        ));
    }
    batch
}

/// Record a batch: its findings, any SoA decision changes, and a signed
/// checkpoint, in one atomic append.
pub fn commit(
    batch: Batch,
    cfg: &Config,
    agent_id: &str,
    ledger: &mut Ledger,
    signer: &dyn Signer,
    clock: &dyn Clock,
) -> Result<RunOutcome, LedgerError> {
    let run_id = uuid::Uuid::now_v7().to_string();
    let recorded_at = clock.now();
    let digests: Vec<(String, Vec<u8>)> = batch
        .observations
        .iter()
        .map(|o| {
            let bytes = o.to_canonical();
            (evident_evidence::canonical::sha256_digest(&bytes), bytes)
        })
        .collect();
    let record =
        |target: &Target, observed_at: DateTime<Utc>, digest: String, e: Evaluated| FindingRecord {
            schema_version: SCHEMA_VERSION,
            record_id: uuid::Uuid::now_v7().to_string(),
            run_id: run_id.clone(),
            agent_id: agent_id.to_string(),
            framework: FRAMEWORK.to_string(),
            controls: e.controls.iter().map(|c| c.to_string()).collect(),
            check_id: e.finding.check_id.to_string(),
            severity: e.severity,
            target: target.clone(),
            resource_id: e.finding.resource_id,
            status: e.finding.status,
            reason_code: e.finding.reason_code.as_str().to_string(),
            reason: e.finding.reason,
            observed_at,
            recorded_at,
            tool_version: tool_version(),
            observation_digest: digest,
        };
    let mut findings = Vec::with_capacity(batch.findings.len() + batch.orphan.len());
    for e in batch.findings {
        let obs = &batch.observations[e.observation];
        let digest = digests[e.observation].0.clone();
        findings.push(record(&obs.target, obs.collected_at, digest, e));
    }
    // Findings without an observation point at the observation of the failure itself.
    let mut digests = digests;
    for (target, e) in batch.orphan {
        let failure = Observation::new(
            "agent.collector_failure",
            target.clone(),
            recorded_at,
            &serde_json::json!({ "collector": e.finding.resource_id, "reason": e.finding.reason }),
        );
        let bytes = failure.to_canonical();
        let digest = evident_evidence::canonical::sha256_digest(&bytes);
        if !digests.iter().any(|(d, _)| d == &digest) {
            digests.push((digest.clone(), bytes));
        }
        findings.push(record(&target, recorded_at, digest, e));
    }

    let soa = soa_changes(cfg, ledger, agent_id, &run_id, recorded_at)?;
    let soa_changes = soa.len();
    let mut records: Vec<Record> = soa.into_iter().map(Record::SoaDecision).collect();
    records.extend(findings.iter().cloned().map(Record::Finding));
    let checkpoint = ledger.append_run(&digests, &records, signer, agent_id, recorded_at)?;
    Ok(RunOutcome {
        run_id,
        findings,
        soa_changes,
        checkpoint,
        transitions: Vec::new(),
        after: None,
    })
}

/// Connects collectors, checks and the ledger; the scheduler drives it
/// through [`Runner`], `evident collect` through [`collect_all`].
pub struct AgentRunner {
    /// Validated configuration.
    pub cfg: Arc<Config>,
    /// Agent id.
    pub agent_id: String,
    /// The ledger (one writer at a time).
    pub ledger: Arc<Mutex<Ledger>>,
    /// The signing key.
    pub signer: Arc<dyn Signer>,
    /// Current time.
    pub clock: Arc<dyn Clock>,
    /// Latest status per series, loaded from the ledger on first use, to
    /// tell transitions (notified) from repeats (not notified).
    pub latest: Arc<Mutex<Option<BTreeMap<SeriesKey, Status>>>>,
    /// One timestamping and publication pass at a time.
    pub publishing: Arc<PublishGuard>,
}

/// Keeps timestamping and publication passes from overlapping; a pass asked
/// for while one runs makes that one go round again.
#[derive(Debug, Default)]
pub struct PublishGuard {
    lock: tokio::sync::Mutex<()>,
    again: std::sync::atomic::AtomicBool,
}

fn find<'a>(cfg: &'a Config, name: &str) -> Option<AnyInstance<'a>> {
    cfg.collectors
        .all()
        .into_iter()
        .map(|(i, _)| i)
        .find(|i| i.name() == name)
}

impl AgentRunner {
    fn clone_handle(&self) -> AgentRunner {
        AgentRunner {
            cfg: self.cfg.clone(),
            agent_id: self.agent_id.clone(),
            ledger: self.ledger.clone(),
            signer: self.signer.clone(),
            clock: self.clock.clone(),
            latest: self.latest.clone(),
            publishing: self.publishing.clone(),
        }
    }

    /// The enabled collector instances as scheduler jobs.
    pub fn jobs(&self) -> Result<Vec<Job>, crate::schedule::ScheduleError> {
        let mut jobs = Vec::new();
        for (inst, _) in self.cfg.collectors.all() {
            if inst.common().enabled {
                jobs.push(Job {
                    name: inst.name().to_string(),
                    options: inst.common().run_options()?,
                });
            }
        }
        Ok(jobs)
    }

    /// A runner over an open ledger and key.
    pub fn new(
        cfg: Arc<Config>,
        agent_id: String,
        ledger: Ledger,
        signer: Arc<dyn Signer>,
        clock: Arc<dyn Clock>,
    ) -> AgentRunner {
        AgentRunner {
            cfg,
            agent_id,
            ledger: Arc::new(Mutex::new(ledger)),
            signer,
            clock,
            latest: Arc::new(Mutex::new(None)),
            publishing: Arc::new(PublishGuard::default()),
        }
    }

    /// Timestamp and publish the pending checkpoints (see [`crate::publish`]).
    /// `None` when nothing is configured, or when another pass is running
    /// (it then goes round once more).
    pub async fn after_checkpoint(&self) -> Option<crate::publish::AfterOutcome> {
        use std::sync::atomic::Ordering;
        if self.cfg.timestamp.is_none() && self.cfg.publish.sink.is_empty() {
            return None;
        }
        let Ok(_guard) = self.publishing.lock.try_lock() else {
            self.publishing.again.store(true, Ordering::SeqCst);
            return None;
        };
        loop {
            self.publishing.again.store(false, Ordering::SeqCst);
            let out = crate::publish::after_checkpoint(
                self.cfg.timestamp.as_ref(),
                &self.cfg.publish,
                &self.ledger,
            )
            .await;
            if !self.publishing.again.swap(false, Ordering::SeqCst) {
                return Some(out);
            }
        }
    }

    /// Record a batch now (blocking: one SQLite transaction), and work out
    /// which results changed status.
    pub fn commit_now(&self, batch: Batch) -> Result<RunOutcome, LedgerError> {
        let mut ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        if latest.is_none() {
            let mut map = BTreeMap::new();
            for (_, rec) in ledger.records_of_type("finding")? {
                if let Record::Finding(f) = rec {
                    map.insert(SeriesKey::of(&f), f.status);
                }
            }
            *latest = Some(map);
        }
        let mut outcome = commit(
            batch,
            &self.cfg,
            &self.agent_id,
            &mut ledger,
            self.signer.as_ref(),
            self.clock.as_ref(),
        )?;
        if let Some(map) = latest.as_mut() {
            let changed = evident_policies::drift::new_transitions(map, &outcome.findings);
            for (key, from, _) in changed {
                if let Some(record) = outcome.findings.iter().find(|f| SeriesKey::of(f) == key) {
                    outcome.transitions.push(crate::notify::Event {
                        key,
                        from,
                        record: record.clone(),
                    });
                }
            }
            for f in &outcome.findings {
                map.insert(SeriesKey::of(f), f.status);
            }
        }
        Ok(outcome)
    }

    /// Send the run's transitions to the configured webhooks.
    pub async fn notify(&self, events: &[crate::notify::Event]) -> usize {
        let hooks: Vec<crate::notify::WebhookConfig> = self
            .cfg
            .notify
            .webhook
            .iter()
            .map(|h| h.get_ref().clone())
            .collect();
        crate::notify::deliver(&hooks, &self.agent_id, events).await
    }
}

impl Runner for AgentRunner {
    type Batch = Batch;

    fn collect(&self, job: &str) -> BoxFut<Result<Batch, RunFailure>> {
        let cfg = self.cfg.clone();
        let job = job.to_string();
        let started = find(&cfg, &job).map(|inst| inst.collect(self.clock.now()));
        Box::pin(async move {
            let Some(collecting) = started else {
                return Err(RunFailure {
                    transient: false,
                    message: format!("no collector instance named {job:?}"),
                });
            };
            let seen = collecting.await?;
            let inst = find(&cfg, &job).ok_or_else(|| RunFailure {
                transient: false,
                message: format!("no collector instance named {job:?}"),
            })?;
            Ok(evaluate(inst, seen))
        })
    }

    fn failed(&self, job: &str, timed_out: bool, reason: &str) -> Batch {
        let code = if timed_out {
            ReasonCode::CollectorTimeout
        } else {
            ReasonCode::CollectorFailed
        };
        find(&self.cfg, job)
            .map(|inst| failure(inst, code, reason))
            .unwrap_or_default()
    }

    fn commit(&self, _job: &str, batch: Batch) -> BoxFut<Result<CommitSummary, String>> {
        let runner = self.clone_handle();
        Box::pin(async move {
            let handle = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || {
                let mut outcome = runner.commit_now(batch).map_err(|e| e.to_string())?;
                let events = std::mem::take(&mut outcome.transitions);
                // Timestamps and publication run on their own too: a TSA or
                // sink that is down never delays collection.
                let after = runner.clone_handle();
                handle.spawn(async move {
                    if let Some(out) = after.after_checkpoint().await {
                        tracing::debug!(
                            clean = out.is_clean(),
                            "timestamp and publication pass done"
                        );
                    }
                });
                if !events.is_empty() {
                    // Delivery runs on its own: a slow or failing webhook
                    // never delays or affects collection.
                    let notifier = runner.clone_handle();
                    handle.spawn(async move {
                        let failed = notifier.notify(&events).await;
                        tracing::debug!(transitions = events.len(), failed, "notifications sent");
                    });
                }
                let mut summary = CommitSummary {
                    tree_size: outcome.checkpoint.tree_size,
                    ..CommitSummary::default()
                };
                for f in &outcome.findings {
                    *summary.findings.entry(f.status.to_string()).or_default() += 1;
                }
                Ok(summary)
            })
            .await
            .map_err(|e| format!("commit task failed: {e}"))?
        })
    }
}

/// Run every enabled collector once (with its timeout and retries) and
/// record everything as one run with one checkpoint.
pub async fn collect_all(
    runner: &AgentRunner,
    progress: Progress<'_>,
) -> Result<RunOutcome, LedgerError> {
    let mut all = Batch::default();
    for job in runner.jobs().unwrap_or_default() {
        progress(&format!("collecting {:?}", job.name));
        let started = std::time::Instant::now();
        match crate::daemon::collect_with_retries(runner, &job).await {
            Ok(batch) => all.append(batch),
            Err((timed_out, reason)) => {
                tracing::warn!(collector = %job.name, %reason, "collection failed; recording error findings");
                all.append(runner.failed(&job.name, timed_out, &reason));
            }
        }
        tracing::info!(
            collector = %job.name,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "collector finished"
        );
    }
    progress("recording evidence");
    let mut outcome = runner.commit_now(all)?;
    if runner.cfg.timestamp.is_some() || !runner.cfg.publish.sink.is_empty() {
        progress("timestamping and publishing the checkpoint");
        outcome.after = runner.after_checkpoint().await;
    }
    if !outcome.transitions.is_empty() {
        progress(&format!(
            "notifying {} transition(s)",
            outcome.transitions.len()
        ));
        runner.notify(&outcome.transitions).await;
    }
    Ok(outcome)
}

impl Batch {
    /// Move another batch's contents into this one.
    pub fn append(&mut self, other: Batch) {
        let offset = self.observations.len();
        self.observations.extend(other.observations);
        self.findings
            .extend(other.findings.into_iter().map(|mut e| {
                e.observation += offset;
                e
            }));
        self.orphan.extend(other.orphan);
    }
}

/// Finding and attestation records of a ledger, in ledger order.
#[derive(Debug, Default)]
pub struct Contents {
    /// Check results.
    pub findings: Vec<FindingRecord>,
    /// Manual evidence and risk acceptances.
    pub attestations: Vec<evident_evidence::record::AttestationRecord>,
}

/// Read the findings and attestations of a ledger that its latest
/// checkpoint covers (a record no checkpoint signs is left out).
pub fn contents(ledger: &Ledger) -> Result<Contents, LedgerError> {
    let mut out = Contents::default();
    for (_, r) in ledger.checkpointed_records_of_type("finding")? {
        if let Record::Finding(f) = r {
            out.findings.push(f);
        }
    }
    for (_, r) in ledger.checkpointed_records_of_type("attestation")? {
        if let Record::Attestation(a) = r {
            out.attestations.push(a);
        }
    }
    Ok(out)
}

/// The latest SoA decision per control recorded in the ledger and covered
/// by its latest checkpoint.
pub fn recorded_decisions(
    ledger: &Ledger,
    at: Option<DateTime<Utc>>,
) -> Result<BTreeMap<String, evident_policies::soa::Decision>, LedgerError> {
    let mut out = BTreeMap::new();
    for (_, rec) in ledger.checkpointed_records_of_type("soa_decision")? {
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
) -> Result<Vec<SoaDecisionRecord>, LedgerError> {
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
