//! A sync run's snapshot: what GitLab said (accounts, groups, projects, direct memberships,
//! shares), with the grants computed from it, and its passage through the store boundary.

use labgate_store::{
    AccessAccountRecord, AccessGrantFilter, AccessGrantKey, AccessGrantRecord, AccessGroupRecord,
    AccessMembershipRecord, AccessProjectRecord, AccessShareRecord, AccessSnapshot, Store,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use time::Date;

use super::diff::{AccessDiff, DiffBuilder};
use super::effective::{
    Grant, GrantCalculator, GrantPath, GrantPathKind, Hierarchy, by_account, effective_grants,
};
use super::model::{
    AccessLevel, Account, AccountKind, AccountState, CustomRole, GitLabGroupId, GitLabProjectId,
    GitLabUserId, Group, Membership, Project, Resource, ResourceKind, Role, Share, Visibility,
};
use crate::ids::AccessSyncRunId;
use crate::rows::{Parsed, StoredValueError, ms, opt_ms, opt_time, opt_unsigned, signed, time, unsigned};

/// Everything one sync run read from GitLab.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub accounts: Vec<Account>,
    pub groups: Vec<Group>,
    pub projects: Vec<Project>,
    pub memberships: Vec<Membership>,
    pub shares: Vec<Share>,
}

impl Snapshot {
    /// The effective grants of this snapshot as of `today`, all at once (for tests and small
    /// snapshots; a sync stores them an account at a time).
    pub fn effective_grants(&self, today: Date) -> Vec<Grant> {
        let hierarchy = Hierarchy::new(self.groups.iter().cloned(), self.projects.iter().cloned());
        effective_grants(&hierarchy, &self.memberships, &self.shares, today)
    }
}

/// Rows written per transaction when a snapshot is stored: large enough that a write costs
/// little per row, small enough that one never holds SQLite's single writer lock for long
/// while the rest of labgate waits to write.
const ROWS_PER_WRITE: usize = 20_000;

/// Grants read per batch when two runs are compared.
const GRANTS_PER_READ: u32 = 5_000;

/// Run snapshots in the store.
#[derive(Clone)]
pub struct Snapshots {
    store: Store,
}

impl Snapshots {
    pub fn new(store: Store) -> Snapshots {
        Snapshots { store }
    }

    /// Stores the snapshot under the run with its effective grants as of `today`, computed and
    /// written an account at a time so they are never all in memory. Whatever an earlier
    /// attempt left is removed first, and what this one wrote is removed when it fails: the run
    /// is marked succeeded only after this returns, and readers look at no other run's rows.
    /// Answers how many grants were stored.
    pub async fn save(&self, run: &AccessSyncRunId, snapshot: &Snapshot, today: Date) -> crate::Result<u64> {
        self.save_counting(run, snapshot, today, Arc::new(AtomicU64::new(0)))
            .await
    }

    /// [`Snapshots::save`], adding to `stored` the grants written so far, so a caller can report
    /// progress while a large snapshot is stored.
    pub async fn save_counting(
        &self,
        run: &AccessSyncRunId,
        snapshot: &Snapshot,
        today: Date,
        stored: Arc<AtomicU64>,
    ) -> crate::Result<u64> {
        self.store.clear_access_snapshot(run.as_str()).await?;
        match self.write(run, snapshot, today, stored).await {
            Ok(grants) => Ok(grants),
            Err(error) => {
                if let Err(cleanup) = self.store.clear_access_snapshot(run.as_str()).await {
                    tracing::warn!(sync_id = %run, error = %cleanup, "a partly written access snapshot could not be removed");
                }
                Err(error)
            }
        }
    }

