//! `labgate syncs`: secret syncs to GitLab CI/CD variables on a running server (`LABGATE_URL`,
//! `LABGATE_API_KEY`). `run`, `import` and `remove` follow their job with a progress bar and
//! exit non-zero unless the sync's last action succeeded.

use anyhow::bail;
use clap::{Args, Subcommand};
use comfy_table::Table;
use labgate_client::Client;
use labgate_proto::secret_syncs::{
    CreateSecretSyncRequest, GitLabDestinationConfig, ImportBehavior, InitialSyncBehavior, SecretSyncView,
    SyncOptions, SyncScope, SyncStatus, VariableType,
};

use super::remote::follow;

#[derive(Debug, Subcommand)]
pub enum SyncsCommand {
    /// Sync a folder of secrets to a GitLab project's (or --group's) CI/CD variables.
    Create(Box<CreateArgs>),
    /// List the syncs of a secrets project.
    List {
        #[arg(long)]
        project: String,
        #[arg(long)]
        json: bool,
    },
    /// Show what a sync would do now, key by key; writes nothing.
    Plan {
        sync: String,
        #[arg(long)]
        json: bool,
    },
    /// Sync now and follow the job.
    Run {
        sync: String,
        #[arg(long)]
        json: bool,
    },
    /// Import GitLab's variables into the folder and follow the job.
    Import {
        sync: String,
        /// prioritize-source (default) or prioritize-destination.
        #[arg(long, default_value = "prioritize-source", value_parser = parse_import)]
        behavior: ImportBehavior,
        #[arg(long)]
        json: bool,
    },
    /// Delete at GitLab the variables the sync wrote, and follow the job.
    Remove {
        sync: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// A slug: lowercase letters, digits and dashes.
    #[arg(long)]
    name: String,
    /// The connection (its id) that writes the variables; needs Maintainer at the destination.
    #[arg(long)]
    connection: String,
    /// The secrets project's id.
    #[arg(long)]
    project: String,
    /// The environment's slug.
    #[arg(long)]
    environment: String,
    /// The folder (default `/`).
    #[arg(long, default_value = "/")]
    path: String,
    /// The GitLab project (id or full path).
    #[arg(
        long,
        conflicts_with = "gitlab_group",
        required_unless_present = "gitlab_group"
    )]
    gitlab_project: Option<String>,
    /// The GitLab group (id or full path), instead of a project.
    #[arg(long)]
    gitlab_group: Option<String>,
    /// The variables' environment scope (default `*`).
    #[arg(long)]
    target_environment: Option<String>,
    #[arg(long)]
    protect: bool,
    #[arg(long)]
    mask: bool,
    /// Masked and hidden: GitLab never shows the values again.
    #[arg(long)]
    hide: bool,
    /// Write `file` variables instead of `env_var`.
    #[arg(long)]
    file: bool,
    /// Let GitLab expand `$NAME` in values (default: values are raw).
    #[arg(long)]
    expand: bool,
    /// e.g. `APP_{{secretKey}}`.
    #[arg(long)]
    key_schema: Option<String>,
    /// overwrite-destination (default), import-prioritize-source or
    /// import-prioritize-destination.
    #[arg(long, default_value = "overwrite-destination", value_parser = parse_initial)]
    initial: InitialSyncBehavior,
    /// Never delete variables at GitLab.
    #[arg(long)]
    no_delete: bool,
    /// Do not sync on every change of the folder.
    #[arg(long)]
    no_auto_sync: bool,
    #[arg(long)]
    description: Option<String>,
    #[arg(long)]
    json: bool,
}

fn parse_initial(value: &str) -> Result<InitialSyncBehavior, String> {
    InitialSyncBehavior::parse(value)
        .ok_or_else(|| format!("expected one of {}", InitialSyncBehavior::names()))
}

fn parse_import(value: &str) -> Result<ImportBehavior, String> {
    ImportBehavior::parse(value).ok_or_else(|| format!("expected one of {}", ImportBehavior::names()))
}

fn status(status: Option<SyncStatus>) -> &'static str {
    status.map_or("-", SyncStatus::as_str)
}

fn print_sync(sync: &SecretSyncView) {
    let target = sync
        .destination_config
        .project_name
        .clone()
        .or_else(|| sync.destination_config.group_name.clone())
        .unwrap_or_default();
    println!(
        "{} {} ({} {} → {} {}) sync: {}{}",
        sync.id,
        sync.name,
        sync.environment.slug,
        sync.folder.path,
        sync.destination_config.scope,
        target,
        status(sync.sync_status),
        sync.last_sync_message
            .as_deref()
            .map(|m| format!(" — {m}"))
            .unwrap_or_default()
    );
}

