//! The in-memory database of one simulated instance, with the indexes that keep listing O(page).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use rand::Rng;
use sha2::{Digest, Sha256};
use time::{Date, OffsetDateTime};

use crate::error::{ApiError, ApiResult};
use crate::model::*;

/// Per-instance settings that a seed or the control API can change.
#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: Mode,
    pub version: String,
    pub revision: String,
    pub rate_limits: RateLimitSettings,
    /// Host name used in bot e-mail addresses (`…@noreply.<host>`).
    pub host: String,
    /// Whether `/oauth/authorize` accepts `code_challenge_method=plain` for every application.
    pub allow_pkce_plain: bool,
    /// A Free-tier licence: Premium features (group webhooks) are not offered.
    pub free_tier: bool,
}

impl Settings {
    /// Whether the simulated version is `major.minor` or later. A version that does not start
    /// with two numbers counts as current.
    /// Whether group webhooks exist here: Enterprise Edition (`-ee` versions) with a Premium or
    /// Ultimate licence. Community Edition has no such route; a Free licence hides it.
    pub fn group_hooks(&self) -> bool {
        self.version.ends_with("-ee") && !self.free_tier
    }

    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        let mut parts = self
            .version
            .split(|c: char| !c.is_ascii_digit())
            .map(str::parse::<u32>);
        match (parts.next(), parts.next()) {
            (Some(Ok(have_major)), Some(Ok(have_minor))) => (have_major, have_minor) >= (major, minor),
            _ => true,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            host: "gitlab.example.com".into(),
            allow_pkce_plain: false,
            free_tier: false,
            mode: Mode::SelfManaged,
            version: "17.9.1-ee".into(),
            revision: "5e2b8f4c1a0".into(),
            rate_limits: RateLimitSettings::default(),
        }
    }
}

/// Rate limits; all off by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct RateLimitSettings {
    /// Requests per minute per user for authenticated API traffic (`throttle_authenticated_api`).
    pub authenticated_api_per_minute: Option<u64>,
    /// Requests per minute per IP for unauthenticated traffic (`throttle_unauthenticated_api`).
    pub unauthenticated_per_minute: Option<u64>,
    /// Turns on GitLab.com's documented per-endpoint limits (no informational headers).
    pub endpoint_limits: bool,
    /// Count authenticated traffic per token instead of per user (GitLab counts per user).
    pub per_token: bool,
}

pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A fresh legacy-format token: the prefix plus 20 characters of `[0-9A-Za-z_-]`.
pub fn random_secret(prefix: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-";
    let mut rng = rand::thread_rng();
    let body: String = (0..len)
        .map(|_| {
            char::from(
                ALPHABET
                    .get(rng.gen_range(0..ALPHABET.len()))
                    .copied()
                    .unwrap_or(b'x'),
            )
        })
        .collect();
    format!("{prefix}{body}")
}

/// The Gravatar URL GitLab shows for an e-mail address.
pub fn avatar_url(email: &str) -> String {
    let h = digest(&email.trim().to_lowercase());
    format!(
        "https://www.gravatar.com/avatar/{}?s=80&d=identicon",
        hex::encode(h.get(..16).unwrap_or_default())
    )
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill(buf.as_mut_slice());
    hex::encode(buf)
}

#[derive(Debug, Default)]
pub struct Db {
    pub settings: Settings,
    pub users: BTreeMap<UserId, User>,
    pub users_by_username: HashMap<String, UserId>,
    pub users_by_email: HashMap<String, UserId>,
    pub groups: BTreeMap<GroupId, Group>,
    pub groups_by_path: HashMap<String, GroupId>,
    pub group_children: HashMap<GroupId, BTreeSet<GroupId>>,
    pub projects: BTreeMap<ProjectId, Project>,
    pub projects_by_path: HashMap<String, ProjectId>,
    pub group_projects: HashMap<GroupId, BTreeSet<ProjectId>>,
    pub user_projects: HashMap<UserId, BTreeSet<ProjectId>>,
    pub members: HashMap<Source, BTreeMap<UserId, Member>>,
    pub user_memberships: HashMap<UserId, BTreeSet<Source>>,
    pub invitations: BTreeMap<u64, Invitation>,
    pub member_roles: BTreeMap<u64, MemberRole>,
    pub tokens: BTreeMap<TokenId, AccessToken>,
    pub token_digests: HashMap<[u8; 32], TokenId>,
    pub apps: BTreeMap<u64, OAuthApp>,
    pub grants: HashMap<[u8; 32], OAuthGrant>,
    pub oauth_tokens: BTreeMap<u64, OAuthToken>,
    pub oauth_access: HashMap<[u8; 32], u64>,
    pub oauth_refresh: HashMap<[u8; 32], u64>,
    pub variables: HashMap<Source, Vec<Variable>>,
    pub hooks: BTreeMap<u64, Hook>,
    pub deliveries: Vec<HookDelivery>,
    next_user: u64,
    next_ns: u64,
    next_project: u64,
    next_token: u64,
    next_app: u64,
    next_oauth_token: u64,
    next_invitation: u64,
    next_hook: u64,
    next_member_role: u64,
}

fn bump(counter: &mut u64) -> u64 {
    *counter += 1;
    *counter
}

/// Input for [`Db::create_user`].
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub name: String,
    pub email: String,
    pub admin: bool,
    pub kind: Option<UserKind>,
    pub state: Option<UserState>,
    pub external: bool,
    pub public_email: Option<String>,
    pub note: Option<String>,
    pub created_at: Option<OffsetDateTime>,
    pub last_sign_in_at: Option<OffsetDateTime>,
    pub last_activity_on: Option<Date>,
    pub bot_source: Option<Source>,
}

/// Input for [`Db::create_token`].
#[derive(Debug, Clone)]
pub struct NewToken {
    pub kind: TokenKind,
    pub user_id: UserId,
    pub name: String,
    pub description: Option<String>,
    pub scopes: Vec<String>,
    pub expires_at: Option<Date>,
    pub access_level: u8,
    pub secret: Option<String>,
    pub previous_id: Option<TokenId>,
    pub revoked: bool,
}

