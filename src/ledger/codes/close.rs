//! `koubei.trade.ticket.send.close`: no more codes; the unsent tickets are refunded.

use super::*;

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
