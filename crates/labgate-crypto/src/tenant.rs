//! A tenant's unwrapped keys.

use std::fmt;

use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::sealed::{self, KEY_LEN};
use crate::{Aad, CryptoError, Result, hmac_sha256};

/// Message whose HMAC under the DEK gives the DEK's fingerprint.
const DEK_ID_LABEL: &[u8] = b"labgate-dek-id";
/// Length of the DEK fingerprint in hex characters (64 bits).
const DEK_ID_HEX_LEN: usize = 16;

/// A tenant's keys: the data encryption key (DEK), which seals stored secrets and can be rotated,
/// and the hashing key, which computes credential hashes and is kept across DEK rotation.
///
/// Both keys are zeroized on drop; `Debug` prints only the DEK fingerprint.
#[derive(Clone)]
pub struct TenantKeys {
    data_key: Zeroizing<[u8; KEY_LEN]>,
    hash_key: Zeroizing<[u8; KEY_LEN]>,
    /// Cached [`TenantKeys::data_key_fingerprint`].
    dek_id: String,
}

impl TenantKeys {
    /// Fresh random keys for a new tenant.
    pub fn generate() -> TenantKeys {
        TenantKeys::from_parts(random_key(), random_key())
    }

    /// The same hashing key with a new random DEK (for `keys rotate-tenant`).
    pub fn with_fresh_data_key(&self) -> TenantKeys {
        TenantKeys::from_parts(random_key(), self.hash_key.clone())
    }

    pub(crate) fn from_parts(
        data_key: Zeroizing<[u8; KEY_LEN]>,
        hash_key: Zeroizing<[u8; KEY_LEN]>,
    ) -> TenantKeys {
        let mut dek_id = hex::encode(hmac_sha256(&*data_key, DEK_ID_LABEL));
        dek_id.truncate(DEK_ID_HEX_LEN);
        TenantKeys {
            data_key,
            hash_key,
            dek_id,
        }
    }

    pub(crate) fn data_key(&self) -> &[u8; KEY_LEN] {
        &self.data_key
    }

    pub(crate) fn hash_key(&self) -> &[u8; KEY_LEN] {
        &self.hash_key
    }

    /// Seals `plaintext` with the DEK (AES-256-GCM, random 96-bit nonce) under `aad`. The header
    /// names the DEK fingerprint.
    pub fn seal(&self, aad: &Aad<'_>, plaintext: &[u8]) -> Vec<u8> {
        sealed::seal(&self.data_key, &self.dek_id, aad, plaintext)
    }

    /// Opens a value sealed by [`TenantKeys::seal`] under the same `aad`.
    ///
    /// Errors: [`CryptoError::UnknownKeyId`] with the fingerprint in the header when the value was
    /// sealed under another DEK, [`CryptoError::Decrypt`] for a wrong `aad` or tampered bytes,
    /// [`CryptoError::Malformed`] for bytes that are not a sealed value.
    pub fn open(&self, aad: &Aad<'_>, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let parsed = sealed::parse(sealed)?;
        if parsed.key_id != self.dek_id {
            return Err(CryptoError::UnknownKeyId(parsed.key_id.to_owned()));
        }
        sealed::open(&self.data_key, &parsed, aad)
    }

    /// [`TenantKeys::seal`] for a secret string.
    pub fn seal_str(&self, aad: &Aad<'_>, plaintext: &SecretString) -> Vec<u8> {
        self.seal(aad, plaintext.expose_secret().as_bytes())
    }

    /// [`TenantKeys::open`] for a secret string; a plaintext that is not UTF-8 is a
    /// [`CryptoError::Decrypt`].
    pub fn open_str(&self, aad: &Aad<'_>, sealed: &[u8]) -> Result<SecretString> {
        let bytes = self.open(aad, sealed)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| CryptoError::Decrypt)?;
        // Exact capacity, so turning the String into a boxed str does not reallocate and leave an
        // unzeroized copy behind.
        let mut owned = String::with_capacity(text.len());
        owned.push_str(text);
        Ok(SecretString::from(owned))
    }

    /// HMAC-SHA256 of `data` under the hashing key (credential hashes).
    pub fn hmac(&self, data: &[u8]) -> [u8; 32] {
        hmac_sha256(&*self.hash_key, data)
    }

    /// [`TenantKeys::hmac`] in lowercase hex.
    pub fn hmac_hex(&self, data: &[u8]) -> String {
        hex::encode(self.hmac(data))
    }

    /// A short, non-secret id of the DEK: the first 16 hex characters of
    /// HMAC-SHA256(DEK, "labgate-dek-id"). It is also the key id in every value's header.
    pub fn data_key_fingerprint(&self) -> String {
        self.dek_id.clone()
    }
}

impl fmt::Debug for TenantKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantKeys")
            .field("data_key_fingerprint", &self.dek_id)
            .finish_non_exhaustive()
    }
}

