//! RFC 3161 trusted timestamps of checkpoints, against a real TSA: `openssl
//! ts -reply` with a throwaway CA and TSA certificate (extendedKeyUsage
//! critical, timeStamping), behind a tiny HTTP responder on 127.0.0.1
//! written here. The tokens evident stores are checked with `openssl ts
//! -verify`; a TSA that is down or answers garbage never blocks collection,
//! and the timestamp follows on a later run.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use evident_evidence::ledger::Ledger;
use evident_evidence::timestamp::TimestampRequest;
use sha2::Digest;

use crate::support::*;

/// How the test TSA answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `openssl ts -reply` to the query.
    Good,
    /// 200 with bytes that are no TimeStampResp.
    Garbage,
    /// A real token, with the request's nonce, over other data.
    WrongImprint,
}

/// A CA, a TSA certificate and an openssl config whose `tsa` section signs.
struct TsaFiles {
    dir: tempfile::TempDir,
}

fn openssl_ok(cmd: &mut Command) {
    let o = cmd.output().expect("run openssl");
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

impl TsaFiles {
    fn new() -> TsaFiles {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(d.join("serial"), "01\n").expect("serial");
        std::fs::write(
            d.join("tsa.ext"),
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n",
        )
        .expect("ext");
        std::fs::write(
            d.join("tsa.cnf"),
            format!(
                "[ tsa ]\ndefault_tsa = tsa_config\n\n[ tsa_config ]\ndir = {}\nserial = $dir/serial\nsigner_cert = $dir/tsa.crt\ncerts = $dir/ca.crt\nsigner_key = $dir/tsa.key\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\nother_policies = 1.2.3.4.5\ndigests = sha256\naccuracy = secs:1\nordering = yes\ntsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n",
                d.display()
            ),
        )
        .expect("cnf");
        let openssl = || {
            let mut c = Command::new("openssl");
            c.current_dir(d);
            c
        };
        openssl_ok(openssl().args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=evident e2e TSA CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ]));
        openssl_ok(openssl().args([
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "tsa.key",
            "-out",
            "tsa.csr",
            "-subj",
            "/CN=evident e2e TSA",
        ]));
        openssl_ok(openssl().args([
            "x509",
            "-req",
            "-in",
            "tsa.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "tsa.crt",
            "-days",
            "2",
            "-extfile",
            "tsa.ext",
        ]));
        TsaFiles { dir }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// `openssl ts -reply` to a DER query.
    fn reply(&self, query: &[u8]) -> Vec<u8> {
        let d = self.dir.path();
        let q = tempfile::NamedTempFile::new_in(d).expect("query");
        std::fs::write(q.path(), query).expect("write query");
        let out = tempfile::NamedTempFile::new_in(d).expect("reply");
        openssl_ok(
            Command::new("openssl")
                .args(["ts", "-reply", "-config"])
                .arg(d.join("tsa.cnf"))
                .arg("-queryfile")
                .arg(q.path())
                .arg("-out")
                .arg(out.path()),
        );
        std::fs::read(out.path()).expect("read reply")
    }
}

/// The HTTP responder in front of `openssl ts -reply`.
struct Tsa {
    url: String,
    mode: Arc<Mutex<Mode>>,
    queries: Arc<Mutex<usize>>,
    files: Arc<TsaFiles>,
}

impl Tsa {
    fn start(mode: Mode) -> Tsa {
        let files = Arc::new(TsaFiles::new());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/tsa", listener.local_addr().expect("addr"));
        let mode = Arc::new(Mutex::new(mode));
        let queries = Arc::new(Mutex::new(0));
        let (m, q, f) = (mode.clone(), queries.clone(), files.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let (mut len, mut content_type) = (0usize, String::new());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    if let Some(v) = lower.strip_prefix("content-type:") {
                        content_type = v.trim().to_string();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut query = vec![0u8; len];
                if reader.read_exact(&mut query).is_err() {
                    continue;
                }
                *q.lock().expect("lock") += 1;
                let mode = *m.lock().expect("lock");
                let body = if content_type != "application/timestamp-query" {
                    b"wrong content type".to_vec()
                } else {
                    match mode {
                        Mode::Good => f.reply(&query),
                        Mode::Garbage => b"<html>this is not a timestamp</html>".to_vec(),
                        Mode::WrongImprint => {
                            let mut req = TimestampRequest::from_der(&query).expect("query");
                            req.digest = sha2::Sha256::digest(b"some other data").into();
                            f.reply(&req.to_der().expect("der"))
                        }
                    }
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/timestamp-reply\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            }
        });
        Tsa {
            url,
            mode,
            queries,
            files,
        }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().expect("lock") = mode;
    }

