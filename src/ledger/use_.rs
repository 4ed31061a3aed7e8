//! `koubei.trade.ticket.ticketcode.use`: reading the request and deciding a use.

use serde_json::{Map, Value, json};

use super::fields::{self, Biz};
use super::{CodeType, Refusal, ShopFacts, Ticket, TicketStatus, TicketView};
use crate::alipay::money::Cents;
use crate::alipay::time;

pub const METHOD: &str = "koubei.trade.ticket.ticketcode.use";

/// A well-formed use request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseRequest {
    pub request_id: String,
    pub ticket_code: String,
    pub shop_id: String,
    pub shop_type: String,
    pub code_type: CodeType,
    pub order_no: Option<String>,
    pub quantity: Option<i64>,
    pub gmt_biz: Option<String>,
    pub ext: Option<String>,
}

/// The first check: a use's `request_id` (required, at most 32 letters and digits).
pub fn request_id(biz: &Biz) -> Result<String, Refusal> {
    let id = biz.required("request_id", 32)?;
    fields::alphanumeric("request_id", &id)?;
    Ok(id)
}

/// What must match for a repeated `request_id` to be a replay: the raw fields, defaults applied.
pub fn fingerprint(biz: &Biz) -> String {
    let or = |key: &str, default: &str| {
        let raw = biz.raw(key);
        if raw.is_empty() {
            default.to_string()
        } else {
            raw
        }
    };
    json!([
        biz.raw("ticket_code"),
        biz.raw("shop_id"),
        or("shop_type", "INTERNAL_SHOP"),
        or("code_type", "INTERNAL_CODE"),
        biz.raw("order_no"),
        biz.raw("quantity"),
    ])
    .to_string()
}

/// The remaining fields, once the request id is known to be fresh.
pub fn parse(biz: &Biz, request_id: String) -> Result<UseRequest, Refusal> {
    let ticket_code = biz.required("ticket_code", 32)?;
    let shop_id = biz.required("shop_id", 64)?;
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
    merchant_pid: &str,
    req: &UseRequest,
    named: Option<&TicketView>,
    shop: &ShopFacts,
    siblings: &[Ticket],
    now: i64,
) -> Result<UsePlan, Refusal> {
    let view = named.ok_or(Refusal::TicketNotExist)?;
    let t = &view.ticket;
    if t.merchant_pid != merchant_pid {
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
        let usable = siblings.iter().filter(|s| {
            s.voucher_id != t.voucher_id
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

fn amounts_into(node: &mut Map<String, Value>, pay: Cents, discount: Cents) {
    node.insert("buyer_pay_amount".into(), pay.yuan().into());
    node.insert("receipt_amount".into(), pay.yuan().into());
    node.insert("discount_amount".into(), discount.yuan().into());
    node.insert("koubei_subsidy_amount".into(), Cents(0).yuan().into());
    node.insert("invoice_amount".into(), pay.yuan().into());
}

/// The success answer's fields. `trans_ids[i]` is the use transaction of `plan.units[i]`.
pub fn answer(
    view: &TicketView,
    req: &UseRequest,
    plan: &UsePlan,
    trans_ids: &[String],
    shop: &ShopFacts,
    now: i64,
) -> Map<String, Value> {
    let t = &view.ticket;
    let item = &view.item;
    let mut details = Vec::new();
    let (mut total_pay, mut total_discount) = (Cents(0), Cents(0));
    for (unit, trans_id) in plan.units.iter().zip(trans_ids) {
        let (pay, discount) = unit_amounts(view, unit);
        total_pay.0 += pay.0;
        total_discount.0 += discount.0;
        let mut d = Map::new();
        d.insert("ticket_code".into(), unit.code.clone().into());
        d.insert("ticket_trans_id".into(), trans_id.clone().into());
        amounts_into(&mut d, pay, discount);
        details.push(Value::Object(d));
    }
    let mut node = Map::new();
    node.insert("request_id".into(), req.request_id.clone().into());
    node.insert("ticket_code".into(), req.ticket_code.clone().into());
    node.insert("ticket_trans_id".into(), trans_ids[0].clone().into());
    node.insert("order_no".into(), t.order_no.clone().into());
    node.insert("voucher_id".into(), t.voucher_id.clone().into());
    item.fields_into(&mut node);
    amounts_into(&mut node, total_pay, total_discount);
    node.insert("use_date".into(), time::format(now).into());
    node.insert("use_shop_id".into(), shop.shop_id.clone().into());
    if let Some(name) = &shop.name {
        node.insert("use_shop_name".into(), name.clone().into());
    }
    node.insert("ticket_use_details".into(), Value::Array(details));
    node
}

/// A recorded answer replayed: the same fields with `biz_code=BIZ_ALREADY_SUCCESS` after
/// `request_id`.
pub fn replayed(answer: &str) -> Map<String, Value> {
    let Ok(Value::Object(stored)) = serde_json::from_str::<Value>(answer) else {
        panic!("a stored answer is a JSON object written by `answer`");
    };
    let mut node = Map::new();
    for (key, value) in stored {
        let after_request_id = key == "request_id";
        node.insert(key, value);
        if after_request_id {
            node.insert("biz_code".into(), "BIZ_ALREADY_SUCCESS".into());
        }
    }
    node
}
