//! `koubei.trade.ticket.ticketcode.cancel` (the seed): reading the request and deciding a
//! cancel of one use order.

use serde_json::json;

use super::fields::{self, Biz};
use super::idempotency::Record;
use super::names::{MerchantPid, OrderNo, RequestId, TicketCode};
use super::{Channel, CodeType, Refusal, Ticket, TicketStatus, TicketView, UseOrder};

pub const METHOD: &str = "koubei.trade.ticket.ticketcode.cancel";

/// A well-formed cancel request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelRequest {
    /// This cancel's own number: its idempotency key among the merchant's cancels.
    pub request_id: RequestId,
    /// The `request_id` of the use being reversed.
    pub request_biz_no: String,
    pub ticket_code: TicketCode,
    pub quantity: Option<i64>,
    pub order_no: Option<OrderNo>,
    pub code_type: CodeType,
}

/// Reads every field; a cancel refused here records nothing.
pub fn parse(biz: &Biz) -> Result<CancelRequest, Refusal> {
    let request_id = RequestId::parse("request_id", biz.required("request_id", 32)?)?;
    let request_biz_no = biz.required("request_biz_no", 64)?;
    let ticket_code = TicketCode::parse("ticket_code", biz.required("ticket_code", 32)?)?;
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

/// The answer: `request_id`, and `biz_code=BIZ_ALREADY_SUCCESS` on a replay.
pub type CancelAnswer = super::idempotency::Acknowledged;

/// A cancel whose `request_id` was seen before: a replay, or a conflict.
pub fn replay(done: &Record, req: &CancelRequest) -> Result<CancelAnswer, Refusal> {
    super::idempotency::replay(done, &req.fingerprint())
}

/// What a cancel will do: give back each unit of the use order's use transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelPlan {
    pub use_order_id: String,
    /// (voucher_id, use trans_id, quantity) for every use transaction being reversed.
    pub reversals: Vec<(String, String, i64)>,
}

/// What the store loaded for a cancel, in one call.
#[derive(Debug, Clone, Default)]
pub struct CancelLoaded {
    /// The idempotency record of this cancel's `request_id`, if it was seen before.
    pub recorded: Option<Record>,
    /// The ticket the call names (locked), if it exists.
    pub ticket: Option<TicketView>,
    pub use_order: Option<UseOrder>,
    pub already_cancelled: bool,
    pub uses: Vec<(String, String, i64)>,
    pub use_tickets: Vec<Ticket>,
    /// Whether any of those use transactions was refunded after use.
    pub refunded_use: bool,
}

impl CancelLoaded {
    pub fn facts(&self) -> CancelFacts<'_> {
        CancelFacts {
            ticket: self.ticket.as_ref(),
            use_order: self.use_order.as_ref(),
            already_cancelled: self.already_cancelled,
            uses: &self.uses,
            use_tickets: &self.use_tickets,
            refunded_use: self.refunded_use,
        }
    }
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
    /// Whether any of those use transactions was refunded after use (售后退).
    pub refunded_use: bool,
}

/// Decides a cancel, checks in the published order (after the request-id replay check):
/// ticket → the use named by `request_biz_no` → quantity → ticket state.
pub fn decide(
    merchant_pid: &MerchantPid,
    req: &CancelRequest,
    facts: &CancelFacts,
) -> Result<CancelPlan, Refusal> {
    let view = facts.ticket.ok_or(Refusal::UseBizOrderNotExist)?;
    if view.ticket.merchant_pid != merchant_pid.as_str() {
        return Err(Refusal::NotSameMerchantPid);
    }
    let order_no = req.order_no.as_ref().map(OrderNo::as_str);
    let order = facts
        .use_order
        .filter(|o| o.ticket_code == req.ticket_code.as_str() && o.code_type == Some(req.code_type))
        .filter(|o| req.code_type == CodeType::Internal || o.order_no.as_deref() == order_no)
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
    if facts.refunded_use {
        return Err(Refusal::StateIllegal("该核销已售后退，不能撤销".into()));
    }
    Ok(CancelPlan {
        use_order_id: order.use_order_id.clone(),
        reversals: facts.uses.to_vec(),
    })
}

/// The answer to a cancel that was carried out now.
pub fn answer(req: &CancelRequest) -> CancelAnswer {
    CancelAnswer {
        request_id: req.request_id.clone(),
        biz_code: None,
    }
}
