//! Tests of the host collector on fake roots, and one on the real machine.

use std::io::Write;
use std::path::Path;
use std::time::{Duration as StdDuration, SystemTime};

use chrono::Utc;
use evident_policies::host::{
    AptUpdatesObservation, Encryption, FilesystemsObservation, FirewallObservation,
    LoggingObservation, MalwareObservation, SshdObservation, TimeSyncObservation,
};
use evident_policies::{Finding, ReasonCode, Status};

use super::*;

/// Fake system probes.
#[derive(Clone)]
struct Fake {
    synced: Option<bool>,
    kernel_error: Option<ProbeError>,
    processes: Result<Vec<ProcessEntry>, ProbeError>,
    /// Outputs of `program args...`; any other command is not installed.
    commands: Vec<(String, Result<String, CommandError>)>,
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
    fn run(&self, program: &str, args: &[&str]) -> Result<String, CommandError> {
        let line = std::iter::once(program)
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        self.commands
            .iter()
            .find(|(c, _)| *c == line)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| {
                Err(CommandError::new(
                    CommandErrorKind::NotInstalled,
                    "not installed",
                ))
            })
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
        commands: Vec::new(),
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
        ..HostSettings::default()
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

// --- logging ---------------------------------------------------------------

const JOURNAL: &str = "host_journald_storage_persistent";
const LOG_DAEMON: &str = "host_logging_daemon_running";
const AUDIT: &str = "host_auditd_rules_present";

fn procs(names: &[&str]) -> Fake {
    let mut p = fake();
    p.processes = Ok(names
        .iter()
        .enumerate()
        .map(|(i, n)| ProcessEntry {
            pid: 100 + u32::try_from(i).unwrap(),
            name: (*n).into(),
            exe_name: None,
        })
        .collect());
    p
}

fn observe_with(root: &Path, probes: Fake, source: &str) -> Observation {
    collector(root, probes)
        .collect(Utc::now())
        .into_iter()
        .find(|o| o.source == source)
        .unwrap()
}

fn logging(root: &Path, probes: Fake) -> Observation {
    let obs = observe_with(root, probes, "host.logging");
    let _: LoggingObservation = obs.payload().unwrap();
    obs
}

fn status(obs: &Observation, id: &str) -> (Status, ReasonCode) {
    let f = one(obs, id);
    (f.status, f.reason_code)
}

fn journald_root(main: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "/lib/systemd/systemd-journald", "");
    write(dir.path(), "/etc/systemd/journald.conf", main);
    dir
}

#[test]
fn logging_persistent_journal_daemon_and_rules_pass() {
    let dir = journald_root("[Journal]\n#Storage=auto\n");
    std::fs::create_dir_all(dir.path().join("var/log/journal")).unwrap();
    write(dir.path(), "/sbin/auditd", "");
    write(
        dir.path(),
        "/etc/audit/rules.d/50-identity.rules",
        "-D\n-w /etc/passwd -p wa -k identity\n-a always,exit -F arch=b64 -S execve\n",
    );
    write(dir.path(), "/etc/audit/rules.d/README", "-w /etc/shadow\n");
    let obs = logging(
        dir.path(),
        procs(&["systemd-journal", "rsyslogd", "auditd"]),
    );
    assert_eq!(
        status(&obs, JOURNAL),
        (Status::Pass, ReasonCode::JournalPersistent)
    );
    let f = one(&obs, LOG_DAEMON);
    assert_eq!(f.status, Status::Pass);
    assert!(
        f.reason.contains("rsyslogd (pid 101), auditd (pid 102)"),
        "{}",
        f.reason
    );
    let f = one(&obs, AUDIT);
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Pass, ReasonCode::AuditRulesPresent)
    );
    assert!(
        f.reason.contains("50-identity.rules (2 rules)"),
        "{}",
        f.reason
    );

    // journald alone counts when its journal is persistent.
    let obs = logging(dir.path(), procs(&["systemd-journal"]));
    let f = one(&obs, LOG_DAEMON);
    assert_eq!(f.status, Status::Pass, "{}", f.reason);
    assert!(
        f.reason.contains("systemd-journald (pid 100)"),
        "{}",
        f.reason
    );
}

