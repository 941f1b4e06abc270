//! Host firewall: the `host.firewall` observation and its check.
//!
//! The collector reads every firewall it finds and records each filter chain
//! hooked at `input` with its *default verdict*: the verdict of the first
//! unconditional rule that ends evaluation (following unconditional jumps
//! into other chains), or else the chain's policy.
//!
//! - nftables: `nft -j list ruleset` (needs CAP_NET_ADMIN, so root);
//! - iptables: `iptables-save` and `ip6tables-save` (root too; they also show
//!   the legacy tables that nftables does not);
//! - ufw: `ENABLED=yes` in `/etc/ufw/ufw.conf` with `DEFAULT_INPUT_POLICY` in
//!   `/etc/default/ufw` (its configuration, readable without root);
//! - firewalld: a running `firewalld` with the target of its default zone.
//!
//! A packet is dropped when any input chain drops it (an accept in one
//! chain only passes it on to the next), so an IP family is default-deny
//! when at least one of its input chains has a drop or reject default
//! verdict. `inet` chains cover IPv4 and IPv6; IPv6 must be covered too
//! unless it is disabled on the host.

use serde::{Deserialize, Serialize};

use super::ProbeError;
use crate::model::{Check, CheckMeta, Finding, Observation, Severity, Status};
use crate::reason::ReasonCode;

/// The observation source of this check.
pub const SOURCE: &str = "host.firewall";

/// The resource id of the finding.
pub const RESOURCE: &str = "inbound";

/// What the host collector saw of the host's firewalls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirewallObservation {
    /// Whether IPv6 is enabled (`/proc/net/if_inet6` exists and
    /// `net.ipv6.conf.all.disable_ipv6` is 0).
    pub ipv6_enabled: bool,
    /// One entry per firewall looked for, installed or not.
    pub backends: Vec<FirewallBackend>,
}

/// One firewall front end or kernel interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirewallBackend {
    /// `nftables`, `iptables`, `ip6tables`, `ufw` or `firewalld`.
    pub name: String,
    /// How it was read, e.g. `nft -j list ruleset`.
    pub method: String,
    /// Whether its tool or configuration is installed.
    pub installed: bool,
    /// Whether it is active: ruleset read, ufw enabled, firewalld running.
    pub active: bool,
    /// Its filter chains hooked at input.
    pub input_chains: Vec<InputChain>,
    /// What else is worth telling, e.g. `ENABLED=no in /etc/ufw/ufw.conf`.
    pub note: Option<String>,
    /// Set when it is installed but could not be read.
    pub error: Option<ProbeError>,
}

/// A filter chain hooked at input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputChain {
    /// `ip` (IPv4), `ip6` (IPv6) or `inet` (both).
    pub family: String,
    /// Table name.
    pub table: String,
    /// Chain name.
    pub chain: String,
    /// The chain's policy, lower-case (`accept`, `drop`; `reject` for ufw and firewalld).
    pub policy: String,
    /// Number of rules in the chain.
    pub rules: u32,
    /// What a packet matching no specific rule meets, lower-case: `accept`,
    /// `drop` or `reject`.
    pub default_verdict: String,
    /// Where the default verdict comes from, e.g. `policy` or `rule 4`.
    pub default_from: String,
}

impl InputChain {
    /// Whether packets matching no specific rule are dropped or rejected.
    pub fn denies_by_default(&self) -> bool {
        matches!(self.default_verdict.as_str(), "drop" | "reject")
    }

    fn covers(&self, family: &str) -> bool {
        self.family == family || self.family == "inet"
    }

    fn describe(&self, backend: &str) -> String {
        format!(
            "{backend} {} {}/{}: {} ({})",
            self.family, self.table, self.chain, self.default_verdict, self.default_from
        )
    }
}

