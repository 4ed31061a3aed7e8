//! A query (查询): the ticket as seen from a shop, with its transactions. Read-only.

use super::method::Method;
use super::{CallContext, OpError, Service, settle};
use crate::ledger::Refusal;
use crate::ledger::fields::Biz;
use crate::ledger::names::MerchantPid;
use crate::ledger::query::{self, QueryAnswer, QueryRequest};
use crate::store::StoreError;
use crate::store::prelude::*;

/// `koubei.trade.ticket.ticketcode.query`.
pub struct Query;

impl Method for Query {
    const NAME: &'static str = query::METHOD;
    const WRITES: bool = false;
    type Request = QueryRequest;
    type Answer = QueryAnswer;

    fn parse(biz: &Biz) -> Result<QueryRequest, Refusal> {
        query::parse(biz)
    }

    async fn run(
        svc: &Service,
        ctx: &CallContext,
        req: QueryRequest,
    ) -> Result<QueryAnswer, OpError> {
        let op = QueryOp {
            merchant_pid: ctx.who.merchant_pid.clone(),
            req,
            now: svc.now_for(ctx.who.merchant_pid.as_str()),
        };
        settle(svc.store.read(op).await)
    }
}

struct QueryOp {
    merchant_pid: MerchantPid,
    req: QueryRequest,
    now: i64,
}

impl Operation for QueryOp {
    type Output = Result<QueryAnswer, Refusal>;

    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Self::Output, StoreError> {
        let facts = tx.query_facts(&self.merchant_pid, &self.req).await?;
        Ok(query::decide(&self.merchant_pid, facts.ticket.as_ref())
            .map(|view| query::answer(view, facts.shop.as_ref(), &facts.trans, self.now)))
    }
}
