//! The store's write path on the backend under test: retries, give-up, rollback.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ticketgate::ledger::Refusal;
use ticketgate::operations::OpError;
use ticketgate::store::StoreError;
use ticketgate::store::prelude::*;

use crate::helpers::*;
use ticketgate::store::op;

#[tokio::test]
async fn a_write_that_keeps_conflicting_gives_up_as_system_error() {
    let app = TestApp::spawn().await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let outcome: Result<(), StoreError> = app
        .store()
        .write(op!(|tx| [counter: Arc<AtomicUsize> = counter] -> () {
            counter.fetch_add(1, Ordering::SeqCst);
            // A real write first, so that giving up must also roll it back.
            tx.insert_merchant("2088000000000077", "ghost", 0).await?;
            Err(StoreError::Conflict("test"))
        }))
        .await;
    assert!(
        matches!(outcome, Err(StoreError::Contention)),
        "{outcome:?}"
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 8);
    assert!(matches!(
        OpError::from(StoreError::Contention),
        OpError::Refused(Refusal::SystemError)
    ));
    let exists = app
        .store()
        .read(op!(|tx| -> bool {
            tx.merchant_exists("2088000000000077").await
        }))
        .await
        .unwrap();
    assert!(!exists, "nothing of a failed write is committed");
}

#[tokio::test]
async fn a_write_that_conflicts_once_succeeds_on_retry() {
    let app = TestApp::spawn().await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let outcome = app
        .store()
        .write(op!(|tx| [counter: Arc<AtomicUsize> = counter] -> usize {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            tx.insert_merchant(&format!("20880000000001{n:02}"), "m", 0)
                .await?;
            if n == 0 {
                Err(StoreError::Conflict("test"))
            } else {
                Ok(n)
            }
        }))
        .await
        .unwrap();
    assert_eq!(outcome, 1);
    let (first, second) = app
        .store()
        .read(op!(|tx| -> (bool, bool) {
            Ok((
                tx.merchant_exists("2088000000000100").await?,
                tx.merchant_exists("2088000000000101").await?,
            ))
        }))
        .await
        .unwrap();
    assert!(
        !first && second,
        "only the attempt that succeeded is committed"
    );
}

#[tokio::test]
async fn a_panicking_operation_costs_one_answer_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let outcome: Result<(), StoreError> = app
        .store()
        .write(op!(|tx| -> () {
            tx.insert_merchant("2088000000000066", "half done", 0)
                .await?;
            panic!("a bug in an operation");
        }))
        .await;
    assert!(matches!(outcome, Err(StoreError::Panicked)), "{outcome:?}");
    // The writer (or the pool) carries on, and the half-done write is gone.
    let code = app.issue_one(NORMAL).await;
    assert_success(&app.use_code("u1", &code).await);
    let exists = app
        .store()
        .read(op!(|tx| -> bool {
            tx.merchant_exists("2088000000000066").await
        }))
        .await
        .unwrap();
    assert!(!exists);
}

/// An operation on the ledger's path (`Store::write`): records `key` as answered, after
/// sleeping `sleep_ms` (to hold a batch open), and panics when told to.
struct Marker {
    key: ticketgate::ledger::idempotency::Key,
    sleep_ms: u64,
    panic: bool,
}

fn marker(request_id: &str, sleep_ms: u64, panic: bool) -> Marker {
    Marker {
        key: ticketgate::ledger::idempotency::Key {
            merchant_pid: ticketgate::ledger::names::MerchantPid::trusted(M1),
            method: "test.marker",
            request_id: ticketgate::ledger::names::RequestId::trusted(request_id),
        },
        sleep_ms,
        panic,
    }
}

impl ticketgate::store::Operation for Marker {
    type Output = ();

    async fn run<T: ticketgate::store::Tx>(&self, tx: &mut T) -> Result<(), StoreError> {
        std::thread::sleep(std::time::Duration::from_millis(self.sleep_ms));
        let mut plan = ticketgate::store::Plan::new(0);
        plan.push(ticketgate::store::Effect::Record(
            self.key.clone(),
            ticketgate::ledger::idempotency::Record::answered("fp".into(), &"x"),
        ));
        tx.apply(&plan).await?;
        assert!(!self.panic, "a bug in an operation");
        Ok(())
    }
}

/// Whether a marker is committed, seen from a fresh snapshot.
struct Seen(ticketgate::ledger::idempotency::Key);

impl ticketgate::store::Operation for Seen {
    type Output = bool;

