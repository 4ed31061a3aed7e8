//! The code merchant flow's rows (code-merchant items, send orders) and orders.

use std::future::Future;
use std::sync::LazyLock;

use super::tickets::{Forms, form};
use super::{Tx, all, inserted, one};
use crate::ledger::codes::SendOrder;
use crate::ledger::order::Order;
use crate::store::StoreError;
use crate::store::sql::{Arg, Cols, FromRow, args};

impl FromRow for SendOrder {
    fn from_cols(c: &mut Cols) -> Result<Self, StoreError> {
        Ok(SendOrder {
            send_order_no: c.text()?,
            order_no: c.text()?,
            merchant_pid: c.text()?,
            item_id: c.text()?,
            app_id: c.text()?,
            send_token: c.text()?,
            quantity: c.int()?,
            sent: c.int()?,
            refunded: c.int()?,
            closed_at: c.opt_int()?,
            close_reason: c.opt_text()?,
            created_at: c.int()?,
        })
    }
}

impl FromRow for Order {
    fn from_cols(c: &mut Cols) -> Result<Self, StoreError> {
        Ok(Order {
            order_no: c.text()?,
            merchant_pid: c.text()?,
            item_id: c.text()?,
            created_at: c.int()?,
        })
    }
}

/// A send order's values in the order of `INSERT_SEND_ORDER`'s placeholders.
pub(in crate::store) fn send_order_args(s: &SendOrder, now: i64) -> [Arg<'_>; 12] {
    args![
        &s.send_order_no,
        &s.order_no,
        &s.merchant_pid,
        &s.item_id,
        &s.app_id,
        &s.send_token,
        s.quantity,
        s.sent,
        s.refunded,
        s.closed_at,
        &s.close_reason,
        now
    ]
}

/// The send order of an order (`$1`), plain and locked.
static SEND_ORDER: Forms = LazyLock::new(|| {
    let sql = "SELECT send_order_no, order_no, merchant_pid, item_id, app_id, send_token, quantity, sent, \
         refunded, closed_at, close_reason, created_at FROM send_orders WHERE order_no = $1";
    [sql.to_string(), format!("{sql} FOR UPDATE")]
});
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
pub(in crate::store) const SEND_ORDER_KEY: &str = "send_orders.send_order_no";
pub(in crate::store) const OPEN_SEND_ORDER: &str = "send_orders (open)";

/// The statements of orders and the code merchant flow, for every backend.
pub trait Codes: Tx {
    fn order(
        &mut self,
        order_no: &str,
    ) -> impl Future<Output = Result<Option<Order>, StoreError>> + Send {
        async move {
            let sql = "SELECT order_no, merchant_pid, item_id, created_at FROM orders WHERE order_no = $1";
            one(self, sql, &args![order_no]).await
        }
    }

    /// The send order of an order, locked.
    fn locked_send_order(
        &mut self,
        order_no: &str,
    ) -> impl Future<Output = Result<Option<SendOrder>, StoreError>> + Send {
        async move { one(self, form::<Self>(&SEND_ORDER), &args![order_no]).await }
    }

    /// The send order of an order, unlocked.
    fn send_order(
        &mut self,
        order_no: &str,
    ) -> impl Future<Output = Result<Option<SendOrder>, StoreError>> + Send {
        async move { one(self, &SEND_ORDER[0], &args![order_no]).await }
    }

    /// The codes an order holds already.
    fn codes_of_order(
        &mut self,
        order_no: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send {
        async move {
            let sql = "SELECT code FROM tickets WHERE order_no = $1";
            all(self, sql, &args![order_no]).await
        }
    }

    /// The code merchant's app id of an item, if it has one.
    fn code_merchant_app(
        &mut self,
        item_id: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
        async move {
            let sql = "SELECT app_id FROM code_merchant_items WHERE item_id = $1";
            one(self, sql, &args![item_id]).await
        }
    }

    fn insert_code_merchant(
        &mut self,
        item_id: &str,
        app_id: &str,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            let sql = "INSERT INTO code_merchant_items (item_id, app_id, created_at) VALUES ($1, $2, $3) \
                       ON CONFLICT DO NOTHING";
            let done = self.execute(sql, &args![item_id, app_id, now]).await?;
            inserted(done, "code_merchant_items.item_id")
        }
    }
}

impl<T: Tx> Codes for T {}
