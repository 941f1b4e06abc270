//! Tests against the fake GitHub server (`fake.rs`): a local HTTP server
//! serving GitHub's documented example responses and error statuses, reached
//! over real HTTP through octocrab.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use evident_policies::{Finding, Observation, ReasonCode, Status};

use crate::fake::{FakeConfig, FakeGithub};
use crate::{Credentials, GithubCollector, GithubError, GithubSettings, Secret, Sleeper};

/// Records the waits asked for and returns at once.
#[derive(Debug, Default)]
struct RecordingSleeper(Mutex<Vec<Duration>>);

impl Sleeper for RecordingSleeper {
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        self.0.lock().unwrap().push(d);
        Box::pin(async {})
    }
}

fn settings(url: &str, token: &str) -> GithubSettings {
    GithubSettings {
        base_url: url.to_string(),
        credentials: Credentials::Token(Secret::new(token)),
        organisations: vec!["acme".into()],
        max_owners: 3,
        min_approvals: 1,
        require_signed_commits: false,
        secret_alert_max_age_days: 30,
        dependabot_alert_sla_days: 30,
        time_budget: Duration::from_secs(300),
    }
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

async fn collect(
    fake: &FakeGithub,
    s: GithubSettings,
) -> (Result<Vec<Observation>, GithubError>, Arc<RecordingSleeper>) {
    let _ = fake;
    let sleeper = Arc::new(RecordingSleeper::default());
    let c = GithubCollector::with_sleeper(s, sleeper.clone());
    (c.collect(now()).await, sleeper)
}

/// `check id -> resource -> finding`.
fn findings(obs: &[Observation]) -> BTreeMap<&'static str, BTreeMap<String, Finding>> {
    let mut out: BTreeMap<&'static str, BTreeMap<String, Finding>> = BTreeMap::new();
    for o in obs {
        for f in evident_policies::evaluate(o) {
            out.entry(f.check_id)
                .or_default()
                .insert(f.resource_id.clone(), f);
        }
    }
    out
}

fn status(
    all: &BTreeMap<&'static str, BTreeMap<String, Finding>>,
    check: &str,
    resource: &str,
) -> (Status, ReasonCode) {
    let f = &all[check][resource];
    (f.status, f.reason_code)
}

