//! The typed values of the secrets store: folder paths, slugs, keys and tags, each parsed once
//! with a clear rule, and the projects, environments and secrets built from them.

use secrecy::SecretString;
use time::OffsetDateTime;

use crate::CoreError;
use crate::auth::Actor;
use crate::ids::{SecretEnvironmentId, SecretId, SecretProjectId};

/// Longest folder path, in characters.
pub const MAX_PATH_LEN: usize = 512;
/// Longest secret key, in characters.
pub const MAX_KEY_LEN: usize = 256;
/// Longest project or environment slug.
pub const MAX_SLUG_LEN: usize = 64;
/// Longest project or environment name.
pub const MAX_NAME_LEN: usize = 128;
/// Longest comment.
pub const MAX_COMMENT_LEN: usize = 10_000;
/// Largest value, in bytes.
pub const MAX_VALUE_LEN: usize = 256 * 1024;
/// Most tags on one secret.
pub const MAX_TAGS: usize = 50;

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

fn is_slug_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_')
}

/// A folder: `/`, or `/` followed by segments of letters, digits, `_`, `.` and `-` joined by
/// `/`. A trailing slash is dropped; empty, `.` and `..` segments are refused, so one folder
/// has one spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretPath(String);

impl SecretPath {
    pub fn root() -> SecretPath {
        SecretPath("/".to_owned())
    }

    pub fn parse(text: &str) -> Result<SecretPath, CoreError> {
        let invalid = |why: &str| {
            CoreError::validation(
                "secretPath",
                format!(
                    "secretPath {why}: a path is / or /segment/… with segments of letters, digits, _, . and -"
                ),
            )
        };
        if text.chars().count() > MAX_PATH_LEN {
            return Err(invalid(&format!("is longer than {MAX_PATH_LEN} characters")));
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(invalid("must start with /"));
        };
        if rest.is_empty() {
            return Ok(SecretPath::root());
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        for segment in rest.split('/') {
            if segment.is_empty() {
                return Err(invalid("has an empty segment"));
            }
            if segment == "." || segment == ".." {
                return Err(invalid("may not contain . or .. segments"));
            }
            if !segment.chars().all(is_path_char) {
                return Err(invalid("has a character that is not allowed"));
            }
        }
        Ok(SecretPath(format!("/{rest}")))
    }

    /// A path read back from the database, which only holds normalised paths.
    pub(crate) fn from_stored(text: String) -> SecretPath {
        SecretPath(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }
}

impl std::fmt::Display for SecretPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a slug: 1–64 lowercase letters, digits, `-` and `_`, starting with a letter or digit.
fn check_slug(field: &'static str, what: &str, text: &str) -> Result<(), CoreError> {
    let valid = !text.is_empty()
        && text.len() <= MAX_SLUG_LEN
        && text.chars().all(is_slug_char)
        && text.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(CoreError::validation(
            field,
            format!(
                "{field} must be a {what} slug: 1–{MAX_SLUG_LEN} lowercase letters, digits, - and _, starting with a \
                 letter or digit"
            ),
        ))
    }
}

/// An environment's slug within its project (`dev`, `staging`, `prod`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvironmentSlug(String);

impl EnvironmentSlug {
    pub fn parse(text: &str) -> Result<EnvironmentSlug, CoreError> {
        check_slug("environment", "environment", text)?;
        Ok(EnvironmentSlug(text.to_owned()))
    }