    fn queries(&self) -> usize {
        *self.queries.lock().expect("lock")
    }
}

/// A host collector over a fake root, with `[timestamp]` at `url`.
fn config(sb: &Sandbox, name: &str, url: &str, ca: &Path) -> PathBuf {
    sb.write(
        "root/etc/ssh/sshd_config",
        "PasswordAuthentication no\nPermitRootLogin no\n",
    );
    sb.write("root/usr/sbin/sshd", "");
    sb.write("root/etc/hostname", "ts-host\n");
    sb.write(
        name,
        &format!(
            "[agent]\nid = \"ts-agent\"\n\n[[collectors.host]]\nroot = \"{}\"\nchecks = [\"host_sshd_password_auth_disabled\"]\n\n[timestamp]\nurl = \"{url}\"\ntimeout_seconds = 5\nca_file = \"{}\"\n",
            sb.dir.path().join("root").display(),
            ca.display()
        ),
    )
}

fn collect(sb: &Sandbox, cfg: &Path) -> serde_json::Value {
    let o = sb.evident_with(cfg, &["collect", "--format", "json"]);
    assert_code(&o, 0);
    serde_json::from_slice(&o.stdout).expect("json")
}

/// `(seq, bytes)` rows: checkpoint bodies or tokens.
type Rows = Vec<(i64, Vec<u8>)>;

/// `(checkpoint bodies, tokens by checkpoint seq)` of the sandbox's ledger.
fn ledger_state(sb: &Sandbox) -> (Rows, Rows) {
    let l = Ledger::open_read_only(sb.data().join("evidence.db")).expect("ledger");
    let cps = l
        .stored_checkpoints()
        .expect("cps")
        .into_iter()
        .map(|c| (c.seq, c.body))
        .collect();
    (cps, l.timestamps().expect("tokens"))
}

/// Whether `openssl ts -verify` accepts `token` over `data`, with the CA.
fn openssl_ts_verifies(dir: &Path, data: &[u8], token: &[u8], ca: &Path) -> bool {
    std::fs::write(dir.join("data"), data).expect("data");
    std::fs::write(dir.join("token.tst"), token).expect("token");
    let o = Command::new("openssl")
        .args([
            "ts",
            "-verify",
            "-data",
            "data",
            "-in",
            "token.tst",
            "-token_in",
            "-CAfile",
        ])
        .arg(ca)
        .current_dir(dir)
        .output()
        .expect("openssl ts -verify");
    o.status.success() && String::from_utf8_lossy(&o.stdout).contains("Verification: OK")
}

