//! One-shot messages for the page after a form ("Connection deleted."): a short-lived signed
//! cookie set with the redirect, shown and removed by the next page.

use axum::http::HeaderMap;
use axum::http::header::SET_COOKIE;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::cookies::{FLASH_COOKIE, cookie, secure_site, set_cookie, sign, verify};
use super::response::redirect;
use crate::state::AppState;

const PURPOSE: &str = "ui-flash";
/// A flash not shown within this time is dropped.
const FLASH_SECONDS: i64 = 60;
/// Longest message kept; cookies are small.
const MAX_MESSAGE_LEN: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashKind {
    Success,
    Error,
}

impl FlashKind {
    fn code(self) -> char {
        match self {
            FlashKind::Success => 's',
            FlashKind::Error => 'e',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub kind: FlashKind,
    pub message: String,
}

/// A 303 to `location` that shows `message` on the page there.
pub fn redirect_with_flash(state: &AppState, location: &str, kind: FlashKind, message: &str) -> Response {
    let mut response = redirect(location);
    let message: String = message.chars().take(MAX_MESSAGE_LEN).collect();
    let mut payload = String::with_capacity(message.len() + 1);
    payload.push(kind.code());
    payload.push_str(&message);
    let encoded = URL_SAFE_NO_PAD.encode(payload.as_bytes());
    let value = format!("{encoded}.{}", sign(state, PURPOSE, encoded.as_bytes()));
    if let Some(header) = set_cookie(FLASH_COOKIE, &value, "/", Some(FLASH_SECONDS), secure_site(state)) {
        response.headers_mut().append(SET_COOKIE, header);
    }
    response
}

/// The flash the browser brought, if it is one labgate signed.
pub fn read_flash(state: &AppState, headers: &HeaderMap) -> Option<Flash> {
    let value = cookie(headers, FLASH_COOKIE)?;
    let (encoded, mac) = value.split_once('.')?;
    if !verify(state, PURPOSE, encoded.as_bytes(), mac) {
        return None;
    }
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()?;
    let mut chars = text.chars();
    let kind = match chars.next()? {
        's' => FlashKind::Success,
        'e' => FlashKind::Error,
        _ => return None,
    };
    Some(Flash {
        kind,
        message: chars.as_str().to_owned(),
    })
}
