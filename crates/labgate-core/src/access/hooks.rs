//! Incremental access sync: the webhooks that tell labgate what changed at GitLab between full
//! syncs, and the changed resources they name.
//!
//! An access source over a whole self-managed instance gets a system hook (every account,
//! group, project and membership event); a source over a group gets a group hook with member and
//! subgroup events. Where GitLab refuses the hook (system hooks need an administrator; group
//! hooks need GitLab Premium and the group's Owner) the source relies on periodic full syncs,
//! and [`InstallOutcome`] says so for the source's log and status.
//!
//! Each source's hooks present one random secret, sealed in the store and found again by its
//! SHA-256. An accepted event is deduplicated on `X-Gitlab-Event-UUID`, mapped to the groups,
//! projects and accounts it changed ([`targets_of`]), and those are kept durably as the source's
//! pending targets until a sync run re-reads them.

use labgate_crypto::Aad;
use labgate_gitlab::{GitLabError, NewHook, ResourceId};
use labgate_proto::access_webhooks::{AccessHookReceipt, AccessHookTarget};
use labgate_store::{AccessHookRecord, AccessHookSecretRecord, Store};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::sync::Arc;

use super::model::{GitLabGroupId, GitLabProjectId, GitLabUserId, Resource};
use crate::clock::Clock;
use crate::connections::{Connections, GitLabSession};
use crate::ids::{AccessSourceId, ConnectionId, TenantId};
use crate::rows::{ms, signed, unsigned};
use crate::vault::Vault;
use crate::{CoreError, Result};

/// Where GitLab sends access events, below the site URL (`LABGATE_SITE_URL`).
pub const WEBHOOK_PATH: &str = "/access/webhooks/gitlab";
/// The name the hooks carry at GitLab, so a person there sees whose they are.
const HOOK_NAME: &str = "labgate access sync";
/// How long an event's UUID is remembered against redeliveries (GitLab retries for hours).
const EVENT_MEMORY_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// The sealed secret's place, part of its associated data.
const SECRET_TABLE: &str = "access_hook_secrets";
const SECRET_FIELD: &str = "token";

const INSTALLED: &str = "installed";
const REMOVING: &str = "removing";
const INSTANCE: &str = "instance";
const GROUP: &str = "group";
const HOOKS: &str = "hooks";
const SWEEPS: &str = "sweeps";

/// What an access source covers, as far as its hooks are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookScope {
    /// A whole self-managed instance: one system hook.
    Instance,
    /// A group and everything below it: one group hook with member and subgroup events.
    Group(GitLabGroupId),
}

/// The source whose hooks are installed or removed.
#[derive(Debug, Clone)]
pub struct HookSource {
    pub tenant_id: TenantId,
    pub source_id: AccessSourceId,
    pub connection_id: ConnectionId,
    pub scope: HookScope,
}

/// How a source learns of changes between full syncs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// GitLab's hooks report changes; each is re-read by a targeted run.
    Hooks,
    /// No hook could be installed: only the periodic full syncs see changes. The reason is
    /// written for the source's log and status.
    Sweeps { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallOutcome {
    pub delivery: Delivery,
}

impl InstallOutcome {
    /// One line for the source's log.
    pub fn log_message(&self) -> String {
        match &self.delivery {
            Delivery::Hooks => {
                "GitLab's webhooks report access changes; each change is re-read as it happens".to_owned()
            }
            Delivery::Sweeps { reason } => {
                format!("{reason}; access changes are seen by the periodic full syncs only")
            }
        }
    }
}

/// Why a source with no hook recorded (its installation failed before GitLab was asked, or it
/// predates hooks) relies on full syncs.
const NO_HOOK: &str = "no webhook is installed";

impl Delivery {
    /// How a source learns of changes, from what [`AccessHooks::delivery`] found: none recorded
    /// means full syncs only.
    pub fn or_unrecorded(recorded: Option<Delivery>) -> Delivery {
        recorded.unwrap_or_else(|| Delivery::Sweeps {
            reason: NO_HOOK.to_owned(),
        })
    }
}

/// How the source a stored hook secret belongs to learns of changes.
pub(crate) fn delivery_of(row: labgate_store::AccessHookSecretRecord) -> Delivery {
    match row.delivery.as_str() {
        HOOKS => Delivery::Hooks,
        _ => Delivery::Sweeps {
            reason: row.note.unwrap_or_else(|| NO_HOOK.to_owned()),
        },
    }
}

/// Something an event said changed at GitLab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccessTarget {
    Group(GitLabGroupId),
    Project(GitLabProjectId),
    /// An account created, renamed, blocked or removed: its own row, and every grant it holds.
    Account(GitLabUserId),
}

