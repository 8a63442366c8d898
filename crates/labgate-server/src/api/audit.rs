//! `/api/v1/audit-logs`: who did what to which resource, from where.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use labgate_proto::ErrorBody;
use labgate_proto::audit::{AuditLogList, AuditLogQuery};

use crate::api::{page_limit, page_offset};
use crate::error::ApiError;
use crate::extract::{AppQuery, Auth};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/audit-logs", get(list))
}

/// List the tenant's audit log, newest first, filtered by action, resource, actor and time.
#[utoipa::path(get, path = "/api/v1/audit-logs", operation_id = "listAuditLogs", tag = "audit",
    params(AuditLogQuery), security(("bearer" = [])),
    responses((status = 200, body = AuditLogList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppQuery(query): AppQuery<AuditLogQuery>,
) -> Result<Json<AuditLogList>, ApiError> {
    let limit = page_limit(query.limit)?;
    page_offset(query.offset)?;
    Ok(Json(state.services.audit.list(&principal, &query, limit).await?))
}
