//! Organisation settings and people: the `github.org` observation and its checks.

use serde::{Deserialize, Serialize};

use super::{list_names, Fetched};
use crate::model::{Check, CheckMeta, Finding, Observation, Severity, Status};
use crate::reason::ReasonCode;

/// The observation source of these checks.
pub const SOURCE: &str = "github.org";

/// What the GitHub collector saw of one organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgObservation {
    /// Organisation login.
    pub org: String,
    /// `two_factor_requirement_enabled` of `GET /orgs/{org}`; `Ok(None)` when
    /// the field is absent (GitHub shows it to owners only).
    pub two_factor_requirement_enabled: Fetched<Option<bool>>,
    /// Logins from `GET /orgs/{org}/members?filter=2fa_disabled` (owner-only filter).
    pub members_2fa_disabled: Fetched<Vec<String>>,
    /// Logins from `GET /orgs/{org}/outside_collaborators?filter=2fa_disabled` (owner-only filter).
    pub outside_collaborators_2fa_disabled: Fetched<Vec<String>>,
    /// Logins from `GET /orgs/{org}/members?role=admin`.
    pub owners: Fetched<Vec<String>>,
    /// The configured maximum number of owners.
    pub max_owners: u32,
}

fn parse(meta: &CheckMeta, obs: &Observation) -> Result<OrgObservation, Finding> {
    obs.payload().map_err(|e| Finding::malformed(meta, obs, &e))
}

// ---------------------------------------------------------------------------

/// Metadata of [`ORG_2FA_REQUIRED`].
pub const ORG_2FA_REQUIRED_META: CheckMeta = CheckMeta {
    id: "github_org_2fa_required",
    title: "GitHub organisation requires two-factor authentication",
    severity: Severity::High,
    controls: &["A.8.5", "A.5.17"],
    source: SOURCE,
    rationale:
        "Source code and the change process are only as safe as the accounts that reach them; \
        requiring 2FA removes members who have not set it up and stops new ones joining without it.",
    remediation:
        "Organisation settings → Authentication security → Require two-factor authentication.",
    max_age_days: 1,
};

/// The organisation requires 2FA.
pub const ORG_2FA_REQUIRED: Check = Check {
    meta: ORG_2FA_REQUIRED_META,
    evaluate: org_2fa_required,
};

fn org_2fa_required(obs: &Observation) -> Vec<Finding> {
    let meta = &ORG_2FA_REQUIRED_META;
    let data = match parse(meta, obs) {
        Ok(d) => d,
        Err(f) => return vec![f],
    };
    let org = data.org.as_str();
    let f = match &data.two_factor_requirement_enabled {
        Fetched::Error(e) => e.finding(meta, org, "organisation settings"),
        Fetched::Ok(Some(true)) => Finding::new(
            meta,
            org,
            Status::Pass,
            ReasonCode::Github2faRequired,
            format!("organisation {org} requires two-factor authentication"),
        ),
        Fetched::Ok(Some(false)) => Finding::new(
            meta,
            org,
            Status::Fail,
            ReasonCode::Github2faNotRequired,
            format!("organisation {org} does not require two-factor authentication"),
        ),
        Fetched::Ok(None) => Finding::new(
            meta,
            org,
            Status::Error,
            ReasonCode::GithubInsufficientPermission,
            format!(
                "organisation {org}: insufficient permission: GET /orgs/{org} did not include \
                 two_factor_requirement_enabled (shown to organisation owners only)"
            ),
        ),
    };
    vec![f]
}

// ---------------------------------------------------------------------------

/// Metadata of [`MEMBERS_2FA_ENABLED`].
pub const MEMBERS_2FA_ENABLED_META: CheckMeta = CheckMeta {
    id: "github_org_members_2fa_enabled",
    title: "Every GitHub organisation member has two-factor authentication enabled",
    severity: Severity::High,
    controls: &["A.8.5", "A.5.17"],
    source: SOURCE,
    rationale: "The organisation-wide requirement can be switched on after members joined and \
        exempts nobody retroactively in every case; the member-level state is the evidence.",
    remediation: "Ask the listed members to enable 2FA, or remove them from the organisation.",
    max_age_days: 1,
};

/// No member has 2FA disabled.
pub const MEMBERS_2FA_ENABLED: Check = Check {
    meta: MEMBERS_2FA_ENABLED_META,
    evaluate: members_2fa_enabled,
};

fn members_2fa_enabled(obs: &Observation) -> Vec<Finding> {
    users_2fa(obs, &MEMBERS_2FA_ENABLED_META, "members", |d| {
        &d.members_2fa_disabled
    })
}