#[test]
fn logging_dropins_override_and_volatile_fails() {
    let dir = journald_root("[Journal]\nStorage=persistent\n");
    write(
        dir.path(),
        "/etc/systemd/journald.conf.d/10-site.conf",
        "[Journal]\nStorage=persistent\n",
    );
    // Hidden by the /etc file of the same name.
    write(
        dir.path(),
        "/usr/lib/systemd/journald.conf.d/10-site.conf",
        "[Journal]\nStorage=none\n",
    );
    write(
        dir.path(),
        "/usr/lib/systemd/journald.conf.d/60-vendor.conf",
        "# vendor\n[Journal]\nStorage=volatile\n",
    );
    // Not in the [Journal] section, and not a .conf file: ignored.
    write(
        dir.path(),
        "/etc/systemd/journald.conf.d/70-other.conf",
        "[Other]\nStorage=persistent\n",
    );
    write(
        dir.path(),
        "/etc/systemd/journald.conf.d/99.conf.disabled",
        "[Journal]\nStorage=persistent\n",
    );
    let obs = logging(dir.path(), procs(&["systemd-journal"]));
    let f = one(&obs, JOURNAL);
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Fail, ReasonCode::JournalNotPersistent)
    );
    assert!(
        f.reason
            .contains("/usr/lib/systemd/journald.conf.d/60-vendor.conf:3"),
        "{}",
        f.reason
    );
    assert_eq!(
        status(&obs, LOG_DAEMON),
        (Status::Fail, ReasonCode::LogDaemonNotRunning)
    );
    let data: LoggingObservation = obs.payload().unwrap();
    assert_eq!(
        data.journald.files_read,
        vec![
            "/etc/systemd/journald.conf",
            "/etc/systemd/journald.conf.d/10-site.conf",
            "/usr/lib/systemd/journald.conf.d/60-vendor.conf",
            "/etc/systemd/journald.conf.d/70-other.conf",
        ]
    );

    // auto without /var/log/journal is volatile too.
    let dir = journald_root("[Journal]\n");
    assert_eq!(
        status(&logging(dir.path(), fake()), JOURNAL),
        (Status::Fail, ReasonCode::JournalNotPersistent)
    );
}

#[test]
fn logging_absent_components() {
    let dir = tempfile::tempdir().unwrap();
    let obs = logging(dir.path(), fake());
    assert_eq!(
        status(&obs, JOURNAL),
        (Status::NotApplicable, ReasonCode::ComponentAbsent)
    );
    assert_eq!(
        status(&obs, LOG_DAEMON),
        (Status::Fail, ReasonCode::LogDaemonNotRunning)
    );
    assert_eq!(
        status(&obs, AUDIT),
        (Status::NotApplicable, ReasonCode::ComponentAbsent)
    );

    // auditd installed without any rule.
    write(
        dir.path(),
        "/etc/audit/auditd.conf",
        "log_file = /var/log/audit/audit.log\n",
    );
    write(dir.path(), "/etc/audit/audit.rules", "-D\n-b 8192\n");
    let f = one(&logging(dir.path(), fake()), AUDIT);
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Fail, ReasonCode::AuditRulesAbsent)
    );
    assert!(f.reason.contains("/etc/audit/audit.rules"), "{}", f.reason);
}

#[test]
fn logging_unreadable_is_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("etc/systemd/journald.conf")).unwrap();
    write(dir.path(), "/usr/sbin/auditd", "");
    std::fs::create_dir_all(dir.path().join("etc/audit/rules.d/broken.rules")).unwrap();
    let mut p = fake();
    p.processes = Err(ProbeError::new(ProbeErrorKind::Unreadable, "no /proc"));
    let obs = logging(dir.path(), p);
    assert_eq!(
        status(&obs, JOURNAL),
        (Status::Error, ReasonCode::Unreadable)
    );
    assert_eq!(
        status(&obs, LOG_DAEMON),
        (Status::Error, ReasonCode::Unreadable)
    );
    let f = one(&obs, AUDIT);
    assert_eq!(f.status, Status::Error);
    assert!(f.reason.contains("broken.rules"), "{}", f.reason);
}

