//! GitLab's answers read into the access model: groups, projects, shares, direct members and
//! users, as the sync lists them. A value the model does not know (a new access level, an
//! unknown state) is an error naming the field, so a sync fails loudly instead of recording
//! wrong access.

use super::model::{
    AccessLevel, Account, AccountKind, AccountState, CustomRole, GitLabGroupId, GitLabProjectId,
    GitLabUserId, Group, Identity, Membership, Project, Resource, Role, Share, Visibility,
};

/// A value in a GitLab answer that the access model cannot represent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("GitLab answered {value:?} for {field}, which labgate does not know")]
pub struct UnknownGitLabValue {
    pub field: &'static str,
    pub value: String,
}

fn unknown(field: &'static str, value: impl ToString) -> UnknownGitLabValue {
    UnknownGitLabValue {
        field,
        value: value.to_string(),
    }
}

fn level(field: &'static str, level: labgate_gitlab::AccessLevel) -> Result<AccessLevel, UnknownGitLabValue> {
    AccessLevel::from_number(i64::from(level.0)).ok_or_else(|| unknown(field, level.0))
}

fn visibility(field: &'static str, text: &str) -> Result<Visibility, UnknownGitLabValue> {
    Visibility::parse(text).ok_or_else(|| unknown(field, text))
}

pub fn group(group: &labgate_gitlab::Group) -> Result<Group, UnknownGitLabValue> {
    Ok(Group {
        id: GitLabGroupId(group.id),
        parent: group.parent_id.map(GitLabGroupId),
        full_path: group.full_path.clone(),
        name: group.name.clone(),
        visibility: visibility("group.visibility", &group.visibility)?,
    })
}

/// A project; one in a user's personal namespace belongs to no group.
pub fn project(project: &labgate_gitlab::Project) -> Result<Project, UnknownGitLabValue> {
    let group = project
        .namespace
        .as_ref()
        .filter(|namespace| namespace.kind == "group")
        .map(|namespace| GitLabGroupId(namespace.id));
    // Listings for a token without access to the project's settings omit `visibility`; GitLab
    // only omits it where it is not public, and the sync reads projects with full views.
    let visibility = match project.visibility.as_deref() {
        Some(text) => visibility("project.visibility", text)?,
        None => return Err(unknown("project.visibility", "nothing")),
    };
    Ok(Project {
        id: GitLabProjectId(project.id),
        group,
        full_path: project.path_with_namespace.clone(),
        name: project.name.clone(),
        visibility,
    })
}

fn shares(
    resource: Resource,
    shared: &[labgate_gitlab::SharedWithGroup],
) -> Result<Vec<Share>, UnknownGitLabValue> {
    shared
        .iter()
        .map(|share| {
            Ok(Share {
                resource,
                shared_with: GitLabGroupId(share.group_id),
                cap: level("shared_with_groups.group_access_level", share.group_access_level)?,
                expires_at: share.expires_at,
            })
        })
        .collect()
}

/// The groups a group is shared with (`shared_with_groups` of the group's own view).
pub fn group_shares(group: &labgate_gitlab::Group) -> Result<Vec<Share>, UnknownGitLabValue> {
    shares(
        Resource::Group(GitLabGroupId(group.id)),
        &group.shared_with_groups,
    )
}

/// The groups a project is shared with (`shared_with_groups`, present in project listings too).
pub fn project_shares(project: &labgate_gitlab::Project) -> Result<Vec<Share>, UnknownGitLabValue> {
    shares(
        Resource::Project(GitLabProjectId(project.id)),
        &project.shared_with_groups,
    )
}

/// A direct member of `resource`, with the custom role GitLab reports in `member_role`.
pub fn membership(
    resource: Resource,
    member: &labgate_gitlab::Member,
) -> Result<Membership, UnknownGitLabValue> {
    let custom = match &member.member_role {
        None | Some(serde_json::Value::Null) => None,
        Some(role) => {
            let id = role
                .get("id")
                .and_then(serde_json::Value::as_u64)
                .ok_or_else(|| unknown("member_role.id", role))?;
            let name = role
                .get("name")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| unknown("member_role.name", role))?;
            Some(CustomRole {
                id,
                name: name.to_owned(),
            })
        }
    };
    Ok(Membership {
        account: GitLabUserId(member.id),
        resource,
        role: Role {
            level: level("member.access_level", member.access_level)?,
            custom,
        },
        expires_at: member.expires_at,
    })
}

