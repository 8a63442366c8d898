//! The GitLab calls provisioning steps make, as journalled: each is written before it runs, so
//! a resumed operation makes exactly the planned call, and each can be checked at GitLab, so a
//! step interrupted after its call is recognised as applied instead of being made twice.

use futures_util::TryStreamExt;
use labgate_gitlab::{
    AccessLevel, Credential, GitLabClient, GitLabError, MemberGrant, MemberScope, NewUser, NewUserPassword,
    ResourceId, Source, UserFilter, UserModeration,
};
use serde::{Deserialize, Serialize};
use time::Date;

/// A group or project a step acts on, by id, with its path for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Place {
    pub kind: PlaceKind,
    pub id: u64,
    pub full_path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum PlaceKind {
    Group,
    Project,
}

impl Place {
    pub fn source(&self) -> Source {
        match self.kind {
            PlaceKind::Group => Source::Group(ResourceId::Id(self.id)),
            PlaceKind::Project => Source::Project(ResourceId::Id(self.id)),
        }
    }

    /// `group acme/platform`, `project acme/api`.
    pub fn describe(&self) -> String {
        match self.kind {
            PlaceKind::Group => format!("group {}", self.full_path),
            PlaceKind::Project => format!("project {}", self.full_path),
        }
    }
}

/// One GitLab call. Levels are GitLab's numbers, dates `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "kebab-case", rename_all_fields = "camelCase")]
pub(crate) enum Call {
    CreateUser {
        username: String,
        email: String,
        name: String,
        reset_password: bool,
        skip_confirmation: bool,
    },
    Invite {
        place: Place,
        email: String,
        level: u8,
        expires_at: Option<String>,
    },
    AddMember {
        place: Place,
        user_id: u64,
        level: u8,
        expires_at: Option<String>,
        member_role_id: Option<u64>,
    },
    UpdateMember {
        place: Place,
        user_id: u64,
        level: u8,
        expires_at: Option<String>,
        member_role_id: Option<u64>,
    },
    RemoveMember {
        place: Place,
        user_id: u64,
    },
    RemoveBillableMember {
        group: Place,
        user_id: u64,
    },
    CancelInvitation {
        place: Place,
        email: String,
    },
    RevokeToken {
        token_id: u64,
    },
    Block {
        user_id: u64,
    },
    Deactivate {
        user_id: u64,
    },
    DeleteUser {
        user_id: u64,
    },
}

/// A journalled date (`YYYY-MM-DD`, written by the plan).
fn date(text: Option<&str>) -> Option<Date> {
    text.and_then(labgate_gitlab::parse_date)
}

/// What a call did, in a sentence; or GitLab's refusal.
pub(crate) type Outcome = Result<String, GitLabError>;

/// A password nobody is told: the person sets their own through the reset link or SSO.
fn unknowable_password() -> secrecy::SecretString {
    labgate_crypto::random_token(32)
}

