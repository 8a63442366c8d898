//! Bare repositories on disk (created lazily), git over smart HTTP through `git http-backend`,
//! push webhooks and the compare API.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::auth::{Credential, presented_secret};
use crate::model::*;
use crate::state::SimState;

/// The directory of one instance's bare repositories (`<id>.git`), removed with the instance.
#[derive(Debug, Clone)]
pub struct Repos {
    dir: Arc<tempfile::TempDir>,
    create: Arc<tokio::sync::Mutex<()>>,
}

impl Repos {
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            dir: Arc::new(tempfile::Builder::new().prefix("gitlab-sim-repos-").tempdir()?),
            create: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, id: ProjectId) -> PathBuf {
        self.dir.path().join(format!("{id}.git"))
    }

    pub fn exists(&self, id: ProjectId) -> bool {
        self.path(id).join("HEAD").exists()
    }

    /// Removes every repository (a new seed was loaded).
    pub fn clear(&self) {
        if let Ok(entries) = std::fs::read_dir(self.dir.path()) {
            for e in entries.flatten() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }

    /// Creates the bare repository of a project on first use, with its seeded files committed.
    pub async fn ensure(
        &self,
        id: ProjectId,
        default_branch: &str,
        files: &BTreeMap<String, String>,
    ) -> std::io::Result<PathBuf> {
        let path = self.path(id);
        if self.exists(id) {
            return Ok(path);
        }
        let _guard = self.create.lock().await;
        if self.exists(id) {
            return Ok(path);
        }
        let staging = self.dir.path().join(format!(".staging-{id}"));
        let _ = tokio::fs::remove_dir_all(&staging).await;
        if files.is_empty() {
            git(
                self.dir.path(),
                &[
                    "init",
                    "-q",
                    "--bare",
                    &format!("--initial-branch={default_branch}"),
                    &format!("{id}.git"),
                ],
            )
            .await?;
        } else {
            git(
                self.dir.path(),
                &[
                    "init",
                    "-q",
                    &format!("--initial-branch={default_branch}"),
                    &format!(".staging-{id}"),
                ],
            )
            .await?;
            for (name, content) in files {
                let rel = Path::new(name);
                if rel.is_absolute()
                    || rel
                        .components()
                        .any(|c| matches!(c, std::path::Component::ParentDir))
                {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "seed file path escapes the repository",
                    ));
                }
                let target = staging.join(rel);
                if let Some(parent) = target.parent() {
                    tokio::fs::create_dir_all(parent).await?;
                }
                tokio::fs::write(&target, content).await?;
            }
            git(&staging, &["add", "-A"]).await?;
            git(
                &staging,
                &[
                    "-c",
                    "user.name=Administrator",
                    "-c",
                    "user.email=admin@example.com",
                    "commit",
                    "-q",
                    "-m",
                    "Initial commit",
                ],
            )
            .await?;
            git(
                self.dir.path(),
                &[
                    "clone",
                    "-q",
                    "--bare",
                    &format!(".staging-{id}"),
                    &format!("{id}.git"),
                ],
            )
            .await?;
            git(&path, &["remote", "remove", "origin"]).await?;
            let _ = tokio::fs::remove_dir_all(&staging).await;
        }
        git(&path, &["config", "http.receivepack", "true"]).await?;
        Ok(path)
    }
}

/// Runs git in `dir` and returns stdout; a non-zero exit is an error carrying stderr.
pub async fn git(dir: &Path, args: &[&str]) -> std::io::Result<String> {
    let out = tokio::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .await?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "git {} failed: {}",
            args.first().copied().unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn ensure_project(state: &SimState, pid: ProjectId) -> std::io::Result<PathBuf> {
    let (branch, files) = state
        .read(|db| {
            db.projects
                .get(&pid)
                .map(|p| (p.default_branch.clone(), p.files.clone()))
        })
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "project"))?;
    state.inner.repos.ensure(pid, &branch, &files).await
}

fn text(status: StatusCode, body: &str) -> Response {
    let mut r = (status, body.to_owned()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn basic_challenge(body: &str) -> Response {
    let mut r = text(StatusCode::UNAUTHORIZED, body);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"GitLab\""),
    );
    r
}

