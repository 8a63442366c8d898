//! GitLab instances a tenant connects to: base URL, kind, custom CA certificates, a proxy, and
//! the OAuth application registered there. The application's client secret is sealed in the
//! vault and never leaves it through a view.

use std::sync::Arc;
use std::time::Duration;

use labgate_gitlab::net::{ClientBuildError, ProxySettings, TlsSettings, guarded_client_builder};
use labgate_gitlab::{GitLabBaseUrl, InstanceSettings, NetworkPolicy, check_url};
use labgate_proto::audit::{AuditAction, ResourceType};
pub use labgate_proto::instances::InstanceKind;
use labgate_proto::instances::{
    CreateGitLabInstanceRequest, GitLabInstanceList, GitLabInstanceView, UpdateGitLabInstanceRequest,
};
use labgate_store::{InstanceRecord, Store, StoreError};
use secrecy::SecretString;
use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{AuditEvent, AuditLog};
use crate::auth::{Access, Principal};
use crate::clock::Clock;
use crate::ids::{InstanceId, TenantId};
use crate::rows::{Parsed, StoredValueError, ms, text, time, unsigned};
use crate::timefmt::format_time;
use crate::vault::{SecretSlot, Vault};
use crate::{CoreError, Result};

const OWNER_TABLE: &str = "gitlab_instances";
const SECRET_FIELD: &str = "oauthClientSecret";
const GITLAB_COM_HOST: &str = "gitlab.com";
const GITLAB_COM_URL: &str = "https://gitlab.com";
/// Where GitLab sends the browser back after an OAuth authorization, below the site URL.
pub const CALLBACK_PATH: &str = "/organization/app-connections/gitlab/oauth/callback";
const MAX_URL_LEN: usize = 2_048;
const MAX_OAUTH_FIELD_LEN: usize = 255;
const MAX_CA_BUNDLE_LEN: usize = 65_536;

