//! Personal, project and group access tokens, including rotation.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};

use super::{find_group, find_project, json, no_content, render, validate_scopes};
use crate::auth::{API, Caller, Credential, Principal, require_level};
use crate::clock::parse_ts;
use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::model::*;
use crate::pagination::{PageParams, ReqInfo, offset_page, paged};
use crate::params::Params;
use crate::state::SimState;

pub fn router() -> Router<SimState> {
    Router::new()
        .route("/personal_access_tokens", get(list_pats))
        .route("/personal_access_tokens/self", get(get_self).delete(revoke_self))
        .route("/personal_access_tokens/self/rotate", post(rotate_self))
        .route("/personal_access_tokens/{id}", get(get_pat).delete(revoke_pat))
        .route("/personal_access_tokens/{id}/rotate", post(rotate_pat))
        .route(
            "/users/{user_id}/personal_access_tokens",
            post(create_pat_for_user),
        )
        .route(
            "/projects/{id}/access_tokens",
            get(list_project_tokens).post(create_project_token),
        )
        .route(
            "/projects/{id}/access_tokens/{token_id}",
            get(get_project_token).delete(revoke_project_token),
        )
        .route(
            "/projects/{id}/access_tokens/{token_id}/rotate",
            post(rotate_project_token),
        )
        .route(
            "/groups/{id}/access_tokens",
            get(list_group_tokens).post(create_group_token),
        )
        .route(
            "/groups/{id}/access_tokens/{token_id}",
            get(get_group_token).delete(revoke_group_token),
        )
        .route(
            "/groups/{id}/access_tokens/{token_id}/rotate",
            post(rotate_group_token),
        )
}

const ALL_SCOPES: &[&str] = super::TOKEN_SCOPES;

/// Filters and sort shared by every token listing.
fn filter_tokens<'a>(
    db: &'a Db,
    params: &Params,
    today: time::Date,
    keep: impl Fn(&AccessToken) -> bool + 'a,
) -> ApiResult<Vec<&'a AccessToken>> {
    let ts = |k: &str| -> ApiResult<Option<time::OffsetDateTime>> {
        params
            .str(k)
            .map(|s| parse_ts(&s).ok_or_else(|| ApiError::param(format!("{k} is invalid"))))
            .transpose()
    };
    let (ca, cb) = (ts("created_after")?, ts("created_before")?);
    let (la, lb) = (ts("last_used_after")?, ts("last_used_before")?);
    let (ea, eb) = (params.date("expires_after")?, params.date("expires_before")?);
    let revoked = params.bool("revoked")?;
    let state = params.str("state");
    if let Some(s) = &state
        && s != "active"
        && s != "inactive"
    {
        return Err(ApiError::param("state does not have a valid value"));
    }
    let search = params.str("search").map(|s| s.to_lowercase());
    let mut out: Vec<&AccessToken> = db
        .tokens
        .values()
        .filter(|t| keep(t))
        .filter(|t| revoked.is_none_or(|r| t.revoked == r))
        .filter(|t| match state.as_deref() {
            Some("active") => t.active(today),
            Some("inactive") => !t.active(today),
            _ => true,
        })
        .filter(|t| search.as_ref().is_none_or(|q| t.name.to_lowercase().contains(q)))
        .filter(|t| ca.is_none_or(|c| t.created_at > c) && cb.is_none_or(|c| t.created_at < c))
        .filter(|t| la.is_none_or(|c| t.last_used_at.is_some_and(|u| u > c)))
        .filter(|t| lb.is_none_or(|c| t.last_used_at.is_some_and(|u| u < c)))
        .filter(|t| ea.is_none_or(|d| t.expires_at.is_some_and(|e| e > d)))
        .filter(|t| eb.is_none_or(|d| t.expires_at.is_some_and(|e| e < d)))
        .collect();
    match params.str("sort").as_deref() {
        None => {}
        Some("created_asc") => out.sort_by_key(|t| (t.created_at, t.id)),
        Some("created_desc") => out.sort_by_key(|t| std::cmp::Reverse((t.created_at, t.id))),
        Some("expires_asc") => out.sort_by_key(|t| (t.expires_at.is_none(), t.expires_at, t.id)),
        Some("expires_desc") => {
            out.sort_by_key(|t| std::cmp::Reverse((t.expires_at.is_some(), t.expires_at, t.id)))
        }
        Some("last_used_asc") => out.sort_by_key(|t| (t.last_used_at.is_none(), t.last_used_at, t.id)),
        Some("last_used_desc") => {
            out.sort_by_key(|t| std::cmp::Reverse((t.last_used_at.is_some(), t.last_used_at, t.id)))
        }
        Some("name_asc") => out.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id))),
        Some("name_desc") => out.sort_by(|a, b| b.name.cmp(&a.name).then(b.id.cmp(&a.id))),
        Some(_) => return Err(ApiError::param("sort does not have a valid value")),
    }
    Ok(out)
}

