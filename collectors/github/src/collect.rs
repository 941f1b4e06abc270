//! Reading one organisation into its two observations.

use chrono::{DateTime, Utc};
use evident_policies::github::{
    org, repos, ApiError, ApiErrorKind, BranchRules, DependabotAlert, Fetched, OrgObservation,
    RepoState, RepoThresholds, ReposObservation, SecretAlert, SecurityAndAnalysis,
};
use evident_policies::{Observation, Target, TargetKind};
use std::collections::HashMap;

use http::StatusCode;
use serde_json::Value;

use crate::client::{api_error, classify, segment, Api};
use crate::{GithubError, GithubSettings};

/// Both observations of `org`.
pub async fn organisation(
    api: &Api,
    settings: &GithubSettings,
    org_login: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Observation>, GithubError> {
    let o = segment(org_login);
    let target = Target {
        kind: TargetKind::Organisation,
        id: org_login.to_string(),
    };

    let two_factor = {
        let endpoint = format!("/orgs/{o}");
        let resp = api.get(&endpoint).await?;
        if resp.status == StatusCode::OK {
            match serde_json::from_slice::<Value>(&resp.body) {
                Ok(Value::Object(m)) => match m.get("two_factor_requirement_enabled") {
                    None | Some(Value::Null) => Fetched::Ok(None),
                    Some(Value::Bool(b)) => Fetched::Ok(Some(*b)),
                    Some(_) => Fetched::Error(malformed(
                        &endpoint,
                        "two_factor_requirement_enabled is not a boolean",
                    )),
                },
                _ => Fetched::Error(malformed(&endpoint, "expected a JSON object")),
            }
        } else {
            Fetched::Error(classify(&resp, &endpoint))
        }
    };
    let members_2fa = logins(
        api,
        &format!("/orgs/{o}/members?filter=2fa_disabled&per_page=100"),
    )
    .await?;
    let outside_2fa = logins(
        api,
        &format!("/orgs/{o}/outside_collaborators?filter=2fa_disabled&per_page=100"),
    )
    .await?;
    let owners = logins(api, &format!("/orgs/{o}/members?role=admin&per_page=100")).await?;
    let org_obs = OrgObservation {
        org: org_login.to_string(),
        two_factor_requirement_enabled: two_factor,
        members_2fa_disabled: members_2fa,
        outside_collaborators_2fa_disabled: outside_2fa,
        owners,
        max_owners: settings.max_owners,
    };

    let repositories = match api
        .get_all(&format!("/orgs/{o}/repos?type=all&per_page=100"))
        .await?
    {
        Err(e) => Fetched::Error(e),
        Ok(items) => {
            let mut list = Vec::with_capacity(items.len());
            let mut bad = None;
            for item in &items {
                match parse_repo(item) {
                    Some(r) => list.push(r),
                    None => {
                        bad = Some(malformed(
                            &format!("/orgs/{o}/repos"),
                            "a repository lacks name, archived or default_branch",
                        ));
                        break;
                    }
                }
            }
            match bad {
                Some(e) => Fetched::Error(e),
                None => {
                    let mut bypass = HashMap::new();
                    for r in &mut list {
                        repo_details(api, &o, r, &mut bypass).await?;
                    }
                    Fetched::Ok(list)
                }
            }
        }
    };

    let secret_alerts = match api
        .get_all(&format!(
            "/orgs/{o}/secret-scanning/alerts?state=open&per_page=100"
        ))
        .await?
    {
        Err(e) => Fetched::Error(e),
        Ok(items) => flatten(collect_items(
            &items,
            &format!("/orgs/{o}/secret-scanning/alerts"),
            parse_secret_alert,
        )),
    };
    // Cursor paging only: the first request has no `page=`, later ones follow rel="next".
    let dependabot_alerts = match api
        .get_all(&format!(
            "/orgs/{o}/dependabot/alerts?state=open&per_page=100"
        ))
        .await?
    {
        Err(e) => Fetched::Error(e),
        Ok(items) => flatten(collect_items(
            &items,
            &format!("/orgs/{o}/dependabot/alerts"),
            parse_dependabot_alert,
        )),
    };

    let repos_obs = ReposObservation {
        org: org_login.to_string(),
        thresholds: RepoThresholds {
            min_approvals: settings.min_approvals,
            require_signed_commits: settings.require_signed_commits,
            secret_alert_max_age_days: settings.secret_alert_max_age_days,
            dependabot_alert_sla_days: settings.dependabot_alert_sla_days,
        },
        repositories,
        secret_alerts,
        dependabot_alerts,
    };
    Ok(vec![
        Observation::new(org::SOURCE, target.clone(), now, &org_obs),
        Observation::new(repos::SOURCE, target, now, &repos_obs),
    ])
}

fn malformed(endpoint: &str, what: &str) -> ApiError {
    api_error(
        ApiErrorKind::Malformed,
        Some(200),
        endpoint,
        what.to_string(),
    )
}

/// Every `login` of a user listing.
async fn logins(api: &Api, path: &str) -> Result<Fetched<Vec<String>>, GithubError> {
    let endpoint = crate::client::strip_query(path).to_string();
    Ok(match api.get_all(path).await? {
        Err(e) => Fetched::Error(e),
        Ok(items) => collect_items(&items, &endpoint, |v| {
            v.get("login").and_then(Value::as_str).map(str::to_string)
        }),
    })
}

fn collect_items<T>(
    items: &[Value],
    endpoint: &str,
    parse: impl Fn(&Value) -> Option<T>,
) -> Fetched<Vec<T>> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match parse(item) {
            Some(t) => out.push(t),
            None => return Fetched::Error(malformed(endpoint, "an item lacks a required field")),
        }
    }
    Fetched::Ok(out)
}

