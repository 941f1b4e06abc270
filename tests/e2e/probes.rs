//! The active probes through the binary: `evident collect` with a restic
//! backup set (which passes) and a webfilter resolver that lets a canary
//! through (dnsmasq from Debian, started here on a free loopback port)
//! records findings naming what happened.

#![allow(clippy::unwrap_used)]

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// A child killed and reaped when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find(program: &str, package: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/bin", "/sbin"] {
        let p = PathBuf::from(dir).join(program);
        if p.is_file() {
            return p;
        }
    }
    panic!("{program} is not installed: this test needs the real program (`apt-get install {package}`, as .ci/run does)");
}

fn sh(c: &mut Command) {
    let o = c.output().expect("spawn");
    assert!(
        o.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn collect_records_restore_test_and_webfilter_findings() {
    let sb = Sandbox::new();
    // A restic repository with one backup of a small tree and a canary.
    let restic = find("restic", "restic");
    let tree = sb.write("tree/docs/canary.txt", "canary\n");
    sb.write("tree/docs/a.txt", "alpha\n");
    let repo = sb.dir.path().join("repo");
    let pw = sb.write_secret("restic.pass", "e2e password\n");
    let base = || {
        let mut c = Command::new(&restic);
        c.arg("-r")
            .arg(&repo)
            .arg("--password-file")
            .arg(&pw)
            .arg("--no-cache");
        c
    };
    sh(base().arg("init"));
    sh(base().arg("backup").arg(tree.parent().unwrap()));

    // dnsmasq blocking one canary and letting another through.
    let dnsmasq = find("dnsmasq", "dnsmasq-base");
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _dns = Running(
        Command::new(dnsmasq)
            .args([
                "--no-daemon",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                "--listen-address=127.0.0.1",
                "--pid-file=",
                "--user=nobody",
                "--group=nogroup",
                &format!("--port={port}"),
                "--address=/malware.test/",
                "--address=/leak.test/127.0.0.9",
                "--address=/good.test/127.0.0.1",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dnsmasq"),
    );
    let sandboxes = sb.dir.path().join("sandboxes");
    std::fs::create_dir(&sandboxes).unwrap();
    let config = sb.write(
        "evident.toml",
        &format!(
            r#"[agent]
id = "e2e"

[[collectors.backup]]
name = "backups"
sandbox_dir = "{sandboxes}"
[[collectors.backup.sets]]
name = "docs"
backend = "restic"
repository = "{repo}"
password_file = "{pw}"
rpo_hours = 24
rto_target_seconds = 3600
canaries = [{{ path = "{canary}", sha256 = "{hash}" }}]

[[collectors.webfilter]]
name = "dns"
query_timeout_seconds = 2
[[collectors.webfilter.resolvers]]
address = "127.0.0.1:{port}"
controls = ["good.test"]
[collectors.webfilter.resolvers.canaries]
malware = ["malware.test"]
phishing = ["leak.test"]
"#,
            sandboxes = sandboxes.display(),
            repo = repo.display(),
            pw = pw.display(),
            canary = tree.display(),
            // sha256("canary\n")
            hash = "3862f5361ca1a8c053364af5b6b2df9b900325487f4f7b3e6cd13d98345848ef",
        ),
    );
    // Wait until dnsmasq answers: the collector itself must not be retried into success.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let q =
            b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04good\x04test\x00\x00\x01\x00\x01";
        s.send_to(q, ("127.0.0.1", port)).unwrap();
        let mut buf = [0u8; 512];
        if s.recv(&mut buf).is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "dnsmasq did not start");
    }
    let o = sb.evident_with(&config, &["collect", "--format", "json"]);
    assert_code(&o, 0);
    let out: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let findings = out["findings"].as_array().expect("findings");
    let by = |id: &str| {
        findings
            .iter()
            .find(|f| f["check_id"] == id)
            .unwrap_or_else(|| panic!("no {id} finding: {out:#}"))
    };
    let backup = by("backup_restore_test_passed");
    let web = by("webfilter_canaries_blocked");
    assert_eq!(backup["status"], "pass", "{backup:#}");
    assert_eq!(
        backup["reason_code"], "backup_restore_verified",
        "{backup:#}"
    );
    let reason = backup["reason"].as_str().unwrap();
    assert!(reason.contains("restored 2 items"), "{reason}");
    assert!(reason.contains("SHA-256 of 1 canary files"), "{reason}");
    assert_eq!(web["status"], "fail", "{web:#}");
    assert!(
        web["reason"]
            .as_str()
            .unwrap()
            .contains("phishing/leak.test"),
        "{web:#}"
    );
    // The sandbox directory is gone.
    assert_eq!(std::fs::read_dir(&sandboxes).unwrap().count(), 0);
}