// ---- personal access tokens ----------------------------------------------------------------------

async fn list_pats(
    State(state): State<SimState>,
    caller: Caller,
    info: ReqInfo,
    params: Params,
) -> ApiResult<Response> {
    let p = caller.require(API)?.clone();
    let pp = PageParams::from_params(&params)?;
    pp.reject_keyset()?;
    let today = state.clock().today();
    let user_filter = params.int("user_id")?.map(i64::unsigned_abs);
    if !p.admin && user_filter.is_some_and(|u| u != p.user_id) {
        return Err(ApiError::unauthorized());
    }
    let owner = if p.admin { user_filter } else { Some(p.user_id) };
    state.read(|db| {
        let rows = filter_tokens(db, &params, today, |t| owner.is_none_or(|o| t.user_id == o))?;
        let total = rows.len();
        let (rows, h) = offset_page(&info, &params, &pp, rows.into_iter(), Some(total));
        Ok(paged(
            rows.into_iter().map(|t| render::pat(t, today)).collect(),
            h,
        ))
    })
}

fn self_token(caller: &Caller) -> ApiResult<(&Principal, TokenId)> {
    let p = caller.require(ALL_SCOPES)?;
    match p.credential {
        Credential::AccessToken { id, .. } => Ok((p, id)),
        Credential::OAuth { .. } => Err(ApiError::bad_request(
            "This endpoint requires token type to be a personal access token",
        )),
    }
}

/// GitLab added `GET /personal_access_tokens/self` in 15.5.
const SELF_SINCE: (u32, u32) = (15, 5);

async fn get_self(State(state): State<SimState>, caller: Result<Caller, ApiError>) -> ApiResult<Response> {
    // Older instances have no such route: the catch-all answers whatever the token.
    if !state.read(|db| db.settings.at_least(SELF_SINCE.0, SELF_SINCE.1)) {
        return Err(ApiError::no_route());
    }
    let caller = caller?;
    let (_, id) = self_token(&caller)?;
    let today = state.clock().today();
    state.read(|db| {
        let t = db.tokens.get(&id).ok_or_else(ApiError::unauthorized)?;
        Ok(json(StatusCode::OK, render::pat(t, today)))
    })
}

async fn revoke_self(State(state): State<SimState>, caller: Caller) -> ApiResult<Response> {
    let (_, id) = self_token(&caller)?;
    state.write(|db| {
        if let Some(t) = db.tokens.get_mut(&id) {
            t.revoked = true;
        }
    });
    Ok(no_content())
}

fn rotate_response(
    state: &SimState,
    id: TokenId,
    expires_at: Option<time::Date>,
    resource: bool,
) -> ApiResult<Response> {
    let clock = state.clock();
    let (today, now) = (clock.today(), clock.now());
    if let Some(e) = expires_at {
        if e <= today {
            return Err(ApiError::bad_request("Expiration date must be in the future"));
        }
        if today
            .checked_add(time::Duration::days(366))
            .is_some_and(|max| e >= max)
        {
            return Err(ApiError::bad_request(
                "Expiration date must be before one year from now",
            ));
        }
    }
    state.write(|db| {
        let (new_id, secret) = db.rotate_token(id, expires_at, today, now)?;
        let t = db.tokens.get(&new_id).ok_or_else(ApiError::unauthorized)?;
        let v = if resource {
            render::resource_token(t, today)
        } else {
            render::pat(t, today)
        };
        Ok(json(StatusCode::OK, render::with_secret(v, &secret)))
    })
}

