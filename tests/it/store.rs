//! The store's write path on the backend under test: retries, give-up, rollback.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ticketgate::ledger::Refusal;
use ticketgate::operations::OpError;
use ticketgate::store::StoreError;

use crate::helpers::*;

#[tokio::test]
async fn a_write_that_keeps_conflicting_gives_up_as_system_error() {
    let app = TestApp::spawn().await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let outcome: Result<(), StoreError> = app
        .store()
        .write(move |c| {
            let counter = counter.clone();
            Box::pin(async move {
                counter.fetch_add(1, Ordering::SeqCst);
                // A real write first, so that giving up must also roll it back.
                c.insert_merchant("2088000000000077", "ghost", 0).await?;
                Err(StoreError::Conflict("test"))
            })
        })
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
        .read(|c| Box::pin(async move { c.merchant_exists("2088000000000077").await }))
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
        .write(move |c| {
            let counter = counter.clone();
            Box::pin(async move {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                c.insert_merchant(&format!("20880000000001{n:02}"), "m", 0)
                    .await?;
                if n == 0 {
                    Err(StoreError::Conflict("test"))
                } else {
                    Ok(n)
                }
            })
        })
        .await
        .unwrap();
    assert_eq!(outcome, 1);
    let (first, second) = app
        .store()
        .read(|c| {
            Box::pin(async move {
                Ok((
                    c.merchant_exists("2088000000000100").await?,
                    c.merchant_exists("2088000000000101").await?,
                ))
            })
        })
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
        .write(|c| {
            Box::pin(async move {
                c.insert_merchant("2088000000000066", "half done", 0)
                    .await?;
                panic!("a bug in an operation");
            })
        })
        .await;
    assert!(matches!(outcome, Err(StoreError::Panicked)), "{outcome:?}");
    // The writer (or the pool) carries on, and the half-done write is gone.
    let code = app.issue_one(NORMAL).await;
    assert_success(&app.use_code("u1", &code).await);
    let exists = app
        .store()
        .read(|c| Box::pin(async move { c.merchant_exists("2088000000000066").await }))
        .await
        .unwrap();
    assert!(!exists);
}
