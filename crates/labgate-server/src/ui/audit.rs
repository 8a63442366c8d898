//! The audit log: who did what to which resource, from where, newest first, filtered by GET
//! parameters (so a filtered view can be bookmarked and works without the script) and paged as
//! the API pages it. Admins only, as in the API.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use labgate_core::CoreError;
use labgate_core::auth::{Access, role_allows};
use labgate_proto::audit::{ActorKind, AuditAction, AuditLogQuery, AuditLogView, ResourceType};
use maud::{Markup, html};
use serde::Deserialize;
use time::OffsetDateTime;

use super::UiSession;
use super::components::{
    ButtonKind, Tone, badge, empty_state, field_error, link_button, page_header, relative_time_text, table,
};
use super::denied::{core_error, forbidden};
use super::layout::{Nav, page, page_with_status};
use crate::state::AppState;

const LIST_PATH: &str = "/organization/audit-logs";
const PAGE_SIZE: u32 = 50;
const ADMIN_ONLY: &str = "The audit log shows who holds which keys and reads which credentials, so only \
                          administrators of this tenant see it.";
/// Where a connection's page is.
const CONNECTION_PATH: &str = "/organization/app-connections";

/// The filters as typed in the form; each empty one is no filter.
#[derive(Debug, Deserialize, Default, Clone)]
pub struct Filters {
    #[serde(default)]
    action: String,
    /// `user:<id>`, `api-key:<id>`, `system` or `cli`.
    #[serde(default)]
    actor: String,
    #[serde(default)]
    resource: String,
    #[serde(default)]
    resource_id: String,
    /// `YYYY-MM-DDTHH:MM` in UTC (what `<input type=datetime-local>` sends).
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    offset: Option<u64>,
}

#[derive(Debug, Default)]
struct FilterErrors {
    since: Option<&'static str>,
    until: Option<&'static str>,
}

impl FilterErrors {
    fn any(&self) -> bool {
        self.since.is_some() || self.until.is_some()
    }
}

/// `2026-12-01T20:15` (or with seconds, or a full RFC 3339 time) as RFC 3339 in UTC.
fn form_time(text: &str) -> Option<Result<String, ()>> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if labgate_core::timefmt::parse_time(text).is_some() {
        return Some(Ok(text.to_owned()));
    }
    let with_seconds = if text.len() == 16 {
        format!("{text}:00Z")
    } else {
        format!("{text}Z")
    };
    Some(
        labgate_core::timefmt::parse_time(&with_seconds)
            .map(labgate_core::timefmt::format_time)
            .ok_or(()),
    )
}

impl Filters {
    fn query(&self) -> (AuditLogQuery, FilterErrors) {
        let mut errors = FilterErrors::default();
        let (actor_kind, actor_id) = match self.actor.split_once(':') {
            Some((kind, id)) => (
                ActorKind::parse(kind),
                Some(id.to_owned()).filter(|id| !id.is_empty()),
            ),
            None => (ActorKind::parse(&self.actor), None),
        };
        let since = form_time(&self.since).and_then(|time| {
            time.map_err(|()| errors.since = Some("Enter a date and time, e.g. 2026-12-01 09:00."))
                .ok()
        });
        let until = form_time(&self.until).and_then(|time| {
            time.map_err(|()| errors.until = Some("Enter a date and time, e.g. 2026-12-01 18:00."))
                .ok()
        });
        let query = AuditLogQuery {
            action: AuditAction::parse(&self.action),
            resource_kind: ResourceType::parse(&self.resource),
            resource_id: Some(self.resource_id.trim().to_owned()).filter(|id| !id.is_empty()),
            actor_kind,
            actor_id,
            since,
            until,
            offset: self.offset,
            limit: Some(PAGE_SIZE),
        };
        (query, errors)
    }

    fn is_filtered(&self) -> bool {
        [
            &self.action,
            &self.actor,
            &self.resource,
            &self.resource_id,
            &self.since,
            &self.until,
        ]
        .iter()
        .any(|value| !value.trim().is_empty())
    }

    /// This view's URL at another offset.
    fn at_offset(&self, offset: u64) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("action", &self.action),
            ("actor", &self.actor),
            ("resource", &self.resource),
            ("resource_id", &self.resource_id),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if !value.trim().is_empty() {
                query.append_pair(name, value);
            }
        }
        if offset > 0 {
            query.append_pair("offset", &offset.to_string());
        }
        let query = query.finish();
        if query.is_empty() {
            LIST_PATH.to_owned()
        } else {
            format!("{LIST_PATH}?{query}")
        }
    }
}

