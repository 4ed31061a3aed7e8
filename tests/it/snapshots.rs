//! Snapshots over the backend under test: a saved state comes back whole — tickets, uses,
//! idempotency records, faults — a reset keeps the snapshots, and the running node serves the
//! restored state at once.

use ticketgate::operations::admin::{self, AdminError, NewFault};

use crate::helpers::*;

#[tokio::test]
async fn a_restored_snapshot_is_the_state_it_saved_and_the_node_serves_it_at_once() {
    let app = TestApp::spawn().await;
    let codes = app.issue(NORMAL, 2).await;
    assert_success(&app.use_code("u1", &codes[0]).await);
    let saved = admin::snapshot_save(app.service(), "start").await.unwrap();
    assert!(saved["rows"].as_i64().unwrap() > 0, "{saved}");
    let again = admin::snapshot_save(app.service(), "start").await;
    assert!(matches!(again, Err(AdminError::Duplicate(_))), "{again:?}");

    // After the snapshot: a use, a fault.
    assert_success(&app.use_code("u2", &codes[1]).await);
    admin::fault_add(
        app.service(),
        NewFault {
            method: QUERY.into(),
            answer: Some("SYSTEM_ERROR".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_refused(&app.query(&codes[1]).await, "SYSTEM_ERROR");

    let restored = admin::snapshot_restore(app.service(), "start")
        .await
        .unwrap();
    assert_eq!(restored["rows"], saved["rows"]);
    // The fault is gone, the second ticket unused again, the first still used, and u2 is a
    // request id never seen.
    assert_eq!(
        app.query(&codes[1]).await.field("ticket_status"),
        "EFFECTIVE"
    );
    assert_eq!(app.query(&codes[0]).await.field("ticket_status"), "USED");
    let used = app.use_code("u2", &codes[1]).await;
    assert_success(&used);
    assert!(used.node.get("biz_code").is_none(), "{}", used.node_text);
    let replay = app.use_code("u1", &codes[0]).await;
    assert_eq!(replay.field("biz_code"), "BIZ_ALREADY_SUCCESS");
    app.assert_consistent(&codes[0]).await;

    // A reset keeps the snapshots.
    admin::reset(app.service(), true).await.unwrap();
    let listed = admin::snapshot_list(app.service()).await.unwrap();
    assert_eq!(listed["snapshots"][0]["name"], "start", "{listed}");
    admin::snapshot_restore(app.service(), "start")
        .await
        .unwrap();
    assert_eq!(
        app.query(&codes[1]).await.field("ticket_status"),
        "EFFECTIVE"
    );

    admin::snapshot_delete(app.service(), "start")
        .await
        .unwrap();
    let gone = admin::snapshot_restore(app.service(), "start").await;
    assert!(matches!(gone, Err(AdminError::NotFound(_))), "{gone:?}");
    let bad = admin::snapshot_save(app.service(), "no spaces").await;
    assert!(matches!(bad, Err(AdminError::Invalid(_))), "{bad:?}");
}

/// How long saving and restoring a 1,000-ticket tenant takes (printed, not asserted: the
/// figure for the record comes from a run of this test, `--nocapture`).
#[tokio::test]
async fn a_thousand_ticket_tenant_saves_and_restores() {
    let app = TestApp::spawn().await;
    app.issue(NORMAL, 1000).await;
    let started = std::time::Instant::now();
    admin::snapshot_save(app.service(), "k1").await.unwrap();
    let saved = started.elapsed();
    let started = std::time::Instant::now();
    let restored = admin::snapshot_restore(app.service(), "k1").await.unwrap();
    let took = started.elapsed();
    eprintln!(
        "snapshot of {} rows on {}: save {saved:?}, restore {took:?} (of which 250 ms is the wait for every node)",
        restored["rows"],
        app.store().backend_name()
    );
}
