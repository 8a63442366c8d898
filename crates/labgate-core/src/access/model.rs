//! The access model as labgate keeps it: GitLab accounts, groups, projects, direct memberships
//! and shares, each a typed value parsed once from what GitLab (or the store) said.

use std::fmt;

use time::Date;

/// A GitLab user's numeric id on its instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GitLabUserId(pub u64);

/// A GitLab group's numeric id on its instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GitLabGroupId(pub u64);

/// A GitLab project's numeric id on its instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GitLabProjectId(pub u64);

/// Something an account can be granted access to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    Group(GitLabGroupId),
    Project(GitLabProjectId),
}

impl Resource {
    pub fn kind(self) -> ResourceKind {
        match self {
            Resource::Group(_) => ResourceKind::Group,
            Resource::Project(_) => ResourceKind::Project,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    Group,
    Project,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Group => "group",
            ResourceKind::Project => "project",
        }
    }

    pub fn parse(text: &str) -> Option<ResourceKind> {
        match text {
            "group" => Some(ResourceKind::Group),
            "project" => Some(ResourceKind::Project),
            _ => None,
        }
    }
}

/// What kind of principal an account is. GitLab marks project and group access tokens' users
/// as bots and service accounts separately; an audit has to tell them from people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountKind {
    Human,
    /// The user behind a project or group access token.
    Bot,
    ServiceAccount,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Human => "human",
            AccountKind::Bot => "bot",
            AccountKind::ServiceAccount => "service-account",
        }
    }

    pub fn parse(text: &str) -> Option<AccountKind> {
        match text {
            "human" => Some(AccountKind::Human),
            "bot" => Some(AccountKind::Bot),
            "service-account" => Some(AccountKind::ServiceAccount),
            _ => None,
        }
    }

    /// The kind from GitLab's user fields: `bot` is true for token users and service accounts
    /// alike, so the `user_type` (admin view) or the service-account listing decides.
    pub fn from_gitlab(bot: bool, user_type: Option<&str>) -> AccountKind {
        match user_type {
            Some("service_account") => AccountKind::ServiceAccount,
            Some("project_bot") => AccountKind::Bot,
            Some("human") => AccountKind::Human,
            _ if bot => AccountKind::Bot,
            _ => AccountKind::Human,
        }
    }

    /// The kind from the username alone, for listings that carry neither `bot` nor `user_type`
    /// (the member entity). GitLab names the users it creates for machines itself: the user
    /// behind a project or group access token is `project_{id}_bot_{hex}` /
    /// `group_{id}_bot_{hex}` (before GitLab 13.x `project_{id}_bot` with an optional counter),
    /// and a service account is `service_account_{hex}` (instance) or
    /// `service_account_group_{id}_{hex}` (group). A service account created with a username
    /// of its own choosing reads as a person here; only an instance scope (`user_type` in the
    /// admin user listing) tells it apart.
    pub fn from_username(username: &str) -> AccountKind {
        if username.starts_with("service_account_") {
            return AccountKind::ServiceAccount;
        }
        let token_bot = |rest: &str| {
            rest.split_once("_bot").is_some_and(|(id, tail)| {
                !id.is_empty()
                    && id.bytes().all(|b| b.is_ascii_digit())
                    && (tail.is_empty()
                        || tail.bytes().all(|b| b.is_ascii_digit())
                        || tail
                            .strip_prefix('_')
                            .is_some_and(|hex| !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit())))
            })
        };
        match username
            .strip_prefix("project_")
            .or_else(|| username.strip_prefix("group_"))
        {
            Some(rest) if token_bot(rest) => AccountKind::Bot,
            _ => AccountKind::Human,
        }
    }
}

/// An account's state. `PendingInvite` stands for an invitation by e-mail that no account has
/// accepted yet: it grants nothing today but will the moment someone accepts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountState {
    Active,
    Blocked,
    /// Blocked by the LDAP sync rather than by an administrator.
    LdapBlocked,
    /// Signed up and waiting for an administrator's approval.
    BlockedPendingApproval,
    Deactivated,
    Banned,
    PendingInvite,
}

impl AccountState {
    pub const ALL: [AccountState; 7] = [
        AccountState::Active,
        AccountState::Blocked,
        AccountState::LdapBlocked,
        AccountState::BlockedPendingApproval,
        AccountState::Deactivated,
        AccountState::Banned,
        AccountState::PendingInvite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Active => "active",
            AccountState::Blocked => "blocked",
            AccountState::LdapBlocked => "ldap-blocked",
            AccountState::BlockedPendingApproval => "blocked-pending-approval",
            AccountState::Deactivated => "deactivated",
            AccountState::Banned => "banned",
            AccountState::PendingInvite => "pending-invite",
        }
    }

    pub fn parse(text: &str) -> Option<AccountState> {
        AccountState::ALL.into_iter().find(|state| state.as_str() == text)
    }

    /// GitLab's `state` field (snake case) to the domain's state.
    pub fn from_gitlab(state: &str) -> Option<AccountState> {
        match state {
            "active" => Some(AccountState::Active),
            "blocked" => Some(AccountState::Blocked),
            "ldap_blocked" => Some(AccountState::LdapBlocked),
            "blocked_pending_approval" => Some(AccountState::BlockedPendingApproval),
            "deactivated" => Some(AccountState::Deactivated),
            "banned" => Some(AccountState::Banned),
            _ => None,
        }
    }

    /// Whether the account can sign in and use what it is granted right now.
    pub fn can_act(self) -> bool {
        self == AccountState::Active
    }
}

