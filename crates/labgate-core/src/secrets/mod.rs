//! The secrets store: projects hold environments, an environment holds folders (paths) and a
//! folder holds secrets, each with a version history. Values are sealed per version in the
//! vault, bound to (tenant, `secret_versions`, version id, `value`), so a tenant's data-key
//! rotation re-encrypts them with every other secret. Shapes follow Infisical's secrets API.
//!
//! Every read of a value is audited, folded per reader, secret and minute; every write is audited
//! without its value. Each committed write tells the registered [`ChangeHooks`] which folder
//! changed.

mod browse;
mod dotenv;
mod hooks;
pub mod model;
mod views;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use labgate_crypto::Aad;
use labgate_proto::audit::{AuditAction, ResourceType};
use labgate_store::{
    NewSecretVersion, SECRET_VALUE_FIELD, SECRET_VERSIONS_TABLE, SecretEnvironmentRecord,
    SecretProjectRecord, SecretRecord, SecretValueRecord, SecretVersionRecord, SecretWrite, Store,
    StoreError,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

pub use browse::{FolderListing, SecretEntry};
pub use hooks::{ChangeHook, ChangeHooks, FolderChange};
pub use model::{
    EnvironmentSlug, Folder, FolderSecret, ImportSummary, ImportedSecret, NewSecret, Secret, SecretChange,
    SecretEnvironment, SecretKey, SecretPath, SecretProject, SecretVersion, TagSlug, parse_tags,
};
pub use views::{environment_view, project_view, secret_view, version_view};

use crate::audit::{AuditEvent, AuditLog};
use crate::auth::{Access, Actor, Principal};
use crate::clock::Clock;
use crate::ids::{SecretEnvironmentId, SecretId, SecretProjectId, SecretVersionId, TenantId};
use crate::rows::{Parsed, json_list, ms, signed32, text, time, to_json_list, unsigned};
use crate::vault::Vault;
use crate::{CoreError, Result};

/// The environments a project gets when it is created without any.
pub const DEFAULT_ENVIRONMENTS: [(&str, &str); 3] = [
    ("Development", "dev"),
    ("Staging", "staging"),
    ("Production", "prod"),
];
/// Most secrets one batch request or import writes.
pub const MAX_BATCH: usize = 1_000;

#[derive(Clone)]
pub struct Secrets {
    store: Store,
    vault: Arc<Vault>,
    clock: Arc<dyn Clock>,
    audit: AuditLog,
    change_hooks: Arc<ChangeHooks>,
}

/// An environment to create with a project.
#[derive(Debug, Clone)]
pub struct NewEnvironment {
    pub name: String,
    pub slug: String,
}

/// Changes to an environment; what is `None` stays.
#[derive(Debug, Clone, Default)]
pub struct EnvironmentChange {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub position: Option<u32>,
}

fn project_not_found() -> CoreError {
    CoreError::NotFound("project")
}

fn environment_not_found() -> CoreError {
    CoreError::NotFound("environment")
}

fn secret_not_found() -> CoreError {
    CoreError::NotFound("secret")
}

fn changed_meanwhile() -> CoreError {
    CoreError::Conflict("a secret changed meanwhile; read it again and retry".to_owned())
}

fn aad<'a>(tenant: &'a str, version_id: &'a str) -> Aad<'a> {
    Aad::new(tenant, SECRET_VERSIONS_TABLE, version_id, SECRET_VALUE_FIELD)
}

fn project_row(
    record: SecretProjectRecord,
    environments: Vec<SecretEnvironmentRecord>,
) -> Parsed<SecretProject> {
    Ok(SecretProject {
        id: SecretProjectId::from_stored(record.id),
        name: record.name,
        slug: record.slug,
        environments: environments
            .into_iter()
            .map(environment_row)
            .collect::<Parsed<Vec<_>>>()?,
        created_at: time("secret_projects.created_at", record.created_at)?,
        updated_at: time("secret_projects.updated_at", record.updated_at)?,
    })
}

fn environment_row(record: SecretEnvironmentRecord) -> Parsed<SecretEnvironment> {
    Ok(SecretEnvironment {
        id: SecretEnvironmentId::from_stored(record.id),
        name: record.name,
        slug: EnvironmentSlug::from_stored(record.slug),
        position: unsigned("secret_environments.position", record.position)?,
    })
}

fn tags_row(column: &'static str, tags: &str) -> Parsed<Vec<TagSlug>> {
    json_list(column, tags)
}

/// The secret a stored row describes, before its value is opened.
#[derive(Clone)]
struct StoredSecret {
    record: SecretRecord,
    version_id: String,
    sealed: Vec<u8>,
}

impl From<SecretValueRecord> for StoredSecret {
    fn from(record: SecretValueRecord) -> Self {
        StoredSecret {
            record: record.secret,
            version_id: record.version_id,
            sealed: record.sealed,
        }
    }
}

/// One project environment's folder, resolved: the tenant's project and the environment's row.
struct Place {
    tenant: TenantId,
    project: SecretProject,
    environment: SecretEnvironment,
    path: SecretPath,
}

impl Place {
    fn audit_details(&self, key: &SecretKey, version: u32) -> serde_json::Value {
        json!({
            "projectId": self.project.id,
            "environment": self.environment.slug.as_str(),
            "secretPath": self.path.as_str(),
            "secretKey": key.as_str(),
            "version": version,
        })
    }
}

impl Secrets {
    pub(crate) fn new(store: Store, vault: Arc<Vault>, clock: Arc<dyn Clock>, audit: AuditLog) -> Secrets {
        Secrets {
            store,
            vault,
            clock,
            audit,
            change_hooks: Arc::new(ChangeHooks::default()),
        }
    }

    /// Registers a function told of every committed write, after its commit, with the folder it
    /// changed. Registered at wiring time; every clone of the service shares the hooks. Hooks run
    /// in the writer's task, one after another, before the write is answered: a hook should note
    /// the change (enqueue a job), not do the work.
    pub fn on_change<F>(&self, hook: F)
    where
        F: Fn(FolderChange) -> futures_util::future::BoxFuture<'static, ()> + Send + Sync + 'static,
    {
        self.change_hooks.register(Box::new(hook));
    }

    async fn folder_changed(
        &self,
        tenant: &TenantId,
        project: &SecretProjectId,
        environment: &EnvironmentSlug,
        path: &SecretPath,
    ) {
        self.change_hooks
            .notify(&FolderChange {
                tenant: tenant.clone(),
                project: project.clone(),
                environment: environment.clone(),
                path: path.clone(),
            })
            .await;
    }

    // ---- projects and environments ----

    /// Creates a project; without environments it gets `dev`, `staging` and `prod`.
    pub async fn create_project(
        &self,
        principal: &Principal,
        name: &str,
        slug: Option<&str>,
        environments: Option<Vec<NewEnvironment>>,
    ) -> Result<SecretProject> {
        principal.require(Access::Write)?;
        let name = model::display_name("name", name)?;
        let slug = match slug {
            Some(slug) => model::project_slug(slug)?,
            None => model::slug_from_name(&name)?,
        };
        let environments = match environments {
            Some(environments) => environments,
            None => DEFAULT_ENVIRONMENTS
                .iter()
                .map(|(name, slug)| NewEnvironment {
                    name: (*name).to_owned(),
                    slug: (*slug).to_owned(),
                })
                .collect(),
        };
        let now = ms(self.clock.now());
        let project = SecretProjectRecord {
            id: SecretProjectId::generate().into(),
            tenant_id: principal.tenant_id.to_string(),
            name,
            slug,
            created_at: now,
            updated_at: now,
        };
        let mut rows: Vec<SecretEnvironmentRecord> = Vec::with_capacity(environments.len());
        for (position, environment) in environments.iter().enumerate() {
            let slug = EnvironmentSlug::parse(&environment.slug)?;
            if rows.iter().any(|row| row.slug == slug.as_str()) {
                return Err(CoreError::validation(
                    "environments",
                    format!("the environment slug {slug} is given twice"),
                ));
            }
            rows.push(SecretEnvironmentRecord {
                id: SecretEnvironmentId::generate().into(),
                project_id: project.id.clone(),
                name: model::display_name("environments", &environment.name)?,
                slug: slug.to_string(),
                position: signed32(position),
                created_at: now,
            });
        }
        match self.store.insert_secret_project(&project, &rows).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => {
                return Err(CoreError::AlreadyExists(format!(
                    "a project with the slug {:?} already exists",
                    project.slug
                )));
            }
            Err(other) => return Err(other.into()),
        }
        let created = project_row(project, rows)?;
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::SecretProjectCreate,
                    resource_kind: ResourceType::SecretProject,
                    resource_id: Some(created.id.as_str()),
                    details: Some(json!({"name": created.name, "slug": created.slug})),
                },
            )
            .await?;
        Ok(created)
    }

    /// A project of the caller's tenant; another tenant's or an unknown one is not found.
    pub async fn project(&self, principal: &Principal, id: &SecretProjectId) -> Result<SecretProject> {
        principal.require(Access::Read)?;
        self.load_project(&principal.tenant_id, id).await
    }

    async fn load_project(&self, tenant: &TenantId, id: &SecretProjectId) -> Result<SecretProject> {
        let record = self
            .store
            .secret_project(tenant.as_str(), id.as_str())
            .await?
            .ok_or_else(project_not_found)?;
        let environments = self.store.secret_environments(&record.id).await?;
        Ok(project_row(record, environments)?)
    }

    /// A page of the tenant's projects by name, and how many there are.
    pub async fn projects(
        &self,
        principal: &Principal,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<SecretProject>, u64)> {
        principal.require(Access::Read)?;
        let (records, total) = self
            .store
            .list_secret_projects(principal.tenant_id.as_str(), offset, limit)
            .await?;
        let mut projects = Vec::with_capacity(records.len());
        for record in records {
            let environments = self.store.secret_environments(&record.id).await?;
            projects.push(project_row(record, environments)?);
        }
        Ok((projects, total))
    }

    /// Deletes a project with every environment, secret and version in it.
    pub async fn delete_project(&self, principal: &Principal, id: &SecretProjectId) -> Result<SecretProject> {
        principal.require(Access::Write)?;
        let project = self.load_project(&principal.tenant_id, id).await?;
        let mut folders = Vec::new();
        for environment in &project.environments {
            folders.extend(
                self.folders_of(&principal.tenant_id, environment)
                    .await?
                    .into_iter()
                    .map(|path| (environment.slug.clone(), path)),
            );
        }
        if !self
            .store
            .delete_secret_project(principal.tenant_id.as_str(), project.id.as_str())
            .await?
        {
            return Err(project_not_found());
        }
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::SecretProjectDelete,
                    resource_kind: ResourceType::SecretProject,
                    resource_id: Some(project.id.as_str()),
                    details: Some(json!({"name": project.name, "slug": project.slug})),
                },
            )
            .await?;
        for (environment, path) in folders {
            self.folder_changed(&principal.tenant_id, &project.id, &environment, &path)
                .await;
        }
        Ok(project)
    }

    /// The folders of an environment that hold secrets (the root at least).
    async fn folders_of(
        &self,
        tenant: &TenantId,
        environment: &SecretEnvironment,
    ) -> Result<Vec<SecretPath>> {
        let records = self
            .store
            .secrets_with_values(tenant.as_str(), environment.id.as_str(), "/", true)
            .await?;
        let mut paths: BTreeSet<String> = records.into_iter().map(|record| record.secret.path).collect();
        paths.insert("/".to_owned());
        Ok(paths.into_iter().map(SecretPath::from_stored).collect())
    }

    pub async fn create_environment(
        &self,
        principal: &Principal,
        project: &SecretProjectId,
        environment: NewEnvironment,
    ) -> Result<SecretEnvironment> {
        principal.require(Access::Write)?;
        let project = self.load_project(&principal.tenant_id, project).await?;
        let slug = EnvironmentSlug::parse(&environment.slug)?;
        let position = project
            .environments
            .iter()
            .map(|environment| environment.position + 1)
            .max()
            .unwrap_or(0);
        let record = SecretEnvironmentRecord {
            id: SecretEnvironmentId::generate().into(),
            project_id: project.id.to_string(),
            name: model::display_name("name", &environment.name)?,
            slug: slug.to_string(),
            position: signed32(position),
            created_at: ms(self.clock.now()),
        };
        match self.store.insert_secret_environment(&record).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => return Err(duplicate_environment(&slug)),
            Err(other) => return Err(other.into()),
        }
        let created = environment_row(record)?;
        self.audit_environment(
            principal,
            AuditAction::SecretEnvironmentCreate,
            &project,
            &created,
        )
        .await?;
        Ok(created)
    }

    pub async fn update_environment(
        &self,
        principal: &Principal,
        project: &SecretProjectId,
        environment_id: &str,
        change: EnvironmentChange,
    ) -> Result<SecretEnvironment> {
        principal.require(Access::Write)?;
        let project = self.load_project(&principal.tenant_id, project).await?;
        let current = project
            .environments
            .iter()
            .find(|environment| environment.id.as_str() == environment_id)
            .ok_or_else(environment_not_found)?;
        let slug = match &change.slug {
            Some(slug) => EnvironmentSlug::parse(slug)?,
            None => current.slug.clone(),
        };
        let name = match &change.name {
            Some(name) => model::display_name("name", name)?,
            None => current.name.clone(),
        };
        let position = change.position.unwrap_or(current.position);
        let record = SecretEnvironmentRecord {
            id: current.id.to_string(),
            project_id: project.id.to_string(),
            name,
            slug: slug.to_string(),
            position: signed32(position),
            created_at: 0,
        };
        match self
            .store
            .update_secret_environment(principal.tenant_id.as_str(), &record)
            .await
        {
            Ok(true) => {}
            Ok(false) => return Err(environment_not_found()),
            Err(StoreError::Conflict { .. }) => return Err(duplicate_environment(&slug)),
            Err(other) => return Err(other.into()),
        }
        let updated = environment_row(record)?;
        self.audit_environment(
            principal,
            AuditAction::SecretEnvironmentUpdate,
            &project,
            &updated,
        )
        .await?;
        Ok(updated)
    }

    /// Deletes an environment with every secret in it.
    pub async fn delete_environment(
        &self,
        principal: &Principal,
        project: &SecretProjectId,
        environment_id: &str,
    ) -> Result<SecretEnvironment> {
        principal.require(Access::Write)?;
        let project = self.load_project(&principal.tenant_id, project).await?;
        let environment = project
            .environments
            .iter()
            .find(|environment| environment.id.as_str() == environment_id)
            .ok_or_else(environment_not_found)?
            .clone();
        let folders = self.folders_of(&principal.tenant_id, &environment).await?;
        if !self
            .store
            .delete_secret_environment(
                principal.tenant_id.as_str(),
                project.id.as_str(),
                environment.id.as_str(),
            )
            .await?
        {
            return Err(environment_not_found());
        }
        self.audit_environment(
            principal,
            AuditAction::SecretEnvironmentDelete,
            &project,
            &environment,
        )
        .await?;
        for path in folders {
            self.folder_changed(&principal.tenant_id, &project.id, &environment.slug, &path)
                .await;
        }
        Ok(environment)
    }

    async fn audit_environment(
        &self,
        principal: &Principal,
        action: AuditAction,
        project: &SecretProject,
        environment: &SecretEnvironment,
    ) -> Result<()> {
        self.audit
            .record(
                principal,
                AuditEvent {
                    action,
                    resource_kind: ResourceType::SecretProject,
                    resource_id: Some(project.id.as_str()),
                    details: Some(json!({
                        "environmentId": environment.id,
                        "environment": environment.slug.as_str(),
                        "name": environment.name,
                    })),
                },
            )
            .await
    }

    // ---- reading secrets ----

    async fn place(&self, principal: &Principal, folder: &Folder) -> Result<Place> {
        let project = self.load_project(&principal.tenant_id, &folder.project).await?;
        let environment = project
            .environment(&folder.environment)
            .ok_or_else(environment_not_found)?
            .clone();
        Ok(Place {
            tenant: principal.tenant_id.clone(),
            project,
            environment,
            path: folder.path.clone(),
        })
    }

    /// Opens a stored secret's value and audits the read (folded).
    async fn open_secret(
        &self,
        principal: &Principal,
        place: &Place,
        stored: StoredSecret,
    ) -> Result<Secret> {
        let record = stored.record;
        let value = self
            .vault
            .open(&aad(&record.tenant_id, &stored.version_id), &stored.sealed)
            .await?;
        self.audit_read(principal, &record.id, AuditAction::SecretRead);
        Ok(Secret {
            id: SecretId::from_stored(record.id),
            project_id: place.project.id.clone(),
            environment: place.environment.slug.clone(),
            path: SecretPath::from_stored(record.path),
            key: SecretKey::from_stored(record.secret_key),
            value,
            comment: record.comment,
            tags: tags_row("secrets.tags", &record.tags)?,
            version: unsigned("secrets.version", record.version)?,
            created_at: time("secrets.created_at", record.created_at)?,
            updated_at: time("secrets.updated_at", record.updated_at)?,
        })
    }

    fn audit_read(&self, principal: &Principal, secret_id: &str, action: AuditAction) {
        self.audit.record_folded(
            principal,
            AuditEvent {
                action,
                resource_kind: ResourceType::Secret,
                resource_id: Some(secret_id),
                details: None,
            },
        );
    }

    /// The secrets of a folder (with `recursive`, of the folders below it too), ordered by path
    /// and key; with `tags`, only those carrying every one of them.
    pub async fn list(
        &self,
        principal: &Principal,
        folder: &Folder,
        recursive: bool,
        tags: &[TagSlug],
    ) -> Result<Vec<Secret>> {
        principal.require(Access::Read)?;
        let place = self.place(principal, folder).await?;
        let records = self
            .store
            .secrets_with_values(
                principal.tenant_id.as_str(),
                place.environment.id.as_str(),
                place.path.as_str(),
                recursive,
            )
            .await?;
        let mut records = records;
        // Byte order, the same on both backends whatever PostgreSQL's collation says.
        records.sort_by(|a, b| {
            (&a.secret.path, &a.secret.secret_key).cmp(&(&b.secret.path, &b.secret.secret_key))
        });
        let mut secrets = Vec::with_capacity(records.len());
        for record in records {
            if !tags.is_empty() {
                let carried = tags_row("secrets.tags", &record.secret.tags)?;
                if !tags.iter().all(|tag| carried.contains(tag)) {
                    continue;
                }
            }
            secrets.push(self.open_secret(principal, &place, record.into()).await?);
        }
        Ok(secrets)
    }

    /// Every current secret of one folder (not recursive), decrypted, ordered by key. Audited as
    /// reads (folded).
    pub async fn folder_values(
        &self,
        principal: &Principal,
        project: &SecretProjectId,
        environment: &EnvironmentSlug,
        path: &SecretPath,
    ) -> Result<Vec<FolderSecret>> {
        let folder = Folder {
            project: project.clone(),
            environment: environment.clone(),
            path: path.clone(),
        };
        Ok(self
            .list(principal, &folder, false, &[])
            .await?
            .into_iter()
            .map(|secret| FolderSecret {
                key: secret.key.to_string(),
                value: secret.value,
                comment: secret.comment,
                version: secret.version,
                updated_at: secret.updated_at,
            })
            .collect())
    }

    async fn stored(&self, place: &Place, key: &SecretKey) -> Result<Option<StoredSecret>> {
        Ok(self
            .store
            .secret_with_value(
                place.tenant.as_str(),
                place.environment.id.as_str(),
                place.path.as_str(),
                key.as_str(),
            )
            .await?
            .map(StoredSecret::from))
    }

    /// The current secrets of the place's folder by key: one query for a whole batch.
    async fn folder_secrets(&self, place: &Place) -> Result<HashMap<String, StoredSecret>> {
        Ok(self
            .store
            .secrets_with_values(
                place.tenant.as_str(),
                place.environment.id.as_str(),
                place.path.as_str(),
                false,
            )
            .await?
            .into_iter()
            .map(|record| (record.secret.secret_key.clone(), StoredSecret::from(record)))
            .collect())
    }

    /// One secret; with `version`, as it was at that version.
    pub async fn get(
        &self,
        principal: &Principal,
        folder: &Folder,
        key: &SecretKey,
        version: Option<u32>,
    ) -> Result<Secret> {
        principal.require(Access::Read)?;
        let place = self.place(principal, folder).await?;
        let stored = self.stored(&place, key).await?.ok_or_else(secret_not_found)?;
        let Some(version) = version else {
            return self.open_secret(principal, &place, stored).await;
        };
        let past = self.version_of(&place, &stored.record.id, version).await?;
        let sealed = past.sealed.ok_or_else(missing_value)?;
        let record = SecretRecord {
            secret_key: past.secret_key,
            comment: past.comment,
            tags: past.tags,
            version: past.version,
            updated_at: past.created_at,
            ..stored.record
        };
        self.open_secret(
            principal,
            &place,
            StoredSecret {
                record,
                version_id: past.id,
                sealed,
            },
        )
        .await
    }

    async fn version_of(&self, place: &Place, secret_id: &str, version: u32) -> Result<SecretVersionRecord> {
        self.store
            .secret_versions(place.tenant.as_str(), secret_id)
            .await?
            .into_iter()
            .find(|row| i64::from(row.version) == i64::from(version))
            .ok_or(CoreError::NotFound("secret version"))
    }

    /// Every version of a secret, newest first; values only with `include_values` (audited as
    /// reads of the history).
    pub async fn history(
        &self,
        principal: &Principal,
        folder: &Folder,
        key: &SecretKey,
        include_values: bool,
    ) -> Result<Vec<SecretVersion>> {
        principal.require(Access::Read)?;
        let place = self.place(principal, folder).await?;
        let stored = self.stored(&place, key).await?.ok_or_else(secret_not_found)?;
        let rows = self
            .store
            .secret_versions(principal.tenant_id.as_str(), &stored.record.id)
            .await?;
        if include_values {
            self.audit_read(principal, &stored.record.id, AuditAction::SecretHistoryRead);
        }
        let mut versions = Vec::with_capacity(rows.len());
        for row in rows {
            let value = match (&row.sealed, include_values) {
                (Some(sealed), true) => Some(self.vault.open(&aad(&row.tenant_id, &row.id), sealed).await?),
                (None, true) => return Err(missing_value()),
                _ => None,
            };
            versions.push(SecretVersion {
                version: unsigned("secret_versions.version", row.version)?,
                key: SecretKey::from_stored(row.secret_key),
                comment: row.comment,
                tags: tags_row("secret_versions.tags", &row.tags)?,
                actor: actor_row(&row.actor_kind, row.actor_id)?,
                created_at: time("secret_versions.created_at", row.created_at)?,
                value,
            });
        }
        Ok(versions)
    }

    // ---- writing secrets ----

    /// A new version row with `value` sealed under its own id.
    async fn seal_version(
        &self,
        principal: &Principal,
        secret: &SecretRecord,
        value: &SecretString,
    ) -> Result<NewSecretVersion> {
        let id = SecretVersionId::generate();
        let keys = self.vault.active_keys(&secret.tenant_id).await?;
        let sealed = keys.seal_str(&aad(&secret.tenant_id, id.as_str()), value);
        Ok(NewSecretVersion {
            id: id.into(),
            tenant_id: secret.tenant_id.clone(),
            secret_id: secret.id.clone(),
            version: secret.version,
            secret_key: secret.secret_key.clone(),
            comment: secret.comment.clone(),
            tags: secret.tags.clone(),
            actor_kind: principal.actor.kind().as_str().to_owned(),
            actor_id: principal.actor.id().map(str::to_owned),
            created_at: secret.updated_at,
            sealed,
            data_key_id: keys.data_key_fingerprint(),
        })
    }

    /// Applies a batch in one transaction, then tells the hooks (once: a batch is one folder).
    async fn commit(&self, place: &Place, writes: &[SecretWrite]) -> Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        match self.store.apply_secret_writes(writes).await {
            Ok(true) => {}
            Ok(false) => return Err(changed_meanwhile()),
            Err(StoreError::Conflict { .. }) => {
                return Err(CoreError::AlreadyExists(
                    "a secret with that key already exists in the folder".to_owned(),
                ));
            }
            Err(other) => return Err(other.into()),
        }
        self.folder_changed(
            &place.tenant,
            &place.project.id,
            &place.environment.slug,
            &place.path,
        )
        .await;
        Ok(())
    }

    async fn audit_write(
        &self,
        principal: &Principal,
        action: AuditAction,
        place: &Place,
        secret_id: &str,
        key: &SecretKey,
        version: u32,
    ) -> Result<()> {
        self.audit
            .record(
                principal,
                AuditEvent {
                    action,
                    resource_kind: ResourceType::Secret,
                    resource_id: Some(secret_id),
                    details: Some(place.audit_details(key, version)),
                },
            )
            .await
    }

    /// A create write for `new` in `place`.
    async fn create_write(
        &self,
        principal: &Principal,
        place: &Place,
        new: &NewSecret,
    ) -> Result<(SecretWrite, SecretRecord)> {
        model::check_value("secretValue", new.value.expose_secret())?;
        let comment = new.comment.clone().unwrap_or_default();
        model::check_comment(&comment)?;
        let now = ms(self.clock.now());
        let secret = SecretRecord {
            id: SecretId::generate().into(),
            tenant_id: place.tenant.to_string(),
            project_id: place.project.id.to_string(),
            environment_id: place.environment.id.to_string(),
            path: place.path.to_string(),
            secret_key: new.key.to_string(),
            comment,
            tags: to_json_list(new.tags.iter().flatten()),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let version = self.seal_version(principal, &secret, &new.value).await?;
        Ok((
            SecretWrite::Create {
                secret: secret.clone(),
                version,
            },
            secret,
        ))
    }

    /// An update write, or `None` when `change` changes nothing.
    async fn update_write(
        &self,
        principal: &Principal,
        stored: &StoredSecret,
        current_value: &SecretString,
        change: &SecretChange,
    ) -> Result<Option<(SecretWrite, SecretRecord)>> {
        if let Some(value) = &change.value {
            model::check_value("secretValue", value.expose_secret())?;
        }
        if let Some(comment) = &change.comment {
            model::check_comment(comment)?;
        }
        let current = &stored.record;
        let key = change.new_key.as_ref().unwrap_or(&change.key).to_string();
        let comment = change.comment.clone().unwrap_or_else(|| current.comment.clone());
        let tags = match &change.tags {
            Some(tags) => to_json_list(tags),
            None => current.tags.clone(),
        };
        let value = change.value.as_ref().unwrap_or(current_value);
        let unchanged = key == current.secret_key
            && comment == current.comment
            && tags == current.tags
            && value.expose_secret() == current_value.expose_secret();
        if unchanged {
            return Ok(None);
        }
        let secret = SecretRecord {
            secret_key: key,
            comment,
            tags,
            version: current.version + 1,
            updated_at: ms(self.clock.now()),
            ..current.clone()
        };
        let version = self.seal_version(principal, &secret, value).await?;
        Ok(Some((
            SecretWrite::Update {
                secret: secret.clone(),
                expected_version: current.version,
                version,
            },
            secret,
        )))
    }

    /// The secret a written row describes, with the value it was given.
    fn written(&self, place: &Place, record: SecretRecord, value: SecretString) -> Result<Secret> {
        Ok(Secret {
            id: SecretId::from_stored(record.id),
            project_id: place.project.id.clone(),
            environment: place.environment.slug.clone(),
            path: SecretPath::from_stored(record.path),
            key: SecretKey::from_stored(record.secret_key),
            value,
            comment: record.comment,
            tags: tags_row("secrets.tags", &record.tags)?,
            version: unsigned("secrets.version", record.version)?,
            created_at: time("secrets.created_at", record.created_at)?,
            updated_at: time("secrets.updated_at", record.updated_at)?,
        })
    }

    async fn open_stored(&self, stored: &StoredSecret) -> Result<SecretString> {
        self.vault
            .open(&aad(&stored.record.tenant_id, &stored.version_id), &stored.sealed)
            .await
    }

    /// Creates one secret; a key the folder has is refused (409).
    pub async fn create(&self, principal: &Principal, folder: &Folder, new: NewSecret) -> Result<Secret> {
        self.create_many(principal, folder, vec![new])
            .await?
            .into_iter()
            .next()
            .ok_or_else(secret_not_found)
    }

    /// Creates secrets, all or none; any key the folder has (or given twice) refuses the batch.
    pub async fn create_many(
        &self,
        principal: &Principal,
        folder: &Folder,
        secrets: Vec<NewSecret>,
    ) -> Result<Vec<Secret>> {
        principal.require(Access::Write)?;
        check_batch(secrets.iter().map(|new| &new.key))?;
        let place = self.place(principal, folder).await?;
        let existing = self.folder_secrets(&place).await?;
        let mut writes = Vec::with_capacity(secrets.len());
        let mut created = Vec::with_capacity(secrets.len());
        for new in &secrets {
            if existing.contains_key(new.key.as_str()) {
                return Err(CoreError::AlreadyExists(format!(
                    "a secret named {} already exists in {} of {}",
                    new.key, place.path, place.environment.slug
                )));
            }
            let (write, record) = self.create_write(principal, &place, new).await?;
            writes.push(write);
            created.push(record);
        }
        self.commit(&place, &writes).await?;
        let mut result = Vec::with_capacity(created.len());
        for (record, new) in created.into_iter().zip(secrets) {
            self.audit_write(
                principal,
                AuditAction::SecretCreate,
                &place,
                &record.id,
                &new.key,
                1,
            )
            .await?;
            result.push(self.written(&place, record, new.value)?);
        }
        Ok(result)
    }

    /// Changes one secret; a new version only when something differs.
    pub async fn update(
        &self,
        principal: &Principal,
        folder: &Folder,
        change: SecretChange,
    ) -> Result<Secret> {
        self.update_many(principal, folder, vec![change])
            .await?
            .into_iter()
            .next()
            .ok_or_else(secret_not_found)
    }

    /// Changes secrets, all or none; an unknown key refuses the batch.
    pub async fn update_many(
        &self,
        principal: &Principal,
        folder: &Folder,
        changes: Vec<SecretChange>,
    ) -> Result<Vec<Secret>> {
        principal.require(Access::Write)?;
        check_batch(changes.iter().map(|change| &change.key))?;
        let place = self.place(principal, folder).await?;
        let mut writes = Vec::new();
        let mut results: Vec<(SecretRecord, SecretString, bool)> = Vec::with_capacity(changes.len());
        let mut renamed_to: BTreeSet<&SecretKey> = BTreeSet::new();
        let existing = self.folder_secrets(&place).await?;
        for change in &changes {
            let stored = existing
                .get(change.key.as_str())
                .cloned()
                .ok_or_else(secret_not_found)?;
            if let Some(new_key) = change.new_key.as_ref().filter(|new_key| **new_key != change.key) {
                // Renames onto a key the folder has are refused even when that key is renamed
                // away in the same batch: the rows are written one after another.
                let taken = existing.contains_key(new_key.as_str());
                if taken || !renamed_to.insert(new_key) {
                    return Err(CoreError::AlreadyExists(format!(
                        "a secret named {new_key} already exists in {} of {}",
                        place.path, place.environment.slug
                    )));
                }
            }
            let current_value = self.open_stored(&stored).await?;
            match self
                .update_write(principal, &stored, &current_value, change)
                .await?
            {
                Some((write, record)) => {
                    let value = change.value.clone().unwrap_or(current_value);
                    writes.push(write);
                    results.push((record, value, true));
                }
                None => results.push((stored.record, current_value, false)),
            }
        }
        self.commit(&place, &writes).await?;
        let mut secrets = Vec::with_capacity(results.len());
        for (record, value, changed) in results {
            if changed {
                let key = SecretKey::from_stored(record.secret_key.clone());
                let version = unsigned("secrets.version", record.version)?;
                self.audit_write(
                    principal,
                    AuditAction::SecretUpdate,
                    &place,
                    &record.id,
                    &key,
                    version,
                )
                .await?;
            }
            secrets.push(self.written(&place, record, value)?);
        }
        Ok(secrets)
    }

    /// Deletes one secret with its history.
    pub async fn delete(&self, principal: &Principal, folder: &Folder, key: &SecretKey) -> Result<Secret> {
        self.delete_many(principal, folder, vec![key.clone()])
            .await?
            .into_iter()
            .next()
            .ok_or_else(secret_not_found)
    }

    /// Deletes secrets, all or none; an unknown key refuses the batch.
    pub async fn delete_many(
        &self,
        principal: &Principal,
        folder: &Folder,
        keys: Vec<SecretKey>,
    ) -> Result<Vec<Secret>> {
        principal.require(Access::Write)?;
        check_batch(keys.iter())?;
        let place = self.place(principal, folder).await?;
        let mut existing = self.folder_secrets(&place).await?;
        let mut writes = Vec::with_capacity(keys.len());
        let mut deleted = Vec::with_capacity(keys.len());
        for key in &keys {
            let stored = existing.remove(key.as_str()).ok_or_else(secret_not_found)?;
            let value = self.open_stored(&stored).await?;
            writes.push(SecretWrite::Delete {
                tenant_id: stored.record.tenant_id.clone(),
                secret_id: stored.record.id.clone(),
                expected_version: stored.record.version,
            });
            deleted.push((stored.record, value));
        }
        self.commit(&place, &writes).await?;
        let mut secrets = Vec::with_capacity(deleted.len());
        for (record, value) in deleted {
            let key = SecretKey::from_stored(record.secret_key.clone());
            let version = unsigned("secrets.version", record.version)?;
            self.audit_write(
                principal,
                AuditAction::SecretDelete,
                &place,
                &record.id,
                &key,
                version,
            )
            .await?;
            secrets.push(self.written(&place, record, value)?);
        }
        Ok(secrets)
    }

    /// Makes a secret's value, comment and tags those of `version` again, as a new version.
    pub async fn rollback(
        &self,
        principal: &Principal,
        folder: &Folder,
        key: &SecretKey,
        version: u32,
    ) -> Result<Secret> {
        principal.require(Access::Write)?;
        let place = self.place(principal, folder).await?;
        let stored = self.stored(&place, key).await?.ok_or_else(secret_not_found)?;
        let past = self.version_of(&place, &stored.record.id, version).await?;
        let sealed = past.sealed.as_ref().ok_or_else(missing_value)?;
        let value = self.vault.open(&aad(&past.tenant_id, &past.id), sealed).await?;
        let secret = SecretRecord {
            comment: past.comment.clone(),
            tags: past.tags.clone(),
            version: stored.record.version + 1,
            updated_at: ms(self.clock.now()),
            ..stored.record.clone()
        };
        let new_version = self.seal_version(principal, &secret, &value).await?;
        let write = SecretWrite::Update {
            secret: secret.clone(),
            expected_version: stored.record.version,
            version: new_version,
        };
        self.commit(&place, std::slice::from_ref(&write)).await?;
        let new_number: u32 = unsigned("secrets.version", secret.version)?;
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::SecretRollback,
                    resource_kind: ResourceType::Secret,
                    resource_id: Some(&secret.id),
                    details: Some(json!({
                        "projectId": place.project.id,
                        "environment": place.environment.slug.as_str(),
                        "secretPath": place.path.as_str(),
                        "secretKey": key.as_str(),
                        "version": new_number,
                        "restoredVersion": version,
                    })),
                },
            )
            .await?;
        self.written(&place, secret, value)
    }

    /// Writes the `KEY=value` pairs of a `.env` file into a folder (see
    /// [`Secrets::import_values`]). A malformed line refuses the whole file, naming the line.
    pub async fn import_dotenv(
        &self,
        principal: &Principal,
        folder: &Folder,
        content: &str,
        overwrite_existing: bool,
    ) -> Result<ImportSummary> {
        principal.require(Access::Write)?;
        let entries = dotenv::parse(content)?;
        let values = entries
            .into_iter()
            .map(|entry| ImportedSecret {
                key: entry.key.to_string(),
                value: entry.value,
                comment: None,
            })
            .collect();
        self.import_values(
            principal,
            &folder.project,
            &folder.environment,
            &folder.path,
            values,
            overwrite_existing,
        )
        .await
    }

    /// Writes values that come from elsewhere (a .env file, a GitLab import): absent keys are
    /// created; present keys are overwritten only when `overwrite_existing` and the value or
    /// comment differs (one new version each); an unchanged key makes no version. All or none.
    pub async fn import_values(
        &self,
        principal: &Principal,
        project: &SecretProjectId,
        environment: &EnvironmentSlug,
        path: &SecretPath,
        values: Vec<ImportedSecret>,
        overwrite_existing: bool,
    ) -> Result<ImportSummary> {
        principal.require(Access::Write)?;
        let keys = values
            .iter()
            .map(|value| SecretKey::parse(&value.key))
            .collect::<Result<Vec<_>>>()?;
        check_batch(keys.iter())?;
        let folder = Folder {
            project: project.clone(),
            environment: environment.clone(),
            path: path.clone(),
        };
        let place = self.place(principal, &folder).await?;
        let existing = self.folder_secrets(&place).await?;
        let mut summary = ImportSummary::default();
        let mut writes = Vec::new();
        for (key, imported) in keys.into_iter().zip(values) {
            let Some(stored) = existing.get(key.as_str()) else {
                let new = NewSecret {
                    key: key.clone(),
                    value: imported.value,
                    comment: imported.comment,
                    tags: None,
                };
                let (write, _) = self.create_write(principal, &place, &new).await?;
                writes.push(write);
                summary.created.push(key.to_string());
                continue;
            };
            if !overwrite_existing {
                summary.unchanged.push(key.to_string());
                continue;
            }
            let current_value = self.open_stored(stored).await?;
            let change = SecretChange {
                key: key.clone(),
                new_key: None,
                value: Some(imported.value),
                comment: imported.comment,
                tags: None,
            };
            match self
                .update_write(principal, stored, &current_value, &change)
                .await?
            {
                Some((write, _)) => {
                    writes.push(write);
                    summary.updated.push(key.to_string());
                }
                None => summary.unchanged.push(key.to_string()),
            }
        }
        self.commit(&place, &writes).await?;
        self.audit
            .record(
                principal,
                AuditEvent {
                    action: AuditAction::SecretImport,
                    resource_kind: ResourceType::SecretProject,
                    resource_id: Some(place.project.id.as_str()),
                    details: Some(json!({
                        "environment": place.environment.slug.as_str(),
                        "secretPath": place.path.as_str(),
                        "created": summary.created,
                        "updated": summary.updated,
                        "unchanged": summary.unchanged.len(),
                    })),
                },
            )
            .await?;
        Ok(summary)
    }
}

