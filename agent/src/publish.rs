//! After each signed checkpoint: RFC 3161 trusted timestamps from a TSA, and
//! publication of the checkpoint to off-box sinks (a directory, an HTTP
//! endpoint).
//!
//! Neither ever blocks collection or loses a checkpoint: the checkpoint is
//! already committed when this runs. A TSA that is down, slow or answers
//! garbage leaves the checkpoint untimestamped, and a sink that fails leaves
//! it unpublished; the ledger remembers what is pending (checkpoints without
//! a token, checkpoints not yet published to a sink) and the next run, or
//! the daemon after its next commit and at start, tries again.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use evident_evidence::ledger::{Ledger, LedgerError, PendingCheckpoint};
use evident_evidence::timestamp::{check_response, TimestampRequest, QUERY_MEDIA_TYPE};
use serde::{Deserialize, Serialize};

/// Largest TSA response read (bytes); a token with a certificate chain is a
/// few kilobytes.
const MAX_RESPONSE_BYTES: usize = 1 << 20;
/// Most checkpoints published to one sink in one pass (a backlog drains run by run).
const MAX_PUBLISH_PER_PASS: usize = 64;

/// `[timestamp]`: an RFC 3161 time-stamping authority for checkpoints.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimestampConfig {
    /// The TSA's URL (http or https); requests are HTTP POSTs of
    /// `application/timestamp-query`.
    pub url: String,
    /// Seconds to wait for one response. Default: 10.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// The TSA's CA certificate (PEM), for the auditor: copied into
    /// evidence packs as `tsa-ca.pem` for `openssl ts -verify -CAfile`.
    pub ca_file: Option<PathBuf>,
    /// A TSA policy OID to ask for (`reqPolicy`), dotted. Default: the TSA's.
    pub policy: Option<String>,
    /// Most pending checkpoints timestamped in one pass, newest first. Default: 32.
    #[serde(default = "default_max_per_run")]
    pub max_per_run: usize,
}

fn default_timeout() -> u64 {
    10
}
fn default_retries() -> u32 {
    3
}
fn default_max_per_run() -> usize {
    32
}

/// `[publish]`: where checkpoints are published off the host.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishConfig {
    /// The sinks: `[[publish.sink]]` with `type = "directory"` or `type = "http"`.
    #[serde(default)]
    pub sink: Vec<SinkConfig>,
}

/// One sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SinkConfig {
    /// A directory, ideally on another machine (an NFS or SMB mount, a
    /// synced folder, a bucket mounted write-once).
    Directory(DirectorySink),
    /// An HTTP endpoint that receives each checkpoint as a JSON POST.
    Http(HttpSink),
}

/// `type = "directory"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectorySink {
    /// Name in logs and in the ledger's publication records; keep it stable.
    pub name: String,
    /// The directory (created if missing). One directory per agent.
    pub path: PathBuf,
}

/// `type = "http"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSink {
    /// Name in logs and in the ledger's publication records; keep it stable.
    pub name: String,
    /// The URL, when it holds no secret.
    pub url: Option<String>,
    /// Name of an environment variable holding the URL.
    pub url_env: Option<String>,
    /// A file holding the URL (first line).
    pub url_file: Option<PathBuf>,
    /// A file holding a bearer token sent as `Authorization: Bearer …` (first line).
    pub bearer_token_file: Option<PathBuf>,
    /// Seconds to wait for one POST. Default: 10.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Retries of a failed POST, with backoff (1 s, 2 s, 4 s …). Default: 3.
    #[serde(default = "default_retries")]
    pub retries: u32,
}

impl SinkConfig {
    /// The sink's name.
    pub fn name(&self) -> &str {
        match self {
            SinkConfig::Directory(d) => &d.name,
            SinkConfig::Http(h) => &h.name,
        }
    }
}

fn is_http_url(u: &str) -> bool {
    u.starts_with("http://") || u.starts_with("https://")
}

