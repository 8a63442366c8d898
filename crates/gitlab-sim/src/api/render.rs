//! GitLab's JSON entities, field for field.

use serde_json::{Map, Value, json};
use time::Date;

use crate::clock::{fmt_date, fmt_ts};
use crate::db::Db;
use crate::model::*;

fn opt_ts(t: Option<time::OffsetDateTime>) -> Value {
    t.map_or(Value::Null, |t| Value::String(fmt_ts(t)))
}

fn opt_date(d: Option<Date>) -> Value {
    d.map_or(Value::Null, |d| Value::String(fmt_date(d)))
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// How much of a user an entity shows, from GitLab's `UserBasic` up to `UserWithAdmin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum UserLevel {
    /// `UserBasic`: list items and embedded users.
    Basic,
    /// `User`: the public profile (`GET /users/:id` as a non-admin).
    Public,
    /// `UserPublic`: the caller itself (`GET /user`).
    Own,
    /// `UserWithAdmin`: what an administrator sees.
    Admin,
}

/// A user entity, serialised straight to JSON (the hot path of `GET /users`).
pub struct UserView<'a> {
    pub user: &'a User,
    pub base: &'a str,
    pub level: UserLevel,
}

impl serde::Serialize for UserView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let u = self.user;
        let ts = |t: Option<time::OffsetDateTime>| t.map(fmt_ts);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &u.id)?;
        m.serialize_entry("username", &u.username)?;
        m.serialize_entry("name", &u.name)?;
        m.serialize_entry("state", u.state.as_str())?;
        m.serialize_entry("locked", &false)?;
        m.serialize_entry("avatar_url", &u.avatar_url)?;
        m.serialize_entry("web_url", &format_args!("{}/{}", self.base, u.username))?;
        if self.level == UserLevel::Basic {
            return m.end();
        }
        m.serialize_entry("created_at", &fmt_ts(u.created_at))?;
        m.serialize_entry("bio", &u.bio)?;
        m.serialize_entry("location", &u.location)?;
        m.serialize_entry("public_email", u.public_email.as_deref().unwrap_or_default())?;
        for k in ["skype", "linkedin", "twitter", "discord", "website_url"] {
            m.serialize_entry(k, "")?;
        }
        m.serialize_entry("organization", &u.organization)?;
        m.serialize_entry("job_title", &u.job_title)?;
        m.serialize_entry("pronouns", &Value::Null)?;
        m.serialize_entry("bot", &u.is_bot())?;
        m.serialize_entry("work_information", &Value::Null)?;
        m.serialize_entry("followers", &0)?;
        m.serialize_entry("following", &0)?;
        m.serialize_entry("is_followed", &false)?;
        m.serialize_entry("local_time", &Value::Null)?;
        if self.level == UserLevel::Public {
            return m.end();
        }
        m.serialize_entry("last_sign_in_at", &ts(u.last_sign_in_at))?;
        m.serialize_entry("confirmed_at", &ts(u.confirmed_at))?;
        m.serialize_entry("last_activity_on", &u.last_activity_on.map(fmt_date))?;
        m.serialize_entry("email", &u.email)?;
        m.serialize_entry("theme_id", &1)?;
        m.serialize_entry("color_scheme_id", &1)?;
        m.serialize_entry("projects_limit", &100_000)?;
        m.serialize_entry("current_sign_in_at", &ts(u.current_sign_in_at))?;
        let identities: Vec<Value> = u
            .identities
            .iter()
            .map(|i| json!({ "provider": i.provider, "extern_uid": i.extern_uid }))
            .collect();
        m.serialize_entry("identities", &identities)?;
        m.serialize_entry("can_create_group", &true)?;
        m.serialize_entry("can_create_project", &true)?;
        m.serialize_entry("two_factor_enabled", &false)?;
        m.serialize_entry("external", &u.external)?;
        m.serialize_entry("private_profile", &false)?;
        m.serialize_entry("commit_email", &u.email)?;
        m.serialize_entry("preferred_language", "en")?;
        if self.level == UserLevel::Own {
            return m.end();
        }
        let ip = |t: Option<time::OffsetDateTime>| t.map(|_| "127.0.0.1");
        m.serialize_entry("is_admin", &u.admin)?;
        m.serialize_entry("note", &u.note)?;
        m.serialize_entry("namespace_id", &u.namespace_id)?;
        m.serialize_entry("created_by", &Value::Null)?;
        m.serialize_entry("is_auditor", &false)?;
        m.serialize_entry(
            "using_license_seat",
            &(u.kind == UserKind::Human && u.state == UserState::Active),
        )?;
        m.serialize_entry("current_sign_in_ip", &ip(u.current_sign_in_at))?;
        m.serialize_entry("last_sign_in_ip", &ip(u.last_sign_in_at))?;
        m.serialize_entry("sign_in_count", &u32::from(u.last_sign_in_at.is_some()))?;
        m.serialize_entry("plan", "default")?;
        m.serialize_entry("trial", &false)?;
        m.serialize_entry("user_type", u.kind.as_str())?;
        for k in [
            "provisioned_by_group_id",
            "email_reset_offered_at",
            "enterprise_group_id",
            "enterprise_group_associated_at",
        ] {
            m.serialize_entry(k, &Value::Null)?;
        }
        m.end()
    }
}

