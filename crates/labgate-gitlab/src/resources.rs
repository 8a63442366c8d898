//! Typed endpoints: users, groups, projects, members, invitations, billable members, CI/CD
//! variables, hooks, compare, version and metadata.

use http::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use time::Date;
use url::Url;

use crate::base_url::encode_segment;
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

/// Filters for `GET /projects` (keyset-paginated by id).
#[derive(Debug, Clone, Default)]
pub struct ProjectFilter {
    pub membership: bool,
    pub owned: bool,
    pub archived: Option<bool>,
    pub min_access_level: Option<AccessLevel>,
    pub search: Option<String>,
    pub simple: bool,
}

/// Filters for `GET /groups` (offset-paginated: keyset is for anonymous callers only).
#[derive(Debug, Clone, Default)]
pub struct GroupFilter {
    /// Every group the caller can see, not only its memberships (admins default to it).
    pub all_available: Option<bool>,
    pub owned: bool,
    pub top_level_only: bool,
    pub min_access_level: Option<AccessLevel>,
    pub search: Option<String>,
}

/// Direct members only, or direct + inherited + invited-group members (one row per user).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberScope {
    Direct,
    All,
}

/// Whom to invite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invitee {
    Email(String),
    UserId(u64),
}

/// A new CI/CD variable.
#[derive(Debug, Clone)]
pub struct NewVariable {
    pub key: String,
    pub value: SecretString,
    /// `env_var` (default) or `file`.
    pub variable_type: Option<String>,
    pub protected: bool,
    pub masked: bool,
    /// Masked and hidden (17.4+); can only be set on create.
    pub masked_and_hidden: bool,
    pub raw: bool,
    /// Default `*`.
    pub environment_scope: Option<String>,
    pub description: Option<String>,
}

impl NewVariable {
    pub fn new(key: impl Into<String>, value: SecretString) -> Self {
        Self {
            key: key.into(),
            value,
            variable_type: None,
            protected: false,
            masked: false,
            masked_and_hidden: false,
            raw: false,
            environment_scope: None,
            description: None,
        }
    }

    fn body(&self, include_key: bool) -> Value {
        let mut m = serde_json::Map::new();
        if include_key {
            m.insert("key".into(), json!(self.key));
        }
        m.insert("value".into(), json!(self.value.expose_secret()));
        if let Some(t) = &self.variable_type {
            m.insert("variable_type".into(), json!(t));
        }
        m.insert("protected".into(), json!(self.protected));
        m.insert("raw".into(), json!(self.raw));
        if include_key && self.masked_and_hidden {
            m.insert("masked_and_hidden".into(), json!(true));
            m.insert("masked".into(), json!(true));
        } else {
            m.insert("masked".into(), json!(self.masked));
        }
        m.insert(
            "environment_scope".into(),
            json!(self.environment_scope.as_deref().unwrap_or("*")),
        );
        if let Some(d) = &self.description {
            m.insert("description".into(), json!(d));
        }
        Value::Object(m)
    }
}

/// A new project webhook.
#[derive(Debug, Clone)]
pub struct NewHook {
    pub url: String,
    pub token: Option<SecretString>,
    pub name: Option<String>,
    pub push_events: bool,
    pub tag_push_events: bool,
    pub merge_requests_events: bool,
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
            enable_ssl_verification: true,
        }
    }
}

fn with_query(mut url: Url, pairs: &[(&str, String)]) -> Url {
    if !pairs.is_empty() {
        url.query_pairs_mut()
            .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
    }
    url
}

