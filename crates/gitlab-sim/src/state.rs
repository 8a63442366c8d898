//! The shared handle to one instance: database, clock, faults, counters, repositories.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use time::Date;

use crate::clock::Clock;
use crate::counters::RequestCounters;
use crate::db::{Db, NewToken, RateLimitSettings};
use crate::error::{ApiError, ApiResult};
use crate::faults::Faults;
use crate::hook_events::{self, GroupChange, MemberChange, ProjectChange, UserChange};
use crate::model::*;
use crate::seed::{Seed, SeedError};

pub(crate) struct Inner {
    pub db: RwLock<Db>,
    pub clock: Clock,
    pub faults: Faults,
    pub counters: RequestCounters,
    /// Fixed one-minute windows: (key, window start) → requests seen.
    pub windows: Mutex<HashMap<(String, i64), u64>>,
    pub sessions: crate::session::Sessions,
    pub base_url: RwLock<String>,
    pub prefix: String,
    pub repos: crate::git::Repos,
    pub http: reqwest::Client,
}

/// Handle for direct inspection and mutation of a running instance; cloning shares it.
#[derive(Clone)]
pub struct SimState {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for SimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimState")
            .field("base_url", &*self.inner.base_url.read())
            .finish_non_exhaustive()
    }
}

impl SimState {
    pub(crate) fn new(db: Db, clock: Clock, prefix: String, repos: crate::git::Repos) -> Self {
        // reqwest is built without a bundled TLS provider; webhooks may target https URLs.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            inner: Arc::new(Inner {
                db: RwLock::new(db),
                clock,
                faults: Faults::default(),
                counters: RequestCounters::default(),
                windows: Mutex::new(HashMap::new()),
                sessions: crate::session::Sessions::default(),
                base_url: RwLock::new(String::new()),
                prefix,
                repos,
                http: reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(10))
                    .build()
                    .unwrap_or_default(),
            }),
        }
    }

    /// Reads the database. Never call back into the state from inside `f`.
    pub fn read<R>(&self, f: impl FnOnce(&Db) -> R) -> R {
        f(&self.inner.db.read())
    }

    /// Mutates the database. Never call back into the state from inside `f`.
    pub fn write<R>(&self, f: impl FnOnce(&mut Db) -> R) -> R {
        f(&mut self.inner.db.write())
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    pub fn requests(&self) -> &RequestCounters {
        &self.inner.counters
    }

    /// The instance's base URL, including any path prefix.
    pub fn base_url(&self) -> String {
        self.inner.base_url.read().clone()
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    fn today(&self) -> Date {
        self.inner.clock.today()
    }

    /// Replaces the whole instance with a seed; repositories on disk are discarded.
    pub fn load_seed(&self, seed: &Seed) -> Result<(), SeedError> {
        let host = url::Url::parse(&self.base_url())
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "gitlab.example.com".into());
        let db = seed.build_db(self.inner.clock.now(), &host)?;
        *self.inner.db.write() = db;
        self.inner.windows.lock().clear();
        // Sessions name users of the old instance.
        self.inner.sessions.clear();
        self.inner.repos.clear();
        Ok(())
    }

    pub fn mode(&self) -> Mode {
        self.read(|db| db.settings.mode)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.write(|db| db.settings.mode = mode);
    }

    pub fn set_rate_limits(&self, limits: RateLimitSettings) {
        self.write(|db| db.settings.rate_limits = limits);
        self.inner.windows.lock().clear();
    }

    pub fn user_id(&self, username: &str) -> Option<UserId> {
        self.read(|db| db.user_by_username(username).map(|u| u.id))
    }

    pub fn project_id(&self, path: &str) -> Option<ProjectId> {
        self.read(|db| db.project_id(path))
    }

    pub fn group_id(&self, path: &str) -> Option<GroupId> {
        self.read(|db| db.group_id(path))
    }

    /// Creates a personal access token and returns its secret.
    pub fn create_personal_access_token(
        &self,
        username: &str,
        name: &str,
        scopes: &[&str],
        expires_at: Option<Date>,
    ) -> ApiResult<String> {
        let now = self.inner.clock.now();
        self.write(|db| {
            let user_id = db
                .user_by_username(username)
                .map(|u| u.id)
                .ok_or_else(|| ApiError::not_found("User"))?;
            db.create_token(
                NewToken {
                    kind: TokenKind::Personal,
                    user_id,
                    name: name.to_owned(),
                    description: None,
                    scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                    expires_at,
                    access_level: 0,
                    secret: None,
                    previous_id: None,
                    revoked: false,
                },
                now,
            )
            .map(|(_, s)| s)
        })
    }

    /// Creates a project (`source` is a project path) or group access token with its bot user.
    pub fn create_resource_access_token(
        &self,
        source_path: &str,
        name: &str,
        scopes: &[&str],
        access_level: u8,
        expires_at: Option<Date>,
    ) -> ApiResult<String> {
        let now = self.inner.clock.now();
        self.write(|db| {
            let source = db
                .source_by_path(source_path)
                .ok_or_else(|| ApiError::not_found("Project"))?;
            db.create_resource_token(
                source,
                name,
                None,
                scopes.iter().map(|s| (*s).to_owned()).collect(),
                access_level,
                expires_at,
                None,
                now,
            )
            .map(|(_, s)| s)
        })
    }

    /// The stored record of a token (never its secret).
    pub fn token(&self, secret: &str) -> Option<AccessToken> {
        self.read(|db| db.token_by_secret(secret).cloned())
    }

    /// Revokes a personal, project or group token; false when unknown.
    pub fn revoke_token(&self, secret: &str) -> bool {
        self.write(|db| {
            let Some(id) = db.token_by_secret(secret).map(|t| t.id) else {
                return false;
            };
            if let Some(t) = db.tokens.get_mut(&id) {
                t.revoked = true;
            }
            true
        })
    }

    /// Sets a token's expiry date (e.g. to today to make it expire).
    pub fn set_token_expiry(&self, secret: &str, expires_at: Option<Date>) -> bool {
        self.write(|db| {
            let Some(id) = db.token_by_secret(secret).map(|t| t.id) else {
                return false;
            };
            if let Some(t) = db.tokens.get_mut(&id) {
                t.expires_at = expires_at;
            }
            true
        })
    }

    /// Changes a user's state (`active`, `blocked`, `deactivated`, `banned`).
    pub fn set_user_state(&self, username: &str, state: UserState) -> bool {
        self.write(|db| {
            let Some(id) = db.user_by_username(username).map(|u| u.id) else {
                return false;
            };
            if let Some(u) = db.users.get_mut(&id) {
                u.state = state;
            }
            true
        })
    }

    /// Adds or replaces a direct membership; `source` is a group or project path.
    pub fn set_member(&self, source: &str, username: &str, access_level: u8) -> ApiResult<()> {
        let now = self.inner.clock.now();
        self.write(|db| {
            let s = db
                .source_by_path(source)
                .ok_or_else(|| ApiError::not_found("Source"))?;
            let u = db
                .user_by_username(username)
                .map(|u| u.id)
                .ok_or_else(|| ApiError::not_found("User"))?;
            db.add_member(s, u, access_level, None, None, now);
            Ok(())
        })
    }

    /// The effective access level of a user in a group or project (inheritance and shares included).
    pub fn access_level(&self, source: &str, username: &str) -> Option<u8> {
        let today = self.today();
        self.read(|db| {
            let s = db.source_by_path(source)?;
            let u = db.user_by_username(username)?.id;
            Some(db.source_level(u, s, today))
        })
    }

    /// A CI/CD variable as stored (value included even when hidden).
    /// Every CI/CD variable of a project or group (by path), in GitLab's order.
    pub fn variables(&self, source: &str) -> Vec<Variable> {
        self.read(|db| {
            db.source_by_path(source)
                .and_then(|s| db.variables.get(&s).cloned())
                .unwrap_or_default()
        })
    }

    pub fn variable(&self, source: &str, key: &str, environment_scope: &str) -> Option<Variable> {
        self.read(|db| {
            let s = db.source_by_path(source)?;
            db.variables
                .get(&s)?
                .iter()
                .find(|v| v.key == key && v.environment_scope == environment_scope)
                .cloned()
        })
    }

    /// Renews an OAuth application's secret (GitLab's "Renew secret"); returns the new secret.
    pub fn renew_oauth_secret(&self, uid: &str) -> Option<String> {
        self.write(|db| {
            let app = db.apps.values_mut().find(|a| a.uid == uid)?;
            app.secret = format!("gloas-{}", crate::db::random_hex(32));
            Some(app.secret.clone())
        })
    }

    /// Sets or clears `auto_approve_as` on an OAuth application.
    pub fn set_oauth_auto_approve(&self, uid: &str, username: Option<&str>) -> bool {
        self.write(|db| match db.apps.values_mut().find(|a| a.uid == uid) {
            Some(app) => {
                app.auto_approve_as = username.map(str::to_owned);
                true
            }
            None => false,
        })
    }

    /// Creates a group (parents must exist), as an administrator would; system hooks and the
    /// parent chain's subgroup hooks are told.
    pub async fn create_group(&self, full_path: &str, name: &str) -> ApiResult<GroupId> {
        let now = self.inner.clock.now();
        let (gid, events) = self.write(|db| -> ApiResult<_> {
            let gid = db.create_group(full_path, name, Visibility::Private, "", now)?;
            let g = db
                .groups
                .get(&gid)
                .cloned()
                .ok_or_else(|| ApiError::not_found("Group"))?;
            Ok((gid, hook_events::group(db, &g, &GroupChange::Created, now)))
        })?;
        hook_events::send(self, events).await;
        Ok(gid)
    }

    /// Removes a group (and its subgroups and projects); the hooks are told of each.
    pub async fn delete_group(&self, path: &str) -> ApiResult<()> {
        let now = self.inner.clock.now();
        let events = self.write(|db| -> ApiResult<_> {
            let gid = db.group_id(path).ok_or_else(|| ApiError::not_found("Group"))?;
            // Built before removal: subgroup hooks of the removed tree's parent still exist then.
            let mut events = Vec::new();
            let mut projects = Vec::new();
            for g in std::iter::once(gid).chain(db.group_descendants(gid)) {
                if let Some(group) = db.groups.get(&g) {
                    events.extend(hook_events::group(db, group, &GroupChange::Destroyed, now));
                }
                for p in db.group_projects.get(&g).into_iter().flatten() {
                    if let Some(p) = db.projects.get(p) {
                        projects.extend(hook_events::project(db, p, &ProjectChange::Destroyed, now));
                    }
                }
            }
            projects.extend(events);
            db.delete_group(gid)?;
            Ok(projects)
        })?;
        hook_events::send(self, events).await;
        Ok(())
    }

    /// Changes a group's path and name (`group_rename`).
    pub async fn rename_group(&self, path: &str, new_path: &str, new_name: &str) -> ApiResult<()> {
        let now = self.inner.clock.now();
        let events = self.write(|db| -> ApiResult<_> {
            let gid = db.group_id(path).ok_or_else(|| ApiError::not_found("Group"))?;
            let (old_path, old_full_path) = db.rename_group(gid, new_path, new_name)?;
            let g = db
                .groups
                .get(&gid)
                .cloned()
                .ok_or_else(|| ApiError::not_found("Group"))?;
            Ok(hook_events::group(
                db,
                &g,
                &GroupChange::Renamed {
                    old_path,
                    old_full_path,
                },
                now,
            ))
        })?;
        hook_events::send(self, events).await;
        Ok(())
    }

    /// Creates a project under a group or user namespace (`project_create`).
    pub async fn create_project(&self, full_path: &str, name: &str) -> ApiResult<ProjectId> {
        let now = self.inner.clock.now();
        let (pid, events) = self.write(|db| -> ApiResult<_> {
            let pid = db.create_project(full_path, name, Visibility::Private, now)?;
            let p = db
                .projects
                .get(&pid)
                .cloned()
                .ok_or_else(|| ApiError::not_found("Project"))?;
            Ok((pid, hook_events::project(db, &p, &ProjectChange::Created, now)))
        })?;
        hook_events::send(self, events).await;
        Ok(pid)
    }

    /// Removes a project (`project_destroy`).
    pub async fn delete_project(&self, path: &str) -> ApiResult<()> {
        let now = self.inner.clock.now();
        let events = self.write(|db| -> ApiResult<_> {
            let pid = db
                .project_id(path)
                .ok_or_else(|| ApiError::not_found("Project"))?;
            let p = db
                .projects
                .get(&pid)
                .cloned()
                .ok_or_else(|| ApiError::not_found("Project"))?;
            let events = hook_events::project(db, &p, &ProjectChange::Destroyed, now);
            db.delete_project(pid)?;
            Ok(events)
        })?;
        hook_events::send(self, events).await;
        Ok(())
    }

    /// Moves a project to another namespace (`project_transfer`).
    pub async fn transfer_project(&self, path: &str, namespace_path: &str) -> ApiResult<()> {
        let now = self.inner.clock.now();
        let events = self.write(|db| -> ApiResult<_> {
            let pid = db
                .project_id(path)
                .ok_or_else(|| ApiError::not_found("Project"))?;
            let old_path_with_namespace = db.transfer_project(pid, namespace_path)?;
            let p = db
                .projects
                .get(&pid)
                .cloned()
                .ok_or_else(|| ApiError::not_found("Project"))?;
            Ok(hook_events::project(
                db,
                &p,
                &ProjectChange::Transferred {
                    old_path_with_namespace,
                },
                now,
            ))
        })?;
        hook_events::send(self, events).await;
        Ok(())
    }

    /// Changes a user's username (`user_rename`).
    pub async fn rename_user(&self, username: &str, new_username: &str) -> ApiResult<()> {
        let now = self.inner.clock.now();
        let events = self.write(|db| -> ApiResult<_> {
            let id = db
                .user_by_username(username)
                .map(|u| u.id)
                .ok_or_else(|| ApiError::not_found("User"))?;
            if db.users_by_username.contains_key(&new_username.to_lowercase()) {
                return Err(ApiError::conflict("Username has already been taken"));
            }
            db.users_by_username.remove(&username.to_lowercase());
            db.users_by_username.insert(new_username.to_lowercase(), id);
            let u = db.users.get_mut(&id).ok_or_else(|| ApiError::not_found("User"))?;
            let old_username = std::mem::replace(&mut u.username, new_username.to_owned());
            let u = u.clone();
            Ok(hook_events::user(
                db,
                &u,
                &UserChange::Renamed { old_username },
                now,
            ))
        })?;
        hook_events::send(self, events).await;
        Ok(())
    }

    /// Adds or changes a direct membership as the members API would, hooks included.
    pub async fn add_member_with_hooks(
        &self,
        source: &str,
        username: &str,
        access_level: u8,
    ) -> ApiResult<()> {
        let now = self.inner.clock.now();
        let events = self.write(|db| -> ApiResult<_> {
            let s = db
                .source_by_path(source)
                .ok_or_else(|| ApiError::not_found("Source"))?;
            let u = db
                .user_by_username(username)
                .map(|u| u.id)
                .ok_or_else(|| ApiError::not_found("User"))?;
            let change = if db.members.get(&s).is_some_and(|m| m.contains_key(&u)) {
                MemberChange::Updated
            } else {
                MemberChange::Added
            };
            db.add_member(s, u, access_level, None, None, now);
            let m = db
                .members
                .get(&s)
                .and_then(|m| m.get(&u))
                .cloned()
                .ok_or_else(|| ApiError::not_found("Member"))?;
            Ok(hook_events::member(db, &m, change, now))
        })?;
        hook_events::send(self, events).await;
        Ok(())
    }

    /// The project and group webhooks, by id.
    pub fn hooks(&self) -> Vec<Hook> {
        self.read(|db| db.hooks.values().cloned().collect())
    }

    /// Webhook deliveries so far, oldest first.
    pub fn hook_deliveries(&self) -> Vec<HookDelivery> {
        self.read(|db| db.deliveries.clone())
    }

    /// Whether the project's bare repository exists on disk (created on first git access).
    pub fn repository_exists(&self, project: &str) -> bool {
        self.project_id(project)
            .is_some_and(|id| self.inner.repos.exists(id))
    }
}