fn duplicate_environment(slug: &EnvironmentSlug) -> CoreError {
    CoreError::AlreadyExists(format!("the project already has an environment {slug}"))
}

fn missing_value() -> CoreError {
    CoreError::internal(StoreError::NotFound)
}

fn actor_row(kind: &str, id: Option<String>) -> Parsed<Actor> {
    let kind: labgate_proto::audit::ActorKind = text("secret_versions.actor_kind", kind)?;
    Ok(match (kind, id) {
        (labgate_proto::audit::ActorKind::ApiKey, Some(id)) => Actor::ApiKey { id },
        (labgate_proto::audit::ActorKind::User, Some(id)) => Actor::User { id },
        (labgate_proto::audit::ActorKind::Cli, _) => Actor::Cli,
        (labgate_proto::audit::ActorKind::System, _) => Actor::System,
        (kind, None) => {
            return Err(crate::StoredValueError {
                column: "secret_versions.actor_id",
                value: format!("no id for {kind}"),
            });
        }
    })
}

/// A batch names each key once and holds at most [`MAX_BATCH`] secrets.
fn check_batch<'a>(keys: impl Iterator<Item = &'a SecretKey>) -> Result<()> {
    let mut seen = BTreeSet::new();
    for key in keys {
        if !seen.insert(key) {
            return Err(CoreError::validation(
                "secrets",
                format!("the secret {key} is named twice in one request"),
            ));
        }
        if seen.len() > MAX_BATCH {
            return Err(CoreError::validation(
                "secrets",
                format!("one request writes at most {MAX_BATCH} secrets"),
            ));
        }
    }
    Ok(())
}
