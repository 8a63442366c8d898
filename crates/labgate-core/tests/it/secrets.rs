use std::sync::Arc;

use labgate_core::CoreError;
use labgate_core::auth::Principal;
use labgate_core::ids::SecretProjectId;
use labgate_core::secrets::{
    EnvironmentChange, EnvironmentSlug, Folder, FolderChange, ImportedSecret, NewEnvironment, NewSecret,
    SecretChange, SecretKey, SecretPath, SecretProject, parse_tags,
};
use labgate_proto::api_keys::Role;
use labgate_proto::audit::AuditLogQuery;
use parking_lot::Mutex;
use secrecy::{ExposeSecret, SecretString};

use crate::env;

fn key(text: &str) -> SecretKey {
    SecretKey::parse(text).unwrap()
}

fn value(text: &str) -> SecretString {
    SecretString::from(text)
}

fn new(name: &str, val: &str) -> NewSecret {
    NewSecret {
        key: key(name),
        value: value(val),
        comment: None,
        tags: None,
    }
}

fn change(name: &str) -> SecretChange {
    SecretChange {
        key: key(name),
        new_key: None,
        value: None,
        comment: None,
        tags: None,
    }
}

fn folder(project: &SecretProject, environment: &str, path: &str) -> Folder {
    Folder {
        project: project.id.clone(),
        environment: EnvironmentSlug::parse(environment).unwrap(),
        path: SecretPath::parse(path).unwrap(),
    }
}

async fn project(env: &labgate_testkit::TestEnv, principal: &Principal) -> SecretProject {
    env.services
        .secrets
        .create_project(principal, "Payments API", None, None)
        .await
        .unwrap()
}

/// Records every change the hooks are told of.
fn record_changes(env: &labgate_testkit::TestEnv) -> Arc<Mutex<Vec<FolderChange>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    env.services.secrets.on_change(move |change| {
        let sink = sink.clone();
        Box::pin(async move { sink.lock().push(change) })
    });
    seen
}

