//! Pending security updates on Debian-family hosts: the `host.apt_updates`
//! observation and its check.
//!
//! The collector compares the installed packages (`/var/lib/dpkg/status`)
//! with the package indexes that `apt-get update` downloaded from security
//! archives (`/var/lib/apt/lists/*security*_Packages*`), using Debian version
//! ordering ([`super::debversion`]). RPM-based hosts are not yet supported.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::ProbeError;
use crate::model::{Check, CheckMeta, Finding, Observation, Severity, Status};
use crate::reason::ReasonCode;

/// The observation source of this check.
pub const SOURCE: &str = "host.apt_updates";

/// The resource id of the findings.
pub const RESOURCE: &str = "apt";

/// At most this many pending updates are listed in an observation; the count is always exact.
pub const MAX_PENDING_LISTED: usize = 200;

/// What the host collector saw of installed packages and security indexes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AptUpdatesObservation {
    /// Whether the dpkg database (`/var/lib/dpkg/status`) exists.
    pub dpkg_present: bool,
    /// Whether an RPM database (`/var/lib/rpm`) exists (not yet supported).
    pub rpm_present: bool,
    /// Set when the installed packages or the indexes could not be read.
    pub error: Option<ProbeError>,
    /// Security indexes older than this many days are stale (from the settings).
    pub max_index_age_days: u32,
    /// Number of installed packages.
    pub installed_packages: u32,
    /// The security archive indexes read.
    pub security_indexes: Vec<AptIndexFile>,
    /// Security archive indexes that could not be read (unsupported compression, I/O error).
    pub skipped_indexes: Vec<SkippedIndexFile>,
    /// Number of installed packages with a newer version in a security index.
    pub pending_count: u32,
    /// The first [`MAX_PENDING_LISTED`] of them, sorted by package name.
    pub pending: Vec<PendingUpdate>,
}

/// One security index file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AptIndexFile {
    /// File name in `/var/lib/apt/lists`.
    pub file: String,
    /// When apt last refreshed it: the newer of the modification times of the
    /// index and of its archive's `InRelease`/`Release` file.
    #[serde(with = "chrono::serde::ts_seconds")]
    pub refreshed_at: DateTime<Utc>,
    /// Number of package entries in it.
    pub packages: u32,
}

/// A security index that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkippedIndexFile {
    /// File name in `/var/lib/apt/lists`.
    pub file: String,
    /// Why.
    pub reason: String,
}

/// An installed package with a newer version in a security index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingUpdate {
    /// Package name.
    pub package: String,
    /// Architecture of the installed package.
    pub architecture: String,
    /// Installed version.
    pub installed: String,
    /// Newest version in the security indexes.
    pub candidate: String,
}

/// Metadata of [`SECURITY_UPDATES_APPLIED`].
pub const SECURITY_UPDATES_APPLIED_META: CheckMeta = CheckMeta {
    id: "host_apt_security_updates_applied",
    title: "No security update is pending for installed Debian packages",
    severity: Severity::High,
    controls: &["A.8.8"],
    source: SOURCE,
    rationale: "Security archives publish fixes for known vulnerabilities; an installed \
                package older than its security update stays exposed to them.",
    remediation: "Run `apt-get update && apt-get upgrade` (or enable unattended-upgrades for \
                  the security archive), then restart the affected services.",
    max_age_days: 1,
};

/// Every installed package is at least at the newest version in the fresh
/// security indexes.
pub const SECURITY_UPDATES_APPLIED: Check = Check {
    meta: SECURITY_UPDATES_APPLIED_META,
    evaluate: evaluate_updates,
};

fn finding(status: Status, code: ReasonCode, reason: String) -> Vec<Finding> {
    vec![Finding::new(
        &SECURITY_UPDATES_APPLIED_META,
        RESOURCE,
        status,
        code,
        reason,
    )]
}

