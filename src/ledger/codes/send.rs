//! `koubei.trade.ticket.ticketcode.send`: registering a code merchant's codes.

use super::*;

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
pub type SendAnswer = crate::ledger::idempotency::Acknowledged;
