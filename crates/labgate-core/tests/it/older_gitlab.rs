//! Connections to GitLab before 15.5, which has no `/personal_access_tokens/self`: tokens are
//! judged by what they can do, and the connection says what could not be verified.

use gitlab_sim::Seed;
use labgate_core::CoreError;
use labgate_proto::connections::{ConnectionStatus, CreateConnectionRequest};
use labgate_testkit::TestEnv;

use crate::connections::{ALICE, DEPLOY, request};

const ALICE_USER: &str = "glpat-aliceUSERonlytoken1";

async fn env() -> TestEnv {
    let seed = Seed::builder()
        .version("15.4.0")
        .user("alice")
        .group("acme", "Acme")
        .project("acme/api", "API")
        .member("acme", "alice", 50)
        .personal_token("alice", "ci", &["api"], ALICE)
        .personal_token("alice", "user", &["read_user"], ALICE_USER)
        .project_token("acme/api", "deploy", &["api", "read_repository"], 40, DEPLOY)
        .build();
    TestEnv::builder().sim(seed).build().await
}

fn with_usages(mut request: CreateConnectionRequest, usages: &[&str]) -> CreateConnectionRequest {
    request.usages = Some(usages.iter().map(|usage| (*usage).to_owned()).collect());
    request
}

fn refusal(error: CoreError) -> String {
    match error {
        CoreError::Validation { message, .. } => message,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_connection_is_created_with_a_note_on_what_could_not_be_verified() {
    let env = env().await;
    let url = env.sim().url().to_owned();
    let conns = &env.services.connections;
    let created = conns
        .create(
            &env.admin,
            with_usages(request("old", &url, ALICE, "personal"), &["secret-sync"]),
        )
        .await
        .unwrap();
    assert_eq!(created.status, ConnectionStatus::Active);
    let reason = created.status_reason.clone().unwrap();
    assert!(
        reason.contains("GitLab 15.4.0 cannot describe access tokens")
            && reason.contains("can read the API")
            && reason.contains("expiry and scopes could not be verified"),
        "{reason}"
    );
    assert!(created.scopes.is_empty() && created.expires_at.is_none());
    assert_eq!(created.gitlab_user.username.as_deref(), Some("alice"));

    // A project token is still told by its bot, and its declared type still checked.
    let project = conns
        .create(&env.admin, request("deploy", &url, DEPLOY, "project"))
        .await
        .unwrap();
    let resource = project.gitlab_resource.unwrap();
    assert_eq!(resource.full_path.as_deref(), Some("acme/api"));
    assert_eq!(resource.access_level, Some(40));
    let wrong = refusal(
        conns
            .create(&env.admin, request("wrong", &url, DEPLOY, "personal"))
            .await
            .unwrap_err(),
    );
    assert!(wrong.contains("is a project token"), "{wrong}");

    // A scope the token was seen to lack is still a gap.
    let user_only = refusal(
        conns
            .create(
                &env.admin,
                with_usages(request("user", &url, ALICE_USER, "personal"), &["access-sync"]),
            )
            .await
            .unwrap_err(),
    );
    assert!(user_only.contains("read_api"), "{user_only}");

    // A health check keeps the note.
    let checked = conns.check(&env.admin, &created.id).await.unwrap();
    assert_eq!(checked.status, ConnectionStatus::Active);
    assert_eq!(checked.status_reason, created.status_reason);
}

#[tokio::test]
async fn a_revoked_token_is_still_refused() {
    let env = env().await;
    let url = env.sim().url().to_owned();
    let conns = &env.services.connections;
    let created = conns
        .create(&env.admin, request("old", &url, ALICE, "personal"))
        .await
        .unwrap();
    assert!(env.sim().state().revoke_token(ALICE));
    let message = refusal(
        conns
            .create(&env.admin, request("again", &url, ALICE, "personal"))
            .await
            .unwrap_err(),
    );
    assert!(message.contains("revoked"), "{message}");
    let checked = conns.check(&env.admin, &created.id).await.unwrap();
    assert_eq!(checked.status, ConnectionStatus::Revoked);
}
