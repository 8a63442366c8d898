//! Per-request machinery: faults, rate limits and request counters.

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::presented_secret;
use crate::clock::fmt_http_date;
use crate::db::digest;
use crate::error::ApiError;
use crate::faults::FaultAction;
use crate::state::SimState;

/// A response whose body fails at once, so the server drops the connection without an answer.
fn connection_reset() -> Response {
    let stream = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "fault: connection reset",
        ))
    });
    let mut r = Response::new(Body::from_stream(stream));
    *r.status_mut() = StatusCode::OK;
    r
}

fn fault_status(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match code {
        500 => ApiError::message(status, "Internal Server Error").into_response(),
        502 => (
            status,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
        )
            .into_response(),
        _ => (
            status,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body><h1>503 Service Unavailable</h1></body></html>",
        )
            .into_response(),
    }
}

fn retry_later(retry_after: u64, headers: &[(&'static str, String)]) -> Response {
    let mut r = (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::CONTENT_TYPE, "text/plain")],
        "Retry later\n",
    )
        .into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            r.headers_mut().insert(*k, v);
        }
    }
    r
}

/// GitLab.com's documented per-endpoint limits: (method, route, limit, period seconds, per source).
const ENDPOINT_LIMITS: &[(&str, &str, u64, i64, bool)] = &[
    ("GET", "/api/v4/users/{id}", 300, 600, false),
    ("GET", "/api/v4/projects", 2000, 600, false),
    ("GET", "/api/v4/projects/{id}", 400, 60, false),
    ("GET", "/api/v4/groups", 200, 60, false),
    ("GET", "/api/v4/groups/{id}", 400, 60, false),
    ("GET", "/api/v4/groups/{id}/projects", 600, 60, false),
    ("GET", "/api/v4/projects/{id}/members", 200, 60, false),
    ("GET", "/api/v4/projects/{id}/members/all", 200, 60, true),
    ("GET", "/api/v4/groups/{id}/members/all", 200, 60, true),
    ("DELETE", "/api/v4/projects/{id}/members/{user_id}", 60, 60, true),
    ("DELETE", "/api/v4/groups/{id}/members/{user_id}", 60, 60, true),
];

/// Counts one request in a fixed window; returns (observed, window end).
fn hit(state: &SimState, key: String, period: i64) -> (u64, i64) {
    let now = state.clock().unix();
    let start = now - now.rem_euclid(period);
    let mut w = state.inner.windows.lock();
    w.retain(|(_, s), _| *s + period > now - 3600);
    let c = w.entry((key, start)).or_insert(0);
    *c += 1;
    (*c, start + period)
}

