//! Webhook deliveries against a local receiver: signatures, retries with backoff, giving up.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use labgate_core::auth::Principal;
use labgate_core::webhooks::MAX_ATTEMPTS;
use labgate_core::{NetworkPolicy, NetworkSettings};
use labgate_proto::webhooks::CreateWebhookRequest;
use labgate_testkit::{HostTable, RecordingProxy, TestEnv};
use parking_lot::Mutex;
use secrecy::ExposeSecret;
use serde_json::json;

use crate::{env, worker};

#[derive(Clone, Default)]
pub(crate) struct Receiver {
    /// Status codes to answer, in order; 204 once they run out.
    pub(crate) script: Arc<Mutex<Vec<u16>>>,
    pub(crate) received: Arc<Mutex<Vec<(HeaderMap, String)>>>,
}

pub(crate) async fn start(receiver: Receiver) -> String {
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: String| {
            let receiver = receiver.clone();
            async move {
                receiver.received.lock().push((headers, body));
                let next = {
                    let mut script = receiver.script.lock();
                    if script.is_empty() { 204 } else { script.remove(0) }
                };
                StatusCode::from_u16(next).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}/hook")
}

async fn admin(env: &labgate_testkit::TestEnv) -> Principal {
    env.admin.clone()
}

pub(crate) fn verify(secret: &str, headers: &HeaderMap, body: &str) {
    let signature = headers["x-labgate-signature"].to_str().unwrap();
    let (t, v1) = signature.split_once(",v1=").unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let expected = labgate_crypto::hmac_sha256(secret.as_bytes(), format!("{t}.{body}").as_bytes());
    assert_eq!(
        v1,
        hex::encode(expected),
        "the signature covers timestamp and body"
    );
}

#[tokio::test]
async fn deliveries_are_signed_retried_and_recorded() {
    let env = env().await;
    let principal = admin(&env).await;
    let receiver = Receiver::default();
    *receiver.script.lock() = vec![500, 503];
    let url = start(receiver.clone()).await;
    let request = CreateWebhookRequest {
        url,
        description: Some("ops".into()),
        events: Some(vec!["connection.status_changed".into()]),
        enabled: None,
        secret: None,
    };
    let (hook, secret) = env.services.webhooks.create(&principal, request).await.unwrap();
    let queued = env
        .services
        .webhooks
        .emit(
            &principal.tenant_id,
            labgate_core::webhooks::WebhookEventType::ConnectionStatusChanged,
            json!({"status": "expired"}),
        )
        .await
        .unwrap();
    assert_eq!(queued, 1);
    // An event type the subscription did not ask for is not queued.
    assert_eq!(
        env.services
            .webhooks
            .emit(
                &principal.tenant_id,
                labgate_core::webhooks::WebhookEventType::WebhookTest,
                json!({}),
            )
            .await
            .unwrap(),
        0
    );

    let w = worker(&env, "w");
    w.run_once().await.unwrap().unwrap();
    assert_eq!(receiver.received.lock().len(), 1);
    // Not due again until the backoff passes.
    let stats = env
        .services
        .webhooks
        .deliver_due(
            &labgate_worker::delivery_client(&env.services.network).unwrap(),
            "x",
            10,
        )
        .await
        .unwrap();
    assert_eq!(stats.delivered + stats.retrying + stats.failed, 0);
    for _ in 0..2 {
        env.clock.advance_ms(60 * 60 * 1_000);
        let stats = env
            .services
            .webhooks
            .deliver_due(
                &labgate_worker::delivery_client(&env.services.network).unwrap(),
                "x",
                10,
            )
            .await
            .unwrap();
        assert_eq!(stats.delivered + stats.retrying, 1);
    }
    let received = receiver.received.lock().clone();
    assert_eq!(received.len(), 3);
    let ids: Vec<&str> = received
        .iter()
        .map(|(h, _)| h["x-labgate-delivery"].to_str().unwrap())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "retries carry the same delivery id"
    );
    for (headers, body) in &received {
        verify(secret.expose_secret(), headers, body);
        assert_eq!(headers["x-labgate-event"], "connection.status_changed");
        let event: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(event["data"]["status"], "expired");
        assert_eq!(event["tenantId"], principal.tenant_id.as_str());
    }
    let deliveries = env
        .services
        .webhooks
        .deliveries(&principal, &hook.id, 0, 10)
        .await
        .unwrap();
    let delivery = &deliveries.deliveries[0];
    assert_eq!(
        (delivery.state.as_str(), delivery.attempts, delivery.last_status),
        ("delivered", 3, Some(204))
    );
}

