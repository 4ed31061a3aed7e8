//! Every statement, written once in SQL that SQLite and PostgreSQL both accept (`$n`
//! placeholders, `ON CONFLICT DO NOTHING`, BIGINT/TEXT columns).

use sqlx::FromRow;

use super::{Conn, StoreError};
use crate::alipay::money::Cents;
use crate::ledger::{
    CancelRecord, Channel, CodeType, Item, Ticket, TicketView, Trans, TransKind, UseOrder,
};

/// Runs the same expression against whichever connection this is.
macro_rules! on {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            Conn::Sqlite($c) => $body,
            Conn::Pg($c) => $body,
        }
    };
}

/// A registered app.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct AppRecord {
    pub app_id: String,
    pub merchant_pid: String,
    pub public_key_pem: String,
    pub sign_type: String,
    pub charset: String,
    pub notify_url: Option<String>,
}

#[derive(FromRow)]
struct ItemRow {
    item_id: String,
    merchant_pid: String,
    name: String,
    alias: Option<String>,
    original_price_cents: i64,
    price_cents: i64,
    times: Option<i64>,
    shop_ids: Option<String>,
    valid_from: Option<i64>,
    valid_to: Option<i64>,
}

impl From<ItemRow> for Item {
    fn from(r: ItemRow) -> Item {
        Item {
            item_id: r.item_id,
            merchant_pid: r.merchant_pid,
            name: r.name,
            alias: r.alias,
            original_price: Cents(r.original_price_cents),
            price: Cents(r.price_cents),
            times: r.times,
            shop_ids: r
                .shop_ids
                .map(|s| s.split(',').map(str::to_string).collect()),
            valid_from: r.valid_from,
            valid_to: r.valid_to,
        }
    }
}

#[derive(FromRow)]
struct TicketRow {
    voucher_id: String,
    code: String,
    code_type: String,
    order_no: String,
    merchant_pid: String,
    item_id: String,
    total_quantity: i64,
    available_quantity: i64,
    refunded: i64,
    effect_at: i64,
    expire_at: i64,
}

impl From<TicketRow> for Ticket {
    fn from(r: TicketRow) -> Ticket {
        Ticket {
            voucher_id: r.voucher_id,
            code: r.code,
            code_type: CodeType::parse(Some(&r.code_type)).unwrap_or(CodeType::Internal),
            order_no: r.order_no,
            merchant_pid: r.merchant_pid,
            item_id: r.item_id,
            total_quantity: r.total_quantity,
            available_quantity: r.available_quantity,
            refunded: r.refunded != 0,
            effect_at: r.effect_at,
            expire_at: r.expire_at,
        }
    }
}

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

const TICKET_COLUMNS: &str = "voucher_id, code, code_type, order_no, merchant_pid, item_id, \
     total_quantity, available_quantity, refunded, effect_at, expire_at";

/// Turns "no row was inserted" into a retryable conflict.
fn inserted(rows: u64, what: &'static str) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict(what))
    }
}

