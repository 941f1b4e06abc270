//! The configuration file: parsed, then validated as a whole.
//!
//! Every problem is reported with its line and column, all at once; nothing
//! runs on an invalid configuration. Secrets never sit inline: options that
//! name a secret take a file path or an environment variable name.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::instances::Collectors;
use crate::schedule::CronSchedule;

/// The configuration shipped with evident; used when no file is found.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../config.example.toml");

/// The whole configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Agent identity and storage.
    #[serde(default)]
    pub agent: AgentConfig,
    /// Collector instances, by kind.
    #[serde(default)]
    pub collectors: Collectors,
    /// Statement of Applicability decisions.
    #[serde(default)]
    pub soa: SoaConfig,
    /// The daemon (`evident run`).
    #[serde(default)]
    pub daemon: DaemonConfig,
    /// Notifications of status transitions.
    #[serde(default)]
    pub notify: crate::notify::NotifyConfig,
    /// Stage 1 readiness: the ISMS's mandatory documented information.
    #[serde(default)]
    pub readiness: ReadinessConfig,
    /// RFC 3161 trusted timestamps of checkpoints (off without a `[timestamp]` table).
    #[serde(default)]
    pub timestamp: Option<crate::publish::TimestampConfig>,
    /// Off-box publication of checkpoints.
    #[serde(default)]
    pub publish: crate::publish::PublishConfig,
}

/// `[readiness]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadinessConfig {
    /// A period with no incident or event record (manual evidence under
    /// A.5.24–A.5.28) is reported. Default: 365 days.
    #[serde(default = "default_incident_period")]
    pub incident_period_days: u32,
    /// The mandatory documents: `[[readiness.document]]`.
    #[serde(default)]
    pub document: Vec<Spanned<DocumentConfig>>,
}

impl Default for ReadinessConfig {
    fn default() -> Self {
        ReadinessConfig {
            incident_period_days: default_incident_period(),
            document: Vec::new(),
        }
    }
}

fn default_incident_period() -> u32 {
    365
}

/// `[[readiness.document]]`: one piece of mandatory documented information.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentConfig {
    /// The clause that requires it: 4.3, 5.2, 6.1.2, 6.1.3, "6.1.3 d", 6.2,
    /// 7.2, 8.1, 8.2, 9.2, 9.3 or 10.1.
    pub clause: Spanned<String>,
    /// Where it is: a file path (checked to exist) or a URL (not fetched).
    pub location: String,
    /// Date of the last review (a TOML date, e.g. 2026-03-01).
    pub last_review: Option<toml::value::Datetime>,
    /// How often it must be reviewed, in days. Default: 365.
    #[serde(default = "default_incident_period")]
    pub review_interval_days: u32,
}

/// `[daemon]`: how `evident run` schedules collector runs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// How many collector runs may be in progress at once. Default: 2.
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent_runs: Spanned<usize>,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            max_concurrent_runs: default_max_concurrent(),
        }
    }
}

fn default_max_concurrent() -> Spanned<usize> {
    Spanned::new(0..0, 2)
}

/// `[agent]`: identity and storage.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Agent id written into every record and checkpoint: printable, no
    /// whitespace, at most 128 characters. Default: the host name.
    pub id: Option<Spanned<String>>,
    /// Where the ledger and key live. Default: `/var/lib/evident` as root,
    /// otherwise `$XDG_DATA_HOME/evident` (or `~/.local/share/evident`).
    pub data_dir: Option<PathBuf>,
    /// The signing key (PKCS#8 PEM, mode 0600). Default: `<data_dir>/agent-key.pem`.
    pub key_file: Option<PathBuf>,
}

/// `[soa]`: the Statement of Applicability decisions.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoaConfig {
    /// One table per control, keyed by id: `[soa.controls."A.8.5"]`.
    #[serde(default)]
    pub controls: BTreeMap<Spanned<String>, Spanned<SoaEntry>>,
}

/// The decision for one control.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoaEntry {
    /// Whether the control is applicable (included) or excluded. Required.
    pub applicable: Option<bool>,
    /// Why it is included or excluded. Required by ISO/IEC 27001 6.1.3 d.
    pub justification: Option<String>,
}

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file was read but is invalid.
    #[error("{}", render_problems(origin, problems))]
    Invalid {
        /// The file (or `<embedded default>`).
        origin: String,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

fn render_problems(origin: &str, problems: &[Problem]) -> String {
    let mut out = format!(
        "invalid configuration {origin}: {} problem{}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        out.push_str(&format!(
            "\n  {origin}:{}:{}: {}",
            p.line, p.column, p.message
        ));
    }
    out
}

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file on disk.
    File(PathBuf),
    /// The embedded default (no file found).
    Embedded,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Embedded => f.write_str("<embedded default>"),
        }
    }
}

/// Find the configuration: the explicit path, else `evident.toml` in the
/// working directory, else `/etc/evident/evident.toml`, else the embedded default.
pub fn locate(explicit: Option<&Path>) -> Origin {
    if let Some(p) = explicit {
        return Origin::File(p.to_path_buf());
    }
    for candidate in ["evident.toml", "/etc/evident/evident.toml"] {
        let p = Path::new(candidate);
        if p.exists() {
            return Origin::File(p.to_path_buf());
        }
    }
    Origin::Embedded
}

/// Read and validate the configuration from `origin`.
pub fn load(origin: &Origin) -> Result<Config, ConfigError> {
    let text = match origin {
        Origin::File(path) => {
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?
        }
        Origin::Embedded => EMBEDDED_DEFAULT.to_string(),
    };
    parse(&text).map_err(|problems| ConfigError::Invalid {
        origin: origin.to_string(),
        problems,
    })
}

