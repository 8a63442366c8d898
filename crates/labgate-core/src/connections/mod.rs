//! App connections: GitLab connections by access token, validated through token introspection,
//! with the token sealed in the vault, a status machine kept by health checks, and journalled
//! automatic rotation.
//!
//! The shapes follow Infisical's `app-connections/gitlab` API; see `labgate_proto::connections`.

mod cache;
pub mod connect_sessions;
pub mod credentials;
mod health;
mod leaks;
pub mod model;
pub mod oauth;
pub(crate) mod reach;
pub mod refresh;
mod rotate;
mod rows;
mod usage;
pub mod validate;

use std::sync::Arc;

use futures_util::StreamExt;
use labgate_crypto::Aad;
use labgate_gitlab::{
    ClientOptions, Credential, GitLabBaseUrl, GitLabClient, GitLabError, GroupFilter, InstanceSettings,
    NetworkPolicy, ProjectFilter, TokenInfo,
};
use labgate_proto::audit::{AuditAction, ResourceType};
use labgate_proto::connections::{
    AccessTokenCredentials, AppConnectionOption, AppConnectionOptions, AvailableConnection,
    AvailableConnectionList, ConnectionCredentialsView, ConnectionEventList, ConnectionEventView,
    ConnectionList, ConnectionView, CreateConnectionRequest, GitLabGroupView, GitLabProjectView,
    GitLabResourceView, GitLabUserView, UpdateConnectionRequest,
};
use labgate_proto::webhooks::WebhookEventType;
use labgate_store::{ConnectionFilter, SealedItem, Store, StoreError, VaultItemKey};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use time::OffsetDateTime;

use cache::CredentialCache;
pub use cache::{CHANGE_NOTICE_BOUND, CredentialCacheStats, MAX_ENTRY_AGE};
pub use credentials::CredentialGrant;
pub use health::{CHECK_INTERVAL, UNREACHABLE_AFTER};
pub use leaks::LeakRotation;
use model::{
    AccessTokenType, App, Connection, ConnectionEvent, ConnectionEventKind, ConnectionMethod,
    ConnectionStatus, GitLabIdentity, GitLabResource, Scopes, Usage,
};
pub use rotate::TokenChangeOutcome;
use rows::{connection_row, event_row};
pub use usage::LAST_USED_GRANULARITY;
use usage::UsageLog;

use crate::audit::{AuditEvent, AuditLog};
use crate::auth::{Access, Principal};
use crate::clock::Clock;
use crate::ids::{ConnectionEventId, ConnectionId, TenantId};
use crate::instances::GitLabInstances;
use crate::jobs::JobQueue;
use crate::timefmt::{format_opt, format_time};
use crate::vault::{SecretSlot, Vault};
use crate::webhooks::Webhooks;
use crate::{CoreError, Result};

pub const OWNER_TABLE: &str = "app_connections";
pub const TOKEN_FIELD: &str = "accessToken";
/// Most projects or groups one listing returns.
const LIST_CAP: usize = 5_000;

/// A connection ready to call GitLab: its client and current credential.
pub(crate) struct GitLabSession {
    pub connection: Connection,
    pub client: GitLabClient,
    pub credential: Credential,
}

#[derive(Clone)]
pub struct Connections {
    store: Store,
    vault: Arc<Vault>,
    clock: Arc<dyn Clock>,
    audit: AuditLog,
    webhooks: Webhooks,
    jobs: JobQueue,
    policy: Arc<NetworkPolicy>,
    options: ClientOptions,
    /// OAuth applications and the redirect URI.
    instances: GitLabInstances,
    /// Who holds a refresh lease taken by this process.
    lease_owner: Arc<str>,
    refresh_gates: Arc<refresh::RefreshGates>,
    /// OAuth connections used within this long are refreshed ahead of expiry.
    proactive_refresh_window: time::Duration,
    /// Connections and their opened credentials recently handed out (see `cache.rs`).
    cache: Arc<CredentialCache>,
    /// When connections last handed out their credentials, not written yet.
    usage: Arc<UsageLog>,
}

/// What a search of the connections narrows them to (see [`Connections::search`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionSearch {
    pub status: Option<ConnectionStatus>,
    pub method: Option<ConnectionMethod>,
    pub name_contains: Option<String>,
}

fn not_found() -> CoreError {
    CoreError::NotFound("app connection")
}

fn duplicate_name(name: &str) -> CoreError {
    CoreError::AlreadyExists(format!("a GitLab connection named {name:?} already exists"))
}

/// Drops surrounding whitespace from pasted input, as Infisical does. It trims where the text
/// lies, so a token leaves no untrimmed copy behind.
fn trim_in_place(text: &mut String) {
    text.truncate(text.trim_end().len());
    let leading = text.len() - text.trim_start().len();
    text.drain(..leading);
}

fn trim_create_credentials(credentials: &mut labgate_proto::connections::CreateCredentials) {
    if let Some(token) = &mut credentials.access_token {
        trim_in_place(token);
    }
    if let Some(url) = &mut credentials.instance_url {
        trim_in_place(url);
    }
}

fn trim_credentials(credentials: &mut AccessTokenCredentials) {
    trim_in_place(&mut credentials.access_token);
    if let Some(url) = &mut credentials.instance_url {
        trim_in_place(url);
    }
}

