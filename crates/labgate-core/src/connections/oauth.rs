//! OAuth connections: the authorization flow and the code hand-over.
//!
//! A flow starts with a state of 32 random bytes, stored only as its SHA-256, single use and
//! valid ten minutes, and a PKCE (S256) verifier sealed in the vault beside it. A flow begun in a
//! browser is also bound to that browser by a cookie; a flow a backend begins through the API is
//! bound by the state alone, and its connection lands in the tenant of the key that began it.
//!
//! The callback checks the state, exchanges the code with the verifier, asks GitLab who the user
//! is, and creates the connection, or reconnects the one the flow named (by the same GitLab user
//! only). Every way it can end is a [`FlowError`] with a code, never a server error.

use labgate_crypto::Aad;
use labgate_gitlab::oauth::{OAuthApp, OAuthClient, OAuthTokens, PkceVerifier};
use labgate_gitlab::{Credential, GitLabClient, GitLabError, User};
use labgate_proto::audit::AuditAction;
use labgate_proto::connections::{
    ConnectionView, CreateConnectionRequest, OAUTH_SCOPES, StartOAuthRequest, UpdateConnectionRequest,
};
use labgate_store::{OAuthStateRecord, SealedItem, StoreError, VaultItemKey};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::model::{
    App, Connection, ConnectionEventKind, ConnectionMethod, ConnectionStatus, ExternalLabels, GitLabIdentity,
    OAuthTokenHashes, Scopes,
};
use super::rows::{connection_row, event_row};
use super::{
    Connections, OWNER_TABLE, TOKEN_FIELD, duplicate_name, not_found, trim_in_place, validate, view,
};
use crate::audit::AuditEvent;
use crate::auth::{Access, Principal};
use crate::ids::{ConnectionId, InstanceId, TenantId};
use crate::instances::OAuthTarget;
use crate::rows::ms;
use crate::{CoreError, Result};

/// The refresh token's vault field, beside the access token's.
pub const REFRESH_FIELD: &str = "refreshToken";
const STATE_TABLE: &str = "oauth_states";
const VERIFIER_FIELD: &str = "verifier";
/// How long a flow may take from start to callback.
pub const STATE_LIFETIME: Duration = Duration::minutes(10);
const STATE_BYTES: usize = 32;
const MAX_LABEL_LEN: usize = 255;
const MAX_RETURN_TO_LEN: usize = 2_048;

/// What a flow creates or reconnects, kept with its state until the callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FlowSpec {
    name: String,
    description: Option<String>,
    scopes: Vec<String>,
    project_id: Option<String>,
    external: Option<(String, String)>,
    return_to: Option<String>,
    /// The OAuth connection this flow reconnects.
    reconnect: Option<String>,
    /// Who began the flow (actor kind and id), for the audit log.
    started_by: (String, Option<String>),
}

/// A flow that has begun: where to send the browser, and until when the flow may end.
pub struct StartedFlow {
    pub authorize_url: String,
    pub expires_at: OffsetDateTime,
    /// Set when the flow was begun by a browser: the cookie value that binds the flow to it.
    pub browser_binding: Option<SecretString>,
}

impl std::fmt::Debug for StartedFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartedFlow")
            .field("expires_at", &self.expires_at)
            .field("browser_bound", &self.browser_binding.is_some())
            .finish_non_exhaustive()
    }
}

labgate_proto::text_enum! {
    /// How a flow ended without a connection: the `error` of a redirect to `returnTo`.
    pub enum FlowErrorCode {
        /// The user declined at GitLab.
        AccessDenied = "access_denied",
        /// GitLab ended the authorization with another error.
        AuthorizationFailed = "authorization_failed",
        /// No state, or one labgate never issued or that was used already.
        InvalidState = "invalid_state",
        /// The flow took longer than ten minutes.
        ExpiredState = "expired_state",
        /// The flow was begun in another browser.
        BrowserMismatch = "browser_mismatch",
        /// GitLab sent no code.
        InvalidRequest = "invalid_request",
        /// GitLab refused the code, or could not be reached.
        ExchangeFailed = "exchange_failed",
        /// A reconnect by another GitLab user than the connection's own.
        IdentityMismatch = "identity_mismatch",
        /// The connection could not be saved (its name was taken meanwhile, or it was deleted).
        ConnectionFailed = "connection_failed",
    }
}

/// Why a flow ended without a connection, in words safe to show: no token, code or state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowError {
    pub code: FlowErrorCode,
    pub message: String,
}

impl FlowError {
    fn new(code: FlowErrorCode, message: impl Into<String>) -> FlowError {
        FlowError {
            code,
            message: message.into(),
        }
    }
}

/// How a callback ended, and where the browser goes next (`returnTo`, once the state is known).
#[derive(Debug)]
pub struct FlowOutcome {
    pub result: std::result::Result<ConnectionView, FlowError>,
    pub return_to: Option<url::Url>,
}

/// The query GitLab sends the browser back with.
#[derive(Default)]
pub struct Callback {
    pub state: Option<String>,
    pub code: Option<SecretString>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// The scopes asked for: at least one, each one GitLab grants OAuth applications.
pub fn oauth_scopes(requested: &[String]) -> Result<Vec<String>> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in requested {
        let scope = scope.trim();
        if !OAUTH_SCOPES.contains(&scope) {
            return Err(CoreError::validation(
                "scopes",
                format!(
                    "unknown scope {scope:?}; GitLab grants OAuth applications {}",
                    OAUTH_SCOPES.join(", ")
                ),
            ));
        }
        if !scopes.iter().any(|known| known == scope) {
            scopes.push(scope.to_owned());
        }
    }
    if scopes.is_empty() {
        return Err(CoreError::validation(
            "scopes",
            "at least one scope is required (for example read_api)",
        ));
    }
    Ok(scopes)
}

