//! Users and their memberships.

use super::flag;
use crate::client::{Credential, GitLabClient};
use crate::error::GitLabError;
use crate::model::*;
use crate::pagination::{Mode, Paged};

/// Filters for `GET /users` (keyset-paginated by id).
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub active: bool,
    pub blocked: bool,
    pub humans: bool,
    pub exclude_internal: bool,
    pub without_project_bots: bool,
    pub search: Option<String>,
    pub username: Option<String>,
}

impl GitLabClient {
    /// `GET /user`: the token's owner (a bot for project and group tokens).
    #[tracing::instrument(skip_all)]
    pub async fn current_user(&self, cred: &Credential) -> Result<User, GitLabError> {
        self.json(&self.get("/user", "/user")?, Some(cred)).await
    }

    #[tracing::instrument(skip_all, fields(user_id = id))]
    pub async fn user(&self, cred: &Credential, id: u64) -> Result<User, GitLabError> {
        self.json(&self.get("/users/{id}", &format!("/users/{id}"))?, Some(cred))
            .await
    }

    /// `GET /users`, keyset-paginated by id.
    pub fn users(&self, cred: &Credential, filter: &UserFilter) -> Paged<User> {
        let mut q = Vec::new();
        flag(&mut q, "active", filter.active);
        flag(&mut q, "blocked", filter.blocked);
        flag(&mut q, "humans", filter.humans);
        flag(&mut q, "exclude_internal", filter.exclude_internal);
        flag(&mut q, "without_project_bots", filter.without_project_bots);
        if let Some(s) = &filter.search {
            q.push(("search", s.clone()));
        }
        if let Some(u) = &filter.username {
            q.push(("username", u.clone()));
        }
        self.list(cred, "/users", "/users", &q, Mode::Keyset { order_by: "id" })
    }

    /// `GET /users/:id/memberships` (admin; direct memberships only).
    pub fn user_memberships(&self, cred: &Credential, id: u64) -> Paged<UserMembership> {
        self.list(
            cred,
            "/users/{id}/memberships",
            &format!("/users/{id}/memberships"),
            &[],
            Mode::Offset,
        )
    }
}
