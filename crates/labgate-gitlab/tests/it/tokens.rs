//! Token introspection, listing, creation and rotation.

use std::time::Duration;

use gitlab_sim::FaultRule;
use labgate_gitlab::*;
use secrecy::ExposeSecret;

use crate::common::*;

#[tokio::test]
async fn introspects_a_personal_token_in_two_requests() {
    let sim = start_sim(standard_seed()).await;
    let c = client(&sim);
    let info = c.introspect(&pat(ALICE_TOKEN)).await.unwrap();
    assert_eq!(info.kind, TokenKind::Personal);
    assert_eq!(info.requests, 2);
    assert_eq!(info.scopes, vec!["api".to_owned()]);
    assert!(info.active && !info.revoked);
    assert_eq!(info.name.as_deref(), Some("ci"));
    let owner = info.owner.unwrap();
    assert_eq!(owner.username.as_deref(), Some("alice"));
    assert_eq!(owner.bot, Some(false));
    assert!(info.resource.is_none() && info.token_id.is_some());
}

#[tokio::test]
async fn custom_prefix_is_not_a_problem() {
    // The kind comes from GitLab's answers, never from the `glpat-` prefix.
    let sim = start_sim(standard_seed()).await;
    let info = client(&sim).introspect(&pat(CUSTOM_PREFIX_TOKEN)).await.unwrap();
    assert_eq!(info.kind, TokenKind::Personal);
    assert_eq!(info.owner.unwrap().username.as_deref(), Some("dave"));
}

#[tokio::test]
async fn introspects_project_and_group_tokens() {
    let sim = start_sim(standard_seed()).await;
    let c = client(&sim);
    let p = c.introspect(&pat(DEPLOY_TOKEN)).await.unwrap();
    assert_eq!(p.kind, TokenKind::Project);
    assert_eq!(p.requests, 3);
    let owner = p.owner.unwrap();
    assert_eq!(owner.bot, Some(true));
    assert!(owner.username.unwrap().starts_with("project_"));
    let res = p.resource.unwrap();
    assert_eq!(res.kind, ResourceKind::Project);
    assert_eq!(res.full_path.as_deref(), Some("acme/platform/api"));
    assert_eq!(p.access_level, Some(AccessLevel::MAINTAINER));

    let g = c.introspect(&pat(GROUP_TOKEN)).await.unwrap();
    assert_eq!(g.kind, TokenKind::Group);
    assert_eq!(g.requests, 4);
    let res = g.resource.unwrap();
    assert_eq!(res.kind, ResourceKind::Group);
    assert_eq!(res.full_path.as_deref(), Some("acme/platform"));
    assert_eq!(g.access_level, Some(AccessLevel::DEVELOPER));
}

#[tokio::test]
async fn a_token_that_cannot_read_its_user_says_so() {
    let sim = start_sim(standard_seed()).await;
    let info = client(&sim).introspect(&pat(ALICE_REPO)).await.unwrap();
    assert_eq!(info.kind, TokenKind::AccessTokenOfUnknownOwner);
    assert_eq!(info.requests, 1, "no call that would fail for lack of scope");
    assert_eq!(info.scopes, vec!["read_repository".to_owned()]);
    assert!(info.owner.unwrap().username.is_none());
}

#[tokio::test]
async fn expired_revoked_and_unknown_tokens() {
    let sim = start_sim(standard_seed()).await;
    let c = client(&sim);
    let unknown = c.introspect(&pat("glpat-doesNotExist000000")).await.unwrap_err();
    assert_eq!(
        unknown,
        GitLabError::Unauthorized {
            reason: UnauthorizedReason::Invalid
        }
    );
    c.revoke_self(&pat(BOB_TOKEN)).await.unwrap();
    let revoked = c.current_user(&pat(BOB_TOKEN)).await.unwrap_err();
    assert!(matches!(revoked, GitLabError::Unauthorized { .. }), "{revoked:?}");
    // Past the default 365-day expiry of a created token.
    let created = c
        .create_resource_access_token(
            &pat(ALICE_TOKEN),
            &Source::Project("acme/website".into()),
            &NewResourceToken {
                name: "short".into(),
                scopes: vec!["read_api".into()],
                access_level: Some(AccessLevel::REPORTER),
                expires_at: Some(time::OffsetDateTime::now_utc().date() + time::Duration::days(2)),
                description: None,
            },
        )
        .await
        .unwrap();
    sim.clock().advance(Duration::from_secs(3 * 86_400));
    let expired = c
        .introspect(&Credential::PrivateToken(created.token.clone()))
        .await
        .unwrap_err();
    assert_eq!(
        expired,
        GitLabError::Unauthorized {
            reason: UnauthorizedReason::Expired
        }
    );
}

