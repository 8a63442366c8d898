//! The SSRF guard, redirects, reachability and TLS with a private CA.

use std::net::SocketAddr;
use std::time::Duration;

use axum::response::Redirect;
use axum::routing::get;
use labgate_gitlab::*;

use crate::common::*;

fn settings(url: &str) -> InstanceSettings {
    InstanceSettings::new(GitLabBaseUrl::parse(url).unwrap())
}

fn no_env() -> ClientOptions {
    ClientOptions {
        connect_timeout: Duration::from_millis(500),
        max_attempts: 1,
        ..fast_client_options()
    }
}

#[tokio::test]
async fn internal_addresses_are_refused_unless_allow_listed() {
    let sim = start_sim(standard_seed()).await;
    let port = sim.addr().port();
    let deny = NetworkPolicy::deny_internal();
    // Plain http to a host that is not allow-listed.
    let err = GitLabClient::with_options(settings(sim.url()), &deny, no_env()).unwrap_err();
    assert!(
        matches!(
            err,
            GitLabError::Blocked {
                reason: BlockReason::PlainHttp,
                ..
            }
        ),
        "{err:?}"
    );
    // An IP literal is checked before any connection.
    let err = GitLabClient::with_options(settings(&format!("https://127.0.0.1:{port}")), &deny, no_env())
        .unwrap_err();
    assert!(
        matches!(
            err,
            GitLabError::Blocked {
                reason: BlockReason::Loopback,
                ..
            }
        ),
        "{err:?}"
    );
    let err = GitLabClient::with_options(settings("https://10.1.2.3"), &deny, no_env()).unwrap_err();
    assert!(
        matches!(
            err,
            GitLabError::Blocked {
                reason: BlockReason::Private,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("LABGATE_ALLOW_INTERNAL_HOSTS"));
    let err = GitLabClient::with_options(settings("https://169.254.169.254"), &deny, no_env()).unwrap_err();
    assert!(
        matches!(
            err,
            GitLabError::Blocked {
                reason: BlockReason::CloudMetadata,
                ..
            }
        ),
        "{err:?}"
    );

    // A host name is checked when resolved, inside the HTTP stack: the connector only ever
    // receives checked addresses.
    let by_name =
        GitLabClient::with_options(settings(&format!("https://localhost:{port}")), &deny, no_env()).unwrap();
    let early = by_name.check_destination().await.unwrap_err();
    assert!(
        matches!(
            early,
            GitLabError::Blocked {
                reason: BlockReason::Loopback,
                ..
            }
        ),
        "{early:?}"
    );
    let err = by_name.current_user(&pat(ALICE_TOKEN)).await.unwrap_err();
    let GitLabError::Blocked {
        host,
        address,
        reason,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(host, "localhost");
    assert!(address.is_some_and(|a| a.is_loopback()));
    assert_eq!(*reason, BlockReason::Loopback);
    assert_eq!(sim.requests().total("GET", "/api/v4/user"), 0);

    // Allow-listed by name, plain http is accepted and the request goes through.
    let allow = NetworkPolicy::parse("localhost").unwrap();
    let ok =
        GitLabClient::with_options(settings(&format!("http://localhost:{port}")), &allow, no_env()).unwrap();
    assert_eq!(
        ok.current_user(&pat(ALICE_TOKEN)).await.unwrap().username,
        "alice"
    );
    ok.check_destination().await.unwrap();

    // An allow-listed private range lets the request through to the network (nothing listens
    // there, so it is unreachable or times out, but it is not refused).
    let range = NetworkPolicy::parse("10.0.0.0/8").unwrap();
    let c = GitLabClient::with_options(settings("http://10.255.255.1:9"), &range, no_env()).unwrap();
    let outcome = c.version(&pat(ALICE_TOKEN)).await;
    assert!(
        !matches!(outcome, Err(GitLabError::Blocked { .. })),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn redirects_to_another_host_are_refused() {
    let target: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let app = axum::Router::new()
        .route(
            "/api/v4/user",
            get(move || async move {
                Redirect::temporary(&format!("http://127.0.0.2:{}/api/v4/user", target.port()))
            }),
        )
        .route(
            "/api/v4/version",
            get(|| async { Redirect::permanent("/api/v4/real_version") }),
        )
        .route(
            "/api/v4/real_version",
            get(|| async { axum::Json(serde_json::json!({"version": "17.9.1-ee", "revision": "abc"})) }),
        );
    let addr = spawn_app(app).await;
    let policy = NetworkPolicy::parse("127.0.0.0/8").unwrap();
    let c = GitLabClient::with_options(settings(&format!("http://{addr}")), &policy, no_env()).unwrap();
    let err = c.current_user(&pat(ALICE_TOKEN)).await.unwrap_err();
    assert_eq!(
        err,
        GitLabError::RedirectRefused {
            from: "127.0.0.1".into(),
            to: "127.0.0.2".into()
        }
    );
    // A redirect on the same host is followed.
    assert_eq!(c.version(&pat(ALICE_TOKEN)).await.unwrap().version, "17.9.1-ee");
}

#[tokio::test]
async fn next_page_links_never_leave_the_instance() {
    // A Link header naming another host is rebased onto the instance URL.
    let app = axum::Router::new().route(
        "/api/v4/groups",
        get(|q: axum::extract::Query<std::collections::HashMap<String, String>>| async move {
            let page: u32 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
            let body = serde_json::json!([{ "id": page, "name": format!("g{page}"), "full_path": format!("g{page}") }]);
            let mut headers = axum::http::HeaderMap::new();
            if page < 3 {
                let link = format!("<http://evil.example:666/api/v4/groups?page={}&per_page=1>; rel=\"next\"", page + 1);
                headers.insert("link", link.parse().unwrap());
            }
            (headers, axum::Json(body))
        }),
    );
    let addr = spawn_app(app).await;
    let c = client_for_url(&format!("http://{addr}"), no_env());
    let groups = collect(c.groups(&pat(ALICE_TOKEN), &GroupFilter::default()))
        .await
        .unwrap();
    assert_eq!(groups.iter().map(|g| g.id).collect::<Vec<_>>(), vec![1, 2, 3]);
}

#[tokio::test]
async fn unreachable_instance() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let c = client_for_url(&format!("http://127.0.0.1:{port}"), no_env());
    let err = c.current_user(&pat(ALICE_TOKEN)).await.unwrap_err();
    let GitLabError::Unreachable { host, detail } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(host, "127.0.0.1");
    assert!(detail.contains("refused"), "{detail}");

    let c = client_for_url("https://gitlab.does-not-exist.invalid", no_env());
    let err = c.current_user(&pat(ALICE_TOKEN)).await.unwrap_err();
    let GitLabError::Unreachable { host, detail } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(host, "gitlab.does-not-exist.invalid");
    assert!(detail.contains("could not be resolved"), "{detail}");
}

struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn private_pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "labgate test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "gitlab.test");
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

async fn tls_gitlab(pki: &Pki) -> SocketAddr {
    labgate_crypto::tls::install_default_provider();
    let config = axum_server::tls_rustls::RustlsConfig::from_pem(
        pki.cert_pem.clone().into_bytes(),
        pki.key_pem.clone().into_bytes(),
    )
    .await
    .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/api/v4/version",
        get(|| async { axum::Json(serde_json::json!({"version": "17.9.1-ee", "revision": "abc"})) }),
    );
    tokio::spawn(async move {
        let _ = axum_server::from_tcp_rustls(listener, config)
            .serve(app.into_make_service())
            .await;
    });
    addr
}

#[tokio::test]
async fn private_ca_certificates() {
    let pki = private_pki();
    let addr = tls_gitlab(&pki).await;
    let url = format!("https://localhost:{}", addr.port());
    let policy = NetworkPolicy::parse("localhost").unwrap();

    let untrusted = GitLabClient::with_options(settings(&url), &policy, no_env()).unwrap();
    let err = untrusted.version(&pat(ALICE_TOKEN)).await.unwrap_err();
    let GitLabError::Tls { host, detail } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(host, "localhost");
    assert!(
        detail.contains("certificate not trusted for host localhost"),
        "{detail}"
    );

    let mut with_ca = settings(&url);
    with_ca.ca_bundle_pem = Some(pki.ca_pem.clone());
    let trusted = GitLabClient::with_options(with_ca, &policy, no_env()).unwrap();
    assert_eq!(
        trusted.version(&pat(ALICE_TOKEN)).await.unwrap().version,
        "17.9.1-ee"
    );

    // The certificate names localhost and 127.0.0.1, not other names.
    let mut wrong_name = settings(&format!("https://127.0.0.2:{}", addr.port()));
    wrong_name.ca_bundle_pem = Some(pki.ca_pem.clone());
    let c = GitLabClient::with_options(
        wrong_name,
        &NetworkPolicy::parse("127.0.0.0/8").unwrap(),
        no_env(),
    )
    .unwrap();
    let err = c.version(&pat(ALICE_TOKEN)).await.unwrap_err();
    assert!(
        matches!(&err, GitLabError::Tls { detail, .. } if detail.contains("not valid for host"))
            || matches!(err, GitLabError::Unreachable { .. }),
        "{err:?}"
    );

    let mut insecure = settings(&url);
    insecure.danger_accept_invalid_certs = true;
    let c = GitLabClient::with_options(insecure, &policy, no_env()).unwrap();
    assert_eq!(c.version(&pat(ALICE_TOKEN)).await.unwrap().revision, "abc");

    let mut bad = settings(&url);
    bad.ca_bundle_pem = Some("not a certificate".into());
    let err = GitLabClient::with_options(bad, &policy, no_env()).unwrap_err();
    assert!(
        matches!(&err, GitLabError::Config(m) if m.contains("CA bundle")),
        "{err:?}"
    );
}

#[tokio::test]
async fn per_instance_proxy_is_used() {
    // A tiny forward proxy that answers every request itself, recording the target.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen2 = seen.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let seen = seen2.clone();
        async move {
            seen.lock().unwrap().push(req.uri().to_string());
            axum::Json(serde_json::json!({"version": "via-proxy", "revision": "p"}))
        }
    });
    let proxy = spawn_app(app).await;
    let mut s = settings("http://gitlab.internal");
    s.proxy = Some(format!("http://{proxy}"));
    // The instance is allow-listed (plain http); the proxy is operator configuration.
    let policy = NetworkPolicy::parse("gitlab.internal,10.0.0.0/8").unwrap();
    let c = GitLabClient::with_options(s, &policy, no_env());
    // gitlab.internal does not resolve here: the pre-check resolves names a proxy would
    // otherwise resolve for us, and reports it.
    let err = c.unwrap().version(&pat(ALICE_TOKEN)).await.unwrap_err();
    assert!(matches!(err, GitLabError::Unreachable { .. }), "{err:?}");
    assert!(seen.lock().unwrap().is_empty());

    let mut s = settings("http://localhost");
    s.proxy = Some(format!("http://{proxy}"));
    let c = GitLabClient::with_options(s, &NetworkPolicy::parse("localhost").unwrap(), no_env()).unwrap();
    assert_eq!(c.version(&pat(ALICE_TOKEN)).await.unwrap().version, "via-proxy");
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        ["http://localhost/api/v4/version"]
    );
}

