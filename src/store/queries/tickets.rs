//! Items, orders and tickets.

use sqlx::FromRow;

use super::{Conn, StoreError};
use crate::alipay::money::Cents;
use crate::ledger::{CodeType, Item, Ticket, TicketView};

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

pub(in crate::store) const TICKET_COLUMNS: &str = "voucher_id, code, code_type, order_no, merchant_pid, item_id, \
     total_quantity, available_quantity, refunded, effect_at, expire_at";

/// A ticket and its item in one row (the shared `item_id` and `merchant_pid` read by both).
#[derive(FromRow)]
pub(in crate::store) struct TicketViewRow {
    #[sqlx(flatten)]
    ticket: TicketRow,
    #[sqlx(flatten)]
    item: ItemRow,
}

impl From<TicketViewRow> for TicketView {
    fn from(r: TicketViewRow) -> TicketView {
        TicketView {
            ticket: r.ticket.into(),
            item: r.item.into(),
        }
    }
}

pub(in crate::store) const TICKET_VIEW_SELECT: &str = "SELECT t.voucher_id, t.code, t.code_type, t.order_no, t.merchant_pid, \
     t.item_id, t.total_quantity, t.available_quantity, t.refunded, t.effect_at, t.expire_at, i.name, \
     i.alias, i.original_price_cents, i.price_cents, i.times, i.shop_ids, i.valid_from, i.valid_to \
     FROM tickets t JOIN items i ON i.item_id = t.item_id";

/// Whether a read locks the rows it returns until the transaction ends. On PostgreSQL that is
/// `FOR UPDATE`; SQLite's single writer needs no row lock, so there it reads alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    ForUpdate,
    No,
}

/// An update of a ticket this transaction loaded (and locked) changes exactly that row;
/// anything else is a bug in the operation, not a condition to answer.
pub(in crate::store) fn changed_loaded_ticket(rows: u64, voucher_id: &str) {
    assert_eq!(
        rows, 1,
        "ticket {voucher_id} was loaded in this transaction"
    );
}

pub(in crate::store) const ADD_AVAILABLE: &str = "UPDATE tickets SET available_quantity = available_quantity + $1, updated_at = $2 WHERE voucher_id = $3";
pub(in crate::store) const SET_EXPIRE: &str =
    "UPDATE tickets SET expire_at = $1, updated_at = $2 WHERE voucher_id = $3";

pub(in crate::store) const SELECT_ITEM: &str = "SELECT item_id, merchant_pid, name, alias, original_price_cents, price_cents, times, \
                   shop_ids, valid_from, valid_to FROM items WHERE item_id = $1";
pub(in crate::store) const SELECT_ORDER_ITEM: &str =
    "SELECT item_id FROM orders WHERE order_no = $1";
pub(in crate::store) const INSERT_ORDER: &str = "INSERT INTO orders (order_no, merchant_pid, item_id, created_at) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT DO NOTHING";
/// One ticket (`$12` is both its creation and update time); a taken code or id is skipped.
pub(in crate::store) const INSERT_TICKET: &str = "INSERT INTO tickets (voucher_id, code, code_type, order_no, merchant_pid, \
     item_id, total_quantity, available_quantity, refunded, effect_at, expire_at, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) ON CONFLICT DO NOTHING";

/// The WHERE clause that finds a ticket by the code a call names (`$1` the code, `$2` the
/// order number, which only an external code is unique within).
pub(in crate::store) fn ticket_filter(code_type: CodeType) -> &'static str {
    match code_type {
        CodeType::Internal => "t.code = $1 AND t.code_type = 'INTERNAL_CODE' AND $2 = $2",
        CodeType::External => "t.code = $1 AND t.code_type = 'EXTERNAL_CODE' AND t.order_no = $2",
    }
}

