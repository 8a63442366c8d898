//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::openapi::content::Content;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::header::Header;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Ref, RefOr, Response, Type};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "labgate", description = "A self-hosted GitLab connection hub."),
    paths(
        crate::probes::healthz,
        crate::probes::readyz,
        crate::probes::metrics,
        crate::api::access_reports::accounts,
        crate::api::access_reports::export_accounts,
        crate::api::access_reports::grants,
        crate::api::access_reports::export_grants,
        crate::api::access_reports::resources,
        crate::api::access_reports::diff,
        crate::api::access::create,
        crate::api::access::list,
        crate::api::access::show,
        crate::api::access::remove,
        crate::api::access::sync,
        crate::api::access::syncs,
        crate::api::access::show_sync,
        crate::api::access::sync_log,
        crate::api::access_provisioning::provision,
        crate::api::access_provisioning::list,
        crate::api::access_provisioning::show,
        crate::api::access_provisioning::resume,
        crate::api::api_keys::create,
        crate::api::api_keys::list,
        crate::api::api_keys::show,
        crate::api::api_keys::revoke,
        crate::api::audit::list,
        crate::api::connect_sessions::create,
        crate::api::secret_syncs::create,
        crate::api::secret_syncs::list,
        crate::api::secret_syncs::by_name,
        crate::api::secret_syncs::show,
        crate::api::secret_syncs::update,
        crate::api::secret_syncs::remove,
        crate::api::secret_syncs::sync_secrets,
        crate::api::secret_syncs::import_secrets,
        crate::api::secret_syncs::remove_secrets,
        crate::api::secret_syncs::plan,
        crate::api::secret_syncs::results,
        crate::api::secret_scanning::create,
        crate::api::secret_scanning::list,
        crate::api::secret_scanning::show,
        crate::api::secret_scanning::update,
        crate::api::secret_scanning::remove,
        crate::api::secret_scanning::resources,
        crate::api::secret_scanning::scans,
        crate::api::secret_scanning::scan,
        crate::api::secret_scanning::scan_resource,
        crate::api::secret_scanning::findings,
        crate::api::secret_scanning::update_finding,
        crate::api::secret_scanning::export,
        crate::api::scan_webhooks::receive,
        crate::api::access_webhooks::receive,
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
        crate::api::connections::refresh,
        crate::api::connections::events,
        crate::api::connections::projects,
        crate::api::connections::groups,
        crate::api::oauth::start,
        crate::api::oauth::callback,
        crate::api::credentials::show,
        crate::api::instances::create,
        crate::api::instances::list,
        crate::api::instances::show,
        crate::api::instances::update,
        crate::api::instances::remove,
        crate::api::jobs::list,
        crate::api::jobs::show,
        crate::api::webhooks::create,
        crate::api::webhooks::list,
        crate::api::webhooks::show,
        crate::api::webhooks::update,
        crate::api::webhooks::remove,
        crate::api::webhooks::deliveries,
        crate::api::webhooks::test,
        crate::api::projects::create,
        crate::api::projects::list,
        crate::api::projects::show,
        crate::api::projects::remove,
        crate::api::projects::create_environment,
        crate::api::projects::update_environment,
        crate::api::projects::delete_environment,
        crate::api::secrets::list,
        crate::api::secrets::show,
        crate::api::secrets::create,
        crate::api::secrets::update,
        crate::api::secrets::remove,
        crate::api::secrets::create_batch,
        crate::api::secrets::update_batch,
        crate::api::secrets::delete_batch,
        crate::api::secrets::import,
        crate::api::secrets::history,
        crate::api::secrets::rollback,
    ),
    components(schemas(
        labgate_proto::ErrorBody,
        labgate_proto::access_reports::AccessExportFormat,
        labgate_proto::secret_syncs::ImportBehavior,
        labgate_proto::secret_scanning::ExportFormat,
        labgate_proto::secret_scanning::FindingStatus
    )),
    modifiers(&BearerAuth, &SharedResponses, &Links),
    tags(
        (name = "access", description = "Access sync: who has what access in GitLab, from sources synced on a schedule: accounts, groups, projects, effective grants with their paths, and diffs between syncs"),
        (name = "api-keys", description = "API keys and their roles"),
        (name = "app-connections", description = "GitLab connections (Infisical's app-connections API)"),
        (name = "audit", description = "Who did what, when and from where"),
        (name = "credentials", description = "Fresh GitLab tokens for other software"),
        (name = "gitlab-instances", description = "GitLab instances and their OAuth applications"),
        (name = "jobs", description = "Background jobs and their progress"),
        (name = "probes", description = "Health, readiness and metrics"),
        (name = "secret-scanning", description = "Secret scanning of GitLab repositories (Infisical's secret-scanning v2 API)"),
        (name = "secret-syncs", description = "Secret syncs to GitLab CI/CD variables (Infisical's secret-syncs API)"),
        (name = "secrets", description = "labgate's own secrets: projects, environments, folders and versions (Infisical's secrets API)"),
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

/// What an error status means wherever it is not described more precisely.
fn error_description(status: &str) -> &'static str {
    match status {
        "400" => {
            "The request is malformed: a path or query parameter or the body is not of the expected shape, or a value is out of range (`details` says which)."
        }
        "401" => "The API key is missing, malformed, unknown, revoked or expired.",
        "403" => "The API key's role does not allow this.",
        "404" => "No such resource in the caller's tenant.",
        "409" => {
            "The request conflicts with the current state (a taken name, a stale `version`, an operation already running)."
        }
        "413" => "The body is larger than 1 MiB.",
        "414" => "The URI is longer than 4096 characters.",
        "415" => "The body is not JSON (`Content-Type: application/json`).",
        "422" => "The request is well formed but its values were refused (`details` says which).",
        "429" => "Too many failed authentications from this address; `Retry-After` says when to try again.",
        "500" => "An internal error; the cause is logged with the request id.",
        "503" => {
            "The request took longer than the request timeout, or the database or GitLab is unavailable; try again."
        }
        _ => "An error.",
    }
}