// --- disk encryption ---------------------------------------------------------

const ENCRYPTED: &str = "host_filesystems_encrypted";

fn symlink(root: &Path, link: &str, target: &str) {
    let p = root.join(link.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, p).unwrap();
}

/// A block device in the fake sysfs: `/sys/devices/virtual/block/<name>`
/// with `/sys/class/block/<name>` linking to it.
fn block(root: &Path, name: &str, dm: Option<(&str, &str)>, slaves: &[&str]) {
    let dev = format!("/sys/devices/virtual/block/{name}");
    std::fs::create_dir_all(root.join(dev.trim_start_matches('/')).join("slaves")).unwrap();
    if let Some((uuid, dm_name)) = dm {
        write(root, &format!("{dev}/dm/uuid"), &format!("{uuid}\n"));
        write(root, &format!("{dev}/dm/name"), &format!("{dm_name}\n"));
    }
    for s in slaves {
        write(root, &format!("{dev}/slaves/{s}"), "");
    }
    symlink(
        root,
        &format!("/sys/class/block/{name}"),
        &format!("../../devices/virtual/block/{name}"),
    );
}

/// A partition `part` of disk `disk`, as sysfs lays them out.
fn partition(root: &Path, disk: &str, part: &str) {
    let dev = format!("/sys/devices/pci0000:00/block/{disk}");
    std::fs::create_dir_all(root.join(dev.trim_start_matches('/')).join("slaves")).unwrap();
    write(root, &format!("{dev}/{part}/partition"), "2\n");
    for (name, path) in [(disk, dev.clone()), (part, format!("{dev}/{part}"))] {
        if root.join(format!("sys/class/block/{name}")).exists() {
            continue;
        }
        symlink(
            root,
            &format!("/sys/class/block/{name}"),
            &format!("../../{}", path.trim_start_matches("/sys/")),
        );
    }
}

fn filesystems(root: &Path) -> (FilesystemsObservation, Vec<Finding>) {
    let obs = observation(root, "host.filesystems");
    (obs.payload().unwrap(), findings(&obs, ENCRYPTED))
}

