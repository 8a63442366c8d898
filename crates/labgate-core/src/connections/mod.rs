//! App connections: GitLab connections by access token, validated through token introspection,
//! with the token sealed in the vault, a status machine kept by health checks, and journalled
//! automatic rotation.
//!
//! The shapes follow Infisical's `app-connections/gitlab` API; see `labgate_proto::connections`.

mod health;
mod rotate;
pub mod validate;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use labgate_crypto::Aad;
use labgate_gitlab::{
    ClientOptions, Credential, GitLabBaseUrl, GitLabClient, GitLabError, GroupFilter, InstanceSettings,
    NetworkPolicy, ProjectFilter, ResourceKind, TokenInfo, TokenKind,
};
use labgate_proto::connections::{
    APP_GITLAB, AppConnectionOption, AppConnectionOptions, AvailableConnection, AvailableConnectionList,
    ConnectionCredentialsView, ConnectionEventList, ConnectionEventView, ConnectionList, ConnectionView,
    CreateConnectionRequest, GitLabGroupView, GitLabProjectView, GitLabResourceView, GitLabUserView,
    METHOD_ACCESS_TOKEN, METHOD_OAUTH, UpdateConnectionRequest,
};
use labgate_store::{ConnectionEventRecord, ConnectionRecord, SealedItem, Store, StoreError, VaultItemKey};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

pub use health::{CHECK_INTERVAL_MS, CHECK_KIND, UNREACHABLE_AFTER};

use crate::audit::{AuditEvent, AuditLog};
use crate::auth::{Access, Principal};
use crate::clock::Clock;
use crate::ids::{is_valid_id, new_id};
use crate::jobs::JobQueue;
use crate::timefmt::{opt_rfc3339, to_rfc3339};
use crate::vault::{SecretSlot, Vault};
use crate::webhooks::Webhooks;
use crate::{CoreError, Result};

pub const OWNER_TABLE: &str = "app_connections";
pub const TOKEN_FIELD: &str = "accessToken";
/// Most projects or groups one listing returns.
const LIST_CAP: usize = 5_000;

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
    /// Fault injection for tests: stop a rotation right after its answer is journalled.
    crash_after_journal: Arc<AtomicBool>,
}

fn parse_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn to_json_list(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".to_owned())
}

fn not_found() -> CoreError {
    CoreError::NotFound("app connection")
}

pub fn view(record: &ConnectionRecord) -> ConnectionView {
    ConnectionView {
        id: record.id.clone(),
        name: record.name.clone(),
        description: record.description.clone(),
        version: i64::from(record.version),
        org_id: record.tenant_id.clone(),
        created_at: to_rfc3339(record.created_at),
        updated_at: to_rfc3339(record.updated_at),
        is_platform_managed_credentials: false,
        gateway_id: None,
        project_id: record.project_id.clone(),
        credentials_hash: record.credentials_hash.clone(),
        project: None,
        app: record.app.clone(),
        method: record.method.clone(),
        credentials: ConnectionCredentialsView {
            instance_url: record.instance_url.clone(),
            access_token_type: record.access_token_type.clone(),
        },
        status: record.status.clone(),
        status_reason: record.status_reason.clone(),
        scopes: parse_list(&record.scopes),
        expires_at: opt_rfc3339(record.expires_at),
        token_name: record.token_name.clone(),
        gitlab_user: GitLabUserView {
            id: record.gitlab_user_id.and_then(|id| u64::try_from(id).ok()),
            username: record.gitlab_username.clone(),
            bot: record.gitlab_bot.map(|bot| bot != 0),
        },
        gitlab_resource: match (&record.resource_kind, record.resource_id) {
            (Some(kind), Some(id)) => Some(GitLabResourceView {
                kind: kind.clone(),
                id: u64::try_from(id).unwrap_or(0),
                full_path: record.resource_path.clone(),
                access_level: record.access_level.and_then(|l| u8::try_from(l).ok()),
            }),
            _ => None,
        },
        last_checked_at: opt_rfc3339(record.last_checked_at),
        usages: parse_list(&record.usages),
        auto_rotate: record.auto_rotate != 0,
        rotate_before_days: u32::try_from(record.rotate_before_days).unwrap_or(7),
        last_rotated_at: opt_rfc3339(record.last_rotated_at),
    }
}

