//! History: ticket transactions, use orders, cancels and the idempotency records.

use std::future::Future;
use std::sync::LazyLock;

use super::{Tx, all, one};
use crate::ledger::idempotency::{Key, Outcome, Record};
use crate::ledger::{CancelRecord, Channel, CodeType, Trans, TransKind, UseOrder};
use crate::store::StoreError;
use crate::store::sql::{Arg, Cols, FromRow, args};

pub(in crate::store) const TRANS_COLUMNS: &str = "trans_id, voucher_id, kind, quantity, use_order_id, reverses_trans_id, \
     expire_before, expire_after, created_at";

impl FromRow for Trans {
    fn from_cols(c: &mut Cols) -> Result<Self, StoreError> {
        Ok(Trans {
            trans_id: c.text()?,
            voucher_id: c.text()?,
            kind: TransKind::parse(&c.text()?).expect("only the kinds of TransKind are written"),
            quantity: c.int()?,
            use_order_id: c.opt_text()?,
            reverses_trans_id: c.opt_text()?,
            expire_change: c.opt_int()?.zip(c.opt_int()?),
            created_at: c.int()?,
        })
    }
}

/// A transaction's values in the order of `INSERT_TRANS`'s placeholders.
pub(in crate::store) fn trans_args(t: &Trans) -> [Arg<'_>; 9] {
    args![
        &t.trans_id,
        &t.voucher_id,
        t.kind.name(),
        t.quantity,
        &t.use_order_id,
        &t.reverses_trans_id,
        t.expire_change.map(|c| c.0),
        t.expire_change.map(|c| c.1),
        t.created_at
    ]
}

pub(in crate::store) const USE_ORDER_COLUMNS: &str = "use_order_id, merchant_pid, request_id, channel, closed, ticket_code, \
     code_type, order_no, voucher_id, quantity, created_at";

impl FromRow for UseOrder {
    fn from_cols(c: &mut Cols) -> Result<Self, StoreError> {
        Ok(UseOrder {
            use_order_id: c.text()?,
            merchant_pid: c.text()?,
            request_id: c.text()?,
            channel: Channel::parse(&c.text()?),
            closed: c.flag()?,
            ticket_code: c.text()?,
            code_type: CodeType::parse(Some(&c.text()?)),
            order_no: c.opt_text()?,
            voucher_id: c.opt_text()?,
            quantity: c.int()?,
            created_at: c.int()?,
        })
    }
}

/// A use order's values in the order of `INSERT_USE_ORDER`'s placeholders.
pub(in crate::store) fn use_order_args(o: &UseOrder) -> [Arg<'_>; 11] {
    args![
        &o.use_order_id,
        &o.merchant_pid,
        &o.request_id,
        o.channel.name(),
        o.closed,
        &o.ticket_code,
        o.code_type.map_or("INVALID", CodeType::name),
        &o.order_no,
        &o.voucher_id,
        o.quantity,
        o.created_at
    ]
}

pub(in crate::store) const CANCEL_COLUMNS: &str =
    "cancel_id, merchant_pid, request_id, use_order_id, trans_id, created_at";

impl FromRow for CancelRecord {
    fn from_cols(c: &mut Cols) -> Result<Self, StoreError> {
        Ok(CancelRecord {
            cancel_id: c.text()?,
            merchant_pid: c.text()?,
            request_id: c.text()?,
            use_order_id: c.text()?,
            trans_id: c.text()?,
            created_at: c.int()?,
        })
    }
}

/// A cancel's values in the order of `INSERT_CANCEL`'s placeholders.
pub(in crate::store) fn cancel_args(r: &CancelRecord) -> [Arg<'_>; 6] {
    args![
        &r.cancel_id,
        &r.merchant_pid,
        &r.request_id,
        &r.use_order_id,
        &r.trans_id,
        r.created_at
    ]
}

impl FromRow for Record {
    fn from_cols(c: &mut Cols) -> Result<Self, StoreError> {
        Ok(record_from(c.text()?, c.int()?, c.text()?))
    }
}

/// An idempotency record's values in the order of `INSERT_IDEMPOTENCY`'s placeholders.
pub(in crate::store) fn record_args<'a>(
    key: &'a Key,
    record: &'a Record,
    now: i64,
) -> [Arg<'a>; 7] {
    let (refused, answer) = match &record.outcome {
        Outcome::Answered(json) => (0, Arg::from(json)),
        Outcome::Refused { sub_code, sub_msg } => (
            1,
            Arg::from(serde_json::json!({"sub_code": sub_code, "sub_msg": sub_msg}).to_string()),
        ),
    };
    [
        Arg::from(key.merchant_pid.as_str()),
        Arg::from(key.method),
        Arg::from(key.request_id.as_str()),
        Arg::from(&record.fingerprint),
        Arg::from(refused),
        answer,
        Arg::from(now),
    ]
}

/// What a taken key of each insert below is called, in its conflict.
pub(in crate::store) const TRANS_KEY: &str = "ticket_trans.trans_id";
pub(in crate::store) const USE_ORDER_KEY: &str = "use_orders (merchant_pid, request_id)";
pub(in crate::store) const CANCEL_KEY: &str = "cancels";
pub(in crate::store) const IDEMPOTENCY_KEY: &str = "idempotency (merchant_pid, method, request_id)";
pub(in crate::store) const INSERT_TRANS: &str = "INSERT INTO ticket_trans (trans_id, voucher_id, kind, quantity, use_order_id, reverses_trans_id, \
                   expire_before, expire_after, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING";
pub(in crate::store) static SELECT_USE_ORDER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {USE_ORDER_COLUMNS} FROM use_orders WHERE merchant_pid = $1 AND request_id = $2"
    )
});
pub(in crate::store) const INSERT_USE_ORDER: &str = "INSERT INTO use_orders (use_order_id, merchant_pid, request_id, channel, closed, ticket_code, \
                   code_type, order_no, voucher_id, quantity, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING";