#[tokio::test]
async fn a_subscriber_that_keeps_failing_is_given_up_on() {
    let env = env().await;
    let principal = admin(&env).await;
    let receiver = Receiver::default();
    *receiver.script.lock() = vec![500; 100];
    let url = start(receiver.clone()).await;
    let request = CreateWebhookRequest {
        url,
        description: None,
        events: None,
        enabled: None,
        secret: Some("s".repeat(32)),
    };
    let (hook, _) = env.services.webhooks.create(&principal, request).await.unwrap();
    let delivery = env
        .services
        .webhooks
        .send_test(&principal, &hook.id)
        .await
        .unwrap();
    let http = labgate_worker::delivery_client(&env.services.network).unwrap();
    for _ in 0..MAX_ATTEMPTS {
        env.services.webhooks.deliver_due(&http, "x", 10).await.unwrap();
        env.clock.advance_ms(24 * 60 * 60 * 1_000);
    }
    let listed = env
        .services
        .webhooks
        .deliveries(&principal, &hook.id, 0, 10)
        .await
        .unwrap();
    let last = &listed.deliveries[0];
    assert_eq!(last.id, delivery.id);
    assert_eq!(
        (last.state, last.attempts),
        (labgate_core::webhooks::DeliveryState::Failed, MAX_ATTEMPTS)
    );
    assert!(last.last_error.as_deref().unwrap().contains("HTTP 500"));
    assert_eq!(
        receiver.received.lock().len(),
        usize::try_from(MAX_ATTEMPTS).unwrap()
    );
    assert!(env.services.webhooks.next_due().await.unwrap().is_none());
}

#[tokio::test]
async fn an_unreachable_subscriber_is_retried_with_a_readable_error() {
    let env = env().await;
    let principal = admin(&env).await;
    // Nothing listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    let request = CreateWebhookRequest {
        url,
        description: None,
        events: None,
        enabled: None,
        secret: None,
    };
    let (hook, _) = env.services.webhooks.create(&principal, request).await.unwrap();
    env.services
        .webhooks
        .send_test(&principal, &hook.id)
        .await
        .unwrap();
    let stats = env
        .services
        .webhooks
        .deliver_due(
            &labgate_worker::delivery_client(&env.services.network).unwrap(),
            "x",
            10,
        )
        .await
        .unwrap();
    assert_eq!(stats.retrying, 1);
    let listed = env
        .services
        .webhooks
        .deliveries(&principal, &hook.id, 0, 10)
        .await
        .unwrap();
    let error = listed.deliveries[0].last_error.clone().unwrap();
    assert!(error.contains("cannot connect"), "{error}");
    assert!(listed.deliveries[0].next_attempt_at.is_some());
}

#[tokio::test]
async fn internal_subscribers_need_the_operator_to_allow_them() {
    let env = env().await;
    let principal = admin(&env).await;
    // The test policy allows 127.0.0.1 only.
    for url in [
        "http://10.0.0.8/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8080/hook",
    ] {
        let request = CreateWebhookRequest {
            url: url.into(),
            description: None,
            events: None,
            enabled: None,
            secret: None,
        };
        match env.services.webhooks.create(&principal, request).await {
            Err(labgate_core::CoreError::Validation {
                field: Some("url"),
                message,
            }) => {
                assert!(message.contains("refused"), "{message}");
            }
            other => panic!("{url}: {other:?}"),
        }
    }
}

/// An environment whose webhook allow-list is `webhooks`, resolving names from `table`, and
/// whose deliveries go through `proxy` when one is given.
async fn webhook_env(webhooks: &str, table: &HostTable, proxy: Option<&RecordingProxy>) -> TestEnv {
    let policy = NetworkPolicy::parse(webhooks)
        .unwrap()
        .with_resolver(table.resolver());
    let mut network = NetworkSettings::new(NetworkPolicy::deny_internal(), policy);
    if let Some(proxy) = proxy {
        network = network.with_webhook_proxy(&proxy.url()).unwrap();
    }
    TestEnv::builder().network(network).build().await
}

