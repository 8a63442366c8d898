//! Connect sessions: labgate's drop-in connect button.
//!
//! An embedding application's backend asks for a session with its admin API key, naming the
//! origin of the page that shows the button and what the OAuth flow creates. The page opens
//! labgate's `/connect` with the session's token in a popup; opening it uses the session (once,
//! within 30 minutes) and starts the OAuth flow under the key that asked for it, bound to the
//! popup's browser like a flow begun on labgate's own pages. The flow ends on labgate's
//! `/connect/done`, which reports the outcome to the session's origin only.
//!
//! The token is 32 random bytes stored only as its SHA-256. The session id, which the result
//! page carries in its URL, is not a secret: it only names where the outcome may be posted.

use std::net::IpAddr;

use labgate_proto::audit::{AuditAction, ResourceType};
use labgate_proto::connect_sessions::{ConnectSessionCreated, CreateConnectSessionRequest};
use labgate_proto::connections::StartOAuthRequest;
use labgate_store::{ConnectSessionClaim, ConnectSessionRecord, StoreError};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::oauth::{STATE_LIFETIME, StartedFlow, external_labels, oauth_scopes};
use super::{Connections, trim_in_place, validate};
use crate::audit::AuditEvent;
use crate::auth::{Access, Actor, ApiKey, Principal};
use crate::ids::{ApiKeyId, ConnectSessionId, TenantId};
use crate::instances::CALLBACK_PATH;
use crate::rows::ms;
use crate::timefmt::format_time;
use crate::{CoreError, Result};

/// How long a session may wait to be opened.
pub const SESSION_LIFETIME: Duration = Duration::minutes(30);
/// The popup's first page.
pub const CONNECT_PATH: &str = "/connect";
/// Where the popup's OAuth flow ends.
pub const DONE_PATH: &str = "/connect/done";
const TOKEN_BYTES: usize = 32;
const MAX_ORIGIN_LEN: usize = 512;
/// The scope asked for when the application names none: enough to read through the API.
const DEFAULT_SCOPE: &str = "read_api";

/// The origin of the page that embeds the button: https, or http on localhost for
/// development; no path, query, fragment or credentials. Answers it as browsers spell origins
/// (`event.origin`), which is what `postMessage` compares with.
pub fn allowed_origin(text: &str) -> Result<String> {
    let refuse = |why: &str| CoreError::validation("allowedOrigin", format!("allowedOrigin {why}"));
    let text = text.trim();
    if text.is_empty() {
        return Err(refuse(
            "is required: the origin of the page that shows the button",
        ));
    }
    if text.len() > MAX_ORIGIN_LEN {
        return Err(refuse("must be at most 512 characters"));
    }
    let url =
        url::Url::parse(text).map_err(|_| refuse("must be an origin such as https://app.example.com"))?;
    let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if local => {}
        _ => {
            return Err(refuse(
                "must use https:// (http:// only for localhost and 127.0.0.1)",
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refuse("must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("must not carry credentials"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(refuse(
            "must be an origin only (scheme, host and port), without a path, query or fragment",
        ));
    }
    Ok(url.origin().ascii_serialization())
}

fn token_hash(token: &str) -> String {
    hex::encode(labgate_crypto::sha256(token.as_bytes()))
}

/// A name for a connection the application did not name.
fn generated_name() -> String {
    let suffix: String = uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .chars()
        .take(10)
        .collect();
    format!("gitlab-{suffix}")
}

/// A session that has just been created: the token exists only here and in the answer.
pub struct CreatedSession {
    pub token: SecretString,
    pub expires_at: OffsetDateTime,
    pub connect_url: SecretString,
}

impl std::fmt::Debug for CreatedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedSession")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl CreatedSession {
    pub fn into_view(self) -> ConnectSessionCreated {
        ConnectSessionCreated {
            token: self.token.expose_secret().to_owned(),
            expires_at: format_time(self.expires_at),
            connect_url: self.connect_url.expose_secret().to_owned(),
        }
    }
}

/// A session opened in the popup: the flow it began, and where to report its outcome.
#[derive(Debug)]
pub struct OpenedSession {
    pub flow: StartedFlow,
    pub allowed_origin: String,
}

/// Why a session did not open. Once the session is found, the origin to report to is known.
#[derive(Debug)]
pub enum OpenRefused {
    /// No session has this token.
    Unknown,
    /// The database could not be read; the session is left as it was.
    Unavailable,
    /// The session was opened before.
    Used { allowed_origin: String },
    /// The session was not opened within 30 minutes.
    Expired { allowed_origin: String },
    /// The session was valid, but the flow could not begin (the key that asked for it was
    /// revoked meanwhile, the instance lost its OAuth application, GitLab is unreachable, …).
    Failed {
        allowed_origin: String,
        error: CoreError,
    },
}

