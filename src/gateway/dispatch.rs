//! Method dispatch: one operation per method name.

use serde_json::{Map, Value};

use super::check::Call;
use crate::alipay::codes::GatewayError;
use crate::ledger::{Channel, Refusal, cancel, query, use_};
use crate::operations::{self, OpError, Service};

/// Why a call did not succeed, in the three kinds the response knows.
#[derive(Debug)]
pub enum Failure {
    Gateway(GatewayError),
    Refused(Refusal),
}

pub async fn dispatch(app: &Service, call: &Call) -> Result<Map<String, Value>, Failure> {
    let outcome = match call.method.as_str() {
        use_::METHOD => {
            let notify = call.notify.as_ref();
            operations::use_::run(app, &call.who, &call.biz, Channel::OpenPlatform, notify).await
        }
        cancel::METHOD => {
            operations::cancel::run(app, &call.who, &call.biz, call.notify.as_ref()).await
        }
        query::METHOD => operations::query::run(app, &call.who, &call.biz).await,
        other => {
            return Err(Failure::Gateway(GatewayError::InvalidMethod(
                other.to_string(),
            )));
        }
    };
    if outcome.is_ok() && call.notify.is_some() {
        // A notification may have been queued: let this node's delivery loop look now.
        app.notify_wake.notify_waiters();
    }
    outcome.map_err(|e| match e {
        OpError::Refused(r) => Failure::Refused(r),
        OpError::Store(e) => {
            tracing::error!(error = %e, method = %call.method, app_id = %call.who.app_id, "operation failed");
            Failure::Gateway(GatewayError::Unavailable)
        }
    })
}
