//! The HTTP side: octocrab for transport and authentication, plus the
//! API-version header, rate-limit waits, `Link` pagination and the
//! classification of error responses.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use evident_policies::github::{ApiError, ApiErrorKind};
use http::{HeaderMap, StatusCode, Uri};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use serde_json::Value;
use tokio::time::Instant;

use crate::{Credentials, GithubError};

/// The REST API version every request pins.
pub const API_VERSION: &str = "2022-11-28";

/// Pages followed at most for one listing (a loop guard: 1000 pages of 100).
const MAX_PAGES: usize = 1000;

/// Attempts of one request while throttled.
const MAX_THROTTLED_ATTEMPTS: u32 = 8;

/// Waits between throttled attempts; injected so tests need not sleep.
pub trait Sleeper: Send + Sync + std::fmt::Debug {
    /// Wait `d`.
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// Sleeps on the tokio timer.
#[derive(Debug, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// A response: status, headers, body.
#[derive(Debug)]
pub struct Resp {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

/// The client of one run.
#[derive(Debug)]
pub struct Api {
    octo: Octocrab,
    base: Uri,
    sleeper: Arc<dyn Sleeper>,
    deadline: Instant,
    /// Time spent waiting for rate limits (for logs and tests).
    pub waited: Mutex<Vec<Duration>>,
}

impl Api {
    /// Build the client. `budget` bounds the total rate-limit waiting of the run.
    pub async fn new(
        base_url: &str,
        credentials: &Credentials,
        sleeper: Arc<dyn Sleeper>,
        budget: Duration,
    ) -> Result<Api, GithubError> {
        let base: Uri = base_url
            .trim_end_matches('/')
            .parse()
            .map_err(|e| GithubError::Config(format!("base_url {base_url:?}: {e}")))?;
        if base.scheme().is_none() || base.authority().is_none() {
            return Err(GithubError::Config(format!(
                "base_url {base_url:?} needs a scheme and a host"
            )));
        }
        let builder = Octocrab::builder()
            .base_uri(base.clone())
            .map_err(|e| GithubError::Config(format!("base_url {base_url:?}: {e}")))?
            .add_header(
                http::HeaderName::from_static("x-github-api-version"),
                API_VERSION.to_string(),
            )
            .add_header(http::header::USER_AGENT, "evident".to_string());
        let octo = match credentials {
            Credentials::Token(t) => builder
                .personal_token(t.expose().to_string())
                .build()
                .map_err(|e| GithubError::Config(format!("GitHub client: {e}")))?,
            Credentials::App {
                app_id,
                private_key_pem,
                installation_id,
            } => {
                let app = builder
                    .app_from_rsa_pem((*app_id).into(), private_key_pem.expose())
                    .map_err(|_| {
                        GithubError::Config(
                            "the GitHub App private key is not a valid RSA PEM key".into(),
                        )
                    })?
                    .build()
                    .map_err(|e| GithubError::Config(format!("GitHub client: {e}")))?;
                app.installation((*installation_id).into())
                    .map_err(|e| GithubError::Config(format!("GitHub App installation: {e}")))?
            }
        };
        Ok(Api {
            octo,
            base,
            sleeper,
            deadline: Instant::now() + budget,
            waited: Mutex::new(Vec::new()),
        })
    }

    /// GET a path (with query) below the base URL, waiting out rate limits.
    pub async fn get(&self, path_and_query: &str) -> Result<Resp, GithubError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let resp = self.once(path_and_query).await?;
            let Some(wait) = throttle_wait(&resp) else {
                return Ok(resp);
            };
            let endpoint = strip_query(path_and_query);
            let left = self.deadline.saturating_duration_since(Instant::now());
            if attempt >= MAX_THROTTLED_ATTEMPTS || wait > left {
                return Err(GithubError::RateLimited(format!(
                    "{endpoint}: HTTP {} asks to wait {}s, beyond the run's time budget",
                    resp.status.as_u16(),
                    wait.as_secs()
                )));
            }
            tracing::info!(
                endpoint,
                wait_seconds = wait.as_secs(),
                "GitHub rate limit: waiting"
            );
            if let Ok(mut w) = self.waited.lock() {
                w.push(wait);
            }
            self.sleeper.sleep(wait).await;
        }
    }

