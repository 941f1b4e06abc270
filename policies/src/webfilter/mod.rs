//! Web filtering probes (A.8.23): the `webfilter.probe` observation and its check.
//!
//! The web filter collector asks each configured DNS resolver for canary
//! names that policy says must be blocked and for control names that must
//! resolve, and requests canary URLs and a control URL through each
//! configured HTTP proxy. It records every query and request with the answer
//! seen; the check gives each its verdict ([`dns_verdict`], [`http_verdict`])
//! and one finding per resolver and per proxy:
//! - a control that does not get through: `error` (`webfilter_filter_broken`,
//!   "resolver unreachable or broken"), since blocking proves nothing then;
//! - a canary that gets through: `fail` (`webfilter_canary_allowed`), naming it;
//! - a canary without a usable answer (timeout, SERVFAIL, 5xx): `error`;
//! - otherwise `pass`.

use serde::{Deserialize, Serialize};

use crate::model::{Check, CheckMeta, Finding, Observation, Severity, Status};
use crate::reason::ReasonCode;

/// The observation source of this check.
pub const SOURCE: &str = "webfilter.probe";

/// The web filtering checks.
pub static CHECKS: &[Check] = &[CANARIES_BLOCKED];

/// What the web filter collector saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebfilterObservation {
    /// One entry per configured resolver.
    pub resolvers: Vec<ResolverProbe>,
    /// One entry per configured proxy.
    pub proxies: Vec<ProxyProbe>,
}

/// Whether a name or URL must be blocked (a canary) or must get through (a control).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Expect {
    /// A canary: must be blocked.
    Blocked,
    /// A control: must get through.
    Allowed,
}

/// The queries sent to one resolver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolverProbe {
    /// `address:port` of the resolver.
    pub address: String,
    /// Addresses that mean "blocked" when they are the whole answer.
    pub sinkholes: Vec<String>,
    /// Each query and its answer.
    pub queries: Vec<DnsQuery>,
}

/// One DNS query (type A) and its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsQuery {
    /// The name asked for.
    pub name: String,
    /// The canary category (`malware`, `phishing`, …); absent for controls.
    pub category: Option<String>,
    /// What policy expects.
    pub expect: Expect,
    /// The response code (`NOERROR`, `NXDOMAIN`, `REFUSED`, `SERVFAIL`, …), when a response came.
    pub rcode: Option<String>,
    /// The A and AAAA addresses in the answer section.
    pub answers: Vec<String>,
    /// Why no usable response came (timeout, malformed response).
    pub error: Option<String>,
}

/// The requests sent through one proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyProbe {
    /// The proxy, `host:port`.
    pub proxy: String,
    /// Text in a response body that marks the proxy's block page, when configured.
    pub block_marker: Option<String>,
    /// Each request and its response.
    pub requests: Vec<HttpProbe>,
}

/// One request through a proxy and its response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    /// The URL requested.
    pub url: String,
    /// The canary category; absent for the control.
    pub category: Option<String>,
    /// What policy expects.
    pub expect: Expect,
    /// The HTTP status, when a response came.
    pub status: Option<u16>,
    /// Whether the configured block marker appeared in the response body.
    pub marker_seen: bool,
    /// Why no usable response came.
    pub error: Option<String>,
}

/// The verdict on one query or request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    /// Blocked: NXDOMAIN, REFUSED or only sinkhole addresses; HTTP 403 or the block marker.
    Blocked,
    /// Got through: a non-sinkhole address; an HTTP response other than a block or a 5xx.
    GotThrough,
    /// No usable answer: timeout, SERVFAIL, an empty answer, a 5xx or a broken response.
    NoAnswer,
}

/// The verdict on a DNS answer.
pub fn dns_verdict(q: &DnsQuery, sinkholes: &[String]) -> Verdict {
    if q.error.is_some() {
        return Verdict::NoAnswer;
    }
    match q.rcode.as_deref() {
        Some("NXDOMAIN") | Some("REFUSED") => Verdict::Blocked,
        Some("NOERROR") if q.answers.is_empty() => Verdict::NoAnswer,
        Some("NOERROR") => {
            if q.answers.iter().all(|a| sinkholes.iter().any(|s| s == a)) {
                Verdict::Blocked
            } else {
                Verdict::GotThrough
            }
        }
        _ => Verdict::NoAnswer,
    }
}

/// The verdict on an HTTP response through a proxy.
pub fn http_verdict(r: &HttpProbe) -> Verdict {
    if r.error.is_some() {
        return Verdict::NoAnswer;
    }
    match r.status {
        None => Verdict::NoAnswer,
        Some(403) => Verdict::Blocked,
        Some(_) if r.marker_seen => Verdict::Blocked,
        Some(s) if s >= 500 || s == 407 => Verdict::NoAnswer,
        Some(_) => Verdict::GotThrough,
    }
}

/// Metadata of [`CANARIES_BLOCKED`].
pub const CANARIES_BLOCKED_META: CheckMeta = CheckMeta {
    id: "webfilter_canaries_blocked",
    title: "DNS resolvers and web proxies block the canary names and URLs",
    severity: Severity::High,
    controls: &["A.8.23"],
    source: SOURCE,
    rationale: "A web filter that is configured but does not block is no control. Asking the \
                filter for names and URLs it must block, next to controls it must let \
                through, shows whether it works as it is used.",
    remediation: "Add the category or name that got through to the resolver's or proxy's \
                  blocklist (or subscribe to a feed that covers it), check that clients use \
                  the filtering resolver and proxy, and repair a resolver or proxy that fails \
                  the controls.",
    max_age_days: 1,
};