#[test]
fn tokens_from_a_local_tsa_verify_with_openssl_ts_and_go_into_packs() {
    let sb = Sandbox::new();
    let tsa = Tsa::start(Mode::Good);
    let cfg = config(&sb, "ts.toml", &tsa.url, &tsa.files.ca());
    let v = collect(&sb, &cfg);
    assert_eq!(v["timestamp"]["obtained"], 1, "{v}");
    assert_eq!(v["timestamp"]["pending"], 0, "{v}");
    std::thread::sleep(Duration::from_millis(1100));
    let v = collect(&sb, &cfg);
    assert_eq!(v["timestamp"]["obtained"], 1, "{v}");
    assert_eq!(tsa.queries(), 2);

    // Every checkpoint carries a token that openssl ts -verify accepts
    // over exactly the checkpoint body, and rejects over other bytes.
    let (cps, tokens) = ledger_state(&sb);
    assert_eq!(cps.len(), 2);
    assert_eq!(
        tokens.iter().map(|t| t.0).collect::<Vec<_>>(),
        cps.iter().map(|c| c.0).collect::<Vec<_>>()
    );
    let scratch = sb.dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).expect("mkdir");
    for ((_, body), (_, token)) in cps.iter().zip(&tokens) {
        assert!(openssl_ts_verifies(&scratch, body, token, &tsa.files.ca()));
    }
    assert!(!openssl_ts_verifies(
        &scratch,
        &cps[0].1,
        &tokens[1].1,
        &tsa.files.ca()
    ));

    // `evident checkpoint --out` writes the token beside the checkpoint.
    let saved = sb.dir.path().join("saved");
    let o = sb.evident_with(
        &cfg,
        &["checkpoint", "--out", saved.to_str().expect("utf8")],
    );
    assert_code(&o, 0);
    assert_eq!(
        std::fs::read(saved.join("checkpoint.tst")).expect("token"),
        tokens[1].1
    );

    // A pack carries the tokens next to their checkpoints; VERIFY.md's
    // openssl ts command passes as written, and evident-verify checks the imprints.
    let pack = sb.dir.path().join("pack");
    let o = sb.evident_with(
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
    );
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("2 timestamp token(s)"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        std::fs::read(pack.join("tsa-ca.pem")).expect("ca"),
        std::fs::read(tsa.files.ca()).expect("ca")
    );
    let md = std::fs::read_to_string(pack.join("VERIFY.md")).expect("md");
    let ts_commands: Vec<&str> = md
        .lines()
        .filter(|l| l.contains("openssl ts -verify"))
        .collect();
    assert_eq!(
        ts_commands,
        vec![
            "openssl ts -verify -data checkpoint/checkpoint -in checkpoint/checkpoint.tst -token_in -CAfile tsa-ca.pem",
            "for d in timestamps/*/; do openssl ts -verify -data \"$d\"checkpoint -in \"$d\"checkpoint.tst -token_in -CAfile tsa-ca.pem; done",
        ],
        "{md}"
    );
    for c in &ts_commands {
        let o = run(Command::new("sh").arg("-c").arg(c).current_dir(&pack));
        assert_code(&o, 0);
        assert!(stdout(&o).contains("Verification: OK"), "{}", stdout(&o));
    }
    let key = sb.dir.path().join("agent.pub.pem");
    std::fs::write(&key, stdout(&sb.evident_with(&cfg, &["key", "export"]))).expect("key");
    let o = run(evident_verify().args([
        "pack",
        pack.to_str().expect("utf8"),
        "--key",
        key.to_str().expect("utf8"),
        "--format",
        "json",
    ]));
    assert_code(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["timestamps"], 2, "{v}");
    assert_code(&sb.evident_with(&cfg, &["verify"]), 0);
}

