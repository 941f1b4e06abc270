//! The Linux host collector.
//!
//! One collector instance reads one host (or a file-system tree mounted
//! under [`HostSettings::root`]) and returns one observation per source:
//! `host.sshd`, `host.time_sync` and `host.apt_updates`. Their payload types
//! and the checks that read them live in [`evident_policies::host`].
//! Unreadable state never aborts a run: it is recorded in the payload and the
//! checks report it as `error`.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use evident_policies::host::{apt as apt_policy, sshd as sshd_policy, time_sync as time_policy};
use evident_policies::host::{KernelClockReading, ProbeError, ProbeErrorKind};
use evident_policies::{Observation, Target, TargetKind};
use serde::{Deserialize, Serialize};

mod apt;
mod fs;
mod sshd;
mod time_sync;

/// Settings of a host collector instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSettings {
    /// Root of the file system to inspect. `/` (the default) is the running
    /// host; another path (for example a container's root mounted read-only)
    /// is read instead for files. The kernel clock and the process list are
    /// always those of the host the agent runs on.
    #[serde(default = "default_root")]
    pub root: PathBuf,
    /// Security package indexes in `/var/lib/apt/lists` older than this many
    /// days make the pending-updates check an `error` (`updates_index_stale`):
    /// run `apt-get update` more often (for example with apt's daily timer).
    #[serde(default = "default_apt_index_max_age_days")]
    pub apt_index_max_age_days: u32,
}

fn default_root() -> PathBuf {
    PathBuf::from("/")
}

fn default_apt_index_max_age_days() -> u32 {
    7
}

impl Default for HostSettings {
    fn default() -> Self {
        HostSettings {
            root: default_root(),
            apt_index_max_age_days: default_apt_index_max_age_days(),
        }
    }
}

/// A running process, as far as the time-daemon lookup needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessEntry {
    /// Process id.
    pub pid: u32,
    /// Process name (`comm`, truncated by Linux to 15 bytes).
    pub name: String,
    /// File name of the executable, when readable.
    pub exe_name: Option<String>,
}

/// The parts of the running system the host collector cannot read from
/// files under its root. Tests substitute fakes.
pub trait SystemProbes: Send + Sync {
    /// The kernel clock's synchronisation state; never fails, errors are in the reading.
    fn kernel_clock(&self) -> KernelClockReading;
    /// The running processes.
    fn processes(&self) -> Result<Vec<ProcessEntry>, ProbeError>;
    /// The host name, used when `<root>/etc/hostname` is missing.
    fn host_name(&self) -> Option<String>;
}

/// The real probes: helper programs for the kernel clock and `sysinfo` for
/// processes.
///
/// Limitation: the kernel's NTP state comes from the adjtimex(2) system
/// call, which neither `rustix` nor `nix` wraps and this workspace forbids
/// `unsafe`; it is therefore read through `adjtimex --print`, then
/// `timedatectl show -p NTPSynchronized`, then systemd-timesyncd's marker
/// `/run/systemd/timesync/synchronized`. Without any of them the state is an
/// `error` (`tool_unavailable`).
#[derive(Debug, Clone)]
pub struct RealProbes {
    root: PathBuf,
}

impl RealProbes {
    /// Probes of the running system; `root` locates marker files.
    pub fn new(root: &Path) -> RealProbes {
        RealProbes {
            root: root.to_path_buf(),
        }
    }
}

impl SystemProbes for RealProbes {
    fn kernel_clock(&self) -> KernelClockReading {
        time_sync::read_kernel_clock(&self.root)
    }

    fn processes(&self) -> Result<Vec<ProcessEntry>, ProbeError> {
        use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};
        let mut sys = System::new();
        sys.refresh_processes_specifics(
            ProcessesToUpdate::All,
            true,
            ProcessRefreshKind::nothing().with_exe(UpdateKind::OnlyIfNotSet),
        );
        let list: Vec<ProcessEntry> = sys
            .processes()
            .values()
            .map(|p| ProcessEntry {
                pid: p.pid().as_u32(),
                name: p.name().to_string_lossy().into_owned(),
                exe_name: p
                    .exe()
                    .and_then(|e| e.file_name())
                    .map(|n| n.to_string_lossy().into_owned()),
            })
            .collect();
        if list.is_empty() {
            // At least the agent itself runs: an empty list means /proc is unreadable.
            return Err(ProbeError::new(
                ProbeErrorKind::Unreadable,
                "no process is visible (is /proc mounted?)",
            ));
        }
        Ok(list)
    }

    fn host_name(&self) -> Option<String> {
        sysinfo::System::host_name()
    }
}

/// A host collector: reads the settings' root and the system probes.
pub struct HostCollector {
    settings: HostSettings,
    probes: Box<dyn SystemProbes>,
}

impl std::fmt::Debug for HostCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostCollector")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl HostCollector {
    /// A collector of the real system.
    pub fn new(settings: &HostSettings) -> HostCollector {
        HostCollector::with_probes(settings, Box::new(RealProbes::new(&settings.root)))
    }

    /// A collector with substituted system probes (fake processes or kernel clock, for tests).
    pub fn with_probes(settings: &HostSettings, probes: Box<dyn SystemProbes>) -> HostCollector {
        HostCollector {
            settings: settings.clone(),
            probes,
        }
    }

    /// The observation sources this collector produces, in [`collect`](Self::collect) order.
    pub fn sources() -> &'static [&'static str] {
        &[sshd_policy::SOURCE, time_policy::SOURCE, apt_policy::SOURCE]
    }

    /// One observation per source (`host.sshd`, `host.time_sync`,
    /// `host.apt_updates`); never fails as a whole: unreadable state goes
    /// into the payload.
    pub fn collect(&self, now: DateTime<Utc>) -> Vec<Observation> {
        let root = &self.settings.root;
        let target = Target {
            kind: TargetKind::Host,
            id: self.host_id(),
        };
        vec![
            Observation::new(
                sshd_policy::SOURCE,
                target.clone(),
                now,
                &sshd::observe(root),
            ),
            Observation::new(
                time_policy::SOURCE,
                target.clone(),
                now,
                &time_sync::observe(self.probes.as_ref()),
            ),
            Observation::new(
                apt_policy::SOURCE,
                target,
                now,
                &apt::observe(root, self.settings.apt_index_max_age_days),
            ),
        ]
    }

    /// `<root>/etc/hostname`, else the probes' host name, else `localhost`.
    fn host_id(&self) -> String {
        std::fs::read_to_string(fs::on_host(&self.settings.root, "/etc/hostname"))
            .ok()
            .and_then(|s| s.lines().next().map(|l| l.trim().to_string()))
            .filter(|s| !s.is_empty())
            .or_else(|| self.probes.host_name().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| "localhost".to_string())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
