//! Business refusals (`40004 Business Failed`): each with its sub_code and Chinese sub_msg.

use super::TicketStatus;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A field is missing, too long or malformed; the text says which and why.
    InvalidParameter(String),
    TicketNotExist,
    NotSameMerchantPid,
    TicketStatusIllegal(TicketStatus),
    /// `TICKET_STATUS_ILLEGAL` for a reason a ticket state does not name (a use that was
    /// cancelled or refunded already); the text says which.
    StateIllegal(String),
    OrderNotExist,
    SendOrderClosed,
    TicketNotEffective,
    ShopNotMatch(String),
    QuantityNotEnough(String),
    RequestIdRepeat,
    UseBizOrderNotExist,
    UseBizOrderClose,
    UseChannelNotEqual,
    RepeatCancel,
    /// Transient: contention that did not resolve in the allowed retries.
    SystemError,
    /// A refusal recorded earlier (a closed use order), answered again word for word.
    Recorded {
        sub_code: String,
        sub_msg: String,
    },
}

impl Refusal {
    pub fn sub_code(&self) -> &str {
        match self {
            Refusal::InvalidParameter(_) => "INVALID_PARAMETER",
            Refusal::TicketNotExist => "TICKET_NOT_EXIST",
            Refusal::NotSameMerchantPid => "NOT_SAME_MERCHANT_PID",
            Refusal::TicketStatusIllegal(_) | Refusal::StateIllegal(_) => "TICKET_STATUS_ILLEGAL",
            Refusal::OrderNotExist => "ORDER_NOT_EXIST",
            Refusal::SendOrderClosed => "SEND_ORDER_CLOSED",
            Refusal::TicketNotEffective => "TICKET_NOT_EFFECTIVE",
            Refusal::ShopNotMatch(_) => "SHOP_NOT_MATCH",
            Refusal::QuantityNotEnough(_) => "QUANTITY_NOT_ENOUGH",
            Refusal::RequestIdRepeat => "REQUEST_ID_REPEAT",
            Refusal::UseBizOrderNotExist => "USE_BIZ_ORDER_NOT_EXIST",
            Refusal::UseBizOrderClose => "USE_BIZ_ORDER_CLOSE",
            Refusal::UseChannelNotEqual => "USE_CHANNEL_NOT_EQUAL",
            Refusal::RepeatCancel => "REPEAT_CANCEL",
            Refusal::SystemError => "SYSTEM_ERROR",
            Refusal::Recorded { sub_code, .. } => sub_code,
        }
    }

    pub fn sub_msg(&self) -> String {
        match self {
            Refusal::InvalidParameter(why) => format!("参数有误：{why}"),
            Refusal::TicketNotExist => "凭证码不存在".into(),
            Refusal::NotSameMerchantPid => "非当前商家的凭证码，无法操作".into(),
            Refusal::TicketStatusIllegal(status) => {
                format!("凭证状态不允许此操作：{} {}", status.name(), status.desc())
            }
            Refusal::StateIllegal(why) => format!("凭证状态不允许此操作：{why}"),
            Refusal::OrderNotExist => "订单不存在".into(),
            Refusal::SendOrderClosed => "发放单已关闭，不能再发码".into(),
            Refusal::TicketNotEffective => "凭证不在有效期内".into(),
            Refusal::ShopNotMatch(why) => format!("凭证不能在该门店核销：{why}"),
            Refusal::QuantityNotEnough(why) => format!("凭证可核销份数不足：{why}"),
            Refusal::RequestIdRepeat => "流水号重复，但参数不一致".into(),
            Refusal::UseBizOrderNotExist => "券正向核销操作单不存在".into(),
            Refusal::UseBizOrderClose => "正向核销流水已关闭".into(),
            Refusal::UseChannelNotEqual => "撤销的凭证不是通过开放平台核销".into(),
            Refusal::RepeatCancel => "对同一正向流水重复冲正（请求ID不同）".into(),
            Refusal::SystemError => "系统繁忙，请重试".into(),
            Refusal::Recorded { sub_msg, .. } => sub_msg.clone(),
        }
    }

    /// The refusal with this sub_code whose sub_msg is fixed (no detail of a call in it).
    pub fn fixed(sub_code: &str) -> Option<Refusal> {
        use Refusal::*;
        [
            TicketNotExist,
            NotSameMerchantPid,
            OrderNotExist,
            SendOrderClosed,
            TicketNotEffective,
            RequestIdRepeat,
            UseBizOrderNotExist,
            UseBizOrderClose,
            UseChannelNotEqual,
            RepeatCancel,
            SystemError,
        ]
        .into_iter()
        .find(|r| r.sub_code() == sub_code)
    }

    /// Whether a use refused this way is recorded as a closed use order (business refusals are;
    /// an id conflict or a transient failure is not).
    pub fn closes_use_order(&self) -> bool {
        !matches!(
            self,
            Refusal::RequestIdRepeat | Refusal::SystemError | Refusal::Recorded { .. }
        )
    }
}
