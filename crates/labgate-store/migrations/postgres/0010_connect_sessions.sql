-- Connect sessions: an embedding application's backend asks for one with its API key, and its
-- page opens labgate's /connect with the token in a popup, which starts the OAuth flow in the
-- user's browser. The token itself is never stored, only its SHA-256 (hex); a session is single
-- use (used_at) and short-lived (expires_at). The popup reports the outcome to the embedding
-- page by postMessage, to allowed_origin only.
CREATE TABLE connect_sessions (
    id                 TEXT PRIMARY KEY NOT NULL,
    token_hash         TEXT NOT NULL,
    tenant_id          TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- The API key that asked for the session; the flow starts under it.
    api_key_id         TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    -- What the OAuth flow creates or reconnects, as on POST …/oauth/start.
    name               TEXT NOT NULL,
    description        TEXT,
    -- Space-separated GitLab scopes.
    scopes             TEXT NOT NULL,
    -- NULL: the default instance of the settings.
    instance_url       TEXT,
    external_tenant_id TEXT,
    external_user_id   TEXT,
    -- The embedding page's origin (scheme, host and port), the only target of the popup's messages.
    allowed_origin     TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    used_at            BIGINT
);
CREATE UNIQUE INDEX connect_sessions_token_hash_unique ON connect_sessions (token_hash);
CREATE INDEX connect_sessions_expires ON connect_sessions (expires_at);
