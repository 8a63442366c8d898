//! Secret scanning end to end against gitlab-sim's git server: a group data source covers every
//! subgroup's projects, a full scan mirror-clones them (token only through `GIT_ASKPASS`), reads
//! their whole history and stores deduplicated findings with links; the token never reaches a
//! log, a URL or the mirror's config.

use std::path::Path;

use base64::Engine as _;
use gitlab_sim::Seed;
use labgate_core::CoreError;
use labgate_core::scanning::ScanSettings;
use labgate_core::scanning::findings::FindingQuery;
use labgate_proto::connections::{AccessTokenCredentials, CreateConnectionRequest};
use labgate_proto::secret_scanning::{
    CreateDataSourceRequest, ExportFormat, FindingStatus, FindingVerification, GitLabDataSourceConfig,
    ScanScope, ScanStatus, UpdateFindingRequest,
};
use labgate_testkit::{TestEnv, captured_logs, install_log_capture};

/// A worker running `services` (with their scan settings).
pub(crate) fn worker_with(services: &labgate_core::Services, owner: &str) -> labgate_worker::Worker {
    let settings = labgate_worker::WorkerSettings {
        owner: owner.to_owned(),
        ..labgate_worker::WorkerSettings::default()
    };
    let handlers = labgate_worker::default_handlers(
        &settings,
        labgate_worker::delivery_client(&services.network).unwrap(),
    );
    labgate_worker::Worker::new(services.clone(), settings, handlers)
}

pub(crate) const ALICE: &str = "glpat-aliceALICEalice1234";
const READER: &str = "glpat-readerREADERread12";
/// Leaked in the history of a subgroup's project, then deleted from the branch.
const LEAKED: &str = "glpat-Zq3vN8xPm2Lk7Rt4Wy9B";
/// A placeholder that looks like a token; not a finding.
const DECOY: &str = "glpat-XXXXXXXXXXXXXXXXXXXX";

fn seed() -> Seed {
    Seed::builder()
        .user("alice")
        .user("rita")
        .group("acme", "Acme")
        .group("acme/platform", "Platform")
        .group("acme/platform/deep", "Deep")
        .project("acme/web", "Web")
        .file("acme/web", "README.md", &format!("example: {DECOY}\n"))
        .project("acme/platform/deep/api", "API")
        .file(
            "acme/platform/deep/api",
            "config/deploy.env",
            &format!("GITLAB_TOKEN={LEAKED}\n"),
        )
        .member("acme", "alice", 40)
        .member("acme", "rita", 20)
        .personal_token("alice", "ci", &["api"], ALICE)
        .personal_token("rita", "ro", &["read_api", "read_repository"], READER)
        .build()
}

pub(crate) async fn connection(env: &TestEnv, name: &str, token: &str) -> String {
    token_connection(env, name, token, false).await
}

/// A personal access token connection to the simulator, rotating automatically or not.
pub(crate) async fn token_connection(env: &TestEnv, name: &str, token: &str, auto_rotate: bool) -> String {
    let request = CreateConnectionRequest {
        name: name.to_owned(),
        description: None,
        method: "access-token".to_owned(),
        credentials: Some(
            AccessTokenCredentials {
                access_token: token.to_owned(),
                instance_url: Some(env.sim().url().to_owned()),
                access_token_type: "personal".to_owned(),
            }
            .into(),
        ),
        project_id: None,
        is_platform_managed_credentials: None,
        gateway_id: None,
        usages: None,
        auto_rotate: Some(auto_rotate),
        rotate_before_days: None,
    };
    env.services
        .connections
        .create(&env.admin, request)
        .await
        .unwrap()
        .id
}

fn group_source(name: &str, connection: &str, include: Option<Vec<String>>) -> CreateDataSourceRequest {
    CreateDataSourceRequest {
        name: name.to_owned(),
        description: None,
        connection_id: connection.to_owned(),
        config: GitLabDataSourceConfig {
            scope: ScanScope::Group,
            project_id: None,
            group_id: Some("acme".to_owned()),
            include_projects: include,
        },
        is_auto_scan_enabled: Some(false),
    }
}

