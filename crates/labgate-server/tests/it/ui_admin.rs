//! The tenant administration pages in process: GitLab instances, API keys, jobs and the audit
//! log. Every form refuses a request without a session (401) or without its token (403), an id
//! of another tenant (404) and a role that may not use it (403), and changes nothing then.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use labgate_core::auth::{Actor, NewUserRequest};
use labgate_core::jobs::{JobKind, JobSpec, Progress};
use labgate_proto::api_keys::Role;
use labgate_proto::instances::CreateGitLabInstanceRequest;
use labgate_testkit::sim::standard_seed;
use labgate_testkit::{Reply, TestEnv};
use secrecy::SecretString;
use serde_json::json;

const PASSWORD: &str = "a long enough password";
const ADMIN: &str = "admin@acme.example";
const MEMBER: &str = "member@acme.example";

fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

fn set_cookie(reply: &Reply, name: &str) -> Option<String> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&format!("{name}=")))
        .map(|value| value.split(';').next().unwrap_or_default().to_owned())
}

/// The value of the first hidden `csrf_token` field of a page.
fn form_token(page: &str) -> String {
    let start = page
        .find(r#"name="csrf_token" value=""#)
        .expect("the page carries a form token")
        + 25;
    page[start..].split('"').next().unwrap().to_owned()
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn get(path: &str, cookies: &str) -> Request<Body> {
    Request::get(path)
        .header("cookie", cookies)
        .body(Body::empty())
        .unwrap()
}

fn post(path: &str, cookies: &str, form: &str) -> Request<Body> {
    Request::post(path)
        .header("cookie", cookies)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap()
}

/// A person who logs in to the web UI.
struct Person {
    cookie: String,
    token: String,
}

impl Person {
    async fn post(&self, env: &TestEnv, path: &str, form: &str) -> Reply {
        let body = if form.is_empty() {
            format!("csrf_token={}", encode(&self.token))
        } else {
            format!("csrf_token={}&{form}", encode(&self.token))
        };
        env.send(post(path, &self.cookie, &body)).await
    }

    async fn get(&self, env: &TestEnv, path: &str) -> Reply {
        env.send(get(path, &self.cookie)).await
    }
}

async fn log_in(env: &TestEnv, tenant: &labgate_core::tenants::Tenant, email: &str, role: Role) -> Person {
    env.services
        .users
        .create(
            &tenant.id,
            &Actor::Cli,
            None,
            NewUserRequest {
                email,
                role,
                password: Some(SecretString::from(PASSWORD)),
            },
        )
        .await
        .unwrap();
    let form = env.send(get("/login", "")).await;
    let login_cookie = set_cookie(&form, "labgate_login_csrf").expect("a login token cookie");
    let reply = env
        .send(post(
            "/login",
            &login_cookie,
            &format!(
                "csrf_token={}&email={}&password={}",
                encode(&form_token(&text(&form))),
                encode(email),
                encode(PASSWORD)
            ),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", text(&reply));
    let cookie = set_cookie(&reply, "labgate_session").expect("a session cookie");
    let page = env.send(get("/organization/jobs", &cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", text(&page));
    Person {
        token: form_token(&text(&page)),
        cookie,
    }
}

async fn instance(env: &TestEnv, principal: &labgate_core::auth::Principal, url: &str) -> String {
    env.services
        .instances
        .create(
            principal,
            CreateGitLabInstanceRequest {
                url: url.to_owned(),
                kind: None,
                oauth_client_id: Some("app-id".to_owned()),
                oauth_client_secret: Some("gloas-a-secret-of-theirs".to_owned()),
                ca_bundle: None,
                proxy_url: None,
            },
        )
        .await
        .unwrap()
        .id
}

async fn key_id(env: &TestEnv, principal: &labgate_core::auth::Principal, name: &str) -> String {
    env.services
        .api_keys
        .create_for(principal, name, Role::Reader, None)
        .await
        .unwrap()
        .view
        .id
}

async fn is_revoked(env: &TestEnv, principal: &labgate_core::auth::Principal, id: &str) -> bool {
    env.services
        .api_keys
        .get(principal, id)
        .await
        .unwrap()
        .revoked_at
        .is_some()
}

async fn instance_count(env: &TestEnv, principal: &labgate_core::auth::Principal) -> u64 {
    env.services
        .instances
        .list(principal, 0, 100)
        .await
        .unwrap()
        .total_count
}

/// Every form of these pages, with ids of `instance` and `key`.
fn forms(instance: &str, key: &str) -> Vec<(String, &'static str)> {
    vec![
        (
            "/organization/gitlab-instances".to_owned(),
            "url=https%3A%2F%2Fgit.new.example",
        ),
        (
            format!("/organization/gitlab-instances/{instance}"),
            "url=https%3A%2F%2Fgit.changed.example",
        ),
        (format!("/organization/gitlab-instances/{instance}/delete"), ""),
        (
            "/organization/api-keys".to_owned(),
            "name=made&role=admin&expires_in=30",
        ),
        (format!("/organization/api-keys/{key}/revoke"), ""),
    ]
}

#[tokio::test]
async fn forms_need_a_session_and_their_token_and_change_nothing_otherwise() {
    let env = TestEnv::new().await;
    let admin = log_in(&env, &env.tenant, ADMIN, Role::Admin).await;
    let instance_id = instance(&env, &env.admin, "https://git.acme.example").await;
    let key = key_id(&env, &env.admin, "kept").await;
    for (path, form) in forms(&instance_id, &key) {
        let anonymous = env.send(post(&path, "", form)).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(text(&anonymous).contains("Your session has ended"), "{path}");
        let forged = env
            .send(post(&path, &admin.cookie, &format!("csrf_token=forged&{form}")))
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{path}");
        let tokenless = env.send(post(&path, &admin.cookie, form)).await;
        assert_eq!(tokenless.status, StatusCode::FORBIDDEN, "{path}");
        assert!(text(&tokenless).contains("This form has expired"), "{path}");
    }
    assert_eq!(instance_count(&env, &env.admin).await, 1);
    let kept = env
        .services
        .instances
        .get(&env.admin, &instance_id)
        .await
        .unwrap();
    assert_eq!(kept.url, "https://git.acme.example");
    assert!(!is_revoked(&env, &env.admin, &key).await);
    let keys = env.services.api_keys.list(&env.admin, 0, 100).await.unwrap();
    assert!(keys.api_keys.iter().all(|key| key.name != "made"));

    for page in [
        "/organization/gitlab-instances",
        "/organization/gitlab-instances/new",
        "/organization/api-keys",
        "/organization/jobs",
        "/organization/jobs.json",
        "/organization/audit-logs?action=api-key.create",
    ] {
        let reply = env.send(get(page, "")).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{page}");
        assert!(
            reply.headers["location"]
                .to_str()
                .unwrap()
                .starts_with("/login?next=%2Forganization%2F"),
            "{page}"
        );
    }
}

#[tokio::test]
async fn members_see_no_admin_actions_and_are_refused_them() {
    let env = TestEnv::new().await;
    let member = log_in(&env, &env.tenant, MEMBER, Role::Member).await;
    let instance_id = instance(&env, &env.admin, "https://git.acme.example").await;
    let key = key_id(&env, &env.admin, "kept").await;

    let list = member.get(&env, "/organization/gitlab-instances").await;
    assert_eq!(list.status, StatusCode::OK);
    let list = text(&list);
    assert!(list.contains("git.acme.example"), "members see the instances");
    assert!(!list.contains("Add instance") && !list.contains(">Delete<") && !list.contains(">Edit<"));
    for page in [
        "/organization/gitlab-instances/new".to_owned(),
        format!("/organization/gitlab-instances/{instance_id}/edit"),
        "/organization/api-keys".to_owned(),
        "/organization/audit-logs".to_owned(),
    ] {
        let reply = member.get(&env, &page).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{page}");
        assert!(text(&reply).contains("Your role cannot use this page"), "{page}");
        assert!(
            !text(&reply).contains("kept"),
            "{page} shows nothing of the tenant's keys"
        );
    }
    for (path, form) in forms(&instance_id, &key) {
        let reply = member.post(&env, &path, form).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}: {}", text(&reply));
    }
    assert_eq!(instance_count(&env, &env.admin).await, 1);
    assert!(!is_revoked(&env, &env.admin, &key).await);
    assert_eq!(
        env.services
            .api_keys
            .list(&env.admin, 0, 100)
            .await
            .unwrap()
            .total_count,
        2,
        "the admin key of the test environment and the one made here"
    );
    // Jobs are for everyone who may read.
    assert_eq!(
        member.get(&env, "/organization/jobs").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn ids_of_another_tenant_are_not_found() {
    let env = TestEnv::new().await;
    let admin = log_in(&env, &env.tenant, ADMIN, Role::Admin).await;
    let theirs = instance(&env, &env.other_admin, "https://git.other.example").await;
    let their_key = key_id(&env, &env.other_admin, "theirs").await;
    let mut spec = JobSpec::new(JobKind::DiagnosticProbe, json!({}));
    spec.tenant_id = Some(env.other_tenant.id.clone());
    let (their_job, _) = env.services.jobs.enqueue(&spec).await.unwrap();

    for (path, form) in forms(&theirs, &their_key)
        .into_iter()
        .filter(|(path, _)| path.contains(&theirs) || path.contains(&their_key))
    {
        let reply = admin.post(&env, &path, form).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}: {}", text(&reply));
        assert!(!text(&reply).contains("git.other.example"));
    }
    for page in [
        format!("/organization/gitlab-instances/{theirs}/edit"),
        format!("/organization/jobs/{their_job}"),
        format!("/organization/jobs.json?id={their_job}"),
        "/organization/gitlab-instances/not-an-id/edit".to_owned(),
        "/organization/jobs/not-an-id".to_owned(),
    ] {
        let reply = admin.get(&env, &page).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{page}");
    }
    let kept = env
        .services
        .instances
        .get(&env.other_admin, &theirs)
        .await
        .unwrap();
    assert_eq!(kept.url, "https://git.other.example");
    assert!(!is_revoked(&env, &env.other_admin, &their_key).await);
    let list = text(&admin.get(&env, "/organization/gitlab-instances").await);
    assert!(!list.contains("git.other.example"));
    assert!(list.contains("No GitLab instances registered"));
}

#[tokio::test]
async fn instances_are_added_with_inline_errors_changed_and_deleted_unless_connections_use_them() {
    let env = TestEnv::builder()
        .sim(standard_seed().build())
        .oauth()
        .build()
        .await;
    let admin = log_in(&env, &env.tenant, ADMIN, Role::Admin).await;
    let redirect = labgate_testkit::sim::REDIRECT;

    let empty = text(&admin.get(&env, "/organization/gitlab-instances").await);
    assert!(empty.contains("No GitLab instances registered"));
    assert!(empty.contains(&format!(r#"data-copy="{redirect}""#)), "{empty}");
    assert!(
        empty.contains(env.sim().url().trim_end_matches('/')),
        "the default instance is shown"
    );

    let refused = admin
        .post(
            &env,
            "/organization/gitlab-instances",
            "url=ftp%3A%2F%2Fgit.acme.example&oauth_client_id=app&oauth_client_secret=gloas-typed-secret",
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let page = text(&refused);
    assert!(page.contains(r#"id="field-url-error""#), "{page}");
    assert!(
        page.contains(r#"value="ftp://git.acme.example""#),
        "what was typed is kept"
    );
    assert!(
        !page.contains("gloas-typed-secret"),
        "the secret is never sent back"
    );
    assert_eq!(instance_count(&env, &env.admin).await, 0);

    let added = admin
        .post(
            &env,
            "/organization/gitlab-instances",
            "url=https%3A%2F%2Fgit.acme.example%2Fgitlab%2F&oauth_client_id=app&oauth_client_secret=gloas-typed-secret&ca_bundle=&proxy_url=",
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", text(&added));
    assert_eq!(added.headers["location"], "/organization/gitlab-instances");
    let flash = set_cookie(&added, "labgate_flash").expect("a flash message");
    let list = text(
        &env.send(get(
            "/organization/gitlab-instances",
            &format!("{}; {flash}", admin.cookie),
        ))
        .await,
    );
    assert!(
        list.contains("GitLab instance git.acme.example/gitlab added."),
        "{list}"
    );
    assert!(list.contains("Configured"));
    let listed = env.services.instances.list(&env.admin, 0, 10).await.unwrap();
    let view = &listed.gitlab_instances[0];
    assert_eq!(view.url, "https://git.acme.example/gitlab");
    assert!(view.has_oauth_client_secret);

    // A blank secret keeps the stored one; a bad proxy is said under its field.
    let path = format!("/organization/gitlab-instances/{}", view.id);
    let bad_proxy = admin
        .post(
            &env,
            &path,
            "url=https%3A%2F%2Fgit.acme.example%2Fgitlab&oauth_client_id=app2&proxy_url=socks5%3A%2F%2Fp",
        )
        .await;
    assert_eq!(bad_proxy.status, StatusCode::BAD_REQUEST);
    assert!(text(&bad_proxy).contains(r#"id="field-proxy_url-error""#));
    let saved = admin
        .post(
            &env,
            &path,
            "url=https%3A%2F%2Fgit.acme.example%2Fgitlab&oauth_client_id=app2&oauth_client_secret=",
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", text(&saved));
    let changed = env.services.instances.get(&env.admin, &view.id).await.unwrap();
    assert_eq!(changed.oauth_client_id.as_deref(), Some("app2"));
    assert!(changed.has_oauth_client_secret, "a blank secret keeps it");

    // A connection authorised through it keeps it.
    let connection_id = env.connect_oauth("through-it", "alice", None).await.id;
    env.execute_sql(&format!(
        "UPDATE app_connections SET instance_id = '{}' WHERE id = '{connection_id}'",
        view.id
    ))
    .await;
    let kept = admin.post(&env, &format!("{path}/delete"), "").await;
    assert_eq!(kept.status, StatusCode::SEE_OTHER);
    let flash = set_cookie(&kept, "labgate_flash").expect("an error message");
    let list = text(
        &env.send(get(
            "/organization/gitlab-instances",
            &format!("{}; {flash}", admin.cookie),
        ))
        .await,
    );
    assert!(list.contains(r#"class="flash error""#), "{list}");
    assert!(list.contains("The instance was not deleted"), "{list}");
    assert_eq!(instance_count(&env, &env.admin).await, 1);

    env.execute_sql(&format!(
        "UPDATE app_connections SET instance_id = NULL WHERE id = '{connection_id}'"
    ))
    .await;
    let deleted = admin.post(&env, &format!("{path}/delete"), "").await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(instance_count(&env, &env.admin).await, 0);
}

#[tokio::test]
async fn api_keys_show_their_token_once_and_are_revoked() {
    let env = TestEnv::new().await;
    let admin = log_in(&env, &env.tenant, ADMIN, Role::Admin).await;

    let blank = admin
        .post(&env, "/organization/api-keys", "name=+&role=member&expires_in=30")
        .await;
    assert_eq!(blank.status, StatusCode::BAD_REQUEST);
    assert!(text(&blank).contains("The name must be 1-64 printable characters."));
    let odd = admin
        .post(&env, "/organization/api-keys", "name=ci&role=owner&expires_in=7")
        .await;
    assert_eq!(odd.status, StatusCode::BAD_REQUEST);
    assert!(text(&odd).contains("Choose a role."));

    let created = admin
        .post(
            &env,
            "/organization/api-keys",
            "name=ci-deploy&role=member&expires_in=90",
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", text(&created));
    assert_eq!(created.headers["cache-control"], "no-store");
    let page = text(&created);
    let start = page
        .find("data-copy=\"lgk_")
        .expect("the token with its copy button")
        + 11;
    let token = page[start..].split('"').next().unwrap().to_owned();
    let principal = env.principal(&token).await;
    assert_eq!(principal.role, Role::Member);
    assert!(page.contains("shown only this once"));

    let list = text(&admin.get(&env, "/organization/api-keys").await);
    assert!(list.contains("ci-deploy"));
    assert!(!list.contains(&token), "the list never shows a token");
    let keys = env.services.api_keys.list(&env.admin, 0, 10).await.unwrap();
    let key = keys.api_keys.iter().find(|key| key.name == "ci-deploy").unwrap();
    assert!(list.contains(&format!("{}…", key.prefix)));
    assert!(key.expires_at.is_some());

    let revoked = admin
        .post(&env, &format!("/organization/api-keys/{}/revoke", key.id), "")
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert!(is_revoked(&env, &env.admin, &key.id).await);
    assert!(env.services.api_keys.authenticate(&token, None).await.is_err());
}

#[tokio::test]
async fn jobs_show_their_progress_and_the_script_follows_them() {
    let env = TestEnv::new().await;
    let person = log_in(&env, &env.tenant, "reader@acme.example", Role::Reader).await;
    let empty = text(&person.get(&env, "/organization/jobs").await);
    assert!(empty.contains("No jobs yet"));

    let mut spec = JobSpec::new(JobKind::DiagnosticProbe, json!({}));
    spec.tenant_id = Some(env.tenant.id.clone());
    let (id, _) = env.services.jobs.enqueue(&spec).await.unwrap();
    let owner = "test-worker";
    env.services
        .jobs
        .claim(owner, time::Duration::seconds(60))
        .await
        .unwrap()
        .unwrap();
    let progress = Progress {
        done: 3,
        total: Some(10),
        phase: Some("checking".to_owned()),
    };
    assert!(env.services.jobs.progress(&id, owner, &progress).await.unwrap());

    let list = text(&person.get(&env, "/organization/jobs").await);
    assert!(
        list.contains(r#"<progress class="bar-running" value="3" max="10""#),
        "{list}"
    );
    assert!(list.contains("checking · 3 of 10"));
    assert!(
        list.contains(r#"data-live="running""#),
        "the script follows running jobs"
    );
    let live = person.get(&env, "/organization/jobs.json").await;
    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(live.headers["cache-control"], "no-store");
    let live = live.json();
    assert_eq!(live["running"], true);
    assert_eq!(live["jobs"][0]["id"], id.as_str());
    assert_eq!(live["jobs"][0]["value"], 3);
    assert_eq!(live["jobs"][0]["stateLabel"], "Running");

    assert!(env.services.jobs.complete(&id, owner).await.unwrap());
    let done = person
        .get(&env, &format!("/organization/jobs.json?id={id}"))
        .await
        .json();
    assert_eq!(done["running"], false);
    assert_eq!(done["jobs"][0]["state"], "succeeded");
    assert_eq!(done["jobs"][0]["value"], 10);
    let detail = text(&person.get(&env, &format!("/organization/jobs/{id}")).await);
    assert!(detail.contains("Succeeded") && detail.contains(id.as_str()));
    assert!(!detail.contains(r#"data-live="running""#));
    let failed_only = text(&person.get(&env, "/organization/jobs?state=failed").await);
    assert!(failed_only.contains("No jobs in this state"));
}

/// The table rows of a page (the filter form above them names every action too).
fn rows(reply: &Reply) -> String {
    let page = text(reply);
    page.split_once("<tbody>")
        .map(|(_, rows)| rows.to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_audit_log_names_actors_and_filters() {
    let env = TestEnv::new().await;
    let admin = log_in(&env, &env.tenant, ADMIN, Role::Admin).await;
    let created = admin
        .post(
            &env,
            "/organization/api-keys",
            "name=audited&role=reader&expires_in=never",
        )
        .await;
    assert_eq!(created.status, StatusCode::OK);
    let key = key_id(&env, &env.admin, "revoked-one").await;
    env.clock.advance_ms(1_000);
    let revoked = admin
        .post(&env, &format!("/organization/api-keys/{key}/revoke"), "")
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);

    let log = rows(&admin.get(&env, "/organization/audit-logs").await);
    assert!(log.contains("api-key.create") && log.contains("api-key.revoke") && log.contains("user.login"));
    assert!(log.contains(ADMIN), "users are named by their email");
    let create_at = log.find(">api-key.create<").unwrap();
    let revoke_at = log.find(">api-key.revoke<").unwrap();
    assert!(revoke_at < create_at, "newest first");

    let only = rows(
        &admin
            .get(&env, "/organization/audit-logs?action=api-key.revoke")
            .await,
    );
    assert!(only.contains(">api-key.revoke<"));
    assert!(!only.contains(">api-key.create<") && !only.contains(">user.login<"));
    let none = text(
        &admin
            .get(
                &env,
                "/organization/audit-logs?action=api-key.revoke&since=2999-01-01T00%3A00",
            )
            .await,
    );
    assert!(none.contains("No entries match these filters"));
    let bad = admin.get(&env, "/organization/audit-logs?since=soon").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(text(&bad).contains(r#"id="filter-since-error""#));
}
