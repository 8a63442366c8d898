//! The credential broker: a working token for other software, with how long it may be cached.
//! Access-token connections hand out the held token; OAuth connections refresh on demand first.
//!
//! A read is answered from memory when it can (the credential cache, see `cache.rs`) and is
//! recorded in memory (the folded audit entry and the connection's last use), so a read
//! normally touches no database; the usage flush writes what was recorded every few seconds.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use labgate_proto::audit::{AuditAction, ResourceType};
use labgate_proto::credentials::{CredentialQuery, CredentialResponse, CredentialTokenType};
use labgate_store::ConnectionNotice;
use secrecy::ExposeSecret;
use serde::ser::{Serialize, SerializeStruct, Serializer};
use time::{Duration, OffsetDateTime};
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

use super::cache::{BEACON_INTERVAL, CredentialCacheStats, HeldCredential};
use super::model::{App, Connection, ConnectionMethod, Scopes};
use super::refresh::{RefreshReason, read_refreshes};
use super::{Connections, not_found};
use crate::audit::AuditEvent;
use crate::auth::{Access, Principal};
use crate::ids::{ConnectionId, TenantId};
use crate::rows::ms;
use crate::timefmt::{format_opt, format_time};
use crate::{CoreError, Result};

/// The longest a caller may cache a credential before asking again: a person may rotate or
/// replace the token at any time, and GitLab revokes the old one at once.
pub const MAX_USE: Duration = Duration::minutes(15);
/// Stop using a token this long before GitLab stops accepting it.
const EXPIRY_MARGIN: Duration = Duration::minutes(5);
/// How long the change listener waits before listening again after the database refused.
const LISTEN_RETRY: StdDuration = StdDuration::from_secs(1);

/// Until when a caller may use the token without asking again: never past the expiry (less a
/// margin), never into the window where automatic rotation may replace it, and never more than
/// [`MAX_USE`] ahead.
pub fn use_until(connection: &Connection, now: OffsetDateTime) -> OffsetDateTime {
    let mut until = now + MAX_USE;
    if let Some(expires_at) = connection.expires_at {
        until = until.min(expires_at - EXPIRY_MARGIN);
        if connection.auto_rotate {
            let rotation_window = expires_at - Duration::days(i64::from(connection.rotate_before_days));
            // Inside the window a health check may rotate at any time: only short caching.
            until = until.min(rotation_window.max(now + Duration::minutes(1)));
        }
    }
    until.max(now)
}

/// Until when a caller may use an OAuth access token: never into the window where a read would
/// refresh it, and never more than [`MAX_USE`] ahead.
pub fn oauth_use_until(connection: &Connection, now: OffsetDateTime) -> OffsetDateTime {
    let mut until = now + MAX_USE;
    if let Some(expires_at) = connection.expires_at {
        until = until.min(expires_at - super::refresh::refresh_margin(connection));
    }
    until.max(now)
}

/// 409 unless the connection's status lets it hand out a token.
fn usable_status(connection: &Connection) -> Result<()> {
    if connection.status.is_usable() {
        return Ok(());
    }
    Err(CoreError::Conflict(format!(
        "the connection is {}, so it has no working credential{}",
        connection.status,
        connection
            .status_reason
            .as_deref()
            .map(|reason| format!(": {reason}"))
            .unwrap_or_default()
    )))
}

/// 409 unless the connection has a working token at `now`.
pub(crate) fn require_usable(connection: &Connection, now: OffsetDateTime) -> Result<()> {
    usable_token_type(connection, now).map(|_| ())
}

/// The kind of token a connection hands out, or 409 when it has no working one now.
fn usable_token_type(connection: &Connection, now: OffsetDateTime) -> Result<CredentialTokenType> {
    usable_status(connection)?;
    if connection.expires_at.is_some_and(|at| at <= now) {
        return Err(CoreError::Conflict(format!(
            "the connection's token expired{}",
            connection
                .status_reason
                .as_deref()
                .map(|reason| format!(": {reason}"))
                .unwrap_or_default()
        )));
    }
    match (connection.token_type, connection.method) {
        (Some(kind), _) => Ok(kind.into()),
        (None, ConnectionMethod::OAuth) => Ok(CredentialTokenType::OAuth),
        (None, ConnectionMethod::AccessToken) => Err(CoreError::Conflict(
            "the connection holds no access token to hand out".to_owned(),
        )),
    }
}

