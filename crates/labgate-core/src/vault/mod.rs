//! The vault: per-tenant key generations wrapped by the root keyring, and sealing/opening of
//! secret values bound to their place (tenant, table, row, field).

mod source;

pub use source::{
    KeySettings, KeyringOrigin, LoadedKeyring, ROOT_KEY_FILE_NAME, SettingValue, create_private_dir,
    new_key_id,
};

use std::collections::HashMap;
use std::sync::Arc;

use labgate_crypto::{Aad, CryptoError, Keyring, RootKey, TenantKeys, WrappedTenantKeys};
use labgate_store::{NewTenantKeys, Store, TenantKeyRecord, TenantKeyRewrap, VaultItemKey};
use parking_lot::RwLock;
use secrecy::SecretString;

use crate::clock::Clock;
use crate::{CoreError, Result};

/// Where a secret lives: its tenant, the owning table and row, and the field. The same four values
/// are the associated data it is sealed under, so a sealed value copied anywhere else fails to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretSlot<'a> {
    pub tenant_id: &'a str,
    pub owner_table: &'a str,
    pub owner_id: &'a str,
    pub field: &'a str,
}

impl<'a> SecretSlot<'a> {
    fn aad(&self) -> Aad<'a> {
        Aad::new(self.tenant_id, self.owner_table, self.owner_id, self.field)
    }

    fn key(&self) -> VaultItemKey<'a> {
        VaultItemKey {
            tenant_id: self.tenant_id,
            owner_table: self.owner_table,
            owner_id: self.owner_id,
            field: self.field,
        }
    }
}

/// Re-encryption works through a tenant's secrets in batches of this size.
const REENCRYPT_BATCH: u32 = 200;
/// Passes over the key generations a rewrap makes at most.
const REWRAP_PASSES: usize = 5;

/// What `rotate_root_key` did.
#[derive(Debug)]
pub enum RootRotation {
    /// The new key was added to `root.key` and every data key is now wrapped by it.
    Applied { new_key_id: String, rewrapped: usize },
    /// The keyring comes from the environment, which labgate cannot change: the operator must set
    /// `setting` to `keyring` (new key first). Data keys are rewrapped at the next start, or by
    /// `labgate keys rewrap`, once the new keyring is in place. Nothing was changed.
    Pending {
        new_key_id: String,
        setting: String,
        keyring: SecretString,
    },
}

/// What `rotate_tenant_data_key` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRotation {
    /// The new active data key's public fingerprint.
    pub data_key_id: String,
    /// Secrets re-encrypted under it.
    pub reencrypted: usize,
}

pub struct Vault {
    store: Store,
    settings: KeySettings,
    keyring: RwLock<LoadedKeyring>,
    /// Unwrapped generations by (tenant id, data key id). A rewrap changes only the wrapping, so
    /// entries never go stale; a new generation simply adds an entry.
    generations: RwLock<HashMap<(String, String), Arc<TenantKeys>>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("keyring", &self.keyring.read().keyring)
            .finish_non_exhaustive()
    }
}

fn wrapped(record: &TenantKeyRecord) -> WrappedTenantKeys {
    WrappedTenantKeys {
        data_key: record.wrapped_data_key.clone(),
        hash_key: record.wrapped_hash_key.clone(),
    }
}

/// Why a stored generation did not yield its own data key.
#[derive(Debug)]
enum GenerationError {
    Unwrap(CryptoError),
    /// The row unwraps, but to the data key of another generation: its wrapped keys were copied
    /// from another row. Only fingerprints are named; they are public.
    Mismatch {
        tenant_id: String,
        generation: String,
        found: String,
    },
}

impl std::fmt::Display for GenerationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GenerationError::Unwrap(error) => error.fmt(f),
            GenerationError::Mismatch {
                tenant_id,
                generation,
                found,
            } => write!(
                f,
                "the stored data key generation {generation} of tenant {tenant_id} holds the data key of \
                 generation {found}: its wrapped keys were copied from another row; restore the \
                 tenant_keys table from a backup"
            ),
        }
    }
}

impl std::error::Error for GenerationError {}

impl From<GenerationError> for CoreError {
    fn from(error: GenerationError) -> Self {
        match error {
            GenerationError::Unwrap(error) => error.into(),
            mismatch @ GenerationError::Mismatch { .. } => CoreError::internal(mismatch),
        }
    }
}

/// Unwraps a stored generation and checks that the data key is the one the generation is named
/// after. The wrapping's associated data binds it to its tenant but not to its generation, and
/// existing databases hold wrappings made that way, so the fingerprint is what ties the two.
fn unwrap_generation(keyring: &Keyring, record: &TenantKeyRecord) -> Result<TenantKeys, GenerationError> {
    let keys = keyring
        .unwrap_tenant_keys(&record.tenant_id, &wrapped(record))
        .map_err(GenerationError::Unwrap)?;
    let found = keys.data_key_fingerprint();
    if found != record.id {
        return Err(GenerationError::Mismatch {
            tenant_id: record.tenant_id.clone(),
            generation: record.id.clone(),
            found,
        });
    }
    Ok(keys)
}

