use crate::{Site, client, file_mode, stdout};

#[tokio::test]
async fn serve_starts_with_zero_configuration_and_prints_a_bootstrap_key() {
    let site = Site::new().await;
    let server = site.serve(&[]);
    assert!(server.url.starts_with("http://127.0.0.1:"));
    let key = server
        .bootstrap_key()
        .expect("a bootstrap key is printed on first start");
    let http = client();
    let jobs = http
        .get(format!("{}/api/v1/jobs", server.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(jobs.status(), 200);
    let body: serde_json::Value = jobs.json().await.unwrap();
    assert!(body["jobs"].is_array());
    let anonymous = http
        .get(format!("{}/api/v1/jobs", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let body: serde_json::Value = anonymous.json().await.unwrap();
    assert_eq!(body["error"], "Unauthorized");
    assert!(body["reqId"].is_string());

    let (status, logs) = server.stop();
    assert!(status.success(), "graceful shutdown exits 0: {logs}");
    assert!(
        !logs.contains(&key),
        "the bootstrap key is printed once on stdout, never logged"
    );
    assert_eq!(file_mode(&site.data_dir().join("root.key")), 0o600);
    if site.database.backend() == labgate_testkit::TestBackend::Sqlite {
        assert!(site.data_dir().join("labgate.db").exists());
    }

    // A second start keeps the data and prints no new key.
    let again = site.serve(&[]);
    assert!(again.bootstrap_key().is_none());
    let jobs = client()
        .get(format!("{}/api/v1/jobs", again.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(jobs.status(), 200);
    again.stop();
}

#[tokio::test]
async fn a_supplied_bootstrap_key_is_used_and_not_printed() {
    let site = Site::new().await;
    let key = "automation-supplied-bootstrap-key-0123456789";
    let server = site.serve(&[("LABGATE_BOOTSTRAP_ADMIN_KEY", key)]);
    assert!(server.bootstrap_key().is_none());
    assert!(!server.printed.concat().contains(key));
    let reply = client()
        .get(format!("{}/api/v1/api-keys", server.url))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let (_, logs) = server.stop();
    assert!(!logs.contains(key));
}

#[tokio::test]
async fn operator_commands_work_on_the_database_while_the_server_runs() {
    let site = Site::new().await;
    let server = site.serve(&[]);
    let created = site.run(&["tenants", "create", "acme"]);
    assert!(created.status.success(), "{}", crate::stderr(&created));
    let key = site.run(&[
        "api-keys", "create", "--tenant", "acme", "--name", "ops", "--role", "reader", "--json",
    ]);
    assert!(key.status.success(), "{}", crate::stderr(&key));
    let body: serde_json::Value = serde_json::from_str(&stdout(&key)).unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    let http = client();
    let url = format!("{}/api/v1/jobs", server.url);
    assert_eq!(
        http.get(&url).bearer_auth(&token).send().await.unwrap().status(),
        200
    );

    let listed = site.run(&["api-keys", "list", "--tenant", "acme", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&stdout(&listed)).unwrap();
    assert!(!stdout(&listed).contains(&token));
    let id = list["apiKeys"][0]["id"].as_str().unwrap().to_owned();
    let revoked = site.run(&["api-keys", "revoke", "--tenant", "acme", &id]);
    assert!(revoked.status.success(), "{}", crate::stderr(&revoked));
    // Another process revoked it: the server notices once its cache entry (under a second)
    // expires.
    let started = std::time::Instant::now();
    labgate_testkit::wait_until(
        std::time::Duration::from_secs(10),
        "the revoked key is refused",
        || async { http.get(&url).bearer_auth(&token).send().await.unwrap().status() == 401 },
    )
    .await;
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    let tenants = site.run(&["tenants", "list", "--json"]);
    let names: Vec<String> = serde_json::from_str::<Vec<serde_json::Value>>(&stdout(&tenants))
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["default", "acme"]);
    let duplicate = site.run(&["tenants", "create", "acme"]);
    assert!(!duplicate.status.success());
    assert!(crate::stderr(&duplicate).contains("already exists"));
    let bad = site.run(&["tenants", "create", "Not Valid"]);
    assert!(!bad.status.success());
    server.stop();
}

#[tokio::test]
async fn migrate_reports_the_schema_version() {
    let site = Site::new().await;
    let output = site.run(&["migrate"]);
    assert!(output.status.success(), "{}", crate::stderr(&output));
    let text = stdout(&output);
    let number_after = |marker: &str| -> u32 {
        let rest = &text[text.find(marker).unwrap() + marker.len()..];
        rest.split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(number_after("schema version ") >= 1, "{text}");
    assert_eq!(
        number_after("schema version "),
        number_after("this labgate knows "),
        "{text}"
    );
}

#[tokio::test]
async fn jobs_commands_talk_to_the_running_server() {
    let site = Site::new().await;
    let server = site.serve(&[]);
    let key = server.bootstrap_key().unwrap();
    let env = [
        ("LABGATE_URL", server.url.as_str()),
        ("LABGATE_API_KEY", key.as_str()),
    ];
    // A job of tenant `default`, queued straight into the database the server works on.
    let services = crate::workers::services(&site).await;
    let tenant = services.tenants.by_name("default").await.unwrap();
    let mut spec = labgate_core::jobs::JobSpec::new(
        labgate_core::jobs::JobKind::DiagnosticProbe,
        serde_json::json!({"millis": 300, "steps": 3}),
    );
    spec.tenant_id = Some(tenant.id.clone());
    let (id, _) = services.jobs.enqueue(&spec).await.unwrap();

    let watched = site.run_with(&["jobs", "show", &id, "--watch", "--json"], &env);
    assert!(watched.status.success(), "{}", crate::stderr(&watched));
    let job: serde_json::Value = serde_json::from_str(&stdout(&watched)).unwrap();
    assert_eq!(job["state"], "succeeded");
    assert_eq!(job["progress"]["done"], 3);
    let listed = site.run_with(&["jobs", "list", "--kind", "diagnostic.probe", "--json"], &env);
    let list: serde_json::Value = serde_json::from_str(&stdout(&listed)).unwrap();
    assert_eq!(list["totalCount"], 1);
    let table = site.run_with(&["jobs", "list"], &env);
    assert!(stdout(&table).contains("1 of 1 jobs"), "{}", stdout(&table));

    let missing = site.run_with(&["jobs", "show", "0190b6c0-0000-7000-8000-000000000000"], &env);
    assert!(!missing.status.success());
    assert!(
        crate::stderr(&missing).contains("NotFound"),
        "{}",
        crate::stderr(&missing)
    );
    let wrong = site.run_with(
        &["jobs", "list"],
        &[
            ("LABGATE_URL", server.url.as_str()),
            ("LABGATE_API_KEY", "lgk_wrong"),
        ],
    );
    assert!(!wrong.status.success());
    assert!(crate::stderr(&wrong).contains("Unauthorized"));
    assert!(!crate::stderr(&wrong).contains("lgk_wrong"));
    let no_key = site.run_with(&["jobs", "list"], &[("LABGATE_URL", server.url.as_str())]);
    assert!(crate::stderr(&no_key).contains("LABGATE_API_KEY"));
    server.stop();
}
