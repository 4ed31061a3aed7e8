//! Running sequences: the generator, the invariants checked after every step, the shrinker
//! and the tests.

use std::collections::HashSet;

use ticketgate::ledger::{Trans, TransKind};
use ticketgate::operations::admin;
use ticketgate::store::op;

use super::reference::Kind;
use super::sim::{INTERNAL, POOL, Rng, SLOTS, Step, World, world};
use crate::helpers::M1;

/// A step chosen at random, knowing the model's state (so that cancels name uses that
/// exist, refunds their uses, and request ids are sometimes reused).
fn generate(rng: &mut Rng, w: &World, used_rids: &mut Vec<u16>, next_rid: &mut u16) -> Step {
    let mut rid = |rng: &mut Rng| {
        if !used_rids.is_empty() && rng.chance(15) {
            used_rids[rng.below(used_rids.len() as u64) as usize]
        } else {
            *next_rid += 1;
            used_rids.push(*next_rid);
            *next_rid
        }
    };
    let slot = |rng: &mut Rng| rng.below(SLOTS as u64) as u8;
    let shop = |rng: &mut Rng| {
        if rng.chance(90) {
            rng.below(2) as u8
        } else {
            2
        }
    };
    let quantity = |rng: &mut Rng| match rng.below(6) {
        0 | 1 => None,
        2 | 3 => Some(1),
        4 => Some(2),
        _ => Some(3),
    };
    if let Some(&(cancel, _)) = w.faults.first() {
        // A fault is armed: the next call is of its method.
        let r = rid(rng);
        return if cancel {
            cancel_step(rng, w, r)
        } else {
            Step::Use {
                rid: r,
                slot: slot(rng),
                shop: 0,
                quantity: quantity(rng),
            }
        };
    }
    match rng.below(100) {
        0..=21 => Step::Use {
            rid: rid(rng),
            slot: slot(rng),
            shop: shop(rng),
            quantity: quantity(rng),
        },
        22..=36 => {
            let r = rid(rng);
            cancel_step(rng, w, r)
        }
        37..=44 => Step::Query {
            slot: slot(rng),
            shop: shop(rng),
        },
        45..=50 => Step::Delay {
            rid: rid(rng),
            slot: slot(rng),
            days: [-10, 30, 400][rng.below(3) as usize],
        },
        51..=58 => Step::Refund {
            rid: rid(rng),
            slot: slot(rng),
            nth: rng.below(4) as u8,
        },
        59..=62 => Step::OrderQuery { slot: slot(rng) },
        63..=68 => {
            let n = 1 + rng.below(2) as usize;
            let codes = (0..n)
                .map(|_| rng.below(POOL.len() as u64) as u8)
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            Step::Send {
                rid: rid(rng),
                codes,
                good_token: rng.chance(95),
            }
        }
        69..=73 => Step::Check {
            slot: INTERNAL as u8 + rng.below(POOL.len() as u64) as u8,
            shop: shop(rng),
            quantity: quantity(rng),
            good_token: rng.chance(95),
        },
        74..=84 => {
            let s = INTERNAL as u8 + rng.below(POOL.len() as u64) as u8;
            let total = w.slots[s as usize].map_or(1, |i| w.model.tickets[i].total);
            Step::Sync {
                rid: rid(rng),
                slot: s,
                quantity: rng.below(total as u64 + 1) as u8,
            }
        }
        85 if rng.chance(30) => Step::Close {
            rid: rid(rng),
            good_token: rng.chance(90),
        },
        85..=88 => Step::ConsoleUse {
            slot: slot(rng),
            quantity: quantity(rng),
        },
        89 => Step::AdminRefund { slot: slot(rng) },
        90..=91 => Step::Clock {
            days: [30, 100, 200][rng.below(3) as usize],
        },
        92..=94 => Step::Fault {
            cancel: rng.chance(40),
            after_commit: rng.chance(50),
        },
        _ => Step::Use {
            rid: rid(rng),
            slot: slot(rng),
            shop: shop(rng),
            quantity: quantity(rng),
        },
    }
}

