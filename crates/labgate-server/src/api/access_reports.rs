//! `/api/v1/access/{accounts,grants,resources}` and `/api/v1/access/syncs/:id/diff`: who has
//! what access, as an access source's newest successful sync saw it, what changed from one sync
//! to the next, and exports of accounts and grants streamed a batch at a time.
//!
//! A source that has not synced successfully yet answers empty lists with `lastSync: null`
//! rather than an error: "nothing known yet" is a state, not a mistake of the caller.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use labgate_core::access::reports::{Export, GrantFilter};
use labgate_proto::ErrorBody;
use labgate_proto::access_reports::{
    AccessAccountExportQuery, AccessAccountList, AccessAccountListQuery, AccessDiffQuery, AccessDiffView,
    AccessExportFormat, AccessGrantExportQuery, AccessGrantList, AccessGrantListQuery, AccessResourceList,
    AccessResourceListQuery,
};

use crate::api::{page_limit, page_offset};
use crate::error::ApiError;
use crate::extract::{AppPath, AppQuery, Auth};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/access/accounts", get(accounts))
        .route("/access/accounts/export", get(export_accounts))
        .route("/access/grants", get(grants))
        .route("/access/grants/export", get(export_grants))
        .route("/access/resources", get(resources))
        .route("/access/syncs/{id}/diff", get(diff))
}

/// The accounts of the source's newest successful sync, by username, a page at a time, with
/// `totalCount` and the sync they come from (`lastSync`, null before the first success).
#[utoipa::path(get, path = "/api/v1/access/accounts", operation_id = "listAccessAccounts", tag = "access",
    params(AccessAccountListQuery), security(("bearer" = [])),
    responses((status = 200, body = AccessAccountList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "`sourceId` names no access source", body = ErrorBody)))]
pub async fn accounts(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppQuery(query): AppQuery<AccessAccountListQuery>,
) -> Result<Json<AccessAccountList>, ApiError> {
    let limit = page_limit(query.limit)?;
    let offset = page_offset(query.offset)?;
    Ok(Json(
        state
            .services
            .access_reports
            .accounts(
                &principal,
                query.source_id.as_deref(),
                query.search.as_deref(),
                offset,
                limit,
            )
            .await?,
    ))
}

/// The effective grants of the source's newest successful sync, by account then resource, each
/// with its level (number, name, custom role) and the path it comes by: `direct`, `inherited`
/// (via an ancestor group) or `shared` (via an invited group, capped at the share's level). An
/// `account` or `resource` the sync did not see matches nothing.
#[utoipa::path(get, path = "/api/v1/access/grants", operation_id = "listAccessGrants", tag = "access",
    params(AccessGrantListQuery), security(("bearer" = [])),
    responses((status = 200, body = AccessGrantList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "`sourceId` names no access source", body = ErrorBody)))]
pub async fn grants(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppQuery(query): AppQuery<AccessGrantListQuery>,
) -> Result<Json<AccessGrantList>, ApiError> {
    let limit = page_limit(query.limit)?;
    let offset = page_offset(query.offset)?;
    let filter = GrantFilter {
        account: query.account,
        resource: query.resource,
    };
    Ok(Json(
        state
            .services
            .access_reports
            .grants(&principal, query.source_id.as_deref(), &filter, offset, limit)
            .await?,
    ))
}

/// The groups and projects of the source's newest successful sync, by full path, each with its
/// parent group and visibility.
#[utoipa::path(get, path = "/api/v1/access/resources", operation_id = "listAccessResources", tag = "access",
    params(AccessResourceListQuery), security(("bearer" = [])),
    responses((status = 200, body = AccessResourceList), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "`sourceId` names no access source", body = ErrorBody)))]