impl Call {
    /// Makes the call.
    pub async fn apply(&self, client: &GitLabClient, cred: &Credential) -> Outcome {
        match self {
            Call::CreateUser {
                username,
                email,
                name,
                reset_password,
                skip_confirmation,
            } => {
                let new = NewUser {
                    username: username.clone(),
                    email: email.clone(),
                    name: name.clone(),
                    password: if *reset_password {
                        NewUserPassword::ResetLink
                    } else {
                        NewUserPassword::Given(unknowable_password())
                    },
                    skip_confirmation: *skip_confirmation,
                };
                let user = client.create_user(cred, &new).await?;
                Ok(format!(
                    "created account {} (id {}){}",
                    user.username,
                    user.id,
                    if *reset_password {
                        "; GitLab e-mailed a link to set the password"
                    } else {
                        "; its random password was never shown: the person signs in through a password reset or SSO"
                    }
                ))
            }
            Call::Invite {
                place,
                email,
                level,
                expires_at,
            } => {
                let outcome = client
                    .invite(
                        cred,
                        &place.source(),
                        &[labgate_gitlab::Invitee::Email(email.clone())],
                        AccessLevel(*level),
                        date(expires_at.as_deref()),
                    )
                    .await?;
                match outcome.failed.values().next() {
                    // GitLab answers 201 with the failure in the body.
                    Some(reason) => Err(GitLabError::BadRequest {
                        status: 201,
                        message: format!("the invitation was not sent: {reason}"),
                    }),
                    None => Ok(format!(
                        "invited {email} to {} as {}; the account is pending until the invitation is accepted",
                        place.describe(),
                        AccessLevel(*level)
                    )),
                }
            }
            Call::AddMember {
                place,
                user_id,
                level,
                expires_at,
                member_role_id,
            } => {
                let grant = MemberGrant {
                    level: AccessLevel(*level),
                    expires_at: date(expires_at.as_deref()),
                    member_role_id: *member_role_id,
                };
                let member = client
                    .add_member_with(cred, &place.source(), *user_id, &grant)
                    .await?;
                Ok(format!(
                    "added as a direct member of {} at {}",
                    place.describe(),
                    member.access_level
                ))
            }
            Call::UpdateMember {
                place,
                user_id,
                level,
                expires_at,
                member_role_id,
            } => {
                let grant = MemberGrant {
                    level: AccessLevel(*level),
                    expires_at: date(expires_at.as_deref()),
                    member_role_id: *member_role_id,
                };
                let member = client
                    .update_member_with(cred, &place.source(), *user_id, &grant)
                    .await?;
                Ok(format!(
                    "direct membership of {} changed to {}",
                    place.describe(),
                    member.access_level
                ))
            }
            Call::RemoveMember { place, user_id } => {
                client.remove_member(cred, &place.source(), *user_id).await?;
                Ok(format!("direct membership of {} removed", place.describe()))
            }
            Call::RemoveBillableMember { group, user_id } => {
                client
                    .remove_billable_member(cred, &ResourceId::Id(group.id), *user_id)
                    .await?;
                Ok(format!(
                    "removed from every group and project of {} (billable member removal)",
                    group.describe()
                ))
            }
            Call::CancelInvitation { place, email } => {
                client.delete_invitation(cred, &place.source(), email).await?;
                Ok(format!("invitation of {email} to {} cancelled", place.describe()))
            }
            Call::RevokeToken { token_id } => {
                client.revoke_personal_token(cred, *token_id).await?;
                Ok(format!("personal access token {token_id} revoked"))
            }
            Call::Block { user_id } => {
                client
                    .moderate_user(cred, *user_id, UserModeration::Block)
                    .await?;
                Ok("account blocked: it can no longer sign in or use its tokens".to_owned())
            }
            Call::Deactivate { user_id } => {
                client
                    .moderate_user(cred, *user_id, UserModeration::Deactivate)
                    .await?;
                Ok("account deactivated until its owner signs in again".to_owned())
            }
            Call::DeleteUser { user_id } => {
                client.delete_user(cred, *user_id).await?;
                Ok("account deleted; its contributions moved to the Ghost user".to_owned())
            }
        }
    }

