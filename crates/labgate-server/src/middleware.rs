//! The layer every request passes through: request id, client address, limits, timeout, request
//! log and metrics, security headers, and rendering of every error as the error contract.

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use labgate_proto::{ErrorBody, ErrorKind};
use tracing::Instrument;

use crate::client_ip::client_ip;
use crate::error::ApiError;
use crate::extract::RequestInfo;
use crate::settings::QUERY_LIMIT;
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Marks a response whose body is meant for a person's browser (the OAuth callback's and the web
/// UI's pages):
/// its error statuses keep their body instead of the error contract's JSON.
#[derive(Debug, Clone, Copy)]
pub struct OwnBody;

/// Accepts a caller's request id only when it is short and plain, so logs cannot be forged.
fn incoming_request_id(request: &Request) -> Option<String> {
    let value = request.headers().get(&REQUEST_ID)?.to_str().ok()?;
    let plain = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    plain.then(|| value.to_owned())
}

pub async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = incoming_request_id(&request).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let client = client_ip(peer, request.headers(), &state.settings.trusted_proxies);
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let is_api = request.uri().path().starts_with("/api/");
    request.extensions_mut().insert(RequestInfo { client_ip: client });

    let span = tracing::info_span!("request", req_id = %request_id, method = %method, route = %route);
    // The OAuth callback answers an overlong query with its own page.
    let too_long = (route != labgate_core::instances::CALLBACK_PATH
        && request
            .uri()
            .query()
            .is_some_and(|query| query.len() > QUERY_LIMIT))
        || request.uri().path().len() > QUERY_LIMIT;
    let mut response = if too_long {
        ApiError::new(ErrorKind::UriTooLong, "the URI is longer than 4096 characters").into_response()
    } else {
        match tokio::time::timeout(
            state.settings.request_timeout,
            next.run(request).instrument(span.clone()),
        )
        .await
        {
            Ok(response) => response,
            Err(_) => ApiError::for_status(StatusCode::SERVICE_UNAVAILABLE).into_response(),
        }
    };

    let status = response.status();
    if (status.is_client_error() || status.is_server_error())
        && response.extensions().get::<OwnBody>().is_none()
    {
        response = render_error(response, &request_id);
    }
    add_security_headers(&mut response, is_api, state.settings.tls.is_some());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }

    let elapsed = started.elapsed();
    state
        .metrics
        .observe(&method, &route, status.as_u16(), elapsed.as_secs_f64());
    let client = client.map(|ip| ip.to_string()).unwrap_or_default();
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            latency_ms = elapsed.as_secs_f64() * 1_000.0,
            client = %client,
            "request"
        );
    });
    response
}

/// Replaces the body of an error response with the error contract.
fn render_error(response: Response, request_id: &str) -> Response {
    let status = response.status();
    let (mut parts, _body) = response.into_parts();
    let error = parts
        .extensions
        .remove::<ApiError>()
        .unwrap_or_else(|| ApiError::for_status(status));
    let status = error.status();
    let body = ErrorBody {
        status_code: status.as_u16(),
        error: error.kind.name().to_owned(),
        message: error.message.clone(),
        req_id: request_id.to_owned(),
        details: error.details.clone(),
    };
    let json = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
    parts.status = status;
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if status == StatusCode::UNAUTHORIZED {
        parts
            .headers
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if let Some(seconds) = error.retry_after_secs
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        parts.headers.insert(header::RETRY_AFTER, value);
    }
    Response::from_parts(parts, Body::from(json))
}

fn add_security_headers(response: &mut Response, is_api: bool, tls: bool) {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Pages name themselves in `Referer` to labgate's own links (`same-origin`); nothing else does.
    headers
        .entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("no-referrer"));
    // A page that needs more than nothing (its own inline style) sets its own, as strict.
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'",
        ));
    // The connect button's script is loaded by other sites' pages, and says so itself.
    headers
        .entry(HeaderName::from_static("cross-origin-resource-policy"))
        .or_insert(HeaderValue::from_static("same-origin"));
    if is_api {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
}
