//! `koubei.trade.order.query`: an order with its vouchers and their counts.

use std::collections::HashMap;

use serde::Serialize;

use super::codes::SendOrder;
use super::fields::Biz;
use super::names::{MerchantPid, OrderNo};
use super::{Item, Refusal, Ticket, TicketStatus, Trans, TransKind};
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

/// Units of each ticket, by voucher id: used (net of cancels) and refunded (before or after
/// use). One pass over the order's transactions, however many tickets it has.
fn counts(trans: &[Trans]) -> HashMap<&str, (i64, i64)> {
    let mut counts: HashMap<&str, (i64, i64)> = HashMap::new();
    for tr in trans {
        let (used, refunded) = counts.entry(tr.voucher_id.as_str()).or_default();
        match tr.kind {
            TransKind::Use => *used += tr.quantity,
            TransKind::Cancel => *used -= tr.quantity,
            TransKind::Refund => *refunded += tr.quantity,
            TransKind::Delay => {}
        }
    }
    counts
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
    let counts = counts(&facts.trans);
    let mut vouchers = Vec::with_capacity(facts.tickets.len());
    let (mut usable, mut used_any) = (false, false);
    for t in &facts.tickets {
        let status = t.status(item, None, now);
        let (used, refunded) = counts
            .get(t.voucher_id.as_str())
            .copied()
            .unwrap_or_default();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::fixtures::{self, M};

    fn ticket(id: &str, available: i64, refunded: bool, expire_at: i64) -> Ticket {
        Ticket {
            voucher_id: id.into(),
            order_no: "O1".into(),
            refunded,
            effect_at: 0,
            expire_at,
            ..fixtures::ticket(id, 1, available)
        }
    }

    fn used(id: &str) -> Trans {
        Trans {
            trans_id: format!("u-{id}"),
            voucher_id: id.into(),
            kind: TransKind::Use,
            quantity: 1,
            use_order_id: None,
            reverses_trans_id: None,
            expire_change: None,
            created_at: 5,
        }
    }

    fn facts(tickets: Vec<Ticket>, trans: Vec<Trans>, send: Option<SendOrder>) -> OrderFacts {
        OrderFacts {
            order: Some(Order {
                order_no: "O1".into(),
                merchant_pid: M.into(),
                item_id: "i1".into(),
                created_at: 1,
            }),
            item: Some(Item {
                price: Cents(800),
                ..fixtures::item(None, None)
            }),
            tickets,
            trans,
            send,
        }
    }

    fn status(f: &OrderFacts) -> &'static str {
        answer(&MerchantPid::trusted(M), f, 10).unwrap().status
    }

    #[test]
    fn the_status_follows_what_is_left() {
        let live = ticket("a", 1, false, 100);
        let spent = ticket("b", 0, false, 100);
        let gone = ticket("c", 0, true, 100);
        let lapsed = ticket("d", 1, false, 5);
        assert_eq!(
            status(&facts(
                vec![live.clone(), spent.clone()],
                vec![used("b")],
                None
            )),
            "PAY"
        );
        assert_eq!(
            status(&facts(
                vec![spent.clone(), gone.clone()],
                vec![used("b")],
                None
            )),
            "FINISH"
        );
        assert_eq!(
            status(&facts(vec![spent, lapsed.clone()], vec![used("b")], None)),
            "FINISH"
        );
        assert_eq!(status(&facts(vec![gone.clone()], vec![], None)), "CLOSE");
        assert_eq!(status(&facts(vec![lapsed], vec![], None)), "CLOSE");
        // A code merchant's order: PAY while codes are awaited, CLOSE once closed unsent.
        let send = |closed: bool| crate::ledger::codes::SendOrder {
            send_order_no: "S1".into(),
            order_no: "O1".into(),
            merchant_pid: M.into(),
            item_id: "i1".into(),
            app_id: "a".into(),
            send_token: "t".into(),
            quantity: 2,
            sent: 0,
            refunded: if closed { 2 } else { 0 },
            closed_at: closed.then_some(7),
            close_reason: None,
            created_at: 1,
        };
        let awaiting = facts(vec![], vec![], Some(send(false)));
        assert_eq!(status(&awaiting), "PAY");
        let answered = answer(&MerchantPid::trusted(M), &awaiting, 10).unwrap();
        assert_eq!(answered.total_amount, "16.00", "two units at 8.00");
        let closed = facts(vec![], vec![], Some(send(true)));
        assert_eq!(status(&closed), "CLOSE");
        assert_eq!(
            answer(&MerchantPid::trusted(M), &closed, 10)
                .unwrap()
                .gmt_modified,
            crate::alipay::time::format(7)
        );
        assert_eq!(
            answer(&MerchantPid::trusted("2088000000000002"), &closed, 10),
            Err(Refusal::NotSameMerchantPid)
        );
        assert_eq!(
            answer(&MerchantPid::trusted(M), &OrderFacts::default(), 10),
            Err(Refusal::OrderNotExist)
        );
    }
}
