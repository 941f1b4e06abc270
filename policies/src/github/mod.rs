//! Checks on GitHub organisations. Observation payload types live here too,
//! so that the GitHub collector and the checks share one definition.
//!
//! Two sources feed them, each fetched once per organisation and run:
//! - [`org`]: `github.org`, the 2FA requirement, members and outside
//!   collaborators with 2FA disabled, and the owners;
//! - [`repos`]: `github.repositories`, every repository with its default
//!   branch protection, security settings and open alerts.
//!
//! Every finding's resource id names the organisation (`acme`) or the
//! organisation and repository (`acme/api`).

use serde::{Deserialize, Serialize};

use crate::model::{Check, CheckMeta, Finding, Status};
use crate::reason::ReasonCode;

pub mod org;
pub mod repos;

pub use org::OrgObservation;
pub use repos::{
    BranchRules, DependabotAlert, RepoState, RepoThresholds, ReposObservation, SecretAlert,
    SecurityAndAnalysis,
};

/// The GitHub checks.
pub static CHECKS: &[Check] = &[
    org::ORG_2FA_REQUIRED,
    org::MEMBERS_2FA_ENABLED,
    org::OUTSIDE_COLLABORATORS_2FA_ENABLED,
    org::OWNERS_LIMITED,
    repos::DEFAULT_BRANCH_PROTECTED,
    repos::SECRET_SCANNING_ENABLED,
    repos::SECRET_ALERTS_RESOLVED,
    repos::DEPENDABOT_ALERTS_ENABLED,
    repos::DEPENDABOT_ALERTS_WITHIN_SLA,
];

/// Why a GitHub API call did not give the state asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ApiErrorKind {
    /// 404: the resource does not exist or is not visible to the token.
    NotFound,
    /// 401/403/422 without a plan hint: the token lacks a permission or role.
    InsufficientPermission,
    /// 403/404/422 whose message says the feature needs another plan (e.g. "Upgrade to GitHub Pro").
    UnavailableOnPlan,
    /// Throttled beyond the run's time budget.
    RateLimited,
    /// 5xx or another unexpected status.
    ServerError,
    /// The body could not be interpreted.
    Malformed,
}

impl ApiErrorKind {
    /// The status and reason code of a finding caused by this failure:
    /// a plan limit means the measure is not in place (`fail`); anything
    /// else means the state is unknown (`error`).
    pub fn outcome(self) -> (Status, ReasonCode) {
        match self {
            ApiErrorKind::NotFound => (Status::Error, ReasonCode::GithubNotFound),
            ApiErrorKind::InsufficientPermission => {
                (Status::Error, ReasonCode::GithubInsufficientPermission)
            }
            ApiErrorKind::UnavailableOnPlan => (Status::Fail, ReasonCode::GithubUnavailableOnPlan),
            ApiErrorKind::RateLimited => (Status::Error, ReasonCode::GithubRateLimited),
            ApiErrorKind::ServerError => (Status::Error, ReasonCode::GithubApiError),
            ApiErrorKind::Malformed => (Status::Error, ReasonCode::GithubResponseMalformed),
        }
    }
}

/// A failed GitHub API call, as recorded in an observation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiError {
    /// Classification.
    pub kind: ApiErrorKind,
    /// HTTP status, if a response arrived.
    pub status: Option<u16>,
    /// The endpoint, as a path template with the names filled in (no query string).
    pub endpoint: String,
    /// GitHub's `message` (or a description of what went wrong).
    pub message: String,
}

impl ApiError {
    /// The finding this error causes for `meta` on `resource`.
    pub fn finding(&self, meta: &CheckMeta, resource: &str, what: &str) -> Finding {
        let (status, code) = self.kind.outcome();
        let http = self
            .status
            .map(|s| format!("HTTP {s} "))
            .unwrap_or_default();
        let lead = match self.kind {
            ApiErrorKind::UnavailableOnPlan => "not available on the plan",
            ApiErrorKind::InsufficientPermission => "insufficient permission",
            ApiErrorKind::NotFound => "not found",
            ApiErrorKind::RateLimited => "rate limited",
            ApiErrorKind::ServerError => "GitHub API error",
            ApiErrorKind::Malformed => "malformed response",
        };
        Finding::new(
            meta,
            resource,
            status,
            code,
            format!(
                "{what}: {lead} ({http}from {}: {})",
                self.endpoint, self.message
            ),
        )
    }
}

/// A value read from the API, or why it could not be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Fetched<T> {
    /// The value.
    Ok(T),
    /// The failure.
    Error(ApiError),
}

impl<T> Fetched<T> {
    /// The value, or the error.
    pub fn as_result(&self) -> Result<&T, &ApiError> {
        match self {
            Fetched::Ok(v) => Ok(v),
            Fetched::Error(e) => Err(e),
        }
    }
}

/// `a, b, c` (at most `max` names, then `and N more`).
pub(crate) fn list_names(names: &[String], max: usize) -> String {
    let mut out = names
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > max {
        out.push_str(&format!(" and {} more", names.len() - max));
    }
    out
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Helpers shared by the GitHub checks' unit tests.
    use super::*;
    use crate::model::{Observation, Target, TargetKind};
    use chrono::{DateTime, TimeZone, Utc};

    /// The collection time of test observations.
    pub fn now() -> DateTime<Utc> {
        // Invariant: a fixed, valid timestamp.
        #[allow(clippy::unwrap_used)]
        Utc.timestamp_opt(1_700_000_000, 0).unwrap()
    }

    /// An observation of `source` about organisation `acme`.
    pub fn obs<T: serde::Serialize>(source: &str, data: &T) -> Observation {
        Observation::new(
            source,
            Target {
                kind: TargetKind::Organisation,
                id: "acme".into(),
            },
            now(),
            data,
        )
    }

    /// An API error of `kind`.
    pub fn api_err(kind: ApiErrorKind, status: u16) -> ApiError {
        ApiError {
            kind,
            status: Some(status),
            endpoint: "/x".into(),
            message: "m".into(),
        }
    }

    /// `(resource, status, code)` of each finding.
    pub fn summary(f: &[Finding]) -> Vec<(String, Status, ReasonCode)> {
        f.iter()
            .map(|f| (f.resource_id.clone(), f.status, f.reason_code))
            .collect()
    }
}
