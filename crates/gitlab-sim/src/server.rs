//! Starting and stopping an instance.

use std::net::SocketAddr;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::counters::RequestCounters;
use crate::faults::Faults;
use crate::seed::{Seed, SeedError};
use crate::state::SimState;

/// Why an instance could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Seed(#[from] SeedError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid path prefix {0:?}: it must start with '/' and not end with '/'")]
    Prefix(String),
}

/// How to start an instance.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Address to bind; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Relative URL root such as `/gitlab`; empty for none.
    pub path_prefix: String,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            path_prefix: String::new(),
        }
    }
}

/// A running simulator instance.
#[derive(Debug)]
pub struct SimServer {
    state: SimState,
    url: String,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

async fn fallback(
    axum::extract::State(state): axum::extract::State<SimState>,
    req: axum::extract::Request,
) -> Response {
    match crate::git::serve(state, req).await {
        Some(r) => r,
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain")],
            "404 Not Found",
        )
            .into_response(),
    }
}

/// The whole application for one instance, for in-process use with `tower::ServiceExt::oneshot`.
pub fn router(state: SimState) -> Router {
    let inner: Router<SimState> = Router::new()
        .nest("/api/v4", crate::api::router())
        .merge(crate::oauth::router())
        .merge(crate::sign_in::router())
        .nest("/-/sim", crate::control::router())
        .fallback(fallback);
    let prefix = state.prefix().to_owned();
    let app: Router<SimState> = if prefix.is_empty() {
        inner
    } else {
        Router::new().nest(&prefix, inner)
    };
    app.layer(axum::middleware::from_fn_with_state(
        state.clone(),
        crate::middleware::sim_layer,
    ))
    .with_state(state)
}

impl SimServer {
    /// Starts an instance on 127.0.0.1 with a free port.
    pub async fn start(seed: Seed) -> Result<Self, SimError> {
        Self::start_with(seed, SimOptions::default()).await
    }

    pub async fn start_with(seed: Seed, options: SimOptions) -> Result<Self, SimError> {
        let prefix = options.path_prefix.trim().to_owned();
        if !prefix.is_empty() && (!prefix.starts_with('/') || prefix.ends_with('/')) {
            return Err(SimError::Prefix(prefix));
        }
        let listener = tokio::net::TcpListener::bind(options.listen).await?;
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}{prefix}");
        let clock = Clock::new();
        let db = seed.build_db(clock.now(), &addr.ip().to_string())?;
        let state = SimState::new(db, clock, prefix, crate::git::Repos::new()?);
        url.clone_into(&mut state.inner.base_url.write());
        let app = router(state.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "simulator server stopped with an error");
            }
        });
        Ok(Self {
            state,
            url,
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:PORT` (plus the path prefix).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &SimState {
        &self.state
    }

    pub fn clock(&self) -> &Clock {
        self.state.clock()
    }

    pub fn faults(&self) -> &Faults {
        self.state.faults()
    }

    pub fn requests(&self) -> &RequestCounters {
        self.state.requests()
    }

    /// Stops accepting connections and waits for in-flight requests.
    pub async fn shutdown(mut self) {
        self.stop_now().await;
    }

    async fn stop_now(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}
