//! Secret scanning of GitLab repositories, with Infisical's `secret-scanning/data-sources/gitlab`
//! shapes plus labgate's extra fields (scan progress, finding locations, verification).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

crate::text_enum! {
    /// What a data source covers: one project, or a group with every subgroup's projects.
    #[derive(utoipa::ToSchema)]
    pub enum ScanScope {
        Project = "project",
        Group = "group",
    }
}

crate::text_enum! {
    /// Why a scan ran.
    #[derive(utoipa::ToSchema)]
    pub enum ScanKind {
        /// Every repository of the data source.
        Full = "full",
        /// One repository.
        Resource = "resource",
        /// A push to a repository.
        Push = "push",
    }
}

crate::text_enum! {
    #[derive(utoipa::ToSchema)]
    pub enum ScanStatus {
        Queued = "queued",
        Scanning = "scanning",
        Completed = "completed",
        Failed = "failed",
    }
}

crate::text_enum! {
    /// How a person triaged a finding.
    #[derive(utoipa::ToSchema)]
    pub enum FindingStatus {
        Unresolved = "unresolved",
        Resolved = "resolved",
        FalsePositive = "false-positive",
        Ignore = "ignore",
    }
}

crate::text_enum! {
    /// What a live check of the found token said.
    #[derive(utoipa::ToSchema)]
    pub enum FindingVerification {
        Active = "active",
        Inactive = "inactive",
        /// Not checked, or the check could not decide.
        Unknown = "unknown",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitLabDataSourceConfig {
    pub scope: ScanScope,
    /// Numeric id or full path; stored as the numeric id.
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub project_id: Option<String>,
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub group_id: Option<String>,
    /// Group scope: `["*"]` for every project, or the paths (`group/sub/project`) to scan.
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub include_projects: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateDataSourceRequest {
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z0-9-]+$")]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 256)]
    pub description: Option<String>,
    pub connection_id: String,
    pub config: GitLabDataSourceConfig,
    #[serde(default)]
    pub is_auto_scan_enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateDataSourceRequest {
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z0-9-]+$")]
    pub name: Option<String>,
    #[schema(max_length = 256)]
    pub description: Option<String>,
    pub connection_id: Option<String>,
    pub config: Option<GitLabDataSourceConfig>,
    pub is_auto_scan_enabled: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataSourceConnectionView {
    pub app: String,
    pub name: String,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataSourceView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// Always `gitlab`.
    #[serde(rename = "type")]
    pub kind: String,
    pub connection_id: String,
    pub connection: DataSourceConnectionView,
    pub config: GitLabDataSourceConfig,
    pub is_auto_scan_enabled: bool,
    /// Repositories found at the last discovery.
    pub resource_count: u64,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataSourceResponse {
    pub data_source: DataSourceView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataSourceList {
    pub data_sources: Vec<DataSourceView>,
}

/// A repository of a data source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanResourceView {
    pub id: String,
    pub data_source_id: String,
    /// `repository`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The GitLab project's full path.
    pub name: String,
    /// The GitLab project's numeric id.
    pub external_id: String,
    pub web_url: String,
    pub default_branch: Option<String>,
    pub last_scanned_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanResourceList {
    pub resources: Vec<ScanResourceView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanView {
    pub id: String,
    pub data_source_id: String,
    pub resource_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: ScanKind,
    pub status: ScanStatus,
    pub status_message: Option<String>,
    /// Repositories (full scans) or blobs (one repository) done of `progressTotal`.
    pub progress_done: u64,
    pub progress_total: Option<u64>,
    pub progress_phase: Option<String>,
    /// Findings first seen by this scan.
    pub new_findings: u64,
    /// Findings this scan saw, new or not.
    pub total_findings: u64,
    pub job_id: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanList {
    pub scans: Vec<ScanView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanResponse {
    pub scan: ScanView,
}

/// Where a finding was seen: one file at one commit of one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FindingLocationView {
    pub resource_id: String,
    pub resource_name: String,
    pub data_source_id: String,
    /// The GitLab project's numeric id.
    pub project_id: String,
    pub file: String,
    pub line: u64,
    pub commit: String,
    pub author: Option<String>,
    pub email: Option<String>,
    pub date: Option<String>,
    /// The line in GitLab's blob view on the connection's instance.
    pub link: String,
}

/// A secret found by scanning. The value itself is never stored or shown: `preview` shows its
/// first characters only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FindingView {
    pub id: String,
    pub rule: String,
    pub rule_name: String,
    pub severity: String,
    pub preview: String,
    pub fingerprint: String,
    pub status: FindingStatus,
    pub remarks: Option<String>,
    pub verification: FindingVerification,
    /// The earliest location (oldest commit) of the finding.
    pub file: String,
    pub line: u64,
    pub commit: String,
    pub author: Option<String>,
    pub date: Option<String>,
    pub link: String,
    pub data_source_id: Option<String>,
    pub project_id: Option<String>,
    pub locations: Vec<FindingLocationView>,
    pub first_seen_at: String,
    pub last_seen_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FindingList {
    pub findings: Vec<FindingView>,
    /// Findings matching the filters in all, beyond this page too.
    pub total_count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FindingResponse {
    pub finding: FindingView,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FindingListQuery {
    /// The GitLab project's numeric id.
    #[param(max_length = 20)]
    pub project_id: Option<String>,
    #[param(max_length = 36)]
    pub data_source_id: Option<String>,
    pub status: Option<FindingStatus>,
    /// The detection rule's id, e.g. `gitlab-pat`.
    #[param(max_length = 128)]
    pub rule: Option<String>,
    pub verification: Option<FindingVerification>,
    /// Part of the file path of a place the finding was seen, in any letter case.
    #[param(max_length = 1024)]
    pub path: Option<String>,
    /// Records to skip (default 0).
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_u64)]
    pub offset: Option<u64>,
    /// Records to return, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateFindingRequest {
    pub status: Option<FindingStatus>,
    #[schema(max_length = 1024)]
    pub remarks: Option<String>,
}

crate::text_enum! {
    /// Formats of the findings export.
    #[derive(utoipa::ToSchema)]
    pub enum ExportFormat {
        Json = "json",
        Csv = "csv",
        /// SARIF 2.1.0, for code-scanning dashboards.
        Sarif = "sarif",
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FindingExportQuery {
    pub format: Option<ExportFormat>,
    #[param(max_length = 20)]
    pub project_id: Option<String>,
    #[param(max_length = 36)]
    pub data_source_id: Option<String>,
    pub status: Option<FindingStatus>,
    /// The detection rule's id, e.g. `gitlab-pat`.
    #[param(max_length = 128)]
    pub rule: Option<String>,
    pub verification: Option<FindingVerification>,
    /// Part of the file path of a place the finding was seen, in any letter case.
    #[param(max_length = 1024)]
    pub path: Option<String>,
}

/// The project a GitLab push event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GitLabPushProject {
    pub id: u64,
    #[serde(default)]
    pub path_with_namespace: Option<String>,
}

/// The fields labgate reads of GitLab's `Push Hook` and `Tag Push Hook` bodies (GitLab's
/// snake_case; every other field is accepted and ignored). The commits listed in the body are
/// not trusted: the scan fetches `before..after` from GitLab itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GitLabPushEvent {
    /// `push` or `tag_push`.
    #[serde(default)]
    pub object_kind: Option<String>,
    /// 40 zeros for a new branch or tag.
    #[serde(default)]
    pub before: Option<String>,
    /// 40 zeros for a deleted branch or tag.
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default, rename = "ref")]
    pub git_ref: Option<String>,
    #[serde(default)]
    pub checkout_sha: Option<String>,
    #[serde(default)]
    pub project_id: Option<u64>,
    #[serde(default)]
    pub project: Option<GitLabPushProject>,
    #[serde(default)]
    pub total_commits_count: Option<u64>,
}

/// What labgate did with a push webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushReceipt {
    /// `queued` (202), `duplicate` (a redelivery, 200), `recorded` (a deleted ref: nothing to
    /// scan, 200) or `ignored` (not a push, or no data source covers the project, 200).
    pub status: String,
    /// The scans queued or recorded, one per data source the push belongs to.
    pub scan_ids: Vec<String>,
}
