//! The connection as the domain sees it: typed values only, parsed once from the stored row.

use std::collections::BTreeSet;

use labgate_gitlab::AccessLevel;
pub use labgate_proto::connections::{
    AccessTokenType, App, ConnectionEventKind, ConnectionMethod, ConnectionStatus, ResourceKind, Usage,
};
use time::OffsetDateTime;

use crate::ids::{ConnectionEventId, ConnectionId, InstanceId, JobId, JournalId, TenantId};

/// The scopes a GitLab token holds. GitLab adds scopes over time, so the set keeps whatever
/// GitLab reports; labgate asks it only whether a scope is there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    pub fn contains_any(&self, scopes: &[&str]) -> bool {
        scopes.iter().any(|scope| self.contains(scope))
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn to_vec(&self) -> Vec<String> {
        self.0.iter().cloned().collect()
    }
}

impl<S: Into<String>> FromIterator<S> for Scopes {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        Scopes(iter.into_iter().map(Into::into).collect())
    }
}

/// The GitLab user a token acts as.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitLabIdentity {
    pub user_id: Option<u64>,
    pub username: Option<String>,
    pub bot: Option<bool>,
}

/// The project or group a project or group token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitLabResource {
    pub kind: ResourceKind,
    pub id: u64,
    pub full_path: Option<String>,
}

/// One GitLab connection. The token itself is never here: it is sealed in the vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: ConnectionId,
    pub tenant_id: TenantId,
    pub name: String,
    pub description: Option<String>,
    pub app: App,
    pub method: ConnectionMethod,
    pub token_type: Option<AccessTokenType>,
    pub instance_url: String,
    /// The embedding application's project label (Infisical's `projectId`).
    pub project_id: Option<String>,
    /// Tenant-keyed HMAC of the token: stable across re-encryption, useless to an attacker.
    pub credentials_hash: String,
    pub status: ConnectionStatus,
    pub status_reason: Option<String>,
    pub scopes: Scopes,
    pub expires_at: Option<OffsetDateTime>,
    pub token_name: Option<String>,
    /// GitLab's id of the token (rotation needs it).
    pub token_id: Option<u64>,
    pub gitlab_user: GitLabIdentity,
    pub resource: Option<GitLabResource>,
    /// The token's role in its resource (project and group tokens).
    pub access_level: Option<AccessLevel>,
    pub usages: Vec<Usage>,
    pub auto_rotate: bool,
    pub rotate_before_days: u32,
    /// Transient check failures in a row; `unreachable` after a few.
    pub consecutive_failures: u32,
    pub refresh_generation: u64,
    /// Bumped by every change a person makes; an update naming an older version is refused.
    pub version: u32,
    pub last_checked_at: Option<OffsetDateTime>,
    pub last_rotated_at: Option<OffsetDateTime>,
    /// OAuth: the registered instance (and so the OAuth application) the connection was
    /// authorised through; `None` for the default instance of the settings.
    pub instance_id: Option<InstanceId>,
    /// The embedding application's labels, to find the connection by its own tenant and user.
    pub external: Option<ExternalLabels>,
    /// OAuth: labgate's clock when the current access token arrived.
    pub token_issued_at: Option<OffsetDateTime>,
    /// OAuth: when the proactive refresh is due.
    pub next_refresh_at: Option<OffsetDateTime>,
    /// When the connection last handed out its credential, to the minute and recorded within a
    /// few seconds (uses are counted in memory and written in batches); `None` if never.
    pub last_used_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// OAuth: HMACs (as `credentials_hash`) of the current access and refresh tokens, so that a
    /// scan recognises either token; `credentials_hash` names the grant, which outlives them.
    pub token_hashes: Option<OAuthTokenHashes>,
}

/// The HMACs of the OAuth tokens a connection holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthTokenHashes {
    pub access_token: String,
    pub refresh_token: String,
}

/// The ids an embedding application knows one of its users by (`tenantId`, `userId`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalLabels {
    pub tenant_id: String,
    pub user_id: String,
}

/// One entry of a connection's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionEvent {
    pub id: ConnectionEventId,
    pub tenant_id: TenantId,
    pub connection_id: ConnectionId,
    pub kind: ConnectionEventKind,
    pub from_status: Option<ConnectionStatus>,
    pub to_status: Option<ConnectionStatus>,
    pub reason: Option<String>,
    pub created_at: OffsetDateTime,
}

labgate_proto::text_enum! {
    /// The token-changing GitLab calls the journal guards.
    pub enum JournalOperation {
        Rotate = "rotate",
        /// An OAuth refresh: GitLab rotates both the access and the refresh token.
        Refresh = "refresh",
    }
}

labgate_proto::text_enum! {
    /// Where a journalled call stands.
    pub enum JournalState {
        /// The operation holds the connection's lock; its request has not left yet.
        Pending = "pending",
        /// The request is out (or about to be): GitLab may have acted; no answer is stored.
        Sent = "sent",
        /// GitLab's sealed answer is stored and waits to be applied.
        Answered = "answered",
    }
}

/// A journalled token-changing GitLab call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub id: JournalId,
    pub tenant_id: TenantId,
    pub connection_id: ConnectionId,
    pub operation: JournalOperation,
    pub state: JournalState,
    pub sealed_answer: Option<Vec<u8>>,
    /// The job that follows the call; `None` for entries written before jobs did.
    pub job_id: Option<JobId>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}
