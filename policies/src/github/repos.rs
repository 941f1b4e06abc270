//! Repositories of an organisation: the `github.repositories` observation
//! and its checks (change management, secret scanning, vulnerability alerts).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{ApiErrorKind, Fetched};
use crate::model::{Check, CheckMeta, Finding, Observation, Severity, Status};
use crate::reason::ReasonCode;

/// The observation source of these checks.
pub const SOURCE: &str = "github.repositories";

/// What the GitHub collector saw of an organisation's repositories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReposObservation {
    /// Organisation login.
    pub org: String,
    /// The configured thresholds.
    pub thresholds: RepoThresholds,
    /// Every repository of `GET /orgs/{org}/repos`, all pages.
    pub repositories: Fetched<Vec<RepoState>>,
    /// Open alerts of `GET /orgs/{org}/secret-scanning/alerts?state=open`, all pages
    /// (never the secret's value).
    pub secret_alerts: Fetched<Vec<SecretAlert>>,
    /// Open alerts of `GET /orgs/{org}/dependabot/alerts?state=open`, all cursor pages.
    pub dependabot_alerts: Fetched<Vec<DependabotAlert>>,
}

/// Thresholds from the configuration, recorded with the observation so the
/// evidence shows what it was judged against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoThresholds {
    /// Minimum approving reviews on the default branch.
    pub min_approvals: u32,
    /// Whether signed commits must be required on the default branch.
    pub require_signed_commits: bool,
    /// Maximum age in days of an open secret scanning alert.
    pub secret_alert_max_age_days: u32,
    /// Maximum age in days of an open critical or high Dependabot alert.
    pub dependabot_alert_sla_days: u32,
}

/// One repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoState {
    /// Repository name (without the organisation).
    pub name: String,
    /// Archived (read-only).
    pub archived: bool,
    /// `public`, `private` or `internal`.
    pub visibility: String,
    /// Name of the default branch.
    pub default_branch: String,
    /// The default branch does not exist (`GET /repos/{o}/{r}/branches/{b}` gave 404): no commits yet.
    pub empty: bool,
    /// The branch's `protected` flag, when the branch was read.
    pub branch_protected_flag: Option<bool>,
    /// `GET /repos/{o}/{r}/branches/{b}/protection` (not fetched for archived or empty repositories).
    pub protection: Option<Fetched<BranchRules>>,
    /// `GET /repos/{o}/{r}/rules/branches/{b}`: the active ruleset rules for the branch.
    pub rules: Option<Fetched<BranchRules>>,
    /// The repository's `security_and_analysis`; `None` when absent (not visible to this token).
    pub security_and_analysis: Option<SecurityAndAnalysis>,
    /// `GET /repos/{o}/{r}/vulnerability-alerts`: 204 = `true`, 404 = `false`.
    pub vulnerability_alerts: Option<Fetched<bool>>,
}

/// The requirements a branch protection or a set of ruleset rules enforces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BranchRules {
    /// Changes need a pull request with reviews.
    pub pull_request_reviews_required: bool,
    /// Approving reviews required.
    pub required_approvals: u32,
    /// New pushes dismiss approvals.
    pub dismiss_stale_reviews: bool,
    /// Administrators are bound too; `None` when not visible (ruleset bypass actors).
    pub admins_included: Option<bool>,
    /// Force pushes are refused.
    pub force_pushes_blocked: bool,
    /// Deleting the branch is refused.
    pub deletions_blocked: bool,
    /// Signed commits are required; `None` when the response did not say.
    pub signed_commits_required: Option<bool>,
}

impl BranchRules {
    /// Whether the rules enforce nothing at all.
    pub fn is_empty(&self) -> bool {
        !self.pull_request_reviews_required
            && !self.force_pushes_blocked
            && !self.deletions_blocked
            && self.signed_commits_required != Some(true)
    }