pub fn user_value_of(u: &User, base: &str, level: UserLevel) -> Value {
    user_value(u, base, level)
}

fn user_value(u: &User, base: &str, level: UserLevel) -> Value {
    serde_json::to_value(UserView { user: u, base, level }).unwrap_or(Value::Null)
}

/// `UserBasic`: list items and embedded users.
pub fn user_basic(u: &User, base: &str) -> Value {
    user_value(u, base, UserLevel::Basic)
}

/// `User`: the public profile.
pub fn user_public(u: &User, base: &str) -> Value {
    user_value(u, base, UserLevel::Public)
}

/// `UserPublic`: the caller itself.
pub fn user_self(u: &User, base: &str) -> Value {
    user_value(u, base, UserLevel::Own)
}

/// `UserWithAdmin`: what an administrator sees.
pub fn user_admin(u: &User, base: &str) -> Value {
    user_value(u, base, UserLevel::Admin)
}

/// `PersonalAccessToken` (no secret).
pub fn pat(t: &AccessToken, today: Date) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "revoked": t.revoked,
        "created_at": fmt_ts(t.created_at),
        "description": t.description,
        "scopes": t.scopes,
        "user_id": t.user_id,
        "last_used_at": opt_ts(t.last_used_at),
        "active": t.active(today),
        "expires_at": opt_date(t.expires_at),
        "last_used_ips": [],
    })
}

/// `ResourceAccessToken` (no secret), exactly the schema's fields.
pub fn resource_token(t: &AccessToken, today: Date) -> Value {
    let (rtype, rid) = match t.kind {
        TokenKind::Project(p) => ("project", p),
        TokenKind::Group(g) => ("group", g),
        TokenKind::Personal => ("user", t.user_id),
    };
    json!({
        "id": t.id,
        "name": t.name,
        "description": t.description,
        "user_id": t.user_id,
        "active": t.active(today),
        "granular": false,
        "created_at": fmt_ts(t.created_at),
        "expires_at": opt_date(t.expires_at),
        "revoked": t.revoked,
        "access_level": t.access_level,
        "scopes": t.scopes,
        "last_used_at": opt_ts(t.last_used_at),
        "resource_type": rtype,
        "resource_id": rid,
    })
}

/// A token entity plus its secret (create and rotate answers).
pub fn with_secret(mut v: Value, secret: &str) -> Value {
    if let Value::Object(m) = &mut v {
        m.insert("token".into(), Value::String(secret.to_owned()));
    }
    v
}

pub fn member(db: &Db, m: &Member, base: &str) -> Value {
    let Some(u) = db.user(m.user_id) else {
        return Value::Null;
    };
    let mut o = obj(user_basic(u, base));
    o.extend(obj(json!({
        "access_level": m.access_level,
        "created_at": fmt_ts(m.created_at),
        "created_by": m.created_by.and_then(|c| db.user(c)).map(|c| user_basic(c, base)),
        "expires_at": opt_date(m.expires_at),
        "membership_state": "active",
        "group_saml_identity": Value::Null,
        "member_role": m.member_role_id.and_then(|id| db.member_roles.get(&id)).map(|r| json!({
            "id": r.id,
            "group_id": r.group_id,
            "name": r.name,
            "description": r.description,
            "base_access_level": r.base_access_level,
        })),
        "is_using_seat": u.kind == UserKind::Human,
    })));
    Value::Object(o)
}

