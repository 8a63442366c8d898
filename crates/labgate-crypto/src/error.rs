/// Result type of this crate.
pub type Result<T, E = CryptoError> = std::result::Result<T, E>;

/// Everything that can go wrong in this crate. No variant ever carries key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// A keyring (or a single root key) could not be parsed or built: bad format, bad base64, wrong
    /// key length, invalid, empty or duplicate id. The message names ids and positions only.
    #[error("invalid keyring: {0}")]
    InvalidKeyring(String),
    /// A sealed value names a key that is not available: a root key id missing from the keyring,
    /// or (for tenant values) the fingerprint of a DEK other than the one used to open it.
    #[error("unknown key id {0:?}")]
    UnknownKeyId(String),
    /// Authentication failed: wrong key, wrong associated data, or tampered ciphertext.
    #[error("decryption failed")]
    Decrypt,
    /// The sealed bytes are not in a format this crate understands (truncated, bad version, ...).
    #[error("malformed sealed value: {0}")]
    Malformed(&'static str),
    /// A password could not be hashed (argon2 refused its parameters or input length).
    #[error("the password could not be hashed")]
    Password,
}
