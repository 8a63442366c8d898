-- Access provisioning: operations (create an account, grant, revoke, deprovision) on a source's
-- GitLab, each journalled step by step. The plan is written before GitLab is called; a step is
-- marked started before its call and applied after it, so an interrupted operation shows exactly
-- which steps ran, and resuming it checks a started step at GitLab instead of repeating it.
-- No secret is ever stored here: a generated password lives only for the call that sends it.

CREATE TABLE access_provisioning_operations (
    id               TEXT PRIMARY KEY NOT NULL,
    tenant_id        TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    source_id        TEXT NOT NULL REFERENCES access_sources (id) ON DELETE CASCADE,
    action           TEXT NOT NULL,
    dry_run          INTEGER NOT NULL,
    status           TEXT NOT NULL,
    -- JSON: the request as labgate understood it (account, resource, level, chosen steps).
    request          TEXT NOT NULL,
    account_user_id  BIGINT,
    account_username TEXT,
    message          TEXT,
    actor_kind       TEXT NOT NULL,
    actor_id         TEXT,
    -- While an operation runs, the process running it holds it until this time.
    lease_expires_at BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    finished_at      BIGINT
);
CREATE INDEX access_provisioning_operations_source ON access_provisioning_operations (tenant_id, source_id, created_at);

CREATE TABLE access_provisioning_steps (
    operation_id  TEXT NOT NULL REFERENCES access_provisioning_operations (id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    name          TEXT NOT NULL,
    -- What the step acts on, for people ("group acme/platform", "token 12 ci").
    target        TEXT,
    -- JSON: the GitLab call the step makes, so a resumed operation makes exactly the planned call.
    call          TEXT,
    status        TEXT NOT NULL,
    message       TEXT NOT NULL,
    started_at    BIGINT,
    finished_at   BIGINT,
    PRIMARY KEY (operation_id, seq)
);
