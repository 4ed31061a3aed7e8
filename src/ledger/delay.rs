//! `koubei.trade.ticket.ticketcode.delay` (延期): reading the request and deciding a new
//! expiry date. The change is a `DELAY` transaction recording the old and the new date.

use serde_json::json;

use super::fields::{self, Biz};
use super::idempotency::Record;
use super::names::{MerchantPid, OrderNo, RequestId, TicketCode};
use super::{CodeType, Refusal, TicketStatus, TicketView};
use crate::alipay::time;

pub const METHOD: &str = "koubei.trade.ticket.ticketcode.delay";

/// A well-formed delay request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelayRequest {
    pub request_id: RequestId,
    pub order_no: OrderNo,
    pub ticket_code: TicketCode,
    /// The new expiry, epoch milliseconds.
    pub end_at: i64,
    pub code_type: CodeType,
}

/// `yyyy-MM-dd HH:mm:ss` or `yyyyMMdd HHmmss`, GMT+8.
fn end_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    match text.len() {
        19 => time::parse(text),
        15 if b[8] == b' ' && text.is_ascii() => time::parse(&format!(
            "{}-{}-{} {}:{}:{}",
            &text[..4],
            &text[4..6],
            &text[6..8],
            &text[9..11],
            &text[11..13],
            &text[13..15]
        )),
        _ => None,
    }
}

pub fn parse(biz: &Biz) -> Result<DelayRequest, Refusal> {
    let request_id = RequestId::parse("request_id", biz.required("request_id", 32)?)?;
    let order_no = OrderNo::parse("order_no", biz.required("order_no", 32)?)?;
    let ticket_code = TicketCode::parse("ticket_code", biz.required("ticket_code", 32)?)?;
    let text = biz.required("end_date", 19)?;
    let end_at = end_date(&text).ok_or_else(|| {
        Refusal::InvalidParameter(format!(
            "end_date 格式应为 yyyy-MM-dd HH:mm:ss 或 yyyyMMdd HHmmss，收到 {text}"
        ))
    })?;
    let (code_type, _) = fields::code_type_and_order(biz, "延期")?;
    Ok(DelayRequest {
        request_id,
        order_no,
        ticket_code,
        end_at,
        code_type,
    })
}

impl DelayRequest {
    /// What must match for a repeated `request_id` to be a replay.
    pub fn fingerprint(&self) -> String {
        json!([
            self.order_no,
            self.ticket_code,
            self.end_at,
            self.code_type.name()
        ])
        .to_string()
    }
}

/// What the store loaded for a delay, in one call.
#[derive(Debug, Clone, Default)]
pub struct DelayFacts {
    pub recorded: Option<Record>,
    /// The ticket the call names (locked), if it exists.
    pub ticket: Option<TicketView>,
}

/// What a delay will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelayPlan {
    pub voucher_id: String,
    pub expire_before: i64,
    pub expire_after: i64,
}

/// Decides a delay, checks in order: the ticket exists in that order → it is the acting
/// merchant's → it is not used up or refunded → the new date is later than both now and the
/// current expiry.
pub fn decide(
    merchant_pid: &MerchantPid,
    req: &DelayRequest,
    ticket: Option<&TicketView>,
    now: i64,
) -> Result<DelayPlan, Refusal> {
    let view = ticket
        .filter(|v| v.ticket.order_no == req.order_no.as_str())
        .ok_or(Refusal::TicketNotExist)?;
    let t = &view.ticket;
    if t.merchant_pid != merchant_pid.as_str() {
        return Err(Refusal::NotSameMerchantPid);
    }
    if let s @ (TicketStatus::Refunded | TicketStatus::Used) = view.status(None, now) {
        return Err(Refusal::TicketStatusIllegal(s));
    }
    if req.end_at <= now.max(t.expire_at) {
        return Err(Refusal::InvalidParameter(format!(
            "end_date 必须晚于当前时间 {} 和凭证原失效时间 {}",
            time::format(now),
            time::format(t.expire_at)
        )));
    }
    Ok(DelayPlan {
        voucher_id: t.voucher_id.clone(),
        expire_before: t.expire_at,
        expire_after: req.end_at,
    })
}

/// The answer: `request_id`, and `biz_code=BIZ_ALREADY_SUCCESS` on a replay.
pub type DelayAnswer = super::idempotency::Acknowledged;

