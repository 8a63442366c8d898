//! What the HTTP server needs from configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::SecretString;

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub tls: Option<TlsFiles>,
    /// Proxies whose `X-Forwarded-For` is believed. Everyone else's peer address is the client.
    pub trusted_proxies: Vec<IpNet>,
    /// When set, `/metrics` requires `Authorization: Bearer <token>`.
    pub metrics_token: Option<SecretString>,
    /// Requests taking longer are answered 503.
    pub request_timeout: Duration,
    /// How long a request that changes a token at GitLab (a rotation, a check that rotates)
    /// waits for it before answering `202 Accepted` with the job that follows it; the change
    /// goes on either way. Kept under `request_timeout`.
    pub token_change_wait: Duration,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_timeout: Duration,
    /// Unknown or revoked keys allowed per client address per minute before they get 429.
    pub auth_failures_per_minute: u32,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls: None,
            trusted_proxies: Vec::new(),
            metrics_token: None,
            request_timeout: Duration::from_secs(30),
            token_change_wait: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(30),
            auth_failures_per_minute: 20,
        }
    }
}

impl ServerSettings {
    /// How long a token-changing request waits before answering 202: the setting, kept far
    /// enough under the request timeout that the answer is written before the timeout turns the
    /// request into a 503.
    pub fn token_change_wait(&self) -> Duration {
        self.token_change_wait
            .min(self.request_timeout.saturating_sub(TIMEOUT_MARGIN))
    }
}

/// Time left between the longest wait for a token change and the request timeout.
const TIMEOUT_MARGIN: Duration = Duration::from_millis(500);

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// Longest query string accepted.
pub const QUERY_LIMIT: usize = 4096;
