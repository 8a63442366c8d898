//! Scanning's domain values, parsed once from stored rows.

use labgate_proto::secret_scanning::{
    FindingStatus, FindingVerification, GitLabDataSourceConfig, ScanKind, ScanStatus,
};
use labgate_store::{
    FindingLocationRecord, FindingRecord, PlacedFindingLocationRecord, ScanDataSourceRecord,
    ScanResourceRecord, ScanRunRecord,
};
use time::OffsetDateTime;

use crate::ids::{ConnectionId, FindingId, JobId, ScanDataSourceId, ScanResourceId, ScanRunId, TenantId};
use crate::jobs::Progress;
use crate::rows::{Parsed, StoredValueError, flag, opt_time, opt_unsigned, text, time, unsigned};

#[derive(Debug, Clone)]
pub struct DataSource {
    pub id: ScanDataSourceId,
    pub tenant_id: TenantId,
    pub name: String,
    pub description: Option<String>,
    pub connection_id: ConnectionId,
    pub config: GitLabDataSourceConfig,
    pub auto_scan: bool,
    pub version: u32,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl TryFrom<ScanDataSourceRecord> for DataSource {
    type Error = StoredValueError;

    fn try_from(row: ScanDataSourceRecord) -> Parsed<DataSource> {
        Ok(DataSource {
            config: serde_json::from_str(&row.config).map_err(|_| StoredValueError {
                column: "scan_data_sources.config",
                value: "(not a valid configuration)".to_owned(),
            })?,
            id: ScanDataSourceId::from_stored(row.id),
            tenant_id: TenantId::from_stored(row.tenant_id),
            name: row.name,
            description: row.description,
            connection_id: ConnectionId::from_stored(row.connection_id),
            auto_scan: flag("scan_data_sources.is_auto_scan_enabled", row.is_auto_scan_enabled)?,
            version: unsigned("scan_data_sources.version", row.version)?,
            created_at: time("scan_data_sources.created_at", row.created_at)?,
            updated_at: time("scan_data_sources.updated_at", row.updated_at)?,
        })
    }
}

/// A repository of a data source.
#[derive(Debug, Clone)]
pub struct Resource {
    pub id: ScanResourceId,
    pub data_source_id: ScanDataSourceId,
    pub gitlab_project_id: u64,
    pub path: String,
    pub web_url: String,
    pub default_branch: Option<String>,
    pub last_scanned_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl TryFrom<ScanResourceRecord> for Resource {
    type Error = StoredValueError;

    fn try_from(row: ScanResourceRecord) -> Parsed<Resource> {
        Ok(Resource {
            id: ScanResourceId::from_stored(row.id),
            data_source_id: ScanDataSourceId::from_stored(row.data_source_id),
            gitlab_project_id: unsigned("scan_resources.gitlab_project_id", row.gitlab_project_id)?,
            path: row.path,
            web_url: row.web_url,
            default_branch: row.default_branch,
            last_scanned_at: opt_time("scan_resources.last_scanned_at", row.last_scanned_at)?,
            created_at: time("scan_resources.created_at", row.created_at)?,
            updated_at: time("scan_resources.updated_at", row.updated_at)?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct ScanRun {
    pub id: ScanRunId,
    pub data_source_id: ScanDataSourceId,
    pub resource_id: Option<ScanResourceId>,
    pub kind: ScanKind,
    pub status: ScanStatus,
    pub progress: Progress,
    pub findings_new: u64,
    pub findings_total: u64,
    pub error: Option<String>,
    pub job_id: Option<JobId>,
    pub created_at: OffsetDateTime,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
}

impl TryFrom<ScanRunRecord> for ScanRun {
    type Error = StoredValueError;

    fn try_from(row: ScanRunRecord) -> Parsed<ScanRun> {
        Ok(ScanRun {
            id: ScanRunId::from_stored(row.id),
            data_source_id: ScanDataSourceId::from_stored(row.data_source_id),
            resource_id: row.resource_id.map(ScanResourceId::from_stored),
            kind: text("scan_runs.kind", &row.kind)?,
            status: text("scan_runs.status", &row.status)?,
            progress: Progress {
                done: unsigned("scan_runs.progress_done", row.progress_done)?,
                total: opt_unsigned("scan_runs.progress_total", row.progress_total)?,
                phase: row.progress_phase,
            },
            findings_new: unsigned("scan_runs.findings_new", row.findings_new)?,
            findings_total: unsigned("scan_runs.findings_total", row.findings_total)?,
            error: row.error,
            job_id: row.job_id.map(JobId::from_stored),
            created_at: time("scan_runs.created_at", row.created_at)?,
            started_at: opt_time("scan_runs.started_at", row.started_at)?,
            finished_at: opt_time("scan_runs.finished_at", row.finished_at)?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub id: FindingId,
    pub tenant_id: TenantId,
    pub rule_id: String,
    pub rule_name: String,
    pub severity: String,
    pub value_hmac: String,
    pub preview: String,
    pub fingerprint: String,
    pub status: FindingStatus,
    pub remarks: Option<String>,
    pub verification: FindingVerification,
    pub verified_at: Option<OffsetDateTime>,
    pub first_seen_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl TryFrom<FindingRecord> for Finding {
    type Error = StoredValueError;

    fn try_from(row: FindingRecord) -> Parsed<Finding> {
        Ok(Finding {
            id: FindingId::from_stored(row.id),
            tenant_id: TenantId::from_stored(row.tenant_id),
            rule_id: row.rule_id,
            rule_name: row.rule_name,
            severity: row.severity,
            value_hmac: row.value_hmac,
            preview: row.preview,
            fingerprint: row.fingerprint,
            status: text("findings.status", &row.status)?,
            remarks: row.remarks,
            verification: text("findings.verification", &row.verification)?,
            verified_at: opt_time("findings.verified_at", row.verified_at)?,
            first_seen_at: time("findings.first_seen_at", row.first_seen_at)?,
            last_seen_at: time("findings.last_seen_at", row.last_seen_at)?,
            updated_at: time("findings.updated_at", row.updated_at)?,
        })
    }
}

/// Where a finding was seen.
#[derive(Debug, Clone)]
pub struct FindingLocation {
    pub finding_id: FindingId,
    pub resource_id: ScanResourceId,
    pub file_path: String,
    pub commit: String,
    pub line: u64,
    pub author_name: Option<String>,
    pub author_email: Option<String>,
    pub committed_at: Option<OffsetDateTime>,
    pub link: String,
    pub first_seen_at: OffsetDateTime,
}

impl TryFrom<FindingLocationRecord> for FindingLocation {
    type Error = StoredValueError;

    fn try_from(row: FindingLocationRecord) -> Parsed<FindingLocation> {
        Ok(FindingLocation {
            finding_id: FindingId::from_stored(row.finding_id),
            resource_id: ScanResourceId::from_stored(row.resource_id),
            file_path: row.file_path,
            commit: row.commit_sha,
            line: unsigned("finding_locations.line", row.line)?,
            author_name: row.author_name,
            author_email: row.author_email,
            committed_at: opt_time("finding_locations.committed_at", row.committed_at)?,
            link: row.link,
            first_seen_at: time("finding_locations.first_seen_at", row.first_seen_at)?,
        })
    }
}

/// A location with the repository it was seen in.
#[derive(Debug, Clone)]
pub struct PlacedLocation {
    pub location: FindingLocation,
    pub resource_path: String,
    pub data_source_id: ScanDataSourceId,
    pub gitlab_project_id: u64,
}

impl TryFrom<PlacedFindingLocationRecord> for PlacedLocation {
    type Error = StoredValueError;

    fn try_from(row: PlacedFindingLocationRecord) -> Parsed<PlacedLocation> {
        Ok(PlacedLocation {
            location: FindingLocation::try_from(row.location)?,
            resource_path: row.resource_path,
            data_source_id: ScanDataSourceId::from_stored(row.data_source_id),
            gitlab_project_id: unsigned("scan_resources.gitlab_project_id", row.gitlab_project_id)?,
        })
    }
}
