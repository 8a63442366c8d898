//! Responses checked against GitLab's own JSON Schemas and the recorded doc payloads.

use std::path::{Path, PathBuf};

use labgate_testkit::shared::shared_dir;
use serde_json::{Value, json};

use crate::common::*;

/// Reads schema files from disk, fixing the known upstream typo in `user/public.json`.
struct FileRetriever;

fn load_schema_file(path: &Path) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
    let text = std::fs::read_to_string(path)?;
    let text = if path.ends_with("user/public.json") {
        text.replace("\"string \"", "\"string\"")
    } else {
        text
    };
    Ok(serde_json::from_str(&text)?)
}

impl jsonschema::Retrieve for FileRetriever {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        load_schema_file(Path::new(uri.path().as_str()))
    }
}

fn schema_dir() -> Option<PathBuf> {
    shared_dir("gitlab-schemas/public_api/v4")
}

/// Validates `instance` against `public_api/v4/<rel>`; `formats` asserts `format` keywords.
fn assert_valid(dir: &Path, rel: &str, instance: &Value, formats: bool) {
    let path = dir.join(rel);
    let schema = load_schema_file(&path).expect("schema readable");
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .with_retriever(FileRetriever)
        .with_base_uri(format!("file://{}", path.display()))
        .should_validate_formats(formats)
        .build(&schema)
        .expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{rel}: {errors:#?}\n{instance:#}");
}

fn same_type(a: &Value, b: &Value) -> bool {
    a.is_null()
        || b.is_null()
        || matches!(
            (a, b),
            (Value::Bool(_), Value::Bool(_))
                | (Value::Number(_), Value::Number(_))
                | (Value::String(_), Value::String(_))
                | (Value::Array(_), Value::Array(_))
                | (Value::Object(_), Value::Object(_))
        )
}

/// Every key of the fixture appears in `actual` with the same JSON type (null matches any),
/// recursing into objects and the first element of arrays.
pub fn assert_same_shape(fixture: &Value, actual: &Value, at: &str) {
    match (fixture, actual) {
        (Value::Object(f), Value::Object(a)) => {
            for (k, fv) in f {
                let av = a
                    .get(k)
                    .unwrap_or_else(|| panic!("{at}.{k} missing in simulator output: {actual:#}"));
                assert!(same_type(fv, av), "{at}.{k}: fixture {fv} vs simulator {av}");
                assert_same_shape(fv, av, &format!("{at}.{k}"));
            }
        }
        (Value::Array(f), Value::Array(a)) => {
            if let (Some(fv), Some(av)) = (f.first(), a.first()) {
                assert_same_shape(fv, av, &format!("{at}[0]"));
            }
        }
        _ => {}
    }
}

pub fn fixture(name: &str) -> Option<Value> {
    let p = shared_dir(&format!("gitlab-fixtures/{name}"))?;
    Some(
        serde_json::from_str(&std::fs::read_to_string(p).expect("fixture readable"))
            .expect("fixture is JSON"),
    )
}

#[tokio::test]
async fn users_validate_against_gitlab_schemas() {
    let Some(dir) = schema_dir() else { return };
    let sim = start(standard()).await;
    assert_valid(
        &dir,
        "user/public.json",
        &get(&sim, "/api/v4/user", Some(ALICE_TOKEN)).await.body,
        true,
    );
    assert_valid(
        &dir,
        "user/admin.json",
        &get(&sim, "/api/v4/user", Some(ROOT_TOKEN)).await.body,
        true,
    );
    assert_valid(
        &dir,
        "user/admins.json",
        &get(&sim, "/api/v4/users?per_page=100", Some(ROOT_TOKEN))
            .await
            .body,
        true,
    );
    assert_valid(
        &dir,
        "user/basics.json",
        &get(&sim, "/api/v4/users?per_page=100", Some(BOB_TOKEN))
            .await
            .body,
        true,
    );
    assert_valid(
        &dir,
        "user/safes.json",
        &get(&sim, "/api/v4/users", None).await.body,
        true,
    );
    let bob = sim.state().user_id("bob").unwrap();
    assert_valid(
        &dir,
        "memberships.json",
        &get(
            &sim,
            &format!("/api/v4/users/{bob}/memberships"),
            Some(ROOT_TOKEN),
        )
        .await
        .body,
        true,
    );
}

#[tokio::test]
async fn members_and_resource_tokens_validate() {
    let Some(dir) = schema_dir() else { return };
    let sim = start(standard()).await;
    let all = get(&sim, "/api/v4/projects/1/members/all", Some(ALICE_TOKEN))
        .await
        .body;
    assert!(all.as_array().unwrap().len() >= 3);
    assert_valid(&dir, "members.json", &all, true);
    assert_valid(
        &dir,
        "members.json",
        &get(&sim, "/api/v4/groups/acme/members", Some(ALICE_TOKEN))
            .await
            .body,
        true,
    );
    let list = get(&sim, "/api/v4/projects/1/access_tokens", Some(ALICE_TOKEN))
        .await
        .body;
    assert_valid(&dir, "resource_access_tokens.json", &list, true);
    let id = list[0]["id"].as_u64().unwrap();
    assert_valid(
        &dir,
        "resource_access_token.json",
        &get(
            &sim,
            &format!("/api/v4/projects/1/access_tokens/{id}"),
            Some(ALICE_TOKEN),
        )
        .await
        .body,
        true,
    );
    let g = post(
        &sim,
        "/api/v4/groups/acme/access_tokens",
        Some(ROOT_TOKEN),
        json!({"name": "g", "scopes": ["api"]}),
    )
    .await
    .body;
    let mut without_secret = g.clone();
    without_secret.as_object_mut().unwrap().remove("token");
    assert_valid(&dir, "resource_access_token.json", &without_secret, true);
}

#[tokio::test]
async fn the_broken_login_schema_is_not_used() {
    let Some(dir) = schema_dir() else { return };
    let raw: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("user/login.json")).unwrap()).unwrap();
    assert_eq!(
        raw["properties"]["$ref"], "full.json",
        "the upstream defect is still there, so it stays excluded"
    );
}

