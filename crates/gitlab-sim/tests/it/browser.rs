//! A browser on the simulator: signing in by choosing a user, GitLab's consent page, the
//! authenticity token every form needs, and signing out.

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::*;
use gitlab_sim::SimServer;

/// A browser with one cookie: `_gitlab_session`.
struct Browser {
    cookie: Option<String>,
}

/// What a browser sees of one answer.
#[derive(Debug)]
struct Seen {
    status: StatusCode,
    location: Option<String>,
    set_cookie: Option<String>,
    text: String,
}

impl Browser {
    fn new() -> Self {
        Self { cookie: None }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Seen {
        let req = match &self.cookie {
            Some(c) => req.header("cookie", format!("_gitlab_session={c}")),
            None => req,
        };
        let r = req.send().await.unwrap();
        let set_cookie = r
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_owned());
        if let Some(sc) = &set_cookie {
            let value = sc
                .strip_prefix("_gitlab_session=")
                .and_then(|rest| rest.split(';').next())
                .unwrap();
            self.cookie = Some(value.to_owned());
        }
        Seen {
            status: r.status(),
            location: r
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned()),
            set_cookie,
            text: r.text().await.unwrap(),
        }
    }

    async fn get(&mut self, url: &str) -> Seen {
        self.send(client().get(url)).await
    }

    async fn post(&mut self, url: &str, form: &[(String, String)]) -> Seen {
        self.send(client().post(url).form(form)).await
    }

    /// Signs in as `username` from wherever the browser stands; answers the redirect.
    async fn sign_in(&mut self, sim: &SimServer, username: &str) -> Seen {
        let page = self.get(&format!("{}/users/sign_in", sim.url())).await;
        assert_eq!(page.status, StatusCode::OK);
        let mut form = form_with(&page.text, "name=\"user[login]\"");
        form.push(("user[login]".into(), username.into()));
        self.post(&format!("{}/users/sign_in", sim.url()), &form).await
    }
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The hidden fields of the form holding `marker` (a button id or attribute).
fn form_with(html: &str, marker: &str) -> Vec<(String, String)> {
    let form = html
        .split("<form")
        .skip(1)
        .map(|f| f.split("</form>").next().unwrap())
        .find(|f| f.contains(marker))
        .unwrap_or_else(|| panic!("no form with {marker} in {html}"));
    form.split("<input type=\"hidden\" ")
        .skip(1)
        .map(|input| {
            let attr = |name: &str| {
                let start = input.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                let end = start + input[start..].find('"').unwrap();
                unescape(&input[start..end])
            };
            (attr("name"), attr("value"))
        })
        .collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn without(form: &[(String, String)], name: &str) -> Vec<(String, String)> {
    form.iter().filter(|(k, _)| k != name).cloned().collect()
}

fn authorize_url(sim: &SimServer, state: &str) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", APP_UID)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("state", state)
        .append_pair("scope", "api read_user")
        .finish();
    format!("{}/oauth/authorize?{q}", sim.url())
}

fn query_param(location: &str, name: &str) -> Option<String> {
    url::Url::parse(location)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A browser signed in as `user` that has followed the way back to the consent page.
async fn at_consent(sim: &SimServer, user: &str, state: &str) -> (Browser, Seen) {
    let mut b = Browser::new();
    let url = authorize_url(sim, state);
    let first = b.get(&url).await;
    assert_eq!(first.status, StatusCode::FOUND);
    let back = b.sign_in(sim, user).await;
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.text);
    assert_eq!(back.location.as_deref(), Some(url.as_str()));
    let consent = b.get(&url).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.text);
    (b, consent)
}

