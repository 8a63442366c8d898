//! `labgate demo`: one command that brings up labgate and a simulated GitLab with demo data,
//! and takes everything away again on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use labgate_testkit::{TestBackend, TestDatabase};
use serde_json::{Value, json};

use crate::{client, terminate, wait_timeout};

/// A running `labgate demo` and what it printed.
struct Demo {
    child: Child,
    /// Everything printed on stdout so far (the drain thread keeps appending).
    printed: Arc<Mutex<Vec<String>>>,
    logs: Arc<Mutex<String>>,
    url: String,
    gitlab: String,
    api_key: String,
    data_dir: PathBuf,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn demo_command(tmp: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_labgate"));
    command
        .arg("demo")
        .args(args)
        .current_dir(tmp)
        // The temporary directory is made under TMPDIR: the test sees whether it goes away.
        .env("TMPDIR", tmp);
    for (name, _) in std::env::vars() {
        if name.starts_with("LABGATE_") {
            command.env_remove(name);
        }
    }
    // Everything logged, so the checks that nothing secret is logged see all there is.
    command.env("LABGATE_LOG_LEVEL", "debug");
    command
}

/// The value after `label` on the banner line that starts with it.
fn banner_value(lines: &[String], label: &str) -> Option<String> {
    lines.iter().find_map(|line| {
        line.trim_start()
            .strip_prefix(label)
            .map(|rest| rest.split_whitespace().next().unwrap_or_default().to_owned())
    })
}

fn start(tmp: &Path) -> Demo {
    start_with(tmp, &[])
}

fn start_with(tmp: &Path, extra: &[&str]) -> Demo {
    start_with_env(tmp, extra, &[])
}

fn start_with_env(tmp: &Path, extra: &[&str], env: &[(&str, &str)]) -> Demo {
    let mut args = vec!["--port", "0", "--gitlab-port", "0"];
    args.extend_from_slice(extra);
    let mut child = demo_command(tmp, &args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs: Arc<Mutex<String>> = Arc::default();
    let stderr = child.stderr.take().unwrap();
    let kept = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut kept = kept.lock().unwrap();
            kept.push_str(&line);
            kept.push('\n');
        }
    });
    let printed: Arc<Mutex<Vec<String>>> = Arc::default();
    let (ready, listening) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let lines = printed.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let address = line.strip_prefix("labgate listening on ").map(str::to_owned);
            lines.lock().unwrap().push(line);
            if let Some(address) = address {
                let _ = ready.send(address);
            }
        }
    });
    let Ok(url) = listening.recv_timeout(Duration::from_secs(90)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "labgate demo did not start; stdout: {:?}\nstderr: {}",
            printed.lock().unwrap(),
            logs.lock().unwrap()
        );
    };
    let lines = printed.lock().unwrap().clone();
    let key_line = lines
        .iter()
        .position(|line| line.starts_with("API key"))
        .expect("the API key is printed");
    let demo = Demo {
        url: url.clone(),
        gitlab: banner_value(&lines, "simulated GitLab:").expect("the simulator's URL is printed"),
        api_key: lines[key_line + 1].trim().to_owned(),
        data_dir: PathBuf::from(banner_value(&lines, "data:").expect("the data directory is printed")),
        child,
        printed,
        logs,
    };
    assert_eq!(banner_value(&lines, "labgate:").as_deref(), Some(url.as_str()));
    demo
}

