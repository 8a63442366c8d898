//! One test environment for every crate: a fresh database on the run's backend, the domain
//! services on a manual clock, optionally a running gitlab-sim, two tenants with an admin key
//! each, and the HTTP application served in process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use gitlab_sim::{Seed, SimServer};
use http_body_util::BodyExt;
use labgate_core::auth::{Actor, KeyRequest, Principal};
use labgate_core::clock::ManualClock;
use labgate_core::instances::DefaultInstance;
use labgate_core::tenants::Tenant;
use labgate_core::vault::{KeySettings, Vault};
use labgate_core::{NetworkSettings, Services};
use labgate_gitlab::ClientOptions;
use labgate_proto::api_keys::Role;
use labgate_server::{AppState, ServerSettings};
use labgate_store::{Store, StoreOptions};
use secrecy::ExposeSecret;
use tokio_util::sync::{CancellationToken, DropGuard};
use tower::ServiceExt;

use crate::database::TestDatabase;

/// Where the manual clock starts when no simulator sets it: 2027-01-15.
pub const START_MS: i64 = 1_800_000_000_000;
/// The site URL of [`TestEnvBuilder::oauth`], which the standard OAuth application's redirect
/// URI points below.
pub const OAUTH_SITE_URL: &str = "http://127.0.0.1:8080";

/// How a [`TestEnv`] is set up.
pub struct TestEnvBuilder {
    seed: Option<Seed>,
    network: Option<NetworkSettings>,
    site_url: Option<String>,
    server: ServerSettings,
    oauth: bool,
    gitlab_timeout: Duration,
}

impl TestEnvBuilder {
    /// Starts gitlab-sim with `seed`; the clock starts at the simulator's time, and outgoing
    /// requests may reach loopback.
    #[must_use]
    pub fn sim(mut self, seed: Seed) -> TestEnvBuilder {
        self.seed = Some(seed);
        self
    }

    /// Lets outgoing requests (GitLab instances and webhook subscribers) reach 127.0.0.1.
    #[must_use]
    pub fn loopback(mut self) -> TestEnvBuilder {
        self.network = Some(loopback_network());
        self
    }

    /// Where GitLab instances and webhook subscribers may be reached, and how names resolve.
    #[must_use]
    pub fn network(mut self, network: NetworkSettings) -> TestEnvBuilder {
        self.network = Some(network);
        self
    }

    /// The site URL labgate is served at (`LABGATE_SITE_URL`; default none).
    #[must_use]
    pub fn site_url(mut self, site_url: &str) -> TestEnvBuilder {
        self.site_url = Some(site_url.to_owned());
        self
    }

    /// Makes the simulator the default instance with the standard seed's OAuth application
    /// registered there (client id [`crate::sim::APP_UID`]), served at the site URL its redirect
    /// URI ([`crate::sim::REDIRECT`]) names. Needs [`TestEnvBuilder::sim`].
    #[must_use]
    pub fn oauth(mut self) -> TestEnvBuilder {
        self.oauth = true;
        self.site_url = Some(OAUTH_SITE_URL.to_owned());
        self
    }

    #[must_use]
    pub fn server_settings(mut self, settings: ServerSettings) -> TestEnvBuilder {
        self.server = settings;
        self
    }

    /// How long labgate waits for one GitLab request (default 2 s, so a fault shows at once);
    /// longer for tests whose simulated GitLab is slow on purpose.
    #[must_use]
    pub fn gitlab_timeout(mut self, timeout: Duration) -> TestEnvBuilder {
        self.gitlab_timeout = timeout;
        self
    }

