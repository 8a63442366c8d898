//! What changed between two sync runs: grants added, removed and changed, and the changes an
//! auditor looks at first, new administrators and new owners.

use std::collections::{BTreeMap, BTreeSet};

use super::effective::Grant;
use super::model::{AccessLevel, Account, GitLabUserId, Resource};

/// A grant whose level, custom role, path or expiry differs between the two runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantChange {
    pub before: Grant,
    pub after: Grant,
}

/// How many entries each part of a diff has in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffCounts {
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    pub new_owners: u64,
}

/// What changed between two runs. Each grant list holds its first entries (all of them unless
/// the builder was capped); `counts` has the totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessDiff {
    pub added: Vec<Grant>,
    pub removed: Vec<Grant>,
    pub changed: Vec<GrantChange>,
    /// Accounts that are administrators now and were not (or did not exist) before. An account
    /// whose admin flag was not visible in either run is not counted: unknown is not a change.
    pub new_admins: Vec<GitLabUserId>,
    /// Grants at Owner level where the account had less than Owner (or nothing) before.
    pub new_owners: Vec<Grant>,
    pub counts: DiffCounts,
}

impl AccessDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.new_admins.is_empty()
    }
}

/// Builds a diff from the two runs' grants met pair by pair in account, then resource order, so
/// two runs with millions of grants are compared a batch at a time, keeping at most `cap`
/// entries of each list.
#[derive(Debug)]
pub struct DiffBuilder {
    result: AccessDiff,
    cap: usize,
}

impl Default for DiffBuilder {
    fn default() -> DiffBuilder {
        DiffBuilder::capped(usize::MAX)
    }
}

fn keep<T>(list: &mut Vec<T>, count: &mut u64, cap: usize, item: impl FnOnce() -> T) {
    *count += 1;
    if list.len() < cap {
        list.push(item());
    }
}

impl DiffBuilder {
    /// A builder keeping the first `cap` entries of each list (a first run of a large instance
    /// adds tens of millions of grants); the counts cover all of them.
    pub fn capped(cap: usize) -> DiffBuilder {
        DiffBuilder {
            result: AccessDiff::default(),
            cap,
        }
    }

    /// One account and resource, as each run had it (at least one of the two).
    pub fn pair(&mut self, before: Option<&Grant>, after: Option<&Grant>) {
        let (result, cap) = (&mut self.result, self.cap);
        match (before, after) {
            (None, None) => {}
            (Some(previous), None) => keep(&mut result.removed, &mut result.counts.removed, cap, || {
                previous.clone()
            }),
            (before, Some(grant)) => {
                match before {
                    None => keep(&mut result.added, &mut result.counts.added, cap, || grant.clone()),
                    Some(previous) if previous != grant => {
                        keep(&mut result.changed, &mut result.counts.changed, cap, || {
                            GrantChange {
                                before: previous.clone(),
                                after: grant.clone(),
                            }
                        })
                    }
                    Some(_) => {}
                }
                let owner_before = before.is_some_and(|previous| previous.role.level == AccessLevel::OWNER);
                if grant.role.level == AccessLevel::OWNER && !owner_before {
                    keep(&mut result.new_owners, &mut result.counts.new_owners, cap, || {
                        grant.clone()
                    });
                }
            }
        }
    }

    /// The diff, with the accounts that became administrators.
    pub fn finish(mut self, before_accounts: &[Account], after_accounts: &[Account]) -> AccessDiff {
        let admins_before: BTreeSet<GitLabUserId> = before_accounts
            .iter()
            .filter(|account| account.admin == Some(true))
            .map(|account| account.id)
            .collect();
        let mut new_admins: Vec<GitLabUserId> = after_accounts
            .iter()
            .filter(|account| account.admin == Some(true) && !admins_before.contains(&account.id))
            .map(|account| account.id)
            .collect();
        new_admins.sort_unstable();
        self.result.new_admins = new_admins;
        self.result
    }
}

