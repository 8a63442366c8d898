//! Access sync end to end against gitlab-sim: a group scope with subgroups, shares with caps,
//! Minimal Access, Planner, a custom role, expiring and expired memberships, a blocked user and
//! a bot; the request count against the simulator's own count; faults retried; a failing run
//! keeping the last good snapshot; an instance scope with an administrator's token; a targeted
//! run; and the periodic schedule on the controllable clock.

use gitlab_sim::seed::{SeedIdentity, SeedMember, SeedUser};
use gitlab_sim::{FaultRule, Seed, SeedBuilder};
use labgate_core::CoreError;
use labgate_core::access::effective::{Grant, GrantPath};
use labgate_core::access::model::{
    AccessLevel, AccountKind, AccountState, GitLabGroupId, GitLabProjectId, GitLabUserId, Resource,
};
use labgate_core::access::snapshot::{Snapshot, Snapshots};
use labgate_core::access::{AccessSyncSettings, AccessSyncs};
use labgate_core::ids::{AccessSourceId, AccessSyncRunId};
use labgate_core::jobs::{JobKind, JobSpec};
use labgate_proto::access::{
    AccessScope, AccessScopeKind, AccessSourceStatus, AccessSyncKind, AccessSyncStatus, AccessSyncView,
    CreateAccessSourceRequest,
};
use labgate_testkit::TestEnv;
use labgate_testkit::sim::fast_client_options;
use labgate_worker::{RunOutcome, Worker};
use time::Date;

use super::secret_scanning::{token_connection, worker_with};

const ALICE: &str = "glpat-aliceALICEalice1234";
const ROOT: &str = "glpat-rootROOTroot12345678";
const BOT: &str = "glpat-deployDEPLOYdeploy12";
const HOUR_MS: i64 = 3_600_000;

fn today() -> Date {
    time::OffsetDateTime::now_utc().date()
}

fn member(source: &str, user: &str, level: u8, expires_at: Option<Date>) -> SeedMember {
    SeedMember {
        source: source.into(),
        user: user.into(),
        access_level: level,
        expires_at: expires_at.map(|date| date.to_string()),
        member_role: None,
    }
}

/// acme (alice Owner, minnie Minimal Access, blake blocked Developer) > platform (paula Planner,
/// bob Developer) > deep > core; platform > api (cora Reporter with the Auditor role, a bot);
/// acme > website (dave until next month, eve expired yesterday); acme > contractors (connie
/// Maintainer) shared into platform at Reporter; partners (carol Owner, outside acme) shared
/// into api at Developer.
fn acme() -> SeedBuilder {
    Seed::builder()
        .admin("root")
        .user("alice")
        .user("bob")
        .user("paula")
        .user("minnie")
        .user("cora")
        .user("dave")
        .user("eve")
        .user("connie")
        .user("carol")
        .user_full(SeedUser {
            username: "blake".into(),
            name: "Blake".into(),
            email: "blake@example.com".into(),
            state: Some("blocked".into()),
            ..SeedUser::default()
        })
        .group("acme", "Acme")
        .group("acme/platform", "Platform")
        .group("acme/platform/deep", "Deep")
        .group("acme/contractors", "Contractors")
        .public_group("partners", "Partners")
        .project("acme/platform/api", "API")
        .project("acme/platform/deep/core", "Core")
        .project("acme/website", "Website")
        .member("acme", "alice", 50)
        .member("acme", "minnie", 5)
        .member("acme", "blake", 30)
        .member("acme/platform", "paula", 15)
        .member("acme/platform", "bob", 30)
        .member_role(Some("acme"), "Auditor", 20)
        .member_with_role("acme/platform/api", "cora", 20, "Auditor")
        .member("acme/contractors", "connie", 40)
        .member("partners", "carol", 50)
        .share("acme/platform", "acme/contractors", 20)
        .share("acme/platform/api", "partners", 30)
        .personal_token("alice", "ci", &["api"], ALICE)
        .personal_token("root", "admin", &["api"], ROOT)
        .project_token("acme/platform/api", "deploy", &["api"], 40, BOT)
}

fn acme_seed() -> Seed {
    let mut seed = acme().build();
    seed.members.push(member(
        "acme/website",
        "dave",
        30,
        Some(today() + time::Duration::days(30)),
    ));
    seed.members.push(member(
        "acme/website",
        "eve",
        30,
        Some(today() - time::Duration::days(1)),
    ));
    seed
}

