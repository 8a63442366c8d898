//! `getCredential` with a local cache: a hit costs a map look-up, one fetch per connection runs at
//! a time however many callers ask, a credential is refreshed in the background before its
//! `useUntil`, and a still-valid cached credential is served when labgate cannot be reached.
//!
//! ```no_run
//! # async fn example() -> Result<(), labgate_client::ClientError> {
//! use secrecy::ExposeSecret;
//!
//! let client = labgate_client::Client::from_env()?; // a credential-reader key
//! let credentials = labgate_client::CredentialCache::new(client);
//!
//! // The connection your user authorised, by your own tenant and user ids (OAuth start's
//! // `tenantId` and `userId`)…
//! let gitlab = credentials.get_credential("gitlab", "customer-42", "user-7").await?;
//! let token = gitlab.credential.expose_secret(); // send as `Authorization: Bearer <token>`
//!
//! // …or by the connection's id.
//! let shared = credentials.get_credential_by_id("0190…").await?;
//! # let _ = (token, shared);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use labgate_proto::credentials::CredentialResponse;
use labgate_proto::credentials::CredentialTokenType;
use secrecy::SecretString;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::{Client, ClientError};

/// A credential as the cache holds it. Debug never shows the token.
pub struct Credential {
    pub credential: SecretString,
    pub token_type: CredentialTokenType,
    /// When GitLab stops accepting it; `None` for a token without expiry.
    pub expires_at: Option<OffsetDateTime>,
    /// Until when it may be used without asking labgate again.
    pub use_until: OffsetDateTime,
    pub connection_id: String,
    pub scopes: Vec<String>,
    pub instance_url: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("token_type", &self.token_type)
            .field("connection_id", &self.connection_id)
            .field("use_until", &self.use_until)
            .finish_non_exhaustive()
    }
}

impl Credential {
    fn from_response(response: CredentialResponse, now: OffsetDateTime) -> Result<Credential, ClientError> {
        let time = |text: &str| {
            OffsetDateTime::parse(text, &Rfc3339).map_err(|_| ClientError::Transport {
                url: String::new(),
                reason: format!("labgate answered an invalid time {text:?}"),
            })
        };
        let expires_at = response.expires_at.as_deref().map(time).transpose()?;
        let use_until = match response.use_until.as_deref() {
            Some(text) => time(text)?,
            // labgate always says; an older one may not: use it briefly.
            None => now + Duration::minutes(1),
        };
        Ok(Credential {
            credential: response.credential,
            token_type: response.token_type,
            expires_at,
            use_until,
            connection_id: response.connection_id,
            scopes: response.scopes,
            instance_url: response.instance_url,
        })
    }

    /// Whether GitLab still accepts it, whatever `use_until` says.
    fn still_valid(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

/// How the cache behaves.
#[derive(Clone)]
pub struct CacheOptions {
    /// Refresh in the background this long before `use_until`, so callers keep hitting.
    pub refresh_ahead: Duration,
    /// The cache's notion of now (tests move it).
    pub clock: Arc<dyn Fn() -> OffsetDateTime + Send + Sync>,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            refresh_ahead: Duration::minutes(1),
            clock: Arc::new(OffsetDateTime::now_utc),
        }
    }
}

#[derive(Default)]
struct Entry {
    value: Option<Arc<Credential>>,
    /// Held while one caller fetches; others wait on it and then find the cache filled.
    fetch: Arc<tokio::sync::Mutex<()>>,
    refreshing: bool,
}

/// A cache of credentials per connection in front of a [`Client`]. Cheap to clone; clones share
/// the cache.
#[derive(Clone)]
pub struct CredentialCache {
    client: Client,
    options: CacheOptions,
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

/// Which connection's credential a caller wants.
#[derive(Clone, Copy)]
enum Wanted<'a> {
    Id(&'a str),
    User { tenant_id: &'a str, user_id: &'a str },
}

impl Wanted<'_> {
    /// The cache key: a connection id as it is (ids never hold a NUL), labels behind a NUL.
    fn key(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Wanted::Id(id) => std::borrow::Cow::Borrowed(id),
            Wanted::User { tenant_id, user_id } => {
                std::borrow::Cow::Owned(format!("\0{tenant_id}\0{user_id}"))
            }
        }
    }

    async fn request(&self, client: &Client) -> Result<CredentialResponse, ClientError> {
        match self {
            Wanted::Id(id) => client.credential(id).await,
            Wanted::User { tenant_id, user_id } => client.credential_for_user(tenant_id, user_id).await,
        }
    }

    fn owned(&self) -> WantedOwned {
        match self {
            Wanted::Id(id) => WantedOwned::Id((*id).to_owned()),
            Wanted::User { tenant_id, user_id } => {
                WantedOwned::User((*tenant_id).to_owned(), (*user_id).to_owned())
            }
        }
    }
}

/// A [`Wanted`] that outlives its caller, for background refreshes.
enum WantedOwned {
    Id(String),
    User(String, String),
}

impl WantedOwned {
    fn borrowed(&self) -> Wanted<'_> {
        match self {
            WantedOwned::Id(id) => Wanted::Id(id),
            WantedOwned::User(tenant_id, user_id) => Wanted::User { tenant_id, user_id },
        }
    }
}

