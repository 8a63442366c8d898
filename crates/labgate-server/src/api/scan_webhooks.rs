//! `POST /secret-scanning/webhooks/gitlab`: GitLab's push webhooks for secret scanning. Public
//! (GitLab presents the data source's secret in `X-Gitlab-Token`, never an API key); answered
//! as soon as the scan is queued.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use labgate_core::scanning::hooks::WEBHOOK_PATH;
use labgate_core::scanning::incremental::PushDelivery;
use labgate_proto::secret_scanning::{GitLabPushEvent, PushReceipt};
use labgate_proto::{ErrorBody, ErrorKind};
use secrecy::SecretString;

use crate::error::ApiError;
use crate::state::AppState;

/// The largest push event body taken. GitLab lists at most 20 commits, each with its changed
/// paths; 4 MiB leaves room for very wide commits.
const PUSH_BODY_LIMIT: usize = 4 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route(WEBHOOK_PATH, post(receive))
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn too_large() -> ApiError {
    ApiError::new(
        ErrorKind::PayloadTooLarge,
        "the push event body is larger than 4 MiB",
    )
}

/// Receive a GitLab push or tag push webhook for secret scanning. The token must be the push
/// hook secret of a data source with auto-scan on that covers the event's project; the scan of
/// what the push brought in is queued (202). A redelivery of an event already received
/// (`X-Gitlab-Event-UUID`) is answered 200 without a second scan; so are a deleted branch or tag
/// (recorded as a scan with nothing to scan) and events other than pushes.
#[utoipa::path(post, path = "/secret-scanning/webhooks/gitlab", operation_id = "receiveGitLabPushWebhook",
    tag = "secret-scanning", request_body = GitLabPushEvent,
    params(
        ("X-Gitlab-Token" = String, Header, description = "The data source's push hook secret, as GitLab sends it"),
        ("X-Gitlab-Event" = Option<String>, Header, description = "`Push Hook` or `Tag Push Hook`; other events are ignored"),
        ("X-Gitlab-Event-UUID" = Option<String>, Header, description = "Deduplicates redeliveries")),
    responses(
        (status = 200, body = PushReceipt, description = "A redelivery, a deleted ref or an event that is not a push: nothing queued."),
        (status = 202, body = PushReceipt, description = "The scan of the push is queued."),
        (status = 400, body = ErrorBody, description = "The body is not a GitLab push event (JSON with project, before, after and ref)."),
        (status = 401, body = ErrorBody, description = "The token is missing or not the secret of a data source that covers the project."),
        (status = 413, body = ErrorBody, description = "The body is larger than 4 MiB."),
        (status = 503, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn receive(State(state): State<AppState>, request: Request<Body>) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > PUSH_BODY_LIMIT) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, PUSH_BODY_LIMIT)
        .await
        .map_err(|_| too_large())?;
    let event: GitLabPushEvent = serde_json::from_slice(&bytes)
        .map_err(|_| ApiError::bad_request("the body is not a GitLab push event"))?;
    let delivery = PushDelivery {
        event: header_text(&parts.headers, "x-gitlab-event"),
        token: header_text(&parts.headers, "x-gitlab-token").map(SecretString::from),
        event_uuid: header_text(&parts.headers, "x-gitlab-event-uuid"),
        body: event,
    };
    let receipt = state.services.secret_scanning.receive_push(delivery).await?;
    let status = if receipt.status == "queued" {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(receipt)).into_response())
}
