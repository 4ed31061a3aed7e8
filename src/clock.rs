//! The one source of "now" for the ledger and the notification schedule: the system clock in
//! production, a settable clock in tests. Handed down from the edge; nothing below the gateway
//! and the notification worker reads the system time, and a retried transaction reuses the
//! `now` it was given.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_ms(&self) -> i64;
}

/// A clock shared by every part of a node.
pub type SharedClock = Arc<dyn Clock>;

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        system_now_ms()
    }
}

/// The system clock's reading. Only the edges call this: the gateway's timestamp-skew check
/// (which compares with the caller's real clock), the client, and [`SystemClock`].
pub fn system_now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since.as_millis()).expect("milliseconds fit in i64 until the year 292 million")
}

/// The start of the second `ms` falls in. A ticket's validity is kept in whole seconds, as the
/// protocol writes it (`yyyy-MM-dd HH:mm:ss`): what a query shows is what a use is checked
/// against, even within the second the ticket was issued.
pub fn whole_second(ms: i64) -> i64 {
    ms - ms.rem_euclid(1000)
}

/// A clock that stands still until it is set or advanced; it starts at the system time.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now_ms: i64) -> ManualClock {
        ManualClock(AtomicI64::new(now_ms))
    }

    pub fn starting_now() -> ManualClock {
        ManualClock::new(system_now_ms())
    }

    pub fn set(&self, now_ms: i64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }

    pub fn advance(&self, by_ms: i64) {
        self.0.fetch_add(by_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        clock.advance(500);
        assert_eq!(clock.now_ms(), 1_500);
        clock.set(10);
        assert_eq!(clock.now_ms(), 10);
        assert!(SystemClock.now_ms() > 1_700_000_000_000);
    }
}
