//! The error contract every 4xx and 5xx answer follows.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `{"statusCode":400,"error":"BadRequest","message":"…","reqId":"…"}`, plus `details` for
/// validation errors. Clients match on `error` (and `statusCode`), never on `message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub status_code: u16,
    pub error: String,
    pub message: String,
    pub req_id: String,
    /// What was wrong, one entry per problem: `{"field", "message"}` for a field of the
    /// request, `{"line", "column", "message"}` for a body that is not the JSON expected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub details: Option<serde_json::Value>,
}

/// The stable machine names used in `ErrorBody::error`, one per HTTP status family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    Conflict,
    PayloadTooLarge,
    UriTooLong,
    UnsupportedMediaType,
    UnprocessableEntity,
    /// A request that does not pass validation, on Infisical's routes, under Infisical's name.
    ValidationFailure,
    TooManyRequests,
    InternalServerError,
    ServiceUnavailable,
}

impl ErrorKind {
    pub const fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::RequestTimeout => 408,
            Self::Conflict => 409,
            Self::PayloadTooLarge => 413,
            Self::UriTooLong => 414,
            Self::UnsupportedMediaType => 415,
            Self::UnprocessableEntity | Self::ValidationFailure => 422,
            Self::TooManyRequests => 429,
            Self::InternalServerError => 500,
            Self::ServiceUnavailable => 503,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::BadRequest => "BadRequest",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden => "Forbidden",
            Self::NotFound => "NotFound",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::RequestTimeout => "RequestTimeout",
            Self::Conflict => "Conflict",
            Self::PayloadTooLarge => "PayloadTooLarge",
            Self::UriTooLong => "UriTooLong",
            Self::UnsupportedMediaType => "UnsupportedMediaType",
            Self::UnprocessableEntity => "UnprocessableEntity",
            Self::ValidationFailure => "ValidationFailure",
            Self::TooManyRequests => "TooManyRequests",
            Self::InternalServerError => "InternalServerError",
            Self::ServiceUnavailable => "ServiceUnavailable",
        }
    }
}
