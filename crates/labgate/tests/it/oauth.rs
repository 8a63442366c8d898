//! OAuth connections across real processes: two `labgate serve` on one database keeping one
//! connection fresh under fifty readers, and a process killed between GitLab's answer to a
//! refresh and its apply.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gitlab_sim::seed::SeedOAuthApp;
use gitlab_sim::{Seed, SimServer};
use labgate_store::{Store, StoreOptions};
use labgate_testkit::sim::{APP_SECRET, APP_UID, REDIRECT};
use labgate_testkit::{TestBackend, wait_until};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{Server, Site, client};

/// The site URL the simulator's OAuth application redirects below ([`REDIRECT`]); the test
/// carries the redirect to whichever process it means.
const SITE_URL: &str = "http://127.0.0.1:8080";
const TENANT: &str = "customer-42";
const USER: &str = "user-7";

async fn gitlab(access_token_ttl: u64) -> SimServer {
    let seed = Seed::builder()
        .user("alice")
        .oauth_app(SeedOAuthApp {
            name: "labgate".into(),
            uid: Some(APP_UID.into()),
            secret: Some(APP_SECRET.into()),
            redirect_uri: REDIRECT.into(),
            scopes: vec!["api".into(), "read_user".into()],
            access_token_ttl: Some(access_token_ttl),
            ..SeedOAuthApp::default()
        })
        .build();
    SimServer::start(seed).await.unwrap()
}

fn settings(sim: &SimServer) -> Vec<(&'static str, String)> {
    vec![
        ("LABGATE_SITE_URL", SITE_URL.to_owned()),
        ("LABGATE_GITLAB_URL", sim.url().to_owned()),
        ("LABGATE_GITLAB_OAUTH_CLIENT_ID", APP_UID.to_owned()),
        ("LABGATE_GITLAB_OAUTH_CLIENT_SECRET", APP_SECRET.to_owned()),
        ("LABGATE_ALLOW_INTERNAL_HOSTS", "127.0.0.1".to_owned()),
    ]
}

