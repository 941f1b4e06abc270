//! Restore tests against real restic, borg and PostgreSQL from Debian: each
//! test makes a repository (or a database and its dump) in a temp
//! directory, backs up a generated tree, and runs the collector and the check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use evident_policies::backup::{BackupObservation, RESTORE_TEST_PASSED};
use evident_policies::{Finding, ReasonCode, Status, TargetKind};

use super::*;
use crate::testutil::require;

fn target() -> Target {
    Target {
        kind: TargetKind::Host,
        id: "test".into(),
    }
}

fn sh(c: &mut Command) -> String {
    let out = c.output().expect("run");
    assert!(
        out.status.success(),
        "{c:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A tree of 40 files in 4 directories and a canary; returns (root, canary path, canary sha256).
fn make_tree(dir: &Path) -> (PathBuf, String, String) {
    let root = dir.join("data");
    for d in 0..4 {
        let sub = root.join(format!("dir{d}"));
        std::fs::create_dir_all(&sub).unwrap();
        for f in 0..10 {
            let body = format!("file {d}/{f}\n").repeat(50 * (f + 1));
            std::fs::write(sub.join(format!("f{f}.txt")), body).unwrap();
        }
    }
    let canary = root.join("canary.txt");
    std::fs::write(&canary, b"evident canary: do not change\n").unwrap();
    let hash = sha256_file(&canary).unwrap();
    (root, canary.to_string_lossy().into_owned(), hash)
}

fn set(backend: Backend, repo: &Path, pw: &Path, canary: (&str, &str)) -> BackupSet {
    BackupSet {
        name: "files".into(),
        backend,
        repository: repo.to_string_lossy().into_owned(),
        password_file: Some(pw.to_path_buf()),
        password_env: None,
        paths: vec![],
        rpo_hours: 24,
        rto_target_seconds: 3600,
        sample_size: 5,
        canaries: vec![Canary {
            path: canary.0.into(),
            sha256: canary.1.into(),
        }],
        read_data_subset: Some("100%".into()),
        program: None,
        host: None,
        port: None,
        user: None,
        maintenance_database: None,
        database: None,
        sanity: vec![],
    }
}

/// Run the collector with sandboxes under `parent`, then the check; the
/// sandbox must be gone afterwards whatever the outcome.
fn run_sets(sets: Vec<BackupSet>, parent: &Path) -> (BackupObservation, Vec<Finding>) {
    let settings = BackupSettings {
        sets,
        sandbox_parent: parent.to_path_buf(),
        time_limit: Duration::from_secs(300),
    };
    let obs = collect(&settings, target(), Utc::now());
    let left: Vec<_> = std::fs::read_dir(parent).unwrap().collect();
    assert!(left.is_empty(), "sandbox left behind: {left:?}");
    let f = (RESTORE_TEST_PASSED.evaluate)(&obs);
    (obs.payload().unwrap(), f)
}

fn corrupt_every_file_under(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            corrupt_every_file_under(&p);
        } else {
            let mut bytes = std::fs::read(&p).unwrap();
            if bytes.len() > 64 {
                let mid = bytes.len() / 2;
                for b in &mut bytes[mid..mid + 16] {
                    *b ^= 0x5A;
                }
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
                std::fs::write(&p, bytes).unwrap();
            }
        }
    }
}

struct Restic {
    dir: tempfile::TempDir,
    repo: PathBuf,
    pw: PathBuf,
    canary: String,
    hash: String,
}

fn restic_repo(time: Option<&str>) -> Restic {
    let bin = require("restic", "restic");
    let dir = tempfile::tempdir().unwrap();
    let (root, canary, hash) = make_tree(dir.path());
    let repo = dir.path().join("repo");
    let pw = dir.path().join("pw");
    write_secret(&pw, "correct horse battery staple\n");
    let base = |args: &[&str]| {
        let mut c = Command::new(&bin);
        c.arg("-r")
            .arg(&repo)
            .arg("--password-file")
            .arg(&pw)
            .arg("--no-cache")
            .args(args);
        c
    };
    sh(&mut base(&["init"]));
    let mut b = base(&["backup"]);
    if let Some(t) = time {
        b.args(["--time", t]);
    }
    sh(b.arg(&root));
    Restic {
        dir,
        repo,
        pw,
        canary,
        hash,
    }
}

