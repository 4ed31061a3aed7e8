-- The ISV token flow: the one-time authorization codes a merchant's consent gives an ISV app,
-- refresh tokens, the methods a merchant authorised (NULL: all), and tokens a refresh replaced.
CREATE TABLE app_auth_codes (
    code TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps (app_id),
    merchant_pid TEXT NOT NULL REFERENCES merchants (pid),
    methods TEXT,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL
);
ALTER TABLE app_auth_tokens ADD COLUMN refresh_token TEXT;
ALTER TABLE app_auth_tokens ADD COLUMN refresh_expires_at BIGINT;
ALTER TABLE app_auth_tokens ADD COLUMN methods TEXT;
ALTER TABLE app_auth_tokens ADD COLUMN revoked_at BIGINT;
CREATE UNIQUE INDEX app_auth_tokens_refresh ON app_auth_tokens (refresh_token);
