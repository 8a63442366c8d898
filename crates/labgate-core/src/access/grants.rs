//! A stored run's effective grants, computed when they are read from the run's direct
//! memberships, group tree and shares, as of the day the run computed them. A large instance's
//! run has tens of millions of grants: storing them took longer than reading GitLab, while any
//! one page, account, resource or export batch is quick to compute.
//!
//! The run keeps how many grants each account has with running totals, so a page at any offset
//! starts at the right account; the group tree and shares of the few runs read most recently
//! stay in memory, since every read of a run needs them and a run never changes once stored.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use labgate_store::{AccessGrantTally, AccessMembershipRecord, Store};

use super::diff::{AccessDiff, DiffBuilder};
use super::effective::{Grant, GrantCalculator, Hierarchy, by_account};
use super::model::{Account, GitLabUserId, Membership, Resource};
use super::snapshot::{group_from_record, membership_from_record, project_from_record, share_from_record};
use crate::rows::{Parsed, signed, time, unsigned};
use crate::{CoreError, Result};

/// Runs whose group tree and shares are kept in memory. A page reads one run, a diff two.
const CACHED_RUNS: usize = 4;

/// Accounts read per batch when two runs are compared.
const ACCOUNTS_PER_DIFF_BATCH: u32 = 200;

/// Tallies read at a time when accounts are gathered for a batch of grants.
const TALLIES_PER_READ: u32 = 500;

/// What computing one stored run's grants needs besides the memberships.
pub struct RunGrants {
    run: String,
    calculator: GrantCalculator,
    total: u64,
}

impl RunGrants {
    /// The sync run.
    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// How many grants the run has.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The run's group tree and projects, for the names grants refer to.
    pub fn hierarchy(&self) -> &Hierarchy {
        self.calculator.hierarchy()
    }

    /// Each account's grants from its memberships, in account order, concatenated.
    fn grants_of(&self, memberships: &[Membership]) -> Vec<Grant> {
        by_account(memberships)
            .values()
            .flat_map(|own| self.calculator.account_grants(own))
            .collect()
    }
}

/// Reads stored runs' grants.
#[derive(Clone)]
pub struct GrantReader {
    store: Store,
    cache: Arc<Mutex<VecDeque<Arc<RunGrants>>>>,
}

fn memberships(rows: &[AccessMembershipRecord]) -> Parsed<Vec<Membership>> {
    rows.iter().map(membership_from_record).collect()
}

impl GrantReader {
    pub fn new(store: Store) -> GrantReader {
        GrantReader {
            store,
            cache: Arc::new(Mutex::new(VecDeque::new())),
        }
    }

    /// What a stored run's grants are computed with: from memory when the run was read lately.
    /// A run that has not stored its snapshot has no grants to read (409).
    pub async fn run(&self, run: &str) -> Result<Arc<RunGrants>> {
        if let Some(found) = self.cached(run) {
            return Ok(found);
        }
        let totals = self.store.access_grant_totals(run).await?.ok_or_else(|| {
            CoreError::Conflict("the sync has not stored a snapshot: it has no grants to read".into())
        })?;
        let (groups, projects) = self.store.access_groups_and_projects(run).await?;
        let shares = self.store.access_shares(run).await?;
        let hierarchy = Hierarchy::new(
            groups.iter().map(group_from_record).collect::<Parsed<Vec<_>>>()?,
            projects
                .iter()
                .map(project_from_record)
                .collect::<Parsed<Vec<_>>>()?,
        );
        let shares = shares.iter().map(share_from_record).collect::<Parsed<Vec<_>>>()?;
        let computed_on = time("access_grant_totals.computed_on", totals.computed_on)?.date();
        let loaded = Arc::new(RunGrants {
            run: run.to_owned(),
            calculator: GrantCalculator::new(hierarchy, &shares, computed_on),
            total: unsigned("access_grant_totals.grants", totals.grants)?,
        });
        let mut cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.retain(|cached| cached.run != run);
        cache.push_front(Arc::clone(&loaded));
        cache.truncate(CACHED_RUNS);
        Ok(loaded)
    }

    fn cached(&self, run: &str) -> Option<Arc<RunGrants>> {
        let mut cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let index = cache.iter().position(|cached| cached.run == run)?;
        let found = cache.remove(index)?;
        cache.push_front(Arc::clone(&found));
        Some(found)
    }

    /// Grants `offset..offset + limit` of the run in account, then resource order.
    pub async fn page(&self, run: &RunGrants, offset: u64, limit: u32) -> Result<Vec<Grant>> {
        if limit == 0 || offset >= run.total {
            return Ok(Vec::new());
        }
        // Every tallied account has a grant, so `limit` accounts hold the page.
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let tallies = self
            .store
            .access_grant_tallies_from(&run.run, offset, limit)
            .await?;
        // The page ends in the first account whose running total reaches its end.
        let end = offset.saturating_add(i64::from(limit));
        let last = tallies
            .iter()
            .find(|tally| tally.grants_through >= end)
            .or(tallies.last());
        let (Some(first), Some(last)) = (tallies.first(), last) else {
            return Ok(Vec::new());
        };
        let skip = usize::try_from(offset - (first.grants_through - first.grants)).unwrap_or(0);
        let rows = self
            .store
            .access_memberships_of_accounts(&run.run, first.gitlab_user_id, last.gitlab_user_id)
            .await?;
        Ok(run
            .grants_of(&memberships(&rows)?)
            .into_iter()
            .skip(skip)
            .take(limit as usize)
            .collect())
    }

