//! Where it scans: file trees (parallel walk) and git history (every blob
//! reachable from any ref, once).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::engine::{self, Hit, Scanner};
use crate::rules::{Class, RuleSeverity};
use crate::suppress::{Allowlist, Baseline};
use crate::DlpError;

/// File extensions of archives and compressed files (skipped unless asked).
pub const ARCHIVE_EXTENSIONS: &[&str] = &[
    "zip", "jar", "war", "ear", "apk", "gz", "tgz", "bz2", "xz", "zst", "7z", "rar", "tar", "whl",
    "egg", "crate", "deb", "rpm",
];

/// Options of a scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Respect `.gitignore`, `.ignore` and git's exclude files in file trees.
    pub respect_gitignore: bool,
    /// Scan files with archive extensions as bytes (their compressed content
    /// is not unpacked). Default: skip them.
    pub include_archives: bool,
    /// Files and blobs larger than this are skipped (counted). Default 64 MiB.
    pub max_file_size: u64,
    /// Worker threads (0: one per CPU).
    pub threads: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            respect_gitignore: false,
            include_archives: false,
            max_file_size: 64 << 20,
            threads: 0,
        }
    }
}

/// One finding: never the value, only where it is, a redacted preview and
/// the keyed fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// Rule id.
    pub rule_id: String,
    /// Secret or personal data.
    pub class: Class,
    /// Severity of the rule.
    pub severity: RuleSeverity,
    /// Path relative to the scan root (file trees) or inside the repository (git).
    pub path: String,
    /// The scan root or repository the path is relative to.
    pub root: String,
    /// 1-based line.
    pub line: u64,
    /// The commit that introduced the blob (git history only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// First and last characters at most.
    pub preview: String,
    /// Keyed HMAC-SHA256 of the value (hex).
    pub fingerprint: String,
}

/// Something that could not be scanned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanError {
    /// The file, repository or root.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

/// Counters of a scan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanStats {
    /// Files and blobs scanned.
    pub scanned: u64,
    /// Bytes scanned.
    pub bytes: u64,
    /// Skipped as binary.
    pub skipped_binary: u64,
    /// Skipped as larger than the size limit.
    pub skipped_size: u64,
    /// Skipped as archives.
    pub skipped_archive: u64,
    /// Skipped because the configuration excludes them (object key suffixes).
    #[serde(default)]
    pub skipped_excluded: u64,
    /// Symbolic links inside a tree, skipped: links are not followed (a
    /// target inside a scanned tree is scanned there; one outside is not).
    /// A root given as a link is followed.
    #[serde(default)]
    pub skipped_symlink: u64,
    /// Entries that are neither files, directories nor links, skipped:
    /// FIFOs, sockets, devices (reading one may block or never end).
    #[serde(default)]
    pub skipped_special: u64,
    /// Findings suppressed by the allowlist.
    pub allowlisted: u64,
    /// Findings suppressed by the baseline.
    pub baselined: u64,
}

/// The result of a scan: new findings (after suppression), counters and errors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanReport {
    /// Findings not suppressed, sorted by root, path, line, rule.
    pub findings: Vec<Finding>,
    /// Counters.
    pub stats: ScanStats,
    /// What could not be scanned (a non-empty list means the scan is incomplete).
    pub errors: Vec<ScanError>,
}

impl ScanReport {
    /// Number of findings per rule id.
    pub fn counts_by_rule(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for f in &self.findings {
            *m.entry(f.rule_id.clone()).or_insert(0) += 1;
        }
        m
    }
}

/// Progress callback: bytes just scanned.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

#[derive(Debug, Default)]
struct Acc {
    findings: Vec<Finding>,
    errors: Vec<ScanError>,
    scanned: u64,
    skipped_binary: u64,
    skipped_size: u64,
    skipped_archive: u64,
    skipped_excluded: u64,
    skipped_symlink: u64,
    skipped_special: u64,
}

/// A scan session: a compiled scanner with its suppressions.
#[derive(Debug)]
pub struct Scan<'a> {
    /// The compiled rules.
    pub scanner: &'a Scanner,
    /// Options.
    pub options: ScanOptions,
    /// Allowlist.
    pub allowlist: Allowlist,
    /// Baseline.
    pub baseline: Baseline,
}

