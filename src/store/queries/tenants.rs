//! Tenants: the platform key, merchants, apps, shops and app auth tokens.

use sqlx::FromRow;

use super::{Conn, StoreError, inserted};

/// A registered app.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct AppRecord {
    pub app_id: String,
    pub merchant_pid: String,
    pub public_key_pem: String,
    pub sign_type: String,
    pub charset: String,
    pub notify_url: Option<String>,
    /// Its key for the sign type other than `sign_type`, if it has one.
    pub other_public_key_pem: Option<String>,
    /// Its AES content-encryption key (base64), if it has one.
    pub aes_key: Option<String>,
    /// Certificate mode: the SN of its certificate (what its calls' `app_cert_sn` must be).
    pub app_cert_sn: Option<String>,
}

impl AppRecord {
    /// The public key calls signed with `sign_type` are verified with, if the app has one.
    pub fn key_for(&self, sign_type: crate::alipay::SignType) -> Option<&str> {
        if sign_type.name() == self.sign_type {
            Some(&self.public_key_pem)
        } else {
            self.other_public_key_pem.as_deref()
        }
    }
}

pub(in crate::store) const SELECT_APP: &str = "SELECT app_id, merchant_pid, public_key_pem, sign_type, charset, notify_url, other_public_key_pem, aes_key, app_cert_sn \
                   FROM apps WHERE app_id = $1";
pub(in crate::store) const SELECT_MERCHANT_APPS: &str = "SELECT app_id, merchant_pid, public_key_pem, sign_type, charset, notify_url, other_public_key_pem, aes_key, app_cert_sn \
                   FROM apps WHERE merchant_pid = $1 ORDER BY app_id LIMIT 16";
pub(in crate::store) const SELECT_SHOP_NAME: &str =
    "SELECT name FROM shops WHERE merchant_pid = $1 AND shop_id = $2";
pub(in crate::store) const SELECT_TOKEN: &str = "SELECT merchant_pid, expires_at, methods, revoked_at FROM app_auth_tokens \
     WHERE token = $1 AND app_id = $2";

/// What an app auth token grants: acting for a merchant, until it expires, for some methods.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct Grant {
    pub merchant_pid: String,
    pub expires_at: Option<i64>,
    /// The methods the merchant authorised, comma-separated; `None`: every method.
    pub methods: Option<String>,
    /// When a refresh replaced it.
    pub revoked_at: Option<i64>,
}

impl Grant {
    /// Whether the grant covers `method`.
    pub fn allows(&self, method: &str) -> bool {
        self.methods
            .as_deref()
            .is_none_or(|list| list.split(',').any(|m| m == method))
    }
}

/// A token as `alipay.open.auth.token.app.query` and a refresh see it.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct TokenRow {
    pub token: String,
    pub app_id: String,
    pub merchant_pid: String,
    pub expires_at: Option<i64>,
    pub refresh_token: Option<String>,
    pub refresh_expires_at: Option<i64>,
    pub methods: Option<String>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
}

/// A one-time authorization code.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct CodeRow {
    pub code: String,
    pub app_id: String,
    pub merchant_pid: String,
    pub methods: Option<String>,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

const TOKEN_COLUMNS: &str = "token, app_id, merchant_pid, expires_at, refresh_token, refresh_expires_at, methods, revoked_at, created_at";

/// An app from a row of `SELECT_APP`, read by the synchronous SQLite path.
pub(in crate::store) fn app_from_rusqlite(row: &rusqlite::Row) -> rusqlite::Result<AppRecord> {
    Ok(AppRecord {
        app_id: row.get("app_id")?,
        merchant_pid: row.get("merchant_pid")?,
        public_key_pem: row.get("public_key_pem")?,
        sign_type: row.get("sign_type")?,
        charset: row.get("charset")?,
        notify_url: row.get("notify_url")?,
        other_public_key_pem: row.get("other_public_key_pem")?,
        aes_key: row.get("aes_key")?,
        app_cert_sn: row.get("app_cert_sn")?,
    })
}