/// Compares a run (`after`) with an earlier one (`before`); each list is in account, then
/// resource order. Grants are effective grants, one per account and resource.
pub fn diff(
    before_accounts: &[Account],
    before_grants: &[Grant],
    after_accounts: &[Account],
    after_grants: &[Grant],
) -> AccessDiff {
    let index = |grants: &[Grant]| -> BTreeMap<(GitLabUserId, Resource), Grant> {
        grants
            .iter()
            .map(|grant| ((grant.account, grant.resource), grant.clone()))
            .collect()
    };
    let before = index(before_grants);
    let after = index(after_grants);
    let keys: BTreeSet<&(GitLabUserId, Resource)> = before.keys().chain(after.keys()).collect();
    let mut builder = DiffBuilder::default();
    for key in keys {
        builder.pair(before.get(key), after.get(key));
    }
    builder.finish(before_accounts, after_accounts)
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::access::effective::GrantPath;
    use crate::access::model::{AccountKind, AccountState, GitLabGroupId, GitLabProjectId, Role};

    fn grant(user: u64, resource: Resource, level: AccessLevel, path: GrantPath) -> Grant {
        Grant {
            account: GitLabUserId(user),
            resource,
            role: Role::level(level),
            path,
            expires_at: None,
        }
    }

    fn account(id: u64, admin: Option<bool>) -> Account {
        Account {
            id: GitLabUserId(id),
            username: format!("user{id}"),
            name: format!("User {id}"),
            kind: AccountKind::Human,
            state: AccountState::Active,
            admin,
            email: None,
            identities: Vec::new(),
            last_sign_in_at: None,
            last_activity_on: None,
        }
    }

    const ACME: Resource = Resource::Group(GitLabGroupId(1));
    const API: Resource = Resource::Project(GitLabProjectId(20));
    const VIA_ACME: GrantPath = GrantPath::Inherited {
        via: GitLabGroupId(1),
    };

    #[test]
    fn identical_runs_differ_in_nothing() {
        let grants = [grant(7, ACME, AccessLevel::OWNER, GrantPath::Direct)];
        let accounts = [account(7, Some(true))];
        let result = diff(&accounts, &grants, &accounts, &grants);
        assert!(result.is_empty());
        assert!(
            result.new_owners.is_empty(),
            "an owner before and after is not new"
        );
    }

    #[test]
    fn added_removed_and_changed_grants_are_told_apart() {
        let before = [
            grant(7, ACME, AccessLevel::DEVELOPER, GrantPath::Direct),
            grant(7, API, AccessLevel::DEVELOPER, VIA_ACME),
            grant(8, API, AccessLevel::REPORTER, GrantPath::Direct),
        ];
        let mut expiring = grant(8, API, AccessLevel::REPORTER, GrantPath::Direct);
        expiring.expires_at = Some(date!(2027 - 01 - 01));
        let after = [
            grant(7, ACME, AccessLevel::OWNER, GrantPath::Direct),
            grant(8, API, AccessLevel::REPORTER, GrantPath::Direct),
            grant(9, ACME, AccessLevel::GUEST, GrantPath::Direct),
        ];
        let result = diff(&[], &before, &[], &after);
        assert_eq!(result.added, vec![after[2].clone()]);
        assert_eq!(result.removed, vec![before[1].clone()]);
        assert_eq!(
            result.changed,
            vec![GrantChange {
                before: before[0].clone(),
                after: after[0].clone()
            }]
        );
        assert_eq!(result.new_owners, vec![after[0].clone()]);

        let result = diff(
            &[],
            &after,
            &[],
            &[after[0].clone(), expiring.clone(), after[2].clone()],
        );
        assert_eq!(result.changed.len(), 1, "a new expiry is a change");
        assert_eq!(result.changed[0].after, expiring);
    }

    #[test]
    fn a_capped_builder_keeps_the_first_entries_and_counts_them_all() {
        let owner = |user| {
            grant(
                user,
                Resource::Group(GitLabGroupId(1)),
                AccessLevel::OWNER,
                GrantPath::Direct,
            )
        };
        let mut builder = DiffBuilder::capped(2);
        for user in 1..=5 {
            builder.pair(None, Some(&owner(user)));
        }
        builder.pair(Some(&owner(6)), None);
        let result = builder.finish(&[], &[]);
        assert_eq!(
            result.added.iter().map(|g| g.account.0).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(result.new_owners.len(), 2);
        assert_eq!(result.removed.len(), 1);
        assert_eq!(
            result.counts,
            DiffCounts {
                added: 5,
                removed: 1,
                changed: 0,
                new_owners: 5
            }
        );
    }

    #[test]
    fn a_path_change_at_the_same_level_is_a_change() {
        let before = [grant(7, API, AccessLevel::DEVELOPER, VIA_ACME)];
        let after = [grant(7, API, AccessLevel::DEVELOPER, GrantPath::Direct)];
        let result = diff(&[], &before, &[], &after);
        assert_eq!(result.changed.len(), 1);
        assert!(result.added.is_empty() && result.removed.is_empty());
    }

    #[test]
    fn new_admins_count_only_a_visible_flag_turning_true() {
        let before = [account(1, Some(true)), account(2, Some(false)), account(3, None)];
        let after = [
            account(1, Some(true)),
            account(2, Some(true)),
            account(3, None),
            account(5, Some(true)),
            account(4, Some(false)),
        ];
        let result = diff(&before, &[], &after, &[]);
        assert_eq!(result.new_admins, vec![GitLabUserId(2), GitLabUserId(5)]);
        assert!(!result.is_empty());
    }
}
