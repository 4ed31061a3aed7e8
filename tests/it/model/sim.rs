//! The simulator: seeded random sequences of every gateway method (use, cancel, query, delay,
//! refund, order query, and the code merchant's send, checkavailable, sync, close) and the
//! admin writes (a console use, a whole-ticket refund, a clock moved, faults before and after
//! the commit), over normal tickets and a times card, internal and external codes, with
//! replays and conflicting request ids, sent over HTTP to a real server (SQLite, or
//! PostgreSQL in the suite's PostgreSQL leg). Every answer is compared with the model's, and
//! after every step the invariants are checked on what the server stored: units conserved,
//! every reversal names a use of its ticket and no unit is given back twice, the server's
//! books equal the model's, one notification per effect. A failing sequence is shrunk to the
//! shortest that still fails, written to `target/model-failure.json` and printed with the
//! command that replays it.
//!
//! `MODEL_STEPS=N MODEL_SEED=S cargo nextest run -E 'test(model::)'` runs longer or another
//! seed; `MODEL_REPLAY=FILE` runs a saved sequence; `MODEL_NO_SHRINK=1` reports the first
//! failure as it is (its whole stretch in `target/model-failure-unshrunk.json`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use ticketgate::alipay::{Charset, SignType, time};
use ticketgate::operations::admin;
use ticketgate::store::{FaultRow, op};

use super::reference::{DAY, Expected, Kind, Model, SendOrder, Ticket};
use crate::helpers::*;

const CM: &str = "2021000000000077";
const CM_ITEM: &str = "item-model-cm";
const NOTIFY: &str = "http://127.0.0.1:9/notify";
/// The external codes the code merchant may send, and the units of each.
pub(super) const POOL: [(&str, i64); 4] = [
    ("EXT0001", 1),
    ("EXT0002", 1),
    ("EXT0003", 4),
    ("EXT0004", 1),
];
/// Internal tickets: three of one order, one of another, a 10-use times card.
pub(super) const INTERNAL: usize = 5;
pub(super) const SLOTS: usize = INTERNAL + POOL.len();

/// One step, symbolic: tickets are slots, request ids numbers, a refund names the n-th use
/// of its ticket in the model — so that a step means the same after shrinking.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Step {
    Use {
        rid: u16,
        slot: u8,
        shop: u8,
        quantity: Option<u8>,
    },
    Cancel {
        rid: u16,
        of: u16,
        slot: u8,
        quantity: Option<u8>,
    },
    Query {
        slot: u8,
        shop: u8,
    },
    Delay {
        rid: u16,
        slot: u8,
        days: i16,
    },
    Refund {
        rid: u16,
        slot: u8,
        nth: u8,
    },
    OrderQuery {
        slot: u8,
    },
    Send {
        rid: u16,
        codes: Vec<u8>,
        good_token: bool,
    },
    Check {
        slot: u8,
        shop: u8,
        quantity: Option<u8>,
        good_token: bool,
    },
    Sync {
        rid: u16,
        slot: u8,
        quantity: u8,
    },
    Close {
        rid: u16,
        good_token: bool,
    },
    ConsoleUse {
        slot: u8,
        quantity: Option<u8>,
    },
    AdminRefund {
        slot: u8,
    },
    Clock {
        days: u16,
    },
    Fault {
        cancel: bool,
        after_commit: bool,
    },
    /// Two gateway calls made at the same moment (on two nodes when there are two).
    Together(Box<Step>, Box<Step>),
}

