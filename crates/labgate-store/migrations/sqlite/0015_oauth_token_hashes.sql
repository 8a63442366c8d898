-- An OAuth connection's credentials_hash names its grant's identity, which survives refreshes,
-- so a leaked OAuth token would not match it. The HMACs (under the tenant's hashing key, as a
-- finding's value_hmac) of its current access and refresh tokens are kept beside it, replaced by
-- every refresh, so a scan recognises either token. NULL for access-token connections, whose
-- credentials_hash is already their token's HMAC.
ALTER TABLE app_connections ADD COLUMN access_token_hash TEXT;
ALTER TABLE app_connections ADD COLUMN refresh_token_hash TEXT;
CREATE INDEX app_connections_access_token_hash ON app_connections (tenant_id, access_token_hash);
CREATE INDEX app_connections_refresh_token_hash ON app_connections (tenant_id, refresh_token_hash);
