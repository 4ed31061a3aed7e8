//! A plan's row writes in one statement on PostgreSQL. Consecutive inserts and ticket updates
//! become the members of one `WITH … SELECT`, each member answering how many rows it wrote, so
//! a `use` or a `cancel` applies its plan in one round trip instead of one per row. The members
//! are the effects' own statements (`ledger::row_write`), with their placeholders renumbered.
//! (Every member runs, even after one found its key taken; the statement's answer says which
//! wrote nothing, and the transaction is then rolled back and retried, as one by one.)

use std::collections::HashSet;
use std::fmt::Write;

use sqlx::Row as _;

use super::conn::{PgTx, bound};
use crate::store::effects::{Check, row_write};
use crate::store::{Effect, StoreError};

/// Whether an effect can be a member of a combined statement: an insert or a ticket's
/// quantity, whose statements answer rows written.
fn combinable(effect: &Effect) -> bool {
    matches!(
        effect,
        Effect::UseOrder(_)
            | Effect::Trans(_)
            | Effect::Available { .. }
            | Effect::Cancel(_)
            | Effect::Record(..)
            | Effect::Notify(_)
    )
}

/// The longest run of effects from the start of `effects` that one statement can apply: row
/// writes only, and no ticket updated twice (a statement changes a row at most once).
pub(in crate::store) fn combinable_run(effects: &[Effect]) -> usize {
    let mut updated = HashSet::new();
    effects
        .iter()
        .take_while(|e| {
            combinable(e)
                && match e {
                    Effect::Available { voucher_id, .. } => updated.insert(voucher_id.as_str()),
                    _ => true,
                }
        })
        .count()
}

/// `sql` with every placeholder `$n` moved up by `offset`, and the highest placeholder it had.
fn shifted(sql: &str, offset: usize) -> (String, usize) {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut highest = 0;
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: usize = rest[..digits].parse().expect("a placeholder's number");
        highest = highest.max(n);
        write!(out, "{}", n + offset).expect("writing to a string");
        rest = &rest[digits..];
    }
    out.push_str(rest);
    (out, highest)
}

/// The combined statement for `effects` (each `combinable`).
fn combined_sql(effects: &[Effect]) -> String {
    let mut sql = String::from("WITH ");
    let mut offset = 0;
    for (i, effect) in effects.iter().enumerate() {
        let member = row_write(effect, 0)
            .expect("only row writes are combined")
            .sql;
        let (member, highest) = shifted(member, offset);
        offset += highest;
        let comma = if i == 0 { "" } else { ", " };
        write!(sql, "{comma}e{i} AS ({member} RETURNING 1)").expect("writing to a string");
    }
    sql.push_str(" SELECT ");
    for i in 0..effects.len() {
        let comma = if i == 0 { "" } else { ", " };
        write!(sql, "{comma}(SELECT count(*) FROM e{i})").expect("writing to a string");
    }
    sql
}

/// Applies row writes (a run `combinable_run` allowed) in one statement: as running them one
/// by one would, an insert whose key is taken is a retryable conflict.
pub(super) async fn apply_rows<const LOCKS: bool>(
    tx: &mut PgTx<'_, LOCKS>,
    effects: &[Effect],
    now: i64,
) -> Result<(), StoreError> {
    let sql = combined_sql(effects);
    let writes: Vec<_> = effects
        .iter()
        .map(|e| row_write(e, now).expect("only row writes are combined"))
        .collect();
    let args: Vec<_> = writes.iter().flat_map(|w| w.args.iter().cloned()).collect();
    let row = bound(&sql, &args)
        .fetch_one(&mut *tx.conn)
        .await
        .map_err(|e| match &e {
            // A member that refers to a row an earlier member would have inserted fails its
            // foreign key when that insert found its key taken (by a concurrent writer: the
            // members run one after the other, but are checked at the statement's end). Run
            // one by one, the taken key would have been the conflict; it is the same here.
            sqlx::Error::Database(db) if db.code().as_deref() == Some("23503") => {
                StoreError::Conflict("a row inserted with the same statement")
            }
            _ => StoreError::from(e),
        })?;
    for (i, write) in writes.iter().enumerate() {
        let written = u64::try_from(row.try_get::<i64, _>(i)?).unwrap_or(0);
        debug_assert!(write.check != Check::Any);
        write.check.verify(written)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_moved_up_and_counted() {
        let (sql, highest) = shifted("VALUES ($1, $2, $10, $10) x", 5);
        assert_eq!(sql, "VALUES ($6, $7, $15, $15) x");
        assert_eq!(highest, 10);
        assert_eq!(shifted("no placeholders", 3), ("no placeholders".into(), 0));
    }

    fn available(voucher_id: &str) -> Effect {
        Effect::Available {
            voucher_id: voucher_id.into(),
            delta: -1,
        }
    }

    #[test]
    fn a_run_stops_at_a_ticket_updated_twice_and_at_other_effects() {
        let effects = [available("v1"), available("v2"), available("v1")];
        assert_eq!(combinable_run(&effects), 2);
        let effects = [
            available("v1"),
            Effect::TrimLog { keep: 1 },
            available("v2"),
        ];
        assert_eq!(combinable_run(&effects), 1);
        assert_eq!(combinable_run(&[Effect::TrimLog { keep: 1 }]), 0);
    }

    #[test]
    fn members_number_their_placeholders_one_after_another() {
        let sql = combined_sql(&[available("v1"), available("v2")]);
        assert!(sql.starts_with("WITH e0 AS (UPDATE tickets"), "{sql}");
        assert!(sql.contains("WHERE voucher_id = $3 RETURNING 1)"), "{sql}");
        assert!(sql.contains("WHERE voucher_id = $6 RETURNING 1)"), "{sql}");
        assert!(
            sql.ends_with(" SELECT (SELECT count(*) FROM e0), (SELECT count(*) FROM e1)"),
            "{sql}"
        );
    }
}
