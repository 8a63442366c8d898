//! Access provisioning on an access source's GitLab: creating accounts (an invitation on
//! GitLab.com), granting and revoking memberships, and graded deprovisioning.
//!
//! Every operation is planned from live GitLab reads first ([`plan`]): who the account is, what
//! it holds directly, what it inherits from the groups above (or through shares) and from where.
//! A dry run stops there and shows the plan. A real run writes the whole plan as a journal
//! before the first call, marks each step started before its call and applied after it
//! ([`call`]), and stops at the first failure with the rest marked not run. An operation whose
//! process died mid-way keeps its journal: resuming it checks any step that was started at
//! GitLab instead of repeating it. Each operation writes one audit entry; no password or token
//! is ever planned, stored, returned or logged.

mod call;
mod plan;

use std::collections::BTreeSet;
use std::sync::Arc;

use labgate_proto::access_provisioning::{
    ProvisioningAccountView, ProvisioningAction, ProvisioningList, ProvisioningListQuery,
    ProvisioningOperationView, ProvisioningRequest, ProvisioningStatus, ProvisioningStepChoice,
    ProvisioningStepStatus as StepStatus, ProvisioningStepView,
};
use labgate_proto::audit::{AuditAction, ResourceType};
use labgate_store::{
    ProvisioningOperationRecord, ProvisioningStepRecord, ProvisioningStepUpdate, Store, StoreError,
};
use serde_json::json;
use time::{Date, OffsetDateTime};

use self::call::Call;
use self::plan::{Plan, PlannedStep, Planner};
use crate::access::model::AccessLevel;
use crate::audit::{AuditEvent, AuditLog};
use crate::auth::{Access, Principal};
use crate::clock::Clock;
use crate::connections::{Connections, GitLabSession};
use crate::ids::{AccessProvisioningOperationId, AccessSourceId, ConnectionId};
use crate::rows::ms;
use crate::timefmt::format_time;
use crate::{CoreError, Result};

/// How long a process holds an operation it runs; a process that dies lets go when it ends, and
/// the operation can then be resumed. Steps are single GitLab calls, so this is generous.
pub const RUN_LEASE: time::Duration = time::Duration::minutes(5);

/// Why provisioning refused a request. `Unprocessable` is a well-formed request that cannot be
/// carried out as asked — an unknown or ambiguous account, a deletion not confirmed, a level
/// GitLab would refuse — and names the field to change.
#[derive(Debug, thiserror::Error)]
pub enum ProvisioningError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("{message}")]
    Unprocessable { field: &'static str, message: String },
}

impl ProvisioningError {
    pub(crate) fn unprocessable(field: &'static str, message: impl Into<String>) -> ProvisioningError {
        ProvisioningError::Unprocessable {
            field,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> ProvisioningError {
        ProvisioningError::Core(CoreError::validation(field, message))
    }
}

impl From<StoreError> for ProvisioningError {
    fn from(error: StoreError) -> Self {
        ProvisioningError::Core(error.into())
    }
}

/// What a source covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    /// A whole self-managed instance, through an administrator's connection.
    Instance,
    /// One top-level group (GitLab.com), through an owner's connection.
    Group { full_path: String },
}

/// An operation as labgate understands the request.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    CreateAccount(CreateAccount),
    Grant(Grant),
    Revoke(Revoke),
    Deprovision(Deprovision),
}

#[derive(Debug, Clone)]
pub(crate) struct CreateAccount {
    /// Self-managed: the new username.
    pub username: Option<String>,
    pub email: String,
    pub name: String,
    pub reset_password: bool,
    pub skip_confirmation: bool,
    /// GitLab.com: the invitation's level and place.
    pub level: Option<AccessLevel>,
    pub resource: Option<String>,
    pub expires_at: Option<Date>,
}

#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub account: String,
    pub resource: String,
    pub level: AccessLevel,
    pub member_role_id: Option<u64>,
    pub expires_at: Option<Date>,
}

