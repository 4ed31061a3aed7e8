//! The code merchant (码商) flow: codes issued by an ISV's own system for an order Koubei sold.
//! An order of a code-merchant item waits for codes through its send order (发放单); the code
//! merchant's app registers codes (`send`), asks whether one may be used (`checkavailable`),
//! reports changes made in its own system (`sync`) and closes the send order (`send.close`).
//! Every decision here is pure; the operations load the facts and apply the plans.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::fields::{self, Biz};
use super::idempotency::{BIZ_ALREADY_SUCCESS, Replayable};
use super::names::{AppId, OrderNo, RequestId, ShopId, TicketCode};
use super::use_::UseRequest;
use super::{CodeType, Refusal, ShopFacts, TicketStatus, TicketView, Trans, TransKind};
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

// ---- send ----------------------------------------------------------------------------------

/// One code of `isv_ma_list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsvCode {
    pub code: String,
    /// Uses the code carries: 1 for a normal ticket, more makes a times card.
    pub num: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    pub request_id: RequestId,
    pub send: SendRef,
    pub codes: Vec<IsvCode>,
    pub valid_start: Option<i64>,
    pub valid_end: Option<i64>,
}

fn isv_codes(biz: &Biz) -> Result<Vec<IsvCode>, Refusal> {
    let bad = |why: String| Refusal::InvalidParameter(why);
    let list = match biz.value("isv_ma_list") {
        None | Some(Value::Null) => return Err(bad("isv_ma_list 不能为空".into())),
        Some(Value::Array(list)) => list.clone(),
        // Some clients send a list as JSON text.
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(list)) => list,
            _ => return Err(bad("isv_ma_list 必须是数组".into())),
        },
        Some(_) => return Err(bad("isv_ma_list 必须是数组".into())),
    };
    if list.is_empty() || list.len() > MAX_CODES_PER_SEND {
        return Err(bad(format!(
            "isv_ma_list 须含 1 到 {MAX_CODES_PER_SEND} 个码，收到 {} 个",
            list.len()
        )));
    }
    let mut codes: Vec<IsvCode> = Vec::with_capacity(list.len());
    for (i, entry) in list.into_iter().enumerate() {
        let Value::Object(map) = entry else {
            return Err(bad(format!("isv_ma_list[{i}] 必须是对象")));
        };
        let one = Biz::from_map(map);
        let code = one
            .required("code", 32)
            .map_err(|_| bad(format!("isv_ma_list[{i}].code 不能为空，且长度不能超过32")))?;
        if !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad(format!(
                "isv_ma_list[{i}].code 只能包含字母和数字，收到 {code}"
            )));
        }
        let num_text = one.raw("num");
        let num = match num_text.parse::<i64>() {
            Ok(n) if (1..=MAX_NUM).contains(&n) => n,
            _ => {
                return Err(bad(format!(
                    "isv_ma_list[{i}].num 必须是 1 到 {MAX_NUM} 的整数，收到 {num_text:?}"
                )));
            }
        };
        if codes.iter().any(|c| c.code == code) {
            return Err(bad(format!("isv_ma_list 中凭证码 {code} 重复")));
        }
        codes.push(IsvCode { code, num });
    }
    Ok(codes)
}

pub fn parse_send(biz: &Biz) -> Result<SendRequest, Refusal> {
    let request_id = RequestId::parse("request_id", biz.required("request_id", 32)?)?;
    let codes = isv_codes(biz)?;
    let send = SendRef::parse(biz)?;
    let valid_start = date(biz, "valid_start")?;
    let valid_end = date(biz, "valid_end")?;
    if let (Some(start), Some(end)) = (valid_start, valid_end)
        && end <= start
    {
        return Err(Refusal::InvalidParameter(
            "valid_end 必须晚于 valid_start".into(),
        ));
    }
    Ok(SendRequest {
        request_id,
        send,
        codes,
        valid_start,
        valid_end,
    })
}

