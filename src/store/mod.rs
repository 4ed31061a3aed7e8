//! The only SQL in the system: one transaction trait, [`Tx`], with two implementations —
//! SQLite through rusqlite (one writer thread per file, batched commits; `sqlite/`) and
//! PostgreSQL through sqlx (a pool, short transactions, bounded retries; `pg/`).
//!
//! Every access is an [`Operation`] (generic over `Tx`) run with [`Store::write`] or
//! [`Store::read`]: the ledger's calls, the outbox, the request log, the sandbox and the
//! operator's commands alike. A write is durably committed before the caller sees its result.
//! Statements are written once, in `queries/` and `ledger.rs`, over `Tx`'s two primitives.

mod breaker;
mod effects;
mod ledger;
mod pg;
mod queries;
pub mod sql;
mod sqlite;
mod tx;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use crate::op;
pub use ledger::{CallerFacts, Effect, LedgerTx, Plan};
pub use queries::{
    AppRecord, ClockRow, CodeRow, FaultRow, Grant, LogFilter, LogRow, NotificationRow,
    OutboxStatus, Rows, SnapshotRow, TokenRow,
};
pub use sql::{Arg, Cols, Row, Value};
pub use tx::{Operation, Tx};

/// The store's vocabulary: every trait whose methods an operation calls on its `tx`.
pub mod prelude {
    pub use super::ledger::LedgerTx;
    pub use super::queries::{
        Codes, History, Lists, Outbox, RequestLog, SandboxRows, Snapshots, Tenants, Tickets, Tokens,
    };
    pub use super::{Operation, Tx};
}

/// A boxed, sendable future borrowing from `'a`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the store could not do what was asked.
#[derive(Debug)]
pub enum StoreError {
    /// PostgreSQL refused or failed.
    Db(sqlx::Error),
    /// A row did not read back as the statement's row kind (a bug, or a schema out of step).
    Decode(String),
    /// The schema could not be brought up to date.
    Migration(String),
    /// The database named holds no ticketgate store (and was not to be created).
    NoStore(String),
    /// SQLite refused or failed, on the synchronous path.
    Sqlite(rusqlite::Error),
    /// The system refused (a thread could not be started).
    Io(String),
    /// A concurrent writer got there first (a unique key was taken between read and write);
    /// running the whole operation again will see its effect.
    Conflict(&'static str),
    /// Retries ran out on conflicts or serialisation failures.
    Contention,
    /// The SQLite batch this write was part of could not be committed (the database's words);
    /// nothing of the batch was written.
    BatchFailed(String),
    /// The writer is gone (shutting down).
    Closed,
    /// An operation panicked: a bug. Its transaction was rolled back; the store carries on.
    Panicked,
    /// The database is unreachable and calls fail fast until a probe gets through.
    Unavailable,
    /// A PostgreSQL read tried outside a transaction made a second statement: it runs again
    /// in one snapshot (never seen outside the store).
    NeedsSnapshot,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Db(e) => write!(f, "database error: {e}"),
            StoreError::Sqlite(e) => write!(f, "database error: {e}"),
            StoreError::Decode(why) => write!(f, "a stored row did not read back: {why}"),
            StoreError::Migration(why) => write!(f, "migrating the database: {why}"),
            StoreError::NoStore(what) => write!(f, "{what}"),
            StoreError::Io(e) => write!(f, "system error: {e}"),
            StoreError::Conflict(what) => write!(f, "concurrent write conflict on {what}"),
            StoreError::Contention => f.write_str("gave up after repeated write conflicts"),
            StoreError::BatchFailed(why) => write!(f, "the write batch was not committed: {why}"),
            StoreError::Closed => f.write_str("the store is shut down"),
            StoreError::Unavailable => f.write_str(
                "the database is unreachable or cannot commit (failing fast, probing every 200 ms)",
            ),
            StoreError::Panicked => {
                f.write_str("an operation panicked (a bug); its writes were rolled back")
            }
            StoreError::NeedsSnapshot => f.write_str("a read needs one snapshot (retried)"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Db(e) => Some(e),
            StoreError::Sqlite(e) => Some(e),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Db(e)
    }
}

impl StoreError {
    /// Worth running the whole transaction again: a lost race, a serialisation failure or a
    /// deadlock (SQLSTATE 40001 / 40P01), or a unique key taken by a concurrent writer.
    /// Whether this failure says the database cannot be reached (rather than a refusal of one
    /// statement).
    fn unreachable(&self) -> bool {
        match self {
            StoreError::Db(e) => matches!(
                e,
                sqlx::Error::PoolTimedOut
                    | sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::Protocol(_)
                    | sqlx::Error::WorkerCrashed
            ),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::SystemIoFailure
                    | rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::DatabaseCorrupt
                    | rusqlite::ErrorCode::NotADatabase
            ),
            StoreError::Io(_) | StoreError::BatchFailed(_) => true,
            _ => false,
        }
    }

