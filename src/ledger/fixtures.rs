//! Test fixtures shared by the ledger's decision tests: an item and a ticket of merchant `M`,
//! valid around `NOW`; each test changes what it needs with struct update syntax.

use super::{CodeType, Item, Ticket, TicketView};
use crate::alipay::money::Cents;

pub const NOW: i64 = 1_800_000_000_000;
pub const M: &str = "2088000000000001";

pub fn item(times: Option<i64>, shops: Option<Vec<&str>>) -> Item {
    Item {
        item_id: "i1".into(),
        merchant_pid: M.into(),
        name: "n".into(),
        alias: None,
        original_price: Cents(12800),
        price: Cents(8800),
        times,
        shop_ids: shops.map(|s| s.into_iter().map(String::from).collect()),
        valid_from: None,
        valid_to: None,
    }
}

pub fn ticket(code: &str, total: i64, available: i64) -> Ticket {
    Ticket {
        voucher_id: format!("v{code}"),
        code: code.into(),
        code_type: CodeType::Internal,
        order_no: "o1".into(),
        merchant_pid: M.into(),
        item_id: "i1".into(),
        total_quantity: total,
        available_quantity: available,
        refunded: false,
        effect_at: NOW - 1000,
        expire_at: NOW + 1000,
    }
}

/// A ticket with its item.
pub fn view(ticket: Ticket, item: Item) -> TicketView {
    TicketView { ticket, item }
}