/// Metadata of [`OUTSIDE_COLLABORATORS_2FA_ENABLED`].
pub const OUTSIDE_COLLABORATORS_2FA_ENABLED_META: CheckMeta = CheckMeta {
    id: "github_org_outside_collaborators_2fa_enabled",
    title:
        "Every outside collaborator of a GitHub organisation has two-factor authentication enabled",
    severity: Severity::High,
    controls: &["A.8.5", "A.5.17"],
    source: SOURCE,
    rationale:
        "Outside collaborators reach repositories without being members; the organisation's \
        2FA requirement covers them too, but only their own state shows it holds.",
    remediation: "Ask the listed collaborators to enable 2FA, or remove their repository access.",
    max_age_days: 1,
};

/// No outside collaborator has 2FA disabled.
pub const OUTSIDE_COLLABORATORS_2FA_ENABLED: Check = Check {
    meta: OUTSIDE_COLLABORATORS_2FA_ENABLED_META,
    evaluate: outside_collaborators_2fa_enabled,
};

fn outside_collaborators_2fa_enabled(obs: &Observation) -> Vec<Finding> {
    users_2fa(
        obs,
        &OUTSIDE_COLLABORATORS_2FA_ENABLED_META,
        "outside collaborators",
        |d| &d.outside_collaborators_2fa_disabled,
    )
}

fn users_2fa(
    obs: &Observation,
    meta: &CheckMeta,
    who: &str,
    pick: fn(&OrgObservation) -> &Fetched<Vec<String>>,
) -> Vec<Finding> {
    let data = match parse(meta, obs) {
        Ok(d) => d,
        Err(f) => return vec![f],
    };
    let org = data.org.as_str();
    let f = match pick(&data) {
        Fetched::Error(e) => e.finding(
            meta,
            org,
            &format!("organisation {org} {who} with 2FA disabled"),
        ),
        Fetched::Ok(users) if users.is_empty() => Finding::new(
            meta,
            org,
            Status::Pass,
            ReasonCode::GithubUsers2faEnabled,
            format!("organisation {org}: no {who} with two-factor authentication disabled"),
        ),
        Fetched::Ok(users) => Finding::new(
            meta,
            org,
            Status::Fail,
            ReasonCode::GithubUsers2faDisabled,
            format!(
                "organisation {org}: {} {who} with two-factor authentication disabled: {}",
                users.len(),
                list_names(users, 50)
            ),
        ),
    };
    vec![f]
}

// ---------------------------------------------------------------------------

/// Metadata of [`OWNERS_LIMITED`].
pub const OWNERS_LIMITED_META: CheckMeta = CheckMeta {
    id: "github_org_owners_limited",
    title: "GitHub organisation has no more owners than the configured maximum",
    severity: Severity::Medium,
    controls: &["A.8.2"],
    source: SOURCE,
    rationale: "Owners hold every privilege over code, members and settings; privileged access \
        is restricted and reviewed when their number is small and their names are known.",
    remediation: "Demote owners who do not need full administrative rights to members, or raise \
        max_owners after a documented decision.",
    max_age_days: 7,
};

/// Owners within the configured maximum.
pub const OWNERS_LIMITED: Check = Check {
    meta: OWNERS_LIMITED_META,
    evaluate: owners_limited,
};

