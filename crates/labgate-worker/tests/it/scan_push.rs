//! Push webhooks of secret scanning end to end: labgate installs its hooks at gitlab-sim when a
//! data source has auto-scan on, gitlab-sim sends its push events to labgate served on a real
//! socket, and the push job scans what each push brought in, read from git (not from the
//! webhook body, which lists 20 commits at most).

use std::path::Path;
use std::time::Duration;

use gitlab_sim::model::Visibility;
use gitlab_sim::{FaultRule, Seed};
use labgate_core::jobs::{JobKind, JobState};
use labgate_core::scanning::findings::FindingQuery;
use labgate_proto::secret_scanning::{
    CreateDataSourceRequest, GitLabDataSourceConfig, ScanKind, ScanScope, ScanStatus, ScanView,
    UpdateDataSourceRequest,
};
use labgate_testkit::{ServedApp, TestEnv, captured_logs, install_log_capture, wait_until};
use serde_json::{Value, json};

use crate::secret_scanning::{ALICE, connection, git, scanning_env_services, worker_with};

/// Already in the history when the data source is created.
const OLD_LEAK: &str = "glpat-Hq4vR8xNm2Lk7Tt4Wy1C";
/// Pushed later.
const PUSHED: &str = "glpat-Pz8wQ3nKr5Mv2Xc7Jb4D";
/// Pushed to a project created after the data source.
const NEW_PROJECT_LEAK: &str = "glpat-Nw3pR7tYk2Lm9Qs4Vx6Z";
/// In an annotated tag's message.
const TAG_LEAK: &str = "glpat-Tg5hJ8kLq3Wz6Xc1Vb9N";

fn seed(free_tier: bool) -> Seed {
    let builder = Seed::builder()
        .user("alice")
        .group("acme", "Acme")
        .group("acme/platform", "Platform")
        .project("acme/api", "API")
        .file("acme/api", "config/old.env", &format!("TOKEN={OLD_LEAK}\n"))
        .project("acme/platform/web", "Web")
        .file("acme/platform/web", "README.md", "web\n")
        .member("acme", "alice", 50)
        .personal_token("alice", "ci", &["api"], ALICE);
    if free_tier {
        builder.free_tier().build()
    } else {
        builder.build()
    }
}

struct Setup {
    env: TestEnv,
    served: ServedApp,
    services: labgate_core::Services,
    connection: String,
}

async fn setup(free_tier: bool) -> Setup {
    install_log_capture();
    let env = TestEnv::builder().sim(seed(free_tier)).build().await;
    let served = env.serve().await;
    let base = served.url("");
    let services = scanning_env_services(&env).with_site_url(Some(&base));
    let connection = connection(&env, "alice", ALICE).await;
    Setup {
        env,
        served,
        services,
        connection,
    }
}

fn source(name: &str, connection: &str, scope: ScanScope, auto: bool) -> CreateDataSourceRequest {
    let (project_id, group_id) = match scope {
        ScanScope::Project => (Some("acme/api".to_owned()), None),
        ScanScope::Group => (None, Some("acme".to_owned())),
    };
    CreateDataSourceRequest {
        name: name.to_owned(),
        description: None,
        connection_id: connection.to_owned(),
        config: GitLabDataSourceConfig {
            scope,
            project_id,
            group_id,
            include_projects: None,
        },
        is_auto_scan_enabled: Some(auto),
    }
}

impl Setup {
    fn hook_owners(&self) -> Vec<String> {
        let mut owners: Vec<String> = self
            .env
            .sim()
            .state()
            .hooks()
            .iter()
            .map(|h| format!("{:?}", h.owner))
            .collect();
        owners.sort();
        owners
    }

    /// Runs queued jobs until none is left; each must succeed.
    async fn drain(&self) {
        for outcome in self.run_all().await {
            assert!(
                matches!(outcome, labgate_worker::RunOutcome::Succeeded { .. }),
                "{outcome:?}"
            );
        }
    }

