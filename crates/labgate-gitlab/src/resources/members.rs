//! Members, invitations and billable members of projects and groups.

use http::Method;
use serde_json::{Value, json};
use time::Date;

use crate::base_url::encode_segment;
use crate::client::{Credential, GitLabClient};
use crate::error::GitLabError;
use crate::model::*;
use crate::pagination::{Mode, Paged};

/// Direct members only, or direct + inherited + invited-group members (one row per user).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberScope {
    Direct,
    All,
}

/// What a membership confers: a level, its expiry, and a custom role built on that level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberGrant {
    pub level: AccessLevel,
    pub expires_at: Option<Date>,
    pub member_role_id: Option<u64>,
}

/// Whom to invite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invitee {
    Email(String),
    UserId(u64),
}

impl GitLabClient {
    pub fn members(&self, cred: &Credential, source: &Source, scope: MemberScope) -> Paged<Member> {
        let (template, suffix) = match (source.is_project(), scope) {
            (true, MemberScope::Direct) => ("/projects/{id}/members", "/members"),
            (true, MemberScope::All) => ("/projects/{id}/members/all", "/members/all"),
            (false, MemberScope::Direct) => ("/groups/{id}/members", "/members"),
            (false, MemberScope::All) => ("/groups/{id}/members/all", "/members/all"),
        };
        self.list(
            cred,
            template,
            &format!("{}{suffix}", source.path()),
            &[],
            Mode::Offset,
        )
    }

    /// One user's direct (or effective, with [`MemberScope::All`]) membership.
    #[tracing::instrument(skip_all)]
    pub async fn member(
        &self,
        cred: &Credential,
        source: &Source,
        user_id: u64,
        scope: MemberScope,
    ) -> Result<Member, GitLabError> {
        let (template, mid) = match (source.is_project(), scope) {
            (true, MemberScope::Direct) => ("/projects/{id}/members/{user_id}", "members"),
            (true, MemberScope::All) => ("/projects/{id}/members/all/{user_id}", "members/all"),
            (false, MemberScope::Direct) => ("/groups/{id}/members/{user_id}", "members"),
            (false, MemberScope::All) => ("/groups/{id}/members/all/{user_id}", "members/all"),
        };
        let path = format!("{}/{mid}/{user_id}", source.path());
        self.json(&self.get(template, &path)?, Some(cred)).await
    }

    /// `POST …/members` (409 [`GitLabError::Conflict`] for an existing direct member). Not retried.
    pub async fn add_member(
        &self,
        cred: &Credential,
        source: &Source,
        user_id: u64,
        level: AccessLevel,
        expires_at: Option<Date>,
    ) -> Result<Member, GitLabError> {
        let grant = MemberGrant {
            level,
            expires_at,
            member_role_id: None,
        };
        self.add_member_with(cred, source, user_id, &grant).await
    }

    /// [`GitLabClient::add_member`] with a custom role (`member_role_id`, whose base level must
    /// be `grant.level`).
    #[tracing::instrument(skip_all)]
    pub async fn add_member_with(
        &self,
        cred: &Credential,
        source: &Source,
        user_id: u64,
        grant: &MemberGrant,
    ) -> Result<Member, GitLabError> {
        let mut body = json!({ "user_id": user_id, "access_level": grant.level.0 });
        if let Some(m) = body.as_object_mut() {
            if let Some(d) = grant.expires_at {
                m.insert("expires_at".into(), json!(format_date(d)));
            }
            if let Some(role) = grant.member_role_id {
                m.insert("member_role_id".into(), json!(role));
            }
        }
        let template = if source.is_project() {
            "/projects/{id}/members"
        } else {
            "/groups/{id}/members"
        };
        let call = self.send_json(
            Method::POST,
            template,
            &format!("{}/members", source.path()),
            body,
            false,
        )?;
        self.json(&call, Some(cred)).await
    }

    /// `PUT …/members/:user_id` (idempotent: sets the level and expiry).
    pub async fn update_member(
        &self,
        cred: &Credential,
        source: &Source,
        user_id: u64,
        level: AccessLevel,
        expires_at: Option<Date>,
    ) -> Result<Member, GitLabError> {
        let grant = MemberGrant {
            level,
            expires_at,
            member_role_id: None,
        };
        self.update_member_with(cred, source, user_id, &grant).await
    }

    /// [`GitLabClient::update_member`] with a custom role.
    #[tracing::instrument(skip_all)]
    pub async fn update_member_with(
        &self,
        cred: &Credential,
        source: &Source,
        user_id: u64,
        grant: &MemberGrant,
    ) -> Result<Member, GitLabError> {
        let mut body = json!({
            "access_level": grant.level.0,
            "expires_at": grant.expires_at.map(format_date).unwrap_or_default(),
        });
        if let (Some(role), Some(m)) = (grant.member_role_id, body.as_object_mut()) {
            m.insert("member_role_id".into(), json!(role));
        }
        let template = if source.is_project() {
            "/projects/{id}/members/{user_id}"
        } else {
            "/groups/{id}/members/{user_id}"
        };
        let call = self.send_json(
            Method::PUT,
            template,
            &format!("{}/members/{user_id}", source.path()),
            body,
            true,
        )?;
        self.json(&call, Some(cred)).await
    }

