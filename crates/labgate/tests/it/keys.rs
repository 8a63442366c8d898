use labgate_crypto::{Keyring, RootKey};
use secrecy::ExposeSecret;

use labgate_testkit::TestBackend;

use crate::{Site, client, file_mode, stderr, stdout};

#[tokio::test]
async fn a_keyring_that_cannot_unwrap_stops_the_start_and_writes_nothing() {
    let site = Site::new().await;
    let first = site.run(&["tenants", "create", "acme"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let before = stdout(&site.run(&["tenants", "list", "--json"]));

    let wrong = Keyring::from_keys(vec![RootKey::generate("wrong")]).unwrap();
    let wrong = wrong.to_list();
    let output = site.run_with(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("LABGATE_ROOT_KEYS", wrong.expose_secret())],
    );
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("LABGATE_ROOT_KEYS"), "{message}");
    assert!(
        !message.contains(wrong.expose_secret()),
        "the key itself is never printed"
    );

    // root.key gone: no new key is generated over existing data.
    let root_key = site.data_dir().join("root.key");
    let saved = std::fs::read(&root_key).unwrap();
    std::fs::remove_file(&root_key).unwrap();
    let output = site.run(&["tenants", "create", "beta"]);
    assert!(!output.status.success());
    assert!(!root_key.exists());
    std::fs::write(&root_key, saved).unwrap();
    assert_eq!(stdout(&site.run(&["tenants", "list", "--json"])), before);
}

#[tokio::test]
async fn rotating_root_keys_and_tenant_keys_while_serving() {
    let site = Site::new().await;
    let server = site.serve(&[]);
    let key = server.bootstrap_key().unwrap();
    // The flag is needed on PostgreSQL only; SQLite accepts it too.
    let rotated = site.run(&["keys", "rotate", "--i-understand-other-replicas"]);
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    assert!(
        stdout(&rotated).contains("rewrapped 1 tenant key generations"),
        "{}",
        stdout(&rotated)
    );
    let listed = stdout(&site.run(&["keys", "list"]));
    assert_eq!(listed.matches("yes").count(), 1, "{listed}");
    let tenant = site.run(&["keys", "rotate-tenant", "default"]);
    assert!(tenant.status.success(), "{}", stderr(&tenant));
    assert!(
        stdout(&tenant).contains("re-encrypted 0 secrets"),
        "{}",
        stdout(&tenant)
    );
    // The running server keeps working, and a restart opens everything with the rotated file.
    let url = format!("{}/api/v1/jobs", server.url);
    assert_eq!(
        client()
            .get(&url)
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (status, _) = server.stop();
    assert!(status.success());
    let again = site.serve(&[]);
    let url = format!("{}/api/v1/jobs", again.url);
    assert_eq!(
        client()
            .get(&url)
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    again.stop();
}

#[tokio::test]
async fn an_environment_keyring_rotation_prints_the_value_and_applies_on_restart() {
    let site = Site::new().await;
    let keyring = Keyring::from_keys(vec![RootKey::generate("first")])
        .unwrap()
        .to_list();
    let env = [("LABGATE_ROOT_KEYS", keyring.expose_secret())];
    assert!(
        site.run_with(&["tenants", "create", "acme"], &env)
            .status
            .success()
    );
    let rotated = site.run_with(&["keys", "rotate"], &env);
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    let text = stdout(&rotated);
    let value = text
        .lines()
        .find(|line| line.contains(":") && line.contains(",first:"))
        .unwrap()
        .trim()
        .to_owned();
    assert!(text.contains("Nothing has been changed"));
    assert!(!site.data_dir().join("root.key").exists());
    let rewrap = site.run_with(&["keys", "rewrap"], &[("LABGATE_ROOT_KEYS", &value)]);
    assert!(rewrap.status.success(), "{}", stderr(&rewrap));
    assert!(stdout(&rewrap).contains("rewrapped 1"), "{}", stdout(&rewrap));
    // The old keyring alone can no longer open the rewrapped keys.
    let old = site.run_with(&["tenants", "list"], &env);
    assert!(!old.status.success());
}

#[tokio::test]
async fn a_root_key_file_on_postgresql_is_rotated_only_when_asked_explicitly() {
    let site = Site::new().await;
    let created = site.run(&["tenants", "create", "acme"]);
    assert!(created.status.success(), "{}", stderr(&created));
    let root_key = site.data_dir().join("root.key");
    let before = std::fs::read(&root_key).unwrap();

    let rotated = site.run(&["keys", "rotate"]);
    if site.database.backend() == TestBackend::Postgres {
        assert!(!rotated.status.success());
        let message = stderr(&rotated);
        assert!(message.contains("LABGATE_ROOT_KEYS"), "{message}");
        assert!(message.contains("--i-understand-other-replicas"), "{message}");
        assert_eq!(std::fs::read(&root_key).unwrap(), before, "nothing is written");
        let rotated = site.run(&["keys", "rotate", "--i-understand-other-replicas"]);
        assert!(rotated.status.success(), "{}", stderr(&rotated));
    } else {
        // One host owns a SQLite database, so its root.key is the only keyring there is.
        assert!(rotated.status.success(), "{}", stderr(&rotated));
    }
    assert_ne!(std::fs::read(&root_key).unwrap(), before);
    let listed = site.run(&["tenants", "list"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
}

#[tokio::test]
async fn the_data_directory_and_database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;

    let site = Site::new().await;
    let created = site.run(&["tenants", "create", "acme"]);
    assert!(created.status.success(), "{}", stderr(&created));
    let data_dir = site.data_dir();
    assert_eq!(file_mode(&data_dir), 0o700);
    assert_eq!(file_mode(&data_dir.join("root.key")), 0o600);
    if site.database.backend() == TestBackend::Sqlite {
        let database = data_dir.join("labgate.db");
        assert_eq!(file_mode(&database), 0o600);
        // A database made before labgate restricted it is tightened at the next start.
        std::fs::set_permissions(&database, std::fs::Permissions::from_mode(0o644)).unwrap();
        let server = site.serve(&[]);
        assert_eq!(file_mode(&database), 0o600);
        for journal in ["labgate.db-wal", "labgate.db-shm"] {
            let path = data_dir.join(journal);
            assert!(path.exists(), "{journal} exists while serving");
            assert_eq!(file_mode(&path), 0o600, "{journal}");
        }
        server.stop();
    }
}

#[tokio::test]
async fn a_root_key_file_others_can_read_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;

    let site = Site::new().await;
    let created = site.run(&["tenants", "create", "acme"]);
    assert!(created.status.success(), "{}", stderr(&created));
    let root_key = site.data_dir().join("root.key");
    let listed = site.run(&["tenants", "list"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(!stderr(&listed).contains("other users"), "{}", stderr(&listed));

    std::fs::set_permissions(&root_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let listed = site.run(&["tenants", "list"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let message = stderr(&listed);
    assert!(message.contains("accessible to other users"), "{message}");
    assert!(
        message.contains("root.key") && message.contains("644"),
        "{message}"
    );
}
