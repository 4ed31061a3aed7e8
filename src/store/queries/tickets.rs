//! Items, orders and tickets.

use std::future::Future;
use std::sync::LazyLock;

use super::{Tx, all, one};
use crate::alipay::money::Cents;
use crate::ledger::{CodeType, Item, Ticket, TicketView};
use crate::store::StoreError;
use crate::store::sql::{Arg, Cols, FromRow, args};

impl FromRow for Item {
    fn from_cols(c: &mut Cols) -> Result<Self, StoreError> {
        Ok(Item {
            item_id: c.text()?,
            merchant_pid: c.text()?,
            name: c.text()?,
            alias: c.opt_text()?,
            original_price: Cents(c.int()?),
            price: Cents(c.int()?),
            times: c.opt_int()?,
            shop_ids: c
                .opt_text()?
                .map(|s| s.split(',').map(str::to_string).collect()),
            valid_from: c.opt_int()?,
            valid_to: c.opt_int()?,
        })
    }
}

pub(in crate::store) const ITEM_COLUMNS: &str = "item_id, merchant_pid, name, alias, \
     original_price_cents, price_cents, times, shop_ids, valid_from, valid_to";

impl FromRow for Ticket {
    fn from_cols(c: &mut Cols) -> Result<Self, StoreError> {
        Ok(Ticket {
            voucher_id: c.text()?,
            code: c.text()?,
            code_type: CodeType::parse(Some(&c.text()?)).unwrap_or(CodeType::Internal),
            order_no: c.text()?,
            merchant_pid: c.text()?,
            item_id: c.text()?,
            total_quantity: c.int()?,
            available_quantity: c.int()?,
            refunded: c.flag()?,
            effect_at: c.int()?,
            expire_at: c.int()?,
        })
    }
}

pub(in crate::store) const TICKET_COLUMNS: &str = "voucher_id, code, code_type, order_no, merchant_pid, item_id, \
     total_quantity, available_quantity, refunded, effect_at, expire_at";

/// A ticket and its item in one row: the ticket's columns, then the item's.
impl FromRow for TicketView {
    fn from_cols(c: &mut Cols) -> Result<Self, StoreError> {
        Ok(TicketView {
            ticket: Ticket::from_cols(c)?,
            item: Item::from_cols(c)?,
        })
    }
}

pub(in crate::store) const TICKET_VIEW_SELECT: &str = "SELECT t.voucher_id, t.code, t.code_type, t.order_no, t.merchant_pid, \
     t.item_id, t.total_quantity, t.available_quantity, t.refunded, t.effect_at, t.expire_at, \
     i.item_id, i.merchant_pid, i.name, i.alias, i.original_price_cents, i.price_cents, i.times, \
     i.shop_ids, i.valid_from, i.valid_to FROM tickets t JOIN items i ON i.item_id = t.item_id";

/// The WHERE clause that finds a ticket by the code a call names (`$1` the code, `$2` the
/// order number, which only an external code is unique within).
pub(in crate::store) fn ticket_filter(code_type: CodeType) -> &'static str {
    match code_type {
        CodeType::Internal => "t.code = $1 AND t.code_type = 'INTERNAL_CODE' AND $2 = $2",
        CodeType::External => "t.code = $1 AND t.code_type = 'EXTERNAL_CODE' AND t.order_no = $2",
    }
}

/// A statement in its two forms: as a plain read, and locking what it reads (`[plain,
/// locked]`, picked by [`Tx::LOCKS`]).
pub(in crate::store) type Forms = LazyLock<[String; 2]>;

/// The form of `forms` this backend runs.
pub(in crate::store) fn form<T: Tx>(forms: &Forms) -> &str {
    &forms[usize::from(T::LOCKS)]
}

fn forms(sql: String, lock: &str) -> [String; 2] {
    let locked = format!("{sql}{lock}");
    [sql, locked]
}

/// A ticket by the code a call names, per code type. On PostgreSQL only the ticket row is
/// locked (`OF t`), so that uses of other tickets of the same item do not wait on each other.
static TICKET_BY_CODE: LazyLock<[[String; 2]; 2]> = LazyLock::new(|| {
    [CodeType::Internal, CodeType::External].map(|t| {
        forms(
            format!("{TICKET_VIEW_SELECT} WHERE {}", ticket_filter(t)),
            " FOR UPDATE OF t",
        )
    })
});
/// The statement that finds a ticket by the code a call names, locking it or not.
fn by_code(code_type: CodeType, lock: bool) -> &'static str {
    &TICKET_BY_CODE[usize::from(code_type == CodeType::External)][usize::from(lock)]
}

