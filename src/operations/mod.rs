//! One file per operation: each runs its store transaction around a pure ledger decision.

pub mod admin;
pub mod cancel;
pub mod query;
pub mod use_;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::alipay::PrivateKey;
use crate::ledger::Refusal;
use crate::store::{Store, StoreError};

/// The service context every operation runs in: the store, the clock, the platform's signing
/// key, and this node's notification wake-up and counters.
#[derive(Clone)]
pub struct Service {
    pub store: Store,
    /// The one source of "now" for the ledger and the notification schedule.
    pub clock: crate::clock::SharedClock,
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

impl Service {
    /// Now, by this service's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}
