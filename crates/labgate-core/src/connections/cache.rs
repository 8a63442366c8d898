//! The broker's memory of connections and their opened credentials.
//!
//! Reading a credential from the database costs two queries (the row and the sealed token) and
//! an AEAD open; the credential broker answers most reads from this cache instead. It must never
//! answer with what a committed change replaced:
//!
//! - This process's writes forget the connection when the write ends, however it ends (committed,
//!   failed or cancelled with its request): see [`CredentialCache::forget_after`].
//! - Other processes' writes (PostgreSQL) are announced by the database when they commit and
//!   forgotten when heard. The cache answers only while a beacon it sent through the database
//!   less than [`CHANGE_NOTICE_BOUND`] ago has come back: notifications arrive in commit order,
//!   so by then every change committed before the beacon was sent has been heard. Another
//!   replica's change therefore stops being served within that bound, in practice within
//!   milliseconds; a listener that loses its connection makes the cache forget everything.
//! - A fill that read the database before a change was forgotten is not kept (a [`FillTicket`]
//!   names the last forget it saw).
//! - No entry is served longer than [`MAX_ENTRY_AGE`]: the net for writers no announcement
//!   reaches. An embedded database is written by the one process that serves it; should another
//!   process change connections in the same SQLite file (a separate `labgate worker`), its
//!   changes are seen within that age.
//!
//! Besides, a token sealed for a connection changes only together with the row's `version` or
//! `refresh_generation` (in the same transaction), so an entry with the same connection, version
//! and generation as a row just read holds that row's token, whatever the cache knows of
//! changes ([`CredentialCache::token_for`]).
//!
//! Tokens stay in [`SecretString`]s, which are zeroed when dropped and never printed.

use std::collections::HashMap;

use crate::RandomKeys;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration as StdDuration, Instant};

use labgate_store::Backend;
use parking_lot::RwLock;
use secrecy::SecretString;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use super::model::Connection;
use crate::clock::Clock;
use crate::ids::{ConnectionId, TenantId};

/// How long after another process commits a change to a connection this process may still hand
/// out what the change replaced (PostgreSQL). Changes are normally heard within milliseconds;
/// this is the bound when the database or the listener is slow.
pub const CHANGE_NOTICE_BOUND: StdDuration = StdDuration::from_secs(1);
/// How often a beacon is sent; a few fit in [`CHANGE_NOTICE_BOUND`], so one late beacon does not
/// stop the cache from answering.
pub(crate) const BEACON_INTERVAL: StdDuration = StdDuration::from_millis(200);
/// The longest an entry is served, whatever the cache has heard. Every expiry costs a read of
/// the row and the sealed token again, so a short age brings back database reads the cache
/// saves (at 30 s, 3 % of the benchmark's reads of 10,000 connections missed).
pub const MAX_ENTRY_AGE: Duration = Duration::minutes(5);
/// Entries kept at most; past it, expired entries go, and a fill finding no room is not kept.
const CAPACITY: usize = 100_000;

/// A connection as read from the database, and its opened credential.
pub(crate) struct HeldCredential {
    pub connection: Connection,
    pub token: SecretString,
    /// The broker's answer without its `useUntil`, written once on the entry's first read: the
    /// rest of the answer is the same for every read of the entry. Holds the token, so it is
    /// wiped when the entry goes.
    pub answer_tail: OnceLock<Zeroizing<Vec<u8>>>,
    /// When a read of this entry last went to the usage log (Unix ms, 0 for never).
    use_noted_at: AtomicI64,
    /// The tenant's key (see `TenantId::key`), compared on every read in place.
    tenant: u128,
    /// When it was read, on the services' clock.
    read_at: OffsetDateTime,
}

/// Reads of one entry go to the usage log at most this often: the log then takes its lock and
/// probes its map about once a second per busy connection instead of on every read, and a last
/// use is still known to the second (it is written to the database by the minute).
const USE_NOTE_INTERVAL_MS: i64 = 1_000;

impl HeldCredential {
    /// Whether a read at `now_ms` should go to the usage log; at most one read per interval does.
    pub(crate) fn note_use(&self, now_ms: i64) -> bool {
        let noted = self.use_noted_at.load(Ordering::Relaxed);
        now_ms.saturating_sub(noted) >= USE_NOTE_INTERVAL_MS
            && self
                .use_noted_at
                .compare_exchange(noted, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

impl std::fmt::Debug for HeldCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldCredential")
            .field("connection_id", &self.connection.id)
            .field("version", &self.connection.version)
            .finish_non_exhaustive()
    }
}

/// What a cache fill saw before it read the database: the fill is kept only if nothing was
/// forgotten since, and only if the cache was current then.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FillTicket {
    forgets: u64,
    current: bool,
}

