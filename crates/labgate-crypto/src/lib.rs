//! Vault primitives for labgate.
//!
//! - [`Keyring`]: ordered root keys (KEKs); the first one is active. Root keys only ever wrap
//!   tenant keys.
//! - [`TenantKeys`]: a tenant's data encryption key (DEK, rotatable) and hashing key (kept across
//!   DEK rotation). Every stored secret is sealed with the DEK under an [`Aad`] that binds it to
//!   its tenant, table, row and field.
//! - UI passwords (argon2id), API keys, random tokens, constant-time comparison and the hashes the rest of labgate needs.
//! - [`tls::install_default_provider`]: the one rustls crypto provider set-up for every TLS
//!   client and server in the workspace.
//!
//! This is the only crate in the workspace that touches ciphers. See `README.md` for the formats.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod aad;
mod error;
mod keyring;
mod password;
mod sealed;
mod tenant;
pub mod tls;
mod token;

pub use aad::Aad;
pub use error::{CryptoError, Result};
pub use keyring::{Keyring, RootKey, WrappedTenantKeys};
pub use password::{generate_password, hash_password, verify_password, verify_password_against_nothing};
pub use sealed::{SEALED_VERSION, sealed_key_id};
pub use tenant::TenantKeys;
pub use token::{
    API_KEY_LEN, API_KEY_PREFIX, GeneratedApiKey, constant_time_eq, generate_api_key, hash_api_key,
    hmac_sha256, looks_like_api_key, random_token, sha256,
};
