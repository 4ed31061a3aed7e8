//! Delivery: a step function (`deliver_next`) that claims one due notification, POSTs it and
//! records the outcome, and a loop that runs it on a few tasks inside `serve`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::message;
use crate::alipay::PrivateKey;
use crate::clock::SharedClock;
use crate::ids;
use crate::metrics::Metrics;
use crate::store::{NotificationRow, OutboxStatus, Store, StoreError, op};

/// How much longer than an attempt's timeout a claim lasts.
pub const LEASE_MARGIN_MS: i64 = 5_000;

/// Delivery settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Waits after each failed attempt; one attempt more than steps, then parked.
    pub schedule_ms: Vec<i64>,
    /// Per-attempt timeout (connect, send, answer).
    pub timeout: Duration,
    /// Concurrent deliveries per node.
    pub workers: usize,
    /// Where notifications may be sent (`--notify-targets`).
    pub targets: Arc<super::targets::Targets>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            schedule_ms: super::parse_schedule(super::DEFAULT_SCHEDULE)
                .expect("the default schedule parses"),
            timeout: Duration::from_secs(10),
            workers: 4,
            targets: Default::default(),
        }
    }
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing due; the earliest pending notification is due at this time, if any.
    Idle {
        next_due: Option<i64>,
    },
    Delivered {
        notify_id: String,
    },
    /// Failed; tried again at `next_attempt_at`.
    Retry {
        notify_id: String,
        next_attempt_at: i64,
        error: String,
    },
    /// Failed for the last time; an operator can resend it.
    Parked {
        notify_id: String,
        error: String,
    },
    /// Our claim ran out before we finished: another node owns it now.
    Lost {
        notify_id: String,
    },
}

/// Delivers notifications from one store.
pub struct Deliverer {
    store: Store,
    key: PrivateKey,
    http: reqwest::Client,
    settings: Settings,
    metrics: Option<Arc<Metrics>>,
    sandbox: Option<Arc<crate::sandbox::Sandbox>>,
}

impl Deliverer {
    pub fn new(store: Store, key: PrivateKey, settings: Settings) -> Deliverer {
        let http = super::targets::client(&settings.targets, settings.timeout);
        Deliverer {
            store,
            key,
            http,
            settings,
            metrics: None,
            sandbox: None,
        }
    }

    /// A deliverer that counts its outcomes in `metrics`.
    pub fn with_metrics(
        store: Store,
        key: PrivateKey,
        settings: Settings,
        metrics: Arc<Metrics>,
    ) -> Deliverer {
        Deliverer {
            metrics: Some(metrics),
            ..Deliverer::new(store, key, settings)
        }
    }

    /// A deliverer that schedules each merchant's notifications by its test clock.
    pub fn with_sandbox(mut self, sandbox: Arc<crate::sandbox::Sandbox>) -> Deliverer {
        self.sandbox = Some(sandbox);
        self
    }

    /// Claims the most overdue notification at `now`, attempts it once and records the result.
    ///
    /// A notification of a merchant with a test clock is due by that clock, and is attempted
    /// as if on schedule: its next attempt is timed from when this one was due, not from now,
    /// so advancing the clock by a day makes a day's attempts at once.
    pub async fn deliver_next(&self, now: i64) -> Result<Outcome, StoreError> {
        let max_offset = self.sandbox.as_ref().map_or(0, |s| s.max_offset());
        let token = ids::hex(24);
        // The lease outlives the attempt (and the write that records it), so that no other node
        // starts the same one meanwhile; if this node dies mid-attempt, the lease runs out and
        // the notification is attempted again.
        let lease_until = now + self.settings.timeout.as_millis() as i64 + LEASE_MARGIN_MS;
        let claim_token = token.clone();
        let claimed = self
            .store
            .write(op!(|tx| [
                token: String = claim_token,
                now: i64 = now,
                lease_until: i64 = lease_until,
                max_offset: i64 = max_offset,
            ] -> Option<NotificationRow> {
                tx.claim_notification(now, lease_until, &token, max_offset)
                    .await
            }))
            .await?;
        let Some(row) = claimed else {
            let next_due = self
                .store
                .read(op!(|tx| -> Option<i64> {
                    tx.next_notification_due().await
                }))
                .await?;
            return Ok(Outcome::Idle { next_due });
        };
        let offset = match (&self.sandbox, &row.merchant_pid) {
            (Some(sandbox), Some(pid)) => sandbox.offset(pid),
            _ => 0,
        };
        // The attempt's time by the merchant's clock, and when it counts as made.
        let merchant_now = now + offset;
        let made_at = if offset > 0 {
            row.next_attempt_at.min(merchant_now)
        } else {
            now
        };
        // Sent as of when it was due by the merchant's clock: after a clock advance, each of the
        // attempts made at once is dated as it would have been on schedule.
        let error = self.attempt(&row, made_at).await.err();
        let attempt = row.attempts as usize; // 0 for the first attempt
        let (status, next_attempt_at) = match (&error, self.settings.schedule_ms.get(attempt)) {
            (None, _) => (OutboxStatus::Delivered, merchant_now),
            (Some(_), Some(wait)) => (OutboxStatus::Pending, made_at + wait),
            (Some(_), None) => (OutboxStatus::Parked, merchant_now),
        };
        let notify_id = row.notify_id.clone();
        let last_error = error.clone();
        let still_ours = self
            .store
            .write(op!(|tx| [
                id: String = notify_id,
                token: String = token,
                status: OutboxStatus = status,
                next_attempt_at: i64 = next_attempt_at,
                last_error: Option<String> = last_error,
                now: i64 = now,
            ] -> bool {
                tx.finish_notification(&id, &token, status, next_attempt_at, last_error.as_deref(), now)
                    .await
            }))
            .await?;
        let notify_id = row.notify_id.clone();
        if let Some(metrics) = &self.metrics {
            metrics.notification(if still_ours { status.name() } else { "lost" });
        }
        if !still_ours {
            return Ok(Outcome::Lost { notify_id });
        }
        if status == OutboxStatus::Delivered {
            self.deliver_again_if_asked(&row, merchant_now).await?;
        }
        Ok(match (status, error) {
            (OutboxStatus::Delivered, _) => Outcome::Delivered { notify_id },
            (OutboxStatus::Pending, Some(error)) => Outcome::Retry {
                notify_id,
                next_attempt_at,
                error,
            },
            (_, error) => Outcome::Parked {
                notify_id,
                error: error.unwrap_or_default(),
            },
        })
    }

