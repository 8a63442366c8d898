//! `/api/v1/webhooks`: subscriptions to labgate's events, their deliveries, and a test send.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use labgate_proto::ErrorBody;
use labgate_proto::pagination::PageQuery;
use labgate_proto::webhooks::{
    CreateWebhookRequest, CreatedWebhookResponse, DeliveryList, DeliveryResponse, UpdateWebhookRequest,
    WebhookList, WebhookResponse,
};

use crate::api::{page_limit, page_offset};
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery, Auth};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks", get(list).post(create))
        .route("/webhooks/{id}", get(show).patch(update).delete(remove))
        .route("/webhooks/{id}/deliveries", get(deliveries))
        .route("/webhooks/{id}/test", post(test))
}

/// Subscribe a URL to events. The signing secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/webhooks", operation_id = "createWebhook", tag = "webhooks",
    request_body = CreateWebhookRequest, security(("bearer" = [])),
    responses((status = 200, body = CreatedWebhookResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppJson(body): AppJson<CreateWebhookRequest>,
) -> Result<Json<CreatedWebhookResponse>, ApiError> {
    let (webhook, secret) = state.services.webhooks.create(&principal, body).await?;
    Ok(Json(CreatedWebhookResponse { webhook, secret }))
}

/// List the tenant's webhook subscriptions.
#[utoipa::path(get, path = "/api/v1/webhooks", operation_id = "listWebhooks", tag = "webhooks",
    params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = WebhookList), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppQuery(page): AppQuery<PageQuery>,
) -> Result<Json<WebhookList>, ApiError> {
    let limit = page_limit(page.limit)?;
    Ok(Json(
        state
            .services
            .webhooks
            .list(&principal, page_offset(page.offset)?, limit)
            .await?,
    ))
}

/// Show one subscription (never its secret).
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", operation_id = "getWebhook", tag = "webhooks",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = WebhookResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<WebhookResponse>, ApiError> {
    Ok(Json(WebhookResponse {
        webhook: state.services.webhooks.get(&principal, &id).await?,
    }))
}

/// Change a subscription's URL, description, events or enabled flag.
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", operation_id = "updateWebhook", tag = "webhooks",
    params(("id" = String, Path)), request_body = UpdateWebhookRequest, security(("bearer" = [])),
    responses((status = 200, body = WebhookResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
    AppJson(body): AppJson<UpdateWebhookRequest>,
) -> Result<Json<WebhookResponse>, ApiError> {
    Ok(Json(WebhookResponse {
        webhook: state.services.webhooks.update(&principal, &id, body).await?,
    }))
}

/// Delete a subscription, its secret and its deliveries.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", operation_id = "deleteWebhook", tag = "webhooks",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = WebhookResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<WebhookResponse>, ApiError> {
    Ok(Json(WebhookResponse {
        webhook: state.services.webhooks.delete(&principal, &id).await?,
    }))
}

/// A subscription's deliveries, newest first, with their attempts and last error.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", operation_id = "listWebhookDeliveries",
    tag = "webhooks", params(("id" = String, Path), PageQuery), security(("bearer" = [])),
    responses((status = 200, body = DeliveryList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn deliveries(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
    AppQuery(page): AppQuery<PageQuery>,
) -> Result<Json<DeliveryList>, ApiError> {
    let limit = page_limit(page.limit)?;
    Ok(Json(
        state
            .services
            .webhooks
            .deliveries(&principal, &id, page_offset(page.offset)?, limit)
            .await?,
    ))
}

/// Queue a `webhook.test` event for this subscription.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", operation_id = "testWebhook", tag = "webhooks",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = DeliveryResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn test(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<DeliveryResponse>, ApiError> {
    Ok(Json(DeliveryResponse {
        delivery: state.services.webhooks.send_test(&principal, &id).await?,
    }))
}