/// One GitLab instance of a tenant.
#[derive(Clone, PartialEq, Eq)]
pub struct GitLabInstance {
    pub id: InstanceId,
    pub tenant_id: TenantId,
    pub url: GitLabBaseUrl,
    pub kind: InstanceKind,
    pub oauth_client_id: Option<String>,
    /// Extra trusted CA certificates (PEM), checked to hold at least one certificate.
    pub ca_bundle: Option<String>,
    pub proxy_url: Option<url::Url>,
    /// Moves one up with every saved change; an update must name the version it read.
    pub version: u32,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl std::fmt::Debug for GitLabInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitLabInstance")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("url", &self.url.as_str())
            .field("kind", &self.kind)
            .field("oauth_client_id", &self.oauth_client_id)
            .field("has_ca_bundle", &self.ca_bundle.is_some())
            .field("proxy", &self.proxy_url.as_ref().and_then(url::Url::host_str))
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl TryFrom<InstanceRecord> for GitLabInstance {
    type Error = StoredValueError;

    fn try_from(row: InstanceRecord) -> Parsed<GitLabInstance> {
        Ok(GitLabInstance {
            id: InstanceId::from_stored(row.id),
            tenant_id: TenantId::from_stored(row.tenant_id),
            url: text("gitlab_instances.url", &row.url)?,
            kind: text("gitlab_instances.kind", &row.kind)?,
            proxy_url: row
                .proxy_url
                .as_deref()
                .map(|proxy| text("gitlab_instances.proxy_url", proxy))
                .transpose()?,
            version: unsigned("gitlab_instances.version", row.version)?,
            created_at: time("gitlab_instances.created_at", row.created_at)?,
            updated_at: time("gitlab_instances.updated_at", row.updated_at)?,
            oauth_client_id: row.oauth_client_id,
            ca_bundle: row.ca_bundle,
        })
    }
}

fn instance_row(instance: &GitLabInstance) -> InstanceRecord {
    InstanceRecord {
        id: instance.id.to_string(),
        tenant_id: instance.tenant_id.to_string(),
        url: instance.url.as_str().to_owned(),
        kind: instance.kind.as_str().to_owned(),
        oauth_client_id: instance.oauth_client_id.clone(),
        ca_bundle: instance.ca_bundle.clone(),
        proxy_url: instance.proxy_url.as_ref().map(url::Url::to_string),
        version: crate::rows::signed32(instance.version),
        created_at: ms(instance.created_at),
        updated_at: ms(instance.updated_at),
    }
}

/// Parses the base URL (path prefix kept, trailing slash trimmed) and checks it against the
/// network policy: plain http and internal addresses only where an operator allow-listed them.
pub fn validate_url(text: &str, policy: &NetworkPolicy) -> Result<GitLabBaseUrl> {
    let url = crate::connections::validate::gitlab_url("url", text.trim(), policy)?;
    check_url(url.as_url(), policy)
        .map_err(|blocked| CoreError::validation("url", format!("url refused: {blocked}")))?;
    Ok(url)
}

/// The kind asked for, or the one the URL implies. Only gitlab.com itself is `gitlab.com`.
pub fn validate_kind(requested: Option<&str>, url: &GitLabBaseUrl) -> Result<InstanceKind> {
    let is_gitlab_com = url.host().eq_ignore_ascii_case(GITLAB_COM_HOST);
    let kind = match requested {
        None if is_gitlab_com => InstanceKind::GitLabCom,
        None => InstanceKind::SelfManaged,
        Some(text) => InstanceKind::parse(text).ok_or_else(|| {
            CoreError::validation(
                "kind",
                format!("unknown kind; known kinds are {}", InstanceKind::names()),
            )
        })?,
    };
    if kind == InstanceKind::GitLabCom && !is_gitlab_com {
        return Err(CoreError::validation(
            "kind",
            "kind gitlab.com is only for https://gitlab.com; other instances are self-managed",
        ));
    }
    Ok(kind)
}

/// A PEM bundle the GitLab client will accept: the same check it makes when it is built, so a
/// bundle stored here never fails later.
pub fn validate_ca_bundle(pem: &str) -> Result<String> {
    if pem.len() > MAX_CA_BUNDLE_LEN {
        return Err(CoreError::validation(
            "caBundle",
            "caBundle must be at most 65536 characters",
        ));
    }
    let tls = TlsSettings {
        ca_bundle_pem: Some(pem.to_owned()),
        danger_accept_invalid_certs: false,
    };
    match guarded_client_builder(
        Arc::new(NetworkPolicy::deny_internal()),
        &ProxySettings::default(),
        &tls,
        Duration::from_secs(10),
    ) {
        Ok(_) => Ok(pem.to_owned()),
        Err(ClientBuildError::CaBundle(reason)) => Err(CoreError::validation(
            "caBundle",
            format!("caBundle must be PEM certificates: {reason}"),
        )),
        Err(other) => Err(CoreError::internal(other)),
    }
}

/// An http:// or https:// proxy. Credentials are refused: the URL is shown to every reader.
pub fn validate_proxy(text: &str) -> Result<url::Url> {
    let invalid = |why: &str| CoreError::validation("proxyUrl", format!("proxyUrl {why}"));
    let text = text.trim();
    if text.len() > MAX_URL_LEN {
        return Err(invalid("must be at most 2048 characters"));
    }
    let plain = ["http://", "https://"].iter().any(|scheme| {
        text.get(..scheme.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(scheme))
    });
    if !plain {
        return Err(invalid("must start with http:// or https://"));
    }
    let url = ProxySettings::parse_url("proxyUrl", text).map_err(|error| invalid(&error.reason))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not carry credentials"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must be scheme, host and port only"));
    }
    Ok(url)
}

/// An OAuth client id or secret: 1 to 255 printable characters once trimmed.
fn oauth_field<'a>(field: &'static str, text: &'a str) -> Result<&'a str> {
    let trimmed = text.trim();
    if trimmed.is_empty()
        || trimmed.chars().count() > MAX_OAUTH_FIELD_LEN
        || trimmed.chars().any(char::is_control)
    {
        return Err(CoreError::validation(
            field,
            format!("{field} must be 1 to 255 printable characters"),
        ));
    }
    Ok(trimmed)
}

fn validate_client_id(client_id: Option<String>) -> Result<Option<String>> {
    client_id
        .map(|id| oauth_field("oauthClientId", &id).map(str::to_owned))
        .transpose()
}

