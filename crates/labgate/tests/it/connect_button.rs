//! The connect button in a real browser: the example app of `examples/connect-button` embeds
//! `<labgate-connect-button>`, its backend creates connect sessions with an API key, and a person
//! connects GitLab in the popup (gitlab-sim's sign-in and consent pages), or declines, or closes
//! it. The browser side is `ui-tests/connect-button.mjs`; without Chromium it is skipped with a
//! message, except in CI (`CI=true`), where it fails.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gitlab_sim::seed::SeedOAuthApp;
use gitlab_sim::{Seed, SimServer};
use labgate_testkit::sim::{APP_SECRET, APP_UID};
use serde_json::Value;

use crate::ui::{browser_unavailable, free_port, workspace_root};
use crate::{Site, client, stderr, stdout};

const ADMIN_KEY: &str = "lgk_connectbuttontestadminkey0123456789abcdef";

/// The example app's server, stopped when dropped.
struct ExampleApp(Child);

impl Drop for ExampleApp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connect_button_connects_gitlab_from_another_site() {
    let root = workspace_root();
    if browser_unavailable(&root, "the connect button in a browser") {
        return;
    }
    let site_url = format!("http://127.0.0.1:{}", free_port());
    let sim = SimServer::start(
        Seed::builder()
            .user("alice")
            .oauth_app(SeedOAuthApp {
                name: "labgate".into(),
                uid: Some(APP_UID.into()),
                secret: Some(APP_SECRET.into()),
                redirect_uri: format!("{site_url}/organization/app-connections/gitlab/oauth/callback"),
                scopes: vec!["api".into(), "read_api".into(), "read_user".into()],
                ..SeedOAuthApp::default()
            })
            .build(),
    )
    .await
    .unwrap();
    let site = Site::new().await;
    let server = site.serve_on(
        site_url.trim_start_matches("http://"),
        &[
            ("LABGATE_SITE_URL", &site_url),
            ("LABGATE_GITLAB_URL", sim.url()),
            ("LABGATE_GITLAB_OAUTH_CLIENT_ID", APP_UID),
            ("LABGATE_GITLAB_OAUTH_CLIENT_SECRET", APP_SECRET),
            ("LABGATE_ALLOW_INTERNAL_HOSTS", "127.0.0.1"),
            ("LABGATE_BOOTSTRAP_ADMIN_KEY", ADMIN_KEY),
        ],
    );

    // The example's origin is localhost, a different site from labgate's 127.0.0.1.
    let example_port = free_port();
    let example_url = format!("http://localhost:{example_port}");
    let example = ExampleApp(
        Command::new("python3")
            .arg(root.join("examples/connect-button/server.py"))
            .env("LABGATE_URL", &site_url)
            .env("LABGATE_API_KEY", ADMIN_KEY)
            .env("PORT", example_port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the example app"),
    );
    let mut ready = false;
    for _ in 0..100 {
        if client().get(&example_url).send().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the example app did not start on {example_url}");

    let output = tokio::task::spawn_blocking({
        let root = root.clone();
        let site_url = site_url.clone();
        move || {
            Command::new("node")
                .arg("ui-tests/connect-button.mjs")
                .current_dir(&root)
                .env("LABGATE_URL", &site_url)
                .env("LABGATE_API_KEY", ADMIN_KEY)
                .env("EXAMPLE_URL", &example_url)
                .env("GITLAB_USER", "alice")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let report = format!("{}{}", stdout(&output), stderr(&output));
    assert!(
        output.status.success(),
        "the connect button test failed:\n{report}"
    );
    assert!(report.contains("connect button: ok"), "{report}");
    drop(example);

    // The approved connection is filed under the labels the example's backend gave its session.
    let found: Value = client()
        .get(format!(
            "{site_url}/api/v1/credentials/gitlab?tenantId=example-org&userId=example-user"
        ))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        found["credential"]
            .as_str()
            .is_some_and(|token| !token.is_empty()),
        "{found}"
    );
    assert_eq!(found["tokenType"], "oauth", "{found}");
    let (status, logs) = server.stop();
    assert!(status.success(), "{logs}");
    assert!(!logs.contains(ADMIN_KEY), "the API key is never logged");
}
