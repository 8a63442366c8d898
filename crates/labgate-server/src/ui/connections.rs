//! App Connections: the tenant's GitLab connections at a glance — how each authenticates, to
//! which instance, whether it works, and when it expires or was last checked.

use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use labgate_core::CoreError;
use labgate_proto::connections::{AccessTokenType, App, ConnectionMethod, ConnectionView};
use maud::{Markup, html};
use serde::Deserialize;
use time::OffsetDateTime;

use super::UiSession;
use super::components::{
    ButtonKind, connection_status_badge, empty_state, link_button, page_header, relative_time_text, table,
};
use super::layout::{Nav, page, page_with_status};
use crate::state::AppState;

const PAGE_SIZE: u32 = 50;
/// Where a connection is added (the form lives with the connection pages).
pub const NEW_CONNECTION_PATH: &str = "/organization/app-connections/new";

#[derive(Deserialize, Default)]
pub struct ListQuery {
    page: Option<u32>,
}

fn method_label(method: ConnectionMethod) -> &'static str {
    match method {
        ConnectionMethod::AccessToken => "Access token",
        ConnectionMethod::OAuth => "OAuth",
    }
}

fn token_type_label(token_type: Option<AccessTokenType>, method: ConnectionMethod) -> &'static str {
    match (token_type, method) {
        (Some(AccessTokenType::Personal), _) => "Personal",
        (Some(AccessTokenType::Project), _) => "Project",
        (Some(AccessTokenType::Group), _) => "Group",
        (None, ConnectionMethod::OAuth) => "OAuth token",
        (None, ConnectionMethod::AccessToken) => "—",
    }
}

/// The instance as people name it: its host (and path prefix), without the scheme.
fn instance_label(url: &str) -> String {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    rest.trim_end_matches('/').to_owned()
}

fn row(now: OffsetDateTime, connection: &ConnectionView) -> Markup {
    html! {
        tr {
            td {
                div.primary-text { (connection.name) }
                @if let Some(description) = connection.description.as_deref().filter(|text| !text.is_empty()) {
                    div.secondary-text { (description) }
                }
            }
            td { (method_label(connection.method)) }
            td { (token_type_label(connection.credentials.access_token_type, connection.method)) }
            td { span.mono { (instance_label(&connection.credentials.instance_url)) } }
            td {
                (connection_status_badge(connection.status))
                @if let Some(reason) = connection.status_reason.as_deref().filter(|_| !connection.status.is_usable()) {
                    div.secondary-text { (reason) }
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

fn pager(page: u32, total: u64) -> Markup {
    let pages = total.div_ceil(u64::from(PAGE_SIZE)).max(1);
    html! {
        @if pages > 1 {
            nav.pager aria-label="Pages" {
                @if page > 1 { a.button.secondary.small href={ "?page=" (page - 1) } rel="prev" { "Previous" } }
                span.muted { "Page " (page) " of " (pages) }
                @if u64::from(page) < pages { a.button.secondary.small href={ "?page=" (page + 1) } rel="next" { "Next" } }
            }
        }
    }
}

/// `GET /organization/app-connections`.
pub async fn list(State(state): State<AppState>, session: UiSession, uri: Uri) -> Response {
    // A page number that is not one shows the first page rather than an error.
    let page_number = Query::<ListQuery>::try_from_uri(&uri)
        .ok()
        .and_then(|query| query.0.page)
        .unwrap_or(1)
        .max(1);
    let offset = u64::from(page_number - 1) * u64::from(PAGE_SIZE);
    let listed = state
        .services
        .connections
        .list(
            session.principal(),
            Some(App::GitLab),
            None,
            offset,
            Some(PAGE_SIZE),
        )
        .await;
    let title = Nav::AppConnections.label();
    let add = link_button(ButtonKind::Primary, "Add connection", NEW_CONNECTION_PATH);
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
    let content = if list.total_count == 0 {
        html! {
            (page_header(title, Some(description), html! {}))
            (empty_state(
                "No GitLab connections yet",
                "Connect GitLab with a personal, project or group access token, or through OAuth. labgate stores the \
                 token encrypted, checks its health and rotates it before it expires.",
                add,
            ))
        }
    } else {
        let rows = html! { @for connection in &list.app_connections { (row(now, connection)) } };
        html! {
            (page_header(title, Some(description), add))
            (table(
                "GitLab connections",
                &["Name", "Method", "Token type", "Instance", "Status", "Expires", "Last check"],
                rows,
            ))
            p.table-footer.muted { (list.total_count) " connection" @if list.total_count != 1 { "s" } }
            (pager(page_number, list.total_count))
        }
    };
    page(&session, Nav::AppConnections, title, content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_are_named_by_host_and_prefix() {
        assert_eq!(instance_label("https://gitlab.com"), "gitlab.com");
        assert_eq!(
            instance_label("https://git.example.org/gitlab/"),
            "git.example.org/gitlab"
        );
        assert_eq!(instance_label("http://127.0.0.1:9000"), "127.0.0.1:9000");
    }
}