fn validate_client_secret(secret: Option<String>) -> Result<Option<SecretString>> {
    let Some(secret) = secret.map(zeroize::Zeroizing::new) else {
        return Ok(None);
    };
    // The request's copy is zeroed when it goes; only the sealed-to-be secret stays.
    oauth_field("oauthClientSecret", &secret).map(|trimmed| Some(SecretString::from(trimmed)))
}

fn secret_needs_client_id() -> CoreError {
    CoreError::validation(
        "oauthClientSecret",
        "oauthClientSecret needs oauthClientId: the secret belongs to an OAuth application",
    )
}

fn url_taken(url: &GitLabBaseUrl) -> CoreError {
    CoreError::AlreadyExists(format!(
        "the GitLab instance {} is already registered",
        url.as_str()
    ))
}

fn changed_meanwhile() -> CoreError {
    CoreError::Conflict("the GitLab instance changed meanwhile; read it again and retry".to_owned())
}

/// The instance connections go to when a request names none, and the OAuth application
/// registered there (`LABGATE_GITLAB_URL`, `LABGATE_GITLAB_OAUTH_CLIENT_ID`, `…_CLIENT_SECRET`).
#[derive(Clone)]
pub struct DefaultInstance {
    pub url: GitLabBaseUrl,
    pub oauth_client_id: Option<String>,
    pub oauth_client_secret: Option<SecretString>,
}

impl DefaultInstance {
    /// gitlab.com without an OAuth application: the default instance when none is configured.
    pub fn gitlab_com() -> Result<DefaultInstance> {
        Ok(DefaultInstance {
            url: GitLabBaseUrl::parse(GITLAB_COM_URL).map_err(CoreError::internal)?,
            oauth_client_id: None,
            oauth_client_secret: None,
        })
    }
}

impl std::fmt::Debug for DefaultInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefaultInstance")
            .field("url", &self.url.as_str())
            .field("oauth_client_id", &self.oauth_client_id)
            .field("has_oauth_client_secret", &self.oauth_client_secret.is_some())
            .finish()
    }
}

/// An OAuth application to authorise or refresh through: the instance (with its CA bundle and
/// proxy), and the client credentials.
#[derive(Clone)]
pub struct OAuthTarget {
    /// `None`: the default instance.
    pub instance_id: Option<InstanceId>,
    pub settings: InstanceSettings,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
}

impl OAuthTarget {
    pub fn base_url(&self) -> &GitLabBaseUrl {
        &self.settings.base_url
    }
}

#[derive(Clone)]
pub struct GitLabInstances {
    store: Store,
    vault: Arc<Vault>,
    clock: Arc<dyn Clock>,
    audit: AuditLog,
    policy: Arc<NetworkPolicy>,
    /// The OAuth redirect URI, known when the server knows its site URL.
    redirect_uri: Option<Arc<str>>,
    /// `None`: gitlab.com, without an OAuth application.
    default_instance: Option<Arc<DefaultInstance>>,
}

impl GitLabInstances {
    pub(crate) fn new(
        store: Store,
        vault: Arc<Vault>,
        clock: Arc<dyn Clock>,
        audit: AuditLog,
        policy: Arc<NetworkPolicy>,
    ) -> GitLabInstances {
        GitLabInstances {
            store,
            vault,
            clock,
            audit,
            policy,
            redirect_uri: None,
            default_instance: None,
        }
    }

    /// Where GitLab instances may be reached.
    pub(crate) fn policy(&self) -> Arc<NetworkPolicy> {
        self.policy.clone()
    }

    /// Connections name this instance (and its OAuth application) when they name none.
    pub fn with_default_instance(mut self, default_instance: DefaultInstance) -> GitLabInstances {
        self.default_instance = Some(Arc::new(default_instance));
        self
    }

    /// The configured default instance; `None` when none was configured (gitlab.com, without
    /// an OAuth application).
    pub fn default_instance(&self) -> Option<&DefaultInstance> {
        self.default_instance.as_deref()
    }

