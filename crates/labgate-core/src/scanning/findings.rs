//! Findings: listing with their locations, triage, and export (JSON, CSV, SARIF 2.1.0). A
//! finding holds no secret: only the HMAC of its value and a preview of its first characters.

use std::collections::HashMap;

use labgate_proto::audit::{AuditAction, ResourceType};
use labgate_proto::pagination::{DEFAULT_LIMIT, MAX_LIMIT};
use labgate_proto::secret_scanning::{
    ExportFormat, FindingList, FindingLocationView, FindingStatus, FindingVerification, FindingView,
    UpdateFindingRequest,
};
use labgate_store::{FindingFilter, StoreError};
use serde_json::json;

use super::SecretScanning;
use super::model::{Finding, PlacedLocation};
use crate::audit::AuditEvent;
use crate::auth::{Access, Principal};
use crate::ids::{FindingId, ScanDataSourceId};
use crate::rows::ms;
use crate::timefmt::{format_opt, format_time};
use crate::{CoreError, Result};

/// Which findings a listing or export wants. An export takes every match and ignores the page.
#[derive(Debug, Clone, Default)]
pub struct FindingQuery {
    /// The GitLab project's numeric id.
    pub project_id: Option<String>,
    pub data_source_id: Option<String>,
    pub status: Option<FindingStatus>,
    /// The detection rule's id, e.g. `gitlab-pat`.
    pub rule: Option<String>,
    pub verification: Option<FindingVerification>,
    /// Part of a location's file path.
    pub path: Option<String>,
    pub offset: u64,
    /// Findings on the page; `None` is [`DEFAULT_LIMIT`].
    pub limit: Option<u32>,
}

/// A filter's parameters checked and typed; borrowed by the store's filter.
struct CheckedQuery {
    source: Option<ScanDataSourceId>,
    project: Option<i64>,
    rule: Option<String>,
    path: Option<String>,
}

impl CheckedQuery {
    fn filter<'a>(&'a self, query: &'a FindingQuery) -> FindingFilter<'a> {
        FindingFilter {
            data_source_id: self.source.as_ref().map(ScanDataSourceId::as_str),
            gitlab_project_id: self.project,
            status: query.status.map(FindingStatus::as_str),
            rule_id: self.rule.as_deref(),
            verification: query.verification.map(FindingVerification::as_str),
            path_contains: self.path.as_deref(),
        }
    }
}

/// The longest path fragment a filter takes.
const MAX_PATH_FILTER: usize = 1024;
/// The longest rule id a filter takes.
const MAX_RULE_FILTER: usize = 128;

/// An export: its media type and body.
#[derive(Debug, Clone)]
pub struct Export {
    pub content_type: &'static str,
    pub body: String,
}

impl SecretScanning {
    /// One page of the findings `query` selects, with how many match in all.
    pub async fn findings(&self, principal: &Principal, query: &FindingQuery) -> Result<FindingList> {
        principal.require(Access::Read)?;
        let checked = check(query)?;
        let (rows, total_count) = self
            .store
            .list_findings_page(
                principal.tenant_id.as_str(),
                &checked.filter(query),
                query.offset,
                query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
            )
            .await?;
        let findings: Vec<Finding> = rows
            .into_iter()
            .map(Finding::try_from)
            .collect::<std::result::Result<_, _>>()?;
        Ok(FindingList {
            findings: self.with_locations(findings).await?,
            total_count,
        })
    }

    /// Every finding `query` selects, for an export.
    async fn finding_views(&self, principal: &Principal, query: &FindingQuery) -> Result<Vec<FindingView>> {
        let checked = check(query)?;
        let rows = self
            .store
            .list_findings(principal.tenant_id.as_str(), &checked.filter(query))
            .await?;
        let findings: Vec<Finding> = rows
            .into_iter()
            .map(Finding::try_from)
            .collect::<std::result::Result<_, _>>()?;
        self.with_locations(findings).await
    }

