//! Races on one ticket, written once: `concurrency` runs them against one node, `multinode`
//! against two nodes on one PostgreSQL database. Calls go round-robin over the given clients,
//! all at once; the answers are tallied as `"code sub_codebiz_code"`.

use std::collections::HashMap;

use serde_json::{Value, json};
use ticketgate::client::Client;

use crate::helpers::*;

pub type Tally = HashMap<String, usize>;

/// Sends every call at once, round-robin over `clients`, and tallies the answers.
pub async fn concurrently(clients: &[Client], method: &'static str, bodies: Vec<Value>) -> Tally {
    let calls: Vec<_> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, biz)| {
            let client = clients[i % clients.len()].clone();
            tokio::spawn(async move {
                client
                    .call(method, &biz.to_string(), &[])
                    .await
                    .expect("an answer")
            })
        })
        .collect();
    let mut tally = Tally::new();
    for call in calls {
        let reply = call.await.unwrap();
        assert!(
            reply.verified,
            "every node signs with the one platform key: {}",
            reply.body
        );
        let key = format!(
            "{} {}{}",
            reply.code(),
            reply.sub_code(),
            reply.field("biz_code")
        );
        *tally.entry(key).or_insert(0) += 1;
    }
    eprintln!("{method}: {tally:?}");
    tally
}

/// 16 uses of one normal ticket: exactly one succeeds.
pub async fn sixteen_uses_of_one_ticket(app: &TestApp, clients: &[Client]) {
    let code = app.issue_one(NORMAL).await;
    let bodies = (0..16)
        .map(|i| json!({"request_id": format!("u{i}"), "ticket_code": code, "shop_id": SHOP}))
        .collect();
    let tally = concurrently(clients, USE, bodies).await;
    assert_eq!(tally.get("10000 "), Some(&1), "{tally:?}");
    assert_eq!(
        tally.get("40004 TICKET_STATUS_ILLEGAL"),
        Some(&15),
        "{tally:?}"
    );
    app.assert_consistent(&code).await;
}

/// A 10-use card hit by 16 uses of 3: three succeed and one unit remains.
pub async fn sixteen_uses_of_three_on_a_ten_use_card(app: &TestApp, clients: &[Client]) {
    let card = app.issue_one(CARD).await;
    let bodies = (0..16)
        .map(|i| json!({"request_id": format!("u{i}"), "ticket_code": card, "shop_id": SHOP, "quantity": "3"}))
        .collect();
    let tally = concurrently(clients, USE, bodies).await;
    assert_eq!(tally.get("10000 "), Some(&3), "{tally:?}");
    assert_eq!(
        tally.get("40004 QUANTITY_NOT_ENOUGH"),
        Some(&13),
        "{tally:?}"
    );
    assert_eq!(app.query(&card).await.node["available_quantity"], "1");
    app.assert_consistent(&card).await;
}

/// 16 cancels of one use under different request ids: one reverses it.
pub async fn sixteen_cancels_of_one_use(app: &TestApp, clients: &[Client]) {
    let code = app.issue_one(NORMAL).await;
    assert_success(&app.use_code("u1", &code).await);
    let bodies = (0..16)
        .map(
            |i| json!({"request_id": format!("c{i}"), "request_biz_no": "u1", "ticket_code": code}),
        )
        .collect();
    let tally = concurrently(clients, CANCEL, bodies).await;
    assert_eq!(tally.get("10000 "), Some(&1), "{tally:?}");
    assert_eq!(tally.get("40004 REPEAT_CANCEL"), Some(&15), "{tally:?}");
    app.assert_consistent(&code).await;
}

/// The same cancel sent 16 times at once: one effect, the rest replays.
pub async fn one_cancel_sent_sixteen_times(app: &TestApp, clients: &[Client]) {
    let code = app.issue_one(NORMAL).await;
    assert_success(&app.use_code("u1", &code).await);
    let bodies = (0..16)
        .map(|_| json!({"request_id": "c1", "request_biz_no": "u1", "ticket_code": code}))
        .collect();
    let tally = concurrently(clients, CANCEL, bodies).await;
    assert_eq!(tally.get("10000 "), Some(&1), "{tally:?}");
    assert_eq!(
        tally.get("10000 BIZ_ALREADY_SUCCESS"),
        Some(&15),
        "{tally:?}"
    );
    let shown = app.assert_consistent(&code).await;
    assert_eq!(shown["ticket_trans_info_list"].as_array().unwrap().len(), 2);
}

/// One use request id sent 16 times, half naming each of two tickets: one ticket is used,
/// the same call is replayed, the other is a conflict.
pub async fn one_use_request_id_on_two_tickets(app: &TestApp, clients: &[Client]) {
    let codes = app.issue(NORMAL, 2).await;
    let bodies = (0..16)
        .map(|i| json!({"request_id": "u1", "ticket_code": codes[i % 2], "shop_id": SHOP}))
        .collect();
    let tally = concurrently(clients, USE, bodies).await;
    assert_eq!(tally.get("10000 "), Some(&1), "{tally:?}");
    assert_eq!(
        tally.get("10000 BIZ_ALREADY_SUCCESS"),
        Some(&7),
        "{tally:?}"
    );
    assert_eq!(tally.get("40004 REQUEST_ID_REPEAT"), Some(&8), "{tally:?}");
    let states = [app.query(&codes[0]).await, app.query(&codes[1]).await];
    let used = states
        .iter()
        .filter(|r| r.node["ticket_status"] == "USED")
        .count();
    assert_eq!(used, 1);
}

/// An order's answer read while its tickets are being used, one after another, on another node:
/// every answer must be one moment of the books — each voucher's effective, used and refunded
/// counts adding up to its one unit, and the order `PAY` while a ticket is effective. (PostgreSQL read each statement in its own snapshot: an order's
/// vouchers and their transactions could be read either side of a use's commit.)
pub async fn an_order_read_while_its_tickets_are_used_is_one_moment(
    app: &TestApp,
    clients: &[Client],
) {
    const N: usize = 40;
    let codes = app.issue(NORMAL, N).await;
    let order = app.order_of(&codes[0]).await;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let user = {
        let (client, done) = (clients[0].clone(), done.clone());
        tokio::spawn(async move {
            for (i, code) in codes.iter().enumerate() {
                let biz = json!({"request_id": format!("moment{i}"), "ticket_code": code, "shop_id": SHOP});
                let reply = client.call(USE, &biz.to_string(), &[]).await.unwrap();
                assert_eq!(reply.code(), "10000", "{}", reply.body);
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    let reader = clients[clients.len() - 1].clone();
    let mut reads = 0;
    while !done.load(std::sync::atomic::Ordering::SeqCst) {
        let biz = json!({"order_no": order}).to_string();
        let reply = reader.call(ORDER_QUERY, &biz, &[]).await.unwrap();
        assert_eq!(reply.code(), "10000", "{}", reply.body);
        let node = reply.node.clone();
        let count = |v: &Value, k: &str| v[k].as_str().map_or(0, |n| n.parse::<i64>().unwrap());
        let vouchers = node["vouchers"].as_array().unwrap();
        let mut effective = 0;
        for v in vouchers {
            let units = count(v, "ticket_effect_count")
                + count(v, "ticket_used_count")
                + count(v, "ticket_refunded_count");
            assert_eq!(units, 1, "a voucher read half before a use: {v}");
            effective += count(v, "ticket_effect_count");
        }
        assert_eq!(
            node["status"] == "PAY",
            effective > 0,
            "the order's status beside its vouchers: {node}"
        );
        reads += 1;
    }
    user.await.unwrap();
    assert!(reads > 0);
}
