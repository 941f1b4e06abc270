//! Logging: the `host.logging` observation and its three checks.
//!
//! - [`JOURNAL_PERSISTENT`]: the systemd journal survives reboots. The
//!   collector resolves `Storage=` from `journald.conf` and its drop-ins the
//!   way journald does (drop-ins in lexical order override the main file, a
//!   later assignment overrides an earlier one); `auto` (the default) is
//!   persistent only when `/var/log/journal` exists.
//! - [`LOG_DAEMON_RUNNING`]: a log daemon runs. rsyslogd, syslog-ng, syslogd
//!   and auditd count on their own; systemd-journald counts only when its
//!   storage is persistent, since a volatile journal keeps nothing for later
//!   review.
//! - [`AUDIT_RULES_PRESENT`]: where auditd is installed, its rule files
//!   (`/etc/audit/rules.d/*.rules`, `/etc/audit/audit.rules`) define at least
//!   one watch (`-w`) or syscall (`-a always,...`) rule. The files are read
//!   rather than `auditctl -l`, which needs root; they are what auditd loads
//!   at start.

use serde::{Deserialize, Serialize};

use super::{list_processes, ProbeError, RunningProcess};
use crate::model::{Check, CheckMeta, Finding, Observation, Severity, Status};
use crate::reason::ReasonCode;

/// The observation source of these checks.
pub const SOURCE: &str = "host.logging";

/// Resource id of the journald storage finding.
pub const RESOURCE_JOURNALD: &str = "journald";

/// Resource id of the log daemon finding.
pub const RESOURCE_DAEMON: &str = "log_daemon";

/// Resource id of the audit rules finding.
pub const RESOURCE_AUDIT: &str = "auditd";

/// Process names of the log daemons the collector looks for.
pub const LOG_DAEMONS: &[&str] = &[
    "rsyslogd",
    "syslog-ng",
    "syslogd",
    "auditd",
    "systemd-journald",
];

/// The journald daemon's name in [`LOG_DAEMONS`].
pub const JOURNALD: &str = "systemd-journald";

/// Host path whose existence makes `Storage=auto` persistent.
pub const JOURNAL_DIR: &str = "/var/log/journal";

/// What the host collector saw of logging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingObservation {
    /// journald's storage configuration.
    pub journald: JournaldReading,
    /// Running processes whose name is one of [`LOG_DAEMONS`].
    pub daemons: Vec<RunningProcess>,
    /// Set when the process list could not be read.
    pub processes_error: Option<ProbeError>,
    /// auditd's rule files.
    pub audit: AuditReading,
}

/// journald's effective `Storage=` setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournaldReading {
    /// Whether journald is installed (its binary or `/etc/systemd/journald.conf` exists).
    pub installed: bool,
    /// Configuration files read, in the order journald applies them.
    pub files_read: Vec<String>,
    /// The effective `Storage=` assignment; `None` when unset (journald's default `auto`).
    pub storage: Option<JournaldSetting>,
    /// Whether [`JOURNAL_DIR`] exists.
    pub journal_dir_exists: bool,
    /// Set when a configuration file could not be read.
    pub error: Option<ProbeError>,
}

/// One `key=value` assignment and where it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournaldSetting {
    /// The value, as written.
    pub value: String,
    /// The file, as seen on the host.
    pub file: String,
    /// Line number (1-based).
    pub line: u32,
}

/// auditd's installation and rule files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditReading {
    /// Whether auditd is installed (`auditd` binary or `/etc/audit/auditd.conf`).
    pub installed: bool,
    /// Every rule file read and how many watch or syscall rules it has.
    pub rule_files: Vec<AuditRuleFile>,
    /// Set when a rule file or directory could not be read.
    pub error: Option<ProbeError>,
}

/// One audit rule file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRuleFile {
    /// Path on the host.
    pub file: String,
    /// Number of `-w` watches and `-a`/`-A` rules whose action is `always`.
    pub rules: u32,
}

/// The journal's effective persistence.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Persistence {
    /// Kept on disk; the string explains why.
    Persistent(String),
    /// Lost at reboot or not kept; the string explains why.
    Lost(String),
    /// Not interpretable; the string explains why.
    Unknown(String),
}

