//! `[[collectors.github]]` end to end: the `evident` binary against the fake
//! GitHub server of `evident-collector-github` (a local HTTP server on a
//! free loopback port serving GitHub's documented example responses; no
//! real GitHub is contacted).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use evident_collector_github::fake::{FakeConfig, FakeGithub};

use crate::support::*;

/// A token distinctive enough that finding it anywhere is a leak.
const TOKEN: &str = "ghp_EvIdEnTe2eDiStInCtIvEtOkEn0123456789";
const MEMBER_TOKEN: &str = "github_pat_EvIdEnTmEmBeRtOkEn_987654321";
const TOKEN_ENV: &str = "EVIDENT_E2E_GITHUB_TOKEN";

fn config(sb: &Sandbox, base_url: &str) -> std::path::PathBuf {
    sb.write(
        "github.toml",
        &format!(
            "[[collectors.github]]\norganisations = [\"acme\"]\nbase_url = \"{base_url}\"\ntoken_env = \"{TOKEN_ENV}\"\nmax_owners = 2\ntimeout_seconds = 120\nretries = 0\n"
        ),
    )
}

fn collect(sb: &Sandbox, cfg: &Path, token: &str) -> Output {
    run(evident()
        .arg("--config")
        .arg(cfg)
        .arg("--data-dir")
        .arg(sb.data())
        .args(["collect", "--format", "json"])
        .env(TOKEN_ENV, token)
        // As much logging as there is: the token must not be in it either.
        .env("EVIDENT_LOG", "trace"))
}

/// `check id -> resource -> (status, reason)`.
fn by_check(out: &serde_json::Value) -> BTreeMap<String, BTreeMap<String, (String, String)>> {
    let mut m: BTreeMap<String, BTreeMap<String, (String, String)>> = BTreeMap::new();
    for f in out["findings"].as_array().expect("findings") {
        m.entry(f["check_id"].as_str().unwrap_or_default().to_string())
            .or_default()
            .insert(
                f["resource_id"].as_str().unwrap_or_default().to_string(),
                (
                    f["status"].as_str().unwrap_or_default().to_string(),
                    f["reason"].as_str().unwrap_or_default().to_string(),
                ),
            );
    }
    m
}

/// Every byte the run left behind: both streams and every file in the data dir.
fn assert_nowhere(sb: &Sandbox, outputs: &[&Output], secret: &str) {
    for o in outputs {
        assert!(!stdout(o).contains(secret), "token in stdout");
        assert!(!stderr(o).contains(secret), "token in stderr");
    }
    let mut files = 0;
    let mut stack = vec![sb.dir.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files += 1;
                let bytes = std::fs::read(&p).expect("read");
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "token found in {}",
                    p.display()
                );
            }
        }
    }
    assert!(files >= 2, "the ledger and key were written");
}

#[test]
fn github_collect_follows_pagination_over_250_repositories_and_300_members() {
    let fake = FakeGithub::start(FakeConfig {
        owner_token: TOKEN.into(),
        member_token: MEMBER_TOKEN.into(),
        ..FakeConfig::default()
    })
    .expect("fake GitHub");
    let sb = Sandbox::new();
    let cfg = config(&sb, &fake.url);
    let o = collect(&sb, &cfg, TOKEN);
    assert_code(&o, 0);
    let out: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let m = by_check(&out);
    for check in [
        "github_repo_default_branch_protected",
        "github_repo_secret_scanning_enabled",
        "github_repo_secret_alerts_resolved",
        "github_repo_dependabot_alerts_enabled",
        "github_repo_dependabot_alerts_within_sla",
    ] {
        assert_eq!(m[check].len(), 250, "{check}: one finding per repository");
    }
    let status = |c: &str, r: &str| m[c][r].0.as_str();
    assert_eq!(status("github_org_2fa_required", "acme"), "pass");
    assert_eq!(status("github_org_members_2fa_enabled", "acme"), "fail");
    assert!(m["github_org_members_2fa_enabled"]["acme"]
        .1
        .contains("150 members"));
    // 3 owners against a maximum of 2, named.
    assert_eq!(status("github_org_owners_limited", "acme"), "fail");
    assert!(m["github_org_owners_limited"]["acme"].1.contains("owner-3"));
    assert_eq!(
        status("github_repo_default_branch_protected", "acme/repo-100"),
        "pass"
    );
    assert_eq!(
        status("github_repo_default_branch_protected", "acme/archived-repo"),
        "not_applicable"
    );
    assert_eq!(
        status("github_repo_default_branch_protected", "acme/free-plan"),
        "fail"
    );
    assert_eq!(
        status("github_repo_dependabot_alerts_enabled", "acme/flaky"),
        "error"
    );
    // The repositories listing went over three pages, back to the fake server.
    assert!(fake
        .seen()
        .iter()
        .any(|r| r.contains("/orgs/acme/repos?") && r.contains("page=3")));

    // A member's token: the 2FA checks are errors, the rest are decided.
    let o2 = collect(&sb, &cfg, MEMBER_TOKEN);
    assert_code(&o2, 0);
    let out2: serde_json::Value = serde_json::from_slice(&o2.stdout).expect("json");
    let m2 = by_check(&out2);
    for check in [
        "github_org_2fa_required",
        "github_org_members_2fa_enabled",
        "github_org_outside_collaborators_2fa_enabled",
    ] {
        assert_eq!(m2[check]["acme"].0, "error", "{check}");
        assert!(
            m2[check]["acme"].1.contains("insufficient permission"),
            "{check}"
        );
    }
    assert_eq!(m2["github_org_owners_limited"]["acme"].0, "fail");
    assert_eq!(
        m2["github_repo_default_branch_protected"]["acme/repo-000"].0,
        "pass"
    );

    assert_nowhere(&sb, &[&o, &o2], TOKEN);
    assert_nowhere(&sb, &[&o, &o2], MEMBER_TOKEN);
}

#[test]
fn github_failures_are_error_findings_without_the_token() {
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let sb = Sandbox::new();
    let cfg = config(&sb, &format!("http://127.0.0.1:{port}"));
    let o = collect(&sb, &cfg, TOKEN);
    let out: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let findings = out["findings"].as_array().expect("findings");
    assert!(findings
        .iter()
        .any(|f| f["check_id"] == "github_org_2fa_required"));
    for f in findings {
        assert_eq!(f["status"], "error", "{f:#}");
    }
    // And an unset variable is named, not guessed at.
    let o2 = run(evident()
        .arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(sb.data())
        .args(["collect", "--format", "json"])
        .env_remove(TOKEN_ENV));
    assert!(stdout(&o2).contains(TOKEN_ENV) || stderr(&o2).contains(TOKEN_ENV));
    assert_nowhere(&sb, &[&o, &o2], TOKEN);
}
