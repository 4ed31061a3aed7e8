//! `koubei.trade.ticket.ticketcode.delay` over HTTP: a new expiry as a DELAY transaction,
//! replays, refusals, races, and a clock that moves.

use std::sync::Arc;

use serde_json::json;
use ticketgate::alipay::time;
use ticketgate::clock::{Clock, ManualClock};
use ticketgate::operations::admin;

use crate::helpers::*;

const DAY_MS: i64 = 86_400_000;

fn in_days(days: i64) -> String {
    time::format(ticketgate::clock::system_now_ms() + days * DAY_MS)
}

fn delay_biz(request_id: &str, order_no: &str, code: &str, end_date: &str) -> serde_json::Value {
    json!({"request_id": request_id, "order_no": order_no, "ticket_code": code, "end_date": end_date})
}

#[tokio::test]
async fn a_delayed_expired_ticket_can_be_used_again() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(EXPIRED).await;
    let order_no = app.order_of(&code).await;
    assert_refused(&app.use_code("u1", &code).await, "TICKET_NOT_EFFECTIVE");
    assert_eq!(
        app.query(&code).await.field("ticket_status"),
        "UN_EFFECTIVE"
    );
    let end_date = in_days(30);
    let delayed = app
        .delay(delay_biz("d1", &order_no, &code, &end_date))
        .await;
    assert_success(&delayed);
    assert_eq!(delayed.field("request_id"), "d1");
    assert!(
        delayed.node.get("biz_code").is_none(),
        "{}",
        delayed.node_text
    );
    let shown = app.query(&code).await;
    assert_eq!(shown.field("ticket_status"), "EFFECTIVE");
    assert_eq!(shown.field("expire_date"), end_date);
    let trans = shown.node["ticket_trans_info_list"].as_array().unwrap();
    assert_eq!(trans.len(), 1);
    assert_eq!(trans[0]["ticket_trans_type"], "DELAY");
    assert_eq!(trans[0]["quantity"], "0");
    assert_success(&app.use_code("u2", &code).await);
    app.assert_consistent(&code).await;
}

#[tokio::test]
async fn delays_replay_and_refuse_other_parameters() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let order_no = app.order_of(&code).await;
    let end_date = "2099-06-01 12:00:00";
    assert_success(&app.delay(delay_biz("d1", &order_no, &code, end_date)).await);
    // The same instant in the other published form is the same request.
    for form in [end_date, "20990601 120000"] {
        let again = app.delay(delay_biz("d1", &order_no, &code, form)).await;
        assert_success(&again);
        assert_eq!(again.field("biz_code"), "BIZ_ALREADY_SUCCESS");
        assert_eq!(again.field("request_id"), "d1");
    }
    let other = app
        .delay(delay_biz("d1", &order_no, &code, "2099-07-01 12:00:00"))
        .await;
    assert_refused(&other, "REQUEST_ID_REPEAT");
    let shown = app.assert_consistent(&code).await;
    assert_eq!(shown["expire_date"], end_date);
    let delays = shown["ticket_trans_info_list"].as_array().unwrap();
    assert_eq!(delays.len(), 1, "one effect per request id: {shown}");
    // A use's request id is another namespace: the same number is free for a use.
    assert_success(&app.use_code("d1", &code).await);
}

