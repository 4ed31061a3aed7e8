//! What `admin … list` prints, and `admin reset`.

use std::future::Future;

use super::Tx;
use crate::store::StoreError;
use crate::store::sql::{Arg, args};

/// Tables emptied by a reset, children before parents. The platform key stays.
pub(in crate::store) const RESET_ORDER: [&str; 19] = [
    "request_log",
    "faults",
    "test_clocks",
    "notification_attempts",
    "notifications",
    "idempotency",
    "cancels",
    "ticket_trans",
    "use_orders",
    "send_orders",
    "code_merchant_items",
    "tickets",
    "orders",
    "items",
    "shops",
    "app_auth_tokens",
    "app_auth_codes",
    "apps",
    "merchants",
];

/// Rows as JSON objects, column by column (every column a list shows is text or a number).
pub type Rows = Vec<serde_json::Map<String, serde_json::Value>>;

/// The rows of a list statement as JSON objects with these column names.
async fn json_rows<T: Tx>(
    tx: &mut T,
    sql: &str,
    args: &[Arg<'_>],
    names: &[&str],
) -> Result<Rows, StoreError> {
    let rows = tx.rows(sql, args).await?;
    Ok(rows.into_iter().map(|r| r.into_json(names)).collect())
}

/// The statements of the operator's lists, for every backend.
pub trait Lists: Tx {
    /// Empties every tenant and ledger table, the outbox, the request log, clocks and faults;
    /// answers how many rows each had. The platform key is kept.
    fn reset(
        &mut self,
    ) -> impl Future<Output = Result<Vec<(&'static str, u64)>, StoreError>> + Send {
        async move {
            let mut counts = Vec::new();
            for table in RESET_ORDER {
                let n = self.execute(&format!("DELETE FROM {table}"), &[]).await?;
                counts.push((table, n));
            }
            Ok(counts)
        }
    }

    fn list_merchants(&mut self) -> impl Future<Output = Result<Rows, StoreError>> + Send {
        async move {
            let sql = "SELECT pid, name FROM merchants ORDER BY pid";
            json_rows(self, sql, &[], &["merchant_pid", "name"]).await
        }
    }

    fn list_apps(
        &mut self,
        merchant: &str,
    ) -> impl Future<Output = Result<Rows, StoreError>> + Send {
        async move {
            let sql = "SELECT app_id, merchant_pid, sign_type, charset, notify_url, \
                 CAST(CASE WHEN other_public_key_pem IS NULL THEN 0 ELSE 1 END AS BIGINT), \
                 CAST(CASE WHEN aes_key IS NULL THEN 0 ELSE 1 END AS BIGINT), \
                 CAST(CASE WHEN app_cert_sn IS NULL THEN 0 ELSE 1 END AS BIGINT), \
                 COALESCE(methods, 'all'), notify_twice \
                 FROM apps WHERE ($1 = '' OR merchant_pid = $1) ORDER BY app_id";
            let names = [
                "app_id",
                "merchant_pid",
                "sign_type",
                "charset",
                "notify_url",
                "both_sign_types",
                "aes",
                "cert_mode",
                "methods",
                "notify_twice",
            ];
            json_rows(self, sql, &args![merchant], &names).await
        }
    }

    fn list_shops(
        &mut self,
        merchant: &str,
    ) -> impl Future<Output = Result<Rows, StoreError>> + Send {
        async move {
            let sql = "SELECT merchant_pid, shop_id, name FROM shops WHERE ($1 = '' OR merchant_pid = $1) \
                 ORDER BY merchant_pid, shop_id";
            let names = ["merchant_pid", "shop_id", "name"];
            json_rows(self, sql, &args![merchant], &names).await
        }
    }

    fn list_items(
        &mut self,
        merchant: &str,
    ) -> impl Future<Output = Result<Rows, StoreError>> + Send {
        async move {
            let sql = "SELECT i.item_id, i.merchant_pid, i.name, i.price_cents, i.original_price_cents, i.times, \
                 i.shop_ids, i.valid_from, i.valid_to, c.app_id FROM items i \
                 LEFT JOIN code_merchant_items c ON c.item_id = i.item_id \
                 WHERE ($1 = '' OR i.merchant_pid = $1) ORDER BY i.item_id";
            let names = [
                "item_id",
                "merchant_pid",
                "name",
                "price_cents",
                "original_price_cents",
                "times",
                "shop_ids",
                "valid_from",
                "valid_to",
                "code_merchant_app_id",
            ];
            json_rows(self, sql, &args![merchant], &names).await
        }
    }

    /// The newest `limit` orders, newest first, with how many tickets each has.
    fn list_orders(
        &mut self,
        item: &str,
        limit: i64,
    ) -> impl Future<Output = Result<Rows, StoreError>> + Send {
        async move {
            let sql = "SELECT o.order_no, o.merchant_pid, o.item_id, o.created_at, \
                 (SELECT COUNT(*) FROM tickets t WHERE t.order_no = o.order_no) \
                 FROM orders o WHERE ($1 = '' OR o.item_id = $1) ORDER BY o.created_at DESC, o.order_no LIMIT $2";
            let names = [
                "order_no",
                "merchant_pid",
                "item_id",
                "created_at",
                "tickets",
            ];
            json_rows(self, sql, &args![item, limit], &names).await
        }
    }

    /// An order's first `limit` tickets, by code.
    fn list_tickets(
        &mut self,
        order_no: &str,
        limit: i64,
    ) -> impl Future<Output = Result<Rows, StoreError>> + Send {
        async move {
            let sql = "SELECT code, code_type, order_no, item_id, total_quantity, available_quantity, refunded, \
                 effect_at, expire_at FROM tickets WHERE order_no = $1 ORDER BY code LIMIT $2";
            let names = [
                "code",
                "code_type",
                "order_no",
                "item_id",
                "total_quantity",
                "available_quantity",
                "refunded",
                "effect_at",
                "expire_at",
            ];
            json_rows(self, sql, &args![order_no, limit], &names).await
        }
    }
}

impl<T: Tx> Lists for T {}