fn shares(db: &Db, shares: &[Share]) -> Value {
    Value::Array(
        shares
            .iter()
            .filter_map(|s| {
                let g = db.groups.get(&s.group_id)?;
                Some(json!({
                    "group_id": g.id,
                    "group_name": g.name,
                    "group_full_path": g.full_path,
                    "group_access_level": s.access_level,
                    "expires_at": opt_date(s.expires_at),
                }))
            })
            .collect(),
    )
}

pub fn group(db: &Db, g: &Group, base: &str, detail: bool) -> Value {
    let mut v = json!({
        "id": g.id,
        "web_url": format!("{base}/groups/{}", g.full_path),
        "name": g.name,
        "path": g.path,
        "description": g.description,
        "visibility": g.visibility.as_str(),
        "share_with_group_lock": false,
        "require_two_factor_authentication": false,
        "two_factor_grace_period": 48,
        "project_creation_level": "developer",
        "auto_devops_enabled": Value::Null,
        "subgroup_creation_level": "maintainer",
        "emails_disabled": false,
        "emails_enabled": true,
        "mentions_disabled": Value::Null,
        "lfs_enabled": true,
        "default_branch": Value::Null,
        "default_branch_protection": 2,
        "avatar_url": Value::Null,
        "request_access_enabled": true,
        "full_name": g.full_name,
        "full_path": g.full_path,
        "created_at": fmt_ts(g.created_at),
        "parent_id": g.parent_id,
        "organization_id": 1,
        "shared_runners_setting": "enabled",
        "ldap_cn": Value::Null,
        "ldap_access": Value::Null,
        "marked_for_deletion_on": Value::Null,
        "wiki_access_level": "enabled",
    });
    if detail && let Value::Object(m) = &mut v {
        m.insert("shared_with_groups".into(), shares(db, &g.shared_with));
        m.insert("runners_token".into(), Value::Null);
        m.insert(
            "prevent_sharing_groups_outside_hierarchy".into(),
            Value::Bool(false),
        );
        m.insert("shared_projects".into(), Value::Array(Vec::new()));
    }
    v
}

fn namespace(db: &Db, p: &Project, base: &str) -> Value {
    match p.namespace {
        Namespace::Group(gid) => match db.groups.get(&gid) {
            Some(g) => json!({
                "id": g.id, "name": g.name, "path": g.path, "kind": "group", "full_path": g.full_path,
                "parent_id": g.parent_id, "avatar_url": Value::Null, "web_url": format!("{base}/groups/{}", g.full_path),
            }),
            None => Value::Null,
        },
        Namespace::User(uid) => match db.user(uid) {
            Some(u) => json!({
                "id": u.namespace_id, "name": u.name, "path": u.username, "kind": "user", "full_path": u.username,
                "parent_id": Value::Null, "avatar_url": u.avatar_url, "web_url": format!("{base}/{}", u.username),
            }),
            None => Value::Null,
        },
    }
}

pub fn project_simple(db: &Db, p: &Project, base: &str) -> Value {
    let host = url::Url::parse(base)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    json!({
        "id": p.id,
        "description": p.description,
        "name": p.name,
        "name_with_namespace": p.name_with_namespace,
        "path": p.path,
        "path_with_namespace": p.full_path,
        "created_at": fmt_ts(p.created_at),
        "default_branch": p.default_branch,
        "tag_list": [],
        "topics": [],
        "ssh_url_to_repo": format!("git@{host}:{}.git", p.full_path),
        "http_url_to_repo": format!("{base}/{}.git", p.full_path),
        "web_url": format!("{base}/{}", p.full_path),
        "readme_url": if p.files.contains_key("README.md") { json!(format!("{base}/{}/-/blob/{}/README.md", p.full_path, p.default_branch)) } else { Value::Null },
        "forks_count": 0,
        "avatar_url": Value::Null,
        "star_count": 0,
        "last_activity_at": fmt_ts(p.last_activity_at),
        "namespace": namespace(db, p, base),
    })
}

