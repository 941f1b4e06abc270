//! Accuracy on the labelled corpus, git history, suppression and redaction.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use crate::suppress::{AllowlistFile, BaselineEntry};
use crate::*;

fn scanner() -> Scanner {
    let rules = RuleSelection {
        enable: vec!["us-ssn".into()],
        ..Default::default()
    }
    .load()
    .unwrap();
    Scanner::new(rules, Fingerprinter::new(&[42u8; 32]).unwrap()).unwrap()
}

fn scan(scanner: &Scanner, trees: &[&Path], repos: &[&Path]) -> ScanReport {
    let s = Scan {
        scanner,
        options: ScanOptions::default(),
        allowlist: Allowlist::default(),
        baseline: Baseline::default(),
    };
    let trees: Vec<_> = trees.iter().map(|p| p.to_path_buf()).collect();
    let repos: Vec<_> = repos.iter().map(|p| p.to_path_buf()).collect();
    s.run(&trees, &repos, None)
}

#[test]
fn labelled_corpus_precision_and_recall_per_detector_class() {
    let corpus = testcorpus::generate(7);
    let dir = tempfile::tempdir().unwrap();
    corpus.write(dir.path()).unwrap();
    let sc = scanner();
    let report = scan(&sc, &[dir.path()], &[]);
    assert!(report.errors.is_empty(), "{:?}", report.errors);

    let expected: BTreeSet<(String, String, u64)> = corpus
        .planted
        .iter()
        .map(|p| (p.rule_id.to_string(), p.path.clone(), p.line))
        .collect();
    let got: BTreeSet<(String, String, u64)> = report
        .findings
        .iter()
        .map(|f| (f.rule_id.clone(), f.path.clone(), f.line))
        .collect();
    let class_of: BTreeMap<String, Class> = sc.rules().map(|r| (r.id.clone(), r.class)).collect();
    // Per detector (rule) and per class: true positives, false positives, false negatives.
    let mut per: BTreeMap<String, (u32, u32, u32)> = BTreeMap::new();
    for r in sc.rules() {
        per.insert(r.id.clone(), (0, 0, 0));
    }
    for e in &expected {
        let s = per.entry(e.0.clone()).or_default();
        if got.contains(e) {
            s.0 += 1;
        } else {
            s.2 += 1;
        }
    }
    for g in got.difference(&expected) {
        per.entry(g.0.clone()).or_default().1 += 1;
    }
    let mut by_class: BTreeMap<&str, (u32, u32, u32)> = BTreeMap::new();
    println!(
        "{:<28} {:>4} {:>4} {:>4} {:>9} {:>7}",
        "detector", "tp", "fp", "fn", "precision", "recall"
    );
    for (id, (tp, fp, fne)) in &per {
        let p = f64::from(*tp) / f64::from((tp + fp).max(1));
        let r = f64::from(*tp) / f64::from((tp + fne).max(1));
        println!("{id:<28} {tp:>4} {fp:>4} {fne:>4} {p:>9.3} {r:>7.3}");
        let c = by_class.entry(class_of[id].as_str()).or_default();
        c.0 += tp;
        c.1 += fp;
        c.2 += fne;
    }
    for (class, (tp, fp, fne)) in &by_class {
        let p = f64::from(*tp) / f64::from((tp + fp).max(1));
        let r = f64::from(*tp) / f64::from((tp + fne).max(1));
        println!("class {class:<22} {tp:>4} {fp:>4} {fne:>4} {p:>9.3} {r:>7.3}");
        assert!(*tp > 0, "class {class} has no planted item");
        assert_eq!(p, 1.0, "precision of class {class}");
        assert_eq!(r, 1.0, "recall of class {class}");
    }
    // Every detector with planted items finds all of them and nothing else.
    for (id, (tp, fp, fne)) in &per {
        assert_eq!((*fp, *fne), (0, 0), "{id}: tp {tp} fp {fp} fn {fne}");
    }
    // No value (planted or decoy) appears in the findings.
    let json = serde_json::to_string(&report).unwrap();
    for p in &corpus.planted {
        assert!(!json.contains(&p.value), "{} leaked", p.rule_id);
    }
    for d in &corpus.decoys {
        assert!(!json.contains(d.as_str()), "decoy {d} appears");
    }
}

