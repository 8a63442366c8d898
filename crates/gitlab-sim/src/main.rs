//! `labgate-gitlab-sim`: serves a simulated GitLab and prints its URL.

#![forbid(unsafe_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use gitlab_sim::{Mode, Seed, SimOptions, SimServer};

#[derive(Debug, Parser)]
#[command(
    name = "labgate-gitlab-sim",
    version,
    about = "A stateful GitLab simulator for tests and demos"
)]
struct Args {
    /// Seed file (JSON); an empty instance without it.
    #[arg(long, env = "GITLAB_SIM_SEED")]
    seed: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0", env = "GITLAB_SIM_LISTEN")]
    listen: SocketAddr,
    /// `gitlab.com` or `self-managed`; overrides the seed.
    #[arg(long, env = "GITLAB_SIM_MODE")]
    mode: Option<Mode>,
    /// Relative URL root, e.g. `/gitlab`.
    #[arg(long, default_value = "", env = "GITLAB_SIM_PATH_PREFIX")]
    path_prefix: String,
    /// Adds the generated benchmark instance at this scale (1 = 20,000 users, 2,000 groups,
    /// 50,000 projects, 500,000 memberships, 2,000 shares) after the seed's own entries.
    #[arg(long, env = "GITLAB_SIM_GENERATE")]
    generate: Option<f64>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut seed = match &args.seed {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading seed {}", path.display()))?;
            Seed::from_json(&text).with_context(|| format!("parsing seed {}", path.display()))?
        }
        None => Seed::default(),
    };
    if let Some(m) = args.mode {
        seed.mode = m;
    }
    if let Some(scale) = args.generate {
        anyhow::ensure!(
            scale.is_finite() && scale > 0.0,
            "--generate takes a positive scale, e.g. 0.05 or 1"
        );
        seed.generate = Some(gitlab_sim::Generate::large().scaled(scale));
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let sim = SimServer::start_with(
            seed,
            SimOptions {
                listen: args.listen,
                path_prefix: args.path_prefix,
            },
        )
        .await
        .context("starting the simulator")?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", sim.url())?;
        out.flush()?;
        drop(out);
        shutdown_signal().await;
        sim.shutdown().await;
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
