//! Tests of the host collector on fake roots, and one on the real machine.

use std::io::Write;
use std::path::Path;
use std::time::{Duration as StdDuration, SystemTime};

use chrono::Utc;
use evident_policies::host::{AptUpdatesObservation, SshdObservation, TimeSyncObservation};
use evident_policies::{Finding, ReasonCode, Status};

use super::*;

/// Fake system probes.
struct Fake {
    synced: Option<bool>,
    kernel_error: Option<ProbeError>,
    processes: Result<Vec<ProcessEntry>, ProbeError>,
}

impl SystemProbes for Fake {
    fn kernel_clock(&self) -> KernelClockReading {
        KernelClockReading {
            method: Some("fake".into()),
            synchronized: self.synced,
            max_error_us: Some(42),
            error: self.kernel_error.clone(),
        }
    }
    fn processes(&self) -> Result<Vec<ProcessEntry>, ProbeError> {
        self.processes.clone()
    }
    fn host_name(&self) -> Option<String> {
        Some("fake-host".into())
    }
}

fn fake() -> Fake {
    Fake {
        synced: Some(true),
        kernel_error: None,
        processes: Ok(vec![ProcessEntry {
            pid: 1,
            name: "init".into(),
            exe_name: None,
        }]),
    }
}

fn collector(root: &Path, probes: Fake) -> HostCollector {
    let settings = HostSettings {
        root: root.to_path_buf(),
        ..HostSettings::default()
    };
    HostCollector::with_probes(&settings, Box::new(probes))
}

fn observation(root: &Path, source: &str) -> Observation {
    collector(root, fake())
        .collect(Utc::now())
        .into_iter()
        .find(|o| o.source == source)
        .unwrap()
}

fn findings(obs: &Observation, check_id: &str) -> Vec<Finding> {
    evident_policies::evaluate(obs)
        .into_iter()
        .filter(|f| f.check_id == check_id)
        .collect()
}

fn one(obs: &Observation, check_id: &str) -> Finding {
    let f = findings(obs, check_id);
    assert_eq!(f.len(), 1, "{f:?}");
    f.into_iter().next().unwrap()
}

fn write(root: &Path, path: &str, text: &str) {
    let p = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

// --- sshd ------------------------------------------------------------------

const PASSWORD: &str = "host_sshd_password_auth_disabled";
const ROOT_LOGIN: &str = "host_sshd_root_login_restricted";
const EMPTY: &str = "host_sshd_empty_passwords_refused";

fn sshd_root(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "/usr/sbin/sshd", "");
    write(dir.path(), "/etc/ssh/sshd_config", config);
    dir
}

fn sshd(root: &Path) -> Observation {
    observation(root, "host.sshd")
}

#[test]
fn sshd_absent_is_not_applicable() {
    let dir = tempfile::tempdir().unwrap();
    let obs = sshd(dir.path());
    for id in [PASSWORD, ROOT_LOGIN, EMPTY] {
        let f = one(&obs, id);
        assert_eq!(f.status, Status::NotApplicable, "{id}");
        assert_eq!(f.reason_code, ReasonCode::ComponentAbsent);
    }
}

#[test]
fn sshd_hardened_config_passes() {
    let dir = sshd_root(
        "# comment\nUsePAM yes\nPASSWORDAUTHENTICATION=no\nKbdInteractiveAuthentication No\n\
         PermitRootLogin prohibit-password\nPermitEmptyPasswords no\n",
    );
    let obs = sshd(dir.path());
    for id in [PASSWORD, ROOT_LOGIN, EMPTY] {
        assert_eq!(
            one(&obs, id).status,
            Status::Pass,
            "{id}: {:?}",
            one(&obs, id)
        );
    }
    let data: SshdObservation = obs.payload().unwrap();
    let pw = data.global("passwordauthentication").unwrap();
    assert_eq!((pw.file.as_str(), pw.line), ("/etc/ssh/sshd_config", 3));
}