impl Conn<'_> {
    // ---- platform key ------------------------------------------------------------------

    pub async fn platform_key(&mut self) -> Result<Option<(String, String)>, StoreError> {
        let sql = "SELECT private_key_pem, public_key_pem FROM platform_keys WHERE id = 1";
        Ok(on!(self, |c| sqlx::query_as(sql)
            .fetch_optional(&mut **c)
            .await)?)
    }

    pub async fn insert_platform_key(
        &mut self,
        private: &str,
        public: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO platform_keys (id, private_key_pem, public_key_pem, created_at) \
                   VALUES (1, $1, $2, $3) ON CONFLICT DO NOTHING";
        let done = on!(self, |c| sqlx::query(sql)
            .bind(private)
            .bind(public)
            .bind(now)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    // ---- merchants, apps, shops, tokens ----------------------------------------------

    pub async fn any_merchant(&mut self) -> Result<bool, StoreError> {
        let sql = "SELECT pid FROM merchants LIMIT 1";
        let row: Option<(String,)> =
            on!(self, |c| sqlx::query_as(sql).fetch_optional(&mut **c).await)?;
        Ok(row.is_some())
    }

    pub async fn merchant_exists(&mut self, pid: &str) -> Result<bool, StoreError> {
        let sql = "SELECT pid FROM merchants WHERE pid = $1";
        let row: Option<(String,)> = on!(self, |c| sqlx::query_as(sql)
            .bind(pid)
            .fetch_optional(&mut **c)
            .await)?;
        Ok(row.is_some())
    }

    pub async fn insert_merchant(
        &mut self,
        pid: &str,
        name: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO merchants (pid, name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
        let done = on!(self, |c| sqlx::query(sql)
            .bind(pid)
            .bind(name)
            .bind(now)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    pub async fn app(&mut self, app_id: &str) -> Result<Option<AppRecord>, StoreError> {
        let sql = "SELECT app_id, merchant_pid, public_key_pem, sign_type, charset, notify_url \
                   FROM apps WHERE app_id = $1";
        Ok(on!(self, |c| sqlx::query_as(sql)
            .bind(app_id)
            .fetch_optional(&mut **c)
            .await)?)
    }

    pub async fn insert_app(&mut self, app: &AppRecord, now: i64) -> Result<bool, StoreError> {
        let sql = "INSERT INTO apps (app_id, merchant_pid, public_key_pem, sign_type, charset, notify_url, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";
        let done = on!(self, |c| sqlx::query(sql)
            .bind(&app.app_id)
            .bind(&app.merchant_pid)
            .bind(&app.public_key_pem)
            .bind(&app.sign_type)
            .bind(&app.charset)
            .bind(&app.notify_url)
            .bind(now)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// The name of the merchant's shop, if it has one with that id.
    pub async fn shop_name(
        &mut self,
        merchant_pid: &str,
        shop_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let sql = "SELECT name FROM shops WHERE merchant_pid = $1 AND shop_id = $2";
        let row: Option<(String,)> = on!(self, |c| sqlx::query_as(sql)
            .bind(merchant_pid)
            .bind(shop_id)
            .fetch_optional(&mut **c)
            .await)?;
        Ok(row.map(|r| r.0))
    }

    pub async fn insert_shop(
        &mut self,
        merchant_pid: &str,
        shop_id: &str,
        name: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO shops (merchant_pid, shop_id, name, created_at) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT DO NOTHING";
        let done = on!(self, |c| sqlx::query(sql)
            .bind(merchant_pid)
            .bind(shop_id)
            .bind(name)
            .bind(now)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// The merchant an app auth token lets `app_id` act for.
    pub async fn token_merchant(
        &mut self,
        token: &str,
        app_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let sql = "SELECT merchant_pid FROM app_auth_tokens WHERE token = $1 AND app_id = $2";
        let row: Option<(String,)> = on!(self, |c| sqlx::query_as(sql)
            .bind(token)
            .bind(app_id)
            .fetch_optional(&mut **c)
            .await)?;
        Ok(row.map(|r| r.0))
    }

    pub async fn insert_token(
        &mut self,
        token: &str,
        app_id: &str,
        merchant_pid: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO app_auth_tokens (token, app_id, merchant_pid, created_at) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT DO NOTHING";
        let done = on!(self, |c| sqlx::query(sql)
            .bind(token)
            .bind(app_id)
            .bind(merchant_pid)
            .bind(now)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))?;
        inserted(done, "app_auth_tokens.token")
    }

    // ---- items, orders, tickets ----------------------------------------------------------

    pub async fn item(&mut self, item_id: &str) -> Result<Option<Item>, StoreError> {
        let sql = "SELECT item_id, merchant_pid, name, alias, original_price_cents, price_cents, times, \
                   shop_ids, valid_from, valid_to FROM items WHERE item_id = $1";
        let row: Option<ItemRow> = on!(self, |c| sqlx::query_as(sql)
            .bind(item_id)
            .fetch_optional(&mut **c)
            .await)?;
        Ok(row.map(Item::from))
    }

    pub async fn insert_item(&mut self, item: &Item, now: i64) -> Result<bool, StoreError> {
        let sql = "INSERT INTO items (item_id, merchant_pid, name, alias, original_price_cents, price_cents, times, \
                   shop_ids, valid_from, valid_to, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING";
        let shops = item.shop_ids.as_ref().map(|s| s.join(","));
        let done = on!(self, |c| sqlx::query(sql)
            .bind(&item.item_id)
            .bind(&item.merchant_pid)
            .bind(&item.name)
            .bind(&item.alias)
            .bind(item.original_price.0)
            .bind(item.price.0)
            .bind(item.times)
            .bind(&shops)
            .bind(item.valid_from)
            .bind(item.valid_to)
            .bind(now)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// The item an existing order is for.
    pub async fn order_item(&mut self, order_no: &str) -> Result<Option<String>, StoreError> {
        let sql = "SELECT item_id FROM orders WHERE order_no = $1";
        let row: Option<(String,)> = on!(self, |c| sqlx::query_as(sql)
            .bind(order_no)
            .fetch_optional(&mut **c)
            .await)?;
        Ok(row.map(|r| r.0))
    }

    pub async fn insert_order(
        &mut self,
        order_no: &str,
        merchant_pid: &str,
        item_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO orders (order_no, merchant_pid, item_id, created_at) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT DO NOTHING";
        let done = on!(self, |c| sqlx::query(sql)
            .bind(order_no)
            .bind(merchant_pid)
            .bind(item_id)
            .bind(now)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Inserts a ticket; `false` if its code is taken (internal codes system-wide, external
    /// codes within the order).
    pub async fn insert_ticket(&mut self, t: &Ticket, now: i64) -> Result<bool, StoreError> {
        let sql = "INSERT INTO tickets (voucher_id, code, code_type, order_no, merchant_pid, item_id, total_quantity, \
                   available_quantity, refunded, effect_at, expire_at, created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) ON CONFLICT DO NOTHING";
        let done = on!(self, |c| sqlx::query(sql)
            .bind(&t.voucher_id)
            .bind(&t.code)
            .bind(t.code_type.name())
            .bind(&t.order_no)
            .bind(&t.merchant_pid)
            .bind(&t.item_id)
            .bind(t.total_quantity)
            .bind(t.available_quantity)
            .bind(i64::from(t.refunded))
            .bind(t.effect_at)
            .bind(t.expire_at)
            .bind(now)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Finds a ticket by the code a call names, with its item. With `lock`, PostgreSQL locks
    /// the ticket row until the transaction ends (SQLite's single writer needs no lock).
    pub async fn ticket(
        &mut self,
        code_type: CodeType,
        code: &str,
        order_no: Option<&str>,
        lock: bool,
    ) -> Result<Option<TicketView>, StoreError> {
        let filter = match code_type {
            CodeType::Internal => "code = $1 AND code_type = 'INTERNAL_CODE' AND $2 = $2",
            CodeType::External => "code = $1 AND code_type = 'EXTERNAL_CODE' AND order_no = $2",
        };
        let order_no = order_no.unwrap_or("");
        let row: Option<TicketRow> = match self {
            Conn::Sqlite(c) => {
                let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE {filter}");
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(code)
                    .bind(order_no)
                    .fetch_optional(&mut **c)
                    .await?
            }
            Conn::Pg(c) => {
                let suffix = if lock { " FOR UPDATE" } else { "" };
                let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE {filter}{suffix}");
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(code)
                    .bind(order_no)
                    .fetch_optional(&mut **c)
                    .await?
            }
        };
        let Some(ticket) = row.map(Ticket::from) else {
            return Ok(None);
        };
        let item = self
            .item(&ticket.item_id)
            .await?
            .expect("tickets.item_id references items");
        Ok(Some(TicketView { ticket, item }))
    }

    /// Tickets by voucher id, locked on PostgreSQL when `lock` (in id order, so that
    /// concurrent writers lock in the same order and cannot deadlock).
    pub async fn tickets_by_voucher(
        &mut self,
        voucher_ids: &[String],
        lock: bool,
    ) -> Result<Vec<Ticket>, StoreError> {
        let mut out = Vec::with_capacity(voucher_ids.len());
        let mut ids = voucher_ids.to_vec();
        ids.sort();
        ids.dedup();
        for id in &ids {
            let row: TicketRow = match self {
                Conn::Sqlite(c) => {
                    let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE voucher_id = $1");
                    sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(id)
                        .fetch_one(&mut **c)
                        .await?
                }
                Conn::Pg(c) => {
                    let suffix = if lock { " FOR UPDATE" } else { "" };
                    let sql = format!(
                        "SELECT {TICKET_COLUMNS} FROM tickets WHERE voucher_id = $1{suffix}"
                    );
                    sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(id)
                        .fetch_one(&mut **c)
                        .await?
                }
            };
            out.push(Ticket::from(row));
        }
        Ok(out)
    }

    /// The other usable tickets of an order and item, in code order (for multi-ticket uses).
    pub async fn siblings(
        &mut self,
        order_no: &str,
        item_id: &str,
        except: &str,
        lock: bool,
    ) -> Result<Vec<Ticket>, StoreError> {
        let base = format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE order_no = $1 AND item_id = $2 AND voucher_id <> $3 \
             AND refunded = 0 AND available_quantity > 0 ORDER BY code, voucher_id"
        );
        let rows: Vec<TicketRow> = match self {
            Conn::Sqlite(c) => {
                sqlx::query_as(sqlx::AssertSqlSafe(base))
                    .bind(order_no)
                    .bind(item_id)
                    .bind(except)
                    .fetch_all(&mut **c)
                    .await?
            }
            Conn::Pg(c) => {
                let sql = if lock {
                    format!("{base} FOR UPDATE")
                } else {
                    base
                };
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(order_no)
                    .bind(item_id)
                    .bind(except)
                    .fetch_all(&mut **c)
                    .await?
            }
        };
        Ok(rows.into_iter().map(Ticket::from).collect())
    }

    /// All tickets of an order, in code order.
    pub async fn order_tickets(&mut self, order_no: &str) -> Result<Vec<Ticket>, StoreError> {
        let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE order_no = $1 ORDER BY code");
        let rows: Vec<TicketRow> = on!(self, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(order_no)
            .fetch_all(&mut **c)
            .await)?;
        Ok(rows.into_iter().map(Ticket::from).collect())
    }

    /// Applies a transaction's effect to the cached quantity (the CHECK keeps it in range).
    pub async fn add_available(
        &mut self,
        voucher_id: &str,
        delta: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE tickets SET available_quantity = available_quantity + $1, updated_at = $2 WHERE voucher_id = $3";
        let done = on!(self, |c| sqlx::query(sql)
            .bind(delta)
            .bind(now)
            .bind(voucher_id)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))?;
        assert_eq!(
            done, 1,
            "ticket {voucher_id} was loaded in this transaction"
        );
        Ok(())
    }

    pub async fn mark_refunded(&mut self, voucher_id: &str, now: i64) -> Result<(), StoreError> {
        let sql = "UPDATE tickets SET refunded = 1, available_quantity = 0, updated_at = $1 WHERE voucher_id = $2";
        on!(self, |c| sqlx::query(sql)
            .bind(now)
            .bind(voucher_id)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    // ---- transactions, use orders, cancels -----------------------------------------------

    pub async fn insert_trans(&mut self, t: &Trans) -> Result<(), StoreError> {
        let sql = "INSERT INTO ticket_trans (trans_id, voucher_id, kind, quantity, use_order_id, reverses_trans_id, created_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";
        let done = on!(self, |c| sqlx::query(sql)
            .bind(&t.trans_id)
            .bind(&t.voucher_id)
            .bind(t.kind.name())
            .bind(t.quantity)
            .bind(&t.use_order_id)
            .bind(&t.reverses_trans_id)
            .bind(t.created_at)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))?;
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
        let done = on!(self, |c| sqlx::query(sql)
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
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))?;
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
        let done = on!(self, |c| sqlx::query(sql)
            .bind(&r.cancel_id)
            .bind(&r.merchant_pid)
            .bind(&r.request_id)
            .bind(&r.fingerprint)
            .bind(&r.use_order_id)
            .bind(&r.trans_id)
            .bind(r.created_at)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))?;
        inserted(done, "cancels")
    }
}

/// One outbox row.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct NotificationRow {
    pub notify_id: String,
    pub app_id: String,
    pub url: String,
    pub charset: String,
    pub sign_type: String,
    pub biz_type: String,
    pub request_id: String,
    /// The notification's business fields as a JSON object (no time, no signature).
    pub fields: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub claimed_until: i64,
    pub claim_token: Option<String>,
    pub created_at: i64,
}

const NOTIFICATION_COLUMNS: &str = "notify_id, app_id, url, charset, sign_type, biz_type, request_id, fields, status, \
     attempts, next_attempt_at, last_error, claimed_until, claim_token, created_at";

impl Conn<'_> {
    pub async fn insert_notification(&mut self, n: &NotificationRow) -> Result<(), StoreError> {
        let sql = "INSERT INTO notifications (notify_id, app_id, url, charset, sign_type, biz_type, request_id, fields, \
                   status, attempts, next_attempt_at, last_error, claimed_until, claim_token, created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15) ON CONFLICT DO NOTHING";
        let done = on!(self, |c| sqlx::query(sql)
            .bind(&n.notify_id)
            .bind(&n.app_id)
            .bind(&n.url)
            .bind(&n.charset)
            .bind(&n.sign_type)
            .bind(&n.biz_type)
            .bind(&n.request_id)
            .bind(&n.fields)
            .bind(&n.status)
            .bind(n.attempts)
            .bind(n.next_attempt_at)
            .bind(&n.last_error)
            .bind(n.claimed_until)
            .bind(&n.claim_token)
            .bind(n.created_at)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))?;
        inserted(done, "notifications.notify_id")
    }

    /// Claims the most overdue pending notification until `lease_until` under `token`.
    /// On PostgreSQL, rows other nodes are claiming are skipped, not waited for.
    pub async fn claim_notification(
        &mut self,
        now: i64,
        lease_until: i64,
        token: &str,
    ) -> Result<Option<NotificationRow>, StoreError> {
        let pick = "SELECT notify_id FROM notifications WHERE status = 'pending' AND next_attempt_at <= $1 \
                    AND claimed_until <= $1 ORDER BY next_attempt_at, notify_id LIMIT 1";
        let sql = |lock: &str| {
            format!(
                "UPDATE notifications SET claimed_until = $2, claim_token = $3, updated_at = $1 \
                 WHERE notify_id = ({pick}{lock}) RETURNING {NOTIFICATION_COLUMNS}"
            )
        };
        let row = match self {
            Conn::Sqlite(c) => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql("")))
                    .bind(now)
                    .bind(lease_until)
                    .bind(token)
                    .fetch_optional(&mut **c)
                    .await?
            }
            Conn::Pg(c) => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql(" FOR UPDATE SKIP LOCKED")))
                    .bind(now)
                    .bind(lease_until)
                    .bind(token)
                    .fetch_optional(&mut **c)
                    .await?
            }
        };
        Ok(row)
    }

    /// Records an attempt's outcome, if the claim is still ours. Returns whether it was.
    pub async fn finish_notification(
        &mut self,
        notify_id: &str,
        token: &str,
        status: &str,
        next_attempt_at: i64,
        last_error: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE notifications SET status = $1, attempts = attempts + 1, next_attempt_at = $2, last_error = $3, \
                   claimed_until = 0, claim_token = NULL, updated_at = $4 WHERE notify_id = $5 AND claim_token = $6";
        let done = on!(self, |c| sqlx::query(sql)
            .bind(status)
            .bind(next_attempt_at)
            .bind(last_error)
            .bind(now)
            .bind(notify_id)
            .bind(token)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// When the next pending notification is due, if any.
    pub async fn next_notification_due(&mut self) -> Result<Option<i64>, StoreError> {
        let sql = "SELECT MIN(CASE WHEN claimed_until > next_attempt_at THEN claimed_until ELSE next_attempt_at END) \
                   FROM notifications WHERE status = 'pending'";
        let row: (Option<i64>,) = on!(self, |c| sqlx::query_as(sql).fetch_one(&mut **c).await)?;
        Ok(row.0)
    }

    pub async fn notifications(
        &mut self,
        status: Option<&str>,
    ) -> Result<Vec<NotificationRow>, StoreError> {
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE ($1 = '' OR status = $1) ORDER BY created_at, notify_id"
        );
        let status = status.unwrap_or("");
        Ok(on!(self, |c| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(status)
        .fetch_all(&mut **c)
        .await)?)
    }

    pub async fn notification(
        &mut self,
        notify_id: &str,
    ) -> Result<Option<NotificationRow>, StoreError> {
        let sql = format!("SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE notify_id = $1");
        Ok(on!(self, |c| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(notify_id)
        .fetch_optional(&mut **c)
        .await)?)
    }

    /// Puts a notification back in the queue, due now, with a fresh schedule.
    pub async fn requeue_notification(
        &mut self,
        notify_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE notifications SET status = 'pending', attempts = 0, next_attempt_at = $1, claimed_until = 0, \
                   claim_token = NULL, updated_at = $1 WHERE notify_id = $2";
        on!(self, |c| sqlx::query(sql)
            .bind(now)
            .bind(notify_id)
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }
}
