//! Secret syncs end to end against gitlab-sim: validation on create, runs driven through the
//! worker (writes counted at the simulator), hidden variables, ownership, faults and resumption,
//! imports, removal and auto-sync on change.

use gitlab_sim::model::Variable;
use gitlab_sim::seed::SeedVariable;
use gitlab_sim::{FaultConfig, FaultRule, Seed, SimServer};
use labgate_core::CoreError;
use labgate_core::auth::Principal;
use labgate_core::jobs::{JobKind, JobState};
use labgate_core::secrets::{
    EnvironmentSlug, Folder, NewSecret, SecretChange, SecretKey, SecretPath, SecretProject,
};
use labgate_proto::connections::{AccessTokenCredentials, CreateConnectionRequest};
use labgate_proto::secret_syncs::{
    CreateSecretSyncRequest, GitLabDestinationConfig, ImportBehavior, InitialSyncBehavior, PlanAction,
    ResultOutcome, SecretSyncView, SyncOptions, SyncScope, SyncStatus, UpdateSecretSyncRequest,
};
use labgate_testkit::TestEnv;
use secrecy::{ExposeSecret, SecretString};

use crate::worker;

const ALICE: &str = "glpat-aliceALICEalice1234";
const BOB: &str = "glpat-bobBOBbobBOBbob1234";
const DEPLOY: &str = "glpat-deployDEPLOYdeploy12";
const API: &str = "acme/api";

fn seed() -> Seed {
    let mut seed = base_seed();
    // Hidden at GitLab: its value can never be read back.
    seed.variables.push(SeedVariable {
        source: API.to_owned(),
        key: "HIDDEN_AT_GITLAB".to_owned(),
        value: "hidden-by-hand-1".to_owned(),
        masked: true,
        hidden: true,
        ..SeedVariable::default()
    });
    seed
}

fn base_seed() -> Seed {
    Seed::builder()
        .user("alice")
        .user("bob")
        .group("acme", "Acme")
        .project(API, "API")
        .project("acme/other", "Other")
        .member("acme", "alice", 40)
        .member(API, "bob", 30)
        // Written by a person at GitLab, not by labgate.
        .variable(API, "HAND_MADE", "kept-by-hand")
        // Left by an earlier tool; matches the key schema `APP_{{secretKey}}`.
        .variable(API, "APP_OLD", "stale")
        .personal_token("alice", "ci", &["api"], ALICE)
        .personal_token("bob", "bob", &["api"], BOB)
        .project_token(API, "deploy", &["api"], 40, DEPLOY)
        .build()
}

struct Setup {
    env: TestEnv,
    project: SecretProject,
    alice: String,
}

impl Setup {
    fn sim(&self) -> &SimServer {
        self.env.sim()
    }

    fn admin(&self) -> &Principal {
        &self.env.admin
    }

    fn folder(&self) -> Folder {
        Folder {
            project: self.project.id.clone(),
            environment: EnvironmentSlug::parse("prod").unwrap(),
            path: SecretPath::root(),
        }
    }

    async fn put(&self, key: &str, value: &str) {
        let secrets = &self.env.services.secrets;
        let folder = self.folder();
        let exists = secrets
            .folder_values(self.admin(), &folder.project, &folder.environment, &folder.path)
            .await
            .unwrap()
            .iter()
            .any(|s| s.key == key);
        if exists {
            secrets
                .update(
                    self.admin(),
                    &folder,
                    SecretChange {
                        key: SecretKey::parse(key).unwrap(),
                        new_key: None,
                        value: Some(SecretString::from(value.to_owned())),
                        comment: None,
                        tags: None,
                    },
                )
                .await
                .unwrap();
        } else {
            secrets
                .create(
                    self.admin(),
                    &folder,
                    NewSecret {
                        key: SecretKey::parse(key).unwrap(),
                        value: SecretString::from(value.to_owned()),
                        comment: None,
                        tags: None,
                    },
                )
                .await
                .unwrap();
        }
    }

