//! `/api/v1/access/{accounts,grants,resources}`, sync diffs and exports, read from syncs stored
//! the way the sync stores them.

use labgate_core::access::model::{
    AccessLevel, Account, AccountKind, AccountState, GitLabGroupId, GitLabProjectId, GitLabUserId, Group,
    Membership, Project, Resource, Role, Visibility,
};
use labgate_core::access::snapshot::Snapshot;
use labgate_proto::api_keys::Role as KeyRole;
use labgate_testkit::access::{AccessFixture, seed_access, seed_source_with_snapshot};
use labgate_testkit::{START_MS, TestEnv};
use serde_json::Value;

use crate::secret_scanning::setup;

async fn seeded() -> (TestEnv, String, AccessFixture) {
    let (env, connection) = setup().await;
    let fixture = seed_access(&env.store, env.admin.tenant_id.as_str(), &connection, START_MS).await;
    (env, connection, fixture)
}

fn usernames(list: &Value) -> Vec<&str> {
    list["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|account| account["username"].as_str().unwrap())
        .collect()
}

/// `(account, resource)` of every grant of a list.
fn pairs(grants: &Value) -> Vec<(String, String)> {
    grants
        .as_array()
        .unwrap()
        .iter()
        .map(|grant| {
            (
                grant["account"]["username"].as_str().unwrap().to_owned(),
                grant["resource"]["fullPath"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn grant<'a>(grants: &'a Value, account: &str, resource: &str) -> &'a Value {
    grants
        .as_array()
        .unwrap()
        .iter()
        .find(|grant| grant["account"]["username"] == account && grant["resource"]["fullPath"] == resource)
        .unwrap_or_else(|| panic!("no grant of {account} on {resource} in {grants:#}"))
}

#[tokio::test]
async fn accounts_come_from_the_newest_successful_sync_with_search_and_pages() {
    let (env, _, fixture) = seeded().await;
    let key = Some(env.admin_key.as_str());
    let source = &fixture.source_id;
    let list = env
        .get(&format!("/api/v1/access/accounts?sourceId={source}"), key)
        .await
        .json();
    // The failed third sync is skipped: the second one answers, with heidi and without dave.
    assert_eq!(list["lastSync"]["id"], fixture.second_run.as_str());
    assert!(list["lastSync"]["finishedAt"].is_string());
    assert_eq!(list["totalCount"], 9);
    assert_eq!(
        usernames(&list),
        [
            "alice",
            "bob",
            "carol",
            "ci-service",
            "deploy-bot",
            "eve",
            "frank",
            "grace",
            "heidi"
        ]
    );
    let accounts = list["accounts"].as_array().unwrap();
    let alice = &accounts[0];
    assert_eq!(alice["id"], 7);
    assert_eq!(alice["name"], "Alice Admin");
    assert_eq!(alice["kind"], "human");
    assert_eq!(alice["state"], "active");
    assert_eq!(alice["isAdmin"], true);
    assert_eq!(alice["email"], "alice@example.com");
    assert_eq!(alice["identities"][0]["provider"], "ldapmain");
    assert_eq!(alice["identities"][0]["externUid"], "uid=alice,ou=people,dc=acme");
    assert_eq!(alice["lastSignInAt"], "2026-11-30T09:00:00Z");
    assert_eq!(alice["lastActivityOn"], "2026-12-01");
    let bot = &accounts[4];
    assert_eq!(
        (bot["kind"].as_str(), bot["email"].is_null()),
        (Some("bot"), true)
    );
    assert_eq!(accounts[3]["kind"], "service-account");
    assert_eq!(accounts[5]["state"], "blocked");

    let page = env
        .get(
            &format!("/api/v1/access/accounts?sourceId={source}&offset=2&limit=3"),
            key,
        )
        .await
        .json();
    assert_eq!(usernames(&page), ["carol", "ci-service", "deploy-bot"]);
    assert_eq!(page["totalCount"], 9);
    // Username, name or e-mail, in any case; wildcards are literal.
    for (search, expected) in [
        ("CAROL", vec!["carol"]),
        ("Partner", vec!["frank"]),
        ("grace@example", vec!["grace"]),
        ("%", vec![]),
    ] {
        let found = env
            .get(
                &format!(
                    "/api/v1/access/accounts?sourceId={source}&search={}",
                    urlencode(search)
                ),
                key,
            )
            .await
            .json();
        assert_eq!(usernames(&found), expected, "{search}");
    }

    // A source that has not synced successfully yet answers empty, saying so.
    let empty = env
        .get(
            &format!("/api/v1/access/accounts?sourceId={}", fixture.unsynced_source_id),
            key,
        )
        .await
        .json();
    assert_eq!(
        empty,
        serde_json::json!({"accounts": [], "totalCount": 0, "lastSync": null})
    );
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn grants_carry_their_level_and_path_and_filter_by_account_and_resource() {
    let (env, _, fixture) = seeded().await;
    let key = Some(env.admin_key.as_str());
    let source = &fixture.source_id;
    let frank = env
        .get(
            &format!("/api/v1/access/grants?sourceId={source}&account=frank"),
            key,
        )
        .await
        .json();
    assert_eq!(frank["lastSync"]["id"], fixture.second_run.as_str());
    // Maintainer of partners directly; Developer (the share's cap) on acme/platform and below.
    assert_eq!(frank["totalCount"], 5);
    let direct = grant(&frank["grants"], "frank", "partners");
    assert_eq!(
        direct["accessLevel"],
        serde_json::json!({"value": 40, "name": "Maintainer"})
    );
    assert_eq!(direct["path"], serde_json::json!({"kind": "direct"}));
    assert_eq!(direct["resource"]["kind"], "group");
    assert_eq!(direct["account"]["id"], 14);
    let shared = grant(&frank["grants"], "frank", "acme/platform/api");
    assert_eq!(shared["resource"]["kind"], "project");
    assert_eq!(shared["accessLevel"]["value"], 30);
    assert_eq!(shared["path"]["kind"], "shared");
    assert_eq!(shared["path"]["via"]["fullPath"], "partners");
    assert_eq!(shared["path"]["sharedAt"]["fullPath"], "acme/platform");
    assert_eq!(
        shared["path"]["cappedAt"],
        serde_json::json!({"value": 30, "name": "Developer"})
    );

    let api = env
        .get(
            &format!("/api/v1/access/grants?sourceId={source}&resource=acme/platform/api"),
            key,
        )
        .await
        .json();
    let mut on_api = pairs(&api["grants"]);
    on_api.sort();
    let expected: Vec<(String, String)> = ["alice", "bob", "carol", "eve", "frank"]
        .iter()
        .map(|name| ((*name).to_owned(), "acme/platform/api".to_owned()))
        .collect();
    assert_eq!(on_api, expected);
    let carol = grant(&api["grants"], "carol", "acme/platform/api");
    assert_eq!(
        carol["accessLevel"],
        serde_json::json!({"value": 30, "name": "Developer", "customRole": {"id": 4, "name": "Security Auditor"}})
    );
    let alice = grant(&api["grants"], "alice", "acme/platform/api");
    assert_eq!(alice["path"]["kind"], "inherited");
    assert_eq!(alice["path"]["via"]["fullPath"], "acme");
    assert_eq!(alice["accessLevel"]["name"], "Owner");

    // grace's membership ends; her shared grant ends with it.
    let website = env
        .get(
            &format!("/api/v1/access/grants?sourceId={source}&resource=acme/website&account=grace"),
            key,
        )
        .await
        .json();
    assert_eq!(website["totalCount"], 1);
    assert_eq!(website["grants"][0]["expiresAt"], "2027-06-30");
    assert_eq!(website["grants"][0]["accessLevel"]["name"], "Reporter");

    // Minimal Access stays on the group it was given on, and dave left in the second sync.
    let first_sync_has_no_minimal_below = env
        .get(
            &format!("/api/v1/access/grants?sourceId={source}&account=dave"),
            key,
        )
        .await
        .json();
    assert_eq!(first_sync_has_no_minimal_below["totalCount"], 0);

    // Paging the whole list: every grant once.
    let all = env
        .get(&format!("/api/v1/access/grants?sourceId={source}&limit=100"), key)
        .await
        .json();
    let total = all["totalCount"].as_u64().unwrap();
    let mut paged = Vec::new();
    let mut offset = 0;
    while offset < total {
        let page = env
            .get(
                &format!("/api/v1/access/grants?sourceId={source}&offset={offset}&limit=7"),
                key,
            )
            .await
            .json();
        paged.extend(pairs(&page["grants"]));
        offset += 7;
    }
    assert_eq!(paged, pairs(&all["grants"]));

    // Unknown accounts and paths match nothing rather than everything.
    for filter in ["account=nobody", "resource=acme/nothing"] {
        let none = env
            .get(&format!("/api/v1/access/grants?sourceId={source}&{filter}"), key)
            .await
            .json();
        assert_eq!(none["totalCount"], 0, "{filter}");
        assert_eq!(none["grants"], serde_json::json!([]), "{filter}");
    }
}

#[tokio::test]
async fn resources_list_groups_and_projects_with_parents() {
    let (env, _, fixture) = seeded().await;
    let key = Some(env.admin_key.as_str());
    let source = &fixture.source_id;
    let all = env
        .get(&format!("/api/v1/access/resources?sourceId={source}"), key)
        .await
        .json();
    assert_eq!(all["totalCount"], 8);
    let paths: Vec<&str> = all["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|resource| resource["fullPath"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "acme",
            "acme/platform",
            "acme/platform/api",
            "acme/platform/infra",
            "acme/platform/infra/terraform",
            "acme/website",
            "contractors",
            "partners"
        ]
    );
    let terraform = &all["resources"][4];
    assert_eq!(terraform["kind"], "project");
    assert_eq!(terraform["id"], 21);
    assert_eq!(terraform["name"], "Terraform");
    assert_eq!(terraform["visibility"], "private");
    assert_eq!(
        terraform["parent"],
        serde_json::json!({"kind": "group", "id": 4, "fullPath": "acme/platform/infra"})
    );
    assert!(all["resources"][0]["parent"].is_null());

    let projects = env
        .get(
            &format!("/api/v1/access/resources?sourceId={source}&kind=project&search=PLATFORM"),
            key,
        )
        .await
        .json();
    assert_eq!(projects["totalCount"], 2);
    assert_eq!(projects["resources"][0]["fullPath"], "acme/platform/api");
    let groups = env
        .get(
            &format!("/api/v1/access/resources?sourceId={source}&kind=group&limit=2&offset=3"),
            key,
        )
        .await
        .json();
    assert_eq!(groups["totalCount"], 5);
    assert_eq!(groups["resources"][0]["fullPath"], "contractors");
}

#[tokio::test]
async fn a_sync_diff_compares_with_the_previous_success_of_its_source() {
    let (env, _, fixture) = seeded().await;
    let key = Some(env.admin_key.as_str());
    let diff = env
        .get(&format!("/api/v1/access/syncs/{}/diff", fixture.second_run), key)
        .await
        .json();
    assert_eq!(diff["sourceId"], fixture.source_id.as_str());
    assert_eq!(diff["sync"]["id"], fixture.second_run.as_str());
    assert_eq!(diff["base"]["id"], fixture.first_run.as_str());
    assert_eq!(
        pairs(&diff["added"]),
        [("heidi".to_owned(), "acme/website".to_owned())]
    );
    assert_eq!(diff["added"][0]["accessLevel"]["name"], "Developer");
    // dave's Minimal Access on acme went with him; the removed grant keeps his name.
    assert_eq!(pairs(&diff["removed"]), [("dave".to_owned(), "acme".to_owned())]);
    assert_eq!(diff["removed"][0]["accessLevel"]["name"], "Minimal Access");
    // bob's Owner role on acme/platform reaches everything below it.
    let changed: Vec<(String, String)> = diff["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|change| {
            assert_eq!(change["before"]["accessLevel"]["name"], "Developer");
            assert_eq!(change["after"]["accessLevel"]["name"], "Owner");
            (
                change["after"]["account"]["username"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                change["after"]["resource"]["fullPath"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    let below: Vec<(String, String)> = [
        "acme/platform",
        "acme/platform/api",
        "acme/platform/infra",
        "acme/platform/infra/terraform",
    ]
    .iter()
    .map(|path| ("bob".to_owned(), (*path).to_owned()))
    .collect();
    let mut sorted = changed.clone();
    sorted.sort();
    assert_eq!(sorted, below);
    let mut owners = pairs(&diff["newOwners"]);
    owners.sort();
    assert_eq!(owners, below);
    let admins: Vec<&str> = diff["newAdmins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|account| account["username"].as_str().unwrap())
        .collect();
    assert_eq!(admins, ["carol"]);

    // The first success has no base: all it saw is new.
    let first = env
        .get(&format!("/api/v1/access/syncs/{}/diff", fixture.first_run), key)
        .await
        .json();
    assert!(first["base"].is_null());
    assert!(first["removed"].as_array().unwrap().is_empty());
    let everything = env
        .get(
            &format!("/api/v1/access/grants?sourceId={}&limit=100", fixture.source_id),
            key,
        )
        .await
        .json();
    // One fewer than the second sync's (heidi), one more (dave's).
    assert_eq!(
        first["added"].as_array().unwrap().len() as u64,
        everything["totalCount"].as_u64().unwrap()
    );
    let first_admins: Vec<&str> = first["newAdmins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|account| account["username"].as_str().unwrap())
        .collect();
    assert_eq!(first_admins, ["alice"]);
    assert_eq!(first["counts"]["added"], everything["totalCount"]);
    assert_eq!(first["counts"]["newAdmins"], 1);

    // A limit keeps the first entries of each list; the counts stay whole.
    let one = env
        .get(
            &format!("/api/v1/access/syncs/{}/diff?limit=1", fixture.first_run),
            key,
        )
        .await
        .json();
    assert_eq!(one["added"].as_array().unwrap().len(), 1);
    assert_eq!(one["added"][0], first["added"][0]);
    assert_eq!(one["counts"], first["counts"]);
    for bad in ["0", "10001", "many"] {
        let body = env
            .get(
                &format!("/api/v1/access/syncs/{}/diff?limit={bad}", fixture.first_run),
                key,
            )
            .await
            .error(400, "BadRequest");
        assert!(
            body["details"][0]["field"] == "limit" || body["message"].as_str().unwrap().contains("limit"),
            "{bad}: {body}"
        );
    }

    let failed = env
        .get(&format!("/api/v1/access/syncs/{}/diff", fixture.failed_run), key)
        .await
        .error(409, "Conflict");
    assert!(failed["message"].as_str().unwrap().contains("failed"), "{failed}");
    env.get(
        &format!("/api/v1/access/syncs/{}/diff", uuid::Uuid::now_v7()),
        key,
    )
    .await
    .error(404, "NotFound");
    env.get("/api/v1/access/syncs/not-a-uuid/diff", key)
        .await
        .error(400, "BadRequest");
    // Another tenant's sync is not found.
    env.get(
        &format!("/api/v1/access/syncs/{}/diff", fixture.second_run),
        Some(&env.other_admin_key),
    )
    .await
    .error(404, "NotFound");
}

/// A minimal RFC 4180 reader: quoted fields with doubled quotes, commas and newlines inside.
fn csv_rows(body: &[u8]) -> Vec<Vec<String>> {
    let text = String::from_utf8(body.to_vec()).unwrap();
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(field.is_empty() && row.is_empty(), "the body ends with a newline");
    rows
}

#[tokio::test]
async fn exports_are_attachments_in_csv_and_json_with_formulas_neutralised() {
    let (env, _, fixture) = seeded().await;
    let key = Some(env.admin_key.as_str());
    let source = &fixture.source_id;

    let csv = env
        .get(
            &format!("/api/v1/access/accounts/export?sourceId={source}&format=csv"),
            key,
        )
        .await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        csv.headers["content-disposition"],
        format!("attachment; filename=\"access-accounts-{source}.csv\"").as_str()
    );
    let rows = csv_rows(&csv.body);
    assert_eq!(
        rows[0],
        [
            "id",
            "username",
            "name",
            "kind",
            "state",
            "is_admin",
            "email",
            "identities",
            "last_sign_in_at",
            "last_activity_on"
        ]
    );
    assert_eq!(rows.len(), 10);
    let eve = rows.iter().find(|row| row[1] == "eve").unwrap();
    assert_eq!(
        eve[2], "'=2+5 Eve",
        "a name that is a formula is not one in a spreadsheet"
    );
    assert_eq!(eve[4], "blocked");
    let alice = rows.iter().find(|row| row[1] == "alice").unwrap();
    assert_eq!(alice[7], "ldapmain:uid=alice,ou=people,dc=acme");
    assert_eq!(alice[7 - 2], "true");

    let json = env
        .get(&format!("/api/v1/access/grants/export?sourceId={source}"), key)
        .await;
    assert_eq!(json.headers["content-type"], "application/json");
    assert_eq!(
        json.headers["content-disposition"],
        format!("attachment; filename=\"access-grants-{source}.json\"").as_str()
    );
    let document = json.json();
    let listed = env
        .get(&format!("/api/v1/access/grants?sourceId={source}&limit=100"), key)
        .await
        .json();
    assert_eq!(document["totalCount"], listed["totalCount"]);
    assert_eq!(document["grants"], listed["grants"]);
    assert_eq!(document["lastSync"], listed["lastSync"]);

    let frank = env
        .get(
            &format!("/api/v1/access/grants/export?sourceId={source}&format=csv&account=frank&resource=acme/platform"),
            key,
        )
        .await;
    let rows = csv_rows(&frank.body);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[1],
        [
            "14",
            "frank",
            "group",
            "2",
            "acme/platform",
            "30",
            "Developer",
            "",
            "shared",
            "partners",
            "acme/platform",
            "Developer",
            ""
        ]
    );

    // Before any successful sync: the header and nothing else.
    let empty = env
        .get(
            &format!(
                "/api/v1/access/grants/export?sourceId={}&format=json",
                fixture.unsynced_source_id
            ),
            key,
        )
        .await
        .json();
    assert_eq!(
        empty,
        serde_json::json!({"lastSync": null, "totalCount": 0, "grants": []})
    );
}

/// An instance larger than one export batch: 2,100 accounts in one group with one project, so
/// 4,200 grants read in five batches, each exactly once and in order.
#[tokio::test]
async fn an_export_larger_than_a_batch_has_every_grant_once() {
    let (env, connection) = setup().await;
    let accounts: Vec<Account> = (1..=2_100)
        .map(|id| Account {
            id: GitLabUserId(id),
            username: format!("user{id:05}"),
            name: format!("User {id}"),
            kind: AccountKind::Human,
            state: AccountState::Active,
            admin: None,
            email: None,
            identities: Vec::new(),
            last_sign_in_at: None,
            last_activity_on: None,
        })
        .collect();
    let snapshot = Snapshot {
        memberships: accounts
            .iter()
            .map(|account| Membership {
                account: account.id,
                resource: Resource::Group(GitLabGroupId(1)),
                role: Role::level(AccessLevel::DEVELOPER),
                expires_at: None,
            })
            .collect(),
        accounts,
        groups: vec![Group {
            id: GitLabGroupId(1),
            parent: None,
            full_path: "big".into(),
            name: "Big".into(),
            visibility: Visibility::Private,
        }],
        projects: vec![Project {
            id: GitLabProjectId(2),
            group: Some(GitLabGroupId(1)),
            full_path: "big/app".into(),
            name: "App".into(),
            visibility: Visibility::Private,
        }],
        shares: Vec::new(),
    };
    let (source, _) = seed_source_with_snapshot(
        &env.store,
        env.admin.tenant_id.as_str(),
        &connection,
        "big",
        &snapshot,
        START_MS,
    )
    .await;
    let key = Some(env.admin_key.as_str());
    let csv = env
        .get(
            &format!("/api/v1/access/grants/export?sourceId={source}&format=csv"),
            key,
        )
        .await;
    let rows = csv_rows(&csv.body);
    assert_eq!(rows.len(), 4_201);
    let keys: Vec<(u64, String)> = rows[1..]
        .iter()
        .map(|row| (row[0].parse().unwrap(), row[2].clone()))
        .collect();
    let mut expected = Vec::new();
    for id in 1..=2_100 {
        expected.push((id, "group".to_owned()));
        expected.push((id, "project".to_owned()));
    }
    assert_eq!(keys, expected);
    assert!(rows[1..].iter().all(|row| row[8] != "direct" || row[4] == "big"));

    let json = env
        .get(&format!("/api/v1/access/accounts/export?sourceId={source}"), key)
        .await
        .json();
    assert_eq!(json["totalCount"], 2_100);
    let names: Vec<&str> = json["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|account| account["username"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2_100);
    assert!(names.windows(2).all(|pair| pair[0] < pair[1]));
}

#[tokio::test]
async fn bad_parameters_unknown_sources_and_roles_are_answered_in_the_contract() {
    let (env, connection, fixture) = seeded().await;
    let key = Some(env.admin_key.as_str());
    let source = &fixture.source_id;
    for list in [
        "accounts",
        "grants",
        "resources",
        "accounts/export",
        "grants/export",
    ] {
        let missing = env
            .get(&format!("/api/v1/access/{list}"), key)
            .await
            .error(400, "BadRequest");
        assert_eq!(missing["details"][0]["field"], "sourceId", "{list}");
        let malformed = env
            .get(&format!("/api/v1/access/{list}?sourceId=acme"), key)
            .await
            .error(400, "BadRequest");
        assert_eq!(malformed["details"][0]["field"], "sourceId", "{list}");
        env.get(
            &format!("/api/v1/access/{list}?sourceId={}", uuid::Uuid::now_v7()),
            key,
        )
        .await
        .error(404, "NotFound");
        env.get(
            &format!("/api/v1/access/{list}?sourceId={source}"),
            Some(&env.other_admin_key),
        )
        .await
        .error(404, "NotFound");
        env.get(&format!("/api/v1/access/{list}?sourceId={source}&bogus=1"), key)
            .await
            .error(400, "BadRequest");
    }
    for query in ["format=xml", "format="] {
        env.get(
            &format!("/api/v1/access/grants/export?sourceId={source}&{query}"),
            key,
        )
        .await
        .error(400, "BadRequest");
    }
    env.get(
        &format!("/api/v1/access/resources?sourceId={source}&kind=namespace"),
        key,
    )
    .await
    .error(400, "BadRequest");
    let long = "a".repeat(300);
    let body = env
        .get(
            &format!("/api/v1/access/accounts?sourceId={source}&search={long}"),
            key,
        )
        .await
        .error(400, "BadRequest");
    assert_eq!(body["details"][0]["field"], "search");
    let body = env
        .get(
            &format!("/api/v1/access/grants?sourceId={source}&account=%07x"),
            key,
        )
        .await
        .error(400, "BadRequest");
    assert_eq!(body["details"][0]["field"], "account");

    // Readers read; keys made only for credentials do not.
    let reader = env.key("acme", KeyRole::Reader).await;
    let broker = env.key("acme", KeyRole::CredentialReader).await;
    for path in [
        format!("/api/v1/access/accounts?sourceId={source}"),
        format!("/api/v1/access/grants?sourceId={source}"),
        format!("/api/v1/access/resources?sourceId={source}"),
        format!("/api/v1/access/grants/export?sourceId={source}&format=csv"),
        format!("/api/v1/access/syncs/{}/diff", fixture.second_run),
    ] {
        assert_eq!(env.get(&path, Some(&reader)).await.status, 200, "{path}");
        env.get(&path, Some(&broker)).await.error(403, "Forbidden");
    }
    drop(connection);
}
