//! The web UI in a real browser, and `labgate users` that gives people their logins.
//!
//! The browser tests live in `ui-tests/` (node's test runner driving Debian's Chromium through
//! playwright-core); this test starts `labgate serve` with a tenant, an API key and a UI user
//! made through the CLI, and runs them against it. Without Chromium or `ui-tests/node_modules`
//! the browser part is skipped with a message, except in CI (`CI=true`), where it fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use gitlab_sim::seed::SeedOAuthApp;
use gitlab_sim::{Seed, SimServer};

use crate::{Site, stderr, stdout};

const CHROMIUM: &str = "/usr/bin/chromium";
const PASSWORD: &str = "a long enough password";
const GITLAB_TOKEN: &str = "glpat-uiUIuiUIuiUIuiUI1234";
/// A second token of alice's, for the connection the browser adds through the form.
const FORM_TOKEN: &str = "glpat-formFORMformFORM5678";
const OAUTH_APP_UID: &str = "labgate-ui-app";
const OAUTH_APP_SECRET: &str = "gloas-labgate-ui-secret";
/// Committed to `leaks/service`: never shown by labgate (the browser test checks every page).
const PLANTED_TOKEN: &str = "glpat-Hx7bQ2nV9cLm4Tp8Rw3K";
const CALLBACK_PATH: &str = "/organization/app-connections/gitlab/oauth/callback";

pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the workspace holds the crate")
        .to_owned()
}

/// Runs `labgate` with `stdin` piped in (or an empty, closed stdin).
fn run_with_stdin(site: &Site, args: &[&str], stdin: &str) -> Output {
    let mut child = site
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn json(output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "{}{}", stdout(output), stderr(output));
    serde_json::from_str(&stdout(output)).unwrap()
}

fn fails_with(output: &Output, text: &str) {
    assert!(!output.status.success(), "expected a failure: {}", stdout(output));
    assert!(
        stderr(output).contains(text),
        "expected {text:?} in: {}",
        stderr(output)
    );
}

/// A port free on loopback now, for a server whose address others must know before it starts.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether `what` cannot run here for want of a browser: then it is skipped with a message,
/// except in CI, where this fails the test.
pub(crate) fn browser_unavailable(root: &Path, what: &str) -> bool {
    let Some(reason) = browser_missing(root) else {
        return false;
    };
    assert!(
        !labgate_testkit::shared::in_ci(),
        "{what} must run in CI, but {reason}"
    );
    eprintln!("skipping {what}: {reason}");
    true
}