fn cancel_step(rng: &mut Rng, w: &World, rid: u16) -> Step {
    let uses: Vec<(&String, usize)> = w
        .model
        .use_orders
        .iter()
        .filter(|(r, _)| r.starts_with('u'))
        .map(|(r, o)| (r, o.ticket))
        .collect();
    let (of, slot) = if !uses.is_empty() && rng.chance(85) {
        let (r, ticket) = uses[rng.below(uses.len() as u64) as usize];
        let slot = (0..SLOTS)
            .find(|&s| w.slots[s] == Some(ticket))
            .unwrap_or(0);
        let slot = if rng.chance(90) {
            slot
        } else {
            rng.below(SLOTS as u64) as usize
        };
        (r[1..].parse().unwrap_or(0), slot as u8)
    } else {
        (9999, rng.below(SLOTS as u64) as u8)
    };
    let quantity = match rng.below(4) {
        0 | 1 => None,
        2 => Some(1),
        _ => Some(2),
    };
    Step::Cancel {
        rid,
        of,
        slot,
        quantity,
    }
}

fn delta(t: &Trans) -> i64 {
    match t.kind {
        TransKind::Use => -t.quantity,
        TransKind::Cancel => t.quantity,
        TransKind::Refund if t.reverses_trans_id.is_some() => 0,
        TransKind::Refund => -t.quantity,
        TransKind::Delay => 0,
    }
}

/// The invariants, on what the server stored, and the server's books against the model's;
/// maps the model's new transaction ids to the server's.
async fn reconcile(w: &mut World) -> Result<(), String> {
    let now = ticketgate::clock::system_now_ms() + w.model.offset;
    // Uses made at once of one ticket, of one quantity, in one millisecond look alike in the
    // books: each model use is matched only among its own request's use transactions.
    let mut own: std::collections::HashMap<String, HashSet<String>> = Default::default();
    for (rid, order) in &w.model.use_orders {
        if order.console || order.trans.iter().all(|id| w.ids.contains_key(id)) {
            continue;
        }
        let (m, r) = (M1.to_string(), rid.clone());
        let server: Vec<Trans> = w
            .app
            .store()
            .read(op!(|tx| [m: String = m, r: String = r] -> Vec<Trans> {
                match tx.use_order(&m, &r).await? {
                    Some(o) => tx.use_order_trans(&o.use_order_id).await,
                    None => Ok(Vec::new()),
                }
            }))
            .await
            .map_err(|e| e.to_string())?;
        let ids: HashSet<String> = server.into_iter().map(|t| t.trans_id).collect();
        for id in &order.trans {
            own.insert(id.clone(), ids.clone());
        }
    }
    for i in 0..w.model.tickets.len() {
        let t = w.model.tickets[i].clone();
        let order = t.external.then(|| t.order_no.clone());
        let shown = admin::ticket_show(w.app.service(), &t.code, order)
            .await
            .map_err(|e| format!("{}: {e}", t.code))?;
        let voucher = shown["voucher_id"].as_str().unwrap_or_default().to_string();
        let history: Vec<Trans> = w
            .app
            .store()
            .read(op!(|tx| [v: String = voucher] -> Vec<Trans> { tx.history(&v).await }))
            .await
            .map_err(|e| e.to_string())?;
        let history: Vec<Trans> = history
            .into_iter()
            .filter(|h| h.kind != TransKind::Delay)
            .collect();
        let num = |k: &str| {
            shown[k]
                .as_str()
                .unwrap_or_default()
                .parse::<i64>()
                .unwrap_or(-1)
        };
        let (available, total) = (num("available_quantity"), num("total_quantity"));
        // Units conserved, within bounds.
        let sum: i64 = history.iter().map(delta).sum();
        if available != total + sum || available < 0 || available > total {
            return Err(format!(
                "{}: available {available} of {total}, but its transactions make {}",
                t.code,
                total + sum
            ));
        }
        // Every reversal names a use of this ticket; no unit is given back twice; a use is
        // refunded at most once and never both refunded and given back.
        for r in history
            .iter()
            .filter(|h| h.kind == TransKind::Cancel || h.reverses_trans_id.is_some())
        {
            let Some(target) = r.reverses_trans_id.as_deref() else {
                return Err(format!(
                    "{}: a {:?} of {} names no use",
                    t.code, r.kind, r.quantity
                ));
            };
            if !history
                .iter()
                .any(|u| u.trans_id == target && u.kind == TransKind::Use)
            {
                return Err(format!(
                    "{}: {} reverses {target}, not a use of this ticket",
                    t.code, r.trans_id
                ));
            }
        }
        for u in history.iter().filter(|h| h.kind == TransKind::Use) {
            let against: Vec<&Trans> = history
                .iter()
                .filter(|r| r.reverses_trans_id.as_deref() == Some(&*u.trans_id))
                .collect();
            let given_back: i64 = against
                .iter()
                .filter(|r| r.kind == TransKind::Cancel)
                .map(|r| r.quantity)
                .sum();
            let refunds = against
                .iter()
                .filter(|r| r.kind == TransKind::Refund)
                .count();
            if given_back > u.quantity || refunds > 1 || (refunds == 1 && given_back > 0) {
                return Err(format!(
                    "{}: use {} of {} reversed twice: {given_back} given back, {refunds} refunds",
                    t.code, u.trans_id, u.quantity
                ));
            }
        }
        // The server's books are the model's.
        let status = w.model.status(i, true, now);
        if available != t.available
            || total != t.total
            || shown["refunded"] != t.refunded
            || shown["ticket_status"] != status
        {
            return Err(format!(
                "{}: the server has {shown}, the model {t:?} ({status})",
                t.code
            ));
        }
        let mut taken: HashSet<String> = w.ids.values().cloned().collect();
        let model_trans: Vec<_> = w
            .model
            .trans
            .iter()
            .filter(|m| m.ticket == i)
            .cloned()
            .collect();
        for m in &model_trans {
            if w.ids.contains_key(&m.id) {
                continue;
            }
            let kind = match m.kind {
                Kind::Use => TransKind::Use,
                Kind::Cancel => TransKind::Cancel,
                Kind::Refund => TransKind::Refund,
            };
            let reverses = m
                .reverses
                .as_ref()
                .map(|r| w.ids.get(r).cloned().unwrap_or_default());
            let found = history.iter().find(|s| {
                !taken.contains(&s.trans_id)
                    && own.get(&m.id).is_none_or(|ids| ids.contains(&s.trans_id))
                    && s.kind == kind
                    && s.quantity == m.quantity
                    && s.reverses_trans_id == reverses
            });
            match found {
                Some(s) => {
                    taken.insert(s.trans_id.clone());
                    w.ids.insert(m.id.clone(), s.trans_id.clone());
                }
                None => {
                    return Err(format!(
                        "{}: the model has {m:?}, the server no such transaction: {history:?}",
                        t.code
                    ));
                }
            }
        }
        if model_trans.len() != history.len() {
            return Err(format!(
                "{}: the model has {} transactions, the server {}: {history:?}",
                t.code,
                model_trans.len(),
                history.len()
            ));
        }
    }
    // One notification per effect.
    let listed = admin::notify_list(w.app.service(), None)
        .await
        .map_err(|e| e.to_string())?;
    let queued = listed["notifications"].as_array().map_or(0, Vec::len);
    if queued != w.model.notifications {
        return Err(format!(
            "{queued} notifications queued, the model says {}",
            w.model.notifications
        ));
    }
    Ok(())
}

