//! Sandbox powers: merchants' test clocks and injected faults.

use std::future::Future;

use serde::Serialize;

use super::{Tx, all, inserted, one};
use crate::store::StoreError;
use crate::store::sql::{Cols, FromRow, args};

/// A merchant's test clock: its time is real time plus `offset_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClockRow {
    pub merchant_pid: String,
    pub offset_ms: i64,
    pub updated_at: i64,
}

impl FromRow for ClockRow {
    fn from_cols(c: &mut Cols) -> Result<Self, StoreError> {
        Ok(ClockRow {
            merchant_pid: c.text()?,
            offset_ms: c.int()?,
            updated_at: c.int()?,
        })
    }
}

/// An injected fault, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRow {
    pub fault_id: String,
    pub method: String,
    pub app_id: Option<String>,
    pub ticket_code: Option<String>,
    /// The answer's code; `None` for a fault that only delays.
    pub code: Option<String>,
    pub sub_code: Option<String>,
    pub sub_msg: Option<String>,
    /// 1: the operation runs and commits first, then the fault is answered.
    pub after_commit: i64,
    pub latency_ms: i64,
    /// Calls it still applies to; `None` until cleared.
    pub remaining: Option<i64>,
    /// Calls it has applied to.
    pub hits: i64,
    pub created_at: i64,
}

const FAULT_COLUMNS: &str = "fault_id, method, app_id, ticket_code, code, sub_code, sub_msg, after_commit, \
     latency_ms, remaining, hits, created_at";

impl FromRow for FaultRow {
    fn from_cols(c: &mut Cols) -> Result<Self, StoreError> {
        Ok(FaultRow {
            fault_id: c.text()?,
            method: c.text()?,
            app_id: c.opt_text()?,
            ticket_code: c.opt_text()?,
            code: c.opt_text()?,
            sub_code: c.opt_text()?,
            sub_msg: c.opt_text()?,
            after_commit: c.int()?,
            latency_ms: c.int()?,
            remaining: c.opt_int()?,
            hits: c.int()?,
            created_at: c.int()?,
        })
    }
}

/// The statements of the sandbox's clocks and faults, for every backend.
pub trait SandboxRows: Tx {
    fn clocks(&mut self) -> impl Future<Output = Result<Vec<ClockRow>, StoreError>> + Send {
        async move {
            let sql =
                "SELECT merchant_pid, offset_ms, updated_at FROM test_clocks ORDER BY merchant_pid";
            all(self, sql, &[]).await
        }
    }

    /// Moves a merchant's clock to `offset_ms` ahead of real time, if that is not backwards;
    /// answers the offset it has afterwards.
    fn move_clock(
        &mut self,
        pid: &str,
        offset_ms: i64,
        now: i64,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send {
        async move {
            let sql = "INSERT INTO test_clocks (merchant_pid, offset_ms, updated_at) VALUES ($1, $2, $3) \
                       ON CONFLICT (merchant_pid) DO UPDATE SET offset_ms = excluded.offset_ms, updated_at = excluded.updated_at \
                       WHERE test_clocks.offset_ms <= excluded.offset_ms";
            self.execute(sql, &args![pid, offset_ms, now]).await?;
            self.clock_offset(pid).await
        }
    }

    /// A merchant's clock offset (after a write that made sure it has a row).
    fn clock_offset(&mut self, pid: &str) -> impl Future<Output = Result<i64, StoreError>> + Send {
        async move {
            let sql = "SELECT offset_ms FROM test_clocks WHERE merchant_pid = $1";
            one(self, sql, &args![pid])
                .await?
                .ok_or(StoreError::Conflict("test_clocks.merchant_pid"))
        }
    }

    /// Adds `by_ms` (≥ 0) to a merchant's clock; answers its offset afterwards.
    fn advance_clock(
        &mut self,
        pid: &str,
        by_ms: i64,
        now: i64,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send {
        async move {
            let sql = "INSERT INTO test_clocks (merchant_pid, offset_ms, updated_at) VALUES ($1, $2, $3) \
                       ON CONFLICT (merchant_pid) DO UPDATE SET offset_ms = test_clocks.offset_ms + excluded.offset_ms, \
                       updated_at = excluded.updated_at";
            self.execute(sql, &args![pid, by_ms, now]).await?;
            self.clock_offset(pid).await
        }
    }

    /// Puts a merchant back on real time; answers whether it had a test clock. Its pending
    /// notifications move back by the offset, so that they stay as far from being due.
    fn delete_clock(&mut self, pid: &str) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move {
            let sql = "UPDATE notifications SET next_attempt_at = next_attempt_at - \
                       (SELECT offset_ms FROM test_clocks WHERE merchant_pid = $1) \
                       WHERE merchant_pid = $1 AND status = 'pending' \
                       AND EXISTS (SELECT 1 FROM test_clocks WHERE merchant_pid = $1)";
            self.execute(sql, &args![pid]).await?;
            let sql = "DELETE FROM test_clocks WHERE merchant_pid = $1";
            Ok(self.execute(sql, &args![pid]).await? > 0)
        }
    }

    /// Every fault, oldest first (the first that matches a call applies).
    fn faults(&mut self) -> impl Future<Output = Result<Vec<FaultRow>, StoreError>> + Send {
        async move {
            let sql = format!("SELECT {FAULT_COLUMNS} FROM faults ORDER BY created_at, fault_id");
            all(self, &sql, &[]).await
        }
    }

    fn insert_fault(
        &mut self,
        f: &FaultRow,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            let sql = format!(
                "INSERT INTO faults ({FAULT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            );
            let values = args![
                &f.fault_id,
                &f.method,
                &f.app_id,
                &f.ticket_code,
                &f.code,
                &f.sub_code,
                &f.sub_msg,
                f.after_commit,
                f.latency_ms,
                f.remaining,
                f.hits,
                f.created_at
            ];
            inserted(self.execute(&sql, &values).await?, "faults.fault_id")
        }
    }

    /// Deletes one fault, or all of them; answers how many.
    fn delete_faults(
        &mut self,
        fault_id: Option<&str>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        async move {
            let sql = "DELETE FROM faults WHERE $1 = '' OR fault_id = $1";
            self.execute(sql, &args![fault_id.unwrap_or("")]).await
        }
    }

    /// Spends one of a fault's calls: false when it has none left (another call, perhaps on
    /// another node, took the last).
    fn hit_fault(
        &mut self,
        fault_id: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        async move {
            let sql = "UPDATE faults SET hits = hits + 1, remaining = remaining - 1 \
                       WHERE fault_id = $1 AND (remaining IS NULL OR remaining > 0)";
            Ok(self.execute(sql, &args![fault_id]).await? == 1)
        }
    }
}

impl<T: Tx> SandboxRows for T {}
