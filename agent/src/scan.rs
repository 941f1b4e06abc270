//! `evident scan PATH…`: an ad hoc DLP scan, printed as a table, JSON or
//! SARIF 2.1.0. Nothing is recorded in the ledger.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use evident_dlp::{Baseline, Fingerprinter, RuleSelection, ScanOptions, ScanReport};

use crate::kinds::dlp::DlpSettings;
use crate::report::Table;
use crate::{Format, EXIT_FAILURE, EXIT_FINDINGS, EXIT_OK};

/// The fingerprint key `evident scan` creates in the data directory when
/// no `--fingerprint-key` is given.
pub const DEFAULT_KEY_FILE: &str = "dlp-fingerprint.key";

/// Arguments of `evident scan`.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Files or directories to scan.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Also scan the git history (every blob reachable from any ref) of each PATH that is a repository.
    #[arg(long)]
    pub history: bool,
    /// Extra rules file (TOML `[[rule]]` tables).
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Enable a rule that is off by default (e.g. `us-ssn`); repeatable.
    #[arg(long = "enable-rule", value_name = "ID")]
    pub enable: Vec<String>,
    /// Disable a rule; repeatable.
    #[arg(long = "disable-rule", value_name = "ID")]
    pub disable: Vec<String>,
    /// Allowlist file (TOML: paths, rules, fingerprints).
    #[arg(long, value_name = "FILE")]
    pub allowlist: Option<PathBuf>,
    /// Baseline of accepted findings (JSON).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write the findings of this scan as a baseline (JSON) to FILE.
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
    /// Fingerprint key file. Default: `dlp-fingerprint.key` in the data
    /// directory, created on first use.
    #[arg(long, value_name = "FILE")]
    pub fingerprint_key: Option<PathBuf>,
    /// Respect .gitignore and .ignore files.
    #[arg(long)]
    pub gitignore: bool,
    /// Scan files with archive extensions as bytes (skipped by default).
    #[arg(long)]
    pub archives: bool,
    /// Skip files larger than this many MiB.
    #[arg(long, default_value_t = 64, value_name = "MIB")]
    pub max_file_size_mb: u64,
    /// Worker threads (0: one per CPU).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// No progress bar (it is only ever shown on a terminal).
    #[arg(long)]
    pub no_progress: bool,
}

/// Run `evident scan`.
pub fn run(
    args: &ScanArgs,
    format: Format,
    data_dir: impl FnOnce() -> anyhow::Result<PathBuf>,
) -> anyhow::Result<u8> {
    if !matches!(format, Format::Table | Format::Json | Format::Sarif) {
        return Err(
            crate::UsageError("evident scan prints --format table, json or sarif".into()).into(),
        );
    }
    let key = match &args.fingerprint_key {
        Some(k) => k.clone(),
        None => {
            let k = data_dir()?.join(DEFAULT_KEY_FILE);
            Fingerprinter::create_key_file(&k)?;
            k
        }
    };
    let mut repos = Vec::new();
    if args.history {
        for p in &args.paths {
            if !p.join(".git").exists() && !p.join("HEAD").is_file() {
                return Err(crate::UsageError(format!(
                    "--history: {} is not a git repository",
                    p.display()
                ))
                .into());
            }
            repos.push(p.clone());
        }
    }
    let settings = DlpSettings {
        paths: args.paths.clone(),
        git_repos: repos,
        fingerprint_key_file: key,
        rules: RuleSelection {
            rules_file: args.rules.clone(),
            enable: args.enable.clone(),
            disable: args.disable.clone(),
        },
        allowlist_file: args.allowlist.clone(),
        baseline_file: args.baseline.clone(),
        options: ScanOptions {
            respect_gitignore: args.gitignore,
            include_archives: args.archives,
            max_file_size: args.max_file_size_mb.saturating_mul(1 << 20),
            threads: args.threads,
        },
    };
    let prepared = settings.prepare().context("dlp scanner set-up")?;
    let scan = prepared.scan(&settings.options);

    let bar = if !args.no_progress && std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} {binary_bytes} scanned ({binary_bytes_per_sec}) {elapsed}",
        ) {
            b.set_style(style);
        }
        b.enable_steady_tick(std::time::Duration::from_millis(120));
        Some(b)
    } else {
        None
    };
    let progress = |n: u64| {
        if let Some(b) = &bar {
            b.inc(n);
        }
    };
    let report = scan.run(&settings.paths, &settings.git_repos, Some(&progress));
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    tracing::info!(
        scanned = report.stats.scanned,
        bytes = report.stats.bytes,
        findings = report.findings.len(),
        errors = report.errors.len(),
        "dlp scan finished"
    );
    if let Some(path) = &args.write_baseline {
        write_baseline(path, &Baseline::from_findings(&report.findings))?;
    }

    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            out.write_all(&serde_json::to_vec_pretty(&report)?)?;
            writeln!(out)?;
        }
        Format::Sarif => {
            let sarif =
                evident_dlp::sarif::to_sarif(&report, &prepared.scanner, env!("CARGO_PKG_VERSION"));
            out.write_all(&serde_json::to_vec_pretty(&sarif)?)?;
            writeln!(out)?;
        }
        _ => print_table(&mut out, &report)?,
    }
    for e in &report.errors {
        eprintln!("evident: not scanned: {}: {}", e.path, e.message);
    }
    Ok(if !report.errors.is_empty() {
        EXIT_FAILURE
    } else if !report.findings.is_empty() {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    })
}

fn write_baseline(path: &Path, b: &Baseline) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(b)?;
    std::fs::write(path, text + "\n")
        .with_context(|| format!("writing baseline {}", path.display()))
}

fn print_table(out: &mut impl Write, r: &ScanReport) -> anyhow::Result<()> {
    let mut t = Table::new(&[
        "RULE",
        "SEVERITY",
        "LOCATION",
        "COMMIT",
        "PREVIEW",
        "FINGERPRINT",
    ]);
    for f in &r.findings {
        t.row(vec![
            f.rule_id.clone(),
            f.severity.as_str().to_string(),
            format!("{}:{}", Path::new(&f.root).join(&f.path).display(), f.line),
            f.commit
                .as_deref()
                .map_or(String::new(), |c| c.chars().take(12).collect()),
            f.preview.clone(),
            f.fingerprint.chars().take(16).collect(),
        ]);
    }
    if !r.findings.is_empty() {
        t.write_text(out, 80)?;
    }
    let s = &r.stats;
    writeln!(
        out,
        "{} finding(s); {} file(s) or blob(s) scanned ({} bytes); skipped: {} binary, {} too large, {} archives; suppressed: {} allowlisted, {} in the baseline",
        r.findings.len(),
        s.scanned,
        s.bytes,
        s.skipped_binary,
        s.skipped_size,
        s.skipped_archive,
        s.allowlisted,
        s.baselined
    )?;
    Ok(())
}
