//! Off-box publication of checkpoints: a directory sink and an HTTP sink
//! (a local receiver on loopback), retries, pending publications caught up
//! on a later run, and `--published` catching a ledger rewritten by someone
//! who holds the agent's key.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;

/// A tiny HTTP receiver that answers the given statuses in turn (then 200)
/// and keeps the bodies it accepted.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    auth: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    fn start(statuses: Vec<u16>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!(
            "http://{}/checkpoints",
            listener.local_addr().expect("addr")
        );
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let auth = Arc::new(Mutex::new(Vec::new()));
        let (seen, seen_auth) = (bodies.clone(), auth.clone());
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
                    if let Some(v) = line
                        .strip_prefix("authorization:")
                        .or_else(|| line.strip_prefix("Authorization:"))
                    {
                        seen_auth.lock().expect("lock").push(v.trim().to_string());
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0u8; len];
                let _ = reader.read_exact(&mut body);
                let status = statuses.next().unwrap_or(200);
                if status < 300 {
                    seen.lock()
                        .expect("lock")
                        .push(serde_json::from_slice(&body).expect("json body"));
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        Receiver { url, bodies, auth }
    }

    fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().expect("lock").clone()
    }
}

fn config(sb: &Sandbox, name: &str, published: &Path, url: &str) -> PathBuf {
    sb.write("root/etc/ssh/sshd_config", "PasswordAuthentication no\n");
    sb.write("root/usr/sbin/sshd", "");
    sb.write("root/etc/hostname", "pub-host\n");
    let token = sb.write_secret("witness.token", "s3cret-witness-token\n");
    sb.write(
        name,
        &format!(
            "[agent]\nid = \"pub-agent\"\n\n[[collectors.host]]\nroot = \"{}\"\nchecks = [\"host_sshd_password_auth_disabled\"]\n\n[[publish.sink]]\ntype = \"directory\"\nname = \"share\"\npath = \"{}\"\n\n[[publish.sink]]\ntype = \"http\"\nname = \"witness\"\nurl = \"{url}\"\nbearer_token_file = \"{}\"\nretries = 1\ntimeout_seconds = 5\n",
            sb.dir.path().join("root").display(),
            published.display(),
            token.display()
        ),
    )
}

fn collect(sb: &Sandbox, cfg: &Path) -> (serde_json::Value, String) {
    let o = sb.evident_with(cfg, &["collect", "--format", "json"]);
    assert_code(&o, 0);
    (serde_json::from_slice(&o.stdout).expect("json"), stderr(&o))
}

fn sink<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["publication"]
        .as_array()
        .expect("publication")
        .iter()
        .find(|s| s["name"] == name)
        .expect("sink")
}

