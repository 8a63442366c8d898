//! `/api/v1/credentials/gitlab`: the credential broker. The one read route that answers with a
//! secret, so it is never cached by anything between labgate and its caller.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use labgate_proto::credentials::{CredentialQuery, CredentialResponse};
use labgate_proto::{ErrorBody, ErrorKind};

use crate::error::ApiError;
use crate::extract::{AppQuery, Auth};
use crate::state::AppState;

/// Room for a credential answer: the token, a few scopes and URLs, two times.
const RESPONSE_CAPACITY: usize = 768;

/// Mounted at the top, not under the `/api/v1` nest: a nested route pays for a rewritten URI on
/// every request, and this is the route other software calls on every token use.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/credentials/gitlab", get(show))
}

/// A working GitLab token of a connection, named by `connectionId`, or by the `tenantId` and
/// `userId` an embedding application labelled it with when it began the OAuth flow. Comes with
/// `useUntil`: cache it until then, and ask again after (or at once when GitLab refuses it). An
/// OAuth connection's token is refreshed first when little of it is left. Admin and
/// credential-reader keys only; every read is audited.
#[utoipa::path(get, path = "/api/v1/credentials/gitlab", operation_id = "getGitLabCredential", tag = "credentials",
    params(CredentialQuery), security(("bearer" = [])),
    responses((status = 200, body = CredentialResponse),
        (status = 400, body = ErrorBody, description = "Neither `connectionId` nor both of `tenantId` and `userId`, or a malformed query (`details` says which)."),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The connection's token cannot be used: it expired, was revoked, or GitLab no longer honours the OAuth grant (reconnect it)."),
        (status = 503, body = ErrorBody, description = "An OAuth connection needed a refresh and GitLab could not be reached; try again.")))]
pub async fn show(
    State(state): State<AppState>,
    Auth(principal): Auth,
    AppQuery(query): AppQuery<CredentialQuery>,
) -> Result<Response, ApiError> {
    let credential = state
        .services
        .connections
        .credential_for(&principal, &query)
        .await?;
    // Serialised into a buffer that fits a credential at once: `Json` starts small and grows, and
    // its writer costs more per write than a `Vec` does, on the busiest route labgate has.
    let mut body = Vec::with_capacity(RESPONSE_CAPACITY);
    credential.write_json(&mut body).map_err(|_| {
        ApiError::new(
            ErrorKind::InternalServerError,
            "the credential could not be encoded",
        )
    })?;
    let mut response = (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}
