//! Instance-wide endpoints: version and metadata.

use crate::client::{Credential, GitLabClient};
use crate::error::GitLabError;
use crate::model::{Metadata, Version};

impl GitLabClient {
    /// `GET /version`.
    #[tracing::instrument(skip_all)]
    pub async fn version(&self, cred: &Credential) -> Result<Version, GitLabError> {
        self.json(&self.get("/version", "/version")?, Some(cred)).await
    }

    /// `GET /metadata` (version plus KAS and edition).
    #[tracing::instrument(skip_all)]
    pub async fn metadata(&self, cred: &Credential) -> Result<Metadata, GitLabError> {
        self.json(&self.get("/metadata", "/metadata")?, Some(cred)).await
    }
}