#[tokio::test]
async fn field_names_match_user_fixtures() {
    let (Some(public), Some(admin), Some(search), Some(memberships)) = (
        fixture("get_user.json"),
        fixture("get_user_admin.json"),
        fixture("search_users.json"),
        fixture("get_user_memberships.json"),
    ) else {
        return;
    };
    let sim = start(standard()).await;
    let alice = sim.state().user_id("alice").unwrap();
    assert_same_shape(
        &public,
        &get(&sim, &format!("/api/v4/users/{alice}"), Some(BOB_TOKEN))
            .await
            .body,
        "get_user",
    );
    assert_same_shape(
        &admin,
        &get(&sim, &format!("/api/v4/users/{alice}"), Some(ROOT_TOKEN))
            .await
            .body,
        "get_user_admin",
    );
    assert_same_shape(
        &search,
        &get(&sim, "/api/v4/users?search=alice", Some(BOB_TOKEN))
            .await
            .body,
        "search_users",
    );
    let bob = sim.state().user_id("bob").unwrap();
    assert_same_shape(
        &memberships,
        &get(
            &sim,
            &format!("/api/v4/users/{bob}/memberships"),
            Some(ROOT_TOKEN),
        )
        .await
        .body,
        "memberships",
    );
}

#[tokio::test]
async fn field_names_match_token_fixtures() {
    let names = [
        "list_personal_access_tokens_single.json",
        "list_personal_access_tokens_with_user_filter.json",
        "list_personal_access_tokens_without_user_filter.json",
        "rotate_personal_access_token.json",
        "create_project_access_token.json",
        "get_project_access_token.json",
        "list_project_access_tokens.json",
        "rotate_project_access_token.json",
        "create_group_access_token.json",
        "get_group_access_token.json",
        "list_group_access_tokens.json",
        "rotate_group_access_token.json",
    ];
    let mut fx = Vec::new();
    for n in names {
        match fixture(n) {
            Some(v) => fx.push(v),
            None => return,
        }
    }
    let sim = start(standard()).await;
    let alice = sim.state().user_id("alice").unwrap();
    assert_same_shape(
        &fx[0],
        &get(&sim, "/api/v4/personal_access_tokens/self", Some(ALICE_TOKEN))
            .await
            .body,
        "pat self",
    );
    assert_same_shape(
        &fx[1],
        &get(
            &sim,
            &format!("/api/v4/personal_access_tokens?user_id={alice}"),
            Some(ROOT_TOKEN),
        )
        .await
        .body,
        "pat list",
    );
    assert_same_shape(
        &fx[2],
        &get(&sim, "/api/v4/personal_access_tokens", Some(ROOT_TOKEN))
            .await
            .body,
        "pat list all",
    );
    let extra = sim
        .state()
        .create_personal_access_token("alice", "r", &["api"], None)
        .unwrap();
    let id = sim.state().token(&extra).unwrap().id;
    assert_same_shape(
        &fx[3],
        &post(
            &sim,
            &format!("/api/v4/personal_access_tokens/{id}/rotate"),
            Some(ALICE_TOKEN),
            json!({}),
        )
        .await
        .body,
        "pat rotate",
    );
    for (i, base) in [(4, "/api/v4/projects/1"), (8, "/api/v4/groups/acme")] {
        let created = post(
            &sim,
            &format!("{base}/access_tokens"),
            Some(ROOT_TOKEN),
            json!({"name": "t", "scopes": ["api"]}),
        )
        .await
        .body;
        assert_same_shape(&fx[i], &created, "create");
        let tid = created["id"].as_u64().unwrap();
        assert_same_shape(
            &fx[i + 1],
            &get(&sim, &format!("{base}/access_tokens/{tid}"), Some(ROOT_TOKEN))
                .await
                .body,
            "get",
        );
        assert_same_shape(
            &fx[i + 2],
            &get(&sim, &format!("{base}/access_tokens"), Some(ROOT_TOKEN))
                .await
                .body,
            "list",
        );
        assert_same_shape(
            &fx[i + 3],
            &post(
                &sim,
                &format!("{base}/access_tokens/{tid}/rotate"),
                Some(ROOT_TOKEN),
                json!({}),
            )
            .await
            .body,
            "rotate",
        );
    }
}

