//! PostgreSQL through sqlx: a bounded pool of our own; each write is one short transaction (row
//! locks taken with `FOR UPDATE` by the operations), retried on serialisation failures,
//! deadlocks and lost unique-key races.

mod conn;
mod facts;
mod plan;
mod tx;

pub use conn::PgTx;

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::{Operation, StoreError, StoreLimits};

#[derive(Clone)]
pub struct Pg {
    pool: Arc<Pool>,
}

/// The node's PostgreSQL connections: at most `max_connections`, idle ones kept for the next
/// operation. Our own rather than the driver's pool, which makes two extra round trips an
/// operation — an empty `Sync` exchange when a connection is handed out (to find dead ones)
/// and another when it comes back (to flush what a cancelled statement left): a third of a
/// `query`'s round trips. Here a connection that comes back from an operation that ran to its
/// end, without a connection failure, is known good and goes back as it is; any other (a
/// cancelled call, an I/O error) is closed. A connection idle for long is tested before use.
struct Pool {
    options: PgConnectOptions,
    acquire_timeout: Duration,
    max: usize,
    permits: Semaphore,
    /// Most recently used last: handed out first (its server process is warm).
    idle: Mutex<Vec<(PgConnection, Instant)>>,
}

/// Idle longer than this, a connection gets an empty round trip before use.
const TEST_AFTER_IDLE: Duration = Duration::from_secs(1);
/// Idle longer than this, a connection is closed instead of used.
const CLOSE_AFTER_IDLE: Duration = Duration::from_secs(600);

/// A connection out of the pool. Goes back when dropped if [`Pooled::done`] said it is fit.
struct Pooled<'a> {
    conn: Option<PgConnection>,
    fit: bool,
    pool: &'a Pool,
    _permit: SemaphorePermit<'a>,
}

impl Pooled<'_> {
    fn conn(&mut self) -> &mut PgConnection {
        self.conn
            .as_mut()
            .expect("a pooled connection until dropped")
    }

    /// The operation ran to its end with `outcome`: the connection goes back to the pool unless
    /// the outcome says the connection (or the server) failed, in which case the idle ones,
    /// opened before the failure, are closed too.
    fn done<R>(&mut self, outcome: &Result<R, StoreError>) {
        match outcome {
            Err(e) if ends_connection(e) => {
                self.pool.idle.lock().expect("pool lock").clear();
            }
            _ => self.fit = true,
        }
    }
}

/// Whether a failure leaves the connection unusable: the database cannot be reached, or the
/// server ended the session (SQLSTATE class 08, connection exception, or 57P0x, a shutdown or
/// an administrator's `pg_terminate_backend`).
fn ends_connection(e: &StoreError) -> bool {
    if e.unreachable() {
        return true;
    }
    match e {
        StoreError::Db(sqlx::Error::Database(db)) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P0")),
        _ => false,
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && self.fit
            && !self.pool.permits.is_closed()
        {
            self.pool
                .idle
                .lock()
                .expect("pool lock")
                .push((conn, Instant::now()));
        }
    }
}

impl Pool {
    /// A connection within the acquire timeout: a turn among at most `max`, then an idle
    /// connection (tested first if it has been idle long) or a new one.
    async fn acquire(&self) -> Result<Pooled<'_>, StoreError> {
        tokio::time::timeout(self.acquire_timeout, self.acquire_untimed())
            .await
            .map_err(|_| StoreError::Db(sqlx::Error::PoolTimedOut))?
    }

    async fn acquire_untimed(&self) -> Result<Pooled<'_>, StoreError> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        loop {
            let kept = self.idle.lock().expect("pool lock").pop();
            let Some((mut conn, since)) = kept else { break };
            let idle = since.elapsed();
            if idle > CLOSE_AFTER_IDLE {
                continue;
            }
            if idle > TEST_AFTER_IDLE && conn.ping().await.is_err() {
                continue;
            }
            return Ok(self.pooled(conn, permit));
        }
        let conn = PgConnection::connect_with(&self.options).await?;
        Ok(self.pooled(conn, permit))
    }

    fn pooled<'a>(&'a self, conn: PgConnection, permit: SemaphorePermit<'a>) -> Pooled<'a> {
        Pooled {
            conn: Some(conn),
            fit: false,
            pool: self,
            _permit: permit,
        }
    }
}

