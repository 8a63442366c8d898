use std::sync::Arc;

use labgate_core::auth::Actor;
use labgate_core::clock::ManualClock;
use labgate_core::vault::{KeySettings, RootRotation, SecretSlot, SettingValue, Vault};
use labgate_crypto::{Aad, Keyring, RootKey};
use labgate_store::{TenantKeyRewrap, VaultItemKey};
use secrecy::{ExposeSecret, SecretString};

use crate::{connect, env};

fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

fn env_keyring(keyring: &Keyring) -> SettingValue {
    SettingValue {
        value: keyring.to_list(),
        setting: "LABGATE_ROOT_KEYS".to_owned(),
    }
}

#[tokio::test]
async fn first_start_generates_a_private_root_key_file() {
    let env = env().await;
    let path = env.key_settings.root_key_path();
    assert!(env.services.vault.generated_root_key());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(&env.services.vault.active_root_key_id()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // A second start reads the same file instead of generating another key.
    let again = Vault::load(connect(&env.database).await, env.key_settings.clone())
        .await
        .unwrap();
    assert!(!again.generated_root_key());
    assert_eq!(
        again.active_root_key_id(),
        env.services.vault.active_root_key_id()
    );
}

#[tokio::test]
async fn sealed_values_are_bound_to_tenant_table_row_and_field() {
    let env = env().await;
    let acme = env.tenant.clone();
    let other = env.other_tenant.clone();
    let vault = &env.services.vault;
    let aad = Aad::new(&acme.id, "app_connections", "row-1", "credentials");
    let sealed = vault.seal(&aad, &secret("glpat-secret-value")).await.unwrap();
    assert_eq!(
        vault.open(&aad, &sealed).await.unwrap().expose_secret(),
        "glpat-secret-value"
    );
    for moved in [
        Aad::new(&acme.id, "app_connections", "row-2", "credentials"),
        Aad::new(&acme.id, "app_connections", "row-1", "refresh_token"),
        Aad::new(&acme.id, "secrets", "row-1", "credentials"),
        Aad::new(&other.id, "app_connections", "row-1", "credentials"),
    ] {
        assert!(
            vault.open(&moved, &sealed).await.is_err(),
            "{moved:?} opened a value sealed elsewhere"
        );
    }
    // Hashes differ across tenants for the same token.
    assert_ne!(
        vault.hmac_hex(&acme.id, b"glpat-x").await.unwrap(),
        vault.hmac_hex(&other.id, b"glpat-x").await.unwrap()
    );
}

#[tokio::test]
async fn a_keyring_that_cannot_unwrap_stops_the_start_naming_the_setting() {
    let env = env().await;
    let before = env.store.all_tenant_keys().await.unwrap();

    let wrong = Keyring::from_keys(vec![RootKey::generate("other")]).unwrap();
    let settings = KeySettings {
        root_keys: Some(env_keyring(&wrong)),
        ..env.key_settings.clone()
    };
    let error = Vault::load(connect(&env.database).await, settings)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("LABGATE_ROOT_KEYS"), "{error}");

    // Same id, different key material: still refused.
    let active = env.services.vault.active_root_key_id();
    let impostor = Keyring::from_keys(vec![RootKey::generate(&active)]).unwrap();
    let settings = KeySettings {
        root_keys: Some(SettingValue {
            value: impostor.to_list(),
            setting: "LABGATE_ROOT_KEYS_FILE".to_owned(),
        }),
        ..env.key_settings.clone()
    };
    let error = Vault::load(connect(&env.database).await, settings)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("LABGATE_ROOT_KEYS_FILE"), "{error}");

    // With root.key gone and data present, no new key is generated.
    std::fs::remove_file(env.key_settings.root_key_path()).unwrap();
    let error = Vault::load(connect(&env.database).await, env.key_settings.clone())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("LABGATE_ROOT_KEYS"), "{error}");
    assert!(!env.key_settings.root_key_path().exists());
    assert_eq!(env.store.all_tenant_keys().await.unwrap(), before);
}

