//! `/api/v2/secret-scanning`: GitLab data sources, their repositories and scans with Infisical's
//! paths and shapes, and findings with triage and export.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use labgate_core::scanning::findings::FindingQuery;
use labgate_proto::secret_scanning::{
    CreateDataSourceRequest, DataSourceList, DataSourceResponse, ExportFormat, FindingExportQuery,
    FindingList, FindingListQuery, FindingResponse, ScanList, ScanResourceList, ScanResponse,
    UpdateDataSourceRequest, UpdateFindingRequest,
};
use labgate_proto::{ErrorBody, ErrorKind};

use crate::api::{page_limit, page_offset};
use crate::error::{ApiError, infisical_dialect};
use crate::extract::{AppJson, AppPath, AppQuery, Auth};
use crate::state::AppState;

/// An id in the path: a UUID, anything else is 422 before anything is looked up.
fn uuid_param(field: &str, value: &str) -> Result<(), ApiError> {
    if value.len() == 36 && uuid::Uuid::try_parse(value).is_ok() {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorKind::ValidationFailure,
            format!("the {field} must be a UUID"),
        )
        .with_details(serde_json::json!([{"field": field, "message": "must be a UUID"}])))
    }
}

fn one_id(field: &str, AppPath(id): AppPath<String>) -> Result<String, ApiError> {
    uuid_param(field, &id)?;
    Ok(id)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/secret-scanning/data-sources/gitlab", get(list).post(create))
        .route(
            "/secret-scanning/data-sources/gitlab/{dataSourceId}",
            get(show).patch(update).delete(remove),
        )
        .route(
            "/secret-scanning/data-sources/gitlab/{dataSourceId}/resources",
            get(resources),
        )
        .route(
            "/secret-scanning/data-sources/gitlab/{dataSourceId}/scans",
            get(scans),
        )
        .route(
            "/secret-scanning/data-sources/gitlab/{dataSourceId}/scan",
            post(scan),
        )
        .route(
            "/secret-scanning/data-sources/gitlab/{dataSourceId}/resources/{resourceId}/scan",
            post(scan_resource),
        )
        .route("/secret-scanning/findings", get(findings))
        .route("/secret-scanning/findings/export", get(export))
        .route(
            "/secret-scanning/findings/{findingId}",
            axum::routing::patch(update_finding),
        )
        .layer(axum::middleware::map_response(infisical_dialect))
}