    /// `DELETE …/members/:user_id`: 404 when the access is inherited (revoke at the source).
    #[tracing::instrument(skip_all)]
    pub async fn remove_member(
        &self,
        cred: &Credential,
        source: &Source,
        user_id: u64,
    ) -> Result<(), GitLabError> {
        let template = if source.is_project() {
            "/projects/{id}/members/{user_id}"
        } else {
            "/groups/{id}/members/{user_id}"
        };
        let call = self.delete(template, &format!("{}/members/{user_id}", source.path()))?;
        self.unit(&call, Some(cred)).await
    }

    // ---- invitations ----------------------------------------------------------------------

    pub fn invitations(&self, cred: &Credential, source: &Source) -> Paged<Invitation> {
        let template = if source.is_project() {
            "/projects/{id}/invitations"
        } else {
            "/groups/{id}/invitations"
        };
        self.list(
            cred,
            template,
            &format!("{}/invitations", source.path()),
            &[],
            Mode::Offset,
        )
    }

    /// The pending invitations of one exact e-mail address (`query` matches it exactly).
    pub fn invitations_of(&self, cred: &Credential, source: &Source, email: &str) -> Paged<Invitation> {
        let template = if source.is_project() {
            "/projects/{id}/invitations"
        } else {
            "/groups/{id}/invitations"
        };
        self.list(
            cred,
            template,
            &format!("{}/invitations", source.path()),
            &[("query", email.to_owned())],
            Mode::Offset,
        )
    }

    /// `POST …/invitations`. GitLab answers 201 even when some invitees failed; those are in
    /// [`InvitationOutcome::failed`]. Not retried.
    #[tracing::instrument(skip_all)]
    pub async fn invite(
        &self,
        cred: &Credential,
        source: &Source,
        invitees: &[Invitee],
        level: AccessLevel,
        expires_at: Option<Date>,
    ) -> Result<InvitationOutcome, GitLabError> {
        let emails: Vec<&str> = invitees
            .iter()
            .filter_map(|i| match i {
                Invitee::Email(e) => Some(e.as_str()),
                Invitee::UserId(_) => None,
            })
            .collect();
        let ids: Vec<String> = invitees
            .iter()
            .filter_map(|i| match i {
                Invitee::UserId(id) => Some(id.to_string()),
                Invitee::Email(_) => None,
            })
            .collect();
        let mut m = serde_json::Map::new();
        m.insert("access_level".into(), json!(level.0));
        if !emails.is_empty() {
            m.insert("email".into(), json!(emails.join(",")));
        }
        if !ids.is_empty() {
            m.insert("user_id".into(), json!(ids.join(",")));
        }
        if let Some(d) = expires_at {
            m.insert("expires_at".into(), json!(format_date(d)));
        }
        let template = if source.is_project() {
            "/projects/{id}/invitations"
        } else {
            "/groups/{id}/invitations"
        };
        let call = self.send_json(
            Method::POST,
            template,
            &format!("{}/invitations", source.path()),
            Value::Object(m),
            false,
        )?;
        let v: Value = self.json(&call, Some(cred)).await?;
        let mut outcome = InvitationOutcome::default();
        if v.get("status").and_then(Value::as_str) == Some("error") {
            match v.get("message") {
                Some(Value::Object(errs)) => {
                    for (k, e) in errs {
                        let msg = e.as_str().map_or_else(|| e.to_string(), str::to_owned);
                        outcome.failed.insert(k.clone(), msg);
                    }
                }
                Some(other) => {
                    outcome.failed.insert(
                        "*".to_owned(),
                        other.as_str().map_or_else(|| other.to_string(), str::to_owned),
                    );
                }
                None => {
                    outcome.failed.insert("*".to_owned(), "unknown error".to_owned());
                }
            }
        }
        Ok(outcome)
    }

    #[tracing::instrument(skip_all)]
    pub async fn delete_invitation(
        &self,
        cred: &Credential,
        source: &Source,
        email: &str,
    ) -> Result<(), GitLabError> {
        let template = if source.is_project() {
            "/projects/{id}/invitations/{email}"
        } else {
            "/groups/{id}/invitations/{email}"
        };
        let call = self.delete(
            template,
            &format!("{}/invitations/{}", source.path(), encode_segment(email)),
        )?;
        self.unit(&call, Some(cred)).await
    }

    // ---- billable members -----------------------------------------------------------------

    pub fn billable_members(&self, cred: &Credential, group: &ResourceId) -> Paged<BillableMember> {
        self.list(
            cred,
            "/groups/{id}/billable_members",
            &format!("/groups/{}/billable_members", group.segment()),
            &[],
            Mode::Offset,
        )
    }

    pub fn billable_member_memberships(
        &self,
        cred: &Credential,
        group: &ResourceId,
        user_id: u64,
    ) -> Paged<BillableMembership> {
        self.list(
            cred,
            "/groups/{id}/billable_members/{user_id}/memberships",
            &format!(
                "/groups/{}/billable_members/{user_id}/memberships",
                group.segment()
            ),
            &[],
            Mode::Offset,
        )
    }

    /// Removes a user from the whole group hierarchy. Not retried.
    #[tracing::instrument(skip_all)]
    pub async fn remove_billable_member(
        &self,
        cred: &Credential,
        group: &ResourceId,
        user_id: u64,
    ) -> Result<(), GitLabError> {
        let call = self.delete(
            "/groups/{id}/billable_members/{user_id}",
            &format!("/groups/{}/billable_members/{user_id}", group.segment()),
        )?;
        self.unit(&call, Some(cred)).await
    }
}
