//! System hooks, group hooks' member and subgroup events, namespaces, and the generated large
//! instance: what incremental access sync relies on.

use gitlab_sim::Generate;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

/// Deliveries recorded so far as (X-Gitlab-Event, body).
fn events(got: &Received) -> Vec<(String, Value)> {
    got.lock()
        .iter()
        .map(|(h, b)| {
            (
                h.get("x-gitlab-event")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned(),
                b.clone(),
            )
        })
        .collect()
}

fn names(got: &Received) -> Vec<String> {
    events(got)
        .into_iter()
        .map(|(_, b)| b["event_name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn system_hook(sim: &gitlab_sim::SimServer, url: &str) -> u64 {
    let r = post(
        sim,
        "/api/v4/hooks",
        Some(ROOT_TOKEN),
        json!({"url": url, "token": "system-secret", "push_events": false}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_u64().unwrap()
}

#[tokio::test]
async fn system_hooks_api_is_admin_only_and_never_shows_the_token() {
    let (url, got) = receiver().await;
    let sim = start(standard()).await;
    let denied = post(&sim, "/api/v4/hooks", Some(ALICE_TOKEN), json!({"url": url})).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(
        get(&sim, "/api/v4/hooks", Some(ALICE_TOKEN)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(&sim, "/api/v4/hooks", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let missing = post(&sim, "/api/v4/hooks", Some(ROOT_TOKEN), json!({})).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    let bad = post(&sim, "/api/v4/hooks", Some(ROOT_TOKEN), json!({"url": "ftp://x"})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);

    let id = system_hook(&sim, &url).await;
    let listed = get(&sim, "/api/v4/hooks", Some(ROOT_TOKEN)).await;
    assert_eq!(listed.status, StatusCode::OK);
    let hook = &listed.body[0];
    assert_eq!(hook["id"], id);
    assert_eq!(hook["url"], url);
    assert_eq!(hook["push_events"], false);
    assert_eq!(
        hook["repository_update_events"], true,
        "GitLab's default for system hooks"
    );
    assert!(hook.get("token").is_none(), "{hook}");
    assert!(!hook.to_string().contains("system-secret"));

    let updated = put(
        &sim,
        &format!("/api/v4/hooks/{id}"),
        Some(ROOT_TOKEN),
        json!({"tag_push_events": true}),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_eq!(updated.body["tag_push_events"], true);
    assert_eq!(
        get(&sim, &format!("/api/v4/hooks/{id}"), Some(ROOT_TOKEN))
            .await
            .body["tag_push_events"],
        true
    );

    // The test route sends GitLab's fixed sample event and answers it.
    let tested = post(&sim, &format!("/api/v4/hooks/{id}"), Some(ROOT_TOKEN), json!({})).await;
    assert_eq!(tested.status, StatusCode::CREATED);
    assert_eq!(tested.body["event_name"], "project_create");
    let received = got.lock().clone();
    assert_eq!(received.len(), 1);
    let (headers, body) = &received[0];
    assert_eq!(headers["x-gitlab-event"], "System Hook");
    assert_eq!(headers["x-gitlab-token"], "system-secret");
    assert!(uuid::Uuid::parse_str(headers["x-gitlab-event-uuid"].to_str().unwrap()).is_ok());
    assert_eq!(body["name"], "Ruby");

    // A project hook's id is not a system hook.
    let project_hook = post(
        &sim,
        "/api/v4/projects/acme%2Fplatform%2Fapi/hooks",
        Some(ROOT_TOKEN),
        json!({"url": url}),
    )
    .await;
    let phid = project_hook.body["id"].as_u64().unwrap();
    assert_eq!(
        get(&sim, &format!("/api/v4/hooks/{phid}"), Some(ROOT_TOKEN))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        delete(&sim, &format!("/api/v4/hooks/{id}"), Some(ROOT_TOKEN))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        get(&sim, &format!("/api/v4/hooks/{id}"), Some(ROOT_TOKEN))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn membership_changes_reach_system_hooks_with_gitlabs_payloads() {
    let (url, got) = receiver().await;
    let sim = start(standard()).await;
    system_hook(&sim, &url).await;
    let dave = sim.state().user_id("dave").unwrap();

    let added = post(
        &sim,
        "/api/v4/groups/acme%2Fplatform/members",
        Some(ROOT_TOKEN),
        json!({"user_id": dave, "access_level": 40, "expires_at": "2099-01-31"}),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    put(
        &sim,
        &format!("/api/v4/groups/acme%2Fplatform/members/{dave}"),
        Some(ROOT_TOKEN),
        json!({"access_level": 50}),
    )
    .await;
    delete(
        &sim,
        &format!("/api/v4/groups/acme%2Fplatform/members/{dave}"),
        Some(ROOT_TOKEN),
    )
    .await;
    post(
        &sim,
        "/api/v4/projects/acme%2Fwebsite/members",
        Some(ROOT_TOKEN),
        json!({"user_id": dave, "access_level": 30}),
    )
    .await;
    put(
        &sim,
        &format!("/api/v4/projects/acme%2Fwebsite/members/{dave}"),
        Some(ROOT_TOKEN),
        json!({"access_level": 20}),
    )
    .await;
    delete(
        &sim,
        &format!("/api/v4/projects/acme%2Fwebsite/members/{dave}"),
        Some(ROOT_TOKEN),
    )
    .await;

    assert_eq!(
        names(&got),
        [
            "user_add_to_group",
            "user_update_for_group",
            "user_remove_from_group",
            "user_add_to_team",
            "user_update_for_team",
            "user_remove_from_team"
        ]
    );
    let all = events(&got);
    assert!(all.iter().all(|(e, _)| e == "System Hook"));
    let add = &all[0].1;
    let platform = sim.state().group_id("acme/platform").unwrap();
    assert_eq!(add["group_id"], platform);
    assert_eq!(add["group_path"], "platform");
    assert_eq!(add["user_id"], dave);
    assert_eq!(add["user_username"], "dave");
    assert_eq!(add["group_access"], "Maintainer");
    assert_eq!(add["expires_at"], "2099-01-31T00:00:00Z");
    assert_eq!(all[1].1["group_access"], "Owner");
    let team = &all[4].1;
    assert_eq!(team["project_path_with_namespace"], "acme/website");
    assert_eq!(team["access_level"], "Reporter");
    assert_eq!(team["project_visibility"], "private");
    for (i, fixture) in [
        (0, "systemhooks/user_add_to_group.json"),
        (1, "systemhooks/user_update_for_group.json"),
        (2, "systemhooks/user_remove_from_group.json"),
        (3, "systemhooks/user_add_to_team.json"),
        (4, "systemhooks/user_update_for_team.json"),
        (5, "systemhooks/user_remove_from_team.json"),
    ] {
        if let Some(fx) = crate::fidelity::fixture(fixture) {
            crate::fidelity::assert_same_shape(&fx, &all[i].1, fixture);
        }
    }
    // Each event carries its own UUID.
    let uuids: std::collections::BTreeSet<String> = got
        .lock()
        .iter()
        .map(|(h, _)| h["x-gitlab-event-uuid"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(uuids.len(), 6);
}

#[tokio::test]
async fn account_group_and_project_lifecycle_reach_system_hooks() {
    let (url, got) = receiver().await;
    let sim = start(standard()).await;
    system_hook(&sim, &url).await;
    let created = post(
        &sim,
        "/api/v4/users",
        Some(ROOT_TOKEN),
        json!({"email": "erin@example.com", "name": "Erin", "username": "erin", "password": "secret-password-1"}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let erin = created.body["id"].as_u64().unwrap();
    let state = sim.state();
    state.rename_user("erin", "erin2").await.unwrap();
    delete(&sim, &format!("/api/v4/users/{erin}"), Some(ROOT_TOKEN)).await;
    state.create_group("acme/security", "Security").await.unwrap();
    state.rename_group("acme/security", "sec", "Sec").await.unwrap();
    state.create_project("acme/sec/scanner", "Scanner").await.unwrap();
    state
        .transfer_project("acme/sec/scanner", "partners")
        .await
        .unwrap();
    state.delete_project("partners/scanner").await.unwrap();
    state.delete_group("acme/sec").await.unwrap();
    // Bad input changes nothing and tells no one.
    assert!(state.create_group("nowhere/child", "Child").await.is_err());
    assert!(state.transfer_project("acme/website", "nowhere").await.is_err());

    assert_eq!(
        names(&got),
        [
            "user_create",
            "user_rename",
            "user_destroy",
            "group_create",
            "group_rename",
            "project_create",
            "project_transfer",
            "project_destroy",
            "group_destroy"
        ]
    );
    let all = events(&got);
    assert_eq!(all[0].1["user_id"], erin);
    assert_eq!(all[0].1["username"], "erin");
    assert_eq!(all[1].1["old_username"], "erin");
    assert_eq!(all[1].1["username"], "erin2");
    assert_eq!(all[4].1["old_full_path"], "acme/security");
    assert_eq!(all[4].1["full_path"], "acme/sec");
    assert_eq!(all[6].1["old_path_with_namespace"], "acme/sec/scanner");
    assert_eq!(all[6].1["path_with_namespace"], "partners/scanner");
    // partners' Owner is carol.
    assert_eq!(all[6].1["owners"][0]["name"], "carol");
    for (i, fixture) in [
        (0, "systemhooks/user_create.json"),
        (1, "systemhooks/user_rename.json"),
        (2, "systemhooks/user_destroy.json"),
        (4, "systemhooks/group_rename.json"),
        (5, "systemhooks/project_create.json"),
        (6, "systemhooks/project_transfer.json"),
        (7, "systemhooks/project_destroy.json"),
    ] {
        if let Some(fx) = crate::fidelity::fixture(fixture) {
            crate::fidelity::assert_same_shape(&fx, &all[i].1, fixture);
        }
    }
    assert!(sim.state().group_id("acme/sec").is_none());
    assert!(sim.state().project_id("partners/scanner").is_none());
}

#[tokio::test]
async fn group_member_hooks_fire_for_the_group_and_its_subgroups() {
    let (url, got) = receiver().await;
    let (quiet_url, quiet) = receiver().await;
    let sim = start(standard()).await;
    let hook = post(
        &sim,
        "/api/v4/groups/acme/hooks",
        Some(ROOT_TOKEN),
        json!({"url": url, "token": "group-secret", "push_events": false, "member_events": true, "subgroup_events": true}),
    )
    .await;
    assert_eq!(hook.status, StatusCode::CREATED, "{}", hook.body);
    assert_eq!(hook.body["member_events"], true);
    assert_eq!(hook.body["subgroup_events"], true);
    post(
        &sim,
        "/api/v4/groups/acme/hooks",
        Some(ROOT_TOKEN),
        json!({"url": quiet_url, "push_events": false}),
    )
    .await;
    let dave = sim.state().user_id("dave").unwrap();
    // A subgroup's membership reaches the parent's hook.
    post(
        &sim,
        "/api/v4/groups/acme%2Fplatform/members",
        Some(ROOT_TOKEN),
        json!({"user_id": dave, "access_level": 30}),
    )
    .await;
    // A group outside acme does not.
    post(
        &sim,
        "/api/v4/groups/partners/members",
        Some(ROOT_TOKEN),
        json!({"user_id": dave, "access_level": 30}),
    )
    .await;
    // A project membership is no group member event.
    post(
        &sim,
        "/api/v4/projects/acme%2Fwebsite/members",
        Some(ROOT_TOKEN),
        json!({"user_id": dave, "access_level": 30}),
    )
    .await;
    sim.state()
        .create_group("acme/platform/infra", "Infra")
        .await
        .unwrap();

    let all = events(&got);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0].0, "Member Hook");
    assert_eq!(all[0].1["event_name"], "user_add_to_group");
    assert_eq!(all[0].1["group_path"], "platform");
    assert_eq!(all[0].1["group_access"], "Developer");
    if let Some(fx) = crate::fidelity::fixture("webhooks/member.json") {
        crate::fidelity::assert_same_shape(&fx, &all[0].1, "member hook");
    }
    assert_eq!(all[1].0, "Subgroup Hook");
    assert_eq!(all[1].1["event_name"], "subgroup_create");
    assert_eq!(all[1].1["full_path"], "acme/platform/infra");
    if let Some(fx) = crate::fidelity::fixture("webhooks/subgroup.json") {
        crate::fidelity::assert_same_shape(&fx, &all[1].1, "subgroup hook");
    }
    assert_eq!(got.lock()[0].0["x-gitlab-token"], "group-secret");
    assert!(
        quiet.lock().is_empty(),
        "a hook without member events hears nothing"
    );
}

#[tokio::test]
async fn group_hooks_refused_on_free_tier_leave_member_events_unsent() {
    let sim = start(standard().free_tier()).await;
    let r = post(
        &sim,
        "/api/v4/groups/acme/hooks",
        Some(ROOT_TOKEN),
        json!({"url": "http://127.0.0.1:9/hook", "member_events": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn namespaces_list_show_and_exists() {
    let sim = start(standard()).await;
    let all = get(&sim, "/api/v4/namespaces?per_page=100", Some(ROOT_TOKEN)).await;
    assert_eq!(all.status, StatusCode::OK);
    let rows = all.body.as_array().unwrap();
    let kinds: Vec<(&str, &str)> = rows
        .iter()
        .map(|n| (n["full_path"].as_str().unwrap(), n["kind"].as_str().unwrap()))
        .collect();
    assert!(kinds.contains(&("alice", "user")));
    assert!(kinds.contains(&("acme/platform", "group")));
    let ids: Vec<u64> = rows.iter().map(|n| n["id"].as_u64().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(ids, sorted, "ids ascend and never repeat across users and groups");
    let platform = rows.iter().find(|n| n["full_path"] == "acme/platform").unwrap();
    assert_eq!(platform["parent_id"], sim.state().group_id("acme").unwrap());
    assert!(
        platform["members_count_with_descendants"].is_u64(),
        "admins see counts"
    );

    // Alice: her own namespace and the group she is a member of.
    let mine = get(&sim, "/api/v4/namespaces", Some(ALICE_TOKEN)).await;
    let paths: Vec<&str> = mine
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["full_path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["alice", "acme"]);
    let top = get(&sim, "/api/v4/namespaces?search=plat", Some(ROOT_TOKEN)).await;
    assert_eq!(top.body.as_array().unwrap().len(), 1);
    let top_only = get(
        &sim,
        "/api/v4/namespaces?top_level_only=true&per_page=100",
        Some(ROOT_TOKEN),
    )
    .await;
    assert!(
        top_only
            .body
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["parent_id"].is_null())
    );

    let shown = get(&sim, "/api/v4/namespaces/acme%2Fplatform", Some(ALICE_TOKEN)).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.body["kind"], "group");
    assert!(
        shown.body.get("members_count_with_descendants").is_none(),
        "a Maintainer is no Owner: no counts"
    );
    // acme: an administrator sees the count; alice is its one member (bob is on a project).
    let acme = get(&sim, "/api/v4/namespaces/acme", Some(ROOT_TOKEN)).await;
    assert_eq!(acme.body["members_count_with_descendants"], 1);
    let by_id = get(
        &sim,
        &format!("/api/v4/namespaces/{}", sim.state().group_id("partners").unwrap()),
        Some(ALICE_TOKEN),
    )
    .await;
    assert_eq!(
        by_id.status,
        StatusCode::NOT_FOUND,
        "a private group alice is not in"
    );
    assert_eq!(by_id.body["message"], "404 Namespace Not Found");
    assert_eq!(
        get(&sim, "/api/v4/namespaces/bob", Some(ALICE_TOKEN))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&sim, "/api/v4/namespaces/alice", Some(ALICE_TOKEN))
            .await
            .body["kind"],
        "user"
    );

    let taken = get(&sim, "/api/v4/namespaces/acme/exists", Some(ALICE_TOKEN)).await;
    assert_eq!(taken.body, json!({"exists": true, "suggests": ["acme1"]}));
    let free = get(&sim, "/api/v4/namespaces/platform/exists", Some(ALICE_TOKEN)).await;
    assert_eq!(free.body["exists"], false, "platform exists only below acme");
    let acme_id = sim.state().group_id("acme").unwrap();
    let nested = get(
        &sim,
        &format!("/api/v4/namespaces/platform/exists?parent_id={acme_id}"),
        Some(ALICE_TOKEN),
    )
    .await;
    assert_eq!(nested.body["exists"], true);
    assert_eq!(
        get(&sim, "/api/v4/namespaces", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn generated_instance_is_a_deterministic_tree_with_shares() {
    let spec = Generate {
        users: 2_000,
        groups: 200,
        projects: 5_000,
        memberships: 50_000,
        shares: 200,
        seed: 11,
    };
    let a = start(standard().generate(spec.clone())).await;
    let b = start(standard().generate(spec)).await;
    let snapshot = |sim: &gitlab_sim::SimServer| {
        sim.state().read(|db| {
            let groups: Vec<String> = db.groups.values().map(|g| g.full_path.clone()).collect();
            let members: usize = db.members.values().map(std::collections::BTreeMap::len).sum();
            let shares: usize = db.groups.values().map(|g| g.shared_with.len()).sum::<usize>()
                + db.projects.values().map(|p| p.shared_with.len()).sum::<usize>();
            (groups, members, shares)
        })
    };
    let (groups, members, shares) = snapshot(&a);
    assert_eq!(
        (groups.clone(), members, shares),
        snapshot(&b),
        "same seed, same instance"
    );
    assert!(members >= 50_000, "{members}");
    assert!(shares > 100, "{shares}");
    let depth = groups.iter().map(|p| p.matches('/').count()).max().unwrap();
    assert!(depth >= 2, "subgroups nest below subgroups (depth {depth})");
    assert!(depth <= 3, "at most four levels (depth {depth})");

    // Paging through one large group's projects (with subgroups) by keyset reaches every one.
    let top = groups.iter().find(|p| p.starts_with("group")).unwrap().clone();
    let expected = a.state().read(|db| {
        let gid = db.group_id(&top).unwrap();
        std::iter::once(gid)
            .chain(db.group_descendants(gid))
            .filter_map(|g| db.group_projects.get(&g))
            .map(std::collections::BTreeSet::len)
            .sum::<usize>()
    });
    let mut seen = 0;
    let mut next = Some(format!(
        "/api/v4/groups/{}/projects?include_subgroups=true&pagination=keyset&order_by=id&sort=asc&per_page=100",
        urlencode(&top)
    ));
    while let Some(path) = next.take() {
        let r = get(&a, &path, Some(ROOT_TOKEN)).await;
        assert_eq!(r.status, StatusCode::OK);
        seen += r.body.as_array().unwrap().len();
        next = r
            .header("link")
            .and_then(|l| l.split('<').nth(1))
            .and_then(|l| l.split('>').next())
            .map(|u| {
                u.split_once("/api/v4")
                    .map(|(_, rest)| format!("/api/v4{rest}"))
                    .unwrap()
            });
    }
    assert_eq!(seen, expected);
}

fn urlencode(path: &str) -> String {
    path.replace('/', "%2F")
}
