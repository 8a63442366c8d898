-- OAuth connections. A connection authorised through OAuth keeps its access token in
-- vault_items (field 'accessToken', as access-token connections do) and its refresh token beside
-- it (field 'refreshToken').

-- The GitLab instance (and so the OAuth application) the connection was authorised through;
-- NULL: the default instance of the settings.
ALTER TABLE app_connections ADD COLUMN instance_id TEXT;
-- Labels an embedding application gives the connection at the start of the flow, to ask for its
-- credential by (tenantId, userId) later.
ALTER TABLE app_connections ADD COLUMN external_tenant_id TEXT;
ALTER TABLE app_connections ADD COLUMN external_user_id TEXT;
-- labgate's clock when GitLab's current access token arrived (its lifetime is expires_at minus this).
ALTER TABLE app_connections ADD COLUMN token_issued_at BIGINT;
-- When the proactive refresh is due.
ALTER TABLE app_connections ADD COLUMN next_refresh_at BIGINT;
-- One refresh at a time per connection, across processes: the lease's holder and its end.
ALTER TABLE app_connections ADD COLUMN refresh_lease_owner TEXT;
ALTER TABLE app_connections ADD COLUMN refresh_lease_expires_at BIGINT;
CREATE UNIQUE INDEX app_connections_external ON app_connections (tenant_id, external_tenant_id, external_user_id);
CREATE INDEX app_connections_next_refresh ON app_connections (next_refresh_at);

-- Authorisation flows under way. The state itself is never stored, only its SHA-256; the PKCE
-- verifier is sealed under the AAD (tenant, 'oauth_states', state_hash, 'verifier').
CREATE TABLE oauth_states (
    state_hash      TEXT PRIMARY KEY NOT NULL,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- NULL: the default instance of the settings.
    instance_id     TEXT,
    -- JSON: what the flow creates or reconnects, and who started it.
    request         TEXT NOT NULL,
    sealed_verifier BLOB NOT NULL,
    -- SHA-256 of the browser-binding cookie, when the flow started in a browser.
    browser_binding TEXT,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT
);
CREATE INDEX oauth_states_expires ON oauth_states (expires_at);
