//! Host firewall: the input chains of nftables (`nft -j list ruleset`),
//! iptables (`iptables-save`, `ip6tables-save`), ufw (its configuration
//! files) and firewalld (running process and default zone). Commands go
//! through the injected [`SystemProbes`] so tests fake their output.

use std::collections::HashMap;
use std::path::Path;

use evident_policies::host::{
    FirewallBackend, FirewallObservation, InputChain, ProbeError, ProbeErrorKind,
};
use serde_json::Value;

use super::command::{CommandError, CommandErrorKind};
use super::fs::{io_error, on_host};
use super::{running, ProcessEntry, SystemProbes};

/// Deepest chain of unconditional jumps followed.
const MAX_JUMPS: u32 = 16;

/// Observe the firewalls.
pub(crate) fn observe(
    root: &Path,
    probes: &dyn SystemProbes,
    processes: &Result<Vec<ProcessEntry>, ProbeError>,
) -> FirewallObservation {
    let ipv6_enabled = on_host(root, "/proc/net/if_inet6").exists()
        && std::fs::read_to_string(on_host(root, "/proc/sys/net/ipv6/conf/all/disable_ipv6"))
            .map(|v| v.trim() != "1")
            .unwrap_or(true);
    FirewallObservation {
        ipv6_enabled,
        backends: vec![
            nftables(probes),
            iptables_save(probes, "iptables", "iptables-save", "ip"),
            iptables_save(probes, "ip6tables", "ip6tables-save", "ip6"),
            ufw(root),
            firewalld(root, processes),
        ],
    }
}

fn backend(name: &str, method: &str) -> FirewallBackend {
    FirewallBackend {
        name: name.to_string(),
        method: method.to_string(),
        installed: false,
        active: false,
        input_chains: Vec::new(),
        note: None,
        error: None,
    }
}

/// Record the outcome of a command; the output when there is one.
fn command_output(
    b: &mut FirewallBackend,
    result: Result<String, CommandError>,
    privilege: &str,
) -> Option<String> {
    match result {
        Ok(out) => {
            b.installed = true;
            b.active = true;
            Some(out)
        }
        Err(e) if e.kind == CommandErrorKind::NotInstalled => None,
        Err(e) => {
            b.installed = true;
            let kind = if e.kind == CommandErrorKind::PermissionDenied {
                ProbeErrorKind::PermissionDenied
            } else {
                ProbeErrorKind::ToolUnavailable
            };
            let need = if kind == ProbeErrorKind::PermissionDenied {
                format!("{} needs {privilege}: ", b.method)
            } else {
                format!("{}: ", b.method)
            };
            b.error = Some(ProbeError::new(kind, format!("{need}{}", e.message)));
            None
        }
    }
}

// --- the chain walk shared by nftables and iptables --------------------------

/// What a rule does when it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Accept,
    Drop,
    Reject,
    Jump(String),
    Goto(String),
    Return,
    /// Logging, counting, marking: evaluation goes on.
    Continue,
}

/// A rule as far as the default verdict matters.
#[derive(Debug, Clone)]
struct Rule {
    /// Whether it matches every packet.
    unconditional: bool,
    verdict: Verdict,
}

