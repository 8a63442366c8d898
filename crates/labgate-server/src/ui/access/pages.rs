//! One source's pages — accounts, resources (the group tree), grants, syncs — and a sync's
//! changes. Filters are GET parameters, so a filtered view can be bookmarked and works without
//! the script; exports take the same filters.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::Response;
use labgate_core::access::hooks::Delivery;
use labgate_core::access::model::{GitLabGroupId, Group, Project};
use labgate_core::access::reports::{GrantFilter, RunStatus, SourceSummary, path_words};
use labgate_proto::access_reports::{
    AccessAccountKind, AccessAccountState, AccessAccountView, AccessExportFormat, AccessGrantPathKind,
    AccessGrantView, AccessResourceKind,
};
use maud::{Markup, html};
use serde::Deserialize;
use time::OffsetDateTime;

use super::{LIST_PATH, diff_path, refused, run_badge, run_time, scope_words, source_path};
use crate::api::access_reports::attachment;
use crate::state::AppState;
use crate::ui::components::{
    ButtonKind, Tone, badge, button, empty_state, relative_time, relative_time_text, table,
};
use crate::ui::flash::{FlashKind, redirect_with_flash};
use crate::ui::layout::{Nav, page};
use crate::ui::secrets::can_write;
use crate::ui::{CsrfForm, UiSession, csrf_field};
use labgate_core::CoreError;

const PAGE_SIZE: u32 = 25;
/// Syncs listed on a source's syncs tab.
const SYNCS_SHOWN: usize = 25;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Accounts,
    Resources,
    Grants,
    Syncs,
}

impl Tab {
    const ALL: [Tab; 4] = [Tab::Accounts, Tab::Resources, Tab::Grants, Tab::Syncs];

    fn label(self) -> &'static str {
        match self {
            Tab::Accounts => "Accounts",
            Tab::Resources => "Groups & projects",
            Tab::Grants => "Grants",
            Tab::Syncs => "Syncs",
        }
    }

    fn segment(self) -> &'static str {
        match self {
            Tab::Accounts => "accounts",
            Tab::Resources => "resources",
            Tab::Grants => "grants",
            Tab::Syncs => "syncs",
        }
    }
}

fn tab_path(source: &str, tab: Tab) -> String {
    format!("{}/{}", source_path(source), tab.segment())
}

/// The filters a page takes; each empty one is no filter.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    search: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    resource: String,
    #[serde(default)]
    offset: Option<u64>,
    #[serde(default)]
    format: String,
}

fn given(value: &str) -> Option<&str> {
    Some(value.trim()).filter(|value| !value.is_empty())
}

impl Filters {
    fn of(uri: &Uri) -> Filters {
        // Parameters that are not ones show the first page unfiltered rather than an error.
        Query::<Filters>::try_from_uri(uri)
            .map(|query| query.0)
            .unwrap_or_default()
    }

    fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("search", self.search.as_str()),
            ("account", self.account.as_str()),
            ("resource", self.resource.as_str()),
        ]
        .into_iter()
        .filter_map(|(name, value)| given(value).map(|value| (name, value)))
        .collect()
    }

    fn is_filtered(&self) -> bool {
        !self.pairs().is_empty()
    }

    /// `base` with these filters, at `offset`, and `extra` pairs.
    fn url(&self, base: &str, offset: u64, extra: &[(&str, &str)]) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in extra.iter().copied().chain(self.pairs()) {
            query.append_pair(name, value);
        }
        if offset > 0 {
            query.append_pair("offset", &offset.to_string());
        }
        let query = query.finish();
        if query.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{query}")
        }
    }

    fn grant_filter(&self) -> GrantFilter {
        GrantFilter {
            account: given(&self.account).map(str::to_owned),
            resource: given(&self.resource).map(str::to_owned),
        }
    }
}

