//! A typed client for the labgate HTTP API, used by the CLI and by other Rust software.
//!
//! ```no_run
//! # async fn example() -> Result<(), labgate_client::ClientError> {
//! let client = labgate_client::Client::from_env()?;
//! let jobs = client.jobs(&Default::default()).await?;
//! println!("{} jobs", jobs.total_count);
//! # Ok(()) }
//! ```

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod access;
mod access_provisioning;
mod credentials;
mod secrets;

use std::time::Duration;

use labgate_proto::ErrorBody;
use labgate_proto::connections::{
    ConnectionEventList, ConnectionList, ConnectionResponse, ConnectionView, CreateConnectionRequest,
    DeleteConnectionQuery, UpdateConnectionRequest,
};
use labgate_proto::jobs::{AcceptedResponse, JobList, JobListQuery, JobResponse, JobView};
use labgate_proto::pagination::PageQuery;
use labgate_proto::secret_syncs::{
    CreateSecretSyncRequest, DeleteSecretSyncQuery, ImportBehavior, ImportSecretsQuery, SecretSyncList,
    SecretSyncListQuery, SecretSyncPlan, SecretSyncResponse, SecretSyncResults, SecretSyncView,
    UpdateSecretSyncRequest,
};
pub use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use access::{AccessSync, AccessSyncProgress};
pub use credentials::{CacheOptions, Credential, CredentialCache};

pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// labgate answered with its error contract.
    #[error("{} ({}): {} [request {}]", .0.error, .0.status_code, .0.message, .0.req_id)]
    Api(ErrorBody),
    #[error("LABGATE_API_KEY is not set: export an API key (lgk_…) to talk to a labgate server")]
    MissingKey,
    #[error("{0} is not a valid labgate URL (expected http:// or https://)")]
    InvalidUrl(String),
    /// The server could not be reached or answered something other than labgate's API.
    #[error("cannot talk to labgate at {url}: {reason}")]
    Transport { url: String, reason: String },
    /// The credential broker hands out GitLab credentials only.
    #[error("unknown provider {0:?}: labgate brokers credentials for \"gitlab\"")]
    UnknownProvider(String),
}