/// The environment's services with access syncs whose client retries (the test environment's
/// default makes one attempt) and whose ceiling never holds a test up.
fn services(env: &TestEnv) -> labgate_core::Services {
    let mut services = env.services.clone();
    services.connections = services
        .connections
        .clone()
        .with_client_options(fast_client_options());
    services.access = services
        .access
        .clone()
        .with_connections(services.connections.clone())
        .with_settings(AccessSyncSettings {
            max_rpm: 100_000,
            concurrency: 3,
        });
    services
}

async fn group_source(access: &AccessSyncs, env: &TestEnv, connection: &str, path: &str) -> String {
    access
        .create(
            &env.admin,
            CreateAccessSourceRequest {
                name: "acme".into(),
                connection_id: connection.into(),
                scope: AccessScope {
                    kind: AccessScopeKind::Group,
                    full_path: Some(path.into()),
                },
            },
        )
        .await
        .unwrap()
        .id
}

/// Runs jobs until none is due; answers the outcomes.
async fn drain(worker: &Worker) -> Vec<RunOutcome> {
    let mut outcomes = Vec::new();
    while let Some(outcome) = worker.run_once().await.unwrap() {
        outcomes.push(outcome);
    }
    outcomes
}

/// GET requests the simulator answered on its API, whatever the status.
/// The fewest requests a full read of the acme group scope takes, from the simulator's data.
fn acme_lower_bound(env: &TestEnv) -> u64 {
    env.sim().state().read(|db| {
        let acme = db.group_id("acme").unwrap();
        db.access_read_bound(Some(acme), today()).requests()
    })
}

fn sim_gets(env: &TestEnv) -> u64 {
    env.sim()
        .requests()
        .snapshot()
        .iter()
        .filter(|row| row.method == "GET" && row.route.starts_with("/api/v4"))
        .map(|row| row.count)
        .sum()
}

async fn snapshot_of(env: &TestEnv, sync: &AccessSyncView) -> (Snapshot, Vec<Grant>) {
    let snapshots = Snapshots::new(env.store.clone());
    let run = AccessSyncRunId::parse(&sync.id).unwrap();
    (
        snapshots.load(&run).await.unwrap(),
        snapshots.grants(&run).await.unwrap(),
    )
}

fn ids(env: &TestEnv) -> impl Fn(&str) -> u64 + '_ {
    move |username: &str| {
        env.sim()
            .state()
            .read(|db| db.user_by_username(username).map(|u| u.id))
            .unwrap_or_else(|| panic!("no user {username}"))
    }
}

fn group(env: &TestEnv, path: &str) -> Resource {
    let id = env.sim().state().read(|db| db.group_id(path)).unwrap();
    Resource::Group(GitLabGroupId(id))
}

fn project(env: &TestEnv, path: &str) -> Resource {
    let id = env.sim().state().read(|db| db.project_id(path)).unwrap();
    Resource::Project(GitLabProjectId(id))
}

