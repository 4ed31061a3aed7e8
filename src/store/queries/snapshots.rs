//! Snapshots of the sandbox: every table a reset empties, copied to `snap_<name>_<table>` in
//! the same database (plain SQL both backends accept, inside one transaction), and copied back.
//! The platform key and the sandbox CA are never part of one.

use std::future::Future;

use super::Tx;
use super::lists::RESET_ORDER;
use crate::store::StoreError;
use crate::store::sql::{Cols, FromRow, args};

/// A snapshot in the register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRow {
    pub name: String,
    pub created_at: i64,
    pub row_count: i64,
}

impl FromRow for SnapshotRow {
    fn from_cols(c: &mut Cols) -> Result<Self, StoreError> {
        Ok(SnapshotRow {
            name: c.text()?,
            created_at: c.int()?,
            row_count: c.int()?,
        })
    }
}

/// The copy of `table` in snapshot `name` (a name is checked to be `[A-Za-z0-9_]`, so it can
/// stand in a table name).
fn copy_of(name: &str, table: &str) -> String {
    debug_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    format!("snap_{name}_{table}")
}

/// The statements of snapshots, for every backend.
pub trait Snapshots: Tx {
    fn snapshots(&mut self) -> impl Future<Output = Result<Vec<SnapshotRow>, StoreError>> + Send {
        async move {
            let sql = "SELECT name, created_at, row_count FROM snapshots ORDER BY name";
            super::all(self, sql, &[]).await
        }
    }

    /// Copies every table; false when a snapshot of that name exists.
    fn save_snapshot(
        &mut self,
        name: &str,
        now: i64,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send {
        async move {
            let sql = "INSERT INTO snapshots (name, created_at, row_count) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING";
            if self.execute(sql, &args![name, now]).await? != 1 {
                return Ok(None);
            }
            let mut rows = 0;
            for table in RESET_ORDER {
                let copy = copy_of(name, table);
                self.execute(
                    &format!("CREATE TABLE {copy} AS SELECT * FROM {table}"),
                    &[],
                )
                .await?;
                let count: Option<i64> =
                    super::one(self, &format!("SELECT COUNT(*) FROM {copy}"), &[]).await?;
                rows += count.unwrap_or(0);
            }
            let sql = "UPDATE snapshots SET row_count = $1 WHERE name = $2";
            self.execute(sql, &args![rows, name]).await?;
            Ok(Some(rows))
        }
    }

    /// Replaces every table's rows with the snapshot's; false when there is no such snapshot.
    fn restore_snapshot(
        &mut self,
        name: &str,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send {
        async move {
            let sql = "SELECT name, created_at, row_count FROM snapshots WHERE name = $1";
            let Some(found) = super::one::<SnapshotRow, _>(self, sql, &args![name]).await? else {
                return Ok(None);
            };
            for table in RESET_ORDER {
                self.execute(&format!("DELETE FROM {table}"), &[]).await?;
            }
            for table in RESET_ORDER.iter().rev() {
                let copy = copy_of(name, table);
                self.execute(&format!("INSERT INTO {table} SELECT * FROM {copy}"), &[])
                    .await?;
            }
            Ok(Some(found.row_count))
        }
    }

    /// Deletes a snapshot; false when there is none of that name.
    fn delete_snapshot(
        &mut self,
        name: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move {
            let sql = "DELETE FROM snapshots WHERE name = $1";
            if self.execute(sql, &args![name]).await? != 1 {
                return Ok(false);
            }
            for table in RESET_ORDER {
                let copy = copy_of(name, table);
                self.execute(&format!("DROP TABLE IF EXISTS {copy}"), &[])
                    .await?;
            }
            Ok(true)
        }
    }
}

impl<T: Tx> Snapshots for T {}
