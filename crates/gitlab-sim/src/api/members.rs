//! Members (direct and `/all`), invitations and billable members of groups and projects.

use std::collections::{BTreeMap, BTreeSet};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::{find_group, find_project, json, no_content, render};
use crate::auth::{API, Caller, Principal, READ_API, require_level};
use crate::clock::fmt_ts;
use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::hook_events::{self, MemberChange, Outgoing};
use crate::model::*;
use crate::pagination::{PageParams, ReqInfo, offset_page, paged};
use crate::params::Params;
use crate::state::SimState;

pub fn router() -> Router<SimState> {
    let mut r = Router::new();
    for kind in ["/groups", "/projects"] {
        r = r
            .route(
                &format!("{kind}/{{id}}/members"),
                get(list_direct).post(add_member),
            )
            .route(&format!("{kind}/{{id}}/members/all"), get(list_all))
            .route(
                &format!("{kind}/{{id}}/members/all/{{user_id}}"),
                get(get_effective),
            )
            .route(
                &format!("{kind}/{{id}}/members/{{user_id}}"),
                get(get_direct).put(update_member).delete(remove_member),
            )
            .route(
                &format!("{kind}/{{id}}/invitations"),
                get(list_invitations).post(invite),
            )
            .route(
                &format!("{kind}/{{id}}/invitations/{{email}}"),
                axum::routing::put(update_invitation).delete(delete_invitation),
            );
    }
    r.route("/groups/{id}/billable_members", get(billable_members))
        .route(
            "/groups/{id}/billable_members/{user_id}",
            axum::routing::delete(remove_billable),
        )
        .route(
            "/groups/{id}/billable_members/{user_id}/memberships",
            get(billable_memberships),
        )
}

/// Whether the route is under `/groups` or `/projects`.
#[derive(Debug, Clone, Copy)]
pub struct Kind(pub &'static str);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Kind {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(if parts.uri.path().starts_with("/projects/") {
            "projects"
        } else {
            "groups"
        }))
    }
}

fn source_of(state: &SimState, p: Option<&Principal>, kind: &str, id: &str) -> ApiResult<Source> {
    match kind {
        "projects" => find_project(state, p, id).map(Source::Project),
        "groups" => find_group(state, p, id).map(Source::Group),
        _ => Err(ApiError::message(StatusCode::NOT_FOUND, "Not Found")),
    }
}

/// Role needed to manage members: Maintainer on projects, Owner on groups.
fn admin_level(source: Source) -> u8 {
    match source {
        Source::Project(_) => 40,
        Source::Group(_) => 50,
    }
}

struct MemberFilter {
    query: Option<String>,
    user_ids: Option<BTreeSet<UserId>>,
}

impl MemberFilter {
    fn from_params(p: &Params) -> Self {
        Self {
            query: p.str("query").map(|s| s.to_lowercase()).filter(|s| !s.is_empty()),
            user_ids: p
                .list("user_ids")
                .map(|l| l.iter().filter_map(|s| s.parse().ok()).collect()),
        }
    }

    fn keep(&self, db: &Db, user_id: UserId) -> bool {
        if self.user_ids.as_ref().is_some_and(|ids| !ids.contains(&user_id)) {
            return false;
        }
        match (&self.query, db.user(user_id)) {
            (None, Some(_)) => true,
            (Some(q), Some(u)) => u.username.to_lowercase().contains(q) || u.name.to_lowercase().contains(q),
            (_, None) => false,
        }
    }
}

async fn list_direct(
    State(state): State<SimState>,
    caller: Caller,
    info: ReqInfo,
    Kind(kind): Kind,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let p = caller.optional(READ_API)?;
    let source = source_of(&state, p, kind, &id)?;
    let pp = PageParams::from_params(&params)?;
    pp.reject_keyset()?;
    let filter = MemberFilter::from_params(&params);
    let today = state.clock().today();
    let base = state.base_url();
    state.read(|db| {
        let rows: Vec<&Member> = db
            .members
            .get(&source)
            .map(|m| {
                m.values()
                    .filter(|m| m.expires_at.is_none_or(|d| d > today) && filter.keep(db, m.user_id))
                    .collect()
            })
            .unwrap_or_default();
        let total = rows.len();
        let (rows, h) = offset_page(&info, &params, &pp, rows.into_iter(), Some(total));
        Ok(paged(
            rows.into_iter().map(|m| render::member(db, m, &base)).collect(),
            h,
        ))
    })
}