#[tokio::test]
async fn a_project_gets_default_environments_and_secrets_round_trip_with_versions() {
    let env = env().await;
    let secrets = &env.services.secrets;
    let created = project(&env, &env.admin).await;
    assert_eq!(created.slug, "payments-api");
    let slugs: Vec<&str> = created.environments.iter().map(|e| e.slug.as_str()).collect();
    assert_eq!(slugs, ["dev", "staging", "prod"]);
    assert_eq!(secrets.project(&env.admin, &created.id).await.unwrap(), created);

    let dev = folder(&created, "dev", "/");
    let secret = secrets
        .create(&env.admin, &dev, new("DB_PASSWORD", "hunter2"))
        .await
        .unwrap();
    assert_eq!(secret.version, 1);
    let got = secrets
        .get(&env.admin, &dev, &key("DB_PASSWORD"), None)
        .await
        .unwrap();
    assert_eq!(got.value.expose_secret(), "hunter2");

    // Same value and comment: no new version. A different value: version 2.
    let same = SecretChange {
        value: Some(value("hunter2")),
        ..change("DB_PASSWORD")
    };
    assert_eq!(secrets.update(&env.admin, &dev, same).await.unwrap().version, 1);
    let changed = SecretChange {
        value: Some(value("correct horse")),
        comment: Some("rotated".into()),
        ..change("DB_PASSWORD")
    };
    let updated = secrets.update(&env.admin, &dev, changed).await.unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.comment, "rotated");

    let old = secrets
        .get(&env.admin, &dev, &key("DB_PASSWORD"), Some(1))
        .await
        .unwrap();
    assert_eq!(old.value.expose_secret(), "hunter2");
    assert_eq!(old.version, 1);

    let history = secrets
        .history(&env.admin, &dev, &key("DB_PASSWORD"), true)
        .await
        .unwrap();
    let versions: Vec<u32> = history.iter().map(|v| v.version).collect();
    assert_eq!(versions, [2, 1]);
    assert_eq!(history[1].value.as_ref().unwrap().expose_secret(), "hunter2");
    let without = secrets
        .history(&env.admin, &dev, &key("DB_PASSWORD"), false)
        .await
        .unwrap();
    assert!(without.iter().all(|v| v.value.is_none()));

    let rolled = secrets
        .rollback(&env.admin, &dev, &key("DB_PASSWORD"), 1)
        .await
        .unwrap();
    assert_eq!(rolled.version, 3);
    assert_eq!(rolled.value.expose_secret(), "hunter2");
    assert_eq!(rolled.comment, "");
    let current = secrets
        .get(&env.admin, &dev, &key("DB_PASSWORD"), None)
        .await
        .unwrap();
    assert_eq!((current.version, current.value.expose_secret()), (3, "hunter2"));
    assert!(matches!(
        secrets.rollback(&env.admin, &dev, &key("DB_PASSWORD"), 9).await,
        Err(CoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn folder_values_and_imports_follow_the_contract() {
    let env = env().await;
    let secrets = &env.services.secrets;
    let created = project(&env, &env.admin).await;
    let system = Principal::system(env.tenant.id.clone());
    let prod = EnvironmentSlug::parse("prod").unwrap();
    let path = SecretPath::parse("/ci/").unwrap();
    let imported = |key: &str, val: &str, comment: Option<&str>| ImportedSecret {
        key: key.into(),
        value: value(val),
        comment: comment.map(str::to_owned),
    };
    let summary = secrets
        .import_values(
            &system,
            &created.id,
            &prod,
            &path,
            vec![imported("B", "2", None), imported("A", "1", Some("first"))],
            true,
        )
        .await
        .unwrap();
    assert_eq!(summary.created, ["B", "A"]);
    let values = secrets
        .folder_values(&system, &created.id, &prod, &path)
        .await
        .unwrap();
    let pairs: Vec<(&str, &str, u32)> = values
        .iter()
        .map(|s| (s.key.as_str(), s.value.expose_secret(), s.version))
        .collect();
    assert_eq!(pairs, [("A", "1", 1), ("B", "2", 1)]);
    assert_eq!(values[0].comment, "first");

    // Not overwriting leaves a differing value; overwriting makes one version per change only.
    let again = vec![
        imported("A", "1", None),
        imported("B", "3", None),
        imported("C", "4", None),
    ];
    let kept = secrets
        .import_values(&system, &created.id, &prod, &path, again.clone(), false)
        .await
        .unwrap();
    assert_eq!(
        (kept.created, kept.updated, kept.unchanged),
        (vec!["C".to_owned()], vec![], vec!["A".to_owned(), "B".to_owned()])
    );
    let overwritten = secrets
        .import_values(&system, &created.id, &prod, &path, again, true)
        .await
        .unwrap();
    assert_eq!(overwritten.updated, ["B"]);
    assert_eq!(overwritten.unchanged, ["A", "C"]);
    let values = secrets
        .folder_values(&system, &created.id, &prod, &path)
        .await
        .unwrap();
    let versions: Vec<(&str, u32)> = values.iter().map(|s| (s.key.as_str(), s.version)).collect();
    assert_eq!(versions, [("A", 1), ("B", 2), ("C", 1)]);
    assert_eq!(
        values[0].comment, "first",
        "an import without a comment keeps the secret's"
    );
    // The root folder is another folder.
    let root = secrets
        .folder_values(&system, &created.id, &prod, &SecretPath::root())
        .await
        .unwrap();
    assert!(root.is_empty());
}

#[tokio::test]
async fn another_tenants_project_is_not_found_and_roles_are_enforced() {
    let env = env().await;
    let secrets = &env.services.secrets;
    let created = project(&env, &env.admin).await;
    let dev = folder(&created, "dev", "/");
    secrets
        .create(&env.admin, &dev, new("TOKEN", "t0k3n"))
        .await
        .unwrap();

    for result in [
        secrets.project(&env.other_admin, &created.id).await.map(|_| ()),
        secrets.list(&env.other_admin, &dev, false, &[]).await.map(|_| ()),
        secrets
            .delete_project(&env.other_admin, &created.id)
            .await
            .map(|_| ()),
        secrets
            .folder_values(
                &Principal::system(env.other_tenant.id.clone()),
                &created.id,
                &dev.environment,
                &dev.path,
            )
            .await
            .map(|_| ()),
    ] {
        assert!(
            matches!(result, Err(CoreError::NotFound("project"))),
            "{result:?}"
        );
    }
    assert!(matches!(
        secrets.project(&env.admin, &SecretProjectId::generate()).await,
        Err(CoreError::NotFound(_))
    ));

    let reader = env.principal(&env.key("acme", Role::Reader).await).await;
    let listed = secrets.list(&reader, &dev, false, &[]).await.unwrap();
    assert_eq!(listed[0].value.expose_secret(), "t0k3n");
    assert!(matches!(
        secrets.create(&reader, &dev, new("OTHER", "x")).await,
        Err(CoreError::Forbidden(_))
    ));
    let broker = env
        .principal(&env.key("acme", Role::CredentialReader).await)
        .await;
    assert!(matches!(
        secrets.list(&broker, &dev, false, &[]).await,
        Err(CoreError::Forbidden(_))
    ));
    let member = env.principal(&env.key("acme", Role::Member).await).await;
    secrets.create(&member, &dev, new("OTHER", "x")).await.unwrap();
}

#[tokio::test]
async fn bad_input_is_refused_with_what_was_wrong() {
    let env = env().await;
    let secrets = &env.services.secrets;
    let created = project(&env, &env.admin).await;
    let dev = folder(&created, "dev", "/");
    secrets.create(&env.admin, &dev, new("A", "1")).await.unwrap();

    assert!(matches!(
        secrets.create(&env.admin, &dev, new("A", "2")).await,
        Err(CoreError::AlreadyExists(_))
    ));
    let unknown_env = folder(&created, "qa", "/");
    assert!(matches!(
        secrets.list(&env.admin, &unknown_env, false, &[]).await,
        Err(CoreError::NotFound("environment"))
    ));
    assert!(matches!(
        secrets.get(&env.admin, &dev, &key("MISSING"), None).await,
        Err(CoreError::NotFound("secret"))
    ));
    assert!(matches!(
        secrets
            .create_project(&env.admin, "Payments API", None, None)
            .await,
        Err(CoreError::AlreadyExists(_))
    ));
    let bad_envs = vec![
        NewEnvironment {
            name: "One".into(),
            slug: "one".into(),
        },
        NewEnvironment {
            name: "Two".into(),
            slug: "one".into(),
        },
    ];
    assert!(matches!(
        secrets
            .create_project(&env.admin, "X", None, Some(bad_envs))
            .await,
        Err(CoreError::Validation { .. })
    ));

    // A batch with one existing key writes nothing.
    let batch = vec![new("B", "2"), new("A", "3")];
    assert!(matches!(
        secrets.create_many(&env.admin, &dev, batch).await,
        Err(CoreError::AlreadyExists(_))
    ));
    let keys: Vec<String> = secrets
        .list(&env.admin, &dev, false, &[])
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.key.to_string())
        .collect();
    assert_eq!(keys, ["A"]);
    assert!(matches!(
        secrets
            .create_many(&env.admin, &dev, vec![new("E", "1"), new("E", "2")])
            .await,
        Err(CoreError::Validation {
            field: Some("secrets"),
            ..
        })
    ));
    // An unknown key in an update batch writes nothing either.
    let changes = vec![
        SecretChange {
            value: Some(value("9")),
            ..change("A")
        },
        SecretChange {
            value: Some(value("9")),
            ..change("NOPE")
        },
    ];
    assert!(secrets.update_many(&env.admin, &dev, changes).await.is_err());
    let a = secrets.get(&env.admin, &dev, &key("A"), None).await.unwrap();
    assert_eq!((a.version, a.value.expose_secret()), (1, "1"));

    let error = secrets
        .import_dotenv(&env.admin, &dev, "C=1\nthis line is wrong\n", true)
        .await
        .unwrap_err();
    assert!(error.to_string().starts_with("line 2:"), "{error}");
    assert!(secrets.get(&env.admin, &dev, &key("C"), None).await.is_err());
    assert!(matches!(
        secrets
            .import_values(
                &env.admin,
                &created.id,
                &dev.environment,
                &dev.path,
                vec![ImportedSecret {
                    key: "BAD KEY".into(),
                    value: value("x"),
                    comment: None
                }],
                true,
            )
            .await,
        Err(CoreError::Validation { .. })
    ));
}

#[tokio::test]
async fn paths_nest_renames_keep_history_and_tags_filter() {
    let env = env().await;
    let secrets = &env.services.secrets;
    let created = project(&env, &env.admin).await;
    let root = folder(&created, "dev", "/");
    let deep = folder(&created, "dev", "/a_b/c");
    let sibling = folder(&created, "dev", "/aXb");
    secrets.create(&env.admin, &root, new("ROOT", "r")).await.unwrap();
    let tagged = NewSecret {
        tags: Some(parse_tags(&["db"]).unwrap()),
        ..new("DEEP", "d")
    };
    secrets.create(&env.admin, &deep, tagged).await.unwrap();
    secrets
        .create(&env.admin, &sibling, new("SIBLING", "s"))
        .await
        .unwrap();

    let under = |path: &str| folder(&created, "dev", path);
    let keys = |list: Vec<labgate_core::secrets::Secret>| -> Vec<String> {
        list.into_iter()
            .map(|s| format!("{}:{}", s.path, s.key))
            .collect()
    };
    assert_eq!(
        keys(secrets.list(&env.admin, &root, true, &[]).await.unwrap()),
        ["/:ROOT", "/aXb:SIBLING", "/a_b/c:DEEP"]
    );
    // `_` is no wildcard: /a_b does not take in /aXb.
    assert_eq!(
        keys(secrets.list(&env.admin, &under("/a_b"), true, &[]).await.unwrap()),
        ["/a_b/c:DEEP"]
    );
    assert!(
        secrets
            .list(&env.admin, &under("/a_b"), false, &[])
            .await
            .unwrap()
            .is_empty()
    );
    let db = parse_tags(&["db"]).unwrap();
    assert_eq!(
        keys(secrets.list(&env.admin, &root, true, &db).await.unwrap()),
        ["/a_b/c:DEEP"]
    );

    let renamed = SecretChange {
        new_key: Some(key("DEEPER")),
        ..change("DEEP")
    };
    let secret = secrets.update(&env.admin, &deep, renamed).await.unwrap();
    assert_eq!((secret.key.as_str(), secret.version), ("DEEPER", 2));
    assert_eq!(secret.tags, db, "tags stay unless given");
    let history = secrets
        .history(&env.admin, &deep, &key("DEEPER"), false)
        .await
        .unwrap();
    let names: Vec<&str> = history.iter().map(|v| v.key.as_str()).collect();
    assert_eq!(names, ["DEEPER", "DEEP"]);
    let onto = SecretChange {
        new_key: Some(key("ROOT")),
        ..change("ROOT")
    };
    assert_eq!(secrets.update(&env.admin, &root, onto).await.unwrap().version, 1);
    secrets.create(&env.admin, &deep, new("X", "x")).await.unwrap();
    let clash = SecretChange {
        new_key: Some(key("X")),
        ..change("DEEPER")
    };
    assert!(matches!(
        secrets.update(&env.admin, &deep, clash).await,
        Err(CoreError::AlreadyExists(_))
    ));
}

#[tokio::test]
async fn every_committed_write_tells_the_hooks_once() {
    let env = env().await;
    let secrets = &env.services.secrets;
    let seen = record_changes(&env);
    let created = project(&env, &env.admin).await;
    assert!(seen.lock().is_empty(), "creating a project changes no folder");
    let dev = folder(&created, "dev", "/app");
    let expected = FolderChange {
        tenant: env.tenant.id.clone(),
        project: created.id.clone(),
        environment: dev.environment.clone(),
        path: dev.path.clone(),
    };
    let take = || std::mem::take(&mut *seen.lock());
    let once = vec![expected.clone()];

    secrets.create(&env.admin, &dev, new("A", "1")).await.unwrap();
    assert_eq!(take(), once, "create");
    let update = SecretChange {
        value: Some(value("2")),
        ..change("A")
    };
    secrets.update(&env.admin, &dev, update.clone()).await.unwrap();
    assert_eq!(take(), once, "update");
    secrets.update(&env.admin, &dev, update).await.unwrap();
    assert_eq!(take(), [], "an update that changes nothing commits nothing");
    secrets.rollback(&env.admin, &dev, &key("A"), 1).await.unwrap();
    assert_eq!(take(), once, "rollback");
    secrets
        .create_many(&env.admin, &dev, vec![new("B", "1"), new("C", "1")])
        .await
        .unwrap();
    assert_eq!(take(), once, "batch create");
    assert!(
        secrets
            .create_many(&env.admin, &dev, vec![new("D", "1"), new("B", "1")])
            .await
            .is_err()
    );
    assert_eq!(take(), [], "a failed batch");
    let both = vec![
        SecretChange {
            value: Some(value("x")),
            ..change("B")
        },
        SecretChange {
            value: Some(value("x")),
            ..change("C")
        },
    ];
    secrets.update_many(&env.admin, &dev, both).await.unwrap();
    assert_eq!(take(), once, "batch update");
    secrets
        .import_dotenv(&env.admin, &dev, "E=1\n", true)
        .await
        .unwrap();
    assert_eq!(take(), once, "import");
    secrets
        .import_dotenv(&env.admin, &dev, "E=1\n", true)
        .await
        .unwrap();
    assert_eq!(take(), [], "an import that changes nothing");
    secrets.delete(&env.admin, &dev, &key("E")).await.unwrap();
    assert_eq!(take(), once, "delete");
    secrets
        .delete_many(&env.admin, &dev, vec![key("B"), key("C")])
        .await
        .unwrap();
    assert_eq!(take(), once, "batch delete");

    let staging = created
        .environment(&EnvironmentSlug::parse("staging").unwrap())
        .unwrap();
    secrets
        .update_environment(&env.admin, &created.id, &staging.id, EnvironmentChange::default())
        .await
        .unwrap();
    secrets
        .delete_environment(&env.admin, &created.id, &staging.id)
        .await
        .unwrap();
    assert_eq!(
        take(),
        [FolderChange {
            environment: staging.slug.clone(),
            path: SecretPath::root(),
            ..expected.clone()
        }],
        "environment delete"
    );
    secrets.delete_project(&env.admin, &created.id).await.unwrap();
    let changes = take();
    assert!(changes.contains(&expected), "project delete: {changes:?}");
    assert_eq!(changes.len(), 3, "dev's / and /app, prod's /: {changes:?}");
}

#[tokio::test]
async fn reads_are_audited_folded_and_writes_without_values() {
    let env = env().await;
    let secrets = &env.services.secrets;
    let created = project(&env, &env.admin).await;
    let dev = folder(&created, "dev", "/");
    let secret = secrets
        .create(&env.admin, &dev, new("API_TOKEN", "s3cr3t-value"))
        .await
        .unwrap();
    for _ in 0..3 {
        secrets
            .get(&env.admin, &dev, &key("API_TOKEN"), None)
            .await
            .unwrap();
    }
    secrets.list(&env.admin, &dev, false, &[]).await.unwrap();
    let log = env
        .services
        .audit
        .list(&env.admin, &AuditLogQuery::default(), 100)
        .await
        .unwrap();
    let reads: Vec<_> = log
        .audit_logs
        .iter()
        .filter(|entry| entry.action.as_str() == "secret.read")
        .collect();
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0].occurrences, 4);
    assert_eq!(reads[0].resource_id.as_deref(), Some(secret.id.as_str()));
    assert!(
        log.audit_logs
            .iter()
            .any(|entry| entry.action.as_str() == "secret.create")
    );
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains("s3cr3t-value"));
    assert!(!format!("{secret:?}").contains("s3cr3t-value"));
}