#[test]
fn restic_good_backup_passes_with_measured_duration() {
    let r = restic_repo(None);
    let parent = tempfile::tempdir().unwrap();
    let (obs, f) = run_sets(
        vec![set(Backend::Restic, &r.repo, &r.pw, (&r.canary, &r.hash))],
        parent.path(),
    );
    assert_eq!(f[0].status, Status::Pass, "{}", f[0].reason);
    let t = &obs.sets[0];
    assert!(t.restore_millis.is_some());
    assert!(t.snapshot.as_ref().unwrap().id.len() == 64);
    // 5 sampled files plus the canary.
    assert_eq!(t.items_restored, 6, "{t:?}");
    assert!(t.bytes_restored > 0);
    assert_eq!(
        t.canaries[0].actual_sha256.as_deref(),
        Some(r.hash.as_str())
    );
    assert!(t
        .verified
        .iter()
        .any(|v| v.contains("restic check --read-data-subset=100%")));
    assert!(f[0].reason.contains("restored 6 items"), "{}", f[0].reason);
    drop(r.dir);
}

#[test]
fn restic_restore_everything_with_paths() {
    let r = restic_repo(None);
    let parent = tempfile::tempdir().unwrap();
    let mut s = set(Backend::Restic, &r.repo, &r.pw, (&r.canary, &r.hash));
    s.sample_size = 0;
    let dir1 = Path::new(&r.canary).parent().unwrap().join("dir1");
    s.paths = vec![dir1.to_string_lossy().into_owned()];
    let (obs, f) = run_sets(vec![s.clone()], parent.path());
    assert_eq!(f[0].status, Status::Pass, "{}", f[0].reason);
    assert_eq!(obs.sets[0].items_restored, 11);
    // A path that matters but is not in the backup fails.
    s.paths.push("/srv/not-backed-up".into());
    let (_, f) = run_sets(vec![s], parent.path());
    assert_eq!(
        f[0].reason_code,
        ReasonCode::BackupFileMissing,
        "{}",
        f[0].reason
    );
    assert!(f[0].reason.contains("/srv/not-backed-up"));
}

#[test]
fn restic_corrupted_pack_fails_naming_the_damage() {
    let r = restic_repo(None);
    corrupt_every_file_under(&r.repo.join("data"));
    let parent = tempfile::tempdir().unwrap();
    let (_, f) = run_sets(
        vec![set(Backend::Restic, &r.repo, &r.pw, (&r.canary, &r.hash))],
        parent.path(),
    );
    assert_eq!(f[0].status, Status::Fail, "{}", f[0].reason);
    assert_eq!(
        f[0].reason_code,
        ReasonCode::BackupRepositoryCorrupted,
        "{}",
        f[0].reason
    );
}