const NOT_FOUND: &str =
    "The project you were looking for could not be found or you don't have permission to view it.";
const ACCESS_DENIED: &str = "HTTP Basic: Access denied. If a password was provided for Git authentication, the password was incorrect or you're required to use a token instead of a password. If a token was provided, it was either incorrect, expired, or improperly scoped. See http://docs.gitlab.com/help/topics/git/troubleshooting_git.md#error-on-git-fetch-http-basic-access-denied";

/// Who is pushing or fetching: the user, and whether the credential's scopes allow read / write.
struct GitCaller {
    user_id: UserId,
    admin: bool,
    can_read: bool,
    can_write: bool,
}

#[allow(
    clippy::result_large_err,
    reason = "the error is the finished response, built once"
)]
fn git_caller(state: &SimState, parts: &axum::http::request::Parts) -> Result<Option<GitCaller>, Response> {
    let Some(v) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    let username = v
        .strip_prefix("Basic ")
        .and_then(|b| base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(u, _)| u.to_owned()))
        .unwrap_or_default();
    let Some((secret, _)) = presented_secret(parts) else {
        return Ok(None);
    };
    let p =
        crate::auth::resolve(state, &secret, parts.uri.path()).map_err(|_| basic_challenge(ACCESS_DENIED))?;
    if matches!(p.credential, Credential::OAuth { .. }) && username != "oauth2" {
        return Err(basic_challenge(ACCESS_DENIED));
    }
    if username.trim().is_empty() && v.starts_with("Basic ") {
        return Err(basic_challenge(ACCESS_DENIED));
    }
    Ok(Some(GitCaller {
        user_id: p.user_id,
        admin: p.admin,
        can_read: p.has_any_scope(&["api", "read_repository", "write_repository"]),
        can_write: p.has_any_scope(&["api", "write_repository"]),
    }))
}

/// Splits `/group/project.git/info/refs` into the project path and the git service path.
fn split_git_path(path: &str) -> Option<(String, String)> {
    for suffix in ["/info/refs", "/git-upload-pack", "/git-receive-pack"] {
        if let Some(repo) = path.strip_suffix(suffix) {
            let repo = repo.trim_start_matches('/');
            let repo = repo.strip_suffix(".git").unwrap_or(repo);
            if repo.is_empty() {
                return None;
            }
            return Some((repo.to_owned(), suffix.to_owned()));
        }
    }
    None
}

/// Serves git smart HTTP for any project path; `None` when the path is not a git route.
pub async fn serve(state: SimState, req: axum::extract::Request) -> Option<Response> {
    let (parts, body) = req.into_parts();
    let (repo_path, service_path) = split_git_path(parts.uri.path())?;
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let push = service_path == "/git-receive-pack" || query.contains("service=git-receive-pack");
    Some(
        match serve_inner(&state, &parts, body, &repo_path, &service_path, &query, push).await {
            Ok(r) | Err(r) => r,
        },
    )
}

async fn serve_inner(
    state: &SimState,
    parts: &axum::http::request::Parts,
    body: Body,
    repo_path: &str,
    service_path: &str,
    query: &str,
    push: bool,
) -> Result<Response, Response> {
    let caller = git_caller(state, parts)?;
    let today = state.clock().today();
    let (pid, visibility, level) = state
        .read(|db| {
            let pid = db.project_id(repo_path)?;
            let p = db.projects.get(&pid)?;
            let level = caller.as_ref().map_or(0, |c| {
                if c.admin {
                    50
                } else {
                    db.project_level(c.user_id, pid, today)
                }
            });
            Some((pid, p.visibility, level))
        })
        .ok_or_else(|| {
            if caller.is_none() {
                basic_challenge(ACCESS_DENIED)
            } else {
                text(StatusCode::NOT_FOUND, NOT_FOUND)
            }
        })?;
    match &caller {
        None if push || visibility != Visibility::Public => return Err(basic_challenge(ACCESS_DENIED)),
        None => {}
        Some(c) => {
            if !c.can_read || (push && !c.can_write) {
                return Err(text(
                    StatusCode::FORBIDDEN,
                    "You are not allowed to download code from this project.",
                ));
            }
            if level < 20 && visibility == Visibility::Private {
                return Err(text(StatusCode::NOT_FOUND, NOT_FOUND));
            }
            if push && level < 30 {
                return Err(text(
                    StatusCode::FORBIDDEN,
                    "You are not allowed to push code to this project.",
                ));
            }
        }
    }
    let repo = ensure_project(state, pid).await.map_err(|e| {
        tracing::error!(error = %e, project = pid, "creating repository failed");
        text(StatusCode::INTERNAL_SERVER_ERROR, "500 Internal Server Error")
    })?;
    let body = axum::body::to_bytes(body, 512 * 1024 * 1024)
        .await
        .map_err(|_| text(StatusCode::BAD_REQUEST, "request body too large"))?;
    let before = if push && service_path == "/git-receive-pack" {
        Some(refs(&repo).await)
    } else {
        None
    };
    let resp = run_backend(state, parts, &format!("/{pid}.git{service_path}"), query, body).await?;
    if let (Some(before), Some(c)) = (before, caller) {
        let after = refs(&repo).await;
        let st = state.clone();
        tokio::spawn(async move { fire_push_hooks(st, pid, c.user_id, repo, before, after).await });
    }
    Ok(resp)
}

