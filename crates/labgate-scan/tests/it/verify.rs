//! `--verify` against a small local GitLab stand-in.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use labgate_scan::Verification;
use labgate_scan::verify::{GitLabUrl, Verifier};

const ACTIVE: &str = "glpat-Qm3k9ZxT2bLw8RfN5yHc";
const REVOKED: &str = "glpat-Zr8Lq2Vn6TbX4cWp9KsD";
const OLD_INSTANCE_NARROW: &str = "glpat-Hb5Tx9Wq2Lm7Pk3Vz8Rc";
const UNKNOWN_STATUS: &str = "glpat-Jd4Ns8Qe1Yf6Gu3Xo9Av";

type Log = Arc<Mutex<Vec<(String, String)>>>;

fn token(headers: &HeaderMap) -> String {
    headers
        .get("PRIVATE-TOKEN")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn pat_self(log: Log, headers: HeaderMap) -> axum::response::Response {
    let t = token(&headers);
    log.lock().unwrap().push(("self".into(), t.clone()));
    match t.as_str() {
        ACTIVE => axum::Json(serde_json::json!({
            "id": 1, "active": true, "revoked": false, "scopes": ["read_api", "read_repository"], "expires_at": "2027-01-31"
        }))
        .into_response(),
        REVOKED => axum::Json(serde_json::json!({"id": 2, "active": false, "revoked": true, "scopes": ["api"]})).into_response(),
        OLD_INSTANCE_NARROW => StatusCode::NOT_FOUND.into_response(),
        UNKNOWN_STATUS => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        _ => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn user(log: Log, headers: HeaderMap) -> axum::response::Response {
    let t = token(&headers);
    log.lock().unwrap().push(("user".into(), t.clone()));
    match t.as_str() {
        OLD_INSTANCE_NARROW => StatusCode::FORBIDDEN.into_response(),
        UNKNOWN_STATUS => StatusCode::BAD_GATEWAY.into_response(),
        _ => StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// Serves the stand-in under `/gitlab` (a relative root) on a random loopback port.
fn serve() -> (SocketAddr, Log) {
    let log: Log = Arc::default();
    let (l1, l2) = (log.clone(), log.clone());
    let app = Router::new()
        .route(
            "/gitlab/api/v4/personal_access_tokens/self",
            get(move |h| pat_self(l1.clone(), h)),
        )
        .route("/gitlab/api/v4/user", get(move |h| user(l2.clone(), h)));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (rx.recv().unwrap(), log)
}

#[test]
fn statuses_map_to_active_inactive_unknown() {
    let (addr, log) = serve();
    let v = Verifier::new(GitLabUrl::parse(&format!("http://{addr}/gitlab")).unwrap()).unwrap();
    let active = v.check(ACTIVE);
    assert_eq!(active.status, Verification::VerifiedActive);
    assert!(active.detail.contains("read_api"));
    assert_eq!(v.check(REVOKED).status, Verification::Inactive);
    assert_eq!(
        v.check("glpat-Wz2Kc7Rt5Yb9Nm4Qs1Lx").status,
        Verification::Inactive
    );
    let narrow = v.check(OLD_INSTANCE_NARROW);
    assert_eq!(
        narrow.status,
        Verification::VerifiedActive,
        "403 from /user means valid"
    );
    assert_eq!(v.check(UNKNOWN_STATUS).status, Verification::Unknown);
    let calls = log.lock().unwrap().clone();
    assert_eq!(
        calls.iter().filter(|(e, _)| e == "user").count(),
        2,
        "fallback only after self fails: {calls:?}"
    );
}

#[test]
fn unreachable_instance_is_unknown_not_inactive() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let v = Verifier::new(GitLabUrl::parse(&format!("http://{addr}")).unwrap()).unwrap();
    assert_eq!(v.check(ACTIVE).status, Verification::Unknown);
}

#[test]
fn base_url_must_be_plain_http() {
    assert!(GitLabUrl::parse("ftp://gitlab.local").is_err());
    assert!(GitLabUrl::parse("https://root:pw@gitlab.local").is_err());
    assert!(GitLabUrl::parse("https://gitlab.local/?x=1").is_err());
    assert!(GitLabUrl::parse("not a url").is_err());
    assert!(GitLabUrl::parse("https://gitlab.local/sub").is_ok());
}

#[test]
fn cli_verifies_gitlab_tokens_once_each_and_sends_nothing_else() {
    let (addr, log) = serve();
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("a.env"), format!("A={ACTIVE}\nB={REVOKED}\n")).unwrap();
    std::fs::write(
        tree.join("b.env"),
        format!("A={ACTIVE}\nAWS=AKIAQYLPMN5HHHFPZAM2\n"),
    )
    .unwrap();
    let url = format!("http://{addr}/gitlab");
    let (_, json) = crate::cli::run_to_file(
        tmp.path(),
        &[
            tree.to_str().unwrap(),
            "--format",
            "json",
            "--verify",
            "--gitlab-url",
            &url,
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut seen: Vec<(String, String)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap().to_owned(),
                f["verification"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("aws-access-key-id".to_owned(), "unknown".to_owned()),
            ("gitlab-pat".to_owned(), "inactive".to_owned()),
            ("gitlab-pat".to_owned(), "verified-active".to_owned()),
            ("gitlab-pat".to_owned(), "verified-active".to_owned()),
        ]
    );
    let calls = log.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "one request per distinct GitLab token: {calls:?}");
    assert!(calls.iter().all(|(_, t)| t == ACTIVE || t == REVOKED));
}
