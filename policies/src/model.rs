//! Observations, findings and the metadata every check declares.

use chrono::{DateTime, Utc};
use evident_evidence::canonical::{sha256_digest, to_canonical};
pub use evident_evidence::record::{Severity, Status, Target, TargetKind};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::reason::ReasonCode;

/// What a collector saw on one system, redacted (never a secret's value).
///
/// `data` is the typed observation of the source (for example
/// [`crate::host::SshdObservation`]) serialised to JSON; checks parse it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    /// The kind of observation, e.g. `host.sshd`; checks subscribe to it.
    pub source: String,
    /// The system observed.
    pub target: Target,
    /// When it was observed (UTC).
    #[serde(with = "chrono::serde::ts_seconds")]
    pub collected_at: DateTime<Utc>,
    /// What was seen.
    pub data: serde_json::Value,
}

impl Observation {
    /// Build an observation from a typed payload.
    pub fn new<T: Serialize>(
        source: &str,
        target: Target,
        collected_at: DateTime<Utc>,
        data: &T,
    ) -> Observation {
        // Invariant: observation payload types are plain structs that always
        // serialise to JSON.
        #[allow(clippy::expect_used)]
        let data = serde_json::to_value(data).expect("observation payloads serialise");
        Observation {
            source: source.to_string(),
            target,
            collected_at,
            data,
        }
    }

    /// Canonical JSON bytes, as stored in the ledger's observation store.
    pub fn to_canonical(&self) -> Vec<u8> {
        to_canonical(self)
    }

    /// `sha256:<hex>` of the canonical bytes; evidence records refer to it.
    pub fn digest(&self) -> String {
        sha256_digest(&self.to_canonical())
    }

    /// Parse the payload as `T`; a payload that does not parse is an
    /// `error` finding for whichever check asked (see [`Finding::malformed`]).
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.data)
    }
}

/// The verdict of one check on one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Id of the check that produced it.
    pub check_id: &'static str,
    /// The resource within the target (e.g. `sshd`, `/etc/ssh/sshd_config`).
    pub resource_id: String,
    /// Outcome.
    pub status: Status,
    /// Stable machine-readable reason.
    pub reason_code: ReasonCode,
    /// Human-readable reason.
    pub reason: String,
}

impl Finding {
    /// Build a finding.
    pub fn new(
        meta: &CheckMeta,
        resource_id: impl Into<String>,
        status: Status,
        reason_code: ReasonCode,
        reason: impl Into<String>,
    ) -> Finding {
        Finding {
            check_id: meta.id,
            resource_id: resource_id.into(),
            status,
            reason_code,
            reason: reason.into(),
        }
    }

    /// The `error` finding for an observation whose payload did not parse.
    pub fn malformed(meta: &CheckMeta, obs: &Observation, err: &serde_json::Error) -> Finding {
        Finding::new(
            meta,
            obs.source.clone(),
            Status::Error,
            ReasonCode::ObservationMalformed,
            format!("observation {} could not be interpreted: {err}", obs.source),
        )
    }
}

/// Metadata a check declares as data beside its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CheckMeta {
    /// `<area>_<resource>_<expected_state>`, e.g. `host_sshd_password_auth_disabled`.
    pub id: &'static str,
    /// One-line title.
    pub title: &'static str,
    /// Severity of a failure.
    pub severity: Severity,
    /// Annex A control ids this check evidences, as `A.8.5`.
    pub controls: &'static [&'static str],
    /// The observation source the check reads (e.g. `host.sshd`).
    pub source: &'static str,
    /// Why the check matters.
    pub rationale: &'static str,
    /// What to do when it fails.
    pub remediation: &'static str,
    /// Evidence older than this many days is stale.
    pub max_age_days: u32,
}

/// A check: its metadata and a pure function from an observation to findings.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// Metadata.
    pub meta: CheckMeta,
    /// The evaluation. Must return at least one finding for any observation
    /// of its source (an `error` one when the observation cannot be read).
    pub evaluate: fn(&Observation) -> Vec<Finding>,
}