impl AccessTarget {
    pub fn kind(self) -> &'static str {
        match self {
            AccessTarget::Group(_) => "group",
            AccessTarget::Project(_) => "project",
            AccessTarget::Account(_) => "account",
        }
    }

    pub fn gitlab_id(self) -> u64 {
        match self {
            AccessTarget::Group(GitLabGroupId(id))
            | AccessTarget::Project(GitLabProjectId(id))
            | AccessTarget::Account(GitLabUserId(id)) => id,
        }
    }

    fn parse(kind: &str, id: u64) -> Option<AccessTarget> {
        match kind {
            "group" => Some(AccessTarget::Group(GitLabGroupId(id))),
            "project" => Some(AccessTarget::Project(GitLabProjectId(id))),
            "account" => Some(AccessTarget::Account(GitLabUserId(id))),
            _ => None,
        }
    }

    /// The group or project a targeted run re-reads; an account is no resource.
    pub fn resource(self) -> Option<Resource> {
        match self {
            AccessTarget::Group(g) => Some(Resource::Group(g)),
            AccessTarget::Project(p) => Some(Resource::Project(p)),
            AccessTarget::Account(_) => None,
        }
    }
}

/// The fields of GitLab's system hook and group hook bodies that say what changed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EventBody {
    event_name: Option<String>,
    user_id: Option<u64>,
    group_id: Option<u64>,
    project_id: Option<u64>,
    parent_group_id: Option<u64>,
}

/// Why an event body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the body is not a JSON object")]
    NotJson,
    #[error("a {event} event without {field}")]
    Missing { event: String, field: &'static str },
}

/// The groups, projects and accounts a GitLab access event changed; `Ok(None)` for an event
/// that changes no access (pushes, merge requests, keys, project updates).
pub fn targets_of(body: &[u8]) -> std::result::Result<Option<Vec<AccessTarget>>, EventError> {
    let parsed: serde_json::Value = serde_json::from_slice(body).map_err(|_| EventError::NotJson)?;
    if !parsed.is_object() {
        return Err(EventError::NotJson);
    }
    let event: EventBody = serde_json::from_value(parsed).map_err(|_| EventError::NotJson)?;
    let Some(name) = event.event_name.as_deref() else {
        return Ok(None);
    };
    let need = |value: Option<u64>, field: &'static str| {
        value.ok_or_else(|| EventError::Missing {
            event: name.to_owned(),
            field,
        })
    };
    let user = || need(event.user_id, "user_id").map(|id| AccessTarget::Account(GitLabUserId(id)));
    let group = || need(event.group_id, "group_id").map(|id| AccessTarget::Group(GitLabGroupId(id)));
    let project =
        || need(event.project_id, "project_id").map(|id| AccessTarget::Project(GitLabProjectId(id)));
    let targets = match name {
        // A membership: the source it is in (descendants inherit it) and the account.
        "user_add_to_group" | "user_update_for_group" | "user_remove_from_group" => vec![group()?, user()?],
        "user_add_to_team" | "user_update_for_team" | "user_remove_from_team" => vec![project()?, user()?],
        "user_create" | "user_destroy" | "user_rename" | "user_failed_login" => vec![user()?],
        // A renamed group changes its descendants' paths too: the group is re-read with them.
        "group_create" | "group_destroy" | "group_rename" => vec![group()?],
        "subgroup_create" | "subgroup_destroy" => {
            let mut out = vec![group()?];
            if let Some(parent) = event.parent_group_id {
                out.push(AccessTarget::Group(GitLabGroupId(parent)));
            }
            out
        }
        "project_create" | "project_destroy" | "project_transfer" | "project_rename" => vec![project()?],
        _ => return Ok(None),
    };
    Ok(Some(targets))
}

/// One webhook delivery as the receiver got it.
pub struct AccessHookDelivery {
    pub token: Option<SecretString>,
    pub event_uuid: Option<String>,
    pub body: Vec<u8>,
}

/// A target an event named that no sync run has re-read yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTarget {
    pub target: AccessTarget,
    /// When an event last named it (ms): a run that started later covers it.
    pub last_seen_at: i64,
}