#[test]
fn disk_encryption_follows_the_device_stack() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(
        r,
        "/proc/self/mounts",
        "proc /proc proc rw,nosuid 0 0\n\
         tmpfs /run tmpfs rw 0 0\n\
         /dev/mapper/vg-root / ext4 rw,relatime 0 0\n\
         /dev/sda1 /boot ext2 rw 0 0\n\
         /dev/sda3 /srv xfs rw 0 0\n\
         /dev/md0 /data ext4 rw 0 0\n\
         /dev/mapper/home_crypt /home ext4 rw 0 0\n\
         rpool/tank /tank zfs rw 0 0\n\
         server:/export /mnt/nfs nfs4 rw 0 0\n\
         /dev/loop0 /mnt/my\\040image ext4 rw 0 0\n\
         /dev/nvme0n1 /scratch ext4 rw 0 0\n\
         /dev/zram1 /var/tmp ext4 rw 0 0\n\
         /dev/root /mnt/root ext4 rw 0 0\n",
    );
    // LVM on LUKS on a partition.
    symlink(r, "/dev/mapper/vg-root", "../dm-1");
    block(r, "dm-1", Some(("LVM-Xyz", "vg-root")), &["dm-0"]);
    block(
        r,
        "dm-0",
        Some(("CRYPT-LUKS2-0a1b2c-sda2_crypt", "sda2_crypt")),
        &["sda2"],
    );
    partition(r, "sda", "sda1");
    partition(r, "sda", "sda2");
    partition(r, "sda", "sda3");
    // RAID1 over two LUKS devices.
    block(r, "md0", None, &["dm-2", "dm-3"]);
    std::fs::create_dir_all(r.join("sys/devices/virtual/block/md0/md")).unwrap();
    block(r, "dm-2", Some(("CRYPT-LUKS1-1-a", "a")), &["sdb"]);
    block(r, "dm-3", Some(("CRYPT-LUKS1-2-b", "b")), &["sdc"]);
    block(r, "sdb", None, &[]);
    block(r, "sdc", None, &[]);
    // No /dev symlink: found by its device mapper name under /sys/block.
    write(r, "/sys/block/dm-4/dm/uuid", "CRYPT-PLAIN-home_crypt\n");
    write(r, "/sys/block/dm-4/dm/name", "home_crypt\n");
    std::fs::create_dir_all(r.join("sys/block/dm-4/slaves/sdd")).unwrap();
    block(r, "sdd", None, &[]);
    // A loop device, a plain NVMe disk and a RAM disk.
    block(r, "loop0", None, &[]);
    write(
        r,
        "/sys/devices/virtual/block/loop0/loop/backing_file",
        "/srv/disk.img\n",
    );
    block(r, "nvme0n1", None, &[]);
    block(r, "zram1", None, &[]);

    let (data, f) = filesystems(r);
    let got: Vec<(&str, Status, ReasonCode)> = f
        .iter()
        .map(|f| (f.resource_id.as_str(), f.status, f.reason_code))
        .collect();
    assert_eq!(
        got,
        vec![
            ("/", Status::Pass, ReasonCode::FilesystemEncrypted),
            ("/data", Status::Pass, ReasonCode::FilesystemEncrypted),
            ("/home", Status::Pass, ReasonCode::FilesystemEncrypted),
            (
                "/mnt/my image",
                Status::Error,
                ReasonCode::FilesystemDeviceUnknown
            ),
            (
                "/mnt/root",
                Status::Error,
                ReasonCode::FilesystemDeviceUnknown
            ),
            ("/scratch", Status::Fail, ReasonCode::FilesystemNotEncrypted),
            ("/srv", Status::Fail, ReasonCode::FilesystemNotEncrypted),
            ("/tank", Status::Error, ReasonCode::FilesystemDeviceUnknown),
        ],
        "{f:#?}"
    );
    assert_eq!(
        data.filesystems[0].detail,
        "dm-1 (LVM) -> dm-0 sda2_crypt (dm-crypt CRYPT-LUKS2)"
    );
    assert_eq!(data.filesystems[0].encryption, Encryption::DmCrypt);
    assert!(
        f[6].reason
            .contains("sda3 (partition of sda) -> sda (disk)"),
        "{}",
        f[6].reason
    );
    assert!(f[3].reason.contains("/srv/disk.img"), "{}", f[3].reason);
    let skipped: Vec<(&str, &str)> = data
        .skipped
        .iter()
        .map(|s| (s.mount_point.as_str(), s.why.as_str()))
        .collect();
    assert_eq!(
        skipped,
        vec![
            ("/boot", "boot"),
            ("/mnt/nfs", "network"),
            ("/proc", "pseudo"),
            ("/run", "pseudo"),
            ("/var/tmp", "memory-backed (zram1 (RAM disk))"),
        ]
    );

    // RAID over one encrypted and one plain device is not encrypted.
    std::fs::remove_file(r.join("sys/devices/virtual/block/dm-3/dm/uuid")).unwrap();
    let (_, f) = filesystems(r);
    let data_fs = f.iter().find(|f| f.resource_id == "/data").unwrap();
    assert_eq!(data_fs.status, Status::Fail, "{}", data_fs.reason);
}

#[test]
fn disk_encryption_container_is_not_applicable() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "/proc/self/mounts",
        "overlay / overlay rw,relatime,lowerdir=/l,upperdir=/u,workdir=/w 0 0\n\
         proc /proc proc rw 0 0\nshm /dev/shm tmpfs rw 0 0\n",
    );
    let (_, f) = filesystems(dir.path());
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].status, f[0].reason_code),
        (Status::NotApplicable, ReasonCode::ComponentAbsent)
    );
    assert!(f[0].reason.contains("overlay on /"), "{}", f[0].reason);
}