fn evaluate_updates(obs: &Observation) -> Vec<Finding> {
    let meta = &SECURITY_UPDATES_APPLIED_META;
    let data: AptUpdatesObservation = match obs.payload() {
        Ok(d) => d,
        Err(e) => return vec![Finding::malformed(meta, obs, &e)],
    };
    if !data.dpkg_present {
        let rpm = if data.rpm_present {
            "; an RPM database exists, but RPM-based systems are not yet supported"
        } else {
            ""
        };
        return finding(
            Status::NotApplicable,
            ReasonCode::ComponentAbsent,
            format!("not a Debian-family system (no /var/lib/dpkg/status){rpm}"),
        );
    }
    if let Some(err) = &data.error {
        return finding(Status::Error, err.kind.reason_code(), err.message.clone());
    }
    if let Some(s) = data.skipped_indexes.first() {
        return finding(
            Status::Error,
            ReasonCode::Unreadable,
            format!(
                "{} security index file(s) could not be read, first {}: {}",
                data.skipped_indexes.len(),
                s.file,
                s.reason
            ),
        );
    }
    let Some(oldest) = data.security_indexes.iter().min_by_key(|i| i.refreshed_at) else {
        return finding(
            Status::Error,
            ReasonCode::UpdatesIndexMissing,
            "no package index from a security archive in /var/lib/apt/lists: add the \
             security archive to the APT sources and run apt-get update"
                .to_string(),
        );
    };
    let max_age = Duration::days(i64::from(data.max_index_age_days));
    if obs.collected_at - oldest.refreshed_at > max_age {
        let age = (obs.collected_at - oldest.refreshed_at).num_days();
        return finding(
            Status::Error,
            ReasonCode::UpdatesIndexStale,
            format!(
                "security index {} was refreshed {age} days ago (limit {} days): run apt-get update",
                oldest.file, data.max_index_age_days
            ),
        );
    }
    if data.pending_count > 0 {
        let shown: Vec<String> = data
            .pending
            .iter()
            .take(10)
            .map(|p| format!("{} {} -> {}", p.package, p.installed, p.candidate))
            .collect();
        let more = (data.pending_count as usize).saturating_sub(shown.len());
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        return finding(
            Status::Fail,
            ReasonCode::UpdatesSecurityPending,
            format!(
                "{} security update(s) pending: {}{more}",
                data.pending_count,
                shown.join(", ")
            ),
        );
    }
    finding(
        Status::Pass,
        ReasonCode::UpdatesNoneSecurityPending,
        format!(
            "{} installed packages are at least at the versions of {} security index(es)",
            data.installed_packages,
            data.security_indexes.len()
        ),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::host::ProbeErrorKind;
    use crate::model::{Target, TargetKind};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000, 0).unwrap()
    }

    fn obs(data: &AptUpdatesObservation) -> Observation {
        Observation::new(
            SOURCE,
            Target {
                kind: TargetKind::Host,
                id: "h".into(),
            },
            now(),
            data,
        )
    }

    fn data() -> AptUpdatesObservation {
        AptUpdatesObservation {
            dpkg_present: true,
            rpm_present: false,
            error: None,
            max_index_age_days: 7,
            installed_packages: 3,
            security_indexes: vec![AptIndexFile {
                file: "x_dists_bookworm-security_main_binary-amd64_Packages".into(),
                refreshed_at: now() - Duration::days(1),
                packages: 10,
            }],
            skipped_indexes: vec![],
            pending_count: 0,
            pending: vec![],
        }
    }

    fn one(d: &AptUpdatesObservation) -> Finding {
        let f = (SECURITY_UPDATES_APPLIED.evaluate)(&obs(d));
        assert_eq!(f.len(), 1);
        f.into_iter().next().unwrap()
    }

    #[test]
    fn statuses() {
        let f = one(&data());
        assert_eq!(
            (f.status, f.reason_code),
            (Status::Pass, ReasonCode::UpdatesNoneSecurityPending)
        );

        let mut d = data();
        d.pending_count = 12;
        d.pending = vec![PendingUpdate {
            package: "openssl".into(),
            architecture: "amd64".into(),
            installed: "3.0.11-1~deb12u1".into(),
            candidate: "3.0.15-1~deb12u1".into(),
        }];
        let f = one(&d);
        assert_eq!(
            (f.status, f.reason_code),
            (Status::Fail, ReasonCode::UpdatesSecurityPending)
        );
        assert!(
            f.reason
                .contains("openssl 3.0.11-1~deb12u1 -> 3.0.15-1~deb12u1"),
            "{}",
            f.reason
        );
        assert!(f.reason.contains("11 more"), "{}", f.reason);

        let mut d = data();
        d.security_indexes[0].refreshed_at = now() - Duration::days(8);
        let f = one(&d);
        assert_eq!(
            (f.status, f.reason_code),
            (Status::Error, ReasonCode::UpdatesIndexStale)
        );

        let mut d = data();
        d.security_indexes.clear();
        let f = one(&d);
        assert_eq!(
            (f.status, f.reason_code),
            (Status::Error, ReasonCode::UpdatesIndexMissing)
        );

        let mut d = data();
        d.skipped_indexes.push(SkippedIndexFile {
            file: "x_Packages.xz".into(),
            reason: "xz compression is not supported".into(),
        });
        assert_eq!(one(&d).status, Status::Error);

        let mut d = data();
        d.error = Some(ProbeError::new(ProbeErrorKind::PermissionDenied, "denied"));
        assert_eq!(one(&d).reason_code, ReasonCode::PermissionDenied);

        let mut d = data();
        d.dpkg_present = false;
        d.rpm_present = true;
        let f = one(&d);
        assert_eq!(
            (f.status, f.reason_code),
            (Status::NotApplicable, ReasonCode::ComponentAbsent)
        );
        assert!(f.reason.contains("RPM"), "{}", f.reason);

        let mut o = obs(&data());
        o.data = serde_json::json!([]);
        let f = (SECURITY_UPDATES_APPLIED.evaluate)(&o);
        assert_eq!(f[0].reason_code, ReasonCode::ObservationMalformed);
    }
}
