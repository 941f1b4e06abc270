//! Checks on Linux hosts. Observation payload types live here too, so that
//! collectors and checks share one definition.
//!
//! Three sources feed them, each fetched once per run by the host collector:
//! - [`sshd`]: `host.sshd`, the effective authentication settings of the SSH daemon;
//! - [`time_sync`]: `host.time_sync`, the kernel clock state and the running time daemons;
//! - [`apt`]: `host.apt_updates`, installed packages against the security archives' indexes.

use serde::{Deserialize, Serialize};

use crate::model::Check;
use crate::reason::ReasonCode;

pub mod apt;
pub mod debversion;
pub mod sshd;
pub mod time_sync;

pub use apt::{AptIndexFile, AptUpdatesObservation, PendingUpdate, SkippedIndexFile};
pub use sshd::{SshdMatchSetting, SshdObservation, SshdSetting};
pub use time_sync::{KernelClockReading, TimeDaemon, TimeSyncObservation};

/// The host checks.
pub static CHECKS: &[Check] = &[
    sshd::PASSWORD_AUTH_DISABLED,
    sshd::ROOT_LOGIN_RESTRICTED,
    sshd::EMPTY_PASSWORDS_REFUSED,
    time_sync::CLOCK_SYNCHRONIZED,
    apt::SECURITY_UPDATES_APPLIED,
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
