//! A cancel (撤销核销, the seed): replay check, decision, and the reversing transactions and
//! cancel record in one transaction. A refused cancel records nothing.

use serde_json::{Map, Value};

use super::{Acting, OpError, Service};
use crate::ids;
use crate::ledger::cancel::{self, CancelFacts, CancelRequest};
use crate::ledger::fields::Biz;
use crate::ledger::{CancelRecord, Refusal, Trans, TransKind};
use crate::notify::{Target, message};
use crate::store::{Conn, StoreError};

/// Cancels the use named by `request_biz_no` for `who`. A successful cancel queues a
/// notification to `notify` in the same transaction.
pub async fn run(
    app: &Service,
    who: &Acting,
    biz: &Biz,
    notify: Option<&Target>,
) -> Result<Map<String, Value>, OpError> {
    let req = cancel::parse(biz)?;
    let merchant_pid = who.merchant_pid.clone();
    let now = app.now_ms();
    let notify = notify.cloned();
    let outcome = app
        .store
        .write(move |c| {
            let (req, merchant_pid) = (req.clone(), merchant_pid.clone());
            let notify = notify.clone();
            Box::pin(async move { apply(c, &merchant_pid, &req, notify.as_ref(), now).await })
        })
        .await?;
    Ok(outcome?)
}

async fn apply(
    c: &mut Conn<'_>,
    merchant_pid: &str,
    req: &CancelRequest,
    notify: Option<&Target>,
    now: i64,
) -> Result<Result<Map<String, Value>, Refusal>, StoreError> {
    // The ticket row is locked first: concurrent cancels of one ticket then run one after the
    // other on every backend, and each sees what the previous one committed.
    let ticket = c
        .ticket(
            req.code_type,
            &req.ticket_code,
            req.order_no.as_deref(),
            true,
        )
        .await?;
    if let Some(done) = c.cancel_by_request(merchant_pid, &req.request_id).await? {
        return Ok(cancel::replay(&done, req));
    }
    let use_order = c.use_order(merchant_pid, &req.request_biz_no).await?;
    let (mut already_cancelled, mut uses, mut use_tickets) = (false, Vec::new(), Vec::new());
    if let Some(order) = use_order.as_ref().filter(|o| !o.closed) {
        already_cancelled = c.cancel_of_use(&order.use_order_id).await?.is_some();
        uses = c
            .use_order_trans(&order.use_order_id)
            .await?
            .into_iter()
            .map(|t| (t.voucher_id, t.trans_id, t.quantity))
            .collect();
        let vouchers: Vec<String> = uses
            .iter()
            .map(|u: &(String, String, i64)| u.0.clone())
            .collect();
        use_tickets = c.tickets_by_voucher(&vouchers, true).await?;
    }
    let facts = CancelFacts {
        ticket: ticket.as_ref(),
        use_order: use_order.as_ref(),
        already_cancelled,
        uses: &uses,
        use_tickets: &use_tickets,
    };
    let plan = match cancel::decide(merchant_pid, req, &facts) {
        Ok(plan) => plan,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let named = ticket.expect("a decided cancel has its ticket").ticket;
    let mut named_trans = None;
    for (voucher_id, use_trans_id, quantity) in &plan.reversals {
        let trans_id = ids::dated(now, 10);
        c.insert_trans(&Trans {
            trans_id: trans_id.clone(),
            voucher_id: voucher_id.clone(),
            kind: TransKind::Cancel,
            quantity: *quantity,
            use_order_id: Some(plan.use_order_id.clone()),
            reverses_trans_id: Some(use_trans_id.clone()),
            created_at: now,
        })
        .await?;
        c.add_available(voucher_id, *quantity, now).await?;
        if *voucher_id == named.voucher_id && named_trans.is_none() {
            named_trans = Some(trans_id);
        }
    }
    let trans_id = named_trans.expect("the named ticket is among the use's tickets");
    c.insert_cancel(&CancelRecord {
        cancel_id: ids::hex(24),
        merchant_pid: merchant_pid.to_string(),
        request_id: req.request_id.clone(),
        fingerprint: req.fingerprint(),
        use_order_id: plan.use_order_id.clone(),
        trans_id: trans_id.clone(),
        created_at: now,
    })
    .await?;
    if let Some(target) = notify {
        let event = message::Event {
            biz_type: message::TICKET_CANCEL,
            request_id: &req.request_id,
            ticket_code: &req.ticket_code,
            order_no: &named.order_no,
            quantity: plan.reversals.iter().map(|r| r.2).sum(),
            ticket_trans_id: &trans_id,
        };
        c.insert_notification(&message::row(ids::hex(32), target, &event, now))
            .await?;
    }
    Ok(Ok(cancel::answer(req, false)))
}
