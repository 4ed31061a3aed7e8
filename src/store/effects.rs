//! What each [`Effect`] of a plan writes: its statement, its arguments and the rows it must
//! change, in one place for both backends (SQLite runs them one by one, PostgreSQL a run of
//! them as one statement).

use super::Effect;
use super::StoreError;
use super::queries::{codes, history, log, notifications, tickets};
use super::sql::{Arg, args};

/// How many rows an effect's statement must change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::store) enum Check<'a> {
    /// One row, or the key named was taken by a concurrent writer: a retryable conflict.
    Inserted(&'static str),
    /// One row of a ticket this transaction loaded: anything else is a bug.
    Loaded(&'a str),
    /// Any number.
    Any,
}

impl Check<'_> {
    pub(in crate::store) fn verify(self, rows: u64) -> Result<(), StoreError> {
        match self {
            Check::Inserted(what) => super::queries::inserted(rows, what),
            Check::Loaded(voucher_id) => {
                tickets::changed_loaded_ticket(rows, voucher_id);
                Ok(())
            }
            Check::Any => Ok(()),
        }
    }
}

/// One statement of an effect: its SQL, its arguments, and what it must change.
pub(in crate::store) struct RowWrite<'a> {
    pub sql: &'static str,
    pub args: Vec<Arg<'a>>,
    pub check: Check<'a>,
}

/// The one statement an effect writes, at `now`; `None` for the effects of many rows
/// (`Tickets`, `Log`), which go through their own multi-row statements.
pub(in crate::store) fn row_write(effect: &Effect, now: i64) -> Option<RowWrite<'_>> {
    let (sql, args, check): (_, Vec<Arg<'_>>, _) = match effect {
        Effect::UseOrder(o) => (
            history::INSERT_USE_ORDER,
            history::use_order_args(o).into(),
            Check::Inserted(history::USE_ORDER_KEY),
        ),
        Effect::Trans(t) => (
            history::INSERT_TRANS,
            history::trans_args(t).into(),
            Check::Inserted(history::TRANS_KEY),
        ),
        Effect::Available { voucher_id, delta } => (
            tickets::ADD_AVAILABLE,
            args![*delta, now, voucher_id].into(),
            Check::Loaded(voucher_id),
        ),
        Effect::Expire {
            voucher_id,
            expire_at,
        } => (
            tickets::SET_EXPIRE,
            args![*expire_at, now, voucher_id].into(),
            Check::Loaded(voucher_id),
        ),
        Effect::Cancel(r) => (
            history::INSERT_CANCEL,
            history::cancel_args(r).into(),
            Check::Inserted(history::CANCEL_KEY),
        ),
        Effect::Record(key, record) => (
            history::INSERT_IDEMPOTENCY,
            history::record_args(key, record, now).into(),
            Check::Inserted(history::IDEMPOTENCY_KEY),
        ),
        Effect::Notify(n) => (
            notifications::INSERT_NOTIFICATION,
            notifications::notification_args(n).into(),
            Check::Inserted(notifications::NOTIFICATION_KEY),
        ),
        Effect::Order {
            order_no,
            merchant_pid,
            item_id,
        } => (
            tickets::INSERT_ORDER,
            args![order_no, merchant_pid, item_id, now].into(),
            Check::Inserted("orders.order_no"),
        ),
        Effect::Refunded { voucher_id } => (
            tickets::MARK_REFUNDED,
            args![now, voucher_id].into(),
            Check::Loaded(voucher_id),
        ),
        Effect::TrimLog { keep } => (log::TRIM_LOG, args![*keep].into(), Check::Any),
        Effect::SendOrder(s) => (
            codes::INSERT_SEND_ORDER,
            codes::send_order_args(s, now).into(),
            Check::Inserted(codes::SEND_ORDER_KEY),
        ),
        Effect::Sent {
            send_order_no,
            count,
        } => (
            codes::ADD_SENT,
            args![*count, now, send_order_no].into(),
            Check::Inserted(codes::OPEN_SEND_ORDER),
        ),
        Effect::SendClosed {
            send_order_no,
            refunded,
            reason,
        } => (
            codes::CLOSE_SEND,
            args![*refunded, now, reason, send_order_no].into(),
            Check::Inserted(codes::OPEN_SEND_ORDER),
        ),
        Effect::Tickets(_) | Effect::Log(_) => return None,
    };
    Some(RowWrite { sql, args, check })
}