/// One of GitLab's access levels. Only the levels GitLab defines exist, so a stray number from
/// a response or a request is refused at the boundary instead of being compared later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccessLevel(u8);

impl AccessLevel {
    pub const MINIMAL_ACCESS: AccessLevel = AccessLevel(5);
    pub const GUEST: AccessLevel = AccessLevel(10);
    pub const PLANNER: AccessLevel = AccessLevel(15);
    pub const REPORTER: AccessLevel = AccessLevel(20);
    pub const SECURITY_MANAGER: AccessLevel = AccessLevel(25);
    pub const DEVELOPER: AccessLevel = AccessLevel(30);
    pub const MAINTAINER: AccessLevel = AccessLevel(40);
    pub const OWNER: AccessLevel = AccessLevel(50);

    pub const ALL: [AccessLevel; 8] = [
        AccessLevel::MINIMAL_ACCESS,
        AccessLevel::GUEST,
        AccessLevel::PLANNER,
        AccessLevel::REPORTER,
        AccessLevel::SECURITY_MANAGER,
        AccessLevel::DEVELOPER,
        AccessLevel::MAINTAINER,
        AccessLevel::OWNER,
    ];

    pub fn from_number(level: i64) -> Option<AccessLevel> {
        AccessLevel::ALL
            .into_iter()
            .find(|known| i64::from(known.0) == level)
    }

    pub fn number(self) -> u8 {
        self.0
    }

    pub fn name(self) -> &'static str {
        match self.0 {
            5 => "Minimal Access",
            10 => "Guest",
            15 => "Planner",
            20 => "Reporter",
            25 => "Security Manager",
            30 => "Developer",
            40 => "Maintainer",
            _ => "Owner",
        }
    }

    /// Minimal Access lets a member see the group they were added to and nothing below it, so
    /// it is the one level that neither inherits nor travels through shares.
    pub fn propagates(self) -> bool {
        self > AccessLevel::MINIMAL_ACCESS
    }
}

impl fmt::Display for AccessLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// A custom role (GitLab Ultimate's member role), assigned on top of its base access level.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CustomRole {
    pub id: u64,
    pub name: String,
}

/// What a membership or a grant confers: a level, and the custom role built on it if any.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Role {
    pub level: AccessLevel,
    pub custom: Option<CustomRole>,
}

impl Role {
    pub fn level(level: AccessLevel) -> Role {
        Role { level, custom: None }
    }

    /// The role limited to `cap`: a custom role survives only when its base fits under the cap,
    /// because its extra permissions are defined relative to that base.
    pub fn capped(&self, cap: AccessLevel) -> Role {
        if self.level <= cap {
            self.clone()
        } else {
            Role::level(cap)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Visibility {
    Private,
    Internal,
    Public,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Internal => "internal",
            Visibility::Public => "public",
        }
    }

    /// GitLab and labgate spell visibilities alike.
    pub fn parse(text: &str) -> Option<Visibility> {
        match text {
            "private" => Some(Visibility::Private),
            "internal" => Some(Visibility::Internal),
            "public" => Some(Visibility::Public),
            _ => None,
        }
    }
}

/// A sign-in identity linked to an account (LDAP, SAML, OmniAuth provider).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub provider: String,
    pub extern_uid: String,
}

/// A GitLab account as the sync saw it. Fields GitLab shows only to administrators are `None`
/// when the token could not see them, which is not the same as false or empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: GitLabUserId,
    pub username: String,
    pub name: String,
    pub kind: AccountKind,
    pub state: AccountState,
    pub admin: Option<bool>,
    pub email: Option<String>,
    pub identities: Vec<Identity>,
    pub last_sign_in_at: Option<time::OffsetDateTime>,
    pub last_activity_on: Option<Date>,
}

/// A group in the tree. `parent` is `None` for a top-level group (or for the top of the synced
/// scope when only part of an instance is visible).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: GitLabGroupId,
    pub parent: Option<GitLabGroupId>,
    pub full_path: String,
    pub name: String,
    pub visibility: Visibility,
}

/// A project; `group` is `None` when it lives in a user's personal namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: GitLabProjectId,
    pub group: Option<GitLabGroupId>,
    pub full_path: String,
    pub name: String,
    pub visibility: Visibility,
}

