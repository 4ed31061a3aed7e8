//! SQLite, through rusqlite: one writer thread per database file, the only connection that
//! writes — the ledger, the outbox, the request log, the sandbox and the operator's commands
//! alike — running whole operations synchronously inside group-committed batches: a caller
//! hands its operation over once and is answered once, after the batch's COMMIT. Reads run on
//! read-only connections in the caller's own thread: a WAL snapshot read takes microseconds
//! and never waits for the writer. The file is created and migrated when the store opens
//! (`migrate.rs`).
//!
//! The operations are the same `store::Operation` values the PostgreSQL backend runs; a
//! `SyncTx`'s primitives do their work at once, so an operation's future completes in a single
//! poll.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

use super::{Operation, StoreError};

mod migrate;
mod tx;

pub use tx::SyncTx;

/// Operations waiting for the writer before callers wait for room.
const QUEUE_MAX: usize = 1024;
/// Read-only connections kept for reuse.
const READERS_KEPT: usize = 8;
/// Prepared statements cached per connection.
const STATEMENT_CACHE: usize = 128;

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

/// The writer thread and the read-only connections of one SQLite file.
pub struct SyncSqlite {
    queue: super::WriterQueue<dyn Job>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// `None` once closed: reads stop too.
    readers: Mutex<Option<Vec<Connection>>>,
    path: PathBuf,
}

/// A queued write: run inside the batch, then told whether the batch committed.
trait Job: Send {
    fn run(&mut self, tx: &mut SyncTx<'_>) -> bool;
    /// Whether it ran and failed (its answer is that failure; it is not run again).
    fn failed(&self) -> bool;
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

struct Pending<O: Operation> {
    op: Arc<O>,
    result: Option<Result<O::Output, StoreError>>,
    reply: oneshot::Sender<Result<O::Output, StoreError>>,
}

impl<O: Operation> Job for Pending<O> {
    fn run(&mut self, tx: &mut SyncTx<'_>) -> bool {
        let result = run_now(&*self.op, tx);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn failed(&self) -> bool {
        matches!(self.result, Some(Err(_)))
    }

    fn finish(self: Box<Self>, committed: Result<(), String>) {
        let answer = match (committed, self.result) {
            // A failed job's writes were rolled back with its savepoint: its answer stands.
            (Err(_), Some(Err(e))) => Err(e),
            (Ok(()), Some(result)) => result,
            (_, None) => Err(StoreError::Closed),
            (Err(why), Some(_)) => Err(StoreError::BatchFailed(why)),
        };
        let _ = self.reply.send(answer);
    }
}

/// Runs an operation on a synchronous transaction: its future completes in one poll. A panic
/// inside it costs this one operation (its savepoint is rolled back), not the writer.
fn run_now<O: Operation>(op: &O, tx: &mut SyncTx<'_>) -> Result<O::Output, StoreError> {
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let mut future = pin!(op.run(tx));
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(result) => result,
            Poll::Pending => unreachable!("an operation on a synchronous transaction never waits"),
        }
    }));
    outcome.unwrap_or_else(|_| {
        tracing::error!("a store operation panicked; it is answered as a failure");
        Err(StoreError::Panicked)
    })
}

fn open(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

impl SyncSqlite {
    /// Opens (creating it if `create`) and migrates the database file, and starts its writer
    /// thread.
    pub fn start(path: &Path, batch_max: usize, create: bool) -> Result<SyncSqlite, StoreError> {
        if !create && !path.exists() {
            return Err(StoreError::NoStore(format!(
                "no ticketgate store at {}",
                path.display()
            )));
        }
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let mut conn = open(path, flags)?;
        // A 64 MiB page cache: the ticket indexes are written at random places (codes are
        // random), and a large table otherwise reads its index pages back from the file.
        // Checkpoints are the checkpointer thread's (`run_checkpointer`); the writer's own
        // automatic ones are a safety net for a log the checkpointer cannot keep up with.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 10000;",
        )?;
        if !create && !migrate::is_migrated(&conn)? {
            return Err(StoreError::NoStore(format!(
                "no ticketgate store at {}",
                path.display()
            )));
        }
        migrate::run(&mut conn)?;
        let checkpoints = open(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let (sender, receiver) = mpsc::channel(QUEUE_MAX);
        let (tick, commits) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run_checkpointer(checkpoints, commits))
            .map_err(|e| StoreError::Io(e.to_string()))?;
        let checkpointer = Checkpointer { tick, thread };
        let writer = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run_writer(conn, receiver, batch_max.max(1), checkpointer))
            .map_err(|e| StoreError::Io(e.to_string()))?;
        Ok(SyncSqlite {
            queue: Mutex::new(Some(sender)),
            writer: Mutex::new(Some(writer)),
            readers: Mutex::new(Some(Vec::new())),
            path: path.to_path_buf(),
        })
    }

    /// Runs `op` in the writer's next batch; answers after that batch's COMMIT.
    pub async fn write<O: Operation>(&self, op: Arc<O>) -> Result<O::Output, StoreError> {
        super::hand_over(&self.queue, move |reply| {
            Box::new(Pending {
                op,
                result: None,
                reply,
            }) as Box<dyn Job>
        })
        .await
    }

    /// Runs `op` in a read-only snapshot, here and now.
    pub fn read<O: Operation>(&self, op: &O) -> Result<O::Output, StoreError> {
        let kept = {
            let mut readers = self.readers.lock().expect("readers lock");
            readers.as_mut().ok_or(StoreError::Closed)?.pop()
        };
        let mut conn = match kept {
            Some(conn) => conn,
            None => {
                let conn = open(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                // 16 MiB of pages each: lookups in a large ticket table stay in memory.
                conn.execute_batch("PRAGMA cache_size = -16384;")?;
                conn
            }
        };
        exec(&conn, "BEGIN")?;
        let result = run_now(op, &mut SyncTx { conn: &mut conn });
        let ended = exec(&conn, "ROLLBACK");
        if ended.is_ok()
            && let Some(readers) = self.readers.lock().expect("readers lock").as_mut()
            && readers.len() < READERS_KEPT
        {
            readers.push(conn);
        }
        result
    }

    /// Operations waiting for the writer.
    pub fn queue_depth(&self) -> usize {
        super::queue_depth(&self.queue)
    }

    /// Stops taking writes, lets the writer finish what is queued, and waits for it.
    pub fn close(&self) {
        // Dropping the last sender lets the writer finish what is queued and stop.
        self.queue.lock().expect("queue lock").take();
        if let Some(writer) = self.writer.lock().expect("writer lock").take() {
            let _ = writer.join();
        }
        self.readers.lock().expect("readers lock").take();
    }
}

