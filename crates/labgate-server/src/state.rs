use std::sync::Arc;

use labgate_core::Services;

use crate::client_ip::FailedAuthLimiter;
use crate::metrics::Metrics;
use crate::settings::ServerSettings;

/// Shared by every handler; cheap to clone, which axum does for every request: the services
/// (dozens of shared handles) sit behind one `Arc`.
#[derive(Clone)]
pub struct AppState {
    pub services: Arc<Services>,
    pub settings: Arc<ServerSettings>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) auth_limiter: Arc<FailedAuthLimiter>,
}

impl AppState {
    pub fn new(services: Services, settings: ServerSettings) -> AppState {
        let auth_limiter = Arc::new(FailedAuthLimiter::new(
            settings.auth_failures_per_minute,
            services.clock.clone(),
        ));
        AppState {
            services: Arc::new(services),
            settings: Arc::new(settings),
            metrics: Arc::new(Metrics::new()),
            auth_limiter,
        }
    }
}