    async fn once(&self, path_and_query: &str) -> Result<Resp, GithubError> {
        let endpoint = strip_query(path_and_query);
        let resp = self
            .octo
            ._get(path_and_query)
            .await
            .map_err(|e| GithubError::Transport(format!("GET {endpoint}: {}", describe(&e))))?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| {
                GithubError::Transport(format!("GET {endpoint}: reading body: {}", describe(&e)))
            })?
            .to_bytes();
        Ok(Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// GET every page of a JSON-array listing, following `Link: rel="next"`.
    /// An error status on any page is the listing's [`ApiError`].
    pub async fn get_all(
        &self,
        path_and_query: &str,
    ) -> Result<Result<Vec<Value>, ApiError>, GithubError> {
        let endpoint = strip_query(path_and_query).to_string();
        let mut next = Some(path_and_query.to_string());
        let mut out = Vec::new();
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Ok(Err(api_error(
                    ApiErrorKind::Malformed,
                    None,
                    &endpoint,
                    format!("more than {MAX_PAGES} pages; the Link headers loop"),
                )));
            }
            let resp = self.get(&url).await?;
            if resp.status != StatusCode::OK {
                return Ok(Err(classify(&resp, &endpoint)));
            }
            match serde_json::from_slice::<Value>(&resp.body) {
                Ok(Value::Array(items)) => out.extend(items),
                Ok(_) => {
                    return Ok(Err(api_error(
                        ApiErrorKind::Malformed,
                        Some(200),
                        &endpoint,
                        "expected a JSON array".into(),
                    )))
                }
                Err(e) => {
                    return Ok(Err(api_error(
                        ApiErrorKind::Malformed,
                        Some(200),
                        &endpoint,
                        format!("body is not JSON: {e}"),
                    )))
                }
            }
            if let Some(link) = next_link(&resp.headers) {
                match self.relative(&link) {
                    Some(rel) => next = Some(rel),
                    None => {
                        return Ok(Err(api_error(
                            ApiErrorKind::Malformed,
                            Some(200),
                            &endpoint,
                            "the Link rel=\"next\" URL is outside the API base URL".into(),
                        )))
                    }
                }
            }
        }
        Ok(Ok(out))
    }

    /// The path and query of `url` below the base URL, if it is below it
    /// (octocrab only sends credentials on relative requests, and a next page
    /// elsewhere must not be followed).
    fn relative(&self, url: &str) -> Option<String> {
        let u: Uri = url.parse().ok()?;
        if u.scheme() != self.base.scheme() || u.authority() != self.base.authority() {
            return None;
        }
        let prefix = self.base.path().trim_end_matches('/');
        let pq = u.path_and_query()?.as_str();
        let rest = pq.strip_prefix(prefix)?;
        rest.starts_with('/').then(|| rest.to_string())
    }
}

/// The time to wait when the response is a rate-limit refusal.
fn throttle_wait(resp: &Resp) -> Option<Duration> {
    if resp.status != StatusCode::FORBIDDEN && resp.status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let header = |n: &str| {
        resp.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(secs) = header("retry-after").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    if header("x-ratelimit-remaining") == Some("0") {
        let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok())?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        return Some(Duration::from_secs(reset.saturating_sub(now) + 1));
    }
    if resp.status == StatusCode::TOO_MANY_REQUESTS {
        // Throttled without saying for how long: GitHub's advice is a minute.
        return Some(Duration::from_secs(60));
    }
    None
}

/// The `rel="next"` URL of a `Link` header.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(http::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
        is_next.then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

/// The path without its query string (what errors and logs name).
pub fn strip_query(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

/// Build an [`ApiError`].
pub fn api_error(
    kind: ApiErrorKind,
    status: Option<u16>,
    endpoint: &str,
    message: String,
) -> ApiError {
    ApiError {
        kind,
        status,
        endpoint: endpoint.to_string(),
        message,
    }
}

/// Classify an error response by its status and GitHub's `message`.
pub fn classify(resp: &Resp, endpoint: &str) -> ApiError {
    let message = serde_json::from_slice::<Value>(&resp.body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| "(no message)".to_string());
    let lower = message.to_ascii_lowercase();
    let plan = lower.contains("upgrade")
        || lower.contains("advanced security must be enabled")
        || lower.contains("not available on your plan")
        || lower.contains("not available for this repository");
    let kind = match resp.status.as_u16() {
        401 | 403 | 404 | 422 if plan => ApiErrorKind::UnavailableOnPlan,
        404 => ApiErrorKind::NotFound,
        401 | 403 | 422 => ApiErrorKind::InsufficientPermission,
        429 => ApiErrorKind::RateLimited,
        _ => ApiErrorKind::ServerError,
    };
    // GitHub's messages are short; cap what is kept anyway.
    let message: String = message.chars().take(300).collect();
    api_error(kind, Some(resp.status.as_u16()), endpoint, message)
}

/// An octocrab error as text: its chain of sources, which never carry
/// request headers (the token travels only in a sensitive header).
fn describe(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

/// Percent-encode one path segment (a repository or branch name).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