/// splitmix64: small, seeded, enough for choosing steps.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The server under test and what the simulation knows of it.
pub(super) struct World {
    pub(super) app: TestApp,
    pub(super) model: Model,
    /// Slot → the model's ticket index, once the ticket exists.
    pub(super) slots: [Option<usize>; SLOTS],
    pub(super) codes: [String; SLOTS],
    pub(super) orders: [String; SLOTS],
    send_no: String,
    token: String,
    /// The model's transaction ids → the server's.
    pub(super) ids: HashMap<String, String>,
    /// Faults armed and not yet spent, oldest first: (on cancel, after the commit).
    pub(super) faults: Vec<(bool, bool)>,
    /// The merchant's app and the code merchant's, each one client (one connection pool).
    clients: [ticketgate::client::Client; 2],
    /// How often each method was answered each way (`use 10000`, `sync 40004 INVALID_PARAMETER`).
    pub(super) tally: std::collections::BTreeMap<String, usize>,
    /// How `call` answers: over HTTP, or (for two calls made at once) by recording the
    /// request, or with an answer already received.
    mode: std::sync::Mutex<Mode>,
    /// The second node on the same database (PostgreSQL) and its two clients.
    pub(super) other: Option<(TestApp, [ticketgate::client::Client; 2])>,
    /// After two calls made at once: the other order's model, when its answers held too.
    pub(super) alternatives: Vec<(Model, [Option<usize>; SLOTS])>,
    /// The model and slots as set up, for `reset`.
    start: (Model, [Option<usize>; SLOTS]),
}

fn slot_code_type(slot: usize) -> &'static str {
    if slot >= INTERNAL {
        "EXTERNAL_CODE"
    } else {
        "INTERNAL_CODE"
    }
}

pub(super) async fn world() -> World {
    let app = TestApp::spawn().await;
    let s = app.service();
    add_code_merchant(&app, CM, CM_ITEM, Some(NOTIFY)).await;
    let mut codes: Vec<String> = app.issue(NORMAL, 3).await;
    codes.push(app.issue_one(NORMAL).await);
    codes.push(app.issue_one(CARD).await);
    let awaiting = admin::issue_order(s, CM_ITEM, 3, None, None).await.unwrap();
    let text = |k: &str| awaiting[k].as_str().unwrap().to_string();
    let mut model = Model::default();
    model.send = Some(SendOrder {
        order_no: text("order_no"),
        quantity: 3,
        sent: 0,
        closed: false,
    });
    let mut slots = [None; SLOTS];
    let mut orders: [String; SLOTS] = Default::default();
    for (i, code) in codes.iter().enumerate() {
        let shown = admin::ticket_show(s, code, None).await.unwrap();
        let at = |k: &str| time::parse(shown[k].as_str().unwrap()).unwrap();
        orders[i] = shown["order_no"].as_str().unwrap().to_string();
        let total: i64 = shown["total_quantity"].as_str().unwrap().parse().unwrap();
        model.tickets.push(Ticket {
            code: code.clone(),
            order_no: orders[i].clone(),
            external: false,
            card: total > 1,
            total,
            available: total,
            refunded: false,
            effect_at: at("effect_date"),
            expire_at: at("expire_date"),
        });
        slots[i] = Some(i);
    }
    let mut all_codes: [String; SLOTS] = Default::default();
    for i in 0..SLOTS {
        all_codes[i] = if i < INTERNAL {
            codes[i].clone()
        } else {
            POOL[i - INTERNAL].0.to_string()
        };
        if i >= INTERNAL {
            orders[i] = text("order_no");
        }
    }
    // The send order's own notification (to the code merchant) is queued already.
    let listed = admin::notify_list(s, None).await.unwrap();
    model.notifications = listed["notifications"].as_array().map_or(0, Vec::len);
    admin::snapshot_save(s, "model_start").await.unwrap();
    // PostgreSQL: a second node on the same database, for calls made at once on both.
    let other = match &app.database_url {
        Some(url) => {
            let dir = tempfile::tempdir().expect("a temporary folder");
            let mut b = TestApp::unstarted(TestApp::default_limits(), dir, Some(url.clone()));
            b.start("127.0.0.1:0").await;
            let clients = [
                b.client_for(A1, SignType::Rsa2, Charset::Utf8),
                b.client_for(CM, SignType::Rsa2, Charset::Utf8),
            ];
            Some((b, clients))
        }
        None => None,
    };
    let start = (model.clone(), slots);
    let clients = [
        app.client_for(A1, SignType::Rsa2, Charset::Utf8),
        app.client_for(CM, SignType::Rsa2, Charset::Utf8),
    ];
    World {
        app,
        model,
        slots,
        codes: all_codes,
        orders,
        send_no: text("send_order_no"),
        token: text("send_token"),
        ids: HashMap::new(),
        faults: vec![],
        tally: Default::default(),
        mode: std::sync::Mutex::new(Mode::Live),
        alternatives: Vec::new(),
        other,
        start,
        clients,
    }
}