/// The fewest requests that read every account, group, project, share and direct membership of
/// a scope at `per_page=100`: one per page of each listing, and one detail per group (group
/// listings leave out `shared_with_groups`). Computed from the data, for checking a reader
/// against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccessReadBound {
    /// Pages of `GET /users` (instance scope only).
    pub user_pages: u64,
    /// Pages of the group listing (all groups, or the top group's descendants).
    pub group_pages: u64,
    /// Group details: every group read, the top group and groups shared in from outside
    /// (with their ancestors) included.
    pub group_details: u64,
    pub project_pages: u64,
    /// Pages of direct members, at least one per group and project read.
    pub member_pages: u64,
    pub groups: u64,
    pub projects: u64,
    pub memberships: u64,
}

impl AccessReadBound {
    pub fn requests(&self) -> u64 {
        self.user_pages + self.group_pages + self.group_details + self.project_pages + self.member_pages
    }
}

fn pages(items: u64) -> u64 {
    items.div_ceil(100).max(1)
}

impl Db {
    /// See [`AccessReadBound`]: `top` is a top-level group's id for a group scope, `None` for
    /// the whole instance. Memberships that expired by `today` are not listed by GitLab.
    pub fn access_read_bound(&self, top: Option<GroupId>, today: Date) -> AccessReadBound {
        let in_scope = |path: &str| match top.and_then(|id| self.groups.get(&id)) {
            None => true,
            Some(top) => path == top.full_path || path.starts_with(&format!("{}/", top.full_path)),
        };
        let mut groups: BTreeSet<GroupId> = self
            .groups
            .values()
            .filter(|g| in_scope(&g.full_path))
            .map(|g| g.id)
            .collect();
        let projects: Vec<&Project> = self
            .projects
            .values()
            .filter(|p| in_scope(&p.full_path))
            .collect();
        let listed_groups = groups.len() as u64 - u64::from(top.is_some());
        // Groups shared into the scope from outside, and their ancestors (shares do not chain).
        let mut wanted: Vec<GroupId> = groups
            .iter()
            .filter_map(|id| self.groups.get(id))
            .flat_map(|g| g.shared_with.iter())
            .chain(projects.iter().flat_map(|p| p.shared_with.iter()))
            .map(|share| share.group_id)
            .collect();
        while let Some(id) = wanted.pop() {
            if let Some(group) = self.groups.get(&id)
                && groups.insert(id)
                && let Some(parent) = group.parent_id
            {
                wanted.push(parent);
            }
        }
        let direct = |source: Source| {
            self.members.get(&source).map_or(0, |members| {
                members
                    .values()
                    .filter(|m| m.expires_at.is_none_or(|d| d > today))
                    .count() as u64
            })
        };
        let mut bound = AccessReadBound {
            user_pages: if top.is_none() {
                pages(self.users.len() as u64)
            } else {
                0
            },
            group_pages: pages(listed_groups),
            group_details: groups.len() as u64,
            project_pages: pages(projects.len() as u64),
            groups: groups.len() as u64,
            projects: projects.len() as u64,
            ..AccessReadBound::default()
        };
        for count in groups
            .iter()
            .map(|id| direct(Source::Group(*id)))
            .chain(projects.iter().map(|p| direct(Source::Project(p.id))))
        {
            bound.member_pages += pages(count);
            bound.memberships += count;
        }
        bound
    }

    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            ..Self::default()
        }
    }

    // ---- lookups -------------------------------------------------------------------------------

    pub fn user(&self, id: UserId) -> Option<&User> {
        self.users.get(&id)
    }

    pub fn user_by_username(&self, username: &str) -> Option<&User> {
        self.users_by_username
            .get(&username.to_lowercase())
            .and_then(|id| self.users.get(id))
    }

    /// A project by numeric id or full path (already URL-decoded), case-insensitively as GitLab does.
    pub fn project_id(&self, id_or_path: &str) -> Option<ProjectId> {
        match id_or_path.parse::<u64>() {
            Ok(id) if self.projects.contains_key(&id) => Some(id),
            Ok(_) => None,
            Err(_) => self.projects_by_path.get(&id_or_path.to_lowercase()).copied(),
        }
    }

    pub fn group_id(&self, id_or_path: &str) -> Option<GroupId> {
        match id_or_path.parse::<u64>() {
            Ok(id) if self.groups.contains_key(&id) => Some(id),
            Ok(_) => None,
            Err(_) => self.groups_by_path.get(&id_or_path.to_lowercase()).copied(),
        }
    }

    /// A membership source named by full path: groups first, then projects.
    pub fn source_by_path(&self, path: &str) -> Option<Source> {
        if let Some(g) = self.groups_by_path.get(&path.to_lowercase()) {
            return Some(Source::Group(*g));
        }
        self.projects_by_path
            .get(&path.to_lowercase())
            .map(|p| Source::Project(*p))
    }

    pub fn source_name(&self, source: Source) -> String {
        match source {
            Source::Group(g) => self.groups.get(&g).map(|g| g.name.clone()).unwrap_or_default(),
            Source::Project(p) => self.projects.get(&p).map(|p| p.name.clone()).unwrap_or_default(),
        }
    }

    pub fn token_by_secret(&self, secret: &str) -> Option<&AccessToken> {
        self.token_digests
            .get(&digest(secret))
            .and_then(|id| self.tokens.get(id))
    }

    /// The group itself, then its parent, up to the root.
    pub fn group_ancestors(&self, gid: GroupId) -> Vec<GroupId> {
        let mut out = Vec::with_capacity(4);
        let mut cur = Some(gid);
        while let Some(g) = cur {
            if out.contains(&g) {
                break;
            }
            out.push(g);
            cur = self.groups.get(&g).and_then(|g| g.parent_id);
        }
        out
    }

    /// Every descendant of a group (not the group itself), parents before children.
    pub fn group_descendants(&self, gid: GroupId) -> Vec<GroupId> {
        let mut out = Vec::new();
        let mut stack: Vec<GroupId> = self
            .group_children
            .get(&gid)
            .map(|c| c.iter().rev().copied().collect())
            .unwrap_or_default();
        while let Some(g) = stack.pop() {
            out.push(g);
            if let Some(c) = self.group_children.get(&g) {
                stack.extend(c.iter().rev().copied());
            }
        }
        out
    }

    pub fn project_group(&self, pid: ProjectId) -> Option<GroupId> {
        match self.projects.get(&pid)?.namespace {
            Namespace::Group(g) => Some(g),
            Namespace::User(_) => None,
        }
    }

    // ---- access --------------------------------------------------------------------------------

    /// A direct membership that has not expired.
    pub fn direct_member(&self, user: UserId, source: Source, today: Date) -> Option<&Member> {
        self.members
            .get(&source)?
            .get(&user)
            .filter(|m| m.expires_at.is_none_or(|d| d > today))
    }

    fn direct_level(&self, user: UserId, source: Source, today: Date) -> u8 {
        self.direct_member(user, source, today)
            .map_or(0, |m| m.access_level)
    }

    /// A user's level in a group through membership of it or its ancestors, ignoring shares.
    fn group_level_inherited(&self, user: UserId, gid: GroupId, today: Date) -> u8 {
        self.group_ancestors(gid)
            .into_iter()
            .map(|g| self.direct_level(user, Source::Group(g), today))
            .max()
            .unwrap_or(0)
    }

    /// A user's effective level in a group: inherited membership plus groups invited into the group
    /// or any ancestor (capped by the share). Shares do not chain.
    pub fn group_level(&self, user: UserId, gid: GroupId, today: Date) -> u8 {
        let mut level = 0;
        for g in self.group_ancestors(gid) {
            level = level.max(self.direct_level(user, Source::Group(g), today));
            if let Some(group) = self.groups.get(&g) {
                for s in group
                    .shared_with
                    .iter()
                    .filter(|s| s.expires_at.is_none_or(|d| d > today))
                {
                    level = level.max(
                        self.group_level_inherited(user, s.group_id, today)
                            .min(s.access_level),
                    );
                }
            }
        }
        level
    }

    pub fn project_level(&self, user: UserId, pid: ProjectId, today: Date) -> u8 {
        let Some(project) = self.projects.get(&pid) else {
            return 0;
        };
        let mut level = self.direct_level(user, Source::Project(pid), today);
        match project.namespace {
            Namespace::Group(g) => level = level.max(self.group_level(user, g, today)),
            Namespace::User(owner) if owner == user => level = level.max(50),
            Namespace::User(_) => {}
        }
        for s in project
            .shared_with
            .iter()
            .filter(|s| s.expires_at.is_none_or(|d| d > today))
        {
            level = level.max(
                self.group_level_inherited(user, s.group_id, today)
                    .min(s.access_level),
            );
        }
        level
    }

    pub fn source_level(&self, user: UserId, source: Source, today: Date) -> u8 {
        match source {
            Source::Group(g) => self.group_level(user, g, today),
            Source::Project(p) => self.project_level(user, p, today),
        }
    }

    /// Groups in which the user has any effective access: direct groups and their descendants, plus
    /// groups shared with those (and their descendants).
    pub fn authorized_groups(&self, user: UserId, today: Date) -> BTreeSet<GroupId> {
        let mut roots: Vec<GroupId> = Vec::new();
        if let Some(sources) = self.user_memberships.get(&user) {
            for s in sources {
                if let Source::Group(g) = s
                    && self.direct_member(user, *s, today).is_some()
                {
                    roots.push(*g);
                }
            }
        }
        let mut out = BTreeSet::new();
        let direct_trees: Vec<GroupId> = roots
            .iter()
            .flat_map(|g| std::iter::once(*g).chain(self.group_descendants(*g)))
            .collect();
        let member_of: HashSet<GroupId> = direct_trees.iter().copied().collect();
        out.extend(direct_trees);
        for g in self.groups.values() {
            if g.shared_with
                .iter()
                .any(|s| s.expires_at.is_none_or(|d| d > today) && member_of.contains(&s.group_id))
            {
                out.insert(g.id);
                out.extend(self.group_descendants(g.id));
            }
        }
        out
    }

    /// Projects in which the user has any effective access.
    pub fn authorized_projects(&self, user: UserId, today: Date) -> BTreeSet<ProjectId> {
        let groups = self.authorized_groups(user, today);
        let mut out: BTreeSet<ProjectId> = BTreeSet::new();
        for g in &groups {
            if let Some(ps) = self.group_projects.get(g) {
                out.extend(ps.iter().copied());
            }
        }
        if let Some(ps) = self.user_projects.get(&user) {
            out.extend(ps.iter().copied());
        }
        if let Some(sources) = self.user_memberships.get(&user) {
            for s in sources {
                if let Source::Project(p) = s
                    && self.direct_member(user, *s, today).is_some()
                {
                    out.insert(*p);
                }
            }
        }
        let member_groups: HashSet<GroupId> = groups.iter().copied().collect();
        for p in self.projects.values() {
            if p.shared_with
                .iter()
                .any(|s| s.expires_at.is_none_or(|d| d > today) && member_groups.contains(&s.group_id))
            {
                out.insert(p.id);
            }
        }
        out
    }

    // ---- mutations: users ----------------------------------------------------------------------

    pub fn create_user(&mut self, new: NewUser, now: OffsetDateTime) -> ApiResult<UserId> {
        if new.username.is_empty() || new.name.is_empty() {
            return Err(ApiError::param("username is missing, name is missing"));
        }
        if self.users_by_username.contains_key(&new.username.to_lowercase())
            || self.groups_by_path.contains_key(&new.username.to_lowercase())
        {
            return Err(ApiError::conflict("Username has already been taken"));
        }
        if !new.email.is_empty() && self.users_by_email.contains_key(&new.email.to_lowercase()) {
            return Err(ApiError::conflict("Email has already been taken"));
        }
        let id = bump(&mut self.next_user);
        let namespace_id = bump(&mut self.next_ns);
        let user = User {
            id,
            username: new.username.clone(),
            name: new.name,
            email: new.email.clone(),
            public_email: new.public_email,
            admin: new.admin,
            kind: new.kind.unwrap_or(UserKind::Human),
            state: new.state.unwrap_or(UserState::Active),
            external: new.external,
            created_at: new.created_at.unwrap_or(now),
            confirmed_at: Some(new.created_at.unwrap_or(now)),
            last_sign_in_at: new.last_sign_in_at,
            current_sign_in_at: new.last_sign_in_at,
            last_activity_on: new.last_activity_on,
            namespace_id,
            note: new.note,
            bio: String::new(),
            location: String::new(),
            organization: String::new(),
            job_title: String::new(),
            bot_source: new.bot_source,
            avatar_url: avatar_url(&new.email),
            identities: Vec::new(),
        };
        self.users_by_username.insert(new.username.to_lowercase(), id);
        if !new.email.is_empty() {
            self.users_by_email.insert(new.email.to_lowercase(), id);
        }
        self.users.insert(id, user);
        Ok(id)
    }

    pub fn delete_user(&mut self, id: UserId) -> ApiResult<()> {
        let user = self
            .users
            .remove(&id)
            .ok_or_else(|| ApiError::not_found("User"))?;
        self.users_by_username.remove(&user.username.to_lowercase());
        self.users_by_email.remove(&user.email.to_lowercase());
        if let Some(sources) = self.user_memberships.remove(&id) {
            for s in sources {
                if let Some(m) = self.members.get_mut(&s) {
                    m.remove(&id);
                }
            }
        }
        let token_ids: Vec<TokenId> = self
            .tokens
            .values()
            .filter(|t| t.user_id == id)
            .map(|t| t.id)
            .collect();
        for t in token_ids {
            self.tokens.remove(&t);
        }
        self.token_digests.retain(|_, t| self.tokens.contains_key(t));
        let oauth_ids: Vec<u64> = self
            .oauth_tokens
            .values()
            .filter(|t| t.user_id == id)
            .map(|t| t.id)
            .collect();
        for t in oauth_ids {
            self.oauth_tokens.remove(&t);
        }
        self.oauth_access.retain(|_, t| self.oauth_tokens.contains_key(t));
        self.oauth_refresh
            .retain(|_, t| self.oauth_tokens.contains_key(t));
        if let Some(ps) = self.user_projects.remove(&id) {
            for p in ps {
                self.remove_project(p);
            }
        }
        Ok(())
    }

    // ---- mutations: groups and projects --------------------------------------------------------

    pub fn create_group(
        &mut self,
        full_path: &str,
        name: &str,
        visibility: Visibility,
        description: &str,
        now: OffsetDateTime,
    ) -> ApiResult<GroupId> {
        let full_path = full_path.trim_matches('/');
        let key = full_path.to_lowercase();
        if self.groups_by_path.contains_key(&key) || self.projects_by_path.contains_key(&key) {
            return Err(ApiError::validation("path", "has already been taken"));
        }
        let (parent_id, path) = match full_path.rsplit_once('/') {
            Some((parent, leaf)) => {
                let pid = self
                    .groups_by_path
                    .get(&parent.to_lowercase())
                    .copied()
                    .ok_or_else(|| ApiError::not_found("Parent Group"))?;
                (Some(pid), leaf.to_owned())
            }
            None => {
                if self.users_by_username.contains_key(&key) {
                    return Err(ApiError::validation("path", "has already been taken"));
                }
                (None, full_path.to_owned())
            }
        };
        if path.is_empty() {
            return Err(ApiError::param("path is missing"));
        }
        let full_name = match parent_id.and_then(|p| self.groups.get(&p)) {
            Some(parent) => format!("{} / {}", parent.full_name, name),
            None => name.to_owned(),
        };
        let id = bump(&mut self.next_ns);
        self.groups.insert(
            id,
            Group {
                id,
                name: name.to_owned(),
                path,
                full_path: full_path.to_owned(),
                full_name,
                parent_id,
                visibility,
                description: description.to_owned(),
                created_at: now,
                shared_with: Vec::new(),
            },
        );
        self.groups_by_path.insert(key, id);
        if let Some(p) = parent_id {
            self.group_children.entry(p).or_default().insert(id);
        }
        Ok(id)
    }

    /// Creates a project under a group or user namespace given by path.
    pub fn create_project(
        &mut self,
        full_path: &str,
        name: &str,
        visibility: Visibility,
        now: OffsetDateTime,
    ) -> ApiResult<ProjectId> {
        let full_path = full_path.trim_matches('/');
        let key = full_path.to_lowercase();
        if self.projects_by_path.contains_key(&key) || self.groups_by_path.contains_key(&key) {
            return Err(ApiError::validation("path", "has already been taken"));
        }
        let (ns_path, path) = full_path
            .rsplit_once('/')
            .ok_or_else(|| ApiError::param("namespace is missing"))?;
        let (namespace, ns_name) = if let Some(g) = self.groups_by_path.get(&ns_path.to_lowercase()) {
            let full_name = self
                .groups
                .get(g)
                .map(|g| g.full_name.clone())
                .unwrap_or_default();
            (Namespace::Group(*g), full_name)
        } else if let Some(u) = self.user_by_username(ns_path) {
            (Namespace::User(u.id), u.name.clone())
        } else {
            return Err(ApiError::not_found("Namespace"));
        };
        let id = bump(&mut self.next_project);
        self.projects.insert(
            id,
            Project {
                id,
                name: name.to_owned(),
                path: path.to_owned(),
                full_path: full_path.to_owned(),
                name_with_namespace: format!("{ns_name} / {name}"),
                namespace,
                visibility,
                description: String::new(),
                default_branch: "main".into(),
                created_at: now,
                last_activity_at: now,
                archived: false,
                files: BTreeMap::new(),
                shared_with: Vec::new(),
                creator_id: None,
            },
        );
        self.projects_by_path.insert(key, id);
        match namespace {
            Namespace::Group(g) => self.group_projects.entry(g).or_default().insert(id),
            Namespace::User(u) => self.user_projects.entry(u).or_default().insert(id),
        };
        Ok(id)
    }

    fn remove_project(&mut self, pid: ProjectId) {
        if let Some(p) = self.projects.remove(&pid) {
            self.projects_by_path.remove(&p.full_path.to_lowercase());
            if let Namespace::Group(g) = p.namespace
                && let Some(set) = self.group_projects.get_mut(&g)
            {
                set.remove(&pid);
            }
            if let Some(members) = self.members.remove(&Source::Project(pid)) {
                for u in members.keys() {
                    if let Some(s) = self.user_memberships.get_mut(u) {
                        s.remove(&Source::Project(pid));
                    }
                }
            }
            self.variables.remove(&Source::Project(pid));
            self.hooks.retain(|_, h| h.owner != HookOwner::Project(pid));
        }
    }

    /// Changes a group's path (and name); the full paths of its subgroups and projects follow.
    /// Answers the old path and full path.
    pub fn rename_group(
        &mut self,
        gid: GroupId,
        new_path: &str,
        new_name: &str,
    ) -> ApiResult<(String, String)> {
        let group = self
            .groups
            .get(&gid)
            .cloned()
            .ok_or_else(|| ApiError::not_found("Group"))?;
        let new_full = match group.full_path.rsplit_once('/') {
            Some((parent, _)) => format!("{parent}/{new_path}"),
            None => new_path.to_owned(),
        };
        let key = new_full.to_lowercase();
        if key != group.full_path.to_lowercase()
            && (self.groups_by_path.contains_key(&key) || self.projects_by_path.contains_key(&key))
        {
            return Err(ApiError::validation("path", "has already been taken"));
        }
        let old_full = group.full_path.clone();
        let full_name = match group.parent_id.and_then(|p| self.groups.get(&p)) {
            Some(parent) => format!("{} / {new_name}", parent.full_name),
            None => new_name.to_owned(),
        };
        if let Some(g) = self.groups.get_mut(&gid) {
            g.path = new_path.to_owned();
            g.name = new_name.to_owned();
            g.full_name = full_name;
        }
        for g in std::iter::once(gid).chain(self.group_descendants(gid)) {
            if let Some(grp) = self.groups.get_mut(&g) {
                self.groups_by_path.remove(&grp.full_path.to_lowercase());
                grp.full_path = format!("{new_full}{}", &grp.full_path[old_full.len()..]);
                self.groups_by_path.insert(grp.full_path.to_lowercase(), g);
            }
            let projects: Vec<ProjectId> = self
                .group_projects
                .get(&g)
                .map(|p| p.iter().copied().collect())
                .unwrap_or_default();
            for pid in projects {
                if let Some(p) = self.projects.get_mut(&pid) {
                    self.projects_by_path.remove(&p.full_path.to_lowercase());
                    p.full_path = format!("{new_full}{}", &p.full_path[old_full.len()..]);
                    self.projects_by_path.insert(p.full_path.to_lowercase(), pid);
                }
            }
        }
        Ok((group.path, old_full))
    }

    /// Removes a group with its subgroups, their projects, memberships and hooks. Answers the
    /// removed groups, parents before children.
    pub fn delete_group(&mut self, gid: GroupId) -> ApiResult<Vec<Group>> {
        if !self.groups.contains_key(&gid) {
            return Err(ApiError::not_found("Group"));
        }
        let all: Vec<GroupId> = std::iter::once(gid).chain(self.group_descendants(gid)).collect();
        let mut removed = Vec::new();
        for g in &all {
            let projects: Vec<ProjectId> = self
                .group_projects
                .remove(g)
                .map(|p| p.into_iter().collect())
                .unwrap_or_default();
            for p in projects {
                self.remove_project(p);
            }
            if let Some(members) = self.members.remove(&Source::Group(*g)) {
                for u in members.keys() {
                    if let Some(s) = self.user_memberships.get_mut(u) {
                        s.remove(&Source::Group(*g));
                    }
                }
            }
            self.hooks.retain(|_, h| h.owner != HookOwner::Group(*g));
            self.variables.remove(&Source::Group(*g));
            self.group_children.remove(g);
            if let Some(group) = self.groups.remove(g) {
                self.groups_by_path.remove(&group.full_path.to_lowercase());
                if let Some(parent) = group.parent_id
                    && let Some(children) = self.group_children.get_mut(&parent)
                {
                    children.remove(g);
                }
                removed.push(group);
            }
        }
        let gone: HashSet<GroupId> = all.into_iter().collect();
        for g in self.groups.values_mut() {
            g.shared_with.retain(|s| !gone.contains(&s.group_id));
        }
        for p in self.projects.values_mut() {
            p.shared_with.retain(|s| !gone.contains(&s.group_id));
        }
        Ok(removed)
    }

    /// Removes a project with its memberships, variables and hooks; answers it.
    pub fn delete_project(&mut self, pid: ProjectId) -> ApiResult<Project> {
        let project = self
            .projects
            .get(&pid)
            .cloned()
            .ok_or_else(|| ApiError::not_found("Project"))?;
        self.remove_project(pid);
        if let Namespace::User(u) = project.namespace
            && let Some(set) = self.user_projects.get_mut(&u)
        {
            set.remove(&pid);
        }
        Ok(project)
    }

    /// Moves a project to another group or user namespace (by path); answers its old full path.
    pub fn transfer_project(&mut self, pid: ProjectId, namespace_path: &str) -> ApiResult<String> {
        let project = self
            .projects
            .get(&pid)
            .cloned()
            .ok_or_else(|| ApiError::not_found("Project"))?;
        let (namespace, ns_name) = if let Some(g) = self.groups_by_path.get(&namespace_path.to_lowercase()) {
            (
                Namespace::Group(*g),
                self.groups
                    .get(g)
                    .map(|g| g.full_name.clone())
                    .unwrap_or_default(),
            )
        } else if let Some(u) = self.user_by_username(namespace_path) {
            (Namespace::User(u.id), u.name.clone())
        } else {
            return Err(ApiError::not_found("Namespace"));
        };
        let new_full = format!("{namespace_path}/{}", project.path);
        if self.projects_by_path.contains_key(&new_full.to_lowercase()) {
            return Err(ApiError::validation("path", "has already been taken"));
        }
        match project.namespace {
            Namespace::Group(g) => {
                if let Some(set) = self.group_projects.get_mut(&g) {
                    set.remove(&pid);
                }
            }
            Namespace::User(u) => {
                if let Some(set) = self.user_projects.get_mut(&u) {
                    set.remove(&pid);
                }
            }
        }
        match namespace {
            Namespace::Group(g) => self.group_projects.entry(g).or_default().insert(pid),
            Namespace::User(u) => self.user_projects.entry(u).or_default().insert(pid),
        };
        self.projects_by_path.remove(&project.full_path.to_lowercase());
        self.projects_by_path.insert(new_full.to_lowercase(), pid);
        if let Some(p) = self.projects.get_mut(&pid) {
            p.namespace = namespace;
            p.full_path = new_full;
            p.name_with_namespace = format!("{ns_name} / {}", p.name);
        }
        Ok(project.full_path)
    }

    pub fn share(
        &mut self,
        target: Source,
        with_group: GroupId,
        access_level: u8,
        expires_at: Option<Date>,
    ) -> ApiResult<()> {
        let share = Share {
            group_id: with_group,
            access_level,
            expires_at,
        };
        let list = match target {
            Source::Group(g) => {
                &mut self
                    .groups
                    .get_mut(&g)
                    .ok_or_else(|| ApiError::not_found("Group"))?
                    .shared_with
            }
            Source::Project(p) => {
                &mut self
                    .projects
                    .get_mut(&p)
                    .ok_or_else(|| ApiError::not_found("Project"))?
                    .shared_with
            }
        };
        list.retain(|s| s.group_id != with_group);
        list.push(share);
        Ok(())
    }

    // ---- mutations: members --------------------------------------------------------------------

    pub fn add_member(
        &mut self,
        source: Source,
        user_id: UserId,
        access_level: u8,
        expires_at: Option<Date>,
        created_by: Option<UserId>,
        now: OffsetDateTime,
    ) {
        self.members.entry(source).or_default().insert(
            user_id,
            Member {
                user_id,
                source,
                access_level,
                expires_at,
                created_at: now,
                created_by,
                member_role_id: None,
            },
        );
        self.user_memberships.entry(user_id).or_default().insert(source);
    }

    /// Defines a custom role; `group_id` is the top-level group it belongs to (GitLab.com).
    pub fn create_member_role(
        &mut self,
        group_id: Option<GroupId>,
        name: &str,
        description: &str,
        base_access_level: u8,
    ) -> ApiResult<u64> {
        if !VALID_ACCESS_LEVELS.contains(&base_access_level) || base_access_level < 10 {
            return Err(ApiError::validation(
                "base_access_level",
                "is not included in the list",
            ));
        }
        if group_id.is_some_and(|g| self.groups.get(&g).is_none_or(|g| g.parent_id.is_some())) {
            return Err(ApiError::validation("namespace", "must be top_level namespace"));
        }
        let id = bump(&mut self.next_member_role);
        self.member_roles.insert(
            id,
            MemberRole {
                id,
                group_id,
                name: name.to_owned(),
                description: description.to_owned(),
                base_access_level,
            },
        );
        Ok(id)
    }

    /// Gives a member a custom role, whose base level becomes the membership's level.
    pub fn assign_member_role(&mut self, source: Source, user_id: UserId, role_id: u64) -> ApiResult<()> {
        let base = self
            .member_roles
            .get(&role_id)
            .map(|r| r.base_access_level)
            .ok_or_else(|| ApiError::not_found("Member Role"))?;
        let member = self
            .members
            .get_mut(&source)
            .and_then(|m| m.get_mut(&user_id))
            .ok_or_else(|| ApiError::not_found("Member"))?;
        member.member_role_id = Some(role_id);
        member.access_level = base;
        Ok(())
    }

    pub fn remove_member(&mut self, source: Source, user_id: UserId) -> bool {
        let removed = self
            .members
            .get_mut(&source)
            .is_some_and(|m| m.remove(&user_id).is_some());
        if removed && let Some(s) = self.user_memberships.get_mut(&user_id) {
            s.remove(&source);
        }
        removed
    }

    pub fn add_invitation(
        &mut self,
        source: Source,
        email: &str,
        access_level: u8,
        expires_at: Option<Date>,
        created_by: Option<UserId>,
        now: OffsetDateTime,
    ) -> u64 {
        let id = bump(&mut self.next_invitation);
        self.invitations.insert(
            id,
            Invitation {
                id,
                source,
                email: email.to_owned(),
                access_level,
                expires_at,
                created_at: now,
                created_by,
            },
        );
        id
    }

    // ---- mutations: tokens ---------------------------------------------------------------------

    /// Stores a token and returns its id and secret.
    pub fn create_token(&mut self, new: NewToken, now: OffsetDateTime) -> ApiResult<(TokenId, String)> {
        let secret = new.secret.unwrap_or_else(|| random_secret("glpat-", 20));
        let d = digest(&secret);
        if self.token_digests.contains_key(&d) {
            return Err(ApiError::validation("token", "has already been taken"));
        }
        let id = bump(&mut self.next_token);
        self.tokens.insert(
            id,
            AccessToken {
                id,
                kind: new.kind,
                user_id: new.user_id,
                name: new.name,
                description: new.description,
                scopes: new.scopes,
                expires_at: new.expires_at,
                revoked: new.revoked,
                created_at: now,
                last_used_at: None,
                access_level: new.access_level,
                previous_id: new.previous_id,
            },
        );
        self.token_digests.insert(d, id);
        Ok((id, secret))
    }

    /// Creates a project or group access token together with its bot user and the bot's membership.
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors the API's create parameters one to one"
    )]
    pub fn create_resource_token(
        &mut self,
        source: Source,
        name: &str,
        description: Option<String>,
        scopes: Vec<String>,
        access_level: u8,
        expires_at: Option<Date>,
        secret: Option<String>,
        now: OffsetDateTime,
    ) -> ApiResult<(TokenId, String)> {
        let (prefix, kind) = match source {
            Source::Project(p) => (format!("project_{p}"), TokenKind::Project(p)),
            Source::Group(g) => (format!("group_{g}"), TokenKind::Group(g)),
        };
        let username = format!("{prefix}_bot_{}", random_hex(8));
        let bot = self.create_user(
            NewUser {
                username: username.clone(),
                name: name.to_owned(),
                email: format!("{username}@noreply.{}", self.settings.host),
                kind: Some(UserKind::ProjectBot),
                bot_source: Some(source),
                ..NewUser::default()
            },
            now,
        )?;
        self.add_member(source, bot, access_level, None, None, now);
        self.create_token(
            NewToken {
                kind,
                user_id: bot,
                name: name.to_owned(),
                description,
                scopes,
                expires_at,
                access_level,
                secret,
                previous_id: None,
                revoked: false,
            },
            now,
        )
    }

    fn family_root(&self, mut id: TokenId) -> TokenId {
        let mut guard = 0;
        while let Some(prev) = self.tokens.get(&id).and_then(|t| t.previous_id) {
            id = prev;
            guard += 1;
            if guard > 10_000 {
                break;
            }
        }
        id
    }

    /// Revokes every active token in the rotation family of `id` (GitLab's reuse detection).
    pub fn revoke_family(&mut self, id: TokenId) -> usize {
        let root = self.family_root(id);
        let members: Vec<TokenId> = self
            .tokens
            .keys()
            .copied()
            .filter(|t| self.family_root(*t) == root)
            .collect();
        let mut n = 0;
        for t in members {
            if let Some(tok) = self.tokens.get_mut(&t)
                && !tok.revoked
            {
                tok.revoked = true;
                n += 1;
            }
        }
        n
    }

    /// Rotates a token: the old one is revoked at once and a new one (new id, same family) returned.
    /// Rotating an already revoked token revokes the whole family instead.
    pub fn rotate_token(
        &mut self,
        id: TokenId,
        expires_at: Option<Date>,
        today: Date,
        now: OffsetDateTime,
    ) -> ApiResult<(TokenId, String)> {
        let old = self.tokens.get(&id).cloned().ok_or_else(ApiError::unauthorized)?;
        if old.revoked {
            self.revoke_family(id);
            return Err(ApiError::unauthorized());
        }
        if old.expired(today) {
            return Err(ApiError::unauthorized());
        }
        let expires_at = expires_at.or_else(|| today.checked_add(time::Duration::days(7)));
        if let Some(tok) = self.tokens.get_mut(&id) {
            tok.revoked = true;
        }
        self.create_token(
            NewToken {
                kind: old.kind,
                user_id: old.user_id,
                name: old.name,
                description: old.description,
                scopes: old.scopes,
                expires_at,
                access_level: old.access_level,
                secret: None,
                previous_id: Some(id),
                revoked: false,
            },
            now,
        )
    }

    // ---- OAuth ---------------------------------------------------------------------------------

    pub fn create_app(&mut self, mut app: OAuthApp) -> u64 {
        let id = bump(&mut self.next_app);
        app.id = id;
        self.apps.insert(id, app);
        id
    }

    pub fn app_by_uid(&self, uid: &str) -> Option<&OAuthApp> {
        self.apps.values().find(|a| a.uid == uid)
    }

    /// Issues an access/refresh pair and returns `(id, access, refresh)`.
    pub fn issue_oauth_token(
        &mut self,
        app_id: u64,
        user_id: UserId,
        scopes: Vec<String>,
        expires_in: u64,
        now: OffsetDateTime,
    ) -> (u64, String, String) {
        let access = random_hex(32);
        let refresh = random_hex(32);
        let id = bump(&mut self.next_oauth_token);
        let t = OAuthToken {
            id,
            app_id,
            user_id,
            scopes,
            created_at: now,
            expires_in,
            revoked_at: None,
            access_digest: digest(&access),
            refresh_digest: digest(&refresh),
        };
        self.oauth_access.insert(t.access_digest, id);
        self.oauth_refresh.insert(t.refresh_digest, id);
        self.oauth_tokens.insert(id, t);
        (id, access, refresh)
    }

    pub fn next_hook_id(&mut self) -> u64 {
        bump(&mut self.next_hook)
    }

    // ---- generator -----------------------------------------------------------------------------

    /// Builds a large instance directly (no JSON), deterministic for a given `seed`.
    pub fn generate(&mut self, spec: &crate::seed::Generate, now: OffsetDateTime) -> ApiResult<()> {
        use rand::SeedableRng;
        use rand::seq::SliceRandom;
        let mut rng = rand::rngs::StdRng::seed_from_u64(spec.seed);
        let first_user = self.next_user + 1;
        for i in 0..spec.users {
            self.create_user(
                NewUser {
                    username: format!("user{i:06}"),
                    name: format!("User {i}"),
                    email: format!("user{i:06}@example.com"),
                    last_sign_in_at: Some(now - time::Duration::days(i64::from(rng.gen_range(0u16..400)))),
                    last_activity_on: Some(now.date()),
                    ..NewUser::default()
                },
                now,
            )?;
        }
        // A realistic tree: a tenth of the groups are top-level, the rest nest under a random
        // earlier group up to four levels deep.
        const MAX_DEPTH: usize = 4;
        let mut group_ids: Vec<GroupId> = Vec::with_capacity(spec.groups as usize);
        let mut nestable: Vec<(GroupId, usize)> = Vec::new();
        let top_level = (spec.groups / 10).max(1.min(spec.groups));
        for i in 0..spec.groups {
            let parent = if i < top_level || nestable.is_empty() {
                None
            } else {
                nestable.choose(&mut rng).copied()
            };
            let (path, depth) = match parent {
                None => (format!("group{i:05}"), 1),
                Some((parent, depth)) => {
                    let parent_path = self
                        .groups
                        .get(&parent)
                        .map(|g| g.full_path.clone())
                        .unwrap_or_default();
                    (format!("{parent_path}/sub{i:05}"), depth + 1)
                }
            };
            let vis = if rng.gen_bool(0.1) {
                Visibility::Public
            } else {
                Visibility::Private
            };
            let gid = self.create_group(&path, &format!("Group {i}"), vis, "", now)?;
            group_ids.push(gid);
            if depth < MAX_DEPTH {
                nestable.push((gid, depth));
            }
        }
        let mut project_ids = Vec::with_capacity(spec.projects as usize);
        for i in 0..spec.projects {
            let ns_path = if group_ids.is_empty() {
                if spec.users == 0 {
                    break;
                }
                format!("user{:06}", i % spec.users)
            } else {
                let g = group_ids.choose(&mut rng).copied().unwrap_or_default();
                self.groups
                    .get(&g)
                    .map(|g| g.full_path.clone())
                    .unwrap_or_default()
            };
            let vis = if rng.gen_bool(0.1) {
                Visibility::Public
            } else {
                Visibility::Private
            };
            project_ids.push(self.create_project(
                &format!("{ns_path}/project{i:06}"),
                &format!("Project {i}"),
                vis,
                now,
            )?);
        }
        if spec.users > 0 && (!group_ids.is_empty() || !project_ids.is_empty()) {
            const LEVELS: [u8; 5] = [10, 20, 30, 40, 50];
            let mut added = 0u64;
            let mut attempts = 0u64;
            while added < spec.memberships && attempts < spec.memberships.saturating_mul(3) {
                attempts += 1;
                let user = first_user + rng.gen_range(0..spec.users);
                let source = if project_ids.is_empty() || (!group_ids.is_empty() && rng.gen_bool(0.3)) {
                    Source::Group(group_ids.choose(&mut rng).copied().unwrap_or_default())
                } else {
                    Source::Project(project_ids.choose(&mut rng).copied().unwrap_or_default())
                };
                if self.members.get(&source).is_some_and(|m| m.contains_key(&user)) {
                    continue;
                }
                let level = LEVELS.choose(&mut rng).copied().unwrap_or(30);
                self.add_member(source, user, level, None, None, now);
                added += 1;
            }
        }
        // Shares: a group or project invites another group, capped at Developer or below.
        if group_ids.len() > 1 {
            const CAPS: [u8; 3] = [10, 20, 30];
            for _ in 0..spec.shares {
                let with = group_ids.choose(&mut rng).copied().unwrap_or_default();
                let target = if project_ids.is_empty() || rng.gen_bool(0.5) {
                    Source::Group(group_ids.choose(&mut rng).copied().unwrap_or_default())
                } else {
                    Source::Project(project_ids.choose(&mut rng).copied().unwrap_or_default())
                };
                if target == Source::Group(with) {
                    continue;
                }
                let cap = CAPS.choose(&mut rng).copied().unwrap_or(30);
                self.share(target, with, cap, None)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn user(db: &mut Db, name: &str) -> UserId {
        db.create_user(
            NewUser {
                username: name.into(),
                name: name.into(),
                email: format!("{name}@example.com"),
                ..NewUser::default()
            },
            now(),
        )
        .unwrap()
    }

    #[test]
    fn inheritance_and_share_caps() {
        let mut db = Db::default();
        let today = now().date();
        let alice = user(&mut db, "alice");
        let bob = user(&mut db, "bob");
        let acme = db
            .create_group("acme", "Acme", Visibility::Private, "", now())
            .unwrap();
        let plat = db
            .create_group("acme/platform", "Platform", Visibility::Private, "", now())
            .unwrap();
        let other = db
            .create_group("other", "Other", Visibility::Private, "", now())
            .unwrap();
        let api = db
            .create_project("acme/platform/api", "API", Visibility::Private, now())
            .unwrap();
        db.add_member(Source::Group(acme), alice, 40, None, None, now());
        db.add_member(Source::Group(other), bob, 50, None, None, now());
        db.share(Source::Project(api), other, 30, None).unwrap();
        assert_eq!(db.group_level(alice, plat, today), 40);
        assert_eq!(db.project_level(alice, api, today), 40);
        assert_eq!(db.project_level(bob, api, today), 30, "share caps the level");
        assert!(db.authorized_projects(bob, today).contains(&api));
        assert!(!db.authorized_groups(bob, today).contains(&acme));
    }

    #[test]
    fn expired_membership_grants_nothing() {
        let mut db = Db::default();
        let today = now().date();
        let alice = user(&mut db, "alice");
        let g = db.create_group("g", "G", Visibility::Private, "", now()).unwrap();
        db.add_member(Source::Group(g), alice, 30, Some(today), None, now());
        assert_eq!(db.group_level(alice, g, today), 0);
    }

    #[test]
    fn rotation_revokes_old_and_reuse_revokes_family() {
        let mut db = Db::default();
        let today = now().date();
        let alice = user(&mut db, "alice");
        let (t1, _) = db
            .create_token(
                NewToken {
                    kind: TokenKind::Personal,
                    user_id: alice,
                    name: "ci".into(),
                    description: None,
                    scopes: vec!["api".into()],
                    expires_at: None,
                    access_level: 0,
                    secret: None,
                    previous_id: None,
                    revoked: false,
                },
                now(),
            )
            .unwrap();
        let (t2, _) = db.rotate_token(t1, None, today, now()).unwrap();
        assert!(db.tokens[&t1].revoked);
        assert!(!db.tokens[&t2].revoked);
        assert_eq!(
            db.tokens[&t2].expires_at,
            today.checked_add(time::Duration::days(7))
        );
        assert!(db.rotate_token(t1, None, today, now()).is_err());
        assert!(
            db.tokens[&t2].revoked,
            "reusing a revoked token revokes its family"
        );
    }

    #[test]
    fn generator_builds_requested_sizes() {
        let mut db = Db::default();
        let spec = crate::seed::Generate {
            users: 200,
            groups: 20,
            projects: 50,
            memberships: 300,
            shares: 10,
            seed: 7,
        };
        db.generate(&spec, now()).unwrap();
        assert_eq!(db.users.len(), 200);
        assert_eq!(db.groups.len(), 20);
        assert_eq!(db.projects.len(), 50);
        assert_eq!(db.members.values().map(BTreeMap::len).sum::<usize>(), 300);
    }

    #[test]
    fn scaled_benchmark_sizes() {
        let small = crate::seed::Generate::large().scaled(0.05);
        assert_eq!(
            (
                small.users,
                small.groups,
                small.projects,
                small.memberships,
                small.shares
            ),
            (1_000, 100, 2_500, 25_000, 100)
        );
        assert_eq!(
            crate::seed::Generate::large().scaled(1.0),
            crate::seed::Generate::large()
        );
        let tiny = crate::seed::Generate::large().scaled(0.000_001);
        assert_eq!((tiny.users, tiny.groups), (1, 1), "at least one of each");
    }
}