fn changed_meanwhile() -> CoreError {
    CoreError::Conflict("the connection changed meanwhile; read it again and retry".to_owned())
}

pub fn view(connection: &Connection) -> ConnectionView {
    ConnectionView {
        id: connection.id.to_string(),
        name: connection.name.clone(),
        description: connection.description.clone(),
        version: i64::from(connection.version),
        org_id: connection.tenant_id.to_string(),
        created_at: format_time(connection.created_at),
        updated_at: format_time(connection.updated_at),
        is_platform_managed_credentials: false,
        gateway_id: None,
        project_id: connection.project_id.clone(),
        credentials_hash: connection.credentials_hash.clone(),
        project: None,
        app: connection.app,
        method: connection.method,
        credentials: ConnectionCredentialsView {
            instance_url: connection.instance_url.clone(),
            access_token_type: connection.token_type,
        },
        status: connection.status,
        status_reason: connection.status_reason.clone(),
        scopes: connection.scopes.to_vec(),
        expires_at: format_opt(connection.expires_at),
        token_name: connection.token_name.clone(),
        gitlab_user: GitLabUserView {
            id: connection.gitlab_user.user_id,
            username: connection.gitlab_user.username.clone(),
            bot: connection.gitlab_user.bot,
        },
        gitlab_resource: connection.resource.as_ref().map(|resource| GitLabResourceView {
            kind: resource.kind,
            id: resource.id,
            full_path: resource.full_path.clone(),
            access_level: connection.access_level.map(|level| level.0),
        }),
        last_checked_at: format_opt(connection.last_checked_at),
        usages: connection.usages.clone(),
        auto_rotate: connection.auto_rotate,
        rotate_before_days: connection.rotate_before_days,
        last_rotated_at: format_opt(connection.last_rotated_at),
        tenant_id: connection
            .external
            .as_ref()
            .map(|labels| labels.tenant_id.clone()),
        user_id: connection.external.as_ref().map(|labels| labels.user_id.clone()),
        last_used_at: format_opt(connection.last_used_at),
    }
}

fn event_view(event: ConnectionEvent) -> ConnectionEventView {
    ConnectionEventView {
        created_at: format_time(event.created_at),
        id: event.id.into(),
        kind: event.kind,
        from_status: event.from_status,
        to_status: event.to_status,
        reason: event.reason,
    }
}

/// Copies what introspection learned about a token into the connection.
fn apply_token_info(connection: &mut Connection, info: &TokenInfo) {
    connection.scopes = info.scopes.iter().cloned().collect();
    connection.expires_at = info.expires_at;
    connection.token_name.clone_from(&info.name);
    connection.token_id = info.token_id;
    if let Some(owner) = &info.owner {
        connection.gitlab_user = GitLabIdentity {
            user_id: Some(owner.id),
            username: owner.username.clone(),
            bot: owner.bot,
        };
    }
    connection.resource = info.resource.as_ref().map(|resource| GitLabResource {
        kind: validate::resource_kind(resource.kind),
        id: resource.id,
        full_path: resource.full_path.clone(),
    });
    connection.access_level = info.access_level;
}

/// A validated token change: the token, what GitLab said about it, and where it lives.
struct CheckedToken {
    token: SecretString,
    info: TokenInfo,
    base: GitLabBaseUrl,
    token_type: AccessTokenType,
}

impl Connections {
    pub(crate) fn new(
        store: Store,
        vault: Arc<Vault>,
        clock: Arc<dyn Clock>,
        audit: AuditLog,
        webhooks: Webhooks,
        jobs: JobQueue,
        instances: GitLabInstances,
    ) -> Connections {
        let cache = Arc::new(CredentialCache::new(clock.clone(), store.backend()));
        Connections {
            store,
            vault,
            clock,
            audit,
            webhooks,
            jobs,
            // GitLab instances and connections reach GitLab under one policy.
            policy: instances.policy(),
            options: ClientOptions::default(),
            instances,
            lease_owner: format!("refresh-{}", uuid::Uuid::new_v4()).into(),
            refresh_gates: Arc::default(),
            proactive_refresh_window: refresh::DEFAULT_PROACTIVE_WINDOW,
            cache,
            usage: Arc::new(UsageLog::default()),
        }
    }

    /// The same service with other OAuth applications (the settings' default instance, the site
    /// URL behind the redirect URI).
    #[must_use]
    pub fn with_instances(mut self, instances: GitLabInstances) -> Connections {
        self.instances = instances;
        self
    }

    /// The same service refreshing ahead of expiry only connections used within `days`.
    #[must_use]
    pub fn with_proactive_refresh_days(mut self, days: u32) -> Connections {
        self.proactive_refresh_window = time::Duration::days(i64::from(days));
        self
    }

    /// The same service queueing (and holding) its jobs on `jobs`.
    #[must_use]
    pub(crate) fn with_jobs(mut self, jobs: JobQueue) -> Connections {
        self.jobs = jobs;
        self
    }

    /// The same service with other GitLab client options (tests use short timeouts).
    #[must_use]
    pub fn with_client_options(mut self, options: ClientOptions) -> Connections {
        self.options = options;
        self
    }

    fn client(&self, base: &GitLabBaseUrl) -> std::result::Result<GitLabClient, GitLabError> {
        GitLabClient::with_options(
            InstanceSettings::new(base.clone()),
            &self.policy,
            self.options.clone(),
        )
    }

