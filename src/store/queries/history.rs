//! History: ticket transactions, use orders and cancels.

use sqlx::FromRow;

use super::{Conn, StoreError, inserted};
use crate::ledger::{CancelRecord, Channel, Trans, TransKind, UseOrder};

#[derive(FromRow)]
struct TransRow {
    trans_id: String,
    voucher_id: String,
    kind: String,
    quantity: i64,
    use_order_id: Option<String>,
    reverses_trans_id: Option<String>,
    created_at: i64,
}

impl From<TransRow> for Trans {
    fn from(r: TransRow) -> Trans {
        Trans {
            trans_id: r.trans_id,
            voucher_id: r.voucher_id,
            kind: TransKind::parse(&r.kind).expect("only USE, CANCEL and REFUND are written"),
            quantity: r.quantity,
            use_order_id: r.use_order_id,
            reverses_trans_id: r.reverses_trans_id,
            created_at: r.created_at,
        }
    }
}

#[derive(FromRow)]
struct UseOrderRow {
    use_order_id: String,
    merchant_pid: String,
    request_id: String,
    channel: String,
    closed: i64,
    fingerprint: String,
    ticket_code: String,
    code_type: String,
    order_no: Option<String>,
    voucher_id: Option<String>,
    quantity: i64,
    answer: String,
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
            fingerprint: r.fingerprint,
            ticket_code: r.ticket_code,
            code_type: r.code_type,
            order_no: r.order_no,
            voucher_id: r.voucher_id,
            quantity: r.quantity,
            answer: r.answer,
            created_at: r.created_at,
        }
    }
}

#[derive(FromRow)]
struct CancelRow {
    cancel_id: String,
    merchant_pid: String,
    request_id: String,
    fingerprint: String,
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
            fingerprint: r.fingerprint,
            use_order_id: r.use_order_id,
            trans_id: r.trans_id,
            created_at: r.created_at,
        }
    }
}

impl Conn<'_> {
    // ---- transactions, use orders, cancels -----------------------------------------------

    pub async fn insert_trans(&mut self, t: &Trans) -> Result<(), StoreError> {
        let sql = "INSERT INTO ticket_trans (trans_id, voucher_id, kind, quantity, use_order_id, reverses_trans_id, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";
        let done = execute!(
            self,
            sqlx::query(sql)
                .bind(&t.trans_id)
                .bind(&t.voucher_id)
                .bind(t.kind.name())
                .bind(t.quantity)
                .bind(&t.use_order_id)
                .bind(&t.reverses_trans_id)
                .bind(t.created_at)
        )?;
        inserted(done, "ticket_trans.trans_id")
    }

    const TRANS_SELECT: &'static str = "SELECT trans_id, voucher_id, kind, quantity, use_order_id, reverses_trans_id, created_at FROM ticket_trans";

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
        let sql = "SELECT use_order_id, merchant_pid, request_id, channel, closed, fingerprint, ticket_code, code_type, \
                   order_no, voucher_id, quantity, answer, created_at FROM use_orders WHERE merchant_pid = $1 AND request_id = $2";
        let row: Option<UseOrderRow> = on!(self, |c| sqlx::query_as(sql)
            .bind(merchant_pid)
            .bind(request_id)
            .fetch_optional(&mut **c)
            .await)?;
        Ok(row.map(UseOrder::from))
    }

    pub async fn insert_use_order(&mut self, o: &UseOrder) -> Result<(), StoreError> {
        let sql = "INSERT INTO use_orders (use_order_id, merchant_pid, request_id, channel, closed, fingerprint, ticket_code, \
                   code_type, order_no, voucher_id, quantity, answer, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING";
        let done = execute!(
            self,
            sqlx::query(sql)
                .bind(&o.use_order_id)
                .bind(&o.merchant_pid)
                .bind(&o.request_id)
                .bind(o.channel.name())
                .bind(i64::from(o.closed))
                .bind(&o.fingerprint)
                .bind(&o.ticket_code)
                .bind(&o.code_type)
                .bind(&o.order_no)
                .bind(&o.voucher_id)
                .bind(o.quantity)
                .bind(&o.answer)
                .bind(o.created_at)
        )?;
        inserted(done, "use_orders (merchant_pid, request_id)")
    }

    const CANCEL_SELECT: &'static str = "SELECT cancel_id, merchant_pid, request_id, fingerprint, use_order_id, trans_id, created_at FROM cancels";

    pub async fn cancel_by_request(
        &mut self,
        merchant_pid: &str,
        request_id: &str,
    ) -> Result<Option<CancelRecord>, StoreError> {
        let sql = format!(
            "{} WHERE merchant_pid = $1 AND request_id = $2",
            Self::CANCEL_SELECT
        );
        let row: Option<CancelRow> =
            on!(self, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(merchant_pid)
                .bind(request_id)
                .fetch_optional(&mut **c)
                .await)?;
        Ok(row.map(CancelRecord::from))
    }

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
        let sql = "INSERT INTO cancels (cancel_id, merchant_pid, request_id, fingerprint, use_order_id, trans_id, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";
        let done = execute!(
            self,
            sqlx::query(sql)
                .bind(&r.cancel_id)
                .bind(&r.merchant_pid)
                .bind(&r.request_id)
                .bind(&r.fingerprint)
                .bind(&r.use_order_id)
                .bind(&r.trans_id)
                .bind(r.created_at)
        )?;
        inserted(done, "cancels")
    }
}
