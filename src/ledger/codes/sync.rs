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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncChange {
    /// The reported quantity is the ledger's: nothing to record.
    None,
    /// Units used in the code merchant's system.
    Use(i64),
    /// Units given back there: the uses this reverses, newest first, each with the units
    /// given back of it (its `ticket_trans_id`, a quantity) — every reversal names what it
    /// reverses, and no unit of a use is given back twice.
    Cancel(Vec<(String, i64)>),
}

/// Decides a sync: the ticket exists → the caller is the code merchant of its order → it is
/// not refunded → the shop, if named, is the merchant's → the reported quantity is possible.
///
/// Units given back reverse particular uses: the newest that still stand (not refunded, and
/// with units not yet given back), as many units of each as it has left, until the units are
/// accounted for. More than the standing uses hold is refused (`INVALID_PARAMETER`): a
/// refunded use, or a unit already given back, never comes back.
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
    let mut left = -diff;
    let mut reversed = Vec::new();
    for (used, remaining) in standing_uses(history) {
        if left == 0 {
            break;
        }
        let units = remaining.min(left);
        reversed.push((used.trans_id.clone(), units));
        left -= units;
    }
    if left > 0 {
        let ceiling = req.quantity - left;
        return Err(Refusal::InvalidParameter(format!(
            "quantity {} 超过可恢复的上限 {ceiling}（已售后退或已撤销的核销不能再恢复）",
            req.quantity
        )));
    }
    Ok(SyncChange::Cancel(reversed))
}

/// The uses that still stand — not refunded, with units not yet given back — newest first,
/// each with how many of its units are left to give back.
pub fn standing_uses(history: &[Trans]) -> Vec<(&Trans, i64)> {
    let mut uses: Vec<(&Trans, i64)> = history
        .iter()
        .filter(|t| t.kind == TransKind::Use)
        .filter_map(|u| {
            let against = || {
                history
                    .iter()
                    .filter(|t| t.reverses_trans_id.as_deref() == Some(&*u.trans_id))
            };
            if against().any(|t| t.kind == TransKind::Refund) {
                return None;
            }
            let given_back: i64 = against()
                .filter(|t| t.kind == TransKind::Cancel)
                .map(|t| t.quantity)
                .sum();
            (given_back < u.quantity).then_some((u, u.quantity - given_back))
        })
        .collect();
    // History is oldest first; among equal times the later row is the newer.
    uses.reverse();
    uses.sort_by_key(|u| std::cmp::Reverse(u.0.created_at));
    uses
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
