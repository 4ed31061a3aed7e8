//! `koubei.trade.ticket.ticketcode.sync`: a change made in the code merchant's system.

use super::*;

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
