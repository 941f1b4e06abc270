//! Clock synchronisation: the kernel clock state and the running time daemons.
//!
//! Limitation: the kernel's NTP state is read by the adjtimex(2) system call,
//! which neither `rustix` nor `nix` wraps, and this workspace forbids
//! `unsafe`. The real probe therefore asks programs that make the call:
//! `adjtimex --print` (Debian package `adjtimex`), then `timedatectl`
//! (systemd's `NTPSynchronized`, which is the kernel's `STA_UNSYNC` bit),
//! then systemd-timesyncd's marker file `/run/systemd/timesync/synchronized`.
//! When none is available the state is an `error` (`tool_unavailable`).

use std::path::Path;

use evident_policies::host::time_sync::TIME_DAEMONS;
use evident_policies::host::{
    KernelClockReading, ProbeError, ProbeErrorKind, TimeDaemon, TimeSyncObservation,
};

use super::command::{run, CommandErrorKind};
use super::fs::on_host;
use super::{running, ProcessEntry, SystemProbes};

/// `STA_UNSYNC` in the adjtimex(2) status word.
const STA_UNSYNC: i64 = 0x0040;
/// systemd-timesyncd's marker, touched after each synchronisation.
const TIMESYNCD_MARKER: &str = "/run/systemd/timesync/synchronized";

/// Build the observation from the probes and the process list.
pub(crate) fn observe(
    probes: &dyn SystemProbes,
    processes: &Result<Vec<ProcessEntry>, ProbeError>,
) -> TimeSyncObservation {
    let kernel = probes.kernel_clock();
    let (daemons, processes_error) = match processes {
        Ok(list) => (time_daemons(list), None),
        Err(e) => (Vec::new(), Some(e.clone())),
    };
    TimeSyncObservation {
        kernel,
        daemons,
        processes_error,
    }
}

/// The processes that are time daemons.
fn time_daemons(list: &[ProcessEntry]) -> Vec<TimeDaemon> {
    running(list, TIME_DAEMONS)
        .into_iter()
        .map(|p| TimeDaemon {
            name: p.name,
            pid: p.pid,
        })
        .collect()
}

/// Read the kernel clock state on the running system (see the module docs).
pub(crate) fn read_kernel_clock(root: &Path) -> KernelClockReading {
    let mut tried = Vec::new();
    let mut denied = false;
    match run("adjtimex", &["--print"]) {
        Ok(out) => match parse_adjtimex(&out) {
            Some((status, max_error)) => {
                return KernelClockReading {
                    method: Some("adjtimex --print".into()),
                    synchronized: Some(status & STA_UNSYNC == 0),
                    max_error_us: max_error,
                    error: None,
                }
            }
            None => tried.push("adjtimex --print: unexpected output".to_string()),
        },
        Err(e) => {
            denied |= e.kind == CommandErrorKind::PermissionDenied;
            tried.push(format!("adjtimex: {}", e.message));
        }
    }
    match run("timedatectl", &["show", "-p", "NTPSynchronized", "--value"]) {
        Ok(out) => match out.trim() {
            v @ ("yes" | "no") => {
                return KernelClockReading {
                    method: Some("timedatectl show -p NTPSynchronized".into()),
                    synchronized: Some(v == "yes"),
                    max_error_us: None,
                    error: None,
                }
            }
            other => tried.push(format!("timedatectl: unexpected output {other:?}")),
        },
        Err(e) => {
            denied |= e.kind == CommandErrorKind::PermissionDenied;
            tried.push(format!("timedatectl: {}", e.message));
        }
    }
    if on_host(root, TIMESYNCD_MARKER).exists() {
        return KernelClockReading {
            method: Some(format!("systemd-timesyncd marker {TIMESYNCD_MARKER}")),
            synchronized: Some(true),
            max_error_us: None,
            error: None,
        };
    }
    tried.push(format!("no {TIMESYNCD_MARKER}"));
    let kind = if denied {
        ProbeErrorKind::PermissionDenied
    } else {
        ProbeErrorKind::ToolUnavailable
    };
    KernelClockReading {
        method: None,
        synchronized: None,
        max_error_us: None,
        error: Some(ProbeError::new(kind, tried.join("; "))),
    }
}

/// `(status, maxerror)` from the output of `adjtimex --print`.
fn parse_adjtimex(out: &str) -> Option<(i64, Option<i64>)> {
    let field = |name: &str| {
        out.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().parse::<i64>().ok())?
        })
    };
    Some((field("status")?, field("maxerror")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_adjtimex_output() {
        let out = "         mode: 0\n       offset: 0\n    frequency: 0\n     maxerror: 16000000\n     esterror: 16000000\n       status: 64\ntime_constant: 2\n";
        assert_eq!(parse_adjtimex(out), Some((64, Some(16_000_000))));
        assert_eq!(parse_adjtimex("nothing"), None);
    }

    #[test]
    fn matches_truncated_names() {
        let list = vec![
            ProcessEntry {
                pid: 7,
                name: "systemd-timesyn".into(),
                exe_name: None,
            },
            ProcessEntry {
                pid: 3,
                name: "chronyd".into(),
                exe_name: Some("chronyd".into()),
            },
            ProcessEntry {
                pid: 4,
                name: "bash".into(),
                exe_name: Some("bash".into()),
            },
            ProcessEntry {
                pid: 5,
                name: "ntp".into(),
                exe_name: None,
            },
        ];
        let d = time_daemons(&list);
        assert_eq!(
            d,
            vec![
                TimeDaemon {
                    name: "chronyd".into(),
                    pid: 3
                },
                TimeDaemon {
                    name: "systemd-timesyncd".into(),
                    pid: 7
                },
            ]
        );
    }
}