#[test]
fn sshd_password_yes_fails_and_defaults_apply() {
    let dir =
        sshd_root("PasswordAuthentication yes\nPermitRootLogin yes\nPermitEmptyPasswords yes\n");
    let obs = sshd(dir.path());
    assert_eq!(
        one(&obs, PASSWORD).reason_code,
        ReasonCode::SshPasswordAuthEnabled
    );
    assert_eq!(
        one(&obs, ROOT_LOGIN).reason_code,
        ReasonCode::SshRootLoginPermitted
    );
    assert_eq!(
        one(&obs, EMPTY).reason_code,
        ReasonCode::SshEmptyPasswordsPermitted
    );
    for id in [PASSWORD, ROOT_LOGIN, EMPTY] {
        assert_eq!(one(&obs, id).status, Status::Fail);
    }

    // An empty config: OpenSSH defaults (passwords accepted).
    let dir = sshd_root("");
    let f = one(&sshd(dir.path()), PASSWORD);
    assert_eq!(f.status, Status::Fail);
    assert!(f.reason.contains("default"), "{}", f.reason);
}

#[test]
fn sshd_include_first_value_wins() {
    // Debian layout: drop-ins are included first, so they win over the main file.
    let dir = sshd_root(
        "Include sshd_config.d/*.conf\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\n",
    );
    write(
        dir.path(),
        "/etc/ssh/sshd_config.d/10-hardening.conf",
        "PasswordAuthentication no\n",
    );
    write(
        dir.path(),
        "/etc/ssh/sshd_config.d/20-later.conf",
        "PasswordAuthentication yes\n",
    );
    write(
        dir.path(),
        "/etc/ssh/sshd_config.d/README",
        "PasswordAuthentication yes\n",
    );
    let obs = sshd(dir.path());
    let f = one(&obs, PASSWORD);
    assert_eq!(f.status, Status::Pass, "{}", f.reason);
    assert!(f.reason.contains("10-hardening.conf:1"), "{}", f.reason);
    let data: SshdObservation = obs.payload().unwrap();
    assert_eq!(
        data.files_read,
        vec![
            "/etc/ssh/sshd_config",
            "/etc/ssh/sshd_config.d/10-hardening.conf",
            "/etc/ssh/sshd_config.d/20-later.conf"
        ]
    );

    // The reverse: an included file enables passwords before the main file disables them.
    let dir = sshd_root("Include /etc/ssh/sshd_config.d/*.conf\nPasswordAuthentication no\n");
    write(
        dir.path(),
        "/etc/ssh/sshd_config.d/50-cloud-init.conf",
        "PasswordAuthentication yes\n",
    );
    let f = one(&sshd(dir.path()), PASSWORD);
    assert_eq!(f.status, Status::Fail);
    assert!(f.reason.contains("50-cloud-init.conf:1"), "{}", f.reason);

    // An Include matching nothing is ignored, as sshd does.
    let dir = sshd_root(
        "Include nothing/*.conf\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n",
    );
    assert_eq!(one(&sshd(dir.path()), PASSWORD).status, Status::Pass);
}

#[test]
fn sshd_match_blocks() {
    let dir = sshd_root(
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
         Match User backup\n  PasswordAuthentication yes\n  PermitRootLogin yes\n\
         Match all\n  PermitEmptyPasswords no\n",
    );
    let obs = sshd(dir.path());
    let f = one(&obs, PASSWORD);
    assert_eq!(f.status, Status::Fail);
    assert!(f.reason.contains("Match User backup"), "{}", f.reason);
    assert_eq!(one(&obs, ROOT_LOGIN).status, Status::Fail);
    assert_eq!(one(&obs, EMPTY).status, Status::Pass);
    let data: SshdObservation = obs.payload().unwrap();
    assert_eq!(data.match_settings.len(), 3);
    // Global values are not taken from Match blocks.
    assert!(data.global("permitrootlogin").is_none());

    // A Match block in an included file ends with that file.
    let dir =
        sshd_root("Include sshd_config.d/*.conf\nPermitRootLogin yes\nPasswordAuthentication no\n");
    write(
        dir.path(),
        "/etc/ssh/sshd_config.d/match.conf",
        "Match Group admins\nPermitRootLogin no\n",
    );
    let obs = sshd(dir.path());
    let f = one(&obs, ROOT_LOGIN);
    assert_eq!(f.status, Status::Fail, "{}", f.reason);
    assert!(f.reason.contains("sshd_config:2"), "{}", f.reason);
}

