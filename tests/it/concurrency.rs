//! Concurrent requests on one ticket: exactly one effect, never "database is locked".

use std::collections::HashMap;

use serde_json::json;

use crate::helpers::*;

async fn concurrently(
    app: &TestApp,
    method: &'static str,
    bodies: Vec<serde_json::Value>,
) -> HashMap<String, usize> {
    let client = app.client();
    let calls = bodies.into_iter().map(|biz| {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .call(method, &biz.to_string(), &[])
                .await
                .expect("an answer")
        })
    });
    let mut tally = HashMap::new();
    for call in calls.collect::<Vec<_>>() {
        let reply = call.await.unwrap();
        assert!(reply.verified);
        let key = format!(
            "{} {}{}",
            reply.code(),
            reply.sub_code(),
            reply.field("biz_code")
        );
        *tally.entry(key).or_insert(0) += 1;
    }
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_uses_of_one_ticket_succeed_once() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let bodies = (0..16)
        .map(|i| json!({"request_id": format!("u{i}"), "ticket_code": code, "shop_id": SHOP}))
        .collect();
    let tally = concurrently(&app, USE, bodies).await;
    assert_eq!(tally.get("10000 "), Some(&1), "{tally:?}");
    assert_eq!(
        tally.get("40004 TICKET_STATUS_ILLEGAL"),
        Some(&15),
        "{tally:?}"
    );
    app.assert_consistent(&code).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uses_of_a_times_card_never_overdraw_it() {
    let app = TestApp::spawn().await;
    let card = app.issue_one(CARD).await;
    let bodies = (0..16)
        .map(|i| json!({"request_id": format!("u{i}"), "ticket_code": card, "shop_id": SHOP, "quantity": "3"}))
        .collect();
    let tally = concurrently(&app, USE, bodies).await;
    assert_eq!(tally.get("10000 "), Some(&3), "{tally:?}");
    assert_eq!(
        tally.get("40004 QUANTITY_NOT_ENOUGH"),
        Some(&13),
        "{tally:?}"
    );
    assert_eq!(app.query(&card).await.node["available_quantity"], "1");
    app.assert_consistent(&card).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cancels_of_one_use_reverse_it_once() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    assert_success(&app.use_code("u1", &code).await);
    let bodies = (0..16)
        .map(
            |i| json!({"request_id": format!("c{i}"), "request_biz_no": "u1", "ticket_code": code}),
        )
        .collect();
    let tally = concurrently(&app, CANCEL, bodies).await;
    assert_eq!(tally.get("10000 "), Some(&1), "{tally:?}");
    assert_eq!(tally.get("40004 REPEAT_CANCEL"), Some(&15), "{tally:?}");
    app.assert_consistent(&code).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_cancel_sent_many_times_at_once_has_one_effect() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    assert_success(&app.use_code("u1", &code).await);
    let bodies = (0..16)
        .map(|_| json!({"request_id": "c1", "request_biz_no": "u1", "ticket_code": code}))
        .collect();
    let tally = concurrently(&app, CANCEL, bodies).await;
    assert_eq!(tally.get("10000 "), Some(&1), "{tally:?}");
    assert_eq!(
        tally.get("10000 BIZ_ALREADY_SUCCESS"),
        Some(&15),
        "{tally:?}"
    );
    let shown = app.assert_consistent(&code).await;
    assert_eq!(shown["ticket_trans_info_list"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tickets_used_at_once_all_succeed() {
    let app = TestApp::spawn().await;
    let codes = app.issue(NORMAL, 40).await;
    let bodies = codes
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"request_id": format!("u{i}"), "ticket_code": c, "shop_id": SHOP}))
        .collect();
    let tally = concurrently(&app, USE, bodies).await;
    assert_eq!(tally.get("10000 "), Some(&40), "{tally:?}");
}
