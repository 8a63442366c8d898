//! `/groups`, `/groups/:id`, subgroups, descendant groups and group projects.

use std::collections::BTreeSet;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use base64::Engine;
use serde_json::json;

use super::{can_see_group, find_group, json, render};
use crate::auth::{Caller, Principal, READ_API};
use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::model::*;
use crate::pagination::{PageParams, ReqInfo, keyset_headers, offset_page, paged};
use crate::params::Params;
use crate::state::SimState;

pub fn router() -> Router<SimState> {
    Router::new()
        .route("/groups", get(list_groups))
        .route("/groups/{id}", get(get_group))
        .route("/groups/{id}/subgroups", get(subgroups))
        .route("/groups/{id}/descendant_groups", get(descendants))
        .route("/groups/{id}/projects", get(super::projects::group_projects))
}

struct GroupQuery {
    search: Option<String>,
    owned: bool,
    min_access_level: Option<u8>,
    top_level_only: bool,
    skip: BTreeSet<u64>,
    order_by: String,
    asc: bool,
}

impl GroupQuery {
    fn from_params(p: &Params) -> ApiResult<Self> {
        let order_by = p.str("order_by").unwrap_or_else(|| "name".into());
        if !matches!(order_by.as_str(), "name" | "path" | "id" | "similarity") {
            return Err(ApiError::param("order_by does not have a valid value"));
        }
        let asc = match p.str("sort").as_deref() {
            None | Some("asc") => true,
            Some("desc") => false,
            Some(_) => return Err(ApiError::param("sort does not have a valid value")),
        };
        let min_access_level = match p.int("min_access_level")? {
            None => None,
            Some(l) if VALID_ACCESS_LEVELS.iter().any(|v| i64::from(*v) == l) => u8::try_from(l).ok(),
            Some(_) => return Err(ApiError::param("min_access_level does not have a valid value")),
        };
        Ok(Self {
            search: p
                .str("search")
                .map(|s| s.to_lowercase())
                .filter(|s| !s.is_empty()),
            owned: p.flag("owned")?,
            min_access_level,
            top_level_only: p.flag("top_level_only")?,
            skip: p
                .list("skip_groups")
                .unwrap_or_default()
                .iter()
                .filter_map(|s| s.parse().ok())
                .collect(),
            order_by,
            asc,
        })
    }

    fn keep(&self, db: &Db, g: &Group, p: Option<&Principal>, today: time::Date) -> bool {
        if self.skip.contains(&g.id) || (self.top_level_only && g.parent_id.is_some()) {
            return false;
        }
        if let Some(q) = &self.search
            && !g.name.to_lowercase().contains(q)
            && !g.path.to_lowercase().contains(q)
        {
            return false;
        }
        let need = if self.owned {
            Some(50)
        } else {
            self.min_access_level
        };
        match (need, p) {
            (Some(n), Some(p)) => db.group_level(p.user_id, g.id, today) >= n,
            (Some(_), None) => false,
            (None, _) => true,
        }
    }

    fn sort(&self, rows: &mut [&Group]) {
        match self.order_by.as_str() {
            "id" => rows.sort_by_key(|g| g.id),
            "path" => rows.sort_by(|a, b| {
                a.full_path
                    .to_lowercase()
                    .cmp(&b.full_path.to_lowercase())
                    .then(a.id.cmp(&b.id))
            }),
            _ => rows.sort_by(|a, b| {
                a.name
                    .to_lowercase()
                    .cmp(&b.name.to_lowercase())
                    .then(a.id.cmp(&b.id))
            }),
        }
        if !self.asc {
            rows.reverse();
        }
    }
}

fn respond(
    state: &SimState,
    info: &ReqInfo,
    params: &Params,
    pp: &PageParams,
    mut rows: Vec<&Group>,
    q: &GroupQuery,
    db: &Db,
) -> Response {
    q.sort(&mut rows);
    let base = state.base_url();
    let total = rows.len();
    let (rows, h) = offset_page(info, params, pp, rows.into_iter(), Some(total));
    paged(
        rows.into_iter()
            .map(|g| render::group(db, g, &base, false))
            .collect(),
        h,
    )
}

