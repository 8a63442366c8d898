//! The control API under `/-/sim/`: seeds, clock, faults, rate limits, counters and test helpers.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::clock::{fmt_ts, parse_date};
use crate::db::RateLimitSettings;
use crate::faults::{FaultConfig, FaultRule};
use crate::model::{Mode, UserState};
use crate::seed::{Seed, SeedToken};
use crate::state::SimState;

pub fn router() -> Router<SimState> {
    Router::new()
        .route("/seed", post(load_seed))
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance))
        .route(
            "/faults",
            get(get_faults)
                .put(set_faults)
                .post(add_fault)
                .delete(clear_faults),
        )
        .route("/requests", get(requests).delete(reset_requests))
        .route("/rate_limits", get(get_limits).put(set_limits))
        .route("/mode", put(set_mode))
        .route("/tokens", post(create_token))
        .route("/tokens/revoke", post(revoke_token))
        .route("/users/{username}/state", put(set_user_state))
        .route("/oauth/authorize", post(oauth_authorize))
        .route("/oauth/applications/{uid}/renew_secret", post(renew_secret))
        .route("/hooks/deliveries", get(deliveries))
}

fn bad(msg: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "error": msg.into() })),
    )
        .into_response()
}

#[allow(
    clippy::result_large_err,
    reason = "the error is the finished response, built once"
)]
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(bytes).map_err(|e| bad(format!("invalid JSON body: {e}")))
}

async fn load_seed(State(state): State<SimState>, bytes: axum::body::Bytes) -> Response {
    let seed = match Seed::from_json(&String::from_utf8_lossy(&bytes)) {
        Ok(s) => s,
        Err(e) => return bad(e.to_string()),
    };
    match state.load_seed(&seed) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => bad(e.to_string()),
    }
}

fn clock_json(state: &SimState) -> Value {
    json!({ "now": fmt_ts(state.clock().now()), "offset_seconds": state.clock().offset().as_secs() })
}

async fn clock(State(state): State<SimState>) -> Response {
    axum::Json(clock_json(&state)).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: u64,
}

async fn advance(State(state): State<SimState>, bytes: axum::body::Bytes) -> Response {
    match body::<Advance>(&bytes) {
        Ok(a) => {
            state.clock().advance(std::time::Duration::from_secs(a.seconds));
            axum::Json(clock_json(&state)).into_response()
        }
        Err(r) => r,
    }
}

async fn get_faults(State(state): State<SimState>) -> Response {
    axum::Json(state.faults().get()).into_response()
}

async fn set_faults(State(state): State<SimState>, bytes: axum::body::Bytes) -> Response {
    match body::<FaultConfig>(&bytes) {
        Ok(c) => {
            state.faults().set(c);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => r,
    }
}

async fn add_fault(State(state): State<SimState>, bytes: axum::body::Bytes) -> Response {
    match body::<FaultRule>(&bytes) {
        Ok(r) => {
            state.faults().add(r);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => r,
    }
}

async fn clear_faults(State(state): State<SimState>) -> Response {
    state.faults().clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn requests(State(state): State<SimState>) -> Response {
    axum::Json(state.requests().snapshot()).into_response()
}

async fn reset_requests(State(state): State<SimState>) -> Response {
    state.requests().reset();
    StatusCode::NO_CONTENT.into_response()
}

async fn get_limits(State(state): State<SimState>) -> Response {
    axum::Json(state.read(|db| db.settings.rate_limits.clone())).into_response()
}

async fn set_limits(State(state): State<SimState>, bytes: axum::body::Bytes) -> Response {
    match body::<RateLimitSettings>(&bytes) {
        Ok(l) => {
            state.set_rate_limits(l);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => r,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModeBody {
    mode: Mode,
}

async fn set_mode(State(state): State<SimState>, bytes: axum::body::Bytes) -> Response {
    match body::<ModeBody>(&bytes) {
        Ok(m) => {
            state.set_mode(m.mode);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => r,
    }
}

/// Creates a token from the seed's token shape and answers its secret.
async fn create_token(State(state): State<SimState>, bytes: axum::body::Bytes) -> Response {
    let t: SeedToken = match body(&bytes) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let expires_at = match t.expires_at.as_deref().map(parse_date) {
        Some(None) => return bad("expires_at must be YYYY-MM-DD"),
        Some(d) => d,
        None => None,
    };
    let scopes: Vec<&str> = t.scopes.iter().map(String::as_str).collect();
    let created = match t.kind.as_str() {
        "personal" => state.create_personal_access_token(
            t.user.as_deref().unwrap_or_default(),
            &t.name,
            &scopes,
            expires_at,
        ),
        "project" | "group" => state.create_resource_access_token(
            t.source.as_deref().unwrap_or_default(),
            &t.name,
            &scopes,
            t.access_level.unwrap_or(40),
            expires_at,
        ),
        other => return bad(format!("unknown token kind {other:?}")),
    };
    match created {
        Ok(secret) => {
            let id = state.token(&secret).map(|t| t.id);
            (
                StatusCode::CREATED,
                axum::Json(json!({ "id": id, "token": secret })),
            )
                .into_response()
        }
        Err(e) => bad(e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    token: String,
}

async fn revoke_token(State(state): State<SimState>, bytes: axum::body::Bytes) -> Response {
    match body::<TokenBody>(&bytes) {
        Ok(t) if state.revoke_token(&t.token) => StatusCode::NO_CONTENT.into_response(),
        Ok(_) => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "error": "unknown token" })),
        )
            .into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateBody {
    state: String,
}

async fn set_user_state(
    State(state): State<SimState>,
    Path(username): Path<String>,
    bytes: axum::body::Bytes,
) -> Response {
    let b: StateBody = match body(&bytes) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(s) = UserState::parse(&b.state) else {
        return bad("unknown state");
    };
    if state.set_user_state(&username, s) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "error": "unknown user" })),
        )
            .into_response()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizeBody {
    /// The `/oauth/authorize` query string.
    query: String,
    username: String,
    #[serde(default = "yes")]
    approve: bool,
}

fn yes() -> bool {
    true
}

async fn oauth_authorize(State(state): State<SimState>, bytes: axum::body::Bytes) -> Response {
    let b: AuthorizeBody = match body(&bytes) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match crate::oauth::authorize(&state, b.query.trim_start_matches('?'), &b.username, b.approve) {
        Ok(location) => axum::Json(json!({ "location": location })).into_response(),
        Err(e) => bad(e),
    }
}

async fn renew_secret(State(state): State<SimState>, Path(uid): Path<String>) -> Response {
    match state.renew_oauth_secret(&uid) {
        Some(secret) => axum::Json(json!({ "secret": secret })).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "error": "unknown application" })),
        )
            .into_response(),
    }
}

async fn deliveries(State(state): State<SimState>) -> Response {
    let list: Vec<Value> = state
        .hook_deliveries()
        .into_iter()
        .map(|d| json!({ "hook_id": d.hook_id, "event": d.event, "event_uuid": d.event_uuid, "status": d.status, "error": d.error, "body": d.body }))
        .collect();
    axum::Json(list).into_response()
}
