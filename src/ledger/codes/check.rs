//! `koubei.trade.ticket.ticketcode.checkavailable`: would a use pass? Changes nothing.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRequest {
    pub request_id: Option<String>,
    pub send: SendRef,
    pub ticket_code: TicketCode,
    pub shop_id: ShopId,
    pub quantity: Option<i64>,
}

pub fn parse_check(biz: &Biz) -> Result<CheckRequest, Refusal> {
    Ok(CheckRequest {
        request_id: biz.optional("request_id", 32)?,
        send: SendRef::parse(biz)?,
        ticket_code: TicketCode::parse("ticket_code", biz.required("ticket_code", 32)?)?,
        shop_id: ShopId::parse("shop_id", biz.required("shop_id", 64)?)?,
        quantity: fields::quantity(biz)?,
    })
}

/// Whether a use of the external code would pass now: the send order's checks, then every
/// check of a use, in a use's order — for a normal ticket and `quantity` > 1, across the
/// order's other usable tickets of the item (`siblings`), as a use takes them. Changes nothing.
pub fn decide_check(
    caller: &AppId,
    req: &CheckRequest,
    send: Option<&SendOrder>,
    ticket: Option<&TicketView>,
    shop: &ShopFacts,
    siblings: &[Ticket],
    now: i64,
) -> Result<(), Refusal> {
    let send = req.send.check(caller, send)?;
    let as_use = UseRequest {
        request_id: RequestId::trusted(req.request_id.as_deref().unwrap_or("check")),
        ticket_code: req.ticket_code.clone(),
        shop_id: req.shop_id.clone(),
        shop_type: "INTERNAL_SHOP".into(),
        code_type: CodeType::External,
        order_no: Some(req.send.order_no.clone()),
        quantity: req.quantity,
        gmt_biz: None,
        ext: None,
    };
    let merchant = crate::ledger::names::MerchantPid::trusted(&send.merchant_pid);
    crate::ledger::use_::decide(&merchant, &as_use, ticket, shop, siblings, now).map(|_| ())
}

/// The answer of `checkavailable`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckAnswer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}
