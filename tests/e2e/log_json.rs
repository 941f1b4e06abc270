//! `--log-format json`: every line on standard error is one JSON object,
//! notices, warnings and the final error included.

use std::os::unix::fs::PermissionsExt;

use crate::support::*;

/// Every line of standard error, parsed; panics naming the first line that
/// is not a JSON object.
fn json_lines(o: &std::process::Output) -> Vec<serde_json::Value> {
    let err = stderr(o);
    err.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}\n--- stderr\n{err}"));
            assert!(v.is_object(), "not a JSON object: {line:?}");
            v
        })
        .collect()
}

/// The line of this level whose message contains `text`.
fn said<'a>(lines: &'a [serde_json::Value], level: &str, text: &str) -> &'a serde_json::Value {
    lines
        .iter()
        .find(|l| {
            l["level"] == level
                && l["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(text))
        })
        .unwrap_or_else(|| panic!("no {level} line containing {text:?} in {lines:#?}"))
}

#[test]
fn log_format_json_writes_notices_warnings_and_the_final_error_as_json() {
    let sb = Sandbox::new();
    // A first collect creates the key and says so.
    let o = sb.evident(&["--log-format", "json", "collect"]);
    assert_code(&o, 0);
    let lines = json_lines(&o);
    let created = said(&lines, "INFO", "created signing key");
    assert_eq!(created["target"], "evident::say", "{created:#}");
    assert!(
        !stderr(&o).contains("evident: "),
        "a plain line: {}",
        stderr(&o)
    );

    // A second collect with info logs: the logs are JSON too.
    let o = sb.evident(&["--log-format", "json", "-v", "collect"]);
    assert_code(&o, 0);
    assert!(!json_lines(&o).is_empty(), "-v logs nothing");

    // verify's warning about a key other users can read.
    let key = sb.data().join("agent-key.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let o = sb.evident(&["--log-format", "json", "verify"]);
    assert_code(&o, 0);
    said(&json_lines(&o), "WARN", "not trusting the agent key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");

    // A failing command: its error is the last line, as JSON.
    let out = sb.dir.path().join("proof.json");
    let o = sb.evident(&[
        "--log-format",
        "json",
        "prove",
        "no-such-record",
        "--out",
        out.to_str().expect("utf-8 path"),
    ]);
    assert_code(&o, 1);
    let lines = json_lines(&o);
    let last = lines.last().expect("an error line");
    assert_eq!(last["level"], "ERROR", "{last:#}");
    assert!(
        last["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no-such-record")),
        "{last:#}"
    );

    // A command line clap refuses, in both spellings of the flag.
    for flag in [&["--log-format", "json"][..], &["--log-format=json"]] {
        let o = run(evident().args(flag).arg("no-such-command"));
        assert_code(&o, 2);
        said(&json_lines(&o), "ERROR", "no-such-command");
    }
}

#[test]
fn the_final_error_and_notices_are_printed_even_when_the_log_filter_is_off() {
    let sb = Sandbox::new();
    let data = sb.data();
    let with_logs_off = |format: &str, args: &[&str]| {
        evident()
            .arg("--config")
            .arg(example_config())
            .arg("--data-dir")
            .arg(&data)
            .args(["--log-format", format])
            .args(args)
            .env("EVIDENT_LOG", "off")
            .output()
            .expect("spawn")
    };
    let o = with_logs_off("json", &["collect"]);
    assert_code(&o, 0);
    said(&json_lines(&o), "INFO", "created signing key");

    let failing = ["soa", "--at", "not-a-date"];
    let o = with_logs_off("json", &failing);
    assert_code(&o, 2);
    said(&json_lines(&o), "ERROR", "not-a-date");

    // Human output is the plain line it always was.
    let o = with_logs_off("human", &failing);
    assert_code(&o, 2);
    let err = stderr(&o);
    assert!(
        err.lines()
            .any(|l| l.starts_with("evident: ") && l.contains("not-a-date")),
        "{err}"
    );
}