/// How the cache learns of changes made by other processes.
enum Announcements {
    /// An embedded database serves one process, which forgets its own changes.
    OwnWritesOnly,
    /// A shared database: current while a recent beacon has come back.
    Shared {
        /// Beacon times are microseconds since this instant.
        epoch: Instant,
        /// A random tag that tells this cache's beacons from other processes'.
        tag: String,
        /// One more than the send time of the newest beacon heard; 0 for none since the last loss.
        heard: AtomicU64,
        /// One more than the time the listener was last found lost; 0 for never.
        lost: AtomicU64,
    },
}

/// Hits and misses since the start, and entries held now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CredentialCacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
}

pub(crate) struct CredentialCache {
    /// By connection key (`ConnectionId::key`): the map is probed on every read, and a key
    /// compared in place costs nothing where a text would be fetched from memory first.
    entries: RwLock<HashMap<u128, Arc<HeldCredential>, RandomKeys>>,
    /// Bumped, under the entries' write lock, by everything that forgets entries.
    forgets: AtomicU64,
    announcements: Announcements,
    clock: Arc<dyn Clock>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Forgets a connection when dropped; see [`CredentialCache::forget_after`].
#[must_use = "the connection is forgotten when this is dropped, after the write"]
pub(crate) struct ForgetAfter<'a> {
    cache: &'a CredentialCache,
    id: ConnectionId,
}

impl Drop for ForgetAfter<'_> {
    fn drop(&mut self) {
        self.cache.forget(&self.id);
    }
}

