-- Secret syncs: a folder of secrets pushed into one GitLab project's or group's CI/CD variables.
-- `synced_variables` records which variables a sync wrote (its ownership), with an HMAC of the
-- value written under the tenant's hashing key: GitLab never shows hidden values again, so the
-- record is what tells an unchanged hidden variable from a changed one. `secret_sync_results`
-- holds the per-key outcome of each sync's last run.

CREATE TABLE secret_syncs (
    id                   TEXT PRIMARY KEY NOT NULL,
    tenant_id            TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    project_id           TEXT NOT NULL REFERENCES secret_projects (id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    description          TEXT,
    -- A sync cannot outlive its connection: deleting the connection deletes its syncs.
    connection_id        TEXT NOT NULL REFERENCES app_connections (id) ON DELETE CASCADE,
    environment          TEXT NOT NULL,
    secret_path          TEXT NOT NULL,
    is_auto_sync_enabled INTEGER NOT NULL,
    -- JSON: where and how variables are written, and how keys are treated.
    destination_config   TEXT NOT NULL,
    sync_options         TEXT NOT NULL,
    -- The GitLab instance and the numeric project or group id, so that syncs writing to the same
    -- place find each other's variables.
    destination_key      TEXT NOT NULL,
    sync_status          TEXT,
    last_sync_job_id     TEXT,
    last_sync_message    TEXT,
    last_synced_at       BIGINT,
    import_status        TEXT,
    last_import_job_id   TEXT,
    last_import_message  TEXT,
    last_imported_at     BIGINT,
    remove_status        TEXT,
    last_remove_job_id   TEXT,
    last_remove_message  TEXT,
    last_removed_at      BIGINT,
    version              INTEGER NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
CREATE UNIQUE INDEX secret_syncs_name ON secret_syncs (tenant_id, project_id, name);
CREATE INDEX secret_syncs_folder ON secret_syncs (tenant_id, project_id, environment, secret_path);
CREATE INDEX secret_syncs_connection ON secret_syncs (connection_id);

CREATE TABLE synced_variables (
    sync_id           TEXT NOT NULL REFERENCES secret_syncs (id) ON DELETE CASCADE,
    destination_key   TEXT NOT NULL,
    key               TEXT NOT NULL,
    environment_scope TEXT NOT NULL,
    value_hmac        TEXT NOT NULL,
    protected         INTEGER NOT NULL,
    masked            INTEGER NOT NULL,
    hidden            INTEGER NOT NULL,
    raw               INTEGER NOT NULL,
    variable_type     TEXT NOT NULL,
    description       TEXT,
    secret_version    BIGINT,
    written_at        BIGINT NOT NULL,
    PRIMARY KEY (sync_id, key, environment_scope)
);
CREATE INDEX synced_variables_destination ON synced_variables (destination_key, environment_scope, key);

CREATE TABLE secret_sync_results (
    sync_id     TEXT NOT NULL REFERENCES secret_syncs (id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    action      TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    reason      TEXT,
    job_id      TEXT,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (sync_id, key)
);
