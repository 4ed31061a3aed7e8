//! SQLite without a thread hop per statement. One writer thread owns the write connection
//! (rusqlite, bundled SQLite, prepared-statement cache) and runs whole operations
//! synchronously inside group-committed batches: a caller hands its operation over once and is
//! answered once, after the batch's COMMIT. Reads run on read-only connections in the caller's
//! own thread: a WAL snapshot read takes microseconds and never waits for the writer.
//!
//! The operations are the same `store::Operation` values the PostgreSQL backend runs: they are
//! written against `LedgerTx`, whose methods here do their work at once, so an operation's
//! future completes in a single poll.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};

use super::ledger::CallerFacts;
use super::queries::{codes, history, notifications, tenants, tickets};
use super::{AppRecord, Conn, Effect, LedgerTx, Operation, Plan, StoreError};
use crate::ledger::cancel::{CancelLoaded, CancelRequest};
use crate::ledger::codes::SendOrder;
use crate::ledger::delay::{DelayFacts, DelayRequest};
use crate::ledger::idempotency::{Key, Record};
use crate::ledger::names::MerchantPid;
use crate::ledger::order::OrderFacts;
use crate::ledger::query::{QueryFacts, QueryRequest};
use crate::ledger::use_::{UseFacts, UseRequest};
use crate::ledger::{CodeType, Item, ShopFacts, Ticket, TicketView, Trans, UseOrder};

/// Operations waiting for the writer before callers wait for room.
const QUEUE_MAX: usize = 1024;
/// Read-only connections kept for reuse.
const READERS_KEPT: usize = 8;
/// Prepared statements cached per connection.
const STATEMENT_CACHE: usize = 64;

/// Statements built from shared fragments, built once rather than on every call.
static TICKET_BY_CODE: LazyLock<[String; 2]> = LazyLock::new(|| {
    [CodeType::Internal, CodeType::External].map(|t| {
        format!(
            "{} WHERE {}",
            tickets::TICKET_VIEW_SELECT,
            tickets::ticket_filter(t)
        )
    })
});
static TICKET_BY_VOUCHER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM tickets WHERE voucher_id = $1",
        tickets::TICKET_COLUMNS
    )
});
static SIBLINGS: LazyLock<String> = LazyLock::new(tickets::siblings_sql);
static TRANS_OF_TICKET: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} WHERE voucher_id = $1 ORDER BY created_at, trans_id",
        Conn::TRANS_SELECT
    )
});
static USES_OF_ORDER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} WHERE use_order_id = $1 AND kind = 'USE' ORDER BY created_at, trans_id",
        Conn::TRANS_SELECT
    )
});
static TRANS_BY_ID: LazyLock<String> = LazyLock::new(codes::trans_by_id_sql);
static ORDER_TRANS: LazyLock<String> = LazyLock::new(codes::order_trans_sql);
static TICKET_OF_VOUCHER: LazyLock<String> = LazyLock::new(codes::ticket_of_voucher_sql);
static ORDER_TICKETS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM tickets WHERE order_no = $1 ORDER BY code",
        tickets::TICKET_COLUMNS
    )
});
static CANCEL_OF_USE: LazyLock<String> =
    LazyLock::new(|| format!("{} WHERE use_order_id = $1", Conn::CANCEL_SELECT));

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

    fn finish(self: Box<Self>, committed: Result<(), String>) {
        let answer = match (committed, self.result) {
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
    /// Starts the writer thread on an existing, migrated database file.
    pub fn start(path: &Path, batch_max: usize) -> Result<SyncSqlite, StoreError> {
        let conn = open(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // A 64 MiB page cache: the ticket indexes are written at random places (codes are
        // random), and a large table otherwise reads its index pages back from the file.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             PRAGMA cache_size = -65536;",
        )?;
        let (sender, receiver) = mpsc::channel(QUEUE_MAX);
        let writer = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run_writer(conn, receiver, batch_max.max(1)))
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
        conn.execute_batch("BEGIN")?;
        let result = run_now(op, &mut SyncTx { conn: &mut conn });
        let ended = conn.execute_batch("ROLLBACK");
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
        self.queue.lock().expect("queue lock").take();
        if let Some(writer) = self.writer.lock().expect("writer lock").take() {
            let _ = writer.join();
        }
        self.readers.lock().expect("readers lock").take();
    }
}