impl JournaldReading {
    fn persistence(&self) -> Persistence {
        let (value, origin) = match &self.storage {
            Some(s) => (
                s.value.trim().to_ascii_lowercase(),
                format!("set at {}:{}", s.file, s.line),
            ),
            None => ("auto".to_string(), "journald's default".to_string()),
        };
        match value.as_str() {
            "persistent" => Persistence::Persistent(format!("Storage=persistent ({origin})")),
            "auto" if self.journal_dir_exists => {
                Persistence::Persistent(format!("Storage=auto ({origin}) and {JOURNAL_DIR} exists"))
            }
            "auto" => Persistence::Lost(format!(
                "Storage=auto ({origin}) but {JOURNAL_DIR} does not exist, so the journal \
                 is kept in /run only and lost at reboot"
            )),
            "volatile" => Persistence::Lost(format!(
                "Storage=volatile ({origin}): the journal is kept in /run only and lost at reboot"
            )),
            "none" => Persistence::Lost(format!(
                "Storage=none ({origin}): journald discards every log message"
            )),
            other => Persistence::Unknown(format!("unrecognised value Storage={other} ({origin})")),
        }
    }
}

fn parse(meta: &CheckMeta, obs: &Observation) -> Result<LoggingObservation, Finding> {
    obs.payload().map_err(|e| Finding::malformed(meta, obs, &e))
}

// ---------------------------------------------------------------------------

/// Metadata of [`JOURNAL_PERSISTENT`].
pub const JOURNAL_PERSISTENT_META: CheckMeta = CheckMeta {
    id: "host_journald_storage_persistent",
    title: "systemd journal is stored persistently",
    severity: Severity::Medium,
    controls: &["A.8.15"],
    source: SOURCE,
    rationale: "Logs must be kept for review and investigation; a journal kept in memory only \
                disappears at every reboot or crash, exactly when it is needed.",
    remediation: "Set `Storage=persistent` in /etc/systemd/journald.conf or a drop-in in \
                  /etc/systemd/journald.conf.d/ (or create /var/log/journal with the default \
                  `Storage=auto`), then run `systemctl restart systemd-journald`.",
    max_age_days: 7,
};

/// journald's effective `Storage=` keeps the journal on disk.
pub const JOURNAL_PERSISTENT: Check = Check {
    meta: JOURNAL_PERSISTENT_META,
    evaluate: evaluate_journal,
};

fn evaluate_journal(obs: &Observation) -> Vec<Finding> {
    let meta = &JOURNAL_PERSISTENT_META;
    let data = match parse(meta, obs) {
        Ok(d) => d,
        Err(f) => return vec![f],
    };
    let j = &data.journald;
    let one = |status, code, reason: String| {
        vec![Finding::new(meta, RESOURCE_JOURNALD, status, code, reason)]
    };
    if !j.installed {
        return one(
            Status::NotApplicable,
            ReasonCode::ComponentAbsent,
            "systemd-journald is not installed (no binary and no /etc/systemd/journald.conf)"
                .to_string(),
        );
    }
    if let Some(err) = &j.error {
        return one(
            Status::Error,
            err.kind.reason_code(),
            format!(
                "journald's configuration could not be read: {}",
                err.message
            ),
        );
    }
    match j.persistence() {
        Persistence::Persistent(why) => one(Status::Pass, ReasonCode::JournalPersistent, why),
        Persistence::Lost(why) => one(Status::Fail, ReasonCode::JournalNotPersistent, why),
        Persistence::Unknown(why) => one(Status::Error, ReasonCode::Unreadable, why),
    }
}

// ---------------------------------------------------------------------------

/// Metadata of [`LOG_DAEMON_RUNNING`].
pub const LOG_DAEMON_RUNNING_META: CheckMeta = CheckMeta {
    id: "host_logging_daemon_running",
    title: "A syslog or audit daemon, or a persistent journal, records events",
    severity: Severity::High,
    controls: &["A.8.15"],
    source: SOURCE,
    rationale: "Events are only recorded when a daemon collects and stores them: rsyslog, \
                syslog-ng, auditd, or systemd-journald writing to disk.",
    remediation: "Install and enable rsyslog or syslog-ng (forwarding to the central log \
                  store), or auditd; or make the systemd journal persistent.",
    max_age_days: 1,
};

/// A syslog or audit daemon runs, or systemd-journald runs with persistent storage.
pub const LOG_DAEMON_RUNNING: Check = Check {
    meta: LOG_DAEMON_RUNNING_META,
    evaluate: evaluate_daemon,
};