    /// Whether GitLab already shows the call's effect: for a step whose call was made but whose
    /// answer was never recorded. `Some` says what was found.
    pub async fn found_applied(
        &self,
        client: &GitLabClient,
        cred: &Credential,
    ) -> Result<Option<String>, GitLabError> {
        let found = match self {
            Call::CreateUser { username, .. } => {
                let filter = UserFilter {
                    username: Some(username.clone()),
                    ..UserFilter::default()
                };
                let users: Vec<_> = client.users(cred, &filter).try_collect().await?;
                users
                    .iter()
                    .find(|u| u.username.eq_ignore_ascii_case(username))
                    .map(|u| format!("account {} (id {}) exists", u.username, u.id))
            }
            Call::Invite { place, email, .. } => {
                let pending: Vec<_> = client
                    .invitations_of(cred, &place.source(), email)
                    .try_collect()
                    .await?;
                (!pending.is_empty()).then(|| format!("{email} is invited to {}", place.describe()))
            }
            Call::AddMember {
                place,
                user_id,
                level,
                ..
            }
            | Call::UpdateMember {
                place,
                user_id,
                level,
                ..
            } => direct_member(client, cred, place, *user_id)
                .await?
                .filter(|found| found.0 == *level)
                .map(|_| format!("direct member of {} at {}", place.describe(), AccessLevel(*level))),
            Call::RemoveMember { place, user_id } => direct_member(client, cred, place, *user_id)
                .await?
                .is_none()
                .then(|| format!("no direct membership of {} left", place.describe())),
            Call::RemoveBillableMember { group, user_id } => {
                let memberships = client
                    .billable_member_memberships(cred, &ResourceId::Id(group.id), *user_id)
                    .try_collect::<Vec<_>>()
                    .await;
                match memberships {
                    Err(GitLabError::NotFound { .. }) => {
                        Some(format!("no membership left in {}", group.describe()))
                    }
                    Err(other) => return Err(other),
                    Ok(rows) if rows.is_empty() => {
                        Some(format!("no membership left in {}", group.describe()))
                    }
                    Ok(_) => None,
                }
            }
            Call::CancelInvitation { place, email } => {
                let pending: Vec<_> = client
                    .invitations_of(cred, &place.source(), email)
                    .try_collect()
                    .await?;
                pending
                    .is_empty()
                    .then(|| format!("no invitation of {email} left in {}", place.describe()))
            }
            Call::RevokeToken { token_id } => client
                .personal_access_token(cred, *token_id)
                .await?
                .revoked
                .then(|| format!("personal access token {token_id} is revoked")),
            Call::Block { user_id } => user_state(client, cred, *user_id)
                .await?
                .filter(|state| state == "blocked")
                .map(|_| "the account is blocked".to_owned()),
            Call::Deactivate { user_id } => user_state(client, cred, *user_id)
                .await?
                .filter(|state| state == "deactivated")
                .map(|_| "the account is deactivated".to_owned()),
            Call::DeleteUser { user_id } => user_state(client, cred, *user_id)
                .await?
                .is_none()
                .then(|| "the account no longer exists".to_owned()),
        };
        Ok(found)
    }
}

/// A user's direct membership of a place: its level and custom role, `None` when not a direct
/// member.
pub(crate) async fn direct_member(
    client: &GitLabClient,
    cred: &Credential,
    place: &Place,
    user_id: u64,
) -> Result<Option<(u8, Option<u64>, Option<Date>)>, GitLabError> {
    match client
        .member(cred, &place.source(), user_id, MemberScope::Direct)
        .await
    {
        Ok(member) => Ok(Some((
            member.access_level.0,
            member
                .member_role
                .as_ref()
                .and_then(|role| role.get("id"))
                .and_then(serde_json::Value::as_u64),
            member.expires_at,
        ))),
        Err(GitLabError::NotFound { .. }) => Ok(None),
        Err(other) => Err(other),
    }
}

/// A user's state (`active`, `blocked`, …), `None` when the account does not exist.
async fn user_state(
    client: &GitLabClient,
    cred: &Credential,
    user_id: u64,
) -> Result<Option<String>, GitLabError> {
    match client.user(cred, user_id).await {
        Ok(user) => Ok(Some(user.state)),
        Err(GitLabError::NotFound { .. }) => Ok(None),
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_round_trip_through_the_journal_format() {
        let call = Call::AddMember {
            place: Place {
                kind: PlaceKind::Project,
                id: 7,
                full_path: "acme/api".into(),
            },
            user_id: 3,
            level: 15,
            expires_at: Some("2027-01-31".into()),
            member_role_id: Some(2),
        };
        let text = serde_json::to_string(&call).unwrap();
        assert!(text.contains("\"call\":\"add-member\""), "{text}");
        assert!(text.contains("\"userId\":3"), "{text}");
        assert_eq!(serde_json::from_str::<Call>(&text).unwrap(), call);
    }

    #[test]
    fn a_generated_password_is_long_and_never_the_same() {
        use secrecy::ExposeSecret;
        let a = unknowable_password();
        let b = unknowable_password();
        assert!(a.expose_secret().len() >= 32);
        assert_ne!(a.expose_secret(), b.expose_secret());
    }
}
