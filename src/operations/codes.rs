//! The code merchant flow: `send` registers a code merchant's codes as tickets of the order,
//! `checkavailable` answers whether a use would pass (changing nothing), `sync` records a
//! change made in the code merchant's own system as use or cancel transactions, and
//! `send.close` closes the send order, refunding the tickets never sent. Each write runs its
//! decision and its effects in one transaction; a refused call records nothing.

use super::method::Method;
use super::{CallContext, OpError, Service, settle};
use crate::ids;
use crate::ledger::codes::{
    self, CheckAnswer, CheckRequest, CloseRequest, SendAnswer, SendRequest, SyncAnswer, SyncChange,
    SyncRequest,
};
use crate::ledger::fields::Biz;
use crate::ledger::idempotency::{self, Key, Record};
use crate::ledger::names::AppId;
use crate::ledger::{CodeType, Refusal, Ticket, Trans, TransKind};
use crate::notify::{Target, message};
use crate::store::prelude::*;
use crate::store::{Effect, Plan, StoreError};

/// One year, the validity of a code sent without `valid_end` for an item without an end.
const ONE_YEAR_MS: i64 = 365 * 86_400_000;

/// The time of the merchant whose tickets a code merchant's call acts on. Its checks and
/// timestamps follow that merchant's test clock — the one a use of the same ticket follows —
/// not the code merchant's own, and that merchant is known once the send order is loaded.
struct Clocks {
    real: i64,
    sandbox: std::sync::Arc<crate::sandbox::Sandbox>,
}

impl Clocks {
    fn of(svc: &Service) -> Clocks {
        Clocks {
            real: svc.clock.now_ms(),
            sandbox: svc.sandbox.clone(),
        }
    }

    fn at(&self, merchant_pid: &str) -> i64 {
        self.sandbox.now_for(self.real, merchant_pid)
    }
}

fn key(
    ctx: &CallContext,
    method: &'static str,
    request_id: &crate::ledger::names::RequestId,
) -> Key {
    Key {
        merchant_pid: ctx.who.merchant_pid.clone(),
        method,
        request_id: request_id.clone(),
    }
}

// ---- send ----------------------------------------------------------------------------------

/// `koubei.trade.ticket.ticketcode.send`.
pub struct Send;

impl Method for Send {
    const NAME: &'static str = codes::SEND;
    const WRITES: bool = true;
    type Request = SendRequest;
    type Answer = SendAnswer;

    fn parse(biz: &Biz) -> Result<SendRequest, Refusal> {
        codes::parse_send(biz)
    }

    async fn run(
        svc: &Service,
        ctx: &CallContext,
        req: SendRequest,
    ) -> Result<SendAnswer, OpError> {
        let op = SendOp {
            key: key(ctx, codes::SEND, &req.request_id),
            caller: ctx.who.app_id.clone(),
            req,
            clocks: Clocks::of(svc),
        };
        settle(svc.store.write(op).await)
    }
}

struct SendOp {
    key: Key,
    caller: AppId,
    req: SendRequest,
    clocks: Clocks,
}

impl Operation for SendOp {
    type Output = Result<SendAnswer, Refusal>;

    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Self::Output, StoreError> {
        // The send order is the lock: two sends to one order run one after the other.
        let order_no = self.req.send.order_no.as_str();
        let send = tx.locked_send_order(order_no).await?;
        if let Some(record) = tx.record(&self.key).await? {
            return Ok(idempotency::replay(&record, &self.req.fingerprint()));
        }
        let taken = match &send {
            Some(_) => tx.codes_of_order(order_no).await?,
            None => Vec::new(),
        };
        let send = match codes::decide_send(&self.caller, &self.req, send.as_ref(), &taken) {
            Ok(send) => send.clone(),
            Err(refusal) => return Ok(Err(refusal)),
        };
        let now = self.clocks.at(&send.merchant_pid);
        let (item, _) = tx.issue_facts(&send.item_id, order_no).await?;
        let item = item.expect("a send order's item exists (foreign key)");
        let effect_at = self
            .req
            .valid_start
            .or(item.valid_from)
            .unwrap_or(crate::clock::whole_second(now));
        let expire_at = self
            .req
            .valid_end
            .or(item.valid_to)
            .unwrap_or(effect_at + ONE_YEAR_MS);
        let tickets: Vec<Ticket> = self
            .req
            .codes
            .iter()
            .map(|c| Ticket {
                voucher_id: ids::dated(now, 10),
                code: c.code.clone(),
                code_type: CodeType::External,
                order_no: send.order_no.clone(),
                merchant_pid: send.merchant_pid.clone(),
                item_id: send.item_id.clone(),
                total_quantity: c.num,
                available_quantity: c.num,
                refunded: false,
                effect_at,
                expire_at,
            })
            .collect();
        let answer = SendAnswer::new(&self.req.request_id);
        let mut plan = Plan::new(now);
        plan.push(Effect::Sent {
            send_order_no: send.send_order_no.clone(),
            count: tickets.len() as i64,
        })
        .push(Effect::Tickets(tickets))
        .push(Effect::Record(
            self.key.clone(),
            Record::answered(self.req.fingerprint(), &answer),
        ));
        tx.apply(&plan).await?;
        Ok(Ok(answer))
    }
}