    /// Both sets together: a requirement holds when either enforces it.
    pub fn union(&self, other: &BranchRules) -> BranchRules {
        let either = |a: Option<bool>, b: Option<bool>| match (a, b) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), _) | (_, Some(false)) => Some(false),
            _ => None,
        };
        BranchRules {
            pull_request_reviews_required: self.pull_request_reviews_required
                || other.pull_request_reviews_required,
            required_approvals: self.required_approvals.max(other.required_approvals),
            dismiss_stale_reviews: self.dismiss_stale_reviews || other.dismiss_stale_reviews,
            admins_included: self.admins_included,
            force_pushes_blocked: self.force_pushes_blocked || other.force_pushes_blocked,
            deletions_blocked: self.deletions_blocked || other.deletions_blocked,
            signed_commits_required: either(
                self.signed_commits_required,
                other.signed_commits_required,
            ),
        }
    }
}

/// A repository's `security_and_analysis` settings (`enabled`/`disabled`;
/// `None` when the key is absent, i.e. the feature is not offered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityAndAnalysis {
    /// `secret_scanning.status`.
    pub secret_scanning: Option<String>,
    /// `secret_scanning_push_protection.status`.
    pub push_protection: Option<String>,
}

/// An open secret scanning alert (never the secret's value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretAlert {
    /// Repository name (without the organisation).
    pub repository: String,
    /// Alert number within the repository.
    pub number: u64,
    /// `secret_type`.
    pub secret_type: String,
    /// When it was raised.
    pub created_at: DateTime<Utc>,
}

/// An open Dependabot alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DependabotAlert {
    /// Repository name (without the organisation).
    pub repository: String,
    /// Alert number within the repository.
    pub number: u64,
    /// `state` (`open`, `dismissed`, `fixed`, `auto_dismissed`).
    pub state: String,
    /// `security_advisory.severity` (`critical`, `high`, `medium`, `low`).
    pub severity: String,
    /// The advisory's GHSA id.
    pub ghsa_id: String,
    /// When it was raised.
    pub created_at: DateTime<Utc>,
}

/// The shared preamble: parse; an error listing repositories is one
/// finding for the organisation; otherwise `(data, repos)`.
fn prepare(meta: &CheckMeta, obs: &Observation) -> Result<ReposObservation, Vec<Finding>> {
    let data: ReposObservation = obs
        .payload()
        .map_err(|e| vec![Finding::malformed(meta, obs, &e)])?;
    if let Fetched::Error(e) = &data.repositories {
        return Err(vec![e.finding(
            meta,
            &data.org,
            &format!("organisation {} repositories", data.org),
        )]);
    }
    Ok(data)
}