async fn run_backend(
    state: &SimState,
    parts: &axum::http::request::Parts,
    path_info: &str,
    query: &str,
    body: Bytes,
) -> Result<Response, Response> {
    let header_str = |n: &str| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", state.inner.repos.root())
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", state.inner.repos.root())
        .env("PATH_INFO", path_info)
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", header_str("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_USER", "gitlab-sim")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let enc = header_str("content-encoding");
    if !enc.is_empty() {
        cmd.env("HTTP_CONTENT_ENCODING", enc);
    }
    let proto = header_str("git-protocol");
    if !proto.is_empty() {
        cmd.env("GIT_PROTOCOL", proto);
    }
    let fail = |e: std::io::Error| {
        tracing::error!(error = %e, "git http-backend failed");
        text(StatusCode::INTERNAL_SERVER_ERROR, "500 Internal Server Error")
    };
    let mut child = cmd.spawn().map_err(fail)?;
    if let Some(mut stdin) = child.stdin.take() {
        let writer = tokio::spawn(async move {
            let _ = stdin.write_all(&body).await;
            let _ = stdin.shutdown().await;
        });
        let out = child.wait_with_output().await.map_err(fail)?;
        let _ = writer.await;
        return Ok(cgi_response(&out.stdout));
    }
    Err(text(
        StatusCode::INTERNAL_SERVER_ERROR,
        "500 Internal Server Error",
    ))
}

fn cgi_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((at, sep)) = split else {
        return text(StatusCode::BAD_GATEWAY, "502 Bad Gateway");
    };
    let head = String::from_utf8_lossy(raw.get(..at).unwrap_or_default()).into_owned();
    let body = raw.get(at + sep..).unwrap_or_default().to_vec();
    let mut status = StatusCode::OK;
    let mut headers = HeaderMap::new();
    for line in head.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("status") {
            if let Some(code) = v.split_whitespace().next().and_then(|c| c.parse::<u16>().ok()) {
                status = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
            }
        } else if let (Ok(name), Ok(val)) = (header::HeaderName::try_from(k.trim()), HeaderValue::from_str(v))
        {
            headers.append(name, val);
        }
    }
    let mut r = (status, body).into_response();
    *r.headers_mut() = headers;
    r
}

async fn refs(repo: &Path) -> BTreeMap<String, String> {
    git(repo, &["for-each-ref", "--format=%(objectname) %(refname)"])
        .await
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            l.split_once(' ')
                .map(|(sha, name)| (name.to_owned(), sha.to_owned()))
        })
        .collect()
}

const ZERO: &str = "0000000000000000000000000000000000000000";

/// GitLab's limit: a push changing more than this many refs fires no push hooks.
const PUSH_EVENT_HOOKS_LIMIT: usize = 3;
const MAX_HOOK_COMMITS: usize = 20;