#[test]
fn same_secret_twice_same_fingerprint_and_preview_is_short() {
    let dir = tempfile::tempdir().unwrap();
    let token = "ghp_x7Kq2LmP9vR4sT1wY6zB3nC8dF5gH0jJ2aE4";
    std::fs::write(dir.path().join("a.txt"), format!("t = {token}\n")).unwrap();
    std::fs::write(dir.path().join("b.txt"), format!("\n\nother {token}\n")).unwrap();
    let report = scan(&scanner(), &[dir.path()], &[]);
    let f: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.rule_id == "github-token")
        .collect();
    assert_eq!(f.len(), 2, "{:?}", report.findings);
    assert_eq!(f[0].fingerprint, f[1].fingerprint);
    assert_eq!((f[0].line, f[1].line), (1, 3));
    assert_eq!(f[0].preview, "gh…E4");
}

#[test]
fn a_github_token_with_a_sequence_inside_is_found_a_sequence_alone_is_not() {
    let dir = tempfile::tempdir().unwrap();
    // Assembled here: the source holds no scannable token.
    let seq = "abcdefghij0123456789";
    let real = ["ghp_", "Qm7Rt2Wz", seq, "Lp4Vn8Xs"].concat();
    let fake = ["ghp_", seq, "abcdefghij012345"].concat();
    std::fs::write(dir.path().join("real.txt"), format!("token = {real}\n")).unwrap();
    std::fs::write(dir.path().join("fake.txt"), format!("token = {fake}\n")).unwrap();
    let report = scan(&scanner(), &[dir.path()], &[]);
    let found: Vec<(&str, &str)> = report
        .findings
        .iter()
        .map(|f| (f.rule_id.as_str(), f.path.as_str()))
        .collect();
    assert_eq!(found, [("github-token", "real.txt")]);
}

#[test]
fn symlinks_fifos_and_sockets_are_skipped_and_counted() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    // Built here so that the source holds no scannable token.
    let token = format!(
        "token = {}{}\n",
        "ghp_", "x7Kq2LmP9vR4sT1wY6zB3nC8dF5gH0jJ2aE4"
    );
    std::fs::write(tree.join("real.txt"), &token).unwrap();
    // Outside the tree: not scanned through a link.
    let outside = dir.path().join("outside.txt");
    std::fs::write(&outside, &token).unwrap();
    symlink("real.txt", tree.join("to-real")).unwrap();
    symlink(&outside, tree.join("to-outside")).unwrap();
    symlink(dir.path(), tree.join("to-dir")).unwrap();
    symlink("nowhere", tree.join("dangling")).unwrap();
    let status = Command::new("mkfifo")
        .arg(tree.join("fifo"))
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo failed");
    let _socket = std::os::unix::net::UnixListener::bind(tree.join("socket")).unwrap();

    let sc = scanner();
    let r = scan(&sc, &[&tree], &[]);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(
        (
            r.stats.scanned,
            r.stats.skipped_symlink,
            r.stats.skipped_special
        ),
        (1, 4, 2),
        "{:?}",
        r.stats
    );
    let paths: Vec<_> = r.findings.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["real.txt"]);

    // A root given as a link is followed, not skipped.
    let r = scan(&sc, &[&tree.join("to-real")], &[]);
    assert_eq!(
        (r.stats.scanned, r.stats.skipped_symlink),
        (1, 0),
        "{:?}",
        r.stats
    );
}

#[test]
fn binaries_large_files_and_archives_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let token = "ghp_x7Kq2LmP9vR4sT1wY6zB3nC8dF5gH0jJ2aE4";
    std::fs::write(
        dir.path().join("bin"),
        [b"\0\x01".as_slice(), token.as_bytes()].concat(),
    )
    .unwrap();
    std::fs::write(dir.path().join("x.zip"), token).unwrap();
    std::fs::write(
        dir.path().join("big.txt"),
        format!("{token}\n{}", "a".repeat(2000)),
    )
    .unwrap();
    let sc = scanner();
    let s = Scan {
        scanner: &sc,
        options: ScanOptions {
            max_file_size: 1000,
            ..Default::default()
        },
        allowlist: Allowlist::default(),
        baseline: Baseline::default(),
    };
    let r = s.run(&[dir.path().to_path_buf()], &[], None);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert_eq!(
        (
            r.stats.skipped_binary,
            r.stats.skipped_archive,
            r.stats.skipped_size
        ),
        (1, 1, 1)
    );
}

