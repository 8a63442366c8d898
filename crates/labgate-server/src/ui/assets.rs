//! The stylesheet, the script and the icon, compiled into the binary. Pages link them with a digest of
//! their content in the query, so browsers may keep them for a year and still fetch a new
//! release's at once; every answer carries an ETag for revalidation.

use std::sync::OnceLock;

use axum::extract::{Path, Query};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

const STYLESHEET: &str = include_str!("assets/app.css");
const SCRIPT: &str = include_str!("assets/app.js");
const ICON: &str = include_str!("assets/favicon.svg");

struct Asset {
    name: &'static str,
    body: &'static str,
    content_type: &'static str,
    /// The first 16 hex digits of the body's SHA-256.
    digest: String,
}

fn assets() -> &'static [Asset; 3] {
    static ASSETS: OnceLock<[Asset; 3]> = OnceLock::new();
    ASSETS.get_or_init(|| {
        let digest = |body: &str| {
            let hex = hex_digest(body);
            hex.get(..16).unwrap_or(&hex).to_owned()
        };
        [
            Asset {
                name: "app.css",
                body: STYLESHEET,
                content_type: "text/css; charset=utf-8",
                digest: digest(STYLESHEET),
            },
            Asset {
                name: "app.js",
                body: SCRIPT,
                content_type: "text/javascript; charset=utf-8",
                digest: digest(SCRIPT),
            },
            Asset {
                name: "favicon.svg",
                body: ICON,
                content_type: "image/svg+xml",
                digest: digest(ICON),
            },
        ]
    })
}

fn hex_digest(body: &str) -> String {
    labgate_crypto::sha256(body.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn url_of(name: &str) -> String {
    let digest = assets()
        .iter()
        .find(|asset| asset.name == name)
        .map(|asset| asset.digest.as_str())
        .unwrap_or_default();
    format!("/ui/assets/{name}?v={digest}")
}

pub fn stylesheet_url() -> String {
    url_of("app.css")
}

pub fn script_url() -> String {
    url_of("app.js")
}

pub fn icon_url() -> String {
    url_of("favicon.svg")
}

#[derive(Deserialize)]
pub struct Version {
    v: Option<String>,
}

pub async fn asset(Path(name): Path<String>, Query(version): Query<Version>, headers: HeaderMap) -> Response {
    let Some(asset) = assets().iter().find(|asset| asset.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = format!("\"{}\"", asset.digest);
    // The digest in the URL pins the content: such a URL never changes meaning.
    let cache = if version.v.as_deref() == Some(asset.digest.as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let matches = headers
        .get(IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag));
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(ETAG, value);
    }
    response
}
