//! API keys, random tokens, hashes and constant-time comparison.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Prefix of every labgate API key.
pub const API_KEY_PREFIX: &str = "lgk_";
/// Random bytes in an API key.
const API_KEY_RANDOM_BYTES: usize = 32;
/// Length of an API key: the prefix and 32 bytes in unpadded base64url (43 characters).
pub const API_KEY_LEN: usize = API_KEY_PREFIX.len() + 43;
/// Characters of the token shown for display.
const API_KEY_DISPLAY_LEN: usize = 12;

/// A freshly generated API key. The token is shown to the user once; only `hash` and `prefix`
/// are stored. `Debug` redacts the token.
pub struct GeneratedApiKey {
    /// The full token, `lgk_` followed by 43 base64url characters.
    pub token: SecretString,
    /// SHA-256 of the token, as stored.
    pub hash: [u8; 32],
    /// The first 12 characters of the token (for display, e.g. `lgk_AbCdEfGh`).
    pub prefix: String,
}

impl fmt::Debug for GeneratedApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedApiKey")
            .field("token", &"[REDACTED]")
            .field("hash", &hex::encode(self.hash))
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// Generates a new API key: `lgk_` and 32 random bytes in unpadded base64url.
pub fn generate_api_key() -> GeneratedApiKey {
    let mut bytes = Zeroizing::new([0u8; API_KEY_RANDOM_BYTES]);
    OsRng.fill_bytes(&mut *bytes);
    let mut token = String::with_capacity(API_KEY_LEN);
    token.push_str(API_KEY_PREFIX);
    URL_SAFE_NO_PAD.encode_string(bytes.as_slice(), &mut token);
    let hash = hash_api_key(&token);
    let prefix = token.chars().take(API_KEY_DISPLAY_LEN).collect();
    GeneratedApiKey {
        token: SecretString::from(token),
        hash,
        prefix,
    }
}

/// SHA-256 of an API key, as stored and looked up.
pub fn hash_api_key(token: &str) -> [u8; 32] {
    sha256(token.as_bytes())
}

/// Cheap pre-filter before a lookup: the `lgk_` prefix, the exact length and the base64url
/// alphabet (with the last character one that 32 bytes can end on).
pub fn looks_like_api_key(token: &str) -> bool {
    let Some(body) = token.strip_prefix(API_KEY_PREFIX) else {
        return false;
    };
    token.len() == API_KEY_LEN
        && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        // 43 characters carry 258 bits; the last character's two low bits must be zero.
        && body.bytes().last().is_some_and(|b| b"AEIMQUYcgkosw048".contains(&b))
}

/// Compares two byte strings in time independent of their contents (lengths are not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// `bytes` random bytes in unpadded base64url, for webhook secrets, OAuth states, CSRF tokens.
pub fn random_token(bytes: usize) -> SecretString {
    let mut raw = Zeroizing::new(vec![0u8; bytes]);
    OsRng.fill_bytes(&mut raw);
    let mut out = String::with_capacity(bytes.saturating_mul(4).div_ceil(3));
    URL_SAFE_NO_PAD.encode_string(&*raw, &mut out);
    SecretString::from(out)
}

/// SHA-256.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// HMAC-SHA256 (outgoing webhook signatures over `timestamp.body`, credential hashes).
#[allow(clippy::expect_used, reason = "HMAC accepts keys of any length")]
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn api_key_format_and_hash() {
        let key = generate_api_key();
        let token = key.token.expose_secret();
        assert!(token.starts_with("lgk_"));
        assert_eq!(token.len(), API_KEY_LEN);
        assert_eq!(token.len(), 47);
        assert!(
            token[4..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        let decoded = URL_SAFE_NO_PAD.decode(&token[4..]).unwrap();
        assert_eq!(decoded.len(), 32);
        assert_eq!(key.prefix, &token[..12]);
        assert_eq!(key.hash, hash_api_key(token));
        assert_eq!(key.hash, sha256(token.as_bytes()));
        assert!(looks_like_api_key(token));
        assert_ne!(generate_api_key().token.expose_secret(), token);
    }

    #[test]
    fn many_generated_keys_pass_the_filter() {
        for _ in 0..200 {
            let key = generate_api_key();
            assert!(looks_like_api_key(key.token.expose_secret()), "{}", key.prefix);
        }
    }

    #[test]
    fn looks_like_api_key_rejects() {
        let good = generate_api_key();
        let good = good.token.expose_secret();
        assert!(!looks_like_api_key(""));
        assert!(!looks_like_api_key("lgk_"));
        assert!(!looks_like_api_key(&good[..46]));
        assert!(!looks_like_api_key(&format!("{good}A")));
        assert!(!looks_like_api_key(&format!("lgx_{}", &good[4..])));
        assert!(!looks_like_api_key(&format!("lgk_{}+", &good[4..46])));
        assert!(!looks_like_api_key(&format!("lgk_{}=", &good[4..46])));
        // A last character carrying non-zero padding bits cannot come from 32 bytes.
        assert!(!looks_like_api_key(&format!("lgk_{}B", &good[4..46])));
        assert!(looks_like_api_key(&format!("lgk_{}A", &good[4..46])));
        assert!(!looks_like_api_key(&format!("glpat-{}", &good[6..])));
    }

    #[test]
    fn hash_api_key_is_sha256() {
        // SHA-256("abc"), FIPS 180-2.
        assert_eq!(
            hex::encode(hash_api_key("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hmac_sha256_vectors() {
        // RFC 4231 test case 2.
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // RFC 4231 test case 6: key longer than the block size.
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn constant_time_eq_cases() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"secret", b""));
    }

    #[test]
    fn random_tokens() {
        for n in [0usize, 1, 2, 3, 16, 32, 33] {
            let t = random_token(n);
            let t = t.expose_secret();
            assert_eq!(t.len(), (n * 4).div_ceil(3), "{n}");
            assert_eq!(URL_SAFE_NO_PAD.decode(t).unwrap().len(), n);
        }
        assert_ne!(random_token(32).expose_secret(), random_token(32).expose_secret());
    }

    #[test]
    fn debug_redacts_token() {
        let key = generate_api_key();
        let debug = format!("{key:?}");
        let token = key.token.expose_secret();
        assert!(!debug.contains(token), "{debug}");
        assert!(!debug.contains(&token[12..]), "{debug}");
        assert!(debug.contains(&key.prefix));
    }
}
