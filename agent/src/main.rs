//! `evident`: ISO/IEC 27001:2022 evidence agent.
//!
//! The binary is the command-line definition and glue; the work is done by
//! the `evident-evidence`, `evident-policies` and `evident-collectors` crates.
#![forbid(unsafe_code)]

mod collect;
mod commands;
mod config;
mod daemon;
mod export;
mod instances;
mod kinds;
mod notify;
mod paths;
mod publish;
mod report;
mod say;
mod scan;
mod schedule;
mod service;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit code: the command ran and (with --fail-on) no finding matched.
pub const EXIT_OK: u8 = 0;
/// Standard output was closed before the command finished (128 + SIGPIPE).
pub const EXIT_CLOSED_STDOUT: u8 = 141;
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
    /// What changed since a date: transitions, failure intervals, what is
    /// failing now and since when, stale evidence, resources that came or went.
    Drift {
        /// Start of the period (RFC 3339, or YYYY-MM-DD meaning the start of that day, UTC).
        #[arg(long, value_name = "DATE")]
        since: String,
        /// End of the period (default: now).
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
    },
    /// Export evidence of a period for other tools.
    Export {
        #[command(subcommand)]
        what: ExportWhat,
    },
    /// Stage 1 readiness in one view: missing or overdue documents, SoA
    /// entries without justification, applicable controls without evidence,
    /// failing or stale controls, and no incident records. Exit 3 when not ready.
    Readiness,
    /// Validate the configuration and report every problem.
    Validate,
    /// List the 93 Annex A controls.
    Controls,
    /// List every check with its controls and metadata.
    Checks,
    /// Verify the ledger (every record, root and checkpoint signature), or
    /// the evidence pack at PATH.
    Verify {
        /// An evidence pack (directory or .tar.gz) to verify instead of the ledger.
        #[arg(value_name = "PATH")]
        path: Option<PathBuf>,
        /// Trust only this public key (PEM); default: keys recorded in the ledger.
        #[arg(long, value_name = "PEM")]
        key: Option<PathBuf>,
        /// Also prove, with an RFC 9162 consistency proof, that the ledger
        /// extends this checkpoint saved earlier (as `evident checkpoint --out` writes it).
        #[arg(long, value_name = "DIR")]
        since_checkpoint: Option<PathBuf>,
        /// Also check against a directory of published checkpoints (a
        /// `[[publish.sink]]` of type directory): each must be a prefix of
        /// the ledger (or pack), signed by a trusted key.
        #[arg(long, value_name = "DIR")]
        published: Option<PathBuf>,
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
    /// Record manual evidence for a control (training records, a signed
    /// policy, an incident report): the file's SHA-256, size and name, who
    /// attests, and an expiry, as a signed record. The SoA counts it until it expires.
    Attest {
        /// The control, e.g. A.6.3.
        #[arg(long)]
        control: String,
        /// The evidence file (hashed; copied into the data directory with --store).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// When it stops counting: a number of days (`365d`) or a date (YYYY-MM-DD).
        #[arg(long)]
        expires: String,
        /// What is attested.
        #[arg(long)]
        note: String,
        /// Who attests. Default: the user running evident.
        #[arg(long)]
        by: Option<String>,
        /// Keep a copy of the file in the data directory.
        #[arg(long)]
        store: bool,
    },
    /// Record the acceptance of a known failure, of one check or of a whole
    /// control, by an approver until an expiry: the SoA shows it as
    /// accepted, never as passing.
    AcceptRisk {
        /// The check whose failures are accepted.
        #[arg(long, conflicts_with = "control", required_unless_present = "control")]
        check: Option<String>,
        /// The control whose failures are accepted.
        #[arg(long)]
        control: Option<String>,
        /// Who approves.
        #[arg(long)]
        approver: String,
        /// Why the risk is accepted.
        #[arg(long)]
        justification: String,
        /// When the acceptance ends: `90d` or YYYY-MM-DD.
        #[arg(long)]
        expires: String,
    },
    /// Write an evidence pack (records, proofs, observations, SoA decisions,
    /// checkpoint, keys, SHA256SUMS and its signature, VERIFY.md).
    Pack {
        /// First day of the period (YYYY-MM-DD, UTC, inclusive, or RFC 3339).
        #[arg(long, value_name = "DATE")]
        from: String,
        /// Last day of the period (YYYY-MM-DD, UTC, inclusive, or RFC 3339 exclusive).
        #[arg(long, value_name = "DATE")]
        to: String,
        /// Output: a directory (created; must be empty), or a gzip tarball
        /// when the name ends in .tar.gz or .tgz (must not exist).
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
        /// Include this saved checkpoint and the consistency proof from it.
        #[arg(long, value_name = "DIR")]
        since_checkpoint: Option<PathBuf>,
    },
    /// Scan files and git histories for secrets and personal data (A.8.12),
    /// ad hoc: nothing is recorded. Exit 3 when something is found, 1 when
    /// part of the scan failed.
    Scan(Box<scan::ScanArgs>),
    /// Manage the agent's signing key.
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
}

