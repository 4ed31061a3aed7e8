//! Orders and tickets: issuing, showing, console uses and refunds.

use serde_json::{Map, Value, json};

use super::{AdminError, Result, check_id, invalid};
use crate::alipay::{Charset, SignType};
use crate::ids;
use crate::ledger::codes::SendOrder;
use crate::ledger::fields::Biz;
use crate::ledger::names::{AppId, MerchantPid};
use crate::ledger::use_::UseCall;
use crate::ledger::{Channel, CodeType, Ticket, query, refund};
use crate::notify::{Target, message};
use crate::operations::{Acting, CallContext, OpError, Service};
use crate::store::prelude::*;
use crate::store::{Effect, Plan, Store, StoreError, op};

const ONE_YEAR_MS: i64 = 365 * 86_400_000;

/// Most tickets one `order issue` makes: one transaction, bounded so that it cannot hold the
/// database for long (a million take seconds).
pub const MAX_TICKETS_PER_ORDER: usize = 1_000_000;

/// Issues an order of `count` tickets with fresh internal codes, or registers the merchant's
/// own `codes` (external) under `order_no`.
pub async fn issue_order(
    svc: &Service,
    item_id: &str,
    count: usize,
    order_no: Option<String>,
    external_codes: Option<Vec<String>>,
) -> Result<Value> {
    let (store, now) = (&svc.store, svc.now_ms());
    if let Some(codes) = &external_codes {
        if codes.is_empty() {
            return invalid("at least one --code is needed");
        }
        for code in codes {
            check_id("external code", code, 32)?;
        }
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        if unique.len() != codes.len() {
            return invalid("the same --code is given twice");
        }
    } else if !(1..=MAX_TICKETS_PER_ORDER).contains(&count) {
        return invalid(format!(
            "--tickets must be 1 to {MAX_TICKETS_PER_ORDER}, got {count}"
        ));
    }
    if let Some(no) = &order_no
        && (no.is_empty() || no.len() > 32 || !no.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return invalid(format!(
            "order number must be 1 to 32 letters and digits, got {no:?}"
        ));
    }
    let op = IssueOp {
        item_id: item_id.to_string(),
        order_no,
        external_codes,
        count,
        now,
        sandbox: svc.sandbox.clone(),
    };
    let issued = store.write(op).await?;
    // A code merchant's order may have queued its send notification.
    svc.notify_wake.notify_waiters();
    issued
}

/// Issuing an order on the ledger's path (on SQLite, the writer thread: a million tickets go
/// in through one prepared statement).
struct IssueOp {
    item_id: String,
    order_no: Option<String>,
    external_codes: Option<Vec<String>>,
    count: usize,
    /// Real time; the order is dated by its merchant's clock.
    now: i64,
    sandbox: std::sync::Arc<crate::sandbox::Sandbox>,
}

impl Operation for IssueOp {
    type Output = Result<Value>;

