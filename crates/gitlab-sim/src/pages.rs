//! The few HTML pages a browser meets on the simulator (sign-in, OAuth consent, errors): one
//! layout with a small inline stylesheet in GitLab's colours, so a person clicking through a
//! demo sees something that reads like GitLab and says plainly that it is the simulator.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::model::User;

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
*{box-sizing:border-box}
body{margin:0;font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Noto Sans",Ubuntu,sans-serif;font-size:14px;line-height:1.45;color:#333238;background:#fbfafd}
header.sim{display:flex;align-items:center;gap:10px;padding:10px 20px;background:#1f1e24;color:#fff}
header.sim .logo{width:26px;height:26px}
header.sim .brand{font-weight:600;font-size:15px}
header.sim .badge{margin-left:auto;font-size:12px;padding:2px 8px;border-radius:10px;background:#fc6d26;color:#1f1e24;font-weight:600}
main{max-width:560px;margin:40px auto;padding:0 16px}
.card{background:#fff;border:1px solid #dcdcde;border-radius:4px}
.card>.head{padding:16px 20px;border-bottom:1px solid #dcdcde}
.card>.body{padding:16px 20px}
.card>.foot{padding:14px 20px;border-top:1px solid #dcdcde;background:#fbfafd;display:flex;justify-content:flex-end;gap:8px;border-radius:0 0 4px 4px}
h1{font-size:19px;margin:0;font-weight:600}
a{color:#1f75cb;text-decoration:none}
a:hover{text-decoration:underline}
h1 a{color:#1f75cb;text-decoration:none}
p{margin:0 0 12px}
.muted{color:#626168}
.warn{color:#ab6100;background:#fdf1dd;border-radius:4px;padding:8px 12px;margin-bottom:12px}
.error{color:#ae1800;background:#fcf1ef;border:1px solid #f8c7bd;border-radius:4px;padding:8px 12px;margin-bottom:12px}
ul.scopes{list-style:none;margin:0 0 12px;padding:0}
ul.scopes li{padding:8px 0;border-bottom:1px solid #ececef}
ul.scopes li:last-child{border-bottom:0}
ul.scopes code{font-weight:600;color:#333238;background:#ececef;padding:1px 5px;border-radius:3px}
ul.scopes .desc{color:#626168;margin-top:2px}
.who{display:flex;align-items:center;gap:10px;padding:10px 12px;background:#f5f5f7;border-radius:4px;margin-bottom:14px}
.who form{margin-left:auto}
.avatar{flex:none;display:inline-flex;align-items:center;justify-content:center;width:32px;height:32px;border-radius:50%;font-weight:600;font-size:15px}
.c1{background:#fcf1ef;color:#8d1300}.c2{background:#f4f0ff;color:#5c47a6}.c3{background:#e9f3fc;color:#064787}
.c4{background:#ecf4ee;color:#0d532a}.c5{background:#fdf1dd;color:#8f4700}.c6{background:#ebf5f5;color:#0d4a5a}.c7{background:#ececef;color:#333238}
button,.btn{font:inherit;cursor:pointer;border-radius:4px;padding:7px 14px;border:1px solid #bfbfc3;background:#fff;color:#333238}
button:hover{background:#f0f0f2}
button.danger{background:#dd2b0e;border-color:#dd2b0e;color:#fff}
button.danger:hover{background:#c91c00}
button.confirm{background:#1f75cb;border-color:#1f75cb;color:#fff}
button.link{border:0;background:none;color:#1f75cb;padding:0}
button.link:hover{text-decoration:underline;background:none}
form.inline{display:inline}
.users{display:flex;flex-direction:column;gap:8px}
.users button{display:flex;align-items:center;gap:12px;width:100%;text-align:left;padding:10px 12px}
.users .name{font-weight:600;display:block}
.users .handle{color:#626168}
.tag{font-size:11px;padding:1px 6px;border-radius:8px;background:#ececef;color:#535158;margin-left:6px}
footer{max-width:560px;margin:0 auto 40px;padding:0 16px;color:#737278;font-size:12px}
"#;

const LOGO: &str = r##"<svg class="logo" viewBox="0 0 25 24" aria-hidden="true"><path fill="#E24329" d="m24.507 9.5-.034-.09L21.082.562a.896.896 0 0 0-1.694.091l-2.29 7.01H7.825L5.535.653a.898.898 0 0 0-1.694-.09L.451 9.411.416 9.5a6.297 6.297 0 0 0 2.09 7.278l.012.01.03.022 5.16 3.867 2.56 1.935 1.554 1.176a1.051 1.051 0 0 0 1.268 0l1.555-1.176 2.56-1.935 5.197-3.89.014-.01A6.297 6.297 0 0 0 24.507 9.5Z"/><path fill="#FC6D26" d="m24.507 9.5-.034-.09a11.44 11.44 0 0 0-4.56 2.051l-7.447 5.632 4.742 3.584 5.197-3.89.014-.01A6.297 6.297 0 0 0 24.507 9.5Z"/><path fill="#FCA326" d="m7.707 20.677 2.56 1.935 1.555 1.176a1.051 1.051 0 0 0 1.268 0l1.555-1.176 2.56-1.935-4.743-3.584-4.755 3.584Z"/><path fill="#FC6D26" d="M5.01 11.461a11.43 11.43 0 0 0-4.56-2.05L.416 9.5a6.297 6.297 0 0 0 2.09 7.278l.012.01.03.022 5.16 3.867 4.745-3.584-7.444-5.632Z"/></svg>"##;

/// A whole page: the simulator's header bar, `body` in the middle, and a footer saying what
/// this is.
pub fn layout(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · gitlab-sim</title><style>{STYLE}</style></head><body>\
         <header class=\"sim\">{LOGO}<span class=\"brand\">GitLab</span>\
         <span class=\"badge\">gitlab-sim</span></header>\
         <main>{body}</main>\
         <footer>gitlab-sim: a simulated GitLab for tests and demos. Nothing here is a real GitLab account.</footer>\
         </body></html>",
        title = esc(title),
    )
}

/// An HTML answer that no cache keeps (the pages carry CSRF tokens).
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let mut r = (status, Html(layout(title, body))).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// GitLab's identicon: the initial on one of seven colours chosen by the user's id.
pub fn avatar(user: &User) -> String {
    let initial = user
        .name
        .chars()
        .find(|c| c.is_alphanumeric())
        .or_else(|| user.username.chars().next())
        .map(|c| c.to_uppercase().collect::<String>())
        .unwrap_or_default();
    format!(
        "<span class=\"avatar c{}\" aria-hidden=\"true\">{}</span>",
        user.id % 7 + 1,
        esc(&initial)
    )
}

/// Rails' answer to a form whose authenticity token is missing or wrong
/// (`ActionController::InvalidAuthenticityToken`, GitLab's `public/422.html`).
pub fn rejected() -> Response {
    page(
        StatusCode::UNPROCESSABLE_ENTITY,
        "The change you requested was rejected (422)",
        "<div class=\"card\"><div class=\"head\"><h1>422: The change you requested was rejected.</h1></div>\
         <div class=\"body\"><p id=\"error\">The change you requested was rejected.</p>\
         <p class=\"muted\">Make sure you have access to the thing you tried to change. Please contact your \
         GitLab administrator if you think this is a mistake.</p>\
         <p class=\"muted\">The form's authenticity token was missing or did not match this browser session: \
         reload the page and try again.</p></div></div>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_attributes_and_content() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
