//! A folder as people browse it: its secrets without their values and the folders below it.
//! Nothing is decrypted, so showing a folder reads no value and audits no read; a value is
//! read (and audited) only when someone asks for it.

use std::collections::BTreeSet;

use time::OffsetDateTime;

use super::model::{Folder, SecretKey, SecretPath, TagSlug};
use super::{Secrets, tags_row};
use crate::Result;
use crate::auth::{Access, Principal};
use crate::rows::{time, unsigned};

/// One secret of a folder, without its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretEntry {
    pub key: SecretKey,
    pub comment: String,
    pub tags: Vec<TagSlug>,
    pub version: u32,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A folder's secrets by key, and the names of the folders right below it that hold secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderListing {
    pub secrets: Vec<SecretEntry>,
    pub folders: Vec<String>,
}

/// The first segment below `parent` of `path`, if `path` lies below `parent`.
fn child_of<'a>(parent: &SecretPath, path: &'a str) -> Option<&'a str> {
    let rest = if parent.is_root() {
        path.strip_prefix('/')?
    } else {
        path.strip_prefix(parent.as_str())?.strip_prefix('/')?
    };
    rest.split('/').next().filter(|segment| !segment.is_empty())
}

impl Secrets {
    /// The folder's secrets (ordered by key, values left sealed) and its sub-folders (by name).
    pub async fn browse(&self, principal: &Principal, folder: &Folder) -> Result<FolderListing> {
        principal.require(Access::Read)?;
        let place = self.place(principal, folder).await?;
        let records = self
            .store
            .secrets_with_values(
                principal.tenant_id.as_str(),
                place.environment.id.as_str(),
                place.path.as_str(),
                true,
            )
            .await?;
        let mut folders = BTreeSet::new();
        let mut secrets = Vec::new();
        for record in records {
            let record = record.secret;
            if record.path == place.path.as_str() {
                secrets.push(SecretEntry {
                    tags: tags_row("secrets.tags", &record.tags)?,
                    version: unsigned("secrets.version", record.version)?,
                    created_at: time("secrets.created_at", record.created_at)?,
                    updated_at: time("secrets.updated_at", record.updated_at)?,
                    key: SecretKey::from_stored(record.secret_key),
                    comment: record.comment,
                });
            } else if let Some(child) = child_of(&place.path, &record.path) {
                folders.insert(child.to_owned());
            }
        }
        // Byte order, the same on both backends whatever PostgreSQL's collation says.
        secrets.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(FolderListing {
            secrets,
            folders: folders.into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_folders_are_the_next_segment_below_the_parent() {
        let root = SecretPath::root();
        let app = SecretPath::parse("/app").unwrap();
        assert_eq!(child_of(&root, "/app/db"), Some("app"));
        assert_eq!(child_of(&app, "/app/db/x"), Some("db"));
        assert_eq!(child_of(&app, "/apple/db"), None, "a sibling sharing a prefix");
        assert_eq!(child_of(&app, "/app"), None);
    }
}
