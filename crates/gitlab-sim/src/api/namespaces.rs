//! `/namespaces`: users' personal namespaces and groups in one list. Administrators see every
//! namespace; anyone else their own namespace and the groups they are a direct member of.

use std::collections::BTreeSet;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use super::{can_see_group, json};
use crate::auth::{Caller, Principal, READ_API};
use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::model::*;
use crate::pagination::{PageParams, ReqInfo, offset_page, paged};
use crate::params::Params;
use crate::state::SimState;

pub fn router() -> Router<SimState> {
    Router::new()
        .route("/namespaces", get(list))
        .route("/namespaces/{id}", get(show))
        .route("/namespaces/{id}/exists", get(exists))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ns {
    User(UserId),
    Group(GroupId),
}

fn ns_id(db: &Db, ns: Ns) -> u64 {
    match ns {
        Ns::User(u) => db.user(u).map_or(0, |u| u.namespace_id),
        Ns::Group(g) => g,
    }
}

/// Distinct users who are direct members of the group or of any of its descendants.
fn members_with_descendants(db: &Db, gid: GroupId, today: time::Date) -> usize {
    let mut users = BTreeSet::new();
    for g in std::iter::once(gid).chain(db.group_descendants(gid)) {
        if let Some(ms) = db.members.get(&Source::Group(g)) {
            users.extend(
                ms.values()
                    .filter(|m| m.expires_at.is_none_or(|d| d > today))
                    .map(|m| m.user_id),
            );
        }
    }
    users.len()
}

fn render(db: &Db, ns: Ns, p: &Principal, base: &str, today: time::Date) -> Value {
    let plan = if db.settings.mode == Mode::GitLabCom {
        "free"
    } else {
        "default"
    };
    match ns {
        Ns::User(uid) => match db.user(uid) {
            Some(u) => json!({
                "id": u.namespace_id, "name": u.name, "path": u.username, "kind": "user",
                "full_path": u.username, "parent_id": Value::Null, "avatar_url": u.avatar_url,
                "web_url": format!("{base}/{}", u.username),
                "billable_members_count": 1, "plan": plan, "end_date": Value::Null,
                "trial_ends_on": Value::Null, "trial": false, "root_repository_size": 0,
                "projects_count": db.user_projects.get(&uid).map_or(0, BTreeSet::len),
            }),
            None => Value::Null,
        },
        Ns::Group(gid) => match db.groups.get(&gid) {
            Some(g) => {
                let mut v = json!({
                    "id": g.id, "name": g.name, "path": g.path, "kind": "group",
                    "full_path": g.full_path, "parent_id": g.parent_id, "avatar_url": Value::Null,
                    "web_url": format!("{base}/groups/{}", g.full_path),
                });
                // Counts are for those who administer the group: Owners and administrators.
                if p.admin || db.group_level(p.user_id, gid, today) >= 50 {
                    let members = members_with_descendants(db, gid, today);
                    if let Value::Object(m) = &mut v {
                        m.insert("members_count_with_descendants".into(), json!(members));
                        m.insert("billable_members_count".into(), json!(members));
                        m.insert("plan".into(), json!(plan));
                        m.insert("end_date".into(), Value::Null);
                        m.insert("trial_ends_on".into(), Value::Null);
                        m.insert("trial".into(), json!(false));
                        m.insert("root_repository_size".into(), json!(0));
                        m.insert(
                            "projects_count".into(),
                            json!(db.group_projects.get(&gid).map_or(0, BTreeSet::len)),
                        );
                    }
                }
                v
            }
            None => Value::Null,
        },
    }
}

fn name_and_path(db: &Db, ns: Ns) -> (String, String, String) {
    match ns {
        Ns::User(u) => db
            .user(u)
            .map(|u| (u.name.clone(), u.username.clone(), u.username.clone()))
            .unwrap_or_default(),
        Ns::Group(g) => db
            .groups
            .get(&g)
            .map(|g| (g.name.clone(), g.path.clone(), g.full_path.clone()))
            .unwrap_or_default(),
    }
}

async fn list(
    State(state): State<SimState>,
    caller: Caller,
    info: ReqInfo,
    params: Params,
) -> ApiResult<Response> {
    let p = caller.require(READ_API)?;
    let pp = PageParams::from_params(&params)?;
    pp.reject_keyset()?;
    let owned_only = params.flag("owned_only")?;
    let top_level_only = params.flag("top_level_only")?;
    let full_path_search = params.flag("full_path_search")?;
    let search = params
        .str("search")
        .map(|s| s.to_lowercase())
        .filter(|s| !s.is_empty());
    let today = state.clock().today();
    let base = state.base_url();
    state.read(|db| {
        let mut all: Vec<Ns> = if p.admin {
            db.users
                .keys()
                .map(|u| Ns::User(*u))
                .chain(db.groups.keys().map(|g| Ns::Group(*g)))
                .collect()
        } else {
            let mut mine = vec![Ns::User(p.user_id)];
            if let Some(sources) = db.user_memberships.get(&p.user_id) {
                mine.extend(sources.iter().filter_map(|s| {
                    match s {
                        Source::Group(g) => db
                            .direct_member(p.user_id, *s, today)
                            .filter(|m| !owned_only || m.access_level >= 50)
                            .map(|_| Ns::Group(*g)),
                        Source::Project(_) => None,
                    }
                }));
            }
            mine
        };
        all.retain(|ns| {
            if top_level_only
                && matches!(ns, Ns::Group(g) if db.groups.get(g).is_some_and(|g| g.parent_id.is_some()))
            {
                return false;
            }
            search.as_ref().is_none_or(|q| {
                let (name, path, full_path) = name_and_path(db, *ns);
                let hay = if full_path_search { full_path } else { path };
                name.to_lowercase().contains(q) || hay.to_lowercase().contains(q)
            })
        });
        all.sort_by_key(|ns| ns_id(db, *ns));
        let total = all.len();
        let (rows, h) = offset_page(&info, &params, &pp, all.into_iter(), Some(total));
        Ok(paged(
            rows.into_iter()
                .map(|ns| render(db, ns, p, &base, today))
                .collect(),
            h,
        ))
    })
}

/// A namespace by numeric id or URL-encoded full path.
fn find(db: &Db, id: &str) -> Option<Ns> {
    match id.parse::<u64>() {
        Ok(n) => {
            if db.groups.contains_key(&n) {
                return Some(Ns::Group(n));
            }
            db.users
                .values()
                .find(|u| u.namespace_id == n)
                .map(|u| Ns::User(u.id))
        }
        Err(_) => db
            .group_id(id)
            .map(Ns::Group)
            .or_else(|| db.user_by_username(id).map(|u| Ns::User(u.id))),
    }
}

async fn show(State(state): State<SimState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let p = caller.require(READ_API)?;
    let today = state.clock().today();
    let base = state.base_url();
    state.read(|db| {
        let ns = find(db, &id).ok_or_else(|| ApiError::not_found("Namespace"))?;
        let visible = match ns {
            Ns::User(u) => p.admin || u == p.user_id,
            Ns::Group(g) => can_see_group(db, Some(p), g, today),
        };
        if !visible {
            return Err(ApiError::not_found("Namespace"));
        }
        Ok(json(StatusCode::OK, render(db, ns, p, &base, today)))
    })
}

/// `GET /namespaces/:path/exists[?parent_id=]`: whether the path is taken at that level, with a
/// free alternative when it is.
async fn exists(
    State(state): State<SimState>,
    caller: Caller,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    caller.require(READ_API)?;
    let parent = params.int("parent_id")?.and_then(|p| u64::try_from(p).ok());
    state.read(|db| {
        let taken = |path: &str| {
            let path = path.to_lowercase();
            match parent {
                Some(pid) => db.group_children.get(&pid).is_some_and(|children| {
                    children
                        .iter()
                        .any(|c| db.groups.get(c).is_some_and(|g| g.path.to_lowercase() == path))
                }),
                None => db.groups_by_path.contains_key(&path) || db.users_by_username.contains_key(&path),
            }
        };
        let exists = taken(&id);
        let suggests: Vec<String> = if exists {
            (1..)
                .map(|n| format!("{id}{n}"))
                .find(|candidate| !taken(candidate))
                .into_iter()
                .collect()
        } else {
            Vec::new()
        };
        Ok(json(
            StatusCode::OK,
            json!({ "exists": exists, "suggests": suggests }),
        ))
    })
}