/// Beacon times: microseconds, so a beacon sent just after the listener was found lost is not
/// mistaken for one sent before.
fn micros(elapsed: StdDuration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

impl CredentialCache {
    pub(crate) fn new(clock: Arc<dyn Clock>, backend: Backend) -> CredentialCache {
        let announcements = match backend {
            Backend::Sqlite => Announcements::OwnWritesOnly,
            Backend::Postgres => Announcements::Shared {
                epoch: Instant::now(),
                tag: format!("{:016x}", rand::random::<u64>()),
                heard: AtomicU64::new(0),
                lost: AtomicU64::new(0),
            },
        };
        CredentialCache {
            entries: RwLock::new(HashMap::default()),
            forgets: AtomicU64::new(0),
            announcements,
            clock,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Whether every change committed more than [`CHANGE_NOTICE_BOUND`] ago has been heard.
    fn is_current(&self) -> bool {
        match &self.announcements {
            Announcements::OwnWritesOnly => true,
            Announcements::Shared { epoch, heard, .. } => match heard.load(Ordering::SeqCst) {
                0 => false,
                sent => micros(epoch.elapsed()) < sent - 1 + micros(CHANGE_NOTICE_BOUND),
            },
        }
    }

    fn fresh(&self, held: &HeldCredential, now: OffsetDateTime) -> bool {
        now - held.read_at < MAX_ENTRY_AGE
    }

    /// The tenant's connection with its credential, when held and known to be current at `now`.
    pub(crate) fn current(
        &self,
        tenant_id: &TenantId,
        id: &ConnectionId,
        now: OffsetDateTime,
    ) -> Option<Arc<HeldCredential>> {
        let found = match (id.key(), tenant_id.key()) {
            (Some(key), Some(tenant)) if self.is_current() => self
                .entries
                .read()
                .get(&key)
                .filter(|held| held.tenant == tenant && self.fresh(held, now))
                .cloned(),
            _ => None,
        };
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// The held token of `connection` when the entry was read at the same version and refresh
    /// generation, which pins the token (see the module documentation).
    pub(crate) fn token_for(&self, connection: &Connection) -> Option<SecretString> {
        let now = self.clock.now();
        let key = connection.id.key()?;
        self.entries
            .read()
            .get(&key)
            .filter(|held| {
                let read = &held.connection;
                read.tenant_id == connection.tenant_id
                    && read.version == connection.version
                    && read.refresh_generation == connection.refresh_generation
                    && self.fresh(held, now)
            })
            .map(|held| held.token.clone())
    }

    /// Taken before a fill reads the database.
    pub(crate) fn ticket(&self) -> FillTicket {
        FillTicket {
            forgets: self.forgets.load(Ordering::SeqCst),
            current: self.is_current(),
        }
    }

    /// Keeps what a fill read, unless something was forgotten since its ticket (the read may
    /// predate that change) or the cache was not current at either end; returns it either way.
    pub(crate) fn keep(
        &self,
        ticket: FillTicket,
        connection: Connection,
        token: SecretString,
    ) -> Arc<HeldCredential> {
        let now = self.clock.now();
        let keys = connection.id.key().zip(connection.tenant_id.key());
        let held = Arc::new(HeldCredential {
            connection,
            token,
            answer_tail: OnceLock::new(),
            use_noted_at: AtomicI64::new(0),
            tenant: keys.map_or(0, |(_, tenant)| tenant),
            read_at: now,
        });
        let Some((key, _)) = keys else {
            return held;
        };
        if !ticket.current || !self.is_current() {
            return held;
        }
        let mut entries = self.entries.write();
        if self.forgets.load(Ordering::SeqCst) != ticket.forgets {
            return held;
        }
        if entries.len() >= CAPACITY {
            entries.retain(|_, kept| self.fresh(kept, now));
        }
        if entries.len() < CAPACITY {
            entries.insert(key, held.clone());
        }
        held
    }

    /// Forgets one connection (everything, for an id that cannot have an entry anyway).
    pub(crate) fn forget(&self, id: &ConnectionId) {
        let mut entries = self.entries.write();
        match id.key() {
            Some(key) => {
                entries.remove(&key);
            }
            None => entries.clear(),
        }
        self.forgets.fetch_add(1, Ordering::SeqCst);
    }

    /// Forgets everything.
    fn forget_all(&self) {
        let mut entries = self.entries.write();
        entries.clear();
        self.forgets.fetch_add(1, Ordering::SeqCst);
    }

    /// A guard to hold across a write to the connection: when it drops, after the write
    /// committed, failed or was abandoned, the connection is forgotten, so no read that starts
    /// after the write ends is answered from before it.
    pub(crate) fn forget_after(&self, id: &ConnectionId) -> ForgetAfter<'_> {
        ForgetAfter {
            cache: self,
            id: id.clone(),
        }
    }

    /// Whether this cache needs to hear of other processes' changes.
    pub(crate) fn listens(&self) -> bool {
        matches!(self.announcements, Announcements::Shared { .. })
    }

    /// The payload of a beacon sent now.
    pub(crate) fn beacon(&self) -> Option<String> {
        match &self.announcements {
            Announcements::OwnWritesOnly => None,
            Announcements::Shared { epoch, tag, .. } => Some(format!("{tag}:{}", micros(epoch.elapsed()))),
        }
    }

    /// A beacon came back: every change committed before it was sent has been heard. Beacons
    /// of other processes, and ours sent before the listener was last lost, say nothing.
    pub(crate) fn heard_beacon(&self, payload: &str) {
        let Announcements::Shared { tag, heard, lost, .. } = &self.announcements else {
            return;
        };
        let Some(sent) = payload
            .strip_prefix(tag.as_str())
            .and_then(|rest| rest.strip_prefix(':'))
            .and_then(|sent| sent.parse::<u64>().ok())
        else {
            return;
        };
        let lost_at = lost.load(Ordering::SeqCst);
        if lost_at != 0 && sent < lost_at {
            return;
        }
        heard.fetch_max(sent + 1, Ordering::SeqCst);
    }

    /// Another process changed or deleted this connection.
    pub(crate) fn heard_change(&self, id: &str) {
        self.forget(&ConnectionId::from_stored(id.to_owned()));
    }

    /// The listener lost its connection, so changes may have gone unheard: forget everything,
    /// and answer nothing from memory until a beacon sent from now on comes back.
    pub(crate) fn lost_announcements(&self) {
        if let Announcements::Shared {
            epoch, heard, lost, ..
        } = &self.announcements
        {
            lost.store(micros(epoch.elapsed()) + 1, Ordering::SeqCst);
            heard.store(0, Ordering::SeqCst);
        }
        self.forget_all();
    }

    pub(crate) fn stats(&self) -> CredentialCacheStats {
        CredentialCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.entries.read().len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::connections::model::{
        AccessTokenType, App, ConnectionMethod, ConnectionStatus, GitLabIdentity,
    };
    use secrecy::ExposeSecret;

    fn connection(clock: &ManualClock) -> Connection {
        let now = clock.now();
        Connection {
            id: ConnectionId::generate(),
            tenant_id: TenantId::generate(),
            name: "c".to_owned(),
            description: None,
            app: App::GitLab,
            method: ConnectionMethod::AccessToken,
            token_type: Some(AccessTokenType::Personal),
            instance_url: "https://gitlab.com".to_owned(),
            project_id: None,
            credentials_hash: String::new(),
            status: ConnectionStatus::Active,
            status_reason: None,
            scopes: ["api"].into_iter().collect(),
            expires_at: None,
            token_name: None,
            token_id: None,
            gitlab_user: GitLabIdentity::default(),
            resource: None,
            access_level: None,
            usages: Vec::new(),
            auto_rotate: false,
            rotate_before_days: 7,
            consecutive_failures: 0,
            refresh_generation: 0,
            version: 1,
            last_checked_at: None,
            last_rotated_at: None,
            last_used_at: None,
            instance_id: None,
            external: None,
            token_issued_at: None,
            next_refresh_at: None,
            created_at: now,
            updated_at: now,
            token_hashes: None,
        }
    }

    fn token(text: &str) -> SecretString {
        SecretString::from(text)
    }

    #[test]
    fn a_fill_that_began_before_a_forget_is_not_kept() {
        let clock = Arc::new(ManualClock::new(1_800_000_000_000));
        let cache = CredentialCache::new(clock.clone(), Backend::Sqlite);
        let read = connection(&clock);
        let ticket = cache.ticket();
        cache.forget(&read.id);
        cache.keep(ticket, read.clone(), token("glpat-old"));
        assert!(cache.current(&read.tenant_id, &read.id, clock.now()).is_none());

        cache.keep(cache.ticket(), read.clone(), token("glpat-new"));
        let held = cache.current(&read.tenant_id, &read.id, clock.now()).unwrap();
        assert_eq!(held.token.expose_secret(), "glpat-new");
        // Another tenant never sees it.
        assert!(
            cache
                .current(&TenantId::generate(), &read.id, clock.now())
                .is_none()
        );
    }

    #[test]
    fn the_guard_forgets_when_the_write_ends_however_it_ends() {
        let clock = Arc::new(ManualClock::new(1_800_000_000_000));
        let cache = CredentialCache::new(clock.clone(), Backend::Sqlite);
        let read = connection(&clock);
        cache.keep(cache.ticket(), read.clone(), token("glpat-old"));
        let guard = cache.forget_after(&read.id);
        assert!(cache.current(&read.tenant_id, &read.id, clock.now()).is_some());
        drop(guard);
        assert!(cache.current(&read.tenant_id, &read.id, clock.now()).is_none());
    }

    #[test]
    fn entries_age_out_and_tokens_are_reused_only_at_the_same_version() {
        let clock = Arc::new(ManualClock::new(1_800_000_000_000));
        let cache = CredentialCache::new(clock.clone(), Backend::Sqlite);
        let read = connection(&clock);
        cache.keep(cache.ticket(), read.clone(), token("glpat-v1"));
        assert_eq!(cache.token_for(&read).unwrap().expose_secret(), "glpat-v1");
        let mut changed = read.clone();
        changed.version += 1;
        assert!(cache.token_for(&changed).is_none());
        let mut refreshed = read.clone();
        refreshed.refresh_generation += 1;
        assert!(cache.token_for(&refreshed).is_none());

        clock.advance_ms(MAX_ENTRY_AGE.whole_milliseconds().try_into().unwrap());
        assert!(cache.current(&read.tenant_id, &read.id, clock.now()).is_none());
        assert!(cache.token_for(&read).is_none());
        assert_eq!(cache.stats().hits, 0);
    }

    #[test]
    fn a_shared_cache_answers_only_after_its_own_beacon_came_back_since_the_last_loss() {
        let clock = Arc::new(ManualClock::new(1_800_000_000_000));
        let cache = CredentialCache::new(clock.clone(), Backend::Postgres);
        let read = connection(&clock);
        // Nothing heard yet: a fill is not kept.
        cache.keep(cache.ticket(), read.clone(), token("glpat-a"));
        assert_eq!(cache.stats().entries, 0);

        let before_loss = cache.beacon().unwrap();
        cache.heard_beacon("0000000000000000:1");
        cache.keep(cache.ticket(), read.clone(), token("glpat-a"));
        assert_eq!(cache.stats().entries, 0, "another process's beacon says nothing");

        cache.heard_beacon(&cache.beacon().unwrap());
        cache.keep(cache.ticket(), read.clone(), token("glpat-a"));
        assert!(cache.current(&read.tenant_id, &read.id, clock.now()).is_some());

        cache.heard_change(read.id.as_str());
        assert!(cache.current(&read.tenant_id, &read.id, clock.now()).is_none());

        cache.keep(cache.ticket(), read.clone(), token("glpat-a"));
        std::thread::sleep(StdDuration::from_millis(1));
        cache.lost_announcements();
        assert_eq!(cache.stats().entries, 0);
        cache.heard_beacon(&before_loss);
        cache.keep(cache.ticket(), read.clone(), token("glpat-a"));
        assert_eq!(
            cache.stats().entries,
            0,
            "a beacon sent before the loss proves nothing"
        );
        // Beacons are timed to the microsecond; one sent in the loss's own microsecond is refused.
        std::thread::sleep(StdDuration::from_millis(1));
        cache.heard_beacon(&cache.beacon().unwrap());
        cache.keep(cache.ticket(), read.clone(), token("glpat-a"));
        assert!(cache.current(&read.tenant_id, &read.id, clock.now()).is_some());
    }
}