// ---- checkavailable ------------------------------------------------------------------------

/// `koubei.trade.ticket.ticketcode.checkavailable`.
pub struct CheckAvailable;

impl Method for CheckAvailable {
    const NAME: &'static str = codes::CHECK;
    const WRITES: bool = false;
    type Request = CheckRequest;
    type Answer = CheckAnswer;

    fn parse(biz: &Biz) -> Result<CheckRequest, Refusal> {
        codes::parse_check(biz)
    }

    async fn run(
        svc: &Service,
        ctx: &CallContext,
        req: CheckRequest,
    ) -> Result<CheckAnswer, OpError> {
        let op = CheckOp {
            caller: ctx.who.app_id.clone(),
            req,
            clocks: Clocks::of(svc),
        };
        settle(svc.store.read(op).await)
    }
}

struct CheckOp {
    caller: AppId,
    req: CheckRequest,
    clocks: Clocks,
}

impl Operation for CheckOp {
    type Output = Result<CheckAnswer, Refusal>;

    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Self::Output, StoreError> {
        let order_no = self.req.send.order_no.as_str();
        let send = tx.locked_send_order(order_no).await?;
        let ticket = tx
            .locked_ticket(
                CodeType::External,
                self.req.ticket_code.as_str(),
                Some(order_no),
            )
            .await?;
        let merchant = send.as_ref().map_or("", |s| s.merchant_pid.as_str());
        let now = self.clocks.at(merchant);
        let shop = tx.shop_facts(merchant, self.req.shop_id.as_str()).await?;
        let siblings = match &ticket {
            Some(v) if !v.is_times_card() && self.req.quantity.unwrap_or(1) > 1 => {
                let t = &v.ticket;
                tx.locked_siblings(&t.order_no, &t.item_id, &t.voucher_id)
                    .await?
            }
            _ => Vec::new(),
        };
        Ok(codes::decide_check(
            &self.caller,
            &self.req,
            send.as_ref(),
            ticket.as_ref(),
            &shop,
            &siblings,
            now,
        )
        .map(|()| CheckAnswer {
            request_id: self.req.request_id.clone(),
        }))
    }
}

// ---- sync ----------------------------------------------------------------------------------

/// `koubei.trade.ticket.ticketcode.sync`.
pub struct Sync;

impl Method for Sync {
    const NAME: &'static str = codes::SYNC;
    const WRITES: bool = true;
    type Request = SyncRequest;
    type Answer = SyncAnswer;

    fn parse(biz: &Biz) -> Result<SyncRequest, Refusal> {
        codes::parse_sync(biz)
    }

    async fn run(
        svc: &Service,
        ctx: &CallContext,
        req: SyncRequest,
    ) -> Result<SyncAnswer, OpError> {
        let op = SyncOp {
            key: key(ctx, codes::SYNC, &req.request_id),
            caller: ctx.who.app_id.clone(),
            notify: ctx.notify.clone(),
            req,
            clocks: Clocks::of(svc),
        };
        settle(svc.store.write(op).await)
    }
}

struct SyncOp {
    key: Key,
    caller: AppId,
    notify: Option<Target>,
    req: SyncRequest,
    clocks: Clocks,
}