    /// A client for the connection's instance, with the CA bundle and proxy registered for it
    /// (`/api/v1/gitlab-instances`) when there are any.
    async fn client_for(&self, connection: &Connection) -> Result<GitLabClient> {
        let settings = self
            .instances
            .settings_for(
                &connection.tenant_id,
                connection.instance_id.as_ref(),
                &connection.instance_url,
            )
            .await?;
        GitLabClient::with_options(settings, &self.policy, self.options.clone())
            .map_err(|error| CoreError::Unavailable(format!("cannot reach GitLab: {error}")))
    }

    /// The connection's token as GitLab takes it: an OAuth access token as a bearer token,
    /// access tokens as `PRIVATE-TOKEN`.
    fn gitlab_credential(connection: &Connection, token: SecretString) -> Credential {
        match connection.method {
            ConnectionMethod::OAuth => Credential::OAuth(token),
            ConnectionMethod::AccessToken => Credential::PrivateToken(token),
        }
    }

    /// The connection's token, refreshed first when it is an OAuth token with too little left.
    async fn working_credential(&self, connection: Connection) -> Result<(Connection, Credential)> {
        let connection = self.fresh_oauth(connection, self.clock.now()).await?;
        let token = self.current_credential(&connection).await?;
        let credential = Self::gitlab_credential(&connection, token);
        Ok((connection, credential))
    }

