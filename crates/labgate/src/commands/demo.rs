//! `labgate demo`: labgate and a simulated GitLab in one process, so a newcomer can click
//! through labgate without owning a GitLab. The simulator (gitlab-sim) carries a small
//! company's instance; labgate runs exactly as `labgate serve` does, on an embedded database in
//! a temporary directory (or a database named for the demo, such as a PostgreSQL one), pointed
//! at the simulator as its default GitLab and OAuth provider.

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
/// Names the database the demo runs on, like `--database-url`. A name of its own: a server's
/// `LABGATE_DATABASE_URL` left in the environment must not put demo data into its database.
pub const DEMO_DATABASE_URL_VARIABLE: &str = "LABGATE_DEMO_DATABASE_URL";
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
/// the caller's environment or `labgate.toml` applies except how logs look. Without a database
/// URL the database is the embedded one in `data_dir`, which otherwise holds only the root key.
fn demo_environment(
    data_dir: &Path,
    database_url: Option<&SecretString>,
    listen: SocketAddr,
    sim_url: &str,
) -> Vec<(String, String)> {
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
    if let Some(url) = database_url {
        environment.push(("LABGATE_DATABASE_URL".to_owned(), url.expose_secret().to_owned()));
    }
    for name in ["LABGATE_LOG_LEVEL", "LABGATE_LOG_FORMAT"] {
        if let Ok(value) = std::env::var(name) {
            environment.retain(|(n, _)| n != name);
            environment.push((name.to_owned(), value));
        }
    }
    environment
}

/// Refuses a database URL the configuration loader would refuse, naming the demo's flag and
/// variable rather than the server's setting, and never quoting the URL (it may hold a password).
fn check_database_url(url: &SecretString) -> anyhow::Result<()> {
    let url = url.expose_secret().to_ascii_lowercase();
    if ["sqlite:", "postgres:", "postgresql:"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
    {
        Ok(())
    } else {
        anyhow::bail!(
            "--database-url (or {DEMO_DATABASE_URL_VARIABLE}) must start with sqlite:// or postgres://"
        )
    }
}

pub async fn demo(
    args: DemoArgs,
    data_dir: Option<PathBuf>,
    database_url: Option<SecretString>,
) -> anyhow::Result<()> {
    if let Some(url) = &database_url {
        check_database_url(url)?;
    }
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

    let result = serve_demo(&data, database_url.as_ref(), listener, &sim, today).await;
    sim.shutdown().await;
    let shown = data.path().display().to_string();
    let database_note = if database_url.is_some() {
        "; the database named by --database-url stays"
    } else {
        ""
    };
    match data {
        DataDir::Temporary(dir) => {
            dir.close()
                .with_context(|| format!("cannot remove the demo's directory {shown}"))?;
            println!("labgate demo stopped; removed {shown}{database_note}");
        }
        DataDir::Kept(_) => println!("labgate demo stopped; its data stays in {shown}{database_note}"),
    }
    result
}

async fn serve_demo(
    data: &DataDir,
    database_url: Option<&SecretString>,
    listener: std::net::TcpListener,
    sim: &SimServer,
    today: time::Date,
) -> anyhow::Result<()> {
    let listen = listener.local_addr()?;
    let config =
        crate::config::load_without_file(&demo_environment(data.path(), database_url, listen, sim.url()))?;
    crate::logging::init(config.json_logs, &config.log_level);
    let kept = matches!(data, DataDir::Kept(_));
    let services = match crate::commands::serve::start(&config, kept).await {
        Ok(services) => services,
        Err(error) if database_url.is_some() => {
            return Err(error.context(
                "cannot start labgate on the database named by --database-url (what an earlier demo left \
                 there is readable only with that demo's --data-dir, which holds its root key)",
            ));
        }
        Err(error) => return Err(error),
    };
    // Only the store's description is shown: the URL itself may carry a password.
    let given_database = database_url.map(|_| services.readiness.database());
    if given_database.is_some() {
        refuse_foreign_data(&services).await?;
    }
    let setup = DemoSetup::create(&services).await?;
    let server = crate::commands::serve::bind_listener(&services, &config, listener).await?;
    print_banner(&config, data, given_database.as_deref(), sim, &setup, today);
    crate::commands::serve::run(&config, services, server, true).await
}

/// A database named on the command line may be a real server's: the demo adds its tenant,
/// key, user and connections only to an empty database or one an earlier demo made.
async fn refuse_foreign_data(services: &Services) -> anyhow::Result<()> {
    let tenants = services.tenants.list().await?;
    if let Some(other) = tenants.iter().find(|tenant| tenant.name != DEMO_TENANT) {
        anyhow::bail!(
            "the database named by --database-url holds tenant {:?}, so it is not a demo's: labgate demo \
             runs only on an empty database or one an earlier demo made",
            other.name
        );
    }
    Ok(())
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

fn print_banner(
    config: &Config,
    data: &DataDir,
    given_database: Option<&str>,
    sim: &SimServer,
    setup: &DemoSetup,
    today: time::Date,
) {
    let site = config.site_url.clone().unwrap_or_default();
    let gitlab = sim.url();
    let key = setup.api_key.expose_secret();
    let mut out = String::new();
    out.push_str("labgate demo: labgate and a simulated GitLab (gitlab-sim), nothing real involved.\n\n");
    out.push_str(&format!("  labgate:           {site}\n"));
    out.push_str(&format!("  simulated GitLab:  {gitlab}\n"));
    out.push_str(&format!(
        "  data:              {} ({}{})\n",
        data.path().display(),
        if given_database.is_some() {
            "root key; "
        } else {
            ""
        },
        match data {
            DataDir::Temporary(_) => "removed when the demo stops",
            DataDir::Kept(_) => "kept",
        }
    ));
    if let Some(database) = given_database {
        out.push_str(&format!("  database:          {database} (kept)\n"));
    }
    out.push('\n');
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
        let environment = demo_environment(dir.path(), None, listen, "http://127.0.0.1:18081");
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
    fn a_database_url_named_for_the_demo_replaces_the_embedded_database() {
        let dir = tempfile::tempdir().unwrap();
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 18080));
        let url = SecretString::from("postgres://demo:pw@127.0.0.1:5432/demo");
        let environment = demo_environment(dir.path(), Some(&url), listen, "http://127.0.0.1:18081");
        let config = crate::config::load_without_file(&environment).unwrap();
        assert_eq!(config.database_url.expose_secret(), url.expose_secret());
        assert_eq!(config.data_dir, dir.path());
    }

    #[test]
    fn a_database_url_of_another_kind_is_refused_without_quoting_it() {
        for url in ["mysql://demo:hunter2@db/demo", "hunter2"] {
            let error = check_database_url(&SecretString::from(url))
                .unwrap_err()
                .to_string();
            assert!(error.contains("--database-url"), "{error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
        for url in [
            "sqlite:///tmp/demo.db",
            "postgres://postgres@127.0.0.1/demo",
            "postgresql://h/d",
        ] {
            check_database_url(&SecretString::from(url)).unwrap();
        }
    }

    #[test]
    fn every_demo_connection_comes_from_a_seeded_token() {
        for c in DEMO_CONNECTIONS {
            assert!(DEMO_TOKENS.iter().any(|t| t.token == c.token), "{}", c.name);
        }
    }
}
