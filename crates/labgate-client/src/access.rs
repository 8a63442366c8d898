//! Access sync: starting and following syncs (`/api/v1/access/sources/:id/sync`,
//! `/api/v1/access/syncs/:id`), and reading what they saw (`/api/v1/access/{accounts,grants}`,
//! sync diffs, exports).

use std::io::Write;

use labgate_proto::ErrorBody;
use labgate_proto::access_reports::{
    AccessAccountExportQuery, AccessAccountList, AccessAccountListQuery, AccessDiffView,
    AccessGrantExportQuery, AccessGrantList, AccessGrantListQuery,
};
use reqwest::Method;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::{Client, ClientError, encode_segment, without_url};

/// How far a sync is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessSyncProgress {
    #[serde(default)]
    pub phase: Option<String>,
    #[serde(default)]
    pub done: u64,
    #[serde(default)]
    pub total: Option<u64>,
}

/// One sync of an access source: `queued`, `syncing`, `succeeded` or `failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessSync {
    pub id: String,
    #[serde(default)]
    pub source_id: Option<String>,
    pub status: String,
    #[serde(default)]
    pub progress: AccessSyncProgress,
    #[serde(default)]
    pub request_count: Option<u64>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub finished_at: Option<String>,
}

impl AccessSync {
    /// Whether the sync has ended, well or not.
    pub fn is_finished(&self) -> bool {
        matches!(self.status.as_str(), "succeeded" | "failed")
    }
}

#[derive(Debug, Deserialize)]
struct AccessSyncResponse {
    sync: AccessSync,
}

impl Client {
    /// Queues a sync of an access source.
    pub async fn sync_access_source(&self, source_id: &str) -> Result<AccessSync, ClientError> {
        let path = format!("api/v1/access/sources/{}/sync", encode_segment(source_id));
        let response: AccessSyncResponse = self.call(Method::POST, &path, None::<&()>, None::<&()>).await?;
        Ok(response.sync)
    }

    /// One sync with its progress.
    pub async fn access_sync(&self, id: &str) -> Result<AccessSync, ClientError> {
        let path = format!("api/v1/access/syncs/{}", encode_segment(id));
        let response: AccessSyncResponse = self.call(Method::GET, &path, None::<&()>, None::<&()>).await?;
        Ok(response.sync)
    }

    /// A page of the accounts of a source's newest successful sync.
    pub async fn access_accounts(
        &self,
        query: &AccessAccountListQuery,
    ) -> Result<AccessAccountList, ClientError> {
        self.call(Method::GET, "api/v1/access/accounts", Some(query), None::<&()>)
            .await
    }

    /// A page of the effective grants of a source's newest successful sync.
    pub async fn access_grants(&self, query: &AccessGrantListQuery) -> Result<AccessGrantList, ClientError> {
        self.call(Method::GET, "api/v1/access/grants", Some(query), None::<&()>)
            .await
    }

    /// What changed from the previous successful sync of the same source to sync `id`.
    pub async fn access_sync_diff(&self, id: &str) -> Result<AccessDiffView, ClientError> {
        let path = format!("api/v1/access/syncs/{}/diff", encode_segment(id));
        self.call(Method::GET, &path, None::<&()>, None::<&()>).await
    }

    /// Writes the accounts export to `out` as it arrives.
    pub async fn export_access_accounts(
        &self,
        query: &AccessAccountExportQuery,
        out: &mut impl Write,
    ) -> Result<(), ClientError> {
        self.download("api/v1/access/accounts/export", query, out).await
    }

    /// Writes the grants export to `out` as it arrives.
    pub async fn export_access_grants(
        &self,
        query: &AccessGrantExportQuery,
        out: &mut impl Write,
    ) -> Result<(), ClientError> {
        self.download("api/v1/access/grants/export", query, out).await
    }

    /// A GET whose successful body is copied to `out` chunk by chunk: an export of any size never
    /// sits in memory whole.
    async fn download<Q: Serialize + ?Sized>(
        &self,
        path: &str,
        query: &Q,
        out: &mut impl Write,
    ) -> Result<(), ClientError> {
        let url = self
            .base
            .join(path)
            .map_err(|_| ClientError::InvalidUrl(path.to_owned()))?;
        let transport = |reason: String| ClientError::Transport {
            url: self.base.to_string(),
            reason,
        };
        let mut response = self
            .http
            .get(url)
            .bearer_auth(self.key.expose_secret())
            .query(query)
            .send()
            .await
            .map_err(|error| transport(without_url(error)))?;
        let status = response.status();
        if !status.is_success() {
            let bytes = response
                .bytes()
                .await
                .map_err(|error| transport(without_url(error)))?;
            return match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(body) => Err(ClientError::Api(body)),
                Err(_) => Err(transport(format!("HTTP {status} without labgate's error body"))),
            };
        }
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| transport(without_url(error)))?
        {
            out.write_all(&chunk)
                .map_err(|error| transport(format!("cannot write the export: {error}")))?;
        }
        out.flush()
            .map_err(|error| transport(format!("cannot write the export: {error}")))?;
        Ok(())
    }
}
