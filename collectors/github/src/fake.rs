//! A fake GitHub REST API for tests: a small HTTP/1.1 server on a free
//! loopback port that serves the DOCUMENTED example responses in
//! `fixtures/` (GitHub's OpenAPI examples, MIT licence, see
//! `fixtures/LICENSE-NOTE.md`) and the documented error statuses and bodies.
//! Large listings (hundreds of members and repositories) are built by
//! cloning the documented objects and changing names and the fields under
//! test, and are paged with `Link` headers that point back at this server.
//!
//! It is not a mock of our code: the collector talks to it over real HTTP
//! through octocrab, exactly as it talks to api.github.com.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{name}")).expect("fixture");
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// Repositories with a special behaviour (added when `specials` is set).
pub const SPECIAL_REPOS: &[&str] = &[
    "archived-repo",
    "empty-repo",
    "unprotected",
    "hidden-protection",
    "ruleset-only",
    "ruleset-bypass",
    "example-rules",
    "free-plan",
    "no-sa",
    "example-sa",
    "flaky",
    "malformed",
    "example-get",
    "no-dependabot",
];

/// What the fake organisation looks like.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Organisation login.
    pub org: String,
    /// Members; those with an even index have 2FA disabled.
    pub members: usize,
    /// Total repositories (generated `repo-NNN` plus [`SPECIAL_REPOS`] when `specials`).
    pub repos: usize,
    /// Include the special repositories.
    pub specials: bool,
    /// Token of an organisation owner.
    pub owner_token: String,
    /// Token of a plain member.
    pub member_token: String,
    /// Refuse the second page of repositories once with 429 + `retry-after: 7`,
    /// and the second page of 2FA-disabled members once with 403 + an exhausted
    /// `x-ratelimit-remaining`.
    pub rate_limit_once: bool,
    /// Misbehave like a broken proxy: answer every API request with 403
    /// and a `message` that echoes the `Authorization` header it was sent.
    pub echo_authorization: bool,
    /// Answer `GET /orgs/{org}/repos` with a truncated body.
    pub malformed_repo_list: bool,
}

impl Default for FakeConfig {
    fn default() -> FakeConfig {
        FakeConfig {
            org: "acme".into(),
            members: 300,
            repos: 250,
            specials: true,
            owner_token: "owner-token".into(),
            member_token: "member-token".into(),
            rate_limit_once: false,
            echo_authorization: false,
            malformed_repo_list: false,
        }
    }
}

/// A running fake server (it stops with the test process).
#[derive(Debug, Clone)]
pub struct FakeGithub {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Every request: `GET /path?query`.
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl FakeGithub {
    /// Start a server in a thread of its own.
    pub fn start(cfg: FakeConfig) -> io::Result<FakeGithub> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}", listener.local_addr()?);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(State {
            cfg,
            url: url.clone(),
            requests: requests.clone(),
            repos_limited: AtomicBool::new(false),
            members_limited: AtomicBool::new(false),
        });
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    let Ok((sock, _)) = listener.accept().await else {
                        continue;
                    };
                    let state = state.clone();
                    tokio::spawn(async move {
                        let _ = serve(sock, state).await;
                    });
                }
            });
        });
        Ok(FakeGithub { url, requests })
    }

    /// The requests seen so far.
    pub fn seen(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

struct State {
    cfg: FakeConfig,
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
    repos_limited: AtomicBool,
    members_limited: AtomicBool,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn reply(status: u16, body: &Value) -> Reply {
    Reply {
        status,
        headers: vec![(
            "content-type".into(),
            "application/json; charset=utf-8".into(),
        )],
        body: serde_json::to_vec(body).unwrap(),
    }
}

fn error(status: u16, message: &str, doc: &str) -> Reply {
    reply(
        status,
        &json!({"message": message, "documentation_url": doc, "status": status.to_string()}),
    )
}

async fn serve(mut sock: tokio::net::TcpStream, state: Arc<State>) -> io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut chunk).await?;
        if n == 0 || buf.len() > 65536 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let mut headers = BTreeMap::new();
    for l in lines.take_while(|l| !l.is_empty()) {
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    state
        .requests
        .lock()
        .unwrap()
        .push(format!("{method} {target}"));
    let r = route(&state, &method, &target, &headers);
    let reason = match r.status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        _ => "Error",
    };
    let mut out = format!("HTTP/1.1 {} {reason}\r\n", r.status);
    for (k, v) in &r.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        r.body.len()
    ));
    sock.write_all(out.as_bytes()).await?;
    sock.write_all(&r.body).await?;
    sock.shutdown().await
}

fn query(target: &str) -> (String, BTreeMap<String, String>) {
    let (path, q) = target.split_once('?').unwrap_or((target, ""));
    let map = q
        .split('&')
        .filter(|s| !s.is_empty())
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (path.to_string(), map)
}

