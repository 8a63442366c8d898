-- Push webhooks of secret scanning data sources: the hooks labgate installed at GitLab (a group
-- hook, or one project hook per covered project) and the push events already received.
--
-- A hook row outlives its data source on purpose (no foreign key): when GitLab could not remove
-- the hook as the data source was deleted, the row stays in state `removing` until a retrying job
-- removes it, so no hook is ever forgotten while it still exists at GitLab.

CREATE TABLE scan_hooks (
    id              TEXT PRIMARY KEY NOT NULL,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    data_source_id  TEXT NOT NULL,
    connection_id   TEXT NOT NULL,
    -- project | group
    owner_kind      TEXT NOT NULL,
    gitlab_owner_id BIGINT NOT NULL,
    gitlab_hook_id  BIGINT NOT NULL,
    -- installed | removing
    state           TEXT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX scan_hooks_data_source ON scan_hooks (data_source_id);
CREATE INDEX scan_hooks_owner ON scan_hooks (owner_kind, state);

-- GitLab's X-Gitlab-Event-UUID of each push already accepted for a data source: a redelivery
-- is answered without a second scan. Rows expire.
CREATE TABLE scan_push_events (
    data_source_id TEXT NOT NULL REFERENCES scan_data_sources (id) ON DELETE CASCADE,
    event_uuid     TEXT NOT NULL,
    received_at    BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    PRIMARY KEY (data_source_id, event_uuid)
);
CREATE INDEX scan_push_events_expiry ON scan_push_events (expires_at);