/// Effective members of a source as `members/all` computes them: direct, inherited from ancestor
/// groups and members of groups invited directly into the source, one row per user with the
/// highest level. Shares into ancestors are not followed (a documented GitLab gap).
pub fn effective_members(db: &Db, source: Source, today: time::Date) -> BTreeMap<UserId, Member> {
    let mut out: BTreeMap<UserId, Member> = BTreeMap::new();
    let mut offer = |m: &Member, level: u8| {
        if m.expires_at.is_some_and(|d| d <= today) {
            return;
        }
        let better = out.get(&m.user_id).is_none_or(|cur| cur.access_level < level);
        if better {
            let mut row = m.clone();
            row.access_level = level;
            out.insert(m.user_id, row);
        }
    };
    let (chain, shares): (Vec<Source>, Vec<Share>) = match source {
        Source::Project(pid) => {
            let mut chain = vec![Source::Project(pid)];
            if let Some(g) = db.project_group(pid) {
                chain.extend(db.group_ancestors(g).into_iter().map(Source::Group));
            }
            (
                chain,
                db.projects
                    .get(&pid)
                    .map(|p| p.shared_with.clone())
                    .unwrap_or_default(),
            )
        }
        Source::Group(gid) => (
            db.group_ancestors(gid).into_iter().map(Source::Group).collect(),
            db.groups
                .get(&gid)
                .map(|g| g.shared_with.clone())
                .unwrap_or_default(),
        ),
    };
    for s in chain {
        if let Some(ms) = db.members.get(&s) {
            for m in ms.values() {
                offer(m, m.access_level);
            }
        }
    }
    for share in shares.iter().filter(|s| s.expires_at.is_none_or(|d| d > today)) {
        for g in db.group_ancestors(share.group_id) {
            if let Some(ms) = db.members.get(&Source::Group(g)) {
                for m in ms.values() {
                    offer(m, m.access_level.min(share.access_level));
                }
            }
        }
    }
    out
}

async fn list_all(
    State(state): State<SimState>,
    caller: Caller,
    info: ReqInfo,
    Kind(kind): Kind,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let p = caller.optional(READ_API)?;
    let source = source_of(&state, p, kind, &id)?;
    let pp = PageParams::from_params(&params)?;
    pp.reject_keyset()?;
    let filter = MemberFilter::from_params(&params);
    let today = state.clock().today();
    let base = state.base_url();
    state.read(|db| {
        let all = effective_members(db, source, today);
        let rows: Vec<&Member> = all.values().filter(|m| filter.keep(db, m.user_id)).collect();
        let total = rows.len();
        let (rows, h) = offset_page(&info, &params, &pp, rows.into_iter(), Some(total));
        Ok(paged(
            rows.into_iter().map(|m| render::member(db, m, &base)).collect(),
            h,
        ))
    })
}

fn parse_user_id(s: &str) -> ApiResult<UserId> {
    s.parse().map_err(|_| ApiError::param("user_id is invalid"))
}

async fn get_effective(
    State(state): State<SimState>,
    caller: Caller,
    Kind(kind): Kind,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let p = caller.optional(READ_API)?;
    let source = source_of(&state, p, kind, &id)?;
    let uid = parse_user_id(&user_id)?;
    let today = state.clock().today();
    let base = state.base_url();
    state.read(|db| {
        let all = effective_members(db, source, today);
        let m = all.get(&uid).ok_or_else(|| ApiError::not_found("Member"))?;
        Ok(json(StatusCode::OK, render::member(db, m, &base)))
    })
}

async fn get_direct(
    State(state): State<SimState>,
    caller: Caller,
    Kind(kind): Kind,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let p = caller.optional(READ_API)?;
    let source = source_of(&state, p, kind, &id)?;
    let uid = parse_user_id(&user_id)?;
    let today = state.clock().today();
    let base = state.base_url();
    state.read(|db| {
        let m = db
            .direct_member(uid, source, today)
            .ok_or_else(|| ApiError::not_found("Member"))?;
        Ok(json(StatusCode::OK, render::member(db, m, &base)))
    })
}

