//! `/user`, `/users`, `/version`, `/metadata`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};

use super::{json, no_content, render};
use crate::auth::{API, Caller, READ_API, READ_USER};
use crate::clock::parse_ts;
use crate::db::NewUser;
use crate::error::{ApiError, ApiResult};
use crate::model::*;
use crate::pagination::{PageParams, ReqInfo, keyset_headers, offset_page, paged, paged_serialize};
use crate::params::Params;
use crate::state::SimState;

pub fn router() -> Router<SimState> {
    Router::new()
        .route("/user", get(current_user))
        .route("/user/activities", get(user_activities))
        .route("/version", get(version))
        .route("/metadata", get(metadata))
        .route("/users", get(list_users).post(create_user))
        .route("/users/{id}", get(get_user).delete(delete_user))
        .route("/users/{id}/memberships", get(user_memberships))
        .route("/users/{id}/{action}", post(moderate))
        .route("/service_accounts", get(service_accounts))
}

const VERSION_SCOPES: &[&str] = &["api", "read_api", "read_user", "ai_features"];

async fn current_user(State(state): State<SimState>, caller: Caller) -> ApiResult<Response> {
    let p = caller.require(READ_USER)?;
    let base = state.base_url();
    state.read(|db| {
        let u = db.user(p.user_id).ok_or_else(ApiError::unauthorized)?;
        let v = if p.admin {
            render::user_admin(u, &base)
        } else {
            render::user_self(u, &base)
        };
        Ok(json(StatusCode::OK, v))
    })
}

async fn version(State(state): State<SimState>, caller: Caller) -> ApiResult<Response> {
    caller.require(VERSION_SCOPES)?;
    state.read(|db| {
        Ok(json(
            StatusCode::OK,
            json!({ "version": db.settings.version, "revision": db.settings.revision }),
        ))
    })
}

async fn metadata(State(state): State<SimState>, caller: Caller) -> ApiResult<Response> {
    caller.require(VERSION_SCOPES)?;
    state.read(|db| {
        Ok(json(
            StatusCode::OK,
            json!({
                "version": db.settings.version,
                "revision": db.settings.revision,
                "kas": { "enabled": false, "externalUrl": Value::Null, "externalK8sProxyUrl": Value::Null, "version": Value::Null },
                "enterprise": db.settings.version.ends_with("-ee"),
            }),
        ))
    })
}

struct UserFilter {
    username: Option<String>,
    search: Option<String>,
    active: bool,
    blocked: bool,
    external: bool,
    exclude_external: bool,
    without_project_bots: bool,
    humans: bool,
    created_before: Option<time::OffsetDateTime>,
    created_after: Option<time::OffsetDateTime>,
    admins: bool,
    admin_view: bool,
}

impl UserFilter {
    fn from_params(p: &Params, admin_view: bool) -> ApiResult<Self> {
        let ts = |k: &str| -> ApiResult<Option<time::OffsetDateTime>> {
            p.str(k)
                .map(|s| parse_ts(&s).ok_or_else(|| ApiError::param(format!("{k} is invalid"))))
                .transpose()
        };
        Ok(Self {
            username: p.str("username").map(|s| s.to_lowercase()),
            search: p
                .str("search")
                .map(|s| s.to_lowercase())
                .filter(|s| !s.is_empty()),
            active: p.flag("active")?,
            blocked: p.flag("blocked")?,
            external: p.flag("external")?,
            exclude_external: p.flag("exclude_external")?,
            without_project_bots: p.flag("without_project_bots")?,
            humans: p.flag("humans")?,
            created_before: ts("created_before")?,
            created_after: ts("created_after")?,
            admins: p.flag("admins")?,
            admin_view,
        })
    }

    fn is_trivial(&self) -> bool {
        self.username.is_none()
            && self.search.is_none()
            && !self.active
            && !self.blocked
            && !self.external
            && !self.exclude_external
            && !self.without_project_bots
            && !self.humans
            && self.created_before.is_none()
            && self.created_after.is_none()
            && !self.admins
    }

