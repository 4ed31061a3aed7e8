//! The one transaction trait, [`Tx`], and what runs on it, [`Operation`]. `Tx` has exactly two
//! implementations: `sqlite::SyncTx` (rusqlite, on the SQLite file's one writer thread or on a
//! read-only connection) and `pg::PgTx` (sqlx's PostgreSQL connection). Each implements a
//! statement's two primitives ([`Tx::rows`], [`Tx::execute`]), the few reads PostgreSQL makes
//! in one round trip where SQLite makes several, and applying a plan; every other statement is
//! written once, over those primitives, in the vocabulary traits of `queries/` and `ledger.rs`
//! (blanket-implemented for every `Tx`: bring them in with `store::prelude::*`).
//!
//! A method's future may wait (PostgreSQL) or be ready at once (SQLite, whose writer thread
//! drives an operation to its end in one poll): nothing an operation does may depend on which.

use std::future::Future;

use super::StoreError;
use super::ledger::{Plan, UseOrderHistory};
use super::sql::{Arg, Row};
use crate::ledger::idempotency::{Key, Record};
use crate::ledger::{ShopFacts, TicketView, Trans};

/// A transaction on one of the two backends.
pub trait Tx: Send + Sized {
    /// Whether reads can lock rows (`FOR UPDATE`) and skip rows others locked. PostgreSQL's
    /// writers run side by side and need row locks; SQLite's single writer runs one operation
    /// at a time, so there a locking read is a plain read.
    const LOCKS: bool;

    /// Runs a statement and answers its rows.
    fn rows(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Vec<Row>, StoreError>> + Send;

    /// Runs a statement and answers how many rows it changed.
    fn execute(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    // ---- the reads PostgreSQL makes in one statement ----------------------------------

    /// A query's facts: the ticket an internal code names with its item, the merchant's shop,
    /// and the ticket's transactions — `None` when no ticket has the code.
    fn query_view(
        &mut self,
        code: &str,
        merchant_pid: &str,
        shop_id: &str,
    ) -> impl Future<Output = Result<Option<(TicketView, ShopFacts, Vec<Trans>)>, StoreError>> + Send;

    /// The idempotency record of `key` and the merchant's shop `shop_id`.
    fn record_and_shop(
        &mut self,
        key: &Key,
        shop_id: &str,
    ) -> impl Future<Output = Result<(Option<Record>, ShopFacts), StoreError>> + Send;

    /// The merchant's use order of `request_id` with its cancel, its use transactions and
    /// whether one of those was refunded since.
    fn use_order_history(
        &mut self,
        merchant_pid: &str,
        request_id: &str,
    ) -> impl Future<Output = Result<Option<UseOrderHistory>, StoreError>> + Send;

    /// Applies a plan's effects in order (each effect's statement is `ledger::effect_statement`;
    /// PostgreSQL runs a run of them as one statement).
    fn apply(&mut self, plan: &Plan) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Work on the store: async code against a transaction, generic over the backend. It may run
/// more than once (after a conflict), so it touches nothing but `tx` and reads its `now` from
/// its own fields. [`Store::write`](super::Store::write) commits it before its result comes
/// back; [`Store::read`](super::Store::read) runs it read-only.
pub trait Operation: Send + Sync + 'static {
    type Output: Send + 'static;
    fn run<T: Tx>(
        &self,
        tx: &mut T,
    ) -> impl Future<Output = Result<Self::Output, StoreError>> + Send;
}

/// An [`Operation`] from a block, for the one-off operations of the operator's commands:
/// `op!(|tx| [pid: String = pid.into()] -> bool { tx.merchant_exists(&pid).await })`. The
/// values it uses are named with their types and moved in; each run of the block has its own
/// clone of them (an operation may run more than once).
#[macro_export]
macro_rules! op {
    (|$tx:ident| -> $out:ty $body:block) => {
        $crate::op!(|$tx| [] -> $out $body)
    };
    (|$tx:ident| [$($name:ident : $ty:ty = $value:expr),* $(,)?] -> $out:ty $body:block) => {{
        struct Op {
            $($name: $ty,)*
        }
        impl $crate::store::Operation for Op {
            type Output = $out;
            #[allow(unused_variables)]
            async fn run<T: $crate::store::Tx>(
                &self,
                $tx: &mut T,
            ) -> ::std::result::Result<$out, $crate::store::StoreError> {
                #[allow(unused_imports)]
                use $crate::store::prelude::*;
                $(let $name = ::std::clone::Clone::clone(&self.$name);)*
                $body
            }
        }
        Op { $($name: $value,)* }
    }};
}
