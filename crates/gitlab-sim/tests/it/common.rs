//! Shared helpers for the integration tests.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use parking_lot::Mutex;

use gitlab_sim::seed::SeedOAuthApp;
use gitlab_sim::{Seed, SeedBuilder, SimServer};
use reqwest::{Method, StatusCode};
use serde_json::Value;

// The tokens every crate's GitLab tests use; this crate's instance is a smaller one than the
// test kit's, which some counts below depend on.
pub use labgate_testkit::sim::{
    ALICE_READ, ALICE_TOKEN, APP_SECRET, APP_UID, BOB_TOKEN, DEPLOY_TOKEN, REDIRECT, ROOT_TOKEN,
};

/// The standard instance: root (admin), alice (Maintainer of acme), bob (Developer of
/// acme/platform/api), carol (Owner of `partners`, which is shared into the api project).
pub fn standard() -> SeedBuilder {
    Seed::builder()
        .admin("root")
        .user("alice")
        .user("bob")
        .user("carol")
        .user("dave")
        .group("acme", "Acme")
        .group("acme/platform", "Platform")
        .group("partners", "Partners")
        .project("acme/platform/api", "API")
        .file("acme/platform/api", "README.md", "hello\n")
        .project("acme/website", "Website")
        .member("acme", "alice", 40)
        .member("acme/platform/api", "bob", 30)
        .member("partners", "carol", 50)
        .share("acme/platform/api", "partners", 20)
        .personal_token("root", "admin", &["api"], ROOT_TOKEN)
        .personal_token("alice", "ci", &["api"], ALICE_TOKEN)
        .personal_token("alice", "ro", &["read_api"], ALICE_READ)
        .personal_token("bob", "bob", &["api"], BOB_TOKEN)
        .project_token(
            "acme/platform/api",
            "deploy",
            &["api", "read_repository"],
            40,
            DEPLOY_TOKEN,
        )
        .oauth_app(SeedOAuthApp {
            name: "labgate".into(),
            uid: Some(APP_UID.into()),
            secret: Some(APP_SECRET.into()),
            redirect_uri: REDIRECT.into(),
            scopes: vec!["api".into(), "read_user".into()],
            ..SeedOAuthApp::default()
        })
}

/// Polls `condition` every 5 ms until it holds or `timeout` has passed; returns whether it held.
/// Hooks are delivered by background tasks that finish at their own pace: waiting on the outcome
/// keeps the tests fast when the machine is idle and still correct when it is loaded.
pub async fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub async fn start(seed: SeedBuilder) -> SimServer {
    SimServer::start(seed.build()).await.expect("simulator starts")
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A response reduced to what the tests look at.
#[derive(Debug)]
pub struct Res {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Res {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn call(
    sim: &SimServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Res {
    let url = format!("{}{path}", sim.url());
    let mut req = client().request(method, url);
    if let Some(t) = token {
        req = req.header("PRIVATE-TOKEN", t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Res {
        status,
        headers,
        body,
        text,
    }
}

pub async fn get(sim: &SimServer, path: &str, token: Option<&str>) -> Res {
    call(sim, Method::GET, path, token, None).await
}

pub async fn post(sim: &SimServer, path: &str, token: Option<&str>, body: Value) -> Res {
    call(sim, Method::POST, path, token, Some(body)).await
}

pub async fn put(sim: &SimServer, path: &str, token: Option<&str>, body: Value) -> Res {
    call(sim, Method::PUT, path, token, Some(body)).await
}

pub async fn delete(sim: &SimServer, path: &str, token: Option<&str>) -> Res {
    call(sim, Method::DELETE, path, token, None).await
}

pub type Received = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

/// A webhook receiver on 127.0.0.1 that records every delivery.
pub async fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State(got): State<Received>, headers: HeaderMap, body: axum::body::Bytes| async move {
                    got.lock()
                        .push((headers, serde_json::from_slice(&body).unwrap_or(Value::Null)));
                    "ok"
                },
            ),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), got)
}