/// An account from a user entity. Fields only administrators see stay `None` in other views.
pub fn account(user: &labgate_gitlab::User) -> Result<Account, UnknownGitLabValue> {
    Ok(Account {
        id: GitLabUserId(user.id),
        username: user.username.clone(),
        name: user.name.clone(),
        kind: AccountKind::from_gitlab(user.bot, user.user_type.as_deref()),
        state: AccountState::from_gitlab(&user.state).ok_or_else(|| unknown("user.state", &user.state))?,
        admin: user.is_admin,
        email: user.email.clone().filter(|email| !email.is_empty()),
        identities: user
            .identities
            .iter()
            .map(|identity| Identity {
                provider: identity.provider.clone(),
                extern_uid: identity.extern_uid.clone(),
            })
            .collect(),
        last_sign_in_at: user.last_sign_in_at,
        last_activity_on: user.last_activity_on,
    })
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    fn member_json(extra: serde_json::Value) -> labgate_gitlab::Member {
        let mut base = serde_json::json!({
            "id": 7, "username": "alice", "name": "Alice", "state": "active",
            "web_url": "https://gitlab.example/alice", "access_level": 15,
            "expires_at": "2027-02-01", "membership_state": "active", "member_role": null
        });
        if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
            base.extend(extra.clone());
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn members_keep_planner_expiry_and_custom_roles() {
        let acme = Resource::Group(GitLabGroupId(1));
        let plain = membership(acme, &member_json(serde_json::json!({}))).unwrap();
        assert_eq!(plain.role, Role::level(AccessLevel::PLANNER));
        assert_eq!(plain.expires_at, Some(date!(2027 - 02 - 01)));
        let custom = membership(
            acme,
            &member_json(serde_json::json!({
                "access_level": 20,
                "member_role": {"id": 4, "group_id": 1, "name": "Auditor", "base_access_level": 20}
            })),
        )
        .unwrap();
        assert_eq!(
            custom.role.custom,
            Some(CustomRole {
                id: 4,
                name: "Auditor".into()
            })
        );
        let odd = membership(acme, &member_json(serde_json::json!({"access_level": 35}))).unwrap_err();
        assert_eq!(odd.field, "member.access_level");
        let broken = membership(
            acme,
            &member_json(serde_json::json!({"member_role": {"name": "x"}})),
        )
        .unwrap_err();
        assert_eq!(broken.field, "member_role.id");
    }

    #[test]
    fn groups_projects_and_their_shares() {
        let group: labgate_gitlab::Group = serde_json::from_value(serde_json::json!({
            "id": 2, "name": "Platform", "path": "platform", "full_name": "Acme / Platform",
            "full_path": "acme/platform", "parent_id": 1, "visibility": "internal",
            "web_url": "https://gitlab.example/groups/acme/platform",
            "shared_with_groups": [{"group_id": 3, "group_name": "Partners", "group_full_path": "partners",
                                    "group_access_level": 30, "expires_at": null}]
        }))
        .unwrap();
        let read = super::group(&group).unwrap();
        assert_eq!(
            (read.parent, read.visibility),
            (Some(GitLabGroupId(1)), Visibility::Internal)
        );
        let shares = group_shares(&group).unwrap();
        assert_eq!(shares[0].cap, AccessLevel::DEVELOPER);
        assert_eq!(shares[0].resource, Resource::Group(GitLabGroupId(2)));

        let in_group: labgate_gitlab::Project = serde_json::from_value(serde_json::json!({
            "id": 20, "name": "API", "path": "api", "path_with_namespace": "acme/platform/api",
            "name_with_namespace": "Acme / Platform / API", "visibility": "private",
            "namespace": {"id": 2, "name": "Platform", "path": "platform", "kind": "group",
                          "full_path": "acme/platform", "parent_id": 1},
            "shared_with_groups": [{"group_id": 3, "group_name": "Partners", "group_full_path": "partners",
                                    "group_access_level": 60, "expires_at": null}]
        }))
        .unwrap();
        assert_eq!(project(&in_group).unwrap().group, Some(GitLabGroupId(2)));
        assert_eq!(
            project_shares(&in_group).unwrap_err().field,
            "shared_with_groups.group_access_level"
        );
        let personal: labgate_gitlab::Project = serde_json::from_value(serde_json::json!({
            "id": 21, "name": "dotfiles", "path": "dotfiles", "path_with_namespace": "alice/dotfiles",
            "name_with_namespace": "Alice / dotfiles", "visibility": "public",
            "namespace": {"id": 9, "name": "alice", "path": "alice", "kind": "user", "full_path": "alice"}
        }))
        .unwrap();
        assert_eq!(project(&personal).unwrap().group, None);
        let mut hidden = personal.clone();
        hidden.visibility = None;
        assert_eq!(project(&hidden).unwrap_err().field, "project.visibility");
    }

    #[test]
    fn users_become_accounts_with_what_the_view_shows() {
        let admin_view: labgate_gitlab::User = serde_json::from_value(serde_json::json!({
            "id": 9, "username": "project_20_bot_1", "name": "deploy", "state": "blocked",
            "locked": false, "bot": true, "web_url": "https://gitlab.example/bot", "email": "bot@noreply.example",
            "is_admin": false, "user_type": "project_bot", "last_sign_in_at": "2026-11-30T08:15:00.000Z",
            "last_activity_on": "2026-12-01",
            "identities": [{"provider": "ldapmain", "extern_uid": "cn=bot,dc=example"}]
        }))
        .unwrap();
        let account = super::account(&admin_view).unwrap();
        assert_eq!(
            (account.kind, account.state),
            (AccountKind::Bot, AccountState::Blocked)
        );
        assert_eq!(account.admin, Some(false));
        assert_eq!(account.last_activity_on, Some(date!(2026 - 12 - 01)));
        assert!(account.last_sign_in_at.is_some());
        assert_eq!(
            account.identities,
            vec![Identity {
                provider: "ldapmain".into(),
                extern_uid: "cn=bot,dc=example".into()
            }]
        );

        let member_view: labgate_gitlab::User = serde_json::from_value(serde_json::json!({
            "id": 7, "username": "alice", "name": "Alice", "state": "deactivated", "locked": false,
            "bot": false, "web_url": "https://gitlab.example/alice"
        }))
        .unwrap();
        let account = super::account(&member_view).unwrap();
        assert_eq!((account.admin, account.email), (None, None));
        assert_eq!(account.state, AccountState::Deactivated);
        let mut odd = member_view;
        odd.state = "frozen".into();
        assert_eq!(super::account(&odd).unwrap_err().field, "user.state");
    }
}
