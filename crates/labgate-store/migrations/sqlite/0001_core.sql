-- Core tables: tenants, API keys, the job queue and the audit log.
-- Times are milliseconds since the Unix epoch (UTC) in both backends.

CREATE TABLE tenants (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX tenants_name_unique ON tenants (name);

-- Each row holds one generation of a tenant's keys, wrapped by a root key: the data key (DEK)
-- and the hashing key (the same in every generation). Values name the DEK that sealed them, so
-- retired generations keep opening old values until they have been re-encrypted.
CREATE TABLE tenant_keys (
    tenant_id        TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id               TEXT NOT NULL,
    wrapped_data_key BLOB NOT NULL,
    wrapped_hash_key BLOB NOT NULL,
    root_key_id      TEXT NOT NULL,
    state            TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    retired_at       BIGINT,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX tenant_keys_one_active ON tenant_keys (tenant_id) WHERE state = 'active';
CREATE INDEX tenant_keys_root_key ON tenant_keys (root_key_id);

-- Every secret labgate holds, sealed under its tenant's data key and bound (AAD) to the owning
-- row and field. Owners (connections, webhooks, instances) point here instead of carrying
-- ciphertext themselves, so re-encryption under a new data key is one sweep over one table.
CREATE TABLE vault_items (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    owner_table TEXT NOT NULL,
    owner_id    TEXT NOT NULL,
    field       TEXT NOT NULL,
    sealed      BLOB NOT NULL,
    data_key_id TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, owner_table, owner_id, field)
);
CREATE INDEX vault_items_data_key ON vault_items (tenant_id, data_key_id);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    token_hash   BLOB NOT NULL,
    role         TEXT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT,
    created_by   TEXT,
    created_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX api_keys_token_hash_unique ON api_keys (token_hash);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);

CREATE TABLE jobs (
    id               TEXT PRIMARY KEY NOT NULL,
    tenant_id        TEXT REFERENCES tenants (id) ON DELETE CASCADE,
    kind             TEXT NOT NULL,
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL,
    run_at           BIGINT NOT NULL,
    attempts         INTEGER NOT NULL,
    max_attempts     INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    dedupe_key       TEXT,
    progress_done    BIGINT NOT NULL,
    progress_total   BIGINT,
    progress_phase   TEXT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    finished_at      BIGINT
);
-- A dedupe key is unique among live jobs only, so a recurring job can be scheduled again once done.
CREATE UNIQUE INDEX jobs_dedupe_live ON jobs (dedupe_key)
    WHERE dedupe_key IS NOT NULL AND state IN ('queued', 'running');
CREATE INDEX jobs_claim ON jobs (state, run_at);
CREATE INDEX jobs_tenant ON jobs (tenant_id, created_at);
CREATE INDEX jobs_finished ON jobs (finished_at);

CREATE TABLE audit_log (
    id            TEXT PRIMARY KEY NOT NULL,
    tenant_id     TEXT REFERENCES tenants (id) ON DELETE CASCADE,
    actor_kind    TEXT NOT NULL,
    actor_id      TEXT,
    action        TEXT NOT NULL,
    resource_kind TEXT NOT NULL,
    resource_id   TEXT,
    source_ip     TEXT,
    details       TEXT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, created_at);
CREATE INDEX audit_log_created ON audit_log (created_at);