/// Where evaluation of a chain ends for a packet no specific rule matches.
enum End {
    /// A terminal verdict (`accept`, `drop`, `reject`) and where it came from.
    Verdict(&'static str, String),
    /// The chain ran out or returned: the caller continues.
    Return,
}

/// Walk `chain` for a packet that matches no conditional rule.
fn walk(chains: &HashMap<String, Vec<Rule>>, chain: &str, depth: u32) -> End {
    if depth > MAX_JUMPS {
        return End::Return;
    }
    let Some(rules) = chains.get(chain) else {
        return End::Return;
    };
    for (i, rule) in rules.iter().enumerate() {
        if !rule.unconditional {
            continue;
        }
        let at = || format!("rule {} of {chain}", i + 1);
        match &rule.verdict {
            Verdict::Accept => return End::Verdict("accept", at()),
            Verdict::Drop => return End::Verdict("drop", at()),
            Verdict::Reject => return End::Verdict("reject", at()),
            Verdict::Return => return End::Return,
            Verdict::Jump(to) => {
                if let End::Verdict(v, from) = walk(chains, to, depth + 1) {
                    return End::Verdict(v, from);
                }
            }
            Verdict::Goto(to) => return walk(chains, to, depth + 1),
            Verdict::Continue => {}
        }
    }
    End::Return
}

/// The input chain record of a base chain.
fn input_chain(
    chains: &HashMap<String, Vec<Rule>>,
    family: &str,
    table: &str,
    chain: &str,
    policy: &str,
) -> InputChain {
    let (default_verdict, default_from) = match walk(chains, chain, 0) {
        End::Verdict(v, from) => (v.to_string(), from),
        End::Return => (policy.to_string(), "policy".to_string()),
    };
    InputChain {
        family: family.to_string(),
        table: table.to_string(),
        chain: chain.to_string(),
        policy: policy.to_string(),
        rules: u32::try_from(chains.get(chain).map_or(0, Vec::len)).unwrap_or(u32::MAX),
        default_verdict,
        default_from,
    }
}

// --- nftables ----------------------------------------------------------------

fn nftables(probes: &dyn SystemProbes) -> FirewallBackend {
    let mut b = backend("nftables", "nft -j list ruleset");
    let Some(out) = command_output(
        &mut b,
        probes.run("nft", &["-j", "list", "ruleset"]),
        "CAP_NET_ADMIN (run as root)",
    ) else {
        return b;
    };
    match parse_nft(&out) {
        Ok(chains) => b.input_chains = chains,
        Err(e) => {
            b.active = false;
            b.error = Some(ProbeError::new(
                ProbeErrorKind::Unreadable,
                format!("unexpected output of nft -j list ruleset: {e}"),
            ));
        }
    }
    b
}

/// Expressions that do not make a rule conditional.
fn neutral(expr: &Value) -> bool {
    let Some(obj) = expr.as_object() else {
        return false;
    };
    obj.keys().all(|k| matches!(k.as_str(), "counter" | "log"))
        || obj
            .get("xt")
            .is_some_and(|x| x["type"] == "match" && x["name"] == "comment")
}

fn nft_verdict(expr: &Value) -> Verdict {
    let target = |k: &str| expr[k]["target"].as_str().map(str::to_string);
    let xt_target = (expr["xt"]["type"] == "target")
        .then(|| expr["xt"]["name"].as_str())
        .flatten();
    if expr.get("accept").is_some() {
        Verdict::Accept
    } else if expr.get("drop").is_some() {
        Verdict::Drop
    } else if expr.get("reject").is_some() || xt_target == Some("REJECT") {
        Verdict::Reject
    } else if expr.get("return").is_some() {
        Verdict::Return
    } else if let Some(t) = target("jump") {
        Verdict::Jump(t)
    } else if let Some(t) = target("goto") {
        Verdict::Goto(t)
    } else {
        Verdict::Continue
    }
}

/// The filter chains hooked at input in `nft -j list ruleset` output.
fn parse_nft(out: &str) -> Result<Vec<InputChain>, String> {
    let doc: Value = serde_json::from_str(out).map_err(|e| e.to_string())?;
    let items = doc["nftables"].as_array().ok_or("no \"nftables\" array")?;
    // Rules per (family, table), chain name -> rules in order.
    let mut tables: HashMap<(String, String), HashMap<String, Vec<Rule>>> = HashMap::new();
    let mut bases = Vec::new();
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    for item in items {
        if let Some(c) = item.get("chain") {
            let key = (s(&c["family"]), s(&c["table"]));
            tables
                .entry(key.clone())
                .or_default()
                .entry(s(&c["name"]))
                .or_default();
            let family = key.0.as_str();
            if c["hook"] == "input"
                && c["type"] == "filter"
                && matches!(family, "ip" | "ip6" | "inet")
            {
                let policy = c["policy"].as_str().unwrap_or("accept").to_string();
                bases.push((key, s(&c["name"]), policy));
            }
        } else if let Some(r) = item.get("rule") {
            let exprs = r["expr"].as_array().cloned().unwrap_or_default();
            let (verdict, unconditional) = match exprs.split_last() {
                Some((last, rest)) => (nft_verdict(last), rest.iter().all(neutral)),
                None => (Verdict::Continue, false),
            };
            tables
                .entry((s(&r["family"]), s(&r["table"])))
                .or_default()
                .entry(s(&r["chain"]))
                .or_default()
                .push(Rule {
                    unconditional,
                    verdict,
                });
        }
    }
    Ok(bases
        .into_iter()
        .map(|((family, table), chain, policy)| {
            let chains = tables
                .get(&(family.clone(), table.clone()))
                .cloned()
                .unwrap_or_default();
            input_chain(&chains, &family, &table, &chain, &policy)
        })
        .collect())
}

// --- iptables ----------------------------------------------------------------

fn iptables_save(
    probes: &dyn SystemProbes,
    name: &str,
    program: &str,
    family: &str,
) -> FirewallBackend {
    let mut b = backend(name, program);
    let Some(out) = command_output(&mut b, probes.run(program, &[]), "root") else {
        return b;
    };
    b.input_chains = parse_iptables_save(&out, family);
    if b.input_chains.is_empty() {
        b.note = Some("no filter table is loaded".to_string());
    }
    b
}

/// Split a rule line into words, honouring double quotes.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The INPUT chain of the `filter` table in `iptables-save` output.
fn parse_iptables_save(out: &str, family: &str) -> Vec<InputChain> {
    let mut in_filter = false;
    let mut policy: Option<String> = None;
    let mut chains: HashMap<String, Vec<Rule>> = HashMap::new();
    for line in out.lines().map(str::trim) {
        if let Some(table) = line.strip_prefix('*') {
            in_filter = table == "filter";
            continue;
        }
        if !in_filter {
            continue;
        }
        if line == "COMMIT" {
            in_filter = false;
        } else if let Some(decl) = line.strip_prefix(':') {
            let mut w = decl.split_whitespace();
            if let (Some(name), Some(p)) = (w.next(), w.next()) {
                chains.entry(name.to_string()).or_default();
                if name == "INPUT" {
                    policy = Some(p.to_ascii_lowercase());
                }
            }
        } else if line.starts_with("-A ") {
            let w = words(line);
            let Some(chain) = w.get(1) else { continue };
            let mut rest: &[String] = &w[2..];
            let mut conditions = 0;
            let mut verdict = Verdict::Continue;
            while let Some((first, tail)) = rest.split_first() {
                match first.as_str() {
                    "-m" if tail.first().is_some_and(|m| m == "comment") => {
                        // `-m comment --comment TEXT`
                        rest = tail.get(3..).unwrap_or_default();
                        continue;
                    }
                    "-j" | "-g" => {
                        let target = tail.first().cloned().unwrap_or_default();
                        verdict = match target.as_str() {
                            "ACCEPT" => Verdict::Accept,
                            "DROP" => Verdict::Drop,
                            "REJECT" => Verdict::Reject,
                            "RETURN" => Verdict::Return,
                            t if first == "-g" => Verdict::Goto(t.to_string()),
                            t if chains.contains_key(t) => Verdict::Jump(t.to_string()),
                            _ => Verdict::Continue,
                        };
                        // Target options follow; nothing after them is a match.
                        break;
                    }
                    _ => conditions += 1,
                }
                rest = tail;
            }
            chains.entry(chain.clone()).or_default().push(Rule {
                unconditional: conditions == 0,
                verdict,
            });
        }
    }
    match policy {
        Some(p) => vec![input_chain(&chains, family, "filter", "INPUT", &p)],
        None => Vec::new(),
    }
}

// --- ufw -----------------------------------------------------------------------

const UFW_CONF: &str = "/etc/ufw/ufw.conf";
const UFW_DEFAULTS: &str = "/etc/default/ufw";

/// `KEY=value` assignments of a shell-style file, unquoted, with line numbers.
fn assignments(text: &str) -> HashMap<String, (String, usize)> {
    let mut out = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
            out.insert(k.trim().to_string(), (v, i + 1));
        }
    }
    out
}

