//! The reference model: what every call must answer and what follows, from the published
//! rules alone (docs/protocol.md and the method pages), with no code of `src/ledger/`.
//! Small on purpose — one struct of plain vectors, one function a method — so that it is
//! obviously right; the simulator holds the server to it.

use std::collections::HashMap;

pub const DAY: i64 = 86_400_000;

/// One ticket: an internal code of an issued order, or an external code a code merchant sent.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub code: String,
    pub order_no: String,
    pub external: bool,
    pub card: bool,
    pub total: i64,
    pub available: i64,
    pub refunded: bool,
    pub effect_at: i64,
    pub expire_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Use,
    Cancel,
    Refund,
}

/// A transaction: what changed, and for a reversal the use it names.
#[derive(Debug, Clone)]
pub struct Trans {
    pub id: String,
    pub ticket: usize,
    pub kind: Kind,
    pub quantity: i64,
    pub reverses: Option<String>,
}

/// A use call that was decided (refused ones are closed: answered again, never cancelled).
#[derive(Debug, Clone)]
pub struct UseOrder {
    /// What the use named: its code, code type and order (the simulator's slot).
    pub named: usize,
    pub ticket: usize,
    pub quantity: i64,
    pub closed: bool,
    pub console: bool,
    pub trans: Vec<String>,
    pub cancelled: bool,
}

/// What a call must be answered: `code`, `sub_code`, `biz_code`, and fields that matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub code: String,
    pub sub_code: Option<String>,
    pub biz_code: Option<String>,
    pub fields: Vec<(&'static str, String)>,
}

impl Expected {
    pub fn ok() -> Expected {
        Expected {
            code: "10000".into(),
            sub_code: None,
            biz_code: None,
            fields: vec![],
        }
    }
    pub fn refused(sub_code: &str) -> Expected {
        Expected {
            code: "40004".into(),
            sub_code: Some(sub_code.into()),
            ..Expected::ok()
        }
    }
    pub fn lost() -> Expected {
        Expected {
            code: "20000".into(),
            sub_code: Some("isp.unknow-error".into()),
            ..Expected::ok()
        }
    }
    fn replayed(mut self) -> Expected {
        if self.code == "10000" {
            self.biz_code = Some("BIZ_ALREADY_SUCCESS".into());
        }
        self
    }
    fn with(mut self, key: &'static str, value: impl ToString) -> Expected {
        self.fields.push((key, value.to_string()));
        self
    }
}

/// The send order of the code merchant's order.
#[derive(Debug, Clone)]
pub struct SendOrder {
    pub order_no: String,
    pub quantity: i64,
    pub sent: i64,
    pub closed: bool,
}

/// The model's whole state.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub tickets: Vec<Ticket>,
    pub trans: Vec<Trans>,
    pub use_orders: HashMap<String, UseOrder>,
    /// (method, request_id) → (fingerprint, the answer that is replayed).
    pub records: HashMap<(&'static str, String), (String, Expected)>,
    pub send: Option<SendOrder>,
    /// The merchant's clock ahead of real time.
    pub offset: i64,
    /// Notifications queued: one per use, per cancel, per sync effect.
    pub notifications: usize,
    next_id: usize,
}

