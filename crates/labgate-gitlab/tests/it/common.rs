//! GitLab-client helpers over the test kit's simulated instance: clients pointed at it,
//! credentials, request counts and one-off servers for faults the simulator does not model.

use futures_util::TryStreamExt;
use gitlab_sim::SimServer;
use labgate_gitlab::{
    ClientOptions, Credential, GitLabBaseUrl, GitLabClient, GitLabError, InstanceSettings, Paged,
};
pub use labgate_testkit::sim::*;
use secrecy::SecretString;

pub fn client_for_url(url: &str, options: ClientOptions) -> GitLabClient {
    let settings = InstanceSettings::new(GitLabBaseUrl::parse(url).unwrap());
    GitLabClient::with_options(settings, &loopback_policy(), options).unwrap()
}

pub fn client(sim: &SimServer) -> GitLabClient {
    client_for_url(sim.url(), fast_client_options())
}

pub fn pat(token: &str) -> Credential {
    Credential::PrivateToken(SecretString::from(token.to_owned()))
}

pub async fn collect<T>(s: Paged<T>) -> Result<Vec<T>, GitLabError> {
    s.try_collect().await
}

/// Requests the simulator saw for one method and route template, any status.
pub fn count(sim: &SimServer, method: &str, route: &str) -> u64 {
    sim.requests().total(method, &format!("/api/v4{route}"))
}

/// Serves a one-off axum app on 127.0.0.1 (for faults the simulator does not model).
pub async fn spawn_app(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}
