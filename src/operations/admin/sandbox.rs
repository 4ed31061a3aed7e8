//! Sandbox powers as the operator uses them: test clocks and injected faults. Each command
//! returns once every running node obeys it (nodes re-read both every
//! [`crate::sandbox::REFRESH`]).

use serde_json::{Value, json};

use super::{AdminError, Result, invalid, known_merchant};
use crate::alipay::time;
use crate::operations::Service;
use crate::sandbox::{SETTLE, parse_answer};
use crate::store::{ClockRow, FaultRow, op};

/// Refreshes this process's copy, wakes its notification worker, and waits until every other
/// node has re-read too.
pub(super) async fn settle(svc: &Service) -> Result<()> {
    svc.sandbox.refresh(&svc.store).await?;
    svc.notify_wake.notify_waiters();
    tokio::time::sleep(SETTLE).await;
    Ok(())
}

/// A duration in words people read back: `366d`, `25h`, `1d 2h 3m`, `0s`.
fn span(ms: i64) -> String {
    let mut left = ms / 1000;
    let mut parts = Vec::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if left >= size {
            parts.push(format!("{}{unit}", left / size));
            left %= size;
        }
    }
    if parts.is_empty() {
        "0s".into()
    } else {
        parts.join(" ")
    }
}

fn clock_json(svc: &Service, pid: &str, offset_ms: i64) -> Value {
    let real = svc.now_ms();
    json!({
        "merchant_pid": pid,
        "now": time::format(real + offset_ms),
        "real_now": time::format(real),
        "ahead_by": span(offset_ms),
        "ahead_by_ms": offset_ms,
        "test_clock": offset_ms > 0,
    })
}

/// Moves a merchant's clock forward by `by_ms`.
pub async fn clock_advance(svc: &Service, pid: &str, by_ms: i64) -> Result<Value> {
    known_merchant(svc, pid).await?;
    if by_ms <= 0 {
        return invalid(
            "--by must be a positive duration such as 30d or 2h: clocks only move forward",
        );
    }
    let (p, now) = (pid.to_string(), svc.now_ms());
    let offset = svc
        .store
        .write(
            op!(|tx| [p: String = p, by_ms: i64 = by_ms, now: i64 = now] -> i64 {
                tx.advance_clock(&p, by_ms, now).await
            }),
        )
        .await?;
    settle(svc).await?;
    Ok(clock_json(svc, pid, offset))
}

/// Sets a merchant's clock to `at` (`yyyy-MM-dd HH:mm:ss`, GMT+8), which must not be earlier
/// than the clock reads now.
pub async fn clock_set(svc: &Service, pid: &str, at: &str) -> Result<Value> {
    known_merchant(svc, pid).await?;
    let Some(at_ms) = time::parse(at) else {
        return invalid(format!(
            "--at must be yyyy-MM-dd HH:mm:ss (GMT+8), got {at:?}"
        ));
    };
    let real = svc.now_ms();
    let wanted = at_ms - real;
    let current = svc.sandbox.offset(pid);
    if wanted < current {
        return invalid(format!(
            "clocks only move forward: {pid}'s clock reads {} (admin clock reset puts it back on real time)",
            time::format(real + current)
        ));
    }
    let p = pid.to_string();
    let offset = svc
        .store
        .write(
            op!(|tx| [p: String = p, wanted: i64 = wanted, real: i64 = real] -> i64 {
                tx.move_clock(&p, wanted, real).await
            }),
        )
        .await?;
    settle(svc).await?;
    if offset != wanted {
        // Another command moved it further meanwhile; forward only, so that one stands.
        return invalid(format!(
            "clocks only move forward: {pid}'s clock was moved to {} meanwhile",
            time::format(svc.now_ms() + offset)
        ));
    }
    Ok(clock_json(svc, pid, offset))
}

/// One merchant's clock, or every merchant's test clock.
pub async fn clock_show(svc: &Service, pid: Option<&str>) -> Result<Value> {
    svc.sandbox.refresh(&svc.store).await?;
    if let Some(pid) = pid {
        known_merchant(svc, pid).await?;
        return Ok(clock_json(svc, pid, svc.sandbox.offset(pid)));
    }
    let clocks: Vec<ClockRow> = svc
        .store
        .read(op!(|tx| -> Vec<ClockRow> { tx.clocks().await }))
        .await?;
    let list: Vec<Value> = clocks
        .iter()
        .map(|c| clock_json(svc, &c.merchant_pid, c.offset_ms))
        .collect();
    Ok(json!({ "clocks": list }))
}

/// Puts a merchant back on real time. Its pending notifications keep their place in the
/// schedule (due as long from now as they were by the test clock).
pub async fn clock_reset(svc: &Service, pid: &str) -> Result<Value> {
    known_merchant(svc, pid).await?;
    let p = pid.to_string();
    let had = svc
        .store
        .write(op!(|tx| [p: String = p] -> bool { tx.delete_clock(&p).await }))
        .await?;
    settle(svc).await?;
    let mut answer = clock_json(svc, pid, 0);
    answer["had_test_clock"] = had.into();
    Ok(answer)
}