#[derive(Debug, Clone)]
pub(crate) struct Revoke {
    pub account: String,
    pub resource: String,
    pub remove_at_source: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Deprovision {
    pub account: String,
    pub steps: BTreeSet<DeprovisionStep>,
    pub confirm: Option<String>,
}

/// A rung of the deprovisioning ladder, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum DeprovisionStep {
    CancelInvitations,
    RevokeTokens,
    RemoveMemberships,
    Block,
    Deactivate,
    Delete,
}

impl DeprovisionStep {
    pub const LADDER: [DeprovisionStep; 6] = [
        DeprovisionStep::CancelInvitations,
        DeprovisionStep::RevokeTokens,
        DeprovisionStep::RemoveMemberships,
        DeprovisionStep::Block,
        DeprovisionStep::Deactivate,
        DeprovisionStep::Delete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeprovisionStep::CancelInvitations => "cancel-invitations",
            DeprovisionStep::RevokeTokens => "revoke-tokens",
            DeprovisionStep::RemoveMemberships => "remove-memberships",
            DeprovisionStep::Block => "block",
            DeprovisionStep::Deactivate => "deactivate",
            DeprovisionStep::Delete => "delete",
        }
    }

    /// Steps only an instance administrator can take (GitLab.com offers no admin API).
    pub fn needs_admin(self) -> bool {
        matches!(
            self,
            DeprovisionStep::RevokeTokens
                | DeprovisionStep::Block
                | DeprovisionStep::Deactivate
                | DeprovisionStep::Delete
        )
    }

    fn from_choice(choice: ProvisioningStepChoice) -> Option<DeprovisionStep> {
        match choice {
            ProvisioningStepChoice::CancelInvitations => Some(DeprovisionStep::CancelInvitations),
            ProvisioningStepChoice::RevokeTokens => Some(DeprovisionStep::RevokeTokens),
            ProvisioningStepChoice::RemoveMemberships => Some(DeprovisionStep::RemoveMemberships),
            ProvisioningStepChoice::Block => Some(DeprovisionStep::Block),
            ProvisioningStepChoice::Deactivate => Some(DeprovisionStep::Deactivate),
            ProvisioningStepChoice::Delete => Some(DeprovisionStep::Delete),
            ProvisioningStepChoice::RemoveAtSource => None,
        }
    }
}

/// Provisioning operations: plan, run, resume, and read them back.
#[derive(Clone)]
pub struct AccessProvisioning {
    store: Store,
    clock: Arc<dyn Clock>,
    audit: AuditLog,
    connections: Connections,
}

/// An operation's source as provisioning needs it.
struct SourceRef {
    id: AccessSourceId,
    connection_id: ConnectionId,
    scope: Scope,
}

