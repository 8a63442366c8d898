//! Connection rows to and from the domain model.

use labgate_gitlab::AccessLevel;
use labgate_store::{ConnectionEventRecord, ConnectionRecord, JournalRecord};

use super::model::{
    Connection, ConnectionEvent, ExternalLabels, GitLabIdentity, GitLabResource, JournalEntry,
    OAuthTokenHashes,
};
use crate::ids::{ConnectionEventId, ConnectionId, InstanceId, JobId, JournalId, TenantId};
use crate::rows::{
    Parsed, flag, json_list, ms, opt_flag, opt_ms, opt_text, opt_time, opt_unsigned, signed, signed32, text,
    time, to_json_list, unsigned,
};

impl TryFrom<ConnectionRecord> for Connection {
    type Error = crate::rows::StoredValueError;

    fn try_from(row: ConnectionRecord) -> Parsed<Connection> {
        let resource = match (row.resource_kind.as_deref(), row.resource_id) {
            (Some(kind), Some(id)) => Some(GitLabResource {
                kind: text("app_connections.resource_kind", kind)?,
                id: unsigned("app_connections.resource_id", id)?,
                full_path: row.resource_path,
            }),
            _ => None,
        };
        Ok(Connection {
            id: ConnectionId::from_stored(row.id),
            tenant_id: TenantId::from_stored(row.tenant_id),
            app: text("app_connections.app", &row.app)?,
            method: text("app_connections.method", &row.method)?,
            token_type: opt_text(
                "app_connections.access_token_type",
                row.access_token_type.as_deref(),
            )?,
            status: text("app_connections.status", &row.status)?,
            scopes: json_list::<String>("app_connections.scopes", &row.scopes)?
                .into_iter()
                .collect(),
            expires_at: opt_time("app_connections.expires_at", row.expires_at)?,
            token_id: opt_unsigned("app_connections.token_id", row.token_id)?,
            gitlab_user: GitLabIdentity {
                user_id: opt_unsigned("app_connections.gitlab_user_id", row.gitlab_user_id)?,
                username: row.gitlab_username,
                bot: opt_flag("app_connections.gitlab_bot", row.gitlab_bot)?,
            },
            resource,
            access_level: opt_unsigned::<u8>("app_connections.access_level", row.access_level)?
                .map(AccessLevel),
            usages: json_list("app_connections.usages", &row.usages)?,
            auto_rotate: flag("app_connections.auto_rotate", row.auto_rotate)?,
            rotate_before_days: unsigned("app_connections.rotate_before_days", row.rotate_before_days)?,
            consecutive_failures: unsigned("app_connections.consecutive_failures", row.consecutive_failures)?,
            refresh_generation: unsigned("app_connections.refresh_generation", row.refresh_generation)?,
            version: unsigned("app_connections.version", row.version)?,
            last_checked_at: opt_time("app_connections.last_checked_at", row.last_checked_at)?,
            last_rotated_at: opt_time("app_connections.last_rotated_at", row.last_rotated_at)?,
            instance_id: row.instance_id.map(InstanceId::from_stored),
            external: match (row.external_tenant_id, row.external_user_id) {
                (Some(tenant_id), Some(user_id)) => Some(ExternalLabels { tenant_id, user_id }),
                _ => None,
            },
            token_issued_at: opt_time("app_connections.token_issued_at", row.token_issued_at)?,
            next_refresh_at: opt_time("app_connections.next_refresh_at", row.next_refresh_at)?,
            last_used_at: opt_time("app_connections.last_used_at", row.last_used_at)?,
            created_at: time("app_connections.created_at", row.created_at)?,
            updated_at: time("app_connections.updated_at", row.updated_at)?,
            token_hashes: match (row.access_token_hash, row.refresh_token_hash) {
                (Some(access_token), Some(refresh_token)) => Some(OAuthTokenHashes {
                    access_token,
                    refresh_token,
                }),
                _ => None,
            },
            name: row.name,
            description: row.description,
            instance_url: row.instance_url,
            project_id: row.project_id,
            credentials_hash: row.credentials_hash,
            status_reason: row.status_reason,
            token_name: row.token_name,
        })
    }
}