/// Metadata of [`INBOUND_DEFAULT_DENY`].
pub const INBOUND_DEFAULT_DENY_META: CheckMeta = CheckMeta {
    id: "host_firewall_inbound_default_deny",
    title: "Host firewall denies inbound traffic by default",
    severity: Severity::High,
    controls: &["A.8.20"],
    source: SOURCE,
    rationale: "A default-deny inbound policy exposes only the services that were deliberately \
                opened; with a default accept, any service that starts listening, by mistake \
                or by an attacker, is reachable from the network.",
    remediation: "Configure an input chain with policy drop that accepts only established \
                  traffic, loopback and the required services, for IPv4 and IPv6: with \
                  nftables (/etc/nftables.conf, `systemctl enable --now nftables`), ufw \
                  (`ufw default deny incoming && ufw enable`) or firewalld.",
    max_age_days: 1,
};

/// Every enabled IP family passes an input chain whose default verdict is drop or reject.
pub const INBOUND_DEFAULT_DENY: Check = Check {
    meta: INBOUND_DEFAULT_DENY_META,
    evaluate: evaluate_firewall,
};

fn evaluate_firewall(obs: &Observation) -> Vec<Finding> {
    let meta = &INBOUND_DEFAULT_DENY_META;
    let data: FirewallObservation = match obs.payload() {
        Ok(d) => d,
        Err(e) => return vec![Finding::malformed(meta, obs, &e)],
    };
    let one =
        |status, code, reason: String| vec![Finding::new(meta, RESOURCE, status, code, reason)];
    let families: &[(&str, &str)] = if data.ipv6_enabled {
        &[("ip", "IPv4"), ("ip6", "IPv6")]
    } else {
        &[("ip", "IPv4")]
    };
    // For each family, the chains that deny by default.
    let mut covered = Vec::new();
    let mut open = Vec::new();
    for (family, label) in families {
        let deny: Vec<String> = data
            .backends
            .iter()
            .flat_map(|b| {
                b.input_chains
                    .iter()
                    .filter(|c| c.covers(family) && c.denies_by_default())
                    .map(|c| c.describe(&b.name))
            })
            .collect();
        match deny.first() {
            Some(first) => covered.push(format!("{label} by {first}")),
            None => open.push(*label),
        }
    }
    let ipv6_note = if data.ipv6_enabled {
        ""
    } else {
        " (IPv6 is disabled)"
    };
    if open.is_empty() {
        return one(
            Status::Pass,
            ReasonCode::FirewallDefaultDeny,
            format!("inbound default deny for {}{ipv6_note}", covered.join("; ")),
        );
    }
    // Not proven: an unreadable firewall might be the one that denies.
    if let Some((b, err)) = data
        .backends
        .iter()
        .find_map(|b| b.error.as_ref().map(|e| (b, e)))
    {
        return one(
            Status::Error,
            err.kind.reason_code(),
            format!(
                "no default-deny input chain seen for {}, and {} could not be read ({}): {}",
                open.join(" and "),
                b.name,
                b.method,
                err.message
            ),
        );
    }
    let open_chains: Vec<String> = data
        .backends
        .iter()
        .flat_map(|b| {
            b.input_chains
                .iter()
                .filter(|c| !c.denies_by_default())
                .map(|c| c.describe(&b.name))
        })
        .collect();
    let notes: Vec<String> = data
        .backends
        .iter()
        .filter(|b| b.installed)
        .filter_map(|b| b.note.as_ref().map(|n| format!("{}: {n}", b.name)))
        .collect();
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; "))
    };
    if !open_chains.is_empty() || !covered.is_empty() {
        let seen = if open_chains.is_empty() {
            String::new()
        } else {
            format!("; input chains seen: {}", open_chains.join(", "))
        };
        return one(
            Status::Fail,
            ReasonCode::FirewallInboundOpen,
            format!(
                "inbound traffic is accepted by default for {}{seen}{notes}",
                open.join(" and ")
            ),
        );
    }
    let installed: Vec<&str> = data
        .backends
        .iter()
        .filter(|b| b.installed)
        .map(|b| b.name.as_str())
        .collect();
    let reason = if installed.is_empty() {
        "no firewall is installed (looked for nft, iptables-save, ufw and firewalld); if \
         traffic is filtered outside the host, record that as evidence instead"
            .to_string()
    } else {
        format!(
            "no input filter chain is loaded (read: {}){notes}",
            installed.join(", ")
        )
    };
    one(Status::Fail, ReasonCode::FirewallAbsent, reason)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::host::test_support::{obs, summary};
    use crate::host::ProbeErrorKind;

    fn chain(family: &str, verdict: &str) -> InputChain {
        InputChain {
            family: family.into(),
            table: "filter".into(),
            chain: "input".into(),
            policy: "accept".into(),
            rules: 3,
            default_verdict: verdict.into(),
            default_from: "rule 3".into(),
        }
    }

    fn backend(name: &str, chains: Vec<InputChain>) -> FirewallBackend {
        FirewallBackend {
            name: name.into(),
            method: "test".into(),
            installed: true,
            active: true,
            input_chains: chains,
            note: None,
            error: None,
        }
    }

    fn run(ipv6: bool, backends: Vec<FirewallBackend>) -> (Status, ReasonCode, String) {
        let d = FirewallObservation {
            ipv6_enabled: ipv6,
            backends,
        };
        let f = (INBOUND_DEFAULT_DENY.evaluate)(&obs(SOURCE, &d));
        assert_eq!(summary(&f).len(), 1);
        (f[0].status, f[0].reason_code, f[0].reason.clone())
    }

    #[test]
    fn inet_drop_passes() {
        let r = run(true, vec![backend("nftables", vec![chain("inet", "drop")])]);
        assert_eq!((r.0, r.1), (Status::Pass, ReasonCode::FirewallDefaultDeny));
        // One family per backend is enough when both are covered.
        let r = run(
            true,
            vec![
                backend("iptables", vec![chain("ip", "reject")]),
                backend("ip6tables", vec![chain("ip6", "drop")]),
            ],
        );
        assert_eq!(r.0, Status::Pass, "{}", r.2);
        // An accepting chain beside a dropping one does not matter.
        let r = run(
            false,
            vec![backend(
                "nftables",
                vec![chain("ip", "accept"), chain("ip", "drop")],
            )],
        );
        assert_eq!(r.0, Status::Pass);
        assert!(r.2.contains("IPv6 is disabled"), "{}", r.2);
    }

    #[test]
    fn ipv6_left_open_fails() {
        let r = run(true, vec![backend("iptables", vec![chain("ip", "drop")])]);
        assert_eq!((r.0, r.1), (Status::Fail, ReasonCode::FirewallInboundOpen));
        assert!(r.2.contains("IPv6"), "{}", r.2);
        let r = run(
            true,
            vec![backend("nftables", vec![chain("inet", "accept")])],
        );
        assert_eq!(r.1, ReasonCode::FirewallInboundOpen);
    }

    #[test]
    fn nothing_loaded_fails() {
        let r = run(true, vec![backend("nftables", vec![])]);
        assert_eq!((r.0, r.1), (Status::Fail, ReasonCode::FirewallAbsent));
        let mut b = backend("ufw", vec![]);
        b.installed = false;
        let r = run(true, vec![b]);
        assert_eq!(r.1, ReasonCode::FirewallAbsent);
        assert!(r.2.contains("no firewall is installed"), "{}", r.2);
    }

    #[test]
    fn unreadable_is_error_unless_proven() {
        let mut denied = backend("nftables", vec![]);
        denied.error = Some(ProbeError::new(
            ProbeErrorKind::PermissionDenied,
            "needs CAP_NET_ADMIN",
        ));
        let r = run(true, vec![denied.clone()]);
        assert_eq!((r.0, r.1), (Status::Error, ReasonCode::PermissionDenied));
        // ufw's configuration proves it regardless.
        let r = run(
            true,
            vec![
                denied,
                backend("ufw", vec![chain("ip", "drop"), chain("ip6", "drop")]),
            ],
        );
        assert_eq!(r.0, Status::Pass);
    }

    #[test]
    fn malformed_payload_is_error() {
        let mut o = obs(
            SOURCE,
            &FirewallObservation {
                ipv6_enabled: true,
                backends: vec![],
            },
        );
        o.data = serde_json::json!({"backends": []});
        let f = (INBOUND_DEFAULT_DENY.evaluate)(&o);
        assert_eq!(f[0].reason_code, ReasonCode::ObservationMalformed);
    }
}
