//! Helpers for the tests that run real programs (restic, borg, PostgreSQL,
//! dnsmasq, squid): find them, pick free loopback ports, and stop what a
//! test started.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::Child;

/// The path of `program`, searched in PATH, /usr/sbin and /sbin. A missing
/// program fails the test with a message saying how to install it: these
/// tests are never skipped.
pub fn require(program: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.push("/usr/sbin".into());
    dirs.push("/sbin".into());
    for d in dirs {
        let p = d.join(program);
        if p.is_file() {
            return p;
        }
    }
    panic!("{program} is not installed: this test needs the real program (`apt-get install {package}`, as .ci/run does)");
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A UDP port on 127.0.0.1 that was free a moment ago (and a TCP one with
/// the same number, for servers that listen on both).
pub fn free_udp_port() -> u16 {
    loop {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A child process killed and reaped when dropped.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