impl AccessProvisioning {
    pub(crate) fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        audit: AuditLog,
        connections: Connections,
    ) -> AccessProvisioning {
        AccessProvisioning {
            store,
            clock,
            audit,
            connections,
        }
    }

    #[must_use]
    pub(crate) fn with_connections(mut self, connections: Connections) -> AccessProvisioning {
        self.connections = connections;
        self
    }

    /// Plans an operation from live GitLab reads and, unless it is a dry run, carries it out.
    /// Only admins may provision.
    pub async fn provision(
        &self,
        principal: &Principal,
        request: ProvisioningRequest,
    ) -> Result<ProvisioningOperationView, ProvisioningError> {
        principal.require(Access::Admin)?;
        let source = self.source(principal, &request.source_id).await?;
        let action = parse_action(&request, &source.scope, self.clock.now().date())?;
        let session = self
            .connections
            .named_session(&principal.tenant_id, &source.connection_id)
            .await
            .map_err(|e| match e {
                CoreError::Validation { message, .. } => {
                    ProvisioningError::unprocessable("sourceId", message)
                }
                other => ProvisioningError::Core(other),
            })?;
        if !request.dry_run && !session.connection.scopes.contains_any(&["api"]) {
            return Err(ProvisioningError::unprocessable(
                "sourceId",
                "the source's connection cannot change GitLab: its token needs the api scope",
            ));
        }
        let plan = Planner {
            client: &session.client,
            cred: &session.credential,
            scope: &source.scope,
        }
        .plan(&action)
        .await?;
        let (record, steps) = self.journal(principal, &source, &request, &plan);
        let saved = self.store.insert_provisioning_operation(&record, &steps).await?;
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: audit_action(request.action),
                    resource_kind: ResourceType::AccessProvisioning,
                    resource_id: Some(saved.id.as_str()),
                    details: Some(json!({
                        "sourceId": source.id.as_str(),
                        "account": plan.account.username.as_deref().unwrap_or(request.account.as_str()),
                        "dryRun": request.dry_run,
                        "status": saved.status,
                        "steps": plan.steps.iter().map(|s| json!({
                            "name": s.name, "status": s.status.as_str(), "target": s.target,
                        })).collect::<Vec<_>>(),
                    })),
                },
            )
            .await?;
        if saved.status == ProvisioningStatus::Running.as_str() {
            self.run_detached(saved.id.clone(), source, session).await?;
        }
        self.view_of(&principal.tenant_id, &saved.id).await
    }

    /// Runs an operation again from where it stopped: after a failed step, or after the process
    /// that ran it died (its lease ran out). Steps already applied are not repeated; a step that
    /// was started is first checked at GitLab.
    pub async fn resume(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<ProvisioningOperationView, ProvisioningError> {
        principal.require(Access::Admin)?;
        let record = self.operation(principal, id).await?;
        if record.dry_run != 0 {
            return Err(ProvisioningError::unprocessable(
                "id",
                "a dry run changed nothing and cannot be resumed: send the request again without dryRun",
            ));
        }
        let source = self.source(principal, &record.source_id).await?;
        let session = self
            .connections
            .named_session(&principal.tenant_id, &source.connection_id)
            .await?;
        let now = self.clock.now();
        if !self
            .store
            .claim_provisioning_operation(&record.id, ms(now), ms(now + RUN_LEASE))
            .await?
        {
            return Err(ProvisioningError::Core(CoreError::Conflict(format!(
                "the operation is {}: only a failed, partial or interrupted operation can be resumed",
                record.status
            ))));
        }
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::AccessProvisionResume,
                    resource_kind: ResourceType::AccessProvisioning,
                    resource_id: Some(record.id.as_str()),
                    details: Some(json!({ "sourceId": record.source_id, "previousStatus": record.status })),
                },
            )
            .await?;
        self.run_detached(record.id.clone(), source, session).await?;
        self.view_of(&principal.tenant_id, &record.id).await
    }

    pub async fn get(&self, principal: &Principal, id: &str) -> Result<ProvisioningOperationView> {
        principal.require(Access::Read)?;
        let record = self.operation(principal, id).await?;
        let steps = self.store.provisioning_steps(&record.id).await?;
        view(&record, &steps)
    }

    /// The tenant's operations, newest first, optionally of one source.
    pub async fn list(
        &self,
        principal: &Principal,
        query: &ProvisioningListQuery,
    ) -> Result<ProvisioningList> {
        principal.require(Access::Read)?;
        let source_id =
            match query.source_id.as_deref() {
                Some(text) => Some(AccessSourceId::parse(text).ok_or_else(|| {
                    CoreError::validation("sourceId", "must be an access source id (a UUID)")
                })?),
                None => None,
            };
        let (records, total) = self
            .store
            .list_provisioning_operations(
                principal.tenant_id.as_str(),
                source_id.as_ref().map(AccessSourceId::as_str),
                query.offset.unwrap_or(0),
                query.limit.unwrap_or(50),
            )
            .await?;
        let mut operations = Vec::with_capacity(records.len());
        for record in &records {
            let steps = self.store.provisioning_steps(&record.id).await?;
            operations.push(view(record, &steps)?);
        }
        Ok(ProvisioningList {
            operations,
            total_count: total,
        })
    }

    // --- internals ----------------------------------------------------------------------------

    async fn operation(&self, principal: &Principal, id: &str) -> Result<ProvisioningOperationRecord> {
        let id =
            AccessProvisioningOperationId::parse(id).ok_or(CoreError::NotFound("provisioning operation"))?;
        match self
            .store
            .provisioning_operation(principal.tenant_id.as_str(), id.as_str())
            .await
        {
            Ok(record) => Ok(record),
            Err(StoreError::NotFound) => Err(CoreError::NotFound("provisioning operation")),
            Err(other) => Err(other.into()),
        }
    }

    async fn view_of(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> Result<ProvisioningOperationView, ProvisioningError> {
        let record = self.store.provisioning_operation(tenant_id, id).await?;
        let steps = self.store.provisioning_steps(id).await?;
        Ok(view(&record, &steps)?)
    }

    async fn source(&self, principal: &Principal, id: &str) -> Result<SourceRef, ProvisioningError> {
        let unknown =
            || ProvisioningError::invalid("sourceId", "no access source with this id in this tenant");
        let id = AccessSourceId::parse(id).ok_or_else(unknown)?;
        let record = match self
            .store
            .access_source(principal.tenant_id.as_str(), id.as_str())
            .await
        {
            Ok(record) => record,
            Err(StoreError::NotFound) => return Err(unknown()),
            Err(other) => return Err(other.into()),
        };
        let scope = match (record.scope_kind.as_str(), record.scope_full_path) {
            ("instance", _) => Scope::Instance,
            ("group", Some(full_path)) => Scope::Group { full_path },
            (kind, _) => {
                return Err(ProvisioningError::Core(CoreError::internal(
                    crate::StoredValueError {
                        column: "access_sources.scope_kind",
                        value: kind.to_string(),
                    },
                )));
            }
        };
        Ok(SourceRef {
            id,
            connection_id: ConnectionId::from_stored(record.connection_id),
            scope,
        })
    }

    /// The operation's row and its steps' rows, as written before anything runs.
    fn journal(
        &self,
        principal: &Principal,
        source: &SourceRef,
        request: &ProvisioningRequest,
        plan: &Plan,
    ) -> (ProvisioningOperationRecord, Vec<ProvisioningStepRecord>) {
        let now = self.clock.now();
        let id = AccessProvisioningOperationId::generate();
        let runnable = plan.steps.iter().any(|s| s.status == StepStatus::Pending);
        let status = if request.dry_run {
            ProvisioningStatus::Planned
        } else if runnable {
            ProvisioningStatus::Running
        } else {
            outcome(plan.steps.iter().map(|s| s.status))
        };
        let finished = status != ProvisioningStatus::Running;
        let message = if request.dry_run {
            Some(format!(
                "dry run: {} step(s) would run; nothing was changed",
                plan.steps
                    .iter()
                    .filter(|s| s.status == StepStatus::Pending)
                    .count()
            ))
        } else if finished {
            Some(summary(
                status,
                &plan
                    .steps
                    .iter()
                    .map(|s| (s.name, s.status, s.message.as_str()))
                    .collect::<Vec<_>>(),
            ))
        } else {
            None
        };
        let record = ProvisioningOperationRecord {
            id: id.to_string(),
            tenant_id: principal.tenant_id.to_string(),
            source_id: source.id.to_string(),
            action: request.action.as_str().to_owned(),
            dry_run: i32::from(request.dry_run),
            status: status.as_str().to_owned(),
            request: request_summary(request).to_string(),
            account_user_id: plan.account.id.and_then(|id| i64::try_from(id).ok()),
            account_username: plan.account.username.clone(),
            message,
            actor_kind: principal.actor.kind().as_str().to_owned(),
            actor_id: principal.actor.id().map(str::to_owned),
            lease_expires_at: (!finished).then(|| ms(now + RUN_LEASE)),
            created_at: ms(now),
            updated_at: ms(now),
            finished_at: finished.then(|| ms(now)),
        };
        let steps = plan
            .steps
            .iter()
            .zip(1..)
            .map(|(step, seq): (&PlannedStep, i32)| ProvisioningStepRecord {
                operation_id: record.id.clone(),
                seq,
                name: step.name.to_owned(),
                target: step.target.clone(),
                call: step.call.as_ref().and_then(|c| serde_json::to_string(c).ok()),
                status: step.status.as_str().to_owned(),
                message: step.message.clone(),
                started_at: None,
                finished_at: None,
            })
            .collect();
        (record, steps)
    }

    /// Runs an operation's steps in a task of its own, so that a caller who goes away (a closed
    /// HTTP request) cannot cut a step off between its GitLab call and its journal entry.
    async fn run_detached(&self, id: String, source: SourceRef, session: GitLabSession) -> Result<()> {
        let this = self.clone();
        let task = tokio::spawn(async move { this.run(&id, &source, &session).await });
        match task.await {
            Ok(result) => result,
            Err(join) => Err(CoreError::internal(join)),
        }
    }

    async fn run(&self, id: &str, source: &SourceRef, session: &GitLabSession) -> Result<()> {
        // Tests arm interruptions per source.
        #[cfg_attr(not(feature = "failpoints"), allow(unused_variables))]
        let scope = source.id.as_str();
        let steps = self.store.provisioning_steps(id).await?;
        let (client, cred) = (&session.client, &session.credential);
        let mut failed_at: Option<(i32, String)> = None;
        for step in &steps {
            let status = StepStatus::parse(&step.status).unwrap_or(StepStatus::Failed);
            if !matches!(
                status,
                StepStatus::Pending | StepStatus::Started | StepStatus::Failed | StepStatus::NotRun
            ) {
                continue;
            }
            let Some(call) = step.call.as_deref() else {
                continue;
            };
            let call: Call = serde_json::from_str(call).map_err(CoreError::internal)?;
            if let Some((seq, name)) = &failed_at {
                let message = format!("not run: step {seq} ({name}) failed");
                self.set_step(id, step.seq, StepStatus::NotRun, Some(&message), None, None)
                    .await?;
                continue;
            }
            // A step that was started (or failed) before may have taken effect at GitLab even
            // though its answer never reached the journal: look before calling again.
            if matches!(status, StepStatus::Started | StepStatus::Failed) {
                match call.found_applied(client, cred).await {
                    Ok(Some(found)) => {
                        let message = format!("already applied at GitLab: {found}");
                        let now = ms(self.clock.now());
                        self.set_step(id, step.seq, StepStatus::Applied, Some(&message), None, Some(now))
                            .await?;
                        continue;
                    }
                    Ok(None) => {}
                    Err(error) => {
                        let message =
                            format!("could not check GitLab before running the step again: {error}");
                        self.set_step(id, step.seq, StepStatus::Failed, Some(&message), None, None)
                            .await?;
                        failed_at = Some((step.seq, step.name.clone()));
                        continue;
                    }
                }
            }
            // Each step renews the hold, so a long ladder is never taken over while it runs.
            let now = self.clock.now();
            self.store
                .extend_provisioning_lease(id, ms(now + RUN_LEASE), ms(now))
                .await?;
            self.set_step(id, step.seq, StepStatus::Started, None, Some(ms(now)), None)
                .await?;
            let outcome = call.apply(client, cred).await;
            failpoint!(
                "access-provisioning.after-call",
                scope,
                Err(CoreError::Unavailable("the operation was interrupted".into()))
            );
            let now = ms(self.clock.now());
            match outcome {
                Ok(message) => {
                    self.set_step(id, step.seq, StepStatus::Applied, Some(&message), None, Some(now))
                        .await?;
                }
                Err(error) => {
                    let message = refusal(&call, &error);
                    self.set_step(id, step.seq, StepStatus::Failed, Some(&message), None, Some(now))
                        .await?;
                    failed_at = Some((step.seq, step.name.clone()));
                }
            }
            failpoint!(
                "access-provisioning.between-steps",
                scope,
                Err(CoreError::Unavailable("the operation was interrupted".into()))
            );
        }
        let steps = self.store.provisioning_steps(id).await?;
        let statuses: Vec<(&str, StepStatus, &str)> = steps
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    StepStatus::parse(&s.status).unwrap_or(StepStatus::Failed),
                    s.message.as_str(),
                )
            })
            .collect();
        let status = outcome(statuses.iter().map(|s| s.1));
        let message = summary(status, &statuses);
        self.store
            .finish_provisioning_operation(id, status.as_str(), Some(&message), ms(self.clock.now()))
            .await?;
        Ok(())
    }

    async fn set_step(
        &self,
        id: &str,
        seq: i32,
        status: StepStatus,
        message: Option<&str>,
        started_at: Option<i64>,
        finished_at: Option<i64>,
    ) -> Result<()> {
        self.store
            .update_provisioning_step(
                id,
                seq,
                &ProvisioningStepUpdate {
                    status: status.as_str(),
                    message,
                    started_at,
                    finished_at,
                },
            )
            .await?;
        Ok(())
    }
}