pub async fn resources(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppQuery(query): AppQuery<AccessResourceListQuery>,
) -> Result<Json<AccessResourceList>, ApiError> {
    let limit = page_limit(query.limit)?;
    let offset = page_offset(query.offset)?;
    Ok(Json(
        state
            .services
            .access_reports
            .resources(
                &principal,
                query.source_id.as_deref(),
                query.kind,
                query.search.as_deref(),
                offset,
                limit,
            )
            .await?,
    ))
}

/// What changed from the previous successful sync of the same source to this one: grants added,
/// removed and changed, new administrators and new owners. The first successful sync has no
/// `base`: everything it saw is added. Each list holds its first `limit` entries; `counts` has
/// the totals.
#[utoipa::path(get, path = "/api/v1/access/syncs/{id}/diff", operation_id = "getAccessSyncDiff", tag = "access",
    params(("id" = String, Path, format = "uuid"), AccessDiffQuery), security(("bearer" = [])),
    responses((status = 200, body = AccessDiffView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The sync has not succeeded, so it has no snapshot", body = ErrorBody)))]
pub async fn diff(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
    AppQuery(query): AppQuery<AccessDiffQuery>,
) -> Result<Json<AccessDiffView>, ApiError> {
    Ok(Json(
        state
            .services
            .access_reports
            .diff(&principal, &id, query.limit)
            .await?,
    ))
}

/// An export as a streamed attachment: the store is read a batch at a time while the body goes
/// out. A failure after the first byte can only cut the body short, so it is logged.
pub(crate) fn attachment(export: Export) -> Response {
    let Export {
        content_type,
        file_name,
        chunks,
    } = export;
    let stream = futures_util::stream::unfold(chunks, |mut chunks| async move {
        match chunks.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(bytes::Bytes::from(chunk)), chunks)),
            Ok(None) => None,
            Err(error) => {
                tracing::error!(error = %error, "an access export stopped part way");
                Some((Err(std::io::Error::other("the export could not be read")), chunks))
            }
        }
    });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The file name is built from fixed words and a UUID: always a valid header value.
    if let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The accounts of the source's newest successful sync as a JSON document (the default:
/// `{lastSync, totalCount, accounts}`) or CSV, as an attachment streamed however many there are.
/// CSV cells that a spreadsheet would read as a formula start with `'`.
#[utoipa::path(get, path = "/api/v1/access/accounts/export", operation_id = "exportAccessAccounts", tag = "access",
    params(AccessAccountExportQuery), security(("bearer" = [])),
    responses((status = 200, description = "The accounts in the asked format",
            content((AccessAccountList = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "`sourceId` names no access source", body = ErrorBody)))]
pub async fn export_accounts(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppQuery(query): AppQuery<AccessAccountExportQuery>,
) -> Result<Response, ApiError> {
    let export = state
        .services
        .access_reports
        .export_accounts(
            &principal,
            query.source_id.as_deref(),
            query.search.as_deref(),
            query.format.unwrap_or(AccessExportFormat::Json),
        )
        .await?;
    Ok(attachment(export))
}

/// The effective grants of the source's newest successful sync as a JSON document (the default:
/// `{lastSync, totalCount, grants}`) or CSV (one row per grant, with its path), as an attachment
/// streamed however many there are. CSV cells that a spreadsheet would read as a formula start
/// with `'`.
#[utoipa::path(get, path = "/api/v1/access/grants/export", operation_id = "exportAccessGrants", tag = "access",
    params(AccessGrantExportQuery), security(("bearer" = [])),
    responses((status = 200, description = "The grants in the asked format",
            content((AccessGrantList = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "`sourceId` names no access source", body = ErrorBody)))]
pub async fn export_grants(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppQuery(query): AppQuery<AccessGrantExportQuery>,
) -> Result<Response, ApiError> {
    let filter = GrantFilter {
        account: query.account,
        resource: query.resource,
    };
    let export = state
        .services
        .access_reports
        .export_grants(
            &principal,
            query.source_id.as_deref(),
            &filter,
            query.format.unwrap_or(AccessExportFormat::Json),
        )
        .await?;
    Ok(attachment(export))
}