/// A direct membership as GitLab lists it on `/groups/:id/members` or `/projects/:id/members`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub account: GitLabUserId,
    pub resource: Resource,
    pub role: Role,
    pub expires_at: Option<Date>,
}

/// `resource` shared with (invited) group `shared_with`, whose members get at most `cap` on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub resource: Resource,
    pub shared_with: GitLabGroupId,
    pub cap: AccessLevel,
    pub expires_at: Option<Date>,
}

/// GitLab ends a membership or share at 00:00 UTC on its expiry date.
pub fn in_force(expires_at: Option<Date>, today: Date) -> bool {
    expires_at.is_none_or(|date| date > today)
}

/// The earlier of two expiry dates, where `None` means never.
pub fn earliest(a: Option<Date>, b: Option<Date>) -> Option<Date> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_levels_are_only_gitlabs() {
        for level in [5, 10, 15, 20, 25, 30, 40, 50] {
            let parsed = AccessLevel::from_number(level).unwrap();
            assert_eq!(i64::from(parsed.number()), level);
        }
        for level in [-1, 0, 1, 11, 35, 60, 256] {
            assert_eq!(AccessLevel::from_number(level), None, "{level}");
        }
        assert_eq!(AccessLevel::PLANNER.name(), "Planner");
        assert_eq!(AccessLevel::MINIMAL_ACCESS.to_string(), "Minimal Access (5)");
        assert!(AccessLevel::GUEST.propagates());
        assert!(!AccessLevel::MINIMAL_ACCESS.propagates());
    }

    #[test]
    fn states_round_trip_and_read_gitlab_spellings() {
        for state in AccountState::ALL {
            assert_eq!(AccountState::parse(state.as_str()), Some(state));
        }
        assert_eq!(
            AccountState::from_gitlab("ldap_blocked"),
            Some(AccountState::LdapBlocked)
        );
        assert_eq!(
            AccountState::from_gitlab("blocked_pending_approval"),
            Some(AccountState::BlockedPendingApproval)
        );
        assert_eq!(AccountState::from_gitlab("pending-invite"), None);
        assert_eq!(AccountState::from_gitlab("frozen"), None);
        assert!(AccountState::Active.can_act());
        assert!(!AccountState::Deactivated.can_act());
    }

    #[test]
    fn kinds_follow_user_type_before_the_bot_flag() {
        assert_eq!(
            AccountKind::from_gitlab(true, Some("service_account")),
            AccountKind::ServiceAccount
        );
        assert_eq!(
            AccountKind::from_gitlab(true, Some("project_bot")),
            AccountKind::Bot
        );
        assert_eq!(AccountKind::from_gitlab(true, None), AccountKind::Bot);
        assert_eq!(AccountKind::from_gitlab(false, None), AccountKind::Human);
        for kind in [AccountKind::Human, AccountKind::Bot, AccountKind::ServiceAccount] {
            assert_eq!(AccountKind::parse(kind.as_str()), Some(kind));
        }
    }

    #[test]
    fn machine_users_are_told_by_the_names_gitlab_gives_them() {
        for bot in [
            "project_12_bot_3f9a0c1d2e4b5a6c",
            "group_7_bot_ab12",
            "project_12_bot",
            "project_12_bot2",
        ] {
            assert_eq!(AccountKind::from_username(bot), AccountKind::Bot, "{bot}");
        }
        for service in ["service_account_3f9a0c1d", "service_account_group_42_9b8a7c6d"] {
            assert_eq!(
                AccountKind::from_username(service),
                AccountKind::ServiceAccount,
                "{service}"
            );
        }
        for human in [
            "alice",
            "project_bot",
            "project_x_bot_ab",
            "group_7_botanist",
            "project_12_bot_notes",
            "my_service_account_x",
        ] {
            assert_eq!(AccountKind::from_username(human), AccountKind::Human, "{human}");
        }
    }

    #[test]
    fn capping_drops_a_custom_role_only_when_its_base_exceeds_the_cap() {
        let custom = Role {
            level: AccessLevel::DEVELOPER,
            custom: Some(CustomRole {
                id: 7,
                name: "Auditor".into(),
            }),
        };
        assert_eq!(custom.capped(AccessLevel::MAINTAINER), custom);
        assert_eq!(custom.capped(AccessLevel::DEVELOPER), custom);
        assert_eq!(
            custom.capped(AccessLevel::REPORTER),
            Role::level(AccessLevel::REPORTER)
        );
    }

    #[test]
    fn expiry_ends_at_the_start_of_the_day() {
        let today = time::macros::date!(2026 - 12 - 02);
        assert!(in_force(None, today));
        assert!(in_force(Some(time::macros::date!(2026 - 12 - 03)), today));
        assert!(!in_force(Some(today), today));
        assert_eq!(earliest(Some(today), None), Some(today));
        assert_eq!(
            earliest(Some(today), Some(time::macros::date!(2026 - 01 - 01))),
            Some(time::macros::date!(2026 - 01 - 01))
        );
        assert_eq!(earliest(None, None), None);
    }
}
