//! Tokens a scan finds leaked: their connections turn `compromised` (an event and a webhook),
//! and those that rotate automatically get a new token at once through the journalled rotation
//! (an OAuth grant through a refresh), after which GitLab refuses the leaked token and the
//! credential broker hands out the new one.

use std::path::Path;

use super::secret_scanning::{scanning_env_services as scanning_services, token_connection, worker_with};
use base64::Engine as _;
use gitlab_sim::FaultRule;
use labgate_core::scanning::findings::FindingQuery;
use labgate_gitlab::{Credential, GitLabBaseUrl, GitLabClient, GitLabError, InstanceSettings};
use labgate_proto::connections::{ConnectionEventKind, ConnectionStatus, UpdateConnectionRequest};
use labgate_proto::secret_scanning::{
    CreateDataSourceRequest, FindingVerification, GitLabDataSourceConfig, ScanScope, ScanStatus,
};
use labgate_proto::webhooks::CreateWebhookRequest;
use labgate_testkit::TestEnv;
use labgate_testkit::sim::{ALICE_TOKEN, standard_seed};
use secrecy::{ExposeSecret, SecretString};

/// Bob's token, leaked in a project; its connection rotates automatically.
const BOB_LEAKED: &str = "glpat-Bq7vK2xPm9Lt4Rw8Yz3C";
/// Carol's token, leaked beside it; its connection waits for a person.
const CAROL_LEAKED: &str = "glpat-Cw4nR8tLq2Vx6Zp9Km3D";

fn seed() -> gitlab_sim::SeedBuilder {
    standard_seed()
        .personal_token("bob", "leaky", &["api"], BOB_LEAKED)
        .personal_token("carol", "leaky", &["api"], CAROL_LEAKED)
        .file(
            "acme/website",
            "deploy/env.sh",
            &format!("export BOB_TOKEN={BOB_LEAKED}\nexport CAROL_TOKEN={CAROL_LEAKED}\n"),
        )
}

/// A data source over the `acme` group, scanned through `connection`, and one full scan of it
/// run to its end by a worker.
async fn scan_acme(env: &TestEnv, services: &labgate_core::Services, connection: &str) -> String {
    let scanning = &services.secret_scanning;
    let source = match scanning.list(&env.admin).await.unwrap().data_sources.first() {
        Some(source) => source.id.clone(),
        None => {
            scanning
                .create(
                    &env.admin,
                    CreateDataSourceRequest {
                        name: "acme".to_owned(),
                        description: None,
                        connection_id: connection.to_owned(),
                        config: GitLabDataSourceConfig {
                            scope: ScanScope::Group,
                            project_id: None,
                            group_id: Some("acme".to_owned()),
                            include_projects: None,
                        },
                        is_auto_scan_enabled: Some(false),
                    },
                )
                .await
                .unwrap()
                .id
        }
    };
    let scan = scanning.trigger_full_scan(&env.admin, &source).await.unwrap();
    let worker = worker_with(services, "w1");
    while worker.run_once().await.unwrap().is_some() {}
    let scans = scanning.scans(&env.admin, &source).await.unwrap().scans;
    let done = scans.iter().find(|s| s.id == scan.id).unwrap();
    assert_eq!(done.status, ScanStatus::Completed, "{:?}", done.status_message);
    source
}

fn sim_client(env: &TestEnv) -> GitLabClient {
    GitLabClient::new(
        InstanceSettings::new(GitLabBaseUrl::parse(env.sim().url()).unwrap()),
        &labgate_testkit::sim::loopback_policy(),
    )
    .unwrap()
}

/// Whether GitLab takes `credential` for a request.
async fn works(env: &TestEnv, credential: Credential) -> bool {
    match sim_client(env).current_user(&credential).await {
        Ok(_) => true,
        Err(GitLabError::Unauthorized { .. }) => false,
        Err(other) => panic!("unexpected answer: {other:?}"),
    }
}

async fn handed_out(env: &TestEnv, connection: &str) -> SecretString {
    env.services
        .connections
        .credential(&env.admin, connection)
        .await
        .unwrap()
        .credential
}