async fn commit_json(repo: &Path, sha: &str, web: &str) -> Value {
    let meta = git(
        repo,
        &["show", "-s", "--format=%H%x00%an%x00%ae%x00%aI%x00%s%x00%B", sha],
    )
    .await
    .unwrap_or_default();
    let f: Vec<&str> = meta.splitn(6, '\0').collect();
    let get = |i: usize| f.get(i).copied().unwrap_or_default();
    let changes = git(
        repo,
        &[
            "diff-tree",
            "--no-commit-id",
            "-r",
            "--name-status",
            "--root",
            sha,
        ],
    )
    .await
    .unwrap_or_default();
    let (mut added, mut modified, mut removed) = (Vec::new(), Vec::new(), Vec::new());
    for line in changes.lines() {
        let mut it = line.split('\t');
        let (Some(kind), Some(path)) = (it.next(), it.next()) else {
            continue;
        };
        match kind.chars().next() {
            Some('A') => added.push(path.to_owned()),
            Some('D') => removed.push(path.to_owned()),
            _ => modified.push(path.to_owned()),
        }
    }
    json!({
        "id": get(0),
        "message": get(5).trim_end_matches('\n').to_owned() + "\n",
        "title": get(4),
        "timestamp": get(3),
        "url": format!("{web}/-/commit/{}", get(0)),
        "author": { "name": get(1), "email": get(2) },
        "added": added,
        "modified": modified,
        "removed": removed,
    })
}

async fn fire_push_hooks(
    state: SimState,
    pid: ProjectId,
    user_id: UserId,
    repo: PathBuf,
    before: BTreeMap<String, String>,
    after: BTreeMap<String, String>,
) {
    let mut changed: Vec<(String, String, String)> = Vec::new();
    for name in before.keys().chain(after.keys()) {
        let (b, a) = (before.get(name), after.get(name));
        if b != a && !changed.iter().any(|(n, _, _)| n == name) {
            changed.push((
                name.clone(),
                b.cloned().unwrap_or_else(|| ZERO.into()),
                a.cloned().unwrap_or_else(|| ZERO.into()),
            ));
        }
    }
    if changed.is_empty() || changed.len() > PUSH_EVENT_HOOKS_LIMIT {
        return;
    }
    let base = state.base_url();
    let Some((project, user, hooks)) = state.read(|db| {
        let p = db.projects.get(&pid)?.clone();
        let u = db.user(user_id)?.clone();
        // Hooks of the project, and of its group and every ancestor group.
        let mut owners = vec![HookOwner::Project(pid)];
        let mut group = match p.namespace {
            Namespace::Group(g) => Some(g),
            Namespace::User(_) => None,
        };
        while let Some(g) = group {
            owners.push(HookOwner::Group(g));
            group = db.groups.get(&g).and_then(|g| g.parent_id);
        }
        let hooks: Vec<Hook> = db
            .hooks
            .values()
            .filter(|h| owners.contains(&h.owner))
            .cloned()
            .collect();
        Some((p, u, hooks))
    }) else {
        return;
    };
    let web = format!("{base}/{}", project.full_path);
    for (refname, b, a) in changed {
        let tag = refname.starts_with("refs/tags/");
        if !tag && !refname.starts_with("refs/heads/") {
            continue;
        }
        let (commits, total) = if a == ZERO {
            (Vec::new(), 0)
        } else if tag {
            // A tag push carries the one commit the tag points at.
            let target = git(&repo, &["rev-parse", &format!("{a}^{{commit}}")])
                .await
                .unwrap_or_default();
            (vec![commit_json(&repo, target.trim(), &web).await], 1)
        } else {
            let range: Vec<String> = if b == ZERO {
                let mut v = vec![a.clone(), "--not".to_owned()];
                v.extend(
                    after
                        .iter()
                        .filter(|(n, _)| **n != refname && n.starts_with("refs/heads/"))
                        .map(|(_, s)| s.clone()),
                );
                v
            } else {
                vec![format!("{b}..{a}")]
            };
            let mut args = vec!["rev-list".to_owned()];
            args.extend(range.iter().cloned());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let all = git(&repo, &args).await.unwrap_or_default();
            let shas: Vec<&str> = all.lines().collect();
            let mut newest: Vec<&str> = shas.iter().take(MAX_HOOK_COMMITS).copied().collect();
            newest.reverse();
            let mut out = Vec::new();
            for sha in newest {
                out.push(commit_json(&repo, sha, &web).await);
            }
            (out, shas.len())
        };
        let event = if tag { "Tag Push Hook" } else { "Push Hook" };
        let payload = json!({
            "object_kind": if tag { "tag_push" } else { "push" },
            "event_name": if tag { "tag_push" } else { "push" },
            "before": b,
            "after": a,
            "ref": refname,
            "ref_protected": refname == format!("refs/heads/{}", project.default_branch),
            "checkout_sha": if a == ZERO { Value::Null } else { json!(a) },
            "message": Value::Null,
            "user_id": user.id,
            "user_name": user.name,
            "user_username": user.username,
            "user_email": user.public_email.clone().unwrap_or_else(|| "[REDACTED]".into()),
            "user_avatar": Value::Null,
            "project_id": project.id,
            "project": {
                "id": project.id,
                "name": project.name,
                "description": project.description,
                "web_url": web,
                "avatar_url": Value::Null,
                "git_ssh_url": format!("git@{}:{}.git", url::Url::parse(&base).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default(), project.full_path),
                "git_http_url": format!("{web}.git"),
                "namespace": project.name_with_namespace.rsplit_once(" / ").map(|(ns, _)| ns.to_owned()).unwrap_or_default(),
                "visibility_level": project.visibility.level(),
                "path_with_namespace": project.full_path,
                "default_branch": project.default_branch,
                "ci_config_path": Value::Null,
                "homepage": web,
                "url": format!("{web}.git"),
                "ssh_url": format!("{web}.git"),
                "http_url": format!("{web}.git"),
            },
            "commits": commits,
            "total_commits_count": total,
            "push_options": {},
            "repository": {
                "name": project.name,
                "url": format!("{web}.git"),
                "description": project.description,
                "homepage": web,
                "git_http_url": format!("{web}.git"),
                "git_ssh_url": format!("{web}.git"),
                "visibility_level": project.visibility.level(),
            },
        });
        let event_uuid = uuid::Uuid::new_v4().to_string();
        for h in hooks
            .iter()
            .filter(|h| if tag { h.tag_push_events } else { h.push_events })
        {
            deliver(&state, h, event, &event_uuid, &payload).await;
        }
    }
}

