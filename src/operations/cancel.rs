//! A cancel (撤销核销, the seed): replay check, decision, and the reversing transactions,
//! cancel record, idempotency record and notification in one transaction. A refused cancel
//! records nothing.

use super::method::Method;
use super::{CallContext, OpError, Service, settle};
use crate::ids;
use crate::ledger::cancel::{self, CancelAnswer, CancelPlan, CancelRequest};
use crate::ledger::fields::Biz;
use crate::ledger::idempotency::{Key, Record};
use crate::ledger::{CancelRecord, Refusal, TicketView, Trans, TransKind};
use crate::notify::{Target, message};
use crate::store::prelude::*;
use crate::store::{Effect, Plan, StoreError};

/// `koubei.trade.ticket.ticketcode.cancel`.
pub struct Cancel;

impl Method for Cancel {
    const NAME: &'static str = cancel::METHOD;
    const WRITES: bool = true;
    type Request = CancelRequest;
    type Answer = CancelAnswer;

    fn parse(biz: &Biz) -> Result<CancelRequest, Refusal> {
        cancel::parse(biz)
    }

    async fn run(
        svc: &Service,
        ctx: &CallContext,
        req: CancelRequest,
    ) -> Result<CancelAnswer, OpError> {
        let op = CancelOp {
            key: Key {
                merchant_pid: ctx.who.merchant_pid.clone(),
                method: cancel::METHOD,
                request_id: req.request_id.clone(),
            },
            req,
            notify: ctx.notify.clone(),
            now: svc.now_for(ctx.who.merchant_pid.as_str()),
        };
        settle(svc.store.write(op).await)
    }
}

struct CancelOp {
    key: Key,
    req: CancelRequest,
    notify: Option<Target>,
    now: i64,
}

impl Operation for CancelOp {
    type Output = Result<CancelAnswer, Refusal>;

    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Self::Output, StoreError> {
        let loaded = tx.cancel_facts(&self.key, &self.req).await?;
        if let Some(record) = &loaded.recorded {
            return Ok(cancel::replay(record, &self.req));
        }
        let decided = match cancel::decide(&self.key.merchant_pid, &self.req, &loaded.facts()) {
            Ok(decided) => decided,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let named = loaded
            .ticket
            .as_ref()
            .expect("a decided cancel has its ticket");
        let (answer, plan) = self.cancelled(named, &decided);
        tx.apply(&plan).await?;
        Ok(Ok(answer))
    }
}

impl CancelOp {
    fn cancelled(&self, named: &TicketView, decided: &CancelPlan) -> (CancelAnswer, Plan) {
        let mut plan = Plan::new(self.now);
        let mut named_trans = None;
        for (voucher_id, use_trans_id, quantity) in &decided.reversals {
            let trans_id = ids::dated(self.now, 10);
            plan.push(Effect::Trans(Trans {
                trans_id: trans_id.clone(),
                voucher_id: voucher_id.clone(),
                kind: TransKind::Cancel,
                quantity: *quantity,
                use_order_id: Some(decided.use_order_id.clone()),
                reverses_trans_id: Some(use_trans_id.clone()),
                expire_change: None,
                created_at: self.now,
            }))
            .push(Effect::Available {
                voucher_id: voucher_id.clone(),
                delta: *quantity,
            });
            if *voucher_id == named.ticket.voucher_id && named_trans.is_none() {
                named_trans = Some(trans_id);
            }
        }
        let trans_id = named_trans.expect("the named ticket is among the use's tickets");
        let answer = cancel::answer(&self.req);
        plan.push(Effect::Cancel(CancelRecord {
            cancel_id: ids::hex(24),
            merchant_pid: self.key.merchant_pid.to_string(),
            request_id: self.key.request_id.to_string(),
            use_order_id: decided.use_order_id.clone(),
            trans_id: trans_id.clone(),
            created_at: self.now,
        }))
        .push(Effect::Record(
            self.key.clone(),
            Record::answered(self.req.fingerprint(), &answer),
        ));
        if let Some(target) = &self.notify {
            let event = message::Event {
                biz_type: message::TICKET_CANCEL,
                request_id: self.key.request_id.as_str(),
                ticket_code: self.req.ticket_code.as_str(),
                order_no: &named.ticket.order_no,
                quantity: decided.reversals.iter().map(|r| r.2).sum(),
                ticket_trans_id: &trans_id,
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