    async fn remove(&self, key: &str) {
        self.env
            .services
            .secrets
            .delete(self.admin(), &self.folder(), &SecretKey::parse(key).unwrap())
            .await
            .unwrap();
    }

    fn request(
        &self,
        name: &str,
        config: GitLabDestinationConfig,
        options: SyncOptions,
    ) -> CreateSecretSyncRequest {
        CreateSecretSyncRequest {
            name: name.to_owned(),
            description: None,
            connection_id: self.alice.clone(),
            project_id: self.project.id.to_string(),
            environment: "prod".to_owned(),
            secret_path: "/".to_owned(),
            is_auto_sync_enabled: Some(false),
            destination_config: config,
            sync_options: options,
        }
    }

    async fn create(&self, config: GitLabDestinationConfig, options: SyncOptions) -> SecretSyncView {
        self.env
            .services
            .secret_syncs
            .create(self.admin(), self.request("to-api", config, options))
            .await
            .unwrap()
    }

    /// Asks for a sync and lets the worker run every due job.
    async fn sync(&self, id: &str) -> SecretSyncView {
        self.env
            .services
            .secret_syncs
            .trigger_sync(self.admin(), id)
            .await
            .unwrap();
        self.drain().await;
        self.env
            .services
            .secret_syncs
            .get(self.admin(), id)
            .await
            .unwrap()
    }

    async fn drain(&self) {
        let w = worker(&self.env, "w");
        while w.run_once().await.unwrap().is_some() {}
    }

    fn writes(&self) -> u64 {
        self.sim().requests().writes("/variables")
    }

    fn variable(&self, key: &str) -> Variable {
        self.sim()
            .state()
            .variable(API, key, "*")
            .unwrap_or_else(|| panic!("{key} is at GitLab"))
    }
}

fn connection(url: &str, name: &str, token: &str, kind: &str) -> CreateConnectionRequest {
    CreateConnectionRequest {
        name: name.to_owned(),
        description: None,
        method: "access-token".to_owned(),
        credentials: Some(
            AccessTokenCredentials {
                access_token: token.to_owned(),
                instance_url: Some(url.to_owned()),
                access_token_type: kind.to_owned(),
            }
            .into(),
        ),
        project_id: None,
        is_platform_managed_credentials: None,
        gateway_id: None,
        usages: None,
        auto_rotate: Some(false),
        rotate_before_days: None,
    }
}

fn project_dest() -> GitLabDestinationConfig {
    GitLabDestinationConfig {
        scope: SyncScope::Project,
        project_id: Some(API.to_owned()),
        project_name: None,
        group_id: None,
        group_name: None,
        target_environment: None,
        should_protect_secrets: false,
        should_mask_secrets: false,
        should_hide_secrets: false,
        variable_type: None,
        expand_variables: false,
        description: None,
    }
}

fn options() -> SyncOptions {
    SyncOptions {
        initial_sync_behavior: InitialSyncBehavior::OverwriteDestination,
        key_schema: None,
        disable_secret_deletion: false,
        delete_unowned_matching_keys: false,
    }
}

async fn setup() -> Setup {
    let env = TestEnv::builder().sim(seed()).build().await;
    let url = env.sim().url().to_owned();
    let alice = env
        .services
        .connections
        .create(&env.admin, connection(&url, "alice", ALICE, "personal"))
        .await
        .unwrap();
    let project = env
        .services
        .secrets
        .create_project(&env.admin, "Payments", None, None)
        .await
        .unwrap();
    Setup {
        env,
        project,
        alice: alice.id,
    }
}

fn field_of(error: &CoreError) -> Option<&'static str> {
    match error {
        CoreError::Validation { field, .. } => *field,
        _ => None,
    }
}