fn check_level_value(source: Source, db: &Db, level: i64) -> ApiResult<u8> {
    let l = u8::try_from(level)
        .ok()
        .filter(|l| VALID_ACCESS_LEVELS.contains(l));
    let Some(l) = l else {
        return Err(ApiError::param("access_level does not have a valid value"));
    };
    let top_level_group =
        matches!(source, Source::Group(g) if db.groups.get(&g).is_some_and(|g| g.parent_id.is_none()));
    if l == 5 && !top_level_group {
        return Err(ApiError::validation(
            "access_level",
            "is not included in the list",
        ));
    }
    Ok(l)
}

/// The custom role `member_role_id` names, checked against the level it is given with: GitLab
/// assigns a custom role only at its own base access level.
fn member_role_param(state: &SimState, params: &Params, level: u8) -> ApiResult<Option<u64>> {
    let Some(raw) = params.int("member_role_id")? else {
        return Ok(None);
    };
    let id = u64::try_from(raw).map_err(|_| ApiError::param("member_role_id is invalid"))?;
    let base = state
        .read(|db| db.member_roles.get(&id).map(|r| r.base_access_level))
        .ok_or_else(|| ApiError::not_found("Member Role"))?;
    if base != level {
        return Err(ApiError::validation(
            "member_role",
            "the custom role's base access level does not match the current access level",
        ));
    }
    Ok(Some(id))
}

/// The highest level a user holds in a source through anything but a direct membership.
fn inherited_level(db: &Db, source: Source, user: UserId, today: time::Date) -> Option<(u8, String)> {
    let ancestors: Vec<GroupId> = match source {
        Source::Project(p) => db
            .project_group(p)
            .map(|g| db.group_ancestors(g))
            .unwrap_or_default(),
        Source::Group(g) => db.group_ancestors(g).into_iter().skip(1).collect(),
    };
    ancestors
        .into_iter()
        .filter_map(|g| {
            db.direct_member(user, Source::Group(g), today)
                .map(|m| (m.access_level, g))
        })
        .max_by_key(|(l, _)| *l)
        .map(|(l, g)| (l, db.groups.get(&g).map(|g| g.name.clone()).unwrap_or_default()))
}

fn authorize_manage(state: &SimState, p: &Principal, source: Source, level: u8) -> ApiResult<()> {
    let mine = require_level(state, p, source, admin_level(source))?;
    if level > mine {
        return Err(ApiError::forbidden());
    }
    Ok(())
}

async fn add_member(
    State(state): State<SimState>,
    caller: Caller,
    Kind(kind): Kind,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let p = caller.require(API)?;
    let source = source_of(&state, Some(p), kind, &id)?;
    params.require(&["access_level"])?;
    if !params.has("user_id") && !params.has("username") {
        return Err(ApiError::param(
            "user_id, username are missing, exactly one parameter must be provided",
        ));
    }
    let level_raw = params.int("access_level")?.unwrap_or(0);
    let level = state.read(|db| check_level_value(source, db, level_raw))?;
    authorize_manage(&state, p, source, level)?;
    let expires_at = params.date("expires_at")?;
    let member_role_id = member_role_param(&state, &params, level)?;
    let clock = state.clock();
    let (today, now) = (clock.today(), clock.now());
    if expires_at.is_some_and(|d| d <= today) {
        return Err(ApiError::validation("expires_at", "cannot be a date in the past"));
    }
    let base = state.base_url();
    let creator = p.user_id;
    let (response, events) = state.write(|db| -> ApiResult<(Response, Vec<Outgoing>)> {
        let mut events = Vec::new();
        let ids: Vec<UserId> = match params.str("user_id") {
            Some(s) => s
                .split(',')
                .map(|x| parse_user_id(x.trim()))
                .collect::<ApiResult<_>>()?,
            None => {
                let name = params.str("username").unwrap_or_default();
                vec![
                    db.user_by_username(&name)
                        .map(|u| u.id)
                        .ok_or_else(|| ApiError::not_found("User"))?,
                ]
            }
        };
        let mut last = None;
        for uid in &ids {
            let user = db.user(*uid).ok_or_else(|| ApiError::not_found("User"))?;
            if user.is_bot() {
                return Err(ApiError::validation(
                    "user",
                    "project bots cannot be added to other groups / projects",
                ));
            }
            if db.members.get(&source).is_some_and(|m| m.contains_key(uid)) {
                return Err(ApiError::conflict("Member already exists"));
            }
            if let Some((inherited, from)) = inherited_level(db, source, *uid, today)
                && level < inherited
            {
                return Err(ApiError::validation(
                    "access_level",
                    format!(
                        "should be greater than or equal to {} inherited membership from group {from}",
                        role_name(inherited)
                    ),
                ));
            }
            db.add_member(source, *uid, level, expires_at, Some(creator), now);
            if let Some(role) = member_role_id {
                db.assign_member_role(source, *uid, role)?;
            }
            events.extend(added_events(db, source, *uid, now));
            last = Some(*uid);
        }
        let uid = last.ok_or_else(|| ApiError::param("user_id is missing"))?;
        let m = db
            .members
            .get(&source)
            .and_then(|m| m.get(&uid))
            .ok_or_else(|| ApiError::not_found("Member"))?;
        Ok((json(StatusCode::CREATED, render::member(db, m, &base)), events))
    })?;
    hook_events::send(&state, events).await;
    Ok(response)
}

