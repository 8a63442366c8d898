//! One simulated GitLab for the tests that talk to gitlab-sim: the standard seed, the tokens it
//! issues, and client settings that reach it on loopback without slowing retries down.

use std::time::Duration;

use gitlab_sim::seed::SeedOAuthApp;
use gitlab_sim::{Seed, SeedBuilder, SimServer};
use labgate_gitlab::{ClientOptions, NetworkPolicy};

pub const ROOT_TOKEN: &str = "glpat-rootROOTroot12345678";
pub const ALICE_TOKEN: &str = "glpat-aliceALICEalice1234";
pub const ALICE_READ: &str = "glpat-aliceREADONLYtoken1";
pub const ALICE_REPO: &str = "glpat-aliceREPOonlytoken1";
pub const BOB_TOKEN: &str = "glpat-bobBOBbobBOBbob1234";
pub const CAROL_TOKEN: &str = "glpat-carolCAROLcarol1234";
/// An instance with a custom personal-access-token prefix.
pub const CUSTOM_PREFIX_TOKEN: &str = "acmepat-customPREFIXtoken99";
pub const DEPLOY_TOKEN: &str = "glpat-deployDEPLOYdeploy12";
pub const GROUP_TOKEN: &str = "glpat-groupGROUPgroup12345";
pub const APP_UID: &str = "labgate-app-uid";
pub const APP_SECRET: &str = "gloas-labgate-app-secret";
pub const REDIRECT: &str = "http://127.0.0.1:8080/organization/app-connections/gitlab/oauth/callback";

/// Every secret the standard seed issues, for the no-secrets-in-logs checks.
pub const ALL_TOKENS: &[&str] = &[
    ROOT_TOKEN,
    ALICE_TOKEN,
    ALICE_READ,
    ALICE_REPO,
    BOB_TOKEN,
    CAROL_TOKEN,
    CUSTOM_PREFIX_TOKEN,
    DEPLOY_TOKEN,
    GROUP_TOKEN,
    APP_SECRET,
];

/// root (admin), alice (Maintainer of acme), bob (Developer of the api project), carol (Owner
/// of partners, shared into the api project), a project token on the api project and a group
/// token on acme/platform.
pub fn standard_seed() -> SeedBuilder {
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
        .invitation("acme", "new@example.com", 30)
        .variable("acme/platform/api", "DB_URL", "postgres://db")
        .hook(
            "acme/platform/api",
            "https://hooks.example.com/in",
            Some("hook-secret-value"),
        )
        .personal_token("root", "admin", &["api"], ROOT_TOKEN)
        .personal_token("alice", "ci", &["api"], ALICE_TOKEN)
        .personal_token("alice", "ro", &["read_api"], ALICE_READ)
        .personal_token("alice", "repo", &["read_repository"], ALICE_REPO)
        .personal_token("bob", "bob", &["api"], BOB_TOKEN)
        .personal_token("carol", "carol", &["api", "read_user"], CAROL_TOKEN)
        .personal_token("dave", "custom", &["read_user"], CUSTOM_PREFIX_TOKEN)
        .project_token(
            "acme/platform/api",
            "deploy",
            &["api", "read_repository"],
            40,
            DEPLOY_TOKEN,
        )
        .group_token("acme/platform", "grp", &["read_api"], 30, GROUP_TOKEN)
        .oauth_app(SeedOAuthApp {
            name: "labgate".into(),
            uid: Some(APP_UID.into()),
            secret: Some(APP_SECRET.into()),
            redirect_uri: REDIRECT.into(),
            scopes: vec!["api".into(), "read_user".into()],
            ..SeedOAuthApp::default()
        })
}

/// Starts the simulator on a free loopback port.
///
/// # Panics
/// If the seed is inconsistent or no port can be bound.
pub async fn start_sim(seed: SeedBuilder) -> SimServer {
    SimServer::start(seed.build())
        .await
        .expect("the simulator starts with this seed")
}

/// The simulator listens on 127.0.0.1, which the SSRF guard refuses unless it is allow-listed;
/// tests list it explicitly, as an operator would.
pub fn loopback_policy() -> NetworkPolicy {
    NetworkPolicy::parse("127.0.0.1").expect("a valid policy")
}

/// Retry and rate-limit waits in milliseconds instead of seconds, so retry tests stay fast, and
/// no proxy from the environment between the client and the simulator.
pub fn fast_client_options() -> ClientOptions {
    ClientOptions {
        retry_base: Duration::from_millis(10),
        retry_max: Duration::from_millis(50),
        request_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(2),
        max_rate_limit_wait: Duration::from_secs(3),
        use_env_proxy: false,
        ..ClientOptions::default()
    }
}
