//! Evidence packs: `evident pack`, then the checks VERIFY.md gives
//! (`sha256sum -c`, `openssl dgst`), `evident-verify pack` and
//! `evident verify PATH`, on an intact pack and after any byte of any file
//! changed.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{TimeZone, Utc};
use evident_evidence::canonical::{sha256_digest, to_canonical};
use evident_evidence::ledger::Ledger;
use evident_evidence::record::{
    FindingRecord, Record, Severity, SoaDecisionRecord, Status, Target, TargetKind, FRAMEWORK,
    SCHEMA_VERSION,
};
use evident_evidence::signing::{FileSigner, Signer};

use crate::support::{assert_code, evident_verify, run, stdout, Sandbox};

fn day(d: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, d, 12, 0, 0)
        .single()
        .expect("time")
}

/// A ledger of `runs` runs of 50 records (one run per day from 2026-01-01,
/// findings and SoA decisions) in the sandbox's data directory, signed
/// with the agent key; returns the public key file.
fn ledger(sb: &Sandbox, runs: u32) -> PathBuf {
    std::fs::create_dir_all(sb.data()).expect("data dir");
    let (signer, _) = FileSigner::load_or_create(sb.data().join("agent-key.pem")).expect("key");
    let pub_pem = sb.dir.path().join("agent.pub.pem");
    std::fs::write(&pub_pem, signer.public_key_pem()).expect("pub");
    let mut l = Ledger::open(sb.data().join("evidence.db")).expect("ledger");
    for run in 0..runs {
        let at = day(run + 1);
        let obs =
            to_canonical(&serde_json::json!({ "run": run, "sshd": { "PermitRootLogin": "no" } }));
        let digest = sha256_digest(&obs);
        let recs: Vec<Record> = (0..50)
            .map(|i| {
                let id = format!("r{run}-{i}");
                if i % 5 == 0 {
                    Record::SoaDecision(SoaDecisionRecord {
                        schema_version: SCHEMA_VERSION,
                        record_id: id,
                        run_id: format!("run-{run}"),
                        agent_id: "agent-1".into(),
                        framework: FRAMEWORK.into(),
                        control: format!("A.5.{}", i / 5 + 1),
                        applicable: Some(true),
                        justification: Some("in scope".into()),
                        recorded_at: at,
                        tool_version: "evident test".into(),
                    })
                } else {
                    Record::Finding(FindingRecord {
                        schema_version: SCHEMA_VERSION,
                        record_id: id,
                        run_id: format!("run-{run}"),
                        agent_id: "agent-1".into(),
                        framework: FRAMEWORK.into(),
                        controls: vec!["A.8.5".into()],
                        check_id: "host_sshd_root_login_disabled".into(),
                        severity: Severity::High,
                        target: Target {
                            kind: TargetKind::Host,
                            id: "web-1".into(),
                        },
                        resource_id: format!("sshd-{i}"),
                        status: if i % 7 == 0 {
                            Status::Fail
                        } else {
                            Status::Pass
                        },
                        reason_code: "root_login_disabled".into(),
                        reason: "PermitRootLogin is no".into(),
                        observed_at: at,
                        recorded_at: at,
                        tool_version: "evident test".into(),
                        observation_digest: digest.clone(),
                    })
                }
            })
            .collect();
        l.append_run(&[(digest, obs)], &recs, &signer, "agent-1", at)
            .expect("append");
    }
    pub_pem
}

/// The `sha256sum` and `openssl` command lines of VERIFY.md's `sh` blocks.
fn verify_md_commands(pack: &Path) -> Vec<String> {
    let md = std::fs::read_to_string(pack.join("VERIFY.md")).expect("VERIFY.md");
    let mut out = Vec::new();
    let mut in_sh = false;
    for line in md.lines() {
        match line.trim() {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            l if in_sh && (l.starts_with("sha256sum ") || l.starts_with("openssl ")) => {
                out.push(l.to_string())
            }
            _ => {}
        }
    }
    out
}

