//! An operation's reads of several tables at one point (after its ticket lock, or for a
//! read-only call). Each round trip to PostgreSQL is a send, a wake-up and a parse on both
//! sides, so there they are one statement: the first table's row, with the others' as scalar
//! subqueries (a name, or rows as a JSON array). SQLite, in process, reads them statement by
//! statement.

use std::sync::LazyLock;

use super::conn::{PgTx, bound, row_values};
use crate::ledger::idempotency::{Key, Record};
use crate::ledger::{CancelRecord, CodeType, ShopFacts, TicketView, Trans};
use crate::store::StoreError;
use crate::store::ledger::UseOrderHistory;
use crate::store::queries::history::{
    SELECT_USE_ORDER, given_back_sql, record_from, refunded_after_use_sql,
};
use crate::store::queries::tickets::{TICKET_VIEW_SELECT, ticket_filter};
use crate::store::sql::{FromRow, Row, args};

/// A `ticket_trans` row `tr` as a JSON array of its columns, in `TRANS_COLUMNS`' order (read
/// back as a [`Row`], so a transaction is decoded in one place on every path).
const TRANS_JSON: &str = "json_build_array(tr.trans_id, tr.voucher_id, tr.kind, tr.quantity, \
     tr.use_order_id, tr.reverses_trans_id, tr.expire_before, tr.expire_after, tr.created_at)";

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
/// in order, and whether one of those was refunded, or given back by a sync, since.
static USE_ORDER_HISTORY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT o.*, \
         (SELECT json_build_array(c.cancel_id, c.merchant_pid, c.request_id, c.use_order_id, \
          c.trans_id, c.created_at)::text FROM cancels c WHERE c.use_order_id = o.use_order_id) \
          AS cancel, \
         (SELECT json_agg({TRANS_JSON} ORDER BY tr.created_at, tr.trans_id)::text \
          FROM ticket_trans tr WHERE tr.use_order_id = o.use_order_id AND tr.kind = 'USE') AS trans, \
         {} AS refunded_use, {} AS given_back \
         FROM ({}) o",
        refunded_after_use_sql("o.use_order_id"),
        given_back_sql("o.use_order_id"),
        SELECT_USE_ORDER.as_str()
    )
});

/// A row a statement built as a JSON array of column values.
fn json_row(values: Vec<serde_json::Value>) -> Result<Row, StoreError> {
    use crate::store::sql::Value;
    let values = values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::Null => Ok(Value::Null),
            serde_json::Value::String(s) => Ok(Value::Text(s)),
            serde_json::Value::Number(n) => n
                .as_i64()
                .map(Value::Int)
                .ok_or_else(|| StoreError::Decode(format!("a JSON number out of range: {n}"))),
            other => Err(StoreError::Decode(format!(
                "a JSON value of no column: {other}"
            ))),
        })
        .collect::<Result<_, _>>()?;
    Ok(Row(values))
}

fn decode_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Decode(format!("a row the statement built as JSON: {e}")))
}

/// One row a statement built as a JSON array (`None`: the subquery found no row).
fn one_json<R: FromRow>(json: Option<String>) -> Result<Option<R>, StoreError> {
    json.map(|text| R::from_row(json_row(decode_json(&text)?)?))
        .transpose()
}

/// Rows of a JSON array of arrays a statement built (none: `json_agg` over no rows is NULL).
fn json_rows<R: FromRow>(json: Option<String>) -> Result<Vec<R>, StoreError> {
    let Some(text) = json else {
        return Ok(Vec::new());
    };
    let rows: Vec<Vec<serde_json::Value>> = decode_json(&text)?;
    rows.into_iter()
        .map(|values| R::from_row(json_row(values)?))
        .collect()
}

/// The first row of a statement, as values.
async fn first_row<const LOCKS: bool>(
    tx: &mut PgTx<'_, LOCKS>,
    sql: &str,
    values: &[crate::store::sql::Arg<'_>],
) -> Result<Option<Row>, StoreError> {
    tx.statement()?;
    let row = bound(sql, values).fetch_optional(&mut *tx.conn).await?;
    row.as_ref().map(row_values).transpose()
}

/// A query's facts in one statement.
pub(super) async fn query_view<const LOCKS: bool>(
    tx: &mut PgTx<'_, LOCKS>,
    code: &str,
    merchant_pid: &str,
    shop_id: &str,
) -> Result<Option<(TicketView, ShopFacts, Vec<Trans>)>, StoreError> {
    let values = args![code, "", merchant_pid, shop_id];
    let Some(row) = first_row(tx, &QUERY_VIEW, &values).await? else {
        return Ok(None);
    };
    let mut c = row.cols();
    let view = TicketView::from_cols(&mut c)?;
    let shop = ShopFacts::named(shop_id, c.opt_text()?);
    Ok(Some((view, shop, json_rows(c.opt_text()?)?)))
}

/// The idempotency record of `key` and the merchant's shop in one statement.
pub(super) async fn record_and_shop<const LOCKS: bool>(
    tx: &mut PgTx<'_, LOCKS>,
    key: &Key,
    shop_id: &str,
) -> Result<(Option<Record>, ShopFacts), StoreError> {
    let merchant_pid = key.merchant_pid.as_str();
    let values = args![merchant_pid, key.method, key.request_id.as_str(), shop_id];
    let row = first_row(tx, RECORD_AND_SHOP, &values)
        .await?
        .ok_or_else(|| StoreError::Decode("RECORD_AND_SHOP answers one row".into()))?;
    let mut c = row.cols();
    let (fingerprint, refused, answer) = (c.opt_text()?, c.opt_int()?, c.opt_text()?);
    let record = match (fingerprint, refused, answer) {
        (Some(f), Some(r), Some(a)) => Some(record_from(f, r, a)),
        _ => None,
    };
    Ok((record, ShopFacts::named(shop_id, c.opt_text()?)))
}

/// A use order's history in one statement.
pub(super) async fn use_order_history<const LOCKS: bool>(
    tx: &mut PgTx<'_, LOCKS>,
    merchant_pid: &str,
    request_id: &str,
) -> Result<Option<UseOrderHistory>, StoreError> {
    let values = args![merchant_pid, request_id];
    let Some(row) = first_row(tx, &USE_ORDER_HISTORY, &values).await? else {
        return Ok(None);
    };
    let mut c = row.cols();
    Ok(Some(UseOrderHistory {
        order: crate::ledger::UseOrder::from_cols(&mut c)?,
        cancel: one_json::<CancelRecord>(c.opt_text()?)?,
        trans: json_rows(c.opt_text()?)?,
        refunded: c.int()? != 0,
        given_back: c.int()? != 0,
    }))
}