#[test]
fn sshd_unreadable_config_is_error() {
    // A directory where the file is expected: unreadable even for root.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("etc/ssh/sshd_config")).unwrap();
    let obs = sshd(dir.path());
    for id in [PASSWORD, ROOT_LOGIN, EMPTY] {
        let f = one(&obs, id);
        assert_eq!(
            (f.status, f.reason_code),
            (Status::Error, ReasonCode::Unreadable),
            "{id}"
        );
    }

    // An unreadable included file makes the whole configuration unknown.
    let dir = sshd_root("Include sshd_config.d/*.conf\nPasswordAuthentication no\n");
    std::fs::create_dir_all(dir.path().join("etc/ssh/sshd_config.d/broken.conf")).unwrap();
    let f = one(&sshd(dir.path()), PASSWORD);
    assert_eq!(f.status, Status::Error);
    assert!(
        f.reason.contains("/etc/ssh/sshd_config.d/broken.conf"),
        "{}",
        f.reason
    );

    // Installed without a configuration: sshd would not start; unknown.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "/usr/sbin/sshd", "");
    assert_eq!(one(&sshd(dir.path()), PASSWORD).status, Status::Error);

    // Permission denied: chmod 000 only denies a non-root user. As root the
    // mapping is checked directly instead.
    let dir = sshd_root("PasswordAuthentication no\n");
    if is_root() {
        let e = fs::io_error(
            &std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            "/etc/ssh/sshd_config",
        );
        assert_eq!(e.kind, ProbeErrorKind::PermissionDenied);
        assert_eq!(e.message, "requires root to read /etc/ssh/sshd_config");
    } else {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.path().join("etc/ssh/sshd_config");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
        let f = one(&sshd(dir.path()), PASSWORD);
        assert_eq!(
            (f.status, f.reason_code),
            (Status::Error, ReasonCode::PermissionDenied)
        );
        assert!(f
            .reason
            .contains("requires root to read /etc/ssh/sshd_config"));
    }
}

// --- time sync -------------------------------------------------------------

const CLOCK: &str = "host_clock_synchronized";

fn clock(probes: Fake) -> Vec<Finding> {
    let dir = tempfile::tempdir().unwrap();
    let obs = collector(dir.path(), probes)
        .collect(Utc::now())
        .into_iter()
        .find(|o| o.source == "host.time_sync")
        .unwrap();
    let _: TimeSyncObservation = obs.payload().unwrap();
    findings(&obs, CLOCK)
}

fn codes(f: &[Finding]) -> Vec<(Status, ReasonCode)> {
    f.iter().map(|f| (f.status, f.reason_code)).collect()
}

#[test]
fn clock_synced_with_daemon_passes() {
    let mut p = fake();
    p.processes = Ok(vec![ProcessEntry {
        pid: 321,
        name: "systemd-timesyn".into(),
        exe_name: None,
    }]);
    let f = clock(p);
    assert_eq!(
        codes(&f),
        vec![
            (Status::Pass, ReasonCode::TimeSynchronized),
            (Status::Pass, ReasonCode::TimeDaemonRunning)
        ]
    );
    assert!(
        f[1].reason.contains("systemd-timesyncd (pid 321)"),
        "{}",
        f[1].reason
    );
}

#[test]
fn clock_unsynced_without_daemon_fails() {
    let mut p = fake();
    p.synced = Some(false);
    assert_eq!(
        codes(&clock(p)),
        vec![
            (Status::Fail, ReasonCode::TimeNotSynchronized),
            (Status::Fail, ReasonCode::TimeDaemonNotRunning)
        ]
    );
}

#[test]
fn clock_unreadable_is_error() {
    let mut p = fake();
    p.synced = None;
    p.kernel_error = Some(ProbeError::new(
        ProbeErrorKind::PermissionDenied,
        "adjtimex: Operation not permitted",
    ));
    p.processes = Err(ProbeError::new(ProbeErrorKind::Unreadable, "no /proc"));
    assert_eq!(
        codes(&clock(p)),
        vec![
            (Status::Error, ReasonCode::PermissionDenied),
            (Status::Error, ReasonCode::Unreadable)
        ]
    );
}

// --- apt -------------------------------------------------------------------

const UPDATES: &str = "host_apt_security_updates_applied";
const SEC: &str = "deb.debian.org_debian-security_dists_bookworm-security";

const STATUS: &str = "Package: openssl\nStatus: install ok installed\nPriority: optional\n\
Architecture: amd64\nVersion: 3.0.11-1~deb12u1\nDescription: toolkit\n multi-line\n\n\
Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u10\n\n\
Package: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2024a-0+deb12u1\n\n\
Package: removed\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1.0-1\n";