    fn matches(&self, u: &User) -> bool {
        if let Some(n) = &self.username
            && u.username.to_lowercase() != *n
        {
            return false;
        }
        if let Some(q) = &self.search {
            let hit = u.username.to_lowercase().contains(q)
                || u.name.to_lowercase().contains(q)
                || (self.admin_view && u.email.to_lowercase() == *q)
                || u.public_email.as_deref().is_some_and(|e| e.to_lowercase() == *q);
            if !hit {
                return false;
            }
        }
        (!self.active || u.state == UserState::Active)
            && (!self.blocked || u.state == UserState::Blocked)
            && (!self.external || u.external)
            && (!self.exclude_external || !u.external)
            && (!self.without_project_bots || !u.is_bot())
            && (!self.humans || u.kind == UserKind::Human)
            && (!self.admins || u.admin)
            && self.created_before.is_none_or(|t| u.created_at < t)
            && self.created_after.is_none_or(|t| u.created_at > t)
    }
}

fn sort_key(u: &User, order_by: &str) -> String {
    match order_by {
        "name" => u.name.to_lowercase(),
        "username" => u.username.to_lowercase(),
        _ => String::new(),
    }
}

async fn list_users(
    State(state): State<SimState>,
    caller: Caller,
    info: ReqInfo,
    params: Params,
) -> ApiResult<Response> {
    let p = caller.optional(READ_USER)?;
    let admin_view = p.is_some_and(|p| p.admin);
    let pp = PageParams::from_params(&params)?;
    pp.check_offset_cap("User")?;
    let filter = UserFilter::from_params(&params, admin_view)?;
    let order_by = pp.order_by.clone().unwrap_or_else(|| "id".into());
    if !matches!(
        order_by.as_str(),
        "id" | "name" | "username" | "created_at" | "updated_at" | "last_activity_on"
    ) {
        return Err(ApiError::param("order_by does not have a valid value"));
    }
    let asc = match pp.sort.as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => return Err(ApiError::param("sort does not have a valid value")),
    };
    let base = state.base_url();
    let level = if admin_view {
        render::UserLevel::Admin
    } else {
        render::UserLevel::Basic
    };
    let view = |u: &User| render::user_value_of(u, &base, level);
    let fast = |rows: Vec<&User>, h: HeaderMap| {
        let views: Vec<render::UserView<'_>> = rows
            .into_iter()
            .map(|user| render::UserView {
                user,
                base: &base,
                level,
            })
            .collect();
        paged_serialize(&views, h)
    };
    state.read(|db| {
        if pp.keyset {
            return keyset_users(db, &info, &params, &pp, &filter, &order_by, asc, &view);
        }
        if order_by == "id" || order_by == "created_at" {
            let total = filter.is_trivial().then_some(db.users.len());
            let fwd = db.users.values().filter(|u| filter.matches(u));
            let (rows, h) = if asc {
                offset_page(&info, &params, &pp, fwd, total)
            } else {
                offset_page(
                    &info,
                    &params,
                    &pp,
                    db.users.values().rev().filter(|u| filter.matches(u)),
                    total,
                )
            };
            return Ok(fast(rows, h));
        }
        let mut all: Vec<&User> = db.users.values().filter(|u| filter.matches(u)).collect();
        all.sort_by(|a, b| {
            sort_key(a, &order_by)
                .cmp(&sort_key(b, &order_by))
                .then(a.id.cmp(&b.id))
        });
        if !asc {
            all.reverse();
        }
        let total = all.len();
        let (rows, h) = offset_page(&info, &params, &pp, all.into_iter(), Some(total));
        Ok(paged(rows.into_iter().map(view).collect(), h))
    })
}