/// The names people know actors by: users' emails and API keys' names.
struct ActorNames {
    users: HashMap<String, String>,
    keys: HashMap<String, String>,
}

impl ActorNames {
    async fn load(state: &AppState, session: &UiSession, entries: &[AuditLogView]) -> ActorNames {
        let principal = session.principal();
        let users = match state.services.users.list(&principal.tenant_id).await {
            Ok(users) => users
                .into_iter()
                .map(|user| (user.id.to_string(), user.email))
                .collect(),
            Err(error) => {
                tracing::warn!(error = %error, "cannot name the users of the audit log");
                HashMap::new()
            }
        };
        let mut keys = HashMap::new();
        if let Ok(listed) = state.services.api_keys.list(principal, 0, 100).await {
            keys.extend(listed.api_keys.into_iter().map(|key| (key.id, key.name)));
        }
        // Keys beyond the first hundred, one by one, only for those this page shows.
        for entry in entries {
            if entry.actor.kind == ActorKind::ApiKey
                && let Some(id) = &entry.actor.id
                && !keys.contains_key(id)
                && let Ok(key) = state.services.api_keys.get(principal, id).await
            {
                keys.insert(key.id, key.name);
            }
        }
        ActorNames { users, keys }
    }

    fn actor(&self, entry: &AuditLogView) -> Markup {
        let id = entry.actor.id.as_deref().unwrap_or_default();
        html! {
            @match entry.actor.kind {
                ActorKind::User => {
                    div { (self.users.get(id).map_or("A deleted user", String::as_str)) }
                    div.secondary-text { "User" }
                }
                ActorKind::ApiKey => {
                    div { (self.keys.get(id).map_or("A deleted API key", String::as_str)) }
                    div.secondary-text { "API key" }
                }
                ActorKind::System => { div { "labgate" } div.secondary-text { "Automatic" } }
                ActorKind::Cli => { div { "Operator" } div.secondary-text { "Command line" } }
            }
        }
    }
}

fn action_tone(action: AuditAction) -> Tone {
    let name = action.as_str();
    if name.ends_with(".delete")
        || name.ends_with(".revoke")
        || name.ends_with("failed")
        || name.ends_with("refused")
    {
        Tone::Danger
    } else if name.ends_with(".create") || name.ends_with(".oauth-connect") || name.ends_with(".rotated") {
        Tone::Success
    } else if name.ends_with("needs-attention") || name.ends_with("needs-reauth") {
        Tone::Warning
    } else {
        Tone::Neutral
    }
}

fn resource_label(kind: ResourceType) -> &'static str {
    match kind {
        ResourceType::ApiKey => "API key",
        ResourceType::AppConnection => "Connection",
        ResourceType::Webhook => "Webhook",
        ResourceType::GitLabInstance => "GitLab instance",
        ResourceType::Tenant => "Tenant",
        ResourceType::User => "User",
        ResourceType::SecretProject => "Secrets project",
        ResourceType::Secret => "Secret",
        ResourceType::SecretSync => "Secret sync",
        ResourceType::ScanDataSource => "Scanning data source",
        ResourceType::Finding => "Finding",
        ResourceType::AccessSource => "Access source",
    }
}

/// A short, readable name for the resource from the entry's details, when they carry one.
fn resource_name(entry: &AuditLogView) -> Option<String> {
    let details = entry.details.as_ref()?;
    let name = ["name", "url", "email", "secretKey"]
        .iter()
        .find_map(|key| details.get(key).and_then(|value| value.as_str()))?;
    // Instances by host and path, as the instances page names them.
    let name = name
        .strip_prefix("https://")
        .or_else(|| name.strip_prefix("http://"))
        .unwrap_or(name);
    Some(name.to_owned())
}

fn resource_cell(names: &ActorNames, entry: &AuditLogView) -> Markup {
    let id = entry.resource_id.as_deref();
    let name = resource_name(entry).or_else(|| match (entry.resource_kind, id) {
        (ResourceType::ApiKey, Some(id)) => names.keys.get(id).cloned(),
        (ResourceType::User, Some(id)) => names.users.get(id).cloned(),
        _ => None,
    });
    let shown = name.clone().or_else(|| id.map(short_id)).unwrap_or_default();
    html! {
        div.secondary-text { (resource_label(entry.resource_kind)) }
        @match (entry.resource_kind, id) {
            (ResourceType::AppConnection, Some(id)) => a href={ (CONNECTION_PATH) "/" (id) } title=(id) { (shown) },
            (_, Some(id)) => span title=(id) { (shown) },
            (_, None) => span.muted { "—" },
        }
    }
}