fn query_param(url: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn no_redirects() -> reqwest::Client {
    labgate_server::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// The hidden fields of the form on `html` that holds `marker`.
fn form_with(html: &str, marker: &str) -> Vec<(String, String)> {
    let form = html
        .split("<form")
        .map(|f| f.split("</form>").next().unwrap())
        .find(|f| f.contains(marker))
        .unwrap_or_else(|| panic!("no form with {marker}"));
    form.split("<input type=\"hidden\" ")
        .skip(1)
        .map(|input| {
            let attr = |name: &str| {
                let start = input.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                let end = start + input[start..].find('"').unwrap();
                input[start..end].replace("&quot;", "\"").replace("&amp;", "&")
            };
            (attr("name"), attr("value"))
        })
        .collect()
}

/// Logs in to the web UI with the printed login, as the login form does; panics unless labgate
/// answers with a session.
async fn log_in(url: &str, email: &str, password: &str) {
    let page = client().get(format!("{url}/login")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csrf_cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("labgate_login_csrf="))
        .map(|value| value.split(';').next().unwrap().to_owned())
        .expect("the login form sets its CSRF cookie");
    let html = page.text().await.unwrap();
    let mut form = form_with(&html, "name=\"password\"");
    form.push(("email".into(), email.into()));
    form.push(("password".into(), password.into()));
    let answer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{url}/login"))
        .header("cookie", csrf_cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303, "{}", answer.text().await.unwrap());
    assert!(
        answer
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|value| value.to_str().unwrap().starts_with("labgate_session=")),
        "a session cookie"
    );
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    let value = response.headers().get("set-cookie")?.to_str().ok()?;
    value
        .strip_prefix("_gitlab_session=")?
        .split(';')
        .next()
        .map(|v| format!("_gitlab_session={v}"))
}

/// A person's browser: authorize at the simulator, sign in as `user`, approve; answers where
/// GitLab sends the browser back (labgate's callback).
async fn consent_in_browser(authorize_url: &str, user: &str) -> String {
    let http = no_redirects();
    let to_sign_in = http.get(authorize_url).send().await.unwrap();
    assert_eq!(to_sign_in.status(), 302);
    let sign_in_url = to_sign_in.headers()["location"].to_str().unwrap().to_owned();
    let mut cookie = session_cookie(&to_sign_in).expect("a session begins");
    let page = http
        .get(&sign_in_url)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("gitlab-sim"), "{page}");
    let mut form = form_with(&page, "name=\"user[login]\"");
    form.push(("user[login]".into(), user.into()));
    let signed_in = http
        .post(&sign_in_url)
        .header("cookie", &cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 302);
    assert_eq!(signed_in.headers()["location"].to_str().unwrap(), authorize_url);
    cookie = session_cookie(&signed_in).expect("a new session on sign-in");
    let consent = http
        .get(authorize_url)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        consent.contains("labgate (demo)</a> to use your account?"),
        "{consent}"
    );
    let form = form_with(&consent, "id=\"authorize\"");
    let base = authorize_url.split("/oauth/authorize").next().unwrap();
    let approved = http
        .post(format!("{base}/oauth/authorize"))
        .header("cookie", &cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), 302);
    approved.headers()["location"].to_str().unwrap().to_owned()
}

