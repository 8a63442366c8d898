//! Root keys (KEKs) and the keyring that wraps tenant keys.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::sealed::{self, KEY_LEN, valid_key_id};
use crate::{Aad, CryptoError, Result, TenantKeys};

/// Table name used in the AAD of wrapped tenant keys.
const WRAP_TABLE: &str = "tenants";
const WRAP_FIELD_DATA: &str = "data_key";
const WRAP_FIELD_HASH: &str = "hash_key";

/// Separates keys derived for a purpose from anything else computed under a root key.
const DERIVE_LABEL: &[u8] = b"labgate derived key\0";

/// Length of a 32-byte key in standard base64 (with padding).
const KEY_B64_LEN: usize = 44;

const ID_RULE: &str = "key ids are 1-32 characters of A-Z, a-z, 0-9, '_' or '-'";

/// One 256-bit root key (KEK) with its id. `Debug` prints only the id; the key bytes are zeroized
/// on drop.
#[derive(Clone)]
pub struct RootKey {
    id: String,
    key: Zeroizing<[u8; KEY_LEN]>,
}

impl RootKey {
    /// A fresh random root key. The id is checked when the key joins a [`Keyring`].
    pub fn generate(id: &str) -> RootKey {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(&mut *key);
        RootKey {
            id: id.to_owned(),
            key,
        }
    }

    /// A root key from its id and its standard base64 form (32 bytes).
    pub fn from_base64(id: &str, key_base64: &str) -> Result<RootKey> {
        decode_key(id, key_base64, "root key")
    }

