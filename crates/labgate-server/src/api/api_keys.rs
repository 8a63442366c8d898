//! `/api/v1/api-keys`: create (token shown once), list, show, revoke.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use labgate_proto::ErrorBody;
use labgate_proto::api_keys::{ApiKeyList, ApiKeyResponse, CreateApiKeyRequest, CreatedApiKeyResponse};
use labgate_proto::pagination::PageQuery;

use crate::api::{page_limit, page_offset};
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery, Auth};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api-keys", get(list).post(create))
        .route("/api-keys/{id}", get(show).delete(revoke))
}

/// Create an API key. The token is in this answer only.
#[utoipa::path(post, path = "/api/v1/api-keys", operation_id = "createApiKey", tag = "api-keys", request_body = CreateApiKeyRequest,
    security(("bearer" = [])),
    responses((status = 200, body = CreatedApiKeyResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppJson(body): AppJson<CreateApiKeyRequest>,
) -> Result<Json<CreatedApiKeyResponse>, ApiError> {
    let created = state
        .services
        .api_keys
        .create_for(&principal, &body.name, body.role, body.expires_at.as_deref())
        .await?;
    Ok(Json(CreatedApiKeyResponse {
        api_key: created.view,
        token: created.token,
    }))
}

/// List the tenant's API keys, newest first.
#[utoipa::path(get, path = "/api/v1/api-keys", operation_id = "listApiKeys", tag = "api-keys", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = ApiKeyList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppQuery(page): AppQuery<PageQuery>,
) -> Result<Json<ApiKeyList>, ApiError> {
    let limit = page_limit(page.limit)?;
    Ok(Json(
        state
            .services
            .api_keys
            .list(&principal, page_offset(page.offset)?, limit)
            .await?,
    ))
}

/// Show one API key (never its token).
#[utoipa::path(get, path = "/api/v1/api-keys/{id}", operation_id = "getApiKey", tag = "api-keys", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = ApiKeyResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<ApiKeyResponse>, ApiError> {
    Ok(Json(ApiKeyResponse {
        api_key: state.services.api_keys.get(&principal, &id).await?,
    }))
}

/// Revoke an API key. It stops working at once on this server and within a second everywhere.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", operation_id = "revokeApiKey", tag = "api-keys", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = ApiKeyResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<ApiKeyResponse>, ApiError> {
    Ok(Json(ApiKeyResponse {
        api_key: state.services.api_keys.revoke(&principal, &id).await?,
    }))
}