#[tokio::test]
async fn lists_creates_and_revokes_tokens() {
    let sim = start_sim(standard_seed()).await;
    let c = client(&sim);
    let alice = pat(ALICE_TOKEN);
    let mine = collect(c.personal_access_tokens(&alice, &TokenFilter::default()))
        .await
        .unwrap();
    assert_eq!(mine.len(), 3);
    let active_api = collect(c.personal_access_tokens(
        &alice,
        &TokenFilter {
            state: Some("active".into()),
            search: Some("ci".into()),
            ..TokenFilter::default()
        },
    ))
    .await
    .unwrap();
    assert_eq!(active_api.len(), 1);
    let one = c.personal_access_token(&alice, active_api[0].id).await.unwrap();
    assert_eq!(one.name, "ci");
    assert_eq!(c.personal_access_token_self(&alice).await.unwrap().id, one.id);

    let api = Source::Project("acme/platform/api".into());
    let listed = collect(c.resource_access_tokens(&alice, &api, &TokenFilter::default()))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].access_level, Some(AccessLevel::MAINTAINER));
    let created = c
        .create_resource_access_token(
            &alice,
            &api,
            &NewResourceToken {
                name: "sync".into(),
                scopes: vec!["api".into()],
                access_level: Some(AccessLevel::DEVELOPER),
                expires_at: None,
                description: Some("labgate".into()),
            },
        )
        .await
        .unwrap();
    assert!(!created.token.expose_secret().is_empty());
    assert!(!format!("{created:?}").contains(created.token.expose_secret()));
    let got = c
        .resource_access_token(&alice, &api, created.info.id)
        .await
        .unwrap();
    assert_eq!(got.resource_type.as_deref(), Some("project"));
    c.revoke_resource_access_token(&alice, &api, created.info.id)
        .await
        .unwrap();
    let after = c
        .resource_access_token(&alice, &api, created.info.id)
        .await
        .unwrap();
    assert!(after.revoked);
    // Group tokens need an Owner: alice is only Maintainer.
    let denied =
        collect(c.resource_access_tokens(&alice, &Source::Group("acme".into()), &TokenFilter::default()))
            .await
            .unwrap_err();
    assert!(matches!(denied, GitLabError::Forbidden { .. }), "{denied:?}");
}

#[tokio::test]
async fn rotations_return_the_new_secret_and_kill_the_old_one() {
    let sim = start_sim(standard_seed()).await;
    let c = client(&sim);
    let alice = pat(ALICE_TOKEN);
    let ro_id = collect(c.personal_access_tokens(
        &alice,
        &TokenFilter {
            search: Some("ro".into()),
            ..TokenFilter::default()
        },
    ))
    .await
    .unwrap()[0]
        .id;
    let expires = time::OffsetDateTime::now_utc().date() + time::Duration::days(30);
    let rotated = c
        .rotate_personal_token(&alice, ro_id, Some(expires))
        .await
        .unwrap();
    assert_ne!(rotated.info.id, ro_id);
    assert_eq!(rotated.info.expires_at, Some(expires));
    assert!(
        c.current_user(&pat(ALICE_READ)).await.is_err(),
        "old token revoked at once"
    );
    let new = Credential::PrivateToken(rotated.token.clone());
    assert_eq!(c.current_user(&new).await.unwrap().username, "alice");

    let api: ResourceId = "acme/platform/api".into();
    let deploy_id = c.personal_access_token_self(&pat(DEPLOY_TOKEN)).await.unwrap().id;
    let r = c
        .rotate_project_token(&alice, &api, deploy_id, None)
        .await
        .unwrap();
    assert_eq!(r.info.access_level, Some(AccessLevel::MAINTAINER));
    let deploy2 = Credential::PrivateToken(r.token.clone());
    let again = c
        .rotate_resource_self(&deploy2, &Source::Project(api.clone()), None)
        .await
        .unwrap();
    assert!(c.current_user(&deploy2).await.is_err());
    let deploy3 = Credential::PrivateToken(again.token);
    let info = c.introspect(&deploy3).await.unwrap();
    assert_eq!(info.kind, TokenKind::Project);

    // Self-rotation through the personal route.
    let s = c.rotate_self(&pat(CAROL_TOKEN), None).await.unwrap();
    assert_eq!(
        c.current_user(&Credential::PrivateToken(s.token))
            .await
            .unwrap()
            .username,
        "carol"
    );
    // A PAT that is not Owner of the group cannot rotate its token.
    let grp_id = c.personal_access_token_self(&pat(GROUP_TOKEN)).await.unwrap().id;
    let err = c
        .rotate_group_token(&alice, &"acme/platform".into(), grp_id, None)
        .await
        .unwrap_err();
    assert!(matches!(err, GitLabError::Forbidden { .. }), "{err:?}");
    let ok = c
        .rotate_group_token(&pat(ROOT_TOKEN), &"acme/platform".into(), grp_id, None)
        .await
        .unwrap();
    assert_eq!(ok.info.resource_type.as_deref(), Some("group"));
}

