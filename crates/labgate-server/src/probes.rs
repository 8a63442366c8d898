//! Public probes and documents: `/healthz`, `/readyz`, `/metrics`, `/api/docs/openapi.json`.

use axum::Router;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use labgate_proto::ErrorKind;
use secrecy::ExposeSecret;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/docs/openapi.json", get(openapi))
}

/// What a probe answers when all is well.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProbeStatus {
    /// `ok` from `/healthz`, `ready` from `/readyz`.
    #[schema(pattern = "^(ok|ready)$")]
    status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "probes",
    responses((status = 200, description = "alive", body = ProbeStatus)))]
pub async fn healthz() -> Response {
    (StatusCode::OK, axum::Json(ProbeStatus { status: "ok" })).into_response()
}

/// The process can serve: its database answers.
#[utoipa::path(get, path = "/readyz", tag = "probes",
    responses((status = 200, description = "ready", body = ProbeStatus),
        (status = 503, body = labgate_proto::ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Response, ApiError> {
    match state.services.readiness.ping().await {
        Ok(()) => Ok((StatusCode::OK, axum::Json(ProbeStatus { status: "ready" })).into_response()),
        Err(error) => {
            tracing::warn!(error = %error, "readiness check failed");
            Err(ApiError::new(
                ErrorKind::ServiceUnavailable,
                "the database is unreachable",
            ))
        }
    }
}

/// Prometheus metrics; requires `Authorization: Bearer <LABGATE_METRICS_TOKEN>` when that is set.
#[utoipa::path(get, path = "/metrics", tag = "probes",
    responses((status = 200, description = "OpenMetrics text",
            content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String),
        (status = 401, body = labgate_proto::ErrorBody)))]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(expected) = &state.settings.metrics_token {
        let presented = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !labgate_core::auth::tokens_match(presented, expected.expose_secret()) {
            return Err(ApiError::new(
                ErrorKind::Unauthorized,
                "the metrics token is missing or wrong",
            ));
        }
    }
    match state.services.jobs.counts_by_state().await {
        Ok(counts) => state.metrics.set_jobs(&counts),
        Err(error) => tracing::warn!(error = %error, "could not count jobs for metrics"),
    }
    state
        .metrics
        .set_credential_cache(state.services.connections.credential_cache_stats());
    let text = state
        .metrics
        .render()
        .map_err(|_| ApiError::new(ErrorKind::InternalServerError, "metrics could not be rendered"))?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(response)
}

async fn openapi() -> Response {
    let mut response = crate::openapi::openapi_json().into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