    /// The key id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key in standard base64, for writing `root.key` or printing once.
    pub fn to_base64(&self) -> SecretString {
        let mut out = String::with_capacity(KEY_B64_LEN);
        STANDARD.encode_string(self.key.as_slice(), &mut out);
        SecretString::from(out)
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.key
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RootKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Decodes one key, with error messages that name `what` and the id but never the key material.
fn decode_key(id: &str, key_base64: &str, what: &str) -> Result<RootKey> {
    if id.is_empty() {
        return Err(CryptoError::InvalidKeyring(format!("{what}: empty key id")));
    }
    if !valid_key_id(id) {
        // The id is not echoed: a malformed entry may well be key material in the wrong place.
        return Err(CryptoError::InvalidKeyring(format!(
            "{what}: invalid key id ({ID_RULE})"
        )));
    }
    let decoded = Zeroizing::new(STANDARD.decode(key_base64.as_bytes()).map_err(|_| {
        CryptoError::InvalidKeyring(format!("{what} (id {id:?}): key is not valid standard base64"))
    })?);
    if decoded.len() != KEY_LEN {
        return Err(CryptoError::InvalidKeyring(format!(
            "{what} (id {id:?}): key is {} bytes, expected {KEY_LEN}",
            decoded.len()
        )));
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(&decoded);
    Ok(RootKey {
        id: id.to_owned(),
        key,
    })
}

/// An ordered, non-empty keyring of root keys with unique ids. The first key is active: it wraps
/// new tenant keys. The others only unwrap. `Debug` prints ids only.
#[derive(Clone)]
pub struct Keyring {
    active: RootKey,
    older: Vec<RootKey>,
}

impl Keyring {
    /// Parses `id:base64,id:base64,...` (the first key is active). Entries may also be separated by
    /// newlines, and whitespace around entries, ids and keys is ignored, so files work.
    pub fn parse(list: &str) -> Result<Keyring> {
        let keys = list
            .split([',', '\n'])
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .enumerate()
            .map(|(i, entry)| {
                let what = format!("entry {}", i + 1);
                let (id, key) = entry
                    .split_once(':')
                    .ok_or_else(|| CryptoError::InvalidKeyring(format!("{what}: expected `id:base64`")))?;
                decode_key(id.trim(), key.trim(), &what)
            })
            .collect::<Result<Vec<_>>>()?;
        Keyring::from_keys(keys)
    }

    /// A keyring of one key.
    pub fn from_single(id: &str, key_base64: &str) -> Result<Keyring> {
        Keyring::from_keys(vec![RootKey::from_base64(id, key_base64)?])
    }

    /// A keyring of the given keys, the first active. Refuses an empty list, invalid ids and
    /// duplicate ids.
    pub fn from_keys(keys: Vec<RootKey>) -> Result<Keyring> {
        let mut seen: Vec<&str> = Vec::with_capacity(keys.len());
        for (i, key) in keys.iter().enumerate() {
            if !valid_key_id(&key.id) {
                return Err(CryptoError::InvalidKeyring(format!(
                    "key {}: invalid key id ({ID_RULE})",
                    i + 1
                )));
            }
            if seen.contains(&key.id.as_str()) {
                return Err(CryptoError::InvalidKeyring(format!(
                    "duplicate key id {:?}",
                    key.id
                )));
            }
            seen.push(&key.id);
        }
        let mut keys = keys.into_iter();
        let active = keys
            .next()
            .ok_or_else(|| CryptoError::InvalidKeyring("no keys".to_owned()))?;
        Ok(Keyring {
            active,
            older: keys.collect(),
        })
    }

    /// The `id:base64,...` form, in the same order (active first).
    pub fn to_list(&self) -> SecretString {
        let len = self
            .keys()
            .map(|k| k.id.len() + 1 + KEY_B64_LEN + 1)
            .sum::<usize>()
            - 1;
        let mut out = String::with_capacity(len);
        for (i, key) in self.keys().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&key.id);
            out.push(':');
            STANDARD.encode_string(key.key.as_slice(), &mut out);
        }
        SecretString::from(out)
    }

    /// The id of the active key.
    pub fn active_id(&self) -> &str {
        &self.active.id
    }

    /// All ids, active first.
    pub fn ids(&self) -> Vec<&str> {
        self.keys().map(|k| k.id.as_str()).collect()
    }

    /// Whether the keyring holds a key with this id.
    pub fn contains(&self, id: &str) -> bool {
        self.get(id).is_some()
    }

    /// Keys for one `purpose` (signing cookies, say) derived from every root key, the active
    /// key's first: sign with the first, accept any. Every process holding the keyring derives
    /// the same keys, so replicas accept each other's signatures without sharing anything else,
    /// and values signed before a root key rotation stay valid while the old key is kept.
    pub fn derived_keys(&self, purpose: &str) -> Vec<Zeroizing<[u8; KEY_LEN]>> {
        self.keys()
            .map(|key| {
                let mut label = Vec::with_capacity(DERIVE_LABEL.len() + purpose.len());
                label.extend_from_slice(DERIVE_LABEL);
                label.extend_from_slice(purpose.as_bytes());
                Zeroizing::new(crate::hmac_sha256(key.bytes(), &label))
            })
            .collect()
    }

    /// A keyring with `key` as the new active key and all current keys after it, in order.
    pub fn with_new_active(&self, key: RootKey) -> Result<Keyring> {
        let mut keys = Vec::with_capacity(2 + self.older.len());
        keys.push(key);
        keys.extend(self.keys().cloned());
        Keyring::from_keys(keys)
    }

    /// A keyring without the (inactive) key `id`. Removing the active key is refused, and so is
    /// an id the keyring does not hold. Callers must first make sure nothing is still wrapped
    /// under the key.
    pub fn without_key(&self, id: &str) -> Result<Keyring> {
        if id == self.active.id {
            return Err(CryptoError::InvalidKeyring(format!(
                "cannot remove the active key {id:?}"
            )));
        }
        if !self.contains(id) {
            return Err(CryptoError::UnknownKeyId(id.to_owned()));
        }
        Ok(Keyring {
            active: self.active.clone(),
            older: self.older.iter().filter(|k| k.id != id).cloned().collect(),
        })
    }

    /// Seals a tenant's keys under the active root key. The AAD binds each blob to the tenant and
    /// to its role: (tenant, "tenants", tenant, "data_key" / "hash_key").
    pub fn wrap_tenant_keys(&self, tenant_id: &str, keys: &TenantKeys) -> Result<WrappedTenantKeys> {
        let key = &self.active;
        Ok(WrappedTenantKeys {
            data_key: sealed::seal(
                key.bytes(),
                &key.id,
                &wrap_aad(tenant_id, WRAP_FIELD_DATA),
                keys.data_key(),
            ),
            hash_key: sealed::seal(
                key.bytes(),
                &key.id,
                &wrap_aad(tenant_id, WRAP_FIELD_HASH),
                keys.hash_key(),
            ),
        })
    }

    /// Opens a tenant's wrapped keys with whichever root key each blob names.
    ///
    /// Errors: [`CryptoError::UnknownKeyId`] when a blob names a key this keyring lacks,
    /// [`CryptoError::Decrypt`] when the blob belongs to another tenant or was tampered with,
    /// [`CryptoError::Malformed`] for bytes that are not a wrapped key.
    pub fn unwrap_tenant_keys(&self, tenant_id: &str, wrapped: &WrappedTenantKeys) -> Result<TenantKeys> {
        let data_key = self.unwrap_one(tenant_id, WRAP_FIELD_DATA, &wrapped.data_key)?;
        let hash_key = self.unwrap_one(tenant_id, WRAP_FIELD_HASH, &wrapped.hash_key)?;
        Ok(TenantKeys::from_parts(data_key, hash_key))
    }

    /// Unwraps and wraps again under the active key (what `keys rotate` does per tenant).
    pub fn rewrap_tenant_keys(
        &self,
        tenant_id: &str,
        wrapped: &WrappedTenantKeys,
    ) -> Result<WrappedTenantKeys> {
        let keys = self.unwrap_tenant_keys(tenant_id, wrapped)?;
        self.wrap_tenant_keys(tenant_id, &keys)
    }

    fn unwrap_one(&self, tenant_id: &str, field: &str, blob: &[u8]) -> Result<Zeroizing<[u8; KEY_LEN]>> {
        let parsed = sealed::parse(blob)?;
        let root = self
            .get(parsed.key_id)
            .ok_or_else(|| CryptoError::UnknownKeyId(parsed.key_id.to_owned()))?;
        let plain = sealed::open(root.bytes(), &parsed, &wrap_aad(tenant_id, field))?;
        if plain.len() != KEY_LEN {
            return Err(CryptoError::Malformed("wrapped key has the wrong length"));
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&plain);
        Ok(key)
    }

    fn keys(&self) -> impl Iterator<Item = &RootKey> {
        std::iter::once(&self.active).chain(&self.older)
    }

    fn get(&self, id: &str) -> Option<&RootKey> {
        self.keys().find(|k| k.id == id)
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("active", &self.active.id)
            .field("ids", &self.ids())
            .finish()
    }
}

fn wrap_aad<'a>(tenant_id: &'a str, field: &'a str) -> Aad<'a> {
    Aad {
        tenant: tenant_id,
        table: WRAP_TABLE,
        row_id: tenant_id,
        field,
    }
}

/// A tenant's keys as stored: both blobs are sealed under a root key and name its id. `Debug`
/// shows lengths only.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedTenantKeys {
    /// The wrapped data encryption key.
    pub data_key: Vec<u8>,
    /// The wrapped hashing key.
    pub hash_key: Vec<u8>,
}