#[tokio::test]
async fn creating_a_sync_checks_the_destination_and_the_options() {
    let s = setup().await;
    let url = s.sim().url().to_owned();
    let conns = &s.env.services.connections;
    let bob = conns
        .create(s.admin(), connection(&url, "bob", BOB, "personal"))
        .await
        .unwrap();
    let deploy = conns
        .create(s.admin(), connection(&url, "deploy", DEPLOY, "project"))
        .await
        .unwrap();
    let syncs = &s.env.services.secret_syncs;

    let mut missing = project_dest();
    missing.project_id = Some("acme/nowhere".to_owned());
    let error = syncs
        .create(s.admin(), s.request("a", missing, options()))
        .await
        .unwrap_err();
    assert_eq!(field_of(&error), Some("destinationConfig.projectId"), "{error}");
    assert!(error.to_string().contains("cannot reach"), "{error}");

    let mut as_bob = s.request("b", project_dest(), options());
    as_bob.connection_id = bob.id.clone();
    let error = syncs.create(s.admin(), as_bob).await.unwrap_err();
    assert!(
        error.to_string().contains("Developer") && error.to_string().contains("Maintainer"),
        "{error}"
    );

    let mut group = project_dest();
    group.scope = SyncScope::Group;
    group.group_id = Some("acme".to_owned());
    let mut on_project_token = s.request("c", group.clone(), options());
    on_project_token.connection_id = deploy.id.clone();
    let error = syncs.create(s.admin(), on_project_token).await.unwrap_err();
    assert_eq!(field_of(&error), Some("destinationConfig.scope"), "{error}");

    let mut bad_schema = options();
    bad_schema.key_schema = Some("APP_KEY".to_owned());
    let error = syncs
        .create(s.admin(), s.request("d", project_dest(), bad_schema))
        .await
        .unwrap_err();
    assert_eq!(field_of(&error), Some("syncOptions.keySchema"), "{error}");

    let mut unscoped_delete = options();
    unscoped_delete.delete_unowned_matching_keys = true;
    let error = syncs
        .create(s.admin(), s.request("e", project_dest(), unscoped_delete))
        .await
        .unwrap_err();
    assert_eq!(field_of(&error), Some("syncOptions.deleteUnownedMatchingKeys"));

    // The project token may write its own project, and alice the group.
    let mut own = s.request("f", project_dest(), options());
    own.connection_id = deploy.id;
    let created = syncs.create(s.admin(), own).await.unwrap();
    assert_eq!(created.destination_config.project_name.as_deref(), Some(API));
    syncs
        .create(s.admin(), s.request("g", group, options()))
        .await
        .unwrap();
    let error = syncs
        .create(s.admin(), s.request("g", project_dest(), options()))
        .await
        .unwrap_err();
    assert!(matches!(error, CoreError::AlreadyExists(_)), "{error}");
    assert_eq!(s.writes(), 0, "creating syncs writes nothing at GitLab");
}

#[tokio::test]
async fn a_first_sync_writes_raw_flagged_variables_and_a_second_writes_nothing() {
    let s = setup().await;
    for (key, value) in [
        ("DB_PASSWORD", "s3cret-$HOME-value"),
        ("API_TOKEN", "tok-1234567890"),
        ("PLAIN", "x"),
    ] {
        s.put(key, value).await;
    }
    let mut dest = project_dest();
    dest.should_protect_secrets = true;
    let sync = s.create(dest, options()).await;
    let done = s.sync(&sync.id).await;
    assert_eq!(
        done.sync_status,
        Some(SyncStatus::Succeeded),
        "{:?}",
        done.last_sync_message
    );
    assert!(done.last_synced_at.is_some() && done.last_sync_job_id.is_some());
    assert_eq!(s.writes(), 3);
    let db = s.variable("DB_PASSWORD");
    assert_eq!(
        (db.value.as_str(), db.raw, db.protected, db.masked, db.hidden),
        ("s3cret-$HOME-value", true, true, false, false),
        "values are raw so GitLab does not expand $HOME"
    );
    assert_eq!(s.variable("HAND_MADE").value, "kept-by-hand");

    s.sim().requests().reset();
    let again = s.sync(&sync.id).await;
    assert_eq!(again.sync_status, Some(SyncStatus::Succeeded));
    assert_eq!(s.writes(), 0, "a no-op sync makes zero writes");
    assert_eq!(
        s.sim().requests().matching("GET", "/variables"),
        1,
        "one listing page"
    );
    let results = s
        .env
        .services
        .secret_syncs
        .results(s.admin(), &sync.id)
        .await
        .unwrap();
    assert!(
        results
            .results
            .iter()
            .all(|r| r.action == PlanAction::Unchanged && r.outcome == ResultOutcome::Ok)
    );
}