async fn connections(demo: &Demo) -> Vec<Value> {
    let listed = client()
        .get(format!("{}/api/v1/app-connections/gitlab", demo.url))
        .bearer_auth(&demo.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let body: Value = listed.json().await.unwrap();
    body["appConnections"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_serves_labgate_on_a_simulated_gitlab_and_cleans_up_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let mut demo = start(tmp.path());
    assert!(
        demo.data_dir.starts_with(tmp.path()),
        "{}",
        demo.data_dir.display()
    );
    assert!(demo.data_dir.join("labgate.db").exists());
    let printed = demo.printed.lock().unwrap().join("\n");
    for expected in [
        "glpat-demoWebGroupToken01",
        "acme/web \"web-automation\"",
        "@amara",
        "Amara Okafor",
        "blocked: cannot sign in",
    ] {
        assert!(printed.contains(expected), "{expected} in {printed}");
    }
    let email = banner_value(&demo.printed.lock().unwrap(), "email:").expect("a web UI email");
    let password = banner_value(&demo.printed.lock().unwrap(), "password:").expect("a web UI password");
    assert_eq!(email, "demo@example.com");
    log_in(&demo.url, &email, &password).await;

    let ready = client().get(format!("{}/readyz", demo.url)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let version = client()
        .get(format!("{}/api/v4/version", demo.gitlab))
        .header("PRIVATE-TOKEN", "glpat-demoChenAuditToken1")
        .send()
        .await
        .unwrap();
    assert_eq!(version.status(), 200, "the simulator answers at its printed URL");

    let listed = connections(&demo).await;
    let mut names: Vec<&str> = listed.iter().map(|c| c["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["amara-personal", "payments-api-deploy"]);
    for connection in &listed {
        assert_eq!(connection["status"], "active", "{connection}");
        assert_eq!(connection["credentials"]["instanceUrl"], demo.gitlab.as_str());
    }

    // "Connect with GitLab": labgate sends the browser to the simulator, a person signs in by
    // choosing a user and approves, and the callback makes the connection.
    let started = client()
        .post(format!("{}/api/v1/app-connections/gitlab/oauth/start", demo.url))
        .bearer_auth(&demo.api_key)
        .json(&json!({"name": "amara-oauth", "scopes": ["api"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 200);
    let authorize_url = started.json::<Value>().await.unwrap()["authorizeUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        authorize_url.starts_with(&format!("{}/oauth/authorize?", demo.gitlab)),
        "{authorize_url}"
    );
    let callback = consent_in_browser(&authorize_url, "amara").await;
    assert!(
        callback.starts_with(&format!(
            "{}/organization/app-connections/gitlab/oauth/callback?",
            demo.url
        )),
        "{callback}"
    );
    assert!(query_param(&callback, "code").is_some());
    let landed = client().get(&callback).send().await.unwrap();
    assert_eq!(landed.status(), 200, "{}", landed.text().await.unwrap());
    let oauth = connections(&demo)
        .await
        .into_iter()
        .find(|c| c["name"] == "amara-oauth")
        .expect("the OAuth connection is listed");
    assert_eq!(oauth["method"], "oauth");
    assert_eq!(oauth["gitlabUser"]["username"], "amara");

    terminate(&demo.child);
    let status = wait_timeout(&mut demo.child, Duration::from_secs(30));
    assert!(
        status.success(),
        "{status}; stderr: {}",
        demo.logs.lock().unwrap()
    );
    assert!(!demo.data_dir.exists(), "the temporary directory is removed");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline
        && !demo
            .printed
            .lock()
            .unwrap()
            .iter()
            .any(|line| line.starts_with("labgate demo stopped; removed"))
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        demo.printed
            .lock()
            .unwrap()
            .iter()
            .any(|line| line.starts_with("labgate demo stopped; removed"))
    );
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "nothing is left behind under TMPDIR"
    );
    let logs = demo.logs.lock().unwrap().clone();
    assert!(
        !logs.contains(&demo.api_key),
        "the API key never reaches the logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_data_dir_the_demo_keeps_its_database_for_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    let kept = tmp.path().join("kept");
    let kept_arg = kept.display().to_string();
    for run in 0..2 {
        let mut demo = start_with(tmp.path(), &["--data-dir", &kept_arg]);
        assert_eq!(demo.data_dir, kept);
        let mut names: Vec<String> = connections(&demo)
            .await
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["amara-personal", "payments-api-deploy"], "run {run}");
        terminate(&demo.child);
        assert!(wait_timeout(&mut demo.child, Duration::from_secs(30)).success());
        assert!(kept.join("labgate.db").exists(), "run {run}");
    }
}

#[test]
fn the_demo_refuses_settings_meant_for_a_real_server() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("server.toml"), "listen = \"127.0.0.1:9\"\n").unwrap();
    let output = demo_command(tmp.path(), &["--config", "server.toml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--config does not apply"));
}

/// `url` with `password` added to its user, unless it has one: PostgreSQL in the test setup
/// trusts local connections and never asks for it, but the demo must not show it anywhere.
fn with_password(url: &str, password: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((user, host)) if !user.contains(':') => format!("{scheme}://{user}:{password}@{host}"),
        _ => url.to_owned(),
    }
}

async fn connection_names(demo: &Demo) -> Vec<String> {
    let mut names: Vec<String> = connections(demo)
        .await
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort_unstable();
    names
}

fn stop(demo: &mut Demo) -> String {
    terminate(&demo.child);
    let status = wait_timeout(&mut demo.child, Duration::from_secs(30));
    assert!(
        status.success(),
        "{status}; stderr: {}",
        demo.logs.lock().unwrap()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let stopped = |demo: &Demo| {
        demo.printed
            .lock()
            .unwrap()
            .iter()
            .any(|line| line.starts_with("labgate demo stopped"))
    };
    while std::time::Instant::now() < deadline && !stopped(demo) {
        std::thread::sleep(Duration::from_millis(20));
    }
    format!(
        "{}\n{}",
        demo.printed.lock().unwrap().join("\n"),
        demo.logs.lock().unwrap()
    )
}

/// The demo on the run's backend through `LABGATE_DEMO_DATABASE_URL`: on PostgreSQL in the
/// PostgreSQL run, so the SDK packages' tests can run there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_database_named_for_it_the_demo_seeds_its_tenant_there_and_keeps_it() {
    const PASSWORD: &str = "demoDatabasePassw0rd";
    let tmp = tempfile::tempdir().unwrap();
    let database = TestDatabase::new().await;
    let url = match database.backend() {
        TestBackend::Postgres => with_password(database.url(), PASSWORD),
        TestBackend::Sqlite => database.url().to_owned(),
    };
    let kept = tmp.path().join("kept");
    let kept_arg = kept.display().to_string();
    let env = [("LABGATE_DEMO_DATABASE_URL", url.as_str())];
    for run in 0..2 {
        let mut demo = start_with_env(tmp.path(), &["--data-dir", &kept_arg], &env);
        let printed = demo.printed.lock().unwrap().clone();
        let shown = banner_value(&printed, "database:").expect("the database is printed");
        let expected_scheme = match database.backend() {
            TestBackend::Postgres => "postgres://",
            TestBackend::Sqlite => "sqlite:",
        };
        assert!(shown.starts_with(expected_scheme), "{shown}");
        assert!(
            !kept.join("labgate.db").exists(),
            "no embedded database beside the named one"
        );
        assert_eq!(
            connection_names(&demo).await,
            ["amara-personal", "payments-api-deploy"],
            "run {run}"
        );
        let ready = client().get(format!("{}/readyz", demo.url)).send().await.unwrap();
        assert_eq!(ready.status(), 200);
        let everything = stop(&mut demo);
        assert!(
            everything.contains("the database named by --database-url stays"),
            "{everything}"
        );
        assert!(
            !everything.contains(PASSWORD),
            "the password never shows: {everything}"
        );
    }

    // Any tenant but the demo's means the database belongs to a server: the demo stays out.
    let mut create = Command::new(env!("CARGO_BIN_EXE_labgate"));
    for (name, _) in std::env::vars() {
        if name.starts_with("LABGATE_") {
            create.env_remove(name);
        }
    }
    let created = create
        .args(["--data-dir", &kept_arg, "tenants", "create", "acme"])
        .current_dir(tmp.path())
        .env("LABGATE_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let refused = demo_command(
        tmp.path(),
        &["--port", "0", "--gitlab-port", "0", "--data-dir", &kept_arg],
    )
    .env("LABGATE_DEMO_DATABASE_URL", &url)
    .output()
    .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("holds tenant \"acme\""), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
}

#[test]
fn a_database_url_the_demo_cannot_use_is_refused_without_quoting_it() {
    let tmp = tempfile::tempdir().unwrap();
    let output = demo_command(tmp.path(), &[])
        .env(
            "LABGATE_DEMO_DATABASE_URL",
            "mysql://demo:hunter2hunter2@db.internal/demo",
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("LABGATE_DEMO_DATABASE_URL"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn a_taken_port_is_named_with_the_flag_to_change_it() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = demo_command(tmp.path(), &["--port", &port, "--gitlab-port", "0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}")) && stderr.contains("--port"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}
