//! Every statement, written once in SQL that SQLite and PostgreSQL both accept (`$n`
//! placeholders, `ON CONFLICT DO NOTHING`, BIGINT/TEXT columns), grouped by what it touches.
//! Each file is a vocabulary trait over [`Tx`](super::Tx)'s two primitives, implemented for
//! every `Tx` at once: the row kinds' columns, arguments and decoding live beside their SQL.

pub(super) mod codes;
pub(super) mod history;
pub(super) mod lists;
pub(super) mod log;
pub(super) mod notifications;
pub(super) mod sandbox;
pub(super) mod snapshots;
pub(super) mod tenants;
pub(super) mod tickets;
pub(super) mod tokens;

pub use codes::Codes;
pub use history::History;
pub use lists::{Lists, Rows};
pub use log::{LogFilter, LogRow, RequestLog};
pub use notifications::{NotificationRow, Outbox, OutboxStatus};
pub use sandbox::{ClockRow, FaultRow, SandboxRows};
pub use snapshots::{SnapshotRow, Snapshots};
pub use tenants::{AppRecord, Grant, Tenants};
pub use tickets::Tickets;
pub use tokens::{CodeRow, TokenRow, Tokens};

use super::sql::{Arg, FromRow};
use super::{StoreError, Tx};

/// The placeholders of a multi-row `VALUES` list: `rows` groups of `columns` numbered
/// placeholders, `($1, $2), ($3, $4)`.
pub(super) fn values_list(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", super::sql::placeholders(r * columns, columns)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Splits `n` rows into chunks whose sizes are powers of two, largest first and at most `max`
/// (a power of two): few statements, and few distinct statement texts for the cache.
pub(super) fn pow2_chunks(mut n: usize, max: usize) -> impl Iterator<Item = usize> {
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
pub(super) fn inserted(rows: u64, what: &'static str) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict(what))
    }
}

/// The first row of a statement's answer, decoded, if it has one.
pub(super) async fn one<R: FromRow, T: Tx>(
    tx: &mut T,
    sql: &str,
    args: &[Arg<'_>],
) -> Result<Option<R>, StoreError> {
    match tx.rows(sql, args).await?.into_iter().next() {
        Some(row) => R::from_row(row).map(Some),
        None => Ok(None),
    }
}

/// Every row of a statement's answer, decoded.
pub(super) async fn all<R: FromRow, T: Tx>(
    tx: &mut T,
    sql: &str,
    args: &[Arg<'_>],
) -> Result<Vec<R>, StoreError> {
    tx.rows(sql, args)
        .await?
        .into_iter()
        .map(R::from_row)
        .collect()
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
        assert!(log::INSERT_LOG.contains(&values_list(1, 6)));
    }
}
