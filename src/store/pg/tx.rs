//! A transaction (or, for a read, a session) on a PostgreSQL connection through sqlx: the two
//! primitives, the reads made in one statement (`facts.rs`) and a plan applied in as few
//! statements as its effects allow (`plan.rs`).

use std::future::Future;

use sqlx::postgres::{PgArguments, PgConnection, PgRow};
use sqlx::query::Query;
use sqlx::{Column, Postgres, Row as _, TypeInfo};

use crate::ledger::idempotency::{Key, Record};
use crate::ledger::{ShopFacts, TicketView, Trans};
use crate::store::ledger::{LedgerTx, Plan, UseOrderHistory};
use crate::store::sql::{Arg, Row, Value};
use crate::store::{StoreError, Tx};

/// A transaction on a PostgreSQL connection.
pub struct PgTx<'c> {
    pub(super) conn: &'c mut PgConnection,
}

/// `sql` with `args` bound, as sqlx runs it (a prepared statement, cached per connection).
pub(super) fn bound<'q>(sql: &str, args: &[Arg<'_>]) -> Query<'q, Postgres, PgArguments> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for arg in args {
        query = match arg {
            Arg::Int(v) => query.bind(*v),
            Arg::Text(v) => query.bind(v.as_deref()),
        };
    }
    query
}

/// A result row's values: integers of any width and text (JSON built by a statement is cast to
/// text); anything else is a statement this store does not write.
pub(super) fn row_values(row: &PgRow) -> Result<Row, StoreError> {
    let mut values = Vec::with_capacity(row.columns().len());
    for (i, column) in row.columns().iter().enumerate() {
        let value = match column.type_info().name() {
            "INT8" => row.try_get::<Option<i64>, _>(i)?.map(Value::Int),
            "INT4" => row
                .try_get::<Option<i32>, _>(i)?
                .map(|n| Value::Int(n.into())),
            "INT2" => row
                .try_get::<Option<i16>, _>(i)?
                .map(|n| Value::Int(n.into())),
            "BOOL" => row
                .try_get::<Option<bool>, _>(i)?
                .map(|b| Value::Int(b.into())),
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => {
                row.try_get::<Option<String>, _>(i)?.map(Value::Text)
            }
            other => {
                return Err(StoreError::Decode(format!(
                    "column {} is of type {other}",
                    column.name()
                )));
            }
        };
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

impl Tx for PgTx<'_> {
    const LOCKS: bool = true;

    fn rows(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Vec<Row>, StoreError>> + Send {
        let query = bound(sql, args);
        async move {
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
        async move { Ok(query.execute(&mut *self.conn).await?.rows_affected()) }
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
