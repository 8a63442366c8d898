//! The sync engine: one `access.sync` job reads a source's scope from GitLab into a snapshot and
//! stores it with the effective grants computed from it.
//!
//! What a full run reads, one request per page of each listing (`per_page=100`, keyset where
//! GitLab offers it):
//!
//! - Group scope: the top-level group's detail, `GET /groups/:id/descendant_groups`, the detail
//!   of each descendant (listings carry no `shared_with_groups`), `GET /groups/:id/projects
//!   ?include_subgroups=true` (project entities carry their shares), the DIRECT members of every
//!   group and project (`/members`, never `/members/all`: inherited and shared access is computed
//!   here, with its path). Groups outside the scope that its groups or projects are shared with
//!   are read too (detail, ancestors, direct members): their members' access arrives through the
//!   share. Accounts come from the member listings alone, with no user read one by one: the
//!   member entity has the id, username, name and state, and while it lacks `bot`/`user_type`,
//!   GitLab names the users it creates for tokens and service accounts by fixed patterns
//!   ([`AccountKind::from_username`]). What a member entity never carries (e-mail, identities,
//!   admin flag, sign-in and activity) is shown to administrators only, so a group scope leaves
//!   it empty; an instance scope, which needs an administrator token anyway, has it all from the
//!   user listing.
//! - Instance scope (self-managed, administrator token): `GET /users` (keyset by id; the admin
//!   view carries identities, the admin flag, `user_type`, last sign-in and activity, so no user
//!   is read one by one unless a member is missing from it), `GET /groups?all_available=true`
//!   with each group's detail, `GET /projects` (keyset by id), and the direct members of each.
//!
//! The client honours `RateLimit-*` and `Retry-After` and retries 429s and 5xx; a
//! [`RequestMeter`] on the run's client counts the calls (the run's `request_count`), the
//! repeated attempts, and holds the run under `LABGATE_ACCESS_SYNC_MAX_RPM`. Listings run at most
//! `concurrency` at a time.
//!
//! A run writes its snapshot at its end, in parts, and is marked succeeded only once all of it is
//! stored; a failed run's parts are removed, so the last good snapshot stays the source's latest
//! succeeded run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use labgate_gitlab::{
    Credential, GitLabClient, GitLabError, GroupFilter, MemberScope, ProjectFilter, RequestMeter, ResourceId,
    Source, UserFilter,
};
use labgate_proto::access::{AccessSourceStatus, AccessSyncKind, AccessSyncLogLevel, AccessSyncStatus};
use labgate_store::AccessSyncRunUpdate;

use super::gitlab::{self as convert, UnknownGitLabValue};
use super::model::{
    Account, AccountKind, AccountState, GitLabGroupId, GitLabProjectId, GitLabUserId, Group, Membership,
    Project, Resource, Share,
};
use super::snapshot::{Snapshot, Snapshots};
use super::sources::{AccessScope, AccessSource, AccessSyncRun, AccessSyncs};
use crate::CoreError;
use crate::ids::{AccessSourceId, AccessSyncRunId};
use crate::jobs::{Job, Progress};
use crate::rows::ms;

/// How a sync job ended, for the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncJobEnd {
    Done {
        message: String,
    },
    /// A transient failure with attempts left: the job runs again later.
    Retry {
        message: String,
    },
    Failed {
        message: String,
    },
}

/// Why a run stopped.
#[derive(Debug)]
struct Failure {
    message: String,
    /// Whether trying again may help (GitLab unreachable, rate limited, a database hiccup).
    transient: bool,
}

impl Failure {
    fn gitlab(what: &str, error: &GitLabError) -> Failure {
        Failure {
            message: format!("{what}: {error}"),
            transient: error.is_transient(),
        }
    }

    fn permanent(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            transient: false,
        }
    }
}

impl From<UnknownGitLabValue> for Failure {
    fn from(error: UnknownGitLabValue) -> Failure {
        Failure::permanent(error.to_string())
    }
}

impl From<CoreError> for Failure {
    fn from(error: CoreError) -> Failure {
        Failure {
            transient: matches!(error, CoreError::Unavailable(_) | CoreError::Internal(_)),
            message: error.to_string(),
        }
    }
}

impl From<labgate_store::StoreError> for Failure {
    fn from(error: labgate_store::StoreError) -> Failure {
        Failure::from(CoreError::from(error))
    }
}

type Outcome<T> = std::result::Result<T, Failure>;

/// Progress is written at most once per this many items of a phase (and at its end).
const PROGRESS_EVERY: u64 = 10;

