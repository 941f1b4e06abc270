//! The record fast paths: a direct canonical encoder and a one-pass parser.
//!
//! Verifying a ledger parses every record and re-encodes it to check that its
//! stored bytes are canonical. The generic paths (the derived `Deserialize`
//! of the internally tagged [`Record`], which buffers every field before it
//! can look at `record_type`, and [`crate::canonical::to_canonical`], which
//! goes through a `serde_json::Value` and sorts keys at run time) dominate
//! that cost. These functions produce the same results; the tests below
//! check them against the generic paths on arbitrary records.

use chrono::{DateTime, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use crate::record::{
    format_time, FindingRecord, KeyRotationRecord, Record, Severity, SoaDecisionRecord, Status,
    Target, TargetKind,
};

/// Append `s` as a JSON string, escaped exactly as `serde_json` escapes it.
fn write_str(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Writes `{"k":v,...}` with the keys given in sorted order by the caller.
struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    fn new(out: &'a mut Vec<u8>) -> Obj<'a> {
        out.push(b'{');
        Obj { out, first: true }
    }
    fn key(&mut self, k: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }
    fn str(&mut self, k: &str, v: &str) {
        write_str(v, self.key(k));
    }
    fn opt_str(&mut self, k: &str, v: Option<&str>) {
        match v {
            Some(v) => self.str(k, v),
            None => self.key(k).extend_from_slice(b"null"),
        }
    }
    fn num(&mut self, k: &str, v: u32) {
        let out = self.key(k);
        out.extend_from_slice(v.to_string().as_bytes());
    }
    fn time(&mut self, k: &str, t: DateTime<Utc>) {
        let out = self.key(k);
        out.push(b'"');
        write_time(t, out);
        out.push(b'"');
    }
    fn end(self) {
        self.out.push(b'}');
    }
}

/// Append `t` as [`format_time`] writes it, without its formatting machinery.
pub(crate) fn write_time(t: DateTime<Utc>, out: &mut Vec<u8>) {
    use chrono::{Datelike, Timelike};
    let year = t.year();
    if !(0..=9999).contains(&year) {
        out.extend_from_slice(format_time(t).as_bytes());
        return;
    }
    let two = |v: u32, out: &mut Vec<u8>| {
        out.push(b'0' + (v / 10) as u8);
        out.push(b'0' + (v % 10) as u8);
    };
    let y = year as u32;
    two(y / 100, out);
    two(y % 100, out);
    out.push(b'-');
    two(t.month(), out);
    out.push(b'-');
    two(t.day(), out);
    out.push(b'T');
    two(t.hour(), out);
    out.push(b':');
    two(t.minute(), out);
    out.push(b':');
    // A leap second is stored as nanoseconds >= 1e9 at second 59.
    two(t.second() + u32::from(t.nanosecond() >= 1_000_000_000), out);
    out.push(b'Z');
}

fn severity_str(s: Severity) -> &'static str {
    s.as_str()
}

fn kind_str(k: TargetKind) -> &'static str {
    match k {
        TargetKind::Host => "host",
        TargetKind::Account => "account",
        TargetKind::Organisation => "organisation",
        TargetKind::Service => "service",
    }
}