/// A failure: the step it happened at, and why.
type Failure = (usize, String);

/// Runs `steps` on a fresh server; the first failure.
async fn replay(w: &mut World, steps: &[Step]) -> Option<Failure> {
    w.reset().await;
    for (n, step) in steps.iter().enumerate() {
        if let Err(why) = checked(w, step).await {
            return Some((n, why));
        }
    }
    None
}

/// One step, then the invariants.
async fn checked(w: &mut World, step: &Step) -> Result<(), String> {
    w.step(step).await?;
    let ids = w.ids.clone();
    let mut outcome = reconcile(w).await;
    // Two calls made at once whose answers fit both orders: the books must fit one.
    for (model, slots) in std::mem::take(&mut w.alternatives) {
        if outcome.is_ok() {
            break;
        }
        (w.model, w.slots, w.ids) = (model, slots, ids.clone());
        outcome = reconcile(w).await;
    }
    outcome.map_err(|why| format!("after {step:?}: {why}"))
}

/// Steps from one fresh state: long enough for tickets to be used up, refunded and
/// expired, short enough that each stretch starts with usable tickets and an open send order.
const EPOCH: usize = 250;

/// Generates and runs `count` steps from `seed`, in stretches of `EPOCH` from the set-up
/// state; the steps of the stretch that failed and the failure, or all steps and none.
async fn explore(w: &mut World, seed: u64, count: usize) -> (Vec<Step>, Option<Failure>) {
    let mut rng = Rng(seed);
    let mut steps = Vec::with_capacity(count);
    let mut epoch = Vec::new();
    let (mut used, mut next) = (Vec::new(), 0);
    for n in 0..count {
        if n > 0 && n % EPOCH == 0 {
            w.reset().await;
            steps.append(&mut epoch);
            (used, next) = (Vec::new(), 0);
        }
        // Sometimes the same call again, as a client retries: a replay.
        let again = epoch
            .last()
            .filter(|s| is_write(s) && rng.chance(12))
            .cloned();
        let step = match again {
            Some(step) => step,
            None if w.faults.is_empty() && rng.chance(10) => {
                together(&mut rng, w, &mut used, &mut next)
            }
            None => generate(&mut rng, w, &mut used, &mut next),
        };
        epoch.push(step);
        if let Err(why) = checked(w, epoch.last().expect("just pushed")).await {
            let at = epoch.len() - 1;
            return (epoch, Some((at, why)));
        }
    }
    steps.append(&mut epoch);
    (steps, None)
}