#[test]
fn disk_encryption_unreadable_mounts_are_error() {
    let dir = tempfile::tempdir().unwrap();
    let (_, f) = filesystems(dir.path());
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].status, f[0].reason_code),
        (Status::Error, ReasonCode::Unreadable)
    );
    assert_eq!(f[0].resource_id, "/proc/self/mounts");
}

// --- firewall ----------------------------------------------------------------

const FIREWALL: &str = "host_firewall_inbound_default_deny";

/// `nft -j list ruleset` of an inet table with policy drop (captured from nft 1.0.6).
const NFT_INET_DROP: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "filter", "handle": 1}}, {"chain": {"family": "inet", "table": "filter", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}, {"chain": {"family": "inet", "table": "filter", "name": "forward", "handle": 2, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}}, {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 3, "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"accept": null}]}}, {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 4, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iif"}}, "right": "lo"}}, {"accept": null}]}}, {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 5, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"accept": null}]}}]}"#;

/// iptables-nft's IPv4 table, policy accept ending in `-m comment ... -j REJECT`.
const NFT_IP_REJECT_RULE: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "ip", "name": "filter", "handle": 2}}, {"chain": {"family": "ip", "table": "filter", "name": "INPUT", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}, {"rule": {"family": "ip", "table": "filter", "chain": "INPUT", "handle": 2, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "lo"}}, {"counter": {"packets": 0, "bytes": 0}}, {"accept": null}]}}, {"rule": {"family": "ip", "table": "filter", "chain": "INPUT", "handle": 3, "expr": [{"xt": {"type": "match", "name": "comment"}}, {"counter": {"packets": 0, "bytes": 0}}, {"xt": {"type": "target", "name": "REJECT"}}]}}]}"#;

const NFT_EMPTY: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}]}"#;

const IP6TABLES_ACCEPT: &str =
    "# Generated by ip6tables-save v1.8.9 (nf_tables) on Thu Dec  3 17:35:47 2026\n\
*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
-A INPUT -i lo -j ACCEPT\nCOMMIT\n# Completed on Thu Dec  3 17:35:47 2026\n";

fn firewall_root(ipv6: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    if ipv6 {
        write(
            dir.path(),
            "/proc/net/if_inet6",
            "00000000000000000000000000000001 01 80 10 80       lo\n",
        );
    }
    write(
        dir.path(),
        "/proc/sys/net/ipv6/conf/all/disable_ipv6",
        if ipv6 { "0\n" } else { "1\n" },
    );
    dir
}

fn with_commands(commands: &[(&str, Result<&str, CommandError>)]) -> Fake {
    let mut p = fake();
    p.commands = commands
        .iter()
        .map(|(c, r)| ((*c).to_string(), r.clone().map(str::to_string)))
        .collect();
    p
}

fn firewall(root: &Path, probes: Fake) -> Finding {
    let obs = observe_with(root, probes, "host.firewall");
    let _: FirewallObservation = obs.payload().unwrap();
    one(&obs, FIREWALL)
}

#[test]
fn firewall_nft_policy_drop_passes() {
    let dir = firewall_root(true);
    let f = firewall(
        dir.path(),
        with_commands(&[("nft -j list ruleset", Ok(NFT_INET_DROP))]),
    );
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Pass, ReasonCode::FirewallDefaultDeny),
        "{}",
        f.reason
    );
    assert!(
        f.reason
            .contains("nftables inet filter/input: drop (policy)"),
        "{}",
        f.reason
    );
}

#[test]
fn firewall_ipv6_left_open_fails() {
    let commands = [
        ("nft -j list ruleset", Ok(NFT_IP_REJECT_RULE)),
        ("ip6tables-save", Ok(IP6TABLES_ACCEPT)),
    ];
    let dir = firewall_root(true);
    let f = firewall(dir.path(), with_commands(&commands));
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Fail, ReasonCode::FirewallInboundOpen),
        "{}",
        f.reason
    );
    assert!(f.reason.contains("for IPv6"), "{}", f.reason);
    assert!(
        f.reason
            .contains("ip6tables ip6 filter/INPUT: accept (policy)"),
        "{}",
        f.reason
    );

    // With IPv6 disabled the final REJECT rule is enough.
    let dir = firewall_root(false);
    let f = firewall(dir.path(), with_commands(&commands));
    assert_eq!(f.status, Status::Pass, "{}", f.reason);
    assert!(
        f.reason.contains("reject (rule 2 of INPUT)"),
        "{}",
        f.reason
    );
}