impl Vault {
    /// Loads the keyring and proves it can unwrap every key generation in the database. A keyring
    /// that cannot is refused with an error naming the setting to fix; nothing is written then.
    pub async fn load(store: Store, settings: KeySettings) -> Result<Vault> {
        let records = store.all_tenant_keys().await?;
        let loaded = settings.load(records.is_empty())?;
        let mut generations = HashMap::new();
        for record in &records {
            let keys = unwrap_generation(&loaded.keyring, record).map_err(|error| {
                let reason = match error {
                    GenerationError::Unwrap(CryptoError::UnknownKeyId(id)) => {
                        format!("it has no root key named {id:?}")
                    }
                    GenerationError::Unwrap(_) => {
                        format!("root key {:?} does not unwrap it (wrong key)", record.root_key_id)
                    }
                    mismatch @ GenerationError::Mismatch { .. } => {
                        return CoreError::Unavailable(mismatch.to_string());
                    }
                };
                CoreError::Unavailable(format!(
                    "the keyring from {} cannot unwrap the data key of tenant {}: {reason}",
                    loaded.origin.setting(),
                    record.tenant_id
                ))
            })?;
            generations.insert((record.tenant_id.clone(), record.id.clone()), Arc::new(keys));
        }
        Ok(Vault {
            store,
            settings,
            keyring: RwLock::new(loaded),
            generations: RwLock::new(generations),
        })
    }

    pub fn origin(&self) -> KeyringOrigin {
        self.keyring.read().origin.clone()
    }

    /// True when this start created `root.key`.
    pub fn generated_root_key(&self) -> bool {
        self.keyring.read().generated
    }

    pub fn active_root_key_id(&self) -> String {
        self.keyring.read().keyring.active_id().to_owned()
    }

