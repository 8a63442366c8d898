//! A sync run's snapshot: what GitLab said (accounts, groups, projects, direct memberships,
//! shares), with the grants computed from it, and its passage through the store boundary.

use labgate_store::{
    AccessAccountRecord, AccessGrantRecord, AccessGroupRecord, AccessMembershipRecord, AccessProjectRecord,
    AccessShareRecord, AccessSnapshot, Store,
};
use time::Date;

use super::diff::{AccessDiff, diff};
use super::effective::{Grant, GrantPath, GrantPathKind, Hierarchy, effective_grants};
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
    /// The effective grants of this snapshot as of `today`.
    pub fn effective_grants(&self, today: Date) -> Vec<Grant> {
        let hierarchy = Hierarchy::new(self.groups.iter().cloned(), self.projects.iter().cloned());
        effective_grants(&hierarchy, &self.memberships, &self.shares, today)
    }
}

/// Run snapshots in the store.
#[derive(Clone)]
pub struct Snapshots {
    store: Store,
}

impl Snapshots {
    pub fn new(store: Store) -> Snapshots {
        Snapshots { store }
    }

    /// Computes the snapshot's effective grants as of `today` and stores both under the run, all
    /// or nothing. Answers the grants.
    pub async fn save(
        &self,
        run: &AccessSyncRunId,
        snapshot: &Snapshot,
        today: Date,
    ) -> crate::Result<Vec<Grant>> {
        let grants = snapshot.effective_grants(today);
        self.store
            .write_access_snapshot(run.as_str(), &to_records(snapshot, &grants))
            .await?;
        Ok(grants)
    }

    /// A run's snapshot and the grants computed when it was taken.
    pub async fn load(&self, run: &AccessSyncRunId) -> crate::Result<(Snapshot, Vec<Grant>)> {
        let records = self.store.access_snapshot(run.as_str()).await?;
        Ok(from_records(&records)?)
    }

    /// What changed from run `before` to run `after`.
    pub async fn diff(&self, before: &AccessSyncRunId, after: &AccessSyncRunId) -> crate::Result<AccessDiff> {
        let (before, before_grants) = self.load(before).await?;
        let (after, after_grants) = self.load(after).await?;
        Ok(diff(
            &before.accounts,
            &before_grants,
            &after.accounts,
            &after_grants,
        ))
    }
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

/// The rows a run stores for a snapshot and its computed grants.
pub(crate) fn to_records(snapshot: &Snapshot, grants: &[Grant]) -> AccessSnapshot {
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
        grants: grants.iter().map(grant_record).collect(),
    }
}

fn grant_record(grant: &Grant) -> AccessGrantRecord {
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

/// A stored snapshot and its grants, parsed.
pub(crate) fn from_records(records: &AccessSnapshot) -> Parsed<(Snapshot, Vec<Grant>)> {
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
    let grants = records
        .grants
        .iter()
        .map(grant_from_record)
        .collect::<Parsed<_>>()?;
    Ok((snapshot, grants))
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
        let records = to_records(&snapshot, &grants);
        assert_eq!(records.accounts[0].is_admin, Some(1));
        assert_eq!(records.accounts[1].is_admin, None);
        let (back, grants_back) = from_records(&records).unwrap();
        assert_eq!(back, snapshot);
        assert_eq!(grants_back, grants);
    }

    #[test]
    fn unknown_stored_values_are_errors_naming_their_column() {
        let snapshot = sample();
        let grants = snapshot.effective_grants(date!(2026 - 12 - 02));
        let good = to_records(&snapshot, &grants);

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
        let mut bad = good.clone();
        let shared = bad
            .grants
            .iter_mut()
            .find(|grant| grant.path_kind == "shared")
            .unwrap();
        shared.capped_at = None;
        assert_eq!(from_records(&bad).unwrap_err().column, "access_grants.capped_at");
        let mut bad = good;
        bad.accounts[1].is_admin = Some(2);
        assert_eq!(from_records(&bad).unwrap_err().column, "access_accounts.is_admin");
    }
}
