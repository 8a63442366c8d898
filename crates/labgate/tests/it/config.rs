use crate::{Site, stderr, stdout};

#[tokio::test]
async fn config_validate_reports_settings_without_secrets() {
    let site = Site::new().await;
    let secret = "metrics-token-that-must-not-print";
    let output = site.run_with(
        &["config", "validate"],
        &[("LABGATE_METRICS_TOKEN", secret), ("LABGATE_LISTN", "x")],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("configuration is valid"));
    assert!(text.contains("metrics token") && !text.contains(secret));
    assert!(
        text.contains("LABGATE_LISTN"),
        "unknown variables are reported: {text}"
    );
}

#[tokio::test]
async fn bad_configuration_exits_non_zero_naming_the_problem() {
    let site = Site::new().await;
    std::fs::write(
        site.dir.path().join("labgate.toml"),
        "listen = \"127.0.0.1:0\"\nlisten_port = 3\n",
    )
    .unwrap();
    let output = site.run(&["config", "validate"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("listen_port"), "{}", stderr(&output));
    std::fs::remove_file(site.dir.path().join("labgate.toml")).unwrap();

    let output = site.run_with(&["serve"], &[("LABGATE_LISTEN", "not-an-address")]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("LABGATE_LISTEN"));
    let output = site.run(&["--config", "missing.toml", "migrate"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("missing.toml"));
    let output = site.run(&["api-keys", "create", "--name", "x", "--role", "owner"]);
    assert_eq!(output.status.code(), Some(2), "usage errors exit 2");
}

#[tokio::test]
async fn every_command_has_help() {
    let site = Site::new().await;
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["worker", "--help"],
        vec!["migrate", "--help"],
        vec!["keys", "--help"],
        vec!["keys", "rotate", "--help"],
        vec!["tenants", "--help"],
        vec!["api-keys", "create", "--help"],
        vec!["config", "validate", "--help"],
    ] {
        let output = site.run(&args);
        assert!(output.status.success(), "{args:?}");
        assert!(stdout(&output).contains("Usage:"), "{args:?}");
    }
}

#[tokio::test]
async fn scan_is_a_subcommand_with_exit_codes() {
    let site = Site::new().await;
    let dir = site.dir.path().join("tree");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("clean.txt"), "nothing to see here\n").unwrap();
    let clean = site.run(&["scan", "--no-history", "tree"]);
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));
    let token = format!("glpat-{}", "Xy7pQ2rS9tUv3wZa1bCd");
    std::fs::write(dir.join("ci.env"), format!("GITLAB_TOKEN={token}\n")).unwrap();
    let found = site.run(&["scan", "--no-history", "--format", "json", "tree"]);
    assert_eq!(found.status.code(), Some(1), "{}", stderr(&found));
    assert!(stdout(&found).contains("ci.env"));
    assert!(
        !stdout(&found).contains(&token),
        "secrets are redacted unless asked for"
    );
    let missing = site.run(&["scan", "no-such-dir"]);
    assert!(!missing.status.success() && missing.status.code() != Some(1));
}

#[tokio::test]
async fn configuration_errors_name_the_setting_and_where_it_was_set() {
    let site = Site::new().await;
    let output = site.run_with(
        &["config", "validate"],
        &[("LABGATE_DATABASE_MAX_CONNECTIONS", "abc")],
    );
    assert!(!output.status.success());
    assert_eq!(
        stderr(&output).trim(),
        "error: LABGATE_DATABASE_MAX_CONNECTIONS: expected an integer from 0 to 4294967295, found \"abc\""
    );

    let file = site.dir.path().join("labgate.toml");
    std::fs::write(&file, "database_max_connections = \"abc\"\n").unwrap();
    let output = site.run(&["config", "validate"]);
    assert!(!output.status.success());
    assert_eq!(
        stderr(&output).trim(),
        "error: database_max_connections in labgate.toml: expected an integer from 0 to 4294967295, found \"abc\""
    );

    // A secret's value is never quoted, wherever it came from.
    let secret = "98765432101234";
    std::fs::write(&file, format!("metrics_token = {secret}\n")).unwrap();
    let output = site.run(&["config", "validate"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("metrics_token in labgate.toml"), "{message}");
    assert!(!message.contains(secret), "{message}");
    std::fs::remove_file(&file).unwrap();

    let output = site.run(&["serve", "--listen", "nowhere"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).starts_with("error: --listen must be an address and port"),
        "{}",
        stderr(&output)
    );
    for output in [
        site.run_with(&["config", "validate"], &[("LABGATE_WORKER_CONCURRENCY", "x")]),
        site.run_with(&["config", "validate"], &[("LABGATE_TRUSTED_PROXIES", "[1]")]),
    ] {
        assert!(!output.status.success());
        assert!(!stderr(&output).contains(".rs:"), "{}", stderr(&output));
    }
}

#[tokio::test]
async fn a_missing_oauth_client_secret_file_stops_the_start_naming_the_setting() {
    let site = Site::new().await;
    let missing = site.dir.path().join("no-such-secret");
    let missing = missing.display().to_string();
    let output = site.run_with(
        &["serve"],
        &[
            ("LABGATE_GITLAB_OAUTH_CLIENT_ID", "app-id"),
            ("LABGATE_GITLAB_OAUTH_CLIENT_SECRET_FILE", &missing),
        ],
    );
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.starts_with("error: LABGATE_GITLAB_OAUTH_CLIENT_SECRET_FILE: cannot read")
            && message.contains(&missing),
        "{message}"
    );

    let output = site.run_with(
        &["config", "validate"],
        &[("LABGATE_GITLAB_OAUTH_CLIENT_SECRET", "gloas-NOTshownNOTshown")],
    );
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message
            .contains("LABGATE_GITLAB_OAUTH_CLIENT_SECRET is set but LABGATE_GITLAB_OAUTH_CLIENT_ID is not"),
        "{message}"
    );
    assert!(!message.contains("NOTshown"), "{message}");

    let output = site.run_with(
        &["config", "validate"],
        &[
            ("LABGATE_GITLAB_URL", "https://example.com/gitlab/"),
            ("LABGATE_GITLAB_OAUTH_CLIENT_ID", "app-id"),
            ("LABGATE_GITLAB_OAUTH_CLIENT_SECRET", "gloas-NOTshownNOTshown"),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("https://example.com/gitlab") && text.contains("app-id") && !text.contains("NOTshown"),
        "{text}"
    );
}
