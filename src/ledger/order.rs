//! `koubei.trade.order.query`: an order with its vouchers and their counts.

use serde::Serialize;

use super::codes::SendOrder;
use super::fields::Biz;
use super::names::{MerchantPid, OrderNo};
use super::{Item, Refusal, Ticket, TicketStatus, TicketView, Trans, TransKind};
use crate::alipay::money::Cents;
use crate::alipay::time;

pub const METHOD: &str = "koubei.trade.order.query";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    pub order_no: OrderNo,
}

pub fn parse(biz: &Biz) -> Result<OrderRequest, Refusal> {
    Ok(OrderRequest {
        order_no: OrderNo::parse("order_no", biz.required("order_no", 64)?)?,
    })
}

/// An order row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub order_no: String,
    pub merchant_pid: String,
    pub item_id: String,
    pub created_at: i64,
}

/// What the store loaded for an order query.
#[derive(Debug, Clone, Default)]
pub struct OrderFacts {
    pub order: Option<Order>,
    pub item: Option<Item>,
    pub tickets: Vec<Ticket>,
    /// Every transaction of the order's tickets.
    pub trans: Vec<Trans>,
    pub send: Option<SendOrder>,
}

/// One voucher of the order (`KbOrderVoucherModel`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Voucher {
    pub voucher_id: String,
    pub item_id: String,
    pub status: &'static str,
    pub expire_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_reason: Option<String>,
    pub ticket_effect_count: String,
    pub ticket_used_count: String,
    pub ticket_refunded_count: String,
}

/// The answer, fields in the order the spec lists them (those the sandbox has no notion of —
/// buyer, trade number, shop, activities, funds — are left out rather than invented).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderAnswer {
    pub order_no: String,
    pub partner_id: String,
    pub seller_id: String,
    pub status: &'static str,
    pub total_amount: String,
    pub real_amount: String,
    pub gmt_create: String,
    pub gmt_modified: String,
    pub vouchers: Vec<Voucher>,
}

/// Units of one ticket: used (net of cancels) and refunded (before or after use).
fn counts(ticket: &Ticket, trans: &[Trans]) -> (i64, i64) {
    let mut used = 0;
    let mut refunded = 0;
    for tr in trans.iter().filter(|tr| tr.voucher_id == ticket.voucher_id) {
        match tr.kind {
            TransKind::Use => used += tr.quantity,
            TransKind::Cancel => used -= tr.quantity,
            TransKind::Refund => refunded += tr.quantity,
            TransKind::Delay => {}
        }
    }
    (used, refunded)
}

/// Decides and renders: the order exists → it is the acting merchant's.
///
/// **Status** (the spec's decision): `PAY` while any ticket can still be used (or codes are
/// still awaited); `CLOSE` when every unit was refunded and none used; `FINISH` otherwise once
/// nothing is usable and at least one unit was used; `CLOSE` when nothing was used at all.
pub fn answer(
    merchant_pid: &MerchantPid,
    facts: &OrderFacts,
    now: i64,
) -> Result<OrderAnswer, Refusal> {
    let order = facts.order.as_ref().ok_or(Refusal::OrderNotExist)?;
    if order.merchant_pid != merchant_pid.as_str() {
        return Err(Refusal::NotSameMerchantPid);
    }
    let item = facts
        .item
        .as_ref()
        .expect("an order's item exists (foreign key)");
    let mut vouchers = Vec::with_capacity(facts.tickets.len());
    let (mut usable, mut used_any) = (false, false);
    for t in &facts.tickets {
        let view = TicketView {
            ticket: t.clone(),
            item: item.clone(),
        };
        let status = view.status(None, now);
        let (used, refunded) = counts(t, &facts.trans);
        usable |= !t.refunded && t.available_quantity > 0 && now <= t.expire_at;
        used_any |= used > 0;
        vouchers.push(Voucher {
            voucher_id: t.voucher_id.clone(),
            item_id: t.item_id.clone(),
            status: status.name(),
            expire_date: time::format(t.expire_at),
            refund_type: (status == TicketStatus::Refunded).then_some("ROLE_USER"),
            refund_reason: None,
            ticket_effect_count: if t.refunded { 0 } else { t.available_quantity }.to_string(),
            ticket_used_count: used.to_string(),
            ticket_refunded_count: refunded.to_string(),
        });
    }
    let awaiting = facts
        .send
        .as_ref()
        .is_some_and(|s| s.is_open() && s.sent < s.quantity);
    let status = if usable || awaiting {
        "PAY"
    } else if used_any {
        "FINISH"
    } else {
        "CLOSE"
    };
    let units = facts
        .send
        .as_ref()
        .map_or(facts.tickets.len() as i64, |s| s.quantity);
    let amount = Cents(item.price.0 * units).yuan();
    let modified = facts
        .trans
        .iter()
        .map(|t| t.created_at)
        .chain(facts.send.iter().filter_map(|s| s.closed_at))
        .fold(order.created_at, i64::max);
    Ok(OrderAnswer {
        order_no: order.order_no.clone(),
        partner_id: order.merchant_pid.clone(),
        seller_id: order.merchant_pid.clone(),
        status,
        total_amount: amount.clone(),
        real_amount: amount,
        gmt_create: time::format(order.created_at),
        gmt_modified: time::format(modified),
        vouchers,
    })
}
