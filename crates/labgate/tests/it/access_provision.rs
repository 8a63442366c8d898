//! `labgate access provision` against a running server and gitlab-sim: a dry run shows the
//! plan and writes nothing at GitLab, a real grant adds the member, an unconfirmed deletion is
//! refused with a non-zero exit, and operations are listed per source.

use gitlab_sim::{Seed, SimServer};
use labgate_store::{AccessSourceRecord, Store, StoreOptions};
use labgate_testkit::TestBackend;

use crate::{Site, cli, json, ok, stderr, stdout};

const ROOT: &str = "glpat-rootROOTroot12345678";

/// The site's database, opened beside the running server, to add an access source to it.
async fn store(site: &Site) -> Store {
    let url = match site.database.backend() {
        TestBackend::Postgres => site.database.url().to_owned(),
        TestBackend::Sqlite => format!("sqlite://{}", site.data_dir().join("labgate.db").display()),
    };
    Store::connect(&url, &StoreOptions::default()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_through_the_cli_with_a_dry_run_first() {
    let sim = SimServer::start(
        Seed::builder()
            .admin("root")
            .user("carol")
            .group("acme", "Acme")
            .project("acme/api", "API")
            .personal_token("root", "labgate", &["api"], ROOT)
            .build(),
    )
    .await
    .unwrap();
    let site = Site::new().await;
    let server = site.serve(&[("LABGATE_ALLOW_INTERNAL_HOSTS", "127.0.0.1")]);
    let key = server.bootstrap_key().unwrap();
    let env = [
        ("LABGATE_URL", server.url.as_str()),
        ("LABGATE_API_KEY", key.as_str()),
    ];
    let run = |args: &[&str], stdin: Option<&str>| cli(&site, &env, args, stdin);
    let connection = json(&run(
        &[
            "connections",
            "create",
            "--name",
            "root",
            "--type",
            "personal",
            "--instance-url",
            sim.url(),
            "--json",
        ],
        Some(ROOT),
    ));
    let connection = connection["appConnection"]["id"].as_str().unwrap().to_owned();
    let store = store(&site).await;
    let tenant = store.list_tenants().await.unwrap().remove(0);
    let source = store
        .insert_access_source(&AccessSourceRecord {
            id: labgate_core::ids::AccessSourceId::generate().to_string(),
            tenant_id: tenant.id,
            name: "instance".into(),
            connection_id: connection,
            scope_kind: "instance".into(),
            scope_full_path: None,
            status: "idle".into(),
            last_run_id: None,
            version: 1,
            created_at: 0,
            updated_at: 0,
        })
        .await
        .unwrap()
        .id;
    sim.requests().reset();

    let grant = [
        "access",
        "provision",
        "grant",
        "--source",
        &source,
        "--account",
        "carol@example.com",
        "--resource",
        "acme/api",
        "--level",
        "15",
    ];
    let mut dry = grant.to_vec();
    dry.push("--dry-run");
    let plan = ok(&run(&dry, None));
    assert!(plan.contains("add-member") && plan.contains("pending"), "{plan}");
    assert!(plan.contains("Planner") && plan.contains("dry run"), "{plan}");
    assert_eq!(
        sim.requests().writes("/"),
        0,
        "a dry run writes nothing at GitLab"
    );
    assert_eq!(sim.state().access_level("acme/api", "carol"), Some(0));

    let mut real = grant.to_vec();
    real.push("--json");
    let done = json(&run(&real, None));
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["steps"][0]["status"], "applied");
    assert_eq!(sim.state().access_level("acme/api", "carol"), Some(15));

    let refused = run(
        &[
            "access",
            "provision",
            "deprovision",
            "--source",
            &source,
            "--account",
            "carol",
            "--step",
            "delete",
        ],
        None,
    );
    assert!(!refused.status.success(), "{}", stdout(&refused));
    assert!(stderr(&refused).contains("confirm"), "{}", stderr(&refused));
    assert!(sim.state().user_id("carol").is_some());

    let listed = ok(&run(&["access", "provision", "list", "--source", &source], None));
    assert_eq!(listed.matches("grant").count(), 2, "{listed}");
}
