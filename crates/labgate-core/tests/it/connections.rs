//! GitLab access-token connections against gitlab-sim: validation, the status machine, events,
//! webhooks and journalled rotation.

use std::time::Duration;

use gitlab_sim::{FaultRule, Mode, Seed};
use labgate_core::CoreError;
use labgate_core::jobs::{Job, JobKind, JobState, Settled};
use labgate_proto::connections::{
    AccessTokenCredentials, AccessTokenType, App, ConnectionEventKind, ConnectionStatus,
    CreateConnectionRequest, UpdateConnectionRequest,
};
use labgate_proto::webhooks::CreateWebhookRequest;
use labgate_testkit::TestEnv;

pub const ALICE: &str = "glpat-aliceALICEalice1234";
pub const ALICE_READ: &str = "glpat-aliceREADONLYtoken1";
pub const DEPLOY: &str = "glpat-deployDEPLOYdeploy12";
pub const DEPLOY_DEV: &str = "glpat-deployDEVELOPERdev12";
pub const GROUP: &str = "glpat-groupGROUPgroup12345";

pub fn seed(mode: Mode) -> Seed {
    Seed::builder()
        .mode(mode)
        .admin("root")
        .user("alice")
        .group("acme", "Acme")
        .group("acme/platform", "Platform")
        .project("acme/platform/api", "API")
        .member("acme", "alice", 50)
        .personal_token("alice", "ci", &["api"], ALICE)
        .personal_token("alice", "ro", &["read_api"], ALICE_READ)
        .project_token(
            "acme/platform/api",
            "deploy",
            &["api", "read_repository"],
            40,
            DEPLOY,
        )
        .project_token("acme/platform/api", "dev", &["api"], 30, DEPLOY_DEV)
        .group_token("acme/platform", "sync", &["api", "read_repository"], 50, GROUP)
        .build()
}

/// A test environment around a simulator of `mode`; `env.admin` and `env.other_admin` are the
/// admins of two tenants.
pub async fn env(mode: Mode) -> TestEnv {
    TestEnv::builder().sim(seed(mode)).build().await
}

/// An environment on a self-managed instance with one personal-token connection `p` of alice.
pub async fn with_alice() -> (TestEnv, labgate_proto::connections::ConnectionView) {
    let env = env(Mode::SelfManaged).await;
    let url = env.sim().url().to_owned();
    let conn = env
        .services
        .connections
        .create(&env.admin, request("p", &url, ALICE, "personal"))
        .await
        .unwrap();
    (env, conn)
}

pub fn request(name: &str, url: &str, token: &str, kind: &str) -> CreateConnectionRequest {
    CreateConnectionRequest {
        name: name.to_owned(),
        description: Some("test".to_owned()),
        method: "access-token".to_owned(),
        credentials: Some(
            AccessTokenCredentials {
                access_token: token.to_owned(),
                instance_url: Some(url.to_owned()),
                access_token_type: kind.to_owned(),
            }
            .into(),
        ),
        project_id: None,
        is_platform_managed_credentials: None,
        gateway_id: None,
        usages: None,
        auto_rotate: None,
        rotate_before_days: None,
    }
}

