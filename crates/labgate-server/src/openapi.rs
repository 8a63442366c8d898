//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "labgate", description = "A self-hosted GitLab connection hub."),
    paths(
        crate::probes::healthz,
        crate::probes::readyz,
        crate::probes::metrics,
        crate::api::api_keys::create,
        crate::api::api_keys::list,
        crate::api::api_keys::show,
        crate::api::api_keys::revoke,
        crate::api::audit::list,
        crate::api::connections::create,
        crate::api::connections::list,
        crate::api::connections::list_all,
        crate::api::connections::options,
        crate::api::connections::available,
        crate::api::connections::by_name,
        crate::api::connections::show,
        crate::api::connections::update,
        crate::api::connections::remove,
        crate::api::connections::check,
        crate::api::connections::rotate,
        crate::api::connections::events,
        crate::api::connections::projects,
        crate::api::connections::groups,
        crate::api::credentials::show,
        crate::api::jobs::list,
        crate::api::jobs::show,
        crate::api::webhooks::create,
        crate::api::webhooks::list,
        crate::api::webhooks::show,
        crate::api::webhooks::update,
        crate::api::webhooks::remove,
        crate::api::webhooks::deliveries,
        crate::api::webhooks::test,
    ),
    components(schemas(labgate_proto::ErrorBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "api-keys", description = "API keys and their roles"),
        (name = "app-connections", description = "GitLab connections (Infisical's app-connections API)"),
        (name = "audit", description = "Who did what, when and from where"),
        (name = "credentials", description = "Fresh GitLab tokens for other software"),
        (name = "jobs", description = "Background jobs and their progress"),
        (name = "probes", description = "Health, readiness and metrics"),
        (name = "webhooks", description = "Signed event deliveries to subscribers"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        }
    }
}

/// The document as pretty JSON, stable between runs (checked in as `docs/openapi.json`).
pub fn openapi_json() -> String {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.to_pretty_json().unwrap_or_else(|_| "{}".to_owned())
}