/// The frame of a source's pages: the trail, the title with the newest sync, the tabs, and a
/// warning when the newest sync failed (the pages then show an older one).
fn source_frame(
    session: &UiSession,
    now: OffsetDateTime,
    source: &SourceSummary,
    active: Tab,
    actions: Markup,
    body: Markup,
) -> Markup {
    let id = source.id.as_str();
    html! {
        nav.breadcrumbs aria-label="Breadcrumb" {
            a href=(LIST_PATH) { "Access" } span aria-hidden="true" { " / " } span.wrap aria-current="page" { (source.name) }
        }
        header.page-header.detail-header {
            div {
                h1.wrap { (source.name) }
                div.header-badges {
                    (run_badge(source.last_run.as_ref().map(|run| run.status)))
                    span.muted.small {
                        (scope_words(&source.scope)) " · "
                        @match &source.last_success {
                            Some(run) => { "showing the sync of " (run_time(now, run)) }
                            None => "no successful sync yet",
                        }
                    }
                }
                @match &source.delivery {
                    Delivery::Hooks => p.muted.small.header-note data-updates="hooks" {
                        "Changes arrive from GitLab's webhooks and are re-read as they happen; full syncs run on a schedule."
                    },
                    Delivery::Sweeps { reason } => p.muted.small.header-note data-updates="sweeps" {
                        "Changes are seen at the scheduled full syncs only: " (sentence(reason))
                    },
                }
            }
            div.actions { (actions) (sync_button(session, id)) }
        }
        @if let Some(run) = source.last_run.as_ref().filter(|run| run.status == RunStatus::Failed) {
            div.callout.warning role="status" data-failed-sync=(run.id.as_str()) {
                strong { "The newest sync failed " (run_time(now, run)) ". " }
                (sentence(run.error.as_deref().unwrap_or("It gave no reason")))
                @if source.last_success.is_some() { " These pages show the last sync that succeeded." }
            }
        }
        nav.tabs aria-label="Access source" {
            @for tab in Tab::ALL {
                a href=(tab_path(id, tab)) aria-current=[(tab == active).then_some("page")] { (tab.label()) }
            }
        }
        (body)
    }
}

/// `text` ending with a full stop, as a sentence in the page.
fn sentence(text: &str) -> String {
    let text = text.trim();
    if text.ends_with(['.', '!', '?']) {
        text.to_owned()
    } else {
        format!("{text}.")
    }
}

/// The end of a sync's id: a UUIDv7 starts with its time, so syncs made close together share
/// their first characters but not their last.
fn short_id(id: &str) -> &str {
    id.get(id.len().saturating_sub(8)..).unwrap_or(id)
}

fn not_synced(source: &SourceSummary) -> Markup {
    let text = match source.last_run.as_ref().map(|run| run.status) {
        Some(RunStatus::Queued | RunStatus::Syncing) => {
            "The first sync is under way. Accounts, groups, projects and grants appear here when it succeeds."
        }
        Some(RunStatus::Failed) => {
            "No sync of this source has succeeded yet. Fix what the newest sync reported and sync again."
        }
        _ => {
            "This source has not been synced yet. Accounts, groups, projects and grants appear here after its first successful sync."
        }
    };
    empty_state("Nothing synced yet", text, html! {})
}

fn pager(filters: &Filters, base: &str, offset: u64, shown: usize, total: u64, noun: &str) -> Markup {
    let shown_to = offset + shown as u64;
    html! {
        nav.pager aria-label="Pages" {
            @if offset > 0 {
                a.button.secondary.small href=(filters.url(base, offset.saturating_sub(u64::from(PAGE_SIZE)), &[])) rel="prev" { "Previous" }
            }
            @if offset == 0 && shown_to >= total {
                span.muted data-total=(total) { (total) " " (noun) @if total != 1 { "s" } }
            } @else {
                span.muted data-total=(total) { (noun) "s " (offset + 1) "–" (shown_to) " of " (total) }
            }
            @if shown_to < total {
                a.button.secondary.small href=(filters.url(base, shown_to, &[])) rel="next" { "Next" }
            }
        }
    }
}