impl Scan<'_> {
    fn pool(&self) -> Result<rayon::ThreadPool, DlpError> {
        rayon::ThreadPoolBuilder::new()
            .num_threads(self.options.threads)
            .build()
            .map_err(|e| DlpError::Io {
                path: "thread pool".into(),
                message: e.to_string(),
            })
    }

    fn to_findings(
        &self,
        hits: Vec<Hit>,
        root: &str,
        path: &str,
        commit: Option<&str>,
    ) -> Vec<Finding> {
        hits.into_iter()
            .map(|h| {
                let (class, severity) = self.scanner.class_of(h.rule);
                Finding {
                    rule_id: self.scanner.rule(h.rule).id.clone(),
                    class,
                    severity,
                    path: path.to_string(),
                    root: root.to_string(),
                    line: h.line,
                    commit: commit.map(str::to_string),
                    preview: h.preview,
                    fingerprint: h.fingerprint,
                }
            })
            .collect()
    }

    /// Scan file trees and the git history of repositories.
    pub fn run(
        &self,
        trees: &[PathBuf],
        repos: &[PathBuf],
        progress: Option<Progress<'_>>,
    ) -> ScanReport {
        let bytes = AtomicU64::new(0);
        let acc = Mutex::new(Acc::default());
        for root in trees {
            if let Err(e) = self.tree(root, &acc, &bytes, progress) {
                lock(&acc).errors.push(ScanError {
                    path: root.display().to_string(),
                    message: e.to_string(),
                });
            }
        }
        for repo in repos {
            if let Err(e) = self.git(repo, &acc, &bytes, progress) {
                lock(&acc).errors.push(ScanError {
                    path: repo.display().to_string(),
                    message: e.to_string(),
                });
            }
        }
        let acc = acc.into_inner().unwrap_or_else(|p| p.into_inner());
        self.report(acc, bytes.load(Ordering::Relaxed))
    }

    /// Apply the allowlist and baseline and sort: the report of a scan.
    fn report(&self, acc: Acc, bytes: u64) -> ScanReport {
        let accepted: HashSet<(&str, &str)> = self
            .baseline
            .findings
            .iter()
            .map(|e| (e.rule_id.as_str(), e.fingerprint.as_str()))
            .collect();
        let mut stats = ScanStats {
            scanned: acc.scanned,
            bytes,
            skipped_binary: acc.skipped_binary,
            skipped_size: acc.skipped_size,
            skipped_archive: acc.skipped_archive,
            skipped_excluded: acc.skipped_excluded,
            skipped_symlink: acc.skipped_symlink,
            skipped_special: acc.skipped_special,
            ..Default::default()
        };
        let mut findings = Vec::new();
        for f in acc.findings {
            if self.allowlist.allows(&f) {
                stats.allowlisted += 1;
            } else if accepted.contains(&(f.rule_id.as_str(), f.fingerprint.as_str())) {
                stats.baselined += 1;
            } else {
                findings.push(f);
            }
        }
        findings.sort_by(|a, b| {
            (&a.root, &a.path, a.line, &a.rule_id, &a.commit)
                .cmp(&(&b.root, &b.path, b.line, &b.rule_id, &b.commit))
        });
        let mut errors = acc.errors;
        errors.sort_by(|a, b| a.path.cmp(&b.path));
        ScanReport {
            findings,
            stats,
            errors,
        }
    }

    fn tree(
        &self,
        root: &Path,
        acc: &Mutex<Acc>,
        bytes: &AtomicU64,
        progress: Option<Progress<'_>>,
    ) -> Result<(), DlpError> {
        let meta = std::fs::metadata(root).map_err(|e| DlpError::Io {
            path: root.display().to_string(),
            message: e.to_string(),
        })?;
        let is_file_root = meta.is_file();
        // A single file is reported by its name under its directory.
        let root_s = match (is_file_root, root.parent()) {
            (true, Some(parent)) => parent.display().to_string(),
            _ => root.display().to_string(),
        };
        let mut wb = ignore::WalkBuilder::new(root);
        wb.standard_filters(false)
            .follow_links(false)
            .threads(if self.options.threads == 0 {
                std::thread::available_parallelism().map_or(2, |n| n.get())
            } else {
                self.options.threads
            });
        if self.options.respect_gitignore {
            wb.git_ignore(true)
                .git_exclude(true)
                .ignore(true)
                .parents(true)
                .require_git(false);
        }
        // Git history is scanned separately; the object store is compressed.
        wb.filter_entry(|e| e.file_name() != ".git");
        wb.build_parallel().run(|| {
            Box::new(|entry| {
                let entry = match entry {
                    Ok(e) => e,
                    Err(e) => {
                        lock(acc).errors.push(ScanError {
                            path: root_s.clone(),
                            message: e.to_string(),
                        });
                        return ignore::WalkState::Continue;
                    }
                };
                match entry.file_type() {
                    Some(t) if t.is_file() => {}
                    Some(t) if t.is_symlink() => {
                        lock(acc).skipped_symlink += 1;
                        return ignore::WalkState::Continue;
                    }
                    Some(t) if !t.is_dir() => {
                        lock(acc).skipped_special += 1;
                        return ignore::WalkState::Continue;
                    }
                    // A directory (walked), or standard input (never a root here).
                    _ => return ignore::WalkState::Continue,
                }
                let path = entry.path();
                let rel = if is_file_root {
                    path.file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                } else {
                    path.strip_prefix(root)
                        .unwrap_or(path)
                        .to_string_lossy()
                        .into_owned()
                };
                self.file(path, &rel, &root_s, acc, bytes, progress);
                ignore::WalkState::Continue
            })
        });
        Ok(())
    }

    fn file(
        &self,
        path: &Path,
        rel: &str,
        root: &str,
        acc: &Mutex<Acc>,
        bytes: &AtomicU64,
        progress: Option<Progress<'_>>,
    ) {
        let err = |e: std::io::Error| ScanError {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        if !self.options.include_archives && is_archive(path) {
            lock(acc).skipped_archive += 1;
            return;
        }
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) => return lock(acc).errors.push(err(e)),
        };
        let len = match file.metadata() {
            Ok(m) if m.len() > self.options.max_file_size => {
                lock(acc).skipped_size += 1;
                return;
            }
            Ok(m) => m.len(),
            Err(e) => return lock(acc).errors.push(err(e)),
        };
        // Small files (most) in one read of their size; large ones in chunks.
        let result = if len <= engine::CHUNK as u64 {
            read_small(file, len).map(|data| {
                if Scanner::is_binary(&data) {
                    None
                } else {
                    Some((self.scanner.scan_bytes(&data), data.len() as u64))
                }
            })
        } else {
            self.scanner.scan_reader(file)
        };
        match result {
            Ok(None) => lock(acc).skipped_binary += 1,
            Ok(Some((hits, n))) => {
                bytes.fetch_add(n, Ordering::Relaxed);
                if let Some(p) = progress {
                    p(n);
                }
                let findings = self.to_findings(hits, root, rel, None);
                let mut a = lock(acc);
                a.scanned += 1;
                a.findings.extend(findings);
            }
            Err(e) => lock(acc).errors.push(err(e)),
        }
    }

    fn git(
        &self,
        repo: &Path,
        acc: &Mutex<Acc>,
        bytes: &AtomicU64,
        progress: Option<Progress<'_>>,
    ) -> Result<(), DlpError> {
        let repo_s = repo.display().to_string();
        let blobs = introducing_commits(repo)?;
        if blobs.is_empty() {
            return Ok(());
        }
        let mut child = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| git_err(repo, &format!("cannot run git: {e}")))?;
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(git_err(repo, "git cat-file has no pipes"));
        };
        let oids: Vec<String> = blobs.keys().cloned().collect();
        let writer = std::thread::spawn(move || -> std::io::Result<()> {
            let mut w = std::io::BufWriter::new(&mut stdin);
            for oid in oids {
                writeln!(w, "{oid}")?;
            }
            w.flush()
        });
        let max = self.options.max_file_size;
        let reader = BlobReader {
            r: BufReader::with_capacity(1 << 20, stdout),
            max,
            failed: None,
        };
        let failure: Mutex<Option<String>> = Mutex::new(None);
        let pool = self.pool()?;
        pool.install(|| {
            reader
                .map_while(|item| match item {
                    Ok(b) => Some(b),
                    Err(e) => {
                        *lock(&failure) = Some(e);
                        None
                    }
                })
                .par_bridge()
                .for_each(|blob| {
                    let Blob { oid, data } = blob;
                    let Some(data) = data else {
                        lock(acc).skipped_size += 1;
                        return;
                    };
                    if Scanner::is_binary(&data) {
                        lock(acc).skipped_binary += 1;
                        return;
                    }
                    let Some((commit, path)) = blobs.get(&oid) else {
                        return;
                    };
                    if !self.options.include_archives && is_archive(Path::new(path)) {
                        lock(acc).skipped_archive += 1;
                        return;
                    }
                    let hits = self.scanner.scan_bytes(&data);
                    bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
                    if let Some(p) = progress {
                        p(data.len() as u64);
                    }
                    let findings = self.to_findings(hits, &repo_s, path, Some(commit));
                    let mut a = lock(acc);
                    a.scanned += 1;
                    a.findings.extend(findings);
                });
        });
        let wrote = writer.join();
        let out = child
            .wait_with_output()
            .map_err(|e| git_err(repo, &e.to_string()))?;
        if let Some(e) = lock(&failure).take() {
            return Err(git_err(repo, &e));
        }
        if !out.status.success() {
            return Err(git_err(
                repo,
                &format!(
                    "git cat-file failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ));
        }
        match wrote {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(git_err(repo, &e.to_string())),
            Err(_) => Err(git_err(repo, "writer thread panicked")),
        }
    }
}

/// Why an object was not scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Skip {
    /// Its first bytes hold a NUL.
    Binary,
    /// Larger than [`ScanOptions::max_file_size`].
    Size,
    /// An archive name, and archives are not scanned.
    Archive,
    /// Excluded by the configuration (e.g. a key suffix).
    Excluded,
}