impl SendRequest {
    pub fn fingerprint(&self) -> String {
        let codes: Vec<(&str, i64)> = self.codes.iter().map(|c| (&*c.code, c.num)).collect();
        json!([
            self.send.order_no,
            self.send.send_order_no,
            self.send.send_token,
            codes,
            self.valid_start,
            self.valid_end
        ])
        .to_string()
    }
}

/// Decides a send, after [`SendRef::check`]: the send order is open → no code is in the order
/// already → the codes fit in what is still to be sent.
pub fn decide_send<'a>(
    caller: &AppId,
    req: &SendRequest,
    send: Option<&'a SendOrder>,
    codes_in_order: &[String],
) -> Result<&'a SendOrder, Refusal> {
    let send = req.send.check(caller, send)?;
    if !send.is_open() {
        return Err(Refusal::SendOrderClosed);
    }
    if let Some(taken) = req.codes.iter().find(|c| codes_in_order.contains(&c.code)) {
        return Err(Refusal::InvalidParameter(format!(
            "凭证码 {} 已在订单 {} 中发放",
            taken.code, send.order_no
        )));
    }
    let left = send.quantity - send.sent;
    if req.codes.len() as i64 > left {
        return Err(Refusal::InvalidParameter(format!(
            "发码数量 {} 超过发放单剩余数量 {left}",
            req.codes.len()
        )));
    }
    Ok(send)
}

/// The answer: `request_id`, and `biz_code=BIZ_ALREADY_SUCCESS` on a replay.
pub type SendAnswer = super::idempotency::Acknowledged;

// ---- checkavailable ------------------------------------------------------------------------

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
/// check of a use, in a use's order. Changes nothing.
pub fn decide_check(
    caller: &AppId,
    req: &CheckRequest,
    send: Option<&SendOrder>,
    ticket: Option<&TicketView>,
    shop: &ShopFacts,
    now: i64,
) -> Result<(), Refusal> {
    let send = req.send.check(caller, send)?;
    if let (Some(view), Some(q)) = (ticket, req.quantity)
        && !view.is_times_card()
        && q > 1
    {
        return Err(Refusal::InvalidParameter(format!(
            "非次卡凭证 quantity 只能为 1，收到 {q}"
        )));
    }
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
    let merchant = super::names::MerchantPid::trusted(&send.merchant_pid);
    super::use_::decide(&merchant, &as_use, ticket, shop, &[], now).map(|_| ())
}

/// The answer of `checkavailable`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckAnswer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

// ---- sync ----------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    pub request_id: RequestId,
    pub ticket_code: TicketCode,
    pub code_type: CodeType,
    pub order_no: Option<OrderNo>,
    /// Units still usable in the code merchant's system (normal tickets: 1 or 0).
    pub quantity: i64,
    pub sync_shop_id: Option<ShopId>,
    pub gmt_biz: Option<i64>,
}

pub fn parse_sync(biz: &Biz) -> Result<SyncRequest, Refusal> {
    let request_id = RequestId::parse("request_id", biz.required("request_id", 32)?)?;
    let ticket_code = TicketCode::parse("ticket_code", biz.required("ticket_code", 32)?)?;
    let (code_type, order_no) = fields::code_type_and_order(biz, "同步")?;
    let text = biz.required("quantity", 4)?;
    let quantity = match text.parse::<i64>() {
        Ok(n) if n >= 0 && text.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => {
            return Err(Refusal::InvalidParameter(format!(
                "quantity 是剩余可核销份数，必须是非负整数，收到 {text}"
            )));
        }
    };
    let sync_shop_id = biz
        .optional("sync_shop_id", 64)?
        .map(|s| ShopId::parse("sync_shop_id", s))
        .transpose()?;
    Ok(SyncRequest {
        request_id,
        ticket_code,
        code_type,
        order_no,
        quantity,
        sync_shop_id,
        gmt_biz: date(biz, "gmt_biz")?,
    })
}

impl SyncRequest {
    pub fn fingerprint(&self) -> String {
        json!([
            self.ticket_code,
            self.code_type.name(),
            self.order_no,
            self.quantity,
            self.sync_shop_id,
            self.gmt_biz
        ])
        .to_string()
    }
}