    /// The findings with their locations, read in one query per batch of findings.
    async fn with_locations(&self, findings: Vec<Finding>) -> Result<Vec<FindingView>> {
        let ids: Vec<String> = findings.iter().map(|f| f.id.to_string()).collect();
        let mut by_finding: HashMap<String, Vec<FindingLocationView>> = HashMap::new();
        for row in self.store.finding_locations(&ids).await? {
            let placed = PlacedLocation::try_from(row)?;
            let location = &placed.location;
            by_finding
                .entry(location.finding_id.to_string())
                .or_default()
                .push(FindingLocationView {
                    resource_id: location.resource_id.to_string(),
                    resource_name: placed.resource_path.clone(),
                    data_source_id: placed.data_source_id.to_string(),
                    project_id: placed.gitlab_project_id.to_string(),
                    file: location.file_path.clone(),
                    line: location.line,
                    commit: location.commit.clone(),
                    author: location.author_name.clone(),
                    email: location.author_email.clone(),
                    date: format_opt(location.committed_at),
                    link: location.link.clone(),
                });
        }
        Ok(findings
            .into_iter()
            .map(|finding| {
                let locations = by_finding.remove(finding.id.as_str()).unwrap_or_default();
                finding_view(&finding, locations)
            })
            .collect())
    }

    /// Sets a finding's triage status and remarks.
    pub async fn update_finding(
        &self,
        principal: &Principal,
        id: &str,
        request: UpdateFindingRequest,
    ) -> Result<FindingView> {
        principal.require(Access::Write)?;
        let id = FindingId::parse(id).ok_or(CoreError::NotFound("finding"))?;
        let current = match self
            .store
            .finding(principal.tenant_id.as_str(), id.as_str())
            .await
        {
            Ok(row) => Finding::try_from(row)?,
            Err(StoreError::NotFound) => return Err(CoreError::NotFound("finding")),
            Err(other) => return Err(other.into()),
        };
        if request.remarks.as_ref().is_some_and(|r| r.chars().count() > 1024) {
            return Err(CoreError::validation(
                "remarks",
                "remarks are at most 1024 characters",
            ));
        }
        let status = request.status.unwrap_or(current.status);
        let remarks = request.remarks.clone().or(current.remarks.clone());
        let row = self
            .store
            .update_finding_status(
                principal.tenant_id.as_str(),
                id.as_str(),
                status.as_str(),
                remarks.as_deref(),
                ms(self.clock.now()),
            )
            .await?;
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::FindingUpdate,
                    resource_kind: ResourceType::Finding,
                    resource_id: Some(id.as_str()),
                    details: Some(json!({"from": current.status, "to": status})),
                },
            )
            .await?;
        let finding = Finding::try_from(row)?;
        let mut views = self.with_locations(vec![finding]).await?;
        views.pop().ok_or(CoreError::NotFound("finding"))
    }

    /// The findings `query` selects, as a document in `format`.
    pub async fn export_findings(
        &self,
        principal: &Principal,
        query: &FindingQuery,
        format: ExportFormat,
    ) -> Result<Export> {
        principal.require(Access::Read)?;
        let findings = self.finding_views(principal, query).await?;
        Ok(match format {
            ExportFormat::Json => Export {
                content_type: "application/json",
                body: serde_json::to_string_pretty(
                    &json!({"totalCount": findings.len(), "findings": findings}),
                )
                .map_err(CoreError::internal)?,
            },
            ExportFormat::Csv => Export {
                content_type: "text/csv; charset=utf-8",
                body: csv(&findings),
            },
            ExportFormat::Sarif => Export {
                content_type: "application/sarif+json",
                body: serde_json::to_string_pretty(&sarif(&findings)).map_err(CoreError::internal)?,
            },
        })
    }
}

/// The filter's parameters checked: a malformed one is refused rather than matching nothing.
fn check(query: &FindingQuery) -> Result<CheckedQuery> {
    let project =
        match query.project_id.as_deref() {
            Some(text) => Some(text.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
                CoreError::validation("projectId", "a GitLab project id is a positive number")
            })?),
            None => None,
        };
    let source = match query.data_source_id.as_deref() {
        Some(text) => match ScanDataSourceId::parse(text) {
            Some(id) => Some(id),
            // Answered like an unknown data source: a filter on something that cannot exist
            // is a mistake worth telling, not an empty list.
            None => return Err(CoreError::NotFound("scan data source")),
        },
        None => None,
    };
    let rule = match query.rule.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        Some(rule) if rule.len() > MAX_RULE_FILTER || rule.chars().any(char::is_control) => {
            return Err(CoreError::validation(
                "rule",
                "a rule id is at most 128 characters without control characters",
            ));
        }
        other => other.map(str::to_owned),
    };
    let path = match query.path.as_deref().filter(|p| !p.is_empty()) {
        Some(path) if path.len() > MAX_PATH_FILTER || path.chars().any(char::is_control) => {
            return Err(CoreError::validation(
                "path",
                "a path filter is at most 1024 characters without control characters",
            ));
        }
        other => other.map(str::to_owned),
    };
    Ok(CheckedQuery {
        source,
        project,
        rule,
        path,
    })
}

