-- GitLab instances a tenant connects to, with the OAuth application registered there. The
-- application's client secret lives in vault_items (owner_table 'gitlab_instances', field
-- 'oauthClientSecret').

CREATE TABLE gitlab_instances (
    id              TEXT PRIMARY KEY NOT NULL,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- Base URL, path prefix kept, no trailing slash.
    url             TEXT NOT NULL,
    -- 'gitlab.com' or 'self-managed'.
    kind            TEXT NOT NULL,
    oauth_client_id TEXT,
    -- Extra trusted CA certificates (PEM).
    ca_bundle       TEXT,
    proxy_url       TEXT,
    version         INTEGER NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX gitlab_instances_tenant_url ON gitlab_instances (tenant_id, url);