    /// Every grant of one account, by resource.
    pub async fn of_account(&self, run: &RunGrants, account: GitLabUserId) -> Result<Vec<Grant>> {
        let id = signed(account.0);
        let rows = self
            .store
            .access_memberships_of_accounts(&run.run, id, id)
            .await?;
        Ok(run.grants_of(&memberships(&rows)?))
    }

    /// Every account's grant on one resource, by account: computed from the memberships on the
    /// resource, the groups above it, and the groups invited to it or above it.
    pub async fn on_resource(&self, run: &RunGrants, resource: Resource) -> Result<Vec<Grant>> {
        let reaching = run.calculator.reaching(resource);
        let (mut groups, mut projects) = (Vec::new(), Vec::new());
        for place in &reaching {
            match place {
                Resource::Group(id) => groups.push(signed(id.0)),
                Resource::Project(id) => projects.push(signed(id.0)),
            }
        }
        let rows = self
            .store
            .access_memberships_on(&run.run, &groups, &projects)
            .await?;
        let memberships = memberships(&rows)?;
        Ok(by_account(&memberships)
            .values()
            .filter_map(|own| run.calculator.account_grant_on(own, resource))
            .collect())
    }

    /// The grants of the accounts after `after` (from the first when `None`), whole accounts at
    /// a time until at least `wanted` grants, and the last account they cover; `None` once
    /// every account has been read.
    pub async fn accounts_after(
        &self,
        run: &RunGrants,
        after: Option<GitLabUserId>,
        wanted: u64,
    ) -> Result<(Vec<Grant>, Option<GitLabUserId>)> {
        let after = after.map(|account| signed(account.0));
        let tallies = self
            .store
            .access_grant_tallies_after(&run.run, after, TALLIES_PER_READ)
            .await?;
        let Some(first) = tallies.first() else {
            return Ok((Vec::new(), None));
        };
        let mut gathered = 0u64;
        let mut last = first;
        for tally in &tallies {
            last = tally;
            gathered += unsigned::<u64>("access_grant_tallies.grants", tally.grants)?;
            if gathered >= wanted {
                break;
            }
        }
        let rows = self
            .store
            .access_memberships_of_accounts(&run.run, first.gitlab_user_id, last.gitlab_user_id)
            .await?;
        let grants = run.grants_of(&memberships(&rows)?);
        let last = GitLabUserId(unsigned(
            "access_grant_tallies.gitlab_user_id",
            last.gitlab_user_id,
        )?);
        Ok((grants, Some(last)))
    }

    /// What changed from run `before` (none: a first run, where everything is new) to run
    /// `after`, given each run's accounts, keeping the first `cap` entries of each list. The
    /// runs' grants are computed side by side a batch of accounts at a time, so two runs with
    /// millions of grants are compared in little memory.
    pub async fn diff(
        &self,
        before: Option<&str>,
        before_accounts: &[Account],
        after: &str,
        after_accounts: &[Account],
        cap: usize,
    ) -> Result<AccessDiff> {
        let old = match before {
            Some(before) => Some(self.run(before).await?),
            None => None,
        };
        let new = self.run(after).await?;
        let mut builder = DiffBuilder::capped(cap);
        let mut from: Option<i64> = None;
        loop {
            // The batch ends where the first run's batch of tallied accounts ends.
            let mut bound: Option<i64> = None;
            let mut any = false;
            for run in old.iter().chain(std::iter::once(&new)) {
                let tallies = self
                    .store
                    .access_grant_tallies_after(&run.run, from, ACCOUNTS_PER_DIFF_BATCH)
                    .await?;
                any |= !tallies.is_empty();
                if tallies.len() == ACCOUNTS_PER_DIFF_BATCH as usize {
                    let end = tallies
                        .last()
                        .map(|tally: &AccessGrantTally| tally.gitlab_user_id);
                    bound = match (bound, end) {
                        (Some(bound), Some(end)) => Some(bound.min(end)),
                        (None, end) => end,
                        (bound, None) => bound,
                    };
                }
            }
            if !any {
                break;
            }
            let first = from.map_or(i64::MIN, |from| from.saturating_add(1));
            let last = bound.unwrap_or(i64::MAX);
            let old_grants = match &old {
                Some(old) => {
                    let rows = self
                        .store
                        .access_memberships_of_accounts(&old.run, first, last)
                        .await?;
                    old.grants_of(&memberships(&rows)?)
                }
                None => Vec::new(),
            };
            let rows = self
                .store
                .access_memberships_of_accounts(&new.run, first, last)
                .await?;
            let new_grants = new.grants_of(&memberships(&rows)?);
            pair_in_order(&mut builder, old_grants, new_grants);
            match bound {
                Some(bound) => from = Some(bound),
                None => break,
            }
        }
        Ok(builder.finish(before_accounts, after_accounts))
    }
}

/// Feeds two lists of grants, each in (account, resource) order, to the builder pair by pair.
fn pair_in_order(builder: &mut DiffBuilder, old: Vec<Grant>, new: Vec<Grant>) {
    let key = |grant: &Grant| (grant.account, grant.resource);
    let mut old = old.into_iter().peekable();
    let mut new = new.into_iter().peekable();
    loop {
        match (old.peek().map(key), new.peek().map(key)) {
            (None, None) => break,
            (Some(o), Some(n)) if o == n => {
                let (before, after) = (old.next(), new.next());
                builder.pair(before.as_ref(), after.as_ref());
            }
            (Some(o), Some(n)) if o < n => builder.pair(old.next().as_ref(), None),
            (Some(_), None) => builder.pair(old.next().as_ref(), None),
            (_, Some(_)) => builder.pair(None, new.next().as_ref()),
        }
    }
}