enum Lookup {
    Hit(Arc<Credential>),
    /// A hit close to `use_until`: served, and refreshed in the background.
    HitRefresh(Arc<Credential>),
    Miss(Arc<tokio::sync::Mutex<()>>),
}

impl CredentialCache {
    pub fn new(client: Client) -> CredentialCache {
        Self::with_options(client, CacheOptions::default())
    }

    pub fn with_options(client: Client, options: CacheOptions) -> CredentialCache {
        CredentialCache {
            client,
            options,
            entries: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lookup(&self, key: &str, now: OffsetDateTime) -> Lookup {
        let mut entries = self.entries();
        // A hit allocates nothing: the entry is looked up by the borrowed id.
        if let Some(entry) = entries.get_mut(key) {
            match &entry.value {
                Some(value) if now < value.use_until - self.options.refresh_ahead => {
                    return Lookup::Hit(value.clone());
                }
                Some(value) if now < value.use_until => {
                    let value = value.clone();
                    if entry.refreshing {
                        return Lookup::Hit(value);
                    }
                    entry.refreshing = true;
                    return Lookup::HitRefresh(value);
                }
                _ => return Lookup::Miss(entry.fetch.clone()),
            }
        }
        Lookup::Miss(entries.entry(key.to_owned()).or_default().fetch.clone())
    }

    /// A credential of connection `connection_id`: from the cache while it may be used, else from
    /// labgate (one request however many callers ask at once). When labgate cannot be reached, a
    /// cached credential GitLab still accepts is served.
    pub async fn get_credential_by_id(&self, connection_id: &str) -> Result<Arc<Credential>, ClientError> {
        self.get(Wanted::Id(connection_id)).await
    }

    /// A credential of the connection the embedding application labelled with `tenant_id` and
    /// `user_id` when its user authorised it (OAuth start's `tenantId` and `userId`), cached like
    /// [`CredentialCache::get_credential_by_id`]. `provider` is `"gitlab"`.
    pub async fn get_credential(
        &self,
        provider: &str,
        tenant_id: &str,
        user_id: &str,
    ) -> Result<Arc<Credential>, ClientError> {
        if provider != "gitlab" {
            return Err(ClientError::UnknownProvider(provider.to_owned()));
        }
        self.get(Wanted::User { tenant_id, user_id }).await
    }

    async fn get(&self, wanted: Wanted<'_>) -> Result<Arc<Credential>, ClientError> {
        let now = (self.options.clock)();
        let key = wanted.key();
        match self.lookup(&key, now) {
            Lookup::Hit(value) => Ok(value),
            Lookup::HitRefresh(value) => {
                let cache = self.clone();
                let wanted = wanted.owned();
                let key = key.into_owned();
                tokio::spawn(async move {
                    // A failed refresh keeps the cached credential until its use_until; the next
                    // call past the refresh point tries again.
                    let _refreshed = cache.refresh(wanted.borrowed(), &key).await;
                    if let Some(entry) = cache.entries().get_mut(&key) {
                        entry.refreshing = false;
                    }
                });
                Ok(value)
            }
            Lookup::Miss(fetch) => {
                let _single = fetch.lock().await;
                // Another caller may have fetched while this one waited.
                let now = (self.options.clock)();
                if let Some(value) = self.usable(&key, now) {
                    return Ok(value);
                }
                match self.fetch(wanted, &key).await {
                    Ok(value) => Ok(value),
                    Err(error @ ClientError::Transport { .. }) => {
                        let stale = self.entries().get(key.as_ref()).and_then(|e| e.value.clone());
                        match stale {
                            Some(value) if value.still_valid(now) => Ok(value),
                            _ => Err(error),
                        }
                    }
                    Err(error) => Err(error),
                }
            }
        }
    }

    /// The cached credential while it may still be used.
    fn usable(&self, key: &str, now: OffsetDateTime) -> Option<Arc<Credential>> {
        self.entries()
            .get(key)
            .and_then(|entry| entry.value.clone())
            .filter(|value| now < value.use_until)
    }

    async fn refresh(&self, wanted: Wanted<'_>, key: &str) -> Result<Arc<Credential>, ClientError> {
        let fetch = self.entries().entry(key.to_owned()).or_default().fetch.clone();
        let _single = fetch.lock().await;
        self.fetch(wanted, key).await
    }

    async fn fetch(&self, wanted: Wanted<'_>, key: &str) -> Result<Arc<Credential>, ClientError> {
        let response = wanted.request(&self.client).await?;
        let value = Arc::new(Credential::from_response(response, (self.options.clock)())?);
        self.entries().entry(key.to_owned()).or_default().value = Some(value.clone());
        Ok(value)
    }

    /// Forgets a connection's credential, e.g. after GitLab refused it: the next call asks labgate.
    pub fn invalidate(&self, connection_id: &str) {
        self.forget(connection_id);
    }

    /// Forgets the credential of a user's connection (see [`CredentialCache::get_credential`]).
    pub fn invalidate_user(&self, tenant_id: &str, user_id: &str) {
        self.forget(&Wanted::User { tenant_id, user_id }.key());
    }

    fn forget(&self, key: &str) {
        if let Some(entry) = self.entries().get_mut(key) {
            entry.value = None;
        }
    }
}