/// A labgate server and the API key to call it with. Debug never shows the key.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: url::Url,
    key: SecretString,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(base_url: &str, key: SecretString) -> Result<Client, ClientError> {
        let mut base = url::Url::parse(base_url).map_err(|_| ClientError::InvalidUrl(base_url.to_owned()))?;
        if !matches!(base.scheme(), "http" | "https")
            || !base.username().is_empty()
            || base.password().is_some()
        {
            return Err(ClientError::InvalidUrl(base_url.to_owned()));
        }
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        labgate_crypto::tls::install_default_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("labgate-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| ClientError::Transport {
                url: base_url.to_owned(),
                reason: error.to_string(),
            })?;
        Ok(Client { http, base, key })
    }

    /// `LABGATE_URL` (default `http://127.0.0.1:8080`) and `LABGATE_API_KEY`.
    pub fn from_env() -> Result<Client, ClientError> {
        let url = std::env::var("LABGATE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
        let key = std::env::var("LABGATE_API_KEY").map_err(|_| ClientError::MissingKey)?;
        if key.trim().is_empty() {
            return Err(ClientError::MissingKey);
        }
        Client::new(&url, SecretString::from(key.trim().to_owned()))
    }

    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    async fn call<Q: Serialize + ?Sized, B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: Option<&Q>,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let url = self
            .base
            .join(path)
            .map_err(|_| ClientError::InvalidUrl(path.to_owned()))?;
        let transport = |reason: String| ClientError::Transport {
            url: self.base.to_string(),
            reason,
        };
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(self.key.expose_secret());
        if let Some(query) = query {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|error| transport(without_url(error)))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|error| transport(without_url(error)))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|_| transport(format!("an answer that is not labgate's ({status})")));
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(ClientError::Api(body)),
            Err(_) => Err(transport(format!("HTTP {status} without labgate's error body"))),
        }
    }

    /// A connection's GitLab token, straight from labgate (see [`CredentialCache`] for the cached
    /// way). Needs an admin or credential-reader key.
    pub async fn credential(
        &self,
        connection_id: &str,
    ) -> Result<labgate_proto::credentials::CredentialResponse, ClientError> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Query<'a> {
            connection_id: &'a str,
        }
        self.call(
            Method::GET,
            "api/v1/credentials/gitlab",
            Some(&Query { connection_id }),
            None::<&()>,
        )
        .await
    }

    /// The GitLab token of the connection labelled with the embedding application's tenant and
    /// user when it was authorised (OAuth start's `tenantId` and `userId`), straight from labgate.
    pub async fn credential_for_user(
        &self,
        tenant_id: &str,
        user_id: &str,
    ) -> Result<labgate_proto::credentials::CredentialResponse, ClientError> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Query<'a> {
            tenant_id: &'a str,
            user_id: &'a str,
        }
        self.call(
            Method::GET,
            "api/v1/credentials/gitlab",
            Some(&Query { tenant_id, user_id }),
            None::<&()>,
        )
        .await
    }

    pub async fn jobs(&self, query: &JobListQuery) -> Result<JobList, ClientError> {
        self.call(Method::GET, "api/v1/jobs", Some(query), None::<&()>)
            .await
    }

    pub async fn job(&self, id: &str) -> Result<JobView, ClientError> {
        let path = format!("api/v1/jobs/{}", encode_segment(id));
        let response: JobResponse = self.call(Method::GET, &path, None::<&()>, None::<&()>).await?;
        Ok(response.job)
    }

    pub async fn create_connection(
        &self,
        request: &CreateConnectionRequest,
    ) -> Result<ConnectionView, ClientError> {
        let response: ConnectionResponse = self
            .call(
                Method::POST,
                "api/v1/app-connections/gitlab",
                None::<&()>,
                Some(request),
            )
            .await?;
        Ok(response.app_connection)
    }

    pub async fn connections(&self, page: &PageQuery) -> Result<ConnectionList, ClientError> {
        self.call(
            Method::GET,
            "api/v1/app-connections/gitlab",
            Some(page),
            None::<&()>,
        )
        .await
    }

    pub async fn connection(&self, id: &str) -> Result<ConnectionView, ClientError> {
        let path = format!("api/v1/app-connections/gitlab/{}", encode_segment(id));
        let response: ConnectionResponse = self.call(Method::GET, &path, None::<&()>, None::<&()>).await?;
        Ok(response.app_connection)
    }

    pub async fn connection_by_name(&self, name: &str) -> Result<ConnectionView, ClientError> {
        let path = format!(
            "api/v1/app-connections/gitlab/connection-name/{}",
            encode_segment(name)
        );
        let response: ConnectionResponse = self.call(Method::GET, &path, None::<&()>, None::<&()>).await?;
        Ok(response.app_connection)
    }

    pub async fn update_connection(
        &self,
        id: &str,
        request: &UpdateConnectionRequest,
    ) -> Result<ConnectionView, ClientError> {
        let path = format!("api/v1/app-connections/gitlab/{}", encode_segment(id));
        let response: ConnectionResponse = self
            .call(Method::PATCH, &path, None::<&()>, Some(request))
            .await?;
        Ok(response.app_connection)
    }

    pub async fn delete_connection(
        &self,
        id: &str,
        revoke_at_gitlab: bool,
    ) -> Result<ConnectionView, ClientError> {
        let path = format!("api/v1/app-connections/gitlab/{}", encode_segment(id));
        let query = DeleteConnectionQuery {
            revoke_at_git_lab: revoke_at_gitlab.then_some(true),
        };
        let response: ConnectionResponse = self
            .call(Method::DELETE, &path, Some(&query), None::<&()>)
            .await?;
        Ok(response.app_connection)
    }

    /// Checks a connection at GitLab now; a check that rotates the token may answer with the
    /// job that follows the rotation.
    pub async fn check_connection(&self, id: &str) -> Result<TokenChange, ClientError> {
        let path = format!("api/v1/app-connections/gitlab/{}/check", encode_segment(id));
        let answer: TokenChangeAnswer = self.call(Method::POST, &path, None::<&()>, None::<&()>).await?;
        Ok(answer.into())
    }

    /// Rotates a connection's token at GitLab now; a rotation that outlasts the server's wait
    /// answers with the job that follows it.
    pub async fn rotate_connection(&self, id: &str) -> Result<TokenChange, ClientError> {
        let path = format!("api/v1/app-connections/gitlab/{}/rotate", encode_segment(id));
        let answer: TokenChangeAnswer = self.call(Method::POST, &path, None::<&()>, None::<&()>).await?;
        Ok(answer.into())
    }

    pub async fn create_secret_sync(
        &self,
        request: &CreateSecretSyncRequest,
    ) -> Result<SecretSyncView, ClientError> {
        let response: SecretSyncResponse = self
            .call(
                Method::POST,
                "api/v1/secret-syncs/gitlab",
                None::<&()>,
                Some(request),
            )
            .await?;
        Ok(response.secret_sync)
    }

    /// The syncs of one secrets project.
    pub async fn secret_syncs(&self, project_id: &str) -> Result<SecretSyncList, ClientError> {
        let query = SecretSyncListQuery {
            project_id: project_id.to_owned(),
        };
        self.call(
            Method::GET,
            "api/v1/secret-syncs/gitlab",
            Some(&query),
            None::<&()>,
        )
        .await
    }

    pub async fn secret_sync(&self, id: &str) -> Result<SecretSyncView, ClientError> {
        let path = format!("api/v1/secret-syncs/gitlab/{}", encode_segment(id));
        let response: SecretSyncResponse = self.call(Method::GET, &path, None::<&()>, None::<&()>).await?;
        Ok(response.secret_sync)
    }

    pub async fn update_secret_sync(
        &self,
        id: &str,
        request: &UpdateSecretSyncRequest,
    ) -> Result<SecretSyncView, ClientError> {
        let path = format!("api/v1/secret-syncs/gitlab/{}", encode_segment(id));
        let response: SecretSyncResponse = self
            .call(Method::PATCH, &path, None::<&()>, Some(request))
            .await?;
        Ok(response.secret_sync)
    }

    /// Deletes a sync; with `remove_secrets`, first the variables it wrote at GitLab.
    pub async fn delete_secret_sync(
        &self,
        id: &str,
        remove_secrets: bool,
    ) -> Result<SecretSyncView, ClientError> {
        let path = format!("api/v1/secret-syncs/gitlab/{}", encode_segment(id));
        let query = DeleteSecretSyncQuery {
            remove_secrets: Some(remove_secrets),
        };
        let response: SecretSyncResponse = self
            .call(Method::DELETE, &path, Some(&query), None::<&()>)
            .await?;
        Ok(response.secret_sync)
    }

    /// Queues a sync; the answer names the job in `lastSyncJobId`.
    pub async fn sync_secrets(&self, id: &str) -> Result<SecretSyncView, ClientError> {
        let path = format!("api/v1/secret-syncs/gitlab/{}/sync-secrets", encode_segment(id));
        let response: SecretSyncResponse = self.call(Method::POST, &path, None::<&()>, None::<&()>).await?;
        Ok(response.secret_sync)
    }

    /// Queues an import; the answer names the job in `lastImportJobId`.
    pub async fn import_sync_secrets(
        &self,
        id: &str,
        behavior: ImportBehavior,
    ) -> Result<SecretSyncView, ClientError> {
        let path = format!("api/v1/secret-syncs/gitlab/{}/import-secrets", encode_segment(id));
        let query = ImportSecretsQuery {
            import_behavior: behavior,
        };
        let response: SecretSyncResponse = self.call(Method::POST, &path, Some(&query), None::<&()>).await?;
        Ok(response.secret_sync)
    }

    /// Queues the removal of the variables the sync wrote; the answer names the job in
    /// `lastRemoveJobId`.
    pub async fn remove_sync_secrets(&self, id: &str) -> Result<SecretSyncView, ClientError> {
        let path = format!("api/v1/secret-syncs/gitlab/{}/remove-secrets", encode_segment(id));
        let response: SecretSyncResponse = self.call(Method::POST, &path, None::<&()>, None::<&()>).await?;
        Ok(response.secret_sync)
    }

    /// What a sync would do now; nothing is written.
    pub async fn secret_sync_plan(&self, id: &str) -> Result<SecretSyncPlan, ClientError> {
        let path = format!("api/v1/secret-syncs/gitlab/{}/plan", encode_segment(id));
        self.call(Method::GET, &path, None::<&()>, None::<&()>).await
    }

    /// How each key of the sync's last run ended.
    pub async fn secret_sync_results(&self, id: &str) -> Result<SecretSyncResults, ClientError> {
        let path = format!("api/v1/secret-syncs/gitlab/{}/results", encode_segment(id));
        self.call(Method::GET, &path, None::<&()>, None::<&()>).await
    }

    pub async fn connection_events(
        &self,
        id: &str,
        page: &PageQuery,
    ) -> Result<ConnectionEventList, ClientError> {
        let path = format!("api/v1/app-connections/gitlab/{}/events", encode_segment(id));
        self.call(Method::GET, &path, Some(page), None::<&()>).await
    }
}

