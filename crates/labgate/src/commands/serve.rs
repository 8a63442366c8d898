//! `labgate serve` and `labgate worker`.

use anyhow::Context;
use labgate_core::Services;
use labgate_core::auth::{Actor, KeyRequest};
use labgate_core::jobs::Holder;
use labgate_core::tenants::DEFAULT_TENANT;
use labgate_proto::api_keys::Role;
use labgate_server::{AppState, BoundServer, ServerSettings};
use labgate_worker::{Worker, WorkerSettings, default_handlers, delivery_client};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// Names this process in job leases: the jobs its worker claims and those it starts itself.
fn process_owner() -> String {
    format!("{}-{}", hostname(), std::process::id())
}

/// How often a held job's lease is renewed.
fn heartbeat(config: &Config) -> std::time::Duration {
    (config.job_lease / 4).max(std::time::Duration::from_millis(500))
}

fn worker_settings(config: &Config) -> WorkerSettings {
    let defaults = WorkerSettings::default();
    WorkerSettings {
        owner: process_owner(),
        concurrency: config.worker_concurrency,
        lease: config.job_lease,
        heartbeat: heartbeat(config),
        shutdown_timeout: config.shutdown_timeout,
        job_retention: config.job_retention,
        audit_retention: config.audit_retention,
        delivery_retention: config.delivery_retention,
        event_retention: config.event_retention,
        health_interval: config.health_interval,
        scan_interval: config.scan_interval,
        access_sync_interval: config.access_sync_interval,
        ..defaults
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "labgate".to_owned())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// Data keys wrapped by an older root key are rewrapped at start, so a rotated environment
/// keyring takes effect as soon as it is deployed.
async fn rewrap_if_needed(services: &Services) -> anyhow::Result<()> {
    let rewrapped = services
        .vault
        .rewrap_all()
        .await
        .context("cannot rewrap tenant data keys")?;
    if rewrapped > 0 {
        tracing::info!(rewrapped, active_root_key = %services.vault.active_root_key_id(), "rewrapped tenant data keys");
    }
    Ok(())
}

/// Creates the `default` tenant and its first admin key on the first start.
async fn bootstrap(services: &Services, config: &Config) -> anyhow::Result<()> {
    let (tenant, _) = services.tenants.ensure(DEFAULT_TENANT, &Actor::System).await?;
    if services.api_keys.tenant_has_keys(&tenant.id).await? {
        return Ok(());
    }
    let supplied = config.bootstrap_admin_key.clone();
    let from_setting = supplied.is_some();
    let request = KeyRequest {
        name: "bootstrap",
        role: Role::Admin,
        expires_at: None,
        token: supplied,
    };
    match services
        .api_keys
        .create(&tenant.id, &Actor::System, None, request)
        .await
    {
        Ok(created) if from_setting => {
            tracing::info!(api_key_id = %created.view.id, "registered LABGATE_BOOTSTRAP_ADMIN_KEY as the admin key of tenant default");
        }
        Ok(created) => {
            println!(
                "Bootstrap admin API key for tenant \"{DEFAULT_TENANT}\" (shown once; store it now):\n  {}",
                created.token.expose_secret()
            );
        }
        // Another replica bootstrapped at the same moment with the same supplied key.
        Err(labgate_core::CoreError::Conflict(_)) if from_setting => {}
        Err(error) => return Err(error.into()),
    }
    Ok(())
}

/// The services with the jobs this process starts itself (token changes a request asked for)
/// held under its name and the configured lease, so a worker takes them over if it dies.
async fn open_services(config: &Config) -> anyhow::Result<Services> {
    with_job_holder(crate::runtime::open(config).await?, config)
}

fn with_job_holder(services: Services, config: &Config) -> anyhow::Result<Services> {
    Ok(services.with_job_holder(Holder {
        owner: process_owner(),
        lease: config.job_lease,
        heartbeat: heartbeat(config),
    }))
}

/// Opens the services as `labgate serve` runs them: data keys rewrapped, jobs this process
/// starts held under its name. `announce_generated_key` is false only where the data is
/// thrown away on exit (the demo), so a generated root key needs no backup warning.
pub(crate) async fn start(config: &Config, announce_generated_key: bool) -> anyhow::Result<Services> {
    let services = with_job_holder(
        crate::runtime::open_with(config, announce_generated_key).await?,
        config,
    )?;
    rewrap_if_needed(&services).await?;
    Ok(services)
}

fn server_state(services: &Services, config: &Config) -> AppState {
    let settings = ServerSettings {
        listen: config.listen,
        tls: config.tls.clone(),
        trusted_proxies: config.trusted_proxies.clone(),
        metrics_token: config.metrics_token.clone(),
        request_timeout: config.request_timeout,
        token_change_wait: config.token_change_wait,
        shutdown_timeout: config.shutdown_timeout,
        auth_failures_per_minute: config.auth_failures_per_minute,
    };
    AppState::new(services.clone(), settings)
}

/// The server on an address already bound (its port known before the services were opened).
pub(crate) async fn bind_listener(
    services: &Services,
    config: &Config,
    listener: std::net::TcpListener,
) -> anyhow::Result<BoundServer> {
    labgate_server::bind_listener(server_state(services, config), listener)
        .await
        .map_err(anyhow::Error::msg)
}

pub async fn serve(config: Config, with_worker: bool) -> anyhow::Result<()> {
    let services = start(&config, true).await?;
    bootstrap(&services, &config).await?;
    let server = labgate_server::bind(server_state(&services, &config))
        .await
        .map_err(anyhow::Error::msg)?;
    run(&config, services, server, with_worker).await
}

/// Serves the API (and, with `with_worker`, runs the background jobs) until SIGINT or SIGTERM,
/// then finishes in-flight requests and jobs and closes the services.
pub(crate) async fn run(
    config: &Config,
    services: Services,
    server: BoundServer,
    with_worker: bool,
) -> anyhow::Result<()> {
    let address = server.local_addr()?;
    let scheme = if server.is_tls() { "https" } else { "http" };
    println!("labgate listening on {scheme}://{address}");
    tracing::info!(%address, database = %services.readiness.database(), "labgate started");

    let shutdown = CancellationToken::new();
    let background = services.start_background(&shutdown);
    let worker_task = if with_worker {
        let settings = worker_settings(config);
        let handlers = default_handlers(&settings, delivery_client(&services.network)?);
        let worker = Worker::new(services.clone(), settings, handlers);
        worker.schedule_recurring().await?;
        let shutdown = shutdown.clone();
        Some(tokio::spawn(async move { worker.run(shutdown).await }))
    } else {
        None
    };
    let mut server_task = tokio::spawn(server.serve(shutdown.clone()));
    let served = tokio::select! {
        () = shutdown_signal() => {
            tracing::info!("shutting down: finishing in-flight requests and jobs");
            shutdown.cancel();
            (&mut server_task).await
        }
        // The server only ends by itself on an error; stop the worker too.
        served = &mut server_task => {
            shutdown.cancel();
            served
        }
    };
    if let Some(worker) = worker_task {
        let _ = worker.await;
    }
    background.join().await;
    // After the last request: writes the credential reads counted since the last flush.
    services.close().await;
    served
        .context("the server task failed")?
        .context("the server stopped with an error")?;
    tracing::info!("labgate stopped");
    Ok(())
}

pub async fn worker(config: Config) -> anyhow::Result<()> {
    let services = open_services(&config).await?;
    rewrap_if_needed(&services).await?;
    let settings = worker_settings(&config);
    let worker = Worker::new(
        services.clone(),
        settings.clone(),
        default_handlers(&settings, delivery_client(&services.network)?),
    );
    worker.schedule_recurring().await?;
    println!("labgate worker {} started", settings.owner);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { worker.run(shutdown).await }
    });
    shutdown_signal().await;
    tracing::info!("shutting down: finishing running jobs");
    shutdown.cancel();
    let _ = task.await;
    services.close().await;
    Ok(())
}
