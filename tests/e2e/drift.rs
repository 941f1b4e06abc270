//! Drift reports and transition notifications, with a local HTTP receiver.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;

/// A tiny HTTP server on loopback that records request bodies and answers
/// with the given statuses in turn (then 204).
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    fn start(statuses: Vec<u16>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = bodies.clone();
        std::thread::spawn(move || {
            let mut statuses = statuses.into_iter();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0u8; len];
                let _ = reader.read_exact(&mut body);
                let status = statuses.next().unwrap_or(204);
                if status < 300 {
                    seen.lock()
                        .expect("lock")
                        .push(String::from_utf8_lossy(&body).into_owned());
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        Receiver { url, bodies }
    }
}

fn sshd_config(sb: &Sandbox, password_auth: bool) {
    sb.write(
        "root/etc/ssh/sshd_config",
        &format!(
            "PasswordAuthentication {}\n",
            if password_auth { "yes" } else { "no" }
        ),
    );
}

#[test]
fn pass_fail_fail_pass_notifies_twice_and_drift_shows_one_failure_interval() {
    let sb = Sandbox::new();
    // The first delivery attempt fails with a 500: it is retried, and the
    // run is not affected.
    let receiver = Receiver::start(vec![500]);
    sb.write("root/usr/sbin/sshd", "");
    sb.write("root/etc/hostname", "drift-host\n");
    let cfg = sb.write(
        "drift.toml",
        &format!(
            "[[collectors.host]]\nroot = \"{}\"\nchecks = [\"host_sshd_password_auth_disabled\"]\n\n[[notify.webhook]]\nname = \"test\"\nurl = \"{}\"\nformat = \"json\"\n",
            sb.dir.path().join("root").display(),
            receiver.url
        ),
    );
    let mut times = Vec::new();
    for (i, enabled) in [false, true, true, false].into_iter().enumerate() {
        if i > 0 {
            // Records carry whole seconds.
            std::thread::sleep(Duration::from_millis(1100));
        }
        sshd_config(&sb, enabled);
        let o = sb.evident_with(&cfg, &["collect", "--format", "json"]);
        assert_code(&o, 0);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(
            v["findings"][0]["status"],
            if enabled { "fail" } else { "pass" }
        );
        times.push(
            chrono::DateTime::parse_from_rfc3339(
                v["findings"][0]["recorded_at"].as_str().expect("time"),
            )
            .expect("rfc3339"),
        );
    }
    let bodies = receiver.bodies.lock().expect("lock").clone();
    assert_eq!(bodies.len(), 2, "{bodies:#?}");
    let events: Vec<serde_json::Value> = bodies
        .iter()
        .map(|b| serde_json::from_str(b).expect("json body"))
        .collect();
    assert_eq!(
        (events[0]["from"].as_str(), events[0]["to"].as_str()),
        (Some("pass"), Some("fail"))
    );
    assert_eq!(
        (events[1]["from"].as_str(), events[1]["to"].as_str()),
        (Some("fail"), Some("pass"))
    );
    assert_eq!(events[0]["target"]["id"], "drift-host");
    assert_eq!(events[0]["controls"][0], "A.8.5");

    let o = sb.evident_with(
        &cfg,
        &["drift", "--since", "2020-01-01", "--format", "json"],
    );
    assert_code(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let series = v["series"].as_array().expect("series");
    assert_eq!(series.len(), 1, "{v:#}");
    let failures = series[0]["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 1, "{v:#}");
    assert_eq!(
        failures[0]["seconds"].as_i64(),
        Some((times[3] - times[1]).num_seconds()),
        "{v:#}"
    );
    assert_eq!(series[0]["transitions"].as_array().map(Vec::len), Some(3));
    assert_eq!(series[0]["current"], "pass");
    assert!(v["failing_now"].as_array().is_some_and(|a| a.is_empty()));
    // Terminal and Markdown forms print too.
    assert_code(
        &sb.evident_with(&cfg, &["drift", "--since", "2020-01-01"]),
        0,
    );
    assert_code(
        &sb.evident_with(&cfg, &["drift", "--since", "last week"]),
        2,
    );
}

#[test]
fn slack_payload_and_an_unreachable_webhook_do_not_affect_collection() {
    let sb = Sandbox::new();
    let receiver = Receiver::start(vec![]);
    sb.write("root/usr/sbin/sshd", "");
    sshd_config(&sb, true);
    // A port nothing listens on (bound then dropped) and a working Slack hook.
    let dead = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let cfg = sb.write(
        "slack.toml",
        &format!(
            "[[collectors.host]]\nroot = \"{}\"\nchecks = [\"host_sshd_password_auth_disabled\"]\n\n[[notify.webhook]]\nname = \"dead\"\nurl = \"http://{dead}/x\"\nretries = 1\n\n[[notify.webhook]]\nname = \"slack\"\nurl_env = \"EVIDENT_TEST_SLACK_URL\"\nformat = \"slack\"\n",
            sb.dir.path().join("root").display(),
        ),
    );
    // A first result that fails is news.
    let o = run(evident()
        .env("EVIDENT_TEST_SLACK_URL", &receiver.url)
        .arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(sb.data())
        .arg("collect"));
    assert_code(&o, 0);
    let bodies = receiver.bodies.lock().expect("lock").clone();
    assert_eq!(bodies.len(), 1, "{bodies:#?}");
    let v: serde_json::Value = serde_json::from_str(&bodies[0]).expect("json");
    assert!(
        v["text"].as_str().is_some_and(
            |t| t.contains("host_sshd_password_auth_disabled") && t.contains("new → fail")
        ),
        "{v}"
    );
    // The URL (which may embed a secret) is never printed.
    assert!(!stderr(&o).contains(&receiver.url) && !stdout(&o).contains(&receiver.url));
    assert_code(&sb.evident_with(&cfg, &["verify"]), 0);
}
