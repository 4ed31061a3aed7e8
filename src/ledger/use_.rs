//! `koubei.trade.ticket.ticketcode.use`: reading the request and deciding a use.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::fields::{self, Biz};
use super::idempotency::{self, BIZ_ALREADY_SUCCESS, Record, Replayable};
use super::names::{MerchantPid, OrderNo, RequestId, ShopId, TicketCode};
use super::{CodeType, ItemFields, Refusal, ShopFacts, Ticket, TicketStatus, TicketView};
use crate::alipay::money::Cents;
use crate::alipay::time;

pub const METHOD: &str = "koubei.trade.ticket.ticketcode.use";

/// A use call whose `request_id` is well-formed. Once it is, a business refusal is recorded
/// under it (a closed use order), so the call carries the raw identifying fields as well as
/// the parsed request, which may itself be a refusal (`INVALID_PARAMETER`).
#[derive(Debug, Clone)]
pub struct UseCall {
    pub request_id: RequestId,
    pub identity: UseIdentity,
    pub request: Result<UseRequest, Refusal>,
}

/// The fields that must match for a repeated `request_id` to be a replay, as sent (defaults
/// applied): the canonical form of a use, even one whose fields are malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseIdentity {
    pub ticket_code: String,
    pub shop_id: String,
    pub shop_type: String,
    pub code_type: String,
    pub order_no: String,
    pub quantity: String,
}

impl UseIdentity {
    pub fn read(biz: &Biz) -> UseIdentity {
        let or = |key: &str, default: &str| {
            let raw = biz.raw(key);
            if raw.is_empty() {
                default.to_string()
            } else {
                raw
            }
        };
        UseIdentity {
            ticket_code: biz.raw("ticket_code"),
            shop_id: biz.raw("shop_id"),
            shop_type: or("shop_type", "INTERNAL_SHOP"),
            code_type: or("code_type", "INTERNAL_CODE"),
            order_no: biz.raw("order_no"),
            quantity: biz.raw("quantity"),
        }
    }

    /// The fingerprint stored in the idempotency record.
    pub fn fingerprint(&self) -> String {
        json!([
            self.ticket_code,
            self.shop_id,
            self.shop_type,
            self.code_type,
            self.order_no,
            self.quantity,
        ])
        .to_string()
    }
}

impl UseCall {
    /// Reads a use call: a malformed `request_id` is refused and recorded nowhere.
    pub fn read(biz: &Biz) -> Result<UseCall, Refusal> {
        let request_id = request_id(biz)?;
        Ok(UseCall {
            identity: UseIdentity::read(biz),
            request: parse(biz, request_id.clone()),
            request_id,
        })
    }
}

/// A well-formed use request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseRequest {
    pub request_id: RequestId,
    pub ticket_code: TicketCode,
    pub shop_id: ShopId,
    pub shop_type: String,
    pub code_type: CodeType,
    pub order_no: Option<OrderNo>,
    pub quantity: Option<i64>,
    pub gmt_biz: Option<String>,
    pub ext: Option<String>,
}

/// The first check: a use's `request_id` (required, at most 32 letters and digits).
pub fn request_id(biz: &Biz) -> Result<RequestId, Refusal> {
    let id = biz.required("request_id", 32)?;
    RequestId::parse_alphanumeric("request_id", id)
}

