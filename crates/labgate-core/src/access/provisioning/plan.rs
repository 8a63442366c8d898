//! Planning: what an operation would do, read live from GitLab before anything changes. The
//! same plan is what a dry run shows and what a real run journals and carries out.

use futures_util::TryStreamExt;
use labgate_gitlab::{
    Credential, GitLabClient, GitLabError, GroupFilter, ProjectFilter, ResourceId, TokenFilter, User,
    UserFilter,
};
use time::Date;

use super::call::{Call, Place, PlaceKind, direct_member};
use super::{Action, DeprovisionStep, ProvisioningError, Scope, StepStatus};
use crate::access::model::AccessLevel;

/// One planned step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlannedStep {
    pub name: &'static str,
    pub target: Option<String>,
    /// `None` for a step that makes no call: skipped or offered.
    pub call: Option<Call>,
    pub status: StepStatus,
    pub message: String,
}

impl PlannedStep {
    fn run(name: &'static str, target: String, call: Call, message: String) -> PlannedStep {
        PlannedStep {
            name,
            target: Some(target),
            call: Some(call),
            status: StepStatus::Pending,
            message,
        }
    }

    fn skipped(name: &'static str, target: Option<String>, message: String) -> PlannedStep {
        PlannedStep {
            name,
            target,
            call: None,
            status: StepStatus::Skipped,
            message,
        }
    }
}

/// The account an operation is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    pub id: Option<u64>,
    pub username: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub account: Account,
    pub steps: Vec<PlannedStep>,
}

/// Reads GitLab through one connection to plan operations in one scope.
pub(crate) struct Planner<'a> {
    pub client: &'a GitLabClient,
    pub cred: &'a Credential,
    pub scope: &'a Scope,
}

/// Why a place or an account could not be read, for the person who named it.
fn unreadable(field: &'static str, what: &str, error: &GitLabError) -> ProvisioningError {
    if error.is_transient() {
        ProvisioningError::Core(crate::CoreError::Unavailable(format!(
            "GitLab could not be reached: {error}"
        )))
    } else {
        ProvisioningError::unprocessable(field, format!("cannot read {what} at GitLab: {error}"))
    }
}

/// The access someone has on a place through something other than a direct membership there.
#[derive(Debug, Clone)]
struct Inherited {
    level: u8,
    /// The group whose direct membership grants it.
    granted_at: Place,
    /// How, for people: `a direct membership of group acme` or `… shared with …`.
    how: String,
}

fn level_text(level: u8) -> String {
    AccessLevel::from_number(i64::from(level)).map_or_else(|| format!("level {level}"), |l| l.to_string())
}

/// Every proper prefix of a full path, nearest first: `a/b/c` → `a/b`, `a`.
fn ancestor_paths(full_path: &str) -> Vec<String> {
    let parts: Vec<&str> = full_path.split('/').collect();
    (1..parts.len())
        .rev()
        .map(|n| parts.iter().take(n).copied().collect::<Vec<_>>().join("/"))
        .collect()
}

