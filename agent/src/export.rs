//! Exports read from the ledger: an OSCAL Assessment Results document.
//!
//! OSCAL (NIST's Open Security Controls Assessment Language) lets GRC tools
//! import our results. One *observation* per finding record (what was seen,
//! when, on which subject, with links to the record and the observation it
//! was based on, each with its SHA-256), one *finding* per Annex A control
//! that has evidence (satisfied only when its implementation is passing).
//! UUIDs are version 5, derived from record ids, targets and control ids, so
//! the same ledger always exports the same document.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use evident_evidence::record::{format_time, FindingRecord};
use evident_policies::soa::{Implementation, SoaRow};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The OSCAL version the document declares.
pub const OSCAL_VERSION: &str = "1.1.2";

/// Namespace of evident's version 5 UUIDs.
const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6b1f_0c4e_2d4a_4f0e_9a57_3e1c_8d20_b7a1);

fn uuid5(kind: &str, name: &str) -> String {
    uuid::Uuid::new_v5(&NAMESPACE, format!("{kind}:{name}").as_bytes()).to_string()
}

fn control_token(id: &str) -> String {
    id.to_ascii_lowercase()
}

/// Where a pack keeps a record and an observation (relative paths).
pub fn record_href(record_id: &str) -> String {
    format!("records.jsonl#{record_id}")
}

/// Where a pack keeps an observation (relative path).
pub fn observation_href(digest: &str) -> String {
    format!("observations/{}.json", digest.trim_start_matches("sha256:"))
}

