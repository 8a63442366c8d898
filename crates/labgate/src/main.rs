//! The `labgate` binary: the server, the worker, and the operator's commands.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod commands;
mod config;
mod logging;
mod runtime;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::FlagOverrides;

// A server answers many small requests, each allocating a little: glibc's allocator spent about
// a sixth of the request path's CPU in the credential broker benchmark (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// labgate: a self-hosted GitLab connection hub. It holds GitLab credentials in an encrypted
/// vault, keeps them fresh and healthy, and puts them to work.
#[derive(Debug, Parser)]
#[command(name = "labgate", version, propagate_version = true, max_term_width = 100)]
struct Cli {
    /// Configuration file (default: ./labgate.toml when it exists).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory for the embedded database and root.key [env: LABGATE_DATA_DIR] [default: labgate-data]
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// sqlite://PATH or postgres://USER@HOST/DB [env: LABGATE_DATABASE_URL]
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API and run background jobs in one process.
    Serve {
        /// Address to listen on [env: LABGATE_LISTEN] [default: 127.0.0.1:8080]
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Serve the API only; leave background jobs to `labgate worker` processes.
        #[arg(long)]
        no_worker: bool,
    },
    /// Run background jobs only (any number of workers may share one database).
    Worker,
    /// Apply database migrations and report the schema version.
    Migrate,
    /// Root keys and tenant data keys.
    #[command(subcommand)]
    Keys(commands::admin::KeysCommand),
    /// Tenants: the isolation boundary for keys and data (works on the database directly).
    #[command(subcommand)]
    Tenants(commands::admin::TenantsCommand),
    /// API keys (works on the database directly, so an operator can always get in).
    #[command(subcommand, name = "api-keys")]
    ApiKeys(commands::admin::ApiKeysCommand),
    /// People who log in to the web UI (works on the database directly, like api-keys).
    #[command(subcommand)]
    Users(commands::admin::UsersCommand),
    /// Background jobs of a running server (LABGATE_URL, LABGATE_API_KEY).
    #[command(subcommand)]
    Jobs(commands::remote::JobsCommand),
    /// GitLab connections of a running server (LABGATE_URL, LABGATE_API_KEY).
    #[command(subcommand)]
    Connections(commands::connections::ConnectionsCommand),
    /// Projects of secrets of a running server (LABGATE_URL, LABGATE_API_KEY).
    #[command(subcommand)]
    Projects(commands::secrets::ProjectsCommand),
    /// Secrets of a running server: set, get, list, import, history, rollback, delete.
    #[command(subcommand)]
    Secrets(commands::secrets::SecretsCommand),
    /// Secret syncs to GitLab CI/CD variables of a running server (LABGATE_URL, LABGATE_API_KEY).
    #[command(subcommand)]
    Syncs(commands::syncs::SyncsCommand),
    /// Access sync and provisioning of a running server: sync a source, its accounts and grants,
    /// a sync's diff, provisioning (LABGATE_URL, LABGATE_API_KEY).
    #[command(subcommand)]
    Access(commands::access::AccessCommand),
    /// Scan a directory, a git repository's whole history, or a remote repository for secrets.
    Scan(labgate_scan::cli::ScanArgs),
    /// Configuration checks.
    #[command(subcommand)]
    Config(commands::admin::ConfigCommand),
    /// Try labgate without a GitLab: labgate and a simulated GitLab with demo data, on a
    /// temporary database removed on exit (kept with --data-dir), or on the database named by
    /// --database-url [env: LABGATE_DEMO_DATABASE_URL].
    Demo(commands::demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Scanning needs no server configuration and runs its own thread pool.
    if let Command::Scan(args) = cli.command {
        return match labgate_scan::cli::run(args) {
            Ok(code) => code,
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::from(2)
            }
        };
    }
    // The demo chooses every setting itself; a configuration meant for a real server must not
    // leak into it (or the demo's data into that server's database).
    // Only a database named for the demo itself (the flag, or LABGATE_DEMO_DATABASE_URL) is
    // used: a server's LABGATE_DATABASE_URL in the environment never is.
    if let Command::Demo(args) = cli.command {
        if cli.config.is_some() {
            eprintln!("error: labgate demo runs on its own settings: --config does not apply");
            return ExitCode::from(2);
        }
        let database_url = cli
            .database_url
            .or_else(|| std::env::var(commands::demo::DEMO_DATABASE_URL_VARIABLE).ok())
            .filter(|url| !url.trim().is_empty())
            .map(secrecy::SecretString::from);
        return run_async(commands::demo::demo(args, cli.data_dir, database_url));
    }
    let flags = FlagOverrides {
        listen: match &cli.command {
            Command::Serve { listen, .. } => listen.clone(),
            _ => None,
        },
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
    };
    let config = match config::load(cli.config.as_deref(), &flags) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let long_running = matches!(cli.command, Command::Serve { .. } | Command::Worker);
    logging::init(
        config.json_logs,
        if long_running { &config.log_level } else { "warn" },
    );
    for name in &config.unknown_variables {
        tracing::warn!(variable = %name, "ignoring an environment variable that is not a labgate setting");
    }
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve { no_worker, .. } => commands::serve::serve(config, !no_worker).await,
            Command::Worker => commands::serve::worker(config).await,
            Command::Migrate => commands::admin::migrate(config).await,
            Command::Keys(command) => commands::admin::keys(config, command).await,
            Command::Tenants(command) => commands::admin::tenants(config, command).await,
            Command::ApiKeys(command) => commands::admin::api_keys(config, command).await,
            Command::Users(command) => commands::admin::users(config, command).await,
            Command::Config(command) => commands::admin::config(config, command),
            Command::Jobs(command) => commands::remote::jobs(command).await,
            Command::Connections(command) => commands::connections::connections(command).await,
            Command::Projects(command) => commands::secrets::projects(command).await,
            Command::Secrets(command) => commands::secrets::secrets(command).await,
            Command::Syncs(command) => commands::syncs::syncs(command).await,
            Command::Access(command) => commands::access::access(command).await,
            Command::Scan(_) | Command::Demo(_) => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command that sets up its own logging on a fresh runtime.
fn run_async(command: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
