//! The web UI: server-rendered pages (maud) for people, beside the API for programs.
//!
//! For page authors:
//! - take [`UiSession`] to require a logged-in person (GETs without one go to the login page);
//! - take [`CsrfForm<T>`](CsrfForm) for every form post, and put [`csrf_field`] in every form;
//! - answer with [`layout::page`] (or [`layout::page_with_status`] for a form shown again with
//!   its errors), and after a successful post with [`flash::redirect_with_flash`];
//! - build pages from [`components`], which keep them consistent and accessible.

mod access;
mod api_keys;
pub mod assets;
mod audit;
pub mod components;
mod connections;
pub mod cookies;
pub mod csrf;
mod denied;
pub mod flash;
mod instances;
mod jobs;
pub mod layout;
mod login;
pub mod response;
mod secret_scanning;
mod secret_syncs;
mod secrets;
pub mod session;

pub use csrf::{CsrfForm, csrf_field, verify_csrf};
pub use session::UiSession;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

/// Every page and the assets they use.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(login::root))
        .route("/login", get(login::login_form).post(login::login))
        .route("/logout", post(login::logout))
        .route("/ui/assets/{name}", get(assets::asset))
        .merge(connections::router())
        .merge(secrets::router())
        .merge(secret_syncs::router())
        .merge(secret_scanning::router())
        .merge(access::router())
        .route(
            "/organization/gitlab-instances",
            get(instances::list).post(instances::create),
        )
        .route("/organization/gitlab-instances/new", get(instances::new_form))
        .route("/organization/gitlab-instances/{id}", post(instances::update))
        .route(
            "/organization/gitlab-instances/{id}/edit",
            get(instances::edit_form),
        )
        .route(
            "/organization/gitlab-instances/{id}/delete",
            post(instances::delete),
        )
        .route(
            "/organization/api-keys",
            get(api_keys::list).post(api_keys::create),
        )
        .route("/organization/api-keys/{id}/revoke", post(api_keys::revoke))
        .route("/organization/jobs", get(jobs::list))
        .route("/organization/jobs.json", get(jobs::live_json))
        .route("/organization/jobs/{id}", get(jobs::detail))
        .route("/organization/audit-logs", get(audit::list))
}