/// Hook installation, removal and delivery for access sources.
#[derive(Clone)]
pub struct AccessHooks {
    store: Store,
    vault: Arc<Vault>,
    clock: Arc<dyn Clock>,
    connections: Connections,
}

impl AccessHooks {
    pub(crate) fn new(
        store: Store,
        vault: Arc<Vault>,
        clock: Arc<dyn Clock>,
        connections: Connections,
    ) -> AccessHooks {
        AccessHooks {
            store,
            vault,
            clock,
            connections,
        }
    }

    #[must_use]
    pub(crate) fn with_connections(mut self, connections: Connections) -> AccessHooks {
        self.connections = connections;
        self
    }

    /// Installs the source's hook with a fresh secret. A hook GitLab refuses is no error: the
    /// source then relies on full syncs, which the outcome says. A GitLab that cannot be reached
    /// is an error (`Unavailable`): try again.
    pub async fn install_for_source(&self, source: &HookSource) -> Result<InstallOutcome> {
        let now = ms(self.clock.now());
        let token = labgate_crypto::random_token(48);
        let Ok(site) = self.connections.site_url() else {
            let reason = "labgate's address is not set (LABGATE_SITE_URL), so GitLab cannot deliver webhooks"
                .to_owned();
            self.put_secret(source, &token, SWEEPS, Some(&reason), now)
                .await?;
            return Ok(InstallOutcome {
                delivery: Delivery::Sweeps { reason },
            });
        };
        let url = format!("{site}{WEBHOOK_PATH}");
        // The secret is stored before the hook exists: a delivery may arrive at once.
        self.put_secret(source, &token, HOOKS, None, now).await?;
        let session = self
            .connections
            .named_session(&source.tenant_id, &source.connection_id)
            .await?;
        let hook = NewHook {
            url: url.clone(),
            token: Some(token),
            name: Some(HOOK_NAME.to_owned()),
            push_events: false,
            tag_push_events: false,
            merge_requests_events: false,
            member_events: matches!(source.scope, HookScope::Group(_)),
            subgroup_events: matches!(source.scope, HookScope::Group(_)),
            enable_ssl_verification: url.starts_with("https://"),
        };
        let (kind, owner, created) = match source.scope {
            HookScope::Instance => (
                INSTANCE,
                None,
                session
                    .client
                    .create_system_hook(&session.credential, &hook)
                    .await,
            ),
            HookScope::Group(GitLabGroupId(group)) => (
                GROUP,
                Some(group),
                session
                    .client
                    .create_group_hook(&session.credential, &ResourceId::Id(group), &hook)
                    .await,
            ),
        };
        match created {
            Ok(created) => {
                self.store
                    .insert_access_hook(&AccessHookRecord {
                        id: uuid::Uuid::new_v4().to_string(),
                        tenant_id: source.tenant_id.to_string(),
                        source_id: source.source_id.to_string(),
                        connection_id: source.connection_id.to_string(),
                        owner_kind: kind.to_owned(),
                        gitlab_owner_id: owner.map(signed),
                        gitlab_hook_id: signed(created.id),
                        state: INSTALLED.to_owned(),
                        last_error: None,
                        created_at: now,
                        updated_at: now,
                    })
                    .await?;
                Ok(InstallOutcome {
                    delivery: Delivery::Hooks,
                })
            }
            Err(error) if error.is_transient() => Err(CoreError::Unavailable(format!(
                "GitLab could not install the access hook: {error}"
            ))),
            Err(error) => {
                let reason = refusal(source.scope, &error);
                tracing::info!(access_source = %source.source_id, "{reason}");
                let hook_token = hook.token.unwrap_or_else(|| labgate_crypto::random_token(48));
                self.put_secret(source, &hook_token, SWEEPS, Some(&reason), now)
                    .await?;
                Ok(InstallOutcome {
                    delivery: Delivery::Sweeps { reason },
                })
            }
        }
    }

    async fn put_secret(
        &self,
        source: &HookSource,
        token: &SecretString,
        delivery: &str,
        note: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let tenant = source.tenant_id.as_str();
        let id = source.source_id.as_str();
        let sealed = self
            .vault
            .seal(&Aad::new(tenant, SECRET_TABLE, id, SECRET_FIELD), token)
            .await?;
        self.store
            .put_access_hook_secret(&AccessHookSecretRecord {
                source_id: id.to_owned(),
                tenant_id: tenant.to_owned(),
                token_sealed: sealed,
                token_digest: digest(token),
                delivery: delivery.to_owned(),
                note: note.map(str::to_owned),
                created_at: now,
                updated_at: now,
            })
            .await?;
        Ok(())
    }

