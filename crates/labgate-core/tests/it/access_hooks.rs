//! Access hooks end to end: labgate installs a system hook or a group hook at gitlab-sim for an
//! access source, gitlab-sim delivers its membership events to labgate served on a real socket,
//! and what they changed is re-read by a targeted sync run, or kept as the source's pending
//! targets while another run is queued or running.

use std::time::Duration;

use gitlab_sim::Seed;
use labgate_core::access::hooks::{AccessTarget, Delivery, HookScope, HookSource, WEBHOOK_PATH};
use labgate_core::access::model::{GitLabGroupId, GitLabUserId};
use labgate_core::ids::{AccessSourceId, ConnectionId};
use labgate_proto::access::{AccessScope, AccessScopeKind, AccessUpdateDelivery, CreateAccessSourceRequest};
use labgate_proto::connections::{AccessTokenCredentials, CreateConnectionRequest};
use labgate_store::AccessSourceRecord;
use labgate_testkit::{ServedApp, TestEnv};
use serde_json::{Value, json};

const ROOT: &str = "glpat-rootROOTrootROOT1234";
const ALICE: &str = "glpat-aliceALICEalice1234";

fn seed(free_tier: bool) -> Seed {
    let builder = Seed::builder()
        .admin("root")
        .user("alice")
        .user("dave")
        .group("acme", "Acme")
        .group("acme/platform", "Platform")
        .group("partners", "Partners")
        .project("acme/platform/api", "API")
        .member("acme", "alice", 50)
        .personal_token("root", "admin", &["api"], ROOT)
        .personal_token("alice", "ci", &["api"], ALICE);
    if free_tier {
        builder.free_tier().build()
    } else {
        builder.build()
    }
}

struct Setup {
    env: TestEnv,
    served: ServedApp,
    services: labgate_core::Services,
}

async fn setup(free_tier: bool) -> Setup {
    let env = TestEnv::builder().sim(seed(free_tier)).build().await;
    let served = env.serve().await;
    let services = env.services.clone().with_site_url(Some(&served.url("")));
    Setup {
        env,
        served,
        services,
    }
}

async fn source(s: &Setup, name: &str, token: &str, scope: HookScope) -> HookSource {
    let url = s.env.sim().url().to_owned();
    let connection = s
        .services
        .connections
        .create(
            &s.env.admin,
            CreateConnectionRequest {
                name: name.to_owned(),
                description: None,
                method: "access-token".to_owned(),
                credentials: Some(
                    AccessTokenCredentials {
                        access_token: token.to_owned(),
                        instance_url: Some(url),
                        access_token_type: "personal".to_owned(),
                    }
                    .into(),
                ),
                project_id: None,
                is_platform_managed_credentials: None,
                gateway_id: None,
                usages: None,
                auto_rotate: None,
                rotate_before_days: None,
            },
        )
        .await
        .unwrap();
    let id = AccessSourceId::generate();
    let (kind, path) = match scope {
        HookScope::Instance => ("instance", None),
        HookScope::Group(_) => ("group", Some("acme".to_owned())),
    };
    s.env
        .store
        .insert_access_source(&AccessSourceRecord {
            id: id.to_string(),
            tenant_id: s.env.admin.tenant_id.to_string(),
            name: name.to_owned(),
            connection_id: connection.id.to_string(),
            scope_kind: kind.to_owned(),
            scope_full_path: path,
            status: "never-synced".into(),
            last_run_id: None,
            version: 1,
            created_at: 1,
            updated_at: 1,
        })
        .await
        .unwrap();
    HookSource {
        tenant_id: s.env.admin.tenant_id.clone(),
        source_id: id,
        connection_id: ConnectionId::parse(&connection.id.to_string()).unwrap(),
        scope,
    }
}

async fn sim_call(s: &Setup, method: &str, path: &str, body: Value) -> u16 {
    let client = reqwest_client(s);
    let url = format!("{}/api/v4{path}", s.env.sim().url());
    let request = match method {
        "POST" => client.post(url),
        "PUT" => client.put(url),
        _ => client.delete(url),
    };
    request
        .header("PRIVATE-TOKEN", ROOT)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn reqwest_client(s: &Setup) -> reqwest::Client {
    s.served.client(Duration::from_secs(10))
}

/// Posts an event to labgate's receiver as GitLab would; answers (status, body).
async fn deliver(s: &Setup, token: Option<&str>, uuid: Option<&str>, body: &str) -> (u16, Value) {
    let mut request = reqwest_client(s)
        .post(s.served.url(WEBHOOK_PATH))
        .header("Content-Type", "application/json")
        .header("X-Gitlab-Event", "System Hook")
        .body(body.to_owned());
    if let Some(t) = token {
        request = request.header("X-Gitlab-Token", t);
    }
    if let Some(u) = uuid {
        request = request.header("X-Gitlab-Event-UUID", u);
    }
    let reply = request.send().await.unwrap();
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(Value::Null))
}

