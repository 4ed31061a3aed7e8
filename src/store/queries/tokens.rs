//! App auth tokens and one-time authorization codes: the ISV token flow's rows.

use std::future::Future;

use super::{Tx, inserted, one};
use crate::store::StoreError;
use crate::store::sql::{Cols, FromRow, args};

/// A token as `alipay.open.auth.token.app.query` and a refresh see it.
#[derive(Debug, Clone, PartialEq, Eq)]
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

pub(in crate::store) const TOKEN_COLUMNS: &str = "token, app_id, merchant_pid, expires_at, refresh_token, refresh_expires_at, methods, revoked_at, created_at";

impl FromRow for TokenRow {
    fn from_cols(c: &mut Cols) -> Result<Self, StoreError> {
        Ok(TokenRow {
            token: c.text()?,
            app_id: c.text()?,
            merchant_pid: c.text()?,
            expires_at: c.opt_int()?,
            refresh_token: c.opt_text()?,
            refresh_expires_at: c.opt_int()?,
            methods: c.opt_text()?,
            revoked_at: c.opt_int()?,
            created_at: c.int()?,
        })
    }
}

/// A one-time authorization code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRow {
    pub code: String,
    pub app_id: String,
    pub merchant_pid: String,
    pub methods: Option<String>,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl FromRow for CodeRow {
    fn from_cols(c: &mut Cols) -> Result<Self, StoreError> {
        Ok(CodeRow {
            code: c.text()?,
            app_id: c.text()?,
            merchant_pid: c.text()?,
            methods: c.opt_text()?,
            expires_at: c.int()?,
            used_at: c.opt_int()?,
        })
    }
}

/// The statements of tokens and codes, for every backend.
pub trait Tokens: Tx {
    fn insert_token(
        &mut self,
        t: &TokenRow,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            let sql = format!(
                "INSERT INTO app_auth_tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING"
            );
            let values = args![
                &t.token,
                &t.app_id,
                &t.merchant_pid,
                t.expires_at,
                &t.refresh_token,
                t.refresh_expires_at,
                &t.methods,
                t.revoked_at,
                t.created_at
            ];
            inserted(self.execute(&sql, &values).await?, "app_auth_tokens.token")
        }
    }

    /// A token of `app_id`, by the token or by its refresh token.
    fn token_row(
        &mut self,
        app_id: &str,
        token: Option<&str>,
        refresh_token: Option<&str>,
    ) -> impl Future<Output = Result<Option<TokenRow>, StoreError>> + Send {
        async move {
            let sql = format!(
                "SELECT {TOKEN_COLUMNS} FROM app_auth_tokens WHERE app_id = $1 AND \
                 (token = $2 OR refresh_token = $3)"
            );
            let values = args![app_id, token.unwrap_or(""), refresh_token.unwrap_or("")];
            one(self, &sql, &values).await
        }
    }

    /// Marks a token replaced; false when it already was (a concurrent refresh won).
    fn revoke_token(
        &mut self,
        token: &str,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move {
            let sql = "UPDATE app_auth_tokens SET revoked_at = $1 WHERE token = $2 AND revoked_at IS NULL";
            Ok(self.execute(sql, &args![now, token]).await? == 1)
        }
    }

    fn insert_auth_code(
        &mut self,
        c: &CodeRow,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            let sql = "INSERT INTO app_auth_codes (code, app_id, merchant_pid, methods, expires_at, used_at, created_at) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";
            let values = args![
                &c.code,
                &c.app_id,
                &c.merchant_pid,
                &c.methods,
                c.expires_at,
                c.used_at,
                now
            ];
            inserted(self.execute(sql, &values).await?, "app_auth_codes.code")
        }
    }

    /// Spends a code of `app_id` that is unused and unexpired at `now`; `None` otherwise.
    fn spend_auth_code(
        &mut self,
        code: &str,
        app_id: &str,
        now: i64,
    ) -> impl Future<Output = Result<Option<CodeRow>, StoreError>> + Send {
        async move {
            let sql = "UPDATE app_auth_codes SET used_at = $1 WHERE code = $2 AND app_id = $3 \
                       AND used_at IS NULL AND expires_at > $1 \
                       RETURNING code, app_id, merchant_pid, methods, expires_at, used_at";
            one(self, sql, &args![now, code, app_id]).await
        }
    }
}

impl<T: Tx> Tokens for T {}