fn flatten<T>(f: Fetched<Vec<Option<T>>>) -> Fetched<Vec<T>> {
    match f {
        Fetched::Ok(v) => Fetched::Ok(v.into_iter().flatten().collect()),
        Fetched::Error(e) => Fetched::Error(e),
        // Invariant: `Fetched` has these two variants; a new one is an error here.
        #[allow(unreachable_patterns)]
        _ => Fetched::Error(malformed("", "unexpected value")),
    }
}

fn status_of(v: &Value, key: &str) -> Option<String> {
    v.get(key)?.get("status")?.as_str().map(str::to_string)
}

fn parse_repo(v: &Value) -> Option<RepoState> {
    let visibility = match v.get("visibility").and_then(Value::as_str) {
        Some(s) => s.to_string(),
        None => if v.get("private")?.as_bool()? {
            "private"
        } else {
            "public"
        }
        .to_string(),
    };
    let security_and_analysis = match v.get("security_and_analysis") {
        None | Some(Value::Null) => None,
        Some(sa) => Some(SecurityAndAnalysis {
            secret_scanning: status_of(sa, "secret_scanning"),
            push_protection: status_of(sa, "secret_scanning_push_protection"),
        }),
    };
    Some(RepoState {
        name: v.get("name")?.as_str()?.to_string(),
        archived: v.get("archived")?.as_bool()?,
        visibility,
        default_branch: v.get("default_branch")?.as_str()?.to_string(),
        empty: false,
        branch_protected_flag: None,
        protection: None,
        rules: None,
        security_and_analysis,
        vulnerability_alerts: None,
    })
}

/// Per-repository reads: branch, protection, rules, vulnerability alerts.
async fn repo_details(
    api: &Api,
    o: &str,
    r: &mut RepoState,
    bypass: &mut HashMap<u64, Option<bool>>,
) -> Result<(), GithubError> {
    if r.archived {
        return Ok(());
    }
    let base = format!("/repos/{o}/{}", segment(&r.name));
    let b = segment(&r.default_branch);

    let endpoint = format!("{base}/vulnerability-alerts");
    let resp = api.get(&endpoint).await?;
    r.vulnerability_alerts = Some(match resp.status.as_u16() {
        204 => Fetched::Ok(true),
        // 404 means "not enabled" here, unless GitHub says why otherwise.
        404 => match classify(&resp, &endpoint) {
            e if e.kind == ApiErrorKind::UnavailableOnPlan => Fetched::Error(e),
            _ => Fetched::Ok(false),
        },
        _ => Fetched::Error(classify(&resp, &endpoint)),
    });

    let endpoint = format!("{base}/branches/{b}");
    let resp = api.get(&endpoint).await?;
    match resp.status.as_u16() {
        200 => {
            let flag = serde_json::from_slice::<Value>(&resp.body)
                .ok()
                .and_then(|v| v.get("protected").and_then(Value::as_bool));
            match flag {
                Some(f) => r.branch_protected_flag = Some(f),
                None => {
                    let e = malformed(&endpoint, "branch body lacks the protected flag");
                    r.protection = Some(Fetched::Error(e));
                    return Ok(());
                }
            }
        }
        404 => {
            r.empty = true;
            return Ok(());
        }
        _ => {
            r.protection = Some(Fetched::Error(classify(&resp, &endpoint)));
            return Ok(());
        }
    }

    let endpoint = format!("{base}/branches/{b}/protection");
    let resp = api.get(&endpoint).await?;
    r.protection = Some(if resp.status == StatusCode::OK {
        match serde_json::from_slice::<Value>(&resp.body) {
            Ok(v @ Value::Object(_)) => Fetched::Ok(protection_rules(&v)),
            _ => Fetched::Error(malformed(
                &endpoint,
                "branch protection body is not a JSON object",
            )),
        }
    } else {
        Fetched::Error(classify(&resp, &endpoint))
    });

    let endpoint = format!("{base}/rules/branches/{b}?per_page=100");
    r.rules = Some(match api.get_all(&endpoint).await? {
        Err(e) => Fetched::Error(e),
        Ok(items) => {
            let mut rules = ruleset_rules(&items);
            if !rules.is_empty() {
                rules.admins_included = admins_bound(api, &base, &items, bypass).await?;
            }
            Fetched::Ok(rules)
        }
    });
    Ok(())
}

