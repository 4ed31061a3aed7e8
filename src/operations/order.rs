//! An order query: the order with its vouchers and their counts. Read-only.

use super::method::Method;
use super::{CallContext, OpError, Service, settle};
use crate::ledger::Refusal;
use crate::ledger::fields::Biz;
use crate::ledger::names::MerchantPid;
use crate::ledger::order::{self, OrderAnswer, OrderRequest};
use crate::store::StoreError;
use crate::store::prelude::*;

/// `koubei.trade.order.query`.
pub struct OrderQuery;

impl Method for OrderQuery {
    const NAME: &'static str = order::METHOD;
    const WRITES: bool = false;
    type Request = OrderRequest;
    type Answer = OrderAnswer;

    fn parse(biz: &Biz) -> Result<OrderRequest, Refusal> {
        order::parse(biz)
    }

    async fn run(
        svc: &Service,
        ctx: &CallContext,
        req: OrderRequest,
    ) -> Result<OrderAnswer, OpError> {
        let op = OrderOp {
            merchant_pid: ctx.who.merchant_pid.clone(),
            req,
            now: svc.now_for(ctx.who.merchant_pid.as_str()),
        };
        settle(svc.store.read(op).await)
    }
}

struct OrderOp {
    merchant_pid: MerchantPid,
    req: OrderRequest,
    now: i64,
}

impl Operation for OrderOp {
    type Output = Result<OrderAnswer, Refusal>;

    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Self::Output, StoreError> {
        let facts = tx.order_facts(self.req.order_no.as_str()).await?;
        Ok(order::answer(&self.merchant_pid, &facts, self.now))
    }
}