#[tokio::test]
async fn owner_token_finds_every_member_and_repository_over_several_pages() {
    let fake = FakeGithub::start(FakeConfig::default()).unwrap();
    let (obs, sleeper) = collect(&fake, settings(&fake.url, "owner-token")).await;
    let obs = obs.unwrap();
    assert_eq!(obs.len(), 2);
    assert!(sleeper.0.lock().unwrap().is_empty());

    let org: evident_policies::github::OrgObservation = obs[0].payload().unwrap();
    let members = org.members_2fa_disabled.as_result().unwrap();
    assert_eq!(members.len(), 150, "every other one of 300 members");
    assert!(
        members.contains(&"member-000".to_string()) && members.contains(&"member-298".to_string())
    );
    let repos: evident_policies::github::ReposObservation = obs[1].payload().unwrap();
    let list = repos.repositories.as_result().unwrap();
    assert_eq!(list.len(), 250);
    let seen = fake.seen();
    assert!(seen
        .iter()
        .any(|r| r.starts_with("GET /orgs/acme/repos?") && r.contains("page=3")));
    assert!(seen
        .iter()
        .any(|r| r.starts_with("GET /orgs/acme/members?") && r.contains("page=2")));

    let all = findings(&obs);
    // One finding per repository for each repository check.
    for check in [
        "github_repo_default_branch_protected",
        "github_repo_secret_scanning_enabled",
        "github_repo_secret_alerts_resolved",
        "github_repo_dependabot_alerts_enabled",
        "github_repo_dependabot_alerts_within_sla",
    ] {
        assert_eq!(all[check].len(), 250, "{check}");
        assert!(all[check].keys().all(|k| k.starts_with("acme/")));
    }
    use ReasonCode as R;
    use Status as S;
    assert_eq!(
        status(&all, "github_org_2fa_required", "acme"),
        (S::Pass, R::Github2faRequired)
    );
    assert_eq!(
        status(&all, "github_org_members_2fa_enabled", "acme"),
        (S::Fail, R::GithubUsers2faDisabled)
    );
    assert_eq!(
        status(&all, "github_org_outside_collaborators_2fa_enabled", "acme").0,
        S::Fail
    );
    assert_eq!(
        status(&all, "github_org_owners_limited", "acme"),
        (S::Pass, R::GithubOwnersWithinLimit)
    );
    assert!(all["github_org_owners_limited"]["acme"]
        .reason
        .contains("owner-1, owner-2, owner-3"));

    let bp = "github_repo_default_branch_protected";
    assert_eq!(
        status(&all, bp, "acme/repo-000"),
        (S::Pass, R::GithubBranchProtected)
    );
    assert_eq!(
        status(&all, bp, "acme/archived-repo"),
        (S::NotApplicable, R::GithubRepoArchived)
    );
    assert_eq!(
        status(&all, bp, "acme/empty-repo"),
        (S::NotApplicable, R::GithubRepoEmpty)
    );
    assert_eq!(
        status(&all, bp, "acme/unprotected"),
        (S::Fail, R::GithubBranchUnprotected)
    );
    assert!(all[bp]["acme/unprotected"]
        .reason
        .contains("protected flag is false"));
    assert_eq!(
        status(&all, bp, "acme/hidden-protection"),
        (S::Error, R::GithubInsufficientPermission)
    );
    // 404 on protection, then rules for the branch: evaluated from the rules, and says so.
    let f = &all[bp]["acme/ruleset-only"];
    assert!(f.reason.contains("rules for the branch"), "{}", f.reason);
    assert_eq!(
        f.status,
        S::Pass,
        "ruleset without bypass actors: {}",
        f.reason
    );
    let f = &all[bp]["acme/ruleset-bypass"];
    assert_eq!(f.status, S::Fail, "{}", f.reason);
    assert!(
        f.reason.contains("administrators are not included"),
        "{}",
        f.reason
    );
    assert_eq!(
        status(&all, bp, "acme/example-rules"),
        (S::Fail, R::GithubBranchUnprotected)
    );
    assert_eq!(
        status(&all, bp, "acme/free-plan"),
        (S::Fail, R::GithubUnavailableOnPlan)
    );
    assert_eq!(
        status(&all, bp, "acme/malformed"),
        (S::Error, R::GithubResponseMalformed)
    );
    assert_eq!(
        status(&all, bp, "acme/example-get"),
        (S::Fail, R::GithubBranchUnprotected)
    );

    let ss = "github_repo_secret_scanning_enabled";
    assert_eq!(
        status(&all, ss, "acme/repo-000"),
        (S::Pass, R::GithubSecretScanningEnabled)
    );
    assert_eq!(
        status(&all, ss, "acme/no-sa"),
        (S::Error, R::GithubInsufficientPermission)
    );
    assert_eq!(
        status(&all, ss, "acme/example-sa"),
        (S::Fail, R::GithubSecretScanningDisabled)
    );
    assert_eq!(
        status(&all, ss, "acme/free-plan"),
        (S::Fail, R::GithubUnavailableOnPlan)
    );

    let sa = "github_repo_secret_alerts_resolved";
    assert_eq!(
        status(&all, sa, "acme/repo-001"),
        (S::Fail, R::GithubAlertsOverdue)
    );
    assert_eq!(
        status(&all, sa, "acme/repo-000"),
        (S::Pass, R::GithubAlertsWithinAge)
    );

    let de = "github_repo_dependabot_alerts_enabled";
    assert_eq!(
        status(&all, de, "acme/repo-000"),
        (S::Pass, R::GithubDependabotEnabled)
    );
    assert_eq!(
        status(&all, de, "acme/no-dependabot"),
        (S::Fail, R::GithubDependabotDisabled)
    );
    assert_eq!(
        status(&all, de, "acme/flaky"),
        (S::Error, R::GithubApiError)
    );

    let sla = "github_repo_dependabot_alerts_within_sla";
    assert_eq!(
        status(&all, sla, "acme/repo-002"),
        (S::Fail, R::GithubAlertsOverdue)
    );
    assert_eq!(
        status(&all, sla, "acme/repo-000"),
        (S::Pass, R::GithubAlertsWithinAge)
    );
    assert_eq!(
        status(&all, sla, "acme/no-dependabot"),
        (S::Fail, R::GithubAlertsFeatureDisabled)
    );
}

#[tokio::test]
async fn non_owner_token_is_error_for_2fa_checks_and_pass_or_fail_for_the_rest() {
    let fake = FakeGithub::start(FakeConfig::default()).unwrap();
    let (obs, _) = collect(&fake, settings(&fake.url, "member-token")).await;
    let all = findings(&obs.unwrap());
    for check in [
        "github_org_2fa_required",
        "github_org_members_2fa_enabled",
        "github_org_outside_collaborators_2fa_enabled",
    ] {
        let f = &all[check]["acme"];
        assert_eq!(
            (f.status, f.reason_code),
            (Status::Error, ReasonCode::GithubInsufficientPermission),
            "{check}"
        );
        assert!(f.reason.contains("insufficient permission"), "{}", f.reason);
    }
    assert!(all["github_org_members_2fa_enabled"]["acme"]
        .reason
        .contains("Only owners can use this filter"));
    assert_eq!(
        all["github_org_owners_limited"]["acme"].status,
        Status::Pass
    );
    // A member cannot see the rulesets' bypass actors: unknown, so error.
    let f = &all["github_repo_default_branch_protected"]["acme/ruleset-only"];
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Error, ReasonCode::GithubInsufficientPermission),
        "{}",
        f.reason
    );
    for check in [
        "github_repo_default_branch_protected",
        "github_repo_secret_scanning_enabled",
        "github_repo_dependabot_alerts_enabled",
    ] {
        let f = &all[check]["acme/repo-000"];
        assert!(
            matches!(f.status, Status::Pass | Status::Fail),
            "{check}: {f:?}"
        );
    }
}

