//! GitLab's access events in: system hooks and group member hooks that tell labgate which
//! groups, projects and accounts changed, so a sync re-reads just those.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What labgate did with an access event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessHookReceipt {
    /// `queued` (a targeted sync run is queued, 202), `recorded` (the changed resources are kept
    /// for the source's next sync run, 202), `duplicate` (a redelivery, 200) or `ignored` (an
    /// event that changes no access, 200).
    pub status: String,
    /// The access source the hook belongs to.
    pub source_id: String,
    /// What the event said changed.
    pub targets: Vec<AccessHookTarget>,
    /// The targeted sync run queued for them, when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// A GitLab group, project or account an event named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessHookTarget {
    /// `group`, `project` or `account`.
    pub kind: String,
    /// Its GitLab id.
    pub gitlab_id: u64,
}
