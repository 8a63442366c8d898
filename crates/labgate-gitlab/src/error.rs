//! One error type for every GitLab call, parsed from GitLab's error body families
//! (`{"message": "…"}`, `{"message": {field: [..]}}`, `{"error": "…"}`,
//! `{"error", "error_description"}`) and from transport failures.
//!
//! Messages say what went wrong and what to do about it. They never contain a token, an
//! `Authorization` header, or a full request URL.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::net::{BlockReason, Blocked, RedirectRefused, ResolveError, why_refused};

/// Why GitLab refused a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnauthorizedReason {
    /// The token is past its expiry date (OAuth: its 2-hour lifetime).
    Expired,
    /// The token was revoked (or rotated).
    Revoked,
    /// Unknown token, wrong kind of token for this header, or no credentials.
    Invalid,
}

impl fmt::Display for UnauthorizedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Expired => "the token has expired; create a new token (or refresh the OAuth connection)",
            Self::Revoked => "the token was revoked; create a new token (or reconnect with OAuth)",
            Self::Invalid => "the token is not valid for this GitLab instance",
        })
    }
}

/// Everything that can go wrong talking to GitLab.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GitLabError {
    #[error("GitLab refused the token: {reason}")]
    Unauthorized { reason: UnauthorizedReason },

    #[error(
        "the token lacks the scope this request needs: add one of [{}] to the token",
        required.join(", ")
    )]
    InsufficientScope { required: Vec<String> },

    #[error("GitLab denied the request (403): {message}; the token's user needs a higher role")]
    Forbidden { message: String },

    #[error(
        "GitLab found nothing at {path} (404): {message}; check the id or path, and that the token's user can see it"
    )]
    NotFound { path: String, message: String },

    #[error("GitLab reported a conflict (409): {message}")]
    Conflict { message: String },

    #[error("GitLab rejected the request (400): {}", fmt_fields(fields))]
    Validation { fields: BTreeMap<String, Vec<String>> },

    #[error("GitLab rejected the request ({status}): {message}")]
    BadRequest { status: u16, message: String },

    #[error("GitLab does not allow this here (405): {message}")]
    MethodNotAllowed { message: String },

    #[error("GitLab rate limit reached{}", retry_after.map(|d| format!("; retry in {} s", d.as_secs().max(1))).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },

    #[error("GitLab is temporarily failing ({detail}); try again later")]
    Transient { status: Option<u16>, detail: String },

    #[error("TLS failed with {host}: {detail}")]
    Tls { host: String, detail: String },

    /// The message never shows `address` when `host` is a name (see [`Blocked`]).
    #[error(
        "refused to connect to {host}: {}; an operator can allow it with {}",
        why_refused(host, *reason),
        crate::net::ALLOW_INTERNAL_HOSTS
    )]
    Blocked {
        host: String,
        /// The refused address, for the operator's logs only.
        address: Option<IpAddr>,
        reason: BlockReason,
    },

    #[error(
        "GitLab at {from} redirected to another origin ({to}); labgate never follows redirects to another host, port or to plain http: use the URL GitLab redirects to as the instance URL"
    )]
    RedirectRefused { from: String, to: String },

    #[error("cannot reach GitLab at {host}: {detail}")]
    Unreachable { host: String, detail: String },

    #[error("GitLab did not answer in time ({}s)", after.as_secs())]
    Timeout { after: Duration },

    #[error("the OAuth grant is no longer valid (invalid_grant): the user must reconnect")]
    InvalidGrant,

    #[error(
        "the OAuth application was refused (invalid_client): check the application id and secret configured for this instance"
    )]
    InvalidClient,

    #[error("the OAuth server answered {error}{}", description.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    OAuth {
        error: String,
        description: Option<String>,
    },

    #[error(
        "the server at this URL did not answer like a GitLab API (status {status}, content type {}); check the instance URL and path prefix",
        content_type.as_deref().unwrap_or("none")
    )]
    UnexpectedResponse {
        status: u16,
        content_type: Option<String>,
    },

    #[error("GitLab's answer to {path} could not be read: {detail}")]
    Decode { path: String, detail: String },

    #[error("GitLab answered {status}: {message}")]
    Other { status: u16, message: String },

    #[error("invalid configuration: {0}")]
    Config(String),
}