/// Run each command as VERIFY.md states, in the pack directory; true if all succeed.
fn standard_tools_accept(pack: &Path, commands: &[String]) -> bool {
    commands.iter().all(|c| {
        Command::new("sh")
            .arg("-c")
            .arg(c)
            .current_dir(pack)
            .output()
            .expect("sh")
            .status
            .success()
    })
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn pack_verifies_with_standard_tools_and_any_changed_byte_is_detected() {
    let sb = Sandbox::new();
    let key = ledger(&sb, 6);
    let pack = sb.dir.path().join("pack");
    let o = sb.evident(&[
        "pack",
        "--from",
        "2026-01-03",
        "--to",
        "2026-01-03",
        "--out",
        pack.to_str().expect("utf8"),
    ]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("50 records, 30 SoA decisions"),
        "{}",
        stdout(&o)
    );

    // The reports an auditor reads are in the pack and covered by SHA256SUMS.
    let sums = std::fs::read_to_string(pack.join("SHA256SUMS")).expect("sums");
    for name in [
        "soa.csv",
        "soa.xlsx",
        "soa.html",
        "oscal-assessment-results.json",
        "drift.json",
        "drift.md",
    ] {
        assert!(pack.join(name).is_file(), "{name} missing from the pack");
        assert!(
            sums.lines().any(|l| l.ends_with(&format!("  {name}"))),
            "{name} not in SHA256SUMS"
        );
    }
    let soa_csv = std::fs::read_to_string(pack.join("soa.csv")).expect("soa.csv");
    assert_eq!(soa_csv.split("\r\n").filter(|l| !l.is_empty()).count(), 94);

    let commands = verify_md_commands(&pack);
    assert_eq!(commands.len(), 3, "{commands:?}");
    assert!(commands[0] == "sha256sum -c SHA256SUMS", "{commands:?}");
    assert!(standard_tools_accept(&pack, &commands));
    let records = std::fs::read_to_string(pack.join("records.jsonl")).expect("records");
    assert_eq!(records.lines().count(), 50);
    assert!(records.lines().all(|l| l.contains("\"run_id\":\"run-2\"")));

    let pack_s = pack.to_str().expect("utf8");
    let key_s = key.to_str().expect("utf8");
    let o = run(evident_verify().args(["pack", pack_s, "--key", key_s]));
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("result:       OK, signed by the trusted key"),
        "{}",
        stdout(&o)
    );
    // Without --key the verdict is distinct: only the pack's own keys vouch.
    let o = run(evident_verify().args(["pack", pack_s]));
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("result:       OK, UNPINNED"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("checkpoint signed by "),
        "{}",
        stdout(&o)
    );
    assert_code(&sb.evident(&["verify", pack_s, "--key", key_s]), 0);

    // The record command VERIFY.md gives works on a proof file.
    let md = std::fs::read_to_string(pack.join("VERIFY.md")).expect("md");
    let proof = md
        .lines()
        .find_map(|l| l.trim().strip_prefix("evident-verify record "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("record command");
    let o = run(evident_verify()
        .current_dir(&pack)
        .args(["record", proof, "--key", key_s]));
    assert_code(&o, 0);

    // Any changed byte of any file is detected by the standard tools and by both verifiers.
    let mut all = Vec::new();
    files(&pack, &mut all);
    all.sort();
    assert!(all.len() > 70, "{}", all.len());
    for (n, file) in all.iter().enumerate() {
        let original = std::fs::read(file).expect("read");
        let mut changed = original.clone();
        let pos = (n * 7919) % changed.len();
        changed[pos] ^= 0x01;
        std::fs::write(file, &changed).expect("write");
        let rel = file
            .strip_prefix(&pack)
            .expect("inside")
            .display()
            .to_string();
        assert!(
            !standard_tools_accept(&pack, &commands),
            "sha256sum/openssl missed a change in {rel}"
        );
        let o = run(evident_verify().args(["pack", pack_s, "--key", key_s]));
        assert_code(&o, 1);
        // `evident verify` on every tenth file (it is the same library check).
        if n % 10 == 0 || rel.starts_with("SHA256SUMS") {
            assert_code(&sb.evident(&["verify", pack_s, "--key", key_s]), 1);
        }
        std::fs::write(file, &original).expect("restore");
    }
    assert!(standard_tools_accept(&pack, &commands));

    // An added file is detected by evident-verify (sha256sum -c ignores it).
    std::fs::write(pack.join("extra.txt"), "x").expect("write");
    assert_code(
        &run(evident_verify().args(["pack", pack_s, "--key", key_s])),
        1,
    );
}

#[test]
fn pack_of_a_ledger_rewritten_after_the_saved_checkpoint_fails() {
    let sb = Sandbox::new();
    let key = ledger(&sb, 3);
    let key_s = key.to_str().expect("utf8");
    let saved = sb.dir.path().join("saved");
    assert_code(
        &sb.evident(&["checkpoint", "--out", saved.to_str().expect("utf8")]),
        0,
    );
    // The ledger grows: a pack with --since-checkpoint verifies.
    let pack = sb.dir.path().join("pack-ok");
    assert_code(
        &sb.evident(&[
            "pack",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-31",
            "--out",
            pack.to_str().expect("utf8"),
            "--since-checkpoint",
            saved.to_str().expect("utf8"),
        ]),
        0,
    );
    let ok = run(evident_verify().args([
        "pack",
        pack.to_str().expect("utf8"),
        "--key",
        key_s,
        "--since-checkpoint",
        saved.to_str().expect("utf8"),
    ]));
    assert_code(&ok, 0);

    // Someone with root and the key rebuilds the ledger without its last
    // run (truncation) and signs it again: the pack verifies on its own
    // but not against the saved checkpoint.
    std::fs::remove_file(sb.data().join("evidence.db")).expect("rm");
    for f in ["evidence.db-wal", "evidence.db-shm"] {
        let _ = std::fs::remove_file(sb.data().join(f));
    }
    let _ = ledger(&sb, 2);
    let pack = sb.dir.path().join("pack-truncated");
    assert_code(
        &sb.evident(&[
            "pack",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-31",
            "--out",
            pack.to_str().expect("utf8"),
        ]),
        0,
    );
    let args = |p: &Path| {
        vec![
            "pack".to_string(),
            p.to_str().expect("utf8").to_string(),
            "--key".into(),
            key_s.to_string(),
        ]
    };
    assert_code(&run(evident_verify().args(args(&pack))), 0);
    let o = run(evident_verify()
        .args(args(&pack))
        .args(["--since-checkpoint", saved.to_str().expect("utf8")]));
    assert_code(&o, 1);
    assert!(stdout(&o).contains("[truncated]"), "{}", stdout(&o));

    // Rewritten: same length, one record changed, re-signed.
    std::fs::remove_file(sb.data().join("evidence.db")).expect("rm");
    for f in ["evidence.db-wal", "evidence.db-shm"] {
        let _ = std::fs::remove_file(sb.data().join(f));
    }
    let _ = ledger(&sb, 4);
    let l = Ledger::open_read_only(sb.data().join("evidence.db")).expect("open");
    assert_eq!(l.len().expect("len"), 200);
    drop(l);
    // Rewrite record #0 (covered by the saved checkpoint) and sign a new
    // checkpoint over the rewritten records.
    let c = rusqlite::Connection::open(sb.data().join("evidence.db")).expect("raw");
    c.execute_batch(
        "DROP TRIGGER leaves_no_update; DROP TRIGGER checkpoints_no_delete;
         UPDATE leaves SET record = CAST(replace(CAST(record AS TEXT), 'A.5.1', 'A.5.9') AS BLOB) WHERE idx = 0;
         DELETE FROM checkpoints;",
    )
    .expect("tamper");
    drop(c);
    let signer = FileSigner::load(sb.data().join("agent-key.pem")).expect("key");
    let l = Ledger::open_read_only(sb.data().join("evidence.db")).expect("open");
    let bytes = l.records_raw().expect("raw");
    let t =
        evident_evidence::merkle::MerkleTree::from_leaves(bytes.iter().map(|(_, b)| b.as_slice()));
    let cp = evident_evidence::checkpoint::Checkpoint::sign(
        "agent-1",
        200,
        t.current_root(),
        day(9),
        &signer,
    )
    .expect("sign");
    drop(l);
    let c = rusqlite::Connection::open(sb.data().join("evidence.db")).expect("raw");
    c.execute(
        "INSERT INTO checkpoints (tree_size, body, signature) VALUES (200, ?1, ?2)",
        rusqlite::params![cp.body, cp.signature],
    )
    .expect("insert");
    drop(c);
    let pack = sb.dir.path().join("pack-rewritten");
    assert_code(
        &sb.evident(&[
            "pack",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-31",
            "--out",
            pack.to_str().expect("utf8"),
            "--since-checkpoint",
            saved.to_str().expect("utf8"),
        ]),
        0,
    );
    assert_code(&run(evident_verify().args(args(&pack))), 0);
    let o = run(evident_verify()
        .args(args(&pack))
        .args(["--since-checkpoint", saved.to_str().expect("utf8")]));
    assert_code(&o, 1);
    assert!(stdout(&o).contains("[not_consistent]"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("[consistency_proof_failed]"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn key_rotate_hands_over_and_the_old_key_still_verifies_everything() {
    let sb = Sandbox::new();
    let old_pub = ledger(&sb, 1);
    let old_pub_s = old_pub.to_str().expect("utf8");
    let o = sb.evident(&["key", "rotate"]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("rotated the signing key"),
        "{}",
        stdout(&o)
    );
    let new_pem = stdout(&sb.evident(&["key", "export"]));
    assert_ne!(
        new_pem,
        std::fs::read_to_string(&old_pub).expect("old pub"),
        "a new key"
    );
    // The ledger takes runs signed by the new key only.
    let new = FileSigner::load(sb.data().join("agent-key.pem")).expect("new key");
    let retired: Vec<PathBuf> = std::fs::read_dir(sb.data())
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().contains(".retired-"))
        .collect();
    assert_eq!(retired.len(), 1, "{retired:?}");
    let old = FileSigner::load(&retired[0]).expect("retired key");
    let mut l = Ledger::open(sb.data().join("evidence.db")).expect("open");
    let rec = |id: &str| {
        Record::SoaDecision(SoaDecisionRecord {
            schema_version: SCHEMA_VERSION,
            record_id: id.into(),
            run_id: "run-x".into(),
            agent_id: "agent-1".into(),
            framework: FRAMEWORK.into(),
            control: "A.5.1".into(),
            applicable: Some(true),
            justification: None,
            recorded_at: day(20),
            tool_version: "evident test".into(),
        })
    };
    let err = l
        .append_run(&[], &[rec("x")], &old, "agent-1", day(20))
        .expect_err("old key refused");
    assert!(err.to_string().contains("rotated to"), "{err}");
    l.append_run(&[], &[rec("y")], &new, "agent-1", day(20))
        .expect("new key");
    drop(l);
    // Pinning the old key verifies the whole ledger and a record proof.
    assert_code(&sb.evident(&["verify", "--key", old_pub_s]), 0);
    let proof = sb.dir.path().join("y.proof.json");
    assert_code(
        &sb.evident(&["prove", "y", "--out", proof.to_str().expect("utf8")]),
        0,
    );
    assert_code(
        &run(evident_verify().args(["record", proof.to_str().expect("utf8"), "--key", old_pub_s])),
        0,
    );
    // A signer with yet another key is refused with the documented message.
    let stranger_dir = tempfile::tempdir().expect("tempdir");
    let (stranger, _) = FileSigner::load_or_create(stranger_dir.path().join("k.pem")).expect("key");
    let err = Ledger::open(sb.data().join("evidence.db"))
        .expect("open")
        .append_run(&[], &[rec("z")], &stranger, "agent-1", day(21))
        .expect_err("refused");
    assert!(
        err.to_string()
            .starts_with("the signing key changed: the ledger is signed by "),
        "{err}"
    );
}

#[test]
fn tar_gz_pack_is_deterministic_extracts_with_tar_and_a_changed_byte_fails() {
    let sb = Sandbox::new();
    let key = ledger(&sb, 3);
    let key_s = key.to_str().expect("utf8");
    let write = |dir: &str| {
        let out = sb.dir.path().join(dir).join("audit-2026.tar.gz");
        std::fs::create_dir_all(out.parent().expect("parent")).expect("mkdir");
        let o = sb.evident(&[
            "pack",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-31",
            "--out",
            out.to_str().expect("utf8"),
        ]);
        assert_code(&o, 0);
        out
    };
    let tgz = write("a");
    // The same pack gives the same bytes (the signature is deterministic
    // ECDSA, RFC 6979; every header field is fixed).
    let again = write("b");
    let bytes = std::fs::read(&tgz).expect("read");
    assert_eq!(bytes, std::fs::read(&again).expect("read"));
    // Never overwritten.
    let o = sb.evident(&[
        "pack",
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-31",
        "--out",
        tgz.to_str().expect("utf8"),
    ]);
    assert_code(&o, 1);
    assert_eq!(std::fs::read(&tgz).expect("read"), bytes);

    // Both verifiers read it directly.
    let tgz_s = tgz.to_str().expect("utf8");
    let o = run(evident_verify().args(["pack", tgz_s, "--key", key_s]));
    assert_code(&o, 0);
    assert!(stdout(&o).contains("result:       OK"), "{}", stdout(&o));
    assert_code(&sb.evident(&["verify", tgz_s, "--key", key_s]), 0);

    // The real tar extracts it into audit-2026/, where VERIFY.md's
    // commands (tar xzf, then sha256sum -c and openssl dgst) pass.
    let x = sb.dir.path().join("x");
    std::fs::create_dir_all(&x).expect("mkdir");
    std::fs::copy(&tgz, x.join("audit-2026.tar.gz")).expect("copy");
    let o = run(Command::new("tar")
        .args(["xzf", "audit-2026.tar.gz"])
        .current_dir(&x));
    assert_code(&o, 0);
    let listing = run(Command::new("tar").args(["tzvf", tgz_s]));
    assert_code(&listing, 0);
    for line in stdout(&listing).lines() {
        assert!(
            line.starts_with("-rw-r--r-- 0/0") || line.starts_with("drwxr-xr-x 0/0"),
            "{line}"
        );
        assert!(line.contains(" audit-2026/"), "{line}");
    }
    let pack = x.join("audit-2026");
    let md = std::fs::read_to_string(pack.join("VERIFY.md")).expect("VERIFY.md");
    assert!(md.contains("tar xzf audit-2026.tar.gz"), "{md}");
    assert!(md.contains("cd audit-2026"), "{md}");
    let commands = verify_md_commands(&pack);
    assert_eq!(commands.len(), 3, "{commands:?}");
    assert!(standard_tools_accept(&pack, &commands));
    // The extracted directory verifies the same.
    assert_code(
        &run(evident_verify().args(["pack", pack.to_str().expect("utf8"), "--key", key_s])),
        0,
    );

    // A changed byte inside the tarball: a file's content (recompressed
    // so that gzip is intact) is caught by SHA256SUMS; a changed byte of
    // the compressed stream is refused as unreadable.
    let mut tar_bytes = Vec::new();
    {
        use std::io::Read;
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut tar_bytes)
            .expect("gunzip");
    }
    let needle = b"\"run_id\":\"run-1\"";
    let at = tar_bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("a record in the tar");
    tar_bytes[at + 10] ^= 0x01;
    let changed = {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar_bytes).expect("gzip");
        gz.finish().expect("gzip")
    };
    let bad = sb.dir.path().join("changed.tar.gz");
    std::fs::write(&bad, &changed).expect("write");
    let bad_s = bad.to_str().expect("utf8");
    let o = run(evident_verify().args(["pack", bad_s, "--key", key_s, "--format", "json"]));
    assert_code(&o, 1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(
        v["problems"]
            .as_array()
            .expect("problems")
            .iter()
            .any(|p| p["code"] == "file_changed"),
        "{v}"
    );
    assert_code(&sb.evident(&["verify", bad_s, "--key", key_s]), 1);
    for pos in [30, bytes.len() / 2, bytes.len() - 6] {
        let mut raw = bytes.clone();
        raw[pos] ^= 0x01;
        std::fs::write(&bad, &raw).expect("write");
        let o = run(evident_verify().args(["pack", bad_s, "--key", key_s]));
        assert_ne!(o.status.code(), Some(0), "byte {pos} of the gzip stream");
    }
}
