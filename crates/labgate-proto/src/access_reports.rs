//! The read side of access sync: the accounts, groups, projects and effective grants of an
//! access source's latest successful sync, what changed between two syncs, and their exports.
//!
//! Every list answers from the source's newest succeeded sync and names it in `lastSync`; a
//! source that has not synced successfully yet answers empty lists with `lastSync: null`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

crate::text_enum! {
    /// What kind of principal an account is.
    #[derive(utoipa::ToSchema)]
    pub enum AccessAccountKind {
        Human = "human",
        /// The user behind a project or group access token.
        Bot = "bot",
        ServiceAccount = "service-account",
    }
}

crate::text_enum! {
    /// An account's state at GitLab. `pending-invite` is an e-mail invitation nobody accepted yet.
    #[derive(utoipa::ToSchema)]
    pub enum AccessAccountState {
        Active = "active",
        Blocked = "blocked",
        LdapBlocked = "ldap-blocked",
        BlockedPendingApproval = "blocked-pending-approval",
        Deactivated = "deactivated",
        Banned = "banned",
        PendingInvite = "pending-invite",
    }
}

crate::text_enum! {
    #[derive(utoipa::ToSchema)]
    pub enum AccessResourceKind {
        Group = "group",
        Project = "project",
    }
}

crate::text_enum! {
    /// How a grant reaches its resource.
    #[derive(utoipa::ToSchema)]
    pub enum AccessGrantPathKind {
        /// A membership on the resource itself.
        Direct = "direct",
        /// A membership on an ancestor group (`via`).
        Inherited = "inherited",
        /// Membership of a group (`via`) the resource, or an ancestor of it (`sharedAt`), was
        /// shared with, capped at the share's level (`cappedAt`).
        Shared = "shared",
    }
}

crate::text_enum! {
    #[derive(utoipa::ToSchema)]
    pub enum AccessVisibility {
        Private = "private",
        Internal = "internal",
        Public = "public",
    }
}

crate::text_enum! {
    /// Formats of the access exports.
    #[derive(utoipa::ToSchema)]
    pub enum AccessExportFormat {
        Json = "json",
        Csv = "csv",
    }
}

/// The sync a listing answers from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessSyncRef {
    #[schema(format = "uuid")]
    pub id: String,
    /// When the sync finished (RFC 3339).
    pub finished_at: Option<String>,
}

/// A sign-in identity linked to an account (LDAP, SAML, OmniAuth provider).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessIdentityView {
    pub provider: String,
    pub extern_uid: String,
}

/// A GitLab account as the sync saw it. `isAdmin` and `email` are null when the sync's token could
/// not see them (GitLab shows them to administrators only), which is not the same as false.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessAccountView {
    /// The GitLab user id.
    pub id: u64,
    pub username: String,
    pub name: String,
    pub kind: AccessAccountKind,
    pub state: AccessAccountState,
    pub is_admin: Option<bool>,
    pub email: Option<String>,
    pub identities: Vec<AccessIdentityView>,
    /// RFC 3339.
    pub last_sign_in_at: Option<String>,
    /// `YYYY-MM-DD`.
    pub last_activity_on: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessAccountList {
    pub accounts: Vec<AccessAccountView>,
    pub total_count: u64,
    pub last_sync: Option<AccessSyncRef>,
}

/// A custom role (GitLab Ultimate's member role) on top of its base level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessCustomRoleView {
    pub id: u64,
    pub name: String,
}

/// One of GitLab's access levels: its number and its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessLevelValue {
    /// 5 (Minimal Access), 10, 15, 20, 25, 30, 40 or 50 (Owner).
    pub value: u8,
    /// e.g. `Developer`.
    pub name: String,
}

/// What a grant confers: a level, and the custom role built on it if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessRoleView {
    pub value: u8,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_role: Option<AccessCustomRoleView>,
}

/// A group or project by its GitLab id and full path (null when the sync did not see it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessResourceRef {
    pub kind: AccessResourceKind,
    pub id: u64,
    pub full_path: Option<String>,
}

/// An account by its GitLab id and username (null when the sync did not see it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessAccountRef {
    pub id: u64,
    pub username: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessGrantPathView {
    pub kind: AccessGrantPathKind,
    /// The group whose membership grants: the ancestor (`inherited`) or the invited group
    /// (`shared`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<AccessResourceRef>,
    /// Where the share was made: the resource itself or an ancestor group (`shared` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_at: Option<AccessResourceRef>,
    /// The share's level, the most this path grants (`shared` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capped_at: Option<AccessLevelValue>,
}

/// One account's effective access to one resource, by the path that grants the most.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessGrantView {
    pub account: AccessAccountRef,
    pub resource: AccessResourceRef,
    pub access_level: AccessRoleView,
    pub path: AccessGrantPathView,
    /// The day this path stops granting (`YYYY-MM-DD`), if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessGrantList {
    pub grants: Vec<AccessGrantView>,
    pub total_count: u64,
    pub last_sync: Option<AccessSyncRef>,
}