    /// Writes the snapshot's rows, then its grants as they are computed: a task writes each
    /// part while the next account's grants are worked out, so the database and the
    /// computation run side by side.
    async fn write(
        &self,
        run: &AccessSyncRunId,
        snapshot: &Snapshot,
        today: Date,
        stored: Arc<AtomicU64>,
    ) -> crate::Result<u64> {
        let (parts, mut written) = tokio::sync::mpsc::channel::<AccessSnapshot>(2);
        let writer = {
            let store = self.store.clone();
            let run = run.as_str().to_owned();
            tokio::spawn(async move {
                while let Some(part) = written.recv().await {
                    store.write_access_snapshot(&run, &part).await?;
                    stored.fetch_add(part.grants.len() as u64, Ordering::Relaxed);
                }
                Ok::<_, labgate_store::StoreError>(())
            })
        };
        let computed = self.compute(snapshot, today, &parts).await;
        drop(parts);
        // The writer's error explains a send that failed: it stopped reading when it failed.
        writer.await.map_err(crate::CoreError::internal)??;
        computed
    }

    /// Sends the snapshot's rows in parts, then its grants an account at a time in parts;
    /// answers how many grants there were. Stops when the writer has gone.
    async fn compute(
        &self,
        snapshot: &Snapshot,
        today: Date,
        parts: &tokio::sync::mpsc::Sender<AccessSnapshot>,
    ) -> crate::Result<u64> {
        let gone = || crate::CoreError::Internal("the snapshot writer stopped".into());
        for part in in_parts(to_records(snapshot)) {
            parts.send(part).await.map_err(|_| gone())?;
        }
        let hierarchy = Hierarchy::new(snapshot.groups.iter().cloned(), snapshot.projects.iter().cloned());
        let calculator = GrantCalculator::new(&hierarchy, &snapshot.shares, today);
        let mut stored = 0u64;
        let mut batch: Vec<AccessGrantRecord> = Vec::with_capacity(ROWS_PER_WRITE);
        for memberships in by_account(&snapshot.memberships).values() {
            let grants = calculator.account_grants(memberships);
            stored += grants.len() as u64;
            batch.extend(grants.iter().map(grant_record));
            if batch.len() >= ROWS_PER_WRITE {
                let grants = std::mem::replace(&mut batch, Vec::with_capacity(ROWS_PER_WRITE));
                parts
                    .send(AccessSnapshot {
                        grants,
                        ..AccessSnapshot::default()
                    })
                    .await
                    .map_err(|_| gone())?;
            }
        }
        if !batch.is_empty() {
            parts
                .send(AccessSnapshot {
                    grants: batch,
                    ..AccessSnapshot::default()
                })
                .await
                .map_err(|_| gone())?;
        }
        Ok(stored)
    }

    /// A run's snapshot (its grants are read a batch at a time, see [`Snapshots::diff`]).
    pub async fn load(&self, run: &AccessSyncRunId) -> crate::Result<Snapshot> {
        let records = self.store.access_snapshot(run.as_str()).await?;
        Ok(from_records(&records)?)
    }

    /// Every grant of a run, in key order, read a batch at a time into one list: for runs known
    /// to be small. A large run's grants are paged (the reports) or compared as they are read
    /// ([`Snapshots::diff_grants`]).
    pub async fn grants(&self, run: &AccessSyncRunId) -> crate::Result<Vec<Grant>> {
        let mut cursor = GrantCursor::new(&self.store, Some(run));
        let mut grants = Vec::new();
        while cursor.peek().await?.is_some() {
            grants.extend(cursor.next());
        }
        Ok(grants)
    }

    /// What changed from run `before` to run `after`.
    pub async fn diff(&self, before: &AccessSyncRunId, after: &AccessSyncRunId) -> crate::Result<AccessDiff> {
        let before_snapshot = self.load(before).await?;
        let after_snapshot = self.load(after).await?;
        self.diff_grants(
            Some(before),
            &before_snapshot.accounts,
            after,
            &after_snapshot.accounts,
        )
        .await
    }

