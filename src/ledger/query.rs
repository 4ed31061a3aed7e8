//! `koubei.trade.ticket.ticketcode.query`: reading the request and rendering a ticket.

use serde_json::{Map, Value};

use super::fields::Biz;
use super::{Refusal, ShopFacts, TicketView, Trans};
use crate::alipay::time;

pub const METHOD: &str = "koubei.trade.ticket.ticketcode.query";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRequest {
    pub ticket_code: String,
    pub shop_id: String,
}

pub fn parse(biz: &Biz) -> Result<QueryRequest, Refusal> {
    let ticket_code = biz.required("ticket_code", 32)?;
    if ticket_code.len() != 12 || !ticket_code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refusal::InvalidParameter(format!(
            "ticket_code 应为12位数字券码，收到 {ticket_code}"
        )));
    }
    let shop_id = biz.required("shop_id", 64)?;
    Ok(QueryRequest {
        ticket_code,
        shop_id,
    })
}

/// Checks that the ticket exists and is the acting merchant's.
pub fn decide<'a>(
    merchant_pid: &str,
    ticket: Option<&'a TicketView>,
) -> Result<&'a TicketView, Refusal> {
    let view = ticket.ok_or(Refusal::TicketNotExist)?;
    if view.ticket.merchant_pid != merchant_pid {
        return Err(Refusal::NotSameMerchantPid);
    }
    Ok(view)
}

/// The answer fields: the ticket as seen from the queried shop (or from nowhere in
/// particular), with its transactions.
pub fn answer(
    view: &TicketView,
    shop: Option<&ShopFacts>,
    trans: &[Trans],
    now: i64,
) -> Map<String, Value> {
    let t = &view.ticket;
    let item = &view.item;
    let status = view.status(shop, now);
    let mut node = Map::new();
    node.insert("ticket_code".into(), t.code.clone().into());
    node.insert("ticket_status".into(), status.name().into());
    node.insert("ticket_status_desc".into(), status.desc().into());
    node.insert("order_no".into(), t.order_no.clone().into());
    node.insert("voucher_id".into(), t.voucher_id.clone().into());
    item.fields_into(&mut node);
    node.insert("tm_item_id".into(), item.item_id.clone().into());
    node.insert("effect_date".into(), time::format(t.effect_at).into());
    node.insert("expire_date".into(), time::format(t.expire_at).into());
    node.insert(
        "available_quantity".into(),
        t.available_quantity.to_string().into(),
    );
    node.insert("total_quantity".into(), t.total_quantity.to_string().into());
    node.insert("time_cards".into(), view.is_times_card().to_string().into());
    let list: Vec<Value> = trans
        .iter()
        .map(|tr| {
            let mut m = Map::new();
            m.insert("ticket_trans_id".into(), tr.trans_id.clone().into());
            m.insert("ticket_trans_type".into(), tr.kind.name().into());
            m.insert("quantity".into(), tr.quantity.to_string().into());
            m.insert("create_time".into(), time::format(tr.created_at).into());
            m.insert(
                "last_modify_time".into(),
                time::format(tr.created_at).into(),
            );
            Value::Object(m)
        })
        .collect();
    node.insert("ticket_trans_info_list".into(), Value::Array(list));
    node
}