#[tokio::test]
async fn the_guard_is_reusable_for_other_outgoing_requests() {
    let sim = start_sim(standard_seed()).await;
    let port = sim.addr().port();
    let deny = NetworkPolicy::deny_internal();
    let http = GuardedHttp::new(&deny, None).unwrap();
    // A webhook subscriber URL naming an internal host is refused before anything is sent.
    let url = url::Url::parse(&format!("https://localhost:{port}/api/v4/version")).unwrap();
    let err = http.send(http.post(url)).await.unwrap_err();
    let net::SendError::Refused(net::ResolveError::Blocked(blocked)) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(blocked.reason, BlockReason::Loopback);
    assert_eq!(sim.requests().total("POST", "/api/v4/version"), 0);
    // Plain http and IP literals are checked too.
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/hook")).unwrap();
    let err = http.vet(&url).await.unwrap_err();
    assert!(
        matches!(&err, net::ResolveError::Blocked(b) if b.reason == BlockReason::PlainHttp),
        "{err:?}"
    );
    let allow = NetworkPolicy::parse("127.0.0.1").unwrap();
    let ok = GuardedHttp::new(&allow, None)
        .unwrap()
        .send(http.post(url))
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 404);
}

/// A policy that allows nothing internal and resolves names from `table`.
fn deny_with(table: &labgate_testkit::HostTable) -> NetworkPolicy {
    NetworkPolicy::deny_internal().with_resolver(table.resolver())
}