fn ufw(root: &Path) -> FirewallBackend {
    let mut b = backend("ufw", "/etc/ufw/ufw.conf and /etc/default/ufw");
    b.installed = on_host(root, "/usr/sbin/ufw").exists() || on_host(root, UFW_CONF).exists();
    if !b.installed {
        return b;
    }
    let read = |p: &str| {
        std::fs::read(on_host(root, p))
            .map(|t| assignments(&String::from_utf8_lossy(&t)))
            .map_err(|e| io_error(&e, p))
    };
    let (conf, defaults) = match (read(UFW_CONF), read(UFW_DEFAULTS)) {
        (Ok(c), Ok(d)) => (c, d),
        (Err(e), _) | (_, Err(e)) => {
            b.error = Some(e);
            return b;
        }
    };
    let enabled = conf.get("ENABLED").map(|(v, _)| v.as_str());
    if enabled != Some("yes") {
        b.note = Some(format!(
            "ENABLED={} in {UFW_CONF}",
            enabled.unwrap_or("(unset)")
        ));
        return b;
    }
    b.active = true;
    let Some((policy, line)) = defaults.get("DEFAULT_INPUT_POLICY") else {
        b.error = Some(ProbeError::new(
            ProbeErrorKind::Unreadable,
            format!("no DEFAULT_INPUT_POLICY in {UFW_DEFAULTS}"),
        ));
        return b;
    };
    let policy = policy.to_ascii_lowercase();
    let ipv6 = defaults.get("IPV6").is_none_or(|(v, _)| v == "yes");
    let families: &[&str] = if ipv6 { &["ip", "ip6"] } else { &["ip"] };
    b.input_chains = families
        .iter()
        .map(|f| InputChain {
            family: (*f).to_string(),
            table: "ufw".to_string(),
            chain: "DEFAULT_INPUT_POLICY".to_string(),
            policy: policy.clone(),
            rules: 0,
            default_verdict: policy.clone(),
            default_from: format!("{UFW_DEFAULTS}:{line}"),
        })
        .collect();
    b
}

