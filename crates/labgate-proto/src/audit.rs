//! The audit log as the API shows it.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditActor {
    /// `api-key`, `user`, `cli` or `system`.
    pub kind: String,
    pub id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditLogView {
    pub id: String,
    pub actor: AuditActor,
    /// What was done, e.g. `api-key.create`.
    pub action: String,
    pub resource_kind: String,
    pub resource_id: Option<String>,
    /// The client address, as the server determined it (trusted proxies considered).
    pub source_ip: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
    pub created_at: String,
    /// How many times it happened within that minute: repeated reads of one credential by one
    /// actor are folded into one entry.
    pub occurrences: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditLogList {
    pub audit_logs: Vec<AuditLogView>,
    pub total_count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditLogQuery {
    /// Only this action, e.g. `api-key.revoke`.
    pub action: Option<String>,
    /// Only actions on this kind of resource, e.g. `api-key`.
    pub resource_kind: Option<String>,
    pub resource_id: Option<String>,
    /// Only this actor kind: `api-key`, `user`, `cli` or `system`.
    pub actor_kind: Option<String>,
    pub actor_id: Option<String>,
    /// RFC 3339 time; entries at or after it.
    pub since: Option<String>,
    /// RFC 3339 time; entries before it.
    pub until: Option<String>,
    pub offset: Option<u64>,
    pub limit: Option<u32>,
}
