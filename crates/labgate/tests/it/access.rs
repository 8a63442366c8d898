//! `labgate access` against a running server: accounts, grants (table, JSON, CSV) and diffs read
//! from syncs stored the way the sync stores them; `sync --wait` against a server answering the
//! access sync contract, following a sync to success or failure.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gitlab_sim::{Seed, SimServer};
use labgate_store::{Store, StoreOptions};
use labgate_testkit::TestBackend;
use labgate_testkit::access::seed_access;
use serde_json::{Value, json};

use crate::{Site, cli, json, ok, stderr, stdout};

const ALICE: &str = "glpat-aliceALICEalice1234";

async fn store(site: &Site) -> Store {
    let url = match site.database.backend() {
        TestBackend::Postgres => site.database.url().to_owned(),
        TestBackend::Sqlite => format!("sqlite://{}", site.data_dir().join("labgate.db").display()),
    };
    Store::connect(&url, &StoreOptions::default()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_grants_and_diffs_through_the_cli() {
    let sim = SimServer::start(
        Seed::builder()
            .user("alice")
            .group("acme", "Acme")
            .member("acme", "alice", 50)
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
    let run = |args: &[&str]| cli(&site, &env, args, None);
    let connection = json(&cli(
        &site,
        &env,
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
    let store = store(&site).await;
    let tenant = store.list_tenants().await.unwrap().remove(0).id;
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1_000;
    let fixture = seed_access(&store, &tenant, &connection, now).await;
    let source = fixture.source_id.as_str();

    let table = ok(&run(&["access", "accounts", "--source", source]));
    for expected in [
        "alice",
        "heidi",
        "service-account",
        "9 of 9 accounts",
        fixture.second_run.as_str(),
    ] {
        assert!(table.contains(expected), "{expected} in {table}");
    }
    assert!(!table.contains("dave"), "{table}");
    let page = ok(&run(&[
        "access", "accounts", "--source", source, "--search", "carol",
    ]));
    assert!(page.contains("1 of 1 accounts"), "{page}");

    let csv = ok(&run(&[
        "access", "accounts", "--source", source, "--format", "csv",
    ]));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 10, "{csv}");
    assert!(lines[0].starts_with("id,username,name,kind,state"), "{csv}");
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("13,eve,'=2+5 Eve,human,blocked")),
        "{csv}"
    );

    let frank = ok(&run(&[
        "access",
        "grants",
        "--source",
        source,
        "--account",
        "frank",
    ]));
    assert!(frank.contains("shared via partners (cap Developer)"), "{frank}");
    assert!(frank.contains("5 of 5 grants"), "{frank}");
    let carol = ok(&run(&[
        "access",
        "grants",
        "--source",
        source,
        "--account",
        "carol",
    ]));
    assert!(carol.contains("Developer (30) + Security Auditor"), "{carol}");

    let api: Value = serde_json::from_str(&ok(&run(&[
        "access",
        "grants",
        "--source",
        source,
        "--resource",
        "acme/platform/api",
        "--format",
        "json",
    ])))
    .unwrap();
    assert_eq!(api["totalCount"], 5);
    assert_eq!(api["grants"].as_array().unwrap().len(), 5);
    let grants_csv = ok(&run(&["access", "grants", "--source", source, "--format", "csv"]));
    assert!(
        grants_csv.starts_with("account_id,account,resource_kind"),
        "{grants_csv}"
    );
    assert!(
        grants_csv.contains(
            "14,frank,project,20,acme/platform/api,30,Developer,,shared,partners,acme/platform,Developer,"
        ),
        "{grants_csv}"
    );

    let diff = ok(&run(&["access", "diff", &fixture.second_run]));
    for expected in [
        format!("against sync {}", fixture.first_run),
        "heidi".to_owned(),
        "1 added, 1 removed, 4 changed".to_owned(),
        "changed from Developer (30)".to_owned(),
        "new administrator: carol".to_owned(),
        "new owner: bob of acme/platform".to_owned(),
    ] {
        assert!(diff.contains(&expected), "{expected} in {diff}");
    }
    let first: Value =
        serde_json::from_str(&ok(&run(&["access", "diff", &fixture.first_run, "--json"]))).unwrap();
    assert!(first["base"].is_null());

    // Mistakes end non-zero with the server's reason.
    let failed = run(&["access", "diff", &fixture.failed_run]);
    assert!(!failed.status.success());
    assert!(
        stderr(&failed).contains("only a sync that succeeded"),
        "{}",
        stderr(&failed)
    );
    let unknown = run(&[
        "access",
        "accounts",
        "--source",
        "0190aaaa-0000-7000-8000-000000000000",
    ]);
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("access source not found"),
        "{}",
        stderr(&unknown)
    );
    let format = run(&["access", "grants", "--source", source, "--format", "xml"]);
    assert!(!format.status.success());
    assert!(
        stderr(&format).contains("expected table, json or csv"),
        "{}",
        stderr(&format)
    );
    let empty = ok(&run(&[
        "access",
        "grants",
        "--source",
        &fixture.unsynced_source_id,
    ]));
    assert!(empty.contains("the source has no successful sync yet"), "{empty}");
    drop(server);
}

/// A server that answers the access sync contract: each sync of source `ok-…` succeeds on its
/// third reading, of any other source fails; an unknown source is a 404 in the error contract.
struct Contract {
    reads: AtomicU32,
}

async fn start_sync(Path(source): Path<String>) -> Response {
    if source == "missing" {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"statusCode": 404, "error": "NotFound", "message": "access source not found", "reqId": "r1"})),
        )
            .into_response();
    }
    Json(
        json!({"sync": {"id": format!("sync-{source}"), "status": "queued",
        "progress": {"phase": null, "done": 0, "total": null}}}),
    )
    .into_response()
}

