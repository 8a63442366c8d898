//! Tenants: the isolation boundary for keys and data.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantView {
    pub id: String,
    pub name: String,
    /// Id of the root key that wraps this tenant's data key.
    pub root_key_id: String,
    pub created_at: String,
}