/// Every canary is blocked by every resolver and proxy, whose controls get through.
pub const CANARIES_BLOCKED: Check = Check {
    meta: CANARIES_BLOCKED_META,
    evaluate: evaluate_webfilter,
};

/// One judged probe: its label (`malware/bad.example`) and the answer seen.
struct Judged {
    label: String,
    answer: String,
    expect: Expect,
    verdict: Verdict,
}

fn evaluate_webfilter(obs: &Observation) -> Vec<Finding> {
    let meta = &CANARIES_BLOCKED_META;
    let data: WebfilterObservation = match obs.payload() {
        Ok(d) => d,
        Err(e) => return vec![Finding::malformed(meta, obs, &e)],
    };
    let mut out = Vec::new();
    for r in &data.resolvers {
        let judged: Vec<Judged> = r
            .queries
            .iter()
            .map(|q| Judged {
                label: label(q.category.as_deref(), &q.name),
                answer: match (&q.error, &q.rcode) {
                    (Some(e), _) => e.clone(),
                    (None, Some(rc)) if q.answers.is_empty() => rc.clone(),
                    (None, Some(rc)) => format!("{rc} {}", q.answers.join(",")),
                    (None, None) => "no response".into(),
                },
                expect: q.expect,
                verdict: dns_verdict(q, &r.sinkholes),
            })
            .collect();
        out.push(judge(
            meta,
            format!("dns:{}", r.address),
            "resolver unreachable or broken",
            &judged,
        ));
    }
    for p in &data.proxies {
        let judged: Vec<Judged> = p
            .requests
            .iter()
            .map(|q| Judged {
                label: label(q.category.as_deref(), &q.url),
                answer: match (&q.error, q.status) {
                    (Some(e), _) => e.clone(),
                    (None, Some(s)) if q.marker_seen => format!("HTTP {s} with block marker"),
                    (None, Some(s)) => format!("HTTP {s}"),
                    (None, None) => "no response".into(),
                },
                expect: q.expect,
                verdict: http_verdict(q),
            })
            .collect();
        out.push(judge(
            meta,
            format!("proxy:{}", p.proxy),
            "proxy unreachable or broken",
            &judged,
        ));
    }
    if out.is_empty() {
        out.push(Finding::new(
            meta,
            "webfilter",
            Status::Error,
            ReasonCode::ComponentAbsent,
            "no resolver or proxy is configured, so nothing was probed",
        ));
    }
    out
}

fn label(category: Option<&str>, what: &str) -> String {
    match category {
        Some(c) => format!("{c}/{what}"),
        None => format!("control {what}"),
    }
}

fn judge(meta: &CheckMeta, resource: String, broken: &str, judged: &[Judged]) -> Finding {
    let show = |j: &Judged| format!("{} → {}", j.label, j.answer);
    let controls: Vec<&Judged> = judged
        .iter()
        .filter(|j| j.expect == Expect::Allowed)
        .collect();
    let canaries: Vec<&Judged> = judged
        .iter()
        .filter(|j| j.expect == Expect::Blocked)
        .collect();
    let failed_controls: Vec<String> = controls
        .iter()
        .filter(|j| j.verdict != Verdict::GotThrough)
        .map(|j| show(j))
        .collect();
    if controls.is_empty() || canaries.is_empty() {
        return Finding::new(
            meta,
            resource,
            Status::Error,
            ReasonCode::ComponentAbsent,
            "needs at least one canary and one control to probe",
        );
    }
    if !failed_controls.is_empty() {
        return Finding::new(
            meta,
            resource,
            Status::Error,
            ReasonCode::WebfilterFilterBroken,
            format!("{broken}: {}", failed_controls.join("; ")),
        );
    }
    let through: Vec<String> = canaries
        .iter()
        .filter(|j| j.verdict == Verdict::GotThrough)
        .map(|j| show(j))
        .collect();
    if !through.is_empty() {
        return Finding::new(
            meta,
            resource,
            Status::Fail,
            ReasonCode::WebfilterCanaryAllowed,
            format!("canaries got through: {}", through.join("; ")),
        );
    }
    let unknown: Vec<String> = canaries
        .iter()
        .filter(|j| j.verdict == Verdict::NoAnswer)
        .map(|j| show(j))
        .collect();
    if !unknown.is_empty() {
        return Finding::new(
            meta,
            resource,
            Status::Error,
            ReasonCode::WebfilterNoAnswer,
            format!("no usable answer for canaries: {}", unknown.join("; ")),
        );
    }
    let all: Vec<String> = judged.iter().map(show).collect();
    Finding::new(
        meta,
        resource,
        Status::Pass,
        ReasonCode::WebfilterCanariesBlocked,
        format!(
            "{} canaries blocked, {} controls got through: {}",
            canaries.len(),
            controls.len(),
            all.join("; ")
        ),
    )
}

#[cfg(test)]
mod tests;
