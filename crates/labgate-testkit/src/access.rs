//! A realistic access source with synced snapshots, stored the way a sync stores them, for tests
//! of what reads them (API, CLI, pages).
//!
//! The GitLab side, as of the first successful sync:
//! ```text
//! acme (private)                       alice Owner; dave Minimal Access
//! ├── acme/platform (internal)         bob Developer; shared with partners, capped at Developer
//! │   ├── acme/platform/api            carol Developer + custom role "Security Auditor"
//! │   └── acme/platform/infra (group)  ci-service Reporter
//! │       └── acme/platform/infra/terraform   deploy-bot Maintainer
//! └── acme/website (public)            shared with contractors, capped at Reporter
//! partners (private)                   frank Maintainer; eve Guest (blocked)
//! contractors (private)                grace Maintainer until 2027-06-30
//! ```
//! The second sync: bob became Owner of acme/platform, dave left, heidi joined acme/website as a
//! Developer, and carol became an administrator. A third sync failed.

use labgate_core::access::model::{
    AccessLevel, Account, AccountKind, AccountState, CustomRole, GitLabGroupId, GitLabProjectId,
    GitLabUserId, Group, Identity, Membership, Project, Resource, Role, Share, Visibility,
};
use labgate_core::access::snapshot::{Snapshot, Snapshots};
use labgate_core::ids::AccessSyncRunId;
use labgate_store::{AccessSourceRecord, AccessSyncRunRecord, AccessSyncRunUpdate, Store};

/// What [`seed_access`] stored.
#[derive(Debug, Clone)]
pub struct AccessFixture {
    /// The source with three syncs: two succeeded, the newest failed.
    pub source_id: String,
    pub first_run: String,
    pub second_run: String,
    pub failed_run: String,
    /// A source whose only sync is still queued.
    pub unsynced_source_id: String,
}

/// The day the fixture's grants are computed for.
pub const FIXTURE_TODAY: time::Date = time::macros::date!(2026 - 12 - 02);

fn account(id: u64, username: &str, name: &str, kind: AccountKind, state: AccountState) -> Account {
    Account {
        id: GitLabUserId(id),
        username: username.to_owned(),
        name: name.to_owned(),
        kind,
        state,
        admin: Some(false),
        email: Some(format!("{username}@example.com")),
        identities: Vec::new(),
        last_sign_in_at: Some(time::macros::datetime!(2026-11-30 09:00 UTC)),
        last_activity_on: Some(time::macros::date!(2026 - 12 - 01)),
    }
}

fn group(id: u64, parent: Option<u64>, full_path: &str, name: &str, visibility: Visibility) -> Group {
    Group {
        id: GitLabGroupId(id),
        parent: parent.map(GitLabGroupId),
        full_path: full_path.to_owned(),
        name: name.to_owned(),
        visibility,
    }
}

fn project(id: u64, group: u64, full_path: &str, name: &str, visibility: Visibility) -> Project {
    Project {
        id: GitLabProjectId(id),
        group: Some(GitLabGroupId(group)),
        full_path: full_path.to_owned(),
        name: name.to_owned(),
        visibility,
    }
}

fn member(user: u64, resource: Resource, level: AccessLevel) -> Membership {
    Membership {
        account: GitLabUserId(user),
        resource,
        role: Role::level(level),
        expires_at: None,
    }
}

const ACME: Resource = Resource::Group(GitLabGroupId(1));
const PLATFORM: Resource = Resource::Group(GitLabGroupId(2));
const PARTNERS: Resource = Resource::Group(GitLabGroupId(3));
const INFRA: Resource = Resource::Group(GitLabGroupId(4));
const CONTRACTORS: Resource = Resource::Group(GitLabGroupId(5));
const API: Resource = Resource::Project(GitLabProjectId(20));
const TERRAFORM: Resource = Resource::Project(GitLabProjectId(21));
const WEBSITE: Resource = Resource::Project(GitLabProjectId(22));

