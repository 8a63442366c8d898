//! GitLab's offset and keyset pagination, with its headers and limits.

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::params::Params;

/// Where a request was sent, to build absolute `Link` URLs.
#[derive(Debug, Clone)]
pub struct ReqInfo {
    /// `http://host[:port]` as the client addressed it.
    pub origin: String,
    /// The full request path, prefix included.
    pub path: String,
}

impl<S: Send + Sync> FromRequestParts<S> for ReqInfo {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let uri = OriginalUri::from_request_parts(parts, state)
            .await
            .map(|u| u.0)
            .unwrap_or_else(|_| parts.uri.clone());
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| uri.authority().map(|a| a.to_string()))
            .unwrap_or_else(|| "localhost".into());
        Ok(Self {
            origin: format!("http://{host}"),
            path: uri.path().to_owned(),
        })
    }
}

/// Above this many records GitLab stops reporting totals.
pub const COUNT_LIMIT: usize = 10_000;
/// `offset_pagination_limit`: the largest `page × per_page` on resources that offer keyset.
pub const OFFSET_LIMIT: u64 = 50_000;

/// Pagination parameters of one request.
#[derive(Debug, Clone)]
pub struct PageParams {
    pub page: u64,
    pub per_page: u64,
    pub keyset: bool,
    pub order_by: Option<String>,
    pub sort: Option<String>,
    pub id_after: Option<u64>,
    pub id_before: Option<u64>,
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn from_params(p: &Params) -> ApiResult<Self> {
        let page = p.int("page")?.unwrap_or(1).max(1);
        let per_page = p.int("per_page")?.unwrap_or(20);
        let per_page = if per_page < 1 { 20 } else { per_page.min(100) };
        let id_after = p.int("id_after")?.map(|v| v.max(0).unsigned_abs());
        let id_before = p.int("id_before")?.map(|v| v.max(0).unsigned_abs());
        Ok(Self {
            page: page.unsigned_abs(),
            per_page: per_page.unsigned_abs(),
            keyset: p.str("pagination").as_deref() == Some("keyset"),
            order_by: p.str("order_by"),
            sort: p.str("sort"),
            id_after,
            id_before,
            cursor: p.str("cursor"),
        })
    }

    /// 405 for endpoints without keyset support.
    pub fn reject_keyset(&self) -> ApiResult<()> {
        if self.keyset {
            return Err(ApiError::grape(
                StatusCode::METHOD_NOT_ALLOWED,
                "Keyset pagination is not yet available for this type of request",
            ));
        }
        Ok(())
    }

    /// 405 past the offset cap, for resources that also offer keyset (`type_name`: Project, Group, User).
    pub fn check_offset_cap(&self, type_name: &str) -> ApiResult<()> {
        if !self.keyset && self.page.saturating_mul(self.per_page) > OFFSET_LIMIT {
            return Err(ApiError::grape(
                StatusCode::METHOD_NOT_ALLOWED,
                format!(
                    "Offset pagination has a maximum allowed offset of {OFFSET_LIMIT} for requests that return objects of type {type_name}. Remaining records can be retrieved using keyset pagination."
                ),
            ));
        }
        Ok(())
    }

    pub fn offset(&self) -> usize {
        usize::try_from((self.page - 1).saturating_mul(self.per_page)).unwrap_or(usize::MAX)
    }
}

fn link_url(info: &ReqInfo, params: &Params, set: &[(&str, String)], drop: &[&str]) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (k, v) in &params.query {
        if drop.contains(&k.as_str()) {
            continue;
        }
        if let Some((name, val)) = set.iter().find(|(n, _)| *n == k.as_str()) {
            if !seen.contains(name) {
                pairs.push(((*name).to_owned(), val.clone()));
                seen.push(name);
            }
        } else if !set.iter().any(|(n, _)| *n == k.as_str()) {
            pairs.push((k.clone(), v.clone()));
        }
    }
    for (name, val) in set {
        if !seen.contains(name) {
            pairs.push(((*name).to_owned(), val.clone()));
        }
    }
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{}{}?{}", info.origin, info.path, q)
}

fn put(h: &mut HeaderMap, name: &'static str, v: String) {
    if let Ok(v) = HeaderValue::from_str(&v) {
        h.insert(name, v);
    }
}

