//! Project and group webhooks, and the repository compare API. A group's hooks fire for the
//! projects of the group and of every subgroup.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use super::{find_project, json, no_content, render};
use crate::auth::{API, Caller, READ_API, require_level};
use crate::error::{ApiError, ApiResult};
use crate::model::*;
use crate::pagination::{PageParams, ReqInfo, offset_page, paged};
use crate::params::Params;
use crate::state::SimState;

pub fn router() -> Router<SimState> {
    Router::new()
        .route("/projects/{id}/hooks", get(list).post(create))
        .route(
            "/projects/{id}/hooks/{hook_id}",
            get(show).put(update).delete(remove),
        )
        .route("/groups/{id}/hooks", get(list_group).post(create_group))
        .route(
            "/groups/{id}/hooks/{hook_id}",
            get(show_group).put(update_group).delete(remove_group),
        )
        .route("/projects/{id}/repository/compare", get(compare))
}

fn project_for(state: &SimState, caller: &Caller, id: &str, scopes: &[&str]) -> ApiResult<ProjectId> {
    let p = caller.require(scopes)?;
    let pid = find_project(state, Some(p), id)?;
    require_level(state, p, Source::Project(pid), 40)?;
    Ok(pid)
}

/// Group hooks need the Owner role, and a tier that has them (GitLab answers a plain 404
/// where it does not).
fn group_for(state: &SimState, caller: &Caller, id: &str, scopes: &[&str]) -> ApiResult<HookOwner> {
    if !state.read(|db| db.settings.group_hooks()) {
        return Err(ApiError::message(StatusCode::NOT_FOUND, "Not Found"));
    }
    let p = caller.require(scopes)?;
    let gid = super::find_group(state, Some(p), id)?;
    require_level(state, p, Source::Group(gid), 50)?;
    Ok(HookOwner::Group(gid))
}

fn project_owner(state: &SimState, caller: &Caller, id: &str, scopes: &[&str]) -> ApiResult<HookOwner> {
    project_for(state, caller, id, scopes).map(HookOwner::Project)
}

pub(crate) fn valid_url(u: &str) -> ApiResult<()> {
    match url::Url::parse(u) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(()),
        _ => Err(ApiError::validation(
            "url",
            "is blocked: Only allowed schemes are http, https",
        )),
    }
}

pub(crate) fn apply(h: &mut Hook, params: &Params) -> ApiResult<()> {
    if let Some(u) = params.str("url") {
        valid_url(&u)?;
        h.url = u;
    }
    if params.has("name") {
        h.name = params.str("name");
    }
    if params.has("description") {
        h.description = params.str("description");
    }
    if params.has("token") {
        h.token = params.str("token").filter(|t| !t.is_empty());
    }
    if let Some(b) = params.bool("push_events")? {
        h.push_events = b;
    }
    if let Some(b) = params.bool("tag_push_events")? {
        h.tag_push_events = b;
    }
    if let Some(b) = params.bool("merge_requests_events")? {
        h.merge_requests_events = b;
    }
    if let Some(b) = params.bool("repository_update_events")?
        && h.owner == HookOwner::Instance
    {
        h.repository_update_events = b;
    }
    // Member and subgroup events exist on group hooks only.
    if let HookOwner::Group(_) = h.owner {
        if let Some(b) = params.bool("member_events")? {
            h.member_events = b;
        }
        if let Some(b) = params.bool("subgroup_events")? {
            h.subgroup_events = b;
        }
    }
    if let Some(b) = params.bool("enable_ssl_verification")? {
        h.enable_ssl_verification = b;
    }
    if params.has("push_events_branch_filter") {
        h.push_events_branch_filter = params.str("push_events_branch_filter");
    }
    if let Some(serde_json::Value::Array(items)) = params.raw("custom_headers") {
        h.custom_headers = items
            .iter()
            .filter_map(|i| {
                Some((
                    i.get("key")?.as_str()?.to_owned(),
                    i.get("value")?.as_str()?.to_owned(),
                ))
            })
            .collect();
    }
    Ok(())
}

async fn list(
    State(state): State<SimState>,
    caller: Caller,
    info: ReqInfo,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let owner = project_owner(&state, &caller, &id, READ_API)?;
    list_of(&state, owner, &info, &params)
}

async fn list_group(
    State(state): State<SimState>,
    caller: Caller,
    info: ReqInfo,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let owner = group_for(&state, &caller, &id, READ_API)?;
    list_of(&state, owner, &info, &params)
}

fn list_of(state: &SimState, owner: HookOwner, info: &ReqInfo, params: &Params) -> ApiResult<Response> {
    let pp = PageParams::from_params(params)?;
    pp.reject_keyset()?;
    state.read(|db| {
        let rows: Vec<&Hook> = db.hooks.values().filter(|h| h.owner == owner).collect();
        let total = rows.len();
        let (rows, h) = offset_page(info, params, &pp, rows.into_iter(), Some(total));
        Ok(paged(rows.into_iter().map(render::hook).collect(), h))
    })
}

