//! `POST /access/webhooks/gitlab`: GitLab's system hooks and group member hooks for access sync.
//! Public (GitLab presents the access source's hook secret in `X-Gitlab-Token`, never an API
//! key); answered as soon as what the event changed is kept for the source's next sync run.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use labgate_core::access::hooks::{AccessHookDelivery, WEBHOOK_PATH};
use labgate_proto::access_webhooks::AccessHookReceipt;
use labgate_proto::{ErrorBody, ErrorKind};
use secrecy::SecretString;

use crate::error::ApiError;
use crate::state::AppState;

/// The largest event body taken. Access events are small (a project event lists the group's
/// owners); 1 MiB is far above any of them.
const EVENT_BODY_LIMIT: usize = 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route(WEBHOOK_PATH, post(receive))
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn too_large() -> ApiError {
    ApiError::new(ErrorKind::PayloadTooLarge, "the event body is larger than 1 MiB")
}

/// Receive a GitLab system hook or group member hook for access sync. The token must be the
/// hook secret of an access source; the groups, projects and accounts the event changed are
/// kept for the source's next sync run (202). A redelivery of an event already received
/// (`X-Gitlab-Event-UUID`) and an event that changes no access are answered 200 without effect.
#[utoipa::path(post, path = "/access/webhooks/gitlab", operation_id = "receiveGitLabAccessWebhook",
    tag = "access", request_body(content = serde_json::Value, description = "GitLab's event body (`event_name` with the ids it names)"),
    params(
        ("X-Gitlab-Token" = String, Header, description = "The access source's hook secret, as GitLab sends it"),
        ("X-Gitlab-Event" = Option<String>, Header, description = "`System Hook`, `Member Hook` or `Subgroup Hook`"),
        ("X-Gitlab-Event-UUID" = Option<String>, Header, description = "Deduplicates redeliveries")),
    responses(
        (status = 200, body = AccessHookReceipt, description = "A redelivery, or an event that changes no access: nothing kept."),
        (status = 202, body = AccessHookReceipt, description = "What the event changed is kept (or a targeted run is queued)."),
        (status = 400, body = ErrorBody, description = "The body is not a GitLab access event (JSON naming the ids its event needs)."),
        (status = 401, body = ErrorBody, description = "The token is missing or not the hook secret of an access source."),
        (status = 413, body = ErrorBody, description = "The body is larger than 1 MiB."),
        (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn receive(State(state): State<AppState>, request: Request<Body>) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > EVENT_BODY_LIMIT) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, EVENT_BODY_LIMIT)
        .await
        .map_err(|_| too_large())?;
    let delivery = AccessHookDelivery {
        token: header_text(&parts.headers, "x-gitlab-token").map(SecretString::from),
        event_uuid: header_text(&parts.headers, "x-gitlab-event-uuid"),
        body: bytes.to_vec(),
    };
    let receipt = state
        .services
        .access_hooks
        .receive_into(&state.services.access, delivery)
        .await?;
    let status = if matches!(receipt.status.as_str(), "recorded" | "queued") {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(receipt)).into_response())
}
