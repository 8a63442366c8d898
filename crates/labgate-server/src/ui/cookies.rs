//! Reading and writing the UI's cookies, and signing the values that must come back unchanged.

use axum::http::header::COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use labgate_crypto::{constant_time_eq, hmac_sha256};

use crate::state::AppState;

/// The session token: HttpOnly, SameSite=Lax, for every path.
pub const SESSION_COOKIE: &str = "labgate_session";
/// The login form's double-submit token.
pub const LOGIN_CSRF_COOKIE: &str = "labgate_login_csrf";
/// A one-shot message for the next page.
pub const FLASH_COOKIE: &str = "labgate_flash";

/// The value of the cookie `name`, if the browser sent one that is not empty.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|value| !value.is_empty())
}

/// Whether cookies may only travel over https: labgate serves TLS itself, or its site URL
/// (`LABGATE_SITE_URL`) is https behind a proxy.
pub fn secure_site(state: &AppState) -> bool {
    state.settings.tls.is_some()
        || state.services.instances.redirect_uri().is_some_and(|uri| {
            uri.get(..8)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
        })
}

/// A `Set-Cookie` value: HttpOnly and SameSite=Lax always, Secure on https sites. Without
/// `max_age` the cookie lasts as long as the browser session. The header is marked sensitive
/// so it never reaches a log.
pub fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<i64>,
    secure: bool,
) -> Option<HeaderValue> {
    let max_age = max_age
        .map(|seconds| format!("; Max-Age={}", seconds.max(0)))
        .unwrap_or_default();
    let secure = if secure { "; Secure" } else { "" };
    let mut header = HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}{max_age}; HttpOnly; SameSite=Lax{secure}"
    ))
    .ok()?;
    header.set_sensitive(true);
    Some(header)
}

/// A `Set-Cookie` that removes the cookie.
pub fn clear_cookie(name: &str, path: &str, secure: bool) -> Option<HeaderValue> {
    set_cookie(name, "", path, Some(0), secure)
}

/// The MAC of `data` under the active key derived for `purpose`, in base64url.
pub fn sign(state: &AppState, purpose: &str, data: &[u8]) -> String {
    let keys = state.services.vault.derived_keys(purpose);
    let mac = keys
        .first()
        .map(|key| hmac_sha256(key.as_slice(), data))
        .unwrap_or_default();
    URL_SAFE_NO_PAD.encode(mac)
}

/// Whether `mac` (base64url) is the MAC of `data` under any key derived for `purpose`: values
/// signed before a root key rotation stay valid while the old key is kept.
pub fn verify(state: &AppState, purpose: &str, data: &[u8], mac: &str) -> bool {
    let Ok(presented) = URL_SAFE_NO_PAD.decode(mac.as_bytes()) else {
        return false;
    };
    state
        .services
        .vault
        .derived_keys(purpose)
        .iter()
        .any(|key| constant_time_eq(&hmac_sha256(key.as_slice(), data), &presented))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.append(
            COOKIE,
            HeaderValue::from_static("a=1; labgate_session_x=no; labgate_session=yes"),
        );
        headers.append(COOKIE, HeaderValue::from_static("labgate_flash="));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("yes"));
        assert_eq!(cookie(&headers, FLASH_COOKIE), None);
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn set_cookies_carry_the_protections() {
        let header = set_cookie(SESSION_COOKIE, "v", "/", Some(60), true).unwrap();
        assert_eq!(
            header.to_str().unwrap(),
            "labgate_session=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
        assert!(header.is_sensitive());
        let plain = set_cookie(LOGIN_CSRF_COOKIE, "v", "/login", None, false).unwrap();
        assert_eq!(
            plain.to_str().unwrap(),
            "labgate_login_csrf=v; Path=/login; HttpOnly; SameSite=Lax"
        );
        assert!(
            clear_cookie(FLASH_COOKIE, "/", false)
                .unwrap()
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
    }
}