/// The first sync's snapshot.
pub fn first_snapshot() -> Snapshot {
    let mut alice = account(
        7,
        "alice",
        "Alice Admin",
        AccountKind::Human,
        AccountState::Active,
    );
    alice.admin = Some(true);
    alice.identities = vec![Identity {
        provider: "ldapmain".into(),
        extern_uid: "uid=alice,ou=people,dc=acme".into(),
    }];
    let mut eve = account(13, "eve", "=2+5 Eve", AccountKind::Human, AccountState::Blocked);
    eve.last_sign_in_at = None;
    let mut bot = account(
        11,
        "deploy-bot",
        "Deploy bot",
        AccountKind::Bot,
        AccountState::Active,
    );
    bot.email = None;
    Snapshot {
        accounts: vec![
            alice,
            account(8, "bob", "Bob Builder", AccountKind::Human, AccountState::Active),
            account(
                9,
                "carol",
                "Carol Checker",
                AccountKind::Human,
                AccountState::Active,
            ),
            account(
                10,
                "dave",
                "Dave Visitor",
                AccountKind::Human,
                AccountState::Active,
            ),
            bot,
            account(
                12,
                "ci-service",
                "CI service",
                AccountKind::ServiceAccount,
                AccountState::Active,
            ),
            eve,
            account(
                14,
                "frank",
                "Frank Partner",
                AccountKind::Human,
                AccountState::Active,
            ),
            account(
                15,
                "grace",
                "Grace Contractor",
                AccountKind::Human,
                AccountState::Active,
            ),
        ],
        groups: vec![
            group(1, None, "acme", "Acme", Visibility::Private),
            group(2, Some(1), "acme/platform", "Platform", Visibility::Internal),
            group(3, None, "partners", "Partners", Visibility::Private),
            group(4, Some(2), "acme/platform/infra", "Infra", Visibility::Private),
            group(5, None, "contractors", "Contractors", Visibility::Private),
        ],
        projects: vec![
            project(20, 2, "acme/platform/api", "API", Visibility::Internal),
            project(
                21,
                4,
                "acme/platform/infra/terraform",
                "Terraform",
                Visibility::Private,
            ),
            project(22, 1, "acme/website", "Website", Visibility::Public),
        ],
        memberships: vec![
            member(7, ACME, AccessLevel::OWNER),
            member(8, PLATFORM, AccessLevel::DEVELOPER),
            Membership {
                account: GitLabUserId(9),
                resource: API,
                role: Role {
                    level: AccessLevel::DEVELOPER,
                    custom: Some(CustomRole {
                        id: 4,
                        name: "Security Auditor".into(),
                    }),
                },
                expires_at: None,
            },
            member(10, ACME, AccessLevel::MINIMAL_ACCESS),
            member(11, TERRAFORM, AccessLevel::MAINTAINER),
            member(12, INFRA, AccessLevel::REPORTER),
            member(13, PARTNERS, AccessLevel::GUEST),
            member(14, PARTNERS, AccessLevel::MAINTAINER),
            Membership {
                expires_at: Some(time::macros::date!(2027 - 06 - 30)),
                ..member(15, CONTRACTORS, AccessLevel::MAINTAINER)
            },
        ],
        shares: vec![
            Share {
                resource: PLATFORM,
                shared_with: GitLabGroupId(3),
                cap: AccessLevel::DEVELOPER,
                expires_at: None,
            },
            Share {
                resource: WEBSITE,
                shared_with: GitLabGroupId(5),
                cap: AccessLevel::REPORTER,
                expires_at: None,
            },
        ],
    }
}

/// The second sync's snapshot: bob Owner of acme/platform, dave gone, heidi a Developer of
/// acme/website, carol an administrator.
pub fn second_snapshot() -> Snapshot {
    let mut snapshot = first_snapshot();
    snapshot.accounts.retain(|account| account.username != "dave");
    for account in &mut snapshot.accounts {
        if account.username == "carol" {
            account.admin = Some(true);
        }
    }
    snapshot.accounts.push(account(
        16,
        "heidi",
        "Heidi Newcomer",
        AccountKind::Human,
        AccountState::Active,
    ));
    snapshot
        .memberships
        .retain(|membership| membership.account != GitLabUserId(10));
    for membership in &mut snapshot.memberships {
        if membership.account == GitLabUserId(8) {
            membership.role = Role::level(AccessLevel::OWNER);
        }
    }
    snapshot
        .memberships
        .push(member(16, WEBSITE, AccessLevel::DEVELOPER));
    snapshot
}

fn run(id: &str, source: &str, status: &str, created_at: i64) -> AccessSyncRunRecord {
    AccessSyncRunRecord {
        id: id.to_owned(),
        source_id: source.to_owned(),
        status: status.to_owned(),
        progress_phase: None,
        progress_done: 0,
        progress_total: None,
        request_count: 0,
        error: None,
        job_id: None,
        created_at,
        started_at: None,
        finished_at: None,
        kind: "full".to_owned(),
        targets: None,
    }
}

