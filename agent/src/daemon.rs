//! `evident run`: a scheduler that runs each collector instance on its
//! crontab schedule, with jitter, a per-run timeout, retries with backoff for
//! transient failures, and a global concurrency limit; and the daemon around
//! it (signals, status file, single instance).
//!
//! A run has two phases. Collection may be abandoned (timeout, shutdown): it
//! writes nothing. The commit appends the run's records and its signed
//! checkpoint in one SQLite transaction and is never interrupted, so the
//! ledger never holds half a run.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Semaphore};

use crate::collect::Clock;
use crate::instances::RunOptions;

/// A boxed, sendable future.
pub type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A collector instance the scheduler drives.
#[derive(Debug, Clone)]
pub struct Job {
    /// Unique name of the instance.
    pub name: String,
    /// When and how to run it.
    pub options: RunOptions,
}

/// Why a collection failed.
#[derive(Debug, Clone)]
pub struct RunFailure {
    /// Worth retrying (network, throttling).
    pub transient: bool,
    /// What happened (never a secret).
    pub message: String,
}

/// What a commit reports back.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CommitSummary {
    /// Count of findings per status.
    pub findings: BTreeMap<String, usize>,
    /// Ledger size after the run.
    pub tree_size: u64,
}

/// The two phases of a run, as the scheduler sees them.
pub trait Runner: Send + Sync + 'static {
    /// What collection hands to the commit.
    type Batch: Send + 'static;
    /// Collect (may be abandoned at any await point; must not write evidence).
    fn collect(&self, job: &str) -> BoxFut<Result<Self::Batch, RunFailure>>;
    /// The batch to record when collection failed for good (fail closed).
    fn failed(&self, job: &str, timed_out: bool, reason: &str) -> Self::Batch;
    /// Record the batch atomically (never abandoned once started).
    fn commit(&self, job: &str, batch: Self::Batch) -> BoxFut<Result<CommitSummary, String>>;
}

/// Outcome of the last run of a collector instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Collected and recorded.
    Ok,
    /// Collection failed after retries; error findings were recorded.
    Error,
    /// Collection timed out; error findings were recorded.
    Timeout,
    /// Recording failed (ledger or key problem): nothing was recorded.
    CommitFailed,
}

/// Status of one collector instance.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct JobStatus {
    /// Schedule expression.
    pub schedule: String,
    /// Start of the last run.
    pub last_started_at: Option<DateTime<Utc>>,
    /// End of the last run.
    pub last_finished_at: Option<DateTime<Utc>>,
    /// Outcome of the last run.
    pub last_outcome: Option<Outcome>,
    /// The last error, if the last run had one.
    pub last_error: Option<String>,
    /// What the last successful commit recorded.
    pub last_summary: Option<CommitSummary>,
    /// Next scheduled run (jitter included).
    pub next_run_at: Option<DateTime<Utc>>,
    /// Runs since the daemon started.
    pub runs: u64,
}

/// Status of the daemon and its collector instances.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatusBook {
    /// Process id of the daemon.
    pub pid: u32,
    /// When the daemon started.
    pub started_at: Option<DateTime<Utc>>,
    /// When this status was written.
    pub updated_at: Option<DateTime<Utc>>,
    /// Whether the daemon stopped cleanly (written at shutdown).
    pub stopped: bool,
    /// Per collector instance.
    pub collectors: BTreeMap<String, JobStatus>,
}

/// Where status updates go (a file for the daemon, memory for tests).
pub type StatusSink = Arc<dyn Fn(&StatusBook) + Send + Sync>;

/// Random delay up to a maximum (injected so tests are deterministic).
pub type Jitter = Arc<dyn Fn(Duration) -> Duration + Send + Sync>;

/// The jitter of production: uniform in `[0, max]`.
pub fn random_jitter() -> Jitter {
    Arc::new(|max: Duration| {
        if max.is_zero() {
            return Duration::ZERO;
        }
        use rand::Rng;
        Duration::from_millis(rand::thread_rng().gen_range(0..=max.as_millis() as u64))
    })
}