/// Append the canonical JSON of `r` (keys in byte order, no whitespace).
pub(crate) fn write_record(r: &Record, out: &mut Vec<u8>) {
    match r {
        Record::Finding(f) => {
            let mut o = Obj::new(out);
            o.str("agent_id", &f.agent_id);
            o.str("check_id", &f.check_id);
            {
                let out = o.key("controls");
                out.push(b'[');
                for (i, c) in f.controls.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_str(c, out);
                }
                out.push(b']');
            }
            o.str("framework", &f.framework);
            o.str("observation_digest", &f.observation_digest);
            o.time("observed_at", f.observed_at);
            o.str("reason", &f.reason);
            o.str("reason_code", &f.reason_code);
            o.str("record_id", &f.record_id);
            o.str("record_type", "finding");
            o.time("recorded_at", f.recorded_at);
            o.str("resource_id", &f.resource_id);
            o.str("run_id", &f.run_id);
            o.num("schema_version", f.schema_version);
            o.str("severity", severity_str(f.severity));
            o.str("status", f.status.as_str());
            {
                let out = o.key("target");
                let mut t = Obj::new(out);
                t.str("id", &f.target.id);
                t.str("kind", kind_str(f.target.kind));
                t.end();
            }
            o.str("tool_version", &f.tool_version);
            o.end();
        }
        Record::SoaDecision(s) => {
            let mut o = Obj::new(out);
            o.str("agent_id", &s.agent_id);
            match s.applicable {
                Some(true) => o.key("applicable").extend_from_slice(b"true"),
                Some(false) => o.key("applicable").extend_from_slice(b"false"),
                None => o.key("applicable").extend_from_slice(b"null"),
            }
            o.str("control", &s.control);
            o.str("framework", &s.framework);
            o.opt_str("justification", s.justification.as_deref());
            o.str("record_id", &s.record_id);
            o.str("record_type", "soa_decision");
            o.time("recorded_at", s.recorded_at);
            o.str("run_id", &s.run_id);
            o.num("schema_version", s.schema_version);
            o.str("tool_version", &s.tool_version);
            o.end();
        }
        Record::KeyRotation(k) => {
            let mut o = Obj::new(out);
            o.str("agent_id", &k.agent_id);
            o.str("new_key_id", &k.new_key_id);
            o.str("new_public_key_pem", &k.new_public_key_pem);
            o.str("previous_key_id", &k.previous_key_id);
            o.str("record_id", &k.record_id);
            o.str("record_type", "key_rotation");
            o.time("recorded_at", k.recorded_at);
            o.str("run_id", &k.run_id);
            o.num("schema_version", k.schema_version);
            o.str("tool_version", &k.tool_version);
            o.end();
        }
        Record::Attestation(_) => {
            // Not reached: Record::to_canonical encodes attestations generically.
            out.extend_from_slice(&crate::canonical::to_canonical(r));
        }
    }
}

/// `Some(value)` when the member is present (even as `null`), `None` when absent.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Every member any record type has; which ones are allowed is decided by
/// `record_type` afterwards.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnyRecord {
    record_type: Option<String>,
    schema_version: Option<u32>,
    record_id: Option<String>,
    run_id: Option<String>,
    agent_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    framework: Option<Option<String>>,
    recorded_at: Option<String>,
    tool_version: Option<String>,
    // finding
    #[serde(default, deserialize_with = "present")]
    controls: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    check_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    severity: Option<Option<Severity>>,
    #[serde(default, deserialize_with = "present")]
    target: Option<Option<Target>>,
    #[serde(default, deserialize_with = "present")]
    resource_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    status: Option<Option<Status>>,
    #[serde(default, deserialize_with = "present")]
    reason_code: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    reason: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    observed_at: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    observation_digest: Option<Option<String>>,
    // soa_decision
    #[serde(default, deserialize_with = "present")]
    control: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    applicable: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    justification: Option<Option<String>>,
    // key_rotation
    #[serde(default, deserialize_with = "present")]
    previous_key_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    new_key_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    new_public_key_pem: Option<Option<String>>,
}

fn time(s: String) -> Result<DateTime<Utc>, serde_json::Error> {
    // Fast path for the one form records are written in,
    // `YYYY-MM-DDTHH:MM:SSZ`; anything else goes to the full parser, which
    // also decides what this path declines (leap seconds, bad dates).
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    if b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
    {
        if let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(se)) = (
            digits(0..4),
            digits(5..7),
            digits(8..10),
            digits(11..13),
            digits(14..16),
            digits(17..19),
        ) {
            if let Some(t) = chrono::NaiveDate::from_ymd_opt(y as i32, mo, d)
                .and_then(|date| date.and_hms_opt(h, mi, se))
            {
                return Ok(t.and_utc());
            }
        }
    }
    DateTime::parse_from_rfc3339(&s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(serde_json::Error::custom)
}