impl OpenRefused {
    /// The `error` the popup reports to the embedding page.
    pub fn code(&self) -> &'static str {
        match self {
            OpenRefused::Unknown => "unknown_session",
            OpenRefused::Unavailable => "unavailable",
            OpenRefused::Used { .. } => "session_used",
            OpenRefused::Expired { .. } => "session_expired",
            OpenRefused::Failed { .. } => "connect_failed",
        }
    }

    pub fn allowed_origin(&self) -> Option<&str> {
        match self {
            OpenRefused::Unknown | OpenRefused::Unavailable => None,
            OpenRefused::Used { allowed_origin }
            | OpenRefused::Expired { allowed_origin }
            | OpenRefused::Failed { allowed_origin, .. } => Some(allowed_origin),
        }
    }
}

impl Connections {
    /// labgate's address, as the redirect URI names it (`LABGATE_SITE_URL`).
    pub(crate) fn site_url(&self) -> Result<String> {
        let redirect_uri = self.redirect_uri()?;
        let site = redirect_uri
            .as_str()
            .strip_suffix(CALLBACK_PATH)
            .unwrap_or_else(|| redirect_uri.as_str());
        Ok(site.trim_end_matches('/').to_owned())
    }

    /// Creates a connect session (`POST /api/v1/connect-sessions`). Everything the flow will
    /// need is checked now, so that the popup fails only for what changes meanwhile.
    pub async fn create_connect_session(
        &self,
        principal: &Principal,
        mut request: CreateConnectSessionRequest,
    ) -> Result<CreatedSession> {
        principal.require(Access::Admin)?;
        let Actor::ApiKey { id: api_key_id } = &principal.actor else {
            return Err(CoreError::Forbidden(
                "connect sessions are created with an API key".to_owned(),
            ));
        };
        let allowed_origin = allowed_origin(&request.allowed_origin)?;
        let name = match request.name.as_mut() {
            Some(name) => {
                trim_in_place(name);
                std::mem::take(name)
            }
            None => generated_name(),
        };
        validate::name(&name)?;
        if let Some(description) = &mut request.description {
            trim_in_place(description);
        }
        validate::description(request.description.as_deref())?;
        let scopes = match &request.scopes {
            Some(scopes) => oauth_scopes(scopes)?,
            None => vec![DEFAULT_SCOPE.to_owned()],
        };
        let labels = external_labels(request.tenant_id.as_deref(), request.user_id.as_deref())?;
        let instance_url = request
            .instance_url
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(str::to_owned);
        let site = self.site_url()?;
        self.instances
            .oauth_target(&principal.tenant_id, instance_url.as_deref())
            .await?;
        self.reconnect_target(&principal.tenant_id, &name, labels.as_ref())
            .await?;

        let id = ConnectSessionId::generate();
        let token = labgate_crypto::random_token(TOKEN_BYTES);
        let now = self.clock.now();
        let expires_at = now + SESSION_LIFETIME;
        self.store
            .insert_connect_session(&ConnectSessionRecord {
                id: id.to_string(),
                token_hash: token_hash(token.expose_secret()),
                tenant_id: principal.tenant_id.to_string(),
                api_key_id: api_key_id.clone(),
                name: name.clone(),
                description: request.description,
                scopes: scopes.join(" "),
                instance_url,
                external_tenant_id: labels.as_ref().map(|labels| labels.tenant_id.clone()),
                external_user_id: labels.as_ref().map(|labels| labels.user_id.clone()),
                allowed_origin: allowed_origin.clone(),
                created_at: ms(now),
                expires_at: ms(expires_at),
                used_at: None,
            })
            .await?;
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::ConnectionConnectSession,
                    resource_kind: ResourceType::AppConnection,
                    resource_id: None,
                    details: Some(json!({
                        "sessionId": id,
                        "name": name,
                        "scopes": scopes,
                        "allowedOrigin": allowed_origin,
                    })),
                },
            )
            .await?;
        let connect_url =
            SecretString::from(format!("{site}{CONNECT_PATH}?session={}", token.expose_secret()));
        Ok(CreatedSession {
            token,
            expires_at,
            connect_url,
        })
    }

    /// Opens a session in the popup (`GET /connect?session=…`): uses it, once, and begins its
    /// OAuth flow bound to this browser, ending on `/connect/done`.
    pub async fn open_connect_session(
        &self,
        token: &str,
        source_ip: Option<IpAddr>,
    ) -> std::result::Result<OpenedSession, OpenRefused> {
        let now = self.clock.now();
        let record = match self.store.use_connect_session(&token_hash(token), ms(now)).await {
            Ok(ConnectSessionClaim::Claimed(record)) => record,
            Ok(ConnectSessionClaim::Refused(record)) => {
                let allowed_origin = record.allowed_origin;
                return Err(if record.used_at.is_some() {
                    OpenRefused::Used { allowed_origin }
                } else {
                    OpenRefused::Expired { allowed_origin }
                });
            }
            Ok(ConnectSessionClaim::Unknown) => return Err(OpenRefused::Unknown),
            Err(error) => {
                tracing::error!(error = %error, "a connect session could not be read");
                return Err(OpenRefused::Unavailable);
            }
        };
        let allowed_origin = record.allowed_origin.clone();
        match self.begin_session_flow(record, source_ip).await {
            Ok(flow) => Ok(OpenedSession { flow, allowed_origin }),
            Err(error) => Err(OpenRefused::Failed {
                allowed_origin,
                error,
            }),
        }
    }

    async fn begin_session_flow(
        &self,
        record: ConnectSessionRecord,
        source_ip: Option<IpAddr>,
    ) -> Result<StartedFlow> {
        let tenant_id = TenantId::from_stored(record.tenant_id);
        let key_id = ApiKeyId::from_stored(record.api_key_id);
        let key = match self.store.api_key(tenant_id.as_str(), key_id.as_str()).await {
            Ok(row) => ApiKey::try_from(row)?,
            Err(StoreError::NotFound) => return Err(key_gone()),
            Err(other) => return Err(other.into()),
        };
        let now = self.clock.now();
        if key.revoked_at.is_some() || key.expires_at.is_some_and(|at| at <= now) {
            return Err(key_gone());
        }
        let principal = Principal {
            tenant_id,
            role: key.role,
            actor: Actor::ApiKey { id: key.id.into() },
            source_ip,
        };
        let mut done = url::Url::parse(&format!("{}{DONE_PATH}", self.site_url()?))
            .map_err(|error| CoreError::Conflict(format!("LABGATE_SITE_URL is not usable: {error}")))?;
        done.query_pairs_mut().append_pair("session", &record.id);
        let request = StartOAuthRequest {
            name: record.name,
            description: record.description,
            instance_url: record.instance_url,
            scopes: record.scopes.split(' ').map(str::to_owned).collect(),
            project_id: None,
            tenant_id: record.external_tenant_id,
            user_id: record.external_user_id,
            return_to: None,
        };
        self.begin_oauth(&principal, request, true, Some(done)).await
    }

    /// The origin `/connect/done` may report a session's outcome to: only for a session opened
    /// lately enough that its flow can still be ending.
    pub async fn connect_session_origin(&self, id: &str) -> Result<Option<String>> {
        let Some(id) = ConnectSessionId::parse(id) else {
            return Ok(None);
        };
        let Some(record) = self.store.connect_session(id.as_str()).await? else {
            return Ok(None);
        };
        let now = ms(self.clock.now());
        let open_until = record
            .used_at
            .map(|used_at| used_at.saturating_add(ms_of(STATE_LIFETIME + Duration::MINUTE)));
        Ok(open_until
            .is_some_and(|until| now <= until)
            .then_some(record.allowed_origin))
    }

    /// Deletes sessions that expired more than a day ago; returns how many went.
    pub async fn prune_connect_sessions(&self) -> Result<u64> {
        let before = self.clock.now() - Duration::days(1);
        Ok(self.store.prune_connect_sessions(ms(before)).await?)
    }
}

fn ms_of(duration: Duration) -> i64 {
    i64::try_from(duration.whole_milliseconds()).unwrap_or(i64::MAX)
}

fn key_gone() -> CoreError {
    CoreError::Conflict(
        "the API key that created this session was revoked or has expired; the application must create a new session"
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_https_or_local_http_without_a_path() {
        assert_eq!(
            allowed_origin("https://App.Example.com").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            allowed_origin("https://app.example.com:443/").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            allowed_origin("http://localhost:3000").unwrap(),
            "http://localhost:3000"
        );
        assert_eq!(
            allowed_origin("http://127.0.0.1:8000").unwrap(),
            "http://127.0.0.1:8000"
        );
        for bad in [
            "",
            "app.example.com",
            "http://app.example.com",
            "https://app.example.com/page",
            "https://app.example.com/?x=1",
            "https://app.example.com/#x",
            "https://user:pw@app.example.com",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "*",
            "null",
        ] {
            assert!(allowed_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn generated_names_are_slugs() {
        let name = generated_name();
        assert!(validate::name(&name).is_ok(), "{name}");
        assert_ne!(name, generated_name());
    }
}