/// Parse and validate configuration text, returning every problem found.
pub fn parse(text: &str) -> Result<Config, Vec<Problem>> {
    let mut problems = Vec::new();
    let (config, masked_text, masked) = deserialize_collecting(text, &mut problems);
    if let Some(cfg) = &config {
        validate(cfg, text, &masked_text, &masked, &mut problems);
    }
    if problems.is_empty() && config.is_none() {
        problems.push(Problem {
            line: 0,
            column: 0,
            message: "the configuration could not be read".into(),
        });
    }
    match config {
        Some(cfg) if problems.is_empty() => Ok(cfg),
        _ => {
            problems.sort_by_key(|p| (p.line, p.column));
            problems.dedup();
            Err(problems)
        }
    }
}

/// Deserialise, and on each error mask the offending lines and try again, so
/// that one run reports every independent problem rather than the first.
/// Returns the configuration, the text it was read from (the original with
/// the masked lines blanked, at the same offsets) and the masked ranges.
fn deserialize_collecting(
    text: &str,
    problems: &mut Vec<Problem>,
) -> (Option<Config>, String, Vec<Range<usize>>) {
    const MAX_ROUNDS: usize = 64;
    let mut masked = text.to_string();
    let mut masked_ranges: Vec<Range<usize>> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        match toml::from_str::<Config>(&masked) {
            // With problems, this is the configuration minus the masked
            // lines: still worth validating, so semantic problems are
            // reported in the same run (spans are unchanged by masking).
            Ok(cfg) => return (Some(cfg), masked, masked_ranges),
            Err(err) => {
                let span = err.span();
                // An error inside a region we masked ourselves is a consequence
                // of the masking, not a problem of the user's file.
                let consequence = span
                    .as_ref()
                    .is_some_and(|s| masked_ranges.iter().any(|m| overlaps(m, s)));
                if !consequence {
                    problems.push(problem_at(text, span.clone(), err.message()));
                }
                let Some(range) = span.and_then(|s| mask_lines(&mut masked, s)) else {
                    return (None, masked, masked_ranges);
                };
                if masked_ranges.iter().any(|m| m == &range) {
                    return (None, masked, masked_ranges);
                }
                masked_ranges.push(range);
            }
        }
    }
    (None, masked, masked_ranges)
}

/// From a table's span to the next table header (or the end of the file).
fn table_extent(text: &str, span: Range<usize>) -> Range<usize> {
    let from = span.start.min(text.len());
    let body = text[from..].find('\n').map_or(text.len(), |i| from + i + 1);
    let mut end = body;
    for line in text[body..].split_inclusive('\n') {
        if line.trim_start().starts_with('[') {
            break;
        }
        end += line.len();
    }
    from..end.max(span.end)
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end.max(b.start + 1) && b.start < a.end
}

/// Comment out the lines covering `span` (and, for a table header, the
/// table's body). Returns the byte range masked, `None` if nothing could be.
fn mask_lines(text: &mut String, span: Range<usize>) -> Option<Range<usize>> {
    let start = text[..span.start.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let mut end = text[span.end.min(text.len())..]
        .find('\n')
        .map_or(text.len(), |i| span.end + i);
    if text[start..].trim_start().starts_with('[') {
        // A table header: mask up to the next header.
        let mut pos = end;
        while pos < text.len() {
            let line_end = text[pos + 1..]
                .find('\n')
                .map_or(text.len(), |i| pos + 1 + i);
            if text[pos + 1..line_end].trim_start().starts_with('[') {
                break;
            }
            pos = line_end;
        }
        end = pos;
    }
    if start >= end {
        return None;
    }
    // Blank every byte but newlines: offsets (and so later spans) stay valid.
    let blank: String = text[start..end]
        .bytes()
        .map(|b| if b == b'\n' { '\n' } else { ' ' })
        .collect();
    text.replace_range(start..end, &blank);
    Some(start..end)
}

/// Line and column (1-based, in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A problem located at the start of `span` in `text`.
pub fn problem_at(text: &str, span: Option<Range<usize>>, message: &str) -> Problem {
    let (line, column) = span.map_or((0, 0), |s| line_col(text, s.start));
    Problem {
        line,
        column,
        message: message.trim().to_string(),
    }
}

/// Where a table of the configuration is in its text (a collector instance,
/// or a table or list inside one), so that a problem of one setting is
/// reported at that setting's line and column, not at the table's header.
///
/// Narrow it with [`Place::key`] and [`Place::item`]; a setting that is not
/// in the text (its default applies) is reported at the closest enclosing
/// table or list that is.
#[derive(Debug, Clone)]
pub struct Place<'a> {
    text: &'a str,
    span: Range<usize>,
    node: Option<&'a DeValue<'a>>,
}

impl<'a> Place<'a> {
    /// A table at `span` of `text`, with its parsed value when known.
    fn new(text: &'a str, span: Range<usize>, node: Option<&'a DeValue<'a>>) -> Place<'a> {
        Place { text, span, node }
    }

    /// The setting `key` of this table.
    pub fn key(&self, key: &str) -> Place<'a> {
        self.step(self.node.and_then(|n| n.get(key)))
    }

    /// Element `index` of this list (an array, or an array of tables).
    pub fn item(&self, index: usize) -> Place<'a> {
        self.step(self.node.and_then(|n| n.get(index)))
    }

    fn step(&self, found: Option<&'a Spanned<DeValue<'a>>>) -> Place<'a> {
        match found {
            Some(v) => Place::new(self.text, v.span(), Some(v.get_ref())),
            None => Place::new(self.text, self.span.clone(), None),
        }
    }

    /// A problem reported here.
    pub fn problem(&self, message: &str) -> Problem {
        problem_at(self.text, Some(self.span.clone()), message)
    }

    /// A problem that a collector library found in one of this table's settings.
    pub fn setting(&self, p: &evident_collectors::SettingProblem) -> Problem {
        let at = self.key(p.key);
        match p.index {
            Some(i) => at.item(i).problem(&p.message),
            None => at.problem(&p.message),
        }
    }
}

/// Longest run a collector may be given (7 days).
const MAX_TIMEOUT_SECONDS: u64 = 7 * 86_400;
/// Largest random delay of a scheduled run (1 day).
const MAX_JITTER_SECONDS: u64 = 86_400;
/// Most retries of a transient failure.
const MAX_RETRIES: u32 = 20;