    async fn run<T: Tx>(&self, tx: &mut T) -> std::result::Result<Result<Value>, StoreError> {
        let now = self.now;
        let order_no = self.order_no.clone().unwrap_or_else(|| ids::dated(now, 18));
        let (item, order_item) = tx.issue_facts(&self.item_id, &order_no).await?;
        let Some(item) = item else {
            return Ok(Err(AdminError::NotFound(format!("item {}", self.item_id))));
        };
        let now = now + self.sandbox.offset(&item.merchant_pid);
        if let Some(app) = tx.code_merchant(&item.item_id).await? {
            if self.external_codes.is_some() {
                return Ok(Err(AdminError::Invalid(format!(
                    "item {} is fulfilled by the code merchant app {}: its codes come through \
                     koubei.trade.ticket.ticketcode.send",
                    item.item_id, app.app_id
                ))));
            }
            if order_item.is_some() {
                return Ok(Err(AdminError::Duplicate(format!("order {order_no}"))));
            }
            return Ok(Ok(self.awaiting_codes(tx, &item, &app, order_no).await?));
        }
        match order_item {
            Some(existing) if existing != item.item_id => {
                return Ok(Err(AdminError::Duplicate(format!(
                    "order {order_no} (for item {existing})"
                ))));
            }
            Some(_) if self.external_codes.is_none() => {
                return Ok(Err(AdminError::Duplicate(format!("order {order_no}"))));
            }
            Some(_) => {}
            None => {
                let mut plan = Plan::new(now);
                plan.push(Effect::Order {
                    order_no: order_no.clone(),
                    merchant_pid: item.merchant_pid.clone(),
                    item_id: item.item_id.clone(),
                });
                tx.apply(&plan).await?;
            }
        }
        let effect_at = item.valid_from.unwrap_or(crate::clock::whole_second(now));
        let expire_at = item.valid_to.unwrap_or(effect_at + ONE_YEAR_MS);
        let total = item.times.unwrap_or(1);
        let (code_type, wanted) = match &self.external_codes {
            Some(codes) => (CodeType::External, codes.clone()),
            None => (CodeType::Internal, vec![String::new(); self.count]),
        };
        let ticket = |code: String| Ticket {
            voucher_id: ids::dated(now, 10),
            code: if code_type == CodeType::Internal {
                ids::ticket_code()
            } else {
                code
            },
            code_type,
            order_no: order_no.clone(),
            merchant_pid: item.merchant_pid.clone(),
            item_id: item.item_id.clone(),
            total_quantity: total,
            available_quantity: total,
            refunded: false,
            effect_at,
            expire_at,
        };
        // Generated codes are drawn again until they differ within the batch: the store tells a
        // code that was taken by leaving it out, which cannot tell two equal new codes apart.
        let distinct = |mut batch: Vec<Ticket>, taken: &std::collections::HashSet<String>| {
            if code_type == CodeType::Internal {
                distinct_codes(&mut batch, taken, ids::ticket_code);
            }
            batch
        };
        let mut issued: Vec<String> = Vec::with_capacity(self.count);
        let mut pending = distinct(
            wanted.into_iter().map(ticket).collect(),
            &Default::default(),
        );
        for _ in 0..20 {
            let inserted = tx.insert_tickets(&pending, now).await?;
            let done: std::collections::HashSet<&String> = inserted.iter().collect();
            let missing: Vec<String> = pending
                .iter()
                .filter(|t| !done.contains(&t.code))
                .map(|t| t.code.clone())
                .collect();
            issued.extend(inserted.iter().cloned());
            if missing.is_empty() {
                if code_type == CodeType::Internal && issued.len() != self.count {
                    // Never answer an order short of what was asked.
                    return Err(StoreError::Conflict("tickets.code"));
                }
                return Ok(Ok(json!({"order_no": order_no, "tickets": issued})));
            }
            if code_type == CodeType::External {
                return Ok(Err(AdminError::Duplicate(format!(
                    "code {} in order {order_no}",
                    missing[0]
                ))));
            }
            // A generated code (or id) was taken: draw again for those.
            let issued_now: std::collections::HashSet<String> = issued.iter().cloned().collect();
            pending = distinct(missing.into_iter().map(ticket).collect(), &issued_now);
        }
        Err(StoreError::Conflict("tickets.code"))
    }
}

/// Draws new codes (with `draw`) until every ticket's code differs from the others' and from
/// `taken`.
fn distinct_codes(
    batch: &mut [Ticket],
    taken: &std::collections::HashSet<String>,
    mut draw: impl FnMut() -> String,
) {
    let mut seen = std::collections::HashSet::with_capacity(batch.len());
    for t in batch {
        while taken.contains(&t.code) || !seen.insert(t.code.clone()) {
            t.code = draw();
        }
    }
}

