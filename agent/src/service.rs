//! The daemon process: one instance per data directory, signals, the status
//! file, and the [`Runner`] that connects the scheduler to collectors and the
//! ledger.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use evident_evidence::ledger::Ledger;
use evident_evidence::signing::FileSigner;
use tokio::sync::watch;

use crate::collect::{AgentRunner, Clock, SystemClock};
use crate::config::Config;
use crate::daemon::{self, Scheduler};

/// The status file inside the data directory.
pub const STATUS_FILE: &str = "status.json";
/// The lock file that keeps a second daemon off the same data directory.
pub const LOCK_FILE: &str = "daemon.lock";

/// Hold an exclusive lock on `<data_dir>/daemon.lock` for the process's life.
fn lock_data_dir(dir: &Path) -> anyhow::Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another `evident run` is already using {} (lock {})",
            dir.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Everything `evident run` needs, opened and checked before it starts.
pub struct DaemonSetup {
    /// Validated configuration.
    pub cfg: Config,
    /// Agent id.
    pub agent_id: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Open ledger.
    pub ledger: Ledger,
    /// Signing key.
    pub signer: FileSigner,
    /// Run every collector once at start.
    pub run_at_start: bool,
}

/// Run the daemon until SIGTERM or SIGINT; returns the exit code.
///
/// The signal handlers are installed before `setup` opens the ledger and
/// key, so a signal that arrives while the daemon starts stops it cleanly too.
pub fn run(setup: impl FnOnce() -> anyhow::Result<DaemonSetup>) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        // Collections run in blocking threads; an abandoned one (timeout)
        // may still hold a thread, so bound them.
        .max_blocking_threads(8)
        .thread_name("evident-worker")
        .build()
        .context("cannot start the async runtime")?;
    let (mut term, mut int) = {
        let _guard = runtime.enter();
        (
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("cannot listen for SIGTERM")?,
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                .context("cannot listen for SIGINT")?,
        )
    };
    let setup = setup()?;
    let _lock = lock_data_dir(&setup.data_dir)?;
    let concurrency = *setup.cfg.daemon.max_concurrent_runs.get_ref();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let runner = AgentRunner::new(
        Arc::new(setup.cfg),
        setup.agent_id,
        setup.ledger,
        Arc::new(setup.signer),
        clock.clone(),
    );
    let jobs = runner.jobs()?;
    if jobs.is_empty() {
        anyhow::bail!("no enabled collector in the configuration: nothing to schedule");
    }
    let runner = Arc::new(runner);
    let scheduler = Scheduler {
        jobs,
        runner: runner.clone(),
        clock,
        concurrency,
        jitter: daemon::random_jitter(),
        status: daemon::file_status_sink(setup.data_dir.join(STATUS_FILE)),
        run_at_start: setup.run_at_start,
    };
    runtime.block_on(async move {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            let which = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            tracing::info!(signal = which, "stopping");
            let _ = tx.send(true);
        });
        tracing::info!("evident daemon started");
        // Checkpoints left untimestamped or unpublished by earlier runs.
        tokio::spawn(async move {
            if let Some(out) = runner.after_checkpoint().await {
                tracing::debug!(
                    clean = out.is_clean(),
                    "pending timestamps and publications retried"
                );
            }
        });
        scheduler.run(rx).await.map_err(anyhow::Error::msg)
    })?;
    // Collection still running in a blocking thread was abandoned; it writes
    // nothing. Commits were awaited by the scheduler.
    runtime.shutdown_timeout(Duration::from_secs(2));
    tracing::info!("evident daemon stopped");
    Ok(crate::EXIT_OK)
}