#[tokio::test]
async fn one_change_is_one_put_one_deletion_one_delete_and_foreign_variables_stay() {
    let s = setup().await;
    s.put("A", "one").await;
    s.put("B", "two").await;
    s.put("C", "three").await;
    let sync = s.create(project_dest(), options()).await;
    s.sync(&sync.id).await;
    s.sim().requests().reset();
    s.put("B", "two-changed").await;
    s.sync(&sync.id).await;
    assert_eq!(s.sim().requests().matching("PUT", "/variables"), 1);
    assert_eq!(s.writes(), 1);
    assert_eq!(s.variable("B").value, "two-changed");

    s.sim().requests().reset();
    s.remove("C").await;
    let done = s.sync(&sync.id).await;
    assert_eq!(done.sync_status, Some(SyncStatus::Succeeded));
    assert_eq!(
        (s.sim().requests().matching("DELETE", "/variables"), s.writes()),
        (1, 1)
    );
    assert!(s.sim().state().variable(API, "C", "*").is_none());
    assert_eq!(
        s.variable("HAND_MADE").value,
        "kept-by-hand",
        "never written by labgate, never deleted"
    );
}

#[tokio::test]
async fn hidden_variables_are_compared_by_the_recorded_hmac() {
    let s = setup().await;
    s.put("HIDDEN_ONE", "hidden-value-0001").await;
    s.put("HIDDEN_TWO", "hidden-value-0002").await;
    let mut dest = project_dest();
    dest.should_hide_secrets = true;
    let sync = s.create(dest, options()).await;
    s.sync(&sync.id).await;
    let hidden = s.variable("HIDDEN_ONE");
    assert!(hidden.hidden && hidden.masked && hidden.raw);
    s.sim().requests().reset();
    s.sync(&sync.id).await;
    assert_eq!(s.writes(), 0, "hidden variables are not rewritten on a no-op run");
    s.put("HIDDEN_TWO", "hidden-value-0003").await;
    s.sync(&sync.id).await;
    assert_eq!(s.writes(), 1);
    assert_eq!(s.variable("HIDDEN_TWO").value, "hidden-value-0003");

    // Turning hiding off: GitLab cannot show a hidden variable again, so the sync recreates the
    // variables it owns.
    let mut visible = project_dest();
    visible.should_mask_secrets = true;
    s.env
        .services
        .secret_syncs
        .update(
            s.admin(),
            &sync.id,
            UpdateSecretSyncRequest {
                destination_config: Some(visible),
                ..UpdateSecretSyncRequest::default()
            },
        )
        .await
        .unwrap();
    s.sim().requests().reset();
    let done = s.sync(&sync.id).await;
    assert_eq!(
        done.sync_status,
        Some(SyncStatus::Succeeded),
        "{:?}",
        done.last_sync_message
    );
    assert_eq!(s.writes(), 4, "a delete and a create for each of the two");
    let one = s.variable("HIDDEN_ONE");
    assert!(!one.hidden && one.masked);
}