async fn create(
    State(state): State<SimState>,
    caller: Caller,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let owner = project_owner(&state, &caller, &id, API)?;
    create_for(&state, owner, &params)
}

async fn create_group(
    State(state): State<SimState>,
    caller: Caller,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let owner = group_for(&state, &caller, &id, API)?;
    create_for(&state, owner, &params)
}

fn create_for(state: &SimState, owner: HookOwner, params: &Params) -> ApiResult<Response> {
    params.require(&["url"])?;
    let now = state.clock().now();
    let mut hook = Hook::new(owner, now);
    apply(&mut hook, params)?;
    state.write(|db| {
        hook.id = db.next_hook_id();
        let body = render::hook(&hook);
        db.hooks.insert(hook.id, hook);
        Ok(json(StatusCode::CREATED, body))
    })
}

fn hook_id(s: &str) -> ApiResult<u64> {
    s.parse().map_err(|_| ApiError::param("hook_id is invalid"))
}

async fn show(
    State(state): State<SimState>,
    caller: Caller,
    Path((id, hid)): Path<(String, String)>,
) -> ApiResult<Response> {
    let owner = project_owner(&state, &caller, &id, READ_API)?;
    show_of(&state, owner, &hid)
}

async fn show_group(
    State(state): State<SimState>,
    caller: Caller,
    Path((id, hid)): Path<(String, String)>,
) -> ApiResult<Response> {
    let owner = group_for(&state, &caller, &id, READ_API)?;
    show_of(&state, owner, &hid)
}

fn show_of(state: &SimState, owner: HookOwner, hid: &str) -> ApiResult<Response> {
    let hid = hook_id(hid)?;
    state.read(|db| match db.hooks.get(&hid) {
        Some(h) if h.owner == owner => Ok(json(StatusCode::OK, render::hook(h))),
        _ => Err(ApiError::not_found("Hook")),
    })
}

async fn update(
    State(state): State<SimState>,
    caller: Caller,
    Path((id, hid)): Path<(String, String)>,
    params: Params,
) -> ApiResult<Response> {
    let owner = project_owner(&state, &caller, &id, API)?;
    update_of(&state, owner, &hid, &params)
}

async fn update_group(
    State(state): State<SimState>,
    caller: Caller,
    Path((id, hid)): Path<(String, String)>,
    params: Params,
) -> ApiResult<Response> {
    let owner = group_for(&state, &caller, &id, API)?;
    update_of(&state, owner, &hid, &params)
}

fn update_of(state: &SimState, owner: HookOwner, hid: &str, params: &Params) -> ApiResult<Response> {
    let hid = hook_id(hid)?;
    state.write(|db| match db.hooks.get_mut(&hid) {
        Some(h) if h.owner == owner => {
            apply(h, params)?;
            Ok(json(StatusCode::OK, render::hook(h)))
        }
        _ => Err(ApiError::not_found("Hook")),
    })
}

async fn remove(
    State(state): State<SimState>,
    caller: Caller,
    Path((id, hid)): Path<(String, String)>,
) -> ApiResult<Response> {
    let owner = project_owner(&state, &caller, &id, API)?;
    remove_of(&state, owner, &hid)
}

async fn remove_group(
    State(state): State<SimState>,
    caller: Caller,
    Path((id, hid)): Path<(String, String)>,
) -> ApiResult<Response> {
    let owner = group_for(&state, &caller, &id, API)?;
    remove_of(&state, owner, &hid)
}

fn remove_of(state: &SimState, owner: HookOwner, hid: &str) -> ApiResult<Response> {
    let hid = hook_id(hid)?;
    state.write(|db| match db.hooks.get(&hid) {
        Some(h) if h.owner == owner => {
            db.hooks.remove(&hid);
            Ok(no_content())
        }
        _ => Err(ApiError::not_found("Hook")),
    })
}

async fn compare(
    State(state): State<SimState>,
    caller: Caller,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let p = caller.optional(READ_API)?;
    let pid = find_project(&state, p, &id)?;
    if let Some(p) = p {
        let private = state.read(|db| {
            db.projects
                .get(&pid)
                .is_some_and(|pr| pr.visibility != Visibility::Public)
        });
        if private {
            require_level(&state, p, Source::Project(pid), 20)?;
        }
    }
    params.require(&["from", "to"])?;
    let from = params.str("from").unwrap_or_default();
    let to = params.str("to").unwrap_or_default();
    let straight = params.flag("straight")?;
    let v = crate::git::compare(&state, pid, &from, &to, straight).await?;
    Ok(json(StatusCode::OK, v))
}
