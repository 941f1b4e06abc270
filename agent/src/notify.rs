//! Notifications of status transitions to webhooks: a generic JSON payload
//! and a Slack-compatible one. Sent only when a check's result on a resource
//! changes (not on every run); a failed delivery is retried with backoff and
//! never affects collection.

use std::time::Duration;

use evident_evidence::record::FindingRecord;
use evident_policies::drift::SeriesKey;
use evident_policies::Status;
use serde::Deserialize;

/// `[[notify.webhook]]`: where to send transitions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Name used in logs (the URL is never logged: it may hold a secret).
    pub name: String,
    /// The URL, when it holds no secret.
    pub url: Option<String>,
    /// Name of an environment variable holding the URL (for URLs that embed
    /// a secret, such as Slack incoming webhooks).
    pub url_env: Option<String>,
    /// A file holding the URL (first line).
    pub url_file: Option<std::path::PathBuf>,
    /// `json` (generic) or `slack`. Default: `json`.
    #[serde(default)]
    pub format: PayloadFormat,
    /// Seconds to wait for one delivery. Default: 10.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Retries of a failed delivery, with backoff (1 s, 2 s, 4 s …). Default: 3.
    #[serde(default = "default_retries")]
    pub retries: u32,
}

fn default_timeout() -> u64 {
    10
}
fn default_retries() -> u32 {
    3
}

/// Payload shape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadFormat {
    /// `{"event": "evident.transition", …}`.
    #[default]
    Json,
    /// `{"text": "…"}`, accepted by Slack incoming webhooks and compatible services.
    Slack,
}

/// `[notify]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Webhooks.
    #[serde(default)]
    pub webhook: Vec<toml::Spanned<WebhookConfig>>,
}

impl WebhookConfig {
    /// Problems with this webhook's settings.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let sources = [
            self.url.is_some(),
            self.url_env.is_some(),
            self.url_file.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if sources != 1 {
            out.push(format!(
                "webhook {:?}: set exactly one of url, url_env, url_file",
                self.name
            ));
        }
        if let Some(u) = &self.url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                out.push(format!(
                    "webhook {:?}: url must start with http:// or https://",
                    self.name
                ));
            }
        }
        out
    }

    fn resolve_url(&self) -> Result<String, String> {
        if let Some(u) = &self.url {
            return Ok(u.clone());
        }
        if let Some(var) = &self.url_env {
            return std::env::var(var)
                .map_err(|_| format!("environment variable {var} is not set"));
        }
        if let Some(path) = &self.url_file {
            // The url may embed a secret: refused when other users can read it.
            return evident_evidence::secret_file::read_secret_line(path)
                .map_err(|e| e.to_string());
        }
        Err("no url configured".into())
    }
}

/// One transition to notify.
#[derive(Debug, Clone)]
pub struct Event {
    /// Which series.
    pub key: SeriesKey,
    /// Previous status (`None`: first result).
    pub from: Option<Status>,
    /// The record with the new status.
    pub record: FindingRecord,
}

fn json_payload(agent_id: &str, e: &Event) -> serde_json::Value {
    serde_json::json!({
        "event": "evident.transition",
        "agent_id": agent_id,
        "check_id": e.key.check_id,
        "title": evident_policies::check(&e.key.check_id).map(|c| c.meta.title),
        "controls": e.record.controls,
        "severity": e.record.severity,
        "target": e.record.target,
        "resource_id": e.key.resource_id,
        "from": e.from,
        "to": e.record.status,
        "at": evident_evidence::record::format_time(e.record.recorded_at),
        "record_id": e.record.record_id,
        "reason_code": e.record.reason_code,
        "reason": e.record.reason,
    })
}

fn slack_payload(agent_id: &str, e: &Event) -> serde_json::Value {
    let from = e.from.map_or("new".to_string(), |s| s.to_string());
    serde_json::json!({
        "text": format!(
            "evident ({agent_id}): {} on {}/{}: {from} → {} ({}): {}",
            e.key.check_id,
            e.record.target.id,
            e.key.resource_id,
            e.record.status,
            e.record.controls.join(", "),
            e.record.reason
        )
    })
}

/// Deliver every event to every webhook, retrying failures. Returns the
/// number of deliveries that failed for good (they are logged, by webhook
/// name only).
pub async fn deliver(webhooks: &[WebhookConfig], agent_id: &str, events: &[Event]) -> usize {
    if events.is_empty() || webhooks.is_empty() {
        return 0;
    }
    let mut failed = 0;
    for hook in webhooks {
        let url = match hook.resolve_url() {
            Ok(u) => u,
            Err(why) => {
                tracing::warn!(webhook = %hook.name, %why, "cannot notify");
                failed += events.len();
                continue;
            }
        };
        let client = match reqwest::Client::builder()
            .timeout(Duration::from_secs(hook.timeout_seconds))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(webhook = %hook.name, error = %e.without_url(), "cannot build HTTP client");
                failed += events.len();
                continue;
            }
        };
        for e in events {
            let body = match hook.format {
                PayloadFormat::Json => json_payload(agent_id, e),
                PayloadFormat::Slack => slack_payload(agent_id, e),
            };
            let mut attempt = 0;
            loop {
                let result = client.post(&url).json(&body).send().await;
                let err = match result {
                    Ok(r) if r.status().is_success() => break,
                    Ok(r) => format!("HTTP {}", r.status().as_u16()),
                    // Never log the URL: it may embed a secret.
                    Err(e) => e.without_url().to_string(),
                };
                if attempt >= hook.retries {
                    tracing::warn!(webhook = %hook.name, error = %err, check = %e.key.check_id, "notification not delivered");
                    failed += 1;
                    break;
                }
                tracing::info!(webhook = %hook.name, error = %err, attempt = attempt + 1, "notification failed; retrying");
                tokio::time::sleep(Duration::from_secs(1u64 << attempt.min(5))).await;
                attempt += 1;
            }
        }
    }
    failed
}
