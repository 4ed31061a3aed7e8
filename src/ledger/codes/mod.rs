//! The code merchant (码商) flow: codes issued by an ISV's own system for an order Koubei sold.
//! An order of a code-merchant item waits for codes through its send order (发放单); the code
//! merchant's app registers codes (`send`), asks whether one may be used (`checkavailable`),
//! reports changes made in its own system (`sync`) and closes the send order (`send.close`).
//! Every decision here is pure; the operations load the facts and apply the plans. One file per
//! call: `send.rs`, `check.rs`, `sync.rs`, `close.rs`; what they share is here.

mod check;
mod close;
mod send;
mod sync;
#[cfg(test)]
mod tests;

pub use check::*;
pub use close::*;
pub use send::*;
pub use sync::*;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::fields::{self, Biz};
use super::idempotency::{BIZ_ALREADY_SUCCESS, Replayable};
use super::names::{AppId, OrderNo, RequestId, ShopId, TicketCode};
use super::use_::UseRequest;
use super::{CodeType, Refusal, ShopFacts, Ticket, TicketStatus, TicketView, Trans, TransKind};
use crate::alipay::time;

pub const SEND: &str = "koubei.trade.ticket.ticketcode.send";
pub const CHECK: &str = "koubei.trade.ticket.ticketcode.checkavailable";
pub const SYNC: &str = "koubei.trade.ticket.ticketcode.sync";
pub const CLOSE: &str = "koubei.trade.ticket.send.close";

/// Most codes one `send` may register, and most uses one code may carry.
pub const MAX_CODES_PER_SEND: usize = 1000;
pub const MAX_NUM: i64 = 9999;

/// The send order of an order awaiting a code merchant's codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendOrder {
    pub send_order_no: String,
    pub order_no: String,
    pub merchant_pid: String,
    pub item_id: String,
    /// The code merchant's app.
    pub app_id: String,
    pub send_token: String,
    /// Tickets bought.
    pub quantity: i64,
    /// Codes registered so far.
    pub sent: i64,
    /// Tickets never sent, refunded when the send order was closed.
    pub refunded: i64,
    pub closed_at: Option<i64>,
    pub close_reason: Option<String>,
    pub created_at: i64,
}

impl SendOrder {
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }
}

/// The fields that name a send order in every call of the flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRef {
    pub order_no: OrderNo,
    pub send_order_no: String,
    pub send_token: String,
}

impl SendRef {
    fn parse(biz: &Biz) -> Result<SendRef, Refusal> {
        Ok(SendRef {
            order_no: OrderNo::parse("order_no", biz.required("order_no", 32)?)?,
            send_order_no: biz.required("send_order_no", 64)?,
            send_token: biz.required("send_token", 64)?,
        })
    }

    /// The checks every call of the flow starts with: the send order exists (`ORDER_NOT_EXIST`)
    /// → the caller is its code merchant (`NOT_SAME_MERCHANT_PID`) → the token is the one the
    /// send notification carried (`INVALID_PARAMETER`).
    pub fn check<'a>(
        &self,
        caller: &AppId,
        send: Option<&'a SendOrder>,
    ) -> Result<&'a SendOrder, Refusal> {
        let send = send
            .filter(|s| {
                s.order_no == self.order_no.as_str() && s.send_order_no == self.send_order_no
            })
            .ok_or(Refusal::OrderNotExist)?;
        if send.app_id != caller.as_str() {
            return Err(Refusal::NotSameMerchantPid);
        }
        if send.send_token != self.send_token {
            return Err(Refusal::InvalidParameter(
                "send_token 与发码通知中的不一致".into(),
            ));
        }
        Ok(send)
    }
}

fn date(biz: &Biz, key: &str) -> Result<Option<i64>, Refusal> {
    biz.optional(key, 19)?
        .map(|text| {
            time::parse(&text).ok_or_else(|| {
                Refusal::InvalidParameter(format!(
                    "{key} 格式应为 yyyy-MM-dd HH:mm:ss，收到 {text}"
                ))
            })
        })
        .transpose()
}