fn finding_view(finding: &Finding, locations: Vec<FindingLocationView>) -> FindingView {
    let first = locations.first();
    FindingView {
        id: finding.id.to_string(),
        rule: finding.rule_id.clone(),
        rule_name: finding.rule_name.clone(),
        severity: finding.severity.clone(),
        preview: finding.preview.clone(),
        fingerprint: finding.fingerprint.clone(),
        status: finding.status,
        remarks: finding.remarks.clone(),
        verification: finding.verification,
        file: first.map(|l| l.file.clone()).unwrap_or_default(),
        line: first.map_or(0, |l| l.line),
        commit: first.map(|l| l.commit.clone()).unwrap_or_default(),
        author: first.and_then(|l| l.author.clone()),
        date: first.and_then(|l| l.date.clone()),
        link: first.map(|l| l.link.clone()).unwrap_or_default(),
        data_source_id: first.map(|l| l.data_source_id.clone()),
        project_id: first.map(|l| l.project_id.clone()),
        first_seen_at: format_time(finding.first_seen_at),
        last_seen_at: format_time(finding.last_seen_at),
        updated_at: format_time(finding.updated_at),
        locations,
    }
}

/// A CSV field: quoted when it holds a separator, a quote or a line break; a leading formula
/// character is neutralised so that spreadsheets do not evaluate repository content.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

fn csv(findings: &[FindingView]) -> String {
    let mut out = String::from(
        "id,rule,severity,status,preview,fingerprint,repository,file,line,commit,author,date,link,remarks\n",
    );
    for finding in findings {
        let rows: Vec<Option<&FindingLocationView>> = if finding.locations.is_empty() {
            vec![None]
        } else {
            finding.locations.iter().map(Some).collect()
        };
        for location in rows {
            let fields = [
                finding.id.clone(),
                finding.rule.clone(),
                finding.severity.clone(),
                finding.status.as_str().to_owned(),
                finding.preview.clone(),
                finding.fingerprint.clone(),
                location.map(|l| l.resource_name.clone()).unwrap_or_default(),
                location.map(|l| l.file.clone()).unwrap_or_default(),
                location.map(|l| l.line.to_string()).unwrap_or_default(),
                location.map(|l| l.commit.clone()).unwrap_or_default(),
                location.and_then(|l| l.author.clone()).unwrap_or_default(),
                location.and_then(|l| l.date.clone()).unwrap_or_default(),
                location.map(|l| l.link.clone()).unwrap_or_default(),
                finding.remarks.clone().unwrap_or_default(),
            ];
            out.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
            out.push('\n');
        }
    }
    out
}

fn sarif_level(severity: &str) -> &'static str {
    match severity {
        "critical" | "high" => "error",
        "medium" => "warning",
        _ => "note",
    }
}

fn sarif(findings: &[FindingView]) -> serde_json::Value {
    let mut rules: Vec<serde_json::Value> = Vec::new();
    let mut seen_rules = std::collections::BTreeSet::new();
    for finding in findings {
        if seen_rules.insert(finding.rule.clone()) {
            rules.push(json!({
                "id": finding.rule,
                "name": finding.rule_name,
                "shortDescription": {"text": finding.rule_name},
                "defaultConfiguration": {"level": sarif_level(&finding.severity)},
            }));
        }
    }
    let results: Vec<serde_json::Value> = findings
        .iter()
        .map(|finding| {
            let locations: Vec<serde_json::Value> = finding
                .locations
                .iter()
                .map(|l| {
                    json!({
                        "physicalLocation": {
                            "artifactLocation": {"uri": l.file, "uriBaseId": l.resource_name},
                            "region": {"startLine": l.line.max(1)},
                        },
                        "properties": {"commit": l.commit, "link": l.link, "author": l.author, "date": l.date},
                    })
                })
                .collect();
            json!({
                "ruleId": finding.rule,
                "level": sarif_level(&finding.severity),
                "message": {"text": format!("{} ({})", finding.rule_name, finding.preview)},
                "locations": locations,
                "partialFingerprints": {"labgate/v1": finding.fingerprint},
                "properties": {"status": finding.status, "findingId": finding.id},
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "labgate", "informationUri": "https://gitlab.com/labgate/labgate", "rules": rules}},
            "results": results,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
    }
}