pub(in crate::store) const INSERT_CANCEL: &str = "INSERT INTO cancels (cancel_id, merchant_pid, request_id, use_order_id, trans_id, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";
const SELECT_IDEMPOTENCY: &str = "SELECT fingerprint, refused, answer FROM idempotency \
                   WHERE merchant_pid = $1 AND method = $2 AND request_id = $3";
pub(in crate::store) const INSERT_IDEMPOTENCY: &str = "INSERT INTO idempotency (merchant_pid, method, request_id, fingerprint, refused, answer, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";

static TRANS_OF_TICKET: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {TRANS_COLUMNS} FROM ticket_trans WHERE voucher_id = $1 ORDER BY created_at, trans_id"
    )
});
static USES_OF_ORDER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {TRANS_COLUMNS} FROM ticket_trans WHERE use_order_id = $1 AND kind = 'USE' \
         ORDER BY created_at, trans_id"
    )
});
static TRANS_BY_ID: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {TRANS_COLUMNS} FROM ticket_trans WHERE trans_id = $1"));
static ORDER_TRANS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {TRANS_COLUMNS} FROM ticket_trans WHERE voucher_id IN \
         (SELECT voucher_id FROM tickets WHERE order_no = $1) ORDER BY created_at, trans_id"
    )
});
static CANCEL_OF_USE: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {CANCEL_COLUMNS} FROM cancels WHERE use_order_id = $1"));

/// Whether a use transaction of use order `$1` was refunded since (1 or 0).
static REFUNDED_AFTER_USE: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {}", refunded_after_use_sql("$1")));
/// Whether units of a use transaction of use order `$1` were given back since (1 or 0).
static GIVEN_BACK: LazyLock<String> = LazyLock::new(|| format!("SELECT {}", given_back_sql("$1")));

/// 1 when a use transaction of the use order `order_id` (an SQL expression) was refunded since
/// (a refund on its ticket reverses it), else 0.
pub(in crate::store) fn refunded_after_use_sql(order_id: &str) -> String {
    reversed_sql(order_id, "REFUND")
}

/// 1 when units of a use transaction of the use order `order_id` were given back since (a
/// cancel that names it: the code merchant's sync), else 0.
pub(in crate::store) fn given_back_sql(order_id: &str) -> String {
    reversed_sql(order_id, "CANCEL")
}

fn reversed_sql(order_id: &str, kind: &str) -> String {
    format!(
        "CAST(CASE WHEN EXISTS (SELECT 1 FROM ticket_trans u JOIN ticket_trans r \
         ON r.voucher_id = u.voucher_id AND r.reverses_trans_id = u.trans_id \
         WHERE u.use_order_id = {order_id} AND u.kind = 'USE' AND r.kind = '{kind}') \
         THEN 1 ELSE 0 END AS BIGINT)"
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

/// The statements of the ledger's history, for every backend.
pub trait History: Tx {
    /// Every transaction of a ticket, oldest first.
    fn history(
        &mut self,
        voucher_id: &str,
    ) -> impl Future<Output = Result<Vec<Trans>, StoreError>> + Send {
        async move { all(self, &TRANS_OF_TICKET, &args![voucher_id]).await }
    }

    /// Every transaction of an order's tickets, oldest first.
    fn order_trans(
        &mut self,
        order_no: &str,
    ) -> impl Future<Output = Result<Vec<Trans>, StoreError>> + Send {
        async move { all(self, &ORDER_TRANS, &args![order_no]).await }
    }

    /// One transaction by id.
    fn trans_by_id(
        &mut self,
        trans_id: &str,
    ) -> impl Future<Output = Result<Option<Trans>, StoreError>> + Send {
        async move { one(self, &TRANS_BY_ID, &args![trans_id]).await }
    }

    /// Whether a use transaction of a use order was refunded since.
    fn refunded_after_use(
        &mut self,
        use_order_id: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move {
            let n: Option<i64> = one(self, &REFUNDED_AFTER_USE, &args![use_order_id]).await?;
            Ok(n.is_some_and(|n| n != 0))
        }
    }

    /// Whether units of a use order's use transactions were given back since (by a sync).
    fn given_back(
        &mut self,
        use_order_id: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move {
            let n: Option<i64> = one(self, &GIVEN_BACK, &args![use_order_id]).await?;
            Ok(n.is_some_and(|n| n != 0))
        }
    }

    /// The use transactions of a use order.
    fn use_order_trans(
        &mut self,
        use_order_id: &str,
    ) -> impl Future<Output = Result<Vec<Trans>, StoreError>> + Send {
        async move { all(self, &USES_OF_ORDER, &args![use_order_id]).await }
    }

    fn use_order(
        &mut self,
        merchant_pid: &str,
        request_id: &str,
    ) -> impl Future<Output = Result<Option<UseOrder>, StoreError>> + Send {
        async move { one(self, &SELECT_USE_ORDER, &args![merchant_pid, request_id]).await }
    }

    fn cancel_of_use(
        &mut self,
        use_order_id: &str,
    ) -> impl Future<Output = Result<Option<CancelRecord>, StoreError>> + Send {
        async move { one(self, &CANCEL_OF_USE, &args![use_order_id]).await }
    }

    /// The idempotency record of a request id, if it was seen before.
    fn record(
        &mut self,
        key: &Key,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send {
        async move {
            let values = args![
                key.merchant_pid.as_str(),
                key.method,
                key.request_id.as_str()
            ];
            one(self, SELECT_IDEMPOTENCY, &values).await
        }
    }
}

impl<T: Tx> History for T {}
