//! A refund after use (售后退): replay check, decision, and the `REFUND` transaction pointing
//! at the use, the ticket's new state and the idempotency record in one transaction. A refused
//! refund records nothing. No notification (production documents none).

use super::method::Method;
use super::{CallContext, OpError, Service, settle};
use crate::ids;
use crate::ledger::fields::Biz;
use crate::ledger::idempotency::{self, Key, Record};
use crate::ledger::refund::{self, RefundAnswer, RefundRequest};
use crate::ledger::{CodeType, Refusal, Trans, TransKind};
use crate::store::prelude::*;
use crate::store::{Effect, Plan, StoreError};

/// `koubei.trade.ticket.used.refund`.
pub struct UsedRefund;

impl Method for UsedRefund {
    const NAME: &'static str = refund::METHOD;
    const WRITES: bool = true;
    type Request = RefundRequest;
    type Answer = RefundAnswer;

    fn parse(biz: &Biz) -> Result<RefundRequest, Refusal> {
        refund::parse(biz)
    }

    async fn run(
        svc: &Service,
        ctx: &CallContext,
        req: RefundRequest,
    ) -> Result<RefundAnswer, OpError> {
        let op = RefundOp {
            key: Key {
                merchant_pid: ctx.who.merchant_pid.clone(),
                method: refund::METHOD,
                request_id: req.request_id.clone(),
            },
            req,
            now: svc.now_for(ctx.who.merchant_pid.as_str()),
        };
        settle(svc.store.write(op).await)
    }
}

struct RefundOp {
    key: Key,
    req: RefundRequest,
    now: i64,
}

impl Operation for RefundOp {
    type Output = Result<RefundAnswer, Refusal>;

    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Self::Output, StoreError> {
        // The ticket that holds the use (an external code is found this way too), else the
        // internal code the call names; locked before the replay check, as every write does.
        let code = self.req.ticket_code.as_str();
        let mut ticket = match tx.trans_by_id(&self.req.trans_id).await? {
            Some(used) => tx
                .locked_ticket_of_voucher(&used.voucher_id)
                .await?
                .filter(|v| v.ticket.code == code),
            None => None,
        };
        if ticket.is_none() {
            ticket = tx.locked_ticket(CodeType::Internal, code, None).await?;
        }
        if let Some(record) = tx.record(&self.key).await? {
            return Ok(idempotency::replay(&record, &self.req.fingerprint()));
        }
        let history = match &ticket {
            Some(v) => tx.history(&v.ticket.voucher_id).await?,
            None => Vec::new(),
        };
        let decided =
            match refund::decide(&self.key.merchant_pid, &self.req, ticket.as_ref(), &history) {
                Ok(decided) => decided,
                Err(refusal) => return Ok(Err(refusal)),
            };
        let answer = refund::answer(&self.req);
        let mut plan = Plan::new(self.now);
        plan.push(Effect::Trans(Trans {
            trans_id: ids::dated(self.now, 10),
            voucher_id: decided.voucher_id.clone(),
            kind: TransKind::Refund,
            quantity: decided.quantity,
            use_order_id: None,
            reverses_trans_id: Some(decided.use_trans_id),
            expire_change: None,
            created_at: self.now,
        }));
        if decided.marks_refunded {
            plan.push(Effect::Refunded {
                voucher_id: decided.voucher_id,
            });
        }
        plan.push(Effect::Record(
            self.key.clone(),
            Record::answered(self.req.fingerprint(), &answer),
        ));
        tx.apply(&plan).await?;
        Ok(Ok(answer))
    }
}