fn label(field: &'static str, text: &str) -> Result<String> {
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_LABEL_LEN || text.chars().any(char::is_control) {
        return Err(CoreError::validation(
            field,
            format!("{field} must be 1–{MAX_LABEL_LEN} characters without control characters"),
        ));
    }
    Ok(text.to_owned())
}

/// Refuses the settings that belong to access tokens: an OAuth connection is refreshed rather
/// than rotated, and its reach is its scopes.
fn access_token_settings(
    auto_rotate: Option<bool>,
    rotate_before_days: Option<u32>,
    usages: Option<&[String]>,
) -> Result<()> {
    if auto_rotate == Some(true) || rotate_before_days.is_some() {
        return Err(CoreError::validation(
            "autoRotate",
            "OAuth connections are refreshed, not rotated: leave autoRotate and rotateBeforeDays out",
        ));
    }
    if usages.is_some_and(|usages| !usages.is_empty()) {
        return Err(CoreError::validation(
            "usages",
            "usages are checked against access tokens; an OAuth connection's reach is its scopes",
        ));
    }
    Ok(())
}

/// What a `PATCH` may change on an OAuth connection: its name, its description and `autoRotate`
/// (a refresh at once when a scan finds one of its tokens leaked). New tokens come from a
/// reconnect through OAuth, and its reach is its scopes, refreshed rather than rotated.
pub fn check_update(request: &UpdateConnectionRequest) -> Result<()> {
    if request.credentials.is_some() {
        return Err(CoreError::validation(
            "credentials",
            "an OAuth connection gets new tokens by reconnecting: start an authorization with its name \
             (POST /api/v1/app-connections/gitlab/oauth/start)",
        ));
    }
    access_token_settings(None, request.rotate_before_days, request.usages.as_deref())?;
    Ok(())
}

/// The embedding application's tenant and user, both or neither.
pub fn external_labels(tenant_id: Option<&str>, user_id: Option<&str>) -> Result<Option<ExternalLabels>> {
    match (tenant_id, user_id) {
        (None, None) => Ok(None),
        (Some(tenant_id), Some(user_id)) => Ok(Some(ExternalLabels {
            tenant_id: label("tenantId", tenant_id)?,
            user_id: label("userId", user_id)?,
        })),
        (Some(_), None) => Err(CoreError::validation(
            "userId",
            "userId is required with tenantId",
        )),
        (None, Some(_)) => Err(CoreError::validation(
            "tenantId",
            "tenantId is required with userId",
        )),
    }
}