/// The remaining fields, once the request id is known to be well-formed.
pub fn parse(biz: &Biz, request_id: RequestId) -> Result<UseRequest, Refusal> {
    let ticket_code = TicketCode::parse("ticket_code", biz.required("ticket_code", 32)?)?;
    let shop_id = ShopId::parse("shop_id", biz.required("shop_id", 64)?)?;
    let shop_type = biz
        .optional("shop_type", 16)?
        .unwrap_or_else(|| "INTERNAL_SHOP".into());
    if shop_type != "INTERNAL_SHOP" && shop_type != "EXTERNAL_SHOP" {
        return Err(Refusal::InvalidParameter(format!(
            "shop_type 只能是 INTERNAL_SHOP 或 EXTERNAL_SHOP，收到 {shop_type}"
        )));
    }
    let (code_type, order_no) = fields::code_type_and_order(biz, "核销")?;
    let quantity = fields::quantity(biz)?;
    let gmt_biz = biz.optional("gmt_biz", 19)?;
    if let Some(g) = &gmt_biz
        && time::parse(g).is_none()
    {
        return Err(Refusal::InvalidParameter(format!(
            "gmt_biz 格式应为 yyyy-MM-dd HH:mm:ss，收到 {g}"
        )));
    }
    let ext = biz.optional("ext", 1024)?;
    Ok(UseRequest {
        request_id,
        ticket_code,
        shop_id,
        shop_type,
        code_type,
        order_no,
        quantity,
        gmt_biz,
        ext,
    })
}

/// What the store loaded for a use, in one call: the idempotency record of its request id,
/// the named ticket (locked), the shop, and the sibling tickets a multi-ticket use needs.
#[derive(Debug, Clone, Default)]
pub struct UseFacts {
    pub recorded: Option<Record>,
    pub ticket: Option<TicketView>,
    pub shop: Option<ShopFacts>,
    pub siblings: Vec<Ticket>,
}

/// One ticket's part in a use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub voucher_id: String,
    pub code: String,
    pub quantity: i64,
}

/// What a use will do: the named ticket first, then any siblings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsePlan {
    pub quantity: i64,
    pub units: Vec<Unit>,
}

/// Decides a use, checks in the published order: ticket exists → merchant → state →
/// quantity → validity window → shop → enough sibling tickets.
/// `siblings` are the other tickets of the same order and item, in code order.
pub fn decide(
    merchant_pid: &MerchantPid,
    req: &UseRequest,
    named: Option<&TicketView>,
    shop: &ShopFacts,
    siblings: &[Ticket],
    now: i64,
) -> Result<UsePlan, Refusal> {
    let view = named.ok_or(Refusal::TicketNotExist)?;
    let t = &view.ticket;
    if t.merchant_pid != merchant_pid.as_str() {
        return Err(Refusal::NotSameMerchantPid);
    }
    if let s @ (TicketStatus::Refunded | TicketStatus::Used) = view.status(None, now) {
        return Err(Refusal::TicketStatusIllegal(s));
    }
    let quantity = if view.is_times_card() {
        let q = req
            .quantity
            .ok_or_else(|| Refusal::InvalidParameter("次卡核销时 quantity 不能为空".into()))?;
        if q > t.available_quantity {
            return Err(Refusal::QuantityNotEnough(format!(
                "请求 {q} 份，剩余 {} 份",
                t.available_quantity
            )));
        }
        q
    } else {
        req.quantity.unwrap_or(1)
    };
    if now < t.effect_at || now > t.expire_at {
        return Err(Refusal::TicketNotEffective);
    }
    if !shop.known {
        return Err(Refusal::ShopNotMatch(format!(
            "门店 {} 不属于该商家",
            shop.shop_id
        )));
    }
    if !view.item.usable_at(&shop.shop_id) {
        return Err(Refusal::ShopNotMatch(format!(
            "商品 {} 不适用于门店 {}",
            view.item.item_id, shop.shop_id
        )));
    }
    let mut units = vec![Unit {
        voucher_id: t.voucher_id.clone(),
        code: t.code.clone(),
        quantity: if view.is_times_card() { quantity } else { 1 },
    }];
    if !view.is_times_card() && quantity > 1 {
        // Other tickets like this one: a code merchant's order may mix normal codes with
        // times cards of the same item (`num` > 1), and a card is never a normal ticket's unit.
        let usable = siblings.iter().filter(|s| {
            s.voucher_id != t.voucher_id
                && s.total_quantity == 1
                && s.order_no == t.order_no
                && s.item_id == t.item_id
                && !s.refunded
                && s.available_quantity > 0
                && s.effect_at <= now
                && now <= s.expire_at
        });
        units.extend(usable.take((quantity - 1) as usize).map(|s| Unit {
            voucher_id: s.voucher_id.clone(),
            code: s.code.clone(),
            quantity: 1,
        }));
        if (units.len() as i64) < quantity {
            return Err(Refusal::QuantityNotEnough(format!(
                "请求 {quantity} 张，同一订单可用 {} 张",
                units.len()
            )));
        }
    }
    Ok(UsePlan { quantity, units })
}

