//! The credential cache against a real labgate served on loopback, on the run's backend.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use gitlab_sim::{Mode, Seed};
use labgate_client::{CacheOptions, Client, ClientError, CredentialCache};
use labgate_proto::api_keys::Role;
use labgate_testkit::{TestEnv, wait_until};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use time::OffsetDateTime;

const ALICE: &str = "glpat-aliceALICEalice1234";

struct Served {
    env: TestEnv,
    /// Where clients reach labgate: a forwarder the test can cut.
    url: String,
    connection_id: String,
    link: Link,
}

/// A TCP forwarder in front of the server; cutting it drops every connection through it, pooled
/// ones included, as a network failure would.
struct Link {
    tasks: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Link {
    async fn open(target: std::net::SocketAddr) -> (Link, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let tasks: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let accepted = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let connection = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                accepted.lock().unwrap().push(connection.abort_handle());
            }
        });
        tasks.lock().unwrap().push(accept.abort_handle());
        (Link { tasks }, url)
    }

    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

async fn served() -> Served {
    let seed = Seed::builder()
        .mode(Mode::SelfManaged)
        .user("alice")
        .personal_token("alice", "ci", &["api"], ALICE)
        .build();
    let env = TestEnv::builder().sim(seed).build().await;
    let created = env
        .call(
            "POST",
            "/api/v1/app-connections/gitlab",
            &env.admin_key,
            Some(json!({
                "name": "ci",
                "method": "access-token",
                "credentials": {"accessToken": ALICE, "instanceUrl": env.sim().url(), "accessTokenType": "personal"},
            })),
        )
        .await;
    assert_eq!(created.status, 200, "{}", String::from_utf8_lossy(&created.body));
    let connection_id = created.json()["appConnection"]["id"].as_str().unwrap().to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app =
        labgate_server::app(env.app.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let (link, url) = Link::open(address).await;
    Served {
        env,
        url,
        connection_id,
        link,
    }
}

impl Served {
    async fn client(&self) -> Client {
        let key = self.env.key("acme", Role::CredentialReader).await;
        Client::new(&self.url, SecretString::from(key)).unwrap()
    }

    /// How many credential reads labgate served, from its audit log.
    async fn reads(&self) -> u64 {
        let audit = self
            .env
            .get(
                "/api/v1/audit-logs?action=app-connection.credential-read",
                Some(&self.env.admin_key),
            )
            .await
            .json();
        audit["auditLogs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["occurrences"].as_u64().unwrap())
            .sum()
    }
}

/// A clock for the cache that starts now and moves when told.
fn manual_clock() -> (Arc<AtomicI64>, Arc<dyn Fn() -> OffsetDateTime + Send + Sync>) {
    let offset = Arc::new(AtomicI64::new(0));
    let start = OffsetDateTime::now_utc();
    let read = offset.clone();
    let clock = Arc::new(move || start + time::Duration::seconds(read.load(Ordering::SeqCst)));
    (offset, clock)
}

#[tokio::test]
async fn hits_cost_no_request() {
    let served = served().await;
    let cache = CredentialCache::new(served.client().await);
    for _ in 0..5 {
        let credential = cache.get_credential_by_id(&served.connection_id).await.unwrap();
        assert_eq!(credential.credential.expose_secret(), ALICE);
    }
    assert_eq!(served.reads().await, 1);
}

#[tokio::test]
async fn a_hundred_concurrent_callers_make_one_request() {
    let served = served().await;
    let cache = CredentialCache::new(served.client().await);
    let calls: Vec<_> = (0..100)
        .map(|_| {
            let cache = cache.clone();
            let id = served.connection_id.clone();
            tokio::spawn(async move { cache.get_credential_by_id(&id).await.unwrap() })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().credential.expose_secret(), ALICE);
    }
    assert_eq!(served.reads().await, 1);
}

#[tokio::test]
async fn a_credential_is_refreshed_in_the_background_before_use_until() {
    let served = served().await;
    let (offset, clock) = manual_clock();
    let options = CacheOptions {
        refresh_ahead: time::Duration::minutes(1),
        clock,
    };
    let cache = CredentialCache::with_options(served.client().await, options);
    let first = cache.get_credential_by_id(&served.connection_id).await.unwrap();
    // Inside the last minute before use_until: the caller is served from the cache at once,
    // and a refresh runs behind it.
    let into_window = first.use_until - OffsetDateTime::now_utc() - time::Duration::seconds(30);
    offset.store(into_window.whole_seconds(), Ordering::SeqCst);
    let served_at_once = cache.get_credential_by_id(&served.connection_id).await.unwrap();
    assert!(
        Arc::ptr_eq(&first, &served_at_once),
        "the cached credential was served"
    );
    wait_until(
        Duration::from_secs(10),
        "the background refresh reaches labgate",
        || async { served.reads().await == 2 },
    )
    .await;
    let refreshed = cache.get_credential_by_id(&served.connection_id).await.unwrap();
    assert!(
        !Arc::ptr_eq(&first, &refreshed),
        "the refreshed credential replaced it"
    );
    assert_eq!(served.reads().await, 2);
}

#[tokio::test]
async fn an_unreachable_labgate_falls_back_to_a_still_valid_credential() {
    let served = served().await;
    let (offset, clock) = manual_clock();
    let options = CacheOptions {
        refresh_ahead: time::Duration::minutes(1),
        clock,
    };
    let cache = CredentialCache::with_options(served.client().await, options);
    let first = cache.get_credential_by_id(&served.connection_id).await.unwrap();
    served.link.cut();
    // Past use_until the cache asks labgate, which is gone; the token has no expiry, so GitLab
    // still accepts it and the cached one is served.
    offset.store(3_600, Ordering::SeqCst);
    let fallback = cache.get_credential_by_id(&served.connection_id).await.unwrap();
    assert!(Arc::ptr_eq(&first, &fallback));
    // A connection never cached has nothing to fall back on: the error says labgate is unreachable.
    let other = cache
        .get_credential_by_id("0190a000-0000-7000-8000-000000000009")
        .await;
    assert!(matches!(other, Err(ClientError::Transport { .. })), "{other:?}");
}

#[tokio::test]
async fn refusals_are_typed_errors() {
    let served = served().await;
    let member = served.env.key("acme", Role::Member).await;
    let cache = CredentialCache::new(Client::new(&served.url, SecretString::from(member)).unwrap());
    match cache.get_credential_by_id(&served.connection_id).await {
        Err(ClientError::Api(body)) => {
            assert_eq!((body.status_code, body.error.as_str()), (403, "Forbidden"));
            assert!(!body.req_id.is_empty());
        }
        other => panic!("expected a 403, got {other:?}"),
    }
}

#[tokio::test]
async fn a_users_oauth_credential_is_found_by_the_embedding_applications_ids_and_cached() {
    let env = TestEnv::builder()
        .sim(labgate_testkit::sim::standard_seed().build())
        .oauth()
        .build()
        .await;
    let connection = env
        .connect_oauth("customer-42-gitlab", "alice", Some(("customer-42", "user-7")))
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app =
        labgate_server::app(env.app.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let key = env.key("acme", Role::CredentialReader).await;
    let cache = CredentialCache::new(Client::new(&url, SecretString::from(key)).unwrap());

    let first = cache
        .get_credential("gitlab", "customer-42", "user-7")
        .await
        .unwrap();
    assert_eq!(first.connection_id, connection.id);
    assert_eq!(
        first.token_type,
        labgate_proto::credentials::CredentialTokenType::OAuth
    );
    let user = reqwest::Client::new()
        .get(format!("{}/api/v4/user", env.sim().url()))
        .bearer_auth(first.credential.expose_secret())
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), 200, "the sim accepts the handed-out token");
    let again = cache
        .get_credential("gitlab", "customer-42", "user-7")
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&first, &again), "the second call is a hit");

    match cache
        .get_credential("gitlab", "customer-42", "someone-else")
        .await
    {
        Err(ClientError::Api(body)) => assert_eq!(body.status_code, 404),
        other => panic!("expected a 404, got {other:?}"),
    }
    assert!(matches!(
        cache.get_credential("github", "customer-42", "user-7").await,
        Err(ClientError::UnknownProvider(_))
    ));
}
