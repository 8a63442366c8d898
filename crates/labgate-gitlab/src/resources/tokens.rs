//! Personal, project and group access tokens: listing, creation, revocation, rotation (never
//! retried), and token introspection with the fewest calls.

use futures_util::StreamExt;
use http::Method;
use serde_json::{Value, json};
use time::{Date, OffsetDateTime};

use crate::client::{Call, Credential, GitLabClient};
use crate::error::{GitLabError, UnauthorizedReason};
use crate::model::*;
use crate::pagination::{Mode, Paged};

/// Filters for token listings.
#[derive(Debug, Clone, Default)]
pub struct TokenFilter {
    /// `active` or `inactive`.
    pub state: Option<String>,
    pub revoked: Option<bool>,
    pub search: Option<String>,
    /// Admins only: another user's tokens.
    pub user_id: Option<u64>,
}

impl TokenFilter {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(s) = &self.state {
            q.push(("state", s.clone()));
        }
        if let Some(r) = self.revoked {
            q.push(("revoked", r.to_string()));
        }
        if let Some(s) = &self.search {
            q.push(("search", s.clone()));
        }
        if let Some(u) = self.user_id {
            q.push(("user_id", u.to_string()));
        }
        q
    }
}

/// A new project or group access token.
#[derive(Debug, Clone)]
pub struct NewResourceToken {
    pub name: String,
    pub scopes: Vec<String>,
    /// Default Maintainer (40).
    pub access_level: Option<AccessLevel>,
    /// Default: the instance's maximum lifetime.
    pub expires_at: Option<Date>,
    pub description: Option<String>,
}

/// What kind of token was introspected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    Personal,
    Project,
    Group,
    OAuth,
    /// A personal, project or group access token whose owner cannot be read because the token
    /// has none of the `api`, `read_api`, `read_user` scopes.
    AccessTokenOfUnknownOwner,
}

/// Who a token acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    pub id: u64,
    /// `None` when the token may not read its user.
    pub username: Option<String>,
    pub name: Option<String>,
    /// `true` for project/group token bots and service accounts.
    pub bot: Option<bool>,
    pub state: Option<String>,
    pub is_admin: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    Project,
    Group,
}

/// The project or group a resource token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenResource {
    pub kind: ResourceKind,
    pub id: u64,
    /// `None` when the token may not read the resource.
    pub full_path: Option<String>,
}

/// How introspection learned about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// GitLab described the token (`/personal_access_tokens/self` or `/oauth/token/info`).
    Described,
    /// The instance predates `/personal_access_tokens/self` (GitLab 15.5), so the token was
    /// judged by what its calls answered: it is live (GitLab answered `/version` and `/user`
    /// with it), its owner is known, and project and group tokens are told by their bot user.
    /// Its id, name, expiry and scopes are unknown: `scopes` is empty and `expires_at` `None`.
    Behaviour {
        /// What `/version` reported.
        gitlab_version: String,
        /// Whether the token could list projects, which takes `read_api` or `api`; `false`
        /// when GitLab refused it for lack of scope.
        reads_api: bool,
    },
}

/// Everything introspection learned about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub kind: TokenKind,
    /// The token's id (personal/project/group tokens; rotation needs it).
    pub token_id: Option<u64>,
    pub name: Option<String>,
    pub scopes: Vec<String>,
    /// Expiry date of an access token (expired from 00:00 UTC that day).
    pub expires_on: Option<Date>,
    /// Expiry instant: midnight UTC of `expires_on`, or for OAuth tokens now + `expires_in`
    /// measured on our clock when the answer arrived.
    pub expires_at: Option<OffsetDateTime>,
    pub active: bool,
    pub revoked: bool,
    pub owner: Option<TokenOwner>,
    pub resource: Option<TokenResource>,
    /// The bot's role in its resource (project/group tokens).
    pub access_level: Option<AccessLevel>,
    /// OAuth application id (`application.uid`).
    pub application_uid: Option<String>,
    pub created_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
    /// How many GitLab requests introspection needed.
    pub requests: u32,
    pub evidence: Evidence,
}

