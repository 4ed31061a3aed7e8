//! What `admin … list` prints, and `admin reset`.

use super::{Conn, StoreError};

/// Tables emptied by a reset, children before parents. The platform key stays.
const RESET_ORDER: [&str; 19] = [
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

macro_rules! rows {
    ($conn:expr, $sql:expr, $($bind:expr),*) => {{
        use sqlx::{Column, Row};
        fn to_json<R: Row>(row: &R) -> serde_json::Map<String, serde_json::Value>
        where
            for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            usize: sqlx::ColumnIndex<R>,
        {
            let mut map = serde_json::Map::new();
            for (i, col) in row.columns().iter().enumerate() {
                let value = if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
                    v.map_or(serde_json::Value::Null, Into::into)
                } else {
                    row.try_get::<Option<String>, _>(i)
                        .ok()
                        .flatten()
                        .map_or(serde_json::Value::Null, Into::into)
                };
                map.insert(col.name().to_string(), value);
            }
            map
        }
        let rows: Rows = on!($conn, |c| {
            let query = sqlx::query($sql)$(.bind($bind))*;
            query.fetch_all(&mut **c).await.map(|rows| rows.iter().map(to_json).collect())
        })?;
        Ok(rows)
    }};
}

impl Conn<'_> {
    /// Empties every tenant and ledger table, the outbox, the request log, clocks and faults;
    /// answers how many rows each had. The platform key is kept.
    pub async fn reset(&mut self) -> Result<Vec<(&'static str, u64)>, StoreError> {
        let mut counts = Vec::new();
        for table in RESET_ORDER {
            let sql = format!("DELETE FROM {table}");
            let n = execute!(self, sqlx::query(sqlx::AssertSqlSafe(sql.clone())))?;
            counts.push((table, n));
        }
        Ok(counts)
    }

    pub async fn list_merchants(&mut self) -> Result<Rows, StoreError> {
        rows!(
            self,
            "SELECT pid AS merchant_pid, name FROM merchants ORDER BY pid",
        )
    }

    pub async fn list_apps(&mut self, merchant: &str) -> Result<Rows, StoreError> {
        rows!(
            self,
            "SELECT app_id, merchant_pid, sign_type, charset, notify_url, \
             CAST(CASE WHEN other_public_key_pem IS NULL THEN 0 ELSE 1 END AS BIGINT) AS both_sign_types, \
             CAST(CASE WHEN aes_key IS NULL THEN 0 ELSE 1 END AS BIGINT) AS aes, \
             CAST(CASE WHEN app_cert_sn IS NULL THEN 0 ELSE 1 END AS BIGINT) AS cert_mode \
             FROM apps WHERE ($1 = '' OR merchant_pid = $1) ORDER BY app_id",
            merchant
        )
    }

    pub async fn list_shops(&mut self, merchant: &str) -> Result<Rows, StoreError> {
        rows!(
            self,
            "SELECT merchant_pid, shop_id, name FROM shops WHERE ($1 = '' OR merchant_pid = $1) \
             ORDER BY merchant_pid, shop_id",
            merchant
        )
    }

    pub async fn list_items(&mut self, merchant: &str) -> Result<Rows, StoreError> {
        rows!(
            self,
            "SELECT i.item_id, i.merchant_pid, i.name, i.price_cents, i.original_price_cents, i.times, \
             i.shop_ids, i.valid_from, i.valid_to, c.app_id AS code_merchant_app_id FROM items i \
             LEFT JOIN code_merchant_items c ON c.item_id = i.item_id \
             WHERE ($1 = '' OR i.merchant_pid = $1) ORDER BY i.item_id",
            merchant
        )
    }

    /// The newest `limit` orders, newest first, with how many tickets each has.
    pub async fn list_orders(&mut self, item: &str, limit: i64) -> Result<Rows, StoreError> {
        rows!(
            self,
            "SELECT o.order_no, o.merchant_pid, o.item_id, o.created_at, \
             (SELECT COUNT(*) FROM tickets t WHERE t.order_no = o.order_no) AS tickets \
             FROM orders o WHERE ($1 = '' OR o.item_id = $1) ORDER BY o.created_at DESC, o.order_no LIMIT $2",
            item,
            limit
        )
    }

    /// An order's first `limit` tickets, by code.
    pub async fn list_tickets(&mut self, order_no: &str, limit: i64) -> Result<Rows, StoreError> {
        rows!(
            self,
            "SELECT code, code_type, order_no, item_id, total_quantity, available_quantity, refunded, \
             effect_at, expire_at FROM tickets WHERE order_no = $1 ORDER BY code LIMIT $2",
            order_no,
            limit
        )
    }
}
