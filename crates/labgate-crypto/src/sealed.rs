//! The sealed format shared by root-key wrapping and tenant values:
//!
//! ```text
//! version u8 (= 1) ‖ key-id length u8 ‖ key id (ASCII) ‖ nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)
//! ```
//!
//! The cipher is AES-256-GCM with a random 96-bit nonce. The GCM associated data is the header
//! (`version ‖ key-id length ‖ key id`) followed by the encoded [`Aad`], so neither the header nor
//! the value's place can be changed without failing authentication.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use rand::RngCore;
use rand::rngs::OsRng;
use zeroize::{Zeroize, Zeroizing};

use crate::{Aad, CryptoError, Result};

/// The only version of the sealed format this crate writes and reads.
pub const SEALED_VERSION: u8 = 1;
pub(crate) const KEY_LEN: usize = 32;
pub(crate) const NONCE_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;
/// Longest key id, in bytes (root key ids and DEK fingerprints alike).
pub(crate) const MAX_ID_LEN: usize = 32;

/// Whether `id` is a valid key id: 1 to 32 characters of `[A-Za-z0-9_-]`.
pub(crate) fn valid_key_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A sealed value split into its parts. Borrowed from the input.
pub(crate) struct Parsed<'a> {
    pub(crate) key_id: &'a str,
    header: &'a [u8],
    nonce: [u8; NONCE_LEN],
    body: &'a [u8],
}

pub(crate) fn parse(sealed: &[u8]) -> Result<Parsed<'_>> {
    let (&version, rest) = sealed.split_first().ok_or(CryptoError::Malformed("empty"))?;
    if version != SEALED_VERSION {
        return Err(CryptoError::Malformed("unsupported version"));
    }
    let (&id_len, rest) = rest
        .split_first()
        .ok_or(CryptoError::Malformed("truncated header"))?;
    let id_len = usize::from(id_len);
    let (id, rest) = rest
        .split_at_checked(id_len)
        .ok_or(CryptoError::Malformed("truncated header"))?;
    let key_id = std::str::from_utf8(id)
        .ok()
        .filter(|id| valid_key_id(id))
        .ok_or(CryptoError::Malformed("invalid key id"))?;
    let (nonce, body) = rest
        .split_at_checked(NONCE_LEN)
        .ok_or(CryptoError::Malformed("truncated nonce"))?;
    if body.len() < TAG_LEN {
        return Err(CryptoError::Malformed("truncated ciphertext"));
    }
    let (header, _) = sealed
        .split_at_checked(2 + id_len)
        .ok_or(CryptoError::Malformed("truncated header"))?;
    let nonce = <[u8; NONCE_LEN]>::try_from(nonce).map_err(|_| CryptoError::Malformed("truncated nonce"))?;
    Ok(Parsed {
        key_id,
        header,
        nonce,
        body,
    })
}

/// The key id named in a sealed value's header (a root key id for wrapped tenant keys, a DEK
/// fingerprint for tenant values), without decrypting anything.
pub fn sealed_key_id(sealed: &[u8]) -> Result<String> {
    parse(sealed).map(|p| p.key_id.to_owned())
}

fn cipher(key: &[u8; KEY_LEN]) -> Aes256Gcm {
    let key: &Key<Aes256Gcm> = key.into();
    Aes256Gcm::new(key)
}

fn full_aad(header: &[u8], aad: &Aad<'_>) -> Vec<u8> {
    let mut out = header.to_vec();
    out.extend_from_slice(&aad.to_bytes());
    out
}

/// Seals `plaintext` under `key`, naming `key_id` in the header. `key_id` must be valid (checked
/// where keys and fingerprints are made).
#[allow(
    clippy::expect_used,
    reason = "AES-GCM only refuses plaintexts longer than 2^36 bytes, far beyond any value labgate stores"
)]
pub(crate) fn seal(key: &[u8; KEY_LEN], key_id: &str, aad: &Aad<'_>, plaintext: &[u8]) -> Vec<u8> {
    debug_assert!(valid_key_id(key_id), "invalid key id");
    let id_len = u8::try_from(key_id.len()).unwrap_or(u8::MAX);
    let mut header = Vec::with_capacity(2 + key_id.len());
    header.push(SEALED_VERSION);
    header.push(id_len);
    header.extend_from_slice(key_id.as_bytes());

    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);

    // Encrypt in a buffer of its own; it holds plaintext only until encryption succeeds.
    let mut body = Zeroizing::new(Vec::with_capacity(plaintext.len() + TAG_LEN));
    body.extend_from_slice(plaintext);
    cipher(key)
        .encrypt_in_place(&Nonce::from(nonce), &full_aad(&header, aad), &mut *body)
        .expect("AES-GCM plaintext within size limit");

    let mut out = Vec::with_capacity(header.len() + NONCE_LEN + body.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&body);
    out
}

