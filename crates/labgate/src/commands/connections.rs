//! `labgate connections`: GitLab connections of a running server (`LABGATE_URL`,
//! `LABGATE_API_KEY`). Tokens are read from stdin or a file, never from the command line.

use std::io::{BufRead, IsTerminal, Read};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use comfy_table::Table;
use labgate_client::{Client, TokenChange};
use labgate_proto::connections::{
    AccessTokenCredentials, AccessTokenType, ConnectionView, CreateConnectionRequest, UpdateConnectionRequest,
};
use labgate_proto::jobs::JobState;
use labgate_proto::pagination::PageQuery;

#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    /// Connect GitLab with an access token, read from stdin (default) or --token-file.
    Create {
        /// A slug: lowercase letters, digits and dashes.
        #[arg(long)]
        name: String,
        /// personal, project or group.
        #[arg(long = "type", value_name = "TYPE")]
        token_type: String,
        /// The GitLab instance (default https://gitlab.com).
        #[arg(long)]
        instance_url: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// A file holding the token (`-` for stdin). Without it the token is read from stdin.
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// secret-sync, secret-scanning or access-sync (repeatable).
        #[arg(long = "usage")]
        usages: Vec<String>,
        /// Rotate the token at GitLab before it expires.
        #[arg(long)]
        auto_rotate: bool,
        #[arg(long)]
        rotate_before_days: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// List GitLab connections.
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long, default_value_t = 0)]
        offset: u64,
        #[arg(long)]
        json: bool,
    },
    /// Show one connection (by id or name).
    Show {
        connection: String,
        #[arg(long)]
        json: bool,
    },
    /// Check a connection at GitLab now.
    Check {
        connection: String,
        #[arg(long)]
        json: bool,
    },
    /// Rotate a connection's token at GitLab now.
    Rotate {
        connection: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a connection; --new-token reads a new token from stdin (or --token-file) and
    /// validates it like on create.
    Update {
        connection: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Replace the token (read from stdin, or from --token-file).
        #[arg(long)]
        new_token: bool,
        /// With --new-token: a file holding the token (`-` for stdin).
        #[arg(long, requires = "new_token")]
        token_file: Option<PathBuf>,
        /// With --new-token: personal, project or group (default: the current type).
        #[arg(long = "type", value_name = "TYPE", requires = "new_token")]
        token_type: Option<String>,
        #[arg(long)]
        auto_rotate: Option<bool>,
        #[arg(long)]
        rotate_before_days: Option<u32>,
        /// Refuse the change (409) unless the connection is at this version.
        #[arg(long)]
        expect_version: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// Delete a connection; --revoke-at-gitlab revokes its token at GitLab first.
    Delete {
        connection: String,
        #[arg(long)]
        revoke_at_gitlab: bool,
        #[arg(long)]
        json: bool,
    },
    /// A connection's timeline: status changes, recoveries, rotations.
    Events {
        connection: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
}

/// Reads the token: the first non-empty line of the file or of stdin.
fn read_token(file: Option<&PathBuf>) -> anyhow::Result<String> {
    let text = match file {
        Some(path) if path.as_os_str() != "-" => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the token file {}", path.display()))?,
        _ => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("Paste the GitLab access token and press Enter:");
                let mut line = String::new();
                stdin.lock().read_line(&mut line)?;
                line
            } else {
                let mut text = String::new();
                stdin.lock().take(64 * 1024).read_to_string(&mut text)?;
                text
            }
        }
    };
    match text.lines().map(str::trim).find(|line| !line.is_empty()) {
        Some(token) => Ok(token.to_owned()),
        None => bail!("no token given: pipe it on stdin or pass --token-file"),
    }
}

fn looks_like_id(value: &str) -> bool {
    value.len() == 36 && value.bytes().filter(|b| *b == b'-').count() == 4
}

/// The id of a connection named by id or by name.
async fn resolve(client: &Client, connection: &str) -> anyhow::Result<String> {
    if looks_like_id(connection) {
        return Ok(connection.to_owned());
    }
    Ok(client.connection_by_name(connection).await?.id)
}

/// The connection once a token change has ended: at once, or after following the job of one
/// that went on in the background (an error when that job failed).
async fn settle(client: &Client, id: &str, change: TokenChange) -> anyhow::Result<ConnectionView> {
    match change {
        TokenChange::Done(connection) => Ok(*connection),
        TokenChange::Running(job) => {
            let job = crate::commands::remote::follow(client, *job).await?;
            if job.state == JobState::Failed {
                bail!("job {} failed: {}", job.id, job.last_error.unwrap_or_default());
            }
            Ok(client.connection(id).await?)
        }
    }
}

fn print_one(connection: &ConnectionView, json: bool) -> anyhow::Result<()> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "appConnection": connection }))?
        );
        return Ok(());
    }
    let mut table = Table::new();
    let user = connection.gitlab_user.username.clone().unwrap_or_default();
    let rows = [
        ("id", connection.id.clone()),
        ("name", connection.name.clone()),
        ("instance", connection.credentials.instance_url.clone()),
        (
            "token type",
            connection
                .credentials
                .access_token_type
                .map(|kind| kind.to_string())
                .unwrap_or_default(),
        ),
        ("status", connection.status.to_string()),
        ("reason", connection.status_reason.clone().unwrap_or_default()),
        ("scopes", connection.scopes.join(", ")),
        (
            "expires",
            connection
                .expires_at
                .clone()
                .unwrap_or_else(|| "never".to_owned()),
        ),
        ("gitlab user", user),
        (
            "auto-rotate",
            format!(
                "{} ({} days before)",
                connection.auto_rotate, connection.rotate_before_days
            ),
        ),
        ("version", connection.version.to_string()),
        (
            "last checked",
            connection.last_checked_at.clone().unwrap_or_default(),
        ),
        ("credentials hash", connection.credentials_hash.clone()),
    ];
    for (key, value) in rows {
        table.add_row([key.to_owned(), value]);
    }
    println!("{table}");
    Ok(())
}

