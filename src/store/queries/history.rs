//! History: ticket transactions, use orders, cancels and the idempotency records.

use sqlx::FromRow;

use super::{Conn, StoreError, inserted};
use crate::ledger::idempotency::{Key, Outcome, Record};
use crate::ledger::{CancelRecord, Channel, CodeType, Trans, TransKind, UseOrder};

#[derive(FromRow, serde::Deserialize)]
pub(in crate::store) struct TransRow {
    trans_id: String,
    voucher_id: String,
    kind: String,
    quantity: i64,
    use_order_id: Option<String>,
    reverses_trans_id: Option<String>,
    expire_before: Option<i64>,
    expire_after: Option<i64>,
    created_at: i64,
}

impl From<TransRow> for Trans {
    fn from(r: TransRow) -> Trans {
        Trans {
            trans_id: r.trans_id,
            voucher_id: r.voucher_id,
            kind: TransKind::parse(&r.kind).expect("only the kinds of TransKind are written"),
            quantity: r.quantity,
            use_order_id: r.use_order_id,
            reverses_trans_id: r.reverses_trans_id,
            expire_change: r.expire_before.zip(r.expire_after),
            created_at: r.created_at,
        }
    }
}

#[derive(FromRow)]
pub(in crate::store) struct UseOrderRow {
    use_order_id: String,
    merchant_pid: String,
    request_id: String,
    channel: String,
    closed: i64,
    ticket_code: String,
    code_type: String,
    order_no: Option<String>,
    voucher_id: Option<String>,
    quantity: i64,
    created_at: i64,
}

impl From<UseOrderRow> for UseOrder {
    fn from(r: UseOrderRow) -> UseOrder {
        UseOrder {
            use_order_id: r.use_order_id,
            merchant_pid: r.merchant_pid,
            request_id: r.request_id,
            channel: Channel::parse(&r.channel),
            closed: r.closed != 0,
            ticket_code: r.ticket_code,
            code_type: CodeType::parse(Some(&r.code_type)),
            order_no: r.order_no,
            voucher_id: r.voucher_id,
            quantity: r.quantity,
            created_at: r.created_at,
        }
    }
}

#[derive(FromRow, serde::Deserialize)]
pub(in crate::store) struct CancelRow {
    cancel_id: String,
    merchant_pid: String,
    request_id: String,
    use_order_id: String,
    trans_id: String,
    created_at: i64,
}

impl From<CancelRow> for CancelRecord {
    fn from(r: CancelRow) -> CancelRecord {
        CancelRecord {
            cancel_id: r.cancel_id,
            merchant_pid: r.merchant_pid,
            request_id: r.request_id,
            use_order_id: r.use_order_id,
            trans_id: r.trans_id,
            created_at: r.created_at,
        }
    }
}

/// What a taken key of each insert below is called, in its conflict.
pub(in crate::store) const TRANS_KEY: &str = "ticket_trans.trans_id";
pub(in crate::store) const USE_ORDER_KEY: &str = "use_orders (merchant_pid, request_id)";
pub(in crate::store) const CANCEL_KEY: &str = "cancels";
pub(in crate::store) const IDEMPOTENCY_KEY: &str = "idempotency (merchant_pid, method, request_id)";
pub(in crate::store) const INSERT_TRANS: &str = "INSERT INTO ticket_trans (trans_id, voucher_id, kind, quantity, use_order_id, reverses_trans_id, \
                   expire_before, expire_after, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING";
pub(in crate::store) const SELECT_USE_ORDER: &str = "SELECT use_order_id, merchant_pid, request_id, channel, closed, ticket_code, code_type, \
                   order_no, voucher_id, quantity, created_at FROM use_orders WHERE merchant_pid = $1 AND request_id = $2";
pub(in crate::store) const INSERT_USE_ORDER: &str = "INSERT INTO use_orders (use_order_id, merchant_pid, request_id, channel, closed, ticket_code, \
                   code_type, order_no, voucher_id, quantity, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING";
pub(in crate::store) const INSERT_CANCEL: &str = "INSERT INTO cancels (cancel_id, merchant_pid, request_id, use_order_id, trans_id, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";
pub(in crate::store) const SELECT_IDEMPOTENCY: &str = "SELECT fingerprint, refused, answer FROM idempotency \
                   WHERE merchant_pid = $1 AND method = $2 AND request_id = $3";
