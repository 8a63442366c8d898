//! `/projects`, `/projects/:id` and `/groups/:id/projects`.

use std::collections::BTreeSet;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use super::{find_group, find_project, json, render};
use crate::auth::{Caller, Principal, READ_API};
use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::model::*;
use crate::pagination::{PageParams, ReqInfo, keyset_headers, offset_page, paged};
use crate::params::Params;
use crate::state::SimState;

pub fn router() -> Router<SimState> {
    Router::new()
        .route("/projects", get(list_projects))
        .route("/projects/{id}", get(get_project))
}

struct ProjectQuery {
    search: Option<String>,
    visibility: Option<Visibility>,
    archived: Option<bool>,
    owned: bool,
    membership: bool,
    min_access_level: Option<u8>,
    simple: bool,
    order_by: String,
    asc: bool,
}

impl ProjectQuery {
    fn from_params(p: &Params, pp: &PageParams) -> ApiResult<Self> {
        let order_by = p.str("order_by").unwrap_or_else(|| {
            if pp.keyset {
                "id".into()
            } else {
                "created_at".into()
            }
        });
        if !matches!(
            order_by.as_str(),
            "id" | "name"
                | "path"
                | "created_at"
                | "updated_at"
                | "last_activity_at"
                | "similarity"
                | "star_count"
        ) {
            return Err(ApiError::param("order_by does not have a valid value"));
        }
        if pp.keyset && order_by != "id" {
            return Err(ApiError::grape(
                StatusCode::METHOD_NOT_ALLOWED,
                "Keyset pagination is not yet available for this type of request",
            ));
        }
        let asc = match p.str("sort").as_deref() {
            None | Some("desc") => false,
            Some("asc") => true,
            Some(_) => return Err(ApiError::param("sort does not have a valid value")),
        };
        let visibility = match p.str("visibility") {
            None => None,
            Some(v) => Some(
                Visibility::parse(&v)
                    .ok_or_else(|| ApiError::param("visibility does not have a valid value"))?,
            ),
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
            visibility,
            archived: p.bool("archived")?,
            owned: p.flag("owned")?,
            membership: p.flag("membership")?,
            min_access_level,
            simple: p.flag("simple")?,
            order_by,
            asc,
        })
    }

    fn keep(
        &self,
        db: &Db,
        pr: &Project,
        p: Option<&Principal>,
        authorized: &BTreeSet<ProjectId>,
        today: time::Date,
    ) -> bool {
        if let Some(q) = &self.search
            && !pr.name.to_lowercase().contains(q)
            && !pr.path.to_lowercase().contains(q)
            && !pr.full_path.to_lowercase().contains(q)
        {
            return false;
        }
        if self.visibility.is_some_and(|v| v != pr.visibility)
            || self.archived.is_some_and(|a| a != pr.archived)
        {
            return false;
        }
        let Some(p) = p else {
            return !(self.owned || self.membership || self.min_access_level.is_some());
        };
        if (self.membership || self.min_access_level.is_some() || self.owned) && !authorized.contains(&pr.id)
        {
            return false;
        }
        if self.owned {
            return pr.namespace == Namespace::User(p.user_id);
        }
        if let Some(min) = self.min_access_level {
            return db.project_level(p.user_id, pr.id, today) >= min;
        }
        true
    }
}

fn render_rows(state: &SimState, db: &Db, rows: Vec<&Project>, q: &ProjectQuery) -> Vec<serde_json::Value> {
    let base = state.base_url();
    rows.into_iter()
        .map(|pr| {
            if q.simple {
                render::project_simple(db, pr, &base)
            } else {
                render::project(db, pr, &base, None)
            }
        })
        .collect()
}