async fn rotate_self(State(state): State<SimState>, caller: Caller, params: Params) -> ApiResult<Response> {
    let p = caller.require(&["api", "self_rotate"])?;
    let Credential::AccessToken { id, .. } = p.credential else {
        return Err(ApiError::bad_request(
            "This endpoint requires token type to be a personal access token",
        ));
    };
    let expires_at = params.date("expires_at")?;
    // This route always answers with the personal access token entity, bots included.
    rotate_response(&state, id, expires_at, false)
}

/// A PAT by id as the caller may see it: 401 when missing or not theirs, 404 for admins naming a
/// token that does not exist.
fn visible_pat(db: &Db, p: &Principal, id: &str) -> ApiResult<TokenId> {
    let id: TokenId = id.parse().map_err(|_| ApiError::param("id is invalid"))?;
    match db.tokens.get(&id) {
        Some(t) if p.admin || t.user_id == p.user_id => Ok(id),
        None if p.admin => Err(ApiError::message(StatusCode::NOT_FOUND, "Not Found")),
        _ => Err(ApiError::unauthorized()),
    }
}

async fn get_pat(
    State(state): State<SimState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let p = caller.require(API)?;
    let today = state.clock().today();
    state.read(|db| {
        let id = visible_pat(db, p, &id)?;
        let t = db.tokens.get(&id).ok_or_else(ApiError::unauthorized)?;
        Ok(json(StatusCode::OK, render::pat(t, today)))
    })
}

async fn revoke_pat(
    State(state): State<SimState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let p = caller.require(API)?;
    state.write(|db| {
        let id = visible_pat(db, p, &id)?;
        if let Some(t) = db.tokens.get_mut(&id) {
            t.revoked = true;
        }
        Ok(no_content())
    })
}

async fn rotate_pat(
    State(state): State<SimState>,
    caller: Caller,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let p = caller.require(API)?;
    let expires_at = params.date("expires_at")?;
    let id = state.read(|db| -> ApiResult<TokenId> {
        let id = visible_pat(db, p, &id)?;
        match db.tokens.get(&id).map(|t| t.kind) {
            Some(TokenKind::Personal) => Ok(id),
            _ => Err(ApiError::message(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed",
            )),
        }
    })?;
    rotate_response(&state, id, expires_at, false)
}