fn export_links(filters: &Filters, base: &str) -> Markup {
    let csv = filters.url(base, 0, &[("format", AccessExportFormat::Csv.as_str())]);
    let json = filters.url(base, 0, &[("format", AccessExportFormat::Json.as_str())]);
    html! {
        div.export-links {
            span.muted.small { "Export" }
            a.button.secondary.small href=(csv) download { "CSV" }
            a.button.secondary.small href=(json) download { "JSON" }
        }
    }
}

fn text_filter(id: &str, name: &str, label: &str, value: &str, placeholder: &str) -> Markup {
    html! {
        div.field.inline.filter-search {
            label for=(id) { (label) }
            input id=(id) name=(name) type="search" value=(value) placeholder=(placeholder) maxlength="255";
        }
    }
}

fn kind_badge(kind: AccessAccountKind) -> Markup {
    match kind {
        AccessAccountKind::Human => badge(Tone::Neutral, "Human"),
        AccessAccountKind::Bot => badge(Tone::Info, "Bot"),
        AccessAccountKind::ServiceAccount => badge(Tone::Info, "Service account"),
    }
}

fn state_badge(state: AccessAccountState) -> Markup {
    let (tone, text) = match state {
        AccessAccountState::Active => (Tone::Success, "Active"),
        AccessAccountState::Blocked => (Tone::Danger, "Blocked"),
        AccessAccountState::LdapBlocked => (Tone::Danger, "Blocked by LDAP"),
        AccessAccountState::BlockedPendingApproval => (Tone::Warning, "Pending approval"),
        AccessAccountState::Deactivated => (Tone::Neutral, "Deactivated"),
        AccessAccountState::Banned => (Tone::Danger, "Banned"),
        AccessAccountState::PendingInvite => (Tone::Warning, "Invited"),
    };
    badge(tone, text)
}

async fn load_source(state: &AppState, session: &UiSession, id: &str) -> Result<SourceSummary, Response> {
    state
        .services
        .access_reports
        .source(session.principal(), id)
        .await
        .map_err(|error| refused(session, &error))
}

fn account_row(now: OffsetDateTime, source: &str, account: &AccessAccountView) -> Markup {
    let grants = Filters {
        account: account.username.clone(),
        ..Filters::default()
    }
    .url(&tab_path(source, Tab::Grants), 0, &[]);
    html! {
        tr data-account=(account.username) {
            td.account-cell {
                div.primary-text { (account.username) }
                div.secondary-text { (account.name) }
            }
            td {
                div.badge-stack {
                    (kind_badge(account.kind))
                    (state_badge(account.state))
                }
            }
            td {
                @match account.is_admin {
                    Some(true) => (badge(Tone::Warning, "Administrator")),
                    Some(false) => span.muted { "No" },
                    None => span.muted title="The sync's token could not see it" { "Unknown" },
                }
            }
            td.email-cell {
                @match &account.email { Some(email) => (email), None => span.muted { "—" } }
                @if !account.identities.is_empty() {
                    ul.chips.identity-chips {
                        @for identity in &account.identities {
                            li.chip title=(identity.extern_uid) { (identity.provider) }
                        }
                    }
                }
            }
            td {
                @match &account.last_sign_in_at {
                    Some(at) => (relative_time_text(now, at)),
                    None => span.muted { "Never" },
                }
            }
            td.row-actions { a.button.secondary.small href=(grants) aria-label={ "Grants of " (account.username) } { "Grants" } }
        }
    }
}