/// Lists projects from `candidates` (ascending ids) that the caller may see and the query keeps.
#[allow(
    clippy::too_many_arguments,
    reason = "shared by two routes; each input is distinct"
)]
fn list(
    state: &SimState,
    db: &Db,
    p: Option<&Principal>,
    info: &ReqInfo,
    params: &Params,
    pp: &PageParams,
    q: &ProjectQuery,
    candidates: Option<&BTreeSet<ProjectId>>,
) -> ApiResult<Response> {
    let today = state.clock().today();
    let admin = p.is_some_and(|p| p.admin);
    let authorized = match p {
        Some(p) if !admin || q.membership || q.min_access_level.is_some() || q.owned => {
            db.authorized_projects(p.user_id, today)
        }
        _ => BTreeSet::new(),
    };
    let external = p.is_some_and(|p| db.user(p.user_id).is_some_and(|u| u.external));
    let visible = |pr: &Project| match p {
        Some(p) if p.admin => true,
        Some(_) => {
            pr.visibility == Visibility::Public
                || (pr.visibility == Visibility::Internal && !external)
                || authorized.contains(&pr.id)
        }
        None => pr.visibility == Visibility::Public,
    };
    let keep = |pr: &&Project| {
        candidates.is_none_or(|c| c.contains(&pr.id)) && visible(pr) && q.keep(db, pr, p, &authorized, today)
    };
    if pp.keyset {
        let per_page = usize::try_from(pp.per_page).unwrap_or(20);
        // A group's projects are walked through the group's own index, so a page costs what it
        // holds, not the size of the instance.
        let from = pp.id_after.map_or(0, |a| a.saturating_add(1));
        let to = pp.id_before.unwrap_or(u64::MAX);
        let rows: Vec<&Project> = match (candidates, q.asc) {
            (Some(c), true) => c
                .range(from..)
                .filter_map(|id| db.projects.get(id))
                .filter(keep)
                .take(per_page + 1)
                .collect(),
            (Some(c), false) => c
                .range(..to)
                .rev()
                .filter_map(|id| db.projects.get(id))
                .filter(keep)
                .take(per_page + 1)
                .collect(),
            (None, true) => db
                .projects
                .range(from..)
                .map(|(_, v)| v)
                .filter(keep)
                .take(per_page + 1)
                .collect(),
            (None, false) => db
                .projects
                .range(..to)
                .rev()
                .map(|(_, v)| v)
                .filter(keep)
                .take(per_page + 1)
                .collect(),
        };
        let more = rows.len() > per_page;
        let rows: Vec<&Project> = rows.into_iter().take(per_page).collect();
        let next = match rows.last() {
            Some(last) if more => Some((if q.asc { "id_after" } else { "id_before" }, last.id.to_string())),
            _ => None,
        };
        return Ok(paged(
            render_rows(state, db, rows, q),
            keyset_headers(info, params, next),
        ));
    }
    pp.check_offset_cap("Project")?;
    if matches!(
        q.order_by.as_str(),
        "id" | "created_at" | "updated_at" | "last_activity_at" | "star_count" | "similarity"
    ) {
        let (rows, h) = match (candidates, q.asc) {
            (Some(c), true) => offset_page(
                info,
                params,
                pp,
                c.iter().filter_map(|id| db.projects.get(id)).filter(keep),
                None,
            ),
            (Some(c), false) => offset_page(
                info,
                params,
                pp,
                c.iter().rev().filter_map(|id| db.projects.get(id)).filter(keep),
                None,
            ),
            (None, true) => offset_page(info, params, pp, db.projects.values().filter(keep), None),
            (None, false) => offset_page(info, params, pp, db.projects.values().rev().filter(keep), None),
        };
        return Ok(paged(render_rows(state, db, rows, q), h));
    }
    let mut all: Vec<&Project> = match candidates {
        Some(c) => c
            .iter()
            .filter_map(|id| db.projects.get(id))
            .filter(keep)
            .collect(),
        None => db.projects.values().filter(keep).collect(),
    };
    let key = |pr: &Project| {
        if q.order_by == "name" {
            pr.name.to_lowercase()
        } else {
            pr.path.to_lowercase()
        }
    };
    all.sort_by(|a, b| key(a).cmp(&key(b)).then(a.id.cmp(&b.id)));
    if !q.asc {
        all.reverse();
    }
    let total = all.len();
    let (rows, h) = offset_page(info, params, pp, all.into_iter(), Some(total));
    Ok(paged(render_rows(state, db, rows, q), h))
}

async fn list_projects(
    State(state): State<SimState>,
    caller: Caller,
    info: ReqInfo,
    params: Params,
) -> ApiResult<Response> {
    let p = caller.optional(READ_API)?;
    let pp = PageParams::from_params(&params)?;
    let q = ProjectQuery::from_params(&params, &pp)?;
    state.read(|db| list(&state, db, p, &info, &params, &pp, &q, None))
}

pub(crate) async fn group_projects(
    State(state): State<SimState>,
    caller: Caller,
    info: ReqInfo,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let p = caller.optional(READ_API)?;
    let gid = find_group(&state, p, &id)?;
    let pp = PageParams::from_params(&params)?;
    let q = ProjectQuery::from_params(&params, &pp)?;
    let include_subgroups = params.flag("include_subgroups")?;
    state.read(|db| {
        let mut groups = vec![gid];
        if include_subgroups {
            groups.extend(db.group_descendants(gid));
        }
        let candidates: BTreeSet<ProjectId> = groups
            .iter()
            .filter_map(|g| db.group_projects.get(g))
            .flat_map(|s| s.iter().copied())
            .collect();
        list(&state, db, p, &info, &params, &pp, &q, Some(&candidates))
    })
}

async fn get_project(
    State(state): State<SimState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let p = caller.optional(READ_API)?;
    let pid = find_project(&state, p, &id)?;
    let base = state.base_url();
    let today = state.clock().today();
    state.read(|db| {
        let pr = db
            .projects
            .get(&pid)
            .ok_or_else(|| ApiError::not_found("Project"))?;
        let perms = p.map(|p| {
            let project_access = db
                .direct_member(p.user_id, Source::Project(pid), today)
                .map(|m| m.access_level);
            let group_access = match pr.namespace {
                Namespace::Group(g) => Some(db.group_level(p.user_id, g, today)).filter(|l| *l > 0),
                Namespace::User(_) => None,
            };
            (project_access, group_access)
        });
        Ok(json(StatusCode::OK, render::project(db, pr, &base, perms)))
    })
}
