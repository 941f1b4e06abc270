//! The web filtering probe (A.8.23): DNS canaries through resolvers and URL
//! canaries through HTTP proxies. It records each query or request and the
//! answer seen as a `webfilter.probe` observation
//! ([`evident_policies::webfilter`]); the check gives the verdicts.
//!
//! Only the configured resolvers and proxies are contacted, and a proxy only
//! forwards to the hosts named in the configured URLs.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use chrono::{DateTime, Utc};
use evident_policies::webfilter::{
    DnsQuery, Expect, HttpProbe, ProxyProbe, ResolverProbe, WebfilterObservation, SOURCE,
};
use evident_policies::{Observation, Target};
use serde::{Deserialize, Serialize};

pub mod dns;
pub mod http;

/// A resolver to probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolverSettings {
    /// `ip:port` of the resolver, e.g. `10.0.0.53:53`.
    pub address: SocketAddr,
    /// Canary names that must be blocked, per category (`malware = ["…"]`).
    pub canaries: BTreeMap<String, Vec<String>>,
    /// Names that must resolve.
    pub controls: Vec<String>,
    /// Addresses the resolver answers with for blocked names (e.g. `0.0.0.0`).
    #[serde(default)]
    pub sinkholes: Vec<IpAddr>,
}

/// A proxy to probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySettings {
    /// `host:port` of the proxy.
    pub address: String,
    /// Canary URLs that must be blocked, per category.
    pub canaries: BTreeMap<String, Vec<String>>,
    /// A URL that must succeed (2xx or 3xx).
    pub control: String,
    /// Text of the proxy's block page; a response containing it counts as blocked.
    #[serde(default)]
    pub block_marker: Option<String>,
}

/// What one web filter collector instance probes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebfilterSettings {
    /// Resolvers.
    pub resolvers: Vec<ResolverSettings>,
    /// Proxies.
    pub proxies: Vec<ProxySettings>,
    /// Timeout of each query or request.
    pub query_timeout: Duration,
}

/// Probe every resolver and proxy; never fails as a whole (each failure is
/// recorded beside its query).
pub fn collect(settings: &WebfilterSettings, target: Target, now: DateTime<Utc>) -> Observation {
    let resolvers = settings
        .resolvers
        .iter()
        .map(|r| probe_resolver(r, settings.query_timeout))
        .collect();
    let proxies = settings
        .proxies
        .iter()
        .map(|p| probe_proxy(p, settings.query_timeout))
        .collect();
    Observation::new(
        SOURCE,
        target,
        now,
        &WebfilterObservation { resolvers, proxies },
    )
}

fn dns_query(server: SocketAddr, name: &str, category: Option<&str>, t: Duration) -> DnsQuery {
    let expect = if category.is_some() {
        Expect::Blocked
    } else {
        Expect::Allowed
    };
    let (rcode, answers, error) = match dns::query(server, name, dns::TYPE_A, t) {
        Ok(r) => (
            Some(dns::rcode_name(r.rcode)),
            r.addresses.iter().map(IpAddr::to_string).collect(),
            None,
        ),
        Err(e) => (None, Vec::new(), Some(e.to_string())),
    };
    DnsQuery {
        name: name.to_string(),
        category: category.map(str::to_string),
        expect,
        rcode,
        answers,
        error,
    }
}

/// Query one resolver for its canaries and controls.
pub fn probe_resolver(r: &ResolverSettings, timeout: Duration) -> ResolverProbe {
    let mut queries = Vec::new();
    for (category, names) in &r.canaries {
        for name in names {
            queries.push(dns_query(r.address, name, Some(category), timeout));
        }
    }
    for name in &r.controls {
        queries.push(dns_query(r.address, name, None, timeout));
    }
    ResolverProbe {
        address: r.address.to_string(),
        sinkholes: r.sinkholes.iter().map(IpAddr::to_string).collect(),
        queries,
    }
}

fn http_probe(p: &ProxySettings, url: &str, category: Option<&str>, t: Duration) -> HttpProbe {
    let expect = if category.is_some() {
        Expect::Blocked
    } else {
        Expect::Allowed
    };
    let (status, marker_seen, error) =
        match http::fetch(&p.address, url, p.block_marker.as_deref(), t) {
            Ok(r) => (Some(r.status), r.marker_seen, None),
            Err(e) => (None, false, Some(e.to_string())),
        };
    HttpProbe {
        url: url.to_string(),
        category: category.map(str::to_string),
        expect,
        status,
        marker_seen,
        error,
    }
}

/// Request one proxy's canary URLs and control URL.
pub fn probe_proxy(p: &ProxySettings, timeout: Duration) -> ProxyProbe {
    let mut requests = Vec::new();
    for (category, urls) in &p.canaries {
        for url in urls {
            requests.push(http_probe(p, url, Some(category), timeout));
        }
    }
    requests.push(http_probe(p, &p.control, None, timeout));
    ProxyProbe {
        proxy: p.address.clone(),
        block_marker: p.block_marker.clone(),
        requests,
    }
}

#[cfg(test)]
mod tests;