/// What a step's failure means, for people. A 409 on adding a member is not success: the person
/// became a member since the plan was read, at a level nobody checked.
fn refusal(call: &Call, error: &labgate_gitlab::GitLabError) -> String {
    match (call, error) {
        (Call::AddMember { .. }, labgate_gitlab::GitLabError::Conflict { .. }) => format!(
            "{error}: the account became a direct member after the plan was made; run the grant again to set its level"
        ),
        _ => format!("{error}"),
    }
}

/// An operation's status from its steps'.
fn outcome(statuses: impl Iterator<Item = StepStatus>) -> ProvisioningStatus {
    let (mut applied, mut failed, mut offered, mut running) = (false, false, false, false);
    for status in statuses {
        match status {
            StepStatus::Applied => applied = true,
            StepStatus::Failed => failed = true,
            StepStatus::Offered => offered = true,
            StepStatus::Pending | StepStatus::Started => running = true,
            StepStatus::Skipped | StepStatus::NotRun => {}
        }
    }
    match (failed || offered, applied) {
        (true, true) => ProvisioningStatus::Partial,
        (true, false) if failed => ProvisioningStatus::Failed,
        (true, false) => ProvisioningStatus::Blocked,
        (false, _) if running => ProvisioningStatus::Running,
        (false, true) => ProvisioningStatus::Succeeded,
        (false, false) => ProvisioningStatus::Unchanged,
    }
}

