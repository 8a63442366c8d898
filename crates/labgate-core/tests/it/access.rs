//! Access sync snapshots through a real store.

use labgate_core::access::effective::GrantPath;
use labgate_core::access::model::{
    AccessLevel, Account, AccountKind, AccountState, GitLabGroupId, GitLabProjectId, GitLabUserId, Group,
    Membership, Project, Resource, Role, Share, Visibility,
};
use labgate_core::access::snapshot::{Snapshot, Snapshots};
use labgate_core::ids::AccessSyncRunId;
use labgate_store::{AccessGrantFilter, AccessSourceRecord, AccessSyncRunRecord};
use time::macros::date;

use crate::connections::with_alice;

fn account(id: u64, username: &str, admin: Option<bool>) -> Account {
    Account {
        id: GitLabUserId(id),
        username: username.into(),
        name: username.into(),
        kind: AccountKind::Human,
        state: AccountState::Active,
        admin,
        email: None,
        identities: Vec::new(),
        last_sign_in_at: None,
        last_activity_on: None,
    }
}

fn membership(user: u64, resource: Resource, level: AccessLevel) -> Membership {
    Membership {
        account: GitLabUserId(user),
        resource,
        role: Role::level(level),
        expires_at: None,
    }
}

const ACME: Resource = Resource::Group(GitLabGroupId(1));
const PLATFORM: Resource = Resource::Group(GitLabGroupId(2));
const API: Resource = Resource::Project(GitLabProjectId(20));

fn first() -> Snapshot {
    Snapshot {
        accounts: vec![account(7, "alice", Some(false)), account(8, "bob", Some(false))],
        groups: vec![
            Group {
                id: GitLabGroupId(1),
                parent: None,
                full_path: "acme".into(),
                name: "Acme".into(),
                visibility: Visibility::Private,
            },
            Group {
                id: GitLabGroupId(2),
                parent: Some(GitLabGroupId(1)),
                full_path: "acme/platform".into(),
                name: "Platform".into(),
                visibility: Visibility::Private,
            },
            Group {
                id: GitLabGroupId(3),
                parent: None,
                full_path: "partners".into(),
                name: "Partners".into(),
                visibility: Visibility::Private,
            },
        ],
        projects: vec![Project {
            id: GitLabProjectId(20),
            group: Some(GitLabGroupId(2)),
            full_path: "acme/platform/api".into(),
            name: "API".into(),
            visibility: Visibility::Internal,
        }],
        memberships: vec![
            membership(7, ACME, AccessLevel::DEVELOPER),
            membership(8, PLATFORM, AccessLevel::REPORTER),
        ],
        shares: Vec::new(),
    }
}

#[tokio::test]
async fn runs_store_snapshots_with_their_grants_and_diff_against_each_other() {
    let (env, connection) = with_alice().await;
    let tenant = env.admin.tenant_id.to_string();
    env.store
        .insert_access_source(&AccessSourceRecord {
            id: "src".into(),
            tenant_id: tenant,
            name: "acme".into(),
            connection_id: connection.id.to_string(),
            scope_kind: "group".into(),
            scope_full_path: Some("acme".into()),
            status: "syncing".into(),
            last_run_id: None,
            version: 1,
            created_at: 1,
            updated_at: 1,
        })
        .await
        .unwrap();
    let (before, after) = (AccessSyncRunId::generate(), AccessSyncRunId::generate());
    for (run, at) in [(&before, 10), (&after, 20)] {
        env.store
            .insert_access_sync_run(&AccessSyncRunRecord {
                id: run.to_string(),
                source_id: "src".into(),
                status: "syncing".into(),
                progress_phase: None,
                progress_done: 0,
                progress_total: None,
                request_count: 0,
                error: None,
                job_id: None,
                created_at: at,
                started_at: None,
                finished_at: None,
                kind: "full".into(),
                targets: None,
            })
            .await
            .unwrap();
    }
    let snapshots = Snapshots::new(env.store.clone());
    let today = date!(2026 - 12 - 02);
    let stored = snapshots.save(&before, &first(), today).await.unwrap();
    assert_eq!(
        stored, 5,
        "alice on acme, platform and api; bob on platform and api"
    );
    let loaded = snapshots.load(&before).await.unwrap();
    assert_eq!(loaded, first());
    let (rows, total) = env
        .store
        .list_access_grants(before.as_str(), AccessGrantFilter::default(), 0, 10)
        .await
        .unwrap();
    assert_eq!(total, 5);
    assert_eq!(
        rows.iter()
            .map(|row| (
                row.gitlab_user_id,
                row.resource_kind.as_str(),
                row.resource_id,
                row.path_kind.as_str()
            ))
            .collect::<Vec<_>>(),
        first()
            .effective_grants(today)
            .iter()
            .map(|grant| {
                let (kind, id) = match grant.resource {
                    Resource::Group(GitLabGroupId(id)) => ("group", id),
                    Resource::Project(GitLabProjectId(id)) => ("project", id),
                };
                (
                    grant.account.0 as i64,
                    kind,
                    id as i64,
                    grant.path.kind().as_str(),
                )
            })
            .collect::<Vec<_>>()
    );
    // Saving again (a retried run) starts over rather than colliding with its first attempt.
    assert_eq!(snapshots.save(&before, &first(), today).await.unwrap(), 5);

    // Next run: bob is gone from platform, carol (an administrator now) owns partners, and
    // partners is invited into platform as Maintainer.
    let mut second = first();
    second.memberships.retain(|m| m.account != GitLabUserId(8));
    second.accounts.push(account(9, "carol", Some(true)));
    second.memberships.push(membership(
        9,
        Resource::Group(GitLabGroupId(3)),
        AccessLevel::OWNER,
    ));
    second.shares.push(Share {
        resource: PLATFORM,
        shared_with: GitLabGroupId(3),
        cap: AccessLevel::MAINTAINER,
        expires_at: None,
    });
    snapshots.save(&after, &second, today).await.unwrap();
    let diff = snapshots.diff(&before, &after).await.unwrap();
    assert_eq!(
        diff.removed
            .iter()
            .map(|g| (g.account, g.resource))
            .collect::<Vec<_>>(),
        vec![(GitLabUserId(8), PLATFORM), (GitLabUserId(8), API)]
    );
    let added: Vec<(GitLabUserId, Resource, AccessLevel)> = diff
        .added
        .iter()
        .map(|g| (g.account, g.resource, g.role.level))
        .collect();
    assert_eq!(
        added,
        vec![
            (GitLabUserId(9), PLATFORM, AccessLevel::MAINTAINER),
            (
                GitLabUserId(9),
                Resource::Group(GitLabGroupId(3)),
                AccessLevel::OWNER
            ),
            (GitLabUserId(9), API, AccessLevel::MAINTAINER),
        ]
    );
    assert!(matches!(
        diff.added[0].path,
        GrantPath::Shared {
            capped_at: AccessLevel::MAINTAINER,
            ..
        }
    ));
    assert!(diff.changed.is_empty());
    assert_eq!(diff.new_admins, vec![GitLabUserId(9)]);
    assert_eq!(diff.new_owners.len(), 1);

    // A retried run stores its snapshot again in place of what an earlier attempt left.
    let again = snapshots.save(&after, &second, today).await.unwrap();
    assert_eq!(again, snapshots.grants(&after).await.unwrap().len() as u64);
    assert_eq!(snapshots.load(&after).await.unwrap(), second);
    assert_eq!(snapshots.diff(&before, &after).await.unwrap(), diff);
}
