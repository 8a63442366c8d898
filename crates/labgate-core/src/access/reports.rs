//! The read side of access sync: each source's accounts, groups, projects and effective grants as
//! its newest successful sync saw them, what changed from one sync to the next, and exports of
//! accounts and grants that read the store a page at a time however large the snapshot.

use std::collections::HashMap;
use std::sync::Arc;

use labgate_proto::access_reports::{
    AccessAccountKind, AccessAccountList, AccessAccountRef, AccessAccountState, AccessAccountView,
    AccessCustomRoleView, AccessDiffCounts, AccessDiffView, AccessExportFormat, AccessGrantChangeView,
    AccessGrantList, AccessGrantPathKind, AccessGrantPathView, AccessGrantView, AccessIdentityView,
    AccessLevelValue, AccessResourceKind, AccessResourceList, AccessResourceRef, AccessResourceView,
    AccessRoleView, AccessSyncRef, AccessVisibility, DEFAULT_DIFF_LIMIT, MAX_DIFF_LIMIT,
};
use labgate_store::{AccessSourceRecord, AccessSyncRunRecord, Store};
use serde::Serialize;
use time::OffsetDateTime;

use super::effective::{Grant, GrantPath, Hierarchy};
use super::grants::{GrantReader, RunGrants};
use super::hooks::{Delivery, delivery_of};
use super::model::{
    AccessLevel, Account, AccountKind, AccountState, GitLabGroupId, GitLabProjectId, GitLabUserId, Group,
    Project, Resource, Role, Visibility,
};
use super::snapshot::{account_from_record, group_from_record, project_from_record};
use crate::auth::{Access, Principal};
use crate::clock::Clock;
use crate::ids::{AccessSourceId, AccessSyncRunId};
use crate::rows::{Parsed, opt_time, time, unsigned};
use crate::timefmt::format_opt;
use crate::{CoreError, Result, StoredValueError};

/// Rows an export reads from the store at a time.
const EXPORT_BATCH: u32 = 1_000;
/// The longest search text or username a filter takes.
const MAX_SEARCH: usize = 255;
/// The longest full path a filter takes (GitLab's own limit is lower).
const MAX_FULL_PATH: usize = 1_024;

/// A sync run's status as the sync writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Queued,
    Syncing,
    Succeeded,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Syncing => "syncing",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<RunStatus> {
        [
            RunStatus::Queued,
            RunStatus::Syncing,
            RunStatus::Succeeded,
            RunStatus::Failed,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

/// One sync of a source, as pages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    pub id: AccessSyncRunId,
    pub status: RunStatus,
    pub phase: Option<String>,
    pub done: u64,
    pub total: Option<u64>,
    pub request_count: u64,
    pub error: Option<String>,
    pub created_at: OffsetDateTime,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
}

/// What an access source covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceScope {
    /// A whole self-managed instance.
    Instance,
    /// One top-level group, by its full path.
    Group(String),
}

/// An access source with its newest sync and its newest successful one (whose snapshot the
/// listings read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSummary {
    pub id: AccessSourceId,
    pub name: String,
    pub connection_id: String,
    pub scope: SourceScope,
    pub created_at: OffsetDateTime,
    pub last_run: Option<RunSummary>,
    pub last_success: Option<RunSummary>,
    /// How changes reach labgate between full syncs.
    pub delivery: Delivery,
}

/// Which grants a listing or export wants; each `None` does not filter.
#[derive(Debug, Clone, Default)]
pub struct GrantFilter {
    /// An account's username.
    pub account: Option<String>,
    /// A group's or project's full path.
    pub resource: Option<String>,
}

/// The groups and projects of a source's newest successful sync, for drawing the tree.
#[derive(Debug, Clone, Default)]
pub struct ResourceTree {
    pub last_sync: Option<AccessSyncRef>,
    pub groups: Vec<Group>,
    pub projects: Vec<Project>,
}

/// An export: its media type, a file name for `Content-Disposition`, and its body in chunks.
pub struct Export {
    pub content_type: &'static str,
    pub file_name: String,
    pub chunks: ExportChunks,
}

/// What an export lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExportList {
    Accounts,
    Grants,
}

