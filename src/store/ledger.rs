//! The store as the ledger's operations see it: a handful of operation-shaped calls. An
//! operation asks its transaction for all its facts in one call (`use_facts`, `cancel_facts`,
//! …), decides purely, and hands back one [`Plan`] to apply. [`LedgerTx`] is written once,
//! for every [`Tx`]; what each effect of a plan writes is `effects::row_write`, in one place
//! for both backends (each backend's `Tx::apply` runs those statements, one by one or
//! combined).

use std::future::Future;

use super::effects::row_write;
use super::queries::{Codes, History, RequestLog, Tenants, Tickets};
use super::{AppRecord, LogRow, NotificationRow, StoreError, Tx};
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
pub type CallerFacts = (Option<AppRecord>, Option<super::queries::Grant>);

/// A use order, its cancel if any, its use transactions, and whether one was refunded since.
pub struct UseOrderHistory {
    pub order: UseOrder,
    pub cancel: Option<CancelRecord>,
    pub trans: Vec<Trans>,
    pub refunded: bool,
    /// Units of its uses were given back since by a cancel that names them (a sync).
    pub given_back: bool,
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

/// The reads PostgreSQL makes in one statement, made one by one (SQLite's way: in process a
/// statement costs microseconds, and one statement over several tables costs more to plan).
pub(in crate::store) mod one_by_one {
    use super::*;

    pub async fn query_view<T: Tx>(
        tx: &mut T,
        code: &str,
        merchant_pid: &str,
        shop_id: &str,
    ) -> Result<Option<(TicketView, ShopFacts, Vec<Trans>)>, StoreError> {
        let Some(view) = tx.locked_ticket(CodeType::Internal, code, None).await? else {
            return Ok(None);
        };
        let shop = tx.shop_facts(merchant_pid, shop_id).await?;
        let trans = tx.history(&view.ticket.voucher_id).await?;
        Ok(Some((view, shop, trans)))
    }

    pub async fn record_and_shop<T: Tx>(
        tx: &mut T,
        key: &Key,
        shop_id: &str,
    ) -> Result<(Option<Record>, ShopFacts), StoreError> {
        let record = tx.record(key).await?;
        Ok((
            record,
            tx.shop_facts(key.merchant_pid.as_str(), shop_id).await?,
        ))
    }

    pub async fn use_order_history<T: Tx>(
        tx: &mut T,
        merchant_pid: &str,
        request_id: &str,
    ) -> Result<Option<UseOrderHistory>, StoreError> {
        let Some(order) = tx.use_order(merchant_pid, request_id).await? else {
            return Ok(None);
        };
        let id = &order.use_order_id;
        Ok(Some(UseOrderHistory {
            cancel: tx.cancel_of_use(id).await?,
            trans: tx.use_order_trans(id).await?,
            refunded: tx.refunded_after_use(id).await?,
            given_back: tx.given_back(id).await?,
            order,
        }))
    }
}

/// A call's ticket (locked), its idempotency record, and the shop it names.
pub type LockedFacts = (Option<TicketView>, Option<Record>, Option<ShopFacts>);

/// A transaction as the ledger's operations use it, written once for both backends.
pub trait LedgerTx: Tx {
    /// Applies one effect, in its own statement(s).
    fn apply_effect(
        &mut self,
        effect: &Effect,
        now: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            match effect {
                Effect::Tickets(list) => {
                    if self.insert_tickets(list, now).await?.len() != list.len() {
                        return Err(StoreError::Conflict("tickets (order_no, code)"));
                    }
                    Ok(())
                }
                Effect::Log(rows) => self.insert_logs(rows).await,
                other => {
                    let write = row_write(other, now).expect("a single-statement effect");
                    let rows = self.execute(write.sql, &write.args).await?;
                    write.check.verify(rows)
                }
            }
        }
    }

    /// The ticket a call names, locked, then the idempotency record of the call's request id
    /// and, for a call that names a shop (`shop_id`), that shop. In this order, so that two
    /// nodes racing with the same request id on one ticket see each other's result rather than
    /// both passing the replay check.
    fn locked_ticket_and_record(
        &mut self,
        key: &Key,
        code_type: CodeType,
        code: &str,
        order_no: Option<&str>,
        shop_id: Option<&str>,
    ) -> impl Future<Output = Result<LockedFacts, StoreError>> + Send {
        async move {
            let ticket = self.locked_ticket(code_type, code, order_no).await?;
            let (record, shop) = match shop_id {
                Some(shop_id) => {
                    let (record, shop) = self.record_and_shop(key, shop_id).await?;
                    (record, Some(shop))
                }
                None => (self.record(key).await?, None),
            };
            Ok((ticket, record, shop))
        }
    }

