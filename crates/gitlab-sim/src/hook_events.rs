//! Events GitLab sends besides pushes: system hooks (every account, group, project and
//! membership change on the instance) and group hooks' `Member Hook` and `Subgroup Hook`
//! deliveries. The bodies follow GitLab's hook data builders field for field.
//!
//! A change builds its deliveries while the database is locked (the payload needs the rows as
//! they were, e.g. a removed member), and sends them after the lock is released. They are sent
//! before the API call that caused them answers, so whoever made the change sees the delivery
//! recorded as soon as the call returns.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::db::Db;
use crate::model::*;
use crate::state::SimState;

/// `X-Gitlab-Event` of system hook deliveries.
pub const SYSTEM_HOOK: &str = "System Hook";
/// `X-Gitlab-Event` of group hooks' member events.
pub const MEMBER_HOOK: &str = "Member Hook";
/// `X-Gitlab-Event` of group hooks' subgroup events.
pub const SUBGROUP_HOOK: &str = "Subgroup Hook";

/// One event on its way to the hooks that take it.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub hooks: Vec<Hook>,
    pub event: &'static str,
    pub payload: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    Added,
    Updated,
    Removed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupChange {
    Created,
    Destroyed,
    Renamed { old_path: String, old_full_path: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectChange {
    Created,
    Destroyed,
    Transferred { old_path_with_namespace: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserChange {
    Created,
    Destroyed,
    Renamed {
        old_username: String,
    },
    /// A blocked account tried to sign in.
    FailedLogin,
}

/// GitLab's `xmlschema` timestamps in hook bodies: seconds, `Z`.
pub fn xmlschema(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn system_hooks(db: &Db) -> Vec<Hook> {
    db.hooks
        .values()
        .filter(|h| h.owner == HookOwner::Instance)
        .cloned()
        .collect()
}

/// Hooks of a group and of every ancestor that take an event kind.
fn group_hooks(db: &Db, gid: GroupId, wants: impl Fn(&Hook) -> bool) -> Vec<Hook> {
    let chain = db.group_ancestors(gid);
    db.hooks
        .values()
        .filter(|h| matches!(h.owner, HookOwner::Group(g) if chain.contains(&g)) && wants(h))
        .cloned()
        .collect()
}

fn system(db: &Db, payload: Value) -> Vec<Outgoing> {
    let hooks = system_hooks(db);
    if hooks.is_empty() {
        return Vec::new();
    }
    vec![Outgoing {
        hooks,
        event: SYSTEM_HOOK,
        payload,
    }]
}

/// The address a hook body shows for a user where GitLab uses `webhook_email`.
fn webhook_email(user: &User) -> String {
    user.public_email
        .clone()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "[REDACTED]".into())
}

fn merge(parts: Vec<Value>) -> Value {
    let mut out = Map::new();
    for part in parts {
        if let Value::Object(m) = part {
            out.extend(m);
        }
    }
    Value::Object(out)
}

/// A membership added, changed or removed: system hooks get `user_*_group` / `user_*_team`,
/// the hooks of the group and its ancestors with member events get the group events.
pub fn member(db: &Db, m: &Member, change: MemberChange, now: OffsetDateTime) -> Vec<Outgoing> {
    let Some(user) = db.user(m.user_id) else {
        return Vec::new();
    };
    let timestamps = json!({ "created_at": xmlschema(m.created_at), "updated_at": xmlschema(now) });
    match m.source {
        Source::Group(gid) => {
            let Some(group) = db.groups.get(&gid) else {
                return Vec::new();
            };
            let event_name = match change {
                MemberChange::Added => "user_add_to_group",
                MemberChange::Updated => "user_update_for_group",
                MemberChange::Removed => "user_remove_from_group",
            };
            let payload = merge(vec![
                timestamps,
                json!({
                    "group_name": group.name,
                    "group_path": group.path,
                    "group_id": group.id,
                    "user_username": user.username,
                    "user_name": user.name,
                    "user_email": user.email,
                    "user_id": user.id,
                    "group_access": role_name(m.access_level),
                    "expires_at": m.expires_at.map(|d| xmlschema(d.midnight().assume_utc())),
                    "group_plan": Value::Null,
                }),
                json!({ "event_name": event_name }),
            ]);
            let mut out = system(db, payload.clone());
            let hooks = group_hooks(db, gid, |h| h.member_events);
            if !hooks.is_empty() {
                out.push(Outgoing {
                    hooks,
                    event: MEMBER_HOOK,
                    payload,
                });
            }
            out
        }
        Source::Project(pid) => {
            let Some(project) = db.projects.get(&pid) else {
                return Vec::new();
            };
            let event_name = match change {
                MemberChange::Added => "user_add_to_team",
                MemberChange::Updated => "user_update_for_team",
                MemberChange::Removed => "user_remove_from_team",
            };
            system(
                db,
                merge(vec![
                    timestamps,
                    json!({
                        "project_name": project.name,
                        "project_path": project.path,
                        "project_path_with_namespace": project.full_path,
                        "project_id": project.id,
                        "user_username": user.username,
                        "user_name": user.name,
                        "user_email": webhook_email(user),
                        "user_id": user.id,
                        "access_level": role_name(m.access_level),
                        "project_visibility": project.visibility.as_str(),
                    }),
                    json!({ "event_name": event_name }),
                ]),
            )
        }
    }
}

pub fn user(db: &Db, u: &User, change: &UserChange, now: OffsetDateTime) -> Vec<Outgoing> {
    let event_name = match change {
        UserChange::Created => "user_create",
        UserChange::Destroyed => "user_destroy",
        UserChange::Renamed { .. } => "user_rename",
        UserChange::FailedLogin => "user_failed_login",
    };
    let mut parts = vec![
        json!({ "created_at": xmlschema(u.created_at), "updated_at": xmlschema(now) }),
        json!({ "event_name": event_name }),
        json!({ "name": u.name, "email": u.email, "user_id": u.id, "username": u.username }),
    ];
    match change {
        UserChange::Renamed { old_username } => parts.push(json!({ "old_username": old_username })),
        UserChange::FailedLogin => parts.push(json!({ "state": u.state.as_str() })),
        UserChange::Created | UserChange::Destroyed => {}
    }
    system(db, merge(parts))
}

/// A group created, removed or renamed: system hooks get `group_*`; a subgroup's creation or
/// removal also goes to the hooks of its parent chain that take subgroup events.
pub fn group(db: &Db, g: &Group, change: &GroupChange, now: OffsetDateTime) -> Vec<Outgoing> {
    let event_name = match change {
        GroupChange::Created => "group_create",
        GroupChange::Destroyed => "group_destroy",
        GroupChange::Renamed { .. } => "group_rename",
    };
    let timestamps = json!({ "created_at": xmlschema(g.created_at), "updated_at": xmlschema(now) });
    let data = json!({
        "name": g.name,
        "path": g.path,
        "full_path": g.full_path,
        "group_id": g.id,
    });
    // Groups have no single owner; GitLab's system hook bodies still carry the two keys, null.
    let mut parts = vec![
        timestamps.clone(),
        json!({ "event_name": event_name }),
        data.clone(),
        json!({ "owner_name": Value::Null, "owner_email": Value::Null }),
    ];
    if let GroupChange::Renamed {
        old_path,
        old_full_path,
    } = change
    {
        parts.push(json!({ "old_path": old_path, "old_full_path": old_full_path }));
    }
    let mut out = system(db, merge(parts));
    let subgroup_event = match change {
        GroupChange::Created => Some("subgroup_create"),
        GroupChange::Destroyed => Some("subgroup_destroy"),
        GroupChange::Renamed { .. } => None,
    };
    if let (Some(event_name), Some(parent)) = (subgroup_event, g.parent_id.and_then(|p| db.groups.get(&p))) {
        let hooks = group_hooks(db, parent.id, |h| h.subgroup_events);
        if !hooks.is_empty() {
            out.push(Outgoing {
                hooks,
                event: SUBGROUP_HOOK,
                payload: merge(vec![
                    timestamps,
                    json!({ "event_name": event_name }),
                    data,
                    json!({
                        "parent_group_id": parent.id,
                        "parent_name": parent.name,
                        "parent_path": parent.path,
                        "parent_full_path": parent.full_path,
                    }),
                ]),
            });
        }
    }
    out
}

/// The owners GitLab lists on project events: the Owners of the project's group (inherited
/// included), or the user whose namespace holds the project.
fn project_owners<'a>(db: &'a Db, p: &Project, today: time::Date) -> Vec<&'a User> {
    match p.namespace {
        Namespace::User(u) => db.user(u).into_iter().collect(),
        Namespace::Group(g) => {
            let mut owners: Vec<&User> = db
                .group_ancestors(g)
                .into_iter()
                .filter_map(|a| db.members.get(&Source::Group(a)))
                .flat_map(|ms| ms.values())
                .filter(|m| m.access_level == 50 && m.expires_at.is_none_or(|d| d > today))
                .filter_map(|m| db.user(m.user_id))
                .collect();
            owners.sort_by_key(|u| u.id);
            owners.dedup_by_key(|u| u.id);
            owners
        }
    }
}

pub fn project(db: &Db, p: &Project, change: &ProjectChange, now: OffsetDateTime) -> Vec<Outgoing> {
    let event_name = match change {
        ProjectChange::Created => "project_create",
        ProjectChange::Destroyed => "project_destroy",
        ProjectChange::Transferred { .. } => "project_transfer",
    };
    let owners = project_owners(db, p, now.date());
    // GitLab's deprecated single owner: the namespace's user, or the group's first owner.
    let owner = owners.first();
    let mut parts = vec![
        json!({ "event_name": event_name }),
        json!({ "created_at": xmlschema(p.created_at), "updated_at": xmlschema(now) }),
        json!({
            "name": p.name,
            "path": p.path,
            "path_with_namespace": p.full_path,
            "project_id": p.id,
            "owner_name": owner.map(|u| u.name.clone()),
            "owner_email": owner.map_or_else(String::new, |u| webhook_email(u)),
            "owners": owners.iter().map(|u| json!({ "name": u.name, "email": webhook_email(u) })).collect::<Vec<_>>(),
            "project_visibility": p.visibility.as_str(),
        }),
    ];
    if let ProjectChange::Transferred {
        old_path_with_namespace,
    } = change
    {
        parts.push(json!({ "old_path_with_namespace": old_path_with_namespace }));
    }
    system(db, merge(parts))
}

/// Sends each event to its hooks, one event UUID per event, and records every attempt.
pub async fn send(state: &SimState, events: Vec<Outgoing>) {
    for e in events {
        let event_uuid = uuid::Uuid::new_v4().to_string();
        for h in &e.hooks {
            crate::git::deliver(state, h, e.event, &event_uuid, &e.payload).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_xmlschema_seconds() {
        let t = OffsetDateTime::from_unix_timestamp(1_342_855_856).unwrap();
        assert_eq!(xmlschema(t), "2012-07-21T07:30:56Z");
    }
}
