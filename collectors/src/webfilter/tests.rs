//! The probe against real filters from Debian on loopback: dnsmasq as the
//! filtering resolver and squid as the filtering proxy, in front of a tiny
//! HTTP origin in this test. Nothing leaves 127.0.0.1: dnsmasq has no
//! upstream (`--no-resolv`), and squid only allows 127.0.0.1 destinations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use evident_policies::{webfilter::CANARIES_BLOCKED, Finding, Status, TargetKind};

use super::*;
use crate::testutil::{free_tcp_port, free_udp_port, require, Running};

const T: Duration = Duration::from_secs(3);

fn target() -> Target {
    Target {
        kind: TargetKind::Host,
        id: "test".into(),
    }
}

fn evaluate(settings: &WebfilterSettings) -> (Observation, Vec<Finding>) {
    let obs = collect(settings, target(), Utc::now());
    let f = (CANARIES_BLOCKED.evaluate)(&obs);
    (obs, f)
}

/// dnsmasq on a free loopback port, answering only from its command line:
/// `malware.test` and `phishing.test` NXDOMAIN, `casino.test` sinkholed to
/// 0.0.0.0, `leak.test` to 127.0.0.9 (a canary the filter lets through),
/// `good.test` to 127.0.0.1.
fn dnsmasq() -> (Running, SocketAddr) {
    let bin = require("dnsmasq", "dnsmasq-base");
    let port = free_udp_port();
    let child = Command::new(bin)
        .args([
            "--no-daemon",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--pid-file=",
            "--user=nobody",
            "--group=nogroup",
            &format!("--port={port}"),
            "--address=/malware.test/",
            "--address=/phishing.test/",
            "--address=/casino.test/0.0.0.0",
            "--address=/leak.test/127.0.0.9",
            "--address=/good.test/127.0.0.1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dnsmasq");
    let running = Running(child);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(r) = dns::query(addr, "good.test", dns::TYPE_A, Duration::from_millis(300)) {
            if r.rcode == 0 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "dnsmasq did not answer on {addr}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (running, addr)
}

fn resolver(address: SocketAddr, canaries: &[(&str, &str)]) -> ResolverSettings {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (cat, name) in canaries {
        map.entry(cat.to_string())
            .or_default()
            .push(name.to_string());
    }
    ResolverSettings {
        address,
        canaries: map,
        controls: vec!["good.test".into()],
        sinkholes: vec!["0.0.0.0".parse().unwrap()],
    }
}

#[test]
fn dnsmasq_blocking_canaries_passes() {
    let (_d, addr) = dnsmasq();
    let settings = WebfilterSettings {
        resolvers: vec![resolver(
            addr,
            &[
                ("malware", "malware.test"),
                ("phishing", "www.phishing.test"),
                ("gambling", "casino.test"),
            ],
        )],
        proxies: vec![],
        query_timeout: T,
    };
    let (obs, f) = evaluate(&settings);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].status, Status::Pass, "{}", f[0].reason);
    // The evidence records each query and its answer.
    let data: WebfilterObservation = obs.payload().unwrap();
    let q = &data.resolvers[0].queries;
    assert_eq!(q.len(), 4);
    let casino = q.iter().find(|q| q.name == "casino.test").unwrap();
    assert_eq!(casino.rcode.as_deref(), Some("NOERROR"));
    assert_eq!(casino.answers, vec!["0.0.0.0".to_string()]);
    let malware = q.iter().find(|q| q.name == "malware.test").unwrap();
    assert_eq!(malware.rcode.as_deref(), Some("NXDOMAIN"));
    assert!(
        f[0].reason
            .contains("gambling/casino.test → NOERROR 0.0.0.0"),
        "{}",
        f[0].reason
    );
}

#[test]
fn dnsmasq_letting_a_canary_through_fails_naming_it() {
    let (_d, addr) = dnsmasq();
    let settings = WebfilterSettings {
        resolvers: vec![resolver(
            addr,
            &[("malware", "malware.test"), ("phishing", "leak.test")],
        )],
        proxies: vec![],
        query_timeout: T,
    };
    let (_, f) = evaluate(&settings);
    assert_eq!(f[0].status, Status::Fail, "{}", f[0].reason);
    assert!(
        f[0].reason
            .contains("phishing/leak.test → NOERROR 127.0.0.9"),
        "{}",
        f[0].reason
    );
    assert!(!f[0].reason.contains("malware.test"), "{}", f[0].reason);
}

#[test]
fn resolver_down_is_error() {
    // Nothing listens on this port (dnsmasq is not started).
    let port = free_udp_port();
    let settings = WebfilterSettings {
        resolvers: vec![resolver(
            ([127, 0, 0, 1], port).into(),
            &[("malware", "malware.test")],
        )],
        proxies: vec![],
        query_timeout: Duration::from_millis(500),
    };
    let (_, f) = evaluate(&settings);
    assert_eq!(f[0].status, Status::Error, "{}", f[0].reason);
    assert!(
        f[0].reason.starts_with("resolver unreachable or broken"),
        "{}",
        f[0].reason
    );
}