    /// How the source learns of changes, with the reason when it relies on full syncs; `None`
    /// before its hooks were ever installed.
    pub async fn delivery(
        &self,
        tenant_id: &TenantId,
        source_id: &AccessSourceId,
    ) -> Result<Option<Delivery>> {
        Ok(self
            .store
            .access_hook_secret(tenant_id.as_str(), source_id.as_str())
            .await?
            .map(delivery_of))
    }

    /// Removes the source's hooks at GitLab and forgets its secret (its deliveries are refused
    /// from then on). A hook GitLab could not remove stays recorded as `removing` and is tried
    /// again by the next call; the answer lists them as "kind id hook id: error".
    pub async fn remove_for_source(
        &self,
        tenant_id: &TenantId,
        source_id: &AccessSourceId,
    ) -> Result<Vec<String>> {
        self.store
            .delete_access_hook_secret(tenant_id.as_str(), source_id.as_str())
            .await?;
        let rows = self
            .store
            .list_access_hooks(tenant_id.as_str(), source_id.as_str())
            .await?;
        let mut left = Vec::new();
        let mut sessions: Vec<(String, Result<GitLabSession>)> = Vec::new();
        for row in rows {
            if !sessions.iter().any(|(id, _)| *id == row.connection_id) {
                let session = self
                    .connections
                    .named_session(tenant_id, &ConnectionId::from_stored(row.connection_id.clone()))
                    .await;
                sessions.push((row.connection_id.clone(), session));
            }
            let outcome = match sessions.iter().find(|(id, _)| *id == row.connection_id) {
                Some((_, Ok(session))) => remove_one(session, &row).await,
                Some((_, Err(error))) => Err(format!("the connection cannot be used: {error}")),
                None => Err("the connection cannot be used".to_owned()),
            };
            match outcome {
                Ok(()) => self.store.delete_access_hook(&row.id).await?,
                Err(message) => {
                    self.store
                        .set_access_hook_state(&row.id, REMOVING, Some(&message), ms(self.clock.now()))
                        .await?;
                    left.push(format!(
                        "{} {} hook {}: {message}",
                        row.owner_kind,
                        row.gitlab_owner_id
                            .map_or_else(|| "-".to_owned(), |id| id.to_string()),
                        row.gitlab_hook_id
                    ));
                }
            }
        }
        Ok(left)
    }

    /// Takes one delivery: the token must be a source's hook secret; a redelivery or an event
    /// that changes no access is acknowledged without effect; otherwise what it changed is kept
    /// as the source's pending targets (`recorded`).
    pub async fn receive(&self, delivery: AccessHookDelivery) -> Result<AccessHookReceipt> {
        Ok(self.accept(delivery).await?.0)
    }

    /// [`AccessHooks::receive`], answering the source's tenant as well.
    async fn accept(&self, delivery: AccessHookDelivery) -> Result<(AccessHookReceipt, TenantId)> {
        let refused = CoreError::Unauthorized("the webhook token is not valid");
        let Some(token) = delivery.token.as_ref().filter(|t| !t.expose_secret().is_empty()) else {
            return Err(refused);
        };
        let Some(row) = self.store.access_hook_secret_by_digest(&digest(token)).await? else {
            return Err(refused);
        };
        let expected = self
            .vault
            .open(
                &Aad::new(&row.tenant_id, SECRET_TABLE, &row.source_id, SECRET_FIELD),
                &row.token_sealed,
            )
            .await?;
        if !labgate_crypto::constant_time_eq(
            expected.expose_secret().as_bytes(),
            token.expose_secret().as_bytes(),
        ) {
            return Err(refused);
        }
        let targets = targets_of(&delivery.body).map_err(|e| CoreError::Validation {
            message: format!("the body is not a GitLab access event: {e}"),
            field: None,
        })?;
        let receipt = |status: &str, targets: &[AccessTarget]| AccessHookReceipt {
            status: status.to_owned(),
            source_id: row.source_id.clone(),
            targets: targets
                .iter()
                .map(|t| AccessHookTarget {
                    kind: t.kind().to_owned(),
                    gitlab_id: t.gitlab_id(),
                })
                .collect(),
            run_id: None,
        };
        let tenant = TenantId::from_stored(row.tenant_id.clone());
        let Some(targets) = targets else {
            return Ok((receipt("ignored", &[]), tenant));
        };
        let now = ms(self.clock.now());
        if let Some(uuid) = delivery.event_uuid.as_deref().filter(|u| !u.is_empty())
            && !self
                .store
                .record_access_hook_event(&row.source_id, uuid, now, now.saturating_add(EVENT_MEMORY_MS))
                .await?
        {
            return Ok((receipt("duplicate", &targets), tenant));
        }
        for target in &targets {
            self.store
                .add_access_pending_target(&row.source_id, target.kind(), signed(target.gitlab_id()), now)
                .await?;
        }
        Ok((receipt("recorded", &targets), tenant))
    }

