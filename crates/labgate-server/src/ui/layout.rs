//! The frame of every page for a logged-in person: the navigation, who is logged in with the
//! logout button, flash messages, and the content.

use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::response::Response;
use maud::{DOCTYPE, Markup, html};

use super::UiSession;
use super::assets;
use super::cookies::{FLASH_COOKIE, clear_cookie};
use super::csrf::csrf_field;
use super::flash::FlashKind;
use super::response::html_response;

/// The sections of the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Secrets,
    SecretSyncs,
    SecretScanning,
    Access,
    AppConnections,
    GitLabInstances,
    ApiKeys,
    Jobs,
    AuditLogs,
}

impl Nav {
    pub const ALL: [Nav; 9] = [
        Nav::Secrets,
        Nav::SecretSyncs,
        Nav::SecretScanning,
        Nav::Access,
        Nav::AppConnections,
        Nav::GitLabInstances,
        Nav::ApiKeys,
        Nav::Jobs,
        Nav::AuditLogs,
    ];

    pub const fn label(self) -> &'static str {
        match self {
            Nav::Secrets => "Secrets",
            Nav::SecretSyncs => "Secret syncs",
            Nav::SecretScanning => "Secret scanning",
            Nav::Access => "Access",
            Nav::AppConnections => "App Connections",
            Nav::GitLabInstances => "GitLab instances",
            Nav::ApiKeys => "API keys",
            Nav::Jobs => "Jobs",
            Nav::AuditLogs => "Audit log",
        }
    }

    pub const fn path(self) -> &'static str {
        match self {
            Nav::Secrets => "/secrets",
            Nav::SecretSyncs => "/secret-syncs",
            Nav::SecretScanning => "/secret-scanning/data-sources",
            Nav::Access => "/access/sources",
            Nav::AppConnections => "/organization/app-connections",
            Nav::GitLabInstances => "/organization/gitlab-instances",
            Nav::ApiKeys => "/organization/api-keys",
            Nav::Jobs => "/organization/jobs",
            Nav::AuditLogs => "/organization/audit-logs",
        }
    }
}

/// The `<head>` every page shares.
pub fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            title { (title) " · labgate" }
            link rel="stylesheet" href=(assets::stylesheet_url());
            link rel="icon" type="image/svg+xml" href=(assets::icon_url());
            script src=(assets::script_url()) defer {}
        }
    }
}

/// A whole page: navigation with `active` marked, the user bar, the flash message the session
/// brought, and `content`.
pub fn layout(session: &UiSession, active: Nav, title: &str, content: Markup) -> Markup {
    let who = &session.session;
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip-link href="#main" { "Skip to content" }
                div.shell {
                    aside.sidebar {
                        a.brand href="/" { span.brand-mark aria-hidden="true" { "lg" } " labgate" }
                        nav aria-label="Main" {
                            ul {
                                @for item in Nav::ALL {
                                    li {
                                        a href=(item.path()) aria-current=[(item == active).then_some("page")] {
                                            (item.label())
                                        }
                                    }
                                }
                            }
                        }
                    }
                    div.workspace {
                        header.topbar {
                            div.tenant {
                                span.muted { "Tenant" }
                                strong { (who.tenant_name) }
                            }
                            div.account {
                                span.user { (who.email) }
                                span.badge.neutral { (who.principal.role) }
                                form method="post" action="/logout" {
                                    (csrf_field(session))
                                    button type="submit" class="button secondary small" { "Log out" }
                                }
                            }
                        }
                        main id="main" tabindex="-1" {
                            @if let Some(flash) = &session.flash {
                                @match flash.kind {
                                    FlashKind::Success => div.flash.success role="status" { (flash.message) },
                                    FlashKind::Error => div.flash.error role="alert" { (flash.message) },
                                }
                            }
                            (content)
                        }
                    }
                }
            }
        }
    }
}

/// A page for a logged-in person, with status 200.
pub fn page(session: &UiSession, active: Nav, title: &str, content: Markup) -> Response {
    page_with_status(StatusCode::OK, session, active, title, content)
}

/// A page with another status: 4xx for a form shown again with its errors.
pub fn page_with_status(
    status: StatusCode,
    session: &UiSession,
    active: Nav,
    title: &str,
    content: Markup,
) -> Response {
    let mut response = html_response(status, layout(session, active, title, content));
    // Shown once: the flash is spent with this page.
    if session.flash.is_some()
        && let Some(clear) = clear_cookie(FLASH_COOKIE, "/", session.secure)
    {
        response.headers_mut().append(SET_COOKIE, clear);
    }
    response
}