pub async fn connections(command: ConnectionsCommand) -> anyhow::Result<()> {
    let client = Client::from_env()?;
    match command {
        ConnectionsCommand::Create {
            name,
            token_type,
            instance_url,
            description,
            token_file,
            usages,
            auto_rotate,
            rotate_before_days,
            json,
        } => {
            let token = read_token(token_file.as_ref())?;
            let request = CreateConnectionRequest {
                name,
                description,
                method: labgate_proto::connections::ConnectionMethod::AccessToken
                    .as_str()
                    .to_owned(),
                credentials: Some(
                    AccessTokenCredentials {
                        access_token: token,
                        instance_url,
                        access_token_type: token_type,
                    }
                    .into(),
                ),
                project_id: None,
                is_platform_managed_credentials: None,
                gateway_id: None,
                usages: (!usages.is_empty()).then_some(usages),
                auto_rotate: auto_rotate.then_some(true),
                rotate_before_days,
            };
            let created = client.create_connection(&request).await?;
            print_one(&created, json)?;
        }
        ConnectionsCommand::List { limit, offset, json } => {
            let list = client
                .connections(&PageQuery {
                    offset: Some(offset),
                    limit: Some(limit),
                })
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            let mut table = Table::new();
            table.set_header([
                "id",
                "name",
                "type",
                "instance",
                "status",
                "expires",
                "auto-rotate",
            ]);
            for c in &list.app_connections {
                table.add_row([
                    c.id.clone(),
                    c.name.clone(),
                    c.credentials
                        .access_token_type
                        .map_or_else(|| c.method.to_string(), |kind| kind.to_string()),
                    c.credentials.instance_url.clone(),
                    c.status.to_string(),
                    c.expires_at.clone().unwrap_or_else(|| "never".to_owned()),
                    c.auto_rotate.to_string(),
                ]);
            }
            println!("{table}");
            println!(
                "{} of {} connections",
                list.app_connections.len(),
                list.total_count
            );
        }
        ConnectionsCommand::Show { connection, json } => {
            let id = resolve(&client, &connection).await?;
            print_one(&client.connection(&id).await?, json)?;
        }
        ConnectionsCommand::Check { connection, json } => {
            let id = resolve(&client, &connection).await?;
            let checked = client.check_connection(&id).await?;
            print_one(&settle(&client, &id, checked).await?, json)?;
        }
        ConnectionsCommand::Rotate { connection, json } => {
            let id = resolve(&client, &connection).await?;
            let rotated = client.rotate_connection(&id).await?;
            print_one(&settle(&client, &id, rotated).await?, json)?;
        }
        ConnectionsCommand::Update {
            connection,
            name,
            description,
            new_token,
            token_file,
            token_type,
            auto_rotate,
            rotate_before_days,
            expect_version,
            json,
        } => {
            let id = resolve(&client, &connection).await?;
            let credentials = if new_token {
                let token = read_token(token_file.as_ref())?;
                let token_type = match token_type {
                    Some(token_type) => token_type,
                    None => client
                        .connection(&id)
                        .await?
                        .credentials
                        .access_token_type
                        .unwrap_or(AccessTokenType::Personal)
                        .to_string(),
                };
                Some(AccessTokenCredentials {
                    access_token: token,
                    instance_url: None,
                    access_token_type: token_type,
                })
            } else {
                None
            };
            let request = UpdateConnectionRequest {
                name,
                description: description.map(Some),
                credentials,
                version: expect_version,
                auto_rotate,
                rotate_before_days,
                ..UpdateConnectionRequest::default()
            };
            print_one(&client.update_connection(&id, &request).await?, json)?;
        }
        ConnectionsCommand::Delete {
            connection,
            revoke_at_gitlab,
            json,
        } => {
            let id = resolve(&client, &connection).await?;
            let deleted = client.delete_connection(&id, revoke_at_gitlab).await?;
            if json {
                print_one(&deleted, true)?;
            } else {
                println!("deleted {} ({})", deleted.name, deleted.id);
            }
        }
        ConnectionsCommand::Events {
            connection,
            limit,
            json,
        } => {
            let id = resolve(&client, &connection).await?;
            let events = client
                .connection_events(
                    &id,
                    &PageQuery {
                        offset: None,
                        limit: Some(limit),
                    },
                )
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&events)?);
                return Ok(());
            }
            let mut table = Table::new();
            table.set_header(["time", "event", "from", "to", "reason"]);
            for e in &events.events {
                table.add_row([
                    e.created_at.clone(),
                    e.kind.to_string(),
                    e.from_status.map(|status| status.to_string()).unwrap_or_default(),
                    e.to_status.map(|status| status.to_string()).unwrap_or_default(),
                    e.reason.clone().unwrap_or_default(),
                ]);
            }
            println!("{table}");
            println!("{} of {} events", events.events.len(), events.total_count);
        }
    }
    Ok(())
}