#[tokio::test]
async fn delay_refusals_change_nothing() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let order_no = app.order_of(&code).await;
    let used = app.issue_one(NORMAL).await;
    let used_order = app.order_of(&used).await;
    assert_success(&app.use_code("u1", &used).await);
    let foreign = {
        let out = admin::issue_order(app.service(), NORMAL_M2, 1, None, None)
            .await
            .unwrap();
        out["tickets"][0].as_str().unwrap().to_string()
    };
    let foreign_order = app.order_of(&foreign).await;
    let later = in_days(400);
    let cases = [
        (
            json!({"order_no": order_no, "ticket_code": code, "end_date": later}),
            "INVALID_PARAMETER",
        ),
        (
            json!({"request_id": "r", "ticket_code": code, "end_date": later}),
            "INVALID_PARAMETER",
        ),
        (
            json!({"request_id": "r", "order_no": order_no, "end_date": later}),
            "INVALID_PARAMETER",
        ),
        (
            json!({"request_id": "r", "order_no": order_no, "ticket_code": code}),
            "INVALID_PARAMETER",
        ),
        (
            delay_biz("r", &order_no, &code, "2099/01/01"),
            "INVALID_PARAMETER",
        ),
        (
            delay_biz("r", &order_no, &code, &in_days(1)),
            "INVALID_PARAMETER",
        ),
        (
            delay_biz("r", &order_no, "000000000000", &later),
            "TICKET_NOT_EXIST",
        ),
        (
            delay_biz("r", &used_order, &code, &later),
            "TICKET_NOT_EXIST",
        ),
        (
            delay_biz("r", &foreign_order, &foreign, &later),
            "NOT_SAME_MERCHANT_PID",
        ),
        (
            delay_biz("r", &used_order, &used, &later),
            "TICKET_STATUS_ILLEGAL",
        ),
    ];
    for (biz, sub_code) in cases {
        assert_refused(&app.delay(biz).await, sub_code);
    }
    // Refused delays recorded nothing: the same request id now succeeds.
    assert_success(&app.delay(delay_biz("r", &order_no, &code, &later)).await);
    for c in [&code, &used] {
        app.assert_consistent(c).await;
    }
}

#[tokio::test]
async fn external_codes_are_delayed_by_order_and_code() {
    let app = TestApp::spawn().await;
    admin::issue_order(
        app.service(),
        NORMAL,
        1,
        Some("ext1".into()),
        Some(vec!["MY-CODE-1".into()]),
    )
    .await
    .unwrap();
    let biz = |order: &str| {
        json!({"request_id": format!("e{order}"), "order_no": order, "ticket_code": "MY-CODE-1",
               "code_type": "EXTERNAL_CODE", "end_date": "2099-01-01 00:00:00"})
    };
    assert_refused(&app.delay(biz("ext2")).await, "TICKET_NOT_EXIST");
    assert_success(&app.delay(biz("ext1")).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_delays_make_one_transaction() {
    let app = TestApp::spawn().await;
    let code = app.issue_one(NORMAL).await;
    let order_no = app.order_of(&code).await;
    let biz = delay_biz("race1", &order_no, &code, "2099-01-01 00:00:00").to_string();
    let client = app.client();
    let calls: Vec<_> = (0..12)
        .map(|_| {
            let (client, biz) = (client.clone(), biz.clone());
            tokio::spawn(async move { client.call(DELAY, &biz, &[]).await.unwrap() })
        })
        .collect();
    let mut replays = 0;
    for call in calls {
        let reply = call.await.unwrap();
        assert_success(&reply);
        replays += usize::from(reply.field("biz_code") == "BIZ_ALREADY_SUCCESS");
    }
    assert_eq!(replays, 11, "one call did it, eleven replayed it");
    let shown = app.assert_consistent(&code).await;
    assert_eq!(shown["ticket_trans_info_list"].as_array().unwrap().len(), 1);
}

/// The ledger runs on the injected clock: a one-year ticket is not usable after the clock
/// moves 366 days, and is usable again after a delay relative to that clock.
#[tokio::test]
async fn the_ledger_follows_its_clock_through_expiry_and_delay() {
    let clock = Arc::new(ManualClock::starting_now());
    let app = TestApp::spawn_at(clock.clone()).await;
    let code = app.issue_one(NORMAL).await;
    let order_no = app.order_of(&code).await;
    clock.advance(366 * DAY_MS);
    assert_refused(&app.use_code("u1", &code).await, "TICKET_NOT_EFFECTIVE");
    let end_date = time::format(clock.now_ms() + 30 * DAY_MS);
    assert_success(
        &app.delay(delay_biz("d1", &order_no, &code, &end_date))
            .await,
    );
    let used = app.use_code("u2", &code).await;
    assert_success(&used);
    assert_eq!(used.field("use_date"), time::format(clock.now_ms()));
    let shown = app.query(&code).await;
    let trans = shown.node["ticket_trans_info_list"].as_array().unwrap();
    assert!(
        trans
            .iter()
            .all(|t| t["create_time"] == time::format(clock.now_ms())),
        "transactions are stamped by the ledger's clock: {}",
        shown.node_text
    );
}