impl WrappedTenantKeys {
    /// The root key id named in `data_key`'s header.
    pub fn root_key_id(&self) -> Result<String> {
        sealed::sealed_key_id(&self.data_key)
    }
}

impl fmt::Debug for WrappedTenantKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedTenantKeys")
            .field("data_key_len", &self.data_key.len())
            .field("hash_key_len", &self.hash_key.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn b64(byte: u8) -> String {
        STANDARD.encode([byte; KEY_LEN])
    }

    fn invalid(result: Result<Keyring>) -> String {
        match result {
            Err(CryptoError::InvalidKeyring(msg)) => msg,
            other => panic!("expected InvalidKeyring, got {other:?}"),
        }
    }

    #[test]
    fn parse_list_in_order() {
        let ring = Keyring::parse(&format!("new:{},old:{}", b64(1), b64(2))).unwrap();
        assert_eq!(ring.active_id(), "new");
        assert_eq!(ring.ids(), ["new", "old"]);
        assert!(ring.contains("old"));
        assert!(!ring.contains("other"));
        assert_eq!(
            ring.to_list().expose_secret(),
            format!("new:{},old:{}", b64(1), b64(2))
        );
    }

    #[test]
    fn parse_tolerates_file_whitespace() {
        let text = format!("  a : {} ,\n\tb:{}\r\n\n", b64(1), b64(2));
        let ring = Keyring::parse(&text).unwrap();
        assert_eq!(ring.ids(), ["a", "b"]);
        let lines = format!("a:{}\nb:{}\n", b64(1), b64(2));
        assert_eq!(Keyring::parse(&lines).unwrap().ids(), ["a", "b"]);
    }

    #[test]
    fn to_list_round_trips() {
        let ring = Keyring::from_keys(vec![
            RootKey::generate("x"),
            RootKey::generate("y-2"),
            RootKey::generate("Z_3"),
        ])
        .unwrap();
        let list = ring.to_list();
        let again = Keyring::parse(list.expose_secret()).unwrap();
        assert_eq!(again.ids(), ring.ids());
        assert_eq!(again.to_list().expose_secret(), list.expose_secret());
        for (a, b) in ring.keys().zip(again.keys()) {
            assert_eq!(*a.key, *b.key);
        }
    }

    #[test]
    fn from_single_and_root_key_base64() {
        let ring = Keyring::from_single("env", &b64(9)).unwrap();
        assert_eq!(ring.ids(), ["env"]);
        assert_eq!(ring.active.to_base64().expose_secret(), b64(9));
        let key = RootKey::generate("g");
        let again = RootKey::from_base64("g", key.to_base64().expose_secret()).unwrap();
        assert_eq!(*again.key, *key.key);
        assert_ne!(*RootKey::generate("g").key, *key.key);
    }

    #[test]
    fn parse_errors_never_contain_key_material() {
        let good = b64(0x5a);
        let short = STANDARD.encode([0x5a; 31]);
        let long = STANDARD.encode([0x5a; 33]);
        let cases = [
            (String::new(), "no keys"),
            (" ,\n , ".to_owned(), "no keys"),
            (format!("a:{}", &good[..43]), "not valid standard base64"),
            (format!("a:{}*", &good[..43]), "not valid standard base64"),
            (format!("a:{short}"), "31 bytes, expected 32"),
            (format!("a:{long}"), "33 bytes, expected 32"),
            (format!("a:{good},a:{}", b64(1)), "duplicate key id \"a\""),
            (format!(":{good}"), "empty key id"),
            (good.clone(), "expected `id:base64`"),
            (format!("a:{},{good}", b64(1)), "entry 2: expected `id:base64`"),
            (format!("bad id:{good}"), "invalid key id"),
            (format!("{good}:{good}"), "invalid key id"),
            (format!("{}:x", "k".repeat(33)), "invalid key id"),
        ];
        for (input, want) in cases {
            let msg = invalid(Keyring::parse(&input));
            assert!(msg.contains(want), "{input:?}: {msg}");
            for material in [&good, &short, &long, &good[..20], &short[..20]] {
                assert!(
                    !msg.contains(material),
                    "{input:?}: message leaks key material: {msg}"
                );
            }
        }
        let msg = invalid(Keyring::from_single("a", &short));
        assert!(!msg.contains(&short));
        let msg = invalid(Keyring::from_single("", &good));
        assert!(msg.contains("empty key id"));
    }

    #[test]
    fn from_keys_rules() {
        assert!(invalid(Keyring::from_keys(vec![])).contains("no keys"));
        let msg = invalid(Keyring::from_keys(vec![
            RootKey::generate("a"),
            RootKey::generate("a"),
        ]));
        assert!(msg.contains("duplicate key id \"a\""), "{msg}");
        let msg = invalid(Keyring::from_keys(vec![
            RootKey::generate("a"),
            RootKey::generate("no:colons"),
        ]));
        assert!(msg.contains("key 2: invalid key id"), "{msg}");
        assert!(invalid(Keyring::from_keys(vec![RootKey::generate("")])).contains("invalid key id"));
    }

    #[test]
    fn with_new_active_and_without_key() {
        let ring = Keyring::from_keys(vec![RootKey::generate("a"), RootKey::generate("b")]).unwrap();
        let rotated = ring.with_new_active(RootKey::generate("c")).unwrap();
        assert_eq!(rotated.ids(), ["c", "a", "b"]);
        assert_eq!(ring.ids(), ["a", "b"]);
        assert!(invalid(rotated.with_new_active(RootKey::generate("b"))).contains("duplicate"));

        assert_eq!(rotated.without_key("a").unwrap().ids(), ["c", "b"]);
        assert!(matches!(
            rotated.without_key("c"),
            Err(CryptoError::InvalidKeyring(_))
        ));
        assert!(matches!(rotated.without_key("zz"), Err(CryptoError::UnknownKeyId(id)) if id == "zz"));
    }

    #[test]
    fn debug_shows_ids_only() {
        let a = RootKey::generate("alpha");
        let b = RootKey::generate("beta");
        let secrets: Vec<String> = [&a, &b]
            .iter()
            .flat_map(|k| [k.to_base64().expose_secret().to_owned(), hex::encode(*k.key)])
            .collect();
        let ring = Keyring::from_keys(vec![a.clone(), b.clone()]).unwrap();
        for debug in [
            format!("{a:?}"),
            format!("{b:?}"),
            format!("{ring:?}"),
            format!("{ring:#?}"),
        ] {
            for secret in &secrets {
                assert!(!debug.contains(secret.as_str()), "{debug}");
                assert!(!debug.contains(&secret[..16]), "{debug}");
            }
        }
        assert_eq!(format!("{a:?}"), "RootKey { id: \"alpha\", .. }");
        assert_eq!(
            format!("{ring:?}"),
            "Keyring { active: \"alpha\", ids: [\"alpha\", \"beta\"] }"
        );
    }

    #[test]
    fn wrap_unwrap_and_rotation() {
        let key_a = RootKey::generate("A");
        let key_b = RootKey::generate("B");
        let ring_a = Keyring::from_keys(vec![key_a.clone()]).unwrap();
        let tenant = TenantKeys::generate();
        let wrapped = ring_a.wrap_tenant_keys("t1", &tenant).unwrap();
        assert_eq!(wrapped.root_key_id().unwrap(), "A");
        assert_eq!(sealed::sealed_key_id(&wrapped.hash_key).unwrap(), "A");

        // Rotate to [B, A]: old blobs still open, rewrapping names B.
        let ring_ba = ring_a.with_new_active(key_b.clone()).unwrap();
        assert_eq!(ring_ba.ids(), ["B", "A"]);
        let unwrapped = ring_ba.unwrap_tenant_keys("t1", &wrapped).unwrap();
        assert_eq!(unwrapped.data_key(), tenant.data_key());
        assert_eq!(unwrapped.hash_key(), tenant.hash_key());
        let rewrapped = ring_ba.wrap_tenant_keys("t1", &unwrapped).unwrap();
        assert_eq!(rewrapped.root_key_id().unwrap(), "B");
        assert_eq!(sealed::sealed_key_id(&rewrapped.hash_key).unwrap(), "B");
        let via_helper = ring_ba.rewrap_tenant_keys("t1", &wrapped).unwrap();
        assert_eq!(via_helper.root_key_id().unwrap(), "B");

        // A keyring without A cannot open the old blobs, and says which key is missing.
        let ring_b = Keyring::from_keys(vec![key_b]).unwrap();
        match ring_b.unwrap_tenant_keys("t1", &wrapped) {
            Err(CryptoError::UnknownKeyId(id)) => assert_eq!(id, "A"),
            other => panic!("expected UnknownKeyId(\"A\"), got {other:?}"),
        }
        let opened = ring_b.unwrap_tenant_keys("t1", &rewrapped).unwrap();
        assert_eq!(opened.data_key_fingerprint(), tenant.data_key_fingerprint());
        assert_eq!(
            ring_ba
                .without_key("A")
                .unwrap()
                .unwrap_tenant_keys("t1", &rewrapped)
                .unwrap()
                .hmac(b"x"),
            tenant.hmac(b"x")
        );
    }

    #[test]
    fn a_key_with_the_same_id_but_other_bytes_fails_to_decrypt() {
        let ring = Keyring::from_keys(vec![RootKey::generate("A")]).unwrap();
        let impostor = Keyring::from_keys(vec![RootKey::generate("A")]).unwrap();
        let wrapped = ring.wrap_tenant_keys("t1", &TenantKeys::generate()).unwrap();
        assert!(matches!(
            impostor.unwrap_tenant_keys("t1", &wrapped),
            Err(CryptoError::Decrypt)
        ));
    }

    #[test]
    fn wrapped_keys_are_bound_to_tenant_and_role() {
        let ring = Keyring::from_keys(vec![RootKey::generate("A")]).unwrap();
        let t1 = ring.wrap_tenant_keys("t1", &TenantKeys::generate()).unwrap();
        let t2 = ring.wrap_tenant_keys("t2", &TenantKeys::generate()).unwrap();
        assert!(matches!(
            ring.unwrap_tenant_keys("t2", &t1),
            Err(CryptoError::Decrypt)
        ));
        // t1's DEK copied into t2's record.
        let mixed = WrappedTenantKeys {
            data_key: t1.data_key.clone(),
            hash_key: t2.hash_key.clone(),
        };
        assert!(matches!(
            ring.unwrap_tenant_keys("t2", &mixed),
            Err(CryptoError::Decrypt)
        ));
        // The two blobs swapped.
        let swapped = WrappedTenantKeys {
            data_key: t1.hash_key.clone(),
            hash_key: t1.data_key.clone(),
        };
        assert!(matches!(
            ring.unwrap_tenant_keys("t1", &swapped),
            Err(CryptoError::Decrypt)
        ));
    }

    #[test]
    fn wrapped_blob_of_wrong_length_is_malformed() {
        let root = RootKey::generate("A");
        let ring = Keyring::from_keys(vec![root.clone()]).unwrap();
        let good = ring.wrap_tenant_keys("t1", &TenantKeys::generate()).unwrap();
        let short = sealed::seal(root.bytes(), "A", &wrap_aad("t1", WRAP_FIELD_DATA), &[1u8; 16]);
        let wrapped = WrappedTenantKeys {
            data_key: short,
            hash_key: good.hash_key,
        };
        assert!(matches!(
            ring.unwrap_tenant_keys("t1", &wrapped),
            Err(CryptoError::Malformed(_))
        ));
        let garbage = WrappedTenantKeys {
            data_key: vec![9, 9, 9],
            hash_key: vec![],
        };
        assert!(matches!(
            ring.unwrap_tenant_keys("t1", &garbage),
            Err(CryptoError::Malformed(_))
        ));
        assert!(garbage.root_key_id().is_err());
    }

    #[test]
    fn wrapped_debug_shows_lengths_only() {
        let ring = Keyring::from_keys(vec![RootKey::generate("A")]).unwrap();
        let wrapped = ring.wrap_tenant_keys("t1", &TenantKeys::generate()).unwrap();
        let debug = format!("{wrapped:?}");
        assert_eq!(debug, "WrappedTenantKeys { data_key_len: 63, hash_key_len: 63 }");
    }

    #[test]
    fn derived_keys_are_per_purpose_active_first_and_survive_rotation() {
        let one = Keyring::parse(&format!("a:{}", b64(1))).unwrap();
        let keys = one.derived_keys("ui-csrf");
        assert_eq!(keys.len(), 1);
        assert_ne!(*keys[0], [1u8; KEY_LEN]);
        assert_ne!(*keys[0], *one.derived_keys("ui-flash")[0]);
        assert_eq!(
            *keys[0],
            *Keyring::parse(&format!("a:{}", b64(1)))
                .unwrap()
                .derived_keys("ui-csrf")[0]
        );
        let rotated = one
            .with_new_active(RootKey::from_base64("b", &b64(2)).unwrap())
            .unwrap();
        let after = rotated.derived_keys("ui-csrf");
        assert_eq!(after.len(), 2);
        assert_ne!(*after[0], *keys[0]);
        assert_eq!(*after[1], *keys[0], "the old key's derivation is still accepted");
    }
}
