//! `labgate access`: access syncs of a running server (`LABGATE_URL`, `LABGATE_API_KEY`). `sync`
//! queues a sync and with `--wait` follows it to its end (exit 1 if it failed); `accounts` and
//! `grants` read the source's newest successful sync, a page as a table or everything as JSON or
//! CSV; `diff` shows what a sync changed.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::bail;
use clap::Subcommand;
use comfy_table::Table;
use indicatif::{ProgressBar, ProgressStyle};
use labgate_client::{AccessSync, Client};
use labgate_proto::access_reports::{
    AccessAccountExportQuery, AccessAccountListQuery, AccessExportFormat, AccessGrantExportQuery,
    AccessGrantListQuery, AccessGrantPathKind, AccessGrantView, AccessResourceRef, AccessSyncRef,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

fn parse_format(value: &str) -> Result<Format, String> {
    match value {
        "table" => Ok(Format::Table),
        "json" => Ok(Format::Json),
        "csv" => Ok(Format::Csv),
        _ => Err("expected table, json or csv".to_owned()),
    }
}

#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Queue a sync of an access source; with --wait, follow it until it ends.
    Sync {
        /// The access source's id.
        source: String,
        /// Follow the sync with a progress bar (on a terminal) and exit 1 if it fails.
        #[arg(long)]
        wait: bool,
        #[arg(long)]
        json: bool,
    },
    /// Accounts of the source's newest successful sync: a page as a table, or every account as
    /// JSON or CSV.
    Accounts {
        /// The access source's id.
        #[arg(long)]
        source: String,
        /// Part of a username, name or e-mail.
        #[arg(long)]
        search: Option<String>,
        /// table (a page), json or csv (everything).
        #[arg(long, default_value = "table", value_parser = parse_format)]
        format: Format,
        /// Rows of the table (1-100).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Rows to skip in the table.
        #[arg(long, default_value_t = 0)]
        offset: u64,
    },
    /// Effective grants of the source's newest successful sync, with the path each comes by: a
    /// page as a table, or every grant as JSON or CSV.
    Grants {
        /// The access source's id.
        #[arg(long)]
        source: String,
        /// Only this account's grants (a username).
        #[arg(long)]
        account: Option<String>,
        /// Only grants on this group or project (a full path).
        #[arg(long)]
        resource: Option<String>,
        /// table (a page), json or csv (everything).
        #[arg(long, default_value = "table", value_parser = parse_format)]
        format: Format,
        /// Rows of the table (1-100).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Rows to skip in the table.
        #[arg(long, default_value_t = 0)]
        offset: u64,
    },
    /// What a sync changed since the previous successful sync of its source.
    Diff {
        /// The sync's id.
        sync: String,
        #[arg(long)]
        json: bool,
    },
    /// Create accounts, grant, revoke and deprovision on an access source's GitLab.
    Provision(super::access_provision::ProvisionArgs),
}

/// Progress bars only for people: not in pipes, not in CI.
fn interactive() -> bool {
    std::io::stdout().is_terminal() && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none()
}

fn sync_line(sync: &AccessSync) -> String {
    let total = sync
        .progress
        .total
        .map(|total| format!("/{total}"))
        .unwrap_or_default();
    let phase = sync
        .progress
        .phase
        .as_deref()
        .map(|phase| format!(" {phase}"))
        .unwrap_or_default();
    format!(
        "sync {} {} ({}{total}{phase})",
        sync.id, sync.status, sync.progress.done
    )
}