fn random_key() -> Zeroizing<[u8; KEY_LEN]> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    OsRng.fill_bytes(&mut *key);
    key
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    use super::*;

    const AAD: Aad<'static> = Aad::new("t1", "connections", "c-1", "token");

    #[test]
    fn round_trip() {
        let keys = TenantKeys::generate();
        let sealed = keys.seal(&AAD, b"glpat-secret");
        assert_eq!(keys.open(&AAD, &sealed).unwrap().as_slice(), b"glpat-secret");
        let secret = SecretString::from("glpat-string".to_owned());
        let sealed = keys.seal_str(&AAD, &secret);
        assert_eq!(
            keys.open_str(&AAD, &sealed).unwrap().expose_secret(),
            "glpat-string"
        );
    }

    #[test]
    fn header_names_the_dek_fingerprint() {
        let keys = TenantKeys::generate();
        let fp = keys.data_key_fingerprint();
        assert_eq!(fp.len(), 16);
        assert!(fp.bytes().all(|b| b.is_ascii_hexdigit()));
        let expected = hex::encode(hmac_sha256(&*keys.data_key, b"labgate-dek-id"));
        assert_eq!(fp, expected[..16]);
        assert_eq!(sealed::sealed_key_id(&keys.seal(&AAD, b"x")).unwrap(), fp);
    }

    #[test]
    fn fresh_data_key_keeps_hmac_and_changes_fingerprint() {
        let keys = TenantKeys::generate();
        let rotated = keys.with_fresh_data_key();
        assert_eq!(keys.hmac(b"glpat-abc"), rotated.hmac(b"glpat-abc"));
        assert_eq!(keys.hmac_hex(b"glpat-abc"), rotated.hmac_hex(b"glpat-abc"));
        assert_ne!(keys.data_key_fingerprint(), rotated.data_key_fingerprint());
        assert_ne!(*keys.data_key, *rotated.data_key);

        // A value sealed under the old DEK is recognisable as such.
        let old = keys.seal(&AAD, b"v");
        match rotated.open(&AAD, &old) {
            Err(CryptoError::UnknownKeyId(id)) => assert_eq!(id, keys.data_key_fingerprint()),
            other => panic!("expected UnknownKeyId, got {other:?}"),
        }
    }

    #[test]
    fn hmac_is_keyed_per_tenant() {
        let a = TenantKeys::generate();
        let b = TenantKeys::generate();
        assert_ne!(a.hmac(b"token"), b.hmac(b"token"));
        assert_eq!(a.hmac(b"token"), hmac_sha256(&*a.hash_key, b"token"));
        assert_eq!(a.hmac_hex(b"token"), hex::encode(a.hmac(b"token")));
        assert_eq!(a.hmac_hex(b"token").len(), 64);
    }

    #[test]
    fn moved_ciphertext_fails_for_each_part_of_the_aad() {
        let keys = TenantKeys::generate();
        let sealed = keys.seal(&AAD, b"secret");
        let moved = [
            Aad { tenant: "t2", ..AAD },
            Aad {
                table: "instances",
                ..AAD
            },
            Aad { row_id: "c-2", ..AAD },
            Aad {
                field: "refresh_token",
                ..AAD
            },
        ];
        for aad in moved {
            assert!(
                matches!(keys.open(&aad, &sealed), Err(CryptoError::Decrypt)),
                "{aad:?}"
            );
        }
        // Same concatenation, different split.
        let sealed = keys.seal(&Aad::new("ab", "c", "r", "f"), b"secret");
        assert!(matches!(
            keys.open(&Aad::new("a", "bc", "r", "f"), &sealed),
            Err(CryptoError::Decrypt)
        ));
    }

    #[test]
    fn tampering_any_byte_fails() {
        let keys = TenantKeys::generate();
        let sealed = keys.seal(&AAD, b"a secret value");
        let header_len = 2 + keys.data_key_fingerprint().len();
        for i in 0..sealed.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = sealed.clone();
                bad[i] ^= flip;
                let result = keys.open(&AAD, &bad);
                assert!(result.is_err(), "byte {i} ^ {flip:#x} accepted");
                if i >= header_len {
                    assert!(
                        matches!(result, Err(CryptoError::Decrypt)),
                        "byte {i}: {result:?}"
                    );
                }
            }
        }
        // Truncation and extension fail too.
        for len in 0..sealed.len() {
            assert!(keys.open(&AAD, &sealed[..len]).is_err(), "truncated to {len}");
        }
        let mut longer = sealed.clone();
        longer.push(0);
        assert!(matches!(keys.open(&AAD, &longer), Err(CryptoError::Decrypt)));
    }

    #[test]
    fn open_str_rejects_non_utf8() {
        let keys = TenantKeys::generate();
        let sealed = keys.seal(&AAD, &[0xff, 0xfe, 0x00]);
        assert!(keys.open(&AAD, &sealed).is_ok());
        assert!(matches!(keys.open_str(&AAD, &sealed), Err(CryptoError::Decrypt)));
    }

    #[test]
    fn other_tenant_keys_cannot_open() {
        let a = TenantKeys::generate();
        let b = TenantKeys::generate();
        let sealed = a.seal(&AAD, b"x");
        assert!(matches!(b.open(&AAD, &sealed), Err(CryptoError::UnknownKeyId(_))));
    }

    #[test]
    fn debug_contains_no_key_material() {
        let keys = TenantKeys::generate();
        let debug = format!("{keys:?} {keys:#?}");
        for key in [&*keys.data_key, &*keys.hash_key] {
            for encoded in [
                hex::encode(key),
                STANDARD.encode(key),
                URL_SAFE_NO_PAD.encode(key),
            ] {
                assert!(!debug.contains(&encoded), "{debug}");
                assert!(!debug.contains(&encoded[..12]), "{debug}");
            }
        }
        assert!(debug.contains(&keys.data_key_fingerprint()));
    }
}