fn packages(entries: &[(&str, &str, &str)]) -> String {
    entries
        .iter()
        .map(|(p, a, v)| format!("Package: {p}\nArchitecture: {a}\nVersion: {v}\nDescription: d\n"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn apt_root(index: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "/var/lib/dpkg/status", STATUS);
    std::fs::create_dir_all(dir.path().join("var/lib/apt/lists/partial")).unwrap();
    write(
        dir.path(),
        &format!("/var/lib/apt/lists/{SEC}_InRelease"),
        "signed",
    );
    // A non-security index with a newer version must not count.
    write(
        dir.path(),
        "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages",
        &packages(&[("libc6", "amd64", "9.99-1")]),
    );
    if let Some(text) = index {
        write(
            dir.path(),
            &format!("/var/lib/apt/lists/{SEC}_main_binary-amd64_Packages"),
            text,
        );
    }
    dir
}

fn apt(root: &Path) -> Observation {
    observation(root, "host.apt_updates")
}

#[test]
fn apt_newer_security_version_fails() {
    let dir = apt_root(Some(&packages(&[
        ("openssl", "amd64", "3.0.15-1~deb12u1"),
        ("openssl", "amd64", "3.0.13-1~deb12u1"),
        ("libc6", "amd64", "2.36-9+deb12u10"),
        ("libc6", "i386", "2.36-9+deb12u99"),
        ("tzdata", "all", "2024a-0+deb12u1"),
        ("notinstalled", "amd64", "5.0"),
    ])));
    let obs = apt(dir.path());
    let f = one(&obs, UPDATES);
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Fail, ReasonCode::UpdatesSecurityPending),
        "{}",
        f.reason
    );
    let data: AptUpdatesObservation = obs.payload().unwrap();
    assert_eq!(data.installed_packages, 3);
    assert_eq!(data.pending_count, 1);
    assert_eq!(data.pending[0].package, "openssl");
    assert_eq!(data.pending[0].installed, "3.0.11-1~deb12u1");
    assert_eq!(data.pending[0].candidate, "3.0.15-1~deb12u1");
    assert_eq!(data.security_indexes.len(), 1);
    assert_eq!(data.security_indexes[0].packages, 6);
}

#[test]
fn apt_equal_versions_pass() {
    let dir = apt_root(Some(&packages(&[
        ("openssl", "amd64", "3.0.11-1~deb12u1"),
        ("libc6", "amd64", "2.36-9+deb12u7"),
    ])));
    let f = one(&apt(dir.path()), UPDATES);
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Pass, ReasonCode::UpdatesNoneSecurityPending),
        "{}",
        f.reason
    );
}

#[test]
fn apt_compressed_indexes_are_read() {
    let text = packages(&[("openssl", "amd64", "3.0.15-1~deb12u1")]);
    let dir = apt_root(None);
    let lists = dir.path().join("var/lib/apt/lists");

    let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
    enc.write_all(text.as_bytes()).unwrap();
    let lz4 = enc.finish().unwrap();
    std::fs::write(
        lists.join(format!("{SEC}_main_binary-amd64_Packages.lz4")),
        lz4,
    )
    .unwrap();

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(packages(&[("libc6", "amd64", "2.36-9+deb12u11")]).as_bytes())
        .unwrap();
    std::fs::write(
        lists.join(format!("{SEC}_non-free-firmware_binary-amd64_Packages.gz")),
        gz.finish().unwrap(),
    )
    .unwrap();

    let obs = apt(dir.path());
    assert_eq!(one(&obs, UPDATES).status, Status::Fail);
    let data: AptUpdatesObservation = obs.payload().unwrap();
    assert_eq!(data.pending_count, 2, "{data:?}");

    // An index in a compression this build cannot read: error, never pass.
    std::fs::write(
        lists.join(format!("{SEC}_contrib_binary-amd64_Packages.xz")),
        b"xz",
    )
    .unwrap();
    let f = one(&apt(dir.path()), UPDATES);
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Error, ReasonCode::Unreadable)
    );
    assert!(f.reason.contains("xz"), "{}", f.reason);
}

#[test]
fn apt_missing_index_is_error() {
    let dir = apt_root(None);
    let f = one(&apt(dir.path()), UPDATES);
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Error, ReasonCode::UpdatesIndexMissing)
    );
    assert!(f.reason.contains("apt-get update"));

    // No lists directory at all.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "/var/lib/dpkg/status", STATUS);
    assert_eq!(
        one(&apt(dir.path()), UPDATES).reason_code,
        ReasonCode::UpdatesIndexMissing
    );
}

