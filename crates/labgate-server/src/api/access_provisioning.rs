//! `/api/v1/access/provisioning`: accounts created or invited, grants, revokes and graded
//! deprovisioning on an access source's GitLab, each with a dry run, a journal of its steps and
//! an audit entry.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use labgate_core::access::provisioning::ProvisioningError;
use labgate_proto::access_provisioning::{
    ProvisioningList, ProvisioningListQuery, ProvisioningRequest, ProvisioningResponse,
};
use labgate_proto::{ErrorBody, ErrorKind};

use crate::api::{page_limit, page_offset};
use crate::error::ApiError;
use crate::extract::{AppJson, AppPath, AppQuery, Auth};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/access/provisioning", get(list).post(provision))
        .route("/access/provisioning/{id}", get(show))
        .route("/access/provisioning/{id}/resume", post(resume))
}

impl From<ProvisioningError> for ApiError {
    fn from(error: ProvisioningError) -> Self {
        match error {
            ProvisioningError::Core(error) => error.into(),
            ProvisioningError::Unprocessable { field, message } => {
                ApiError::new(ErrorKind::UnprocessableEntity, message.clone())
                    .with_details(serde_json::json!([{ "field": field, "message": message }]))
            }
        }
    }
}

/// Provision access on an access source's GitLab (admin keys only). The operation is planned
/// from live GitLab reads — the account, its direct membership, what it inherits from the groups
/// above or through shares — and with `dryRun` nothing more happens. Otherwise the steps run in
/// order, journalled one by one, and the first failure stops the rest. `create-account` creates
/// the account on a self-managed instance (a password-reset link or a random password nobody is
/// told) and invites the address on GitLab.com. `grant` adds a direct member or changes a direct
/// member's level; a grant made moot by a higher inherited level is reported, not made. `revoke`
/// removes the direct membership and names the group that still grants inherited access (choose
/// `remove-at-source` to remove it there). `deprovision` runs the chosen `steps` in a safe order;
/// `delete` needs `confirm` set to the username. An unknown or ambiguous account, or a request
/// GitLab would refuse, is 422 with the reason.
#[utoipa::path(post, path = "/api/v1/access/provisioning", operation_id = "provisionAccess", tag = "access",
    request_body = ProvisioningRequest, security(("bearer" = [])),
    responses((status = 200, body = ProvisioningResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn provision(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppJson(body): AppJson<ProvisioningRequest>,
) -> Result<Json<ProvisioningResponse>, ApiError> {
    Ok(Json(ProvisioningResponse {
        operation: state
            .services
            .access_provisioning
            .provision(&principal, body)
            .await?,
    }))
}

/// The tenant's provisioning operations, newest first, optionally of one access source.
#[utoipa::path(get, path = "/api/v1/access/provisioning", operation_id = "listProvisioningOperations",
    tag = "access", params(ProvisioningListQuery), security(("bearer" = [])),
    responses((status = 200, body = ProvisioningList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppQuery(query): AppQuery<ProvisioningListQuery>,
) -> Result<Json<ProvisioningList>, ApiError> {
    let query = ProvisioningListQuery {
        limit: Some(page_limit(query.limit)?),
        offset: Some(page_offset(query.offset)?),
        ..query
    };
    Ok(Json(
        state
            .services
            .access_provisioning
            .list(&principal, &query)
            .await?,
    ))
}

/// One operation with its steps: which ran, which failed, which did not run.
#[utoipa::path(get, path = "/api/v1/access/provisioning/{id}", operation_id = "getProvisioningOperation",
    tag = "access", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = ProvisioningResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<ProvisioningResponse>, ApiError> {
    Ok(Json(ProvisioningResponse {
        operation: state.services.access_provisioning.get(&principal, &id).await?,
    }))
}

/// Run a failed or interrupted operation again from where it stopped (admin keys only). Applied
/// steps are not repeated; a step that was started is checked at GitLab first. 409 when the
/// operation is neither failed nor interrupted (a running operation is interrupted once its
/// runner's lease has run out).
#[utoipa::path(post, path = "/api/v1/access/provisioning/{id}/resume", operation_id = "resumeProvisioningOperation",
    tag = "access", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = ProvisioningResponse), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn resume(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<ProvisioningResponse>, ApiError> {
    Ok(Json(ProvisioningResponse {
        operation: state.services.access_provisioning.resume(&principal, &id).await?,
    }))
}
