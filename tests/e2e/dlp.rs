//! `evident scan` and the `dlp` collector on a generated, labelled corpus.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use evident_dlp::testcorpus::{self, Corpus};

use crate::support::*;

pub struct Setup {
    pub sb: Sandbox,
    pub corpus: Corpus,
    pub key: std::path::PathBuf,
}

pub fn setup() -> Setup {
    let sb = Sandbox::new();
    let corpus = testcorpus::generate(2026);
    corpus
        .write(&sb.dir.path().join("corpus"))
        .expect("write corpus");
    let key = sb.write_secret("fp.key", "0123456789abcdef0123456789abcdef-e2e-test-key\n");
    Setup { sb, corpus, key }
}

pub fn expected(c: &Corpus) -> BTreeSet<(String, String, u64)> {
    c.planted
        .iter()
        .map(|p| (p.rule_id.to_string(), p.path.clone(), p.line))
        .collect()
}

/// No planted value and no look-alike appears in the text.
#[track_caller]
pub fn assert_no_values(c: &Corpus, text: &str) {
    for p in &c.planted {
        assert!(
            !text.contains(&p.value),
            "{} value leaked into output",
            p.rule_id
        );
        // Nor any long fragment of it.
        if p.value.len() >= 20 {
            assert!(
                !text.contains(&p.value[4..16]),
                "{} fragment leaked",
                p.rule_id
            );
        }
    }
    for d in &c.decoys {
        assert!(!text.contains(d.as_str()), "look-alike {d} printed");
    }
}

fn scan(s: &Setup, format: &str, extra: &[&str]) -> std::process::Output {
    let corpus = s.sb.dir.path().join("corpus");
    let mut args = vec![
        "--format",
        format,
        "scan",
        "--enable-rule",
        "us-ssn",
        "--fingerprint-key",
        s.key.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    args.push(corpus.to_str().expect("utf-8"));
    s.sb.evident(&args)
}

#[test]
fn scan_finds_every_planted_item_and_no_look_alike_in_table_json_and_sarif() {
    let s = setup();
    let want = expected(&s.corpus);
    let root = s.sb.dir.path().join("corpus");

    // Terminal table.
    let o = scan(&s, "table", &[]);
    assert_code(&o, 3);
    let text = stdout(&o);
    let mut got = BTreeSet::new();
    for line in text.lines().skip(2) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 3 || !cols[2].contains(':') {
            continue;
        }
        let (path, line_no) = cols[2].rsplit_once(':').expect("path:line");
        let rel = Path::new(path)
            .strip_prefix(&root)
            .expect("under the corpus")
            .display()
            .to_string();
        got.insert((
            cols[0].to_string(),
            rel,
            line_no.parse::<u64>().expect("line"),
        ));
    }
    assert_eq!(got, want, "table:\n{text}");
    assert!(
        text.contains(&format!("{} finding(s)", want.len())),
        "{text}"
    );
    assert_no_values(&s.corpus, &text);
    assert_no_values(&s.corpus, &stderr(&o));

    // JSON.
    let o = scan(&s, "json", &[]);
    assert_code(&o, 3);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let got: BTreeSet<(String, String, u64)> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().expect("rule").to_string(),
                f["path"].as_str().expect("path").to_string(),
                f["line"].as_u64().expect("line"),
            )
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(v["findings"].as_array().map(Vec::len), Some(want.len()));
    assert_no_values(&s.corpus, &stdout(&o));

    // SARIF 2.1.0, validated against the schema.
    let o = scan(&s, "sarif", &[]);
    assert_code(&o, 3);
    let sarif: serde_json::Value = serde_json::from_slice(&o.stdout).expect("sarif json");
    let validator = sarif_validator();
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "SARIF invalid: {errors:#?}");
    // The validator is not vacuous: a result without a message is refused.
    let mut broken = sarif.clone();
    broken["version"] = serde_json::json!("2.0.0");
    assert!(!validator.is_valid(&broken));
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]
        .as_object_mut()
        .expect("result")
        .remove("message");
    assert!(!validator.is_valid(&broken));
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    let got: BTreeSet<(String, String, u64)> = results
        .iter()
        .map(|r| {
            let uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .expect("uri");
            let prefix = format!("file://{}/", root.display());
            (
                r["ruleId"].as_str().expect("ruleId").to_string(),
                uri.strip_prefix(&prefix)
                    .expect("absolute file uri")
                    .to_string(),
                r["locations"][0]["physicalLocation"]["region"]["startLine"]
                    .as_u64()
                    .expect("line"),
            )
        })
        .collect();
    assert_eq!(got, want);
    assert_no_values(&s.corpus, &stdout(&o));
}