#[derive(Debug, Subcommand)]
enum ExportWhat {
    /// The SoA as an Excel workbook.
    SoaXlsx {
        /// Where to write it.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The SoA as it stood then (RFC 3339 or YYYY-MM-DD). Default: now.
        #[arg(long, value_name = "DATE")]
        at: Option<String>,
    },
    /// The SoA as one self-contained HTML page.
    SoaHtml {
        /// Where to write it.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The SoA as it stood then. Default: now.
        #[arg(long, value_name = "DATE")]
        at: Option<String>,
    },
    /// An OSCAL 1.1 Assessment Results JSON document: one observation per
    /// finding record, one finding per control with evidence.
    Oscal {
        /// Start of the period (RFC 3339 or YYYY-MM-DD). Default: the first record.
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// End of the period. Default: now.
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
        /// Write here instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum KeyAction {
    /// Print the public key as PEM.
    Export,
    /// Make a new key; a rotation record signed by the old key names it.
    Rotate,
}

fn init_logging(log_format: LogFormat, verbose: u8, daemon: bool) {
    use tracing_subscriber::filter::{filter_fn, FilterExt};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    // The daemon says what it does (start, runs, stop) by default: its log
    // is what an operator reads in the journal. One-shot commands stay quiet.
    let default = match verbose {
        0 if daemon => "info",
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("EVIDENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    match log_format {
        LogFormat::Human => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .init(),
        LogFormat::Json => {
            // Two layers of the same JSON format: the logs, through the
            // filter; and what the command says to its user (see `say`),
            // never filtered, so the final error is printed even under
            // `EVIDENT_LOG=off`.
            let logs = tracing_subscriber::fmt::layer()
                .json()
                .with_writer(std::io::stderr)
                .with_filter(filter.and(filter_fn(|m| m.target() != say::TARGET)));
            let said = tracing_subscriber::fmt::layer()
                .json()
                .with_writer(std::io::stderr)
                .with_filter(filter_fn(|m| m.target() == say::TARGET));
            tracing_subscriber::registry().with(logs).with(said).init();
        }
    }
}

fn main() -> ExitCode {
    evident_evidence::exit_quietly_on_closed_stdout();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // A command-line mistake under `--log-format json` is a JSON line
        // too; help and version go to standard output as usual.
        Err(e) if e.use_stderr() && json_requested(std::env::args_os()) => {
            init_logging(LogFormat::Json, 0, false);
            say::Say::new(LogFormat::Json).error(e.render().to_string().trim_end());
            return ExitCode::from(EXIT_USAGE);
        }
        Err(e) => e.exit(),
    };
    init_logging(
        cli.log_format,
        cli.verbose,
        matches!(cli.command, Command::Run { .. }),
    );
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        // Standard output closed before the verdict was written: never 0
        // (a CI gate whose output nobody read is not a pass), as a shell
        // reports a program killed by SIGPIPE.
        Err(err) if is_broken_pipe(&err) => ExitCode::from(EXIT_CLOSED_STDOUT),
        Err(err) => {
            let code = if err.downcast_ref::<config::ConfigError>().is_some()
                || err.downcast_ref::<UsageError>().is_some()
            {
                EXIT_USAGE
            } else {
                EXIT_FAILURE
            };
            say::Say::new(cli.log_format).error(render_error(&err));
            ExitCode::from(code)
        }
    }
}

