//! Secret sync benchmark: 1,000 hidden secrets synced to a gitlab-sim project through the worker,
//! counting GitLab writes with the simulator's request counters and timing each run; then the
//! same no-op and one-change runs with the naive strategy (list, then re-`PUT` every variable
//! whose listed value differs from the secret — which is every hidden variable, since GitLab
//! answers `value: null` for them), in the same process, against the same simulator.
//!
//! ```sh
//! cargo run --release -p labgate-worker --example sync_bench
//! ```
//! `SECRETS=5000` changes the number of secrets.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use gitlab_sim::{Seed, SimServer};
use labgate_core::secrets::{EnvironmentSlug, Folder, NewSecret, SecretChange, SecretKey, SecretPath};
use labgate_gitlab::{
    Credential, GitLabBaseUrl, GitLabClient, InstanceSettings, NewVariable, ResourceId, Source,
};
use labgate_proto::connections::{AccessTokenCredentials, CreateConnectionRequest};
use labgate_proto::secret_syncs::{
    CreateSecretSyncRequest, GitLabDestinationConfig, InitialSyncBehavior, SyncOptions, SyncScope, SyncStatus,
};
use labgate_testkit::TestEnv;
use labgate_worker::{Worker, WorkerSettings, default_handlers};
use secrecy::{ExposeSecret, SecretString};

const TOKEN: &str = "glpat-benchBENCHbench12345";
const PROJECT: &str = "acme/api";

/// What one run cost GitLab.
struct Cost {
    writes: u64,
    list_pages: u64,
    elapsed: Duration,
}

fn cost(sim: &SimServer, elapsed: Duration) -> Cost {
    Cost {
        writes: sim.requests().writes("/variables"),
        list_pages: sim.requests().matching("GET", "/variables"),
        elapsed,
    }
}

fn value(n: usize, generation: u32) -> String {
    format!("bench-value-{n:05}-g{generation}")
}

async fn drain(worker: &Worker) {
    while worker.run_once().await.expect("the queue answers").is_some() {}
}