/// How often the rows stored so far are written as the saving phase's progress.
const SAVING_PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// One run in progress: where it reports, and the client it reads through.
struct Reading<'a> {
    syncs: &'a AccessSyncs,
    job: &'a Job,
    owner: &'a str,
    run: &'a AccessSyncRun,
    client: GitLabClient,
    credential: Credential,
    meter: Arc<RequestMeter>,
    /// Requests counted by earlier attempts of the same run.
    earlier_requests: u64,
    concurrency: usize,
}

impl Reading<'_> {
    fn requests(&self) -> u64 {
        self.earlier_requests + self.meter.calls()
    }

    async fn log(&self, level: AccessSyncLogLevel, message: &str) {
        let at = ms(self.syncs.clock.now());
        if let Err(error) = self
            .syncs
            .store
            .append_access_sync_log(self.run.id.as_str(), at, level.as_str(), message)
            .await
        {
            tracing::warn!(sync_id = %self.run.id, error = %error, "an access sync log line could not be written");
        }
    }

    async fn progress(&self, phase: &str, done: u64, total: Option<u64>) {
        let progress = Progress {
            done,
            total,
            phase: Some(phase.to_owned()),
        };
        let _ = self
            .syncs
            .jobs
            .progress(&self.job.id, self.owner, &progress)
            .await;
        let _ = self
            .syncs
            .store
            .update_access_sync_run(
                self.run.id.as_str(),
                &AccessSyncRunUpdate {
                    progress_phase: Some(phase),
                    progress_done: Some(AccessSyncs::signed_count(done)),
                    progress_total: total.map(AccessSyncs::signed_count),
                    request_count: Some(AccessSyncs::signed_count(self.requests())),
                    ..AccessSyncRunUpdate::default()
                },
            )
            .await;
    }

    /// Every record of a listing.
    async fn all<T>(&self, what: &str, listing: labgate_gitlab::Paged<T>) -> Outcome<Vec<T>> {
        listing
            .try_collect()
            .await
            .map_err(|error| Failure::gitlab(what, &error))
    }

    async fn group_detail(&self, id: u64) -> std::result::Result<labgate_gitlab::Group, GitLabError> {
        self.client.group(&self.credential, &ResourceId::Id(id)).await
    }

    /// The details of `groups` (their shares), `concurrency` at a time, in the listing's order.
    async fn group_details(&self, groups: Vec<labgate_gitlab::Group>) -> Outcome<Vec<labgate_gitlab::Group>> {
        let total = groups.len() as u64;
        let done = &AtomicU64::new(0);
        let details: Vec<labgate_gitlab::Group> = stream::iter(groups)
            .map(|group| async move {
                let detail = self.group_detail(group.id).await.map_err(|error| {
                    Failure::gitlab(&format!("reading group {}", group.full_path), &error)
                })?;
                let done = done.fetch_add(1, Ordering::Relaxed) + 1;
                if done.is_multiple_of(PROGRESS_EVERY) || done == total {
                    self.progress("groups", done, Some(total)).await;
                }
                Ok::<_, Failure>(detail)
            })
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        Ok(details)
    }

    /// Groups outside what was read that `shares` invite, with their ancestors (whose members
    /// are the invited group's inherited members): their details, so the access they pass on is
    /// known. Shares of these groups are not followed, as GitLab does not chain shares.
    async fn invited_groups(&self, known: &[Group], shares: &[Share]) -> Outcome<Vec<Group>> {
        let mut seen: BTreeSet<GitLabGroupId> = known.iter().map(|group| group.id).collect();
        let mut wanted: Vec<GitLabGroupId> = shares
            .iter()
            .map(|share| share.shared_with)
            .filter(|id| !seen.contains(id))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut found = Vec::new();
        while let Some(id) = wanted.pop() {
            if !seen.insert(id) {
                continue;
            }
            match self.group_detail(id.0).await {
                Ok(detail) => {
                    let group = convert::group(&detail)?;
                    if let Some(parent) = group.parent
                        && !seen.contains(&parent)
                    {
                        wanted.push(parent);
                    }
                    found.push(group);
                }
                // A group the token cannot see passes on access nobody here can review.
                Err(GitLabError::NotFound { .. } | GitLabError::Forbidden { .. }) => {
                    self.log(
                        AccessSyncLogLevel::Warn,
                        &format!("group {} is shared into the scope but cannot be read", id.0),
                    )
                    .await;
                }
                Err(error) => return Err(Failure::gitlab(&format!("reading group {}", id.0), &error)),
            }
        }
        if !found.is_empty() {
            self.log(
                AccessSyncLogLevel::Info,
                &format!(
                    "read {} group(s) outside the scope that it is shared with (or their parents)",
                    found.len()
                ),
            )
            .await;
        }
        Ok(found)
    }

    /// The direct members of each resource, `concurrency` listings at a time. A resource GitLab
    /// no longer shows (deleted meanwhile) has none.
    async fn direct_members(
        &self,
        resources: Vec<(Resource, String)>,
    ) -> Outcome<Vec<(Resource, Vec<labgate_gitlab::Member>)>> {
        let total = resources.len() as u64;
        let done = &AtomicU64::new(0);
        self.progress("members", 0, Some(total)).await;
        let members = stream::iter(resources)
            .map(|(resource, path)| async move {
                let source = match resource {
                    Resource::Group(GitLabGroupId(id)) => Source::Group(ResourceId::Id(id)),
                    Resource::Project(GitLabProjectId(id)) => Source::Project(ResourceId::Id(id)),
                };
                let listed: std::result::Result<Vec<labgate_gitlab::Member>, GitLabError> = self
                    .client
                    .members(&self.credential, &source, MemberScope::Direct)
                    .try_collect()
                    .await;
                let members = match listed {
                    Ok(members) => members,
                    Err(GitLabError::NotFound { .. }) => {
                        self.log(
                            AccessSyncLogLevel::Warn,
                            &format!("{path} disappeared while the sync read it; it has no members"),
                        )
                        .await;
                        Vec::new()
                    }
                    Err(error) => {
                        return Err(Failure::gitlab(&format!("listing the members of {path}"), &error));
                    }
                };
                let done = done.fetch_add(1, Ordering::Relaxed) + 1;
                if done.is_multiple_of(PROGRESS_EVERY) || done == total {
                    self.progress("members", done, Some(total)).await;
                }
                Ok((resource, members))
            })
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        Ok(members)
    }

    /// The groups read (with their details) and the shares they hold, logged.
    async fn groups_read(&self, details: &[labgate_gitlab::Group]) -> Outcome<(Vec<Group>, Vec<Share>)> {
        let mut groups = Vec::with_capacity(details.len());
        let mut shares = Vec::new();
        for detail in details {
            groups.push(convert::group(detail)?);
            shares.extend(convert::group_shares(detail)?);
        }
        self.log(
            AccessSyncLogLevel::Info,
            &format!("read {} group(s)", groups.len()),
        )
        .await;
        Ok((groups, shares))
    }

    /// Every project of a listing and the shares they hold, logged.
    async fn projects_read(
        &self,
        listing: labgate_gitlab::Paged<labgate_gitlab::Project>,
    ) -> Outcome<(Vec<Project>, Vec<Share>)> {
        let listed = self.all("listing the projects", listing).await?;
        let mut projects = Vec::with_capacity(listed.len());
        let mut shares = Vec::new();
        for project in &listed {
            projects.push(convert::project(project)?);
            shares.extend(convert::project_shares(project)?);
        }
        self.log(
            AccessSyncLogLevel::Info,
            &format!("read {} project(s)", projects.len()),
        )
        .await;
        Ok((projects, shares))
    }

    /// Reads users one by one (`GET /users/:id`); one deleted meanwhile keeps what its member
    /// entity said.
    async fn users(
        &self,
        ids: Vec<GitLabUserId>,
        seen: &BTreeMap<GitLabUserId, labgate_gitlab::Member>,
    ) -> Outcome<Vec<Account>> {
        let total = ids.len() as u64;
        let done = &AtomicU64::new(0);
        self.progress("accounts", 0, Some(total)).await;
        stream::iter(ids)
            .map(|id| async move {
                let account = match self.client.user(&self.credential, id.0).await {
                    Ok(user) => convert::account(&user)?,
                    Err(GitLabError::NotFound { .. }) => match seen.get(&id) {
                        Some(member) => account_of_member(member)?,
                        None => return Err(Failure::permanent(format!("user {} cannot be read", id.0))),
                    },
                    Err(error) => return Err(Failure::gitlab(&format!("reading user {}", id.0), &error)),
                };
                let done = done.fetch_add(1, Ordering::Relaxed) + 1;
                if done.is_multiple_of(PROGRESS_EVERY) || done == total {
                    self.progress("accounts", done, Some(total)).await;
                }
                Ok(account)
            })
            .buffered(self.concurrency)
            .try_collect()
            .await
    }
}