pub(in crate::store) const INSERT_IDEMPOTENCY: &str = "INSERT INTO idempotency (merchant_pid, method, request_id, fingerprint, refused, answer, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";

/// A transaction from a row of `TRANS_SELECT`, read by the synchronous SQLite path.
pub(in crate::store) fn trans_from_rusqlite(row: &rusqlite::Row) -> rusqlite::Result<Trans> {
    Ok(Trans::from(TransRow {
        trans_id: row.get("trans_id")?,
        voucher_id: row.get("voucher_id")?,
        kind: row.get("kind")?,
        quantity: row.get("quantity")?,
        use_order_id: row.get("use_order_id")?,
        reverses_trans_id: row.get("reverses_trans_id")?,
        expire_before: row.get("expire_before")?,
        expire_after: row.get("expire_after")?,
        created_at: row.get("created_at")?,
    }))
}

/// A use order from a row of `SELECT_USE_ORDER`, read by the synchronous SQLite path.
pub(in crate::store) fn use_order_from_rusqlite(row: &rusqlite::Row) -> rusqlite::Result<UseOrder> {
    Ok(UseOrder::from(UseOrderRow {
        use_order_id: row.get("use_order_id")?,
        merchant_pid: row.get("merchant_pid")?,
        request_id: row.get("request_id")?,
        channel: row.get("channel")?,
        closed: row.get("closed")?,
        ticket_code: row.get("ticket_code")?,
        code_type: row.get("code_type")?,
        order_no: row.get("order_no")?,
        voucher_id: row.get("voucher_id")?,
        quantity: row.get("quantity")?,
        created_at: row.get("created_at")?,
    }))
}

/// Whether a use transaction of use order `$1` was refunded since (1 or 0).
pub(in crate::store) static REFUNDED_AFTER_USE: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("SELECT {}", refunded_after_use_sql("$1")));

/// 1 when a use transaction of the use order `order_id` (an SQL expression) was refunded since
/// (a refund on its ticket reverses it), else 0.
pub(in crate::store) fn refunded_after_use_sql(order_id: &str) -> String {
    format!(
        "CASE WHEN EXISTS (SELECT 1 FROM ticket_trans u JOIN ticket_trans r \
         ON r.voucher_id = u.voucher_id AND r.reverses_trans_id = u.trans_id \
         WHERE u.use_order_id = {order_id} AND u.kind = 'USE' AND r.kind = 'REFUND') \
         THEN 1 ELSE 0 END"
    )
}

/// An idempotency record from its stored columns (fingerprint, refused, answer).
pub(in crate::store) fn record_from(fingerprint: String, refused: i64, answer: String) -> Record {
    Record {
        fingerprint,
        outcome: if refused == 0 {
            Outcome::Answered(answer)
        } else {
            let recorded: serde_json::Value =
                serde_json::from_str(&answer).expect("a recorded refusal is JSON we wrote");
            let text = |k: &str| recorded[k].as_str().unwrap_or_default().to_string();
            Outcome::Refused {
                sub_code: text("sub_code"),
                sub_msg: text("sub_msg"),
            }
        },
    }
}

/// The stored columns (refused, answer) of an idempotency record.
pub(in crate::store) fn record_columns(record: &Record) -> (i64, String) {
    match &record.outcome {
        Outcome::Answered(json) => (0, json.clone()),
        Outcome::Refused { sub_code, sub_msg } => (
            1,
            serde_json::json!({"sub_code": sub_code, "sub_msg": sub_msg}).to_string(),
        ),
    }
}

