//! A use (核销): replay check, decision, and its use order, transactions and ticket updates in
//! one transaction. A use refused for a business reason is recorded as a closed use order.

use serde_json::{Map, Value, json};

use super::{Acting, OpError, Service};
use crate::ids;
use crate::ledger::fields::Biz;
use crate::ledger::use_::{self, UseRequest};
use crate::ledger::{Channel, Refusal, ShopFacts, Trans, TransKind, UseOrder};
use crate::notify::{Target, message};
use crate::store::{Conn, StoreError};

/// Everything a use transaction needs, owned so that it can be retried.
#[derive(Clone)]
struct Input {
    merchant_pid: String,
    request_id: String,
    fingerprint: String,
    raw_code: String,
    raw_code_type: String,
    raw_order_no: Option<String>,
    parsed: Result<UseRequest, Refusal>,
    channel: Channel,
    notify: Option<Target>,
    now: i64,
}

/// Uses a ticket for `who` through `channel`; answers the use's fields, or the refusal.
/// A successful use queues a notification to `notify` in the same transaction.
pub async fn run(
    app: &Service,
    who: &Acting,
    biz: &Biz,
    channel: Channel,
    notify: Option<&Target>,
) -> Result<Map<String, Value>, OpError> {
    let request_id = use_::request_id(biz)?;
    let input = Input {
        merchant_pid: who.merchant_pid.clone(),
        fingerprint: use_::fingerprint(biz),
        raw_code: biz.raw("ticket_code"),
        raw_code_type: {
            let t = biz.raw("code_type");
            if t.is_empty() {
                "INTERNAL_CODE".into()
            } else {
                t
            }
        },
        raw_order_no: Some(biz.raw("order_no")).filter(|s| !s.is_empty()),
        parsed: use_::parse(biz, request_id.clone()),
        request_id,
        channel,
        notify: notify.cloned(),
        now: app.now_ms(),
    };
    let outcome = app
        .store
        .write(move |c| {
            let input = input.clone();
            Box::pin(async move { apply(c, &input).await })
        })
        .await?;
    Ok(outcome?)
}

async fn apply(
    c: &mut Conn<'_>,
    input: &Input,
) -> Result<Result<Map<String, Value>, Refusal>, StoreError> {
    // Lock the ticket before looking at the request id, so that two nodes racing with the
    // same request see each other's result rather than both passing the replay check.
    let named = match &input.parsed {
        Ok(req) => {
            c.ticket(
                req.code_type,
                &req.ticket_code,
                req.order_no.as_deref(),
                true,
            )
            .await?
        }
        Err(_) => None,
    };
    if let Some(order) = c.use_order(&input.merchant_pid, &input.request_id).await? {
        return Ok(replay(&order, &input.fingerprint));
    }
    let decided = match &input.parsed {
        Err(refusal) => Err(refusal.clone()),
        Ok(req) => {
            let name = c.shop_name(&input.merchant_pid, &req.shop_id).await?;
            let shop = ShopFacts {
                shop_id: req.shop_id.clone(),
                known: name.is_some(),
                name,
            };
            let siblings = match &named {
                Some(v) if !v.is_times_card() && req.quantity.unwrap_or(1) > 1 => {
                    c.siblings(
                        &v.ticket.order_no,
                        &v.ticket.item_id,
                        &v.ticket.voucher_id,
                        true,
                    )
                    .await?
                }
                _ => Vec::new(),
            };
            use_::decide(
                &input.merchant_pid,
                req,
                named.as_ref(),
                &shop,
                &siblings,
                input.now,
            )
            .map(|plan| (req, shop, plan))
        }
    };
    let use_order_id = ids::hex(24);
    let (req, shop, plan) = match decided {
        Ok(d) => d,
        Err(refusal) => {
            if refusal.closes_use_order() {
                let order = UseOrder {
                    use_order_id,
                    merchant_pid: input.merchant_pid.clone(),
                    request_id: input.request_id.clone(),
                    channel: input.channel,
                    closed: true,
                    fingerprint: input.fingerprint.clone(),
                    ticket_code: input.raw_code.clone(),
                    code_type: input.raw_code_type.clone(),
                    order_no: input.raw_order_no.clone(),
                    voucher_id: named.map(|v| v.ticket.voucher_id),
                    quantity: input
                        .parsed
                        .as_ref()
                        .ok()
                        .and_then(|r| r.quantity)
                        .unwrap_or(0),
                    answer: json!({"sub_code": refusal.sub_code(), "sub_msg": refusal.sub_msg()})
                        .to_string(),
                    created_at: input.now,
                };
                c.insert_use_order(&order).await?;
            }
            return Ok(Err(refusal));
        }
    };
    let view = named.expect("a decided use has its ticket");
    let trans_ids: Vec<String> = plan
        .units
        .iter()
        .map(|_| ids::dated(input.now, 10))
        .collect();
    let answer = use_::answer(&view, req, &plan, &trans_ids, &shop, input.now);
    c.insert_use_order(&UseOrder {
        use_order_id: use_order_id.clone(),
        merchant_pid: input.merchant_pid.clone(),
        request_id: input.request_id.clone(),
        channel: input.channel,
        closed: false,
        fingerprint: input.fingerprint.clone(),
        ticket_code: req.ticket_code.clone(),
        code_type: req.code_type.name().into(),
        order_no: req.order_no.clone(),
        voucher_id: Some(view.ticket.voucher_id.clone()),
        quantity: plan.quantity,
        answer: Value::Object(answer.clone()).to_string(),
        created_at: input.now,
    })
    .await?;
    for (unit, trans_id) in plan.units.iter().zip(&trans_ids) {
        c.insert_trans(&Trans {
            trans_id: trans_id.clone(),
            voucher_id: unit.voucher_id.clone(),
            kind: TransKind::Use,
            quantity: unit.quantity,
            use_order_id: Some(use_order_id.clone()),
            reverses_trans_id: None,
            created_at: input.now,
        })
        .await?;
        c.add_available(&unit.voucher_id, -unit.quantity, input.now)
            .await?;
    }
    if let Some(target) = &input.notify {
        let event = message::Event {
            biz_type: message::TICKET_USE,
            request_id: &input.request_id,
            ticket_code: &req.ticket_code,
            order_no: &view.ticket.order_no,
            quantity: plan.quantity,
            ticket_trans_id: &trans_ids[0],
        };
        c.insert_notification(&message::row(ids::hex(32), target, &event, input.now))
            .await?;
    }
    Ok(Ok(answer))
}

/// A request id seen before: the original answer (or refusal) again, or a conflict.
fn replay(order: &UseOrder, fingerprint: &str) -> Result<Map<String, Value>, Refusal> {
    if order.fingerprint != fingerprint {
        return Err(Refusal::RequestIdRepeat);
    }
    if order.closed {
        let recorded: Value =
            serde_json::from_str(&order.answer).expect("closed answers are JSON we wrote");
        return Err(Refusal::Recorded {
            sub_code: recorded["sub_code"]
                .as_str()
                .unwrap_or("SYSTEM_ERROR")
                .to_string(),
            sub_msg: recorded["sub_msg"].as_str().unwrap_or_default().to_string(),
        });
    }
    Ok(use_::replayed(&order.answer))
}
