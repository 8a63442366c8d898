//! Scenarios through the public API: rotation, redaction, API keys.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use labgate_crypto::{
    Aad, CryptoError, Keyring, RootKey, TenantKeys, generate_api_key, hash_api_key, looks_like_api_key,
    sha256,
};
use secrecy::{ExposeSecret, SecretString};

const AAD: Aad<'static> = Aad::new("tenant-1", "connections", "conn-1", "access_token");

/// A keyring of one key with the given bytes, so the test knows the key material.
fn ring_with(id: &str, byte: u8) -> (Keyring, String) {
    let b64 = STANDARD.encode([byte; 32]);
    (Keyring::from_single(id, &b64).unwrap(), b64)
}

#[test]
fn root_key_rotation_keeps_tenant_data_readable() {
    let key_a = RootKey::generate("A");
    let ring_a = Keyring::from_keys(vec![key_a.clone()]).unwrap();
    let tenant = TenantKeys::generate();
    let wrapped = ring_a.wrap_tenant_keys("tenant-1", &tenant).unwrap();
    let value = tenant.seal_str(&AAD, &SecretString::from("glpat-xyz".to_owned()));
    assert_eq!(wrapped.root_key_id().unwrap(), "A");

    let ring_ba = ring_a.with_new_active(RootKey::generate("B")).unwrap();
    assert_eq!(ring_ba.ids(), ["B", "A"]);
    let unwrapped = ring_ba.unwrap_tenant_keys("tenant-1", &wrapped).unwrap();
    assert_eq!(
        unwrapped.open_str(&AAD, &value).unwrap().expose_secret(),
        "glpat-xyz"
    );
    let rewrapped = ring_ba.wrap_tenant_keys("tenant-1", &unwrapped).unwrap();
    assert_eq!(rewrapped.root_key_id().unwrap(), "B");

    // The operator drops A before rewrapping: the old record names the missing key.
    let list = ring_ba.to_list();
    let first_entry = list.expose_secret().split(',').next().unwrap();
    let ring_b = Keyring::parse(first_entry).unwrap();
    assert_eq!(ring_b.ids(), ["B"]);
    match ring_b.unwrap_tenant_keys("tenant-1", &wrapped) {
        Err(CryptoError::UnknownKeyId(id)) => assert_eq!(id, "A"),
        other => panic!("expected UnknownKeyId(\"A\"), got {other:?}"),
    }
    let keys = ring_b.unwrap_tenant_keys("tenant-1", &rewrapped).unwrap();
    assert_eq!(keys.open_str(&AAD, &value).unwrap().expose_secret(), "glpat-xyz");
}

#[test]
fn unknown_key_id_names_the_id() {
    let (ring_old, _) = ring_with("old-key_1", 1);
    let (ring_new, _) = ring_with("new", 2);
    let wrapped = ring_old.wrap_tenant_keys("t", &TenantKeys::generate()).unwrap();
    let err = ring_new.unwrap_tenant_keys("t", &wrapped).unwrap_err();
    assert!(
        matches!(&err, CryptoError::UnknownKeyId(id) if id == "old-key_1"),
        "{err:?}"
    );
    assert!(err.to_string().contains("old-key_1"), "{err}");
}

#[test]
fn tenant_dek_rotation() {
    let keys = TenantKeys::generate();
    let old_fp = keys.data_key_fingerprint();
    let old_value = keys.seal(&AAD, b"secret");
    let rotated = keys.with_fresh_data_key();
    assert_eq!(rotated.hmac(b"glpat-1"), keys.hmac(b"glpat-1"));
    assert_eq!(rotated.hmac_hex(b"glpat-1"), keys.hmac_hex(b"glpat-1"));
    assert_ne!(rotated.data_key_fingerprint(), old_fp);
    assert!(matches!(rotated.open(&AAD, &old_value), Err(CryptoError::UnknownKeyId(fp)) if fp == old_fp));
    // Re-encrypt: open with the old keys, seal with the new.
    let resealed = rotated.seal(&AAD, &keys.open(&AAD, &old_value).unwrap());
    assert_eq!(rotated.open(&AAD, &resealed).unwrap().as_slice(), b"secret");
    assert_eq!(
        labgate_crypto::sealed_key_id(&resealed).unwrap(),
        rotated.data_key_fingerprint()
    );
}

#[test]
fn debug_output_contains_no_key_material() {
    let (ring, b64) = ring_with("A", 0x3c);
    let hex_key = hex::encode([0x3c; 32]);
    let root = RootKey::from_base64("A", &b64).unwrap();
    let tenant = ring
        .unwrap_tenant_keys("t", &ring.wrap_tenant_keys("t", &TenantKeys::generate()).unwrap())
        .unwrap();
    let api_key = generate_api_key();
    let token = api_key.token.expose_secret().to_owned();

    let debug =
        format!("{root:?} {root:#?} {ring:?} {ring:#?} {tenant:?} {tenant:#?} {api_key:?} {api_key:#?}");
    for secret in [
        b64.as_str(),
        &b64[..16],
        hex_key.as_str(),
        &hex_key[..16],
        token.as_str(),
        &token[12..],
    ] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    assert!(debug.contains("RootKey"));
    assert!(debug.contains(&api_key.prefix));
}

#[test]
fn api_key_format_and_hash() {
    let key = generate_api_key();
    let token = key.token.expose_secret();
    assert_eq!(token.len(), 47);
    assert!(token.starts_with("lgk_"));
    assert_eq!(key.prefix.len(), 12);
    assert!(token.starts_with(&key.prefix));
    assert_eq!(key.hash, hash_api_key(token));
    assert_eq!(key.hash, sha256(token.as_bytes()));
    assert!(looks_like_api_key(token));
    assert!(!looks_like_api_key(&token.replace("lgk_", "lgK_")));
}