/// A credential handed out by [`Connections::credential_for`]. It serialises as
/// [`CredentialResponse`] straight from the held credential: the broker answers thousands of
/// reads a second, and copying the token, scopes and URLs into a response first was a good part
/// of each read's work.
pub struct CredentialGrant {
    held: Arc<HeldCredential>,
    token_type: CredentialTokenType,
    use_until: OffsetDateTime,
}

impl CredentialGrant {
    pub fn connection_id(&self) -> &ConnectionId {
        &self.held.connection.id
    }

    /// The same credential as an owned response.
    pub fn into_response(self) -> CredentialResponse {
        let connection = &self.held.connection;
        CredentialResponse {
            credential: self.held.token.clone(),
            token_type: self.token_type,
            expires_at: format_opt(connection.expires_at),
            use_until: Some(format_time(self.use_until)),
            connection_id: connection.id.to_string(),
            scopes: connection.scopes.to_vec(),
            instance_url: connection.instance_url.clone(),
        }
    }
}

impl CredentialGrant {
    /// Appends the answer as JSON: the same object [`Serialize`] writes, with `useUntil` first
    /// and the rest from the held credential's answer, serialised on its first read.
    pub fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let tail = self.held.answer_tail.get_or_init(|| {
            let mut tail = Zeroizing::new(Vec::with_capacity(512));
            // Writing to memory fails only for a value JSON cannot hold, and this one holds text
            // and lists of text; an empty tail would be caught below rather than sent.
            let _ = serde_json::to_writer(
                &mut *tail,
                &AnswerTail {
                    grant: self,
                    connection: &self.held.connection,
                },
            );
            tail
        });
        let Some(fields) = tail.strip_prefix(b"{") else {
            return serde_json::to_writer(out, self);
        };
        out.extend_from_slice(b"{\"useUntil\":");
        serde_json::to_writer(&mut *out, &format_time(self.use_until))?;
        if fields != b"}" {
            out.push(b',');
        }
        out.extend_from_slice(fields);
        Ok(())
    }
}

/// The fields of the answer that stay the same for one held credential.
struct AnswerTail<'a> {
    grant: &'a CredentialGrant,
    connection: &'a Connection,
}

impl Serialize for AnswerTail<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let connection = self.connection;
        let mut tail = serializer.serialize_struct("CredentialResponse", 6)?;
        tail.serialize_field("credential", self.grant.held.token.expose_secret())?;
        tail.serialize_field("tokenType", &self.grant.token_type)?;
        tail.serialize_field("expiresAt", &format_opt(connection.expires_at))?;
        tail.serialize_field("connectionId", connection.id.as_str())?;
        tail.serialize_field("scopes", &ScopeList(&connection.scopes))?;
        tail.serialize_field("instanceUrl", &connection.instance_url)?;
        tail.end()
    }
}

/// Field for field what [`CredentialResponse`] serialises to.
impl Serialize for CredentialGrant {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let connection = &self.held.connection;
        let mut response = serializer.serialize_struct("CredentialResponse", 7)?;
        response.serialize_field("credential", self.held.token.expose_secret())?;
        response.serialize_field("tokenType", &self.token_type)?;
        response.serialize_field("expiresAt", &format_opt(connection.expires_at))?;
        response.serialize_field("useUntil", &Some(format_time(self.use_until)))?;
        response.serialize_field("connectionId", connection.id.as_str())?;
        response.serialize_field("scopes", &ScopeList(&connection.scopes))?;
        response.serialize_field("instanceUrl", &connection.instance_url)?;
        response.end()
    }
}

struct ScopeList<'a>(&'a Scopes);

impl Serialize for ScopeList<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter())
    }
}

impl std::fmt::Debug for CredentialGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialGrant")
            .field("connection_id", &self.held.connection.id)
            .field("token_type", &self.token_type)
            .field("use_until", &self.use_until)
            .finish_non_exhaustive()
    }
}

impl Connections {
    /// The connection's token (`GET /api/v1/credentials/gitlab?connectionId=`).
    pub async fn credential(&self, principal: &Principal, connection_id: &str) -> Result<CredentialResponse> {
        self.credential_for(
            principal,
            &CredentialQuery {
                connection_id: Some(connection_id.to_owned()),
                ..CredentialQuery::default()
            },
        )
        .await
        .map(CredentialGrant::into_response)
    }