/// Runs a statement without results through the connection's statement cache: `BEGIN`,
/// `COMMIT` and the like are parsed once per connection, not on every call.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// The checkpointer thread, and how the writer tells it that it committed.
struct Checkpointer {
    tick: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<()>,
}

/// The longest a committed page waits in the log before the checkpointer copies it.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// Copies the write-ahead log into the database on its own connection, at most every
/// [`CHECKPOINT_EVERY`] and only after commits, so that the writer never does: a checkpoint
/// copies up to a thousand pages and `fsync`s the database file, and done by the writer (as
/// SQLite's automatic checkpoint does, inside the COMMIT that crosses the threshold) it held up
/// every caller of that batch and those queued behind it — the tail of `use`'s latency. A
/// passive checkpoint never blocks the writer or the readers; the writer starts the log over
/// from its beginning once a checkpoint has copied all of it. Ends when the writer does.
fn run_checkpointer(conn: Connection, commits: std::sync::mpsc::Receiver<()>) {
    while commits.recv().is_ok() {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "checkpoint failed; the writer's own will follow");
        }
        std::thread::sleep(CHECKPOINT_EVERY);
    }
}

fn run_writer(
    mut conn: Connection,
    mut queue: mpsc::Receiver<Box<dyn Job>>,
    batch_max: usize,
    checkpointer: Checkpointer,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(batch_max);
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        // Group commit: whatever queued up while the last batch was committing goes in too.
        while batch.len() < batch_max {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let committed = run_batch(&mut conn, &mut batch);
        if let Err(why) = &committed {
            tracing::error!(error = %why, jobs = batch.len(), "write batch failed");
            let _ = exec(&conn, "ROLLBACK");
        }
        // Only now, after COMMIT, are the callers answered.
        for job in batch.drain(..) {
            job.finish(committed.clone());
        }
        // A checkpoint is due (already due, if the checkpointer has not taken the last tick).
        let _ = checkpointer.tick.try_send(());
    }
    drop(checkpointer.tick);
    let _ = checkpointer.thread.join();
    checkpoint_on_close(&conn);
}

/// Copies the write-ahead log into the database and empties it, when the store closes. SQLite
/// does this itself only when the last connection closes, and the last to close here are
/// read-only ones, which cannot: so after `admin fixtures load` had written 10⁷ tickets, the
/// 2.4 GB log was left for the next `serve` to copy back on its first commits (its reads, until
/// then, looked each page up among the log's frames) — half its CPU a call for minutes. A
/// node in another process may be using the file: this never waits for it (no busy timeout,
/// so a serving node's writes are not held up), copies what it can, and leaves the rest to
/// SQLite's automatic checkpoints.
fn checkpoint_on_close(conn: &Connection) {
    let outcome = conn.busy_timeout(Duration::ZERO).and_then(|()| {
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
            row.get::<_, i64>(0)
        })
    });
    match outcome {
        Ok(0) => {}
        Ok(_) => tracing::debug!("the write-ahead log is in use elsewhere; not emptied on close"),
        Err(e) => tracing::warn!(error = %e, "checkpoint on close failed"),
    }
}

/// One transaction for the whole batch. First every job runs straight through (the common
/// case: operations answer refusals as values, and fail only when the store does); if one
/// fails, the batch is rolled back and the others run again, each in its own savepoint, so a
/// job that fails then too has its writes undone and the others' are kept. A job that failed
/// is not run again: its failure is its answer (a conflict, which the caller retries). A savepoint for every job would make
/// SQLite copy each page a job touches into its statement journal first: a tenth of the
/// writer's CPU, profiled, spent for the rare failure.
fn run_batch(conn: &mut Connection, batch: &mut [Box<dyn Job>]) -> Result<(), String> {
    let exec = |conn: &Connection, sql: &str| exec(conn, sql).map_err(|e| e.to_string());
    exec(conn, "BEGIN IMMEDIATE")?;
    if batch.iter_mut().all(|job| job.run(&mut SyncTx { conn })) {
        return exec(conn, "COMMIT");
    }
    exec(conn, "ROLLBACK")?;
    exec(conn, "BEGIN IMMEDIATE")?;
    for job in batch.iter_mut().filter(|job| !job.failed()) {
        exec(conn, "SAVEPOINT job")?;
        if job.run(&mut SyncTx { conn }) {
            exec(conn, "RELEASE job")?;
        } else {
            exec(conn, "ROLLBACK TO job")?;
            exec(conn, "RELEASE job")?;
        }
    }
    exec(conn, "COMMIT")
}