#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the pieces are all distinct inputs"
)]
fn keyset_users(
    db: &crate::db::Db,
    info: &ReqInfo,
    params: &Params,
    pp: &PageParams,
    filter: &UserFilter,
    order_by: &str,
    asc: bool,
    view: &dyn Fn(&User) -> Value,
) -> ApiResult<Response> {
    let per_page = usize::try_from(pp.per_page).unwrap_or(20);
    if order_by == "id" {
        let rows: Vec<&User> = if asc {
            let from = pp.id_after.map_or(0, |a| a.saturating_add(1));
            db.users
                .range(from..)
                .map(|(_, u)| u)
                .filter(|u| filter.matches(u))
                .take(per_page + 1)
                .collect()
        } else {
            let to = pp.id_before.unwrap_or(u64::MAX);
            db.users
                .range(..to)
                .rev()
                .map(|(_, u)| u)
                .filter(|u| filter.matches(u))
                .take(per_page + 1)
                .collect()
        };
        let more = rows.len() > per_page;
        let rows: Vec<&User> = rows.into_iter().take(per_page).collect();
        let next = match rows.last() {
            Some(last) if more => Some((if asc { "id_after" } else { "id_before" }, last.id.to_string())),
            _ => None,
        };
        let h = keyset_headers(info, params, next);
        return Ok(paged(rows.into_iter().map(view).collect(), h));
    }
    if order_by != "name" && order_by != "username" {
        return Err(ApiError::grape(
            StatusCode::METHOD_NOT_ALLOWED,
            "Keyset pagination is not yet available for this type of request",
        ));
    }
    let after: Option<(String, u64)> = match &pp.cursor {
        None => None,
        Some(c) => {
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .map_err(|_| ApiError::param("cursor is invalid"))?;
            let v: Value = serde_json::from_slice(&raw).map_err(|_| ApiError::param("cursor is invalid"))?;
            Some((
                v.get("key")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                v.get("id").and_then(Value::as_u64).unwrap_or(0),
            ))
        }
    };
    let mut all: Vec<(String, &User)> = db
        .users
        .values()
        .filter(|u| filter.matches(u))
        .map(|u| (sort_key(u, order_by), u))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.id.cmp(&b.1.id)));
    if !asc {
        all.reverse();
    }
    let start = match &after {
        None => 0,
        Some((k, id)) => all
            .iter()
            .position(|(key, u)| {
                let ord = key.as_str().cmp(k.as_str()).then(u.id.cmp(id));
                if asc { ord.is_gt() } else { ord.is_lt() }
            })
            .unwrap_or(all.len()),
    };
    let slice: Vec<&(String, &User)> = all.iter().skip(start).take(per_page + 1).collect();
    let more = slice.len() > per_page;
    let rows: Vec<&(String, &User)> = slice.into_iter().take(per_page).collect();
    let next = match rows.last() {
        Some((k, u)) if more => {
            let c = json!({ "key": k, "id": u.id }).to_string();
            Some((
                "cursor",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c),
            ))
        }
        _ => None,
    };
    let h = keyset_headers(info, params, next);
    Ok(paged(rows.into_iter().map(|(_, u)| view(u)).collect(), h))
}

fn user_id_param(id: &str) -> ApiResult<UserId> {
    id.parse().map_err(|_| ApiError::param("id is invalid"))
}

async fn get_user(
    State(state): State<SimState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let p = caller.optional(READ_USER)?;
    let id = user_id_param(&id)?;
    let base = state.base_url();
    state.read(|db| {
        let u = db.user(id).ok_or_else(|| ApiError::not_found("User"))?;
        let v = match p {
            Some(p) if p.admin => render::user_admin(u, &base),
            Some(p) if p.user_id == u.id => render::user_self(u, &base),
            _ => render::user_public(u, &base),
        };
        Ok(json(StatusCode::OK, v))
    })
}

fn refuse_on_gitlab_com(state: &SimState) -> ApiResult<()> {
    if state.mode() == Mode::GitLabCom {
        return Err(ApiError::forbidden());
    }
    Ok(())
}

