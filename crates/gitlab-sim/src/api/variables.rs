//! Project and group CI/CD variables with GitLab's validation rules.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use super::members::Kind;
use super::{find_group, find_project, json, no_content, render};
use crate::auth::{API, Caller, Principal, READ_API, require_level};
use crate::error::{ApiError, ApiResult};
use crate::model::*;
use crate::pagination::{PageParams, ReqInfo, offset_page, paged};
use crate::params::Params;
use crate::state::SimState;

pub fn router() -> Router<SimState> {
    let mut r = Router::new();
    for kind in ["/groups", "/projects"] {
        r = r
            .route(&format!("{kind}/{{id}}/variables"), get(list).post(create))
            .route(
                &format!("{kind}/{{id}}/variables/{{key}}"),
                get(show).put(update).delete(remove),
            );
    }
    r
}

/// `admin_build`: Maintainer.
const ROLE: u8 = 40;

fn source_for(state: &SimState, p: &Principal, kind: &str, id: &str) -> ApiResult<Source> {
    let source = if kind == "projects" {
        Source::Project(find_project(state, Some(p), id)?)
    } else {
        Source::Group(find_group(state, Some(p), id)?)
    };
    require_level(state, p, source, ROLE)?;
    Ok(source)
}

fn is_mask_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | '/' | '@' | ':' | '.' | '~' | '-')
}

/// Model validations, in the order GitLab reports them (all failing fields together).
pub fn validate(v: &Variable) -> ApiResult<()> {
    let mut fields: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    if v.key.is_empty() {
        fields
            .entry("key".into())
            .or_default()
            .push("can't be blank".into());
    } else if v.key.chars().count() > 255 {
        fields
            .entry("key".into())
            .or_default()
            .push("is too long (maximum is 255 characters)".into());
    } else if !v.key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        fields
            .entry("key".into())
            .or_default()
            .push("can contain only letters, digits and '_'.".into());
    }
    if v.masked {
        let ok = if v.raw {
            v.value.chars().count() >= 8 && !v.value.chars().any(char::is_whitespace)
        } else {
            v.value.chars().count() >= 8 && v.value.chars().all(is_mask_char)
        };
        if !ok {
            fields
                .entry("value".into())
                .or_default()
                .push("is invalid".into());
        }
    }
    if v.description.as_ref().is_some_and(|d| d.chars().count() > 255) {
        fields
            .entry("description".into())
            .or_default()
            .push("is too long (maximum is 255 characters)".into());
    }
    if fields.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation {
            status: StatusCode::BAD_REQUEST,
            fields,
        })
    }
}

fn variable_type(params: &Params) -> ApiResult<Option<String>> {
    match params.str("variable_type") {
        None => Ok(None),
        Some(t) if t == "env_var" || t == "file" => Ok(Some(t)),
        Some(_) => Err(ApiError::param("variable_type does not have a valid value")),
    }
}

async fn list(
    State(state): State<SimState>,
    caller: Caller,
    info: ReqInfo,
    Kind(kind): Kind,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let p = caller.require(READ_API)?;
    let source = source_for(&state, p, kind, &id)?;
    let pp = PageParams::from_params(&params)?;
    pp.reject_keyset()?;
    state.read(|db| {
        let rows: Vec<&Variable> = db
            .variables
            .get(&source)
            .map(|v| v.iter().collect())
            .unwrap_or_default();
        let total = rows.len();
        let (rows, h) = offset_page(&info, &params, &pp, rows.into_iter(), Some(total));
        Ok(paged(rows.into_iter().map(render::variable).collect(), h))
    })
}

async fn create(
    State(state): State<SimState>,
    caller: Caller,
    Kind(kind): Kind,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let p = caller.require(API)?;
    params.require(&["key", "value"])?;
    let variable_type = variable_type(&params)?;
    let (protected, masked, raw) = (
        params.flag("protected")?,
        params.flag("masked")?,
        params.flag("raw")?,
    );
    let hidden = params.flag("masked_and_hidden")?;
    let source = source_for(&state, p, kind, &id)?;
    let var = Variable {
        key: params.str("key").unwrap_or_default().trim().to_owned(),
        value: params.str("value").unwrap_or_default(),
        variable_type: variable_type.unwrap_or_else(|| "env_var".into()),
        protected,
        masked: masked || hidden,
        hidden,
        raw,
        environment_scope: params
            .str("environment_scope")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "*".into()),
        description: params.str("description"),
    };
    validate(&var)?;
    state.write(|db| {
        let list = db.variables.entry(source).or_default();
        if list
            .iter()
            .any(|v| v.key == var.key && v.environment_scope == var.environment_scope)
        {
            return Err(ApiError::validation(
                "key",
                format!("({}) has already been taken", var.key),
            ));
        }
        let body = render::variable(&var);
        list.push(var);
        Ok(json(StatusCode::CREATED, body))
    })
}