/// Objects of a store the caller reads (S3 objects, say), scanned one by
/// one under one root such as `s3://bucket`: findings are located by the
/// object's key and line. Shared by concurrent readers; [`ObjectScan::finish`]
/// applies the allowlist and baseline as [`Scan::run`] does.
#[derive(Debug)]
pub struct ObjectScan<'s, 'a> {
    scan: &'s Scan<'a>,
    root: String,
    acc: Mutex<Acc>,
    bytes: AtomicU64,
}

impl<'a> Scan<'a> {
    /// Start scanning objects under `root` (e.g. `s3://bucket`).
    pub fn objects(&self, root: &str) -> ObjectScan<'_, 'a> {
        ObjectScan {
            scan: self,
            root: root.to_string(),
            acc: Mutex::new(Acc::default()),
            bytes: AtomicU64::new(0),
        }
    }
}

impl ObjectScan<'_, '_> {
    /// Whether an object is skipped by the options, judged by its key and
    /// (when known) size, before it is read: archives unless
    /// [`ScanOptions::include_archives`], then the size limit.
    pub fn skip_of(&self, key: &str, size: Option<u64>) -> Option<Skip> {
        if !self.scan.options.include_archives && is_archive(Path::new(key)) {
            return Some(Skip::Archive);
        }
        match size {
            Some(n) if n > self.scan.options.max_file_size => Some(Skip::Size),
            _ => None,
        }
    }

