//! `[[collectors.dlp]]`: data leakage scan (A.8.12) of file trees and git
//! histories on this host, and of S3 objects (`[[collectors.dlp.s3]]`,
//! opt-in, see [`super::dlp_s3`]), with the `evident-dlp` engine.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use evident_dlp::{
    Allowlist, Baseline, Fingerprinter, RuleSelection, Scan, ScanOptions, ScanReport, Scanner,
};
use evident_policies::dlp::{
    DlpFindingRef, DlpObservation, DlpScope, ScopeKind, MAX_LISTED, SOURCE,
};
use evident_policies::{Observation, Target, TargetKind};

use crate::config::{Place, Problem};
use crate::daemon::{BoxFut, RunFailure};
use crate::instances::Kind;
use crate::kinds::dlp_s3::S3Source;

crate::collector_instance! {
    /// `[[collectors.dlp]]`: secrets and personal data in file trees, git histories and S3 objects.
    pub struct DlpInstance {
        /// File trees to scan (absolute paths).
        #[serde(default)]
        pub paths: Vec<PathBuf>,
        /// Git repositories whose whole history (every blob reachable from any ref) is scanned.
        #[serde(default)]
        pub git_repos: Vec<PathBuf>,
        /// S3 buckets of an AWS account (`[[collectors.dlp.s3]]`; opt-in, needs the `aws` feature).
        #[serde(default)]
        pub s3: Vec<S3Source>,
        /// File holding the fingerprint key (at least 16 bytes; share it across the
        /// organisation's installations so baselines match). Required.
        pub fingerprint_key_file: PathBuf,
        /// Extra rules (TOML `[[rule]]` tables); a rule with a default rule's id replaces it.
        pub rules_file: Option<PathBuf>,
        /// Rules to enable that are off by default, e.g. `us-ssn`.
        #[serde(default)]
        pub enable_rules: Vec<String>,
        /// Rules to disable.
        #[serde(default)]
        pub disable_rules: Vec<String>,
        /// Allowlist (TOML: `paths` globs, `rules`, `fingerprints`).
        pub allowlist_file: Option<PathBuf>,
        /// Baseline of accepted findings (JSON, as `evident scan --write-baseline` writes it).
        pub baseline_file: Option<PathBuf>,
        /// Respect .gitignore and .ignore files in file trees. Default: false (scan everything).
        #[serde(default)]
        pub respect_gitignore: bool,
        /// Scan files with archive extensions as bytes. Default: false (skip them).
        #[serde(default)]
        pub include_archives: bool,
        /// Skip files and blobs larger than this many MiB. Default: 64.
        #[serde(default = "default_max_file_mb")]
        pub max_file_size_mb: u64,
        /// Worker threads (0: one per CPU). Default: 0.
        #[serde(default)]
        pub threads: usize,
    }
}

fn default_max_file_mb() -> u64 {
    64
}

/// Everything a scan needs, owned (shared by the collector and `evident scan`).
#[derive(Debug, Clone)]
pub struct DlpSettings {
    /// File trees.
    pub paths: Vec<PathBuf>,
    /// Git repositories.
    pub git_repos: Vec<PathBuf>,
    /// S3 buckets.
    pub s3: Vec<S3Source>,
    /// Key file.
    pub fingerprint_key_file: PathBuf,
    /// Rules.
    pub rules: RuleSelection,
    /// Allowlist file.
    pub allowlist_file: Option<PathBuf>,
    /// Baseline file.
    pub baseline_file: Option<PathBuf>,
    /// Scan options.
    pub options: ScanOptions,
}

/// A loaded scanner with its suppressions.
pub struct Prepared {
    /// Compiled rules.
    pub scanner: Scanner,
    /// Allowlist.
    pub allowlist: Allowlist,
    /// Baseline.
    pub baseline: Baseline,
}

impl DlpSettings {
    /// Load rules, key, allowlist and baseline.
    pub fn prepare(&self) -> Result<Prepared, evident_dlp::DlpError> {
        // The key is a secret: refused when other users can read it.
        let key = evident_evidence::secret_file::read_secret_file(&self.fingerprint_key_file)
            .map_err(|e| evident_dlp::DlpError::Key(e.to_string()))?;
        let fp = Fingerprinter::new(key.trim_ascii()).map_err(|e| match e {
            evident_dlp::DlpError::Key(m) => {
                evident_dlp::DlpError::Key(format!("{}: {m}", self.fingerprint_key_file.display()))
            }
            other => other,
        })?;
        let scanner = Scanner::new(self.rules.load()?, fp)?;
        let allowlist = match &self.allowlist_file {
            Some(p) => Allowlist::load(p)?,
            None => Allowlist::default(),
        };
        let baseline = match &self.baseline_file {
            Some(p) => Baseline::load(p)?,
            None => Baseline::default(),
        };
        Ok(Prepared {
            scanner,
            allowlist,
            baseline,
        })
    }
}

impl Prepared {
    /// A scan session.
    pub fn scan(&self, options: &ScanOptions) -> Scan<'_> {
        Scan {
            scanner: &self.scanner,
            options: options.clone(),
            allowlist: self.allowlist.clone(),
            baseline: self.baseline.clone(),
        }
    }
}

