//! Commands that talk to a running labgate server (`LABGATE_URL`, `LABGATE_API_KEY`).

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::bail;
use clap::Subcommand;
use comfy_table::Table;
use indicatif::{ProgressBar, ProgressStyle};
use labgate_client::Client;
use labgate_proto::jobs::{JobListQuery, JobState, JobView};

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List background jobs, newest first.
    List {
        /// queued, running, succeeded or failed.
        #[arg(long, value_parser = parse_state)]
        state: Option<JobState>,
        /// Only this kind, e.g. maintenance.prune.
        #[arg(long)]
        kind: Option<String>,
        /// At most this many (1-100).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Show one job; with --watch, follow its progress until it finishes (exit 1 if it failed).
    Show {
        id: String,
        #[arg(long)]
        watch: bool,
        #[arg(long)]
        json: bool,
    },
}

fn parse_state(value: &str) -> Result<JobState, String> {
    JobState::parse(value).ok_or_else(|| "expected queued, running, succeeded or failed".to_owned())
}

fn progress_text(job: &JobView) -> String {
    let total = job
        .progress
        .total
        .map(|total| format!("/{total}"))
        .unwrap_or_default();
    let phase = job
        .progress
        .phase
        .as_deref()
        .map(|phase| format!(" {phase}"))
        .unwrap_or_default();
    format!("{}{total}{phase}", job.progress.done)
}

/// Progress bars only for people: not in pipes, not in CI.
fn interactive() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("CI").is_none()
}

pub async fn jobs(command: JobsCommand) -> anyhow::Result<()> {
    let client = Client::from_env()?;
    match command {
        JobsCommand::List {
            state,
            kind,
            limit,
            json,
        } => {
            let query = JobListQuery {
                state,
                kind,
                offset: None,
                limit: Some(limit),
            };
            let list = client.jobs(&query).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            let mut table = Table::new();
            table.set_header([
                "id",
                "kind",
                "state",
                "progress",
                "attempts",
                "created",
                "last error",
            ]);
            for job in &list.jobs {
                table.add_row([
                    job.id.clone(),
                    job.kind.clone(),
                    job.state.as_str().to_owned(),
                    progress_text(job),
                    format!("{}/{}", job.attempts, job.max_attempts),
                    job.created_at.clone(),
                    job.last_error.clone().unwrap_or_default(),
                ]);
            }
            println!("{table}");
            println!("{} of {} jobs", list.jobs.len(), list.total_count);
        }
        JobsCommand::Show { id, watch, json } => {
            let mut job = client.job(&id).await?;
            if watch {
                job = follow(&client, job).await?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&job)?);
            } else {
                println!(
                    "{} {} {} ({})",
                    job.id,
                    job.kind,
                    job.state.as_str(),
                    progress_text(&job)
                );
                if let Some(error) = &job.last_error {
                    println!("last error: {error}");
                }
            }
            if watch && job.state == JobState::Failed {
                bail!("job {} failed", job.id);
            }
        }
    }
    Ok(())
}

/// Follows a job until it finishes, with a progress bar on a terminal.
pub(crate) async fn follow(client: &Client, mut job: JobView) -> anyhow::Result<JobView> {
    let bar = if interactive() {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    while !job.state.is_finished() {
        bar.set_length(job.progress.total.unwrap_or(0));
        bar.set_position(job.progress.done);
        bar.set_message(format!(
            "{} {}",
            job.kind,
            job.progress.phase.clone().unwrap_or_default()
        ));
        tokio::time::sleep(Duration::from_millis(500)).await;
        job = client.job(&job.id).await?;
    }
    bar.finish_and_clear();
    Ok(job)
}
