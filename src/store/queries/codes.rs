//! The code merchant flow's rows (code-merchant items, send orders), orders, and the single
//! facts the newer methods ask for.

use sqlx::FromRow;

/// One entry of the request log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    pub id: String,
    pub at: i64,
    pub app_id: String,
    pub method: String,
    pub failed: bool,
    /// The whole entry, as JSON.
    pub entry: String,
}

/// Which entries of the request log to read.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub app_id: Option<String>,
    pub method: Option<String>,
    pub failed_only: bool,
}

pub(in crate::store) const INSERT_LOG: &str = "INSERT INTO request_log (id, at, app_id, method, failed, entry) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT DO NOTHING";
pub(in crate::store) const TRIM_LOG: &str = "DELETE FROM request_log WHERE at < \
     (SELECT at FROM request_log ORDER BY at DESC LIMIT 1 OFFSET $1)";
const LOG_FILTER: &str =
    "($1 = '' OR app_id = $1) AND ($2 = '' OR method = $2) AND ($3 = 0 OR failed = 1)";

use super::{Conn, StoreError, inserted};
use crate::ledger::codes::SendOrder;
use crate::ledger::order::Order;
use crate::ledger::{TicketView, Trans};

#[derive(FromRow)]
struct SendOrderRow {
    send_order_no: String,
    order_no: String,
    merchant_pid: String,
    item_id: String,
    app_id: String,
    send_token: String,
    quantity: i64,
    sent: i64,
    refunded: i64,
    closed_at: Option<i64>,
    close_reason: Option<String>,
    created_at: i64,
}

impl From<SendOrderRow> for SendOrder {
    fn from(r: SendOrderRow) -> SendOrder {
        SendOrder {
            send_order_no: r.send_order_no,
            order_no: r.order_no,
            merchant_pid: r.merchant_pid,
            item_id: r.item_id,
            app_id: r.app_id,
            send_token: r.send_token,
            quantity: r.quantity,
            sent: r.sent,
            refunded: r.refunded,
            closed_at: r.closed_at,
            close_reason: r.close_reason,
            created_at: r.created_at,
        }
    }
}

pub(in crate::store) const SEND_ORDER_SELECT: &str = "SELECT send_order_no, order_no, merchant_pid, item_id, app_id, send_token, quantity, sent, \
     refunded, closed_at, close_reason, created_at FROM send_orders WHERE order_no = $1";
pub(in crate::store) const INSERT_SEND_ORDER: &str = "INSERT INTO send_orders (send_order_no, order_no, merchant_pid, item_id, app_id, send_token, \
     quantity, sent, refunded, closed_at, close_reason, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) ON CONFLICT DO NOTHING";
/// `$1` codes registered now, `$2` now, `$3` the send order; only while open and within its
/// quantity (the CHECK holds the rest).
pub(in crate::store) const ADD_SENT: &str = "UPDATE send_orders SET sent = sent + $1, updated_at = $2 \
     WHERE send_order_no = $3 AND closed_at IS NULL";
/// `$1` tickets never sent, `$2` now, `$3` the reason, `$4` the send order; once.
pub(in crate::store) const CLOSE_SEND: &str = "UPDATE send_orders SET refunded = $1, closed_at = $2, close_reason = $3, updated_at = $2 \
     WHERE send_order_no = $4 AND closed_at IS NULL";
pub(in crate::store) const SELECT_CODE_MERCHANT: &str =
    "SELECT app_id FROM code_merchant_items WHERE item_id = $1";
pub(in crate::store) const INSERT_CODE_MERCHANT: &str = "INSERT INTO code_merchant_items (item_id, app_id, created_at) VALUES ($1, $2, $3) \
     ON CONFLICT DO NOTHING";
pub(in crate::store) const SELECT_ORDER: &str =
    "SELECT order_no, merchant_pid, item_id, created_at FROM orders WHERE order_no = $1";
pub(in crate::store) const CODES_OF_ORDER: &str = "SELECT code FROM tickets WHERE order_no = $1";
pub(in crate::store) const MARK_REFUNDED: &str = "UPDATE tickets SET refunded = 1, available_quantity = 0, updated_at = $1 WHERE voucher_id = $2";

