//! Access sync snapshots through a real store.

use labgate_core::access::effective::{Grant, GrantPath};
use labgate_core::access::grants::GrantReader;
use labgate_core::access::model::{
    AccessLevel, Account, AccountKind, AccountState, GitLabGroupId, GitLabProjectId, GitLabUserId, Group,
    Membership, Project, Resource, Role, Share, Visibility,
};
use labgate_core::access::snapshot::{Snapshot, Snapshots};
use labgate_core::ids::AccessSyncRunId;
use labgate_store::{AccessSourceRecord, AccessSyncRunRecord};
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

/// A richer snapshot: a share, an expiring membership, Minimal Access, and accounts spread so a
/// page crosses from one account to the next.
fn spread() -> Snapshot {
    let mut snapshot = first();
    snapshot.accounts.push(account(9, "carol", None));
    snapshot.accounts.push(account(11, "dave", None));
    let mut expiring = membership(9, Resource::Group(GitLabGroupId(3)), AccessLevel::OWNER);
    // In force on the run's day, expired a week later: the run's grants keep it.
    expiring.expires_at = Some(date!(2026 - 12 - 05));
    snapshot.memberships.extend([
        membership(7, API, AccessLevel::MAINTAINER),
        expiring,
        membership(11, Resource::Group(GitLabGroupId(3)), AccessLevel::MINIMAL_ACCESS),
        membership(11, API, AccessLevel::GUEST),
    ]);
    snapshot.memberships.sort_by_key(|m| (m.account, m.resource));
    snapshot.shares.push(Share {
        resource: PLATFORM,
        shared_with: GitLabGroupId(3),
        cap: AccessLevel::DEVELOPER,
        expires_at: None,
    });
    snapshot
}

#[tokio::test]
async fn a_stored_runs_grants_are_computed_a_page_an_account_and_a_resource_at_a_time() {
    let (env, connection) = with_alice().await;
    let (run, _) = two_runs(&env, &connection).await;
    let today = date!(2026 - 12 - 02);
    let snapshot = spread();
    let expected = snapshot.effective_grants(today);
    let saved = Snapshots::new(env.store.clone())
        .save(&run, &snapshot, today)
        .await
        .unwrap();
    assert_eq!(saved, expected.len() as u64);

    let reader = GrantReader::new(env.store.clone());
    let grants = reader.run(run.as_str()).await.unwrap();
    assert_eq!(grants.total(), expected.len() as u64);
    for offset in 0..=expected.len() as u64 + 1 {
        for limit in [1, 2, 3, 100] {
            let page = reader.page(&grants, offset, limit).await.unwrap();
            let want: Vec<Grant> = expected
                .iter()
                .skip(offset as usize)
                .take(limit as usize)
                .cloned()
                .collect();
            assert_eq!(page, want, "offset {offset}, limit {limit}");
        }
    }
    for account in [7, 8, 9, 11, 12] {
        let want: Vec<Grant> = expected
            .iter()
            .filter(|grant| grant.account == GitLabUserId(account))
            .cloned()
            .collect();
        assert_eq!(
            reader.of_account(&grants, GitLabUserId(account)).await.unwrap(),
            want
        );
    }
    for resource in [ACME, PLATFORM, API, Resource::Group(GitLabGroupId(3))] {
        let want: Vec<Grant> = expected
            .iter()
            .filter(|grant| grant.resource == resource)
            .cloned()
            .collect();
        assert!(!want.is_empty());
        assert_eq!(reader.on_resource(&grants, resource).await.unwrap(), want);
    }
    assert!(
        reader
            .on_resource(&grants, Resource::Project(GitLabProjectId(404)))
            .await
            .unwrap()
            .is_empty()
    );
    // Carol's expiring ownership of partners reaches platform through the share.
    assert!(expected.iter().any(|grant| grant.account == GitLabUserId(9)
        && grant.resource == PLATFORM
        && matches!(grant.path, GrantPath::Shared { .. })));
    let mut streamed = Vec::new();
    let mut after = None;
    loop {
        let (batch, last) = reader.accounts_after(&grants, after, 2).await.unwrap();
        streamed.extend(batch);
        match last {
            Some(last) => after = Some(last),
            None => break,
        }
    }
    assert_eq!(streamed, expected);
    // Against itself a run differs in nothing; against nothing, everything is new.
    assert!(
        reader
            .diff(
                Some(run.as_str()),
                &snapshot.accounts,
                run.as_str(),
                &snapshot.accounts,
                usize::MAX
            )
            .await
            .unwrap()
            .is_empty()
    );
    let first_run = reader
        .diff(None, &[], run.as_str(), &snapshot.accounts, usize::MAX)
        .await
        .unwrap();
    assert_eq!(first_run.added, expected);
    // Capped, the lists keep their first entries and the counts stay whole.
    let capped = reader
        .diff(None, &[], run.as_str(), &snapshot.accounts, 3)
        .await
        .unwrap();
    assert_eq!(capped.added, expected[..3].to_vec());
    assert_eq!(capped.counts.added, expected.len() as u64);
}

/// A source with two runs, the first created earlier.
async fn two_runs(
    env: &labgate_testkit::TestEnv,
    connection: &labgate_proto::connections::ConnectionView,
) -> (AccessSyncRunId, AccessSyncRunId) {
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
    (before, after)
}

#[tokio::test]
async fn runs_store_snapshots_with_their_grants_and_diff_against_each_other() {
    let (env, connection) = with_alice().await;
    let (before, after) = two_runs(&env, &connection).await;
    let snapshots = Snapshots::new(env.store.clone());
    let today = date!(2026 - 12 - 02);
    let stored = snapshots.save(&before, &first(), today).await.unwrap();
    assert_eq!(
        stored, 5,
        "alice on acme, platform and api; bob on platform and api"
    );
    let loaded = snapshots.load(&before).await.unwrap();
    assert_eq!(loaded, first());
    assert_eq!(
        snapshots.grants(&before).await.unwrap(),
        first().effective_grants(today),
        "the stored run's grants are computed as the snapshot's"
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
