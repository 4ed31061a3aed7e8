//! A use (核销): replay check, decision, and its use order, transactions, ticket updates,
//! idempotency record and notification in one transaction. A use refused for a business
//! reason is recorded as a closed use order whose refusal a retry gets again.

use super::method::Method;
use super::{CallContext, OpError, Service, settle};
use crate::ids;
use crate::ledger::fields::Biz;
use crate::ledger::idempotency::{Key, Record};
use crate::ledger::use_::{self, UseAnswer, UseCall, UseFacts, UsePlan, UseRequest};
use crate::ledger::{Channel, CodeType, Refusal, Trans, TransKind, UseOrder};
use crate::notify::{Target, message};
use crate::store::prelude::*;
use crate::store::{Effect, Plan, StoreError};

/// `koubei.trade.ticket.ticketcode.use`.
pub struct Use;

impl Method for Use {
    const NAME: &'static str = use_::METHOD;
    const WRITES: bool = true;
    type Request = UseCall;
    type Answer = UseAnswer;

    fn parse(biz: &Biz) -> Result<UseCall, Refusal> {
        UseCall::read(biz)
    }

    async fn run(svc: &Service, ctx: &CallContext, call: UseCall) -> Result<UseAnswer, OpError> {
        run(svc, ctx, call).await
    }
}

/// Uses a ticket for `ctx.who` through `ctx.channel`. A successful use queues a notification
/// to `ctx.notify` in the same transaction.
pub async fn run(svc: &Service, ctx: &CallContext, call: UseCall) -> Result<UseAnswer, OpError> {
    let op = UseOp {
        key: Key {
            merchant_pid: ctx.who.merchant_pid.clone(),
            method: use_::METHOD,
            request_id: call.request_id.clone(),
        },
        fingerprint: call.identity.fingerprint(),
        call,
        channel: ctx.channel,
        notify: ctx.notify.clone(),
        now: svc.now_for(ctx.who.merchant_pid.as_str()),
    };
    settle(svc.store.write(op).await)
}

struct UseOp {
    key: Key,
    fingerprint: String,
    call: UseCall,
    channel: Channel,
    notify: Option<Target>,
    now: i64,
}

impl Operation for UseOp {
    type Output = Result<UseAnswer, Refusal>;

    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Self::Output, StoreError> {
        let facts = tx
            .use_facts(&self.key, self.call.request.as_ref().ok())
            .await?;
        if let Some(record) = &facts.recorded {
            return Ok(use_::replay(record, &self.call));
        }
        let decided = self
            .call
            .request
            .as_ref()
            .map_err(Refusal::clone)
            .and_then(|req| {
                let shop = facts
                    .shop
                    .as_ref()
                    .expect("a well-formed use loads its shop");
                let ticket = facts.ticket.as_ref();
                use_::decide(
                    &self.key.merchant_pid,
                    req,
                    ticket,
                    shop,
                    &facts.siblings,
                    self.now,
                )
                .map(|plan| (req, plan))
            });
        match decided {
            Ok((req, plan)) => {
                let (answer, plan) = self.used(req, &plan, &facts);
                tx.apply(&plan).await?;
                Ok(Ok(answer))
            }
            Err(refusal) => {
                if refusal.closes_use_order() {
                    tx.apply(&self.closed(&refusal, &facts)).await?;
                }
                Ok(Err(refusal))
            }
        }
    }
}

impl UseOp {
    fn use_order(&self, closed: bool, voucher_id: Option<String>, quantity: i64) -> UseOrder {
        let identity = &self.call.identity;
        UseOrder {
            use_order_id: ids::hex(24),
            merchant_pid: self.key.merchant_pid.to_string(),
            request_id: self.key.request_id.to_string(),
            channel: self.channel,
            closed,
            ticket_code: identity.ticket_code.clone(),
            code_type: CodeType::parse(Some(&identity.code_type)),
            order_no: Some(identity.order_no.clone()).filter(|s| !s.is_empty()),
            voucher_id,
            quantity,
            created_at: self.now,
        }
    }

    /// A refused use: a closed use order and the refusal, answered again on a retry.
    fn closed(&self, refusal: &Refusal, facts: &UseFacts) -> Plan {
        let quantity = self.call.request.as_ref().ok().and_then(|r| r.quantity);
        let voucher_id = facts.ticket.as_ref().map(|v| v.ticket.voucher_id.clone());
        let mut plan = Plan::new(self.now);
        plan.push(Effect::UseOrder(self.use_order(
            true,
            voucher_id,
            quantity.unwrap_or(0),
        )))
        .push(Effect::Record(
            self.key.clone(),
            Record::refused(self.fingerprint.clone(), refusal),
        ));
        plan
    }

    /// A decided use: its answer, and what to write.
    fn used(&self, req: &UseRequest, decided: &UsePlan, facts: &UseFacts) -> (UseAnswer, Plan) {
        let view = facts.ticket.as_ref().expect("a decided use has its ticket");
        let shop = facts.shop.as_ref().expect("a decided use has its shop");
        let trans_ids: Vec<String> = decided
            .units
            .iter()
            .map(|_| ids::dated(self.now, 10))
            .collect();
        let answer = use_::answer(view, req, decided, &trans_ids, shop, self.now);
        let mut order = self.use_order(
            false,
            Some(view.ticket.voucher_id.clone()),
            decided.quantity,
        );
        order.ticket_code = req.ticket_code.to_string();
        order.code_type = Some(req.code_type);
        order.order_no = req.order_no.as_ref().map(ToString::to_string);
        let use_order_id = order.use_order_id.clone();
        let mut plan = Plan::new(self.now);
        plan.push(Effect::UseOrder(order));
        for (unit, trans_id) in decided.units.iter().zip(&trans_ids) {
            plan.push(Effect::Trans(Trans {
                trans_id: trans_id.clone(),
                voucher_id: unit.voucher_id.clone(),
                kind: TransKind::Use,
                quantity: unit.quantity,
                use_order_id: Some(use_order_id.clone()),
                reverses_trans_id: None,
                expire_change: None,
                created_at: self.now,
            }))
            .push(Effect::Available {
                voucher_id: unit.voucher_id.clone(),
                delta: -unit.quantity,
            });
        }
        plan.push(Effect::Record(
            self.key.clone(),
            Record::answered(self.fingerprint.clone(), &answer),
        ));
        if let Some(target) = &self.notify {
            let event = message::Event {
                biz_type: message::TICKET_USE,
                request_id: self.key.request_id.as_str(),
                ticket_code: req.ticket_code.as_str(),
                order_no: &view.ticket.order_no,
                quantity: decided.quantity,
                ticket_trans_id: &trans_ids[0],
            };
            plan.push(Effect::Notify(message::row(
                ids::hex(32),
                target,
                &event,
                self.now,
            )));
        }
        (answer, plan)
    }
}