    /// The size limit of one object, bytes.
    pub fn max_size(&self) -> u64 {
        self.scan.options.max_file_size
    }

    /// Count an object that was not scanned.
    pub fn skipped(&self, why: Skip) {
        let mut a = lock(&self.acc);
        match why {
            Skip::Binary => a.skipped_binary += 1,
            Skip::Size => a.skipped_size += 1,
            Skip::Archive => a.skipped_archive += 1,
            Skip::Excluded => a.skipped_excluded += 1,
        }
    }

    /// A stream scan for one object's bytes.
    pub fn stream(&self) -> crate::engine::StreamScan<'_> {
        self.scan.scanner.stream()
    }

    /// Record the outcome of one object read in full.
    pub fn record(&self, key: &str, stream: crate::engine::StreamScan<'_>) {
        let n = stream.bytes();
        match stream.finish() {
            None => self.skipped(Skip::Binary),
            Some(hits) => {
                self.bytes.fetch_add(n, Ordering::Relaxed);
                let findings = self.scan.to_findings(hits, &self.root, key, None);
                let mut a = lock(&self.acc);
                a.scanned += 1;
                a.findings.extend(findings);
            }
        }
    }

    /// Record something that could not be scanned (an object, or the whole
    /// listing): the report is then incomplete.
    pub fn error(&self, path: &str, message: &str) {
        lock(&self.acc).errors.push(ScanError {
            path: path.to_string(),
            message: message.to_string(),
        });
    }

    /// The report: findings after suppression, counters and errors.
    pub fn finish(self) -> ScanReport {
        let acc = self.acc.into_inner().unwrap_or_else(|p| p.into_inner());
        self.scan.report(acc, self.bytes.load(Ordering::Relaxed))
    }
}

/// Read a whole file whose size is known to be small.
fn read_small(mut file: std::fs::File, len: u64) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::with_capacity(usize::try_from(len).unwrap_or(0).saturating_add(1));
    file.read_to_end(&mut data)?;
    Ok(data)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn git_err(repo: &Path, message: &str) -> DlpError {
    DlpError::Git {
        repo: repo.display().to_string(),
        message: message.to_string(),
    }
}

