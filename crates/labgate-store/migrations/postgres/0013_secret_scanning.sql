-- Secret scanning: GitLab data sources (one project, or a group with every subgroup's projects),
-- the repositories each one found (resources), scan runs, and findings with their locations.
-- A finding is one secret value under one rule in a tenant: the same value found again (another
-- scan, another repository, another commit) adds a location, never a second finding. The value
-- itself is never stored: only its HMAC under the tenant's hashing key and a redacted preview.
-- A data source's push-webhook secret is sealed in `vault_items`.

CREATE TABLE scan_data_sources (
    id                   TEXT PRIMARY KEY NOT NULL,
    tenant_id            TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    description          TEXT,
    -- A connection that data sources scan through cannot be deleted: their scans would stop.
    connection_id        TEXT NOT NULL REFERENCES app_connections (id),
    -- JSON: scope (project | group), projectId | groupId, includeProjects.
    config               TEXT NOT NULL,
    is_auto_scan_enabled INTEGER NOT NULL,
    version              INTEGER NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
CREATE UNIQUE INDEX scan_data_sources_name ON scan_data_sources (tenant_id, name);
CREATE INDEX scan_data_sources_connection ON scan_data_sources (connection_id);

CREATE TABLE scan_resources (
    id                TEXT PRIMARY KEY NOT NULL,
    data_source_id    TEXT NOT NULL REFERENCES scan_data_sources (id) ON DELETE CASCADE,
    gitlab_project_id BIGINT NOT NULL,
    path              TEXT NOT NULL,
    web_url           TEXT NOT NULL,
    default_branch    TEXT,
    last_scanned_at   BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE UNIQUE INDEX scan_resources_project ON scan_resources (data_source_id, gitlab_project_id);

CREATE TABLE scan_runs (
    id              TEXT PRIMARY KEY NOT NULL,
    data_source_id  TEXT NOT NULL REFERENCES scan_data_sources (id) ON DELETE CASCADE,
    resource_id     TEXT REFERENCES scan_resources (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL,
    progress_done   BIGINT NOT NULL,
    progress_total  BIGINT,
    progress_phase  TEXT,
    findings_new    BIGINT NOT NULL,
    findings_total  BIGINT NOT NULL,
    error           TEXT,
    job_id          TEXT,
    created_at      BIGINT NOT NULL,
    started_at      BIGINT,
    finished_at     BIGINT
);
CREATE INDEX scan_runs_data_source ON scan_runs (data_source_id, created_at);

CREATE TABLE findings (
    id              TEXT PRIMARY KEY NOT NULL,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    rule_id         TEXT NOT NULL,
    rule_name       TEXT NOT NULL,
    severity        TEXT NOT NULL,
    value_hmac      TEXT NOT NULL,
    preview         TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    status          TEXT NOT NULL,
    remarks         TEXT,
    verification    TEXT NOT NULL,
    verified_at     BIGINT,
    first_seen_at   BIGINT NOT NULL,
    last_seen_at    BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX findings_value ON findings (tenant_id, rule_id, value_hmac);
CREATE INDEX findings_status ON findings (tenant_id, status);

CREATE TABLE finding_locations (
    finding_id     TEXT NOT NULL REFERENCES findings (id) ON DELETE CASCADE,
    resource_id    TEXT NOT NULL REFERENCES scan_resources (id) ON DELETE CASCADE,
    file_path      TEXT NOT NULL,
    commit_sha     TEXT NOT NULL,
    line           BIGINT NOT NULL,
    author_name    TEXT,
    author_email   TEXT,
    committed_at   BIGINT,
    link           TEXT NOT NULL,
    scan_run_id    TEXT,
    first_seen_at  BIGINT NOT NULL,
    PRIMARY KEY (finding_id, resource_id, file_path, commit_sha, line)
);
CREATE INDEX finding_locations_resource ON finding_locations (resource_id);