#[tokio::test]
async fn rotation_is_never_retried() {
    let sim = start_sim(standard_seed()).await;
    let c = client(&sim);
    // The answer is lost after GitLab rotated: the client must not send the POST again (it
    // would hit the revoked token and revoke the whole token family).
    sim.faults().add(FaultRule {
        route: Some("/api/v4/personal_access_tokens/self/rotate".into()),
        lose_answer: 1.0,
        times: Some(1),
        ..FaultRule::default()
    });
    let err = c.rotate_self(&pat(BOB_TOKEN), None).await.unwrap_err();
    let GitLabError::Transient { detail, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(detail.contains("may have been applied"), "{detail}");
    assert!(err.may_have_been_applied());
    assert_eq!(count(&sim, "POST", "/personal_access_tokens/self/rotate"), 1);
    // 503 on a rotation is not retried either.
    sim.faults().add(FaultRule {
        route: Some("/api/v4/personal_access_tokens/self/rotate".into()),
        error_503: 1.0,
        times: Some(1),
        ..FaultRule::default()
    });
    let err = c.rotate_self(&pat(CAROL_TOKEN), None).await.unwrap_err();
    assert!(
        matches!(
            err,
            GitLabError::Transient {
                status: Some(503),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(count(&sim, "POST", "/personal_access_tokens/self/rotate"), 2);
}

#[tokio::test]
async fn introspection_survives_a_resource_it_may_not_read() {
    use axum::routing::get;
    let forbidden = || async {
        (
            axum::http::StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({"message": "403 Forbidden"})),
        )
    };
    let app = axum::Router::new()
        .route(
            "/api/v4/personal_access_tokens/self",
            get(|| async {
                axum::Json(serde_json::json!({
                    "id": 77, "name": "grp", "revoked": false, "active": true, "user_id": 5,
                    "scopes": ["read_api"], "expires_at": "2030-01-01", "created_at": "2025-01-01T00:00:00.000Z"
                }))
            }),
        )
        .route(
            "/api/v4/user",
            get(|| async { axum::Json(serde_json::json!({"id": 5, "username": "group_9_bot_abc", "bot": true})) }),
        )
        .route("/api/v4/groups/9", get(forbidden))
        .route("/api/v4/groups/9/members/5", get(forbidden));
    let addr = spawn_app(app).await;
    let c = client_for_url(&format!("http://{addr}"), fast_client_options());
    let info = c
        .introspect(&pat("custom-token-without-known-prefix"))
        .await
        .unwrap();
    assert_eq!(info.kind, TokenKind::Group);
    assert_eq!(info.requests, 4);
    assert_eq!(info.token_id, Some(77));
    assert_eq!(info.expires_on, Some(time::macros::date!(2030 - 01 - 01)));
    assert_eq!(
        info.resource,
        Some(TokenResource {
            kind: ResourceKind::Group,
            id: 9,
            full_path: None
        })
    );
    assert_eq!(info.access_level, None);
}

#[tokio::test]
async fn an_older_gitlab_is_introspected_through_what_the_token_can_do() {
    let sim = start_sim(standard_seed().version("15.4.0")).await;
    let c = client(&sim);
    let behaviour = |reads_api| Evidence::Behaviour {
        gitlab_version: "15.4.0".to_owned(),
        reads_api,
    };

    let personal = c.introspect(&pat(ALICE_TOKEN)).await.unwrap();
    assert_eq!(personal.kind, TokenKind::Personal);
    assert_eq!(personal.evidence, behaviour(true));
    assert_eq!(personal.owner.unwrap().username.as_deref(), Some("alice"));
    assert!(personal.active && !personal.revoked);
    // What only /personal_access_tokens/self could say stays unknown.
    assert!(personal.scopes.is_empty() && personal.expires_at.is_none());
    assert!(personal.token_id.is_none() && personal.name.is_none());
    assert_eq!(personal.requests, 4, "self, version, user, projects");
    assert_eq!(count(&sim, "GET", "/personal_access_tokens/self"), 1);

    // Project and group tokens are told by their bot users.
    let project = c.introspect(&pat(DEPLOY_TOKEN)).await.unwrap();
    assert_eq!(project.kind, TokenKind::Project);
    assert_eq!(project.evidence, behaviour(true));
    assert_eq!(
        project.resource.unwrap().full_path.as_deref(),
        Some("acme/platform/api")
    );
    assert_eq!(project.access_level, Some(AccessLevel::MAINTAINER));
    let group = c.introspect(&pat(GROUP_TOKEN)).await.unwrap();
    assert_eq!(group.kind, TokenKind::Group);
    assert_eq!(
        group.resource.unwrap().full_path.as_deref(),
        Some("acme/platform")
    );
    assert_eq!(group.access_level, Some(AccessLevel::DEVELOPER));

    // A read_user token can read its user but no project.
    let user_only = c.introspect(&pat(CUSTOM_PREFIX_TOKEN)).await.unwrap();
    assert_eq!(user_only.kind, TokenKind::Personal);
    assert_eq!(user_only.evidence, behaviour(false));
}

#[tokio::test]
async fn an_older_gitlab_still_refuses_dead_tokens() {
    let sim = start_sim(standard_seed().version("15.4.0")).await;
    let c = client(&sim);
    assert!(sim.state().revoke_token(BOB_TOKEN));
    assert_eq!(
        c.introspect(&pat(BOB_TOKEN)).await.unwrap_err(),
        GitLabError::Unauthorized {
            reason: UnauthorizedReason::Revoked
        }
    );
    assert_eq!(
        c.introspect(&pat("glpat-doesNotExist000000")).await.unwrap_err(),
        GitLabError::Unauthorized {
            reason: UnauthorizedReason::Invalid
        }
    );
    // A token that cannot even read /version cannot be told from a wrong URL: not validated.
    let repo_only = c.introspect(&pat(ALICE_REPO)).await.unwrap_err();
    assert!(
        matches!(repo_only, GitLabError::InsufficientScope { .. }),
        "{repo_only:?}"
    );
}

#[tokio::test]
async fn a_recent_gitlab_without_the_self_endpoint_is_not_guessed_at() {
    // Something answers 404 where GitLab 15.5+ has the endpoint: not an old GitLab, so the 404
    // stands and nothing is inferred from the token's behaviour.
    let app = axum::Router::new()
        .route(
            "/api/v4/personal_access_tokens/self",
            axum::routing::get(|| async {
                (
                    axum::http::StatusCode::NOT_FOUND,
                    axum::Json(serde_json::json!({"error": "404 Not Found"})),
                )
            }),
        )
        .route(
            "/api/v4/version",
            axum::routing::get(|| async {
                axum::Json(serde_json::json!({"version": "17.9.1-ee", "revision": "x"}))
            }),
        );
    let addr = spawn_app(app).await;
    let c = client_for_url(&format!("http://{addr}"), fast_client_options());
    let err = c.introspect(&pat(ALICE_TOKEN)).await.unwrap_err();
    assert!(matches!(err, GitLabError::NotFound { .. }), "{err:?}");
}
