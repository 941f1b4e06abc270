//! `evident`: ISO/IEC 27001:2022 evidence agent.
//!
//! The binary is the command-line definition and glue; the work is done by
//! the `evident-evidence`, `evident-policies` and `evident-collectors` crates.
#![forbid(unsafe_code)]

mod collect;
mod commands;
mod config;
mod daemon;
mod instances;
mod kinds;
mod paths;
mod report;
mod scan;
mod schedule;
mod service;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit code: the command ran and (with --fail-on) no finding matched.
pub const EXIT_OK: u8 = 0;
/// Exit code: the agent itself failed (ledger, key, I/O) or verification failed.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code: invalid configuration or command line.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: `collect --fail-on` matched at least one finding.
pub const EXIT_FINDINGS: u8 = 3;

/// A mistake on the command line that clap cannot see (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// ISO/IEC 27001:2022 evidence agent: collects signed, timestamped evidence
/// of Annex A controls into an append-only ledger.
#[derive(Debug, Parser)]
#[command(name = "evident", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file. Default: ./evident.toml, then
    /// /etc/evident/evident.toml, then the embedded default.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (ledger, key). Overrides `agent.data_dir`.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Output format of reports.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    /// More logging (-v info, -vv debug). `EVIDENT_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned text table for a terminal.
    Table,
    /// JSON.
    Json,
    /// CSV (RFC 4180).
    Csv,
    /// A Markdown table.
    Markdown,
    /// SARIF 2.1.0 (`evident scan` only).
    Sarif,
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// When `collect` should exit non-zero because of findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Any `fail` finding (errors too).
    Fail,
    /// Any `error` finding only.
    Error,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the data directory, the ledger and the signing key.
    Init,
    /// Run every enabled collector once, now, and record the evidence.
    Collect {
        /// Exit with code 3 when a finding has this status (`fail` also counts errors).
        #[arg(long, value_enum)]
        fail_on: Option<FailOn>,
    },
    /// Run as a daemon: each collector on its schedule, until SIGTERM/SIGINT.
    Run {
        /// Run every collector once at start, then follow the schedules.
        #[arg(long)]
        run_at_start: bool,
    },
    /// Show each collector's last run, outcome, last error and next run.
    Status,
    /// Print the Statement of Applicability: all 93 Annex A controls.
    Soa {
        /// Rebuild the SoA as it stood at this time (RFC 3339, or a date
        /// YYYY-MM-DD meaning the end of that day, UTC) from the ledger.
        #[arg(long, value_name = "DATE")]
        at: Option<String>,
        /// Exit 3 listing controls without a justification, excluded controls
        /// with evidence, and applicable controls whose latest evidence fails,
        /// errs or is stale.
        #[arg(long)]
        check: bool,
    },
    /// Validate the configuration and report every problem.
    Validate,
    /// List the 93 Annex A controls.
    Controls,
    /// List every check with its controls and metadata.
    Checks,
    /// Verify the ledger: every record, root and checkpoint signature.
    Verify {
        /// Trust only this public key (PEM); default: keys recorded in the ledger.
        #[arg(long, value_name = "PEM")]
        key: Option<PathBuf>,
        /// Also prove, with an RFC 9162 consistency proof, that the ledger
        /// extends this checkpoint saved earlier (as `evident checkpoint --out` writes it).
        #[arg(long, value_name = "DIR")]
        since_checkpoint: Option<PathBuf>,
    },
    /// Write one record with its inclusion proof and signed checkpoint, for
    /// `evident-verify record FILE`.
    Prove {
        /// The record's id.
        record_id: String,
        /// Where to write the proof file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Write the latest signed checkpoint (body, .sig, public key) to a directory.
    Checkpoint {
        /// Output directory (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Scan files and git histories for secrets and personal data (A.8.12),
    /// ad hoc: nothing is recorded. Exit 3 when something is found, 1 when
    /// part of the scan failed.
    Scan(scan::ScanArgs),
    /// Manage the agent's signing key.
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
}

#[derive(Debug, Subcommand)]
enum KeyAction {
    /// Print the public key as PEM.
    Export,
}

fn init_logging(cli: &Cli) {
    let default = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("EVIDENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) if is_broken_pipe(&err) => ExitCode::from(EXIT_OK),
        Err(err) => {
            let code = if err.downcast_ref::<config::ConfigError>().is_some()
                || err.downcast_ref::<UsageError>().is_some()
            {
                EXIT_USAGE
            } else {
                EXIT_FAILURE
            };
            eprintln!("evident: {err:#}");
            ExitCode::from(code)
        }
    }
}

/// Output piped into a reader that stopped (`evident soa | head`) is not a failure.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: &Cli) -> anyhow::Result<u8> {
    let ctx = commands::Context::new(cli);
    match &cli.command {
        Command::Init => commands::init(&ctx),
        Command::Collect { fail_on } => commands::collect(&ctx, *fail_on),
        Command::Run { run_at_start } => commands::run_daemon(&ctx, *run_at_start),
        Command::Status => commands::status(&ctx),
        Command::Soa { at, check } => commands::soa(&ctx, at.as_deref(), *check),
        Command::Validate => commands::validate(&ctx),
        Command::Controls => commands::controls(&ctx),
        Command::Checks => commands::checks(&ctx),
        Command::Verify {
            key,
            since_checkpoint,
        } => commands::verify(&ctx, key.as_deref(), since_checkpoint.as_deref()),
        Command::Prove { record_id, out } => commands::prove(&ctx, record_id, out),
        Command::Checkpoint { out } => commands::checkpoint(&ctx, out),
        Command::Key {
            action: KeyAction::Export,
        } => commands::key_export(&ctx),
        Command::Scan(args) => commands::scan(&ctx, args),
    }
}
