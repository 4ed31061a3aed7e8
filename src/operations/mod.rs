//! One file per operation: each runs its store transaction around a pure ledger decision. The
//! gateway methods are declared once, in the method table ([`methods`]).

pub mod admin;
pub mod auth;
pub mod cancel;
pub mod certs;
pub mod codes;
pub mod delay;
pub mod method;
pub mod methods;
pub mod order;
pub mod query;
pub mod refund;
pub mod use_;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::alipay::PrivateKey;
use crate::ledger::names::{AppId, MerchantPid};
use crate::ledger::{Channel, Refusal};
use crate::notify::Target;
use crate::store::{Store, StoreError, op};

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
    /// Merchants' test clocks and injected faults (re-read from the store while serving).
    pub sandbox: Arc<crate::sandbox::Sandbox>,
    /// The sandbox CA of certificate mode, read (or made) on first use.
    pub ca: Arc<tokio::sync::OnceCell<Arc<crate::alipay::certs::SandboxCa>>>,
    /// The names of the methods served (the method table's, handed down so that an operation
    /// that lists them — a token's "every method" — need not import the table that lists it).
    pub method_names: &'static [&'static str],
    /// Where notifications may be sent (`--notify-targets`): checked on a call's notify_url,
    /// an app's notify address and the console's probe.
    pub notify_targets: Arc<crate::notify::targets::Targets>,
}

impl Service {
    /// Now, by this service's clock: real time, for what is not a merchant's (the request
    /// timestamp check, tokens, the outbox's leases).
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The sandbox CA: the stored one, or a new one stored for every node (made once, on the
    /// first certificate-mode need).
    pub async fn ca(&self) -> Result<Arc<crate::alipay::certs::SandboxCa>, StoreError> {
        use crate::alipay::certs::SandboxCa;
        let load = || async {
            let read = || async {
                self.store
                    .read(op!(|tx| -> Option<crate::alipay::certs::StoredCa> {
                        tx.sandbox_ca().await
                    }))
                    .await
            };
            if let Some(stored) = read().await? {
                return Ok(Arc::new(
                    SandboxCa::from_stored(&stored).expect("the stored CA is one we wrote"),
                ));
            }
            let made = SandboxCa::generate(&self.platform_key.public_key()).to_stored();
            let now = self.now_ms();
            self.store
                .write(
                    op!(|tx| [made: crate::alipay::certs::StoredCa = made, now: i64 = now] -> () {
                        tx.insert_sandbox_ca(&made, now).await
                    }),
                )
                .await?;
            // Another node may have stored its own first: whatever is stored is the CA.
            let stored = read().await?.expect("a CA was just stored");
            Ok(Arc::new(
                SandboxCa::from_stored(&stored).expect("the stored CA is one we wrote"),
            ))
        };
        self.ca.get_or_try_init(load).await.cloned()
    }

    /// Now for a merchant's ledger and notifications: its test clock, if it has one.
    pub fn now_for(&self, merchant_pid: &str) -> i64 {
        self.sandbox.now_for(self.clock.now_ms(), merchant_pid)
    }
}

/// The merchant a call acts for: the app's owner, or the merchant that granted the app an
/// `app_auth_token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acting {
    pub app_id: AppId,
    pub merchant_pid: MerchantPid,
    pub via_token: bool,
}

/// Who is calling, through which door, and where a notification of the call's effect goes.
#[derive(Debug, Clone)]
pub struct CallContext {
    pub who: Acting,
    pub channel: Channel,
    pub notify: Option<Target>,
}

/// Why an operation did not succeed: the ledger said no, or the store failed.
#[derive(Debug)]
pub enum OpError {
    Refused(Refusal),
    /// A platform method's refusal with a gateway code (`40002 isv.code-invalid`, …).
    Gateway(crate::alipay::codes::GatewayError),
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

/// A store operation's result as an operation's: the store's failure, or the ledger's answer.
pub(crate) fn settle<A>(outcome: Result<Result<A, Refusal>, StoreError>) -> Result<A, OpError> {
    Ok(outcome??)
}