/// Whether a command line clap refused asks for `--log-format json`.
fn json_requested(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    let mut previous_was_flag = false;
    for arg in args {
        if arg == "--" {
            break;
        }
        if arg == "--log-format=json" || (previous_was_flag && arg == "json") {
            return true;
        }
        previous_was_flag = arg == "--log-format";
    }
    false
}

/// The error and its causes, joined with ": ", leaving out a cause whose
/// text the message before it already contains (many library errors repeat
/// their source in their own message).
fn render_error(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Output piped into a reader that stopped (`evident soa | head`) is not a failure.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            // JSON written straight to stdout wraps the io error.
            || e.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}

fn run(cli: &Cli) -> anyhow::Result<u8> {
    // SARIF describes scan results; every other command would print its
    // table under that name. Refused before anything runs.
    if cli.format == Format::Sarif && !matches!(cli.command, Command::Scan(_)) {
        return Err(UsageError(
            "--format sarif is only printed by `evident scan`; use table, json, csv or markdown"
                .into(),
        )
        .into());
    }
    let ctx = commands::Context::new(cli);
    match &cli.command {
        Command::Init => commands::init(&ctx),
        Command::Collect { fail_on } => commands::collect(&ctx, *fail_on),
        Command::Run { run_at_start } => commands::run_daemon(&ctx, *run_at_start),
        Command::Status => commands::status(&ctx),
        Command::Soa { at, check } => commands::soa(&ctx, at.as_deref(), *check),
        Command::Drift { since, until } => commands::drift(&ctx, since, until.as_deref()),
        Command::Export {
            what: ExportWhat::Oscal { since, until, out },
        } => commands::export_oscal(&ctx, since.as_deref(), until.as_deref(), out.as_deref()),
        Command::Export {
            what: ExportWhat::SoaXlsx { out, at },
        } => commands::export_soa(&ctx, true, out, at.as_deref()),
        Command::Export {
            what: ExportWhat::SoaHtml { out, at },
        } => commands::export_soa(&ctx, false, out, at.as_deref()),
        Command::Readiness => commands::readiness(&ctx),
        Command::Validate => commands::validate(&ctx),
        Command::Controls => commands::controls(&ctx),
        Command::Checks => commands::checks(&ctx),
        Command::Verify {
            path: Some(path),
            key,
            since_checkpoint,
            published,
        } => commands::verify_pack(
            &ctx,
            path,
            key.as_deref(),
            since_checkpoint.as_deref(),
            published.as_deref(),
        ),
        Command::Verify {
            path: None,
            key,
            since_checkpoint,
            published,
        } => commands::verify(
            &ctx,
            key.as_deref(),
            since_checkpoint.as_deref(),
            published.as_deref(),
        ),
        Command::Pack {
            from,
            to,
            out,
            since_checkpoint,
        } => commands::pack(&ctx, from, to, out, since_checkpoint.as_deref()),
        Command::Prove { record_id, out } => commands::prove(&ctx, record_id, out),
        Command::Checkpoint { out } => commands::checkpoint(&ctx, out),
        Command::Attest {
            control,
            file,
            expires,
            note,
            by,
            store,
        } => commands::attest(
            &ctx,
            control,
            file.as_deref(),
            expires,
            note,
            by.as_deref(),
            *store,
        ),
        Command::AcceptRisk {
            check,
            control,
            approver,
            justification,
            expires,
        } => commands::accept_risk(
            &ctx,
            check.as_deref(),
            control.as_deref(),
            approver,
            justification,
            expires,
        ),
        Command::Key {
            action: KeyAction::Export,
        } => commands::key_export(&ctx),
        Command::Key {
            action: KeyAction::Rotate,
        } => commands::key_rotate(&ctx),
        Command::Scan(args) => commands::scan(&ctx, args),
    }
}