/// The longest a fault may delay an answer.
pub const MAX_FAULT_LATENCY_MS: i64 = 60_000;

/// A fault as `admin fault add` describes it.
#[derive(Debug, Clone, Default)]
pub struct NewFault {
    pub method: String,
    pub app_id: Option<String>,
    pub ticket_code: Option<String>,
    /// `SUB_CODE`, `20000` or `CODE:SUB_CODE`; `None` for a fault that only delays.
    pub answer: Option<String>,
    pub times: Option<i64>,
    pub after_commit: bool,
    pub latency_ms: i64,
}

fn fault_json(f: &FaultRow) -> Value {
    json!({
        "fault_id": f.fault_id,
        "method": f.method,
        "app_id": f.app_id,
        "ticket_code": f.ticket_code,
        "answer": f.code.as_ref().filter(|_| !crate::sandbox::fault_drops(f)).map(|code| json!({
            "code": code,
            "sub_code": f.sub_code,
            "sub_msg": f.sub_msg,
        })),
        "drop": crate::sandbox::fault_drops(f),
        "after_commit": f.after_commit == 1,
        "latency_ms": f.latency_ms,
        "remaining": f.remaining,
        "hits": f.hits,
        "active": f.remaining.is_none_or(|n| n > 0),
        "created_at": time::format(f.created_at),
    })
}

/// Adds a fault; it applies from the moment this returns.
pub async fn fault_add(svc: &Service, new: NewFault) -> Result<Value> {
    if crate::operations::methods::find(&new.method).is_none() {
        let names: Vec<&str> = crate::operations::methods::METHODS
            .iter()
            .map(|m| m.name)
            .collect();
        return invalid(format!(
            "--method {} is not a gateway method; one of: {}",
            new.method,
            names.join(", ")
        ));
    }
    let answer = match &new.answer {
        Some(text) => {
            Some(parse_answer(text).map_err(|why| AdminError::Invalid(format!("--answer {why}")))?)
        }
        None if new.after_commit => Some(parse_answer("20000").expect("20000 is an answer")),
        None if new.latency_ms > 0 => None,
        None => return invalid("a fault needs --answer, --after-commit or --latency"),
    };
    if let Some(n) = new.times
        && n < 1
    {
        return invalid("--times must be at least 1");
    }
    if !(0..=MAX_FAULT_LATENCY_MS).contains(&new.latency_ms) {
        return invalid("--latency must be at most 60s");
    }
    if let Some(app) = &new.app_id {
        let a = app.clone();
        let known = svc
            .store
            .read(op!(|tx| [a: String = a] -> Option<crate::store::AppRecord> { tx.app(&a).await }))
            .await?;
        if known.is_none() {
            return Err(AdminError::NotFound(format!("app {app}")));
        }
    }
    let now = svc.now_ms();
    let row = FaultRow {
        // Dated: faults added in one millisecond still apply in the order they were added
        // (the sandbox takes the oldest match, ordered by time, then id).
        fault_id: format!("fault_{}", crate::ids::dated(now, 8)),
        method: new.method,
        app_id: new.app_id,
        ticket_code: new.ticket_code,
        code: answer.as_ref().map(|a| a.code.to_string()),
        sub_code: answer.as_ref().map(|a| a.sub_code.clone()),
        sub_msg: answer.as_ref().map(|a| a.sub_msg.clone()),
        after_commit: i64::from(new.after_commit),
        latency_ms: new.latency_ms,
        remaining: new.times,
        hits: 0,
        created_at: now,
    };
    let stored = row.clone();
    svc.store
        .write(op!(|tx| [row: FaultRow = stored] -> () { tx.insert_fault(&row).await }))
        .await?;
    settle(svc).await?;
    Ok(fault_json(&row))
}

/// Every fault, the spent ones too (`active: false`), oldest first.
pub async fn fault_list(svc: &Service) -> Result<Value> {
    let faults = svc
        .store
        .read(op!(|tx| -> Vec<FaultRow> { tx.faults().await }))
        .await?;
    let list: Vec<Value> = faults.iter().map(fault_json).collect();
    Ok(json!({ "faults": list }))
}

/// Removes one fault, or all of them.
pub async fn fault_clear(svc: &Service, fault_id: Option<&str>) -> Result<Value> {
    let id = fault_id.map(str::to_string);
    let cleared = svc
        .store
        .write(op!(|tx| [id: Option<String> = id] -> u64 { tx.delete_faults(id.as_deref()).await }))
        .await?;
    if let Some(id) = fault_id
        && cleared == 0
    {
        return Err(AdminError::NotFound(format!("fault {id}")));
    }
    settle(svc).await?;
    Ok(json!({ "cleared": cleared }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn spans_read_back_as_written() {
        assert_eq!(super::span(0), "0s");
        assert_eq!(super::span(366 * 86_400_000), "366d");
        assert_eq!(super::span(25 * 3_600_000), "1d 1h");
        assert_eq!(super::span(90_061_000), "1d 1h 1m 1s");
    }
}