#[test]
fn restic_one_damaged_data_pack_fails_after_listing() {
    let r = restic_repo(None);
    // The largest pack holds the files' contents (the trees are small): the
    // snapshot still lists, the restore or the data check finds the damage.
    let mut packs = Vec::new();
    for d in std::fs::read_dir(r.repo.join("data")).unwrap().flatten() {
        for p in std::fs::read_dir(d.path()).unwrap().flatten() {
            packs.push((p.metadata().unwrap().len(), p.path()));
        }
    }
    packs.sort();
    let (_, largest) = packs.pop().unwrap();
    let tmp = r.dir.path().join("one-pack");
    std::fs::create_dir(&tmp).unwrap();
    std::fs::copy(&largest, tmp.join("pack")).unwrap();
    corrupt_every_file_under(&tmp);
    std::fs::set_permissions(
        &largest,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    std::fs::copy(tmp.join("pack"), &largest).unwrap();
    let parent = tempfile::tempdir().unwrap();
    let mut s = set(Backend::Restic, &r.repo, &r.pw, (&r.canary, &r.hash));
    s.sample_size = 0;
    let (obs, f) = run_sets(vec![s], parent.path());
    assert_eq!(f[0].status, Status::Fail, "{}", f[0].reason);
    assert_eq!(
        f[0].reason_code,
        ReasonCode::BackupRepositoryCorrupted,
        "{}",
        f[0].reason
    );
    assert!(obs.sets[0].snapshot.is_some(), "the snapshot still lists");
    assert!(
        f[0].reason.contains("restic check failed"),
        "{}",
        f[0].reason
    );
}

#[test]
fn restic_stale_snapshot_fails() {
    let r = restic_repo(Some("2020-01-01 00:00:00"));
    let parent = tempfile::tempdir().unwrap();
    let (obs, f) = run_sets(
        vec![set(Backend::Restic, &r.repo, &r.pw, (&r.canary, &r.hash))],
        parent.path(),
    );
    assert_eq!(f[0].status, Status::Fail, "{}", f[0].reason);
    assert_eq!(f[0].reason_code, ReasonCode::BackupSnapshotStale);
    assert!(f[0].reason.contains("RPO is 24 hours"), "{}", f[0].reason);
    // The restore itself still ran and was measured.
    assert!(obs.sets[0].restore_millis.is_some());
}

#[test]
fn restic_wrong_password_hash_mismatch_and_missing_canary_fail() {
    let r = restic_repo(None);
    let parent = tempfile::tempdir().unwrap();
    let wrong = r.dir.path().join("wrong");
    write_secret(&wrong, "not the password\n");
    let (_, f) = run_sets(
        vec![set(Backend::Restic, &r.repo, &wrong, (&r.canary, &r.hash))],
        parent.path(),
    );
    assert_eq!(
        f[0].reason_code,
        ReasonCode::BackupPasswordRejected,
        "{}",
        f[0].reason
    );
    assert!(!f[0].reason.contains("not the password"));

    let other = "0".repeat(64);
    let (_, f) = run_sets(
        vec![set(Backend::Restic, &r.repo, &r.pw, (&r.canary, &other))],
        parent.path(),
    );
    assert_eq!(
        f[0].reason_code,
        ReasonCode::BackupContentMismatch,
        "{}",
        f[0].reason
    );
    assert!(f[0].reason.contains(&r.canary));

    let (_, f) = run_sets(
        vec![set(
            Backend::Restic,
            &r.repo,
            &r.pw,
            ("/srv/gone.txt", &r.hash),
        )],
        parent.path(),
    );
    assert_eq!(
        f[0].reason_code,
        ReasonCode::BackupFileMissing,
        "{}",
        f[0].reason
    );
    assert!(f[0].reason.contains("/srv/gone.txt"));
}

#[test]
fn missing_tool_and_unreadable_secret_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    write_secret(&pw, "x\n");
    let parent = tempfile::tempdir().unwrap();
    let mut s = set(
        Backend::Restic,
        &dir.path().join("repo"),
        &pw,
        ("/a", &"0".repeat(64)),
    );
    s.program = Some("/nonexistent/restic".into());
    let (_, f) = run_sets(vec![s.clone()], parent.path());
    assert_eq!(f[0].status, Status::Error, "{}", f[0].reason);
    assert_eq!(f[0].reason_code, ReasonCode::ToolUnavailable);
    assert!(f[0].reason.contains("/nonexistent/restic is not installed"));

    s.program = None;
    s.password_file = Some(dir.path().join("no-such-file"));
    let (_, f) = run_sets(vec![s.clone()], parent.path());
    assert_eq!(f[0].status, Status::Error, "{}", f[0].reason);
    // A password file every local user can read is refused, without its content.
    let open = dir.path().join("pw-open");
    std::fs::write(&open, "w0rld-readable-pass\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    s.password_file = Some(open);
    let (_, f) = run_sets(vec![s.clone()], parent.path());
    assert_eq!(f[0].status, Status::Error, "{}", f[0].reason);
    assert!(
        f[0].reason.contains("readable by other users"),
        "{}",
        f[0].reason
    );
    assert!(
        !f[0].reason.contains("w0rld-readable-pass"),
        "{}",
        f[0].reason
    );
    s.password_file = None;
    s.password_env = Some("EVIDENT_TEST_SURELY_UNSET_VARIABLE".into());
    let (_, f) = run_sets(vec![s], parent.path());
    assert_eq!(f[0].status, Status::Error, "{}", f[0].reason);
}

struct Borg {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    pw: PathBuf,
    canary: String,
    hash: String,
}

fn borg_repo() -> Borg {
    let bin = require("borg", "borgbackup");
    let dir = tempfile::tempdir().unwrap();
    let (root, canary, hash) = make_tree(dir.path());
    let repo = dir.path().join("repo");
    let pw = dir.path().join("pw");
    write_secret(&pw, "borg passphrase\n");
    let base = || {
        let mut c = Command::new(&bin);
        c.env("BORG_PASSPHRASE", "borg passphrase")
            .env("BORG_BASE_DIR", dir.path().join("borg-home"));
        c
    };
    sh(base().args(["init", "-e", "repokey"]).arg(&repo));
    sh(base()
        .arg("create")
        .arg(format!("{}::nightly-1", repo.display()))
        .arg(&root));
    Borg {
        _dir: dir,
        repo,
        pw,
        canary,
        hash,
    }
}

#[test]
fn borg_good_backup_passes_and_corruption_fails() {
    let b = borg_repo();
    let parent = tempfile::tempdir().unwrap();
    // An archive stamped 2020 next to the current one: the newest counts.
    sh(Command::new("borg")
        .env("BORG_PASSPHRASE", "borg passphrase")
        .env("BORG_BASE_DIR", b.repo.parent().unwrap().join("borg-home"))
        .args(["create", "--timestamp", "2020-01-01T00:00:00"])
        .arg(format!("{}::old", b.repo.display()))
        .arg(Path::new(&b.canary).parent().unwrap()));
    let s = set(Backend::Borg, &b.repo, &b.pw, (&b.canary, &b.hash));
    let (obs, f) = run_sets(vec![s.clone()], parent.path());
    assert_eq!(f[0].status, Status::Pass, "{}", f[0].reason);
    assert_eq!(obs.sets[0].snapshot.as_ref().unwrap().id, "nightly-1");
    assert_eq!(obs.sets[0].items_restored, 6);
    assert!(obs.sets[0]
        .verified
        .iter()
        .any(|v| v.contains("borg check --verify-data")));

    let wrong = b.repo.parent().unwrap().join("wrong");
    write_secret(&wrong, "nope\n");
    let (_, f) = run_sets(
        vec![set(Backend::Borg, &b.repo, &wrong, (&b.canary, &b.hash))],
        parent.path(),
    );
    assert_eq!(
        f[0].reason_code,
        ReasonCode::BackupPasswordRejected,
        "{}",
        f[0].reason
    );

    corrupt_every_file_under(&b.repo.join("data"));
    let (_, f) = run_sets(vec![s], parent.path());
    assert_eq!(f[0].status, Status::Fail, "{}", f[0].reason);
    assert_eq!(
        f[0].reason_code,
        ReasonCode::BackupRepositoryCorrupted,
        "{}",
        f[0].reason
    );
}

/// A PostgreSQL server from Debian on a free loopback port, run as `nobody`
/// (PostgreSQL refuses to run as root), with password authentication;
/// stopped when dropped.
struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    runuser: PathBuf,
    port: u16,
    pwfile: PathBuf,
}