    fn slot(connection: &Connection) -> SecretSlot<'_> {
        SecretSlot {
            tenant_id: connection.tenant_id.as_str(),
            owner_table: OWNER_TABLE,
            owner_id: connection.id.as_str(),
            field: TOKEN_FIELD,
        }
    }

    fn item_key(connection: &Connection) -> VaultItemKey<'_> {
        VaultItemKey {
            tenant_id: connection.tenant_id.as_str(),
            owner_table: OWNER_TABLE,
            owner_id: connection.id.as_str(),
            field: TOKEN_FIELD,
        }
    }

    /// The token sealed for the connection's slot, and the data key that sealed it.
    async fn seal_token(&self, connection: &Connection, token: &SecretString) -> Result<(Vec<u8>, String)> {
        let aad = Aad::new(
            connection.tenant_id.as_str(),
            OWNER_TABLE,
            connection.id.as_str(),
            TOKEN_FIELD,
        );
        let sealed = self.vault.seal(&aad, token).await?;
        let data_key_id = labgate_crypto::sealed_key_id(&sealed)?;
        Ok((sealed, data_key_id))
    }

    /// The credential that works for `connection` as read: the one place a connection is
    /// resolved to its token, for the broker and for every call labgate makes to GitLab with it
    /// (OAuth connections will refresh here). A token changes only together with the row's
    /// version or refresh generation, so one the cache opened for the same version and
    /// generation is reused; otherwise it is opened from the vault.
    async fn current_credential(&self, connection: &Connection) -> Result<SecretString> {
        if let Some(token) = self.cache.token_for(connection) {
            return Ok(token);
        }
        self.vault
            .get_secret(&Self::slot(connection))
            .await?
            .ok_or_else(|| CoreError::internal(StoreError::NotFound))
    }

    async fn credentials_hash(&self, tenant_id: &TenantId, token: &SecretString) -> Result<String> {
        self.vault
            .hmac_hex(tenant_id.as_str(), token.expose_secret().as_bytes())
            .await
    }

    /// Introspects `token` at `base` and checks it against the declared kind and the usages.
    async fn validate_token(
        &self,
        tenant_id: &TenantId,
        base: &GitLabBaseUrl,
        token: &SecretString,
        declared: AccessTokenType,
        usages: &[Usage],
    ) -> Result<TokenInfo> {
        // A registered instance's CA bundle and proxy apply from the first request on.
        let settings = self
            .instances
            .settings_for(tenant_id, None, base.as_str())
            .await?;
        let client = GitLabClient::with_options(settings, &self.policy, self.options.clone())
            .map_err(|error| validate::introspection_error(&error))?;
        // The address is vetted before the token is sent anywhere.
        client
            .check_destination()
            .await
            .map_err(|error| validate::introspection_error(&error))?;
        let info = client
            .introspect(&Credential::PrivateToken(token.clone()))
            .await
            .map_err(|error| validate::introspection_error(&error))?;
        validate::token_info(&info, declared, self.clock.now())?;
        let resource = info.resource.as_ref().map(|r| validate::resource_kind(r.kind));
        if let Some(gaps) = validate::token_usage_gaps(usages, &info, resource) {
            return Err(CoreError::validation(
                "usages",
                format!("the token cannot serve its usages: {gaps}"),
            ));
        }
        Ok(info)
    }

    /// Checks new credentials end to end: their shape, the instance address, and the token at
    /// GitLab against the declared type and the usages. `current_instance` is used when the
    /// request names none (an update keeps the instance).
    async fn check_credentials(
        &self,
        tenant_id: &TenantId,
        credentials: labgate_proto::connections::AccessTokenCredentials,
        current_instance: Option<&str>,
        usages: &[Usage],
    ) -> Result<CheckedToken> {
        let token_type = validate::token_type(&credentials.access_token_type)?;
        validate::token(&credentials.access_token)?;
        let instance = credentials
            .instance_url
            .as_deref()
            .filter(|url| !url.trim().is_empty())
            .or(current_instance);
        // No instance named: the configured default (`LABGATE_GITLAB_URL`, else gitlab.com).
        let base = match instance {
            Some(url) => validate::instance_url(Some(url), &self.policy)?,
            None => self.instances.default_url()?,
        };
        let token = SecretString::from(credentials.access_token);
        let info = self
            .validate_token(tenant_id, &base, &token, token_type, usages)
            .await?;
        Ok(CheckedToken {
            token,
            info,
            base,
            token_type,
        })
    }

    /// Reads one stored connection of the tenant.
    async fn fetch(&self, tenant_id: &TenantId, id: &ConnectionId) -> Result<Connection> {
        match self.store.connection(tenant_id.as_str(), id.as_str()).await {
            Ok(row) => Ok(Connection::try_from(row)?),
            Err(StoreError::NotFound) => Err(not_found()),
            Err(other) => Err(other.into()),
        }
    }

    async fn load(&self, principal: &Principal, id: &str) -> Result<Connection> {
        let id = ConnectionId::parse(id).ok_or_else(not_found)?;
        let connection = self.fetch(&principal.tenant_id, &id).await?;
        if connection.app != App::GitLab {
            return Err(not_found());
        }
        Ok(connection)
    }

    /// Writes `next` if the row still has `expected_version`; `None` when it changed meanwhile.
    async fn save(
        &self,
        next: &Connection,
        expected_version: u32,
        event: Option<&ConnectionEvent>,
    ) -> Result<Option<Connection>> {
        let row = connection_row(next);
        let expected = rows_version(expected_version);
        let _forget = self.cache.forget_after(&next.id);
        let saved = match event {
            Some(event) => {
                self.store
                    .save_connection_with_event(&row, expected, &event_row(event))
                    .await?
            }
            None => self.store.save_connection(&row, expected).await?,
        };
        Ok(saved.map(|_| next.clone()))
    }

    fn event(
        &self,
        connection: &Connection,
        kind: ConnectionEventKind,
        from: Option<ConnectionStatus>,
        reason: Option<String>,
    ) -> ConnectionEvent {
        ConnectionEvent {
            id: ConnectionEventId::generate(),
            tenant_id: connection.tenant_id.clone(),
            connection_id: connection.id.clone(),
            kind,
            from_status: from,
            to_status: Some(connection.status),
            reason,
            created_at: self.clock.now(),
        }
    }

    pub async fn create(
        &self,
        principal: &Principal,
        mut request: CreateConnectionRequest,
    ) -> Result<ConnectionView> {
        principal.require(Access::Write)?;
        trim_in_place(&mut request.name);
        if let Some(description) = &mut request.description {
            trim_in_place(description);
        }
        if request.method.trim() == ConnectionMethod::OAuth.as_str() {
            return self.create_from_code(principal, request).await;
        }
        if let Some(credentials) = &mut request.credentials {
            trim_create_credentials(credentials);
        }
        let (credentials, usages, rotate_before_days) = Self::check_create_request(&request)?;
        let checked = self
            .check_credentials(&principal.tenant_id, credentials, None, &usages)
            .await?;
        let auto_rotate = request.auto_rotate.unwrap_or(false);
        if auto_rotate {
            validate::can_self_rotate(&checked.info.scopes.iter().cloned().collect())?;
        }
        let connection = self
            .new_connection(
                principal,
                request,
                &checked,
                usages,
                auto_rotate,
                rotate_before_days,
            )
            .await?;
        self.insert_with_token(&connection, &checked.token).await?;
        self.record_event(&self.event(
            &connection,
            ConnectionEventKind::Created,
            None,
            connection.status_reason.clone(),
        ))
        .await?;
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::ConnectionCreate,
                    resource_kind: ResourceType::AppConnection,
                    resource_id: Some(connection.id.as_str()),
                    details: Some(
                        json!({"name": connection.name, "app": connection.app, "method": connection.method}),
                    ),
                },
            )
            .await?;
        Ok(view(&connection))
    }

    /// The checks of a create request that need no network.
    fn check_create_request(
        request: &CreateConnectionRequest,
    ) -> Result<(
        labgate_proto::connections::AccessTokenCredentials,
        Vec<Usage>,
        u32,
    )> {
        validate::unsupported(
            request.is_platform_managed_credentials,
            request.gateway_id.as_ref(),
        )?;
        validate::name(&request.name)?;
        validate::description(request.description.as_deref())?;
        validate::method(&request.method)?;
        validate::project_id(request.project_id.as_deref())?;
        let Some(credentials) = request.credentials.clone() else {
            return Err(CoreError::validation(
                "credentials",
                "credentials are required: {accessToken, instanceUrl, accessTokenType}",
            ));
        };
        if credentials.code.is_some() {
            return Err(CoreError::validation(
                "credentials.code",
                "a code belongs to method oauth; method access-token takes {accessToken, instanceUrl, accessTokenType}",
            ));
        }
        let (Some(access_token), Some(access_token_type)) =
            (credentials.access_token, credentials.access_token_type)
        else {
            return Err(CoreError::validation(
                "credentials",
                "credentials.accessToken and credentials.accessTokenType are required",
            ));
        };
        let credentials = AccessTokenCredentials {
            access_token,
            instance_url: credentials.instance_url,
            access_token_type,
        };
        let usages = validate::usages(request.usages.as_deref())?;
        let rotate_before_days = validate::rotate_before_days(request.rotate_before_days)?;
        Ok((credentials, usages, rotate_before_days))
    }

    /// The connection a create request describes, with what GitLab said about its token.
    async fn new_connection(
        &self,
        principal: &Principal,
        request: CreateConnectionRequest,
        checked: &CheckedToken,
        usages: Vec<Usage>,
        auto_rotate: bool,
        rotate_before_days: u32,
    ) -> Result<Connection> {
        let now = self.clock.now();
        let mut connection = Connection {
            id: ConnectionId::generate(),
            tenant_id: principal.tenant_id.clone(),
            name: request.name,
            description: request.description,
            app: App::GitLab,
            method: ConnectionMethod::AccessToken,
            token_type: Some(checked.token_type),
            instance_url: checked.base.as_str().to_owned(),
            project_id: request.project_id,
            credentials_hash: self
                .credentials_hash(&principal.tenant_id, &checked.token)
                .await?,
            status: ConnectionStatus::Active,
            status_reason: None,
            scopes: Scopes::default(),
            expires_at: None,
            token_name: None,
            token_id: None,
            gitlab_user: GitLabIdentity::default(),
            resource: None,
            access_level: None,
            usages,
            auto_rotate,
            rotate_before_days,
            consecutive_failures: 0,
            refresh_generation: 0,
            version: 1,
            last_checked_at: Some(now),
            last_rotated_at: None,
            instance_id: None,
            external: None,
            token_issued_at: None,
            next_refresh_at: None,
            last_used_at: None,
            created_at: now,
            updated_at: now,
            token_hashes: None,
        };
        apply_token_info(&mut connection, &checked.info);
        (connection.status, connection.status_reason) = health::status_for_token(&checked.info, now);
        Ok(connection)
    }

    /// Writes a new connection and its sealed token in one transaction.
    async fn insert_with_token(&self, connection: &Connection, token: &SecretString) -> Result<()> {
        let (sealed, data_key_id) = self.seal_token(connection, token).await?;
        let item = SealedItem {
            key: Self::item_key(connection),
            sealed: &sealed,
            data_key_id: &data_key_id,
            now: crate::rows::ms(connection.created_at),
        };
        match self
            .store
            .insert_connection_with_token(&connection_row(connection), &item)
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict { .. }) => Err(duplicate_name(&connection.name)),
            Err(other) => Err(other.into()),
        }
    }

    async fn record_event(&self, event: &ConnectionEvent) -> Result<()> {
        self.store.insert_connection_event(&event_row(event)).await?;
        Ok(())
    }

    pub async fn get(&self, principal: &Principal, id: &str) -> Result<ConnectionView> {
        principal.require(Access::Read)?;
        Ok(view(&self.load(principal, id).await?))
    }

    /// A connection by name; with `project_id`, only when it belongs to that project.
    pub async fn by_name(
        &self,
        principal: &Principal,
        name: &str,
        project_id: Option<&str>,
    ) -> Result<ConnectionView> {
        principal.require(Access::Read)?;
        match self
            .store
            .connection_by_name(
                principal.tenant_id.as_str(),
                App::GitLab.as_str(),
                name,
                project_id,
            )
            .await
        {
            Ok(row) => Ok(view(&Connection::try_from(row)?)),
            Err(StoreError::NotFound) => Err(not_found()),
            Err(other) => Err(other.into()),
        }
    }

    /// The tenant's connections of `app` (or of every app) and of `project_id` (or of every
    /// project), oldest first, and their total; without `limit`, all of them after `offset`.
    async fn page(
        &self,
        tenant_id: &TenantId,
        app: Option<App>,
        project_id: Option<&str>,
        offset: u64,
        limit: Option<u32>,
    ) -> Result<(Vec<Connection>, u64)> {
        let filter = ConnectionFilter {
            tenant_id: tenant_id.as_str(),
            app: app.map(App::as_str),
            project_id,
            status: None,
            method: None,
            name_contains: None,
        };
        self.page_where(&filter, offset, limit).await
    }

    async fn page_where(
        &self,
        filter: &ConnectionFilter<'_>,
        offset: u64,
        limit: Option<u32>,
    ) -> Result<(Vec<Connection>, u64)> {
        let (rows, total) = self.store.list_connections(filter, offset, limit).await?;
        let connections = rows
            .into_iter()
            .map(Connection::try_from)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok((connections, total))
    }

    /// The tenant's connections of `app` (or of every app), oldest first; see [`Self::page`].
    pub async fn list(
        &self,
        principal: &Principal,
        app: Option<App>,
        project_id: Option<&str>,
        offset: u64,
        limit: Option<u32>,
    ) -> Result<ConnectionList> {
        principal.require(Access::Read)?;
        let (connections, total) = self
            .page(&principal.tenant_id, app, project_id, offset, limit)
            .await?;
        Ok(ConnectionList {
            app_connections: connections.iter().map(view).collect(),
            total_count: total,
        })
    }

    /// The tenant's GitLab connections narrowed to a status, a method and a part of the name
    /// (each optional), oldest first, and how many match.
    pub async fn search(
        &self,
        principal: &Principal,
        filter: &ConnectionSearch,
        offset: u64,
        limit: u32,
    ) -> Result<ConnectionList> {
        principal.require(Access::Read)?;
        let name = filter
            .name_contains
            .as_deref()
            .map(str::trim)
            .filter(|name| !name.is_empty());
        let (connections, total) = self
            .page_where(
                &ConnectionFilter {
                    tenant_id: principal.tenant_id.as_str(),
                    app: Some(App::GitLab.as_str()),
                    project_id: None,
                    status: filter.status.map(ConnectionStatus::as_str),
                    method: filter.method.map(ConnectionMethod::as_str),
                    name_contains: name,
                },
                offset,
                Some(limit),
            )
            .await?;
        Ok(ConnectionList {
            app_connections: connections.iter().map(view).collect(),
            total_count: total,
        })
    }

    /// The connections a caller may pick for a feature (Infisical's `available`).
    pub async fn available(&self, principal: &Principal) -> Result<AvailableConnectionList> {
        principal.require(Access::Read)?;
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let (connections, total) = self
                .page(&principal.tenant_id, Some(App::GitLab), None, offset, Some(100))
                .await?;
            offset += connections.len() as u64;
            out.extend(connections.into_iter().map(|c| AvailableConnection {
                id: c.id.into(),
                name: c.name,
                app: c.app,
                method: c.method,
                project_id: c.project_id,
                org_id: c.tenant_id.into(),
                status: c.status,
            }));
            if offset >= total || out.len() >= 10_000 {
                break;
            }
        }
        Ok(AvailableConnectionList { app_connections: out })
    }

    pub fn options(&self, principal: &Principal) -> Result<AppConnectionOptions> {
        principal.require(Access::Read)?;
        Ok(AppConnectionOptions {
            app_connection_options: vec![AppConnectionOption {
                name: "GitLab".to_owned(),
                app: App::GitLab,
                methods: ConnectionMethod::ALL.to_vec(),
                oauth_client_id: self
                    .instances
                    .default_instance()
                    .and_then(|default| default.oauth_client_id.clone()),
            }],
        })
    }

    pub async fn update(
        &self,
        principal: &Principal,
        id: &str,
        mut request: UpdateConnectionRequest,
    ) -> Result<ConnectionView> {
        principal.require(Access::Write)?;
        if let Some(name) = &mut request.name {
            trim_in_place(name);
        }
        if let Some(Some(description)) = &mut request.description {
            trim_in_place(description);
        }
        if let Some(credentials) = &mut request.credentials {
            trim_credentials(credentials);
        }
        validate::unsupported(
            request.is_platform_managed_credentials,
            request.gateway_id.as_ref(),
        )?;
        let current = self.load(principal, id).await?;
        if current.method == ConnectionMethod::OAuth {
            oauth::check_update(&request)?;
        }
        if let Some(version) = request.version
            && version != i64::from(current.version)
        {
            return Err(CoreError::Conflict(format!(
                "the connection changed meanwhile: version {version} is stale, the current version is {}",
                current.version
            )));
        }
        let credentials = request.credentials.clone();
        let mut next = Self::apply_settings(&current, request)?;
        let now = self.clock.now();
        let new_token = match credentials {
            Some(credentials) => Some(self.apply_credentials(&mut next, credentials, now).await?),
            None => {
                Self::check_held_token(&current, &next)?;
                None
            }
        };
        next.version = current.version.saturating_add(1);
        next.updated_at = now;
        let saved = self.save_update(&current, &next, new_token.as_ref()).await?;
        if new_token.is_some() && current.status != saved.status {
            self.emit_status(&saved, current.status, "credentials updated")
                .await?;
        }
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::ConnectionUpdate,
                    resource_kind: ResourceType::AppConnection,
                    resource_id: Some(saved.id.as_str()),
                    details: Some(json!({"credentials": new_token.is_some(), "version": saved.version})),
                },
            )
            .await?;
        Ok(view(&saved))
    }

    /// The connection with the request's plain settings applied (everything but credentials).
    fn apply_settings(current: &Connection, request: UpdateConnectionRequest) -> Result<Connection> {
        let mut next = current.clone();
        if let Some(name) = request.name {
            validate::name(&name)?;
            next.name = name;
        }
        if let Some(description) = request.description {
            validate::description(description.as_deref())?;
            next.description = description;
        }
        if let Some(usages) = request.usages {
            next.usages = validate::usages(Some(&usages))?;
        }
        if let Some(auto_rotate) = request.auto_rotate {
            next.auto_rotate = auto_rotate;
        }
        if let Some(days) = request.rotate_before_days {
            next.rotate_before_days = validate::rotate_before_days(Some(days))?;
        }
        Ok(next)
    }

    /// Validates new credentials at GitLab and describes them in `next`; returns the token.
    async fn apply_credentials(
        &self,
        next: &mut Connection,
        credentials: labgate_proto::connections::AccessTokenCredentials,
        now: OffsetDateTime,
    ) -> Result<SecretString> {
        let current_instance = next.instance_url.clone();
        let tenant_id = next.tenant_id.clone();
        let checked = self
            .check_credentials(&tenant_id, credentials, Some(&current_instance), &next.usages)
            .await?;
        if next.auto_rotate {
            validate::can_self_rotate(&checked.info.scopes.iter().cloned().collect())?;
        }
        apply_token_info(next, &checked.info);
        next.instance_url = checked.base.as_str().to_owned();
        next.token_type = Some(checked.token_type);
        next.credentials_hash = self.credentials_hash(&next.tenant_id, &checked.token).await?;
        (next.status, next.status_reason) = health::status_for_token(&checked.info, now);
        next.consecutive_failures = 0;
        next.last_checked_at = Some(now);
        Ok(checked.token)
    }

    /// Without new credentials, the held token must still serve what the settings now ask.
    fn check_held_token(current: &Connection, next: &Connection) -> Result<()> {
        if next.usages != current.usages {
            let gaps = validate::usage_gaps(
                &next.usages,
                &next.scopes,
                next.resource.as_ref().map(|resource| resource.kind),
                next.access_level,
            );
            if let Some(gaps) = gaps {
                return Err(CoreError::validation(
                    "usages",
                    format!("the token cannot serve its usages: {gaps}"),
                ));
            }
        }
        // An OAuth grant is refreshed with its refresh token, whatever its scopes.
        if next.auto_rotate && !current.auto_rotate && next.method == ConnectionMethod::AccessToken {
            validate::can_self_rotate(&next.scopes)?;
        }
        Ok(())
    }

    /// Saves an update; a new token, the row describing it and the event are written together.
    async fn save_update(
        &self,
        current: &Connection,
        next: &Connection,
        new_token: Option<&SecretString>,
    ) -> Result<Connection> {
        let _forget = self.cache.forget_after(&next.id);
        let result = match new_token {
            Some(token) => {
                let (sealed, data_key_id) = self.seal_token(next, token).await?;
                let event = self.event(
                    next,
                    ConnectionEventKind::CredentialsUpdated,
                    Some(current.status),
                    None,
                );
                let item = SealedItem {
                    key: Self::item_key(next),
                    sealed: &sealed,
                    data_key_id: &data_key_id,
                    now: crate::rows::ms(next.updated_at),
                };
                self.store
                    .save_connection_with_token(
                        &connection_row(next),
                        rows_version(current.version),
                        &item,
                        Some(&event_row(&event)),
                    )
                    .await
                    .map(|saved| saved.map(|_| next.clone()))
            }
            None => self
                .store
                .save_connection(&connection_row(next), rows_version(current.version))
                .await
                .map(|saved| saved.map(|_| next.clone())),
        };
        match result {
            Ok(Some(saved)) => Ok(saved),
            Ok(None) => Err(changed_meanwhile()),
            Err(StoreError::Conflict { .. }) => Err(duplicate_name(&next.name)),
            Err(other) => Err(other.into()),
        }
    }

    /// Deletes a connection and its sealed token; with `revoke_at_gitlab` the token revokes
    /// itself at GitLab first (a failure there stops the delete).
    pub async fn delete(
        &self,
        principal: &Principal,
        id: &str,
        revoke_at_gitlab: bool,
    ) -> Result<ConnectionView> {
        principal.require(Access::Write)?;
        let loaded = self.load(principal, id).await?;
        // Syncs own variables at GitLab that only this connection can update or remove; deleting
        // it would strand them (and the check comes before any revocation at GitLab).
        let syncs = self
            .store
            .secret_sync_names_of_connection(loaded.tenant_id.as_str(), loaded.id.as_str())
            .await?;
        if !syncs.is_empty() {
            return Err(CoreError::Conflict(format!(
                "the connection is used by {} secret sync(s) ({}); delete them or move them to \
                 another connection first",
                syncs.len(),
                syncs.join(", ")
            )));
        }
        // Data sources scan through the connection; deleting it would silently stop their scans.
        let sources = self
            .store
            .scan_data_source_names_of_connection(loaded.tenant_id.as_str(), loaded.id.as_str())
            .await?;
        if !sources.is_empty() {
            return Err(CoreError::Conflict(format!(
                "the connection is used by {} secret scanning data source(s) ({}); delete them or \
                 move them to another connection first",
                sources.len(),
                sources.join(", ")
            )));
        }
        // An answered rotation is applied first: its entry would go with the connection, and with
        // it the only copy of the token GitLab now holds (the one to revoke, if asked).
        self.recover_connection_journal(&loaded).await?;
        let connection = self.reload(&loaded).await?;
        if revoke_at_gitlab {
            let result = match connection.method {
                // Revoking the refresh token ends the whole grant.
                ConnectionMethod::OAuth => self.revoke_grant(&connection).await,
                ConnectionMethod::AccessToken => {
                    let token = self.current_credential(&connection).await?;
                    let client = self.client_for(&connection).await?;
                    // Personal, project and group tokens can all revoke themselves.
                    client.revoke_self(&Credential::PrivateToken(token)).await
                }
            };
            match result {
                Ok(()) | Err(GitLabError::Unauthorized { .. }) => {}
                Err(error) => {
                    return Err(CoreError::Unavailable(format!(
                        "the token could not be revoked at GitLab, so the connection was kept: {error}"
                    )));
                }
            }
        }
        let forget = self.cache.forget_after(&connection.id);
        self.store
            .delete_connection(connection.tenant_id.as_str(), connection.id.as_str())
            .await?;
        drop(forget);
        self.vault
            .delete_secrets(connection.tenant_id.as_str(), OWNER_TABLE, connection.id.as_str())
            .await?;
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::ConnectionDelete,
                    resource_kind: ResourceType::AppConnection,
                    resource_id: Some(connection.id.as_str()),
                    details: Some(json!({"name": connection.name, "revokedAtGitLab": revoke_at_gitlab})),
                },
            )
            .await?;
        Ok(view(&connection))
    }

    pub async fn events(
        &self,
        principal: &Principal,
        id: &str,
        offset: u64,
        limit: u32,
    ) -> Result<ConnectionEventList> {
        principal.require(Access::Read)?;
        let connection = self.load(principal, id).await?;
        let (rows, total) = self
            .store
            .list_connection_events(
                connection.tenant_id.as_str(),
                connection.id.as_str(),
                offset,
                limit,
            )
            .await?;
        let events = rows
            .into_iter()
            .map(|row| ConnectionEvent::try_from(row).map(event_view))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(ConnectionEventList {
            events,
            total_count: total,
        })
    }

    /// Deletes timeline events older than `retention`; returns how many went.
    pub async fn prune_events(&self, retention: time::Duration) -> Result<u64> {
        let before = self.clock.now() - retention;
        Ok(self
            .store
            .prune_connection_events(crate::rows::ms(before))
            .await?)
    }

    fn listing_error(error: &GitLabError) -> CoreError {
        CoreError::Unavailable(format!("GitLab refused the listing: {error}"))
    }

    /// Projects the connection's token is a member of (not archived), matching `search` when
    /// given (GitLab's own search).
    pub async fn projects(
        &self,
        principal: &Principal,
        id: &str,
        search: Option<&str>,
    ) -> Result<Vec<GitLabProjectView>> {
        principal.require(Access::Read)?;
        let (connection, cred) = self.working_credential(self.load(principal, id).await?).await?;
        let client = self.client_for(&connection).await?;
        let filter = ProjectFilter {
            membership: true,
            archived: Some(false),
            search: search.map(str::to_owned),
            ..ProjectFilter::default()
        };
        let mut stream = client.projects(&cred, &filter);
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            let project = item.map_err(|e| Self::listing_error(&e))?;
            out.push(GitLabProjectView {
                id: project.id.to_string(),
                name: project.path_with_namespace.clone(),
                path_with_namespace: project.path_with_namespace,
                web_url: project.web_url,
            });
            if out.len() >= LIST_CAP {
                break;
            }
        }
        Ok(out)
    }

    /// Groups the token owns (Owner role) matching `search` when given; empty for project
    /// tokens, as in Infisical.
    pub async fn groups(
        &self,
        principal: &Principal,
        id: &str,
        search: Option<&str>,
    ) -> Result<Vec<GitLabGroupView>> {
        principal.require(Access::Read)?;
        let connection = self.load(principal, id).await?;
        if connection.token_type == Some(AccessTokenType::Project) {
            return Ok(Vec::new());
        }
        let (connection, cred) = self.working_credential(connection).await?;
        let client = self.client_for(&connection).await?;
        let filter = GroupFilter {
            min_access_level: Some(labgate_gitlab::AccessLevel::OWNER),
            search: search.map(str::to_owned),
            ..GroupFilter::default()
        };
        let mut stream = client.groups(&cred, &filter);
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            let group = item.map_err(|e| Self::listing_error(&e))?;
            out.push(GitLabGroupView {
                id: group.id.to_string(),
                name: group.name,
                full_name: group.full_name,
                full_path: group.full_path,
                web_url: group.web_url,
            });
            if out.len() >= LIST_CAP {
                break;
            }
        }
        Ok(out)
    }

    /// A client and a working credential for one of the tenant's connections, for other
    /// capabilities that call GitLab on its behalf (secret syncs). 409 when the connection has no
    /// working token.
    pub(crate) async fn gitlab_session(
        &self,
        tenant_id: &TenantId,
        id: &ConnectionId,
    ) -> Result<GitLabSession> {
        let connection = self.fetch(tenant_id, id).await?;
        if connection.app != App::GitLab {
            return Err(not_found());
        }
        credentials::require_usable(&connection, self.clock.now())?;
        let (connection, credential) = self.working_credential(connection).await?;
        let client = self.client_for(&connection).await?;
        Ok(GitLabSession {
            connection,
            client,
            credential,
        })
    }

    /// How the connection's instance is reached (its CA bundle and proxy) and the SSRF policy
    /// that applies, for transports other than the HTTP client (git).
    pub(crate) async fn reach_settings(
        &self,
        connection: &Connection,
    ) -> Result<(InstanceSettings, Arc<NetworkPolicy>)> {
        let settings = self
            .instances
            .settings_for(
                &connection.tenant_id,
                connection.instance_id.as_ref(),
                &connection.instance_url,
            )
            .await?;
        Ok((settings, self.policy.clone()))
    }

    /// Queues `connection.status_changed` for the tenant's subscribers.
    async fn emit_status(&self, connection: &Connection, from: ConnectionStatus, reason: &str) -> Result<()> {
        self.webhooks
            .emit(
                &connection.tenant_id,
                WebhookEventType::ConnectionStatusChanged,
                json!({
                    "connectionId": connection.id,
                    "name": connection.name,
                    "app": connection.app,
                    "fromStatus": from,
                    "toStatus": connection.status,
                    "reason": connection.status_reason.as_deref().unwrap_or(reason),
                }),
            )
            .await?;
        Ok(())
    }
}

/// The version column is a 32-bit integer on both backends.
fn rows_version(version: u32) -> i32 {
    crate::rows::signed32(version)
}