/// Problems with the `[timestamp]` and `[publish]` sections.
pub fn problems(ts: Option<&TimestampConfig>, publish: &PublishConfig) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(t) = ts {
        if !is_http_url(&t.url) {
            out.push("timestamp.url must start with http:// or https://".into());
        }
        if t.timeout_seconds == 0 {
            out.push("timestamp.timeout_seconds must be at least 1".into());
        }
        if t.max_per_run == 0 {
            out.push("timestamp.max_per_run must be at least 1".into());
        }
        if let Some(p) = &t.policy {
            let probe = TimestampRequest {
                digest: [0; 32],
                nonce: 0,
                policy: Some(p.clone()),
                cert_req: true,
            };
            if probe.to_der().is_err() {
                out.push(format!(
                    "timestamp.policy {p:?} is not a dotted OID such as 1.2.3.4.1"
                ));
            }
        }
        if let Some(ca) = &t.ca_file {
            if !ca.is_file() {
                out.push(format!(
                    "timestamp.ca_file {} is not a readable file",
                    ca.display()
                ));
            }
        }
    }
    let mut names = std::collections::BTreeSet::new();
    for s in &publish.sink {
        let name = s.name();
        if name.trim().is_empty() || name.chars().any(char::is_control) {
            out.push("publish.sink: name must be non-empty and printable".into());
        } else if !names.insert(name.to_string()) {
            out.push(format!(
                "publish.sink {name:?}: the name is used twice; names must be unique"
            ));
        }
        if let SinkConfig::Http(h) = s {
            let sources = [h.url.is_some(), h.url_env.is_some(), h.url_file.is_some()]
                .iter()
                .filter(|b| **b)
                .count();
            if sources != 1 {
                out.push(format!(
                    "publish.sink {name:?}: set exactly one of url, url_env, url_file"
                ));
            }
            if h.url.as_deref().is_some_and(|u| !is_http_url(u)) {
                out.push(format!(
                    "publish.sink {name:?}: url must start with http:// or https://"
                ));
            }
            if h.url
                .as_deref()
                .is_some_and(crate::config::url_has_credentials)
            {
                out.push(format!(
                    "publish.sink {name:?}: the url holds credentials; use url_file, url_env or bearer_token_file"
                ));
            }
            if h.timeout_seconds == 0 {
                out.push(format!(
                    "publish.sink {name:?}: timeout_seconds must be at least 1"
                ));
            }
        }
    }
    out
}

/// What one pass did for the TSA.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TimestampOutcome {
    /// Tokens obtained and stored in this pass.
    pub obtained: u64,
    /// Checkpoints still without a token.
    pub pending: u64,
    /// Why the pass stopped early (the checkpoint stays pending), if it did.
    pub error: Option<String>,
}

/// What one pass did for one sink.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SinkOutcome {
    /// The sink's name.
    pub name: String,
    /// Checkpoints published in this pass.
    pub published: u64,
    /// Checkpoints still to publish there.
    pub pending: u64,
    /// Why the pass stopped early, if it did.
    pub error: Option<String>,
}

/// What one pass after a checkpoint did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AfterOutcome {
    /// The TSA's part (`None`: no TSA configured).
    pub timestamp: Option<TimestampOutcome>,
    /// Each sink's part.
    pub sinks: Vec<SinkOutcome>,
}

impl AfterOutcome {
    /// Whether nothing is pending and nothing failed.
    pub fn is_clean(&self) -> bool {
        self.timestamp
            .as_ref()
            .is_none_or(|t| t.pending == 0 && t.error.is_none())
            && self
                .sinks
                .iter()
                .all(|s| s.pending == 0 && s.error.is_none())
    }
}

