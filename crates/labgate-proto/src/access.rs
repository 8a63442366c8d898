//! Access sync as the API shows it: sources (a self-managed instance, or one top-level group,
//! read through a connection) and their sync runs with progress and a log.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

crate::text_enum! {
    /// What a source covers: a whole self-managed instance (an administrator's token), or one
    /// top-level group with its subgroups and projects.
    #[derive(utoipa::ToSchema)]
    pub enum AccessScopeKind {
        Instance = "instance",
        Group = "group",
    }
}

crate::text_enum! {
    /// Where a source stands: never synced, syncing now, its last sync succeeded, or it failed.
    #[derive(utoipa::ToSchema)]
    pub enum AccessSourceStatus {
        NeverSynced = "never-synced",
        Syncing = "syncing",
        Connected = "connected",
        Failed = "failed",
    }
}

crate::text_enum! {
    /// How a source learns of access changes between its full syncs: GitLab's webhooks (each
    /// change re-read at once by a targeted sync), or only the periodic full syncs (sweeps),
    /// when no webhook could be installed.
    #[derive(utoipa::ToSchema)]
    pub enum AccessUpdateDelivery {
        Hooks = "hooks",
        Sweeps = "sweeps",
    }
}

/// How a source's access changes reach labgate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessSourceUpdates {
    pub kind: AccessUpdateDelivery,
    /// Why no webhook is installed (sweeps only): GitLab refused it (a group hook needs a paid
    /// tier, a system hook an administrator), or labgate has no site URL for GitLab to call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

crate::text_enum! {
    #[derive(utoipa::ToSchema)]
    pub enum AccessSyncStatus {
        Queued = "queued",
        Syncing = "syncing",
        Succeeded = "succeeded",
        Failed = "failed",
    }
}

crate::text_enum! {
    /// What a run reads: everything in the source's scope, or some groups and projects on top
    /// of the previous successful snapshot.
    #[derive(utoipa::ToSchema)]
    pub enum AccessSyncKind {
        Full = "full",
        Targeted = "targeted",
    }
}

/// `{kind: "instance"}` or `{kind: "group", fullPath: "acme"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessScope {
    pub kind: AccessScopeKind,
    /// The top-level group's full path; only for a group scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 255)]
    pub full_path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAccessSourceRequest {
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z0-9-]+$")]
    pub name: String,
    pub connection_id: String,
    pub scope: AccessScope,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessSourceView {
    pub id: String,
    pub name: String,
    pub connection_id: String,
    pub scope: AccessScope,
    pub status: AccessSourceStatus,
    /// The latest run, whatever its outcome.
    pub last_sync_id: Option<String>,
    pub updates: AccessSourceUpdates,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessSourceResponse {
    pub source: AccessSourceView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessSourceList {
    pub sources: Vec<AccessSourceView>,
    pub total_count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessSyncProgress {
    /// `queued`, `starting`, `groups` (users, groups and projects are listed side by side;
    /// `done` counts the groups read in detail), `members`, `accounts` (users read one by one),
    /// `targets` (a targeted sync), `saving`, `retrying`, `done` or `failed`. While saving,
    /// `done` counts the snapshot's rows stored so far (accounts, groups, projects, memberships
    /// and shares) out of `total`.
    pub phase: Option<String>,
    pub done: u64,
    pub total: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessSyncView {
    pub id: String,
    pub source_id: String,
    pub kind: AccessSyncKind,
    pub status: AccessSyncStatus,
    pub progress: AccessSyncProgress,
    /// Requests made to GitLab: one per page of each listing and per single read, retries aside.
    pub request_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessSyncResponse {
    pub sync: AccessSyncView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessSyncList {
    /// Newest first.
    pub syncs: Vec<AccessSyncView>,
}

crate::text_enum! {
    #[derive(utoipa::ToSchema)]
    pub enum AccessSyncLogLevel {
        Info = "info",
        Warn = "warn",
        Error = "error",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessSyncLogLine {
    pub seq: u64,
    pub at: String,
    pub level: AccessSyncLogLevel,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessSyncLog {
    /// Oldest first.
    pub lines: Vec<AccessSyncLogLine>,
}