#[tokio::test]
async fn rotating_a_file_keyring_rewraps_every_data_key() {
    let env = env().await;
    let acme = env.tenant.clone();
    let aad = Aad::new(&acme.id, "t", "r", "f");
    let sealed = env.services.vault.seal(&aad, &secret("value")).await.unwrap();
    let old_key = env.services.vault.active_root_key_id();

    let RootRotation::Applied {
        new_key_id,
        rewrapped,
    } = env.services.vault.rotate_root_key().await.unwrap()
    else {
        panic!("a root.key keyring rotates in place");
    };
    assert_eq!(rewrapped, 2, "acme and other have one key generation each");
    assert_ne!(new_key_id, old_key);
    for record in env.store.all_tenant_keys().await.unwrap() {
        assert_eq!(record.root_key_id, new_key_id);
    }
    let text = std::fs::read_to_string(env.key_settings.root_key_path()).unwrap();
    assert!(text.starts_with(&new_key_id) && text.contains(&old_key));
    // A fresh process with the rotated file opens old values.
    let restarted = Vault::load(connect(&env.database).await, env.key_settings.clone())
        .await
        .unwrap();
    assert_eq!(
        restarted.open(&aad, &sealed).await.unwrap().expose_secret(),
        "value"
    );
}

#[tokio::test]
async fn rotating_an_environment_keyring_changes_nothing_until_the_new_value_is_set() {
    let env = env().await;
    let first = Keyring::from_keys(vec![RootKey::generate("one")]).unwrap();
    let settings = KeySettings {
        root_keys: Some(env_keyring(&first)),
        ..env.key_settings.clone()
    };
    // Start over on a database whose tenants are wrapped by the environment keyring.
    let database = labgate_testkit::TestDatabase::new().await;
    let store = connect(&database).await;
    let vault = Arc::new(Vault::load(store.clone(), settings.clone()).await.unwrap());
    let services = labgate_core::Services::new(store.clone(), vault.clone(), Arc::new(ManualClock::new(0)));
    let acme = services.tenants.create("acme", &Actor::Cli).await.unwrap();
    let aad = Aad::new(&acme.id, "t", "r", "f");
    let sealed = vault.seal(&aad, &secret("value")).await.unwrap();

    let RootRotation::Pending {
        new_key_id,
        setting,
        keyring,
    } = vault.rotate_root_key().await.unwrap()
    else {
        panic!("an environment keyring cannot be rewritten by labgate");
    };
    assert_eq!(setting, "LABGATE_ROOT_KEYS");
    assert!(
        store
            .all_tenant_keys()
            .await
            .unwrap()
            .iter()
            .all(|k| k.root_key_id == "one")
    );

    let rotated = Keyring::parse(keyring.expose_secret()).unwrap();
    assert_eq!(rotated.active_id(), new_key_id);
    let settings = KeySettings {
        root_keys: Some(SettingValue {
            value: keyring,
            setting: "LABGATE_ROOT_KEYS".to_owned(),
        }),
        ..env.key_settings.clone()
    };
    let restarted = Vault::load(store.clone(), settings).await.unwrap();
    assert_eq!(restarted.rewrap_all().await.unwrap(), 1);
    assert!(
        store
            .all_tenant_keys()
            .await
            .unwrap()
            .iter()
            .all(|k| k.root_key_id == new_key_id)
    );
    assert_eq!(
        restarted.open(&aad, &sealed).await.unwrap().expose_secret(),
        "value"
    );
    assert_eq!(restarted.rewrap_all().await.unwrap(), 0);
}