fn fmt_fields(fields: &BTreeMap<String, Vec<String>>) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k} {}", v.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

impl GitLabError {
    /// Whether retrying the same request later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Transient { .. }
                | Self::Timeout { .. }
                | Self::RateLimited { .. }
                | Self::Unreachable { .. }
        )
    }

    /// For a write (rotation, refresh, any POST/DELETE): whether GitLab may have applied it even
    /// though no usable answer arrived — a timeout, a connection lost after sending, or a 5xx
    /// (a proxy's 502/504 can follow a request GitLab handled). Such a write must be journalled
    /// and reconciled, never repeated blindly. Refusals before sending (unreachable, blocked,
    /// TLS) and GitLab's own verdicts (4xx, 429) are `false`.
    pub fn may_have_been_applied(&self) -> bool {
        matches!(self, Self::Transient { .. } | Self::Timeout { .. })
    }

    /// A stable machine-readable code for the class of error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized {
                reason: UnauthorizedReason::Expired,
            } => "token_expired",
            Self::Unauthorized {
                reason: UnauthorizedReason::Revoked,
            } => "token_revoked",
            Self::Unauthorized {
                reason: UnauthorizedReason::Invalid,
            } => "token_invalid",
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::Forbidden { .. } => "forbidden",
            Self::NotFound { .. } => "not_found",
            Self::Conflict { .. } => "conflict",
            Self::Validation { .. } => "validation",
            Self::BadRequest { .. } => "bad_request",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::RateLimited { .. } => "rate_limited",
            Self::Transient { .. } => "transient",
            Self::Tls { .. } => "tls",
            Self::Blocked { .. } => "blocked",
            Self::RedirectRefused { .. } => "redirect_refused",
            Self::Unreachable { .. } => "unreachable",
            Self::Timeout { .. } => "timeout",
            Self::InvalidGrant => "invalid_grant",
            Self::InvalidClient => "invalid_client",
            Self::OAuth { .. } => "oauth",
            Self::UnexpectedResponse { .. } => "unexpected_response",
            Self::Decode { .. } => "decode",
            Self::Other { .. } => "other",
            Self::Config(_) => "config",
        }
    }
}

impl From<Blocked> for GitLabError {
    fn from(b: Blocked) -> Self {
        Self::Blocked {
            host: b.host,
            address: b.address,
            reason: b.reason,
        }
    }
}

impl From<ResolveError> for GitLabError {
    fn from(e: ResolveError) -> Self {
        match e {
            ResolveError::Blocked(b) => b.into(),
            ResolveError::Dns { host, detail } => GitLabError::Unreachable {
                host,
                detail: format!("the name could not be resolved ({detail})"),
            },
        }
    }
}

/// `Retry-After` (seconds or HTTP date), else `RateLimit-Reset` (absolute Unix seconds, read
/// against the response's `Date` when present to be immune to clock skew).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(v) = get("retry-after") {
        if let Ok(s) = v.parse::<u64>() {
            return Some(Duration::from_secs(s));
        }
        if let Some(t) = parse_http_date(v) {
            let now = get("date").and_then(parse_http_date).unwrap_or_else(now_unix);
            return Some(Duration::from_secs(t.saturating_sub(now).max(0).unsigned_abs()));
        }
    }
    retry_after_reset(headers)
}

