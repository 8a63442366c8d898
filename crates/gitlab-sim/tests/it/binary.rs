//! The `labgate-gitlab-sim` binary: prints its URL and serves the seed.

use reqwest::StatusCode;
use tokio::io::AsyncBufReadExt;

use crate::common::client;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_prints_url_and_serves_seed_under_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.json");
    std::fs::write(
        &seed,
        r#"{"users": [{"username": "root", "name": "Admin", "email": "root@example.com", "admin": true}],
            "tokens": [{"kind": "personal", "user": "root", "name": "t", "scopes": ["api"], "token": "glpat-binBINbinBINbin12345"}]}"#,
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_labgate-gitlab-sim"))
        .args([
            "--seed",
            seed.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--mode",
            "gitlab.com",
            "--path-prefix",
            "/gitlab",
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let url = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/gitlab"),
        "{url}"
    );
    let r = client()
        .get(format!("{url}/api/v4/user"))
        .header("PRIVATE-TOKEN", "glpat-binBINbinBINbin12345")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let me: serde_json::Value = r.json().await.unwrap();
    assert_eq!(me["username"], "root");
    assert!(
        me.get("is_admin").is_none(),
        "--mode gitlab.com hides admin views"
    );
    child.start_kill().unwrap();
    let _ = child.wait().await;
}

#[tokio::test]
async fn binary_rejects_a_bad_seed() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.json");
    std::fs::write(&seed, r#"{"users": [{"username": "x", "nope": 1}]}"#).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_labgate-gitlab-sim"))
        .args(["--seed", seed.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("parsing seed"));
}
