//! `labgate demo`: labgate and a simulated GitLab in one process, so a newcomer can click
//! through labgate without owning a GitLab. The simulator (gitlab-sim) carries a small
//! company's instance; labgate runs exactly as `labgate serve` does, on an embedded database in
//! a temporary directory, pointed at the simulator as its default GitLab and OAuth provider.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context;
use gitlab_sim::demo::{DEMO_APP_SECRET, DEMO_APP_UID, DEMO_TOKENS, DemoToken, demo_seed};
use gitlab_sim::{SimOptions, SimServer, UserState};
use labgate_core::Services;
use labgate_core::auth::{Actor, KeyRequest, NewUserRequest, Principal};
use labgate_core::tenants::Tenant;
use labgate_proto::api_keys::Role;
use labgate_proto::connections::{CreateConnectionRequest, CreateCredentials};
use secrecy::{ExposeSecret, SecretString};

use crate::config::Config;

/// The tenant the demo's data lives in.
pub const DEMO_TENANT: &str = "demo";
/// The web UI login the demo makes; its password is generated on every start.
const DEMO_UI_EMAIL: &str = "demo@example.com";

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Port for labgate on 127.0.0.1 (0 picks a free port).
    #[arg(long, default_value_t = 8080, value_name = "P")]
    port: u16,
    /// Port for the simulated GitLab on 127.0.0.1 (0 picks a free port).
    #[arg(long, default_value_t = 8081, value_name = "Q")]
    gitlab_port: u16,
}

/// The connections the demo makes from seeded tokens, so lists are not empty.
struct DemoConnection {
    name: &'static str,
    description: &'static str,
    token: &'static str,
    auto_rotate: bool,
}

const DEMO_CONNECTIONS: &[DemoConnection] = &[
    DemoConnection {
        name: "amara-personal",
        description: "Amara Okafor's personal access token",
        token: "glpat-demoAmaraApiToken01",
        auto_rotate: false,
    },
    DemoConnection {
        name: "payments-api-deploy",
        description: "Deploy token of acme/platform/payments-api, rotated before it expires",
        token: "glpat-demoPaymentsDeploy1",
        auto_rotate: true,
    },
];

/// Where the demo keeps its database: a temporary directory removed on exit, or the
/// directory given with `--data-dir`, kept.
enum DataDir {
    Temporary(tempfile::TempDir),
    Kept(PathBuf),
}

impl DataDir {
    fn path(&self) -> &Path {
        match self {
            DataDir::Temporary(dir) => dir.path(),
            DataDir::Kept(path) => path,
        }
    }
}

/// A login for the web UI, printed with the rest.
pub struct DemoLogin {
    pub username: String,
    pub password: SecretString,
}

/// The web UI's demo login: user `demo@example.com`, admin of the demo tenant, with a password
/// generated for this run. A kept `--data-dir` already holds the user from an earlier run, whose
/// password was never stored anywhere readable; it is made afresh so the banner can print one.
async fn create_demo_ui_user(services: &Services, tenant: &Tenant) -> anyhow::Result<Option<DemoLogin>> {
    if services.users.by_email(DEMO_UI_EMAIL).await.is_ok() {
        services
            .users
            .delete(DEMO_UI_EMAIL, &Actor::Cli, None)
            .await
            .context("cannot replace the demo's web UI user")?;
    }
    let created = services
        .users
        .create(
            &tenant.id,
            &Actor::Cli,
            None,
            NewUserRequest {
                email: DEMO_UI_EMAIL,
                role: Role::Admin,
                password: None,
            },
        )
        .await
        .context("cannot create the demo's web UI user")?;
    Ok(created.generated_password.map(|password| DemoLogin {
        username: created.user.email.to_string(),
        password,
    }))
}

fn bind(port: u16, flag: &str) -> anyhow::Result<std::net::TcpListener> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    std::net::TcpListener::bind(address)
        .with_context(|| format!("cannot listen on {address}: choose another port with {flag}"))
}