impl Planner<'_> {
    // --- resolution -------------------------------------------------------------------------

    /// The account `given` names: a username, or an e-mail address matched exactly. Unknown or
    /// ambiguous is 422 with the reason.
    pub async fn resolve_account(&self, given: &str) -> Result<User, ProvisioningError> {
        if given.contains('@') {
            return self.resolve_email(given).await;
        }
        let filter = UserFilter {
            username: Some(given.to_owned()),
            ..UserFilter::default()
        };
        let users: Vec<User> = self
            .client
            .users(self.cred, &filter)
            .try_collect()
            .await
            .map_err(|e| unreadable("account", "the account", &e))?;
        users
            .into_iter()
            .find(|u| u.username.eq_ignore_ascii_case(given))
            .ok_or_else(|| {
                ProvisioningError::unprocessable(
                    "account",
                    format!("no GitLab account has the username {given:?}"),
                )
            })
    }

    async fn resolve_email(&self, email: &str) -> Result<User, ProvisioningError> {
        let filter = UserFilter {
            search: Some(email.to_owned()),
            ..UserFilter::default()
        };
        let candidates: Vec<User> = self
            .client
            .users(self.cred, &filter)
            .try_collect()
            .await
            .map_err(|e| unreadable("account", "the account", &e))?;
        // GitLab's search also matches parts of usernames and names: only an exact address counts.
        let mut matches: Vec<User> = candidates
            .into_iter()
            .filter(|u| {
                u.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(email))
                    || u.public_email.eq_ignore_ascii_case(email)
            })
            .collect();
        matches.dedup_by_key(|u| u.id);
        match matches.len() {
            1 => Ok(matches.remove(0)),
            0 => Err(ProvisioningError::unprocessable(
                "account",
                match self.scope {
                    Scope::Instance => format!("no GitLab account has the e-mail address {email:?}"),
                    Scope::Group { .. } => format!(
                        "no GitLab account shows the e-mail address {email:?}: on GitLab.com only public addresses \
                         can be matched; name the account by username"
                    ),
                },
            )),
            _ => Err(ProvisioningError::unprocessable(
                "account",
                format!(
                    "the e-mail address {email:?} matches several accounts ({}); name one by username",
                    matches
                        .iter()
                        .map(|u| u.username.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    /// The group or project `given` (a full path or an id), which must lie in the scope.
    async fn resolve_place(
        &self,
        given: &str,
    ) -> Result<(Place, Vec<labgate_gitlab::SharedWithGroup>), ProvisioningError> {
        let id = ResourceId::from(given.trim_matches('/'));
        let (place, shares) = match self.client.group(self.cred, &id).await {
            Ok(group) => (
                Place {
                    kind: PlaceKind::Group,
                    id: group.id,
                    full_path: group.full_path,
                },
                group.shared_with_groups,
            ),
            Err(GitLabError::NotFound { .. }) => match self.client.project(self.cred, &id).await {
                Ok(project) => (
                    Place {
                        kind: PlaceKind::Project,
                        id: project.id,
                        full_path: project.path_with_namespace,
                    },
                    project.shared_with_groups,
                ),
                Err(GitLabError::NotFound { .. }) => {
                    return Err(ProvisioningError::unprocessable(
                        "resource",
                        format!("no GitLab group or project {given:?} is visible to the source's connection"),
                    ));
                }
                Err(other) => return Err(unreadable("resource", "the project", &other)),
            },
            Err(other) => return Err(unreadable("resource", "the group", &other)),
        };
        if let Scope::Group { full_path } = self.scope
            && !(place.full_path.eq_ignore_ascii_case(full_path)
                || place
                    .full_path
                    .to_lowercase()
                    .starts_with(&format!("{}/", full_path.to_lowercase())))
        {
            return Err(ProvisioningError::unprocessable(
                "resource",
                format!("{} lies outside the source's group {full_path}", place.describe()),
            ));
        }
        Ok((place, shares))
    }

    /// The source's top-level group (group scope).
    async fn root_group(&self) -> Result<Option<Place>, ProvisioningError> {
        let Scope::Group { full_path } = self.scope else {
            return Ok(None);
        };
        let group = self
            .client
            .group(self.cred, &ResourceId::Path(full_path.clone()))
            .await
            .map_err(|e| unreadable("sourceId", "the source's group", &e))?;
        Ok(Some(Place {
            kind: PlaceKind::Group,
            id: group.id,
            full_path: group.full_path,
        }))
    }

    /// The highest access `user_id` has on `place` through the groups above it and through
    /// groups shared with it or with them, from their direct members as GitLab lists them now.
    async fn inherited(
        &self,
        place: &Place,
        shares: &[labgate_gitlab::SharedWithGroup],
        user_id: u64,
    ) -> Result<Option<Inherited>, ProvisioningError> {
        let read = |e: GitLabError| unreadable("resource", "the memberships above it", &e);
        let mut best: Option<Inherited> = None;
        let mut consider = |candidate: Inherited| {
            if best.as_ref().is_none_or(|b| candidate.level > b.level) {
                best = Some(candidate);
            }
        };
        // For a group the first ancestor is its parent; for a project, its namespace.
        let mut shared: Vec<(labgate_gitlab::SharedWithGroup, String)> =
            shares.iter().map(|s| (s.clone(), place.describe())).collect();
        for path in ancestor_paths(&place.full_path) {
            let group = match self
                .client
                .group(self.cred, &ResourceId::Path(path.clone()))
                .await
            {
                Ok(group) => group,
                // A project in a personal namespace: no group above it.
                Err(GitLabError::NotFound { .. }) => continue,
                Err(other) => return Err(read(other)),
            };
            let ancestor = Place {
                kind: PlaceKind::Group,
                id: group.id,
                full_path: group.full_path.clone(),
            };
            shared.extend(
                group
                    .shared_with_groups
                    .iter()
                    .map(|s| (s.clone(), ancestor.describe())),
            );
            if let Some((level, _, _)) = direct_member(self.client, self.cred, &ancestor, user_id)
                .await
                .map_err(read)?
                && level > AccessLevel::MINIMAL_ACCESS.number()
            {
                consider(Inherited {
                    level,
                    how: format!(
                        "a direct membership of {} ({})",
                        ancestor.describe(),
                        level_text(level)
                    ),
                    granted_at: ancestor,
                });
            }
        }
        for (share, shared_into) in shared {
            let mut member_places = vec![share.group_full_path.clone()];
            member_places.extend(ancestor_paths(&share.group_full_path));
            for path in member_places {
                let group = match self
                    .client
                    .group(self.cred, &ResourceId::Path(path.clone()))
                    .await
                {
                    Ok(group) => group,
                    Err(GitLabError::NotFound { .. }) => continue,
                    Err(other) => return Err(read(other)),
                };
                let member_of = Place {
                    kind: PlaceKind::Group,
                    id: group.id,
                    full_path: group.full_path,
                };
                if let Some((level, _, _)) = direct_member(self.client, self.cred, &member_of, user_id)
                    .await
                    .map_err(read)?
                    && level > AccessLevel::MINIMAL_ACCESS.number()
                {
                    let capped = level.min(share.group_access_level.0);
                    consider(Inherited {
                        level: capped,
                        how: format!(
                            "a direct membership of {} ({}), a group shared with {shared_into} at up to {}",
                            member_of.describe(),
                            level_text(level),
                            level_text(share.group_access_level.0)
                        ),
                        granted_at: member_of,
                    });
                }
            }
        }
        Ok(best)
    }

    // --- actions ----------------------------------------------------------------------------

    pub async fn plan(&self, action: &Action) -> Result<Plan, ProvisioningError> {
        match action {
            Action::CreateAccount(create) => self.plan_create(create).await,
            Action::Grant(grant) => self.plan_grant(grant).await,
            Action::Revoke(revoke) => self.plan_revoke(revoke).await,
            Action::Deprovision(deprovision) => self.plan_deprovision(deprovision).await,
        }
    }

    async fn plan_create(&self, create: &super::CreateAccount) -> Result<Plan, ProvisioningError> {
        match self.scope {
            Scope::Instance => {
                let me = self
                    .client
                    .current_user(self.cred)
                    .await
                    .map_err(|e| unreadable("sourceId", "the connection's user", &e))?;
                if me.is_admin != Some(true) {
                    return Err(ProvisioningError::unprocessable(
                        "sourceId",
                        "the source's connection is not an administrator's: GitLab lets only administrators create accounts",
                    ));
                }
                let username = create.username.clone().unwrap_or_default();
                // Only "no such account" lets the creation go on; GitLab being unreachable does not.
                match self.resolve_account(&username).await {
                    Ok(existing) => {
                        return Err(ProvisioningError::unprocessable(
                            "account",
                            format!("the username {username:?} is taken (account id {})", existing.id),
                        ));
                    }
                    Err(ProvisioningError::Unprocessable { .. }) => {}
                    Err(other) => return Err(other),
                }
                match self.resolve_email(&create.email).await {
                    Ok(existing) => {
                        return Err(ProvisioningError::unprocessable(
                            "email",
                            format!(
                                "the e-mail address {:?} already belongs to the account {}",
                                create.email, existing.username
                            ),
                        ));
                    }
                    Err(ProvisioningError::Unprocessable { message, .. }) if message.contains("several") => {
                        return Err(ProvisioningError::unprocessable("email", message));
                    }
                    Err(ProvisioningError::Unprocessable { .. }) => {}
                    Err(other) => return Err(other),
                }
                let message = format!(
                    "create account {username} <{}>; {}; {}",
                    create.email,
                    if create.reset_password {
                        "GitLab e-mails a link to set the password"
                    } else {
                        "a strong random password is set that nobody is told"
                    },
                    if create.skip_confirmation {
                        "usable at once (e-mail confirmation skipped)"
                    } else {
                        "usable once the e-mail address is confirmed"
                    }
                );
                Ok(Plan {
                    account: Account {
                        id: None,
                        username: Some(username.clone()),
                    },
                    steps: vec![PlannedStep::run(
                        "create-user",
                        format!("account {username}"),
                        Call::CreateUser {
                            username,
                            email: create.email.clone(),
                            name: create.name.clone(),
                            reset_password: create.reset_password,
                            skip_confirmation: create.skip_confirmation,
                        },
                        message,
                    )],
                })
            }
            Scope::Group { .. } => {
                let place = match &create.resource {
                    Some(resource) => self.resolve_place(resource).await?.0,
                    None => self.root_group().await?.ok_or_else(|| {
                        ProvisioningError::unprocessable("resource", "the source names no group")
                    })?,
                };
                let level = create.level.ok_or_else(|| {
                    ProvisioningError::invalid("accessLevel", "an invitation needs an access level")
                })?;
                let pending: Vec<_> = self
                    .client
                    .invitations_of(self.cred, &place.source(), &create.email)
                    .try_collect()
                    .await
                    .map_err(|e| unreadable("resource", "the invitations", &e))?;
                let account = Account {
                    id: None,
                    username: None,
                };
                if let Some(invitation) = pending.first() {
                    return Ok(Plan {
                        account,
                        steps: vec![PlannedStep::skipped(
                            "invite",
                            Some(place.describe()),
                            format!(
                                "{} is already invited to {} as {}",
                                create.email,
                                place.describe(),
                                level_text(invitation.access_level.0)
                            ),
                        )],
                    });
                }
                let message = format!(
                    "invite {} to {} as {level}{}; the account is pending until the invitation is accepted",
                    create.email,
                    place.describe(),
                    create
                        .expires_at
                        .map(|d| format!(" until {d}"))
                        .unwrap_or_default()
                );
                Ok(Plan {
                    account,
                    steps: vec![PlannedStep::run(
                        "invite",
                        place.describe(),
                        Call::Invite {
                            place,
                            email: create.email.clone(),
                            level: level.number(),
                            expires_at: create.expires_at.map(|d| d.to_string()),
                        },
                        message,
                    )],
                })
            }
        }
    }

    async fn plan_grant(&self, grant: &super::Grant) -> Result<Plan, ProvisioningError> {
        let user = self.resolve_account(&grant.account).await?;
        let (place, shares) = self.resolve_place(&grant.resource).await?;
        let level = grant.level;
        if level == AccessLevel::MINIMAL_ACCESS
            && (place.kind == PlaceKind::Project || place.full_path.contains('/'))
        {
            return Err(ProvisioningError::unprocessable(
                "accessLevel",
                "Minimal Access can only be granted on a top-level group",
            ));
        }
        let read = |e: GitLabError| unreadable("resource", "the membership", &e);
        let direct = direct_member(self.client, self.cred, &place, user.id)
            .await
            .map_err(read)?;
        let inherited = self.inherited(&place, &shares, user.id).await?;
        let account = Account {
            id: Some(user.id),
            username: Some(user.username.clone()),
        };
        let target = place.describe();
        let wanted = level_text(level.number());
        if let Some(inherited) = &inherited {
            if direct.is_none() && grant.member_role_id.is_none() && inherited.level >= level.number() {
                return Ok(Plan {
                    account,
                    steps: vec![PlannedStep::skipped(
                        "add-member",
                        Some(target),
                        format!(
                            "not needed: {} already has {} on {} through {}, at least the {wanted} asked for",
                            user.username,
                            level_text(inherited.level),
                            place.describe(),
                            inherited.how
                        ),
                    )],
                });
            }
            if inherited.level > level.number() {
                return Err(ProvisioningError::unprocessable(
                    "accessLevel",
                    format!(
                        "{} inherits {} on {} through {}; GitLab refuses a direct level below it",
                        user.username,
                        level_text(inherited.level),
                        place.describe(),
                        inherited.how
                    ),
                ));
            }
        }
        let expires_at = grant.expires_at.map(|d| d.to_string());
        let step = match direct {
            None => PlannedStep::run(
                "add-member",
                target,
                Call::AddMember {
                    place: place.clone(),
                    user_id: user.id,
                    level: level.number(),
                    expires_at,
                    member_role_id: grant.member_role_id,
                },
                format!(
                    "add {} as a direct member of {} at {wanted}{}{}",
                    user.username,
                    place.describe(),
                    grant
                        .member_role_id
                        .map(|r| format!(" with custom role {r}"))
                        .unwrap_or_default(),
                    inherited
                        .as_ref()
                        .map(|i| format!(" (today {} through {})", level_text(i.level), i.how))
                        .unwrap_or_default()
                ),
            ),
            Some((current, role, current_expiry))
                if current == level.number()
                    && role == grant.member_role_id
                    && current_expiry == grant.expires_at =>
            {
                PlannedStep::skipped(
                    "change-level",
                    Some(target),
                    format!(
                        "not needed: {} is already a direct member of {} at {wanted}",
                        user.username,
                        place.describe()
                    ),
                )
            }
            Some((current, _, _)) => PlannedStep::run(
                "change-level",
                target,
                Call::UpdateMember {
                    place: place.clone(),
                    user_id: user.id,
                    level: level.number(),
                    expires_at,
                    member_role_id: grant.member_role_id,
                },
                format!(
                    "change {}'s direct membership of {} from {} to {wanted}",
                    user.username,
                    place.describe(),
                    level_text(current)
                ),
            ),
        };
        Ok(Plan {
            account,
            steps: vec![step],
        })
    }

    async fn plan_revoke(&self, revoke: &super::Revoke) -> Result<Plan, ProvisioningError> {
        let user = self.resolve_account(&revoke.account).await?;
        let (place, shares) = self.resolve_place(&revoke.resource).await?;
        let direct = direct_member(self.client, self.cred, &place, user.id)
            .await
            .map_err(|e| unreadable("resource", "the membership", &e))?;
        let inherited = self.inherited(&place, &shares, user.id).await?;
        let mut steps = Vec::new();
        match direct {
            Some((level, _, _)) => steps.push(PlannedStep::run(
                "remove-member",
                place.describe(),
                Call::RemoveMember {
                    place: place.clone(),
                    user_id: user.id,
                },
                format!(
                    "remove {}'s direct membership of {} ({})",
                    user.username,
                    place.describe(),
                    level_text(level)
                ),
            )),
            None => steps.push(PlannedStep::skipped(
                "remove-member",
                Some(place.describe()),
                format!("{} is not a direct member of {}", user.username, place.describe()),
            )),
        }
        if let Some(inherited) = inherited {
            let source = inherited.granted_at.clone();
            if revoke.remove_at_source {
                steps.push(PlannedStep::run(
                    "remove-at-source",
                    source.describe(),
                    Call::RemoveMember {
                        place: source.clone(),
                        user_id: user.id,
                    },
                    format!(
                        "remove {}'s direct membership of {}, which grants {} on {}; this also ends the access it \
                         gives to everything else under {}",
                        user.username,
                        source.describe(),
                        level_text(inherited.level),
                        place.describe(),
                        source.full_path
                    ),
                ));
            } else {
                steps.push(PlannedStep {
                    name: "remove-at-source",
                    target: Some(source.describe()),
                    call: None,
                    status: StepStatus::Offered,
                    message: format!(
                        "{} still has {} on {} through {}: pass steps [\"remove-at-source\"] to remove the \
                         membership of {} as well",
                        user.username,
                        level_text(inherited.level),
                        place.describe(),
                        inherited.how,
                        source.describe()
                    ),
                });
            }
        }
        Ok(Plan {
            account: Account {
                id: Some(user.id),
                username: Some(user.username),
            },
            steps,
        })
    }

    async fn plan_deprovision(&self, deprovision: &super::Deprovision) -> Result<Plan, ProvisioningError> {
        let only_invitations = deprovision
            .steps
            .iter()
            .all(|s| *s == DeprovisionStep::CancelInvitations);
        let user = match self.resolve_account(&deprovision.account).await {
            Ok(user) => user,
            // A pending account (an invitation nobody accepted yet) has only its invitations.
            Err(ProvisioningError::Unprocessable { .. })
                if only_invitations && deprovision.account.contains('@') =>
            {
                return Ok(Plan {
                    account: Account {
                        id: None,
                        username: None,
                    },
                    steps: self.invitation_cancellations(&deprovision.account).await?,
                });
            }
            Err(other) => return Err(other),
        };
        let admin_only: Vec<&str> = deprovision
            .steps
            .iter()
            .filter(|s| s.needs_admin())
            .map(|s| s.as_str())
            .collect();
        if matches!(self.scope, Scope::Group { .. }) && !admin_only.is_empty() {
            return Err(ProvisioningError::unprocessable(
                "steps",
                format!(
                    "{} need an instance administrator: a group source (GitLab.com) offers only cancel-invitations and \
                     remove-memberships",
                    admin_only.join(", ")
                ),
            ));
        }
        if deprovision.steps.contains(&DeprovisionStep::Delete)
            && deprovision.confirm.as_deref() != Some(user.username.as_str())
        {
            return Err(ProvisioningError::unprocessable(
                "confirm",
                format!(
                    "deleting an account cannot be undone: set confirm to its username, {:?}",
                    user.username
                ),
            ));
        }
        let read = |e: GitLabError| unreadable("account", "what the account holds", &e);
        let mut steps = Vec::new();
        // The safe order: nothing new can be accepted or used while the rest is taken away, and
        // the account goes last, once everything it held is accounted for.
        for step in DeprovisionStep::LADDER {
            if !deprovision.steps.contains(&step) {
                continue;
            }
            match step {
                DeprovisionStep::CancelInvitations => {
                    let email = user
                        .email
                        .clone()
                        .or_else(|| (!user.public_email.is_empty()).then(|| user.public_email.clone()))
                        .or_else(|| {
                            deprovision
                                .account
                                .contains('@')
                                .then(|| deprovision.account.clone())
                        });
                    let Some(email) = email else {
                        return Err(ProvisioningError::unprocessable(
                            "account",
                            "the account's e-mail address is not visible to the connection: name the account by \
                             e-mail to cancel its invitations",
                        ));
                    };
                    steps.extend(self.invitation_cancellations(&email).await?);
                }
                DeprovisionStep::RevokeTokens => {
                    let filter = TokenFilter {
                        user_id: Some(user.id),
                        revoked: Some(false),
                        ..TokenFilter::default()
                    };
                    let tokens: Vec<_> = self
                        .client
                        .personal_access_tokens(self.cred, &filter)
                        .try_collect()
                        .await
                        .map_err(read)?;
                    let live: Vec<_> = tokens.into_iter().filter(|t| t.active && !t.revoked).collect();
                    if live.is_empty() {
                        steps.push(PlannedStep::skipped(
                            step.as_str(),
                            None,
                            format!("{} has no active personal access token", user.username),
                        ));
                    }
                    for token in live {
                        steps.push(PlannedStep::run(
                            step.as_str(),
                            format!("token {} {:?}", token.id, token.name),
                            Call::RevokeToken { token_id: token.id },
                            format!(
                                "revoke personal access token {:?} (id {}, scopes {})",
                                token.name,
                                token.id,
                                token.scopes.join(" ")
                            ),
                        ));
                    }
                }
                DeprovisionStep::RemoveMemberships => steps.extend(self.membership_removals(&user).await?),
                DeprovisionStep::Block | DeprovisionStep::Deactivate => {
                    let (wanted, call) = if step == DeprovisionStep::Block {
                        ("blocked", Call::Block { user_id: user.id })
                    } else {
                        ("deactivated", Call::Deactivate { user_id: user.id })
                    };
                    if user.state == wanted {
                        steps.push(PlannedStep::skipped(
                            step.as_str(),
                            Some(format!("account {}", user.username)),
                            format!("{} is already {wanted}", user.username),
                        ));
                    } else {
                        steps.push(PlannedStep::run(
                            step.as_str(),
                            format!("account {}", user.username),
                            call,
                            format!("{} {} (now {})", step.as_str(), user.username, user.state),
                        ));
                    }
                }
                DeprovisionStep::Delete => steps.push(PlannedStep::run(
                    step.as_str(),
                    format!("account {}", user.username),
                    Call::DeleteUser { user_id: user.id },
                    format!(
                        "delete the account {} (id {}); its contributions move to the Ghost user",
                        user.username, user.id
                    ),
                )),
            }
        }
        Ok(Plan {
            account: Account {
                id: Some(user.id),
                username: Some(user.username),
            },
            steps,
        })
    }

    /// Cancelling every pending invitation of `email` in the scope.
    async fn invitation_cancellations(&self, email: &str) -> Result<Vec<PlannedStep>, ProvisioningError> {
        let name = DeprovisionStep::CancelInvitations.as_str();
        let read = |e: GitLabError| unreadable("account", "the invitations", &e);
        let mut steps = Vec::new();
        for place in self.places().await.map_err(read)? {
            let pending: Vec<_> = self
                .client
                .invitations_of(self.cred, &place.source(), email)
                .try_collect()
                .await
                .map_err(read)?;
            if !pending.is_empty() {
                steps.push(PlannedStep::run(
                    name,
                    place.describe(),
                    Call::CancelInvitation {
                        place: place.clone(),
                        email: email.to_owned(),
                    },
                    format!("cancel the invitation of {email} to {}", place.describe()),
                ));
            }
        }
        if steps.is_empty() {
            steps.push(PlannedStep::skipped(
                name,
                None,
                format!("no pending invitation of {email}"),
            ));
        }
        Ok(steps)
    }

    /// Removing every membership the account holds in the scope.
    async fn membership_removals(&self, user: &User) -> Result<Vec<PlannedStep>, ProvisioningError> {
        let name = DeprovisionStep::RemoveMemberships.as_str();
        let read = |e: GitLabError| unreadable("account", "the account's memberships", &e);
        if let Some(root) = self.root_group().await? {
            let memberships = match self
                .client
                .billable_member_memberships(self.cred, &ResourceId::Id(root.id), user.id)
                .try_collect::<Vec<_>>()
                .await
            {
                Ok(rows) => rows,
                Err(GitLabError::NotFound { .. }) => Vec::new(),
                Err(other) => return Err(read(other)),
            };
            if memberships.is_empty() {
                return Ok(vec![PlannedStep::skipped(
                    name,
                    Some(root.describe()),
                    format!("{} holds no membership in {}", user.username, root.describe()),
                )]);
            }
            let held: Vec<String> = memberships
                .iter()
                .map(|m| format!("{} ({})", m.source_full_name, m.access_level.string_value))
                .collect();
            return Ok(vec![PlannedStep::run(
                name,
                root.describe(),
                Call::RemoveBillableMember {
                    group: root.clone(),
                    user_id: user.id,
                },
                format!(
                    "remove {} from the whole hierarchy of {}: {}",
                    user.username,
                    root.describe(),
                    held.join(", ")
                ),
            )]);
        }
        let memberships: Vec<_> = self
            .client
            .user_memberships(self.cred, user.id)
            .try_collect()
            .await
            .map_err(read)?;
        if memberships.is_empty() {
            return Ok(vec![PlannedStep::skipped(
                name,
                None,
                format!("{} holds no direct membership", user.username),
            )]);
        }
        let mut steps = Vec::new();
        for membership in memberships {
            let kind = if membership.source_type == "Project" {
                PlaceKind::Project
            } else {
                PlaceKind::Group
            };
            let place = Place {
                kind,
                id: membership.source_id,
                full_path: membership.source_name.clone(),
            };
            steps.push(PlannedStep::run(
                name,
                place.describe(),
                Call::RemoveMember {
                    place: place.clone(),
                    user_id: user.id,
                },
                format!(
                    "remove {}'s direct membership of {} ({})",
                    user.username,
                    place.describe(),
                    membership.access_level
                ),
            ));
        }
        Ok(steps)
    }

    /// Every group and project of the scope, where invitations may wait.
    async fn places(&self) -> Result<Vec<Place>, GitLabError> {
        let mut places = Vec::new();
        match self.scope {
            Scope::Group { full_path } => {
                let root = ResourceId::Path(full_path.clone());
                let group = self.client.group(self.cred, &root).await?;
                places.push(Place {
                    kind: PlaceKind::Group,
                    id: group.id,
                    full_path: group.full_path,
                });
                let descendants: Vec<_> = self
                    .client
                    .descendant_groups(self.cred, &root)
                    .try_collect()
                    .await?;
                places.extend(descendants.into_iter().map(|g| Place {
                    kind: PlaceKind::Group,
                    id: g.id,
                    full_path: g.full_path,
                }));
                let projects: Vec<_> = self
                    .client
                    .group_projects(self.cred, &root, true)
                    .try_collect()
                    .await?;
                places.extend(projects.into_iter().map(|p| Place {
                    kind: PlaceKind::Project,
                    id: p.id,
                    full_path: p.path_with_namespace,
                }));
            }
            Scope::Instance => {
                let filter = GroupFilter {
                    all_available: Some(true),
                    ..GroupFilter::default()
                };
                let groups: Vec<_> = self.client.groups(self.cred, &filter).try_collect().await?;
                places.extend(groups.into_iter().map(|g| Place {
                    kind: PlaceKind::Group,
                    id: g.id,
                    full_path: g.full_path,
                }));
                let projects: Vec<_> = self
                    .client
                    .projects(self.cred, &ProjectFilter::default())
                    .try_collect()
                    .await?;
                places.extend(projects.into_iter().map(|p| Place {
                    kind: PlaceKind::Project,
                    id: p.id,
                    full_path: p.path_with_namespace,
                }));
            }
        }
        Ok(places)
    }
}

/// A date as the request gives it.
pub(crate) fn parse_date(text: &str) -> Option<Date> {
    labgate_gitlab::parse_date(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_are_listed_nearest_first() {
        assert_eq!(ancestor_paths("a/b/c"), vec!["a/b".to_owned(), "a".to_owned()]);
        assert!(ancestor_paths("a").is_empty());
    }
}
