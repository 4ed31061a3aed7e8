//! One file per operation: each runs its store transaction around a pure ledger decision.

pub mod admin;
pub mod cancel;
pub mod query;
pub mod use_;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

use crate::alipay::PrivateKey;
use crate::ledger::Refusal;
use crate::store::{Store, StoreError};

/// What every operation needs: the store and the platform's signing key.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub platform_key: PrivateKey,
    /// Pinged after a call that may have queued a notification.
    pub notify_wake: Arc<Notify>,
    /// This node's counters.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// The merchant a call acts for: the app's owner, or the merchant that granted the app an
/// `app_auth_token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acting {
    pub app_id: String,
    pub merchant_pid: String,
    pub via_token: bool,
}

/// Why an operation did not succeed: the ledger said no, or the store failed.
#[derive(Debug)]
pub enum OpError {
    Refused(Refusal),
    Store(StoreError),
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        match e {
            // Contention that retries could not resolve is the published transient refusal.
            StoreError::Contention => OpError::Refused(Refusal::SystemError),
            other => OpError::Store(other),
        }
    }
}

impl From<Refusal> for OpError {
    fn from(r: Refusal) -> Self {
        OpError::Refused(r)
    }
}

/// Milliseconds since the Unix epoch, from the system clock.
pub fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since.as_millis()).expect("milliseconds fit in i64 until the year 292 million")
}
