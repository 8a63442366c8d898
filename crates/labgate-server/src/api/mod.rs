//! The `/api/v1` routers, one per resource.

pub mod access;
pub mod access_provisioning;
pub mod access_reports;
pub mod access_webhooks;
pub mod api_keys;
pub mod audit;
pub mod connect_sessions;
pub mod connections;
pub mod credentials;
pub mod instances;
pub mod jobs;
pub mod oauth;
pub mod projects;
pub mod scan_webhooks;
pub mod secret_scanning;
pub mod secret_syncs;
pub mod secrets;
pub mod webhooks;

use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(access::router())
        .merge(access_provisioning::router())
        .merge(access_reports::router())
        .merge(api_keys::router())
        .merge(audit::router())
        .merge(connect_sessions::router())
        .merge(connections::router())
        .merge(instances::router())
        .merge(jobs::router())
        .merge(oauth::router())
        .merge(secret_syncs::router())
        .merge(projects::router())
        .merge(webhooks::router())
}

/// The `/api/v2` routers: secret scanning, at Infisical's version of its paths.
pub fn v2_router() -> Router<AppState> {
    Router::new().merge(secret_scanning::router())
}

/// The `/api/v3` routers: secrets, at Infisical's version of their paths.
pub fn v3_router() -> Router<AppState> {
    Router::new().merge(secrets::router())
}

/// Checks `limit` (1-100, default 50) so every list endpoint pages the same way.
pub fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    use labgate_proto::pagination::{DEFAULT_LIMIT, MAX_LIMIT};
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        Some(_) => Err(out_of_range(
            "limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

/// Checks `offset` (0 to the largest the store can count, default 0).
pub fn page_offset(offset: Option<u64>) -> Result<u64, ApiError> {
    use labgate_proto::pagination::MAX_OFFSET;
    match offset {
        None => Ok(0),
        Some(offset) if offset <= MAX_OFFSET => Ok(offset),
        Some(_) => Err(out_of_range(
            "offset",
            format!("offset must be between 0 and {MAX_OFFSET}"),
        )),
    }
}

fn out_of_range(field: &str, message: String) -> ApiError {
    ApiError::bad_request(message)
        .with_details(serde_json::json!([{"field": field, "message": "out of range"}]))
        .invalid_input()
}
