//! A sync run's snapshot: what GitLab said (accounts, groups, projects, direct memberships,
//! shares), and its passage through the store boundary. The effective grants are not stored:
//! they are computed when read ([`super::grants`]); a run stores how many each account has.

use labgate_store::{
    AccessAccountRecord, AccessGroupRecord, AccessMembershipRecord, AccessProjectRecord, AccessShareRecord,
    AccessSnapshot, Store,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use time::Date;

use super::diff::AccessDiff;
use super::effective::{Grant, GrantCalculator, Hierarchy, by_account, effective_grants};
use super::grants::GrantReader;
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
    /// snapshots; stored runs compute theirs a page at a time).
    pub fn effective_grants(&self, today: Date) -> Vec<Grant> {
        let hierarchy = Hierarchy::new(self.groups.iter().cloned(), self.projects.iter().cloned());
        effective_grants(hierarchy, &self.memberships, &self.shares, today)
    }

    /// How many effective grants each account with any has as of `today`, in account order.
    pub fn grant_tallies(&self, today: Date) -> Vec<(GitLabUserId, u64)> {
        let hierarchy = Hierarchy::new(self.groups.iter().cloned(), self.projects.iter().cloned());
        let calculator = GrantCalculator::new(hierarchy, &self.shares, today);
        by_account(&self.memberships)
            .into_iter()
            .map(|(account, memberships)| (account, calculator.account_grant_count(&memberships)))
            .filter(|(_, grants)| *grants > 0)
            .collect()
    }
}

/// Rows written per transaction when a snapshot is stored: large enough that a write costs
/// little per row, small enough that one never holds SQLite's single writer lock for long
/// while the rest of labgate waits to write.
const ROWS_PER_WRITE: usize = 20_000;

/// Run snapshots in the store.
#[derive(Clone)]
pub struct Snapshots {
    store: Store,
}

impl Snapshots {
    pub fn new(store: Store) -> Snapshots {
        Snapshots { store }
    }

    /// Stores the snapshot under the run with how many effective grants each account has as of
    /// `today`, the day the run's grants are computed for from then on. Whatever an earlier
    /// attempt left is removed first, and what this one wrote is removed when it fails: the run
    /// is marked succeeded only after this returns, and readers look at no other run's rows.
    /// Answers how many grants the snapshot gives.
    pub async fn save(&self, run: &AccessSyncRunId, snapshot: &Snapshot, today: Date) -> crate::Result<u64> {
        self.save_counting(run, snapshot, today, Arc::new(AtomicU64::new(0)))
            .await
    }

    /// [`Snapshots::save`], adding to `stored` the rows written so far, so a caller can report
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

    /// Writes the snapshot's rows part by part while the grant tallies are counted on a
    /// blocking thread (a large instance's take seconds of CPU), then the tallies. The writes
    /// run in a task of their own: a caller that stops polling for a while (to report progress
    /// on the same database) never leaves a transaction open that its own report waits on.
    async fn write(
        &self,
        run: &AccessSyncRunId,
        snapshot: &Snapshot,
        today: Date,
        stored: Arc<AtomicU64>,
    ) -> crate::Result<u64> {
        let counting = {
            let basis = Snapshot {
                accounts: Vec::new(),
                groups: snapshot.groups.clone(),
                projects: snapshot.projects.clone(),
                memberships: snapshot.memberships.clone(),
                shares: snapshot.shares.clone(),
            };
            tokio::task::spawn_blocking(move || basis.grant_tallies(today))
        };
        let parts = in_parts(to_records(snapshot));
        let store = self.store.clone();
        let run = run.as_str().to_owned();
        let writer = tokio::spawn(async move {
            for part in parts {
                store.write_access_snapshot(&run, &part).await?;
                stored.fetch_add(rows_in(&part), Ordering::Relaxed);
            }
            let tallies = counting.await.map_err(crate::CoreError::internal)?;
            let rows: Vec<(i64, i64)> = tallies
                .iter()
                .map(|(account, grants)| (signed(account.0), signed(*grants)))
                .collect();
            store
                .write_access_grant_tallies(&run, date_ms(today), &rows)
                .await?;
            Ok::<u64, crate::CoreError>(tallies.iter().map(|(_, grants)| grants).sum())
        });
        writer.await.map_err(crate::CoreError::internal)?
    }

    /// A run's snapshot.
    pub async fn load(&self, run: &AccessSyncRunId) -> crate::Result<Snapshot> {
        let records = self.store.access_snapshot(run.as_str()).await?;
        Ok(from_records(&records)?)
    }

