//! What other capabilities need when they act at GitLab through a connection on a person's
//! behalf (secret syncs write variables, data sources read repositories): the connection made
//! ready, the project or group the person named, and the role the connection's user holds there,
//! each refused with an error that names the field to fix.

use labgate_gitlab::{AccessLevel, GitLabError, MemberScope, Project, ResourceId, Source};

use super::{Connections, GitLabSession};
use crate::ids::{ConnectionId, TenantId};
use crate::{CoreError, Result};

impl Connections {
    /// [`Connections::gitlab_session`] for a connection a person names in a request: an unknown
    /// one or one without a working token is a validation error on `connectionId`.
    pub(crate) async fn named_session(
        &self,
        tenant_id: &TenantId,
        connection_id: &ConnectionId,
    ) -> Result<GitLabSession> {
        match self.gitlab_session(tenant_id, connection_id).await {
            Ok(session) => Ok(session),
            Err(CoreError::NotFound(_)) => Err(unknown_connection()),
            Err(CoreError::Conflict(message)) => Err(CoreError::validation(
                "connectionId",
                format!("the connection cannot be used: {message}"),
            )),
            Err(other) => Err(other),
        }
    }
}

/// A `connectionId` that names none of the tenant's GitLab connections.
pub(crate) fn unknown_connection() -> CoreError {
    CoreError::validation("connectionId", "no GitLab connection with this id in this tenant")
}

/// A project or group as a person gives it: a numeric id, or a full path.
pub(crate) fn resource_id(given: &str) -> ResourceId {
    match given.parse::<u64>() {
        Ok(id) => ResourceId::Id(id),
        Err(_) => ResourceId::Path(given.trim_matches('/').to_owned()),
    }
}

/// Why the project or group `given` (a `what`) could not be looked up, on `field`.
pub(crate) fn unreachable(field: &'static str, what: &str, given: &str, error: &GitLabError) -> CoreError {
    match error {
        error if error.is_transient() => {
            CoreError::Unavailable(format!("GitLab could not be reached: {error}"))
        }
        GitLabError::NotFound { .. } | GitLabError::Forbidden { .. } => CoreError::validation(
            field,
            format!(
                "the connection cannot reach the GitLab {what} {given:?}: it does not exist or its user cannot see it"
            ),
        ),
        other => CoreError::validation(
            field,
            format!("the GitLab {what} {given:?} cannot be checked: {other}"),
        ),
    }
}

/// The role a project's own answer grants its caller, for when GitLab will not list the member
/// (an instance admin, or access shared through a group).
pub(crate) fn role_in_project(project: &Project) -> Option<AccessLevel> {
    project.permissions.as_ref().map(|p| {
        [p.project_access.as_ref(), p.group_access.as_ref()]
            .into_iter()
            .flatten()
            .map(|a| a.access_level)
            .max()
            .unwrap_or(AccessLevel::NO_ACCESS)
    })
}

/// What the connection's user must be able to do at `source`, and so which role it needs.
pub(crate) struct RoleNeed {
    pub level: AccessLevel,
    /// Ends "… needs Maintainer or higher", e.g. "writing CI/CD variables".
    pub purpose: &'static str,
    /// The request field that named the project or group.
    pub field: &'static str,
}

/// Refuses, on `need.field`, a connection whose user holds less than `need.level` at `source`
/// (`path` names it in the message). The member list is asked first; `fallback` is the role
/// known otherwise.
pub(crate) async fn require_role(
    session: &GitLabSession,
    source: &Source,
    path: &str,
    fallback: Option<AccessLevel>,
    need: &RoleNeed,
) -> Result<()> {
    let level = match session.connection.gitlab_user.user_id {
        Some(user) => match session
            .client
            .member(&session.credential, source, user, MemberScope::All)
            .await
        {
            Ok(member) => Some(member.access_level),
            Err(error) if error.is_transient() => {
                return Err(CoreError::Unavailable(format!(
                    "GitLab could not be asked for the connection's role: {error}"
                )));
            }
            Err(_) => fallback,
        },
        None => fallback,
    };
    let needed = need.level.name();
    match level {
        Some(level) if level >= need.level => Ok(()),
        Some(level) => Err(CoreError::validation(
            need.field,
            format!(
                "the connection's GitLab user has the {} role in {path}; {} needs {needed} or higher",
                level.name(),
                need.purpose
            ),
        )),
        None => Err(CoreError::validation(
            need.field,
            format!(
                "the connection's GitLab user is not a member of {path}; {} needs {needed} or higher",
                need.purpose
            ),
        )),
    }
}