#[test]
fn a_down_or_garbage_tsa_never_blocks_collection_and_the_timestamp_follows_later() {
    let sb = Sandbox::new();
    let tsa = Tsa::start(Mode::Garbage);
    // A closed port: nothing listens there.
    let dead = TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_url = format!("http://{}/tsa", dead.local_addr().expect("addr"));
    drop(dead);
    let down = config(&sb, "down.toml", &dead_url, &tsa.files.ca());
    let up = config(&sb, "up.toml", &tsa.url, &tsa.files.ca());

    // Down: collected and recorded, the checkpoint pending.
    let v = collect(&sb, &down);
    assert_eq!(v["findings"][0]["status"], "pass", "{v}");
    assert_eq!(v["timestamp"]["obtained"], 0, "{v}");
    assert_eq!(v["timestamp"]["pending"], 1, "{v}");
    let err = v["timestamp"]["error"].as_str().expect("error");
    assert!(err.contains("TSA unreachable"), "{err}");
    assert!(!err.contains(&dead_url), "the URL is not echoed: {err}");
    let (cps, tokens) = ledger_state(&sb);
    assert_eq!((cps.len(), tokens.len()), (1, 0));

    // Garbage: the same, now two pending.
    std::thread::sleep(Duration::from_millis(1100));
    let v = collect(&sb, &up);
    assert_eq!(v["timestamp"]["pending"], 2, "{v}");
    let err = v["timestamp"]["error"].as_str().expect("error");
    assert!(err.contains("unusable TSA answer"), "{err}");

    // A real token over other data (with the right nonce): refused on its imprint.
    tsa.set(Mode::WrongImprint);
    std::thread::sleep(Duration::from_millis(1100));
    let v = collect(&sb, &up);
    assert_eq!(v["timestamp"]["pending"], 3, "{v}");
    let err = v["timestamp"]["error"].as_str().expect("error");
    assert!(err.contains("message imprint"), "{err}");
    let (cps, tokens) = ledger_state(&sb);
    assert_eq!((cps.len(), tokens.len()), (3, 0));
    // The ledger itself is intact throughout.
    assert_code(&sb.evident_with(&up, &["verify"]), 0);

    // Back: the next run timestamps this checkpoint and every pending one.
    tsa.set(Mode::Good);
    std::thread::sleep(Duration::from_millis(1100));
    let v = collect(&sb, &up);
    assert_eq!(v["timestamp"]["obtained"], 4, "{v}");
    assert_eq!(v["timestamp"]["pending"], 0, "{v}");
    assert!(v["timestamp"]["error"].is_null(), "{v}");
    let (cps, tokens) = ledger_state(&sb);
    assert_eq!((cps.len(), tokens.len()), (4, 4));
    let scratch = sb.dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).expect("mkdir");
    for (seq, token) in &tokens {
        let body = &cps.iter().find(|c| c.0 == *seq).expect("checkpoint").1;
        assert!(openssl_ts_verifies(&scratch, body, token, &tsa.files.ca()));
    }
    // Nothing left: another run asks only for its own checkpoint.
    let before = tsa.queries();
    std::thread::sleep(Duration::from_millis(1100));
    let v = collect(&sb, &up);
    assert_eq!(v["timestamp"]["obtained"], 1, "{v}");
    assert_eq!(tsa.queries(), before + 1);
}

#[test]
fn a_token_swapped_to_another_checkpoint_is_rejected_by_evident_verify() {
    let sb = Sandbox::new();
    let tsa = Tsa::start(Mode::Good);
    let cfg = config(&sb, "ts.toml", &tsa.url, &tsa.files.ca());
    collect(&sb, &cfg);
    std::thread::sleep(Duration::from_millis(1100));
    collect(&sb, &cfg);
    let (_, tokens) = ledger_state(&sb);
    assert_eq!(tokens.len(), 2);
    let pack = sb.dir.path().join("pack");
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
    // Whoever holds the agent key re-signs SHA256SUMS over a pack whose
    // checkpoint carries the token of the earlier checkpoint: the checksums
    // and their signature pass, the imprint does not.
    std::fs::write(pack.join("checkpoint/checkpoint.tst"), &tokens[0].1).expect("swap");
    let mut sums = String::new();
    let mut names = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).expect("ls") {
            let p = e.expect("e").path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).expect("in").display().to_string());
            }
        }
    }
    walk(&pack, &pack, &mut names);
    names.retain(|n| n != "SHA256SUMS" && n != "SHA256SUMS.sig");
    names.sort();
    for n in &names {
        let bytes = std::fs::read(pack.join(n)).expect("read");
        sums.push_str(&format!(
            "{}  {n}\n",
            hex::encode(sha2::Sha256::digest(&bytes))
        ));
    }
    std::fs::write(pack.join("SHA256SUMS"), &sums).expect("sums");
    let signer =
        evident_evidence::signing::FileSigner::load(sb.data().join("agent-key.pem")).expect("key");
    let sig = evident_evidence::signing::Signer::sign(&signer, sums.as_bytes()).expect("sign");
    std::fs::write(pack.join("SHA256SUMS.sig"), sig).expect("sig");

    let o = run(evident_verify().args(["pack", pack.to_str().expect("utf8"), "--format", "json"]));
    assert_code(&o, 1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let codes: Vec<&str> = v["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(|p| p["code"].as_str())
        .collect();
    assert_eq!(codes, vec!["timestamp_invalid"], "{v}");
    assert!(
        v["problems"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("message imprint")),
        "{v}"
    );
    // openssl agrees.
    let o = run(Command::new("sh")
        .arg("-c")
        .arg("openssl ts -verify -data checkpoint/checkpoint -in checkpoint/checkpoint.tst -token_in -CAfile tsa-ca.pem")
        .current_dir(&pack));
    assert_ne!(o.status.code(), Some(0));
}
