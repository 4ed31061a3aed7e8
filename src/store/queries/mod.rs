//! Every statement, written once in SQL that SQLite and PostgreSQL both accept (`$n`
//! placeholders, `ON CONFLICT DO NOTHING`, BIGINT/TEXT columns), grouped by what it touches.

use super::{Conn, StoreError};

/// Runs the same expression against whichever connection this is.
macro_rules! on {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            Conn::Sqlite($c) => $body,
            Conn::Pg($c) => $body,
        }
    };
}

/// Executes a statement on whichever connection this is; returns how many rows it changed.
macro_rules! execute {
    ($conn:expr, $query:expr) => {
        on!($conn, |c| $query
            .execute(&mut **c)
            .await
            .map(|r| r.rows_affected()))
    };
}

pub(super) mod codes;
pub(super) mod history;
pub(super) mod lists;
pub(super) mod notifications;
pub(super) mod sandbox;
pub(in crate::store) mod tenants;
pub(super) mod tickets;

pub use codes::{LogFilter, LogRow};
pub use notifications::{NotificationRow, OutboxStatus};
pub use sandbox::{ClockRow, FaultRow};
pub use tenants::{AppRecord, CodeRow, Grant, TokenRow};
pub use tickets::Lock;

/// Turns "no row was inserted" into a retryable conflict.
fn inserted(rows: u64, what: &'static str) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict(what))
    }
}
