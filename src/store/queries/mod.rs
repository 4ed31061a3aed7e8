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

// The values of each row-writing statement, in the order of its placeholders: one list, used
// by the statement on its own and as a member of a combined one (`plan.rs`).

macro_rules! bind_trans {
    ($q:expr, $t:expr) => {
        $q.bind(&$t.trans_id)
            .bind(&$t.voucher_id)
            .bind($t.kind.name())
            .bind($t.quantity)
            .bind(&$t.use_order_id)
            .bind(&$t.reverses_trans_id)
            .bind($t.expire_change.map(|c| c.0))
            .bind($t.expire_change.map(|c| c.1))
            .bind($t.created_at)
    };
}

macro_rules! bind_use_order {
    ($q:expr, $o:expr) => {
        $q.bind(&$o.use_order_id)
            .bind(&$o.merchant_pid)
            .bind(&$o.request_id)
            .bind($o.channel.name())
            .bind(i64::from($o.closed))
            .bind(&$o.ticket_code)
            .bind($o.code_type.map_or("INVALID", CodeType::name))
            .bind(&$o.order_no)
            .bind(&$o.voucher_id)
            .bind($o.quantity)
            .bind($o.created_at)
    };
}

macro_rules! bind_cancel {
    ($q:expr, $r:expr) => {
        $q.bind(&$r.cancel_id)
            .bind(&$r.merchant_pid)
            .bind(&$r.request_id)
            .bind(&$r.use_order_id)
            .bind(&$r.trans_id)
            .bind($r.created_at)
    };
}

macro_rules! bind_idempotency {
    ($q:expr, $key:expr, $record:expr, $now:expr) => {{
        let (refused, answer) = crate::store::queries::history::record_columns($record);
        $q.bind($key.merchant_pid.as_str())
            .bind($key.method)
            .bind($key.request_id.as_str())
            .bind(&$record.fingerprint)
            .bind(refused)
            .bind(answer)
            .bind($now)
    }};
}

macro_rules! bind_notification {
    ($q:expr, $n:expr) => {
        $q.bind(&$n.notify_id)
            .bind(&$n.app_id)
            .bind(&$n.url)
            .bind(&$n.charset)
            .bind(&$n.sign_type)
            .bind(&$n.biz_type)
            .bind(&$n.request_id)
            .bind(&$n.fields)
            .bind($n.status.name())
            .bind($n.attempts)
            .bind($n.next_attempt_at)
            .bind(&$n.last_error)
            .bind($n.claimed_until)
            .bind(&$n.claim_token)
            .bind($n.created_at)
            .bind(&$n.merchant_pid)
    };
}

/// A single-ticket update (`$1` the value, `$2` now, `$3` the voucher id).
macro_rules! bind_ticket_update {
    ($q:expr, $value:expr, $now:expr, $voucher_id:expr) => {
        $q.bind($value).bind($now).bind($voucher_id)
    };
}

pub(super) mod codes;
pub(super) mod facts;
pub(super) mod history;
pub(super) mod lists;
pub(super) mod notifications;
pub(super) mod plan;
pub(super) mod sandbox;
pub(in crate::store) mod tenants;
pub(super) mod tickets;

pub use codes::{LogFilter, LogRow};
pub use notifications::{NotificationRow, OutboxStatus};
pub use sandbox::{ClockRow, FaultRow};
pub use tenants::{AppRecord, CodeRow, Grant, TokenRow};
pub use tickets::Lock;

/// The placeholders of a multi-row `VALUES` list: `rows` groups of `columns` numbered
/// placeholders, `($1, $2), ($3, $4)`.
fn values_list(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| {
            let p: Vec<String> = (1..=columns)
                .map(|c| format!("${}", r * columns + c))
                .collect();
            format!("({})", p.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Splits `n` rows into chunks whose sizes are powers of two, largest first and at most `max`
/// (a power of two): few statements, and few distinct statement texts for the cache.
fn pow2_chunks(mut n: usize, max: usize) -> impl Iterator<Item = usize> {
    debug_assert!(max.is_power_of_two());
    std::iter::from_fn(move || {
        if n == 0 {
            return None;
        }
        let size = if n >= max { max } else { 1 << n.ilog2() };
        n -= size;
        Some(size)
    })
}

/// Turns "no row was inserted" into a retryable conflict.
fn inserted(rows: u64, what: &'static str) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_powers_of_two_that_add_up() {
        for n in 0..300 {
            let sizes: Vec<usize> = pow2_chunks(n, 64).collect();
            assert_eq!(sizes.iter().sum::<usize>(), n);
            assert!(sizes.iter().all(|s| s.is_power_of_two() && *s <= 64));
            assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
        }
        assert_eq!(pow2_chunks(135, 64).collect::<Vec<_>>(), [64, 64, 4, 2, 1]);
    }

    #[test]
    fn a_values_list_numbers_its_placeholders_in_order() {
        assert_eq!(values_list(2, 2), "($1, $2), ($3, $4)");
        assert_eq!(values_list(1, 3), "($1, $2, $3)");
        // The request log's multi-row statement is made by widening this one's list.
        assert!(codes::INSERT_LOG.contains(&values_list(1, 6)));
    }
}