    fn retryable(&self) -> bool {
        match self {
            StoreError::Conflict(_) => true,
            StoreError::Db(sqlx::Error::Database(db)) => {
                matches!(db.code().as_deref(), Some("40001" | "40P01" | "23505"))
            }
            _ => false,
        }
    }
}

/// Runs an operation's future, turning a panic inside it into [`StoreError::Panicked`], so that
/// a bug in one operation costs one answer, not the SQLite writer or a pooled connection.
pub(crate) async fn contained<R>(
    future: BoxFuture<'_, Result<R, StoreError>>,
) -> Result<R, StoreError> {
    struct CatchUnwind<'a, R>(BoxFuture<'a, Result<R, StoreError>>);
    impl<R> Future for CatchUnwind<'_, R> {
        type Output = Result<R, StoreError>;
        fn poll(
            mut self: Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Self::Output> {
            let inner = &mut self.0;
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.as_mut().poll(cx)))
            {
                Ok(poll) => poll,
                Err(_) => {
                    tracing::error!("a store operation panicked; it is answered as a failure");
                    std::task::Poll::Ready(Err(StoreError::Panicked))
                }
            }
        }
    }
    CatchUnwind(future).await
}

/// How many times a write is attempted before answering [`StoreError::Contention`].
const WRITE_ATTEMPTS: usize = 8;

/// A writer's queue; `None` once it is closing.
type WriterQueue<J> = std::sync::Mutex<Option<tokio::sync::mpsc::Sender<Box<J>>>>;

/// How many jobs wait in a writer's queue.
fn queue_depth<J: ?Sized>(queue: &WriterQueue<J>) -> usize {
    queue
        .lock()
        .expect("queue lock")
        .as_ref()
        .map_or(0, |s| s.max_capacity() - s.capacity())
}

/// Hands a job to a writer and waits for its answer: one hand-off in, one answer out.
async fn hand_over<J: ?Sized, R>(
    queue: &WriterQueue<J>,
    job: impl FnOnce(tokio::sync::oneshot::Sender<Result<R, StoreError>>) -> Box<J>,
) -> Result<R, StoreError> {
    let sender = queue
        .lock()
        .expect("queue lock")
        .clone()
        .ok_or(StoreError::Closed)?;
    let (reply, answer) = tokio::sync::oneshot::channel();
    sender
        .send(job(reply))
        .await
        .map_err(|_| StoreError::Closed)?;
    answer.await.map_err(|_| StoreError::Closed)?
}

/// Runs a write attempt until it succeeds, fails for good, or [`WRITE_ATTEMPTS`] retryable
/// conflicts have passed (then [`StoreError::Contention`]). `attempt` gets the attempt number.
async fn with_retries<R, Fut>(mut attempt: impl FnMut(usize) -> Fut) -> Result<R, StoreError>
where
    Fut: Future<Output = Result<R, StoreError>>,
{
    let mut last = StoreError::Contention;
    for n in 0..WRITE_ATTEMPTS {
        match attempt(n).await {
            Err(e) if e.retryable() => last = e,
            other => return other,
        }
    }
    tracing::warn!(error = %last, "write gave up after {WRITE_ATTEMPTS} attempts");
    Err(StoreError::Contention)
}

/// The store: SQLite or PostgreSQL behind one API.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    breaker: std::sync::Arc<Breaker>,
}

use breaker::Access;
pub use breaker::Breaker;

#[derive(Clone)]
enum Backend {
    Sqlite(std::sync::Arc<sqlite::SyncSqlite>),
    Pg(pg::Pg),
}

/// Limits of the store: the PostgreSQL pool, and SQLite's commit batches.
#[derive(Debug, Clone)]
pub struct StoreLimits {
    /// Most PostgreSQL connections.
    pub max_connections: u32,
    /// How long to wait for a PostgreSQL connection.
    pub acquire_timeout: Duration,
    /// Most operations SQLite's writer commits in one transaction.
    pub sqlite_batch_max: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            sqlite_batch_max: 64,
        }
    }
}