/// Where the browser goes when the flow ends: an absolute https URL (http only on loopback, for
/// local development), without credentials or a fragment.
pub fn return_to(text: &str) -> Result<url::Url> {
    let refuse = |why: &str| CoreError::validation("returnTo", format!("returnTo {why}"));
    if text.len() > MAX_RETURN_TO_LEN {
        return Err(refuse("must be at most 2048 characters"));
    }
    let url = url::Url::parse(text.trim()).map_err(|_| refuse("must be an absolute URL"))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(refuse("must use https:// (http:// only for localhost)")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refuse("must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("must not carry credentials"));
    }
    if url.fragment().is_some() {
        return Err(refuse("must not carry a fragment"));
    }
    Ok(url)
}

fn state_hash(state: &str) -> String {
    hex::encode(labgate_crypto::sha256(state.as_bytes()))
}

fn verifier_aad<'a>(tenant_id: &'a str, state_hash: &'a str) -> Aad<'a> {
    Aad::new(tenant_id, STATE_TABLE, state_hash, VERIFIER_FIELD)
}

/// The lifetime GitLab gave the token, measured on labgate's clock.
pub(super) fn expiry_of(tokens: &OAuthTokens, received: OffsetDateTime) -> Option<OffsetDateTime> {
    tokens
        .expires_in
        .and_then(|lifetime| Duration::try_from(lifetime).ok())
        .map(|lifetime| received + lifetime)
}

impl Connections {
    /// The GitLab client for an OAuth application's instance (its CA bundle and proxy).
    pub(super) fn oauth_client(&self, target: &OAuthTarget) -> Result<OAuthClient> {
        let redirect_uri = self.redirect_uri()?;
        let gitlab = GitLabClient::with_options(target.settings.clone(), &self.policy, self.options.clone())
            .map_err(|error| CoreError::Unavailable(format!("cannot reach GitLab: {error}")))?;
        Ok(OAuthClient::new(
            gitlab,
            OAuthApp {
                client_id: target.client_id.clone(),
                client_secret: target.client_secret.clone(),
                redirect_uri,
            },
        ))
    }

    pub(super) fn redirect_uri(&self) -> Result<url::Url> {
        let Some(uri) = self.instances.redirect_uri() else {
            return Err(CoreError::Conflict(
                "OAuth needs the address labgate is reached at: set LABGATE_SITE_URL".to_owned(),
            ));
        };
        url::Url::parse(uri)
            .map_err(|error| CoreError::Conflict(format!("LABGATE_SITE_URL is not usable: {error}")))
    }

    /// Begins an authorization (`POST /api/v1/app-connections/gitlab/oauth/start`). With
    /// `bind_browser`, the flow is also bound to the browser that begins it by a cookie.
    pub async fn start_oauth(
        &self,
        principal: &Principal,
        request: StartOAuthRequest,
        bind_browser: bool,
    ) -> Result<StartedFlow> {
        self.begin_oauth(principal, request, bind_browser, None).await
    }

    /// Begins an authorization from one of labgate's own pages, bound to the browser, that ends
    /// back on labgate at `return_path` (a path below `LABGATE_SITE_URL`) with `connectionId`,
    /// or `error` and `error_description`, added to its query.
    pub async fn start_oauth_from_page(
        &self,
        principal: &Principal,
        request: StartOAuthRequest,
        return_path: &str,
    ) -> Result<StartedFlow> {
        let site = self.site_url()?;
        let own = url::Url::parse(&format!("{site}{return_path}"))
            .map_err(|error| CoreError::Conflict(format!("LABGATE_SITE_URL is not usable: {error}")))?;
        self.begin_oauth(principal, request, true, Some(own)).await
    }

    /// [`Connections::start_oauth`], or with `own_return_to`, a flow that ends on one of
    /// labgate's own pages (which need not be https: it is labgate's site URL) instead of the
    /// request's `returnTo`.
    pub(super) async fn begin_oauth(
        &self,
        principal: &Principal,
        mut request: StartOAuthRequest,
        bind_browser: bool,
        own_return_to: Option<url::Url>,
    ) -> Result<StartedFlow> {
        principal.require(Access::Write)?;
        trim_in_place(&mut request.name);
        if let Some(description) = &mut request.description {
            trim_in_place(description);
        }
        validate::name(&request.name)?;
        validate::description(request.description.as_deref())?;
        validate::project_id(request.project_id.as_deref())?;
        let scopes = oauth_scopes(&request.scopes)?;
        let external = external_labels(request.tenant_id.as_deref(), request.user_id.as_deref())?;
        let return_to = match own_return_to {
            Some(own) => Some(own),
            None => request.return_to.as_deref().map(return_to).transpose()?,
        };
        let target = self
            .instances
            .oauth_target(&principal.tenant_id, request.instance_url.as_deref())
            .await?;
        let client = self.oauth_client(&target)?;
        let reconnect = self
            .reconnect_target(&principal.tenant_id, &request.name, external.as_ref())
            .await?;
        let state = labgate_crypto::random_token(STATE_BYTES);
        let hash = state_hash(state.expose_secret());
        let (authorize_url, verifier) = client
            .authorize_url(&scopes, state.expose_secret())
            .map_err(|error| CoreError::Unavailable(error.to_string()))?;
        let sealed_verifier = self
            .vault
            .seal(
                &verifier_aad(principal.tenant_id.as_str(), &hash),
                verifier.secret(),
            )
            .await?;
        let browser_binding = bind_browser.then(|| labgate_crypto::random_token(STATE_BYTES));
        let now = self.clock.now();
        let expires_at = now + STATE_LIFETIME;
        let spec = FlowSpec {
            name: request.name,
            description: request.description,
            scopes,
            project_id: request.project_id,
            external: external.map(|labels| (labels.tenant_id, labels.user_id)),
            return_to: return_to.map(String::from),
            reconnect: reconnect.map(String::from),
            started_by: (
                principal.actor.kind().as_str().to_owned(),
                principal.actor.id().map(str::to_owned),
            ),
        };
        self.store
            .insert_oauth_state(&OAuthStateRecord {
                state_hash: hash,
                tenant_id: principal.tenant_id.to_string(),
                instance_id: target.instance_id.as_ref().map(ToString::to_string),
                request: serde_json::to_string(&spec).map_err(CoreError::internal)?,
                sealed_verifier,
                browser_binding: browser_binding
                    .as_ref()
                    .map(|binding| state_hash(binding.expose_secret())),
                created_at: ms(now),
                expires_at: ms(expires_at),
                used_at: None,
            })
            .await?;
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::ConnectionOAuthStart,
                    resource_kind: labgate_proto::audit::ResourceType::AppConnection,
                    resource_id: spec.reconnect.as_deref(),
                    details: Some(json!({
                        "name": spec.name,
                        "instanceUrl": target.base_url().as_str(),
                        "scopes": spec.scopes,
                        "browserBound": browser_binding.is_some(),
                    })),
                },
            )
            .await?;
        Ok(StartedFlow {
            authorize_url: authorize_url.to_string(),
            expires_at,
            browser_binding,
        })
    }

    /// The OAuth connection a flow of this name or these labels reconnects, if any. A name
    /// taken by an access-token connection, or a name and labels of two different connections,
    /// are refused before the user is sent anywhere.
    pub(super) async fn reconnect_target(
        &self,
        tenant_id: &TenantId,
        name: &str,
        external: Option<&ExternalLabels>,
    ) -> Result<Option<ConnectionId>> {
        let by_name = match self
            .store
            .connection_by_name(tenant_id.as_str(), App::GitLab.as_str(), name, None)
            .await
        {
            Ok(row) => Some(Connection::try_from(row)?),
            Err(StoreError::NotFound) => None,
            Err(other) => return Err(other.into()),
        };
        let by_labels = match external {
            Some(labels) => match self
                .store
                .connection_by_external(tenant_id.as_str(), &labels.tenant_id, &labels.user_id)
                .await
            {
                Ok(row) => Some(Connection::try_from(row)?),
                Err(StoreError::NotFound) => None,
                Err(other) => return Err(other.into()),
            },
            None => None,
        };
        let target = match (by_name, by_labels) {
            (None, None) => return Ok(None),
            (Some(a), Some(b)) if a.id != b.id => {
                return Err(CoreError::validation(
                    "name",
                    format!(
                        "the connection {:?} carries these tenantId and userId; reconnect it by its own name",
                        b.name
                    ),
                ));
            }
            (Some(connection), _) | (None, Some(connection)) => connection,
        };
        if target.method != ConnectionMethod::OAuth {
            return Err(duplicate_name(name));
        }
        Ok(Some(target.id))
    }

    /// Ends an authorization (`GET /organization/app-connections/gitlab/oauth/callback`).
    /// `browser_binding` is the binding cookie the browser sent, if any.
    pub async fn finish_oauth(&self, callback: Callback, browser_binding: Option<&str>) -> FlowOutcome {
        let Some(state) = callback.state.as_deref().filter(|state| !state.is_empty()) else {
            return FlowOutcome {
                result: Err(FlowError::new(
                    FlowErrorCode::InvalidState,
                    "the authorization carries no state; start again from the application",
                )),
                return_to: None,
            };
        };
        let now = self.clock.now();
        let record = match self.store.use_oauth_state(&state_hash(state), ms(now)).await {
            Ok(Some(record)) => record,
            Ok(None) => {
                return FlowOutcome {
                    result: Err(FlowError::new(
                        FlowErrorCode::InvalidState,
                        "this authorization is unknown or was used already; start again from the application",
                    )),
                    return_to: None,
                };
            }
            Err(error) => {
                tracing::error!(error = %error, "an OAuth state could not be read");
                return FlowOutcome {
                    result: Err(FlowError::new(
                        FlowErrorCode::ConnectionFailed,
                        "labgate could not read the authorization; try again shortly",
                    )),
                    return_to: None,
                };
            }
        };
        let Ok(spec) = serde_json::from_str::<FlowSpec>(&record.request) else {
            return FlowOutcome {
                result: Err(FlowError::new(
                    FlowErrorCode::InvalidState,
                    "the authorization's record is unreadable; start again from the application",
                )),
                return_to: None,
            };
        };
        let return_to = spec
            .return_to
            .as_deref()
            .and_then(|text| url::Url::parse(text).ok());
        let tenant_id = TenantId::from_stored(record.tenant_id.clone());
        let result = self
            .finish_checked(&tenant_id, &record, &spec, callback, browser_binding, now)
            .await;
        let audited = match &result {
            Ok(connection) => {
                self.audit_system(
                    connection,
                    AuditAction::ConnectionOAuthConnect,
                    json!({"name": connection.name, "startedBy": spec.started_by.1, "gitlabUser": connection.gitlab_user.username}),
                )
                .await
            }
            Err(error) => {
                self.audit
                    .record_as(
                        Some(&tenant_id),
                        &crate::auth::Actor::System,
                        None,
                        AuditEvent {
                            action: AuditAction::ConnectionOAuthFailed,
                            resource_kind: labgate_proto::audit::ResourceType::AppConnection,
                            resource_id: spec.reconnect.as_deref(),
                            details: Some(json!({"name": spec.name, "error": error.code})),
                        },
                    )
                    .await
            }
        };
        if let Err(error) = audited {
            tracing::warn!(error = %error, "the end of an OAuth flow could not be audited");
        }
        FlowOutcome {
            result: result.map(|connection| view(&connection)),
            return_to,
        }
    }

    async fn finish_checked(
        &self,
        tenant_id: &TenantId,
        record: &OAuthStateRecord,
        spec: &FlowSpec,
        callback: Callback,
        browser_binding: Option<&str>,
        now: OffsetDateTime,
    ) -> std::result::Result<Connection, FlowError> {
        if ms(now) >= record.expires_at {
            return Err(FlowError::new(
                FlowErrorCode::ExpiredState,
                "the authorization took longer than ten minutes; start again from the application",
            ));
        }
        if let Some(expected) = &record.browser_binding {
            let presented = browser_binding.map(state_hash);
            if !presented
                .is_some_and(|hash| labgate_crypto::constant_time_eq(hash.as_bytes(), expected.as_bytes()))
            {
                return Err(FlowError::new(
                    FlowErrorCode::BrowserMismatch,
                    "this authorization was begun in another browser; start again here",
                ));
            }
        }
        if let Some(error) = callback.error.as_deref() {
            return Err(if error == "access_denied" {
                FlowError::new(
                    FlowErrorCode::AccessDenied,
                    "the authorization was declined at GitLab; nothing was connected",
                )
            } else {
                let known = error.len() <= 64 && error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
                FlowError::new(
                    FlowErrorCode::AuthorizationFailed,
                    format!(
                        "GitLab ended the authorization with {}",
                        if known { error } else { "an error" }
                    ),
                )
            });
        }
        let Some(code) = callback.code.filter(|code| !code.expose_secret().is_empty()) else {
            return Err(FlowError::new(
                FlowErrorCode::InvalidRequest,
                "GitLab sent no authorization code; start again from the application",
            ));
        };
        let instance_id = record.instance_id.clone().map(InstanceId::from_stored);
        let target = self
            .instances
            .oauth_target_of(tenant_id, instance_id.as_ref())
            .await
            .map_err(|error| FlowError::new(FlowErrorCode::ExchangeFailed, error.to_string()))?;
        let verifier = self
            .vault
            .open(
                &verifier_aad(tenant_id.as_str(), &record.state_hash),
                &record.sealed_verifier,
            )
            .await
            .map(PkceVerifier::from_secret)
            .map_err(|error| {
                tracing::error!(error = %error, "an OAuth verifier could not be opened");
                FlowError::new(
                    FlowErrorCode::ExchangeFailed,
                    "labgate could not open the authorization's verifier; start again",
                )
            })?;
        let (tokens, user) = self
            .exchange(tenant_id, &target, &code, Some(&verifier))
            .await
            .map_err(|error| FlowError::new(FlowErrorCode::ExchangeFailed, error.to_string()))?;
        self.connect(tenant_id, &target, tokens, &user, spec).await
    }

    /// Exchanges a code and asks GitLab who authorised it. `invalid_client` raises the
    /// instance's alert.
    async fn exchange(
        &self,
        tenant_id: &TenantId,
        target: &OAuthTarget,
        code: &SecretString,
        verifier: Option<&PkceVerifier>,
    ) -> Result<(ReceivedTokens, User)> {
        let client = self.oauth_client(target)?;
        let tokens = match client.exchange_code(code, verifier).await {
            Ok(tokens) => tokens,
            Err(GitLabError::InvalidClient) => {
                self.instance_refused(tenant_id, target).await;
                return Err(CoreError::Unavailable(
                    "GitLab refused labgate's OAuth application (invalid_client): check the client id and secret \
                     configured for this instance"
                        .to_owned(),
                ));
            }
            Err(GitLabError::InvalidGrant) => {
                return Err(CoreError::validation(
                    "code",
                    "GitLab refused the authorization code (invalid_grant): it is unknown, used, expired, or was \
                     issued for another redirect URI or application",
                ));
            }
            Err(error) => {
                return Err(CoreError::Unavailable(format!(
                    "the authorization code could not be exchanged: {error}"
                )));
            }
        };
        let received = ReceivedTokens::new(tokens, self.clock.now())?;
        let gitlab = GitLabClient::with_options(target.settings.clone(), &self.policy, self.options.clone())
            .map_err(|error| CoreError::Unavailable(format!("cannot reach GitLab: {error}")))?;
        match gitlab
            .current_user(&Credential::OAuth(received.access_token.clone()))
            .await
        {
            Ok(user) => Ok((received, user)),
            Err(error) => {
                self.revoke_pair(target, &received).await;
                Err(CoreError::Unavailable(format!(
                    "GitLab did not say who authorised labgate: {error}"
                )))
            }
        }
    }

    /// Revokes a token pair nobody will hold (a refused reconnect, a connection that could not
    /// be saved), so no grant lives on at GitLab unseen.
    pub(super) async fn revoke_pair(&self, target: &OAuthTarget, tokens: &ReceivedTokens) {
        let outcome = match self.oauth_client(target) {
            Ok(client) => client
                .revoke(&tokens.refresh_token, true)
                .await
                .map_err(|error| error.to_string()),
            Err(error) => Err(error.to_string()),
        };
        if let Err(error) = outcome {
            tracing::warn!(error = %error, "an unused OAuth grant could not be revoked");
        }
    }

    /// Revokes an OAuth connection's whole grant at GitLab (through its refresh token).
    pub(super) async fn revoke_grant(&self, connection: &Connection) -> std::result::Result<(), GitLabError> {
        let unavailable = |error: CoreError| GitLabError::Other {
            status: 0,
            message: error.to_string(),
        };
        let target = self
            .instances
            .oauth_target_of(&connection.tenant_id, connection.instance_id.as_ref())
            .await
            .map_err(unavailable)?;
        let refresh_token = self
            .vault
            .get_secret(&refresh_slot(connection))
            .await
            .map_err(unavailable)?;
        let Some(refresh_token) = refresh_token else {
            return Ok(());
        };
        self.oauth_client(&target)
            .map_err(unavailable)?
            .revoke(&refresh_token, true)
            .await
    }

    /// Tells the audit log and subscribers that GitLab refused an instance's OAuth application.
    pub(super) async fn instance_refused(&self, tenant_id: &TenantId, target: &OAuthTarget) {
        let details = json!({
            "instanceId": target.instance_id.as_ref().map(ToString::to_string),
            "instanceUrl": target.base_url().as_str(),
            "clientId": target.client_id,
        });
        tracing::error!(instance_url = %target.base_url().as_str(), "GitLab refused the OAuth application (invalid_client)");
        let audited = self
            .audit
            .record_as(
                Some(tenant_id),
                &crate::auth::Actor::System,
                None,
                AuditEvent {
                    action: AuditAction::GitLabInstanceOAuthRefused,
                    resource_kind: labgate_proto::audit::ResourceType::GitLabInstance,
                    resource_id: target.instance_id.as_ref().map(|id| id.as_str()),
                    details: Some(details.clone()),
                },
            )
            .await;
        let emitted = self
            .webhooks
            .emit(
                tenant_id,
                labgate_proto::webhooks::WebhookEventType::InstanceOAuthRefused,
                details,
            )
            .await;
        if let Err(error) = audited.and(emitted) {
            tracing::warn!(error = %error, "the OAuth application alert could not be recorded");
        }
    }

    /// Creates the flow's connection, or reconnects the one it names.
    async fn connect(
        &self,
        tenant_id: &TenantId,
        target: &OAuthTarget,
        tokens: ReceivedTokens,
        user: &User,
        spec: &FlowSpec,
    ) -> std::result::Result<Connection, FlowError> {
        let outcome = match &spec.reconnect {
            Some(id) => self.reconnect(tenant_id, target, &tokens, user, id).await,
            None => self.insert_oauth(tenant_id, target, &tokens, user, spec).await,
        };
        if outcome.is_err() {
            self.revoke_pair(target, &tokens).await;
        }
        outcome
    }

    async fn insert_oauth(
        &self,
        tenant_id: &TenantId,
        target: &OAuthTarget,
        tokens: &ReceivedTokens,
        user: &User,
        spec: &FlowSpec,
    ) -> std::result::Result<Connection, FlowError> {
        let failed = |error: CoreError| FlowError::new(FlowErrorCode::ConnectionFailed, error.to_string());
        let now = tokens.received_at;
        let mut connection = Connection {
            id: ConnectionId::generate(),
            tenant_id: tenant_id.clone(),
            name: spec.name.clone(),
            description: spec.description.clone(),
            app: App::GitLab,
            method: ConnectionMethod::OAuth,
            token_type: None,
            instance_url: target.base_url().as_str().to_owned(),
            project_id: spec.project_id.clone(),
            credentials_hash: self
                .oauth_credentials_hash(tenant_id, target, user)
                .await
                .map_err(failed)?,
            status: ConnectionStatus::Active,
            status_reason: None,
            scopes: Scopes::default(),
            expires_at: None,
            token_name: None,
            token_id: None,
            gitlab_user: identity_of(user),
            resource: None,
            access_level: None,
            usages: Vec::new(),
            auto_rotate: false,
            rotate_before_days: validate::rotate_before_days(None).map_err(failed)?,
            consecutive_failures: 0,
            refresh_generation: 0,
            version: 1,
            last_checked_at: Some(now),
            last_rotated_at: None,
            instance_id: target.instance_id.clone(),
            external: spec
                .external
                .clone()
                .map(|(tenant_id, user_id)| ExternalLabels { tenant_id, user_id }),
            token_issued_at: None,
            next_refresh_at: None,
            last_used_at: None,
            created_at: now,
            updated_at: now,
            token_hashes: None,
        };
        let keys = self.vault.active_keys(tenant_id.as_str()).await.map_err(failed)?;
        tokens.apply_to(&mut connection, &keys);
        let sealed = SealedPair::seal(&keys, &connection, tokens, ms(tokens.received_at)).map_err(failed)?;
        let items = sealed.items(&connection);
        match self
            .store
            .insert_connection_with_tokens(&connection_row(&connection), &items)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => {
                return Err(FlowError::new(
                    FlowErrorCode::ConnectionFailed,
                    format!(
                        "a GitLab connection named {:?} (or with these tenantId and userId) was created meanwhile",
                        connection.name
                    ),
                ));
            }
            Err(other) => return Err(failed(other.into())),
        }
        self.record_event(&self.event(&connection, ConnectionEventKind::Created, None, None))
            .await
            .map_err(failed)?;
        Ok(connection)
    }

    async fn reconnect(
        &self,
        tenant_id: &TenantId,
        target: &OAuthTarget,
        tokens: &ReceivedTokens,
        user: &User,
        id: &str,
    ) -> std::result::Result<Connection, FlowError> {
        let failed = |error: CoreError| FlowError::new(FlowErrorCode::ConnectionFailed, error.to_string());
        for _ in 0..3 {
            let current = self
                .fetch(tenant_id, &ConnectionId::from_stored(id.to_owned()))
                .await
                .map_err(|error| match error {
                    CoreError::NotFound(_) => FlowError::new(
                        FlowErrorCode::ConnectionFailed,
                        "the connection to reconnect was deleted meanwhile",
                    ),
                    other => failed(other),
                })?;
            if current.instance_url != target.base_url().as_str()
                || current.gitlab_user.user_id != Some(user.id)
            {
                return Err(FlowError::new(
                    FlowErrorCode::IdentityMismatch,
                    format!(
                        "the connection belongs to another GitLab user{}; sign in to GitLab as that user to reconnect it, \
                         or create a connection with another name",
                        current
                            .gitlab_user
                            .username
                            .as_deref()
                            .map(|name| format!(" (@{name})"))
                            .unwrap_or_default()
                    ),
                ));
            }
            let mut next = current.clone();
            let keys = self.vault.active_keys(tenant_id.as_str()).await.map_err(failed)?;
            tokens.apply_to(&mut next, &keys);
            next.credentials_hash = self
                .oauth_credentials_hash(tenant_id, target, user)
                .await
                .map_err(failed)?;
            next.gitlab_user = identity_of(user);
            next.status = ConnectionStatus::Active;
            next.status_reason = None;
            next.consecutive_failures = 0;
            next.refresh_generation = current.refresh_generation.saturating_add(1);
            next.version = current.version.saturating_add(1);
            next.last_checked_at = Some(tokens.received_at);
            next.updated_at = tokens.received_at;
            let kind = if current.status == ConnectionStatus::Active {
                ConnectionEventKind::CredentialsUpdated
            } else {
                ConnectionEventKind::Recovered
            };
            let event = self.event(
                &next,
                kind,
                Some(current.status),
                Some("reconnected through OAuth".to_owned()),
            );
            // The grant being replaced is revoked once the new one is saved: it must not live on at
            // GitLab with nobody holding it.
            let replaced = self.latest_refresh_token(&current).await.map_err(failed)?;
            let sealed = SealedPair::seal(&keys, &next, tokens, ms(tokens.received_at)).map_err(failed)?;
            let items = sealed.items(&next);
            let _forget = self.cache.forget_after(&next.id);
            let saved = self
                .store
                .save_connection_with_tokens(
                    &connection_row(&next),
                    super::rows_version(current.version),
                    &items,
                    Some(&event_row(&event)),
                )
                .await
                .map_err(|error| failed(error.into()))?;
            if saved.is_some() {
                // A refresh left unsent or unanswered belongs to the grant just replaced.
                for entry in self
                    .store
                    .connection_journal(tenant_id.as_str(), id)
                    .await
                    .map_err(|error| failed(error.into()))?
                {
                    self.store
                        .delete_journal(&entry.id)
                        .await
                        .map_err(|error| failed(error.into()))?;
                }
                if let Some(replaced) = replaced {
                    let revoked = match self.oauth_client(target) {
                        Ok(client) => client
                            .revoke(&replaced, true)
                            .await
                            .map_err(|error| error.to_string()),
                        Err(error) => Err(error.to_string()),
                    };
                    if let Err(error) = revoked {
                        tracing::warn!(connection_id = %next.id, error = %error, "the replaced OAuth grant could not be revoked");
                    }
                }
                if current.status != next.status {
                    self.emit_status(&next, current.status, "reconnected through OAuth")
                        .await
                        .map_err(failed)?;
                }
                return Ok(next);
            }
        }
        Err(failed(super::changed_meanwhile()))
    }

    /// An OAuth connection's `credentialsHash`: of the instance, the GitLab user and the OAuth
    /// application rather than of a token, so that it stays the same across every refresh
    /// (DESIGN.md, "Credential hash").
    async fn oauth_credentials_hash(
        &self,
        tenant_id: &TenantId,
        target: &OAuthTarget,
        user: &User,
    ) -> Result<String> {
        let identity = format!(
            "oauth\n{}\n{}\n{}",
            target.base_url().as_str(),
            user.id,
            target.client_id
        );
        self.vault.hmac_hex(tenant_id.as_str(), identity.as_bytes()).await
    }

    /// Creates an OAuth connection from a code the client obtained itself with labgate's
    /// `oauthClientId` and redirect URI (Infisical's `method: "oauth"`).
    pub(super) async fn create_from_code(
        &self,
        principal: &Principal,
        request: CreateConnectionRequest,
    ) -> Result<ConnectionView> {
        validate::unsupported(
            request.is_platform_managed_credentials,
            request.gateway_id.as_ref(),
        )?;
        validate::name(&request.name)?;
        validate::description(request.description.as_deref())?;
        validate::project_id(request.project_id.as_deref())?;
        access_token_settings(
            request.auto_rotate,
            request.rotate_before_days,
            request.usages.as_deref(),
        )?;
        let credentials = request.credentials.clone().unwrap_or_default();
        if credentials.access_token.is_some() || credentials.access_token_type.is_some() {
            return Err(CoreError::validation(
                "credentials",
                "method oauth takes {code, instanceUrl}; accessToken and accessTokenType belong to method access-token",
            ));
        }
        let Some(code) = credentials.code.map(|mut code| {
            trim_in_place(&mut code);
            SecretString::from(code)
        }) else {
            return Err(CoreError::validation(
                "credentials.code",
                "credentials.code is required: the authorization code GitLab sent to labgate's redirect URI",
            ));
        };
        if code.expose_secret().is_empty()
            || code
                .expose_secret()
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(CoreError::validation(
                "credentials.code",
                "credentials.code must be an authorization code without spaces",
            ));
        }
        match self
            .store
            .connection_by_name(
                principal.tenant_id.as_str(),
                App::GitLab.as_str(),
                &request.name,
                None,
            )
            .await
        {
            Ok(_) => return Err(duplicate_name(&request.name)),
            Err(StoreError::NotFound) => {}
            Err(other) => return Err(other.into()),
        }
        let target = self
            .instances
            .oauth_target(&principal.tenant_id, credentials.instance_url.as_deref())
            .await?;
        let (tokens, user) = self.exchange(&principal.tenant_id, &target, &code, None).await?;
        let spec = FlowSpec {
            name: request.name,
            description: request.description,
            scopes: Vec::new(),
            project_id: request.project_id,
            external: None,
            return_to: None,
            reconnect: None,
            started_by: (
                principal.actor.kind().as_str().to_owned(),
                principal.actor.id().map(str::to_owned),
            ),
        };
        let connection = self
            .connect(&principal.tenant_id, &target, tokens, &user, &spec)
            .await
            .map_err(|error| match error.code {
                FlowErrorCode::ConnectionFailed => CoreError::AlreadyExists(error.message),
                _ => CoreError::Unavailable(error.message),
            })?;
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::ConnectionCreate,
                    resource_kind: labgate_proto::audit::ResourceType::AppConnection,
                    resource_id: Some(connection.id.as_str()),
                    details: Some(
                        json!({"name": connection.name, "app": connection.app, "method": connection.method}),
                    ),
                },
            )
            .await?;
        Ok(view(&connection))
    }

    /// A connection by the labels an embedding application gave it.
    pub(super) async fn by_external(
        &self,
        principal: &Principal,
        labels: &ExternalLabels,
    ) -> Result<Connection> {
        match self
            .store
            .connection_by_external(principal.tenant_id.as_str(), &labels.tenant_id, &labels.user_id)
            .await
        {
            Ok(row) => Ok(Connection::try_from(row)?),
            Err(StoreError::NotFound) => Err(not_found()),
            Err(other) => Err(other.into()),
        }
    }
}

