//! Property tests: round trips, AAD binding, tampering, encodings.

use labgate_crypto::{Aad, CryptoError, Keyring, RootKey, TenantKeys, sealed_key_id};
use proptest::prelude::*;
use secrecy::{ExposeSecret, SecretString};

/// Short strings, including empty ones and non-ASCII text.
fn part() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[a-z0-9_-]{1,12}", "\\PC{0,16}"]
}

fn aad_parts() -> impl Strategy<Value = (String, String, String, String)> {
    (part(), part(), part(), part())
}

fn aad(p: &(String, String, String, String)) -> Aad<'_> {
    Aad::new(&p.0, &p.1, &p.2, &p.3)
}

fn key_id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,32}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn seal_open_round_trip(parts in aad_parts(), plaintext in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let keys = TenantKeys::generate();
        let sealed = keys.seal(&aad(&parts), &plaintext);
        prop_assert_eq!(sealed.len(), 2 + 16 + 12 + plaintext.len() + 16);
        prop_assert_eq!(sealed_key_id(&sealed).unwrap(), keys.data_key_fingerprint());
        let opened = keys.open(&aad(&parts), &sealed).unwrap();
        prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
    }

    #[test]
    fn seal_str_round_trip(parts in aad_parts(), text in "\\PC{0,64}") {
        let keys = TenantKeys::generate();
        let sealed = keys.seal_str(&aad(&parts), &SecretString::from(text.clone()));
        let opened = keys.open_str(&aad(&parts), &sealed).unwrap();
        prop_assert_eq!(opened.expose_secret(), text.as_str());
    }

    #[test]
    fn other_aad_is_rejected(a in aad_parts(), b in aad_parts(), plaintext in proptest::collection::vec(any::<u8>(), 0..64)) {
        prop_assume!(a != b);
        let keys = TenantKeys::generate();
        let sealed = keys.seal(&aad(&a), &plaintext);
        prop_assert!(matches!(keys.open(&aad(&b), &sealed), Err(CryptoError::Decrypt)));
    }

    #[test]
    fn aad_encoding_is_injective(a in aad_parts(), b in aad_parts()) {
        prop_assert_eq!(a == b, aad(&a).to_bytes() == aad(&b).to_bytes());
    }

    #[test]
    fn any_single_byte_change_is_rejected(
        plaintext in proptest::collection::vec(any::<u8>(), 0..64),
        index in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let parts = ("t".to_owned(), "secrets".to_owned(), "r".to_owned(), "value".to_owned());
        let keys = TenantKeys::generate();
        let mut sealed = keys.seal(&aad(&parts), &plaintext);
        let i = index.index(sealed.len());
        sealed[i] ^= flip;
        prop_assert!(keys.open(&aad(&parts), &sealed).is_err());
    }

    #[test]
    fn keyring_list_round_trip(ids in proptest::collection::hash_set(key_id(), 1..6)) {
        let ids: Vec<String> = ids.into_iter().collect();
        let ring = Keyring::from_keys(ids.iter().map(|id| RootKey::generate(id)).collect()).unwrap();
        let again = Keyring::parse(ring.to_list().expose_secret()).unwrap();
        prop_assert_eq!(again.ids(), ids.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert_eq!(again.active_id(), ids[0].as_str());
        let (list, list_again) = (ring.to_list(), again.to_list());
        prop_assert_eq!(list_again.expose_secret(), list.expose_secret());
    }

    #[test]
    fn wrap_unwrap_round_trip(id in key_id(), tenant in "\\PC{0,24}", other in "\\PC{0,24}") {
        let ring = Keyring::from_keys(vec![RootKey::generate(&id)]).unwrap();
        let keys = TenantKeys::generate();
        let wrapped = ring.wrap_tenant_keys(&tenant, &keys).unwrap();
        prop_assert_eq!(wrapped.root_key_id().unwrap(), id);
        let back = ring.unwrap_tenant_keys(&tenant, &wrapped).unwrap();
        prop_assert_eq!(back.data_key_fingerprint(), keys.data_key_fingerprint());
        prop_assert_eq!(back.hmac(b"x"), keys.hmac(b"x"));
        if other != tenant {
            prop_assert!(matches!(ring.unwrap_tenant_keys(&other, &wrapped), Err(CryptoError::Decrypt)));
        }
    }
}
