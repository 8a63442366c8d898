//! Identifiers. Each kind of resource has its own id type, so a tenant id cannot be passed where
//! a connection id belongs. Ids labgate issues are UUIDv7 text, time-ordered so indexes stay
//! compact.

macro_rules! define_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh id.
            pub fn generate() -> $name {
                $name(uuid::Uuid::now_v7().to_string())
            }

            /// An id from a caller, when it has the shape of an id labgate issues; lets handlers
            /// refuse junk before a query runs.
            pub fn parse(text: &str) -> Option<$name> {
                uuid::Uuid::try_parse(text).ok().map(|_| $name(text.to_owned()))
            }

            /// An id read back from the database, which only holds ids labgate wrote.
            #[allow(dead_code, reason = "some ids are only ever written")]
            pub(crate) fn from_stored(text: String) -> $name {
                $name(text)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id's 128 bits when it is spelled as labgate issues ids (a lowercase
            /// hyphenated UUID), for in-memory indexes that compare keys in place rather than
            /// through the text's allocation; `None` for any other spelling, which the store
            /// (comparing text) does not know either.
            #[allow(dead_code, reason = "only some ids key in-memory indexes")]
            pub(crate) fn key(&self) -> Option<u128> {
                if self.0.len() != 36 || self.0.bytes().any(|b| b.is_ascii_uppercase()) {
                    return None;
                }
                uuid::Uuid::try_parse(&self.0).ok().map(|id| id.as_u128())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        // Reading an id as text is always fine; only making one from text is checked.
        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

define_id!(
    /// A tenant: the isolation boundary of keys and data.
    TenantId
);
define_id!(
    /// An app connection.
    ConnectionId
);
define_id!(
    /// An entry of a connection's timeline.
    ConnectionEventId
);
define_id!(
    /// A connect session: one run of an embedding application's connect button.
    ConnectSessionId
);
define_id!(
    /// A journalled token-changing GitLab call.
    JournalId
);
define_id!(
    /// A GitLab instance a tenant connects to.
    InstanceId
);
define_id!(
    /// A background job.
    JobId
);
define_id!(
    /// An API key.
    ApiKeyId
);
define_id!(
    /// A webhook subscription.
    WebhookId
);
define_id!(
    /// One delivery of an event to a subscription.
    DeliveryId
);
define_id!(
    /// A person who logs in to the web UI.
    UserId
);
define_id!(
    /// An audit log entry.
    AuditEntryId
);
define_id!(
    /// A project of secrets.
    SecretProjectId
);
define_id!(
    /// An environment of a secrets project.
    SecretEnvironmentId
);
define_id!(
    /// A secret (all its versions share the id).
    SecretId
);
define_id!(
    /// One version of a secret: the owner of its sealed value.
    SecretVersionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids_and_parse_refuses_junk() {
        let id = ConnectionId::generate();
        assert_eq!(ConnectionId::parse(id.as_str()), Some(id.clone()));
        for junk in [
            "",
            "abc",
            "1; DROP TABLE x",
            "00000000-0000-0000-0000-00000000000g",
        ] {
            assert_eq!(ConnectionId::parse(junk), None, "{junk}");
        }
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
    }

    #[test]
    fn only_the_issued_spelling_has_a_key() {
        let id = ConnectionId::generate();
        let uuid = uuid::Uuid::try_parse(id.as_str()).unwrap();
        assert_eq!(id.key(), Some(uuid.as_u128()));
        for other in [
            id.as_str().to_ascii_uppercase(),
            uuid.simple().to_string(),
            uuid.braced().to_string(),
        ] {
            assert_eq!(ConnectionId::parse(&other).unwrap().key(), None, "{other}");
        }
    }
}
define_id!(
    /// A secret sync: one folder of secrets pushed into GitLab CI/CD variables.
    SecretSyncId
);
define_id!(
    /// A secret scanning data source: GitLab repositories scanned through one connection.
    ScanDataSourceId
);
define_id!(
    /// A repository a data source found.
    ScanResourceId
);
define_id!(
    /// One scan of a data source (all of its repositories, or one).
    ScanRunId
);
define_id!(
    /// A secret value found by scanning, wherever it was seen.
    FindingId
);
define_id!(
    /// A GitLab scope (an instance or a top-level group) whose access labgate syncs.
    AccessSourceId
);
define_id!(
    /// One sync of an access source, with the snapshot it took.
    AccessSyncRunId
);
define_id!(
    /// An access provisioning operation (an account created, a grant, a revoke, a deprovisioning).
    AccessProvisioningOperationId
);