/// A send order from a row of `SEND_ORDER_SELECT`, read by the synchronous SQLite path.
pub(in crate::store) fn send_order_from_rusqlite(r: &rusqlite::Row) -> rusqlite::Result<SendOrder> {
    Ok(SendOrder::from(SendOrderRow {
        send_order_no: r.get(0)?,
        order_no: r.get(1)?,
        merchant_pid: r.get(2)?,
        item_id: r.get(3)?,
        app_id: r.get(4)?,
        send_token: r.get(5)?,
        quantity: r.get(6)?,
        sent: r.get(7)?,
        refunded: r.get(8)?,
        closed_at: r.get(9)?,
        close_reason: r.get(10)?,
        created_at: r.get(11)?,
    }))
}

pub(in crate::store) fn order_from_rusqlite(r: &rusqlite::Row) -> rusqlite::Result<Order> {
    Ok(Order {
        order_no: r.get(0)?,
        merchant_pid: r.get(1)?,
        item_id: r.get(2)?,
        created_at: r.get(3)?,
    })
}

/// The statement that finds one transaction by id.
pub(in crate::store) fn trans_by_id_sql() -> String {
    format!("{} WHERE trans_id = $1", Conn::TRANS_SELECT)
}

/// Every transaction of an order's tickets.
pub(in crate::store) fn order_trans_sql() -> String {
    format!(
        "{} WHERE voucher_id IN (SELECT voucher_id FROM tickets WHERE order_no = $1) \
         ORDER BY created_at, trans_id",
        Conn::TRANS_SELECT
    )
}

/// A ticket and its item by voucher id.
pub(in crate::store) fn ticket_of_voucher_sql() -> String {
    format!(
        "{} WHERE t.voucher_id = $1",
        super::tickets::TICKET_VIEW_SELECT
    )
}

