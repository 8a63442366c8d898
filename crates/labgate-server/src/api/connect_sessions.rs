//! Connect sessions over HTTP: what an embedding application's backend asks for before its page
//! shows labgate's connect button (the popup's pages are in `crate::connect`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use labgate_proto::ErrorBody;
use labgate_proto::connect_sessions::{ConnectSessionCreated, CreateConnectSessionRequest};

use crate::error::ApiError;
use crate::extract::{AppJson, Auth};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/connect-sessions", post(create))
}

/// Create a connect session for the connect button (`<labgate-connect-button>` of
/// `/sdk/connect.js`). Hand the token to the page at `allowedOrigin`; it opens the popup once,
/// within 30 minutes, and the OAuth flow it begins runs under this key. The token is in this
/// answer only.
#[utoipa::path(post, path = "/api/v1/connect-sessions", operation_id = "createConnectSession",
    tag = "app-connections", request_body = CreateConnectSessionRequest, security(("bearer" = [])),
    responses(
        (status = 201, body = ConnectSessionCreated),
        (status = 400, body = ErrorBody, description = "A value was refused: `allowedOrigin` (required: https, or http on localhost, without a path), the name, a scope GitLab does not grant OAuth applications, `tenantId` without `userId`, or an instance without an OAuth application (`details` says which)."),
        (status = 403, body = ErrorBody, description = "The API key is not an admin key."),
        (status = 409, body = ErrorBody, description = "The name belongs to an access-token connection, or labgate does not know its site URL (`LABGATE_SITE_URL`).")))]
pub async fn create(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppJson(body): AppJson<CreateConnectSessionRequest>,
) -> Result<(StatusCode, Json<ConnectSessionCreated>), ApiError> {
    let created = state
        .services
        .connections
        .create_connect_session(&principal, body)
        .await?;
    Ok((StatusCode::CREATED, Json(created.into_view())))
}