/// Adds the answers that come from the layers and extractors a route passes through rather than
/// from its handler: what the middleware answers on every route, what `Auth` answers where a key
/// is required, what `AppPath`, `AppQuery` and `AppJson` answer where a route has path or query
/// parameters or a body. Each is the error contract; empty descriptions get the status's meaning.
struct SharedResponses;

impl Modify for SharedResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                add_shared_responses(operation);
            }
        }
    }
}

fn add_shared_responses(operation: &mut Operation) {
    let has = |place: ParameterIn| {
        operation
            .parameters
            .iter()
            .flatten()
            .any(|parameter| parameter.parameter_in == place)
    };
    let mut statuses = vec!["414", "503"];
    if operation.security.is_some() {
        statuses.extend(["401", "403", "429", "500"]);
    }
    if has(ParameterIn::Path) {
        statuses.extend(["400", "404"]);
    }
    if has(ParameterIn::Query) {
        statuses.push("400");
    }
    if operation.request_body.is_some() {
        statuses.extend(["400", "413", "415"]);
    }
    let responses = &mut operation.responses.responses;
    for status in statuses {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| error_response(status).into());
    }
    for (status, response) in responses.iter_mut() {
        if let RefOr::T(response) = response
            && response.description.is_empty()
            && !status.starts_with('2')
        {
            response.description = error_description(status).to_owned();
        }
    }
    if let Some(RefOr::T(response)) = responses.get_mut("429") {
        response
            .headers
            .entry("Retry-After".to_owned())
            .or_insert_with(|| {
                let mut header =
                    Header::new(utoipa::openapi::ObjectBuilder::new().schema_type(Type::Integer));
                header.description = Some("Seconds until this address may try again.".to_owned());
                header
            });
    }
}

fn error_response(status: &str) -> Response {
    let mut response = Response::new(error_description(status));
    response.content.insert(
        "application/json".to_owned(),
        Content::new(Some(Ref::from_schema_name("ErrorBody"))),
    );
    response
}

/// Links from the answers that carry a resource to the operations on it, so a client (and a
/// stateful test) can follow them: `(operation, JSON pointer of the resource, operations it
/// feeds)`. A created resource leads everywhere, its deletion included; an entry of a list leads
/// to reads and changes only, since which entry comes first is not the caller's choice.
const LINKS: &[(&str, &str, &[LinkTarget])] = &[
    ("createApiKey", "/apiKey", &[API_KEY_READ, ("revokeApiKey", "id")]),
    ("listApiKeys", "/apiKeys/0", &[API_KEY_READ]),
    ("createGitLabConnection", "/appConnection", CONNECTION_ALL),
    ("listGitLabConnections", "/appConnections/0", CONNECTION_USE),
    ("listAppConnections", "/appConnections/0", CONNECTION_USE),
    (
        "listAvailableGitLabConnections",
        "/appConnections/0",
        CONNECTION_USE,
    ),
    ("createGitLabInstance", "/gitlabInstance", INSTANCE_ALL),
    ("listGitLabInstances", "/gitlabInstances/0", INSTANCE_USE),
    ("listJobs", "/jobs/0", &[("getJob", "id")]),
    ("createWebhook", "/webhook", WEBHOOK_ALL),
    ("listWebhooks", "/webhooks/0", WEBHOOK_USE),
];