#[tokio::test]
async fn rate_limits_are_waited_out_then_the_run_succeeds() {
    let fake = FakeGithub::start(FakeConfig {
        rate_limit_once: true,
        repos: 120,
        ..FakeConfig::default()
    })
    .unwrap();
    let (obs, sleeper) = collect(&fake, settings(&fake.url, "owner-token")).await;
    let obs = obs.unwrap();
    let waits = sleeper.0.lock().unwrap().clone();
    // 403 with x-ratelimit-remaining: 0 and a reset 30 s ahead; 429 with retry-after: 7.
    assert_eq!(waits.len(), 2, "{waits:?}");
    assert!(
        waits[0] >= Duration::from_secs(25) && waits[0] <= Duration::from_secs(32),
        "{waits:?}"
    );
    assert_eq!(waits[1], Duration::from_secs(7));
    let repos: evident_policies::github::ReposObservation = obs[1].payload().unwrap();
    assert_eq!(repos.repositories.as_result().unwrap().len(), 120);
    let org: evident_policies::github::OrgObservation = obs[0].payload().unwrap();
    assert_eq!(org.members_2fa_disabled.as_result().unwrap().len(), 150);
}

#[tokio::test]
async fn a_rate_limit_beyond_the_time_budget_fails_the_run_as_transient() {
    let fake = FakeGithub::start(FakeConfig {
        rate_limit_once: true,
        ..FakeConfig::default()
    })
    .unwrap();
    let mut s = settings(&fake.url, "owner-token");
    s.time_budget = Duration::from_secs(3);
    let (res, sleeper) = collect(&fake, s).await;
    let err = res.unwrap_err();
    assert!(matches!(err, GithubError::RateLimited(_)), "{err}");
    assert!(err.is_transient());
    assert!(sleeper.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn dependabot_alerts_follow_the_cursor_and_never_send_page() {
    let fake = FakeGithub::start(FakeConfig {
        repos: 20,
        ..FakeConfig::default()
    })
    .unwrap();
    let (obs, _) = collect(&fake, settings(&fake.url, "owner-token")).await;
    let obs = obs.unwrap();
    let dep: Vec<String> = fake
        .seen()
        .into_iter()
        .filter(|r| r.contains("/dependabot/alerts"))
        .collect();
    assert_eq!(dep.len(), 2, "{dep:?}");
    assert!(
        dep.iter()
            .all(|r| !r.contains("?page=") && !r.contains("&page=")),
        "{dep:?}"
    );
    assert!(dep[1].contains("after=Y3Vyc29yOjI"));
    let repos: evident_policies::github::ReposObservation = obs[1].payload().unwrap();
    let alerts = repos.dependabot_alerts.as_result().unwrap();
    assert_eq!(alerts.len(), 3);
    assert!(alerts
        .iter()
        .any(|a| a.repository == "repo-002" && a.severity == "critical"));
}

#[tokio::test]
async fn secret_values_are_never_recorded() {
    let fake = FakeGithub::start(FakeConfig {
        repos: 20,
        ..FakeConfig::default()
    })
    .unwrap();
    let (obs, _) = collect(&fake, settings(&fake.url, "owner-token")).await;
    let text = serde_json::to_string(&obs.unwrap()).unwrap();
    assert!(text.contains("adafruit_io_key"), "the alert is recorded");
    assert!(!text.contains("aio_XXXX"), "but not the secret's value");
    assert!(!text.contains("owner-token"));
}

/// A server that echoes the credential it was sent (a broken proxy): the
/// errors are recorded, the token is not.
#[tokio::test]
async fn a_token_echoed_by_the_server_is_scrubbed_from_evidence() {
    let token = "ghp_EchoedBackByAProxy0123456789abcdef";
    let fake = FakeGithub::start(FakeConfig {
        repos: 3,
        members: 2,
        owner_token: token.into(),
        echo_authorization: true,
        ..FakeConfig::default()
    })
    .unwrap();
    let (obs, _) = collect(&fake, settings(&fake.url, token)).await;
    let text = match obs {
        Ok(obs) => {
            let all = findings(&obs);
            let f = &all["github_org_2fa_required"]["acme"];
            assert_eq!(f.status, Status::Error, "{f:?}");
            assert!(!f.reason.contains(token), "{}", f.reason);
            format!("{}{:?}", serde_json::to_string(&obs).unwrap(), all)
        }
        Err(e) => e.to_string(),
    };
    assert!(
        text.contains("[REDACTED]"),
        "the echo is recorded, redacted: {text}"
    );
    assert!(!text.contains(token), "token in evidence: {text}");
}

#[tokio::test]
async fn a_malformed_repository_list_is_an_error_for_every_repository_check() {
    let fake = FakeGithub::start(FakeConfig {
        malformed_repo_list: true,
        ..FakeConfig::default()
    })
    .unwrap();
    let (obs, _) = collect(&fake, settings(&fake.url, "owner-token")).await;
    let all = findings(&obs.unwrap());
    let f = &all["github_repo_default_branch_protected"]["acme"];
    assert_eq!(
        (f.status, f.reason_code),
        (Status::Error, ReasonCode::GithubResponseMalformed)
    );
    assert_eq!(all["github_repo_default_branch_protected"].len(), 1);
}

#[tokio::test]
async fn a_bad_token_is_an_error_not_a_pass() {
    let fake = FakeGithub::start(FakeConfig {
        repos: 5,
        specials: false,
        ..FakeConfig::default()
    })
    .unwrap();
    let (obs, _) = collect(&fake, settings(&fake.url, "wrong-token")).await;
    let all = findings(&obs.unwrap());
    for (check, by_resource) in &all {
        for f in by_resource.values() {
            assert_eq!(f.status, Status::Error, "{check}: {f:?}");
            assert!(!f.reason.contains("wrong-token"));
        }
    }
}

#[tokio::test]
async fn an_unreachable_api_fails_the_run_as_transient() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sleeper = Arc::new(RecordingSleeper::default());
    let c = GithubCollector::with_sleeper(
        settings(&format!("http://127.0.0.1:{port}"), "owner-token"),
        sleeper,
    );
    let err = c.collect(now()).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(!err.to_string().contains("owner-token"));
}

#[test]
fn link_header_next_is_found() {
    let mut h = http::HeaderMap::new();
    h.insert(
        http::header::LINK,
        "<http://x/orgs/a/repos?page=3>; rel=\"next\", <http://x/orgs/a/repos?page=9>; rel=\"last\""
            .parse()
            .unwrap(),
    );
    assert_eq!(
        crate::client::next_link(&h).as_deref(),
        Some("http://x/orgs/a/repos?page=3")
    );
    assert_eq!(crate::client::segment("feature/x y"), "feature%2Fx%20y");
}

#[test]
fn secrets_do_not_debug_print() {
    let c = Credentials::Token(Secret::new("ghp_supersecret"));
    assert!(!format!("{c:?}").contains("supersecret"));
}

#[tokio::test]
async fn a_github_app_installation_authenticates_with_a_jwt() {
    // A fresh RSA key from the openssl command line (installed by .ci/run).
    let dir = std::env::temp_dir().join(format!("evident-gh-app-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("app.pem");
    let ok = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let pem = std::fs::read_to_string(&key).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    let fake = FakeGithub::start(FakeConfig {
        repos: 5,
        specials: false,
        ..FakeConfig::default()
    })
    .unwrap();
    let mut s = settings(&fake.url, "unused");
    s.credentials = Credentials::App {
        app_id: 42,
        private_key_pem: Secret::new(pem),
        installation_id: 7,
    };
    let (obs, _) = collect(&fake, s).await;
    let all = findings(&obs.unwrap());
    assert_eq!(all["github_org_2fa_required"]["acme"].status, Status::Pass);
    assert_eq!(
        all["github_org_members_2fa_enabled"]["acme"].status,
        Status::Fail
    );
    let seen = fake.seen();
    assert!(
        seen.iter()
            .any(|r| r == "POST /app/installations/7/access_tokens"),
        "{seen:?}"
    );
    assert!(seen.iter().any(|r| r == "JWT accepted"));
}

#[tokio::test]
async fn a_bad_app_key_is_a_configuration_error_without_the_key() {
    let mut s = settings("http://127.0.0.1:9", "unused");
    s.credentials = Credentials::App {
        app_id: 42,
        private_key_pem: Secret::new(
            "-----BEGIN PRIVATE KEY-----\nnotakey\n-----END PRIVATE KEY-----\n",
        ),
        installation_id: 7,
    };
    let err = GithubCollector::new(s).collect(now()).await.unwrap_err();
    assert!(matches!(err, GithubError::Config(_)), "{err}");
    assert!(!err.is_transient());
    assert!(!err.to_string().contains("notakey"));
}