/// A tiny HTTP origin on loopback: `200 hello <path>` for every request.
fn origin() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let mut head = Vec::new();
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&head);
            let path = text.split(' ').nth(1).unwrap_or("?").to_string();
            let body = format!("hello {path}\n");
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// squid on a free loopback port as user `proxy`, denying URL paths under
/// `/blocked/`, the domain `blocked.test` (matched by name, so never
/// resolved) and any destination other than 127.0.0.1.
fn squid(dir: &std::path::Path) -> (Running, String) {
    use std::os::unix::fs::PermissionsExt;
    let bin = require("squid", "squid");
    let port = free_tcp_port();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let conf = dir.join("squid.conf");
    std::fs::write(
        &conf,
        format!(
            "http_port 127.0.0.1:{port}\n\
             pid_filename none\n\
             cache_effective_user proxy\n\
             cache_log {log}\n\
             access_log none\n\
             cache deny all\n\
             cache_mem 8 MB\n\
             netdb_filename none\n\
             dns_nameservers 127.0.0.1\n\
             shutdown_lifetime 0 seconds\n\
             coredump_dir {dir}\n\
             acl origin dst 127.0.0.1/32\n\
             acl canary urlpath_regex ^/blocked/\n\
             acl canary_domain dstdomain .blocked.test\n\
             http_access deny canary\n\
             http_access deny canary_domain\n\
             http_access allow origin\n\
             http_access deny all\n",
            log = dir.join("cache.log").display(),
            dir = dir.display()
        ),
    )
    .unwrap();
    let child = Command::new(bin)
        .arg("-N")
        .arg("-f")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start squid");
    let running = Running(child);
    let address = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&address).is_err() {
        assert!(
            Instant::now() < deadline,
            "squid did not listen on {address}; its log: {}",
            std::fs::read_to_string(dir.join("cache.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (running, address)
}

fn proxy_settings(address: &str, origin: u16, canaries: &[(&str, &str)]) -> ProxySettings {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (cat, path) in canaries {
        map.entry(cat.to_string())
            .or_default()
            .push(format!("http://127.0.0.1:{origin}{path}"));
    }
    ProxySettings {
        address: address.into(),
        canaries: map,
        control: format!("http://127.0.0.1:{origin}/allowed"),
        block_marker: None,
    }
}

#[test]
fn squid_blocking_and_leaking_canaries() {
    let dir = tempfile::tempdir().unwrap();
    let port = origin();
    let (_s, address) = squid(dir.path());

    // Blocks the canaries, lets the control through: pass.
    let settings = WebfilterSettings {
        resolvers: vec![],
        proxies: vec![proxy_settings(
            &address,
            port,
            &[
                ("malware", "/blocked/malware"),
                ("gambling", "/blocked/casino"),
            ],
        )],
        query_timeout: Duration::from_secs(10),
    };
    let (obs, f) = evaluate(&settings);
    assert_eq!(f[0].status, Status::Pass, "{}", f[0].reason);
    let data: WebfilterObservation = obs.payload().unwrap();
    let statuses: Vec<Option<u16>> = data.proxies[0].requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![Some(403), Some(403), Some(200)]);

    // A block-page marker counts too (squid's error page names the error).
    let mut marker = settings.clone();
    marker.proxies[0].block_marker = Some("ERR_ACCESS_DENIED".into());
    let (obs, f) = evaluate(&marker);
    assert_eq!(f[0].status, Status::Pass, "{}", f[0].reason);
    let data: WebfilterObservation = obs.payload().unwrap();
    assert!(data.proxies[0].requests[0].marker_seen);

    // A canary the proxy's ACL does not cover gets through: fail naming it.
    let leaky = WebfilterSettings {
        resolvers: vec![],
        proxies: vec![proxy_settings(
            &address,
            port,
            &[("malware", "/blocked/malware"), ("phishing", "/login-bank")],
        )],
        query_timeout: Duration::from_secs(10),
    };
    let (_, f) = evaluate(&leaky);
    assert_eq!(f[0].status, Status::Fail, "{}", f[0].reason);
    assert!(
        f[0].reason.contains("phishing/http://127.0.0.1:"),
        "{}",
        f[0].reason
    );
    assert!(
        f[0].reason.contains("/login-bank → HTTP 200"),
        "{}",
        f[0].reason
    );
}

#[test]
fn proxy_down_is_error() {
    let settings = WebfilterSettings {
        resolvers: vec![],
        proxies: vec![proxy_settings(
            &format!("127.0.0.1:{}", free_tcp_port()),
            free_tcp_port(),
            &[("malware", "/blocked/malware")],
        )],
        query_timeout: Duration::from_secs(2),
    };
    let (_, f) = evaluate(&settings);
    assert_eq!(f[0].status, Status::Error, "{}", f[0].reason);
    assert!(
        f[0].reason.starts_with("proxy unreachable or broken"),
        "{}",
        f[0].reason
    );
}