/// Build the document.
pub fn oscal_assessment_results(
    agent_id: &str,
    findings: &[FindingRecord],
    rows: &[SoaRow],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Value {
    let mut resources = Vec::new();
    let mut observations = Vec::new();
    let mut by_control: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut seen_digests = BTreeMap::new();
    for f in findings {
        let obs_uuid = uuid5("observation", &f.record_id);
        for c in &f.controls {
            by_control
                .entry(c.as_str())
                .or_default()
                .push(obs_uuid.clone());
        }
        let record_hash = hex::encode(Sha256::digest(f_canonical(f)));
        let record_res = uuid5("record", &f.record_id);
        resources.push(json!({
            "uuid": record_res,
            "title": format!("evidence record {}", f.record_id),
            "rlinks": [{
                "href": record_href(&f.record_id),
                "media-type": "application/json",
                "hashes": [{"algorithm": "SHA-256", "value": record_hash}],
            }],
        }));
        let obs_res = uuid5("observation-data", &f.observation_digest);
        if seen_digests
            .insert(f.observation_digest.clone(), ())
            .is_none()
        {
            let hex_digest = f.observation_digest.trim_start_matches("sha256:");
            resources.push(json!({
                "uuid": obs_res,
                "title": format!("observation {}", f.observation_digest),
                "rlinks": [{
                    "href": observation_href(&f.observation_digest),
                    "media-type": "application/json",
                    "hashes": [{"algorithm": "SHA-256", "value": hex_digest}],
                }],
            }));
        }
        let title = evident_policies::check(&f.check_id)
            .map_or(f.check_id.clone(), |c| c.meta.title.to_string());
        observations.push(json!({
            "uuid": obs_uuid,
            "title": format!("{title}: {}", f.resource_id),
            "description": f.reason,
            "props": [
                {"name": "check-id", "ns": "https://evident.invalid/ns", "value": f.check_id},
                {"name": "status", "ns": "https://evident.invalid/ns", "value": f.status.as_str()},
                {"name": "reason-code", "ns": "https://evident.invalid/ns", "value": f.reason_code},
            ],
            "methods": ["TEST"],
            "types": ["finding"],
            "subjects": [{
                "subject-uuid": uuid5("target", &format!("{:?}:{}", f.target.kind, f.target.id)),
                "type": "component",
                "title": format!("{} {}", json!(f.target.kind).as_str().unwrap_or("target"), f.target.id),
            }],
            "relevant-evidence": [
                {"href": format!("#{record_res}"), "description": format!("Signed evidence record {} ({}).", f.record_id, f.status)},
                {"href": format!("#{obs_res}"), "description": "What the collector observed (redacted), addressed by its SHA-256 digest."},
            ],
            "collected": format_time(f.observed_at),
        }));
    }
    let mut oscal_findings = Vec::new();
    let mut reviewed = Vec::new();
    for r in rows {
        let Some(related) = by_control.get(r.control.as_str()) else {
            continue;
        };
        reviewed.push(json!({"control-id": control_token(&r.control)}));
        let (state, reason) = match r.implementation {
            Implementation::Passing => ("satisfied", "pass"),
            Implementation::Failing => ("not-satisfied", "fail"),
            _ => ("not-satisfied", "other"),
        };
        oscal_findings.push(json!({
            "uuid": uuid5("finding", &r.control),
            "title": format!("{} {}", r.control, r.title),
            "description": format!(
                "Implementation status from the latest evidence: {}.",
                r.implementation.as_str()
            ),
            "target": {
                "type": "objective-id",
                "target-id": format!("{}_obj", control_token(&r.control)),
                "status": {"state": state, "reason": reason, "remarks": r.implementation.as_str()},
            },
            "related-observations": related.iter().map(|u| json!({"observation-uuid": u})).collect::<Vec<_>>(),
        }));
    }
    let mut result = json!({
        "uuid": uuid5("result", &format!("{agent_id}:{}:{}", format_time(start), format_time(end))),
        "title": format!("evident results for {agent_id}"),
        "description": format!(
            "Automated checks of ISO/IEC 27001:2022 Annex A controls recorded by evident agent {agent_id} between {} and {}.",
            format_time(start),
            format_time(end)
        ),
        "start": format_time(start),
        "end": format_time(end),
        "reviewed-controls": {"control-selections": [if reviewed.is_empty() {
            json!({"include-all": {}})
        } else {
            json!({"include-controls": reviewed})
        }]},
    });
    if let Some(obj) = result.as_object_mut() {
        if !observations.is_empty() {
            obj.insert("observations".into(), Value::Array(observations));
        }
        if !oscal_findings.is_empty() {
            obj.insert("findings".into(), Value::Array(oscal_findings));
        }
    }
    let mut doc = json!({
        "uuid": uuid5("assessment-results", &format!("{agent_id}:{}:{}", format_time(start), format_time(end))),
        "metadata": {
            "title": format!("ISO/IEC 27001:2022 evidence from {agent_id}"),
            "last-modified": format_time(end),
            "version": env!("CARGO_PKG_VERSION"),
            "oscal-version": OSCAL_VERSION,
        },
        "import-ap": {"href": "#evident-checks"},
        "results": [result],
    });
    if !resources.is_empty() {
        if let Some(obj) = doc.as_object_mut() {
            obj.insert("back-matter".into(), json!({"resources": resources}));
        }
    }
    json!({"assessment-results": doc})
}

fn f_canonical(f: &FindingRecord) -> Vec<u8> {
    evident_evidence::record::Record::Finding(f.clone()).to_canonical()
}

/// Column names of the SoA in tabular exports.
pub const SOA_COLUMNS: [&str; 8] = [
    "control",
    "theme",
    "title",
    "applicable",
    "justification",
    "implementation",
    "last_evidence",
    "records",
];

/// One SoA row as the cells of [`SOA_COLUMNS`].
pub fn soa_cells(r: &SoaRow) -> [String; 8] {
    [
        r.control.clone(),
        r.theme.to_string(),
        r.title.clone(),
        match r.applicable {
            Some(true) => "yes".into(),
            Some(false) => "no".into(),
            None => "undecided".into(),
        },
        r.justification.clone().unwrap_or_default(),
        r.implementation.as_str().into(),
        r.last_evidence_at.map(format_time).unwrap_or_default(),
        r.record_ids.join(" "),
    ]
}

/// The SoA as an Excel workbook (one sheet, header frozen, filters on).
pub fn soa_xlsx(
    rows: &[SoaRow],
    agent_id: &str,
    at: DateTime<Utc>,
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let wrap = Format::new().set_text_wrap();
    let sheet = book.add_worksheet();
    sheet.set_name("Statement of Applicability")?;
    for (c, name) in SOA_COLUMNS.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *name, &bold)?;
    }
    for (i, r) in rows.iter().enumerate() {
        for (c, cell) in soa_cells(r).iter().enumerate() {
            // Strings only: a cell never becomes a formula.
            sheet.write_string_with_format(i as u32 + 1, c as u16, cell, &wrap)?;
        }
    }
    for (c, width) in [9, 15, 45, 11, 60, 15, 21, 40].iter().enumerate() {
        sheet.set_column_width(c as u16, *width)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofilter(0, 0, rows.len() as u32, SOA_COLUMNS.len() as u16 - 1)?;
    book.set_properties(
        &rust_xlsxwriter::DocProperties::new()
            .set_title("Statement of Applicability (ISO/IEC 27001:2022)")
            .set_author(agent_id)
            .set_comment(format!("generated by evident at {}", format_time(at)))
            // The SoA's own date, not the wall clock: the same pack gives
            // the same bytes.
            .set_creation_datetime(&rust_xlsxwriter::ExcelDateTime::from_timestamp(
                at.timestamp(),
            )?),
    );
    book.save_to_buffer()
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The SoA as one self-contained HTML page (inline style, no script, no
/// external resource).
pub fn soa_html(rows: &[SoaRow], agent_id: &str, at: DateTime<Utc>) -> String {
    let mut body = String::new();
    for r in rows {
        let cells = soa_cells(r);
        body.push_str(&format!("<tr class=\"{}\">", html_escape(&cells[5])));
        for c in &cells {
            body.push_str(&format!("<td>{}</td>", html_escape(c)));
        }
        body.push_str("</tr>\n");
    }
    let head: String = SOA_COLUMNS
        .iter()
        .map(|c| format!("<th>{}</th>", html_escape(c)))
        .collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>Statement of Applicability: {agent}</title>\n\
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:.85em}}th,td{{border:1px solid #ccc;padding:.3em .5em;vertical-align:top}}\
th{{background:#eee;position:sticky;top:0}}tr.failing td,tr.error td{{background:#fde2e2}}tr.stale td,tr.accepted td{{background:#fff4d6}}tr.passing td{{background:#e6f5e6}}</style>\n\
</head><body>\n<h1>Statement of Applicability</h1>\n<p>ISO/IEC 27001:2022 Annex A, {n} controls. Agent <code>{agent}</code>, as of {at}. Generated by evident {version} from its signed evidence ledger.</p>\n\
<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody></table>\n</body></html>\n",
        agent = html_escape(agent_id),
        n = rows.len(),
        at = format_time(at),
        version = env!("CARGO_PKG_VERSION"),
    )
}