async fn read_sync(State(contract): State<Arc<Contract>>, Path(id): Path<String>) -> Response {
    let reads = contract.reads.fetch_add(1, Ordering::SeqCst) + 1;
    let source = id.trim_start_matches("sync-");
    let (status, error) = match (reads, source.starts_with("ok-")) {
        (1 | 2, _) => ("syncing", None),
        (_, true) => ("succeeded", None),
        (_, false) => ("failed", Some("GitLab answered 401: the token was revoked")),
    };
    Json(json!({"sync": {"id": id, "sourceId": source, "status": status,
        "progress": {"phase": "members", "done": reads.min(3), "total": 3},
        "requestCount": reads * 10, "error": error,
        "createdAt": "2026-12-02T05:00:00Z", "startedAt": "2026-12-02T05:00:01Z",
        "finishedAt": (reads > 2).then_some("2026-12-02T05:00:09Z")}}))
    .into_response()
}

async fn contract_server() -> (String, Arc<Contract>) {
    let contract = Arc::new(Contract {
        reads: AtomicU32::new(0),
    });
    let app = axum::Router::new()
        .route("/api/v1/access/sources/{id}/sync", post(start_sync))
        .route("/api/v1/access/syncs/{id}", get(read_sync))
        .with_state(contract.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, contract)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_waits_for_the_end_and_exits_with_its_outcome() {
    let site = Site::new().await;
    let (url, contract) = contract_server().await;
    let env = [("LABGATE_URL", url.as_str()), ("LABGATE_API_KEY", "lgk_contract")];

    let queued = ok(&cli(&site, &env, &["access", "sync", "ok-acme"], None));
    assert!(queued.contains("sync sync-ok-acme queued"), "{queued}");
    assert_eq!(
        contract.reads.load(Ordering::SeqCst),
        0,
        "without --wait nothing is followed"
    );

    let done = cli(
        &site,
        &env,
        &["access", "sync", "ok-acme", "--wait", "--json"],
        None,
    );
    let sync = json(&done);
    assert_eq!(sync["status"], "succeeded");
    assert_eq!(sync["progress"]["done"], 3);
    assert_eq!(contract.reads.load(Ordering::SeqCst), 3);
    // Not a terminal: no progress bar drawn.
    assert!(!stderr(&done).contains("members"), "{}", stderr(&done));

    contract.reads.store(0, Ordering::SeqCst);
    let failed = cli(&site, &env, &["access", "sync", "acme", "--wait"], None);
    assert!(!failed.status.success());
    assert!(
        stdout(&failed).contains("sync sync-acme failed"),
        "{}",
        stdout(&failed)
    );
    assert!(
        stderr(&failed).contains("access sync sync-acme failed: GitLab answered 401"),
        "{}",
        stderr(&failed)
    );

    let missing = cli(&site, &env, &["access", "sync", "missing", "--wait"], None);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("access source not found"),
        "{}",
        stderr(&missing)
    );
}

/// `sync --wait` against a served labgate whose worker runs the sync at gitlab-sim, then the
/// accounts, grants and diff of what it saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_sync_is_followed_to_its_end_and_read_back() {
    let sim = SimServer::start(
        Seed::builder()
            .user("alice")
            .user("bob")
            .group("acme", "Acme")
            .group("acme/platform", "Platform")
            .project("acme/platform/api", "API")
            .member("acme", "alice", 40)
            .member("acme/platform/api", "bob", 30)
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
    let run = |args: &[&str]| cli(&site, &env, args, None);
    let connection = json(&cli(
        &site,
        &env,
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
    let created: Value = crate::client()
        .post(format!("{}/api/v1/access/sources", server.url))
        .bearer_auth(&key)
        .json(&json!({"name": "acme", "connectionId": connection,
            "scope": {"kind": "group", "fullPath": "acme"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let source = created["source"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();

    let sync = json(&run(&["access", "sync", &source, "--wait", "--json"]));
    assert_eq!(sync["status"], "succeeded", "{sync}");
    let sync_id = sync["id"].as_str().unwrap().to_owned();

    let accounts = ok(&run(&["access", "accounts", "--source", &source]));
    assert!(
        accounts.contains("alice") && accounts.contains("bob"),
        "{accounts}"
    );
    assert!(accounts.contains(&format!("from sync {sync_id}")), "{accounts}");
    let grants = ok(&run(&[
        "access",
        "grants",
        "--source",
        &source,
        "--resource",
        "acme/platform/api",
    ]));
    assert!(grants.contains("inherited via acme"), "{grants}");
    assert!(grants.contains("Developer (30)"), "{grants}");
    let diff = ok(&run(&["access", "diff", &sync_id]));
    assert!(diff.contains("first successful sync"), "{diff}");
    drop(server);
}
