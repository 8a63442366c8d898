-- GitLab app connections (access-token now, OAuth later), their timeline, and the journal of
-- GitLab answers to rotations not yet applied. Tokens live in vault_items
-- (owner_table 'app_connections', field 'accessToken'); journalled answers are sealed in
-- token_journal.sealed_answer under the AAD (tenant, 'token_journal', id, 'answer').

CREATE TABLE app_connections (
    id                   TEXT PRIMARY KEY NOT NULL,
    tenant_id            TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    description          TEXT,
    app                  TEXT NOT NULL,
    -- 'access-token' or 'oauth'.
    method               TEXT NOT NULL,
    -- 'personal', 'project' or 'group' (access tokens); NULL for OAuth.
    access_token_type    TEXT,
    instance_url         TEXT NOT NULL,
    project_id           TEXT,
    credentials_hash     TEXT NOT NULL,
    status               TEXT NOT NULL,
    status_reason        TEXT,
    -- JSON array of scopes.
    scopes               TEXT NOT NULL,
    expires_at           BIGINT,
    token_name           TEXT,
    token_id             BIGINT,
    gitlab_user_id       BIGINT,
    gitlab_username      TEXT,
    gitlab_bot           INTEGER,
    -- 'project' or 'group' for resource tokens.
    resource_kind        TEXT,
    resource_id          BIGINT,
    resource_path        TEXT,
    access_level         INTEGER,
    -- JSON array of usages.
    usages               TEXT NOT NULL,
    auto_rotate          INTEGER NOT NULL,
    rotate_before_days   INTEGER NOT NULL,
    consecutive_failures INTEGER NOT NULL,
    -- OAuth: bumped by every refresh.
    refresh_generation   BIGINT NOT NULL,
    version              INTEGER NOT NULL,
    last_checked_at      BIGINT,
    last_rotated_at      BIGINT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
CREATE UNIQUE INDEX app_connections_tenant_name ON app_connections (tenant_id, name);
CREATE INDEX app_connections_tenant_created ON app_connections (tenant_id, created_at);
CREATE INDEX app_connections_hash ON app_connections (tenant_id, credentials_hash);

CREATE TABLE connection_events (
    id            TEXT PRIMARY KEY NOT NULL,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    connection_id TEXT NOT NULL REFERENCES app_connections (id) ON DELETE CASCADE,
    -- 'created', 'status_changed', 'recovered', 'rotated', 'credentials_updated'.
    kind          TEXT NOT NULL,
    from_status   TEXT,
    to_status     TEXT,
    reason        TEXT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX connection_events_connection ON connection_events (connection_id, created_at);
CREATE INDEX connection_events_created ON connection_events (created_at);

CREATE TABLE token_journal (
    id            TEXT PRIMARY KEY NOT NULL,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    connection_id TEXT NOT NULL REFERENCES app_connections (id) ON DELETE CASCADE,
    -- 'rotate' (later: 'refresh').
    operation     TEXT NOT NULL,
    -- 'pending' (request sent, no answer stored) or 'answered'.
    state         TEXT NOT NULL,
    sealed_answer BLOB,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
-- One operation in flight per connection: a second rotation cannot start while one is journalled.
CREATE UNIQUE INDEX token_journal_connection ON token_journal (connection_id);