/// Two gateway calls to make at once, often on the same ticket.
fn together(rng: &mut Rng, w: &World, used: &mut Vec<u16>, next: &mut u16) -> Step {
    let call = |rng: &mut Rng, used: &mut Vec<u16>, next: &mut u16| loop {
        let step = generate(rng, w, used, next);
        if !matches!(
            step,
            Step::Fault { .. }
                | Step::Clock { .. }
                | Step::ConsoleUse { .. }
                | Step::AdminRefund { .. }
        ) {
            return step;
        }
    };
    let a = call(rng, used, next);
    let mut b = call(rng, used, next);
    if let (Some(slot), true) = (slot_of(&a), rng.chance(60)) {
        b = with_slot(b, slot);
    }
    Step::Together(Box::new(a), Box::new(b))
}

/// The same step on another ticket slot.
fn with_slot(step: Step, to: u8) -> Step {
    match step {
        Step::Use {
            rid,
            shop,
            quantity,
            ..
        } => Step::Use {
            rid,
            slot: to,
            shop,
            quantity,
        },
        Step::Cancel {
            rid, of, quantity, ..
        } => Step::Cancel {
            rid,
            of,
            slot: to,
            quantity,
        },
        Step::Query { shop, .. } => Step::Query { slot: to, shop },
        Step::Delay { rid, days, .. } => Step::Delay {
            rid,
            slot: to,
            days,
        },
        Step::Refund { rid, nth, .. } => Step::Refund { rid, slot: to, nth },
        Step::Sync { rid, quantity, .. } if usize::from(to) >= INTERNAL => Step::Sync {
            rid,
            slot: to,
            quantity,
        },
        other => other,
    }
}

/// A gateway write, which a client may send again.
fn is_write(step: &Step) -> bool {
    matches!(
        step,
        Step::Use { .. }
            | Step::Cancel { .. }
            | Step::Delay { .. }
            | Step::Refund { .. }
            | Step::Send { .. }
            | Step::Sync { .. }
            | Step::Close { .. }
    )
}

/// The ticket slot a step names, if it names one.
fn slot_of(step: &Step) -> Option<u8> {
    match step {
        Step::Use { slot, .. }
        | Step::Cancel { slot, .. }
        | Step::Query { slot, .. }
        | Step::Delay { slot, .. }
        | Step::Refund { slot, .. }
        | Step::OrderQuery { slot }
        | Step::Check { slot, .. }
        | Step::Sync { slot, .. }
        | Step::ConsoleUse { slot, .. }
        | Step::AdminRefund { slot } => Some(*slot),
        Step::Send { .. }
        | Step::Close { .. }
        | Step::Clock { .. }
        | Step::Fault { .. }
        | Step::Together(..) => None,
    }
}

