//! `evident scan PATH…`: an ad hoc DLP scan, printed as a table, JSON or
//! SARIF 2.1.0. Nothing is recorded in the ledger. A PATH `s3://bucket/prefix`
//! is an S3 location, read with the `--aws-*` connection options.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use evident_dlp::{Baseline, Fingerprinter, RuleSelection, ScanOptions, ScanReport};

use crate::kinds::dlp::DlpSettings;
use crate::kinds::dlp_s3::{S3Bucket, S3Source};
use crate::report::Table;
use crate::{Format, EXIT_FAILURE, EXIT_FINDINGS, EXIT_OK};

/// The fingerprint key `evident scan` creates in the data directory when
/// no `--fingerprint-key` is given.
pub const DEFAULT_KEY_FILE: &str = "dlp-fingerprint.key";

/// Arguments of `evident scan`.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Files or directories to scan, or S3 locations `s3://bucket/prefix`.
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
    /// S3: a named AWS profile. Default: the standard credential chain.
    #[arg(long, value_name = "NAME")]
    pub aws_profile: Option<String>,
    /// S3: a role to assume (arn:aws:iam::<account>:role/<name>).
    #[arg(long, value_name = "ARN")]
    pub aws_role_arn: Option<String>,
    /// S3: a file holding the role's external id.
    #[arg(long, value_name = "FILE")]
    pub aws_external_id_file: Option<PathBuf>,
    /// S3: the home region.
    #[arg(long, default_value = "us-east-1", value_name = "REGION")]
    pub aws_region: String,
    /// S3: send every call to this endpoint (an emulator such as moto).
    #[arg(long, value_name = "URL")]
    pub aws_endpoint_url: Option<String>,
    /// S3: objects read at most; a location cut short is reported as not scanned in full.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub s3_max_objects: u64,
    /// S3: skip keys ending with this (case-insensitive); repeatable.
    #[arg(long = "s3-skip-suffix", value_name = "SUFFIX")]
    pub s3_skip_suffixes: Vec<String>,
}

/// The S3 source of the `s3://` PATHs, or None when there are none.
fn s3_source(args: &ScanArgs) -> anyhow::Result<Option<S3Source>> {
    let mut buckets = Vec::new();
    for p in &args.paths {
        let Some(rest) = p.to_str().and_then(|t| t.strip_prefix("s3://")) else {
            continue;
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        buckets.push(S3Bucket {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        });
    }
    if buckets.is_empty() {
        return Ok(None);
    }
    let mut src = S3Source::ad_hoc(buckets);
    src.profile = args.aws_profile.clone();
    src.role_arn = args.aws_role_arn.clone();
    src.external_id_file = args
        .aws_external_id_file
        .as_ref()
        .map(|f| std::path::absolute(f).unwrap_or_else(|_| f.clone()));
    src.region = args.aws_region.clone();
    src.endpoint_url = args.aws_endpoint_url.clone();
    src.max_object_size_mb = args.max_file_size_mb;
    src.max_objects = args.s3_max_objects;
    src.skip_suffixes = args.s3_skip_suffixes.clone();
    let problems = src.problems();
    if !problems.is_empty() {
        let messages: Vec<String> = problems.into_iter().map(|p| p.message).collect();
        return Err(crate::UsageError(messages.join("; ")).into());
    }
    Ok(Some(src))
}

fn is_s3(p: &Path) -> bool {
    p.to_str().is_some_and(|t| t.starts_with("s3://"))
}

/// Run `evident scan`.
pub fn run(
    args: &ScanArgs,
    format: Format,
    say: crate::say::Say,
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
    let s3 = s3_source(args)?;
    let paths: Vec<PathBuf> = args.paths.iter().filter(|p| !is_s3(p)).cloned().collect();
    let mut repos = Vec::new();
    if args.history {
        for p in &paths {
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
        paths,
        git_repos: repos,
        s3: s3.into_iter().collect(),
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

    // No spinner on a JSON standard error: every line there is an object.
    let bar = if !args.no_progress && !say.is_json() && std::io::stderr().is_terminal() {
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
    #[cfg(feature = "aws")]
    let report = {
        let mut report = report;
        for (_, r) in crate::kinds::dlp_s3::scan_sources(&settings.s3, &prepared, &settings.options)
        {
            merge(&mut report, r);
        }
        report
    };
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
        say.error(format_args!("not scanned: {}: {}", e.path, e.message));
    }
    Ok(if !report.errors.is_empty() {
        EXIT_FAILURE
    } else if !report.findings.is_empty() {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    })
}

/// Add the report of another location to `into`.
#[cfg(feature = "aws")]
fn merge(into: &mut ScanReport, r: ScanReport) {
    into.findings.extend(r.findings);
    into.findings.sort_by(|a, b| {
        (&a.root, &a.path, a.line, &a.rule_id, &a.commit)
            .cmp(&(&b.root, &b.path, b.line, &b.rule_id, &b.commit))
    });
    into.errors.extend(r.errors);
    let (s, t) = (&mut into.stats, r.stats);
    s.scanned += t.scanned;
    s.bytes += t.bytes;
    s.skipped_binary += t.skipped_binary;
    s.skipped_size += t.skipped_size;
    s.skipped_archive += t.skipped_archive;
    s.skipped_excluded += t.skipped_excluded;
    s.skipped_symlink += t.skipped_symlink;
    s.skipped_special += t.skipped_special;
    s.allowlisted += t.allowlisted;
    s.baselined += t.baselined;
}

/// Where a finding is: a path, or `s3://bucket/key`.
fn location(f: &evident_dlp::Finding) -> String {
    if f.root.contains("://") {
        format!("{}/{}", f.root.trim_end_matches('/'), f.path)
    } else {
        Path::new(&f.root).join(&f.path).display().to_string()
    }
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
            format!("{}:{}", location(f), f.line),
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
        "{} finding(s); {} file(s), blob(s) or object(s) scanned ({} bytes); skipped: {} binary, {} too large, {} archives, {} excluded, {} symlinks, {} FIFOs, sockets or devices; suppressed: {} allowlisted, {} in the baseline",
        r.findings.len(),
        s.scanned,
        s.bytes,
        s.skipped_binary,
        s.skipped_size,
        s.skipped_archive,
        s.skipped_excluded,
        s.skipped_symlink,
        s.skipped_special,
        s.allowlisted,
        s.baselined
    )?;
    Ok(())
}
