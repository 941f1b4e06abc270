//! The evidence record, format v1.
//!
//! A record is one leaf of the ledger. It is stored as canonical JSON (see
//! [`crate::canonical`]); the exact bytes stored are the bytes hashed into the
//! Merkle tree. `docs/evidence-format.md` is the normative description.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// The schema version written into every record of this format.
pub const SCHEMA_VERSION: u32 = 1;

/// The framework identifier written into every record.
pub const FRAMEWORK: &str = "iso27001:2022";

/// Outcome of one check on one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Status {
    /// The control measure is in place on this resource.
    Pass,
    /// The control measure is not in place on this resource.
    Fail,
    /// The check could not decide (unreadable state, denied access, bad data).
    Error,
    /// The check does not apply to this resource (for example no sshd installed).
    NotApplicable,
}

impl Status {
    /// The lower-case name used in records and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Error => "error",
            Status::NotApplicable => "not_applicable",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Severity of a check, from its metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Severity {
    /// Informational.
    Info,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// The lower-case name used in records and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// What kind of thing a target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TargetKind {
    /// A host (machine, VM, container).
    Host,
    /// A cloud account.
    Account,
    /// A source-code organisation.
    Organisation,
    /// Any other system (backup repository, resolver, proxy, share).
    Service,
}

/// The system a collector talked to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Kind of target.
    pub kind: TargetKind,
    /// Stable identifier (hostname, account id, organisation login).
    pub id: String,
}

/// Timestamps in records are UTC, RFC 3339, whole seconds, `Z` suffix.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// One finding: one check evaluated on one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingRecord {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Unique id of this record.
    pub record_id: String,
    /// Id of the collection run that produced it.
    pub run_id: String,
    /// Id of the agent that recorded it.
    pub agent_id: String,
    /// Always [`FRAMEWORK`].
    pub framework: String,
    /// Annex A control ids evidenced, as `A.8.5`.
    pub controls: Vec<String>,
    /// Id of the check (`<area>_<resource>_<expected_state>`).
    pub check_id: String,
    /// Severity of the check.
    pub severity: Severity,
    /// The system the collector talked to.
    pub target: Target,
    /// The resource within the target the finding is about.
    pub resource_id: String,
    /// Outcome.
    pub status: Status,
    /// Stable machine-readable reason code.
    pub reason_code: String,
    /// Human-readable reason.
    pub reason: String,
    /// When the collector observed the state.
    #[serde(with = "rfc3339")]
    pub observed_at: DateTime<Utc>,
    /// When the record was appended.
    #[serde(with = "rfc3339")]
    pub recorded_at: DateTime<Utc>,
    /// `evident <version>`.
    pub tool_version: String,
    /// `sha256:<hex>` of the canonical observation the finding was based on.
    pub observation_digest: String,
}

/// One Statement of Applicability decision for one control, recorded when it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoaDecisionRecord {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Unique id of this record.
    pub record_id: String,
    /// Id of the run during which the change was noticed.
    pub run_id: String,
    /// Id of the agent that recorded it.
    pub agent_id: String,
    /// Always [`FRAMEWORK`].
    pub framework: String,
    /// The control, as `A.5.1`.
    pub control: String,
    /// `Some(true)` applicable, `Some(false)` excluded, `None` no decision.
    pub applicable: Option<bool>,
    /// Justification for inclusion or exclusion, if any.
    pub justification: Option<String>,
    /// When the record was appended (the decision is in force from then on).
    #[serde(with = "rfc3339")]
    pub recorded_at: DateTime<Utc>,
    /// `evident <version>`.
    pub tool_version: String,
}

/// A signing-key rotation: the agent's key `previous_key_id` hands over to
/// `new_key_id`. The record is signed by the old key through the checkpoint
/// that covers it (the run that appends it is signed by the old key); every
/// later checkpoint is signed by the new key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRotationRecord {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Unique id of this record.
    pub record_id: String,
    /// Id of the run that appended it.
    pub run_id: String,
    /// Id of the agent whose key rotates.
    pub agent_id: String,
    /// Key id of the key being retired (the one signing this record's checkpoint).
    pub previous_key_id: String,
    /// Key id of the new key (SHA-256 of its DER SubjectPublicKeyInfo).
    pub new_key_id: String,
    /// The new public key, canonical PEM.
    pub new_public_key_pem: String,
    /// When the record was appended.
    #[serde(with = "rfc3339")]
    pub recorded_at: DateTime<Utc>,
    /// `evident <version>`.
    pub tool_version: String,
}

/// A file attached to an attestation: named and hashed (the bytes are kept
/// outside the record, optionally as a copy in the data directory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachedFile {
    /// File name (no directories).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// `sha256:<hex>` of the file's bytes.
    pub sha256: String,
    /// Whether a copy is kept in the data directory (`attachments/<hex>`).
    pub stored: bool,
}