fn event_view(record: ConnectionEventRecord) -> ConnectionEventView {
    ConnectionEventView {
        created_at: to_rfc3339(record.created_at),
        id: record.id,
        kind: record.kind,
        from_status: record.from_status,
        to_status: record.to_status,
        reason: record.reason,
    }
}

/// Copies what introspection learned about a token into the row.
fn apply_token_info(record: &mut ConnectionRecord, info: &TokenInfo) {
    record.scopes = to_json_list(&info.scopes);
    record.expires_at = validate::expires_at_ms(info);
    record.token_name.clone_from(&info.name);
    record.token_id = info.token_id.and_then(|id| i64::try_from(id).ok());
    if let Some(owner) = &info.owner {
        record.gitlab_user_id = i64::try_from(owner.id).ok();
        record.gitlab_username.clone_from(&owner.username);
        record.gitlab_bot = owner.bot.map(i32::from);
    }
    match &info.resource {
        Some(resource) => {
            record.resource_kind = Some(
                match resource.kind {
                    ResourceKind::Project => "project",
                    ResourceKind::Group => "group",
                }
                .to_owned(),
            );
            record.resource_id = i64::try_from(resource.id).ok();
            record.resource_path.clone_from(&resource.full_path);
        }
        None => {
            record.resource_kind = None;
            record.resource_id = None;
            record.resource_path = None;
        }
    }
    record.access_level = info.access_level.map(|level| i32::from(level.0));
}

fn resource_kind_of(record: &ConnectionRecord) -> Option<ResourceKind> {
    match record.resource_kind.as_deref() {
        Some("project") => Some(ResourceKind::Project),
        Some("group") => Some(ResourceKind::Group),
        _ => None,
    }
}

impl Connections {
    pub fn new(
        store: Store,
        vault: Arc<Vault>,
        clock: Arc<dyn Clock>,
        audit: AuditLog,
        webhooks: Webhooks,
        jobs: JobQueue,
        policy: Arc<NetworkPolicy>,
    ) -> Connections {
        Connections {
            store,
            vault,
            clock,
            audit,
            webhooks,
            jobs,
            policy,
            options: ClientOptions::default(),
            crash_after_journal: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The same service with other GitLab client options (tests use short timeouts).
    #[must_use]
    pub fn with_client_options(mut self, options: ClientOptions) -> Connections {
        self.options = options;
        self
    }

    /// Test hook: when set, rotations stop right after GitLab's answer is journalled, as if the
    /// process died there. Shared by clones.
    #[doc(hidden)]
    pub fn set_crash_after_journal(&self, crash: bool) {
        self.crash_after_journal.store(crash, Ordering::SeqCst);
    }

    fn client(&self, base: &GitLabBaseUrl) -> std::result::Result<GitLabClient, GitLabError> {
        GitLabClient::with_options(
            InstanceSettings::new(base.clone()),
            &self.policy,
            self.options.clone(),
        )
    }

    fn client_for(&self, record: &ConnectionRecord) -> Result<GitLabClient> {
        let base = GitLabBaseUrl::parse(&record.instance_url).map_err(CoreError::internal)?;
        self.client(&base)
            .map_err(|error| CoreError::Unavailable(format!("cannot reach GitLab: {error}")))
    }

    fn slot<'a>(record: &'a ConnectionRecord) -> SecretSlot<'a> {
        SecretSlot {
            tenant_id: &record.tenant_id,
            owner_table: OWNER_TABLE,
            owner_id: &record.id,
            field: TOKEN_FIELD,
        }
    }