/// The other usable tickets of an order (`$1`) and item (`$2`) but one (`$3`), in code order.
pub(in crate::store) fn siblings_sql() -> String {
    format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE order_no = $1 AND item_id = $2 AND voucher_id <> $3 \
         AND refunded = 0 AND available_quantity > 0 ORDER BY code, voucher_id"
    )
}

/// An item from a row of `SELECT_ITEM`, read by the synchronous SQLite path.
pub(in crate::store) fn item_from_rusqlite(row: &rusqlite::Row) -> rusqlite::Result<Item> {
    ItemRow::from_rusqlite(row).map(Item::from)
}

impl ItemRow {
    fn from_rusqlite(row: &rusqlite::Row) -> rusqlite::Result<ItemRow> {
        Ok(ItemRow {
            item_id: row.get("item_id")?,
            merchant_pid: row.get("merchant_pid")?,
            name: row.get("name")?,
            alias: row.get("alias")?,
            original_price_cents: row.get("original_price_cents")?,
            price_cents: row.get("price_cents")?,
            times: row.get("times")?,
            shop_ids: row.get("shop_ids")?,
            valid_from: row.get("valid_from")?,
            valid_to: row.get("valid_to")?,
        })
    }
}

impl TicketRow {
    fn from_rusqlite(row: &rusqlite::Row) -> rusqlite::Result<TicketRow> {
        Ok(TicketRow {
            voucher_id: row.get("voucher_id")?,
            code: row.get("code")?,
            code_type: row.get("code_type")?,
            order_no: row.get("order_no")?,
            merchant_pid: row.get("merchant_pid")?,
            item_id: row.get("item_id")?,
            total_quantity: row.get("total_quantity")?,
            available_quantity: row.get("available_quantity")?,
            refunded: row.get("refunded")?,
            effect_at: row.get("effect_at")?,
            expire_at: row.get("expire_at")?,
        })
    }
}

/// A ticket from a row of `TICKET_COLUMNS`, read by the synchronous SQLite path.
pub(in crate::store) fn ticket_from_rusqlite(row: &rusqlite::Row) -> rusqlite::Result<Ticket> {
    TicketRow::from_rusqlite(row).map(Ticket::from)
}

/// A ticket and its item from a row of `TICKET_VIEW_SELECT`, read by the synchronous path.
pub(in crate::store) fn ticket_view_from_rusqlite(
    row: &rusqlite::Row,
) -> rusqlite::Result<TicketView> {
    Ok(TicketViewRow {
        ticket: TicketRow::from_rusqlite(row)?,
        item: ItemRow::from_rusqlite(row)?,
    }
    .into())
}