const PG_PASSWORD: &str = "pg test password";

impl Postgres {
    fn start() -> Postgres {
        use std::os::unix::fs::PermissionsExt;
        let runuser = require("runuser", "util-linux");
        let bin = glob::glob("/usr/lib/postgresql/*/bin/initdb")
            .unwrap()
            .flatten()
            .last()
            .unwrap_or_else(|| {
                panic!("initdb is not installed: this test needs the real PostgreSQL (`apt-get install postgresql`, as .ci/run does)")
            })
            .parent()
            .unwrap()
            .to_path_buf();
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let pg = dir.path().join("pg");
        std::fs::create_dir(&pg).unwrap();
        let server_pw = pg.join("initpw");
        std::fs::write(&server_pw, format!("{PG_PASSWORD}\n")).unwrap();
        for p in [&pg, &server_pw] {
            std::os::unix::fs::chown(p, Some(65534), Some(65534)).unwrap();
        }
        let as_nobody = |program: &str| {
            let mut c = Command::new(&runuser);
            c.args(["-u", "nobody", "--"]).arg(bin.join(program));
            c
        };
        sh(as_nobody("initdb")
            .arg("-D")
            .arg(pg.join("data"))
            .args(["-U", "evident", "-E", "UTF8", "--auth=scram-sha-256"])
            .arg(format!("--pwfile={}", server_pw.display())));
        let port = crate::testutil::free_tcp_port();
        sh(as_nobody("pg_ctl")
            .arg("-D")
            .arg(pg.join("data"))
            .arg("-l")
            .arg(pg.join("log"))
            .arg("-o")
            .arg(format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1",
                pg.display()
            ))
            .args(["-w", "-t", "60", "start"]));
        let pwfile = dir.path().join("client-pw");
        write_secret(&pwfile, format!("{PG_PASSWORD}\n"));
        Postgres {
            dir,
            bin,
            runuser,
            port,
            pwfile,
        }
    }

    fn client(&self, program: &str) -> Command {
        let mut c = Command::new(self.bin.join(program));
        c.env("PGHOST", "127.0.0.1")
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", "evident")
            .env("PGPASSWORD", PG_PASSWORD);
        c
    }

    fn query(&self, db: &str, sql: &str) -> String {
        sh(self.client("psql").args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            db,
            "-c",
            sql,
        ]))
        .trim()
        .to_string()
    }

    fn set(&self, dump: &Path, sanity: &[(&str, u64)]) -> BackupSet {
        BackupSet {
            name: "shop".into(),
            backend: Backend::Postgres,
            repository: dump.to_string_lossy().into_owned(),
            password_file: Some(self.pwfile.clone()),
            password_env: None,
            paths: vec![],
            rpo_hours: 24,
            rto_target_seconds: 3600,
            sample_size: 0,
            canaries: vec![],
            read_data_subset: None,
            program: Some(self.bin.join("pg_restore").to_string_lossy().into_owned()),
            host: Some("127.0.0.1".into()),
            port: Some(self.port),
            user: Some("evident".into()),
            maintenance_database: None,
            database: Some("shop".into()),
            sanity: sanity
                .iter()
                .map(|(t, n)| SanityQuery {
                    table: t.to_string(),
                    min_rows: *n,
                })
                .collect(),
        }
    }

    fn scratch_databases(&self) -> String {
        self.query(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'evident_restore_%'",
        )
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new(&self.runuser)
            .args(["-u", "nobody", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("pg/data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

#[test]
fn postgres_dump_restores_into_a_scratch_database_and_is_dropped() {
    let pg = Postgres::start();
    pg.query("postgres", "CREATE DATABASE shop");
    pg.query(
        "shop",
        "CREATE TABLE orders (id int PRIMARY KEY, total numeric); \
         INSERT INTO orders SELECT g, g * 1.5 FROM generate_series(1, 50) g; \
         CREATE SCHEMA crm; CREATE TABLE crm.customers (id int); INSERT INTO crm.customers VALUES (1), (2), (3);",
    );
    let custom = pg.dir.path().join("shop.dump");
    sh(pg
        .client("pg_dump")
        .args(["-Fc", "-d", "shop", "-f"])
        .arg(&custom));
    let directory = pg.dir.path().join("shop.dir");
    sh(pg
        .client("pg_dump")
        .args(["-Fd", "-d", "shop", "-f"])
        .arg(&directory));
    let parent = tempfile::tempdir().unwrap();

    // Good dumps (custom and directory format) with satisfied sanity queries: pass.
    for dump in [&custom, &directory] {
        let (obs, f) = run_sets(
            vec![pg.set(dump, &[("orders", 50), ("crm.customers", 1)])],
            parent.path(),
        );
        assert_eq!(f[0].status, Status::Pass, "{}", f[0].reason);
        let t = &obs.sets[0];
        assert!(t.restore_millis.is_some());
        assert_eq!(t.items_restored, 2);
        assert_eq!(t.sanity[0].rows, Some(50));
        assert!(
            t.verified.iter().any(|v| v.contains("dropped")),
            "{:?}",
            t.verified
        );
        assert_eq!(pg.scratch_databases(), "0");
    }

    // A table the dump lacks, and a row count below the minimum: fail.
    let (_, f) = run_sets(
        vec![pg.set(&custom, &[("orders", 1000), ("public.invoices", 1)])],
        parent.path(),
    );
    assert_eq!(f[0].status, Status::Fail, "{}", f[0].reason);
    assert_eq!(f[0].reason_code, ReasonCode::BackupSanityQueryFailed);
    assert!(f[0].reason.contains("public.invoices"), "{}", f[0].reason);
    assert!(
        f[0].reason
            .contains("orders: 50 rows, at least 1000 required"),
        "{}",
        f[0].reason
    );
    assert_eq!(pg.scratch_databases(), "0");

    // A damaged dump: fail.
    let mut bytes = std::fs::read(&custom).unwrap();
    bytes.truncate(bytes.len() / 2);
    let broken = pg.dir.path().join("broken.dump");
    std::fs::write(&broken, bytes).unwrap();
    let (_, f) = run_sets(vec![pg.set(&broken, &[("orders", 1)])], parent.path());
    assert_eq!(f[0].status, Status::Fail, "{}", f[0].reason);
    assert_eq!(pg.scratch_databases(), "0");

    // A wrong database password: fail, and the password is not in the reason.
    let wrong = pg.dir.path().join("wrong-pw");
    write_secret(&wrong, "wrong\n");
    let mut s = pg.set(&custom, &[("orders", 1)]);
    s.password_file = Some(wrong);
    let (_, f) = run_sets(vec![s], parent.path());
    // The agent cannot reach the restore server: error, not a verdict on the backup.
    assert_eq!(f[0].status, Status::Error, "{}", f[0].reason);
    assert!(
        f[0].reason.contains("password authentication failed"),
        "{}",
        f[0].reason
    );
    assert!(!f[0].reason.contains(PG_PASSWORD));

    // The original database is untouched.
    assert_eq!(pg.query("shop", "SELECT count(*) FROM orders"), "50");
}

/// The repository (which may embed credentials) is passed in the
/// environment, never in argv where `ps` shows it. The "tool" here is a
/// script that records what it was given and fails; the verdict is not the
/// point, the recorded command line is.
#[test]
fn repository_is_never_in_the_command_line() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("argv");
    let script = dir.path().join("tool");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" >> {log}\nprintf 'env:%s|%s\\n' \"$RESTIC_REPOSITORY\" \"$BORG_REPO\" >> {log}\nexit 1\n",
            log = log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    let pw = dir.path().join("pw");
    write_secret(&pw, "pw\n");
    let repo = "rest:https://alice:s3cret@backup.invalid:8000/repo";
    for backend in [Backend::Restic, Backend::Borg] {
        std::fs::write(&log, "").unwrap();
        let mut s = set(backend, Path::new(repo), &pw, ("/c", &"0".repeat(64)));
        s.program = Some(script.to_string_lossy().into_owned());
        let sandbox = tempfile::tempdir().unwrap();
        let (obs, findings) = run_sets(vec![s], sandbox.path());
        assert_eq!(findings[0].status, Status::Fail, "{obs:?}");
        let seen = std::fs::read_to_string(&log).unwrap();
        let argv: Vec<&str> = seen.lines().filter(|l| !l.starts_with("env:")).collect();
        assert!(!argv.is_empty(), "{backend:?}: the tool was not run");
        assert!(
            argv.iter()
                .all(|a| !a.contains("s3cret") && !a.contains("backup.invalid")),
            "{backend:?}: repository in argv: {argv:?}"
        );
        assert!(
            seen.contains(&format!("env:{repo}|")) || seen.contains(&format!("env:|{repo}")),
            "{backend:?}: repository not passed in the environment"
        );
        let rendered = serde_json::to_string(&obs).unwrap();
        assert!(
            !rendered.contains("s3cret"),
            "{backend:?}: secret in the observation"
        );
    }
}

/// Write a password file with mode 0600: evident refuses one other users can read.
fn write_secret(path: &std::path::Path, body: impl AsRef<[u8]>) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}