    /// The sandbox's duplicate delivery (`admin app notify-twice`): a delivered notification
    /// of such an app is sent once more, at once, with the same `notify_id`, and recorded as
    /// an attempt; whatever the receiver answers, the notification stays delivered.
    async fn deliver_again_if_asked(
        &self,
        row: &NotificationRow,
        now: i64,
    ) -> Result<(), StoreError> {
        let app_id = row.app_id.clone();
        let twice = self
            .store
            .read(op!(|tx| [app_id: String = app_id] -> bool { tx.notifies_twice(&app_id).await }))
            .await?;
        if !twice {
            return Ok(());
        }
        let error = self.attempt(row, now).await.err();
        let id = row.notify_id.clone();
        self.store
            .write(
                op!(|tx| [id: String = id, now: i64 = now, error: Option<String> = error] -> () {
                    tx.record_extra_attempt(&id, now, error.as_deref()).await
                }),
            )
            .await
    }

    /// One POST; success is HTTP 200 with the body exactly `success`.
    async fn attempt(&self, row: &crate::store::NotificationRow, now: i64) -> Result<(), String> {
        let targets = &self.settings.targets;
        // The URL was accepted when the call was made, perhaps under another policy.
        if targets.check_url(&row.url).is_err() {
            return Err("refused by --notify-targets: the address is not an allowed target".into());
        }
        let (params, charset) = message::signed(row, now, &self.key);
        let body = message::body(&params, charset);
        let response = self
            .http
            .post(&row.url)
            .header(
                "content-type",
                format!(
                    "application/x-www-form-urlencoded; charset={}",
                    charset.name()
                ),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status();
        let text = response.bytes().await.map_err(|e| describe(&e))?;
        if status != reqwest::StatusCode::OK {
            return Err(format!("HTTP {}", status.as_u16()));
        }
        if &text[..] != b"success" {
            if **targets != super::targets::Targets::Any {
                // A restricted node does not repeat what a target answered.
                return Err(format!("answered {} bytes, not \"success\"", text.len()));
            }
            let shown: String = String::from_utf8_lossy(&text).chars().take(64).collect();
            return Err(format!("answered {shown:?}, not \"success\""));
        }
        Ok(())
    }

    /// Runs `workers` delivery loops until `shutdown` turns true; `clock` says what is due.
    pub async fn run(
        self: Arc<Self>,
        clock: SharedClock,
        wake: Arc<Notify>,
        shutdown: watch::Receiver<bool>,
    ) {
        let loops: Vec<_> = (0..self.settings.workers.max(1))
            .map(|_| {
                let (me, wake, shutdown) = (self.clone(), wake.clone(), shutdown.clone());
                let clock = clock.clone();
                tokio::spawn(async move { me.work(clock, wake, shutdown).await })
            })
            .collect();
        for l in loops {
            let _ = l.await;
        }
    }

    async fn work(
        &self,
        clock: SharedClock,
        wake: Arc<Notify>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        const POLL_MS: i64 = 1_000;
        while !*shutdown.borrow() {
            let now = clock.now_ms();
            let pause_ms = match self.deliver_next(now).await {
                Ok(Outcome::Idle { next_due }) => {
                    next_due.map_or(POLL_MS, |due| (due - now).clamp(0, POLL_MS))
                }
                Ok(Outcome::Retry {
                    notify_id, error, ..
                }) => {
                    tracing::info!(%notify_id, %error, "notification not acknowledged; will retry");
                    0
                }
                Ok(Outcome::Parked { notify_id, error }) => {
                    tracing::warn!(%notify_id, %error, "notification parked after its last attempt");
                    0
                }
                Ok(_) => 0,
                Err(e) => {
                    tracing::error!(error = %e, "notification delivery could not reach the store");
                    POLL_MS
                }
            };
            if pause_ms > 0 {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(pause_ms as u64)) => {}
                    _ = wake.notified() => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }
}

pub(super) fn describe(e: &reqwest::Error) -> String {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<super::targets::Refused>() {
            return refused.to_string();
        }
        source = s.source();
    }
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text
    }
}
