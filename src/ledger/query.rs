//! `koubei.trade.ticket.ticketcode.query`: reading the request and rendering a ticket.

use serde::Serialize;

use super::fields::Biz;
use super::names::{MerchantPid, ShopId, TicketCode};
use super::{ItemFields, Refusal, ShopFacts, TicketView, Trans};
use crate::alipay::time;

pub const METHOD: &str = "koubei.trade.ticket.ticketcode.query";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRequest {
    pub ticket_code: TicketCode,
    pub shop_id: ShopId,
}

pub fn parse(biz: &Biz) -> Result<QueryRequest, Refusal> {
    let ticket_code = TicketCode::parse_internal("ticket_code", biz.required("ticket_code", 32)?)?;
    let shop_id = ShopId::parse("shop_id", biz.required("shop_id", 64)?)?;
    Ok(QueryRequest {
        ticket_code,
        shop_id,
    })
}

/// What the store loaded for a query, in one call: the ticket with its item, the queried
/// shop and the ticket's transactions (the last two only when the ticket exists).
#[derive(Debug, Clone, Default)]
pub struct QueryFacts {
    pub ticket: Option<TicketView>,
    pub shop: Option<ShopFacts>,
    pub trans: Vec<Trans>,
}

/// Checks that the ticket exists and is the acting merchant's.
pub fn decide<'a>(
    merchant_pid: &MerchantPid,
    ticket: Option<&'a TicketView>,
) -> Result<&'a TicketView, Refusal> {
    let view = ticket.ok_or(Refusal::TicketNotExist)?;
    if view.ticket.merchant_pid != merchant_pid.as_str() {
        return Err(Refusal::NotSameMerchantPid);
    }
    Ok(view)
}

/// One line of `ticket_trans_info_list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransInfo {
    pub ticket_trans_id: String,
    pub ticket_trans_type: &'static str,
    pub quantity: String,
    pub create_time: String,
    pub last_modify_time: String,
}

/// The answer to a query, fields in the order the spec lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueryAnswer {
    pub ticket_code: String,
    pub ticket_status: &'static str,
    pub ticket_status_desc: &'static str,
    pub order_no: String,
    pub voucher_id: String,
    #[serde(flatten)]
    pub item: ItemFields,
    pub tm_item_id: String,
    pub effect_date: String,
    pub expire_date: String,
    pub available_quantity: String,
    pub total_quantity: String,
    pub time_cards: String,
    pub ticket_trans_info_list: Vec<TransInfo>,
}

/// The ticket as seen from the queried shop (or from nowhere in particular), with its
/// transactions.
pub fn answer(
    view: &TicketView,
    shop: Option<&ShopFacts>,
    trans: &[Trans],
    now: i64,
) -> QueryAnswer {
    let t = &view.ticket;
    let item = &view.item;
    let status = view.status(shop, now);
    QueryAnswer {
        ticket_code: t.code.clone(),
        ticket_status: status.name(),
        ticket_status_desc: status.desc(),
        order_no: t.order_no.clone(),
        voucher_id: t.voucher_id.clone(),
        item: item.answer_fields(),
        tm_item_id: item.item_id.clone(),
        effect_date: time::format(t.effect_at),
        expire_date: time::format(t.expire_at),
        available_quantity: t.available_quantity.to_string(),
        total_quantity: t.total_quantity.to_string(),
        time_cards: view.is_times_card().to_string(),
        ticket_trans_info_list: trans
            .iter()
            .map(|tr| TransInfo {
                ticket_trans_id: tr.trans_id.clone(),
                ticket_trans_type: tr.kind.name(),
                quantity: tr.quantity.to_string(),
                create_time: time::format(tr.created_at),
                last_modify_time: time::format(tr.created_at),
            })
            .collect(),
    }
}
