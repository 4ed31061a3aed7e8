//! `koubei.trade.ticket.ticketcode.cancel` (the seed): reading the request and deciding a
//! cancel of one use order.

use serde_json::{Map, Value, json};

use super::fields::{self, Biz};
use super::{CancelRecord, Channel, CodeType, Refusal, Ticket, TicketStatus, TicketView, UseOrder};

pub const METHOD: &str = "koubei.trade.ticket.ticketcode.cancel";

/// A well-formed cancel request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelRequest {
    /// This cancel's own number: its idempotency key among the merchant's cancels.
    pub request_id: String,
    /// The `request_id` of the use being reversed.
    pub request_biz_no: String,
    pub ticket_code: String,
    pub quantity: Option<i64>,
    pub order_no: Option<String>,
    pub code_type: CodeType,
}

/// Reads every field; a cancel refused here records nothing.
pub fn parse(biz: &Biz) -> Result<CancelRequest, Refusal> {
    let request_id = biz.required("request_id", 32)?;
    let request_biz_no = biz.required("request_biz_no", 64)?;
    let ticket_code = biz.required("ticket_code", 32)?;
    let quantity = fields::quantity(biz)?;
    let (code_type, order_no) = fields::code_type_and_order(biz, "撤销")?;
    Ok(CancelRequest {
        request_id,
        request_biz_no,
        ticket_code,
        quantity,
        order_no,
        code_type,
    })
}

impl CancelRequest {
    /// What must match for a repeated `request_id` to be a replay.
    pub fn fingerprint(&self) -> String {
        json!([
            self.request_biz_no,
            self.ticket_code,
            self.quantity,
            self.order_no,
            self.code_type.name(),
        ])
        .to_string()
    }
}

/// A cancel whose `request_id` was seen before: a replay, or a conflict.
pub fn replay(done: &CancelRecord, req: &CancelRequest) -> Result<Map<String, Value>, Refusal> {
    if done.fingerprint == req.fingerprint() {
        Ok(answer(req, true))
    } else {
        Err(Refusal::RequestIdRepeat)
    }
}

/// What a cancel will do: give back each unit of the use order's use transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelPlan {
    pub use_order_id: String,
    /// (voucher_id, use trans_id, quantity) for every use transaction being reversed.
    pub reversals: Vec<(String, String, i64)>,
}

/// Facts the store loaded for a cancel.
pub struct CancelFacts<'a> {
    /// The ticket the call names, if it exists.
    pub ticket: Option<&'a TicketView>,
    /// The merchant's use order whose request id is `request_biz_no`, if any.
    pub use_order: Option<&'a UseOrder>,
    /// Whether that use order was already cancelled (under another request id).
    pub already_cancelled: bool,
    /// The use order's use transactions: (voucher_id, trans_id, quantity).
    pub uses: &'a [(String, String, i64)],
    /// The tickets those transactions touched.
    pub use_tickets: &'a [Ticket],
}

/// Decides a cancel, checks in the published order (after the request-id replay check):
/// ticket → the use named by `request_biz_no` → quantity → ticket state.
pub fn decide(
    merchant_pid: &str,
    req: &CancelRequest,
    facts: &CancelFacts,
) -> Result<CancelPlan, Refusal> {
    let view = facts.ticket.ok_or(Refusal::UseBizOrderNotExist)?;
    if view.ticket.merchant_pid != merchant_pid {
        return Err(Refusal::NotSameMerchantPid);
    }
    let order = facts
        .use_order
        .filter(|o| o.ticket_code == req.ticket_code && o.code_type == req.code_type.name())
        .filter(|o| req.code_type == CodeType::Internal || o.order_no == req.order_no)
        .ok_or(Refusal::UseBizOrderNotExist)?;
    if order.closed {
        return Err(Refusal::UseBizOrderClose);
    }
    if order.voucher_id.as_deref() != Some(view.ticket.voucher_id.as_str()) {
        return Err(Refusal::UseBizOrderNotExist);
    }
    if order.channel != Channel::OpenPlatform {
        return Err(Refusal::UseChannelNotEqual);
    }
    if facts.already_cancelled {
        return Err(Refusal::RepeatCancel);
    }
    match req.quantity {
        None if view.is_times_card() => {
            return Err(Refusal::InvalidParameter(
                "次卡撤销时 quantity 不能为空".into(),
            ));
        }
        Some(q) if q != order.quantity => {
            return Err(Refusal::InvalidParameter(format!(
                "quantity 与正向核销份数不一致：核销 {} 份，撤销 {q} 份",
                order.quantity
            )));
        }
        _ => {}
    }
    if facts.use_tickets.iter().any(|t| t.refunded) {
        return Err(Refusal::TicketStatusIllegal(TicketStatus::Refunded));
    }
    Ok(CancelPlan {
        use_order_id: order.use_order_id.clone(),
        reversals: facts.uses.to_vec(),
    })
}

/// The answer: `request_id`, and `biz_code=BIZ_ALREADY_SUCCESS` on a replay.
pub fn answer(req: &CancelRequest, replayed: bool) -> Map<String, Value> {
    let mut node = Map::new();
    node.insert("request_id".into(), req.request_id.clone().into());
    if replayed {
        node.insert("biz_code".into(), "BIZ_ALREADY_SUCCESS".into());
    }
    node
}
