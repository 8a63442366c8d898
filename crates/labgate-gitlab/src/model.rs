//! GitLab's JSON entities, read leniently: unknown fields ignored, missing fields defaulted,
//! timestamps in ISO-8601 or `YYYY-MM-DD HH:MM:SS UTC`, dates as `YYYY-MM-DD` (or a timestamp).

use std::collections::BTreeMap;
use std::fmt;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use time::{Date, OffsetDateTime};

use crate::base_url::encode_segment;

/// Parses GitLab timestamps: RFC 3339, `2024-01-24 16:27:40 UTC`, or a bare date (midnight UTC).
pub fn parse_timestamp(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Some(t);
    }
    let hook = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    if let Ok(t) = time::PrimitiveDateTime::parse(s, &hook) {
        return Some(t.assume_utc());
    }
    parse_date(s).map(|d| d.midnight().assume_utc())
}

/// Parses `YYYY-MM-DD`, or the date part of a timestamp.
pub fn parse_date(s: &str) -> Option<Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let s = s.trim();
    Date::parse(s.get(..10).unwrap_or(s), &fmt).ok()
}

pub(crate) fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn lenient_ts<'de, D: Deserializer<'de>>(d: D) -> Result<Option<OffsetDateTime>, D::Error> {
    let v: Option<serde_json::Value> = Option::deserialize(d)?;
    Ok(v.as_ref().and_then(|v| v.as_str()).and_then(parse_timestamp))
}

fn lenient_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
    let v: Option<serde_json::Value> = Option::deserialize(d)?;
    Ok(v.as_ref().and_then(|v| v.as_str()).and_then(parse_date))
}

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A GitLab role (`Gitlab::Access`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Deserialize, serde::Serialize,
)]
#[serde(transparent)]
pub struct AccessLevel(pub u8);

impl AccessLevel {
    pub const NO_ACCESS: Self = Self(0);
    pub const MINIMAL: Self = Self(5);
    pub const GUEST: Self = Self(10);
    pub const PLANNER: Self = Self(15);
    pub const REPORTER: Self = Self(20);
    pub const DEVELOPER: Self = Self(30);
    pub const MAINTAINER: Self = Self(40);
    pub const OWNER: Self = Self(50);

    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "No access",
            5 => "Minimal access",
            10 => "Guest",
            15 => "Planner",
            20 => "Reporter",
            25 => "Security Manager",
            30 => "Developer",
            40 => "Maintainer",
            50 => "Owner",
            60 => "Admin",
            _ => "Custom",
        }
    }
}

impl fmt::Display for AccessLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// A project or group named by numeric id or full path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResourceId {
    Id(u64),
    Path(String),
}

impl ResourceId {
    pub(crate) fn segment(&self) -> String {
        match self {
            Self::Id(id) => id.to_string(),
            Self::Path(p) => encode_segment(p.trim_matches('/')),
        }
    }
}

impl From<u64> for ResourceId {
    fn from(id: u64) -> Self {
        Self::Id(id)
    }
}
impl From<&str> for ResourceId {
    fn from(p: &str) -> Self {
        p.parse::<u64>()
            .map_or_else(|_| Self::Path(p.to_owned()), Self::Id)
    }
}
impl From<String> for ResourceId {
    fn from(p: String) -> Self {
        Self::from(p.as_str())
    }
}

/// Where members, variables, invitations and tokens live.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    Project(ResourceId),
    Group(ResourceId),
}

impl Source {
    pub(crate) fn path(&self) -> String {
        match self {
            Self::Project(id) => format!("/projects/{}", id.segment()),
            Self::Group(id) => format!("/groups/{}", id.segment()),
        }
    }
    pub(crate) fn is_project(&self) -> bool {
        matches!(self, Self::Project(_))
    }
}

/// A user, as any of `GET /user`, `/users`, `/users/:id` return it (admin-only fields optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct User {
    pub id: u64,
    pub username: String,
    pub name: String,
    pub state: String,
    pub locked: bool,
    pub bot: bool,
    pub web_url: String,
    pub avatar_url: Option<String>,
    /// Present for the caller itself and for admins.
    pub email: Option<String>,
    #[serde(deserialize_with = "null_default")]
    pub public_email: String,
    pub is_admin: Option<bool>,
    pub external: Option<bool>,
    pub two_factor_enabled: Option<bool>,
    pub note: Option<String>,
    pub user_type: Option<String>,
    pub using_license_seat: Option<bool>,
    #[serde(deserialize_with = "lenient_ts")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(deserialize_with = "lenient_ts")]
    pub last_sign_in_at: Option<OffsetDateTime>,
    #[serde(deserialize_with = "lenient_date")]
    pub last_activity_on: Option<Date>,
    /// Linked sign-in identities (LDAP, SAML, OmniAuth); only administrators and the user see them.
    #[serde(deserialize_with = "null_default")]
    pub identities: Vec<UserIdentity>,
}

/// A sign-in identity of a user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct UserIdentity {
    pub provider: String,
    pub extern_uid: String,
}