static TICKET_BY_VOUCHER: Forms = LazyLock::new(|| {
    forms(
        format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE voucher_id = $1"),
        " FOR UPDATE",
    )
});
static VIEW_BY_VOUCHER: Forms = LazyLock::new(|| {
    forms(
        format!("{TICKET_VIEW_SELECT} WHERE t.voucher_id = $1"),
        " FOR UPDATE OF t",
    )
});
/// The other usable tickets of an order (`$1`) and item (`$2`) but one (`$3`), in code order.
static SIBLINGS: Forms = LazyLock::new(|| {
    forms(
        format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE order_no = $1 AND item_id = $2 AND voucher_id <> $3 \
             AND refunded = 0 AND available_quantity > 0 ORDER BY code, voucher_id"
        ),
        " FOR UPDATE",
    )
});
static SELECT_ITEM: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {ITEM_COLUMNS} FROM items WHERE item_id = $1"));
static ORDER_TICKETS: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE order_no = $1 ORDER BY code")
});

pub(in crate::store) const ADD_AVAILABLE: &str = "UPDATE tickets SET available_quantity = available_quantity + $1, updated_at = $2 WHERE voucher_id = $3";
pub(in crate::store) const SET_EXPIRE: &str =
    "UPDATE tickets SET expire_at = $1, updated_at = $2 WHERE voucher_id = $3";
pub(in crate::store) const MARK_REFUNDED: &str = "UPDATE tickets SET refunded = 1, available_quantity = 0, updated_at = $1 WHERE voucher_id = $2";
pub(in crate::store) const INSERT_ORDER: &str = "INSERT INTO orders (order_no, merchant_pid, item_id, created_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT DO NOTHING";
const TICKET_INSERT_COLUMNS: usize = 12;

/// An update of a ticket this transaction loaded (and locked) changes exactly that row;
/// anything else is a bug in the operation, not a condition to answer.
pub(in crate::store) fn changed_loaded_ticket(rows: u64, voucher_id: &str) {
    assert_eq!(
        rows, 1,
        "ticket {voucher_id} was loaded in this transaction"
    );
}

/// A ticket's values in the order of the insert's columns (its creation time last).
fn ticket_args(t: &Ticket, now: i64) -> [Arg<'_>; TICKET_INSERT_COLUMNS] {
    args![
        &t.voucher_id,
        &t.code,
        t.code_type.name(),
        &t.order_no,
        &t.merchant_pid,
        &t.item_id,
        t.total_quantity,
        t.available_quantity,
        t.refunded,
        t.effect_at,
        t.expire_at,
        now
    ]
}

/// The multi-row insert of `rows` tickets (each row's last placeholder is both its creation
/// and its update time); a taken code or id is skipped, and the codes inserted come back.
fn insert_tickets_sql(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|r| {
            let p =
                crate::store::sql::placeholders(r * TICKET_INSERT_COLUMNS, TICKET_INSERT_COLUMNS);
            format!("({p}, ${})", (r + 1) * TICKET_INSERT_COLUMNS)
        })
        .collect();
    format!(
        "INSERT INTO tickets (voucher_id, code, code_type, order_no, merchant_pid, item_id, total_quantity, \
         available_quantity, refunded, effect_at, expire_at, created_at, updated_at) VALUES {} \
         ON CONFLICT DO NOTHING RETURNING code",
        values.join(", ")
    )
}

/// The statements of items, orders and tickets, for every backend.
pub trait Tickets: Tx {
    fn item(
        &mut self,
        item_id: &str,
    ) -> impl Future<Output = Result<Option<Item>, StoreError>> + Send {
        async move { one(self, &SELECT_ITEM, &args![item_id]).await }
    }

    fn insert_item(
        &mut self,
        item: &Item,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move {
            let sql = "INSERT INTO items (item_id, merchant_pid, name, alias, original_price_cents, price_cents, times, \
                       shop_ids, valid_from, valid_to, created_at) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING";
            let shops = item.shop_ids.as_ref().map(|s| s.join(","));
            let values = args![
                &item.item_id,
                &item.merchant_pid,
                &item.name,
                &item.alias,
                item.original_price.0,
                item.price.0,
                item.times,
                &shops,
                item.valid_from,
                item.valid_to,
                now
            ];
            Ok(self.execute(sql, &values).await? == 1)
        }
    }

