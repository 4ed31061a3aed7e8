//! Tenants: the platform key, merchants, apps, shops, app auth tokens and codes, the sandbox CA.

use std::future::Future;

use super::{Tx, all, one};
use crate::store::StoreError;
use crate::store::sql::{Cols, FromRow, args};

/// A registered app.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// The methods it may call, comma-separated (the products it has signed); `None`: every
    /// method.
    pub methods: Option<String>,
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

    /// Whether the app may call `method`.
    pub fn allows(&self, method: &str) -> bool {
        self.methods
            .as_deref()
            .is_none_or(|list| list.split(',').any(|m| m == method))
    }
}

const APP_COLUMNS: &str = "app_id, merchant_pid, public_key_pem, sign_type, charset, notify_url, \
     other_public_key_pem, aes_key, app_cert_sn, methods";

impl FromRow for AppRecord {
    fn from_cols(c: &mut Cols) -> Result<Self, StoreError> {
        Ok(AppRecord {
            app_id: c.text()?,
            merchant_pid: c.text()?,
            public_key_pem: c.text()?,
            sign_type: c.text()?,
            charset: c.text()?,
            notify_url: c.opt_text()?,
            other_public_key_pem: c.opt_text()?,
            aes_key: c.opt_text()?,
            app_cert_sn: c.opt_text()?,
            methods: c.opt_text()?,
        })
    }
}

static SELECT_APP: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("SELECT {APP_COLUMNS} FROM apps WHERE app_id = $1"));
static SELECT_MERCHANT_APPS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("SELECT {APP_COLUMNS} FROM apps WHERE merchant_pid = $1 ORDER BY app_id LIMIT 16")
});
const SELECT_SHOP_NAME: &str = "SELECT name FROM shops WHERE merchant_pid = $1 AND shop_id = $2";

/// What an app auth token grants: acting for a merchant, until it expires, for some methods.
#[derive(Debug, Clone, PartialEq, Eq)]
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

impl FromRow for Grant {
    fn from_cols(c: &mut Cols) -> Result<Self, StoreError> {
        Ok(Grant {
            merchant_pid: c.text()?,
            expires_at: c.opt_int()?,
            methods: c.opt_text()?,
            revoked_at: c.opt_int()?,
        })
    }
}

const SELECT_TOKEN: &str = "SELECT merchant_pid, expires_at, methods, revoked_at FROM app_auth_tokens \
     WHERE token = $1 AND app_id = $2";

impl FromRow for crate::alipay::certs::StoredCa {
    fn from_cols(c: &mut Cols) -> Result<Self, StoreError> {
        Ok(crate::alipay::certs::StoredCa {
            root_key_pem: c.text()?,
            bundle_pem: c.text()?,
            platform_cert_pem: c.text()?,
        })
    }
}

/// The statements of tenants, for every backend.
pub trait Tenants: Tx {
    /// The platform's key pair (private PEM, public PEM), once made.
    fn platform_key(
        &mut self,
    ) -> impl Future<Output = Result<Option<(String, String)>, StoreError>> + Send {
        async move {
            let sql = "SELECT private_key_pem, public_key_pem FROM platform_keys WHERE id = 1";
            let row = self.rows(sql, &[]).await?.into_iter().next();
            row.map(|r| {
                let mut c = r.cols();
                Ok((c.text()?, c.text()?))
            })
            .transpose()
        }
    }

    fn insert_platform_key(
        &mut self,
        private: &str,
        public: &str,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move {
            let sql = "INSERT INTO platform_keys (id, private_key_pem, public_key_pem, created_at) \
                       VALUES (1, $1, $2, $3) ON CONFLICT DO NOTHING";
            Ok(self.execute(sql, &args![private, public, now]).await? == 1)
        }
    }

