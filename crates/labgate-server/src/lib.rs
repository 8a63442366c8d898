//! labgate's HTTP API. One router per resource under `api/`, merged in [`app`]; one error type
//! rendered as the error contract; an auth extractor that turns a bearer key into a principal;
//! public probes, metrics and the OpenAPI document; and the web UI's pages (`ui`).

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod api;
mod client_ip;
mod connect;
mod error;
mod extract;
mod metrics;
mod middleware;
mod openapi;
mod probes;
mod serve;
mod settings;
mod state;
pub mod ui;

pub use error::ApiError;
pub use openapi::openapi_json;
pub use serve::{BoundServer, bind, bind_listener, install_crypto_provider};
pub use settings::{ServerSettings, TlsFiles};
pub use state::AppState;

use axum::Router;

/// The whole HTTP application: public probes and documents, the API, and the layers every
/// request passes through.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(probes::router())
        .merge(api::credentials::router())
        .nest("/api/v1", api::router())
        .nest("/api/v2", api::v2_router())
        .nest("/api/v3", api::v3_router())
        .merge(api::oauth::callback_router())
        .merge(api::scan_webhooks::router())
        .merge(api::access_webhooks::router())
        .merge(ui::router())
        .merge(connect::router())
        .fallback(error::not_found)
        .layer(axum::extract::DefaultBodyLimit::max(settings::BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::observe,
        ))
        .with_state(state)
}