/// One page of `items` with GitHub's `Link` header.
fn paged(state: &State, path: &str, q: &BTreeMap<String, String>, items: Vec<Value>) -> Reply {
    let per_page: usize = q
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page: usize = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut r = reply(200, &Value::Array(slice));
    let link_to = |p: usize| {
        let mut q = q.clone();
        q.insert("page".into(), p.to_string());
        let qs: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("<{}{}?{}>", state.url, path, qs.join("&"))
    };
    let mut links = Vec::new();
    if page < last {
        links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
        links.push(format!("{}; rel=\"last\"", link_to(last)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", link_to(page - 1)));
        links.push(format!("{}; rel=\"first\"", link_to(1)));
    }
    if !links.is_empty() {
        r.headers.push(("link".into(), links.join(", ")));
    }
    r
}

fn user(login: &str, id: usize) -> Value {
    let mut u = fixture("orgs_members_200.json")[0].clone();
    u["login"] = json!(login);
    u["id"] = json!(id);
    u
}

fn repo_names(cfg: &FakeConfig) -> Vec<String> {
    let specials: Vec<String> = if cfg.specials {
        SPECIAL_REPOS.iter().map(|s| s.to_string()).collect()
    } else {
        vec![]
    };
    let generated = cfg.repos.saturating_sub(specials.len());
    (0..generated)
        .map(|i| format!("repo-{i:03}"))
        .chain(specials)
        .collect()
}

fn repo_object(cfg: &FakeConfig, name: &str) -> Value {
    let mut r = fixture("orgs_repos_200.json")[0].clone();
    r["name"] = json!(name);
    r["full_name"] = json!(format!("{}/{name}", cfg.org));
    r["default_branch"] = json!("main");
    r["archived"] = json!(name == "archived-repo");
    r["security_and_analysis"]["secret_scanning_push_protection"]["status"] = json!("enabled");
    match name {
        "no-sa" => {
            r.as_object_mut().unwrap().remove("security_and_analysis");
        }
        "example-sa" => {
            r["security_and_analysis"] =
                fixture("orgs_repos_200.json")[0]["security_and_analysis"].clone();
        }
        "free-plan" => {
            r["private"] = json!(true);
            r["visibility"] = json!("private");
            let sa = r["security_and_analysis"].as_object_mut().unwrap();
            sa.remove("secret_scanning");
            sa.remove("secret_scanning_push_protection");
            sa.remove("advanced_security");
        }
        _ => {}
    }
    r
}

fn route(state: &State, method: &str, target: &str, headers: &BTreeMap<String, String>) -> Reply {
    let cfg = &state.cfg;
    if headers.get("x-github-api-version").map(String::as_str) != Some("2022-11-28") {
        return error(
            400,
            "X-GitHub-Api-Version header missing or unsupported",
            "",
        );
    }
    let token = headers
        .get("authorization")
        .and_then(|a| {
            a.strip_prefix("Bearer ")
                .or_else(|| a.strip_prefix("token "))
        })
        .unwrap_or_default();
    let (path_only, _) = query(target);
    if cfg.echo_authorization {
        let sent = headers.get("authorization").cloned().unwrap_or_default();
        return error(403, &format!("Forbidden: bad credentials {sent}"), "");
    }
    if method == "POST"
        && path_only.starts_with("/app/installations/")
        && path_only.ends_with("/access_tokens")
    {
        // GitHub App: a JWT (header.payload.signature, RS256) buys an
        // installation token (documented 201 response shape).
        let parts: Vec<&str> = token.split('.').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
            return error(
                401,
                "A JSON web token could not be decoded",
                "https://docs.github.com/rest",
            );
        }
        state.requests.lock().unwrap().push("JWT accepted".into());
        let r = reply(
            201,
            &json!({"token": cfg.owner_token, "expires_at": "2099-01-01T00:00:00Z",
                    "permissions": {"members": "read", "administration": "read"},
                    "repository_selection": "all"}),
        );
        return r;
    }
    let owner = if token == cfg.owner_token {
        true
    } else if token == cfg.member_token {
        false
    } else {
        return error(401, "Bad credentials", "https://docs.github.com/rest");
    };
    if method != "GET" {
        return error(404, "Not Found", "https://docs.github.com/rest");
    }
    let (path, q) = query(target);
    let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let org = cfg.org.as_str();
    let not_found = || error(404, "Not Found", "https://docs.github.com/rest");
    match seg.as_slice() {
        ["orgs", o] if *o == org => {
            let mut v = fixture("orgs_get_200.json");
            v["login"] = json!(org);
            if !owner {
                // Settings shown to owners only are absent for members.
                let m = v.as_object_mut().unwrap();
                for k in ["two_factor_requirement_enabled", "billing_email", "plan"] {
                    m.remove(k);
                }
            }
            reply(200, &v)
        }
        ["orgs", o, "members"] if *o == org => {
            if q.get("filter").map(String::as_str) == Some("2fa_disabled") {
                if !owner {
                    let body = std::fs::read(format!(
                        "{FIXTURES}/observed/members_2fa_filter_non_owner_error.json"
                    ))
                    .unwrap();
                    return Reply {
                        status: 422,
                        headers: vec![("content-type".into(), "application/json".into())],
                        body,
                    };
                }
                if cfg.rate_limit_once
                    && q.get("page").map(String::as_str) == Some("2")
                    && !state.members_limited.swap(true, Ordering::SeqCst)
                {
                    let reset = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs()
                        + 30;
                    let mut r = error(
                        403,
                        "API rate limit exceeded for user ID 1.",
                        "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
                    );
                    r.headers.push(("x-ratelimit-remaining".into(), "0".into()));
                    r.headers.push(("x-ratelimit-limit".into(), "5000".into()));
                    r.headers
                        .push(("x-ratelimit-reset".into(), reset.to_string()));
                    return r;
                }
                let users = (0..cfg.members)
                    .filter(|i| i % 2 == 0)
                    .map(|i| user(&format!("member-{i:03}"), 1000 + i))
                    .collect();
                return paged(state, &path, &q, users);
            }
            if q.get("role").map(String::as_str) == Some("admin") {
                let owners = (1..=3).map(|i| user(&format!("owner-{i}"), i)).collect();
                return paged(state, &path, &q, owners);
            }
            let all = (0..cfg.members)
                .map(|i| user(&format!("member-{i:03}"), 1000 + i))
                .collect();
            paged(state, &path, &q, all)
        }
        ["orgs", o, "outside_collaborators"] if *o == org => {
            if !owner {
                return error(422, "Only owners can use this filter.", "");
            }
            paged(
                state,
                &path,
                &q,
                fixture("orgs_members_200.json").as_array().unwrap().clone(),
            )
        }
        ["orgs", o, "repos"] if *o == org => {
            if cfg.malformed_repo_list {
                return Reply {
                    status: 200,
                    headers: vec![("content-type".into(), "application/json".into())],
                    body: b"[{\"id\": 1, \"name\": \"trunc".to_vec(),
                };
            }
            if cfg.rate_limit_once
                && q.get("page").map(String::as_str) == Some("2")
                && !state.repos_limited.swap(true, Ordering::SeqCst)
            {
                let mut r = error(
                    429,
                    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                );
                r.headers.push(("retry-after".into(), "7".into()));
                return r;
            }
            let repos = repo_names(cfg)
                .iter()
                .map(|n| repo_object(cfg, n))
                .collect();
            paged(state, &path, &q, repos)
        }
        ["orgs", o, "secret-scanning", "alerts"] if *o == org => {
            // The documented (resolved) alert, plus an open one on repo-001 from 2020.
            let doc = fixture("orgs_secret_scanning_alerts_200.json");
            let mut open = doc[0].clone();
            open["state"] = json!("open");
            open["number"] = json!(7);
            open["resolution"] = Value::Null;
            open["resolved_at"] = Value::Null;
            open["repository"]["name"] = json!("repo-001");
            open["repository"]["full_name"] = json!(format!("{org}/repo-001"));
            let mut items = doc.as_array().unwrap().clone();
            items.push(open);
            paged(state, &path, &q, items)
        }
        ["orgs", o, "dependabot", "alerts"] if *o == org => {
            if q.contains_key("page") {
                let body = std::fs::read(format!(
                    "{FIXTURES}/observed/dependabot_alerts_page_param_400.json"
                ))
                .unwrap();
                return Reply {
                    status: 400,
                    headers: vec![("content-type".into(), "application/json".into())],
                    body,
                };
            }
            // Two cursor pages: the documented alerts, then an open critical one on repo-002.
            match q.get("after").map(String::as_str) {
                None => {
                    let mut r = reply(200, &fixture("orgs_dependabot_alerts_200.json"));
                    r.headers.push((
                        "link".into(),
                        format!(
                            "<{}{}?per_page=100&state=open&after=Y3Vyc29yOjI>; rel=\"next\"",
                            state.url, path
                        ),
                    ));
                    r
                }
                Some("Y3Vyc29yOjI") => {
                    let mut a = fixture("orgs_dependabot_alerts_200.json")[0].clone();
                    a["state"] = json!("open");
                    a["number"] = json!(9);
                    a["security_advisory"]["severity"] = json!("critical");
                    a["repository"]["name"] = json!("repo-002");
                    a["created_at"] = json!("2022-01-10T00:00:00Z");
                    reply(200, &json!([a]))
                }
                Some(_) => error(400, "Invalid cursor", ""),
            }
        }
        ["repos", o, name, rest @ ..] if *o == org => {
            let name = *name;
            if !repo_names(cfg).iter().any(|n| n == name) {
                return not_found();
            }
            repo_route(org, name, rest, owner)
        }
        _ => not_found(),
    }
}

fn repo_route(org: &str, name: &str, rest: &[&str], owner: bool) -> Reply {
    let not_protected = || {
        error(
            404,
            "Branch not protected",
            "https://docs.github.com/rest/branches/branch-protection#get-branch-protection",
        )
    };
    match rest {
        ["vulnerability-alerts"] => match name {
            "no-dependabot" => error(404, "Vulnerability alerts are disabled.", ""),
            "flaky" => error(500, "Server Error", ""),
            _ => Reply {
                status: 204,
                headers: vec![],
                body: vec![],
            },
        },
        ["branches", "main"] => {
            if name == "empty-repo" {
                return error(
                    404,
                    "Branch not found",
                    "https://docs.github.com/rest/branches/branches#get-a-branch",
                );
            }
            let protected = !matches!(name, "unprotected" | "example-rules");
            reply(
                200,
                &json!({"name": "main", "protected": protected, "protection_url": format!("/repos/x/{name}/branches/main/protection")}),
            )
        }
        ["branches", "main", "protection"] => match name {
            "unprotected" | "hidden-protection" | "ruleset-only" | "ruleset-bypass"
            | "example-rules" => not_protected(),
            "free-plan" => error(
                403,
                "Upgrade to GitHub Pro or make this repository public to enable this feature.",
                "https://docs.github.com/rest/branches/branch-protection#get-branch-protection",
            ),
            "malformed" => Reply {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: b"<html>gateway</html>".to_vec(),
            },
            "example-get" => reply(200, &fixture("repos_branch_protection_200.json")),
            _ => {
                let mut p = fixture("repos_branch_protection_put_200.json");
                p["allow_force_pushes"]["enabled"] = json!(false);
                p["allow_deletions"]["enabled"] = json!(false);
                reply(200, &p)
            }
        },
        ["rulesets", id] => {
            // The documented ruleset shape; bypass_actors is shown to
            // those who may edit the ruleset (here: owners).
            let id: u64 = id.parse().unwrap_or(0);
            let mut v = json!({
                "id": id, "name": format!("ruleset {id}"), "target": "branch",
                "source_type": "Organization", "source": org, "enforcement": "active",
                "node_id": "RRS_lACkVXNlcgQB",
                "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
                "rules": [{"type": "pull_request"}, {"type": "non_fast_forward"}, {"type": "deletion"}],
                "created_at": "2023-07-15T08:43:03Z", "updated_at": "2023-08-23T16:29:47Z"
            });
            if owner {
                v["bypass_actors"] = if id == 74 {
                    json!([{"actor_id": 5, "actor_type": "RepositoryRole", "bypass_mode": "always"}])
                } else {
                    json!([])
                };
            }
            reply(200, &v)
        }
        ["rules", "branches", "main"] if name == "ruleset-bypass" => reply(
            200,
            &json!([
                {"type": "pull_request", "ruleset_source_type": "Organization", "ruleset_source": org, "ruleset_id": 74,
                 "parameters": {"required_approving_review_count": 1, "dismiss_stale_reviews_on_push": true,
                                "require_code_owner_review": false, "require_last_push_approval": false,
                                "required_review_thread_resolution": false}},
                {"type": "non_fast_forward", "ruleset_source_type": "Organization", "ruleset_source": org, "ruleset_id": 74},
                {"type": "deletion", "ruleset_source_type": "Organization", "ruleset_source": org, "ruleset_id": 74}
            ]),
        ),
        ["rules", "branches", "main"] => match name {
            "ruleset-only" => reply(
                200,
                &json!([
                    {"type": "pull_request", "ruleset_source_type": "Organization", "ruleset_source": "acme", "ruleset_id": 73,
                     "parameters": {"required_approving_review_count": 2, "dismiss_stale_reviews_on_push": true,
                                    "require_code_owner_review": false, "require_last_push_approval": false,
                                    "required_review_thread_resolution": false}},
                    {"type": "non_fast_forward", "ruleset_source_type": "Organization", "ruleset_source": "acme", "ruleset_id": 73},
                    {"type": "deletion", "ruleset_source_type": "Organization", "ruleset_source": "acme", "ruleset_id": 73}
                ]),
            ),
            "example-rules" => reply(200, &fixture("repos_rules_branch_200.json")),
            _ => reply(200, &json!([])),
        },
        _ => error(404, "Not Found", "https://docs.github.com/rest"),
    }
}