/// One page of an offset-paginated listing, with GitLab's headers.
///
/// `items` yields the filtered, ordered records; `exact_total` short-cuts counting when known.
pub fn offset_page<T>(
    info: &ReqInfo,
    params: &Params,
    pp: &PageParams,
    items: impl Iterator<Item = T> + Clone,
    exact_total: Option<usize>,
) -> (Vec<T>, HeaderMap) {
    let offset = pp.offset();
    let per_page = usize::try_from(pp.per_page).unwrap_or(20);
    let mut page_iter = items.clone().skip(offset);
    let rows: Vec<T> = page_iter.by_ref().take(per_page).collect();
    let more = page_iter.next().is_some();
    let total = exact_total.unwrap_or_else(|| items.take(COUNT_LIMIT + 1).count());
    let counted = total <= COUNT_LIMIT;
    let mut h = HeaderMap::new();
    let total_pages = if counted {
        total.div_ceil(per_page).max(1) as u64
    } else {
        0
    };
    let has_next = more;
    put(&mut h, "x-page", pp.page.to_string());
    put(&mut h, "x-per-page", pp.per_page.to_string());
    put(
        &mut h,
        "x-next-page",
        if has_next {
            (pp.page + 1).to_string()
        } else {
            String::new()
        },
    );
    put(
        &mut h,
        "x-prev-page",
        if pp.page > 1 {
            (pp.page - 1).to_string()
        } else {
            String::new()
        },
    );
    if counted {
        put(&mut h, "x-total", total.to_string());
        put(&mut h, "x-total-pages", total_pages.to_string());
    }
    let pp_s = pp.per_page.to_string();
    let mut links = Vec::new();
    let mk = |page: u64| {
        link_url(
            info,
            params,
            &[("page", page.to_string()), ("per_page", pp_s.clone())],
            &[],
        )
    };
    if pp.page > 1 {
        links.push(format!("<{}>; rel=\"prev\"", mk(pp.page - 1)));
    }
    if has_next {
        links.push(format!("<{}>; rel=\"next\"", mk(pp.page + 1)));
    }
    links.push(format!("<{}>; rel=\"first\"", mk(1)));
    if counted {
        links.push(format!("<{}>; rel=\"last\"", mk(total_pages)));
    }
    put(&mut h, "link", links.join(", "));
    (rows, h)
}

/// Keyset headers: only `Link: <…>; rel="next"`, and none on the last page.
pub fn keyset_headers(info: &ReqInfo, params: &Params, next: Option<(&str, String)>) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some((k, v)) = next {
        let url = link_url(
            info,
            params,
            &[(k, v)],
            &["page", "id_after", "id_before", "cursor"],
        );
        put(&mut h, "link", format!("<{url}>; rel=\"next\""));
    }
    h
}

/// A JSON array serialised straight from typed rows, with pagination headers.
pub fn paged_serialize<T: serde::Serialize>(items: &[T], headers: HeaderMap) -> Response {
    let mut r = axum::Json(items).into_response();
    r.headers_mut().extend(headers);
    r
}

/// A JSON array with pagination headers.
pub fn paged(items: Vec<Value>, headers: HeaderMap) -> Response {
    let mut r = axum::Json(Value::Array(items)).into_response();
    r.headers_mut().extend(headers);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ReqInfo {
        ReqInfo {
            origin: "http://h".into(),
            path: "/api/v4/users".into(),
        }
    }

    #[test]
    fn headers_on_middle_page() {
        let params = Params::from_query(Some("per_page=2&page=2&active=true"));
        let pp = PageParams::from_params(&params).unwrap();
        let (rows, h) = offset_page(&info(), &params, &pp, 1..=5, None);
        assert_eq!(rows, vec![3, 4]);
        assert_eq!(h["x-total"], "5");
        assert_eq!(h["x-total-pages"], "3");
        assert_eq!(h["x-next-page"], "3");
        assert_eq!(h["x-prev-page"], "1");
        let link = h["link"].to_str().unwrap();
        assert!(
            link.starts_with("<http://h/api/v4/users?per_page=2&page=1&active=true>; rel=\"prev\""),
            "{link}"
        );
        assert!(link.contains("page=3&active=true>; rel=\"last\""));
    }

    #[test]
    fn totals_dropped_above_ten_thousand() {
        let params = Params::from_query(None);
        let pp = PageParams::from_params(&params).unwrap();
        let (_, h) = offset_page(&info(), &params, &pp, 0..10_001, None);
        assert!(h.get("x-total").is_none() && h.get("x-total-pages").is_none());
        assert!(!h["link"].to_str().unwrap().contains("rel=\"last\""));
        let (_, h) = offset_page(&info(), &params, &pp, 0..10_000, None);
        assert_eq!(h["x-total"], "10000");
    }

    #[test]
    fn per_page_clamped_and_offset_cap() {
        let pp = PageParams::from_params(&Params::from_query(Some("per_page=500&page=501"))).unwrap();
        assert_eq!(pp.per_page, 100);
        assert!(pp.check_offset_cap("Project").is_err());
        let pp = PageParams::from_params(&Params::from_query(Some("per_page=100&page=500"))).unwrap();
        assert!(pp.check_offset_cap("Project").is_ok());
    }
}
