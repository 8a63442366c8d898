-- labgate's own secrets: projects hold environments, an environment holds folders (paths, which
-- exist only through the secrets in them) and a folder holds secrets. Every version of a secret
-- is a row of secret_versions, whose value is sealed in vault_items (owner_table
-- 'secret_versions', owner_id the version's id, field 'value'); the current value is the one of
-- the version the secret row names. History goes with its secret: deleting a secret deletes its
-- versions (and their sealed values, which the store removes in the same transaction).
CREATE TABLE secret_projects (
    id         TEXT PRIMARY KEY NOT NULL,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    slug       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX secret_projects_slug_unique ON secret_projects (tenant_id, slug);

CREATE TABLE secret_environments (
    id         TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES secret_projects (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    slug       TEXT NOT NULL,
    position   INTEGER NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX secret_environments_slug_unique ON secret_environments (project_id, slug);

-- path is normalised: '/' or '/a/b' (no trailing slash). tags is a JSON array of tag slugs.
CREATE TABLE secrets (
    id             TEXT PRIMARY KEY NOT NULL,
    tenant_id      TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    project_id     TEXT NOT NULL REFERENCES secret_projects (id) ON DELETE CASCADE,
    environment_id TEXT NOT NULL REFERENCES secret_environments (id) ON DELETE CASCADE,
    path           TEXT NOT NULL,
    secret_key     TEXT NOT NULL,
    comment        TEXT NOT NULL,
    tags           TEXT NOT NULL,
    version        INTEGER NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE UNIQUE INDEX secrets_key_unique ON secrets (environment_id, path, secret_key);
CREATE INDEX secrets_project ON secrets (tenant_id, project_id);

-- One row per version; secret_key is the key the secret had then (a rename makes a version).
CREATE TABLE secret_versions (
    id         TEXT PRIMARY KEY NOT NULL,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    secret_id  TEXT NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    secret_key TEXT NOT NULL,
    comment    TEXT NOT NULL,
    tags       TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id   TEXT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX secret_versions_unique ON secret_versions (secret_id, version);