/// `true` when a URL carries `user:password@` in its authority.
pub fn url_has_credentials(url: &str) -> bool {
    url.split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or_default())
        .is_some_and(|authority| authority.contains('@'))
}

fn validate(
    cfg: &Config,
    text: &str,
    masked_text: &str,
    masked: &[Range<usize>],
    problems: &mut Vec<Problem>,
) {
    // The same text the configuration was read from, parsed again for the
    // positions of the settings. It parsed once, so it parses again; if not,
    // problems are reported at their tables' headers.
    let document = DeTable::parse(masked_text)
        .ok()
        .map(|t| DeValue::Table(t.into_inner()));
    for (key, path) in [
        ("data_dir", &cfg.agent.data_dir),
        ("key_file", &cfg.agent.key_file),
    ] {
        if let Some(p) = path {
            let at = key_span(text, "agent", key);
            if p.as_os_str().is_empty() {
                problems.push(problem_at(
                    text,
                    at,
                    &format!("agent.{key} is empty; omit it for the default or give a path"),
                ));
            } else if key == "key_file" && p.is_dir() {
                problems.push(problem_at(
                    text,
                    at,
                    &format!(
                        "agent.key_file {} is a directory; name the key file",
                        p.display()
                    ),
                ));
            } else if key == "data_dir" && p.is_file() {
                problems.push(problem_at(
                    text,
                    at,
                    &format!("agent.data_dir {} is a file, not a directory", p.display()),
                ));
            }
        }
    }
    if cfg.readiness.incident_period_days == 0 {
        problems.push(problem_at(
            text,
            key_span(text, "readiness", "incident_period_days"),
            "readiness.incident_period_days must be at least 1",
        ));
    }
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut of_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for (inst, span) in cfg.collectors.all() {
        // `all()` lists each kind's instances in file order: the n-th of a
        // kind is the n-th element of `collectors.<kind>` in the document.
        let n = of_kind.entry(inst.kind()).or_default();
        let node = document
            .as_ref()
            .and_then(|d| d.get("collectors"))
            .and_then(|c| c.get_ref().get(inst.kind()))
            .and_then(|k| k.get_ref().get(*n))
            .map(|i| i.get_ref());
        *n += 1;
        let at = Place::new(text, span.clone(), node);
        let common = inst.common();
        let name = inst.name().to_string();
        if name.trim().is_empty() {
            problems.push(at.key("name").problem("collector name is empty"));
        } else if !names.insert(name.clone()) {
            problems.push(at.key("name").problem(&format!(
                "collector name {name:?} is used twice; names must be unique (set `name`)"
            )));
        }
        let known: BTreeSet<&str> = evident_policies::checks()
            .into_iter()
            .filter(|c| inst.sources().contains(&c.meta.source))
            .map(|c| c.meta.id)
            .collect();
        let mut listed: BTreeSet<&str> = BTreeSet::new();
        for check in common.checks.into_iter().flatten() {
            if !listed.insert(check.get_ref().as_str()) {
                problems.push(problem_at(
                    text,
                    Some(check.span()),
                    &format!("check {:?} is listed twice", check.get_ref()),
                ));
            }
            if !known.contains(check.get_ref().as_str()) {
                problems.push(problem_at(
                    text,
                    Some(check.span()),
                    &format!(
                        "unknown check {:?} for a {} collector; known: {}",
                        check.get_ref(),
                        inst.kind(),
                        known.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        if let Err(e) = CronSchedule::parse(common.schedule.get_ref()) {
            let schedule = common.schedule.span();
            problems.push(problem_at(
                text,
                Some(if schedule.is_empty() {
                    span.clone()
                } else {
                    schedule
                }),
                &e.to_string(),
            ));
        }
        if common.timeout_seconds == 0 || common.timeout_seconds > MAX_TIMEOUT_SECONDS {
            problems.push(at.key("timeout_seconds").problem(&format!(
                "timeout_seconds must be between 1 and {MAX_TIMEOUT_SECONDS} (7 days)"
            )));
        }
        if common.jitter_seconds > MAX_JITTER_SECONDS {
            problems.push(at.key("jitter_seconds").problem(&format!(
                "jitter_seconds must be at most {MAX_JITTER_SECONDS} (1 day)"
            )));
        }
        if common.retries > MAX_RETRIES {
            problems.push(
                at.key("retries")
                    .problem(&format!("retries must be at most {MAX_RETRIES}")),
            );
        }
        inst.validate(&at, problems);
    }
    let mut clauses: BTreeSet<&str> = BTreeSet::new();
    let today = chrono::Utc::now().date_naive();
    for doc in &cfg.readiness.document {
        let clause = &doc.get_ref().clause;
        if !clauses.insert(clause.get_ref().as_str()) {
            problems.push(problem_at(
                text,
                Some(clause.span()),
                &format!(
                    "clause {:?} is listed twice; list each document once",
                    clause.get_ref()
                ),
            ));
        }
        if doc.get_ref().location.trim().is_empty() {
            problems.push(problem_at(
                text,
                Some(doc.span()),
                &format!(
                    "clause {:?}: location is empty; give the file path or URL of the document",
                    clause.get_ref()
                ),
            ));
        }
        if doc.get_ref().review_interval_days == 0 {
            problems.push(problem_at(
                text,
                Some(doc.span()),
                &format!(
                    "clause {:?}: review_interval_days must be at least 1",
                    clause.get_ref()
                ),
            ));
        }
        if !evident_policies::readiness::MANDATORY_DOCUMENTS
            .iter()
            .any(|(c, _)| c == clause.get_ref())
        {
            problems.push(problem_at(
                text,
                Some(clause.span()),
                &format!(
                    "unknown clause {:?}; mandatory documents are: {}",
                    clause.get_ref(),
                    evident_policies::readiness::MANDATORY_DOCUMENTS
                        .iter()
                        .map(|(c, _)| *c)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if let Some(d) = &doc.get_ref().last_review {
            match (d.date, d.time) {
                (Some(date), None) => {
                    let parsed = chrono::NaiveDate::from_ymd_opt(
                        i32::from(date.year),
                        u32::from(date.month),
                        u32::from(date.day),
                    );
                    if parsed.is_some_and(|p| p > today) {
                        problems.push(problem_at(
                            text,
                            Some(doc.span()),
                            &format!(
                                "clause {:?}: last_review {d} is in the future",
                                clause.get_ref()
                            ),
                        ));
                    }
                }
                _ => problems.push(problem_at(
                    text,
                    Some(doc.span()),
                    "last_review must be a date such as 2026-03-01",
                )),
            }
        }
    }
    let mut hooks: BTreeSet<&str> = BTreeSet::new();
    for hook in &cfg.notify.webhook {
        let name = hook.get_ref().name.as_str();
        if !hooks.insert(name) {
            problems.push(problem_at(
                text,
                Some(hook.span()),
                &format!("notify: webhook name {name:?} is used twice; names must be unique"),
            ));
        }
        if hook
            .get_ref()
            .url
            .as_deref()
            .is_some_and(url_has_credentials)
        {
            problems.push(problem_at(
                text,
                Some(hook.span()),
                &format!("notify: webhook {name:?}: the url holds credentials; put it in a file (url_file) or an environment variable (url_env)"),
            ));
        }
        for why in hook.get_ref().problems() {
            problems.push(problem_at(
                text,
                Some(hook.span()),
                &format!("notify: {why}"),
            ));
        }
    }
    for why in crate::publish::problems(cfg.timestamp.as_ref(), &cfg.publish) {
        let table = if why.starts_with("timestamp") {
            "timestamp"
        } else {
            "publish"
        };
        let at = text
            .find(&format!("[{table}"))
            .map(|start| start..start + table.len() + 1);
        problems.push(problem_at(text, at, &why));
    }
    if *cfg.daemon.max_concurrent_runs.get_ref() == 0 {
        let at = cfg.daemon.max_concurrent_runs.span();
        problems.push(problem_at(
            text,
            (!at.is_empty()).then_some(at),
            "daemon.max_concurrent_runs must be at least 1",
        ));
    }
    if let Some(id) = &cfg.agent.id {
        if let Err(why) = check_agent_id(id.get_ref()) {
            problems.push(problem_at(
                text,
                Some(id.span()),
                &format!("agent.id: {why}"),
            ));
        }
    }
    for (id, entry) in &cfg.soa.controls {
        match evident_policies::catalog::control(id.get_ref()) {
            None => problems.push(problem_at(
                text,
                Some(id.span()),
                &format!(
                    "unknown control {:?}: ISO/IEC 27001:2022 Annex A has A.5.1–A.5.37, A.6.1–A.6.8, A.7.1–A.7.14, A.8.1–A.8.34",
                    id.get_ref()
                ),
            )),
            Some(c) if c.id != *id.get_ref() => problems.push(problem_at(
                text,
                Some(id.span()),
                &format!("write the control id as {:?}", c.id),
            )),
            Some(_) => {}
        }
        // A masked (wrongly typed) `applicable` was reported already.
        let extent = table_extent(text, entry.span());
        let masked_inside = masked.iter().any(|m| overlaps(m, &extent));
        if entry.get_ref().applicable.is_none() && !masked_inside {
            problems.push(problem_at(
                text,
                Some(entry.span()),
                &format!(
                    "{}: `applicable = true` or `applicable = false` is required",
                    id.get_ref()
                ),
            ));
        }
        if entry
            .get_ref()
            .justification
            .as_deref()
            .is_some_and(|j| j.trim().is_empty())
        {
            problems.push(problem_at(
                text,
                Some(entry.span()),
                &format!(
                    "justification of {} is empty; omit it or write one",
                    id.get_ref()
                ),
            ));
        }
    }
}

/// The span of `key = …` inside the first `[table]` (a plain table), if
/// the file has one: good enough to point at a top-level setting.
fn key_span(text: &str, table: &str, key: &str) -> Option<Range<usize>> {
    let header = format!("[{table}]");
    let mut offset = 0;
    let mut inside = false;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t == header;
        } else if inside
            && t.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            let start = offset + (line.len() - line.trim_start().len());
            return Some(start..start + key.len());
        }
        offset += line.len();
    }
    None
}

/// An agent id is printable, without whitespace or bidirectional controls,
/// and at most 128 characters: it is written into every record and checkpoint.
pub fn check_agent_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("must not be empty".into());
    }
    if id.chars().count() > 128 {
        return Err("must be at most 128 characters".into());
    }
    if let Some(c) = id.chars().find(|c| {
        c.is_whitespace() || c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
    }) {
        return Err(format!("must not contain whitespace or control characters (found U+{:04X})", c as u32));
    }
    Ok(())
}

impl Config {
    /// The agent id: `agent.id`, else the host name.
    pub fn agent_id(&self) -> String {
        self.agent
            .id
            .as_ref()
            .map(|s| s.get_ref().clone())
            .unwrap_or_else(crate::paths::host_name)
    }

    /// The SoA decision per control id (catalog spelling).
    pub fn soa_decisions(&self) -> BTreeMap<String, (bool, Option<String>)> {
        self.soa
            .controls
            .iter()
            .map(|(k, v)| {
                let e = v.get_ref();
                (
                    k.get_ref().clone(),
                    (e.applicable.unwrap_or(false), e.justification.clone()),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid() {
        let cfg = parse(EMBEDDED_DEFAULT).expect("example config must be valid");
        assert!(!cfg.collectors.host.is_empty());
    }

    /// The commented-out backup and webfilter examples: uncommented, they are valid.
    #[test]
    fn commented_probe_examples_are_valid() {
        let mut text = String::from("[agent]\n");
        for start in ["# [[collectors.backup]]", "# [[collectors.webfilter]]"] {
            let from = EMBEDDED_DEFAULT.find(start).expect("example present");
            for line in EMBEDDED_DEFAULT[from..].lines() {
                let Some(rest) = line.strip_prefix('#') else {
                    break;
                };
                text.push_str(rest.strip_prefix(' ').unwrap_or(rest));
                text.push('\n');
            }
        }
        let cfg = match parse(&text) {
            Ok(c) => c,
            Err(p) => panic!("{p:#?}\n{text}"),
        };
        assert_eq!(cfg.collectors.backup.len(), 1);
        assert_eq!(cfg.collectors.backup[0].get_ref().sets.len(), 3);
        assert_eq!(cfg.collectors.webfilter.len(), 1);
        let w = cfg.collectors.webfilter[0].get_ref();
        assert_eq!(w.resolvers[0].canaries.len(), 3);
        assert_eq!(w.proxies[0].canaries.len(), 2);
        // An invalid set is reported: no password, bad canary hash.
        let bad = text
            .replace("password_file = \"/etc/evident/restic.pass\"", "")
            .replace("2c26b46b", "zz");
        let problems = parse(&bad).expect_err("invalid");
        let all = format!("{problems:?}");
        assert!(
            all.contains("password_file or password_env is required"),
            "{all}"
        );
        assert!(all.contains("64-digit hex sha256"), "{all}");
    }

    /// The commented `[timestamp]` and `[[publish.sink]]` examples: valid
    /// once uncommented (with a CA file that exists); bad values reported.
    #[test]
    fn commented_timestamp_and_publish_examples_are_valid() {
        let ca = tempfile::NamedTempFile::new().expect("ca");
        let mut text = String::new();
        for start in ["# [timestamp]", "# [[publish.sink]]"] {
            let from = EMBEDDED_DEFAULT.find(start).expect("example present");
            for line in EMBEDDED_DEFAULT[from..].lines() {
                let Some(rest) = line.strip_prefix('#') else {
                    break;
                };
                text.push_str(rest.strip_prefix(' ').unwrap_or(rest));
                text.push('\n');
            }
        }
        let text = text.replace("/etc/evident/tsa-ca.pem", &ca.path().display().to_string());
        let cfg = match parse(&text) {
            Ok(c) => c,
            Err(p) => panic!("{p:#?}\n{text}"),
        };
        let ts = cfg.timestamp.as_ref().expect("timestamp");
        assert_eq!((ts.timeout_seconds, ts.max_per_run), (10, 32));
        assert_eq!(
            cfg.publish
                .sink
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>(),
            vec!["audit-share", "witness"]
        );
        // As shipped: no TSA, no sink (the embedded default stays offline).
        let shipped = parse(EMBEDDED_DEFAULT).expect("valid");
        assert!(shipped.timestamp.is_none() && shipped.publish.sink.is_empty());

        let bad = text
            .replace("http://timestamp.example.net/tsa", "ftp://tsa")
            .replace("policy = \"1.2.3.4.1\"", "policy = \"1.x\"")
            .replace(&ca.path().display().to_string(), "/nonexistent/ca.pem")
            .replace("name = \"witness\"", "name = \"audit-share\"");
        let problems = format!("{:?}", parse(&bad).expect_err("invalid"));
        for want in [
            "timestamp.url must start with http",
            "is not a dotted OID",
            "/nonexistent/ca.pem is not a readable file",
            "used twice",
        ] {
            assert!(problems.contains(want), "{want}: {problems}");
        }
        let unknown = "[[publish.sink]]\ntype = \"ftp\"\nname = \"x\"\n";
        assert!(parse(unknown).is_err());
        let extra =
            "[[publish.sink]]\ntype = \"directory\"\nname = \"x\"\npath = \"/tmp/x\"\nbogus = 1\n";
        let p = format!("{:?}", parse(extra).expect_err("unknown field"));
        assert!(p.contains("bogus"), "{p}");
        let two_urls = "[[publish.sink]]\ntype = \"http\"\nname = \"w\"\nurl = \"http://127.0.0.1:1/\"\nurl_env = \"X\"\n";
        let p = format!("{:?}", parse(two_urls).expect_err("two urls"));
        assert!(p.contains("exactly one of url"), "{p}");
    }

    /// The commented-out dlp example with its S3 table: its settings lines
    /// uncommented are valid, and a broken S3 table is reported whole.
    #[cfg(feature = "aws")]
    #[test]
    fn commented_dlp_example_with_s3_is_valid() {
        let from = EMBEDDED_DEFAULT
            .find("# [[collectors.dlp]]")
            .expect("example present");
        let mut text = String::from("[agent]\n");
        for line in EMBEDDED_DEFAULT[from..].lines() {
            let Some(rest) = line.strip_prefix("# ") else {
                break;
            };
            let key = rest.split(" = ").next().unwrap_or("");
            let setting = rest.starts_with("[[")
                || (rest.contains(" = ")
                    && !key.is_empty()
                    && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            if setting {
                text.push_str(rest);
                text.push('\n');
            }
        }
        let cfg = match parse(&text) {
            Ok(c) => c,
            Err(p) => panic!("{p:#?}\n{text}"),
        };
        let d = cfg.collectors.dlp[0].get_ref();
        assert_eq!(d.paths.len(), 1);
        assert_eq!(d.s3.len(), 1);
        assert_eq!(d.s3[0].buckets.len(), 2);
        assert_eq!(d.s3[0].buckets[0].prefix, "exports/");
        assert_eq!(d.s3[0].skip_suffixes.len(), 3);
        let bad = text
            .replace("bucket = \"team-share\"", "bucket = \"Team_Share\"")
            .replace("max_objects = 100000", "max_objects = 0")
            .replace(
                "role_arn = \"arn:aws:iam::111122223333:role/",
                "role_arn = \"arn:aws:iam::1:user/",
            );
        let all = format!("{:?}", parse(&bad).expect_err("invalid"));
        for needle in [
            "is not an S3 bucket name",
            "max_objects must be at least 1",
            "is not an IAM role ARN",
        ] {
            assert!(all.contains(needle), "{needle}: {all}");
        }
    }

    #[test]
    fn reports_every_problem_with_line_and_column() {
        let text = "[agent]\nid = \"a\"\nbogus = 1\n\n[[collectors.host]]\nname = \"h\"\napt_index_max_age_days = \"seven\"\nchecks = [\"no_such_check\"]\n\n[soa.controls.\"A.9.9\"]\napplicable = true\n";
        let problems = parse(text).expect_err("invalid");
        let at: Vec<(usize, usize)> = problems.iter().map(|p| (p.line, p.column)).collect();
        assert!(at.contains(&(3, 1)), "unknown key: {problems:#?}");
        assert!(at.contains(&(7, 26)), "bad type: {problems:#?}");
        assert!(
            problems.iter().any(|p| p.message.contains("bogus")),
            "{problems:#?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.message.contains("seven") || p.message.contains("integer")),
            "{problems:#?}"
        );
        // The semantic problems (unknown check, unknown control) are found in
        // the same run, on the configuration with the bad lines masked.
        assert!(
            problems
                .iter()
                .any(|p| p.message.contains("no_such_check") && (p.line, p.column) == (8, 11)),
            "{problems:#?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.message.contains("A.9.9") && (p.line, p.column) == (10, 15)),
            "{problems:#?}"
        );
        assert_eq!(problems.len(), 4, "{problems:#?}");
    }

    #[test]
    fn a_bad_value_for_a_required_key_is_one_problem_not_two() {
        let text = "[soa.controls.\"A.8.5\"]\napplicable = \"maybe\"\n";
        let problems = parse(text).expect_err("invalid");
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert_eq!((problems[0].line, problems[0].column), (2, 14));
        let problems =
            parse("[soa.controls.\"A.8.5\"]\njustification = \"x\"\n").expect_err("invalid");
        assert!(problems[0].message.contains("applicable"), "{problems:#?}");
    }

    #[test]
    fn agent_id_must_be_printable_without_whitespace() {
        for bad in ["web 01", "a\\u202Eb", ""] {
            let text = format!("[agent]\nid = \"{bad}\"\n");
            let problems = parse(&text).expect_err(bad);
            assert_eq!(
                (problems[0].line, problems[0].column),
                (2, 6),
                "{bad}: {problems:#?}"
            );
            assert!(problems[0].message.contains("agent.id"), "{problems:#?}");
        }
        assert!(parse("[agent]\nid = \"web-01.example\"\n").is_ok());
    }

    #[test]
    fn the_commented_soa_examples_are_valid_once_uncommented() {
        let start = EMBEDDED_DEFAULT
            .find("# [soa.controls.")
            .expect("examples present");
        let uncommented: String = EMBEDDED_DEFAULT[start..]
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        let cfg = parse(&format!("{}{}", &EMBEDDED_DEFAULT[..start], uncommented)).expect("valid");
        assert_eq!(cfg.soa.controls.len(), 5);
        // As shipped, no decision is made on the user's behalf.
        assert!(parse(EMBEDDED_DEFAULT)
            .expect("valid")
            .soa
            .controls
            .is_empty());
    }

    #[test]
    fn semantic_problems_are_all_reported() {
        let text = "[[collectors.host]]\nchecks = [\"no_such_check\"]\n[[collectors.host]]\n\n[soa.controls.\"A.9.9\"]\napplicable = true\n[soa.controls.\"8.5\"]\napplicable = false\njustification = \" \"\n";
        let problems = parse(text).expect_err("invalid");
        let msgs: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert!(
            msgs.iter().any(|m| m.contains("no_such_check")),
            "{msgs:#?}"
        );
        assert!(msgs.iter().any(|m| m.contains("used twice")), "{msgs:#?}");
        assert!(msgs.iter().any(|m| m.contains("A.9.9")), "{msgs:#?}");
        assert!(msgs.iter().any(|m| m.contains("\"A.8.5\"")), "{msgs:#?}");
        assert!(
            msgs.iter().any(|m| m.contains("justification")),
            "{msgs:#?}"
        );
        let unknown = problems
            .iter()
            .find(|p| p.message.contains("A.9.9"))
            .expect("present");
        assert_eq!((unknown.line, unknown.column), (5, 15));
    }

    #[test]
    fn values_that_cannot_work_are_problems_at_their_line() {
        let text = "[daemon]\nmax_concurrent_runs = 0\n\n[[notify.webhook]]\nname = \"ops\"\nurl = \"https://hooks.example/a\"\n[[notify.webhook]]\nname = \"ops\"\nurl = \"ftp://hooks.example/b\"\n\n[[readiness.document]]\nclause = \"5.2\"\nlocation = \" \"\nreview_interval_days = 0\n[[readiness.document]]\nclause = \"5.2\"\nlocation = \"/srv/isms/policy.pdf\"\nlast_review = 2999-01-01\n";
        let problems = parse(text).expect_err("invalid");
        let at = |needle: &str| {
            problems
                .iter()
                .find(|p| p.message.contains(needle))
                .map(|p| p.line)
                .unwrap_or_else(|| panic!("no problem with {needle:?}: {problems:#?}"))
        };
        assert_eq!(at("max_concurrent_runs"), 2);
        assert_eq!(at("\"ops\" is used twice"), 7);
        assert_eq!(at("http:// or https://"), 7);
        assert_eq!(at("location is empty"), 11);
        assert_eq!(at("review_interval_days"), 11);
        assert_eq!(at("listed twice"), 16);
        assert_eq!(at("in the future"), 15);
        assert!(problems.iter().all(|p| p.line > 0), "{problems:#?}");
    }

    #[test]
    fn bounds_empty_paths_and_inline_credentials_are_problems() {
        let text = "[agent]\ndata_dir = \"\"\nkey_file = \"/tmp\"\n\n[readiness]\nincident_period_days = 0\n\n[[collectors.host]]\ntimeout_seconds = 18446744073709551615\njitter_seconds = 18446744073709551615\nretries = 4294967295\nchecks = [\"host_clock_synchronized\", \"host_clock_synchronized\"]\n\n[[notify.webhook]]\nname = \"ops\"\nurl = \"https://user:pw@hooks.example/x\"\n";
        let problems = parse(text).expect_err("invalid");
        let at = |needle: &str| {
            problems
                .iter()
                .find(|p| p.message.contains(needle))
                .map(|p| p.line)
                .unwrap_or_else(|| panic!("no problem with {needle:?}: {problems:#?}"))
        };
        assert_eq!(at("data_dir is empty"), 2);
        assert_eq!(at("is a directory"), 3);
        assert_eq!(at("incident_period_days"), 6);
        assert_eq!(at("timeout_seconds must be between"), 9);
        assert_eq!(at("jitter_seconds"), 10);
        assert_eq!(at("retries must be"), 11);
        assert_eq!(at("listed twice"), 12);
        assert_eq!(at("holds credentials"), 14);
        assert!(
            !problems.iter().any(|p| p.message.contains("pw@")),
            "{problems:#?}"
        );
        let sink = "[[publish.sink]]\ntype = \"http\"\nname = \"w\"\nurl = \"https://u:secret@witness.example/cp\"\n";
        let problems = parse(sink).expect_err("credentials in a sink url");
        assert!(
            problems[0].message.contains("holds credentials"),
            "{problems:#?}"
        );
        assert!(!problems[0].message.contains("secret@"), "{problems:#?}");
    }

    #[test]
    fn collector_values_that_cannot_work_are_problems() {
        let text = "[[collectors.webfilter]]\nquery_timeout_seconds = 0\n[[collectors.webfilter.resolvers]]\naddress = \"127.0.0.1:53\"\ncontrols = [\"example.org\"]\ncanaries = { malware = [\"malware.test\"] }\n\n[[collectors.backup]]\n[[collectors.backup.sets]]\nname = \"files\"\nbackend = \"restic\"\nrepository = \"/srv/restic\"\npassword_file = \"/etc/evident/restic.pw\"\nrpo_hours = 0\nrto_target_seconds = 60\nread_data_subset = \"banana\"\n";
        let problems = parse(text).expect_err("invalid");
        let msgs: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        for needle in ["query_timeout_seconds", "rpo_hours", "read_data_subset"] {
            assert!(
                msgs.iter().any(|m| m.contains(needle)),
                "{needle}: {msgs:#?}"
            );
        }
        assert_eq!(problems.len(), 3, "{msgs:#?}");
    }

    #[cfg(feature = "github")]
    #[test]
    fn github_base_url_needs_a_host_and_max_owners_one() {
        let base = "[[collectors.github]]\norganisations = [\"acme\"]\ntoken_env = \"GH_TOKEN\"\n";
        assert!(parse(&format!(
            "{base}base_url = \"https://github.example/api/v3\"\n"
        ))
        .is_ok());
        for bad in [
            "https:// bad",
            "https://",
            "https://user:pw@github.example/api/v3",
            "not a url",
        ] {
            let problems = parse(&format!("{base}base_url = {bad:?}\n")).expect_err(bad);
            assert_eq!(problems.len(), 1, "{bad}: {problems:#?}");
            assert!(problems[0].message.contains("base_url"), "{problems:#?}");
        }
        assert!(parse(&format!("{base}base_url = \"http://127.0.0.1:8080\"\n")).is_ok());
        assert!(parse(&format!("{base}base_url = \"http://[::1]:8080/api\"\n")).is_ok());
        let problems = parse(&format!(
            "{base}base_url = \"http://github.example/api/v3\"\n"
        ))
        .expect_err("plain http");
        assert!(problems[0].message.contains("in clear"), "{problems:#?}");
        let problems = parse(&format!("{base}max_owners = 0\n")).expect_err("max_owners");
        assert!(problems[0].message.contains("max_owners"), "{problems:#?}");
    }

    /// Line and column of the first problem whose message contains `needle`.
    fn position(problems: &[Problem], needle: &str) -> (usize, usize) {
        problems
            .iter()
            .find(|p| p.message.contains(needle))
            .map(|p| (p.line, p.column))
            .unwrap_or_else(|| panic!("no problem with {needle:?}: {problems:#?}"))
    }

    /// Each problem of a collector setting is reported at that setting in
    /// its own `[[collectors.aws]]` instance (not at the first instance
    /// with the key, nor at the table header), also in a sub-table, an
    /// inline table, a dotted key and a list element; a problem of a key
    /// that is absent is reported at the instance's header.
    #[cfg(feature = "aws")]
    #[test]
    fn aws_problems_are_reported_at_the_key_of_their_own_instance() {
        let text = r#"[[collectors.aws]]
name = "prod"
accounts = [{ profile = "prod" }]
regions = ["us-east-1"]
concurrency = 2
max_attempts = 3
endpoint_url = "http://127.0.0.1:5000"

[collectors.aws.backup]
rpo_hours = 24

[[collectors.aws]]
name = "staging"
accounts = [{ profile = "staging" }, { role_arn = "arn:aws:iam::1:user/x" }]
regions = ["us-east-1", "EU West"]
concurrency = 0
max_attempts = 0
endpoint_url = "ftp://127.0.0.1:5000"
network = { admin_ports = [22, 0] }

[collectors.aws.backup]
rpo_hours = 0
rpo_hours_by = { "arn:aws:rds:us-east-1:111122223333:db:orders" = 0 }

[[collectors.aws]]
name = "dotted"
accounts = [{ profile = "dotted" }]
backup.rds_min_retention_days = 40

[[collectors.aws]]
name = "empty"
"#;
        let problems = parse(text).expect_err("invalid");
        assert_eq!(position(&problems, "is not an IAM role ARN"), (14, 51));
        assert_eq!(position(&problems, "\"EU West\" is not a region"), (15, 25));
        assert_eq!(position(&problems, "concurrency must"), (16, 15));
        assert_eq!(position(&problems, "max_attempts must"), (17, 16));
        assert_eq!(position(&problems, "endpoint_url \"ftp"), (18, 16));
        assert_eq!(position(&problems, "0 is not a port"), (19, 32));
        assert_eq!(position(&problems, "backup.rpo_hours must"), (22, 13));
        assert_eq!(position(&problems, "rpo_hours_by"), (23, 67));
        assert_eq!(position(&problems, "rds_min_retention_days 40"), (28, 33));
        assert_eq!(position(&problems, "name at least one entry"), (30, 1));
        assert_eq!(problems.len(), 10, "{problems:#?}");
    }

    #[test]
    fn backup_problems_are_reported_at_the_key_of_their_own_set() {
        let set = "backend = \"restic\"\nrepository = \"/srv/restic\"\npassword_file = \"/etc/evident/restic.pw\"\nrto_target_seconds = 60\n";
        let text = format!(
            "[[collectors.backup]]\nname = \"nightly\"\nsandbox_dir = \"/var/tmp\"\n[[collectors.backup.sets]]\nname = \"files\"\nrpo_hours = 24\n{set}\n\
             [[collectors.backup]]\nname = \"weekly\"\nsandbox_dir = \"relative/dir\"\n[[collectors.backup.sets]]\nname = \"files\"\nrpo_hours = 24\n{set}\
             [[collectors.backup.sets]]\nname = \"files\"\nrpo_hours = 0\n{set}canaries = [\n  {{ path = \"a\", sha256 = \"{}\" }},\n  {{ path = \"b\", sha256 = \"zz\" }},\n]\n",
            "2c".repeat(32)
        );
        let problems = parse(&text).expect_err("invalid");
        assert_eq!(position(&problems, "sandbox_dir must"), (14, 15));
        assert_eq!(position(&problems, "\"files\" is used twice"), (23, 8));
        assert_eq!(position(&problems, "rpo_hours must"), (24, 13));
        assert_eq!(position(&problems, "canary b needs"), (31, 3));
        assert_eq!(problems.len(), 4, "{problems:#?}");
    }

    #[test]
    fn webfilter_problems_are_reported_at_the_key_of_their_own_instance() {
        let instance = |name: &str, timeout: u64, canary: &str| {
            format!(
                "[[collectors.webfilter]]\nname = \"{name}\"\nquery_timeout_seconds = {timeout}\n[[collectors.webfilter.proxies]]\naddress = \"10.0.0.8:3128\"\ncontrol = \"http://www.example.com/\"\n[collectors.webfilter.proxies.canaries]\nmalware = [\"http://malware.example/\", \"{canary}\"]\n"
            )
        };
        let text = format!(
            "{}\n{}",
            instance("office", 5, "http://gambling.example/"),
            instance("lab", 0, "gopher://gambling.example/")
        );
        let problems = parse(&text).expect_err("invalid");
        assert_eq!(position(&problems, "query_timeout_seconds must"), (12, 25));
        assert_eq!(position(&problems, "gopher"), (17, 39));
        assert_eq!(problems.len(), 2, "{problems:#?}");
    }

    #[cfg(feature = "github")]
    #[test]
    fn github_problems_are_reported_at_the_key_of_their_own_instance() {
        let text = "[[collectors.github]]\nname = \"a\"\norganisations = [\"acme\"]\ntoken_env = \"GH_TOKEN\"\nbase_url = \"https://github.example/api/v3\"\nmax_owners = 3\n\n[[collectors.github]]\nname = \"b\"\norganisations = [\"acme\", \" \"]\ntoken_env = \"GH_TOKEN\"\ntoken_file = \"/etc/evident/gh-token\"\nbase_url = \"http://github.example/api/v3\"\nmax_owners = 0\n";
        let problems = parse(text).expect_err("invalid");
        assert_eq!(position(&problems, "organisations must"), (10, 26));
        assert_eq!(position(&problems, "set only one credential"), (12, 14));
        assert_eq!(position(&problems, "in clear"), (13, 12));
        assert_eq!(position(&problems, "max_owners must"), (14, 14));
        assert_eq!(problems.len(), 4, "{problems:#?}");
    }

    #[test]
    fn dlp_problems_are_reported_at_the_key_of_their_own_instance() {
        let text = "[[collectors.dlp]]\nname = \"a\"\npaths = [\"/srv\"]\nfingerprint_key_file = \"/etc/evident/dlp.key\"\nmax_file_size_mb = 64\n\n[[collectors.dlp]]\nname = \"b\"\npaths = [\"/srv\", \"srv/share\"]\nfingerprint_key_file = \"/etc/evident/dlp.key\"\nbaseline_file = \"baseline.json\"\nmax_file_size_mb = 0\n[[collectors.dlp.s3]]\nbuckets = [{ bucket = \"team-share\" }]\n[[collectors.dlp.s3]]\nbuckets = [{ bucket = \"team-share\" }, { bucket = \"Team_Share\" }]\nmax_objects = 0\n";
        let problems = parse(text).expect_err("invalid");
        assert_eq!(position(&problems, "\"srv/share\" must be"), (9, 18));
        assert_eq!(position(&problems, "\"baseline.json\" must be"), (11, 17));
        assert_eq!(position(&problems, "max_file_size_mb must"), (12, 20));
        assert_eq!(position(&problems, "s3[1]: \"Team_Share\""), (16, 39));
        assert_eq!(position(&problems, "s3[1]: max_objects"), (17, 15));
    }

    #[test]
    fn common_collector_settings_are_reported_at_their_key() {
        let text = "[[collectors.host]]\nname = \"a\"\ntimeout_seconds = 60\n\n[[collectors.host]]\nname = \"b\"\ntimeout_seconds = 0\nretries = 99\n\n[[collectors.host]]\nname = \"b\"\n";
        let problems = parse(text).expect_err("invalid");
        assert_eq!(position(&problems, "timeout_seconds must"), (7, 19));
        assert_eq!(position(&problems, "retries must"), (8, 11));
        assert_eq!(position(&problems, "\"b\" is used twice"), (11, 8));
        assert_eq!(problems.len(), 3, "{problems:#?}");
    }

    #[test]
    fn syntax_error_is_reported_with_position() {
        let problems = parse("[agent\nid = 1\n").expect_err("invalid");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 1);
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncé d", 7), (2, 4));
        assert_eq!(line_col("x", 0), (1, 1));
    }
}