// --- firewalld -------------------------------------------------------------------

const FIREWALLD_CONF: &str = "/etc/firewalld/firewalld.conf";

fn firewalld(root: &Path, processes: &Result<Vec<ProcessEntry>, ProbeError>) -> FirewallBackend {
    let mut b = backend(
        "firewalld",
        "running firewalld and its default zone's target",
    );
    b.installed =
        on_host(root, "/usr/sbin/firewalld").exists() || on_host(root, FIREWALLD_CONF).exists();
    if !b.installed {
        return b;
    }
    let procs = match processes {
        Ok(list) => running(list, &["firewalld"]),
        Err(e) => {
            b.error = Some(e.clone());
            return b;
        }
    };
    let Some(pid) = procs.first().map(|p| p.pid) else {
        b.note = Some("installed but not running".to_string());
        return b;
    };
    b.active = true;
    let zone = match std::fs::read(on_host(root, FIREWALLD_CONF)) {
        Ok(t) => assignments(&String::from_utf8_lossy(&t))
            .get("DefaultZone")
            .map(|(v, _)| v.clone())
            .unwrap_or_else(|| "public".to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "public".to_string(),
        Err(e) => {
            b.error = Some(io_error(&e, FIREWALLD_CONF));
            return b;
        }
    };
    let candidates = [
        format!("/etc/firewalld/zones/{zone}.xml"),
        format!("/usr/lib/firewalld/zones/{zone}.xml"),
    ];
    let Some(file) = candidates.iter().find(|p| on_host(root, p).is_file()) else {
        b.error = Some(ProbeError::new(
            ProbeErrorKind::Unreadable,
            format!(
                "default zone {zone}: neither {} exists",
                candidates.join(" nor ")
            ),
        ));
        return b;
    };
    let text = match std::fs::read(on_host(root, file)) {
        Ok(t) => String::from_utf8_lossy(&t).into_owned(),
        Err(e) => {
            b.error = Some(io_error(&e, file));
            return b;
        }
    };
    let target = zone_target(&text).unwrap_or_else(|| "default".to_string());
    let verdict = match target.as_str() {
        "ACCEPT" => "accept",
        "DROP" => "drop",
        _ => "reject",
    };
    b.input_chains = vec![InputChain {
        family: "inet".to_string(),
        table: "firewalld".to_string(),
        chain: format!("zone {zone}"),
        policy: verdict.to_string(),
        rules: 0,
        default_verdict: verdict.to_string(),
        default_from: format!("target {target} in {file} (firewalld pid {pid})"),
    }];
    b
}

/// The `target` attribute of the `<zone>` element.
fn zone_target(xml: &str) -> Option<String> {
    let start = xml.find("<zone")?;
    let tag = &xml[start..start + xml[start..].find('>')?];
    let at = tag.find("target=")? + "target=".len();
    let quote = tag[at..].chars().next()?;
    let rest = &tag[at + 1..];
    Some(rest[..rest.find(quote)?].to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn splits_quoted_words() {
        assert_eq!(
            words(r#"-A INPUT -m comment --comment "allow \"ssh\" in" -j ACCEPT"#),
            vec![
                "-A",
                "INPUT",
                "-m",
                "comment",
                "--comment",
                "allow \"ssh\" in",
                "-j",
                "ACCEPT"
            ]
        );
    }

    #[test]
    fn reads_zone_targets() {
        assert_eq!(
            zone_target("<?xml version=\"1.0\"?>\n<zone target=\"DROP\">\n</zone>").as_deref(),
            Some("DROP")
        );
        assert_eq!(zone_target("<zone>\n<short>Public</short></zone>"), None);
    }
}
