//! SQLite through sqlx: migrations, and the operator's statement-level closures (admin
//! commands, the notification outbox). A writer task commits a batch of queued closures per
//! transaction (a savepoint each, so one failure doesn't sink the batch); a small pool of
//! read-only connections serves snapshots. WAL, `synchronous=FULL`. The ledger's operations
//! run on the synchronous path instead (`sqlite_sync`), which owns its own write connection.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection, Executor};
use std::sync::Mutex;

use tokio::sync::{mpsc, oneshot};

use super::{BoxFuture, Conn, Op, StoreError};

/// Operations waiting for the writer before callers wait for room.
const QUEUE_MAX: usize = 1024;

#[derive(Clone)]
pub struct Sqlite {
    /// The writer's queue; `None` once closing.
    queue: Arc<Mutex<Option<Queue>>>,
    /// Fires when the writer has drained its queue and closed its connection.
    done: Arc<Mutex<Option<oneshot::Receiver<()>>>>,
    readers: SqlitePool,
    /// The ledger's operations: a writer thread and inline read-only connections.
    pub(super) ledger: Arc<super::sqlite_sync::SyncSqlite>,
}

type Queue = mpsc::Sender<Box<dyn Job>>;

/// A queued write: run inside the batch, then told whether the batch committed.
trait Job: Send {
    fn run<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> BoxFuture<'c, bool>;
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

struct Pending<R, F> {
    op: Arc<F>,
    result: Option<Result<R, StoreError>>,
    reply: oneshot::Sender<Result<R, StoreError>>,
}

impl<R, F> Job for Pending<R, F>
where
    R: Send + 'static,
    F: Op<R>,
{
    fn run<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> BoxFuture<'c, bool> {
        Box::pin(async move {
            let mut c = Conn::Sqlite(conn);
            let result = super::contained((self.op)(&mut c)).await;
            let ok = result.is_ok();
            self.result = Some(result);
            ok
        })
    }

    fn finish(self: Box<Self>, committed: Result<(), String>) {
        let answer = match (committed, self.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) | (Err(_), None) => Err(StoreError::Closed),
            (Err(why), Some(_)) => Err(StoreError::BatchFailed(why)),
        };
        let _ = self.reply.send(answer);
    }
}

/// The file a `sqlite://PATH` URL names.
fn file_path(url: &str) -> &str {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    path.split('?').next().unwrap_or(path)
}

fn options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
    let path = file_path(url);
    Ok(SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true))
}

impl Sqlite {
    /// Writes waiting for this writer.
    pub fn queue_depth(&self) -> usize {
        self.queue
            .lock()
            .expect("queue lock")
            .as_ref()
            .map_or(0, |s| s.max_capacity() - s.capacity())
    }

    pub async fn open(url: &str, batch_max: usize) -> Result<Sqlite, StoreError> {
        let opts = options(url)?;
        let mut writer =
            SqliteConnection::connect_with(&opts.clone().create_if_missing(true)).await?;
        sqlx::migrate!("migrations/sqlite")
            .run(&mut writer)
            .await
            .map_err(|e| StoreError::Db(e.into()))?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts.read_only(true))
            .await?;
        let ledger = Arc::new(super::sqlite_sync::SyncSqlite::start(
            std::path::Path::new(file_path(url)),
            batch_max,
        )?);
        let (sender, receiver) = mpsc::channel(QUEUE_MAX);
        let (done_tx, done_rx) = oneshot::channel();
        tokio::spawn(async move {
            run_writer(writer, receiver, batch_max).await;
            let _ = done_tx.send(());
        });
        Ok(Sqlite {
            queue: Arc::new(Mutex::new(Some(sender))),
            done: Arc::new(Mutex::new(Some(done_rx))),
            readers,
            ledger,
        })
    }

    pub async fn write<R, F>(&self, op: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: Op<R>,
    {
        let op = Arc::new(op);
        super::with_retries(|_| {
            let op = op.clone();
            super::hand_over(&self.queue, move |reply| {
                Box::new(Pending {
                    op,
                    result: None,
                    reply,
                }) as Box<dyn Job>
            })
        })
        .await
    }

    /// A snapshot read on a read-only connection (see the PostgreSQL backend's for the twin).
    pub async fn read<R, F>(&self, op: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: Op<R>,
    {
        let mut conn = self.readers.acquire().await?;
        let mut tx = conn.begin().await?;
        let result = {
            let mut c = Conn::Sqlite(&mut tx);
            super::contained(op(&mut c)).await
        };
        tx.rollback().await?;
        result
    }

    pub async fn close(&self) {
        let ledger = self.ledger.clone();
        let _ = tokio::task::spawn_blocking(move || ledger.close()).await;
        // Dropping the last sender lets the writer finish what is queued and stop.
        self.queue.lock().expect("queue lock").take();
        let done = self.done.lock().expect("done lock").take();
        if let Some(done) = done
            && tokio::time::timeout(Duration::from_secs(30), done)
                .await
                .is_err()
        {
            tracing::error!("the SQLite writer did not drain within 30 s");
        }
        self.readers.close().await;
    }
}

async fn exec(conn: &mut SqliteConnection, sql: &'static str) -> Result<(), String> {
    conn.execute(sql)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn run_writer(
    mut conn: SqliteConnection,
    mut queue: mpsc::Receiver<Box<dyn Job>>,
    batch_max: usize,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(batch_max);
    while queue.recv_many(&mut batch, batch_max).await > 0 {
        let committed = run_batch(&mut conn, &mut batch).await;
        if let Err(why) = &committed {
            tracing::error!(error = %why, jobs = batch.len(), "write batch failed");
            let _ = exec(&mut conn, "ROLLBACK").await;
        }
        for job in batch.drain(..) {
            job.finish(committed.clone());
        }
    }
    let _ = conn.close().await;
}

async fn run_batch(conn: &mut SqliteConnection, batch: &mut [Box<dyn Job>]) -> Result<(), String> {
    exec(conn, "BEGIN IMMEDIATE").await?;
    for job in batch.iter_mut() {
        exec(conn, "SAVEPOINT job").await?;
        if job.run(conn).await {
            exec(conn, "RELEASE job").await?;
        } else {
            exec(conn, "ROLLBACK TO job").await?;
            exec(conn, "RELEASE job").await?;
        }
    }
    exec(conn, "COMMIT").await
}
