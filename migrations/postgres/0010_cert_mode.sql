-- Certificate mode: the sandbox CA (one row: its root key, the root bundle clients get as
-- alipayRootCert.crt, and the platform key's certificate), and each cert-mode app's
-- certificate and its SN (NULL: the app uses public-key mode).
CREATE TABLE sandbox_ca (
    id BIGINT PRIMARY KEY,
    root_key_pem TEXT NOT NULL,
    bundle_pem TEXT NOT NULL,
    platform_cert_pem TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
ALTER TABLE apps ADD COLUMN app_cert_sn TEXT;
ALTER TABLE apps ADD COLUMN app_cert_pem TEXT;