/// The scheduler.
pub struct Scheduler<R: Runner> {
    /// Collector instances.
    pub jobs: Vec<Job>,
    /// Does the work.
    pub runner: Arc<R>,
    /// Current time.
    pub clock: Arc<dyn Clock>,
    /// At most this many runs at once.
    pub concurrency: usize,
    /// Jitter source.
    pub jitter: Jitter,
    /// Status updates.
    pub status: StatusSink,
    /// Run every job once at start, before following its schedule.
    pub run_at_start: bool,
}

/// Longest single sleep: the wall clock is re-read at least this often, so a
/// clock step (NTP, suspend) delays a run by at most this much.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// Sleep until the clock reads `target`; false if shutdown came first.
async fn sleep_until(
    clock: &dyn Clock,
    target: DateTime<Utc>,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    loop {
        if *shutdown.borrow() {
            return false;
        }
        let now = clock.now();
        if now >= target {
            return true;
        }
        let left = (target - now)
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(MAX_SLEEP);
        tokio::select! {
            _ = tokio::time::sleep(left) => {}
            _ = shutdown.changed() => {}
        }
    }
}

impl<R: Runner> Scheduler<R> {
    /// Run until `shutdown` turns true. Returns after in-flight commits finish.
    ///
    /// A job that panics stops the whole scheduler (the other jobs are
    /// cancelled; the ledger survives that like a kill) and is returned as
    /// an error, so that the daemon exits non-zero and its service manager
    /// restarts it, rather than running on with a collector silently gone.
    pub async fn run(self, shutdown: watch::Receiver<bool>) -> Result<(), String> {
        let book = Arc::new(Mutex::new(StatusBook {
            pid: std::process::id(),
            started_at: Some(self.clock.now()),
            ..StatusBook::default()
        }));
        let semaphore = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for job in self.jobs {
            let ctx = JobCtx {
                runner: self.runner.clone(),
                clock: self.clock.clone(),
                semaphore: semaphore.clone(),
                jitter: self.jitter.clone(),
                status: self.status.clone(),
                book: book.clone(),
                run_at_start: self.run_at_start,
            };
            tasks.spawn(ctx.run(job, shutdown.clone()));
        }
        let mut crashed: Option<String> = None;
        while let Some(joined) = tasks.join_next().await {
            if let Err(e) = joined {
                if e.is_panic() && crashed.is_none() {
                    tracing::error!(error = %e, "a collector job panicked; stopping the daemon");
                    crashed = Some(format!("a collector job panicked: {e}"));
                    tasks.abort_all();
                }
            }
        }
        let snapshot = {
            let mut b = lock(&book);
            b.stopped = true;
            b.updated_at = Some(self.clock.now());
            b.clone()
        };
        (self.status)(&snapshot);
        crashed.map_or(Ok(()), Err)
    }
}

fn lock(book: &Mutex<StatusBook>) -> std::sync::MutexGuard<'_, StatusBook> {
    // A panic while holding the lock leaves plain data; keep using it.
    book.lock().unwrap_or_else(|p| p.into_inner())
}

struct JobCtx<R: Runner> {
    runner: Arc<R>,
    clock: Arc<dyn Clock>,
    semaphore: Arc<Semaphore>,
    jitter: Jitter,
    status: StatusSink,
    book: Arc<Mutex<StatusBook>>,
    run_at_start: bool,
}

impl<R: Runner> JobCtx<R> {
    fn update(&self, name: &str, f: impl FnOnce(&mut JobStatus)) {
        let snapshot = {
            let mut b = lock(&self.book);
            f(b.collectors.entry(name.to_string()).or_default());
            b.updated_at = Some(self.clock.now());
            b.clone()
        };
        (self.status)(&snapshot);
    }

    async fn run(self, job: Job, mut shutdown: watch::Receiver<bool>) {
        let name = job.name.clone();
        self.update(&name, |s| {
            s.schedule = job.options.schedule.expr().to_string()
        });
        let mut first = self.run_at_start;
        loop {
            if !first {
                let Some(next) = job.options.schedule.next_after(self.clock.now()) else {
                    tracing::error!(collector = %name, schedule = job.options.schedule.expr(), "schedule has no future run; collector stopped");
                    self.update(&name, |s| {
                        s.next_run_at = None;
                        s.last_error = Some("schedule has no future run".into());
                    });
                    return;
                };
                let at = next
                    + chrono::Duration::from_std((self.jitter)(job.options.jitter))
                        .unwrap_or_default();
                self.update(&name, |s| s.next_run_at = Some(at));
                tracing::debug!(collector = %name, next_run = %at, "scheduled");
                if !sleep_until(self.clock.as_ref(), at, &mut shutdown).await {
                    return;
                }
            }
            first = false;
            let permit = tokio::select! {
                p = self.semaphore.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
                _ = shutdown.changed() => return,
            };
            if !self.run_once(&job, &mut shutdown).await {
                drop(permit);
                return;
            }
            drop(permit);
        }
    }