/// Finds one variable by key, narrowed by `filter[environment_scope]`; 409 when ambiguous.
fn locate(list: &[Variable], key: &str, params: &Params) -> ApiResult<usize> {
    let scope = params.str("filter[environment_scope]");
    let hits: Vec<usize> = list
        .iter()
        .enumerate()
        .filter(|(_, v)| v.key == key && scope.as_ref().is_none_or(|s| v.environment_scope == *s))
        .map(|(i, _)| i)
        .collect();
    match hits.as_slice() {
        [] => Err(ApiError::not_found("Variable")),
        [one] => Ok(*one),
        _ => Err(ApiError::conflict(
            "There are multiple variables with provided parameters. Please use 'filter[environment_scope]'",
        )),
    }
}

async fn show(
    State(state): State<SimState>,
    caller: Caller,
    Kind(kind): Kind,
    Path((id, key)): Path<(String, String)>,
    params: Params,
) -> ApiResult<Response> {
    let p = caller.require(READ_API)?;
    let source = source_for(&state, p, kind, &id)?;
    state.read(|db| {
        let list = db.variables.get(&source).map(Vec::as_slice).unwrap_or_default();
        let i = locate(list, &key, &params)?;
        let v = list.get(i).ok_or_else(|| ApiError::not_found("Variable"))?;
        Ok(json(StatusCode::OK, render::variable(v)))
    })
}

async fn update(
    State(state): State<SimState>,
    caller: Caller,
    Kind(kind): Kind,
    Path((id, key)): Path<(String, String)>,
    params: Params,
) -> ApiResult<Response> {
    let p = caller.require(API)?;
    let variable_type = variable_type(&params)?;
    // `masked_and_hidden` is not a parameter of the update route: Grape drops it, so hiding an
    // existing variable silently does nothing, as at GitLab.
    let (protected, masked, raw) = (
        params.bool("protected")?,
        params.bool("masked")?,
        params.bool("raw")?,
    );
    let source = source_for(&state, p, kind, &id)?;
    state.write(|db| {
        let list = db.variables.entry(source).or_default();
        let i = locate(list, &key, &params)?;
        let mut v = list
            .get(i)
            .cloned()
            .ok_or_else(|| ApiError::not_found("Variable"))?;
        if let Some(val) = params.str("value") {
            v.value = val;
        }
        if let Some(t) = variable_type {
            v.variable_type = t;
        }
        if let Some(b) = protected {
            v.protected = b;
        }
        if let Some(b) = masked {
            // `Ci::HidableVariable`: a hidden variable's masking is fixed at creation.
            if v.hidden && b != v.masked {
                return Err(ApiError::validation(
                    "base",
                    "The visibility setting cannot be changed for masked and hidden variables.",
                ));
            }
            v.masked = b;
        }
        if let Some(b) = raw {
            v.raw = b;
        }
        if let Some(s) = params.str("environment_scope").filter(|s| !s.is_empty()) {
            v.environment_scope = s;
        }
        if params.has("description") {
            v.description = params.str("description");
        }
        validate(&v)?;
        if list
            .iter()
            .enumerate()
            .any(|(j, x)| j != i && x.key == v.key && x.environment_scope == v.environment_scope)
        {
            return Err(ApiError::validation(
                "key",
                format!("({}) has already been taken", v.key),
            ));
        }
        let body = render::variable(&v);
        if let Some(slot) = list.get_mut(i) {
            *slot = v;
        }
        Ok(json(StatusCode::OK, body))
    })
}

async fn remove(
    State(state): State<SimState>,
    caller: Caller,
    Kind(kind): Kind,
    Path((id, key)): Path<(String, String)>,
    params: Params,
) -> ApiResult<Response> {
    let p = caller.require(API)?;
    let source = source_for(&state, p, kind, &id)?;
    state.write(|db| {
        let list = db.variables.entry(source).or_default();
        let i = locate(list, &key, &params)?;
        list.remove(i);
        Ok(no_content())
    })
}