impl IssueOp {
    /// An order of a code merchant's item: no tickets yet, a send order awaiting the codes,
    /// and the send notification to the code merchant's app (when it has a notify address).
    async fn awaiting_codes<T: Tx>(
        &self,
        tx: &mut T,
        item: &crate::ledger::Item,
        app: &crate::store::AppRecord,
        order_no: String,
    ) -> std::result::Result<Value, StoreError> {
        let now = self.now + self.sandbox.offset(&item.merchant_pid);
        let send = SendOrder {
            send_order_no: ids::dated(now, 14),
            order_no: order_no.clone(),
            merchant_pid: item.merchant_pid.clone(),
            item_id: item.item_id.clone(),
            app_id: app.app_id.clone(),
            send_token: ids::hex(32),
            quantity: self.count as i64,
            sent: 0,
            refunded: 0,
            closed_at: None,
            close_reason: None,
            created_at: now,
        };
        let mut plan = Plan::new(now);
        plan.push(Effect::Order {
            order_no: order_no.clone(),
            merchant_pid: item.merchant_pid.clone(),
            item_id: item.item_id.clone(),
        })
        .push(Effect::SendOrder(send.clone()));
        let target = app.notify_url.as_ref().map(|url| Target {
            url: url.clone(),
            app_id: app.app_id.clone(),
            auth_app_id: None,
            merchant_pid: item.merchant_pid.clone(),
            charset: Charset::parse(&app.charset).unwrap_or(Charset::Utf8),
            sign_type: SignType::parse(&app.sign_type).unwrap_or(SignType::Rsa2),
        });
        if let Some(target) = &target {
            plan.push(Effect::Notify(message::send_row(
                ids::hex(32),
                target,
                &send,
                now,
            )));
        }
        tx.apply(&plan).await?;
        Ok(json!({
            "order_no": order_no,
            "send_order_no": send.send_order_no,
            "send_token": send.send_token,
            "code_merchant": app.app_id,
            "quantity": send.quantity.to_string(),
            "send_notify": target.map(|t| t.url),
            "tickets": [],
        }))
    }
}

fn code_type_of(order_no: &Option<String>) -> CodeType {
    if order_no.is_some() {
        CodeType::External
    } else {
        CodeType::Internal
    }
}

/// The ticket as the store has it, with its status and every transaction.
pub async fn ticket_show(svc: &Service, code: &str, order_no: Option<String>) -> Result<Value> {
    let (store, now) = (&svc.store, svc.now_ms());
    let code = code.to_string();
    let sandbox = svc.sandbox.clone();

    store
        .read(op!(|tx| [
            code: String = code,
            order_no: Option<String> = order_no,
            sandbox: std::sync::Arc<crate::sandbox::Sandbox> = sandbox,
            now: i64 = now,
        ] -> Result<Value> {
                let found = tx.ticket(code_type_of(&order_no), &code, order_no.as_deref());
                let Some(view) = found.await? else {
                    return Ok(Err(AdminError::NotFound(format!("ticket {code}"))));
                };
                let trans = tx.history(&view.ticket.voucher_id).await?;
                let now = now + sandbox.offset(&view.ticket.merchant_pid);
                let answer = query::answer(&view, None, &trans, now);
                let mut node = serde_json::to_value(answer).expect("a typed answer serialises");
                node["merchant_pid"] = view.ticket.merchant_pid.clone().into();
                node["code_type"] = view.ticket.code_type.name().into();
                node["refunded"] = view.ticket.refunded.into();
                // What each transaction reverses or follows (a cancel, a refund after use).
                for (line, tr) in node["ticket_trans_info_list"]
                    .as_array_mut()
                    .expect("a list")
                    .iter_mut()
                    .zip(&trans)
                {
                    if let Some(of) = &tr.reverses_trans_id {
                        line["reverses_trans_id"] = of.clone().into();
                    }
                }
                Ok(Ok(node))
        }))
        .await?
}

/// The merchant that owns a ticket (console actions act as it).
async fn owner(store: &Store, code: &str, order_no: &Option<String>) -> Result<String> {
    let (code, order_no) = (code.to_string(), order_no.clone());
    let owner = store
        .read(
            op!(|tx| [code: String = code, order_no: Option<String> = order_no] -> Option<String> {
                let view = tx.ticket(code_type_of(&order_no), &code, order_no.as_deref());
                Ok(view.await?.map(|v| v.ticket.merchant_pid))
            }),
        )
        .await?;
    owner.ok_or_else(|| AdminError::NotFound("ticket".into()))
}