    pub(crate) fn from_stored(text: String) -> EnvironmentSlug {
        EnvironmentSlug(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for EnvironmentSlug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A project's slug, unique within its tenant.
pub(crate) fn project_slug(text: &str) -> Result<String, CoreError> {
    check_slug("slug", "project", text)?;
    Ok(text.to_owned())
}

/// The slug a project named `name` gets when none is given: its letters and digits in lower
/// case, every other run of characters one `-`.
pub(crate) fn slug_from_name(name: &str) -> Result<String, CoreError> {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(MAX_SLUG_LEN).collect();
    let slug = slug.trim_end_matches('-').to_owned();
    if slug.is_empty() {
        return Err(CoreError::validation(
            "slug",
            "the name has no letters or digits to make a slug of; give a slug",
        ));
    }
    Ok(slug)
}

/// A name shown to people: trimmed, 1–128 characters, no control characters.
pub(crate) fn display_name(field: &'static str, text: &str) -> Result<String, CoreError> {
    let name = text.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(CoreError::validation(
            field,
            format!("{field} must be 1–{MAX_NAME_LEN} characters without control characters"),
        ));
    }
    Ok(name.to_owned())
}

/// A secret's key: 1–256 ASCII letters, digits, `_`, `-` and `.` (what Infisical accepts, and
/// every name a `.env` file or a CI variable can carry).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretKey(String);

impl SecretKey {
    pub fn parse(text: &str) -> Result<SecretKey, CoreError> {
        Self::parse_as("secretKey", text)
    }

    /// Like [`SecretKey::parse`], naming `field` in the error.
    pub fn parse_as(field: &'static str, text: &str) -> Result<SecretKey, CoreError> {
        if text.is_empty() || text.len() > MAX_KEY_LEN || !text.chars().all(is_path_char) {
            return Err(CoreError::validation(
                field,
                format!("a secret key is 1–{MAX_KEY_LEN} ASCII letters, digits, _, - and ."),
            ));
        }
        Ok(SecretKey(text.to_owned()))
    }

    pub(crate) fn from_stored(text: String) -> SecretKey {
        SecretKey(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tag on a secret, named by its slug (the same rule as project slugs).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagSlug(String);

impl TagSlug {
    pub fn parse(text: &str) -> Result<TagSlug, CoreError> {
        check_slug("tags", "tag", text)?;
        Ok(TagSlug(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for TagSlug {
    type Err = CoreError;

    fn from_str(text: &str) -> Result<TagSlug, CoreError> {
        TagSlug::parse(text)
    }
}

impl std::fmt::Display for TagSlug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Tags from a caller: each parsed, duplicates dropped, order kept.
pub fn parse_tags<S: AsRef<str>>(tags: &[S]) -> Result<Vec<TagSlug>, CoreError> {
    if tags.len() > MAX_TAGS {
        return Err(CoreError::validation(
            "tags",
            format!("a secret has at most {MAX_TAGS} tags"),
        ));
    }
    let mut parsed: Vec<TagSlug> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = TagSlug::parse(tag.as_ref())?;
        if !parsed.contains(&tag) {
            parsed.push(tag);
        }
    }
    Ok(parsed)
}

pub(crate) fn check_comment(comment: &str) -> Result<(), CoreError> {
    if comment.chars().count() > MAX_COMMENT_LEN {
        return Err(CoreError::validation(
            "secretComment",
            format!("a comment is at most {MAX_COMMENT_LEN} characters"),
        ));
    }
    Ok(())
}

pub(crate) fn check_value(field: &'static str, value: &str) -> Result<(), CoreError> {
    if value.len() > MAX_VALUE_LEN {
        return Err(CoreError::validation(
            field,
            format!("a secret value is at most {MAX_VALUE_LEN} bytes"),
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretProject {
    pub id: SecretProjectId,
    pub name: String,
    pub slug: String,
    pub environments: Vec<SecretEnvironment>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl SecretProject {
    pub fn environment(&self, slug: &EnvironmentSlug) -> Option<&SecretEnvironment> {
        self.environments
            .iter()
            .find(|environment| &environment.slug == slug)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretEnvironment {
    pub id: SecretEnvironmentId,
    pub name: String,
    pub slug: EnvironmentSlug,
    pub position: u32,
}

/// A secret with its current (or a requested) version's value. Debug shows no value.
#[derive(Debug, Clone)]
pub struct Secret {
    pub id: SecretId,
    pub project_id: SecretProjectId,
    pub environment: EnvironmentSlug,
    pub path: SecretPath,
    pub key: SecretKey,
    pub value: SecretString,
    pub comment: String,
    pub tags: Vec<TagSlug>,
    pub version: u32,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// One version of a secret; the value only when it was asked for.
#[derive(Debug, Clone)]
pub struct SecretVersion {
    pub version: u32,
    pub key: SecretKey,
    pub comment: String,
    pub tags: Vec<TagSlug>,
    pub actor: Actor,
    pub created_at: OffsetDateTime,
    pub value: Option<SecretString>,
}

/// One current secret with its value, for software that must read many at once (a sync run).
#[derive(Debug, Clone)]
pub struct FolderSecret {
    pub key: String,
    pub value: SecretString,
    pub comment: String,
    pub version: u32,
    pub updated_at: OffsetDateTime,
}

/// A value that comes from elsewhere (a `.env` file, a GitLab import). Without a comment, an
/// existing secret keeps its own.
#[derive(Debug, Clone)]
pub struct ImportedSecret {
    pub key: String,
    pub value: SecretString,
    pub comment: Option<String>,
}

/// What an import did, by key: created, overwritten, and left as it was (equal, or not
/// overwritten when asked not to).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
}

/// Which folder of which project and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub project: SecretProjectId,
    pub environment: EnvironmentSlug,
    pub path: SecretPath,
}

/// A secret to create.
#[derive(Debug, Clone)]
pub struct NewSecret {
    pub key: SecretKey,
    pub value: SecretString,
    pub comment: Option<String>,
    pub tags: Option<Vec<TagSlug>>,
}

/// Changes to one secret; what is `None` stays.
#[derive(Debug, Clone)]
pub struct SecretChange {
    pub key: SecretKey,
    pub new_key: Option<SecretKey>,
    pub value: Option<SecretString>,
    pub comment: Option<String>,
    pub tags: Option<Vec<TagSlug>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_have_one_spelling() {
        assert_eq!(SecretPath::parse("/").unwrap(), SecretPath::root());
        assert_eq!(SecretPath::parse("/a/b/").unwrap().as_str(), "/a/b");
        assert_eq!(SecretPath::parse("/a.b/c_d-e").unwrap().as_str(), "/a.b/c_d-e");
        for bad in [
            "", "a", "//", "/a//b", "/a/../b", "/..", "/./a", "/a b", "/a\\b", "/ä",
        ] {
            assert!(SecretPath::parse(bad).is_err(), "{bad:?}");
        }
        assert!(SecretPath::parse(&format!("/{}", "a".repeat(MAX_PATH_LEN))).is_err());
    }

    #[test]
    fn keys_slugs_and_tags_follow_their_rules() {
        for good in ["API_KEY", "a.b-c", "9LIVES"] {
            assert!(SecretKey::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "A B", "A=B", "ключ", "a/b", &"k".repeat(MAX_KEY_LEN + 1)] {
            assert!(SecretKey::parse(bad).is_err(), "{bad}");
        }
        assert!(EnvironmentSlug::parse("prod").is_ok());
        for bad in ["", "Prod", "-dev", "dev env", &"d".repeat(MAX_SLUG_LEN + 1)] {
            assert!(EnvironmentSlug::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(slug_from_name("  My Big -- App! ").unwrap(), "my-big-app");
        assert!(slug_from_name("!!!").is_err());
        assert_eq!(parse_tags(&["a", "b", "a"]).unwrap().len(), 2);
        assert!(parse_tags(&["Bad Tag"]).is_err());
    }
}
