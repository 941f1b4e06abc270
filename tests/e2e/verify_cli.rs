//! End-to-end tests of the `evident-verify` binary on real files (moved
//! here from `evidence/tests/` so that there is one integration-test binary).

use std::path::Path;
use std::process::{Command, Output};

use chrono::{TimeZone, Utc};
use evident_evidence::ledger::Ledger;
use evident_evidence::record::{Record, SoaDecisionRecord, FRAMEWORK, SCHEMA_VERSION};
use evident_evidence::signing::{FileSigner, Signer};

use crate::support::evident_verify;

fn soa(id: &str) -> Record {
    Record::SoaDecision(SoaDecisionRecord {
        schema_version: SCHEMA_VERSION,
        record_id: id.into(),
        run_id: "run-1".into(),
        agent_id: "agent-1".into(),
        framework: FRAMEWORK.into(),
        control: "A.5.1".into(),
        applicable: Some(true),
        justification: None,
        recorded_at: Utc
            .with_ymd_and_hms(2025, 6, 1, 0, 0, 0)
            .single()
            .expect("time"),
        tool_version: "evident 0.1.0".into(),
    })
}

fn bin(args: &[&str]) -> Output {
    evident_verify()
        .args(args)
        .output()
        .expect("run evident-verify")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn setup(dir: &Path) -> FileSigner {
    let (signer, _) = FileSigner::load_or_create(dir.join("keys/agent.pem")).expect("key");
    std::fs::write(dir.join("agent.pub.pem"), signer.public_key_pem()).expect("pub");
    let mut l = Ledger::open(dir.join("ledger.db")).expect("open");
    l.append_run(&[], &[soa("a"), soa("b")], &signer, "agent-1", Utc::now())
        .expect("run 1");
    let cp = l
        .append_run(&[], &[soa("c")], &signer, "agent-1", Utc::now())
        .expect("run 2");
    cp.write_to_dir(dir.join("cp")).expect("write checkpoint");
    signer
}

#[test]
fn ledger_ok_and_tampered() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    setup(d);
    let ledger = d.join("ledger.db");
    let ledger = ledger.to_str().expect("utf8");
    let key = d.join("agent.pub.pem");
    let key = key.to_str().expect("utf8");

    let o = bin(&["ledger", ledger, "--key", key]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("3 records, 2 checkpoints"),
        "{}",
        text(&o)
    );

    let o = bin(&["ledger", ledger, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["ok"], true);
    assert_eq!(v["latest_verified_checkpoint"]["tree_size"], 3);

    let c = rusqlite::Connection::open(d.join("ledger.db")).expect("raw");
    c.execute_batch(
        "DROP TRIGGER leaves_no_update; UPDATE leaves SET record = CAST(replace(CAST(record AS TEXT), 'A.5.1', 'A.5.2') AS BLOB) WHERE idx = 1;",
    )
    .expect("tamper");
    drop(c);
    let o = bin(&["ledger", ledger]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("record #1 (b)"), "{}", text(&o));
    let o = bin(&["ledger", ledger, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["problems"][0]["code"], "leaf_hash_mismatch");
    assert_eq!(v["problems"][0]["index"], 1);

    let o = bin(&["ledger", d.join("missing.db").to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!d.join("missing.db").exists());
}

#[test]
fn an_unpinned_ledger_verdict_is_distinct_from_a_pinned_one_and_a_foreign_key_fails() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let signer = setup(d);
    let ledger = d.join("ledger.db");
    let ledger = ledger.to_str().expect("utf8");
    let key = d.join("agent.pub.pem");
    let key = key.to_str().expect("utf8");

    // Without --key the signatures are only checked against the ledger's own
    // keys: the verdict says so and names the key id to compare.
    let o = bin(&["ledger", ledger]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("OK, UNPINNED"), "{}", text(&o));
    assert!(text(&o).contains(signer.key_id()), "{}", text(&o));
    let o = bin(&["ledger", ledger, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["trusted_key_id"], serde_json::Value::Null);

    let o = bin(&["ledger", ledger, "--key", key]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("OK, signed by the trusted key"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("UNPINNED"), "{}", text(&o));

    // Another agent's key is not the signer: a problem, exit 1.
    let (other, _) = FileSigner::load_or_create(d.join("other/agent.pem")).expect("other key");
    let other_pub = d.join("other.pub.pem");
    std::fs::write(&other_pub, other.public_key_pem()).expect("pub");
    let o = bin(&["ledger", ledger, "--key", other_pub.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("[untrusted_key]"), "{}", text(&o));
    assert!(!text(&o).contains("result:       OK"), "{}", text(&o));
}

#[test]
fn checkpoint_dir_verifies_with_tool_and_openssl() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    setup(d);
    let cp = d.join("cp");
    let cps = cp.to_str().expect("utf8");
    let key = d.join("agent.pub.pem");
    let o = bin(&["checkpoint", cps, "--key", key.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("trusted key"));
    let o = bin(&["checkpoint", cps]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("out of band"));

    if Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let o = Command::new("openssl")
            .current_dir(&cp)
            .args([
                "dgst",
                "-sha256",
                "-verify",
                "checkpoint.pub.pem",
                "-signature",
                "checkpoint.sig",
                "checkpoint",
            ])
            .output()
            .expect("openssl");
        assert!(o.status.success(), "{}", text(&o));
    }

    // Another key is rejected; a changed body fails.
    let other = tempfile::tempdir().expect("tempdir");
    let s2 = setup(other.path());
    std::fs::write(d.join("other.pub.pem"), s2.public_key_pem()).expect("write");
    let o = bin(&[
        "checkpoint",
        cps,
        "--key",
        d.join("other.pub.pem").to_str().expect("utf8"),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let body = std::fs::read_to_string(cp.join("checkpoint")).expect("read");
    std::fs::write(cp.join("checkpoint"), body.replace("size 3", "size 4")).expect("write");
    let o = bin(&["checkpoint", cps]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["ledger"][..],
        &["frobnicate", "x"][..],
        &["ledger", "x", "--format", "xml"][..],
        &["ledger", "x", "--key"][..],
        &["ledger", "x", "--bogus"][..],
        &["record"][..],
        &["checkpoint", "x", "--since-checkpoint", "y"][..],
        &["ledger", "x", "--since-checkpoint"][..],
    ] {
        let o = bin(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("usage:"), "{args:?}");
    }
    assert_eq!(bin(&["--help"]).status.code(), Some(0));
}

#[test]
fn since_checkpoint_catches_deleted_newest_records() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let signer = setup(d);
    let ledger = d.join("ledger.db");
    let ledger = ledger.to_str().expect("utf8");
    let key = d.join("agent.pub.pem");
    let key = key.to_str().expect("utf8");
    let cp = d.join("cp");
    let cp = cp.to_str().expect("utf8");

    // The ledger grows after the checkpoint was saved: still consistent.
    let mut l = Ledger::open(ledger).expect("open");
    l.append_run(&[], &[soa("d")], &signer, "agent-1", Utc::now())
        .expect("run 3");
    drop(l);
    let o = bin(&["ledger", ledger, "--since-checkpoint", cp, "--key", key]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("consistency proof 3 -> 4"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("extends the saved checkpoint"));

    // Delete the newest records (and the checkpoints over them).
    let c = rusqlite::Connection::open(d.join("ledger.db")).expect("raw");
    c.execute_batch(
        "DROP TRIGGER leaves_no_delete; DROP TRIGGER checkpoints_no_delete;
         DELETE FROM leaves WHERE idx >= 2; DELETE FROM checkpoints WHERE tree_size > 2;",
    )
    .expect("tamper");
    drop(c);
    let o = bin(&["ledger", ledger, "--since-checkpoint", cp, "--key", key]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("ledger has 2 records, the saved checkpoint covers 3"),
        "{}",
        text(&o)
    );
    let o = bin(&[
        "ledger",
        ledger,
        "--since-checkpoint",
        cp,
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["ok"], false);
    assert_eq!(v["since_checkpoint"]["problems"][0]["code"], "truncated");
    assert_eq!(v["since_checkpoint"]["key_pinned"], false);

    let o = bin(&[
        "ledger",
        ledger,
        "--since-checkpoint",
        d.join("nope").to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn record_proof_verifies_and_fails_after_any_change() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    setup(d);
    let key = d.join("agent.pub.pem");
    let key = key.to_str().expect("utf8");
    let l = Ledger::open_read_only(d.join("ledger.db")).expect("open");
    let proof = evident_evidence::proof::prove_record(&l, "b").expect("prove");
    let file = d.join("b.proof.json");
    let bytes = proof.to_json_bytes();
    std::fs::write(&file, &bytes).expect("write");
    let f = file.to_str().expect("utf8");

    let o = bin(&["record", f, "--key", key]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("record:     b (#1)"), "{}", text(&o));
    assert!(text(&o).contains("trusted key"));
    let o = bin(&["record", f, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["key_pinned"], false);
    assert_eq!(v["record"]["record_id"], "b");

    // A changed field (the record says something else) fails.
    let changed = String::from_utf8(bytes.clone())
        .expect("utf8")
        .replace("A.5.1", "A.5.2");
    std::fs::write(&file, changed).expect("write");
    let o = bin(&["record", f, "--key", key]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not included"), "{}", text(&o));
    // Re-indented: same content, other bytes.
    let pretty = serde_json::to_vec_pretty(
        &serde_json::from_slice::<serde_json::Value>(&bytes).expect("json"),
    )
    .expect("pretty");
    std::fs::write(&file, pretty).expect("write");
    let o = bin(&["record", f]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("canonical"), "{}", text(&o));

    let o = bin(&["record", d.join("missing.json").to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

/// `… | head -1`: a reader that goes away ends both verifiers quietly with
/// status 141 (never 0: a verdict nobody read is no pass), without a panic.
#[test]
fn a_closed_stdout_ends_the_verifiers_with_141_and_no_panic() {
    use crate::support::{assert_code, evident, example_config, Sandbox};
    let sb = Sandbox::new();
    assert_code(&sb.evident(&["collect"]), 0);
    let ledger = sb.data().join("evidence.db");
    let closed = || {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        writer
    };
    let mut verify = evident();
    verify
        .arg("--config")
        .arg(example_config())
        .arg("--data-dir")
        .arg(sb.data())
        .arg("verify");
    let mut auditor = evident_verify();
    auditor.arg("ledger").arg(&ledger);
    // The report commands too: a CI gate (`collect --fail-on fail`, `soa
    // --check`) whose reader went away must not exit 0.
    let mut cmds = vec![verify, auditor];
    for args in [
        &["collect", "--fail-on", "fail"][..],
        &["soa"][..],
        &["soa", "--format", "json"][..],
        &["soa", "--check"][..],
        &["checks"][..],
        &["status"][..],
        &["drift", "--since", "2020-01-01"][..],
        &["export", "oscal"][..],
    ] {
        let mut c = evident();
        c.arg("--config")
            .arg(example_config())
            .arg("--data-dir")
            .arg(sb.data())
            .args(args);
        cmds.push(c);
    }
    for mut cmd in cmds {
        let out = cmd
            .stdout(closed())
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{cmd:?}: {err}");
        assert!(!err.contains("panicked"), "{cmd:?}: {err}");
    }

    // A full disk is an error of one line, not a panic.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = evident_verify()
        .arg("ledger")
        .arg(&ledger)
        .stdout(full)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot write to standard output"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// An auditor's read-only copy: a ledger the user can read but neither it nor
/// its directory can be written (SQLite cannot make the WAL index there). As
/// root the verifier runs as `nobody` (setpriv), since root may write anyway.
#[test]
fn a_ledger_readable_but_not_writable_verifies_and_a_pending_wal_is_named() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    setup(d);
    let ro = d.join("ro");
    std::fs::create_dir(&ro).expect("mkdir");
    std::fs::copy(d.join("ledger.db"), ro.join("ledger.db")).expect("copy");
    let mode = |p: &Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod")
    };
    mode(d, 0o755);
    mode(&ro.join("ledger.db"), 0o444);
    mode(&ro, 0o555);
    let as_root = std::fs::metadata(&ro).expect("meta").uid() == 0;
    let run = || {
        let program = evident_verify().get_program().to_owned();
        let mut c = if as_root {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(program);
            c
        } else {
            Command::new(program)
        };
        c.arg("ledger")
            .arg(ro.join("ledger.db"))
            .output()
            .expect("run")
    };
    let o = run();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("3 records, 2 checkpoints"),
        "{}",
        text(&o)
    );
    // Writes not yet folded into the file: said so, never a verdict on a
    // ledger read without them.
    mode(&ro, 0o755);
    std::fs::write(ro.join("ledger.db-wal"), b"pending writes").expect("wal");
    mode(&ro, 0o555);
    let o = run();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not yet folded"), "{}", text(&o));
    mode(&ro, 0o755);
}
