//! git over smart HTTP, push webhooks and the compare API.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::*;

/// Runs git off the async runtime; returns (success, stdout+stderr).
async fn git(dir: &Path, args: &[&str]) -> (bool, String) {
    let dir = dir.to_owned();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new("git")
            .args(&args)
            .current_dir(&dir)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", &dir)
            .env("GIT_AUTHOR_NAME", "Alice")
            .env("GIT_AUTHOR_EMAIL", "alice@example.com")
            .env("GIT_COMMITTER_NAME", "Alice")
            .env("GIT_COMMITTER_EMAIL", "alice@example.com")
            .output()
            .expect("git runs");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    })
    .await
    .unwrap()
}

fn auth_header(user: &str, secret: &str) -> String {
    format!(
        "http.extraHeader=Authorization: Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"))
    )
}

/// Waits until `got` holds at least `n` deliveries.
async fn wait_for(got: &Received, n: usize) {
    let arrived = wait_until(Duration::from_secs(10), || got.lock().len() >= n).await;
    assert!(arrived, "{n} hook deliveries expected, got {}", got.lock().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_git_gets_a_basic_challenge() {
    let sim = start(standard()).await;
    let r = client()
        .get(format!(
            "{}/acme/platform/api.git/info/refs?service=git-upload-pack",
            sim.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"GitLab\"");
    assert!(
        !sim.state().repository_exists("acme/platform/api"),
        "no repository before authorised access"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clone_push_fires_webhook_and_compare() {
    let (hook_url, got) = receiver().await;
    let sim = start(standard().hook("acme/platform/api", &hook_url, Some("hook-secret"))).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/acme/platform/api.git", sim.url());

    // Any username works with a PAT; OAuth tokens need `oauth2`.
    let (ok, out) = git(
        dir.path(),
        &[
            "-c",
            &auth_header("whatever", BOB_TOKEN),
            "clone",
            "-q",
            &url,
            "work",
        ],
    )
    .await;
    assert!(ok, "{out}");
    let work = dir.path().join("work");
    assert_eq!(
        std::fs::read_to_string(work.join("README.md")).unwrap(),
        "hello\n"
    );

    // A read-only token may not push.
    let ro = sim
        .state()
        .create_personal_access_token("bob", "ro", &["read_repository"], None)
        .unwrap();
    std::fs::write(work.join("a.txt"), "a").unwrap();
    git(&work, &["add", "a.txt"]).await;
    git(&work, &["commit", "-q", "-m", "add a"]).await;
    let (ok, out) = git(
        &work,
        &["-c", &auth_header("bob", &ro), "push", "-q", "origin", "main"],
    )
    .await;
    assert!(!ok, "{out}");

    // 25 commits on a new branch: the hook carries the newest 20 and the real count.
    git(&work, &["checkout", "-q", "-b", "feature"]).await;
    for i in 0..25 {
        std::fs::write(work.join("n.txt"), i.to_string()).unwrap();
        git(
            &work,
            &["commit", "-q", "-am", &format!("change {i}"), "--allow-empty"],
        )
        .await;
        if i == 0 {
            git(&work, &["add", "n.txt"]).await;
            git(&work, &["commit", "-q", "-m", "track n"]).await;
        }
    }
    let (ok, out) = git(
        &work,
        &[
            "-c",
            &auth_header("bob", BOB_TOKEN),
            "push",
            "-q",
            "origin",
            "main",
            "feature",
        ],
    )
    .await;
    assert!(ok, "{out}");
    wait_for(&got, 2).await;
    let deliveries = got.lock().clone();
    assert_eq!(deliveries.len(), 2, "one push hook per changed branch");
    let (headers, body) = deliveries
        .iter()
        .find(|(_, b)| b["ref"] == "refs/heads/feature")
        .unwrap()
        .clone();
    assert_eq!(headers["x-gitlab-event"], "Push Hook");
    assert_eq!(headers["x-gitlab-token"], "hook-secret");
    assert!(uuid::Uuid::parse_str(headers["x-gitlab-event-uuid"].to_str().unwrap()).is_ok());
    assert_eq!(body["object_kind"], "push");
    assert_eq!(body["before"], "0000000000000000000000000000000000000000");
    assert_eq!(body["total_commits_count"], 26);
    let commits = body["commits"].as_array().unwrap();
    assert_eq!(commits.len(), 20);
    assert_eq!(commits.last().unwrap()["id"], body["after"], "newest last");
    assert_eq!(body["user_username"], "bob");
    assert_eq!(body["project"]["path_with_namespace"], "acme/platform/api");
    // The simulator records a delivery once its receiver has answered, a moment after the
    // receiver saw it.
    let recorded = wait_until(Duration::from_secs(10), || {
        sim.state().hook_deliveries().len() >= 2
    })
    .await;
    assert!(
        recorded,
        "recorded deliveries: {}",
        sim.state().hook_deliveries().len()
    );
    assert_eq!(sim.state().hook_deliveries().len(), 2);
    if let Some(fx) = crate::fidelity::fixture("webhooks/push.json") {
        crate::fidelity::assert_same_shape(&fx, &body, "push hook");
    }

    // Compare covers the whole range.
    let main_sha = deliveries
        .iter()
        .find(|(_, b)| b["ref"] == "refs/heads/main")
        .unwrap()
        .1["after"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = get(
        &sim,
        &format!("/api/v4/projects/1/repository/compare?from={main_sha}&to=feature"),
        Some(BOB_TOKEN),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["commits"].as_array().unwrap().len(), 26);
    assert_eq!(r.body["diffs"][0]["new_path"], "n.txt");
    assert_eq!(r.body["diffs"][0]["new_file"], true);
    assert_eq!(r.body["compare_same_ref"], false);

    // Tags fire Tag Push Hook with the tagged commit.
    git(&work, &["tag", "v1.0.0"]).await;
    let (ok, out) = git(
        &work,
        &[
            "-c",
            &auth_header("bob", BOB_TOKEN),
            "push",
            "-q",
            "origin",
            "v1.0.0",
        ],
    )
    .await;
    assert!(ok, "{out}");
    wait_for(&got, 3).await;
    let (headers, tag_body) = got.lock().last().cloned().unwrap();
    assert_eq!(headers["x-gitlab-event"], "Tag Push Hook");
    assert_eq!(tag_body["ref"], "refs/tags/v1.0.0");
    assert_eq!(tag_body["total_commits_count"], 1);
    assert_eq!(tag_body["commits"][0]["id"], body["after"]);
    if let Some(fx) = crate::fidelity::fixture("webhooks/tag_push.json") {
        crate::fidelity::assert_same_shape(&fx, &tag_body, "tag push hook");
    }

    // More than three refs in one push fires no push hooks.
    for b in ["b1", "b2", "b3", "b4"] {
        git(&work, &["branch", b]).await;
    }
    let (ok, out) = git(
        &work,
        &[
            "-c",
            &auth_header("bob", BOB_TOKEN),
            "push",
            "-q",
            "origin",
            "b1",
            "b2",
            "b3",
            "b4",
        ],
    )
    .await;
    assert!(ok, "{out}");
    // A push that must fire no hook leaves nothing to wait for. Push one more branch, which does
    // fire, and wait for that delivery: the four-ref push's hook task was spawned first, so a
    // delivery it wrongly made would have had at least as long to arrive.
    git(&work, &["branch", "b5"]).await;
    let (ok, out) = git(
        &work,
        &["-c", &auth_header("bob", BOB_TOKEN), "push", "-q", "origin", "b5"],
    )
    .await;
    assert!(ok, "{out}");
    wait_for(&got, 4).await;
    let refs: Vec<Value> = got.lock().iter().skip(3).map(|(_, b)| b["ref"].clone()).collect();
    assert_eq!(refs, ["refs/heads/b5"], "no push hook for the four-ref push");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_tokens_need_the_oauth2_username() {
    let sim = start(standard()).await;
    let q = format!(
        "client_id={APP_UID}&redirect_uri={}&response_type=code&scope=api",
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    let loc = gitlab_sim::oauth::authorize(sim.state(), &q, "bob", true).unwrap();
    let code = url::Url::parse(&loc)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let tok: Value = client()
        .post(format!("{}/oauth/token", sim.url()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", APP_UID),
            ("client_secret", APP_SECRET),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tok["access_token"].as_str().unwrap();
    let url = format!(
        "{}/acme/platform/api.git/info/refs?service=git-upload-pack",
        sim.url()
    );
    let r = client()
        .get(&url)
        .basic_auth("bob", Some(access))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = client()
        .get(&url)
        .basic_auth("oauth2", Some(access))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"],
        "application/x-git-upload-pack-advertisement"
    );
    let outsider = sim
        .state()
        .create_personal_access_token("dave", "t", &["api"], None)
        .unwrap();
    let r = client()
        .get(&url)
        .basic_auth("dave", Some(&outsider))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_hooks_need_an_owner_and_fire_for_subgroup_projects() {
    let (hook_url, got) = receiver().await;
    let sim = start(standard()).await;
    // Maintainer of the group is not enough.
    let refused = post(
        &sim,
        "/api/v4/groups/acme/hooks",
        Some(ALICE_TOKEN),
        serde_json::json!({"url": hook_url}),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    let created = post(
        &sim,
        "/api/v4/groups/acme/hooks",
        Some(ROOT_TOKEN),
        serde_json::json!({"url": hook_url, "token": "group-secret", "push_events": true,
            "custom_headers": [{"key": "x-data-source-id", "value": "ds-1"}]}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let hook = created.body.clone();
    assert!(hook["group_id"].is_u64(), "{hook}");
    assert!(hook.get("project_id").is_none(), "{hook}");
    assert_eq!(hook["token_present"], true);
    assert_eq!(hook["custom_headers"][0]["key"], "x-data-source-id");
    let id = hook["id"].as_u64().unwrap();
    let listed = get(&sim, "/api/v4/groups/acme/hooks", Some(ROOT_TOKEN)).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    // A group hook is not one of a project's hooks.
    let project_hooks = get(
        &sim,
        "/api/v4/projects/acme%2Fplatform%2Fapi/hooks",
        Some(ROOT_TOKEN),
    )
    .await;
    assert_eq!(project_hooks.body, serde_json::json!([]));
    let missing = get(
        &sim,
        &format!("/api/v4/projects/acme%2Fplatform%2Fapi/hooks/{id}"),
        Some(ROOT_TOKEN),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // A push to a project of a subgroup fires the group's hook.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/acme/platform/api.git", sim.url());
    let (ok, out) = git(
        dir.path(),
        &[
            "-c",
            &auth_header("root", ROOT_TOKEN),
            "clone",
            "-q",
            &url,
            "work",
        ],
    )
    .await;
    assert!(ok, "{out}");
    let work = dir.path().join("work");
    std::fs::write(work.join("b.txt"), "b").unwrap();
    git(&work, &["add", "b.txt"]).await;
    git(&work, &["commit", "-q", "-m", "add b"]).await;
    let (ok, out) = git(
        &work,
        &[
            "-c",
            &auth_header("root", ROOT_TOKEN),
            "push",
            "-q",
            "origin",
            "main",
        ],
    )
    .await;
    assert!(ok, "{out}");
    wait_for(&got, 1).await;
    let (headers, body) = got.lock()[0].clone();
    assert_eq!(headers["x-gitlab-token"], "group-secret");
    assert_eq!(headers["x-data-source-id"], "ds-1");
    assert_eq!(body["project"]["path_with_namespace"], "acme/platform/api");

    let updated = put(
        &sim,
        &format!("/api/v4/groups/acme/hooks/{id}"),
        Some(ROOT_TOKEN),
        serde_json::json!({"push_events": false}),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    assert_eq!(updated.body["push_events"], false);
    let removed = delete(&sim, &format!("/api/v4/groups/acme/hooks/{id}"), Some(ROOT_TOKEN)).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn group_hooks_are_refused_where_the_tier_or_edition_lacks_them() {
    for seed in [
        standard().free_tier(),
        standard().version("17.9.1"), // Community Edition
    ] {
        let sim = start(seed).await;
        let refused = post(
            &sim,
            "/api/v4/groups/acme/hooks",
            Some(ROOT_TOKEN),
            serde_json::json!({"url": "https://labgate.example.com/hook"}),
        )
        .await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND, "{}", refused.text);
        // Project hooks exist on every tier.
        let project = post(
            &sim,
            "/api/v4/projects/acme%2Fplatform%2Fapi/hooks",
            Some(ROOT_TOKEN),
            serde_json::json!({"url": "https://labgate.example.com/hook"}),
        )
        .await;
        assert_eq!(project.status, StatusCode::CREATED, "{}", project.text);
    }
}
