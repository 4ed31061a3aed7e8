//! A delay (延期): replay check, decision, and the ticket's new expiry with its `DELAY`
//! transaction and idempotency record in one transaction. A refused delay records nothing.

use super::method::Method;
use super::{CallContext, OpError, Service, settle};
use crate::ids;
use crate::ledger::delay::{self, DelayAnswer, DelayRequest};
use crate::ledger::fields::Biz;
use crate::ledger::idempotency::{self, Key, Record};
use crate::ledger::{Refusal, Trans, TransKind};
use crate::store::prelude::*;
use crate::store::{Effect, Plan, StoreError};

/// `koubei.trade.ticket.ticketcode.delay`.
pub struct Delay;

impl Method for Delay {
    const NAME: &'static str = delay::METHOD;
    const WRITES: bool = true;
    type Request = DelayRequest;
    type Answer = DelayAnswer;

    fn parse(biz: &Biz) -> Result<DelayRequest, Refusal> {
        delay::parse(biz)
    }

    async fn run(
        svc: &Service,
        ctx: &CallContext,
        req: DelayRequest,
    ) -> Result<DelayAnswer, OpError> {
        let op = DelayOp {
            key: Key {
                merchant_pid: ctx.who.merchant_pid.clone(),
                method: delay::METHOD,
                request_id: req.request_id.clone(),
            },
            req,
            now: svc.now_for(ctx.who.merchant_pid.as_str()),
        };
        settle(svc.store.write(op).await)
    }
}

struct DelayOp {
    key: Key,
    req: DelayRequest,
    now: i64,
}

impl Operation for DelayOp {
    type Output = Result<DelayAnswer, Refusal>;

    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Self::Output, StoreError> {
        let facts = tx.delay_facts(&self.key, &self.req).await?;
        if let Some(record) = &facts.recorded {
            return Ok(idempotency::replay(record, &self.req.fingerprint()));
        }
        let decided = match delay::decide(
            &self.key.merchant_pid,
            &self.req,
            facts.ticket.as_ref(),
            self.now,
        ) {
            Ok(decided) => decided,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let answer = delay::answer(&self.req);
        let mut plan = Plan::new(self.now);
        plan.push(Effect::Trans(Trans {
            trans_id: ids::dated(self.now, 10),
            voucher_id: decided.voucher_id.clone(),
            kind: TransKind::Delay,
            quantity: 0,
            use_order_id: None,
            reverses_trans_id: None,
            expire_change: Some((decided.expire_before, decided.expire_after)),
            created_at: self.now,
        }))
        .push(Effect::Expire {
            voucher_id: decided.voucher_id,
            expire_at: decided.expire_after,
        })
        .push(Effect::Record(
            self.key.clone(),
            Record::answered(self.req.fingerprint(), &answer),
        ));
        tx.apply(&plan).await?;
        Ok(Ok(answer))
    }
}