/// The demo's settings, as environment values for the normal configuration loader: nothing of
/// the caller's environment or `labgate.toml` applies except how logs look.
fn demo_environment(data_dir: &Path, listen: SocketAddr, sim_url: &str) -> Vec<(String, String)> {
    let mut environment: Vec<(String, String)> = [
        ("LABGATE_LISTEN", listen.to_string()),
        ("LABGATE_DATA_DIR", data_dir.display().to_string()),
        ("LABGATE_SITE_URL", format!("http://{listen}")),
        ("LABGATE_GITLAB_URL", sim_url.to_owned()),
        ("LABGATE_GITLAB_OAUTH_CLIENT_ID", DEMO_APP_UID.to_owned()),
        ("LABGATE_GITLAB_OAUTH_CLIENT_SECRET", DEMO_APP_SECRET.to_owned()),
        // The simulator listens on loopback over plain HTTP, which labgate refuses for GitLab
        // instances unless the operator allows it; the demo allows exactly that address.
        ("LABGATE_ALLOW_INTERNAL_HOSTS", Ipv4Addr::LOCALHOST.to_string()),
        ("LABGATE_LOG_LEVEL", "warn".to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    for name in ["LABGATE_LOG_LEVEL", "LABGATE_LOG_FORMAT"] {
        if let Ok(value) = std::env::var(name) {
            environment.retain(|(n, _)| n != name);
            environment.push((name.to_owned(), value));
        }
    }
    environment
}

pub async fn demo(args: DemoArgs, data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let data = match data_dir {
        Some(path) => DataDir::Kept(path),
        None => DataDir::Temporary(
            tempfile::Builder::new()
                .prefix("labgate-demo-")
                .tempdir()
                .context("cannot create a temporary directory for the demo's database")?,
        ),
    };
    // labgate's address comes first: the simulated GitLab's OAuth application redirects to it.
    let listener = bind(args.port, "--port")?;
    let listen = listener.local_addr()?;
    let site_url = format!("http://{listen}");
    let today = time::OffsetDateTime::now_utc().date();
    let sim = SimServer::start_with(
        demo_seed(&site_url, today),
        SimOptions {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, args.gitlab_port)),
            ..SimOptions::default()
        },
    )
    .await
    .map_err(|error| match error {
        gitlab_sim::SimError::Io(error) => anyhow::anyhow!(
            "cannot start the simulated GitLab on 127.0.0.1:{}: {error}; choose another port with --gitlab-port",
            args.gitlab_port
        ),
        other => anyhow::Error::new(other).context("cannot start the simulated GitLab"),
    })?;

    let result = serve_demo(&data, listener, &sim, today).await;
    sim.shutdown().await;
    let shown = data.path().display().to_string();
    match data {
        DataDir::Temporary(dir) => {
            dir.close()
                .with_context(|| format!("cannot remove the demo's directory {shown}"))?;
            println!("labgate demo stopped; removed {shown}");
        }
        DataDir::Kept(_) => println!("labgate demo stopped; its data stays in {shown}"),
    }
    result
}

async fn serve_demo(
    data: &DataDir,
    listener: std::net::TcpListener,
    sim: &SimServer,
    today: time::Date,
) -> anyhow::Result<()> {
    let listen = listener.local_addr()?;
    let config = crate::config::load_without_file(&demo_environment(data.path(), listen, sim.url()))?;
    crate::logging::init(config.json_logs, &config.log_level);
    let kept = matches!(data, DataDir::Kept(_));
    let services = crate::commands::serve::start(&config, kept).await?;
    let setup = DemoSetup::create(&services).await?;
    let server = crate::commands::serve::bind_listener(&services, &config, listener).await?;
    print_banner(&config, data, sim, &setup, today);
    crate::commands::serve::run(&config, services, server, true).await
}

/// What the demo made in labgate.
struct DemoSetup {
    api_key: SecretString,
    connections: Vec<&'static str>,
    ui_login: Option<DemoLogin>,
}

impl DemoSetup {
    async fn create(services: &Services) -> anyhow::Result<DemoSetup> {
        let (tenant, _) = services.tenants.ensure(DEMO_TENANT, &Actor::Cli).await?;
        let key = services
            .api_keys
            .create(
                &tenant.id,
                &Actor::Cli,
                None,
                KeyRequest {
                    name: "demo",
                    role: Role::Admin,
                    expires_at: None,
                    token: None,
                },
            )
            .await
            .context("cannot create the demo's API key")?;
        let operator = Principal {
            tenant_id: tenant.id.clone(),
            role: Role::Admin,
            actor: Actor::Cli,
            source_ip: None,
        };
        let mut connections = Vec::new();
        for demo in DEMO_CONNECTIONS {
            let kind = DEMO_TOKENS
                .iter()
                .find(|t| t.token == demo.token)
                .map_or("personal", |t| t.kind);
            let request = CreateConnectionRequest {
                name: demo.name.to_owned(),
                description: Some(demo.description.to_owned()),
                method: "access-token".to_owned(),
                credentials: Some(CreateCredentials {
                    access_token: Some(demo.token.to_owned()),
                    instance_url: None,
                    access_token_type: Some(kind.to_owned()),
                    code: None,
                }),
                project_id: None,
                is_platform_managed_credentials: None,
                gateway_id: None,
                usages: None,
                auto_rotate: Some(demo.auto_rotate),
                rotate_before_days: None,
            };
            match services.connections.create(&operator, request).await {
                Ok(_) => {}
                // Made by an earlier run on the same --data-dir.
                Err(labgate_core::CoreError::AlreadyExists(_)) => {}
                Err(error) => {
                    return Err(anyhow::Error::new(error))
                        .with_context(|| format!("cannot create the demo connection {}", demo.name));
                }
            }
            connections.push(demo.name);
        }
        let ui_login = create_demo_ui_user(services, &tenant).await?;
        Ok(DemoSetup {
            api_key: key.token,
            connections,
            ui_login,
        })
    }
}