#[test]
fn shape_check_catches_missing_and_mistyped_fields() {
    let fixture = json!({"a": 1, "b": {"c": "x"}, "d": null});
    assert_same_shape(&fixture, &json!({"a": 2, "b": {"c": "y"}, "d": [1]}), "ok");
    assert!(
        std::panic::catch_unwind(|| assert_same_shape(&fixture, &json!({"a": 2, "b": {}}), "missing"))
            .is_err()
    );
    assert!(
        std::panic::catch_unwind(|| assert_same_shape(
            &fixture,
            &json!({"a": "2", "b": {"c": "y"}, "d": 1}),
            "type"
        ))
        .is_err()
    );
}

#[tokio::test]
async fn identities_and_custom_roles_validate() {
    let Some(dir) = schema_dir() else { return };
    let sim = start(
        standard()
            .user_full(gitlab_sim::seed::SeedUser {
                username: "gina".into(),
                identities: vec![gitlab_sim::seed::SeedIdentity {
                    provider: "github".into(),
                    extern_uid: "2435223452345".into(),
                }],
                ..gitlab_sim::seed::SeedUser::default()
            })
            .member_role(Some("acme"), "Auditor", 10)
            .member_with_role("acme", "gina", 10, "Auditor"),
    )
    .await;
    let admin_view = get(&sim, "/api/v4/users?username=gina", Some(ROOT_TOKEN))
        .await
        .body;
    assert_valid(&dir, "user/admins.json", &admin_view, true);
    assert_eq!(admin_view[0]["identities"][0]["extern_uid"], "2435223452345");
    let members = get(&sim, "/api/v4/groups/acme/members", Some(ALICE_TOKEN))
        .await
        .body;
    assert_valid(&dir, "members.json", &members, true);
    let gina = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["username"] == "gina")
        .unwrap();
    assert_eq!(gina["member_role"]["name"], "Auditor");
    assert_eq!(gina["member_role"]["base_access_level"], 10);
}