#[tokio::test]
async fn an_unmaskable_value_fails_only_its_key() {
    let s = setup().await;
    s.put("GOOD", "long-enough-value").await;
    s.put("SHORT", "abc").await;
    s.put("bad-key", "long-enough-value").await;
    let mut dest = project_dest();
    dest.should_mask_secrets = true;
    let sync = s.create(dest, options()).await;
    let done = s.sync(&sync.id).await;
    assert_eq!(
        done.sync_status,
        Some(SyncStatus::Partial),
        "{:?}",
        done.last_sync_message
    );
    assert_eq!(
        s.writes(),
        1,
        "GitLab is never asked to mask what it would refuse"
    );
    assert!(s.variable("GOOD").masked);
    let results = s
        .env
        .services
        .secret_syncs
        .results(s.admin(), &sync.id)
        .await
        .unwrap();
    let short = results.results.iter().find(|r| r.key == "SHORT").unwrap();
    assert_eq!(short.outcome, ResultOutcome::Skipped);
    assert!(short.reason.as_deref().unwrap().contains("8 characters"));
    let bad = results.results.iter().find(|r| r.key == "bad-key").unwrap();
    assert!(bad.reason.as_deref().unwrap().contains("letters, digits"));
    let plan = s
        .env
        .services
        .secret_syncs
        .plan(s.admin(), &sync.id)
        .await
        .unwrap();
    assert!(
        plan.plan
            .iter()
            .any(|e| e.key == "SHORT" && e.action == PlanAction::Skipped)
    );
}

#[tokio::test]
async fn a_key_schema_maps_keys_and_unowned_matching_keys_are_deleted_only_when_asked() {
    let s = setup().await;
    s.put("DB", "db-value").await;
    let mut opts = options();
    opts.key_schema = Some("APP_{{secretKey}}".to_owned());
    opts.delete_unowned_matching_keys = true;
    let sync = s.create(project_dest(), opts).await;
    let plan = s
        .env
        .services
        .secret_syncs
        .plan(s.admin(), &sync.id)
        .await
        .unwrap();
    assert_eq!(
        plan.plan
            .iter()
            .map(|e| (e.key.as_str(), e.action))
            .collect::<Vec<_>>(),
        [("APP_DB", PlanAction::Create), ("APP_OLD", PlanAction::Delete)]
    );
    assert_eq!(s.writes(), 0, "a plan writes nothing");
    s.sync(&sync.id).await;
    assert_eq!(s.variable("APP_DB").value, "db-value");
    assert!(s.sim().state().variable(API, "APP_OLD", "*").is_none());
    assert_eq!(
        s.variable("HAND_MADE").value,
        "kept-by-hand",
        "does not match the schema"
    );

    // Without the option, unowned matching keys stay.
    let mut keep = options();
    keep.key_schema = Some("APP_{{secretKey}}".to_owned());
    let plan_of = |opts: SyncOptions| s.request("keep", project_dest(), opts);
    let kept = s
        .env
        .services
        .secret_syncs
        .create(s.admin(), plan_of(keep))
        .await
        .unwrap();
    let plan = s
        .env
        .services
        .secret_syncs
        .plan(s.admin(), &kept.id)
        .await
        .unwrap();
    assert!(
        plan.plan.iter().all(|e| e.action != PlanAction::Delete),
        "{plan:?}"
    );
}

#[tokio::test]
async fn gitlab_failing_halfway_is_partial_and_the_next_run_completes_without_duplicates() {
    let s = setup().await;
    for n in 0..12 {
        s.put(&format!("KEY_{n:02}"), &format!("value-{n:02}")).await;
    }
    let sync = s.create(project_dest(), options()).await;
    s.sim().faults().set(FaultConfig {
        seed: 7,
        rules: vec![FaultRule {
            route: Some("/api/v4/projects/{id}/variables".to_owned()),
            method: Some("POST".to_owned()),
            error_500: 0.5,
            ..FaultRule::default()
        }],
    });
    s.env
        .services
        .secret_syncs
        .trigger_sync(s.admin(), &sync.id)
        .await
        .unwrap();
    let w = worker(&s.env, "w");
    w.run_once().await.unwrap();
    let view = s
        .env
        .services
        .secret_syncs
        .get(s.admin(), &sync.id)
        .await
        .unwrap();
    assert_eq!(
        view.sync_status,
        Some(SyncStatus::Partial),
        "{:?}",
        view.last_sync_message
    );
    let created_first = s.sim().state().variables(API).len() - 3;
    assert!((1..12).contains(&created_first), "{created_first}");
    // The job is queued again with backoff; GitLab recovers meanwhile.
    let job = s
        .env
        .services
        .jobs
        .find(&labgate_core::ids::JobId::parse(view.last_sync_job_id.as_deref().unwrap()).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.state, JobState::Queued);
    s.sim().faults().clear();
    s.env.clock.advance_ms(3_600_000);
    s.drain().await;
    let view = s
        .env
        .services
        .secret_syncs
        .get(s.admin(), &sync.id)
        .await
        .unwrap();
    assert_eq!(
        view.sync_status,
        Some(SyncStatus::Succeeded),
        "{:?}",
        view.last_sync_message
    );
    let vars = s.sim().state().variables(API);
    assert_eq!(
        vars.len(),
        15,
        "every key once, plus the three hand-made variables"
    );
    let created: u64 = s
        .sim()
        .requests()
        .snapshot()
        .iter()
        .filter(|c| c.method == "POST" && c.route.ends_with("/variables") && c.status == 201)
        .map(|c| c.count)
        .sum();
    assert_eq!(created, 12, "each variable created exactly once");
}