async fn create_user(State(state): State<SimState>, caller: Caller, params: Params) -> ApiResult<Response> {
    caller.require(API)?;
    refuse_on_gitlab_com(&state)?;
    caller.require_admin(API)?;
    params.require(&["email", "name", "username"])?;
    let random_pw = params.flag("reset_password")? || params.flag("force_random_password")?;
    if !random_pw && !params.has("password") {
        return Err(ApiError::param(
            "password, reset_password, force_random_password are missing, exactly one parameter must be provided",
        ));
    }
    // GitLab's password validation: at least 8 characters (the instance's default minimum).
    if !random_pw && params.str("password").is_some_and(|p| p.chars().count() < 8) {
        return Err(ApiError::validation(
            "password",
            "is too short (minimum is 8 characters)",
        ));
    }
    let skip_confirmation = params.flag("skip_confirmation")?;
    let email = params.str("email").unwrap_or_default();
    if !email.contains('@') {
        return Err(ApiError::validation("email", "is invalid"));
    }
    let username = params.str("username").unwrap_or_default();
    if username.is_empty()
        || !username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        || username.starts_with(['-', '.'])
    {
        return Err(ApiError::validation(
            "username",
            "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-' or end in '.', '.git' or '.atom'.",
        ));
    }
    let now = state.clock().now();
    let base = state.base_url();
    let admin = params.flag("admin")?;
    let new = NewUser {
        username,
        name: params.str("name").unwrap_or_default(),
        email,
        admin,
        external: params.flag("external")?,
        note: params.str("note"),
        state: Some(UserState::Active),
        ..NewUser::default()
    };
    let (response, events) = state.write(|db| -> ApiResult<_> {
        let id = db.create_user(new, now)?;
        // Without `skip_confirmation` the account waits for its owner to confirm the e-mail.
        if !skip_confirmation && let Some(u) = db.users.get_mut(&id) {
            u.confirmed_at = None;
        }
        let u = db.user(id).ok_or_else(|| ApiError::not_found("User"))?;
        let events = crate::hook_events::user(db, u, &crate::hook_events::UserChange::Created, now);
        Ok((json(StatusCode::CREATED, render::user_admin(u, &base)), events))
    })?;
    crate::hook_events::send(&state, events).await;
    Ok(response)
}

async fn delete_user(
    State(state): State<SimState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(API)?;
    refuse_on_gitlab_com(&state)?;
    caller.require_admin(API)?;
    let id = user_id_param(&id)?;
    let now = state.clock().now();
    let events = state.write(|db| {
        let events = db
            .user(id)
            .map(|u| crate::hook_events::user(db, u, &crate::hook_events::UserChange::Destroyed, now))
            .unwrap_or_default();
        db.delete_user(id).map(|()| events)
    })?;
    crate::hook_events::send(&state, events).await;
    Ok(no_content())
}

async fn moderate(
    State(state): State<SimState>,
    caller: Caller,
    Path((id, action)): Path<(String, String)>,
) -> ApiResult<Response> {
    caller.require(API)?;
    if !matches!(
        action.as_str(),
        "block" | "unblock" | "deactivate" | "activate" | "ban" | "unban"
    ) {
        return Err(ApiError::message(StatusCode::NOT_FOUND, "Not Found"));
    }
    refuse_on_gitlab_com(&state)?;
    let p = caller.require_admin(API)?;
    let id = user_id_param(&id)?;
    let today = state.clock().today();
    state.write(|db| {
        let u = db.users.get_mut(&id).ok_or_else(|| ApiError::not_found("User"))?;
        match action.as_str() {
            "block" => {
                if u.id == p.user_id {
                    return Err(ApiError::forbidden_because("The API initiating user cannot be blocked by the API"));
                }
                u.state = UserState::Blocked;
            }
            "unblock" => {
                if u.state == UserState::Deactivated {
                    return Err(ApiError::forbidden_because("Deactivated users cannot be unblocked by the API"));
                }
                u.state = UserState::Active;
            }
            "deactivate" => {
                if u.state == UserState::Deactivated {
                    return Ok(json(StatusCode::CREATED, Value::Bool(true)));
                }
                if u.state == UserState::Blocked {
                    return Err(ApiError::forbidden_because("A blocked user cannot be deactivated by the API"));
                }
                let recently_active = u
                    .last_activity_on
                    .is_some_and(|d| today.checked_sub(time::Duration::days(90)).is_some_and(|limit| d > limit));
                if recently_active {
                    return Err(ApiError::forbidden_because(
                        "The user you are trying to deactivate has been active in the past 90 days and cannot be deactivated",
                    ));
                }
                u.state = UserState::Deactivated;
            }
            "activate" => {
                if u.state == UserState::Blocked {
                    return Err(ApiError::forbidden_because("A blocked user must be unblocked to be activated"));
                }
                u.state = UserState::Active;
            }
            "ban" => {
                if u.state != UserState::Active {
                    return Err(ApiError::forbidden_because("You cannot ban blocked, ldap_blocked, deactivated, or banned users."));
                }
                u.state = UserState::Banned;
            }
            _ => {
                if u.state != UserState::Banned {
                    return Err(ApiError::forbidden_because("You cannot unban active users."));
                }
                u.state = UserState::Active;
            }
        }
        Ok(json(StatusCode::CREATED, Value::Bool(true)))
    })
}

