//! SARIF 2.1.0 output.

use serde_json::{json, Value};

use crate::engine::Scanner;
use crate::rules::RuleSeverity;
use crate::ScanReport;

/// The SARIF 2.1.0 log of a scan.
pub fn to_sarif(report: &ScanReport, scanner: &Scanner, tool_version: &str) -> Value {
    let rules: Vec<&crate::rules::Rule> = scanner.rules().collect();
    let descriptors: Vec<Value> = rules
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.id,
                "shortDescription": { "text": r.description },
                "defaultConfiguration": { "level": level(r.severity) },
                "properties": {
                    "class": r.class.as_str(),
                    "severity": r.severity.as_str(),
                    "tags": [r.class.as_str(), "A.8.12"],
                },
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let index = rules.iter().position(|r| r.id == f.rule_id);
            let what = match &f.commit {
                Some(c) => format!("{} in git history (commit {c})", f.rule_id),
                None => f.rule_id.clone(),
            };
            let mut result = json!({
                "ruleId": f.rule_id,
                "level": level(f.severity),
                "message": { "text": format!("{what}: value {} (redacted)", f.preview) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&f.root, &f.path) },
                        "region": { "startLine": f.line },
                    },
                }],
                "partialFingerprints": { "evidentValueHmac/v1": f.fingerprint },
                "properties": {
                    "root": f.root,
                    "class": f.class.as_str(),
                    "preview": f.preview,
                },
            });
            if let Some(i) = index {
                result["ruleIndex"] = json!(i);
            }
            if let Some(c) = &f.commit {
                result["properties"]["commit"] = json!(c);
            }
            result
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "evident",
                "version": tool_version,
                "informationUri": "https://example.invalid/evident",
                "rules": descriptors,
            }},
            "results": results,
            "invocations": [{
                "executionSuccessful": report.errors.is_empty(),
                "toolExecutionNotifications": report.errors.iter().map(|e| json!({
                    "level": "error",
                    "message": { "text": format!("{}: {}", e.path, e.message) },
                })).collect::<Vec<_>>(),
            }],
        }],
    })
}

fn level(s: RuleSeverity) -> &'static str {
    match s {
        RuleSeverity::Low => "note",
        RuleSeverity::Medium => "warning",
        _ => "error",
    }
}

/// A URI for a path under a root: `file:///…` when absolute, else a
/// relative reference (percent-encoding what URIs forbid).
/// A root with a scheme (`s3://bucket`) is kept as it is and the path (an
/// object key) appended after a `/`.
fn uri(root: &str, path: &str) -> String {
    let (mut out, full) = match root.split_once("://") {
        Some((scheme, _))
            if !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            let mut out = String::with_capacity(root.len() + path.len() + 8);
            out.push_str(root.trim_end_matches('/'));
            out.push('/');
            (out, path.to_string())
        }
        _ => {
            let full = std::path::Path::new(root).join(path);
            let full = full.to_string_lossy().into_owned();
            let mut out = String::with_capacity(full.len() + 8);
            if full.starts_with('/') {
                out.push_str("file://");
            }
            (out, full)
        }
    };
    for b in full.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
