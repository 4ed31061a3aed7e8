//! A transaction on the writer's (or a reader's) rusqlite connection: the two primitives, each
//! statement through the connection's prepared-statement cache, done at once (the futures are
//! ready when made).

use std::future::{Future, ready};

use rusqlite::Connection;
use rusqlite::types::{ToSqlOutput, ValueRef};

use crate::ledger::idempotency::{Key, Record};
use crate::ledger::{ShopFacts, TicketView, Trans};
use crate::store::ledger::{LedgerTx, Plan, UseOrderHistory, one_by_one};
use crate::store::sql::{Arg, Row, Value};
use crate::store::{StoreError, Tx};

/// A transaction on a rusqlite connection.
pub struct SyncTx<'c> {
    pub(super) conn: &'c mut Connection,
}

/// An argument as rusqlite binds it.
impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Arg::Int(Some(n)) => ToSqlOutput::Borrowed(ValueRef::Integer(*n)),
            Arg::Text(Some(t)) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            Arg::Int(None) | Arg::Text(None) => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

fn value(v: ValueRef<'_>) -> Result<Value, StoreError> {
    Ok(match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Int(n),
        ValueRef::Text(t) => Value::Text(
            String::from_utf8(t.to_vec())
                .map_err(|e| StoreError::Decode(format!("a text column is not UTF-8: {e}")))?,
        ),
        ValueRef::Real(_) | ValueRef::Blob(_) => {
            return Err(StoreError::Decode(format!(
                "a column of an unexpected type: {:?}",
                v.data_type()
            )));
        }
    })
}

/// Binds `args` to the statement's placeholders by their numbers: SQLite numbers `$n` in the
/// order the names first appear in the text, not by `n`, so `$2 … $1` is bound by name.
fn bind(statement: &mut rusqlite::CachedStatement<'_>, args: &[Arg<'_>]) -> Result<(), StoreError> {
    for i in 1..=statement.parameter_count() {
        let name = statement.parameter_name(i).unwrap_or_default();
        let n: usize = name
            .strip_prefix('$')
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| StoreError::Decode(format!("a placeholder that is not $n: {name:?}")))?;
        let arg = args.get(n - 1).ok_or_else(|| {
            StoreError::Decode(format!(
                "placeholder {name} has no argument ({} given)",
                args.len()
            ))
        })?;
        statement.raw_bind_parameter(i, arg)?;
    }
    Ok(())
}

impl SyncTx<'_> {
    fn rows_now(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        let mut statement = self.conn.prepare_cached(sql)?;
        bind(&mut statement, args)?;
        let columns = statement.column_count();
        let mut rows = statement.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let values = (0..columns)
                .map(|i| value(row.get_ref(i)?))
                .collect::<Result<Vec<Value>, StoreError>>()?;
            out.push(Row(values));
        }
        Ok(out)
    }

    fn execute_now(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        let mut statement = self.conn.prepare_cached(sql)?;
        bind(&mut statement, args)?;
        Ok(statement.raw_execute()? as u64)
    }
}

impl Tx for SyncTx<'_> {
    const LOCKS: bool = false;

    fn rows(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Vec<Row>, StoreError>> + Send {
        ready(self.rows_now(sql, args))
    }

    fn execute(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        ready(self.execute_now(sql, args))
    }

    async fn query_view(
        &mut self,
        code: &str,
        merchant_pid: &str,
        shop_id: &str,
    ) -> Result<Option<(TicketView, ShopFacts, Vec<Trans>)>, StoreError> {
        one_by_one::query_view(self, code, merchant_pid, shop_id).await
    }

    async fn record_and_shop(
        &mut self,
        key: &Key,
        shop_id: &str,
    ) -> Result<(Option<Record>, ShopFacts), StoreError> {
        one_by_one::record_and_shop(self, key, shop_id).await
    }

    async fn use_order_history(
        &mut self,
        merchant_pid: &str,
        request_id: &str,
    ) -> Result<Option<UseOrderHistory>, StoreError> {
        one_by_one::use_order_history(self, merchant_pid, request_id).await
    }

    /// One statement after the other: in process, a statement costs microseconds.
    async fn apply(&mut self, plan: &Plan) -> Result<(), StoreError> {
        for effect in &plan.effects {
            self.apply_effect(effect, plan.now).await?;
        }
        Ok(())
    }
}
