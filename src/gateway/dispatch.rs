//! Dispatch: the method table's row for the call runs it; every way a call can fail becomes
//! one [`Failure`], and [`Failure::status`] is the one mapping to the answer's code fields.

use super::check::Call;
use crate::alipay::codes::{self, GatewayError, Status};
use crate::ledger::{Channel, Refusal};
use crate::operations::{CallContext, OpError, Service};
use crate::store::{FaultRow, StoreError};

/// Why a call did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// The gateway refused the request (20001, 40001, 40002, 40005).
    Gateway(GatewayError),
    /// The ledger refused it (40004 with the business code).
    Refused(Refusal),
    /// The store failed: logged where it is answered, sent as `20000`.
    Store(StoreError),
    /// An injected fault (`admin fault add`) answered instead.
    Injected(Status),
    /// An injected fault (`admin fault add --drop`) closes the connection: no answer at all.
    Dropped,
}

impl From<OpError> for Failure {
    fn from(e: OpError) -> Self {
        match e {
            OpError::Refused(r) => Failure::Refused(r),
            OpError::Gateway(e) => Failure::Gateway(e),
            OpError::Store(e) => Failure::Store(e),
        }
    }
}

impl Failure {
    /// The one mapping from every failure to (code, msg, sub_code, sub_msg).
    pub fn status(&self) -> Status {
        match self {
            Failure::Gateway(e) => e.status(),
            Failure::Refused(r) => Status {
                code: codes::BUSINESS_FAILED_CODE,
                msg: codes::BUSINESS_FAILED_MSG,
                sub_code: r.sub_code().to_string(),
                sub_msg: r.sub_msg(),
            },
            Failure::Store(_) => GatewayError::Unavailable.status(),
            Failure::Injected(status) => status.clone(),
            // Never sent: what the request log and the metrics record of a dropped call.
            Failure::Dropped => Status {
                code: "DROPPED",
                msg: "Connection Dropped",
                sub_code: "ticketgate.fault-dropped".into(),
                sub_msg: "注入的故障关闭了连接，没有应答".into(),
            },
        }
    }
}

/// Runs a checked call; answers the success node's fields as compact JSON. An injected fault
/// delays it, answers instead of it, or (`after_commit`) answers after it committed.
pub async fn dispatch(
    svc: &Service,
    call: Call,
    fault: Option<FaultRow>,
) -> Result<String, Failure> {
    let ctx = CallContext {
        who: call.who,
        channel: Channel::OpenPlatform,
        notify: call.notify,
    };
    let (status, latency, after_commit, drops) = match &fault {
        None => (None, std::time::Duration::ZERO, false, false),
        Some(f) => (
            crate::sandbox::fault_status(f),
            std::time::Duration::from_millis(f.latency_ms.max(0) as u64),
            f.after_commit == 1,
            crate::sandbox::fault_drops(f),
        ),
    };
    if !after_commit {
        pause(latency).await;
        if drops {
            return Err(Failure::Dropped);
        }
        if let Some(status) = status {
            return Err(Failure::Injected(status));
        }
    }
    let outcome = call.method.call(svc, &ctx, &call.biz).await;
    if after_commit {
        if outcome.is_ok() && call.method.writes && ctx.notify.is_some() {
            svc.notify_wake.notify_waiters();
        }
        pause(latency).await;
        if drops {
            // The effect is committed; the client sees only a dead connection.
            return Err(Failure::Dropped);
        }
        if let Some(status) = status {
            // The operation's effect is committed; its answer is lost.
            return Err(Failure::Injected(status));
        }
    }
    if outcome.is_ok() && call.method.writes && ctx.notify.is_some() {
        // A notification may have been queued: let this node's delivery loop look now.
        svc.notify_wake.notify_waiters();
    }
    outcome.map_err(|e| {
        let failure = Failure::from(e);
        if let Failure::Store(e) = &failure {
            tracing::error!(error = %e, method = call.method.name, app_id = %ctx.who.app_id, "operation failed");
        }
        failure
    })
}

/// An injected fault's delay. No delay is no pause: a zero-length tokio sleep is not free — it
/// waits for the timer's next tick (a millisecond) and parks the worker.
async fn pause(latency: std::time::Duration) {
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::{Context, Waker};
    use std::time::Duration;

    #[test]
    fn no_delay_is_no_pause() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut cx = Context::from_waker(Waker::noop());
            let mut none = std::pin::pin!(pause(Duration::ZERO));
            assert!(none.as_mut().poll(&mut cx).is_ready(), "done at once");
            let mut some = std::pin::pin!(pause(Duration::from_millis(5)));
            assert!(some.as_mut().poll(&mut cx).is_pending(), "a delay waits");
        });
    }
}
