//! A secret sync as the domain sees it: typed values, parsed once from the stored row.

use labgate_proto::secret_syncs::{
    GitLabDestinationConfig, InitialSyncBehavior, SyncOptions, SyncScope, SyncStatus, VariableType,
};
use labgate_store::SecretSyncRecord;
use time::OffsetDateTime;

use super::planner::{MAX_KEY_LENGTH, VariableFlags};
use crate::ids::{ConnectionId, JobId, SecretProjectId, SecretSyncId, TenantId};
use crate::rows::{Parsed, StoredValueError, flag, opt_text, opt_time, time, unsigned};
use crate::secrets::{EnvironmentSlug, SecretPath};
use crate::{CoreError, Result};

/// The placeholder a key schema must contain.
pub const SECRET_KEY_PLACEHOLDER: &str = "{{secretKey}}";

/// A template of variable keys: literal text around `{{secretKey}}` (once), e.g. `APP_{{secretKey}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySchema {
    prefix: String,
    suffix: String,
}

impl KeySchema {
    pub fn parse(template: &str) -> Result<KeySchema> {
        let invalid = |message: &str| CoreError::validation("syncOptions.keySchema", message.to_owned());
        let Some((prefix, suffix)) = template.split_once(SECRET_KEY_PLACEHOLDER) else {
            return Err(invalid("the key schema must contain {{secretKey}}"));
        };
        if suffix.contains(SECRET_KEY_PLACEHOLDER) {
            return Err(invalid("the key schema may contain {{secretKey}} only once"));
        }
        let literal = format!("{prefix}{suffix}");
        if literal.contains("{{") || literal.contains("}}") {
            return Err(invalid(
                "the key schema knows no placeholder other than {{secretKey}}",
            ));
        }
        if !literal.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(invalid(
                "around {{secretKey}}, the key schema may hold only letters, digits and '_', as GitLab keys do",
            ));
        }
        if literal.len() >= MAX_KEY_LENGTH {
            return Err(invalid(
                "the key schema leaves no room for the key within GitLab's 255 characters",
            ));
        }
        Ok(KeySchema {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        })
    }

    /// The variable key of a secret.
    pub fn apply(&self, secret_key: &str) -> String {
        format!("{}{secret_key}{}", self.prefix, self.suffix)
    }

    /// The secret key a variable key was made from, if it fits the schema.
    pub fn extract<'a>(&self, variable_key: &'a str) -> Option<&'a str> {
        let rest = variable_key.strip_prefix(self.prefix.as_str())?;
        let key = rest.strip_suffix(self.suffix.as_str())?;
        (!key.is_empty()).then_some(key)
    }

    pub fn matches(&self, variable_key: &str) -> bool {
        self.extract(variable_key).is_some()
    }
}

/// Where a sync writes, resolved at GitLab when it was created or changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub scope: SyncScope,
    /// The project's or group's id or path, as given.
    pub target: String,
    pub environment_scope: String,
}

