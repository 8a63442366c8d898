//! The simulated instance's entities.

use std::collections::BTreeMap;

use time::{Date, OffsetDateTime};

pub type UserId = u64;
pub type GroupId = u64;
pub type ProjectId = u64;
pub type TokenId = u64;

/// Which flavour of GitLab the instance pretends to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Mode {
    #[serde(rename = "gitlab.com")]
    GitLabCom,
    #[default]
    #[serde(rename = "self-managed")]
    SelfManaged,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "gitlab.com" | "saas" => Ok(Self::GitLabCom),
            "self-managed" | "self_managed" => Ok(Self::SelfManaged),
            other => Err(format!(
                "unknown mode {other:?} (expected gitlab.com or self-managed)"
            )),
        }
    }
}

/// A membership source: a group or a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    Group(GroupId),
    Project(ProjectId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserKind {
    Human,
    ProjectBot,
    ServiceAccount,
}

impl UserKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Human => "human",
            Self::ProjectBot => "project_bot",
            Self::ServiceAccount => "service_account",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserState {
    Active,
    Blocked,
    Deactivated,
    Banned,
}

impl UserState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Blocked => "blocked",
            Self::Deactivated => "deactivated",
            Self::Banned => "banned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "blocked" => Some(Self::Blocked),
            "deactivated" => Some(Self::Deactivated),
            "banned" => Some(Self::Banned),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub name: String,
    pub email: String,
    pub public_email: Option<String>,
    pub admin: bool,
    pub kind: UserKind,
    pub state: UserState,
    pub external: bool,
    pub created_at: OffsetDateTime,
    pub confirmed_at: Option<OffsetDateTime>,
    pub last_sign_in_at: Option<OffsetDateTime>,
    pub current_sign_in_at: Option<OffsetDateTime>,
    pub last_activity_on: Option<Date>,
    pub namespace_id: u64,
    pub note: Option<String>,
    pub bio: String,
    pub location: String,
    pub organization: String,
    pub job_title: String,
    /// The group or project a bot belongs to.
    pub bot_source: Option<Source>,
    /// Gravatar-style URL, derived from the e-mail once at creation.
    pub avatar_url: String,
    /// Sign-in identities (LDAP, SAML, OmniAuth) linked to the account; administrators see them.
    pub identities: Vec<Identity>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub provider: String,
    pub extern_uid: String,
}

/// A custom role (GitLab Ultimate): defined on a top-level group on GitLab.com, for the whole
/// instance on self-managed (`group_id` is `None`). Members holding it have its base level.
#[derive(Debug, Clone)]
pub struct MemberRole {
    pub id: u64,
    pub group_id: Option<GroupId>,
    pub name: String,
    pub description: String,
    pub base_access_level: u8,
}

impl User {
    pub fn is_bot(&self) -> bool {
        self.kind == UserKind::ProjectBot
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Visibility {
    Private,
    Internal,
    Public,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Internal => "internal",
            Self::Public => "public",
        }
    }

    pub fn level(self) -> u8 {
        match self {
            Self::Private => 0,
            Self::Internal => 10,
            Self::Public => 20,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "private" => Some(Self::Private),
            "internal" => Some(Self::Internal),
            "public" => Some(Self::Public),
            _ => None,
        }
    }
}

/// A group or project shared with (invited) group `group_id`, capped at `access_level`.
#[derive(Debug, Clone)]
pub struct Share {
    pub group_id: GroupId,
    pub access_level: u8,
    pub expires_at: Option<Date>,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: GroupId,
    pub name: String,
    pub path: String,
    pub full_path: String,
    pub full_name: String,
    pub parent_id: Option<GroupId>,
    pub visibility: Visibility,
    pub description: String,
    pub created_at: OffsetDateTime,
    pub shared_with: Vec<Share>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    Group(GroupId),
    User(UserId),
}

#[derive(Debug, Clone)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    pub path: String,
    pub full_path: String,
    pub name_with_namespace: String,
    pub namespace: Namespace,
    pub visibility: Visibility,
    pub description: String,
    pub default_branch: String,
    pub created_at: OffsetDateTime,
    pub last_activity_at: OffsetDateTime,
    pub archived: bool,
    /// Files of the initial commit; written when the repository is first created on disk.
    pub files: BTreeMap<String, String>,
    pub shared_with: Vec<Share>,
    pub creator_id: Option<UserId>,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: UserId,
    pub source: Source,
    pub access_level: u8,
    pub expires_at: Option<Date>,
    pub created_at: OffsetDateTime,
    pub created_by: Option<UserId>,
    pub member_role_id: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Invitation {
    pub id: u64,
    pub source: Source,
    pub email: String,
    pub access_level: u8,
    pub expires_at: Option<Date>,
    pub created_at: OffsetDateTime,
    pub created_by: Option<UserId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Personal,
    Project(ProjectId),
    Group(GroupId),
}

