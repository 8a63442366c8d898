use std::time::Duration;

use labgate_server::{ServerSettings, TlsFiles};
use labgate_testkit::TestEnv;
use tokio_util::sync::CancellationToken;

fn client(ca: Option<&str>) -> reqwest::Client {
    labgate_server::install_crypto_provider();
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(10));
    if let Some(ca) = ca {
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn tls_listener_serves_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let settings = ServerSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Some(TlsFiles { cert, key }),
        ..ServerSettings::default()
    };
    let env = TestEnv::builder().server_settings(settings).build().await;
    let server = labgate_server::bind(env.app.clone()).await.unwrap();
    assert!(server.is_tls());
    let port = server.local_addr().unwrap().port();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server.serve(shutdown.clone()));

    let reply = client(Some(&certified.cert.pem()))
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert!(
        reply.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    // A client that does not trust the certificate is refused at the handshake.
    assert!(
        client(None)
            .get(format!("https://localhost:{port}/healthz"))
            .send()
            .await
            .is_err()
    );

    shutdown.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_bad_certificate_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, "not a certificate").unwrap();
    let settings = ServerSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Some(TlsFiles {
            cert: cert.clone(),
            key: cert,
        }),
        ..ServerSettings::default()
    };
    let env = TestEnv::builder().server_settings(settings).build().await;
    let error = labgate_server::bind(env.app.clone()).await.err().unwrap();
    assert!(error.contains("LABGATE_TLS_CERT_FILE"), "{error}");
}

#[tokio::test]
async fn shutdown_stops_accepting_and_returns() {
    let settings = ServerSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..ServerSettings::default()
    };
    let env = TestEnv::builder().server_settings(settings).build().await;
    let server = labgate_server::bind(env.app.clone()).await.unwrap();
    let address = server.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server.serve(shutdown.clone()));
    let url = format!("http://{address}/api/v1/jobs");
    let reply = client(None)
        .get(&url)
        .bearer_auth(&env.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(client(None).get(&url).send().await.is_err());
}
