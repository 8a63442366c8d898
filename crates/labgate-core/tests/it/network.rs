//! Where outgoing requests may go: separate allow-lists for GitLab instances and webhook
//! subscribers, and refusals that never show an address a name resolved to.

use gitlab_sim::Mode;
use labgate_core::{CoreError, NetworkPolicy, NetworkSettings};
use labgate_proto::webhooks::CreateWebhookRequest;
use labgate_testkit::{HostTable, TestEnv};

use crate::connections::{ALICE, request, seed};

fn loopback() -> NetworkPolicy {
    NetworkPolicy::parse("127.0.0.1").unwrap()
}

fn hook(url: &str) -> CreateWebhookRequest {
    CreateWebhookRequest {
        url: url.to_owned(),
        description: None,
        events: None,
        enabled: None,
        secret: None,
    }
}

fn refusal(error: CoreError) -> String {
    match error {
        CoreError::Validation { message, .. } => message,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn allowing_an_internal_gitlab_does_not_open_webhooks_to_it() {
    let network = NetworkSettings::new(loopback(), NetworkPolicy::deny_internal());
    let env = TestEnv::builder()
        .sim(seed(Mode::SelfManaged))
        .network(network)
        .build()
        .await;
    let url = env.sim().url().to_owned();
    env.services
        .connections
        .create(&env.admin, request("internal", &url, ALICE, "personal"))
        .await
        .unwrap();
    let message = refusal(
        env.services
            .webhooks
            .create(&env.admin, hook("http://127.0.0.1:9/hook"))
            .await
            .unwrap_err(),
    );
    assert!(
        message.contains("LABGATE_WEBHOOK_ALLOW_INTERNAL_HOSTS"),
        "{message}"
    );

    // And the other way round.
    let network = NetworkSettings::new(NetworkPolicy::deny_internal(), loopback());
    let env = TestEnv::builder()
        .sim(seed(Mode::SelfManaged))
        .network(network)
        .build()
        .await;
    let url = env.sim().url().to_owned();
    env.services
        .webhooks
        .create(&env.admin, hook("http://127.0.0.1:9/hook"))
        .await
        .unwrap();
    let message = refusal(
        env.services
            .connections
            .create(&env.admin, request("internal", &url, ALICE, "personal"))
            .await
            .unwrap_err(),
    );
    assert!(message.contains("LABGATE_ALLOW_INTERNAL_HOSTS"), "{message}");
    assert_eq!(
        env.sim()
            .requests()
            .total("GET", "/api/v4/personal_access_tokens/self"),
        0
    );
}

#[tokio::test]
async fn a_refused_instance_is_named_without_the_address_it_resolves_to() {
    let table = HostTable::default().with("gitlab.internal", "10.44.0.9");
    let gitlab = NetworkPolicy::deny_internal().with_resolver(table.resolver());
    let env = TestEnv::builder()
        .network(NetworkSettings::new(gitlab, NetworkPolicy::deny_internal()))
        .build()
        .await;
    let message = refusal(
        env.services
            .connections
            .create(
                &env.admin,
                request("internal", "https://gitlab.internal", ALICE, "personal"),
            )
            .await
            .unwrap_err(),
    );
    assert!(
        message.contains("gitlab.internal: the name resolves to an internal address"),
        "{message}"
    );
    assert!(!message.contains("10.44.0.9"), "{message}");
}