/// What a member entity says of its account: no bot flag, as GitLab leaves it out there, so the
/// username GitLab gave the account tells machines from people.
fn account_of_member(member: &labgate_gitlab::Member) -> Outcome<Account> {
    Ok(Account {
        id: GitLabUserId(member.id),
        username: member.username.clone(),
        name: member.name.clone(),
        kind: AccountKind::from_username(&member.username),
        state: AccountState::from_gitlab(&member.state).ok_or_else(|| UnknownGitLabValue {
            field: "member.state",
            value: member.state.clone(),
        })?,
        admin: None,
        email: None,
        identities: Vec::new(),
        last_sign_in_at: None,
        last_activity_on: None,
    })
}

/// Memberships from member listings, and the members by account (for the accounts phase).
fn memberships_of(
    listed: &[(Resource, Vec<labgate_gitlab::Member>)],
) -> Outcome<(Vec<Membership>, BTreeMap<GitLabUserId, labgate_gitlab::Member>)> {
    let mut memberships = Vec::new();
    let mut members = BTreeMap::new();
    for (resource, listing) in listed {
        for member in listing {
            memberships.push(convert::membership(*resource, member)?);
            members
                .entry(GitLabUserId(member.id))
                .or_insert_with(|| member.clone());
        }
    }
    Ok((memberships, members))
}

