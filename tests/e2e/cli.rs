//! The command line as a user drives it.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::support::*;

fn collect_json(sb: &Sandbox) -> serde_json::Value {
    let o = sb.evident(&["collect", "--format", "json"]);
    assert_code(&o, 0);
    serde_json::from_slice(&o.stdout).expect("collect --format json prints JSON")
}

#[test]
fn collect_records_the_three_host_check_areas_of_this_machine() {
    let sb = Sandbox::new();
    let out = collect_json(&sb);
    let findings = out["findings"].as_array().expect("findings array");
    for prefix in ["host_sshd_", "host_clock_", "host_apt_"] {
        let of_area: Vec<_> = findings
            .iter()
            .filter(|f| {
                f["check_id"]
                    .as_str()
                    .is_some_and(|c| c.starts_with(prefix))
            })
            .collect();
        assert!(!of_area.is_empty(), "no finding from {prefix}*: {out:#}");
        for f in of_area {
            let status = f["status"].as_str().expect("status");
            assert!(
                ["pass", "fail", "error", "not_applicable"].contains(&status),
                "{f:#}"
            );
            assert!(!f["reason"].as_str().unwrap_or("").is_empty(), "{f:#}");
            assert!(!f["reason_code"].as_str().unwrap_or("").is_empty(), "{f:#}");
            assert!(f["observation_digest"]
                .as_str()
                .is_some_and(|d| d.starts_with("sha256:")));
            assert!(f["controls"].as_array().is_some_and(|c| !c.is_empty()));
        }
    }
    // The key was created with mode 0600.
    let mode = std::fs::metadata(sb.data().join("agent-key.pem"))
        .expect("key exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let mode = std::fs::metadata(sb.data().join("evidence.db"))
        .expect("ledger exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the ledger is for the agent only");
    // And the text summary of a second run names the checks.
    let o = sb.evident(&["collect"]);
    assert_code(&o, 0);
    let text = stdout(&o);
    assert!(
        text.contains("host_sshd_") && text.contains("status"),
        "{text}"
    );
}

#[test]
fn both_verifiers_pass_on_a_fresh_ledger() {
    let sb = Sandbox::new();
    collect_json(&sb);
    collect_json(&sb);
    let o = sb.evident(&["verify"]);
    assert_code(&o, 0);
    let ledger = sb.data().join("evidence.db");
    let o = run(evident_verify().arg("ledger").arg(&ledger));
    assert_code(&o, 0);
    // Pinning the agent's own key passes too.
    let key = sb.dir.path().join("key.pem");
    let exported = sb.evident(&["key", "export"]);
    assert_code(&exported, 0);
    std::fs::write(&key, &exported.stdout).expect("write key");
    assert_code(
        &run(evident_verify()
            .arg("ledger")
            .arg(&ledger)
            .arg("--key")
            .arg(&key)),
        0,
    );
    assert_code(
        &sb.evident(&["verify", "--key", key.to_str().expect("utf8")]),
        0,
    );
}

#[test]
fn flipping_one_byte_of_a_stored_record_fails_both_verifiers_naming_it() {
    let sb = Sandbox::new();
    let out = collect_json(&sb);
    let victim = out["findings"][0]["record_id"]
        .as_str()
        .expect("record id")
        .to_string();
    let ledger = sb.data().join("evidence.db");
    {
        let conn = rusqlite::Connection::open(&ledger).expect("open sqlite");
        // The append-only triggers guard against accidents; someone editing
        // the file on purpose drops them first.
        conn.execute_batch("DROP TRIGGER leaves_no_update")
            .expect("drop trigger");
        let (rowid, mut body): (i64, Vec<u8>) = conn
            .query_row(
                "SELECT rowid, record FROM leaves WHERE record_id = ?1",
                [&victim],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("the record is stored");
        // Flip one byte inside the reason text (keeps the JSON well formed).
        let pos = body
            .windows(9)
            .position(|w| w == b"\"reason\":")
            .expect("reason field")
            + 10;
        body[pos] ^= 0x01;
        conn.execute(
            "UPDATE leaves SET record = ?1 WHERE rowid = ?2",
            rusqlite::params![body, rowid],
        )
        .expect("tamper");
    }
    let o = sb.evident(&["verify"]);
    assert_code(&o, 1);
    assert!(
        stdout(&o).contains(&victim) || stderr(&o).contains(&victim),
        "evident verify must name {victim}:\n{}{}",
        stdout(&o),
        stderr(&o)
    );
    let o = run(evident_verify().arg("ledger").arg(&ledger));
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stdout(&o).contains(&victim) || stderr(&o).contains(&victim),
        "evident-verify must name {victim}:\n{}{}",
        stdout(&o),
        stderr(&o)
    );
}

#[test]
fn checkpoint_verifies_with_the_openssl_command_from_the_readme() {
    let sb = Sandbox::new();
    collect_json(&sb);
    let cp = sb.dir.path().join("cp");
    assert_code(
        &sb.evident(&["checkpoint", "--out", cp.to_str().expect("utf8")]),
        0,
    );
    let exported = sb.evident(&["key", "export"]);
    assert_code(&exported, 0);
    std::fs::write(cp.join("key.pem"), &exported.stdout).expect("write key");
    // Exactly as in the README.
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README");
    let command = "openssl dgst -sha256 -verify key.pem -signature checkpoint.sig checkpoint";
    assert!(readme.contains(command), "README must show: {command}");
    let o = run(Command::new("sh").arg("-c").arg(command).current_dir(&cp));
    assert_code(&o, 0);
    assert!(stdout(&o).contains("Verified OK"), "{}", stdout(&o));
    // The body names the tree size and the key id.
    let body = std::fs::read_to_string(cp.join("checkpoint")).expect("body");
    assert!(body.starts_with("evident-checkpoint/v1\n"), "{body}");
    // A changed body no longer verifies.
    std::fs::write(cp.join("checkpoint"), body.replace("size ", "size 1")).expect("tamper");
    let o = run(Command::new("sh").arg("-c").arg(command).current_dir(&cp));
    assert_ne!(
        o.status.code(),
        Some(0),
        "tampered checkpoint verified: {}",
        stdout(&o)
    );
}

#[test]
fn soa_csv_has_a_header_and_93_rows() {
    let sb = Sandbox::new();
    let cfg = sb.write(
        "soa.toml",
        "[[collectors.host]]\n[soa.controls.\"A.7.4\"]\napplicable = false\njustification = \"no premises\"\n",
    );
    let o = sb.evident_with(&cfg, &["collect", "--format", "json"]);
    assert_code(&o, 0);
    let run: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let o = sb.evident_with(&cfg, &["soa", "--format", "csv"]);
    assert_code(&o, 0);
    let text = stdout(&o);
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 94, "{text}");
    assert!(lines[0].starts_with("control,title,applicable,justification,implementation"));
    // The configured decisions are recorded and shown.
    let a74 = lines
        .iter()
        .find(|l| l.starts_with("A.7.4,"))
        .expect("A.7.4 row");
    assert!(a74.contains(",no,"), "{a74}");
    // A control with a finding other than not_applicable is evaluated; which
    // one depends on this machine (no sshd makes A.8.5 not applicable).
    let evaluated = run["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["status"] != "not_applicable")
        .and_then(|f| f["controls"][0].as_str())
        .expect("some host finding applies on any Linux machine")
        .to_string();
    let row = lines
        .iter()
        .find(|l| l.starts_with(&format!("{evaluated},")))
        .expect("row of the evaluated control");
    assert!(
        !row.contains("not_evaluated"),
        "{evaluated} has host evidence: {row}"
    );
    let a51 = lines
        .iter()
        .find(|l| l.starts_with("A.5.1,"))
        .expect("A.5.1 row");
    assert!(
        a51.contains("not_evaluated"),
        "nothing evaluates A.5.1: {a51}"
    );
}

#[test]
fn controls_lists_93_and_checks_list_their_controls() {
    let sb = Sandbox::new();
    let o = sb.evident(&["controls", "--format", "json"]);
    assert_code(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(93));
    let o = sb.evident(&["checks", "--format", "json"]);
    assert_code(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let checks = v.as_array().expect("array");
    assert!(checks.len() >= 3);
    assert!(checks
        .iter()
        .all(|c| c["controls"].as_array().is_some_and(|a| !a.is_empty())));
}

#[test]
fn invalid_config_lists_every_problem_and_touches_nothing() {
    let sb = Sandbox::new();
    let cfg = sb.write(
        "bad.toml",
        "[agent]\ncolour = \"blue\"\n\n[[collectors.host]]\napt_index_max_age_days = \"soon\"\n\n[soa.controls.\"A.8.99\"]\napplicable = true\n",
    );
    for cmd in [&["collect"][..], &["validate"], &["soa"]] {
        let o = sb.evident_with(&cfg, cmd);
        assert_code(&o, 2);
        let err = stderr(&o);
        assert!(
            err.contains("bad.toml:2:1") && err.contains("colour"),
            "{err}"
        );
        assert!(err.contains("bad.toml:5:26"), "{err}");
        assert!(
            !sb.data().exists(),
            "an invalid config must not create the data dir"
        );
    }
    // Once the type problems are fixed the unknown control is reported.
    let cfg = sb.write(
        "bad2.toml",
        "[soa.controls.\"A.8.99\"]\napplicable = true\n",
    );
    let o = sb.evident_with(&cfg, &["validate"]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("bad2.toml:1:15") && stderr(&o).contains("A.8.99"),
        "{}",
        stderr(&o)
    );
}

/// A bad value in the second instance of a collector kind is reported at
/// its own line and column (not at the first instance's key, nor at the
/// table header), together with the file's other problems.
#[test]
fn a_bad_value_in_a_second_collector_instance_is_reported_at_its_line() {
    let sb = Sandbox::new();
    let webfilter = |name: &str, timeout: u32| {
        format!(
            "[[collectors.webfilter]]\nname = \"{name}\"\nquery_timeout_seconds = {timeout}\n[[collectors.webfilter.resolvers]]\naddress = \"127.0.0.1:53\"\ncontrols = [\"example.org\"]\ncanaries = {{ malware = [\"malware.test\"] }}\n"
        )
    };
    let cfg = sb.write(
        "two.toml",
        &format!(
            "{}\n{}\n[[collectors.host]]\ntimeout_seconds = 0\n",
            webfilter("office", 5),
            webfilter("lab", 0)
        ),
    );
    let o = sb.evident_with(&cfg, &["validate"]);
    assert_code(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("two.toml:11:25: query_timeout_seconds must be at least 1"),
        "{err}"
    );
    assert!(
        err.contains("two.toml:18:19: timeout_seconds must be between"),
        "{err}"
    );
    assert!(err.contains("2 problems"), "{err}");
}

#[test]
fn a_key_readable_by_others_is_refused_and_nothing_is_recorded() {
    let sb = Sandbox::new();
    collect_json(&sb);
    let key = sb.data().join("agent-key.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let before = std::fs::read(sb.data().join("evidence.db")).expect("ledger");
    let o = sb.evident(&["collect"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("600"), "{}", stderr(&o));
    let after = std::fs::read(sb.data().join("evidence.db")).expect("ledger");
    assert_eq!(before, after, "a refused key must not change the ledger");

    // `evident verify` does not trust it silently either: it warns, and the
    // verdict says the signer is not pinned.
    let o = sb.evident(&["verify"]);
    assert_code(&o, 0);
    assert!(
        stderr(&o).contains("not trusting the agent key"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).contains("OK, UNPINNED"), "{}", stdout(&o));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let o = sb.evident(&["verify"]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("OK, signed by the trusted key"),
        "{}",
        stdout(&o)
    );
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
}

#[test]
fn sarif_outside_scan_and_a_future_drift_start_are_usage_errors() {
    let sb = Sandbox::new();
    for args in [
        &["--format", "sarif", "soa"][..],
        &["--format", "sarif", "collect"][..],
    ] {
        let o = sb.evident(args);
        assert_code(&o, 2);
        assert!(
            stderr(&o).contains("only printed by `evident scan`"),
            "{}",
            stderr(&o)
        );
    }
    // Refused before anything ran: no ledger was created by the collect.
    assert!(!sb.data().join("evidence.db").exists());
    let o = sb.evident(&["drift", "--since", "2999-01-01"]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("is in the future"), "{}", stderr(&o));
    let o = sb.evident(&["drift", "--since", "2026-01-02", "--until", "2026-01-01"]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("--until is before --since"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn fail_on_turns_findings_into_an_exit_code() {
    let sb = Sandbox::new();
    let root = sb.dir.path().join("root");
    sb.write(
        "root/etc/ssh/sshd_config",
        "PasswordAuthentication yes\nPermitRootLogin yes\n",
    );
    sb.write("root/usr/sbin/sshd", "");
    sb.write("root/etc/hostname", "fake-host\n");
    let cfg = sb.write(
        "fake.toml",
        &format!(
            "[[collectors.host]]\nroot = \"{}\"\nchecks = [\"host_sshd_password_auth_disabled\"]\n",
            root.display()
        ),
    );
    let o = sb.evident_with(&cfg, &["collect"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("fail"), "{}", stdout(&o));
    let o = sb.evident_with(&cfg, &["collect", "--fail-on", "fail"]);
    assert_code(&o, 3);
    let o = sb.evident_with(&cfg, &["collect", "--fail-on", "error", "--format", "json"]);
    assert_code(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let f = &v["findings"][0];
    assert_eq!(f["status"], "fail");
    assert_eq!(f["target"]["id"], "fake-host");
}

#[test]
fn evident_verify_has_no_network_client_in_its_dependency_tree() {
    let o = run(Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "evident-evidence",
            "--edges",
            "normal,build",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(workspace_root()));
    assert_code(&o, 0);
    let tree = stdout(&o);
    assert!(
        tree.contains("rusqlite"),
        "cargo tree printed something unexpected: {tree}"
    );
    for line in tree.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        for banned in [
            "aws-", "octocrab", "reqwest", "hyper", "rustls", "openssl", "tokio",
        ] {
            assert!(
                !name.starts_with(banned),
                "evident-verify depends on {name}"
            );
        }
    }
}

#[test]
fn soa_at_a_past_date_shows_the_justification_then_in_force() {
    let sb = Sandbox::new();
    let v1 = sb.write(
        "v1.toml",
        "[[collectors.host]]\n[soa.controls.\"A.8.8\"]\napplicable = true\njustification = \"old reason\"\n",
    );
    let v2 = sb.write(
        "v2.toml",
        "[[collectors.host]]\n[soa.controls.\"A.8.8\"]\napplicable = true\njustification = \"new reason\"\n",
    );
    let o = sb.evident_with(&v1, &["collect", "--format", "json"]);
    assert_code(&o, 0);
    let first: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let t1 = first["findings"][0]["recorded_at"]
        .as_str()
        .expect("recorded_at")
        .to_string();
    // Records carry whole seconds: make the change land in a later second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_code(&sb.evident_with(&v2, &["collect"]), 0);
    let row = |args: &[&str]| -> serde_json::Value {
        let o = sb.evident_with(&v2, args);
        assert_code(&o, 0);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        v["controls"]
            .as_array()
            .expect("controls")
            .iter()
            .find(|r| r["control"] == "A.8.8")
            .cloned()
            .expect("A.8.8")
    };
    assert_eq!(
        row(&["soa", "--format", "json"])["justification"],
        "new reason"
    );
    assert_eq!(
        row(&["soa", "--format", "json", "--at", &t1])["justification"],
        "old reason"
    );
    // Before anything was recorded there was no decision and no evidence.
    let before = row(&["soa", "--format", "json", "--at", "2020-01-01"]);
    assert_eq!(before["justification"], serde_json::Value::Null);
    assert_eq!(before["implementation"], "not_evaluated");
    let o = sb.evident_with(&v2, &["soa", "--at", "yesterday"]);
    assert_code(&o, 2);
}

#[test]
fn soa_check_lists_problems_and_exits_3() {
    let sb = Sandbox::new();
    // A.8.17 is excluded although the clock check evidences it; A.5.1 is
    // included without a justification; every other control is undecided.
    let cfg = sb.write(
        "soa.toml",
        "[[collectors.host]]\n[soa.controls.\"A.8.17\"]\napplicable = false\njustification = \"not needed\"\n[soa.controls.\"A.5.1\"]\napplicable = true\n",
    );
    assert_code(&sb.evident_with(&cfg, &["collect"]), 0);
    let o = sb.evident_with(&cfg, &["soa", "--check", "--format", "json"]);
    assert_code(&o, 3);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let has = |control: &str, code: &str| {
        v["issues"]
            .as_array()
            .expect("issues")
            .iter()
            .any(|i| i["control"] == control && i["code"] == code)
    };
    assert!(has("A.8.17", "excluded_with_evidence"), "{v:#}");
    assert!(has("A.5.1", "missing_justification"), "{v:#}");
    assert!(has("A.5.2", "no_decision"), "{v:#}");
    let o = sb.evident_with(&cfg, &["soa", "--check"]);
    assert_code(&o, 3);
    assert!(
        stdout(&o).contains("excluded_with_evidence"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn soa_prints_markdown() {
    let sb = Sandbox::new();
    let o = sb.evident(&["soa", "--format", "markdown"]);
    assert_code(&o, 0);
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 95, "{text}");
    assert!(lines[0].starts_with("| control | title |"));
    assert_eq!(lines[1], "|---|---|---|---|---|---|---|");
}

#[test]
fn deleting_records_covered_by_a_saved_checkpoint_is_caught_since_that_checkpoint() {
    let sb = Sandbox::new();
    collect_json(&sb);
    collect_json(&sb);
    let saved = sb.dir.path().join("audit-2026");
    assert_code(
        &sb.evident(&["checkpoint", "--out", saved.to_str().expect("utf8")]),
        0,
    );
    let saved_arg = saved.to_str().expect("utf8");
    let anchor = std::fs::read(saved.join("checkpoint")).expect("saved");
    // Growth after the saved checkpoint is fine.
    collect_json(&sb);
    // The saved checkpoint is never overwritten by a later one.
    let o = sb.evident(&["checkpoint", "--out", saved_arg]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("already holds a checkpoint"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(saved.join("checkpoint")).expect("kept"),
        anchor
    );
    let o = sb.evident(&["verify", "--since-checkpoint", saved_arg]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("consistency"), "{}", stdout(&o));
    let ledger = sb.data().join("evidence.db");
    assert_code(
        &run(evident_verify()
            .arg("ledger")
            .arg(&ledger)
            .arg("--since-checkpoint")
            .arg(&saved)),
        0,
    );
    // Someone deletes the newest records and every checkpoint after the first
    // run, as if the second and third runs had never happened.
    let first_size: i64 = {
        let conn = rusqlite::Connection::open(&ledger).expect("open");
        conn.execute_batch("DROP TRIGGER leaves_no_delete; DROP TRIGGER checkpoints_no_delete;")
            .expect("drop triggers");
        let first: i64 = conn
            .query_row("SELECT MIN(tree_size) FROM checkpoints", [], |r| r.get(0))
            .expect("first checkpoint");
        conn.execute("DELETE FROM leaves WHERE idx >= ?1", [first])
            .expect("delete leaves");
        conn.execute("DELETE FROM checkpoints WHERE tree_size > ?1", [first])
            .expect("delete checkpoints");
        first
    };
    // The ledger on its own is self-consistent again...
    assert_code(&sb.evident(&["verify"]), 0);
    // ...but not an extension of what the auditor saw.
    let o = sb.evident(&["verify", "--since-checkpoint", saved_arg]);
    assert_code(&o, 1);
    let text = stdout(&o);
    assert!(
        text.contains(&format!("{first_size}")) && text.to_lowercase().contains("truncat"),
        "{text}"
    );
    let o = run(evident_verify()
        .arg("ledger")
        .arg(&ledger)
        .arg("--since-checkpoint")
        .arg(&saved));
    assert_code(&o, 1);
}

#[test]
fn a_sampled_record_proof_verifies_alone_and_fails_after_any_change() {
    let sb = Sandbox::new();
    let out = collect_json(&sb);
    collect_json(&sb);
    let id = out["findings"][1]["record_id"]
        .as_str()
        .expect("id")
        .to_string();
    let proof = sb.dir.path().join("proof.json");
    let o = sb.evident(&["prove", &id, "--out", proof.to_str().expect("utf8")]);
    assert_code(&o, 0);
    let key = sb.dir.path().join("key.pem");
    std::fs::write(&key, sb.evident(&["key", "export"]).stdout).expect("key");
    let o = run(evident_verify()
        .arg("record")
        .arg(&proof)
        .arg("--key")
        .arg(&key));
    assert_code(&o, 0);
    assert!(stdout(&o).contains(&id), "{}", stdout(&o));
    // Change one byte at several places: each fails.
    let original = std::fs::read(&proof).expect("read proof");
    for pos in [
        10,
        original.len() / 3,
        original.len() / 2,
        original.len() - 20,
    ] {
        let mut bytes = original.clone();
        bytes[pos] = if bytes[pos] == b'0' { b'1' } else { b'0' };
        std::fs::write(&proof, &bytes).expect("tamper");
        let o = run(evident_verify()
            .arg("record")
            .arg(&proof)
            .arg("--key")
            .arg(&key));
        assert_ne!(
            o.status.code(),
            Some(0),
            "a change at byte {pos} went unnoticed"
        );
    }
    // An unknown record id is a clear error.
    let o = sb.evident(&[
        "prove",
        "no-such-record",
        "--out",
        proof.to_str().expect("utf8"),
    ]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("no-such-record"), "{}", stderr(&o));
}

#[test]
fn issue_2_a_key_without_its_ledger_is_refused() {
    let sb = Sandbox::new();
    collect_json(&sb);
    let ledger = sb.data().join("evidence.db");
    // Emptied, then deleted: both refused, and nothing new is created.
    std::fs::write(&ledger, b"").expect("truncate");
    for _ in 0..2 {
        let o = sb.evident(&["collect"]);
        assert_code(&o, 1);
        assert!(stderr(&o).contains("missing or empty"), "{}", stderr(&o));
        std::fs::remove_file(&ledger).ok();
    }
    assert!(!ledger.exists());
    let _ = std::fs::remove_file(sb.data().join("evidence.db-wal"));
}

#[test]
fn issue_2_a_symlinked_key_is_refused() {
    let sb = Sandbox::new();
    collect_json(&sb);
    let key = sb.data().join("agent-key.pem");
    let elsewhere = sb.dir.path().join("moved.pem");
    std::fs::rename(&key, &elsewhere).expect("move");
    std::os::unix::fs::symlink(&elsewhere, &key).expect("symlink");
    let o = sb.evident(&["collect"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("symbolic link"), "{}", stderr(&o));
}

#[test]
fn issue_2_a_mistyped_root_is_a_config_error() {
    let sb = Sandbox::new();
    let cfg = sb.write(
        "root.toml",
        "[[collectors.host]]\nroot = \"/nonexistent-root\"\n",
    );
    let o = sb.evident_with(&cfg, &["validate"]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("not an existing directory"),
        "{}",
        stderr(&o)
    );
    let o = sb.evident_with(&cfg, &["validate", "--format", "json"]);
    assert_code(&o, 2);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["valid"], false);
    assert_eq!(v["problems"][0]["line"], 2);
    assert_eq!(v["problems"][0]["column"], 8);
}

#[test]
fn issue_2_errors_do_not_repeat_their_cause() {
    let o = run(evident().args(["--config", "/nonexistent/evident.toml", "validate"]));
    assert_code(&o, 2);
    let err = stderr(&o);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

#[test]
fn issue_2_verify_trusts_the_agents_own_key_by_default() {
    let sb = Sandbox::new();
    collect_json(&sb);
    let o = sb.evident(&["verify"]);
    assert_code(&o, 0);
    assert!(
        stderr(&o).contains("(the agent's signing key"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).contains("trusted key:  "), "{}", stdout(&o));
    assert!(!stdout(&o).contains("trusted key:  none"), "{}", stdout(&o));
}

#[test]
fn verify_without_key_after_a_rotation_follows_the_chain_from_the_first_key() {
    let sb = Sandbox::new();
    collect_json(&sb);
    assert_code(&sb.evident(&["key", "rotate"]), 0);
    collect_json(&sb);
    let o = sb.evident(&["verify"]);
    assert_code(&o, 0);
    assert!(
        stderr(&o).contains("the first key of the rotation chain"),
        "{}",
        stderr(&o)
    );
    // A key that is not in the chain is still refused.
    let key = sb.data().join("agent-key.pem");
    std::fs::remove_file(&key).expect("remove key");
    let other = Sandbox::new();
    collect_json(&other);
    std::fs::copy(other.data().join("agent-key.pem"), &key).expect("swap key");
    let o = sb.evident(&["verify"]);
    assert_code(&o, 1);
}

/// One row of the ledger's `leaves` table: record id, type, time, leaf hash, record.
type LeafRow = (String, String, String, Vec<u8>, Vec<u8>);

/// A record inserted after the last checkpoint (the leaves table's triggers
/// allow inserts) is signed by nobody: the SoA leaves it out and says so,
/// and `verify` still fails on it.
#[test]
fn records_no_checkpoint_covers_are_left_out_of_reports_with_a_warning() {
    let sb = Sandbox::new();
    assert_code(&sb.evident(&["collect"]), 0);
    let controls = |o: &std::process::Output| -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        v["controls"].clone()
    };
    let before = sb.evident(&["soa", "--format", "json"]);
    assert_code(&before, 0);
    assert!(
        !stderr(&before).contains("not covered"),
        "{}",
        stderr(&before)
    );
    // Forge: a copy of every finding with its status flipped and a new id.
    let ledger = sb.data().join("evidence.db");
    let forged = {
        let conn = rusqlite::Connection::open(&ledger).expect("open");
        let rows: Vec<LeafRow> = conn
            .prepare("SELECT record_id, record_type, recorded_at, leaf_hash, record FROM leaves WHERE record_type = 'finding'")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        let next: i64 = conn
            .query_row("SELECT MAX(idx) + 1 FROM leaves", [], |r| r.get(0))
            .expect("max");
        for (n, (id, ty, at, hash, record)) in rows.iter().enumerate() {
            let text = String::from_utf8(record.clone()).expect("utf8");
            let flipped = if text.contains("\"status\":\"pass\"") {
                text.replace("\"status\":\"pass\"", "\"status\":\"fail\"")
            } else {
                text.replace("\"status\":\"fail\"", "\"status\":\"pass\"")
                    .replace("\"status\":\"error\"", "\"status\":\"pass\"")
                    .replace("\"status\":\"not_applicable\"", "\"status\":\"pass\"")
            };
            let new_id = format!("{id}-forged");
            conn.execute(
                "INSERT INTO leaves (idx, record_id, record_type, recorded_at, leaf_hash, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![next + n as i64, new_id, ty, at, hash, flipped.replace(id.as_str(), &new_id).into_bytes()],
            )
            .expect("insert");
        }
        rows.len()
    };
    assert!(forged > 0);
    let after = sb.evident(&["soa", "--format", "json"]);
    assert_code(&after, 0);
    assert_eq!(
        controls(&before),
        controls(&after),
        "forged records reached the SoA"
    );
    assert!(
        stderr(&after).contains(&format!("{forged} record(s)"))
            && stderr(&after).contains("not covered by any signed checkpoint"),
        "{}",
        stderr(&after)
    );
    let drift = sb.evident(&["drift", "--since", "2020-01-01", "--format", "json"]);
    assert_code(&drift, 0);
    assert!(
        !String::from_utf8_lossy(&drift.stdout).contains("-forged"),
        "forged records reached drift"
    );
    assert_code(&sb.evident(&["verify"]), 1);
}

/// An emptied configuration, or one whose collectors are all disabled, is
/// valid but `collect` refuses it (exit 2, nothing recorded): a CI gate must
/// not pass on a run that checked nothing.
#[test]
fn collect_with_no_enabled_collector_is_refused_and_records_nothing() {
    let sb = Sandbox::new();
    let empty = sb.write("empty.toml", "");
    let disabled = sb.write("disabled.toml", "[[collectors.host]]\nenabled = false\n");
    for config in [&empty, &disabled] {
        let o = sb.evident_with(config, &["validate"]);
        assert_code(&o, 0);
        assert!(
            stderr(&o).contains("no collector is enabled"),
            "{}",
            stderr(&o)
        );
        let o = sb.evident_with(config, &["collect", "--fail-on", "error"]);
        assert_code(&o, 2);
        assert!(
            stderr(&o).contains("nothing would be checked"),
            "{}",
            stderr(&o)
        );
        assert!(!sb.data().join("evidence.db").exists());
    }
    // One enabled instance is enough.
    let one = sb.write(
        "one.toml",
        "[[collectors.host]]\nname = \"off\"\nenabled = false\n\n[[collectors.host]]\nname = \"on\"\n",
    );
    assert_code(&sb.evident_with(&one, &["collect"]), 0);
}