/// `GET /access/sources/{id}/accounts`.
pub async fn accounts(
    State(state): State<AppState>,
    session: UiSession,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let source = match load_source(&state, &session, &id).await {
        Ok(source) => source,
        Err(response) => return response,
    };
    let filters = Filters::of(&uri);
    let offset = filters.offset.unwrap_or(0);
    let reports = &state.services.access_reports;
    let list = match reports
        .accounts(
            session.principal(),
            Some(&id),
            given(&filters.search),
            offset,
            PAGE_SIZE,
        )
        .await
    {
        Ok(list) => list,
        Err(error) => return refused(&session, &error),
    };
    let now = reports.now();
    let base = tab_path(&id, Tab::Accounts);
    let body = html! {
        @if list.last_sync.is_none() {
            (not_synced(&source))
        } @else {
            form.filters method="get" action=(base) aria-label="Search the accounts" {
                (text_filter("filter-search", "search", "Search", &filters.search, "Username, name or e-mail"))
                div.filter-actions {
                    button type="submit" class="button primary small" { "Search" }
                    @if filters.is_filtered() { a.button.secondary.small href=(base) { "Clear" } }
                }
            }
            @if list.accounts.is_empty() {
                (empty_state("No accounts match", "Try another part of a username, name or e-mail.", html! { a.button.secondary href=(base) { "Clear the search" } }))
            } @else {
                (table("Accounts", &["Account", "Kind and state", "Admin", "E-mail and identities", "Last sign-in", ""],
                    html! { @for account in &list.accounts { (account_row(now, &id, account)) } }))
                (pager(&filters, &base, offset, list.accounts.len(), list.total_count, "account"))
            }
        }
    };
    let actions = if list.last_sync.is_some() {
        export_links(&filters, &format!("{base}/export"))
    } else {
        html! {}
    };
    page(
        &session,
        Nav::Access,
        &format!("Accounts · {}", source.name),
        source_frame(&session, now, &source, Tab::Accounts, actions, body),
    )
}

fn visibility_badge(visibility: labgate_core::access::model::Visibility) -> Markup {
    use labgate_core::access::model::Visibility;
    match visibility {
        Visibility::Private => badge(Tone::Neutral, "Private"),
        Visibility::Internal => badge(Tone::Info, "Internal"),
        Visibility::Public => badge(Tone::Warning, "Public"),
    }
}

struct Tree<'a> {
    source: &'a str,
    children: HashMap<Option<GitLabGroupId>, Vec<&'a Group>>,
    projects: HashMap<Option<GitLabGroupId>, Vec<&'a Project>>,
}