const SHOPS: [&str; 3] = [SHOP, SHOP2, "shop-nowhere"];

/// What `World::call` does with a request.
/// A request built from the model's state (a delay's date, a refund's transaction) is
/// pinned when captured, so that the model is held to the request that was sent.
enum Mode {
    Live,
    Capture(Vec<(String, String, Value)>, Vec<String>),
    Given(Option<Value>, Vec<String>),
}

const CAPTURED: &str = "captured";

impl World {
    /// `value`, or when replaying an answer received, the value its request was built with.
    fn pin(&self, value: String) -> String {
        match &mut *self.mode.lock().unwrap() {
            Mode::Live => value,
            Mode::Capture(_, pins) => {
                pins.push(value.clone());
                value
            }
            Mode::Given(_, pins) if !pins.is_empty() => pins.remove(0),
            Mode::Given(..) => value,
        }
    }

    /// A write to the sandbox's rows (a restore, a clock, a fault), read at once by every
    /// node: as the admin command does, less its wait for other nodes' next refresh.
    async fn sandbox_write<O>(&self, op: O) -> Result<O::Output, String>
    where
        O: ticketgate::store::Operation + Send + 'static,
        O::Output: Send + 'static,
    {
        let svc = self.app.service();
        let out = svc.store.write(op).await.map_err(|e| e.to_string())?;
        let others = self.other.iter().map(|(b, _)| b.service());
        for svc in std::iter::once(svc).chain(others) {
            svc.sandbox
                .refresh(&svc.store)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(out)
    }

    /// Two steps' calls made at the same moment — on the two nodes when there are two — and
    /// each answer held to the model in one order or the other: one of them must hold both.
    pub(super) async fn together(&mut self, a: &Step, b: &Step) -> Result<(), String> {
        let mut requests = Vec::new();
        // Capturing runs each step's bookkeeping (a pending fault is taken): the faults as they
        // were are given back to each order tried below.
        let faults = self.faults.clone();
        for step in [a, b] {
            *self.mode.lock().unwrap() = Mode::Capture(Vec::new(), Vec::new());
            let captured = self.step(step).await;
            let Mode::Capture(mut calls, pins) =
                std::mem::replace(&mut *self.mode.lock().unwrap(), Mode::Live)
            else {
                unreachable!()
            };
            match (captured, calls.pop()) {
                (Err(e), Some(call)) if e == CAPTURED => requests.push((call, pins)),
                (other, _) => {
                    return Err(format!(
                        "{step:?} is not a gateway call to make at once: {other:?}"
                    ));
                }
            }
        }
        let client = |node: usize, app: &str| {
            let pair = match (&self.other, node) {
                (Some((_, clients)), 1) => clients,
                _ => &self.clients,
            };
            &pair[usize::from(app == CM)]
        };
        let (ra, rb) = (&requests[0].0, &requests[1].0);
        let (ba, bb) = (ra.2.to_string(), rb.2.to_string());
        let extra = [("notify_url", NOTIFY)];
        let (na, nb) = tokio::join!(
            client(0, &ra.0).call(&ra.1, &ba, &extra),
            client(1, &rb.0).call(&rb.1, &bb, &extra)
        );
        let mut nodes = Vec::new();
        for (reply, step) in [(na, a), (nb, b)] {
            let reply = reply.map_err(|e| format!("{step:?}: no answer: {e}"))?;
            if !reply.verified {
                return Err(format!(
                    "{step:?}: the answer's signature does not verify: {}",
                    reply.body
                ));
            }
            nodes.push(reply.node);
        }
        let nodes_used = if self.other.is_some() {
            "two nodes"
        } else {
            "one node"
        };
        *self
            .tally
            .entry(format!("(two calls at once, on {nodes_used})"))
            .or_default() += 1;
        let before = (self.model.clone(), self.slots);
        let mut tried = Vec::new();
        // Both orders may answer alike and leave different books (a sync's report against a
        // use): every order whose answers hold is kept, and the books decide (`alternatives`).
        let mut held_in = Vec::new();
        for order in [[0, 1], [1, 0]] {
            (self.model, self.slots) = before.clone();
            self.faults = faults.clone();
            let mut held = Ok(());
            for i in order {
                *self.mode.lock().unwrap() =
                    Mode::Given(Some(nodes[i].clone()), requests[i].1.clone());
                held = held.and(self.step([a, b][i]).await);
            }
            *self.mode.lock().unwrap() = Mode::Live;
            match held {
                Ok(()) => held_in.push((self.model.clone(), self.slots, self.faults.clone())),
                Err(why) => tried.push(why),
            }
        }
        if held_in.is_empty() {
            return Err(format!(
                "made at once, in neither order the model's: {tried:?}"
            ));
        }
        (self.model, self.slots, self.faults) = held_in.remove(0);
        self.alternatives = held_in.into_iter().map(|(m, s, _)| (m, s)).collect();
        Ok(())
    }
    /// Back to the state after set-up: a snapshot restore (a fresh server costs a key pair).
    pub(super) async fn reset(&mut self) {
        self.sandbox_write(op!(|tx| -> Option<i64> {
            tx.restore_snapshot("model_start").await
        }))
        .await
        .unwrap();
        (self.model, self.slots) = self.start.clone();
        self.ids.clear();
        self.faults.clear();
    }

    fn now(&self) -> i64 {
        ticketgate::clock::system_now_ms() + self.model.offset
    }

    async fn call(&self, app_id: &str, method: &str, biz: Value) -> Result<Value, String> {
        match &mut *self.mode.lock().unwrap() {
            Mode::Live => {}
            Mode::Capture(calls, _) => {
                calls.push((app_id.to_string(), method.to_string(), biz));
                return Err(CAPTURED.into());
            }
            Mode::Given(node, _) => return node.take().ok_or_else(|| "one answer per step".into()),
        }
        let client = &self.clients[usize::from(app_id == CM)];
        let reply = client
            .call(method, &biz.to_string(), &[("notify_url", NOTIFY)])
            .await
            .map_err(|e| format!("{method}: no answer: {e}"))?;
        if !reply.verified {
            return Err(format!(
                "{method}: the answer's signature does not verify: {}",
                reply.body
            ));
        }
        Ok(reply.node)
    }

    /// The pending fault of the method, if any: it applies to this call and is spent.
    fn take_fault(&mut self, cancel: bool) -> Option<bool> {
        let at = self.faults.iter().position(|(c, _)| *c == cancel)?;
        Some(self.faults.remove(at).1)
    }

    fn with_fault(fault: Option<bool>, decide: impl FnOnce() -> Expected) -> Expected {
        match fault {
            Some(false) => Expected::refused("SYSTEM_ERROR"),
            Some(true) => {
                decide();
                Expected::lost()
            }
            None => decide(),
        }
    }

    fn ticket_biz(&self, slot: usize) -> Value {
        let mut biz = json!({"ticket_code": self.codes[slot], "code_type": slot_code_type(slot)});
        if slot >= INTERNAL {
            biz["order_no"] = self.orders[slot].clone().into();
        }
        biz
    }

    /// Runs one step: the call, the model's answer, the comparison. `Err` is a failure.
    pub(super) async fn step(&mut self, step: &Step) -> Result<(), String> {
        if let Step::Together(a, b) = step {
            return Box::pin(self.together(a, b)).await;
        }
        let now = self.now();
        let (expected, node) = match step {
            Step::Together(..) => unreachable!("made at once above"),
            Step::Use {
                rid,
                slot,
                shop,
                quantity,
            } => {
                let slot = *slot as usize;
                let mut biz = self.ticket_biz(slot);
                biz["request_id"] = format!("u{rid}").into();
                biz["shop_id"] = SHOPS[*shop as usize].into();
                if let Some(q) = quantity {
                    biz["quantity"] = q.to_string().into();
                }
                let fp = format!("{}|{}|{:?}", slot, shop, quantity);
                let fault = self.take_fault(false);
                let node = self.call(A1, USE, biz).await?;
                let ticket = self.slots[slot];
                let m = &mut self.model;
                let e = World::with_fault(fault, || {
                    m.use_(
                        &format!("u{rid}"),
                        slot,
                        ticket,
                        fp,
                        *shop < 2,
                        quantity.map(i64::from),
                        now,
                        false,
                    )
                });
                (e, node)
            }
            Step::Cancel {
                rid,
                of,
                slot,
                quantity,
            } => {
                let slot = *slot as usize;
                let mut biz = self.ticket_biz(slot);
                biz["request_id"] = format!("c{rid}").into();
                biz["request_biz_no"] = format!("u{of}").into();
                if let Some(q) = quantity {
                    biz["quantity"] = q.to_string().into();
                }
                let fp = format!("{of}|{slot}|{quantity:?}");
                let fault = self.take_fault(true);
                let node = self.call(A1, CANCEL, biz).await?;
                let ticket = self.slots[slot];
                let m = &mut self.model;
                let e = World::with_fault(fault, || {
                    m.cancel(
                        &format!("c{rid}"),
                        &format!("u{of}"),
                        slot,
                        ticket,
                        fp,
                        quantity.map(i64::from),
                    )
                });
                (e, node)
            }
            Step::Query { slot, shop } => {
                let slot = *slot as usize;
                let mut biz = self.ticket_biz(slot);
                biz["shop_id"] = SHOPS[*shop as usize].into();
                let node = self.call(A1, QUERY, biz).await?;
                // The query takes internal codes only (its request has no code type).
                let e = if slot >= INTERNAL {
                    Expected::refused("INVALID_PARAMETER")
                } else {
                    self.model.query(self.slots[slot], *shop < 2, now)
                };
                (e, node)
            }
            Step::Delay { rid, slot, days } => {
                let slot = *slot as usize;
                let ticket = self.slots[slot];
                let base = ticket.map_or(now, |i| self.model.tickets[i].expire_at);
                // Whole seconds: the date travels as text.
                let end_at = (base + *days as i64 * DAY) / 1000 * 1000;
                let end_at: i64 = self.pin(end_at.to_string()).parse().expect("a pinned date");
                let mut biz = self.ticket_biz(slot);
                biz["request_id"] = format!("d{rid}").into();
                biz["order_no"] = self.orders[slot].clone().into();
                biz["end_date"] = time::format(end_at).into();
                let node = self.call(A1, DELAY, biz).await?;
                let fp = format!("{slot}|{end_at}");
                (
                    self.model
                        .delay(&format!("d{rid}"), ticket, end_at, fp, now),
                    node,
                )
            }
            Step::Refund { rid, slot, nth } => {
                let slot = *slot as usize;
                let ticket = self.slots[slot];
                let uses: Vec<String> = self
                    .model
                    .trans
                    .iter()
                    .filter(|t| Some(t.ticket) == ticket && t.kind == Kind::Use)
                    .map(|t| t.id.clone())
                    .collect();
                let model_id = uses
                    .get(*nth as usize % uses.len().max(1))
                    .cloned()
                    .unwrap_or_else(|| "none".into());
                let server_id = self
                    .ids
                    .get(&model_id)
                    .cloned()
                    .unwrap_or_else(|| "202001010000000000000000".into());
                let (model_id, server_id) = (self.pin(model_id), self.pin(server_id));
                let biz = json!({"request_id": format!("r{rid}"), "ticket_code": self.codes[slot], "trans_id": server_id});
                let node = self.call(A1, REFUND, biz).await?;
                let fp = format!("{slot}|{server_id}");
                // An external code is found through the transaction it names.
                let found = if slot >= INTERNAL {
                    ticket.filter(|i| {
                        self.model
                            .trans
                            .iter()
                            .any(|t| t.id == model_id && t.ticket == *i)
                    })
                } else {
                    ticket
                };
                (
                    self.model.refund(&format!("r{rid}"), found, &model_id, fp),
                    node,
                )
            }
            Step::OrderQuery { slot } => {
                let order = self.orders[*slot as usize].clone();
                let mut node = self
                    .call(A1, ORDER_QUERY, json!({"order_no": order}))
                    .await?;
                // Units used, over the order's vouchers.
                let used: i64 = node["vouchers"].as_array().map_or(0, |v| {
                    v.iter()
                        .map(|x| {
                            x["ticket_used_count"]
                                .as_str()
                                .unwrap_or("0")
                                .parse::<i64>()
                                .unwrap_or(0)
                        })
                        .sum()
                });
                node["ticket_used_count"] = used.to_string().into();
                (self.model.order_query(&order, now), node)
            }
            Step::Send {
                rid,
                codes,
                good_token,
            } => {
                let list: Vec<(String, i64)> = codes
                    .iter()
                    .map(|&c| (POOL[c as usize].0.to_string(), POOL[c as usize].1))
                    .collect();
                let token = if *good_token {
                    self.token.clone()
                } else {
                    "wrong".into()
                };
                let biz = json!({"request_id": format!("s{rid}"), "order_no": self.orders[INTERNAL], "send_order_no": self.send_no,
                                 "send_token": token, "isv_ma_list": list.iter().map(|(c, n)| json!({"code": c, "num": n})).collect::<Vec<_>>()});
                let node = self.call(CM, SEND, biz).await?;
                let before = self.model.tickets.len();
                let fp = format!("{codes:?}|{good_token}");
                let e = self.model.send_codes(
                    &format!("s{rid}"),
                    &list,
                    *good_token,
                    fp,
                    // Sent without valid_start/valid_end, for an item with no dates: valid from
                    // now (the ticket merchant's clock) for a year, the sandbox's default.
                    {
                        let from = ticketgate::clock::whole_second(now);
                        (from, from + 365 * DAY)
                    },
                );
                for i in before..self.model.tickets.len() {
                    let code = self.model.tickets[i].code.clone();
                    let slot = INTERNAL
                        + POOL
                            .iter()
                            .position(|(c, _)| *c == code)
                            .expect("a pool code");
                    self.slots[slot] = Some(i);
                }
                (e, node)
            }
            Step::Check {
                slot,
                shop,
                quantity,
                good_token,
            } => {
                let slot = *slot as usize;
                let mut biz = self.ticket_biz(slot);
                biz["order_no"] = self.orders[INTERNAL].clone().into();
                biz["send_order_no"] = self.send_no.clone().into();
                biz["send_token"] = if *good_token {
                    self.token.clone()
                } else {
                    "wrong".into()
                }
                .into();
                biz["shop_id"] = SHOPS[*shop as usize].into();
                if let Some(q) = quantity {
                    biz["quantity"] = q.to_string().into();
                }
                let node = self.call(CM, CHECK, biz).await?;
                // An internal code is not in the code merchant's order.
                let ticket = if slot >= INTERNAL {
                    self.slots[slot]
                } else {
                    None
                };
                (
                    self.model
                        .check(ticket, *good_token, *shop < 2, quantity.map(i64::from), now),
                    node,
                )
            }
            Step::Sync {
                rid,
                slot,
                quantity,
            } => {
                let slot = *slot as usize;
                let mut biz = self.ticket_biz(slot);
                biz["request_id"] = format!("y{rid}").into();
                biz["order_no"] = self.orders[INTERNAL].clone().into();
                biz["quantity"] = quantity.to_string().into();
                let node = self.call(CM, SYNC, biz).await?;
                let ticket = if slot >= INTERNAL {
                    self.slots[slot]
                } else {
                    None
                };
                let fp = format!("{slot}|{quantity}");
                (
                    self.model
                        .sync(&format!("y{rid}"), ticket, *quantity as i64, fp),
                    node,
                )
            }
            Step::Close { rid, good_token } => {
                let token = if *good_token {
                    self.token.clone()
                } else {
                    "wrong".into()
                };
                let biz = json!({"request_id": format!("x{rid}"), "order_no": self.orders[INTERNAL], "send_order_no": self.send_no,
                                 "send_token": token, "reason": "model"});
                let node = self.call(CM, SEND_CLOSE, biz).await?;
                (
                    self.model
                        .close(&format!("x{rid}"), *good_token, format!("{good_token}")),
                    node,
                )
            }
            Step::ConsoleUse { slot, quantity } => {
                let slot = *slot as usize;
                let order = (slot >= INTERNAL).then(|| self.orders[slot].clone());
                let done = admin::ticket_use(
                    self.app.service(),
                    &self.codes[slot],
                    order,
                    SHOP,
                    quantity.map(i64::from),
                    None,
                )
                .await;
                let ticket = self.slots[slot];
                let rid = format!("console{}", self.model.use_orders.len());
                let e = self.model.use_(
                    &rid,
                    slot,
                    ticket,
                    String::new(),
                    true,
                    Some(quantity.map_or(1, i64::from)),
                    now,
                    true,
                );
                let got = match done {
                    Ok(_) => Expected::ok(),
                    // The console names a missing ticket as not found.
                    Err(e) if e.to_string().starts_with("not found") => {
                        Expected::refused("TICKET_NOT_EXIST")
                    }
                    Err(e) => Expected::refused(&e.to_string()),
                };
                return compare_admin(step, &e, &got);
            }
            Step::AdminRefund { slot } => {
                let slot = *slot as usize;
                let order = (slot >= INTERNAL).then(|| self.orders[slot].clone());
                let done = admin::ticket_refund(self.app.service(), &self.codes[slot], order).await;
                let want = match self.slots[slot] {
                    Some(i) => self.model.admin_refund(i).is_ok(),
                    None => false,
                };
                if done.is_ok() != want {
                    return Err(format!(
                        "{step:?}: the model says {}, the server {done:?}",
                        if want { "refunded" } else { "refused" }
                    ));
                }
                return Ok(());
            }
            Step::Clock { days } => {
                let (by, now) = (*days as i64 * DAY, self.app.service().now_ms());
                self.sandbox_write(op!(|tx| [by: i64 = by, now: i64 = now] -> i64 { tx.advance_clock(M1, by, now).await }))
                    .await?;
                self.model.offset += by;
                return Ok(());
            }
            Step::Fault {
                cancel,
                after_commit,
            } => {
                let answer = ticketgate::sandbox::parse_answer(if *after_commit {
                    "20000"
                } else {
                    "SYSTEM_ERROR"
                })
                .unwrap();
                let now = self.app.service().now_ms();
                let row = FaultRow {
                    fault_id: format!("fault_{}", ticketgate::ids::dated(now, 8)),
                    method: if *cancel { CANCEL } else { USE }.into(),
                    app_id: None,
                    ticket_code: None,
                    code: Some(answer.code.to_string()),
                    sub_code: Some(answer.sub_code),
                    sub_msg: Some(answer.sub_msg),
                    after_commit: i64::from(*after_commit),
                    latency_ms: 0,
                    remaining: Some(1),
                    hits: 0,
                    created_at: now,
                };
                self.sandbox_write(
                    op!(|tx| [row: FaultRow = row] -> () { tx.insert_fault(&row).await }),
                )
                .await?;
                self.faults.push((*cancel, *after_commit));
                return Ok(());
            }
        };
        let name = format!("{step:?}");
        let name = name.split([' ', '{']).next().unwrap_or_default();
        let outcome = format!(
            "{name} {} {}",
            text(&node, "code").unwrap_or_default(),
            text(&node, "sub_code")
                .or(text(&node, "biz_code"))
                .unwrap_or_default()
        );
        *self.tally.entry(outcome).or_default() += 1;
        compare(step, &expected, &node)
    }
}

fn text(node: &Value, key: &str) -> Option<String> {
    match &node[key] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn compare(step: &Step, want: &Expected, node: &Value) -> Result<(), String> {
    let mut wrong = vec![];
    if text(node, "code").as_deref() != Some(&*want.code) {
        wrong.push("code");
    }
    if want.code != "10000" && text(node, "sub_code") != want.sub_code {
        wrong.push("sub_code");
    }
    if want.code == "10000" && text(node, "biz_code") != want.biz_code {
        wrong.push("biz_code");
    }
    for (key, value) in &want.fields {
        if text(node, key).as_deref() != Some(value.as_str()) {
            wrong.push(key);
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{step:?}: {wrong:?} differ; the model says {want:?}, the server {node}"
        ))
    }
}

/// An admin write's result: success, or a refusal whose text names the model's sub_code.
fn compare_admin(step: &Step, want: &Expected, got: &Expected) -> Result<(), String> {
    let agrees = match (&want.sub_code, &got.sub_code) {
        (None, None) => true,
        (Some(w), Some(g)) => g.contains(w.as_str()),
        _ => false,
    };
    if agrees {
        Ok(())
    } else {
        Err(format!(
            "{step:?}: the model says {want:?}, the server {got:?}"
        ))
    }
}
