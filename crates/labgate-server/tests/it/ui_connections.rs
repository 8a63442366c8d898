//! The App Connections pages in process: statuses of pages and forms, the errors a form shows
//! next to its fields, every form refused without its token, and other tenants' connections
//! answered as missing.

use axum::http::StatusCode;
use gitlab_sim::Seed;
use labgate_proto::api_keys::Role;
use labgate_testkit::TestEnv;
use serde_json::json;

use crate::ui::{encode, form_token, get, log_in, post, text, with_user};

const TOKEN: &str = "glpat-aliceALICEalice1234";
const LIST: &str = "/organization/app-connections";

fn create_body(name: &str, url: &str) -> serde_json::Value {
    json!({
        "name": name,
        "method": "access-token",
        "credentials": {"accessToken": TOKEN, "instanceUrl": url, "accessTokenType": "personal"},
    })
}

#[tokio::test]
async fn connection_pages_answer_with_statuses_and_keep_to_the_tenant() {
    let env = TestEnv::builder()
        .sim(
            Seed::builder()
                .user("alice")
                .personal_token("alice", "ci", &["api"], TOKEN)
                .build(),
        )
        .build()
        .await;
    let url = env.sim().url().to_owned();
    with_user(&env, Role::Admin).await;
    let session = log_in(&env).await;
    let list = env.send(get(LIST, &session)).await;
    assert_eq!(list.status, StatusCode::OK);
    let token = form_token(&text(&list));

    // Every form of these pages is refused without its token, or with another.
    let nobody = "00000000-0000-4000-8000-000000000000";
    for path in [
        format!("{LIST}/new/gitlab/access-token"),
        format!("{LIST}/new/gitlab/oauth"),
        format!("{LIST}/{nobody}/check"),
        format!("{LIST}/{nobody}/rotate"),
        format!("{LIST}/{nobody}/refresh"),
        format!("{LIST}/{nobody}/edit"),
        format!("{LIST}/{nobody}/delete"),
    ] {
        for form in ["name=x".to_owned(), "name=x&csrf_token=forged".to_owned()] {
            let reply = env.send(post(&path, &session, &form)).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path} {form}");
            assert!(text(&reply).contains("This form has expired"));
        }
    }

    // A missing name, then a token GitLab refuses: 422, said next to the field.
    let form = |name: &str, access_token: &str| {
        format!(
            "csrf_token={}&name={}&description=Deploys&token_type=personal&access_token={}&instance_url={}",
            encode(&token),
            encode(name),
            encode(access_token),
            encode(&url)
        )
    };
    let path = format!("{LIST}/new/gitlab/access-token");
    let missing = env.send(post(&path, &session, &form("", TOKEN))).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = text(&missing);
    assert!(page.contains(r#"id="token-name-error""#), "{page}");
    assert!(page.contains(r#"value="Deploys""#), "what was typed is kept");
    assert!(!page.contains(TOKEN), "the token is never sent back");
    let refused = env
        .send(post(&path, &session, &form("ci", "glpat-notARealTokenAtAll00")))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(&refused).contains(r#"id="token-access_token-error""#));
    assert!(!text(&refused).contains("glpat-notARealTokenAtAll00"));
    let slug = env.send(post(&path, &session, &form("Not A Slug", TOKEN))).await;
    assert_eq!(slug.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(&slug).contains(r#"id="token-name-error""#));

    // A good token: on to the list with the new connection marked.
    let created = env.send(post(&path, &session, &form("ci", TOKEN))).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", text(&created));
    let location = created.headers["location"].to_str().unwrap().to_owned();
    let id = location
        .strip_prefix(&format!("{LIST}?highlight="))
        .expect("the list with the new connection marked")
        .to_owned();
    let marked = text(&env.send(get(&location, &session)).await);
    assert!(marked.contains(&format!(r#"id="connection-{id}""#)) && marked.contains("highlight"));
    let duplicate = env.send(post(&path, &session, &form("ci", TOKEN))).await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert!(text(&duplicate).contains("already exists"));

    // Filters narrow the list; values that mean nothing are ignored.
    let none = text(&env.send(get(&format!("{LIST}?q=zzz"), &session)).await);
    assert!(none.contains("No connections match"));
    let found = text(
        &env.send(get(
            &format!("{LIST}?q=C&status=active&method=access-token"),
            &session,
        ))
        .await,
    );
    assert!(found.contains(&format!("{LIST}/{id}")));
    let ignored = env
        .send(get(&format!("{LIST}?status=bogus&page=x"), &session))
        .await;
    assert_eq!(ignored.status, StatusCode::OK);
    let oauth_only = text(&env.send(get(&format!("{LIST}?method=oauth"), &session)).await);
    assert!(!oauth_only.contains(&format!("{LIST}/{id}")));

    // The tenant's own connection has its pages.
    for suffix in ["", "/edit", "/delete"] {
        let reply = env.send(get(&format!("{LIST}/{id}{suffix}"), &session)).await;
        assert_eq!(reply.status, StatusCode::OK, "{suffix}");
    }
    let checked = env
        .send(post(
            &format!("{LIST}/{id}/check"),
            &session,
            &format!("csrf_token={}", encode(&token)),
        ))
        .await;
    assert_eq!(checked.status, StatusCode::SEE_OTHER);
    assert_eq!(checked.headers["location"], format!("{LIST}/{id}").as_str());
    // An access token is rotated, not refreshed: said in a message, not an error page.
    let refresh = env
        .send(post(
            &format!("{LIST}/{id}/refresh"),
            &session,
            &format!("csrf_token={}", encode(&token)),
        ))
        .await;
    assert_eq!(refresh.status, StatusCode::SEE_OTHER);

    // Another tenant's connection, and ids that are not ids, are missing on every page and form.
    let theirs = env
        .call(
            "POST",
            "/api/v1/app-connections/gitlab",
            &env.other_admin_key,
            Some(create_body("theirs", &url)),
        )
        .await;
    assert_eq!(theirs.status, 200);
    let theirs = theirs.json()["appConnection"]["id"].as_str().unwrap().to_owned();
    for id in [theirs.as_str(), "not-a-uuid", nobody] {
        for suffix in ["", "/edit", "/delete"] {
            let reply = env.send(get(&format!("{LIST}/{id}{suffix}"), &session)).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{id}{suffix}");
            assert!(text(&reply).contains("Connection not found"));
        }
        for action in ["check", "rotate", "refresh", "edit", "delete"] {
            let reply = env
                .send(post(
                    &format!("{LIST}/{id}/{action}"),
                    &session,
                    &format!("csrf_token={}&name=mine", encode(&token)),
                ))
                .await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{id} {action}");
        }
    }
    let still = env
        .get(
            &format!("/api/v1/app-connections/gitlab/{theirs}"),
            Some(&env.other_admin_key),
        )
        .await;
    assert_eq!(still.status, 200, "the other tenant's connection is untouched");
    assert_eq!(still.json()["appConnection"]["name"], "theirs");

    // Deleting ours: on to the list, and its page is gone.
    let deleted = env
        .send(post(
            &format!("{LIST}/{id}/delete"),
            &session,
            &format!("csrf_token={}", encode(&token)),
        ))
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(deleted.headers["location"], LIST);
    assert_eq!(
        env.send(get(&format!("{LIST}/{id}"), &session)).await.status,
        StatusCode::NOT_FOUND
    );
}