/// `GET /oauth/token/info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OAuthTokenInfo {
    pub resource_owner_id: Option<u64>,
    pub scope: Vec<String>,
    /// Seconds left, on GitLab's clock.
    pub expires_in: Option<i64>,
    pub application: Option<OAuthApplicationRef>,
    pub created_at: Option<i64>,
}

/// The wire shape: `scopes` and `expires_in_seconds` are deprecated aliases GitLab still sends
/// next to `scope` and `expires_in`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct RawOAuthTokenInfo {
    resource_owner_id: Option<u64>,
    scope: Option<Vec<String>>,
    scopes: Option<Vec<String>>,
    expires_in: Option<i64>,
    expires_in_seconds: Option<i64>,
    application: Option<OAuthApplicationRef>,
    created_at: Option<i64>,
}

impl From<RawOAuthTokenInfo> for OAuthTokenInfo {
    fn from(r: RawOAuthTokenInfo) -> Self {
        Self {
            resource_owner_id: r.resource_owner_id,
            scope: r.scope.or(r.scopes).unwrap_or_default(),
            expires_in: r.expires_in.or(r.expires_in_seconds),
            application: r.application,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct OAuthApplicationRef {
    pub uid: Option<String>,
}

const USER_SCOPES: &[&str] = &["api", "read_api", "read_user"];
const API_SCOPES: &[&str] = &["api", "read_api"];

fn has_any(scopes: &[String], wanted: &[&str]) -> bool {
    scopes.iter().any(|s| wanted.contains(&s.as_str()))
}

/// `project_123_bot_…` → (Project, 123); `group_7_bot_…` → (Group, 7). GitLab's documented
/// naming of resource-token bot users.
fn bot_resource(username: &str) -> Option<(ResourceKind, u64)> {
    let (kind, rest) = if let Some(r) = username.strip_prefix("project_") {
        (ResourceKind::Project, r)
    } else if let Some(r) = username.strip_prefix("group_") {
        (ResourceKind::Group, r)
    } else {
        return None;
    };
    let (id, tail) = rest.split_once('_')?;
    if !tail.starts_with("bot") {
        return None;
    }
    id.parse().ok().map(|id| (kind, id))
}

/// The release that added `GET /personal_access_tokens/self`.
const SELF_ENDPOINT_SINCE: (u32, u32) = (15, 5);

/// Whether a `/version` answer (`"15.4.0-ee"`) names a release before `SELF_ENDPOINT_SINCE`;
/// `false` when it cannot be read.
fn predates_self_endpoint(version: &str) -> bool {
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .map(str::parse::<u32>);
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => (major, minor) < SELF_ENDPOINT_SINCE,
        _ => false,
    }
}

fn rotate_body(expires_at: Option<Date>) -> Value {
    match expires_at {
        Some(d) => json!({ "expires_at": format_date(d) }),
        None => json!({}),
    }
}

impl GitLabClient {
    fn tokens_list(
        &self,
        cred: &Credential,
        template: &'static str,
        path: String,
        filter: &TokenFilter,
    ) -> Paged<AccessToken> {
        match self.api_url(&path) {
            Ok(mut url) => {
                let q = filter.query();
                if !q.is_empty() {
                    url.query_pairs_mut()
                        .extend_pairs(q.iter().map(|(k, v)| (*k, v.as_str())));
                }
                self.paginate(Some(cred), template, url, Mode::Offset)
            }
            Err(e) => Box::pin(futures_util::stream::once(async move { Err(e) })),
        }
    }

    async fn created(&self, call: &Call, cred: &Credential) -> Result<CreatedToken, GitLabError> {
        let v: Value = self.json(call, Some(cred)).await?;
        CreatedToken::from_json(v, call.template)
    }

    // ---- personal access tokens -----------------------------------------------------------

    /// `GET /personal_access_tokens/self` (any scope; personal, project and group tokens).
    #[tracing::instrument(skip_all)]
    pub async fn personal_access_token_self(&self, cred: &Credential) -> Result<AccessToken, GitLabError> {
        let call = self.get("/personal_access_tokens/self", "/personal_access_tokens/self")?;
        self.json(&call, Some(cred)).await
    }

    pub fn personal_access_tokens(&self, cred: &Credential, filter: &TokenFilter) -> Paged<AccessToken> {
        self.tokens_list(
            cred,
            "/personal_access_tokens",
            "/personal_access_tokens".to_owned(),
            filter,
        )
    }

    #[tracing::instrument(skip_all)]
    pub async fn personal_access_token(
        &self,
        cred: &Credential,
        id: u64,
    ) -> Result<AccessToken, GitLabError> {
        let call = self.get(
            "/personal_access_tokens/{id}",
            &format!("/personal_access_tokens/{id}"),
        )?;
        self.json(&call, Some(cred)).await
    }

    #[tracing::instrument(skip_all)]
    pub async fn revoke_personal_token(&self, cred: &Credential, id: u64) -> Result<(), GitLabError> {
        let call = self.delete(
            "/personal_access_tokens/{id}",
            &format!("/personal_access_tokens/{id}"),
        )?;
        self.unit(&call, Some(cred)).await
    }

    /// `DELETE /personal_access_tokens/self`: the calling token revokes itself.
    #[tracing::instrument(skip_all)]
    pub async fn revoke_self(&self, cred: &Credential) -> Result<(), GitLabError> {
        let call = self.delete("/personal_access_tokens/self", "/personal_access_tokens/self")?;
        self.unit(&call, Some(cred)).await
    }

    /// `POST /personal_access_tokens/:id/rotate`. Never retried: the old token is revoked at
    /// once, so store the answer before anything else. A lost answer is
    /// [`GitLabError::Transient`] saying the change may have been applied.
    #[tracing::instrument(skip_all, fields(token_id = id))]
    pub async fn rotate_personal_token(
        &self,
        cred: &Credential,
        id: u64,
        expires_at: Option<Date>,
    ) -> Result<CreatedToken, GitLabError> {
        let call = self.send_json(
            Method::POST,
            "/personal_access_tokens/{id}/rotate",
            &format!("/personal_access_tokens/{id}/rotate"),
            rotate_body(expires_at),
            false,
        )?;
        self.created(&call, cred).await
    }

    /// `POST /personal_access_tokens/self/rotate` (needs `api` or `self_rotate`; works for
    /// personal, project and group tokens). Never retried.
    #[tracing::instrument(skip_all)]
    pub async fn rotate_self(
        &self,
        cred: &Credential,
        expires_at: Option<Date>,
    ) -> Result<CreatedToken, GitLabError> {
        let call = self.send_json(
            Method::POST,
            "/personal_access_tokens/self/rotate",
            "/personal_access_tokens/self/rotate",
            rotate_body(expires_at),
            false,
        )?;
        self.created(&call, cred).await
    }

    // ---- project and group access tokens --------------------------------------------------

    fn resource_templates(project: bool) -> [&'static str; 3] {
        if project {
            [
                "/projects/{id}/access_tokens",
                "/projects/{id}/access_tokens/{token_id}",
                "/projects/{id}/access_tokens/{token_id}/rotate",
            ]
        } else {
            [
                "/groups/{id}/access_tokens",
                "/groups/{id}/access_tokens/{token_id}",
                "/groups/{id}/access_tokens/{token_id}/rotate",
            ]
        }
    }

    /// Project (`Source::Project`) or group access tokens.
    pub fn resource_access_tokens(
        &self,
        cred: &Credential,
        source: &Source,
        filter: &TokenFilter,
    ) -> Paged<AccessToken> {
        let [list, _, _] = Self::resource_templates(source.is_project());
        self.tokens_list(cred, list, format!("{}/access_tokens", source.path()), filter)
    }

    #[tracing::instrument(skip_all)]
    pub async fn resource_access_token(
        &self,
        cred: &Credential,
        source: &Source,
        token_id: u64,
    ) -> Result<AccessToken, GitLabError> {
        let [_, one, _] = Self::resource_templates(source.is_project());
        let call = self.get(one, &format!("{}/access_tokens/{token_id}", source.path()))?;
        self.json(&call, Some(cred)).await
    }

    /// Creates a project or group access token (needs a personal token with `api`). Not retried.
    #[tracing::instrument(skip_all)]
    pub async fn create_resource_access_token(
        &self,
        cred: &Credential,
        source: &Source,
        new: &NewResourceToken,
    ) -> Result<CreatedToken, GitLabError> {
        let [list, _, _] = Self::resource_templates(source.is_project());
        let mut body = json!({ "name": new.name, "scopes": new.scopes });
        if let Some(m) = body.as_object_mut() {
            if let Some(l) = new.access_level {
                m.insert("access_level".into(), json!(l.0));
            }
            if let Some(d) = new.expires_at {
                m.insert("expires_at".into(), json!(format_date(d)));
            }
            if let Some(d) = &new.description {
                m.insert("description".into(), json!(d));
            }
        }
        let call = self.send_json(
            Method::POST,
            list,
            &format!("{}/access_tokens", source.path()),
            body,
            false,
        )?;
        self.created(&call, cred).await
    }

    #[tracing::instrument(skip_all)]
    pub async fn revoke_resource_access_token(
        &self,
        cred: &Credential,
        source: &Source,
        token_id: u64,
    ) -> Result<(), GitLabError> {
        let [_, one, _] = Self::resource_templates(source.is_project());
        let call = self.delete(one, &format!("{}/access_tokens/{token_id}", source.path()))?;
        self.unit(&call, Some(cred)).await
    }

    /// `POST /projects/:id/access_tokens/:token_id/rotate`. Never retried.
    #[tracing::instrument(skip_all, fields(token_id = token_id))]
    pub async fn rotate_project_token(
        &self,
        cred: &Credential,
        project: &ResourceId,
        token_id: u64,
        expires_at: Option<Date>,
    ) -> Result<CreatedToken, GitLabError> {
        self.rotate_resource(
            cred,
            &Source::Project(project.clone()),
            &token_id.to_string(),
            expires_at,
        )
        .await
    }

    /// `POST /groups/:id/access_tokens/:token_id/rotate`. Never retried.
    #[tracing::instrument(skip_all, fields(token_id = token_id))]
    pub async fn rotate_group_token(
        &self,
        cred: &Credential,
        group: &ResourceId,
        token_id: u64,
        expires_at: Option<Date>,
    ) -> Result<CreatedToken, GitLabError> {
        self.rotate_resource(
            cred,
            &Source::Group(group.clone()),
            &token_id.to_string(),
            expires_at,
        )
        .await
    }

    /// A project or group token rotating itself (`token_id=self`; `api` or `self_rotate`).
    #[tracing::instrument(skip_all)]
    pub async fn rotate_resource_self(
        &self,
        cred: &Credential,
        source: &Source,
        expires_at: Option<Date>,
    ) -> Result<CreatedToken, GitLabError> {
        self.rotate_resource(cred, source, "self", expires_at).await
    }

    async fn rotate_resource(
        &self,
        cred: &Credential,
        source: &Source,
        token_id: &str,
        expires_at: Option<Date>,
    ) -> Result<CreatedToken, GitLabError> {
        let [_, _, rotate] = Self::resource_templates(source.is_project());
        let call = self.send_json(
            Method::POST,
            rotate,
            &format!("{}/access_tokens/{token_id}/rotate", source.path()),
            rotate_body(expires_at),
            false,
        )?;
        self.created(&call, cred).await
    }

    // ---- OAuth token info -------------------------------------------------------------------

    /// `GET /oauth/token/info` for an OAuth access token (it must still be live).
    #[tracing::instrument(skip_all)]
    pub async fn oauth_token_info(
        &self,
        token: &secrecy::SecretString,
    ) -> Result<OAuthTokenInfo, GitLabError> {
        let url = self
            .base_url()
            .join("/oauth/token/info")
            .map_err(|e| GitLabError::Config(e.to_string()))?;
        let call = Call {
            method: Method::GET,
            template: "/oauth/token/info",
            url,
            body: None,
            idempotent: true,
        };
        let raw: RawOAuthTokenInfo = self.json(&call, Some(&Credential::OAuth(token.clone()))).await?;
        Ok(raw.into())
    }

    // ---- introspection ----------------------------------------------------------------------

    /// Finds a token's kind, scopes, expiry, state, owner and (for project/group tokens) its
    /// resource and role, with as few requests as possible:
    ///
    /// - personal token: `/personal_access_tokens/self` + `/user` (2);
    /// - project token: + `/projects/:id` (3); group token: + `/groups/:id` and the bot's
    ///   membership (4);
    /// - OAuth token: `/oauth/token/info` + `/user` (2);
    /// - `/user` is skipped when the scopes cannot read it.
    ///
    /// On GitLab before 15.5, which answers `/personal_access_tokens/self` with 404, the token
    /// is judged by its behaviour instead ([`Evidence::Behaviour`]): `/version` (to tell an old
    /// instance from a wrong URL), `/user`, one page of `/projects?membership=true`, and the
    /// resource calls above for project and group tokens.
    ///
    /// The kind is never inferred from a token prefix (instances may use a custom one). A
    /// [`Credential::PrivateToken`] that GitLab does not know as an access token is tried once as
    /// an OAuth token. Expired and revoked tokens give [`GitLabError::Unauthorized`].
    #[tracing::instrument(skip_all)]
    pub async fn introspect(&self, cred: &Credential) -> Result<TokenInfo, GitLabError> {
        match cred {
            Credential::OAuth(t) => self.introspect_oauth(t, 0).await,
            Credential::PrivateToken(t) => match self.personal_access_token_self(cred).await {
                Ok(pat) => self.introspect_access_token(cred, pat).await,
                Err(
                    e @ (GitLabError::Unauthorized {
                        reason: UnauthorizedReason::Invalid,
                    }
                    | GitLabError::BadRequest { .. }),
                ) => match self.introspect_oauth(t, 1).await {
                    Ok(info) => Ok(info),
                    Err(_) => Err(match e {
                        GitLabError::BadRequest { .. } => GitLabError::Unauthorized {
                            reason: UnauthorizedReason::Invalid,
                        },
                        other => other,
                    }),
                },
                Err(e @ GitLabError::NotFound { .. }) => self.introspect_by_behaviour(cred, t, e).await,
                Err(e) => Err(e),
            },
        }
    }

    /// Introspection on an instance without `/personal_access_tokens/self`; `not_found` is that
    /// endpoint's answer, returned as is when the instance turns out to be recent enough to have
    /// it (then the URL is not a GitLab API root).
    async fn introspect_by_behaviour(
        &self,
        cred: &Credential,
        token: &secrecy::SecretString,
        not_found: GitLabError,
    ) -> Result<TokenInfo, GitLabError> {
        // That 404 comes from a catch-all route that ignores the token: this is the first call
        // that tells whether GitLab knows it.
        let version = match self.version(cred).await {
            Ok(v) => v.version,
            Err(GitLabError::Unauthorized {
                reason: UnauthorizedReason::Invalid,
            }) => {
                return self
                    .introspect_oauth(token, 2)
                    .await
                    .map_err(|_| GitLabError::Unauthorized {
                        reason: UnauthorizedReason::Invalid,
                    });
            }
            Err(e) => return Err(e),
        };
        if !predates_self_endpoint(&version) {
            return Err(not_found);
        }
        let user = self.current_user(cred).await?;
        let filter = super::ProjectFilter {
            membership: true,
            simple: true,
            ..super::ProjectFilter::default()
        };
        let reads_api = match self.projects(cred, &filter).next().await {
            None | Some(Ok(_)) => true,
            Some(Err(GitLabError::InsufficientScope { .. })) => false,
            Some(Err(e)) => return Err(e),
        };
        let mut info = TokenInfo {
            kind: TokenKind::Personal,
            token_id: None,
            name: None,
            scopes: Vec::new(),
            expires_on: None,
            expires_at: None,
            active: true,
            revoked: false,
            owner: Some(owner_of(&user)),
            resource: None,
            access_level: None,
            application_uid: None,
            created_at: None,
            last_used_at: None,
            requests: 4,
            evidence: Evidence::Behaviour {
                gitlab_version: version,
                reads_api,
            },
        };
        let resource = if user.bot {
            bot_resource(&user.username)
        } else {
            None
        };
        if let Some((kind, id)) = resource {
            info.kind = match kind {
                ResourceKind::Project => TokenKind::Project,
                ResourceKind::Group => TokenKind::Group,
            };
            info.resource = Some(TokenResource {
                kind,
                id,
                full_path: None,
            });
            if reads_api {
                self.describe_resource(cred, &mut info, kind, id, user.id).await?;
            }
        }
        Ok(info)
    }

    async fn introspect_oauth(
        &self,
        token: &secrecy::SecretString,
        prior: u32,
    ) -> Result<TokenInfo, GitLabError> {
        let received = OffsetDateTime::now_utc();
        let info = self.oauth_token_info(token).await?;
        let mut requests = prior + 1;
        let cred = Credential::OAuth(token.clone());
        let owner = if has_any(&info.scope, USER_SCOPES) {
            requests += 1;
            let u = self.current_user(&cred).await?;
            Some(owner_of(&u))
        } else {
            info.resource_owner_id.map(|id| TokenOwner {
                id,
                username: None,
                name: None,
                bot: None,
                state: None,
                is_admin: None,
            })
        };
        let expires_at = info.expires_in.map(|s| received + time::Duration::seconds(s));
        Ok(TokenInfo {
            kind: TokenKind::OAuth,
            token_id: None,
            name: None,
            scopes: info.scope,
            expires_on: expires_at.map(OffsetDateTime::date),
            expires_at,
            active: info.expires_in.is_none_or(|s| s > 0),
            revoked: false,
            owner,
            resource: None,
            access_level: None,
            application_uid: info.application.and_then(|a| a.uid),
            created_at: info
                .created_at
                .and_then(|c| OffsetDateTime::from_unix_timestamp(c).ok()),
            last_used_at: None,
            requests,
            evidence: Evidence::Described,
        })
    }

    async fn introspect_access_token(
        &self,
        cred: &Credential,
        pat: AccessToken,
    ) -> Result<TokenInfo, GitLabError> {
        let mut info = TokenInfo {
            kind: TokenKind::AccessTokenOfUnknownOwner,
            token_id: Some(pat.id),
            name: Some(pat.name.clone()),
            scopes: pat.scopes.clone(),
            expires_on: pat.expires_at,
            expires_at: pat.expires_at.map(|d| d.midnight().assume_utc()),
            active: pat.active,
            revoked: pat.revoked,
            owner: Some(TokenOwner {
                id: pat.user_id,
                username: None,
                name: None,
                bot: None,
                state: None,
                is_admin: None,
            }),
            resource: None,
            access_level: pat.access_level,
            application_uid: None,
            created_at: pat.created_at,
            last_used_at: pat.last_used_at,
            requests: 1,
            evidence: Evidence::Described,
        };
        if !has_any(&pat.scopes, USER_SCOPES) {
            return Ok(info);
        }
        info.requests += 1;
        let user = self.current_user(cred).await?;
        info.owner = Some(owner_of(&user));
        let resource = if user.bot {
            bot_resource(&user.username)
        } else {
            None
        };
        let Some((kind, id)) = resource else {
            // Humans and service accounts own personal tokens.
            info.kind = TokenKind::Personal;
            return Ok(info);
        };
        info.kind = match kind {
            ResourceKind::Project => TokenKind::Project,
            ResourceKind::Group => TokenKind::Group,
        };
        info.resource = Some(TokenResource {
            kind,
            id,
            full_path: None,
        });
        if !has_any(&pat.scopes, API_SCOPES) {
            return Ok(info);
        }
        self.describe_resource(cred, &mut info, kind, id, user.id).await?;
        Ok(info)
    }

    /// Adds the resource's path and the bot's role to `info`. They are enrichment: a refusal
    /// (the resource was moved, or an unusual permission setup) leaves them unknown instead of
    /// failing the whole introspection; transport and token errors still propagate.
    async fn describe_resource(
        &self,
        cred: &Credential,
        info: &mut TokenInfo,
        kind: ResourceKind,
        id: u64,
        bot_id: u64,
    ) -> Result<(), GitLabError> {
        match kind {
            ResourceKind::Project => {
                info.requests += 1;
                if let Some(p) = optional(self.project(cred, &ResourceId::Id(id)).await)? {
                    info.resource = Some(TokenResource {
                        kind,
                        id,
                        full_path: Some(p.path_with_namespace),
                    });
                    if let Some(l) = p
                        .permissions
                        .and_then(|x| x.project_access)
                        .map(|a| a.access_level)
                    {
                        info.access_level = Some(l);
                    }
                }
            }
            ResourceKind::Group => {
                info.requests += 1;
                if let Some(g) = optional(self.group(cred, &ResourceId::Id(id)).await)? {
                    info.resource = Some(TokenResource {
                        kind,
                        id,
                        full_path: Some(g.full_path),
                    });
                }
                info.requests += 1;
                let m = self
                    .member(
                        cred,
                        &Source::Group(ResourceId::Id(id)),
                        bot_id,
                        super::MemberScope::Direct,
                    )
                    .await;
                if let Some(m) = optional(m)? {
                    info.access_level = Some(m.access_level);
                }
            }
        }
        Ok(())
    }
}

/// `Ok(None)` for answers that only mean "you may not see this".
fn optional<T>(r: Result<T, GitLabError>) -> Result<Option<T>, GitLabError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(
            GitLabError::Forbidden { .. }
            | GitLabError::NotFound { .. }
            | GitLabError::InsufficientScope { .. },
        ) => Ok(None),
        Err(e) => Err(e),
    }
}

fn owner_of(u: &User) -> TokenOwner {
    TokenOwner {
        id: u.id,
        username: Some(u.username.clone()),
        name: Some(u.name.clone()),
        bot: Some(u.bot),
        state: Some(u.state.clone()),
        is_admin: u.is_admin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_before_the_self_endpoint() {
        for (version, old) in [
            ("15.4.0", true),
            ("15.4.6-ee", true),
            ("14.10.5", true),
            ("15.5.0", false),
            ("15.10.0-ee", false),
            ("17.9.1-ee", false),
            ("unknown", false),
        ] {
            assert_eq!(predates_self_endpoint(version), old, "{version}");
        }
    }

    #[test]
    fn bot_names() {
        assert_eq!(
            bot_resource("project_123_bot_4ffca233d8298ea1"),
            Some((ResourceKind::Project, 123))
        );
        assert_eq!(bot_resource("group_7_bot_ab"), Some((ResourceKind::Group, 7)));
        assert_eq!(bot_resource("project_x_bot_1"), None);
        assert_eq!(bot_resource("alice"), None);
        assert_eq!(bot_resource("project_1_robot"), None);
    }
}