    /// One run; false when shutdown interrupted collection.
    async fn run_once(&self, job: &Job, shutdown: &mut watch::Receiver<bool>) -> bool {
        let name = job.name.as_str();
        let started = self.clock.now();
        self.update(name, |s| {
            s.last_started_at = Some(started);
            s.next_run_at = None;
        });
        tracing::info!(collector = %name, "run started");
        let collected = tokio::select! {
            r = collect_with_retries(self.runner.as_ref(), job) => r,
            _ = shutdown.changed() => {
                tracing::info!(collector = %name, "shutdown: collection abandoned, nothing recorded");
                return false;
            }
        };
        let (batch, outcome, error) = match collected {
            Ok(b) => (b, Outcome::Ok, None),
            Err((timed_out, reason)) => {
                tracing::warn!(collector = %name, %reason, "collection failed; recording error findings");
                let outcome = if timed_out {
                    Outcome::Timeout
                } else {
                    Outcome::Error
                };
                (
                    self.runner.failed(name, timed_out, &reason),
                    outcome,
                    Some(reason),
                )
            }
        };
        let committed = self.runner.commit(name, batch).await;
        let finished = self.clock.now();
        match committed {
            Ok(summary) => {
                tracing::info!(collector = %name, tree_size = summary.tree_size, ?outcome, "run recorded");
                self.update(name, |s| {
                    s.last_finished_at = Some(finished);
                    s.last_outcome = Some(outcome);
                    s.last_error = error;
                    s.last_summary = Some(summary);
                    s.runs += 1;
                });
            }
            Err(e) => {
                tracing::error!(collector = %name, error = %e, "recording failed; nothing recorded for this run");
                self.update(name, |s| {
                    s.last_finished_at = Some(finished);
                    s.last_outcome = Some(Outcome::CommitFailed);
                    s.last_error = Some(e);
                    s.runs += 1;
                });
            }
        }
        true
    }
}

/// Collect for `job`, retrying transient failures with exponential backoff
/// (1 s, 2 s, 4 s, …) while the job's timeout allows. `Err((timed_out, reason))`.
pub async fn collect_with_retries<R: Runner>(
    runner: &R,
    job: &Job,
) -> Result<R::Batch, (bool, String)> {
    let deadline = tokio::time::Instant::now() + job.options.timeout;
    let mut attempt = 0u32;
    loop {
        match tokio::time::timeout_at(deadline, runner.collect(&job.name)).await {
            Err(_) => {
                return Err((
                    true,
                    format!(
                        "collection did not finish within {}s",
                        job.options.timeout.as_secs()
                    ),
                ))
            }
            Ok(Ok(batch)) => return Ok(batch),
            Ok(Err(f)) if f.transient && attempt < job.options.retries => {
                let backoff = Duration::from_secs(1u64 << attempt.min(6));
                if tokio::time::Instant::now() + backoff >= deadline {
                    return Err((false, format!("{} (no time left to retry)", f.message)));
                }
                tracing::info!(collector = %job.name, attempt = attempt + 1, error = %f.message, "transient failure; retrying");
                tokio::time::sleep(backoff).await;
                attempt += 1;
            }
            Ok(Err(f)) => {
                let suffix = if attempt > 0 {
                    format!(" (after {attempt} retries)")
                } else {
                    String::new()
                };
                return Err((false, format!("{}{suffix}", f.message)));
            }
        }
    }
}