/// Why the browser tests cannot run here, if they cannot.
fn browser_missing(root: &Path) -> Option<String> {
    if !Path::new(CHROMIUM).exists() {
        return Some(format!("{CHROMIUM} is missing (apt-get install chromium)"));
    }
    if !root.join("ui-tests/node_modules/playwright-core").exists() {
        return Some("ui-tests/node_modules is missing (run npm ci in ui-tests/)".to_owned());
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node is not installed".to_owned());
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_managed_on_the_database_and_the_ui_works_in_a_browser() {
    // GitLab sends the browser back to labgate's site URL, which the simulator's OAuth
    // application must know before either starts: labgate gets a port chosen now.
    let port = free_port();
    let site_url = format!("http://127.0.0.1:{port}");
    let sim = SimServer::start(
        Seed::builder()
            .user("alice")
            .user("bob")
            .personal_token("alice", "ci", &["api"], GITLAB_TOKEN)
            .personal_token("alice", "deploy", &["api", "read_repository"], FORM_TOKEN)
            // A project alice keeps as a Maintainer (through its group), for secret syncs.
            .group("acme", "Acme")
            .project("acme/api", "API")
            .member("acme", "alice", 40)
            // A repository with a token committed to it, for secret scanning.
            .group("leaks", "Leaks")
            .project("leaks/service", "Service")
            .file(
                "leaks/service",
                "config/deploy.env",
                &format!("GITLAB_TOKEN={PLANTED_TOKEN}\n"),
            )
            .member("leaks", "alice", 40)
            .oauth_app(SeedOAuthApp {
                name: "labgate".into(),
                uid: Some(OAUTH_APP_UID.into()),
                secret: Some(OAUTH_APP_SECRET.into()),
                redirect_uri: format!("{site_url}{CALLBACK_PATH}"),
                scopes: vec!["api".into(), "read_api".into(), "read_user".into()],
                ..SeedOAuthApp::default()
            })
            .build(),
    )
    .await
    .unwrap();
    let site = Site::new().await;
    let server = site.serve_on(
        &format!("127.0.0.1:{port}"),
        &[
            ("LABGATE_ALLOW_INTERNAL_HOSTS", "127.0.0.1"),
            ("LABGATE_SITE_URL", &site_url),
            ("LABGATE_GITLAB_URL", sim.url()),
            ("LABGATE_GITLAB_OAUTH_CLIENT_ID", OAUTH_APP_UID),
            ("LABGATE_GITLAB_OAUTH_CLIENT_SECRET", OAUTH_APP_SECRET),
        ],
    );

    // The CLI works on the database while the server runs.
    let tenant = site.run(&["tenants", "create", "acme"]);
    assert!(tenant.status.success(), "{}", stderr(&tenant));
    let key = json(&site.run(&[
        "api-keys", "create", "--tenant", "acme", "--name", "ui-test", "--role", "admin", "--json",
    ]));
    let api_key = key["token"].as_str().unwrap().to_owned();
    let email = "Ann@Example.com";
    let created = json(&run_with_stdin(
        &site,
        &[
            "users",
            "create",
            "--tenant",
            "acme",
            "--email",
            email,
            "--role",
            "admin",
            "--password-stdin",
            "--json",
        ],
        &format!("{PASSWORD}\n"),
    ));
    assert_eq!(created["email"], "ann@example.com");
    assert_eq!(created["tenant"], "acme");
    assert!(
        created.get("password").is_none(),
        "a supplied password is not printed"
    );

    fails_with(
        &run_with_stdin(
            &site,
            &[
                "users",
                "create",
                "--tenant",
                "default",
                "--email",
                "ANN@example.com",
                "--role",
                "member",
                "--password-stdin",
            ],
            &format!("{PASSWORD}\n"),
        ),
        "already exists",
    );
    fails_with(
        &run_with_stdin(
            &site,
            &[
                "users",
                "create",
                "--tenant",
                "nope",
                "--email",
                "bob@example.com",
                "--role",
                "member",
                "--password-stdin",
            ],
            &format!("{PASSWORD}\n"),
        ),
        "no tenant \"nope\"",
    );
    fails_with(
        &run_with_stdin(
            &site,
            &[
                "users",
                "create",
                "--tenant",
                "acme",
                "--email",
                "bob@example.com",
                "--role",
                "owner",
            ],
            "",
        ),
        "expected admin, member, reader or credential-reader",
    );
    let short = run_with_stdin(
        &site,
        &[
            "users",
            "create",
            "--tenant",
            "acme",
            "--email",
            "bob@example.com",
            "--role",
            "member",
            "--password-stdin",
        ],
        "short\n",
    );
    fails_with(&short, "at least 12 characters");
    assert!(!stderr(&short).contains("short\n"));
    fails_with(
        &run_with_stdin(
            &site,
            &[
                "users", "create", "--tenant", "acme", "--email", "bob", "--role", "member",
            ],
            "",
        ),
        "email address",
    );

    // Without --password-stdin a password is generated and printed once.
    let generated = json(&run_with_stdin(
        &site,
        &[
            "users",
            "create",
            "--tenant",
            "acme",
            "--email",
            "carol@example.com",
            "--role",
            "reader",
            "--json",
        ],
        "",
    ));
    let carol_password = generated["password"].as_str().unwrap().to_owned();
    assert!(carol_password.len() >= 24, "{carol_password}");
    let listed = json(&site.run(&["users", "list", "--tenant", "acme", "--json"]));
    let emails: Vec<&str> = listed["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["ann@example.com", "carol@example.com"]);
    assert!(!stdout(&site.run(&["users", "list", "--tenant", "acme"])).contains(&carol_password));
    let deleted = site.run(&["users", "delete", "--email", "CAROL@example.com"]);
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    fails_with(
        &site.run(&["users", "delete", "--email", "carol@example.com"]),
        "no user with the email",
    );

    let root = workspace_root();
    if browser_unavailable(&root, "the browser tests of the web UI") {
        server.stop();
        return;
    }
    let screenshots = root.join("target/ui-screenshots");
    // Emptied first, so a screenshot the pages no longer take is missed, not found from before.
    if let Err(error) = std::fs::remove_dir_all(&screenshots) {
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound, "{error}");
    }
    let admin_pages = admin_pages_tenant(&site);
    let access_pages = access_pages_tenant(&site, &server.url, sim.url()).await;
    let reader_email = "rita@example.com";
    json(&run_with_stdin(
        &site,
        &[
            "users",
            "create",
            "--tenant",
            "acme",
            "--email",
            reader_email,
            "--role",
            "reader",
            "--password-stdin",
            "--json",
        ],
        &format!("{PASSWORD}\n"),
    ));
    // The `*.test.js` files run against this server, one after the other and `ui.test.js` (which
    // starts from an empty tenant) first; other scripts there need setups of their own.
    let mut tests: Vec<String> = std::fs::read_dir(root.join("ui-tests"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".test.js"))
        .map(|name| format!("ui-tests/{name}"))
        .collect();
    tests.sort_by_key(|name| (!name.ends_with("/ui.test.js"), name.clone()));
    assert!(tests.len() >= 2, "{tests:?}");
    for test in &tests {
        let output = Command::new("node")
            .args(["--test", "--test-reporter=spec", test])
            .current_dir(&root)
            .env("LABGATE_UI_URL", &server.url)
            .env("LABGATE_UI_EMAIL", "ann@example.com")
            .env("LABGATE_UI_PASSWORD", PASSWORD)
            .env("LABGATE_UI_API_KEY", &api_key)
            .env("LABGATE_UI_GITLAB_URL", sim.url())
            .env("LABGATE_UI_GITLAB_TOKEN", GITLAB_TOKEN)
            .env("LABGATE_UI_GITLAB_FORM_TOKEN", FORM_TOKEN)
            .env("LABGATE_UI_SCREENSHOTS", &screenshots)
            .env("LABGATE_UI_ADMIN_EMAIL", admin_pages)
            .env("LABGATE_UI_ADMIN_PASSWORD", PASSWORD)
            .env("LABGATE_UI_READER_EMAIL", reader_email)
            .env("LABGATE_UI_READER_PASSWORD", PASSWORD)
            .env("LABGATE_UI_PLANTED_TOKEN", PLANTED_TOKEN)
            .env("LABGATE_UI_ACCESS_EMAIL", access_pages.email)
            .env("LABGATE_UI_ACCESS_PASSWORD", PASSWORD)
            .env("LABGATE_UI_ACCESS_SOURCE", &access_pages.fixture.source_id)
            .env("LABGATE_UI_ACCESS_SYNC", &access_pages.fixture.second_run)
            .env(
                "LABGATE_UI_ACCESS_UNSYNCED_SOURCE",
                &access_pages.fixture.unsynced_source_id,
            )
            .output()
            .unwrap();
        let printed = format!("{}{}", stdout(&output), stderr(&output));
        assert!(
            output.status.success(),
            "the browser tests in {test} failed:\n{printed}"
        );
        assert!(
            printed.contains("fail 0") && !printed.contains("pass 0"),
            "{printed}"
        );
    }
    for name in [
        "login",
        "login-wrong-password",
        "app-connections-empty",
        "app-connections-list-dark",
        "add-connection-dialog",
        "add-connection-token-missing-name",
        "add-connection-token-refused",
        "app-connections-highlighted",
        "app-connections-highlighted-dark",
        "app-connections-filtered-empty",
        "oauth-gitlab-sign-in",
        "oauth-gitlab-consent",
        "app-connections-oauth-connected",
        "app-connections-oauth-denied",
        "connection-detail",
        "connection-detail-dark",
        "connection-checked",
        "connection-edit-dialog",
        "connection-edited",
        "connection-delete-dialog",
        "connection-delete-page",
        "app-connections-after-delete",
    ] {
        assert!(screenshots.join(format!("{name}.png")).exists(), "{name}.png");
    }
    for name in SECRETS_SCREENSHOTS {
        assert!(screenshots.join(format!("{name}.png")).exists(), "{name}.png");
    }
    for name in ADMIN_PAGES_SCREENSHOTS {
        assert!(screenshots.join(format!("{name}.png")).exists(), "{name}.png");
    }
    for name in SCANNING_SCREENSHOTS {
        assert!(screenshots.join(format!("{name}.png")).exists(), "{name}.png");
    }
    for name in ACCESS_SCREENSHOTS {
        assert!(screenshots.join(format!("{name}.png")).exists(), "{name}.png");
    }

    let (status, logs) = server.stop();
    assert!(status.success(), "{logs}");
    assert!(!logs.contains(PASSWORD), "passwords are never logged");
    assert!(!logs.contains(&carol_password));
    assert!(!logs.contains(FORM_TOKEN), "tokens are never logged");
    assert!(!logs.contains(PLANTED_TOKEN), "found secrets are never logged");
}

// The tenant administration pages (ui-tests/admin.test.js) run in a tenant of their own, empty
// at first, so their empty states show and other browser tests' data never mixes in.

// ui-tests/secrets.test.js: the secrets store and secret syncs.
const SECRETS_SCREENSHOTS: [&str; 12] = [
    "secrets-empty",
    "secrets-project-empty",
    "secret-invalid-key",
    "secrets-folder",
    "secrets-folder-dark",
    "secret-history",
    "secrets-import-result",
    "secret-sync-unreachable",
    "secret-sync-plan",
    "secret-sync-succeeded",
    "secret-syncs-list-dark",
    "secrets-reader",
];

// ui-tests/secret-scanning.test.js: data sources, scans followed live, findings and triage.
const SCANNING_SCREENSHOTS: [&str; 11] = [
    "scanning-empty",
    "scanning-sources",
    "scanning-source-invalid",
    "scanning-live",
    "scanning-source-scanned",
    "scanning-source-scanned-dark",
    "scanning-findings",
    "scanning-findings-dark",
    "scanning-finding-triage",
    "scanning-findings-filtered",
    "scanning-findings-reader",
];

const ADMIN_PAGES_SCREENSHOTS: [&str; 8] = [
    "gitlab-instances-empty",
    "gitlab-instance-invalid-url",
    "gitlab-instances-list",
    "api-keys-empty",
    "api-key-created",
    "jobs-running-dark",
    "audit-logs",
    "audit-logs-dark",
];

/// Tenant `globex` with an admin who logs in to the web UI; answers the admin's email.
// ui-tests/access.test.js: the access pages, read by a reader of a tenant of their own whose
// access source has two successful syncs and a failed one, stored as the sync stores them.
const ACCESS_SCREENSHOTS: [&str; 8] = [
    "access-sources",
    "access-accounts",
    "access-accounts-dark",
    "access-resources",
    "access-grants",
    "access-grants-shared",
    "access-diff",
    "access-not-synced",
];

struct AccessPages {
    email: &'static str,
    fixture: labgate_testkit::access::AccessFixture,
}

async fn access_pages_tenant(site: &Site, url: &str, gitlab_url: &str) -> AccessPages {
    let email = "audit@initech.example";
    let tenant = site.run(&["tenants", "create", "initech"]);
    assert!(tenant.status.success(), "{}", stderr(&tenant));
    json(&run_with_stdin(
        site,
        &[
            "users",
            "create",
            "--tenant",
            "initech",
            "--email",
            email,
            "--role",
            "reader",
            "--password-stdin",
            "--json",
        ],
        &format!("{PASSWORD}\n"),
    ));
    let key = json(&site.run(&[
        "api-keys", "create", "--tenant", "initech", "--name", "access", "--role", "admin", "--json",
    ]));
    let connection: serde_json::Value = crate::client()
        .post(format!("{url}/api/v1/app-connections/gitlab"))
        .bearer_auth(key["token"].as_str().unwrap())
        .json(&serde_json::json!({"name": "gitlab-audit", "method": "access-token",
            "credentials": {"accessToken": GITLAB_TOKEN, "instanceUrl": gitlab_url, "accessTokenType": "personal"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let connection = connection["appConnection"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{connection}"))
        .to_owned();
    let database = match site.database.backend() {
        labgate_testkit::TestBackend::Postgres => site.database.url().to_owned(),
        labgate_testkit::TestBackend::Sqlite => {
            format!("sqlite://{}", site.data_dir().join("labgate.db").display())
        }
    };
    let store = labgate_store::Store::connect(&database, &labgate_store::StoreOptions::default())
        .await
        .unwrap();
    let tenant = store.tenant_by_name("initech").await.unwrap().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1_000;
    let fixture = labgate_testkit::access::seed_access(&store, &tenant.id, &connection, now).await;
    store.close().await;
    AccessPages { email, fixture }
}

fn admin_pages_tenant(site: &Site) -> &'static str {
    let email = "root@globex.example";
    let tenant = site.run(&["tenants", "create", "globex"]);
    assert!(tenant.status.success(), "{}", stderr(&tenant));
    json(&run_with_stdin(
        site,
        &[
            "users",
            "create",
            "--tenant",
            "globex",
            "--email",
            email,
            "--role",
            "admin",
            "--password-stdin",
            "--json",
        ],
        &format!("{PASSWORD}\n"),
    ));
    email
}