fn message(error: CoreError) -> String {
    match error {
        CoreError::Validation { message, .. } => message,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn date_in(env: &TestEnv, days: i64) -> time::Date {
    env.sim().clock().today() + time::Duration::days(days)
}

#[tokio::test]
async fn each_token_kind_connects_on_both_instance_kinds() {
    for mode in [Mode::GitLabCom, Mode::SelfManaged] {
        let env = env(mode).await;
        let url = env.sim().url().to_owned();
        let conns = &env.services.connections;
        for (name, token, kind) in [
            ("personal", ALICE, "personal"),
            ("project", DEPLOY, "project"),
            ("group", GROUP, "group"),
        ] {
            let created = conns
                .create(&env.admin, request(name, &url, token, kind))
                .await
                .unwrap();
            assert_eq!(created.status, ConnectionStatus::Active);
            assert_eq!(
                created.credentials.access_token_type.map(AccessTokenType::as_str),
                Some(kind)
            );
            assert_eq!(created.version, 1);
            assert!(!created.scopes.is_empty());
            assert!(created.gitlab_user.id.is_some());
            let text = serde_json::to_string(&created).unwrap();
            assert!(!text.contains(token), "the token is never shown");
            assert_eq!(created.credentials_hash.len(), 64);
            if kind != "personal" {
                let resource = created.gitlab_resource.clone().unwrap();
                assert_eq!(resource.kind.as_str(), kind);
                assert_eq!(created.gitlab_user.bot, Some(true));
            }
            let projects = conns.projects(&env.admin, &created.id, None).await.unwrap();
            assert!(
                projects
                    .iter()
                    .any(|p| p.path_with_namespace == "acme/platform/api"),
                "{projects:?}"
            );
            let groups = conns.groups(&env.admin, &created.id, None).await.unwrap();
            if kind == "project" {
                assert!(groups.is_empty());
            }
        }
        let list = conns
            .list(&env.admin, Some(App::GitLab), None, 0, Some(10))
            .await
            .unwrap();
        assert_eq!(list.total_count, 3);
        assert_eq!(
            conns
                .by_name(&env.admin, "group", None)
                .await
                .unwrap()
                .credentials
                .access_token_type,
            Some(AccessTokenType::Group)
        );
        assert_eq!(
            conns
                .list(&env.other_admin, None, None, 0, Some(10))
                .await
                .unwrap()
                .total_count,
            0
        );
        let id = &list.app_connections[0].id;
        assert!(matches!(
            conns.get(&env.other_admin, id).await,
            Err(CoreError::NotFound(_))
        ));
        let events = conns.events(&env.admin, id, 0, 10).await.unwrap();
        assert_eq!(events.events[0].kind, ConnectionEventKind::Created);
    }
}

#[tokio::test]
async fn bad_tokens_are_refused_each_with_its_reason() {
    let env = env(Mode::SelfManaged).await;
    let url = env.sim().url().to_owned();
    let conns = &env.services.connections;
    let expired = env
        .sim()
        .state()
        .create_personal_access_token("alice", "old", &["api"], Some(date_in(&env, -1)))
        .unwrap();
    let expired = expired.as_str();
    let revoked = env
        .sim()
        .state()
        .create_personal_access_token("alice", "gone", &["api"], None)
        .unwrap();
    env.sim().state().revoke_token(&revoked);
    let revoked = revoked.as_str();

    let with = |mut base: CreateConnectionRequest, change: &dyn Fn(&mut CreateConnectionRequest)| {
        change(&mut base);
        base
    };
    let usages = |list: &[&str]| Some(list.iter().map(|usage| (*usage).to_owned()).collect());
    let refused: Vec<(&str, CreateConnectionRequest, &[&str])> = vec![
        (
            "an expired token",
            request("a", &url, expired, "personal"),
            &["expired"],
        ),
        (
            "a revoked token",
            request("a", &url, revoked, "personal"),
            &["revoked"],
        ),
        (
            "an unknown token",
            request("a", &url, "glpat-unknownUNKNOWNunk12", "personal"),
            &["not valid"],
        ),
        (
            "a project token declared personal",
            request("a", &url, DEPLOY, "personal"),
            &["project token"],
        ),
        (
            "a personal token declared group",
            request("a", &url, ALICE, "group"),
            &["personal token"],
        ),
        (
            "a Developer project token for secret sync",
            with(request("a", &url, DEPLOY_DEV, "project"), &|r| {
                r.usages = usages(&["secret-sync"])
            }),
            &["Maintainer"],
        ),
        (
            "a read_api token for secret scanning",
            with(request("a", &url, ALICE_READ, "personal"), &|r| {
                r.usages = usages(&["secret-scanning"])
            }),
            &["secret-scanning needs the scope api"],
        ),
        (
            "auto-rotation without api or self_rotate",
            with(request("r", &url, ALICE_READ, "personal"), &|r| {
                r.auto_rotate = Some(true)
            }),
            &["self_rotate"],
        ),
        (
            "platform-managed credentials",
            with(request("b", &url, ALICE, "personal"), &|r| {
                r.is_platform_managed_credentials = Some(true)
            }),
            &["not supported"],
        ),
        (
            "a gateway",
            with(request("b", &url, ALICE, "personal"), &|r| {
                r.gateway_id = Some(serde_json::json!("gw-1"))
            }),
            &["not supported"],
        ),
        (
            "an unknown method",
            with(request("b", &url, ALICE, "personal"), &|r| {
                r.method = "basic".to_owned()
            }),
            &["unknown method"],
        ),
        (
            "no credentials",
            with(request("b", &url, ALICE, "personal"), &|r| r.credentials = None),
            &["credentials are required"],
        ),
    ];
    for (case, create, fragments) in refused {
        let m = message(conns.create(&env.admin, create).await.unwrap_err());
        assert!(
            fragments.iter().all(|fragment| m.contains(fragment)),
            "{case}: {m}"
        );
    }
    // A read_api token serves access sync, but cannot be switched to auto-rotation later.
    let read_only = conns
        .create(
            &env.admin,
            with(request("a", &url, ALICE_READ, "personal"), &|r| {
                r.usages = usages(&["access-sync"])
            }),
        )
        .await
        .unwrap();
    let switch_on = UpdateConnectionRequest {
        auto_rotate: Some(true),
        ..Default::default()
    };
    let m = message(
        conns
            .update(&env.admin, &read_only.id, switch_on)
            .await
            .unwrap_err(),
    );
    assert!(m.contains("self_rotate"), "{m}");
    for bad in [
        "http://user:pw@127.0.0.1:1",
        "https://gitlab.example.com/?a=b",
        "https://gitlab.example.com/#x",
    ] {
        conns
            .create(&env.admin, request("b", bad, ALICE, "personal"))
            .await
            .unwrap_err();
    }
    // Name clash.
    conns
        .create(&env.admin, request("main", &url, ALICE, "personal"))
        .await
        .unwrap();
    assert!(matches!(
        conns
            .create(&env.admin, request("main", &url, ALICE, "personal"))
            .await,
        Err(CoreError::AlreadyExists(_))
    ));
}

/// A one-shot HTTP server answering every connection with `answer` (or never, when `None`).
async fn raw_server(answer: Option<&'static str>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0_u8; 4096];
            let _ = socket.read(&mut buf).await;
            match answer {
                Some(answer) => {
                    let _ = socket.write_all(answer.as_bytes()).await;
                }
                None => held.push(socket),
            }
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn instance_failures_are_told_apart() {
    let env = env(Mode::SelfManaged).await;
    let conns = &env.services.connections;
    let html = raw_server(Some(
        "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 15\r\nconnection: close\r\n\r\n<html>hi</html>",
    ))
    .await;
    let m = message(
        conns
            .create(&env.admin, request("a", &html, ALICE, "personal"))
            .await
            .unwrap_err(),
    );
    assert!(m.contains("not a GitLab API"), "{m}");
    let hang = raw_server(None).await;
    let m = message(
        conns
            .create(&env.admin, request("a", &hang, ALICE, "personal"))
            .await
            .unwrap_err(),
    );
    assert!(m.contains("timed out"), "{m}");
    let m = message(
        conns
            .create(&env.admin, request("a", "http://127.0.0.1:1", ALICE, "personal"))
            .await
            .unwrap_err(),
    );
    assert!(m.contains("unreachable"), "{m}");
    let m = message(
        conns
            .create(&env.admin, request("a", "https://10.0.0.1", ALICE, "personal"))
            .await
            .unwrap_err(),
    );
    assert!(m.contains("refused"), "{m}");
    let m = message(
        conns
            .create(
                &env.admin,
                request("a", "http://gitlab.example.com", ALICE, "personal"),
            )
            .await
            .unwrap_err(),
    );
    assert!(m.contains("https://"), "{m}");
    // TLS spoken to a plain HTTP server.
    let tls = env.sim().url().replace("http://", "https://");
    let m = message(
        conns
            .create(&env.admin, request("a", &tls, ALICE, "personal"))
            .await
            .unwrap_err(),
    );
    assert!(m.contains("TLS"), "{m}");
}

#[tokio::test]
async fn credentials_hash_follows_the_token_alone() {
    let env = env(Mode::SelfManaged).await;
    let url = env.sim().url().to_owned();
    let conns = &env.services.connections;
    let a = conns
        .create(&env.admin, request("a", &url, ALICE, "personal"))
        .await
        .unwrap();
    let b = conns
        .create(&env.admin, request("b", &url, ALICE, "personal"))
        .await
        .unwrap();
    let c = conns
        .create(&env.other_admin, request("c", &url, ALICE, "personal"))
        .await
        .unwrap();
    assert_eq!(a.credentials_hash, b.credentials_hash);
    assert_ne!(a.credentials_hash, c.credentials_hash, "tenants hash differently");
    let renamed = conns
        .update(
            &env.admin,
            &a.id,
            UpdateConnectionRequest {
                name: Some("renamed".to_owned()),
                description: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (
            renamed.version,
            renamed.credentials_hash.as_str(),
            renamed.description.as_deref()
        ),
        (2, a.credentials_hash.as_str(), None)
    );
    // Stale version → conflict; new credentials re-validated.
    let stale = UpdateConnectionRequest {
        version: Some(1),
        description: Some(Some("x".to_owned())),
        ..Default::default()
    };
    assert!(matches!(
        conns.update(&env.admin, &a.id, stale).await,
        Err(CoreError::Conflict(_))
    ));
    let new_creds = |token: &str| UpdateConnectionRequest {
        version: Some(2),
        credentials: Some(AccessTokenCredentials {
            access_token: token.to_owned(),
            instance_url: None,
            access_token_type: "personal".to_owned(),
        }),
        ..Default::default()
    };
    assert!(
        conns
            .update(&env.admin, &a.id, new_creds("glpat-nopeNOPEnopeNOPE1234"))
            .await
            .is_err()
    );
    let updated = conns
        .update(&env.admin, &a.id, new_creds(ALICE_READ))
        .await
        .unwrap();
    assert_eq!(updated.version, 3);
    assert_ne!(updated.credentials_hash, a.credentials_hash);
    // Re-encryption under a new data key leaves the hash alone.
    env.services
        .vault
        .rotate_tenant_data_key(&env.admin.tenant_id, env.clock.as_ref())
        .await
        .unwrap();
    assert_eq!(
        conns.get(&env.admin, &a.id).await.unwrap().credentials_hash,
        updated.credentials_hash
    );
    assert_eq!(
        conns.check(&env.admin, &a.id).await.unwrap().status,
        ConnectionStatus::Active
    );
    // Delete with revocation at GitLab.
    conns.delete(&env.admin, &b.id, true).await.unwrap();
    assert!(env.sim().state().token(ALICE).unwrap().revoked);
    assert!(matches!(
        conns.get(&env.admin, &b.id).await,
        Err(CoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn checks_move_connections_through_the_states_with_events_and_webhooks() {
    let env = env(Mode::GitLabCom).await;
    let url = env.sim().url().to_owned();
    let conns = &env.services.connections;
    let hook = env
        .services
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
        .0;
    env.sim()
        .state()
        .set_token_expiry(DEPLOY, Some(date_in(&env, 60)));
    let conn = conns
        .create(&env.admin, request("deploy", &url, DEPLOY, "project"))
        .await
        .unwrap();
    assert_eq!(conn.status, ConnectionStatus::Active);
    let statuses = |days: i64| {
        let env = &env;
        let id = conn.id.clone();
        async move {
            env.sim()
                .state()
                .set_token_expiry(DEPLOY, Some(date_in(env, days)));
            let checked = env.services.connections.check(&env.admin, &id).await.unwrap();
            (checked.status, checked.status_reason.unwrap_or_default())
        }
    };
    let (status, reason) = statuses(20).await;
    assert_eq!(status, ConnectionStatus::Expiring);
    assert!(reason.contains("30 days"), "{reason}");
    let (status, _) = statuses(20).await;
    assert_eq!(status, ConnectionStatus::Expiring, "no new transition");
    let (_, reason) = statuses(5).await;
    assert!(reason.contains("7 days"), "{reason}");
    let (status, _) = statuses(200).await;
    assert_eq!(status, ConnectionStatus::Active);
    env.sim().state().revoke_token(DEPLOY);
    let checked = conns.check(&env.admin, &conn.id).await.unwrap();
    assert_eq!(checked.status, ConnectionStatus::Revoked);
    let events = conns.events(&env.admin, &conn.id, 0, 50).await.unwrap();
    let kinds: Vec<_> = events.events.iter().rev().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "created",
            "status_changed",
            "status_changed",
            "recovered",
            "status_changed"
        ]
    );
    let (deliveries, total) = env
        .store
        .list_deliveries(&env.admin.tenant_id, &hook.id, 0, 50)
        .await
        .unwrap();
    assert_eq!(total, 4, "one webhook per transition");
    assert!(
        deliveries
            .iter()
            .all(|d| d.event_type == "connection.status_changed")
    );
}

#[tokio::test]
async fn unreachable_only_after_three_consecutive_failures() {
    let env = env(Mode::SelfManaged).await;
    let url = env.sim().url().to_owned();
    let conns = &env.services.connections;
    let conn = conns
        .create(&env.admin, request("a", &url, ALICE, "personal"))
        .await
        .unwrap();
    env.sim().faults().add(FaultRule {
        error_503: 1.0,
        ..FaultRule::default()
    });
    for _ in 0..2 {
        assert_eq!(
            conns.check(&env.admin, &conn.id).await.unwrap().status,
            ConnectionStatus::Active
        );
    }
    assert_eq!(
        conns.check(&env.admin, &conn.id).await.unwrap().status,
        ConnectionStatus::Unreachable
    );
    env.sim().faults().clear();
    assert_eq!(
        conns.check(&env.admin, &conn.id).await.unwrap().status,
        ConnectionStatus::Active
    );
    let kinds: Vec<_> = conns
        .events(&env.admin, &conn.id, 0, 10)
        .await
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            ConnectionEventKind::Recovered,
            ConnectionEventKind::StatusChanged,
            ConnectionEventKind::Created
        ]
    );
}

#[tokio::test]
async fn auto_rotation_goes_through_the_journal() {
    let env = env(Mode::SelfManaged).await;
    let url = env.sim().url().to_owned();
    let conns = &env.services.connections;
    env.sim().state().set_token_expiry(GROUP, Some(date_in(&env, 3)));
    let mut req = request("g", &url, GROUP, "group");
    req.auto_rotate = Some(true);
    let conn = conns.create(&env.admin, req).await.unwrap();
    assert_eq!(conn.status, ConnectionStatus::Expiring);
    let rotated = conns.check(&env.admin, &conn.id).await.unwrap();
    assert_eq!(
        rotated.status,
        ConnectionStatus::Active,
        "{:?}",
        rotated.status_reason
    );
    assert_eq!(rotated.version, 2);
    assert!(rotated.last_rotated_at.is_some());
    assert_ne!(rotated.credentials_hash, conn.credentials_hash);
    assert!(
        env.sim().state().token(GROUP).unwrap().revoked,
        "GitLab revoked the old token"
    );
    // The new token works.
    assert_eq!(
        conns.check(&env.admin, &conn.id).await.unwrap().status,
        ConnectionStatus::Active
    );
    assert!(env.store.all_journal(10).await.unwrap().is_empty());
    let kinds: Vec<_> = conns
        .events(&env.admin, &conn.id, 0, 10)
        .await
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&ConnectionEventKind::Rotated), "{kinds:?}");
}

#[tokio::test]
async fn a_crash_after_the_answer_is_journalled_loses_nothing() {
    let (env, conn) = with_alice().await;
    let conns = &env.services.connections;
    let crash = labgate_core::failpoints::fail("rotation.after-journal", &conn.id);
    assert!(conns.rotate(&env.admin, &conn.id).await.is_err());
    assert!(env.sim().state().token(ALICE).unwrap().revoked, "GitLab rotated");
    let journal = env.store.all_journal(10).await.unwrap();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].state, "answered");
    assert!(
        !String::from_utf8_lossy(journal[0].sealed_answer.as_ref().unwrap()).contains("glpat-"),
        "sealed"
    );
    // "Restart": the journal is recovered as at start.
    drop(crash);
    assert_eq!(conns.recover_journal().await.unwrap(), 1);
    let after = conns.get(&env.admin, &conn.id).await.unwrap();
    assert_eq!(after.version, 2);
    assert_eq!(
        conns.check(&env.admin, &conn.id).await.unwrap().status,
        ConnectionStatus::Active,
        "the new token works"
    );
    assert_eq!(
        env.sim()
            .requests()
            .count("POST", "/api/v4/personal_access_tokens/self/rotate", 200),
        1
    );
}

