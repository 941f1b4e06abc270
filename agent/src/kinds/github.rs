//! `[[collectors.github]]`: GitHub organisations (MFA of members and owners,
//! default branch protection, secret scanning, Dependabot alerts).
//!
//! The collector lives in the `evident-collector-github` crate behind the
//! default-on cargo feature `github`; a build without it still parses the
//! configuration and reports that it cannot run it.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use evident_policies::{Observation, Target, TargetKind};

use crate::config::{Place, Problem};
use crate::daemon::{BoxFut, RunFailure};
use crate::instances::Kind;

crate::collector_instance! {
    /// `[[collectors.github]]`: one or more GitHub organisations read with one credential.
    #[cfg_attr(not(feature = "github"), allow(dead_code))]
    pub struct GithubInstance {
        /// Organisation logins to examine.
        pub organisations: Vec<String>,
        /// API base URL. Default `https://api.github.com`; `https://HOST/api/v3` for GitHub Enterprise Server.
        pub base_url: Option<String>,
        /// Name of the environment variable that holds a personal access token (classic or fine-grained).
        pub token_env: Option<String>,
        /// File that holds the token (its first line; keep it mode 0600).
        pub token_file: Option<PathBuf>,
        /// GitHub App id (with `app_private_key_file` and `app_installation_id`, instead of a token).
        pub app_id: Option<u64>,
        /// The GitHub App's private key (PEM file).
        pub app_private_key_file: Option<PathBuf>,
        /// The App's installation id in the organisation(s).
        pub app_installation_id: Option<u64>,
        /// Maximum number of organisation owners. Default: 3.
        #[serde(default = "default_max_owners")]
        pub max_owners: u32,
        /// Minimum approving reviews on default branches. Default: 1.
        #[serde(default = "default_min_approvals")]
        pub min_approvals: u32,
        /// Require signed commits on default branches. Default: false.
        #[serde(default)]
        pub require_signed_commits: bool,
        /// Maximum age in days of an open secret scanning alert. Default: 7.
        #[serde(default = "default_secret_alert_age")]
        pub secret_alert_max_age_days: u32,
        /// Maximum age in days of an open critical or high Dependabot alert. Default: 30.
        #[serde(default = "default_dependabot_sla")]
        pub dependabot_alert_sla_days: u32,
    }
}