    /// A working token of the connection a query names, by id or by the embedding application's
    /// tenant and user (`GET /api/v1/credentials/gitlab`). Admin and credential-reader keys
    /// only; every read is audited, folded per key, connection and minute, and sets the
    /// connection's last use (both counted in memory and written by the usage flush). An OAuth
    /// token with too little left is refreshed first.
    pub async fn credential_for(
        &self,
        principal: &Principal,
        query: &CredentialQuery,
    ) -> Result<CredentialGrant> {
        principal.require(Access::Credentials)?;
        let labels = super::oauth::external_labels(query.tenant_id.as_deref(), query.user_id.as_deref())?;
        let id = match (query.connection_id.as_deref(), labels) {
            (Some(id), None) => ConnectionId::parse(id).ok_or_else(not_found)?,
            // Boxed, as every path off the cache hit: what is inline is moved with every read.
            (None, Some(labels)) => Box::pin(self.by_external(principal, &labels)).await?.id,
            (Some(_), Some(_)) => {
                return Err(CoreError::validation(
                    "connectionId",
                    "name the connection by connectionId, or by tenantId and userId, not both",
                ));
            }
            (None, None) => {
                return Err(CoreError::validation(
                    "connectionId",
                    "connectionId, or tenantId and userId, is required",
                ));
            }
        };
        let now = self.clock.now();
        let mut held = self.held_credential(&principal.tenant_id, &id, now).await?;
        if held.connection.method == ConnectionMethod::OAuth && read_refreshes(&held.connection, now) {
            let refreshed = Box::pin(self.fresh_oauth(held.connection.clone(), now)).await?;
            // A refresh that found the grant gone has left the connection unusable.
            usable_status(&refreshed)?;
            if refreshed.refresh_generation != held.connection.refresh_generation {
                held = Box::pin(self.read_credential(&principal.tenant_id, &id, self.clock.now())).await?;
            }
        }
        let now = self.clock.now();
        let connection = &held.connection;
        let token_type = usable_token_type(connection, now)?;
        self.audit.record_folded(
            principal,
            AuditEvent {
                action: AuditAction::ConnectionCredentialRead,
                resource_kind: ResourceType::AppConnection,
                resource_id: Some(connection.id.as_str()),
                details: None,
            },
        );
        if held.note_use(ms(now)) {
            self.usage.record(&connection.id, now);
        }
        let use_until = match token_type {
            CredentialTokenType::OAuth => oauth_use_until(connection, now),
            _ => use_until(connection, now),
        };
        Ok(CredentialGrant {
            held,
            token_type,
            use_until,
        })
    }

    /// The OAuth connection with a token that has enough left, refreshed on demand. When the
    /// refresh cannot happen now but the held token still works, the held token is handed out.
    pub(super) async fn fresh_oauth(
        &self,
        connection: Connection,
        now: OffsetDateTime,
    ) -> Result<Connection> {
        if !connection.status.is_usable() || !read_refreshes(&connection, now) {
            return Ok(connection);
        }
        let held_until = connection.expires_at;
        match self
            .refresh_oauth(connection.clone(), RefreshReason::OnDemand)
            .await
        {
            Ok(refreshed) => Ok(refreshed),
            Err(error @ CoreError::Unavailable(_)) => {
                if held_until.is_some_and(|at| at > self.clock.now()) {
                    tracing::info!(connection_id = %connection.id, error = %error, "refresh postponed; the held token still works");
                    Ok(connection)
                } else {
                    Err(error)
                }
            }
            Err(error) => Err(error),
        }
    }

    /// The tenant's GitLab connection with its current credential: from the cache while it is
    /// known to be current, otherwise read (and then cached). A connection without a working
    /// token is refused before its token is opened.
    async fn held_credential(
        &self,
        tenant_id: &TenantId,
        id: &ConnectionId,
        now: OffsetDateTime,
    ) -> Result<Arc<HeldCredential>> {
        if let Some(held) = self.cache.current(tenant_id, id, now) {
            return Ok(held);
        }
        // Boxed: the database reads make a large future, which would otherwise be part of (and
        // moved with) every read's future, hits included.
        Box::pin(self.read_credential(tenant_id, id, now)).await
    }

    /// A cache miss: the connection and its credential read from the store, then kept.
    async fn read_credential(
        &self,
        tenant_id: &TenantId,
        id: &ConnectionId,
        now: OffsetDateTime,
    ) -> Result<Arc<HeldCredential>> {
        let ticket = self.cache.ticket();
        let connection = self.fetch(tenant_id, id).await?;
        if connection.app != App::GitLab {
            return Err(not_found());
        }
        // An OAuth token past its expiry is refreshed by the read, not refused.
        match connection.method {
            ConnectionMethod::OAuth => usable_status(&connection)?,
            ConnectionMethod::AccessToken => {
                usable_token_type(&connection, now)?;
            }
        }
        let token = self.current_credential(&connection).await?;
        Ok(self.cache.keep(ticket, connection, token))
    }

