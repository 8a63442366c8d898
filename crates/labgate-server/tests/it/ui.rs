//! The web UI's plumbing in process: the login with its double-submit token, the session
//! cookie, pages without a session, forms without their token, the brake on guessing, the
//! headers every page carries, and the assets' caching.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use labgate_core::auth::{Actor, LOGIN_FAILURE_LIMIT, NewUserRequest};
use labgate_proto::api_keys::Role;
use labgate_server::ui::{CsrfForm, csrf_field};
use labgate_testkit::{Reply, TestEnv};
use secrecy::SecretString;
use tower::ServiceExt;

const EMAIL: &str = "ann@example.com";
const PASSWORD: &str = "a long enough password";

pub(crate) async fn with_user(env: &TestEnv, role: Role) {
    env.services
        .users
        .create(
            &env.tenant.id,
            &Actor::Cli,
            None,
            NewUserRequest {
                email: EMAIL,
                role,
                password: Some(SecretString::from(PASSWORD)),
            },
        )
        .await
        .unwrap();
}

pub(crate) fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

/// The `name=value` a `Set-Cookie` of the reply sets for `name`, with its attributes.
pub(crate) fn set_cookie<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&format!("{name}=")))
}

pub(crate) fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned()
}

/// The value of the hidden `csrf_token` field of a page.
pub(crate) fn form_token(page: &str) -> String {
    let start = page
        .find(r#"name="csrf_token" value=""#)
        .expect("the form carries a token")
        + 25;
    page[start..].split('"').next().unwrap().to_owned()
}

pub(crate) fn get(path: &str, cookies: &str) -> Request<Body> {
    Request::get(path)
        .header("cookie", cookies)
        .body(Body::empty())
        .unwrap()
}

pub(crate) fn post(path: &str, cookies: &str, form: &str) -> Request<Body> {
    Request::post(path)
        .header("cookie", cookies)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap()
}

/// The login page's token cookie and form token.
async fn login_form(env: &TestEnv) -> (String, String) {
    let page = env.send(get("/login", "")).await;
    assert_eq!(page.status, StatusCode::OK);
    let cookie = set_cookie(&page, "labgate_login_csrf").expect("a login token cookie");
    assert!(cookie.contains("Path=/login") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    (
        format!("labgate_login_csrf={}", cookie_value(cookie)),
        form_token(&text(&page)),
    )
}

pub(crate) fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Logs in and answers the session cookie as a `Cookie` header.
pub(crate) async fn log_in(env: &TestEnv) -> String {
    let (cookie, token) = login_form(env).await;
    let reply = env
        .send(post(
            "/login",
            &cookie,
            &format!(
                "csrf_token={}&email={}&password={}",
                encode(&token),
                encode(EMAIL),
                encode(PASSWORD)
            ),
        ))
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", text(&reply));
    let session = set_cookie(&reply, "labgate_session").expect("a session cookie");
    format!("labgate_session={}", cookie_value(session))
}

#[tokio::test]
async fn pages_need_a_session_and_come_back_after_the_login() {
    let env = TestEnv::new().await;
    with_user(&env, Role::Member).await;
    let anonymous = env.send(get("/organization/app-connections?page=2", "")).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(
        anonymous.headers["location"],
        "/login?next=%2Forganization%2Fapp-connections%3Fpage%3D2"
    );
    assert_eq!(env.send(get("/", "")).await.headers["location"], "/login");
    assert_eq!(
        env.send(get("/", "labgate_session=made-up")).await.headers["location"],
        "/login"
    );

    let (cookie, token) = login_form(&env).await;
    let form = |next: &str| {
        format!(
            "csrf_token={}&email={}&password={}&next={}",
            encode(&token),
            encode("ANN@example.com"),
            encode(PASSWORD),
            encode(next)
        )
    };
    let back = env
        .send(post("/login", &cookie, &form("/organization/jobs?state=failed")))
        .await;
    assert_eq!(back.headers["location"], "/organization/jobs?state=failed");
    let session = set_cookie(&back, "labgate_session").unwrap();
    assert!(
        session.contains("Path=/; Max-Age=43200; HttpOnly; SameSite=Lax"),
        "{session}"
    );
    assert!(
        !session.contains("Secure"),
        "a plain-HTTP site cannot use Secure cookies"
    );
    for elsewhere in ["https://evil.example/", "//evil.example", "/\\evil.example"] {
        let reply = env.send(post("/login", &cookie, &form(elsewhere))).await;
        assert_eq!(
            reply.headers["location"], "/organization/app-connections",
            "{elsewhere}"
        );
    }
    let session = format!("labgate_session={}", cookie_value(session));
    assert_eq!(
        env.send(get("/", &session)).await.headers["location"],
        "/organization/app-connections"
    );
    assert_eq!(
        env.send(get("/login?next=/organization/api-keys", &session))
            .await
            .headers["location"],
        "/organization/api-keys"
    );
}

#[tokio::test]
async fn pages_carry_their_protections_and_show_who_is_logged_in() {
    let env = TestEnv::new().await;
    with_user(&env, Role::Admin).await;
    let session = log_in(&env).await;
    let page = env.send(get("/organization/app-connections", &session)).await;
    assert_eq!(page.status, StatusCode::OK);
    let headers = &page.headers;
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"),
        "{policy}"
    );
    assert!(policy.contains("frame-ancestors 'none'"));
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "same-origin");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
    let html = text(&page);
    assert!(html.contains(EMAIL) && html.contains(&env.tenant.name));
    assert!(html.contains(r##"<a class="skip-link" href="#main">"##));
    assert!(
        html.contains(r#"href="/organization/app-connections" aria-current="page""#),
        "{html}"
    );
    assert!(html.contains("No GitLab connections yet"));
    assert!(!html.contains("<script>"), "no inline script");
}

#[tokio::test]
async fn forms_without_their_token_change_nothing() {
    let env = TestEnv::new().await;
    with_user(&env, Role::Member).await;
    let session = log_in(&env).await;
    let page = text(&env.send(get("/organization/app-connections", &session)).await);
    let token = form_token(&page);

    for form in [
        String::new(),
        "csrf_token=forged".to_owned(),
        format!("csrf_token={0}&csrf_token={0}", encode(&token)),
    ] {
        let refused = env.send(post("/logout", &session, &form)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{form}");
        assert_eq!(refused.headers["content-type"], "text/html; charset=utf-8");
        assert!(text(&refused).contains("This form has expired"));
    }
    // Another session's token does not fit this one.
    let other = log_in(&env).await;
    let other_token = form_token(&text(
        &env.send(get("/organization/app-connections", &other)).await,
    ));
    assert_ne!(other_token, token);
    let mixed = env
        .send(post(
            "/logout",
            &session,
            &format!("csrf_token={}", encode(&other_token)),
        ))
        .await;
    assert_eq!(mixed.status, StatusCode::FORBIDDEN);
    assert_eq!(
        env.send(get("/organization/app-connections", &session))
            .await
            .status,
        StatusCode::OK
    );

    // The login form needs its cookie and the same token in the form.
    let (cookie, login_token) = login_form(&env).await;
    let credentials = format!("email={}&password={}", encode(EMAIL), encode(PASSWORD));
    for (cookies, form) in [
        ("", format!("csrf_token={}&{credentials}", encode(&login_token))),
        (cookie.as_str(), credentials.clone()),
        (
            cookie.as_str(),
            format!("csrf_token=x{}&{credentials}", encode(&login_token)),
        ),
        (
            "labgate_login_csrf=abc.def",
            format!("csrf_token=abc.def&{credentials}"),
        ),
    ] {
        let reply = env.send(post("/login", cookies, &form)).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{cookies} {form}");
        assert!(set_cookie(&reply, "labgate_session").is_none());
    }

    let out = env
        .send(post(
            "/logout",
            &session,
            &format!("csrf_token={}", encode(&token)),
        ))
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.headers["location"], "/login");
    assert!(set_cookie(&out, "labgate_session").unwrap().contains("Max-Age=0"));
    let flash = set_cookie(&out, "labgate_flash").unwrap();
    let login = text(
        &env.send(get("/login", &format!("labgate_flash={}", cookie_value(flash))))
            .await,
    );
    assert!(login.contains("You have logged out."));
    let after = env
        .send(post(
            "/logout",
            &session,
            &format!("csrf_token={}", encode(&token)),
        ))
        .await;
    assert_eq!(
        after.headers["location"], "/login",
        "an ended session has nothing to log out"
    );
    assert_eq!(
        env.send(get("/organization/app-connections", &session))
            .await
            .status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn wrong_passwords_are_said_on_the_form_and_braked() {
    let env = TestEnv::new().await;
    with_user(&env, Role::Member).await;
    let (cookie, token) = login_form(&env).await;
    let attempt = |password: &str| {
        post(
            "/login",
            &cookie,
            &format!(
                "csrf_token={}&email={}&password={}",
                encode(&token),
                encode(EMAIL),
                encode(password)
            ),
        )
    };
    let wrong = env.send(attempt("not the password")).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let html = text(&wrong);
    assert!(html.contains("The email or password is not correct."));
    assert!(html.contains(r#"value="ann@example.com""#), "the email is kept");
    assert!(!html.contains("not the password"));
    let empty = env.send(attempt("")).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(text(&empty).contains("Enter your email and your password."));

    for _ in 1..LOGIN_FAILURE_LIMIT {
        assert_eq!(
            env.send(attempt("still wrong!!")).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let braked = env.send(attempt(PASSWORD)).await;
    assert_eq!(braked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        braked.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    assert!(text(&braked).contains("Too many failed logins. Try again in 15 minutes."));
    env.clock.advance(time::Duration::minutes(15));
    assert_eq!(env.send(attempt(PASSWORD)).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn https_sites_get_secure_cookies() {
    let env = TestEnv::builder()
        .site_url("https://labgate.example.com")
        .build()
        .await;
    with_user(&env, Role::Member).await;
    let page = env.send(get("/login", "")).await;
    assert!(
        set_cookie(&page, "labgate_login_csrf")
            .unwrap()
            .ends_with("; Secure")
    );
    let session = log_in(&env).await;
    assert!(session.starts_with("labgate_session="));
}

#[tokio::test]
async fn roles_that_cannot_see_connections_are_told_so() {
    let env = TestEnv::new().await;
    with_user(&env, Role::CredentialReader).await;
    let session = log_in(&env).await;
    let page = env.send(get("/organization/app-connections", &session)).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(text(&page).contains("Your role cannot see connections"));
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
}

#[tokio::test]
async fn assets_are_cached_by_content() {
    let env = TestEnv::new().await;
    let page = text(&env.send(get("/login", "")).await);
    let start = page.find("/ui/assets/app.css?v=").unwrap();
    let url = page[start..].split('"').next().unwrap().to_owned();
    let css = env.send(get(&url, "")).await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.headers["content-type"], "text/css; charset=utf-8");
    assert_eq!(
        css.headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(text(&css).contains("prefers-color-scheme: dark"));
    let etag = css.headers["etag"].to_str().unwrap().to_owned();
    let again = env
        .send(
            Request::get("/ui/assets/app.css")
                .header("if-none-match", &etag)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(
        again.headers["cache-control"], "no-cache",
        "an unversioned URL is revalidated"
    );
    let js = env.send(get("/ui/assets/app.js", "")).await;
    assert_eq!(js.headers["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(
        env.send(get("/ui/assets/nope.js", "")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[derive(serde::Deserialize)]
struct Rename {
    name: String,
}

/// A page author's form handler: it runs only for a live session with the right token.
async fn rename(CsrfForm { session, form }: CsrfForm<Rename>) -> String {
    format!(
        "{} renamed to {} with {}",
        session.session.email,
        form.name,
        csrf_field(&session).into_string().len()
    )
}

#[tokio::test]
async fn csrf_forms_run_their_handler_only_with_a_session_and_its_token() {
    let env = TestEnv::new().await;
    with_user(&env, Role::Member).await;
    let session = log_in(&env).await;
    let token = form_token(&text(
        &env.send(get("/organization/app-connections", &session)).await,
    ));
    let app = axum::Router::new()
        .route("/rename", axum::routing::post(rename))
        .with_state(env.app.clone());
    let send = |cookies: &str, form: &str| {
        let app = app.clone();
        let request = post("/rename", cookies, form);
        async move {
            let response = app.oneshot(request).await.unwrap();
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    let (status, body) = send(&session, &format!("csrf_token={}&name=ci", encode(&token))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.starts_with("ann@example.com renamed to ci with "), "{body}");
    let (status, body) = send(&session, "csrf_token=forged&name=ci").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("This form has expired"));
    let (status, body) = send(&session, &format!("csrf_token={}", encode(&token))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a missing field: {body}");
    let (status, body) = send("", &format!("csrf_token={}&name=ci", encode(&token))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("Your session has ended"), "{body}");
}
