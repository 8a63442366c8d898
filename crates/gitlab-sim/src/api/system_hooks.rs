//! System hooks (`/hooks`): instance-wide webhooks, administrators only, self-managed only.
//! They receive every account, group, project and membership event (`X-Gitlab-Event: System
//! Hook`); see [`crate::hook_events`].

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

use super::hooks::apply;
use super::{json, no_content, render};
use crate::auth::{API, Caller, READ_API};
use crate::error::{ApiError, ApiResult};
use crate::hook_events::{Outgoing, SYSTEM_HOOK, send};
use crate::model::*;
use crate::pagination::{PageParams, ReqInfo, offset_page, paged};
use crate::params::Params;
use crate::state::SimState;

pub fn router() -> Router<SimState> {
    Router::new().route("/hooks", get(list).post(create)).route(
        "/hooks/{hook_id}",
        get(show).put(update).delete(remove).post(test),
    )
}

fn hook_id(s: &str) -> ApiResult<u64> {
    s.parse().map_err(|_| ApiError::param("hook_id is invalid"))
}

fn system_hook(db: &crate::db::Db, hid: u64) -> ApiResult<&Hook> {
    db.hooks
        .get(&hid)
        .filter(|h| h.owner == HookOwner::Instance)
        .ok_or_else(|| ApiError::not_found("Hook"))
}

async fn list(
    State(state): State<SimState>,
    caller: Caller,
    info: ReqInfo,
    params: Params,
) -> ApiResult<Response> {
    caller.require_admin(READ_API)?;
    let pp = PageParams::from_params(&params)?;
    pp.reject_keyset()?;
    state.read(|db| {
        let rows: Vec<&Hook> = db
            .hooks
            .values()
            .filter(|h| h.owner == HookOwner::Instance)
            .collect();
        let total = rows.len();
        let (rows, h) = offset_page(&info, &params, &pp, rows.into_iter(), Some(total));
        Ok(paged(rows.into_iter().map(render::system_hook).collect(), h))
    })
}

async fn create(State(state): State<SimState>, caller: Caller, params: Params) -> ApiResult<Response> {
    caller.require_admin(API)?;
    params.require(&["url"])?;
    let mut hook = Hook::new(HookOwner::Instance, state.clock().now());
    apply(&mut hook, &params)?;
    state.write(|db| {
        hook.id = db.next_hook_id();
        let body = render::system_hook(&hook);
        db.hooks.insert(hook.id, hook);
        Ok(json(StatusCode::CREATED, body))
    })
}

async fn show(State(state): State<SimState>, caller: Caller, Path(hid): Path<String>) -> ApiResult<Response> {
    caller.require_admin(READ_API)?;
    let hid = hook_id(&hid)?;
    state.read(|db| Ok(json(StatusCode::OK, render::system_hook(system_hook(db, hid)?))))
}

async fn update(
    State(state): State<SimState>,
    caller: Caller,
    Path(hid): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    caller.require_admin(API)?;
    let hid = hook_id(&hid)?;
    state.write(|db| {
        system_hook(db, hid)?;
        let h = db
            .hooks
            .get_mut(&hid)
            .ok_or_else(|| ApiError::not_found("Hook"))?;
        apply(h, &params)?;
        Ok(json(StatusCode::OK, render::system_hook(h)))
    })
}

async fn remove(
    State(state): State<SimState>,
    caller: Caller,
    Path(hid): Path<String>,
) -> ApiResult<Response> {
    caller.require_admin(API)?;
    let hid = hook_id(&hid)?;
    state.write(|db| {
        system_hook(db, hid)?;
        db.hooks.remove(&hid);
        Ok(no_content())
    })
}

/// `POST /hooks/:id`: sends GitLab's fixed sample event to the hook and answers it.
async fn test(State(state): State<SimState>, caller: Caller, Path(hid): Path<String>) -> ApiResult<Response> {
    caller.require_admin(API)?;
    let hid = hook_id(&hid)?;
    let hook = state.read(|db| system_hook(db, hid).cloned())?;
    let data = json!({
        "event_name": "project_create",
        "name": "Ruby",
        "path": "ruby",
        "project_id": 1,
        "owner_name": "Someone",
        "owner_email": "example@gitlabhq.com",
    });
    send(
        &state,
        vec![Outgoing {
            hooks: vec![hook],
            event: SYSTEM_HOOK,
            payload: data.clone(),
        }],
    )
    .await;
    Ok(json(StatusCode::CREATED, data))
}
