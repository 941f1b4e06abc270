//! Checks on Linux hosts. Observation payload types live here too, so that
//! collectors and checks share one definition.
//!
//! Three sources feed them, each fetched once per run by the host collector:
//! - [`sshd`]: `host.sshd`, the effective authentication settings of the SSH daemon;
//! - [`time_sync`]: `host.time_sync`, the kernel clock state and the running time daemons;
//! - [`apt`]: `host.apt_updates`, installed packages against the security archives' indexes;
//! - [`logging`]: `host.logging`, journald storage, running log daemons and audit rules;
//! - [`disk_encryption`]: `host.filesystems`, the mounted data file systems and their block devices;
//! - [`firewall`]: `host.firewall`, the input filter chains of nftables, iptables, ufw and firewalld;
//! - [`malware`]: `host.malware`, running malware protection engines and their signature age.

use serde::{Deserialize, Serialize};

use crate::model::Check;
use crate::reason::ReasonCode;

pub mod apt;
pub mod debversion;
pub mod disk_encryption;
pub mod firewall;
pub mod logging;
pub mod malware;
pub mod sshd;
pub mod time_sync;

pub use apt::{AptIndexFile, AptUpdatesObservation, PendingUpdate, SkippedIndexFile};
pub use disk_encryption::{Encryption, FilesystemsObservation, MountedFilesystem, SkippedMount};
pub use firewall::{FirewallBackend, FirewallObservation, InputChain};
pub use logging::{
    AuditReading, AuditRuleFile, JournaldReading, JournaldSetting, LoggingObservation,
};
pub use malware::{MalwareObservation, RunningEngine, SignatureDatabase};
pub use sshd::{SshdMatchSetting, SshdObservation, SshdSetting};
pub use time_sync::{KernelClockReading, TimeDaemon, TimeSyncObservation};

/// The host checks.
pub static CHECKS: &[Check] = &[
    sshd::PASSWORD_AUTH_DISABLED,
    sshd::ROOT_LOGIN_RESTRICTED,
    sshd::EMPTY_PASSWORDS_REFUSED,
    time_sync::CLOCK_SYNCHRONIZED,
    apt::SECURITY_UPDATES_APPLIED,
    logging::JOURNAL_PERSISTENT,
    logging::LOG_DAEMON_RUNNING,
    logging::AUDIT_RULES_PRESENT,
    disk_encryption::FILESYSTEMS_ENCRYPTED,
    firewall::INBOUND_DEFAULT_DENY,
    malware::SIGNATURES_FRESH,
];

/// Why a piece of host state could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProbeErrorKind {
    /// The agent lacks the privileges (`EACCES`/`EPERM`).
    PermissionDenied,
    /// Any other I/O error or an unexpected format.
    Unreadable,
    /// A program the probe relies on is missing or failed.
    ToolUnavailable,
}

impl ProbeErrorKind {
    /// The reason code of an `error` finding caused by this kind of failure.
    pub fn reason_code(self) -> ReasonCode {
        match self {
            ProbeErrorKind::PermissionDenied => ReasonCode::PermissionDenied,
            ProbeErrorKind::Unreadable => ReasonCode::Unreadable,
            ProbeErrorKind::ToolUnavailable => ReasonCode::ToolUnavailable,
        }
    }
}

/// A piece of host state that could not be read, recorded in the observation
/// so that the checks report it as `error` (fail closed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeError {
    /// What kind of failure.
    pub kind: ProbeErrorKind,
    /// Human-readable description, e.g. `requires root to read /etc/ssh/sshd_config`.
    pub message: String,
}

impl ProbeError {
    /// Build a probe error.
    pub fn new(kind: ProbeErrorKind, message: impl Into<String>) -> ProbeError {
        ProbeError {
            kind,
            message: message.into(),
        }
    }
}

/// A running process the collector looked for by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunningProcess {
    /// The name looked for (untruncated), e.g. `systemd-journald`.
    pub name: String,
    /// Its process id.
    pub pid: u32,
}

/// `name (pid N), ...` for a reason text.
pub(crate) fn list_processes(list: &[RunningProcess]) -> String {
    list.iter()
        .map(|p| format!("{} (pid {})", p.name, p.pid))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Helpers shared by the host checks' unit tests.
    use crate::model::{Finding, Observation, Target, TargetKind};
    use chrono::{DateTime, TimeZone, Utc};

    /// The collection time of test observations.
    pub fn now() -> DateTime<Utc> {
        // Invariant: a fixed, valid timestamp.
        #[allow(clippy::unwrap_used)]
        Utc.timestamp_opt(1_700_000_000, 0).unwrap()
    }

    /// An observation of `source` collected at [`now`].
    pub fn obs<T: serde::Serialize>(source: &str, data: &T) -> Observation {
        Observation::new(
            source,
            Target {
                kind: TargetKind::Host,
                id: "h".into(),
            },
            now(),
            data,
        )
    }

    /// `(resource, status, code)` of each finding.
    pub fn summary(
        f: &[Finding],
    ) -> Vec<(String, crate::model::Status, crate::reason::ReasonCode)> {
        f.iter()
            .map(|f| (f.resource_id.clone(), f.status, f.reason_code))
            .collect()
    }
}