fn default_max_owners() -> u32 {
    3
}
fn default_min_approvals() -> u32 {
    1
}
fn default_secret_alert_age() -> u32 {
    7
}
fn default_dependabot_sla() -> u32 {
    30
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
fn is_loopback_host(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The sources of the GitHub collector (also when it is not compiled in).
const SOURCES: &[&str] = &["github.org", "github.repositories"];

impl Kind for GithubInstance {
    const KIND: &'static str = "github";

    fn sources(&self) -> &'static [&'static str] {
        SOURCES
    }

    fn target(&self) -> Target {
        Target {
            kind: TargetKind::Organisation,
            id: self.organisations.join(","),
        }
    }

    fn validate(&self, at: &Place<'_>, problems: &mut Vec<Problem>) {
        let mut problem = |place: Place<'_>, m: &str| problems.push(place.problem(m));
        if !cfg!(feature = "github") {
            problem(
                at.clone(),
                "this build of evident has no GitHub support (cargo feature `github`)",
            );
        }
        if self.organisations.is_empty() || self.organisations.iter().any(|o| o.trim().is_empty()) {
            let place = match self.organisations.iter().position(|o| o.trim().is_empty()) {
                Some(i) => at.key("organisations").item(i),
                None => at.key("organisations"),
            };
            problem(
                place,
                "organisations must list at least one organisation login",
            );
        }
        // The app_* key present, to point at when the App is incomplete.
        let app_key = [
            ("app_id", self.app_id.is_some()),
            ("app_private_key_file", self.app_private_key_file.is_some()),
            ("app_installation_id", self.app_installation_id.is_some()),
        ]
        .into_iter()
        .find_map(|(key, set)| set.then_some(key));
        // The credentials given, in the order the messages name them.
        let credentials: Vec<&str> = [
            ("token_env", self.token_env.is_some()),
            ("token_file", self.token_file.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .chain(app_key)
        .collect();
        match credentials.as_slice() {
            [] => problem(at.clone(), "set one credential: token_env, token_file, or app_id with app_private_key_file and app_installation_id"),
            [_] => {}
            [.., last] => problem(
                at.key(last),
                "set only one credential: token_env, token_file, or the app_* fields",
            ),
        }
        if let Some(key) = app_key {
            if !(self.app_id.is_some()
                && self.app_private_key_file.is_some()
                && self.app_installation_id.is_some())
            {
                problem(
                    at.key(key),
                    "a GitHub App needs all of app_id, app_private_key_file and app_installation_id",
                );
            }
        }
        if let Some(env) = &self.token_env {
            if env.is_empty() || env.contains('=') {
                problem(at.key("token_env"), "token_env must be the NAME of an environment variable (never the token itself)");
            }
            if env.starts_with("ghp_") || env.starts_with("github_pat_") {
                problem(at.key("token_env"), "token_env looks like a token; set it to the name of the environment variable that holds the token");
            }
        }
        for (key, path) in [
            ("token_file", &self.token_file),
            ("app_private_key_file", &self.app_private_key_file),
        ] {
            if let Some(p) = path {
                if !p.is_absolute() {
                    problem(
                        at.key(key),
                        &format!(
                            "{key} {:?} must be an absolute path",
                            p.display().to_string()
                        ),
                    );
                }
            }
        }
        if let Some(u) = &self.base_url {
            let base_url = at.key("base_url");
            match u
                .strip_prefix("https://")
                .or_else(|| u.strip_prefix("http://"))
            {
                None => problem(
                    base_url,
                    &format!(
                    "base_url {u:?} must start with https:// (or http:// for a local test server)"
                ),
                ),
                Some(rest) => {
                    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
                    let bad = |c: char| c.is_whitespace() || c.is_control() || c == '@';
                    if host.is_empty() || host.contains(bad) || rest.contains(char::is_whitespace) {
                        problem(base_url, &format!(
                            "base_url {u:?} needs a host name and no spaces or credentials, e.g. https://github.example.com/api/v3"
                        ));
                    } else if u.starts_with("http://") && !is_loopback_host(host) {
                        problem(base_url, &format!(
                            "base_url {u:?}: plain http would send the token in clear; use https:// (http:// is accepted for loopback test servers only)"
                        ));
                    }
                }
            }
        }
        if self.max_owners == 0 {
            problem(
                at.key("max_owners"),
                "max_owners must be at least 1: every organisation has an owner",
            );
        }
    }

    fn collect(&self, now: DateTime<Utc>) -> BoxFut<Result<Vec<Observation>, RunFailure>> {
        imp::collect(self, now)
    }
}

#[cfg(feature = "github")]
mod imp {
    use super::*;
    use evident_collector_github::{Credentials, GithubCollector, GithubSettings, Secret};
    use std::time::Duration;

    fn fail(message: String) -> RunFailure {
        RunFailure {
            transient: false,
            message,
        }
    }

    /// Read the credential; errors name where it was looked for, never its value.
    fn credentials(i: &GithubInstance) -> Result<Credentials, RunFailure> {
        if let Some(env) = &i.token_env {
            let t = std::env::var(env).map_err(|_| {
                fail(format!(
                    "GitHub token: environment variable {env} is not set (or not UTF-8)"
                ))
            })?;
            let t = t.trim();
            if t.is_empty() {
                return Err(fail(format!(
                    "GitHub token: environment variable {env} is empty"
                )));
            }
            return Ok(Credentials::Token(Secret::new(t)));
        }
        if let Some(path) = &i.token_file {
            let t = evident_evidence::secret_file::read_secret_line(path)
                .map_err(|e| fail(format!("GitHub token file {e}")))?;
            return Ok(Credentials::Token(Secret::new(t)));
        }
        match (i.app_id, &i.app_private_key_file, i.app_installation_id) {
            (Some(app_id), Some(path), Some(installation_id)) => {
                let pem = evident_evidence::secret_file::read_secret_file(path)
                    .map_err(|e| fail(format!("GitHub App private key {e}")))
                    .and_then(|b| {
                        String::from_utf8(b).map_err(|_| {
                            fail(format!(
                                "GitHub App private key {} is not UTF-8 text",
                                path.display()
                            ))
                        })
                    })?;
                Ok(Credentials::App {
                    app_id,
                    private_key_pem: Secret::new(pem),
                    installation_id,
                })
            }
            _ => Err(fail("no GitHub credential configured".into())),
        }
    }

    pub(super) fn collect(
        i: &GithubInstance,
        now: DateTime<Utc>,
    ) -> BoxFut<Result<Vec<Observation>, RunFailure>> {
        let creds = credentials(i);
        let settings = creds.map(|credentials| GithubSettings {
            base_url: i
                .base_url
                .clone()
                .unwrap_or_else(|| evident_collector_github::DEFAULT_BASE_URL.to_string()),
            credentials,
            organisations: i.organisations.clone(),
            max_owners: i.max_owners,
            min_approvals: i.min_approvals,
            require_signed_commits: i.require_signed_commits,
            secret_alert_max_age_days: i.secret_alert_max_age_days,
            dependabot_alert_sla_days: i.dependabot_alert_sla_days,
            time_budget: Duration::from_secs(i.timeout_seconds),
        });
        Box::pin(async move {
            let collector = GithubCollector::new(settings?);
            collector.collect(now).await.map_err(|e| RunFailure {
                transient: e.is_transient(),
                message: e.to_string(),
            })
        })
    }
}

#[cfg(not(feature = "github"))]
mod imp {
    use super::*;

    pub(super) fn collect(
        _: &GithubInstance,
        _: DateTime<Utc>,
    ) -> BoxFut<Result<Vec<Observation>, RunFailure>> {
        Box::pin(async {
            Err(RunFailure {
                transient: false,
                message: "this build of evident has no GitHub support (cargo feature `github`)"
                    .into(),
            })
        })
    }
}