fn is_archive(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ARCHIVE_EXTENSIONS.iter().any(|a| a.eq_ignore_ascii_case(e)))
}

/// For each blob reachable from any ref: the oldest commit whose diff adds
/// it, and its path there. Streams `git log --all --reverse --raw`.
pub fn introducing_commits(repo: &Path) -> Result<HashMap<String, (String, String)>, DlpError> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args([
            "log",
            "--all",
            "--reverse",
            "--no-renames",
            "--raw",
            "--no-abbrev",
            "-m",
            "--root",
            "--format=commit %H",
            "-z",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| git_err(repo, &format!("cannot run git: {e}")))?;
    let Some(stdout) = child.stdout.take() else {
        return Err(git_err(repo, "git log has no stdout"));
    };
    let mut map: HashMap<String, (String, String)> = HashMap::new();
    let mut r = BufReader::new(stdout);
    let mut commit = String::new();
    let mut field = Vec::new();
    // With -z: "commit <sha>\n" then raw entries, each
    // ":<old mode> <new mode> <old oid> <new oid> <status>\0<path>\0".
    let mut path_of: Option<Option<String>> = None;
    loop {
        field.clear();
        let n = r
            .read_until(0, &mut field)
            .map_err(|e| git_err(repo, &e.to_string()))?;
        if n == 0 {
            break;
        }
        if field.last() == Some(&0) {
            field.pop();
        }
        let text = String::from_utf8_lossy(&field);
        let text = text.trim_start_matches('\n');
        // The field after a raw entry is its path.
        if let Some(added) = path_of.take() {
            if let Some(oid) = added {
                map.entry(oid)
                    .or_insert_with(|| (commit.clone(), text.to_string()));
            }
            continue;
        }
        // A commit header may share its field with the first raw entry.
        let mut rest = text;
        if let Some(h) = rest.strip_prefix("commit ") {
            let (sha, tail) = h.split_once('\n').unwrap_or((h, ""));
            commit = sha.trim().to_string();
            rest = tail.trim_start_matches('\n');
        }
        if let Some(raw) = rest.strip_prefix(':') {
            let parts: Vec<&str> = raw.split(' ').collect();
            if parts.len() >= 5 {
                let (new_mode, new_oid) = (parts[1], parts[3]);
                // Deletions (all-zero oid) add nothing; submodules are commits.
                let added = !new_oid.bytes().all(|b| b == b'0') && new_mode != "160000";
                path_of = Some(added.then(|| new_oid.to_string()));
            }
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| git_err(repo, &e.to_string()))?;
    if !out.status.success() {
        return Err(git_err(
            repo,
            &format!(
                "git log failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    Ok(map)
}

struct Blob {
    oid: String,
    /// None when larger than the limit.
    data: Option<Vec<u8>>,
}

/// Reads `git cat-file --batch` output: "<oid> <type> <size>\n<bytes>\n".
struct BlobReader<R: BufRead> {
    r: R,
    max: u64,
    failed: Option<()>,
}

impl<R: BufRead> Iterator for BlobReader<R> {
    type Item = Result<Blob, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed.is_some() {
            return None;
        }
        let mut header = String::new();
        match self.r.read_line(&mut header) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(e) => {
                self.failed = Some(());
                return Some(Err(e.to_string()));
            }
        }
        let parts: Vec<&str> = header.trim_end().split(' ').collect();
        if parts.len() != 3 {
            self.failed = Some(());
            return Some(Err(format!(
                "unexpected git cat-file header {:?}",
                header.trim_end()
            )));
        }
        let oid = parts[0].to_string();
        let Ok(size) = parts[2].parse::<u64>() else {
            self.failed = Some(());
            return Some(Err("unexpected git cat-file size".into()));
        };
        let res = if size > self.max {
            std::io::copy(&mut (&mut self.r).take(size + 1), &mut std::io::sink()).map(|_| None)
        } else {
            let mut data = vec![0u8; usize::try_from(size).unwrap_or(usize::MAX)];
            self.r
                .read_exact(&mut data)
                .and_then(|()| {
                    let mut nl = [0u8; 1];
                    self.r.read_exact(&mut nl)
                })
                .map(|()| Some(data))
        };
        match res {
            Ok(data) => Some(Ok(Blob { oid, data })),
            Err(e) => {
                self.failed = Some(());
                Some(Err(e.to_string()))
            }
        }
    }
}
