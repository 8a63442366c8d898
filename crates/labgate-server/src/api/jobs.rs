//! `/api/v1/jobs`: the tenant's background jobs with their progress.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use labgate_core::jobs::Settled;
use labgate_proto::ErrorBody;
use labgate_proto::jobs::{AcceptedResponse, JobList, JobListQuery, JobResponse};

use crate::api::{page_limit, page_offset};
use crate::error::ApiError;
use crate::extract::{AppPath, AppQuery, Auth};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/jobs", get(list))
        .route("/jobs/{id}", get(show))
}

/// List jobs, newest first, filtered by state and kind.
#[utoipa::path(get, path = "/api/v1/jobs", operation_id = "listJobs", tag = "jobs", params(JobListQuery), security(("bearer" = [])),
    responses((status = 200, body = JobList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppQuery(query): AppQuery<JobListQuery>,
) -> Result<Json<JobList>, ApiError> {
    let limit = page_limit(query.limit)?;
    page_offset(query.offset)?;
    if query.kind.as_ref().is_some_and(|kind| kind.chars().count() > 128) {
        return Err(ApiError::bad_request("kind must be at most 128 characters"));
    }
    Ok(Json(state.services.jobs.list(&principal, &query, limit).await?))
}

/// One job with its progress.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", operation_id = "getJob", tag = "jobs", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = JobResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppPath(id): AppPath<String>,
) -> Result<Json<JobResponse>, ApiError> {
    Ok(Json(JobResponse {
        job: state.services.jobs.get(&principal, &id).await?,
    }))
}

/// Answers an operation that may still be running in the background: `200` with its result when
/// it ended in time, else `202 Accepted` with the job that follows it, `Location` naming it.
pub fn settled<T: serde::Serialize>(settled: Settled<T>) -> Response {
    match settled {
        Settled::Done(body) => Json(body).into_response(),
        Settled::Running(job) => {
            let location = HeaderValue::from_str(&format!("/api/v1/jobs/{}", job.id));
            let mut response = (
                StatusCode::ACCEPTED,
                Json(AcceptedResponse {
                    job_id: job.id.clone(),
                    job: *job,
                }),
            )
                .into_response();
            // Job ids are UUIDs, always a valid header value.
            if let Ok(location) = location {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
    }
}