/// Where a connection's refresh token is sealed.
pub(super) fn refresh_slot(connection: &Connection) -> crate::vault::SecretSlot<'_> {
    crate::vault::SecretSlot {
        tenant_id: connection.tenant_id.as_str(),
        owner_table: OWNER_TABLE,
        owner_id: connection.id.as_str(),
        field: REFRESH_FIELD,
    }
}

pub(super) fn identity_of(user: &User) -> GitLabIdentity {
    GitLabIdentity {
        user_id: Some(user.id),
        username: Some(user.username.clone()),
        bot: Some(user.bot),
    }
}

/// GitLab's answer to a code exchange or refresh, dated on labgate's clock.
pub(super) struct ReceivedTokens {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    pub scopes: Vec<String>,
    pub received_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
}

impl ReceivedTokens {
    pub(super) fn new(tokens: OAuthTokens, received_at: OffsetDateTime) -> Result<ReceivedTokens> {
        let expires_at = expiry_of(&tokens, received_at);
        let Some(refresh_token) = tokens.refresh_token else {
            return Err(CoreError::Unavailable(
                "GitLab sent no refresh token; the connection could not be kept fresh".to_owned(),
            ));
        };
        Ok(ReceivedTokens {
            access_token: tokens.access_token,
            refresh_token,
            scopes: tokens.scopes,
            received_at,
            expires_at,
        })
    }

