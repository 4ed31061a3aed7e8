//! The store as the ledger's operations see it: a handful of operation-shaped calls. An
//! operation asks its transaction for all its facts in one call (`use_facts`, `cancel_facts`,
//! …), decides purely, and hands back one [`Plan`] to apply. A backend implements
//! [`LedgerTx`]; the operations are written once, generic over it.
//!
//! The methods return futures, but nothing in the contract needs them to wait: a backend that
//! runs operations synchronously on a writer thread implements them with ready futures and
//! drives an operation to completion in one poll.

use std::future::Future;

use super::{AppRecord, Conn, Lock, LogRow, NotificationRow, StoreError};
use crate::ledger::cancel::{CancelLoaded, CancelRequest};
use crate::ledger::codes::SendOrder;
use crate::ledger::delay::{DelayFacts, DelayRequest};
use crate::ledger::idempotency::{Key, Record};
use crate::ledger::names::MerchantPid;
use crate::ledger::order::OrderFacts;
use crate::ledger::query::{QueryFacts, QueryRequest};
use crate::ledger::use_::{UseFacts, UseRequest};
use crate::ledger::{CancelRecord, CodeType, Item, ShopFacts, Ticket, TicketView, Trans, UseOrder};

/// One change an operation makes. A plan's effects are applied in order, in one transaction.
#[derive(Debug, Clone)]
pub enum Effect {
    UseOrder(UseOrder),
    Trans(Trans),
    /// Adds `delta` to a ticket's available quantity (kept in step with its transactions).
    Available {
        voucher_id: String,
        delta: i64,
    },
    /// A ticket's new expiry.
    Expire {
        voucher_id: String,
        expire_at: i64,
    },
    Cancel(CancelRecord),
    /// The idempotency record of the request.
    Record(Key, Record),
    /// A notification for the outbox, delivered after the commit.
    Notify(NotificationRow),
    /// A new order of an item.
    Order {
        order_no: String,
        merchant_pid: String,
        item_id: String,
    },
    /// A ticket this transaction loaded becomes `REFUNDED` (nothing left to use).
    Refunded {
        voucher_id: String,
    },
    /// New tickets, every one of which must go in (a taken code is a conflict).
    Tickets(Vec<Ticket>),
    /// A new send order.
    SendOrder(SendOrder),
    /// Codes registered on an open send order.
    Sent {
        send_order_no: String,
        count: i64,
    },
    /// Entries of the request log.
    Log(Vec<LogRow>),
    /// Keeps the request log to its last `keep` entries (about: entries of one millisecond
    /// at the boundary go or stay together).
    TrimLog {
        keep: i64,
    },
    /// An open send order closes; `refunded` tickets were never sent.
    SendClosed {
        send_order_no: String,
        refunded: i64,
        reason: Option<String>,
    },
}

/// What an operation decided to write, at `now`.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub now: i64,
    pub effects: Vec<Effect>,
}

impl Plan {
    pub fn new(now: i64) -> Plan {
        Plan {
            now,
            effects: Vec::new(),
        }
    }

    pub fn push(&mut self, effect: Effect) -> &mut Plan {
        self.effects.push(effect);
        self
    }
}

/// The app a call names and the grant behind its token, if any.
pub type CallerFacts = (Option<AppRecord>, Option<super::queries::tenants::Grant>);

/// A transaction as the ledger's operations use it.
pub trait LedgerTx: Send {
    /// A use's facts: its idempotency record, then (for a well-formed request) the named
    /// ticket (locked), the shop, and the siblings a multi-ticket use of a normal ticket needs.
    fn use_facts(
        &mut self,
        key: &Key,
        req: Option<&UseRequest>,
    ) -> impl Future<Output = Result<UseFacts, StoreError>> + Send;

    /// A cancel's facts: the named ticket (locked), its idempotency record, the use order named
    /// by `request_biz_no`, whether it was cancelled, its use transactions and their tickets.
    fn cancel_facts(
        &mut self,
        key: &Key,
        req: &CancelRequest,
    ) -> impl Future<Output = Result<CancelLoaded, StoreError>> + Send;