fn each_repo(
    meta: &CheckMeta,
    obs: &Observation,
    f: impl Fn(&ReposObservation, &RepoState, &str) -> Finding,
) -> Vec<Finding> {
    let data = match prepare(meta, obs) {
        Ok(d) => d,
        Err(f) => return f,
    };
    let Fetched::Ok(repos) = &data.repositories else {
        return vec![];
    };
    if repos.is_empty() {
        return vec![Finding::new(
            meta,
            data.org.as_str(),
            Status::NotApplicable,
            ReasonCode::ComponentAbsent,
            format!(
                "organisation {} has no repositories visible to this token",
                data.org
            ),
        )];
    }
    repos
        .iter()
        .map(|r| {
            let id = format!("{}/{}", data.org, r.name);
            if r.archived {
                Finding::new(
                    meta,
                    id.as_str(),
                    Status::NotApplicable,
                    ReasonCode::GithubRepoArchived,
                    format!("repository {id} is archived (read-only)"),
                )
            } else {
                f(&data, r, &id)
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------

/// Metadata of [`DEFAULT_BRANCH_PROTECTED`].
pub const DEFAULT_BRANCH_PROTECTED_META: CheckMeta = CheckMeta {
    id: "github_repo_default_branch_protected",
    title: "Default branch of each GitHub repository requires reviewed changes and refuses history rewrites",
    severity: Severity::High,
    controls: &["A.8.32", "A.8.25", "A.8.4"],
    source: SOURCE,
    rationale: "Change management needs every change to the main line reviewed and approved, \
        re-reviewed after new pushes, binding on administrators, and the history kept intact.",
    remediation: "Protect the default branch (branch protection or a ruleset): require pull request \
        reviews with the minimum approvals, dismiss stale approvals, include administrators, block \
        force pushes and deletions, and require signed commits where configured.",
    max_age_days: 1,
};

/// Default branch protected as configured.
pub const DEFAULT_BRANCH_PROTECTED: Check = Check {
    meta: DEFAULT_BRANCH_PROTECTED_META,
    evaluate: default_branch_protected,
};

fn default_branch_protected(obs: &Observation) -> Vec<Finding> {
    let meta = &DEFAULT_BRANCH_PROTECTED_META;
    each_repo(meta, obs, |data, r, id| {
        let branch = &r.default_branch;
        if r.empty {
            return Finding::new(
                meta,
                id,
                Status::NotApplicable,
                ReasonCode::GithubRepoEmpty,
                format!("repository {id} is empty: its default branch {branch} does not exist yet"),
            );
        }
        let what = format!("repository {id} branch {branch} protection");
        let rules = match &r.rules {
            Some(Fetched::Ok(rules)) => *rules,
            Some(Fetched::Error(e)) => return e.finding(meta, id, &what),
            None => BranchRules::default(),
        };
        let (effective, via) = match &r.protection {
            Some(Fetched::Ok(p)) => (
                p.union(&rules),
                if rules.is_empty() {
                    "branch protection"
                } else {
                    "branch protection and rulesets"
                },
            ),
            Some(Fetched::Error(e)) if e.kind == ApiErrorKind::NotFound => {
                if !rules.is_empty() {
                    (
                        rules,
                        "rules for the branch (the protection endpoint answered 404: not protected, or no admin right)",
                    )
                } else if r.branch_protected_flag == Some(false) {
                    return Finding::new(
                        meta,
                        id,
                        Status::Fail,
                        ReasonCode::GithubBranchUnprotected,
                        format!(
                            "repository {id}: default branch {branch} is not protected (the protection endpoint answered 404, the branch's protected flag is false and no ruleset rules apply)"
                        ),
                    );
                } else {
                    return Finding::new(
                        meta,
                        id,
                        Status::Error,
                        ReasonCode::GithubInsufficientPermission,
                        format!(
                            "repository {id}: insufficient permission: default branch {branch} is marked protected but the protection endpoint answered 404 (its settings need admin rights) and no ruleset rules apply"
                        ),
                    );
                }
            }
            Some(Fetched::Error(e)) if e.kind == ApiErrorKind::UnavailableOnPlan => {
                if rules.is_empty() {
                    return e.finding(meta, id, &what);
                }
                (
                    rules,
                    "rules for the branch (branch protection is not available on the plan)",
                )
            }
            Some(Fetched::Error(e)) => return e.finding(meta, id, &what),
            None => {
                return Finding::new(
                    meta,
                    id,
                    Status::Error,
                    ReasonCode::ObservationMalformed,
                    format!("repository {id}: branch protection was not collected"),
                )
            }
        };
        let t = &data.thresholds;
        let mut missing = Vec::new();
        if !effective.pull_request_reviews_required {
            missing.push("pull request reviews are not required".to_string());
        }
        if effective.required_approvals < t.min_approvals {
            missing.push(format!(
                "{} approving reviews required, minimum {}",
                effective.required_approvals, t.min_approvals
            ));
        }
        if !effective.dismiss_stale_reviews {
            missing.push("stale reviews are not dismissed on new pushes".into());
        }
        if effective.admins_included == Some(false) {
            missing.push("administrators are not included".into());
        }
        if !effective.force_pushes_blocked {
            missing.push("force pushes are allowed".into());
        }
        if !effective.deletions_blocked {
            missing.push("deletion is allowed".into());
        }
        if t.require_signed_commits && effective.signed_commits_required == Some(false) {
            missing.push("signed commits are not required".into());
        }
        if !missing.is_empty() {
            return Finding::new(
                meta,
                id,
                Status::Fail,
                ReasonCode::GithubBranchUnprotected,
                format!(
                    "repository {id}: default branch {branch} (evaluated from {via}): {}",
                    missing.join("; ")
                ),
            );
        }
        if effective.admins_included.is_none() {
            return Finding::new(
                meta,
                id,
                Status::Error,
                ReasonCode::GithubInsufficientPermission,
                format!("repository {id}: default branch {branch} (evaluated from {via}): whether administrators can bypass the rules is not visible"),
            );
        }
        if t.require_signed_commits && effective.signed_commits_required.is_none() {
            return Finding::new(
                meta,
                id,
                Status::Error,
                ReasonCode::GithubResponseMalformed,
                format!("repository {id}: default branch {branch} (evaluated from {via}): the response did not say whether signed commits are required"),
            );
        }
        Finding::new(
            meta,
            id,
            Status::Pass,
            ReasonCode::GithubBranchProtected,
            format!(
                "repository {id}: default branch {branch} (evaluated from {via}) requires reviews with {} approvals, dismisses stale reviews, includes administrators and blocks force pushes and deletion{}",
                effective.required_approvals,
                if t.require_signed_commits { " and unsigned commits" } else { "" }
            ),
        )
    })
}

// ---------------------------------------------------------------------------

/// Metadata of [`SECRET_SCANNING_ENABLED`].
pub const SECRET_SCANNING_ENABLED_META: CheckMeta = CheckMeta {
    id: "github_repo_secret_scanning_enabled",
    title: "Secret scanning and push protection are enabled on each GitHub repository",
    severity: Severity::High,
    controls: &["A.8.12"],
    source: SOURCE,
    rationale: "Credentials committed to source code leak with every clone; scanning finds them \
        and push protection stops them before they land.",
    remediation: "Repository (or organisation) settings → Code security → enable secret scanning \
        and push protection.",
    max_age_days: 1,
};

/// Secret scanning and push protection enabled.
pub const SECRET_SCANNING_ENABLED: Check = Check {
    meta: SECRET_SCANNING_ENABLED_META,
    evaluate: secret_scanning_enabled,
};

fn not_visible(meta: &CheckMeta, id: &str) -> Finding {
    Finding::new(
        meta,
        id,
        Status::Error,
        ReasonCode::GithubInsufficientPermission,
        format!(
            "repository {id}: insufficient permission: security_and_analysis is not visible to this token (it needs admin or security manager access)"
        ),
    )
}

fn secret_scanning_enabled(obs: &Observation) -> Vec<Finding> {
    let meta = &SECRET_SCANNING_ENABLED_META;
    each_repo(meta, obs, |_, r, id| {
        let Some(sa) = &r.security_and_analysis else {
            return not_visible(meta, id);
        };
        let Some(scanning) = &sa.secret_scanning else {
            return Finding::new(
                meta,
                id,
                Status::Fail,
                ReasonCode::GithubUnavailableOnPlan,
                format!("repository {id}: secret scanning is not available on the plan for this {} repository", r.visibility),
            );
        };
        let push = sa.push_protection.as_deref().unwrap_or("not available");
        if scanning == "enabled" && push == "enabled" {
            Finding::new(
                meta,
                id,
                Status::Pass,
                ReasonCode::GithubSecretScanningEnabled,
                format!("repository {id}: secret scanning and push protection are enabled"),
            )
        } else {
            Finding::new(
                meta,
                id,
                Status::Fail,
                ReasonCode::GithubSecretScanningDisabled,
                format!(
                    "repository {id}: secret scanning is {scanning}, push protection is {push}"
                ),
            )
        }
    })
}

// ---------------------------------------------------------------------------

/// Metadata of [`SECRET_ALERTS_RESOLVED`].
pub const SECRET_ALERTS_RESOLVED_META: CheckMeta = CheckMeta {
    id: "github_repo_secret_alerts_resolved",
    title: "No open secret scanning alert is older than the allowed age",
    severity: Severity::High,
    controls: &["A.8.12"],
    source: SOURCE,
    rationale: "A detected secret stays exploitable until it is revoked; alerts left open show \
        leaks that were seen but not handled.",
    remediation: "Revoke and rotate the listed secrets, then close the alerts.",
    max_age_days: 1,
};

/// Open secret scanning alerts within the allowed age.
pub const SECRET_ALERTS_RESOLVED: Check = Check {
    meta: SECRET_ALERTS_RESOLVED_META,
    evaluate: secret_alerts_resolved,
};

fn secret_alerts_resolved(obs: &Observation) -> Vec<Finding> {
    let meta = &SECRET_ALERTS_RESOLVED_META;
    let now = obs.collected_at;
    each_repo(meta, obs, |data, r, id| {
        let Some(sa) = &r.security_and_analysis else {
            return not_visible(meta, id);
        };
        if sa.secret_scanning.as_deref() != Some("enabled") {
            return Finding::new(
                meta,
                id,
                Status::Fail,
                ReasonCode::GithubAlertsFeatureDisabled,
                format!("repository {id}: secret scanning is not enabled, so leaked secrets raise no alerts"),
            );
        }
        let alerts = match &data.secret_alerts {
            Fetched::Ok(a) => a,
            Fetched::Error(e) => {
                return e.finding(meta, id, &format!("repository {id} secret scanning alerts"))
            }
        };
        let max = i64::from(data.thresholds.secret_alert_max_age_days);
        let old: Vec<String> = alerts
            .iter()
            .filter(|a| a.repository == r.name && now - a.created_at > Duration::days(max))
            .map(|a| {
                format!(
                    "#{} {} since {}",
                    a.number,
                    a.secret_type,
                    a.created_at.format("%Y-%m-%d")
                )
            })
            .collect();
        overdue_finding(meta, id, "secret scanning", max, &old)
    })
}

fn overdue_finding(meta: &CheckMeta, id: &str, what: &str, max: i64, old: &[String]) -> Finding {
    if old.is_empty() {
        Finding::new(
            meta,
            id,
            Status::Pass,
            ReasonCode::GithubAlertsWithinAge,
            format!("repository {id}: no open {what} alert older than {max} days"),
        )
    } else {
        Finding::new(
            meta,
            id,
            Status::Fail,
            ReasonCode::GithubAlertsOverdue,
            format!(
                "repository {id}: {} open {what} alerts older than {max} days: {}",
                old.len(),
                super::list_names(old, 20)
            ),
        )
    }
}

// ---------------------------------------------------------------------------

/// Metadata of [`DEPENDABOT_ALERTS_ENABLED`].
pub const DEPENDABOT_ALERTS_ENABLED_META: CheckMeta = CheckMeta {
    id: "github_repo_dependabot_alerts_enabled",
    title: "Dependabot vulnerability alerts are enabled on each GitHub repository",
    severity: Severity::Medium,
    controls: &["A.8.8"],
    source: SOURCE,
    rationale: "Known vulnerabilities in dependencies are managed only when they are reported.",
    remediation: "Repository settings → Code security → enable Dependabot alerts (or enable them \
        for all repositories of the organisation).",
    max_age_days: 1,
};

/// Dependabot alerts enabled.
pub const DEPENDABOT_ALERTS_ENABLED: Check = Check {
    meta: DEPENDABOT_ALERTS_ENABLED_META,
    evaluate: dependabot_alerts_enabled,
};

fn vulnerability_alerts(meta: &CheckMeta, r: &RepoState, id: &str) -> Result<bool, Finding> {
    match &r.vulnerability_alerts {
        Some(Fetched::Ok(b)) => Ok(*b),
        Some(Fetched::Error(e)) => {
            Err(e.finding(meta, id, &format!("repository {id} vulnerability alerts")))
        }
        None => Err(Finding::new(
            meta,
            id,
            Status::Error,
            ReasonCode::ObservationMalformed,
            format!("repository {id}: vulnerability alerts were not collected"),
        )),
    }
}

fn dependabot_alerts_enabled(obs: &Observation) -> Vec<Finding> {
    let meta = &DEPENDABOT_ALERTS_ENABLED_META;
    each_repo(meta, obs, |_, r, id| {
        match vulnerability_alerts(meta, r, id) {
            Err(f) => f,
            Ok(true) => Finding::new(
                meta,
                id,
                Status::Pass,
                ReasonCode::GithubDependabotEnabled,
                format!("repository {id}: Dependabot vulnerability alerts are enabled"),
            ),
            Ok(false) => Finding::new(
                meta,
                id,
                Status::Fail,
                ReasonCode::GithubDependabotDisabled,
                format!("repository {id}: Dependabot vulnerability alerts are disabled"),
            ),
        }
    })
}

// ---------------------------------------------------------------------------

/// Metadata of [`DEPENDABOT_ALERTS_WITHIN_SLA`].
pub const DEPENDABOT_ALERTS_WITHIN_SLA_META: CheckMeta = CheckMeta {
    id: "github_repo_dependabot_alerts_within_sla",
    title: "No open critical or high Dependabot alert is older than the remediation SLA",
    severity: Severity::High,
    controls: &["A.8.8"],
    source: SOURCE,
    rationale:
        "Technical vulnerabilities are to be remediated within a defined time; critical and \
        high ones left open past it are unmanaged risk.",
    remediation:
        "Upgrade the listed dependencies (or dismiss the alerts with a documented reason).",
    max_age_days: 1,
};

/// Critical and high Dependabot alerts within the SLA.
pub const DEPENDABOT_ALERTS_WITHIN_SLA: Check = Check {
    meta: DEPENDABOT_ALERTS_WITHIN_SLA_META,
    evaluate: dependabot_alerts_within_sla,
};

fn dependabot_alerts_within_sla(obs: &Observation) -> Vec<Finding> {
    let meta = &DEPENDABOT_ALERTS_WITHIN_SLA_META;
    let now = obs.collected_at;
    each_repo(meta, obs, |data, r, id| {
        match vulnerability_alerts(meta, r, id) {
            Err(f) => return f,
            Ok(false) => {
                return Finding::new(
                    meta,
                    id,
                    Status::Fail,
                    ReasonCode::GithubAlertsFeatureDisabled,
                    format!("repository {id}: Dependabot alerts are disabled, so vulnerable dependencies raise no alerts"),
                )
            }
            Ok(true) => {}
        }
        let alerts = match &data.dependabot_alerts {
            Fetched::Ok(a) => a,
            Fetched::Error(e) => {
                return e.finding(meta, id, &format!("repository {id} Dependabot alerts"))
            }
        };
        let max = i64::from(data.thresholds.dependabot_alert_sla_days);
        let old: Vec<String> = alerts
            .iter()
            .filter(|a| {
                a.repository == r.name
                    && a.state == "open"
                    && matches!(a.severity.as_str(), "critical" | "high")
                    && now - a.created_at > Duration::days(max)
            })
            .map(|a| {
                format!(
                    "#{} {} {} since {}",
                    a.number,
                    a.severity,
                    a.ghsa_id,
                    a.created_at.format("%Y-%m-%d")
                )
            })
            .collect();
        overdue_finding(meta, id, "critical or high Dependabot", max, &old)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::test_support::{api_err, now, obs, summary};

    fn good_rules() -> BranchRules {
        BranchRules {
            pull_request_reviews_required: true,
            required_approvals: 2,
            dismiss_stale_reviews: true,
            admins_included: Some(true),
            force_pushes_blocked: true,
            deletions_blocked: true,
            signed_commits_required: None,
        }
    }

    fn repo(name: &str) -> RepoState {
        RepoState {
            name: name.into(),
            archived: false,
            visibility: "private".into(),
            default_branch: "main".into(),
            empty: false,
            branch_protected_flag: Some(true),
            protection: Some(Fetched::Ok(good_rules())),
            rules: Some(Fetched::Ok(BranchRules::default())),
            security_and_analysis: Some(SecurityAndAnalysis {
                secret_scanning: Some("enabled".into()),
                push_protection: Some("enabled".into()),
            }),
            vulnerability_alerts: Some(Fetched::Ok(true)),
        }
    }

    fn data(repos: Vec<RepoState>) -> ReposObservation {
        ReposObservation {
            org: "acme".into(),
            thresholds: RepoThresholds {
                min_approvals: 1,
                require_signed_commits: false,
                secret_alert_max_age_days: 7,
                dependabot_alert_sla_days: 30,
            },
            repositories: Fetched::Ok(repos),
            secret_alerts: Fetched::Ok(vec![]),
            dependabot_alerts: Fetched::Ok(vec![]),
        }
    }

    fn run(c: &Check, d: &ReposObservation) -> Vec<(String, Status, ReasonCode)> {
        summary(&(c.evaluate)(&obs(SOURCE, d)))
    }

    #[test]
    fn branch_protection_pass_fail_error() {
        let mut r = repo("api");
        let d = data(vec![r.clone()]);
        assert_eq!(run(&DEFAULT_BRANCH_PROTECTED, &d)[0].1, Status::Pass);
        assert_eq!(run(&DEFAULT_BRANCH_PROTECTED, &d)[0].0, "acme/api");

        let mut weak = good_rules();
        weak.force_pushes_blocked = false;
        r.protection = Some(Fetched::Ok(weak));
        let f = (DEFAULT_BRANCH_PROTECTED.evaluate)(&obs(SOURCE, &data(vec![r.clone()])));
        assert_eq!(f[0].status, Status::Fail);
        assert!(f[0].reason.contains("force pushes"));

        r.protection = Some(Fetched::Error(api_err(ApiErrorKind::ServerError, 500)));
        assert_eq!(
            run(&DEFAULT_BRANCH_PROTECTED, &data(vec![r]))[0].1,
            Status::Error
        );
    }

    #[test]
    fn signed_commits_and_approvals_thresholds() {
        let mut d = data(vec![repo("api")]);
        d.thresholds.min_approvals = 3;
        assert_eq!(run(&DEFAULT_BRANCH_PROTECTED, &d)[0].1, Status::Fail);
        d.thresholds.min_approvals = 1;
        d.thresholds.require_signed_commits = true;
        // the GET example lacks required_signatures: unknown is an error
        assert_eq!(run(&DEFAULT_BRANCH_PROTECTED, &d)[0].1, Status::Error);
        let mut r = repo("api");
        let mut p = good_rules();
        p.signed_commits_required = Some(false);
        r.protection = Some(Fetched::Ok(p));
        d.repositories = Fetched::Ok(vec![r]);
        assert_eq!(run(&DEFAULT_BRANCH_PROTECTED, &d)[0].1, Status::Fail);
    }

    #[test]
    fn protection_404_is_disambiguated() {
        let mut r = repo("api");
        r.protection = Some(Fetched::Error(api_err(ApiErrorKind::NotFound, 404)));
        r.branch_protected_flag = Some(false);
        let f = (DEFAULT_BRANCH_PROTECTED.evaluate)(&obs(SOURCE, &data(vec![r.clone()])));
        assert_eq!(f[0].status, Status::Fail);
        assert!(f[0].reason.contains("protected flag is false"));

        r.branch_protected_flag = Some(true);
        let f = (DEFAULT_BRANCH_PROTECTED.evaluate)(&obs(SOURCE, &data(vec![r.clone()])));
        assert_eq!(f[0].status, Status::Error);
        assert_eq!(f[0].reason_code, ReasonCode::GithubInsufficientPermission);

        let mut rules = good_rules();
        rules.admins_included = None;
        r.rules = Some(Fetched::Ok(rules));
        let f = (DEFAULT_BRANCH_PROTECTED.evaluate)(&obs(SOURCE, &data(vec![r.clone()])));
        assert!(
            f[0].reason.contains("rules for the branch"),
            "{}",
            f[0].reason
        );
        assert_eq!(f[0].status, Status::Error);
        rules.dismiss_stale_reviews = false;
        r.rules = Some(Fetched::Ok(rules));
        assert_eq!(
            run(&DEFAULT_BRANCH_PROTECTED, &data(vec![r]))[0].1,
            Status::Fail
        );
    }

    #[test]
    fn plan_limit_is_fail_with_its_own_code() {
        let mut r = repo("api");
        r.protection = Some(Fetched::Error(api_err(
            ApiErrorKind::UnavailableOnPlan,
            403,
        )));
        let f = run(&DEFAULT_BRANCH_PROTECTED, &data(vec![r.clone()]));
        assert_eq!(f[0].1, Status::Fail);
        assert_eq!(f[0].2, ReasonCode::GithubUnavailableOnPlan);
        r.security_and_analysis = Some(SecurityAndAnalysis {
            secret_scanning: None,
            push_protection: None,
        });
        let f = run(&SECRET_SCANNING_ENABLED, &data(vec![r]));
        assert_eq!(f[0].2, ReasonCode::GithubUnavailableOnPlan);
        assert_ne!(
            ReasonCode::GithubUnavailableOnPlan,
            ReasonCode::GithubNotFound
        );
    }

    #[test]
    fn archived_and_empty_are_not_applicable() {
        let mut a = repo("old");
        a.archived = true;
        let mut e = repo("new");
        e.empty = true;
        let f = run(&DEFAULT_BRANCH_PROTECTED, &data(vec![a, e]));
        assert_eq!(f[0].2, ReasonCode::GithubRepoArchived);
        assert_eq!(f[1].2, ReasonCode::GithubRepoEmpty);
        assert!(f.iter().all(|f| f.1 == Status::NotApplicable));
    }

    #[test]
    fn secret_scanning_pass_fail_error() {
        let mut r = repo("api");
        assert_eq!(
            run(&SECRET_SCANNING_ENABLED, &data(vec![r.clone()]))[0].1,
            Status::Pass
        );
        r.security_and_analysis = Some(SecurityAndAnalysis {
            secret_scanning: Some("enabled".into()),
            push_protection: Some("disabled".into()),
        });
        assert_eq!(
            run(&SECRET_SCANNING_ENABLED, &data(vec![r.clone()]))[0].1,
            Status::Fail
        );
        r.security_and_analysis = None;
        let f = run(&SECRET_SCANNING_ENABLED, &data(vec![r]));
        assert_eq!(f[0].1, Status::Error);
        assert_eq!(f[0].2, ReasonCode::GithubInsufficientPermission);
    }

    #[test]
    fn secret_alert_age_pass_fail_error() {
        let mut d = data(vec![repo("api"), repo("web")]);
        d.secret_alerts = Fetched::Ok(vec![SecretAlert {
            repository: "api".into(),
            number: 3,
            secret_type: "aws_access_key_id".into(),
            created_at: now() - Duration::days(8),
        }]);
        let f = run(&SECRET_ALERTS_RESOLVED, &d);
        assert_eq!((f[0].1, f[1].1), (Status::Fail, Status::Pass));
        d.secret_alerts = Fetched::Error(api_err(ApiErrorKind::ServerError, 503));
        assert_eq!(run(&SECRET_ALERTS_RESOLVED, &d)[0].1, Status::Error);
    }

    #[test]
    fn dependabot_enabled_and_sla() {
        let mut off = repo("off");
        off.vulnerability_alerts = Some(Fetched::Ok(false));
        let mut err = repo("err");
        err.vulnerability_alerts = Some(Fetched::Error(api_err(
            ApiErrorKind::InsufficientPermission,
            403,
        )));
        let mut d = data(vec![repo("api"), off, err]);
        let f = run(&DEPENDABOT_ALERTS_ENABLED, &d);
        assert_eq!(
            f.iter().map(|f| f.1).collect::<Vec<_>>(),
            vec![Status::Pass, Status::Fail, Status::Error]
        );
        let alert = |sev: &str, days: i64| DependabotAlert {
            repository: "api".into(),
            number: 1,
            state: "open".into(),
            severity: sev.into(),
            ghsa_id: "GHSA-x".into(),
            created_at: now() - Duration::days(days),
        };
        d.dependabot_alerts = Fetched::Ok(vec![alert("medium", 90), alert("high", 10)]);
        assert_eq!(run(&DEPENDABOT_ALERTS_WITHIN_SLA, &d)[0].1, Status::Pass);
        d.dependabot_alerts = Fetched::Ok(vec![alert("critical", 31)]);
        assert_eq!(run(&DEPENDABOT_ALERTS_WITHIN_SLA, &d)[0].1, Status::Fail);
        d.dependabot_alerts = Fetched::Error(api_err(ApiErrorKind::RateLimited, 429));
        assert_eq!(run(&DEPENDABOT_ALERTS_WITHIN_SLA, &d)[0].1, Status::Error);
    }

    #[test]
    fn repository_list_error_is_one_org_error() {
        let mut d = data(vec![]);
        d.repositories = Fetched::Error(api_err(ApiErrorKind::NotFound, 404));
        let f = run(&SECRET_SCANNING_ENABLED, &d);
        assert_eq!(
            f,
            vec![(
                "acme".to_string(),
                Status::Error,
                ReasonCode::GithubNotFound
            )]
        );
    }
}