/// The state of one of a sync's activities (sync, import, remove).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityState {
    pub status: Option<SyncStatus>,
    pub job_id: Option<JobId>,
    pub message: Option<String>,
    pub finished_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSync {
    pub id: SecretSyncId,
    pub tenant_id: TenantId,
    pub project_id: SecretProjectId,
    pub name: String,
    pub description: Option<String>,
    pub connection_id: ConnectionId,
    pub environment: EnvironmentSlug,
    pub secret_path: SecretPath,
    pub auto_sync: bool,
    pub destination_config: GitLabDestinationConfig,
    pub options: SyncOptions,
    pub key_schema: Option<KeySchema>,
    /// The instance and numeric project or group id: syncs with the same key share a destination.
    pub destination_key: String,
    pub sync: ActivityState,
    pub import: ActivityState,
    pub remove: ActivityState,
    pub version: u32,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl SecretSync {
    pub fn destination(&self) -> Destination {
        let config = &self.destination_config;
        let target = match config.scope {
            SyncScope::Project => config.project_id.clone(),
            SyncScope::Group => config.group_id.clone(),
        };
        Destination {
            scope: config.scope,
            target: target.unwrap_or_default(),
            environment_scope: environment_scope(config),
        }
    }

    /// The flags every variable this sync writes gets.
    pub fn flags(&self) -> VariableFlags {
        flags(&self.destination_config)
    }

    /// Whether the first sync imports GitLab's variables before writing.
    pub fn imports_first(&self) -> bool {
        self.options.initial_sync_behavior != InitialSyncBehavior::OverwriteDestination
    }
}

pub fn environment_scope(config: &GitLabDestinationConfig) -> String {
    config
        .target_environment
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("*")
        .to_owned()
}

pub fn flags(config: &GitLabDestinationConfig) -> VariableFlags {
    VariableFlags {
        protected: config.should_protect_secrets,
        // GitLab hides only masked variables.
        masked: config.should_mask_secrets || config.should_hide_secrets,
        hidden: config.should_hide_secrets,
        raw: !config.expand_variables,
        variable_type: config.variable_type.unwrap_or(VariableType::EnvVar),
        description: config.description.clone().filter(|d| !d.is_empty()),
    }
}

fn json<T: serde::de::DeserializeOwned>(column: &'static str, text: &str) -> Parsed<T> {
    serde_json::from_str(text).map_err(|_| StoredValueError {
        column,
        value: "(not a valid JSON document)".to_owned(),
    })
}

fn activity(
    columns: [&'static str; 2],
    status: Option<&str>,
    job_id: Option<String>,
    message: Option<String>,
    at: Option<i64>,
) -> Parsed<ActivityState> {
    Ok(ActivityState {
        status: opt_text(columns[0], status)?,
        job_id: job_id.map(JobId::from_stored),
        message,
        finished_at: opt_time(columns[1], at)?,
    })
}

impl TryFrom<SecretSyncRecord> for SecretSync {
    type Error = StoredValueError;

    fn try_from(row: SecretSyncRecord) -> Parsed<SecretSync> {
        let options: SyncOptions = json("secret_syncs.sync_options", &row.sync_options)?;
        let key_schema = options
            .key_schema
            .as_deref()
            .map(|schema| {
                KeySchema::parse(schema).map_err(|_| StoredValueError {
                    column: "secret_syncs.sync_options",
                    value: schema.to_owned(),
                })
            })
            .transpose()?;
        let invalid = |column: &'static str, value: &str| StoredValueError {
            column,
            value: value.to_owned(),
        };
        Ok(SecretSync {
            id: SecretSyncId::from_stored(row.id),
            tenant_id: TenantId::from_stored(row.tenant_id),
            project_id: SecretProjectId::from_stored(row.project_id),
            name: row.name,
            description: row.description,
            connection_id: ConnectionId::from_stored(row.connection_id),
            environment: EnvironmentSlug::parse(&row.environment)
                .map_err(|_| invalid("secret_syncs.environment", &row.environment))?,
            secret_path: SecretPath::parse(&row.secret_path)
                .map_err(|_| invalid("secret_syncs.secret_path", &row.secret_path))?,
            auto_sync: flag("secret_syncs.is_auto_sync_enabled", row.is_auto_sync_enabled)?,
            destination_config: json("secret_syncs.destination_config", &row.destination_config)?,
            options,
            key_schema,
            destination_key: row.destination_key,
            sync: activity(
                ["secret_syncs.sync_status", "secret_syncs.last_synced_at"],
                row.sync_status.as_deref(),
                row.last_sync_job_id,
                row.last_sync_message,
                row.last_synced_at,
            )?,
            import: activity(
                ["secret_syncs.import_status", "secret_syncs.last_imported_at"],
                row.import_status.as_deref(),
                row.last_import_job_id,
                row.last_import_message,
                row.last_imported_at,
            )?,
            remove: activity(
                ["secret_syncs.remove_status", "secret_syncs.last_removed_at"],
                row.remove_status.as_deref(),
                row.last_remove_job_id,
                row.last_remove_message,
                row.last_removed_at,
            )?,
            version: unsigned("secret_syncs.version", row.version)?,
            created_at: time("secret_syncs.created_at", row.created_at)?,
            updated_at: time("secret_syncs.updated_at", row.updated_at)?,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn key_schemas_apply_and_extract() {
        let schema = KeySchema::parse("APP_{{secretKey}}_V1").unwrap();
        assert_eq!(schema.apply("DB"), "APP_DB_V1");
        assert_eq!(schema.extract("APP_DB_V1"), Some("DB"));
        assert_eq!(schema.extract("APP__V1"), None);
        assert_eq!(schema.extract("OTHER"), None);
        for bad in [
            "APP_",
            "{{secretKey}}{{secretKey}}",
            "A-{{secretKey}}",
            "{{env}}{{secretKey}}",
        ] {
            assert!(KeySchema::parse(bad).is_err(), "{bad}");
        }
    }
}