    /// A delay's facts: the named ticket (locked) and the idempotency record.
    fn delay_facts(
        &mut self,
        key: &Key,
        req: &DelayRequest,
    ) -> impl Future<Output = Result<DelayFacts, StoreError>> + Send;

    /// A query's facts: the ticket with its item, and when it exists the shop and its
    /// transactions.
    fn query_facts(
        &mut self,
        merchant_pid: &MerchantPid,
        req: &QueryRequest,
    ) -> impl Future<Output = Result<QueryFacts, StoreError>> + Send;

    /// Who is calling: the app, and the grant behind an `app_auth_token` given with the call
    /// (the merchant it lets the app act for, and when it expires).
    fn caller_facts(
        &mut self,
        app_id: &str,
        token: Option<&str>,
    ) -> impl Future<Output = Result<CallerFacts, StoreError>> + Send;

    /// What issuing tickets needs: the item, and the item of the order if it exists already.
    fn issue_facts(
        &mut self,
        item_id: &str,
        order_no: &str,
    ) -> impl Future<Output = Result<(Option<Item>, Option<String>), StoreError>> + Send;

    /// Inserts tickets; answers the codes inserted (a ticket whose code or id is taken is
    /// skipped, so the caller can draw again).
    fn insert_tickets(
        &mut self,
        tickets: &[Ticket],
        now: i64,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    // ---- single facts, for the operations that need only a few -------------------------

    /// The ticket a call names, locked.
    fn locked_ticket(
        &mut self,
        code_type: CodeType,
        code: &str,
        order_no: Option<&str>,
    ) -> impl Future<Output = Result<Option<TicketView>, StoreError>> + Send;

    /// A ticket by voucher id, locked.
    fn locked_ticket_of_voucher(
        &mut self,
        voucher_id: &str,
    ) -> impl Future<Output = Result<Option<TicketView>, StoreError>> + Send;

    /// The idempotency record of a request, if it was seen before.
    fn record(
        &mut self,
        key: &Key,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send;

    /// One transaction by id.
    fn trans_by_id(
        &mut self,
        trans_id: &str,
    ) -> impl Future<Output = Result<Option<Trans>, StoreError>> + Send;

    /// Every transaction of a ticket, oldest first.
    fn history(
        &mut self,
        voucher_id: &str,
    ) -> impl Future<Output = Result<Vec<Trans>, StoreError>> + Send;

    /// What the store knows of a merchant's shop.
    fn shop_facts(
        &mut self,
        merchant_pid: &str,
        shop_id: &str,
    ) -> impl Future<Output = Result<ShopFacts, StoreError>> + Send;

    /// An order with its item, tickets, their transactions and its send order.
    fn order_facts(
        &mut self,
        order_no: &str,
    ) -> impl Future<Output = Result<OrderFacts, StoreError>> + Send;

    /// The send order of an order, locked.
    fn locked_send_order(
        &mut self,
        order_no: &str,
    ) -> impl Future<Output = Result<Option<SendOrder>, StoreError>> + Send;

    /// The codes an order holds already.
    fn codes_of_order(
        &mut self,
        order_no: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// The code merchant's app of an item, and that app.
    fn code_merchant(
        &mut self,
        item_id: &str,
    ) -> impl Future<Output = Result<Option<AppRecord>, StoreError>> + Send;

    /// A merchant's apps (a bounded few), for the signature doctor.
    fn merchant_apps(
        &mut self,
        merchant_pid: &str,
    ) -> impl Future<Output = Result<Vec<AppRecord>, StoreError>> + Send;

    /// Applies a plan's effects in order.
    fn apply(&mut self, plan: &Plan) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A cancel's use tickets when the use was of the ticket the cancel names only (the common
/// case): that ticket, already loaded (and locked) in this transaction, so not read again.
pub(in crate::store) fn already_loaded(
    named: Option<&TicketView>,
    vouchers: &[String],
) -> Option<Vec<Ticket>> {
    let view = named?;
    if !vouchers.iter().all(|id| *id == view.ticket.voucher_id) {
        return None;
    }
    Some(if vouchers.is_empty() {
        Vec::new()
    } else {
        vec![view.ticket.clone()]
    })
}

impl Conn<'_> {
    /// The ticket a call names, locked, then the idempotency record of the call's request id
    /// and, for a call that names a shop (`shop_id`), that shop. In this order, so that two
    /// nodes racing with the same request id on one ticket see each other's result rather than
    /// both passing the replay check.
    async fn locked_ticket_and_record(
        &mut self,
        key: &Key,
        code_type: CodeType,
        code: &str,
        order_no: Option<&str>,
        shop_id: Option<&str>,
    ) -> Result<(Option<TicketView>, Option<Record>, Option<ShopFacts>), StoreError> {
        let ticket = self
            .ticket(code_type, code, order_no, Lock::ForUpdate)
            .await?;
        let (record, shop) = match shop_id {
            Some(shop_id) => {
                let (record, shop) = self.record_and_shop(key, shop_id).await?;
                (record, Some(shop))
            }
            None => (self.idempotency(key).await?, None),
        };
        Ok((ticket, record, shop))
    }
}

impl LedgerTx for Conn<'_> {
    async fn use_facts(
        &mut self,
        key: &Key,
        req: Option<&UseRequest>,
    ) -> Result<UseFacts, StoreError> {
        let Some(req) = req else {
            return Ok(UseFacts {
                recorded: self.idempotency(key).await?,
                ..UseFacts::default()
            });
        };
        let order_no = req.order_no.as_ref().map(|o| o.as_str());
        let (ticket, recorded, shop) = self
            .locked_ticket_and_record(
                key,
                req.code_type,
                req.ticket_code.as_str(),
                order_no,
                Some(req.shop_id.as_str()),
            )
            .await?;
        if recorded.is_some() {
            return Ok(UseFacts {
                recorded,
                ticket,
                ..UseFacts::default()
            });
        }
        let siblings = match &ticket {
            Some(v) if !v.is_times_card() && req.quantity.unwrap_or(1) > 1 => {
                let t = &v.ticket;
                self.siblings(&t.order_no, &t.item_id, &t.voucher_id, Lock::ForUpdate)
                    .await?
            }
            _ => Vec::new(),
        };
        Ok(UseFacts {
            recorded,
            ticket,
            shop,
            siblings,
        })
    }

    async fn cancel_facts(
        &mut self,
        key: &Key,
        req: &CancelRequest,
    ) -> Result<CancelLoaded, StoreError> {
        // Concurrent cancels of one ticket run one after the other on every backend, and each
        // sees what the previous one committed.
        let order_no = req.order_no.as_ref().map(|o| o.as_str());
        let (ticket, recorded, _) = self
            .locked_ticket_and_record(key, req.code_type, req.ticket_code.as_str(), order_no, None)
            .await?;
        if recorded.is_some() {
            return Ok(CancelLoaded {
                recorded,
                ticket,
                ..CancelLoaded::default()
            });
        }
        let history = self
            .use_order_history(key.merchant_pid.as_str(), &req.request_biz_no)
            .await?;
        let mut loaded = CancelLoaded {
            recorded,
            ticket,
            ..CancelLoaded::default()
        };
        if let Some(h) = history.as_ref().filter(|h| !h.order.closed) {
            loaded.already_cancelled = h.cancel.is_some();
            loaded.refunded_use = h.refunded;
            loaded.uses = h
                .trans
                .iter()
                .map(|t| (t.voucher_id.clone(), t.trans_id.clone(), t.quantity))
                .collect();
            let vouchers: Vec<String> = loaded.uses.iter().map(|u| u.0.clone()).collect();
            loaded.use_tickets = match already_loaded(loaded.ticket.as_ref(), &vouchers) {
                Some(tickets) => tickets,
                None => self.tickets_by_voucher(&vouchers, Lock::ForUpdate).await?,
            };
        }
        loaded.use_order = history.map(|h| h.order);
        Ok(loaded)
    }

    async fn delay_facts(
        &mut self,
        key: &Key,
        req: &DelayRequest,
    ) -> Result<DelayFacts, StoreError> {
        let order_no = (req.code_type == CodeType::External).then(|| req.order_no.as_str());
        let (ticket, recorded, _) = self
            .locked_ticket_and_record(key, req.code_type, req.ticket_code.as_str(), order_no, None)
            .await?;
        Ok(DelayFacts { recorded, ticket })
    }

    async fn query_facts(
        &mut self,
        merchant_pid: &MerchantPid,
        req: &QueryRequest,
    ) -> Result<QueryFacts, StoreError> {
        let found = self
            .query_view(
                req.ticket_code.as_str(),
                merchant_pid.as_str(),
                req.shop_id.as_str(),
            )
            .await?;
        Ok(
            found.map_or_else(QueryFacts::default, |(view, shop, trans)| QueryFacts {
                ticket: Some(view),
                shop: Some(shop),
                trans,
            }),
        )
    }

    async fn caller_facts(
        &mut self,
        app_id: &str,
        token: Option<&str>,
    ) -> Result<CallerFacts, StoreError> {
        let app = self.app(app_id).await?;
        let grant = match token {
            Some(token) => self.token_grant(token, app_id).await?,
            None => None,
        };
        Ok((app, grant))
    }

    async fn issue_facts(
        &mut self,
        item_id: &str,
        order_no: &str,
    ) -> Result<(Option<Item>, Option<String>), StoreError> {
        Ok((self.item(item_id).await?, self.order_item(order_no).await?))
    }

    async fn insert_tickets(
        &mut self,
        tickets: &[Ticket],
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        // Multi-row statements: one round trip per few hundred tickets.
        let mut inserted = Vec::with_capacity(tickets.len());
        for chunk in tickets.chunks(500) {
            inserted.extend(self.insert_ticket_rows(chunk, now).await?);
        }
        Ok(inserted)
    }

    async fn locked_ticket(
        &mut self,
        code_type: CodeType,
        code: &str,
        order_no: Option<&str>,
    ) -> Result<Option<TicketView>, StoreError> {
        self.ticket(code_type, code, order_no, Lock::ForUpdate)
            .await
    }

    async fn locked_ticket_of_voucher(
        &mut self,
        voucher_id: &str,
    ) -> Result<Option<TicketView>, StoreError> {
        Conn::locked_ticket_of_voucher(self, voucher_id).await
    }

    async fn record(&mut self, key: &Key) -> Result<Option<Record>, StoreError> {
        self.idempotency(key).await
    }

    async fn trans_by_id(&mut self, trans_id: &str) -> Result<Option<Trans>, StoreError> {
        Conn::trans_by_id(self, trans_id).await
    }

    async fn history(&mut self, voucher_id: &str) -> Result<Vec<Trans>, StoreError> {
        self.ticket_trans(voucher_id).await
    }

    async fn shop_facts(
        &mut self,
        merchant_pid: &str,
        shop_id: &str,
    ) -> Result<ShopFacts, StoreError> {
        self.shop(merchant_pid, shop_id).await
    }

    async fn order_facts(&mut self, order_no: &str) -> Result<OrderFacts, StoreError> {
        let Some(order) = self.order(order_no).await? else {
            return Ok(OrderFacts::default());
        };
        Ok(OrderFacts {
            item: self.item(&order.item_id).await?,
            tickets: self.order_tickets(order_no).await?,
            trans: self.order_trans(order_no).await?,
            send: self.send_order(order_no).await?,
            order: Some(order),
        })
    }

    async fn locked_send_order(&mut self, order_no: &str) -> Result<Option<SendOrder>, StoreError> {
        self.send_order(order_no).await
    }

    async fn codes_of_order(&mut self, order_no: &str) -> Result<Vec<String>, StoreError> {
        Conn::codes_of_order(self, order_no).await
    }

    async fn code_merchant(&mut self, item_id: &str) -> Result<Option<AppRecord>, StoreError> {
        match Conn::code_merchant(self, item_id).await? {
            Some(app_id) => self.app(&app_id).await,
            None => Ok(None),
        }
    }

    async fn merchant_apps(&mut self, merchant_pid: &str) -> Result<Vec<AppRecord>, StoreError> {
        Conn::merchant_apps(self, merchant_pid).await
    }

    async fn apply(&mut self, plan: &Plan) -> Result<(), StoreError> {
        let mut rest = plan.effects.as_slice();
        while let Some(first) = rest.first() {
            // On PostgreSQL a run of row writes is one statement: one round trip, not one each.
            let run = match self {
                Conn::Pg(_) => super::queries::plan::combinable_run(rest),
                Conn::Sqlite(_) => 0,
            };
            if run > 1 {
                self.apply_rows(&rest[..run], plan.now).await?;
                rest = &rest[run..];
            } else {
                self.apply_one(first, plan.now).await?;
                rest = &rest[1..];
            }
        }
        Ok(())
    }
}

impl Conn<'_> {
    /// Applies one effect, in its own statement(s).
    async fn apply_one(&mut self, effect: &Effect, now: i64) -> Result<(), StoreError> {
        match effect {
            Effect::UseOrder(order) => self.insert_use_order(order).await?,
            Effect::Trans(trans) => self.insert_trans(trans).await?,
            Effect::Available { voucher_id, delta } => {
                self.add_available(voucher_id, *delta, now).await?
            }
            Effect::Expire {
                voucher_id,
                expire_at,
            } => self.set_expire(voucher_id, *expire_at, now).await?,
            Effect::Cancel(record) => self.insert_cancel(record).await?,
            Effect::Record(key, record) => self.insert_idempotency(key, record, now).await?,
            Effect::Notify(row) => self.insert_notification(row).await?,
            Effect::Order {
                order_no,
                merchant_pid,
                item_id,
            } => {
                if !self
                    .insert_order(order_no, merchant_pid, item_id, now)
                    .await?
                {
                    return Err(StoreError::Conflict("orders.order_no"));
                }
            }
            Effect::Refunded { voucher_id } => self.mark_refunded(voucher_id, now).await?,
            Effect::Log(rows) => self.insert_logs(rows).await?,
            Effect::TrimLog { keep } => self.trim_log(*keep).await?,
            Effect::Tickets(tickets) => {
                if self.insert_tickets(tickets, now).await?.len() != tickets.len() {
                    return Err(StoreError::Conflict("tickets (order_no, code)"));
                }
            }
            Effect::SendOrder(send) => self.insert_send_order(send, now).await?,
            Effect::Sent {
                send_order_no,
                count,
            } => self.add_sent(send_order_no, *count, now).await?,
            Effect::SendClosed {
                send_order_no,
                refunded,
                reason,
            } => {
                self.close_send(send_order_no, *refunded, reason.as_deref(), now)
                    .await?
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::fixtures::{item, ticket};

    #[test]
    fn a_cancels_use_tickets_are_read_again_unless_they_are_the_named_one() {
        let named = TicketView {
            ticket: ticket("1", 1, 0),
            item: item(None, None),
        };
        let id = named.ticket.voucher_id.clone();
        let loaded = |vouchers: &[String]| already_loaded(Some(&named), vouchers);
        assert_eq!(
            loaded(std::slice::from_ref(&id)),
            Some(vec![named.ticket.clone()])
        );
        assert_eq!(
            loaded(&[id.clone(), id.clone()]),
            Some(vec![named.ticket.clone()])
        );
        assert_eq!(loaded(&[]), Some(vec![]));
        let other = ticket("2", 1, 0).voucher_id;
        assert_eq!(loaded(&[id.clone(), other.clone()]), None);
        assert_eq!(already_loaded(None, &[other]), None);
    }
}