    /// Takes one delivery as [`AccessHooks::receive`] does, then queues a targeted run of the
    /// source over every group and project pending for it (this event's and any an earlier
    /// event left because a run was busy then). A queued run holds its targets durably, so they
    /// are no longer pending; while another run is queued or running they stay pending
    /// (`recorded`) for the next event or run. Accounts are no target of a run: an account event
    /// with no group or project stays `recorded` until a full run.
    pub async fn receive_into(
        &self,
        syncs: &super::AccessSyncs,
        delivery: AccessHookDelivery,
    ) -> Result<AccessHookReceipt> {
        let (mut receipt, tenant_id) = self.accept(delivery).await?;
        if receipt.status != "recorded" {
            return Ok(receipt);
        }
        let source_id = AccessSourceId::from_stored(receipt.source_id.clone());
        let started = ms(self.clock.now());
        let pending: Vec<AccessTarget> = self
            .pending_targets(&source_id)
            .await?
            .into_iter()
            .map(|p| p.target)
            .filter(|t| t.resource().is_some())
            .collect();
        let resources: Vec<Resource> = pending.iter().filter_map(|t| t.resource()).collect();
        if resources.is_empty() {
            return Ok(receipt);
        }
        match syncs.queue_targeted(&tenant_id, &source_id, resources).await {
            Ok(run_id) => {
                self.settle(&source_id, &pending, started).await?;
                receipt.status = "queued".to_owned();
                receipt.run_id = Some(run_id.to_string());
            }
            Err(CoreError::Conflict(_)) => {
                tracing::debug!(access_source = %source_id, "a sync is queued or running; the changed resources stay pending");
            }
            Err(error) => {
                tracing::warn!(access_source = %source_id, error = %error, "could not queue a targeted access sync; the changed resources stay pending");
            }
        }
        Ok(receipt)
    }

    /// The source's pending targets, oldest first.
    pub async fn pending_targets(&self, source_id: &AccessSourceId) -> Result<Vec<PendingTarget>> {
        let rows = self.store.list_access_pending_targets(source_id.as_str()).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id = unsigned::<u64>("access_pending_targets.gitlab_id", row.gitlab_id)?;
            let target = AccessTarget::parse(&row.target_kind, id).ok_or_else(|| {
                CoreError::internal(std::io::Error::other(format!(
                    "access_pending_targets holds an unknown kind {:?}",
                    row.target_kind
                )))
            })?;
            out.push(PendingTarget {
                target,
                last_seen_at: row.last_seen_at,
            });
        }
        Ok(out)
    }

    /// Marks targets re-read by a run that started at `run_started_at` (ms): each is dropped
    /// unless an event named it again after the run started.
    pub async fn settle(
        &self,
        source_id: &AccessSourceId,
        targets: &[AccessTarget],
        run_started_at: i64,
    ) -> Result<()> {
        for target in targets {
            self.store
                .settle_access_pending_target(
                    source_id.as_str(),
                    target.kind(),
                    signed(target.gitlab_id()),
                    run_started_at,
                )
                .await?;
        }
        Ok(())
    }

    /// Deletes event UUIDs too old to dedupe anything.
    pub async fn prune_events(&self) -> Result<u64> {
        Ok(self.store.prune_access_hook_events(ms(self.clock.now())).await?)
    }
}

/// SHA-256 of a hook secret, hex: finds the source without revealing the secret.
fn digest(token: &SecretString) -> String {
    hex::encode(labgate_crypto::sha256(token.expose_secret().as_bytes()))
}