/// The outcome in a sentence: the failure or the choice left open comes first.
fn summary(status: ProvisioningStatus, steps: &[(&str, StepStatus, &str)]) -> String {
    let applied = steps.iter().filter(|s| s.1 == StepStatus::Applied).count();
    let failed = steps.iter().find(|s| s.1 == StepStatus::Failed);
    let offered = steps.iter().find(|s| s.1 == StepStatus::Offered);
    match (status, failed, offered) {
        (_, Some((name, _, message)), _) => format!(
            "{applied} step(s) applied, then {name} failed: {message}; the steps after it did not run"
        ),
        (_, None, Some((_, _, message))) => format!("{applied} step(s) applied; not done: {message}"),
        (ProvisioningStatus::Unchanged, ..) => "nothing to do: GitLab already matches the request".to_owned(),
        _ => format!("{applied} step(s) applied"),
    }
}

fn audit_action(action: ProvisioningAction) -> AuditAction {
    match action {
        ProvisioningAction::CreateAccount => AuditAction::AccessProvisionCreateAccount,
        ProvisioningAction::Grant => AuditAction::AccessProvisionGrant,
        ProvisioningAction::Revoke => AuditAction::AccessProvisionRevoke,
        ProvisioningAction::Deprovision => AuditAction::AccessProvisionDeprovision,
    }
}