    pub fn root_key_ids(&self) -> Vec<String> {
        self.keyring
            .read()
            .keyring
            .ids()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// Keys for one purpose derived from the root keys, the active key's first (see
    /// [`Keyring::derived_keys`]): every replica derives the same, so what one signs the others
    /// accept.
    pub fn derived_keys(&self, purpose: &str) -> Vec<zeroize::Zeroizing<[u8; 32]>> {
        self.keyring.read().keyring.derived_keys(purpose)
    }

    fn keyring(&self) -> Keyring {
        self.keyring.read().keyring.clone()
    }

    /// Fresh keys for a new tenant, wrapped by the active root key.
    pub fn new_tenant_keys(&self, tenant_id: &str) -> Result<(TenantKeys, WrappedTenantKeys, String)> {
        let keyring = self.keyring();
        let keys = TenantKeys::generate();
        let wrapped = keyring.wrap_tenant_keys(tenant_id, &keys)?;
        Ok((keys, wrapped, keyring.active_id().to_owned()))
    }

    /// Remembers a generation created by this process, so it is not unwrapped again.
    pub fn remember(&self, tenant_id: &str, keys: TenantKeys) {
        let id = keys.data_key_fingerprint();
        self.generations
            .write()
            .insert((tenant_id.to_owned(), id), Arc::new(keys));
    }

    /// Unwraps a stored generation. Another process may have rotated the root key since this one
    /// started; for file-based keyrings the keyring is then read again once.
    fn unwrap_record(&self, record: &TenantKeyRecord) -> Result<Arc<TenantKeys>> {
        let key = (record.tenant_id.clone(), record.id.clone());
        if let Some(keys) = self.generations.read().get(&key) {
            return Ok(keys.clone());
        }
        let keys = match unwrap_generation(&self.keyring(), record) {
            Ok(keys) => keys,
            Err(GenerationError::Unwrap(CryptoError::UnknownKeyId(_))) => {
                let reloaded = self.settings.load(false)?;
                let keys = unwrap_generation(&reloaded.keyring, record)?;
                *self.keyring.write() = reloaded;
                keys
            }
            Err(error) => return Err(error.into()),
        };
        let keys = Arc::new(keys);
        self.generations.write().insert(key, keys.clone());
        Ok(keys)
    }

    /// The generation that seals new values of a tenant.
    pub async fn active_keys(&self, tenant_id: &str) -> Result<Arc<TenantKeys>> {
        let record = self
            .store
            .active_tenant_keys(tenant_id)
            .await?
            .ok_or(CoreError::NotFound("tenant"))?;
        self.unwrap_record(&record)
    }

    async fn keys_for_sealed(&self, tenant_id: &str, sealed: &[u8]) -> Result<Arc<TenantKeys>> {
        let id = labgate_crypto::sealed_key_id(sealed)?;
        if let Some(keys) = self.generations.read().get(&(tenant_id.to_owned(), id.clone())) {
            return Ok(keys.clone());
        }
        let record = self.store.tenant_keys(tenant_id, &id).await?.ok_or_else(|| {
            CoreError::internal(CryptoError::UnknownKeyId(format!(
                "data key {id} of tenant {tenant_id}"
            )))
        })?;
        self.unwrap_record(&record)
    }

    pub async fn seal(&self, aad: &Aad<'_>, plaintext: &SecretString) -> Result<Vec<u8>> {
        Ok(self.active_keys(aad.tenant).await?.seal_str(aad, plaintext))
    }

    pub async fn open(&self, aad: &Aad<'_>, sealed: &[u8]) -> Result<SecretString> {
        let keys = self.keys_for_sealed(aad.tenant, sealed).await?;
        Ok(keys.open_str(aad, sealed)?)
    }

    /// HMAC-SHA256 under the tenant's hashing key, hex: stable across DEK and root-key rotation.
    pub async fn hmac_hex(&self, tenant_id: &str, data: &[u8]) -> Result<String> {
        Ok(self.active_keys(tenant_id).await?.hmac_hex(data))
    }

    /// Seals `value` into its slot, replacing what was there.
    pub async fn put_secret(&self, slot: &SecretSlot<'_>, value: &SecretString, now_ms: i64) -> Result<()> {
        let keys = self.active_keys(slot.tenant_id).await?;
        let sealed = keys.seal_str(&slot.aad(), value);
        self.store
            .put_vault_item(&slot.key(), &sealed, &keys.data_key_fingerprint(), now_ms)
            .await?;
        Ok(())
    }

    /// The secret in a slot, if any. A value that does not open (moved, tampered, or sealed for
    /// another slot) is an error, never silently empty.
    pub async fn get_secret(&self, slot: &SecretSlot<'_>) -> Result<Option<SecretString>> {
        let Some(item) = self.store.vault_item(&slot.key()).await? else {
            return Ok(None);
        };
        Ok(Some(self.open(&slot.aad(), &item.sealed).await?))
    }

    /// Whether a secret is sealed in the slot, without opening it.
    pub async fn has_secret(&self, slot: &SecretSlot<'_>) -> Result<bool> {
        Ok(self.store.vault_item(&slot.key()).await?.is_some())
    }

    /// Deletes every secret of one owner row.
    pub async fn delete_secrets(&self, tenant_id: &str, owner_table: &str, owner_id: &str) -> Result<u64> {
        Ok(self
            .store
            .delete_vault_items(tenant_id, owner_table, owner_id)
            .await?)
    }

    /// Re-encrypts every secret of a tenant that is not sealed under its active data key. Each
    /// value is swapped only if unchanged since it was read, so a concurrent write always wins.
    pub async fn reencrypt_tenant(&self, tenant_id: &str) -> Result<usize> {
        let mut reencrypted = 0;
        // A value rewritten meanwhile under an old key shows up again; the bound keeps a writer
        // with a stale key from holding the sweep forever.
        for _ in 0..10_000 {
            let keys = self.active_keys(tenant_id).await?;
            let active_id = keys.data_key_fingerprint();
            let batch = self
                .store
                .vault_items_not_under(tenant_id, &active_id, REENCRYPT_BATCH)
                .await?;
            if batch.is_empty() {
                return Ok(reencrypted);
            }
            for item in batch {
                let slot = SecretSlot {
                    tenant_id: &item.tenant_id,
                    owner_table: &item.owner_table,
                    owner_id: &item.owner_id,
                    field: &item.field,
                };
                let value = self.open(&slot.aad(), &item.sealed).await?;
                let sealed = keys.seal_str(&slot.aad(), &value);
                if self
                    .store
                    .swap_vault_item(&slot.key(), &item.sealed, &sealed, &active_id)
                    .await?
                {
                    reencrypted += 1;
                }
            }
        }
        Err(CoreError::Conflict(
            "secrets keep changing under an old data key; run the rotation again".to_owned(),
        ))
    }

    /// How many tenant key generations each root key wraps, by root key id.
    pub async fn generations_by_root_key(&self) -> Result<std::collections::HashMap<String, usize>> {
        let mut counts = std::collections::HashMap::new();
        for record in self.store.all_tenant_keys().await? {
            *counts.entry(record.root_key_id).or_insert(0) += 1;
        }
        Ok(counts)
    }

    /// Rewraps every generation not yet wrapped by the active root key. Safe to run from several
    /// processes at once: each row is swapped only if it still holds the wrapping that was read,
    /// and so the root key id named in it.
    pub async fn rewrap_all(&self) -> Result<usize> {
        let keyring = self.keyring();
        let mut rewrapped = 0;
        // A swap lost to a concurrent writer leaves the row for another pass; the bound keeps two
        // processes with different active keys from trading rows back and forth forever.
        for _ in 0..REWRAP_PASSES {
            let mut lost = false;
            for record in self.store.all_tenant_keys().await? {
                let wrapped_by = labgate_crypto::sealed_key_id(&record.wrapped_data_key)?;
                // A key this keyring does not hold was added after it was loaded, by a rotation
                // that rewraps its rows itself: wrapping them back under an older key would undo it.
                if wrapped_by == keyring.active_id() || !keyring.contains(&wrapped_by) {
                    continue;
                }
                let keys = self.unwrap_record(&record)?;
                let next = keyring.wrap_tenant_keys(&record.tenant_id, &keys)?;
                let applied = self
                    .store
                    .rewrap_tenant_keys(&TenantKeyRewrap {
                        tenant_id: &record.tenant_id,
                        id: &record.id,
                        expected_wrapped_data_key: &record.wrapped_data_key,
                        wrapped_data_key: &next.data_key,
                        wrapped_hash_key: &next.hash_key,
                        root_key_id: keyring.active_id(),
                    })
                    .await?;
                if applied {
                    rewrapped += 1;
                } else {
                    lost = true;
                }
            }
            if !lost {
                break;
            }
        }
        Ok(rewrapped)
    }

    /// Adds a new active root key. For `root.key` the key is added to the file as it is on disk,
    /// under an exclusive lock (so concurrent rotations each keep the other's key), and then every
    /// data key is rewrapped, so no data key is ever wrapped by a key that is not on disk.
    /// Environment keyrings cannot be changed from here: see [`RootRotation::Pending`].
    pub async fn rotate_root_key(&self) -> Result<RootRotation> {
        let loaded = self.keyring.read().clone();
        match &loaded.origin {
            KeyringOrigin::DataDirFile { path } => {
                let path = path.clone();
                let (next, new_key_id) = tokio::task::spawn_blocking(move || source::add_key_to_file(&path))
                    .await
                    .map_err(CoreError::internal)??;
                *self.keyring.write() = LoadedKeyring {
                    keyring: next,
                    origin: loaded.origin.clone(),
                    generated: false,
                };
                let rewrapped = self.rewrap_all().await?;
                Ok(RootRotation::Applied {
                    new_key_id,
                    rewrapped,
                })
            }
            KeyringOrigin::RootKeys { setting } | KeyringOrigin::RootKey { setting } => {
                let mut new_key_id = new_key_id();
                while loaded.keyring.contains(&new_key_id) {
                    new_key_id = source::new_key_id();
                }
                let next = loaded.keyring.with_new_active(RootKey::generate(&new_key_id))?;
                let setting = if setting.ends_with("_FILE") {
                    setting.clone()
                } else {
                    "LABGATE_ROOT_KEYS".to_owned()
                };
                Ok(RootRotation::Pending {
                    new_key_id,
                    setting,
                    keyring: next.to_list(),
                })
            }
        }
    }

    /// Starts a new data-key generation for a tenant and re-encrypts the tenant's secrets under it.
    /// The hashing key stays, so credential hashes do not change; the retired generation is kept,
    /// so a value sealed by a process that has not noticed the rotation yet still opens.
    pub async fn rotate_tenant_data_key(&self, tenant_id: &str, clock: &dyn Clock) -> Result<TenantRotation> {
        for _ in 0..3 {
            let active = self
                .store
                .active_tenant_keys(tenant_id)
                .await?
                .ok_or(CoreError::NotFound("tenant"))?;
            let current = self.unwrap_record(&active)?;
            let next = current.with_fresh_data_key();
            let keyring = self.keyring();
            let wrapped = keyring.wrap_tenant_keys(tenant_id, &next)?;
            let next_id = next.data_key_fingerprint();
            let applied = self
                .store
                .rotate_tenant_data_key(
                    tenant_id,
                    &active.id,
                    &NewTenantKeys {
                        id: &next_id,
                        wrapped_data_key: &wrapped.data_key,
                        wrapped_hash_key: &wrapped.hash_key,
                        root_key_id: keyring.active_id(),
                    },
                    clock.now_ms(),
                )
                .await?;
            if applied {
                self.remember(tenant_id, next);
                let reencrypted = self.reencrypt_tenant(tenant_id).await?;
                return Ok(TenantRotation {
                    data_key_id: next_id,
                    reencrypted,
                });
            }
        }
        Err(CoreError::Conflict(
            "the tenant's data key is being rotated by another process".to_owned(),
        ))
    }
}
