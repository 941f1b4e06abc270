#![allow(clippy::unwrap_used)]
use super::*;
use crate::host::test_support::obs;

fn q(name: &str, category: Option<&str>, rcode: &str, answers: &[&str]) -> DnsQuery {
    DnsQuery {
        name: name.into(),
        category: category.map(Into::into),
        expect: if category.is_some() {
            Expect::Blocked
        } else {
            Expect::Allowed
        },
        rcode: Some(rcode.into()),
        answers: answers.iter().map(|s| s.to_string()).collect(),
        error: None,
    }
}

fn resolver(queries: Vec<DnsQuery>) -> WebfilterObservation {
    WebfilterObservation {
        resolvers: vec![ResolverProbe {
            address: "127.0.0.1:53".into(),
            sinkholes: vec!["0.0.0.0".into()],
            queries,
        }],
        proxies: vec![],
    }
}

fn eval(o: &WebfilterObservation) -> Vec<Finding> {
    (CANARIES_BLOCKED.evaluate)(&obs(SOURCE, o))
}

#[test]
fn dns_verdicts() {
    let s = vec!["0.0.0.0".to_string()];
    assert_eq!(
        dns_verdict(&q("a", None, "NXDOMAIN", &[]), &s),
        Verdict::Blocked
    );
    assert_eq!(
        dns_verdict(&q("a", None, "REFUSED", &[]), &s),
        Verdict::Blocked
    );
    assert_eq!(
        dns_verdict(&q("a", None, "NOERROR", &["0.0.0.0"]), &s),
        Verdict::Blocked
    );
    assert_eq!(
        dns_verdict(&q("a", None, "NOERROR", &["0.0.0.0", "1.2.3.4"]), &s),
        Verdict::GotThrough
    );
    assert_eq!(
        dns_verdict(&q("a", None, "NOERROR", &[]), &s),
        Verdict::NoAnswer
    );
    assert_eq!(
        dns_verdict(&q("a", None, "SERVFAIL", &[]), &s),
        Verdict::NoAnswer
    );
}

#[test]
fn blocked_canaries_pass() {
    let f = eval(&resolver(vec![
        q("bad.example", Some("malware"), "NXDOMAIN", &[]),
        q("casino.example", Some("gambling"), "NOERROR", &["0.0.0.0"]),
        q("good.example", None, "NOERROR", &["127.0.0.1"]),
    ]));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].status, Status::Pass, "{}", f[0].reason);
    assert_eq!(f[0].reason_code, ReasonCode::WebfilterCanariesBlocked);
    assert!(f[0].reason.contains("malware/bad.example → NXDOMAIN"));
}

#[test]
fn canary_that_resolves_fails_naming_it() {
    let f = eval(&resolver(vec![
        q("bad.example", Some("malware"), "NXDOMAIN", &[]),
        q("phish.example", Some("phishing"), "NOERROR", &["127.0.0.9"]),
        q("good.example", None, "NOERROR", &["127.0.0.1"]),
    ]));
    assert_eq!(f[0].status, Status::Fail);
    assert_eq!(f[0].reason_code, ReasonCode::WebfilterCanaryAllowed);
    assert!(
        f[0].reason.contains("phishing/phish.example"),
        "{}",
        f[0].reason
    );
    assert!(!f[0].reason.contains("bad.example"));
}

#[test]
fn resolver_failing_controls_is_error() {
    let mut c = q("good.example", None, "NOERROR", &[]);
    c.rcode = None;
    c.error = Some("no response within 2s".into());
    let f = eval(&resolver(vec![
        q("bad.example", Some("malware"), "NXDOMAIN", &[]),
        c,
    ]));
    assert_eq!(f[0].status, Status::Error);
    assert_eq!(f[0].reason_code, ReasonCode::WebfilterFilterBroken);
    assert!(f[0].reason.starts_with("resolver unreachable or broken"));
    // REFUSED for everything is not a pass either.
    let f = eval(&resolver(vec![
        q("bad.example", Some("malware"), "REFUSED", &[]),
        q("good.example", None, "REFUSED", &[]),
    ]));
    assert_eq!(f[0].status, Status::Error);
}

#[test]
fn canary_without_answer_is_error() {
    let f = eval(&resolver(vec![
        q("bad.example", Some("malware"), "SERVFAIL", &[]),
        q("good.example", None, "NOERROR", &["127.0.0.1"]),
    ]));
    assert_eq!(f[0].status, Status::Error);
    assert_eq!(f[0].reason_code, ReasonCode::WebfilterNoAnswer);
}

fn req(url: &str, category: Option<&str>, status: u16, marker: bool) -> HttpProbe {
    HttpProbe {
        url: url.into(),
        category: category.map(Into::into),
        expect: if category.is_some() {
            Expect::Blocked
        } else {
            Expect::Allowed
        },
        status: Some(status),
        marker_seen: marker,
        error: None,
    }
}

#[test]
fn proxy_verdicts_and_findings() {
    let proxy = |requests| WebfilterObservation {
        resolvers: vec![],
        proxies: vec![ProxyProbe {
            proxy: "127.0.0.1:3128".into(),
            block_marker: Some("Blocked by policy".into()),
            requests,
        }],
    };
    let f = eval(&proxy(vec![
        req("http://bad/", Some("malware"), 403, false),
        req("http://casino/", Some("gambling"), 200, true),
        req("http://ok/", None, 200, false),
    ]));
    assert_eq!(f[0].status, Status::Pass, "{}", f[0].reason);
    assert_eq!(f[0].resource_id, "proxy:127.0.0.1:3128");
    let f = eval(&proxy(vec![
        req("http://casino/", Some("gambling"), 200, false),
        req("http://ok/", None, 200, false),
    ]));
    assert_eq!(f[0].status, Status::Fail);
    assert!(f[0].reason.contains("gambling/http://casino/ → HTTP 200"));
    let f = eval(&proxy(vec![
        req("http://bad/", Some("malware"), 403, false),
        req("http://ok/", None, 502, false),
    ]));
    assert_eq!(f[0].status, Status::Error);
    assert!(f[0].reason.starts_with("proxy unreachable or broken"));
}

#[test]
fn nothing_configured_or_malformed_is_error() {
    let f = eval(&WebfilterObservation {
        resolvers: vec![],
        proxies: vec![],
    });
    assert_eq!(f[0].status, Status::Error);
    let bad = obs(SOURCE, &"x");
    assert_eq!(
        (CANARIES_BLOCKED.evaluate)(&bad)[0].reason_code,
        ReasonCode::ObservationMalformed
    );
}
