-- Incremental access sync: the webhooks labgate installs at GitLab for an access source (a system
-- hook for a whole instance, a group hook with member events for a group), the secret they
-- present, the events already received, and the resources those events said changed, kept until
-- a sync run re-reads them.
--
-- A hook row outlives its source on purpose (no foreign key): when GitLab could not remove the
-- hook as the source was deleted, the row stays in state `removing` until it is removed, so no
-- hook is forgotten while it may still exist at GitLab.

CREATE TABLE access_hooks (
    id              TEXT PRIMARY KEY NOT NULL,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    source_id       TEXT NOT NULL,
    connection_id   TEXT NOT NULL,
    -- instance | group
    owner_kind      TEXT NOT NULL,
    -- The group's id; NULL for a system hook.
    gitlab_owner_id BIGINT,
    gitlab_hook_id  BIGINT NOT NULL,
    -- installed | removing
    state           TEXT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX access_hooks_source ON access_hooks (source_id);

-- One per source: the random secret its hooks present (sealed under the tenant's key, bound to
-- the source), its SHA-256 to find the source by, and how changes reach labgate: `hooks`, or
-- `sweeps` when GitLab refused the hook (group hooks need a paid tier) and only periodic full
-- syncs see changes.
CREATE TABLE access_hook_secrets (
    source_id     TEXT PRIMARY KEY NOT NULL REFERENCES access_sources (id) ON DELETE CASCADE,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    token_sealed  BLOB NOT NULL,
    token_digest  TEXT NOT NULL,
    delivery      TEXT NOT NULL,
    note          TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX access_hook_secrets_digest ON access_hook_secrets (token_digest);

-- GitLab's X-Gitlab-Event-UUID of each event already accepted for a source: a redelivery is
-- answered without queuing anything twice. Rows expire.
CREATE TABLE access_hook_events (
    source_id   TEXT NOT NULL REFERENCES access_sources (id) ON DELETE CASCADE,
    event_uuid  TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (source_id, event_uuid)
);
CREATE INDEX access_hook_events_expiry ON access_hook_events (expires_at);

-- What events said changed and no sync run has re-read yet: a group, a project or an account
-- (by GitLab id). A run that re-reads them deletes the rows it covered.
CREATE TABLE access_pending_targets (
    source_id     TEXT NOT NULL REFERENCES access_sources (id) ON DELETE CASCADE,
    target_kind   TEXT NOT NULL,
    gitlab_id     BIGINT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    PRIMARY KEY (source_id, target_kind, gitlab_id)
);