    fn any_merchant(&mut self) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move {
            let sql = "SELECT pid FROM merchants LIMIT 1";
            Ok(!self.rows(sql, &[]).await?.is_empty())
        }
    }

    fn merchant_exists(
        &mut self,
        pid: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move {
            let sql = "SELECT pid FROM merchants WHERE pid = $1";
            Ok(!self.rows(sql, &args![pid]).await?.is_empty())
        }
    }

    fn insert_merchant(
        &mut self,
        pid: &str,
        name: &str,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move {
            let sql = "INSERT INTO merchants (pid, name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
            Ok(self.execute(sql, &args![pid, name, now]).await? == 1)
        }
    }

    fn app(
        &mut self,
        app_id: &str,
    ) -> impl Future<Output = Result<Option<AppRecord>, StoreError>> + Send {
        async move { one(self, &SELECT_APP, &args![app_id]).await }
    }

    fn insert_app(
        &mut self,
        app: &AppRecord,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move {
            let sql = "INSERT INTO apps (app_id, merchant_pid, public_key_pem, sign_type, charset, notify_url, created_at, \
                       other_public_key_pem, aes_key, methods) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING";
            let a = app;
            let values = args![
                &a.app_id,
                &a.merchant_pid,
                &a.public_key_pem,
                &a.sign_type,
                &a.charset,
                &a.notify_url,
                now,
                &a.other_public_key_pem,
                &a.aes_key,
                &a.methods
            ];
            Ok(self.execute(sql, &values).await? == 1)
        }
    }

    /// Replaces an app's public key for its own sign type (`other: false`) or the other one
    /// (`other: true`; `None` removes it); answers whether the app exists.
    fn set_app_key(
        &mut self,
        app_id: &str,
        public_key_pem: Option<&str>,
        other: bool,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move {
            let sql = if other {
                "UPDATE apps SET other_public_key_pem = $1 WHERE app_id = $2"
            } else {
                "UPDATE apps SET public_key_pem = $1 WHERE app_id = $2"
            };
            Ok(self.execute(sql, &args![public_key_pem, app_id]).await? == 1)
        }
    }

    /// Puts an app in certificate mode with this certificate (SN, PEM) or, `None`, back in
    /// public-key mode; answers whether the app exists.
    fn set_app_cert(
        &mut self,
        app_id: &str,
        cert: Option<(&str, &str)>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move {
            let sql = "UPDATE apps SET app_cert_sn = $1, app_cert_pem = $2 WHERE app_id = $3";
            let values = args![cert.map(|c| c.0), cert.map(|c| c.1), app_id];
            Ok(self.execute(sql, &values).await? == 1)
        }
    }

    /// The sandbox CA, if one was made.
    fn sandbox_ca(
        &mut self,
    ) -> impl Future<Output = Result<Option<crate::alipay::certs::StoredCa>, StoreError>> + Send
    {
        async move {
            let sql =
                "SELECT root_key_pem, bundle_pem, platform_cert_pem FROM sandbox_ca WHERE id = 1";
            one(self, sql, &[]).await
        }
    }

    /// Stores the sandbox CA unless one is stored already.
    fn insert_sandbox_ca(
        &mut self,
        ca: &crate::alipay::certs::StoredCa,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            let sql = "INSERT INTO sandbox_ca (id, root_key_pem, bundle_pem, platform_cert_pem, created_at) \
                       VALUES (1, $1, $2, $3, $4) ON CONFLICT DO NOTHING";
            let values = args![&ca.root_key_pem, &ca.bundle_pem, &ca.platform_cert_pem, now];
            self.execute(sql, &values).await.map(drop)
        }
    }

    /// Whether the app's notifications are delivered twice (a sandbox setting).
    fn notifies_twice(
        &mut self,
        app_id: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move {
            let sql = "SELECT notify_twice FROM apps WHERE app_id = $1";
            let twice: Option<i64> = one(self, sql, &args![app_id]).await?;
            Ok(twice.is_some_and(|n| n != 0))
        }
    }

    /// Turns an app's duplicate delivery on or off; answers whether the app exists.
    fn set_notify_twice(
        &mut self,
        app_id: &str,
        on: bool,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move {
            let sql = "UPDATE apps SET notify_twice = $1 WHERE app_id = $2";
            Ok(self.execute(sql, &args![on, app_id]).await? == 1)
        }
    }

    /// Limits an app to these methods (comma-separated), or `None` to every method; answers
    /// whether the app exists.
    fn set_app_methods(
        &mut self,
        app_id: &str,
        methods: Option<&str>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move {
            let sql = "UPDATE apps SET methods = $1 WHERE app_id = $2";
            Ok(self.execute(sql, &args![methods, app_id]).await? == 1)
        }
    }

    /// Sets or removes an app's AES key; answers whether the app exists.
    fn set_app_aes_key(
        &mut self,
        app_id: &str,
        aes_key: Option<&str>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move {
            let sql = "UPDATE apps SET aes_key = $1 WHERE app_id = $2";
            Ok(self.execute(sql, &args![aes_key, app_id]).await? == 1)
        }
    }

    /// A merchant's apps (at most 16), in id order.
    fn merchant_apps(
        &mut self,
        merchant_pid: &str,
    ) -> impl Future<Output = Result<Vec<AppRecord>, StoreError>> + Send {
        async move { all(self, &SELECT_MERCHANT_APPS, &args![merchant_pid]).await }
    }

    /// The name of the merchant's shop, if it has one with that id.
    fn shop_name(
        &mut self,
        merchant_pid: &str,
        shop_id: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
        async move { one(self, SELECT_SHOP_NAME, &args![merchant_pid, shop_id]).await }
    }

    /// The facts of the merchant's shop `shop_id`: its name, and whether the store has it.
    fn shop_facts(
        &mut self,
        merchant_pid: &str,
        shop_id: &str,
    ) -> impl Future<Output = Result<crate::ledger::ShopFacts, StoreError>> + Send {
        async move {
            let name = self.shop_name(merchant_pid, shop_id).await?;
            Ok(crate::ledger::ShopFacts::named(shop_id, name))
        }
    }

    fn insert_shop(
        &mut self,
        merchant_pid: &str,
        shop_id: &str,
        name: &str,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move {
            let sql = "INSERT INTO shops (merchant_pid, shop_id, name, created_at) VALUES ($1, $2, $3, $4) \
                       ON CONFLICT DO NOTHING";
            Ok(self
                .execute(sql, &args![merchant_pid, shop_id, name, now])
                .await?
                == 1)
        }
    }

    /// What an app auth token grants `app_id`.
    fn token_grant(
        &mut self,
        token: &str,
        app_id: &str,
    ) -> impl Future<Output = Result<Option<Grant>, StoreError>> + Send {
        async move { one(self, SELECT_TOKEN, &args![token, app_id]).await }
    }
}

impl<T: Tx> Tenants for T {}
