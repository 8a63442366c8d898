//! The one error type of the HTTP layer. Handlers and extractors return it; the `observe`
//! middleware renders it as the error contract with the request id, so every 4xx and 5xx —
//! including those axum and tower produce on their own — has the same shape.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use labgate_core::CoreError;
use labgate_proto::ErrorKind;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    pub details: Option<serde_json::Value>,
    /// Extra response headers (e.g. `Retry-After`).
    pub retry_after_secs: Option<u64>,
    /// What Infisical answers for the same failure where it differs from labgate (422
    /// `ValidationFailure` for invalid input, 400 for a taken name); only Infisical's routes
    /// answer it (see [`infisical_dialect`]).
    pub infisical_kind: Option<ErrorKind>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
            details: None,
            retry_after_secs: None,
            infisical_kind: None,
        }
    }

    /// Marks input that fails validation: 400 on labgate's routes, 422 `ValidationFailure` on
    /// Infisical's.
    #[must_use]
    pub fn invalid_input(mut self) -> ApiError {
        self.infisical_kind = Some(ErrorKind::ValidationFailure);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::BadRequest, message)
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(ErrorKind::NotFound, format!("{what} not found"))
    }

    pub fn with_details(mut self, details: serde_json::Value) -> ApiError {
        self.details = Some(details);
        self
    }

    /// The generic error for a status that carries no ApiError (axum's own 405, a layer's 413...).
    pub fn for_status(status: StatusCode) -> ApiError {
        let (kind, message) = match status.as_u16() {
            400 => (ErrorKind::BadRequest, "the request is malformed"),
            401 => (ErrorKind::Unauthorized, "authentication is required"),
            403 => (ErrorKind::Forbidden, "this is not allowed"),
            404 => (ErrorKind::NotFound, "no such route or resource"),
            405 => (
                ErrorKind::MethodNotAllowed,
                "this method is not allowed on this route",
            ),
            408 => (ErrorKind::RequestTimeout, "the request was not received in time"),
            503 | 504 => (
                ErrorKind::ServiceUnavailable,
                "the request took too long; try again",
            ),
            409 => (
                ErrorKind::Conflict,
                "the request conflicts with the current state",
            ),
            413 => (
                ErrorKind::PayloadTooLarge,
                "the request body is larger than 1 MiB",
            ),
            414 => (ErrorKind::UriTooLong, "the URI is too long"),
            415 => (
                ErrorKind::UnsupportedMediaType,
                "the body must be JSON (Content-Type: application/json)",
            ),
            422 => (
                ErrorKind::UnprocessableEntity,
                "the request could not be processed",
            ),
            429 => (ErrorKind::TooManyRequests, "too many requests; slow down"),
            code if code < 500 => (ErrorKind::BadRequest, "the request is malformed"),
            _ => (ErrorKind::InternalServerError, "an internal error occurred"),
        };
        ApiError::new(kind, message)
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        response.extensions_mut().insert(self);
        response
    }
}

impl From<CoreError> for ApiError {
    fn from(error: CoreError) -> Self {
        match error {
            CoreError::Validation { message, field } => {
                let error = ApiError::new(ErrorKind::BadRequest, message.clone()).invalid_input();
                match field {
                    Some(field) => {
                        error.with_details(serde_json::json!([{ "field": field, "message": message }]))
                    }
                    None => error,
                }
            }
            CoreError::Unauthorized(message) => ApiError::new(ErrorKind::Unauthorized, message),
            CoreError::Forbidden(message) => ApiError::new(ErrorKind::Forbidden, message),
            CoreError::NotFound(what) => ApiError::not_found(what),
            CoreError::Conflict(message) => ApiError::new(ErrorKind::Conflict, message),
            CoreError::AlreadyExists(message) => ApiError {
                infisical_kind: Some(ErrorKind::BadRequest),
                ..ApiError::new(ErrorKind::Conflict, message)
            },
            CoreError::Unavailable(message) => ApiError::new(ErrorKind::ServiceUnavailable, message),
            CoreError::Internal(cause) => {
                // Logged inside the request's span, so the entry carries the request id; the client
                // only learns that something failed.
                tracing::error!(error = %cause, "internal error");
                ApiError::new(ErrorKind::InternalServerError, "an internal error occurred")
            }
        }
    }
}

pub async fn not_found() -> ApiError {
    ApiError::for_status(StatusCode::NOT_FOUND)
}

/// Answers errors with Infisical's status and name, for the routes that follow Infisical's API
/// (its clients branch on them); everything else about the error stays labgate's.
pub async fn infisical_dialect(mut response: Response) -> Response {
    if let Some(error) = response.extensions_mut().get_mut::<ApiError>()
        && let Some(kind) = error.infisical_kind.take()
    {
        error.kind = kind;
        let status = error.status();
        *response.status_mut() = status;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_map_to_their_status() {
        let cases: Vec<(CoreError, u16)> = vec![
            (CoreError::validation("name", "bad"), 400),
            (CoreError::Unauthorized("no"), 401),
            (CoreError::Forbidden("no".into()), 403),
            (CoreError::NotFound("job"), 404),
            (CoreError::Conflict("taken".into()), 409),
            (CoreError::AlreadyExists("taken".into()), 409),
            (CoreError::Unavailable("down".into()), 503),
            (CoreError::internal(std::io::Error::other("secret detail")), 500),
        ];
        for (error, status) in cases {
            let api = ApiError::from(error);
            assert_eq!(api.kind.status(), status);
            assert!(!api.message.contains("secret detail"));
        }
    }

    #[test]
    fn every_status_gets_a_kind_of_the_same_family() {
        for code in [
            400, 401, 403, 404, 405, 408, 409, 413, 414, 415, 422, 429, 431, 500, 502, 503,
        ] {
            let status = StatusCode::from_u16(code).unwrap();
            let error = ApiError::for_status(status);
            assert_eq!(error.kind.status() / 100, code / 100, "{code}");
        }
    }
}