fn refusal(scope: HookScope, error: &GitLabError) -> String {
    match scope {
        HookScope::Instance => format!(
            "GitLab refused a system hook ({error}): system hooks exist on self-managed GitLab only and need an administrator's token with the api scope"
        ),
        HookScope::Group(GitLabGroupId(group)) => format!(
            "GitLab refused a group hook on group {group} ({error}): group webhooks need GitLab Premium or Ultimate and the group's Owner role"
        ),
    }
}

async fn remove_one(session: &GitLabSession, row: &AccessHookRecord) -> std::result::Result<(), String> {
    let hook =
        unsigned::<u64>("access_hooks.gitlab_hook_id", row.gitlab_hook_id).map_err(|e| e.to_string())?;
    let removed = match row.gitlab_owner_id {
        Some(owner) if row.owner_kind == GROUP => {
            let owner = unsigned::<u64>("access_hooks.gitlab_owner_id", owner).map_err(|e| e.to_string())?;
            session
                .client
                .delete_group_hook(&session.credential, &ResourceId::Id(owner), hook)
                .await
        }
        _ => session.client.delete_system_hook(&session.credential, hook).await,
    };
    match removed {
        // Already gone (removed by a person at GitLab): nothing left to remove.
        Ok(()) | Err(GitLabError::NotFound { .. }) => Ok(()),
        Err(error) => Err(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(body: &str) -> Option<Vec<AccessTarget>> {
        targets_of(body.as_bytes()).unwrap()
    }

    #[test]
    fn membership_events_name_the_source_and_the_account() {
        assert_eq!(
            targets(
                r#"{"event_name":"user_add_to_group","group_id":78,"user_id":41,"group_access":"Maintainer"}"#
            ),
            Some(vec![
                AccessTarget::Group(GitLabGroupId(78)),
                AccessTarget::Account(GitLabUserId(41))
            ])
        );
        assert_eq!(
            targets(r#"{"event_name":"user_remove_from_team","project_id":74,"user_id":41}"#),
            Some(vec![
                AccessTarget::Project(GitLabProjectId(74)),
                AccessTarget::Account(GitLabUserId(41))
            ])
        );
        assert_eq!(
            targets(r#"{"event_name":"user_update_for_group","group_id":1,"user_id":2}"#).map(|t| t.len()),
            Some(2)
        );
    }

    #[test]
    fn structure_events_name_what_moved() {
        assert_eq!(
            targets(r#"{"event_name":"project_transfer","project_id":73,"old_path_with_namespace":"a/b"}"#),
            Some(vec![AccessTarget::Project(GitLabProjectId(73))])
        );
        assert_eq!(
            targets(r#"{"event_name":"subgroup_create","group_id":2,"parent_group_id":1}"#),
            Some(vec![
                AccessTarget::Group(GitLabGroupId(2)),
                AccessTarget::Group(GitLabGroupId(1))
            ])
        );
        assert_eq!(
            targets(r#"{"event_name":"group_rename","group_id":64,"old_full_path":"p/old"}"#),
            Some(vec![AccessTarget::Group(GitLabGroupId(64))])
        );
        assert_eq!(
            targets(r#"{"event_name":"user_destroy","user_id":41}"#),
            Some(vec![AccessTarget::Account(GitLabUserId(41))])
        );
    }

    #[test]
    fn other_events_change_no_access() {
        assert_eq!(targets(r#"{"event_name":"key_create","id":4}"#), None);
        assert_eq!(targets(r#"{"object_kind":"push","project_id":3}"#), None);
        assert_eq!(targets(r#"{"event_name":"project_update","project_id":3}"#), None);
    }

    #[test]
    fn malformed_bodies_are_refused() {
        assert_eq!(targets_of(b"not json"), Err(EventError::NotJson));
        assert_eq!(targets_of(b"[1,2]"), Err(EventError::NotJson));
        assert!(matches!(
            targets_of(br#"{"event_name":"user_add_to_group","user_id":1}"#),
            Err(EventError::Missing {
                field: "group_id",
                ..
            })
        ));
        assert!(matches!(
            targets_of(br#"{"event_name":"user_add_to_team","project_id":"x","user_id":1}"#),
            Err(EventError::NotJson)
        ));
    }

    #[test]
    fn sweeps_say_why_in_the_log() {
        let outcome = InstallOutcome {
            delivery: Delivery::Sweeps {
                reason: "GitLab refused a group hook".to_owned(),
            },
        };
        assert!(outcome.log_message().contains("periodic full syncs only"));
        assert!(outcome.log_message().starts_with("GitLab refused a group hook"));
    }
}