/// The five amounts of one unit, or of a whole use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amounts {
    pub buyer_pay_amount: String,
    pub receipt_amount: String,
    pub discount_amount: String,
    pub koubei_subsidy_amount: String,
    pub invoice_amount: String,
}

impl Amounts {
    fn new(pay: Cents, discount: Cents) -> Amounts {
        Amounts {
            buyer_pay_amount: pay.yuan(),
            receipt_amount: pay.yuan(),
            discount_amount: discount.yuan(),
            koubei_subsidy_amount: Cents(0).yuan(),
            invoice_amount: pay.yuan(),
        }
    }
}

/// One ticket's line in `ticket_use_details`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UseDetail {
    pub ticket_code: String,
    pub ticket_trans_id: String,
    #[serde(flatten)]
    pub amounts: Amounts,
}

/// The answer to a use, fields in the order the spec lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UseAnswer {
    pub request_id: RequestId,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub biz_code: Option<String>,
    pub ticket_code: TicketCode,
    pub ticket_trans_id: String,
    pub order_no: String,
    pub voucher_id: String,
    #[serde(flatten)]
    pub item: ItemFields,
    #[serde(flatten)]
    pub amounts: Amounts,
    pub use_date: String,
    pub use_shop_id: ShopId,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub use_shop_name: Option<String>,
    pub ticket_use_details: Vec<UseDetail>,
}

impl Replayable for UseAnswer {
    fn mark_replayed(&mut self) {
        self.biz_code = Some(BIZ_ALREADY_SUCCESS.into());
    }
}

/// The five amounts of one unit: a normal ticket's prices, or a times card's share.
fn unit_amounts(view: &TicketView, unit: &Unit) -> (Cents, Cents) {
    let item = &view.item;
    let times = item.times.unwrap_or(1).max(1);
    let share = if item.times.is_some() {
        unit.quantity
    } else {
        1
    };
    let pay = Cents(item.price.0 * share / times);
    let discount = Cents((item.original_price.0 - item.price.0).max(0) * share / times);
    (pay, discount)
}

/// The success answer. `trans_ids[i]` is the use transaction of `plan.units[i]`.
pub fn answer(
    view: &TicketView,
    req: &UseRequest,
    plan: &UsePlan,
    trans_ids: &[String],
    shop: &ShopFacts,
    now: i64,
) -> UseAnswer {
    let t = &view.ticket;
    let item = &view.item;
    let mut details = Vec::with_capacity(plan.units.len());
    let (mut total_pay, mut total_discount) = (Cents(0), Cents(0));
    for (unit, trans_id) in plan.units.iter().zip(trans_ids) {
        let (pay, discount) = unit_amounts(view, unit);
        total_pay.0 += pay.0;
        total_discount.0 += discount.0;
        details.push(UseDetail {
            ticket_code: unit.code.clone(),
            ticket_trans_id: trans_id.clone(),
            amounts: Amounts::new(pay, discount),
        });
    }
    UseAnswer {
        request_id: req.request_id.clone(),
        biz_code: None,
        ticket_code: req.ticket_code.clone(),
        ticket_trans_id: trans_ids[0].clone(),
        order_no: t.order_no.clone(),
        voucher_id: t.voucher_id.clone(),
        item: item.answer_fields(),
        amounts: Amounts::new(total_pay, total_discount),
        use_date: time::format(now),
        use_shop_id: req.shop_id.clone(),
        use_shop_name: shop.name.clone(),
        ticket_use_details: details,
    }
}

/// A request id seen before: the original answer (or recorded refusal), or a conflict.
pub fn replay(record: &Record, call: &UseCall) -> Result<UseAnswer, Refusal> {
    idempotency::replay(record, &call.identity.fingerprint())
}