    /// Dates, scopes, token hashes and the next proactive refresh of a connection now holding
    /// these tokens.
    pub(super) fn apply_to(&self, connection: &mut Connection, keys: &labgate_crypto::TenantKeys) {
        connection.token_hashes = Some(OAuthTokenHashes {
            access_token: keys.hmac_hex(self.access_token.expose_secret().as_bytes()),
            refresh_token: keys.hmac_hex(self.refresh_token.expose_secret().as_bytes()),
        });
        if !self.scopes.is_empty() {
            connection.scopes = self.scopes.iter().cloned().collect();
        }
        connection.expires_at = self.expires_at;
        connection.token_issued_at = Some(self.received_at);
        connection.next_refresh_at = self
            .expires_at
            .map(|expires_at| super::refresh::proactive_refresh_at(self.received_at, expires_at));
    }
}

/// Both tokens sealed for one connection's vault slots.
pub(super) struct SealedPair {
    access: (Vec<u8>, String),
    refresh: (Vec<u8>, String),
    now: i64,
}

impl SealedPair {
    pub(super) fn seal(
        keys: &labgate_crypto::TenantKeys,
        connection: &Connection,
        tokens: &ReceivedTokens,
        now: i64,
    ) -> Result<SealedPair> {
        let seal = |field: &str, token: &SecretString| -> Result<(Vec<u8>, String)> {
            let sealed = keys.seal_str(
                &Aad::new(
                    connection.tenant_id.as_str(),
                    OWNER_TABLE,
                    connection.id.as_str(),
                    field,
                ),
                token,
            );
            let key_id = labgate_crypto::sealed_key_id(&sealed)?;
            Ok((sealed, key_id))
        };
        Ok(SealedPair {
            access: seal(TOKEN_FIELD, &tokens.access_token)?,
            refresh: seal(REFRESH_FIELD, &tokens.refresh_token)?,
            now,
        })
    }

