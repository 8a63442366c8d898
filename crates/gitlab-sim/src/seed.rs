//! The seed format (JSON, part of the simulator's interface) and a builder for tests.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::clock::{parse_date, parse_ts};
use crate::db::{Db, NewToken, NewUser, RateLimitSettings, Settings};
use crate::model::*;

/// Why a seed could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("seed is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("seed entry {what} is invalid: {reason}")]
    Invalid { what: String, reason: String },
}

fn invalid(what: impl Into<String>, reason: impl Into<String>) -> SeedError {
    SeedError::Invalid {
        what: what.into(),
        reason: reason.into(),
    }
}

/// A whole instance description.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Seed {
    pub mode: Mode,
    /// Version reported by `/version` and `/metadata`.
    pub version: Option<String>,
    pub users: Vec<SeedUser>,
    pub groups: Vec<SeedGroup>,
    pub projects: Vec<SeedProject>,
    pub members: Vec<SeedMember>,
    pub member_roles: Vec<SeedMemberRole>,
    /// Groups and projects shared with (invited) groups.
    pub shares: Vec<SeedShare>,
    pub invitations: Vec<SeedInvitation>,
    pub tokens: Vec<SeedToken>,
    pub oauth_applications: Vec<SeedOAuthApp>,
    pub variables: Vec<SeedVariable>,
    pub hooks: Vec<SeedHook>,
    pub rate_limits: RateLimitSettings,
    /// Accept PKCE `plain` on every application.
    pub allow_pkce_plain: bool,
    /// A Free-tier licence: no Premium features such as group webhooks.
    pub free_tier: bool,
    /// A large generated instance, added after the explicit entries.
    pub generate: Option<Generate>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeedUser {
    pub username: String,
    pub name: String,
    pub email: String,
    pub admin: bool,
    /// `active`, `blocked`, `deactivated` or `banned`.
    pub state: Option<String>,
    pub service_account: bool,
    pub external: bool,
    pub public_email: Option<String>,
    pub note: Option<String>,
    pub created_at: Option<String>,
    pub last_sign_in_at: Option<String>,
    pub last_activity_on: Option<String>,
    pub identities: Vec<SeedIdentity>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeedIdentity {
    pub provider: String,
    pub extern_uid: String,
}

/// A custom role; `group` is the top-level group that defines it (GitLab.com), or absent for an
/// instance-wide role (self-managed).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeedMemberRole {
    pub name: String,
    pub group: Option<String>,
    pub description: String,
    pub base_access_level: u8,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeedGroup {
    /// Full path; parents must be listed (they are created first, whatever the order).
    pub path: String,
    pub name: String,
    pub visibility: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeedProject {
    /// Full path under a group or a username.
    pub path: String,
    pub name: String,
    pub visibility: Option<String>,
    pub description: Option<String>,
    pub default_branch: Option<String>,
    /// Files of the initial commit on the default branch.
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeedMember {
    /// Full path of a group or project.
    pub source: String,
    pub user: String,
    pub access_level: u8,
    pub expires_at: Option<String>,
    /// The name of a custom role from `member_roles`; its base level must be `access_level`.
    pub member_role: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeedShare {
    /// The group or project being shared.
    pub source: String,
    /// The group it is shared with.
    pub group: String,
    pub access_level: u8,
    pub expires_at: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeedInvitation {
    pub source: String,
    pub email: String,
    pub access_level: u8,
    pub expires_at: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeedToken {
    /// `personal`, `project` or `group`.
    pub kind: String,
    /// Owner of a personal token.
    pub user: Option<String>,
    /// Project or group of a resource token.
    pub source: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub scopes: Vec<String>,
    /// The secret; generated when absent.
    pub token: Option<String>,
    pub expires_at: Option<String>,
    pub access_level: Option<u8>,
    pub revoked: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeedOAuthApp {
    pub name: String,
    pub uid: Option<String>,
    pub secret: Option<String>,
    /// One URI, or several separated by newlines (as GitLab stores them).
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub confidential: Option<bool>,
    pub auto_approve_as: Option<String>,
    pub access_token_ttl: Option<u64>,
    pub allow_pkce_plain: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeedVariable {
    pub source: String,
    pub key: String,
    pub value: String,
    pub variable_type: Option<String>,
    pub protected: bool,
    pub masked: bool,
    pub hidden: bool,
    pub raw: bool,
    pub environment_scope: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeedHook {
    pub project: String,
    pub url: String,
    pub token: Option<String>,
    pub push_events: Option<bool>,
    pub tag_push_events: bool,
}

/// Sizes of a generated instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Generate {
    pub users: u64,
    pub groups: u64,
    pub projects: u64,
    pub memberships: u64,
    /// Groups and projects shared with (invited) groups.
    pub shares: u64,
    /// RNG seed; the same seed builds the same instance.
    pub seed: u64,
}

impl Generate {
    /// The benchmark instance: 20,000 users, 2,000 groups, 50,000 projects, 500,000 memberships
    /// and 2,000 shares.
    pub fn large() -> Self {
        Self {
            users: 20_000,
            groups: 2_000,
            projects: 50_000,
            memberships: 500_000,
            shares: 2_000,
            seed: 1,
        }
    }

    /// Every size times `factor` (at least one of each that was asked for), same RNG seed.
    #[must_use]
    pub fn scaled(&self, factor: f64) -> Self {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "sizes are far below 2^52; a negative factor is clamped to zero"
        )]
        let scale = |n: u64| {
            if n == 0 {
                0
            } else {
                ((n as f64 * factor.max(0.0)).round() as u64).max(1)
            }
        };
        Self {
            users: scale(self.users),
            groups: scale(self.groups),
            projects: scale(self.projects),
            memberships: scale(self.memberships),
            shares: scale(self.shares),
            seed: self.seed,
        }
    }
}

fn parse_vis(v: Option<&str>, what: &str) -> Result<Visibility, SeedError> {
    match v {
        None => Ok(Visibility::Private),
        Some(s) => Visibility::parse(s).ok_or_else(|| invalid(what, format!("unknown visibility {s:?}"))),
    }
}

fn parse_opt_date(v: Option<&str>, what: &str) -> Result<Option<time::Date>, SeedError> {
    v.map(|s| parse_date(s).ok_or_else(|| invalid(what, format!("bad date {s:?}"))))
        .transpose()
}

fn parse_opt_ts(v: Option<&str>, what: &str) -> Result<Option<OffsetDateTime>, SeedError> {
    v.map(|s| parse_ts(s).ok_or_else(|| invalid(what, format!("bad timestamp {s:?}"))))
        .transpose()
}

impl Seed {
    pub fn from_json(json: &str) -> Result<Self, SeedError> {
        Ok(serde_json::from_str(json)?)
    }

    pub fn from_value(value: serde_json::Value) -> Result<Self, SeedError> {
        Ok(serde_json::from_value(value)?)
    }

    pub fn builder() -> SeedBuilder {
        SeedBuilder::default()
    }

    /// Builds the database this seed describes.
    pub fn build_db(&self, now: OffsetDateTime, host: &str) -> Result<Db, SeedError> {
        let mut db = Db::new(Settings {
            mode: self.mode,
            rate_limits: self.rate_limits.clone(),
            host: host.to_owned(),
            allow_pkce_plain: self.allow_pkce_plain,
            free_tier: self.free_tier,
            ..Settings::default()
        });
        if let Some(v) = &self.version {
            db.settings.version.clone_from(v);
        }
        let e = |what: String| move |err: crate::error::ApiError| invalid(what, err.to_string());
        for u in &self.users {
            let state = match u.state.as_deref() {
                None => None,
                Some(s) => Some(
                    UserState::parse(s)
                        .ok_or_else(|| invalid(&u.username, format!("unknown state {s:?}")))?,
                ),
            };
            let id = db
                .create_user(
                    NewUser {
                        username: u.username.clone(),
                        name: if u.name.is_empty() {
                            u.username.clone()
                        } else {
                            u.name.clone()
                        },
                        email: if u.email.is_empty() {
                            format!("{}@example.com", u.username)
                        } else {
                            u.email.clone()
                        },
                        admin: u.admin,
                        kind: u.service_account.then_some(UserKind::ServiceAccount),
                        state,
                        external: u.external,
                        public_email: u.public_email.clone(),
                        note: u.note.clone(),
                        created_at: parse_opt_ts(u.created_at.as_deref(), &u.username)?,
                        last_sign_in_at: parse_opt_ts(u.last_sign_in_at.as_deref(), &u.username)?,
                        last_activity_on: parse_opt_date(u.last_activity_on.as_deref(), &u.username)?,
                        bot_source: None,
                    },
                    now,
                )
                .map_err(e(format!("user {}", u.username)))?;
            if let Some(user) = db.users.get_mut(&id) {
                user.identities = u
                    .identities
                    .iter()
                    .map(|i| Identity {
                        provider: i.provider.clone(),
                        extern_uid: i.extern_uid.clone(),
                    })
                    .collect();
            }
        }
        let mut groups: Vec<&SeedGroup> = self.groups.iter().collect();
        groups.sort_by_key(|g| g.path.matches('/').count());
        for g in groups {
            let name = if g.name.is_empty() {
                g.path.rsplit('/').next().unwrap_or_default()
            } else {
                &g.name
            };
            let vis = parse_vis(g.visibility.as_deref(), &g.path)?;
            db.create_group(
                &g.path,
                name,
                vis,
                g.description.as_deref().unwrap_or_default(),
                now,
            )
            .map_err(e(format!("group {}", g.path)))?;
        }
        for p in &self.projects {
            let name = if p.name.is_empty() {
                p.path.rsplit('/').next().unwrap_or_default()
            } else {
                &p.name
            };
            let vis = parse_vis(p.visibility.as_deref(), &p.path)?;
            let id = db
                .create_project(&p.path, name, vis, now)
                .map_err(e(format!("project {}", p.path)))?;
            if let Some(project) = db.projects.get_mut(&id) {
                project.files.clone_from(&p.files);
                if let Some(b) = &p.default_branch {
                    project.default_branch.clone_from(b);
                }
                if let Some(d) = &p.description {
                    project.description.clone_from(d);
                }
            }
        }
        for s in &self.shares {
            let target = db
                .source_by_path(&s.source)
                .ok_or_else(|| invalid(&s.source, "no such group or project"))?;
            let g = db
                .group_id(&s.group)
                .ok_or_else(|| invalid(&s.group, "no such group"))?;
            db.share(
                target,
                g,
                s.access_level,
                parse_opt_date(s.expires_at.as_deref(), &s.source)?,
            )
            .map_err(e(format!("share {}", s.source)))?;
        }
        let mut role_ids = HashMap::new();
        for r in &self.member_roles {
            let group = match &r.group {
                Some(path) => Some(db.group_id(path).ok_or_else(|| invalid(path, "no such group"))?),
                None => None,
            };
            let id = db
                .create_member_role(group, &r.name, &r.description, r.base_access_level)
                .map_err(e(format!("member role {}", r.name)))?;
            role_ids.insert(r.name.as_str(), id);
        }
        for m in &self.members {
            let source = db
                .source_by_path(&m.source)
                .ok_or_else(|| invalid(&m.source, "no such group or project"))?;
            let user = db
                .user_by_username(&m.user)
                .map(|u| u.id)
                .ok_or_else(|| invalid(&m.user, "no such user"))?;
            if !VALID_ACCESS_LEVELS.contains(&m.access_level) {
                return Err(invalid(
                    &m.source,
                    format!("access level {} is not valid", m.access_level),
                ));
            }
            db.add_member(
                source,
                user,
                m.access_level,
                parse_opt_date(m.expires_at.as_deref(), &m.user)?,
                None,
                now,
            );
            if let Some(name) = &m.member_role {
                let role = role_ids
                    .get(name.as_str())
                    .copied()
                    .ok_or_else(|| invalid(name, "no such member role"))?;
                if db.member_roles.get(&role).map(|r| r.base_access_level) != Some(m.access_level) {
                    return Err(invalid(
                        name,
                        "the member's access level differs from the role's base level",
                    ));
                }
                db.assign_member_role(source, user, role)
                    .map_err(e(format!("member {} of {}", m.user, m.source)))?;
            }
        }
        for i in &self.invitations {
            let source = db
                .source_by_path(&i.source)
                .ok_or_else(|| invalid(&i.source, "no such group or project"))?;
            db.add_invitation(
                source,
                &i.email,
                i.access_level,
                parse_opt_date(i.expires_at.as_deref(), &i.email)?,
                None,
                now,
            );
        }
        for t in &self.tokens {
            let what = format!("token {}", t.name);
            let expires_at = parse_opt_date(t.expires_at.as_deref(), &what)?;
            match t.kind.as_str() {
                "personal" => {
                    let user = t
                        .user
                        .as_deref()
                        .ok_or_else(|| invalid(&what, "personal tokens need a user"))?;
                    let user_id = db
                        .user_by_username(user)
                        .map(|u| u.id)
                        .ok_or_else(|| invalid(&what, "no such user"))?;
                    db.create_token(
                        NewToken {
                            kind: TokenKind::Personal,
                            user_id,
                            name: t.name.clone(),
                            description: t.description.clone(),
                            scopes: t.scopes.clone(),
                            expires_at,
                            access_level: 0,
                            secret: t.token.clone(),
                            previous_id: None,
                            revoked: t.revoked,
                        },
                        now,
                    )
                    .map_err(e(what.clone()))?;
                }
                "project" | "group" => {
                    let path = t
                        .source
                        .as_deref()
                        .ok_or_else(|| invalid(&what, "resource tokens need a source"))?;
                    let source = if t.kind == "project" {
                        db.project_id(path).map(Source::Project)
                    } else {
                        db.group_id(path).map(Source::Group)
                    }
                    .ok_or_else(|| invalid(&what, format!("no such {} {path}", t.kind)))?;
                    let (id, _) = db
                        .create_resource_token(
                            source,
                            &t.name,
                            t.description.clone(),
                            t.scopes.clone(),
                            t.access_level.unwrap_or(40),
                            expires_at,
                            t.token.clone(),
                            now,
                        )
                        .map_err(e(what.clone()))?;
                    if t.revoked
                        && let Some(tok) = db.tokens.get_mut(&id)
                    {
                        tok.revoked = true;
                    }
                }
                other => return Err(invalid(&what, format!("unknown kind {other:?}"))),
            }
        }
        for a in &self.oauth_applications {
            if let Some(u) = &a.auto_approve_as
                && db.user_by_username(u).is_none()
            {
                return Err(invalid(
                    &a.name,
                    format!("auto_approve_as names unknown user {u}"),
                ));
            }
            db.create_app(OAuthApp {
                id: 0,
                name: a.name.clone(),
                uid: a.uid.clone().unwrap_or_else(|| crate::db::random_hex(32)),
                secret: a
                    .secret
                    .clone()
                    .unwrap_or_else(|| format!("gloas-{}", crate::db::random_hex(32))),
                redirect_uris: a.redirect_uri.split_whitespace().map(str::to_owned).collect(),
                scopes: a.scopes.clone(),
                confidential: a.confidential.unwrap_or(true),
                auto_approve_as: a.auto_approve_as.clone(),
                access_token_ttl: a.access_token_ttl.unwrap_or(7200),
                allow_pkce_plain: a.allow_pkce_plain,
            });
        }
        for v in &self.variables {
            let source = db
                .source_by_path(&v.source)
                .ok_or_else(|| invalid(&v.source, "no such group or project"))?;
            let var = Variable {
                key: v.key.clone(),
                value: v.value.clone(),
                variable_type: v.variable_type.clone().unwrap_or_else(|| "env_var".into()),
                protected: v.protected,
                masked: v.masked || v.hidden,
                hidden: v.hidden,
                raw: v.raw,
                environment_scope: v.environment_scope.clone().unwrap_or_else(|| "*".into()),
                description: v.description.clone(),
            };
            crate::api::variables::validate(&var).map_err(e(format!("variable {}", v.key)))?;
            let list = db.variables.entry(source).or_default();
            if list
                .iter()
                .any(|x| x.key == var.key && x.environment_scope == var.environment_scope)
            {
                return Err(invalid(&v.key, "duplicate key and environment scope"));
            }
            list.push(var);
        }
        for h in &self.hooks {
            let pid = db
                .project_id(&h.project)
                .ok_or_else(|| invalid(&h.project, "no such project"))?;
            let id = db.next_hook_id();
            db.hooks.insert(
                id,
                Hook {
                    id,
                    owner: HookOwner::Project(pid),
                    url: h.url.clone(),
                    name: None,
                    description: None,
                    token: h.token.clone(),
                    push_events: h.push_events.unwrap_or(true),
                    tag_push_events: h.tag_push_events,
                    merge_requests_events: false,
                    repository_update_events: false,
                    member_events: false,
                    subgroup_events: false,
                    enable_ssl_verification: true,
                    push_events_branch_filter: None,
                    custom_headers: Vec::new(),
                    created_at: now,
                    uuid: uuid::Uuid::new_v4().to_string(),
                },
            );
        }
        if let Some(g) = &self.generate {
            db.generate(g, now).map_err(e("generate".into()))?;
        }
        Ok(db)
    }
}

/// A fluent way to write seeds in tests.
#[derive(Debug, Clone, Default)]
pub struct SeedBuilder {
    seed: Seed,
}

impl SeedBuilder {
    pub fn mode(mut self, mode: Mode) -> Self {
        self.seed.mode = mode;
        self
    }

    /// The GitLab version to be (`/version`, `/metadata`), e.g. `"15.4.0"`. Routes GitLab added
    /// later answer as that version did: before 15.5 `GET /personal_access_tokens/self` is a
    /// 404 from the API's catch-all.
    /// A Free-tier instance: group webhooks (Premium) are refused.
    pub fn free_tier(mut self) -> Self {
        self.seed.free_tier = true;
        self
    }

    pub fn version(mut self, version: &str) -> Self {
        self.seed.version = Some(version.to_owned());
        self
    }

    pub fn user(mut self, username: &str) -> Self {
        self.seed.users.push(SeedUser {
            username: username.into(),
            name: username.into(),
            email: format!("{username}@example.com"),
            ..SeedUser::default()
        });
        self
    }

    pub fn admin(mut self, username: &str) -> Self {
        self.seed.users.push(SeedUser {
            username: username.into(),
            name: username.into(),
            email: format!("{username}@example.com"),
            admin: true,
            ..SeedUser::default()
        });
        self
    }

    pub fn user_full(mut self, user: SeedUser) -> Self {
        self.seed.users.push(user);
        self
    }

    pub fn group(mut self, path: &str, name: &str) -> Self {
        self.seed.groups.push(SeedGroup {
            path: path.into(),
            name: name.into(),
            ..SeedGroup::default()
        });
        self
    }

    pub fn public_group(mut self, path: &str, name: &str) -> Self {
        self.seed.groups.push(SeedGroup {
            path: path.into(),
            name: name.into(),
            visibility: Some("public".into()),
            ..SeedGroup::default()
        });
        self
    }

    pub fn project(mut self, path: &str, name: &str) -> Self {
        self.seed.projects.push(SeedProject {
            path: path.into(),
            name: name.into(),
            ..SeedProject::default()
        });
        self
    }

    /// Adds a file to the initial commit of a project added earlier.
    pub fn file(mut self, project: &str, path: &str, content: &str) -> Self {
        if let Some(p) = self.seed.projects.iter_mut().find(|p| p.path == project) {
            p.files.insert(path.into(), content.into());
        }
        self
    }

    pub fn member(mut self, source: &str, user: &str, access_level: u8) -> Self {
        self.seed.members.push(SeedMember {
            source: source.into(),
            user: user.into(),
            access_level,
            expires_at: None,
            member_role: None,
        });
        self
    }

    /// A member holding custom role `role` (defined with [`SeedBuilder::member_role`]).
    pub fn member_with_role(mut self, source: &str, user: &str, access_level: u8, role: &str) -> Self {
        self.seed.members.push(SeedMember {
            source: source.into(),
            user: user.into(),
            access_level,
            expires_at: None,
            member_role: Some(role.into()),
        });
        self
    }

    pub fn member_role(mut self, group: Option<&str>, name: &str, base_access_level: u8) -> Self {
        self.seed.member_roles.push(SeedMemberRole {
            name: name.into(),
            group: group.map(str::to_owned),
            description: format!("{name} role"),
            base_access_level,
        });
        self
    }

    pub fn share(mut self, source: &str, group: &str, access_level: u8) -> Self {
        self.seed.shares.push(SeedShare {
            source: source.into(),
            group: group.into(),
            access_level,
            expires_at: None,
        });
        self
    }

    pub fn invitation(mut self, source: &str, email: &str, access_level: u8) -> Self {
        self.seed.invitations.push(SeedInvitation {
            source: source.into(),
            email: email.into(),
            access_level,
            expires_at: None,
        });
        self
    }

    pub fn personal_token(mut self, user: &str, name: &str, scopes: &[&str], token: &str) -> Self {
        self.seed.tokens.push(SeedToken {
            kind: "personal".into(),
            user: Some(user.into()),
            name: name.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            token: Some(token.into()),
            ..SeedToken::default()
        });
        self
    }

    pub fn project_token(
        mut self,
        project: &str,
        name: &str,
        scopes: &[&str],
        access_level: u8,
        token: &str,
    ) -> Self {
        self.seed.tokens.push(SeedToken {
            kind: "project".into(),
            source: Some(project.into()),
            name: name.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            token: Some(token.into()),
            access_level: Some(access_level),
            ..SeedToken::default()
        });
        self
    }

    pub fn group_token(
        mut self,
        group: &str,
        name: &str,
        scopes: &[&str],
        access_level: u8,
        token: &str,
    ) -> Self {
        self.seed.tokens.push(SeedToken {
            kind: "group".into(),
            source: Some(group.into()),
            name: name.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            token: Some(token.into()),
            access_level: Some(access_level),
            ..SeedToken::default()
        });
        self
    }

    pub fn token(mut self, token: SeedToken) -> Self {
        self.seed.tokens.push(token);
        self
    }

    pub fn oauth_app(mut self, app: SeedOAuthApp) -> Self {
        self.seed.oauth_applications.push(app);
        self
    }

    pub fn variable(mut self, source: &str, key: &str, value: &str) -> Self {
        self.seed.variables.push(SeedVariable {
            source: source.into(),
            key: key.into(),
            value: value.into(),
            ..SeedVariable::default()
        });
        self
    }

    pub fn hook(mut self, project: &str, url: &str, token: Option<&str>) -> Self {
        self.seed.hooks.push(SeedHook {
            project: project.into(),
            url: url.into(),
            token: token.map(str::to_owned),
            push_events: Some(true),
            tag_push_events: true,
        });
        self
    }

    pub fn rate_limits(mut self, limits: RateLimitSettings) -> Self {
        self.seed.rate_limits = limits;
        self
    }

    pub fn generate(mut self, spec: Generate) -> Self {
        self.seed.generate = Some(spec);
        self
    }

    pub fn build(self) -> Seed {
        self.seed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUE_SHAPE: &str = r#"{"mode": "self-managed",
     "users": [{"username": "root", "name": "Admin", "email": "root@example.com", "admin": true},
               {"username": "alice", "name": "Alice", "email": "alice@example.com"}],
     "groups": [{"path": "acme", "name": "Acme"}, {"path": "acme/platform", "name": "Platform"}],
     "projects": [{"path": "acme/platform/api", "name": "API", "files": {"README.md": "hello"}}],
     "members": [{"source": "acme", "user": "alice", "access_level": 40}],
     "tokens": [{"kind": "personal", "user": "alice", "name": "ci", "scopes": ["api"],
                 "token": "glpat-EXAMPLEexample12345678", "expires_at": "2027-06-30"},
                {"kind": "project", "source": "acme/platform/api", "name": "deploy",
                 "scopes": ["api", "read_repository"], "access_level": 40, "token": "glpat-deployDEPLOY12345678"}],
     "oauth_applications": [{"name": "labgate", "uid": "uid1", "secret": "gloas-secret",
                             "redirect_uri": "http://127.0.0.1:8080/organization/app-connections/gitlab/oauth/callback",
                             "scopes": ["api", "read_user"], "auto_approve_as": "alice"}],
     "variables": [{"source": "acme/platform/api", "key": "DB_URL", "value": "postgres://x", "masked": false}]}"#;

    #[test]
    fn documented_shape_loads() {
        let seed = Seed::from_json(ISSUE_SHAPE).unwrap();
        let db = seed.build_db(OffsetDateTime::now_utc(), "localhost").unwrap();
        assert_eq!(db.users.len(), 3, "two humans and one project bot");
        let bot = db.users.values().find(|u| u.is_bot()).unwrap();
        assert!(bot.username.starts_with("project_1_bot_"));
        assert!(db.token_by_secret("glpat-EXAMPLEexample12345678").is_some());
        assert_eq!(db.apps.len(), 1);
        assert_eq!(db.variables.values().map(Vec::len).sum::<usize>(), 1);
    }

    #[test]
    fn unknown_fields_and_references_are_rejected() {
        assert!(Seed::from_json(r#"{"userz": []}"#).is_err());
        let seed =
            Seed::from_json(r#"{"members": [{"source": "nope", "user": "x", "access_level": 30}]}"#).unwrap();
        assert!(seed.build_db(OffsetDateTime::now_utc(), "localhost").is_err());
    }
}