/// Queues a test delivery to `url`, runs one delivery pass, and returns the delivery as listed.
async fn deliver_once(env: &TestEnv, url: &str) -> labgate_proto::webhooks::DeliveryView {
    let principal = admin(env).await;
    let request = CreateWebhookRequest {
        url: url.into(),
        description: None,
        events: None,
        enabled: None,
        secret: None,
    };
    let (hook, _) = env.services.webhooks.create(&principal, request).await.unwrap();
    env.services
        .webhooks
        .send_test(&principal, &hook.id)
        .await
        .unwrap();
    let http = labgate_worker::delivery_client(&env.services.network).unwrap();
    env.services.webhooks.deliver_due(&http, "x", 10).await.unwrap();
    let listed = env
        .services
        .webhooks
        .deliveries(&principal, &hook.id, 0, 10)
        .await
        .unwrap();
    listed.deliveries[0].clone()
}

#[tokio::test]
async fn an_internal_name_is_refused_before_the_proxy_sees_it_and_its_address_is_not_told() {
    let proxy = RecordingProxy::start().await;
    let table = HostTable::default().with("db.internal", "10.0.0.7");
    let env = webhook_env("", &table, Some(&proxy)).await;
    let delivery = deliver_once(&env, "https://db.internal/hook").await;
    let error = delivery.last_error.unwrap();
    assert!(
        error.contains("db.internal: the name resolves to an internal address"),
        "{error}"
    );
    assert!(error.contains("LABGATE_WEBHOOK_ALLOW_INTERNAL_HOSTS"), "{error}");
    assert!(!error.contains("10.0.0.7"), "{error}");
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());

    // A name that does not resolve here is not handed to the proxy to resolve either.
    let delivery = deliver_once(&env, "https://unknown.internal/hook").await;
    let error = delivery.last_error.unwrap();
    assert!(error.contains("unknown.internal does not resolve"), "{error}");
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());
}

#[tokio::test]
async fn the_webhook_proxy_carries_deliveries_the_allow_list_permits() {
    let proxy = RecordingProxy::start().await;
    let table = HostTable::default().with("hooks.internal", "10.9.9.9");
    let env = webhook_env("hooks.internal", &table, Some(&proxy)).await;
    let delivery = deliver_once(&env, "http://hooks.internal:8080/hook").await;
    assert_eq!(
        (delivery.state, delivery.last_status),
        (labgate_core::webhooks::DeliveryState::Delivered, Some(204))
    );
    assert_eq!(proxy.seen(), ["POST http://hooks.internal:8080/hook"]);
}

/// Set in the copy of this test binary that runs with proxy variables in its environment.
const ENV_PROXY_CHILD: &str = "WEBHOOK_TEST_ENV_PROXY_CHILD";

#[tokio::test]
async fn environment_proxies_never_carry_deliveries() {
    if std::env::var_os(ENV_PROXY_CHILD).is_none() {
        // The variables must be there from the start, as an operator's would: run this test
        // again in a process of its own that has them.
        let proxy = RecordingProxy::start().await;
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child
            .args(["--exact", "webhooks::environment_proxies_never_carry_deliveries"])
            .env(ENV_PROXY_CHILD, "1")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy");
        for name in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ] {
            child.env(name, proxy.url());
        }
        let output = tokio::task::spawn_blocking(move || child.output().unwrap())
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("1 passed"), "{stdout}");
        assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());
        return;
    }
    let receiver = Receiver::default();
    let direct = start(receiver.clone()).await;
    let port = direct
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/hook");
    let table = HostTable::default().with("hooks.test", "127.0.0.1");
    let env = webhook_env("hooks.test", &table, None).await;
    let delivery = deliver_once(&env, &format!("http://hooks.test:{port}/hook")).await;
    assert_eq!(delivery.last_status, Some(204), "{:?}", delivery.last_error);
    assert_eq!(receiver.received.lock().len(), 1);
}