/// Parse one record in a single pass (see the module docs).
pub(crate) fn parse_record(bytes: &[u8]) -> Result<Record, serde_json::Error> {
    let a: AnyRecord = serde_json::from_slice(bytes)?;
    macro_rules! req {
        ($f:ident) => {
            a.$f.ok_or_else(|| serde_json::Error::missing_field(stringify!($f)))?
        };
    }
    macro_rules! req2 {
        ($f:ident) => {
            a.$f.flatten()
                .ok_or_else(|| serde_json::Error::missing_field(stringify!($f)))?
        };
    }
    macro_rules! forbid {
        ($($f:ident),*) => {
            $(if a.$f.is_some() {
                return Err(serde_json::Error::unknown_field(stringify!($f), &[]));
            })*
        };
    }
    let record_type = req!(record_type);
    match record_type.as_str() {
        "finding" => {
            forbid!(
                control,
                applicable,
                justification,
                previous_key_id,
                new_key_id,
                new_public_key_pem
            );
            Ok(Record::Finding(FindingRecord {
                schema_version: req!(schema_version),
                record_id: req!(record_id),
                run_id: req!(run_id),
                agent_id: req!(agent_id),
                framework: req2!(framework),
                controls: req2!(controls),
                check_id: req2!(check_id),
                severity: req2!(severity),
                target: req2!(target),
                resource_id: req2!(resource_id),
                status: req2!(status),
                reason_code: req2!(reason_code),
                reason: req2!(reason),
                observed_at: time(req2!(observed_at))?,
                recorded_at: time(req!(recorded_at))?,
                tool_version: req!(tool_version),
                observation_digest: req2!(observation_digest),
            }))
        }
        "soa_decision" => {
            forbid!(
                controls,
                check_id,
                severity,
                target,
                resource_id,
                status,
                reason_code,
                reason,
                observed_at,
                observation_digest,
                previous_key_id,
                new_key_id,
                new_public_key_pem
            );
            Ok(Record::SoaDecision(SoaDecisionRecord {
                schema_version: req!(schema_version),
                record_id: req!(record_id),
                run_id: req!(run_id),
                agent_id: req!(agent_id),
                framework: req2!(framework),
                control: req2!(control),
                applicable: a.applicable.flatten(),
                justification: a.justification.flatten(),
                recorded_at: time(req!(recorded_at))?,
                tool_version: req!(tool_version),
            }))
        }
        "key_rotation" => {
            forbid!(
                framework,
                controls,
                check_id,
                severity,
                target,
                resource_id,
                status,
                reason_code,
                reason,
                observed_at,
                observation_digest,
                control,
                applicable,
                justification
            );
            Ok(Record::KeyRotation(KeyRotationRecord {
                schema_version: req!(schema_version),
                record_id: req!(record_id),
                run_id: req!(run_id),
                agent_id: req!(agent_id),
                previous_key_id: req2!(previous_key_id),
                new_key_id: req2!(new_key_id),
                new_public_key_pem: req2!(new_public_key_pem),
                recorded_at: time(req!(recorded_at))?,
                tool_version: req!(tool_version),
            }))
        }
        other => Err(serde_json::Error::unknown_variant(
            other,
            &["finding", "soa_decision", "key_rotation"],
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::to_canonical;
    use crate::record::SCHEMA_VERSION;
    use chrono::TimeZone;
    use proptest::prelude::*;

    /// Strings with quotes, backslashes, control characters, DEL and non-ASCII.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9_.:-]{0,12}",
            "[\\x00-\\x1f\"\\\\\\x7f é€😀a]{0,12}",
            any::<String>(),
        ]
    }

    fn when() -> impl Strategy<Value = DateTime<Utc>> {
        (0i64..4_000_000_000).prop_map(|s| Utc.timestamp_opt(s, 0).single().expect("in range"))
    }

    fn record() -> impl Strategy<Value = Record> {
        let severity = prop_oneof![
            Just(Severity::Info),
            Just(Severity::Low),
            Just(Severity::Medium),
            Just(Severity::High),
            Just(Severity::Critical)
        ];
        let status = prop_oneof![
            Just(Status::Pass),
            Just(Status::Fail),
            Just(Status::Error),
            Just(Status::NotApplicable)
        ];
        let kind = prop_oneof![
            Just(TargetKind::Host),
            Just(TargetKind::Account),
            Just(TargetKind::Organisation),
            Just(TargetKind::Service)
        ];
        let finding = (
            (text(), text(), text(), text(), any::<u32>()),
            (prop::collection::vec(text(), 0..3), text(), severity, kind),
            (text(), text(), status, text(), text()),
            (when(), when(), text(), text()),
        )
            .prop_map(
                |(
                    (record_id, run_id, agent_id, framework, schema_version),
                    (controls, check_id, severity, kind),
                    (resource_id, reason_code, status, reason, tool_version),
                    (observed_at, recorded_at, observation_digest, target_id),
                )| {
                    Record::Finding(FindingRecord {
                        schema_version,
                        record_id,
                        run_id,
                        agent_id,
                        framework,
                        controls,
                        check_id,
                        severity,
                        target: Target {
                            kind,
                            id: target_id,
                        },
                        resource_id,
                        status,
                        reason_code,
                        reason,
                        observed_at,
                        recorded_at,
                        tool_version,
                        observation_digest,
                    })
                },
            );
        let soa = (
            (text(), text(), text(), text(), any::<u32>()),
            (text(), any::<Option<bool>>(), prop::option::of(text())),
            (when(), text()),
        )
            .prop_map(
                |(
                    (record_id, run_id, agent_id, framework, schema_version),
                    (control, applicable, justification),
                    (recorded_at, tool_version),
                )| {
                    Record::SoaDecision(SoaDecisionRecord {
                        schema_version,
                        record_id,
                        run_id,
                        agent_id,
                        framework,
                        control,
                        applicable,
                        justification,
                        recorded_at,
                        tool_version,
                    })
                },
            );
        let rotation = (
            (text(), text(), text(), any::<u32>()),
            (text(), text(), text()),
            (when(), text()),
        )
            .prop_map(
                |(
                    (record_id, run_id, agent_id, schema_version),
                    (previous_key_id, new_key_id, new_public_key_pem),
                    (recorded_at, tool_version),
                )| {
                    Record::KeyRotation(KeyRotationRecord {
                        schema_version,
                        record_id,
                        run_id,
                        agent_id,
                        previous_key_id,
                        new_key_id,
                        new_public_key_pem,
                        recorded_at,
                        tool_version,
                    })
                },
            );
        prop_oneof![finding, soa, rotation]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn direct_encoder_matches_the_generic_one(r in record()) {
            let fast = r.to_canonical();
            prop_assert_eq!(&fast, &to_canonical(&r));
            let parsed = Record::from_bytes(&fast).expect("parses");
            prop_assert_eq!(&parsed, &r);
            let derived: Record = serde_json::from_slice(&fast).expect("derived parses");
            prop_assert_eq!(derived, r);
        }

        /// Whatever the one-pass parser accepts, the derived one accepts with
        /// the same result, and the other way round.
        #[test]
        fn one_pass_parser_accepts_what_the_derived_one_does(
            r in record(),
            edit in 0usize..6,
            key in prop::sample::select(vec![
                "record_type", "schema_version", "control", "applicable", "justification",
                "controls", "target", "new_key_id", "observed_at", "framework", "bogus",
            ]),
        ) {
            let mut v: serde_json::Value = serde_json::from_slice(&r.to_canonical()).expect("json");
            let obj = v.as_object_mut().expect("object");
            match edit {
                0 => { obj.remove(key); }
                1 => { obj.insert(key.into(), serde_json::Value::Null); }
                2 => { obj.insert(key.into(), "x".into()); }
                3 => { obj.insert(key.into(), serde_json::json!(7)); }
                4 => { obj.insert(key.into(), serde_json::json!(["A.5.1"])); }
                _ => { obj.insert(key.into(), serde_json::json!({"kind": "host", "id": "h"})); }
            }
            let bytes = serde_json::to_vec(&v).expect("bytes");
            let fast = Record::from_bytes(&bytes).ok();
            let derived = serde_json::from_slice::<Record>(&bytes).ok();
            prop_assert_eq!(fast, derived, "{}", String::from_utf8_lossy(&bytes));
        }
    }

    proptest! {
        #[test]
        fn time_paths_match_chrono(secs in -70_000_000_000i64..300_000_000_000, nanos in 0u32..2_000_000_000) {
            if let Some(t) = Utc.timestamp_opt(secs, nanos).single() {
                let t = chrono::SubsecRound::trunc_subsecs(t, 0);
                let mut out = Vec::new();
                write_time(t, &mut out);
                prop_assert_eq!(String::from_utf8(out).expect("ascii"), format_time(t));
                let text = format_time(t);
                let chrono_parse = DateTime::parse_from_rfc3339(&text).map(|x| x.with_timezone(&Utc)).ok();
                prop_assert_eq!(time(text).ok(), chrono_parse);
            }
        }

        #[test]
        fn time_parse_matches_chrono_on_near_misses(
            y in 0u32..10000, mo in 0u32..14, d in 0u32..33, h in 0u32..26, mi in 0u32..62, se in 0u32..62,
            sep in prop::sample::select(vec!['T', 't', ' ']), z in prop::sample::select(vec!["Z", "z", "+00:00", "+01:00"]),
        ) {
            let text = format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{se:02}{z}");
            let chrono_parse = DateTime::parse_from_rfc3339(&text).map(|x| x.with_timezone(&Utc)).ok();
            prop_assert_eq!(time(text.clone()).ok(), chrono_parse, "{}", text);
        }
    }

    #[test]
    fn escapes_like_serde_json() {
        for s in ["", "a\"b\\c", "\u{0}\u{1f}\u{7f}\n\r\t\u{8}\u{c}", "é😀"] {
            let mut out = Vec::new();
            write_str(s, &mut out);
            assert_eq!(out, serde_json::to_vec(s).expect("json"));
        }
        assert_eq!(SCHEMA_VERSION, 1);
    }
}