/// The request as kept with the operation (it holds no secret: labgate never takes one here).
fn request_summary(request: &ProvisioningRequest) -> serde_json::Value {
    json!({
        "account": request.account,
        "email": request.email,
        "resource": request.resource,
        "accessLevel": request.access_level,
        "memberRoleId": request.member_role_id,
        "expiresAt": request.expires_at,
        "steps": request.steps,
    })
}

fn required<'a>(
    value: Option<&'a String>,
    field: &'static str,
    action: &str,
) -> Result<&'a str, ProvisioningError> {
    value
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ProvisioningError::invalid(field, format!("{action} needs {field}")))
}

fn level(value: Option<i64>) -> Result<Option<AccessLevel>, ProvisioningError> {
    value
        .map(|n| {
            AccessLevel::from_number(n).ok_or_else(|| {
                ProvisioningError::invalid(
                    "accessLevel",
                    "must be one of GitLab's levels: 5, 10, 15, 20, 25, 30, 40, 50",
                )
            })
        })
        .transpose()
}

fn expiry(value: Option<&String>, today: Date) -> Result<Option<Date>, ProvisioningError> {
    let Some(text) = value else {
        return Ok(None);
    };
    let date = plan::parse_date(text)
        .filter(|_| text.len() == 10)
        .ok_or_else(|| ProvisioningError::invalid("expiresAt", "must be a date, YYYY-MM-DD"))?;
    if date <= today {
        return Err(ProvisioningError::invalid(
            "expiresAt",
            "must be a date in the future",
        ));
    }
    Ok(Some(date))
}