fn targets(pending: &[labgate_core::access::hooks::PendingTarget]) -> Vec<AccessTarget> {
    let mut out: Vec<AccessTarget> = pending.iter().map(|p| p.target).collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_system_hook_reports_membership_changes_as_pending_targets() {
    let s = setup(false).await;
    let source = source(&s, "instance", ROOT, HookScope::Instance).await;
    let hooks = &s.services.access_hooks;
    let outcome = hooks.install_for_source(&source).await.unwrap();
    assert_eq!(outcome.delivery, Delivery::Hooks);
    assert_eq!(
        hooks
            .delivery(&source.tenant_id, &source.source_id)
            .await
            .unwrap(),
        Some(Delivery::Hooks)
    );
    let installed = s.env.sim().state().hooks();
    assert_eq!(installed.len(), 1);
    assert_eq!(installed[0].owner, gitlab_sim::model::HookOwner::Instance);
    assert_eq!(installed[0].url, s.served.url(WEBHOOK_PATH));
    assert!(!installed[0].push_events, "no push traffic for access sync");
    let secret = installed[0].token.clone().expect("the hook presents a secret");

    // dave joins acme/platform at GitLab: the system hook tells labgate.
    let dave = s.env.sim().state().user_id("dave").unwrap();
    let platform = s.env.sim().state().group_id("acme/platform").unwrap();
    let status = sim_call(
        &s,
        "POST",
        "/groups/acme%2Fplatform/members",
        json!({"user_id": dave, "access_level": 30}),
    )
    .await;
    assert_eq!(status, 201);
    let delivered = s.env.sim().state().hook_deliveries();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].status, Some(202), "{:?}", delivered[0]);
    assert_eq!(delivered[0].body["group_id"], platform);
    // A run is queued for the group, which then holds it; the account is no run target and
    // stays pending for the next full run.
    let runs = s
        .env
        .store
        .list_access_sync_runs(source.source_id.as_str())
        .await
        .unwrap();
    assert_eq!(runs.len(), 1, "one run queued for the event");
    assert_eq!(runs[0].status, "queued");
    assert_eq!(
        targets(&hooks.pending_targets(&source.source_id).await.unwrap()),
        [AccessTarget::Account(GitLabUserId(dave))]
    );

    // Another event while that run is still queued: its group stays pending.
    let alice = s.env.sim().state().user_id("alice").unwrap();
    let status = sim_call(
        &s,
        "PUT",
        &format!("/groups/acme/members/{alice}"),
        json!({"access_level": 40}),
    )
    .await;
    assert_eq!(status, 200);
    let acme = s.env.sim().state().group_id("acme").unwrap();
    assert!(
        targets(&hooks.pending_targets(&source.source_id).await.unwrap())
            .contains(&AccessTarget::Group(GitLabGroupId(acme)))
    );
    assert_eq!(
        s.env
            .store
            .list_access_sync_runs(source.source_id.as_str())
            .await
            .unwrap()
            .len(),
        1
    );

    // A redelivery of the same event is acknowledged without effect.
    let body = delivered[0].body.to_string();
    let uuid = delivered[0].event_uuid.clone();
    let (status, receipt) = deliver(&s, Some(&secret), Some(&uuid), &body).await;
    assert_eq!(status, 200);
    assert_eq!(receipt["status"], "duplicate");
    assert_eq!(receipt["sourceId"], source.source_id.to_string());

    // A run that re-read a target settles it; one that started before a newer sighting does not.
    let dave_target = AccessTarget::Account(GitLabUserId(dave));
    let seen = hooks
        .pending_targets(&source.source_id)
        .await
        .unwrap()
        .iter()
        .find(|p| p.target == dave_target)
        .unwrap()
        .last_seen_at;
    hooks
        .settle(&source.source_id, &[dave_target], seen - 1)
        .await
        .unwrap();
    assert!(targets(&hooks.pending_targets(&source.source_id).await.unwrap()).contains(&dave_target));
    hooks
        .settle(&source.source_id, &[dave_target], seen)
        .await
        .unwrap();
    assert!(!targets(&hooks.pending_targets(&source.source_id).await.unwrap()).contains(&dave_target));

    // Removing the source's hooks removes the system hook at GitLab; its secret is refused then.
    let left = hooks
        .remove_for_source(&source.tenant_id, &source.source_id)
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
    assert!(s.env.sim().state().hooks().is_empty());
    let (status, _) = deliver(&s, Some(&secret), None, &body).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_receiver_refuses_bad_tokens_and_bodies_and_ignores_other_events() {
    let s = setup(false).await;
    let source = source(&s, "instance", ROOT, HookScope::Instance).await;
    s.services.access_hooks.install_for_source(&source).await.unwrap();
    let secret = s.env.sim().state().hooks()[0].token.clone().unwrap();
    let member = r#"{"event_name":"user_add_to_team","project_id":5,"user_id":9,"access_level":"Developer"}"#;

    let (status, error) = deliver(&s, None, None, member).await;
    assert_eq!(status, 401, "{error}");
    assert_eq!(error["statusCode"], 401);
    assert_eq!(deliver(&s, Some("not-the-secret"), None, member).await.0, 401);
    assert_eq!(deliver(&s, Some(""), None, member).await.0, 401);
    let wrong = format!("{secret}x");
    assert_eq!(deliver(&s, Some(&wrong), None, member).await.0, 401);

    let (status, error) = deliver(&s, Some(&secret), None, "not json").await;
    assert_eq!(status, 400);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("not a GitLab access event")
    );
    let (status, _) = deliver(
        &s,
        Some(&secret),
        None,
        r#"{"event_name":"user_add_to_group","user_id":1}"#,
    )
    .await;
    assert_eq!(status, 400, "a membership event must name its group");

    let (status, receipt) = deliver(&s, Some(&secret), None, r#"{"event_name":"key_create","id":1}"#).await;
    assert_eq!(status, 200);
    assert_eq!(receipt["status"], "ignored");

    let huge = format!(
        r#"{{"event_name":"user_create","user_id":1,"pad":"{}"}}"#,
        "x".repeat(1_100_000)
    );
    assert_eq!(deliver(&s, Some(&secret), None, &huge).await.0, 413);

    let (status, receipt) = deliver(&s, Some(&secret), Some("e-1"), member).await;
    assert_eq!(status, 202);
    assert_eq!(receipt["status"], "queued", "{receipt}");
    assert!(receipt["runId"].is_string());
    assert_eq!(
        receipt["targets"],
        json!([{"kind": "project", "gitlabId": 5}, {"kind": "account", "gitlabId": 9}])
    );
    assert!(
        !receipt.to_string().contains(&secret),
        "the secret is never echoed"
    );
    // The project went into the run; the account waits for a full run.
    assert_eq!(
        targets(
            &s.services
                .access_hooks
                .pending_targets(&source.source_id)
                .await
                .unwrap()
        ),
        [AccessTarget::Account(GitLabUserId(9))]
    );
}

