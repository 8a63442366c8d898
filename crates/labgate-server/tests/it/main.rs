//! HTTP API tests: each builds the real application on a fresh database of the run's backend
//! (`LABGATE_TEST_BACKEND`) and calls it in-process, or over a real socket where transport
//! matters (TLS, shutdown).

mod audit;
mod auth;
mod bad_input;
mod connections;
mod jobs;
mod probes;
mod transport;
mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use labgate_core::Services;
use labgate_core::auth::{Actor, KeyRequest};
use labgate_core::clock::ManualClock;
use labgate_core::vault::{KeySettings, Vault};
use labgate_proto::api_keys::Role;
use labgate_server::{AppState, ServerSettings};
use labgate_store::{Store, StoreOptions, TenantRecord};
use labgate_testkit::TestDatabase;
use secrecy::ExposeSecret;
use tower::ServiceExt;

pub const NOW_MS: i64 = 1_800_000_000_000;

/// Every log line of this test binary, so tests can assert what never reaches the logs.
static LOGS: std::sync::OnceLock<Arc<parking_lot::Mutex<Vec<u8>>>> = std::sync::OnceLock::new();

#[derive(Clone)]
struct LogSink(Arc<parking_lot::Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn install_log_capture() -> Arc<parking_lot::Mutex<Vec<u8>>> {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let sink = LogSink(buffer.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
    .clone()
}

pub fn captured_logs() -> String {
    String::from_utf8_lossy(&install_log_capture().lock()).into_owned()
}

pub struct TestApp {
    pub services: Services,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub acme: TenantRecord,
    pub other: TenantRecord,
    /// An admin key of `acme`.
    pub admin: String,
    /// An admin key of `other`.
    pub other_admin: String,
    _dir: tempfile::TempDir,
    _db: TestDatabase,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts the error contract and returns the body.
    pub fn error(&self, status: u16, error: &str) -> serde_json::Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        let body = self.json();
        assert_eq!(body["statusCode"], status);
        assert_eq!(body["error"], error);
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(body["reqId"].as_str().is_some_and(|id| !id.is_empty()));
        assert_eq!(self.headers["content-type"], "application/json");
        body
    }
}

impl TestApp {
    pub async fn new() -> TestApp {
        Self::with_settings(ServerSettings::default()).await
    }

    pub async fn with_settings(settings: ServerSettings) -> TestApp {
        Self::build(settings, labgate_core::NetworkPolicy::deny_internal()).await
    }

    /// An app whose outgoing requests may reach 127.0.0.1 (gitlab-sim), with short GitLab
    /// timeouts and no retries.
    pub async fn with_loopback_gitlab() -> TestApp {
        let mut app = Self::build(
            ServerSettings::default(),
            labgate_core::NetworkPolicy::parse("127.0.0.1").unwrap(),
        )
        .await;
        let options = labgate_gitlab::ClientOptions {
            max_attempts: 1,
            request_timeout: std::time::Duration::from_secs(2),
            use_env_proxy: false,
            ..labgate_gitlab::ClientOptions::default()
        };
        app.services.connections = app.services.connections.clone().with_client_options(options);
        app.state = AppState::new(app.services.clone(), ServerSettings::default());
        app
    }

    async fn build(settings: ServerSettings, policy: labgate_core::NetworkPolicy) -> TestApp {
        install_log_capture();
        let db = TestDatabase::new().await;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(db.url(), &StoreOptions::default()).await.unwrap();
        store.migrate().await.unwrap();
        let keys = KeySettings {
            data_dir: dir.path().to_owned(),
            ..KeySettings::default()
        };
        let vault = Arc::new(Vault::load(store.clone(), keys).await.unwrap());
        let clock = Arc::new(ManualClock::new(NOW_MS));
        let services = Services::with_network_policy(store, vault, clock.clone(), policy);
        let acme = services.tenants.create("acme", &Actor::Cli).await.unwrap();
        let other = services.tenants.create("other", &Actor::Cli).await.unwrap();
        let mut app = TestApp {
            state: AppState::new(services.clone(), settings),
            services,
            clock,
            admin: String::new(),
            other_admin: String::new(),
            acme,
            other,
            _dir: dir,
            _db: db,
        };
        app.admin = app.key_for("acme", Role::Admin).await;
        app.other_admin = app.key_for("other", Role::Admin).await;
        app
    }

    pub async fn key_for(&self, tenant: &str, role: Role) -> String {
        let tenant = self.services.tenants.by_name(tenant).await.unwrap();
        let request = KeyRequest {
            name: "test",
            role,
            expires_at: None,
            token: None,
        };
        let created = self
            .services
            .api_keys
            .create(&tenant.id, &Actor::Cli, None, request)
            .await
            .unwrap();
        created.token.expose_secret().to_owned()
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let mut request = request;
        if request.extensions().get::<ConnectInfo<SocketAddr>>().is_none() {
            request
                .extensions_mut()
                .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
        }
        let response = labgate_server::app(self.state.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> Reply {
        let mut request = Request::get(path);
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    pub async fn call(&self, method: &str, path: &str, key: &str, json: Option<serde_json::Value>) -> Reply {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {key}"));
        let request = match json {
            Some(json) => request
                .header("content-type", "application/json")
                .body(Body::from(json.to_string())),
            None => request.body(Body::empty()),
        };
        self.send(request.unwrap()).await
    }
}

/// Every route family with a method and a path that addresses one resource of it, for the
/// auth, isolation and bad-input sweeps.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/api-keys"),
    ("POST", "/api/v1/api-keys"),
    ("GET", "/api/v1/api-keys/{id}"),
    ("DELETE", "/api/v1/api-keys/{id}"),
    ("GET", "/api/v1/audit-logs"),
    ("GET", "/api/v1/app-connections"),
    ("GET", "/api/v1/app-connections/options"),
    ("GET", "/api/v1/app-connections/gitlab"),
    ("POST", "/api/v1/app-connections/gitlab"),
    ("GET", "/api/v1/app-connections/gitlab/available"),
    ("GET", "/api/v1/app-connections/gitlab/connection-name/{id}"),
    ("GET", "/api/v1/app-connections/gitlab/{id}"),
    ("PATCH", "/api/v1/app-connections/gitlab/{id}"),
    ("DELETE", "/api/v1/app-connections/gitlab/{id}"),
    ("POST", "/api/v1/app-connections/gitlab/{id}/check"),
    ("POST", "/api/v1/app-connections/gitlab/{id}/rotate"),
    ("GET", "/api/v1/app-connections/gitlab/{id}/events"),
    ("GET", "/api/v1/app-connections/gitlab/{id}/projects"),
    ("GET", "/api/v1/app-connections/gitlab/{id}/groups"),
    ("GET", "/api/v1/jobs"),
    ("GET", "/api/v1/jobs/{id}"),
    ("GET", "/api/v1/webhooks"),
    ("POST", "/api/v1/webhooks"),
    ("GET", "/api/v1/webhooks/{id}"),
    ("PATCH", "/api/v1/webhooks/{id}"),
    ("DELETE", "/api/v1/webhooks/{id}"),
    ("GET", "/api/v1/webhooks/{id}/deliveries"),
    ("POST", "/api/v1/webhooks/{id}/test"),
];