impl Conn<'_> {
    /// Request log entries, a few multi-row statements for a batch.
    pub async fn insert_logs(&mut self, rows: &[LogRow]) -> Result<(), StoreError> {
        let mut rest = rows;
        for size in super::pow2_chunks(rows.len(), 64) {
            let (chunk, after) = rest.split_at(size);
            rest = after;
            let sql = INSERT_LOG.replace(&super::values_list(1, 6), &super::values_list(size, 6));
            on!(self, |c| {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
                for r in chunk {
                    query = query
                        .bind(&r.id)
                        .bind(r.at)
                        .bind(&r.app_id)
                        .bind(&r.method)
                        .bind(i64::from(r.failed))
                        .bind(&r.entry);
                }
                query.execute(&mut **c).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }

    pub async fn trim_log(&mut self, keep: i64) -> Result<(), StoreError> {
        execute!(self, sqlx::query(TRIM_LOG).bind(keep))?;
        Ok(())
    }

    /// The newest `limit` entries that pass the filter, oldest first; or, after a cursor
    /// `(at, id)`, the next ones in order.
    pub async fn read_log(
        &mut self,
        filter: &LogFilter,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<(i64, String, String)>, StoreError> {
        let app = filter.app_id.clone().unwrap_or_default();
        let method = filter.method.clone().unwrap_or_default();
        let failed = i64::from(filter.failed_only);
        let rows: Vec<(i64, String, String)> = match after {
            None => {
                let sql = format!(
                    "SELECT at, id, entry FROM request_log WHERE {LOG_FILTER} \
                     ORDER BY at DESC, id DESC LIMIT $4"
                );
                let mut rows: Vec<(i64, String, String)> =
                    on!(self, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                        .bind(&app)
                        .bind(&method)
                        .bind(failed)
                        .bind(limit)
                        .fetch_all(&mut **c)
                        .await)?;
                rows.reverse();
                rows
            }
            Some((at, id)) => {
                let sql = format!(
                    "SELECT at, id, entry FROM request_log WHERE {LOG_FILTER} \
                     AND (at > $4 OR (at = $4 AND id > $5)) ORDER BY at, id LIMIT $6"
                );
                on!(self, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(&app)
                    .bind(&method)
                    .bind(failed)
                    .bind(at)
                    .bind(&id)
                    .bind(limit)
                    .fetch_all(&mut **c)
                    .await)?
            }
        };
        Ok(rows)
    }

    /// The send order of an order, locked on PostgreSQL.
    pub async fn send_order(&mut self, order_no: &str) -> Result<Option<SendOrder>, StoreError> {
        let row: Option<SendOrderRow> = match self {
            Conn::Sqlite(c) => {
                sqlx::query_as(SEND_ORDER_SELECT)
                    .bind(order_no)
                    .fetch_optional(&mut **c)
                    .await?
            }
            Conn::Pg(c) => {
                let sql = format!("{SEND_ORDER_SELECT} FOR UPDATE");
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(order_no)
                    .fetch_optional(&mut **c)
                    .await?
            }
        };
        Ok(row.map(SendOrder::from))
    }

    pub async fn insert_send_order(&mut self, s: &SendOrder, now: i64) -> Result<(), StoreError> {
        let done = execute!(
            self,
            sqlx::query(INSERT_SEND_ORDER)
                .bind(&s.send_order_no)
                .bind(&s.order_no)
                .bind(&s.merchant_pid)
                .bind(&s.item_id)
                .bind(&s.app_id)
                .bind(&s.send_token)
                .bind(s.quantity)
                .bind(s.sent)
                .bind(s.refunded)
                .bind(s.closed_at)
                .bind(&s.close_reason)
                .bind(now)
        )?;
        inserted(done, "send_orders.send_order_no")
    }

    pub async fn add_sent(
        &mut self,
        send_order_no: &str,
        count: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let done = execute!(
            self,
            sqlx::query(ADD_SENT)
                .bind(count)
                .bind(now)
                .bind(send_order_no)
        )?;
        inserted(done, "send_orders (open)")
    }

    pub async fn close_send(
        &mut self,
        send_order_no: &str,
        refunded: i64,
        reason: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        let done = execute!(
            self,
            sqlx::query(CLOSE_SEND)
                .bind(refunded)
                .bind(now)
                .bind(reason)
                .bind(send_order_no)
        )?;
        inserted(done, "send_orders (open)")
    }

    /// The code merchant's app of an item, if it has one.
    pub async fn code_merchant(&mut self, item_id: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = on!(self, |c| sqlx::query_as(SELECT_CODE_MERCHANT)
            .bind(item_id)
            .fetch_optional(&mut **c)
            .await)?;
        Ok(row.map(|r| r.0))
    }

    pub async fn insert_code_merchant(
        &mut self,
        item_id: &str,
        app_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let done = execute!(
            self,
            sqlx::query(INSERT_CODE_MERCHANT)
                .bind(item_id)
                .bind(app_id)
                .bind(now)
        )?;
        inserted(done, "code_merchant_items.item_id")
    }

    pub async fn order(&mut self, order_no: &str) -> Result<Option<Order>, StoreError> {
        let row: Option<(String, String, String, i64)> =
            on!(self, |c| sqlx::query_as(SELECT_ORDER)
                .bind(order_no)
                .fetch_optional(&mut **c)
                .await)?;
        Ok(row.map(|r| Order {
            order_no: r.0,
            merchant_pid: r.1,
            item_id: r.2,
            created_at: r.3,
        }))
    }

    pub async fn codes_of_order(&mut self, order_no: &str) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = on!(self, |c| sqlx::query_as(CODES_OF_ORDER)
            .bind(order_no)
            .fetch_all(&mut **c)
            .await)?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    pub async fn trans_by_id(&mut self, trans_id: &str) -> Result<Option<Trans>, StoreError> {
        let sql = trans_by_id_sql();
        let row: Option<super::history::TransRow> =
            on!(self, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(trans_id)
                .fetch_optional(&mut **c)
                .await)?;
        Ok(row.map(Trans::from))
    }

    pub async fn order_trans(&mut self, order_no: &str) -> Result<Vec<Trans>, StoreError> {
        let sql = order_trans_sql();
        let rows: Vec<super::history::TransRow> =
            on!(self, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(order_no)
                .fetch_all(&mut **c)
                .await)?;
        Ok(rows.into_iter().map(Trans::from).collect())
    }

    /// A ticket and its item by voucher id; on PostgreSQL the ticket row is locked.
    pub async fn locked_ticket_of_voucher(
        &mut self,
        voucher_id: &str,
    ) -> Result<Option<TicketView>, StoreError> {
        let view = match self {
            Conn::Sqlite(_) => {
                self.ticket_view_by(&ticket_of_voucher_sql(), voucher_id)
                    .await?
            }
            Conn::Pg(_) => {
                let sql = format!("{} FOR UPDATE OF t", ticket_of_voucher_sql());
                self.ticket_view_by(&sql, voucher_id).await?
            }
        };
        Ok(view)
    }
}
