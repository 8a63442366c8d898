//! Passwords of people who log in to the web UI: argon2id hashes in PHC string form, with
//! argon2's recommended cost (19 MiB, two passes), and generated passwords.

use std::sync::OnceLock;

use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use rand::Rng;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};

use crate::{CryptoError, Result};

/// Characters of generated passwords: letters and digits without the look-alikes (0/O, 1/l/I),
/// so a password read off a terminal is typed right the first time.
const GENERATED_ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// The argon2id hash of `password`, with a fresh random salt, as a PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$…`). Slow on purpose: run it off the async executor.
pub fn hash_password(password: &SecretString) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| CryptoError::Password)
}

/// Whether `password` matches the stored PHC hash. The comparison is constant-time; a stored
/// value that is not a PHC string never matches.
pub fn verify_password(password: &SecretString, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(hash) => Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the time a [`verify_password`] against a real hash takes, and never matches: a login
/// for an unknown account must take as long as one with a wrong password, or the time tells
/// which accounts exist.
pub fn verify_password_against_nothing(password: &SecretString) {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        let random = SecretString::from(crate::random_token(24).expose_secret().to_owned());
        hash_password(&random).ok()
    });
    if let Some(dummy) = dummy {
        let _ = verify_password(password, dummy);
    }
}

/// A random password of `length` letters and digits (without look-alikes).
pub fn generate_password(length: usize) -> SecretString {
    let mut rng = OsRng;
    let password: String = (0..length)
        .map(|_| {
            let index = rng.gen_range(0..GENERATED_ALPHABET.len());
            char::from(GENERATED_ALPHABET.get(index).copied().unwrap_or(b'x'))
        })
        .collect();
    SecretString::from(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password() {
        let password = SecretString::from("correct horse battery staple");
        let hash = hash_password(&password).unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert!(verify_password(&password, &hash));
        assert!(!verify_password(
            &SecretString::from("correct horse battery stapler"),
            &hash
        ));
        assert!(!verify_password(&password, "not a hash"));
        assert_ne!(hash, hash_password(&password).unwrap(), "salts differ");
        verify_password_against_nothing(&password);
    }

    #[test]
    fn generated_passwords_are_long_random_and_plain() {
        let one = generate_password(24);
        let two = generate_password(24);
        assert_eq!(one.expose_secret().len(), 24);
        assert_ne!(one.expose_secret(), two.expose_secret());
        assert!(
            one.expose_secret()
                .bytes()
                .all(|b| GENERATED_ALPHABET.contains(&b))
        );
    }
}