    /// How the credential cache has fared since the start.
    pub fn credential_cache_stats(&self) -> CredentialCacheStats {
        self.cache.stats()
    }

    /// Writes the connections' last uses recorded in memory; returns how many were written.
    pub async fn flush_usage(&self) -> Result<usize> {
        self.usage.flush(&self.store, self.clock.now()).await
    }

    /// Keeps the credential cache told of changes other processes make to connections, until
    /// `shutdown`. Until this runs on PostgreSQL the cache answers nothing (every read goes to
    /// the database); on SQLite there is nothing to hear and it returns at once.
    pub async fn watch_changes(&self, shutdown: CancellationToken) {
        if !self.cache.listens() {
            return;
        }
        let mut changes = loop {
            match self.store.listen_connection_changes().await {
                Ok(Some(changes)) => break changes,
                Ok(None) => return,
                Err(error) => {
                    tracing::warn!(error = %error, "cannot listen for connection changes; reads go to the database");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(LISTEN_RETRY) => {}
                    }
                }
            }
        };
        let beacons = tokio::spawn(self.clone().send_beacons(shutdown.clone()));
        loop {
            let notice = tokio::select! {
                () = shutdown.cancelled() => break,
                notice = changes.next() => notice,
            };
            match notice {
                Ok(ConnectionNotice::Changed(id)) => self.cache.heard_change(&id),
                Ok(ConnectionNotice::Beacon(payload)) => self.cache.heard_beacon(&payload),
                Ok(ConnectionNotice::Lost) => {
                    tracing::warn!("lost the connection change listener; listening again");
                    self.cache.lost_announcements();
                }
                Err(error) => {
                    self.cache.lost_announcements();
                    tracing::warn!(error = %error, "cannot listen for connection changes; reads go to the database");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(LISTEN_RETRY) => {}
                    }
                }
            }
        }
        let _ = beacons.await;
    }

    /// Sends a beacon every [`BEACON_INTERVAL`]; see `cache.rs` for what hearing it back proves.
    async fn send_beacons(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(BEACON_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let Some(payload) = self.cache.beacon() else {
                return;
            };
            match self.store.send_connection_beacon(&payload).await {
                Ok(()) => failing = false,
                // Unheard beacons make the cache stop answering by themselves; say so once.
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(error = %error, "cannot send connection change beacons; reads go to the database");
                }
                Err(_) => {}
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::model::AccessTokenType;
    use super::*;
    use crate::ids::{ConnectionId, TenantId};
    use labgate_proto::connections::{App, ConnectionMethod, ConnectionStatus};

    pub(crate) fn connection(
        expires_in: Option<Duration>,
        auto_rotate: bool,
        now: OffsetDateTime,
    ) -> Connection {
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
            expires_at: expires_in.map(|left| now + left),
            token_name: None,
            token_id: None,
            gitlab_user: super::super::model::GitLabIdentity::default(),
            resource: None,
            access_level: None,
            usages: Vec::new(),
            auto_rotate,
            rotate_before_days: 7,
            consecutive_failures: 0,
            refresh_generation: 0,
            version: 1,
            last_checked_at: None,
            last_rotated_at: None,
            instance_id: None,
            external: None,
            token_issued_at: None,
            next_refresh_at: None,
            last_used_at: None,
            created_at: now,
            updated_at: now,
            token_hashes: None,
        }
    }

    #[test]
    fn use_until_never_passes_expiry_rotation_or_the_cap() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let cases = [
            ("no expiry", None, false, now + MAX_USE),
            ("far expiry", Some(Duration::days(90)), false, now + MAX_USE),
            (
                "expiry in 10 minutes",
                Some(Duration::minutes(10)),
                false,
                now + Duration::minutes(5),
            ),
            ("expiry in 2 minutes", Some(Duration::minutes(2)), false, now),
            // Auto-rotation may replace it from 7 days before expiry: outside that window the cap
            // holds, inside it only a minute of caching.
            (
                "rotation window ahead",
                Some(Duration::days(30)),
                true,
                now + MAX_USE,
            ),
            (
                "inside the rotation window",
                Some(Duration::days(3)),
                true,
                now + Duration::minutes(1),
            ),
        ];
        for (case, expires_in, auto_rotate, expected) in cases {
            assert_eq!(
                use_until(&connection(expires_in, auto_rotate, now), now),
                expected,
                "{case}"
            );
        }
    }
}