#[tokio::test]
async fn authorize_without_a_session_goes_to_sign_in_and_comes_back() {
    let sim = start(standard()).await;
    let mut b = Browser::new();
    let url = authorize_url(&sim, "st-1");
    let r = b.get(&url).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(
        r.location.as_deref(),
        Some(format!("{}/users/sign_in", sim.url()).as_str())
    );
    let cookie = r.set_cookie.unwrap();
    assert!(cookie.starts_with("_gitlab_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let first_session = b.cookie.clone().unwrap();

    let page = b.get(&format!("{}/users/sign_in", sim.url())).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("gitlab-sim"));
    for user in ["root", "alice", "bob", "carol", "dave"] {
        assert!(
            page.text.contains(&format!("value=\"{user}\"")),
            "{user} is offered"
        );
    }
    assert!(!page.text.contains("_bot_"), "bots cannot sign in");

    let back = b.sign_in(&sim, "alice").await;
    assert_eq!(back.status, StatusCode::FOUND);
    assert_eq!(
        back.location.as_deref(),
        Some(url.as_str()),
        "back to the authorize URL"
    );
    assert_ne!(
        b.cookie.as_deref(),
        Some(first_session.as_str()),
        "a new session on sign-in"
    );

    let consent = b.get(&url).await;
    assert_eq!(consent.status, StatusCode::OK);
    let html = consent.text;
    assert!(html.contains("Authorize <a href="), "{html}");
    assert!(html.contains(">labgate</a> to use your account?"));
    assert!(html.contains("@alice"));
    assert!(html.contains("Grants complete read/write access to the API"));
    assert!(html.contains("Grants read-only access to the authenticated user&#39;s profile"));
    assert!(html.contains("<strong>127.0.0.1:8080</strong>"));
    assert!(html.contains("id=\"authorize\"") && html.contains("id=\"deny\""));
    assert!(!html.contains("You are an admin"), "alice is no admin");
}

#[tokio::test]
async fn approving_on_the_consent_page_sends_a_code_that_exchanges_for_the_signed_in_user() {
    let sim = start(standard()).await;
    let (mut b, consent) = at_consent(&sim, "carol", "st-2").await;
    let form = form_with(&consent.text, "id=\"authorize\"");
    assert_eq!(field(&form, "client_id"), Some(APP_UID));
    assert_eq!(field(&form, "scope"), Some("api read_user"));
    let r = b.post(&format!("{}/oauth/authorize", sim.url()), &form).await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.text);
    let loc = r.location.unwrap();
    assert!(loc.starts_with(REDIRECT), "{loc}");
    assert_eq!(query_param(&loc, "state").as_deref(), Some("st-2"));
    let code = query_param(&loc, "code").unwrap();
    let tok: Value = client()
        .post(format!("{}/oauth/token", sim.url()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", APP_UID),
            ("client_secret", APP_SECRET),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let me = get(&sim, "/api/v4/user", None).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    let me: Value = client()
        .get(format!("{}/api/v4/user", sim.url()))
        .bearer_auth(tok["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "carol");
}

#[tokio::test]
async fn denying_redirects_with_access_denied_and_issues_no_code() {
    let sim = start(standard()).await;
    let (mut b, consent) = at_consent(&sim, "alice", "st-3").await;
    let form = form_with(&consent.text, "id=\"deny\"");
    assert_eq!(field(&form, "_method"), Some("delete"));
    let r = b.post(&format!("{}/oauth/authorize", sim.url()), &form).await;
    assert_eq!(r.status, StatusCode::FOUND);
    let loc = r.location.unwrap();
    assert!(loc.starts_with(REDIRECT));
    assert_eq!(query_param(&loc, "error").as_deref(), Some("access_denied"));
    assert_eq!(
        query_param(&loc, "error_description").as_deref(),
        Some("The resource owner or authorization server denied the request.")
    );
    assert_eq!(query_param(&loc, "state").as_deref(), Some("st-3"));
    assert!(query_param(&loc, "code").is_none());

    // The DELETE verb itself, as Rails routes it, denies too.
    let r = b
        .send(
            client()
                .delete(format!("{}/oauth/authorize", sim.url()))
                .form(&without(&form, "_method")),
        )
        .await;
    assert_eq!(
        query_param(r.location.as_deref().unwrap(), "error").as_deref(),
        Some("access_denied")
    );
    assert!(sim.state().read(|db| db.grants.is_empty()));
}

#[tokio::test]
async fn forms_without_the_sessions_authenticity_token_are_rejected() {
    let sim = start(standard()).await;
    let (mut b, consent) = at_consent(&sim, "alice", "st-4").await;
    let form = form_with(&consent.text, "id=\"authorize\"");
    let authorize = format!("{}/oauth/authorize", sim.url());

    let missing = b.post(&authorize, &without(&form, "authenticity_token")).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(missing.location.is_none());
    assert!(missing.text.contains("The change you requested was rejected."));

    let mut wrong = without(&form, "authenticity_token");
    wrong.push(("authenticity_token".into(), "0".repeat(64)));
    assert_eq!(
        b.post(&authorize, &wrong).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Another browser's token does not work with this session, nor this token without a session.
    let (_, other) = at_consent(&sim, "bob", "st-5").await;
    let mut foreign = without(&form, "authenticity_token");
    foreign.push((
        "authenticity_token".into(),
        field(&form_with(&other.text, "id=\"authorize\""), "authenticity_token")
            .unwrap()
            .to_owned(),
    ));
    assert_eq!(
        b.post(&authorize, &foreign).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let r = client().post(&authorize).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(sim.state().read(|db| db.grants.is_empty()), "no code was issued");

    // Signing in needs it too.
    let mut fresh = Browser::new();
    fresh.get(&format!("{}/users/sign_in", sim.url())).await;
    let r = fresh
        .post(
            &format!("{}/users/sign_in", sim.url()),
            &[("user[login]".into(), "alice".into())],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    // The genuine form still works afterwards.
    let ok = b.post(&authorize, &form).await;
    assert!(query_param(ok.location.as_deref().unwrap(), "code").is_some());
}

#[tokio::test]
async fn unknown_and_blocked_users_cannot_sign_in() {
    let (hook_url, got) = receiver().await;
    let sim = start(standard()).await;
    let hook = post(
        &sim,
        "/api/v4/hooks",
        Some(ROOT_TOKEN),
        serde_json::json!({"url": hook_url, "push_events": false}),
    )
    .await;
    assert_eq!(hook.status, StatusCode::CREATED);
    sim.state().set_user_state("dave", gitlab_sim::UserState::Blocked);
    let mut b = Browser::new();
    let page = b.get(&format!("{}/users/sign_in", sim.url())).await;
    assert!(
        !page.text.contains("value=\"dave\""),
        "blocked users are not offered"
    );
    for login in ["nobody", "dave"] {
        let r = b.sign_in(&sim, login).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{login}");
        assert!(r.text.contains("Invalid login or password."));
        assert!(r.location.is_none());
    }
    // The blocked account's attempt reaches system hooks; the unknown login does not.
    let events: Vec<Value> = got.lock().iter().map(|(_, b)| b.clone()).collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event_name"], "user_failed_login");
    assert_eq!(events[0]["username"], "dave");
    assert_eq!(events[0]["state"], "blocked");
}

#[tokio::test]
async fn signing_out_ends_the_session_and_not_you_leads_back_to_the_consent() {
    let sim = start(standard()).await;
    let (mut b, consent) = at_consent(&sim, "alice", "st-6").await;
    let alice_session = b.cookie.clone().unwrap();
    let out = form_with(&consent.text, "id=\"sign-out\"");
    let url = authorize_url(&sim, "st-6");
    assert_eq!(
        field(&out, "return_to"),
        Some(url.strip_prefix(sim.url()).unwrap())
    );

    // Without the token, signing out is refused and alice stays signed in.
    let r = b
        .post(
            &format!("{}/users/sign_out", sim.url()),
            &without(&out, "authenticity_token"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b.get(&url).await.status, StatusCode::OK);

    let r = b.post(&format!("{}/users/sign_out", sim.url()), &out).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(
        r.location.as_deref(),
        Some(format!("{}/users/sign_in", sim.url()).as_str())
    );
    assert_ne!(b.cookie.as_deref(), Some(alice_session.as_str()));

    // The old cookie signs nobody in any more.
    let mut stale = Browser {
        cookie: Some(alice_session),
    };
    let r = stale.get(&url).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert!(r.location.unwrap().ends_with("/users/sign_in"));

    // Whoever signs in next returns to the same authorization.
    let back = b.sign_in(&sim, "bob").await;
    assert_eq!(back.location.as_deref(), Some(url.as_str()));
    let consent = b.get(&url).await;
    assert!(consent.text.contains("@bob"));

    // A return path off the instance is ignored.
    let mut evil = form_with(&consent.text, "id=\"sign-out\"");
    evil.retain(|(k, _)| k != "return_to");
    evil.push(("return_to".into(), "//evil.example/x".into()));
    b.post(&format!("{}/users/sign_out", sim.url()), &evil).await;
    let back = b.sign_in(&sim, "bob").await;
    assert_eq!(
        back.location.as_deref(),
        Some(format!("{}/users/sign_in", sim.url()).as_str())
    );
}

#[tokio::test]
async fn admins_are_warned_on_the_consent_page() {
    let sim = start(standard()).await;
    let (_, consent) = at_consent(&sim, "root", "st-7").await;
    assert!(consent.text.contains("You are an admin"));
}