#[tokio::test]
async fn refusals_name_the_host_but_never_the_address_it_resolves_to() {
    let table = labgate_testkit::HostTable::default().with("gitlab.internal", "10.20.30.40");
    let c = GitLabClient::with_options(settings("https://gitlab.internal"), &deny_with(&table), no_env())
        .unwrap();
    for err in [
        c.check_destination().await.unwrap_err(),
        c.version(&pat(ALICE_TOKEN)).await.unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                GitLabError::Blocked {
                    reason: BlockReason::Private,
                    ..
                }
            ),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains("gitlab.internal: the name resolves to an internal address"),
            "{message}"
        );
        assert!(message.contains("LABGATE_ALLOW_INTERNAL_HOSTS"), "{message}");
        assert!(!message.contains("10.20.30.40"), "{message}");
    }
    // An IP literal is the user's own text: its range may be named.
    let literal = GitLabClient::with_options(settings("https://10.20.30.40"), &deny_with(&table), no_env())
        .unwrap_err()
        .to_string();
    assert!(literal.contains("it is a private network address"), "{literal}");
    // The same refusal from the webhook guard names the webhook setting.
    let webhooks = deny_with(&table).for_setting("LABGATE_WEBHOOK_ALLOW_INTERNAL_HOSTS");
    let http = GuardedHttp::new(&webhooks, None).unwrap();
    let err = http
        .vet(&url::Url::parse("https://gitlab.internal/hook").unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("LABGATE_WEBHOOK_ALLOW_INTERNAL_HOSTS"), "{err}");
    assert!(!err.contains("10.20.30.40"), "{err}");
}

