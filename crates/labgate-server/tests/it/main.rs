//! HTTP API tests: each builds a `labgate_testkit::TestEnv` (the real application on a fresh
//! database of the run's backend, `LABGATE_TEST_BACKEND`) and calls it in-process, or over a
//! real socket where transport matters (TLS, shutdown).

mod access;
mod access_provisioning;
mod access_reports;
mod audit;
mod auth;
mod bad_input;
mod connect;
mod connections;
mod credentials;
mod instances;
mod jobs;
mod oauth;
mod probes;
mod secret_scanning;
mod secret_syncs;
mod secrets;
mod transport;
mod ui;
mod ui_access;
mod ui_admin;
mod ui_connections;
mod ui_scanning;
mod ui_secrets;
mod webhooks;

/// Every route family with a method and a path that addresses one resource of it, for the
/// auth, isolation and bad-input sweeps.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/access/sources"),
    ("POST", "/api/v1/access/sources"),
    ("GET", "/api/v1/access/sources/{id}"),
    ("DELETE", "/api/v1/access/sources/{id}"),
    ("POST", "/api/v1/access/sources/{id}/sync"),
    ("GET", "/api/v1/access/sources/{id}/syncs"),
    ("GET", "/api/v1/access/syncs/{id}"),
    ("GET", "/api/v1/access/syncs/{id}/log"),
    ("GET", "/api/v1/access/provisioning"),
    ("POST", "/api/v1/access/provisioning"),
    ("GET", "/api/v1/access/provisioning/{id}"),
    ("POST", "/api/v1/access/provisioning/{id}/resume"),
    ("GET", "/api/v1/api-keys"),
    ("POST", "/api/v1/api-keys"),
    ("GET", "/api/v1/api-keys/{id}"),
    ("DELETE", "/api/v1/api-keys/{id}"),
    ("GET", "/api/v1/audit-logs"),
    ("POST", "/api/v1/connect-sessions"),
    ("GET", "/api/v1/app-connections"),
    ("GET", "/api/v1/app-connections/options"),
    ("GET", "/api/v1/app-connections/gitlab"),
    ("POST", "/api/v1/app-connections/gitlab"),
    ("POST", "/api/v1/app-connections/gitlab/oauth/start"),
    ("GET", "/api/v1/app-connections/gitlab/available"),
    ("GET", "/api/v1/app-connections/gitlab/connection-name/{id}"),
    ("GET", "/api/v1/app-connections/gitlab/{id}"),
    ("PATCH", "/api/v1/app-connections/gitlab/{id}"),
    ("DELETE", "/api/v1/app-connections/gitlab/{id}"),
    ("POST", "/api/v1/app-connections/gitlab/{id}/check"),
    ("POST", "/api/v1/app-connections/gitlab/{id}/rotate"),
    ("POST", "/api/v1/app-connections/gitlab/{id}/refresh"),
    ("GET", "/api/v1/app-connections/gitlab/{id}/events"),
    ("GET", "/api/v1/app-connections/gitlab/{id}/projects"),
    ("GET", "/api/v1/app-connections/gitlab/{id}/groups"),
    ("GET", "/api/v1/gitlab-instances"),
    ("POST", "/api/v1/gitlab-instances"),
    ("GET", "/api/v1/gitlab-instances/{id}"),
    ("PATCH", "/api/v1/gitlab-instances/{id}"),
    ("DELETE", "/api/v1/gitlab-instances/{id}"),
    ("GET", "/api/v1/jobs"),
    ("GET", "/api/v1/jobs/{id}"),
    ("GET", "/api/v1/webhooks"),
    ("POST", "/api/v1/webhooks"),
    ("GET", "/api/v1/webhooks/{id}"),
    ("PATCH", "/api/v1/webhooks/{id}"),
    ("DELETE", "/api/v1/webhooks/{id}"),
    ("GET", "/api/v1/webhooks/{id}/deliveries"),
    ("POST", "/api/v1/webhooks/{id}/test"),
    ("GET", "/api/v1/credentials/gitlab?connectionId={id}"),
    ("GET", "/api/v1/secret-syncs/gitlab?projectId={id}"),
    ("POST", "/api/v1/secret-syncs/gitlab"),
    ("GET", "/api/v1/secret-syncs/gitlab/sync-name/{id}?projectId={id}"),
    ("GET", "/api/v1/secret-syncs/gitlab/{id}"),
    ("PATCH", "/api/v1/secret-syncs/gitlab/{id}"),
    ("DELETE", "/api/v1/secret-syncs/gitlab/{id}"),
    ("POST", "/api/v1/secret-syncs/gitlab/{id}/sync-secrets"),
    (
        "POST",
        "/api/v1/secret-syncs/gitlab/{id}/import-secrets?importBehavior=prioritize-source",
    ),
    ("POST", "/api/v1/secret-syncs/gitlab/{id}/remove-secrets"),
    ("GET", "/api/v1/secret-syncs/gitlab/{id}/plan"),
    ("GET", "/api/v1/secret-syncs/gitlab/{id}/results"),
    ("GET", "/api/v2/secret-scanning/data-sources/gitlab"),
    ("POST", "/api/v2/secret-scanning/data-sources/gitlab"),
    ("GET", "/api/v2/secret-scanning/data-sources/gitlab/{id}"),
    ("PATCH", "/api/v2/secret-scanning/data-sources/gitlab/{id}"),
    ("DELETE", "/api/v2/secret-scanning/data-sources/gitlab/{id}"),
    (
        "GET",
        "/api/v2/secret-scanning/data-sources/gitlab/{id}/resources",
    ),
    ("GET", "/api/v2/secret-scanning/data-sources/gitlab/{id}/scans"),
    ("POST", "/api/v2/secret-scanning/data-sources/gitlab/{id}/scan"),
    (
        "POST",
        "/api/v2/secret-scanning/data-sources/gitlab/{id}/resources/{id}/scan",
    ),
    ("GET", "/api/v2/secret-scanning/findings"),
    ("GET", "/api/v2/secret-scanning/findings/export?format=csv"),
    ("PATCH", "/api/v2/secret-scanning/findings/{id}"),
    ("GET", "/api/v1/access/accounts?sourceId={id}"),
    ("GET", "/api/v1/access/accounts/export?sourceId={id}&format=csv"),
    ("GET", "/api/v1/access/grants?sourceId={id}"),
    ("GET", "/api/v1/access/grants/export?sourceId={id}&format=csv"),
    ("GET", "/api/v1/access/resources?sourceId={id}"),
    ("GET", "/api/v1/access/syncs/{id}/diff"),
    ("GET", "/api/v1/projects"),
    ("POST", "/api/v1/projects"),
    ("GET", "/api/v1/projects/{id}"),
    ("DELETE", "/api/v1/projects/{id}"),
    ("POST", "/api/v1/projects/{id}/environments"),
    ("PATCH", "/api/v1/projects/{id}/environments/{id}"),
    ("DELETE", "/api/v1/projects/{id}/environments/{id}"),
    ("GET", "/api/v3/secrets/raw?projectId={id}&environment=dev"),
    ("GET", "/api/v3/secrets/raw/{id}?projectId={id}&environment=dev"),
    ("POST", "/api/v3/secrets/raw/{id}"),
    ("PATCH", "/api/v3/secrets/raw/{id}"),
    (
        "DELETE",
        "/api/v3/secrets/raw/{id}?projectId={id}&environment=dev",
    ),
    (
        "GET",
        "/api/v3/secrets/raw/{id}/history?projectId={id}&environment=dev",
    ),
    ("POST", "/api/v3/secrets/raw/{id}/rollback"),
    ("POST", "/api/v3/secrets/batch/raw"),
    ("PATCH", "/api/v3/secrets/batch/raw"),
    ("DELETE", "/api/v3/secrets/batch/raw"),
    ("POST", "/api/v3/secrets/import"),
];

/// A route of [`ROUTES`] with `{id}` filled in.
pub fn concrete(path: &str, id: &str) -> String {
    path.replace("{id}", id)
}