/// The hook deliveries of a membership just added.
fn added_events(db: &Db, source: Source, user: UserId, now: time::OffsetDateTime) -> Vec<Outgoing> {
    db.members
        .get(&source)
        .and_then(|m| m.get(&user))
        .map(|m| hook_events::member(db, m, MemberChange::Added, now))
        .unwrap_or_default()
}

async fn update_member(
    State(state): State<SimState>,
    caller: Caller,
    Kind(kind): Kind,
    Path((id, user_id)): Path<(String, String)>,
    params: Params,
) -> ApiResult<Response> {
    let p = caller.require(API)?;
    let source = source_of(&state, Some(p), kind, &id)?;
    let uid = parse_user_id(&user_id)?;
    let level = match params.int("access_level")? {
        Some(l) => Some(state.read(|db| check_level_value(source, db, l))?),
        None => None,
    };
    if level.is_none() && !params.has("expires_at") && !params.has("member_role_id") {
        return Err(ApiError::param(
            "access_level, expires_at, member_role_id are missing, at least one parameter must be provided",
        ));
    }
    authorize_manage(&state, p, source, level.unwrap_or(0))?;
    let expires_at = params.date("expires_at")?;
    let member_role_id = match level {
        Some(l) => member_role_param(&state, &params, l)?,
        None => None,
    };
    let clock = state.clock();
    let (today, now) = (clock.today(), clock.now());
    let base = state.base_url();
    let (response, events) = state.write(|db| -> ApiResult<(Response, Vec<Outgoing>)> {
        let bot = db.user(uid).is_some_and(User::is_bot);
        if db.direct_member(uid, source, today).is_none() {
            return Err(ApiError::not_found("Member"));
        }
        if bot {
            return Err(ApiError::forbidden());
        }
        if let Some(l) = level
            && let Some((inherited, from)) = inherited_level(db, source, uid, today)
            && l < inherited
        {
            return Err(ApiError::validation(
                "access_level",
                format!(
                    "should be greater than or equal to {} inherited membership from group {from}",
                    role_name(inherited)
                ),
            ));
        }
        let m = db
            .members
            .get_mut(&source)
            .and_then(|m| m.get_mut(&uid))
            .ok_or_else(|| ApiError::not_found("Member"))?;
        if let Some(l) = level {
            m.access_level = l;
            // A new level without a custom role ends the custom role: it was defined on the old base.
            m.member_role_id = member_role_id;
        }
        if params.has("expires_at") {
            m.expires_at = expires_at;
        }
        let m = m.clone();
        let events = hook_events::member(db, &m, MemberChange::Updated, now);
        Ok((json(StatusCode::OK, render::member(db, &m, &base)), events))
    })?;
    hook_events::send(&state, events).await;
    Ok(response)
}

