//! Clock synchronisation: the `host.time_sync` observation and its check.

use serde::{Deserialize, Serialize};

use super::ProbeError;
use crate::model::{Check, CheckMeta, Finding, Observation, Severity, Status};
use crate::reason::ReasonCode;

/// The observation source of this check.
pub const SOURCE: &str = "host.time_sync";

/// Resource id of the finding about the kernel clock.
pub const RESOURCE_KERNEL: &str = "kernel_clock";

/// Resource id of the finding about the time daemon.
pub const RESOURCE_DAEMON: &str = "time_daemon";

/// Process names of NTP and PTP daemons the collector looks for.
pub const TIME_DAEMONS: &[&str] = &[
    "chronyd",
    "ntpd",
    "ntpsec",
    "openntpd",
    "systemd-timesyncd",
    "timesyncd",
    "ptp4l",
    "phc2sys",
    "timemaster",
];

/// What the host collector saw of clock synchronisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSyncObservation {
    /// The kernel's view of its clock.
    pub kernel: KernelClockReading,
    /// Running processes whose name is one of [`TIME_DAEMONS`].
    pub daemons: Vec<TimeDaemon>,
    /// Set when the process list could not be read.
    pub processes_error: Option<ProbeError>,
}

/// The kernel clock's synchronisation state (the `STA_UNSYNC` bit of adjtimex(2)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelClockReading {
    /// How it was read, e.g. `adjtimex --print` or `timedatectl`.
    pub method: Option<String>,
    /// Whether the kernel considers its clock synchronised; `None` when unknown.
    pub synchronized: Option<bool>,
    /// The kernel's maximum error estimate in microseconds, when known.
    pub max_error_us: Option<i64>,
    /// Set when the state could not be read.
    pub error: Option<ProbeError>,
}

/// A running time daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeDaemon {
    /// Which of [`TIME_DAEMONS`] it is.
    pub name: String,
    /// Its process id.
    pub pid: u32,
}

/// Metadata of [`CLOCK_SYNCHRONIZED`].
pub const CLOCK_SYNCHRONIZED_META: CheckMeta = CheckMeta {
    id: "host_clock_synchronized",
    title: "Host clock is synchronised by a running time daemon",
    severity: Severity::Medium,
    controls: &["A.8.17"],
    source: SOURCE,
    rationale: "Logs and evidence from different systems can only be correlated when their \
                clocks agree with an approved time source; an unsynchronised clock drifts.",
    remediation: "Install and enable an NTP or PTP daemon (chrony, systemd-timesyncd, ntpsec, \
                  linuxptp) pointing to the organisation's approved time sources, and check \
                  that it reaches them (`chronyc tracking`, `timedatectl timesync-status`).",
    max_age_days: 1,
};

/// The kernel reports its clock synchronised (one finding on `kernel_clock`)
/// and an NTP/PTP daemon runs (one finding on `time_daemon`).
pub const CLOCK_SYNCHRONIZED: Check = Check {
    meta: CLOCK_SYNCHRONIZED_META,
    evaluate: evaluate_clock,
};

fn evaluate_clock(obs: &Observation) -> Vec<Finding> {
    let meta = &CLOCK_SYNCHRONIZED_META;
    let data: TimeSyncObservation = match obs.payload() {
        Ok(d) => d,
        Err(e) => return vec![Finding::malformed(meta, obs, &e)],
    };
    vec![kernel_finding(&data.kernel), daemon_finding(&data)]
}

fn kernel_finding(k: &KernelClockReading) -> Finding {
    let meta = &CLOCK_SYNCHRONIZED_META;
    let how = k.method.as_deref().unwrap_or("no method");
    if let Some(err) = &k.error {
        return Finding::new(
            meta,
            RESOURCE_KERNEL,
            Status::Error,
            err.kind.reason_code(),
            format!("the kernel clock state could not be read: {}", err.message),
        );
    }
    let max_error = k
        .max_error_us
        .map(|us| format!(", maximum error {us} µs"))
        .unwrap_or_default();
    match k.synchronized {
        None => Finding::new(
            meta,
            RESOURCE_KERNEL,
            Status::Error,
            ReasonCode::Unreadable,
            format!("the kernel clock state is unknown (read with {how})"),
        ),
        Some(false) => Finding::new(
            meta,
            RESOURCE_KERNEL,
            Status::Fail,
            ReasonCode::TimeNotSynchronized,
            format!(
                "the kernel reports its clock as not synchronised (read with {how}{max_error})"
            ),
        ),
        Some(true) => Finding::new(
            meta,
            RESOURCE_KERNEL,
            Status::Pass,
            ReasonCode::TimeSynchronized,
            format!("the kernel reports its clock as synchronised (read with {how}{max_error})"),
        ),
    }
}