/// A use through the merchant console: the same rules, another channel.
pub async fn ticket_use(
    svc: &Service,
    code: &str,
    order_no: Option<String>,
    shop_id: &str,
    quantity: Option<i64>,
    request_id: Option<String>,
) -> Result<Value> {
    let merchant_pid = owner(&svc.store, code, &order_no).await?;
    let request_id = request_id.unwrap_or_else(|| ids::dated(svc.now_ms(), 10));
    let mut biz = Map::new();
    biz.insert("request_id".into(), request_id.clone().into());
    biz.insert("ticket_code".into(), code.into());
    biz.insert("shop_id".into(), shop_id.into());
    biz.insert("code_type".into(), code_type_of(&order_no).name().into());
    if let Some(no) = &order_no {
        biz.insert("order_no".into(), no.clone().into());
    }
    // One unit unless told: a times card's use names its quantity, and the console's too.
    biz.insert("quantity".into(), quantity.unwrap_or(1).to_string().into());
    let biz = Biz::parse(&Value::Object(biz).to_string()).expect("a JSON object we built");
    let call = UseCall::read(&biz).map_err(OpError::from)?;
    let ctx = CallContext {
        who: Acting {
            app_id: AppId::trusted(""),
            merchant_pid: MerchantPid::trusted(merchant_pid),
            via_token: false,
        },
        channel: Channel::MerchantConsole,
        notify: None,
    };
    let answer = crate::operations::use_::run(svc, &ctx, call).await?;
    let mut node = serde_json::to_value(answer).expect("a typed answer serialises");
    node["channel"] = Channel::MerchantConsole.name().into();
    Ok(node)
}

/// Refunds a ticket: a REFUND transaction takes what remains, and the ticket is `REFUNDED`.
pub async fn ticket_refund(svc: &Service, code: &str, order_no: Option<String>) -> Result<Value> {
    let (store, now) = (&svc.store, svc.now_ms());
    let code = code.to_string();
    let sandbox = svc.sandbox.clone();

    store
        .write(op!(|tx| [
            code: String = code,
            order_no: Option<String> = order_no,
            sandbox: std::sync::Arc<crate::sandbox::Sandbox> = sandbox,
            now: i64 = now,
        ] -> Result<Value> {
            let found = tx.locked_ticket(code_type_of(&order_no), &code, order_no.as_deref());
            let Some(view) = found.await? else {
                return Ok(Err(AdminError::NotFound(format!("ticket {code}"))));
            };
            let t = view.ticket;
            let now = now + sandbox.offset(&t.merchant_pid);
            let trans_id = ids::dated(now, 10);
            let Some(refund) = refund::refund_remaining(&t, trans_id, now) else {
                return Ok(Err(AdminError::Duplicate(format!("refund of ticket {code}"))));
            };
            let answer = json!({
                "ticket_code": t.code,
                "ticket_status": "REFUNDED",
                "ticket_trans_id": refund.trans_id,
                "refunded_quantity": refund.quantity.to_string(),
            });
            let mut plan = Plan::new(now);
            plan.push(Effect::Trans(refund));
            plan.push(Effect::Refunded { voucher_id: t.voucher_id });
            tx.apply(&plan).await?;
            Ok(Ok(answer))
        }))
        .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_codes_in_one_batch_are_drawn_again() {
        let ticket = |code: &str| Ticket {
            voucher_id: "v".into(),
            code: code.into(),
            code_type: CodeType::Internal,
            order_no: "o".into(),
            merchant_pid: "2088000000000001".into(),
            item_id: "i".into(),
            total_quantity: 1,
            available_quantity: 1,
            refunded: false,
            effect_at: 0,
            expire_at: 1,
        };
        let mut batch = vec![ticket("1"), ticket("1"), ticket("2"), ticket("1")];
        let taken: std::collections::HashSet<String> = ["2".to_string()].into();
        let mut next = ["1", "3", "2", "4", "5"].into_iter().map(str::to_string);
        distinct_codes(&mut batch, &taken, || next.next().unwrap());
        let codes: Vec<&str> = batch.iter().map(|t| t.code.as_str()).collect();
        assert_eq!(codes, ["1", "3", "4", "5"]);
    }
}