fn row(name: &str, cost: &Cost) {
    println!(
        "| {name} | {} | {} | {:.1} ms |",
        cost.writes,
        cost.list_pages,
        cost.elapsed.as_secs_f64() * 1_000.0
    );
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("SECRETS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000);
    let seed = Seed::builder()
        .user("alice")
        .group("acme", "Acme")
        .project(PROJECT, "API")
        .project("acme/naive", "Naive")
        .member("acme", "alice", 40)
        .personal_token("alice", "bench", &["api"], TOKEN)
        .build();
    let env = TestEnv::builder().sim(seed).build().await;
    let sim = env.sim();
    let admin = env.admin.clone();
    let connection = env
        .services
        .connections
        .create(
            &admin,
            CreateConnectionRequest {
                name: "bench".to_owned(),
                description: None,
                method: "access-token".to_owned(),
                credentials: Some(
                    AccessTokenCredentials {
                        access_token: TOKEN.to_owned(),
                        instance_url: Some(sim.url().to_owned()),
                        access_token_type: "personal".to_owned(),
                    }
                    .into(),
                ),
                project_id: None,
                is_platform_managed_credentials: None,
                gateway_id: None,
                usages: None,
                auto_rotate: Some(false),
                rotate_before_days: None,
            },
        )
        .await
        .expect("the connection is created");
    let project = env
        .services
        .secrets
        .create_project(&admin, "Bench", None, None)
        .await
        .expect("the secrets project is created");
    let folder = Folder {
        project: project.id.clone(),
        environment: EnvironmentSlug::parse("prod").expect("a slug"),
        path: SecretPath::root(),
    };
    let mut secrets: Vec<(String, String)> = (0..count)
        .map(|n| (format!("SECRET_{n:05}"), value(n, 0)))
        .collect();
    for chunk in secrets.chunks(labgate_core::secrets::MAX_BATCH) {
        let batch = chunk
            .iter()
            .map(|(key, value)| NewSecret {
                key: SecretKey::parse(key).expect("a key"),
                value: SecretString::from(value.clone()),
                comment: None,
                tags: None,
            })
            .collect();
        env.services
            .secrets
            .create_many(&admin, &folder, batch)
            .await
            .expect("the secrets are stored");
    }
    let sync = env
        .services
        .secret_syncs
        .create(
            &admin,
            CreateSecretSyncRequest {
                name: "bench".to_owned(),
                description: None,
                connection_id: connection.id,
                project_id: project.id.to_string(),
                environment: "prod".to_owned(),
                secret_path: "/".to_owned(),
                is_auto_sync_enabled: Some(false),
                destination_config: GitLabDestinationConfig {
                    scope: SyncScope::Project,
                    project_id: Some(PROJECT.to_owned()),
                    project_name: None,
                    group_id: None,
                    group_name: None,
                    target_environment: None,
                    should_protect_secrets: false,
                    should_mask_secrets: true,
                    should_hide_secrets: true,
                    variable_type: None,
                    expand_variables: false,
                    description: None,
                },
                sync_options: SyncOptions {
                    initial_sync_behavior: InitialSyncBehavior::OverwriteDestination,
                    key_schema: None,
                    disable_secret_deletion: false,
                    delete_unowned_matching_keys: false,
                },
            },
        )
        .await
        .expect("the sync is created");
    let settings = WorkerSettings {
        owner: "bench".to_owned(),
        ..WorkerSettings::default()
    };
    let handlers = default_handlers(
        &settings,
        labgate_worker::delivery_client(&env.services.network).expect("a delivery client"),
    );
    let worker = Worker::new(env.services.clone(), settings, handlers);

    let run = |label: &'static str| {
        let env = &env;
        let worker = &worker;
        let id = sync.id.clone();
        let admin = admin.clone();
        async move {
            sim.requests().reset();
            let started = Instant::now();
            env.services
                .secret_syncs
                .trigger_sync(&admin, &id)
                .await
                .expect("the sync is queued");
            drain(worker).await;
            let elapsed = started.elapsed();
            let view = env
                .services
                .secret_syncs
                .get(&admin, &id)
                .await
                .expect("the sync");
            assert_eq!(
                view.sync_status,
                Some(SyncStatus::Succeeded),
                "{label}: {:?}",
                view.last_sync_message
            );
            cost(sim, elapsed)
        }
    };

    let first = run("first").await;
    let noop = run("no-op").await;
    let change = |n: usize, generation: u32| {
        let env = &env;
        let admin = admin.clone();
        let folder = folder.clone();
        async move {
            env.services
                .secrets
                .update(
                    &admin,
                    &folder,
                    SecretChange {
                        key: SecretKey::parse(&format!("SECRET_{n:05}")).expect("a key"),
                        new_key: None,
                        value: Some(SecretString::from(value(n, generation))),
                        comment: None,
                        tags: None,
                    },
                )
                .await
                .expect("the secret changes");
        }
    };
    change(7, 1).await;
    let one = run("one change").await;

    // The naive strategy, on a project of its own, with the same secrets.
    let client = GitLabClient::with_options(
        InstanceSettings::new(GitLabBaseUrl::parse(sim.url()).expect("the simulator's URL")),
        &labgate_testkit::sim::loopback_policy(),
        labgate_testkit::sim::fast_client_options(),
    )
    .expect("a GitLab client");
    let cred = Credential::PrivateToken(SecretString::from(TOKEN.to_owned()));
    let naive = |secrets: Vec<(String, String)>| {
        let client = &client;
        let cred = &cred;
        async move {
            sim.requests().reset();
            let started = Instant::now();
            naive_run(client, cred, &secrets, "acme/naive").await;
            cost(sim, started.elapsed())
        }
    };
    let naive_first = naive(secrets.clone()).await;
    let naive_noop = naive(secrets.clone()).await;
    if let Some(entry) = secrets.get_mut(7) {
        entry.1 = value(7, 2);
    }
    let naive_one = naive(secrets.clone()).await;

    println!("secrets: {count}, hidden and masked, one project, 100 variables per listing page\n");
    println!("| run | GitLab writes | list pages | wall time |");
    println!("|---|---|---|---|");
    row("labgate: first sync", &first);
    row("labgate: no-op sync", &noop);
    row("labgate: one secret changed", &one);
    row("naive: first sync", &naive_first);
    row("naive: no-op sync", &naive_noop);
    row("naive: one secret changed", &naive_one);
    let ratio = |naive: &Cost, ours: &Cost| {
        if ours.writes == 0 {
            format!("{} writes against none", naive.writes)
        } else {
            format!("{:.0}×", naive.writes as f64 / ours.writes as f64)
        }
    };
    println!(
        "\nwrites, naive / labgate: no-op {}, one change {}",
        ratio(&naive_noop, &noop),
        ratio(&naive_one, &one)
    );
    assert_eq!(
        first.writes, count as u64,
        "the first sync writes every secret once"
    );
    assert_eq!(noop.writes, 0, "a no-op sync writes nothing");
    assert_eq!(one.writes, 1, "one changed secret is one write");
}

/// The naive strategy: one listing, then a write for every secret whose listed value differs.
async fn naive_run(client: &GitLabClient, cred: &Credential, secrets: &[(String, String)], project: &str) {
    let source = Source::Project(ResourceId::Path(project.to_owned()));
    let mut listed = std::collections::HashMap::new();
    let mut stream = client.variables(cred, &source);
    while let Some(variable) = stream.next().await {
        let variable = variable.expect("GitLab lists the variables");
        listed.insert(variable.key.clone(), variable);
    }
    for (key, value) in secrets {
        let mut new = NewVariable::new(key.clone(), SecretString::from(value.clone()));
        new.masked = true;
        new.masked_and_hidden = true;
        new.raw = true;
        match listed.get(key) {
            Some(existing)
                if existing
                    .value
                    .as_ref()
                    .is_some_and(|v| v.expose_secret() == value) => {}
            Some(_) => {
                client
                    .update_variable(cred, &source, "*", &new)
                    .await
                    .expect("GitLab takes the update");
            }
            None => {
                client
                    .create_variable(cred, &source, &new)
                    .await
                    .expect("GitLab takes the variable");
            }
        }
    }
}