async fn remove_member(
    State(state): State<SimState>,
    caller: Caller,
    Kind(kind): Kind,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let p = caller.require(API)?;
    let source = source_of(&state, Some(p), kind, &id)?;
    let uid = parse_user_id(&user_id)?;
    let self_removal = uid == p.user_id;
    if !self_removal {
        require_level(&state, p, source, admin_level(source))?;
    }
    let (today, now) = (state.clock().today(), state.clock().now());
    let events = state.write(|db| {
        let Some(member) = db.direct_member(uid, source, today).cloned() else {
            return Err(ApiError::not_found("Member"));
        };
        let events = hook_events::member(db, &member, MemberChange::Removed, now);
        db.remove_member(source, uid);
        Ok(events)
    })?;
    hook_events::send(&state, events).await;
    Ok(no_content())
}

// ---- invitations ---------------------------------------------------------------------------------

async fn list_invitations(
    State(state): State<SimState>,
    caller: Caller,
    info: ReqInfo,
    Kind(kind): Kind,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let p = caller.require(READ_API)?;
    let source = source_of(&state, Some(p), kind, &id)?;
    require_level(&state, p, source, admin_level(source))?;
    let pp = PageParams::from_params(&params)?;
    pp.reject_keyset()?;
    let query = params.str("query").map(|q| q.to_lowercase());
    state.read(|db| {
        let rows: Vec<&Invitation> = db
            .invitations
            .values()
            .filter(|i| i.source == source && query.as_ref().is_none_or(|q| i.email.to_lowercase() == *q))
            .collect();
        let total = rows.len();
        let (rows, h) = offset_page(&info, &params, &pp, rows.into_iter(), Some(total));
        Ok(paged(
            rows.into_iter().map(|i| render::invitation(db, i)).collect(),
            h,
        ))
    })
}

async fn invite(
    State(state): State<SimState>,
    caller: Caller,
    Kind(kind): Kind,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let p = caller.require(API)?;
    let source = source_of(&state, Some(p), kind, &id)?;
    params.require(&["access_level"])?;
    if !params.has("email") && !params.has("user_id") {
        return Err(ApiError::param(
            "email, user_id are missing, at least one parameter must be provided",
        ));
    }
    let level_raw = params.int("access_level")?.unwrap_or(0);
    let level = state.read(|db| check_level_value(source, db, level_raw))?;
    authorize_manage(&state, p, source, level)?;
    let expires_at = params.date("expires_at")?;
    let clock = state.clock();
    let now = clock.now();
    let creator = p.user_id;
    let (response, events) = state.write(|db| -> ApiResult<(Response, Vec<Outgoing>)> {
        let mut events = Vec::new();
        let mut errors = Map::new();
        for email in params.list("email").unwrap_or_default() {
            if !email.contains('@') {
                errors.insert(email.clone(), json!("Invite email is invalid"));
                continue;
            }
            if let Some(uid) = db.users_by_email.get(&email.to_lowercase()).copied() {
                if db.members.get(&source).is_some_and(|m| m.contains_key(&uid)) {
                    errors.insert(email.clone(), json!("User already exists in source"));
                } else {
                    db.add_member(source, uid, level, expires_at, Some(creator), now);
                    events.extend(added_events(db, source, uid, now));
                }
                continue;
            }
            if db
                .invitations
                .values()
                .any(|i| i.source == source && i.email.eq_ignore_ascii_case(&email))
            {
                errors.insert(email.clone(), json!("Invite email has already been taken"));
                continue;
            }
            db.add_invitation(source, &email, level, expires_at, Some(creator), now);
        }
        for uid in params.list("user_id").unwrap_or_default() {
            match uid.parse::<UserId>().ok().filter(|u| db.users.contains_key(u)) {
                None => {
                    errors.insert(uid.clone(), json!("User not found"));
                }
                Some(u) if db.members.get(&source).is_some_and(|m| m.contains_key(&u)) => {
                    errors.insert(uid.clone(), json!("User already exists in source"));
                }
                Some(u) => {
                    db.add_member(source, u, level, expires_at, Some(creator), now);
                    events.extend(added_events(db, source, u, now));
                }
            }
        }
        let body = if errors.is_empty() {
            json!({ "status": "success" })
        } else {
            json!({ "status": "error", "message": errors })
        };
        Ok((json(StatusCode::CREATED, body), events))
    })?;
    hook_events::send(&state, events).await;
    Ok(response)
}