#[tokio::test]
async fn a_lost_rotation_answer_is_never_retried() {
    let env = env(Mode::SelfManaged).await;
    let url = env.sim().url().to_owned();
    let conns = &env.services.connections;
    env.sim().state().set_token_expiry(ALICE, Some(date_in(&env, 2)));
    let mut req = request("p", &url, ALICE, "personal");
    req.auto_rotate = Some(true);
    let conn = conns.create(&env.admin, req).await.unwrap();
    env.sim().faults().add(FaultRule {
        route: Some("/api/v4/personal_access_tokens/self/rotate".to_owned()),
        lose_answer: 1.0,
        times: Some(1),
        ..FaultRule::default()
    });
    let checked = conns.check(&env.admin, &conn.id).await.unwrap();
    assert_eq!(checked.status, ConnectionStatus::NeedsAttention);
    assert!(checked.status_reason.unwrap().contains("new token"));
    // Restart and further checks never rotate again.
    env.clock.advance_ms(3_600_000);
    conns.recover_journal().await.unwrap();
    conns.check_all().await.unwrap();
    assert_eq!(
        conns.check(&env.admin, &conn.id).await.unwrap().status,
        ConnectionStatus::NeedsAttention
    );
    assert!(conns.rotate(&env.admin, &conn.id).await.is_err());
    let rotations: u64 = env
        .sim()
        .requests()
        .snapshot()
        .iter()
        .filter(|c| c.route.ends_with("/rotate"))
        .map(|c| c.count)
        .sum();
    assert_eq!(rotations, 1);
    // A new token clears it.
    let fresh = env
        .sim()
        .state()
        .create_personal_access_token("alice", "fresh", &["api"], None)
        .unwrap();
    let fixed = conns
        .update(
            &env.admin,
            &conn.id,
            UpdateConnectionRequest {
                credentials: Some(AccessTokenCredentials {
                    access_token: fresh.clone(),
                    instance_url: None,
                    access_token_type: "personal".to_owned(),
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(fixed.status, ConnectionStatus::Active);
}

#[tokio::test]
async fn ten_thousand_connections_page_with_a_total() {
    let env = env(Mode::SelfManaged).await;
    let conns = &env.services.connections;
    let url = env.sim().url().to_owned();
    let template = conns
        .create(&env.admin, request("seed", &url, ALICE, "personal"))
        .await
        .unwrap();
    let base = env
        .store
        .connection(&env.admin.tenant_id, &template.id)
        .await
        .unwrap();
    let records: Vec<_> = (0..9_999)
        .map(|i| labgate_store::ConnectionRecord {
            id: labgate_core::ids::ConnectionId::generate().to_string(),
            name: format!("c-{i:05}"),
            created_at: base.created_at + 1 + i64::from(i),
            ..base.clone()
        })
        .collect();
    env.store.insert_connections(&records).await.unwrap();
    let page = conns
        .list(&env.admin, Some(App::GitLab), None, 9_950, Some(100))
        .await
        .unwrap();
    assert_eq!((page.total_count, page.app_connections.len()), (10_000, 50));
    assert_eq!(page.app_connections.last().unwrap().name, "c-09998");
}

#[tokio::test]
async fn new_credentials_given_during_a_rotation_win() {
    let (env, conn) = with_alice().await;
    let conns = &env.services.connections;
    let crash = labgate_core::failpoints::fail("rotation.after-journal", &conn.id);
    assert!(conns.rotate(&env.admin, &conn.id).await.is_err());
    drop(crash);
    let replaced = conns
        .update(
            &env.admin,
            &conn.id,
            UpdateConnectionRequest {
                credentials: Some(AccessTokenCredentials {
                    access_token: ALICE_READ.to_owned(),
                    instance_url: None,
                    access_token_type: "personal".to_owned(),
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    conns.recover_journal().await.unwrap();
    assert!(env.store.all_journal(10).await.unwrap().is_empty());
    let after = conns.get(&env.admin, &conn.id).await.unwrap();
    assert_eq!(after.credentials_hash, replaced.credentials_hash);
    assert_eq!(after.version, replaced.version);
    assert_eq!(after.token_name.as_deref(), Some("ro"));
}

#[tokio::test]
async fn deleting_with_revocation_revokes_resource_tokens_too() {
    let env = env(Mode::GitLabCom).await;
    let url = env.sim().url().to_owned();
    let conns = &env.services.connections;
    for (name, token, kind) in [("project", DEPLOY, "project"), ("group", GROUP, "group")] {
        let conn = conns
            .create(&env.admin, request(name, &url, token, kind))
            .await
            .unwrap();
        // Another tenant cannot delete it.
        assert!(matches!(
            conns.delete(&env.other_admin, &conn.id, true).await,
            Err(CoreError::NotFound(_))
        ));
        assert!(!env.sim().state().token(token).unwrap().revoked);
        conns.delete(&env.admin, &conn.id, true).await.unwrap();
        assert!(env.sim().state().token(token).unwrap().revoked, "{kind}");
    }
}

#[tokio::test]
async fn time_passing_in_gitlab_expires_a_connection() {
    let env = env(Mode::GitLabCom).await;
    let url = env.sim().url().to_owned();
    let conns = &env.services.connections;
    env.sim().state().set_token_expiry(ALICE, Some(date_in(&env, 40)));
    let conn = conns
        .create(&env.admin, request("p", &url, ALICE, "personal"))
        .await
        .unwrap();
    assert_eq!(conn.status, ConnectionStatus::Active);
    let mut seen = Vec::new();
    for days in [15, 20, 4, 2] {
        env.sim().clock().advance(Duration::from_secs(days * 86_400));
        env.clock.advance_ms(i64::try_from(days).unwrap() * 86_400_000);
        let checked = conns.check(&env.admin, &conn.id).await.unwrap();
        seen.push((checked.status, checked.status_reason.unwrap_or_default()));
    }
    assert_eq!(seen[0].0, ConnectionStatus::Expiring);
    assert!(seen[0].1.contains("30 days"), "{seen:?}");
    assert!(seen[1].1.contains("7 days"), "{seen:?}");
    assert!(seen[2].1.contains("1 day,"), "{seen:?}");
    assert_eq!(seen[3].0, ConnectionStatus::Expired, "{seen:?}");
    let events = conns.events(&env.admin, &conn.id, 0, 10).await.unwrap();
    assert_eq!(events.total_count, 5, "created + four transitions");
}

#[tokio::test]
async fn a_rotation_planned_on_a_stale_row_does_nothing() {
    let (env, conn) = with_alice().await;
    let conns = &env.services.connections;
    // Two "replicas" decide to rotate the same row; the second is held before it takes the
    // rotation lock while the first rotates.
    let held = labgate_core::failpoints::pause("rotation.before-lock", &conn.id);
    let second = tokio::spawn({
        let conns = conns.clone();
        let admin = env.admin.clone();
        let id = conn.id.clone();
        async move { conns.rotate(&admin, &id).await }
    });
    held.reached().await;
    conns.rotate(&env.admin, &conn.id).await.unwrap();
    let rotated = conns.get(&env.admin, &conn.id).await.unwrap();
    assert_eq!(rotated.version, 2);
    // Under the lock the second finds the row moved on: it answers with it and does not touch
    // GitLab again.
    held.release();
    assert_eq!(second.await.unwrap().unwrap(), rotated);
    assert_eq!(conns.get(&env.admin, &conn.id).await.unwrap(), rotated);
    let rotations: u64 = env
        .sim()
        .requests()
        .snapshot()
        .iter()
        .filter(|c| c.route.ends_with("/rotate"))
        .map(|c| c.count)
        .sum();
    assert_eq!(rotations, 1);
    assert_eq!(
        conns.check(&env.admin, &conn.id).await.unwrap().status,
        ConnectionStatus::Active
    );
}

/// The tenant's rotation jobs, newest first.
async fn rotation_jobs(env: &TestEnv) -> Vec<Job> {
    env.services
        .jobs
        .of_kind(JobKind::ConnectionRotate, 10)
        .await
        .unwrap()
}

/// The token GitLab issued when `old` was rotated, as the simulator stores it.
fn successor(env: &TestEnv, old: &str) -> gitlab_sim::model::AccessToken {
    let old = env.sim().state().token(old).unwrap();
    env.sim()
        .state()
        .read(|db| {
            db.tokens
                .values()
                .find(|t| t.previous_id == Some(old.id))
                .cloned()
        })
        .expect("the token was rotated")
}

#[tokio::test]
async fn a_failing_journal_write_is_retried_and_the_rotation_lands() {
    let (env, conn) = with_alice().await;
    let conns = &env.services.connections;
    let _flaky = labgate_core::failpoints::fail_times("rotation.journal-write", &conn.id, 2);
    let rotated = conns.rotate(&env.admin, &conn.id).await.unwrap();
    assert_eq!((rotated.version, rotated.status), (2, ConnectionStatus::Active));
    assert!(env.store.all_journal(10).await.unwrap().is_empty());
    assert_eq!(
        conns.check(&env.admin, &conn.id).await.unwrap().status,
        ConnectionStatus::Active,
        "the stored token is the new one"
    );
}

#[tokio::test]
async fn a_rotation_stopped_before_its_request_left_releases_the_lock_at_once() {
    let (env, conn) = with_alice().await;
    let conns = &env.services.connections;
    let crash = labgate_core::failpoints::fail("rotation.before-send", &conn.id);
    assert!(conns.rotate(&env.admin, &conn.id).await.is_err());
    drop(crash);
    let journal = env.store.all_journal(10).await.unwrap();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].state, "pending");
    // Its job has ended, so no request can still be on its way: the entry goes at once, not
    // minutes later, and without alarm (nothing changed at GitLab).
    env.services.connections.recover_journal().await.unwrap();
    assert!(env.store.all_journal(10).await.unwrap().is_empty());
    let after = conns.get(&env.admin, &conn.id).await.unwrap();
    assert_eq!((after.status, after.version), (ConnectionStatus::Active, 1));
    assert!(!env.sim().state().token(ALICE).unwrap().revoked);
    let jobs = rotation_jobs(&env).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, JobState::Failed);
    assert!(
        jobs[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("before the request was sent"),
        "{:?}",
        jobs[0].last_error
    );
}

#[tokio::test]
async fn a_rotation_left_pending_is_settled_by_the_next_rotation() {
    let (env, conn) = with_alice().await;
    let conns = &env.services.connections;
    let crash = labgate_core::failpoints::fail("rotation.before-send", &conn.id);
    assert!(conns.rotate(&env.admin, &conn.id).await.is_err());
    drop(crash);
    // No restart, no sweep: the next rotation itself finds the entry abandoned and goes ahead
    // instead of answering "already in progress".
    assert_eq!(conns.rotate(&env.admin, &conn.id).await.unwrap().version, 2);
    assert!(env.store.all_journal(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_rotation_in_flight_keeps_its_lock_and_names_its_job() {
    let (env, conn) = with_alice().await;
    let conns = &env.services.connections;
    let held = labgate_core::failpoints::pause("rotation.before-send", &conn.id);
    let first = tokio::spawn({
        let conns = conns.clone();
        let admin = env.admin.clone();
        let id = conn.id.clone();
        async move { conns.rotate(&admin, &id).await }
    });
    held.reached().await;
    let job = rotation_jobs(&env).await.remove(0);
    assert_eq!(job.state, JobState::Running);
    // Recovery leaves an entry whose job is still held: its request may be on its way.
    conns.recover_journal().await.unwrap();
    assert_eq!(env.store.all_journal(10).await.unwrap().len(), 1);
    match conns.rotate(&env.admin, &conn.id).await {
        Err(CoreError::Conflict(message)) => {
            assert!(message.contains("already in progress"), "{message}");
            assert!(message.contains(job.id.as_str()), "{message}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    held.release();
    assert_eq!(first.await.unwrap().unwrap().version, 2);
    let job = env.services.jobs.find(&job.id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Succeeded);
}

#[tokio::test]
async fn each_rotation_is_a_job_of_its_tenant_that_records_how_it_ended() {
    let (env, conn) = with_alice().await;
    let conns = &env.services.connections;
    conns.rotate(&env.admin, &conn.id).await.unwrap();
    let jobs = rotation_jobs(&env).await;
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job.state, JobState::Succeeded);
    assert_eq!(job.tenant_id.as_ref(), Some(&env.tenant.id));
    assert_eq!(job.payload["connectionId"], conn.id.as_str());
    assert_eq!(
        env.services.jobs.get(&env.admin, &job.id).await.unwrap().kind,
        "connection.rotate"
    );
    assert!(matches!(
        env.services.jobs.get(&env.other_admin, &job.id).await,
        Err(CoreError::NotFound(_))
    ));
    // GitLab refuses the next one (the token was revoked there): the job fails with the reason.
    let current = successor(&env, ALICE).id;
    env.sim().state().write(|db| {
        if let Some(token) = db.tokens.get_mut(&current) {
            token.revoked = true;
        }
    });
    assert!(matches!(
        conns.rotate(&env.admin, &conn.id).await,
        Err(CoreError::Unavailable(_))
    ));
    let refused = rotation_jobs(&env).await.remove(0);
    assert_eq!(refused.state, JobState::Failed);
    assert!(
        refused
            .last_error
            .as_deref()
            .unwrap()
            .contains("GitLab refused the rotation"),
        "{:?}",
        refused.last_error
    );
}

#[tokio::test]
async fn a_slow_rotation_answers_with_its_job_and_ends_in_it() {
    let (env, conn) = with_alice().await;
    let conns = &env.services.connections;
    env.sim().faults().add(FaultRule {
        route: Some("/api/v4/personal_access_tokens/self/rotate".to_owned()),
        latency_ms: 500,
        ..FaultRule::default()
    });
    let job = match conns
        .rotate_within(&env.admin, &conn.id, Some(Duration::from_millis(50)))
        .await
        .unwrap()
    {
        Settled::Running(job) => job,
        Settled::Done(view) => panic!("expected the rotation to outlast the wait: {view:?}"),
    };
    assert_eq!(
        (job.kind.as_str(), job.state),
        ("connection.rotate", JobState::Running)
    );
    let id = labgate_core::ids::JobId::parse(&job.id).unwrap();
    labgate_testkit::wait_until(Duration::from_secs(20), "the rotation's job ends", || async {
        env.services
            .jobs
            .find(&id)
            .await
            .unwrap()
            .unwrap()
            .state
            .is_finished()
    })
    .await;
    assert_eq!(
        env.services.jobs.find(&id).await.unwrap().unwrap().state,
        JobState::Succeeded
    );
    assert_eq!(conns.get(&env.admin, &conn.id).await.unwrap().version, 2);
}

#[tokio::test]
async fn a_caller_that_gives_up_does_not_lose_the_rotated_token() {
    let (env, conn) = with_alice().await;
    let conns = &env.services.connections;
    // GitLab rotates at once but answers late; the caller (an HTTP client, a lapsed job)
    // stops waiting before the answer comes.
    env.sim().faults().add(FaultRule {
        route: Some("/api/v4/personal_access_tokens/self/rotate".to_owned()),
        answer_delay_ms: 1_000,
        ..FaultRule::default()
    });
    let gave_up = tokio::time::timeout(Duration::from_millis(200), conns.rotate(&env.admin, &conn.id)).await;
    assert!(gave_up.is_err(), "the caller stopped waiting");
    labgate_testkit::wait_until(Duration::from_secs(20), "the rotation is applied", || async {
        conns.get(&env.admin, &conn.id).await.unwrap().version == 2
    })
    .await;
    env.sim().faults().clear();
    assert!(env.store.all_journal(10).await.unwrap().is_empty());
    assert!(env.sim().state().token(ALICE).unwrap().revoked);
    assert_eq!(
        conns.check(&env.admin, &conn.id).await.unwrap().status,
        ConnectionStatus::Active,
        "the connection holds the new token"
    );
    assert_eq!(conns.rotate(&env.admin, &conn.id).await.unwrap().version, 3);
}

#[tokio::test]
async fn deleting_after_an_interrupted_rotation_revokes_the_rotated_token() {
    let (env, conn) = with_alice().await;
    let conns = &env.services.connections;
    let crash = labgate_core::failpoints::fail("rotation.after-journal", &conn.id);
    assert!(conns.rotate(&env.admin, &conn.id).await.is_err());
    drop(crash);
    let new_token = successor(&env, ALICE);
    assert!(!new_token.revoked);
    conns.delete(&env.admin, &conn.id, true).await.unwrap();
    let new_token = successor(&env, ALICE);
    assert!(
        new_token.revoked,
        "the token GitLab issued is revoked, not left alive"
    );
}

#[tokio::test]
async fn deleting_during_a_rotation_revokes_the_token_gitlab_issued() {
    let (env, conn) = with_alice().await;
    let conns = &env.services.connections;
    // GitLab has answered, and the answer waits to be journalled when the connection is deleted.
    let held = labgate_core::failpoints::pause("rotation.journal-write", &conn.id);
    let rotation = tokio::spawn({
        let conns = conns.clone();
        let admin = env.admin.clone();
        let id = conn.id.clone();
        async move { conns.rotate(&admin, &id).await }
    });
    held.reached().await;
    let issued = successor(&env, ALICE);
    assert!(!issued.revoked);
    conns.delete(&env.admin, &conn.id, false).await.unwrap();
    held.release();
    assert!(matches!(rotation.await.unwrap(), Err(CoreError::NotFound(_))));
    assert!(
        successor(&env, ALICE).revoked,
        "the token nobody holds any more is revoked at GitLab"
    );
    assert!(env.store.all_journal(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn deleting_without_revocation_applies_an_answered_rotation_first() {
    let (env, conn) = with_alice().await;
    let conns = &env.services.connections;
    let crash = labgate_core::failpoints::fail("rotation.after-journal", &conn.id);
    assert!(conns.rotate(&env.admin, &conn.id).await.is_err());
    drop(crash);
    let deleted = conns.delete(&env.admin, &conn.id, false).await.unwrap();
    assert_eq!(deleted.version, 2, "the answer was applied before the delete");
    assert_ne!(deleted.credentials_hash, conn.credentials_hash);
    assert!(deleted.last_rotated_at.is_some());
    assert!(env.store.all_journal(10).await.unwrap().is_empty());
}