fn grant(grants: &[Grant], user: u64, resource: Resource) -> Option<&Grant> {
    grants
        .iter()
        .find(|grant| grant.account == GitLabUserId(user) && grant.resource == resource)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_sync_stores_every_grant_with_its_path_and_counts_one_request_per_page() {
    let env = TestEnv::builder().sim(acme_seed()).build().await;
    let connection = token_connection(&env, "alice", ALICE, false).await;
    let services = services(&env);
    let access = &services.access;
    let source = group_source(access, &env, &connection, "acme").await;
    assert_eq!(
        access.get(&env.admin, &source).await.unwrap().status,
        AccessSourceStatus::NeverSynced
    );

    let queued = access.trigger_sync(&env.admin, &source).await.unwrap();
    assert_eq!(
        (queued.status, queued.kind, queued.progress.phase.as_deref()),
        (AccessSyncStatus::Queued, AccessSyncKind::Full, Some("queued"))
    );
    // One run at a time.
    assert!(matches!(
        access.trigger_sync(&env.admin, &source).await,
        Err(CoreError::Conflict(_))
    ));
    env.sim().requests().reset();
    let outcomes = drain(&worker_with(&services, "w1")).await;
    assert!(
        matches!(outcomes.as_slice(), [RunOutcome::Succeeded { .. }]),
        "{outcomes:?}"
    );

    let sync = access.sync(&env.admin, &queued.id).await.unwrap();
    assert_eq!(sync.status, AccessSyncStatus::Succeeded, "{sync:?}");
    assert_eq!(sync.progress.phase.as_deref(), Some("done"));
    assert!(sync.started_at.is_some() && sync.finished_at.is_some());
    assert!(sync.error.is_none());
    // The lower bound from the simulator's data: acme's detail, one page of its 3 descendants
    // and their 3 details, one page of its 3 projects, the detail of partners (shared in from
    // outside), and one page of direct members for each of the 5 groups and 3 projects (GitLab
    // lists no expired membership: eve is gone). No account is read on its own.
    let expected = acme_lower_bound(&env);
    assert_eq!(expected, 1 + 1 + 3 + 1 + 1 + (5 + 3));
    assert_eq!(sync.request_count, expected);
    assert_eq!(sim_gets(&env), expected, "labgate counts what GitLab saw");
    let source_view = access.get(&env.admin, &source).await.unwrap();
    assert_eq!(source_view.status, AccessSourceStatus::Connected);
    assert_eq!(source_view.last_sync_id.as_deref(), Some(sync.id.as_str()));

    let (snapshot, grants) = snapshot_of(&env, &sync).await;
    let id = ids(&env);
    let (acme, platform, contractors, partners) = (
        group(&env, "acme"),
        group(&env, "acme/platform"),
        group(&env, "acme/contractors"),
        group(&env, "partners"),
    );
    let (api, core, website) = (
        project(&env, "acme/platform/api"),
        project(&env, "acme/platform/deep/core"),
        project(&env, "acme/website"),
    );
    let GitLabGroupIdOf(acme_id) = GitLabGroupIdOf::of(acme);
    assert_eq!(snapshot.accounts.len(), 10);
    assert_eq!(snapshot.groups.len(), 5);
    assert_eq!(snapshot.projects.len(), 3);

    // The owner inherits everywhere below.
    let alice = grant(&grants, id("alice"), core).unwrap();
    assert_eq!(alice.role.level, AccessLevel::OWNER);
    assert_eq!(alice.path, GrantPath::Inherited { via: acme_id });
    assert_eq!(grant(&grants, id("alice"), acme).unwrap().path, GrantPath::Direct);
    // Minimal Access stays on its group.
    assert_eq!(
        grant(&grants, id("minnie"), acme).unwrap().role.level,
        AccessLevel::MINIMAL_ACCESS
    );
    assert!(grant(&grants, id("minnie"), platform).is_none());
    // Planner inherits.
    let paula = grant(&grants, id("paula"), api).unwrap();
    assert_eq!(paula.role.level, AccessLevel::PLANNER);
    assert!(matches!(paula.path, GrantPath::Inherited { .. }));
    // The custom role keeps its name and base.
    let cora = grant(&grants, id("cora"), api).unwrap();
    assert_eq!(cora.role.level, AccessLevel::REPORTER);
    assert_eq!(cora.role.custom.as_ref().unwrap().name, "Auditor");
    // Expiring memberships carry their date; expired ones grant nothing.
    assert_eq!(
        grant(&grants, id("dave"), website).unwrap().expires_at,
        Some(today() + time::Duration::days(30))
    );
    assert!(grant(&grants, id("eve"), website).is_none());
    // A group shared within the scope passes its members on, capped.
    let connie = grant(&grants, id("connie"), core).unwrap();
    assert_eq!(connie.role.level, AccessLevel::REPORTER);
    let GitLabGroupIdOf(contractors_id) = GitLabGroupIdOf::of(contractors);
    assert_eq!(
        connie.path,
        GrantPath::Shared {
            via: contractors_id,
            shared_at: platform,
            capped_at: AccessLevel::REPORTER
        }
    );
    // A group from outside the scope too.
    let carol = grant(&grants, id("carol"), api).unwrap();
    assert_eq!(carol.role.level, AccessLevel::DEVELOPER);
    let GitLabGroupIdOf(partners_id) = GitLabGroupIdOf::of(partners);
    assert!(matches!(carol.path, GrantPath::Shared { via, .. } if via == partners_id));
    // The blocked account keeps its grants, recorded as blocked; the bot is a bot.
    let account = |name: &str| {
        snapshot
            .accounts
            .iter()
            .find(|a| a.username == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    assert_eq!(account("blake").state, AccountState::Blocked);
    assert!(grant(&grants, id("blake"), api).is_some());
    let bot = snapshot
        .accounts
        .iter()
        .find(|a| a.username.starts_with("project_"))
        .unwrap();
    assert_eq!(bot.kind, AccountKind::Bot);
    assert_eq!(
        grant(&grants, bot.id.0, api).unwrap().role.level,
        AccessLevel::MAINTAINER
    );
    assert_eq!(account("alice").kind, AccountKind::Human);

    let log: Vec<String> = access
        .sync_log(&env.admin, &sync.id)
        .await
        .unwrap()
        .lines
        .into_iter()
        .map(|line| line.message)
        .collect();
    for expected in [
        "queued a full sync",
        "full sync of group acme",
        "read 4 group(s)",
        "read 3 project(s)",
        "read 1 group(s) outside the scope",
        "full sync done: 10 account(s)",
    ] {
        assert!(
            log.iter().any(|line| line.contains(expected)),
            "{expected}: {log:#?}"
        );
    }
    assert_eq!(access.syncs(&env.admin, &source).await.unwrap().syncs.len(), 1);
}

/// A group's id from a resource known to be a group.
struct GitLabGroupIdOf(GitLabGroupId);

impl GitLabGroupIdOf {
    fn of(resource: Resource) -> GitLabGroupIdOf {
        match resource {
            Resource::Group(id) => GitLabGroupIdOf(id),
            Resource::Project(_) => panic!("not a group"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_server_errors_are_retried_without_counting_twice() {
    let env = TestEnv::builder().sim(acme_seed()).build().await;
    let connection = token_connection(&env, "alice", ALICE, false).await;
    let services = services(&env);
    let source = group_source(&services.access, &env, &connection, "acme").await;
    for rule in [
        FaultRule {
            route: Some("/api/v4/groups/{id}/members".into()),
            storm_429: 1.0,
            retry_after: Some(0),
            times: Some(2),
            ..FaultRule::default()
        },
        FaultRule {
            route: Some("/api/v4/projects/{id}/members".into()),
            error_503: 1.0,
            times: Some(2),
            ..FaultRule::default()
        },
    ] {
        env.sim().faults().add(rule);
    }
    let sync = services.access.trigger_sync(&env.admin, &source).await.unwrap();
    env.sim().requests().reset();
    drain(&worker_with(&services, "w1")).await;
    let sync = services.access.sync(&env.admin, &sync.id).await.unwrap();
    assert_eq!(sync.status, AccessSyncStatus::Succeeded, "{sync:?}");
    let bound = acme_lower_bound(&env);
    assert_eq!(sync.request_count, bound, "retries are not requests of their own");
    assert_eq!(sim_gets(&env), bound + 4, "GitLab saw the four retried attempts");
    let log = services.access.sync_log(&env.admin, &sync.id).await.unwrap();
    assert!(
        log.lines
            .iter()
            .any(|line| line.message.contains("4 request(s) were retried")),
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_run_keeps_the_last_good_snapshot() {
    let env = TestEnv::builder().sim(acme_seed()).build().await;
    let connection = token_connection(&env, "alice", ALICE, false).await;
    let services = services(&env);
    let access = &services.access;
    let source = group_source(access, &env, &connection, "acme").await;
    let good = access.trigger_sync(&env.admin, &source).await.unwrap();
    let worker = worker_with(&services, "w1");
    drain(&worker).await;

    // GitLab now fails every project listing, past the client's retries and the job's attempts.
    env.sim().faults().add(FaultRule {
        route: Some("/api/v4/groups/{id}/projects".into()),
        error_500: 1.0,
        ..FaultRule::default()
    });
    let bad = access.trigger_sync(&env.admin, &source).await.unwrap();
    for _ in 0..5 {
        drain(&worker).await;
        env.clock.advance_ms(HOUR_MS);
    }
    let bad = access.sync(&env.admin, &bad.id).await.unwrap();
    assert_eq!(bad.status, AccessSyncStatus::Failed, "{bad:?}");
    assert!(
        bad.error.as_deref().unwrap().contains("listing the projects"),
        "{bad:?}"
    );
    let source_view = access.get(&env.admin, &source).await.unwrap();
    assert_eq!(source_view.status, AccessSourceStatus::Failed);
    assert_eq!(source_view.last_sync_id.as_deref(), Some(bad.id.as_str()));
    let log = access.sync_log(&env.admin, &bad.id).await.unwrap();
    assert!(
        log.lines
            .iter()
            .any(|line| line.message.contains("failed, trying again later")),
        "{log:?}"
    );
    assert!(log.lines.last().unwrap().message.starts_with("the sync failed"));
    // The failed run stored nothing; the good run's snapshot is the latest succeeded one.
    let snapshots = Snapshots::new(env.store.clone());
    let bad_run = AccessSyncRunId::parse(&bad.id).unwrap();
    let empty = snapshots.load(&bad_run).await.unwrap();
    assert!(empty.accounts.is_empty() && empty.groups.is_empty());
    assert!(
        matches!(
            snapshots.grants(&bad_run).await,
            Err(labgate_core::CoreError::Conflict(_))
        ),
        "a failed run has no grants to read"
    );
    let latest = env
        .store
        .previous_succeeded_access_sync_run(&source, i64::MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.id, good.id);
    let (kept, grants) = snapshot_of(&env, &good).await;
    assert_eq!(kept.accounts.len(), 10);
    assert!(!grants.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_scope_needs_an_administrator_and_reads_users_by_keyset() {
    // 150 more users, 105 of them in one group: two pages of users and of that group's members.
    let mut builder = acme();
    for i in 0..150 {
        builder = builder.user(&format!("user{i:03}"));
    }
    for i in 0..105 {
        builder = builder.member("partners", &format!("user{i:03}"), 30);
    }
    let mut seed = builder.build();
    seed.users
        .iter_mut()
        .find(|user| user.username == "alice")
        .unwrap()
        .identities
        .push(SeedIdentity {
            provider: "ldapmain".into(),
            extern_uid: "uid=alice,ou=people".into(),
        });
    let env = TestEnv::builder().sim(seed).build().await;
    let services = services(&env);
    let access = &services.access;
    let instance = AccessScope {
        kind: AccessScopeKind::Instance,
        full_path: None,
    };

    let alice = token_connection(&env, "alice", ALICE, false).await;
    let refused = access
        .create(
            &env.admin,
            CreateAccessSourceRequest {
                name: "everything".into(),
                connection_id: alice,
                scope: instance.clone(),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, CoreError::Validation { field: Some("scope.kind"), message } if message.contains("administrator")),
        "{refused:?}"
    );

    let root = token_connection(&env, "root", ROOT, false).await;
    let source = access
        .create(
            &env.admin,
            CreateAccessSourceRequest {
                name: "everything".into(),
                connection_id: root,
                scope: instance,
            },
        )
        .await
        .unwrap();
    let sync = access.trigger_sync(&env.admin, &source.id).await.unwrap();
    env.sim().requests().reset();
    drain(&worker_with(&services, "w1")).await;
    let sync = access.sync(&env.admin, &sync.id).await.unwrap();
    assert_eq!(sync.status, AccessSyncStatus::Succeeded, "{sync:?}");

    let (snapshot, grants) = snapshot_of(&env, &sync).await;
    let (users, groups, projects) = env.sim().state().read(|db| {
        (
            db.users.len() as u64,
            db.groups.len() as u64,
            db.projects.len() as u64,
        )
    });
    assert_eq!(snapshot.accounts.len() as u64, users);
    assert_eq!(snapshot.groups.len() as u64, groups);
    assert_eq!(snapshot.projects.len() as u64, projects);
    // Users by keyset (2 pages), one page of groups and their details, one page of projects,
    // and a page of members per group and project, two for the group of 105.
    let pages = |n: u64| n.div_ceil(100).max(1);
    let expected = pages(users) + pages(groups) + groups + pages(projects) + groups + projects + 1;
    assert_eq!(sync.request_count, expected);
    assert_eq!(sim_gets(&env), expected);
    let keyset_users = env
        .sim()
        .requests()
        .snapshot()
        .into_iter()
        .find(|row| row.route == "/api/v4/users")
        .unwrap();
    assert_eq!(keyset_users.count, 2);

    let account = |name: &str| snapshot.accounts.iter().find(|a| a.username == name).unwrap();
    let alice = account("alice");
    assert_eq!(alice.admin, Some(false));
    assert_eq!(alice.identities.len(), 1);
    assert_eq!(alice.identities[0].provider, "ldapmain");
    assert_eq!(account("root").admin, Some(true));
    assert_eq!(account("blake").state, AccountState::Blocked);
    assert!(snapshot.accounts.iter().any(|a| a.kind == AccountKind::Bot));
    let partners = group(&env, "partners");
    assert_eq!(
        grants.iter().filter(|g| g.resource == partners).count(),
        106,
        "carol and the 105"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_targeted_run_reads_only_its_targets_on_top_of_the_last_snapshot() {
    let env = TestEnv::builder().sim(acme_seed()).build().await;
    let connection = token_connection(&env, "alice", ALICE, false).await;
    let services = services(&env);
    let access = &services.access;
    let source = group_source(access, &env, &connection, "acme").await;
    let source_id = AccessSourceId::parse(&source).unwrap();
    let website = project(&env, "acme/website");
    let worker = worker_with(&services, "w1");

    // Without a successful snapshot, a targeted run reads everything.
    let first = access
        .queue_targeted(&env.admin.tenant_id, &source_id, vec![website])
        .await
        .unwrap();
    drain(&worker).await;
    let first = access.sync(&env.admin, first.as_str()).await.unwrap();
    assert_eq!(
        (first.kind, first.status, first.request_count),
        (
            AccessSyncKind::Targeted,
            AccessSyncStatus::Succeeded,
            acme_lower_bound(&env)
        )
    );

    // Root joins the website as a Maintainer; dave leaves it.
    let (root, dave) = (ids(&env)("root"), ids(&env)("dave"));
    env.sim().state().write(|db| {
        let pid = db.project_id("acme/website").unwrap();
        let now = time::OffsetDateTime::now_utc();
        db.add_member(gitlab_sim::model::Source::Project(pid), root, 40, None, None, now);
        db.members
            .get_mut(&gitlab_sim::model::Source::Project(pid))
            .unwrap()
            .remove(&dave);
    });
    env.sim().requests().reset();
    let second = access
        .queue_targeted(&env.admin.tenant_id, &source_id, vec![website, website])
        .await
        .unwrap();
    drain(&worker).await;
    let second = access.sync(&env.admin, second.as_str()).await.unwrap();
    assert_eq!(second.status, AccessSyncStatus::Succeeded, "{second:?}");
    // The project's detail and its one page of members; root, new to the snapshot, comes from
    // the member listing.
    assert_eq!(second.request_count, 2);
    assert_eq!(sim_gets(&env), 2);
    let (snapshot, grants) = snapshot_of(&env, &second).await;
    assert_eq!(
        grant(&grants, root, website).unwrap().role.level,
        AccessLevel::MAINTAINER
    );
    assert!(grant(&grants, dave, website).is_none());
    assert!(snapshot.accounts.iter().any(|a| a.id == GitLabUserId(root)));
    assert!(
        !snapshot.accounts.iter().any(|a| a.id == GitLabUserId(dave)),
        "dave has no membership left in acme"
    );
    // Everything else is as the full run left it.
    let (before, before_grants) = snapshot_of(&env, &first).await;
    assert_eq!(snapshot.groups, before.groups);
    assert_eq!(
        grants.iter().filter(|g| g.resource != website).count(),
        before_grants.iter().filter(|g| g.resource != website).count()
    );
    assert!(matches!(
        access
            .queue_targeted(&env.admin.tenant_id, &source_id, Vec::new())
            .await,
        Err(CoreError::Validation { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_syncs_each_source_once_its_last_full_sync_is_a_day_old() {
    let env = TestEnv::builder().sim(acme_seed()).build().await;
    let connection = token_connection(&env, "alice", ALICE, false).await;
    let services = services(&env);
    let access = &services.access;
    let source = group_source(access, &env, &connection, "acme").await;
    services
        .jobs
        .enqueue(&JobSpec::recurring(JobKind::AccessSchedule))
        .await
        .unwrap();
    let worker = worker_with(&services, "w1");
    let syncs = || async { access.syncs(&env.admin, &source).await.unwrap().syncs };

    // A source never synced is due at the first sweep.
    drain(&worker).await;
    assert_eq!(syncs().await.len(), 1);
    assert_eq!(syncs().await[0].status, AccessSyncStatus::Succeeded);

    // Half a day on, the sweep finds nothing due.
    env.clock.advance_ms(12 * HOUR_MS);
    drain(&worker).await;
    assert_eq!(syncs().await.len(), 1);

    // A day after the first sync, the next one is queued and runs.
    env.clock.advance_ms(13 * HOUR_MS);
    drain(&worker).await;
    let all = syncs().await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(
        all.iter()
            .all(|s| s.status == AccessSyncStatus::Succeeded && s.kind == AccessSyncKind::Full)
    );

    // A source with a sync queued gets no second one, however old its last full sync.
    env.clock.advance_ms(25 * HOUR_MS);
    access.trigger_sync(&env.admin, &source).await.unwrap();
    assert_eq!(
        access.queue_due_syncs(time::Duration::hours(24)).await.unwrap(),
        0
    );
    assert_eq!(syncs().await.len(), 3);
}
