//! Binding the listener (plain HTTP or TLS) and serving until shutdown.

use std::net::SocketAddr;

use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// Installs the process-wide rustls provider (ring). Safe to call more than once.
pub fn install_crypto_provider() {
    labgate_crypto::tls::install_default_provider();
}

/// A listener that is bound (so its address is known, e.g. for port 0) but not yet serving.
pub struct BoundServer {
    listener: std::net::TcpListener,
    tls: Option<RustlsConfig>,
    state: AppState,
}

impl BoundServer {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves until `shutdown` fires, then stops accepting and gives in-flight requests up to the
    /// shutdown timeout to finish.
    pub async fn serve(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let handle = Handle::new();
        let grace = self.state.settings.shutdown_timeout;
        let signal = handle.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            signal.graceful_shutdown(Some(grace));
        });
        let app = crate::app(self.state).into_make_service_with_connect_info::<SocketAddr>();
        match self.tls {
            Some(config) => {
                axum_server::from_tcp_rustls(self.listener, config)
                    .handle(handle)
                    .serve(app)
                    .await
            }
            None => {
                axum_server::from_tcp(self.listener)
                    .handle(handle)
                    .serve(app)
                    .await
            }
        }
    }
}

/// The listener's TLS configuration, read at start so a bad certificate stops the start with a
/// clear error instead of failing on the first connection.
async fn load_tls(state: &AppState) -> Result<Option<RustlsConfig>, String> {
    let Some(files) = &state.settings.tls else {
        return Ok(None);
    };
    install_crypto_provider();
    let config = RustlsConfig::from_pem_file(&files.cert, &files.key).await.map_err(|error| {
        format!(
            "LABGATE_TLS_CERT_FILE / LABGATE_TLS_KEY_FILE ({}, {}) are not a usable certificate and key: {error}",
            files.cert.display(),
            files.key.display()
        )
    })?;
    Ok(Some(config))
}

/// Binds the configured address.
pub async fn bind(state: AppState) -> Result<BoundServer, String> {
    let tls = load_tls(&state).await?;
    let listen = state.settings.listen;
    let listener = std::net::TcpListener::bind(listen)
        .map_err(|error| format!("cannot listen on {listen} (LABGATE_LISTEN): {error}"))?;
    with_listener(state, listener, tls)
}

/// Serves on a listener bound by the caller, who needed its address before the state existed
/// (e.g. to give GitLab the site URL). TLS settings apply as in [`bind`].
pub async fn bind_listener(state: AppState, listener: std::net::TcpListener) -> Result<BoundServer, String> {
    let tls = load_tls(&state).await?;
    with_listener(state, listener, tls)
}

fn with_listener(
    state: AppState,
    listener: std::net::TcpListener,
    tls: Option<RustlsConfig>,
) -> Result<BoundServer, String> {
    listener
        .set_nonblocking(true)
        .map_err(|error| error.to_string())?;
    let address = listener.local_addr().map_err(|error| error.to_string())?;
    if tls.is_none() && !address.ip().is_loopback() {
        tracing::warn!(
            listen = %address,
            "serving plain HTTP beyond loopback: API keys and credentials cross the network unencrypted; \
             set LABGATE_TLS_CERT_FILE and LABGATE_TLS_KEY_FILE or put a TLS proxy in front"
        );
    }
    Ok(BoundServer { listener, tls, state })
}