    pub async fn build(self) -> TestEnv {
        crate::install_log_capture();
        let database = TestDatabase::new().await;
        let data_dir = tempfile::tempdir().expect("create a temporary directory");
        let store = Store::connect(database.url(), &StoreOptions::default())
            .await
            .expect("open the test database");
        store.migrate().await.expect("migrate the test database");
        let key_settings = KeySettings {
            data_dir: data_dir.path().to_owned(),
            ..KeySettings::default()
        };
        let vault = Arc::new(
            Vault::load(store.clone(), key_settings.clone())
                .await
                .expect("load the vault"),
        );
        let sim = match self.seed {
            Some(seed) => Some(SimServer::start(seed).await.expect("start gitlab-sim")),
            None => None,
        };
        let start = sim.as_ref().map_or(START_MS, |sim| sim.clock().unix() * 1_000);
        let clock = Arc::new(ManualClock::new(start));
        let network = self.network.unwrap_or_else(|| {
            if sim.is_some() {
                loopback_network()
            } else {
                NetworkSettings::deny_internal()
            }
        });
        let default_instance = self.oauth.then(|| {
            let sim = sim.as_ref().expect("TestEnv::builder().oauth() needs .sim(seed)");
            DefaultInstance {
                url: labgate_gitlab::GitLabBaseUrl::parse(sim.url()).expect("the simulator's URL"),
                oauth_client_id: Some(crate::sim::APP_UID.to_owned()),
                oauth_client_secret: Some(secrecy::SecretString::from(crate::sim::APP_SECRET)),
            }
        });
        let wiring = Wiring {
            network,
            site_url: self.site_url,
            default_instance,
            gitlab_timeout: self.gitlab_timeout,
        };
        let services = wiring.services(store.clone(), vault, clock.clone());
        // The credential cache hears of other processes' changes as a served process's does
        // (PostgreSQL); usage is flushed by the tests themselves (`Services::flush_usage`).
        let background = CancellationToken::new();
        services.watch_connection_changes(background.clone());
        let app = AppState::new(services.clone(), self.server);
        let (tenant, admin, admin_key) = tenant_with_admin(&services, "acme").await;
        let (other_tenant, other_admin, other_admin_key) = tenant_with_admin(&services, "other").await;
        TestEnv {
            services,
            store,
            clock,
            key_settings,
            wiring,
            app,
            sim,
            tenant,
            admin,
            admin_key,
            other_tenant,
            other_admin,
            other_admin_key,
            _data_dir: data_dir,
            _background: background.drop_guard(),
            database,
        }
    }
}

/// How the environment's services are put together, kept so that a second process on the same
/// database ([`TestEnv::replica`]) is wired the same way.
struct Wiring {
    network: NetworkSettings,
    site_url: Option<String>,
    default_instance: Option<DefaultInstance>,
    gitlab_timeout: Duration,
}

impl Wiring {
    fn services(&self, store: Store, vault: Arc<Vault>, clock: Arc<ManualClock>) -> Services {
        let mut services = Services::with_network(store, vault, clock, self.network.clone())
            .with_site_url(self.site_url.as_deref());
        if let Some(default_instance) = &self.default_instance {
            services = services.with_default_instance(default_instance.clone());
        }
        services.connections = services
            .connections
            .clone()
            .with_client_options(test_client_options(self.gitlab_timeout));
        services.secret_syncs = services
            .secret_syncs
            .clone()
            .with_connections(services.connections.clone());
        services.access = services
            .access
            .clone()
            .with_connections(services.connections.clone());
        services
    }
}

fn loopback_network() -> NetworkSettings {
    let loopback = crate::sim::loopback_policy();
    NetworkSettings::new(loopback.clone(), loopback)
}

/// How long labgate waits for one GitLab request unless a test says otherwise.
const GITLAB_TIMEOUT: Duration = Duration::from_secs(2);

/// GitLab client options for tests: one attempt and short timeouts, so a fault shows at once.
fn test_client_options(request_timeout: Duration) -> ClientOptions {
    ClientOptions {
        max_attempts: 1,
        request_timeout,
        connect_timeout: Duration::from_secs(2),
        use_env_proxy: false,
        ..ClientOptions::default()
    }
}

async fn tenant_with_admin(services: &Services, name: &str) -> (Tenant, Principal, String) {
    let tenant = services
        .tenants
        .create(name, &Actor::Cli)
        .await
        .expect("create a tenant");
    let key = issue_key(services, &tenant, Role::Admin).await;
    let admin = services
        .api_keys
        .authenticate(&key, None)
        .await
        .expect("the new key authenticates");
    (tenant, admin, key)
}