#[test]
fn firewall_iptables_save_chains_are_walked() {
    let save = |input: &str| {
        format!(
            "# Generated by iptables-save v1.8.9 (legacy) on Thu Dec  3 17:35:45 2026\n\
             *nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j DROP\nCOMMIT\n\
             *filter\n:INPUT {input}\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:in-final - [0:0]\n\
             -A INPUT -i lo -j ACCEPT\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n\
             -A INPUT -m comment --comment \"log then drop\" -j LOG --log-prefix \"in: \"\n\
             -A INPUT -j in-final\n\
             -A in-final -p udp -j RETURN\n\
             -A in-final -m comment --comment \"default deny\" -j REJECT --reject-with icmp-port-unreachable\n\
             COMMIT\n"
        )
    };
    let dir = firewall_root(false);
    let rules = save("ACCEPT [0:0]");
    let f = firewall(
        dir.path(),
        with_commands(&[("iptables-save", Ok(rules.as_str()))]),
    );
    assert_eq!(f.status, Status::Pass, "{}", f.reason);
    assert!(
        f.reason.contains("reject (rule 2 of in-final)"),
        "{}",
        f.reason
    );

    // An unconditional ACCEPT before it opens everything, whatever the policy.
    let rules = save("DROP [0:0]").replace("-A INPUT -j in-final", "-A INPUT -j ACCEPT");
    let f = firewall(
        dir.path(),
        with_commands(&[("iptables-save", Ok(rules.as_str()))]),
    );
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Fail, ReasonCode::FirewallInboundOpen),
        "{}",
        f.reason
    );
}

#[test]
fn firewall_nothing_loaded_or_installed_fails() {
    let dir = firewall_root(true);
    let f = firewall(
        dir.path(),
        with_commands(&[
            ("nft -j list ruleset", Ok(NFT_EMPTY)),
            ("iptables-save", Ok("")),
            ("ip6tables-save", Ok("")),
        ]),
    );
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Fail, ReasonCode::FirewallAbsent),
        "{}",
        f.reason
    );
    assert!(
        f.reason.contains("no input filter chain is loaded"),
        "{}",
        f.reason
    );

    let f = firewall(dir.path(), fake());
    assert_eq!(f.reason_code, ReasonCode::FirewallAbsent);
    assert!(
        f.reason.contains("no firewall is installed"),
        "{}",
        f.reason
    );
}

#[test]
fn firewall_without_privileges_is_error() {
    let dir = firewall_root(true);
    let f = firewall(
        dir.path(),
        with_commands(&[
            (
                "nft -j list ruleset",
                Err(CommandError::new(
                    CommandErrorKind::PermissionDenied,
                    "exited with exit status: 1: netlink: Error: cache initialization failed: Operation not permitted",
                )),
            ),
            (
                "iptables-save",
                Err(CommandError::new(
                    CommandErrorKind::PermissionDenied,
                    "exited with exit status: 4: iptables-save v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)",
                )),
            ),
        ]),
    );
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Error, ReasonCode::PermissionDenied),
        "{}",
        f.reason
    );
    assert!(f.reason.contains("CAP_NET_ADMIN"), "{}", f.reason);

    // Output that cannot be interpreted is an error too.
    let f = firewall(
        dir.path(),
        with_commands(&[("nft -j list ruleset", Ok("table inet filter {"))]),
    );
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Error, ReasonCode::Unreadable),
        "{}",
        f.reason
    );
}