#[tokio::test]
async fn a_group_source_gets_a_member_hook_and_a_refused_one_falls_back_to_sweeps() {
    let s = setup(false).await;
    let acme = s.env.sim().state().group_id("acme").unwrap();
    let group = source(&s, "acme", ALICE, HookScope::Group(GitLabGroupId(acme))).await;
    let hooks = &s.services.access_hooks;
    assert_eq!(
        hooks.install_for_source(&group).await.unwrap().delivery,
        Delivery::Hooks
    );
    let installed = s.env.sim().state().hooks();
    assert_eq!(installed[0].owner, gitlab_sim::model::HookOwner::Group(acme));
    assert!(installed[0].member_events && installed[0].subgroup_events);

    // A membership change in a subgroup reaches the group's hook.
    let dave = s.env.sim().state().user_id("dave").unwrap();
    let platform = s.env.sim().state().group_id("acme/platform").unwrap();
    sim_call(
        &s,
        "POST",
        "/groups/acme%2Fplatform/members",
        json!({"user_id": dave, "access_level": 20}),
    )
    .await;
    let delivered = s.env.sim().state().hook_deliveries();
    assert_eq!(delivered[0].event, "Member Hook");
    assert_eq!(delivered[0].status, Some(202));
    assert_eq!(delivered[0].body["group_id"], platform);
    let runs = s
        .env
        .store
        .list_access_sync_runs(group.source_id.as_str())
        .await
        .unwrap();
    assert_eq!(runs.len(), 1, "a run is queued for the changed subgroup");

    // An instance source without an administrator's token: GitLab refuses the system hook.
    let instance = source(&s, "instance", ALICE, HookScope::Instance).await;
    let outcome = hooks.install_for_source(&instance).await.unwrap();
    let Delivery::Sweeps { reason } = &outcome.delivery else {
        panic!("expected sweeps, got {outcome:?}");
    };
    assert!(reason.contains("system hook"), "{reason}");
    assert!(outcome.log_message().contains("periodic full syncs"));
    assert_eq!(
        hooks
            .delivery(&instance.tenant_id, &instance.source_id)
            .await
            .unwrap(),
        Some(outcome.delivery.clone())
    );
    assert_eq!(
        s.env.sim().state().hooks().len(),
        1,
        "nothing installed for the refused one"
    );
}