pub(crate) fn connection_row(connection: &Connection) -> ConnectionRecord {
    let resource = connection.resource.as_ref();
    ConnectionRecord {
        id: connection.id.to_string(),
        tenant_id: connection.tenant_id.to_string(),
        name: connection.name.clone(),
        description: connection.description.clone(),
        app: connection.app.as_str().to_owned(),
        method: connection.method.as_str().to_owned(),
        access_token_type: connection.token_type.map(|kind| kind.as_str().to_owned()),
        instance_url: connection.instance_url.clone(),
        project_id: connection.project_id.clone(),
        credentials_hash: connection.credentials_hash.clone(),
        status: connection.status.as_str().to_owned(),
        status_reason: connection.status_reason.clone(),
        scopes: to_json_list(connection.scopes.iter()),
        expires_at: opt_ms(connection.expires_at),
        token_name: connection.token_name.clone(),
        token_id: connection.token_id.map(signed),
        gitlab_user_id: connection.gitlab_user.user_id.map(signed),
        gitlab_username: connection.gitlab_user.username.clone(),
        gitlab_bot: connection.gitlab_user.bot.map(i32::from),
        resource_kind: resource.map(|resource| resource.kind.as_str().to_owned()),
        resource_id: resource.map(|resource| signed(resource.id)),
        resource_path: resource.and_then(|resource| resource.full_path.clone()),
        access_level: connection.access_level.map(|level| i32::from(level.0)),
        usages: to_json_list(&connection.usages),
        auto_rotate: i32::from(connection.auto_rotate),
        rotate_before_days: signed32(connection.rotate_before_days),
        consecutive_failures: signed32(connection.consecutive_failures),
        refresh_generation: signed(connection.refresh_generation),
        version: signed32(connection.version),
        last_checked_at: opt_ms(connection.last_checked_at),
        last_rotated_at: opt_ms(connection.last_rotated_at),
        instance_id: connection.instance_id.as_ref().map(ToString::to_string),
        external_tenant_id: connection
            .external
            .as_ref()
            .map(|labels| labels.tenant_id.clone()),
        external_user_id: connection.external.as_ref().map(|labels| labels.user_id.clone()),
        token_issued_at: opt_ms(connection.token_issued_at),
        next_refresh_at: opt_ms(connection.next_refresh_at),
        last_used_at: opt_ms(connection.last_used_at),
        created_at: ms(connection.created_at),
        updated_at: ms(connection.updated_at),
        access_token_hash: connection
            .token_hashes
            .as_ref()
            .map(|hashes| hashes.access_token.clone()),
        refresh_token_hash: connection
            .token_hashes
            .as_ref()
            .map(|hashes| hashes.refresh_token.clone()),
    }
}

impl TryFrom<ConnectionEventRecord> for ConnectionEvent {
    type Error = crate::rows::StoredValueError;

    fn try_from(row: ConnectionEventRecord) -> Parsed<ConnectionEvent> {
        Ok(ConnectionEvent {
            id: ConnectionEventId::from_stored(row.id),
            tenant_id: TenantId::from_stored(row.tenant_id),
            connection_id: ConnectionId::from_stored(row.connection_id),
            kind: text("connection_events.kind", &row.kind)?,
            from_status: opt_text("connection_events.from_status", row.from_status.as_deref())?,
            to_status: opt_text("connection_events.to_status", row.to_status.as_deref())?,
            reason: row.reason,
            created_at: time("connection_events.created_at", row.created_at)?,
        })
    }
}

pub(crate) fn event_row(event: &ConnectionEvent) -> ConnectionEventRecord {
    ConnectionEventRecord {
        id: event.id.to_string(),
        tenant_id: event.tenant_id.to_string(),
        connection_id: event.connection_id.to_string(),
        kind: event.kind.as_str().to_owned(),
        from_status: event.from_status.map(|status| status.as_str().to_owned()),
        to_status: event.to_status.map(|status| status.as_str().to_owned()),
        reason: event.reason.clone(),
        created_at: ms(event.created_at),
    }
}