/// What a sync changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncChange {
    /// The reported quantity is the ledger's: nothing to record.
    None,
    /// Units used in the code merchant's system.
    Use(i64),
    /// Units given back there (up to what was used and not refunded).
    Cancel(i64),
}

/// Decides a sync: the ticket exists → the caller is the code merchant of its order → it is
/// not refunded → the shop, if named, is the merchant's → the reported quantity is possible.
pub fn decide_sync(
    caller: &AppId,
    req: &SyncRequest,
    ticket: Option<&TicketView>,
    send: Option<&SendOrder>,
    shop: Option<&ShopFacts>,
    history: &[Trans],
) -> Result<SyncChange, Refusal> {
    let view = ticket.ok_or(Refusal::TicketNotExist)?;
    let t = &view.ticket;
    if send.is_none_or(|s| s.order_no != t.order_no || s.app_id != caller.as_str()) {
        return Err(Refusal::NotSameMerchantPid);
    }
    if t.refunded {
        return Err(Refusal::TicketStatusIllegal(TicketStatus::Refunded));
    }
    if let Some(shop) = shop
        && !shop.known
    {
        return Err(Refusal::ShopNotMatch(format!(
            "门店 {} 不属于该商家",
            shop.shop_id
        )));
    }
    if req.quantity > t.total_quantity {
        return Err(Refusal::InvalidParameter(format!(
            "quantity {} 超过凭证总份数 {}",
            req.quantity, t.total_quantity
        )));
    }
    let diff = t.available_quantity - req.quantity;
    if diff > 0 {
        return Ok(SyncChange::Use(diff));
    }
    if diff == 0 {
        return Ok(SyncChange::None);
    }
    // Units refunded after use cannot come back.
    let refunded_after_use: i64 = history
        .iter()
        .filter(|tr| tr.kind == TransKind::Refund && tr.reverses_trans_id.is_some())
        .map(|tr| tr.quantity)
        .sum();
    let ceiling = t.total_quantity - refunded_after_use;
    if req.quantity > ceiling {
        return Err(Refusal::InvalidParameter(format!(
            "quantity {} 超过可恢复的上限 {ceiling}（已售后退 {refunded_after_use} 份）",
            req.quantity
        )));
    }
    Ok(SyncChange::Cancel(-diff))
}

/// The answer of `sync`: `request_id` is a JSON array of strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncAnswer {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub biz_code: Option<String>,
    pub order_no: String,
    pub request_id: Vec<String>,
}

impl Replayable for SyncAnswer {
    fn mark_replayed(&mut self) {
        self.biz_code = Some(BIZ_ALREADY_SUCCESS.into());
    }
}

// ---- send.close ----------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseRequest {
    pub request_id: RequestId,
    pub send: SendRef,
    pub reason: Option<String>,
}

pub fn parse_close(biz: &Biz) -> Result<CloseRequest, Refusal> {
    Ok(CloseRequest {
        request_id: RequestId::parse("request_id", biz.required("request_id", 32)?)?,
        send: SendRef::parse(biz)?,
        reason: biz.optional("reason", 256)?,
    })
}

impl CloseRequest {
    pub fn fingerprint(&self) -> String {
        json!([
            self.send.order_no,
            self.send.send_order_no,
            self.send.send_token,
            self.reason
        ])
        .to_string()
    }
}

/// Decides a close: the send order's checks → it is still open. Answers how many tickets were
/// never sent (they are refunded).
pub fn decide_close(
    caller: &AppId,
    req: &CloseRequest,
    send: Option<&SendOrder>,
) -> Result<i64, Refusal> {
    let send = req.send.check(caller, send)?;
    if !send.is_open() {
        return Err(Refusal::SendOrderClosed);
    }
    Ok(send.quantity - send.sent)
}