fn daemon_finding(data: &TimeSyncObservation) -> Finding {
    let meta = &CLOCK_SYNCHRONIZED_META;
    if let Some(err) = &data.processes_error {
        return Finding::new(
            meta,
            RESOURCE_DAEMON,
            Status::Error,
            err.kind.reason_code(),
            format!("running processes could not be listed: {}", err.message),
        );
    }
    if data.daemons.is_empty() {
        return Finding::new(
            meta,
            RESOURCE_DAEMON,
            Status::Fail,
            ReasonCode::TimeDaemonNotRunning,
            format!(
                "no time daemon is running (looked for {})",
                TIME_DAEMONS.join(", ")
            ),
        );
    }
    let list: Vec<String> = data
        .daemons
        .iter()
        .map(|d| format!("{} (pid {})", d.name, d.pid))
        .collect();
    Finding::new(
        meta,
        RESOURCE_DAEMON,
        Status::Pass,
        ReasonCode::TimeDaemonRunning,
        format!("running: {}", list.join(", ")),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::host::ProbeErrorKind;
    use crate::model::{Target, TargetKind};
    use chrono::TimeZone;

    fn obs(data: &TimeSyncObservation) -> Observation {
        Observation::new(
            SOURCE,
            Target {
                kind: TargetKind::Host,
                id: "h".into(),
            },
            chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            data,
        )
    }

    fn data(synced: Option<bool>, daemons: &[&str]) -> TimeSyncObservation {
        TimeSyncObservation {
            kernel: KernelClockReading {
                method: Some("test".into()),
                synchronized: synced,
                max_error_us: Some(1500),
                error: None,
            },
            daemons: daemons
                .iter()
                .enumerate()
                .map(|(i, n)| TimeDaemon {
                    name: (*n).into(),
                    pid: 100 + i as u32,
                })
                .collect(),
            processes_error: None,
        }
    }

    fn statuses(d: &TimeSyncObservation) -> Vec<(String, Status, ReasonCode)> {
        (CLOCK_SYNCHRONIZED.evaluate)(&obs(d))
            .into_iter()
            .map(|f| (f.resource_id, f.status, f.reason_code))
            .collect()
    }

    #[test]
    fn synced_with_daemon_passes() {
        let s = statuses(&data(Some(true), &["chronyd"]));
        assert_eq!(
            s,
            vec![
                (
                    RESOURCE_KERNEL.into(),
                    Status::Pass,
                    ReasonCode::TimeSynchronized
                ),
                (
                    RESOURCE_DAEMON.into(),
                    Status::Pass,
                    ReasonCode::TimeDaemonRunning
                ),
            ]
        );
    }

    #[test]
    fn each_failure_has_its_code() {
        let s = statuses(&data(Some(false), &[]));
        assert_eq!(s[0].1, Status::Fail);
        assert_eq!(s[0].2, ReasonCode::TimeNotSynchronized);
        assert_eq!(s[1].1, Status::Fail);
        assert_eq!(s[1].2, ReasonCode::TimeDaemonNotRunning);
    }

    #[test]
    fn unreadable_state_is_error() {
        let mut d = data(None, &["ntpd"]);
        assert_eq!(statuses(&d)[0].1, Status::Error);
        d.kernel.error = Some(ProbeError::new(
            ProbeErrorKind::PermissionDenied,
            "adjtimex denied",
        ));
        assert_eq!(statuses(&d)[0].2, ReasonCode::PermissionDenied);
        d.processes_error = Some(ProbeError::new(ProbeErrorKind::Unreadable, "no /proc"));
        assert_eq!(statuses(&d)[1].1, Status::Error);
        assert_eq!(statuses(&d)[1].2, ReasonCode::Unreadable);
    }

    #[test]
    fn malformed_payload_is_error() {
        let mut o = obs(&data(Some(true), &[]));
        o.data = serde_json::json!({"kernel": {}, "extra": true});
        let f = (CLOCK_SYNCHRONIZED.evaluate)(&o);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].status, Status::Error);
        assert_eq!(f[0].reason_code, ReasonCode::ObservationMalformed);
    }
}