    /// A use's facts: its idempotency record, then (for a well-formed request) the named
    /// ticket (locked), the shop, and the siblings a multi-ticket use of a normal ticket needs.
    fn use_facts(
        &mut self,
        key: &Key,
        req: Option<&UseRequest>,
    ) -> impl Future<Output = Result<UseFacts, StoreError>> + Send {
        async move {
            let Some(req) = req else {
                return Ok(UseFacts {
                    recorded: self.record(key).await?,
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
                    self.locked_siblings(&t.order_no, &t.item_id, &t.voucher_id)
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
    }

    /// A cancel's facts: the named ticket (locked), its idempotency record, the use order named
    /// by `request_biz_no`, whether it was cancelled, its use transactions and their tickets.
    fn cancel_facts(
        &mut self,
        key: &Key,
        req: &CancelRequest,
    ) -> impl Future<Output = Result<CancelLoaded, StoreError>> + Send {
        async move {
            // Concurrent cancels of one ticket run one after the other on every backend, and
            // each sees what the previous one committed.
            let order_no = req.order_no.as_ref().map(|o| o.as_str());
            let (ticket, recorded, _) = self
                .locked_ticket_and_record(
                    key,
                    req.code_type,
                    req.ticket_code.as_str(),
                    order_no,
                    None,
                )
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
                loaded.already_cancelled = h.cancel.is_some() || h.given_back;
                loaded.refunded_use = h.refunded;
                loaded.uses = h
                    .trans
                    .iter()
                    .map(|t| (t.voucher_id.clone(), t.trans_id.clone(), t.quantity))
                    .collect();
                let vouchers: Vec<String> = loaded.uses.iter().map(|u| u.0.clone()).collect();
                loaded.use_tickets = match already_loaded(loaded.ticket.as_ref(), &vouchers) {
                    Some(tickets) => tickets,
                    None => self.locked_tickets_by_voucher(&vouchers).await?,
                };
            }
            loaded.use_order = history.map(|h| h.order);
            Ok(loaded)
        }
    }

    /// A delay's facts: the named ticket (locked) and the idempotency record.
    fn delay_facts(
        &mut self,
        key: &Key,
        req: &DelayRequest,
    ) -> impl Future<Output = Result<DelayFacts, StoreError>> + Send {
        async move {
            let order_no = (req.code_type == CodeType::External).then(|| req.order_no.as_str());
            let (ticket, recorded, _) = self
                .locked_ticket_and_record(
                    key,
                    req.code_type,
                    req.ticket_code.as_str(),
                    order_no,
                    None,
                )
                .await?;
            Ok(DelayFacts { recorded, ticket })
        }
    }

    /// A query's facts: the ticket with its item, and when it exists the shop and its
    /// transactions.
    fn query_facts(
        &mut self,
        merchant_pid: &MerchantPid,
        req: &QueryRequest,
    ) -> impl Future<Output = Result<QueryFacts, StoreError>> + Send {
        async move {
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
    }

    /// Who is calling: the app, and the grant behind an `app_auth_token` given with the call
    /// (the merchant it lets the app act for, and when it expires).
    fn caller_facts(
        &mut self,
        app_id: &str,
        token: Option<&str>,
    ) -> impl Future<Output = Result<CallerFacts, StoreError>> + Send {
        async move {
            let app = self.app(app_id).await?;
            let grant = match token {
                Some(token) => self.token_grant(token, app_id).await?,
                None => None,
            };
            Ok((app, grant))
        }
    }

    /// What issuing tickets needs: the item, and the item of the order if it exists already.
    fn issue_facts(
        &mut self,
        item_id: &str,
        order_no: &str,
    ) -> impl Future<Output = Result<(Option<Item>, Option<String>), StoreError>> + Send {
        async move { Ok((self.item(item_id).await?, self.order_item(order_no).await?)) }
    }

    /// An order with its item, tickets, their transactions and its send order.
    fn order_facts(
        &mut self,
        order_no: &str,
    ) -> impl Future<Output = Result<OrderFacts, StoreError>> + Send {
        async move {
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
    }

    /// The code merchant's app of an item, and that app.
    fn code_merchant(
        &mut self,
        item_id: &str,
    ) -> impl Future<Output = Result<Option<AppRecord>, StoreError>> + Send {
        async move {
            match self.code_merchant_app(item_id).await? {
                Some(app_id) => self.app(&app_id).await,
                None => Ok(None),
            }
        }
    }
}

impl<T: Tx> LedgerTx for T {}

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