#[tokio::test]
async fn imports_take_either_side_and_name_hidden_variables() {
    let s = setup().await;
    s.put("HAND_MADE", "from-labgate").await;
    let sync = s.create(project_dest(), options()).await;
    let syncs = &s.env.services.secret_syncs;
    syncs
        .trigger_import(s.admin(), &sync.id, ImportBehavior::PrioritizeSource)
        .await
        .unwrap();
    s.drain().await;
    let folder = s.folder();
    let values = |s: &Setup| {
        let folder = folder.clone();
        let secrets = s.env.services.secrets.clone();
        let admin = s.admin().clone();
        async move {
            secrets
                .folder_values(&admin, &folder.project, &folder.environment, &folder.path)
                .await
                .unwrap()
                .into_iter()
                .map(|v| (v.key, v.value.expose_secret().to_owned()))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        values(&s).await,
        [
            ("APP_OLD".to_owned(), "stale".to_owned()),
            ("HAND_MADE".to_owned(), "from-labgate".to_owned())
        ]
    );
    let view = syncs.get(s.admin(), &sync.id).await.unwrap();
    assert_eq!(view.import_status, Some(SyncStatus::Succeeded));
    let message = view.last_import_message.unwrap_or_default();
    assert!(
        message.contains("hidden") && message.contains("HIDDEN_AT_GITLAB"),
        "{message}"
    );
    syncs
        .trigger_import(s.admin(), &sync.id, ImportBehavior::PrioritizeDestination)
        .await
        .unwrap();
    s.drain().await;
    assert_eq!(
        values(&s).await,
        [
            ("APP_OLD".to_owned(), "stale".to_owned()),
            ("HAND_MADE".to_owned(), "kept-by-hand".to_owned())
        ]
    );
    assert_eq!(s.writes(), 0, "an import writes nothing at GitLab");
}

#[tokio::test]
async fn removing_deletes_only_what_the_sync_wrote() {
    let s = setup().await;
    s.put("MINE", "mine-value").await;
    let sync = s.create(project_dest(), options()).await;
    s.sync(&sync.id).await;
    let syncs = &s.env.services.secret_syncs;
    syncs.trigger_remove(s.admin(), &sync.id).await.unwrap();
    s.drain().await;
    let view = syncs.get(s.admin(), &sync.id).await.unwrap();
    assert_eq!(
        view.remove_status,
        Some(SyncStatus::Succeeded),
        "{:?}",
        view.last_remove_message
    );
    assert!(s.sim().state().variable(API, "MINE", "*").is_none());
    assert_eq!(s.variable("HAND_MADE").value, "kept-by-hand");

    s.sync(&sync.id).await;
    assert!(s.sim().state().variable(API, "MINE", "*").is_some());
    syncs.delete(s.admin(), &sync.id, true).await.unwrap();
    assert!(s.sim().state().variable(API, "MINE", "*").is_none());
    assert_eq!(s.sim().state().variables(API).len(), 3);
    assert!(matches!(
        syncs.get(s.admin(), &sync.id).await,
        Err(CoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_secret_change_queues_one_debounced_auto_sync() {
    let s = setup().await;
    s.put("A", "one").await;
    let mut request = s.request("auto", project_dest(), options());
    request.is_auto_sync_enabled = Some(true);
    let sync = s
        .env
        .services
        .secret_syncs
        .create(s.admin(), request)
        .await
        .unwrap();
    // The first sync waits out the debounce, like every auto-sync.
    s.drain().await;
    assert_eq!(s.writes(), 0);
    s.env.clock.advance_ms(3_000);
    s.drain().await;
    assert_eq!(s.writes(), 1);

    s.put("A", "two").await;
    s.put("B", "three").await;
    let queued: Vec<_> = s
        .env
        .services
        .jobs
        .of_kind(JobKind::SecretSyncRun, 10)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.state == JobState::Queued)
        .collect();
    assert_eq!(queued.len(), 1, "two changes, one queued run");
    assert_eq!(
        queued[0].dedupe_key.as_deref(),
        Some(format!("secret-sync:{}", sync.id).as_str())
    );
    s.drain().await;
    assert_eq!(s.writes(), 1, "nothing before the debounce");
    s.env.clock.advance_ms(3_000);
    s.drain().await;
    assert_eq!(s.writes(), 3, "one update and one create");
    assert_eq!(s.variable("A").value, "two");
}

#[tokio::test]
async fn secret_values_never_reach_the_logs() {
    labgate_testkit::install_log_capture();
    let s = setup().await;
    s.put("LOGGED", "never-in-logs-7c1e").await;
    s.put("SHORTY", "nl-9d2f").await;
    let mut dest = project_dest();
    dest.should_mask_secrets = true;
    let sync = s.create(dest, options()).await;
    s.sync(&sync.id).await;
    s.put("LOGGED", "never-in-logs-8e3a").await;
    s.sync(&sync.id).await;
    let logs = labgate_testkit::captured_logs();
    assert!(logs.contains("secret sync finished"), "the run is logged");
    for value in ["never-in-logs-7c1e", "never-in-logs-8e3a", "nl-9d2f"] {
        assert!(!logs.contains(value), "{value} leaked into the logs");
    }
}

#[tokio::test]
async fn transient_gitlab_answers_fail_the_attempt_and_the_queue_finishes_the_work() {
    let s = setup().await;
    s.put("A", "one").await;
    s.put("B", "two").await;
    let sync = s.create(project_dest(), options()).await;
    s.sync(&sync.id).await;
    s.put("A", "one-changed").await;
    s.remove("B").await;
    s.sim().faults().set(FaultConfig {
        seed: 1,
        rules: vec![
            FaultRule {
                route: Some("/api/v4/projects/{id}/variables/{key}".to_owned()),
                method: Some("PUT".to_owned()),
                error_503: 1.0,
                times: Some(1),
                ..FaultRule::default()
            },
            FaultRule {
                route: Some("/api/v4/projects/{id}/variables".to_owned()),
                method: Some("GET".to_owned()),
                storm_429: 1.0,
                retry_after: Some(1),
                times: Some(1),
                ..FaultRule::default()
            },
        ],
    });
    s.sim().requests().reset();
    // The 429's Retry-After is longer than the client waits: the attempt fails, and the queue
    // tries again later (these tests' client makes one attempt per call).
    let first = s.sync(&sync.id).await;
    assert_eq!(first.sync_status, Some(SyncStatus::Failed));
    assert!(
        first
            .last_sync_message
            .as_deref()
            .unwrap_or_default()
            .contains("rate limit"),
        "{first:?}"
    );
    s.env.clock.advance_ms(3_600_000);
    s.drain().await;
    // The 503 on the update leaves that key for the next attempt; the delete went through.
    let second = s
        .env
        .services
        .secret_syncs
        .get(s.admin(), &sync.id)
        .await
        .unwrap();
    assert_eq!(
        second.sync_status,
        Some(SyncStatus::Partial),
        "{:?}",
        second.last_sync_message
    );
    s.env.clock.advance_ms(3_600_000);
    s.drain().await;
    let done = s
        .env
        .services
        .secret_syncs
        .get(s.admin(), &sync.id)
        .await
        .unwrap();
    assert_eq!(
        done.sync_status,
        Some(SyncStatus::Succeeded),
        "{:?}",
        done.last_sync_message
    );
    assert_eq!(s.variable("A").value, "one-changed");
    assert!(s.sim().state().variable(API, "B", "*").is_none());
    let counts = s.sim().requests().snapshot();
    let of = |method: &str, status: u16| -> u64 {
        counts
            .iter()
            .filter(|c| c.method == method && c.route.contains("/variables") && c.status == status)
            .map(|c| c.count)
            .sum()
    };
    assert_eq!((of("PUT", 503), of("PUT", 200)), (1, 1), "{counts:?}");
    assert_eq!((of("GET", 429), of("GET", 200)), (1, 2), "{counts:?}");
    assert_eq!(of("DELETE", 204), 1);
}

#[tokio::test]
async fn a_group_sync_writes_scoped_group_variables_and_reports_progress_and_audit() {
    let s = setup().await;
    s.put("A", "one").await;
    s.put("B", "two").await;
    let mut dest = project_dest();
    dest.scope = SyncScope::Group;
    dest.project_id = None;
    dest.group_id = Some("acme".to_owned());
    dest.target_environment = Some("production".to_owned());
    let sync = s.create(dest, options()).await;
    let done = s.sync(&sync.id).await;
    assert_eq!(
        done.sync_status,
        Some(SyncStatus::Succeeded),
        "{:?}",
        done.last_sync_message
    );
    let a = s.sim().state().variable("acme", "A", "production").unwrap();
    assert_eq!((a.value.as_str(), a.raw), ("one", true));

    // The job's progress counts every key.
    let job_id = labgate_core::ids::JobId::parse(done.last_sync_job_id.as_deref().unwrap()).unwrap();
    let job = s.env.services.jobs.find(&job_id).await.unwrap().unwrap();
    assert_eq!(
        (job.state, job.progress.done, job.progress.total),
        (JobState::Succeeded, 2, Some(2))
    );

    // A variable of the same key in another scope is someone else's: updates and deletes name
    // their scope.
    s.sim().state().write(|db| {
        let group = db.source_by_path("acme").unwrap();
        db.variables.entry(group).or_default().push(Variable {
            key: "A".to_owned(),
            value: "staging-value".to_owned(),
            variable_type: "env_var".to_owned(),
            protected: false,
            masked: false,
            hidden: false,
            raw: false,
            environment_scope: "staging".to_owned(),
            description: None,
        });
    });
    s.put("A", "one-changed").await;
    s.remove("B").await;
    s.sim().requests().reset();
    let done = s.sync(&sync.id).await;
    assert_eq!(
        done.sync_status,
        Some(SyncStatus::Succeeded),
        "{:?}",
        done.last_sync_message
    );
    assert_eq!(s.writes(), 2);
    assert_eq!(
        s.sim().state().variable("acme", "A", "production").unwrap().value,
        "one-changed"
    );
    assert_eq!(
        s.sim().state().variable("acme", "A", "staging").unwrap().value,
        "staging-value"
    );
    assert!(s.sim().state().variable("acme", "B", "production").is_none());

    let actions: Vec<String> = s
        .env
        .services
        .audit
        .list(s.admin(), &labgate_proto::audit::AuditLogQuery::default(), 50)
        .await
        .unwrap()
        .audit_logs
        .into_iter()
        .filter(|e| e.resource_id.as_deref() == Some(sync.id.as_str()))
        .map(|e| e.action.as_str().to_owned())
        .collect();
    assert!(actions.contains(&"secret-sync.create".to_owned()), "{actions:?}");
    assert_eq!(
        actions.iter().filter(|a| *a == "secret-sync.run").count(),
        2,
        "{actions:?}"
    );
}