    async fn run_all(&self) -> Vec<labgate_worker::RunOutcome> {
        let worker = worker_with(&self.services, "w1");
        let mut outcomes = Vec::new();
        while let Some(outcome) = worker.run_once().await.unwrap() {
            outcomes.push(outcome);
        }
        outcomes
    }

    async fn scans(&self, id: &str) -> Vec<ScanView> {
        self.services
            .secret_scanning
            .scans(&self.env.admin, id)
            .await
            .unwrap()
            .scans
    }

    /// Waits until gitlab-sim has sent `count` push events and labgate answered each.
    async fn deliveries(&self, count: usize) -> Vec<gitlab_sim::model::HookDelivery> {
        let sim = self.env.sim().state().clone();
        wait_until(Duration::from_secs(20), "gitlab-sim delivered the push", || {
            let sim = sim.clone();
            async move {
                sim.hook_deliveries()
                    .iter()
                    .filter(|d| d.status.is_some())
                    .count()
                    >= count
            }
        })
        .await;
        self.env.sim().state().hook_deliveries()
    }

    fn receiver(&self) -> String {
        self.served.url("/secret-scanning/webhooks/gitlab")
    }
}

/// A clone of `acme/api` to push from.
fn checkout(env: &TestEnv, work: &Path) -> std::path::PathBuf {
    let url = format!("{}/acme/api.git", env.sim().url());
    git(work, &["clone", "-q", &url, "repo"]);
    work.join("repo")
}

fn commit_file(repo: &Path, file: &str, content: &str, message: &str) {
    std::fs::write(repo.join(file), content).unwrap();
    git(repo, &["add", file]);
    git(repo, &["commit", "-q", "-m", message]);
}