    fn item_key(record: &ConnectionRecord) -> VaultItemKey<'_> {
        VaultItemKey {
            tenant_id: &record.tenant_id,
            owner_table: OWNER_TABLE,
            owner_id: &record.id,
            field: TOKEN_FIELD,
        }
    }

    /// The token sealed for the connection's slot, and the data key that sealed it.
    async fn seal_token(&self, record: &ConnectionRecord, token: &SecretString) -> Result<(Vec<u8>, String)> {
        let aad = Aad::new(&record.tenant_id, OWNER_TABLE, &record.id, TOKEN_FIELD);
        let sealed = self.vault.seal(&aad, token).await?;
        let data_key_id = labgate_crypto::sealed_key_id(&sealed)?;
        Ok((sealed, data_key_id))
    }

    async fn token_of(&self, record: &ConnectionRecord) -> Result<SecretString> {
        self.vault
            .get_secret(&Self::slot(record))
            .await?
            .ok_or_else(|| CoreError::internal(StoreError::NotFound))
    }

    /// Introspects `token` at `base` and checks it against the declared kind and the usages.
    async fn validate_token(
        &self,
        base: &GitLabBaseUrl,
        token: &SecretString,
        declared: TokenKind,
        usages: &[String],
    ) -> Result<TokenInfo> {
        let client = self
            .client(base)
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
        validate::token_info(&info, declared, self.clock.now_ms())?;
        let resource = info.resource.as_ref().map(|r| r.kind);
        if let Some(gaps) = validate::usage_gaps(usages, &info.scopes, resource, info.access_level) {
            return Err(CoreError::validation(
                "usages",
                format!("the token cannot serve its usages: {gaps}"),
            ));
        }
        Ok(info)
    }

    async fn load(&self, principal: &Principal, id: &str) -> Result<ConnectionRecord> {
        if !is_valid_id(id) {
            return Err(not_found());
        }
        match self.store.connection(&principal.tenant_id, id).await {
            Ok(record) if record.app == APP_GITLAB => Ok(record),
            Ok(_) | Err(StoreError::NotFound) => Err(not_found()),
            Err(other) => Err(other.into()),
        }
    }

    pub async fn create(
        &self,
        principal: &Principal,
        request: CreateConnectionRequest,
    ) -> Result<ConnectionView> {
        principal.require(Access::Write)?;
        validate::unsupported(
            request.is_platform_managed_credentials,
            request.gateway_id.as_ref(),
        )?;
        validate::name(&request.name)?;
        validate::description(request.description.as_deref())?;
        validate::method(&request.method)?;
        validate::project_id(request.project_id.as_deref())?;
        let Some(credentials) = request.credentials else {
            return Err(CoreError::validation(
                "credentials",
                "credentials are required: {accessToken, instanceUrl, accessTokenType}",
            ));
        };
        let declared = validate::token_type(&credentials.access_token_type)?;
        validate::token(&credentials.access_token)?;
        let base = validate::instance_url(credentials.instance_url.as_deref(), &self.policy)?;
        let usages = validate::usages(request.usages.as_deref())?;
        let rotate_before_days = validate::rotate_before_days(request.rotate_before_days)?;
        let token = SecretString::from(credentials.access_token);
        let info = self.validate_token(&base, &token, declared, &usages).await?;
        if request.auto_rotate == Some(true) {
            validate::can_self_rotate(&info.scopes)?;
        }

        let now = self.clock.now_ms();
        let id = new_id();
        let mut record = ConnectionRecord {
            id: id.clone(),
            tenant_id: principal.tenant_id.clone(),
            name: request.name,
            description: request.description,
            app: APP_GITLAB.to_owned(),
            method: METHOD_ACCESS_TOKEN.to_owned(),
            access_token_type: Some(credentials.access_token_type),
            instance_url: base.as_str().to_owned(),
            project_id: request.project_id,
            credentials_hash: self
                .vault
                .hmac_hex(&principal.tenant_id, token.expose_secret().as_bytes())
                .await?,
            status: "active".to_owned(),
            status_reason: None,
            scopes: "[]".to_owned(),
            expires_at: None,
            token_name: None,
            token_id: None,
            gitlab_user_id: None,
            gitlab_username: None,
            gitlab_bot: None,
            resource_kind: None,
            resource_id: None,
            resource_path: None,
            access_level: None,
            usages: to_json_list(&usages),
            auto_rotate: i32::from(request.auto_rotate.unwrap_or(false)),
            rotate_before_days: i32::try_from(rotate_before_days).unwrap_or(7),
            consecutive_failures: 0,
            refresh_generation: 0,
            version: 1,
            last_checked_at: Some(now),
            last_rotated_at: None,
            created_at: now,
            updated_at: now,
        };
        apply_token_info(&mut record, &info);
        let (status, reason) = health::status_for_expiry(record.expires_at, now);
        record.status = status.to_owned();
        record.status_reason = reason;

        let (sealed, data_key_id) = self.seal_token(&record, &token).await?;
        let item = SealedItem {
            key: Self::item_key(&record),
            sealed: &sealed,
            data_key_id: &data_key_id,
            now,
        };
        if let Err(error) = self.store.insert_connection_with_token(&record, &item).await {
            return Err(match error {
                StoreError::Conflict { .. } => CoreError::Conflict(format!(
                    "a GitLab connection named {:?} already exists",
                    record.name
                )),
                other => other.into(),
            });
        }
        self.record_event(
            &record,
            "created",
            None,
            Some(&record.status),
            record.status_reason.as_deref(),
        )
        .await?;
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: "app-connection.create",
                    resource_kind: "app-connection",
                    resource_id: Some(&id),
                    details: Some(json!({"name": record.name, "app": APP_GITLAB, "method": record.method})),
                },
            )
            .await?;
        Ok(view(&record))
    }

    async fn record_event(
        &self,
        record: &ConnectionRecord,
        kind: &str,
        from: Option<&str>,
        to: Option<&str>,
        reason: Option<&str>,
    ) -> Result<()> {
        self.store
            .insert_connection_event(&ConnectionEventRecord {
                id: new_id(),
                tenant_id: record.tenant_id.clone(),
                connection_id: record.id.clone(),
                kind: kind.to_owned(),
                from_status: from.map(str::to_owned),
                to_status: to.map(str::to_owned),
                reason: reason.map(str::to_owned),
                created_at: self.clock.now_ms(),
            })
            .await?;
        Ok(())
    }

    pub async fn get(&self, principal: &Principal, id: &str) -> Result<ConnectionView> {
        principal.require(Access::Read)?;
        Ok(view(&self.load(principal, id).await?))
    }

    pub async fn by_name(&self, principal: &Principal, name: &str) -> Result<ConnectionView> {
        principal.require(Access::Read)?;
        match self
            .store
            .connection_by_name(&principal.tenant_id, APP_GITLAB, name)
            .await
        {
            Ok(record) => Ok(view(&record)),
            Err(StoreError::NotFound) => Err(not_found()),
            Err(other) => Err(other.into()),
        }
    }

    /// A page of the tenant's connections of `app` (or of every app), oldest first.
    pub async fn list(
        &self,
        principal: &Principal,
        app: Option<&str>,
        offset: u64,
        limit: u32,
    ) -> Result<ConnectionList> {
        principal.require(Access::Read)?;
        let (records, total) = self
            .store
            .list_connections(&principal.tenant_id, app, offset, limit)
            .await?;
        Ok(ConnectionList {
            app_connections: records.iter().map(view).collect(),
            total_count: total,
        })
    }

    /// The connections a caller may pick for a feature (Infisical's `available`).
    pub async fn available(&self, principal: &Principal) -> Result<AvailableConnectionList> {
        principal.require(Access::Read)?;
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let (records, total) = self
                .store
                .list_connections(&principal.tenant_id, Some(APP_GITLAB), offset, 100)
                .await?;
            offset += records.len() as u64;
            out.extend(records.into_iter().map(|r| AvailableConnection {
                id: r.id,
                name: r.name,
                app: r.app,
                method: r.method,
                status: r.status,
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
                app: APP_GITLAB.to_owned(),
                methods: vec![METHOD_ACCESS_TOKEN.to_owned(), METHOD_OAUTH.to_owned()],
            }],
        })
    }

    pub async fn update(
        &self,
        principal: &Principal,
        id: &str,
        request: UpdateConnectionRequest,
    ) -> Result<ConnectionView> {
        principal.require(Access::Write)?;
        validate::unsupported(
            request.is_platform_managed_credentials,
            request.gateway_id.as_ref(),
        )?;
        let current = self.load(principal, id).await?;
        if let Some(version) = request.version
            && version != i64::from(current.version)
        {
            return Err(CoreError::Conflict(format!(
                "the connection changed meanwhile: version {version} is stale, the current version is {}",
                current.version
            )));
        }
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
            next.usages = to_json_list(&validate::usages(Some(&usages))?);
        }
        if let Some(auto_rotate) = request.auto_rotate {
            next.auto_rotate = i32::from(auto_rotate);
        }
        if let Some(days) = request.rotate_before_days {
            next.rotate_before_days = i32::try_from(validate::rotate_before_days(Some(days))?).unwrap_or(7);
        }
        let now = self.clock.now_ms();
        let mut new_token = None;
        if let Some(credentials) = request.credentials {
            let declared = validate::token_type(&credentials.access_token_type)?;
            validate::token(&credentials.access_token)?;
            let base = match credentials.instance_url.as_deref() {
                Some(url) => validate::instance_url(Some(url), &self.policy)?,
                None => validate::instance_url(Some(&current.instance_url), &self.policy)?,
            };
            let token = SecretString::from(credentials.access_token);
            let info = self
                .validate_token(&base, &token, declared, &parse_list(&next.usages))
                .await?;
            if next.auto_rotate != 0 {
                validate::can_self_rotate(&info.scopes)?;
            }
            apply_token_info(&mut next, &info);
            next.instance_url = base.as_str().to_owned();
            next.access_token_type = Some(credentials.access_token_type);
            next.credentials_hash = self
                .vault
                .hmac_hex(&principal.tenant_id, token.expose_secret().as_bytes())
                .await?;
            let (status, reason) = health::status_for_expiry(next.expires_at, now);
            next.status = status.to_owned();
            next.status_reason = reason;
            next.consecutive_failures = 0;
            next.last_checked_at = Some(now);
            new_token = Some(token);
        } else if next.usages != current.usages {
            let gaps = validate::usage_gaps(
                &parse_list(&next.usages),
                &parse_list(&next.scopes),
                resource_kind_of(&next),
                next.access_level
                    .and_then(|l| u8::try_from(l).ok())
                    .map(labgate_gitlab::AccessLevel),
            );
            if let Some(gaps) = gaps {
                return Err(CoreError::validation(
                    "usages",
                    format!("the token cannot serve its usages: {gaps}"),
                ));
            }
        }
        if next.auto_rotate != 0 && current.auto_rotate == 0 && new_token.is_none() {
            validate::can_self_rotate(&parse_list(&next.scopes))?;
        }
        next.version = current.version.saturating_add(1);
        next.updated_at = now;
        // A new token, the row describing it and the event are written together.
        let result = match &new_token {
            Some(token) => {
                let (sealed, data_key_id) = self.seal_token(&next, token).await?;
                let event = ConnectionEventRecord {
                    id: new_id(),
                    tenant_id: next.tenant_id.clone(),
                    connection_id: next.id.clone(),
                    kind: "credentials_updated".to_owned(),
                    from_status: Some(current.status.clone()),
                    to_status: Some(next.status.clone()),
                    reason: None,
                    created_at: now,
                };
                let item = SealedItem {
                    key: Self::item_key(&next),
                    sealed: &sealed,
                    data_key_id: &data_key_id,
                    now,
                };
                self.store
                    .save_connection_with_token(&next, current.version, &item, Some(&event))
                    .await
            }
            None => self.store.save_connection(&next, current.version).await,
        };
        let saved = match result {
            Ok(Some(saved)) => saved,
            Ok(None) => {
                return Err(CoreError::Conflict(
                    "the connection changed meanwhile; read it again and retry".to_owned(),
                ));
            }
            Err(StoreError::Conflict { .. }) => {
                return Err(CoreError::Conflict(format!(
                    "a GitLab connection named {:?} already exists",
                    next.name
                )));
            }
            Err(other) => return Err(other.into()),
        };
        if new_token.is_some() && current.status != saved.status {
            self.emit_status(&saved, &current.status, "credentials updated")
                .await?;
        }
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: "app-connection.update",
                    resource_kind: "app-connection",
                    resource_id: Some(id),
                    details: Some(json!({"credentials": new_token.is_some(), "version": saved.version})),
                },
            )
            .await?;
        Ok(view(&saved))
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
        let record = self.load(principal, id).await?;
        if revoke_at_gitlab {
            let token = self.token_of(&record).await?;
            let client = self.client_for(&record)?;
            let cred = Credential::PrivateToken(token);
            // Personal, project and group tokens can all revoke themselves.
            let result = client.revoke_self(&cred).await;
            match result {
                Ok(()) | Err(GitLabError::Unauthorized { .. }) => {}
                Err(error) => {
                    return Err(CoreError::Unavailable(format!(
                        "the token could not be revoked at GitLab, so the connection was kept: {error}"
                    )));
                }
            }
        }
        self.store
            .delete_connection(&record.tenant_id, &record.id)
            .await?;
        self.vault
            .delete_secrets(&record.tenant_id, OWNER_TABLE, &record.id)
            .await?;
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: "app-connection.delete",
                    resource_kind: "app-connection",
                    resource_id: Some(id),
                    details: Some(json!({"name": record.name, "revokedAtGitLab": revoke_at_gitlab})),
                },
            )
            .await?;
        Ok(view(&record))
    }

    pub async fn events(
        &self,
        principal: &Principal,
        id: &str,
        offset: u64,
        limit: u32,
    ) -> Result<ConnectionEventList> {
        principal.require(Access::Read)?;
        let record = self.load(principal, id).await?;
        let (events, total) = self
            .store
            .list_connection_events(&record.tenant_id, &record.id, offset, limit)
            .await?;
        Ok(ConnectionEventList {
            events: events.into_iter().map(event_view).collect(),
            total_count: total,
        })
    }

    fn listing_error(error: &GitLabError) -> CoreError {
        CoreError::Unavailable(format!("GitLab refused the listing: {error}"))
    }

    /// Projects the connection's token is a member of (not archived).
    pub async fn projects(&self, principal: &Principal, id: &str) -> Result<Vec<GitLabProjectView>> {
        principal.require(Access::Read)?;
        let record = self.load(principal, id).await?;
        let client = self.client_for(&record)?;
        let cred = Credential::PrivateToken(self.token_of(&record).await?);
        let filter = ProjectFilter {
            membership: true,
            archived: Some(false),
            ..ProjectFilter::default()
        };
        let mut stream = client.projects(&cred, &filter);
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            let project = item.map_err(|e| Self::listing_error(&e))?;
            out.push(GitLabProjectView {
                id: project.id.to_string(),
                name: project.name,
                path_with_namespace: project.path_with_namespace,
                web_url: project.web_url,
            });
            if out.len() >= LIST_CAP {
                break;
            }
        }
        Ok(out)
    }

    /// Groups the token owns (Owner role); empty for project tokens, as in Infisical.
    pub async fn groups(&self, principal: &Principal, id: &str) -> Result<Vec<GitLabGroupView>> {
        principal.require(Access::Read)?;
        let record = self.load(principal, id).await?;
        if record.access_token_type.as_deref() == Some("project") {
            return Ok(Vec::new());
        }
        let client = self.client_for(&record)?;
        let cred = Credential::PrivateToken(self.token_of(&record).await?);
        let filter = GroupFilter {
            min_access_level: Some(labgate_gitlab::AccessLevel::OWNER),
            ..GroupFilter::default()
        };
        let mut stream = client.groups(&cred, &filter);
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            let group = item.map_err(|e| Self::listing_error(&e))?;
            out.push(GitLabGroupView {
                id: group.id.to_string(),
                name: group.name,
                full_path: group.full_path,
                web_url: group.web_url,
            });
            if out.len() >= LIST_CAP {
                break;
            }
        }
        Ok(out)
    }

    /// Queues `connection.status_changed` for the tenant's subscribers.
    async fn emit_status(&self, record: &ConnectionRecord, from: &str, reason: &str) -> Result<()> {
        self.webhooks
            .emit(
                &record.tenant_id,
                "connection.status_changed",
                json!({
                    "connectionId": record.id,
                    "name": record.name,
                    "app": record.app,
                    "fromStatus": from,
                    "toStatus": record.status,
                    "reason": record.status_reason.as_deref().unwrap_or(reason),
                }),
            )
            .await?;
        Ok(())
    }
}
