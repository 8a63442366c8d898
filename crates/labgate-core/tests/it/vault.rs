use std::sync::Arc;

use labgate_core::auth::Actor;
use labgate_core::clock::ManualClock;
use labgate_core::vault::{KeySettings, RootRotation, SettingValue, Vault};
use labgate_crypto::{Aad, Keyring, RootKey};
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
    let path = env.settings.root_key_path();
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
    let again = Vault::load(connect(&env.database).await, env.settings.clone())
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
    let tenants = &env.services.tenants;
    let acme = tenants.create("acme", &Actor::Cli).await.unwrap();
    let other = tenants.create("other", &Actor::Cli).await.unwrap();
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
    env.services.tenants.create("acme", &Actor::Cli).await.unwrap();
    let before = env.services.store.all_tenant_keys().await.unwrap();

    let wrong = Keyring::from_keys(vec![RootKey::generate("other")]).unwrap();
    let settings = KeySettings {
        root_keys: Some(env_keyring(&wrong)),
        ..env.settings.clone()
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
        ..env.settings.clone()
    };
    let error = Vault::load(connect(&env.database).await, settings)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("LABGATE_ROOT_KEYS_FILE"), "{error}");

    // With root.key gone and data present, no new key is generated.
    std::fs::remove_file(env.settings.root_key_path()).unwrap();
    let error = Vault::load(connect(&env.database).await, env.settings.clone())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("LABGATE_ROOT_KEYS"), "{error}");
    assert!(!env.settings.root_key_path().exists());
    assert_eq!(env.services.store.all_tenant_keys().await.unwrap(), before);
}

#[tokio::test]
async fn rotating_a_file_keyring_rewraps_every_data_key() {
    let env = env().await;
    let acme = env.services.tenants.create("acme", &Actor::Cli).await.unwrap();
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
    assert_eq!(rewrapped, 1, "acme has one key generation");
    assert_ne!(new_key_id, old_key);
    for record in env.services.store.all_tenant_keys().await.unwrap() {
        assert_eq!(record.root_key_id, new_key_id);
    }
    let text = std::fs::read_to_string(env.settings.root_key_path()).unwrap();
    assert!(text.starts_with(&new_key_id) && text.contains(&old_key));
    // A fresh process with the rotated file opens old values.
    let restarted = Vault::load(connect(&env.database).await, env.settings.clone())
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
        ..env.settings.clone()
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
        ..env.settings.clone()
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
async fn tenant_data_key_rotation_keeps_hashes_and_old_values() {
    let env = env().await;
    let acme = env.services.tenants.create("acme", &Actor::Cli).await.unwrap();
    let vault = &env.services.vault;
    let aad = Aad::new(&acme.id, "t", "r", "f");
    let before = vault.seal(&aad, &secret("old")).await.unwrap();
    let hash = vault.hmac_hex(&acme.id, b"token").await.unwrap();
    let old_dek = labgate_crypto::sealed_key_id(&before).unwrap();

    let new_dek = vault
        .rotate_tenant_data_key(&acme.id, env.clock.as_ref())
        .await
        .unwrap();
    assert_ne!(new_dek, old_dek);
    let after = vault.seal(&aad, &secret("new")).await.unwrap();
    assert_eq!(labgate_crypto::sealed_key_id(&after).unwrap(), new_dek);
    assert_eq!(vault.hmac_hex(&acme.id, b"token").await.unwrap(), hash);

    // Another process (no cached keys) opens both generations.
    let other = Vault::load(connect(&env.database).await, env.settings.clone())
        .await
        .unwrap();
    assert_eq!(other.open(&aad, &before).await.unwrap().expose_secret(), "old");
    assert_eq!(other.open(&aad, &after).await.unwrap().expose_secret(), "new");
}