impl Conn<'_> {
    // ---- transactions, use orders, cancels -----------------------------------------------

    pub async fn insert_trans(&mut self, t: &Trans) -> Result<(), StoreError> {
        let done = execute!(self, bind_trans!(sqlx::query(INSERT_TRANS), t))?;
        inserted(done, TRANS_KEY)
    }

    pub(in crate::store) const TRANS_SELECT: &'static str = "SELECT trans_id, voucher_id, kind, quantity, use_order_id, reverses_trans_id, \
         expire_before, expire_after, created_at FROM ticket_trans";

    pub async fn ticket_trans(&mut self, voucher_id: &str) -> Result<Vec<Trans>, StoreError> {
        let sql = format!(
            "{} WHERE voucher_id = $1 ORDER BY created_at, trans_id",
            Self::TRANS_SELECT
        );
        let rows: Vec<TransRow> = on!(self, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(voucher_id)
            .fetch_all(&mut **c)
            .await)?;
        Ok(rows.into_iter().map(Trans::from).collect())
    }

    /// Whether a use transaction of a use order was refunded since.
    pub async fn refunded_after_use(&mut self, use_order_id: &str) -> Result<bool, StoreError> {
        let row: (i32,) = on!(self, |c| sqlx::query_as(REFUNDED_AFTER_USE.as_str())
            .bind(use_order_id)
            .fetch_one(&mut **c)
            .await)?;
        Ok(row.0 != 0)
    }

    /// The use transactions of a use order.
    pub async fn use_order_trans(&mut self, use_order_id: &str) -> Result<Vec<Trans>, StoreError> {
        let sql = format!(
            "{} WHERE use_order_id = $1 AND kind = 'USE' ORDER BY created_at, trans_id",
            Self::TRANS_SELECT
        );
        let rows: Vec<TransRow> = on!(self, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(use_order_id)
            .fetch_all(&mut **c)
            .await)?;
        Ok(rows.into_iter().map(Trans::from).collect())
    }

    pub async fn use_order(
        &mut self,
        merchant_pid: &str,
        request_id: &str,
    ) -> Result<Option<UseOrder>, StoreError> {
        let sql = SELECT_USE_ORDER;
        let row: Option<UseOrderRow> = on!(self, |c| sqlx::query_as(sql)
            .bind(merchant_pid)
            .bind(request_id)
            .fetch_optional(&mut **c)
            .await)?;
        Ok(row.map(UseOrder::from))
    }

    pub async fn insert_use_order(&mut self, o: &UseOrder) -> Result<(), StoreError> {
        let done = execute!(self, bind_use_order!(sqlx::query(INSERT_USE_ORDER), o))?;
        inserted(done, USE_ORDER_KEY)
    }

    pub(in crate::store) const CANCEL_SELECT: &'static str = "SELECT cancel_id, merchant_pid, request_id, use_order_id, trans_id, created_at FROM cancels";

    pub async fn cancel_of_use(
        &mut self,
        use_order_id: &str,
    ) -> Result<Option<CancelRecord>, StoreError> {
        let sql = format!("{} WHERE use_order_id = $1", Self::CANCEL_SELECT);
        let row: Option<CancelRow> =
            on!(self, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(use_order_id)
                .fetch_optional(&mut **c)
                .await)?;
        Ok(row.map(CancelRecord::from))
    }

    pub async fn insert_cancel(&mut self, r: &CancelRecord) -> Result<(), StoreError> {
        let done = execute!(self, bind_cancel!(sqlx::query(INSERT_CANCEL), r))?;
        inserted(done, CANCEL_KEY)
    }

    /// The idempotency record of a request id, if it was seen before.
    pub async fn idempotency(&mut self, key: &Key) -> Result<Option<Record>, StoreError> {
        let sql = SELECT_IDEMPOTENCY;
        let row: Option<(String, i64, String)> = on!(self, |c| sqlx::query_as(sql)
            .bind(key.merchant_pid.as_str())
            .bind(key.method)
            .bind(key.request_id.as_str())
            .fetch_optional(&mut **c)
            .await)?;
        Ok(row.map(|(fingerprint, refused, answer)| record_from(fingerprint, refused, answer)))
    }

    /// Records a request id's outcome; a concurrent writer that got there first is a conflict.
    pub async fn insert_idempotency(
        &mut self,
        key: &Key,
        record: &Record,
        now: i64,
    ) -> Result<(), StoreError> {
        let done = execute!(
            self,
            bind_idempotency!(sqlx::query(INSERT_IDEMPOTENCY), key, record, now)
        )?;
        inserted(done, IDEMPOTENCY_KEY)
    }
}
