//! Project, group and system webhooks.

use http::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::client::{Credential, GitLabClient};
use crate::error::GitLabError;
use crate::model::*;
use crate::pagination::{Mode, Paged};

/// A new project webhook.
#[derive(Debug, Clone)]
pub struct NewHook {
    pub url: String,
    pub token: Option<SecretString>,
    pub name: Option<String>,
    pub push_events: bool,
    pub tag_push_events: bool,
    pub merge_requests_events: bool,
    /// Group hooks only: membership changes in the group and its subgroups (`Member Hook`).
    pub member_events: bool,
    /// Group hooks only: subgroups created or removed (`Subgroup Hook`).
    pub subgroup_events: bool,
    pub enable_ssl_verification: bool,
}

impl NewHook {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            token: None,
            name: None,
            push_events: true,
            tag_push_events: false,
            merge_requests_events: false,
            member_events: false,
            subgroup_events: false,
            enable_ssl_verification: true,
        }
    }
}

impl GitLabClient {
    pub fn hooks(&self, cred: &Credential, project: &ResourceId) -> Paged<Hook> {
        self.list(
            cred,
            "/projects/{id}/hooks",
            &format!("/projects/{}/hooks", project.segment()),
            &[],
            Mode::Offset,
        )
    }

    #[tracing::instrument(skip_all)]
    pub async fn hook(
        &self,
        cred: &Credential,
        project: &ResourceId,
        hook_id: u64,
    ) -> Result<Hook, GitLabError> {
        let call = self.get(
            "/projects/{id}/hooks/{hook_id}",
            &format!("/projects/{}/hooks/{hook_id}", project.segment()),
        )?;
        self.json(&call, Some(cred)).await
    }

    /// `PUT /projects/:id/hooks/:hook_id` with the full new settings (idempotent, retried).
    #[tracing::instrument(skip_all, fields(hook_id = hook_id))]
    pub async fn update_hook(
        &self,
        cred: &Credential,
        project: &ResourceId,
        hook_id: u64,
        hook: &NewHook,
    ) -> Result<Hook, GitLabError> {
        let call = self.send_json(
            Method::PUT,
            "/projects/{id}/hooks/{hook_id}",
            &format!("/projects/{}/hooks/{hook_id}", project.segment()),
            hook_body(hook),
            true,
        )?;
        self.json(&call, Some(cred)).await
    }

    /// `POST /projects/:id/hooks`. Not retried.
    #[tracing::instrument(skip_all)]
    pub async fn create_hook(
        &self,
        cred: &Credential,
        project: &ResourceId,
        hook: &NewHook,
    ) -> Result<Hook, GitLabError> {
        let body = hook_body(hook);
        let call = self.send_json(
            Method::POST,
            "/projects/{id}/hooks",
            &format!("/projects/{}/hooks", project.segment()),
            body,
            false,
        )?;
        self.json(&call, Some(cred)).await
    }

    #[tracing::instrument(skip_all)]
    pub async fn delete_hook(
        &self,
        cred: &Credential,
        project: &ResourceId,
        hook_id: u64,
    ) -> Result<(), GitLabError> {
        let call = self.delete(
            "/projects/{id}/hooks/{hook_id}",
            &format!("/projects/{}/hooks/{hook_id}", project.segment()),
        )?;
        self.unit(&call, Some(cred)).await
    }
}

impl GitLabClient {
    /// `POST /groups/:id/hooks` (GitLab Premium; the group's Owner). Not retried.
    #[tracing::instrument(skip_all)]
    pub async fn create_group_hook(
        &self,
        cred: &Credential,
        group: &ResourceId,
        hook: &NewHook,
    ) -> Result<Hook, GitLabError> {
        let call = self.send_json(
            Method::POST,
            "/groups/{id}/hooks",
            &format!("/groups/{}/hooks", group.segment()),
            hook_body(hook),
            false,
        )?;
        self.json(&call, Some(cred)).await
    }

    #[tracing::instrument(skip_all)]
    pub async fn delete_group_hook(
        &self,
        cred: &Credential,
        group: &ResourceId,
        hook_id: u64,
    ) -> Result<(), GitLabError> {
        let call = self.delete(
            "/groups/{id}/hooks/{hook_id}",
            &format!("/groups/{}/hooks/{hook_id}", group.segment()),
        )?;
        self.unit(&call, Some(cred)).await
    }
}

impl GitLabClient {
    /// `POST /hooks`: a system hook (self-managed, administrators only). It receives every
    /// account, group, project and membership event of the instance; `push_events`,
    /// `tag_push_events` and `merge_requests_events` add those. Not retried.
    #[tracing::instrument(skip_all)]
    pub async fn create_system_hook(&self, cred: &Credential, hook: &NewHook) -> Result<Hook, GitLabError> {
        let mut body = json!({
            "url": hook.url,
            "push_events": hook.push_events,
            "tag_push_events": hook.tag_push_events,
            "merge_requests_events": hook.merge_requests_events,
            "repository_update_events": false,
            "enable_ssl_verification": hook.enable_ssl_verification,
        });
        if let Some(m) = body.as_object_mut() {
            if let Some(t) = &hook.token {
                m.insert("token".into(), json!(t.expose_secret()));
            }
            if let Some(n) = &hook.name {
                m.insert("name".into(), json!(n));
            }
        }
        let call = self.send_json(Method::POST, "/hooks", "/hooks", body, false)?;
        self.json(&call, Some(cred)).await
    }

    /// `DELETE /hooks/:id`.
    #[tracing::instrument(skip_all)]
    pub async fn delete_system_hook(&self, cred: &Credential, hook_id: u64) -> Result<(), GitLabError> {
        let call = self.delete("/hooks/{hook_id}", &format!("/hooks/{hook_id}"))?;
        self.unit(&call, Some(cred)).await
    }
}

fn hook_body(hook: &NewHook) -> Value {
    let mut body = json!({
        "url": hook.url,
        "push_events": hook.push_events,
        "tag_push_events": hook.tag_push_events,
        "merge_requests_events": hook.merge_requests_events,
        "enable_ssl_verification": hook.enable_ssl_verification,
    });
    if let Some(m) = body.as_object_mut() {
        if let Some(t) = &hook.token {
            m.insert("token".into(), json!(t.expose_secret()));
        }
        if let Some(n) = &hook.name {
            m.insert("name".into(), json!(n));
        }
        // Group-only flags, sent only when asked for: project hooks have no such events.
        if hook.member_events {
            m.insert("member_events".into(), json!(true));
        }
        if hook.subgroup_events {
            m.insert("subgroup_events".into(), json!(true));
        }
    }
    body
}