/// A personal, project or group access token. The secret itself is never stored, only its digest.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub id: TokenId,
    pub kind: TokenKind,
    pub user_id: UserId,
    pub name: String,
    pub description: Option<String>,
    pub scopes: Vec<String>,
    pub expires_at: Option<Date>,
    pub revoked: bool,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub access_level: u8,
    /// The token this one replaced by rotation (its family link).
    pub previous_id: Option<TokenId>,
}

impl AccessToken {
    /// GitLab treats a token as expired from 00:00 UTC on its `expires_at` date.
    pub fn expired(&self, today: Date) -> bool {
        self.expires_at.is_some_and(|d| d <= today)
    }

    pub fn active(&self, today: Date) -> bool {
        !self.revoked && !self.expired(today)
    }
}

#[derive(Debug, Clone)]
pub struct OAuthApp {
    pub id: u64,
    pub name: String,
    pub uid: String,
    pub secret: String,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub confidential: bool,
    pub auto_approve_as: Option<String>,
    pub access_token_ttl: u64,
    pub allow_pkce_plain: bool,
}

/// An authorization code (Doorkeeper "access grant").
#[derive(Debug, Clone)]
pub struct OAuthGrant {
    pub app_id: u64,
    pub user_id: UserId,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub created_at: OffsetDateTime,
    pub used: bool,
}

/// An access token with its refresh token (one Doorkeeper record).
#[derive(Debug, Clone)]
pub struct OAuthToken {
    pub id: u64,
    pub app_id: u64,
    pub user_id: UserId,
    pub scopes: Vec<String>,
    pub created_at: OffsetDateTime,
    pub expires_in: u64,
    pub revoked_at: Option<OffsetDateTime>,
    pub access_digest: [u8; 32],
    pub refresh_digest: [u8; 32],
}

impl OAuthToken {
    pub fn expired(&self, now: OffsetDateTime) -> bool {
        now >= self.created_at + time::Duration::seconds(i64::try_from(self.expires_in).unwrap_or(i64::MAX))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub key: String,
    pub value: String,
    pub variable_type: String,
    pub protected: bool,
    pub masked: bool,
    pub hidden: bool,
    pub raw: bool,
    pub environment_scope: String,
    pub description: Option<String>,
}

/// Whose a webhook is: the whole instance (a system hook, administrators only), a group (whose
/// hooks fire for it, its subgroups and their projects) or one project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookOwner {
    Instance,
    Group(GroupId),
    Project(ProjectId),
}

impl From<Source> for HookOwner {
    fn from(source: Source) -> Self {
        match source {
            Source::Group(g) => Self::Group(g),
            Source::Project(p) => Self::Project(p),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Hook {
    pub id: u64,
    pub owner: HookOwner,
    pub url: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub token: Option<String>,
    pub push_events: bool,
    pub tag_push_events: bool,
    pub merge_requests_events: bool,
    /// System hooks: `repository_update` events (on by default, as in GitLab).
    pub repository_update_events: bool,
    /// Group hooks: `Member Hook` deliveries when the group's (or a subgroup's) members change.
    pub member_events: bool,
    /// Group hooks: `Subgroup Hook` deliveries when a subgroup is created or removed.
    pub subgroup_events: bool,
    pub enable_ssl_verification: bool,
    pub push_events_branch_filter: Option<String>,
    pub custom_headers: Vec<(String, String)>,
    pub created_at: OffsetDateTime,
    pub uuid: String,
}

impl Hook {
    /// A hook with GitLab's defaults: push events on, everything else off, SSL verified.
    /// System hooks also default to `repository_update_events`.
    pub fn new(owner: HookOwner, now: OffsetDateTime) -> Self {
        Self {
            id: 0,
            owner,
            url: String::new(),
            name: None,
            description: None,
            token: None,
            push_events: true,
            tag_push_events: false,
            merge_requests_events: false,
            repository_update_events: owner == HookOwner::Instance,
            member_events: false,
            subgroup_events: false,
            enable_ssl_verification: true,
            push_events_branch_filter: None,
            custom_headers: Vec::new(),
            created_at: now,
            uuid: uuid::Uuid::new_v4().to_string(),
        }
    }
}

/// One webhook delivery attempt, kept for inspection by tests.
#[derive(Debug, Clone)]
pub struct HookDelivery {
    pub hook_id: u64,
    pub event: String,
    pub event_uuid: String,
    pub body: serde_json::Value,
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// GitLab's access level names.
pub fn role_name(level: u8) -> &'static str {
    match level {
        5 => "Minimal Access",
        10 => "Guest",
        15 => "Planner",
        20 => "Reporter",
        25 => "Security Manager",
        30 => "Developer",
        40 => "Maintainer",
        50 => "Owner",
        _ => "No access",
    }
}

pub const VALID_ACCESS_LEVELS: [u8; 8] = [5, 10, 15, 20, 25, 30, 40, 50];