/// Where an export's rows come from; none when the source has no successful sync.
enum ExportPart {
    Accounts {
        run: String,
        search: Option<String>,
        after: Option<(String, i64)>,
    },
    /// Every grant, a batch of accounts at a time.
    AllGrants {
        grants: Arc<RunGrants>,
        after: Option<GitLabUserId>,
    },
    /// The grants a filter selects, computed when the export began (one account's or one
    /// resource's: at most one per resource or per account).
    SomeGrants {
        grants: Arc<RunGrants>,
        selected: std::vec::IntoIter<Grant>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExportStage {
    Head,
    Rows,
    Tail,
    Done,
}

/// An export's body, read from the store [`EXPORT_BATCH`] rows at a time.
pub struct ExportChunks {
    reports: AccessReports,
    list: ExportList,
    last_sync: Option<AccessSyncRef>,
    total: u64,
    format: AccessExportFormat,
    part: Option<ExportPart>,
    stage: ExportStage,
    first_row: bool,
}

impl ExportChunks {
    /// The next chunk of the body; `None` once it is all given. After an error there is no more.
    pub async fn next_chunk(&mut self) -> Result<Option<String>> {
        let result = self.advance().await;
        if result.is_err() {
            self.stage = ExportStage::Done;
        }
        result
    }

    async fn advance(&mut self) -> Result<Option<String>> {
        match self.stage {
            ExportStage::Done => Ok(None),
            ExportStage::Head => {
                self.stage = if self.part.is_some() {
                    ExportStage::Rows
                } else {
                    ExportStage::Tail
                };
                Ok(Some(self.head()?))
            }
            ExportStage::Tail => {
                self.stage = ExportStage::Done;
                Ok(Some(match self.format {
                    AccessExportFormat::Json => "]}\n".to_owned(),
                    AccessExportFormat::Csv => String::new(),
                }))
            }
            ExportStage::Rows => {
                let Some(part) = self.part.as_mut() else {
                    self.stage = ExportStage::Tail;
                    return Ok(Some(String::new()));
                };
                let chunk = match part {
                    ExportPart::Accounts { run, search, after } => {
                        let rows = self
                            .reports
                            .store
                            .access_accounts_after(
                                run,
                                search.as_deref(),
                                after.as_ref().map(|(name, id)| (name.as_str(), *id)),
                                EXPORT_BATCH,
                            )
                            .await?;
                        if let Some(last) = rows.last() {
                            *after = Some((last.username.clone(), last.gitlab_user_id));
                        }
                        if rows.len() < EXPORT_BATCH as usize {
                            self.stage = ExportStage::Tail;
                        }
                        let views = rows
                            .iter()
                            .map(|row| account_from_record(row).map(|account| account_view(&account)))
                            .collect::<Parsed<Vec<_>>>()?;
                        let mut out = String::new();
                        for view in &views {
                            match self.format {
                                AccessExportFormat::Json => push_json(&mut out, &mut self.first_row, view)?,
                                AccessExportFormat::Csv => out.push_str(&account_csv_row(view)),
                            }
                        }
                        out
                    }
                    ExportPart::AllGrants { grants, after } => {
                        let (batch, last) = self
                            .reports
                            .grants
                            .accounts_after(grants, *after, u64::from(EXPORT_BATCH))
                            .await?;
                        *after = last;
                        if last.is_none() {
                            self.stage = ExportStage::Tail;
                        }
                        let views = self.reports.grant_views(grants, &batch).await?;
                        grant_rows(self.format, &mut self.first_row, &views)?
                    }
                    ExportPart::SomeGrants { grants, selected } => {
                        let batch: Vec<Grant> = selected.by_ref().take(EXPORT_BATCH as usize).collect();
                        if selected.len() == 0 {
                            self.stage = ExportStage::Tail;
                        }
                        let views = self.reports.grant_views(grants, &batch).await?;
                        grant_rows(self.format, &mut self.first_row, &views)?
                    }
                };
                Ok(Some(chunk))
            }
        }
    }

    fn head(&self) -> Result<String> {
        let list = match self.list {
            ExportList::Accounts => "accounts",
            ExportList::Grants => "grants",
        };
        Ok(match self.format {
            AccessExportFormat::Json => format!(
                "{{\"lastSync\":{},\"totalCount\":{},\"{list}\":[",
                serde_json::to_string(&self.last_sync).map_err(CoreError::internal)?,
                self.total
            ),
            AccessExportFormat::Csv => match self.list {
                ExportList::Accounts => ACCOUNT_CSV_HEADER.to_owned(),
                ExportList::Grants => GRANT_CSV_HEADER.to_owned(),
            },
        })
    }
}

fn grant_rows(format: AccessExportFormat, first: &mut bool, views: &[AccessGrantView]) -> Result<String> {
    let mut out = String::new();
    for view in views {
        match format {
            AccessExportFormat::Json => push_json(&mut out, first, view)?,
            AccessExportFormat::Csv => out.push_str(&grant_csv_row(view)),
        }
    }
    Ok(out)
}

fn push_json(out: &mut String, first: &mut bool, value: &impl Serialize) -> Result<()> {
    if !*first {
        out.push(',');
    }
    *first = false;
    out.push_str(&serde_json::to_string(value).map_err(CoreError::internal)?);
    Ok(())
}

const ACCOUNT_CSV_HEADER: &str =
    "id,username,name,kind,state,is_admin,email,identities,last_sign_in_at,last_activity_on\n";
const GRANT_CSV_HEADER: &str = "account_id,account,resource_kind,resource_id,resource,access_level,\
access_level_name,custom_role,path,via,shared_at,capped_at,expires_at\n";

/// A CSV field, quoted when it must be, and with a leading `'` where a spreadsheet would read a
/// formula: GitLab names and paths are chosen by users.
pub fn csv_field(value: &str) -> String {
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

fn csv_row(fields: &[String]) -> String {
    let mut row = fields
        .iter()
        .map(|field| csv_field(field))
        .collect::<Vec<_>>()
        .join(",");
    row.push('\n');
    row
}

fn account_csv_row(account: &AccessAccountView) -> String {
    csv_row(&[
        account.id.to_string(),
        account.username.clone(),
        account.name.clone(),
        account.kind.as_str().to_owned(),
        account.state.as_str().to_owned(),
        account
            .is_admin
            .map(|admin| admin.to_string())
            .unwrap_or_default(),
        account.email.clone().unwrap_or_default(),
        account
            .identities
            .iter()
            .map(|identity| format!("{}:{}", identity.provider, identity.extern_uid))
            .collect::<Vec<_>>()
            .join(";"),
        account.last_sign_in_at.clone().unwrap_or_default(),
        account.last_activity_on.clone().unwrap_or_default(),
    ])
}

fn ref_path(reference: Option<&AccessResourceRef>) -> String {
    reference.map_or_else(String::new, |r| {
        r.full_path.clone().unwrap_or_else(|| format!("#{}", r.id))
    })
}

fn grant_csv_row(grant: &AccessGrantView) -> String {
    csv_row(&[
        grant.account.id.to_string(),
        grant.account.username.clone().unwrap_or_default(),
        grant.resource.kind.as_str().to_owned(),
        grant.resource.id.to_string(),
        ref_path(Some(&grant.resource)),
        grant.access_level.value.to_string(),
        grant.access_level.name.clone(),
        grant
            .access_level
            .custom_role
            .as_ref()
            .map(|role| role.name.clone())
            .unwrap_or_default(),
        grant.path.kind.as_str().to_owned(),
        ref_path(grant.path.via.as_ref()),
        ref_path(grant.path.shared_at.as_ref()),
        grant
            .path
            .capped_at
            .as_ref()
            .map(|cap| cap.name.clone())
            .unwrap_or_default(),
        grant.expires_at.clone().unwrap_or_default(),
    ])
}

/// A grant filter resolved against a run: the account and resource it names, or nothing when it
/// names an account or resource the run has not.
#[derive(Debug, Clone, Copy)]
enum CheckedGrantFilter {
    Matching {
        account: Option<GitLabUserId>,
        resource: Option<Resource>,
    },
    Nothing,
}

/// Usernames and full paths of the ids grants hold.
#[derive(Debug, Default)]
struct Names {
    users: HashMap<GitLabUserId, String>,
    groups: HashMap<GitLabGroupId, String>,
    projects: HashMap<GitLabProjectId, String>,
}

impl Names {
    /// Adds the names a run saw, keeping names already known.
    fn add_run(&mut self, accounts: &[Account], hierarchy: &Hierarchy) {
        for account in accounts {
            self.users
                .entry(account.id)
                .or_insert_with(|| account.username.clone());
        }
        for group in hierarchy.groups() {
            self.groups
                .entry(group.id)
                .or_insert_with(|| group.full_path.clone());
        }
        for project in hierarchy.projects() {
            self.projects
                .entry(project.id)
                .or_insert_with(|| project.full_path.clone());
        }
    }

    fn resource(&self, resource: Resource) -> AccessResourceRef {
        match resource {
            Resource::Group(id) => AccessResourceRef {
                kind: AccessResourceKind::Group,
                id: id.0,
                full_path: self.groups.get(&id).cloned(),
            },
            Resource::Project(id) => AccessResourceRef {
                kind: AccessResourceKind::Project,
                id: id.0,
                full_path: self.projects.get(&id).cloned(),
            },
        }
    }

    fn grant(&self, grant: &Grant) -> AccessGrantView {
        let path = match grant.path {
            GrantPath::Direct => AccessGrantPathView {
                kind: AccessGrantPathKind::Direct,
                via: None,
                shared_at: None,
                capped_at: None,
            },
            GrantPath::Inherited { via } => AccessGrantPathView {
                kind: AccessGrantPathKind::Inherited,
                via: Some(self.resource(Resource::Group(via))),
                shared_at: None,
                capped_at: None,
            },
            GrantPath::Shared {
                via,
                shared_at,
                capped_at,
            } => AccessGrantPathView {
                kind: AccessGrantPathKind::Shared,
                via: Some(self.resource(Resource::Group(via))),
                shared_at: Some(self.resource(shared_at)),
                capped_at: Some(level_value(capped_at)),
            },
        };
        AccessGrantView {
            account: AccessAccountRef {
                id: grant.account.0,
                username: self.users.get(&grant.account).cloned(),
            },
            resource: self.resource(grant.resource),
            access_level: role_view(&grant.role),
            path,
            expires_at: grant.expires_at.map(|date| date.to_string()),
        }
    }
}

pub fn level_value(level: AccessLevel) -> AccessLevelValue {
    AccessLevelValue {
        value: level.number(),
        name: level.name().to_owned(),
    }
}

fn role_view(role: &Role) -> AccessRoleView {
    AccessRoleView {
        value: role.level.number(),
        name: role.level.name().to_owned(),
        custom_role: role.custom.as_ref().map(|custom| AccessCustomRoleView {
            id: custom.id,
            name: custom.name.clone(),
        }),
    }
}

fn account_view(account: &Account) -> AccessAccountView {
    AccessAccountView {
        id: account.id.0,
        username: account.username.clone(),
        name: account.name.clone(),
        kind: match account.kind {
            AccountKind::Human => AccessAccountKind::Human,
            AccountKind::Bot => AccessAccountKind::Bot,
            AccountKind::ServiceAccount => AccessAccountKind::ServiceAccount,
        },
        state: match account.state {
            AccountState::Active => AccessAccountState::Active,
            AccountState::Blocked => AccessAccountState::Blocked,
            AccountState::LdapBlocked => AccessAccountState::LdapBlocked,
            AccountState::BlockedPendingApproval => AccessAccountState::BlockedPendingApproval,
            AccountState::Deactivated => AccessAccountState::Deactivated,
            AccountState::Banned => AccessAccountState::Banned,
            AccountState::PendingInvite => AccessAccountState::PendingInvite,
        },
        is_admin: account.admin,
        email: account.email.clone(),
        identities: account
            .identities
            .iter()
            .map(|identity| AccessIdentityView {
                provider: identity.provider.clone(),
                extern_uid: identity.extern_uid.clone(),
            })
            .collect(),
        last_sign_in_at: format_opt(account.last_sign_in_at),
        last_activity_on: account.last_activity_on.map(|date| date.to_string()),
    }
}

fn visibility(value: Visibility) -> AccessVisibility {
    match value {
        Visibility::Private => AccessVisibility::Private,
        Visibility::Internal => AccessVisibility::Internal,
        Visibility::Public => AccessVisibility::Public,
    }
}

fn invalid(column: &'static str, value: impl ToString) -> StoredValueError {
    StoredValueError {
        column,
        value: value.to_string(),
    }
}

fn run_summary(row: &AccessSyncRunRecord) -> Parsed<RunSummary> {
    Ok(RunSummary {
        id: AccessSyncRunId::from_stored(row.id.clone()),
        status: RunStatus::parse(&row.status)
            .ok_or_else(|| invalid("access_sync_runs.status", &row.status))?,
        phase: row.progress_phase.clone(),
        done: unsigned("access_sync_runs.progress_done", row.progress_done)?,
        total: row
            .progress_total
            .map(|total| unsigned("access_sync_runs.progress_total", total))
            .transpose()?,
        request_count: unsigned("access_sync_runs.request_count", row.request_count)?,
        error: row.error.clone(),
        created_at: time("access_sync_runs.created_at", row.created_at)?,
        started_at: opt_time("access_sync_runs.started_at", row.started_at)?,
        finished_at: opt_time("access_sync_runs.finished_at", row.finished_at)?,
    })
}

fn sync_ref(run: &AccessSyncRunRecord) -> Parsed<AccessSyncRef> {
    Ok(AccessSyncRef {
        id: run.id.clone(),
        finished_at: format_opt(opt_time("access_sync_runs.finished_at", run.finished_at)?),
    })
}

/// The optional search text, trimmed; empty is no search.
fn search_text(field: &'static str, text: Option<&str>, max: usize) -> Result<Option<String>> {
    match text.map(str::trim).filter(|text| !text.is_empty()) {
        Some(text) if text.chars().count() > max || text.chars().any(char::is_control) => {
            Err(CoreError::validation(
                field,
                format!("at most {max} characters without control characters"),
            ))
        }
        other => Ok(other.map(str::to_owned)),
    }
}

fn source_id(text: Option<&str>) -> Result<AccessSourceId> {
    let text = text
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .ok_or_else(|| {
            CoreError::validation("sourceId", "sourceId is required: the access source to read")
        })?;
    AccessSourceId::parse(text).ok_or_else(|| CoreError::validation("sourceId", "sourceId must be a UUID"))
}

/// Reads what access syncs stored. Every call is tenant-scoped and needs the read role.
#[derive(Clone)]
pub struct AccessReports {
    store: Store,
    clock: Arc<dyn Clock>,
    grants: GrantReader,
}

impl AccessReports {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> AccessReports {
        AccessReports {
            grants: GrantReader::new(store.clone()),
            store,
            clock,
        }
    }

    async fn source_record(&self, principal: &Principal, id: &AccessSourceId) -> Result<AccessSourceRecord> {
        self.store
            .access_source(principal.tenant_id.as_str(), id.as_str())
            .await
            .map_err(|error| match error {
                labgate_store::StoreError::NotFound => CoreError::NotFound("access source"),
                other => other.into(),
            })
    }

    async fn summary(&self, record: AccessSourceRecord) -> Result<SourceSummary> {
        let last_run = self
            .store
            .list_access_sync_runs(&record.id)
            .await?
            .first()
            .map(run_summary)
            .transpose()?;
        let last_success = self
            .store
            .previous_succeeded_access_sync_run(&record.id, i64::MAX)
            .await?
            .as_ref()
            .map(run_summary)
            .transpose()?;
        let delivery = Delivery::or_unrecorded(
            self.store
                .access_hook_secret(&record.tenant_id, &record.id)
                .await?
                .map(delivery_of),
        );
        let scope = match (record.scope_kind.as_str(), record.scope_full_path) {
            ("instance", _) => SourceScope::Instance,
            ("group", Some(path)) => SourceScope::Group(path),
            (kind, _) => return Err(invalid("access_sources.scope_kind", kind).into()),
        };
        Ok(SourceSummary {
            id: AccessSourceId::from_stored(record.id),
            name: record.name,
            connection_id: record.connection_id,
            scope,
            created_at: time("access_sources.created_at", record.created_at)?,
            last_run,
            last_success,
            delivery,
        })
    }

    /// The tenant's access sources, oldest first, each with its newest sync and its newest
    /// successful one.
    pub async fn sources(&self, principal: &Principal) -> Result<Vec<SourceSummary>> {
        principal.require(Access::Read)?;
        let mut records = Vec::new();
        loop {
            let (page, total) = self
                .store
                .list_access_sources(
                    principal.tenant_id.as_str(),
                    records.len() as u64,
                    labgate_proto::pagination::MAX_LIMIT,
                )
                .await?;
            let empty = page.is_empty();
            records.extend(page);
            if empty || records.len() as u64 >= total {
                break;
            }
        }
        let mut sources = Vec::with_capacity(records.len());
        for record in records {
            sources.push(self.summary(record).await?);
        }
        Ok(sources)
    }

    /// One source with its newest syncs.
    pub async fn source(&self, principal: &Principal, id: &str) -> Result<SourceSummary> {
        principal.require(Access::Read)?;
        let id = AccessSourceId::parse(id).ok_or(CoreError::NotFound("access source"))?;
        let record = self.source_record(principal, &id).await?;
        self.summary(record).await
    }

    /// A source's syncs, newest first, at most `limit`.
    pub async fn runs(&self, principal: &Principal, id: &str, limit: usize) -> Result<Vec<RunSummary>> {
        principal.require(Access::Read)?;
        let id = AccessSourceId::parse(id).ok_or(CoreError::NotFound("access source"))?;
        let record = self.source_record(principal, &id).await?;
        self.store
            .list_access_sync_runs(&record.id)
            .await?
            .iter()
            .take(limit)
            .map(|row| run_summary(row).map_err(CoreError::from))
            .collect()
    }

    /// The newest successful run of a source named by the caller (checked and tenant-scoped).
    async fn latest(
        &self,
        principal: &Principal,
        source: Option<&str>,
    ) -> Result<Option<(AccessSyncRunRecord, AccessSyncRef)>> {
        principal.require(Access::Read)?;
        let id = source_id(source)?;
        let record = self.source_record(principal, &id).await?;
        let Some(run) = self
            .store
            .previous_succeeded_access_sync_run(&record.id, i64::MAX)
            .await?
        else {
            return Ok(None);
        };
        let reference = sync_ref(&run)?;
        Ok(Some((run, reference)))
    }

    /// A page of the accounts of the source's newest successful sync, by username.
    pub async fn accounts(
        &self,
        principal: &Principal,
        source: Option<&str>,
        search: Option<&str>,
        offset: u64,
        limit: u32,
    ) -> Result<AccessAccountList> {
        let search = search_text("search", search, MAX_SEARCH)?;
        let Some((run, last_sync)) = self.latest(principal, source).await? else {
            return Ok(AccessAccountList {
                accounts: Vec::new(),
                total_count: 0,
                last_sync: None,
            });
        };
        let (rows, total_count) = self
            .store
            .list_access_accounts(&run.id, search.as_deref(), offset, limit)
            .await?;
        let accounts = rows
            .iter()
            .map(|row| account_from_record(row).map(|account| account_view(&account)))
            .collect::<Parsed<Vec<_>>>()?;
        Ok(AccessAccountList {
            accounts,
            total_count,
            last_sync: Some(last_sync),
        })
    }

    async fn check_grant_filter(&self, run_id: &str, filter: &GrantFilter) -> Result<CheckedGrantFilter> {
        let account = search_text("account", filter.account.as_deref(), MAX_SEARCH)?;
        let resource = search_text("resource", filter.resource.as_deref(), MAX_FULL_PATH)?;
        let account = match account {
            Some(username) => match self.store.access_account_by_username(run_id, &username).await? {
                Some(account) => Some(GitLabUserId(unsigned(
                    "access_accounts.gitlab_user_id",
                    account.gitlab_user_id,
                )?)),
                None => return Ok(CheckedGrantFilter::Nothing),
            },
            None => None,
        };
        let resource = match resource {
            Some(path) => match self
                .store
                .access_resource_by_path(run_id, path.trim_matches('/'))
                .await?
            {
                Some((kind, id)) => Some(match AccessResourceKind::parse(&kind) {
                    Some(AccessResourceKind::Group) => {
                        Resource::Group(GitLabGroupId(unsigned("access.resource_id", id)?))
                    }
                    Some(AccessResourceKind::Project) => {
                        Resource::Project(GitLabProjectId(unsigned("access.resource_id", id)?))
                    }
                    None => return Err(invalid("access.kind", kind).into()),
                }),
                None => return Ok(CheckedGrantFilter::Nothing),
            },
            None => None,
        };
        Ok(CheckedGrantFilter::Matching { account, resource })
    }

    /// The grants a filter naming an account or a resource selects, in account, then resource
    /// order; `None` for a filter naming neither (every grant, read a page at a time).
    async fn selected_grants(
        &self,
        run: &RunGrants,
        filter: CheckedGrantFilter,
    ) -> Result<Option<Vec<Grant>>> {
        Ok(match filter {
            CheckedGrantFilter::Nothing => Some(Vec::new()),
            CheckedGrantFilter::Matching {
                account: None,
                resource: None,
            } => None,
            CheckedGrantFilter::Matching {
                account: Some(account),
                resource: None,
            } => Some(self.grants.of_account(run, account).await?),
            CheckedGrantFilter::Matching {
                account,
                resource: Some(resource),
            } => {
                let mut grants = self.grants.on_resource(run, resource).await?;
                if let Some(account) = account {
                    grants.retain(|grant| grant.account == account);
                }
                Some(grants)
            }
        })
    }

    /// Grants of a run as views, with the usernames and full paths they refer to.
    async fn grant_views(&self, run: &RunGrants, grants: &[Grant]) -> Result<Vec<AccessGrantView>> {
        let mut users: Vec<i64> = grants
            .iter()
            .map(|grant| crate::rows::signed(grant.account.0))
            .collect();
        users.sort_unstable();
        users.dedup();
        let mut names = Names::default();
        for (id, username) in self.store.access_usernames(run.run_id(), &users).await? {
            names.users.insert(
                GitLabUserId(unsigned("access_accounts.gitlab_user_id", id)?),
                username,
            );
        }
        let hierarchy = run.hierarchy();
        let mut note = |resource: Resource| match resource {
            Resource::Group(id) => {
                if let Some(group) = hierarchy.group(id) {
                    names.groups.entry(id).or_insert_with(|| group.full_path.clone());
                }
            }
            Resource::Project(id) => {
                if let Some(project) = hierarchy.project(id) {
                    names
                        .projects
                        .entry(id)
                        .or_insert_with(|| project.full_path.clone());
                }
            }
        };
        for grant in grants {
            note(grant.resource);
            match grant.path {
                GrantPath::Direct => {}
                GrantPath::Inherited { via } => note(Resource::Group(via)),
                GrantPath::Shared { via, shared_at, .. } => {
                    note(Resource::Group(via));
                    note(shared_at);
                }
            }
        }
        Ok(grants.iter().map(|grant| names.grant(grant)).collect())
    }

    /// A page of the effective grants of the source's newest successful sync, by account then
    /// resource. A filter naming an account or resource the sync did not see matches nothing.
    pub async fn grants(
        &self,
        principal: &Principal,
        source: Option<&str>,
        filter: &GrantFilter,
        offset: u64,
        limit: u32,
    ) -> Result<AccessGrantList> {
        search_text("account", filter.account.as_deref(), MAX_SEARCH)?;
        search_text("resource", filter.resource.as_deref(), MAX_FULL_PATH)?;
        let Some((run, last_sync)) = self.latest(principal, source).await? else {
            return Ok(AccessGrantList {
                grants: Vec::new(),
                total_count: 0,
                last_sync: None,
            });
        };
        let checked = self.check_grant_filter(&run.id, filter).await?;
        let computed = self.grants.run(&run.id).await?;
        let (page, total_count) = match self.selected_grants(&computed, checked).await? {
            Some(selected) => {
                let total = selected.len() as u64;
                let page: Vec<Grant> = selected
                    .into_iter()
                    .skip(usize::try_from(offset).unwrap_or(usize::MAX))
                    .take(limit as usize)
                    .collect();
                (page, total)
            }
            None => (
                self.grants.page(&computed, offset, limit).await?,
                computed.total(),
            ),
        };
        Ok(AccessGrantList {
            grants: self.grant_views(&computed, &page).await?,
            total_count,
            last_sync: Some(last_sync),
        })
    }

    /// A page of the groups and projects of the source's newest successful sync, by full path.
    pub async fn resources(
        &self,
        principal: &Principal,
        source: Option<&str>,
        kind: Option<AccessResourceKind>,
        search: Option<&str>,
        offset: u64,
        limit: u32,
    ) -> Result<AccessResourceList> {
        let search = search_text("search", search, MAX_SEARCH)?;
        let Some((run, last_sync)) = self.latest(principal, source).await? else {
            return Ok(AccessResourceList {
                resources: Vec::new(),
                total_count: 0,
                last_sync: None,
            });
        };
        let (rows, total_count) = self
            .store
            .list_access_resources(
                &run.id,
                kind.map(AccessResourceKind::as_str),
                search.as_deref(),
                offset,
                limit,
            )
            .await?;
        let resources = rows
            .into_iter()
            .map(|row| -> Parsed<AccessResourceView> {
                let kind =
                    AccessResourceKind::parse(&row.kind).ok_or_else(|| invalid("access.kind", &row.kind))?;
                Ok(AccessResourceView {
                    kind,
                    id: unsigned("access.resource_id", row.id)?,
                    name: row.name,
                    full_path: row.full_path,
                    parent: row
                        .parent_id
                        .map(|id| -> Parsed<AccessResourceRef> {
                            Ok(AccessResourceRef {
                                kind: AccessResourceKind::Group,
                                id: unsigned("access.parent_id", id)?,
                                full_path: row.parent_full_path.clone(),
                            })
                        })
                        .transpose()?,
                    visibility: Visibility::parse(&row.visibility)
                        .map(visibility)
                        .ok_or_else(|| invalid("access.visibility", &row.visibility))?,
                })
            })
            .collect::<Parsed<Vec<_>>>()?;
        Ok(AccessResourceList {
            resources,
            total_count,
            last_sync: Some(last_sync),
        })
    }

    /// Every group and project of the source's newest successful sync.
    pub async fn resource_tree(&self, principal: &Principal, source: &str) -> Result<ResourceTree> {
        let Some((run, last_sync)) = self.latest(principal, Some(source)).await? else {
            return Ok(ResourceTree::default());
        };
        let (groups, projects) = self.store.access_groups_and_projects(&run.id).await?;
        Ok(ResourceTree {
            last_sync: Some(last_sync),
            groups: groups.iter().map(group_from_record).collect::<Parsed<_>>()?,
            projects: projects.iter().map(project_from_record).collect::<Parsed<_>>()?,
        })
    }

    /// Every account of a stored run.
    async fn run_accounts(&self, run: &str) -> Result<Vec<Account>> {
        Ok(self
            .store
            .access_accounts(run)
            .await?
            .iter()
            .map(account_from_record)
            .collect::<Parsed<_>>()?)
    }

    /// What changed from the previous successful sync of the same source to sync `id`, which
    /// must have succeeded (a sync that did not has no snapshot: 409). Each list holds its
    /// first `limit` entries (default [`DEFAULT_DIFF_LIMIT`]); the counts cover them all.
    pub async fn diff(&self, principal: &Principal, id: &str, limit: Option<u32>) -> Result<AccessDiffView> {
        principal.require(Access::Read)?;
        let limit = match limit {
            None => DEFAULT_DIFF_LIMIT,
            Some(limit @ 1..=MAX_DIFF_LIMIT) => limit,
            Some(_) => {
                return Err(CoreError::validation(
                    "limit",
                    format!("limit is from 1 to {MAX_DIFF_LIMIT}"),
                ));
            }
        } as usize;
        let id =
            AccessSyncRunId::parse(id).ok_or_else(|| CoreError::validation("id", "a sync id is a UUID"))?;
        let run = self
            .store
            .access_sync_run(principal.tenant_id.as_str(), id.as_str())
            .await
            .map_err(|error| match error {
                labgate_store::StoreError::NotFound => CoreError::NotFound("access sync"),
                other => other.into(),
            })?;
        let status =
            RunStatus::parse(&run.status).ok_or_else(|| invalid("access_sync_runs.status", &run.status))?;
        if status != RunStatus::Succeeded {
            return Err(CoreError::Conflict(format!(
                "the sync is {}: only a sync that succeeded has a snapshot to compare",
                status.as_str()
            )));
        }
        let base = self
            .store
            .previous_succeeded_access_sync_run(&run.source_id, run.created_at)
            .await?;
        // Only the accounts are read: the grants are computed from the memberships, and the
        // names of groups and projects come from the runs' trees the grants are computed over.
        let after = self.run_accounts(id.as_str()).await?;
        let before = match &base {
            Some(base) => self.run_accounts(&base.id).await?,
            None => Vec::new(),
        };
        let changes = self
            .grants
            .diff(
                base.as_ref().map(|base| base.id.as_str()),
                &before,
                id.as_str(),
                &after,
                limit,
            )
            .await?;
        // Names as each sync saw them: a removed grant's account may be gone from the newer one.
        let mut names = Names::default();
        names.add_run(&after, self.grants.run(id.as_str()).await?.hierarchy());
        if let Some(base) = &base {
            names.add_run(&before, self.grants.run(&base.id).await?.hierarchy());
        }
        let accounts: HashMap<GitLabUserId, &Account> =
            after.iter().map(|account| (account.id, account)).collect();
        Ok(AccessDiffView {
            source_id: run.source_id.clone(),
            sync: sync_ref(&run)?,
            base: base.as_ref().map(sync_ref).transpose()?,
            added: changes.added.iter().map(|grant| names.grant(grant)).collect(),
            removed: changes.removed.iter().map(|grant| names.grant(grant)).collect(),
            changed: changes
                .changed
                .iter()
                .map(|change| AccessGrantChangeView {
                    before: names.grant(&change.before),
                    after: names.grant(&change.after),
                })
                .collect(),
            new_admins: changes
                .new_admins
                .iter()
                .take(limit)
                .filter_map(|id| accounts.get(id).map(|account| account_view(account)))
                .collect(),
            new_owners: changes
                .new_owners
                .iter()
                .map(|grant| names.grant(grant))
                .collect(),
            counts: AccessDiffCounts {
                added: changes.counts.added,
                removed: changes.counts.removed,
                changed: changes.counts.changed,
                new_admins: changes.new_admins.len() as u64,
                new_owners: changes.counts.new_owners,
            },
        })
    }

    fn file_name(list: &str, source: &AccessSourceId, format: AccessExportFormat) -> String {
        format!("access-{list}-{}.{}", source.as_str(), format.as_str())
    }

    fn content_type(format: AccessExportFormat) -> &'static str {
        match format {
            AccessExportFormat::Json => "application/json",
            AccessExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }

    /// The accounts of the source's newest successful sync as a document, read a batch at a time.
    /// Everything the caller could get wrong is checked before the first chunk.
    pub async fn export_accounts(
        &self,
        principal: &Principal,
        source: Option<&str>,
        search: Option<&str>,
        format: AccessExportFormat,
    ) -> Result<Export> {
        let search = search_text("search", search, MAX_SEARCH)?;
        let id = source_id(source)?;
        let latest = self.latest(principal, source).await?;
        let total = match &latest {
            Some((run, _)) => {
                self.store
                    .list_access_accounts(&run.id, search.as_deref(), 0, 1)
                    .await?
                    .1
            }
            None => 0,
        };
        let (run, last_sync) = latest.unzip();
        Ok(Export {
            content_type: Self::content_type(format),
            file_name: Self::file_name("accounts", &id, format),
            chunks: ExportChunks {
                reports: self.clone(),
                list: ExportList::Accounts,
                last_sync,
                total,
                format,
                part: run.map(|run| ExportPart::Accounts {
                    run: run.id,
                    search,
                    after: None,
                }),
                stage: ExportStage::Head,
                first_row: true,
            },
        })
    }

    /// The effective grants of the source's newest successful sync as a document, read a batch
    /// at a time. Everything the caller could get wrong is checked before the first chunk.
    pub async fn export_grants(
        &self,
        principal: &Principal,
        source: Option<&str>,
        filter: &GrantFilter,
        format: AccessExportFormat,
    ) -> Result<Export> {
        search_text("account", filter.account.as_deref(), MAX_SEARCH)?;
        search_text("resource", filter.resource.as_deref(), MAX_FULL_PATH)?;
        let id = source_id(source)?;
        let latest = self.latest(principal, source).await?;
        let (run, last_sync) = latest.unzip();
        let part = match run {
            Some(run) => {
                let checked = self.check_grant_filter(&run.id, filter).await?;
                let grants = self.grants.run(&run.id).await?;
                Some(match self.selected_grants(&grants, checked).await? {
                    Some(selected) => ExportPart::SomeGrants {
                        grants,
                        selected: selected.into_iter(),
                    },
                    None => ExportPart::AllGrants { grants, after: None },
                })
            }
            None => None,
        };
        let total = match &part {
            Some(ExportPart::AllGrants { grants, .. }) => grants.total(),
            Some(ExportPart::SomeGrants { selected, .. }) => selected.len() as u64,
            Some(ExportPart::Accounts { .. }) | None => 0,
        };
        Ok(Export {
            content_type: Self::content_type(format),
            file_name: Self::file_name("grants", &id, format),
            chunks: ExportChunks {
                reports: self.clone(),
                list: ExportList::Grants,
                last_sync,
                total,
                format,
                part,
                stage: ExportStage::Head,
                first_row: true,
            },
        })
    }

    /// Now, by labgate's clock: pages say how long ago a sync ran.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }
}

/// How a grant's path reads to a person: "direct", "inherited via group acme", "shared via group
/// partners, capped at Reporter" (naming where the share was made when that is an ancestor).
pub fn path_words(grant: &AccessGrantView) -> String {
    let path = &grant.path;
    let via = ref_path(path.via.as_ref());
    match path.kind {
        AccessGrantPathKind::Direct => "direct".to_owned(),
        AccessGrantPathKind::Inherited => format!("inherited via group {via}"),
        AccessGrantPathKind::Shared => {
            let mut words = format!("shared via group {via}");
            if let Some(at) = path.shared_at.as_ref().filter(|at| **at != grant.resource) {
                words.push_str(&format!(
                    " (shared at {} {})",
                    at.kind.as_str(),
                    ref_path(Some(at))
                ));
            }
            if let Some(cap) = &path.capped_at {
                words.push_str(&format!(", capped at {}", cap.name));
            }
            words
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_field("+1"), "'+1");
        assert_eq!(csv_field("-1"), "'-1");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("=a,\"b\""), "\"'=a,\"\"b\"\"\"");
    }

    #[test]
    fn paths_read_as_people_say_them() {
        let group = |id: u64, path: &str| AccessResourceRef {
            kind: AccessResourceKind::Group,
            id,
            full_path: Some(path.to_owned()),
        };
        let mut grant = AccessGrantView {
            account: AccessAccountRef {
                id: 7,
                username: Some("alice".into()),
            },
            resource: group(3, "acme/platform"),
            access_level: role_view(&Role::level(AccessLevel::DEVELOPER)),
            path: AccessGrantPathView {
                kind: AccessGrantPathKind::Direct,
                via: None,
                shared_at: None,
                capped_at: None,
            },
            expires_at: None,
        };
        assert_eq!(path_words(&grant), "direct");
        grant.path.kind = AccessGrantPathKind::Inherited;
        grant.path.via = Some(group(1, "acme"));
        assert_eq!(path_words(&grant), "inherited via group acme");
        grant.path = AccessGrantPathView {
            kind: AccessGrantPathKind::Shared,
            via: Some(group(9, "partners")),
            shared_at: Some(group(3, "acme/platform")),
            capped_at: Some(level_value(AccessLevel::DEVELOPER)),
        };
        assert_eq!(
            path_words(&grant),
            "shared via group partners, capped at Developer"
        );
        grant.path.shared_at = Some(group(1, "acme"));
        assert_eq!(
            path_words(&grant),
            "shared via group partners (shared at group acme), capped at Developer"
        );
    }

    #[test]
    fn run_statuses_round_trip() {
        for status in [
            RunStatus::Queued,
            RunStatus::Syncing,
            RunStatus::Succeeded,
            RunStatus::Failed,
        ] {
            assert_eq!(RunStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(RunStatus::parse("running"), None);
    }
}
