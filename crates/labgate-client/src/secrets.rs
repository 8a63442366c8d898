//! The secrets store: projects (`/api/v1/projects`) and secrets (`/api/v3/secrets`).

use labgate_proto::pagination::PageQuery;
use labgate_proto::secrets::{
    BatchSecretsRequest, CreateProjectRequest, CreateSecretRequest, ImportSecretsRequest,
    ImportSecretsResponse, ProjectList, ProjectResponse, ProjectView, RollbackSecretRequest,
    SecretBatchResponse, SecretHistory, SecretHistoryQuery, SecretList, SecretListQuery, SecretLocation,
    SecretQuery, SecretResponse, SecretView, UpdateSecretRequest,
};
use reqwest::Method;

use crate::{Client, ClientError, encode_segment};

fn secret_path(name: &str) -> String {
    format!("api/v3/secrets/raw/{}", encode_segment(name))
}

impl Client {
    pub async fn create_project(&self, request: &CreateProjectRequest) -> Result<ProjectView, ClientError> {
        let response: ProjectResponse = self
            .call(Method::POST, "api/v1/projects", None::<&()>, Some(request))
            .await?;
        Ok(response.project)
    }

    pub async fn projects(&self, page: &PageQuery) -> Result<ProjectList, ClientError> {
        self.call(Method::GET, "api/v1/projects", Some(page), None::<&()>)
            .await
    }

    pub async fn project(&self, id: &str) -> Result<ProjectView, ClientError> {
        let path = format!("api/v1/projects/{}", encode_segment(id));
        let response: ProjectResponse = self.call(Method::GET, &path, None::<&()>, None::<&()>).await?;
        Ok(response.project)
    }

    pub async fn delete_project(&self, id: &str) -> Result<ProjectView, ClientError> {
        let path = format!("api/v1/projects/{}", encode_segment(id));
        let response: ProjectResponse = self.call(Method::DELETE, &path, None::<&()>, None::<&()>).await?;
        Ok(response.project)
    }

    /// The secrets of a folder with their values (each read is audited).
    pub async fn secrets(&self, query: &SecretListQuery) -> Result<SecretList, ClientError> {
        self.call(Method::GET, "api/v3/secrets/raw", Some(query), None::<&()>)
            .await
    }

    /// One secret with its value (the read is audited).
    pub async fn secret(&self, name: &str, query: &SecretQuery) -> Result<SecretView, ClientError> {
        let response: SecretResponse = self
            .call(Method::GET, &secret_path(name), Some(query), None::<&()>)
            .await?;
        Ok(response.secret)
    }

    pub async fn create_secret(
        &self,
        name: &str,
        request: &CreateSecretRequest,
    ) -> Result<SecretView, ClientError> {
        let response: SecretResponse = self
            .call(Method::POST, &secret_path(name), None::<&()>, Some(request))
            .await?;
        Ok(response.secret)
    }

    pub async fn update_secret(
        &self,
        name: &str,
        request: &UpdateSecretRequest,
    ) -> Result<SecretView, ClientError> {
        let response: SecretResponse = self
            .call(Method::PATCH, &secret_path(name), None::<&()>, Some(request))
            .await?;
        Ok(response.secret)
    }

    pub async fn delete_secret(
        &self,
        name: &str,
        location: &SecretLocation,
    ) -> Result<SecretView, ClientError> {
        let response: SecretResponse = self
            .call(Method::DELETE, &secret_path(name), None::<&()>, Some(location))
            .await?;
        Ok(response.secret)
    }

    /// Creates (`POST`), changes (`PATCH`) or deletes (`DELETE`) several secrets, all or none.
    pub async fn batch_secrets(
        &self,
        method: Method,
        request: &BatchSecretsRequest,
    ) -> Result<Vec<SecretView>, ClientError> {
        let response: SecretBatchResponse = self
            .call(method, "api/v3/secrets/batch/raw", None::<&()>, Some(request))
            .await?;
        Ok(response.secrets)
    }

    /// Writes the lines of a `.env` file into a folder.
    pub async fn import_secrets(
        &self,
        request: &ImportSecretsRequest,
    ) -> Result<ImportSecretsResponse, ClientError> {
        self.call(Method::POST, "api/v3/secrets/import", None::<&()>, Some(request))
            .await
    }

    pub async fn secret_history(
        &self,
        name: &str,
        query: &SecretHistoryQuery,
    ) -> Result<SecretHistory, ClientError> {
        let path = format!("{}/history", secret_path(name));
        self.call(Method::GET, &path, Some(query), None::<&()>).await
    }

    pub async fn rollback_secret(
        &self,
        name: &str,
        request: &RollbackSecretRequest,
    ) -> Result<SecretView, ClientError> {
        let path = format!("{}/rollback", secret_path(name));
        let response: SecretResponse = self.call(Method::POST, &path, None::<&()>, Some(request)).await?;
        Ok(response.secret)
    }
}
