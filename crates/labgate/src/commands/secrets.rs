//! `labgate secrets` and `labgate projects`: the secrets store of a running server
//! (`LABGATE_URL`, `LABGATE_API_KEY`). Values are read from stdin or a file, never from the
//! command line, where other users of the machine could see them.

use std::io::{BufRead, IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use comfy_table::Table;
use labgate_client::{Client, ClientError, Method};
use labgate_proto::ErrorKind;
use labgate_proto::pagination::PageQuery;
use labgate_proto::secrets::{
    BatchSecret, BatchSecretsRequest, CreateProjectRequest, CreateSecretRequest, ImportSecretsRequest,
    NewEnvironmentRequest, ProjectView, RollbackSecretRequest, SecretHistoryQuery, SecretListQuery,
    SecretLocation, SecretQuery, SecretView, UpdateSecretRequest,
};
use secrecy::{ExposeSecret, SecretString};

/// Largest value `set` reads, a little over what the server accepts so it can say so.
const MAX_VALUE_READ: u64 = 256 * 1024 + 1;

#[derive(Debug, Subcommand)]
pub enum ProjectsCommand {
    /// Create a project; without --env it gets dev, staging and prod.
    Create {
        #[arg(long)]
        name: String,
        /// Lowercase letters, digits, - and _ (default: made from the name).
        #[arg(long)]
        slug: Option<String>,
        /// An environment as `slug` or `slug=Name` (repeatable).
        #[arg(long = "env", value_name = "SLUG[=NAME]")]
        environments: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List projects with their environments.
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long, default_value_t = 0)]
        offset: u64,
        #[arg(long)]
        json: bool,
    },
    /// Delete a project with every secret in it.
    Delete {
        /// The project's id or slug.
        project: String,
        #[arg(long)]
        json: bool,
    },
}