/// Run a ledger operation on a blocking thread.
async fn on_ledger<T: Send + 'static>(
    ledger: &Arc<Mutex<Ledger>>,
    f: impl FnOnce(&Ledger) -> Result<T, LedgerError> + Send + 'static,
) -> Result<T, String> {
    let ledger = ledger.clone();
    tokio::task::spawn_blocking(move || {
        let l = ledger.lock().unwrap_or_else(|p| p.into_inner());
        f(&l).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("ledger task failed: {e}"))?
}

/// Timestamp pending checkpoints, then publish pending ones to each sink.
pub async fn after_checkpoint(
    ts: Option<&TimestampConfig>,
    publish: &PublishConfig,
    ledger: &Arc<Mutex<Ledger>>,
) -> AfterOutcome {
    let mut out = AfterOutcome::default();
    if let Some(t) = ts {
        out.timestamp = Some(timestamp_pending(t, ledger).await);
    }
    for sink in &publish.sink {
        out.sinks.push(publish_pending(sink, ledger).await);
    }
    out
}

async fn timestamp_pending(t: &TimestampConfig, ledger: &Arc<Mutex<Ledger>>) -> TimestampOutcome {
    let mut out = TimestampOutcome::default();
    let limit = t.max_per_run;
    match on_ledger(ledger, move |l| l.checkpoints_without_timestamp(limit)).await {
        Ok(pending) if !pending.is_empty() => {
            match reqwest::Client::builder()
                .timeout(Duration::from_secs(t.timeout_seconds))
                .build()
            {
                Ok(client) => {
                    for p in pending {
                        match timestamp_one(&client, t, &p).await {
                            Ok(token) => {
                                let seq = p.seq;
                                let stored = on_ledger(ledger, move |l| {
                                    l.add_timestamp(seq, &token, chrono::Utc::now())
                                })
                                .await;
                                match stored {
                                    Ok(_) => {
                                        out.obtained += 1;
                                        tracing::info!(
                                            tree_size = p.checkpoint.tree_size,
                                            "checkpoint timestamped"
                                        );
                                    }
                                    Err(e) => {
                                        out.error = Some(format!("cannot store the token: {e}"));
                                        break;
                                    }
                                }
                            }
                            Err(e) => {
                                tracing::warn!(tree_size = p.checkpoint.tree_size, error = %e, "no timestamp for the checkpoint; it stays pending and is retried on the next run");
                                out.error = Some(e);
                                break;
                            }
                        }
                    }
                }
                Err(e) => out.error = Some(format!("cannot build the HTTP client: {e}")),
            }
        }
        Ok(_) => {}
        Err(e) => out.error = Some(e),
    }
    match on_ledger(ledger, |l| l.count_without_timestamp()).await {
        Ok(n) => out.pending = n,
        Err(e) => out.error = out.error.or(Some(e)),
    }
    out
}

/// Ask the TSA for a token over `p`'s body and check the answer.
async fn timestamp_one(
    client: &reqwest::Client,
    t: &TimestampConfig,
    p: &PendingCheckpoint,
) -> Result<Vec<u8>, String> {
    let req = TimestampRequest::for_data(&p.checkpoint.body, t.policy.as_deref());
    let der = req.to_der().map_err(|e| e.to_string())?;
    // The URL is not logged or echoed: it may carry credentials.
    let mut resp = client
        .post(&t.url)
        .header(reqwest::header::CONTENT_TYPE, QUERY_MEDIA_TYPE)
        .body(der)
        .send()
        .await
        .map_err(|e| format!("TSA unreachable: {}", e.without_url()))?;
    if !resp.status().is_success() {
        return Err(format!("TSA answered HTTP {}", resp.status().as_u16()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("reading the TSA's answer: {}", e.without_url()))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(format!(
                "the TSA's answer is larger than {MAX_RESPONSE_BYTES} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let (token, _info) = check_response(&body, &req, &p.checkpoint.body)
        .map_err(|e| format!("unusable TSA answer: {e}"))?;
    Ok(token)
}

async fn publish_pending(sink: &SinkConfig, ledger: &Arc<Mutex<Ledger>>) -> SinkOutcome {
    let name = sink.name().to_string();
    let mut out = SinkOutcome {
        name: name.clone(),
        ..SinkOutcome::default()
    };
    let n = name.clone();
    let pending = match on_ledger(ledger, move |l| l.unpublished(&n, MAX_PUBLISH_PER_PASS)).await {
        Ok(p) => p,
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    let client = match sink {
        SinkConfig::Http(h) => match reqwest::Client::builder()
            .timeout(Duration::from_secs(h.timeout_seconds))
            .build()
        {
            Ok(c) => Some(c),
            Err(e) => {
                out.error = Some(format!("cannot build the HTTP client: {e}"));
                return out;
            }
        },
        SinkConfig::Directory(_) => None,
    };
    for p in pending {
        let result = match (sink, &client) {
            (SinkConfig::Directory(d), _) => {
                let dir = d.path.clone();
                let cp = p.checkpoint.clone();
                let token = p.token.clone();
                tokio::task::spawn_blocking(move || {
                    evident_evidence::published::publish_to_dir(&dir, &cp, token.as_deref())
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
                .await
                .unwrap_or_else(|e| Err(format!("publishing task failed: {e}")))
            }
            (SinkConfig::Http(h), Some(c)) => post_checkpoint(c, h, &p).await,
            (SinkConfig::Http(_), None) => Err("no HTTP client".into()),
        };
        match result {
            Ok(()) => {
                let (n, seq, with_token) = (name.clone(), p.seq, p.token.is_some());
                if let Err(e) = on_ledger(ledger, move |l| {
                    l.mark_published(&n, seq, with_token, chrono::Utc::now())
                })
                .await
                {
                    out.error = Some(e);
                    break;
                }
                out.published += 1;
            }
            Err(e) => {
                tracing::warn!(sink = %name, tree_size = p.checkpoint.tree_size, error = %e, "checkpoint not published; it stays pending and is retried on the next run");
                out.error = Some(e);
                break;
            }
        }
    }
    let n = name.clone();
    match on_ledger(ledger, move |l| l.count_unpublished(&n)).await {
        Ok(c) => out.pending = c,
        Err(e) => out.error = out.error.or(Some(e)),
    }
    out
}

/// The JSON body POSTed to an HTTP sink.
pub fn payload(p: &PendingCheckpoint) -> serde_json::Value {
    let cp = &p.checkpoint;
    serde_json::json!({
        "format": "evident-published-checkpoint/v1",
        "agent_id": cp.agent_id,
        "tree_size": cp.tree_size,
        "root": cp.root_hex(),
        "time": evident_evidence::record::format_time(cp.time),
        "key_id": cp.key_id,
        "checkpoint": String::from_utf8_lossy(&cp.body),
        "signature_hex": hex::encode(&cp.signature),
        "public_key_pem": cp.public_key_pem,
        "timestamp_token_hex": p.token.as_ref().map(hex::encode),
    })
}

/// The first line of a url or bearer-token file, refused when other users
/// can read it (see [`evident_evidence::secret_file`]).
fn first_line(path: &std::path::Path) -> Result<String, String> {
    evident_evidence::secret_file::read_secret_line(path).map_err(|e| e.to_string())
}

async fn post_checkpoint(
    client: &reqwest::Client,
    h: &HttpSink,
    p: &PendingCheckpoint,
) -> Result<(), String> {
    let url = if let Some(u) = &h.url {
        u.clone()
    } else if let Some(var) = &h.url_env {
        std::env::var(var).map_err(|_| format!("environment variable {var} is not set"))?
    } else if let Some(f) = &h.url_file {
        first_line(f)?
    } else {
        return Err("no url configured".into());
    };
    let token = h.bearer_token_file.as_deref().map(first_line).transpose()?;
    let body = payload(p);
    let mut attempt = 0;
    loop {
        let mut req = client.post(&url).json(&body);
        if let Some(t) = &token {
            req = req.bearer_auth(t);
        }
        let err = match req.send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => format!("HTTP {}", r.status().as_u16()),
            // Never log the URL: it may embed a secret.
            Err(e) => e.without_url().to_string(),
        };
        if attempt >= h.retries {
            return Err(err);
        }
        tracing::info!(sink = %h.name, error = %err, attempt = attempt + 1, "publication failed; retrying");
        tokio::time::sleep(Duration::from_secs(1u64 << attempt.min(5))).await;
        attempt += 1;
    }
}