/// Sends one webhook and records the attempt.
pub async fn deliver(state: &SimState, hook: &Hook, event: &str, event_uuid: &str, payload: &Value) {
    let version = state.read(|db| db.settings.version.clone());
    let mut req = state
        .inner
        .http
        .post(&hook.url)
        .header("Content-Type", "application/json")
        .header("User-Agent", format!("GitLab/{version}"))
        .header("X-Gitlab-Event", event)
        .header("X-Gitlab-Event-UUID", event_uuid)
        .header("X-Gitlab-Webhook-UUID", &hook.uuid)
        .header("X-Gitlab-Instance", state.base_url())
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .body(payload.to_string());
    if let Some(t) = &hook.token {
        req = req.header("X-Gitlab-Token", t);
    }
    for (k, v) in &hook.custom_headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let (status, error) = match req.send().await {
        Ok(r) => (Some(r.status().as_u16()), None),
        Err(e) => (None, Some(e.without_url().to_string())),
    };
    state.write(|db| {
        db.deliveries.push(HookDelivery {
            hook_id: hook.id,
            event: event.to_owned(),
            event_uuid: event_uuid.to_owned(),
            body: payload.clone(),
            status,
            error,
        });
    });
}

/// `GET /projects/:id/repository/compare`.
pub async fn compare(
    state: &SimState,
    pid: ProjectId,
    from: &str,
    to: &str,
    straight: bool,
) -> Result<Value, crate::error::ApiError> {
    use crate::error::ApiError;
    let repo = ensure_project(state, pid)
        .await
        .map_err(|_| ApiError::message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"))?;
    let resolve = |r: String| {
        let repo = repo.clone();
        async move {
            git(
                &repo,
                &["rev-parse", "--verify", "--quiet", &format!("{r}^{{commit}}")],
            )
            .await
            .ok()
            .map(|s| s.trim().to_owned())
        }
    };
    let (Some(from_sha), Some(to_sha)) = (resolve(from.to_owned()).await, resolve(to.to_owned()).await)
    else {
        return Err(ApiError::not_found("Ref"));
    };
    let base_sha = if straight {
        from_sha.clone()
    } else {
        git(&repo, &["merge-base", &from_sha, &to_sha])
            .await
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| from_sha.clone())
    };
    let web = state
        .read(|db| {
            db.projects
                .get(&pid)
                .map(|p| format!("{}/{}", state.base_url(), p.full_path))
        })
        .unwrap_or_default();
    let log = git(
        &repo,
        &[
            "log",
            "--reverse",
            "--format=%H%x00%h%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%s%x00%B%x1e",
            &format!("{base_sha}..{to_sha}"),
        ],
    )
    .await
    .unwrap_or_default();
    let commits: Vec<Value> = log
        .split('\u{1e}')
        .map(|c| c.trim_start_matches('\n'))
        .filter(|c| !c.is_empty())
        .map(|c| {
            let f: Vec<&str> = c.splitn(11, '\0').collect();
            let g = |i: usize| f.get(i).copied().unwrap_or_default();
            json!({
                "id": g(0), "short_id": g(1), "created_at": g(8),
                "parent_ids": g(2).split_whitespace().collect::<Vec<_>>(),
                "title": g(9), "message": g(10),
                "author_name": g(3), "author_email": g(4), "authored_date": g(5),
                "committer_name": g(6), "committer_email": g(7), "committed_date": g(8),
                "trailers": {}, "extended_trailers": {},
                "web_url": format!("{web}/-/commit/{}", g(0)),
            })
        })
        .collect();
    let raw = git(
        &repo,
        &["diff", "--raw", "-z", "--no-renames", &base_sha, &to_sha],
    )
    .await
    .unwrap_or_default();
    let mut diffs = Vec::new();
    let mut it = raw.split('\0').filter(|s| !s.is_empty());
    while let (Some(meta), Some(path)) = (it.next(), it.next()) {
        let m: Vec<&str> = meta.trim_start_matches(':').split_whitespace().collect();
        let status = m.get(4).copied().unwrap_or("M");
        let patch = git(&repo, &["diff", &base_sha, &to_sha, "--", path])
            .await
            .unwrap_or_default();
        let body = patch
            .find("\n@@")
            .map(|i| patch.get(i + 1..).unwrap_or_default().to_owned())
            .unwrap_or_default();
        diffs.push(json!({
            "old_path": path, "new_path": path,
            "a_mode": m.first().copied().unwrap_or("0"), "b_mode": m.get(1).copied().unwrap_or("0"),
            "new_file": status == "A", "renamed_file": false, "deleted_file": status == "D",
            "generated_file": false,
            "diff": body,
        }));
    }
    let last = commits.last().cloned().unwrap_or(Value::Null);
    Ok(json!({
        "commit": last,
        "commits": commits,
        "diffs": diffs,
        "compare_timeout": false,
        "compare_same_ref": from_sha == to_sha,
        "web_url": format!("{web}/-/compare/{from_sha}...{to_sha}"),
    }))
}

pub(crate) fn is_git_request(method: &Method, path: &str) -> bool {
    (method == Method::GET || method == Method::POST) && split_git_path(path).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_paths_split_into_repository_and_service() {
        assert_eq!(
            split_git_path("/acme/platform/api.git/info/refs"),
            Some(("acme/platform/api".into(), "/info/refs".into()))
        );
        assert_eq!(
            split_git_path("/acme/api/git-receive-pack"),
            Some(("acme/api".into(), "/git-receive-pack".into()))
        );
        assert_eq!(split_git_path("/info/refs"), None);
        assert_eq!(split_git_path("/api/v4/user"), None);
    }

    #[test]
    fn cgi_headers_become_status_and_headers() {
        let r = cgi_response(b"Status: 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nno");
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(r.headers()["content-type"], "text/plain");
        let r = cgi_response(b"Content-Type: application/x-git-upload-pack-advertisement\n\n001e");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(cgi_response(b"garbage").status(), StatusCode::BAD_GATEWAY);
    }
}