/// `POST /users/:user_id/personal_access_tokens` (admin, self-managed).
async fn create_pat_for_user(
    State(state): State<SimState>,
    caller: Caller,
    Path(user_id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    caller.require(API)?;
    if state.mode() == Mode::GitLabCom {
        return Err(ApiError::forbidden());
    }
    caller.require_admin(API)?;
    let user_id: UserId = user_id
        .parse()
        .map_err(|_| ApiError::param("user_id is invalid"))?;
    params.require(&["name", "scopes"])?;
    let scopes = params.list("scopes").unwrap_or_default();
    validate_scopes(&scopes)?;
    let clock = state.clock();
    let (today, now) = (clock.today(), clock.now());
    let expires_at = match params.date("expires_at")? {
        Some(d) if d <= today => return Err(ApiError::validation("expires_at", "must be in the future")),
        other => other,
    };
    let name = params.str("name").unwrap_or_default();
    let description = params.str("description");
    state.write(|db| {
        if db.user(user_id).is_none() {
            return Err(ApiError::not_found("User"));
        }
        let (id, secret) = db.create_token(
            crate::db::NewToken {
                kind: TokenKind::Personal,
                user_id,
                name,
                description,
                scopes,
                expires_at,
                access_level: 0,
                secret: None,
                previous_id: None,
                revoked: false,
            },
            now,
        )?;
        let t = db.tokens.get(&id).ok_or_else(ApiError::unauthorized)?;
        Ok(json(
            StatusCode::CREATED,
            render::with_secret(render::pat(t, today), &secret),
        ))
    })
}

// ---- project and group access tokens -------------------------------------------------------------

/// Minimum role to manage resource tokens: Maintainer on projects, Owner on groups.
fn manage_level(source: Source) -> u8 {
    match source {
        Source::Project(_) => 40,
        Source::Group(_) => 50,
    }
}

fn resolve_source(state: &SimState, p: &Principal, project: bool, id: &str) -> ApiResult<Source> {
    if project {
        find_project(state, Some(p), id).map(Source::Project)
    } else {
        find_group(state, Some(p), id).map(Source::Group)
    }
}

fn token_kind_of(source: Source) -> TokenKind {
    match source {
        Source::Project(p) => TokenKind::Project(p),
        Source::Group(g) => TokenKind::Group(g),
    }
}

async fn list_resource(
    state: SimState,
    caller: Caller,
    info: ReqInfo,
    params: Params,
    project: bool,
    id: String,
) -> ApiResult<Response> {
    let p = caller.require(&["api", "read_api"])?;
    let source = resolve_source(&state, p, project, &id)?;
    require_level(&state, p, source, manage_level(source))?;
    let pp = PageParams::from_params(&params)?;
    pp.reject_keyset()?;
    let today = state.clock().today();
    let kind = token_kind_of(source);
    state.read(|db| {
        let rows = filter_tokens(db, &params, today, |t| t.kind == kind)?;
        let total = rows.len();
        let (rows, h) = offset_page(&info, &params, &pp, rows.into_iter(), Some(total));
        Ok(paged(
            rows.into_iter()
                .map(|t| render::resource_token(t, today))
                .collect(),
            h,
        ))
    })
}

async fn create_resource(
    state: SimState,
    caller: Caller,
    params: Params,
    project: bool,
    id: String,
) -> ApiResult<Response> {
    let p = caller.require(API)?;
    let source = resolve_source(&state, p, project, &id)?;
    params.require(&["name", "scopes"])?;
    let scopes = params.list("scopes").unwrap_or_default();
    validate_scopes(&scopes)?;
    let access_level = match params.int("access_level")? {
        None => 40,
        Some(l) if [10, 15, 20, 30, 40, 50].contains(&l) => u8::try_from(l).unwrap_or(40),
        Some(_) => return Err(ApiError::param("access_level does not have a valid value")),
    };
    let resource = if project { "project" } else { "group" };
    let denied = || {
        ApiError::bad_request(&format!(
            "User does not have permission to create {resource} access token"
        ))
    };
    if !p.is_pat() {
        return Err(denied());
    }
    let level = require_level(&state, p, source, manage_level(source)).map_err(|_| denied())?;
    if access_level > level {
        return Err(ApiError::bad_request(
            "Access level of the token can't be greater the access level of the user who created the token",
        ));
    }
    let clock = state.clock();
    let (today, now) = (clock.today(), clock.now());
    let expires_at = match params.date("expires_at")? {
        Some(d) if d <= today => return Err(ApiError::validation("expires_at", "must be in the future")),
        Some(d) => Some(d),
        None => today.checked_add(time::Duration::days(365)),
    };
    let name = params.str("name").unwrap_or_default();
    let description = params.str("description");
    state.write(|db| {
        let (tid, secret) = db.create_resource_token(
            source,
            &name,
            description,
            scopes,
            access_level,
            expires_at,
            None,
            now,
        )?;
        let t = db.tokens.get(&tid).ok_or_else(ApiError::unauthorized)?;
        Ok(json(
            StatusCode::CREATED,
            render::with_secret(render::resource_token(t, today), &secret),
        ))
    })
}

fn resource_token_id(db: &Db, source: Source, token_id: &str) -> ApiResult<TokenId> {
    let id: TokenId = token_id
        .parse()
        .map_err(|_| ApiError::param("token_id is invalid"))?;
    match db.tokens.get(&id) {
        Some(t) if t.kind == token_kind_of(source) => Ok(id),
        _ => Err(ApiError::message(
            StatusCode::NOT_FOUND,
            format!(
                "Could not find {} access token with token_id: {id}",
                match source {
                    Source::Project(_) => "project",
                    Source::Group(_) => "group",
                }
            ),
        )),
    }
}

async fn get_resource(
    state: SimState,
    caller: Caller,
    project: bool,
    id: String,
    token_id: String,
) -> ApiResult<Response> {
    let p = caller.require(&["api", "read_api"])?;
    let source = resolve_source(&state, p, project, &id)?;
    require_level(&state, p, source, manage_level(source))?;
    let today = state.clock().today();
    state.read(|db| {
        let tid = resource_token_id(db, source, &token_id)?;
        let t = db.tokens.get(&tid).ok_or_else(ApiError::unauthorized)?;
        Ok(json(StatusCode::OK, render::resource_token(t, today)))
    })
}

async fn revoke_resource(
    state: SimState,
    caller: Caller,
    project: bool,
    id: String,
    token_id: String,
) -> ApiResult<Response> {
    let p = caller.require(API)?;
    let source = resolve_source(&state, p, project, &id)?;
    require_level(&state, p, source, manage_level(source))?;
    state.write(|db| {
        let tid = resource_token_id(db, source, &token_id)?;
        if let Some(t) = db.tokens.get_mut(&tid) {
            t.revoked = true;
        }
        Ok(no_content())
    })
}

async fn rotate_resource(
    state: SimState,
    caller: Caller,
    params: Params,
    project: bool,
    id: String,
    token_id: String,
) -> ApiResult<Response> {
    let expires_at = params.date("expires_at")?;
    if token_id == "self" {
        let p = caller.require(&["api", "self_rotate"])?;
        let source = resolve_source(&state, p, project, &id)?;
        let Credential::AccessToken { id: own, kind } = p.credential else {
            return Err(ApiError::forbidden());
        };
        if kind != token_kind_of(source) {
            return Err(ApiError::forbidden());
        }
        return rotate_response(&state, own, expires_at, true);
    }
    let p = caller.require(API)?;
    if !p.is_pat() {
        return Err(ApiError::unauthorized());
    }
    let source = resolve_source(&state, p, project, &id)?;
    require_level(&state, p, source, manage_level(source))?;
    let tid = state.read(|db| resource_token_id(db, source, &token_id))?;
    rotate_response(&state, tid, expires_at, true)
}

async fn list_project_tokens(
    State(s): State<SimState>,
    c: Caller,
    i: ReqInfo,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Response> {
    list_resource(s, c, i, p, true, id).await
}
async fn list_group_tokens(
    State(s): State<SimState>,
    c: Caller,
    i: ReqInfo,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Response> {
    list_resource(s, c, i, p, false, id).await
}
async fn create_project_token(
    State(s): State<SimState>,
    c: Caller,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Response> {
    create_resource(s, c, p, true, id).await
}
async fn create_group_token(
    State(s): State<SimState>,
    c: Caller,
    Path(id): Path<String>,
    p: Params,
) -> ApiResult<Response> {
    create_resource(s, c, p, false, id).await
}
async fn get_project_token(
    State(s): State<SimState>,
    c: Caller,
    Path((id, t)): Path<(String, String)>,
) -> ApiResult<Response> {
    get_resource(s, c, true, id, t).await
}
async fn get_group_token(
    State(s): State<SimState>,
    c: Caller,
    Path((id, t)): Path<(String, String)>,
) -> ApiResult<Response> {
    get_resource(s, c, false, id, t).await
}
async fn revoke_project_token(
    State(s): State<SimState>,
    c: Caller,
    Path((id, t)): Path<(String, String)>,
) -> ApiResult<Response> {
    revoke_resource(s, c, true, id, t).await
}
async fn revoke_group_token(
    State(s): State<SimState>,
    c: Caller,
    Path((id, t)): Path<(String, String)>,
) -> ApiResult<Response> {
    revoke_resource(s, c, false, id, t).await
}
async fn rotate_project_token(
    State(s): State<SimState>,
    c: Caller,
    Path((id, t)): Path<(String, String)>,
    p: Params,
) -> ApiResult<Response> {
    rotate_resource(s, c, p, true, id, t).await
}
async fn rotate_group_token(
    State(s): State<SimState>,
    c: Caller,
    Path((id, t)): Path<(String, String)>,
    p: Params,
) -> ApiResult<Response> {
    rotate_resource(s, c, p, false, id, t).await
}
