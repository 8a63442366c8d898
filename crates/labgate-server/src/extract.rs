//! Extractors that turn bad input into the error contract instead of axum's plain-text answers.

use std::net::IpAddr;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use bytes::Bytes;
use labgate_core::auth::{AuthFailure, AuthenticateError, Principal};
use labgate_proto::ErrorKind;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// Facts about the request the middleware established.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub client_ip: Option<IpAddr>,
}

/// Removes quoted input from a parser message: the quoted text is the caller's own input, which
/// may be a secret sent in the wrong field, and has no place in a response or a log.
pub fn sanitize_parser_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        match c {
            '"' if !quoted => {
                quoted = true;
                out.push_str("\"…");
            }
            '"' => {
                quoted = false;
                out.push('"');
            }
            _ if quoted => {}
            _ => out.push(c),
        }
    }
    if quoted {
        out.push('"');
    }
    redact_variant(&out)
}

/// serde names a wrong enum value as ``unknown variant `value` ``: the value is input, the
/// expected variants that follow are not.
fn redact_variant(message: &str) -> String {
    const MARKER: &str = "unknown variant `";
    let Some(start) = message.find(MARKER) else {
        return message.to_owned();
    };
    let value_start = start + MARKER.len();
    let Some(length) = message.get(value_start..).and_then(|rest| rest.find('`')) else {
        return message.to_owned();
    };
    let before = message.get(..value_start).unwrap_or_default();
    let after = message.get(value_start + length..).unwrap_or_default();
    format!("{before}…{after}")
}

/// The authenticated caller. Missing, malformed, unknown, revoked and expired keys are 401.
///
/// Unknown and revoked keys are what guessing and replaying produce, so only they count against
/// the client address, and only they are refused with 429 once the address is over its
/// allowance. A valid key always passes: many callers can share one address (NAT, a proxy), and
/// one of them guessing must not lock the others out. A request without credentials tells
/// nothing about a key, so it is neither counted nor braked.
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let client_ip = parts
            .extensions
            .get::<RequestInfo>()
            .and_then(|info| info.client_ip);
        let unauthorized = |failure: AuthFailure| ApiError::new(ErrorKind::Unauthorized, failure.message());
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            return Err(unauthorized(AuthFailure::Missing));
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| unauthorized(AuthFailure::Malformed))?;
        match state.services.api_keys.authenticate(token, client_ip).await {
            Ok(principal) => Ok(Auth(principal)),
            Err(AuthenticateError::Denied(failure @ (AuthFailure::Unknown | AuthFailure::Revoked))) => {
                let blocked = client_ip.and_then(|ip| state.auth_limiter.record_failure(ip));
                Err(match blocked {
                    Some(retry_after) => {
                        let mut error = ApiError::new(
                            ErrorKind::TooManyRequests,
                            "too many failed authentication attempts from this address; try again later",
                        );
                        error.retry_after_secs = Some(retry_after);
                        error
                    }
                    None => unauthorized(failure),
                })
            }
            Err(AuthenticateError::Denied(failure)) => Err(unauthorized(failure)),
            Err(AuthenticateError::Unavailable(error)) => {
                tracing::error!(error = %error, "authentication could not reach the database");
                Err(ApiError::new(
                    ErrorKind::ServiceUnavailable,
                    "authentication is unavailable; try again",
                ))
            }
        }
    }
}

/// A JSON body: `Content-Type: application/json` (415 otherwise), at most 1 MiB (413), valid
/// UTF-8 JSON of the expected shape with no unknown fields (400 with details otherwise; 422 on
/// Infisical's routes when the JSON is well formed but of the wrong shape).
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::new(
                ErrorKind::UnsupportedMediaType,
                "the body must be JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status().as_u16() == 413 {
                ApiError::new(
                    ErrorKind::PayloadTooLarge,
                    "the request body is larger than 1 MiB",
                )
            } else {
                ApiError::bad_request("the request body could not be read")
            }
        })?;
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error_free(&mut deserializer).map_err(|error| {
            let message = sanitize_parser_message(&error.to_string());
            let rejection = ApiError::bad_request(format!("invalid JSON body: {message}")).with_details(
                serde_json::json!([{
                    "line": error.line(),
                    "column": error.column(),
                    "message": message,
                }]),
            );
            // JSON of the wrong shape fails validation; text that is not JSON stays a bad request.
            if error.classify() == serde_json::error::Category::Data {
                rejection.invalid_input()
            } else {
                rejection
            }
        })?;
        Ok(AppJson(value))
    }
}

fn serde_path_to_error_free<T: DeserializeOwned>(
    deserializer: &mut serde_json::Deserializer<serde_json::de::SliceRead<'_>>,
) -> Result<T, serde_json::Error> {
    let value = T::deserialize(&mut *deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// Query parameters of the expected shape (400 with the reason, also in `details`, otherwise;
/// 422 on Infisical's routes).
pub struct AppQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for AppQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // A query that parses is parsed directly; only a refused one goes through axum's
        // extractor, whose error names the field at fault but costs more on every request.
        if let Ok(query) = serde_urlencoded::from_str::<T>(parts.uri.query().unwrap_or_default()) {
            return Ok(AppQuery(query));
        }
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|query| AppQuery(query.0))
            .map_err(|rejection| {
                let text = rejection.body_text();
                let message =
                    sanitize_parser_message(text.trim_start_matches("Failed to deserialize query string: "));
                ApiError::bad_request(format!("invalid query string: {message}"))
                    .with_details(serde_json::json!([{ "message": message }]))
                    .invalid_input()
            })
    }
}

/// A path parameter (400 when it cannot be parsed).
pub struct AppPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for AppPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|path| AppPath(path.0))
            .map_err(|_| ApiError::bad_request("invalid path parameter"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_messages_lose_quoted_input() {
        let message =
            sanitize_parser_message("invalid type: string \"glpat-secret\", expected u32 at line 1");
        assert_eq!(message, "invalid type: string \"…\", expected u32 at line 1");
        assert_eq!(
            sanitize_parser_message("unterminated \"abc"),
            "unterminated \"…\""
        );
        assert_eq!(sanitize_parser_message("no quotes"), "no quotes");
        assert_eq!(
            sanitize_parser_message("unknown variant `glpat-x`, expected `admin` or `reader`"),
            "unknown variant `…`, expected `admin` or `reader`"
        );
        assert_eq!(
            sanitize_parser_message("unknown field `bogus`"),
            "unknown field `bogus`"
        );
    }
}