pub async fn syncs(command: SyncsCommand) -> anyhow::Result<()> {
    let client = Client::from_env()?;
    match command {
        SyncsCommand::Create(args) => {
            let CreateArgs {
                name,
                connection,
                project,
                environment,
                path,
                gitlab_project,
                gitlab_group,
                target_environment,
                protect,
                mask,
                hide,
                file,
                expand,
                key_schema,
                initial,
                no_delete,
                no_auto_sync,
                description,
                json,
            } = *args;
            let scope = if gitlab_group.is_some() {
                SyncScope::Group
            } else {
                SyncScope::Project
            };
            let request = CreateSecretSyncRequest {
                name,
                description,
                connection_id: connection,
                project_id: project,
                environment,
                secret_path: path,
                is_auto_sync_enabled: Some(!no_auto_sync),
                destination_config: GitLabDestinationConfig {
                    scope,
                    project_id: gitlab_project,
                    project_name: None,
                    group_id: gitlab_group,
                    group_name: None,
                    target_environment,
                    should_protect_secrets: protect,
                    should_mask_secrets: mask,
                    should_hide_secrets: hide,
                    variable_type: file.then_some(VariableType::File),
                    expand_variables: expand,
                    description: None,
                },
                sync_options: SyncOptions {
                    initial_sync_behavior: initial,
                    key_schema,
                    disable_secret_deletion: no_delete,
                    delete_unowned_matching_keys: false,
                },
            };
            let sync = client.create_secret_sync(&request).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&sync)?);
            } else {
                print_sync(&sync);
            }
        }
        SyncsCommand::List { project, json } => {
            let list = client.secret_syncs(&project).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            let mut table = Table::new();
            table.set_header([
                "id",
                "name",
                "folder",
                "destination",
                "auto",
                "sync",
                "last synced",
            ]);
            for sync in &list.secret_syncs {
                let config = &sync.destination_config;
                table.add_row([
                    sync.id.clone(),
                    sync.name.clone(),
                    format!("{}:{}", sync.environment.slug, sync.folder.path),
                    format!(
                        "{} {}",
                        config.scope,
                        config
                            .project_name
                            .clone()
                            .or_else(|| config.group_name.clone())
                            .unwrap_or_default()
                    ),
                    sync.is_auto_sync_enabled.to_string(),
                    status(sync.sync_status).to_owned(),
                    sync.last_synced_at.clone().unwrap_or_default(),
                ]);
            }
            println!("{table}");
        }
        SyncsCommand::Plan { sync, json } => {
            let plan = client.secret_sync_plan(&sync).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&plan)?);
                return Ok(());
            }
            let mut table = Table::new();
            table.set_header(["key", "action", "reason"]);
            for entry in &plan.plan {
                table.add_row([
                    entry.key.clone(),
                    entry.action.as_str().to_owned(),
                    entry.reason.clone(),
                ]);
            }
            println!("{table}");
        }
        SyncsCommand::Run { sync, json } => {
            let started = client.sync_secrets(&sync).await?;
            let done = finish(&client, &started.id, started.last_sync_job_id.as_deref(), |s| {
                s.sync_status
            })
            .await?;
            report(&done, json, done.sync_status, done.last_sync_message.as_deref())?;
        }
        SyncsCommand::Import { sync, behavior, json } => {
            let started = client.import_sync_secrets(&sync, behavior).await?;
            let done = finish(&client, &started.id, started.last_import_job_id.as_deref(), |s| {
                s.import_status
            })
            .await?;
            report(
                &done,
                json,
                done.import_status,
                done.last_import_message.as_deref(),
            )?;
        }
        SyncsCommand::Remove { sync, json } => {
            let started = client.remove_sync_secrets(&sync).await?;
            let done = finish(&client, &started.id, started.last_remove_job_id.as_deref(), |s| {
                s.remove_status
            })
            .await?;
            report(
                &done,
                json,
                done.remove_status,
                done.last_remove_message.as_deref(),
            )?;
        }
    }
    Ok(())
}

/// Follows the action's job to its end and reads the sync again.
async fn finish(
    client: &Client,
    sync: &str,
    job: Option<&str>,
    status: impl Fn(&SecretSyncView) -> Option<SyncStatus>,
) -> anyhow::Result<SecretSyncView> {
    let Some(job) = job else {
        bail!("the server queued no job for this action");
    };
    let job = client.job(job).await?;
    let job = follow(client, job).await?;
    let view = client.secret_sync(sync).await?;
    if status(&view).is_none() {
        bail!(
            "job {} ended ({}) without a status on the sync",
            job.id,
            job.state.as_str()
        );
    }
    Ok(view)
}

fn report(
    sync: &SecretSyncView,
    json: bool,
    status: Option<SyncStatus>,
    message: Option<&str>,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(sync)?);
    } else {
        println!("{}: {}", self::status(status), message.unwrap_or(""));
    }
    match status {
        Some(SyncStatus::Succeeded) => Ok(()),
        Some(other) => bail!("the secret sync ended {other}; see `labgate syncs plan` and the results"),
        None => bail!("the secret sync has no status"),
    }
}