/// The SARIF 2.1.0 schema of the test fixtures, compiled.
pub fn sarif_validator() -> jsonschema::Validator {
    // The fixture keeps the log's own schema under `definitions/Root` (its
    // top level holds only definitions), so validate against that.
    let mut schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            workspace_root().join("tests/e2e/fixtures/sarif-schema-2.1.0.json"),
        )
        .expect("schema fixture"),
    )
    .expect("schema json");
    assert!(schema["definitions"]["Root"].is_object());
    schema["$ref"] = serde_json::json!("#/definitions/Root");
    // The published schema's `language` patterns have a stray `]`
    // (`^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$`), which the validator's
    // meta-schema check rejects as a regex. Use the pattern their description
    // means (a two-letter language, optionally with a region); nothing else
    // of the schema is changed, and our SARIF sets no `language` anyway.
    fn fix_language(v: &mut serde_json::Value) -> usize {
        const BAD: &str = "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$";
        match v {
            serde_json::Value::Object(map) => {
                let mut n = 0;
                for (k, child) in map.iter_mut() {
                    if k == "pattern" && child == BAD {
                        *child = serde_json::json!("^[a-zA-Z]{2}(-[a-zA-Z]{2})?$");
                        n += 1;
                    } else {
                        n += fix_language(child);
                    }
                }
                n
            }
            serde_json::Value::Array(items) => items.iter_mut().map(fix_language).sum(),
            _ => 0,
        }
    }
    assert!(fix_language(&mut schema) >= 1);
    jsonschema::draft7::new(&schema).expect("schema compiles")
}

#[test]
fn same_secret_twice_has_the_same_fingerprint_across_runs() {
    let s = setup();
    let token = "ghp_x7Kq2LmP9vR4sT1wY6zB3nC8dF5gH0jJ2aE4";
    s.sb.write("two/a.txt", &format!("t={token}\n"));
    s.sb.write("two/b/c.txt", &format!("\nagain {token}\n"));
    let dir = s.sb.dir.path().join("two");
    let run = || {
        let o = s.sb.evident(&[
            "--format",
            "json",
            "scan",
            "--fingerprint-key",
            s.key.to_str().expect("utf-8"),
            dir.to_str().expect("utf-8"),
        ]);
        assert_code(&o, 3);
        assert!(!stdout(&o).contains(token));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        v["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["fingerprint"].as_str().expect("fp").to_string())
            .collect::<Vec<_>>()
    };
    let first = run();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0], first[1]);
    assert_eq!(run(), first);
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn secret_committed_then_deleted_is_found_in_history_with_its_commit() {
    let s = setup();
    let repo = s.sb.dir.path().join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    let token = "sk_live_Zr8Kd2Lq9Vx4Pm7Tn3WbQe5Y";
    s.sb.write(
        "repo/app/config.py",
        &format!("DEBUG = False\nSTRIPE_KEY = \"{token}\"\n"),
    );
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "config"]);
    let commit = git(&repo, &["rev-parse", "HEAD"]);
    s.sb.write(
        "repo/app/config.py",
        "DEBUG = False\nSTRIPE_KEY = os.environ[\"STRIPE_KEY\"]\n",
    );
    git(
        &repo,
        &["commit", "-q", "-am", "read the key from the environment"],
    );

    // The working tree is clean…
    let key = s.key.to_str().expect("utf-8");
    let o = s.sb.evident(&[
        "scan",
        "--fingerprint-key",
        key,
        repo.to_str().expect("utf-8"),
    ]);
    assert_code(&o, 0);
    // …but the history is not.
    let o = s.sb.evident(&[
        "--format",
        "json",
        "scan",
        "--history",
        "--fingerprint-key",
        key,
        repo.to_str().expect("utf-8"),
    ]);
    assert_code(&o, 3);
    assert!(!stdout(&o).contains(token) && !stderr(&o).contains(token));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let f = &v["findings"].as_array().expect("findings")[..];
    assert_eq!(f.len(), 1, "{v:#}");
    assert_eq!(f[0]["rule_id"], "stripe-secret-key");
    assert_eq!(f[0]["commit"], commit.as_str());
    assert_eq!(f[0]["path"], "app/config.py");
    assert_eq!(f[0]["line"], 2);
}