impl Pg {
    /// One round trip on a fresh or pooled connection.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        let outcome = sqlx::query("SELECT 1")
            .execute(conn.conn())
            .await
            .map(|_| ())
            .map_err(StoreError::from);
        conn.done(&outcome);
        outcome
    }

    /// Connections open, and of those idle.
    pub fn pool_state(&self) -> (u32, usize) {
        let idle = self.pool.idle.lock().expect("pool lock").len();
        // A permit out is a connection in use (or about to be: one being opened).
        let in_use = self.pool.max - self.pool.permits.available_permits();
        ((idle + in_use) as u32, idle)
    }

    /// Connects and migrates; with `create` false, a database without ticketgate's schema is
    /// [`StoreError::NoStore`] and is left as it is.
    pub async fn open(url: &str, limits: &StoreLimits, create: bool) -> Result<Pg, StoreError> {
        // Bound every wait on the server, so that a stuck database gives errors, not hangs.
        let options = PgConnectOptions::from_str(url)?.options([
            ("statement_timeout", "10s"),
            ("lock_timeout", "5s"),
            ("idle_in_transaction_session_timeout", "30s"),
        ]);
        let max = limits.max_connections.max(1) as usize;
        let pool = Arc::new(Pool {
            options,
            acquire_timeout: limits.acquire_timeout,
            permits: Semaphore::new(max),
            max,
            idle: Mutex::new(Vec::with_capacity(max)),
        });
        let mut conn = pool.acquire().await?;
        if !create {
            let found: Option<(String,)> = sqlx::query_as(
                "SELECT table_name::text FROM information_schema.tables WHERE table_name = '_sqlx_migrations'",
            )
            .fetch_optional(conn.conn())
            .await?;
            conn.done(&Ok::<(), StoreError>(()));
            if found.is_none() {
                return Err(StoreError::NoStore(
                    "the database holds no ticketgate store".into(),
                ));
            }
        }
        let mut migrator = sqlx::migrate!("migrations/postgres");
        // No advisory locks: keep to SQL that distributed PostgreSQL-compatible engines accept.
        // Concurrent first starts are serialised by the migrations table's primary key instead.
        migrator.set_locking(false);
        let migrated = migrator
            .run(conn.conn())
            .await
            .map_err(|e| StoreError::Db(e.into()));
        conn.done(&migrated);
        migrated?;
        drop(conn);
        Ok(Pg { pool })
    }

    pub async fn write<O: Operation>(&self, op: &O) -> Result<O::Output, StoreError> {
        super::with_retries(|attempt| async move {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(2u64 << attempt.min(6))).await;
            }
            let mut pooled = self.pool.acquire().await?;
            let outcome = async {
                let mut tx = pooled.conn().begin().await?;
                let result = super::contained(Box::pin(op.run(&mut PgTx::<true> {
                    conn: &mut tx,
                    outside: None,
                })))
                .await;
                match result {
                    Ok(value) => tx.commit().await.map(|()| value).map_err(StoreError::from),
                    Err(e) => {
                        tx.rollback().await?;
                        Err(e)
                    }
                }
            }
            .await;
            pooled.done(&outcome);
            outcome
        })
        .await
    }

    /// A read, in one snapshot. Tried first outside a transaction, where its one statement is
    /// one snapshot (the hot reads — the caller, a ticket's query — are one statement each); an
    /// operation that needs a second statement is stopped there and runs again in a
    /// `REPEATABLE READ, READ ONLY` transaction. At PostgreSQL's default level each statement
    /// takes its own snapshot, and a read of several (an order and its tickets, a ticket and
    /// its transactions) could see a write that committed between two of them in one and not
    /// in the other — an order still `PAY` beside a count that includes the use that finished it
    /// (found by the ledger model, two nodes calling at once). A read-only transaction at this
    /// level never fails to serialise, and its statements take no row locks (`PgTx<false>`).
    /// (The SQLite backend's read runs in one snapshot on its own read-only connections.)
    pub async fn read<O: Operation>(&self, op: &O) -> Result<O::Output, StoreError> {
        use sqlx::Connection;
        let mut pooled = self.pool.acquire().await?;
        let mut first = PgTx::<false> {
            conn: pooled.conn(),
            outside: Some(conn::Outside::default()),
        };
        let tried = super::contained(Box::pin(op.run(&mut first))).await;
        let again = first.outside.as_ref().is_some_and(|o| o.second);
        if !again {
            pooled.done(&tried);
            return tried;
        }
        let outcome = async {
            let mut tx = pooled
                .conn()
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .await?;
            let mut read = PgTx::<false> {
                conn: &mut tx,
                outside: None,
            };
            let result = super::contained(Box::pin(op.run(&mut read))).await;
            tx.rollback().await?;
            result
        }
        .await;
        pooled.done(&outcome);
        outcome
    }

    /// Closes the idle connections and lets no more out; those in use close as they return.
    pub async fn close(&self) {
        self.pool.permits.close();
        let idle = std::mem::take(&mut *self.pool.idle.lock().expect("pool lock"));
        for (conn, _) in idle {
            let _ = conn.close().await;
        }
    }
}