impl TryFrom<JournalRecord> for JournalEntry {
    type Error = crate::rows::StoredValueError;

    fn try_from(row: JournalRecord) -> Parsed<JournalEntry> {
        Ok(JournalEntry {
            id: JournalId::from_stored(row.id),
            tenant_id: TenantId::from_stored(row.tenant_id),
            connection_id: ConnectionId::from_stored(row.connection_id),
            operation: text("token_journal.operation", &row.operation)?,
            state: text("token_journal.state", &row.state)?,
            sealed_answer: row.sealed_answer,
            job_id: row.job_id.map(JobId::from_stored),
            created_at: time("token_journal.created_at", row.created_at)?,
            updated_at: time("token_journal.updated_at", row.updated_at)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connections::model::{ConnectionStatus, Usage};

    fn row() -> ConnectionRecord {
        ConnectionRecord {
            id: "0190a000-0000-7000-8000-000000000001".to_owned(),
            tenant_id: "0190a000-0000-7000-8000-000000000002".to_owned(),
            name: "ci".to_owned(),
            description: None,
            app: "gitlab".to_owned(),
            method: "access-token".to_owned(),
            access_token_type: Some("project".to_owned()),
            instance_url: "https://gitlab.example.com".to_owned(),
            project_id: None,
            credentials_hash: "ab".to_owned(),
            status: "expiring".to_owned(),
            status_reason: Some("soon".to_owned()),
            scopes: "[\"api\",\"read_repository\"]".to_owned(),
            expires_at: Some(1_800_000_000_000),
            token_name: Some("deploy".to_owned()),
            token_id: Some(42),
            gitlab_user_id: Some(7),
            gitlab_username: Some("project_1_bot".to_owned()),
            gitlab_bot: Some(1),
            resource_kind: Some("project".to_owned()),
            resource_id: Some(3),
            resource_path: Some("acme/api".to_owned()),
            access_level: Some(40),
            usages: "[\"secret-sync\"]".to_owned(),
            auto_rotate: 1,
            rotate_before_days: 7,
            consecutive_failures: 0,
            refresh_generation: 0,
            version: 3,
            last_checked_at: Some(1_799_000_000_000),
            last_rotated_at: None,
            instance_id: None,
            external_tenant_id: None,
            external_user_id: None,
            token_issued_at: None,
            next_refresh_at: None,
            last_used_at: Some(1_799_500_000_000),
            created_at: 1_798_000_000_000,
            updated_at: 1_799_000_000_000,
            access_token_hash: None,
            refresh_token_hash: None,
        }
    }

    #[test]
    fn a_row_round_trips_through_the_model() {
        let connection = Connection::try_from(row()).unwrap();
        assert_eq!(connection.status, ConnectionStatus::Expiring);
        assert_eq!(connection.usages, vec![Usage::SecretSync]);
        assert!(connection.auto_rotate);
        assert!(connection.scopes.contains("read_repository"));
        assert_eq!(connection.access_level, Some(AccessLevel::MAINTAINER));
        assert_eq!(connection_row(&connection), row());
    }

    #[test]
    fn unknown_or_out_of_range_values_are_errors_naming_the_column() {
        type Corruption = fn(&mut ConnectionRecord);
        let cases: [(&str, Corruption); 7] = [
            ("app_connections.status", |r| r.status = "bogus".to_owned()),
            ("app_connections.method", |r| r.method = "password".to_owned()),
            ("app_connections.access_token_type", |r| {
                r.access_token_type = Some("deploy".to_owned());
            }),
            ("app_connections.usages", |r| r.usages = "[\"mining\"]".to_owned()),
            ("app_connections.auto_rotate", |r| r.auto_rotate = 2),
            ("app_connections.version", |r| r.version = -1),
            ("app_connections.scopes", |r| r.scopes = "api".to_owned()),
        ];
        for (column, corrupt) in cases {
            let mut record = row();
            corrupt(&mut record);
            let error = Connection::try_from(record).unwrap_err();
            assert_eq!(error.column, column);
        }
    }
}
