//! Access provisioning (`/api/v1/access/provisioning`): operations on an access source's GitLab.

use labgate_proto::access_provisioning::{
    ProvisioningList, ProvisioningListQuery, ProvisioningOperationView, ProvisioningRequest,
    ProvisioningResponse,
};
use reqwest::Method;

use crate::{Client, ClientError, encode_segment};

impl Client {
    /// Plans (with `dry_run`) or runs a provisioning operation.
    pub async fn provision_access(
        &self,
        request: &ProvisioningRequest,
    ) -> Result<ProvisioningOperationView, ClientError> {
        let response: ProvisioningResponse = self
            .call(
                Method::POST,
                "api/v1/access/provisioning",
                None::<&()>,
                Some(request),
            )
            .await?;
        Ok(response.operation)
    }

    pub async fn provisioning_operations(
        &self,
        query: &ProvisioningListQuery,
    ) -> Result<ProvisioningList, ClientError> {
        self.call(
            Method::GET,
            "api/v1/access/provisioning",
            Some(query),
            None::<&()>,
        )
        .await
    }

    pub async fn provisioning_operation(&self, id: &str) -> Result<ProvisioningOperationView, ClientError> {
        let path = format!("api/v1/access/provisioning/{}", encode_segment(id));
        let response: ProvisioningResponse = self.call(Method::GET, &path, None::<&()>, None::<&()>).await?;
        Ok(response.operation)
    }

    /// Runs a failed or interrupted operation again from where it stopped.
    pub async fn resume_provisioning_operation(
        &self,
        id: &str,
    ) -> Result<ProvisioningOperationView, ClientError> {
        let path = format!("api/v1/access/provisioning/{}/resume", encode_segment(id));
        let response: ProvisioningResponse = self.call(Method::POST, &path, None::<&()>, None::<&()>).await?;
        Ok(response.operation)
    }
}
