//! `[[collectors.webfilter]]`: DNS and HTTP proxy web filtering probes.

use std::ops::Range;
use std::time::Duration;

use chrono::{DateTime, Utc};
use evident_collectors::webfilter::{self, ProxySettings, ResolverSettings, WebfilterSettings};
use evident_policies::{Observation, Target, TargetKind};

use crate::config::{problem_at, Problem};
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

    fn validate(&self, text: &str, span: &Range<usize>, problems: &mut Vec<Problem>) {
        let mut at = |m: &str| problems.push(problem_at(text, Some(span.clone()), m));
        if self.resolvers.is_empty() && self.proxies.is_empty() {
            at("a webfilter collector needs at least one resolver or proxy");
        }
        if self.query_timeout_seconds == 0 {
            at("query_timeout_seconds must be at least 1");
        } else if self.query_timeout_seconds >= self.timeout_seconds {
            at("query_timeout_seconds must be shorter than the collector's timeout_seconds");
        }
        for r in &self.resolvers {
            if r.canaries.values().all(Vec::is_empty) || r.controls.is_empty() {
                at(&format!(
                    "resolver {} needs at least one canary name and one control name",
                    r.address
                ));
            }
        }
        for p in &self.proxies {
            if p.canaries.values().all(Vec::is_empty) {
                at(&format!(
                    "proxy {} needs at least one canary URL",
                    p.address
                ));
            }
            for url in p
                .canaries
                .values()
                .flatten()
                .chain(std::iter::once(&p.control))
            {
                if let Err(e) = webfilter::http::parse_url(url) {
                    at(&format!("proxy {}: {e}", p.address));
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