#[test]
fn dlp_collector_fails_with_counts_then_passes_with_a_baseline_and_stores_no_value() {
    let s = setup();
    let corpus = s.sb.dir.path().join("corpus");
    let baseline = s.sb.dir.path().join("baseline.json");
    let cfg = |with_baseline: bool| {
        let b = if with_baseline {
            format!("baseline_file = \"{}\"\n", baseline.display())
        } else {
            String::new()
        };
        s.sb.write(
            if with_baseline { "b.toml" } else { "a.toml" },
            &format!(
                "[[collectors.dlp]]\npaths = [\"{}\"]\nfingerprint_key_file = \"{}\"\nenable_rules = [\"us-ssn\"]\n{b}",
                corpus.display(),
                s.key.display()
            ),
        )
    };
    let o =
        s.sb.evident_with(&cfg(false), &["-v", "collect", "--format", "json"]);
    assert_code(&o, 0);
    assert_no_values(&s.corpus, &stdout(&o));
    assert_no_values(&s.corpus, &stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let f = &v["findings"][0];
    assert_eq!(f["check_id"], "dlp_sensitive_data_not_exposed");
    assert_eq!(f["status"], "fail", "{v:#}");
    assert_eq!(f["reason_code"], "dlp_new_findings");
    let reason = f["reason"].as_str().expect("reason");
    assert!(
        reason.contains("payment-card-number 9") && reason.contains("private-key 6"),
        "{reason}"
    );
    assert!(f["controls"]
        .as_array()
        .is_some_and(|c| c.iter().any(|x| x == "A.8.12")));

    // Accept today's findings as the baseline: nothing new, pass.
    let o = scan(
        &s,
        "json",
        &["--write-baseline", baseline.to_str().expect("utf-8")],
    );
    assert_code(&o, 3);
    let o =
        s.sb.evident_with(&cfg(true), &["collect", "--format", "json"]);
    assert_code(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["findings"][0]["status"], "pass", "{v:#}");
    assert_eq!(v["findings"][0]["reason_code"], "dlp_nothing_new");

    // No value in the ledger (records and stored observations) or the baseline.
    for file in [s.sb.data().join("evidence.db"), baseline.clone()] {
        let bytes = std::fs::read(&file).expect("read");
        let text = String::from_utf8_lossy(&bytes);
        assert_no_values(&s.corpus, &text);
    }
    // And the ledger still verifies.
    assert_code(&s.sb.evident_with(&cfg(true), &["verify"]), 0);
}

#[test]
fn dlp_collector_with_a_missing_key_records_an_error() {
    let s = setup();
    let cfg = s.sb.write(
        "c.toml",
        &format!(
            "[[collectors.dlp]]\npaths = [\"{}\"]\nfingerprint_key_file = \"{}\"\n",
            s.sb.dir.path().join("corpus").display(),
            s.sb.dir.path().join("absent.key").display()
        ),
    );
    let o = s.sb.evident_with(&cfg, &["collect", "--format", "json"]);
    assert_code(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["findings"][0]["status"], "error", "{v:#}");
    // A relative path is a configuration problem.
    let bad = s.sb.write(
        "bad.toml",
        "[[collectors.dlp]]\npaths = [\"rel\"]\nfingerprint_key_file = \"k\"\n",
    );
    let o = s.sb.evident_with(&bad, &["validate"]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("absolute"), "{}", stderr(&o));
}

#[test]
fn scan_and_the_dlp_collector_count_symlinks_fifos_and_sockets_as_skipped() {
    let sb = Sandbox::new();
    let key = sb.write_secret("fp.key", "0123456789abcdef0123456789abcdef-e2e-test-key\n");
    let tree = sb.dir.path().join("tree");
    sb.write("tree/notes.txt", "nothing to see\n");
    std::os::unix::fs::symlink("notes.txt", tree.join("link")).expect("symlink");
    let status = Command::new("mkfifo")
        .arg(tree.join("fifo"))
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo failed");
    let _socket = std::os::unix::net::UnixListener::bind(tree.join("socket")).expect("bind");
    let key_s = key.to_str().expect("utf-8");
    let tree_s = tree.to_str().expect("utf-8");

    let o = sb.evident(&["scan", "--fingerprint-key", key_s, tree_s]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains("1 file(s), blob(s) or object(s) scanned")
            && stdout(&o).contains("1 symlinks, 2 FIFOs, sockets or devices"),
        "{}",
        stdout(&o)
    );
    let o = sb.evident(&[
        "--format",
        "json",
        "scan",
        "--fingerprint-key",
        key_s,
        tree_s,
    ]);
    assert_code(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        (
            &v["stats"]["skipped_symlink"],
            &v["stats"]["skipped_special"]
        ),
        (&serde_json::json!(1), &serde_json::json!(2)),
        "{v:#}"
    );

    // The collector's finding (from the recorded observation) counts them.
    let cfg = sb.write(
        "c.toml",
        &format!(
            "[[collectors.dlp]]\npaths = [\"{tree_s}\"]\nfingerprint_key_file = \"{key_s}\"\n"
        ),
    );
    let o = sb.evident_with(&cfg, &["collect", "--format", "json"]);
    assert_code(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let reason = v["findings"][0]["reason"].as_str().expect("reason");
    assert!(
        reason.contains("1 scanned") && reason.contains("3 skipped"),
        "{reason}"
    );
}