fn run_writer(mut conn: Connection, mut queue: mpsc::Receiver<Box<dyn Job>>, batch_max: usize) {
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
            let _ = conn.execute_batch("ROLLBACK");
        }
        // Only now, after COMMIT, are the callers answered.
        for job in batch.drain(..) {
            job.finish(committed.clone());
        }
    }
}

fn run_batch(conn: &mut Connection, batch: &mut [Box<dyn Job>]) -> Result<(), String> {
    let exec = |conn: &Connection, sql: &str| conn.execute_batch(sql).map_err(|e| e.to_string());
    exec(conn, "BEGIN IMMEDIATE")?;
    for job in batch.iter_mut() {
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

/// A transaction on a rusqlite connection, as the ledger's operations see it.
pub struct SyncTx<'c> {
    conn: &'c mut Connection,
}

impl SyncTx<'_> {
    fn one<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        row: impl FnOnce(&rusqlite::Row) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(sql)?
            .query_row(params, row)
            .optional()?)
    }

    fn all<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        row: impl FnMut(&rusqlite::Row) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut statement = self.conn.prepare_cached(sql)?;
        let rows = statement.query_map(params, row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<T>>>()?)
    }

    /// Executes a statement; a statement that must change one row and changed none is a
    /// conflict (as `INSERT … ON CONFLICT DO NOTHING` on a taken key).
    fn change(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        what: &'static str,
    ) -> Result<(), StoreError> {
        match self.conn.prepare_cached(sql)?.execute(params)? {
            1 => Ok(()),
            _ => Err(StoreError::Conflict(what)),
        }
    }

    fn ticket(
        &self,
        code_type: CodeType,
        code: &str,
        order_no: Option<&str>,
    ) -> Result<Option<TicketView>, StoreError> {
        let sql = &TICKET_BY_CODE[usize::from(code_type == CodeType::External)];
        self.one(
            sql,
            params![code, order_no.unwrap_or("")],
            tickets::ticket_view_from_rusqlite,
        )
    }

    fn load_record(&self, key: &Key) -> Result<Option<Record>, StoreError> {
        self.one(
            history::SELECT_IDEMPOTENCY,
            params![
                key.merchant_pid.as_str(),
                key.method,
                key.request_id.as_str()
            ],
            |r| Ok(history::record_from(r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    }

    fn shop(&self, merchant_pid: &str, shop_id: &str) -> Result<ShopFacts, StoreError> {
        let name = self.one(
            tenants::SELECT_SHOP_NAME,
            params![merchant_pid, shop_id],
            |r| r.get(0),
        )?;
        Ok(ShopFacts {
            shop_id: shop_id.to_string(),
            known: name.is_some(),
            name,
        })
    }

    fn trans_of(&self, sql: &str, id: &str) -> Result<Vec<Trans>, StoreError> {
        self.all(sql, params![id], history::trans_from_rusqlite)
    }

    /// One of the single-ticket updates (`$1` the value, `$2` now, `$3` the voucher id) on a
    /// ticket this transaction loaded, so exactly one row changes.
    fn update_loaded_ticket(
        &self,
        sql: &str,
        value: i64,
        voucher_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let done = self
            .conn
            .prepare_cached(sql)?
            .execute(params![value, now, voucher_id])?;
        assert_eq!(
            done, 1,
            "ticket {voucher_id} was loaded in this transaction"
        );
        Ok(())
    }

    fn use_order(
        &self,
        merchant_pid: &str,
        request_id: &str,
    ) -> Result<Option<UseOrder>, StoreError> {
        self.one(
            history::SELECT_USE_ORDER,
            params![merchant_pid, request_id],
            history::use_order_from_rusqlite,
        )
    }

    fn tickets_by_voucher(&self, voucher_ids: &[String]) -> Result<Vec<Ticket>, StoreError> {
        let mut ids = voucher_ids.to_vec();
        ids.sort();
        ids.dedup();
        ids.iter()
            .map(|id| {
                self.one(
                    &TICKET_BY_VOUCHER,
                    params![id],
                    tickets::ticket_from_rusqlite,
                )?
                .ok_or(StoreError::Conflict("tickets.voucher_id"))
            })
            .collect()
    }

    /// Inserts tickets with one prepared statement (no round trip to save here); answers the
    /// codes inserted (a taken code or id is skipped).
    fn insert_ticket_rows(&self, tickets: &[Ticket], now: i64) -> Result<Vec<String>, StoreError> {
        let mut statement = self.conn.prepare_cached(tickets::INSERT_TICKET)?;
        let mut inserted = Vec::with_capacity(tickets.len());
        for t in tickets {
            let done = statement.execute(params![
                t.voucher_id,
                t.code,
                t.code_type.name(),
                t.order_no,
                t.merchant_pid,
                t.item_id,
                t.total_quantity,
                t.available_quantity,
                i64::from(t.refunded),
                t.effect_at,
                t.expire_at,
                now
            ])?;
            if done == 1 {
                inserted.push(t.code.clone());
            }
        }
        Ok(inserted)
    }

    fn apply_effect(&self, effect: &Effect, now: i64) -> Result<(), StoreError> {
        match effect {
            Effect::UseOrder(o) => self.change(
                history::INSERT_USE_ORDER,
                params![
                    o.use_order_id,
                    o.merchant_pid,
                    o.request_id,
                    o.channel.name(),
                    i64::from(o.closed),
                    o.ticket_code,
                    o.code_type.map_or("INVALID", CodeType::name),
                    o.order_no,
                    o.voucher_id,
                    o.quantity,
                    o.created_at
                ],
                "use_orders (merchant_pid, request_id)",
            ),
            Effect::Trans(t) => self.change(
                history::INSERT_TRANS,
                params![
                    t.trans_id,
                    t.voucher_id,
                    t.kind.name(),
                    t.quantity,
                    t.use_order_id,
                    t.reverses_trans_id,
                    t.expire_change.map(|c| c.0),
                    t.expire_change.map(|c| c.1),
                    t.created_at
                ],
                "ticket_trans.trans_id",
            ),
            Effect::Available { voucher_id, delta } => {
                self.update_loaded_ticket(tickets::ADD_AVAILABLE, *delta, voucher_id, now)
            }
            Effect::Expire {
                voucher_id,
                expire_at,
            } => self.update_loaded_ticket(tickets::SET_EXPIRE, *expire_at, voucher_id, now),
            Effect::Cancel(r) => self.change(
                history::INSERT_CANCEL,
                params![
                    r.cancel_id,
                    r.merchant_pid,
                    r.request_id,
                    r.use_order_id,
                    r.trans_id,
                    r.created_at
                ],
                "cancels",
            ),
            Effect::Record(key, record) => {
                let (refused, answer) = history::record_columns(record);
                self.change(
                    history::INSERT_IDEMPOTENCY,
                    params![
                        key.merchant_pid.as_str(),
                        key.method,
                        key.request_id.as_str(),
                        record.fingerprint,
                        refused,
                        answer,
                        now
                    ],
                    "idempotency (merchant_pid, method, request_id)",
                )
            }
            Effect::Order {
                order_no,
                merchant_pid,
                item_id,
            } => self.change(
                tickets::INSERT_ORDER,
                params![order_no, merchant_pid, item_id, now],
                "orders.order_no",
            ),
            Effect::Refunded { voucher_id } => {
                let done = self
                    .conn
                    .prepare_cached(codes::MARK_REFUNDED)?
                    .execute(params![now, voucher_id])?;
                assert_eq!(
                    done, 1,
                    "ticket {voucher_id} was loaded in this transaction"
                );
                Ok(())
            }
            Effect::Tickets(list) => {
                if self.insert_ticket_rows(list, now)?.len() != list.len() {
                    return Err(StoreError::Conflict("tickets (order_no, code)"));
                }
                Ok(())
            }
            Effect::Log(rows) => {
                let mut statement = self.conn.prepare_cached(codes::INSERT_LOG)?;
                for r in rows {
                    statement.execute(params![
                        r.id,
                        r.at,
                        r.app_id,
                        r.method,
                        i64::from(r.failed),
                        r.entry
                    ])?;
                }
                Ok(())
            }
            Effect::TrimLog { keep } => {
                self.conn
                    .prepare_cached(codes::TRIM_LOG)?
                    .execute(params![keep])?;
                Ok(())
            }
            Effect::SendOrder(o) => self.change(
                codes::INSERT_SEND_ORDER,
                params![
                    o.send_order_no,
                    o.order_no,
                    o.merchant_pid,
                    o.item_id,
                    o.app_id,
                    o.send_token,
                    o.quantity,
                    o.sent,
                    o.refunded,
                    o.closed_at,
                    o.close_reason,
                    now
                ],
                "send_orders.send_order_no",
            ),
            Effect::Sent {
                send_order_no,
                count,
            } => self.change(
                codes::ADD_SENT,
                params![count, now, send_order_no],
                "send_orders (open)",
            ),
            Effect::SendClosed {
                send_order_no,
                refunded,
                reason,
            } => self.change(
                codes::CLOSE_SEND,
                params![refunded, now, reason, send_order_no],
                "send_orders (open)",
            ),
            Effect::Notify(n) => self.change(
                notifications::INSERT_NOTIFICATION,
                params![
                    n.notify_id,
                    n.app_id,
                    n.url,
                    n.charset,
                    n.sign_type,
                    n.biz_type,
                    n.request_id,
                    n.fields,
                    n.status.name(),
                    n.attempts,
                    n.next_attempt_at,
                    n.last_error,
                    n.claimed_until,
                    n.claim_token,
                    n.created_at
                ],
                "notifications.notify_id",
            ),
        }
    }
}

impl LedgerTx for SyncTx<'_> {
    async fn use_facts(
        &mut self,
        key: &Key,
        req: Option<&UseRequest>,
    ) -> Result<UseFacts, StoreError> {
        let Some(req) = req else {
            return Ok(UseFacts {
                recorded: self.load_record(key)?,
                ..UseFacts::default()
            });
        };
        let order_no = req.order_no.as_ref().map(|o| o.as_str());
        let ticket = self.ticket(req.code_type, req.ticket_code.as_str(), order_no)?;
        let recorded = self.load_record(key)?;
        if recorded.is_some() {
            return Ok(UseFacts {
                recorded,
                ticket,
                ..UseFacts::default()
            });
        }
        let shop = self.shop(key.merchant_pid.as_str(), req.shop_id.as_str())?;
        let siblings = match &ticket {
            Some(v) if !v.is_times_card() && req.quantity.unwrap_or(1) > 1 => {
                let t = &v.ticket;
                self.all(
                    &SIBLINGS,
                    params![t.order_no, t.item_id, t.voucher_id],
                    tickets::ticket_from_rusqlite,
                )?
            }
            _ => Vec::new(),
        };
        Ok(UseFacts {
            recorded,
            ticket,
            shop: Some(shop),
            siblings,
        })
    }

    async fn cancel_facts(
        &mut self,
        key: &Key,
        req: &CancelRequest,
    ) -> Result<CancelLoaded, StoreError> {
        let order_no = req.order_no.as_ref().map(|o| o.as_str());
        let mut loaded = CancelLoaded {
            ticket: self.ticket(req.code_type, req.ticket_code.as_str(), order_no)?,
            recorded: self.load_record(key)?,
            ..CancelLoaded::default()
        };
        if loaded.recorded.is_some() {
            return Ok(loaded);
        }
        loaded.use_order = self.use_order(key.merchant_pid.as_str(), &req.request_biz_no)?;
        if let Some(order) = loaded.use_order.as_ref().filter(|o| !o.closed) {
            let cancelled = self.one(&CANCEL_OF_USE, params![order.use_order_id], |_| Ok(()))?;
            loaded.already_cancelled = cancelled.is_some();
            loaded.uses = self
                .trans_of(&USES_OF_ORDER, &order.use_order_id)?
                .into_iter()
                .map(|t| (t.voucher_id, t.trans_id, t.quantity))
                .collect();
            let vouchers: Vec<String> = loaded.uses.iter().map(|u| u.0.clone()).collect();
            loaded.use_tickets = self.tickets_by_voucher(&vouchers)?;
        }
        Ok(loaded)
    }

    async fn delay_facts(
        &mut self,
        key: &Key,
        req: &DelayRequest,
    ) -> Result<DelayFacts, StoreError> {
        let order_no = (req.code_type == CodeType::External).then(|| req.order_no.as_str());
        Ok(DelayFacts {
            ticket: self.ticket(req.code_type, req.ticket_code.as_str(), order_no)?,
            recorded: self.load_record(key)?,
        })
    }

    async fn query_facts(
        &mut self,
        merchant_pid: &MerchantPid,
        req: &QueryRequest,
    ) -> Result<QueryFacts, StoreError> {
        let Some(view) = self.ticket(CodeType::Internal, req.ticket_code.as_str(), None)? else {
            return Ok(QueryFacts::default());
        };
        let shop = self.shop(merchant_pid.as_str(), req.shop_id.as_str())?;
        let trans = self.trans_of(&TRANS_OF_TICKET, &view.ticket.voucher_id)?;
        Ok(QueryFacts {
            ticket: Some(view),
            shop: Some(shop),
            trans,
        })
    }

    async fn caller_facts(
        &mut self,
        app_id: &str,
        token: Option<&str>,
    ) -> Result<CallerFacts, StoreError> {
        let app = self.one(
            tenants::SELECT_APP,
            params![app_id],
            tenants::app_from_rusqlite,
        )?;
        let grant = match token {
            Some(token) => self.one(tenants::SELECT_TOKEN, params![token, app_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?,
            None => None,
        };
        Ok((app, grant))
    }

    async fn issue_facts(
        &mut self,
        item_id: &str,
        order_no: &str,
    ) -> Result<(Option<Item>, Option<String>), StoreError> {
        let item = self.one(
            tickets::SELECT_ITEM,
            params![item_id],
            tickets::item_from_rusqlite,
        )?;
        let order_item = self.one(tickets::SELECT_ORDER_ITEM, params![order_no], |r| r.get(0))?;
        Ok((item, order_item))
    }

    async fn insert_tickets(
        &mut self,
        tickets: &[Ticket],
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        self.insert_ticket_rows(tickets, now)
    }

    async fn locked_ticket(
        &mut self,
        code_type: CodeType,
        code: &str,
        order_no: Option<&str>,
    ) -> Result<Option<TicketView>, StoreError> {
        self.ticket(code_type, code, order_no)
    }

    async fn locked_ticket_of_voucher(
        &mut self,
        voucher_id: &str,
    ) -> Result<Option<TicketView>, StoreError> {
        self.one(
            &TICKET_OF_VOUCHER,
            params![voucher_id],
            tickets::ticket_view_from_rusqlite,
        )
    }

    async fn record(&mut self, key: &Key) -> Result<Option<Record>, StoreError> {
        self.load_record(key)
    }

    async fn trans_by_id(&mut self, trans_id: &str) -> Result<Option<Trans>, StoreError> {
        self.one(
            &TRANS_BY_ID,
            params![trans_id],
            history::trans_from_rusqlite,
        )
    }

    async fn history(&mut self, voucher_id: &str) -> Result<Vec<Trans>, StoreError> {
        self.trans_of(&TRANS_OF_TICKET, voucher_id)
    }

    async fn shop_facts(
        &mut self,
        merchant_pid: &str,
        shop_id: &str,
    ) -> Result<ShopFacts, StoreError> {
        self.shop(merchant_pid, shop_id)
    }

    async fn order_facts(&mut self, order_no: &str) -> Result<OrderFacts, StoreError> {
        let Some(order) = self.one(
            codes::SELECT_ORDER,
            params![order_no],
            codes::order_from_rusqlite,
        )?
        else {
            return Ok(OrderFacts::default());
        };
        Ok(OrderFacts {
            item: self.one(
                tickets::SELECT_ITEM,
                params![order.item_id],
                tickets::item_from_rusqlite,
            )?,
            tickets: self.all(
                &ORDER_TICKETS,
                params![order_no],
                tickets::ticket_from_rusqlite,
            )?,
            trans: self.trans_of(&ORDER_TRANS, order_no)?,
            send: self.one(
                codes::SEND_ORDER_SELECT,
                params![order_no],
                codes::send_order_from_rusqlite,
            )?,
            order: Some(order),
        })
    }

    async fn locked_send_order(&mut self, order_no: &str) -> Result<Option<SendOrder>, StoreError> {
        self.one(
            codes::SEND_ORDER_SELECT,
            params![order_no],
            codes::send_order_from_rusqlite,
        )
    }

    async fn codes_of_order(&mut self, order_no: &str) -> Result<Vec<String>, StoreError> {
        self.all(codes::CODES_OF_ORDER, params![order_no], |r| r.get(0))
    }

    async fn code_merchant(&mut self, item_id: &str) -> Result<Option<AppRecord>, StoreError> {
        let Some(app_id) =
            self.one::<String>(codes::SELECT_CODE_MERCHANT, params![item_id], |r| r.get(0))?
        else {
            return Ok(None);
        };
        self.one(
            tenants::SELECT_APP,
            params![app_id],
            tenants::app_from_rusqlite,
        )
    }

    async fn merchant_apps(&mut self, merchant_pid: &str) -> Result<Vec<AppRecord>, StoreError> {
        self.all(
            tenants::SELECT_MERCHANT_APPS,
            params![merchant_pid],
            tenants::app_from_rusqlite,
        )
    }

    async fn apply(&mut self, plan: &Plan) -> Result<(), StoreError> {
        for effect in &plan.effects {
            self.apply_effect(effect, plan.now)?;
        }
        Ok(())
    }
}