impl Tree<'_> {
    fn grants_link(&self, full_path: &str, label: &str) -> Markup {
        let href = Filters {
            resource: full_path.to_owned(),
            ..Filters::default()
        }
        .url(&tab_path(self.source, Tab::Grants), 0, &[]);
        html! { a.small href=(href) aria-label={ "Grants on " (full_path) } { (label) } }
    }

    fn projects(&self, parent: Option<GitLabGroupId>) -> Markup {
        html! {
            @for project in self.projects.get(&parent).into_iter().flatten() {
                li.tree-item.tree-project data-resource=(project.full_path) {
                    div.tree-row {
                        span.tree-icon aria-hidden="true" { "▢" }
                        span.tree-name { (project.name) }
                        span.mono.muted.tree-path { (project.full_path) }
                        (visibility_badge(project.visibility))
                        (self.grants_link(&project.full_path, "Grants"))
                    }
                }
            }
        }
    }

    fn level(&self, parent: Option<GitLabGroupId>) -> Markup {
        html! {
            @for group in self.children.get(&parent).into_iter().flatten() {
                li.tree-item.tree-group data-resource=(group.full_path) {
                    details open {
                        summary.tree-row {
                            span.tree-icon aria-hidden="true" { "▸" }
                            span.tree-name.primary-text { (group.name) }
                            span.mono.muted.tree-path { (group.full_path) }
                            (visibility_badge(group.visibility))
                            (self.grants_link(&group.full_path, "Grants"))
                        }
                        @let nested = self.children.contains_key(&Some(group.id)) || self.projects.contains_key(&Some(group.id));
                        @if nested {
                            ul.tree { (self.level(Some(group.id))) (self.projects(Some(group.id))) }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /access/sources/{id}/resources`: the groups as a tree, each with its projects.
pub async fn resources(
    State(state): State<AppState>,
    session: UiSession,
    Path(id): Path<String>,
) -> Response {
    let source = match load_source(&state, &session, &id).await {
        Ok(source) => source,
        Err(response) => return response,
    };
    let reports = &state.services.access_reports;
    let tree = match reports.resource_tree(session.principal(), &id).await {
        Ok(tree) => tree,
        Err(error) => return refused(&session, &error),
    };
    let now = reports.now();
    let known: std::collections::HashSet<GitLabGroupId> = tree.groups.iter().map(|group| group.id).collect();
    // A parent outside the synced scope makes a group a root of what is shown.
    let mut children: HashMap<Option<GitLabGroupId>, Vec<&Group>> = HashMap::new();
    for group in &tree.groups {
        children
            .entry(group.parent.filter(|parent| known.contains(parent)))
            .or_default()
            .push(group);
    }
    let mut projects: HashMap<Option<GitLabGroupId>, Vec<&Project>> = HashMap::new();
    for project in &tree.projects {
        projects
            .entry(project.group.filter(|group| known.contains(group)))
            .or_default()
            .push(project);
    }
    let view = Tree {
        source: &id,
        children,
        projects,
    };
    let body = html! {
        @if tree.last_sync.is_none() {
            (not_synced(&source))
        } @else {
            p.muted.small.tree-summary {
                (tree.groups.len()) " group" @if tree.groups.len() != 1 { "s" } " and "
                (tree.projects.len()) " project" @if tree.projects.len() != 1 { "s" }
                ". Open a group's grants to see who reaches it, directly, through a parent group or through a share."
            }
            div.card.tree-card {
                ul.tree.tree-root aria-label="Groups and projects" {
                    (view.level(None))
                    (view.projects(None))
                }
            }
        }
    };
    page(
        &session,
        Nav::Access,
        &format!("Groups & projects · {}", source.name),
        source_frame(&session, now, &source, Tab::Resources, html! {}, body),
    )
}

fn level_cell(grant: &AccessGrantView) -> Markup {
    let level = &grant.access_level;
    let tone = match level.value {
        50 => Tone::Danger,
        40 => Tone::Warning,
        30 => Tone::Info,
        _ => Tone::Neutral,
    };
    html! {
        span data-level=(level.value) { (badge(tone, &level.name)) }
        @if let Some(role) = &level.custom_role {
            div.secondary-text { "Custom role: " strong { (role.name) } }
        }
    }
}

fn path_cell(grant: &AccessGrantView) -> Markup {
    let tone = match grant.path.kind {
        AccessGrantPathKind::Direct => Tone::Success,
        AccessGrantPathKind::Inherited => Tone::Neutral,
        AccessGrantPathKind::Shared => Tone::Info,
    };
    let words = path_words(grant);
    html! {
        span.grant-path data-path=(grant.path.kind.as_str()) {
            (badge(tone, grant.path.kind.as_str()))
            @if grant.path.kind != AccessGrantPathKind::Direct {
                span.secondary-text.path-words { (words) }
            }
        }
    }
}

fn resource_label(grant: &AccessGrantView) -> (&'static str, String) {
    let kind = match grant.resource.kind {
        AccessResourceKind::Group => "Group",
        AccessResourceKind::Project => "Project",
    };
    let path = grant
        .resource
        .full_path
        .clone()
        .unwrap_or_else(|| format!("#{}", grant.resource.id));
    (kind, path)
}

fn grant_row(grant: &AccessGrantView) -> Markup {
    let username = grant
        .account
        .username
        .clone()
        .unwrap_or_else(|| format!("user #{}", grant.account.id));
    let (kind, path) = resource_label(grant);
    html! {
        tr data-grant={ (username) " " (path) } {
            td.primary-text.wrap { (username) }
            td.resource-cell-path { span.secondary-text { (kind) } " " span.mono { (path) } }
            td { (level_cell(grant)) }
            td { (path_cell(grant)) }
            td.nowrap { @match &grant.expires_at { Some(date) => (date), None => span.muted { "Never" } } }
        }
    }
}

/// `GET /access/sources/{id}/grants`.
pub async fn grants(
    State(state): State<AppState>,
    session: UiSession,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let source = match load_source(&state, &session, &id).await {
        Ok(source) => source,
        Err(response) => return response,
    };
    let filters = Filters::of(&uri);
    let offset = filters.offset.unwrap_or(0);
    let reports = &state.services.access_reports;
    let list = match reports
        .grants(
            session.principal(),
            Some(&id),
            &filters.grant_filter(),
            offset,
            PAGE_SIZE,
        )
        .await
    {
        Ok(list) => list,
        Err(error) => return refused(&session, &error),
    };
    let now = reports.now();
    let base = tab_path(&id, Tab::Grants);
    let body = html! {
        @if list.last_sync.is_none() {
            (not_synced(&source))
        } @else {
            form.filters method="get" action=(base) aria-label="Filter the grants" {
                (text_filter("filter-account", "account", "Account", &filters.account, "A username"))
                (text_filter("filter-resource", "resource", "Group or project", &filters.resource, "A full path, e.g. acme/platform"))
                div.filter-actions {
                    button type="submit" class="button primary small" { "Filter" }
                    @if filters.is_filtered() { a.button.secondary.small href=(base) { "Clear" } }
                }
            }
            @if list.grants.is_empty() {
                (empty_state("No grants match", "No account reaches that group or project, or the name is not one the sync saw. Usernames and full paths must match whole.", html! { a.button.secondary href=(base) { "Clear filters" } }))
            } @else {
                (table("Effective grants", &["Account", "Group or project", "Access level", "Path", "Expires"],
                    html! { @for grant in &list.grants { (grant_row(grant)) } }))
                (pager(&filters, &base, offset, list.grants.len(), list.total_count, "grant"))
            }
        }
    };
    let actions = if list.last_sync.is_some() {
        export_links(&filters, &format!("{base}/export"))
    } else {
        html! {}
    };
    page(
        &session,
        Nav::Access,
        &format!("Grants · {}", source.name),
        source_frame(&session, now, &source, Tab::Grants, actions, body),
    )
}

/// `GET /access/sources/{id}/syncs`.
pub async fn syncs(State(state): State<AppState>, session: UiSession, Path(id): Path<String>) -> Response {
    let source = match load_source(&state, &session, &id).await {
        Ok(source) => source,
        Err(response) => return response,
    };
    let reports = &state.services.access_reports;
    let runs = match reports.runs(session.principal(), &id, SYNCS_SHOWN).await {
        Ok(runs) => runs,
        Err(error) => return refused(&session, &error),
    };
    let now = reports.now();
    let body = html! {
        @if runs.is_empty() {
            (not_synced(&source))
        } @else {
            (table("Syncs, newest first", &["Sync", "Status", "Progress", "Requests", "Finished", ""], html! {
                @for run in &runs {
                    tr data-sync-id=(run.id.as_str()) {
                        td { span.mono { (short_id(run.id.as_str())) } div.secondary-text { "Asked " (relative_time(now, run.created_at)) } }
                        td {
                            (run_badge(Some(run.status)))
                            @if let Some(error) = &run.error { div.secondary-text.clamp.error-text { (error) } }
                        }
                        td.secondary-text {
                            (run.phase.as_deref().unwrap_or("—"))
                            @if let Some(total) = run.total { " · " (run.done) " of " (total) }
                        }
                        td.numeric { (run.request_count) }
                        td { @match run.finished_at { Some(at) => (relative_time(now, at)), None => span.muted { "Not yet" } } }
                        td.row-actions {
                            @if run.status == RunStatus::Succeeded {
                                a.button.secondary.small href=(diff_path(run.id.as_str())) { "Changes" }
                            }
                        }
                    }
                }
            }))
        }
    };
    page(
        &session,
        Nav::Access,
        &format!("Syncs · {}", source.name),
        source_frame(&session, now, &source, Tab::Syncs, html! {}, body),
    )
}

fn stat(label: &str, count: u64, tone: Tone, anchor: &str) -> Markup {
    html! {
        a.card.stat-card href={ "#" (anchor) } data-stat=(anchor) {
            span.stat-count { (count) }
            (badge(tone, label))
        }
    }
}

fn grants_table(caption: &str, grants: &[AccessGrantView]) -> Markup {
    table(
        caption,
        &["Account", "Group or project", "Access level", "Path", "Expires"],
        html! { @for grant in grants { (grant_row(grant)) } },
    )
}

/// Says how much of a diff's list the page shows when it is not all of it.
fn shown_of(shown: usize, total: u64) -> Markup {
    html! {
        @if (shown as u64) < total {
            p.muted.small data-shown-of=(total) {
                "The first " (shown) " of " (total) ", by account. The grants listing and its CSV export have them all."
            }
        }
    }
}

/// `GET /access/syncs/{id}/diff`: what the sync changed since the previous successful one, the
/// new administrators and owners first.
pub async fn diff(State(state): State<AppState>, session: UiSession, Path(id): Path<String>) -> Response {
    let reports = &state.services.access_reports;
    let diff = match reports.diff(session.principal(), &id, None).await {
        Ok(diff) => diff,
        Err(error) => return refused(&session, &error),
    };
    let source = match load_source(&state, &session, &diff.source_id).await {
        Ok(source) => source,
        Err(response) => return response,
    };
    let now = reports.now();
    let when = |finished: Option<&str>| -> Markup {
        match finished {
            Some(at) => relative_time_text(now, at),
            None => html! { "an unknown time" },
        }
    };
    let short = short_id(&diff.sync.id).to_owned();
    let nothing = diff.added.is_empty()
        && diff.removed.is_empty()
        && diff.changed.is_empty()
        && diff.new_admins.is_empty();
    let content = html! {
        nav.breadcrumbs aria-label="Breadcrumb" {
            a href=(LIST_PATH) { "Access" } span aria-hidden="true" { " / " }
            a href=(tab_path(source.id.as_str(), Tab::Syncs)) { (source.name) } span aria-hidden="true" { " / " }
            span aria-current="page" { "Sync " (short) }
        }
        header.page-header {
            div {
                h1 { "Changes in sync " span.mono { (short) } }
                p.muted {
                    "Sync of " (when(diff.sync.finished_at.as_deref()))
                    @match &diff.base {
                        Some(base) => { ", compared with the sync of " (when(base.finished_at.as_deref())) " (" a href=(diff_path(&base.id)) { span.mono { (short_id(&base.id)) } } ")." }
                        None => { ": the first successful sync of " (source.name) ", so everything it saw is new." }
                    }
                }
            }
        }
        div.stat-grid {
            (stat("Added", diff.counts.added, Tone::Success, "added"))
            (stat("Removed", diff.counts.removed, Tone::Neutral, "removed"))
            (stat("Changed", diff.counts.changed, Tone::Info, "changed"))
            (stat("New admins", diff.counts.new_admins, Tone::Danger, "new-admins"))
            (stat("New owners", diff.counts.new_owners, Tone::Warning, "new-owners"))
        }
        @if nothing {
            (empty_state("No changes", "Every account had the same access in both syncs.", html! {}))
        }
        @if !diff.new_admins.is_empty() {
            section.diff-section.highlight-danger id="new-admins" aria-labelledby="new-admins-title" {
                h2.section-title id="new-admins-title" { "New administrators" }
                p.muted.small { "These accounts administer the whole instance now and did not before." }
                (table("New administrators", &["Account", "Kind", "State", "E-mail"], html! {
                    @for account in &diff.new_admins {
                        tr data-account=(account.username) {
                            td.name-cell { div.primary-text { (account.username) } div.secondary-text { (account.name) } }
                            td { (kind_badge(account.kind)) }
                            td { (state_badge(account.state)) }
                            td { (account.email.as_deref().unwrap_or("—")) }
                        }
                    }
                }))
            }
        }
        @if !diff.new_owners.is_empty() {
            section.diff-section.highlight-warning id="new-owners" aria-labelledby="new-owners-title" {
                h2.section-title id="new-owners-title" { "New owners" }
                p.muted.small { "Owner where the account had less, or nothing, before." }
                (shown_of(diff.new_owners.len(), diff.counts.new_owners))
                (grants_table("New owners", &diff.new_owners))
            }
        }
        @if !diff.added.is_empty() {
            section.diff-section id="added" aria-labelledby="added-title" {
                h2.section-title id="added-title" { "Added grants" }
                (shown_of(diff.added.len(), diff.counts.added))
                (grants_table("Added grants", &diff.added))
            }
        }
        @if !diff.removed.is_empty() {
            section.diff-section id="removed" aria-labelledby="removed-title" {
                h2.section-title id="removed-title" { "Removed grants" }
                (shown_of(diff.removed.len(), diff.counts.removed))
                (grants_table("Removed grants", &diff.removed))
            }
        }
        @if !diff.changed.is_empty() {
            section.diff-section id="changed" aria-labelledby="changed-title" {
                h2.section-title id="changed-title" { "Changed grants" }
                (shown_of(diff.changed.len(), diff.counts.changed))
                (table("Changed grants", &["Account", "Group or project", "Before", "After"], html! {
                    @for change in &diff.changed {
                        @let (kind, path) = resource_label(&change.after);
                        tr data-grant={ (change.after.account.username.as_deref().unwrap_or("")) " " (path) } {
                            td.primary-text { (change.after.account.username.as_deref().unwrap_or("?")) }
                            td.resource-cell-path { span.secondary-text { (kind) } " " span.mono { (path) } }
                            td.change-before { (level_cell(&change.before)) div { (path_cell(&change.before)) } }
                            td.change-after { (level_cell(&change.after)) div { (path_cell(&change.after)) } }
                        }
                    }
                }))
            }
        }
    };
    page(
        &session,
        Nav::Access,
        &format!("Changes in sync {short}"),
        content,
    )
}

/// `POST /access/sources/{id}/sync`: queues a full sync and shows the source's syncs.
pub async fn sync_now(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { session, .. }: CsrfForm<Vec<(String, String)>>,
) -> Response {
    let back = tab_path(&id, Tab::Syncs);
    match state.services.access.trigger_sync(session.principal(), &id).await {
        Ok(_) => redirect_with_flash(
            &state,
            &back,
            FlashKind::Success,
            "Sync queued: it shows below, and the pages move to it when it succeeds.",
        ),
        Err(CoreError::Conflict(message)) => redirect_with_flash(
            &state,
            &back,
            FlashKind::Error,
            &crate::api::oauth::sentence(&message),
        ),
        Err(error) => refused(&session, &error),
    }
}

/// The button that queues a sync, for those whose role may.
fn sync_button(session: &UiSession, source: &str) -> Markup {
    html! {
        @if can_write(session) {
            form.inline-form method="post" action={ (source_path(source)) "/sync" } {
                (csrf_field(session))
                (button(ButtonKind::Primary, "Sync now", None))
            }
        }
    }
}

fn export_format(filters: &Filters) -> AccessExportFormat {
    AccessExportFormat::parse(&filters.format).unwrap_or(AccessExportFormat::Csv)
}

/// `GET /access/sources/{id}/accounts/export`: the API's export, with the session.
pub async fn export_accounts(
    State(state): State<AppState>,
    session: UiSession,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let filters = Filters::of(&uri);
    match state
        .services
        .access_reports
        .export_accounts(
            session.principal(),
            Some(&id),
            given(&filters.search),
            export_format(&filters),
        )
        .await
    {
        Ok(export) => attachment(export),
        Err(error) => refused(&session, &error),
    }
}

/// `GET /access/sources/{id}/grants/export`: the API's export, with the session.
pub async fn export_grants(
    State(state): State<AppState>,
    session: UiSession,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let filters = Filters::of(&uri);
    let filter = filters.grant_filter();
    match state
        .services
        .access_reports
        .export_grants(session.principal(), Some(&id), &filter, export_format(&filters))
        .await
    {
        Ok(export) => attachment(export),
        Err(error) => refused(&session, &error),
    }
}
