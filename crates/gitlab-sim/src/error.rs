//! GitLab's error body families, and the one place that turns them into HTTP responses.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Every error the simulator answers with, one variant per GitLab body family.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// `{"message": "<status> <text>"}` from `render_api_error!`, `not_found!`, `forbidden!` and friends.
    #[error("{status} {message}")]
    Message { status: StatusCode, message: String },
    /// `{"message": {"field": ["…"]}}` from `render_validation_error!` (status 400 unless stated).
    #[error("validation failed")]
    Validation {
        status: StatusCode,
        fields: BTreeMap<String, Vec<String>>,
    },
    /// `{"error": "…"}` from Grape's `error!` and parameter validation.
    #[error("{status} {error}")]
    Grape { status: StatusCode, error: String },
    /// 401 `invalid_token` from `API::APIGuard` (expired or revoked token).
    #[error("invalid token")]
    InvalidToken { description: &'static str },
    /// 403 `insufficient_scope`, naming the scopes the endpoint accepts.
    #[error("insufficient scope")]
    InsufficientScope { scopes: String },
    /// 429 from an application-level limit (no informational headers).
    #[error("too many requests")]
    EndpointThrottled { retry_after: u64 },
    /// A pre-built response (OAuth errors, git, throttles with headers).
    #[error("{0:?}")]
    Raw(RawResponse),
}

/// A status, headers and body, for errors whose shape is not one of the API families.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    pub status: StatusCode,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub content_type: &'static str,
}

pub const TOKEN_EXPIRED: &str = "Token is expired. You can either do re-authorization or token refresh.";
pub const TOKEN_REVOKED: &str = "Token was revoked. You have to re-authorize from the user.";
pub const INSUFFICIENT_SCOPE: &str =
    "The request requires higher privileges than provided by the access token.";

impl ApiError {
    /// `{"message": "<code> <text>"}` with GitLab's status prefix.
    pub fn message(status: StatusCode, text: impl AsRef<str>) -> Self {
        Self::Message {
            status,
            message: format!("{} {}", status.as_u16(), text.as_ref()),
        }
    }

    /// `{"message": "<text>"}` verbatim (no status prefix).
    pub fn plain(status: StatusCode, text: impl Into<String>) -> Self {
        Self::Message {
            status,
            message: text.into(),
        }
    }

    pub fn unauthorized() -> Self {
        Self::message(StatusCode::UNAUTHORIZED, "Unauthorized")
    }

    pub fn forbidden() -> Self {
        Self::message(StatusCode::FORBIDDEN, "Forbidden")
    }

    pub fn forbidden_because(reason: &str) -> Self {
        Self::message(StatusCode::FORBIDDEN, format!("Forbidden - {reason}"))
    }

    /// A route this GitLab does not have: the API's catch-all (`route :any, '*path'` in
    /// `lib/api/api.rb`) answers `error!('404 Not Found', 404)`, before any authentication.
    pub fn no_route() -> Self {
        Self::grape(StatusCode::NOT_FOUND, "404 Not Found")
    }

    /// `404 <What> Not Found`, e.g. `not_found("Project")`.
    pub fn not_found(what: &str) -> Self {
        Self::message(StatusCode::NOT_FOUND, format!("{what} Not Found"))
    }

    pub fn conflict(text: impl Into<String>) -> Self {
        Self::plain(StatusCode::CONFLICT, text)
    }

    pub fn bad_request(text: &str) -> Self {
        Self::message(StatusCode::BAD_REQUEST, format!("Bad request - {text}"))
    }

    /// Grape's `{"error": "…"}` at 400.
    pub fn param(text: impl Into<String>) -> Self {
        Self::Grape {
            status: StatusCode::BAD_REQUEST,
            error: text.into(),
        }
    }

    pub fn grape(status: StatusCode, text: impl Into<String>) -> Self {
        Self::Grape {
            status,
            error: text.into(),
        }
    }

    pub fn validation(field: &str, msg: impl Into<String>) -> Self {
        let mut fields = BTreeMap::new();
        fields.insert(field.to_owned(), vec![msg.into()]);
        Self::Validation {
            status: StatusCode::BAD_REQUEST,
            fields,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Message { status, .. } | Self::Validation { status, .. } | Self::Grape { status, .. } => {
                *status
            }
            Self::InvalidToken { .. } => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Self::EndpointThrottled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Raw(r) => r.status,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match self {
            Self::Message { message, .. } => {
                (status, axum::Json(json!({ "message": message }))).into_response()
            }
            Self::Validation { fields, .. } => {
                (status, axum::Json(json!({ "message": fields }))).into_response()
            }
            Self::Grape { error, .. } => (status, axum::Json(json!({ "error": error }))).into_response(),
            Self::InvalidToken { description } => {
                let mut r = (
                    status,
                    axum::Json(json!({ "error": "invalid_token", "error_description": description })),
                )
                    .into_response();
                let v = format!(
                    "Bearer realm=\"The API\", error=\"invalid_token\", error_description=\"{description}\""
                );
                if let Ok(v) = HeaderValue::from_str(&v) {
                    r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                r
            }
            Self::InsufficientScope { scopes } => (
                status,
                axum::Json(json!({
                    "error": "insufficient_scope",
                    "error_description": INSUFFICIENT_SCOPE,
                    "scope": scopes,
                })),
            )
                .into_response(),
            Self::EndpointThrottled { retry_after } => {
                let mut r = (
                    status,
                    axum::Json(json!({
                        "message": { "error": "This endpoint has been requested too many times. Try again later." }
                    })),
                )
                    .into_response();
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                r
            }
            Self::Raw(raw) => raw.into_response(),
        }
    }
}

impl IntoResponse for RawResponse {
    fn into_response(self) -> Response {
        let mut r = (self.status, self.body).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        for (k, v) in self.headers {
            if let (Ok(k), Ok(v)) = (header::HeaderName::try_from(k), HeaderValue::from_str(&v)) {
                r.headers_mut().append(k, v);
            }
        }
        r
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_family_has_status_prefix() {
        let e = ApiError::not_found("Project");
        assert_eq!(
            e,
            ApiError::Message {
                status: StatusCode::NOT_FOUND,
                message: "404 Project Not Found".into()
            }
        );
        assert_eq!(
            ApiError::unauthorized().to_string(),
            "401 Unauthorized 401 Unauthorized"
        );
    }
}