#[tokio::test]
async fn through_a_proxy_the_name_is_checked_before_every_attempt() {
    // The name first resolves to a public address; the proxy (which reaches nothing) fails the
    // tunnel, and by the retry the name points inside. The retry must not reach the proxy.
    let table = labgate_testkit::HostTable::default().with("gitlab.example", "93.184.216.34");
    let rebind = table.clone();
    let proxy =
        labgate_testkit::RecordingProxy::start_with(move |_| rebind.set("gitlab.example", "10.0.0.5")).await;
    let mut s = settings("https://gitlab.example");
    s.proxy = Some(proxy.url());
    let options = ClientOptions {
        max_attempts: 3,
        ..fast_client_options()
    };
    let c = GitLabClient::with_options(s, &deny_with(&table), options).unwrap();
    let err = c.version(&pat(ALICE_TOKEN)).await.unwrap_err();
    assert!(
        matches!(
            err,
            GitLabError::Blocked {
                reason: BlockReason::Private,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(proxy.seen(), ["CONNECT gitlab.example:443"]);

    // A name that resolves inside from the start never reaches the proxy at all.
    let internal = labgate_testkit::HostTable::default().with("db.internal", "10.1.2.3");
    let mut s = settings("https://db.internal");
    s.proxy = Some(proxy.url());
    let c = GitLabClient::with_options(s, &deny_with(&internal), fast_client_options()).unwrap();
    let err = c.version(&pat(ALICE_TOKEN)).await.unwrap_err();
    assert!(matches!(err, GitLabError::Blocked { .. }), "{err:?}");
    assert_eq!(proxy.seen().len(), 1);
}