#[tokio::test]
async fn free_tier_group_hooks_are_refused_and_the_source_relies_on_sweeps() {
    let s = setup(true).await;
    let acme = s.env.sim().state().group_id("acme").unwrap();
    let group = source(&s, "acme", ALICE, HookScope::Group(GitLabGroupId(acme))).await;
    let outcome = s.services.access_hooks.install_for_source(&group).await.unwrap();
    let Delivery::Sweeps { reason } = outcome.delivery else {
        panic!("a Free-tier GitLab has no group hooks");
    };
    assert!(reason.contains("GitLab Premium"), "{reason}");
    assert!(s.env.sim().state().hooks().is_empty());
    // Nothing to remove, and removal says so.
    assert!(
        s.services
            .access_hooks
            .remove_for_source(&group.tenant_id, &group.source_id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn without_a_site_url_no_hook_is_installed() {
    let s = setup(false).await;
    let source = source(&s, "instance", ROOT, HookScope::Instance).await;
    let outcome = s
        .env
        .services
        .access_hooks
        .install_for_source(&source)
        .await
        .unwrap();
    let Delivery::Sweeps { reason } = outcome.delivery else {
        panic!("no address to deliver to");
    };
    assert!(reason.contains("LABGATE_SITE_URL"), "{reason}");
    assert!(s.env.sim().state().hooks().is_empty());
}

#[tokio::test]
async fn a_source_shows_how_its_changes_arrive() {
    for (free_tier, expected) in [(false, "hooks"), (true, "sweeps")] {
        let s = setup(free_tier).await;
        // A source made here only for its connection; the one under test is made by the service.
        let holder = source(&s, "holder", ALICE, HookScope::Instance).await;
        let created = s
            .services
            .access
            .create(
                &s.env.admin,
                CreateAccessSourceRequest {
                    name: "acme".to_owned(),
                    connection_id: holder.connection_id.to_string(),
                    scope: AccessScope {
                        kind: AccessScopeKind::Group,
                        full_path: Some("acme".to_owned()),
                    },
                },
            )
            .await
            .unwrap();
        assert_eq!(created.updates.kind.as_str(), expected, "{created:?}");
        match created.updates.kind {
            AccessUpdateDelivery::Hooks => assert_eq!(created.updates.reason, None),
            AccessUpdateDelivery::Sweeps => assert!(
                created
                    .updates
                    .reason
                    .as_deref()
                    .is_some_and(|reason| reason.contains("GitLab Premium")),
                "{created:?}"
            ),
        }
        let read = s.services.access.get(&s.env.admin, &created.id).await.unwrap();
        assert_eq!(read.updates, created.updates);
        let listed = s.services.access.list(&s.env.admin, 0, 10).await.unwrap();
        let listed = listed
            .sources
            .iter()
            .find(|source| source.id == created.id)
            .unwrap();
        assert_eq!(listed.updates, created.updates);
        // The holder's hooks were never installed: it names that.
        let holder = s
            .services
            .access
            .get(&s.env.admin, holder.source_id.as_str())
            .await
            .unwrap();
        assert_eq!(holder.updates.kind, AccessUpdateDelivery::Sweeps);
    }
}