#[tokio::test]
async fn tenant_data_key_rotation_reencrypts_secrets_and_keeps_hashes() {
    let env = env().await;
    let acme = env.tenant.clone();
    let other = env.other_tenant.clone();
    let vault = &env.services.vault;
    let slot = |owner: &'static str, field: &'static str| SecretSlot {
        tenant_id: &acme.id,
        owner_table: "app_connections",
        owner_id: owner,
        field,
    };
    for (owner, field, value) in [
        ("c1", "token", "one"),
        ("c1", "refresh", "two"),
        ("c2", "token", "three"),
    ] {
        vault
            .put_secret(&slot(owner, field), &secret(value), 1)
            .await
            .unwrap();
    }
    let theirs = SecretSlot {
        tenant_id: &other.id,
        owner_table: "app_connections",
        owner_id: "c1",
        field: "token",
    };
    vault.put_secret(&theirs, &secret("theirs"), 1).await.unwrap();
    let hash = vault.hmac_hex(&acme.id, b"token").await.unwrap();
    let old_dek = env.store.active_tenant_keys(&acme.id).await.unwrap().unwrap().id;

    let rotation = vault
        .rotate_tenant_data_key(&acme.id, env.clock.as_ref())
        .await
        .unwrap();
    assert_ne!(rotation.data_key_id, old_dek);
    assert_eq!(rotation.reencrypted, 3, "only acme's secrets are re-encrypted");
    assert_eq!(vault.hmac_hex(&acme.id, b"token").await.unwrap(), hash);
    assert!(
        env.store
            .vault_items_not_under(&acme.id, &rotation.data_key_id, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Another process (no cached keys) reads every secret back.
    let restarted = Vault::load(connect(&env.database).await, env.key_settings.clone())
        .await
        .unwrap();
    for (owner, field, value) in [
        ("c1", "token", "one"),
        ("c1", "refresh", "two"),
        ("c2", "token", "three"),
    ] {
        let read = restarted.get_secret(&slot(owner, field)).await.unwrap().unwrap();
        assert_eq!(read.expose_secret(), value);
    }
    assert_eq!(
        restarted
            .get_secret(&theirs)
            .await
            .unwrap()
            .unwrap()
            .expose_secret(),
        "theirs"
    );
    assert!(
        restarted
            .get_secret(&slot("c9", "token"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        restarted
            .delete_secrets(&acme.id, "app_connections", "c1")
            .await
            .unwrap(),
        2
    );
}

#[tokio::test]
async fn a_sealed_value_copied_to_another_row_field_or_tenant_does_not_open() {
    let env = env().await;
    let acme = env.tenant.clone();
    let other = env.other_tenant.clone();
    let vault = &env.services.vault;
    let store = &env.store;
    let source = SecretSlot {
        tenant_id: &acme.id,
        owner_table: "app_connections",
        owner_id: "c1",
        field: "token",
    };
    vault
        .put_secret(&source, &secret("glpat-value"), 1)
        .await
        .unwrap();
    let item = store
        .vault_item(&VaultItemKey {
            tenant_id: &acme.id,
            owner_table: "app_connections",
            owner_id: "c1",
            field: "token",
        })
        .await
        .unwrap()
        .unwrap();
    for target in [
        SecretSlot {
            owner_id: "c2",
            ..source
        },
        SecretSlot {
            field: "refresh",
            ..source
        },
        SecretSlot {
            owner_table: "webhooks",
            ..source
        },
        SecretSlot {
            tenant_id: &other.id,
            ..source
        },
    ] {
        let key = VaultItemKey {
            tenant_id: target.tenant_id,
            owner_table: target.owner_table,
            owner_id: target.owner_id,
            field: target.field,
        };
        store
            .put_vault_item(&key, &item.sealed, &item.data_key_id, 2)
            .await
            .unwrap();
        assert!(
            vault.get_secret(&target).await.is_err(),
            "{target:?} opened a value copied from {source:?}"
        );
    }
    assert_eq!(
        vault.get_secret(&source).await.unwrap().unwrap().expose_secret(),
        "glpat-value"
    );
}

#[tokio::test]
async fn a_rotation_keeps_the_keys_another_process_added_to_root_key() {
    let env = env().await;
    // Both processes load root.key before either rotates, and neither has seen acme's key.
    let first = Vault::load(connect(&env.database).await, env.key_settings.clone())
        .await
        .unwrap();
    let second = Vault::load(connect(&env.database).await, env.key_settings.clone())
        .await
        .unwrap();
    let acme = env.tenant.clone();
    let aad = Aad::new(&acme.id, "t", "r", "f");
    let sealed = env.services.vault.seal(&aad, &secret("value")).await.unwrap();

    let RootRotation::Applied { new_key_id: one, .. } = first.rotate_root_key().await.unwrap() else {
        panic!("a root.key keyring rotates in place");
    };
    let RootRotation::Applied { new_key_id: two, .. } = second.rotate_root_key().await.unwrap() else {
        panic!("a root.key keyring rotates in place");
    };
    let on_disk =
        Keyring::parse(&std::fs::read_to_string(env.key_settings.root_key_path()).unwrap()).unwrap();
    assert_eq!(on_disk.ids().len(), 3, "{on_disk:?}");
    assert_eq!(on_disk.active_id(), two);
    assert!(on_disk.contains(&one));

    let restarted = Vault::load(connect(&env.database).await, env.key_settings.clone())
        .await
        .unwrap();
    assert_eq!(
        restarted.open(&aad, &sealed).await.unwrap().expose_secret(),
        "value"
    );
    assert!(
        env.store
            .all_tenant_keys()
            .await
            .unwrap()
            .iter()
            .all(|record| record.root_key_id == two)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_root_key_rotations_leave_every_tenant_key_openable() {
    const PROCESSES: usize = 4;
    const ROUNDS: usize = 3;
    let env = env().await;
    let mut sealed = Vec::new();
    for name in ["beta", "gamma", "delta"] {
        let tenant = env.services.tenants.create(name, &Actor::Cli).await.unwrap();
        let aad = Aad::new(&tenant.id, "t", "r", "f");
        sealed.push((
            tenant.id.clone(),
            env.services.vault.seal(&aad, &secret(name)).await.unwrap(),
        ));
    }
    let mut vaults = Vec::new();
    for _ in 0..PROCESSES {
        let vault = Vault::load(connect(&env.database).await, env.key_settings.clone())
            .await
            .unwrap();
        vaults.push(Arc::new(vault));
    }
    // One more tenant that no process has cached, so rewraps must unwrap it from the database.
    let late = env.services.tenants.create("late", &Actor::Cli).await.unwrap();
    let aad = Aad::new(&late.id, "t", "r", "f");
    sealed.push((
        late.id.clone(),
        env.services.vault.seal(&aad, &secret("late")).await.unwrap(),
    ));

    let tasks: Vec<_> = vaults
        .iter()
        .map(|vault| {
            let vault = vault.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for _ in 0..ROUNDS {
                    match vault.rotate_root_key().await.unwrap() {
                        RootRotation::Applied { new_key_id, .. } => ids.push(new_key_id),
                        RootRotation::Pending { .. } => panic!("a root.key keyring rotates in place"),
                    }
                }
                ids
            })
        })
        .collect();
    let mut added = Vec::new();
    for task in tasks {
        added.extend(task.await.unwrap());
    }

    let on_disk =
        Keyring::parse(&std::fs::read_to_string(env.key_settings.root_key_path()).unwrap()).unwrap();
    assert_eq!(on_disk.ids().len(), 1 + PROCESSES * ROUNDS, "{on_disk:?}");
    for id in &added {
        assert!(on_disk.contains(id), "key {id} was lost from root.key");
    }
    let restarted = Vault::load(connect(&env.database).await, env.key_settings.clone())
        .await
        .expect("every tenant key unwraps with root.key as it is on disk");
    for (tenant_id, value) in &sealed {
        let aad = Aad::new(tenant_id, "t", "r", "f");
        assert!(restarted.open(&aad, value).await.is_ok(), "tenant {tenant_id}");
    }
}

#[tokio::test]
async fn a_data_key_copied_from_another_generation_fails_to_load() {
    let env = env().await;
    // Loaded before acme exists, so it unwraps acme's generations only when first used.
    let running = Vault::load(connect(&env.database).await, env.key_settings.clone())
        .await
        .unwrap();
    let acme = env.tenant.clone();
    let store = &env.store;
    let old = store.active_tenant_keys(&acme.id).await.unwrap().unwrap();
    env.services
        .vault
        .rotate_tenant_data_key(&acme.id, env.clock.as_ref())
        .await
        .unwrap();
    let active = store.active_tenant_keys(&acme.id).await.unwrap().unwrap();
    assert_ne!(active.id, old.id);

    // The retired generation's wrapped keys copied into the active generation's row: they unwrap
    // for this tenant, but to the old data key.
    let copied = store
        .rewrap_tenant_keys(&TenantKeyRewrap {
            tenant_id: &acme.id,
            id: &active.id,
            expected_wrapped_data_key: &active.wrapped_data_key,
            wrapped_data_key: &old.wrapped_data_key,
            wrapped_hash_key: &old.wrapped_hash_key,
            root_key_id: &old.root_key_id,
        })
        .await
        .unwrap();
    assert!(copied);

    let error = Vault::load(connect(&env.database).await, env.key_settings.clone())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains(acme.id.as_str()), "{error}");
    assert!(
        error.contains(&format!("generation {} of tenant", active.id)),
        "{error}"
    );
    assert!(
        error.contains(&format!("data key of generation {}", old.id)),
        "{error}"
    );

    let aad = Aad::new(&acme.id, "t", "r", "f");
    // A process that unwraps the row only now refuses it too, rather than sealing under it.
    let error = running.seal(&aad, &secret("value")).await.unwrap_err();
    let cause = std::error::Error::source(&error)
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(cause.contains("copied from another row"), "{error:?}");
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_data_directory_and_its_key_files_are_private() {
    let database = labgate_testkit::TestDatabase::new().await;
    let parent = tempfile::tempdir().unwrap();
    let data_dir = parent.path().join("var").join("labgate");
    let settings = KeySettings {
        data_dir: data_dir.clone(),
        ..KeySettings::default()
    };
    let vault = Vault::load(connect(&database).await, settings.clone())
        .await
        .unwrap();
    assert!(vault.generated_root_key());
    assert_eq!(mode(&data_dir), 0o700);
    assert_eq!(mode(&parent.path().join("var")), 0o700);
    assert_eq!(mode(&settings.root_key_path()), 0o600);
    assert_eq!(mode(&data_dir.join("root.key.lock")), 0o600);
}

#[cfg(unix)]
#[tokio::test]
async fn rewriting_root_key_never_reuses_a_leftover_file_or_follows_a_link() {
    use std::os::unix::fs::PermissionsExt;

    let env = env().await;
    let path = env.key_settings.root_key_path();
    let temporary = path.with_extension("key.tmp");

    // A temporary file left by a crash, readable by everyone.
    std::fs::write(&temporary, "left over\n").unwrap();
    std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o644)).unwrap();
    env.services.vault.rotate_root_key().await.unwrap();
    assert_eq!(mode(&path), 0o600);
    assert!(!temporary.exists());

    // A link planted where the temporary file goes.
    let elsewhere = env.data_dir().join("elsewhere");
    std::fs::write(&elsewhere, "not labgate's\n").unwrap();
    std::os::unix::fs::symlink(&elsewhere, &temporary).unwrap();
    env.services.vault.rotate_root_key().await.unwrap();
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "not labgate's\n");
    assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
    assert_eq!(mode(&path), 0o600);

    let restarted = Vault::load(connect(&env.database).await, env.key_settings.clone())
        .await
        .unwrap();
    assert_eq!(restarted.root_key_ids().len(), 3);
}

#[cfg(unix)]
#[tokio::test]
async fn a_root_key_that_is_a_link_is_read_but_never_replaced() {
    let env = env().await;
    let path = env.key_settings.root_key_path();
    let target = env.data_dir().join("mounted.key");
    std::fs::rename(&path, &target).unwrap();
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let before = std::fs::read(&target).unwrap();

    let vault = Vault::load(connect(&env.database).await, env.key_settings.clone())
        .await
        .unwrap();
    let error = vault.rotate_root_key().await.unwrap_err().to_string();
    assert!(error.contains("symbolic link"), "{error}");
    assert!(std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read(&target).unwrap(), before);
}