/// Time left until `RateLimit-Reset` (absolute Unix seconds), against the response's `Date`.
pub(crate) fn retry_after_reset(headers: &HeaderMap) -> Option<Duration> {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
    let reset = get("ratelimit-reset").and_then(|v| v.parse::<i64>().ok())?;
    let now = get("date").and_then(parse_http_date).unwrap_or_else(now_unix);
    Some(Duration::from_secs(
        reset.saturating_sub(now).max(0).unsigned_abs(),
    ))
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Parses an IMF-fixdate (`Tue, 05 Jan 2021 11:00:00 GMT`) to Unix seconds.
pub(crate) fn parse_http_date(s: &str) -> Option<i64> {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(s.trim(), &fmt)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

fn str_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The message of a `{"message": …}` / `{"error": …}` body, for display.
fn message_of(body: &Value) -> Option<String> {
    match body.get("message") {
        Some(Value::String(s)) => return Some(s.clone()),
        Some(Value::Object(m)) => {
            if let Some(e) = m.get("error").and_then(str_of) {
                return Some(e);
            }
            return Some(Value::Object(m.clone()).to_string());
        }
        Some(Value::Array(a)) => {
            return Some(a.iter().filter_map(str_of).collect::<Vec<_>>().join("; "));
        }
        _ => {}
    }
    body.get("error_description")
        .and_then(str_of)
        .or_else(|| body.get("error").and_then(str_of))
}

fn fields_of(body: &Value) -> Option<BTreeMap<String, Vec<String>>> {
    let Value::Object(m) = body.get("message")? else {
        return None;
    };
    if m.contains_key("error") && m.len() == 1 {
        return None;
    }
    Some(
        m.iter()
            .map(|(k, v)| {
                let msgs = match v {
                    Value::Array(a) => a.iter().filter_map(str_of).collect(),
                    other => str_of(other).into_iter().collect(),
                };
                (k.clone(), msgs)
            })
            .collect(),
    )
}

fn unauthorized_reason(body: Option<&Value>, headers: &HeaderMap) -> UnauthorizedReason {
    let text = body
        .and_then(|b| b.get("error_description"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            headers
                .get(http::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default()
        .to_ascii_lowercase();
    if text.contains("expired") {
        UnauthorizedReason::Expired
    } else if text.contains("revoked") {
        UnauthorizedReason::Revoked
    } else {
        UnauthorizedReason::Invalid
    }
}

pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| {
            let c = c.to_ascii_lowercase();
            c.starts_with("application/json") || c.contains("+json")
        })
}

pub(crate) fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|c| c.split(';').next().unwrap_or(c).trim().to_owned())
}

/// Maps a non-success answer to an error. `path` is the route template, for messages.
pub(crate) fn from_response(status: StatusCode, headers: &HeaderMap, body: &[u8], path: &str) -> GitLabError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok().filter(Value::is_object);
    let code = status.as_u16();
    if code == 429 {
        return GitLabError::RateLimited {
            retry_after: retry_after(headers),
        };
    }
    if status.is_server_error() {
        let detail = match parsed.as_ref().and_then(message_of) {
            Some(m) => format!("{code} {m}"),
            None => format!("{code} {}", status.canonical_reason().unwrap_or("server error")),
        };
        return GitLabError::Transient {
            status: Some(code),
            detail,
        };
    }
    let Some(body) = parsed else {
        if code == 401 {
            // Some proxies strip bodies; the status is still GitLab's verdict.
            return GitLabError::Unauthorized {
                reason: unauthorized_reason(None, headers),
            };
        }
        return GitLabError::UnexpectedResponse {
            status: code,
            content_type: content_type(headers),
        };
    };
    let oauth_error = body.get("error").and_then(Value::as_str);
    match oauth_error {
        Some("invalid_grant") => return GitLabError::InvalidGrant,
        Some("invalid_client") => return GitLabError::InvalidClient,
        Some("invalid_token") => {
            return GitLabError::Unauthorized {
                reason: unauthorized_reason(Some(&body), headers),
            };
        }
        Some("insufficient_scope") => {
            let required = body
                .get("scope")
                .and_then(Value::as_str)
                .map(|s| s.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default();
            return GitLabError::InsufficientScope { required };
        }
        Some(
            e @ ("invalid_request"
            | "invalid_scope"
            | "unauthorized_client"
            | "unsupported_grant_type"
            | "access_denied"),
        ) => {
            return GitLabError::OAuth {
                error: e.to_owned(),
                description: body.get("error_description").and_then(str_of),
            };
        }
        _ => {}
    }
    let message = message_of(&body).unwrap_or_else(|| {
        status
            .canonical_reason()
            .unwrap_or("unexpected status")
            .to_owned()
    });
    match code {
        401 => GitLabError::Unauthorized {
            reason: unauthorized_reason(Some(&body), headers),
        },
        403 => GitLabError::Forbidden { message },
        404 => GitLabError::NotFound {
            path: path.to_owned(),
            message,
        },
        405 => GitLabError::MethodNotAllowed { message },
        409 => GitLabError::Conflict { message },
        400 | 422 => match fields_of(&body) {
            Some(fields) => GitLabError::Validation { fields },
            None => GitLabError::BadRequest {
                status: code,
                message,
            },
        },
        _ => GitLabError::Other {
            status: code,
            message,
        },
    }
}

/// Maps a transport failure. `host` names the instance for messages.
pub(crate) fn from_transport(err: &reqwest::Error, host: &str, timeout: Duration) -> GitLabError {
    // Our own refusals travel through the HTTP stack as error sources.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut io_detail: Option<String> = None;
    while let Some(e) = source {
        if let Some(b) = e.downcast_ref::<Blocked>() {
            return b.clone().into();
        }
        if let Some(r) = e.downcast_ref::<ResolveError>() {
            return r.clone().into();
        }
        if let Some(r) = e.downcast_ref::<RedirectRefused>() {
            return GitLabError::RedirectRefused {
                from: r.from.clone(),
                to: r.to.clone(),
            };
        }
        if let Some(t) = e.downcast_ref::<rustls::Error>() {
            return tls_error(t, host);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() != std::io::ErrorKind::Other {
                io_detail.get_or_insert_with(|| describe_io(io));
            }
            // `io::Error::source` skips the wrapped error itself: descend into it instead.
            if let Some(inner) = io.get_ref() {
                source = Some(inner);
                continue;
            }
        }
        source = e.source();
    }
    if err.is_timeout() {
        return GitLabError::Timeout { after: timeout };
    }
    if err.is_redirect() {
        return GitLabError::Transient {
            status: None,
            detail: "too many redirects".to_owned(),
        };
    }
    if err.is_connect() {
        return GitLabError::Unreachable {
            host: host.to_owned(),
            detail: io_detail.unwrap_or_else(|| "the connection could not be established".to_owned()),
        };
    }
    GitLabError::Transient {
        status: None,
        detail: io_detail.unwrap_or_else(|| "the connection failed before an answer arrived".to_owned()),
    }
}

fn describe_io(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => "connection refused".to_owned(),
        K::ConnectionReset => "connection reset by the server".to_owned(),
        K::ConnectionAborted => "connection aborted".to_owned(),
        K::UnexpectedEof => "the connection closed before the answer was complete".to_owned(),
        K::TimedOut => "the connection timed out".to_owned(),
        K::HostUnreachable => "host unreachable".to_owned(),
        K::NetworkUnreachable => "network unreachable".to_owned(),
        _ => e.kind().to_string(),
    }
}