/// The shortest sequence that still fails: first without the steps on other tickets, then by
/// removing chunks, then single steps.
async fn shrink(w: &mut World, mut steps: Vec<Step>, mut failure: Failure) -> (Vec<Step>, Failure) {
    steps.truncate(failure.0 + 1);
    let started = std::time::Instant::now();
    // Reads change nothing: without them (but the failing step), does it still fail?
    let last = steps.len() - 1;
    let writes: Vec<Step> = steps
        .iter()
        .enumerate()
        .filter(|(n, s)| {
            *n == last
                || !matches!(
                    s,
                    Step::Query { .. } | Step::OrderQuery { .. } | Step::Check { .. }
                )
        })
        .map(|(_, s)| s.clone())
        .collect();
    if writes.len() < steps.len()
        && let Some(f) = replay(w, &writes).await
    {
        steps = writes;
        steps.truncate(f.0 + 1);
        failure = f;
    }
    if let Some(slot) = slot_of(&steps[failure.0]) {
        let candidate: Vec<Step> = steps
            .iter()
            .filter(|s| slot_of(s).is_none_or(|s| s == slot))
            .cloned()
            .collect();
        if let Some(f) = replay(w, &candidate).await {
            steps = candidate;
            steps.truncate(f.0 + 1);
            failure = f;
        }
    }
    let mut chunk = steps.len().div_ceil(2);
    while chunk >= 1 && started.elapsed() < std::time::Duration::from_secs(120) {
        let mut at = 0;
        let mut removed_any = false;
        while at < steps.len() {
            let mut candidate = steps.clone();
            candidate.drain(at..(at + chunk).min(candidate.len()));
            match replay(w, &candidate).await {
                Some(f) => {
                    candidate.truncate(f.0 + 1);
                    steps = candidate;
                    failure = f;
                    removed_any = true;
                }
                None => at += chunk,
            }
        }
        if !removed_any {
            if chunk == 1 {
                break;
            }
            chunk = chunk.div_ceil(2).max(1);
        }
    }
    (steps, failure)
}

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

async fn hold(seed: u64, default_steps: usize) {
    let count = env("MODEL_STEPS").map_or(default_steps, |n| n as usize);
    let mut w = world().await;
    let (steps, failure) = match std::env::var("MODEL_REPLAY") {
        Ok(path) => {
            let steps: Vec<Step> =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let failure = replay(&mut w, &steps).await;
            (steps, failure)
        }
        Err(_) => explore(&mut w, seed, count).await,
    };
    let started = std::time::Instant::now();
    eprintln!(
        "model: seed {seed}, {} steps run",
        failure.as_ref().map_or(steps.len(), |f| f.0 + 1)
    );
    let tally: Vec<String> = w
        .tally
        .iter()
        .map(|(k, n)| format!("{n:>6}  {k}"))
        .collect();
    eprintln!(
        "model: answers, by method and outcome:\n{}",
        tally.join("\n")
    );
    let Some(failure) = failure else { return };
    eprintln!("model: failed at step {}: {}", failure.0 + 1, failure.1);
    let full =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/model-failure-unshrunk.json");
    let _ = std::fs::write(&full, serde_json::to_string(&steps[..=failure.0]).unwrap());
    if std::env::var("MODEL_NO_SHRINK").is_ok() {
        panic!("model: {}", failure.1);
    }
    let (short, why) = shrink(&mut w, steps, failure).await;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/model-failure.json");
    let _ = std::fs::write(&path, serde_json::to_string_pretty(&short).unwrap());
    let lines: Vec<String> = short.iter().map(|s| format!("  {s:?}")).collect();
    panic!(
        "the ledger left the model at step {} (shrunk in {:.0?} to {} steps):\n{}\n{}\nreplay: MODEL_REPLAY={} cargo nextest run -E 'test(model::)'\nor: MODEL_SEED={seed} MODEL_STEPS={count} cargo nextest run -E 'test(model::)'",
        why.0 + 1,
        started.elapsed(),
        short.len(),
        lines.join("\n"),
        why.1,
        path.display()
    );
}

/// Runs a fixed sequence from the set-up state; panics, with the failure, if it leaves the model.
pub(super) async fn must_hold(steps: &[Step]) {
    let mut w = world().await;
    if let Some((at, why)) = replay(&mut w, steps).await {
        panic!("step {} of {steps:?}: {why}", at + 1);
    }
}

/// A fixed seed every run: the same few thousand steps.
#[tokio::test]
async fn a_fixed_seed_keeps_the_books() {
    hold(env("MODEL_SEED").unwrap_or(20261204), 1500).await;
}

/// A new seed every run, printed (`--no-capture` shows it; a failure prints it anyway).
#[tokio::test]
async fn a_random_seed_keeps_the_books() {
    let seed = env("MODEL_SEED").unwrap_or_else(|| ticketgate::clock::system_now_ms() as u64);
    hold(seed, 1500).await;
}