impl Conn<'_> {
    // ---- items, orders, tickets ----------------------------------------------------------

    pub async fn item(&mut self, item_id: &str) -> Result<Option<Item>, StoreError> {
        let sql = SELECT_ITEM;
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
        let done = execute!(
            self,
            sqlx::query(sql)
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
        )?;
        Ok(done == 1)
    }

    /// The item an existing order is for.
    pub async fn order_item(&mut self, order_no: &str) -> Result<Option<String>, StoreError> {
        let sql = SELECT_ORDER_ITEM;
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
        let sql = INSERT_ORDER;
        let done = execute!(
            self,
            sqlx::query(sql)
                .bind(order_no)
                .bind(merchant_pid)
                .bind(item_id)
                .bind(now)
        )?;
        Ok(done == 1)
    }

    /// Inserts tickets in one statement; answers the codes that were inserted (a code that is
    /// taken — internal codes system-wide, external codes within the order — is skipped).
    pub(in crate::store) async fn insert_ticket_rows(
        &mut self,
        tickets: &[Ticket],
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        const COLUMNS: usize = 12;
        let rows: Vec<String> = (0..tickets.len())
            .map(|r| {
                let p: Vec<String> = (1..=COLUMNS)
                    .map(|c| format!("${}", r * COLUMNS + c))
                    .collect();
                let at = &p[COLUMNS - 1];
                format!("({}, {at})", p.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO tickets (voucher_id, code, code_type, order_no, merchant_pid, item_id, total_quantity, \
             available_quantity, refunded, effect_at, expire_at, created_at, updated_at) VALUES {} \
             ON CONFLICT DO NOTHING RETURNING code",
            rows.join(", ")
        );
        let inserted: Vec<(String,)> = on!(self, |c| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
            for t in tickets {
                query = query
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
                    .bind(now);
            }
            query.fetch_all(&mut **c).await
        })?;
        Ok(inserted.into_iter().map(|r| r.0).collect())
    }

    /// Finds a ticket by the code a call names, with its item.
    pub async fn ticket(
        &mut self,
        code_type: CodeType,
        code: &str,
        order_no: Option<&str>,
        lock: Lock,
    ) -> Result<Option<TicketView>, StoreError> {
        let filter = ticket_filter(code_type);
        let order_no = order_no.unwrap_or("");
        // One row with the item; on PostgreSQL only the ticket row is locked (`OF t`), so that
        // uses of other tickets of the same item do not wait on each other.
        let row: Option<TicketViewRow> = match self {
            Conn::Sqlite(c) => {
                let sql = format!("{TICKET_VIEW_SELECT} WHERE {filter}");
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(code)
                    .bind(order_no)
                    .fetch_optional(&mut **c)
                    .await?
            }
            Conn::Pg(c) => {
                let suffix = if lock == Lock::ForUpdate {
                    " FOR UPDATE OF t"
                } else {
                    ""
                };
                let sql = format!("{TICKET_VIEW_SELECT} WHERE {filter}{suffix}");
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(code)
                    .bind(order_no)
                    .fetch_optional(&mut **c)
                    .await?
            }
        };
        Ok(row.map(TicketView::from))
    }

    /// A ticket and its item by a statement of `TICKET_VIEW_SELECT` with one parameter.
    pub(in crate::store) async fn ticket_view_by(
        &mut self,
        sql: &str,
        param: &str,
    ) -> Result<Option<TicketView>, StoreError> {
        let sql = sql.to_string();
        let row: Option<TicketViewRow> =
            on!(self, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(param)
                .fetch_optional(&mut **c)
                .await)?;
        Ok(row.map(TicketView::from))
    }

    /// Tickets by voucher id, in id order (so that concurrent writers that lock them lock in
    /// the same order and cannot deadlock).
    pub async fn tickets_by_voucher(
        &mut self,
        voucher_ids: &[String],
        lock: Lock,
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
                    let suffix = if lock == Lock::ForUpdate {
                        " FOR UPDATE"
                    } else {
                        ""
                    };
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
        lock: Lock,
    ) -> Result<Vec<Ticket>, StoreError> {
        let base = siblings_sql();
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
                let sql = if lock == Lock::ForUpdate {
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
        self.update_loaded_ticket(ADD_AVAILABLE, delta, voucher_id, now)
            .await
    }

    /// Runs one of the single-ticket updates (`$1` the value, `$2` now, `$3` the voucher id) on
    /// a ticket this transaction loaded, so exactly one row changes.
    async fn update_loaded_ticket(
        &mut self,
        sql: &'static str,
        value: i64,
        voucher_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let done = execute!(
            self,
            bind_ticket_update!(sqlx::query(sql), value, now, voucher_id)
        )?;
        changed_loaded_ticket(done, voucher_id);
        Ok(())
    }

    pub async fn mark_refunded(&mut self, voucher_id: &str, now: i64) -> Result<(), StoreError> {
        let sql = "UPDATE tickets SET refunded = 1, available_quantity = 0, updated_at = $1 WHERE voucher_id = $2";
        execute!(self, sqlx::query(sql).bind(now).bind(voucher_id))?;
        Ok(())
    }

    /// A delay's new expiry.
    pub async fn set_expire(
        &mut self,
        voucher_id: &str,
        expire_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        self.update_loaded_ticket(SET_EXPIRE, expire_at, voucher_id, now)
            .await
    }
}