/// The request's action, checked field by field (400 for what is missing or malformed).
fn parse_action(
    request: &ProvisioningRequest,
    scope: &Scope,
    today: Date,
) -> Result<Action, ProvisioningError> {
    let account = request.account.trim();
    if account.is_empty() {
        return Err(ProvisioningError::invalid("account", "must name an account"));
    }
    let steps = request.steps.clone().unwrap_or_default();
    let expires_at = expiry(request.expires_at.as_ref(), today)?;
    match request.action {
        ProvisioningAction::CreateAccount => {
            let email = request
                .email
                .clone()
                .or_else(|| account.contains('@').then(|| account.to_owned()))
                .map(|e| e.trim().to_owned())
                .filter(|e| e.contains('@') && !e.starts_with('@') && !e.ends_with('@'))
                .ok_or_else(|| {
                    ProvisioningError::invalid("email", "create-account needs a valid e-mail address")
                })?;
            let username = match scope {
                Scope::Instance => {
                    if account.contains('@') {
                        return Err(ProvisioningError::invalid(
                            "account",
                            "on a self-managed instance, account is the new username (the address goes in email)",
                        ));
                    }
                    Some(account.to_owned())
                }
                Scope::Group { .. } => None,
            };
            Ok(Action::CreateAccount(CreateAccount {
                name: request
                    .name
                    .clone()
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or_else(|| account.to_owned()),
                username,
                email,
                reset_password: request.reset_password.unwrap_or(true),
                skip_confirmation: request.skip_confirmation.unwrap_or(false),
                level: level(request.access_level)?,
                resource: request.resource.clone(),
                expires_at,
            }))
        }
        ProvisioningAction::Grant => {
            let resource = required(request.resource.as_ref(), "resource", "grant")?;
            let level = level(request.access_level)?
                .ok_or_else(|| ProvisioningError::invalid("accessLevel", "grant needs accessLevel"))?;
            Ok(Action::Grant(Grant {
                account: account.to_owned(),
                resource: resource.to_owned(),
                level,
                member_role_id: request.member_role_id,
                expires_at,
            }))
        }
        ProvisioningAction::Revoke => {
            let resource = required(request.resource.as_ref(), "resource", "revoke")?;
            if steps.iter().any(|s| *s != ProvisioningStepChoice::RemoveAtSource) {
                return Err(ProvisioningError::invalid(
                    "steps",
                    "a revoke takes only the step remove-at-source",
                ));
            }
            Ok(Action::Revoke(Revoke {
                account: account.to_owned(),
                resource: resource.to_owned(),
                remove_at_source: !steps.is_empty(),
            }))
        }
        ProvisioningAction::Deprovision => {
            if steps.is_empty() {
                return Err(ProvisioningError::invalid(
                    "steps",
                    "deprovision needs the steps to take: cancel-invitations, revoke-tokens, remove-memberships, \
                     block or deactivate, delete",
                ));
            }
            let mut ladder = BTreeSet::new();
            for step in steps {
                ladder.insert(DeprovisionStep::from_choice(step).ok_or_else(|| {
                    ProvisioningError::invalid("steps", "remove-at-source belongs to a revoke")
                })?);
            }
            if ladder.contains(&DeprovisionStep::Block) && ladder.contains(&DeprovisionStep::Deactivate) {
                return Err(ProvisioningError::unprocessable(
                    "steps",
                    "choose block or deactivate, not both: GitLab cannot deactivate a blocked account",
                ));
            }
            Ok(Action::Deprovision(Deprovision {
                account: account.to_owned(),
                steps: ladder,
                confirm: request.confirm.clone(),
            }))
        }
    }
}