#[tokio::test]
async fn a_data_key_rotation_reencrypts_every_version_and_deletes_leave_no_sealed_value() {
    let env = env().await;
    let secrets = &env.services.secrets;
    let created = project(&env, &env.admin).await;
    let dev = folder(&created, "dev", "/");
    secrets.create(&env.admin, &dev, new("A", "first")).await.unwrap();
    let second = SecretChange {
        value: Some(value("second")),
        ..change("A")
    };
    secrets.update(&env.admin, &dev, second).await.unwrap();

    let rotation = env
        .services
        .vault
        .rotate_tenant_data_key(&env.tenant.id, env.clock.as_ref())
        .await
        .unwrap();
    assert_eq!(rotation.reencrypted, 2, "both versions' values");
    let history = secrets.history(&env.admin, &dev, &key("A"), true).await.unwrap();
    let values: Vec<&str> = history
        .iter()
        .map(|v| v.value.as_ref().unwrap().expose_secret())
        .collect();
    assert_eq!(values, ["second", "first"]);

    let sealed = || async {
        env.store
            .vault_items_not_under(env.tenant.id.as_str(), "none", 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|item| item.owner_table == "secret_versions")
            .count()
    };
    assert_eq!(sealed().await, 2);
    secrets.delete(&env.admin, &dev, &key("A")).await.unwrap();
    assert_eq!(sealed().await, 0, "a deleted secret's values go with it");
    secrets.create(&env.admin, &dev, new("B", "b")).await.unwrap();
    secrets.delete_project(&env.admin, &created.id).await.unwrap();
    assert_eq!(sealed().await, 0, "a deleted project's values go with it");
}