/// Follows a sync until it ends, with a progress bar on a terminal.
async fn follow(client: &Client, mut sync: AccessSync) -> anyhow::Result<AccessSync> {
    let bar = if interactive() {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    while !sync.is_finished() {
        bar.set_length(sync.progress.total.unwrap_or(0));
        bar.set_position(sync.progress.done);
        bar.set_message(format!(
            "{} {}",
            sync.status,
            sync.progress.phase.clone().unwrap_or_default()
        ));
        tokio::time::sleep(Duration::from_millis(500)).await;
        sync = client.access_sync(&sync.id).await?;
    }
    bar.finish_and_clear();
    Ok(sync)
}

fn last_sync_line(last_sync: Option<&AccessSyncRef>) -> String {
    match last_sync {
        Some(sync) => format!(
            "from sync {} (finished {})",
            sync.id,
            sync.finished_at.as_deref().unwrap_or("-")
        ),
        None => "the source has no successful sync yet".to_owned(),
    }
}

fn path_of(reference: Option<&AccessResourceRef>) -> String {
    reference.map_or_else(String::new, |r| {
        r.full_path.clone().unwrap_or_else(|| format!("#{}", r.id))
    })
}

/// "direct", "inherited via acme", "shared via partners (cap Developer)".
fn path_words(grant: &AccessGrantView) -> String {
    let via = path_of(grant.path.via.as_ref());
    match grant.path.kind {
        AccessGrantPathKind::Direct => "direct".to_owned(),
        AccessGrantPathKind::Inherited => format!("inherited via {via}"),
        AccessGrantPathKind::Shared => match &grant.path.capped_at {
            Some(cap) => format!("shared via {via} (cap {})", cap.name),
            None => format!("shared via {via}"),
        },
    }
}

fn level_words(grant: &AccessGrantView) -> String {
    let level = &grant.access_level;
    match &level.custom_role {
        Some(role) => format!("{} ({}) + {}", level.name, level.value, role.name),
        None => format!("{} ({})", level.name, level.value),
    }
}

fn grant_row(grant: &AccessGrantView) -> Vec<String> {
    vec![
        grant
            .account
            .username
            .clone()
            .unwrap_or_else(|| format!("#{}", grant.account.id)),
        format!(
            "{} {}",
            grant.resource.kind.as_str(),
            path_of(Some(&grant.resource))
        ),
        level_words(grant),
        path_words(grant),
        grant.expires_at.clone().unwrap_or_default(),
    ]
}

fn export_format(format: Format) -> AccessExportFormat {
    match format {
        Format::Csv => AccessExportFormat::Csv,
        Format::Json | Format::Table => AccessExportFormat::Json,
    }
}

pub async fn access(command: AccessCommand) -> anyhow::Result<()> {
    let client = Client::from_env()?;
    match command {
        AccessCommand::Provision(args) => super::access_provision::run(args).await?,
        AccessCommand::Sync { source, wait, json } => {
            let mut sync = client.sync_access_source(&source).await?;
            if wait {
                sync = follow(&client, sync).await?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&sync)?);
            } else {
                println!("{}", sync_line(&sync));
                if let Some(error) = &sync.error {
                    println!("error: {error}");
                }
            }
            if wait && sync.status == "failed" {
                bail!(
                    "access sync {} failed: {}",
                    sync.id,
                    sync.error.as_deref().unwrap_or("no reason given")
                );
            }
        }
        AccessCommand::Accounts {
            source,
            search,
            format,
            limit,
            offset,
        } => {
            if format != Format::Table {
                let query = AccessAccountExportQuery {
                    source_id: Some(source),
                    format: Some(export_format(format)),
                    search,
                };
                let stdout = std::io::stdout();
                client.export_access_accounts(&query, &mut stdout.lock()).await?;
                return Ok(());
            }
            let query = AccessAccountListQuery {
                source_id: Some(source),
                search,
                offset: Some(offset),
                limit: Some(limit),
            };
            let list = client.access_accounts(&query).await?;
            let mut table = Table::new();
            table.set_header([
                "username",
                "name",
                "kind",
                "state",
                "admin",
                "email",
                "last sign-in",
            ]);
            for account in &list.accounts {
                table.add_row([
                    account.username.clone(),
                    account.name.clone(),
                    account.kind.as_str().to_owned(),
                    account.state.as_str().to_owned(),
                    account.is_admin.map_or("?".to_owned(), |admin| {
                        if admin { "yes" } else { "no" }.to_owned()
                    }),
                    account.email.clone().unwrap_or_default(),
                    account.last_sign_in_at.clone().unwrap_or_default(),
                ]);
            }
            println!("{table}");
            println!(
                "{} of {} accounts, {}",
                list.accounts.len(),
                list.total_count,
                last_sync_line(list.last_sync.as_ref())
            );
        }
        AccessCommand::Grants {
            source,
            account,
            resource,
            format,
            limit,
            offset,
        } => {
            if format != Format::Table {
                let query = AccessGrantExportQuery {
                    source_id: Some(source),
                    format: Some(export_format(format)),
                    account,
                    resource,
                };
                let stdout = std::io::stdout();
                client.export_access_grants(&query, &mut stdout.lock()).await?;
                return Ok(());
            }
            let query = AccessGrantListQuery {
                source_id: Some(source),
                account,
                resource,
                offset: Some(offset),
                limit: Some(limit),
            };
            let list = client.access_grants(&query).await?;
            let mut table = Table::new();
            table.set_header(["account", "resource", "access level", "path", "expires"]);
            for grant in &list.grants {
                table.add_row(grant_row(grant));
            }
            println!("{table}");
            println!(
                "{} of {} grants, {}",
                list.grants.len(),
                list.total_count,
                last_sync_line(list.last_sync.as_ref())
            );
        }
        AccessCommand::Diff { sync, json } => {
            let diff = client.access_sync_diff(&sync).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&diff)?);
                return Ok(());
            }
            match &diff.base {
                Some(base) => println!("sync {} against sync {}", diff.sync.id, base.id),
                None => println!(
                    "sync {}: the source's first successful sync, everything is new",
                    diff.sync.id
                ),
            }
            let mut table = Table::new();
            table.set_header(["change", "account", "resource", "access level", "path", "expires"]);
            let mut add = |change: &str, grant: &AccessGrantView| {
                let mut row = vec![change.to_owned()];
                row.extend(grant_row(grant));
                table.add_row(row);
            };
            for grant in &diff.added {
                add("added", grant);
            }
            for grant in &diff.removed {
                add("removed", grant);
            }
            for change in &diff.changed {
                add(
                    &format!("changed from {}", level_words(&change.before)),
                    &change.after,
                );
            }
            println!("{table}");
            println!(
                "{} added, {} removed, {} changed",
                diff.counts.added, diff.counts.removed, diff.counts.changed
            );
            let listed = (diff.added.len() + diff.removed.len() + diff.changed.len()) as u64;
            if listed < diff.counts.added + diff.counts.removed + diff.counts.changed {
                println!("the table lists the first of each kind of change; the grants listing has them all");
            }
            for account in &diff.new_admins {
                println!("new administrator: {} ({})", account.username, account.name);
            }
            for grant in &diff.new_owners {
                println!(
                    "new owner: {} of {}",
                    grant.account.username.as_deref().unwrap_or("?"),
                    path_of(Some(&grant.resource))
                );
            }
        }
    }
    Ok(())
}