fn evaluate_daemon(obs: &Observation) -> Vec<Finding> {
    let meta = &LOG_DAEMON_RUNNING_META;
    let data = match parse(meta, obs) {
        Ok(d) => d,
        Err(f) => return vec![f],
    };
    let one = |status, code, reason: String| {
        vec![Finding::new(meta, RESOURCE_DAEMON, status, code, reason)]
    };
    if let Some(err) = &data.processes_error {
        return one(
            Status::Error,
            err.kind.reason_code(),
            format!("running processes could not be listed: {}", err.message),
        );
    }
    let (journald, others): (Vec<RunningProcess>, Vec<RunningProcess>) = data
        .daemons
        .iter()
        .cloned()
        .partition(|p| p.name == JOURNALD);
    if !others.is_empty() {
        return one(
            Status::Pass,
            ReasonCode::LogDaemonRunning,
            format!("running: {}", list_processes(&others)),
        );
    }
    if journald.is_empty() {
        return one(
            Status::Fail,
            ReasonCode::LogDaemonNotRunning,
            format!(
                "no log daemon is running (looked for {})",
                LOG_DAEMONS.join(", ")
            ),
        );
    }
    let running = list_processes(&journald);
    if let Some(err) = &data.journald.error {
        return one(
            Status::Error,
            err.kind.reason_code(),
            format!(
                "only {running} runs, and whether its storage is persistent cannot be read: {}",
                err.message
            ),
        );
    }
    match data.journald.persistence() {
        Persistence::Persistent(why) => one(
            Status::Pass,
            ReasonCode::LogDaemonRunning,
            format!("running: {running} with persistent storage ({why})"),
        ),
        Persistence::Lost(why) => one(
            Status::Fail,
            ReasonCode::LogDaemonNotRunning,
            format!(
                "only {running} runs, and its journal is not persistent ({why}); no syslog or \
                 audit daemon runs"
            ),
        ),
        Persistence::Unknown(why) => one(
            Status::Error,
            ReasonCode::Unreadable,
            format!("only {running} runs, and its storage cannot be interpreted: {why}"),
        ),
    }
}

// ---------------------------------------------------------------------------

/// Metadata of [`AUDIT_RULES_PRESENT`].
pub const AUDIT_RULES_PRESENT_META: CheckMeta = CheckMeta {
    id: "host_auditd_rules_present",
    title: "auditd has audit rules where it is installed",
    severity: Severity::Medium,
    controls: &["A.8.15"],
    source: SOURCE,
    rationale: "auditd without rules records almost nothing: changes to identity files, \
                privileged commands and configuration are only logged when rules ask for it.",
    remediation: "Add rules to /etc/audit/rules.d/ (for example watches on /etc/passwd, \
                  /etc/shadow, /etc/sudoers and syscall rules for privileged commands), then \
                  run `augenrules --load`.",
    max_age_days: 7,
};

/// Where auditd is installed, its rule files define at least one rule.
pub const AUDIT_RULES_PRESENT: Check = Check {
    meta: AUDIT_RULES_PRESENT_META,
    evaluate: evaluate_audit,
};