    /// Where connections go when they name no instance.
    pub fn default_url(&self) -> Result<GitLabBaseUrl> {
        match &self.default_instance {
            Some(default) => Ok(default.url.clone()),
            None => GitLabBaseUrl::parse(GITLAB_COM_URL).map_err(CoreError::internal),
        }
    }

    /// Where GitLab sends browsers back after an authorization; `None` without a site URL.
    pub fn redirect_uri(&self) -> Option<&str> {
        self.redirect_uri.as_deref()
    }

    /// The OAuth application for a flow the tenant starts at `instance_url` (default: the
    /// default instance): a registered instance of that URL first, then the default one.
    pub async fn oauth_target(
        &self,
        tenant_id: &TenantId,
        instance_url: Option<&str>,
    ) -> Result<OAuthTarget> {
        let url = match instance_url.map(str::trim).filter(|url| !url.is_empty()) {
            Some(text) => crate::connections::validate::gitlab_url("instanceUrl", text, &self.policy)?,
            None => self.default_url()?,
        };
        match self.store.instance_by_url(tenant_id.as_str(), url.as_str()).await {
            Ok(row) => return self.target_of(GitLabInstance::try_from(row)?).await,
            Err(StoreError::NotFound) => {}
            Err(other) => return Err(other.into()),
        }
        if url != self.default_url()? {
            return Err(CoreError::validation(
                "instanceUrl",
                format!(
                    "no OAuth application is registered for {}; register the instance with its OAuth application \
                     (POST /api/v1/gitlab-instances) first",
                    url.as_str()
                ),
            ));
        }
        self.default_target()
    }

    /// The OAuth application a connection was authorised through, for its refreshes.
    pub async fn oauth_target_of(
        &self,
        tenant_id: &TenantId,
        instance_id: Option<&InstanceId>,
    ) -> Result<OAuthTarget> {
        let Some(id) = instance_id else {
            return self.default_target();
        };
        match self.store.instance(tenant_id.as_str(), id.as_str()).await {
            Ok(row) => self.target_of(GitLabInstance::try_from(row)?).await,
            Err(StoreError::NotFound) => Err(CoreError::Conflict(
                "the GitLab instance this connection was authorised through is gone".to_owned(),
            )),
            Err(other) => Err(other.into()),
        }
    }

    /// How to reach a connection's instance: the CA bundle and proxy of the instance it was
    /// authorised through, or of a registered instance at its URL; plain settings otherwise.
    pub async fn settings_for(
        &self,
        tenant_id: &TenantId,
        instance_id: Option<&InstanceId>,
        instance_url: &str,
    ) -> Result<InstanceSettings> {
        let base = GitLabBaseUrl::parse(instance_url).map_err(CoreError::internal)?;
        let row = match instance_id {
            Some(id) => self.store.instance(tenant_id.as_str(), id.as_str()).await,
            None => {
                self.store
                    .instance_by_url(tenant_id.as_str(), base.as_str())
                    .await
            }
        };
        let mut settings = InstanceSettings::new(base);
        match row {
            Ok(row) => {
                let instance = GitLabInstance::try_from(row)?;
                settings.ca_bundle_pem = instance.ca_bundle;
                settings.proxy = instance.proxy_url.as_ref().map(url::Url::to_string);
            }
            Err(StoreError::NotFound) => {}
            Err(other) => return Err(other.into()),
        }
        Ok(settings)
    }

    fn default_target(&self) -> Result<OAuthTarget> {
        let default = match &self.default_instance {
            Some(default) => default.clone(),
            None => Arc::new(DefaultInstance::gitlab_com()?),
        };
        let Some(client_id) = default.oauth_client_id.clone() else {
            return Err(CoreError::validation(
                "instanceUrl",
                format!(
                    "no OAuth application is configured for {}; set LABGATE_GITLAB_OAUTH_CLIENT_ID and \
                     LABGATE_GITLAB_OAUTH_CLIENT_SECRET, or register the instance (POST /api/v1/gitlab-instances)",
                    default.url.as_str()
                ),
            ));
        };
        Ok(OAuthTarget {
            instance_id: None,
            settings: InstanceSettings::new(default.url.clone()),
            client_id,
            client_secret: default.oauth_client_secret.clone(),
        })
    }

