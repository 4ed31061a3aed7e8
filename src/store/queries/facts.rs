//! An operation's reads of several tables at one point (after its ticket lock, or for a
//! read-only call). Each round trip to PostgreSQL is a send, a wake-up and a parse on both
//! sides, so there they are one statement: the first table's row, with the others' as scalar
//! subqueries (a name, or rows as a JSON array). SQLite, in process, reads them statement by
//! statement.

use std::sync::LazyLock;

use sqlx::FromRow;

use super::history::{
    CancelRow, SELECT_USE_ORDER, TransRow, UseOrderRow, record_from, refunded_after_use_sql,
};
use super::tickets::{Lock, TICKET_VIEW_SELECT, TicketViewRow, ticket_filter};
use super::{Conn, StoreError};
use crate::ledger::idempotency::{Key, Record};
use crate::ledger::{CancelRecord, CodeType, ShopFacts, TicketView, Trans, UseOrder};

/// A `ticket_trans` row `tr` as a JSON object with `TransRow`'s fields.
const TRANS_JSON: &str = "json_build_object('trans_id', tr.trans_id, 'voucher_id', tr.voucher_id, \
     'kind', tr.kind, 'quantity', tr.quantity, 'use_order_id', tr.use_order_id, \
     'reverses_trans_id', tr.reverses_trans_id, 'expire_before', tr.expire_before, \
     'expire_after', tr.expire_after, 'created_at', tr.created_at)";

/// The ticket an internal code (`$1`, `$2` unused) names with its item, the name of the
/// merchant's (`$3`) shop `$4`, and the ticket's transactions in order.
static QUERY_VIEW: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT v.*, \
         (SELECT s.name FROM shops s WHERE s.merchant_pid = $3 AND s.shop_id = $4) AS shop_name, \
         (SELECT json_agg({TRANS_JSON} ORDER BY tr.created_at, tr.trans_id)::text \
          FROM ticket_trans tr WHERE tr.voucher_id = v.voucher_id) AS trans \
         FROM ({TICKET_VIEW_SELECT} WHERE {}) v",
        ticket_filter(CodeType::Internal)
    )
});

/// The idempotency record of (`$1` merchant, `$2` method, `$3` request id), if any, and the
/// name of the merchant's shop `$4`: one row whatever exists.
const RECORD_AND_SHOP: &str = "SELECT r.fingerprint, r.refused, r.answer, \
     (SELECT s.name FROM shops s WHERE s.merchant_pid = $1 AND s.shop_id = $4) AS shop_name \
     FROM (SELECT 1 AS one) one LEFT JOIN idempotency r \
     ON r.merchant_pid = $1 AND r.method = $2 AND r.request_id = $3";

/// The merchant's (`$1`) use order of request id `$2`, with its cancel, its use transactions
/// in order, and whether one of those was refunded since.
static USE_ORDER_HISTORY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT o.*, \
         (SELECT json_build_object('cancel_id', c.cancel_id, 'merchant_pid', c.merchant_pid, \
          'request_id', c.request_id, 'use_order_id', c.use_order_id, 'trans_id', c.trans_id, \
          'created_at', c.created_at)::text FROM cancels c WHERE c.use_order_id = o.use_order_id) \
          AS cancel, \
         (SELECT json_agg({TRANS_JSON} ORDER BY tr.created_at, tr.trans_id)::text \
          FROM ticket_trans tr WHERE tr.use_order_id = o.use_order_id AND tr.kind = 'USE') AS trans, \
         {} AS refunded_use \
         FROM ({SELECT_USE_ORDER}) o",
        refunded_after_use_sql("o.use_order_id")
    )
});

#[derive(FromRow)]
struct QueryViewRow {
    #[sqlx(flatten)]
    view: TicketViewRow,
    shop_name: Option<String>,
    trans: Option<String>,
}

#[derive(FromRow)]
struct UseOrderHistoryRow {
    #[sqlx(flatten)]
    order: UseOrderRow,
    cancel: Option<String>,
    trans: Option<String>,
    refunded_use: i32,
}

/// A value a statement built as JSON (`None`: the subquery found no row).
fn from_json<T: serde::de::DeserializeOwned>(
    json: Option<String>,
) -> Result<Option<T>, StoreError> {
    json.map(|text| {
        serde_json::from_str(&text).map_err(|e| {
            StoreError::Db(sqlx::Error::Decode(
                format!("a row the statement built as JSON: {e}").into(),
            ))
        })
    })
    .transpose()
}