async fn webhook_events(env: &TestEnv, hook: &str) -> Vec<serde_json::Value> {
    let (deliveries, _) = env
        .store
        .list_deliveries(&env.admin.tenant_id, hook, 0, 100)
        .await
        .unwrap();
    deliveries
        .iter()
        .map(|delivery| {
            let mut body: serde_json::Value = serde_json::from_str(&delivery.payload).unwrap();
            body["eventType"] = delivery.event_type.clone().into();
            body
        })
        .collect()
}

async fn subscribe(env: &TestEnv) -> String {
    env.services
        .webhooks
        .create(
            &env.admin,
            CreateWebhookRequest {
                url: "https://hooks.example/in".to_owned(),
                description: None,
                events: None,
                enabled: None,
                secret: None,
            },
        )
        .await
        .unwrap()
        .0
        .id
}

/// The data of a `connection.status_changed` (or other) delivery about `connection`.
fn about<'a>(events: &'a [serde_json::Value], kind: &str, connection: &str) -> Vec<&'a serde_json::Value> {
    events
        .iter()
        .filter(|event| event["eventType"] == kind)
        .map(|event| event.get("data").unwrap_or(event))
        .filter(|data| data["connectionId"] == connection)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaked_token_is_rotated_at_once_when_its_connection_rotates_automatically() {
    let env = TestEnv::builder().sim(seed().build()).build().await;
    let hook = subscribe(&env).await;
    let alice = token_connection(&env, "alice", ALICE_TOKEN, false).await;
    let bob = token_connection(&env, "bob", BOB_LEAKED, true).await;
    let carol = token_connection(&env, "carol", CAROL_LEAKED, false).await;
    let services = scanning_services(&env);
    scan_acme(&env, &services, &alice).await;
    let connections = &env.services.connections;

    // Bob's connection was compromised, then rotated: GitLab refuses the leaked token, takes
    // the new one, and the broker hands out the new one.
    let rotated = connections.get(&env.admin, &bob).await.unwrap();
    assert_eq!(
        rotated.status,
        ConnectionStatus::Active,
        "{:?}",
        rotated.status_reason
    );
    let reason = rotated.status_reason.clone().unwrap_or_default();
    assert!(
        reason.contains("rotated after a scan found it leaked") && reason.contains("acme/website"),
        "{reason}"
    );
    let new_token = handed_out(&env, &bob).await;
    assert_ne!(new_token.expose_secret(), BOB_LEAKED);
    assert!(!works(&env, Credential::PrivateToken(BOB_LEAKED.into())).await);
    assert!(works(&env, Credential::PrivateToken(new_token.clone())).await);
    let events = connections.events(&env.admin, &bob, 0, 50).await.unwrap().events;
    let timeline: Vec<_> = events
        .iter()
        .rev()
        .map(|e| (e.kind, e.from_status, e.to_status))
        .collect();
    assert_eq!(
        timeline,
        [
            (ConnectionEventKind::Created, None, Some(ConnectionStatus::Active)),
            (
                ConnectionEventKind::StatusChanged,
                Some(ConnectionStatus::Active),
                Some(ConnectionStatus::Compromised)
            ),
            (
                ConnectionEventKind::Rotated,
                Some(ConnectionStatus::Compromised),
                Some(ConnectionStatus::Active)
            ),
        ]
    );
    assert!(
        events[0].reason.as_deref().unwrap().contains("leaked"),
        "{events:?}"
    );

    // Carol's connection does not rotate on its own: it stays compromised, its token untouched.
    let waiting = connections.get(&env.admin, &carol).await.unwrap();
    assert_eq!(waiting.status, ConnectionStatus::Compromised);
    assert!(works(&env, Credential::PrivateToken(CAROL_LEAKED.into())).await);

    // One webhook per transition: compromised, then rotated back to active.
    let delivered = webhook_events(&env, &hook).await;
    let bob_changes: Vec<_> = about(&delivered, "connection.status_changed", &bob)
        .iter()
        .map(|data| (data["fromStatus"].clone(), data["toStatus"].clone()))
        .collect();
    assert_eq!(bob_changes.len(), 2, "{delivered:?}");
    assert!(bob_changes.contains(&("active".into(), "compromised".into())));
    assert!(bob_changes.contains(&("compromised".into(), "active".into())));
    assert_eq!(about(&delivered, "connection.rotated", &bob).len(), 1);
    let carol_changes = about(&delivered, "connection.status_changed", &carol);
    assert_eq!(carol_changes.len(), 1);
    assert_eq!(carol_changes[0]["toStatus"], "compromised");

    // The findings say what became of the connections.
    let findings = services
        .secret_scanning
        .findings(&env.admin, &FindingQuery::default())
        .await
        .unwrap()
        .findings;
    assert_eq!(findings.len(), 2, "{findings:?}");
    let remarks: Vec<String> = findings
        .iter()
        .map(|f| f.remarks.clone().unwrap_or_default())
        .collect();
    assert!(
        remarks
            .iter()
            .any(|r| r.contains(&bob) && r.contains("labgate rotated it")),
        "{remarks:?}"
    );
    assert!(
        remarks
            .iter()
            .any(|r| r.contains(&carol) && r.contains("does not rotate automatically")),
        "{remarks:?}"
    );
    // The rotated token was revoked at GitLab; carol's still works.
    for finding in &findings {
        let rotated = finding
            .remarks
            .as_deref()
            .unwrap_or_default()
            .contains("labgate rotated it");
        let expected = if rotated {
            FindingVerification::Inactive
        } else {
            FindingVerification::Active
        };
        assert_eq!(finding.verification, expected, "{finding:?}");
    }

    // A second scan finds the same findings and changes nothing: the leaked token is no
    // longer bob's, and carol's connection still waits for a person.
    scan_acme(&env, &services, &alice).await;
    assert_eq!(
        handed_out(&env, &bob).await.expose_secret(),
        new_token.expose_secret()
    );
    assert_eq!(
        connections
            .events(&env.admin, &bob, 0, 50)
            .await
            .unwrap()
            .events
            .len(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_gitlab_refuses_leaves_the_leaked_connection_compromised_with_the_reason() {
    let env = TestEnv::builder().sim(seed().build()).build().await;
    let alice = token_connection(&env, "alice", ALICE_TOKEN, false).await;
    let bob = token_connection(&env, "bob", BOB_LEAKED, true).await;
    env.sim().faults().add(FaultRule {
        route: Some("/api/v4/personal_access_tokens/self/rotate".to_owned()),
        storm_429: 1.0,
        retry_after: Some(60),
        ..FaultRule::default()
    });
    let services = scanning_services(&env);
    scan_acme(&env, &services, &alice).await;

    let connections = &env.services.connections;
    let failed = connections.get(&env.admin, &bob).await.unwrap();
    assert_eq!(failed.status, ConnectionStatus::Compromised);
    let reason = failed.status_reason.unwrap_or_default();
    assert!(
        reason.contains("acme/website") && reason.contains("the automatic rotation failed"),
        "{reason}"
    );
    assert!(
        works(&env, Credential::PrivateToken(BOB_LEAKED.into())).await,
        "nothing rotated"
    );
    let events = connections.events(&env.admin, &bob, 0, 50).await.unwrap().events;
    assert!(
        events[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("automatic rotation of the leaked token failed")),
        "{events:?}"
    );

    // Once GitLab takes rotations again, the next scan rotates it.
    env.sim().faults().clear();
    scan_acme(&env, &services, &alice).await;
    let rotated = connections.get(&env.admin, &bob).await.unwrap();
    assert_eq!(
        rotated.status,
        ConnectionStatus::Active,
        "{:?}",
        rotated.status_reason
    );
    assert!(!works(&env, Credential::PrivateToken(BOB_LEAKED.into())).await);
    assert!(works(&env, Credential::PrivateToken(handed_out(&env, &bob).await)).await);
}

/// Runs git in `dir` as alice (test side only).
fn git(dir: &Path, args: &[&str]) {
    let header = format!(
        "http.extraHeader=Authorization: Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("alice:{ALICE_TOKEN}"))
    );
    let out = std::process::Command::new("git")
        .arg("-c")
        .arg(header)
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .env("GIT_AUTHOR_NAME", "Mallory")
        .env("GIT_AUTHOR_EMAIL", "mallory@example.com")
        .env("GIT_COMMITTER_NAME", "Mallory")
        .env("GIT_COMMITTER_EMAIL", "mallory@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Commits `content` as `file` to `project` at the simulator.
fn commit(env: &TestEnv, project: &str, file: &str, content: &str) {
    let work = tempfile::tempdir().unwrap();
    let url = format!("{}/{project}.git", env.sim().url());
    git(work.path(), &["clone", "-q", &url, "repo"]);
    let repo = work.path().join("repo");
    std::fs::write(repo.join(file), content).unwrap();
    git(&repo, &["add", file]);
    git(&repo, &["commit", "-q", "-m", "add settings"]);
    git(&repo, &["push", "-q", "origin", "HEAD"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaked_oauth_access_token_compromises_its_connection_and_a_refresh_replaces_the_pair() {
    let env = TestEnv::builder()
        .sim(standard_seed().build())
        .oauth()
        .build()
        .await;
    let hook = subscribe(&env).await;
    let alice = token_connection(&env, "alice", ALICE_TOKEN, false).await;
    let oauth = env.connect_oauth("alice-oauth", "alice", None).await;
    let leaked = handed_out(&env, &oauth.id).await;
    commit(
        &env,
        "acme/website",
        "settings.py",
        &format!("GITLAB_OAUTH_TOKEN = \"{}\"\n", leaked.expose_secret()),
    );
    let services = scanning_services(&env);
    scan_acme(&env, &services, &alice).await;

    // Without autoRotate, the connection is compromised and keeps its tokens.
    let connections = &env.services.connections;
    let compromised = connections.get(&env.admin, &oauth.id).await.unwrap();
    assert_eq!(compromised.status, ConnectionStatus::Compromised);
    assert!(
        compromised
            .status_reason
            .as_deref()
            .is_some_and(|r| r.contains("acme/website")),
        "{:?}",
        compromised.status_reason
    );
    assert!(works(&env, Credential::OAuth(leaked.clone())).await);
    let delivered = webhook_events(&env, &hook).await;
    let changes = about(&delivered, "connection.status_changed", &oauth.id);
    assert_eq!(changes.len(), 1, "{delivered:?}");
    assert_eq!(changes[0]["toStatus"], "compromised");

    // With autoRotate, the next scan refreshes it: GitLab revokes the leaked pair.
    connections
        .update(
            &env.admin,
            &oauth.id,
            UpdateConnectionRequest {
                auto_rotate: Some(true),
                ..UpdateConnectionRequest::default()
            },
        )
        .await
        .unwrap();
    scan_acme(&env, &services, &alice).await;
    let rotated = connections.get(&env.admin, &oauth.id).await.unwrap();
    let findings = services
        .secret_scanning
        .findings(&env.admin, &FindingQuery::default())
        .await
        .unwrap()
        .findings;
    assert_eq!(
        rotated.status,
        ConnectionStatus::Active,
        "{:?} {findings:?}",
        rotated.status_reason
    );
    assert!(
        rotated
            .status_reason
            .as_deref()
            .is_some_and(|r| r.contains("rotated after a scan found it leaked")),
        "{:?}",
        rotated.status_reason
    );
    let fresh = handed_out(&env, &oauth.id).await;
    assert_ne!(fresh.expose_secret(), leaked.expose_secret());
    assert!(!works(&env, Credential::OAuth(leaked.clone())).await);
    assert!(works(&env, Credential::OAuth(fresh)).await);
    let events = connections
        .events(&env.admin, &oauth.id, 0, 50)
        .await
        .unwrap()
        .events;
    assert_eq!(events[0].kind, ConnectionEventKind::Rotated);
    assert_eq!(events[0].from_status, Some(ConnectionStatus::Compromised));
    let delivered = webhook_events(&env, &hook).await;
    let changes = about(&delivered, "connection.status_changed", &oauth.id);
    assert_eq!(changes.len(), 2, "{delivered:?}");
    assert!(
        changes
            .iter()
            .any(|data| data["fromStatus"] == "compromised" && data["toStatus"] == "active")
    );

    // The leaked token is no longer the connection's: scanning it again leaves the connection be.
    scan_acme(&env, &services, &alice).await;
    let after = connections.get(&env.admin, &oauth.id).await.unwrap();
    assert_eq!(after.status, ConnectionStatus::Active);
    assert_eq!(after.version, rotated.version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaked_oauth_refresh_token_is_recognised_and_replaced_at_once_with_auto_rotate() {
    let env = TestEnv::builder()
        .sim(standard_seed().build())
        .oauth()
        .build()
        .await;
    let alice = token_connection(&env, "alice", ALICE_TOKEN, false).await;
    let oauth = env.connect_oauth("alice-oauth", "alice", None).await;
    let connections = &env.services.connections;
    connections
        .update(
            &env.admin,
            &oauth.id,
            UpdateConnectionRequest {
                auto_rotate: Some(true),
                ..UpdateConnectionRequest::default()
            },
        )
        .await
        .unwrap();
    let access = handed_out(&env, &oauth.id).await;
    let refresh = env
        .services
        .vault
        .get_secret(&labgate_core::vault::SecretSlot {
            tenant_id: env.admin.tenant_id.as_str(),
            owner_table: "app_connections",
            owner_id: &oauth.id,
            field: "refreshToken",
        })
        .await
        .unwrap()
        .unwrap();
    commit(
        &env,
        "acme/website",
        "ci.env",
        &format!("GITLAB_REFRESH_TOKEN = \"{}\"\n", refresh.expose_secret()),
    );
    let services = scanning_services(&env);
    scan_acme(&env, &services, &alice).await;

    let rotated = connections.get(&env.admin, &oauth.id).await.unwrap();
    assert_eq!(
        rotated.status,
        ConnectionStatus::Active,
        "{:?}",
        rotated.status_reason
    );
    let events = connections
        .events(&env.admin, &oauth.id, 0, 50)
        .await
        .unwrap()
        .events;
    let kinds: Vec<_> = events.iter().rev().map(|e| (e.kind, e.to_status)).collect();
    assert!(
        kinds.ends_with(&[
            (
                ConnectionEventKind::StatusChanged,
                Some(ConnectionStatus::Compromised)
            ),
            (ConnectionEventKind::Rotated, Some(ConnectionStatus::Active)),
        ]),
        "{kinds:?}"
    );
    // GitLab revoked the pair the leaked refresh token belonged to.
    assert!(!works(&env, Credential::OAuth(access)).await);
    assert!(works(&env, Credential::OAuth(handed_out(&env, &oauth.id).await)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leak_found_while_another_rotation_holds_the_connection_waits_for_it_then_rotates() {
    let env = TestEnv::builder().sim(seed().build()).build().await;
    let alice = token_connection(&env, "alice", ALICE_TOKEN, false).await;
    let bob = token_connection(&env, "bob", BOB_LEAKED, true).await;
    // A rotation that a process started moments ago holds the connection's journal lock.
    env.store
        .insert_journal(&labgate_store::NewJournalEntry {
            id: labgate_core::ids::JournalId::generate().as_str(),
            tenant_id: env.admin.tenant_id.as_str(),
            connection_id: &bob,
            operation: "rotate",
            job_id: None,
            now: labgate_core::clock::Clock::now(env.clock.as_ref()).unix_timestamp() * 1_000,
        })
        .await
        .unwrap();
    let services = scanning_services(&env);
    scan_acme(&env, &services, &alice).await;
    let connections = &env.services.connections;
    let waiting = connections.get(&env.admin, &bob).await.unwrap();
    assert_eq!(waiting.status, ConnectionStatus::Compromised);
    assert!(
        !waiting
            .status_reason
            .as_deref()
            .unwrap_or_default()
            .contains("failed"),
        "{:?}",
        waiting.status_reason
    );

    // That rotation never sent its request and its process is gone: the next scan rotates.
    env.clock.advance_ms(10 * 60_000);
    scan_acme(&env, &services, &alice).await;
    let rotated = connections.get(&env.admin, &bob).await.unwrap();
    assert_eq!(
        rotated.status,
        ConnectionStatus::Active,
        "{:?}",
        rotated.status_reason
    );
    assert!(!works(&env, Credential::PrivateToken(BOB_LEAKED.into())).await);
    assert!(works(&env, Credential::PrivateToken(handed_out(&env, &bob).await)).await);
}