#[test]
fn apt_stale_index_is_error() {
    let dir = apt_root(Some(&packages(&[("openssl", "amd64", "3.0.11-1~deb12u1")])));
    let old = SystemTime::now() - StdDuration::from_secs(10 * 86_400);
    for name in [
        format!("{SEC}_main_binary-amd64_Packages"),
        format!("{SEC}_InRelease"),
    ] {
        let f = std::fs::File::options()
            .write(true)
            .open(dir.path().join("var/lib/apt/lists").join(name))
            .unwrap();
        f.set_modified(old).unwrap();
    }
    let f = one(&apt(dir.path()), UPDATES);
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Error, ReasonCode::UpdatesIndexStale),
        "{}",
        f.reason
    );

    // A larger allowance accepts it.
    let settings = HostSettings {
        root: dir.path().to_path_buf(),
        apt_index_max_age_days: 30,
    };
    let obs = HostCollector::with_probes(&settings, Box::new(fake()))
        .collect(Utc::now())
        .into_iter()
        .find(|o| o.source == "host.apt_updates")
        .unwrap();
    assert_eq!(one(&obs, UPDATES).status, Status::Pass);
}

#[test]
fn apt_not_debian_is_not_applicable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("var/lib/rpm")).unwrap();
    let f = one(&apt(dir.path()), UPDATES);
    assert_eq!(
        (f.status, f.reason_code),
        (Status::NotApplicable, ReasonCode::ComponentAbsent)
    );
    assert!(f.reason.contains("RPM"), "{}", f.reason);
}

#[test]
fn apt_unreadable_status_is_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("var/lib/dpkg/status")).unwrap();
    let f = one(&apt(dir.path()), UPDATES);
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Error, ReasonCode::Unreadable)
    );
}

// --- collector as a whole --------------------------------------------------

#[test]
fn settings_defaults_and_unknown_fields() {
    let s: HostSettings = serde_json::from_str("{}").unwrap();
    assert_eq!(s, HostSettings::default());
    assert_eq!(s.root, PathBuf::from("/"));
    assert_eq!(s.apt_index_max_age_days, 7);
    assert!(serde_json::from_str::<HostSettings>(r#"{"rot": "/"}"#).is_err());
}

#[test]
fn target_is_the_host_name() {
    let dir = tempfile::tempdir().unwrap();
    let obs = collector(dir.path(), fake()).collect(Utc::now());
    assert!(obs
        .iter()
        .all(|o| o.target.id == "fake-host" && o.target.kind == TargetKind::Host));
    write(dir.path(), "/etc/hostname", "web-01\n");
    let obs = collector(dir.path(), fake()).collect(Utc::now());
    assert!(obs.iter().all(|o| o.target.id == "web-01"));
}

/// Runs the collector on the machine the tests run on: every observation is
/// well formed and every check decides something with a reason.
#[test]
fn real_machine() {
    let collector = HostCollector::new(&HostSettings::default());
    let now = Utc::now();
    let observations = collector.collect(now);
    let sources: Vec<&str> = observations.iter().map(|o| o.source.as_str()).collect();
    assert_eq!(sources, HostCollector::sources());
    for obs in &observations {
        assert_eq!(obs.target.kind, TargetKind::Host);
        assert!(!obs.target.id.is_empty());
        assert_eq!(obs.collected_at, now);
        match obs.source.as_str() {
            "host.sshd" => drop(obs.payload::<SshdObservation>().unwrap()),
            "host.time_sync" => drop(obs.payload::<TimeSyncObservation>().unwrap()),
            "host.apt_updates" => drop(obs.payload::<AptUpdatesObservation>().unwrap()),
            other => panic!("unexpected source {other}"),
        }
        let bytes = obs.to_canonical();
        assert!(!bytes.is_empty());
    }
    for check in evident_policies::checks() {
        if !HostCollector::sources().contains(&check.meta.source) {
            continue;
        }
        let obs = observations
            .iter()
            .find(|o| o.source == check.meta.source)
            .unwrap();
        let found = (check.evaluate)(obs);
        assert!(!found.is_empty(), "{} returned nothing", check.meta.id);
        for f in found {
            assert!(
                !f.reason.trim().is_empty(),
                "{} has no reason",
                check.meta.id
            );
            assert_ne!(f.reason_code, ReasonCode::ObservationMalformed, "{f:?}");
            eprintln!(
                "{} [{}] {} {}: {}",
                f.check_id, f.resource_id, f.status, f.reason_code, f.reason
            );
        }
    }
}