/// Whether nobody may bypass the rulesets the rules come from: each
/// ruleset's `bypass_actors` (`GET /repos/{o}/{r}/rulesets/{id}`), empty =
/// everyone is bound, admins included. `None` when any ruleset does not show
/// its bypass actors to this token. Rulesets are read once per run.
async fn admins_bound(
    api: &Api,
    base: &str,
    items: &[Value],
    cache: &mut HashMap<u64, Option<bool>>,
) -> Result<Option<bool>, GithubError> {
    let mut ids: Vec<u64> = items
        .iter()
        .filter_map(|r| r.get("ruleset_id").and_then(Value::as_u64))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(None);
    }
    let mut all_bound = true;
    for id in ids {
        let bound = match cache.get(&id) {
            Some(b) => *b,
            None => {
                let resp = api.get(&format!("{base}/rulesets/{id}")).await?;
                let b = if resp.status == StatusCode::OK {
                    serde_json::from_slice::<Value>(&resp.body)
                        .ok()
                        .and_then(|v| {
                            v.get("bypass_actors")
                                .and_then(Value::as_array)
                                .map(Vec::is_empty)
                        })
                } else {
                    None
                };
                cache.insert(id, b);
                b
            }
        };
        match bound {
            Some(false) => return Ok(Some(false)),
            Some(true) => {}
            None => all_bound = false,
        }
    }
    Ok(all_bound.then_some(true))
}

fn enabled(v: &Value, key: &str) -> Option<bool> {
    v.get(key)?.get("enabled")?.as_bool()
}

/// What a classic branch protection enforces. Absent settings count as not
/// enforced, except `required_signatures`, which the GET response may omit.
fn protection_rules(v: &Value) -> BranchRules {
    let reviews = v
        .get("required_pull_request_reviews")
        .filter(|r| r.is_object());
    BranchRules {
        pull_request_reviews_required: reviews.is_some(),
        required_approvals: reviews
            .and_then(|r| r.get("required_approving_review_count"))
            .and_then(Value::as_u64)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .unwrap_or(0),
        dismiss_stale_reviews: reviews
            .and_then(|r| r.get("dismiss_stale_reviews"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        admins_included: Some(enabled(v, "enforce_admins").unwrap_or(false)),
        force_pushes_blocked: enabled(v, "allow_force_pushes")
            .map(|a| !a)
            .unwrap_or(false),
        deletions_blocked: enabled(v, "allow_deletions").map(|a| !a).unwrap_or(false),
        signed_commits_required: enabled(v, "required_signatures"),
    }
}

/// What the active ruleset rules for a branch enforce. Whether admins may
/// bypass them is not part of this response.
fn ruleset_rules(items: &[Value]) -> BranchRules {
    let mut out = BranchRules {
        signed_commits_required: Some(false),
        ..BranchRules::default()
    };
    for rule in items {
        let params = rule.get("parameters");
        match rule.get("type").and_then(Value::as_str) {
            Some("pull_request") => {
                out.pull_request_reviews_required = true;
                let n = params
                    .and_then(|p| p.get("required_approving_review_count"))
                    .and_then(Value::as_u64)
                    .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
                    .unwrap_or(0);
                out.required_approvals = out.required_approvals.max(n);
                if params
                    .and_then(|p| p.get("dismiss_stale_reviews_on_push"))
                    .and_then(Value::as_bool)
                    == Some(true)
                {
                    out.dismiss_stale_reviews = true;
                }
            }
            Some("non_fast_forward") => out.force_pushes_blocked = true,
            Some("deletion") => out.deletions_blocked = true,
            Some("required_signatures") => out.signed_commits_required = Some(true),
            _ => {}
        }
    }
    if !out.is_empty() {
        out.admins_included = None;
    }
    out
}

fn time(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    v.get(key)?.as_str()?.parse().ok()
}

fn repo_name(v: &Value) -> Option<String> {
    v.get("repository")?
        .get("name")?
        .as_str()
        .map(str::to_string)
}

/// `None` for a malformed item; resolved alerts are skipped by the caller's
/// `state=open` query and, should they appear anyway, filtered here.
fn parse_secret_alert(v: &Value) -> Option<Option<SecretAlert>> {
    let state = v.get("state")?.as_str()?;
    if state != "open" {
        return Some(None);
    }
    Some(Some(SecretAlert {
        repository: repo_name(v)?,
        number: v.get("number")?.as_u64()?,
        secret_type: v.get("secret_type")?.as_str()?.to_string(),
        created_at: time(v, "created_at")?,
    }))
}

fn parse_dependabot_alert(v: &Value) -> Option<Option<DependabotAlert>> {
    let adv = v.get("security_advisory")?;
    Some(Some(DependabotAlert {
        repository: repo_name(v)?,
        number: v.get("number")?.as_u64()?,
        state: v.get("state")?.as_str()?.to_string(),
        severity: adv.get("severity")?.as_str()?.to_string(),
        ghsa_id: adv.get("ghsa_id")?.as_str()?.to_string(),
        created_at: time(v, "created_at")?,
    }))
}
