//! The list: the tenant's GitLab connections at a glance — how each authenticates, to which
//! instance, whether it works, and when it expires or was last checked — narrowed by status,
//! method and name with a plain GET form, and the one just added marked.

use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use labgate_core::CoreError;
use labgate_core::connections::ConnectionSearch;
use labgate_proto::connections::{ConnectionMethod, ConnectionStatus, ConnectionView};
use maud::{Markup, html};
use serde::Deserialize;
use time::OffsetDateTime;

use super::new::add_connection_dialog;
use super::{LIST_PATH, connection_id, detail_path, instance_label, method_label, token_type_label};
use crate::state::AppState;
use crate::ui::UiSession;
use crate::ui::components::{
    ButtonKind, connection_status_badge, empty_state, link_button, page_header, relative_time_text, table,
};
use crate::ui::layout::{Nav, page, page_with_status};

const PAGE_SIZE: u32 = 50;
/// Where a connection is added without the dialog (the dialog's fallback).
pub const NEW_CONNECTION_PATH: &str = "/organization/app-connections/new";
/// Longest search text kept; names are at most 255 characters anyway.
const MAX_SEARCH_LEN: usize = 255;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    page: Option<u32>,
    status: Option<String>,
    method: Option<String>,
    q: Option<String>,
    highlight: Option<String>,
}

/// The filters as the form shows them and core applies them; values that are not a status or
/// a method are dropped rather than refused, like a page number that is not one.
struct Filters {
    search: ConnectionSearch,
    highlight: Option<String>,
    page: u32,
}

impl Filters {
    fn from_uri(uri: &Uri) -> Filters {
        let query = Query::<ListQuery>::try_from_uri(uri)
            .map(|query| query.0)
            .unwrap_or_default();
        let name = query
            .q
            .map(|text| text.trim().chars().take(MAX_SEARCH_LEN).collect::<String>())
            .filter(|text| !text.is_empty());
        Filters {
            search: ConnectionSearch {
                status: query.status.as_deref().and_then(ConnectionStatus::parse),
                method: query.method.as_deref().and_then(ConnectionMethod::parse),
                name_contains: name,
            },
            highlight: query
                .highlight
                .as_deref()
                .and_then(connection_id)
                .map(str::to_owned),
            page: query.page.unwrap_or(1).max(1),
        }
    }

    fn any(&self) -> bool {
        self.search.status.is_some() || self.search.method.is_some() || self.search.name_contains.is_some()
    }

    /// The list's URL with these filters on page `page`.
    fn url(&self, page: u32) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if let Some(status) = self.search.status {
            query.append_pair("status", status.as_str());
        }
        if let Some(method) = self.search.method {
            query.append_pair("method", method.as_str());
        }
        if let Some(name) = &self.search.name_contains {
            query.append_pair("q", name);
        }
        if page > 1 {
            query.append_pair("page", &page.to_string());
        }
        let query = query.finish();
        if query.is_empty() {
            LIST_PATH.to_owned()
        } else {
            format!("{LIST_PATH}?{query}")
        }
    }
}

/// How each status reads in the filter (the badge's words).
fn status_label(status: ConnectionStatus) -> &'static str {
    match status {
        ConnectionStatus::Active => "Active",
        ConnectionStatus::Expiring => "Expiring soon",
        ConnectionStatus::Expired => "Expired",
        ConnectionStatus::Revoked => "Revoked",
        ConnectionStatus::NeedsReauth => "Needs re-authorization",
        ConnectionStatus::NeedsAttention => "Needs attention",
        ConnectionStatus::Compromised => "Compromised",
        ConnectionStatus::InsufficientScope => "Insufficient scope",
        ConnectionStatus::Unreachable => "Unreachable",
        ConnectionStatus::Error => "Error",
    }
}

fn filter_form(filters: &Filters) -> Markup {
    html! {
        form.filters method="get" action=(LIST_PATH) role="search" aria-label="Filter connections" {
            div.field.filter-search {
                label for="filter-q" { "Search" }
                input id="filter-q" type="search" name="q" placeholder="Search by name"
                    value=[filters.search.name_contains.as_deref()] maxlength="255";
            }
            div.field {
                label for="filter-status" { "Status" }
                select id="filter-status" name="status" {
                    option value="" selected[filters.search.status.is_none()] { "Any status" }
                    @for status in ConnectionStatus::ALL {
                        option value=(status.as_str()) selected[filters.search.status == Some(*status)] {
                            (status_label(*status))
                        }
                    }
                }
            }
            div.field {
                label for="filter-method" { "Method" }
                select id="filter-method" name="method" {
                    option value="" selected[filters.search.method.is_none()] { "Any method" }
                    @for method in ConnectionMethod::ALL {
                        option value=(method.as_str()) selected[filters.search.method == Some(*method)] {
                            (method_label(*method))
                        }
                    }
                }
            }
            div.filter-actions {
                button type="submit" class="button secondary" { "Apply" }
                @if filters.any() {
                    a.button.secondary.ghost href=(LIST_PATH) { "Clear" }
                }
            }
        }
    }
}