    pub(super) fn items<'a>(&'a self, connection: &'a Connection) -> [SealedItem<'a>; 2] {
        let key = |field: &'a str| VaultItemKey {
            tenant_id: connection.tenant_id.as_str(),
            owner_table: OWNER_TABLE,
            owner_id: connection.id.as_str(),
            field,
        };
        [
            SealedItem {
                key: key(TOKEN_FIELD),
                sealed: &self.access.0,
                data_key_id: &self.access.1,
                now: self.now,
            },
            SealedItem {
                key: key(REFRESH_FIELD),
                sealed: &self.refresh.0,
                data_key_id: &self.refresh.1,
                now: self.now,
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_gitlabs_oauth_scopes() {
        assert_eq!(
            oauth_scopes(&[
                "read_api".to_owned(),
                " read_user ".to_owned(),
                "read_api".to_owned()
            ])
            .unwrap(),
            ["read_api", "read_user"]
        );
        assert!(oauth_scopes(&[]).is_err());
        assert!(oauth_scopes(&["self_rotate".to_owned()]).is_err());
        assert!(oauth_scopes(&["API".to_owned()]).is_err());
    }

    #[test]
    fn labels_come_in_pairs() {
        assert!(external_labels(None, None).unwrap().is_none());
        assert_eq!(
            external_labels(Some(" t1 "), Some("u1")).unwrap(),
            Some(ExternalLabels {
                tenant_id: "t1".to_owned(),
                user_id: "u1".to_owned()
            })
        );
        assert!(external_labels(Some("t1"), None).is_err());
        assert!(external_labels(None, Some("u1")).is_err());
        assert!(external_labels(Some("t\u{7}"), Some("u1")).is_err());
        assert!(external_labels(Some(""), Some("u1")).is_err());
    }

    #[test]
    fn return_to_is_an_https_url_without_credentials() {
        assert!(return_to("https://app.example.com/connected?x=1").is_ok());
        assert!(return_to("http://localhost:3000/done").is_ok());
        for bad in [
            "/relative",
            "http://app.example.com/",
            "javascript:alert(1)",
            "https://user:pass@app.example.com/",
            "https://app.example.com/#frag",
            "ftp://app.example.com/",
        ] {
            assert!(return_to(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn states_are_stored_as_digests() {
        let hash = state_hash("abc");
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, "abc");
    }
}