/// A group or a project the sync saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessResourceView {
    pub kind: AccessResourceKind,
    /// The GitLab group or project id.
    pub id: u64,
    pub name: String,
    pub full_path: String,
    /// The parent group (a group's parent, a project's group); null at the top of the synced
    /// scope and for projects in personal namespaces.
    pub parent: Option<AccessResourceRef>,
    pub visibility: AccessVisibility,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessResourceList {
    pub resources: Vec<AccessResourceView>,
    pub total_count: u64,
    pub last_sync: Option<AccessSyncRef>,
}

/// A grant whose level, custom role, path or expiry changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessGrantChangeView {
    pub before: AccessGrantView,
    pub after: AccessGrantView,
}

/// How many entries each part of a diff has in all; its lists hold the first `limit` of each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessDiffCounts {
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    pub new_admins: u64,
    pub new_owners: u64,
}

/// The most entries a diff's list holds unless `limit` says otherwise.
pub const DEFAULT_DIFF_LIMIT: u32 = 1_000;
/// The most entries a diff's list can be asked to hold.
pub const MAX_DIFF_LIMIT: u32 = 10_000;

/// What changed from the previous successful sync of the same source (`base`) to this one. The
/// first successful sync has no base: everything it saw is added. Each list holds its first
/// `limit` entries in account, then resource order; `counts` says how many there are in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessDiffView {
    /// The access source both syncs belong to.
    #[schema(format = "uuid")]
    pub source_id: String,
    pub sync: AccessSyncRef,
    pub base: Option<AccessSyncRef>,
    pub added: Vec<AccessGrantView>,
    pub removed: Vec<AccessGrantView>,
    pub changed: Vec<AccessGrantChangeView>,
    /// Accounts that are administrators now and were not before (an admin flag the token could
    /// not see counts as unknown, not as a change).
    pub new_admins: Vec<AccessAccountView>,
    /// Grants at Owner level where the account had less (or nothing) before.
    pub new_owners: Vec<AccessGrantView>,
    pub counts: AccessDiffCounts,
}

// The bounds in the `param` attribute are DEFAULT_DIFF_LIMIT and MAX_DIFF_LIMIT spelled out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccessDiffQuery {
    /// The most entries each list holds (default 1000). A large instance's first sync adds
    /// millions of grants: `counts` has the totals.
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
}

// The bounds in the `param` attributes are MAX_OFFSET and MAX_LIMIT spelled out (see pagination).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccessAccountListQuery {
    /// The access source (required: without it the answer is a 400 naming `sourceId`).
    #[param(max_length = 36, required = true)]
    pub source_id: Option<String>,
    /// Part of a username, name or e-mail, in any letter case.
    #[param(max_length = 255)]
    pub search: Option<String>,
    /// Records to skip (default 0).
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_u64)]
    pub offset: Option<u64>,
    /// Records to return, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccessGrantListQuery {
    /// The access source (required: without it the answer is a 400 naming `sourceId`).
    #[param(max_length = 36, required = true)]
    pub source_id: Option<String>,
    /// Only this account's grants (its username).
    #[param(max_length = 255)]
    pub account: Option<String>,
    /// Only grants on this group or project (its full path).
    #[param(max_length = 1024)]
    pub resource: Option<String>,
    /// Records to skip (default 0).
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_u64)]
    pub offset: Option<u64>,
    /// Records to return, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccessResourceListQuery {
    /// The access source (required: without it the answer is a 400 naming `sourceId`).
    #[param(max_length = 36, required = true)]
    pub source_id: Option<String>,
    pub kind: Option<AccessResourceKind>,
    /// Part of a full path or name, in any letter case.
    #[param(max_length = 255)]
    pub search: Option<String>,
    /// Records to skip (default 0).
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_u64)]
    pub offset: Option<u64>,
    /// Records to return, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccessAccountExportQuery {
    /// The access source (required: without it the answer is a 400 naming `sourceId`).
    #[param(max_length = 36, required = true)]
    pub source_id: Option<String>,
    /// `json` (the default) or `csv`.
    pub format: Option<AccessExportFormat>,
    /// Part of a username, name or e-mail, in any letter case.
    #[param(max_length = 255)]
    pub search: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccessGrantExportQuery {
    /// The access source (required: without it the answer is a 400 naming `sourceId`).
    #[param(max_length = 36, required = true)]
    pub source_id: Option<String>,
    /// `json` (the default) or `csv`.
    pub format: Option<AccessExportFormat>,
    /// Only this account's grants (its username).
    #[param(max_length = 255)]
    pub account: Option<String>,
    /// Only grants on this group or project (its full path).
    #[param(max_length = 1024)]
    pub resource: Option<String>,
}