    /// What changed from run `before` (none: a first run, where everything is new) to run
    /// `after`, given each run's accounts; the grants of both are read side by side in key
    /// order, a batch at a time.
    pub async fn diff_grants(
        &self,
        before: Option<&AccessSyncRunId>,
        before_accounts: &[Account],
        after: &AccessSyncRunId,
        after_accounts: &[Account],
    ) -> crate::Result<AccessDiff> {
        let mut old = GrantCursor::new(&self.store, before);
        let mut new = GrantCursor::new(&self.store, Some(after));
        let mut builder = DiffBuilder::default();
        loop {
            let old_key = old.peek().await?.map(|grant| (grant.account, grant.resource));
            let new_key = new.peek().await?.map(|grant| (grant.account, grant.resource));
            match (old_key, new_key) {
                (None, None) => break,
                (Some(_), None) => builder.pair(old.next().as_ref(), None),
                (None, Some(_)) => builder.pair(None, new.next().as_ref()),
                (Some(o), Some(n)) if o < n => builder.pair(old.next().as_ref(), None),
                (Some(o), Some(n)) if o > n => builder.pair(None, new.next().as_ref()),
                (Some(_), Some(_)) => {
                    let (before, after) = (old.next(), new.next());
                    builder.pair(before.as_ref(), after.as_ref());
                }
            }
        }
        Ok(builder.finish(before_accounts, after_accounts))
    }
}

/// A run's grants in key order (account, resource kind, resource), read a batch at a time.
struct GrantCursor<'a> {
    store: &'a Store,
    run: Option<&'a AccessSyncRunId>,
    after: Option<AccessGrantKey>,
    buffered: std::collections::VecDeque<Grant>,
    exhausted: bool,
}

impl<'a> GrantCursor<'a> {
    fn new(store: &'a Store, run: Option<&'a AccessSyncRunId>) -> GrantCursor<'a> {
        GrantCursor {
            store,
            run,
            after: None,
            buffered: std::collections::VecDeque::new(),
            exhausted: run.is_none(),
        }
    }

    async fn peek(&mut self) -> crate::Result<Option<&Grant>> {
        if self.buffered.is_empty() && !self.exhausted {
            let run = self.run.map(AccessSyncRunId::as_str).unwrap_or_default();
            let rows = self
                .store
                .access_grants_after(
                    run,
                    AccessGrantFilter::default(),
                    self.after.as_ref(),
                    GRANTS_PER_READ,
                )
                .await?;
            self.exhausted = rows.len() < GRANTS_PER_READ as usize;
            if let Some(last) = rows.last() {
                self.after = Some(AccessGrantKey {
                    gitlab_user_id: last.gitlab_user_id,
                    resource_kind: last.resource_kind.clone(),
                    resource_id: last.resource_id,
                });
            }
            for row in &rows {
                self.buffered.push_back(grant_from_record(row)?);
            }
        }
        Ok(self.buffered.front())
    }

    /// The grant [`GrantCursor::peek`] showed.
    fn next(&mut self) -> Option<Grant> {
        self.buffered.pop_front()
    }
}

/// The records split into parts of at most [`ROWS_PER_WRITE`] rows, a table at a time. Grants
/// are not among them: they are computed and sent an account at a time.
fn in_parts(records: AccessSnapshot) -> Vec<AccessSnapshot> {
    fn split<T>(rows: Vec<T>) -> Vec<Vec<T>> {
        let mut rows = rows.into_iter().peekable();
        let mut parts = Vec::new();
        while rows.peek().is_some() {
            parts.push(rows.by_ref().take(ROWS_PER_WRITE).collect());
        }
        parts
    }
    let AccessSnapshot {
        accounts,
        groups,
        projects,
        memberships,
        shares,
        grants: _,
    } = records;
    let mut parts = Vec::new();
    parts.extend(split(accounts).into_iter().map(|accounts| AccessSnapshot {
        accounts,
        ..AccessSnapshot::default()
    }));
    parts.extend(split(groups).into_iter().map(|groups| AccessSnapshot {
        groups,
        ..AccessSnapshot::default()
    }));
    parts.extend(split(projects).into_iter().map(|projects| AccessSnapshot {
        projects,
        ..AccessSnapshot::default()
    }));
    parts.extend(split(memberships).into_iter().map(|memberships| AccessSnapshot {
        memberships,
        ..AccessSnapshot::default()
    }));
    parts.extend(split(shares).into_iter().map(|shares| AccessSnapshot {
        shares,
        ..AccessSnapshot::default()
    }));
    parts
}

fn invalid(column: &'static str, value: impl ToString) -> StoredValueError {
    StoredValueError {
        column,
        value: value.to_string(),
    }
}

fn date_ms(date: Date) -> i64 {
    ms(date.midnight().assume_utc())
}