#[test]
fn firewall_ufw_configuration() {
    let dir = firewall_root(true);
    write(dir.path(), "/usr/sbin/ufw", "");
    write(
        dir.path(),
        "/etc/ufw/ufw.conf",
        "# /etc/ufw/ufw.conf\nENABLED=yes\nLOGLEVEL=low\n",
    );
    write(
        dir.path(),
        "/etc/default/ufw",
        "# /etc/default/ufw\nIPV6=yes\nDEFAULT_INPUT_POLICY=\"DROP\"\nDEFAULT_OUTPUT_POLICY=\"ACCEPT\"\n",
    );
    let f = firewall(dir.path(), fake());
    assert_eq!(f.status, Status::Pass, "{}", f.reason);
    assert!(f.reason.contains("/etc/default/ufw:3"), "{}", f.reason);

    write(dir.path(), "/etc/ufw/ufw.conf", "ENABLED=no\n");
    let f = firewall(dir.path(), fake());
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Fail, ReasonCode::FirewallAbsent),
        "{}",
        f.reason
    );
    assert!(f.reason.contains("ENABLED=no"), "{}", f.reason);
}

#[test]
fn firewall_firewalld_default_zone() {
    let dir = firewall_root(true);
    write(
        dir.path(),
        "/etc/firewalld/firewalld.conf",
        "DefaultZone=internal\n",
    );
    write(
        dir.path(),
        "/usr/lib/firewalld/zones/internal.xml",
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<zone>\n  <short>Internal</short>\n</zone>\n",
    );
    let f = firewall(dir.path(), procs(&["firewalld"]));
    assert_eq!(f.status, Status::Pass, "{}", f.reason);
    assert!(f.reason.contains("target default"), "{}", f.reason);

    write(
        dir.path(),
        "/etc/firewalld/zones/internal.xml",
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<zone target=\"ACCEPT\">\n</zone>\n",
    );
    let f = firewall(dir.path(), procs(&["firewalld"]));
    assert_eq!(
        f.reason_code,
        ReasonCode::FirewallInboundOpen,
        "{}",
        f.reason
    );

    // Installed but not running.
    let f = firewall(dir.path(), fake());
    assert_eq!(f.reason_code, ReasonCode::FirewallAbsent, "{}", f.reason);
    assert!(f.reason.contains("not running"), "{}", f.reason);
}

// --- malware -------------------------------------------------------------------

const MALWARE: &str = "host_malware_signatures_fresh";

fn cvd(built: chrono::DateTime<Utc>, version: u32) -> Vec<u8> {
    let mut h = format!(
        "ClamAV-VDB:{}:{version}:2080435:90:9f8e7d6c5b4a39281706f5e4d3c2b1a0:sig:raynman:{}",
        built.format("%d %b %Y %H-%M %z"),
        built.timestamp()
    )
    .into_bytes();
    h.resize(512, b' ');
    h.extend_from_slice(b"\x1f\x8b compressed signatures");
    h
}

fn malware(root: &Path, probes: Fake, max_age: Option<u32>) -> Finding {
    let mut settings = HostSettings {
        root: root.to_path_buf(),
        ..HostSettings::default()
    };
    if let Some(days) = max_age {
        settings.malware_signature_max_age_days = days;
    }
    let obs = HostCollector::with_probes(&settings, Box::new(probes))
        .collect(Utc::now())
        .into_iter()
        .find(|o| o.source == "host.malware")
        .unwrap();
    let _: MalwareObservation = obs.payload().unwrap();
    one(&obs, MALWARE)
}

