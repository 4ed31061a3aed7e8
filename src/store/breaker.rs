//! The fail-fast breaker in front of the database: refusing every call while it cannot be
//! reached, or on SQLite only the writes while it cannot commit.

use std::time::Duration;

use super::StoreError;

/// Fail fast while the database is unreachable: after [`Breaker::TRIP_AFTER`] failures in a row
/// that say so (a pool timeout, an I/O error), every call is refused at once with
/// [`StoreError::Unavailable`]; a background probe tries the database every
/// [`Breaker::PROBE_EVERY`] and its first success lets calls through again.
///
/// On SQLite a write that cannot commit (a full disk, an I/O error writing) opens it for writes
/// only: the file can still be read, so queries are still answered while uses and cancels fail
/// fast, and the probe is a real commit.
#[derive(Debug, Default)]
pub struct Breaker {
    state: std::sync::Mutex<BreakerState>,
}

#[derive(Debug, Default)]
struct BreakerState {
    failures: u32,
    open: bool,
    write_failures: u32,
    /// Writes are refused; reads are not. With why the last write failed.
    writes_open: Option<String>,
}

/// What a guarded call is: the breaker may refuse writes only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    Read,
    Write,
}

impl Breaker {
    pub const TRIP_AFTER: u32 = 2;
    pub const PROBE_EVERY: Duration = Duration::from_millis(200);

    pub(super) fn admit(&self, access: Access) -> Result<(), StoreError> {
        let state = self.state.lock().expect("breaker lock");
        if state.open || (access == Access::Write && state.writes_open.is_some()) {
            return Err(StoreError::Unavailable);
        }
        Ok(())
    }

    /// Counts a call's outcome; answers whether this failure opened the breaker (for every
    /// call, or for writes when `local_writes` says a failed write is the disk's).
    pub(super) fn record(
        &self,
        failure: Option<&StoreError>,
        access: Access,
        local_writes: bool,
    ) -> bool {
        let mut state = self.state.lock().expect("breaker lock");
        if access == Access::Write && local_writes {
            match failure {
                Some(e) if e.unreachable() => {
                    state.write_failures += 1;
                    if state.write_failures >= Self::TRIP_AFTER && state.writes_open.is_none() {
                        tracing::warn!(error = %e, "the store cannot commit: refusing writes, still answering reads");
                        state.writes_open = Some(e.to_string());
                        return true;
                    }
                }
                Some(StoreError::Unavailable) => {}
                _ => state.write_failures = 0,
            }
            return false;
        }
        match failure {
            Some(e) if e.unreachable() => {
                state.failures += 1;
                if state.failures >= Self::TRIP_AFTER && !state.open {
                    tracing::warn!(error = %e, "the database is unreachable: failing fast");
                    state.open = true;
                    return true;
                }
            }
            Some(StoreError::Unavailable) => {}
            _ => state.failures = 0,
        }
        false
    }

    pub(super) fn close(&self) {
        let mut state = self.state.lock().expect("breaker lock");
        if state.open {
            tracing::info!("the database is reachable again");
        }
        if state.writes_open.is_some() {
            tracing::info!("the store commits again");
        }
        *state = BreakerState::default();
    }

    /// Whether calls are being refused now.
    pub fn is_open(&self) -> bool {
        let state = self.state.lock().expect("breaker lock");
        state.open || state.writes_open.is_some()
    }

    /// Why writes are being refused while reads are answered, if they are.
    pub fn writes_refused(&self) -> Option<String> {
        self.state.lock().expect("breaker lock").writes_open.clone()
    }
}