fn token_line(t: &DemoToken, today: time::Date) -> String {
    let expires = today + time::Duration::days(t.expires_in_days);
    format!(
        "  {:<9} {:<40} {:<38} expires {expires}\n            {}",
        t.kind,
        format!("{} \"{}\"", t.owner, t.name),
        t.scopes.join(", "),
        t.token,
    )
}

fn print_banner(config: &Config, data: &DataDir, sim: &SimServer, setup: &DemoSetup, today: time::Date) {
    let site = config.site_url.clone().unwrap_or_default();
    let gitlab = sim.url();
    let key = setup.api_key.expose_secret();
    let mut out = String::new();
    out.push_str("labgate demo: labgate and a simulated GitLab (gitlab-sim), nothing real involved.\n\n");
    out.push_str(&format!("  labgate:           {site}\n"));
    out.push_str(&format!("  simulated GitLab:  {gitlab}\n"));
    out.push_str(&format!(
        "  data:              {} ({})\n\n",
        data.path().display(),
        match data {
            DataDir::Temporary(_) => "removed when the demo stops",
            DataDir::Kept(_) => "kept",
        }
    ));
    if let Some(login) = &setup.ui_login {
        out.push_str(&format!(
            "Web UI (a demo login, shown in full):\n  {site}/login\n  email:     {}\n  password:  {}\n\n",
            login.username,
            login.password.expose_secret()
        ));
    }
    out.push_str(&format!(
        "API key (admin of tenant \"{DEMO_TENANT}\"; a demo key, shown in full):\n  {key}\n\n"
    ));
    out.push_str(&format!(
        "Connections already made from seeded tokens: {}\n  curl -H \"Authorization: Bearer {key}\" {site}/api/v1/app-connections/gitlab\n\n",
        setup.connections.join(", ")
    ));
    out.push_str(&format!(
        "Access tokens to paste into Add connection (instance URL {gitlab}):\n"
    ));
    for t in DEMO_TOKENS {
        out.push_str(&token_line(t, today));
        out.push('\n');
    }
    out.push_str(
        "\nOAuth: \"Connect with GitLab\" goes to the simulator's application \"labgate (demo)\"; sign in\n\
         there by choosing one of these users (no passwords) and approve:\n",
    );
    let users = sim.state().read(|db| {
        db.users
            .values()
            .filter(|u| !u.is_bot())
            .map(|u| {
                let mut notes = Vec::new();
                if u.admin {
                    notes.push("admin");
                }
                if u.external {
                    notes.push("external");
                }
                if u.state != UserState::Active {
                    notes.push("blocked: cannot sign in");
                }
                let notes = if notes.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", notes.join(", "))
                };
                format!("  @{:<8} {}{notes}", u.username, u.name)
            })
            .collect::<Vec<_>>()
    });
    for line in users {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str("\nPress Ctrl-C to stop.\n");
    print!("{out}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_takes_nothing_from_the_callers_settings_but_log_format() {
        let dir = tempfile::tempdir().unwrap();
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 18080));
        let environment = demo_environment(dir.path(), listen, "http://127.0.0.1:18081");
        let config = crate::config::load_without_file(&environment).unwrap();
        assert_eq!(config.listen, listen);
        assert_eq!(config.site_url.as_deref(), Some("http://127.0.0.1:18080"));
        assert!(config.database_url.expose_secret().starts_with("sqlite://"));
        assert!(
            config
                .database_url
                .expose_secret()
                .contains(&dir.path().display().to_string())
        );
        assert_eq!(
            config.default_instance.oauth_client_id.as_deref(),
            Some(DEMO_APP_UID)
        );
    }

    #[test]
    fn every_demo_connection_comes_from_a_seeded_token() {
        for c in DEMO_CONNECTIONS {
            assert!(DEMO_TOKENS.iter().any(|t| t.token == c.token), "{}", c.name);
        }
    }
}