/// Write the status atomically (temporary file, then rename).
pub fn file_status_sink(path: PathBuf) -> StatusSink {
    Arc::new(move |book: &StatusBook| {
        let tmp = path.with_extension("json.tmp");
        let result = serde_json::to_vec_pretty(book)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "cannot write status file");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::CronSchedule;
    use chrono::{Datelike, TimeZone, Timelike, Weekday};

    /// UTC time that advances with tokio's (pausable) clock.
    struct TokioClock {
        base: DateTime<Utc>,
        start: tokio::time::Instant,
    }

    impl Clock for TokioClock {
        fn now(&self) -> DateTime<Utc> {
            self.base + chrono::Duration::from_std(self.start.elapsed()).unwrap_or_default()
        }
    }

    #[derive(Default)]
    struct Recorder {
        clock: Mutex<Option<Arc<dyn Clock>>>,
        runs: Mutex<Vec<(String, DateTime<Utc>)>>,
        commits: Mutex<Vec<(String, String)>>,
        /// Per job: failures to produce before succeeding, and whether transient.
        failures: Mutex<BTreeMap<String, (u32, bool)>>,
        /// Per job: how long collection takes.
        delay: Mutex<BTreeMap<String, Duration>>,
    }

    struct Fake(Arc<Recorder>);

    impl Runner for Fake {
        type Batch = String;
        fn collect(&self, job: &str) -> BoxFut<Result<String, RunFailure>> {
            let rec = self.0.clone();
            let job = job.to_string();
            Box::pin(async move {
                let now = rec
                    .clock
                    .lock()
                    .expect("lock")
                    .as_ref()
                    .expect("clock")
                    .now();
                rec.runs.lock().expect("lock").push((job.clone(), now));
                assert!(job != "panics", "collector bug");
                let delay = rec.delay.lock().expect("lock").get(&job).copied();
                if let Some(d) = delay {
                    tokio::time::sleep(d).await;
                }
                let mut failures = rec.failures.lock().expect("lock");
                if let Some((left, transient)) = failures.get_mut(&job) {
                    if *left > 0 {
                        *left -= 1;
                        return Err(RunFailure {
                            transient: *transient,
                            message: "boom".into(),
                        });
                    }
                }
                Ok(format!("batch of {job}"))
            })
        }
        fn failed(&self, job: &str, timed_out: bool, reason: &str) -> String {
            format!("failure of {job} (timeout {timed_out}): {reason}")
        }
        fn commit(&self, job: &str, batch: String) -> BoxFut<Result<CommitSummary, String>> {
            self.0
                .commits
                .lock()
                .expect("lock")
                .push((job.to_string(), batch));
            Box::pin(async { Ok(CommitSummary::default()) })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_job_stops_the_scheduler_with_an_error() {
        let rec = Arc::new(Recorder::default());
        let clock: Arc<dyn Clock> = Arc::new(TokioClock {
            base: Utc
                .with_ymd_and_hms(2026, 3, 2, 8, 30, 0)
                .single()
                .expect("time"),
            start: tokio::time::Instant::now(),
        });
        *rec.clock.lock().expect("lock") = Some(clock.clone());
        let scheduler = Scheduler {
            jobs: vec![job("steady", "@hourly"), job("panics", "@hourly")],
            runner: Arc::new(Fake(rec.clone())),
            clock,
            concurrency: 2,
            jitter: Arc::new(|_| Duration::ZERO),
            status: Arc::new(|_: &StatusBook| {}),
            run_at_start: true,
        };
        // Shutdown is never requested: the panic alone must end the run.
        let (_tx, rx) = watch::channel(false);
        let result = tokio::time::timeout(Duration::from_secs(86_400), scheduler.run(rx))
            .await
            .expect("the scheduler stopped by itself");
        let err = result.expect_err("a panicked job is an error");
        assert!(err.contains("panicked"), "{err}");
        assert!(rec
            .runs
            .lock()
            .expect("lock")
            .iter()
            .any(|(j, _)| j == "panics"));
    }

    fn job(name: &str, expr: &str) -> Job {
        Job {
            name: name.into(),
            options: RunOptions {
                schedule: CronSchedule::parse(expr).expect("valid"),
                jitter: Duration::ZERO,
                timeout: Duration::from_secs(300),
                retries: 2,
            },
        }
    }

    /// Run the scheduler on paused time from `base` for `span` of simulated time.
    async fn simulate(
        jobs: Vec<Job>,
        base: DateTime<Utc>,
        span: Duration,
        rec: Arc<Recorder>,
        run_at_start: bool,
    ) -> StatusBook {
        let clock: Arc<dyn Clock> = Arc::new(TokioClock {
            base,
            start: tokio::time::Instant::now(),
        });
        *rec.clock.lock().expect("lock") = Some(clock.clone());
        let last = Arc::new(Mutex::new(StatusBook::default()));
        let sink_last = last.clone();
        let scheduler = Scheduler {
            jobs,
            runner: Arc::new(Fake(rec)),
            clock,
            concurrency: 1,
            jitter: Arc::new(|_| Duration::ZERO),
            status: Arc::new(move |b: &StatusBook| *sink_last.lock().expect("lock") = b.clone()),
            run_at_start,
        };
        let (tx, rx) = watch::channel(false);
        let handle = tokio::spawn(scheduler.run(rx));
        tokio::time::sleep(span).await;
        tx.send(true).expect("send");
        handle
            .await
            .expect("scheduler task")
            .expect("no job panicked");
        let book = last.lock().expect("lock").clone();
        book
    }

    fn t(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .expect("valid")
    }

    #[tokio::test(start_paused = true)]
    async fn runs_at_crontab_times_and_none_in_between() {
        let rec = Arc::new(Recorder::default());
        // Saturday 2026-12-05 00:00 for 16 days.
        let book = simulate(
            vec![
                job("weekdays", "0 9 * * 1-5"),
                job("first-or-monday", "0 0 1 * 1"),
            ],
            t(2026, 12, 5, 0, 0),
            Duration::from_secs(16 * 86_400 + 3600),
            rec.clone(),
            false,
        )
        .await;
        let runs = rec.runs.lock().expect("lock").clone();
        let of = |name: &str| -> Vec<DateTime<Utc>> {
            runs.iter()
                .filter(|(j, _)| j == name)
                .map(|(_, t)| *t)
                .collect()
        };
        let weekdays = of("weekdays");
        assert_eq!(weekdays.len(), 10, "{weekdays:?}");
        for r in &weekdays {
            assert!(!matches!(r.weekday(), Weekday::Sat | Weekday::Sun), "{r}");
            assert_eq!((r.hour(), r.minute(), r.second()), (9, 0, 0), "{r}");
        }
        assert_eq!(weekdays[0], t(2026, 12, 7, 9, 0));
        assert_eq!(
            of("first-or-monday"),
            vec![
                t(2026, 12, 7, 0, 0),
                t(2026, 12, 14, 0, 0),
                t(2026, 12, 21, 0, 0)
            ]
        );
        // One commit per run.
        assert_eq!(rec.commits.lock().expect("lock").len(), 13);
        let s = &book.collectors["weekdays"];
        assert_eq!(s.runs, 10);
        assert_eq!(s.last_outcome, Some(Outcome::Ok));
        assert_eq!(s.next_run_at, Some(t(2026, 12, 21, 9, 0)));
        assert!(book.stopped);
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_within_the_timeout() {
        let rec = Arc::new(Recorder::default());
        rec.failures
            .lock()
            .expect("lock")
            .insert("j".into(), (2, true));
        simulate(
            vec![job("j", "@daily")],
            t(2026, 12, 3, 0, 30),
            Duration::from_secs(3600),
            rec.clone(),
            true,
        )
        .await;
        let runs = rec.runs.lock().expect("lock").clone();
        // Three attempts: at start, +1 s, +2 s more (exponential backoff).
        let times: Vec<i64> = runs
            .iter()
            .map(|(_, at)| (*at - t(2026, 12, 3, 0, 30)).num_seconds())
            .collect();
        assert_eq!(times, vec![0, 1, 3]);
        assert_eq!(
            rec.commits.lock().expect("lock").clone(),
            vec![("j".into(), "batch of j".into())]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_failure_and_exhausted_retries_record_error_findings() {
        let rec = Arc::new(Recorder::default());
        rec.failures
            .lock()
            .expect("lock")
            .insert("perm".into(), (1, false));
        rec.failures
            .lock()
            .expect("lock")
            .insert("flaky".into(), (5, true));
        let book = simulate(
            vec![job("perm", "@daily"), job("flaky", "@daily")],
            t(2026, 12, 3, 0, 30),
            Duration::from_secs(3600),
            rec.clone(),
            true,
        )
        .await;
        let commits = rec.commits.lock().expect("lock").clone();
        assert!(
            commits.contains(&(
                "perm".into(),
                "failure of perm (timeout false): boom".into()
            )),
            "{commits:?}"
        );
        assert!(
            commits.contains(&(
                "flaky".into(),
                "failure of flaky (timeout false): boom (after 2 retries)".into()
            )),
            "{commits:?}"
        );
        assert_eq!(book.collectors["perm"].last_outcome, Some(Outcome::Error));
        assert_eq!(book.collectors["perm"].last_error.as_deref(), Some("boom"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_that_exceeds_its_timeout_records_a_timeout() {
        let rec = Arc::new(Recorder::default());
        rec.delay
            .lock()
            .expect("lock")
            .insert("slow".into(), Duration::from_secs(900));
        let book = simulate(
            vec![job("slow", "@daily")],
            t(2026, 12, 3, 0, 30),
            Duration::from_secs(3600),
            rec.clone(),
            true,
        )
        .await;
        assert_eq!(
            rec.commits.lock().expect("lock").clone(),
            vec![(
                "slow".into(),
                "failure of slow (timeout true): collection did not finish within 300s".into()
            )]
        );
        assert_eq!(book.collectors["slow"].last_outcome, Some(Outcome::Timeout));
    }

    #[tokio::test(start_paused = true)]
    async fn the_concurrency_limit_serialises_runs() {
        let rec = Arc::new(Recorder::default());
        rec.delay
            .lock()
            .expect("lock")
            .insert("a".into(), Duration::from_secs(10));
        rec.delay
            .lock()
            .expect("lock")
            .insert("b".into(), Duration::from_secs(10));
        simulate(
            vec![job("a", "@hourly"), job("b", "@hourly")],
            t(2026, 12, 3, 0, 30),
            Duration::from_secs(2000),
            rec.clone(),
            false,
        )
        .await;
        let mut times: Vec<i64> = rec
            .runs
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, at)| (*at - t(2026, 12, 3, 1, 0)).num_seconds())
            .collect();
        times.sort();
        // Concurrency 1: the second starts when the first has finished.
        assert_eq!(times, vec![0, 10]);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_during_collection_abandons_it_and_records_nothing() {
        let rec = Arc::new(Recorder::default());
        rec.delay
            .lock()
            .expect("lock")
            .insert("slow".into(), Duration::from_secs(120));
        let book = simulate(
            vec![job("slow", "@daily")],
            t(2026, 12, 3, 0, 30),
            Duration::from_secs(60),
            rec.clone(),
            true,
        )
        .await;
        assert_eq!(rec.runs.lock().expect("lock").len(), 1);
        assert!(rec.commits.lock().expect("lock").is_empty());
        assert!(book.stopped);
        assert_eq!(book.collectors["slow"].runs, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn jitter_delays_the_run() {
        let rec = Arc::new(Recorder::default());
        let clock: Arc<dyn Clock> = Arc::new(TokioClock {
            base: t(2026, 12, 3, 0, 30),
            start: tokio::time::Instant::now(),
        });
        *rec.clock.lock().expect("lock") = Some(clock.clone());
        let mut j = job("j", "@hourly");
        j.options.jitter = Duration::from_secs(600);
        let scheduler = Scheduler {
            jobs: vec![j],
            runner: Arc::new(Fake(rec.clone())),
            clock,
            concurrency: 1,
            jitter: Arc::new(|max| max / 2),
            status: Arc::new(|_| {}),
            run_at_start: false,
        };
        let (tx, rx) = watch::channel(false);
        let handle = tokio::spawn(scheduler.run(rx));
        tokio::time::sleep(Duration::from_secs(3600)).await;
        tx.send(true).expect("send");
        handle.await.expect("join").expect("no job panicked");
        let runs = rec.runs.lock().expect("lock").clone();
        assert_eq!(
            runs.iter().map(|(_, t)| *t).collect::<Vec<_>>(),
            vec![t(2026, 12, 3, 1, 5)]
        );
    }
}