pub fn project(db: &Db, p: &Project, base: &str, permissions: Option<(Option<u8>, Option<u8>)>) -> Value {
    let mut m = obj(project_simple(db, p, base));
    m.extend(obj(json!({
        "visibility": p.visibility.as_str(),
        "archived": p.archived,
        "empty_repo": p.files.is_empty(),
        "creator_id": p.creator_id,
        "open_issues_count": 0,
        "issues_enabled": true,
        "merge_requests_enabled": true,
        "jobs_enabled": true,
        "wiki_enabled": true,
        "snippets_enabled": true,
        "container_registry_enabled": true,
        "shared_runners_enabled": true,
        "lfs_enabled": true,
        "request_access_enabled": true,
        "only_allow_merge_if_pipeline_succeeds": false,
        "shared_with_groups": shares(db, &p.shared_with),
        "_links": {
            "self": format!("{base}/api/v4/projects/{}", p.id),
            "members": format!("{base}/api/v4/projects/{}/members", p.id),
            "repo_branches": format!("{base}/api/v4/projects/{}/repository/branches", p.id),
        },
    })));
    if let Some((project_access, group_access)) = permissions {
        let level = |l: Option<u8>| {
            l.map_or(
                Value::Null,
                |l| json!({ "access_level": l, "notification_level": 3 }),
            )
        };
        m.insert(
            "permissions".into(),
            json!({ "project_access": level(project_access), "group_access": level(group_access) }),
        );
    }
    Value::Object(m)
}

pub fn variable(v: &Variable) -> Value {
    json!({
        "variable_type": v.variable_type,
        "key": v.key,
        "value": if v.hidden { Value::Null } else { Value::String(v.value.clone()) },
        "hidden": v.hidden,
        "protected": v.protected,
        "masked": v.masked,
        "raw": v.raw,
        "environment_scope": v.environment_scope,
        "description": v.description,
    })
}

pub fn hook(h: &Hook) -> Value {
    let mut v = json!({
        "id": h.id,
        "url": h.url,
        "name": h.name,
        "description": h.description,
        "push_events": h.push_events,
        "push_events_branch_filter": h.push_events_branch_filter,
        "tag_push_events": h.tag_push_events,
        "merge_requests_events": h.merge_requests_events,
        "issues_events": false,
        "confidential_issues_events": false,
        "note_events": false,
        "confidential_note_events": false,
        "job_events": false,
        "pipeline_events": false,
        "wiki_page_events": false,
        "deployment_events": false,
        "releases_events": false,
        "enable_ssl_verification": h.enable_ssl_verification,
        "token_present": h.token.is_some(),
        "created_at": fmt_ts(h.created_at),
        "alert_status": "executable",
        "disabled_until": Value::Null,
        "url_variables": [],
        "custom_headers": h.custom_headers.iter().map(|(k, _)| json!({ "key": k })).collect::<Vec<_>>(),
        "custom_webhook_template": Value::Null,
    });
    // Group hooks (GitLab Premium) name their group and carry the group-only event flags.
    match h.owner {
        HookOwner::Project(pid) => v["project_id"] = json!(pid),
        HookOwner::Group(gid) => {
            v["group_id"] = json!(gid);
            v["subgroup_events"] = json!(h.subgroup_events);
            v["member_events"] = json!(h.member_events);
            v["project_events"] = json!(false);
        }
        HookOwner::Instance => return system_hook(h),
    }
    v
}

/// A system hook as `GET /hooks` shows it (GitLab's `Entities::Hook`): only the event flags a
/// system hook has.
pub fn system_hook(h: &Hook) -> Value {
    json!({
        "id": h.id,
        "url": h.url,
        "name": h.name,
        "description": h.description,
        "created_at": fmt_ts(h.created_at),
        "push_events": h.push_events,
        "tag_push_events": h.tag_push_events,
        "merge_requests_events": h.merge_requests_events,
        "repository_update_events": h.repository_update_events,
        "enable_ssl_verification": h.enable_ssl_verification,
        "alert_status": "executable",
        "disabled_until": Value::Null,
        "url_variables": [],
        "push_events_branch_filter": h.push_events_branch_filter,
        "branch_filter_strategy": "wildcard",
        "custom_headers": h.custom_headers.iter().map(|(k, _)| json!({ "key": k })).collect::<Vec<_>>(),
    })
}

pub fn invitation(db: &Db, i: &Invitation) -> Value {
    json!({
        "id": i.id,
        "invite_email": i.email,
        "created_at": fmt_ts(i.created_at),
        "access_level": i.access_level,
        "expires_at": opt_date(i.expires_at),
        "user_name": Value::Null,
        "created_by_name": i.created_by.and_then(|u| db.user(u)).map(|u| u.name.clone()),
    })
}