fn find_invitation(db: &Db, source: Source, email: &str) -> ApiResult<u64> {
    db.invitations
        .values()
        .find(|i| i.source == source && i.email.eq_ignore_ascii_case(email))
        .map(|i| i.id)
        .ok_or_else(|| ApiError::not_found("Invitation"))
}

async fn update_invitation(
    State(state): State<SimState>,
    caller: Caller,
    Kind(kind): Kind,
    Path((id, email)): Path<(String, String)>,
    params: Params,
) -> ApiResult<Response> {
    let p = caller.require(API)?;
    let source = source_of(&state, Some(p), kind, &id)?;
    let level = match params.int("access_level")? {
        Some(l) => Some(state.read(|db| check_level_value(source, db, l))?),
        None => None,
    };
    authorize_manage(&state, p, source, level.unwrap_or(0))?;
    let expires_at = params.date("expires_at")?;
    state.write(|db| {
        let iid = find_invitation(db, source, &email)?;
        let inv = db
            .invitations
            .get_mut(&iid)
            .ok_or_else(|| ApiError::not_found("Invitation"))?;
        if let Some(l) = level {
            inv.access_level = l;
        }
        if params.has("expires_at") {
            inv.expires_at = expires_at;
        }
        let inv = inv.clone();
        Ok(json(StatusCode::OK, render::invitation(db, &inv)))
    })
}

async fn delete_invitation(
    State(state): State<SimState>,
    caller: Caller,
    Kind(kind): Kind,
    Path((id, email)): Path<(String, String)>,
) -> ApiResult<Response> {
    let p = caller.require(API)?;
    let source = source_of(&state, Some(p), kind, &id)?;
    require_level(&state, p, source, admin_level(source))?;
    state.write(|db| {
        let iid = find_invitation(db, source, &email)?;
        db.invitations.remove(&iid);
        Ok(no_content())
    })
}

// ---- billable members ----------------------------------------------------------------------------

/// Every source (the group, its descendants and their projects) in a top-level group's hierarchy.
fn hierarchy_sources(db: &Db, gid: GroupId) -> Vec<Source> {
    let mut groups = vec![gid];
    groups.extend(db.group_descendants(gid));
    let mut out: Vec<Source> = groups.iter().map(|g| Source::Group(*g)).collect();
    for g in &groups {
        if let Some(ps) = db.group_projects.get(g) {
            out.extend(ps.iter().map(|p| Source::Project(*p)));
        }
    }
    out
}

fn top_level_group(state: &SimState, p: &Principal, id: &str) -> ApiResult<GroupId> {
    let gid = find_group(state, Some(p), id)?;
    require_level(state, p, Source::Group(gid), 50)?;
    if state.read(|db| db.groups.get(&gid).is_some_and(|g| g.parent_id.is_some())) {
        return Err(ApiError::bad_request(
            "Billable Members can only be retrieved for top-level groups",
        ));
    }
    Ok(gid)
}