/// What a call that changes a token at GitLab answered.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenChange {
    /// It ended in time: the connection as it is now (`200`).
    Done(Box<ConnectionView>),
    /// It goes on in the background (`202`): follow the job with [`Client::job`].
    Running(Box<JobView>),
}

/// The two bodies a token-changing route answers with.
#[derive(Deserialize)]
#[serde(untagged)]
enum TokenChangeAnswer {
    Done(Box<ConnectionResponse>),
    Running(Box<AcceptedResponse>),
}

impl From<TokenChangeAnswer> for TokenChange {
    fn from(answer: TokenChangeAnswer) -> TokenChange {
        match answer {
            TokenChangeAnswer::Done(response) => TokenChange::Done(Box::new(response.app_connection)),
            TokenChangeAnswer::Running(accepted) => TokenChange::Running(Box::new(accepted.job)),
        }
    }
}

/// reqwest errors print the URL; ours is the server's, but keep messages short and uniform.
fn without_url(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    message
}

fn encode_segment(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_keys_hidden() {
        let key = SecretString::from("lgk_secret".to_owned());
        assert!(Client::new("ftp://x", key.clone()).is_err());
        assert!(Client::new("http://user:pw@host", key.clone()).is_err());
        let client = Client::new("http://127.0.0.1:8080/prefix", key).unwrap();
        assert_eq!(client.base_url(), "http://127.0.0.1:8080/prefix/");
        assert!(!format!("{client:?}").contains("lgk_secret"));
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    }
}