impl Operation for SyncOp {
    type Output = Result<SyncAnswer, Refusal>;

    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Self::Output, StoreError> {
        let order_no = self.req.order_no.as_ref().map(|o| o.as_str());
        let ticket = tx
            .locked_ticket(self.req.code_type, self.req.ticket_code.as_str(), order_no)
            .await?;
        if let Some(record) = tx.record(&self.key).await? {
            return Ok(idempotency::replay(&record, &self.req.fingerprint()));
        }
        let (send, history, shop) = match &ticket {
            Some(v) => {
                let t = &v.ticket;
                let shop = match &self.req.sync_shop_id {
                    Some(id) => Some(tx.shop_facts(&t.merchant_pid, id.as_str()).await?),
                    None => None,
                };
                (
                    tx.locked_send_order(&t.order_no).await?,
                    tx.history(&t.voucher_id).await?,
                    shop,
                )
            }
            None => (None, Vec::new(), None),
        };
        let change = match codes::decide_sync(
            &self.caller,
            &self.req,
            ticket.as_ref(),
            send.as_ref(),
            shop.as_ref(),
            &history,
        ) {
            Ok(change) => change,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let t = &ticket
            .as_ref()
            .expect("a decided sync has its ticket")
            .ticket;
        let now = self.clocks.at(&t.merchant_pid);
        let answer = SyncAnswer {
            biz_code: None,
            order_no: t.order_no.clone(),
            request_id: vec![self.req.request_id.to_string()],
        };
        let mut plan = Plan::new(now);
        // A use of what the code merchant used; a cancel per use it gave back, naming that use.
        let transactions: Vec<(TransKind, i64, Option<String>, &str)> = match change {
            SyncChange::None => Vec::new(),
            SyncChange::Use(q) => vec![(TransKind::Use, q, None, message::TICKET_USE)],
            SyncChange::Cancel(uses) => uses
                .into_iter()
                .map(|(id, q)| (TransKind::Cancel, q, Some(id), message::TICKET_CANCEL))
                .collect(),
        };
        for (kind, quantity, reverses, biz_type) in transactions {
            let trans_id = ids::dated(now, 10);
            let trans = Trans {
                trans_id: trans_id.clone(),
                voucher_id: t.voucher_id.clone(),
                kind,
                quantity,
                use_order_id: None,
                reverses_trans_id: reverses,
                expire_change: None,
                created_at: now,
            };
            plan.push(Effect::Available {
                voucher_id: t.voucher_id.clone(),
                delta: trans.available_delta(),
            })
            .push(Effect::Trans(trans));
            if let Some(target) = &self.notify {
                let event = message::Event {
                    biz_type,
                    request_id: self.key.request_id.as_str(),
                    ticket_code: &t.code,
                    order_no: &t.order_no,
                    quantity,
                    ticket_trans_id: &trans_id,
                };
                plan.push(Effect::Notify(message::row(
                    ids::hex(32),
                    target,
                    &event,
                    now,
                )));
            }
        }
        plan.push(Effect::Record(
            self.key.clone(),
            Record::answered(self.req.fingerprint(), &answer),
        ));
        tx.apply(&plan).await?;
        Ok(Ok(answer))
    }
}

// ---- send.close ----------------------------------------------------------------------------

/// `koubei.trade.ticket.send.close`.
pub struct SendClose;

impl Method for SendClose {
    const NAME: &'static str = codes::CLOSE;
    const WRITES: bool = true;
    type Request = CloseRequest;
    type Answer = SendAnswer;

    fn parse(biz: &Biz) -> Result<CloseRequest, Refusal> {
        codes::parse_close(biz)
    }

    async fn run(
        svc: &Service,
        ctx: &CallContext,
        req: CloseRequest,
    ) -> Result<SendAnswer, OpError> {
        let op = CloseOp {
            key: key(ctx, codes::CLOSE, &req.request_id),
            caller: ctx.who.app_id.clone(),
            req,
            clocks: Clocks::of(svc),
        };
        settle(svc.store.write(op).await)
    }
}

struct CloseOp {
    key: Key,
    caller: AppId,
    req: CloseRequest,
    clocks: Clocks,
}

impl Operation for CloseOp {
    type Output = Result<SendAnswer, Refusal>;

    async fn run<T: Tx>(&self, tx: &mut T) -> Result<Self::Output, StoreError> {
        let send = tx
            .locked_send_order(self.req.send.order_no.as_str())
            .await?;
        if let Some(record) = tx.record(&self.key).await? {
            return Ok(idempotency::replay(&record, &self.req.fingerprint()));
        }
        let refunded = match codes::decide_close(&self.caller, &self.req, send.as_ref()) {
            Ok(n) => n,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let send = send.expect("a decided close has its send order");
        let now = self.clocks.at(&send.merchant_pid);
        let answer = SendAnswer::new(&self.req.request_id);
        let mut plan = Plan::new(now);
        plan.push(Effect::SendClosed {
            send_order_no: send.send_order_no,
            refunded,
            reason: self.req.reason.clone(),
        })
        .push(Effect::Record(
            self.key.clone(),
            Record::answered(self.req.fingerprint(), &answer),
        ));
        tx.apply(&plan).await?;
        Ok(Ok(answer))
    }
}
