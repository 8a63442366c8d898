//! The Secrets and Secret syncs pages in process: every form refused without its token, values
//! never in a page and read only with the page's token, errors said next to their fields, other
//! tenants' projects and syncs answered as missing, and readers without write buttons whose
//! posts are refused.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use gitlab_sim::Seed;
use labgate_core::secrets::{EnvironmentSlug, Folder, NewSecret, SecretKey, SecretPath};
use labgate_proto::api_keys::Role;
use labgate_testkit::TestEnv;
use secrecy::SecretString;
use serde_json::json;

use crate::ui::{encode, form_token, get, log_in, post, text, with_user};

const ALICE: &str = "glpat-aliceALICEalice1234";
const VALUE: &str = "postgres://db.internal/payments";

async fn env_with_project() -> (TestEnv, String) {
    let seed = Seed::builder()
        .user("alice")
        .group("acme", "Acme")
        .project("acme/api", "API")
        .member("acme", "alice", 40)
        .personal_token("alice", "ci", &["api"], ALICE)
        .build();
    let env = TestEnv::builder().sim(seed).build().await;
    let project = env
        .services
        .secrets
        .create_project(&env.admin, "Payments", None, None)
        .await
        .unwrap();
    let folder = Folder {
        project: project.id.clone(),
        environment: EnvironmentSlug::parse("dev").unwrap(),
        path: SecretPath::root(),
    };
    env.services
        .secrets
        .create(
            &env.admin,
            &folder,
            NewSecret {
                key: SecretKey::parse("DATABASE_URL").unwrap(),
                value: SecretString::from(VALUE.to_owned()),
                comment: Some("Primary database".into()),
                tags: None,
            },
        )
        .await
        .unwrap();
    (env, project.id.to_string())
}

