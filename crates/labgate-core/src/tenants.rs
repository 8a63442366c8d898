//! Tenants: the isolation boundary for keys and data.

use std::sync::Arc;

use labgate_proto::audit::{AuditAction, ResourceType};
use labgate_proto::tenants::TenantView;
use labgate_store::{NewTenant, NewTenantKeys, Store, StoreError, TenantRecord};
use time::OffsetDateTime;

use crate::audit::{AuditEvent, AuditLog};
use crate::auth::Actor;
use crate::clock::Clock;
use crate::ids::TenantId;
use crate::rows::{Parsed, StoredValueError, ms, time};
use crate::timefmt::format_time;
use crate::vault::Vault;
use crate::{CoreError, Result};

pub const DEFAULT_TENANT: &str = "default";

/// A tenant: the isolation boundary of keys and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    /// A slug, unique.
    pub name: String,
    pub created_at: OffsetDateTime,
}

impl TryFrom<TenantRecord> for Tenant {
    type Error = StoredValueError;

    fn try_from(row: TenantRecord) -> Parsed<Tenant> {
        Ok(Tenant {
            id: TenantId::from_stored(row.id),
            created_at: time("tenants.created_at", row.created_at)?,
            name: row.name,
        })
    }
}

fn parsed(row: Option<TenantRecord>) -> Result<Option<Tenant>> {
    Ok(row.map(Tenant::try_from).transpose()?)
}

#[derive(Clone)]
pub struct Tenants {
    store: Store,
    vault: Arc<Vault>,
    clock: Arc<dyn Clock>,
    audit: AuditLog,
}

/// Tenant names are slugs: they appear in URLs, logs and CLI arguments.
pub fn validate_tenant_name(name: &str) -> Result<()> {
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(CoreError::validation(
            "name",
            "a tenant name is 1-64 characters of lowercase letters, digits and inner hyphens",
        ))
    }
}

impl Tenants {
    pub(crate) fn new(store: Store, vault: Arc<Vault>, clock: Arc<dyn Clock>, audit: AuditLog) -> Tenants {
        Tenants {
            store,
            vault,
            clock,
            audit,
        }
    }

    pub async fn create(&self, name: &str, actor: &Actor) -> Result<Tenant> {
        validate_tenant_name(name)?;
        let id = TenantId::generate();
        let (keys, wrapped, root_key_id) = self.vault.new_tenant_keys(id.as_str())?;
        let data_key_id = keys.data_key_fingerprint();
        let record = self
            .store
            .insert_tenant(&NewTenant {
                id: id.as_str(),
                name,
                keys: NewTenantKeys {
                    id: &data_key_id,
                    wrapped_data_key: &wrapped.data_key,
                    wrapped_hash_key: &wrapped.hash_key,
                    root_key_id: &root_key_id,
                },
                now: ms(self.clock.now()),
            })
            .await
            .map_err(|error| match error {
                StoreError::Conflict { .. } => {
                    CoreError::Conflict(format!("a tenant named {name} already exists"))
                }
                other => other.into(),
            })?;
        let tenant = Tenant::try_from(record)?;
        self.vault.remember(id.as_str(), keys);
        self.audit
            .record_as(
                Some(&id),
                actor,
                None,
                AuditEvent {
                    action: AuditAction::TenantCreate,
                    resource_kind: ResourceType::Tenant,
                    resource_id: Some(id.as_str()),
                    details: None,
                },
            )
            .await?;
        Ok(tenant)
    }

    /// The tenant named `name`, created when missing. Returns whether it was created. Several
    /// replicas starting at once may race here; the unique name settles it.
    pub async fn ensure(&self, name: &str, actor: &Actor) -> Result<(Tenant, bool)> {
        if let Some(existing) = parsed(self.store.tenant_by_name(name).await?)? {
            return Ok((existing, false));
        }
        match self.create(name, actor).await {
            Ok(created) => Ok((created, true)),
            Err(CoreError::Conflict(_)) => {
                let existing =
                    parsed(self.store.tenant_by_name(name).await?)?.ok_or(CoreError::NotFound("tenant"))?;
                Ok((existing, false))
            }
            Err(other) => Err(other),
        }
    }

    pub async fn by_name(&self, name: &str) -> Result<Tenant> {
        parsed(self.store.tenant_by_name(name).await?)?.ok_or(CoreError::NotFound("tenant"))
    }

    /// A tenant by id or, failing that, by name (the CLI accepts both).
    pub async fn find(&self, id_or_name: &str) -> Result<Tenant> {
        if let Some(tenant) = parsed(self.store.tenant_by_id(id_or_name).await?)? {
            return Ok(tenant);
        }
        self.by_name(id_or_name).await
    }

    pub async fn list(&self) -> Result<Vec<TenantView>> {
        let mut views = Vec::new();
        for row in self.store.list_tenants().await? {
            let tenant = Tenant::try_from(row)?;
            // The active generation is the one new values are sealed with.
            let root_key_id = self
                .store
                .active_tenant_keys(tenant.id.as_str())
                .await?
                .map(|key| key.root_key_id)
                .unwrap_or_default();
            views.push(TenantView {
                id: tenant.id.into(),
                name: tenant.name,
                root_key_id,
                created_at: format_time(tenant.created_at),
            });
        }
        Ok(views)
    }
}