pub async fn sim_layer(State(state): State<SimState>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let full_path = req.uri().path().to_owned();
    let prefix = state.prefix().to_owned();
    let path = full_path.strip_prefix(&prefix).unwrap_or(&full_path).to_owned();
    if path.starts_with("/-/sim/") {
        return next.run(req).await;
    }
    let template = match req.extensions().get::<MatchedPath>() {
        Some(m) => m.as_str().strip_prefix(&prefix).unwrap_or(m.as_str()).to_owned(),
        None if crate::git::is_git_request(req.method(), &path) => {
            let service = path.rsplit('/').next().unwrap_or_default();
            format!(
                "/{{repository}}.git/{}",
                if service == "refs" { "info/refs" } else { service }
            )
        }
        None => "(unmatched)".to_owned(),
    };
    let decision = state.faults().decide(&method, &template, &path);
    let action = decision.action;
    if decision.latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(decision.latency_ms)).await;
    }
    let early = match action {
        FaultAction::Status(code) => Some(fault_status(code)),
        FaultAction::Reset => Some(connection_reset()),
        FaultAction::Storm { retry_after, headers } => {
            let reset = state.clock().unix() + i64::try_from(retry_after).unwrap_or(60);
            let h = if headers {
                vec![
                    ("ratelimit-name", "throttle_authenticated_api".to_owned()),
                    ("ratelimit-limit", "2000".to_owned()),
                    ("ratelimit-observed", "2001".to_owned()),
                    ("ratelimit-remaining", "0".to_owned()),
                    ("ratelimit-reset", reset.to_string()),
                    (
                        "ratelimit-resettime",
                        fmt_http_date(
                            state.clock().now()
                                + time::Duration::seconds(i64::try_from(retry_after).unwrap_or(60)),
                        ),
                    ),
                ]
            } else {
                Vec::new()
            };
            let mut r = retry_later(retry_after, &h);
            if !headers {
                r.headers_mut().remove(header::RETRY_AFTER);
            }
            Some(r)
        }
        FaultAction::None | FaultAction::LoseAnswer => None,
    };
    if let Some(r) = early {
        let status = if action == FaultAction::Reset {
            0
        } else {
            r.status().as_u16()
        };
        state.requests().record(&method, &template, status);
        return r;
    }

    let mut limit_headers: Vec<(&'static str, String)> = Vec::new();
    if path.starts_with("/api/") {
        let limits = state.read(|db| db.settings.rate_limits.clone());
        if limits.authenticated_api_per_minute.is_some()
            || limits.unauthenticated_per_minute.is_some()
            || limits.endpoint_limits
        {
            let (parts, body) = req.into_parts();
            let per_token = limits.per_token;
            let who = presented_secret(&parts).and_then(|(s, _)| {
                let d = digest(&s);
                state.read(|db| {
                    let pat = db.token_digests.get(&d).and_then(|id| db.tokens.get(id));
                    let oauth = db.oauth_access.get(&d).and_then(|id| db.oauth_tokens.get(id));
                    match (pat, oauth) {
                        (Some(t), _) if per_token => Some(format!("token:{}", t.id)),
                        (Some(t), _) => Some(format!("user:{}", t.user_id)),
                        (None, Some(t)) if per_token => Some(format!("oauth:{}", t.id)),
                        (None, Some(t)) => Some(format!("user:{}", t.user_id)),
                        (None, None) => None,
                    }
                })
            });
            let ip = parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "127.0.0.1".to_owned(), |c| c.0.ip().to_string());
            let req_back = Request::from_parts(parts, body);
            let (name, limit, key) = match who {
                Some(u) => (
                    "throttle_authenticated_api",
                    limits.authenticated_api_per_minute,
                    format!("user:{u}"),
                ),
                None => (
                    "throttle_unauthenticated_api",
                    limits.unauthenticated_per_minute,
                    format!("ip:{ip}"),
                ),
            };
            if let Some(limit) = limit {
                let (observed, reset) = hit(&state, format!("{name}:{key}"), 60);
                limit_headers = vec![
                    ("ratelimit-name", name.to_owned()),
                    ("ratelimit-limit", limit.to_string()),
                    ("ratelimit-observed", observed.to_string()),
                    ("ratelimit-remaining", limit.saturating_sub(observed).to_string()),
                    ("ratelimit-reset", reset.to_string()),
                ];
                if observed > limit {
                    let retry = u64::try_from(reset - state.clock().unix()).unwrap_or(1).max(1);
                    let when = time::OffsetDateTime::from_unix_timestamp(reset)
                        .unwrap_or_else(|_| state.clock().now());
                    limit_headers.push(("ratelimit-resettime", fmt_http_date(when)));
                    let r = retry_later(retry, &limit_headers);
                    state.requests().record(&method, &template, 429);
                    return r;
                }
            }
            if limits.endpoint_limits
                && let Some((_, _, lim, period, per_source)) = ENDPOINT_LIMITS
                    .iter()
                    .find(|(m, t, ..)| *m == method && *t == template)
            {
                let scope = if *per_source { path.clone() } else { String::new() };
                let (observed, reset) = hit(
                    &state,
                    format!("endpoint:{method}:{template}:{key}:{scope}"),
                    *period,
                );
                if observed > *lim {
                    let retry = u64::try_from(reset - state.clock().unix()).unwrap_or(1).max(1);
                    state.requests().record(&method, &template, 429);
                    return ApiError::EndpointThrottled { retry_after: retry }.into_response();
                }
            }
            return finish(
                &state,
                next.run(req_back).await,
                action,
                &method,
                &template,
                &limit_headers,
            );
        }
    }
    let resp = next.run(req).await;
    if decision.answer_delay_ms > 0 {
        // The effect has happened; only the answer waits.
        tokio::time::sleep(std::time::Duration::from_millis(decision.answer_delay_ms)).await;
    }
    finish(&state, resp, action, &method, &template, &limit_headers)
}

fn finish(
    state: &SimState,
    mut resp: Response,
    action: FaultAction,
    method: &str,
    template: &str,
    limit_headers: &[(&'static str, String)],
) -> Response {
    if action == FaultAction::LoseAnswer {
        state.requests().record(method, template, 0);
        return connection_reset();
    }
    for (k, v) in limit_headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            resp.headers_mut().insert(*k, v);
        }
    }
    state.requests().record(method, template, resp.status().as_u16());
    resp
}