fn opt_date(column: &'static str, value: Option<i64>) -> Parsed<Option<Date>> {
    value
        .map(|value| time(column, value).map(time::OffsetDateTime::date))
        .transpose()
}

fn level(column: &'static str, value: i32) -> Parsed<AccessLevel> {
    AccessLevel::from_number(i64::from(value)).ok_or_else(|| invalid(column, value))
}

fn resource(kind_column: &'static str, kind: &str, id_column: &'static str, id: i64) -> Parsed<Resource> {
    let kind = ResourceKind::parse(kind).ok_or_else(|| invalid(kind_column, kind))?;
    Ok(match kind {
        ResourceKind::Group => Resource::Group(GitLabGroupId(unsigned(id_column, id)?)),
        ResourceKind::Project => Resource::Project(GitLabProjectId(unsigned(id_column, id)?)),
    })
}

fn resource_parts(resource: Resource) -> (String, i64) {
    match resource {
        Resource::Group(GitLabGroupId(id)) => (ResourceKind::Group.as_str().to_owned(), signed(id)),
        Resource::Project(GitLabProjectId(id)) => (ResourceKind::Project.as_str().to_owned(), signed(id)),
    }
}

fn role(
    level_column: &'static str,
    access_level: i32,
    role_id: Option<i64>,
    role_name: Option<&str>,
) -> Parsed<Role> {
    let custom = match (role_id, role_name) {
        (Some(id), Some(name)) => Some(CustomRole {
            id: unsigned("access.member_role_id", id)?,
            name: name.to_owned(),
        }),
        (None, None) => None,
        (Some(id), None) => {
            return Err(invalid(
                "access.member_role_name",
                format!("missing for role {id}"),
            ));
        }
        (None, Some(name)) => {
            return Err(invalid(
                "access.member_role_id",
                format!("missing for role {name}"),
            ));
        }
    };
    Ok(Role {
        level: level(level_column, access_level)?,
        custom,
    })
}

fn role_parts(role: &Role) -> (i32, Option<i64>, Option<String>) {
    (
        i32::from(role.level.number()),
        role.custom.as_ref().map(|custom| signed(custom.id)),
        role.custom.as_ref().map(|custom| custom.name.clone()),
    )
}

/// The rows a run stores for a snapshot, without its grants (computed and stored apart).
pub(crate) fn to_records(snapshot: &Snapshot) -> AccessSnapshot {
    AccessSnapshot {
        accounts: snapshot
            .accounts
            .iter()
            .map(|account| AccessAccountRecord {
                gitlab_user_id: signed(account.id.0),
                username: account.username.clone(),
                name: account.name.clone(),
                kind: account.kind.as_str().to_owned(),
                state: account.state.as_str().to_owned(),
                is_admin: account.admin.map(i32::from),
                email: account.email.clone(),
                identities: serde_json::to_string(&account.identities).unwrap_or_else(|_| "[]".to_owned()),
                last_sign_in_at: opt_ms(account.last_sign_in_at),
                last_activity_on: account.last_activity_on.map(date_ms),
            })
            .collect(),
        groups: snapshot
            .groups
            .iter()
            .map(|group| AccessGroupRecord {
                gitlab_group_id: signed(group.id.0),
                parent_id: group.parent.map(|parent| signed(parent.0)),
                full_path: group.full_path.clone(),
                name: group.name.clone(),
                visibility: group.visibility.as_str().to_owned(),
            })
            .collect(),
        projects: snapshot
            .projects
            .iter()
            .map(|project| AccessProjectRecord {
                gitlab_project_id: signed(project.id.0),
                group_id: project.group.map(|group| signed(group.0)),
                full_path: project.full_path.clone(),
                name: project.name.clone(),
                visibility: project.visibility.as_str().to_owned(),
            })
            .collect(),
        memberships: snapshot
            .memberships
            .iter()
            .map(|membership| {
                let (resource_kind, resource_id) = resource_parts(membership.resource);
                let (access_level, member_role_id, member_role_name) = role_parts(&membership.role);
                AccessMembershipRecord {
                    gitlab_user_id: signed(membership.account.0),
                    resource_kind,
                    resource_id,
                    access_level,
                    member_role_id,
                    member_role_name,
                    expires_at: membership.expires_at.map(date_ms),
                }
            })
            .collect(),
        shares: snapshot
            .shares
            .iter()
            .map(|share| {
                let (resource_kind, resource_id) = resource_parts(share.resource);
                AccessShareRecord {
                    resource_kind,
                    resource_id,
                    shared_with_group_id: signed(share.shared_with.0),
                    access_level: i32::from(share.cap.number()),
                    expires_at: share.expires_at.map(date_ms),
                }
            })
            .collect(),
        grants: Vec::new(),
    }
}

