//! GitHub collector for `evident`: reads organisations through the REST API
//! (with `octocrab`) and returns the `github.org` and `github.repositories`
//! observations that the checks in `evident_policies::github` evaluate.
//!
//! It only reads. Every request pins `X-GitHub-Api-Version: 2022-11-28`,
//! listings follow the `Link` header (cursor pages for Dependabot alerts),
//! and rate-limit refusals (403/429 with `retry-after` or an exhausted
//! `x-ratelimit-remaining`) are waited out within the run's time budget.
//! The token is held in a [`Secret`] that never prints, and the collector
//! records no secret value (secret scanning alerts keep only their number,
//! type and date).
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use evident_policies::Observation;

pub mod client;
mod collect;
#[cfg(any(test, feature = "fake-server"))]
pub mod fake;
#[cfg(test)]
mod tests;

pub use client::{Sleeper, TokioSleeper, API_VERSION};

/// The public GitHub API.
pub const DEFAULT_BASE_URL: &str = "https://api.github.com";

/// A secret string (token or private key) that never appears in `Debug` output.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// How the collector authenticates.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Credentials {
    /// A personal access token (classic or fine-grained).
    Token(Secret),
    /// A GitHub App installation.
    App {
        /// The App's id.
        app_id: u64,
        /// The App's RSA private key (PEM).
        private_key_pem: Secret,
        /// The installation in the organisation(s).
        installation_id: u64,
    },
}

/// What the collector needs.
#[derive(Debug, Clone)]
pub struct GithubSettings {
    /// API base URL (`https://api.github.com`, or `https://HOST/api/v3` for GitHub Enterprise Server).
    pub base_url: String,
    /// Authentication.
    pub credentials: Credentials,
    /// Organisation logins.
    pub organisations: Vec<String>,
    /// Maximum number of organisation owners.
    pub max_owners: u32,
    /// Minimum approving reviews on default branches.
    pub min_approvals: u32,
    /// Whether default branches must require signed commits.
    pub require_signed_commits: bool,
    /// Maximum age in days of an open secret scanning alert.
    pub secret_alert_max_age_days: u32,
    /// Maximum age in days of an open critical or high Dependabot alert.
    pub dependabot_alert_sla_days: u32,
    /// Bound on the total rate-limit waiting of one run (the run's timeout).
    pub time_budget: Duration,
}

/// Why a collection failed as a whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GithubError {
    /// The settings cannot produce a client (bad base URL or App key).
    #[error("GitHub configuration: {0}")]
    Config(String),
    /// The API could not be reached or the connection broke.
    #[error("GitHub API unreachable: {0}")]
    Transport(String),
    /// Throttled for longer than the run's time budget.
    #[error("GitHub API rate limit: {0}")]
    RateLimited(String),
}

impl GithubError {
    /// Whether a retry may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            GithubError::Transport(_) | GithubError::RateLimited(_)
        )
    }
}

/// The GitHub collector.
#[derive(Debug)]
pub struct GithubCollector {
    settings: GithubSettings,
    sleeper: Arc<dyn Sleeper>,
}

impl GithubCollector {
    /// The observation sources it produces.
    pub fn sources() -> &'static [&'static str] {
        &[
            evident_policies::github::org::SOURCE,
            evident_policies::github::repos::SOURCE,
        ]
    }

    /// A collector that waits on the tokio timer.
    pub fn new(settings: GithubSettings) -> GithubCollector {
        GithubCollector::with_sleeper(settings, Arc::new(TokioSleeper))
    }

    /// A collector with an injected sleeper (tests).
    pub fn with_sleeper(settings: GithubSettings, sleeper: Arc<dyn Sleeper>) -> GithubCollector {
        GithubCollector { settings, sleeper }
    }

    /// Collect two observations per organisation.
    pub async fn collect(&self, now: DateTime<Utc>) -> Result<Vec<Observation>, GithubError> {
        let api = client::Api::new(
            &self.settings.base_url,
            &self.settings.credentials,
            self.sleeper.clone(),
            self.settings.time_budget,
        )
        .await?;
        let secrets = self.settings.credentials.secret_values();
        let mut out = Vec::new();
        for org in &self.settings.organisations {
            let observed = collect::organisation(&api, &self.settings, org, now)
                .await
                .map_err(|e| e.scrubbed(&secrets))?;
            out.extend(observed);
        }
        // A server may echo what it was sent (a proxy's error page, a
        // misbehaving endpoint): no text that reaches evidence may hold the
        // credential, whatever field it came in.
        for o in &mut out {
            scrub_value(&mut o.data, &secrets);
        }
        Ok(out)
    }
}

/// Replace every occurrence of a secret in `text` with `[REDACTED]`.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 8) {
        if out.contains(*s) {
            out = out.replace(*s, "[REDACTED]");
        }
    }
    out
}

fn scrub_value(v: &mut serde_json::Value, secrets: &[&str]) {
    match v {
        serde_json::Value::String(s) if secrets.iter().any(|x| x.len() >= 8 && s.contains(*x)) => {
            *s = scrub(s, secrets);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|i| scrub_value(i, secrets)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|i| scrub_value(i, secrets)),
        _ => {}
    }
}

impl Credentials {
    /// The secret strings of these credentials (to scrub from server text).
    fn secret_values(&self) -> Vec<&str> {
        match self {
            Credentials::Token(t) => vec![t.expose()],
            Credentials::App {
                private_key_pem, ..
            } => private_key_pem
                .expose()
                .lines()
                .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
                .collect(),
        }
    }
}

impl GithubError {
    fn scrubbed(self, secrets: &[&str]) -> GithubError {
        match self {
            GithubError::Config(m) => GithubError::Config(scrub(&m, secrets)),
            GithubError::Transport(m) => GithubError::Transport(scrub(&m, secrets)),
            GithubError::RateLimited(m) => GithubError::RateLimited(scrub(&m, secrets)),
        }
    }
}