    async fn target_of(&self, instance: GitLabInstance) -> Result<OAuthTarget> {
        let Some(client_id) = instance.oauth_client_id.clone() else {
            return Err(CoreError::validation(
                "instanceUrl",
                format!(
                    "the GitLab instance {} has no OAuth application; set its oauthClientId and oauthClientSecret",
                    instance.url.as_str()
                ),
            ));
        };
        let client_secret = self
            .vault
            .get_secret(&Self::slot(&instance.tenant_id, &instance.id))
            .await?;
        let mut settings = InstanceSettings::new(instance.url.clone());
        settings.ca_bundle_pem = instance.ca_bundle.clone();
        settings.proxy = instance.proxy_url.as_ref().map(url::Url::to_string);
        Ok(OAuthTarget {
            instance_id: Some(instance.id),
            settings,
            client_id,
            client_secret,
        })
    }

    /// Shows the OAuth redirect URI below `site_url` (`LABGATE_SITE_URL`) in every view.
    pub fn with_site_url(mut self, site_url: Option<&str>) -> GitLabInstances {
        self.redirect_uri =
            site_url.map(|site| format!("{}{CALLBACK_PATH}", site.trim().trim_end_matches('/')).into());
        self
    }

    fn slot<'a>(tenant_id: &'a TenantId, id: &'a InstanceId) -> SecretSlot<'a> {
        SecretSlot {
            tenant_id: tenant_id.as_str(),
            owner_table: OWNER_TABLE,
            owner_id: id.as_str(),
            field: SECRET_FIELD,
        }
    }

    async fn has_secret(&self, instance: &GitLabInstance) -> Result<bool> {
        self.vault
            .has_secret(&Self::slot(&instance.tenant_id, &instance.id))
            .await
    }

    fn view(&self, instance: &GitLabInstance, has_oauth_client_secret: bool) -> GitLabInstanceView {
        GitLabInstanceView {
            id: instance.id.to_string(),
            url: instance.url.as_str().to_owned(),
            kind: instance.kind,
            oauth_client_id: instance.oauth_client_id.clone(),
            has_oauth_client_secret,
            ca_bundle: instance.ca_bundle.clone(),
            proxy_url: instance.proxy_url.as_ref().map(url::Url::to_string),
            oauth_redirect_uri: self.redirect_uri.as_deref().map(str::to_owned),
            created_at: format_time(instance.created_at),
            updated_at: format_time(instance.updated_at),
        }
    }

    async fn find(&self, principal: &Principal, id: &str) -> Result<GitLabInstance> {
        let id = InstanceId::parse(id).ok_or(CoreError::NotFound("GitLab instance"))?;
        match self
            .store
            .instance(principal.tenant_id.as_str(), id.as_str())
            .await
        {
            Ok(row) => Ok(GitLabInstance::try_from(row)?),
            Err(StoreError::NotFound) => Err(CoreError::NotFound("GitLab instance")),
            Err(other) => Err(other.into()),
        }
    }

    async fn record(
        &self,
        principal: &Principal,
        action: AuditAction,
        instance: &GitLabInstance,
    ) -> Result<()> {
        self.audit
            .record(
                principal,
                AuditEvent {
                    action,
                    resource_kind: ResourceType::GitLabInstance,
                    resource_id: Some(instance.id.as_str()),
                    details: Some(json!({"url": instance.url.as_str(), "kind": instance.kind})),
                },
            )
            .await
    }