async fn issue_key(services: &Services, tenant: &Tenant, role: Role) -> String {
    let request = KeyRequest {
        name: "test",
        role,
        expires_at: None,
        token: None,
    };
    let created = services
        .api_keys
        .create(&tenant.id, &Actor::Cli, None, request)
        .await
        .expect("create an API key");
    created.token.expose_secret().to_owned()
}

/// Everything a test needs; dropping it drops the database.
pub struct TestEnv {
    pub services: Services,
    /// The store behind the services, for tests that look at or corrupt rows directly.
    pub store: Store,
    pub clock: Arc<ManualClock>,
    pub key_settings: KeySettings,
    wiring: Wiring,
    /// The HTTP application's state; [`TestEnv::send`] serves requests with it.
    pub app: AppState,
    sim: Option<SimServer>,
    /// Tenant `acme`, its admin principal and that principal's API key.
    pub tenant: Tenant,
    pub admin: Principal,
    pub admin_key: String,
    /// Tenant `other`, for isolation tests.
    pub other_tenant: Tenant,
    pub other_admin: Principal,
    pub other_admin_key: String,
    _data_dir: tempfile::TempDir,
    /// Stops the change watcher when the environment goes, before its database is dropped.
    _background: DropGuard,
    pub database: TestDatabase,
}

impl TestEnv {
    pub fn builder() -> TestEnvBuilder {
        TestEnvBuilder {
            seed: None,
            network: None,
            site_url: None,
            server: ServerSettings::default(),
            oauth: false,
            gitlab_timeout: GITLAB_TIMEOUT,
        }
    }

    /// The default environment: no simulator, no internal addresses reachable.
    pub async fn new() -> TestEnv {
        Self::builder().build().await
    }

    /// The running simulator; panics when the environment was built without one.
    pub fn sim(&self) -> &SimServer {
        self.sim
            .as_ref()
            .expect("this test environment was built without gitlab-sim (TestEnv::builder().sim(seed))")
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self._data_dir.path()
    }

    /// The domain services of another labgate process on the same database and keys: a store
    /// handle and a vault of its own, a lease owner of its own, the same clock and settings.
    /// Two of them are two replicas; one built after a failure is the restarted process.
    pub async fn replica(&self) -> Services {
        let store = Store::connect(self.database.url(), &StoreOptions::default())
            .await
            .expect("open the test database again");
        let vault = Arc::new(
            Vault::load(store.clone(), self.key_settings.clone())
                .await
                .expect("load the vault again"),
        );
        self.wiring.services(store, vault, self.clock.clone())
    }

    /// A new API key of `role` in tenant `tenant` (`acme` or `other`).
    pub async fn key(&self, tenant: &str, role: Role) -> String {
        let tenant = self
            .services
            .tenants
            .by_name(tenant)
            .await
            .expect("the tenant exists");
        issue_key(&self.services, &tenant, role).await
    }

    /// The principal of an API key.
    pub async fn principal(&self, key: &str) -> Principal {
        self.services
            .api_keys
            .authenticate(key, None)
            .await
            .expect("the key authenticates")
    }

