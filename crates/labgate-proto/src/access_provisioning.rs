//! Access provisioning on an access source's GitLab: create an account (or invite one on
//! GitLab.com), grant, revoke, and graded deprovisioning, each planned from live GitLab reads,
//! dry-runnable, journalled step by step and audited.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

crate::text_enum! {
    /// What a provisioning operation does.
    #[derive(utoipa::ToSchema)]
    pub enum ProvisioningAction {
        /// Self-managed: a new account (`POST /users`). GitLab.com: an invitation to the source's
        /// group, a pending account until it is accepted.
        CreateAccount = "create-account",
        /// A direct membership at a level, or a new level for a direct member.
        Grant = "grant",
        /// Removes a direct membership; inherited access is reported with where it comes from.
        Revoke = "revoke",
        /// The steps chosen in `steps`, in a safe order.
        Deprovision = "deprovision",
    }
}

crate::text_enum! {
    /// A step a caller may choose: the deprovisioning ladder, and, on a revoke of inherited
    /// access, the removal where that access is granted.
    #[derive(utoipa::ToSchema)]
    pub enum ProvisioningStepChoice {
        /// Every pending invitation of the account's e-mail in the source.
        CancelInvitations = "cancel-invitations",
        /// The account's personal access tokens (self-managed, administrator connection).
        RevokeTokens = "revoke-tokens",
        /// Every membership in the source: the whole hierarchy of a GitLab.com group through its
        /// billable members, each direct membership on a self-managed instance.
        RemoveMemberships = "remove-memberships",
        /// Self-managed: the account can no longer sign in or use its tokens.
        Block = "block",
        /// Self-managed: the account is dormant until its owner signs in again.
        Deactivate = "deactivate",
        /// Self-managed: the account is deleted (needs `confirm` set to its username).
        Delete = "delete",
        /// On a revoke: remove the membership in the group that grants the inherited access.
        RemoveAtSource = "remove-at-source",
    }
}

crate::text_enum! {
    /// How an operation stands.
    #[derive(utoipa::ToSchema)]
    pub enum ProvisioningStatus {
        /// A dry run: the steps are what would happen; nothing was changed.
        Planned = "planned",
        Running = "running",
        Succeeded = "succeeded",
        /// Nothing needed doing: GitLab already matches the request.
        Unchanged = "unchanged",
        /// Nothing was done: the request needs a choice the caller has not made (see the
        /// offered steps).
        Blocked = "blocked",
        /// Some steps were applied, then one failed; the rest did not run.
        Partial = "partial",
        Failed = "failed",
    }
}

crate::text_enum! {
    /// How one step stands.
    #[derive(utoipa::ToSchema)]
    pub enum ProvisioningStepStatus {
        /// Will run (or, in a dry run, would run).
        Pending = "pending",
        /// Was called at GitLab; not yet known to have been applied.
        Started = "started",
        Applied = "applied",
        /// Not needed: GitLab already matches.
        Skipped = "skipped",
        /// Offered to the caller, not chosen: pass its name in `steps` to run it.
        Offered = "offered",
        Failed = "failed",
        /// Did not run because an earlier step failed.
        NotRun = "not-run",
    }
}

/// `POST /api/v1/access/provisioning`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvisioningRequest {
    #[schema(max_length = 36)]
    pub source_id: String,
    pub action: ProvisioningAction,
    /// The account: a username, or an e-mail address (matched exactly; an unknown or ambiguous
    /// address is 422). For `create-account`, the new username (or, on GitLab.com, the e-mail
    /// to invite).
    #[schema(min_length = 1, max_length = 255)]
    pub account: String,
    /// `create-account`: the new account's e-mail address (self-managed) or the address to
    /// invite (GitLab.com, when `account` is not one).
    #[serde(default)]
    #[schema(max_length = 255)]
    pub email: Option<String>,
    /// `create-account` on a self-managed instance: the display name (default: the username).
    #[serde(default)]
    #[schema(max_length = 255)]
    pub name: Option<String>,
    /// `create-account` on a self-managed instance: GitLab e-mails a link to set the password
    /// (default true). Otherwise a strong random password is set that nobody is told.
    #[serde(default)]
    pub reset_password: Option<bool>,
    /// `create-account` on a self-managed instance: no e-mail confirmation needed (default false).
    #[serde(default)]
    pub skip_confirmation: Option<bool>,
    /// `grant`, `revoke`: the group or project's full path (or numeric id). `create-account` on
    /// GitLab.com: where to invite (default: the source's group).
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub resource: Option<String>,
    /// `grant` and GitLab.com `create-account`: 5 (Minimal Access), 10, 15 (Planner), 20, 25,
    /// 30, 40 or 50.
    #[serde(default)]
    pub access_level: Option<i64>,
    /// `grant`: a custom role built on `accessLevel`.
    #[serde(default)]
    pub member_role_id: Option<u64>,
    /// `grant` and invitations: the date (`YYYY-MM-DD`) the membership ends.
    #[serde(default)]
    #[schema(max_length = 10)]
    pub expires_at: Option<String>,
    /// `deprovision`: the ladder steps to run (run in a safe order whatever the order given).
    /// `revoke`: `remove-at-source` to remove inherited access where it is granted.
    #[serde(default)]
    pub steps: Option<Vec<ProvisioningStepChoice>>,
    /// `deprovision` with `delete`: the account's username, typed out.
    #[serde(default)]
    #[schema(max_length = 255)]
    pub confirm: Option<String>,
    /// Plan only: read GitLab, explain every step, change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// One step of an operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningStepView {
    /// e.g. `create-user`, `invite`, `add-member`, `change-level`, `remove-member`,
    /// `remove-at-source`, `cancel-invitations`, `revoke-tokens`, `remove-memberships`, `block`,
    /// `deactivate`, `delete`.
    pub name: String,
    pub status: ProvisioningStepStatus,
    /// What happened, or (planned, skipped, offered) what would and why.
    pub message: String,
    /// What the step acts on, e.g. `group acme/platform`.
    pub target: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningAccountView {
    /// The GitLab user id; absent for an account that does not exist yet.
    pub id: Option<u64>,
    pub username: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningOperationView {
    pub id: String,
    pub source_id: String,
    pub action: ProvisioningAction,
    pub status: ProvisioningStatus,
    pub dry_run: bool,
    pub account: ProvisioningAccountView,
    /// The outcome in one sentence.
    pub message: Option<String>,
    pub steps: Vec<ProvisioningStepView>,
    pub created_at: String,
    pub finished_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningResponse {
    pub operation: ProvisioningOperationView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningList {
    pub operations: Vec<ProvisioningOperationView>,
    /// Operations matching in all, beyond this page too.
    pub total_count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProvisioningListQuery {
    /// Only this access source's operations.
    #[param(max_length = 36)]
    pub source_id: Option<String>,
    /// Records to skip (default 0).
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807_u64)]
    pub offset: Option<u64>,
    /// Records to return, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}