fn get_value(path: &str, cookies: &str, token: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path).header("cookie", cookies);
    if let Some(token) = token {
        request = request.header("x-csrf-token", token);
    }
    request.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn secrets_pages_keep_values_hidden_check_tokens_and_keep_to_the_tenant() {
    let (env, project) = env_with_project().await;
    with_user(&env, Role::Member).await;
    let session = log_in(&env).await;
    let page = env.send(get(&format!("/secrets/{project}"), &session)).await;
    assert_eq!(page.status, StatusCode::OK);
    let body = text(&page);
    assert!(body.contains(r#"data-secret-key="DATABASE_URL""#), "{body}");
    assert!(body.contains("Primary database"));
    assert!(!body.contains(VALUE), "a value is never in the page");
    assert!(body.contains("Add secret") && body.contains("Import .env"));
    let token = form_token(&body);

    // Every form of these pages is refused without its token, or with another.
    let sync = "00000000-0000-4000-8000-000000000000";
    for path in [
        "/secrets".to_owned(),
        format!("/secrets/{project}/delete"),
        format!("/secrets/{project}/add"),
        format!("/secrets/{project}/edit"),
        format!("/secrets/{project}/remove"),
        format!("/secrets/{project}/import"),
        format!("/secrets/{project}/rollback"),
        "/secret-syncs/new".to_owned(),
        format!("/secret-syncs/{sync}/sync"),
        format!("/secret-syncs/{sync}/import"),
        format!("/secret-syncs/{sync}/remove"),
        format!("/secret-syncs/{sync}/delete"),
    ] {
        for form in [
            "env=dev&path=%2F&key=DATABASE_URL&version=1".to_owned(),
            "env=dev&path=%2F&key=DATABASE_URL&version=1&csrf_token=forged".to_owned(),
        ] {
            let reply = env.send(post(&path, &session, &form)).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path} {form}");
            assert!(text(&reply).contains("This form has expired"));
        }
    }
    let listed = env
        .services
        .secrets
        .browse(
            &env.admin,
            &Folder {
                project: labgate_core::ids::SecretProjectId::parse(&project).unwrap(),
                environment: EnvironmentSlug::parse("dev").unwrap(),
                path: SecretPath::root(),
            },
        )
        .await
        .unwrap();
    assert_eq!(listed.secrets.len(), 1, "nothing was deleted");

    // A value is read only with the page's token in the header.
    let value_path = format!("/secrets/{project}/value?env=dev&path=%2F&key=DATABASE_URL");
    for presented in [None, Some("forged")] {
        let refused = env.send(get_value(&value_path, &session, presented)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{presented:?}");
        assert!(!text(&refused).contains(VALUE));
    }
    let read = env.send(get_value(&value_path, &session, Some(&token))).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.headers["cache-control"], "no-store");
    let answer: serde_json::Value = serde_json::from_slice(&read.body).unwrap();
    assert_eq!(answer["value"], VALUE);
    let missing = env
        .send(get_value(
            &format!("/secrets/{project}/value?env=dev&path=%2F&key=NOPE"),
            &session,
            Some(&token),
        ))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // Errors are said next to the key: not a key, a duplicate.
    let add = |key: &str| {
        format!(
            "csrf_token={}&env=dev&path=%2F&key={}&value=x&comment=",
            encode(&token),
            encode(key)
        )
    };
    let invalid = env
        .send(post(
            &format!("/secrets/{project}/add"),
            &session,
            &add("BAD KEY"),
        ))
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text(&invalid).contains(r#"id="add-key-error""#),
        "{}",
        text(&invalid)
    );
    let duplicate = env
        .send(post(
            &format!("/secrets/{project}/add"),
            &session,
            &add("DATABASE_URL"),
        ))
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert!(text(&duplicate).contains("already exists"));
    assert!(!text(&duplicate).contains(VALUE));
    let added = env
        .send(post(
            &format!("/secrets/{project}/add"),
            &session,
            &add("API_TOKEN"),
        ))
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    assert_eq!(
        added.headers["location"],
        format!("/secrets/{project}?env=dev&path=%2F")
    );

    // A folder path that is not one, an unknown environment.
    let bad_path = env
        .send(get(
            &format!("/secrets/{project}?env=dev&path=%2Fa%20b"),
            &session,
        ))
        .await;
    assert_eq!(bad_path.status, StatusCode::BAD_REQUEST);
    let unknown_env = env
        .send(get(&format!("/secrets/{project}?env=qa"), &session))
        .await;
    assert_eq!(unknown_env.status, StatusCode::NOT_FOUND);

    // An edit makes a new version; the history lists both, and rolls back.
    let edited = env
        .send(post(
            &format!("/secrets/{project}/edit"),
            &session,
            &format!(
                "csrf_token={}&env=dev&path=%2F&key=DATABASE_URL&new_key=DATABASE_URL&value=changed&comment=Primary+database",
                encode(&token)
            ),
        ))
        .await;
    assert_eq!(edited.status, StatusCode::SEE_OTHER);
    let history = text(
        &env.send(get(
            &format!("/secrets/{project}/history?env=dev&path=%2F&key=DATABASE_URL"),
            &session,
        ))
        .await,
    );
    assert!(history.contains(r#"data-version="2""#) && history.contains(r#"data-version="1""#));
    assert!(history.contains("Roll back to this version"));
    assert!(history.contains("ann@example.com"), "who made the version");
    let rolled = env
        .send(post(
            &format!("/secrets/{project}/rollback"),
            &session,
            &format!(
                "csrf_token={}&env=dev&path=%2F&key=DATABASE_URL&version=1",
                encode(&token)
            ),
        ))
        .await;
    assert_eq!(rolled.status, StatusCode::SEE_OTHER);
    let read = env.send(get_value(&value_path, &session, Some(&token))).await;
    let answer: serde_json::Value = serde_json::from_slice(&read.body).unwrap();
    assert_eq!(
        (answer["value"].as_str(), answer["version"].as_u64()),
        (Some(VALUE), Some(3))
    );

    // Another tenant's project, and ids that are not ids, are missing on every page and form.
    let theirs = env
        .services
        .secrets
        .create_project(&env.other_admin, "Theirs", None, None)
        .await
        .unwrap()
        .id
        .to_string();
    for id in [theirs.as_str(), "not-an-id", sync] {
        for suffix in ["", "/syncs", "/history?env=dev&path=%2F&key=DATABASE_URL"] {
            let reply = env.send(get(&format!("/secrets/{id}{suffix}"), &session)).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{id}{suffix}");
        }
        let reply = env
            .send(post(
                &format!("/secrets/{id}/delete"),
                &session,
                &format!("csrf_token={}", encode(&token)),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{id}");
    }
    assert!(
        env.services
            .secrets
            .project(
                &env.other_admin,
                &labgate_core::ids::SecretProjectId::parse(&theirs).unwrap()
            )
            .await
            .is_ok(),
        "the other tenant's project is untouched"
    );
}

#[tokio::test]
async fn sync_form_says_why_gitlab_refuses_and_sync_pages_answer() {
    let (env, project) = env_with_project().await;
    with_user(&env, Role::Admin).await;
    let session = log_in(&env).await;
    let url = env.sim().url().to_owned();
    let reply = env
        .call(
            "POST",
            "/api/v1/app-connections/gitlab",
            &env.admin_key,
            Some(json!({"name": "alice", "method": "access-token",
                "credentials": {"accessToken": ALICE, "instanceUrl": url, "accessTokenType": "personal"}})),
        )
        .await;
    assert_eq!(reply.status, 200);
    let connection = reply.json()["appConnection"]["id"].as_str().unwrap().to_owned();

    let new = env
        .send(get(&format!("/secret-syncs/new?project={project}"), &session))
        .await;
    assert_eq!(new.status, StatusCode::OK);
    let token = form_token(&text(&new));
    let form = |name: &str, destination: &str, scope: &str| {
        format!(
            "csrf_token={}&project={project}&name={}&connection_id={connection}&environment=dev&secret_path=%2F&scope={scope}\
             &destination_id={}&target_environment=*&initial_sync_behavior=overwrite-destination&mask=true",
            encode(&token),
            encode(name),
            encode(destination)
        )
    };
    for (name, destination, scope, field, says) in [
        (
            "Not A Name",
            "acme/api",
            "project",
            "field-name-error",
            "lowercase",
        ),
        (
            "payments",
            "acme/nowhere",
            "project",
            "field-destination_id-error",
            "cannot reach",
        ),
        (
            "payments",
            "",
            "group",
            "field-destination_id-error",
            "needs a groupId",
        ),
    ] {
        let refused = env
            .send(post(
                "/secret-syncs/new",
                &session,
                &form(name, destination, scope),
            ))
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{destination}");
        let page = text(&refused);
        assert!(page.contains(&format!(r#"id="{field}""#)), "{field}: {page}");
        assert!(page.contains(says), "{says}: {page}");
        assert!(
            page.contains(&format!(r#"value="{}""#, destination)),
            "what was typed is kept"
        );
    }
    let created = env
        .send(post(
            "/secret-syncs/new",
            &session,
            &form("payments", "acme/api", "project"),
        ))
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", text(&created));
    let location = created.headers["location"].to_str().unwrap().to_owned();
    let detail = text(&env.send(get(&location, &session)).await);
    assert!(detail.contains("Project acme/api"), "{detail}");
    assert!(
        detail.contains(r#"data-action="create""#),
        "the plan lists the secret to create"
    );
    assert!(detail.contains("Sync now") && detail.contains("Remove synced variables"));
    assert!(!detail.contains(VALUE), "the plan shows no value");
    let duplicate = env
        .send(post(
            "/secret-syncs/new",
            &session,
            &form("payments", "acme/api", "project"),
        ))
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert!(text(&duplicate).contains(r#"id="field-name-error""#));

    let listed = text(&env.send(get("/secret-syncs", &session)).await);
    assert!(listed.contains(&location) && listed.contains("Never synced"));
    let tab = text(
        &env.send(get(&format!("/secrets/{project}/syncs"), &session))
            .await,
    );
    assert!(tab.contains(&location));

    let queued = env
        .send(post(
            &format!("{location}/sync"),
            &session,
            &format!("csrf_token={}", encode(&token)),
        ))
        .await;
    assert_eq!(queued.status, StatusCode::SEE_OTHER);
    assert_eq!(queued.headers["location"], location.as_str());
    let pending = text(&env.send(get(&location, &session)).await);
    assert!(pending.contains(r#"data-sync-status="pending""#), "{pending}");
    assert!(
        pending.contains("data-live-jobs=\"/organization/jobs.json?id="),
        "the job is followed"
    );

    // Another tenant sees none of it.
    let missing = env.send(get("/secret-syncs/not-an-id", &session)).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let deleted = env
        .send(post(
            &format!("{location}/delete"),
            &session,
            &format!("csrf_token={}", encode(&token)),
        ))
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(deleted.headers["location"], "/secret-syncs");
    assert_eq!(
        env.send(get(&location, &session)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn readers_see_no_write_actions_and_their_posts_are_refused() {
    let (env, project) = env_with_project().await;
    with_user(&env, Role::Reader).await;
    let session = log_in(&env).await;
    let list = text(&env.send(get("/secrets", &session)).await);
    assert!(list.contains("Payments"));
    assert!(
        !list.contains("Create project") && !list.contains("data-confirm"),
        "{list}"
    );
    let page = env.send(get(&format!("/secrets/{project}"), &session)).await;
    assert_eq!(page.status, StatusCode::OK);
    let body = text(&page);
    for write in [
        "Add secret",
        "Import .env",
        "Edit DATABASE_URL",
        "Delete DATABASE_URL",
        "/add\"",
        "/remove\"",
    ] {
        assert!(!body.contains(write), "{write}");
    }
    assert!(body.contains("Reveal DATABASE_URL"), "reading is allowed");
    let history = text(
        &env.send(get(
            &format!("/secrets/{project}/history?env=dev&path=%2F&key=DATABASE_URL"),
            &session,
        ))
        .await,
    );
    assert!(!history.contains("Roll back"));
    let token = form_token(&body);
    for (path, form) in [
        ("/secrets".to_owned(), "name=Mine"),
        (
            format!("/secrets/{project}/add"),
            "env=dev&path=%2F&key=NEW&value=x",
        ),
        (
            format!("/secrets/{project}/edit"),
            "env=dev&path=%2F&key=DATABASE_URL&value=x",
        ),
        (
            format!("/secrets/{project}/remove"),
            "env=dev&path=%2F&key=DATABASE_URL",
        ),
        (
            format!("/secrets/{project}/import"),
            "env=dev&path=%2F&content=A%3D1",
        ),
        (
            format!("/secrets/{project}/rollback"),
            "env=dev&path=%2F&key=DATABASE_URL&version=1",
        ),
        (format!("/secrets/{project}/delete"), ""),
    ] {
        let reply = env
            .send(post(
                &path,
                &session,
                &format!("csrf_token={}&{form}", encode(&token)),
            ))
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}");
        assert!(text(&reply).contains("Your role cannot do this"), "{path}");
    }
    let new = env
        .send(get(&format!("/secret-syncs/new?project={project}"), &session))
        .await;
    assert_eq!(new.status, StatusCode::FORBIDDEN);
    let syncs = text(&env.send(get("/secret-syncs", &session)).await);
    assert!(!syncs.contains("Add sync"));
}
