-- Access sync: GitLab access sources (a whole self-managed instance, or one top-level group), their
-- sync runs with progress and a log, and one snapshot per run of what GitLab said (accounts,
-- groups, projects, direct memberships, shares) with the effective grants labgate computed from
-- it. A run's snapshot is immutable once the run ends: diffs compare two runs' rows.
-- Dates (expiry, last activity) are milliseconds at 00:00 UTC of the day, like every other time.

CREATE TABLE access_sources (
    id               TEXT PRIMARY KEY NOT NULL,
    tenant_id        TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    -- A connection that sources sync through cannot be deleted: their syncs would stop.
    connection_id    TEXT NOT NULL REFERENCES app_connections (id),
    scope_kind       TEXT NOT NULL,
    scope_full_path  TEXT,
    status           TEXT NOT NULL,
    last_run_id      TEXT,
    version          INTEGER NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE UNIQUE INDEX access_sources_name ON access_sources (tenant_id, name);
CREATE INDEX access_sources_connection ON access_sources (connection_id);

CREATE TABLE access_sync_runs (
    id              TEXT PRIMARY KEY NOT NULL,
    source_id       TEXT NOT NULL REFERENCES access_sources (id) ON DELETE CASCADE,
    status          TEXT NOT NULL,
    progress_phase  TEXT,
    progress_done   BIGINT NOT NULL,
    progress_total  BIGINT,
    request_count   BIGINT NOT NULL,
    error           TEXT,
    job_id          TEXT,
    created_at      BIGINT NOT NULL,
    started_at      BIGINT,
    finished_at     BIGINT
);
CREATE INDEX access_sync_runs_source ON access_sync_runs (source_id, created_at);

CREATE TABLE access_sync_log (
    run_id   TEXT NOT NULL REFERENCES access_sync_runs (id) ON DELETE CASCADE,
    seq      BIGINT NOT NULL,
    at       BIGINT NOT NULL,
    level    TEXT NOT NULL,
    message  TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE access_accounts (
    run_id            TEXT NOT NULL REFERENCES access_sync_runs (id) ON DELETE CASCADE,
    gitlab_user_id    BIGINT NOT NULL,
    username          TEXT NOT NULL,
    name              TEXT NOT NULL,
    kind              TEXT NOT NULL,
    state             TEXT NOT NULL,
    -- NULL where the token cannot see it (only administrators see the admin flag and e-mail).
    is_admin          INTEGER,
    email             TEXT,
    -- JSON array of {provider, externUid}.
    identities        TEXT NOT NULL,
    last_sign_in_at   BIGINT,
    last_activity_on  BIGINT,
    PRIMARY KEY (run_id, gitlab_user_id)
);
CREATE INDEX access_accounts_username ON access_accounts (run_id, username);

CREATE TABLE access_groups (
    run_id           TEXT NOT NULL REFERENCES access_sync_runs (id) ON DELETE CASCADE,
    gitlab_group_id  BIGINT NOT NULL,
    parent_id        BIGINT,
    full_path        TEXT NOT NULL,
    name             TEXT NOT NULL,
    visibility       TEXT NOT NULL,
    PRIMARY KEY (run_id, gitlab_group_id)
);

CREATE TABLE access_projects (
    run_id             TEXT NOT NULL REFERENCES access_sync_runs (id) ON DELETE CASCADE,
    gitlab_project_id  BIGINT NOT NULL,
    group_id           BIGINT,
    full_path          TEXT NOT NULL,
    name               TEXT NOT NULL,
    visibility         TEXT NOT NULL,
    PRIMARY KEY (run_id, gitlab_project_id)
);

CREATE TABLE access_memberships (
    run_id            TEXT NOT NULL REFERENCES access_sync_runs (id) ON DELETE CASCADE,
    gitlab_user_id    BIGINT NOT NULL,
    resource_kind     TEXT NOT NULL,
    resource_id       BIGINT NOT NULL,
    access_level      INTEGER NOT NULL,
    member_role_id    BIGINT,
    member_role_name  TEXT,
    expires_at        BIGINT,
    PRIMARY KEY (run_id, gitlab_user_id, resource_kind, resource_id)
);

CREATE TABLE access_shares (
    run_id                TEXT NOT NULL REFERENCES access_sync_runs (id) ON DELETE CASCADE,
    resource_kind         TEXT NOT NULL,
    resource_id           BIGINT NOT NULL,
    shared_with_group_id  BIGINT NOT NULL,
    access_level          INTEGER NOT NULL,
    expires_at            BIGINT,
    PRIMARY KEY (run_id, resource_kind, resource_id, shared_with_group_id)
);

CREATE TABLE access_grants (
    run_id            TEXT NOT NULL REFERENCES access_sync_runs (id) ON DELETE CASCADE,
    gitlab_user_id    BIGINT NOT NULL,
    resource_kind     TEXT NOT NULL,
    resource_id       BIGINT NOT NULL,
    access_level      INTEGER NOT NULL,
    member_role_id    BIGINT,
    member_role_name  TEXT,
    path_kind         TEXT NOT NULL,
    via_group_id      BIGINT,
    shared_at_kind    TEXT,
    shared_at_id      BIGINT,
    capped_at         INTEGER,
    expires_at        BIGINT,
    PRIMARY KEY (run_id, gitlab_user_id, resource_kind, resource_id)
);
CREATE INDEX access_grants_resource ON access_grants (run_id, resource_kind, resource_id);