fn tls_error(e: &rustls::Error, host: &str) -> GitLabError {
    use rustls::CertificateError as C;
    let detail = match e {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => format!(
            "certificate not trusted for host {host}: it is signed by an unknown authority; add the instance's CA certificate (PEM) to its settings"
        ),
        rustls::Error::InvalidCertificate(C::NotValidForName)
        | rustls::Error::InvalidCertificate(C::NotValidForNameContext { .. }) => {
            format!("the certificate is not valid for host {host}; check the instance URL")
        }
        rustls::Error::InvalidCertificate(C::Expired)
        | rustls::Error::InvalidCertificate(C::ExpiredContext { .. }) => {
            format!("the certificate of {host} has expired")
        }
        rustls::Error::InvalidCertificate(C::NotValidYet)
        | rustls::Error::InvalidCertificate(C::NotValidYetContext { .. }) => {
            format!("the certificate of {host} is not valid yet")
        }
        rustls::Error::InvalidCertificate(other) => {
            format!("the certificate of {host} was refused ({other:?})")
        }
        other => format!("the TLS handshake with {host} failed ({other})"),
    };
    GitLabError::Tls {
        host: host.to_owned(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn err(status: u16, body: &str) -> GitLabError {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        from_response(StatusCode::from_u16(status).unwrap(), &h, body.as_bytes(), "/x")
    }

    #[test]
    fn token_errors() {
        assert_eq!(
            err(401, r#"{"message":"401 Unauthorized"}"#),
            GitLabError::Unauthorized {
                reason: UnauthorizedReason::Invalid
            }
        );
        assert_eq!(
            err(
                401,
                r#"{"error":"invalid_token","error_description":"Token is expired. You can either do re-authorization or token refresh."}"#
            ),
            GitLabError::Unauthorized {
                reason: UnauthorizedReason::Expired
            }
        );
        assert_eq!(
            err(
                401,
                r#"{"error":"invalid_token","error_description":"Token was revoked. You have to re-authorize from the user."}"#
            ),
            GitLabError::Unauthorized {
                reason: UnauthorizedReason::Revoked
            }
        );
        assert_eq!(
            err(
                401,
                r#"{"error":"invalid_token","error_description":"Bad Access Token."}"#
            ),
            GitLabError::Unauthorized {
                reason: UnauthorizedReason::Invalid
            }
        );
        let scope = err(
            403,
            r#"{"error":"insufficient_scope","error_description":"…","scope":"api read_api"}"#,
        );
        assert_eq!(
            scope,
            GitLabError::InsufficientScope {
                required: vec!["api".into(), "read_api".into()]
            }
        );
        assert!(scope.to_string().contains("api, read_api"));
    }

    #[test]
    fn body_families() {
        assert!(matches!(
            err(403, r#"{"message":"403 Forbidden"}"#),
            GitLabError::Forbidden { .. }
        ));
        assert!(
            matches!(err(404, r#"{"message":"404 Project Not Found"}"#), GitLabError::NotFound { message, .. } if message == "404 Project Not Found")
        );
        assert!(matches!(
            err(409, r#"{"message":"Member already exists"}"#),
            GitLabError::Conflict { .. }
        ));
        let v = err(
            400,
            r#"{"message":{"key":["(FOO) has already been taken"],"value":["is invalid"]}}"#,
        );
        let GitLabError::Validation { fields } = &v else {
            panic!("{v:?}")
        };
        assert_eq!(fields["key"], vec!["(FOO) has already been taken".to_owned()]);
        assert!(v.to_string().contains("value is invalid"));
        assert_eq!(
            err(400, r#"{"error":"key is missing, value is missing"}"#),
            GitLabError::BadRequest {
                status: 400,
                message: "key is missing, value is missing".into()
            }
        );
        assert_eq!(
            err(400, r#"{"error":"invalid_grant","error_description":"x"}"#),
            GitLabError::InvalidGrant
        );
        assert_eq!(
            err(401, r#"{"error":"invalid_client","error_description":"x"}"#),
            GitLabError::InvalidClient
        );
        assert!(matches!(
            err(
                405,
                r#"{"error":"Keyset pagination is not yet available for this type of request"}"#
            ),
            GitLabError::MethodNotAllowed { .. }
        ));
        assert!(matches!(
            err(502, "<html></html>"),
            GitLabError::Transient {
                status: Some(502),
                ..
            }
        ));
    }

    #[test]
    fn unknown_outcomes() {
        assert!(err(502, "<html>").may_have_been_applied());
        assert!(
            GitLabError::Timeout {
                after: Duration::from_secs(1)
            }
            .may_have_been_applied()
        );
        assert!(!err(429, "Retry later").may_have_been_applied());
        assert!(!err(400, r#"{"error":"invalid_grant"}"#).may_have_been_applied());
        assert!(
            !GitLabError::Unreachable {
                host: "h".into(),
                detail: "refused".into()
            }
            .may_have_been_applied()
        );
    }

    #[test]
    fn html_is_unexpected() {
        let mut h = HeaderMap::new();
        h.insert(
            "content-type",
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        assert_eq!(
            from_response(StatusCode::NOT_FOUND, &h, b"<html>", "/x"),
            GitLabError::UnexpectedResponse {
                status: 404,
                content_type: Some("text/html".into())
            }
        );
    }

    #[test]
    fn rate_limit_headers() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let mut h = HeaderMap::new();
        h.insert("date", HeaderValue::from_static("Tue, 05 Jan 2021 11:00:00 GMT"));
        h.insert("ratelimit-reset", HeaderValue::from_static("1609844430"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(30)));
        let e = err(429, "Retry later");
        assert_eq!(e, GitLabError::RateLimited { retry_after: None });
        let mut h = HeaderMap::new();
        h.insert("date", HeaderValue::from_static("Tue, 05 Jan 2021 11:00:00 GMT"));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Tue, 05 Jan 2021 11:01:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::from_secs(60)));
    }
}