pub fn answer(req: &DelayRequest) -> DelayAnswer {
    DelayAnswer {
        request_id: req.request_id.clone(),
        biz_code: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Ticket;
    use crate::ledger::fixtures::{self, M, NOW};

    const DAY: i64 = 86_400_000;

    fn view(available: i64, refunded: bool, expire_at: i64) -> TicketView {
        fixtures::view(
            Ticket {
                voucher_id: "v1".into(),
                refunded,
                effect_at: NOW - 10 * DAY,
                expire_at,
                ..fixtures::ticket("123456789012", 1, available)
            },
            fixtures::item(None, None),
        )
    }

    fn request(biz: &str) -> Result<DelayRequest, Refusal> {
        parse(&Biz::parse(biz).unwrap())
    }

    #[test]
    fn end_dates_are_read_in_both_published_forms() {
        let a = request(r#"{"request_id":"d1","order_no":"o1","ticket_code":"123456789012","end_date":"2030-01-02 03:04:05"}"#).unwrap();
        let b = request(r#"{"request_id":"d1","order_no":"o1","ticket_code":"123456789012","end_date":"20300102 030405"}"#).unwrap();
        assert_eq!(a.end_at, b.end_at);
        assert_eq!(time::format(a.end_at), "2030-01-02 03:04:05");
        assert_eq!(a.fingerprint(), b.fingerprint());
        for bad in [
            r#"{"order_no":"o1","ticket_code":"1","end_date":"2030-01-02 03:04:05"}"#,
            r#"{"request_id":"d1","ticket_code":"1","end_date":"2030-01-02 03:04:05"}"#,
            r#"{"request_id":"d1","order_no":"o1","end_date":"2030-01-02 03:04:05"}"#,
            r#"{"request_id":"d1","order_no":"o1","ticket_code":"1"}"#,
            r#"{"request_id":"d1","order_no":"o1","ticket_code":"1","end_date":"2030-01-02"}"#,
            r#"{"request_id":"d1","order_no":"o1","ticket_code":"1","end_date":"2030-13-02 03:04:05"}"#,
            r#"{"request_id":"d1","order_no":"o1","ticket_code":"1","end_date":"2030010203040"}"#,
            r#"{"request_id":"d1","order_no":"o1","ticket_code":"1","end_date":"2030-01-02 03:04:05","code_type":"X"}"#,
        ] {
            assert_eq!(
                request(bad).unwrap_err().sub_code(),
                "INVALID_PARAMETER",
                "{bad}"
            );
        }
    }

    #[test]
    #[allow(
        clippy::type_complexity,
        reason = "the case table is one tuple type, read once"
    )]
    fn delay_decisions() {
        let m = MerchantPid::trusted(M);
        let other = MerchantPid::trusted("2088000000000002");
        let later = NOW + 30 * DAY;
        let req = |order: &str, end_at: i64| DelayRequest {
            request_id: RequestId::trusted("d1"),
            order_no: OrderNo::trusted(order),
            ticket_code: TicketCode::trusted("123456789012"),
            end_at,
            code_type: CodeType::Internal,
        };
        let live = view(1, false, NOW + DAY);
        let expired = view(1, false, NOW - DAY);
        let cases: Vec<(
            &str,
            Option<TicketView>,
            &MerchantPid,
            DelayRequest,
            Result<i64, &str>,
        )> = vec![
            (
                "a live ticket",
                Some(live.clone()),
                &m,
                req("o1", later),
                Ok(NOW + DAY),
            ),
            (
                "an expired ticket",
                Some(expired.clone()),
                &m,
                req("o1", later),
                Ok(NOW - DAY),
            ),
            (
                "no ticket",
                None,
                &m,
                req("o1", later),
                Err("TICKET_NOT_EXIST"),
            ),
            (
                "another order",
                Some(live.clone()),
                &m,
                req("o2", later),
                Err("TICKET_NOT_EXIST"),
            ),
            (
                "another merchant",
                Some(live.clone()),
                &other,
                req("o1", later),
                Err("NOT_SAME_MERCHANT_PID"),
            ),
            (
                "used",
                Some(view(0, false, NOW + DAY)),
                &m,
                req("o1", later),
                Err("TICKET_STATUS_ILLEGAL"),
            ),
            (
                "refunded",
                Some(view(0, true, NOW + DAY)),
                &m,
                req("o1", later),
                Err("TICKET_STATUS_ILLEGAL"),
            ),
            (
                "not after the expiry",
                Some(live.clone()),
                &m,
                req("o1", NOW + DAY),
                Err("INVALID_PARAMETER"),
            ),
            (
                "not after now",
                Some(expired),
                &m,
                req("o1", NOW),
                Err("INVALID_PARAMETER"),
            ),
        ];
        for (name, ticket, who, req, want) in cases {
            match (decide(who, &req, ticket.as_ref(), NOW), want) {
                (Ok(plan), Ok(before)) => {
                    assert_eq!(
                        (plan.expire_before, plan.expire_after),
                        (before, req.end_at),
                        "{name}"
                    )
                }
                (Err(r), Err(code)) => assert_eq!(r.sub_code(), code, "{name}"),
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }
}
