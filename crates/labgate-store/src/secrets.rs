//! labgate's own secrets: projects, their environments, and the secrets of each folder with
//! their versions. A version's value is sealed in `vault_items` (owner table `secret_versions`,
//! the version's id, field `value`) and written in the same transaction as the version row.

use crate::{BeginWrite, Result, Store, on_pool, page};

/// The owner table of sealed secret values in `vault_items`.
pub const SECRET_VERSIONS_TABLE: &str = "secret_versions";
/// The field of a sealed secret value in `vault_items`.
pub const SECRET_VALUE_FIELD: &str = "value";

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SecretProjectRecord {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub slug: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SecretEnvironmentRecord {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub slug: String,
    pub position: i32,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SecretRecord {
    pub id: String,
    pub tenant_id: String,
    pub project_id: String,
    pub environment_id: String,
    pub path: String,
    pub secret_key: String,
    pub comment: String,
    /// JSON array of tag slugs.
    pub tags: String,
    pub version: i32,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A secret with the sealed value of its current version.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SecretValueRecord {
    #[sqlx(flatten)]
    pub secret: SecretRecord,
    /// The current version's id: the owner id its value is sealed under.
    pub version_id: String,
    pub sealed: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SecretVersionRecord {
    pub id: String,
    pub tenant_id: String,
    pub secret_id: String,
    pub version: i32,
    pub secret_key: String,
    pub comment: String,
    pub tags: String,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub created_at: i64,
    /// The version's sealed value; absent only if its vault item went missing.
    pub sealed: Option<Vec<u8>>,
}

/// A version to write, with its value sealed for (tenant, `secret_versions`, id, `value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSecretVersion {
    pub id: String,
    pub tenant_id: String,
    pub secret_id: String,
    pub version: i32,
    pub secret_key: String,
    pub comment: String,
    pub tags: String,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub created_at: i64,
    pub sealed: Vec<u8>,
    pub data_key_id: String,
}

/// One change of a batch that [`Store::apply_secret_writes`] applies entirely or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretWrite {
    Create {
        secret: SecretRecord,
        version: NewSecretVersion,
    },
    /// Applies only while the stored secret still has `expected_version`.
    Update {
        secret: SecretRecord,
        expected_version: i32,
        version: NewSecretVersion,
    },
    /// Deletes the secret, its versions and their sealed values, only while it still has
    /// `expected_version`.
    Delete {
        tenant_id: String,
        secret_id: String,
        expected_version: i32,
    },
}

const PROJECT_COLUMNS: &str = "id, tenant_id, name, slug, created_at, updated_at";
const ENVIRONMENT_COLUMNS: &str = "id, project_id, name, slug, position, created_at";
const SECRET_VALUE_COLUMNS: &str = "s.id, s.tenant_id, s.project_id, s.environment_id, s.path, s.secret_key, \
     s.comment, s.tags, s.version, s.created_at, s.updated_at, v.id AS version_id, i.sealed";
/// Secrets joined to their current version and its sealed value.
const SECRET_VALUE_FROM: &str = "secrets s JOIN secret_versions v ON v.secret_id = s.id AND v.version = s.version \
     JOIN vault_items i ON i.tenant_id = s.tenant_id AND i.owner_table = 'secret_versions' AND i.owner_id = v.id \
     AND i.field = 'value'";
const VERSION_COLUMNS: &str = "v.id, v.tenant_id, v.secret_id, v.version, v.secret_key, v.comment, v.tags, \
     v.actor_kind, v.actor_id, v.created_at, i.sealed";

const INSERT_SECRET: &str = "INSERT INTO secrets (id, tenant_id, project_id, environment_id, path, secret_key, comment, \
     tags, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
const UPDATE_SECRET: &str = "UPDATE secrets SET secret_key = $1, comment = $2, tags = $3, version = $4, \
     updated_at = $5 WHERE tenant_id = $6 AND id = $7 AND version = $8";
const INSERT_VERSION: &str = "INSERT INTO secret_versions (id, tenant_id, secret_id, version, secret_key, comment, \
     tags, actor_kind, actor_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
const INSERT_VERSION_VALUE: &str = "INSERT INTO vault_items (tenant_id, owner_table, owner_id, field, sealed, \
     data_key_id, updated_at) VALUES ($1, 'secret_versions', $2, 'value', $3, $4, $5)";
const DELETE_SECRET_VALUES: &str = "DELETE FROM vault_items WHERE tenant_id = $1 AND owner_table = 'secret_versions' \
     AND owner_id IN (SELECT id FROM secret_versions WHERE tenant_id = $1 AND secret_id = $2)";
const DELETE_SECRET: &str = "DELETE FROM secrets WHERE tenant_id = $1 AND id = $2 AND version = $3";

macro_rules! bind_environment_insert {
    ($query:expr, $env:expr) => {
        $query
            .bind(&$env.id)
            .bind(&$env.project_id)
            .bind(&$env.name)
            .bind(&$env.slug)
            .bind($env.position)
            .bind($env.created_at)
    };
}

const INSERT_ENVIRONMENT: &str = "INSERT INTO secret_environments (id, project_id, name, slug, position, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";

/// Writes one version row and its sealed value.
macro_rules! insert_version {
    ($tx:expr, $version:expr) => {{
        let version = $version;
        sqlx::query(INSERT_VERSION)
            .bind(&version.id)
            .bind(&version.tenant_id)
            .bind(&version.secret_id)
            .bind(version.version)
            .bind(&version.secret_key)
            .bind(&version.comment)
            .bind(&version.tags)
            .bind(&version.actor_kind)
            .bind(&version.actor_id)
            .bind(version.created_at)
            .execute(&mut *$tx)
            .await?;
        sqlx::query(INSERT_VERSION_VALUE)
            .bind(&version.tenant_id)
            .bind(&version.id)
            .bind(&version.sealed)
            .bind(&version.data_key_id)
            .bind(version.created_at)
            .execute(&mut *$tx)
            .await?;
    }};
}

impl Store {
    /// Inserts a project with its environments in one transaction; a taken slug is
    /// [`crate::StoreError::Conflict`] and nothing is written.
    pub async fn insert_secret_project(
        &self,
        project: &SecretProjectRecord,
        environments: &[SecretEnvironmentRecord],
    ) -> Result<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO secret_projects (id, tenant_id, name, slug, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&project.id)
            .bind(&project.tenant_id)
            .bind(&project.name)
            .bind(&project.slug)
            .bind(project.created_at)
            .bind(project.updated_at)
            .execute(&mut *tx)
            .await?;
            for environment in environments {
                bind_environment_insert!(sqlx::query(INSERT_ENVIRONMENT), environment)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn secret_project(&self, tenant_id: &str, id: &str) -> Result<Option<SecretProjectRecord>> {
        let sql = format!("SELECT {PROJECT_COLUMNS} FROM secret_projects WHERE tenant_id = $1 AND id = $2");
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, SecretProjectRecord>(&sql)
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(pool)
            .await?),
        )
    }

    /// A page of the tenant's projects by name, and how many there are.
    pub async fn list_secret_projects(
        &self,
        tenant_id: &str,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<SecretProjectRecord>, u64)> {
        page!(
            self,
            SecretProjectRecord,
            columns = PROJECT_COLUMNS,
            from = "secret_projects WHERE tenant_id = $1",
            order = "name, id",
            binds = [tenant_id],
            offset = offset,
            limit = limit
        )
    }

    /// Deletes a project with its environments, secrets, versions and sealed values; false when
    /// the tenant has no such project.
    pub async fn delete_secret_project(&self, tenant_id: &str, id: &str) -> Result<bool> {
        let deleted = on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "DELETE FROM vault_items WHERE tenant_id = $1 AND owner_table = 'secret_versions' AND owner_id IN \
                 (SELECT v.id FROM secret_versions v JOIN secrets s ON s.id = v.secret_id \
                  WHERE s.tenant_id = $1 AND s.project_id = $2)",
            )
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            let affected = sqlx::query("DELETE FROM secret_projects WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            affected == 1
        });
        Ok(deleted)
    }

    /// A project's environments in their order.
    pub async fn secret_environments(&self, project_id: &str) -> Result<Vec<SecretEnvironmentRecord>> {
        let sql = format!(
            "SELECT {ENVIRONMENT_COLUMNS} FROM secret_environments WHERE project_id = $1 ORDER BY position, slug"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, SecretEnvironmentRecord>(&sql)
            .bind(project_id)
            .fetch_all(pool)
            .await?),
        )
    }

    /// Adds an environment; a slug the project has is [`crate::StoreError::Conflict`].
    pub async fn insert_secret_environment(&self, environment: &SecretEnvironmentRecord) -> Result<()> {
        on_pool!(self, pool => bind_environment_insert!(sqlx::query(INSERT_ENVIRONMENT), environment)
            .execute(pool)
            .await
            .map(|_| ())?);
        Ok(())
    }

    /// Renames, re-slugs or moves an environment of a tenant's project; false when there is none.
    pub async fn update_secret_environment(
        &self,
        tenant_id: &str,
        environment: &SecretEnvironmentRecord,
    ) -> Result<bool> {
        let affected = on_pool!(self, pool => sqlx::query(
            "UPDATE secret_environments SET name = $1, slug = $2, position = $3 WHERE id = $4 AND project_id = $5 \
             AND project_id IN (SELECT id FROM secret_projects WHERE tenant_id = $6)",
        )
        .bind(&environment.name)
        .bind(&environment.slug)
        .bind(environment.position)
        .bind(&environment.id)
        .bind(&environment.project_id)
        .bind(tenant_id)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(affected == 1)
    }

    /// Deletes an environment with its secrets, versions and sealed values; false when the
    /// tenant's project has no such environment.
    pub async fn delete_secret_environment(
        &self,
        tenant_id: &str,
        project_id: &str,
        environment_id: &str,
    ) -> Result<bool> {
        let deleted = on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "DELETE FROM vault_items WHERE tenant_id = $1 AND owner_table = 'secret_versions' AND owner_id IN \
                 (SELECT v.id FROM secret_versions v JOIN secrets s ON s.id = v.secret_id \
                  WHERE s.tenant_id = $1 AND s.project_id = $2 AND s.environment_id = $3)",
            )
            .bind(tenant_id)
            .bind(project_id)
            .bind(environment_id)
            .execute(&mut *tx)
            .await?;
            let affected = sqlx::query(
                "DELETE FROM secret_environments WHERE id = $1 AND project_id = $2 \
                 AND project_id IN (SELECT id FROM secret_projects WHERE tenant_id = $3)",
            )
            .bind(environment_id)
            .bind(project_id)
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            affected == 1
        });
        Ok(deleted)
    }

    /// The current secrets of one folder (`path`), or with `recursive` of the folder and every
    /// folder below it, with their sealed values, ordered by path and key.
    pub async fn secrets_with_values(
        &self,
        tenant_id: &str,
        environment_id: &str,
        path: &str,
        recursive: bool,
    ) -> Result<Vec<SecretValueRecord>> {
        let base = format!(
            "SELECT {SECRET_VALUE_COLUMNS} FROM {SECRET_VALUE_FROM} WHERE s.tenant_id = $1 AND s.environment_id = $2"
        );
        let records = if !recursive {
            let sql = format!("{base} AND s.path = $3 ORDER BY s.path, s.secret_key");
            on_pool!(self, pool => sqlx::query_as::<_, SecretValueRecord>(&sql)
                .bind(tenant_id)
                .bind(environment_id)
                .bind(path)
                .fetch_all(pool)
                .await?)
        } else if path == "/" {
            let sql = format!("{base} ORDER BY s.path, s.secret_key");
            on_pool!(self, pool => sqlx::query_as::<_, SecretValueRecord>(&sql)
                .bind(tenant_id)
                .bind(environment_id)
                .fetch_all(pool)
                .await?)
        } else {
            // A prefix compared with substr: LIKE would read `_` in a path as a wildcard.
            let prefix = format!("{path}/");
            let length = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
            let sql = format!(
                "{base} AND (s.path = $3 OR substr(s.path, 1, $4) = $5) ORDER BY s.path, s.secret_key"
            );
            on_pool!(self, pool => sqlx::query_as::<_, SecretValueRecord>(&sql)
                .bind(tenant_id)
                .bind(environment_id)
                .bind(path)
                .bind(length)
                .bind(&prefix)
                .fetch_all(pool)
                .await?)
        };
        Ok(records)
    }

    /// One current secret of a folder with its sealed value.
    pub async fn secret_with_value(
        &self,
        tenant_id: &str,
        environment_id: &str,
        path: &str,
        key: &str,
    ) -> Result<Option<SecretValueRecord>> {
        let sql = format!(
            "SELECT {SECRET_VALUE_COLUMNS} FROM {SECRET_VALUE_FROM} WHERE s.tenant_id = $1 AND s.environment_id = $2 \
             AND s.path = $3 AND s.secret_key = $4"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, SecretValueRecord>(&sql)
            .bind(tenant_id)
            .bind(environment_id)
            .bind(path)
            .bind(key)
            .fetch_optional(pool)
            .await?),
        )
    }

    /// Every version of a secret, newest first, with their sealed values.
    pub async fn secret_versions(
        &self,
        tenant_id: &str,
        secret_id: &str,
    ) -> Result<Vec<SecretVersionRecord>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM secret_versions v LEFT JOIN vault_items i ON i.tenant_id = v.tenant_id \
             AND i.owner_table = 'secret_versions' AND i.owner_id = v.id AND i.field = 'value' \
             WHERE v.tenant_id = $1 AND v.secret_id = $2 ORDER BY v.version DESC"
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, SecretVersionRecord>(&sql)
            .bind(tenant_id)
            .bind(secret_id)
            .fetch_all(pool)
            .await?),
        )
    }

    /// Applies every write in one transaction. A taken key is [`crate::StoreError::Conflict`];
    /// `false` when an update or delete found its secret changed or gone meanwhile. Either way
    /// nothing is written.
    pub async fn apply_secret_writes(&self, writes: &[SecretWrite]) -> Result<bool> {
        let applied = on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let mut applied = true;
            for write in writes {
                match write {
                    SecretWrite::Create { secret, version } => {
                        sqlx::query(INSERT_SECRET)
                            .bind(&secret.id)
                            .bind(&secret.tenant_id)
                            .bind(&secret.project_id)
                            .bind(&secret.environment_id)
                            .bind(&secret.path)
                            .bind(&secret.secret_key)
                            .bind(&secret.comment)
                            .bind(&secret.tags)
                            .bind(secret.version)
                            .bind(secret.created_at)
                            .bind(secret.updated_at)
                            .execute(&mut *tx)
                            .await?;
                        insert_version!(tx, version);
                    }
                    SecretWrite::Update { secret, expected_version, version } => {
                        let affected = sqlx::query(UPDATE_SECRET)
                            .bind(&secret.secret_key)
                            .bind(&secret.comment)
                            .bind(&secret.tags)
                            .bind(secret.version)
                            .bind(secret.updated_at)
                            .bind(&secret.tenant_id)
                            .bind(&secret.id)
                            .bind(*expected_version)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        if affected != 1 {
                            applied = false;
                            break;
                        }
                        insert_version!(tx, version);
                    }
                    SecretWrite::Delete { tenant_id, secret_id, expected_version } => {
                        sqlx::query(DELETE_SECRET_VALUES)
                            .bind(tenant_id)
                            .bind(secret_id)
                            .execute(&mut *tx)
                            .await?;
                        let affected = sqlx::query(DELETE_SECRET)
                            .bind(tenant_id)
                            .bind(secret_id)
                            .bind(*expected_version)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        if affected != 1 {
                            applied = false;
                            break;
                        }
                    }
                }
            }
            if applied {
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            applied
        });
        Ok(applied)
    }
}