/// Rows of a JSON array a statement built, each decoded as `R` and converted (none:
/// `json_agg` over no rows is NULL).
fn json_rows<R: serde::de::DeserializeOwned, T: From<R>>(
    json: Option<String>,
) -> Result<Vec<T>, StoreError> {
    let rows: Vec<R> = from_json(json)?.unwrap_or_default();
    Ok(rows.into_iter().map(T::from).collect())
}

/// A use order, its cancel if any, its use transactions, and whether one was refunded since.
pub(in crate::store) struct UseOrderHistory {
    pub order: UseOrder,
    pub cancel: Option<CancelRecord>,
    pub trans: Vec<Trans>,
    pub refunded: bool,
}

impl Conn<'_> {
    /// A query's facts: the ticket an internal code names, the shop, and the ticket's
    /// transactions — `None` when no ticket has the code. One statement on PostgreSQL.
    pub(in crate::store) async fn query_view(
        &mut self,
        code: &str,
        merchant_pid: &str,
        shop_id: &str,
    ) -> Result<Option<(TicketView, ShopFacts, Vec<Trans>)>, StoreError> {
        let c = match self {
            Conn::Pg(c) => c,
            Conn::Sqlite(_) => {
                let ticket = self
                    .ticket(CodeType::Internal, code, None, Lock::No)
                    .await?;
                let Some(view) = ticket else { return Ok(None) };
                let shop = self.shop(merchant_pid, shop_id).await?;
                let trans = self.ticket_trans(&view.ticket.voucher_id).await?;
                return Ok(Some((view, shop, trans)));
            }
        };
        let row: Option<QueryViewRow> = sqlx::query_as(QUERY_VIEW.as_str())
            .bind(code)
            .bind("")
            .bind(merchant_pid)
            .bind(shop_id)
            .fetch_optional(&mut **c)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((
            row.view.into(),
            ShopFacts::named(shop_id, row.shop_name),
            json_rows::<TransRow, _>(row.trans)?,
        )))
    }

    /// The idempotency record of `key` and the merchant's shop. One statement on PostgreSQL.
    pub(in crate::store) async fn record_and_shop(
        &mut self,
        key: &Key,
        shop_id: &str,
    ) -> Result<(Option<Record>, ShopFacts), StoreError> {
        let merchant_pid = key.merchant_pid.as_str();
        let c = match self {
            Conn::Pg(c) => c,
            Conn::Sqlite(_) => {
                let record = self.idempotency(key).await?;
                return Ok((record, self.shop(merchant_pid, shop_id).await?));
            }
        };
        let row: (Option<String>, Option<i64>, Option<String>, Option<String>) =
            sqlx::query_as(RECORD_AND_SHOP)
                .bind(merchant_pid)
                .bind(key.method)
                .bind(key.request_id.as_str())
                .bind(shop_id)
                .fetch_one(&mut **c)
                .await?;
        let (fingerprint, refused, answer, shop_name) = row;
        let record = match (fingerprint, refused, answer) {
            (Some(f), Some(r), Some(a)) => Some(record_from(f, r, a)),
            _ => None,
        };
        Ok((record, ShopFacts::named(shop_id, shop_name)))
    }

    /// The merchant's use order of `request_id` with its cancel, its use transactions and
    /// whether one was refunded since. One statement on PostgreSQL.
    pub(in crate::store) async fn use_order_history(
        &mut self,
        merchant_pid: &str,
        request_id: &str,
    ) -> Result<Option<UseOrderHistory>, StoreError> {
        let c = match self {
            Conn::Pg(c) => c,
            Conn::Sqlite(_) => {
                let Some(order) = self.use_order(merchant_pid, request_id).await? else {
                    return Ok(None);
                };
                let id = &order.use_order_id;
                return Ok(Some(UseOrderHistory {
                    cancel: self.cancel_of_use(id).await?,
                    trans: self.use_order_trans(id).await?,
                    refunded: self.refunded_after_use(id).await?,
                    order,
                }));
            }
        };
        let row: Option<UseOrderHistoryRow> = sqlx::query_as(USE_ORDER_HISTORY.as_str())
            .bind(merchant_pid)
            .bind(request_id)
            .fetch_optional(&mut **c)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(UseOrderHistory {
            order: row.order.into(),
            cancel: from_json::<CancelRow>(row.cancel)?.map(CancelRecord::from),
            trans: json_rows::<TransRow, _>(row.trans)?,
            refunded: row.refunded_use != 0,
        }))
    }
}