    async fn run<T: ticketgate::store::Tx>(&self, tx: &mut T) -> Result<bool, StoreError> {
        Ok(tx.use_facts(&self.0, None).await?.recorded.is_some())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_ledger_operation_costs_one_answer_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let store = app.store();
    let bad = marker("p1", 0, true);
    let key = bad.key.clone();
    let outcome = store.write(bad).await;
    assert!(matches!(outcome, Err(StoreError::Panicked)), "{outcome:?}");
    assert!(
        !store.read(Seen(key)).await.unwrap(),
        "the half-done write is gone"
    );
    // The writer carries on.
    let code = app.issue_one(NORMAL).await;
    assert_success(&app.use_code("u1", &code).await);
}

/// A write is answered only after the transaction that holds it commits: on SQLite, only
/// after the COMMIT of its whole batch. `a` and `b` are queued while `first` holds the writer,
/// so they share a batch in which `b` sleeps after `a` is done; the moment `a` is answered, a
/// fresh snapshot must already see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_answered_only_after_their_commit() {
    let app = TestApp::spawn().await;
    let store = app.store().clone();
    let first = tokio::spawn({
        let store = store.clone();
        async move { store.write(marker("first", 200, false)).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let a = marker("a", 0, false);
    let a_key = a.key.clone();
    let b = tokio::spawn({
        let store = store.clone();
        async move { store.write(marker("b", 400, false)).await }
    });
    store.write(a).await.unwrap();
    assert!(
        store.read(Seen(a_key)).await.unwrap(),
        "answered before its commit"
    );
    first.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
}

/// One failing operation in a batch costs that operation only: queued behind `first`, `a`,
/// `bad` and `c` share a batch; `bad` writes and then panics. `a` and `c` are committed and
/// answered, `bad`'s write is gone (on SQLite the batch is run again with a savepoint per
/// operation; on PostgreSQL each operation is its own transaction anyway).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_inside_a_batch_undoes_only_its_own_writes() {
    let app = TestApp::spawn().await;
    let store = app.store().clone();
    let first = tokio::spawn({
        let store = store.clone();
        async move { store.write(marker("first", 300, false)).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let mut queued = Vec::new();
    for (id, panic) in [("a", false), ("bad", true), ("c", false)] {
        let store = store.clone();
        queued.push(tokio::spawn(async move {
            store.write(marker(id, 0, panic)).await
        }));
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    first.await.unwrap().unwrap();
    let outcomes: Vec<_> = futures_join(queued).await;
    assert!(outcomes[0].is_ok(), "{:?}", outcomes[0]);
    assert!(
        matches!(outcomes[1], Err(StoreError::Panicked)),
        "{:?}",
        outcomes[1]
    );
    assert!(outcomes[2].is_ok(), "{:?}", outcomes[2]);
    for (id, kept) in [("a", true), ("bad", false), ("c", true)] {
        let seen = store.read(Seen(marker(id, 0, false).key)).await.unwrap();
        assert_eq!(seen, kept, "{id}");
    }
}

async fn futures_join<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn large_orders_are_issued_in_chunks_with_unique_codes() {
    let app = TestApp::spawn().await;
    let codes = app.issue(NORMAL, 1_234).await;
    let mut unique = codes.clone();
    unique.dedup();
    assert_eq!(unique.len(), 1_234);
    assert!(codes.iter().all(|c| c.len() == 12));
    assert_success(&app.use_code("u1", &codes[1_233]).await);
    let too_many = ticketgate::operations::admin::issue_order(
        app.service(),
        NORMAL,
        ticketgate::operations::admin::MAX_TICKETS_PER_ORDER + 1,
        None,
        None,
    )
    .await;
    assert!(too_many.is_err());
}

/// On SQLite the writer never checkpoints in a COMMIT (that held up its batch and everything
/// queued behind it): a checkpointer thread copies the write-ahead log into the database file
/// soon after commits. Only a checkpoint makes the database file itself grow; the writer's own
/// automatic checkpoint waits for a log ten times larger than these writes make.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_pages_reach_the_database_file_while_the_store_is_open() {
    if crate::pg::base_url().is_some() {
        return; // PostgreSQL checkpoints by itself.
    }
    let app = TestApp::spawn().await;
    let file = app.dir.path().join("ticketgate.db");
    let size = || std::fs::metadata(&file).unwrap().len();
    let before = size();
    app.issue(NORMAL, 2_000).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while size() <= before {
        assert!(
            std::time::Instant::now() < deadline,
            "the database file stayed at {before} bytes: nothing was checkpointed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
