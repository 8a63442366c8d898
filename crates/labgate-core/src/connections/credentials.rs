//! The credential broker: a working token for other software, with how long it may be cached.
//! Access-token connections hand out the held token; OAuth connections refresh on demand first.

use labgate_proto::audit::{AuditAction, ResourceType};
use labgate_proto::credentials::{CredentialQuery, CredentialResponse, CredentialTokenType};
use time::{Duration, OffsetDateTime};

use super::Connections;
use super::model::{Connection, ConnectionMethod};
use super::refresh::{RefreshReason, read_refreshes};
use crate::audit::AuditEvent;
use crate::auth::{Access, Principal};
use crate::timefmt::{format_opt, format_time};
use crate::{CoreError, Result};

/// The longest a caller may cache a credential before asking again: a person may rotate or
/// replace the token at any time, and GitLab revokes the old one at once.
pub const MAX_USE: Duration = Duration::minutes(15);
/// Stop using a token this long before GitLab stops accepting it.
const EXPIRY_MARGIN: Duration = Duration::minutes(5);

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
    }

    /// A fresh token of the connection a query names, by id or by the embedding application's
    /// tenant and user. Admin and credential-reader keys only; every read is audited, folded per
    /// key, connection and minute. An OAuth token with too little left is refreshed first.
    pub async fn credential_for(
        &self,
        principal: &Principal,
        query: &CredentialQuery,
    ) -> Result<CredentialResponse> {
        principal.require(Access::Credentials)?;
        let labels = super::oauth::external_labels(query.tenant_id.as_deref(), query.user_id.as_deref())?;
        let connection = match (query.connection_id.as_deref(), labels) {
            (Some(id), None) => self.load(principal, id).await?,
            (None, Some(labels)) => self.by_external(principal, &labels).await?,
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
        let (connection, token_type) = match connection.token_type {
            Some(kind) => (connection, CredentialTokenType::from(kind)),
            None if connection.method == ConnectionMethod::OAuth => (
                self.fresh_oauth(connection, now).await?,
                CredentialTokenType::OAuth,
            ),
            None => {
                return Err(CoreError::Conflict(
                    "the connection holds no access token to hand out".to_owned(),
                ));
            }
        };
        let now = self.clock.now();
        if !connection.status.is_usable() || connection.expires_at.is_some_and(|at| at <= now) {
            return Err(CoreError::Conflict(format!(
                "the connection is {}, so it has no working credential{}",
                connection.status,
                connection
                    .status_reason
                    .as_deref()
                    .map(|reason| format!(": {reason}"))
                    .unwrap_or_default()
            )));
        }
        let token = self.token_of(&connection).await?;
        self.audit
            .record_folded(
                principal,
                AuditEvent {
                    action: AuditAction::ConnectionCredentialRead,
                    resource_kind: ResourceType::AppConnection,
                    resource_id: Some(connection.id.as_str()),
                    details: None,
                },
            )
            .await?;
        let use_until = match token_type {
            CredentialTokenType::OAuth => oauth_use_until(&connection, now),
            _ => use_until(&connection, now),
        };
        Ok(CredentialResponse {
            credential: token,
            token_type,
            expires_at: format_opt(connection.expires_at),
            use_until: Some(format_time(use_until)),
            connection_id: connection.id.to_string(),
            scopes: connection.scopes.to_vec(),
            instance_url: connection.instance_url.clone(),
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
            created_at: now,
            updated_at: now,
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