#[test]
fn chunked_reading_finds_matches_across_chunk_boundaries() {
    let sc = scanner();
    let token = "ghp_x7Kq2LmP9vR4sT1wY6zB3nC8dF5gH0jJ2aE4";
    // Place the token across the first chunk's reporting limit.
    let limit = engine::CHUNK;
    let mut data = Vec::new();
    let mut lines = 0u64;
    while data.len() < limit - 20 {
        data.extend_from_slice(b"some ordinary text of a line\n");
        lines += 1;
    }
    data.extend_from_slice(token.as_bytes());
    data.extend_from_slice(b"\n");
    data.extend(std::iter::repeat_n(b'z', engine::CHUNK));
    let (hits, n) = sc.scan_reader(&data[..]).unwrap().unwrap();
    assert_eq!(n, data.len() as u64);
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].line, lines + 1);
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
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn secret_committed_then_deleted_is_found_with_its_commit() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git(repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README"), "hello\n").unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "first"]);
    let token = "glpat-Zr8Kd2Lq9Vx4Pm7Tn3Wb";
    std::fs::create_dir_all(repo.join("conf")).unwrap();
    std::fs::write(repo.join("conf/ci.yml"), format!("x: 1\ngitlab: {token}\n")).unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "add ci"]);
    let introduced = git(repo, &["rev-parse", "HEAD"]);
    std::fs::remove_file(repo.join("conf/ci.yml")).unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", "remove ci"]);
    // On a side branch too: the same blob is scanned once.
    git(repo, &["checkout", "-q", "-b", "side", &introduced]);
    std::fs::write(repo.join("other.txt"), "nothing\n").unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "side"]);

    let sc = scanner();
    let tree = scan(&sc, &[], &[repo]);
    assert!(tree.errors.is_empty(), "{:?}", tree.errors);
    let f: Vec<&Finding> = tree
        .findings
        .iter()
        .filter(|f| f.rule_id == "gitlab-token")
        .collect();
    assert_eq!(f.len(), 1, "{:?}", tree.findings);
    assert_eq!(f[0].commit.as_deref(), Some(introduced.as_str()));
    assert_eq!((f[0].path.as_str(), f[0].line), ("conf/ci.yml", 2));
    assert!(!serde_json::to_string(&tree).unwrap().contains(token));

    // Not a repository: an error, not an empty pass.
    let empty = tempfile::tempdir().unwrap();
    let r = scan(&sc, &[], &[empty.path()]);
    assert_eq!(r.errors.len(), 1);
}

#[test]
fn allowlist_and_baseline_suppress() {
    let corpus = testcorpus::generate(11);
    let dir = tempfile::tempdir().unwrap();
    corpus.write(dir.path()).unwrap();
    let sc = scanner();
    let all = scan(&sc, &[dir.path()], &[]);
    assert!(!all.findings.is_empty());
    let baseline = Baseline::from_findings(&all.findings);
    let s = Scan {
        scanner: &sc,
        options: ScanOptions::default(),
        allowlist: Allowlist::default(),
        baseline: baseline.clone(),
    };
    let again = s.run(&[dir.path().to_path_buf()], &[], None);
    assert!(again.findings.is_empty());
    assert_eq!(again.stats.baselined, all.findings.len() as u64);
    // A new secret is new.
    std::fs::write(
        dir.path().join("new.txt"),
        "t ghp_x7Kq2LmP9vR4sT1wY6zB3nC8dF5gH0jJ2aE4\n",
    )
    .unwrap();
    let again = s.run(&[dir.path().to_path_buf()], &[], None);
    assert_eq!(again.findings.len(), 1);

    let allow = Allowlist::new(
        &AllowlistFile {
            paths: vec!["keys/**".into(), "gcp/*.json".into()],
            rules: vec!["email-address".into()],
            fingerprints: vec![again.findings[0].fingerprint.clone()],
        },
        "test",
    )
    .unwrap();
    let s = Scan {
        scanner: &sc,
        options: ScanOptions::default(),
        allowlist: allow,
        baseline: Baseline::default(),
    };
    let r = s.run(&[dir.path().to_path_buf()], &[], None);
    assert!(r.findings.iter().all(|f| f.rule_id != "email-address"
        && !f.path.starts_with("keys/")
        && !f.path.starts_with("gcp/")
        && f.path != "new.txt"));
    assert!(r.stats.allowlisted > 0);
    let _ = BaselineEntry {
        rule_id: String::new(),
        fingerprint: String::new(),
        path: String::new(),
    };
}

