//! Logging: journald's effective `Storage=`, the running log daemons and
//! auditd's rule files. File reading under the configured root, plus the
//! shared process list.

use std::path::Path;

use evident_policies::host::logging::{JOURNAL_DIR, LOG_DAEMONS};
use evident_policies::host::{
    AuditReading, AuditRuleFile, JournaldReading, JournaldSetting, LoggingObservation, ProbeError,
};

use super::fs::{io_error, on_host};
use super::{running, ProcessEntry};

/// journald's binary, in the places distributions install it.
const JOURNALD_BINARIES: &[&str] = &[
    "/lib/systemd/systemd-journald",
    "/usr/lib/systemd/systemd-journald",
];
/// The main configuration file, and the vendor default newer systemd uses when it is absent.
const JOURNALD_CONF: &[&str] = &[
    "/etc/systemd/journald.conf",
    "/usr/lib/systemd/journald.conf",
];
/// Drop-in directories, most important first: a file name in an earlier
/// directory hides the same name in later ones.
const JOURNALD_DROPIN_DIRS: &[&str] = &[
    "/etc/systemd/journald.conf.d",
    "/run/systemd/journald.conf.d",
    "/usr/local/lib/systemd/journald.conf.d",
    "/usr/lib/systemd/journald.conf.d",
];
/// auditd's binary and configuration.
const AUDITD_MARKERS: &[&str] = &["/sbin/auditd", "/usr/sbin/auditd", "/etc/audit/auditd.conf"];
/// Rule files auditd (through augenrules) loads.
const AUDIT_RULES_DIR: &str = "/etc/audit/rules.d";
const AUDIT_RULES: &str = "/etc/audit/audit.rules";

/// Observe logging under `root`.
pub(crate) fn observe(
    root: &Path,
    processes: &Result<Vec<ProcessEntry>, ProbeError>,
) -> LoggingObservation {
    let (daemons, processes_error) = match processes {
        Ok(list) => (running(list, LOG_DAEMONS), None),
        Err(e) => (Vec::new(), Some(e.clone())),
    };
    LoggingObservation {
        journald: journald(root),
        daemons,
        processes_error,
        audit: audit(root),
    }
}

fn exists(root: &Path, host_path: &str) -> bool {
    on_host(root, host_path).symlink_metadata().is_ok()
}

fn journald(root: &Path) -> JournaldReading {
    let mut r = JournaldReading {
        installed: JOURNALD_BINARIES
            .iter()
            .chain(JOURNALD_CONF.iter().take(1))
            .any(|p| exists(root, p)),
        files_read: Vec::new(),
        storage: None,
        journal_dir_exists: on_host(root, JOURNAL_DIR).is_dir(),
        error: None,
    };
    if !r.installed {
        return r;
    }
    if let Err(e) = read_journald_files(root, &mut r) {
        r.error = Some(e);
    }
    r
}

/// The files journald reads, in order: the main file, then drop-ins sorted
/// by file name.
fn journald_files(root: &Path) -> Result<Vec<String>, ProbeError> {
    let mut files = Vec::new();
    if let Some(main) = JOURNALD_CONF.iter().find(|p| exists(root, p)) {
        files.push((*main).to_string());
    }
    let mut dropins: Vec<(String, String)> = Vec::new();
    for dir in JOURNALD_DROPIN_DIRS {
        for name in list_dir(root, dir)? {
            if name.ends_with(".conf") && !dropins.iter().any(|(n, _)| *n == name) {
                dropins.push((name.clone(), format!("{dir}/{name}")));
            }
        }
    }
    dropins.sort();
    files.extend(dropins.into_iter().map(|(_, path)| path));
    Ok(files)
}

fn read_journald_files(root: &Path, r: &mut JournaldReading) -> Result<(), ProbeError> {
    for file in journald_files(root)? {
        let text = std::fs::read(on_host(root, &file)).map_err(|e| io_error(&e, &file))?;
        let text = String::from_utf8_lossy(&text);
        let mut section = String::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.trim().to_string();
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            if section == "Journal" && key.trim() == "Storage" {
                r.storage = Some(JournaldSetting {
                    value: value.trim().to_string(),
                    file: file.clone(),
                    line: u32::try_from(index + 1).unwrap_or(u32::MAX),
                });
            }
        }
        r.files_read.push(file);
    }
    Ok(())
}

/// File names in a host directory, sorted; none when it does not exist.
fn list_dir(root: &Path, dir: &str) -> Result<Vec<String>, ProbeError> {
    let entries = match std::fs::read_dir(on_host(root, dir)) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(&e, dir)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error(&e, dir))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

fn audit(root: &Path) -> AuditReading {
    let mut r = AuditReading {
        installed: AUDITD_MARKERS.iter().any(|p| exists(root, p)),
        rule_files: Vec::new(),
        error: None,
    };
    if !r.installed {
        return r;
    }
    let mut files: Vec<String> = match list_dir(root, AUDIT_RULES_DIR) {
        Ok(names) => names
            .into_iter()
            .filter(|n| n.ends_with(".rules"))
            .map(|n| format!("{AUDIT_RULES_DIR}/{n}"))
            .collect(),
        Err(e) => {
            r.error = Some(e);
            return r;
        }
    };
    if exists(root, AUDIT_RULES) {
        files.push(AUDIT_RULES.to_string());
    }
    for file in files {
        match std::fs::read(on_host(root, &file)) {
            Ok(bytes) => r.rule_files.push(AuditRuleFile {
                rules: count_rules(&String::from_utf8_lossy(&bytes)),
                file,
            }),
            Err(e) => {
                r.error = Some(io_error(&e, &file));
                return r;
            }
        }
    }
    r
}

/// Watches (`-w`) and syscall rules that record (`-a`/`-A` with `always`);
/// control lines (`-D`, `-b`, `-e`, `-f`) and `never` rules are not counted.
fn count_rules(text: &str) -> u32 {
    let n = text
        .lines()
        .filter(|l| {
            let mut words = l.split_whitespace();
            match words.next() {
                Some("-w") => true,
                Some("-a" | "-A") => words.next().is_some_and(|a| a.contains("always")),
                _ => false,
            }
        })
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_recording_rules_only() {
        let text = "## comment\n-D\n-b 8192\n-w /etc/passwd -p wa -k identity\n\
                    -a always,exit -F arch=b64 -S execve -k exec\n-a exit,always -S open\n\
                    -a never,exit -F path=/tmp\n-e 2\n  # -w /etc/shadow\n";
        assert_eq!(count_rules(text), 3);
    }
}
