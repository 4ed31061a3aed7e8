-- App auth tokens expire (real ones after a year); NULL means the token never expires.
ALTER TABLE app_auth_tokens ADD COLUMN expires_at BIGINT;