async fn user_memberships(
    State(state): State<SimState>,
    caller: Caller,
    info: ReqInfo,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    caller.require(READ_API)?;
    caller.require_admin(READ_API)?;
    let id = user_id_param(&id)?;
    let pp = PageParams::from_params(&params)?;
    pp.reject_keyset()?;
    let kind = params.str("type");
    state.read(|db| {
        db.user(id).ok_or_else(|| ApiError::not_found("User"))?;
        let sources: Vec<Source> = db
            .user_memberships
            .get(&id)
            .map(|s| {
                s.iter()
                    .copied()
                    .filter(|s| {
                        !matches!(
                            (kind.as_deref(), s),
                            (Some("Project"), Source::Group(_)) | (Some("Namespace"), Source::Project(_))
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (rows, h) = offset_page(&info, &params, &pp, sources.iter(), Some(sources.len()));
        let items = rows
            .into_iter()
            .filter_map(|s| {
                let m = db.members.get(s)?.get(&id)?;
                let (sid, stype) = match s {
                    Source::Group(g) => (*g, "Namespace"),
                    Source::Project(p) => (*p, "Project"),
                };
                Some(json!({
                    "source_id": sid,
                    "source_name": db.source_name(*s),
                    "source_type": stype,
                    "access_level": m.access_level,
                }))
            })
            .collect();
        Ok(paged(items, h))
    })
}

/// `GET /user/activities` (admin): users active on or after `from` (default six months back),
/// earliest activity first, as GitLab orders them.
async fn user_activities(
    State(state): State<SimState>,
    caller: Caller,
    info: ReqInfo,
    params: Params,
) -> ApiResult<Response> {
    caller.require(READ_USER)?;
    caller.require_admin(READ_USER)?;
    let pp = PageParams::from_params(&params)?;
    pp.reject_keyset()?;
    let from = match params.date("from")? {
        Some(d) => d,
        None => state.clock().today() - time::Duration::days(182),
    };
    state.read(|db| {
        let mut rows: Vec<(&User, time::Date)> = db
            .users
            .values()
            .filter_map(|u| u.last_activity_on.filter(|d| *d >= from).map(|d| (u, d)))
            .collect();
        rows.sort_by_key(|(u, d)| (*d, u.id));
        let total = rows.len();
        let (rows, h) = offset_page(&info, &params, &pp, rows.into_iter(), Some(total));
        let items = rows
            .into_iter()
            .map(|(u, d)| {
                let day = crate::clock::fmt_date(d);
                json!({ "username": u.username, "last_activity_on": day, "last_activity_at": day })
            })
            .collect();
        Ok(paged(items, h))
    })
}

/// `GET /service_accounts` (admin, self-managed).
async fn service_accounts(
    State(state): State<SimState>,
    caller: Caller,
    info: ReqInfo,
    params: Params,
) -> ApiResult<Response> {
    caller.require(READ_API)?;
    refuse_on_gitlab_com(&state)?;
    caller.require_admin(READ_API)?;
    let pp = PageParams::from_params(&params)?;
    pp.reject_keyset()?;
    state.read(|db| {
        let rows: Vec<&User> = db
            .users
            .values()
            .filter(|u| u.kind == UserKind::ServiceAccount)
            .collect();
        let total = rows.len();
        let (rows, h) = offset_page(&info, &params, &pp, rows.into_iter(), Some(total));
        let items = rows
            .into_iter()
            .map(|u| json!({ "id": u.id, "username": u.username, "name": u.name, "email": u.email }))
            .collect();
        Ok(paged(items, h))
    })
}
