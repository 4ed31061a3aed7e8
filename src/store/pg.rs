//! PostgreSQL: a bounded pool; each write is one short transaction (row locks taken with
//! `FOR UPDATE` by the operations), retried on serialisation failures, deadlocks and lost
//! unique-key races.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::{Conn, Op, StoreError, StoreLimits};

#[derive(Clone)]
pub struct Pg {
    pool: PgPool,
}

impl Pg {
    /// One round trip on a fresh or pooled connection.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Connections open, and of those idle.
    pub fn pool_state(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    pub async fn open(url: &str, limits: &StoreLimits) -> Result<Pg, StoreError> {
        // Bound every wait on the server, so that a stuck database gives errors, not hangs.
        let options = PgConnectOptions::from_str(url)?.options([
            ("statement_timeout", "10s"),
            ("lock_timeout", "5s"),
            ("idle_in_transaction_session_timeout", "30s"),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(limits.max_connections)
            .acquire_timeout(limits.acquire_timeout)
            .connect_with(options)
            .await?;
        let mut migrator = sqlx::migrate!("migrations/postgres");
        // No advisory locks: keep to SQL that distributed PostgreSQL-compatible engines accept.
        // Concurrent first starts are serialised by the migrations table's primary key instead.
        migrator.set_locking(false);
        migrator
            .run(&pool)
            .await
            .map_err(|e| StoreError::Db(e.into()))?;
        Ok(Pg { pool })
    }

    pub async fn write<R, F>(&self, op: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: Op<R>,
    {
        let op = Arc::new(op);
        super::with_retries(|attempt| {
            let op = op.clone();
            async move {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(2u64 << attempt.min(6))).await;
                }
                let mut conn = self.pool.acquire().await?;
                let mut tx = conn.begin().await?;
                let result = {
                    let mut c = Conn::Pg(&mut tx);
                    super::contained(op(&mut c)).await
                };
                match result {
                    Ok(value) => tx.commit().await.map(|()| value).map_err(StoreError::from),
                    Err(e) => {
                        let _ = tx.rollback().await;
                        Err(e)
                    }
                }
            }
        })
        .await
    }

    /// A read. Its statements run outside a transaction: at PostgreSQL's isolation level
    /// (READ COMMITTED) each statement takes its own snapshot inside a transaction too, so a
    /// `BEGIN` and a `ROLLBACK` would add two round trips and change nothing it sees. (The
    /// SQLite backend's read runs in one snapshot on its own read-only connections.)
    pub async fn read<R, F>(&self, op: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: Op<R>,
    {
        let mut conn = self.pool.acquire().await?;
        let mut c = Conn::Pg(&mut conn);
        super::contained(op(&mut c)).await
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