/// Which folder: a project (id or slug), one of its environments, and a path.
#[derive(Debug, Args)]
pub struct FolderArgs {
    /// The project's id or slug.
    #[arg(long, short = 'p')]
    project: String,
    /// The environment's slug (dev, staging, prod, …).
    #[arg(long = "env", short = 'e')]
    environment: String,
    /// The folder (default /).
    #[arg(long, default_value = "/")]
    path: String,
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Create or change a secret. The value is read from stdin (or --value-file), never from
    /// the command line.
    Set {
        key: String,
        #[command(flatten)]
        folder: FolderArgs,
        /// A file holding the value (`-` for stdin); its content is taken as it is.
        #[arg(long)]
        value_file: Option<PathBuf>,
        #[arg(long)]
        comment: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Print a secret's value (or all of it with --json).
    #[command(disable_version_flag = true)]
    Get {
        key: String,
        #[command(flatten)]
        folder: FolderArgs,
        /// A past version.
        #[arg(long)]
        version: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// List a folder's secrets; values stay hidden unless --show-values.
    List {
        #[command(flatten)]
        folder: FolderArgs,
        /// Include the folders below --path.
        #[arg(long)]
        recursive: bool,
        #[arg(long)]
        show_values: bool,
        #[arg(long)]
        json: bool,
    },
    /// Delete secrets with their history; several keys are deleted all or none.
    Delete {
        #[arg(required = true)]
        keys: Vec<String>,
        #[command(flatten)]
        folder: FolderArgs,
        #[arg(long)]
        json: bool,
    },
    /// Write the KEY=value lines of a .env file (`-` for stdin) into a folder.
    Import {
        file: PathBuf,
        #[command(flatten)]
        folder: FolderArgs,
        /// Leave keys that exist as they are.
        #[arg(long)]
        no_overwrite: bool,
        #[arg(long)]
        json: bool,
    },
    /// A secret's versions, newest first.
    History {
        key: String,
        #[command(flatten)]
        folder: FolderArgs,
        /// Include each version's value (audited).
        #[arg(long)]
        show_values: bool,
        #[arg(long)]
        json: bool,
    },
    /// Make a past version's value current again (as a new version).
    #[command(disable_version_flag = true)]
    Rollback {
        key: String,
        #[command(flatten)]
        folder: FolderArgs,
        #[arg(long)]
        version: u32,
        #[arg(long)]
        json: bool,
    },
}

fn looks_like_id(value: &str) -> bool {
    value.len() == 36 && value.bytes().filter(|b| *b == b'-').count() == 4
}

/// The project named by id or slug.
async fn resolve_project(client: &Client, project: &str) -> anyhow::Result<ProjectView> {
    if looks_like_id(project) {
        return Ok(client.project(project).await?);
    }
    let mut offset = 0;
    loop {
        let page = client
            .projects(&PageQuery {
                offset: Some(offset),
                limit: Some(100),
            })
            .await?;
        if let Some(found) = page.projects.iter().find(|view| view.slug == project) {
            return Ok(found.clone());
        }
        offset += page.projects.len() as u64;
        if page.projects.is_empty() || offset >= page.total_count {
            bail!("no project has the slug {project:?}");
        }
    }
}

/// The folder's request fields, with the project resolved to its id.
struct Folder {
    project_id: String,
    environment: String,
    path: String,
}

impl Folder {
    async fn resolve(client: &Client, args: FolderArgs) -> anyhow::Result<Folder> {
        Ok(Folder {
            project_id: resolve_project(client, &args.project).await?.id,
            environment: args.environment,
            path: args.path,
        })
    }

    fn location(&self) -> SecretLocation {
        SecretLocation {
            project_id: Some(self.project_id.clone()),
            workspace_id: None,
            environment: self.environment.clone(),
            secret_path: Some(self.path.clone()),
            secret_type: None,
        }
    }

    fn query(&self, version: Option<u32>) -> SecretQuery {
        SecretQuery {
            project_id: Some(self.project_id.clone()),
            environment: self.environment.clone(),
            secret_path: Some(self.path.clone()),
            version,
            ..SecretQuery::default()
        }
    }
}

/// Reads a value: the whole file, or stdin (one line when stdin is a terminal). One trailing
/// line break is dropped, as `echo` and editors add one.
fn read_value(file: Option<&Path>) -> anyhow::Result<SecretString> {
    let mut text = match file {
        Some(path) if path.as_os_str() != "-" => {
            let mut text = String::new();
            std::fs::File::open(path)
                .with_context(|| format!("cannot read the value file {}", path.display()))?
                .take(MAX_VALUE_READ)
                .read_to_string(&mut text)
                .with_context(|| format!("the value file {} is not UTF-8 text", path.display()))?;
            text
        }
        _ => {
            let stdin = std::io::stdin();
            let mut text = String::new();
            if stdin.is_terminal() {
                eprintln!("Type the value and press Enter:");
                stdin.lock().read_line(&mut text)?;
            } else {
                stdin
                    .lock()
                    .take(MAX_VALUE_READ)
                    .read_to_string(&mut text)
                    .context("the value on stdin is not UTF-8 text")?;
            }
            text
        }
    };
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(SecretString::from(text))
}

fn read_file(path: &Path) -> anyhow::Result<String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().lock().read_to_string(&mut text)?;
        return Ok(text);
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn print_secret_summary(secret: &SecretView, json: bool, wrapper: &str) -> anyhow::Result<()> {
    if json {
        return print_json(&serde_json::json!({ wrapper: secret }));
    }
    println!(
        "{} {} (version {}) in {} {}",
        wrapper, secret.secret_key, secret.version, secret.environment, secret.secret_path
    );
    Ok(())
}

fn is_not_found(error: &ClientError) -> bool {
    matches!(error, ClientError::Api(body) if body.status_code == ErrorKind::NotFound.status())
}

pub async fn projects(command: ProjectsCommand) -> anyhow::Result<()> {
    let client = Client::from_env()?;
    match command {
        ProjectsCommand::Create {
            name,
            slug,
            environments,
            json,
        } => {
            let environments = (!environments.is_empty()).then(|| {
                environments
                    .iter()
                    .map(|spec| match spec.split_once('=') {
                        Some((slug, name)) => NewEnvironmentRequest {
                            name: name.to_owned(),
                            slug: slug.to_owned(),
                        },
                        None => NewEnvironmentRequest {
                            name: spec.clone(),
                            slug: spec.clone(),
                        },
                    })
                    .collect()
            });
            let project = client
                .create_project(&CreateProjectRequest {
                    name,
                    slug,
                    environments,
                })
                .await?;
            if json {
                return print_json(&serde_json::json!({ "project": project }));
            }
            println!("created project {} ({})", project.slug, project.id);
        }
        ProjectsCommand::List { limit, offset, json } => {
            let list = client
                .projects(&PageQuery {
                    offset: Some(offset),
                    limit: Some(limit),
                })
                .await?;
            if json {
                return print_json(&serde_json::to_value(&list)?);
            }
            let mut table = Table::new();
            table.set_header(["id", "slug", "name", "environments"]);
            for project in &list.projects {
                let environments: Vec<&str> = project.environments.iter().map(|e| e.slug.as_str()).collect();
                table.add_row([
                    project.id.clone(),
                    project.slug.clone(),
                    project.name.clone(),
                    environments.join(", "),
                ]);
            }
            println!("{table}");
            println!("{} of {} projects", list.projects.len(), list.total_count);
        }
        ProjectsCommand::Delete { project, json } => {
            let id = resolve_project(&client, &project).await?.id;
            let deleted = client.delete_project(&id).await?;
            if json {
                return print_json(&serde_json::json!({ "project": deleted }));
            }
            println!("deleted project {} ({})", deleted.slug, deleted.id);
        }
    }
    Ok(())
}

pub async fn secrets(command: SecretsCommand) -> anyhow::Result<()> {
    let client = Client::from_env()?;
    match command {
        SecretsCommand::Set {
            key,
            folder,
            value_file,
            comment,
            json,
        } => {
            let value = read_value(value_file.as_deref())?;
            let folder = Folder::resolve(&client, folder).await?;
            let update = UpdateSecretRequest {
                project_id: Some(folder.project_id.clone()),
                workspace_id: None,
                environment: folder.environment.clone(),
                secret_path: Some(folder.path.clone()),
                secret_value: Some(value.clone()),
                secret_comment: comment.clone(),
                new_secret_name: None,
                tag_ids: None,
                tags: None,
                secret_type: None,
            };
            let secret = match client.update_secret(&key, &update).await {
                Ok(secret) => secret,
                Err(error) if is_not_found(&error) => {
                    let create = CreateSecretRequest {
                        project_id: Some(folder.project_id.clone()),
                        workspace_id: None,
                        environment: folder.environment.clone(),
                        secret_path: Some(folder.path.clone()),
                        secret_value: value,
                        secret_comment: comment,
                        tag_ids: None,
                        tags: None,
                        secret_type: None,
                    };
                    client.create_secret(&key, &create).await?
                }
                Err(error) => return Err(error.into()),
            };
            print_secret_summary(&secret, json, "secret")?;
        }
        SecretsCommand::Get {
            key,
            folder,
            version,
            json,
        } => {
            let folder = Folder::resolve(&client, folder).await?;
            let secret = client.secret(&key, &folder.query(version)).await?;
            if json {
                return print_json(&serde_json::json!({ "secret": secret }));
            }
            println!("{}", secret.secret_value.expose_secret());
        }
        SecretsCommand::List {
            folder,
            recursive,
            show_values,
            json,
        } => {
            let folder = Folder::resolve(&client, folder).await?;
            let query = SecretListQuery {
                project_id: Some(folder.project_id.clone()),
                environment: folder.environment.clone(),
                secret_path: Some(folder.path.clone()),
                recursive: recursive.then_some(true),
                ..SecretListQuery::default()
            };
            let list = client.secrets(&query).await?;
            if json {
                let mut value = serde_json::to_value(&list)?;
                if !show_values
                    && let Some(secrets) = value.get_mut("secrets").and_then(serde_json::Value::as_array_mut)
                {
                    for secret in secrets.iter_mut().filter_map(serde_json::Value::as_object_mut) {
                        secret.insert("secretValue".to_owned(), serde_json::Value::Null);
                    }
                }
                return print_json(&value);
            }
            let mut table = Table::new();
            table.set_header(["path", "key", "value", "version", "updated", "comment"]);
            for secret in &list.secrets {
                let value = if show_values {
                    secret.secret_value.expose_secret().to_owned()
                } else {
                    "••••••".to_owned()
                };
                table.add_row([
                    secret.secret_path.clone(),
                    secret.secret_key.clone(),
                    value,
                    secret.version.to_string(),
                    secret.updated_at.clone(),
                    secret.secret_comment.clone(),
                ]);
            }
            println!("{table}");
        }
        SecretsCommand::Delete { keys, folder, json } => {
            let folder = Folder::resolve(&client, folder).await?;
            let deleted = match keys.as_slice() {
                [key] => vec![client.delete_secret(key, &folder.location()).await?],
                _ => {
                    let request = BatchSecretsRequest {
                        project_id: Some(folder.project_id.clone()),
                        workspace_id: None,
                        environment: folder.environment.clone(),
                        secret_path: Some(folder.path.clone()),
                        secrets: keys.iter().map(|key| batch_key(key)).collect(),
                    };
                    client.batch_secrets(Method::DELETE, &request).await?
                }
            };
            if json {
                return print_json(&serde_json::json!({ "secrets": deleted }));
            }
            for secret in &deleted {
                println!(
                    "deleted {} from {} {}",
                    secret.secret_key, secret.environment, secret.secret_path
                );
            }
        }
        SecretsCommand::Import {
            file,
            folder,
            no_overwrite,
            json,
        } => {
            let content = read_file(&file)?;
            let folder = Folder::resolve(&client, folder).await?;
            let summary = client
                .import_secrets(&ImportSecretsRequest {
                    project_id: Some(folder.project_id.clone()),
                    workspace_id: None,
                    environment: folder.environment.clone(),
                    secret_path: Some(folder.path.clone()),
                    content,
                    overwrite: Some(!no_overwrite),
                })
                .await?;
            if json {
                return print_json(&serde_json::to_value(&summary)?);
            }
            for (label, keys) in [
                ("created", &summary.created),
                ("updated", &summary.updated),
                ("unchanged", &summary.unchanged),
            ] {
                println!("{label} ({}): {}", keys.len(), keys.join(", "));
            }
        }
        SecretsCommand::History {
            key,
            folder,
            show_values,
            json,
        } => {
            let folder = Folder::resolve(&client, folder).await?;
            let query = SecretHistoryQuery {
                project_id: Some(folder.project_id.clone()),
                workspace_id: None,
                environment: folder.environment.clone(),
                secret_path: Some(folder.path.clone()),
                include_values: show_values.then_some(true),
            };
            let history = client.secret_history(&key, &query).await?;
            if json {
                return print_json(&serde_json::to_value(&history)?);
            }
            let mut table = Table::new();
            let mut header = vec!["version", "key", "comment", "by", "at"];
            if show_values {
                header.push("value");
            }
            table.set_header(header);
            for version in &history.versions {
                let by = match &version.actor.id {
                    Some(id) => format!("{} {id}", version.actor.kind),
                    None => version.actor.kind.to_string(),
                };
                let mut row = vec![
                    version.version.to_string(),
                    version.secret_key.clone(),
                    version.secret_comment.clone(),
                    by,
                    version.created_at.clone(),
                ];
                if let Some(value) = &version.secret_value {
                    row.push(value.expose_secret().to_owned());
                }
                table.add_row(row);
            }
            println!("{table}");
        }
        SecretsCommand::Rollback {
            key,
            folder,
            version,
            json,
        } => {
            let folder = Folder::resolve(&client, folder).await?;
            let request = RollbackSecretRequest {
                project_id: Some(folder.project_id.clone()),
                workspace_id: None,
                environment: folder.environment.clone(),
                secret_path: Some(folder.path.clone()),
                version,
            };
            let secret = client.rollback_secret(&key, &request).await?;
            print_secret_summary(&secret, json, "secret")?;
        }
    }
    Ok(())
}

/// A batch entry that names a secret only.
fn batch_key(key: &str) -> BatchSecret {
    BatchSecret {
        secret_key: key.to_owned(),
        secret_value: None,
        secret_comment: None,
        new_secret_name: None,
        tag_ids: None,
        tags: None,
        secret_type: None,
    }
}