    /// Serves one request with the in-process application, from 127.0.0.1 unless the request
    /// says otherwise.
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let mut request = request;
        if request.extensions().get::<ConnectInfo<SocketAddr>>().is_none() {
            request
                .extensions_mut()
                .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
        }
        let response = labgate_server::app(self.app.clone())
            .oneshot(request)
            .await
            .expect("the application answers");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("read the body")
            .to_bytes()
            .to_vec();
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
        self.send(request.body(Body::empty()).expect("a valid request"))
            .await
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
        self.send(request.expect("a valid request")).await
    }

    /// Approves (or declines) an authorization at the simulator as `username`, as the user's
    /// browser would, and answers the callback the simulator redirects to.
    pub fn authorize_at_gitlab(
        &self,
        authorize_url: &str,
        username: &str,
        approve: bool,
    ) -> labgate_core::connections::oauth::Callback {
        let url = url::Url::parse(authorize_url).expect("an absolute authorize URL");
        let redirect = gitlab_sim::oauth::authorize(
            self.sim().state(),
            url.query().unwrap_or_default(),
            username,
            approve,
        )
        .expect("the simulator accepts the authorization request");
        let redirect = url::Url::parse(&redirect).expect("an absolute redirect");
        let mut callback = labgate_core::connections::oauth::Callback::default();
        for (name, value) in redirect.query_pairs() {
            match name.as_ref() {
                "state" => callback.state = Some(value.into_owned()),
                "code" => callback.code = Some(secrecy::SecretString::from(value.into_owned())),
                "error" => callback.error = Some(value.into_owned()),
                "error_description" => callback.error_description = Some(value.into_owned()),
                _ => {}
            }
        }
        callback
    }

    /// An OAuth connection of tenant `acme` authorised by `username` through the whole flow
    /// (start, the simulator's consent, callback). Needs [`TestEnvBuilder::oauth`].
    pub async fn connect_oauth(
        &self,
        name: &str,
        username: &str,
        labels: Option<(&str, &str)>,
    ) -> labgate_proto::connections::ConnectionView {
        let started = self
            .services
            .connections
            .start_oauth(
                &self.admin,
                labgate_proto::connections::StartOAuthRequest {
                    name: name.to_owned(),
                    scopes: vec!["api".to_owned()],
                    tenant_id: labels.map(|(tenant, _)| tenant.to_owned()),
                    user_id: labels.map(|(_, user)| user.to_owned()),
                    ..Default::default()
                },
                false,
            )
            .await
            .expect("the flow starts");
        let callback = self.authorize_at_gitlab(&started.authorize_url, username, true);
        self.services
            .connections
            .finish_oauth(callback, None)
            .await
            .result
            .expect("the flow creates the connection")
    }

    /// Serves the application on a real socket (127.0.0.1, a free port) until the answer is
    /// dropped, for tests where the transport matters: a client that hangs up, say.
    pub async fn serve(&self) -> ServedApp {
        let settings = ServerSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..(*self.app.settings).clone()
        };
        let server = labgate_server::bind(AppState::new(self.services.clone(), settings))
            .await
            .expect("bind a loopback port");
        let address = server.local_addr().expect("the bound address");
        let shutdown = CancellationToken::new();
        tokio::spawn(server.serve(shutdown.clone()));
        ServedApp {
            base: format!("http://{address}"),
            shutdown,
        }
    }

    /// Runs SQL against the test database, for tests that plant rows the application would
    /// never write (an unknown status, say).
    pub async fn execute_sql(&self, sql: &str) {
        use sqlx::Connection;
        match self.database.backend() {
            crate::TestBackend::Sqlite => {
                let mut connection = sqlx::SqliteConnection::connect(self.database.url())
                    .await
                    .expect("connect to the test database");
                sqlx::query(sql).execute(&mut connection).await.expect("run SQL");
                let _ = connection.close().await;
            }
            crate::TestBackend::Postgres => {
                let mut connection = sqlx::PgConnection::connect(self.database.url())
                    .await
                    .expect("connect to the test database");
                sqlx::query(sql).execute(&mut connection).await.expect("run SQL");
                let _ = connection.close().await;
            }
        }
    }
}

/// The application on a real socket; it stops accepting when dropped.
pub struct ServedApp {
    base: String,
    shutdown: CancellationToken,
}

impl ServedApp {
    /// The full URL of `path` (`/api/v1/…`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A real HTTP client that gives up on a request after `patience`, dropping the connection
    /// as any client with a timeout does.
    pub fn client(&self, patience: Duration) -> reqwest::Client {
        labgate_server::install_crypto_provider();
        reqwest::Client::builder()
            .timeout(patience)
            .build()
            .expect("build an HTTP client")
    }
}

impl Drop for ServedApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// An answer of the in-process application.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
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
