//! Manual evidence, risk acceptances and Stage 1 readiness.

use crate::support::*;

#[test]
fn an_attestation_counts_in_the_soa_and_readiness_names_every_gap() {
    let sb = Sandbox::new();
    let policy = sb.write("docs/policy.pdf", "%PDF-1.4 information security policy\n");
    let cfg = sb.write(
        "ready.toml",
        &format!(
            "[[collectors.host]]\n\n[soa.controls.\"A.6.3\"]\napplicable = true\njustification = \"staff handle customer data\"\n\n\
             [[readiness.document]]\nclause = \"5.2\"\nlocation = \"{}\"\nlast_review = 2026-11-01\n\n\
             [[readiness.document]]\nclause = \"4.3\"\nlocation = \"{}\"\nlast_review = 2020-01-01\n",
            policy.display(),
            sb.dir.path().join("docs/missing-scope.pdf").display()
        ),
    );
    assert_code(&sb.evident_with(&cfg, &["collect"]), 0);
    let training = sb.write("training-2026.pdf", "attendance list\n");
    let o = sb.evident_with(
        &cfg,
        &[
            "attest",
            "--control",
            "A.6.3",
            "--file",
            training.to_str().expect("utf8"),
            "--expires",
            "365d",
            "--note",
            "annual awareness training",
            "--by",
            "alice",
            "--store",
        ],
    );
    assert_code(&o, 0);
    let row = |args: &[&str]| -> serde_json::Value {
        let o = sb.evident_with(&cfg, args);
        assert_code(&o, 0);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        v["controls"]
            .as_array()
            .expect("controls")
            .iter()
            .find(|r| r["control"] == "A.6.3")
            .cloned()
            .expect("A.6.3")
    };
    let a63 = row(&["soa", "--format", "json"]);
    assert_eq!(a63["implementation"], "passing", "{a63:#}");
    assert_eq!(a63["record_ids"].as_array().map(Vec::len), Some(1));
    // The stored copy is the file, by its SHA-256.
    let stored = std::fs::read_dir(sb.data().join("attachments"))
        .expect("attachments")
        .count();
    assert_eq!(stored, 1);
    assert_code(&sb.evident_with(&cfg, &["verify"]), 0);

    let o = sb.evident_with(&cfg, &["readiness", "--format", "json"]);
    assert_code(&o, 3);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let has = |code: &str, subject: &str| {
        v["gaps"]
            .as_array()
            .expect("gaps")
            .iter()
            .any(|g| g["code"] == code && g["subject"] == subject)
    };
    assert!(has("document_not_found", "4.3"), "{v:#}");
    assert!(has("document_review_overdue", "4.3"), "{v:#}");
    assert!(has("document_missing", "9.2"), "{v:#}");
    assert!(
        !has("document_missing", "5.2") && !has("document_review_overdue", "5.2"),
        "{v:#}"
    );
    assert!(has("no_decision", "A.5.2"), "{v:#}");
    assert!(has("no_incident_records", "A.5.24–A.5.28"), "{v:#}");
    // An incident record clears that gap.
    assert_code(
        &sb.evident_with(
            &cfg,
            &[
                "attest",
                "--control",
                "A.5.24",
                "--expires",
                "365d",
                "--note",
                "incident log Q4 reviewed",
            ],
        ),
        0,
    );
    let o = sb.evident_with(&cfg, &["readiness", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(
        !v["gaps"]
            .as_array()
            .expect("gaps")
            .iter()
            .any(|g| g["code"] == "no_incident_records"),
        "{v:#}"
    );
}

#[test]
fn an_accepted_failure_shows_as_accepted_and_bad_input_is_refused() {
    let sb = Sandbox::new();
    sb.write("root/usr/sbin/sshd", "");
    sb.write("root/etc/ssh/sshd_config", "PasswordAuthentication yes\n");
    let cfg = sb.write(
        "risk.toml",
        &format!(
            "[[collectors.host]]\nroot = \"{}\"\nchecks = [\"host_sshd_password_auth_disabled\"]\n",
            sb.dir.path().join("root").display()
        ),
    );
    assert_code(&sb.evident_with(&cfg, &["collect"]), 0);
    let status = |sb: &Sandbox| -> String {
        let o = sb.evident_with(&cfg, &["soa", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        v["controls"]
            .as_array()
            .expect("c")
            .iter()
            .find(|r| r["control"] == "A.8.5")
            .expect("A.8.5")["implementation"]
            .as_str()
            .expect("str")
            .to_string()
    };
    assert_eq!(status(&sb), "failing");
    let o = sb.evident_with(
        &cfg,
        &[
            "accept-risk",
            "--check",
            "host_sshd_password_auth_disabled",
            "--approver",
            "ciso",
            "--justification",
            "legacy jump host, replaced in Q1",
            "--expires",
            "90d",
        ],
    );
    assert_code(&o, 0);
    assert_eq!(status(&sb), "accepted");
    for bad in [
        &[
            "accept-risk",
            "--check",
            "no_such_check",
            "--approver",
            "x",
            "--justification",
            "y",
            "--expires",
            "9d",
        ][..],
        &[
            "attest",
            "--control",
            "A.9.9",
            "--expires",
            "9d",
            "--note",
            "x",
        ],
        &[
            "attest",
            "--control",
            "A.6.3",
            "--expires",
            "yesterday",
            "--note",
            "x",
        ],
        &[
            "attest",
            "--control",
            "A.6.3",
            "--expires",
            "2020-01-01",
            "--note",
            "x",
        ],
        &[
            "attest",
            "--control",
            "A.6.3",
            "--expires",
            "2200-01-01",
            "--note",
            "x",
        ],
    ] {
        assert_code(&sb.evident_with(&cfg, bad), 2);
    }
}

/// Bad attestation input is a usage error (exit 2) that records nothing.
#[test]
fn attest_refuses_a_directory_a_missing_file_and_control_characters() {
    let sb = Sandbox::new();
    let cfg = sb.write("a.toml", "[[collectors.host]]\n");
    assert_code(&sb.evident_with(&cfg, &["collect"]), 0);
    let before = sb.evident_with(&cfg, &["verify"]);
    assert_code(&before, 0);
    let dir = sb.dir.path().join("docs");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let missing = sb.dir.path().join("nope.pdf");
    let long = "x".repeat(4001);
    let cases: [(&[&str], &str); 4] = [
        (
            &["--file", dir.to_str().expect("utf8"), "--note", "training"],
            "not a regular file",
        ),
        (
            &[
                "--file",
                missing.to_str().expect("utf8"),
                "--note",
                "training",
            ],
            "nope.pdf",
        ),
        (&["--note", "line\u{1b}[2Jcleared"], "control characters"),
        (&["--note", &long], "longer than"),
    ];
    for (extra, expect) in cases {
        let mut args = vec!["attest", "--control", "A.6.3", "--expires", "30d"];
        args.extend_from_slice(extra);
        let o = sb.evident_with(&cfg, &args);
        assert_code(&o, 2);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(expect), "{expect}: {err}");
    }
    let o = sb.evident_with(&cfg, &["soa", "--format", "json"]);
    assert_code(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let a63 = v["controls"]
        .as_array()
        .expect("controls")
        .iter()
        .find(|r| r["control"] == "A.6.3")
        .cloned()
        .expect("A.6.3");
    assert_eq!(
        a63["record_ids"].as_array().map(Vec::len),
        Some(0),
        "{a63:#}"
    );
}