fn short_id(id: &str) -> String {
    match id.get(..8) {
        Some(start) if id.len() > 12 => format!("{start}…"),
        _ => id.to_owned(),
    }
}

fn row(now: OffsetDateTime, names: &ActorNames, entry: &AuditLogView) -> Markup {
    html! {
        tr {
            td.nowrap { (relative_time_text(now, &entry.created_at)) }
            td { (names.actor(entry)) }
            td {
                (badge(action_tone(entry.action), entry.action.as_str()))
                @if entry.occurrences > 1 {
                    div.secondary-text { "× " (entry.occurrences) " within a minute" }
                }
            }
            td.resource-cell { (resource_cell(names, entry)) }
            td { @match &entry.source_ip { Some(ip) => span.mono { (ip) }, None => span.muted { "—" } } }
            td.details-cell {
                @match &entry.details {
                    Some(details) if !details.is_null() => details.details {
                        summary { "Details" }
                        (details_list(details))
                    },
                    _ => span.muted { "—" },
                }
            }
        }
    }
}

/// An entry's details as `field: value` lines (they are a flat object); anything else as JSON.
fn details_list(details: &serde_json::Value) -> Markup {
    let shown = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    html! {
        @match details.as_object() {
            Some(fields) => dl.kv {
                @for (name, value) in fields {
                    dt { (name) }
                    dd { (shown(value)) }
                }
            },
            None => pre.mono { (serde_json::to_string_pretty(details).unwrap_or_default()) },
        }
    }
}

fn filter_form(filters: &Filters, errors: &FilterErrors, names: &ActorNames) -> Markup {
    let mut users: Vec<(&String, &String)> = names.users.iter().collect();
    users.sort_by(|a, b| a.1.cmp(b.1));
    let mut keys: Vec<(&String, &String)> = names.keys.iter().collect();
    keys.sort_by(|a, b| a.1.cmp(b.1));
    html! {
        form.filters method="get" action=(LIST_PATH) aria-label="Filter the audit log" {
            div.field.inline {
                label for="filter-action" { "Action" }
                select id="filter-action" name="action" {
                    option value="" { "Any action" }
                    @for action in AuditAction::ALL {
                        option value=(action.as_str()) selected[filters.action == action.as_str()] { (action.as_str()) }
                    }
                }
            }
            div.field.inline {
                label for="filter-actor" { "Actor" }
                select id="filter-actor" name="actor" {
                    option value="" { "Anyone" }
                    @for (id, email) in users {
                        @let value = format!("user:{id}");
                        option value=(value) selected[filters.actor == value] { (email) }
                    }
                    @for (id, name) in keys {
                        @let value = format!("api-key:{id}");
                        option value=(value) selected[filters.actor == value] { "API key " (name) }
                    }
                    option value="system" selected[filters.actor == "system"] { "labgate (automatic)" }
                    option value="cli" selected[filters.actor == "cli"] { "Operator (command line)" }
                }
            }
            div.field.inline {
                label for="filter-resource" { "Resource" }
                select id="filter-resource" name="resource" {
                    option value="" { "Any resource" }
                    @for kind in ResourceType::ALL {
                        option value=(kind.as_str()) selected[filters.resource == kind.as_str()] { (resource_label(*kind)) }
                    }
                }
            }
            div.field.inline {
                label for="filter-resource-id" { "Resource id" }
                input id="filter-resource-id" name="resource_id" type="text" value=(filters.resource_id) placeholder="Any";
            }
            div.field.inline.has-error[errors.since.is_some()] {
                label for="filter-since" { "From (UTC)" }
                input id="filter-since" name="since" type="datetime-local" value=(filters.since)
                    aria-invalid=[errors.since.map(|_| "true")] aria-describedby=[errors.since.map(|_| "filter-since-error")];
                (field_error("filter-since-error", errors.since))
            }
            div.field.inline.has-error[errors.until.is_some()] {
                label for="filter-until" { "To (UTC)" }
                input id="filter-until" name="until" type="datetime-local" value=(filters.until)
                    aria-invalid=[errors.until.map(|_| "true")] aria-describedby=[errors.until.map(|_| "filter-until-error")];
                (field_error("filter-until-error", errors.until))
            }
            div.filter-actions {
                button type="submit" class="button primary small" { "Filter" }
                @if filters.is_filtered() { a.button.secondary.small href=(LIST_PATH) { "Clear" } }
            }
        }
    }
}