impl Conn<'_> {
    // ---- platform key ------------------------------------------------------------------

    pub async fn platform_key(&mut self) -> Result<Option<(String, String)>, StoreError> {
        let sql = "SELECT private_key_pem, public_key_pem FROM platform_keys WHERE id = 1";
        Ok(on!(self, |c| sqlx::query_as(sql)
            .fetch_optional(&mut **c)
            .await)?)
    }

    pub async fn insert_platform_key(
        &mut self,
        private: &str,
        public: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO platform_keys (id, private_key_pem, public_key_pem, created_at) \
                   VALUES (1, $1, $2, $3) ON CONFLICT DO NOTHING";
        let done = execute!(self, sqlx::query(sql).bind(private).bind(public).bind(now))?;
        Ok(done == 1)
    }

    // ---- merchants, apps, shops, tokens ----------------------------------------------

    pub async fn any_merchant(&mut self) -> Result<bool, StoreError> {
        let sql = "SELECT pid FROM merchants LIMIT 1";
        let row: Option<(String,)> =
            on!(self, |c| sqlx::query_as(sql).fetch_optional(&mut **c).await)?;
        Ok(row.is_some())
    }

    pub async fn merchant_exists(&mut self, pid: &str) -> Result<bool, StoreError> {
        let sql = "SELECT pid FROM merchants WHERE pid = $1";
        let row: Option<(String,)> = on!(self, |c| sqlx::query_as(sql)
            .bind(pid)
            .fetch_optional(&mut **c)
            .await)?;
        Ok(row.is_some())
    }

    pub async fn insert_merchant(
        &mut self,
        pid: &str,
        name: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO merchants (pid, name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
        let done = execute!(self, sqlx::query(sql).bind(pid).bind(name).bind(now))?;
        Ok(done == 1)
    }

    pub async fn app(&mut self, app_id: &str) -> Result<Option<AppRecord>, StoreError> {
        let sql = SELECT_APP;
        Ok(on!(self, |c| sqlx::query_as(sql)
            .bind(app_id)
            .fetch_optional(&mut **c)
            .await)?)
    }

    pub async fn insert_app(&mut self, app: &AppRecord, now: i64) -> Result<bool, StoreError> {
        let sql = "INSERT INTO apps (app_id, merchant_pid, public_key_pem, sign_type, charset, notify_url, created_at, \
                   other_public_key_pem, aes_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING";
        let done = execute!(
            self,
            sqlx::query(sql)
                .bind(&app.app_id)
                .bind(&app.merchant_pid)
                .bind(&app.public_key_pem)
                .bind(&app.sign_type)
                .bind(&app.charset)
                .bind(&app.notify_url)
                .bind(now)
                .bind(&app.other_public_key_pem)
                .bind(&app.aes_key)
        )?;
        Ok(done == 1)
    }

    /// Replaces an app's public key for its own sign type (`other: false`) or the other one
    /// (`other: true`; `None` removes it); answers whether the app exists.
    pub async fn set_app_key(
        &mut self,
        app_id: &str,
        public_key_pem: Option<&str>,
        other: bool,
    ) -> Result<bool, StoreError> {
        let sql = if other {
            "UPDATE apps SET other_public_key_pem = $1 WHERE app_id = $2"
        } else {
            "UPDATE apps SET public_key_pem = $1 WHERE app_id = $2"
        };
        let done = execute!(self, sqlx::query(sql).bind(public_key_pem).bind(app_id))?;
        Ok(done == 1)
    }

    /// Puts an app in certificate mode with this certificate (or, `None`, back in public-key
    /// mode); answers whether the app exists.
    pub async fn set_app_cert(
        &mut self,
        app_id: &str,
        cert: Option<(&str, &str)>,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE apps SET app_cert_sn = $1, app_cert_pem = $2 WHERE app_id = $3";
        let done = execute!(
            self,
            sqlx::query(sql)
                .bind(cert.map(|c| c.0))
                .bind(cert.map(|c| c.1))
                .bind(app_id)
        )?;
        Ok(done == 1)
    }

    /// The sandbox CA, if one was made.
    pub async fn sandbox_ca(
        &mut self,
    ) -> Result<Option<crate::alipay::certs::StoredCa>, StoreError> {
        let sql = "SELECT root_key_pem, bundle_pem, platform_cert_pem FROM sandbox_ca WHERE id = 1";
        let row: Option<(String, String, String)> =
            on!(self, |c| sqlx::query_as(sql).fetch_optional(&mut **c).await)?;
        Ok(row.map(|(root_key_pem, bundle_pem, platform_cert_pem)| {
            crate::alipay::certs::StoredCa {
                root_key_pem,
                bundle_pem,
                platform_cert_pem,
            }
        }))
    }

    /// Stores the sandbox CA unless one is stored already.
    pub async fn insert_sandbox_ca(
        &mut self,
        ca: &crate::alipay::certs::StoredCa,
        now: i64,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO sandbox_ca (id, root_key_pem, bundle_pem, platform_cert_pem, created_at) \
                   VALUES (1, $1, $2, $3, $4) ON CONFLICT DO NOTHING";
        execute!(
            self,
            sqlx::query(sql)
                .bind(&ca.root_key_pem)
                .bind(&ca.bundle_pem)
                .bind(&ca.platform_cert_pem)
                .bind(now)
        )?;
        Ok(())
    }

    /// Sets or removes an app's AES key; answers whether the app exists.
    pub async fn set_app_aes_key(
        &mut self,
        app_id: &str,
        aes_key: Option<&str>,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE apps SET aes_key = $1 WHERE app_id = $2";
        let done = execute!(self, sqlx::query(sql).bind(aes_key).bind(app_id))?;
        Ok(done == 1)
    }

    /// A merchant's apps (at most 16), in id order.
    pub async fn merchant_apps(
        &mut self,
        merchant_pid: &str,
    ) -> Result<Vec<AppRecord>, StoreError> {
        let sql = SELECT_MERCHANT_APPS;
        Ok(on!(self, |c| sqlx::query_as(sql)
            .bind(merchant_pid)
            .fetch_all(&mut **c)
            .await)?)
    }

    /// The name of the merchant's shop, if it has one with that id.
    pub async fn shop_name(
        &mut self,
        merchant_pid: &str,
        shop_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let sql = SELECT_SHOP_NAME;
        let row: Option<(String,)> = on!(self, |c| sqlx::query_as(sql)
            .bind(merchant_pid)
            .bind(shop_id)
            .fetch_optional(&mut **c)
            .await)?;
        Ok(row.map(|r| r.0))
    }

    /// The facts of the merchant's shop `shop_id`: its name, and whether the store has it.
    pub(in crate::store) async fn shop(
        &mut self,
        merchant_pid: &str,
        shop_id: &str,
    ) -> Result<crate::ledger::ShopFacts, StoreError> {
        let name = self.shop_name(merchant_pid, shop_id).await?;
        Ok(crate::ledger::ShopFacts::named(shop_id, name))
    }

    pub async fn insert_shop(
        &mut self,
        merchant_pid: &str,
        shop_id: &str,
        name: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO shops (merchant_pid, shop_id, name, created_at) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT DO NOTHING";
        let done = execute!(
            self,
            sqlx::query(sql)
                .bind(merchant_pid)
                .bind(shop_id)
                .bind(name)
                .bind(now)
        )?;
        Ok(done == 1)
    }

    /// What an app auth token grants `app_id`.
    pub async fn token_grant(
        &mut self,
        token: &str,
        app_id: &str,
    ) -> Result<Option<Grant>, StoreError> {
        let sql = SELECT_TOKEN;
        Ok(on!(self, |c| sqlx::query_as(sql)
            .bind(token)
            .bind(app_id)
            .fetch_optional(&mut **c)
            .await)?)
    }

    pub async fn insert_token(&mut self, t: &TokenRow) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO app_auth_tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING"
        );
        let done = execute!(
            self,
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(&t.token)
                .bind(&t.app_id)
                .bind(&t.merchant_pid)
                .bind(t.expires_at)
                .bind(&t.refresh_token)
                .bind(t.refresh_expires_at)
                .bind(&t.methods)
                .bind(t.revoked_at)
                .bind(t.created_at)
        )?;
        inserted(done, "app_auth_tokens.token")
    }

    /// A token of `app_id`, by the token or by its refresh token.
    pub async fn token_row(
        &mut self,
        app_id: &str,
        token: Option<&str>,
        refresh_token: Option<&str>,
    ) -> Result<Option<TokenRow>, StoreError> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM app_auth_tokens WHERE app_id = $1 AND \
             (token = $2 OR refresh_token = $3)"
        );
        Ok(on!(self, |c| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(app_id)
        .bind(token.unwrap_or(""))
        .bind(refresh_token.unwrap_or(""))
        .fetch_optional(&mut **c)
        .await)?)
    }

    /// Marks a token replaced; false when it already was (a concurrent refresh won).
    pub async fn revoke_token(&mut self, token: &str, now: i64) -> Result<bool, StoreError> {
        let sql =
            "UPDATE app_auth_tokens SET revoked_at = $1 WHERE token = $2 AND revoked_at IS NULL";
        Ok(execute!(self, sqlx::query(sql).bind(now).bind(token))? == 1)
    }

    pub async fn insert_auth_code(&mut self, c: &CodeRow, now: i64) -> Result<(), StoreError> {
        let sql = "INSERT INTO app_auth_codes (code, app_id, merchant_pid, methods, expires_at, used_at, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";
        let done = execute!(
            self,
            sqlx::query(sql)
                .bind(&c.code)
                .bind(&c.app_id)
                .bind(&c.merchant_pid)
                .bind(&c.methods)
                .bind(c.expires_at)
                .bind(c.used_at)
                .bind(now)
        )?;
        inserted(done, "app_auth_codes.code")
    }

    /// Spends a code of `app_id` that is unused and unexpired at `now`; `None` otherwise.
    pub async fn spend_auth_code(
        &mut self,
        code: &str,
        app_id: &str,
        now: i64,
    ) -> Result<Option<CodeRow>, StoreError> {
        let sql = "UPDATE app_auth_codes SET used_at = $1 WHERE code = $2 AND app_id = $3 \
                   AND used_at IS NULL AND expires_at > $1 \
                   RETURNING code, app_id, merchant_pid, methods, expires_at, used_at";
        Ok(on!(self, |c| sqlx::query_as(sql)
            .bind(now)
            .bind(code)
            .bind(app_id)
            .fetch_optional(&mut **c)
            .await)?)
    }
}