/// The file a `sqlite://PATH` URL names.
fn sqlite_path(url: &str) -> &str {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    path.split('?').next().unwrap_or(path)
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `url`:
    /// `sqlite://PATH` or `postgres://…`.
    pub async fn open(url: &str, limits: &StoreLimits) -> Result<Store, StoreError> {
        Self::open_with(url, limits, true).await
    }

    /// Opens and migrates the database at `url` if it holds a ticketgate store already;
    /// [`StoreError::NoStore`] otherwise (nothing is created).
    pub async fn open_existing(url: &str, limits: &StoreLimits) -> Result<Store, StoreError> {
        Self::open_with(url, limits, false).await
    }

    async fn open_with(url: &str, limits: &StoreLimits, create: bool) -> Result<Store, StoreError> {
        let backend = if is_postgres(url) {
            Backend::Pg(pg::Pg::open(url, limits, create).await?)
        } else {
            let path = std::path::PathBuf::from(sqlite_path(url));
            let batch_max = limits.sqlite_batch_max.max(1);
            let opened = tokio::task::spawn_blocking(move || {
                sqlite::SyncSqlite::start(&path, batch_max, create)
            })
            .await
            .map_err(|e| StoreError::Io(e.to_string()))??;
            Backend::Sqlite(std::sync::Arc::new(opened))
        };
        Ok(Store {
            backend,
            breaker: Default::default(),
        })
    }

    /// The store's gauges for `/metrics`: (name, help, value).
    pub fn gauges(&self) -> Vec<(&'static str, &'static str, f64)> {
        match &self.backend {
            Backend::Sqlite(s) => vec![(
                "ticketgate_sqlite_writer_queue",
                "Operations waiting for the SQLite writer thread.",
                s.queue_depth() as f64,
            )],
            Backend::Pg(p) => {
                let (size, idle) = p.pool_state();
                vec![
                    (
                        "ticketgate_db_pool_connections",
                        "PostgreSQL connections open.",
                        size as f64,
                    ),
                    (
                        "ticketgate_db_pool_idle",
                        "PostgreSQL connections open and idle.",
                        idle as f64,
                    ),
                ]
            }
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Pg(_) => "postgres",
        }
    }

    /// Runs `run` unless the breaker is open, and tells the breaker how it went.
    async fn guarded<R>(
        &self,
        access: Access,
        run: impl Future<Output = Result<R, StoreError>>,
    ) -> Result<R, StoreError> {
        self.breaker.admit(access)?;
        let outcome = run.await;
        let local = matches!(self.backend, Backend::Sqlite(_));
        if self.breaker.record(outcome.as_ref().err(), access, local) {
            let store = self.clone();
            tokio::spawn(async move { store.probe_until_reachable().await });
        }
        outcome
    }

    /// While the breaker is open: try the database every [`Breaker::PROBE_EVERY`] (a bounded
    /// [`Store::ping`]) and close the breaker on the first success.
    async fn probe_until_reachable(&self) {
        while self.breaker.is_open() {
            tokio::time::sleep(Breaker::PROBE_EVERY).await;
            let probe = tokio::time::timeout(Duration::from_secs(1), self.ping()).await;
            if let Ok(Ok(())) = probe {
                self.breaker.close();
            }
        }
    }

    /// The store can commit: on SQLite a real commit through the writer thread (a 64 KiB row
    /// written to the request log and deleted in one transaction, so that the WAL must take
    /// new pages: an empty commit succeeds on a full disk), on PostgreSQL a round trip.
    /// Bypasses the breaker (the breaker's probe, and `/ready`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let ping = op!(|tx| -> () {
                    let body = "0".repeat(64 * 1024);
                    tx.execute(
                        "INSERT INTO request_log (id, at, app_id, method, failed, entry) \
                         VALUES ('ready-probe', 0, '', '', 0, $1)",
                        &sql::args![body.as_str()],
                    )
                    .await?;
                    tx.execute("DELETE FROM request_log WHERE id = 'ready-probe'", &[])
                        .await?;
                    Ok(())
                });
                s.write(std::sync::Arc::new(ping)).await
            }
            Backend::Pg(p) => p.ping().await,
        }
    }

    /// The fail-fast breaker in front of the database.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// Runs an operation in a write transaction; its result comes back once it is durably
    /// committed. It may run more than once (after a conflict).
    pub async fn write<O: Operation>(&self, op: O) -> Result<O::Output, StoreError> {
        let op = std::sync::Arc::new(op);
        self.guarded(Access::Write, async {
            match &self.backend {
                Backend::Sqlite(s) => with_retries(|_| s.write(op.clone())).await,
                Backend::Pg(p) => p.write(&*op).await,
            }
        })
        .await
    }

    /// Runs a read-only operation in one snapshot (SQLite's read connections; PostgreSQL's
    /// `REPEATABLE READ, READ ONLY`).
    pub async fn read<O: Operation>(&self, op: O) -> Result<O::Output, StoreError> {
        self.guarded(Access::Read, async {
            match &self.backend {
                Backend::Sqlite(s) => s.read(&op),
                Backend::Pg(p) => p.read(&op).await,
            }
        })
        .await
    }

    /// Stops accepting writes, finishes the queued ones and closes the connections.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(s) => {
                let s = s.clone();
                let _ = tokio::task::spawn_blocking(move || s.close()).await;
            }
            Backend::Pg(p) => p.close().await,
        }
    }
}