/// Runs git in `dir` with the token as a basic-auth header (test side only).
pub(crate) fn git(dir: &Path, args: &[&str]) {
    let header = format!(
        "http.extraHeader=Authorization: Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("alice:{ALICE}"))
    );
    let out = std::process::Command::new("git")
        .arg("-c")
        .arg(header)
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .env("GIT_AUTHOR_NAME", "Mallory")
        .env("GIT_AUTHOR_EMAIL", "mallory@example.com")
        .env("GIT_COMMITTER_NAME", "Mallory")
        .env("GIT_COMMITTER_EMAIL", "mallory@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) fn scanning_env_services(env: &TestEnv) -> labgate_core::Services {
    env.services.clone().with_scan_settings(ScanSettings::new(
        env.data_dir().join("scan-cache"),
        1024 * 1024 * 1024,
        2,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_scan_finds_a_token_in_a_subgroup_projects_history_and_never_logs_the_token() {
    install_log_capture();
    let env = TestEnv::builder().sim(seed()).build().await;
    let alice = connection(&env, "alice", ALICE).await;
    let services = scanning_env_services(&env);
    let scanning = &services.secret_scanning;

    // The leaked token is removed from the branch: only history still holds it.
    let work = tempfile::tempdir().unwrap();
    let url = format!("{}/acme/platform/deep/api.git", env.sim().url());
    git(work.path(), &["clone", "-q", &url, "repo"]);
    let repo = work.path().join("repo");
    git(&repo, &["rm", "-q", "config/deploy.env"]);
    git(&repo, &["commit", "-q", "-m", "remove the token"]);
    git(&repo, &["push", "-q", "origin", "HEAD"]);

    let source = scanning
        .create(&env.admin, group_source("acme-repos", &alice, None))
        .await
        .unwrap();
    assert!(
        source.config.group_id.as_deref().unwrap().parse::<u64>().is_ok(),
        "stored as the numeric id"
    );
    let resources = scanning
        .resources(&env.admin, &source.id)
        .await
        .unwrap()
        .resources;
    let mut paths: Vec<&str> = resources.iter().map(|r| r.name.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        vec!["acme/platform/deep/api", "acme/web"],
        "subgroups' projects included"
    );

    let scan = scanning.trigger_full_scan(&env.admin, &source.id).await.unwrap();
    assert_eq!(scan.status, ScanStatus::Queued);
    let again = scanning.trigger_full_scan(&env.admin, &source.id).await.unwrap();
    assert_eq!(again.id, scan.id, "a queued scan is answered, not doubled");

    let w = worker_with(&services, "w1");
    let outcome = w.run_once().await.unwrap().unwrap();
    assert!(
        matches!(outcome, labgate_worker::RunOutcome::Succeeded { .. }),
        "{outcome:?}"
    );

    let scans = scanning.scans(&env.admin, &source.id).await.unwrap().scans;
    let done = scans.iter().find(|s| s.id == scan.id).unwrap();
    assert_eq!(done.status, ScanStatus::Completed, "{:?}", done.status_message);
    assert_eq!((done.progress_done, done.progress_total), (2, Some(2)));
    assert_eq!(done.new_findings, 1);

    let findings = scanning
        .findings(&env.admin, &FindingQuery::default())
        .await
        .unwrap()
        .findings;
    assert_eq!(findings.len(), 1, "the decoy is not a finding: {findings:?}");
    let finding = &findings[0];
    assert_eq!(finding.file, "config/deploy.env");
    assert_eq!(finding.line, 1);
    assert_eq!(finding.author.as_deref(), Some("Administrator"));
    assert_eq!(finding.status, FindingStatus::Unresolved);
    assert_eq!(
        finding.verification,
        FindingVerification::Inactive,
        "GitLab does not know the leaked token"
    );
    assert!(finding.preview.starts_with("glpat-") && !finding.preview.contains("Zq3v"));
    assert!(
        finding.link.starts_with(&format!(
            "{}/acme/platform/deep/api/-/blob/{}/config/deploy.env#L1",
            env.sim().url(),
            finding.commit
        )),
        "{}",
        finding.link
    );
    let shown = serde_json::to_string(&findings).unwrap();
    assert!(!shown.contains(LEAKED), "the secret is never returned");

    // Scanning again finds the same value: one finding, no new one.
    scanning.trigger_full_scan(&env.admin, &source.id).await.unwrap();
    let outcome = w.run_once().await.unwrap().unwrap();
    assert!(
        matches!(outcome, labgate_worker::RunOutcome::Succeeded { .. }),
        "{outcome:?}"
    );
    let latest = &scanning.scans(&env.admin, &source.id).await.unwrap().scans[0];
    assert_eq!((latest.new_findings, latest.total_findings), (0, 1));
    assert_eq!(
        scanning
            .findings(&env.admin, &FindingQuery::default())
            .await
            .unwrap()
            .findings
            .len(),
        1
    );

    // Filters, triage and export.
    let api_project = resources
        .iter()
        .find(|r| r.name == "acme/platform/deep/api")
        .unwrap();
    let web_project = resources.iter().find(|r| r.name == "acme/web").unwrap();
    let by_project = |id: &str| FindingQuery {
        project_id: Some(id.to_owned()),
        ..FindingQuery::default()
    };
    assert_eq!(
        scanning
            .findings(&env.admin, &by_project(&api_project.external_id))
            .await
            .unwrap()
            .findings
            .len(),
        1
    );
    assert!(
        scanning
            .findings(&env.admin, &by_project(&web_project.external_id))
            .await
            .unwrap()
            .findings
            .is_empty()
    );
    let triaged = scanning
        .update_finding(
            &env.admin,
            &finding.id,
            UpdateFindingRequest {
                status: Some(FindingStatus::Resolved),
                remarks: Some("revoked at GitLab".to_owned()),
            },
        )
        .await
        .unwrap();
    assert_eq!(triaged.status, FindingStatus::Resolved);
    let unresolved = FindingQuery {
        status: Some(FindingStatus::Unresolved),
        ..FindingQuery::default()
    };
    assert!(
        scanning
            .findings(&env.admin, &unresolved)
            .await
            .unwrap()
            .findings
            .is_empty()
    );
    for format in [ExportFormat::Json, ExportFormat::Csv, ExportFormat::Sarif] {
        let export = scanning
            .export_findings(&env.admin, &FindingQuery::default(), format)
            .await
            .unwrap();
        assert!(!export.body.contains(LEAKED), "{format:?}");
        assert!(export.body.contains("config/deploy.env"), "{format:?}");
    }
    let sarif: serde_json::Value = serde_json::from_str(
        &scanning
            .export_findings(&env.admin, &FindingQuery::default(), ExportFormat::Sarif)
            .await
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(
        sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"],
        1
    );

    // The token went to git through the environment only.
    let cache = env.data_dir().join("scan-cache");
    for entry in std::fs::read_dir(&cache).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "git") {
            let config = std::fs::read_to_string(path.join("config")).unwrap();
            assert!(!config.contains(ALICE), "{config}");
            assert!(config.contains("/acme/"), "{config}");
            assert!(path.join("refs").is_dir());
        }
    }
    let logs = captured_logs();
    assert!(!logs.contains(ALICE), "the connection's token was logged");
    assert!(!logs.contains(LEAKED), "the leaked token was logged");

    // A connection in use is not deleted.
    let refused = env.services.connections.delete(&env.admin, &alice, false).await;
    assert!(
        matches!(refused, Err(CoreError::Conflict(ref m)) if m.contains("acme-repos")),
        "{refused:?}"
    );
    scanning.delete(&env.admin, &source.id).await.unwrap();
    assert!(
        scanning
            .findings(&env.admin, &FindingQuery::default())
            .await
            .unwrap()
            .findings
            .is_empty()
    );
    env.services
        .connections
        .delete(&env.admin, &alice, false)
        .await
        .unwrap();
}

#[tokio::test]
async fn data_sources_need_a_connection_that_can_read_every_repository() {
    // Auto-scan installs push hooks, which name labgate's address.
    let env = TestEnv::builder()
        .sim(seed())
        .site_url("https://labgate.example.com")
        .build()
        .await;
    let alice = connection(&env, "alice", ALICE).await;
    let rita = connection(&env, "rita", READER).await;
    let scanning = &env.services.secret_scanning;

    // Reporter is not enough.
    let refused = scanning
        .create(&env.admin, group_source("by-rita", &rita, None))
        .await;
    assert!(
        matches!(refused, Err(CoreError::Validation { field: Some("config.groupId"), ref message }) if message.contains("Developer")),
        "{refused:?}"
    );
    // An included project must exist in the group's hierarchy.
    let refused = scanning
        .create(
            &env.admin,
            group_source("some", &alice, Some(vec!["acme/nope".to_owned()])),
        )
        .await;
    assert!(
        matches!(
            refused,
            Err(CoreError::Validation {
                field: Some("config.includeProjects"),
                ..
            })
        ),
        "{refused:?}"
    );
    let some = scanning
        .create(
            &env.admin,
            group_source("some", &alice, Some(vec!["acme/platform/deep/api".to_owned()])),
        )
        .await
        .unwrap();
    assert_eq!(some.resource_count, 1);
    // Project scope stores the numeric id.
    let project = scanning
        .create(
            &env.admin,
            CreateDataSourceRequest {
                name: "web".to_owned(),
                description: Some("the website".to_owned()),
                connection_id: alice.clone(),
                config: GitLabDataSourceConfig {
                    scope: ScanScope::Project,
                    project_id: Some("acme/web".to_owned()),
                    group_id: None,
                    include_projects: None,
                },
                is_auto_scan_enabled: Some(true),
            },
        )
        .await
        .unwrap();
    assert!(
        project
            .config
            .project_id
            .as_deref()
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
    // Auto-scan queued a first full scan.
    let scans = scanning.scans(&env.admin, &project.id).await.unwrap().scans;
    assert_eq!(scans.len(), 1);
    assert_eq!(scans[0].status, ScanStatus::Queued);
    let duplicate = scanning
        .create(&env.admin, group_source("some", &alice, None))
        .await;
    assert!(
        matches!(duplicate, Err(CoreError::AlreadyExists(_))),
        "{duplicate:?}"
    );
    let listed = scanning.list(&env.admin).await.unwrap().data_sources;
    assert_eq!(listed.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaked_token_that_works_is_verified_and_its_connection_marked_compromised() {
    const BOB: &str = "glpat-Bq7vK2xPm9Lt4Rw8Yz3C";
    let seed = Seed::builder()
        .user("alice")
        .user("bob")
        .group("acme", "Acme")
        .project("acme/tools", "Tools")
        .file(
            "acme/tools",
            "ci/settings.sh",
            &format!("export GITLAB_TOKEN={BOB}\n"),
        )
        .member("acme", "alice", 40)
        .member("acme", "bob", 30)
        .personal_token("alice", "ci", &["api"], ALICE)
        .personal_token("bob", "bob", &["api"], BOB)
        .build();
    let env = TestEnv::builder().sim(seed).build().await;
    let alice = connection(&env, "alice", ALICE).await;
    let bob = connection(&env, "bob", BOB).await;
    let services = scanning_env_services(&env);
    let scanning = &services.secret_scanning;
    let source = scanning
        .create(&env.admin, group_source("acme", &alice, None))
        .await
        .unwrap();
    scanning.trigger_full_scan(&env.admin, &source.id).await.unwrap();
    let outcome = worker_with(&services, "w1").run_once().await.unwrap().unwrap();
    assert!(
        matches!(outcome, labgate_worker::RunOutcome::Succeeded { .. }),
        "{outcome:?}"
    );

    let findings = scanning
        .findings(&env.admin, &FindingQuery::default())
        .await
        .unwrap()
        .findings;
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].verification, FindingVerification::Active);

    let leaked = env.services.connections.get(&env.admin, &bob).await.unwrap();
    assert_eq!(
        leaked.status,
        labgate_proto::connections::ConnectionStatus::Compromised
    );
    assert!(
        leaked.status_reason.as_deref().unwrap().contains("acme/tools"),
        "{:?}",
        leaked.status_reason
    );
    let events = env
        .services
        .connections
        .events(&env.admin, &bob, 0, 50)
        .await
        .unwrap();
    assert!(
        events
            .events
            .iter()
            .any(|e| e.to_status == Some(labgate_proto::connections::ConnectionStatus::Compromised)),
        "{events:?}"
    );
    // The connection the scan ran through is untouched.
    let scanner = env.services.connections.get(&env.admin, &alice).await.unwrap();
    assert_ne!(
        scanner.status,
        labgate_proto::connections::ConnectionStatus::Compromised
    );
    // Checked against the connection's instance, never another host.
    assert!(
        env.sim()
            .state()
            .requests()
            .matching("GET", "personal_access_tokens/self")
            >= 1
    );
}
