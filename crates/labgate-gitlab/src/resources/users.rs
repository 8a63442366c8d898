//! Users and their memberships; account creation and moderation (administrators, self-managed).

use http::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

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

/// How a new account's first password is set.
pub enum NewUserPassword {
    /// GitLab sends the person a link to choose one (`reset_password`).
    ResetLink,
    /// This password, which nobody is told: the person signs in through a reset or SSO.
    Given(SecretString),
}

/// `POST /users`: a new account on a self-managed instance.
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub name: String,
    pub password: NewUserPassword,
    /// Whether the account is usable without confirming its e-mail first.
    pub skip_confirmation: bool,
}

/// A moderation action on `POST /users/:id/<action>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserModeration {
    Block,
    Unblock,
    Deactivate,
    Activate,
}

impl UserModeration {
    fn segment(self) -> &'static str {
        match self {
            UserModeration::Block => "block",
            UserModeration::Unblock => "unblock",
            UserModeration::Deactivate => "deactivate",
            UserModeration::Activate => "activate",
        }
    }

    fn template(self) -> &'static str {
        match self {
            UserModeration::Block => "/users/{id}/block",
            UserModeration::Unblock => "/users/{id}/unblock",
            UserModeration::Deactivate => "/users/{id}/deactivate",
            UserModeration::Activate => "/users/{id}/activate",
        }
    }
}

impl GitLabClient {
    /// `POST /users` (administrators, self-managed; 403 otherwise, 409 for a taken username or
    /// e-mail). Not retried: a lost answer may have created the account.
    #[tracing::instrument(skip_all)]
    pub async fn create_user(&self, cred: &Credential, new: &NewUser) -> Result<User, GitLabError> {
        let mut body = json!({
            "username": new.username,
            "email": new.email,
            "name": new.name,
            "skip_confirmation": new.skip_confirmation,
        });
        if let Some(fields) = body.as_object_mut() {
            match &new.password {
                NewUserPassword::ResetLink => {
                    fields.insert("reset_password".into(), json!(true));
                }
                NewUserPassword::Given(password) => {
                    fields.insert("password".into(), json!(password.expose_secret()));
                }
            }
        }
        let call = self.send_json(Method::POST, "/users", "/users", body, false)?;
        self.json(&call, Some(cred)).await
    }

    /// `POST /users/:id/block|unblock|deactivate|activate` (administrators, self-managed).
    #[tracing::instrument(skip_all, fields(user_id = id))]
    pub async fn moderate_user(
        &self,
        cred: &Credential,
        id: u64,
        action: UserModeration,
    ) -> Result<(), GitLabError> {
        let call = self.send_json(
            Method::POST,
            action.template(),
            &format!("/users/{id}/{}", action.segment()),
            json!({}),
            true,
        )?;
        let _: serde_json::Value = self.json(&call, Some(cred)).await?;
        Ok(())
    }

    /// `DELETE /users/:id` (administrators): the account goes and its contributions move to the
    /// Ghost user. Not retried: a second call after a lost answer would only say 404.
    #[tracing::instrument(skip_all, fields(user_id = id))]
    pub async fn delete_user(&self, cred: &Credential, id: u64) -> Result<(), GitLabError> {
        let call = self.delete("/users/{id}", &format!("/users/{id}"))?;
        self.unit(&call, Some(cred)).await
    }

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
