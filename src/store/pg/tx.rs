//! `Tx` on PostgreSQL: the two primitives (over `conn.rs`), the reads made in one statement
//! (`facts.rs`) and a plan applied in as few statements as its effects allow (`plan.rs`).

use std::future::Future;

use super::conn::{PgTx, bound, row_values};

use crate::ledger::idempotency::{Key, Record};
use crate::ledger::{ShopFacts, TicketView, Trans};
use crate::store::ledger::{LedgerTx, Plan, UseOrderHistory};
use crate::store::sql::{Arg, Row};
use crate::store::{StoreError, Tx};

/// `LOCKS`: a write's statements lock the rows they read (`FOR UPDATE`); a read's, in its
/// read-only snapshot, do not.
impl<const LOCKS: bool> Tx for PgTx<'_, LOCKS> {
    const LOCKS: bool = LOCKS;

    fn rows(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Vec<Row>, StoreError>> + Send {
        let query = bound(sql, args);
        async move {
            self.statement()?;
            let rows = query.fetch_all(&mut *self.conn).await?;
            rows.iter().map(row_values).collect()
        }
    }

    fn execute(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        let query = bound(sql, args);
        async move {
            self.statement()?;
            Ok(query.execute(&mut *self.conn).await?.rows_affected())
        }
    }

    async fn query_view(
        &mut self,
        code: &str,
        merchant_pid: &str,
        shop_id: &str,
    ) -> Result<Option<(TicketView, ShopFacts, Vec<Trans>)>, StoreError> {
        super::facts::query_view(self, code, merchant_pid, shop_id).await
    }

    async fn record_and_shop(
        &mut self,
        key: &Key,
        shop_id: &str,
    ) -> Result<(Option<Record>, ShopFacts), StoreError> {
        super::facts::record_and_shop(self, key, shop_id).await
    }

    async fn use_order_history(
        &mut self,
        merchant_pid: &str,
        request_id: &str,
    ) -> Result<Option<UseOrderHistory>, StoreError> {
        super::facts::use_order_history(self, merchant_pid, request_id).await
    }

    /// A run of row writes is one statement: one round trip, not one each.
    async fn apply(&mut self, plan: &Plan) -> Result<(), StoreError> {
        let mut rest = plan.effects.as_slice();
        while let Some(first) = rest.first() {
            let run = super::plan::combinable_run(rest);
            if run > 1 {
                super::plan::apply_rows(self, &rest[..run], plan.now).await?;
                rest = &rest[run..];
            } else {
                self.apply_effect(first, plan.now).await?;
                rest = &rest[1..];
            }
        }
        Ok(())
    }
}
