//! Sandbox powers: merchants' test clocks and injected faults.

use serde::Serialize;
use sqlx::FromRow;

use super::{Conn, StoreError, inserted};

/// A merchant's test clock: its time is real time plus `offset_ms`.
#[derive(Debug, Clone, FromRow, PartialEq, Eq, Serialize)]
pub struct ClockRow {
    pub merchant_pid: String,
    pub offset_ms: i64,
    pub updated_at: i64,
}

/// An injected fault, as stored.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
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

impl Conn<'_> {
    // ---- test clocks -------------------------------------------------------------------

    pub async fn clocks(&mut self) -> Result<Vec<ClockRow>, StoreError> {
        let sql =
            "SELECT merchant_pid, offset_ms, updated_at FROM test_clocks ORDER BY merchant_pid";
        Ok(on!(self, |c| sqlx::query_as(sql)
            .fetch_all(&mut **c)
            .await)?)
    }

    /// Moves a merchant's clock to `offset_ms` ahead of real time, if that is not backwards;
    /// answers the offset it has afterwards.
    pub async fn move_clock(
        &mut self,
        pid: &str,
        offset_ms: i64,
        now: i64,
    ) -> Result<i64, StoreError> {
        let sql = "INSERT INTO test_clocks (merchant_pid, offset_ms, updated_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (merchant_pid) DO UPDATE SET offset_ms = excluded.offset_ms, updated_at = excluded.updated_at \
                   WHERE test_clocks.offset_ms <= excluded.offset_ms";
        execute!(self, sqlx::query(sql).bind(pid).bind(offset_ms).bind(now))?;
        self.clock_offset(pid).await
    }

    /// A merchant's clock offset (after a write that made sure it has a row).
    async fn clock_offset(&mut self, pid: &str) -> Result<i64, StoreError> {
        let sql = "SELECT offset_ms FROM test_clocks WHERE merchant_pid = $1";
        let row: (i64,) = on!(self, |c| sqlx::query_as(sql)
            .bind(pid)
            .fetch_one(&mut **c)
            .await)?;
        Ok(row.0)
    }

    /// Adds `by_ms` (≥ 0) to a merchant's clock; answers its offset afterwards.
    pub async fn advance_clock(
        &mut self,
        pid: &str,
        by_ms: i64,
        now: i64,
    ) -> Result<i64, StoreError> {
        let sql = "INSERT INTO test_clocks (merchant_pid, offset_ms, updated_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (merchant_pid) DO UPDATE SET offset_ms = test_clocks.offset_ms + excluded.offset_ms, \
                   updated_at = excluded.updated_at";
        execute!(self, sqlx::query(sql).bind(pid).bind(by_ms).bind(now))?;
        self.clock_offset(pid).await
    }

    /// Puts a merchant back on real time; answers whether it had a test clock. Its pending
    /// notifications move back by the offset, so that they stay as far from being due.
    pub async fn delete_clock(&mut self, pid: &str) -> Result<bool, StoreError> {
        let sql = "UPDATE notifications SET next_attempt_at = next_attempt_at - \
                   (SELECT offset_ms FROM test_clocks WHERE merchant_pid = $1) \
                   WHERE merchant_pid = $1 AND status = 'pending' \
                   AND EXISTS (SELECT 1 FROM test_clocks WHERE merchant_pid = $1)";
        execute!(self, sqlx::query(sql).bind(pid))?;
        let sql = "DELETE FROM test_clocks WHERE merchant_pid = $1";
        Ok(execute!(self, sqlx::query(sql).bind(pid))? > 0)
    }

    // ---- faults ------------------------------------------------------------------------

    /// Every fault, oldest first (the first that matches a call applies).
    pub async fn faults(&mut self) -> Result<Vec<FaultRow>, StoreError> {
        let sql = format!("SELECT {FAULT_COLUMNS} FROM faults ORDER BY created_at, fault_id");
        Ok(on!(self, |c| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .fetch_all(&mut **c)
        .await)?)
    }

    pub async fn insert_fault(&mut self, f: &FaultRow) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO faults ({FAULT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        let done = execute!(
            self,
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(&f.fault_id)
                .bind(&f.method)
                .bind(&f.app_id)
                .bind(&f.ticket_code)
                .bind(&f.code)
                .bind(&f.sub_code)
                .bind(&f.sub_msg)
                .bind(f.after_commit)
                .bind(f.latency_ms)
                .bind(f.remaining)
                .bind(f.hits)
                .bind(f.created_at)
        )?;
        inserted(done, "faults.fault_id")
    }

    /// Deletes one fault, or all of them; answers how many.
    pub async fn delete_faults(&mut self, fault_id: Option<&str>) -> Result<u64, StoreError> {
        let sql = "DELETE FROM faults WHERE $1 = '' OR fault_id = $1";
        Ok(execute!(
            self,
            sqlx::query(sql).bind(fault_id.unwrap_or(""))
        )?)
    }

    /// Spends one of a fault's calls: false when it has none left (another call, perhaps on
    /// another node, took the last).
    pub async fn hit_fault(&mut self, fault_id: &str) -> Result<bool, StoreError> {
        let sql = "UPDATE faults SET hits = hits + 1, remaining = remaining - 1 \
                   WHERE fault_id = $1 AND (remaining IS NULL OR remaining > 0)";
        Ok(execute!(self, sqlx::query(sql).bind(fault_id))? == 1)
    }
}