async fn billable_members(
    State(state): State<SimState>,
    caller: Caller,
    info: ReqInfo,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let p = caller.require(READ_API)?;
    let gid = top_level_group(&state, p, &id)?;
    let pp = PageParams::from_params(&params)?;
    pp.reject_keyset()?;
    let search = params.str("search").map(|s| s.to_lowercase());
    let today = state.clock().today();
    let base = state.base_url();
    state.read(|db| {
        let sources = hierarchy_sources(db, gid);
        let mut users: BTreeMap<UserId, &'static str> = BTreeMap::new();
        for s in &sources {
            if let Some(ms) = db.members.get(s) {
                for m in ms.values().filter(|m| m.expires_at.is_none_or(|d| d > today)) {
                    let kind = if matches!(s, Source::Group(_)) {
                        "group_member"
                    } else {
                        "project_member"
                    };
                    users.entry(m.user_id).or_insert(kind);
                }
            }
        }
        let rows: Vec<(&User, &str)> = users
            .iter()
            .filter_map(|(u, k)| db.user(*u).map(|u| (u, *k)))
            .filter(|(u, _)| u.kind == UserKind::Human)
            .filter(|(u, _)| {
                search.as_ref().is_none_or(|q| {
                    u.username.to_lowercase().contains(q) || u.name.to_lowercase().contains(q)
                })
            })
            .collect();
        let total = rows.len();
        let (rows, h) = offset_page(&info, &params, &pp, rows.into_iter(), Some(total));
        let items = rows
            .into_iter()
            .map(|(u, kind)| {
                let mut v = render::user_basic(u, &base);
                if let Value::Object(m) = &mut v {
                    m.insert(
                        "last_activity_on".into(),
                        u.last_activity_on
                            .map_or(Value::Null, |d| json!(crate::clock::fmt_date(d))),
                    );
                    m.insert("membership_type".into(), json!(kind));
                    m.insert("removable".into(), json!(true));
                    m.insert("created_at".into(), json!(fmt_ts(u.created_at)));
                    m.insert("is_last_owner".into(), json!(false));
                    m.insert(
                        "last_login_at".into(),
                        u.last_sign_in_at.map_or(Value::Null, |t| json!(fmt_ts(t))),
                    );
                }
                v
            })
            .collect();
        Ok(paged(items, h))
    })
}

async fn billable_memberships(
    State(state): State<SimState>,
    caller: Caller,
    info: ReqInfo,
    Path((id, user_id)): Path<(String, String)>,
    params: Params,
) -> ApiResult<Response> {
    let p = caller.require(READ_API)?;
    let gid = top_level_group(&state, p, &id)?;
    let uid = parse_user_id(&user_id)?;
    let pp = PageParams::from_params(&params)?;
    let base = state.base_url();
    state.read(|db| {
        let rows: Vec<&Member> = hierarchy_sources(db, gid)
            .into_iter()
            .filter_map(|s| db.members.get(&s).and_then(|m| m.get(&uid)))
            .collect();
        if rows.is_empty() {
            return Err(ApiError::not_found("User"));
        }
        let total = rows.len();
        let (rows, h) = offset_page(&info, &params, &pp, rows.into_iter(), Some(total));
        let items = rows
            .into_iter()
            .map(|m| {
                let (sid, full_name, url) = match m.source {
                    Source::Group(g) => {
                        let g = db.groups.get(&g);
                        (m.source, g.map(|g| g.full_name.clone()), g.map(|g| format!("{base}/groups/{}/-/group_members", g.full_path)))
                    }
                    Source::Project(p) => {
                        let p = db.projects.get(&p);
                        (m.source, p.map(|p| p.name_with_namespace.clone()), p.map(|p| format!("{base}/{}/-/project_members", p.full_path)))
                    }
                };
                let source_id = match sid {
                    Source::Group(g) => g,
                    Source::Project(p) => p,
                };
                json!({
                    "id": m.user_id * 100_000 + source_id,
                    "source_id": source_id,
                    "source_full_name": full_name,
                    "source_members_url": url,
                    "created_at": fmt_ts(m.created_at),
                    "expires_at": m.expires_at.map(crate::clock::fmt_date),
                    "access_level": { "string_value": role_name(m.access_level), "integer_value": m.access_level },
                })
            })
            .collect();
        Ok(paged(items, h))
    })
}

async fn remove_billable(
    State(state): State<SimState>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let p = caller.require(API)?;
    let gid = top_level_group(&state, p, &id)?;
    let uid = parse_user_id(&user_id)?;
    let now = state.clock().now();
    let events = state.write(|db| {
        let sources = hierarchy_sources(db, gid);
        let mut events = Vec::new();
        let mut removed = 0;
        for s in sources {
            if let Some(member) = db.members.get(&s).and_then(|m| m.get(&uid)).cloned() {
                events.extend(hook_events::member(db, &member, MemberChange::Removed, now));
                db.remove_member(s, uid);
                removed += 1;
            }
        }
        if removed == 0 {
            return Err(ApiError::not_found("User"));
        }
        Ok(events)
    })?;
    hook_events::send(&state, events).await;
    Ok(no_content())
}
