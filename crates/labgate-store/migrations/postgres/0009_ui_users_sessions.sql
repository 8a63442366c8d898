-- People who log in to the web UI, and their sessions.
-- Emails are stored lowercased, so the unique index makes them unique case-insensitively across
-- the installation: one login names one tenant. Passwords are argon2id PHC strings.
CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_login_at BIGINT
);
CREATE UNIQUE INDEX users_email_unique ON users (email);
CREATE INDEX users_tenant ON users (tenant_id, created_at);

-- A session is found by the SHA-256 of its random token; the token itself lives only in the
-- browser's cookie. Expiry is fixed at login; last_seen_at is written at most once a minute.
CREATE TABLE ui_sessions (
    token_hash   BYTEA PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX ui_sessions_user ON ui_sessions (user_id);
CREATE INDEX ui_sessions_expires ON ui_sessions (expires_at);