fn serve(site: &Site, settings: &[(&'static str, String)]) -> Server {
    let env: Vec<(&str, &str)> = settings
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    site.serve(&env)
}

/// Runs the whole authorization against `server`: start, alice's consent at the simulator, and
/// the callback her browser would follow. Answers the connection's id.
async fn connect(server: &Server, key: &str, sim: &SimServer) -> String {
    let started: Value = client()
        .post(format!(
            "{}/api/v1/app-connections/gitlab/oauth/start",
            server.url
        ))
        .bearer_auth(key)
        .json(&json!({"name": "customer-gitlab", "scopes": ["api"], "tenantId": TENANT, "userId": USER}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let authorize = reqwest::Url::parse(started["authorizeUrl"].as_str().unwrap()).unwrap();
    let redirect =
        gitlab_sim::oauth::authorize(sim.state(), authorize.query().unwrap(), "alice", true).unwrap();
    let redirect = reqwest::Url::parse(&redirect).unwrap();
    let page = client()
        .get(format!(
            "{}{}?{}",
            server.url,
            redirect.path(),
            redirect.query().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "{}", page.text().await.unwrap());
    credential(server, key).await["connectionId"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn credential(server: &Server, key: &str) -> Value {
    let answer = client()
        .get(format!("{}/api/v1/credentials/gitlab", server.url))
        .query(&[("tenantId", TENANT), ("userId", USER)])
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

/// Whether the simulator accepts `token` as alice.
async fn accepted(sim: &SimServer, token: &str) -> bool {
    client()
        .get(format!("{}/api/v4/user", sim.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        == 200
}

async fn store(site: &Site) -> Store {
    let url = match site.database.backend() {
        TestBackend::Postgres => site.database.url().to_owned(),
        TestBackend::Sqlite => format!("sqlite://{}", site.data_dir().join("labgate.db").display()),
    };
    Store::connect(&url, &StoreOptions::default()).await.unwrap()
}

fn refreshes(sim: &SimServer, status: u16) -> u64 {
    sim.requests().count("POST", "/oauth/token", status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_refresh_one_connection_once_per_lifetime_under_fifty_readers() {
    // Two-second tokens: a read refreshes once less than half is left, so a lifetime passes
    // about every second.
    let sim = gitlab(2).await;
    let site = Site::new().await;
    let settings = settings(&sim);
    let first = serve(&site, &settings);
    let key = first.bootstrap_key().unwrap();
    let second = serve(&site, &settings);
    connect(&first, &key, &sim).await;
    let exchanged = refreshes(&sim, 200);

    let servers = Arc::new([first.url.clone(), second.url.clone()]);
    let seen: Arc<Mutex<HashSet<String>>> = Arc::default();
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    // Readers run until ten lifetimes have passed (ten refreshes reached GitLab), or a minute.
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..50)
        .map(|reader| {
            let (servers, seen, failures, key, done) = (
                servers.clone(),
                seen.clone(),
                failures.clone(),
                key.clone(),
                done.clone(),
            );
            let sim_url = sim.url().to_owned();
            tokio::spawn(async move {
                let http = client();
                while !done.load(Ordering::SeqCst) {
                    let server = &servers[reader % 2];
                    let answer = match http
                        .get(format!("{server}/api/v1/credentials/gitlab"))
                        .query(&[("tenantId", TENANT), ("userId", USER)])
                        .bearer_auth(&key)
                        .send()
                        .await
                    {
                        Ok(answer) => answer,
                        Err(error) => {
                            failures.lock().unwrap().push(format!("{server}: {error:?}"));
                            continue;
                        }
                    };
                    let status = answer.status();
                    let body: Value = answer.json().await.unwrap_or_default();
                    if status != 200 {
                        failures.lock().unwrap().push(format!("{status}: {body}"));
                        continue;
                    }
                    let token = body["credential"].as_str().unwrap().to_owned();
                    let use_until =
                        OffsetDateTime::parse(body["useUntil"].as_str().unwrap(), &Rfc3339).unwrap();
                    // A reader that honours useUntil must find the token accepted; checked with
                    // a margin for the check's own round trip.
                    if OffsetDateTime::now_utc() + time::Duration::milliseconds(250) < use_until {
                        let user = http
                            .get(format!("{sim_url}/api/v4/user"))
                            .bearer_auth(&token)
                            .send()
                            .await
                            .unwrap();
                        if user.status() != 200 {
                            failures.lock().unwrap().push(format!(
                                "a token was refused before its useUntil ({})",
                                user.status()
                            ));
                        }
                    }
                    seen.lock().unwrap().insert(token);
                }
            })
        })
        .collect();
    let limit = Instant::now() + Duration::from_secs(60);
    while refreshes(&sim, 200) - exchanged < 10 && Instant::now() < limit {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done.store(true, Ordering::SeqCst);
    for reader in readers {
        reader.await.unwrap();
    }

    let failures = failures.lock().unwrap().clone();
    if !failures.is_empty() {
        let (first_logs, second_logs) = (killed(first), killed(second));
        panic!(
            "{} failed reads, e.g. {:?} … {:?}\nfirst process:\n{}\nsecond process:\n{}",
            failures.len(),
            failures.first(),
            failures.last(),
            tail(&first_logs),
            tail(&second_logs)
        );
    }
    assert_eq!(refreshes(&sim, 400), 0, "no refresh was refused (invalid_grant)");
    let refreshed = refreshes(&sim, 200) - exchanged;
    assert!(refreshed >= 10, "ten lifetimes passed: {refreshed} refreshes");
    assert_eq!(
        seen.lock().unwrap().len() as u64,
        refreshed + 1,
        "every refresh made exactly one new token, and readers saw each"
    );
    drop((first, second));
}

/// Kills a process and answers what it logged.
fn killed(mut server: Server) -> String {
    let _ = server.child.kill();
    let _ = server.child.wait();
    server.logs.lock().unwrap().clone()
}

/// The last lines a process logged, for a failure message.
fn tail(logs: &str) -> String {
    let lines: Vec<&str> = logs.lines().filter(|line| !line.contains("status=200")).collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

#[tokio::test]
async fn a_process_killed_after_journalling_a_refresh_leaves_the_new_tokens_to_the_next() {
    let sim = gitlab(7_200).await;
    let site = Site::new().await;
    let mut hanging = settings(&sim);
    hanging.push(("LABGATE_FAILPOINTS", "refresh.after-journal=hang".to_owned()));
    let mut first = serve(&site, &hanging);
    let key = first.bootstrap_key().unwrap();
    let id = connect(&first, &key, &sim).await;
    let before = credential(&first, &key).await;
    let old = before["credential"].as_str().unwrap().to_owned();

    // The forced refresh reaches GitLab, journals the answer, and hangs before applying it.
    let forced = client()
        .post(format!(
            "{}/api/v1/app-connections/gitlab/{id}/refresh",
            first.url
        ))
        .bearer_auth(&key)
        .timeout(Duration::from_secs(1))
        .send()
        .await;
    assert!(forced.is_err(), "the refresh hangs at the failpoint");
    let store = store(&site).await;
    wait_until(
        Duration::from_secs(30),
        "the refresh answer is journalled",
        || async {
            store
                .all_journal(10)
                .await
                .unwrap()
                .iter()
                .any(|entry| entry.operation == "refresh" && entry.state == "answered")
        },
    )
    .await;
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    assert!(
        !accepted(&sim, &old).await,
        "GitLab rotated: the old pair is dead"
    );

    let second = serve(&site, &settings(&sim));
    wait_until(
        Duration::from_secs(30),
        "the journal is applied at start",
        || async { store.all_journal(10).await.unwrap().is_empty() },
    )
    .await;
    let after = credential(&second, &key).await;
    let new = after["credential"].as_str().unwrap();
    assert_ne!(new, old);
    assert!(accepted(&sim, new).await, "the journalled token works");
    assert_eq!(refreshes(&sim, 400), 0);
    assert_eq!(
        refreshes(&sim, 200),
        2,
        "the code exchange and the one refresh, never repeated"
    );
}