fn row(now: OffsetDateTime, connection: &ConnectionView, highlighted: bool) -> Markup {
    html! {
        tr.highlight[highlighted] id={ "connection-" (connection.id) } aria-current=[highlighted.then_some("true")] {
            td.name-cell {
                a.primary-text.row-link href=(detail_path(&connection.id)) { (connection.name) }
                @if highlighted { " " span.badge.info { "New" } }
                @if let Some(description) = connection.description.as_deref().filter(|text| !text.is_empty()) {
                    div.secondary-text.clamp { (description) }
                }
            }
            td { (method_label(connection.method)) }
            td { (token_type_label(connection.credentials.access_token_type, connection.method)) }
            td.instance-cell { span.mono title=(connection.credentials.instance_url) { (instance_label(&connection.credentials.instance_url)) } }
            td {
                (connection_status_badge(connection.status))
                @if let Some(reason) = connection.status_reason.as_deref().filter(|_| !connection.status.is_usable()) {
                    div.secondary-text.clamp { (reason) }
                }
            }
            td {
                @match &connection.expires_at {
                    Some(at) => (relative_time_text(now, at)),
                    None => span.muted { "Never" },
                }
            }
            td {
                @match &connection.last_checked_at {
                    Some(at) => (relative_time_text(now, at)),
                    None => span.muted { "Not yet" },
                }
            }
        }
    }
}

fn pager(filters: &Filters, total: u64) -> Markup {
    let page = filters.page;
    let pages = total.div_ceil(u64::from(PAGE_SIZE)).max(1);
    html! {
        @if pages > 1 {
            nav.pager aria-label="Pages" {
                @if page > 1 { a.button.secondary.small href=(filters.url(page - 1)) rel="prev" { "Previous" } }
                span.muted { "Page " (page) " of " (pages) }
                @if u64::from(page) < pages { a.button.secondary.small href=(filters.url(page + 1)) rel="next" { "Next" } }
            }
        }
    }
}

/// The "Add connection" button: a link to the page, which the script turns into the dialog.
pub fn add_button() -> Markup {
    html! {
        a.button.primary href=(NEW_CONNECTION_PATH) data-open-dialog="add-connection" aria-haspopup="dialog" {
            "Add connection"
        }
    }
}

/// `GET /organization/app-connections`.
pub async fn list(State(state): State<AppState>, session: UiSession, uri: Uri) -> Response {
    let filters = Filters::from_uri(&uri);
    let offset = u64::from(filters.page - 1) * u64::from(PAGE_SIZE);
    let listed = state
        .services
        .connections
        .search(session.principal(), &filters.search, offset, PAGE_SIZE)
        .await;
    let title = Nav::AppConnections.label();
    let list = match listed {
        Ok(list) => list,
        Err(CoreError::Forbidden(_)) => {
            let content = html! {
                (page_header(title, None, html! {}))
                (empty_state(
                    "Your role cannot see connections",
                    "Ask an administrator of this tenant for the member or reader role.",
                    html! {},
                ))
            };
            return page_with_status(
                StatusCode::FORBIDDEN,
                &session,
                Nav::AppConnections,
                title,
                content,
            );
        }
        Err(error) => {
            tracing::error!(error = %error, "cannot list connections for a page");
            let content = html! {
                (page_header(title, None, html! {}))
                div.flash.error role="alert" { "The connections could not be loaded. Reload the page to try again." }
            };
            return page_with_status(
                StatusCode::SERVICE_UNAVAILABLE,
                &session,
                Nav::AppConnections,
                title,
                content,
            );
        }
    };
    let now = state.services.clock.now();
    let description =
        "GitLab credentials labgate holds for your applications, kept fresh and checked for health.";
    let dialog = add_connection_dialog(&state, &session);
    let content = if list.total_count == 0 && !filters.any() {
        html! {
            (page_header(title, Some(description), html! {}))
            (empty_state(
                "No GitLab connections yet",
                "Connect GitLab with a personal, project or group access token, or through OAuth. labgate stores the \
                 token encrypted, checks its health and rotates it before it expires.",
                add_button(),
            ))
            (dialog)
        }
    } else {
        let highlight = filters.highlight.as_deref();
        let rows = html! {
            @for connection in &list.app_connections {
                (row(now, connection, highlight == Some(connection.id.as_str())))
            }
        };
        html! {
            (page_header(title, Some(description), add_button()))
            (filter_form(&filters))
            @if list.total_count == 0 {
                (empty_state(
                    "No connections match",
                    "No connection has this status, method and name. Change the filters or clear them.",
                    link_button(ButtonKind::Secondary, "Clear filters", LIST_PATH),
                ))
            } @else {
                (table(
                    "GitLab connections",
                    &["Name", "Method", "Token type", "Instance", "Status", "Expires", "Last check"],
                    rows,
                ))
                p.table-footer.muted {
                    (list.total_count) " connection" @if list.total_count != 1 { "s" }
                    @if filters.any() { " match the filters" }
                }
                (pager(&filters, list.total_count))
            }
            (dialog)
        }
    };
    page(&session, Nav::AppConnections, title, content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_keep_what_they_understand_and_drop_the_rest() {
        let uri: Uri = "/organization/app-connections?status=expired&method=nope&q=+ci+&page=0&highlight=x"
            .parse()
            .unwrap();
        let filters = Filters::from_uri(&uri);
        assert_eq!(filters.search.status, Some(ConnectionStatus::Expired));
        assert_eq!(filters.search.method, None);
        assert_eq!(filters.search.name_contains.as_deref(), Some("ci"));
        assert_eq!(filters.page, 1);
        assert_eq!(filters.highlight, None);
        assert_eq!(
            filters.url(2),
            "/organization/app-connections?status=expired&q=ci&page=2"
        );
        let none = Filters::from_uri(&"/organization/app-connections?q=%20".parse().unwrap());
        assert!(!none.any());
        assert_eq!(none.url(1), LIST_PATH);
    }
}