    /// The item an existing order is for.
    fn order_item(
        &mut self,
        order_no: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send {
        async move {
            let sql = "SELECT item_id FROM orders WHERE order_no = $1";
            one(self, sql, &args![order_no]).await
        }
    }

    fn insert_order(
        &mut self,
        order_no: &str,
        merchant_pid: &str,
        item_id: &str,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move {
            let values = args![order_no, merchant_pid, item_id, now];
            Ok(self.execute(INSERT_ORDER, &values).await? == 1)
        }
    }

    /// Inserts tickets, a few hundred a statement; answers the codes that were inserted (a code
    /// that is taken — internal codes system-wide, external codes within the order — is
    /// skipped, so the caller can draw again).
    fn insert_tickets(
        &mut self,
        tickets: &[Ticket],
        now: i64,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send {
        async move {
            static FULL: LazyLock<String> = LazyLock::new(|| insert_tickets_sql(CHUNK));
            const CHUNK: usize = 256;
            let mut inserted = Vec::with_capacity(tickets.len());
            for chunk in tickets.chunks(CHUNK) {
                let sql = if chunk.len() == CHUNK {
                    std::borrow::Cow::Borrowed(FULL.as_str())
                } else {
                    std::borrow::Cow::Owned(insert_tickets_sql(chunk.len()))
                };
                let values: Vec<Arg<'_>> = chunk.iter().flat_map(|t| ticket_args(t, now)).collect();
                inserted.extend(all::<String, _>(self, &sql, &values).await?);
            }
            Ok(inserted)
        }
    }

    /// The ticket a call names with its item, unlocked.
    fn ticket(
        &mut self,
        code_type: CodeType,
        code: &str,
        order_no: Option<&str>,
    ) -> impl Future<Output = Result<Option<TicketView>, StoreError>> + Send {
        async move {
            one(
                self,
                by_code(code_type, false),
                &args![code, order_no.unwrap_or("")],
            )
            .await
        }
    }

    /// The ticket a call names with its item, locked.
    fn locked_ticket(
        &mut self,
        code_type: CodeType,
        code: &str,
        order_no: Option<&str>,
    ) -> impl Future<Output = Result<Option<TicketView>, StoreError>> + Send {
        async move {
            let sql = by_code(code_type, Self::LOCKS);
            one(self, sql, &args![code, order_no.unwrap_or("")]).await
        }
    }

    /// A ticket and its item by voucher id, locked.
    fn locked_ticket_of_voucher(
        &mut self,
        voucher_id: &str,
    ) -> impl Future<Output = Result<Option<TicketView>, StoreError>> + Send {
        async move { one(self, form::<Self>(&VIEW_BY_VOUCHER), &args![voucher_id]).await }
    }

    /// Tickets by voucher id, locked, in id order (so that concurrent writers that lock them
    /// lock in the same order and cannot deadlock).
    fn locked_tickets_by_voucher(
        &mut self,
        voucher_ids: &[String],
    ) -> impl Future<Output = Result<Vec<Ticket>, StoreError>> + Send {
        async move {
            let mut ids = voucher_ids.to_vec();
            ids.sort();
            ids.dedup();
            let mut out = Vec::with_capacity(ids.len());
            for id in &ids {
                let found = one(self, form::<Self>(&TICKET_BY_VOUCHER), &args![id]).await?;
                out.push(found.ok_or(StoreError::Conflict("tickets.voucher_id"))?);
            }
            Ok(out)
        }
    }

    /// The other usable tickets of an order and item, locked, in code order (for multi-ticket
    /// uses).
    fn locked_siblings(
        &mut self,
        order_no: &str,
        item_id: &str,
        except: &str,
    ) -> impl Future<Output = Result<Vec<Ticket>, StoreError>> + Send {
        async move {
            all(
                self,
                form::<Self>(&SIBLINGS),
                &args![order_no, item_id, except],
            )
            .await
        }
    }

    /// All tickets of an order, in code order.
    fn order_tickets(
        &mut self,
        order_no: &str,
    ) -> impl Future<Output = Result<Vec<Ticket>, StoreError>> + Send {
        async move { all(self, &ORDER_TICKETS, &args![order_no]).await }
    }
}

impl<T: Tx> Tickets for T {}