/// The observation's record of one location's report.
pub fn scope_of(kind: ScopeKind, location: &str, r: &ScanReport) -> DlpScope {
    DlpScope {
        kind,
        location: location.to_string(),
        scanned: r.stats.scanned,
        bytes: r.stats.bytes,
        skipped: r.stats.skipped_binary
            + r.stats.skipped_size
            + r.stats.skipped_archive
            + r.stats.skipped_excluded
            + r.stats.skipped_symlink
            + r.stats.skipped_special,
        allowlisted: r.stats.allowlisted,
        baselined: r.stats.baselined,
        new_by_rule: r.counts_by_rule(),
        findings: r
            .findings
            .iter()
            .take(MAX_LISTED)
            .map(|f| DlpFindingRef {
                rule_id: f.rule_id.clone(),
                path: f.path.clone(),
                line: f.line,
                commit: f.commit.clone(),
                preview: f.preview.clone(),
                fingerprint: f.fingerprint.clone(),
            })
            .collect(),
        errors: r
            .errors
            .iter()
            .take(MAX_LISTED)
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect(),
        error_count: r.errors.len() as u64,
    }
}

impl DlpInstance {
    /// The scan settings.
    pub fn settings(&self) -> DlpSettings {
        DlpSettings {
            paths: self.paths.clone(),
            git_repos: self.git_repos.clone(),
            s3: self.s3.clone(),
            fingerprint_key_file: self.fingerprint_key_file.clone(),
            rules: RuleSelection {
                rules_file: self.rules_file.clone(),
                enable: self.enable_rules.clone(),
                disable: self.disable_rules.clone(),
            },
            allowlist_file: self.allowlist_file.clone(),
            baseline_file: self.baseline_file.clone(),
            options: ScanOptions {
                respect_gitignore: self.respect_gitignore,
                include_archives: self.include_archives,
                max_file_size: self.max_file_size_mb.saturating_mul(1 << 20),
                threads: self.threads,
            },
        }
    }
}

/// Run the collector's scan: one scope per path and repository.
pub fn collect_blocking(
    s: &DlpSettings,
    now: DateTime<Utc>,
) -> Result<Vec<Observation>, RunFailure> {
    let prepared = s.prepare().map_err(|e| RunFailure {
        transient: false,
        message: format!("dlp scanner set-up failed: {e}"),
    })?;
    let scan = prepared.scan(&s.options);
    let mut scopes = Vec::new();
    for p in &s.paths {
        let r = scan.run(std::slice::from_ref(p), &[], None);
        scopes.push(scope_of(ScopeKind::Files, &p.display().to_string(), &r));
    }
    for p in &s.git_repos {
        let r = scan.run(&[], std::slice::from_ref(p), None);
        scopes.push(scope_of(
            ScopeKind::GitHistory,
            &p.display().to_string(),
            &r,
        ));
    }
    #[cfg(feature = "aws")]
    for (url, r) in crate::kinds::dlp_s3::scan_sources(&s.s3, &prepared, &s.options) {
        scopes.push(scope_of(ScopeKind::S3, &url, &r));
    }
    // Fail closed: a configured location that could not be scanned at all
    // (a build without the `aws` feature) is an error, never left out.
    #[cfg(not(feature = "aws"))]
    for url in s.s3.iter().flat_map(S3Source::urls) {
        let mut r = ScanReport::default();
        r.errors.push(evident_dlp::ScanError {
            path: url.clone(),
            message: "S3 scanning needs evident built with the `aws` feature".into(),
        });
        scopes.push(scope_of(ScopeKind::S3, &url, &r));
    }
    let data = DlpObservation {
        rules: prepared.scanner.rules().map(|r| r.id.clone()).collect(),
        baseline_entries: prepared.baseline.findings.len() as u64,
        scopes,
    };
    Ok(vec![Observation::new(SOURCE, host_target(), now, &data)])
}

fn host_target() -> Target {
    Target {
        kind: TargetKind::Host,
        id: crate::paths::host_name(),
    }
}

impl Kind for DlpInstance {
    const KIND: &'static str = "dlp";

    fn sources(&self) -> &'static [&'static str] {
        &[SOURCE]
    }

    fn target(&self) -> Target {
        host_target()
    }

    fn validate(&self, at: &Place<'_>, problems: &mut Vec<Problem>) {
        if self.paths.is_empty() && self.git_repos.is_empty() && self.s3.is_empty() {
            problems.push(
                at.problem("a dlp collector needs at least one of `paths`, `git_repos` or `s3`"),
            );
        }
        for (i, src) in self.s3.iter().enumerate() {
            let source = at.key("s3").item(i);
            for mut p in src.problems() {
                p.message = format!("s3[{i}]: {}", p.message);
                problems.push(source.setting(&p));
            }
        }
        let lists = [("paths", &self.paths), ("git_repos", &self.git_repos)]
            .into_iter()
            .flat_map(|(key, list)| {
                list.iter()
                    .enumerate()
                    .map(move |(i, p)| (at.key(key).item(i), p))
            });
        let files = [
            ("fingerprint_key_file", Some(&self.fingerprint_key_file)),
            ("rules_file", self.rules_file.as_ref()),
            ("allowlist_file", self.allowlist_file.as_ref()),
            ("baseline_file", self.baseline_file.as_ref()),
        ]
        .into_iter()
        .filter_map(|(key, p)| p.map(|p| (at.key(key), p)));
        for (place, p) in lists.chain(files) {
            if !p.is_absolute() {
                problems.push(place.problem(&format!(
                    "{:?} must be an absolute path",
                    p.display().to_string()
                )));
            }
        }
        if self.max_file_size_mb == 0 {
            problems.push(
                at.key("max_file_size_mb")
                    .problem("max_file_size_mb must be at least 1"),
            );
        }
    }

    fn collect(&self, now: DateTime<Utc>) -> BoxFut<Result<Vec<Observation>, RunFailure>> {
        let settings = self.settings();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || collect_blocking(&settings, now))
                .await
                .map_err(|e| RunFailure {
                    transient: false,
                    message: format!("dlp collector task failed: {e}"),
                })?
        })
    }
}