    /// Every grant of a run, in account, then resource order, in one list: for runs known to be
    /// small. A large run's grants are paged ([`GrantReader`]).
    pub async fn grants(&self, run: &AccessSyncRunId) -> crate::Result<Vec<Grant>> {
        let reader = GrantReader::new(self.store.clone());
        let grants = reader.run(run.as_str()).await?;
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let (batch, last) = reader.accounts_after(&grants, after, 10_000).await?;
            all.extend(batch);
            match last {
                Some(last) => after = Some(last),
                None => return Ok(all),
            }
        }
    }

    /// What changed from run `before` to run `after`.
    pub async fn diff(&self, before: &AccessSyncRunId, after: &AccessSyncRunId) -> crate::Result<AccessDiff> {
        let before_snapshot = self.load(before).await?;
        let after_snapshot = self.load(after).await?;
        GrantReader::new(self.store.clone())
            .diff(
                Some(before.as_str()),
                &before_snapshot.accounts,
                after.as_str(),
                &after_snapshot.accounts,
                usize::MAX,
            )
            .await
    }
}

fn rows_in(part: &AccessSnapshot) -> u64 {
    (part.accounts.len()
        + part.groups.len()
        + part.projects.len()
        + part.memberships.len()
        + part.shares.len()) as u64
}

/// The records split into parts of at most [`ROWS_PER_WRITE`] rows, a table at a time.
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

/// The rows a run stores for a snapshot.
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

fn visibility(column: &'static str, text: &str) -> Parsed<Visibility> {
    Visibility::parse(text).ok_or_else(|| invalid(column, text))
}

pub(crate) fn group_from_record(row: &AccessGroupRecord) -> Parsed<Group> {
    Ok(Group {
        id: GitLabGroupId(unsigned("access_groups.gitlab_group_id", row.gitlab_group_id)?),
        parent: opt_unsigned("access_groups.parent_id", row.parent_id)?.map(GitLabGroupId),
        full_path: row.full_path.clone(),
        name: row.name.clone(),
        visibility: visibility("access_groups.visibility", &row.visibility)?,
    })
}

pub(crate) fn project_from_record(row: &AccessProjectRecord) -> Parsed<Project> {
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
}

pub(crate) fn membership_from_record(row: &AccessMembershipRecord) -> Parsed<Membership> {
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
}

pub(crate) fn share_from_record(row: &AccessShareRecord) -> Parsed<Share> {
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
}

/// A stored snapshot, parsed.
pub(crate) fn from_records(records: &AccessSnapshot) -> Parsed<Snapshot> {
    Ok(Snapshot {
        accounts: records
            .accounts
            .iter()
            .map(account_from_record)
            .collect::<Parsed<_>>()?,
        groups: records
            .groups
            .iter()
            .map(group_from_record)
            .collect::<Parsed<_>>()?,
        projects: records
            .projects
            .iter()
            .map(project_from_record)
            .collect::<Parsed<_>>()?,
        memberships: records
            .memberships
            .iter()
            .map(membership_from_record)
            .collect::<Parsed<_>>()?,
        shares: records
            .shares
            .iter()
            .map(share_from_record)
            .collect::<Parsed<_>>()?,
    })
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;
    use crate::access::effective::GrantPathKind;
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
    fn snapshots_survive_the_store_boundary_and_tally_every_kind_of_grant() {
        let snapshot = sample();
        let today = date!(2026 - 12 - 02);
        let grants = snapshot.effective_grants(today);
        let kinds: Vec<GrantPathKind> = grants.iter().map(|grant| grant.path.kind()).collect();
        for kind in [
            GrantPathKind::Direct,
            GrantPathKind::Inherited,
            GrantPathKind::Shared,
        ] {
            assert!(kinds.contains(&kind), "{kind:?} in {grants:#?}");
        }
        let mut counted: std::collections::BTreeMap<GitLabUserId, u64> = Default::default();
        for grant in &grants {
            *counted.entry(grant.account).or_default() += 1;
        }
        assert_eq!(
            snapshot.grant_tallies(today),
            counted.into_iter().collect::<Vec<_>>()
        );
        let records = to_records(&snapshot);
        assert_eq!(records.accounts[0].is_admin, Some(1));
        assert_eq!(records.accounts[1].is_admin, None);
        assert_eq!(from_records(&records).unwrap(), snapshot);
    }

    #[test]
    fn unknown_stored_values_are_errors_naming_their_column() {
        let snapshot = sample();
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
        let mut bad = good;
        bad.accounts[1].is_admin = Some(2);
        assert_eq!(from_records(&bad).unwrap_err().column, "access_accounts.is_admin");
    }
}