fn owners_limited(obs: &Observation) -> Vec<Finding> {
    let meta = &OWNERS_LIMITED_META;
    let data = match parse(meta, obs) {
        Ok(d) => d,
        Err(f) => return vec![f],
    };
    let org = data.org.as_str();
    let f = match &data.owners {
        Fetched::Error(e) => e.finding(meta, org, &format!("organisation {org} owners")),
        Fetched::Ok(owners) if owners.is_empty() => Finding::new(
            meta,
            org,
            Status::Error,
            ReasonCode::GithubInsufficientPermission,
            format!("organisation {org}: the owner list came back empty, which GitHub never shows for an organisation; the token cannot see its owners"),
        ),
        Fetched::Ok(owners) => {
            let n = owners.len();
            let (status, code, cmp) = if n as u64 <= u64::from(data.max_owners) {
                (Status::Pass, ReasonCode::GithubOwnersWithinLimit, "within")
            } else {
                (Status::Fail, ReasonCode::GithubOwnersOverLimit, "over")
            };
            Finding::new(
                meta,
                org,
                status,
                code,
                format!(
                    "organisation {org} has {n} owners, {cmp} the maximum of {}: {}",
                    data.max_owners,
                    list_names(owners, 50)
                ),
            )
        }
    };
    vec![f]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::test_support::{api_err, obs, summary};
    use crate::github::ApiErrorKind;

    fn base() -> OrgObservation {
        OrgObservation {
            org: "acme".into(),
            two_factor_requirement_enabled: Fetched::Ok(Some(true)),
            members_2fa_disabled: Fetched::Ok(vec![]),
            outside_collaborators_2fa_disabled: Fetched::Ok(vec![]),
            owners: Fetched::Ok(vec!["alice".into(), "bob".into()]),
            max_owners: 2,
        }
    }

    fn run(check: &Check, d: &OrgObservation) -> Vec<(String, Status, ReasonCode)> {
        summary(&(check.evaluate)(&obs(SOURCE, d)))
    }

    #[test]
    fn org_2fa_pass_fail_error() {
        let mut d = base();
        assert_eq!(run(&ORG_2FA_REQUIRED, &d)[0].1, Status::Pass);
        d.two_factor_requirement_enabled = Fetched::Ok(Some(false));
        assert_eq!(
            run(&ORG_2FA_REQUIRED, &d)[0].2,
            ReasonCode::Github2faNotRequired
        );
        d.two_factor_requirement_enabled = Fetched::Ok(None);
        assert_eq!(
            run(&ORG_2FA_REQUIRED, &d)[0].2,
            ReasonCode::GithubInsufficientPermission
        );
        d.two_factor_requirement_enabled = Fetched::Error(api_err(ApiErrorKind::ServerError, 502));
        assert_eq!(run(&ORG_2FA_REQUIRED, &d)[0].1, Status::Error);
    }

    #[test]
    fn members_2fa_checked_even_when_org_requires_it() {
        let mut d = base();
        assert_eq!(run(&MEMBERS_2FA_ENABLED, &d)[0].1, Status::Pass);
        d.members_2fa_disabled = Fetched::Ok(vec!["mallory".into()]);
        let f = (MEMBERS_2FA_ENABLED.evaluate)(&obs(SOURCE, &d));
        assert_eq!(f[0].status, Status::Fail);
        assert!(f[0].reason.contains("mallory") && f[0].reason.contains("acme"));
    }

    #[test]
    fn non_owner_filter_is_error_never_pass() {
        let mut d = base();
        d.members_2fa_disabled = Fetched::Error(api_err(ApiErrorKind::InsufficientPermission, 422));
        d.outside_collaborators_2fa_disabled =
            Fetched::Error(api_err(ApiErrorKind::InsufficientPermission, 422));
        for c in [&MEMBERS_2FA_ENABLED, &OUTSIDE_COLLABORATORS_2FA_ENABLED] {
            let f = (c.evaluate)(&obs(SOURCE, &d));
            assert_eq!(f[0].status, Status::Error);
            assert_eq!(f[0].reason_code, ReasonCode::GithubInsufficientPermission);
            assert!(f[0].reason.contains("insufficient permission"));
        }
    }

    #[test]
    fn outside_collaborators_fail() {
        let mut d = base();
        assert_eq!(
            run(&OUTSIDE_COLLABORATORS_2FA_ENABLED, &d)[0].1,
            Status::Pass
        );
        d.outside_collaborators_2fa_disabled = Fetched::Ok(vec!["eve".into()]);
        assert_eq!(
            run(&OUTSIDE_COLLABORATORS_2FA_ENABLED, &d)[0].1,
            Status::Fail
        );
    }

    #[test]
    fn owners_pass_fail_error() {
        let mut d = base();
        assert_eq!(run(&OWNERS_LIMITED, &d)[0].1, Status::Pass);
        d.max_owners = 1;
        let f = (OWNERS_LIMITED.evaluate)(&obs(SOURCE, &d));
        assert_eq!(f[0].status, Status::Fail);
        assert!(f[0].reason.contains("alice, bob"));
        d.owners = Fetched::Ok(vec![]);
        assert_eq!(run(&OWNERS_LIMITED, &d)[0].1, Status::Error);
        d.owners = Fetched::Error(api_err(ApiErrorKind::Malformed, 200));
        assert_eq!(
            run(&OWNERS_LIMITED, &d)[0].2,
            ReasonCode::GithubResponseMalformed
        );
    }

    #[test]
    fn malformed_observation_is_error() {
        let o = obs(SOURCE, &serde_json::json!({"org": "acme"}));
        for c in [&ORG_2FA_REQUIRED, &MEMBERS_2FA_ENABLED, &OWNERS_LIMITED] {
            assert_eq!((c.evaluate)(&o)[0].status, Status::Error);
        }
    }
}