async fn list_groups(
    State(state): State<SimState>,
    caller: Caller,
    info: ReqInfo,
    params: Params,
) -> ApiResult<Response> {
    let p = caller.optional(READ_API)?;
    let pp = PageParams::from_params(&params)?;
    let q = GroupQuery::from_params(&params)?;
    let today = state.clock().today();
    if pp.keyset {
        if p.is_some() || q.order_by != "name" || !q.asc {
            return Err(ApiError::grape(
                StatusCode::METHOD_NOT_ALLOWED,
                "Keyset pagination is not yet available for this type of request",
            ));
        }
        return state.read(|db| keyset_public_groups(db, &state, &info, &params, &pp, &q, today));
    }
    pp.check_offset_cap("Group")?;
    let admin = p.is_some_and(|p| p.admin);
    let all_available = params.bool("all_available")?.unwrap_or(admin || p.is_none());
    state.read(|db| {
        let authorized = p
            .map(|p| db.authorized_groups(p.user_id, today))
            .unwrap_or_default();
        let rows: Vec<&Group> = db
            .groups
            .values()
            .filter(|g| {
                let visible = match p {
                    Some(p) if p.admin => true,
                    Some(_) => {
                        authorized.contains(&g.id) || (all_available && g.visibility != Visibility::Private)
                    }
                    None => g.visibility == Visibility::Public,
                };
                visible && q.keep(db, g, p, today)
            })
            .collect();
        Ok(respond(&state, &info, &params, &pp, rows, &q, db))
    })
}

fn keyset_public_groups(
    db: &Db,
    state: &SimState,
    info: &ReqInfo,
    params: &Params,
    pp: &PageParams,
    q: &GroupQuery,
    today: time::Date,
) -> ApiResult<Response> {
    let after: Option<(String, u64)> = match &pp.cursor {
        None => None,
        Some(c) => {
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .map_err(|_| ApiError::param("cursor is invalid"))?;
            let v: serde_json::Value =
                serde_json::from_slice(&raw).map_err(|_| ApiError::param("cursor is invalid"))?;
            Some((
                v.get("name")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                v.get("id").and_then(serde_json::Value::as_u64).unwrap_or(0),
            ))
        }
    };
    let mut rows: Vec<&Group> = db
        .groups
        .values()
        .filter(|g| g.visibility == Visibility::Public && q.keep(db, g, None, today))
        .collect();
    q.sort(&mut rows);
    let per_page = usize::try_from(pp.per_page).unwrap_or(20);
    let start = match &after {
        None => 0,
        Some((name, id)) => rows
            .iter()
            .position(|g| (g.name.to_lowercase().as_str(), g.id) > (name.as_str(), *id))
            .unwrap_or(rows.len()),
    };
    let slice: Vec<&Group> = rows.iter().skip(start).take(per_page + 1).copied().collect();
    let more = slice.len() > per_page;
    let page: Vec<&Group> = slice.into_iter().take(per_page).collect();
    let next = match page.last() {
        Some(g) if more => Some((
            "cursor",
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(json!({ "name": g.name.to_lowercase(), "id": g.id }).to_string()),
        )),
        _ => None,
    };
    let base = state.base_url();
    Ok(paged(
        page.into_iter()
            .map(|g| render::group(db, g, &base, false))
            .collect(),
        keyset_headers(info, params, next),
    ))
}

async fn get_group(
    State(state): State<SimState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let p = caller.optional(READ_API)?;
    let gid = find_group(&state, p, &id)?;
    let base = state.base_url();
    state.read(|db| {
        let g = db.groups.get(&gid).ok_or_else(|| ApiError::not_found("Group"))?;
        Ok(json(StatusCode::OK, render::group(db, g, &base, true)))
    })
}

async fn subgroups(
    State(state): State<SimState>,
    caller: Caller,
    info: ReqInfo,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    hierarchy(state, caller, info, id, params, false).await
}

async fn descendants(
    State(state): State<SimState>,
    caller: Caller,
    info: ReqInfo,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    hierarchy(state, caller, info, id, params, true).await
}

async fn hierarchy(
    state: SimState,
    caller: Caller,
    info: ReqInfo,
    id: String,
    params: Params,
    all: bool,
) -> ApiResult<Response> {
    let p = caller.optional(READ_API)?;
    let gid = find_group(&state, p, &id)?;
    let pp = PageParams::from_params(&params)?;
    pp.reject_keyset()?;
    let q = GroupQuery::from_params(&params)?;
    let today = state.clock().today();
    state.read(|db| {
        let ids: Vec<GroupId> = if all {
            db.group_descendants(gid)
        } else {
            db.group_children
                .get(&gid)
                .map(|c| c.iter().copied().collect())
                .unwrap_or_default()
        };
        let rows: Vec<&Group> = ids
            .iter()
            .filter_map(|g| db.groups.get(g))
            .filter(|g| can_see_group(db, p, g.id, today) && q.keep(db, g, p, today))
            .collect();
        Ok(respond(&state, &info, &params, &pp, rows, &q, db))
    })
}
