//! A transaction (or, for a read, a session) on a PostgreSQL connection through sqlx, and the
//! one place where a statement's arguments and rows meet sqlx's types.

use sqlx::postgres::{PgArguments, PgConnection, PgRow};
use sqlx::query::Query;
use sqlx::{Column, Postgres, Row as _, TypeInfo};

use crate::store::StoreError;
use crate::store::sql::{Arg, Row, Value};

/// A transaction on a PostgreSQL connection.
pub struct PgTx<'c, const LOCKS: bool = true> {
    pub(super) conn: &'c mut PgConnection,
    /// A read's first try runs outside a transaction: one statement is one snapshot. A second
    /// statement is refused ([`StoreError::NeedsSnapshot`], and `second` set) and the read runs
    /// again in a transaction.
    pub(super) outside: Option<Outside>,
}

/// See [`PgTx::outside`].
#[derive(Debug, Default)]
pub(super) struct Outside {
    pub(super) ran: bool,
    pub(super) second: bool,
}

impl<const LOCKS: bool> PgTx<'_, LOCKS> {
    /// Called before each statement.
    pub(super) fn statement(&mut self) -> Result<(), StoreError> {
        if let Some(outside) = &mut self.outside {
            if outside.ran {
                outside.second = true;
                return Err(StoreError::NeedsSnapshot);
            }
            outside.ran = true;
        }
        Ok(())
    }
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
