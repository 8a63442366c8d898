//! Tenants: the isolation boundary for keys and data.

use std::sync::Arc;

use labgate_proto::tenants::TenantView;
use labgate_store::{NewTenant, NewTenantKeys, Store, TenantRecord};

use crate::audit::{AuditEvent, AuditLog};
use crate::auth::Actor;
use crate::clock::Clock;
use crate::ids::new_id;
use crate::timefmt::to_rfc3339;
use crate::vault::Vault;
use crate::{CoreError, Result};

pub const DEFAULT_TENANT: &str = "default";

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
    pub fn new(store: Store, vault: Arc<Vault>, clock: Arc<dyn Clock>, audit: AuditLog) -> Tenants {
        Tenants {
            store,
            vault,
            clock,
            audit,
        }
    }

    pub async fn create(&self, name: &str, actor: &Actor) -> Result<TenantRecord> {
        validate_tenant_name(name)?;
        let id = new_id();
        let (keys, wrapped, root_key_id) = self.vault.new_tenant_keys(&id)?;
        let data_key_id = keys.data_key_fingerprint();
        let record = self
            .store
            .insert_tenant(&NewTenant {
                id: &id,
                name,
                keys: NewTenantKeys {
                    id: &data_key_id,
                    wrapped_data_key: &wrapped.data_key,
                    wrapped_hash_key: &wrapped.hash_key,
                    root_key_id: &root_key_id,
                },
                now: self.clock.now_ms(),
            })
            .await
            .map_err(|error| match error {
                labgate_store::StoreError::Conflict { .. } => {
                    CoreError::Conflict(format!("a tenant named {name} already exists"))
                }
                other => other.into(),
            })?;
        self.vault.remember(&id, keys);
        self.audit
            .record_as(
                Some(&id),
                actor,
                None,
                AuditEvent {
                    action: "tenant.create",
                    resource_kind: "tenant",
                    resource_id: Some(&id),
                    details: None,
                },
            )
            .await?;
        Ok(record)
    }

    /// The tenant named `name`, created when missing. Returns whether it was created. Several
    /// replicas starting at once may race here; the unique name settles it.
    pub async fn ensure(&self, name: &str, actor: &Actor) -> Result<(TenantRecord, bool)> {
        if let Some(existing) = self.store.tenant_by_name(name).await? {
            return Ok((existing, false));
        }
        match self.create(name, actor).await {
            Ok(created) => Ok((created, true)),
            Err(CoreError::Conflict(_)) => {
                let existing = self
                    .store
                    .tenant_by_name(name)
                    .await?
                    .ok_or(CoreError::NotFound("tenant"))?;
                Ok((existing, false))
            }
            Err(other) => Err(other),
        }
    }

    pub async fn by_name(&self, name: &str) -> Result<TenantRecord> {
        self.store
            .tenant_by_name(name)
            .await?
            .ok_or(CoreError::NotFound("tenant"))
    }

    /// A tenant by id or, failing that, by name (the CLI accepts both).
    pub async fn find(&self, id_or_name: &str) -> Result<TenantRecord> {
        if let Some(tenant) = self.store.tenant_by_id(id_or_name).await? {
            return Ok(tenant);
        }
        self.by_name(id_or_name).await
    }

    pub async fn list(&self) -> Result<Vec<TenantView>> {
        let records = self.store.list_tenants().await?;
        let keys = self.store.all_tenant_keys().await?;
        Ok(records
            .into_iter()
            .map(|tenant| {
                let root_key_id = keys
                    .iter()
                    .find(|key| key.tenant_id == tenant.id && key.state == "active")
                    .map(|key| key.root_key_id.clone())
                    .unwrap_or_default();
                TenantView {
                    id: tenant.id,
                    name: tenant.name,
                    root_key_id,
                    created_at: to_rfc3339(tenant.created_at),
                }
            })
            .collect())
    }
}