fn evaluate_audit(obs: &Observation) -> Vec<Finding> {
    let meta = &AUDIT_RULES_PRESENT_META;
    let data = match parse(meta, obs) {
        Ok(d) => d,
        Err(f) => return vec![f],
    };
    let a = &data.audit;
    let one = |status, code, reason: String| {
        vec![Finding::new(meta, RESOURCE_AUDIT, status, code, reason)]
    };
    if !a.installed {
        return one(
            Status::NotApplicable,
            ReasonCode::ComponentAbsent,
            "auditd is not installed (no auditd binary and no /etc/audit/auditd.conf)".to_string(),
        );
    }
    if let Some(err) = &a.error {
        return one(
            Status::Error,
            err.kind.reason_code(),
            format!("audit rules could not be read: {}", err.message),
        );
    }
    let with_rules: Vec<String> = a
        .rule_files
        .iter()
        .filter(|f| f.rules > 0)
        .map(|f| format!("{} ({} rules)", f.file, f.rules))
        .collect();
    if with_rules.is_empty() {
        let read = if a.rule_files.is_empty() {
            "no rule file exists in /etc/audit/rules.d or /etc/audit/audit.rules".to_string()
        } else {
            format!(
                "no -w watch or -a always rule in {}",
                a.rule_files
                    .iter()
                    .map(|f| f.file.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return one(
            Status::Fail,
            ReasonCode::AuditRulesAbsent,
            format!("auditd is installed but {read}"),
        );
    }
    one(
        Status::Pass,
        ReasonCode::AuditRulesPresent,
        format!("audit rules in {}", with_rules.join(", ")),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::host::test_support::{obs, summary};
    use crate::host::ProbeErrorKind;

    fn base() -> LoggingObservation {
        LoggingObservation {
            journald: JournaldReading {
                installed: true,
                files_read: vec!["/etc/systemd/journald.conf".into()],
                storage: None,
                journal_dir_exists: true,
                error: None,
            },
            daemons: vec![RunningProcess {
                name: JOURNALD.into(),
                pid: 200,
            }],
            processes_error: None,
            audit: AuditReading {
                installed: true,
                rule_files: vec![AuditRuleFile {
                    file: "/etc/audit/rules.d/audit.rules".into(),
                    rules: 3,
                }],
                error: None,
            },
        }
    }

    fn run(d: &LoggingObservation) -> Vec<(String, Status, ReasonCode)> {
        let o = obs(SOURCE, d);
        let mut all = Vec::new();
        for c in [JOURNAL_PERSISTENT, LOG_DAEMON_RUNNING, AUDIT_RULES_PRESENT] {
            let f = (c.evaluate)(&o);
            assert_eq!(f.len(), 1);
            all.extend(summary(&f));
        }
        all
    }

    fn storage(value: &str) -> Option<JournaldSetting> {
        Some(JournaldSetting {
            value: value.into(),
            file: "/etc/systemd/journald.conf.d/10.conf".into(),
            line: 2,
        })
    }

    #[test]
    fn persistent_journal_and_rules_pass() {
        let s = run(&base());
        assert_eq!(
            s,
            vec![
                (
                    RESOURCE_JOURNALD.into(),
                    Status::Pass,
                    ReasonCode::JournalPersistent
                ),
                (
                    RESOURCE_DAEMON.into(),
                    Status::Pass,
                    ReasonCode::LogDaemonRunning
                ),
                (
                    RESOURCE_AUDIT.into(),
                    Status::Pass,
                    ReasonCode::AuditRulesPresent
                ),
            ]
        );
    }

    #[test]
    fn volatile_journal_fails_both() {
        for v in ["volatile", "none", "Volatile"] {
            let mut d = base();
            d.journald.storage = storage(v);
            let s = run(&d);
            assert_eq!(s[0].1, Status::Fail, "{v}");
            assert_eq!(s[0].2, ReasonCode::JournalNotPersistent);
            assert_eq!(s[1].1, Status::Fail, "journald alone is not enough: {v}");
            assert_eq!(s[1].2, ReasonCode::LogDaemonNotRunning);
        }
        // auto without /var/log/journal is volatile.
        let mut d = base();
        d.journald.journal_dir_exists = false;
        assert_eq!(run(&d)[0].1, Status::Fail);
        // ... but rsyslogd alone is enough for the daemon check.
        d.daemons.push(RunningProcess {
            name: "rsyslogd".into(),
            pid: 300,
        });
        assert_eq!(run(&d)[1].1, Status::Pass);
        // persistent without the directory: journald creates it.
        let mut d = base();
        d.journald.journal_dir_exists = false;
        d.journald.storage = storage("persistent");
        assert_eq!(run(&d)[0].1, Status::Pass);
    }

    #[test]
    fn no_daemon_and_no_rules_fail() {
        let mut d = base();
        d.daemons.clear();
        d.audit.rule_files[0].rules = 0;
        let s = run(&d);
        assert_eq!(s[1].2, ReasonCode::LogDaemonNotRunning);
        assert_eq!(s[2].1, Status::Fail);
        assert_eq!(s[2].2, ReasonCode::AuditRulesAbsent);
        d.audit.rule_files.clear();
        assert_eq!(run(&d)[2].2, ReasonCode::AuditRulesAbsent);
    }

    #[test]
    fn absent_components_are_not_applicable() {
        let mut d = base();
        d.journald.installed = false;
        d.audit.installed = false;
        d.daemons = vec![RunningProcess {
            name: "syslog-ng".into(),
            pid: 9,
        }];
        let s = run(&d);
        assert_eq!(s[0].1, Status::NotApplicable);
        assert_eq!(s[0].2, ReasonCode::ComponentAbsent);
        assert_eq!(s[1].1, Status::Pass);
        assert_eq!(s[2].1, Status::NotApplicable);
    }

    #[test]
    fn unreadable_state_is_error() {
        let mut d = base();
        d.journald.error = Some(ProbeError::new(ProbeErrorKind::PermissionDenied, "x"));
        d.audit.error = Some(ProbeError::new(ProbeErrorKind::PermissionDenied, "y"));
        let s = run(&d);
        assert_eq!(s[0].1, Status::Error);
        assert_eq!(s[0].2, ReasonCode::PermissionDenied);
        assert_eq!(s[1].1, Status::Error, "journald alone with unknown storage");
        assert_eq!(s[2].2, ReasonCode::PermissionDenied);
        d.processes_error = Some(ProbeError::new(ProbeErrorKind::Unreadable, "no /proc"));
        assert_eq!(run(&d)[1].2, ReasonCode::Unreadable);

        let mut d = base();
        d.journald.storage = storage("sometimes");
        let s = run(&d);
        assert_eq!(s[0].1, Status::Error);
        assert_eq!(s[1].1, Status::Error);
    }

    #[test]
    fn malformed_payload_is_error() {
        let mut o = obs(SOURCE, &base());
        o.data = serde_json::json!({"journald": 1});
        for c in [JOURNAL_PERSISTENT, LOG_DAEMON_RUNNING, AUDIT_RULES_PRESENT] {
            let f = (c.evaluate)(&o);
            assert_eq!(f[0].reason_code, ReasonCode::ObservationMalformed);
        }
    }
}