fn source(id: &str, tenant: &str, name: &str, connection: &str, at: i64) -> AccessSourceRecord {
    AccessSourceRecord {
        id: id.to_owned(),
        tenant_id: tenant.to_owned(),
        name: name.to_owned(),
        connection_id: connection.to_owned(),
        scope_kind: "group".to_owned(),
        scope_full_path: Some("acme".to_owned()),
        status: "never-synced".to_owned(),
        last_run_id: None,
        version: 1,
        created_at: at,
        updated_at: at,
    }
}

/// Stores the fixture's sources, syncs and snapshots in `tenant`, syncing through `connection`.
/// `now` (milliseconds) is when the second sync finished; the others are spaced before it.
pub async fn seed_access(store: &Store, tenant: &str, connection: &str, now: i64) -> AccessFixture {
    let source_id = uuid::Uuid::now_v7().to_string();
    let unsynced_source_id = uuid::Uuid::now_v7().to_string();
    let hour = 3_600_000;
    store
        .insert_access_source(&source(
            &source_id,
            tenant,
            "acme-gitlab",
            connection,
            now - 48 * hour,
        ))
        .await
        .unwrap();
    store
        .insert_access_source(&source(
            &unsynced_source_id,
            tenant,
            "new-instance",
            connection,
            now - hour,
        ))
        .await
        .unwrap();
    let snapshots = Snapshots::new(store.clone());
    let mut runs = Vec::new();
    for (snapshot, created_at) in [
        (first_snapshot(), now - 26 * hour),
        (second_snapshot(), now - 2 * hour),
    ] {
        let id = AccessSyncRunId::generate();
        store
            .insert_access_sync_run(&run(id.as_str(), &source_id, "syncing", created_at))
            .await
            .unwrap();
        snapshots.save(&id, &snapshot, FIXTURE_TODAY).await.unwrap();
        let total = (snapshot.accounts.len() + snapshot.groups.len() + snapshot.projects.len()) as i64;
        store
            .update_access_sync_run(
                id.as_str(),
                &AccessSyncRunUpdate {
                    status: Some("succeeded"),
                    progress_phase: Some("done"),
                    progress_done: Some(total),
                    progress_total: Some(total),
                    request_count: Some(14),
                    started_at: Some(created_at + 1_000),
                    finished_at: Some(created_at + 90_000),
                    ..AccessSyncRunUpdate::default()
                },
            )
            .await
            .unwrap();
        runs.push(id.as_str().to_owned());
    }
    let failed = AccessSyncRunId::generate();
    store
        .insert_access_sync_run(&run(failed.as_str(), &source_id, "syncing", now - hour))
        .await
        .unwrap();
    store
        .update_access_sync_run(
            failed.as_str(),
            &AccessSyncRunUpdate {
                status: Some("failed"),
                error: Some("GitLab answered 503 while listing members of acme/platform"),
                started_at: Some(now - hour + 1_000),
                finished_at: Some(now - hour + 30_000),
                ..AccessSyncRunUpdate::default()
            },
        )
        .await
        .unwrap();
    store
        .set_access_source_status(&source_id, "failed", Some(failed.as_str()), now)
        .await
        .unwrap();
    store
        .insert_access_sync_run(&run(
            AccessSyncRunId::generate().as_str(),
            &unsynced_source_id,
            "queued",
            now - hour,
        ))
        .await
        .unwrap();
    let second_run = runs.pop().unwrap();
    let first_run = runs.pop().unwrap();
    AccessFixture {
        source_id,
        first_run,
        second_run,
        failed_run: failed.as_str().to_owned(),
        unsynced_source_id,
    }
}

/// Stores a source named `name` in `tenant` whose one sync succeeded with `snapshot`; answers
/// the source's and the sync's ids.
pub async fn seed_source_with_snapshot(
    store: &Store,
    tenant: &str,
    connection: &str,
    name: &str,
    snapshot: &Snapshot,
    now: i64,
) -> (String, String) {
    let source_id = uuid::Uuid::now_v7().to_string();
    let mut record = source(&source_id, tenant, name, connection, now);
    record.scope_kind = "instance".to_owned();
    record.scope_full_path = None;
    store.insert_access_source(&record).await.unwrap();
    let id = AccessSyncRunId::generate();
    store
        .insert_access_sync_run(&run(id.as_str(), &source_id, "syncing", now))
        .await
        .unwrap();
    Snapshots::new(store.clone())
        .save(&id, snapshot, FIXTURE_TODAY)
        .await
        .unwrap();
    store
        .update_access_sync_run(
            id.as_str(),
            &AccessSyncRunUpdate {
                status: Some("succeeded"),
                started_at: Some(now),
                finished_at: Some(now + 1),
                ..AccessSyncRunUpdate::default()
            },
        )
        .await
        .unwrap();
    (source_id, id.as_str().to_owned())
}
