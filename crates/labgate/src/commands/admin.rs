//! Operator commands that work on the database directly: migrations, keys, tenants, API keys,
//! UI users, and configuration checks. They work while servers run.

use anyhow::{Context, bail};
use clap::Subcommand;
use comfy_table::Table;
use std::io::{BufRead, IsTerminal};

use labgate_core::auth::{Actor, KeyRequest, MIN_PASSWORD_LEN, NewUserRequest};
use labgate_core::vault::RootRotation;
use labgate_proto::api_keys::Role;
use secrecy::{ExposeSecret, SecretString};

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Show the root keys, which is active, and how many tenant key generations each wraps.
    List,
    /// Add a new active root key and rewrap every tenant data key under it. For root.key this
    /// happens at once; for LABGATE_ROOT_KEYS it prints the new value to set, and data keys are
    /// rewrapped when labgate next starts with it (or by `labgate keys rewrap`).
    Rotate {
        /// Rotate root.key even though the database is PostgreSQL. root.key belongs to this host
        /// alone: replicas on other hosts could no longer open tenant keys rewrapped under the
        /// new key. Give every replica the same LABGATE_ROOT_KEYS instead.
        #[arg(long)]
        i_understand_other_replicas: bool,
    },
    /// Rewrap every tenant data key under the active root key.
    Rewrap,
    /// Start a fresh data key for one tenant (by id or name); the old one keeps opening old values.
    RotateTenant {
        /// Tenant id or name.
        tenant: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantsCommand {
    /// Create a tenant with its own data and hashing keys.
    Create {
        /// 1-64 lowercase letters, digits and inner hyphens.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List tenants.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeysCommand {
    /// Create an API key and print its token (shown once).
    Create {
        /// Tenant id or name.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// A label for people.
        #[arg(long)]
        name: String,
        /// admin, member, reader or credential-reader.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// RFC 3339 expiry time, e.g. 2027-01-01T00:00:00Z.
        #[arg(long)]
        expires_at: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's API keys (never their tokens).
    List {
        #[arg(long, default_value = "default")]
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke an API key by id.
    Revoke {
        #[arg(long, default_value = "default")]
        tenant: String,
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a person who logs in to the web UI. Without --password-stdin a password is
    /// generated and printed once.
    Create {
        /// Tenant id or name the user works in.
        #[arg(long)]
        tenant: String,
        /// The login; unique across the installation, compared case-insensitively.
        #[arg(long)]
        email: String,
        /// admin, member, reader or credential-reader.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Read the password (at least 12 characters) from the first line of standard input,
        /// e.g. `printf '%s\n' "$PASSWORD" | labgate users create … --password-stdin`.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's UI users.
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a UI user and end their sessions.
    Delete {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check the configuration layers and print the effective settings (secrets as set/unset).
    Validate,
}

fn parse_role(value: &str) -> Result<Role, String> {
    Role::parse(value).ok_or_else(|| "expected admin, member, reader or credential-reader".to_owned())
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub async fn migrate(config: Config) -> anyhow::Result<()> {
    let report = crate::runtime::migrate(&config).await?;
    println!(
        "database {} is at schema version {} ({} migrations applied; this labgate knows {})",
        report.database, report.version, report.applied, report.newest
    );
    Ok(())
}

pub async fn keys(config: Config, command: KeysCommand) -> anyhow::Result<()> {
    let services = crate::runtime::open(&config).await?;
    let vault = &services.vault;
    match command {
        KeysCommand::List => {
            let generations = vault.generations_by_root_key().await?;
            let mut table = Table::new();
            table.set_header(["root key", "active", "tenant key generations"]);
            for id in vault.root_key_ids() {
                let count = generations.get(&id).copied().unwrap_or(0);
                let active = if id == vault.active_root_key_id() {
                    "yes"
                } else {
                    ""
                };
                table.add_row([id.clone(), active.to_owned(), count.to_string()]);
            }
            println!("keyring source: {}", vault.origin().setting());
            println!("{table}");
        }
        KeysCommand::Rotate {
            i_understand_other_replicas,
        } => {
            if vault.origin().is_writable()
                && services.readiness.shared_by_replicas()
                && !i_understand_other_replicas
            {
                bail!(
                    "refusing to rotate {}: the database is PostgreSQL, which replicas on other hosts may \
                     share, but this file exists on this host only, so every tenant's data key would be \
                     rewrapped under a key the other replicas lack. Set the same LABGATE_ROOT_KEYS on \
                     every replica (this file's lines joined with commas) and rotate that, or pass \
                     --i-understand-other-replicas if no labgate process runs on another host.",
                    vault.origin().setting()
                );
            }
            match vault.rotate_root_key().await? {
                RootRotation::Applied {
                    new_key_id,
                    rewrapped,
                } => {
                    println!(
                        "added root key {new_key_id} to {} and rewrapped {rewrapped} tenant key generations",
                        vault.origin().setting()
                    );
                }
                RootRotation::Pending {
                    new_key_id,
                    setting,
                    keyring,
                } => {
                    println!("Set {setting} to this value (new key {new_key_id} first, older keys kept):\n");
                    println!("{}\n", keyring.expose_secret());
                    println!(
                        "Nothing has been changed yet. Once every labgate process runs with the new value, tenant \
                         data keys are rewrapped at start (or run `labgate keys rewrap`)."
                    );
                }
            }
        }
        KeysCommand::Rewrap => {
            let count = vault.rewrap_all().await?;
            println!(
                "rewrapped {count} tenant key generations under root key {}",
                vault.active_root_key_id()
            );
        }
        KeysCommand::RotateTenant { tenant } => {
            let tenant = services.tenants.find(&tenant).await.context("no such tenant")?;
            let rotation = vault
                .rotate_tenant_data_key(tenant.id.as_str(), services.clock.as_ref())
                .await?;
            println!(
                "tenant {} now seals with data key {}; re-encrypted {} secrets",
                tenant.name, rotation.data_key_id, rotation.reencrypted
            );
        }
    }
    services.close().await;
    Ok(())
}

pub async fn tenants(config: Config, command: TenantsCommand) -> anyhow::Result<()> {
    let services = crate::runtime::open(&config).await?;
    match command {
        TenantsCommand::Create { name, json } => {
            let tenant = services.tenants.create(&name, &Actor::Cli).await?;
            if json {
                print_json(&serde_json::json!({"id": tenant.id, "name": tenant.name}))?;
            } else {
                println!("created tenant {} ({})", tenant.name, tenant.id);
            }
        }
        TenantsCommand::List { json } => {
            let tenants = services.tenants.list().await?;
            if json {
                print_json(&tenants)?;
            } else {
                let mut table = Table::new();
                table.set_header(["id", "name", "root key", "created"]);
                for tenant in tenants {
                    table.add_row([tenant.id, tenant.name, tenant.root_key_id, tenant.created_at]);
                }
                println!("{table}");
            }
        }
    }
    services.close().await;
    Ok(())
}

pub async fn api_keys(config: Config, command: ApiKeysCommand) -> anyhow::Result<()> {
    let services = crate::runtime::open(&config).await?;
    match command {
        ApiKeysCommand::Create {
            tenant,
            name,
            role,
            expires_at,
            json,
        } => {
            let tenant = services.tenants.find(&tenant).await.context("no such tenant")?;
            let request = KeyRequest {
                name: &name,
                role,
                expires_at: expires_at.as_deref(),
                token: None,
            };
            let created = services
                .api_keys
                .create(&tenant.id, &Actor::Cli, None, request)
                .await?;
            if json {
                print_json(&labgate_proto::api_keys::CreatedApiKeyResponse {
                    api_key: created.view,
                    token: created.token,
                })?;
            } else {
                println!(
                    "created API key {} ({role}) for tenant {}; its token, shown once:",
                    created.view.id, tenant.name
                );
                println!("{}", created.token.expose_secret());
            }
        }
        ApiKeysCommand::List { tenant, json } => {
            let tenant = services.tenants.find(&tenant).await.context("no such tenant")?;
            let list = services.api_keys.list_tenant(&tenant.id, 0, 10_000).await?;
            if json {
                print_json(&list)?;
            } else {
                let mut table = Table::new();
                table.set_header(["id", "name", "prefix", "role", "expires", "last used", "revoked"]);
                for key in list.api_keys {
                    table.add_row([
                        key.id,
                        key.name,
                        key.prefix,
                        key.role.to_string(),
                        key.expires_at.unwrap_or_default(),
                        key.last_used_at.unwrap_or_default(),
                        key.revoked_at.unwrap_or_default(),
                    ]);
                }
                println!("{table}");
            }
        }
        ApiKeysCommand::Revoke { tenant, id } => {
            let tenant = services.tenants.find(&tenant).await.context("no such tenant")?;
            let key = services
                .api_keys
                .revoke_in(&tenant.id, &Actor::Cli, None, &id)
                .await?;
            println!("revoked API key {} ({})", key.id, key.name);
        }
    }
    services.close().await;
    Ok(())
}

/// The password on the first line of standard input, which must not be a terminal (the
/// password would be echoed and end up in the scrollback).
fn password_from_stdin() -> anyhow::Result<SecretString> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        bail!(
            "--password-stdin reads the password from a pipe or file, not a terminal; leave it out to have a password generated"
        );
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = SecretString::from(line.trim_end_matches(['\n', '\r']).to_owned());
    if password.expose_secret().is_empty() {
        bail!("no password on standard input: send one line of at least {MIN_PASSWORD_LEN} characters");
    }
    Ok(password)
}

fn format_time(at: time::OffsetDateTime) -> String {
    labgate_core::timefmt::format_time(at)
}

pub async fn users(config: Config, command: UsersCommand) -> anyhow::Result<()> {
    // Read before opening the database, so a missing password fails fast and changes nothing.
    let password = match &command {
        UsersCommand::Create {
            password_stdin: true, ..
        } => Some(password_from_stdin()?),
        _ => None,
    };
    let services = crate::runtime::open(&config).await?;
    let result = run_users(&services, command, password).await;
    services.close().await;
    result
}

async fn run_users(
    services: &labgate_core::Services,
    command: UsersCommand,
    password: Option<SecretString>,
) -> anyhow::Result<()> {
    match command {
        UsersCommand::Create {
            tenant,
            email,
            role,
            json,
            ..
        } => {
            let tenant = find_tenant(services, &tenant).await?;
            let created = services
                .users
                .create(
                    &tenant.id,
                    &Actor::Cli,
                    None,
                    NewUserRequest {
                        email: &email,
                        role,
                        password,
                    },
                )
                .await?;
            let user = &created.user;
            if json {
                let mut body = serde_json::json!({
                    "id": user.id,
                    "email": user.email,
                    "tenant": tenant.name,
                    "role": user.role,
                    "createdAt": format_time(user.created_at),
                });
                if let (Some(password), Some(fields)) = (&created.generated_password, body.as_object_mut()) {
                    fields.insert(
                        "password".to_owned(),
                        serde_json::Value::from(password.expose_secret()),
                    );
                }
                print_json(&body)?;
            } else {
                println!(
                    "created user {} ({}) in tenant {}",
                    user.email, user.role, tenant.name
                );
                if let Some(password) = &created.generated_password {
                    println!("their password, shown once:");
                    println!("{}", password.expose_secret());
                }
            }
        }
        UsersCommand::List { tenant, json } => {
            let tenant = find_tenant(services, &tenant).await?;
            let users = services.users.list(&tenant.id).await?;
            if json {
                let list: Vec<serde_json::Value> = users
                    .iter()
                    .map(|user| {
                        serde_json::json!({
                            "id": user.id,
                            "email": user.email,
                            "role": user.role,
                            "createdAt": format_time(user.created_at),
                            "lastLoginAt": user.last_login_at.map(format_time),
                        })
                    })
                    .collect();
                print_json(&serde_json::json!({ "users": list }))?;
            } else {
                let mut table = Table::new();
                table.set_header(["email", "role", "created", "last login"]);
                for user in &users {
                    table.add_row([
                        user.email.clone(),
                        user.role.to_string(),
                        format_time(user.created_at),
                        user.last_login_at.map(format_time).unwrap_or_default(),
                    ]);
                }
                println!("{table}");
            }
        }
        UsersCommand::Delete { email } => {
            let user =
                services
                    .users
                    .delete(&email, &Actor::Cli, None)
                    .await
                    .map_err(|error| match error {
                        labgate_core::CoreError::NotFound(_) => {
                            anyhow::anyhow!("no user with the email {}", email.trim())
                        }
                        other => other.into(),
                    })?;
            println!("deleted user {} and ended their sessions", user.email);
        }
    }
    Ok(())
}

async fn find_tenant(
    services: &labgate_core::Services,
    tenant: &str,
) -> anyhow::Result<labgate_core::tenants::Tenant> {
    services.tenants.find(tenant).await.map_err(|error| match error {
        labgate_core::CoreError::NotFound(_) => {
            anyhow::anyhow!("no tenant {tenant:?}; `labgate tenants list` shows the tenants")
        }
        other => other.into(),
    })
}

pub fn config(config: Config, command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Validate => {
            if let Some(tls) = &config.tls {
                for (setting, path) in [
                    ("LABGATE_TLS_CERT_FILE", &tls.cert),
                    ("LABGATE_TLS_KEY_FILE", &tls.key),
                ] {
                    if !path.is_file() {
                        bail!("{setting}: {} is not a readable file", path.display());
                    }
                }
            }
            let keyring = match (&config.keys.root_keys, &config.keys.root_key) {
                (Some(keys), _) | (None, Some(keys)) => keys.setting.clone(),
                (None, None) if config.keys.root_key_path().exists() => {
                    config.keys.root_key_path().display().to_string()
                }
                (None, None) => format!(
                    "{} (generated on first start)",
                    config.keys.root_key_path().display()
                ),
            };
            if config.keys.root_keys.is_some()
                || config.keys.root_key.is_some()
                || config.keys.root_key_path().exists()
            {
                config.keys.load(false)?;
            }
            let set = |value: bool| if value { "set" } else { "unset" };
            let scheme = config
                .database_url
                .expose_secret()
                .split(':')
                .next()
                .unwrap_or_default()
                .to_owned();
            let mut table = Table::new();
            table.set_header(["setting", "value"]);
            table.add_row([
                "configuration file".to_owned(),
                config
                    .file
                    .as_ref()
                    .map(|f| f.display().to_string())
                    .unwrap_or_else(|| "none".to_owned()),
            ]);
            table.add_row(["listen".to_owned(), config.listen.to_string()]);
            table.add_row(["data directory".to_owned(), config.data_dir.display().to_string()]);
            table.add_row(["database".to_owned(), scheme]);
            table.add_row(["keyring".to_owned(), keyring]);
            table.add_row(["TLS".to_owned(), set(config.tls.is_some()).to_owned()]);
            table.add_row([
                "trusted proxies".to_owned(),
                config.trusted_proxies.len().to_string(),
            ]);
            table.add_row([
                "metrics token".to_owned(),
                set(config.metrics_token.is_some()).to_owned(),
            ]);
            table.add_row([
                "bootstrap admin key".to_owned(),
                set(config.bootstrap_admin_key.is_some()).to_owned(),
            ]);
            table.add_row(["site URL".to_owned(), config.site_url.clone().unwrap_or_default()]);
            table.add_row(["UI session hours".to_owned(), config.ui_session_hours.to_string()]);
            let gitlab = &config.default_instance;
            table.add_row(["GitLab URL".to_owned(), gitlab.url.as_str().to_owned()]);
            table.add_row([
                "GitLab OAuth client id".to_owned(),
                gitlab.oauth_client_id.clone().unwrap_or_default(),
            ]);
            table.add_row([
                "GitLab OAuth client secret".to_owned(),
                set(gitlab.oauth_client_secret.is_some()).to_owned(),
            ]);
            println!("{table}");
            for name in &config.unknown_variables {
                println!("warning: {name} is not a labgate setting");
            }
            println!("configuration is valid");
        }
    }
    Ok(())
}