/// What an attestation attests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AttestationKind {
    /// Manual evidence that a control is in place (training records, a
    /// signed policy, an incident report), valid until it expires.
    Evidence,
    /// Acceptance of a known failure (of a check, or of a control) by an
    /// approver, until it expires. Accepted is not passing.
    RiskAcceptance,
}

/// Manual evidence or a risk acceptance, recorded and signed like any record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationRecord {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Unique id of this record.
    pub record_id: String,
    /// Id of the run (the `evident attest` invocation) that recorded it.
    pub run_id: String,
    /// Id of the agent that recorded it.
    pub agent_id: String,
    /// Always [`FRAMEWORK`].
    pub framework: String,
    /// Evidence or risk acceptance.
    pub kind: AttestationKind,
    /// The control concerned, as `A.6.3`.
    pub control: Option<String>,
    /// For a risk acceptance of one check's failures: the check id.
    pub check_id: Option<String>,
    /// The attached file, if any.
    pub file: Option<AttachedFile>,
    /// What is attested, or the justification of the acceptance.
    pub note: String,
    /// Who attests or approves.
    pub attested_by: String,
    /// When it stops counting.
    #[serde(with = "rfc3339")]
    pub expires_at: DateTime<Utc>,
    /// When the record was appended.
    #[serde(with = "rfc3339")]
    pub recorded_at: DateTime<Utc>,
    /// `evident <version>`.
    pub tool_version: String,
}

/// How an attestation's canonical bytes name their type.
const ATTESTATION_TAG: &[u8] = b"\"record_type\":\"attestation\"";

/// Any leaf of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record_type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Record {
    /// A check result.
    Finding(FindingRecord),
    /// A SoA decision.
    SoaDecision(SoaDecisionRecord),
    /// A signing-key rotation.
    KeyRotation(KeyRotationRecord),
    /// Manual evidence or a risk acceptance.
    Attestation(AttestationRecord),
}

impl Record {
    /// The record's id.
    pub fn record_id(&self) -> &str {
        match self {
            Record::Finding(r) => &r.record_id,
            Record::SoaDecision(r) => &r.record_id,
            Record::KeyRotation(r) => &r.record_id,
            Record::Attestation(r) => &r.record_id,
        }
    }

    /// The record's schema version.
    pub fn schema_version(&self) -> u32 {
        match self {
            Record::Finding(r) => r.schema_version,
            Record::SoaDecision(r) => r.schema_version,
            Record::KeyRotation(r) => r.schema_version,
            Record::Attestation(r) => r.schema_version,
        }
    }

    /// The `record_type` member of the record.
    pub fn record_type(&self) -> &'static str {
        match self {
            Record::Finding(_) => "finding",
            Record::SoaDecision(_) => "soa_decision",
            Record::KeyRotation(_) => "key_rotation",
            Record::Attestation(_) => "attestation",
        }
    }

    /// When the record was appended.
    pub fn recorded_at(&self) -> DateTime<Utc> {
        match self {
            Record::Finding(r) => r.recorded_at,
            Record::SoaDecision(r) => r.recorded_at,
            Record::KeyRotation(r) => r.recorded_at,
            Record::Attestation(r) => r.recorded_at,
        }
    }

    /// The canonical JSON bytes of this record (what is hashed into the ledger).
    ///
    /// Written directly, field by field in sorted key order, without the
    /// generic [`crate::canonical::to_canonical`] (which goes through a
    /// `serde_json::Value`); a property test checks both agree.
    pub fn to_canonical(&self) -> Vec<u8> {
        if let Record::Attestation(_) = self {
            // Rare records: the generic encoder (same canonical form).
            return crate::canonical::to_canonical(self);
        }
        let mut out = Vec::with_capacity(512);
        crate::fast::write_record(self, &mut out);
        out
    }

    /// Parse a record from its stored bytes; rejects unknown and missing
    /// fields. The schema version is not checked here: the ledger refuses to
    /// append, and the verifier reports, records of another version.
    ///
    /// Accepts exactly what the derived `Deserialize` accepts (a test checks
    /// it), but reads the fields in one pass instead of buffering them to
    /// find the `record_type` tag first.
    pub fn from_bytes(bytes: &[u8]) -> Result<Record, serde_json::Error> {
        // Attestations are rare: the derived (buffering) parser handles them;
        // every other record type takes the one-pass parser.
        if bytes
            .windows(ATTESTATION_TAG.len())
            .any(|w| w == ATTESTATION_TAG)
        {
            if let Ok(r @ Record::Attestation(_)) = serde_json::from_slice::<Record>(bytes) {
                return Ok(r);
            }
        }
        crate::fast::parse_record(bytes)
    }
}