pub(crate) fn grant_record(grant: &Grant) -> AccessGrantRecord {
    let (resource_kind, resource_id) = resource_parts(grant.resource);
    let (access_level, member_role_id, member_role_name) = role_parts(&grant.role);
    let (via_group_id, shared_at, capped_at) = match grant.path {
        GrantPath::Direct => (None, None, None),
        GrantPath::Inherited { via } => (Some(signed(via.0)), None, None),
        GrantPath::Shared {
            via,
            shared_at,
            capped_at,
        } => (
            Some(signed(via.0)),
            Some(resource_parts(shared_at)),
            Some(i32::from(capped_at.number())),
        ),
    };
    let (shared_at_kind, shared_at_id) = shared_at.unzip();
    AccessGrantRecord {
        gitlab_user_id: signed(grant.account.0),
        resource_kind,
        resource_id,
        access_level,
        member_role_id,
        member_role_name,
        path_kind: grant.path.kind().as_str().to_owned(),
        via_group_id,
        shared_at_kind,
        shared_at_id,
        capped_at,
        expires_at: grant.expires_at.map(date_ms),
    }
}

pub(crate) fn account_from_record(row: &AccessAccountRecord) -> Parsed<Account> {
    Ok(Account {
        id: GitLabUserId(unsigned("access_accounts.gitlab_user_id", row.gitlab_user_id)?),
        username: row.username.clone(),
        name: row.name.clone(),
        kind: AccountKind::parse(&row.kind).ok_or_else(|| invalid("access_accounts.kind", &row.kind))?,
        state: AccountState::parse(&row.state).ok_or_else(|| invalid("access_accounts.state", &row.state))?,
        admin: match row.is_admin {
            None => None,
            Some(0) => Some(false),
            Some(1) => Some(true),
            Some(other) => return Err(invalid("access_accounts.is_admin", other)),
        },
        email: row.email.clone(),
        identities: serde_json::from_str(&row.identities)
            .map_err(|_| invalid("access_accounts.identities", &row.identities))?,
        last_sign_in_at: opt_time("access_accounts.last_sign_in_at", row.last_sign_in_at)?,
        last_activity_on: opt_date("access_accounts.last_activity_on", row.last_activity_on)?,
    })
}

pub(crate) fn grant_from_record(row: &AccessGrantRecord) -> Parsed<Grant> {
    let kind = GrantPathKind::parse(&row.path_kind)
        .ok_or_else(|| invalid("access_grants.path_kind", &row.path_kind))?;
    let via = || -> Parsed<GitLabGroupId> {
        let id = row
            .via_group_id
            .ok_or_else(|| invalid("access_grants.via_group_id", "NULL"))?;
        Ok(GitLabGroupId(unsigned("access_grants.via_group_id", id)?))
    };
    let path = match kind {
        GrantPathKind::Direct => GrantPath::Direct,
        GrantPathKind::Inherited => GrantPath::Inherited { via: via()? },
        GrantPathKind::Shared => {
            let (Some(kind), Some(id)) = (row.shared_at_kind.as_deref(), row.shared_at_id) else {
                return Err(invalid("access_grants.shared_at_kind", "NULL"));
            };
            let capped_at = row
                .capped_at
                .ok_or_else(|| invalid("access_grants.capped_at", "NULL"))?;
            GrantPath::Shared {
                via: via()?,
                shared_at: resource(
                    "access_grants.shared_at_kind",
                    kind,
                    "access_grants.shared_at_id",
                    id,
                )?,
                capped_at: level("access_grants.capped_at", capped_at)?,
            }
        }
    };
    Ok(Grant {
        account: GitLabUserId(unsigned("access_grants.gitlab_user_id", row.gitlab_user_id)?),
        resource: resource(
            "access_grants.resource_kind",
            &row.resource_kind,
            "access_grants.resource_id",
            row.resource_id,
        )?,
        role: role(
            "access_grants.access_level",
            row.access_level,
            row.member_role_id,
            row.member_role_name.as_deref(),
        )?,
        path,
        expires_at: opt_date("access_grants.expires_at", row.expires_at)?,
    })
}