/// The send notification's fields (a ticketgate extension: `koubei_ticket_send_notify`).
pub fn send_notification_fields(send: &SendOrder) -> Vec<(&'static str, String)> {
    vec![
        ("order_no", send.order_no.clone()),
        ("send_order_no", send.send_order_no.clone()),
        ("send_token", send.send_token.clone()),
        ("item_id", send.item_id.clone()),
        ("quantity", send.quantity.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alipay::money::Cents;
    use crate::ledger::{Item, Ticket};

    const M: &str = "2088000000000001";
    const CM: &str = "2021000000000009";

    fn send_order(closed: bool, sent: i64) -> SendOrder {
        SendOrder {
            send_order_no: "S1".into(),
            order_no: "O1".into(),
            merchant_pid: M.into(),
            item_id: "i1".into(),
            app_id: CM.into(),
            send_token: "T".into(),
            quantity: 3,
            sent,
            refunded: 0,
            closed_at: closed.then_some(1),
            close_reason: None,
            created_at: 0,
        }
    }

    fn biz(v: Value) -> Biz {
        Biz::parse(&v.to_string()).unwrap()
    }

    fn send_req(order: &str, send_no: &str, token: &str, list: Value) -> SendRequest {
        parse_send(&biz(
            json!({"request_id": "s1", "order_no": order, "send_order_no": send_no,
                               "send_token": token, "isv_ma_list": list}),
        ))
        .unwrap()
    }

    fn code(c: &str) -> Value {
        json!([{ "code": c, "num": 1 }])
    }

    #[test]
    fn send_refusals_in_their_order() {
        let cm = AppId::trusted(CM);
        let other = AppId::trusted("2021000000000001");
        let open = send_order(false, 0);
        let closed = send_order(true, 0);
        let full = send_order(false, 3);
        let good = send_req("O1", "S1", "T", code("A1"));
        let sub =
            |r: Result<&SendOrder, Refusal>| r.map(|_| ()).map_err(|e| e.sub_code().to_string());
        let err = |s: &str| Err(s.to_string());
        assert_eq!(
            sub(decide_send(&cm, &good, None, &[])),
            err("ORDER_NOT_EXIST")
        );
        let elsewhere = send_req("O1", "S2", "T", code("A1"));
        assert_eq!(
            sub(decide_send(&cm, &elsewhere, Some(&open), &[])),
            err("ORDER_NOT_EXIST")
        );
        assert_eq!(
            sub(decide_send(&other, &good, Some(&open), &[])),
            err("NOT_SAME_MERCHANT_PID")
        );
        let token = send_req("O1", "S1", "X", code("A1"));
        // The app is checked before the token; the token before the state.
        assert_eq!(
            sub(decide_send(&other, &token, Some(&closed), &[])),
            err("NOT_SAME_MERCHANT_PID")
        );
        assert_eq!(
            sub(decide_send(&cm, &token, Some(&closed), &[])),
            err("INVALID_PARAMETER")
        );
        assert_eq!(
            sub(decide_send(&cm, &good, Some(&closed), &[])),
            err("SEND_ORDER_CLOSED")
        );
        assert_eq!(
            sub(decide_send(&cm, &good, Some(&open), &["A1".to_string()])),
            err("INVALID_PARAMETER")
        );
        assert_eq!(
            sub(decide_send(&cm, &good, Some(&full), &[])),
            err("INVALID_PARAMETER")
        );
        assert_eq!(sub(decide_send(&cm, &good, Some(&open), &[])), Ok(()));
    }

    #[test]
    fn isv_code_lists_are_read_strictly() {
        let read = |list: Value| {
            parse_send(&biz(
                json!({"request_id": "s1", "order_no": "O1", "send_order_no": "S1",
                                   "send_token": "T", "isv_ma_list": list}),
            ))
        };
        let ok = read(json!([{"code": "A1", "num": "2"}, {"code": "B2", "num": 1}])).unwrap();
        assert_eq!(
            ok.codes,
            [
                IsvCode {
                    code: "A1".into(),
                    num: 2
                },
                IsvCode {
                    code: "B2".into(),
                    num: 1
                }
            ]
        );
        // A list sent as JSON text reads the same.
        let text = read(json!(r#"[{"code":"A1","num":2},{"code":"B2","num":1}]"#)).unwrap();
        assert_eq!(text.fingerprint(), ok.fingerprint());
        for bad in [
            json!([]),
            json!({}),
            json!([{"code": "A1"}]),
            json!([{"code": "A1", "num": 0}]),
            json!([{"code": "A1", "num": 10000}]),
            json!([{"code": "", "num": 1}]),
            json!([{"code": "A-1", "num": 1}]),
            json!([{"code": "A1", "num": 1}, {"code": "A1", "num": 1}]),
            json!(["A1"]),
        ] {
            assert!(
                matches!(read(bad.clone()), Err(Refusal::InvalidParameter(_))),
                "{bad}"
            );
        }
        let late = parse_send(&biz(
            json!({"request_id": "s1", "order_no": "O1", "send_order_no": "S1",
            "send_token": "T", "isv_ma_list": [{"code": "A1", "num": 1}],
            "valid_start": "2030-01-02 00:00:00", "valid_end": "2030-01-01 00:00:00"}),
        ));
        assert!(matches!(late, Err(Refusal::InvalidParameter(_))));
    }

    fn view(total: i64, available: i64, refunded: bool) -> TicketView {
        TicketView {
            ticket: Ticket {
                voucher_id: "v1".into(),
                code: "A1".into(),
                code_type: CodeType::External,
                order_no: "O1".into(),
                merchant_pid: M.into(),
                item_id: "i1".into(),
                total_quantity: total,
                available_quantity: available,
                refunded,
                effect_at: 0,
                expire_at: i64::MAX,
            },
            item: Item {
                item_id: "i1".into(),
                merchant_pid: M.into(),
                name: "n".into(),
                alias: None,
                original_price: Cents(100),
                price: Cents(100),
                times: None,
                shop_ids: None,
                valid_from: None,
                valid_to: None,
            },
        }
    }

    fn sync_req(q: &str) -> SyncRequest {
        parse_sync(&biz(
            json!({"request_id": "y1", "ticket_code": "A1", "code_type": "EXTERNAL_CODE",
                               "order_no": "O1", "quantity": q}),
        ))
        .unwrap()
    }

    #[test]
    fn a_sync_becomes_the_difference_as_use_or_cancel() {
        let cm = AppId::trusted(CM);
        let send = send_order(false, 1);
        let card = view(5, 5, false);
        let known = ShopFacts {
            shop_id: "s".into(),
            known: true,
            name: None,
        };
        let unknown = ShopFacts {
            shop_id: "x".into(),
            known: false,
            name: None,
        };
        let sync =
            |req: &SyncRequest,
             v: Option<&TicketView>,
             app: &AppId,
             shop: Option<&ShopFacts>,
             h: &[Trans]| { decide_sync(app, req, v, Some(&send), shop, h) };
        assert_eq!(
            sync(&sync_req("3"), Some(&card), &cm, Some(&known), &[]),
            Ok(SyncChange::Use(2))
        );
        assert_eq!(
            sync(&sync_req("5"), Some(&card), &cm, None, &[]),
            Ok(SyncChange::None)
        );
        let part = view(5, 2, false);
        assert_eq!(
            sync(&sync_req("4"), Some(&part), &cm, None, &[]),
            Ok(SyncChange::Cancel(2))
        );
        // Refusals, in order.
        assert_eq!(
            sync(&sync_req("3"), None, &cm, None, &[]),
            Err(Refusal::TicketNotExist)
        );
        let other = AppId::trusted("2021000000000001");
        assert_eq!(
            sync(&sync_req("3"), Some(&card), &other, None, &[]),
            Err(Refusal::NotSameMerchantPid)
        );
        assert_eq!(
            decide_sync(&cm, &sync_req("3"), Some(&card), None, None, &[]),
            Err(Refusal::NotSameMerchantPid),
            "not an order of a code merchant"
        );
        let refunded = view(1, 0, true);
        assert!(matches!(
            sync(&sync_req("1"), Some(&refunded), &cm, None, &[]),
            Err(Refusal::TicketStatusIllegal(TicketStatus::Refunded))
        ));
        assert!(matches!(
            sync(&sync_req("3"), Some(&card), &cm, Some(&unknown), &[]),
            Err(Refusal::ShopNotMatch(_))
        ));
        assert!(matches!(
            sync(&sync_req("6"), Some(&card), &cm, None, &[]),
            Err(Refusal::InvalidParameter(_))
        ));
        // Units refunded after use cannot come back.
        let after_use = Trans {
            trans_id: "f1".into(),
            voucher_id: "v1".into(),
            kind: TransKind::Refund,
            quantity: 2,
            use_order_id: None,
            reverses_trans_id: Some("u1".into()),
            expire_change: None,
            created_at: 0,
        };
        let used = view(5, 1, false);
        assert_eq!(
            sync(
                &sync_req("3"),
                Some(&used),
                &cm,
                None,
                std::slice::from_ref(&after_use)
            ),
            Ok(SyncChange::Cancel(2))
        );
        assert!(matches!(
            sync(&sync_req("4"), Some(&used), &cm, None, &[after_use]),
            Err(Refusal::InvalidParameter(_))
        ));
        for bad in ["-1", "1.5", "x", ""] {
            let parsed = parse_sync(&biz(
                json!({"request_id": "y1", "ticket_code": "A1", "quantity": bad}),
            ));
            assert!(matches!(parsed, Err(Refusal::InvalidParameter(_))), "{bad}");
        }
        assert_eq!(sync_req("0").quantity, 0, "zero is a quantity here");
    }

    #[test]
    fn checks_and_closes() {
        let cm = AppId::trusted(CM);
        let open = send_order(false, 1);
        let req = |code: &str, q: Option<&str>| {
            let mut b = json!({"order_no": "O1", "send_order_no": "S1", "send_token": "T",
                               "ticket_code": code, "shop_id": "s"});
            if let Some(q) = q {
                b["quantity"] = q.into();
            }
            parse_check(&biz(b)).unwrap()
        };
        let shop = ShopFacts {
            shop_id: "s".into(),
            known: true,
            name: None,
        };
        let card = view(5, 2, false);
        let normal = view(1, 1, false);
        let used = view(1, 0, false);
        let check = |r: &CheckRequest, v: Option<&TicketView>| {
            decide_check(&cm, r, Some(&open), v, &shop, 10).map_err(|e| e.sub_code().to_string())
        };
        assert_eq!(check(&req("A1", Some("2")), Some(&card)), Ok(()));
        assert_eq!(
            check(&req("A1", Some("3")), Some(&card)),
            Err("QUANTITY_NOT_ENOUGH".into())
        );
        assert_eq!(check(&req("A1", None), Some(&normal)), Ok(()));
        assert_eq!(
            check(&req("A1", Some("2")), Some(&normal)),
            Err("INVALID_PARAMETER".into())
        );
        assert_eq!(
            check(&req("A1", None), Some(&used)),
            Err("TICKET_STATUS_ILLEGAL".into())
        );
        assert_eq!(
            check(&req("A1", None), None),
            Err("TICKET_NOT_EXIST".into())
        );
        assert_eq!(
            decide_check(&cm, &req("A1", None), None, Some(&normal), &shop, 10)
                .map_err(|e| e.sub_code().to_string()),
            Err("ORDER_NOT_EXIST".into())
        );

        let close = parse_close(&biz(
            json!({"request_id": "x1", "order_no": "O1", "send_order_no": "S1",
                                             "send_token": "T", "reason": "r"}),
        ))
        .unwrap();
        assert_eq!(
            decide_close(&cm, &close, Some(&open)),
            Ok(2),
            "two tickets never sent"
        );
        assert_eq!(
            decide_close(&cm, &close, Some(&send_order(true, 1))),
            Err(Refusal::SendOrderClosed)
        );
        assert_eq!(decide_close(&cm, &close, None), Err(Refusal::OrderNotExist));
        assert_eq!(
            decide_close(&AppId::trusted("2021000000000001"), &close, Some(&open)),
            Err(Refusal::NotSameMerchantPid)
        );
    }
}