/// `GET /organization/audit-logs`.
pub async fn list(State(state): State<AppState>, session: UiSession, uri: Uri) -> Response {
    let title = Nav::AuditLogs.label();
    if !role_allows(session.principal().role, Access::Admin) {
        return forbidden(&session, Nav::AuditLogs, title, ADMIN_ONLY);
    }
    // Parameters that are not ones show the whole log rather than an error.
    let filters = Query::<Filters>::try_from_uri(&uri)
        .map(|query| query.0)
        .unwrap_or_default();
    let (query, errors) = filters.query();
    let listed = if errors.any() {
        Ok(None)
    } else {
        state
            .services
            .audit
            .list(session.principal(), &query, PAGE_SIZE)
            .await
            .map(Some)
    };
    let listed = match listed {
        Ok(listed) => listed,
        Err(CoreError::Validation { .. }) => None,
        Err(error) => return core_error(&session, Nav::AuditLogs, title, "Audit log", &error),
    };
    let entries = listed
        .as_ref()
        .map(|list| list.audit_logs.as_slice())
        .unwrap_or_default();
    let names = ActorNames::load(&state, &session, entries).await;
    let now = state.services.clock.now();
    let offset = filters.offset.unwrap_or(0);
    let description = "Who did what in this tenant, from where: API keys, people, and labgate itself.";
    let content = html! {
        (page_header(title, Some(description), html! {}))
        (filter_form(&filters, &errors, &names))
        @match &listed {
            None => div.flash.error role="alert" { "Fix the highlighted filters to see the log." },
            Some(list) if list.audit_logs.is_empty() => {
                @if filters.is_filtered() || offset > 0 {
                    (empty_state(
                        "No entries match these filters",
                        "Widen the time range or clear a filter to see more of the log.",
                        link_button(ButtonKind::Secondary, "Clear filters", LIST_PATH),
                    ))
                } @else {
                    (empty_state(
                        "Nothing logged yet",
                        "Entries appear here as people and programs create keys, connect GitLab or read credentials.",
                        html! {},
                    ))
                }
            }
            Some(list) => {
                (table(
                    "Audit log entries, newest first",
                    &["Time", "Actor", "Action", "Resource", "Source IP", "Details"],
                    html! { @for entry in &list.audit_logs { (row(now, &names, entry)) } },
                ))
                @let shown_to = offset + list.audit_logs.len() as u64;
                nav.pager aria-label="Pages" {
                    @if offset > 0 {
                        a.button.secondary.small href=(filters.at_offset(offset.saturating_sub(u64::from(PAGE_SIZE)))) rel="prev" { "Newer" }
                    }
                    @if offset == 0 && shown_to >= list.total_count {
                        span.muted { (list.total_count) " entr" @if list.total_count == 1 { "y" } @else { "ies" } }
                    } @else {
                        span.muted { "Entries " (offset + 1) "–" (shown_to) " of " (list.total_count) }
                    }
                    @if shown_to < list.total_count {
                        a.button.secondary.small href=(filters.at_offset(shown_to)) rel="next" { "Older" }
                    }
                }
            }
        }
    };
    let status = if listed.is_none() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    if status == StatusCode::OK {
        page(&session, Nav::AuditLogs, title, content)
    } else {
        page_with_status(status, &session, Nav::AuditLogs, title, content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_the_api_query() {
        let filters = Filters {
            action: "api-key.revoke".into(),
            actor: "user:abc".into(),
            resource: "nonsense".into(),
            since: "2026-12-01T09:30".into(),
            until: "yesterday".into(),
            ..Filters::default()
        };
        let (query, errors) = filters.query();
        assert_eq!(query.action, Some(AuditAction::ApiKeyRevoke));
        assert_eq!(query.actor_kind, Some(ActorKind::User));
        assert_eq!(query.actor_id.as_deref(), Some("abc"));
        assert_eq!(query.resource_kind, None);
        assert_eq!(query.since.as_deref(), Some("2026-12-01T09:30:00Z"));
        assert!(errors.until.is_some() && errors.since.is_none());
        assert_eq!(
            filters.at_offset(50),
            "/organization/audit-logs?action=api-key.revoke&actor=user%3Aabc&resource=nonsense&since=2026-12-01T09%3A30&until=yesterday&offset=50"
        );
    }
}
