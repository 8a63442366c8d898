//! `/api/v1/credentials/gitlab`: the credential broker. The one read route that answers with a
//! secret, so it is never cached by anything between labgate and its caller.

use axum::Router;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use axum::http::{HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use labgate_proto::credentials::{CredentialQuery, CredentialResponse};
use labgate_proto::{ErrorBody, ErrorKind};

use crate::error::ApiError;
use crate::extract::{Auth, parse_query};
use crate::state::AppState;

/// The query of nearly every read, `connectionId=<id>` and nothing else, read without the
/// general query parser; an id of hex digits and dashes has nothing to decode, so the result is
/// what the parser would give. Anything else goes to the parser.
fn by_id_alone(uri: &Uri) -> Option<CredentialQuery> {
    let id = uri.query()?.strip_prefix("connectionId=")?;
    (id.len() == 36 && id.bytes().all(|byte| byte.is_ascii_hexdigit() || byte == b'-')).then(|| {
        CredentialQuery {
            connection_id: Some(id.to_owned()),
            ..CredentialQuery::default()
        }
    })
}

/// Room for a credential answer: the token, a few scopes and URLs, two times.
const RESPONSE_CAPACITY: usize = 768;

/// Mounted at the top, not under `/api/v1` with the other routes: a nested router strips its
/// prefix from every request it sees, which this route, the busiest, need not pay for.
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
    uri: Uri,
) -> Result<Response, ApiError> {
    let query = match by_id_alone(&uri) {
        Some(query) => query,
        None => parse_query::<CredentialQuery>(&uri)?,
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "01a2334f-2310-762f-b9d0-1c89a6a33153";

    fn read(query: &str) -> Option<CredentialQuery> {
        by_id_alone(
            &format!("/api/v1/credentials/gitlab?{query}")
                .parse::<Uri>()
                .unwrap(),
        )
    }

    #[test]
    fn only_a_plain_id_alone_skips_the_parser_and_reads_as_the_parser_would() {
        let uri: Uri = format!("/api/v1/credentials/gitlab?connectionId={ID}")
            .parse()
            .unwrap();
        assert_eq!(
            by_id_alone(&uri),
            Some(parse_query::<CredentialQuery>(&uri).unwrap())
        );
        for other in [
            format!("connectionId={ID}&tenantId=t"),
            format!("tenantId=t&connectionId={ID}"),
            format!("connectionId={}", &ID[..35]),
            format!("connectionId={}%41", &ID[..34]),
            "connectionId=".to_owned(),
        ] {
            assert_eq!(read(&other), None, "{other}");
        }
    }
}
