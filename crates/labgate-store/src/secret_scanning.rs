//! Secret scanning: data sources, the repositories they found, scan runs, findings and where
//! each finding was seen.

use crate::{Result, Store, StoreError, on_pool, page};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ScanDataSourceRecord {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub description: Option<String>,
    pub connection_id: String,
    /// JSON.
    pub config: String,
    pub is_auto_scan_enabled: i32,
    pub version: i32,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct DueSourceRow {
    #[sqlx(flatten)]
    source: ScanDataSourceRecord,
    last_full_scan_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ScanResourceRecord {
    pub id: String,
    pub data_source_id: String,
    pub gitlab_project_id: i64,
    pub path: String,
    pub web_url: String,
    pub default_branch: Option<String>,
    pub last_scanned_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ScanRunRecord {
    pub id: String,
    pub data_source_id: String,
    pub resource_id: Option<String>,
    pub kind: String,
    pub status: String,
    pub progress_done: i64,
    pub progress_total: Option<i64>,
    pub progress_phase: Option<String>,
    pub findings_new: i64,
    pub findings_total: i64,
    pub error: Option<String>,
    pub job_id: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FindingRecord {
    pub id: String,
    pub tenant_id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub severity: String,
    pub value_hmac: String,
    pub preview: String,
    pub fingerprint: String,
    pub status: String,
    pub remarks: Option<String>,
    pub verification: String,
    pub verified_at: Option<i64>,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FindingLocationRecord {
    pub finding_id: String,
    pub resource_id: String,
    pub file_path: String,
    pub commit_sha: String,
    pub line: i64,
    pub author_name: Option<String>,
    pub author_email: Option<String>,
    pub committed_at: Option<i64>,
    pub link: String,
    pub scan_run_id: Option<String>,
    pub first_seen_at: i64,
}

/// Which findings a listing wants; `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct FindingFilter<'a> {
    pub data_source_id: Option<&'a str>,
    pub gitlab_project_id: Option<i64>,
    pub status: Option<&'a str>,
    pub rule_id: Option<&'a str>,
    pub verification: Option<&'a str>,
    /// Part of a location's file path, matched without regard to ASCII case.
    pub path_contains: Option<&'a str>,
}

impl FindingFilter<'_> {
    /// `path_contains` as a LIKE pattern (escaped with `\`), lowercased like the column.
    fn path_pattern(&self) -> Option<String> {
        self.path_contains.map(|part| {
            let mut pattern = String::with_capacity(part.len() + 2);
            pattern.push('%');
            for c in part.to_ascii_lowercase().chars() {
                if matches!(c, '%' | '_' | '\\') {
                    pattern.push('\\');
                }
                pattern.push(c);
            }
            pattern.push('%');
            pattern
        })
    }
}

/// Where a finding was seen, with the repository (and so the data source) it was seen in.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PlacedFindingLocationRecord {
    #[sqlx(flatten)]
    pub location: FindingLocationRecord,
    pub resource_path: String,
    pub data_source_id: String,
    pub gitlab_project_id: i64,
}

/// A scan run's progress and outcome; `None` fields keep their stored value.
#[derive(Debug, Clone, Default)]
pub struct ScanRunUpdate<'a> {
    pub status: Option<&'a str>,
    pub progress_done: Option<i64>,
    pub progress_total: Option<i64>,
    pub progress_phase: Option<&'a str>,
    pub findings_new: Option<i64>,
    pub findings_total: Option<i64>,
    pub error: Option<&'a str>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

const SOURCE_COLUMNS: &str = "id, tenant_id, name, description, connection_id, config, \
     is_auto_scan_enabled, version, created_at, updated_at";
const RESOURCE_COLUMNS: &str = "id, data_source_id, gitlab_project_id, path, web_url, default_branch, \
     last_scanned_at, created_at, updated_at";
const RUN_COLUMNS: &str = "id, data_source_id, resource_id, kind, status, progress_done, progress_total, \
     progress_phase, findings_new, findings_total, error, job_id, created_at, started_at, finished_at";
const FINDING_COLUMNS: &str = "id, tenant_id, rule_id, rule_name, severity, value_hmac, preview, \
     fingerprint, status, remarks, verification, verified_at, first_seen_at, last_seen_at, updated_at";
const LOCATION_COLUMNS: &str = "finding_id, resource_id, file_path, commit_sha, line, author_name, \
     author_email, committed_at, link, scan_run_id, first_seen_at";
/// Findings asked for locations in one query: well under both backends' limits on parameters.
const LOCATION_BATCH: usize = 500;
/// The findings a [`FindingFilter`] selects; `$1` the tenant, then status, data source, GitLab
/// project, rule, verification and path pattern.
const FINDINGS_MATCHING: &str = "findings f WHERE f.tenant_id = $1 AND ($2 IS NULL OR f.status = $2) \
     AND ($5 IS NULL OR f.rule_id = $5) AND ($6 IS NULL OR f.verification = $6) \
     AND (($3 IS NULL AND $4 IS NULL AND $7 IS NULL) OR EXISTS (SELECT 1 FROM finding_locations l \
     JOIN scan_resources r ON r.id = l.resource_id WHERE l.finding_id = f.id \
     AND ($3 IS NULL OR r.data_source_id = $3) AND ($4 IS NULL OR r.gitlab_project_id = $4) \
     AND ($7 IS NULL OR LOWER(l.file_path) LIKE $7 ESCAPE '\\')))";
const FINDINGS_ORDER: &str = "f.first_seen_at DESC, f.id";

fn finding_columns() -> String {
    FINDING_COLUMNS
        .split(", ")
        .map(|c| format!("f.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    // --- data sources -------------------------------------------------------------------------

    /// Inserts a data source; a name taken in the tenant is [`StoreError::Conflict`].
    pub async fn insert_scan_data_source(
        &self,
        source: &ScanDataSourceRecord,
    ) -> Result<ScanDataSourceRecord> {
        let sql = format!(
            "INSERT INTO scan_data_sources ({SOURCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             RETURNING {SOURCE_COLUMNS}"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, ScanDataSourceRecord>(&sql)
            .bind(&source.id)
            .bind(&source.tenant_id)
            .bind(&source.name)
            .bind(&source.description)
            .bind(&source.connection_id)
            .bind(&source.config)
            .bind(source.is_auto_scan_enabled)
            .bind(source.version)
            .bind(source.created_at)
            .bind(source.updated_at)
            .fetch_one(pool)
            .await?),
        )
    }

    pub async fn scan_data_source(&self, tenant_id: &str, id: &str) -> Result<ScanDataSourceRecord> {
        let sql = format!("SELECT {SOURCE_COLUMNS} FROM scan_data_sources WHERE tenant_id = $1 AND id = $2");
        on_pool!(self, pool => sqlx::query_as::<_, ScanDataSourceRecord>(&sql)
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }

    /// The tenant's data sources, oldest first.
    pub async fn list_scan_data_sources(&self, tenant_id: &str) -> Result<Vec<ScanDataSourceRecord>> {
        let sql = format!(
            "SELECT {SOURCE_COLUMNS} FROM scan_data_sources WHERE tenant_id = $1 ORDER BY created_at, id"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, ScanDataSourceRecord>(&sql)
            .bind(tenant_id)
            .fetch_all(pool)
            .await?),
        )
    }

    /// Replaces what a person may change, if the row still has `expected_version`; `None` when it
    /// changed meanwhile. A taken name is [`StoreError::Conflict`].
    pub async fn update_scan_data_source(
        &self,
        source: &ScanDataSourceRecord,
        expected_version: i32,
    ) -> Result<Option<ScanDataSourceRecord>> {
        let sql = format!(
            "UPDATE scan_data_sources SET name = $1, description = $2, connection_id = $3, config = $4, \
             is_auto_scan_enabled = $5, version = $6, updated_at = $7 \
             WHERE tenant_id = $8 AND id = $9 AND version = $10 RETURNING {SOURCE_COLUMNS}"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, ScanDataSourceRecord>(&sql)
            .bind(&source.name)
            .bind(&source.description)
            .bind(&source.connection_id)
            .bind(&source.config)
            .bind(source.is_auto_scan_enabled)
            .bind(source.version)
            .bind(source.updated_at)
            .bind(&source.tenant_id)
            .bind(&source.id)
            .bind(expected_version)
            .fetch_optional(pool)
            .await?),
        )
    }

    /// Deletes a data source with its resources, runs and the locations found in its
    /// repositories; findings left without any location go too. False when it does not exist.
    pub async fn delete_scan_data_source(&self, tenant_id: &str, id: &str) -> Result<bool> {
        let deleted = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let deleted = sqlx::query("DELETE FROM scan_data_sources WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(
                "DELETE FROM findings WHERE tenant_id = $1 AND NOT EXISTS \
                 (SELECT 1 FROM finding_locations l WHERE l.finding_id = findings.id)",
            )
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            deleted
        });
        Ok(deleted > 0)
    }

    /// The names of the data sources that scan through one connection, so that a connection in
    /// use is not deleted from under them.
    pub async fn scan_data_source_names_of_connection(
        &self,
        tenant_id: &str,
        connection_id: &str,
    ) -> Result<Vec<String>> {
        Ok(on_pool!(self, pool => sqlx::query_scalar::<_, String>(
            "SELECT name FROM scan_data_sources WHERE tenant_id = $1 AND connection_id = $2 ORDER BY name",
        )
        .bind(tenant_id)
        .bind(connection_id)
        .fetch_all(pool)
        .await?))
    }

    // --- resources ----------------------------------------------------------------------------

    /// Records a repository a data source found, or refreshes its path, URL and default branch
    /// when it is already known (GitLab project ids survive renames and transfers).
    pub async fn upsert_scan_resource(&self, resource: &ScanResourceRecord) -> Result<ScanResourceRecord> {
        let sql = format!(
            "INSERT INTO scan_resources ({RESOURCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (data_source_id, gitlab_project_id) DO UPDATE SET path = excluded.path, \
             web_url = excluded.web_url, default_branch = excluded.default_branch, \
             updated_at = excluded.updated_at RETURNING {RESOURCE_COLUMNS}"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, ScanResourceRecord>(&sql)
            .bind(&resource.id)
            .bind(&resource.data_source_id)
            .bind(resource.gitlab_project_id)
            .bind(&resource.path)
            .bind(&resource.web_url)
            .bind(&resource.default_branch)
            .bind(resource.last_scanned_at)
            .bind(resource.created_at)
            .bind(resource.updated_at)
            .fetch_one(pool)
            .await?),
        )
    }

    /// Forgets the resources of a data source that its last discovery no longer found.
    pub async fn delete_scan_resources_except(
        &self,
        data_source_id: &str,
        keep_gitlab_project_ids: &[i64],
    ) -> Result<u64> {
        let rows = self.list_scan_resources(data_source_id).await?;
        let mut removed = 0;
        for row in rows
            .iter()
            .filter(|r| !keep_gitlab_project_ids.contains(&r.gitlab_project_id))
        {
            removed += on_pool!(self, pool => sqlx::query("DELETE FROM scan_resources WHERE id = $1")
                .bind(&row.id)
                .execute(pool)
                .await?
                .rows_affected());
        }
        Ok(removed)
    }

    /// The repositories of a data source, by path.
    pub async fn list_scan_resources(&self, data_source_id: &str) -> Result<Vec<ScanResourceRecord>> {
        let sql = format!(
            "SELECT {RESOURCE_COLUMNS} FROM scan_resources WHERE data_source_id = $1 ORDER BY path, id"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, ScanResourceRecord>(&sql)
            .bind(data_source_id)
            .fetch_all(pool)
            .await?),
        )
    }

    pub async fn scan_resource(&self, data_source_id: &str, id: &str) -> Result<ScanResourceRecord> {
        let sql =
            format!("SELECT {RESOURCE_COLUMNS} FROM scan_resources WHERE data_source_id = $1 AND id = $2");
        on_pool!(self, pool => sqlx::query_as::<_, ScanResourceRecord>(&sql)
            .bind(data_source_id)
            .bind(id)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }

    pub async fn set_scan_resource_scanned(&self, id: &str, at: i64) -> Result<()> {
        on_pool!(self, pool => sqlx::query("UPDATE scan_resources SET last_scanned_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(pool)
            .await
            .map(|_| ())?);
        Ok(())
    }

    // --- scan runs ----------------------------------------------------------------------------

    pub async fn insert_scan_run(&self, run: &ScanRunRecord) -> Result<ScanRunRecord> {
        let sql = format!(
            "INSERT INTO scan_runs ({RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             $13, $14, $15) RETURNING {RUN_COLUMNS}"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, ScanRunRecord>(&sql)
            .bind(&run.id)
            .bind(&run.data_source_id)
            .bind(&run.resource_id)
            .bind(&run.kind)
            .bind(&run.status)
            .bind(run.progress_done)
            .bind(run.progress_total)
            .bind(&run.progress_phase)
            .bind(run.findings_new)
            .bind(run.findings_total)
            .bind(&run.error)
            .bind(&run.job_id)
            .bind(run.created_at)
            .bind(run.started_at)
            .bind(run.finished_at)
            .fetch_one(pool)
            .await?))
    }

    pub async fn scan_run(&self, id: &str) -> Result<ScanRunRecord> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM scan_runs WHERE id = $1");
        on_pool!(self, pool => sqlx::query_as::<_, ScanRunRecord>(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }

    /// The runs of a data source, newest first.
    pub async fn list_scan_runs(&self, data_source_id: &str) -> Result<Vec<ScanRunRecord>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM scan_runs WHERE data_source_id = $1 ORDER BY created_at DESC, id DESC"
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, ScanRunRecord>(&sql)
            .bind(data_source_id)
            .fetch_all(pool)
            .await?))
    }

    pub async fn set_scan_run_job(&self, id: &str, job_id: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query("UPDATE scan_runs SET job_id = $1 WHERE id = $2")
            .bind(job_id)
            .bind(id)
            .execute(pool)
            .await
            .map(|_| ())?);
        Ok(())
    }

    pub async fn update_scan_run(&self, id: &str, update: &ScanRunUpdate<'_>) -> Result<ScanRunRecord> {
        let sql = format!(
            "UPDATE scan_runs SET status = COALESCE($1, status), progress_done = COALESCE($2, progress_done), \
             progress_total = COALESCE($3, progress_total), progress_phase = COALESCE($4, progress_phase), \
             findings_new = COALESCE($5, findings_new), findings_total = COALESCE($6, findings_total), \
             error = COALESCE($7, error), started_at = COALESCE($8, started_at), \
             finished_at = COALESCE($9, finished_at) WHERE id = $10 RETURNING {RUN_COLUMNS}"
        );
        on_pool!(self, pool => sqlx::query_as::<_, ScanRunRecord>(&sql)
            .bind(update.status)
            .bind(update.progress_done)
            .bind(update.progress_total)
            .bind(update.progress_phase)
            .bind(update.findings_new)
            .bind(update.findings_total)
            .bind(update.error)
            .bind(update.started_at)
            .bind(update.finished_at)
            .bind(id)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }

    // --- findings -----------------------------------------------------------------------------

    /// Records a finding, or marks an existing one (same tenant, rule and value HMAC) seen again.
    /// Answers the stored finding and whether this call created it.
    pub async fn upsert_finding(&self, finding: &FindingRecord) -> Result<(FindingRecord, bool)> {
        let sql = format!(
            "INSERT INTO findings ({FINDING_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
             $12, $13, $14, $15) ON CONFLICT (tenant_id, rule_id, value_hmac) DO UPDATE SET \
             last_seen_at = excluded.last_seen_at RETURNING {FINDING_COLUMNS}"
        );
        let row = on_pool!(self, pool => sqlx::query_as::<_, FindingRecord>(&sql)
            .bind(&finding.id)
            .bind(&finding.tenant_id)
            .bind(&finding.rule_id)
            .bind(&finding.rule_name)
            .bind(&finding.severity)
            .bind(&finding.value_hmac)
            .bind(&finding.preview)
            .bind(&finding.fingerprint)
            .bind(&finding.status)
            .bind(&finding.remarks)
            .bind(&finding.verification)
            .bind(finding.verified_at)
            .bind(finding.first_seen_at)
            .bind(finding.last_seen_at)
            .bind(finding.updated_at)
            .fetch_one(pool)
            .await?);
        let created = row.id == finding.id;
        Ok((row, created))
    }

    /// Adds where a finding was seen; a location already recorded is left as it is. True when
    /// it was new.
    pub async fn insert_finding_location(&self, location: &FindingLocationRecord) -> Result<bool> {
        let sql = format!(
            "INSERT INTO finding_locations ({LOCATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11) ON CONFLICT (finding_id, resource_id, file_path, commit_sha, line) DO NOTHING"
        );
        let inserted = on_pool!(self, pool => sqlx::query(&sql)
            .bind(&location.finding_id)
            .bind(&location.resource_id)
            .bind(&location.file_path)
            .bind(&location.commit_sha)
            .bind(location.line)
            .bind(&location.author_name)
            .bind(&location.author_email)
            .bind(location.committed_at)
            .bind(&location.link)
            .bind(&location.scan_run_id)
            .bind(location.first_seen_at)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(inserted > 0)
    }

    pub async fn finding(&self, tenant_id: &str, id: &str) -> Result<FindingRecord> {
        let sql = format!("SELECT {FINDING_COLUMNS} FROM findings WHERE tenant_id = $1 AND id = $2");
        on_pool!(self, pool => sqlx::query_as::<_, FindingRecord>(&sql)
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }

    /// The tenant's findings that match `filter`, newest first. A data source, project or path
    /// filter keeps the findings with at least one location that matches them all.
    pub async fn list_findings(
        &self,
        tenant_id: &str,
        filter: &FindingFilter<'_>,
    ) -> Result<Vec<FindingRecord>> {
        let sql = format!(
            "SELECT {} FROM {FINDINGS_MATCHING} ORDER BY {FINDINGS_ORDER}",
            finding_columns()
        );
        let pattern = filter.path_pattern();
        Ok(on_pool!(self, pool => sqlx::query_as::<_, FindingRecord>(&sql)
            .bind(tenant_id)
            .bind(filter.status)
            .bind(filter.data_source_id)
            .bind(filter.gitlab_project_id)
            .bind(filter.rule_id)
            .bind(filter.verification)
            .bind(pattern.as_deref())
            .fetch_all(pool)
            .await?))
    }

    /// One page of [`Store::list_findings`], and how many findings match in all.
    pub async fn list_findings_page(
        &self,
        tenant_id: &str,
        filter: &FindingFilter<'_>,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<FindingRecord>, u64)> {
        let pattern = filter.path_pattern();
        let pattern = pattern.as_deref();
        page!(
            self,
            FindingRecord,
            columns = finding_columns(),
            from = FINDINGS_MATCHING,
            order = FINDINGS_ORDER,
            binds = [
                tenant_id,
                filter.status,
                filter.data_source_id,
                filter.gitlab_project_id,
                filter.rule_id,
                filter.verification,
                pattern,
            ],
            offset = offset,
            limit = limit
        )
    }

    /// Every location of the given findings with its repository, oldest commit first (those
    /// without a commit time last). One query per [`LOCATION_BATCH`] findings.
    pub async fn finding_locations(
        &self,
        finding_ids: &[String],
    ) -> Result<Vec<PlacedFindingLocationRecord>> {
        let mut all = Vec::new();
        for batch in finding_ids.chunks(LOCATION_BATCH) {
            let placeholders = (1..=batch.len())
                .map(|n| format!("${n}"))
                .collect::<Vec<_>>()
                .join(", ");
            let columns = LOCATION_COLUMNS
                .split(", ")
                .map(|c| format!("l.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT {columns}, r.path AS resource_path, r.data_source_id, r.gitlab_project_id \
                 FROM finding_locations l JOIN scan_resources r ON r.id = l.resource_id \
                 WHERE l.finding_id IN ({placeholders}) \
                 ORDER BY l.committed_at IS NULL, l.committed_at, l.file_path, l.line, l.commit_sha"
            );
            let rows = on_pool!(self, pool => {
                let mut query = sqlx::query_as::<_, PlacedFindingLocationRecord>(&sql);
                for id in batch {
                    query = query.bind(id);
                }
                query.fetch_all(pool).await?
            });
            all.extend(rows);
        }
        Ok(all)
    }

    /// Records what a live check of a finding's token said.
    pub async fn set_finding_verification(&self, id: &str, verification: &str, at: i64) -> Result<()> {
        on_pool!(self, pool => sqlx::query("UPDATE findings SET verification = $1, verified_at = $2 WHERE id = $3")
            .bind(verification)
            .bind(at)
            .bind(id)
            .execute(pool)
            .await
            .map(|_| ())?);
        Ok(())
    }

    /// Every tenant's data sources with automatic scans whose latest full scan (else their
    /// creation) is at or before `before` and that have no scan queued or running, after
    /// `after_id` in id order: the ones a periodic full scan may be due for. Answers each source
    /// with the time of that latest full scan or creation.
    pub async fn auto_scan_sources_due(
        &self,
        before: i64,
        after_id: &str,
        limit: u32,
    ) -> Result<Vec<(ScanDataSourceRecord, i64)>> {
        let columns = SOURCE_COLUMNS
            .split(',')
            .map(|column| format!("d.{}", column.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns}, COALESCE((SELECT MAX(r.created_at) FROM scan_runs r \
               WHERE r.data_source_id = d.id AND r.kind = 'full'), d.created_at) AS last_full_scan_at \
             FROM scan_data_sources d \
             WHERE d.is_auto_scan_enabled = 1 AND d.id > $1 \
               AND NOT EXISTS (SELECT 1 FROM scan_runs q WHERE q.data_source_id = d.id \
                 AND q.status IN ('queued', 'scanning')) \
               AND COALESCE((SELECT MAX(r.created_at) FROM scan_runs r \
                 WHERE r.data_source_id = d.id AND r.kind = 'full'), d.created_at) <= $2 \
             ORDER BY d.id LIMIT $3"
        );
        let rows = on_pool!(self, pool => sqlx::query_as::<_, DueSourceRow>(&sql)
            .bind(after_id)
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?);
        Ok(rows
            .into_iter()
            .map(|row| (row.source, row.last_full_scan_at))
            .collect())
    }

    /// Sets a finding's triage status and remarks.
    pub async fn update_finding_status(
        &self,
        tenant_id: &str,
        id: &str,
        status: &str,
        remarks: Option<&str>,
        now: i64,
    ) -> Result<FindingRecord> {
        let sql = format!(
            "UPDATE findings SET status = $1, remarks = $2, updated_at = $3 WHERE tenant_id = $4 AND id = $5 \
             RETURNING {FINDING_COLUMNS}"
        );
        on_pool!(self, pool => sqlx::query_as::<_, FindingRecord>(&sql)
            .bind(status)
            .bind(remarks)
            .bind(now)
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(pool)
            .await?)
        .ok_or(StoreError::NotFound)
    }
}