/// A direct membership of a user (`GET /users/:id/memberships`, admin only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct UserMembership {
    pub source_id: u64,
    pub source_name: String,
    /// `Project` or `Namespace` (a group).
    pub source_type: String,
    pub access_level: AccessLevel,
}

/// A group a group or project is shared with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SharedWithGroup {
    pub group_id: u64,
    pub group_name: String,
    pub group_full_path: String,
    pub group_access_level: AccessLevel,
    #[serde(deserialize_with = "lenient_date")]
    pub expires_at: Option<Date>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Group {
    pub id: u64,
    pub name: String,
    pub path: String,
    pub full_name: String,
    pub full_path: String,
    pub parent_id: Option<u64>,
    pub visibility: String,
    pub web_url: String,
    #[serde(deserialize_with = "null_default")]
    pub description: String,
    #[serde(deserialize_with = "lenient_ts")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(deserialize_with = "null_default")]
    pub shared_with_groups: Vec<SharedWithGroup>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Namespace {
    pub id: u64,
    pub name: String,
    pub path: String,
    pub kind: String,
    pub full_path: String,
    pub parent_id: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AccessInfo {
    pub access_level: AccessLevel,
}

/// The caller's own access, on `GET /projects/:id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Permissions {
    pub project_access: Option<AccessInfo>,
    pub group_access: Option<AccessInfo>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Project {
    pub id: u64,
    pub name: String,
    pub path: String,
    pub path_with_namespace: String,
    pub name_with_namespace: String,
    pub description: Option<String>,
    pub default_branch: Option<String>,
    pub visibility: Option<String>,
    pub archived: Option<bool>,
    pub web_url: String,
    pub http_url_to_repo: String,
    #[serde(deserialize_with = "lenient_ts")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(deserialize_with = "lenient_ts")]
    pub last_activity_at: Option<OffsetDateTime>,
    pub namespace: Option<Namespace>,
    #[serde(deserialize_with = "null_default")]
    pub shared_with_groups: Vec<SharedWithGroup>,
    pub permissions: Option<Permissions>,
}

/// A member of a project or group (direct, or effective from `members/all`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Member {
    pub id: u64,
    pub username: String,
    pub name: String,
    pub state: String,
    pub web_url: String,
    pub access_level: AccessLevel,
    #[serde(deserialize_with = "lenient_date")]
    pub expires_at: Option<Date>,
    #[serde(deserialize_with = "lenient_ts")]
    pub created_at: Option<OffsetDateTime>,
    pub membership_state: Option<String>,
    pub email: Option<String>,
    pub member_role: Option<serde_json::Value>,
    pub is_using_seat: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Invitation {
    pub id: u64,
    pub invite_email: String,
    pub access_level: AccessLevel,
    #[serde(deserialize_with = "lenient_date")]
    pub expires_at: Option<Date>,
    #[serde(deserialize_with = "lenient_ts")]
    pub created_at: Option<OffsetDateTime>,
    pub user_name: Option<String>,
    pub created_by_name: Option<String>,
}

/// What an invitation request did: GitLab answers 201 even when some addresses failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvitationOutcome {
    /// Email (or user id) → GitLab's reason, for every entry that was not invited.
    pub failed: BTreeMap<String, String>,
}

impl InvitationOutcome {
    pub fn all_succeeded(&self) -> bool {
        self.failed.is_empty()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct BillableMember {
    pub id: u64,
    pub username: String,
    pub name: String,
    pub state: String,
    pub web_url: String,
    pub email: Option<String>,
    #[serde(deserialize_with = "lenient_date")]
    pub last_activity_on: Option<Date>,
    pub membership_type: Option<String>,
    pub removable: Option<bool>,
    pub is_last_owner: Option<bool>,
    #[serde(deserialize_with = "lenient_ts")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(deserialize_with = "lenient_ts")]
    pub last_login_at: Option<OffsetDateTime>,
}

/// `{"string_value":"Developer","integer_value":30}` on billable memberships.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct NamedAccessLevel {
    pub string_value: String,
    pub integer_value: AccessLevel,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct BillableMembership {
    pub id: u64,
    pub source_id: u64,
    pub source_full_name: String,
    pub source_members_url: String,
    #[serde(deserialize_with = "lenient_ts")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(deserialize_with = "lenient_date")]
    pub expires_at: Option<Date>,
    pub access_level: NamedAccessLevel,
}

/// A CI/CD variable. `value` is `None` when the variable is hidden.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Variable {
    pub key: String,
    pub value: Option<SecretString>,
    pub variable_type: String,
    pub protected: bool,
    pub masked: bool,
    pub hidden: bool,
    pub raw: bool,
    pub environment_scope: String,
    pub description: Option<String>,
}

/// A project webhook. GitLab never returns the secret token, only whether one is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Hook {
    pub id: u64,
    pub url: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub project_id: Option<u64>,
    pub push_events: bool,
    pub tag_push_events: bool,
    pub merge_requests_events: bool,
    pub push_events_branch_filter: Option<String>,
    pub enable_ssl_verification: bool,
    pub token_present: Option<bool>,
    pub alert_status: Option<String>,
    #[serde(deserialize_with = "lenient_ts")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(deserialize_with = "lenient_ts")]
    pub disabled_until: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Commit {
    pub id: String,
    pub short_id: String,
    pub title: String,
    pub message: String,
    pub author_name: String,
    pub author_email: String,
    #[serde(deserialize_with = "lenient_ts")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(deserialize_with = "null_default")]
    pub parent_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Diff {
    pub old_path: String,
    pub new_path: String,
    pub diff: String,
    pub new_file: bool,
    pub renamed_file: bool,
    pub deleted_file: bool,
}

/// `GET /projects/:id/repository/compare`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Comparison {
    pub commit: Option<Commit>,
    #[serde(deserialize_with = "null_default")]
    pub commits: Vec<Commit>,
    #[serde(deserialize_with = "null_default")]
    pub diffs: Vec<Diff>,
    pub compare_timeout: bool,
    pub compare_same_ref: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Version {
    pub version: String,
    pub revision: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Metadata {
    pub version: String,
    pub revision: String,
    pub kas: Option<serde_json::Value>,
    pub enterprise: Option<bool>,
}

/// A personal, project or group access token as GitLab describes it (never with its secret;
/// see [`CreatedToken`]). Resource-token fields are `None` for personal tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AccessToken {
    pub id: u64,
    pub name: String,
    pub description: Option<String>,
    pub user_id: u64,
    #[serde(deserialize_with = "null_default")]
    pub scopes: Vec<String>,
    pub active: bool,
    pub revoked: bool,
    #[serde(deserialize_with = "lenient_date")]
    pub expires_at: Option<Date>,
    #[serde(deserialize_with = "lenient_ts")]
    pub created_at: Option<OffsetDateTime>,
    #[serde(deserialize_with = "lenient_ts")]
    pub last_used_at: Option<OffsetDateTime>,
    pub access_level: Option<AccessLevel>,
    pub resource_type: Option<String>,
    pub resource_id: Option<u64>,
}

/// A token with its secret, from a create or rotate answer. Store `token` before anything else:
/// after a rotation the old token is already revoked.
#[derive(Debug, Clone)]
pub struct CreatedToken {
    pub info: AccessToken,
    pub token: SecretString,
}

impl CreatedToken {
    pub(crate) fn from_json(mut v: serde_json::Value, path: &str) -> Result<Self, crate::GitLabError> {
        let token = v
            .as_object_mut()
            .and_then(|m| m.remove("token"))
            .and_then(|t| match t {
                serde_json::Value::String(s) => Some(SecretString::from(s)),
                _ => None,
            })
            .ok_or_else(|| crate::GitLabError::Decode {
                path: path.to_owned(),
                detail: "the answer has no token".to_owned(),
            })?;
        let info = serde_json::from_value(v).map_err(|e| crate::GitLabError::Decode {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
        Ok(Self { info, token })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_dates() {
        assert!(parse_timestamp("2021-01-05T11:00:00.729Z").is_some());
        assert_eq!(
            parse_timestamp("2024-01-24 16:27:40 UTC")
                .unwrap()
                .unix_timestamp(),
            1_706_113_660
        );
        assert_eq!(format_date(parse_date("2027-06-30").unwrap()), "2027-06-30");
        assert_eq!(
            format_date(parse_date("2027-06-30T00:00:00Z").unwrap()),
            "2027-06-30"
        );
        assert!(parse_date("junk").is_none());
    }

    #[test]
    fn lenient_entities() {
        let m: Member = serde_json::from_str(
            r#"{"id":1,"username":"a","access_level":30,"expires_at":"2026-01-01T00:00:00.000Z","extra":1}"#,
        )
        .unwrap();
        assert_eq!(m.access_level, AccessLevel::DEVELOPER);
        assert_eq!(m.expires_at.map(format_date).as_deref(), Some("2026-01-01"));
        let v: Variable = serde_json::from_str(r#"{"key":"K","value":null,"hidden":true}"#).unwrap();
        assert!(v.value.is_none() && v.hidden);
        let v: Variable = serde_json::from_str(r#"{"key":"K","value":"s3cr3t"}"#).unwrap();
        assert!(!format!("{v:?}").contains("s3cr3t"));
        let created = CreatedToken::from_json(
            serde_json::json!({"id": 5, "name": "n", "token": "glpat-xyz", "scopes": ["api"], "expires_at": "2027-01-01"}),
            "/x",
        )
        .unwrap();
        assert_eq!(created.info.id, 5);
        assert!(!format!("{created:?}").contains("glpat-xyz"));
    }

    #[test]
    fn resource_ids() {
        assert_eq!(ResourceId::from("42"), ResourceId::Id(42));
        assert_eq!(ResourceId::from("a/b").segment(), "a%2Fb");
        assert_eq!(Source::Group("acme".into()).path(), "/groups/acme");
    }
}