    pub async fn create(
        &self,
        principal: &Principal,
        request: CreateGitLabInstanceRequest,
    ) -> Result<GitLabInstanceView> {
        principal.require(Access::Admin)?;
        let url = validate_url(&request.url, &self.policy)?;
        let kind = validate_kind(request.kind.as_deref(), &url)?;
        let oauth_client_id = validate_client_id(request.oauth_client_id)?;
        let secret = validate_client_secret(request.oauth_client_secret)?;
        if secret.is_some() && oauth_client_id.is_none() {
            return Err(secret_needs_client_id());
        }
        let ca_bundle = request.ca_bundle.as_deref().map(validate_ca_bundle).transpose()?;
        let proxy_url = request.proxy_url.as_deref().map(validate_proxy).transpose()?;
        let now = self.clock.now();
        let instance = GitLabInstance {
            id: InstanceId::generate(),
            tenant_id: principal.tenant_id.clone(),
            url,
            kind,
            oauth_client_id,
            ca_bundle,
            proxy_url,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let inserted = match self.store.insert_instance(&instance_row(&instance)).await {
            Ok(row) => GitLabInstance::try_from(row)?,
            Err(StoreError::Conflict { .. }) => return Err(url_taken(&instance.url)),
            Err(other) => return Err(other.into()),
        };
        if let Some(secret) = &secret {
            let sealed = self
                .vault
                .put_secret(&Self::slot(&inserted.tenant_id, &inserted.id), secret, ms(now))
                .await;
            if let Err(error) = sealed {
                // An instance whose secret was not kept would look configured and fail later.
                let _ = self
                    .store
                    .delete_instance(inserted.tenant_id.as_str(), inserted.id.as_str())
                    .await;
                return Err(error);
            }
        }
        self.record(principal, AuditAction::GitLabInstanceCreate, &inserted)
            .await?;
        Ok(self.view(&inserted, secret.is_some()))
    }

    pub async fn list(&self, principal: &Principal, offset: u64, limit: u32) -> Result<GitLabInstanceList> {
        principal.require(Access::Read)?;
        let (rows, total) = self
            .store
            .list_instances(principal.tenant_id.as_str(), offset, limit)
            .await?;
        let mut gitlab_instances = Vec::with_capacity(rows.len());
        for row in rows {
            let instance = GitLabInstance::try_from(row)?;
            let has_secret = self.has_secret(&instance).await?;
            gitlab_instances.push(self.view(&instance, has_secret));
        }
        Ok(GitLabInstanceList {
            gitlab_instances,
            total_count: total,
        })
    }

    pub async fn get(&self, principal: &Principal, id: &str) -> Result<GitLabInstanceView> {
        principal.require(Access::Read)?;
        let instance = self.find(principal, id).await?;
        let has_secret = self.has_secret(&instance).await?;
        Ok(self.view(&instance, has_secret))
    }

    /// How many connections were authorised through the instance's OAuth application (and
    /// refresh through it): while any do, the instance cannot be deleted.
    pub async fn connection_count(&self, principal: &Principal, id: &str) -> Result<u64> {
        principal.require(Access::Read)?;
        let instance = self.find(principal, id).await?;
        Ok(self
            .store
            .connections_of_instance(instance.tenant_id.as_str(), instance.id.as_str())
            .await?)
    }

    pub async fn update(
        &self,
        principal: &Principal,
        id: &str,
        request: UpdateGitLabInstanceRequest,
    ) -> Result<GitLabInstanceView> {
        principal.require(Access::Admin)?;
        let mut instance = self.find(principal, id).await?;
        if let Some(url) = &request.url {
            instance.url = validate_url(url, &self.policy)?;
        }
        if request.kind.is_some() || request.url.is_some() {
            // A new URL without a kind takes the kind it implies.
            instance.kind = validate_kind(request.kind.as_deref(), &instance.url)?;
        }
        if let Some(client_id) = request.oauth_client_id {
            instance.oauth_client_id = validate_client_id(client_id)?;
        }
        let secret = request
            .oauth_client_secret
            .map(validate_client_secret)
            .transpose()?;
        if let Some(ca_bundle) = request.ca_bundle {
            instance.ca_bundle = ca_bundle.as_deref().map(validate_ca_bundle).transpose()?;
        }
        if let Some(proxy_url) = request.proxy_url {
            instance.proxy_url = proxy_url.as_deref().map(validate_proxy).transpose()?;
        }
        let has_secret = match &secret {
            Some(new) => new.is_some(),
            None => self.has_secret(&instance).await?,
        };
        if has_secret && instance.oauth_client_id.is_none() {
            return Err(secret_needs_client_id());
        }
        instance.updated_at = self.clock.now();
        let saved = match self.store.update_instance(&instance_row(&instance)).await {
            Ok(row) => GitLabInstance::try_from(row)?,
            Err(StoreError::NotFound) => return Err(CoreError::NotFound("GitLab instance")),
            Err(StoreError::Conflict { what }) if what == "gitlab_instances.version" => {
                return Err(changed_meanwhile());
            }
            Err(StoreError::Conflict { .. }) => return Err(url_taken(&instance.url)),
            Err(other) => return Err(other.into()),
        };
        match secret {
            Some(Some(secret)) => {
                self.vault
                    .put_secret(
                        &Self::slot(&saved.tenant_id, &saved.id),
                        &secret,
                        ms(saved.updated_at),
                    )
                    .await?;
            }
            Some(None) => {
                self.vault
                    .delete_secrets(saved.tenant_id.as_str(), OWNER_TABLE, saved.id.as_str())
                    .await?;
            }
            None => {}
        }
        self.record(principal, AuditAction::GitLabInstanceUpdate, &saved)
            .await?;
        Ok(self.view(&saved, has_secret))
    }

    pub async fn delete(&self, principal: &Principal, id: &str) -> Result<GitLabInstanceView> {
        principal.require(Access::Admin)?;
        let instance = self.find(principal, id).await?;
        let users = self
            .store
            .connections_of_instance(instance.tenant_id.as_str(), instance.id.as_str())
            .await?;
        if users > 0 {
            return Err(CoreError::Conflict(format!(
                "{users} connection(s) were authorised through this instance and refresh through its OAuth \
                 application; delete them first"
            )));
        }
        let has_secret = self.has_secret(&instance).await?;
        if !self
            .store
            .delete_instance(instance.tenant_id.as_str(), instance.id.as_str())
            .await?
        {
            return Err(CoreError::NotFound("GitLab instance"));
        }
        self.vault
            .delete_secrets(instance.tenant_id.as_str(), OWNER_TABLE, instance.id.as_str())
            .await?;
        self.record(principal, AuditAction::GitLabInstanceDelete, &instance)
            .await?;
        Ok(self.view(&instance, has_secret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_their_prefix_and_follow_the_policy() {
        let deny = NetworkPolicy::deny_internal();
        assert_eq!(
            validate_url("https://example.com/gitlab/", &deny)
                .unwrap()
                .as_str(),
            "https://example.com/gitlab"
        );
        for bad in [
            "https://u:p@example.com",
            "https://example.com?x=1",
            "http://example.com",
            "https://127.0.0.1",
            "ftp://x",
        ] {
            assert!(validate_url(bad, &deny).is_err(), "{bad}");
        }
        let allow = NetworkPolicy::parse("127.0.0.1").unwrap();
        assert!(validate_url("http://127.0.0.1:8080", &allow).is_ok());
    }

    #[test]
    fn kinds_follow_the_host() {
        let deny = NetworkPolicy::deny_internal();
        let com = validate_url("https://gitlab.com", &deny).unwrap();
        let own = validate_url("https://git.example.com", &deny).unwrap();
        assert_eq!(validate_kind(None, &com).unwrap(), InstanceKind::GitLabCom);
        assert_eq!(validate_kind(None, &own).unwrap(), InstanceKind::SelfManaged);
        assert_eq!(
            validate_kind(Some("self-managed"), &com).unwrap(),
            InstanceKind::SelfManaged
        );
        assert!(validate_kind(Some("gitlab.com"), &own).is_err());
        assert!(validate_kind(Some("cloud"), &own).is_err());
    }

    #[test]
    fn ca_bundles_must_hold_certificates() {
        for bad in [
            "",
            "not pem",
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        ] {
            let error = validate_ca_bundle(bad).unwrap_err();
            assert!(
                matches!(
                    error,
                    CoreError::Validation {
                        field: Some("caBundle"),
                        ..
                    }
                ),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn proxies_are_plain_http_or_https() {
        assert_eq!(
            validate_proxy("http://proxy.example:3128").unwrap().as_str(),
            "http://proxy.example:3128/"
        );
        assert!(validate_proxy("https://proxy.example").is_ok());
        for bad in [
            "socks5://proxy.example:1080",
            "proxy.example:3128",
            "http://user:pass@proxy.example",
            "http://proxy.example/path",
            "http://",
        ] {
            assert!(validate_proxy(bad).is_err(), "{bad}");
        }
    }
}
