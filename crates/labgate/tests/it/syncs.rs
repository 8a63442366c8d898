//! `labgate syncs` against a running server (with its worker) and gitlab-sim: create, list, plan,
//! run (following the job), import and remove; `run` exits non-zero when the sync ends partial.

use gitlab_sim::{Seed, SimServer};

use crate::{Site, cli, json, ok, stderr, stdout};

const ALICE: &str = "glpat-aliceALICEalice1234";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_through_the_cli() {
    let sim = SimServer::start(
        Seed::builder()
            .user("alice")
            .group("acme", "Acme")
            .project("acme/api", "API")
            .member("acme", "alice", 40)
            .variable("acme/api", "FROM_GITLAB", "gitlab-side")
            .personal_token("alice", "ci", &["api"], ALICE)
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
            "alice",
            "--type",
            "personal",
            "--instance-url",
            sim.url(),
            "--json",
        ],
        Some(ALICE),
    ));
    let connection = connection["appConnection"]["id"].as_str().unwrap().to_owned();
    let project = json(&run(
        &["projects", "create", "--name", "Payments", "--json"],
        None,
    ));
    let project = project["project"]["id"].as_str().unwrap().to_owned();
    let folder = ["--project", "payments", "--env", "prod"];
    for (name, value) in [("DB_URL", "postgres://db"), ("TOKEN", "tok-123456789")] {
        let mut args = vec!["secrets", "set", name];
        args.extend(folder);
        ok(&run(&args, Some(value)));
    }

    let created = json(&run(
        &[
            "syncs",
            "create",
            "--name",
            "to-api",
            "--connection",
            &connection,
            "--project",
            &project,
            "--environment",
            "prod",
            "--gitlab-project",
            "acme/api",
            "--protect",
            "--no-auto-sync",
            "--json",
        ],
        None,
    ));
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["destinationConfig"]["projectName"], "acme/api");
    let listed = ok(&run(&["syncs", "list", "--project", &project], None));
    assert!(
        listed.contains("to-api") && listed.contains("acme/api"),
        "{listed}"
    );

    let plan = ok(&run(&["syncs", "plan", &id], None));
    assert!(plan.contains("DB_URL") && plan.contains("create"), "{plan}");
    assert_eq!(sim.requests().writes("/variables"), 0, "a plan writes nothing");

    let ran = ok(&run(&["syncs", "run", &id], None));
    assert!(ran.starts_with("succeeded: 2 created"), "{ran}");
    let db = sim.state().variable("acme/api", "DB_URL", "*").unwrap();
    assert_eq!(
        (db.value.as_str(), db.protected, db.raw),
        ("postgres://db", true, true)
    );

    let imported = ok(&run(
        &["syncs", "import", &id, "--behavior", "prioritize-source"],
        None,
    ));
    assert!(imported.starts_with("succeeded: 3 imported"), "{imported}");
    let mut args = vec!["secrets", "get", "FROM_GITLAB"];
    args.extend(folder);
    assert_eq!(ok(&run(&args, None)), "gitlab-side\n");

    // A value GitLab cannot mask fails its key only; the run exits non-zero.
    let mut args = vec!["secrets", "set", "SHORT"];
    args.extend(folder);
    ok(&run(&args, Some("abc")));
    let update = run(
        &[
            "syncs",
            "create",
            "--name",
            "masked",
            "--connection",
            &connection,
            "--project",
            &project,
            "--environment",
            "prod",
            "--gitlab-project",
            "acme/api",
            "--target-environment",
            "production",
            "--mask",
            "--no-auto-sync",
            "--json",
        ],
        None,
    );
    let masked = json(&update)["id"].as_str().unwrap().to_owned();
    let partial = run(&["syncs", "run", &masked], None);
    assert!(!partial.status.success());
    assert!(stdout(&partial).starts_with("partial:"), "{}", stdout(&partial));
    assert!(stderr(&partial).contains("partial"), "{}", stderr(&partial));

    let removed = ok(&run(&["syncs", "remove", &id], None));
    assert!(removed.starts_with("succeeded: 2 variables removed"), "{removed}");
    assert!(sim.state().variable("acme/api", "DB_URL", "*").is_none());
    assert_eq!(
        sim.state()
            .variable("acme/api", "FROM_GITLAB", "*")
            .unwrap()
            .value,
        "gitlab-side",
        "a variable labgate did not write stays"
    );
}