#[test]
fn checkpoints_are_published_to_a_directory_and_an_http_receiver_and_catch_up_after_a_failure() {
    let sb = Sandbox::new();
    let published = sb.dir.path().join("published");
    // The first POST fails with a 500: retried within the run.
    let receiver = Receiver::start(vec![500]);
    let cfg = config(&sb, "pub.toml", &published, &receiver.url);
    let (v, _) = collect(&sb, &cfg);
    for name in ["share", "witness"] {
        assert_eq!(sink(&v, name)["published"], 1, "{v}");
        assert_eq!(sink(&v, name)["pending"], 0, "{v}");
    }
    let size = v["checkpoint"]["tree_size"].as_u64().expect("size");
    let stem = format!("checkpoint-{size:020}");
    // The directory holds the checkpoint exactly as signed: openssl checks it.
    let key = sb.dir.path().join("agent.pub.pem");
    std::fs::write(&key, stdout(&sb.evident_with(&cfg, &["key", "export"]))).expect("key");
    let o = run(Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(&key)
        .arg("-signature")
        .arg(published.join(format!("{stem}.sig")))
        .arg(published.join(&stem)));
    assert_code(&o, 0);
    assert!(stdout(&o).contains("Verified OK"));
    // The receiver got the same body and signature, with the bearer token.
    let bodies = receiver.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(
        bodies[0]["checkpoint"].as_str().expect("body").as_bytes(),
        std::fs::read(published.join(&stem)).expect("body")
    );
    assert_eq!(
        hex::decode(bodies[0]["signature_hex"].as_str().expect("sig")).expect("hex"),
        std::fs::read(published.join(format!("{stem}.sig"))).expect("sig")
    );
    assert_eq!(bodies[0]["format"], "evident-published-checkpoint/v1");
    assert_eq!(
        receiver
            .auth
            .lock()
            .expect("lock")
            .last()
            .map(String::as_str),
        Some("Bearer s3cret-witness-token")
    );

    // The receiver is down: collection succeeds, the publication is pending
    // (the token never shows in what evident prints).
    let dead = TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_url = format!("http://{}/checkpoints", dead.local_addr().expect("addr"));
    drop(dead);
    let down = config(&sb, "down.toml", &published, &dead_url);
    std::thread::sleep(Duration::from_millis(1100));
    let o = sb.evident_with(&down, &["collect", "--format", "json"]);
    assert_code(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(sink(&v, "share")["published"], 1, "{v}");
    assert_eq!(sink(&v, "witness")["published"], 0, "{v}");
    assert_eq!(sink(&v, "witness")["pending"], 1, "{v}");
    assert!(sink(&v, "witness")["error"].is_string(), "{v}");
    for text in [stdout(&o), stderr(&o)] {
        assert!(!text.contains("s3cret"), "{text}");
    }
    // Back: the next run publishes the pending checkpoint and its own.
    std::thread::sleep(Duration::from_millis(1100));
    let (v, _) = collect(&sb, &cfg);
    assert_eq!(sink(&v, "witness")["published"], 2, "{v}");
    assert_eq!(sink(&v, "witness")["pending"], 0, "{v}");
    let sizes: Vec<u64> = receiver
        .bodies()
        .iter()
        .map(|b| b["tree_size"].as_u64().expect("size"))
        .collect();
    assert_eq!(sizes.len(), 3, "{sizes:?}");
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");

    // Both verifiers accept the ledger against the published directory.
    let pub_s = published.to_str().expect("utf8");
    let key_s = key.to_str().expect("utf8");
    let o = sb.evident_with(&cfg, &["verify", "--published", pub_s]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("checked:      3 published"),
        "{}",
        stdout(&o)
    );
    let ledger = sb.data().join("evidence.db");
    let o = run(evident_verify().args([
        "ledger",
        ledger.to_str().expect("utf8"),
        "--published",
        pub_s,
        "--key",
        key_s,
    ]));
    assert_code(&o, 0);

    // Someone with root (and so the agent's key) rebuilds the whole ledger
    // with other records: it verifies on its own, but not against what was
    // published before.
    let forged = sb.dir.path().join("forged.db");
    {
        use evident_evidence::ledger::Ledger;
        use evident_evidence::record::Record;
        let signer = evident_evidence::signing::FileSigner::load(sb.data().join("agent-key.pem"))
            .expect("key");
        let real = Ledger::open_read_only(&ledger).expect("ledger");
        let mut records: Vec<Record> = real
            .records()
            .expect("records")
            .into_iter()
            .map(|r| r.1)
            .collect();
        if let Some(Record::Finding(f)) =
            records.iter_mut().find(|r| matches!(r, Record::Finding(_)))
        {
            f.status = evident_evidence::record::Status::Fail;
            f.reason = "rewritten".into();
        }
        let mut obs = Vec::new();
        real.for_each_observation(|d, b| {
            obs.push((d, b));
            Ok(())
        })
        .expect("obs");
        let mut l = Ledger::open(&forged).expect("forged");
        l.append_run(&obs, &records, &signer, "pub-agent", chrono::Utc::now())
            .expect("append");
    }
    let forged_s = forged.to_str().expect("utf8");
    assert_code(
        &run(evident_verify().args(["ledger", forged_s, "--key", key_s])),
        0,
    );
    let o = run(evident_verify().args([
        "ledger",
        forged_s,
        "--key",
        key_s,
        "--published",
        pub_s,
        "--format",
        "json",
    ]));
    assert_code(&o, 1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let codes: Vec<&str> = v["published"]["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(|p| p["code"].as_str())
        .collect();
    assert!(!codes.is_empty(), "{v}");
    assert!(codes.iter().all(|c| *c == "published_root_mismatch"), "{v}");
    assert_eq!(v["ok"], false);

    // A pack of the real ledger checks against the directory too.
    let pack = sb.dir.path().join("pack.tar.gz");
    assert_code(
        &sb.evident_with(
            &cfg,
            &[
                "pack",
                "--from",
                "2000-01-01",
                "--to",
                "2100-01-01",
                "--out",
                pack.to_str().expect("utf8"),
            ],
        ),
        0,
    );
    let o = run(evident_verify().args([
        "pack",
        pack.to_str().expect("utf8"),
        "--key",
        key_s,
        "--published",
        pub_s,
    ]));
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("published:    3 published checkpoint(s)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_directory_sink_never_overwrites_a_conflicting_checkpoint() {
    let sb = Sandbox::new();
    let published = sb.dir.path().join("published");
    let receiver = Receiver::start(vec![]);
    let cfg = config(&sb, "pub.toml", &published, &receiver.url);
    let (v, _) = collect(&sb, &cfg);
    let size = v["checkpoint"]["tree_size"].as_u64().expect("size");
    // Someone put another checkpoint of the next size there (a forked
    // history, or a second ledger publishing into the same directory).
    let next = size * 2;
    let stem = format!("checkpoint-{next:020}");
    let foreign = format!(
        "evident-checkpoint/v1\nagent pub-agent\nsize {next}\nroot {}\ntime 2026-01-01T00:00:00Z\nkey {}\n",
        "00".repeat(32),
        "11".repeat(32)
    );
    std::fs::write(published.join(&stem), &foreign).expect("write");
    std::fs::write(published.join(format!("{stem}.sig")), b"x").expect("write");
    std::thread::sleep(Duration::from_millis(1100));
    let (v, _) = collect(&sb, &cfg);
    assert_eq!(v["checkpoint"]["tree_size"].as_u64(), Some(next), "{v}");
    let share = sink(&v, "share");
    assert_eq!(share["published"], 0, "{v}");
    assert_eq!(share["pending"], 1, "{v}");
    assert!(
        share["error"]
            .as_str()
            .is_some_and(|e| e.contains("history was rewritten")),
        "{v}"
    );
    assert_eq!(
        std::fs::read_to_string(published.join(&stem)).expect("read"),
        foreign
    );
    // The other sink is not held up.
    assert_eq!(sink(&v, "witness")["pending"], 0, "{v}");
}
