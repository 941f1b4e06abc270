//! `evident run`: signals, crashes, status and the single-instance lock.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

fn start_daemon(sb: &Sandbox) -> Child {
    evident()
        .arg("--config")
        .arg(example_config())
        .arg("--data-dir")
        .arg(sb.data())
        .args(["run", "--run-at-start"])
        .env_remove("EVIDENT_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn evident run")
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .expect("run kill");
    assert!(ok.success(), "kill -{sig} failed");
}

/// Wait for the child to exit, at most `limit`.
fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("evident run did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Poll `evident status --format json` until the host collector has run and
/// its next run is scheduled.
fn wait_for_first_run(sb: &Sandbox, limit: Duration) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let o = sb.evident(&["status", "--format", "json"]);
        assert_code(&o, 0);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        if v["collectors"][0]["last_outcome"].is_string()
            && v["collectors"][0]["next_run_at"].is_string()
        {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "no run recorded within {limit:?}: {v:#}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_stops_the_daemon_with_exit_0_and_a_ledger_that_verifies() {
    // Early, mid-run and idle: whichever phase the signal lands in.
    for delay_ms in [30u64, 150, 0] {
        let sb = Sandbox::new();
        let mut child = start_daemon(&sb);
        if delay_ms == 0 {
            wait_for_first_run(&sb, Duration::from_secs(60));
        } else {
            std::thread::sleep(Duration::from_millis(delay_ms));
        }
        signal(&child, "TERM");
        let status = wait_exit(&mut child, Duration::from_secs(10));
        assert_eq!(
            status.code(),
            Some(0),
            "exit after SIGTERM (delay {delay_ms} ms)"
        );
        if sb.data().join("evidence.db").exists() {
            assert_code(&sb.evident(&["verify"]), 0);
        }
        if delay_ms == 0 {
            // At the default level the daemon logs its start, runs and stop.
            let mut log = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .expect("stderr")
                .read_to_string(&mut log)
                .expect("read stderr");
            for line in [
                "evident daemon started",
                "run recorded",
                "evident daemon stopped",
            ] {
                assert!(log.contains(line), "no {line:?} in the log: {log}");
            }
        }
    }
}

#[test]
fn status_shows_last_run_outcome_and_next_run() {
    let sb = Sandbox::new();
    let mut child = start_daemon(&sb);
    let v = wait_for_first_run(&sb, Duration::from_secs(60));
    assert_eq!(v["daemon_running"], true, "{v:#}");
    let host = &v["collectors"][0];
    assert_eq!(host["collector"], "host");
    assert_eq!(host["schedule"], "@hourly");
    assert_eq!(host["last_outcome"], "ok", "{v:#}");
    assert!(
        host["next_run_at"]
            .as_str()
            .is_some_and(|t| t.ends_with(":00:00Z")),
        "{v:#}"
    );
    // A second daemon on the same data directory is refused.
    let o = sb.evident(&["run"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("already"), "{}", stderr(&o));
    signal(&child, "INT");
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(10)).code(),
        Some(0)
    );
    let o = sb.evident(&["status"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("daemon not running"), "{}", stdout(&o));
    assert!(stdout(&o).contains("ok"), "{}", stdout(&o));
}

#[test]
fn status_shows_the_ledger_checkpoint_of_a_collect_run_and_a_damaged_ledger_is_not_called_missing()
{
    let sb = Sandbox::new();
    // Nothing recorded yet: said so, not an error.
    let o = sb.evident(&["status", "--format", "json"]);
    assert_code(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(v["latest_checkpoint"].is_null(), "{v:#}");
    let o = sb.evident(&["status"]);
    assert!(
        stdout(&o).contains("ledger: nothing recorded yet"),
        "{}",
        stdout(&o)
    );

    let c = sb.evident(&["collect", "--format", "json"]);
    assert_code(&c, 0);
    let run: serde_json::Value = serde_json::from_slice(&c.stdout).expect("json");
    let o = sb.evident(&["status", "--format", "json"]);
    assert_code(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        v["latest_checkpoint"]["tree_size"], run["checkpoint"]["tree_size"],
        "{v:#}"
    );
    assert_eq!(
        v["latest_checkpoint"]["root_hash"], run["checkpoint"]["root_hash"],
        "{v:#}"
    );
    let o = sb.evident(&["status"]);
    assert!(
        stdout(&o).contains("ledger: latest checkpoint"),
        "{}",
        stdout(&o)
    );

    // A ledger that exists but is not a database: the error names it and does
    // not tell the user to collect first; the file is left as it was.
    let db = sb.data().join("evidence.db");
    std::fs::write(&db, b"not a database at all, just some bytes").expect("damage");
    let o = sb.evident(&["status"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("evidence.db"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("collect` first"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(&db).expect("read"),
        b"not a database at all, just some bytes"
    );
}

#[test]
fn sigkill_mid_collection_never_leaves_a_ledger_that_fails_to_verify() {
    let sb = Sandbox::new();
    // A first clean run, so every kill lands on an existing ledger; its
    // duration sets the spread of the kill times (the machine may be busy).
    let started = Instant::now();
    assert_code(&sb.evident(&["collect"]), 0);
    let one_run = started.elapsed();
    let records = |sb: &Sandbox| -> u64 {
        let o = sb.evident(&["verify", "--format", "json"]);
        assert_code(&o, 0);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        v["records"].as_u64().expect("records")
    };
    let before = records(&sb);
    for i in 0..12u64 {
        let mut child = start_daemon(&sb);
        // From right after start to one and a half runs later.
        std::thread::sleep(one_run.mul_f64(i as f64 / 8.0));
        signal(&child, "KILL");
        let _ = wait_exit(&mut child, Duration::from_secs(10));
        let o = sb.evident(&["verify"]);
        assert_code(&o, 0);
    }
    // Some kills came after a run was recorded: the daemon did real work
    // between them (the later delays exceed a whole collection).
    assert!(
        records(&sb) > before,
        "no daemon run was recorded in 12 tries"
    );
    // And the agent carries on appending afterwards.
    assert_code(&sb.evident(&["collect"]), 0);
    assert_code(&sb.evident(&["verify"]), 0);
}

#[test]
fn an_invalid_schedule_is_reported_at_start() {
    let sb = Sandbox::new();
    let cfg = sb.write(
        "cron.toml",
        "[[collectors.host]]\nschedule = \"0 9 * * mon-fry\"\n",
    );
    let o = sb.evident_with(&cfg, &["run"]);
    assert_code(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("cron.toml:2:12") && err.contains("fry"),
        "{err}"
    );
    assert!(!sb.data().exists());
}