fn put(root: &Path, path: &str, bytes: &[u8]) {
    let p = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

#[test]
fn malware_clamav_fresh_passes_and_stale_fails() {
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now();
    put(
        dir.path(),
        "/var/lib/clamav/main.cvd",
        &cvd(now - chrono::Duration::days(300), 62),
    );
    put(
        dir.path(),
        "/var/lib/clamav/daily.cld",
        &cvd(now - chrono::Duration::hours(20), 27474),
    );
    put(dir.path(), "/var/lib/clamav/freshclam.dat", b"state");
    let f = malware(dir.path(), procs(&["clamd", "freshclam"]), None);
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Pass, ReasonCode::MalwareSignaturesFresh),
        "{}",
        f.reason
    );
    assert!(
        f.reason.contains("clamd (pid 100), freshclam (pid 101)"),
        "{}",
        f.reason
    );
    assert!(f.reason.contains("daily.cld version 27474"), "{}", f.reason);

    // A daily database built 5 days ago is stale under the default 3 days.
    put(
        dir.path(),
        "/var/lib/clamav/daily.cld",
        &cvd(now - chrono::Duration::days(5), 27400),
    );
    let f = malware(dir.path(), procs(&["freshclam"]), None);
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Fail, ReasonCode::MalwareSignaturesStale),
        "{}",
        f.reason
    );
    assert_eq!(
        malware(dir.path(), procs(&["freshclam"]), Some(7)).status,
        Status::Pass
    );

    // No readable header: the modification time is used.
    put(dir.path(), "/var/lib/clamav/daily.cld", b"not a header");
    let old = SystemTime::now() - StdDuration::from_secs(4 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(dir.path().join("var/lib/clamav/daily.cld"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let f = malware(dir.path(), procs(&["clamd"]), None);
    assert_eq!(
        f.reason_code,
        ReasonCode::MalwareSignaturesStale,
        "{}",
        f.reason
    );
    assert!(f.reason.contains("modified"), "{}", f.reason);
}

#[test]
fn malware_database_directory_from_config() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "/etc/clamav/freshclam.conf",
        "# Automatically Generated by clamav-freshclam postinst\nDatabaseOwner clamav\nDatabaseDirectory /srv/clamav/\n",
    );
    put(dir.path(), "/srv/clamav/daily.cvd", &cvd(Utc::now(), 27500));
    let f = malware(dir.path(), procs(&["clamd"]), None);
    assert_eq!(f.status, Status::Pass, "{}", f.reason);
    assert!(f.reason.contains("/srv/clamav/daily.cvd"), "{}", f.reason);

    // Running without any database.
    std::fs::remove_file(dir.path().join("srv/clamav/daily.cvd")).unwrap();
    let f = malware(dir.path(), procs(&["clamd"]), None);
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Fail, ReasonCode::MalwareSignaturesMissing)
    );
}

#[test]
fn malware_absent_fails_and_other_engines_are_unknown() {
    let dir = tempfile::tempdir().unwrap();
    put(
        dir.path(),
        "/var/lib/clamav/daily.cvd",
        &cvd(Utc::now(), 27500),
    );
    let f = malware(dir.path(), procs(&["bash"]), None);
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Fail, ReasonCode::MalwareProtectionAbsent)
    );
    assert!(
        f.reason.contains("neither clamd nor freshclam runs"),
        "{}",
        f.reason
    );

    let f = malware(dir.path(), procs(&["wdavdaemon"]), None);
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Error, ReasonCode::MalwareSignaturesUnknown)
    );
    assert!(
        f.reason.contains("Microsoft Defender for Endpoint"),
        "{}",
        f.reason
    );
}

#[test]
fn malware_unreadable_is_error() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the directory is expected.
    write(dir.path(), "/var/lib/clamav", "");
    let f = malware(dir.path(), procs(&["clamd"]), None);
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Error, ReasonCode::Unreadable),
        "{}",
        f.reason
    );
    let mut p = fake();
    p.processes = Err(ProbeError::new(
        ProbeErrorKind::PermissionDenied,
        "hidepid=2",
    ));
    let f = malware(dir.path(), p, None);
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Error, ReasonCode::PermissionDenied)
    );
}

// --- collector as a whole --------------------------------------------------

#[test]
fn settings_defaults_and_unknown_fields() {
    let s: HostSettings = serde_json::from_str("{}").unwrap();
    assert_eq!(s, HostSettings::default());
    assert_eq!(s.root, PathBuf::from("/"));
    assert_eq!(s.apt_index_max_age_days, 7);
    assert_eq!(s.malware_signature_max_age_days, 3);
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
            "host.logging" => drop(obs.payload::<LoggingObservation>().unwrap()),
            "host.filesystems" => drop(obs.payload::<FilesystemsObservation>().unwrap()),
            "host.firewall" => drop(obs.payload::<FirewallObservation>().unwrap()),
            "host.malware" => drop(obs.payload::<MalwareObservation>().unwrap()),
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
