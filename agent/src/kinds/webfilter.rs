//! `[[collectors.webfilter]]`: DNS and HTTP proxy web filtering probes.

use std::time::Duration;

use chrono::{DateTime, Utc};
use evident_collectors::webfilter::{self, ProxySettings, ResolverSettings, WebfilterSettings};
use evident_policies::{Observation, Target, TargetKind};

use crate::config::{Place, Problem};
use crate::daemon::{BoxFut, RunFailure};
use crate::instances::{HasCommon, Kind};

crate::collector_instance! {
    /// `[[collectors.webfilter]]`: asks resolvers and proxies for canaries that must be blocked.
    pub struct WebfilterInstance {
        /// Timeout in seconds of each DNS query or proxy request. Default: 5.
        #[serde(default = "default_query_timeout")]
        pub query_timeout_seconds: u64,
        /// Resolvers to probe (`[[collectors.webfilter.resolvers]]`).
        #[serde(default)]
        pub resolvers: Vec<ResolverSettings>,
        /// Proxies to probe (`[[collectors.webfilter.proxies]]`).
        #[serde(default)]
        pub proxies: Vec<ProxySettings>,
    }
}

fn default_query_timeout() -> u64 {
    5
}

impl WebfilterInstance {
    /// The collector's own settings.
    pub fn settings(&self) -> WebfilterSettings {
        WebfilterSettings {
            resolvers: self.resolvers.clone(),
            proxies: self.proxies.clone(),
            query_timeout: Duration::from_secs(self.query_timeout_seconds.max(1)),
        }
    }
}

impl Kind for WebfilterInstance {
    const KIND: &'static str = "webfilter";

    fn sources(&self) -> &'static [&'static str] {
        &[evident_policies::webfilter::SOURCE]
    }

    fn target(&self) -> Target {
        Target {
            kind: TargetKind::Service,
            id: format!("webfilter:{}", self.common().name.unwrap_or("webfilter")),
        }
    }

    fn validate(&self, at: &Place<'_>, problems: &mut Vec<Problem>) {
        if self.resolvers.is_empty() && self.proxies.is_empty() {
            problems.push(at.problem("a webfilter collector needs at least one resolver or proxy"));
        }
        let query_timeout = at.key("query_timeout_seconds");
        if self.query_timeout_seconds == 0 {
            problems.push(query_timeout.problem("query_timeout_seconds must be at least 1"));
        } else if self.query_timeout_seconds >= self.timeout_seconds {
            problems.push(query_timeout.problem(
                "query_timeout_seconds must be shorter than the collector's timeout_seconds",
            ));
        }
        for (i, r) in self.resolvers.iter().enumerate() {
            if r.canaries.values().all(Vec::is_empty) || r.controls.is_empty() {
                let resolver = at.key("resolvers").item(i);
                let place = if r.controls.is_empty() {
                    resolver.key("controls")
                } else {
                    resolver.key("canaries")
                };
                problems.push(place.problem(&format!(
                    "resolver {} needs at least one canary name and one control name",
                    r.address
                )));
            }
        }
        for (i, p) in self.proxies.iter().enumerate() {
            let proxy = at.key("proxies").item(i);
            if p.canaries.values().all(Vec::is_empty) {
                problems.push(proxy.key("canaries").problem(&format!(
                    "proxy {} needs at least one canary URL",
                    p.address
                )));
            }
            let canaries = p.canaries.iter().flat_map(|(category, urls)| {
                let place = proxy.key("canaries").key(category);
                urls.iter()
                    .enumerate()
                    .map(move |(j, url)| (place.item(j), url))
            });
            for (place, url) in canaries.chain(std::iter::once((proxy.key("control"), &p.control)))
            {
                if let Err(e) = webfilter::http::parse_url(url) {
                    problems.push(place.problem(&format!("proxy {}: {e}", p.address)));
                }
            }
        }
    }

    fn collect(&self, now: DateTime<Utc>) -> BoxFut<Result<Vec<Observation>, RunFailure>> {
        let settings = self.settings();
        let target = self.target();
        Box::pin(async move {
            // Blocking sockets with their own timeouts: a blocking thread.
            tokio::task::spawn_blocking(move || vec![webfilter::collect(&settings, target, now)])
                .await
                .map_err(|e| RunFailure {
                    transient: false,
                    message: format!("webfilter collector task failed: {e}"),
                })
        })
    }
}