/// Create a GitLab data source: one project, or a group with the projects of every subgroup. The
/// connection must read the repositories with at least the Developer role. With auto-scan on
/// (the default), a first full scan is queued and push webhooks are installed at GitLab (a group
/// hook, or one hook per project where GitLab offers no group hooks), calling
/// `<LABGATE_SITE_URL>/secret-scanning/webhooks/gitlab`: that needs the site URL, the api scope
/// and the Maintainer role (group hooks: Owner), else 422. Deleting the data source, or turning
/// auto-scan off, removes the hooks.
#[utoipa::path(post, path = "/api/v2/secret-scanning/data-sources/gitlab", operation_id = "createGitLabDataSource",
    tag = "secret-scanning", request_body = CreateDataSourceRequest, security(("bearer" = [])),
    responses((status = 200, body = DataSourceResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppJson(body): AppJson<CreateDataSourceRequest>,
) -> Result<Json<DataSourceResponse>, ApiError> {
    Ok(Json(DataSourceResponse {
        data_source: state.services.secret_scanning.create(&principal, body).await?,
    }))
}

/// The tenant's GitLab data sources, oldest first.
#[utoipa::path(get, path = "/api/v2/secret-scanning/data-sources/gitlab", operation_id = "listGitLabDataSources",
    tag = "secret-scanning", security(("bearer" = [])),
    responses((status = 200, body = DataSourceList), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<DataSourceList>, ApiError> {
    Ok(Json(state.services.secret_scanning.list(&principal).await?))
}

/// One data source.
#[utoipa::path(get, path = "/api/v2/secret-scanning/data-sources/gitlab/{dataSourceId}",
    operation_id = "getGitLabDataSource", tag = "secret-scanning",
    params(("dataSourceId" = String, Path, format = "uuid")), security(("bearer" = [])),
    responses((status = 200, body = DataSourceResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Auth(principal): Auth,
    path: AppPath<String>,
) -> Result<Json<DataSourceResponse>, ApiError> {
    let id = one_id("dataSourceId", path)?;
    Ok(Json(DataSourceResponse {
        data_source: state.services.secret_scanning.get(&principal, &id).await?,
    }))
}

/// Change a data source; a changed configuration or connection is checked at GitLab again and
/// its repositories listed again.
#[utoipa::path(patch, path = "/api/v2/secret-scanning/data-sources/gitlab/{dataSourceId}",
    operation_id = "updateGitLabDataSource", tag = "secret-scanning",
    params(("dataSourceId" = String, Path, format = "uuid")), request_body = UpdateDataSourceRequest,
    security(("bearer" = [])),
    responses((status = 200, body = DataSourceResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Auth(principal): Auth,
    path: AppPath<String>,
    AppJson(body): AppJson<UpdateDataSourceRequest>,
) -> Result<Json<DataSourceResponse>, ApiError> {
    let id = one_id("dataSourceId", path)?;
    Ok(Json(DataSourceResponse {
        data_source: state
            .services
            .secret_scanning
            .update(&principal, &id, body)
            .await?,
    }))
}

/// Delete a data source with its repositories, scans and the finding locations in them.
#[utoipa::path(delete, path = "/api/v2/secret-scanning/data-sources/gitlab/{dataSourceId}",
    operation_id = "deleteGitLabDataSource", tag = "secret-scanning",
    params(("dataSourceId" = String, Path, format = "uuid")), security(("bearer" = [])),
    responses((status = 200, body = DataSourceResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    Auth(principal): Auth,
    path: AppPath<String>,
) -> Result<Json<DataSourceResponse>, ApiError> {
    let id = one_id("dataSourceId", path)?;
    Ok(Json(DataSourceResponse {
        data_source: state.services.secret_scanning.delete(&principal, &id).await?,
    }))
}

/// The repositories the data source covers, as last listed at GitLab.
#[utoipa::path(get, path = "/api/v2/secret-scanning/data-sources/gitlab/{dataSourceId}/resources",
    operation_id = "listGitLabDataSourceResources", tag = "secret-scanning",
    params(("dataSourceId" = String, Path, format = "uuid")), security(("bearer" = [])),
    responses((status = 200, body = ScanResourceList), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn resources(
    State(state): State<AppState>,
    Auth(principal): Auth,
    path: AppPath<String>,
) -> Result<Json<ScanResourceList>, ApiError> {
    let id = one_id("dataSourceId", path)?;
    Ok(Json(
        state.services.secret_scanning.resources(&principal, &id).await?,
    ))
}

/// The data source's scans, newest first, with their progress.
#[utoipa::path(get, path = "/api/v2/secret-scanning/data-sources/gitlab/{dataSourceId}/scans",
    operation_id = "listGitLabDataSourceScans", tag = "secret-scanning",
    params(("dataSourceId" = String, Path, format = "uuid")), security(("bearer" = [])),
    responses((status = 200, body = ScanList), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn scans(
    State(state): State<AppState>,
    Auth(principal): Auth,
    path: AppPath<String>,
) -> Result<Json<ScanList>, ApiError> {
    let id = one_id("dataSourceId", path)?;
    Ok(Json(state.services.secret_scanning.scans(&principal, &id).await?))
}

/// Queue a full scan: the repositories are listed again, then each one's whole history is
/// scanned. While one is queued or running, that scan is answered.
#[utoipa::path(post, path = "/api/v2/secret-scanning/data-sources/gitlab/{dataSourceId}/scan",
    operation_id = "scanGitLabDataSource", tag = "secret-scanning",
    params(("dataSourceId" = String, Path, format = "uuid")), security(("bearer" = [])),
    responses((status = 200, body = ScanResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn scan(
    State(state): State<AppState>,
    Auth(principal): Auth,
    path: AppPath<String>,
) -> Result<Json<ScanResponse>, ApiError> {
    let id = one_id("dataSourceId", path)?;
    Ok(Json(ScanResponse {
        scan: state
            .services
            .secret_scanning
            .trigger_full_scan(&principal, &id)
            .await?,
    }))
}

/// Queue a scan of one repository of the data source.
#[utoipa::path(post, path = "/api/v2/secret-scanning/data-sources/gitlab/{dataSourceId}/resources/{resourceId}/scan",
    operation_id = "scanGitLabDataSourceResource", tag = "secret-scanning",
    params(("dataSourceId" = String, Path, format = "uuid"), ("resourceId" = String, Path, format = "uuid")),
    security(("bearer" = [])),
    responses((status = 200, body = ScanResponse), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn scan_resource(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath((id, resource)): AppPath<(String, String)>,
) -> Result<Json<ScanResponse>, ApiError> {
    uuid_param("dataSourceId", &id)?;
    uuid_param("resourceId", &resource)?;
    Ok(Json(ScanResponse {
        scan: state
            .services
            .secret_scanning
            .trigger_resource_scan(&principal, &id, &resource)
            .await?,
    }))
}

/// The tenant's findings, newest first, a page at a time (`offset`, `limit`) with `totalCount`,
/// each with every place it was seen. The secret itself is never returned: `preview` shows its
/// first characters only.
#[utoipa::path(get, path = "/api/v2/secret-scanning/findings", operation_id = "listSecretScanningFindings",
    tag = "secret-scanning", params(FindingListQuery), security(("bearer" = [])),
    responses((status = 200, body = FindingList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "`dataSourceId` names no data source", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn findings(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppQuery(query): AppQuery<FindingListQuery>,
) -> Result<Json<FindingList>, ApiError> {
    let limit = page_limit(query.limit)?;
    let offset = page_offset(query.offset)?;
    let query = FindingQuery {
        project_id: query.project_id,
        data_source_id: query.data_source_id,
        status: query.status,
        rule: query.rule,
        verification: query.verification,
        path: query.path,
        offset,
        limit: Some(limit),
    };
    Ok(Json(
        state
            .services
            .secret_scanning
            .findings(&principal, &query)
            .await?,
    ))
}

/// Triage a finding: its status and remarks.
#[utoipa::path(patch, path = "/api/v2/secret-scanning/findings/{findingId}", operation_id = "updateSecretScanningFinding",
    tag = "secret-scanning", params(("findingId" = String, Path, format = "uuid")),
    request_body = UpdateFindingRequest, security(("bearer" = [])),
    responses((status = 200, body = FindingResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_finding(
    State(state): State<AppState>,
    Auth(principal): Auth,
    path: AppPath<String>,
    AppJson(body): AppJson<UpdateFindingRequest>,
) -> Result<Json<FindingResponse>, ApiError> {
    let id = one_id("findingId", path)?;
    Ok(Json(FindingResponse {
        finding: state
            .services
            .secret_scanning
            .update_finding(&principal, &id, body)
            .await?,
    }))
}

/// The findings as a document: JSON (the default), CSV (one row per location) or SARIF 2.1.0.
#[utoipa::path(get, path = "/api/v2/secret-scanning/findings/export", operation_id = "exportSecretScanningFindings",
    tag = "secret-scanning", params(FindingExportQuery), security(("bearer" = [])),
    responses((status = 200, description = "The findings in the asked format",
            content((FindingList = "application/json"), (String = "text/csv"), (serde_json::Value = "application/sarif+json"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "`dataSourceId` names no data source", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppQuery(query): AppQuery<FindingExportQuery>,
) -> Result<Response, ApiError> {
    let format = query.format.unwrap_or(ExportFormat::Json);
    let filter = FindingQuery {
        project_id: query.project_id,
        data_source_id: query.data_source_id,
        status: query.status,
        rule: query.rule,
        verification: query.verification,
        path: query.path,
        ..FindingQuery::default()
    };
    let export = state
        .services
        .secret_scanning
        .export_findings(&principal, &filter, format)
        .await?;
    Ok(([(header::CONTENT_TYPE, export.content_type)], export.body).into_response())
}