/// Content pushed in pieces of any size is scanned as when it is whole:
/// the same hits (rule, line, fingerprint), also across the stream's chunk
/// boundary; binary content is refused early.
#[test]
fn stream_scan_finds_what_a_whole_buffer_scan_finds_in_any_piece_size() {
    let sc = scanner();
    let corpus = testcorpus::generate(5);
    let mut data = Vec::new();
    for (_, content) in &corpus.files {
        data.extend_from_slice(content.as_bytes());
        data.push(b'\n');
    }
    // Push it past a stream chunk, with a token right at the boundary.
    let token = "ghp_x7Kq2LmP9vR4sT1wY6zB3nC8dF5gH0jJ2aE4";
    while data.len() < engine::STREAM_CHUNK - 10 {
        data.extend_from_slice(b"filler line of ordinary prose\n");
    }
    data.extend_from_slice(format!("{token}\n").as_bytes());
    data.extend(std::iter::repeat_n(b'y', engine::OVERLAP * 3));
    let whole = sc.scan_bytes(&data);
    assert!(whole.len() > 10, "{}", whole.len());
    assert!(whole.iter().any(|h| sc.rule(h.rule).id == "github-token"));
    for piece in [1usize, 7, 4096, 65_537, 3 << 20] {
        let mut s = sc.stream();
        for p in data.chunks(piece) {
            assert!(s.push(p));
        }
        assert_eq!(s.bytes(), data.len() as u64);
        assert_eq!(s.finish().unwrap(), whole, "piece size {piece}");
    }
    // Binary: a NUL in the first bytes stops the stream.
    let mut s = sc.stream();
    let bin = [b"\0\x01".as_slice(), token.as_bytes(), &[b'a'; 9000]].concat();
    assert!(!s.push(&bin));
    assert!(s.finish().is_none());
    let mut s = sc.stream();
    assert!(s.push(b"\0 short"));
    assert!(s.finish().is_none());
}

/// Objects are located by root and key, skipped by name and size as files
/// are, and suppressed by the allowlist and baseline.
#[test]
fn object_scan_records_keys_skips_and_suppression() {
    let sc = scanner();
    let token = "ghp_x7Kq2LmP9vR4sT1wY6zB3nC8dF5gH0jJ2aE4";
    let stripe = "sk_live_Zr8Kd2Lq9Vx4Pm7Tn3WbQe5Y";
    let mk = |baseline: Baseline| Scan {
        scanner: &sc,
        options: ScanOptions {
            max_file_size: 100,
            ..Default::default()
        },
        allowlist: Allowlist::new(
            &AllowlistFile {
                paths: vec!["fixtures/**".into()],
                rules: vec![],
                fingerprints: vec![],
            },
            "test",
        )
        .unwrap(),
        baseline,
    };
    let run = |s: &Scan<'_>| {
        let o = s.objects("s3://bucket");
        assert_eq!(o.skip_of("a/b.zip", Some(10)), Some(Skip::Archive));
        assert_eq!(o.skip_of("a/b.txt", Some(101)), Some(Skip::Size));
        assert_eq!(o.skip_of("a/b.txt", Some(100)), None);
        for (key, body) in [
            ("env/prod.txt", format!("x\nt={token}\n")),
            ("fixtures/t.txt", format!("{token}\n")),
            ("pay/keys.py", format!("KEY = \"{stripe}\"\n")),
        ] {
            let mut st = o.stream();
            st.push(body.as_bytes());
            o.record(key, st);
        }
        o.skipped(Skip::Excluded);
        o.error(
            "s3://bucket/locked.txt",
            "s3:GetObject failed: AccessDenied",
        );
        o.finish()
    };
    let r = run(&mk(Baseline::default()));
    let got: Vec<(&str, &str, &str, u64)> = r
        .findings
        .iter()
        .map(|f| (f.root.as_str(), f.path.as_str(), f.rule_id.as_str(), f.line))
        .collect();
    assert_eq!(
        got,
        [
            ("s3://bucket", "env/prod.txt", "github-token", 2),
            ("s3://bucket", "pay/keys.py", "stripe-secret-key", 1)
        ]
    );
    assert_eq!((r.stats.scanned, r.stats.allowlisted), (3, 1));
    assert_eq!(r.stats.skipped_excluded, 1);
    assert_eq!(r.errors.len(), 1);
    let sarif = crate::sarif::to_sarif(&r, &sc, "0");
    assert_eq!(
        sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
            ["uri"],
        "s3://bucket/env/prod.txt"
    );
    assert!(!sarif.to_string().contains(token));
    // The baseline accepts the stripe key wherever it is.
    let b = Baseline::from_findings(&r.findings[1..]);
    let r = run(&mk(b));
    assert_eq!(r.findings.len(), 1);
    assert_eq!(r.stats.baselined, 1);
}