fn stored<T>(column: &'static str, value: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T> {
    parse(value).ok_or_else(|| {
        CoreError::internal(crate::StoredValueError {
            column,
            value: value.to_string(),
        })
    })
}

fn at(column: &'static str, value: i64) -> Result<String> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(value) * 1_000_000)
        .map(format_time)
        .map_err(|_| {
            CoreError::internal(crate::StoredValueError {
                column,
                value: value.to_string(),
            })
        })
}

fn view(
    record: &ProvisioningOperationRecord,
    steps: &[ProvisioningStepRecord],
) -> Result<ProvisioningOperationView> {
    let steps = steps
        .iter()
        .map(|step| {
            Ok(ProvisioningStepView {
                name: step.name.clone(),
                status: stored(
                    "access_provisioning_steps.status",
                    &step.status,
                    StepStatus::parse,
                )?,
                message: step.message.clone(),
                target: step.target.clone(),
                started_at: step
                    .started_at
                    .map(|t| at("access_provisioning_steps.started_at", t))
                    .transpose()?,
                finished_at: step
                    .finished_at
                    .map(|t| at("access_provisioning_steps.finished_at", t))
                    .transpose()?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ProvisioningOperationView {
        id: record.id.clone(),
        source_id: record.source_id.clone(),
        action: stored(
            "access_provisioning_operations.action",
            &record.action,
            ProvisioningAction::parse,
        )?,
        status: stored(
            "access_provisioning_operations.status",
            &record.status,
            ProvisioningStatus::parse,
        )?,
        dry_run: record.dry_run != 0,
        account: ProvisioningAccountView {
            id: record.account_user_id.and_then(|id| u64::try_from(id).ok()),
            username: record.account_username.clone(),
        },
        message: record.message.clone(),
        steps,
        created_at: at("access_provisioning_operations.created_at", record.created_at)?,
        finished_at: record
            .finished_at
            .map(|t| at("access_provisioning_operations.finished_at", t))
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operations_status_follows_its_steps() {
        use StepStatus::*;
        assert_eq!(
            outcome([Applied, Applied].into_iter()),
            ProvisioningStatus::Succeeded
        );
        assert_eq!(
            outcome([Applied, Failed, NotRun].into_iter()),
            ProvisioningStatus::Partial
        );
        assert_eq!(outcome([Failed, NotRun].into_iter()), ProvisioningStatus::Failed);
        assert_eq!(
            outcome([Skipped, Offered].into_iter()),
            ProvisioningStatus::Blocked
        );
        assert_eq!(
            outcome([Applied, Offered].into_iter()),
            ProvisioningStatus::Partial
        );
        assert_eq!(outcome([Skipped].into_iter()), ProvisioningStatus::Unchanged);
        assert_eq!(
            outcome([Applied, Pending].into_iter()),
            ProvisioningStatus::Running
        );
    }

    #[test]
    fn the_ladder_runs_in_its_safe_order_whatever_order_is_asked() {
        let mut chosen = BTreeSet::new();
        for step in [
            DeprovisionStep::Delete,
            DeprovisionStep::Block,
            DeprovisionStep::CancelInvitations,
        ] {
            chosen.insert(step);
        }
        let order: Vec<_> = DeprovisionStep::LADDER
            .into_iter()
            .filter(|s| chosen.contains(s))
            .collect();
        assert_eq!(
            order,
            vec![
                DeprovisionStep::CancelInvitations,
                DeprovisionStep::Block,
                DeprovisionStep::Delete
            ]
        );
    }
}