fn member_targets(groups: &[Group], projects: &[Project]) -> Vec<(Resource, String)> {
    groups
        .iter()
        .map(|group| (Resource::Group(group.id), group.full_path.clone()))
        .chain(
            projects
                .iter()
                .map(|project| (Resource::Project(project.id), project.full_path.clone())),
        )
        .collect()
}

/// Whether `path` is the scope's group or lies under it.
fn within(scope: &AccessScope, path: &str) -> bool {
    match scope {
        AccessScope::Instance => true,
        AccessScope::Group { full_path } => {
            path == full_path
                || path
                    .strip_prefix(full_path.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        }
    }
}

impl AccessSyncs {
    /// Runs an `access.sync` job held by `owner`.
    pub async fn run_job(&self, job: &Job, owner: &str) -> SyncJobEnd {
        let (source, run) = match self.job_target(job).await {
            Ok(target) => target,
            Err(end) => return end,
        };
        if matches!(run.status, AccessSyncStatus::Succeeded | AccessSyncStatus::Failed) {
            return SyncJobEnd::Done {
                message: format!("the sync already ended as {}", run.status.as_str()),
            };
        }
        let now = ms(self.clock.now());
        let started = self
            .store
            .update_access_sync_run(
                run.id.as_str(),
                &AccessSyncRunUpdate {
                    status: Some(AccessSyncStatus::Syncing.as_str()),
                    started_at: Some(run.started_at.map_or(now, ms)),
                    progress_phase: Some("starting"),
                    ..AccessSyncRunUpdate::default()
                },
            )
            .await;
        let source_marked = self
            .store
            .set_access_source_status(
                source.id.as_str(),
                AccessSourceStatus::Syncing.as_str(),
                None,
                now,
            )
            .await;
        if let Err(error) = started.and(source_marked) {
            return SyncJobEnd::Retry {
                message: format!("the sync cannot be started: {error}"),
            };
        }
        let meter = Arc::new(RequestMeter::new(self.settings.max_rpm));
        let started_at = run.started_at.map_or(now, ms);
        let outcome = self
            .read_and_save(job, owner, &source, &run, &meter, started_at)
            .await;
        let requests = run.request_count + meter.calls();
        if meter.retries() > 0 {
            self.log_line(
                &run,
                AccessSyncLogLevel::Warn,
                &format!(
                    "{} request(s) were retried after rate limits or GitLab errors",
                    meter.retries()
                ),
            )
            .await;
        }
        match outcome {
            Ok(message) => {
                self.log_line(&run, AccessSyncLogLevel::Info, &message).await;
                let now = ms(self.clock.now());
                let finished = self
                    .store
                    .update_access_sync_run(
                        run.id.as_str(),
                        &AccessSyncRunUpdate {
                            status: Some(AccessSyncStatus::Succeeded.as_str()),
                            progress_phase: Some("done"),
                            request_count: Some(Self::signed_count(requests)),
                            finished_at: Some(now),
                            ..AccessSyncRunUpdate::default()
                        },
                    )
                    .await;
                let _ = self
                    .store
                    .set_access_source_status(
                        source.id.as_str(),
                        AccessSourceStatus::Connected.as_str(),
                        Some(run.id.as_str()),
                        now,
                    )
                    .await;
                match finished {
                    Ok(_) => SyncJobEnd::Done { message },
                    Err(error) => SyncJobEnd::Retry {
                        message: format!("the finished sync cannot be recorded: {error}"),
                    },
                }
            }
            Err(failure) => {
                let last_attempt = job.attempts >= job.max_attempts;
                if failure.transient && !last_attempt {
                    self.log_line(
                        &run,
                        AccessSyncLogLevel::Warn,
                        &format!(
                            "attempt {} of {} failed, trying again later: {}",
                            job.attempts, job.max_attempts, failure.message
                        ),
                    )
                    .await;
                    let _ = self
                        .store
                        .update_access_sync_run(
                            run.id.as_str(),
                            &AccessSyncRunUpdate {
                                status: Some(AccessSyncStatus::Queued.as_str()),
                                progress_phase: Some("retrying"),
                                request_count: Some(Self::signed_count(requests)),
                                ..AccessSyncRunUpdate::default()
                            },
                        )
                        .await;
                    SyncJobEnd::Retry {
                        message: failure.message,
                    }
                } else {
                    self.fail(&source, &run, &failure.message, requests).await;
                    SyncJobEnd::Failed {
                        message: failure.message,
                    }
                }
            }
        }
    }

    async fn log_line(&self, run: &AccessSyncRun, level: AccessSyncLogLevel, message: &str) {
        let at = ms(self.clock.now());
        if let Err(error) = self
            .store
            .append_access_sync_log(run.id.as_str(), at, level.as_str(), message)
            .await
        {
            tracing::warn!(sync_id = %run.id, error = %error, "an access sync log line could not be written");
        }
    }

    /// Ends a run as failed. Its snapshot was never written, so the source's last succeeded run
    /// stays its latest good snapshot.
    async fn fail(&self, source: &AccessSource, run: &AccessSyncRun, message: &str, requests: u64) {
        self.log_line(
            run,
            AccessSyncLogLevel::Error,
            &format!("the sync failed: {message}"),
        )
        .await;
        let now = ms(self.clock.now());
        let _ = self
            .store
            .update_access_sync_run(
                run.id.as_str(),
                &AccessSyncRunUpdate {
                    status: Some(AccessSyncStatus::Failed.as_str()),
                    error: Some(message),
                    progress_phase: Some("failed"),
                    request_count: Some(Self::signed_count(requests)),
                    finished_at: Some(now),
                    ..AccessSyncRunUpdate::default()
                },
            )
            .await;
        let _ = self
            .store
            .set_access_source_status(
                source.id.as_str(),
                AccessSourceStatus::Failed.as_str(),
                Some(run.id.as_str()),
                now,
            )
            .await;
    }

    /// The source and run a job is about, or why the job cannot run.
    async fn job_target(&self, job: &Job) -> std::result::Result<(AccessSource, AccessSyncRun), SyncJobEnd> {
        let failed = |message: &str| SyncJobEnd::Failed {
            message: message.to_owned(),
        };
        let tenant = job
            .tenant_id
            .clone()
            .ok_or_else(|| failed("the job names no tenant"))?;
        let field = |name: &str| job.payload.get(name).and_then(serde_json::Value::as_str);
        let source_id = field("sourceId")
            .and_then(AccessSourceId::parse)
            .ok_or_else(|| failed("the job names no access source"))?;
        let run_id = field("syncId")
            .and_then(AccessSyncRunId::parse)
            .ok_or_else(|| failed("the job names no sync"))?;
        let source = match self.fetch(&tenant, &source_id).await {
            Ok(source) => source,
            Err(CoreError::NotFound(_)) => return Err(failed("the access source was deleted")),
            Err(other) => {
                return Err(SyncJobEnd::Retry {
                    message: format!("the access source cannot be read: {other}"),
                });
            }
        };
        // The run is recorded just after its job is queued: a worker quicker than that tries
        // again.
        match self.run_by_id(&run_id).await {
            Ok(Some(run)) if run.source_id == source.id => Ok((source, run)),
            Ok(Some(_)) => Err(failed("the sync belongs to another access source")),
            Ok(None) => Err(SyncJobEnd::Retry {
                message: "the sync is not recorded yet".to_owned(),
            }),
            Err(other) => Err(SyncJobEnd::Retry {
                message: format!("the sync cannot be read: {other}"),
            }),
        }
    }

    /// Reads what the run covers and stores the snapshot; answers the closing log line.
    async fn read_and_save(
        &self,
        job: &Job,
        owner: &str,
        source: &AccessSource,
        run: &AccessSyncRun,
        meter: &Arc<RequestMeter>,
        started_at: i64,
    ) -> Outcome<String> {
        let session = self
            .connections
            .named_session(&source.tenant_id, &source.connection_id)
            .await
            .map_err(|error| match error {
                CoreError::Validation { message, .. } => Failure::permanent(message),
                other => Failure::from(other),
            })?;
        let reading = Reading {
            syncs: self,
            job,
            owner,
            run,
            client: session.client.metered(Arc::clone(meter)),
            credential: session.credential.clone(),
            meter: Arc::clone(meter),
            earlier_requests: run.request_count,
            concurrency: self.settings.concurrency.max(1),
        };
        // A targeted run builds on the latest good snapshot; without one it reads everything.
        let base = match run.kind {
            AccessSyncKind::Full => None,
            AccessSyncKind::Targeted => {
                self.store
                    .previous_succeeded_access_sync_run(source.id.as_str(), ms(run.created_at) + 1)
                    .await?
            }
        };
        let (snapshot, summary) = match base {
            Some(base) => {
                let base_id = AccessSyncRunId::from_stored(base.id);
                reading
                    .log(
                        AccessSyncLogLevel::Info,
                        &format!(
                            "targeted sync of {} group(s) and project(s) on top of sync {base_id}",
                            run.targets.len()
                        ),
                    )
                    .await;
                let previous = Snapshots::new(self.store.clone())
                    .load(&base_id)
                    .await
                    .map_err(Failure::from)?;
                (
                    self.read_targets(&reading, source, previous).await?,
                    "targeted sync",
                )
            }
            None => {
                if run.kind == AccessSyncKind::Targeted {
                    reading
                        .log(
                            AccessSyncLogLevel::Info,
                            "no successful snapshot to build on: reading the whole scope",
                        )
                        .await;
                }
                let snapshot = match &source.scope {
                    AccessScope::Group { full_path } => {
                        reading
                            .log(
                                AccessSyncLogLevel::Info,
                                &format!("full sync of group {full_path}"),
                            )
                            .await;
                        self.read_group_scope(&reading, full_path).await?
                    }
                    AccessScope::Instance => {
                        reading
                            .log(AccessSyncLogLevel::Info, "full sync of the instance")
                            .await;
                        self.read_instance(&reading).await?
                    }
                };
                (snapshot, "full sync")
            }
        };
        let rows = (snapshot.accounts.len()
            + snapshot.groups.len()
            + snapshot.projects.len()
            + snapshot.memberships.len()
            + snapshot.shares.len()) as u64;
        reading.progress("saving", 0, Some(rows)).await;
        let today = self.clock.now().date();
        let saving = std::time::Instant::now();
        // A large instance's snapshot takes a while to store: the run shows how much is stored.
        let stored = Arc::new(AtomicU64::new(0));
        let snapshots = Snapshots::new(self.store.clone());
        let save = snapshots.save_counting(&run.id, &snapshot, today, Arc::clone(&stored));
        tokio::pin!(save);
        let mut ticker = tokio::time::interval(SAVING_PROGRESS_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        let grants = loop {
            tokio::select! {
                saved = &mut save => break saved.map_err(Failure::from)?,
                _ = ticker.tick() => {
                    reading.progress("saving", stored.load(Ordering::Relaxed), Some(rows)).await;
                }
            }
        };
        reading
            .log(
                AccessSyncLogLevel::Info,
                &format!(
                    "stored the snapshot with {grants} effective grant(s) in {:.1} s",
                    saving.elapsed().as_secs_f64()
                ),
            )
            .await;
        // A full read covered everything events named before it started, accounts included
        // (which no targeted run re-reads): those pending targets are done.
        if summary == "full sync" {
            let pending = self.hooks.pending_targets(&source.id).await?;
            let targets: Vec<_> = pending.iter().map(|pending| pending.target).collect();
            self.hooks.settle(&source.id, &targets, started_at).await?;
        }
        Ok(format!(
            "{summary} done: {} account(s), {} group(s), {} project(s), {} direct membership(s), {} share(s), \
             {} effective grant(s), {} request(s)",
            snapshot.accounts.len(),
            snapshot.groups.len(),
            snapshot.projects.len(),
            snapshot.memberships.len(),
            snapshot.shares.len(),
            grants,
            reading.requests(),
        ))
    }

    async fn read_group_scope(&self, reading: &Reading<'_>, full_path: &str) -> Outcome<Snapshot> {
        reading.progress("groups", 0, None).await;
        let top = match reading
            .client
            .group(&reading.credential, &ResourceId::Path(full_path.to_owned()))
            .await
        {
            Ok(top) => top,
            Err(error @ (GitLabError::NotFound { .. } | GitLabError::Forbidden { .. })) => {
                return Err(Failure::permanent(format!(
                    "the group {full_path} does not exist or the connection's user cannot see it: {error}"
                )));
            }
            Err(error) => return Err(Failure::gitlab(&format!("reading group {full_path}"), &error)),
        };
        // The subgroups and the projects are listed side by side: each listing is one request
        // at a time, and together they keep the rate limit busy.
        let subgroups = async {
            let descendants = reading
                .all(
                    "listing the subgroups",
                    reading
                        .client
                        .descendant_groups(&reading.credential, &ResourceId::Id(top.id)),
                )
                .await?;
            let mut details = vec![top.clone()];
            details.extend(reading.group_details(descendants).await?);
            reading.groups_read(&details).await
        };
        let projects = reading.projects_read(reading.client.group_projects(
            &reading.credential,
            &ResourceId::Id(top.id),
            true,
        ));
        let ((groups, mut shares), (projects, project_shares)) = tokio::try_join!(subgroups, projects)?;
        shares.extend(project_shares);
        let mut groups = groups;
        groups.extend(reading.invited_groups(&groups, &shares).await?);

        let listed = reading.direct_members(member_targets(&groups, &projects)).await?;
        let (memberships, members) = memberships_of(&listed)?;
        reading
            .log(
                AccessSyncLogLevel::Info,
                &format!(
                    "read {} direct membership(s) of {} account(s)",
                    memberships.len(),
                    members.len()
                ),
            )
            .await;
        let accounts = members
            .values()
            .map(account_of_member)
            .collect::<Outcome<Vec<_>>>()?;
        Ok(Snapshot {
            accounts,
            groups,
            projects,
            memberships,
            shares,
        })
    }

    async fn read_instance(&self, reading: &Reading<'_>) -> Outcome<Snapshot> {
        // The three listings do not depend on each other, and a keyset listing is one request
        // at a time: side by side they keep the rate limit busy instead of waiting on latency.
        reading.progress("groups", 0, None).await;
        let users = async {
            let users = reading
                .all(
                    "listing the users",
                    reading.client.users(&reading.credential, &UserFilter::default()),
                )
                .await?;
            let accounts = users
                .iter()
                .map(convert::account)
                .collect::<std::result::Result<Vec<_>, _>>()?;
            reading
                .log(
                    AccessSyncLogLevel::Info,
                    &format!("read {} account(s)", accounts.len()),
                )
                .await;
            Ok::<_, Failure>(accounts)
        };
        let groups = async {
            let listed = reading
                .all(
                    "listing the groups",
                    reading.client.groups(
                        &reading.credential,
                        &GroupFilter {
                            all_available: Some(true),
                            ..GroupFilter::default()
                        },
                    ),
                )
                .await?;
            let details = reading.group_details(listed).await?;
            reading.groups_read(&details).await
        };
        let projects = reading.projects_read(
            reading
                .client
                .projects(&reading.credential, &ProjectFilter::default()),
        );
        let (mut accounts, (groups, mut shares), (projects, project_shares)) =
            tokio::try_join!(users, groups, projects)?;
        shares.extend(project_shares);

        let listed = reading.direct_members(member_targets(&groups, &projects)).await?;
        let (memberships, members) = memberships_of(&listed)?;
        reading
            .log(
                AccessSyncLogLevel::Info,
                &format!("read {} direct membership(s)", memberships.len()),
            )
            .await;
        // Members the user listing did not have (created while it was read) are read alone.
        let known: BTreeSet<GitLabUserId> = accounts.iter().map(|account| account.id).collect();
        let missing: Vec<GitLabUserId> = members.keys().filter(|id| !known.contains(id)).copied().collect();
        if !missing.is_empty() {
            accounts.extend(reading.users(missing, &members).await?);
        }
        Ok(Snapshot {
            accounts,
            groups,
            projects,
            memberships,
            shares,
        })
    }

    /// The previous snapshot with the run's targets read again: each one's detail (a group or
    /// project gone from GitLab, or out of the scope, is dropped with what hangs on it), shares
    /// and direct members; accounts new to the snapshot are read.
    async fn read_targets(
        &self,
        reading: &Reading<'_>,
        source: &AccessSource,
        mut snapshot: Snapshot,
    ) -> Outcome<Snapshot> {
        let targets = &reading.run.targets;
        let total = targets.len() as u64;
        reading.progress("targets", 0, Some(total)).await;
        let mut present = Vec::new();
        for (done, target) in targets.iter().enumerate() {
            let found = match *target {
                Resource::Group(GitLabGroupId(id)) => match reading.group_detail(id).await {
                    Ok(detail) if within(&source.scope, &detail.full_path) => {
                        let group = convert::group(&detail)?;
                        let shares = convert::group_shares(&detail)?;
                        Some((group.full_path.clone(), Some(group), None, shares))
                    }
                    Ok(detail) => {
                        reading
                            .log(
                                AccessSyncLogLevel::Warn,
                                &format!("group {} is outside the source's scope", detail.full_path),
                            )
                            .await;
                        None
                    }
                    Err(GitLabError::NotFound { .. } | GitLabError::Forbidden { .. }) => None,
                    Err(error) => return Err(Failure::gitlab(&format!("reading group {id}"), &error)),
                },
                Resource::Project(GitLabProjectId(id)) => match reading
                    .client
                    .project(&reading.credential, &ResourceId::Id(id))
                    .await
                {
                    Ok(detail) if within(&source.scope, &detail.path_with_namespace) => {
                        let project = convert::project(&detail)?;
                        let shares = convert::project_shares(&detail)?;
                        Some((project.full_path.clone(), None, Some(project), shares))
                    }
                    Ok(detail) => {
                        reading
                            .log(
                                AccessSyncLogLevel::Warn,
                                &format!(
                                    "project {} is outside the source's scope",
                                    detail.path_with_namespace
                                ),
                            )
                            .await;
                        None
                    }
                    Err(GitLabError::NotFound { .. } | GitLabError::Forbidden { .. }) => None,
                    Err(error) => return Err(Failure::gitlab(&format!("reading project {id}"), &error)),
                },
            };
            // What the snapshot said of the target is replaced whole.
            snapshot.memberships.retain(|m| m.resource != *target);
            snapshot.shares.retain(|s| s.resource != *target);
            match *target {
                Resource::Group(id) => snapshot.groups.retain(|g| g.id != id),
                Resource::Project(id) => snapshot.projects.retain(|p| p.id != id),
            }
            match found {
                Some((path, group, project, shares)) => {
                    snapshot.groups.extend(group);
                    snapshot.projects.extend(project);
                    snapshot.shares.extend(shares);
                    present.push((*target, path));
                }
                None => {
                    reading
                        .log(
                            AccessSyncLogLevel::Info,
                            &format!("{target:?} is gone or out of reach; dropped from the snapshot"),
                        )
                        .await;
                    // Shares into a group that is gone grant nothing any more.
                    if let Resource::Group(id) = *target {
                        snapshot.shares.retain(|s| s.shared_with != id);
                    }
                }
            }
            reading.progress("targets", done as u64 + 1, Some(total)).await;
        }
        let invited = reading.invited_groups(&snapshot.groups, &snapshot.shares).await?;
        present.extend(
            invited
                .iter()
                .map(|group| (Resource::Group(group.id), group.full_path.clone())),
        );
        snapshot.groups.extend(invited);
        let listed = reading.direct_members(present).await?;
        let (memberships, members) = memberships_of(&listed)?;
        snapshot.memberships.extend(memberships);
        // Accounts already known take the member entity's name and state; new ones come from it
        // too in a group scope, and from the admin view in an instance scope (like a full run).
        let mut known = BTreeSet::new();
        for account in &mut snapshot.accounts {
            known.insert(account.id);
            if let Some(member) = members.get(&account.id) {
                let fresh = account_of_member(member)?;
                account.username = fresh.username;
                account.name = fresh.name;
                account.state = fresh.state;
            }
        }
        let new: Vec<GitLabUserId> = members.keys().filter(|id| !known.contains(id)).copied().collect();
        if !new.is_empty() {
            match source.scope {
                AccessScope::Group { .. } => {
                    for id in &new {
                        if let Some(member) = members.get(id) {
                            snapshot.accounts.push(account_of_member(member)?);
                        }
                    }
                }
                AccessScope::Instance => snapshot.accounts.extend(reading.users(new, &members).await?),
            }
        }
        // A group scope's accounts are its members: one left without any membership leaves.
        if matches!(source.scope, AccessScope::Group { .. }) {
            let members: BTreeSet<GitLabUserId> = snapshot.memberships.iter().map(|m| m.account).collect();
            snapshot.accounts.retain(|account| members.contains(&account.id));
        }
        reading
            .log(
                AccessSyncLogLevel::Info,
                &format!("read {} target(s) again", reading.run.targets.len()),
            )
            .await;
        Ok(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_scope_holds_its_group_and_what_lies_under_it() {
        let scope = AccessScope::Group {
            full_path: "acme".into(),
        };
        assert!(within(&scope, "acme"));
        assert!(within(&scope, "acme/platform/api"));
        assert!(!within(&scope, "acme-labs"));
        assert!(!within(&scope, "partners/acme"));
        assert!(within(&AccessScope::Instance, "anything/at/all"));
    }
}