fn flag(pairs: &mut Vec<(&'static str, String)>, name: &'static str, on: bool) {
    if on {
        pairs.push((name, "true".to_owned()));
    }
}

impl GitLabClient {
    // ---- instance -------------------------------------------------------------------------

    /// `GET /version`.
    #[tracing::instrument(skip_all)]
    pub async fn version(&self, cred: &Credential) -> Result<Version, GitLabError> {
        self.json(&self.get("/version", "/version")?, Some(cred)).await
    }

    /// `GET /metadata` (version plus KAS and edition).
    #[tracing::instrument(skip_all)]
    pub async fn metadata(&self, cred: &Credential) -> Result<Metadata, GitLabError> {
        self.json(&self.get("/metadata", "/metadata")?, Some(cred)).await
    }

    // ---- users ----------------------------------------------------------------------------

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

    fn list<T>(
        &self,
        cred: &Credential,
        template: &'static str,
        path: &str,
        query: &[(&str, String)],
        mode: Mode,
    ) -> Paged<T>
    where
        T: serde::de::DeserializeOwned + Send + 'static,
    {
        match self.api_url(path) {
            Ok(url) => self.paginate(Some(cred), template, with_query(url, query), mode),
            Err(e) => Box::pin(futures_util::stream::once(async move { Err(e) })),
        }
    }

    // ---- groups ---------------------------------------------------------------------------

    /// `GET /groups` (offset pagination).
    pub fn groups(&self, cred: &Credential, filter: &GroupFilter) -> Paged<Group> {
        let mut q = Vec::new();
        if let Some(a) = filter.all_available {
            q.push(("all_available", a.to_string()));
        }
        flag(&mut q, "owned", filter.owned);
        flag(&mut q, "top_level_only", filter.top_level_only);
        if let Some(l) = filter.min_access_level {
            q.push(("min_access_level", l.0.to_string()));
        }
        if let Some(s) = &filter.search {
            q.push(("search", s.clone()));
        }
        q.push(("order_by", "id".to_owned()));
        q.push(("sort", "asc".to_owned()));
        self.list(cred, "/groups", "/groups", &q, Mode::Offset)
    }

    #[tracing::instrument(skip_all)]
    pub async fn group(&self, cred: &Credential, id: &ResourceId) -> Result<Group, GitLabError> {
        self.json(
            &self.get("/groups/{id}", &format!("/groups/{}", id.segment()))?,
            Some(cred),
        )
        .await
    }

    pub fn subgroups(&self, cred: &Credential, id: &ResourceId) -> Paged<Group> {
        self.list(
            cred,
            "/groups/{id}/subgroups",
            &format!("/groups/{}/subgroups", id.segment()),
            &[],
            Mode::Offset,
        )
    }

    pub fn descendant_groups(&self, cred: &Credential, id: &ResourceId) -> Paged<Group> {
        self.list(
            cred,
            "/groups/{id}/descendant_groups",
            &format!("/groups/{}/descendant_groups", id.segment()),
            &[],
            Mode::Offset,
        )
    }

    /// `GET /groups/:id/projects`; `include_subgroups` covers the whole hierarchy.
    pub fn group_projects(
        &self,
        cred: &Credential,
        id: &ResourceId,
        include_subgroups: bool,
    ) -> Paged<Project> {
        let q = [("include_subgroups", include_subgroups.to_string())];
        self.list(
            cred,
            "/groups/{id}/projects",
            &format!("/groups/{}/projects", id.segment()),
            &q,
            Mode::Offset,
        )
    }

    // ---- projects -------------------------------------------------------------------------

    /// `GET /projects`, keyset-paginated by id.
    pub fn projects(&self, cred: &Credential, filter: &ProjectFilter) -> Paged<Project> {
        let mut q = Vec::new();
        flag(&mut q, "membership", filter.membership);
        flag(&mut q, "owned", filter.owned);
        flag(&mut q, "simple", filter.simple);
        if let Some(a) = filter.archived {
            q.push(("archived", a.to_string()));
        }
        if let Some(l) = filter.min_access_level {
            q.push(("min_access_level", l.0.to_string()));
        }
        if let Some(s) = &filter.search {
            q.push(("search", s.clone()));
        }
        self.list(
            cred,
            "/projects",
            "/projects",
            &q,
            Mode::Keyset { order_by: "id" },
        )
    }

    #[tracing::instrument(skip_all)]
    pub async fn project(&self, cred: &Credential, id: &ResourceId) -> Result<Project, GitLabError> {
        self.json(
            &self.get("/projects/{id}", &format!("/projects/{}", id.segment()))?,
            Some(cred),
        )
        .await
    }

    // ---- members --------------------------------------------------------------------------

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
    #[tracing::instrument(skip_all)]
    pub async fn add_member(
        &self,
        cred: &Credential,
        source: &Source,
        user_id: u64,
        level: AccessLevel,
        expires_at: Option<Date>,
    ) -> Result<Member, GitLabError> {
        let mut body = json!({ "user_id": user_id, "access_level": level.0 });
        if let (Some(d), Some(m)) = (expires_at, body.as_object_mut()) {
            m.insert("expires_at".into(), json!(format_date(d)));
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
    #[tracing::instrument(skip_all)]
    pub async fn update_member(
        &self,
        cred: &Credential,
        source: &Source,
        user_id: u64,
        level: AccessLevel,
        expires_at: Option<Date>,
    ) -> Result<Member, GitLabError> {
        let body = json!({
            "access_level": level.0,
            "expires_at": expires_at.map(format_date).unwrap_or_default(),
        });
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

    // ---- CI/CD variables ------------------------------------------------------------------

    pub fn variables(&self, cred: &Credential, source: &Source) -> Paged<Variable> {
        let template = if source.is_project() {
            "/projects/{id}/variables"
        } else {
            "/groups/{id}/variables"
        };
        self.list(
            cred,
            template,
            &format!("{}/variables", source.path()),
            &[],
            Mode::Offset,
        )
    }

    fn variable_url(
        &self,
        source: &Source,
        key: &str,
        environment_scope: &str,
    ) -> Result<(&'static str, Url), GitLabError> {
        let template = if source.is_project() {
            "/projects/{id}/variables/{key}"
        } else {
            "/groups/{id}/variables/{key}"
        };
        let url = self.api_url(&format!("{}/variables/{}", source.path(), encode_segment(key)))?;
        Ok((
            template,
            with_query(
                url,
                &[("filter[environment_scope]", environment_scope.to_owned())],
            ),
        ))
    }

    /// One variable, selected by key and environment scope (GitLab answers 409 without the
    /// scope filter when several scopes share a key, so the filter is always sent).
    #[tracing::instrument(skip_all)]
    pub async fn variable(
        &self,
        cred: &Credential,
        source: &Source,
        key: &str,
        environment_scope: &str,
    ) -> Result<Variable, GitLabError> {
        let (template, url) = self.variable_url(source, key, environment_scope)?;
        let call = crate::client::Call {
            method: Method::GET,
            template,
            url,
            body: None,
            idempotent: true,
        };
        self.json(&call, Some(cred)).await
    }

    /// `POST …/variables` (201). Not retried: a lost answer followed by a retry would get 400
    /// "has already been taken".
    #[tracing::instrument(skip_all)]
    pub async fn create_variable(
        &self,
        cred: &Credential,
        source: &Source,
        var: &NewVariable,
    ) -> Result<Variable, GitLabError> {
        let template = if source.is_project() {
            "/projects/{id}/variables"
        } else {
            "/groups/{id}/variables"
        };
        let call = self.send_json(
            Method::POST,
            template,
            &format!("{}/variables", source.path()),
            var.body(true),
            false,
        )?;
        self.json(&call, Some(cred)).await
    }

    /// `PUT …/variables/:key?filter[environment_scope]=<current scope>` with the full new value
    /// (idempotent, retried). `var.environment_scope` may move the variable to another scope.
    #[tracing::instrument(skip_all)]
    pub async fn update_variable(
        &self,
        cred: &Credential,
        source: &Source,
        current_scope: &str,
        var: &NewVariable,
    ) -> Result<Variable, GitLabError> {
        let (template, url) = self.variable_url(source, &var.key, current_scope)?;
        let call = crate::client::Call {
            method: Method::PUT,
            template,
            url,
            body: Some(crate::client::Body::Json(var.body(false))),
            idempotent: true,
        };
        self.json(&call, Some(cred)).await
    }

    #[tracing::instrument(skip_all)]
    pub async fn delete_variable(
        &self,
        cred: &Credential,
        source: &Source,
        key: &str,
        environment_scope: &str,
    ) -> Result<(), GitLabError> {
        let (template, url) = self.variable_url(source, key, environment_scope)?;
        let call = crate::client::Call {
            method: Method::DELETE,
            template,
            url,
            body: None,
            idempotent: false,
        };
        self.unit(&call, Some(cred)).await
    }

    // ---- hooks ----------------------------------------------------------------------------

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
    }
    body
}

impl GitLabClient {
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

    // ---- repository -----------------------------------------------------------------------

    /// `GET /projects/:id/repository/compare?from=…&to=…` (commits and diffs of a range).
    #[tracing::instrument(skip_all)]
    pub async fn compare(
        &self,
        cred: &Credential,
        project: &ResourceId,
        from: &str,
        to: &str,
    ) -> Result<Comparison, GitLabError> {
        let url = self.api_url(&format!("/projects/{}/repository/compare", project.segment()))?;
        let call = crate::client::Call {
            method: Method::GET,
            template: "/projects/{id}/repository/compare",
            url: with_query(url, &[("from", from.to_owned()), ("to", to.to_owned())]),
            body: None,
            idempotent: true,
        };
        self.json(&call, Some(cred)).await
    }
}