impl Model {
    /// A transaction's id in the model (the simulator maps it to the server's).
    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("model-{}", self.next_id)
    }

    pub fn status(&self, i: usize, shop_known: bool, now: i64) -> &'static str {
        let t = &self.tickets[i];
        if t.refunded {
            "REFUNDED"
        } else if t.available == 0 {
            "USED"
        } else if now < t.effect_at || now > t.expire_at || !shop_known {
            "UN_EFFECTIVE"
        } else {
            "EFFECTIVE"
        }
    }

    fn replay(&self, method: &'static str, rid: &str, fp: &str) -> Option<Expected> {
        let (recorded, answer) = self.records.get(&(method, rid.to_string()))?;
        Some(if recorded == fp {
            answer.clone().replayed()
        } else {
            Expected::refused("REQUEST_ID_REPEAT")
        })
    }

    fn record(&mut self, method: &'static str, rid: &str, fp: String, answer: &Expected) {
        self.records
            .insert((method, rid.to_string()), (fp, answer.clone()));
    }

    /// A success, recorded for replays.
    fn answered(&mut self, method: &'static str, rid: &str, fp: String) -> Expected {
        let answer = Expected::ok();
        self.record(method, rid, fp, &answer);
        answer
    }

    /// The send order's checks a send and a close share: the token, then open.
    fn send_order_open(&self, good_token: bool) -> Result<SendOrder, Expected> {
        let send = self.send.clone().expect("the simulation has a send order");
        if !good_token {
            return Err(Expected::refused("INVALID_PARAMETER"));
        }
        if send.closed {
            return Err(Expected::refused("SEND_ORDER_CLOSED"));
        }
        Ok(send)
    }

    /// A use: its checks in order — ticket, state, quantity, validity, shop, the order's other
    /// tickets for a quantity on a normal ticket. A refused use is recorded (a closed use
    /// order); a success makes a USE per ticket it takes and one notification.
    #[allow(clippy::too_many_arguments)]
    pub fn use_(
        &mut self,
        rid: &str,
        named: usize,
        ticket: Option<usize>,
        fp: String,
        shop_known: bool,
        quantity: Option<i64>,
        now: i64,
        console: bool,
    ) -> Expected {
        if !console && let Some(replayed) = self.replay("use", rid, &fp) {
            return replayed;
        }
        let decided = self.decide_use(ticket, shop_known, quantity, now);
        match decided {
            Err(sub_code) => {
                let refused = Expected::refused(sub_code);
                self.record("use", rid, fp, &refused);
                self.use_orders.insert(
                    rid.to_string(),
                    UseOrder {
                        named,
                        ticket: ticket.unwrap_or(usize::MAX),
                        quantity: quantity.unwrap_or(0),
                        closed: true,
                        console,
                        trans: vec![],
                        cancelled: false,
                    },
                );
                refused
            }
            Ok(units) => {
                let mut trans = vec![];
                for (i, q) in &units {
                    let id = self.id();
                    self.tickets[*i].available -= q;
                    self.trans.push(Trans {
                        id: id.clone(),
                        ticket: *i,
                        kind: Kind::Use,
                        quantity: *q,
                        reverses: None,
                    });
                    trans.push(id);
                }
                let i_named = ticket.expect("a use that passes names a ticket");
                let quantity = units.iter().map(|u| u.1).sum();
                self.use_orders.insert(
                    rid.to_string(),
                    UseOrder {
                        named,
                        ticket: i_named,
                        quantity,
                        closed: false,
                        console,
                        trans,
                        cancelled: false,
                    },
                );
                if !console {
                    self.notifications += 1;
                }
                let answer = Expected::ok().with("ticket_code", &self.tickets[i_named].code);
                self.record("use", rid, fp, &answer);
                answer
            }
        }
    }

    fn decide_use(
        &self,
        ticket: Option<usize>,
        shop_known: bool,
        quantity: Option<i64>,
        now: i64,
    ) -> Result<Vec<(usize, i64)>, &'static str> {
        let i = ticket.ok_or("TICKET_NOT_EXIST")?;
        let t = &self.tickets[i];
        if t.refunded || t.available == 0 {
            return Err("TICKET_STATUS_ILLEGAL");
        }
        let q = if t.card {
            let q = quantity.ok_or("INVALID_PARAMETER")?;
            if q > t.available {
                return Err("QUANTITY_NOT_ENOUGH");
            }
            q
        } else {
            quantity.unwrap_or(1)
        };
        if now < t.effect_at || now > t.expire_at {
            return Err("TICKET_NOT_EFFECTIVE");
        }
        if !shop_known {
            return Err("SHOP_NOT_MATCH");
        }
        if t.card {
            return Ok(vec![(i, q)]);
        }
        // A normal ticket and a quantity: the order's other usable tickets, in code order.
        let mut siblings: Vec<usize> = (0..self.tickets.len())
            .filter(|&j| {
                let s = &self.tickets[j];
                j != i
                    && s.order_no == t.order_no
                    && !s.card
                    && !s.refunded
                    && s.available > 0
                    && s.effect_at <= now
                    && now <= s.expire_at
            })
            .collect();
        siblings.sort_by(|a, b| self.tickets[*a].code.cmp(&self.tickets[*b].code));
        let mut units = vec![(i, 1)];
        units.extend(
            siblings
                .into_iter()
                .take((q - 1).max(0) as usize)
                .map(|j| (j, 1)),
        );
        if (units.len() as i64) < q {
            return Err("QUANTITY_NOT_ENOUGH");
        }
        Ok(units)
    }

    /// A cancel of the use `of`: the named ticket must be that use's; a closed, console-made,
    /// already cancelled or given-back use is refused; the quantity must match; a refunded
    /// ticket or use cannot come back. A success names every use transaction it reverses.
    pub fn cancel(
        &mut self,
        rid: &str,
        of: &str,
        named: usize,
        ticket: Option<usize>,
        fp: String,
        quantity: Option<i64>,
    ) -> Expected {
        if let Some(replayed) = self.replay("cancel", rid, &fp) {
            return replayed;
        }
        let Some(i) = ticket else {
            return Expected::refused("USE_BIZ_ORDER_NOT_EXIST");
        };
        let Some(order) = self.use_orders.get(of).cloned() else {
            return Expected::refused("USE_BIZ_ORDER_NOT_EXIST");
        };
        if order.named != named {
            return Expected::refused("USE_BIZ_ORDER_NOT_EXIST");
        }
        if order.closed {
            return Expected::refused("USE_BIZ_ORDER_CLOSE");
        }
        if order.ticket != i {
            return Expected::refused("USE_BIZ_ORDER_NOT_EXIST");
        }
        if order.console {
            return Expected::refused("USE_CHANNEL_NOT_EQUAL");
        }
        let reversed = |m: &Model, kind: Kind| {
            m.trans.iter().any(|t| {
                t.kind == kind && t.reverses.as_ref().is_some_and(|r| order.trans.contains(r))
            })
        };
        if order.cancelled || reversed(self, Kind::Cancel) {
            return Expected::refused("REPEAT_CANCEL");
        }
        match quantity {
            None if self.tickets[i].card => return Expected::refused("INVALID_PARAMETER"),
            Some(q) if q != order.quantity => return Expected::refused("INVALID_PARAMETER"),
            _ => {}
        }
        let touched: Vec<usize> = order
            .trans
            .iter()
            .filter_map(|id| self.trans.iter().find(|t| &t.id == id))
            .map(|t| t.ticket)
            .collect();
        if touched.iter().any(|&j| self.tickets[j].refunded) || reversed(self, Kind::Refund) {
            return Expected::refused("TICKET_STATUS_ILLEGAL");
        }
        for id in &order.trans {
            let used = self
                .trans
                .iter()
                .find(|t| &t.id == id)
                .cloned()
                .expect("a use order's transaction");
            self.tickets[used.ticket].available += used.quantity;
            let cancel = Trans {
                id: self.id(),
                ticket: used.ticket,
                kind: Kind::Cancel,
                quantity: used.quantity,
                reverses: Some(used.id),
            };
            self.trans.push(cancel);
        }
        self.use_orders.get_mut(of).expect("present").cancelled = true;
        self.notifications += 1;
        self.answered("cancel", rid, fp)
    }

    /// A refund after use of the transaction `trans_id`: it must be a use of the ticket that
    /// still stands (nothing reversed it). A normal ticket becomes REFUNDED.
    pub fn refund(
        &mut self,
        rid: &str,
        ticket: Option<usize>,
        trans_id: &str,
        fp: String,
    ) -> Expected {
        if let Some(replayed) = self.replay("refund", rid, &fp) {
            return replayed;
        }
        let Some(i) = ticket else {
            return Expected::refused("TICKET_NOT_EXIST");
        };
        let Some(used) = self
            .trans
            .iter()
            .find(|t| t.id == trans_id && t.kind == Kind::Use && t.ticket == i)
            .cloned()
        else {
            return Expected::refused("USE_BIZ_ORDER_NOT_EXIST");
        };
        if self
            .trans
            .iter()
            .any(|t| t.reverses.as_deref() == Some(trans_id))
        {
            return Expected::refused("TICKET_STATUS_ILLEGAL");
        }
        let id = self.id();
        self.trans.push(Trans {
            id,
            ticket: i,
            kind: Kind::Refund,
            quantity: used.quantity,
            reverses: Some(used.id),
        });
        if !self.tickets[i].card {
            self.tickets[i].refunded = true;
        }
        self.answered("refund", rid, fp)
    }

    /// A delay to `end_at`: the order must hold the ticket; a used-up or refunded ticket is
    /// refused; the date must be later than both now and the ticket's expiry.
    pub fn delay(
        &mut self,
        rid: &str,
        ticket: Option<usize>,
        end_at: i64,
        fp: String,
        now: i64,
    ) -> Expected {
        if let Some(replayed) = self.replay("delay", rid, &fp) {
            return replayed;
        }
        let Some(i) = ticket else {
            return Expected::refused("TICKET_NOT_EXIST");
        };
        let t = &self.tickets[i];
        if t.refunded || t.available == 0 {
            return Expected::refused("TICKET_STATUS_ILLEGAL");
        }
        if end_at <= now.max(t.expire_at) {
            return Expected::refused("INVALID_PARAMETER");
        }
        self.tickets[i].expire_at = end_at;
        self.answered("delay", rid, fp)
    }

    pub fn query(&self, ticket: Option<usize>, shop_known: bool, now: i64) -> Expected {
        let Some(i) = ticket else {
            return Expected::refused("TICKET_NOT_EXIST");
        };
        let t = &self.tickets[i];
        Expected::ok()
            .with("ticket_status", self.status(i, shop_known, now))
            .with("available_quantity", t.available)
            .with("total_quantity", t.total)
    }

    /// An order's status: PAY while a ticket can be used or codes are awaited; else FINISH
    /// when a unit was used (and not given back); else CLOSE.
    pub fn order_query(&self, order_no: &str, now: i64) -> Expected {
        let tickets: Vec<usize> = (0..self.tickets.len())
            .filter(|&i| self.tickets[i].order_no == order_no)
            .collect();
        let send = self.send.as_ref().filter(|s| s.order_no == order_no);
        if tickets.is_empty() && send.is_none() {
            return Expected::refused("ORDER_NOT_EXIST");
        }
        let usable = tickets.iter().any(|&i| {
            let t = &self.tickets[i];
            !t.refunded && t.available > 0 && now <= t.expire_at
        });
        let awaiting = send.is_some_and(|s| !s.closed && s.sent < s.quantity);
        let used_any = tickets.iter().any(|&i| self.used_units(i) > 0);
        let status = if usable || awaiting {
            "PAY"
        } else if used_any {
            "FINISH"
        } else {
            "CLOSE"
        };
        let used: i64 = tickets.iter().map(|&i| self.used_units(i)).sum();
        Expected::ok()
            .with("status", status)
            .with("ticket_used_count", used)
    }

    /// Units used and not given back (a refund after use leaves them used).
    pub fn used_units(&self, i: usize) -> i64 {
        self.trans
            .iter()
            .filter(|t| t.ticket == i)
            .map(|t| match t.kind {
                Kind::Use => t.quantity,
                Kind::Cancel => -t.quantity,
                Kind::Refund => 0,
            })
            .sum()
    }

    /// The code merchant sends `codes` (code, num): the send order's checks, then no code the
    /// order holds, then no more codes than it awaits. The codes become tickets.
    pub fn send_codes(
        &mut self,
        rid: &str,
        codes: &[(String, i64)],
        good_token: bool,
        fp: String,
        window: (i64, i64),
    ) -> Expected {
        if let Some(replayed) = self.replay("send", rid, &fp) {
            return replayed;
        }
        let send = match self.send_order_open(good_token) {
            Ok(send) => send,
            Err(refused) => return refused,
        };
        if codes
            .iter()
            .any(|(c, _)| self.tickets.iter().any(|t| t.external && &t.code == c))
        {
            return Expected::refused("INVALID_PARAMETER");
        }
        if codes.len() as i64 > send.quantity - send.sent {
            return Expected::refused("INVALID_PARAMETER");
        }
        for (code, num) in codes {
            self.tickets.push(Ticket {
                code: code.clone(),
                order_no: send.order_no.clone(),
                external: true,
                card: *num > 1,
                total: *num,
                available: *num,
                refunded: false,
                effect_at: window.0,
                expire_at: window.1,
            });
        }
        self.send.as_mut().expect("present").sent += codes.len() as i64;
        self.answered("send", rid, fp)
    }

    /// Whether a use would pass: the send order's checks, then a use's, for the code merchant.
    pub fn check(
        &self,
        ticket: Option<usize>,
        good_token: bool,
        shop_known: bool,
        quantity: Option<i64>,
        now: i64,
    ) -> Expected {
        if !good_token {
            return Expected::refused("INVALID_PARAMETER");
        }
        match self.decide_use(ticket, shop_known, quantity, now) {
            Ok(_) => Expected::ok(),
            Err(sub_code) => Expected::refused(sub_code),
        }
    }

    /// The code merchant reports `quantity` units still usable: fewer is a USE of the
    /// difference; more gives units back, reversing the newest uses that still stand, each
    /// cancel naming its use; more than those hold is refused.
    pub fn sync(
        &mut self,
        rid: &str,
        ticket: Option<usize>,
        quantity: i64,
        fp: String,
    ) -> Expected {
        if let Some(replayed) = self.replay("sync", rid, &fp) {
            return replayed;
        }
        let Some(i) = ticket else {
            return Expected::refused("TICKET_NOT_EXIST");
        };
        let t = self.tickets[i].clone();
        if t.refunded {
            return Expected::refused("TICKET_STATUS_ILLEGAL");
        }
        if quantity > t.total {
            return Expected::refused("INVALID_PARAMETER");
        }
        let diff = t.available - quantity;
        if diff > 0 {
            let id = self.id();
            self.trans.push(Trans {
                id: id.clone(),
                ticket: i,
                kind: Kind::Use,
                quantity: diff,
                reverses: None,
            });
            self.tickets[i].available -= diff;
            self.notifications += 1;
        } else if diff < 0 {
            let mut left = -diff;
            let mut plan = vec![];
            for used in self
                .trans
                .iter()
                .rev()
                .filter(|u| u.ticket == i && u.kind == Kind::Use)
            {
                if left == 0 {
                    break;
                }
                let against = self
                    .trans
                    .iter()
                    .filter(|r| r.reverses.as_deref() == Some(&*used.id));
                if against.clone().any(|r| r.kind == Kind::Refund) {
                    continue;
                }
                let given_back: i64 = against.map(|r| r.quantity).sum();
                let units = (used.quantity - given_back).min(left);
                if units > 0 {
                    plan.push((used.id.clone(), units));
                    left -= units;
                }
            }
            if left > 0 {
                return Expected::refused("INVALID_PARAMETER");
            }
            for (use_id, units) in plan {
                let id = self.id();
                self.trans.push(Trans {
                    id,
                    ticket: i,
                    kind: Kind::Cancel,
                    quantity: units,
                    reverses: Some(use_id),
                });
                self.tickets[i].available += units;
                self.notifications += 1;
            }
        }
        self.answered("sync", rid, fp)
    }

    /// The code merchant closes its send order: the codes never sent are refunded.
    pub fn close(&mut self, rid: &str, good_token: bool, fp: String) -> Expected {
        if let Some(replayed) = self.replay("close", rid, &fp) {
            return replayed;
        }
        if let Err(refused) = self.send_order_open(good_token) {
            return refused;
        }
        self.send.as_mut().expect("present").closed = true;
        self.answered("close", rid, fp)
    }

    /// The operator refunds a whole ticket: REFUNDED, with nothing left.
    pub fn admin_refund(&mut self, i: usize) -> Result<(), String> {
        if self.tickets[i].refunded {
            return Err("refunded already".into());
        }
        let remaining = self.tickets[i].available;
        let id = self.id();
        self.trans.push(Trans {
            id,
            ticket: i,
            kind: Kind::Refund,
            quantity: remaining,
            reverses: None,
        });
        self.tickets[i].available = 0;
        self.tickets[i].refunded = true;
        Ok(())
    }
}
