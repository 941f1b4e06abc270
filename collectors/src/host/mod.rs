//! The Linux host collector.
//!
//! One collector instance reads one host (or a file-system tree mounted
//! under [`HostSettings::root`]) and returns one observation per source:
//! `host.sshd`, `host.time_sync`, `host.apt_updates`, `host.logging`,
//! `host.filesystems`, `host.firewall` and `host.malware`. Their payload
//! types and the checks that read them live in [`evident_policies::host`].
//! Unreadable state never aborts a run: it is recorded in the payload and the
//! checks report it as `error`.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use evident_policies::host::{
    apt as apt_policy, disk_encryption as disk_policy, firewall as firewall_policy,
    logging as logging_policy, malware as malware_policy, sshd as sshd_policy,
    time_sync as time_policy,
};
use evident_policies::host::{KernelClockReading, ProbeError, ProbeErrorKind, RunningProcess};
use evident_policies::{Observation, Target, TargetKind};
use serde::{Deserialize, Serialize};

mod apt;
mod command;
mod disk_encryption;
mod firewall;
mod fs;
mod logging;
mod malware;
mod sshd;
mod time_sync;

pub use command::{CommandError, CommandErrorKind};

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
    /// ClamAV signatures older than this many days make the malware
    /// protection check fail (`malware_signatures_stale`).
    #[serde(default = "default_malware_signature_max_age_days")]
    pub malware_signature_max_age_days: u32,
}

fn default_root() -> PathBuf {
    PathBuf::from("/")
}

fn default_apt_index_max_age_days() -> u32 {
    7
}

fn default_malware_signature_max_age_days() -> u32 {
    3
}

impl Default for HostSettings {
    fn default() -> Self {
        HostSettings {
            root: default_root(),
            apt_index_max_age_days: default_apt_index_max_age_days(),
            malware_signature_max_age_days: default_malware_signature_max_age_days(),
        }
    }
}

/// A running process, as far as the daemon lookups need it.
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
    /// Run a helper program (e.g. `nft -j list ruleset`); its standard output
    /// when it exits with status 0.
    fn run(&self, program: &str, args: &[&str]) -> Result<String, CommandError>;
}

/// The processes of `list` whose name is one of `names`, sorted by pid.
/// Linux truncates process names to 15 bytes (`systemd-timesyn`), so a
/// truncated prefix and the executable's file name match too.
pub(crate) fn running(list: &[ProcessEntry], names: &[&str]) -> Vec<RunningProcess> {
    let mut out: Vec<RunningProcess> = list
        .iter()
        .filter_map(|p| {
            let name = names.iter().find(|n| {
                p.name == **n
                    || (p.name.len() == 15 && n.starts_with(p.name.as_str()))
                    || p.exe_name.as_deref() == Some(**n)
            })?;
            Some(RunningProcess {
                name: (*name).to_string(),
                pid: p.pid,
            })
        })
        .collect();
    out.sort_by_key(|p| p.pid);
    out
}

/// The real probes: helper programs for the kernel clock and the firewall
/// rulesets (with a 5-second timeout), and `sysinfo` for processes.
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

    fn run(&self, program: &str, args: &[&str]) -> Result<String, CommandError> {
        command::run(program, args)
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
        &[
            sshd_policy::SOURCE,
            time_policy::SOURCE,
            apt_policy::SOURCE,
            logging_policy::SOURCE,
            disk_policy::SOURCE,
            firewall_policy::SOURCE,
            malware_policy::SOURCE,
        ]
    }

    /// One observation per source (see [`sources`](Self::sources)); never
    /// fails as a whole: unreadable state goes into the payload. The process
    /// list is read once and shared by the sources that need it.
    pub fn collect(&self, now: DateTime<Utc>) -> Vec<Observation> {
        let root = &self.settings.root;
        let probes = self.probes.as_ref();
        let target = Target {
            kind: TargetKind::Host,
            id: self.host_id(),
        };
        let processes = probes.processes();
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
                &time_sync::observe(probes, &processes),
            ),
            Observation::new(
                apt_policy::SOURCE,
                target.clone(),
                now,
                &apt::observe(root, self.settings.apt_index_max_age_days),
            ),
            Observation::new(
                logging_policy::SOURCE,
                target.clone(),
                now,
                &logging::observe(root, &processes),
            ),
            Observation::new(
                disk_policy::SOURCE,
                target.clone(),
                now,
                &disk_encryption::observe(root),
            ),
            Observation::new(
                firewall_policy::SOURCE,
                target.clone(),
                now,
                &firewall::observe(root, probes, &processes),
            ),
            Observation::new(
                malware_policy::SOURCE,
                target,
                now,
                &malware::observe(
                    root,
                    &processes,
                    self.settings.malware_signature_max_age_days,
                ),
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