/// Opens a parsed sealed value with `key`. The caller has already matched the key id.
pub(crate) fn open(key: &[u8; KEY_LEN], parsed: &Parsed<'_>, aad: &Aad<'_>) -> Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(Vec::with_capacity(parsed.body.len()));
    buf.extend_from_slice(parsed.body);
    match cipher(key).decrypt_in_place(
        &Nonce::from(parsed.nonce),
        &full_aad(parsed.header, aad),
        &mut *buf,
    ) {
        Ok(()) => Ok(buf),
        Err(_) => {
            buf.zeroize();
            Err(CryptoError::Decrypt)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7u8; 32];
    const AAD: Aad<'static> = Aad::new("t1", "connections", "row-1", "token");

    #[test]
    fn layout_and_round_trip() {
        let sealed = seal(&KEY, "k1", &AAD, b"hello");
        assert_eq!(sealed.len(), 1 + 1 + 2 + NONCE_LEN + 5 + TAG_LEN);
        assert_eq!(sealed[0], SEALED_VERSION);
        assert_eq!(sealed[1], 2);
        assert_eq!(&sealed[2..4], b"k1");
        assert_eq!(sealed_key_id(&sealed).unwrap(), "k1");
        let parsed = parse(&sealed).unwrap();
        assert_eq!(open(&KEY, &parsed, &AAD).unwrap().as_slice(), b"hello");
    }

    #[test]
    fn nonces_differ() {
        let a = seal(&KEY, "k1", &AAD, b"same");
        let b = seal(&KEY, "k1", &AAD, b"same");
        assert_ne!(a, b);
    }

    #[test]
    fn empty_plaintext() {
        let sealed = seal(&KEY, "k1", &AAD, b"");
        let parsed = parse(&sealed).unwrap();
        assert!(open(&KEY, &parsed, &AAD).unwrap().is_empty());
    }

    #[test]
    fn malformed_inputs() {
        let sealed = seal(&KEY, "k1", &AAD, b"hello");
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "empty"),
            (vec![2, 2, b'k', b'1'], "unsupported version"),
            (vec![1], "truncated header"),
            (vec![1, 5, b'k'], "truncated header"),
            (vec![1, 0], "invalid key id"),
            (vec![1, 2, b'k', b'!'], "invalid key id"),
            (vec![1, 2, 0xff, 0xfe], "invalid key id"),
            (sealed[..4 + NONCE_LEN - 1].to_vec(), "truncated nonce"),
            (
                sealed[..4 + NONCE_LEN + TAG_LEN - 1].to_vec(),
                "truncated ciphertext",
            ),
        ];
        for (bytes, want) in cases {
            match parse(&bytes) {
                Err(CryptoError::Malformed(m)) => assert_eq!(m, want, "{bytes:?}"),
                Err(e) => panic!("{bytes:?}: unexpected {e:?}"),
                Ok(_) => panic!("{bytes:?}: parsed"),
            }
        }
        // A sealed value of an empty plaintext is exactly header + nonce + tag and parses.
        assert!(parse(&sealed[..4 + NONCE_LEN + TAG_LEN]).is_ok());
    }

    #[test]
    fn key_id_rules() {
        assert!(valid_key_id("A"));
        assert!(valid_key_id("key_2024-01"));
        assert!(valid_key_id(&"x".repeat(32)));
        assert!(!valid_key_id(""));
        assert!(!valid_key_id(&"x".repeat(33)));
        assert!(!valid_key_id("a b"));
        assert!(!valid_key_id("a:b"));
        assert!(!valid_key_id("é"));
    }
}