/// A stored snapshot, parsed (its grants apart, with [`grant_from_record`]).
pub(crate) fn from_records(records: &AccessSnapshot) -> Parsed<Snapshot> {
    let visibility =
        |column: &'static str, text: &str| Visibility::parse(text).ok_or_else(|| invalid(column, text));
    let snapshot = Snapshot {
        accounts: records
            .accounts
            .iter()
            .map(account_from_record)
            .collect::<Parsed<_>>()?,
        groups: records
            .groups
            .iter()
            .map(|row| {
                Ok(Group {
                    id: GitLabGroupId(unsigned("access_groups.gitlab_group_id", row.gitlab_group_id)?),
                    parent: opt_unsigned("access_groups.parent_id", row.parent_id)?.map(GitLabGroupId),
                    full_path: row.full_path.clone(),
                    name: row.name.clone(),
                    visibility: visibility("access_groups.visibility", &row.visibility)?,
                })
            })
            .collect::<Parsed<_>>()?,
        projects: records
            .projects
            .iter()
            .map(|row| {
                Ok(Project {
                    id: GitLabProjectId(unsigned(
                        "access_projects.gitlab_project_id",
                        row.gitlab_project_id,
                    )?),
                    group: opt_unsigned("access_projects.group_id", row.group_id)?.map(GitLabGroupId),
                    full_path: row.full_path.clone(),
                    name: row.name.clone(),
                    visibility: visibility("access_projects.visibility", &row.visibility)?,
                })
            })
            .collect::<Parsed<_>>()?,
        memberships: records
            .memberships
            .iter()
            .map(|row| {
                Ok(Membership {
                    account: GitLabUserId(unsigned("access_memberships.gitlab_user_id", row.gitlab_user_id)?),
                    resource: resource(
                        "access_memberships.resource_kind",
                        &row.resource_kind,
                        "access_memberships.resource_id",
                        row.resource_id,
                    )?,
                    role: role(
                        "access_memberships.access_level",
                        row.access_level,
                        row.member_role_id,
                        row.member_role_name.as_deref(),
                    )?,
                    expires_at: opt_date("access_memberships.expires_at", row.expires_at)?,
                })
            })
            .collect::<Parsed<_>>()?,
        shares: records
            .shares
            .iter()
            .map(|row| {
                Ok(Share {
                    resource: resource(
                        "access_shares.resource_kind",
                        &row.resource_kind,
                        "access_shares.resource_id",
                        row.resource_id,
                    )?,
                    shared_with: GitLabGroupId(unsigned(
                        "access_shares.shared_with_group_id",
                        row.shared_with_group_id,
                    )?),
                    cap: level("access_shares.access_level", row.access_level)?,
                    expires_at: opt_date("access_shares.expires_at", row.expires_at)?,
                })
            })
            .collect::<Parsed<_>>()?,
    };
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;
    use crate::access::model::Identity;

    fn sample() -> Snapshot {
        Snapshot {
            accounts: vec![
                Account {
                    id: GitLabUserId(7),
                    username: "alice".into(),
                    name: "Alice".into(),
                    kind: AccountKind::Human,
                    state: AccountState::Active,
                    admin: Some(true),
                    email: Some("alice@example.com".into()),
                    identities: vec![Identity {
                        provider: "ldapmain".into(),
                        extern_uid: "uid=alice,ou=people".into(),
                    }],
                    last_sign_in_at: Some(datetime!(2026-11-30 08:15:00 UTC)),
                    last_activity_on: Some(date!(2026 - 12 - 01)),
                },
                Account {
                    id: GitLabUserId(9),
                    username: "deploy-bot".into(),
                    name: "deploy".into(),
                    kind: AccountKind::Bot,
                    state: AccountState::Blocked,
                    admin: None,
                    email: None,
                    identities: Vec::new(),
                    last_sign_in_at: None,
                    last_activity_on: None,
                },
            ],
            groups: vec![
                Group {
                    id: GitLabGroupId(1),
                    parent: None,
                    full_path: "acme".into(),
                    name: "Acme".into(),
                    visibility: Visibility::Private,
                },
                Group {
                    id: GitLabGroupId(3),
                    parent: None,
                    full_path: "partners".into(),
                    name: "Partners".into(),
                    visibility: Visibility::Internal,
                },
            ],
            projects: vec![Project {
                id: GitLabProjectId(20),
                group: Some(GitLabGroupId(1)),
                full_path: "acme/api".into(),
                name: "API".into(),
                visibility: Visibility::Public,
            }],
            memberships: vec![
                Membership {
                    account: GitLabUserId(7),
                    resource: Resource::Group(GitLabGroupId(3)),
                    role: Role {
                        level: AccessLevel::DEVELOPER,
                        custom: Some(CustomRole {
                            id: 4,
                            name: "Auditor".into(),
                        }),
                    },
                    expires_at: Some(date!(2027 - 03 - 01)),
                },
                Membership {
                    account: GitLabUserId(9),
                    resource: Resource::Group(GitLabGroupId(1)),
                    role: Role::level(AccessLevel::MAINTAINER),
                    expires_at: None,
                },
            ],
            shares: vec![Share {
                resource: Resource::Group(GitLabGroupId(1)),
                shared_with: GitLabGroupId(3),
                cap: AccessLevel::REPORTER,
                expires_at: Some(date!(2027 - 01 - 15)),
            }],
        }
    }

    #[test]
    fn snapshots_and_every_kind_of_grant_survive_the_store_boundary() {
        let snapshot = sample();
        let grants = snapshot.effective_grants(date!(2026 - 12 - 02));
        let kinds: Vec<GrantPathKind> = grants.iter().map(|grant| grant.path.kind()).collect();
        for kind in [
            GrantPathKind::Direct,
            GrantPathKind::Inherited,
            GrantPathKind::Shared,
        ] {
            assert!(kinds.contains(&kind), "{kind:?} in {grants:#?}");
        }
        let records = to_records(&snapshot);
        assert_eq!(records.accounts[0].is_admin, Some(1));
        assert_eq!(records.accounts[1].is_admin, None);
        assert_eq!(from_records(&records).unwrap(), snapshot);
        let grants_back: Vec<Grant> = grants
            .iter()
            .map(|grant| grant_from_record(&grant_record(grant)).unwrap())
            .collect();
        assert_eq!(grants_back, grants);
    }

    #[test]
    fn unknown_stored_values_are_errors_naming_their_column() {
        let snapshot = sample();
        let grants = snapshot.effective_grants(date!(2026 - 12 - 02));
        let good = to_records(&snapshot);

        let mut bad = good.clone();
        bad.accounts[0].state = "frozen".into();
        assert_eq!(from_records(&bad).unwrap_err().column, "access_accounts.state");
        let mut bad = good.clone();
        bad.memberships[0].access_level = 35;
        assert_eq!(
            from_records(&bad).unwrap_err().column,
            "access_memberships.access_level"
        );
        let mut bad = good.clone();
        bad.shares[0].resource_kind = "namespace".into();
        assert_eq!(
            from_records(&bad).unwrap_err().column,
            "access_shares.resource_kind"
        );
        let mut bad = good.clone();
        bad.memberships[0].member_role_name = None;
        assert_eq!(from_records(&bad).unwrap_err().column, "access.member_role_name");
        let mut shared = grants
            .iter()
            .map(grant_record)
            .find(|grant| grant.path_kind == "shared")
            .unwrap();
        shared.capped_at = None;
        assert_eq!(
            grant_from_record(&shared).unwrap_err().column,
            "access_grants.capped_at"
        );
        let mut bad = good;
        bad.accounts[1].is_admin = Some(2);
        assert_eq!(from_records(&bad).unwrap_err().column, "access_accounts.is_admin");
    }
}