/// `(operation, parameter)`: the parameter is taken from the resource's field of the same name.
type LinkTarget = (&'static str, &'static str);

const API_KEY_READ: LinkTarget = ("getApiKey", "id");

const CONNECTION_ALL: &[LinkTarget] = &[
    ("getGitLabConnection", "id"),
    ("getGitLabConnectionByName", "name"),
    ("updateGitLabConnection", "id"),
    ("checkGitLabConnection", "id"),
    ("rotateGitLabConnection", "id"),
    ("refreshGitLabConnection", "id"),
    ("listGitLabConnectionEvents", "id"),
    ("listGitLabConnectionProjects", "id"),
    ("listGitLabConnectionGroups", "id"),
    ("deleteGitLabConnection", "id"),
];

const CONNECTION_USE: &[LinkTarget] = &[
    ("getGitLabConnection", "id"),
    ("getGitLabConnectionByName", "name"),
    ("updateGitLabConnection", "id"),
    ("checkGitLabConnection", "id"),
    ("rotateGitLabConnection", "id"),
    ("refreshGitLabConnection", "id"),
    ("listGitLabConnectionEvents", "id"),
    ("listGitLabConnectionProjects", "id"),
    ("listGitLabConnectionGroups", "id"),
];

const INSTANCE_ALL: &[LinkTarget] = &[
    ("getGitLabInstance", "id"),
    ("updateGitLabInstance", "id"),
    ("deleteGitLabInstance", "id"),
];

const INSTANCE_USE: &[LinkTarget] = &[("getGitLabInstance", "id"), ("updateGitLabInstance", "id")];

const WEBHOOK_ALL: &[LinkTarget] = &[
    ("getWebhook", "id"),
    ("updateWebhook", "id"),
    ("listWebhookDeliveries", "id"),
    ("testWebhook", "id"),
    ("deleteWebhook", "id"),
];

const WEBHOOK_USE: &[LinkTarget] = &[
    ("getWebhook", "id"),
    ("updateWebhook", "id"),
    ("listWebhookDeliveries", "id"),
    ("testWebhook", "id"),
];

struct Links;

impl Modify for Links {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                link_resources(operation);
                link_accepted_job(operation);
            }
        }
    }
}

/// A link to `target`, its `parameter` taken from the answer at `pointer`.
fn link(target: &str, parameter: &str, pointer: &str) -> RefOr<utoipa::openapi::link::Link> {
    // utoipa 5 writes `Link::operation_id` as `operation_id`; OpenAPI spells it `operationId`,
    // so the field goes in through the flattened extensions.
    LinkBuilder::new()
        .extensions(Some(Extensions::from_iter([("operationId", target)])))
        .parameter(parameter, format!("$response.body#{pointer}"))
        .build()
        .into()
}

/// The [`LINKS`] of an operation's `200` answer.
fn link_resources(operation: &mut Operation) {
    let Some((_, resource, targets)) = LINKS
        .iter()
        .find(|(source, _, _)| operation.operation_id.as_deref() == Some(source))
    else {
        return;
    };
    let Some(RefOr::T(response)) = operation.responses.responses.get_mut("200") else {
        return;
    };
    for (target, parameter) in *targets {
        response.links.insert(
            (*target).to_owned(),
            link(target, parameter, &format!("{resource}/{parameter}")),
        );
    }
}

/// A `202 Accepted` answer carries the job that follows the operation: it leads to that job.
fn link_accepted_job(operation: &mut Operation) {
    if let Some(RefOr::T(response)) = operation.responses.responses.get_mut("202") {
        response
            .links
            .insert("getJob".to_owned(), link("getJob", "id", "/jobId"));
    }
}

/// The document as pretty JSON, stable between runs (checked in as `docs/openapi.json`).
pub fn openapi_json() -> String {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.to_pretty_json().unwrap_or_else(|_| "{}".to_owned())
}