fn head(repo: &Path) -> String {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(repo)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn push_jobs(env: &TestEnv) -> usize {
    env.services
        .jobs
        .of_kind(JobKind::SecretScanPush, 1_000)
        .await
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_follow_auto_scan_and_the_data_source_and_a_failed_removal_is_retried() {
    let s = setup(false).await;
    let scanning = &s.services.secret_scanning;
    let created = scanning
        .create(
            &s.env.admin,
            source("acme", &s.connection, ScanScope::Group, true),
        )
        .await
        .unwrap();
    let hooks = s.env.sim().state().hooks();
    assert_eq!(hooks.len(), 1, "one group hook covers every project");
    let hook = &hooks[0];
    assert!(format!("{:?}", hook.owner).contains("Group"), "{:?}", hook.owner);
    assert_eq!(hook.url, s.receiver());
    assert!(hook.push_events && hook.tag_push_events);
    assert!(!hook.enable_ssl_verification, "plain http here");
    let token = hook.token.clone().expect("a secret token");
    assert!(token.len() >= 32);
    let view = serde_json::to_string(&created).unwrap();
    assert!(!view.contains(&token), "the secret is never shown");

    // Off removes, on installs again.
    let off = UpdateDataSourceRequest {
        is_auto_scan_enabled: Some(false),
        ..UpdateDataSourceRequest::default()
    };
    scanning.update(&s.env.admin, &created.id, off).await.unwrap();
    assert!(s.env.sim().state().hooks().is_empty());
    let on = UpdateDataSourceRequest {
        is_auto_scan_enabled: Some(true),
        ..UpdateDataSourceRequest::default()
    };
    scanning.update(&s.env.admin, &created.id, on).await.unwrap();
    assert_eq!(s.env.sim().state().hooks().len(), 1);

    // GitLab fails as the data source goes: the hook is removed later, not forgotten.
    s.env.sim().faults().add(FaultRule {
        route: Some("/api/v4/groups/".to_owned()),
        method: Some("DELETE".to_owned()),
        error_503: 1.0,
        ..FaultRule::default()
    });
    scanning.delete(&s.env.admin, &created.id).await.unwrap();
    assert_eq!(s.env.sim().state().hooks().len(), 1, "still at GitLab");
    let removal = s
        .env
        .services
        .jobs
        .of_kind(JobKind::SecretScanHooksRemove, 10)
        .await
        .unwrap()
        .pop()
        .expect("a removal job is queued");
    s.env.sim().faults().clear();
    // The first full scans queued by auto-scan fail: their data source is gone.
    s.run_all().await;
    assert!(s.env.sim().state().hooks().is_empty(), "removed by the job");
    let job = s.env.services.jobs.find(&removal.id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Succeeded);

    // A project data source gets a project hook.
    let project = scanning
        .create(
            &s.env.admin,
            source("api", &s.connection, ScanScope::Project, true),
        )
        .await
        .unwrap();
    assert_eq!(s.hook_owners().len(), 1);
    assert!(s.hook_owners()[0].contains("Project"));
    scanning.delete(&s.env.admin, &project.id).await.unwrap();
    assert!(s.env.sim().state().hooks().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_group_hooks_each_project_gets_its_own() {
    let s = setup(true).await;
    let scanning = &s.services.secret_scanning;
    let created = scanning
        .create(
            &s.env.admin,
            source("acme", &s.connection, ScanScope::Group, true),
        )
        .await
        .unwrap();
    let owners = s.hook_owners();
    assert_eq!(owners.len(), 2, "{owners:?}");
    assert!(owners.iter().all(|o| o.contains("Project")), "{owners:?}");
    scanning.delete(&s.env.admin, &created.id).await.unwrap();
    assert!(s.env.sim().state().hooks().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_is_scanned_from_git_through_the_receiver_and_redeliveries_and_bad_tokens_queue_nothing() {
    let s = setup(false).await;
    let scanning = &s.services.secret_scanning;
    let created = scanning
        .create(
            &s.env.admin,
            source("acme", &s.connection, ScanScope::Group, true),
        )
        .await
        .unwrap();
    // The first full scan (queued by auto-scan) mirrors both repositories.
    s.drain().await;
    let full = s.scans(&created.id).await;
    assert_eq!(full.len(), 1);
    assert_eq!(
        (full[0].kind, full[0].status),
        (ScanKind::Full, ScanStatus::Completed)
    );

    // 25 commits in one push, the token in the first: the webhook lists only the newest 20.
    let work = tempfile::tempdir().unwrap();
    let repo = checkout(&s.env, work.path());
    commit_file(
        &repo,
        "deploy.env",
        &format!("GITLAB_TOKEN={PUSHED}\n"),
        "add deploy settings",
    );
    let planted = head(&repo);
    std::fs::remove_file(repo.join("deploy.env")).unwrap();
    git(&repo, &["commit", "-q", "-am", "remove deploy settings"]);
    for n in 0..23 {
        commit_file(&repo, "notes.txt", &format!("note {n}\n"), &format!("note {n}"));
    }
    git(&repo, &["push", "-q", "origin", "HEAD"]);
    let deliveries = s.deliveries(1).await;
    let delivery = deliveries.last().unwrap();
    assert_eq!(delivery.status, Some(202));
    assert_eq!(delivery.body["total_commits_count"], 25);
    assert_eq!(delivery.body["commits"].as_array().unwrap().len(), 20);
    assert!(
        !delivery.body.to_string().contains(&planted),
        "commit 1 is not in the body"
    );
    s.drain().await;

    let scans = s.scans(&created.id).await;
    let push = scans
        .iter()
        .find(|v| v.kind == ScanKind::Push)
        .expect("a push scan");
    assert_eq!(push.status, ScanStatus::Completed, "{:?}", push.status_message);
    assert_eq!(
        (push.new_findings, push.total_findings),
        (1, 1),
        "only what the push brought in: the old leak is not scanned again"
    );
    let findings = scanning
        .findings(&s.env.admin, &FindingQuery::default())
        .await
        .unwrap()
        .findings;
    let found = findings
        .iter()
        .find(|f| f.locations.iter().any(|l| l.commit == planted))
        .expect("the pushed token is found at the commit that added it");
    assert_eq!(found.file, "deploy.env");
    assert_eq!(found.line, 1);

    // A redelivery of the same event answers 200 and scans nothing again.
    let token = s.env.sim().state().hooks()[0].token.clone().unwrap();
    let client = s.served.client(Duration::from_secs(10));
    let resend = |token: String, uuid: String, body: Value| {
        let client = client.clone();
        let url = s.receiver();
        async move {
            client
                .post(url)
                .header("Content-Type", "application/json")
                .header("X-Gitlab-Event", "Push Hook")
                .header("X-Gitlab-Token", token)
                .header("X-Gitlab-Event-UUID", uuid)
                .body(body.to_string())
                .send()
                .await
                .unwrap()
        }
    };
    let jobs_before = push_jobs(&s.env).await;
    let again = resend(token.clone(), delivery.event_uuid.clone(), delivery.body.clone()).await;
    assert_eq!(again.status().as_u16(), 200);
    let receipt: Value = again.json().await.unwrap();
    assert_eq!(receipt["status"], "duplicate");
    assert_eq!(push_jobs(&s.env).await, jobs_before);

    // A wrong token: 401, no detail, nothing queued.
    let wrong = resend(
        "not-the-secret".to_owned(),
        "6f1c2a3b-0000-4000-8000-000000000001".to_owned(),
        delivery.body.clone(),
    )
    .await;
    assert_eq!(wrong.status().as_u16(), 401);
    let body = wrong.text().await.unwrap();
    assert!(!body.contains("acme") && !body.contains(&token), "{body}");
    assert_eq!(push_jobs(&s.env).await, jobs_before);

    // Not JSON: 400; too large: 413 (unread: the length says so).
    let request = |body: Vec<u8>| {
        axum::http::Request::post("/secret-scanning/webhooks/gitlab")
            .header("X-Gitlab-Token", token.as_str())
            .header("X-Gitlab-Event", "Push Hook")
            .body(axum::body::Body::from(body))
            .unwrap()
    };
    let bad = s.env.send(request(b"{".to_vec())).await;
    assert_eq!(bad.status.as_u16(), 400, "{}", String::from_utf8_lossy(&bad.body));
    assert_eq!(bad.json()["statusCode"], 400);
    let huge = s.env.send(request(vec![b' '; 5 * 1024 * 1024])).await;
    assert_eq!(huge.status.as_u16(), 413);
    assert_eq!(push_jobs(&s.env).await, jobs_before);

    // A project created in the group later: the group hook covers it, the job lists the group
    // again and scans it.
    let now = s.env.sim().clock().now();
    s.env
        .sim()
        .state()
        .write(|db| db.create_project("acme/platform/new", "New", Visibility::Private, now))
        .unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let url = format!("{}/acme/platform/new.git", s.env.sim().url());
    git(fresh.path(), &["clone", "-q", &url, "new"]);
    let new_repo = fresh.path().join("new");
    commit_file(
        &new_repo,
        "ci.env",
        &format!("T={NEW_PROJECT_LEAK}\n"),
        "ci settings",
    );
    git(&new_repo, &["push", "-q", "origin", "HEAD:refs/heads/main"]);
    let deliveries = s.deliveries(2).await;
    assert_eq!(deliveries.last().unwrap().status, Some(202));
    s.drain().await;
    let resources = scanning
        .resources(&s.env.admin, &created.id)
        .await
        .unwrap()
        .resources;
    assert!(
        resources.iter().any(|r| r.name == "acme/platform/new"),
        "discovered on push"
    );
    let scans = s.scans(&created.id).await;
    let latest = scans
        .iter()
        .find(|v| v.kind == ScanKind::Push && v.resource_id.is_none())
        .unwrap();
    assert_eq!(
        latest.status,
        ScanStatus::Completed,
        "{:?}",
        latest.status_message
    );
    assert_eq!(latest.new_findings, 1);

    let logs = captured_logs();
    assert!(!logs.contains(&token), "the webhook secret is never logged");
    assert!(!logs.contains(PUSHED) && !logs.contains(ALICE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_branches_deleted_branches_and_force_pushes_scan_only_what_is_new() {
    let s = setup(false).await;
    let scanning = &s.services.secret_scanning;
    let created = scanning
        .create(
            &s.env.admin,
            source("api", &s.connection, ScanScope::Project, true),
        )
        .await
        .unwrap();
    s.drain().await;
    let work = tempfile::tempdir().unwrap();
    let repo = checkout(&s.env, work.path());

    // A new branch: its own commits only, not main's history with the old leak.
    git(&repo, &["checkout", "-q", "-b", "feature"]);
    commit_file(&repo, "feature.env", &format!("T={PUSHED}\n"), "feature settings");
    git(&repo, &["push", "-q", "origin", "feature"]);
    s.deliveries(1).await;
    s.drain().await;
    let scans = s.scans(&created.id).await;
    let branch = scans.iter().find(|v| v.kind == ScanKind::Push).unwrap();
    assert_eq!(
        branch.status,
        ScanStatus::Completed,
        "{:?}",
        branch.status_message
    );
    assert_eq!((branch.new_findings, branch.total_findings), (1, 1));

    // A force push: the rewritten branch's new commit is scanned, the old tip is not again.
    git(&repo, &["reset", "-q", "--hard", "HEAD~1"]);
    let second = "glpat-Fr9cE2tYu6Io3Pa8Sd5G";
    commit_file(&repo, "other.env", &format!("T={second}\n"), "other settings");
    git(&repo, &["push", "-q", "-f", "origin", "feature"]);
    s.deliveries(2).await;
    s.drain().await;
    let scans = s.scans(&created.id).await;
    let forced: Vec<&ScanView> = scans.iter().filter(|v| v.kind == ScanKind::Push).collect();
    assert_eq!(forced.len(), 2);
    let latest = forced.iter().max_by_key(|v| v.created_at.clone()).unwrap();
    assert_eq!(
        latest.status,
        ScanStatus::Completed,
        "{:?}",
        latest.status_message
    );
    assert_eq!((latest.new_findings, latest.total_findings), (1, 1));

    // An annotated tag: its message is scanned too; the commit it names was scanned already.
    git(
        &repo,
        &["tag", "-a", "v1", "-m", &format!("release with {TAG_LEAK}")],
    );
    git(&repo, &["push", "-q", "origin", "v1"]);
    let deliveries = s.deliveries(3).await;
    assert_eq!(deliveries.last().unwrap().event, "Tag Push Hook");
    s.drain().await;
    let findings = scanning
        .findings(&s.env.admin, &FindingQuery::default())
        .await
        .unwrap()
        .findings;
    assert_eq!(findings.len(), 4, "old leak, branch, force push, tag message");
    let scans = s.scans(&created.id).await;
    let tag = scans
        .iter()
        .filter(|v| v.kind == ScanKind::Push)
        .max_by_key(|v| v.created_at.clone())
        .unwrap();
    assert_eq!((tag.new_findings, tag.total_findings), (1, 1));

    // A deleted branch: recorded, nothing queued.
    let jobs_before = push_jobs(&s.env).await;
    git(&repo, &["push", "-q", "origin", "--delete", "feature"]);
    s.deliveries(4).await;
    assert_eq!(push_jobs(&s.env).await, jobs_before);
    let scans = s.scans(&created.id).await;
    let deleted = scans
        .iter()
        .find(|v| {
            v.status_message
                .as_deref()
                .is_some_and(|m| m.contains("refs/heads/feature was deleted"))
        })
        .expect("the deletion is recorded");
    assert_eq!(
        (deleted.kind, deleted.status),
        (ScanKind::Push, ScanStatus::Completed)
    );
    assert_eq!(deleted.total_findings, 0);
    assert_eq!(
        json!(s.env.sim().state().hook_deliveries().last().unwrap().status),
        json!(200)
    );
}
